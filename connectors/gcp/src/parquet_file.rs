//! Reads a Parquet export with polars, in batches from the streaming engine.
//!
//! Two shapes are read: BigQuery's own Parquet export, which keeps the nesting (`service`,
//! `sku`, `usage`, `location`, `invoice` as structs; `credits`, `labels`, `system_labels` as
//! lists of structs; timestamps as Parquet timestamps), and flattened files with dotted or
//! underscored column names (`usage.amount`, `usage_amount`), where the repeated fields may
//! also be JSON text. Numbers may be any numeric type or text; timestamps any unit (UTC) or
//! text. A missing required column is an error naming the file and the column; a bad value
//! names the 1-based row number as its line.

use std::borrow::Cow;
use std::collections::HashMap;
use std::num::NonZeroUsize;

use carbonledger_usage::{Location, SourceError};
use polars::prelude::*;
use serde_json::Value;

use crate::fields::{ALL, Field, clean};
use crate::layout::DataFile;
use crate::reader::{BATCH_ROWS, Emitter};
use crate::row::{Cell, RowCells, RowPlace};

const ROW_INDEX: &str = "__carbonledger_row_index";

/// Where a field is in the file.
#[derive(Debug, Clone)]
enum Source {
    /// A top-level column.
    Flat(String),
    /// A field of a top-level struct column.
    Nested(String, String),
}

impl Source {
    fn top(&self) -> &str {
        match self {
            Source::Flat(name) | Source::Nested(name, _) => name,
        }
    }

    fn shown(&self) -> String {
        match self {
            Source::Flat(name) => name.clone(),
            Source::Nested(top, inner) => format!("{top}.{inner}"),
        }
    }
}

/// Reads `file` into `emitter`.
pub fn read(file: &DataFile, emitter: &mut Emitter<'_>) -> Result<(), SourceError> {
    let shown = file.shown.as_str();
    let polars_err = |e: PolarsError| SourceError::polars(format!("reading {shown}"), e);
    let len = std::fs::metadata(&file.path)
        .map_err(|e| SourceError::io(shown, e))?
        .len();
    if len == 0 {
        return Err(SourceError::invalid(Location::file(shown), "empty file"));
    }
    let path = PlRefPath::try_from_path(&file.path).map_err(polars_err)?;
    let args = ScanArgsParquet {
        hive_options: HiveOptions::new_disabled(),
        glob: false,
        ..ScanArgsParquet::default()
    };
    let mut lf = LazyFrame::scan_parquet(path, args).map_err(polars_err)?;
    let schema = lf.collect_schema().map_err(polars_err)?;
    let sources = resolve(&schema);
    for field in emitter.required() {
        if !sources.contains_key(&field) {
            return Err(SourceError::invalid(
                Location::file(shown).in_column(field.path()),
                format!(
                    "required column `{}` is missing from the Parquet export (neither a \
                     column of that name nor a field of a `{}` struct)",
                    field.path(),
                    field.parts().0
                ),
            ));
        }
    }
    let mut tops: Vec<&str> = sources.values().map(Source::top).collect();
    tops.sort_unstable();
    tops.dedup();
    let mut projection = vec![col(ROW_INDEX)];
    projection.extend(tops.iter().map(|name| col(*name)));
    let batches = lf
        .with_row_index(ROW_INDEX, None)
        .select(projection)
        .collect_batches(
            Engine::Streaming,
            true,
            NonZeroUsize::new(BATCH_ROWS),
            false,
        )
        .map_err(polars_err)?;
    let column_name = |field: Field| {
        sources
            .get(&field)
            .map_or_else(|| field.path().to_owned(), Source::shown)
    };
    for batch in batches {
        let df = batch.map_err(polars_err)?;
        let rows = df
            .column(ROW_INDEX)
            .and_then(|c| c.idx().cloned())
            .map_err(polars_err)?;
        let mut columns: Vec<(Field, Values)> = Vec::with_capacity(sources.len());
        for (field, source) in &sources {
            let series = column_of(&df, source).map_err(polars_err)?;
            columns.push((*field, Values::of(&series).map_err(polars_err)?));
        }
        for i in 0..df.height() {
            let line = rows.get(i).map_or(i as u64, u64::from) + 1;
            let mut cells = RowCells::new();
            for (field, values) in &columns {
                cells.set(*field, values.cell(i).map_err(polars_err)?);
            }
            let place = RowPlace {
                source: shown,
                line,
                column: &column_name,
            };
            cells.with_line(&place, Some(line), |l| emitter.push(l))??;
        }
    }
    Ok(())
}

