//! Helpers shared by the GCP export tests: fixture paths, converting hand-built lines, and
//! reading a source into owned rows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use carbonledger_factors::FactorSet;
use carbonledger_gcp::{GcpCost, GcpExportSource, GcpLine, GcpOptions, LineConverter};
use carbonledger_usage::{InputTotals, SourceError, UsageBatchBuilder, UsageSource, col, validate};
use polars::prelude::*;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/gcp")
        .join(name)
}

/// The embedded factor set `name` (`ccf` or `default`), loaded once per test binary.
pub fn factors(name: &str) -> Arc<FactorSet> {
    static SETS: OnceLock<Mutex<HashMap<String, Arc<FactorSet>>>> = OnceLock::new();
    let mut sets = SETS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let set = sets
        .entry(name.to_owned())
        .or_insert_with(|| Arc::new(FactorSet::embedded(name).expect("embedded factor set")));
    Arc::clone(set)
}

/// The two methods as the CLI sets them up: (factor set, CCF quirks).
pub const CCF: (&str, bool) = ("ccf", true);
pub const DEFAULT: (&str, bool) = ("default", false);

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
    /// The row without where it came from, to compare formats of the same export.
    pub fn content(&self) -> Row {
        Row {
            source: String::new(),
            source_line: None,
            ..self.clone()
        }
    }
}

/// Converts one hand-built line with a method's factor set and quirks.
pub fn convert(method: (&str, bool), cost: GcpCost, line: &GcpLine<'_>) -> Row {
    let options = GcpOptions {
        cost,
        ccf_quirks: method.1,
    };
    let mut converter = LineConverter::new(factors(method.0), options).expect("converter");
    let mut builder = UsageBatchBuilder::with_capacity(1);
    converter.push(line, &mut builder);
    let df = builder.finish().expect("batch");
    validate(&df).expect("the usage schema");
    rows_of(&df).remove(0)
}

/// Everything a read produced.
pub struct Read {
    pub rows: Vec<Row>,
    pub totals: InputTotals,
}

pub fn read_with(path: &Path, method: (&str, bool), cost: GcpCost) -> Result<Read, SourceError> {
    let options = GcpOptions {
        cost,
        ccf_quirks: method.1,
    };
    let mut source = GcpExportSource::open(path, factors(method.0), options)?;
    let mut rows = Vec::new();
    let totals = source.read(&mut |df| {
        validate(&df).expect("every batch has the usage schema");
        rows.extend(rows_of(&df));
        Ok(())
    })?;
    Ok(Read { rows, totals })
}

pub fn read_ok(name: &str) -> Read {
    read_with(&fixture(name), DEFAULT, GcpCost::Net).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The error message of reading a fixture (with the gross cost unless said otherwise).
pub fn read_err(name: &str, cost: GcpCost) -> String {
    match read_with(&fixture(name), DEFAULT, cost) {
        Ok(_) => panic!("{name} was read without an error"),
        Err(e) => e.to_string(),
    }
}

pub fn rows_of(df: &DataFrame) -> Vec<Row> {
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
        col::USAGE_AMOUNT,
        col::COST,
    ]
    .map(f);
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
            let n = |k: usize| numbers[k].get(i).expect("number");
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
                vcpu_hours: n(0),
                gpu_hours: n(1),
                memory_gb_hours: n(2),
                storage_tb_hours: n(3),
                network_gb: n(4),
                usage_amount: n(5),
                usage_unit: req(13),
                cost: n(6),
                currency: req(14),
                tags: req(15),
                source: req(16),
                source_line: lines.get(i),
            }
        })
        .collect()
}

/// The one row with this SKU description and charge type.
pub fn row<'a>(rows: &'a [Row], sku: &str, charge_type: &str) -> &'a Row {
    let found: Vec<&Row> = rows
        .iter()
        .filter(|r| r.usage_type == sku && r.charge_type == charge_type)
        .collect();
    assert_eq!(found.len(), 1, "rows with SKU `{sku}` ({charge_type})");
    found[0]
}

/// `a` and `b` equal to 1e-12, relative.
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}
