//! S3 exports against moto: the fixture deliveries of `fixtures/aws` uploaded to a bucket
//! must give the same usage rows as the same folders read from disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonledger_aws::{CostMeasure, CurOptions, CurSource, LayoutKind};
use carbonledger_aws_cloud::{Connection, S3ExportSource, S3Options, S3Url};
use carbonledger_factors::FactorSet;
use carbonledger_focus::{FocusOptions, FocusSource};
use carbonledger_usage::{InputTotals, SourceError, UsageSource};
use polars::prelude::*;

use crate::harness::{s3_moto, test_credentials};
use crate::proxy::FaultProxy;

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(relative)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn client(endpoint: &str) -> aws_sdk_s3::Client {
    test_credentials();
    let config = runtime().block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .load(),
    );
    let s3 = aws_sdk_s3::config::Builder::from(&config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// Creates `bucket` and uploads every file under `dir` as `prefix/<relative path>`, in path
/// order (so later files are newer).
fn upload(bucket: &str, prefix: &str, dir: &Path) -> Vec<String> {
    let client = client(&s3_moto().url);
    let rt = runtime();
    rt.block_on(client.create_bucket().bucket(bucket).send())
        .expect("create bucket");
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    let mut keys = Vec::new();
    for file in files {
        let relative = file.strip_prefix(dir).expect("under dir");
        let key = format!("{prefix}/{}", relative.display());
        let body = std::fs::read(&file).expect("fixture");
        rt.block_on(
            client
                .put_object()
                .bucket(bucket)
                .key(&key)
                .body(body.into())
                .send(),
        )
        .expect("put object");
        keys.push(key);
    }
    keys
}

fn delete(bucket: &str, key: &str) {
    let client = client(&s3_moto().url);
    runtime()
        .block_on(client.delete_object().bucket(bucket).key(key).send())
        .expect("delete object");
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn factors() -> Arc<FactorSet> {
    Arc::new(FactorSet::embedded("default").expect("factors"))
}

fn options(endpoint: &str) -> S3Options {
    test_credentials();
    S3Options {
        connection: Connection {
            endpoint_url: Some(endpoint.to_owned()),
            initial_backoff: std::time::Duration::from_millis(10),
            ..Connection::default()
        },
        cur: CurOptions {
            cost: CostMeasure::Unblended,
            ..CurOptions::default()
        },
        // What the export holds is told from its first part.
        ..S3Options::default()
    }
}

fn open_s3(url: &str, endpoint: &str) -> Result<S3ExportSource, SourceError> {
    let url = S3Url::parse(url).expect("an s3 URL").expect("valid");
    S3ExportSource::open(url, factors(), options(endpoint))
}

/// Every batch of a source, stacked, and its input totals.
fn read(source: &mut dyn UsageSource) -> Result<(DataFrame, InputTotals), SourceError> {
    let mut frames: Vec<DataFrame> = Vec::new();
    let totals = source.read(&mut |batch| {
        frames.push(batch);
        Ok(())
    })?;
    let mut all = frames.first().cloned().expect("at least one batch");
    for frame in &frames[1..] {
        all.vstack_mut(frame).expect("same schema");
    }
    Ok((all, totals))
}

/// The columns that must not depend on where the bytes came from.
fn content(df: &DataFrame) -> DataFrame {
    df.select([
        "usage_type",
        "usage_class",
        "region",
        "vcpu_hours",
        "storage_tb_hours",
        "network_gb",
        "cost",
        "source_line",
    ])
    .expect("usage columns")
}

fn local(path: &Path) -> (DataFrame, InputTotals) {
    let mut source = CurSource::open(path, factors(), options("unused").cur).expect("local");
    read(&mut source).expect("local read")
}

#[test]
fn a_legacy_delivery_reads_the_newest_assembly_of_each_period() {
    let dir = fixture("aws/legacy_layout");
    let keys = upload("cur-legacy", "reports", &dir);
    assert!(keys.iter().any(|k| k.contains("a1111111-old")), "{keys:?}");
    let mut source = open_s3("s3://cur-legacy/reports/cur-report", &s3_moto().url).expect("opens");
    assert_eq!(source.layout_kind(), LayoutKind::LegacyFolder);
    assert_eq!(source.periods(), ["20231101-20231201", "20231201-20240101"]);
    let root = "s3://cur-legacy/reports/cur-report";
    assert_eq!(
        source.files(),
        [
            format!("{root}/20231101-20231201/b2222222-new/cur-report-1.csv.gz"),
            format!("{root}/20231101-20231201/b2222222-new/cur-report-2.csv.gz"),
            format!("{root}/20231201-20240101/c3333333-only/cur-report-1.csv.gz"),
        ]
    );
    let (rows, totals) = read(&mut source).expect("reads");
    let (expected, expected_totals) = local(&dir);
    assert_eq!(content(&rows), content(&expected));
    assert_eq!(totals, expected_totals);
    let sources = rows
        .column("source")
        .expect("source")
        .str()
        .expect("text")
        .clone();
    assert!(
        sources
            .iter()
            .all(|s| s.is_some_and(|s| s.starts_with("s3://cur-legacy/"))),
        "rows name their S3 part"
    );
    // One listing page, the two period manifests, the three parts.
    let summary = source.summary().join("\n");
    assert!(summary.contains("S3: 6 requests"), "{summary}");
}

#[test]
fn a_cur2_parquet_export_reads_like_the_same_folder_on_disk() {
    let dir = fixture("aws/cur2_parquet_layout");
    upload("cur-parquet", "exports", &dir);
    let mut source = open_s3("s3://cur-parquet/exports/pq-export", &s3_moto().url).expect("opens");
    assert_eq!(source.layout_kind(), LayoutKind::Cur2Folder);
    assert_eq!(source.files().len(), 2);
    assert!(
        source
            .files()
            .iter()
            .all(|f| f.ends_with(".snappy.parquet"))
    );
    let (rows, totals) = read(&mut source).expect("reads");
    let (expected, expected_totals) = local(&dir);
    assert_eq!(content(&rows), content(&expected));
    assert_eq!(totals, expected_totals);
    // The Parquet delivery holds the 31 lines of cur2_mixed.csv.
    let (csv_rows, _) = local(&fixture("aws/cur2_mixed.csv"));
    assert_eq!(rows.height(), csv_rows.height());
    let sum = |df: &DataFrame| df.column("cost").unwrap().f64().unwrap().sum().unwrap();
    assert!((sum(&rows) - sum(&csv_rows)).abs() < 1e-9);
}

#[test]
fn a_focus_data_export_is_told_from_its_header_and_reads_like_the_file_on_disk() {
    // AWS Data Exports deliver FOCUS in the CUR 2.0 layout: data/ and metadata/ per period.
    let dir = tempfile::tempdir().expect("temp dir");
    let part = "focus-export/data/BILLING_PERIOD=2026-10/focus-export-00001.csv.gz";
    let local_file = fixture("focus/aws_focus_1_2.csv.gz");
    std::fs::create_dir_all(dir.path().join(part).parent().expect("folder")).expect("data");
    std::fs::copy(&local_file, dir.path().join(part)).expect("part");
    let manifest = serde_json::json!({
        "executionId": "00000000-0000-0000-0000-00000000f0c5",
        "billingPeriod": "2026-10",
        "dataFiles": [format!("s3://focus-bucket/exports/{part}")],
    });
    let metadata = dir
        .path()
        .join("focus-export/metadata/BILLING_PERIOD=2026-10/focus-export-Manifest.json");
    std::fs::create_dir_all(metadata.parent().expect("folder")).expect("metadata");
    std::fs::write(&metadata, manifest.to_string()).expect("manifest");
    upload("focus-bucket", "exports", dir.path());

    let mut source =
        open_s3("s3://focus-bucket/exports/focus-export", &s3_moto().url).expect("opens");
    assert_eq!(source.layout_kind(), LayoutKind::Cur2Folder);
    // Known before a row is read (the FOCUS output names its cost columns up front).
    assert_eq!(
        source.cost_basis().map(|b| b.name),
        Some("EffectiveCost".to_owned())
    );
    let (rows, totals) = read(&mut source).expect("reads");
    let mut on_disk = FocusSource::open(&local_file, factors(), FocusOptions::default())
        .expect("local FOCUS file");
    let (expected, expected_totals) = read(&mut on_disk).expect("local read");
    assert_eq!(content(&rows), content(&expected));
    assert_eq!(totals, expected_totals);
    assert!(rows.height() > 5);
    let summary = source.summary().join("\n");
    assert!(
        summary.contains("FOCUS 1.2 (CSV): s3://focus-bucket/exports/"),
        "{summary}"
    );
    assert_eq!(
        source.cost_basis().map(|b| b.name),
        Some("EffectiveCost".to_owned())
    );
}

#[test]
fn a_manifest_naming_a_missing_part_is_an_error_naming_both() {
    let dir = fixture("aws/legacy_layout");
    let keys = upload("cur-missing-part", "reports", &dir);
    let gone = keys
        .iter()
        .find(|k| k.ends_with("b2222222-new/cur-report-2.csv.gz"))
        .expect("part 2");
    delete("cur-missing-part", gone);
    let err = open_s3("s3://cur-missing-part/reports/cur-report", &s3_moto().url)
        .err()
        .expect("fails");
    let message = err.to_string();
    assert!(
        message.contains(
            "s3://cur-missing-part/reports/cur-report/20231101-20231201/cur-report-Manifest.json"
        ),
        "{message}"
    );
    assert!(message.contains("cur-report-2.csv.gz"), "{message}");
    assert!(message.contains("reportKeys"), "{message}");
}

#[test]
fn a_missing_bucket_is_one_clear_error() {
    let err = open_s3("s3://no-such-bucket-here/cur", &s3_moto().url)
        .err()
        .expect("fails");
    let message = err.to_string();
    assert!(
        message.contains("S3 ListObjectsV2 s3://no-such-bucket-here/cur"),
        "{message}"
    );
    assert!(message.contains("does not exist"), "{message}");
}

#[test]
fn an_empty_prefix_says_so() {
    upload("cur-empty-prefix", "other", &fixture("aws/legacy_layout"));
    let err = open_s3("s3://cur-empty-prefix/reports", &s3_moto().url)
        .err()
        .expect("fails");
    assert!(
        err.to_string().contains("no objects under this prefix"),
        "{err}"
    );
}

#[test]
fn a_download_that_breaks_off_is_retried_then_reported() {
    let dir = fixture("aws/legacy_layout");
    upload("cur-truncated", "reports", &dir);
    let proxy = FaultProxy::start(&s3_moto().url);
    // Manifest GETs come first; cut the first part's body once.
    let mut source = open_s3("s3://cur-truncated/reports/cur-report", &proxy.url).expect("opens");
    proxy.truncate_next_gets(1);
    let (rows, _) = read(&mut source).expect("reads after one retry");
    let (expected, _) = local(&dir);
    assert_eq!(content(&rows), content(&expected));
    let summary = source.summary().join("\n");
    assert!(summary.contains("1 broken downloads retried"), "{summary}");

    let mut source = open_s3("s3://cur-truncated/reports/cur-report", &proxy.url).expect("opens");
    proxy.truncate_next_gets(3);
    let err = read(&mut source)
        .err()
        .expect("fails after three broken downloads");
    let message = err.to_string();
    assert!(
        message.contains("S3 GetObject s3://cur-truncated/"),
        "{message}"
    );
    assert!(message.contains("3 attempts"), "{message}");
}

/// `options` with a 1 s timeout, for the stalling proxy.
fn open_s3_impatient(url: &str, endpoint: &str) -> Result<S3ExportSource, SourceError> {
    let mut o = options(endpoint);
    o.connection.timeout = std::time::Duration::from_secs(1);
    let url = S3Url::parse(url).expect("url").expect("s3 url");
    S3ExportSource::open(url, factors(), o)
}

#[test]
fn a_server_that_stops_answering_is_a_timeout_retried_then_reported() {
    let dir = fixture("aws/legacy_layout");
    upload("cur-stalled", "reports", &dir);
    let (expected, _) = local(&dir);
    let proxy = FaultProxy::start(&s3_moto().url);
    let url = "s3://cur-stalled/reports/cur-report";
    let mut source = open_s3_impatient(url, &proxy.url).expect("opens");
    // A GET never answered (headers never come): the SDK's read timeout, then its retry.
    proxy.stall_next_gets(1);
    let started = std::time::Instant::now();
    let (rows, _) = read(&mut source).expect("reads after the timeout");
    assert_eq!(content(&rows), content(&expected));
    assert_eq!(proxy.counts().1, 1, "one request stalled");
    // 1 s to the first byte, then the retry: far below the proxy's 60 s silence.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));

    // A body that stops half-way with the connection open: a broken download, retried.
    let mut source = open_s3_impatient(url, &proxy.url).expect("opens");
    proxy.stall_next_bodies(1);
    let (rows, _) = read(&mut source).expect("reads after the stalled body");
    assert_eq!(content(&rows), content(&expected));
    let summary = source.summary().join("\n");
    assert!(summary.contains("1 broken downloads retried"), "{summary}");

    // Stalled every time: reported after the download attempts, naming the request.
    let mut source = open_s3_impatient(url, &proxy.url).expect("opens");
    proxy.stall_next_bodies(3);
    let message = read(&mut source).err().expect("fails").to_string();
    assert!(
        message.contains("S3 GetObject s3://cur-stalled/"),
        "{message}"
    );
    assert!(
        message.contains("stalled") && message.contains("3 attempts"),
        "{message}"
    );
}

#[test]
fn a_gzip_part_cut_short_in_the_bucket_is_an_error_not_fewer_rows() {
    let client = client(&s3_moto().url);
    let rt = runtime();
    rt.block_on(client.create_bucket().bucket("cur-cut-gzip").send())
        .expect("create bucket");
    // The object itself is cut (its Content-Length matches): the gzip trailer is missing.
    let body = std::fs::read(fixture("aws/legacy_mixed_truncated.csv.gz")).expect("fixture");
    rt.block_on(
        client
            .put_object()
            .bucket("cur-cut-gzip")
            .key("cur/legacy_mixed.csv.gz")
            .body(body.into())
            .send(),
    )
    .expect("put object");
    // The first part is downloaded when the source opens (to tell a CUR from FOCUS), so the
    // error comes from `open`.
    let err = open_s3("s3://cur-cut-gzip/cur/legacy_mixed.csv.gz", &s3_moto().url)
        .err()
        .expect("fails");
    let message = err.to_string();
    assert!(
        message.contains("s3://cur-cut-gzip/cur/legacy_mixed.csv.gz"),
        "{message}"
    );
    assert!(
        message.contains("gzip data is broken or truncated"),
        "{message}"
    );
    assert!(message.contains(", line "), "{message}");
}

#[test]
fn a_single_zip_object_is_refused() {
    let client = client(&s3_moto().url);
    let rt = runtime();
    rt.block_on(client.create_bucket().bucket("cur-zip").send())
        .expect("create bucket");
    rt.block_on(
        client
            .put_object()
            .bucket("cur-zip")
            .key("cur/report-1.csv.zip")
            .body(b"PK".to_vec().into())
            .send(),
    )
    .expect("put object");
    let err = open_s3("s3://cur-zip/cur/report-1.csv.zip", &s3_moto().url)
        .err()
        .expect("fails");
    assert!(err.to_string().contains("ZIP-compressed"), "{err}");
}
