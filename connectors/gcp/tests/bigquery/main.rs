//! The BigQuery source against bqemulator on 127.0.0.1: a nested export table created and
//! filled with insertAll, read back with the grouped query and checked against values worked
//! out by hand, against the file path on the same rows, and on its failures. See `harness` for
//! how the emulator is found and started.

#[path = "../export/common.rs"]
#[allow(dead_code)]
mod common;
mod errors;
// Shared with the CLI tests of the root package.
#[allow(dead_code)]
mod harness;
mod source;

use carbonledger_gcp::bigquery::{BigQueryAuth, BigQueryOptions, BigQuerySource, Granularity};
use carbonledger_gcp::{BigQueryTable, GcpCost, GcpOptions};
use carbonledger_usage::{InputTotals, SourceError, UsageSource, validate};
use chrono::{DateTime, Utc};

use common::{Row, factors, rows_of};

/// A UTC time from RFC 3339.
pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

/// Options for `dataset.table` of the emulator over October 2026.
pub fn options(dataset: &str, table: &str, method: (&str, bool), cost: GcpCost) -> BigQueryOptions {
    BigQueryOptions {
        table: BigQueryTable {
            project: harness::PROJECT.to_owned(),
            dataset: dataset.to_owned(),
            table: table.to_owned(),
        },
        start: at("2026-10-01T00:00:00Z"),
        end: at("2026-11-01T00:00:00Z"),
        granularity: Granularity::Daily,
        exported_after: None,
        job_project: None,
        endpoint: Some(harness::emulator().url.clone()),
        auth: BigQueryAuth::Anonymous,
        gcp: GcpOptions {
            cost,
            ccf_quirks: method.1,
        },
    }
}

/// Everything a read produced.
pub struct Read {
    pub rows: Vec<Row>,
    pub totals: InputTotals,
    pub source: BigQuerySource,
}

pub fn read(options: BigQueryOptions, method: (&str, bool)) -> Result<Read, SourceError> {
    let mut source = BigQuerySource::new(options, factors(method.0))?;
    let mut rows = Vec::new();
    let totals = source.read(&mut |df| {
        validate(&df).expect("every batch has the usage schema");
        rows.extend(rows_of(&df));
        Ok(())
    })?;
    Ok(Read {
        rows,
        totals,
        source,
    })
}

/// `a` and `b` equal to 1e-9, relative (sums in another order differ in the last bits).
pub fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[track_caller]
pub fn assert_near(actual: f64, expected: f64, what: &str) {
    assert!(near(actual, expected), "{what}: {actual} != {expected}");
}
