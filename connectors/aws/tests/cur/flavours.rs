//! The same lines in every header flavour and file format read to the same usage rows.

use carbonledger_aws::{CostMeasure, Flavour, cur_flavour, looks_like_cur};

use crate::common::*;

fn contents(read: &Read) -> Vec<Row> {
    read.rows.iter().map(Row::content).collect()
}

#[test]
fn legacy_csv_gzip_athena_parquet_and_cur2_give_the_same_rows() {
    let legacy = read_ok(&fixture("legacy_mixed.csv"));
    assert!(!legacy.rows.is_empty());
    let expected = contents(&legacy);

    let gz = read_ok(&fixture("legacy_mixed.csv.gz"));
    assert_eq!(contents(&gz), expected, "gzip CSV");
    // Same lines, so the same line numbers; the source names the .gz file.
    let lines = |r: &Read| r.rows.iter().map(|x| x.source_line).collect::<Vec<_>>();
    assert_eq!(lines(&gz), lines(&legacy));
    assert!(gz.rows[0].source.ends_with("legacy_mixed.csv.gz"));

    let cur2 = read_ok(&fixture("cur2_mixed.csv"));
    assert_eq!(contents(&cur2), expected, "CUR 2.0 CSV with JSON maps");

    let dir = tempfile::tempdir().expect("temp dir");
    let athena = dir.path().join("athena.parquet");
    write_athena_parquet(&athena);
    let athena_read = read_ok(&athena);
    assert_eq!(contents(&athena_read), expected, "Athena Parquet");
    // Parquet rows are numbered from 1.
    assert_eq!(athena_read.rows[0].source_line, Some(1));

    let cur2_parquet = dir.path().join("cur2.parquet");
    write_cur2_parquet(&cur2_parquet);
    assert_eq!(
        contents(&read_ok(&cur2_parquet)),
        expected,
        "CUR 2.0 Parquet with MAP columns"
    );
}

#[test]
fn totals_agree_across_flavours() {
    let legacy = read_ok(&fixture("legacy_mixed.csv")).totals;
    let cur2 = read_ok(&fixture("cur2_mixed.csv")).totals;
    assert_eq!(legacy, cur2);
    assert_eq!(legacy.cost.keys().collect::<Vec<_>>(), ["USD"]);
}

#[test]
fn cur_headers_are_recognised_in_every_flavour() {
    let header = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let (legacy, _) = csv_records(&fixture("legacy_mixed.csv"));
    let (cur2, _) = csv_records(&fixture("cur2_mixed.csv"));
    assert!(looks_like_cur(&legacy));
    assert!(looks_like_cur(&cur2));
    let athena: Vec<String> = legacy.iter().map(|h| snake(h)).collect();
    assert!(looks_like_cur(&athena));
    assert_eq!(cur_flavour(&legacy), Some(Flavour::Legacy));
    assert_eq!(cur_flavour(&athena), Some(Flavour::Athena));
    assert_eq!(cur_flavour(&cur2), Some(Flavour::Cur2));
    assert!(!looks_like_cur(&header(&[
        "BillingAccountId",
        "ServiceName",
        "BilledCost"
    ])));
    assert!(!looks_like_cur(&header(&["lineItem/UsageType"])));
}

#[test]
fn header_only_file_reads_to_nothing() {
    let read = read(&fixture("header_only.csv"), CostMeasure::Unblended).expect("reads");
    assert_eq!(read.rows.len(), 0);
    assert_eq!(read.totals.rows, 0);
    assert!(read.totals.cost.is_empty());
}

#[test]
fn large_files_stream_in_batches_with_continuous_line_numbers() {
    // 70,000 copies of the m5.xlarge line: more than one 65,536-row batch.
    let (header, records) = csv_records(&fixture("legacy_mixed.csv"));
    let n = 70_000;
    let rows: Vec<Vec<String>> = (0..n).map(|_| records[0].clone()).collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.csv");
    write_csv(&path, &header, &rows);
    let read = read_ok(&path);
    assert!(read.batches >= 2, "{} batches", read.batches);
    assert_eq!(read.totals.rows, n as u64);
    let lines: Vec<u64> = read.rows.iter().filter_map(|r| r.source_line).collect();
    assert_eq!(lines, (2..n as u64 + 2).collect::<Vec<_>>());
    let vcpu_hours: f64 = read.rows.iter().map(|r| r.vcpu_hours).sum();
    assert_eq!(vcpu_hours, 40.0 * n as f64);
}
