//! Azure cost-details exports read straight from Azure Blob storage, with the Azure SDK for
//! Rust (`azure_storage_blob` 1.x on `azure_core`, credentials from `azure_identity`). The only
//! carbonledger crate with the Azure SDK; parsing, classification and the choice of files are
//! `carbonledger-azure`'s, so a Blob export gives the rows its local copy gives.
//!
//! 1. **List** the container under the prefix (`List Blobs`, every page). A prefix that is
//!    one blob's name is that file; otherwise the blobs under `prefix/` are the export folder.
//! 2. **Choose** with the local folder's rules (`carbonledger_azure::layout::choose`): the
//!    latest run of each billing period by its `manifest.json` (fetched for the choice), else
//!    by the newest blob's `Last-Modified`.
//! 3. **Read** the chosen blobs one at a time: the body is streamed, in the chunks the
//!    connection delivers, into a temporary file that the file reader scans (gzip
//!    decompressed on the fly) and that is deleted after it. Memory holds one chunk and one
//!    batch, never a blob. A body that breaks off or is shorter than its listed size is
//!    downloaded again, then reported.
//!
//! Inputs: `azblob://ACCOUNT/CONTAINER/PREFIX` or
//! `https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX` (see [`BlobUrl`]). With an
//! endpoint override (Azurite) the account is addressed path-style:
//! `ENDPOINT/ACCOUNT/CONTAINER`. Credentials ([`BlobAuth::from_env`]): a SAS token, an
//! account key (a read-only account SAS is signed with HMAC-SHA256, as Azurite needs: the 1.x
//! blob crate has no shared-key auth), else Entra ID tokens from [`CredentialChain`]. No
//! secret is ever printed: errors have `sig=` values masked.
//!
//! Rows name their blob as `azblob://ACCOUNT/CONTAINER/NAME` in `source`.

pub mod cost_management;

use std::fmt;
use std::io::Write;
use std::num::NonZero;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{
    ClientOptions, Context, ExponentialRetryOptions, Request, RetryOptions, Url,
};
use azure_core::time::Duration;
use azure_storage_blob::models::{BlobClientDownloadOptions, BlobContainerClientListBlobsOptions};
use azure_storage_blob::{BlobContainerClient, BlobContainerClientOptions};
use carbonledger_azure::{
    AzureOptions, DataFile, Entry, FileFormat, LineConverter, choose, read_file,
};
use carbonledger_factors::FactorSet;
use carbonledger_usage::{InputTotals, Location, SourceError, UsageSource};
use futures::{StreamExt, TryStreamExt};
use polars::prelude::DataFrame;
use tokio::runtime::Runtime;

/// The environment variable naming an endpoint that replaces Azure's own (Azurite).
pub const ENDPOINT_ENV: &str = "CARBONLEDGER_AZURE_ENDPOINT_URL";
/// The environment variable holding a SAS token (without the leading `?`).
pub const SAS_ENV: &str = "CARBONLEDGER_AZURE_SAS";
/// The environment variables holding a storage account key, in order.
pub const KEY_ENVS: [&str; 2] = ["CARBONLEDGER_AZURE_STORAGE_KEY", "AZURE_STORAGE_KEY"];
/// The SAS service version this crate signs.
const SAS_VERSION: &str = "2022-11-02";
/// Whole-blob download attempts when a body breaks off.
const DOWNLOAD_ATTEMPTS: u32 = 3;

/// A container and prefix in a storage account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobUrl {
    pub account: String,
    pub container: String,
    /// The blob name or folder prefix (no leading `/`; may be empty).
    pub prefix: String,
}

