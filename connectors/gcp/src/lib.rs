//! carbonledger's GCP connector: reads Cloud Billing exports saved as **files** (copied out of
//! BigQuery as CSV, gzip CSV, newline-delimited JSON or Parquet; a single file or a folder)
//! or straight from the export table in **BigQuery** ([`bigquery::BigQuerySource`], one
//! grouped query per window), and emits usage batches in the shared usage schema, classified
//! with Cloud Carbon Footprint's GCP rules (ccf-methodology §4.2).
//!
//! Quantities are converted to the schema's units from `usage.amount` in `usage.unit`:
//!
//! * `compute`: `vcpu_hours` (vCPU-hours) = vCPU-seconds / 3600 (× 3 for GKE cluster SKUs,
//!   × 14 for Cloud Composer environment SKUs);
//! * `gpu`: `gpu_hours` (GPU-hours) = GPU-seconds / 3600;
//! * `memory`: `memory_gb_hours` = byte-seconds / 2^30 / 3600, i.e. GiB-hours (the memory
//!   coefficient is per GB of DRAM, which is binary);
//! * `storage_ssd`, `storage_hdd`: `storage_tb_hours` (TB-hours, 10^12 bytes) = byte-seconds /
//!   10^12 / 3600; with [`GcpOptions::ccf_quirks`], byte-seconds / 2^40 / 3600 (TiB-hours) as
//!   CCF;
//! * `network`: `network_gb` (GB, 10^9 bytes) = bytes / 10^9; with the quirks bytes / 2^30.
//!
//! `unknown` rows are real usage the method cannot quantify (estimated by ratio downstream);
//! `excluded` rows carry no physical usage or are not estimated, with the reason (tax,
//! adjustments and rounding errors among them, cost kept). `cost` is the chosen [`GcpCost`].
//!
//! Both paths go through [`GcpLine`] (one export row by its BigQuery field names) and
//! [`LineConverter`] (a `GcpLine` → a usage row), so the same facts give the same rows.
//!
//! ```no_run
//! use std::sync::Arc;
//! use carbonledger_factors::FactorSet;
//! use carbonledger_gcp::{GcpCost, GcpExportSource, GcpOptions};
//! use carbonledger_usage::UsageSource;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let factors = Arc::new(FactorSet::embedded("default")?);
//! let options = GcpOptions {
//!     cost: GcpCost::Net,
//!     ccf_quirks: false,
//! };
//! let mut source = GcpExportSource::open("exports/billing".as_ref(), factors, options)?;
//! let totals = source.read(&mut |batch| {
//!     println!("{} rows", batch.height());
//!     Ok(())
//! })?;
//! println!("{} input rows", totals.rows);
//! # Ok(())
//! # }
//! ```

pub mod bigquery;
mod classify;
mod cost;
mod csv_file;
mod fields;
mod json_lines;
pub mod layout;
mod line;
mod lists;
mod parquet_file;
mod parse;
mod processors;
mod reader;
mod region;
mod repeated;
mod row;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::{CostBasis, InputTotals, SourceError, UsageSource};
use flate2::read::MultiGzDecoder;
use polars::prelude::*;

pub use bigquery::{BigQueryAuth, BigQueryOptions, BigQuerySource, BigQueryTable};
pub use cost::{GcpCost, GcpCredit, PROMOTION};
pub use fields::looks_like_export;
pub use layout::{DataFile, FileFormat};
pub use line::{
    CORES_LABEL, GcpLine, LineConverter, MACHINE_SPEC_LABEL, MEMORY_LABEL, SystemLabels,
};
pub use lists::{
    GKE_CLUSTERS, GKE_COMPOSER_MACHINE_TYPE, POD_MCPU_REQUESTS, POD_MEMORY_REQUESTS,
    classification_lists,
};
pub use processors::{PROVIDER, SKU_SERIES_PATTERN};
pub use region::{REGION_PATTERN, ZONE_PATTERN};

/// Every machine series of `factors` with its `;`-separated CPU architectures, as the
/// classifier assigns them to a Compute Engine row whose machine type the set does not list
/// (`method default`), sorted by series.
pub fn series_processors(factors: &carbonledger_factors::FactorSet) -> Vec<(String, String)> {
    processors::Processors::new(factors, false)
        .map(|p| p.series())
        .unwrap_or_default()
}
pub use repeated::{RepeatedError, parse_text as parse_repeated_text, python_repr_to_json};

