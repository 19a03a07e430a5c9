//! Delivery folders: which files of a billing period are read.

use std::path::Path;

use carbonledger_aws::{CostMeasure, LayoutKind};
use carbonledger_usage::UsageSource;

use crate::common::*;

/// The usage types of `legacy_mixed.csv` lines `from..to` (0-based data rows).
fn legacy_usage_types(from: usize, to: usize) -> Vec<String> {
    let (header, records) = csv_records(&fixture("legacy_mixed.csv"));
    let k = header
        .iter()
        .position(|h| h == "lineItem/UsageType")
        .expect("usage type column");
    records[from..to].iter().map(|r| r[k].clone()).collect()
}

fn usage_types(read: &Read) -> Vec<String> {
    read.rows.iter().map(|r| r.usage_type.clone()).collect()
}

fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .expect("under root")
        .display()
        .to_string()
}

#[test]
fn legacy_layout_reads_the_assembly_the_period_manifest_names() {
    let root = fixture("legacy_layout");
    let mut source = open(&root, CostMeasure::Unblended).expect("opens");
    assert_eq!(source.layout_kind(), LayoutKind::LegacyFolder);
    assert_eq!(source.periods(), ["20231101-20231201", "20231201-20240101"]);
    let files: Vec<String> = source.files().iter().map(|f| relative(f, &root)).collect();
    assert_eq!(
        files,
        [
            "cur-report/20231101-20231201/b2222222-new/cur-report-1.csv.gz",
            "cur-report/20231101-20231201/b2222222-new/cur-report-2.csv.gz",
            "cur-report/20231201-20240101/c3333333-only/cur-report-1.csv.gz",
        ]
    );
    let description = source.describe();
    assert!(
        description.contains("2 billing periods, 3 files"),
        "{description}"
    );
    let read = read_source(&mut source).expect("reads");
    // The new assembly holds lines 1–6, the December period lines 7–9; the old assembly
    // (lines 1–2) is not read.
    assert_eq!(usage_types(&read), legacy_usage_types(0, 9));
}

#[test]
fn without_a_period_manifest_the_newest_assembly_manifest_wins() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture("legacy_layout"), dir.path());
    let period = dir.path().join("cur-report/20231101-20231201");
    std::fs::remove_file(period.join("cur-report-Manifest.json")).expect("remove");
    set_mtime(
        &period.join("b2222222-new/cur-report-Manifest.json"),
        1_700_000_000,
    );
    set_mtime(
        &period.join("a1111111-old/cur-report-Manifest.json"),
        1_700_000_100,
    );
    let read = read(dir.path(), CostMeasure::Unblended).expect("reads");
    let mut expected = legacy_usage_types(0, 2);
    expected.extend(legacy_usage_types(6, 9));
    assert_eq!(usage_types(&read), expected);
}

#[test]
fn without_any_manifest_the_newest_assembly_folder_wins() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture("legacy_layout"), dir.path());
    let report = dir.path().join("cur-report");
    for manifest in [
        "20231101-20231201/cur-report-Manifest.json",
        "20231101-20231201/a1111111-old/cur-report-Manifest.json",
        "20231101-20231201/b2222222-new/cur-report-Manifest.json",
        "20231201-20240101/cur-report-Manifest.json",
        "20231201-20240101/c3333333-only/cur-report-Manifest.json",
    ] {
        std::fs::remove_file(report.join(manifest)).expect("remove");
    }
    let period = report.join("20231101-20231201");
    set_mtime(
        &period.join("a1111111-old/cur-report-1.csv.gz"),
        1_700_000_000,
    );
    set_mtime(
        &period.join("b2222222-new/cur-report-1.csv.gz"),
        1_700_000_100,
    );
    set_mtime(
        &period.join("b2222222-new/cur-report-2.csv.gz"),
        1_700_000_100,
    );
    let read = read(dir.path(), CostMeasure::Unblended).expect("reads");
    assert_eq!(usage_types(&read), legacy_usage_types(0, 9));
}

#[test]
fn a_manifest_naming_a_missing_part_is_an_error_naming_both() {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&fixture("legacy_layout"), dir.path());
    let part = dir
        .path()
        .join("cur-report/20231101-20231201/b2222222-new/cur-report-2.csv.gz");
    std::fs::remove_file(&part).expect("remove");
    let err = open(dir.path(), CostMeasure::Unblended)
        .err()
        .expect("fails")
        .to_string();
    assert!(
        err.contains("20231101-20231201/cur-report-Manifest.json"),
        "{err}"
    );
    assert!(
        err.contains("reports/cur-report/20231101-20231201/b2222222-new/cur-report-2.csv.gz"),
        "{err}"
    );
}