impl BlobUrl {
    /// Parses `azblob://ACCOUNT/CONTAINER/PREFIX` or
    /// `https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX`; `None` for other text.
    pub fn parse(text: &str) -> Option<Result<BlobUrl, SourceError>> {
        let bad = |why: &str| Some(Err(SourceError::invalid(Location::file(text), why)));
        let (account, rest) = if let Some(rest) = text.strip_prefix("azblob://") {
            match rest.split_once('/') {
                Some((a, r)) => (a.to_owned(), r),
                None => (rest.to_owned(), ""),
            }
        } else if let Some(rest) = text.strip_prefix("https://") {
            let (host, r) = rest.split_once('/').unwrap_or((rest, ""));
            let account = host.strip_suffix(".blob.core.windows.net")?;
            (account.to_owned(), r)
        } else {
            return None;
        };
        if account.is_empty() {
            return bad("no storage account in the Blob URL (azblob://ACCOUNT/CONTAINER/PREFIX)");
        }
        let (container, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if container.is_empty() {
            return bad("no container in the Blob URL (azblob://ACCOUNT/CONTAINER/PREFIX)");
        }
        Some(Ok(BlobUrl {
            account,
            container: container.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        }))
    }

    /// How a blob is named in messages and rows.
    pub fn shown(&self, name: &str) -> String {
        format!("azblob://{}/{}/{name}", self.account, self.container)
    }

    /// The container's URL: `https://ACCOUNT.blob.core.windows.net/CONTAINER`, or
    /// `ENDPOINT/ACCOUNT/CONTAINER` with an endpoint override.
    pub fn container_url(&self, endpoint: Option<&str>) -> Result<Url, SourceError> {
        let text = match endpoint {
            Some(e) => format!(
                "{}/{}/{}",
                e.trim_end_matches('/'),
                self.account,
                self.container
            ),
            None => format!(
                "https://{}.blob.core.windows.net/{}",
                self.account, self.container
            ),
        };
        Url::parse(&text).map_err(|e| {
            SourceError::invalid(Location::file(text.clone()), format!("not a URL: {e}"))
        })
    }
}

impl fmt::Display for BlobUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.shown(&self.prefix))
    }
}

/// How requests are authorised.
#[derive(Clone)]
pub enum BlobAuth {
    /// A SAS token appended to every request's query.
    Sas(Secret),
    /// A storage account key: a read-and-list account SAS is signed with it.
    AccountKey(Secret),
    /// Entra ID tokens (https endpoints only).
    Token(Arc<dyn TokenCredential>),
    /// No authorisation (a public container).
    Anonymous,
}

impl fmt::Debug for BlobAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl BlobAuth {
    /// `CARBONLEDGER_AZURE_SAS`, else an account key (`CARBONLEDGER_AZURE_STORAGE_KEY`,
    /// `AZURE_STORAGE_KEY`), else the Entra ID [`CredentialChain`].
    pub fn from_env() -> Result<BlobAuth, SourceError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(sas) = var(SAS_ENV) {
            return Ok(BlobAuth::Sas(Secret::new(
                sas.trim_start_matches('?').to_owned(),
            )));
        }
        if let Some(key) = KEY_ENVS.iter().find_map(|n| var(n)) {
            return Ok(BlobAuth::AccountKey(Secret::new(key)));
        }
        Ok(BlobAuth::Token(Arc::new(CredentialChain::from_env()?)))
    }

    /// What kind of credential this is (never the secret).
    pub fn describe(&self) -> &'static str {
        match self {
            BlobAuth::Sas(_) => "SAS token",
            BlobAuth::AccountKey(_) => "account key (signed account SAS)",
            BlobAuth::Token(_) => "Entra ID token",
            BlobAuth::Anonymous => "anonymous",
        }
    }
}

/// Signs an account SAS for the Blob service with a storage account key (HMAC-SHA256 of the
/// string-to-sign of SAS version 2022-11-02): `permissions` such as `rl` (read, list), valid
/// from five minutes ago for two hours, http and https. Returns the query string.
pub fn account_sas(account: &str, key: &Secret, permissions: &str) -> Result<String, SourceError> {
    let now = chrono::Utc::now();
    let time = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let start = time(now - chrono::Duration::minutes(5));
    let expiry = time(now + chrono::Duration::hours(2));
    let (services, types, protocol) = ("b", "sco", "https,http");
    let to_sign = format!(
        "{account}\n{permissions}\n{services}\n{types}\n{start}\n{expiry}\n\n{protocol}\n\
         {SAS_VERSION}\n\n"
    );
    let signature = azure_core::hmac::hmac_sha256(&to_sign, key).map_err(|_| {
        SourceError::api(
            format!("signing an account SAS for {account}"),
            "the account key is not valid base64",
        )
    })?;
    let mut url = Url::parse("http://sas.invalid/").expect("static URL");
    url.query_pairs_mut()
        .append_pair("sv", SAS_VERSION)
        .append_pair("ss", services)
        .append_pair("srt", types)
        .append_pair("sp", permissions)
        .append_pair("st", &start)
        .append_pair("se", &expiry)
        .append_pair("spr", protocol)
        .append_pair("sig", &signature);
    Ok(url.query().unwrap_or_default().to_owned())
}

