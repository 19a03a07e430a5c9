//! carbonledger's Azure connector: reads Cost Management **cost-details exports** (actual and
//! amortized cost; EA, MCA and pay-as-you-go layouts; PascalCase, camelCase and localised
//! headers; CSV, gzip CSV or Parquet), as a single file or a folder laid out as exports are
//! delivered (period and run folders, `manifest.json`; the latest run of each period is read),
//! and emits usage batches in the shared usage schema, classified with Cloud Carbon
//! Footprint's Azure rules (ccf-methodology §4.3). Blob storage is read by
//! `carbonledger-azure-cloud`, with this crate's [`layout::choose`] and [`LineConverter`].
//!
//! Quantities (see `classify` for every rule): the billed `Quantity` times the block size of
//! its `UnitOfMeasure` (`PricingUnits.csv`), then
//!
//! * `compute`: `vcpu_hours` = hours × vCPUs (`AdditionalInfo.VCPUs`, else the VM size's),
//!   `memory_gb_hours` = hours × the size's memory (GB), `gpu_hours` = hours × its GPUs;
//! * `storage_ssd` / `storage_hdd`: `storage_tb_hours` = GB-months × 24 × days in the month /
//!   1000 (TB-hours, 10^12 bytes for an hour); managed-disk months × the tier's size;
//! * `network`: `network_gb` = GB of egress;
//! * `memory`: `memory_gb_hours` from GB-hour and GB-second units.
//!
//! `unknown` rows are real usage the method cannot quantify (estimated by ratio); `excluded`
//! rows are purchases, refunds, unused commitments, rounding and tax, with their reason and
//! cost. `cost` is the file's `Cost` (`CostInBillingCurrency`): actual or amortized, whichever
//! the export is.
//!
//! ```no_run
//! use std::sync::Arc;
//! use carbonledger_azure::{AzureExportSource, AzureOptions};
//! use carbonledger_factors::FactorSet;
//! use carbonledger_usage::UsageSource;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let factors = Arc::new(FactorSet::embedded("default")?);
//! let mut source =
//!     AzureExportSource::open("exports/costs".as_ref(), factors, AzureOptions::default())?;
//! let totals = source.read(&mut |batch| {
//!     println!("{} rows", batch.height());
//!     Ok(())
//! })?;
//! println!("{} input rows", totals.rows);
//! # Ok(())
//! # }
//! ```

mod classify;
pub mod columns;
mod info;
pub mod layout;
mod line;
mod lookup;
mod reader;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::{InputTotals, SourceError, UsageSource};
use polars::prelude::DataFrame;

pub use classify::{vm_size_of_meter, vm_size_of_service_type};
pub use columns::{Field, looks_like_cost_details};
pub use info::{AdditionalInfo, parse_object};
pub use layout::{DataFile, Entry, FileFormat, Manifest, choose, parse_manifest};
pub use line::{AzureLine, AzureOptions, DAY_US, LineConverter, PROVIDER};
pub use lookup::{Lookups, PricingUnit, Region};
pub use reader::{BATCH_ROWS, parse_date, parse_number};

/// An Azure cost-details file or export folder, ready to be read.
pub struct AzureExportSource {
    path: PathBuf,
    files: Vec<DataFile>,
    converter: LineConverter,
}

impl AzureExportSource {
    /// Finds the files under `path` (see [`layout`]).
    pub fn open(
        path: &Path,
        factors: Arc<FactorSet>,
        options: AzureOptions,
    ) -> Result<AzureExportSource, SourceError> {
        Ok(AzureExportSource {
            path: path.to_path_buf(),
            files: layout::discover(path)?,
            converter: LineConverter::new(factors, options),
        })
    }

    /// The files that [`UsageSource::read`] reads, in order.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }
}

/// Reads one local file with `converter` (for sources that fetch files themselves, such as
/// the Blob source, which names the blob in `file.shown`).
pub fn read_file(
    file: &DataFile,
    converter: &mut LineConverter,
    sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
) -> Result<InputTotals, SourceError> {
    reader::read_file(file, converter, sink)
}

impl UsageSource for AzureExportSource {
    fn describe(&self) -> String {
        match self.files.as_slice() {
            [one] if one.path == self.path => format!(
                "Azure cost details {} ({})",
                self.path.display(),
                one.format.label()
            ),
            files => format!(
                "Azure cost-details export folder {} ({} file{})",
                self.path.display(),
                files.len(),
                if files.len() == 1 { "" } else { "s" }
            ),
        }
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

    fn summary(&self) -> Vec<String> {
        self.converter.summary()
    }
}

/// Whether `path` (a file) is an Azure cost-details export: its CSV header or Parquet schema
/// names the meter category, the meter name, the unit of measure and a cost.
pub fn is_export_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = FileFormat::from_name(&name).unwrap_or(FileFormat::Csv);
    let names = match format {
        FileFormat::Parquet => {
            let Ok(file) = File::open(path) else {
                return false;
            };
            use polars::prelude::{ParquetReader, SerReader};
            match ParquetReader::new(file).schema() {
                Ok(schema) => schema.iter_names().map(|n| n.to_string()).collect(),
                Err(_) => return false,
            }
        }
        _ => {
            let Ok(file) = File::open(path) else {
                return false;
            };
            let input: Box<dyn Read> = if format == FileFormat::GzipCsv {
                Box::new(flate2::read::MultiGzDecoder::new(file))
            } else {
                Box::new(file)
            };
            let mut first = String::new();
            if BufReader::new(input.take(1 << 20))
                .read_line(&mut first)
                .is_err()
            {
                return false;
            }
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(first.trim_end().as_bytes());
            match csv.records().next() {
                Some(Ok(r)) => r.iter().map(str::to_owned).collect::<Vec<_>>(),
                _ => return false,
            }
        }
    };
    looks_like_cost_details(&names)
}
