//! Errors a connector reports, always with where the problem is: the file (or the request),
//! the line and the column.

use std::fmt;

/// Where in the input a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// A file path or a request description (`GetCostAndUsage page 3`, …).
    pub source: String,
    /// 1-based physical line in the file; the header is line 1.
    pub line: Option<u64>,
    /// The input column's name as it appears in the file.
    pub column: Option<String>,
}

impl Location {
    pub fn file(source: impl Into<String>) -> Self {
        Location {
            source: source.into(),
            line: None,
            column: None,
        }
    }

    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        Ok(())
    }
}

/// A failure to read or normalise billing data.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The input is malformed: a missing column, an unparsable value, an unknown unit, …
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
    /// The input could not be read at all.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A cloud API or object store refused or failed a request (after its retries): bad
    /// credentials, a missing bucket, throttling that did not end, an unreachable endpoint.
    /// `request` names the call and its target (`S3 ListObjectsV2 s3://bucket/prefix`).
    #[error("{request}: {message}")]
    Api { request: String, message: String },
    /// polars failed while scanning or converting the input.
    #[error("{context}: {source}")]
    Polars {
        context: String,
        #[source]
        source: polars::error::PolarsError,
    },
}

impl SourceError {
    pub fn invalid(location: Location, message: impl Into<String>) -> Self {
        SourceError::Invalid {
            location,
            message: message.into(),
        }
    }

    pub fn io(path: impl fmt::Display, source: std::io::Error) -> Self {
        SourceError::Io {
            path: path.to_string(),
            source,
        }
    }

    pub fn api(request: impl Into<String>, message: impl Into<String>) -> Self {
        SourceError::Api {
            request: request.into(),
            message: message.into(),
        }
    }

    pub fn polars(context: impl fmt::Display, source: polars::error::PolarsError) -> Self {
        SourceError::Polars {
            context: context.to_string(),
            source,
        }
    }
}