/// Entra ID credentials tried in order, the first that gives a token wins (the 1.x
/// `azure_identity` has no `DefaultAzureCredential`): workload identity (when
/// `AZURE_FEDERATED_TOKEN_FILE` is set), a service principal secret (`AZURE_TENANT_ID`,
/// `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`), managed identity, then the developer tools
/// (Azure CLI, Azure Developer CLI).
#[derive(Debug)]
pub struct CredentialChain {
    sources: Vec<(&'static str, Arc<dyn TokenCredential>)>,
}

impl CredentialChain {
    /// The credentials this environment can build; one that cannot be built (no managed
    /// identity endpoint, no CLI) is left out. Fails only when none can.
    pub fn from_env() -> Result<CredentialChain, SourceError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut sources: Vec<(&'static str, Arc<dyn TokenCredential>)> = Vec::new();
        let mut skipped: Vec<String> = Vec::new();
        let mut add =
            |name: &'static str, made: azure_core::Result<Arc<dyn TokenCredential>>| match made {
                Ok(c) => sources.push((name, c)),
                Err(e) => skipped.push(format!("{name}: {}", mask(&e.to_string()))),
            };
        if var("AZURE_FEDERATED_TOKEN_FILE").is_some() {
            add(
                "workload identity",
                azure_identity::WorkloadIdentityCredential::new(None)
                    .map(|c| c as Arc<dyn TokenCredential>),
            );
        }
        if let (Some(tenant), Some(client), Some(secret)) = (
            var("AZURE_TENANT_ID"),
            var("AZURE_CLIENT_ID"),
            var("AZURE_CLIENT_SECRET"),
        ) {
            add(
                "client secret",
                azure_identity::ClientSecretCredential::new(
                    &tenant,
                    client,
                    Secret::new(secret),
                    None,
                )
                .map(|c| c as Arc<dyn TokenCredential>),
            );
        }
        add(
            "managed identity",
            azure_identity::ManagedIdentityCredential::new(None)
                .map(|c| c as Arc<dyn TokenCredential>),
        );
        add(
            "Azure CLI / Azure Developer CLI",
            azure_identity::DeveloperToolsCredential::new(None)
                .map(|c| c as Arc<dyn TokenCredential>),
        );
        if sources.is_empty() {
            return Err(SourceError::api(
                "Azure credentials",
                format!(
                    "no credential could be set up ({}); set {SAS_ENV} or an account key",
                    skipped.join("; ")
                ),
            ));
        }
        Ok(CredentialChain { sources })
    }
}

#[async_trait]
impl TokenCredential for CredentialChain {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let mut tried = Vec::new();
        for (name, source) in &self.sources {
            match source.get_token(scopes, options.clone()).await {
                Ok(token) => return Ok(token),
                Err(e) => tried.push(format!("{name}: {}", mask(&e.to_string()))),
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!(
                "no Azure credential gave a token; tried {}",
                tried.join("; ")
            ),
        ))
    }
}

/// Masks SAS signatures (`sig=…`) and bearer tokens in text that may quote a request.
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("sig=") {
        out.push_str(&rest[..at + 4]);
        out.push_str("***");
        let tail = &rest[at + 4..];
        let end = tail
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Counts the HTTP attempts the pipeline sends (retries included).
#[derive(Debug, Default)]
pub struct RequestCounter(AtomicU64);

#[async_trait]
impl Policy for RequestCounter {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        self.0.fetch_add(1, Ordering::Relaxed);
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// Fails an attempt whose answer has not come within the time (an I/O error, which the
/// retry policy retries).
#[derive(Debug)]
pub struct AttemptTimeout(pub std::time::Duration);

#[async_trait]
impl Policy for AttemptTimeout {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        match tokio::time::timeout(self.0, next[0].send(ctx, request, &next[1..])).await {
            Ok(result) => result,
            Err(_) => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Io,
                format!("no answer within {} s", self.0.as_secs_f64()),
            )),
        }
    }
}

