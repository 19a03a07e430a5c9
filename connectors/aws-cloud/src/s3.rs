//! CUR and Data Exports read straight from S3 (`s3://bucket/prefix/report`).
//!
//! 1. **List** the prefix (`ListObjectsV2`, every page). A prefix that is one object's key is
//!    that file; otherwise the objects under `prefix/` are the folder.
//! 2. **Choose** what to read with the same rules as for a local folder
//!    (`carbonledger_aws::layout`): billing periods, the period's manifest, the latest
//!    assembly; each manifest is fetched when the choice needs it. A manifest that names a
//!    part that is not in the bucket is an error naming the manifest and the key.
//! 3. **Read** the chosen parts one at a time: the object's body is streamed (in the chunks
//!    the connection delivers) through gzip decompression into a temporary file, which the
//!    CUR reader then scans in batches and deletes. Memory holds one chunk and one batch,
//!    never a part; the disk holds one decompressed part at a time. A body that ends before
//!    its `Content-Length` is retried, then reported as truncated.
//!
//! Rows name their part by its `s3://` URI in `source`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use carbonledger_aws::layout::{self, Entry, FileFormat, Listing, Picked};
use carbonledger_aws::{CurFileReader, CurOptions, LayoutKind};
use carbonledger_factors::FactorSet;
use carbonledger_focus::{FocusFileReader, FocusOptions};
use carbonledger_usage::{CostBasis, InputTotals, Location, SourceError, UsageSource};
use polars::prelude::DataFrame;
use tokio::runtime::Runtime;

use crate::sdk::{self, Connection, Failure, RequestCounter};

/// `s3://bucket/prefix`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// The key prefix, without a leading `/`; may be empty.
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix]`; `None` when `text` is not an `s3://` URL.
    pub fn parse(text: &str) -> Option<Result<S3Url, SourceError>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(SourceError::invalid(
                Location::file(text),
                "an S3 input is s3://BUCKET/PREFIX; the bucket is missing",
            )));
        }
        Some(Ok(S3Url {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_start_matches('/').to_owned(),
        }))
    }

    fn shown(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// How to read an S3 export.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    pub connection: Connection,
    pub cur: CurOptions,
    /// For FOCUS exports (AWS Data Exports' FOCUS tables).
    pub focus: FocusOptions,
    pub kind: ExportKind,
}

/// What the export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExportKind {
    /// Told from the first part's header: FOCUS columns, else a CUR.
    #[default]
    Detect,
    /// A legacy CUR or a CUR 2.0 Data Export.
    Cur,
    /// A FOCUS Data Export.
    Focus,
}

/// The reader of the export's parts, once its kind is known.
enum Reader {
    Cur(Box<CurFileReader>),
    Focus(Box<FocusFileReader>),
}

/// A CUR or Data Exports prefix in S3, listed and with its files chosen.
pub struct S3ExportSource {
    url: S3Url,
    runtime: Runtime,
    client: Client,
    counter: RequestCounter,
    picked: Picked,
    factors: Arc<FactorSet>,
    options: S3Options,
    /// `None` only for an export without parts (nothing to read).
    reader: Option<Reader>,
    /// The first part, downloaded by `open` to tell the export's kind.
    first: Option<(String, tempfile::NamedTempFile)>,
    /// The listing's keys and modification times.
    fingerprint: String,
    /// Bytes downloaded (compressed, as sent).
    downloaded: u64,
    retried_downloads: u64,
}

/// Whole-part download attempts when a body stream breaks off.
const DOWNLOAD_ATTEMPTS: u32 = 3;

