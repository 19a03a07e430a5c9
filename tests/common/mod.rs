//! Test helpers shared by the CLI tests over the partitioned ledger (`cli_query.rs`,
//! `cli_top.rs`): the fixture folder and one ledger built by the real job.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A file under `fixtures/`.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// A ledger folder (`<dir>/ledger`) written by `carbonledger run` with two providers and three
/// months: the sample CUR (AWS, 2026-10), the mixed GCP export (2024-01) and an AWS FOCUS file
/// (2024-03).
pub fn three_month_ledger() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path();
    fs::create_dir(path.join("cur")).expect("cur");
    fs::copy(
        fixture("sample/cur-sample-2026-10.csv.gz"),
        path.join("cur/cur-sample-2026-10.csv.gz"),
    )
    .expect("sample");
    fs::copy(fixture("gcp/export_mixed.csv"), path.join("gcp.csv")).expect("gcp");
    fs::copy(fixture("focus/aws_focus_1_2.csv"), path.join("focus.csv")).expect("focus");
    let config = "[ledger]\npath = \"ledger\"\n[period]\n\
                  months = [\"2024-01\", \"2024-03\", \"2026-10\"]\n\
                  [[source]]\nname = \"aws\"\nkind = \"aws-cur\"\npath = \"cur\"\n\
                  [[source]]\nname = \"gcp\"\nkind = \"gcp-export\"\npath = \"gcp.csv\"\n\
                  [[source]]\nname = \"focus\"\nkind = \"focus\"\npath = \"focus.csv\"\n";
    fs::write(path.join("c.toml"), config).expect("config");
    let out = Command::cargo_bin("carbonledger")
        .expect("binary")
        .current_dir(path)
        .args(["run", "--config", "c.toml"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}