/// How to reach the storage account.
#[derive(Debug, Clone)]
pub struct BlobOptions {
    /// An endpoint replacing `https://ACCOUNT.blob.core.windows.net` (Azurite:
    /// `http://127.0.0.1:10000`); the account is then the first path segment.
    pub endpoint: Option<String>,
    pub auth: BlobAuth,
    pub azure: AzureOptions,
    /// Retries of a failed request (exponential back-off from 200 ms).
    pub max_retries: u32,
    /// How long one attempt may wait for its answer's headers, and a download for its next
    /// bytes: a server that stops answering is an I/O error the pipeline retries, and a body
    /// that stops arriving a broken download, never a run that hangs.
    pub timeout: std::time::Duration,
}

/// The default of [`BlobOptions::timeout`].
pub const BLOB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl BlobOptions {
    /// The endpoint from `CARBONLEDGER_AZURE_ENDPOINT_URL` unless given, the credentials from
    /// the environment, 3 retries.
    pub fn from_env(endpoint: Option<String>, azure: AzureOptions) -> Result<Self, SourceError> {
        Ok(BlobOptions {
            endpoint: endpoint.or_else(|| std::env::var(ENDPOINT_ENV).ok()),
            auth: BlobAuth::from_env()?,
            azure,
            max_retries: 3,
            timeout: BLOB_TIMEOUT,
        })
    }
}

/// One chosen blob.
#[derive(Debug, Clone)]
struct Chosen {
    name: String,
    size: Option<u64>,
}

/// An export in Blob storage, listed and chosen, ready to be read.
pub struct BlobExportSource {
    url: BlobUrl,
    runtime: Runtime,
    client: BlobContainerClient,
    counter: Arc<RequestCounter>,
    chosen: Vec<Chosen>,
    converter: LineConverter,
    auth: &'static str,
    /// The listing's blob names, sizes and modification times.
    fingerprint: String,
    downloaded: u64,
    retried_downloads: u64,
    /// [`BlobOptions::timeout`], for the body of downloads.
    timeout: std::time::Duration,
}

/// Builds the container client for `url` with `options`; also returns the request counter.
pub fn container_client(
    url: &BlobUrl,
    options: &BlobOptions,
) -> Result<(BlobContainerClient, Arc<RequestCounter>), SourceError> {
    let mut container_url = url.container_url(options.endpoint.as_deref())?;
    let mut credential = None;
    match &options.auth {
        BlobAuth::Sas(sas) => container_url.set_query(Some(sas.secret())),
        BlobAuth::AccountKey(key) => {
            container_url.set_query(Some(&account_sas(&url.account, key, "rl")?))
        }
        BlobAuth::Token(c) => credential = Some(Arc::clone(c)),
        BlobAuth::Anonymous => {}
    }
    let counter = Arc::new(RequestCounter::default());
    let retry = ExponentialRetryOptions {
        initial_delay: Duration::milliseconds(200),
        max_retries: options.max_retries,
        max_total_elapsed: Duration::seconds(60),
        max_delay: Duration::seconds(10),
    };
    let client_options = ClientOptions {
        per_try_policies: vec![
            counter.clone() as Arc<dyn Policy>,
            Arc::new(AttemptTimeout(options.timeout)),
        ],
        retry: RetryOptions::exponential(retry),
        ..ClientOptions::default()
    };
    let blob_options = BlobContainerClientOptions {
        client_options,
        ..BlobContainerClientOptions::default()
    };
    let https = container_url.scheme() == "https";
    let token = credential.is_some();
    let client =
        BlobContainerClient::new(container_url, credential, Some(blob_options)).map_err(|e| {
            let hint = if token && !https {
                format!(
                    " (Entra ID tokens need https; for an http endpoint such as Azurite set \
                     {SAS_ENV} or an account key in {})",
                    KEY_ENVS.join(" or ")
                )
            } else {
                String::new()
            };
            SourceError::api(
                format!("Blob client for {url}"),
                format!("{}{hint}", mask(&e.to_string())),
            )
        })?;
    Ok((client, counter))
}

