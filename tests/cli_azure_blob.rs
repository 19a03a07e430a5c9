//! The binary on an Azure export in Blob storage (Azurite, started by the shared harness of
//! `connectors/azure-cloud/tests/azurite`): `estimate --input azblob://…` with an endpoint
//! override and an account key (or a SAS) in the environment reads the latest runs, and its
//! ledger has the rows and cost of the same export read from the local folder. The key never
//! appears in the output.

#[path = "../connectors/azure-cloud/tests/azurite/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use azure_core::credentials::Secret;
use azure_core::http::RequestContent;
use carbonledger_azure::AzureOptions;
use carbonledger_azure_cloud::{BlobAuth, BlobOptions, BlobUrl, account_sas, container_client};
use harness::{ACCOUNT, KEY, azurite};

fn layout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/azure/layout")
}

/// Uploads every file of the fixture layout into `container` under `cost-exports/`.
fn upload_layout(container: &str) {
    let sas = account_sas(ACCOUNT, &Secret::new(KEY), "racwdl").unwrap();
    let options = BlobOptions {
        endpoint: Some(azurite().endpoint.clone()),
        auth: BlobAuth::Sas(Secret::new(sas)),
        azure: AzureOptions::default(),
        max_retries: 1,
        timeout: carbonledger_azure_cloud::BLOB_TIMEOUT,
    };
    let url = BlobUrl::parse(&format!("azblob://{ACCOUNT}/{container}"))
        .unwrap()
        .unwrap();
    let (client, _) = container_client(&url, &options).unwrap();
    let mut files = Vec::new();
    let mut stack = vec![layout()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(layout()).unwrap().display().to_string();
                files.push((format!("cost-exports/{rel}"), std::fs::read(&path).unwrap()));
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        client.create(None).await.expect("create the container");
        for (name, bytes) in files {
            client
                .blob_client(&name)
                .upload(RequestContent::from(bytes), None)
                .await
                .expect("upload");
        }
    });
}

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

/// Runs `estimate` to a CSV ledger with `env` set (and the Azure variables of the caller
/// cleared); returns the ledger rows and the process output.
fn estimate(
    input: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Vec<BTreeMap<String, String>>, Output) {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("ledger.csv");
    let mut command = Command::cargo_bin("carbonledger").unwrap();
    for name in [
        "CARBONLEDGER_AZURE_SAS",
        "CARBONLEDGER_AZURE_STORAGE_KEY",
        "AZURE_STORAGE_KEY",
        "CARBONLEDGER_AZURE_ENDPOINT_URL",
    ] {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.args(["estimate", "--input", input, "--format", "csv", "--output"]);
    command.arg(&output).args(extra);
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{input} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (ledger(&output), out)
}

/// The ledger without the columns that name the source.
fn comparable(rows: &[BTreeMap<String, String>]) -> Vec<BTreeMap<String, String>> {
    let mut rows: Vec<_> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.remove("source");
            r
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a["period_start"], &a["source_line"], &a["cost"]).cmp(&(
            &b["period_start"],
            &b["source_line"],
            &b["cost"],
        ))
    });
    rows
}

/// The same rows: text equal, numbers equal to 1e-9 (ratio sums may add in another order).
fn assert_same_ledger(a: &[BTreeMap<String, String>], b: &[BTreeMap<String, String>]) {
    let (a, b) = (comparable(a), comparable(b));
    assert_eq!(a.len(), b.len(), "row counts");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
        for (key, u) in x {
            let v = &y[key];
            match (u.parse::<f64>(), v.parse::<f64>()) {
                (Ok(p), Ok(q)) => assert!(
                    (p - q).abs() <= 1e-9 * p.abs().max(q.abs()).max(1e-12),
                    "row {i} {key}: {u} != {v}"
                ),
                _ => assert_eq!(u, v, "row {i} {key}"),
            }
        }
    }
}

