//! moto servers for the tests, started once per test binary on 127.0.0.1 and stopped when
//! it exits (Linux parent-death signal).
//!
//! The server is `$CARBONLEDGER_MOTO_SERVER`, else the virtualenv `.ci/run` installs
//! (`$HOME/.cache/carbonledger-emulators/moto-venv/bin/moto_server`), else `moto_server` on
//! the `PATH`. Without one the tests fail and say how to install it: an emulator test that
//! silently passes would prove nothing.
//!
//! Three servers: one for S3 (tests use their own buckets, so they run in parallel), one for
//! Cost Explorer (its result queue is global: those tests take [`ce_lock`] and reset it), and
//! one that checks credentials (`INITIAL_NO_AUTH_ACTION_COUNT=0`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub struct Moto {
    pub url: String,
    _child: Child,
}

fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("CARBONLEDGER_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv =
            PathBuf::from(home).join(".cache/carbonledger-emulators/moto-venv/bin/moto_server");
        if venv.is_file() {
            return venv;
        }
    }
    PathBuf::from("moto_server")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start(auth: bool) -> Moto {
    let port = free_port();
    let server = moto_server();
    let mut command = Command::new(&server);
    command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if auth {
        command.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
    }
    // SAFETY: prctl only sets a flag of the child process before it runs moto.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    // The parent-death signal follows the thread that spawned the child, and test threads
    // end early: spawn moto from a thread that lives as long as the test binary.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(command.spawn());
        loop {
            std::thread::park();
        }
    });
    let child = receiver
        .recv()
        .expect("the spawning thread answers")
        .unwrap_or_else(|e| {
            panic!(
                "cannot start moto ({}: {e}); install it with \
                 `python3 -m pip install 'moto[server]'` or run .ci/run",
                server.display()
            )
        });
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Moto { url, _child: child };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto did not start on port {port} within 60 s");
}

/// The moto server for S3 tests.
pub fn s3_moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| start(false))
}

/// The moto server for Cost Explorer tests; hold [`ce_lock`] while using it.
pub fn ce_moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| start(false))
}

/// A moto server that refuses unknown credentials.
pub fn auth_moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| start(true))
}

/// Serialises the Cost Explorer tests and resets their server's state.
pub fn ce_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    post(&ce_moto().url, "/moto-api/reset", "");
    guard
}

/// Sends one HTTP/1.1 request to moto and returns the status line. The `Authorization`
/// header names the service in its credential scope, which is all moto needs of SigV4 while
/// it does not check credentials.
fn send(base: &str, method: &str, path: &str, service: &str, body: &[u8]) -> String {
    let host = base.trim_start_matches("http://");
    // Not a form type: moto would parse (and mangle) a form-encoded object body.
    let content_type = if service == "s3" {
        "application/octet-stream"
    } else {
        "application/json"
    };
    let mut stream = TcpStream::connect(host).expect("connect to moto");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/\
         aws4_request, SignedHeaders=host, Signature=x\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body).expect("send body");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("answer");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default().to_owned();
    assert!(
        status.contains(" 200") || status.contains(" 201"),
        "moto {method} {path}: {answer}"
    );
    status
}

/// POSTs a JSON body to moto's own API.
pub fn post(base: &str, path: &str, body: &str) -> String {
    send(base, "POST", path, "moto", body.as_bytes())
}

/// Creates `bucket` in the S3 of `base`.
pub fn create_bucket(base: &str, bucket: &str) {
    send(base, "PUT", &format!("/{bucket}"), "s3", b"");
}

/// Stores `body` as `key` in `bucket`.
pub fn put_object(base: &str, bucket: &str, key: &str, body: &[u8]) {
    send(base, "PUT", &format!("/{bucket}/{key}"), "s3", body);
}

/// Queues Cost Explorer results: each distinct request body takes the next one.
pub fn queue_cost_explorer(results: &[serde_json::Value]) {
    let body = serde_json::json!({ "results": results }).to_string();
    post(
        &ce_moto().url,
        "/moto-api/static/ce/cost-and-usage-results",
        &body,
    );
}

/// Static test credentials moto accepts (any value works while auth is off).
pub fn test_credentials() {
    // SAFETY: every test sets the same values, before any client reads them.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing-secret-never-logged");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::remove_var("AWS_PROFILE");
    }
}