/// An SDK error as one line: the HTTP status and the service's error code (with the
/// `<Message>` of an XML error body), or the error's own text; signatures masked.
fn api_error(request: String, e: azure_core::Error) -> SourceError {
    let text = e.to_string();
    let message = match e.kind() {
        azure_core::error::ErrorKind::HttpResponse {
            status, error_code, ..
        } => {
            let detail = xml_element(&text, "Message")
                .map(|m| format!(": {}", m.lines().next().unwrap_or_default()))
                .unwrap_or_default();
            let code = error_code.as_deref().unwrap_or("no error code");
            format!("HTTP {} {code}{detail}", u16::from(*status))
        }
        _ => {
            // The retry policy's "expired" error carries the last attempt's as its source
            // (a timeout, a refused connection): say it too.
            let mut text = text;
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let cause_text = cause.to_string();
                if !text.contains(&cause_text) {
                    text.push_str(&format!(": {cause_text}"));
                }
                source = cause.source();
            }
            text
        }
    };
    SourceError::api(request, mask(&message))
}

/// The text of the first `<name>…</name>` element in `text`.
fn xml_element<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(text[start..end].trim())
}

impl BlobExportSource {
    /// Lists `url` and chooses the blobs to read. Fails on bad credentials, a missing
    /// container, an unreachable endpoint, an empty prefix or a malformed manifest.
    pub fn open(
        url: BlobUrl,
        factors: Arc<FactorSet>,
        options: BlobOptions,
    ) -> Result<BlobExportSource, SourceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::io("starting the Blob client", e))?;
        let (client, counter) = container_client(&url, &options)?;
        let listed = runtime.block_on(list(&client, &url, options.auth.describe()))?;
        // Every listed blob with its size and modification time (the batch job's skip test).
        let fingerprint = listed
            .iter()
            .map(|(e, size)| format!("{}\t{}\t{size:?}", e.path, e.modified))
            .collect::<Vec<_>>()
            .join("\n");
        let chosen = if let Some(one) = listed.iter().find(|(e, _)| e.path == url.prefix) {
            vec![Chosen {
                name: one.0.path.clone(),
                size: one.1,
            }]
        } else {
            let folder = if url.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", url.prefix)
            };
            let entries: Vec<Entry> = listed
                .iter()
                .filter_map(|(e, _)| {
                    e.path.strip_prefix(&folder).map(|rel| Entry {
                        path: rel.to_owned(),
                        modified: e.modified,
                    })
                })
                .collect();
            let mut read_manifest = |rel: &str| {
                let name = format!("{folder}{rel}");
                runtime.block_on(download_text(&client, &url, &name))
            };
            let picked = choose(&entries, &mut read_manifest)?;
            picked
                .into_iter()
                .map(|rel| {
                    let name = format!("{folder}{rel}");
                    let size = listed
                        .iter()
                        .find(|(e, _)| e.path == name)
                        .and_then(|e| e.1);
                    Chosen { name, size }
                })
                .collect()
        };
        if chosen.is_empty() {
            return Err(SourceError::invalid(
                Location::file(url.to_string()),
                "no Azure cost-details blobs (.csv, .csv.gz, .parquet) under this prefix",
            ));
        }
        Ok(BlobExportSource {
            url,
            runtime,
            client,
            counter,
            chosen,
            converter: LineConverter::new(factors, options.azure),
            auth: options.auth.describe(),
            fingerprint,
            downloaded: 0,
            retried_downloads: 0,
            timeout: options.timeout,
        })
    }

    /// The `azblob://` names of the blobs [`UsageSource::read`] reads, in order.
    pub fn files(&self) -> Vec<String> {
        self.chosen
            .iter()
            .map(|c| self.url.shown(&c.name))
            .collect()
    }

    /// HTTP attempts sent so far (listing, manifests, downloads; retries included).
    pub fn requests(&self) -> u64 {
        self.counter.0.load(Ordering::Relaxed)
    }

    fn download(
        &mut self,
        blob: &Chosen,
        format: FileFormat,
    ) -> Result<tempfile::NamedTempFile, SourceError> {
        let shown = self.url.shown(&blob.name);
        let suffix = match format {
            FileFormat::Csv => ".csv",
            FileFormat::GzipCsv => ".csv.gz",
            FileFormat::Parquet => ".parquet",
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut temp = tempfile::Builder::new()
                .prefix("carbonledger-blob-")
                .suffix(suffix)
                .tempfile()
                .map_err(|e| SourceError::io("temporary file for a blob", e))?;
            let streamed = self.runtime.block_on(stream_blob(
                &self.client,
                &blob.name,
                temp.as_file_mut(),
                &shown,
                self.timeout,
            ));
            let bytes = match streamed {
                Ok(bytes) => bytes,
                Err(Streamed::Broken(message)) if attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::warn!("{shown}: {message}; downloading it again");
                    self.retried_downloads += 1;
                    continue;
                }
                Err(Streamed::Broken(message)) => {
                    return Err(SourceError::api(
                        format!("Blob Get Blob {shown}"),
                        format!("the body broke off: {message} ({attempt} attempts)"),
                    ));
                }
                Err(Streamed::Failed(e)) => return Err(e),
            };
            self.downloaded += bytes;
            match blob.size {
                Some(size) if size != bytes && attempt < DOWNLOAD_ATTEMPTS => {
                    tracing::warn!("{shown}: {bytes} of {size} bytes; downloading it again");
                    self.retried_downloads += 1;
                }
                Some(size) if size != bytes => {
                    return Err(SourceError::api(
                        format!("Blob Get Blob {shown}"),
                        format!(
                            "the body ended after {bytes} of {size} bytes ({attempt} attempts)"
                        ),
                    ));
                }
                _ => return Ok(temp),
            }
        }
    }
}

