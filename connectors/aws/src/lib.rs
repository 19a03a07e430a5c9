//! carbonledger's AWS connector: reads Cost and Usage Report files (legacy CUR and CUR 2.0 /
//! Data Exports, CSV, gzip CSV or Parquet, a single file or a delivery folder) and emits usage
//! batches in the shared usage schema, classified with Cloud Carbon Footprint's AWS rules.
//!
//! Quantities are converted to the schema's units:
//!
//! * `compute`: `vcpu_hours` (vCPU-hours) = instance-hours × the instance type's vCPUs (Lambda:
//!   seconds / 3600); `gpu_hours` (GPU-hours) = instance-hours × GPUs; `memory_gb_hours`
//!   (GB-hours) = instance-hours × the instance's memory in GB;
//! * `storage_ssd`, `storage_hdd`: `storage_tb_hours` (TB-hours) = GB-months × 24 × days in the
//!   month / 1000, or GB-hours / 1000;
//! * `network`: `network_gb` (GB) = GB transferred.
//!
//! `unknown` rows are real usage the method cannot quantify (estimated by ratio downstream);
//! `excluded` rows carry no physical usage or are not estimated, with the reason.
//! This crate reads files only; fetching from S3 is the caller's job.
//!
//! [`CurOptions::ccf_quirks`] makes the vCPU-hours what CCF's code computes, unit slips
//! included (the `ccf` method); without it they are the physically right values (see the crate
//! README, "Where this differs from CCF's code").
//!
//! ```no_run
//! use std::sync::Arc;
//! use carbonledger_aws::{CostMeasure, CurOptions, CurSource};
//! use carbonledger_factors::FactorSet;
//! use carbonledger_usage::UsageSource;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let factors = Arc::new(FactorSet::embedded("ccf")?);
//! let options = CurOptions {
//!     cost: CostMeasure::Unblended,
//!     ccf_quirks: false,
//! };
//! let mut source = CurSource::open("reports/cur".as_ref(), factors, options)?;
//! let totals = source.read(&mut |batch| {
//!     println!("{} rows", batch.height());
//!     Ok(())
//! })?;
//! println!("{} input rows", totals.rows);
//! # Ok(())
//! # }
//! ```

mod classify;
mod columns;
mod diagnose;
mod gzip;
pub mod layout;
mod line;
mod lists;
mod parse;
mod reader;
mod region;
mod values;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::{CostBasis, FocusCost, InputTotals, SourceError, UsageSource};
use polars::prelude::DataFrame;

pub use classify::{INSTANCE_PREFIX_PATTERN, INSTANCE_SHAPE_PATTERN, PROVIDER};
pub use columns::{Flavour, legacy_to_snake};
pub use layout::{FileFormat, LayoutKind};
pub use line::{BilledLine, LineConverter};
pub use lists::{classification_lists, vcpu_hour_usage_types};
pub use region::{
    BILLING_CODE_SHAPE_PATTERN, GLOBAL_NOTE, NO_PREFIX_NOTE, REGION_CODE_PATTERN,
    REGION_NAME_PREFIX_PATTERN, billing_code_region, billing_codes,
};

/// Which cost column becomes the rows' `cost` (and the input cost totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostMeasure {
    /// `lineItem/UnblendedCost`: the list-rate cost of each line; `SavingsPlanNegation` lines
    /// cancel the covered usage.
    #[default]
    Unblended,
    /// `lineItem/NetUnblendedCost`: unblended after discounts (the column must exist).
    NetUnblended,
    /// `lineItem/BlendedCost` (Athena and CUR 2.0 `line_item_blended_cost`): the line at the
    /// blended rate, the average rate of the consolidated billing family (the column must
    /// exist). The cost CCF's AWS query sums (`SUM(line_item_blended_cost)`) and so the cost its
    /// unknown-usage ratio divides by.
    Blended,
    /// Commitments spread over the usage they cover, as AWS CUDOS does: Savings Plan covered
    /// usage at its effective cost, RI usage at the reservation's effective cost, unused
    /// commitment on the fee lines, upfront fees and negations at 0; else unblended cost.
    Amortized,
}

