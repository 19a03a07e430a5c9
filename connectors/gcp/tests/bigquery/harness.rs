//! bqemulator for the tests, started once per test binary on a free port of 127.0.0.1 and
//! stopped when the binary exits (Linux parent-death signal), plus the REST calls that set up
//! datasets, tables and rows (`datasets.insert`, `tables.insert`, `tabledata.insertAll`).
//!
//! The emulator is `$CARBONLEDGER_BQEMULATOR`, else the virtualenv `.ci/run` installs
//! (`$HOME/.cache/carbonledger-emulators/bq-venv/bin/bqemulator`), else `bqemulator` on the
//! `PATH`. It runs with `HOME` set to a private DuckDB home (`$CARBONLEDGER_BQEMULATOR_HOME`,
//! else `$HOME/.cache/carbonledger-emulators/bq-duckhome`) holding the spatial extension, so
//! that it starts offline (emulators.md B.3). Without it the tests fail and say how to install
//! it: an emulator test that silently passes would prove nothing.
//!
//! Every test uses its own dataset, so tests run in parallel against one emulator.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The project the emulator serves.
pub const PROJECT: &str = "local";

pub struct Emulator {
    pub url: String,
    _child: Child,
}

const INSTALL: &str = "install it as .ci/run does: `python3 -m venv \
    ~/.cache/carbonledger-emulators/bq-venv && ~/.cache/carbonledger-emulators/bq-venv/bin/pip \
    install bqemulator==1.4.0 duckdb==1.5.5 duckdb-extension-spatial==1.5.5 numpy`, then copy \
    the wheel's spatial.duckdb_extension into \
    ~/.cache/carbonledger-emulators/bq-duckhome/.duckdb/extensions/v1.5.5/linux_amd64/ \
    (or run .ci/run)";

fn emulators_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/carbonledger-emulators"))
}

fn bqemulator() -> PathBuf {
    if let Some(path) = std::env::var_os("CARBONLEDGER_BQEMULATOR") {
        return PathBuf::from(path);
    }
    if let Some(dir) = emulators_dir() {
        let venv = dir.join("bq-venv/bin/bqemulator");
        if venv.is_file() {
            return venv;
        }
    }
    PathBuf::from("bqemulator")
}

fn duck_home() -> PathBuf {
    if let Some(path) = std::env::var_os("CARBONLEDGER_BQEMULATOR_HOME") {
        return PathBuf::from(path);
    }
    emulators_dir()
        .map(|d| d.join("bq-duckhome"))
        .unwrap_or_else(std::env::temp_dir)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start() -> Emulator {
    let port = free_port();
    let server = bqemulator();
    let log = std::env::temp_dir().join(format!("carbonledger-bqemulator-{port}.log"));
    let log_file = std::fs::File::create(&log).expect("emulator log file");
    let mut command = Command::new(&server);
    command
        .args(["start", "--rest-host", "127.0.0.1", "--rest-port"])
        .arg(port.to_string())
        .args([
            "--grpc-host",
            "127.0.0.1",
            "--grpc-port",
            "0",
            "--project",
            PROJECT,
        ])
        .args(["--log-format", "console", "--log-level", "warning"])
        .env("HOME", duck_home())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file);
    // SAFETY: prctl only sets a flag of the child process before it runs the emulator.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    // The parent-death signal follows the thread that spawned the child, and test threads
    // end early: spawn the emulator from a thread that lives as long as the test binary.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(command.spawn());
        loop {
            std::thread::park();
        }
    });
    let mut child = receiver
        .recv()
        .expect("the spawning thread answers")
        .unwrap_or_else(|e| {
            panic!(
                "cannot start bqemulator ({}: {e}); {INSTALL}",
                server.display()
            )
        });
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            panic!("bqemulator exited ({status}) before answering; {INSTALL}. Its log:\n{tail}");
        }
        let datasets = format!("/bigquery/v2/projects/{PROJECT}/datasets");
        if let Some((200, _)) = try_call(&url, "GET", &datasets, None) {
            // The log served to explain a failed start; the emulator goes on writing to the
            // unlinked file.
            let _ = std::fs::remove_file(&log);
            return Emulator { url, _child: child };
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "bqemulator did not answer on port {port} within 90 s; see {}",
        log.display()
    );
}

/// The emulator of this test binary.
pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(start)
}

/// One HTTP/1.0 request; `None` when the connection fails.
fn try_call(base: &str, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
    let host = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, payload) = answer.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, serde_json::from_str(payload).unwrap_or(Value::Null)))
}

/// A REST call to the emulator's BigQuery API that must succeed.
pub fn call(method: &str, path: &str, body: &Value) -> Value {
    let base = &emulator().url;
    let (status, answer) = try_call(base, method, path, Some(body))
        .unwrap_or_else(|| panic!("bqemulator {method} {path}: no answer"));
    assert!(
        status == 200,
        "bqemulator {method} {path}: HTTP {status}: {answer}"
    );
    answer
}

