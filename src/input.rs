//! Opening the user's input: finding its provider from the headers and its connector.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonledger_aws::{CurOptions, CurSource};
use carbonledger_aws_cloud::{Connection, ExportKind, S3ExportSource, S3Options, S3Url};
use carbonledger_azure::{AzureExportSource, AzureOptions};
use carbonledger_azure_cloud::{BlobAuth, BlobExportSource, BlobOptions, BlobUrl};
use carbonledger_factors::FactorSet;
use carbonledger_focus::{FocusOptions, FocusSource};
use carbonledger_gcp::{GcpExportSource, GcpOptions};
use carbonledger_usage::{Location, SourceError, UsageSource};
use flate2::read::MultiGzDecoder;
use polars::prelude::*;

use crate::Error;

/// The billing formats carbonledger knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    Aws,
    Gcp,
    Azure,
    Focus,
}

/// Opens `path` with the connector of `provider`, detecting the provider from the first data
/// file's header when not given. `options` are the AWS connector's (cost measure, CCF quirks),
/// `gcp` the GCP connector's, `focus` the FOCUS connector's, `azure` the Azure connector's.
pub fn open(
    path: &Path,
    provider: Option<Provider>,
    factors: Arc<FactorSet>,
    options: CurOptions,
    gcp: GcpOptions,
    focus: FocusOptions,
    azure: AzureOptions,
) -> Result<Box<dyn UsageSource>, Error> {
    let provider = match provider {
        Some(p) => p,
        None => detect(path)?,
    };
    match provider {
        Provider::Aws => Ok(Box::new(CurSource::open(path, factors, options)?)),
        Provider::Gcp => Ok(Box::new(GcpExportSource::open(path, factors, gcp)?)),
        Provider::Focus => Ok(Box::new(FocusSource::open(path, factors, focus)?)),
        Provider::Azure => Ok(Box::new(AzureExportSource::open(path, factors, azure)?)),
    }
}

/// Opens an `s3://bucket/prefix` export: a legacy CUR, a CUR 2.0 or a FOCUS Data Export (told
/// from the first part's header unless `provider` says `aws` or `focus`).
pub fn open_s3(
    url: &str,
    provider: Option<Provider>,
    factors: Arc<FactorSet>,
    options: CurOptions,
    focus: FocusOptions,
    connection: &Connection,
) -> Result<Box<dyn UsageSource>, Error> {
    let kind = match provider {
        None => ExportKind::Detect,
        Some(Provider::Aws) => ExportKind::Cur,
        Some(Provider::Focus) => ExportKind::Focus,
        Some(other) => {
            return Err(Error::Usage(format!(
                "--provider {other:?} cannot read from S3; S3 inputs are AWS CUR, Data Exports \
                 or FOCUS deliveries"
            )));
        }
    };
    let url = S3Url::parse(url).unwrap_or_else(|| {
        Err(SourceError::invalid(
            Location::file(url),
            "not an s3:// URL",
        ))
    })?;
    let options = S3Options {
        connection: connection.clone(),
        cur: options,
        focus,
        kind,
    };
    Ok(Box::new(S3ExportSource::open(url, factors, options)?))
}

/// Whether `text` is an Azure Blob URL (`azblob://…` or `https://….blob.core.windows.net/…`).
pub fn is_blob_url(text: &str) -> bool {
    BlobUrl::parse(text).is_some()
}

/// Opens an Azure cost-details export in Blob storage; `endpoint` replaces Azure's (Azurite).
/// Credentials come from the environment ([`BlobAuth::from_env`]).
pub fn open_blob(
    url: &str,
    provider: Option<Provider>,
    factors: Arc<FactorSet>,
    azure: AzureOptions,
    endpoint: Option<String>,
) -> Result<Box<dyn UsageSource>, Error> {
    if let Some(other) = provider.filter(|p| *p != Provider::Azure) {
        return Err(Error::Usage(format!(
            "--provider {other:?} cannot read from Azure Blob storage in this version; Blob \
             inputs are Azure cost-details exports"
        )));
    }
    let url = BlobUrl::parse(url).unwrap_or_else(|| {
        Err(SourceError::invalid(
            Location::file(url),
            "not an Azure Blob URL",
        ))
    })?;
    let options = BlobOptions {
        endpoint,
        auth: BlobAuth::from_env()?,
        azure,
        max_retries: 3,
        timeout: carbonledger_azure_cloud::BLOB_TIMEOUT,
    };
    Ok(Box::new(BlobExportSource::open(url, factors, options)?))
}

