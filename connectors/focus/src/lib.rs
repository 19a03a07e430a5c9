//! carbonledger's FOCUS connector: reads FinOps FOCUS 1.0, 1.1 and 1.2 cost and usage files
//! (CSV, gzip CSV or Parquet; a single file or a folder of parts) from any provider and emits
//! usage batches in the shared usage schema.
//!
//! Physical usage comes from `ConsumedQuantity` in `ConsumedUnit`, and only from `Usage` rows
//! that are not corrections and not the unused part of a commitment (see `convert`). AWS rows
//! with AWS's `x_UsageType` (and `x_Operation`, `x_ServiceCode`) go through the AWS
//! connector's line converter, Google Cloud rows with a SKU description through the GCP
//! connector's, the other rows and providers (Azure for now) through a generic classifier
//! (`classify`); quantities are in the schema's units: vCPU-hours, GPU-hours, memory
//! GB-hours, storage TB-hours (10^12 byte-hours) and network GB (10^9 bytes).
//!
//! The cost is one FOCUS cost column, [`FocusCost`] (by default `EffectiveCost`), for the rows
//! and for the input totals alike. The version of each file is told from its columns
//! ([`FocusVersion::detect`]) and shown by [`UsageSource::describe`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use carbonledger_factors::FactorSet;
//! use carbonledger_focus::{FocusOptions, FocusSource};
//! use carbonledger_usage::UsageSource;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let factors = Arc::new(FactorSet::embedded("default")?);
//! let mut source = FocusSource::open("focus-export/".as_ref(), factors, FocusOptions::default())?;
//! eprintln!("{}", source.describe());
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
mod convert;
mod read;
mod values;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::{CostBasis, InputTotals, SourceError, UsageSource};
use polars::prelude::DataFrame;

pub use columns::{FocusVersion, looks_like_focus};
pub use convert::{NO_CURRENCY, provider_id};
pub use read::FileFormat;

use columns::Col;

/// Which FOCUS cost column becomes the rows' `cost` (and the input cost totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FocusCost {
    /// `EffectiveCost`: the amortized cost, commitment purchases spread over the usage they
    /// cover (a purchase row of future charges carries 0, the usage rows their share, the
    /// unused part its own `Unused` rows). What FinOps allocates with, and the measure in which
    /// no commitment is counted twice.
    #[default]
    Effective,
    /// `BilledCost`: the invoiced cost (purchases when bought, covered usage at 0).
    Billed,
    /// `ListCost`: at public list prices.
    List,
    /// `ContractedCost`: at negotiated prices, before commitment discounts.
    Contracted,
}

impl FocusCost {
    /// `effective`, `billed`, `list`, `contracted`.
    pub fn as_str(self) -> &'static str {
        match self {
            FocusCost::Effective => "effective",
            FocusCost::Billed => "billed",
            FocusCost::List => "list",
            FocusCost::Contracted => "contracted",
        }
    }

    /// The FOCUS column it reads (the same four the ledger's FOCUS output writes).
    pub fn focus_column(self) -> carbonledger_usage::FocusCost {
        use carbonledger_usage::FocusCost as Column;
        match self {
            FocusCost::Effective => Column::EffectiveCost,
            FocusCost::Billed => Column::BilledCost,
            FocusCost::List => Column::ListCost,
            FocusCost::Contracted => Column::ContractedCost,
        }
    }

    /// The inverse of [`FocusCost::as_str`].
    pub fn parse(s: &str) -> Option<FocusCost> {
        [
            FocusCost::Effective,
            FocusCost::Billed,
            FocusCost::List,
            FocusCost::Contracted,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    fn column(self) -> Col {
        match self {
            FocusCost::Effective => Col::EffectiveCost,
            FocusCost::Billed => Col::BilledCost,
            FocusCost::List => Col::ListCost,
            FocusCost::Contracted => Col::ContractedCost,
        }
    }

    /// The FOCUS column name (`EffectiveCost`).
    pub fn column_name(self) -> &'static str {
        self.column().name()
    }
}

impl fmt::Display for FocusCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to read FOCUS files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FocusOptions {
    /// The cost column carried into the rows' `cost`.
    pub cost: FocusCost,
    /// Cloud Carbon Footprint's arithmetic in the AWS and GCP converters (`--method ccf`).
    pub ccf_quirks: bool,
    /// Accept files that carry only part of FOCUS's mandatory columns, as the worked examples
    /// of the specification do: only the charge period, `ChargeCategory` and the cost column
    /// are then required; a missing `BillingCurrency` gives currency `XXX` (ISO 4217's "no
    /// currency") and a missing `ProviderName` provider `unknown`. Off by default (and in the
    /// CLI): a real export must have every mandatory column the connector reads.
    pub partial: bool,
}

/// A FOCUS file or folder of files, ready to be read.
pub struct FocusSource {
    path: PathBuf,
    files: Vec<read::DataFile>,
    converter: convert::Converter,
    required: Vec<Col>,
}

