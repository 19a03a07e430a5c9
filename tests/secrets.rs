//! Secrets never leave the process (issue 11): each cloud source is run against its emulator
//! with recognisable fake credentials, at `-vv` and at `RUST_LOG=trace` (every log level of
//! every crate), on requests that succeed and requests that fail, and stdout, stderr and every
//! file the run wrote (ledger partitions, `state.json`, output files) are searched for each
//! secret as it is, URL-encoded and base64-encoded.
//!
//! * AWS (moto): `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN` for S3 and Cost Explorer, in
//!   `carbonledger run` (a delivery that is read and a bucket that is missing: exit 4) and in
//!   `estimate --cost-explorer` against a moto that refuses the keys.
//! * Azure Blob storage (Azurite): the account key (`CARBONLEDGER_AZURE_STORAGE_KEY`) and an
//!   account SAS (`CARBONLEDGER_AZURE_SAS`, its signature), on an export that is read and a
//!   container that is missing.
//! * BigQuery (bqemulator): a user credential's client secret and refresh token, the bearer
//!   token a local token endpoint issues for them (sent to BigQuery on every request), and a
//!   service-account key's private key that cannot sign.
//!
//! The AWS access key id (an identifier, not a secret: AWS prints it in CloudTrail) is shown
//! by the AWS SDK's own debug logs (`access_key_id: "AKIA…"`, the secret `** redacted **`), so
//! it is not searched for.
//!
//! The Cost Management source sends no credentials to an endpoint override, so its bearer
//! token cannot be exercised against a local server; its error messages are built by the same
//! code as Blob storage's (`connectors/azure-cloud`).

#[path = "../connectors/aws-cloud/tests/moto/harness.rs"]
#[allow(dead_code)]
mod moto;

#[path = "../connectors/azure-cloud/tests/azurite/harness.rs"]
#[allow(dead_code)]
mod azurite;

#[path = "../connectors/gcp/tests/bigquery/harness.rs"]
#[allow(dead_code)]
mod bigquery;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(relative)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The binary with nothing of the caller's environment but `PATH`.
fn carbonledger(home: &Path) -> Command {
    let mut command = Command::cargo_bin("carbonledger").expect("binary");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .timeout(std::time::Duration::from_secs(300));
    command
}

/// `-vv`, and `RUST_LOG=trace` (which overrides it): the two runs of every case.
fn at_every_level(mut make: impl FnMut() -> Command) -> Vec<Output> {
    let verbose = make().arg("-vv").output().expect("runs");
    let trace = make().env("RUST_LOG", "trace").output().expect("runs");
    vec![verbose, trace]
}

fn percent_encoded(secret: &str) -> String {
    let mut out = String::new();
    for b in secret.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base64(secret: &str) -> String {
    base64_engine::encode(secret.as_bytes())
}

/// A minimal standard base64 encoder (RFC 4648, with padding), for the search.
mod base64_engine {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.len();
            let v = (u32::from(chunk[0]) << 16)
                | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
                | u32::from(*chunk.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= n {
                    out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

/// The forms a secret is searched in: as it is, URL-encoded, base64 (without its padding,
/// which depends on what surrounds it), and its first 16 characters (a cut-off leak).
fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![
        secret.to_owned(),
        percent_encoded(secret),
        base64(secret).trim_end_matches('=').to_owned(),
    ];
    if secret.len() > 24 {
        out.push(secret[..16].to_owned());
    }
    out
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path, out);
            } else {
                out.push(path);
            }
        }
    }
}

