//! The scheduled job against the emulators, as a user runs it: one `carbonledger run` reads
//! an AWS delivery in S3 (moto), the GCP export table in BigQuery (bqemulator) and an export
//! file on disk into one partitioned ledger; each partition is what `estimate` gives for the
//! same source, and a second run reads the API sources again and leaves every byte alone.

#[path = "../connectors/gcp/tests/bigquery/harness.rs"]
#[allow(dead_code)]
mod bq;
#[path = "../connectors/aws-cloud/tests/moto/harness.rs"]
#[allow(dead_code)]
mod moto;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use polars::prelude::*;

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

/// The binary with a clean environment: static AWS keys for moto, no Google credentials.
fn carbonledger(dir: &Path) -> Command {
    let mut command = Command::cargo_bin("carbonledger").expect("binary");
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/carbonledger-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/carbonledger-test-credentials",
        );
    command
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "failed:\n{}", stderr(&out));
    out
}

fn upload(base: &str, bucket: &str, root: &Path, prefix: &str) {
    moto::create_bucket(base, bucket);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under root").display();
                let key = format!("{prefix}/{relative}");
                moto::put_object(base, bucket, &key, &fs::read(&path).expect("fixture"));
            }
        }
    }
}

fn read_parquet(path: &Path) -> DataFrame {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(file).finish().expect("parquet")
}

/// `estimate` of one source, as Parquet, filtered to the rows of `month` (`YYYY-MM`).
fn estimate(dir: &Path, args: &[&str], month: &str) -> DataFrame {
    let out = dir.join("estimate.parquet");
    ok(carbonledger(dir)
        .arg("estimate")
        .args(args)
        .args(["--format", "parquet", "--output"])
        .arg(&out)
        .output()
        .expect("runs"));
    let all = read_parquet(&out);
    let months = all
        .column("period_start")
        .expect("period_start")
        .datetime()
        .expect("datetime")
        .physical()
        .iter()
        .map(|t| {
            let t = chrono::DateTime::from_timestamp_micros(t.expect("a time")).expect("time");
            t.format("%Y-%m").to_string() == month
        })
        .collect::<BooleanChunked>();
    all.filter(&months).expect("filter")
}

#[test]
fn one_run_reads_s3_bigquery_and_files_into_the_ledger() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    let s3 = &moto::s3_moto().url;
    upload(s3, "job-legacy", &fixture("aws/legacy_layout"), "reports");
    let ds = bq::dataset("job_run");
    bq::export_table(&ds, "gcp_billing_export_v1_01A2B3", false, &[]);
    let table = format!("local.{ds}.gcp_billing_export_v1_01A2B3");
    let bigquery = &bq::emulator().url;
    fs::copy(fixture("gcp/export_mixed.csv"), dir.join("gcp.csv")).expect("gcp file");
    let config = format!(
        r#"
[ledger]
path = "ledger"

[period]
months = ["2023-11", "2023-12", "2024-01", "2026-10"]

[[source]]
name = "aws-s3"
kind = "aws-s3"
url = "s3://job-legacy/reports/cur-report"
endpoint_url = "{s3}"

[[source]]
name = "gcp-bq"
kind = "bigquery"
table = "{table}"
endpoint_url = "{bigquery}"

[[source]]
name = "gcp-file"
kind = "gcp-export"
path = "gcp.csv"
"#
    );
    fs::write(dir.join("carbonledger.toml"), config).expect("config");
    let run = || {
        carbonledger(dir)
            .args(["run", "--config", "carbonledger.toml"])
            .output()
            .expect("runs")
    };
    let first = ok(run());
    let text = stderr(&first);
    assert!(
        text.contains("S3: "),
        "the S3 source reports its requests: {text}"
    );
    assert!(text.contains("BigQuery: 2 queries"), "{text}");

    let partition =
        |p: &str, m: &str, s: &str| dir.join(format!("ledger/provider={p}/month={m}/{s}.parquet"));
    let s3_url = "s3://job-legacy/reports/cur-report";
    // The fixture's December delivery bills usage of November: partitions go by usage month.
    for month in ["2023-11", "2023-12"] {
        let expected = estimate(dir, &["--input", s3_url, "--endpoint-url", s3], month);
        let file = partition("aws", month, "aws-s3");
        if expected.height() == 0 {
            assert!(!file.exists(), "{month} has no rows but a file");
            continue;
        }
        assert!(
            read_parquet(&file).equals_missing(&expected),
            "aws {month} differs"
        );
    }
    assert!(partition("aws", "2023-11", "aws-s3").exists());
    let expected = estimate(
        dir,
        &[
            "--bigquery",
            &table,
            // The job queries its whole period (rows name the query window in `source`).
            "--period",
            "2023-11-01..2026-11-01",
            "--bigquery-endpoint",
            bigquery,
        ],
        "2026-10",
    );
    let written = read_parquet(&partition("gcp", "2026-10", "gcp-bq"));
    assert!(expected.height() > 0);
    assert!(
        written.equals_missing(&expected),
        "BigQuery partition differs from estimate"
    );
    assert!(partition("gcp", "2024-01", "gcp-file").exists());

    // Nothing changed: every source is skipped and no file is touched.
    let files: Vec<PathBuf> = [
        partition("aws", "2023-11", "aws-s3"),
        partition("gcp", "2026-10", "gcp-bq"),
    ]
    .into();
    let before: Vec<_> = files
        .iter()
        .map(|f| {
            (
                fs::read(f).expect("file"),
                fs::metadata(f).expect("meta").modified().ok(),
            )
        })
        .collect();
    let second = ok(run());
    let text = stderr(&second);
    // The S3 listing (keys and modification times) is the last run's: not fetched again.
    assert!(text.contains("aws-s3: skipped, unchanged since"), "{text}");
    // The probe (export rows, newest export_time) gives the last run's answer: skipped.
    assert!(text.contains("gcp-bq: skipped, unchanged since"), "{text}");
    assert!(
        text.contains("gcp-file: skipped, unchanged since"),
        "{text}"
    );
    let after: Vec<_> = files
        .iter()
        .map(|f| {
            (
                fs::read(f).expect("file"),
                fs::metadata(f).expect("meta").modified().ok(),
            )
        })
        .collect();
    assert!(before == after, "a second run changed a file");

    // A part written again (same bytes, a new LastModified): the listing changed, so S3 is
    // read again, and its unchanged bytes are still left alone.
    let part = "reports/cur-report/20231101-20231201/b2222222-new/cur-report-1.csv.gz";
    let body = fs::read(fixture(&format!(
        "aws/legacy_layout/{}",
        &part["reports/".len()..]
    )))
    .expect("part");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    moto::put_object(s3, "job-legacy", part, &body);
    // A late BigQuery row (a new export_time): the probe answers otherwise, October 2026 is
    // read again and restated.
    let mut late = bq::fixture_rows(false).remove(0);
    late["export_time"] = serde_json::json!("2026-11-20T00:00:00Z");
    bq::insert_rows(&ds, "gcp_billing_export_v1_01A2B3", &[late]);
    let third = ok(run());
    let text = stderr(&third);
    assert!(
        text.contains("aws-s3: partitions written [], unchanged [\"provider=aws/month=2023-11\"]"),
        "{text}"
    );
    assert!(
        text.contains("gcp-bq: partitions written [\"provider=gcp/month=2026-10\"]"),
        "{text}"
    );
}
