//! The binary on the GCP billing export in BigQuery, as a user runs it: `carbonledger estimate
//! --bigquery project.dataset.table --period 2026-10 --bigquery-endpoint URL` against
//! bqemulator (started as in `connectors/gcp/tests/bigquery/harness.rs`) gives the ledger
//! totals of `--input` on the same rows (`fixtures/gcp/bigquery_rows.jsonl`); an empty window
//! is an empty ledger with a note; a missing table and bad credentials fail with exit code 1
//! and one message naming the table and the window, never a secret.
//!
//! bqemulator does not check credentials (it accepts any or none), so the credential tests use
//! the client's own Application Default Credentials mechanisms: a `GOOGLE_APPLICATION_CREDENTIALS`
//! file that does not exist, a service account key whose private key cannot sign, and a user
//! credential whose token refresh the server it is sent to refuses.

#[path = "../connectors/gcp/tests/bigquery/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

use harness::{dataset, emulator, export_table};

/// The binary with a clean environment: no Google credentials, no gcloud configuration.
fn carbonledger() -> Command {
    let mut command = Command::cargo_bin("carbonledger").expect("binary");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir().join("carbonledger-no-home"));
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `estimate --bigquery local.DATASET.TABLE --period 2026-10` against the emulator, plus
/// `extra`.
fn bigquery(table: &str, extra: &[&str]) -> Output {
    carbonledger()
        .args(["estimate", "--bigquery", table, "--period", "2026-10"])
        .args(["--bigquery-endpoint", &emulator().url])
        .args(extra)
        .output()
        .expect("runs")
}

