//! `carbonledger run --config FILE`, the scheduled job, as a user runs it: partitions by
//! provider and month that hold exactly what `estimate` gives for the same input, a second run
//! that skips unchanged sources and leaves every byte alone, a restated closed month whose old
//! file is kept with its run time and factor set, a run refused while another holds the lock,
//! a killed run that leaves the previous ledger intact, a failing source that does not stop
//! the others (exit 4), and configuration mistakes (exit 2).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use polars::prelude::*;

fn bin() -> Command {
    Command::cargo_bin("carbonledger").expect("binary")
}

fn run_job(config: &Path) -> Output {
    bin()
        .args(["run", "--config", config.to_str().expect("utf-8")])
        .output()
        .expect("runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    out
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// A job folder: the sample CUR and a GCP export copied in, and a config naming them.
struct JobDir {
    dir: tempfile::TempDir,
}

impl JobDir {
    fn new() -> JobDir {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::create_dir(dir.path().join("cur")).expect("cur folder");
        fs::copy(
            fixture("sample/cur-sample-2026-10.csv.gz"),
            dir.path().join("cur/cur-sample-2026-10.csv.gz"),
        )
        .expect("sample");
        fs::copy(fixture("gcp/export_mixed.csv"), dir.path().join("gcp.csv")).expect("gcp");
        let job = JobDir { dir };
        job.config(
            r#"
[[source]]
name = "aws-main"
kind = "aws-cur"
path = "cur"

[[source]]
name = "gcp"
kind = "gcp-export"
path = "gcp.csv"
"#,
        );
        job
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn config(&self, sources: &str) -> PathBuf {
        let months = r#"months = ["2024-01", "2024-03", "2026-10"]"#;
        let text = format!("[ledger]\npath = \"ledger\"\n\n[period]\n{months}\n{sources}");
        let file = self.path("carbonledger.toml");
        fs::write(&file, text).expect("config");
        file
    }

    fn run(&self) -> Output {
        run_job(&self.path("carbonledger.toml"))
    }

    fn partition(&self, provider: &str, month: &str, source: &str) -> PathBuf {
        self.path(&format!(
            "ledger/provider={provider}/month={month}/{source}.parquet"
        ))
    }
}

fn read_parquet(path: &Path) -> DataFrame {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(file).finish().expect("parquet")
}

/// The ledger `estimate` writes for `input` (run from `dir`, so `source` paths agree).
fn estimate_ledger(dir: &Path, input: &str) -> DataFrame {
    let out = dir.join("estimate.parquet");
    let result = bin()
        .current_dir(dir)
        .args([
            "estimate", "--input", input, "--format", "parquet", "--output",
        ])
        .arg(&out)
        .output()
        .expect("runs");
    assert!(result.status.success(), "{}", stderr(&result));
    read_parquet(&out)
}

fn sha256(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(fs::read(path).expect("file")))
}

#[test]
fn partitions_hold_what_estimate_gives_and_an_unchanged_rerun_skips() {
    let job = JobDir::new();
    let first = ok(job.run());
    let aws = job.partition("aws", "2026-10", "aws-main");
    let gcp = job.partition("gcp", "2024-01", "gcp");
    let written = read_parquet(&aws);
    // The job's partition is the estimate of the same folder, row for row. The job reads
    // paths as the config resolves them (absolute), so compare with the same absolute input.
    let expected = estimate_ledger(job.dir.path(), job.path("cur").to_str().expect("utf-8"));
    assert_eq!(written.height(), expected.height());
    assert!(
        written.equals_missing(&expected),
        "partition differs from estimate's ledger"
    );
    let gcp_rows = read_parquet(&gcp).height();
    assert_eq!(
        gcp_rows,
        csv::Reader::from_path(job.path("gcp.csv"))
            .expect("csv")
            .records()
            .count()
    );
    assert!(stderr(&first).contains("partitions written [\"provider=aws/month=2026-10\"]"));
    // Not a terminal: plain progress lines, no control characters.
    assert!(
        stderr(&first).contains("aws-main: reading AWS CUR folder"),
        "{}",
        stderr(&first)
    );
    assert!(
        stderr(&first).contains("aws-main: 3000 rows in "),
        "{}",
        stderr(&first)
    );
    assert!(!stderr(&first).contains('\u{1b}'));

    let before = (
        sha256(&aws),
        fs::metadata(&aws).expect("meta").modified().expect("mtime"),
    );
    let second = ok(job.run());
    assert!(
        stderr(&second).contains("aws-main: skipped, unchanged since"),
        "{}",
        stderr(&second)
    );
    assert!(stderr(&second).contains("gcp: skipped"));
    let after = (
        sha256(&aws),
        fs::metadata(&aws).expect("meta").modified().expect("mtime"),
    );
    assert_eq!(before, after);

    // A new modification time makes the job read again; the bytes come out the same and the
    // file is left alone.
    let input = job.path("gcp.csv");
    let text = fs::read(&input).expect("gcp");
    fs::write(&input, text).expect("rewrite");
    let gcp_before = sha256(&gcp);
    let third = ok(job.run());
    assert!(
        stderr(&third)
            .contains("gcp: partitions written [], unchanged [\"provider=gcp/month=2024-01\"]"),
        "{}",
        stderr(&third)
    );
    assert_eq!(sha256(&gcp), gcp_before);
    assert!(!job.path("ledger/_carbonledger/versions.jsonl").exists());
}

#[test]
fn a_restated_closed_month_keeps_the_old_file_with_its_run_and_factor_set() {
    let job = JobDir::new();
    ok(job.run());
    let gcp = job.partition("gcp", "2024-01", "gcp");
    let old_sha = sha256(&gcp);
    let old_cost: f64 = read_parquet(&gcp)
        .column("cost")
        .expect("cost")
        .f64()
        .expect("f64")
        .sum()
        .unwrap_or(0.0);

    // A late credit: one more row in January 2024.
    let input = job.path("gcp.csv");
    let text = fs::read_to_string(&input).expect("gcp");
    let last = text.lines().last().expect("a row").to_owned();
    fs::write(&input, format!("{}\n{last}\n", text.trim_end())).expect("restate");
    let out = ok(job.run());
    assert!(
        stderr(&out).contains("old versions kept [\"provider=gcp/month=2024-01\"]"),
        "{}",
        stderr(&out)
    );
    let log = fs::read_to_string(job.path("ledger/_carbonledger/versions.jsonl")).expect("log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 1);
    let version = &lines[0];
    assert_eq!(version["sha256"], old_sha.as_str());
    assert_eq!(version["partition"], "provider=gcp/month=2024-01");
    assert!(
        version["factor_set"]
            .as_str()
            .is_some_and(|f| f.starts_with("default "))
    );
    assert!(version["run_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let kept = job
        .path("ledger")
        .join(version["file"].as_str().expect("file"));
    assert_eq!(sha256(&kept), old_sha);
    let kept_cost: f64 = read_parquet(&kept)
        .column("cost")
        .expect("cost")
        .f64()
        .expect("f64")
        .sum()
        .unwrap_or(0.0);
    assert_eq!(kept_cost, old_cost);
    assert_eq!(
        read_parquet(&gcp).height(),
        read_parquet(&kept).height() + 1
    );
    // The open month (October 2026 is before today, so it is closed too) was not touched.
    assert!(
        stderr(&out).contains("aws-main: skipped"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_run_is_refused_while_another_holds_the_lock() {
    let job = JobDir::new();
    ok(job.run());
    let lock = fs::OpenOptions::new()
        .write(true)
        .open(job.path("ledger/_carbonledger/lock"))
        .expect("lock file");
    lock.try_lock().expect("this test takes the lock");
    let out = job.run();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("another carbonledger run is writing this ledger"));
    drop(lock);
    ok(job.run());
}

#[test]
fn a_killed_run_leaves_the_previous_ledger_and_a_rerun_completes() {
    let job = JobDir::new();
    job.config(
        r#"
[[source]]
name = "aws-big"
kind = "aws-cur"
path = "big"
"#,
    );
    fs::create_dir(job.path("big")).expect("folder");
    fs::copy(
        fixture("sample/cur-sample-2026-10.csv.gz"),
        job.path("big/cur-sample-2026-10.csv.gz"),
    )
    .expect("sample");
    ok(job.run());
    let partition = job.partition("aws", "2026-10", "aws-big");
    let state = job.path("ledger/_carbonledger/state.json");
    let before = (sha256(&partition), fs::read(&state).expect("state"));

    // A bill big enough to be killed while it is written.
    let big = job.path("big/more.csv");
    let generated = bin()
        .args([
            "generate-cur",
            "--lines",
            "120000",
            "--month",
            "2026-10",
            "--output",
        ])
        .arg(&big)
        .output()
        .expect("generates");
    assert!(generated.status.success(), "{}", stderr(&generated));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("carbonledger"))
        .args(["run", "--config"])
        .arg(job.path("carbonledger.toml"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let folder = partition.parent().expect("partition folder").to_path_buf();
    let deadline = Instant::now() + Duration::from_secs(120);
    let partial = loop {
        let found = fs::read_dir(&folder)
            .expect("folder")
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().starts_with(".partial-"));
        if let Some(entry) = found {
            break entry.path();
        }
        assert!(
            child.try_wait().expect("status").is_none(),
            "the run ended before it wrote"
        );
        assert!(Instant::now() < deadline, "no partial file appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Readers globbing the documented `provider=*/month=*/*.parquet` never see it.
    assert!(partial.extension().is_none(), "{}", partial.display());
    child.kill().expect("kill");
    child.wait().expect("reaped");
    assert_eq!(
        (sha256(&partition), fs::read(&state).expect("state")),
        before
    );

    let out = ok(job.run());
    assert!(!partial.exists(), "the leftover was not removed");
    assert!(stderr(&out).contains("partitions written [\"provider=aws/month=2026-10\"]"));
    let rows = read_parquet(&partition).height();
    assert_eq!(rows, 3000 + 120_000);
}

#[test]
fn a_failing_source_does_not_stop_the_others() {
    let job = JobDir::new();
    fs::copy(fixture("aws/bad_number.csv"), job.path("bad.csv")).expect("bad");
    let config = job.config(
        r#"
[[source]]
name = "broken"
kind = "aws-cur"
path = "bad.csv"

[[source]]
name = "gcp"
kind = "gcp-export"
path = "gcp.csv"
"#,
    );
    let out = run_job(&config);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("broken: FAILED:") && text.contains("bad.csv"),
        "{text}"
    );
    assert!(text.contains("1 of 2 sources failed: broken"), "{text}");
    assert!(job.partition("gcp", "2024-01", "gcp").exists());
    let mut left = Vec::new();
    let mut folders = vec![job.path("ledger")];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder)
            .expect("folder")
            .filter_map(|e| e.ok())
        {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.to_string_lossy().contains("broken") {
                left.push(path);
            }
        }
    }
    assert!(left.is_empty(), "the failed source left files: {left:?}");
}

#[test]
fn configuration_mistakes_exit_2_naming_the_line() {
    let job = JobDir::new();
    let config = job.config(
        r#"
[[source]]
name = "aws-main"
kind = "aws-cur"
paht = "cur"
"#,
    );
    let out = run_job(&config);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(
        text.contains("carbonledger.toml:10:1: unknown field `paht`"),
        "{text}"
    );
    assert!(
        !job.path("ledger").exists(),
        "nothing is written for a bad config"
    );
}

#[test]
fn a_changed_config_or_a_rewritten_file_is_read_again() {
    let job = JobDir::new();
    ok(job.run());
    // The same file rewritten with other numbers, its size and modification time put back:
    // the status-change time still tells.
    let input = job.path("gcp.csv");
    let meta = fs::metadata(&input).expect("meta");
    let text = fs::read_to_string(&input).expect("gcp");
    let changed = text.replacen(",0.126,USD,", ",0.127,USD,", 1);
    assert!(changed != text, "the fixture has a cost of 0.126 to change");
    assert_eq!(changed.len(), text.len());
    fs::write(&input, &changed).expect("rewrite");
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&input)
        .expect("open");
    file.set_modified(meta.modified().expect("mtime"))
        .expect("set mtime");
    drop(file);
    assert_eq!(fs::metadata(&input).expect("meta").len(), meta.len());
    let out = ok(job.run());
    assert!(
        stderr(&out).contains("gcp: partitions written [\"provider=gcp/month=2024-01\"]"),
        "{}",
        stderr(&out)
    );

    // Another cost measure in the config: read again, not skipped.
    let config = job.config(
        r#"
[[source]]
name = "aws-main"
kind = "aws-cur"
path = "cur"
cost = "amortized"

[[source]]
name = "gcp"
kind = "gcp-export"
path = "gcp.csv"
"#,
    );
    let out = ok(run_job(&config));
    let text = stderr(&out);
    assert!(!text.contains("aws-main: skipped"), "{text}");
    assert!(text.contains("gcp: skipped"), "{text}");
}

#[test]
fn a_source_the_config_no_longer_names_is_warned_about() {
    let job = JobDir::new();
    ok(job.run());
    let config = job.config(
        r#"
[[source]]
name = "aws-renamed"
kind = "aws-cur"
path = "cur"
"#,
    );
    let out = ok(run_job(&config));
    let text = stderr(&out);
    assert!(
        text.contains("holds files of source \"aws-main\""),
        "{text}"
    );
    assert!(text.contains("holds files of source \"gcp\""), "{text}");
    assert!(job.partition("aws", "2026-10", "aws-main").exists());

    // `--prune` removes them; closed months' files are kept as versions.
    let old = sha256(&job.partition("gcp", "2024-01", "gcp"));
    let out = bin()
        .args([
            "run",
            "--prune",
            "--config",
            config.to_str().expect("utf-8"),
        ])
        .output()
        .expect("runs");
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("gcp: pruned (no longer in the config)"),
        "{text}"
    );
    assert!(!job.partition("aws", "2026-10", "aws-main").exists());
    assert!(!job.partition("gcp", "2024-01", "gcp").exists());
    assert!(job.partition("aws", "2026-10", "aws-renamed").exists());
    let log = fs::read_to_string(job.path("ledger/_carbonledger/versions.jsonl")).expect("log");
    assert!(log.contains(&old), "{log}");
    let state = fs::read_to_string(job.path("ledger/_carbonledger/state.json")).expect("state");
    assert!(
        !state.contains("\"gcp\"") && state.contains("\"aws-renamed\""),
        "{state}"
    );
    // Nothing left to warn about.
    let out = ok(run_job(&config));
    assert!(
        !stderr(&out).contains("warning: the ledger holds"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_provider_name_cannot_leave_the_ledger_folder() {
    let job = JobDir::new();
    // An OCI FOCUS file whose provider name holds a path.
    let text = fs::read_to_string(fixture("focus/oci_focus_1_0.csv")).expect("oci");
    let header = text.lines().next().expect("header");
    let at = header
        .split(',')
        .position(|c| c == "ProviderName")
        .expect("ProviderName");
    let mut out = vec![header.to_owned()];
    for line in text.lines().skip(1) {
        let mut fields: Vec<String> = line.split(',').map(String::from).collect();
        fields[at] = "x/../../escaped".into();
        out.push(fields.join(","));
    }
    fs::write(job.path("oci.csv"), out.join("\n") + "\n").expect("oci copy");
    let config = job.config(
        r#"
[[source]]
name = "oci"
kind = "focus"
path = "oci.csv"
"#,
    );
    let result = run_job(&config);
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(!job.path("escaped").exists() && !job.dir.path().join("../escaped").exists());
    let providers: Vec<String> = fs::read_dir(job.path("ledger"))
        .expect("ledger")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("provider="))
        .collect();
    assert_eq!(
        providers,
        ["provider=x_______escaped"],
        "{}",
        stderr(&result)
    );
}

#[test]
fn a_restated_open_month_is_replaced_without_keeping_a_version() {
    let job = JobDir::new();
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    fs::create_dir(job.path("open")).expect("folder");
    let bill = job.path("open/bill.csv");
    let generate = |lines: &str| {
        let out = bin()
            .args([
                "generate-cur",
                "--lines",
                lines,
                "--month",
                &month,
                "--output",
            ])
            .arg(&bill)
            .output()
            .expect("generates");
        assert!(out.status.success(), "{}", stderr(&out));
    };
    generate("300");
    let text = format!(
        "[ledger]\npath = \"ledger\"\n\n[period]\nmonths = [\"{month}\"]\n\n\
         [[source]]\nname = \"open\"\nkind = \"aws-cur\"\npath = \"open\"\n"
    );
    let config = job.path("open.toml");
    fs::write(&config, text).expect("config");
    ok(run_job(&config));
    // The open month's bill grows: its file is replaced, and no old version is kept.
    generate("400");
    let out = ok(run_job(&config));
    let key = format!("provider=aws/month={month}");
    assert!(
        stderr(&out).contains(&format!(
            "partitions written [\"{key}\"], unchanged [], removed [], old versions kept []"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        read_parquet(&job.partition("aws", &month, "open")).height(),
        400
    );
    assert!(!job.path("ledger/_carbonledger/versions.jsonl").exists());
}
