//! An Azurite Blob server for the tests, started once per test binary on a free port of
//! 127.0.0.1 (in memory, no telemetry, any API version) and stopped when the binary exits
//! (Linux parent-death signal).
//!
//! The server is `$CARBONLEDGER_AZURITE` (the `azurite-blob` script), else the npm install
//! `.ci/run` makes (`$HOME/.cache/carbonledger-emulators/azurite/node_modules/.bin/
//! azurite-blob`), else `azurite-blob` on the `PATH`. Without one the tests fail and say how to
//! install it: an emulator test that silently passed would prove nothing.

use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Azurite's well-known development account and its published key.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

pub struct Azurite {
    /// `http://127.0.0.1:PORT` (the account is the first path segment).
    pub endpoint: String,
    _child: Child,
}

fn azurite_blob() -> PathBuf {
    if let Some(path) = std::env::var_os("CARBONLEDGER_AZURITE") {
        return PathBuf::from(path);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let npm = PathBuf::from(home)
            .join(".cache/carbonledger-emulators/azurite/node_modules/.bin/azurite-blob");
        if npm.is_file() {
            return npm;
        }
    }
    PathBuf::from("azurite-blob")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start() -> Azurite {
    let port = free_port();
    let server = azurite_blob();
    let mut command = Command::new(&server);
    command
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
        .args(["--skipApiVersionCheck", "--loose", "--disableTelemetry"])
        .arg("--inMemoryPersistence")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl only sets a flag of the child process before it runs node.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    // The parent-death signal follows the thread that spawned the child, and test threads
    // end early: spawn Azurite from a thread that lives as long as the test binary.
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
                "cannot start Azurite ({}: {e}); install it with `npm install azurite@3.35.0` \
                 in ~/.cache/carbonledger-emulators/azurite, set CARBONLEDGER_AZURITE, or run \
                 .ci/run",
                server.display()
            )
        });
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Azurite {
                endpoint: format!("http://127.0.0.1:{port}"),
                _child: child,
            };
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("Azurite did not start on port {port} within 60 s");
}

/// The Azurite server of this test binary.
pub fn azurite() -> &'static Azurite {
    static AZURITE: OnceLock<Azurite> = OnceLock::new();
    AZURITE.get_or_init(start)
}