/// The ledger a run wrote as CSV: one map of column → value per row.
fn ledger(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut csv = csv::Reader::from_path(path).expect("ledger");
    let header = csv.headers().expect("header").clone();
    csv.records()
        .map(|r| {
            let r = r.expect("row");
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Sums of the ledger's cost and emissions columns per currency.
fn totals(rows: &[BTreeMap<String, String>]) -> BTreeMap<(String, &'static str), f64> {
    let mut out = BTreeMap::new();
    for row in rows {
        for column in [
            "cost",
            "energy_kwh",
            "scope2_location_kg",
            "scope2_market_kg",
            "scope3_embodied_kg",
        ] {
            let value: f64 = row[column].parse().unwrap_or(0.0);
            *out.entry((row["currency"].clone(), column)).or_default() += value;
        }
    }
    out
}

/// Runs `args` (plus a CSV output) and returns the ledger and stderr.
fn run_to_csv(mut command: Command, args: &[&str]) -> (Vec<BTreeMap<String, String>>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("ledger.csv");
    let out = command
        .args(args)
        .args(["--format", "csv", "--output"])
        .arg(&output)
        .output()
        .expect("runs");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{args:?} failed:\n{stderr}");
    (ledger(&output), stderr)
}

#[test]
fn the_bigquery_ledger_has_the_totals_of_the_file_ledger() {
    let ds = dataset("cli_same");
    export_table(&ds, "gcp_billing_export_v1_01A2B3", false, &[]);
    let table = format!("local.{ds}.gcp_billing_export_v1_01A2B3");
    let file = harness::fixture_dir().join("bigquery_rows.jsonl");
    for method in ["default", "ccf"] {
        let (from_bq, stderr) = run_to_csv(
            carbonledger(),
            &[
                "estimate",
                "--bigquery",
                &table,
                "--period",
                "2026-10",
                "--bigquery-endpoint",
                &emulator().url,
                "--method",
                method,
            ],
        );
        let (from_file, _) = run_to_csv(
            carbonledger(),
            &[
                "estimate",
                "--input",
                file.to_str().expect("utf-8"),
                "--method",
                method,
            ],
        );
        // 13 export rows, 12 groups (see connectors/gcp/tests/bigquery/source.rs).
        assert_eq!((from_bq.len(), from_file.len()), (12, 13), "{method}");
        let (a, b) = (totals(&from_file), totals(&from_bq));
        assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        for (key, x) in &a {
            let y = b[key];
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                "{method} {key:?}: file {x}, BigQuery {y}"
            );
        }
        // The energy is not zero, so the comparison compares something.
        assert!(a[&("USD".to_owned(), "energy_kwh")] > 0.0);
        assert!(
            stderr.contains("BigQuery: 2 queries") && stderr.contains("12 result rows summing 13"),
            "{stderr}"
        );
    }
}

#[test]
fn an_empty_window_is_an_empty_ledger_and_a_note() {
    let ds = dataset("cli_empty");
    export_table(&ds, "export", false, &[]);
    let (rows, stderr) = run_to_csv(
        carbonledger(),
        &[
            "estimate",
            "--bigquery",
            &format!("local.{ds}.export"),
            "--period",
            "2027-01",
            "--bigquery-endpoint",
            &emulator().url,
        ],
    );
    assert!(rows.is_empty());
    assert!(
        stderr.contains(&format!(
            "no export rows in local.{ds}.export for usage_start_time 2027-01-01..2027-02-01: \
             the ledger is empty"
        )),
        "{stderr}"
    );
}

/// The one `error:` line of a failed run with exit code 1.
fn one_error(out: &Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    errors[0].to_owned()
}

#[test]
fn a_missing_table_fails_naming_the_table_and_the_window() {
    let ds = dataset("cli_missing");
    let table = format!("local.{ds}.gcp_billing_export_v1_NONE");
    let error = one_error(&bigquery(&table, &[]));
    assert!(
        error.starts_with(&format!(
            "error: BigQuery jobs.query on {table} for usage_start_time 2026-10-01..2026-11-01: \
             the table {table} does not exist"
        )),
        "{error}"
    );
}

/// A run with `GOOGLE_APPLICATION_CREDENTIALS` set to `path` and `--bigquery-auth adc`.
fn with_credentials(table: &str, path: &Path) -> Output {
    carbonledger()
        .env("GOOGLE_APPLICATION_CREDENTIALS", path)
        .args(["estimate", "--bigquery", table, "--period", "2026-10"])
        .args([
            "--bigquery-endpoint",
            &emulator().url,
            "--bigquery-auth",
            "adc",
        ])
        .output()
        .expect("runs")
}

const SECRET: &str = "carbonledger-test-secret-never-shown";

#[test]
fn bad_credentials_fail_with_one_message_and_no_secret() {
    let ds = dataset("cli_auth");
    export_table(&ds, "export", false, &[]);
    let table = format!("local.{ds}.export");
    let request = format!(
        "error: BigQuery jobs.query on {table} for usage_start_time 2026-10-01..2026-11-01: "
    );
    let dir = tempfile::tempdir().expect("temp dir");

    // 1. The variable names a file that is not there: ADC cannot be loaded.
    let missing = dir.path().join("no-such-key.json");
    let error = one_error(&with_credentials(&table, &missing));
    assert!(
        error.starts_with(&format!(
            "{request}Application Default Credentials could not be loaded"
        )),
        "{error}"
    );
    assert!(error.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{error}");

    // 2. A service account key whose private key is not a key: the client cannot sign its
    // token, and the request is never sent.
    let key = dir.path().join("service-account.json");
    let not_a_key = format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n");
    let body = serde_json::json!({
        "type": "service_account",
        "project_id": "local",
        "private_key_id": "k1",
        "private_key": not_a_key,
        "client_email": "ledger@local.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": format!("{}/token", emulator().url),
    });
    std::fs::write(&key, body.to_string()).expect("key file");
    let out = with_credentials(&table, &key);
    let error = one_error(&out);
    assert!(
        error.starts_with(&format!(
            "{request}the credentials could not be used or were refused"
        )),
        "{error}"
    );
    assert!(error.contains("private key"), "{error}");
    assert!(
        !text(&out.stderr).contains(SECRET),
        "the key leaked: {error}"
    );

    // 3. A user credential (`gcloud auth application-default login` writes these) whose
    // refresh the token endpoint refuses: its `token_uri` is the emulator, which has no OAuth
    // endpoint and answers 404. The refresh token and client secret are never shown.
    let user = dir.path().join("authorized-user.json");
    let body = serde_json::json!({
        "type": "authorized_user",
        "client_id": "ledger.apps.googleusercontent.com",
        "client_secret": format!("{SECRET}-client"),
        "refresh_token": format!("{SECRET}-refresh"),
        "token_uri": format!("{}/token", emulator().url),
    });
    std::fs::write(&user, body.to_string()).expect("credentials file");
    let out = with_credentials(&table, &user);
    let error = one_error(&out);
    assert!(
        error.starts_with(&format!(
            "{request}the credentials could not be used or were refused"
        )),
        "{error}"
    );
    assert!(error.contains("404"), "{error}");
    assert!(
        !text(&out.stderr).contains(SECRET),
        "a secret leaked: {error}"
    );
}

#[test]
fn the_window_options_need_an_api_source() {
    let out = carbonledger()
        .args(["estimate", "--input", "x.csv", "--period", "2026-10"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = carbonledger()
        .args([
            "estimate",
            "--bigquery",
            "no-dataset",
            "--period",
            "2026-10",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("expected `project.dataset.table`"),
        "{}",
        text(&out.stderr)
    );
}
