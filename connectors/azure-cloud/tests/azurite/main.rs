//! The Blob source against Azurite: an export layout (run folders, manifests) and single blobs
//! uploaded from the fixtures with the Rust blob client, read back and compared with the
//! local reads of the same files; broken blobs and bad credentials fail naming the request,
//! without the secret.

mod harness;
mod proxy;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use azure_core::credentials::Secret;
use azure_core::http::RequestContent;
use carbonledger_azure::{AzureExportSource, AzureOptions};
use carbonledger_azure_cloud::{
    BlobAuth, BlobExportSource, BlobOptions, BlobUrl, account_sas, container_client,
};
use carbonledger_factors::FactorSet;
use carbonledger_usage::{InputTotals, SourceError, UsageSource, col};
use polars::prelude::*;

use harness::{ACCOUNT, KEY, azurite};
use proxy::FaultProxy;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/azure")
}

fn factors() -> Arc<FactorSet> {
    Arc::new(FactorSet::embedded("default").unwrap())
}

fn options(auth: BlobAuth) -> BlobOptions {
    BlobOptions {
        endpoint: Some(azurite().endpoint.clone()),
        auth,
        azure: AzureOptions::default(),
        max_retries: 1,
        timeout: carbonledger_azure_cloud::BLOB_TIMEOUT,
    }
}

fn key_auth() -> BlobAuth {
    BlobAuth::AccountKey(Secret::new(KEY.to_owned()))
}

fn url(container: &str, prefix: &str) -> BlobUrl {
    BlobUrl::parse(&format!("azblob://{ACCOUNT}/{container}/{prefix}"))
        .unwrap()
        .unwrap()
}

/// Creates `container` and uploads `(name, bytes)` with a read-write SAS of the account key.
fn upload(container: &str, blobs: &[(String, Vec<u8>)]) {
    let sas = account_sas(ACCOUNT, &Secret::new(KEY.to_owned()), "racwdl").unwrap();
    let writer = options(BlobAuth::Sas(Secret::new(sas)));
    let (client, _) = container_client(&url(container, ""), &writer).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        client.create(None).await.expect("create the container");
        for (name, bytes) in blobs {
            client
                .blob_client(name)
                .upload(RequestContent::from(bytes.clone()), None)
                .await
                .unwrap_or_else(|e| panic!("upload {name}: {e}"));
        }
    });
}

/// Every file under `dir` as (`prefix` + relative path, bytes).
fn files_under(dir: &Path, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((format!("{prefix}{rel}"), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn read_all(source: &mut dyn UsageSource) -> Result<(DataFrame, InputTotals), SourceError> {
    let mut frames: Vec<DataFrame> = Vec::new();
    let totals = source.read(&mut |df| {
        frames.push(df);
        Ok(())
    })?;
    let df = frames
        .into_iter()
        .reduce(|a, b| a.vstack(&b).unwrap())
        .expect("rows");
    Ok((df, totals))
}

/// The usage columns that do not name the source.
fn comparable(df: &DataFrame) -> DataFrame {
    df.clone()
        .lazy()
        .select([
            col(col::PERIOD_START),
            col(col::USAGE_CLASS),
            col(col::EXCLUSION_REASON),
            col(col::REGION),
            col(col::VCPU_HOURS),
            col(col::STORAGE_TB_HOURS),
            col(col::NETWORK_GB),
            col(col::COST),
            col(col::CURRENCY),
            col(col::SOURCE_LINE),
        ])
        .collect()
        .unwrap()
}

#[test]
fn the_latest_runs_of_an_export_layout_are_read_from_blob_storage() {
    let layout = fixtures().join("layout");
    upload("layout", &files_under(&layout, "cost-exports/"));
    let export = "cost-exports/exports/daily/costs-actual";
    let mut source =
        BlobExportSource::open(url("layout", export), factors(), options(key_auth())).unwrap();
    let mut local = AzureExportSource::open(
        &layout.join("exports/daily/costs-actual"),
        factors(),
        AzureOptions::default(),
    )
    .unwrap();
    // The same choice as the local folder: the newest manifest's run, and October.
    let base = layout.join("exports/daily/costs-actual");
    let expected: Vec<String> = local
        .files()
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&base).unwrap().display().to_string();
            format!("azblob://{ACCOUNT}/layout/{export}/{rel}")
        })
        .collect();
    assert_eq!(source.files(), expected);
    assert_eq!(expected.len(), 3);

    let (blob_rows, blob_totals) = read_all(&mut source).unwrap();
    let (local_rows, local_totals) = read_all(&mut local).unwrap();
    assert_eq!(blob_totals, local_totals);
    assert!(comparable(&blob_rows).equals_missing(&comparable(&local_rows)));
    let sources = blob_rows.column(col::SOURCE).unwrap().str().unwrap();
    assert!(
        sources
            .get(0)
            .unwrap()
            .starts_with("azblob://devstoreaccount1/layout/"),
        "{:?}",
        sources.get(0)
    );
    // One listing, two manifests, three downloads at least; the summary says how many.
    let summary = source.summary();
    assert!(source.requests() >= 6, "{summary:?}");
    assert!(summary[0].starts_with(&format!("Blob: {} requests", source.requests())));
    assert!(!summary.join(" ").contains(KEY));
}