#[test]
fn an_export_in_blob_storage_gives_the_ledger_of_the_local_folder() {
    upload_layout("cli");
    let endpoint = azurite().endpoint.clone();
    let input = format!("azblob://{ACCOUNT}/cli/cost-exports/exports/daily/costs-actual");
    let local = layout().join("exports/daily/costs-actual");
    let (local_rows, _) = estimate(local.to_str().unwrap(), &[], &[]);
    for method in ["default", "ccf"] {
        let (rows, out) = estimate(
            &input,
            &["--azure-endpoint-url", &endpoint, "--method", method],
            &[("AZURE_STORAGE_KEY", KEY)],
        );
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("Blob: "), "{log}");
        assert!(!log.contains(KEY), "the key must not be printed");
        assert!(rows.iter().all(|r| r["source"].starts_with("azblob://")));
        if method == "default" {
            assert_same_ledger(&rows, &local_rows);
        } else {
            assert_eq!(rows.len(), local_rows.len());
        }
    }
    // A SAS and the endpoint from the environment work as well.
    let sas = account_sas(ACCOUNT, &Secret::new(KEY), "rl").unwrap();
    let (rows, out) = estimate(
        &input,
        &[],
        &[
            ("CARBONLEDGER_AZURE_SAS", &sas),
            ("CARBONLEDGER_AZURE_ENDPOINT_URL", &endpoint),
        ],
    );
    assert_same_ledger(&rows, &local_rows);
    let log = String::from_utf8_lossy(&out.stderr);
    let signature = sas.split("sig=").nth(1).unwrap();
    assert!(!log.contains(signature), "the SAS must not be printed");
}

#[test]
fn entra_id_over_http_says_to_use_a_sas_or_key() {
    // No SAS and no key: the Entra ID chain, which the SDK refuses on an http endpoint.
    let mut command = Command::cargo_bin("carbonledger").unwrap();
    for name in [
        "CARBONLEDGER_AZURE_SAS",
        "CARBONLEDGER_AZURE_STORAGE_KEY",
        "AZURE_STORAGE_KEY",
        "CARBONLEDGER_AZURE_ENDPOINT_URL",
    ] {
        command.env_remove(name);
    }
    let out = command
        .args([
            "estimate",
            "--input",
            "azblob://devstoreaccount1/exports/costs",
        ])
        .args(["--azure-endpoint-url", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("Blob client for azblob://devstoreaccount1/exports/costs"),
        "{log}"
    );
    assert!(log.contains("Entra ID tokens need https"), "{log}");
}

/// The batch job's `azure-export` kind with a Blob `url`: the export is read into the ledger,
/// and a second run with the same listing skips it.
#[test]
fn the_job_reads_a_blob_export_and_skips_it_when_its_listing_is_unchanged() {
    upload_layout("job-blob");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        r#"[ledger]
path = "ledger"

[period]
months = ["2023-09", "2023-10"]

[[source]]
name = "azure-blob"
kind = "azure-export"
url = "azblob://{ACCOUNT}/job-blob/cost-exports"
endpoint_url = "{}"
"#,
        azurite().endpoint
    );
    std::fs::write(dir.path().join("carbonledger.toml"), config).unwrap();
    let run = || {
        let mut command = Command::cargo_bin("carbonledger").unwrap();
        for name in [
            "CARBONLEDGER_AZURE_SAS",
            "AZURE_STORAGE_KEY",
            "CARBONLEDGER_AZURE_ENDPOINT_URL",
        ] {
            command.env_remove(name);
        }
        command
            .current_dir(dir.path())
            .env("CARBONLEDGER_AZURE_STORAGE_KEY", KEY)
            .args(["run", "--config", "carbonledger.toml"])
            .output()
            .unwrap()
    };
    let first = run();
    let text = String::from_utf8_lossy(&first.stderr).into_owned();
    assert!(first.status.success(), "{text}");
    assert!(
        text.contains("azure-blob: partitions written [\"provider=azure/month=2023-09\""),
        "{text}"
    );
    assert!(!text.contains(KEY), "the key is never printed");
    let second = run();
    let text = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(second.status.success(), "{text}");
    assert!(
        text.contains("azure-blob: skipped, unchanged since"),
        "{text}"
    );
}