impl S3ExportSource {
    /// Lists `url` and chooses the files to read. Fails on bad credentials, a missing
    /// bucket, an empty prefix, or a manifest naming a part that is not there.
    pub fn open(
        url: S3Url,
        factors: Arc<FactorSet>,
        options: S3Options,
    ) -> Result<S3ExportSource, SourceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::io("starting the S3 client", e))?;
        let counter = RequestCounter::default();
        let config = runtime.block_on(options.connection.load(None));
        let mut s3_config = aws_sdk_s3::config::Builder::from(&config).interceptor(counter.clone());
        if options.connection.endpoint_url.is_some() {
            // S3-compatible endpoints (moto, MinIO) serve buckets by path, not by host name.
            s3_config = s3_config.force_path_style(true);
        }
        let client = Client::from_conf(s3_config.build());
        // Every listed object's key, size, ETag and modification time: a new assembly,
        // manifest or rewritten part changes it.
        let (entries, fingerprint) = runtime.block_on(list(&client, &url))?;
        let listing = S3Listing {
            url: &url,
            client: &client,
            runtime: &runtime,
        };
        let picked = match entries {
            Listed::Object(entry) => {
                let name = entry.key.rsplit('/').next().unwrap_or_default();
                if name.to_ascii_lowercase().ends_with(".zip") {
                    return Err(SourceError::invalid(
                        Location::file(url.shown(&entry.key)),
                        "ZIP-compressed CUR parts are not read; deliver GZIP or Parquet",
                    ));
                }
                Picked {
                    kind: LayoutKind::File,
                    files: vec![layout::PickedFile {
                        format: FileFormat::from_name(name).unwrap_or(FileFormat::Csv),
                        key: entry.key,
                        period: None,
                    }],
                    periods: Vec::new(),
                }
            }
            Listed::Folder(entries) => layout::pick(&url.to_string(), entries, &listing)?,
        };
        let chosen = match options.kind {
            ExportKind::Detect => None,
            kind => Some(reader(kind, &factors, &options)?),
        };
        let mut source = S3ExportSource {
            url,
            runtime,
            client,
            counter,
            picked,
            factors,
            options,
            reader: chosen,
            first: None,
            fingerprint,
            downloaded: 0,
            retried_downloads: 0,
        };
        // What the export holds is told from its first part, downloaded now (and read first
        // by `read`), so that the cost basis is known before any row is written.
        if source.reader.is_none()
            && let Some(file) = source.picked.files.first().cloned()
        {
            let shown = source.url.shown(&file.key);
            tracing::info!("downloading {shown}");
            let temp = source.download(&file.key, file.format, &shown)?;
            let kind = if carbonledger_focus::is_focus_file(temp.path()) {
                ExportKind::Focus
            } else {
                ExportKind::Cur
            };
            tracing::info!("{shown}: a {kind:?} export");
            source.reader = Some(reader(kind, &source.factors, &source.options)?);
            source.first = Some((file.key, temp));
        }
        Ok(source)
    }

    /// The `s3://` URIs of the parts [`UsageSource::read`] reads, in order.
    pub fn files(&self) -> Vec<String> {
        self.picked
            .files
            .iter()
            .map(|f| self.url.shown(&f.key))
            .collect()
    }

    /// A single file, a legacy CUR or a CUR 2.0 delivery.
    pub fn layout_kind(&self) -> LayoutKind {
        self.picked.kind
    }

    /// The billing period folders found.
    pub fn periods(&self) -> &[String] {
        &self.picked.periods
    }
}

impl UsageSource for S3ExportSource {
    fn describe(&self) -> String {
        let files = self.picked.files.len();
        let periods = self.picked.periods.len();
        format!(
            "AWS export in S3 {} ({:?}, {periods} billing period{}, {files} file{})",
            self.url,
            self.picked.kind,
            if periods == 1 { "" } else { "s" },
            if files == 1 { "" } else { "s" }
        )
    }

    fn fingerprint(&self) -> Option<String> {
        Some(format!("{}\n{}", self.url, self.fingerprint))
    }

    fn cost_basis(&self) -> Option<CostBasis> {
        match &self.reader {
            Some(Reader::Focus(focus)) => Some(focus.cost_basis()),
            Some(Reader::Cur(cur)) => Some(cur.measure().basis()),
            // No parts: nothing is read.
            None => Some(self.options.cur.cost.basis()),
        }
    }