#[test]
fn a_single_gzip_or_parquet_blob_gives_the_rows_of_the_local_file() {
    let names = ["ea_actual.csv.gz", "ea_actual.parquet", "mca_actual.csv"];
    let blobs: Vec<(String, Vec<u8>)> = names
        .iter()
        .map(|n| {
            (
                format!("single/{n}"),
                std::fs::read(fixtures().join(n)).unwrap(),
            )
        })
        .collect();
    upload("single", &blobs);
    for name in names {
        let mut blob = BlobExportSource::open(
            url("single", &format!("single/{name}")),
            factors(),
            options(key_auth()),
        )
        .unwrap();
        let mut local =
            AzureExportSource::open(&fixtures().join(name), factors(), AzureOptions::default())
                .unwrap();
        let (b, bt) = read_all(&mut blob).unwrap();
        let (l, lt) = read_all(&mut local).unwrap();
        assert_eq!(bt, lt, "{name}");
        assert!(comparable(&b).equals_missing(&comparable(&l)), "{name}");
    }
}

#[test]
fn a_truncated_gzip_blob_names_the_blob() {
    let bytes = std::fs::read(fixtures().join("truncated.csv.gz")).unwrap();
    upload("broken", &[("part_0_0001.csv.gz".to_owned(), bytes)]);
    let mut source = BlobExportSource::open(
        url("broken", "part_0_0001.csv.gz"),
        factors(),
        options(key_auth()),
    )
    .unwrap();
    let e = read_all(&mut source).err().unwrap().to_string();
    assert!(
        e.starts_with("azblob://devstoreaccount1/broken/part_0_0001.csv.gz, line"),
        "{e}"
    );
    assert!(e.contains("gzip data is broken or truncated"), "{e}");
}

#[test]
fn bad_credentials_and_missing_containers_fail_without_the_secret() {
    upload("secured", &[("a.csv".to_owned(), b"x".to_vec())]);
    // A valid base64 key that is not the account's.
    let wrong = BlobAuth::AccountKey(Secret::new("d3Jvbmcta2V5LXdyb25nLWtleQ==".to_owned()));
    let e = BlobExportSource::open(url("secured", ""), factors(), options(wrong))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("Blob List Blobs azblob://devstoreaccount1/secured/"),
        "{e}"
    );
    assert!(e.contains("HTTP 403 AuthorizationFailure"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(!e.contains("sig=") || e.contains("sig=***"), "{e}");

    let e = BlobExportSource::open(url("no-such-container", ""), factors(), options(key_auth()))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("HTTP 404 ContainerNotFound"), "{e}");
    assert!(!e.contains(KEY));

    let e = BlobExportSource::open(
        url("secured", "nothing-here/"),
        factors(),
        options(key_auth()),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("no Azure cost-details blobs"), "{e}");
}

