//! Malformed exports fail with the file, the line and the column (see PROVENANCE.md for what
//! is broken in each fixture).

use std::io::Write as _;

use carbonledger_gcp::GcpCost;

use crate::common::{DEFAULT, fixture, read_err, read_ok, read_with};

fn shown(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn a_missing_required_column_is_named() {
    assert_eq!(
        read_err("missing_column.csv", GcpCost::Gross),
        format!(
            "{}, line 1, column `usage.amount`: required column `usage.amount` is missing from \
             the GCP export header",
            shown("missing_column.csv")
        )
    );
}

#[test]
fn a_bad_number_names_line_and_column() {
    assert_eq!(
        read_err("bad_number.csv", GcpCost::Net),
        format!(
            "{}, line 3, column `usage.amount`: `12,5` is not a number",
            shown("bad_number.csv")
        )
    );
    assert_eq!(
        read_err("bad_number.jsonl", GcpCost::Net),
        format!(
            "{}, line 2, column `usage.amount`: `abc` is not a number",
            shown("bad_number.jsonl")
        )
    );
}

#[test]
fn a_bad_date_names_line_and_column() {
    assert_eq!(
        read_err("bad_date.csv", GcpCost::Net),
        format!(
            "{}, line 4, column `usage_start_time`: `2024-01-32 10:00:00 UTC` is not a date and \
             time",
            shown("bad_date.csv")
        )
    );
}

#[test]
fn unreadable_credits_name_line_and_column() {
    let err = read_err("bad_credits.csv", GcpCost::Net);
    let prefix = format!(
        "{}, line 3, column `credits`: the repeated field cannot be read: neither JSON",
        shown("bad_credits.csv")
    );
    assert!(err.starts_with(&prefix), "{err}");
    assert!(err.contains("`oops` at character"), "{err}");
}

#[test]
fn broken_lines_are_found() {
    let err = read_err("truncated.jsonl", GcpCost::Net);
    let prefix = format!("{}, line 3: not a JSON object", shown("truncated.jsonl"));
    assert!(err.starts_with(&prefix), "{err}");
    assert_eq!(
        read_err("extra_field.csv", GcpCost::Net),
        format!(
            "{}, line 3: 27 fields where the header has 26: the line has more fields than the \
             header (an unquoted comma?)",
            shown("extra_field.csv")
        )
    );
}

#[test]
fn empty_files_and_folders_are_errors_but_a_bare_header_is_not() {
    assert_eq!(
        read_err("empty.csv", GcpCost::Net),
        format!("{}: empty file", shown("empty.csv"))
    );
    let read = read_ok("header_only.csv");
    assert_eq!(read.totals.rows, 0);
    assert!(read.rows.is_empty());
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("notes.txt"), "not an export").expect("write");
    let err = read_with(dir.path(), DEFAULT, GcpCost::Net)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.ends_with(
            "no GCP billing export files (.csv, .json, .jsonl, .ndjson, each also .gz, or \
             .parquet) in the folder"
        ),
        "{err}"
    );
}

#[test]
fn the_net_cost_needs_the_credits_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("no_credits.csv");
    let mut file = std::fs::File::create(&path).expect("create");
    writeln!(
        file,
        "service.description,sku.description,usage_start_time,usage_end_time,usage.amount,\
         usage.unit,cost,currency\n\
         Compute Engine,Static Ip Charge,2024-01-15 10:00:00 UTC,2024-01-15 11:00:00 UTC,3600,\
         seconds,0.01,USD"
    )
    .expect("write");
    drop(file);
    let err = read_with(&path, DEFAULT, GcpCost::Net)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        format!(
            "{}, line 1, column `credits`: required column `credits` is missing from the GCP \
             export header (the net cost measures need it; use the gross cost for an export \
             without credits)",
            path.display()
        )
    );
    // The gross cost reads it.
    let read = read_with(&path, DEFAULT, GcpCost::Gross).expect("gross reads");
    assert_eq!(read.totals.rows, 1);
    assert_eq!(read.totals.cost["USD"], 0.01);
}

#[test]
fn truncated_gzip_is_an_error() {
    let bytes = std::fs::read(fixture("export_mixed.csv.gz")).expect("fixture");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cut.csv.gz");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");
    let err = read_with(&path, DEFAULT, GcpCost::Net)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    assert!(err.contains("gzip data is broken or truncated"), "{err}");
}