    fn read(
        &mut self,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let mut totals = InputTotals::default();
        for file in self.picked.files.clone() {
            let shown = self.url.shown(&file.key);
            let temp = match self.first.take() {
                Some((key, temp)) if key == file.key => temp,
                _ => {
                    tracing::info!("downloading {shown}");
                    self.download(&file.key, file.format, &shown)?
                }
            };
            let format = file.format.decompressed();
            let reader = match self.reader.take() {
                Some(reader) => reader,
                None => {
                    let focus = carbonledger_focus::is_focus_file(temp.path());
                    let kind = if focus {
                        ExportKind::Focus
                    } else {
                        ExportKind::Cur
                    };
                    tracing::info!("{shown}: a {kind:?} export");
                    reader(kind, &self.factors, &self.options)?
                }
            };
            let reader = self.reader.insert(reader);
            let read = match reader {
                Reader::Cur(cur) => cur.read(temp.path(), &shown, format, sink)?,
                Reader::Focus(focus) => {
                    let format = if format.is_parquet() {
                        carbonledger_focus::FileFormat::Parquet
                    } else {
                        carbonledger_focus::FileFormat::Csv
                    };
                    focus.read(temp.path(), &shown, format, sink)?
                }
            };
            totals.add(&read);
        }
        Ok(totals)
    }

    fn summary(&self) -> Vec<String> {
        let mut lines = match &self.reader {
            Some(Reader::Focus(focus)) => focus.summary(),
            _ => Vec::new(),
        };
        lines.push(format!(
            "S3: {} requests, {:.1} MiB downloaded from {}{}",
            self.counter.attempts(),
            self.downloaded as f64 / (1024.0 * 1024.0),
            self.url,
            if self.retried_downloads > 0 {
                format!(", {} broken downloads retried", self.retried_downloads)
            } else {
                String::new()
            }
        ));
        lines
    }
}

/// A reader of `kind` (not `Detect`).
fn reader(
    kind: ExportKind,
    factors: &Arc<FactorSet>,
    options: &S3Options,
) -> Result<Reader, SourceError> {
    Ok(match kind {
        ExportKind::Focus => Reader::Focus(Box::new(FocusFileReader::new(
            Arc::clone(factors),
            options.focus,
        )?)),
        ExportKind::Cur | ExportKind::Detect => Reader::Cur(Box::new(CurFileReader::new(
            Arc::clone(factors),
            options.cur,
        )?)),
    })
}

impl S3ExportSource {
    /// Streams the object into a temporary file, decompressing gzip on the way.
    fn download(
        &mut self,
        key: &str,
        format: FileFormat,
        shown: &str,
    ) -> Result<tempfile::NamedTempFile, SourceError> {
        let suffix = if format.is_parquet() {
            ".parquet"
        } else {
            ".csv"
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let temp = tempfile::Builder::new()
                .prefix("carbonledger-s3-")
                .suffix(suffix)
                .tempfile()
                .map_err(|e| SourceError::io("temporary file for an S3 part", e))?;
            let result = self.runtime.block_on(stream_object(
                &self.client,
                &self.url.bucket,
                key,
                format.is_gzip(),
                temp.as_file(),
                shown,
                self.options.connection.timeout,
            ));
            match result {
                Ok(bytes) => {
                    self.downloaded += bytes;
                    return Ok(temp);
                }
                Err(Download::Broken(message)) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::warn!("{shown}: {message}; downloading it again");
                    self.retried_downloads += 1;
                }
                Err(Download::Broken(message)) => {
                    return Err(SourceError::api(
                        format!("S3 GetObject {shown}"),
                        format!("{message} ({attempt} attempts)"),
                    ));
                }
                Err(Download::Failed(error)) => return Err(error),
            }
        }
    }
}

