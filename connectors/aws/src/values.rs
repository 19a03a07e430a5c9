//! Typed access to one batch column, whatever type the file gave it.
//!
//! CSV columns arrive as text; Parquet columns may be text, numbers, timestamps (any unit,
//! read as UTC) or MAP columns (read by polars as `List(Struct{key, value})`).

use std::borrow::Cow;

use polars::prelude::*;

use crate::parse;

/// One column of a batch.
pub enum Values {
    Text(StringChunked),
    Number(Float64Chunked),
    Datetime(Int64Chunked, TimeUnit),
    /// Days since the epoch.
    Date(Int32Chunked),
    Map(ListChunked),
}

/// Why a cell could not be read; the caller adds the location.
pub enum CellError {
    /// Text that is not a decimal number.
    Number(String),
    /// Text that is not a timestamp (empty for a missing one).
    Date(String),
    /// A map cell that is neither a JSON object nor a list of key/value structs.
    Map(String),
}

impl CellError {
    pub fn message(&self) -> String {
        match self {
            CellError::Number(text) => format!("`{text}` is not a number"),
            CellError::Date(text) if text.trim().is_empty() => "the date is empty".to_owned(),
            CellError::Date(text) => format!("`{text}` is not a date and time"),
            CellError::Map(why) => format!("the map column cannot be read: {why}"),
        }
    }
}

impl Values {
    /// The column of a batch, as one chunk: cells are read by row index, which on a column of
    /// many chunks (as the streaming reader delivers them) searches the chunks on every read.
    pub fn from_column(column: &Column) -> PolarsResult<Values> {
        let series = column.as_materialized_series().rechunk();
        Ok(match series.dtype() {
            DataType::String => Values::Text(series.str()?.clone()),
            DataType::Datetime(unit, _) => {
                Values::Datetime(series.datetime()?.physical().clone(), *unit)
            }
            DataType::Date => Values::Date(series.date()?.physical().clone()),
            DataType::List(_) => Values::Map(series.list()?.clone()),
            dtype if dtype.is_primitive_numeric() => {
                Values::Number(series.cast(&DataType::Float64)?.f64()?.clone())
            }
            _ => Values::Text(series.cast(&DataType::String)?.str()?.clone()),
        })
    }

    /// The cell as text; `None` for null. Numbers are written the shortest way (`4`, `0.5`).
    pub fn text(&self, i: usize) -> Option<Cow<'_, str>> {
        match self {
            Values::Text(ca) => ca.get(i).map(Cow::Borrowed),
            Values::Number(ca) => ca.get(i).map(|v| Cow::Owned(v.to_string())),
            Values::Datetime(ca, unit) => {
                ca.get(i).map(|v| Cow::Owned(micros(v, *unit).to_string()))
            }
            Values::Date(ca) => ca.get(i).map(|v| Cow::Owned(v.to_string())),
            Values::Map(_) => None,
        }
    }

    /// The cell as a number; `Ok(None)` for null or blank text.
    pub fn number(&self, i: usize) -> Result<Option<f64>, CellError> {
        match self {
            Values::Number(ca) => Ok(ca.get(i)),
            _ => match self.text(i) {
                None => Ok(None),
                Some(text) if text.trim().is_empty() => Ok(None),
                Some(text) => parse::number(&text)
                    .map(Some)
                    .ok_or_else(|| CellError::Number(text.into_owned())),
            },
        }
    }

    /// The cell as microseconds since the epoch (UTC); null or blank is an error.
    pub fn timestamp_us(&self, i: usize) -> Result<i64, CellError> {
        match self {
            Values::Datetime(ca, unit) => ca
                .get(i)
                .map(|v| micros(v, *unit))
                .ok_or(CellError::Date(String::new())),
            Values::Date(ca) => ca
                .get(i)
                .map(|days| i64::from(days) * 86_400_000_000)
                .ok_or(CellError::Date(String::new())),
            _ => {
                let text = self.text(i).unwrap_or_default();
                parse::timestamp_us(&text).ok_or_else(|| CellError::Date(text.into_owned()))
            }
        }
    }

    /// The entries of a map cell: a JSON object in text (CUR 2.0 CSV) or a list of
    /// `{key, value}` structs (Parquet MAP). Null or blank is an empty map.
    pub fn map_entries(&self, i: usize) -> Result<Vec<(String, String)>, CellError> {
        match self {
            Values::Map(ca) => {
                let Some(entries) = ca.get_as_series(i) else {
                    return Ok(Vec::new());
                };
                struct_entries(&entries).map_err(|e| CellError::Map(e.to_string()))
            }
            _ => match self.text(i) {
                None => Ok(Vec::new()),
                Some(text) if text.trim().is_empty() => Ok(Vec::new()),
                Some(text) => json_entries(&text),
            },
        }
    }
}

fn micros(value: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Nanoseconds => value.div_euclid(1000),
        TimeUnit::Microseconds => value,
        TimeUnit::Milliseconds => value.saturating_mul(1000),
    }
}

fn struct_entries(entries: &Series) -> PolarsResult<Vec<(String, String)>> {
    let fields = entries.struct_()?.fields_as_series();
    let (Some(keys), Some(values)) = (fields.first(), fields.get(1)) else {
        polars_bail!(SchemaMismatch: "a map entry needs a key and a value field");
    };
    let keys = keys.cast(&DataType::String)?;
    let values = values.cast(&DataType::String)?;
    let (keys, values) = (keys.str()?, values.str()?);
    Ok(keys
        .iter()
        .zip(values.iter())
        .filter_map(|(k, v)| Some((k?.to_owned(), v.unwrap_or_default().to_owned())))
        .collect())
}

/// Entries of a JSON object; non-string values are kept as their JSON text.
pub fn json_entries(text: &str) -> Result<Vec<(String, String)>, CellError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| CellError::Map(e.to_string()))?;
    let serde_json::Value::Object(object) = value else {
        return Err(CellError::Map("not a JSON object".to_owned()));
    };
    Ok(object
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, v)
        })
        .collect())
}