/// Fails when any form of any secret is in the outputs' stdout or stderr or in a file under
/// `dirs`, or when a run logged almost nothing (a silent run would prove nothing).
fn assert_no_secret(case: &str, outputs: &[Output], dirs: &[&Path], secrets: &[&str]) {
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, out) in outputs.iter().enumerate() {
        places.push((format!("run {i} stdout"), out.stdout.clone()));
        places.push((format!("run {i} stderr"), out.stderr.clone()));
    }
    for dir in dirs {
        let mut found = Vec::new();
        files_under(dir, &mut found);
        for file in found {
            let bytes = std::fs::read(&file).expect("read");
            places.push((file.display().to_string(), bytes));
        }
    }
    for secret in secrets {
        for form in forms(secret) {
            for (place, bytes) in &places {
                let haystack = text(bytes);
                assert!(
                    !haystack.contains(&form),
                    "{case}: `{form}` (a form of a secret) is in {place}:\n{}",
                    haystack
                        .lines()
                        .filter(|l| l.contains(&form))
                        .take(5)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
    }
    // The runs logged something at all: a silent run would prove nothing.
    for (i, out) in outputs.iter().enumerate() {
        assert!(
            out.stderr.len() > 200,
            "{case}: run {i} logged almost nothing"
        );
    }
}

const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCY-carbonledger-fake-secret";
const AWS_TOKEN: &str = "IQoJb3JpZ2luX2VjEFAKE-carbonledger-fake-session-token/+=";

fn with_aws(mut command: Command, endpoint: &str, access_key: &str) -> Command {
    command
        .env("AWS_ACCESS_KEY_ID", access_key)
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("AWS_SESSION_TOKEN", AWS_TOKEN)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/carbonledger-test-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/carbonledger-test-creds",
        )
        .env("CARBONLEDGER_AWS_ENDPOINT_URL", endpoint);
    command
}

fn upload_tree(root: &Path, mut put: impl FnMut(String, Vec<u8>)) {
    let mut files = Vec::new();
    files_under(root, &mut files);
    files.sort();
    for file in files {
        let relative = file
            .strip_prefix(root)
            .expect("under root")
            .display()
            .to_string();
        put(relative, std::fs::read(&file).expect("fixture"));
    }
}

#[test]
fn aws_keys_and_session_token_never_appear() {
    let base = moto::s3_moto().url.clone();
    moto::create_bucket(&base, "secret-cur");
    upload_tree(&fixture("aws/legacy_layout"), |key, body| {
        moto::put_object(&base, "secret-cur", &format!("reports/{key}"), &body);
    });
    let dir = tempfile::tempdir().expect("temp");
    let config = dir.path().join("carbonledger.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger\"\n[period]\nmonths = [\"2023-11\", \"2023-12\"]\n\
             [[source]]\nname = \"aws-main\"\nkind = \"aws-s3\"\n\
             url = \"s3://secret-cur/reports/cur-report\"\nendpoint_url = \"{base}\"\n\
             [[source]]\nname = \"aws-gone\"\nkind = \"aws-s3\"\n\
             url = \"s3://no-such-bucket/reports/cur-report\"\nendpoint_url = \"{base}\"\n"
        ),
    )
    .expect("config");
    let runs = at_every_level(|| {
        let mut command = with_aws(carbonledger(dir.path()), &base, "AKIAFAKEKEYID0000001");
        command.args(["run", "--config"]).arg(&config);
        command
    });
    for out in &runs {
        // One source read, one failed: exit 4, the read one's partitions are in the ledger.
        assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("no-such-bucket"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(
        dir.path()
            .join("ledger/provider=aws/month=2023-11/aws-main.parquet")
            .is_file()
    );
    assert_no_secret("aws run", &runs, &[dir.path()], &[AWS_SECRET, AWS_TOKEN]);

    // Cost Explorer and STS against a moto that refuses the keys.
    let refused = moto::auth_moto().url.clone();
    let runs = at_every_level(|| {
        let mut command = with_aws(carbonledger(dir.path()), &refused, "AKIAFAKEKEYID0000002");
        command.args([
            "estimate",
            "--cost-explorer",
            "--period",
            "2026-10",
            "--no-ce-cache",
        ]);
        command
    });
    for out in &runs {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("AWS refused the credentials"));
    }
    assert_no_secret(
        "cost explorer",
        &runs,
        &[dir.path()],
        &[AWS_SECRET, AWS_TOKEN],
    );
}

fn upload_azure_layout(container: &str) {
    use azure_core::credentials::Secret;
    use azure_core::http::RequestContent;
    use carbonledger_azure::AzureOptions;
    use carbonledger_azure_cloud::{BlobAuth, BlobOptions, BlobUrl, account_sas};
    let sas = account_sas(azurite::ACCOUNT, &Secret::new(azurite::KEY), "racwdl").unwrap();
    let options = BlobOptions {
        endpoint: Some(azurite::azurite().endpoint.clone()),
        auth: BlobAuth::Sas(Secret::new(sas)),
        azure: AzureOptions::default(),
        max_retries: 1,
        timeout: carbonledger_azure_cloud::BLOB_TIMEOUT,
    };
    let url = BlobUrl::parse(&format!("azblob://{}/{container}", azurite::ACCOUNT))
        .unwrap()
        .unwrap();
    let (client, _) = carbonledger_azure_cloud::container_client(&url, &options).unwrap();
    let mut files = Vec::new();
    upload_tree(&fixture("azure/layout"), |name, body| {
        files.push((name, body))
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        client.create(None).await.expect("create the container");
        for (name, bytes) in files {
            client
                .blob_client(&format!("cost-exports/{name}"))
                .upload(RequestContent::from(bytes), None)
                .await
                .expect("upload");
        }
    });
}

#[test]
fn the_azure_account_key_and_sas_never_appear() {
    use azure_core::credentials::Secret;
    upload_azure_layout("secrets");
    let endpoint = azurite::azurite().endpoint.clone();
    let sas =
        carbonledger_azure_cloud::account_sas(azurite::ACCOUNT, &Secret::new(azurite::KEY), "rl")
            .expect("sas");
    // The SAS's signature is its secret part (the rest says what it allows and until when).
    let signature = sas
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .expect("a sig parameter")
        .to_owned();
    let signature = signature
        .replace("%2B", "+")
        .replace("%2F", "/")
        .replace("%3D", "=");
    let dir = tempfile::tempdir().expect("temp");
    let account = azurite::ACCOUNT;
    for (variable, value) in [
        ("CARBONLEDGER_AZURE_STORAGE_KEY", azurite::KEY),
        ("CARBONLEDGER_AZURE_SAS", sas.as_str()),
    ] {
        let ledger = dir.path().join(format!("ledger-{variable}"));
        let config = dir.path().join(format!("{variable}.toml"));
        std::fs::write(
            &config,
            format!(
                "[ledger]\npath = \"{}\"\n[period]\nmonths = [\"2023-09\", \"2023-10\"]\n\
                 [[source]]\nname = \"azure\"\nkind = \"azure-export\"\n\
                 url = \"azblob://{account}/secrets/cost-exports/exports/daily/costs-actual\"\n\
                 endpoint_url = \"{endpoint}\"\n\
                 [[source]]\nname = \"azure-gone\"\nkind = \"azure-export\"\n\
                 url = \"azblob://{account}/no-such-container/exports\"\n\
                 endpoint_url = \"{endpoint}\"\n",
                ledger.display()
            ),
        )
        .expect("config");
        let runs = at_every_level(|| {
            let mut command = carbonledger(dir.path());
            command
                .env(variable, value)
                .args(["run", "--config"])
                .arg(&config);
            command
        });
        for out in &runs {
            assert_eq!(
                out.status.code(),
                Some(4),
                "{variable}: {}",
                text(&out.stderr)
            );
            assert!(text(&out.stderr).contains("no-such-container"));
        }
        assert!(
            ledger
                .join("provider=azure/month=2023-09/azure.parquet")
                .is_file()
        );
        assert_no_secret(variable, &runs, &[dir.path()], &[azurite::KEY, &signature]);
    }
}

/// A one-endpoint OAuth token server: answers every request with `token` as an access token.
fn token_server(token: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/token", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer =
                format!(r#"{{"access_token":"{token}","expires_in":3600,"token_type":"Bearer"}}"#);
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    url
}

const GCP_CLIENT_SECRET: &str = "GOCSPX-carbonledger-fake-client-secret";
const GCP_REFRESH: &str = "1//0carbonledger-fake-refresh-token";
const GCP_BEARER: &str = "ya29.carbonledger-fake-bearer-token-issued-locally";
const GCP_PRIVATE: &str = "MIIEvQIBADANcarbonledgerFakePrivateKeyMaterial";

#[test]
fn google_credentials_and_bearer_tokens_never_appear() {
    let ds = bigquery::dataset("secrets");
    bigquery::export_table(&ds, "export", false, &[]);
    let table = format!("local.{ds}.export");
    let dir = tempfile::tempdir().expect("temp");
    let user = dir.path().join("authorized-user.json");
    let body = serde_json::json!({
        "type": "authorized_user",
        "client_id": "ledger.apps.googleusercontent.com",
        "client_secret": GCP_CLIENT_SECRET,
        "refresh_token": GCP_REFRESH,
        "token_uri": token_server(GCP_BEARER),
    });
    std::fs::write(&user, body.to_string()).expect("credentials");
    let key = dir.path().join("service-account.json");
    let body = serde_json::json!({
        "type": "service_account",
        "project_id": "local",
        "private_key_id": "k1",
        "private_key": format!(
            "-----BEGIN PRIVATE KEY-----\n{GCP_PRIVATE}\n-----END PRIVATE KEY-----\n"
        ),
        "client_email": "ledger@local.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_server(GCP_BEARER),
    });
    std::fs::write(&key, body.to_string()).expect("key");
    let output = dir.path().join("out");
    std::fs::create_dir(&output).expect("folder");
    let endpoint = bigquery::emulator().url.clone();
    let bq = |credentials: &Path, existing: bool, ledger: &str| {
        let mut command = carbonledger(dir.path());
        let table = if existing {
            table.clone()
        } else {
            format!("local.{ds}.no_such_table")
        };
        command
            .env("GOOGLE_APPLICATION_CREDENTIALS", credentials)
            .args(["estimate", "--bigquery", &table, "--period", "2026-10"])
            .args(["--bigquery-endpoint", &endpoint, "--bigquery-auth", "adc"])
            .args(["--format", "csv", "--output"])
            .arg(output.join(ledger));
        command
    };
    let mut runs = at_every_level(|| bq(&user, true, "ledger.csv"));
    for out in &runs {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert!(output.join("ledger.csv").is_file());
    let failing = at_every_level(|| bq(&user, false, "missing.csv"));
    for out in &failing {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("no_such_table"),
            "{}",
            text(&out.stderr)
        );
    }
    runs.extend(failing);
    let refused = at_every_level(|| bq(&key, true, "key.csv"));
    for out in &refused {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("private key"),
            "{}",
            text(&out.stderr)
        );
    }
    runs.extend(refused);
    assert_no_secret(
        "bigquery",
        &runs,
        &[&output],
        &[GCP_CLIENT_SECRET, GCP_REFRESH, GCP_BEARER, GCP_PRIVATE],
    );
}
