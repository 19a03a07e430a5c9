//! `carbonledger query "SQL"`: ad hoc SQL (polars' SQL dialect) over the ledger.
//!
//! The ledger is one table, `ledger`: every partition file of the folder `carbonledger run`
//! writes (or one ledger file `carbonledger estimate --format parquet` wrote), with the ledger's
//! columns (`src/ledger.rs` and the usage schema of `carbonledger-usage`) plus `month`, the
//! billing month of `period_start` as `YYYY-MM` text (the partition folders' `month=` value, so
//! the same query runs in DuckDB over the folder with `hive_partitioning`). Units are the
//! columns' own: energy in kWh, emissions in kg CO2e, usage in its `usage_unit`, cost in the
//! row's `currency` (add costs only within one currency).
//!
//! The query's result is collected in memory before it is written: a query that returns
//! millions of rows needs their memory (aggregate in SQL, or read the Parquet files directly).

use std::path::Path;

use carbonledger_usage::col as ucol;
use polars::error::PolarsError;
use polars::prelude::*;
use polars::sql::SQLContext;

use crate::Error;
use crate::metrics::scan_ledger;

/// The table name queries use.
pub const TABLE: &str = "ledger";

/// The result of `sql` over the ledger at `ledger` (a ledger folder or one ledger file).
pub fn query(ledger: &Path, sql: &str) -> Result<DataFrame, Error> {
    let frame = open(ledger)?;
    let month = col(ucol::PERIOD_START)
        .dt()
        .strftime("%Y-%m")
        .alias("month");
    let mut ctx = SQLContext::new();
    ctx.register(TABLE, frame.with_column(month));
    let plan = ctx.execute(sql).map_err(query_error)?;
    plan.collect().map_err(|e| match e {
        PolarsError::IO { .. } => Error::Polars {
            context: format!("reading the ledger {}", ledger.display()),
            source: e,
        },
        other => query_error(other),
    })
}

/// The ledger as a lazy frame: a folder's partition files or a single Parquet file.
fn open(ledger: &Path) -> Result<LazyFrame, Error> {
    if ledger.is_dir() {
        return scan_ledger(ledger)?.ok_or_else(|| {
            Error::Usage(format!(
                "{}: the ledger has no partition files yet (run `carbonledger run` first)",
                ledger.display()
            ))
        });
    }
    if !ledger.is_file() {
        return Err(Error::Usage(format!(
            "--ledger {}: no such folder or file (a `carbonledger run` ledger folder, or a \
             Parquet file of `carbonledger estimate --format parquet`)",
            ledger.display()
        )));
    }
    let path = ledger.to_string_lossy().into_owned();
    LazyFrame::scan_parquet(PlRefPath::new(&path), ScanArgsParquet::default())
        .map_err(Error::polars(format!("reading {path}")))
}

/// A query the user wrote that polars cannot plan or run: its message names the problem (the
/// SQL parser's include line and column).
fn query_error(error: PolarsError) -> Error {
    Error::Query(error.to_string())
}