/// A fresh dataset for one test: `prefix_N`.
pub fn dataset(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!("{prefix}_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let body = json!({ "datasetReference": { "projectId": PROJECT, "datasetId": name } });
    call(
        "POST",
        &format!("/bigquery/v2/projects/{PROJECT}/datasets"),
        &body,
    );
    name
}

/// Creates `dataset.table` with `fields` (BigQuery's schema JSON).
pub fn create_table(dataset: &str, table: &str, fields: Value) {
    let body = json!({
        "tableReference": { "projectId": PROJECT, "datasetId": dataset, "tableId": table },
        "schema": { "fields": fields },
    });
    call(
        "POST",
        &format!("/bigquery/v2/projects/{PROJECT}/datasets/{dataset}/tables"),
        &body,
    );
}

/// Streams `rows` (JSON objects, nested as the schema) into `dataset.table` with insertAll.
pub fn insert_rows(dataset: &str, table: &str, rows: &[Value]) {
    let body = json!({
        "rows": rows.iter().map(|r| json!({ "json": r })).collect::<Vec<_>>(),
    });
    let answer = call(
        "POST",
        &format!("/bigquery/v2/projects/{PROJECT}/datasets/{dataset}/tables/{table}/insertAll"),
        &body,
    );
    let errors = &answer["insertErrors"];
    assert!(
        errors.is_null() || errors.as_array().is_some_and(Vec::is_empty),
        "insertAll into {dataset}.{table}: {answer}"
    );
}

fn field(name: &str, kind: &str) -> Value {
    json!({ "name": name, "type": kind, "mode": "NULLABLE" })
}

fn record(name: &str, mode: &str, fields: Vec<Value>) -> Value {
    json!({ "name": name, "type": "RECORD", "mode": mode, "fields": fields })
}

fn key_value(name: &str) -> Value {
    record(
        name,
        "REPEATED",
        vec![field("key", "STRING"), field("value", "STRING")],
    )
}

/// The schema of a billing export table: the standard export's fields, and with `detailed`
/// the resource-level ones (`resource`, `price`), as in
/// `shared/data/formats/gcp/gcp_billing_export_resource_v1.schema.json`.
pub fn export_schema(detailed: bool) -> Value {
    let s = |name: &str| field(name, "STRING");
    let mut fields = vec![
        s("billing_account_id"),
        record("service", "NULLABLE", vec![s("id"), s("description")]),
        record("sku", "NULLABLE", vec![s("id"), s("description")]),
        field("usage_start_time", "TIMESTAMP"),
        field("usage_end_time", "TIMESTAMP"),
        record(
            "project",
            "NULLABLE",
            vec![s("id"), s("number"), s("name"), key_value("labels")],
        ),
        key_value("labels"),
        key_value("system_labels"),
        record(
            "location",
            "NULLABLE",
            vec![s("location"), s("country"), s("region"), s("zone")],
        ),
        field("export_time", "TIMESTAMP"),
        field("cost", "FLOAT"),
        s("currency"),
        field("currency_conversion_rate", "FLOAT"),
        record(
            "usage",
            "NULLABLE",
            vec![
                field("amount", "FLOAT"),
                s("unit"),
                field("amount_in_pricing_units", "FLOAT"),
                s("pricing_unit"),
            ],
        ),
        record(
            "credits",
            "REPEATED",
            vec![
                s("name"),
                field("amount", "FLOAT"),
                s("full_name"),
                s("id"),
                s("type"),
            ],
        ),
        record("invoice", "NULLABLE", vec![s("month")]),
        s("cost_type"),
    ];
    if detailed {
        fields.push(record(
            "resource",
            "NULLABLE",
            vec![s("name"), s("global_name")],
        ));
        fields.push(record(
            "price",
            "NULLABLE",
            vec![field("effective_price", "NUMERIC"), s("unit")],
        ));
    }
    Value::Array(fields)
}

/// The rows of `fixtures/gcp/bigquery_rows.jsonl`; without `detailed`, without the
/// resource-level fields.
pub fn fixture_rows(detailed: bool) -> Vec<Value> {
    let path = fixture_dir().join("bigquery_rows.jsonl");
    let text = std::fs::read_to_string(&path).expect("fixture rows");
    text.lines()
        .map(|l| {
            let mut row: Value = serde_json::from_str(l).expect("a JSON row");
            if !detailed && let Some(o) = row.as_object_mut() {
                o.remove("resource");
            }
            row
        })
        .collect()
}

/// `fixtures/gcp`, from the crate's tests or the root package's (which include this file).
pub fn fixture_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.join("fixtures/gcp");
    if root.is_dir() {
        root
    } else {
        manifest.join("../../fixtures/gcp")
    }
}

/// A table of `dataset` holding the fixture rows (and `extra` rows), standard or detailed.
pub fn export_table(dataset: &str, table: &str, detailed: bool, extra: &[Value]) {
    create_table(dataset, table, export_schema(detailed));
    let mut rows = fixture_rows(detailed);
    rows.extend_from_slice(extra);
    insert_rows(dataset, table, &rows);
}
