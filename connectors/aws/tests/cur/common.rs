//! Helpers shared by the CUR tests: fixture paths, reading a source into rows, and writing the
//! Parquet flavours from the checked-in CSV fixtures.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonledger_aws::{CostMeasure, CurOptions, CurSource};
use carbonledger_factors::FactorSet;
use carbonledger_usage::{InputTotals, SourceError, UsageSource, col, validate};
use polars::prelude::*;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/aws")
        .join(name)
}

pub fn factors() -> Arc<FactorSet> {
    Arc::new(FactorSet::embedded("ccf").expect("the ccf factor set loads"))
}

pub fn open(path: &Path, cost: CostMeasure) -> Result<CurSource, SourceError> {
    CurSource::open(
        path,
        factors(),
        CurOptions {
            cost,
            ..CurOptions::default()
        },
    )
}

/// One usage row, owned, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub period_start_us: i64,
    pub period_end_us: i64,
    pub provider: String,
    pub billing_account: String,
    pub usage_account: String,
    pub service: String,
    pub region: Option<String>,
    pub region_note: Option<String>,
    pub usage_type: String,
    pub charge_type: String,
    pub class: String,
    pub reason: Option<String>,
    pub instance_type: Option<String>,
    pub cpu_architecture: Option<String>,
    pub gpu_model: Option<String>,
    pub vcpu_hours: f64,
    pub gpu_hours: f64,
    pub memory_gb_hours: f64,
    pub storage_tb_hours: f64,
    pub network_gb: f64,
    pub usage_amount: f64,
    pub usage_unit: String,
    pub cost: f64,
    pub currency: String,
    pub tags: String,
    pub source: String,
    pub source_line: Option<u64>,
}

impl Row {
    /// The row without where it came from, to compare flavours of the same lines.
    pub fn content(&self) -> Row {
        Row {
            source: String::new(),
            source_line: None,
            ..self.clone()
        }
    }
}

/// Everything a read produced.
pub struct Read {
    pub rows: Vec<Row>,
    pub totals: InputTotals,
    pub batches: usize,
}

pub fn read_source(source: &mut CurSource) -> Result<Read, SourceError> {
    let mut rows = Vec::new();
    let mut batches = 0;
    let totals = source.read(&mut |df| {
        validate(&df).expect("every batch has the usage schema");
        batches += 1;
        rows.extend(rows_of(&df));
        Ok(())
    })?;
    Ok(Read {
        rows,
        totals,
        batches,
    })
}

pub fn read(path: &Path, cost: CostMeasure) -> Result<Read, SourceError> {
    read_source(&mut open(path, cost)?)
}

pub fn read_ok(path: &Path) -> Read {
    read(path, CostMeasure::Unblended).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rows_of(df: &DataFrame) -> Vec<Row> {
    let s = |name: &str| df.column(name).expect(name).str().expect(name).clone();
    let f = |name: &str| df.column(name).expect(name).f64().expect(name).clone();
    let t = |name: &str| {
        df.column(name)
            .expect(name)
            .datetime()
            .expect(name)
            .physical()
            .clone()
    };
    let (start, end) = (t(col::PERIOD_START), t(col::PERIOD_END));
    let text = [
        col::PROVIDER,
        col::BILLING_ACCOUNT,
        col::USAGE_ACCOUNT,
        col::SERVICE,
        col::REGION,
        col::REGION_NOTE,
        col::USAGE_TYPE,
        col::CHARGE_TYPE,
        col::USAGE_CLASS,
        col::EXCLUSION_REASON,
        col::INSTANCE_TYPE,
        col::CPU_ARCHITECTURE,
        col::GPU_MODEL,
        col::USAGE_UNIT,
        col::CURRENCY,
        col::TAGS,
        col::SOURCE,
    ]
    .map(s);
    let numbers = [
        col::VCPU_HOURS,
        col::GPU_HOURS,
        col::MEMORY_GB_HOURS,
        col::STORAGE_TB_HOURS,
        col::NETWORK_GB,
    ]
    .map(f);
    let (amount, cost) = (f(col::USAGE_AMOUNT), f(col::COST));
    let lines = df
        .column(col::SOURCE_LINE)
        .expect("line")
        .u64()
        .expect("line")
        .clone();
    (0..df.height())
        .map(|i| {
            let get = |k: usize| text[k].get(i).map(str::to_owned);
            let req = |k: usize| get(k).unwrap_or_default();
            Row {
                period_start_us: start.get(i).expect("start"),
                period_end_us: end.get(i).expect("end"),
                provider: req(0),
                billing_account: req(1),
                usage_account: req(2),
                service: req(3),
                region: get(4),
                region_note: get(5),
                usage_type: req(6),
                charge_type: req(7),
                class: req(8),
                reason: get(9),
                instance_type: get(10),
                cpu_architecture: get(11),
                gpu_model: get(12),
                vcpu_hours: numbers[0].get(i).expect("vcpu"),
                gpu_hours: numbers[1].get(i).expect("gpu"),
                memory_gb_hours: numbers[2].get(i).expect("memory"),
                storage_tb_hours: numbers[3].get(i).expect("storage"),
                network_gb: numbers[4].get(i).expect("network"),
                usage_amount: amount.get(i).expect("amount"),
                usage_unit: req(13),
                cost: cost.get(i).expect("cost"),
                currency: req(14),
                tags: req(15),
                source: req(16),
                source_line: lines.get(i),
            }
        })
        .collect()
}

/// The one row with this usage type and charge type.
pub fn row<'a>(rows: &'a [Row], usage_type: &str, charge_type: &str) -> &'a Row {
    let found: Vec<&Row> = rows
        .iter()
        .filter(|r| r.usage_type == usage_type && r.charge_type == charge_type)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "rows with usage type {usage_type} / {charge_type}"
    );
    found[0]
}