impl UsageSource for BlobExportSource {
    fn fingerprint(&self) -> Option<String> {
        Some(format!("{}\n{}", self.url, self.fingerprint))
    }

    fn describe(&self) -> String {
        let n = self.chosen.len();
        format!(
            "Azure cost-details export in Blob storage {} ({n} blob{}, {})",
            self.url,
            if n == 1 { "" } else { "s" },
            self.auth
        )
    }

    fn read(
        &mut self,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let mut totals = InputTotals::default();
        for blob in self.chosen.clone() {
            let shown = self.url.shown(&blob.name);
            let format = FileFormat::from_name(&blob.name).unwrap_or(FileFormat::Csv);
            tracing::info!("downloading {shown}");
            let temp = self.download(&blob, format)?;
            let file = DataFile {
                path: temp.path().to_path_buf(),
                shown,
                format,
            };
            totals.add(&read_file(&file, &mut self.converter, sink)?);
        }
        Ok(totals)
    }

    fn summary(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "Blob: {} requests, {:.1} MiB downloaded from {} ({}){}",
            self.requests(),
            self.downloaded as f64 / (1024.0 * 1024.0),
            self.url,
            self.auth,
            if self.retried_downloads > 0 {
                format!(", {} short downloads retried", self.retried_downloads)
            } else {
                String::new()
            }
        )];
        lines.extend(self.converter.summary());
        lines
    }
}

/// Every blob under the prefix: (name as `Entry::path`, last modified), listed size.
async fn list(
    client: &BlobContainerClient,
    url: &BlobUrl,
    auth: &str,
) -> Result<Vec<(Entry, Option<u64>)>, SourceError> {
    let request = format!("Blob List Blobs {url} ({auth})");
    let options = BlobContainerClientListBlobsOptions {
        prefix: (!url.prefix.is_empty()).then(|| url.prefix.clone()),
        ..Default::default()
    };
    let mut pager = client
        .list_blobs(Some(options))
        .map_err(|e| api_error(request.clone(), e))?;
    let mut out = Vec::new();
    while let Some(blob) = pager
        .try_next()
        .await
        .map_err(|e| api_error(request.clone(), e))?
    {
        let Some(name) = blob.name else { continue };
        let properties = blob.properties.unwrap_or_default();
        let modified = properties.last_modified.map_or(0, |t| t.unix_timestamp());
        out.push((
            Entry {
                path: name,
                modified,
            },
            properties.content_length,
        ));
    }
    Ok(out)
}