impl FocusSource {
    /// Finds the files under `path` and reads their headers. Fails when the path cannot be
    /// read, a folder holds no FOCUS file, or a header is unreadable or names a column twice.
    /// Missing columns are reported by [`UsageSource::read`], per file.
    pub fn open(
        path: &Path,
        factors: Arc<FactorSet>,
        options: FocusOptions,
    ) -> Result<FocusSource, SourceError> {
        let files = read::discover(path)?;
        Ok(FocusSource {
            path: path.to_path_buf(),
            files,
            converter: convert::Converter::new(factors, options.cost, options.ccf_quirks)?,
            required: required_columns(options),
        })
    }

    /// The files that [`UsageSource::read`] reads, in order.
    pub fn files(&self) -> Vec<&Path> {
        self.files.iter().map(|f| f.path.as_path()).collect()
    }

    /// The FOCUS versions of the files, told from their columns.
    pub fn versions(&self) -> BTreeSet<FocusVersion> {
        self.files.iter().map(|f| f.columns.version).collect()
    }
}

/// The columns a file must have for `options`.
fn required_columns(options: FocusOptions) -> Vec<Col> {
    let mut required = vec![
        Col::ChargePeriodStart,
        Col::ChargePeriodEnd,
        Col::ChargeCategory,
        options.cost.column(),
    ];
    if !options.partial {
        required.extend([
            Col::BillingCurrency,
            Col::ProviderName,
            Col::ServiceName,
            Col::BillingAccountId,
        ]);
    }
    required
}

/// Reads FOCUS files one at a time for a caller that fetched them itself (an object in S3
/// downloaded to a temporary file), naming each as the caller says in rows and errors.
pub struct FocusFileReader {
    converter: convert::Converter,
    required: Vec<Col>,
    /// What was read: version, format and name of each file.
    read: Vec<(FocusVersion, FileFormat, String)>,
}

impl FocusFileReader {
    pub fn new(factors: Arc<FactorSet>, options: FocusOptions) -> Result<Self, SourceError> {
        Ok(FocusFileReader {
            converter: convert::Converter::new(factors, options.cost, options.ccf_quirks)?,
            required: required_columns(options),
            read: Vec::new(),
        })
    }

    /// Reads the local file `path` (in `format`), named `shown`.
    pub fn read(
        &mut self,
        path: &Path,
        shown: &str,
        format: FileFormat,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let header = read::header_of(path, shown, format)?;
        let columns = columns::ColumnMap::new(&header, shown)?;
        let file = read::DataFile {
            path: path.to_path_buf(),
            shown: shown.to_owned(),
            format,
            columns,
        };
        let totals = read::read_file(&file, &mut self.converter, &self.required, sink)?;
        self.read
            .push((file.columns.version, format, shown.to_owned()));
        Ok(totals)
    }

    /// The cost the rows carry.
    pub fn cost_basis(&self) -> CostBasis {
        let cost = self.converter.cost;
        CostBasis::new(cost.focus_column().column(), Some(cost.focus_column()))
    }

    /// One line per file read, then how rows were classified.
    pub fn summary(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .read
            .iter()
            .map(|(version, format, shown)| {
                format!("FOCUS {version} ({}): {shown}", format.label())
            })
            .collect();
        for ((provider, path), rows) in &self.converter.paths {
            lines.push(format!(
                "FOCUS rows of provider `{provider}`: {rows} by {path}"
            ));
        }
        lines.extend(self.converter.notes());
        lines
    }
}

impl UsageSource for FocusSource {
    fn describe(&self) -> String {
        let versions: Vec<&str> = self.versions().iter().map(|v| v.as_str()).collect();
        let cost = self.converter.cost;
        let version = format!("FOCUS {}", versions.join(" and "));
        match self.files.as_slice() {
            [one] if one.path == self.path => format!(
                "{version} file {} ({}, cost {cost}: {})",
                self.path.display(),
                one.format.label(),
                cost.column_name()
            ),
            files => {
                let n = files.len();
                let plural = if n == 1 { "" } else { "s" };
                format!(
                    "{version} folder {} ({n} file{plural}; cost {cost}: {})",
                    self.path.display(),
                    cost.column_name()
                )
            }
        }
    }

    fn cost_basis(&self) -> Option<CostBasis> {
        let cost = self.converter.cost;
        Some(CostBasis::new(
            cost.focus_column().column(),
            Some(cost.focus_column()),
        ))
    }

    fn read(
        &mut self,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let mut totals = InputTotals::default();
        for file in &self.files {
            totals.add(&read::read_file(
                file,
                &mut self.converter,
                &self.required,
                sink,
            )?);
        }
        Ok(totals)
    }

    fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for file in &self.files {
            lines.push(format!(
                "FOCUS {} ({}): {}",
                file.columns.version,
                file.format.label(),
                file.shown
            ));
        }
        for ((provider, path), rows) in &self.converter.paths {
            lines.push(format!(
                "FOCUS rows of provider `{provider}`: {rows} by {path}"
            ));
        }
        lines.extend(self.converter.notes());
        lines
    }
}

/// Whether the file at `path` has a FOCUS header (CSV, gzip CSV or Parquet; by name, else by
/// content). Unreadable files are not FOCUS.
pub fn is_focus_file(path: &Path) -> bool {
    let shown = path.display().to_string();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let format = match FileFormat::from_name(&name) {
        Some(format) => format,
        None => match read::sniff(path) {
            Ok(format) => format,
            Err(_) => return false,
        },
    };
    read::header_of(path, &shown, format).is_ok_and(|h| looks_like_focus(&h))
}