#[test]
fn a_server_that_stops_answering_times_out_and_is_retried() {
    let name = "ea_actual.csv";
    upload(
        "stalls",
        &[(
            name.to_owned(),
            std::fs::read(fixtures().join(name)).unwrap(),
        )],
    );
    let proxy = FaultProxy::start(&azurite().endpoint);
    let mut impatient = options(key_auth());
    impatient.endpoint = Some(proxy.url.clone());
    impatient.max_retries = 3;
    impatient.timeout = std::time::Duration::from_secs(1);
    let started = std::time::Instant::now();
    // The listing is never answered once: the attempt times out and the pipeline retries.
    proxy.stall_next(1);
    let mut source =
        BlobExportSource::open(url("stalls", name), factors(), impatient.clone()).unwrap();
    // The download's body stops half-way once: downloaded again.
    proxy.stall_next_downloads(1);
    let (rows, totals) = read_all(&mut source).unwrap();
    let mut local =
        AzureExportSource::open(&fixtures().join(name), factors(), AzureOptions::default())
            .unwrap();
    let (local_rows, local_totals) = read_all(&mut local).unwrap();
    assert_eq!(totals, local_totals);
    assert!(comparable(&rows).equals_missing(&comparable(&local_rows)));
    assert_eq!(proxy.counts().1, 2);
    // Two waits of 1 s and a retry or two: far below the proxy's minute of silence.
    assert!(started.elapsed() < std::time::Duration::from_secs(40));
    let summary = source.summary();
    assert!(
        summary[0].contains("1 short downloads retried"),
        "{summary:?}"
    );

    // Never answered at all: the listing fails naming the request, after the retries.
    impatient.max_retries = 1;
    proxy.stall_next(2);
    let e = BlobExportSource::open(url("stalls", name), factors(), impatient)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("Blob List Blobs azblob://devstoreaccount1/stalls/"),
        "{e}"
    );
    assert!(e.contains("no answer within 1 s"), "{e}");
}

#[test]
fn busy_answers_are_retried_and_broken_bodies_downloaded_again() {
    let name = "ea_actual.csv";
    upload(
        "faults",
        &[(
            name.to_owned(),
            std::fs::read(fixtures().join(name)).unwrap(),
        )],
    );
    let proxy = FaultProxy::start(&azurite().endpoint);
    let mut through_proxy = options(key_auth());
    through_proxy.endpoint = Some(proxy.url.clone());
    through_proxy.max_retries = 3;
    // The listing is answered `503 ServerBusy` twice, then passes: the pipeline retries.
    proxy.busy_next(2);
    let mut source = BlobExportSource::open(url("faults", name), factors(), through_proxy).unwrap();
    // The download breaks off half-way once: the blob is downloaded again.
    proxy.truncate_next_downloads(1);
    let (rows, totals) = read_all(&mut source).unwrap();
    let mut local =
        AzureExportSource::open(&fixtures().join(name), factors(), AzureOptions::default())
            .unwrap();
    let (local_rows, local_totals) = read_all(&mut local).unwrap();
    assert_eq!(totals, local_totals);
    assert!(comparable(&rows).equals_missing(&comparable(&local_rows)));
    let (seen, faulted) = proxy.counts();
    assert_eq!(faulted, 3);
    // Every attempt the proxy saw was counted by the source.
    assert_eq!(source.requests() as usize, seen, "{:?}", source.summary());
    let summary = source.summary();
    assert!(
        summary[0].contains("1 short downloads retried"),
        "{summary:?}"
    );

    // Busy for longer than the retries last: the request is named, with Azure's error code.
    let mut patient = options(key_auth());
    patient.endpoint = Some(proxy.url.clone());
    patient.max_retries = 1;
    proxy.busy_next(5);
    let e = BlobExportSource::open(url("faults", name), factors(), patient)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("Blob List Blobs azblob://devstoreaccount1/faults/ea_actual.csv"),
        "{e}"
    );
    assert!(e.contains("HTTP 503 ServerBusy"), "{e}");
}