#[test]
fn cur2_layout_reads_the_manifests_data_files() {
    let root = fixture("cur2_layout");
    let mut source = open(&root, CostMeasure::Unblended).expect("opens");
    assert_eq!(source.layout_kind(), LayoutKind::Cur2Folder);
    assert_eq!(source.periods(), ["BILLING_PERIOD=2023-11"]);
    assert_eq!(source.files().len(), 2);
    let read = read_source(&mut source).expect("reads");
    let whole = read_ok(&fixture("cur2_mixed.csv"));
    let content = |r: &Read| r.rows.iter().map(Row::content).collect::<Vec<_>>();
    assert_eq!(content(&read), content(&whole));
    assert_eq!(read.totals, whole.totals);

    let dir = tempfile::tempdir().expect("temp dir");
    copy_dir(&root, dir.path());
    let data = dir.path().join("my-export/data/BILLING_PERIOD=2023-11");
    std::fs::remove_file(data.join("my-export-00002.csv.gz")).expect("remove");
    let err = open(dir.path(), CostMeasure::Unblended)
        .err()
        .expect("fails")
        .to_string();
    assert!(err.contains("my-export-Manifest.json"), "{err}");
    let key = "s3://example-bucket/exports/my-export/data/BILLING_PERIOD=2023-11/\
               my-export-00002.csv.gz";
    assert!(err.contains(key), "{err}");
}

#[test]
fn a_plain_folder_reads_every_cur_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["legacy_mixed.csv", "cur2_mixed.csv"] {
        std::fs::copy(fixture(name), dir.path().join(name)).expect("copy");
    }
    std::fs::write(dir.path().join("notes.txt"), "not a CUR").expect("write");
    let mut source = open(dir.path(), CostMeasure::Unblended).expect("opens");
    assert_eq!(source.layout_kind(), LayoutKind::PlainFolder);
    let read = read_source(&mut source).expect("reads");
    let one = read_ok(&fixture("legacy_mixed.csv"));
    assert_eq!(read.rows.len(), 2 * one.rows.len());
    assert_eq!(read.totals.rows, 2 * one.totals.rows);
}

#[test]
fn cur2_create_new_mode_reads_the_newest_execution() {
    // data/ and metadata/ with one folder per execution; no period-level manifest.
    let dir = tempfile::tempdir().expect("temp dir");
    let export = dir.path().join("my-export");
    let parts = fixture("cur2_layout/my-export/data/BILLING_PERIOD=2023-11");
    for (execution, part, mtime) in [
        ("exec-old", "my-export-00001.csv.gz", 1_700_000_000),
        ("exec-new", "my-export-00002.csv.gz", 1_700_000_100),
    ] {
        let data = export.join("data/BILLING_PERIOD=2023-11").join(execution);
        let metadata = export
            .join("metadata/BILLING_PERIOD=2023-11")
            .join(execution);
        std::fs::create_dir_all(&data).expect("folder");
        std::fs::create_dir_all(&metadata).expect("folder");
        std::fs::copy(parts.join(part), data.join(part)).expect("copy");
        let key = format!("s3://bucket/x/my-export/data/BILLING_PERIOD=2023-11/{execution}/{part}");
        let manifest = metadata.join("my-export-Manifest.json");
        std::fs::write(&manifest, format!(r#"{{"dataFiles": ["{key}"]}}"#)).expect("write");
        set_mtime(&manifest, mtime);
    }
    let mut source = open(dir.path(), CostMeasure::Unblended).expect("opens");
    let files: Vec<String> = source
        .files()
        .iter()
        .map(|f| relative(f, dir.path()))
        .collect();
    assert_eq!(
        files,
        ["my-export/data/BILLING_PERIOD=2023-11/exec-new/my-export-00002.csv.gz"]
    );
    let read = read_source(&mut source).expect("reads");
    // The second part holds lines 11–31 of the fixture.
    assert_eq!(usage_types(&read), legacy_usage_types(10, 31));
}

#[test]
fn overwrite_mode_without_manifest_reads_the_parts_in_the_period_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let period = dir.path().join("cur-report/20231101-20231201");
    std::fs::create_dir_all(&period).expect("folder");
    let assembly = fixture("legacy_layout/cur-report/20231101-20231201/b2222222-new");
    for part in ["cur-report-1.csv.gz", "cur-report-2.csv.gz"] {
        std::fs::copy(assembly.join(part), period.join(part)).expect("copy");
    }
    let read = read(dir.path(), CostMeasure::Unblended).expect("reads");
    assert_eq!(usage_types(&read), legacy_usage_types(0, 6));
}