/// What a listing found.
enum Listed {
    /// The prefix is exactly one object's key.
    Object(Entry),
    /// The objects under `prefix/`.
    Folder(Vec<Entry>),
}

/// Lists `url`; also returns one line per object (key, size, ETag, LastModified in ms) for the
/// source's fingerprint.
async fn list(client: &Client, url: &S3Url) -> Result<(Listed, String), SourceError> {
    let request = format!("S3 ListObjectsV2 {url}");
    let folder_prefix = if url.prefix.is_empty() || url.prefix.ends_with('/') {
        url.prefix.clone()
    } else {
        format!("{}/", url.prefix)
    };
    let mut entries = Vec::new();
    let mut exact = None;
    let mut seen = Vec::new();
    // One listing of the bare prefix finds both the object of that key and the folder.
    let mut pages = client
        .list_objects_v2()
        .bucket(&url.bucket)
        .prefix(&url.prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let (failure, message) = sdk::classify(&e);
            let message = match failure {
                Failure::NotFound => {
                    format!("the bucket `{}` does not exist ({message})", url.bucket)
                }
                _ => message,
            };
            SourceError::api(&request, message)
        })?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            let modified = object
                .last_modified()
                .and_then(|t| SystemTime::try_from(*t).ok())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            let millis = modified
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            // LastModified has whole seconds: the size and ETag tell a rewrite in the same one.
            seen.push(format!(
                "{key}\t{}\t{}\t{millis}",
                object.size().unwrap_or(-1),
                object.e_tag().unwrap_or("")
            ));
            let entry = Entry {
                key: key.to_owned(),
                modified,
            };
            if key == url.prefix {
                exact = Some(entry);
            } else if key.starts_with(&folder_prefix) && !key.ends_with('/') {
                entries.push(entry);
            }
        }
    }
    seen.sort();
    let seen = seen.join("\n");
    if entries.is_empty() {
        return match exact {
            Some(entry) => Ok((Listed::Object(entry), seen)),
            None => Err(SourceError::api(
                request,
                "no objects under this prefix (check the bucket, the prefix and the region)",
            )),
        };
    }
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((Listed::Folder(entries), seen))
}

/// The bucket as a [`Listing`]: manifests are fetched when the choice reads them.
struct S3Listing<'a> {
    url: &'a S3Url,
    client: &'a Client,
    runtime: &'a Runtime,
}

impl Listing for S3Listing<'_> {
    fn shown(&self, key: &str) -> String {
        self.url.shown(key)
    }

    fn read_text(&self, key: &str) -> Result<String, SourceError> {
        let shown = self.url.shown(key);
        let request = format!("S3 GetObject {shown}");
        self.runtime.block_on(async {
            let object = self
                .client
                .get_object()
                .bucket(&self.url.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| sdk::api_error(&request, &e))?;
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|e| SourceError::api(&request, format!("reading the body: {e}")))?;
            String::from_utf8(bytes.to_vec()).map_err(|_| {
                SourceError::invalid(Location::file(&shown), "manifest is not UTF-8 text")
            })
        })
    }
}

/// Why a download stopped.
enum Download {
    /// The body broke off or was shorter than announced: worth another try.
    Broken(String),
    /// Anything else: reported as it is.
    Failed(SourceError),
}