/// How to read an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GcpOptions {
    /// The cost carried into the rows' `cost` (and the input cost totals).
    pub cost: GcpCost,
    /// Reproduce CCF's arithmetic (the `ccf` method; default false): storage TiB-hours and
    /// network GiB (2^40 and 2^30 bytes), processors from the first two characters of a machine
    /// type the factor set does not list, GPU models by CCF's names only, usage units CCF's
    /// query does not read excluded, committed-use fees estimated by ratio, and Secret Manager
    /// and Cloud KMS usage units written as `Unknown`. See the crate README.
    pub ccf_quirks: bool,
}

/// A GCP billing export file or folder of files, ready to be read.
pub struct GcpExportSource {
    path: PathBuf,
    files: Vec<DataFile>,
    converter: LineConverter,
}

impl GcpExportSource {
    /// Finds the files under `path` (see [`layout`]). Fails when the path cannot be read or a
    /// folder holds no export file.
    pub fn open(
        path: &Path,
        factors: Arc<FactorSet>,
        options: GcpOptions,
    ) -> Result<GcpExportSource, SourceError> {
        let files = layout::discover(path)?;
        Ok(GcpExportSource {
            path: path.to_path_buf(),
            files,
            converter: LineConverter::new(factors, options)?,
        })
    }

    /// The files that [`UsageSource::read`] reads, in order.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }

    /// Reads one local file into `sink` with this source's converter, naming it `shown` (for
    /// sources that fetch files themselves).
    pub fn read_file(
        &mut self,
        path: &Path,
        shown: &str,
        format: FileFormat,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let file = DataFile {
            path: path.to_path_buf(),
            shown: shown.to_owned(),
            format,
        };
        reader::read_file(&file, &mut self.converter, sink)
    }
}

impl UsageSource for GcpExportSource {
    fn describe(&self) -> String {
        let cost = self.converter.cost_measure();
        match self.files.as_slice() {
            [one] if one.path == self.path => format!(
                "GCP billing export {} ({}, cost {cost})",
                self.path.display(),
                one.format.label()
            ),
            files => {
                let n = files.len();
                let plural = if n == 1 { "" } else { "s" };
                format!(
                    "GCP billing export folder {} ({n} file{plural}; cost {cost})",
                    self.path.display()
                )
            }
        }
    }

    fn cost_basis(&self) -> Option<CostBasis> {
        Some(self.converter.cost_measure().basis())
    }

    fn read(
        &mut self,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let mut totals = InputTotals::default();
        for file in &self.files {
            totals.add(&reader::read_file(file, &mut self.converter, sink)?);
        }
        Ok(totals)
    }
}

/// Whether `path` (a file) looks like a GCP billing export: its header (CSV), its first
/// object (JSON lines) or its schema (Parquet) names the service, the SKU and the usage amount
/// (see [`looks_like_export`]). Unreadable files are not exports.
pub fn is_export_file(path: &Path) -> bool {
    let format = match path
        .file_name()
        .and_then(|n| FileFormat::from_name(&n.to_string_lossy()))
    {
        Some(format) => format,
        None => match layout::sniff(path) {
            Ok(format) => format,
            Err(_) => return false,
        },
    };
    column_names(path, format).is_some_and(|names| looks_like_export(&names))
}

/// The column names of a file as detection sees them.
fn column_names(path: &Path, format: FileFormat) -> Option<Vec<String>> {
    if format == FileFormat::Parquet {
        let pl_path = PlRefPath::try_from_path(path).ok()?;
        let args = ScanArgsParquet {
            hive_options: HiveOptions::new_disabled(),
            glob: false,
            ..ScanArgsParquet::default()
        };
        let schema = LazyFrame::scan_parquet(pl_path, args)
            .ok()?
            .collect_schema()
            .ok()?;
        return Some(schema.iter_names().map(|n| n.to_string()).collect());
    }
    let file = File::open(path).ok()?;
    let input: Box<dyn Read> = if format.is_gzip() {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut first = String::new();
    BufReader::new(input.take(1 << 20))
        .read_line(&mut first)
        .ok()?;
    if matches!(format, FileFormat::JsonLines | FileFormat::GzipJsonLines) {
        return Some(json_lines::first_object_names(&first));
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(first.trim_end().as_bytes());
    let record = csv.records().next()?.ok()?;
    Some(record.iter().map(str::to_owned).collect())
}