/// The records of a CSV fixture: (header, rows).
pub fn csv_records(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).expect("fixture opens");
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("record").iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(path).expect("csv file");
    writer.write_record(header).expect("header");
    for row in rows {
        writer.write_record(row).expect("row");
    }
    writer.flush().expect("flush");
}

/// AWS's Athena name of a legacy CUR header (`lineItem/UsageType` → `line_item_usage_type`).
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c == '/' || c == ':' {
            out.push('_');
        } else if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn is_number_column(snake_name: &str) -> bool {
    snake_name.ends_with("_cost") || snake_name == "line_item_usage_amount"
}

fn is_date_column(snake_name: &str) -> bool {
    snake_name.ends_with("_date")
}

fn timestamp_us(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("fixture dates are RFC 3339")
        .timestamp_micros()
}

/// A typed column as Athena's Parquet has it: numbers as doubles, dates as timestamps (in
/// `unit`, with `zone`), everything else as text; blank cells are null.
fn typed_column(name: &str, cells: &[&str], unit: TimeUnit, zone: Option<TimeZone>) -> Column {
    if is_number_column(name) {
        let values: Vec<Option<f64>> = cells
            .iter()
            .map(|c| (!c.is_empty()).then(|| c.parse().expect("number")))
            .collect();
        Float64Chunked::from_iter_options(name.into(), values.into_iter()).into_column()
    } else if is_date_column(name) {
        let scale = match unit {
            TimeUnit::Milliseconds => 1000,
            TimeUnit::Microseconds => 1,
            TimeUnit::Nanoseconds => panic!("not used"),
        };
        let values: Vec<i64> = cells.iter().map(|c| timestamp_us(c) / scale).collect();
        Int64Chunked::from_vec(name.into(), values)
            .into_datetime(unit, zone)
            .into_column()
    } else {
        let values: Vec<Option<&str>> = cells
            .iter()
            .map(|c| (!c.is_empty()).then_some(*c))
            .collect();
        StringChunked::from_iter_options(name.into(), values.into_iter()).into_column()
    }
}

/// A JSON object's entries as a Parquet MAP reads in polars: a list of `{key, value}` structs.
fn map_column(name: &str, cells: &[&str]) -> Column {
    let lists: Vec<Option<Series>> = cells
        .iter()
        .map(|text| {
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).expect("map JSON");
            let keys: Vec<&str> = object.keys().map(String::as_str).collect();
            let values: Vec<String> = object
                .values()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect();
            let keys = Series::new("key".into(), keys);
            let values = Series::new("value".into(), values);
            let entries =
                StructChunked::from_series("entries".into(), keys.len(), [keys, values].iter())
                    .expect("struct");
            Some(entries.into_series())
        })
        .collect();
    let mut list: ListChunked = lists.into_iter().collect();
    list.rename(name.into());
    list.into_column()
}

fn write_parquet(path: &Path, columns: Vec<Column>) {
    let height = columns.first().map_or(0, Column::len);
    let mut df = DataFrame::new(height, columns).expect("frame");
    let file = File::create(path).expect("parquet file");
    ParquetWriter::new(file)
        .finish(&mut df)
        .expect("parquet written");
}

/// `legacy_mixed.csv` as the legacy CUR "for Athena" Parquet: snake_case names, typed
/// numbers, millisecond timestamps without a zone.
pub fn write_athena_parquet(path: &Path) {
    let (header, rows) = csv_records(&fixture("legacy_mixed.csv"));
    let columns = header
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let cells: Vec<&str> = rows.iter().map(|r| r[k].as_str()).collect();
            typed_column(&snake(name), &cells, TimeUnit::Milliseconds, None)
        })
        .collect();
    write_parquet(path, columns);
}

/// `cur2_mixed.csv` as CUR 2.0 Parquet: typed columns, UTC microsecond timestamps, and the
/// `product` / `resource_tags` maps as lists of key/value structs.
pub fn write_cur2_parquet(path: &Path) {
    let (header, rows) = csv_records(&fixture("cur2_mixed.csv"));
    let columns = header
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let cells: Vec<&str> = rows.iter().map(|r| r[k].as_str()).collect();
            if name == "product" || name == "resource_tags" {
                map_column(name, &cells)
            } else {
                typed_column(name, &cells, TimeUnit::Microseconds, Some(TimeZone::UTC))
            }
        })
        .collect();
    write_parquet(path, columns);
}

/// Copies a fixture folder into `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("folder");
    for entry in std::fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Sets a file's modification time to `secs` seconds after the epoch.
pub fn set_mtime(path: &Path, secs: u64) {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(time)
        .expect("mtime");
}