impl CostMeasure {
    /// `unblended`, `net-unblended`, `blended` or `amortized`.
    pub fn as_str(self) -> &'static str {
        match self {
            CostMeasure::Unblended => "unblended",
            CostMeasure::NetUnblended => "net-unblended",
            CostMeasure::Blended => "blended",
            CostMeasure::Amortized => "amortized",
        }
    }

    /// The inverse of [`CostMeasure::as_str`].
    pub fn parse(s: &str) -> Option<CostMeasure> {
        [
            CostMeasure::Unblended,
            CostMeasure::NetUnblended,
            CostMeasure::Blended,
            CostMeasure::Amortized,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// The FOCUS cost column holding the same figure: summed over every line, unblended and
    /// net unblended cost are what is invoiced (`BilledCost`), amortized cost is FOCUS's
    /// `EffectiveCost` (AWS's own FOCUS export takes it after discounts, i.e. from the net
    /// amortized columns; on a bill without discounts the two agree). Blended cost has no
    /// FOCUS column.
    pub fn focus(self) -> Option<FocusCost> {
        match self {
            CostMeasure::Unblended | CostMeasure::NetUnblended => Some(FocusCost::BilledCost),
            CostMeasure::Amortized => Some(FocusCost::EffectiveCost),
            CostMeasure::Blended => None,
        }
    }

    /// The measure as a [`CostBasis`].
    pub fn basis(self) -> CostBasis {
        CostBasis::new(self.as_str(), self.focus())
    }

    fn required_column(self) -> columns::Logical {
        match self {
            CostMeasure::Unblended | CostMeasure::Amortized => columns::Logical::UnblendedCost,
            CostMeasure::NetUnblended => columns::Logical::NetUnblendedCost,
            CostMeasure::Blended => columns::Logical::BlendedCost,
        }
    }
}

impl fmt::Display for CostMeasure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to read a CUR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CurOptions {
    /// The cost column carried into the rows' `cost`.
    pub cost: CostMeasure,
    /// Reproduce CCF's vCPU-hour arithmetic, unit slips included (the `ccf` method; default
    /// false): the vCPU lookup uses the usage type before `arge` is appended to `…xl`, Redshift
    /// table vCPUs are divided by 3600 and count per billed unit, and a compute line with no
    /// vCPU count is `compute` with zero quantities instead of `unknown` (CCF gives it 0 kWh and
    /// leaves it out of the ratio for unknown usage; the estimator does the same for a `compute`
    /// row with 0 vCPU-hours and a non-zero amount). See the crate README.
    pub ccf_quirks: bool,
}

/// A CUR file or delivery folder, ready to be read.
pub struct CurSource {
    path: PathBuf,
    layout: layout::Layout,
    reader: CurFileReader,
}

impl CurSource {
    /// Finds the files under `path` (see the crate README for the layouts and which delivery
    /// of a billing period is read). Fails when the path cannot be read, a manifest names a
    /// part that is not there, a part is ZIP-compressed, or a folder holds no CUR file.
    pub fn open(
        path: &Path,
        factors: Arc<FactorSet>,
        options: CurOptions,
    ) -> Result<CurSource, SourceError> {
        let layout = layout::discover(path)?;
        Ok(CurSource {
            path: path.to_path_buf(),
            layout,
            reader: CurFileReader::new(factors, options)?,
        })
    }

    /// The files that [`UsageSource::read`] reads, in order.
    pub fn files(&self) -> Vec<&Path> {
        self.layout.files.iter().map(|f| f.path.as_path()).collect()
    }

    /// The input's layout.
    pub fn layout_kind(&self) -> LayoutKind {
        self.layout.kind
    }

    /// The billing period folders found (`20231101-20231201`, `BILLING_PERIOD=2023-11`).
    pub fn periods(&self) -> &[String] {
        &self.layout.periods
    }
}

/// Reads CUR files one at a time, with the classification and region caches shared between
/// them: for sources that fetch the files themselves (an S3 export downloads each part to a
/// temporary file and reads it here under its `s3://` name).
pub struct CurFileReader {
    state: reader::ReadState,
}

impl CurFileReader {
    pub fn new(factors: Arc<FactorSet>, options: CurOptions) -> Result<Self, SourceError> {
        let converter = LineConverter::new(factors, options.ccf_quirks)?;
        Ok(CurFileReader {
            state: reader::ReadState::new(converter, options.cost),
        })
    }

    /// The cost measure the reader puts in `cost`.
    pub fn measure(&self) -> CostMeasure {
        self.state.measure
    }

    /// Reads the local file `path` (in `format`), naming it `shown` in rows and errors.
    pub fn read(
        &mut self,
        path: &Path,
        shown: &str,
        format: FileFormat,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let file = layout::DataFile {
            path: path.to_path_buf(),
            shown: shown.to_owned(),
            format,
            period: None,
        };
        reader::read_file(&file, &mut self.state, sink)
    }
}

impl UsageSource for CurSource {
    fn describe(&self) -> String {
        let files = self.layout.files.len();
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let what = match self.layout.kind {
            LayoutKind::File => {
                let measure = self.reader.state.measure;
                return format!("AWS CUR file {} (cost {measure})", self.path.display());
            }
            LayoutKind::LegacyFolder => "legacy CUR layout",
            LayoutKind::Cur2Folder => "CUR 2.0 layout",
            LayoutKind::PlainFolder => "folder of CUR files",
        };
        let periods = self.layout.periods.len();
        let mut detail = what.to_owned();
        if periods > 0 {
            detail.push_str(&format!(", {}", plural(periods, "billing period")));
        }
        format!(
            "AWS CUR folder {} ({detail}, {}; cost {})",
            self.path.display(),
            plural(files, "file"),
            self.reader.state.measure
        )
    }

    fn cost_basis(&self) -> Option<CostBasis> {
        Some(self.reader.measure().basis())
    }

    fn read(
        &mut self,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let mut totals = InputTotals::default();
        for file in &self.layout.files {
            let file_totals = reader::read_file(file, &mut self.reader.state, sink)?;
            totals.add(&file_totals);
        }
        Ok(totals)
    }
}

/// Whether a header row (a file's column names) is a CUR header, in any flavour: legacy
/// (`lineItem/UsageType`, `lineItem/LineItemType`) or snake_case Athena / CUR 2.0
/// (`line_item_usage_type`, `line_item_line_item_type`).
pub fn looks_like_cur(header: &[String]) -> bool {
    columns::detect_flavour(header).is_some()
}

/// Which CUR flavour a header row is, if it is one (see [`looks_like_cur`]).
pub fn cur_flavour(header: &[String]) -> Option<Flavour> {
    columns::detect_flavour(header)
}

/// Whether CCF treats `usage_type` as a "byte-hours" type (it ends with one of CCF's
/// `BYTE_HOURS_USAGE_TYPES`: `ByteHrs`, `SmObjects`, `EarlyDelete-GDA`, `EarlyDelete-SIA`,
/// `EarlyDelete-ZIA`, `GlacierByteHrs`, `ByteHrs-EFS`, `ByteHrs-DynamoDB`). CCF divides such
/// rows' GB-month amounts by 2^40; this connector converts them as GB-months, and the
/// estimator re-applies CCF's division in `ccf` mode with this test.
pub fn is_byte_hours_usage_type(usage_type: &str) -> bool {
    lists::ends_with_any(&lists::BYTE_HOURS_USAGE_TYPES, usage_type)
}
