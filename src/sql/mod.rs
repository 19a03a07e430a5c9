//! The method as SQL: `carbonledger sql` writes the classification and the estimator as one
//! view over a provider's billing export in a warehouse, joined to the factor tables that
//! `carbonledger factors export` ([`export`]) writes, so the estimate runs where the data is.
//!
//! Units, as in the ledger (`src/ledger.rs`): energy in kWh, emissions in kg CO2e, usage in
//! vCPU-hours, GPU-hours, memory GB-hours, storage TB-hours and network GB, cost in the row's
//! currency.
//!
//! One source of truth:
//! * every number comes from the exported tables, never from the SQL text: the factor set's
//!   tables, and the per-instance and per-architecture factors the estimator's own resolver
//!   derives from them (means and medians of processor lists, chip counts, embodied bases);
//! * every list the AWS and GCP connectors match (line item types, usage-type, SKU, service and
//!   unit lists) is an exported table (`classification_lists`, `aws_region_codes`,
//!   `burstable`, `gcp_series_processors`), matched in SQL as the Rust list is matched
//!   (equality, substring, suffix, `\b…\b` regex);
//! * what is code in Rust (the order of the tests, CCF's `xl` fix, the instance-type and region
//!   regexes, which are shared constants of the connectors) is written once, in [`aws`] and
//!   [`gcp`] (which share the estimator's CTEs), through the per-dialect layer [`dialect`].
//!
//! Scope: the AWS legacy CUR (slash or Athena snake_case names) in every dialect with both
//! methods (`--method ccf` keeps CCF's quirks: vCPUs by the usage type as billed, Redshift's
//! /3600 slip, lines without vCPUs at 0 kWh and outside the ratios, 2^40 byte-hours, the
//! product region only, per-unit ratios by cost, `ccf_kwh`), and the GCP billing export's
//! nested table in BigQuery and DuckDB with `--method default` ([`gcp`]). Not done yet, and
//! refused with a message rather than written wrong: CCF's GCP quirks, the GCP export in Athena
//! and Spark (its repeated fields). Not written either: CUR 2.0's `product` map,
//! `--cost amortized` and the GCP cost measures other than net. The view's `tags` and `notes`
//! are null.

pub mod aws;
pub mod dialect;
pub mod export;
pub mod gcp;

use crate::Error;
use crate::estimate::Method;
pub use aws::AwsCost;
pub use dialect::Dialect;

/// The billing export the view reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    Aws,
    Gcp,
}

/// How the CUR table names its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CurNames {
    /// `lineItem/UsageType`, as in CUR CSV files (and a table loaded from them).
    Slash,
    /// `line_item_usage_type`, as in CUR Parquet files and AWS's Athena integration.
    Snake,
}

/// What `carbonledger sql` was asked for.
#[derive(Debug, Clone)]
pub struct SqlOptions {
    pub dialect: Dialect,
    pub provider: Provider,
    /// The export table, as the engine names it (`db.cur`, `project.dataset.table`).
    pub table: String,
    /// Where the factor tables are (`dataset`, `catalog.db`); none: unqualified names.
    pub factors_schema: Option<String>,
    pub method: Method,
    /// The view to create; none: the bare query.
    pub view: Option<String>,
    pub cur_names: CurNames,
    pub aws_cost: AwsCost,
    /// A column of the table to carry into `source_line` (a row number the load added).
    pub line_column: Option<String>,
    /// Optional CUR columns (legacy names) the table does not have: read as empty.
    pub missing_columns: Vec<String>,
}

/// Table and column naming for one run.
pub struct Names<'a> {
    options: &'a SqlOptions,
}

impl Names<'_> {
    /// A factor table, qualified by `--factors-schema`.
    pub fn factor_table(&self, name: &str) -> String {
        let d = self.options.dialect;
        match &self.options.factors_schema {
            Some(schema) => d.table(&format!("{schema}.{name}")),
            None => d.table(name),
        }
    }

    /// A CUR column from its legacy name, in the table's naming.
    pub fn cur_column(&self, legacy: &str) -> String {
        match self.options.cur_names {
            CurNames::Slash => legacy.to_owned(),
            CurNames::Snake => carbonledger_aws::legacy_to_snake(legacy),
        }
    }
}

/// The SQL text for `options`: a `CREATE OR REPLACE VIEW … AS` statement, or the bare query.
pub fn generate(options: &SqlOptions) -> Result<String, Error> {
    if options.method == Method::Ccf && options.provider == Provider::Gcp {
        return Err(Error::Usage(
            "carbonledger sql: --method ccf is not written in SQL yet for --provider gcp (CCF's \
             GCP quirks are Rust only); use --method default, or `carbonledger estimate \
             --method ccf`"
                .into(),
        ));
    }
    let gcp_dialect = matches!(options.dialect, Dialect::Bigquery | Dialect::Duckdb);
    if options.provider == Provider::Gcp && !gcp_dialect {
        return Err(Error::Usage(format!(
            "carbonledger sql: --provider gcp is not written in SQL yet for --dialect {} (the \
             export's repeated credits and labels are read with BigQuery's UNNEST or DuckDB's \
             list functions); use --dialect bigquery or duckdb",
            options.dialect.as_str()
        )));
    }
    for missing in &options.missing_columns {
        if !aws::OPTIONAL_COLUMNS.contains(&missing.as_str()) {
            return Err(Error::Usage(format!(
                "carbonledger sql: --missing-column {missing}: only optional CUR columns can \
                 be missing ({})",
                aws::OPTIONAL_COLUMNS.join(", ")
            )));
        }
    }
    let names = Names { options };
    let (query, export) = match options.provider {
        Provider::Aws => (aws::query(options, &names), "AWS CUR"),
        Provider::Gcp => (gcp::query(options, &names), "GCP billing export"),
    };
    let header = format!(
        "-- carbonledger {} sql: the {} method over the {export} table {}, {} dialect.\n\
         -- Factor tables: `carbonledger factors export` (one set, uploaded as is).\n",
        env!("CARGO_PKG_VERSION"),
        options.method.as_str(),
        options.table,
        options.dialect.as_str(),
    );
    Ok(match &options.view {
        Some(view) => format!("{header}{}\n{query};\n", options.dialect.create_view(view)),
        None => format!("{header}{query}\n"),
    })
}