/// Where each field is in a file of `schema` (fields the file lacks are left out).
fn resolve(schema: &Schema) -> HashMap<Field, Source> {
    let mut sources = HashMap::new();
    for field in ALL {
        let flat = schema.iter_names().find(|n| field.is_named(n));
        if let Some(name) = flat {
            sources.insert(field, Source::Flat(name.to_string()));
            continue;
        }
        let (record, Some(inner)) = field.parts() else {
            continue;
        };
        let nested = schema.iter().find_map(|(name, dtype)| {
            if !clean(name).eq_ignore_ascii_case(record) {
                return None;
            }
            let DataType::Struct(fields) = dtype else {
                return None;
            };
            fields
                .iter()
                .find(|f| f.name().eq_ignore_ascii_case(inner))
                .map(|f| Source::Nested(name.to_string(), f.name().to_string()))
        });
        if let Some(source) = nested {
            sources.insert(field, source);
        }
    }
    sources
}

fn column_of(df: &DataFrame, source: &Source) -> PolarsResult<Series> {
    match source {
        Source::Flat(name) => Ok(df.column(name)?.as_materialized_series().clone()),
        Source::Nested(top, inner) => {
            let series = df.column(top)?.as_materialized_series();
            series.struct_()?.field_by_name(inner)
        }
    }
}

/// One column of a batch, in the type the file gave it.
enum Values {
    Text(StringChunked),
    Number(Float64Chunked),
    Datetime(Int64Chunked, TimeUnit),
    /// Days since the epoch.
    Date(Int32Chunked),
    List(ListChunked),
}

impl Values {
    fn of(series: &Series) -> PolarsResult<Values> {
        Ok(match series.dtype() {
            DataType::String => Values::Text(series.str()?.clone()),
            DataType::Datetime(unit, _) => {
                Values::Datetime(series.datetime()?.physical().clone(), *unit)
            }
            DataType::Date => Values::Date(series.date()?.physical().clone()),
            DataType::List(_) => Values::List(series.list()?.clone()),
            dtype if dtype.is_primitive_numeric() => {
                Values::Number(series.cast(&DataType::Float64)?.f64()?.clone())
            }
            _ => Values::Text(series.cast(&DataType::String)?.str()?.clone()),
        })
    }

    fn cell(&self, i: usize) -> PolarsResult<Cell<'_>> {
        Ok(match self {
            Values::Text(ca) => ca
                .get(i)
                .map_or(Cell::Null, |t| Cell::Text(Cow::Borrowed(t))),
            Values::Number(ca) => ca.get(i).map_or(Cell::Null, Cell::Number),
            Values::Datetime(ca, unit) => ca
                .get(i)
                .map_or(Cell::Null, |v| Cell::Timestamp(micros(v, *unit))),
            Values::Date(ca) => ca.get(i).map_or(Cell::Null, |days| {
                Cell::Timestamp(i64::from(days) * 86_400_000_000)
            }),
            Values::List(ca) => match ca.get_as_series(i) {
                None => Cell::Null,
                Some(items) => Cell::Json(Cow::Owned(list_json(&items)?)),
            },
        })
    }
}

fn micros(value: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Nanoseconds => value.div_euclid(1000),
        TimeUnit::Microseconds => value,
        TimeUnit::Milliseconds => value.saturating_mul(1000),
    }
}

/// A list cell (of structs, usually) as a JSON array of objects.
fn list_json(items: &Series) -> PolarsResult<Value> {
    let mut out = Vec::with_capacity(items.len());
    if let DataType::Struct(_) = items.dtype() {
        let fields = items.struct_()?.fields_as_series();
        for j in 0..items.len() {
            let mut object = serde_json::Map::new();
            for field in &fields {
                object.insert(field.name().to_string(), scalar_json(field.get(j)?));
            }
            out.push(Value::Object(object));
        }
    } else {
        for j in 0..items.len() {
            out.push(scalar_json(items.get(j)?));
        }
    }
    Ok(Value::Array(out))
}

fn scalar_json(value: AnyValue<'_>) -> Value {
    match value {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(b),
        AnyValue::String(s) => Value::String(s.to_owned()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        other if other.is_primitive_numeric() => other
            .extract::<f64>()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        other => Value::String(other.to_string()),
    }
}
