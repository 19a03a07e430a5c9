//! Broken inputs fail with an error that says where: the file, the line and the column.

use std::io::Read as _;

use carbonledger_aws::CostMeasure;
use carbonledger_usage::{Location, SourceError};

use crate::common::*;

fn location(err: &SourceError) -> &Location {
    match err {
        SourceError::Invalid { location, .. } => location,
        other => panic!("expected an invalid-input error, got {other}"),
    }
}

fn read_err(name: &str) -> SourceError {
    read(&fixture(name), CostMeasure::Unblended)
        .err()
        .unwrap_or_else(|| panic!("{name} reads"))
}

#[test]
fn missing_required_column_names_file_line_1_and_column() {
    let err = read_err("missing_usage_amount.csv");
    let at = location(&err);
    assert!(at.source.ends_with("missing_usage_amount.csv"), "{err}");
    assert_eq!(
        (at.line, at.column.as_deref()),
        (Some(1), Some("lineItem/UsageAmount"))
    );
    assert!(
        err.to_string()
            .contains("required column `lineItem/UsageAmount` is missing"),
        "{err}"
    );
}

#[test]
fn net_unblended_needs_its_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (header, records) = csv_records(&fixture("legacy_mixed.csv"));
    let drop = header
        .iter()
        .position(|h| h == "lineItem/NetUnblendedCost")
        .expect("column");
    let keep = |r: &Vec<String>| -> Vec<String> {
        r.iter()
            .enumerate()
            .filter(|(k, _)| *k != drop)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let path = dir.path().join("no_net.csv");
    write_csv(
        &path,
        &keep(&header),
        &records.iter().map(keep).collect::<Vec<_>>(),
    );
    assert!(read(&path, CostMeasure::Unblended).is_ok());
    let err = read(&path, CostMeasure::NetUnblended).err().expect("fails");
    assert_eq!(
        location(&err).column.as_deref(),
        Some("lineItem/NetUnblendedCost")
    );
}

#[test]
fn amortized_cost_of_ri_usage_needs_the_reservation_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (header, records) = csv_records(&fixture("legacy_mixed.csv"));
    let drop = header
        .iter()
        .position(|h| h == "reservation/EffectiveCost")
        .expect("column");
    let keep = |r: &Vec<String>| -> Vec<String> {
        r.iter()
            .enumerate()
            .filter(|(k, _)| *k != drop)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let path = dir.path().join("no_ri.csv");
    write_csv(
        &path,
        &keep(&header),
        &records.iter().map(keep).collect::<Vec<_>>(),
    );
    let err = read(&path, CostMeasure::Amortized).err().expect("fails");
    let at = location(&err);
    // The DiscountedUsage line is data row 4, file line 5.
    let type_column = header
        .iter()
        .position(|h| h == "lineItem/LineItemType")
        .expect("column");
    let data_row = records
        .iter()
        .position(|r| r[type_column] == "DiscountedUsage")
        .expect("row");
    assert_eq!(at.line, Some(data_row as u64 + 2));
    assert_eq!(at.column.as_deref(), Some("reservation/EffectiveCost"));
    assert!(err.to_string().contains("DiscountedUsage"), "{err}");
}

#[test]
fn unparsable_number_names_file_line_and_column() {
    let err = read_err("bad_number.csv");
    let at = location(&err);
    assert!(at.source.ends_with("bad_number.csv"));
    assert_eq!(
        (at.line, at.column.as_deref()),
        (Some(3), Some("lineItem/UsageAmount"))
    );
    assert!(err.to_string().contains("`12,5` is not a number"), "{err}");
}

#[test]
fn unparsable_date_names_file_line_and_column() {
    let err = read_err("bad_date.csv");
    let at = location(&err);
    assert!(at.source.ends_with("bad_date.csv"));
    assert_eq!(
        (at.line, at.column.as_deref()),
        (Some(4), Some("lineItem/UsageStartDate"))
    );
    assert!(err.to_string().contains("2023-11-31T00:00:00Z"), "{err}");
}

#[test]
fn truncated_gzip_names_the_file_and_how_far_it_got() {
    let path = fixture("legacy_mixed_truncated.csv.gz");
    let err = read_err("legacy_mixed_truncated.csv.gz");
    let at = location(&err);
    assert!(at.source.ends_with("legacy_mixed_truncated.csv.gz"));
    // As far as any gzip reader gets: the complete lines before the stream breaks.
    let mut decoded = Vec::new();
    let file = std::fs::File::open(&path).expect("open");
    let stopped = flate2::read::MultiGzDecoder::new(file).read_to_end(&mut decoded);
    assert!(stopped.is_err(), "the fixture is truncated");
    let lines = decoded.iter().filter(|b| **b == b'\n').count() as u64;
    let (_, records) = csv_records(&fixture("legacy_mixed.csv"));
    assert!(lines < records.len() as u64 + 1);
    assert_eq!(at.line, Some(lines + 1), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("after {lines} complete lines")),
        "{err}"
    );
}

#[test]
fn empty_file_is_an_error_naming_it() {
    let err = read_err("empty.csv");
    assert!(location(&err).source.ends_with("empty.csv"));
    assert!(err.to_string().ends_with("empty file"), "{err}");

    let dir = tempfile::tempdir().expect("temp dir");
    let empty_gz = dir.path().join("empty.csv.gz");
    std::fs::write(&empty_gz, b"").expect("write");
    let err = read(&empty_gz, CostMeasure::Unblended)
        .err()
        .expect("fails");
    assert!(err.to_string().contains("empty.csv.gz") && err.to_string().contains("empty file"));
}

#[test]
fn a_file_that_is_not_a_cur_says_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("focus.csv");
    std::fs::write(&path, "BillingAccountId,BilledCost\n1,2\n").expect("write");
    let err = read(&path, CostMeasure::Unblended).err().expect("fails");
    assert!(
        err.to_string().contains("not an AWS Cost and Usage Report"),
        "{err}"
    );
}

#[test]
fn missing_input_path_is_an_io_error() {
    let err = open(&fixture("no-such-file.csv"), CostMeasure::Unblended)
        .err()
        .expect("fails");
    assert!(matches!(err, SourceError::Io { .. }));
    assert!(err.to_string().contains("no-such-file.csv"));
}