fn download_options() -> BlobClientDownloadOptions<'static> {
    BlobClientDownloadOptions {
        // One range request at a time: the body is written in order, never held whole.
        parallel: NonZero::new(1),
        ..Default::default()
    }
}

/// A small blob (a manifest) as text.
async fn download_text(
    client: &BlobContainerClient,
    url: &BlobUrl,
    name: &str,
) -> Result<String, SourceError> {
    let shown = url.shown(name);
    let request = format!("Blob Get Blob {shown}");
    let response = client
        .blob_client(name)
        .download(Some(download_options()))
        .await
        .map_err(|e| api_error(request.clone(), e))?;
    let mut body = response.body;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| api_error(request.clone(), e))?);
    }
    String::from_utf8(bytes)
        .map_err(|_| SourceError::invalid(Location::file(shown), "the manifest is not UTF-8"))
}

/// Why a blob download stopped.
enum Streamed {
    /// The body broke off after the request succeeded: worth downloading again.
    Broken(String),
    /// The request failed after the pipeline's retries, or the local file failed.
    Failed(SourceError),
}

/// Streams a blob into `file`; returns the bytes written.
async fn stream_blob(
    client: &BlobContainerClient,
    name: &str,
    file: &mut std::fs::File,
    shown: &str,
    stall: std::time::Duration,
) -> Result<u64, Streamed> {
    let request = format!("Blob Get Blob {shown}");
    let local = |e| Streamed::Failed(SourceError::io("temporary file for a blob", e));
    let response = client
        .blob_client(name)
        .download(Some(download_options()))
        .await
        .map_err(|e| Streamed::Failed(api_error(request.clone(), e)))?;
    let mut body = response.body;
    let mut writer = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut written = 0u64;
    loop {
        let chunk = match tokio::time::timeout(stall, body.next()).await {
            Ok(Some(chunk)) => chunk.map_err(|e| Streamed::Broken(mask(&e.to_string())))?,
            Ok(None) => break,
            Err(_) => {
                return Err(Streamed::Broken(format!(
                    "the download stalled: no data for {} s after {written} bytes",
                    stall.as_secs_f64()
                )));
            }
        };
        writer.write_all(&chunk).map_err(local)?;
        written += chunk.len() as u64;
    }
    writer.flush().map_err(local)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_urls_in_both_forms() {
        let a = BlobUrl::parse("azblob://acct/exports/daily/costs")
            .unwrap()
            .unwrap();
        let b = BlobUrl::parse("https://acct.blob.core.windows.net/exports/daily/costs/")
            .unwrap()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.prefix, "daily/costs");
        assert_eq!(
            a.container_url(Some("http://127.0.0.1:10000/"))
                .unwrap()
                .as_str(),
            "http://127.0.0.1:10000/acct/exports"
        );
        assert!(BlobUrl::parse("s3://bucket/x").is_none());
        assert!(BlobUrl::parse("azblob://acct").unwrap().is_err());
    }

    #[test]
    fn signatures_are_masked() {
        assert_eq!(
            mask("GET http://h/c?sv=1&sig=abc%2Bdef&sp=rl failed"),
            "GET http://h/c?sv=1&sig=***&sp=rl failed"
        );
    }

    #[test]
    fn account_sas_has_the_fields_and_a_signature() {
        let key = Secret::new("a2V5".to_owned());
        let sas = account_sas("acct", &key, "rl").unwrap();
        for field in [
            "sv=2022-11-02",
            "ss=b",
            "srt=sco",
            "sp=rl",
            "spr=https%2Chttp",
            "sig=",
        ] {
            assert!(sas.contains(field), "{sas}");
        }
        assert!(account_sas("acct", &Secret::new("not base64!"), "rl").is_err());
    }
}
