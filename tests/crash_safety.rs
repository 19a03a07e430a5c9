//! Crash safety of `carbonledger run` (issue 11): the batch job on a four-source config (an
//! AWS CUR folder with a generated bill big enough to be caught mid-write, a GCP export, a
//! FOCUS file and an Azure export) is killed with SIGKILL at seeded random points (12 times by
//! default, see [`iterations`]) and re-run to completion each time; every re-run must end with
//! the ledger an uninterrupted run gives.
//!
//! Half the iterations start from an empty ledger, half from a stale one (written by the same
//! sources with `method = "ccf"`), so kills also land while closed months' files are being
//! replaced and their old versions kept. The kill delays are drawn uniformly over the measured
//! duration of the uninterrupted run from the same start.
//!
//! "Identical" means: the same set of files under the ledger folder, every partition file and
//! every kept version byte for byte the same; `state.json` equal once the run times (`run_at`)
//! and the ledger's random id (`ledger_id`, drawn anew for an empty ledger) are left out;
//! `versions.jsonl` equal line by line once the replacement times (`replaced_at`) are left
//! out. Only the lock file (which holds the last run's pid and start time) is not compared.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Kills per test run: 12 by default (six from each start; about 5 min of a debug build on
/// two cores), `CARBONLEDGER_CRASH_ITERATIONS` for more (20 and more were run by hand).
fn iterations() -> usize {
    std::env::var("CARBONLEDGER_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

/// The seed of the kill delays; `CARBONLEDGER_CRASH_SEED` draws others.
fn seed() -> u64 {
    std::env::var("CARBONLEDGER_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261204)
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("carbonledger")
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The job folder: inputs, the two configs, and the ledger they write.
struct Job {
    dir: tempfile::TempDir,
}

const SOURCES: &str = r#"
[period]
months = ["2023-09", "2024-01", "2024-03", "2026-10"]

[[source]]
name = "aws-main"
kind = "aws-cur"
path = "cur"

[[source]]
name = "gcp"
kind = "gcp-export"
path = "gcp.csv"

[[source]]
name = "focus"
kind = "focus"
path = "focus.csv"

[[source]]
name = "azure"
kind = "azure-export"
path = "azure.csv"
"#;

impl Job {
    fn new() -> Job {
        let dir = tempfile::tempdir().expect("temp dir");
        let at = |p: &str| dir.path().join(p);
        fs::create_dir(at("cur")).expect("cur folder");
        fs::copy(
            fixture("sample/cur-sample-2026-10.csv.gz"),
            at("cur/cur-sample-2026-10.csv.gz"),
        )
        .expect("sample");
        let generated = Command::new(bin())
            .args(["generate-cur", "--lines", "12000", "--month", "2026-10"])
            .args(["--seed", "5", "--output"])
            .arg(at("cur/generated.csv"))
            .output()
            .expect("generates");
        assert!(generated.status.success(), "{}", stderr(&generated));
        fs::copy(fixture("gcp/export_mixed.csv"), at("gcp.csv")).expect("gcp");
        fs::copy(fixture("focus/aws_focus_1_2.csv"), at("focus.csv")).expect("focus");
        fs::copy(fixture("azure/ea_actual.csv"), at("azure.csv")).expect("azure");
        for (name, method) in [("default.toml", "default"), ("ccf.toml", "ccf")] {
            let text = format!("[ledger]\npath = \"ledger\"\nmethod = \"{method}\"\n{SOURCES}");
            fs::write(at(name), text).expect("config");
        }
        Job { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn ledger(&self) -> PathBuf {
        self.path("ledger")
    }

    fn command(&self, config: &str) -> Command {
        let mut command = Command::new(bin());
        command
            .args(["run", "--config"])
            .arg(self.path(config))
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// Runs the default config to completion; returns the run's duration.
    fn run(&self) -> Duration {
        let started = Instant::now();
        let out = self.command("default.toml").output().expect("runs");
        assert!(out.status.success(), "run failed:\n{}", stderr(&out));
        started.elapsed()
    }

    /// Replaces the ledger folder with a copy of `from` (or nothing).
    fn reset(&self, from: Option<&Path>) {
        let ledger = self.ledger();
        if ledger.exists() {
            fs::remove_dir_all(&ledger).expect("remove the ledger");
        }
        if let Some(from) = from {
            copy_tree(from, &ledger);
        }
    }
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("folder");
    for entry in fs::read_dir(from).expect("read folder") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    for entry in fs::read_dir(dir).expect("read folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(root, &path, out);
        } else {
            let relative = path.strip_prefix(root).expect("under root");
            out.push((relative.to_string_lossy().into_owned(), path));
        }
    }
}

/// `value` without the keys named `drop`, at any depth.
fn without(mut value: serde_json::Value, drop: &[&str]) -> serde_json::Value {
    match &mut value {
        serde_json::Value::Object(map) => {
            for key in drop {
                map.remove(*key);
            }
            for (_, v) in map.iter_mut() {
                *v = without(v.take(), drop);
            }
        }
        serde_json::Value::Array(items) => {
            for v in items.iter_mut() {
                *v = without(v.take(), drop);
            }
        }
        _ => {}
    }
    value
}

/// The ledger as compared (see the module docs): relative path → bytes.
fn snapshot(ledger: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = Vec::new();
    files(ledger, ledger, &mut found);
    let mut out = BTreeMap::new();
    for (relative, path) in found {
        let bytes = fs::read(&path).expect("read");
        let bytes = match relative.as_str() {
            "_carbonledger/lock" => continue,
            "_carbonledger/state.json" => {
                let state = serde_json::from_slice(&bytes).expect("state.json");
                serde_json::to_vec_pretty(&without(state, &["run_at", "ledger_id"])).expect("json")
            }
            "_carbonledger/versions.jsonl" => {
                let mut lines = Vec::new();
                for line in String::from_utf8(bytes).expect("utf-8").lines() {
                    let version = serde_json::from_str(line).expect("a version line");
                    lines.push(without(version, &["replaced_at"]).to_string());
                }
                lines.join("\n").into_bytes()
            }
            _ => bytes,
        };
        out.insert(relative, bytes);
    }
    out
}

/// What differs between two snapshots, for the failure message.
fn differences(
    expected: &BTreeMap<String, Vec<u8>>,
    found: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, bytes) in expected {
        match found.get(name) {
            None => out.push(format!("missing {name}")),
            Some(other) if other != bytes => {
                let detail = if name.ends_with(".json") || name.ends_with(".jsonl") {
                    format!(
                        "\n--- expected\n{}\n--- found\n{}",
                        String::from_utf8_lossy(bytes),
                        String::from_utf8_lossy(other)
                    )
                } else {
                    String::new()
                };
                out.push(format!("different {name}{detail}"));
            }
            Some(_) => {}
        }
    }
    for name in found.keys().filter(|n| !expected.contains_key(*n)) {
        out.push(format!("extra {name}"));
    }
    out
}

#[test]
fn a_run_killed_anywhere_and_rerun_ends_with_the_uninterrupted_ledger() {
    let job = Job::new();
    // The stale ledger: the same sources estimated with CCF's method.
    let out = job.command("ccf.toml").output().expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let stale = job.path("stale-ledger");
    copy_tree(&job.ledger(), &stale);

    // The references: uninterrupted runs from an empty and from the stale ledger.
    job.reset(None);
    let fresh_time = job.run();
    let fresh = snapshot(&job.ledger());
    job.reset(Some(&stale));
    let stale_time = job.run();
    let replaced = snapshot(&job.ledger());
    // The references are what they claim: four sources' partitions, and from the stale ledger
    // every closed month's CCF file kept as a version.
    let partitions = |s: &BTreeMap<String, Vec<u8>>| {
        s.keys()
            .filter(|k| k.starts_with("provider=") && k.ends_with(".parquet"))
            .count()
    };
    assert!(partitions(&fresh) >= 4, "{:?}", fresh.keys());
    assert_eq!(partitions(&fresh), partitions(&replaced));
    let kept = replaced
        .keys()
        .filter(|k| k.starts_with("_carbonledger/versions/"))
        .count();
    assert_eq!(kept, partitions(&fresh), "{:?}", replaced.keys());

    let mut rng = fastrand::Rng::with_seed(seed());
    let mut interrupted = 0;
    let iterations = iterations();
    for i in 0..iterations {
        let from_stale = i % 2 == 1;
        let (start, expected, duration) = match from_stale {
            true => (Some(stale.as_path()), &replaced, stale_time),
            false => (None, &fresh, fresh_time),
        };
        job.reset(start);
        let delay = duration.mul_f64(rng.f64());
        let mut child = job.command("default.toml").spawn().expect("starts");
        std::thread::sleep(delay);
        let finished = child.try_wait().expect("status").is_some();
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        if !finished {
            interrupted += 1;
        }
        let out = job.command("default.toml").output().expect("re-runs");
        assert!(
            out.status.success(),
            "iteration {i} (killed after {delay:?}): the re-run failed:\n{}",
            stderr(&out)
        );
        let found = snapshot(&job.ledger());
        let diff = differences(expected, &found);
        assert!(
            diff.is_empty(),
            "iteration {i} (from {}, killed after {delay:?}): the ledger differs from an \
             uninterrupted run's:\n{}",
            if from_stale {
                "the stale ledger"
            } else {
                "empty"
            },
            diff.join("\n")
        );
    }
    // Most kills land while the run is still going (a few near the end may come after it).
    assert!(
        interrupted >= iterations / 2,
        "{interrupted} runs interrupted"
    );
}