/// Streams `key` into `out` (gunzipped when `gzip`), returning the bytes received.
async fn stream_object(
    client: &Client,
    bucket: &str,
    key: &str,
    gzip: bool,
    out: &File,
    shown: &str,
    stall: Duration,
) -> Result<u64, Download> {
    let request = format!("S3 GetObject {shown}");
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| Download::Failed(sdk::api_error(&request, &e)))?;
    let announced = object.content_length().and_then(|n| u64::try_from(n).ok());
    let mut body = object.body;
    let file = out
        .try_clone()
        .map_err(|e| Download::Failed(SourceError::io(format!("temporary file for {shown}"), e)))?;
    let counted = LineCounter::new(file);
    let mut sink = if gzip {
        Output::Gzip(Box::new(flate2::write::MultiGzDecoder::new(
            counted.clone(),
        )))
    } else {
        Output::Plain(counted.clone())
    };
    let mut received = 0u64;
    loop {
        // A body that stops arriving without the connection closing is a broken download
        // too (retried), not a run that waits forever.
        let next = tokio::time::timeout(stall, body.try_next()).await;
        let chunk = match next {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                return Err(Download::Broken(format!(
                    "the download broke off after {received} bytes: {e}"
                )));
            }
            Err(_) => {
                return Err(Download::Broken(format!(
                    "the download stalled: no data for {} s after {received} bytes",
                    stall.as_secs_f64()
                )));
            }
        };
        received += chunk.len() as u64;
        sink.write_all(&chunk)
            .map_err(|e| gzip_error(shown, &counted, e))?;
    }
    if let Some(announced) = announced
        && received < announced
    {
        return Err(Download::Broken(format!(
            "truncated download: {received} of {announced} bytes arrived"
        )));
    }
    // Only finishing the decoder checks the gzip trailer: a stream cut short fails here.
    sink.finish().map_err(|e| gzip_error(shown, &counted, e))?;
    counted
        .finish()
        .map_err(|e| Download::Failed(SourceError::io(format!("temporary file for {shown}"), e)))?;
    if received == 0 {
        return Err(Download::Failed(SourceError::invalid(
            Location::file(shown),
            "empty file",
        )));
    }
    Ok(received)
}

/// Where a body goes: straight to the file, or through gzip decompression.
enum Output {
    Plain(LineCounter),
    Gzip(Box<flate2::write::MultiGzDecoder<LineCounter>>),
}

impl Output {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Output::Plain(out) => out.write_all(bytes),
            Output::Gzip(out) => out.write_all(bytes),
        }
    }

    /// Ends the stream; for gzip, fails unless the last member ended with its trailer.
    fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Output::Plain(out) => out.flush(),
            Output::Gzip(out) => {
                out.try_finish()?;
                out.flush()
            }
        }
    }
}

fn gzip_error(shown: &str, counted: &LineCounter, e: std::io::Error) -> Download {
    let lines = counted.lines();
    Download::Failed(SourceError::invalid(
        Location::file(shown).at_line(lines + 1),
        format!(
            "gzip data is broken or truncated: decompression stopped after {lines} complete \
             lines ({e})"
        ),
    ))
}

/// A writer that counts the newlines passing through it, shared between the decoder that
/// owns it and the code that reports where decompression stopped.
#[derive(Clone)]
struct LineCounter {
    inner: Arc<std::sync::Mutex<(BufWriter<File>, u64)>>,
}

impl LineCounter {
    fn new(file: File) -> LineCounter {
        LineCounter {
            inner: Arc::new(std::sync::Mutex::new((
                BufWriter::with_capacity(256 * 1024, file),
                0,
            ))),
        }
    }

    fn lines(&self) -> u64 {
        self.inner.lock().map(|g| g.1).unwrap_or(0)
    }

    fn finish(&self) -> std::io::Result<()> {
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| std::io::Error::other("writer poisoned"))?;
        guard.0.flush()
    }
}

impl Write for LineCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| std::io::Error::other("writer poisoned"))?;
        let n = guard.0.write(buf)?;
        guard.1 += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| std::io::Error::other("writer poisoned"))?;
        guard.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_split_into_bucket_and_prefix() {
        let url = S3Url::parse("s3://billing/cur/report")
            .expect("s3")
            .expect("valid");
        assert_eq!(
            (url.bucket.as_str(), url.prefix.as_str()),
            ("billing", "cur/report")
        );
        let url = S3Url::parse("s3://billing").expect("s3").expect("valid");
        assert_eq!(url.prefix, "");
        assert!(S3Url::parse("s3:///x").expect("s3").is_err());
        assert!(S3Url::parse("/local/path").is_none());
    }
}
