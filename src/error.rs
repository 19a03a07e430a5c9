//! The library's error type; the binary maps each kind to an exit code.

use carbonledger_factors::FactorError;
use carbonledger_usage::SourceError;
use polars::error::PolarsError;

/// Everything that can stop a carbonledger command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The billing input is missing, unreadable or malformed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A factor file is missing or malformed.
    #[error(transparent)]
    Factors(#[from] FactorError),
    /// The command line asks for something impossible (e.g. Parquet to a terminal).
    #[error("{0}")]
    Usage(String),
    /// Writing the output failed.
    #[error("{path}: {source}")]
    Output {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// polars failed while estimating or writing.
    #[error("{context}: {source}")]
    Polars {
        context: String,
        #[source]
        source: PolarsError,
    },
    /// The ledger has no rows for what was asked (a report month it does not hold).
    #[error("{0}")]
    NoData(String),
    /// The batch job's configuration file is missing, malformed or inconsistent.
    #[error("{0}")]
    Config(String),
    /// A plan file is missing or malformed, or names what the factor set lacks
    /// (`file:line:column: message`).
    #[error("{0}")]
    Plan(String),
    /// `carbonledger gate`: the plan is over a budget (the verdict is on stdout).
    #[error("{0}")]
    OverBudget(String),
    /// Another run holds the ledger's lock.
    #[error("{0}")]
    Locked(String),
    /// The PostgreSQL sink failed (the Parquet ledger is written).
    #[error("{0}")]
    Sink(String),
    /// Some sources of a batch run failed; the others were written.
    #[error("{} of {total} sources failed: {}", failed.len(), failed.join(", "))]
    SourcesFailed { failed: Vec<String>, total: usize },
    /// An ad hoc SQL query (`carbonledger query`) that cannot be planned or run.
    #[error("query: {0}")]
    Query(String),
    /// The ledger does not account for every input row or unit of cost: a bug, never output.
    #[error("reconciliation failed: {0}")]
    Reconciliation(String),
}

impl Error {
    pub fn polars(context: impl Into<String>) -> impl FnOnce(PolarsError) -> Error {
        let context = context.into();
        move |source| Error::Polars { context, source }
    }
}