/// Detects the provider from the header of the first data file under `path`.
pub fn detect(path: &Path) -> Result<Provider, Error> {
    let file = first_data_file(path)?.ok_or_else(|| {
        SourceError::invalid(
            Location::file(path.display().to_string()),
            "no billing files found",
        )
    })?;
    let header = read_header(&file)?;
    // FOCUS first: a FOCUS export with provider columns (`x_UsageType`) is still FOCUS, and
    // no native format (CUR, GCP export, Azure's cost details) has FOCUS's column names.
    if carbonledger_focus::looks_like_focus(&header) || carbonledger_focus::is_focus_file(&file) {
        return Ok(Provider::Focus);
    }
    if carbonledger_aws::looks_like_cur(&header) {
        return Ok(Provider::Aws);
    }
    if carbonledger_gcp::looks_like_export(&header) || carbonledger_gcp::is_export_file(&file) {
        return Ok(Provider::Gcp);
    }
    // Azure cost details name their meters (`MeterCategory`, `MeterName`, `UnitOfMeasure`);
    // FOCUS files (`BilledCost`, `ChargePeriodStart`) do not, so they are not claimed here.
    if carbonledger_azure::looks_like_cost_details(&header)
        || carbonledger_azure::is_export_file(&file)
    {
        return Ok(Provider::Azure);
    }
    let separator = match header.as_slice() {
        [only] => [';', '\t', '|'].into_iter().find(|c| only.contains(*c)),
        _ => None,
    };
    let message = match separator {
        Some(c) => format!(
            "not a comma-separated file: the header is one column whose names are separated by \
             `{}`; billing files are read as CSV with `,` (export again with commas)",
            c.escape_default()
        ),
        None => format!(
            "not a billing file this version reads: the header ({} columns, starting `{}`) is \
             not an AWS CUR header, a GCP billing export's, an Azure cost-details export's nor \
             a FOCUS header",
            header.len(),
            header.iter().take(3).cloned().collect::<Vec<_>>().join(",")
        ),
    };
    Err(SourceError::invalid(
        Location::file(file.display().to_string()).at_line(1),
        message,
    )
    .into())
}

fn is_data_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    // AWS report manifests (`…-Manifest.json`) are not data.
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    [".csv", ".parquet", ".json", ".jsonl", ".ndjson"]
        .iter()
        .any(|ext| name.ends_with(ext))
        && !name.ends_with("manifest.json")
}

fn first_data_file(path: &Path) -> Result<Option<PathBuf>, Error> {
    let io = |e| SourceError::io(path.display(), e);
    if path.is_file() {
        return Ok(Some(path.to_path_buf()));
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in &entries {
        if entry.is_file() && is_data_file(entry) {
            return Ok(Some(entry.clone()));
        }
    }
    for entry in entries.iter().filter(|e| e.is_dir()) {
        if let Some(found) = first_data_file(entry)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The column names of a CSV (optionally gzip) or Parquet file.
pub fn read_header(file: &Path) -> Result<Vec<String>, Error> {
    let name = file.display().to_string();
    if name.to_lowercase().ends_with(".parquet") {
        let handle = File::open(file).map_err(|e| SourceError::io(&name, e))?;
        let schema = ParquetReader::new(handle)
            .schema()
            .map_err(|e| SourceError::polars(format!("{name}: reading the Parquet schema"), e))?;
        return Ok(schema.iter_names().map(|n| n.to_string()).collect());
    }
    let handle = File::open(file).map_err(|e| SourceError::io(&name, e))?;
    let reader: Box<dyn Read> = if name.to_lowercase().ends_with(".gz") {
        Box::new(MultiGzDecoder::new(handle))
    } else {
        Box::new(handle)
    };
    let gzip = name.to_lowercase().ends_with(".gz");
    let mut bytes = Vec::new();
    BufReader::new(reader)
        .read_until(b'\n', &mut bytes)
        .map_err(|e| match gzip {
            // The decoder's errors: not gzip at all, or a stream cut or corrupt in line 1.
            true => SourceError::invalid(
                Location::file(&name).at_line(1),
                format!("gzip data is broken or truncated before the header ends ({e})"),
            ),
            false => SourceError::io(&name, e),
        })?;
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(SourceError::invalid(
            Location::file(name).at_line(1),
            "the file is UTF-16 (it starts with a UTF-16 byte-order mark); billing files must \
             be UTF-8: export or save it again as UTF-8 CSV",
        )
        .into());
    }
    let line = String::from_utf8(bytes).map_err(|e| {
        SourceError::invalid(
            Location::file(&name).at_line(1),
            format!(
                "the header is not UTF-8 (invalid byte at offset {}); billing files must be UTF-8",
                e.utf8_error().valid_up_to()
            ),
        )
    })?;
    let line = line.trim_start_matches('\u{feff}').trim_end();
    if line.is_empty() {
        return Err(SourceError::invalid(Location::file(name).at_line(1), "empty file").into());
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let record = csv.records().next().transpose().map_err(|e| {
        SourceError::invalid(
            Location::file(&name).at_line(1),
            format!("unreadable header: {e}"),
        )
    })?;
    Ok(record
        .map(|r| r.iter().map(str::to_owned).collect())
        .unwrap_or_default())
}
