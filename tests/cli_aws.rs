//! The binary against moto, as a user runs it: an S3 delivery and Cost Explorer through
//! `--endpoint-url`, and wrong credentials refused with one clear message that never shows
//! the secret. moto is found and started as in `connectors/aws-cloud/tests/moto/harness.rs`.

#[path = "../connectors/aws-cloud/tests/moto/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

use harness::{
    auth_moto, ce_lock, ce_moto, create_bucket, put_object, queue_cost_explorer, s3_moto,
};

const SECRET: &str = "wJalrXUtnFEMI-carbonledger-test-secret";

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

/// The binary with a clean AWS environment: static keys, no profile, no instance metadata.
fn carbonledger(endpoint: &str, access_key: &str) -> Command {
    let mut command = Command::cargo_bin("carbonledger").expect("binary");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/carbonledger-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/carbonledger-test-credentials",
        )
        .env("CARBONLEDGER_AWS_ENDPOINT_URL", endpoint);
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn upload_legacy_layout(base: &str, bucket: &str) {
    create_bucket(base, bucket);
    let root = fixture("aws/legacy_layout");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    for file in files {
        let key = format!("reports/{}", file.strip_prefix(&root).unwrap().display());
        put_object(base, bucket, &key, &std::fs::read(&file).expect("fixture"));
    }
}

/// The value of a reconciliation line (`rows read   9` → `9`).
fn summary_value(stderr: &str, label: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix(label).map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stderr}"))
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "failed:\n{}", text(&out.stderr));
}

#[test]
fn an_s3_delivery_estimates_end_to_end() {
    let base = &s3_moto().url;
    upload_legacy_layout(base, "cli-legacy");
    let out = carbonledger(base, "testing")
        .args([
            "estimate",
            "--input",
            "s3://cli-legacy/reports/cur-report",
            "--group-by",
            "month,region,service,usage_class",
            "--format",
            "csv",
        ])
        .output()
        .expect("runs");
    assert_ok(&out);
    let stderr = text(&out.stderr);
    // Nine lines: the newer assembly of November (6) and December (3).
    assert_eq!(summary_value(&stderr, "rows read"), "9");
    assert!(stderr.contains("S3: "), "{stderr}");
    let local = carbonledger(base, "testing")
        .args(["estimate", "--input"])
        .arg(fixture("aws/legacy_layout"))
        .args([
            "--group-by",
            "month,region,service,usage_class",
            "--format",
            "csv",
        ])
        .output()
        .expect("runs");
    assert_ok(&local);
    assert_eq!(
        text(&out.stdout),
        text(&local.stdout),
        "same totals as the folder on disk"
    );
}

#[test]
fn wrong_credentials_are_one_clear_error_without_the_secret() {
    let base = &auth_moto().url;
    let out = carbonledger(base, "AKIAWRONGWRONGWRONG1")
        .args(["estimate", "--input", "s3://any-bucket/cur"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("S3 ListObjectsV2 s3://any-bucket/cur"),
        "{stderr}"
    );
    assert!(
        stderr.contains("AWS refused the credentials (InvalidAccessKeyId"),
        "{stderr}"
    );
    assert!(stderr.contains("standard AWS chain"), "{stderr}");
    assert!(!stderr.contains(SECRET), "the secret key leaked: {stderr}");

    let out = carbonledger(base, "AKIAWRONGWRONGWRONG1")
        .args(["estimate", "--cost-explorer", "--period", "2026-10", "-vv"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    // The first request names the caller's account (STS), and it is refused.
    assert!(stderr.contains("STS GetCallerIdentity"), "{stderr}");
    assert!(stderr.contains("AWS refused the credentials"), "{stderr}");
    assert!(stderr.contains("standard AWS chain"), "{stderr}");
    assert!(
        !stderr.contains(SECRET),
        "the secret key leaked at debug level: {stderr}"
    );
}

#[test]
fn cost_explorer_estimates_end_to_end_and_counts_its_requests() {
    let _lock = ce_lock();
    let metric = |amount: &str, unit: &str| serde_json::json!({ "Amount": amount, "Unit": unit });
    queue_cost_explorer(&[
        serde_json::json!({
            "ResultsByTime": [{
                "TimePeriod": { "Start": "2026-10-01", "End": "2026-10-02" },
                "Total": {}, "Estimated": false,
                "Groups": [
                    { "Keys": ["Usage"], "Metrics": {
                        "UnblendedCost": metric("4.608", "USD"),
                        "UsageQuantity": metric("24", "N/A") } },
                    { "Keys": ["Tax"], "Metrics": {
                        "UnblendedCost": metric("0.46", "USD"),
                        "UsageQuantity": metric("0", "N/A") } },
                ],
            }],
            "DimensionValueAttributes": [],
        }),
        serde_json::json!({
            "ResultsByTime": [{
                "TimePeriod": { "Start": "2026-10-01", "End": "2026-10-02" },
                "Total": {}, "Estimated": false,
                "Groups": [{
                    "Keys": ["Amazon Elastic Compute Cloud - Compute", "BoxUsage:m5.xlarge"],
                    "Metrics": {
                        "UnblendedCost": metric("4.608", "USD"),
                        "UsageQuantity": metric("24", "Hrs") },
                }],
            }],
            "DimensionValueAttributes": [],
        }),
    ]);
    let out = carbonledger(&ce_moto().url, "testing")
        .args([
            "estimate",
            "--cost-explorer",
            "--period",
            "2026-10-01..2026-10-02",
            "--no-ce-cache",
            "--group-by",
            "service,usage_class",
            "--format",
            "csv",
        ])
        .output()
        .expect("runs");
    assert_ok(&out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Cost Explorer: 2 requests sent (2 pages billed"),
        "{stderr}"
    );
    assert!(stderr.contains("1 STS identity request;"), "{stderr}");
    assert_eq!(summary_value(&stderr, "cost in"), "5.0680 USD");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("AmazonEC2,compute"), "{stdout}");
}
