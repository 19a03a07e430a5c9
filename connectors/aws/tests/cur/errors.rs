//! Broken inputs fail with an error that says where: the file, the line and the column.

use std::io::Read as _;
use std::path::Path;

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

/// The error of a malformed CSV: it names the file, the line and the column, in the location
/// and in the message.
fn malformed(path: &Path, line: u64, column: &str) -> String {
    let err = read(path, CostMeasure::Unblended)
        .err()
        .unwrap_or_else(|| panic!("{} reads", path.display()));
    let at = location(&err);
    let name = path.file_name().expect("name").to_string_lossy();
    assert!(at.source.ends_with(name.as_ref()), "{err}");
    assert_eq!(
        (at.line, at.column.as_deref()),
        (Some(line), Some(column)),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains(name.as_ref()), "{message}");
    assert!(
        message.contains(&format!(", line {line}, column `{column}`: ")),
        "{message}"
    );
    message
}

#[test]
fn a_line_with_more_fields_than_the_header_names_the_last_column() {
    // polars drops fields past the projected columns silently; the reader must not.
    let message = malformed(&fixture("extra_field.csv"), 3, "resourceTags/user:team");
    assert!(
        message.contains("expected 21 fields as in the header, found 22"),
        "{message}"
    );
}

#[test]
fn a_truncated_last_line_names_the_first_missing_column() {
    // polars pads a short line with nulls silently; the last line is checked before the scan.
    let message = malformed(&fixture("truncated_line.csv"), 5, "lineItem/CurrencyCode");
    assert!(
        message.contains("expected 21 fields as in the header, found 10"),
        "{message}"
    );
}

#[test]
fn a_line_broken_in_two_names_the_short_line_not_the_unreadable_one() {
    // The second half of line 3 (line 4) has no readable date; the short line 3 is the cause.
    let message = malformed(&fixture("broken_line.csv"), 3, "lineItem/UsageAmount");
    assert!(
        message.contains("expected 21 fields as in the header, found 9"),
        "{message}"
    );
}

#[test]
fn an_unclosed_quote_names_where_the_quoted_field_starts() {
    let message = malformed(&fixture("unclosed_quote.csv"), 3, "lineItem/UsageType");
    assert!(message.contains("unclosed quote"), "{message}");
}

#[test]
fn a_stray_quote_in_an_unquoted_field_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(fixture("legacy_mixed.csv")).expect("read");
    let broken = text.replacen(",RunInstances,", ",Run\"Instances,", 1);
    let path = dir.path().join("stray_quote.csv");
    std::fs::write(&path, broken).expect("write");
    let message = malformed(&path, 2, "lineItem/Operation");
    assert!(
        message.contains("a quote inside an unquoted field"),
        "{message}"
    );
}

#[test]
fn invalid_utf8_names_the_line_the_column_and_the_byte() {
    let path = fixture("invalid_utf8.csv");
    let message = malformed(&path, 4, "lineItem/Operation");
    let bytes = std::fs::read(&path).expect("read");
    let offset = bytes
        .iter()
        .position(|b| *b == 0xe9)
        .expect("the Latin-1 byte");
    assert!(
        message.contains(&format!("invalid UTF-8 at byte offset {offset}")),
        "{message}"
    );
}

#[test]
fn a_duplicated_header_name_names_both_positions() {
    let message = malformed(
        &fixture("duplicate_column.csv"),
        1,
        "lineItem/UnblendedCost",
    );
    assert!(
        message.contains("as column 12 and as column 13"),
        "{message}"
    );
}

#[test]
fn a_malformed_gzip_csv_is_named_by_the_gz_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("extra_field.csv.gz");
    let file = std::fs::File::create(&path).expect("create");
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let text = std::fs::read(fixture("extra_field.csv")).expect("read");
    std::io::Write::write_all(&mut gz, &text).expect("write");
    gz.finish().expect("finish");
    let message = malformed(&path, 3, "resourceTags/user:team");
    assert!(message.contains("found 22"), "{message}");
}

#[test]
fn good_files_still_read_with_the_checks() {
    for name in [
        "legacy_mixed.csv",
        "cur2_mixed.csv",
        "legacy_mixed.csv.gz",
        "header_only.csv",
    ] {
        let read = read_ok(&fixture(name));
        assert_eq!(
            read.rows.len(),
            if name == "header_only.csv" { 0 } else { 31 },
            "{name}"
        );
    }
}
