//! Reads a newline-delimited JSON export (BigQuery's JSON export format, plain or gzip), one
//! object per line.
//!
//! Fields are read nested as BigQuery writes them (`{"usage": {"amount": 3600, …}}`), else from
//! a flattened key (`"usage.amount"` or `"usage_amount"`). BigQuery writes FLOAT as numbers and
//! INT64 / NUMERIC as text; both are read. Blank lines are skipped. A line that is not a JSON
//! object, or an object without one of the required fields (`usage_start_time`,
//! `usage_end_time`, `service.description`, `sku.description`, `usage.amount`, `usage.unit`,
//! `cost`, `currency`), is an error naming the file, the line and the field's path. A missing
//! `credits` field is an empty list (BigQuery may leave empty repeated fields out).

use std::borrow::Cow;
use std::io::{BufRead, BufReader};

use carbonledger_usage::{Location, SourceError};
use serde_json::{Map, Value};

use crate::fields::{ALL, Field, REQUIRED};
use crate::layout::DataFile;
use crate::reader::{BUFFER, Emitter, open_text};
use crate::row::{Cell, RowCells, RowPlace};

/// Reads `file` into `emitter`.
pub fn read(file: &DataFile, emitter: &mut Emitter<'_>) -> Result<(), SourceError> {
    let shown = file.shown.as_str();
    let gzip = file.format.is_gzip();
    let input = open_text(file)?;
    let mut input = BufReader::with_capacity(BUFFER, input);
    let column = |field: Field| field.path().to_owned();
    let mut bytes = Vec::new();
    let mut line: u64 = 0;
    loop {
        bytes.clear();
        let read = input.read_until(b'\n', &mut bytes).map_err(|e| {
            let message = if gzip {
                format!(
                    "gzip data is broken or truncated: decompression stopped after line \
                     {line} ({e})"
                )
            } else {
                format!("cannot be read after line {line}: {e}")
            };
            SourceError::invalid(Location::file(shown).at_line(line + 1), message)
        })?;
        if read == 0 {
            break;
        }
        line += 1;
        let at = || Location::file(shown).at_line(line);
        let mut text = std::str::from_utf8(&bytes).map_err(|e| {
            SourceError::invalid(
                at(),
                format!(
                    "invalid UTF-8 at byte {} of the line: the file must be UTF-8",
                    e.valid_up_to() + 1
                ),
            )
        })?;
        if line == 1 {
            text = text.trim_start_matches('\u{feff}');
        }
        if text.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            SourceError::invalid(
                at(),
                format!("not a JSON object (column {}): {e}", e.column()),
            )
        })?;
        let Value::Object(object) = &value else {
            return Err(SourceError::invalid(
                at(),
                "not a JSON object: each line of a JSON lines export holds one row",
            ));
        };
        let mut cells = RowCells::new();
        for field in ALL {
            if let Some(found) = lookup(object, field) {
                cells.set(field, Cell::Json(Cow::Borrowed(found)));
            }
        }
        for field in REQUIRED {
            if lookup(object, field).is_none() {
                return Err(SourceError::invalid(
                    at().in_column(field.path()),
                    format!("the row has no `{}` field", field.path()),
                ));
            }
        }
        let place = RowPlace {
            source: shown,
            line,
            column: &column,
        };
        cells.with_line(&place, Some(line), |l| emitter.push(l))??;
    }
    if line == 0 {
        let what = if gzip {
            "empty file (after gunzip)"
        } else {
            "empty file"
        };
        return Err(SourceError::invalid(Location::file(shown), what));
    }
    Ok(())
}

/// The value of `field` in a row object: nested (`usage` → `amount`), else under the dotted
/// or underscored flat key. Keys are matched without regard to case.
pub fn lookup<'v>(object: &'v Map<String, Value>, field: Field) -> Option<&'v Value> {
    let get = |map: &'v Map<String, Value>, key: &str| {
        map.get(key).or_else(|| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
    };
    let (record, inner) = field.parts();
    if let Some(inner) = inner
        && let Some(Value::Object(nested)) = get(object, record)
        && let Some(found) = get(nested, inner)
    {
        return Some(found);
    }
    if inner.is_none() {
        return get(object, record);
    }
    get(object, field.path()).or_else(|| get(object, &field.path().replace('.', "_")))
}

/// The flattened field paths of the first object of a JSON lines file (for detection).
pub fn first_object_names(text: &str) -> Vec<String> {
    let Some(first) = text
        .trim_start_matches('\u{feff}')
        .lines()
        .find(|l| !l.trim().is_empty())
    else {
        return Vec::new();
    };
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(first) else {
        return Vec::new();
    };
    ALL.into_iter()
        .filter(|f| lookup(&object, *f).is_some())
        .map(|f| f.path().to_owned())
        .collect()
}
