//! The same 26 export rows as CSV (JSON and Python-repr repeated fields), gzip CSV, JSON lines
//! (nested, as BigQuery exports them), Parquet (nested and flattened, written by DuckDB) and a
//! folder of a CSV part and a gzip JSON-lines part: every format gives the same usage rows.

use carbonledger_gcp::GcpCost;

use crate::common::{CCF, DEFAULT, fixture, read_ok, read_with, row};

const FORMATS: [&str; 7] = [
    "export_mixed.csv.gz",
    "export_koku_repr.csv",
    "export_mixed.jsonl",
    "export_nested.parquet",
    "export_flat.parquet",
    "folder",
    "export_mixed.csv",
];

#[test]
fn every_format_reads_as_the_same_rows() {
    let reference = read_ok("export_mixed.csv");
    assert_eq!(reference.rows.len(), 26);
    assert_eq!(reference.totals.rows, 26);
    for name in FORMATS {
        let read = read_ok(name);
        assert_eq!(read.rows.len(), 26, "{name}");
        assert_eq!(read.totals, reference.totals, "{name}");
        for (a, b) in read.rows.iter().zip(&reference.rows) {
            assert_eq!(a.content(), b.content(), "{name}");
        }
    }
}

#[test]
fn lines_are_numbered_in_each_files_own_way() {
    let csv = read_ok("export_mixed.csv");
    // Header = line 1: the first row is line 2, the last (26th) line 27.
    assert_eq!(csv.rows[0].source_line, Some(2));
    assert_eq!(csv.rows[25].source_line, Some(27));
    // JSON lines have no header; Parquet counts rows from 1.
    for name in ["export_mixed.jsonl", "export_nested.parquet"] {
        let read = read_ok(name);
        assert_eq!(read.rows[0].source_line, Some(1), "{name}");
        assert_eq!(read.rows[25].source_line, Some(26), "{name}");
    }
    let folder = read_ok("folder");
    // Rows 1–10 in the CSV part (lines 2–11), rows 11–26 in the JSON part (lines 1–16).
    assert!(folder.rows[9].source.ends_with("export-000000000000.csv"));
    assert_eq!(folder.rows[9].source_line, Some(11));
    assert!(
        folder.rows[10]
            .source
            .ends_with("export-000000000001.json.gz")
    );
    assert_eq!(folder.rows[10].source_line, Some(1));
}

#[test]
fn totals_are_counted_from_the_raw_cost_and_credits() {
    // Input costs (make_fixtures.py), USD rows: 0.126 + 0.0675 + 0.0587 + 0.0925 + 0.253 + 2.48
    // + 0.7 + 0.0548 + 0.0465 + 0.0722 + 0.6 + 0.2 + 0.1 + 0.045 + 6.25 + 0.4 + 0.1 + 0.01
    // + 0.42 − 0.05 − 0.000012 + 0.0788 + 0.00008 + 7.0 + 0.0445 = 19.149568; EUR: 0.151.
    // Credits (USD): −0.0252 − 0.0135 − 0.0217 − 0.5 = −0.5604,
    // of which −0.5 is a promotion.
    let path = fixture("export_mixed.csv");
    let gross = read_with(&path, CCF, GcpCost::Gross).expect("reads");
    let net = read_with(&path, DEFAULT, GcpCost::Net).expect("reads");
    let no_promo = read_with(&path, DEFAULT, GcpCost::NetExceptPromotions).expect("reads");
    let usd = |t: &carbonledger_usage::InputTotals| t.cost["USD"];
    assert!((usd(&gross.totals) - 19.149568).abs() < 1e-9);
    // 19.149568 − 0.5604 = 18.589168; 19.149568 − 0.0604 = 19.089168.
    assert!((usd(&net.totals) - 18.589168).abs() < 1e-9);
    assert!((usd(&no_promo.totals) - 19.089168).abs() < 1e-9);
    assert_eq!(net.totals.cost["EUR"], 0.151);
    // The rows carry the same measure as the totals.
    let row_sum: f64 = net
        .rows
        .iter()
        .filter(|r| r.currency == "USD")
        .map(|r| r.cost)
        .sum();
    assert!((row_sum - 18.589168).abs() < 1e-9);
}

#[test]
fn fixture_rows_classify_as_the_methodology_says() {
    let read = read_ok("export_mixed.csv");
    let classes: Vec<(&str, &str)> = read
        .rows
        .iter()
        .map(|r| (r.usage_type.as_str(), r.class.as_str()))
        .collect();
    let count = |class: &str| classes.iter().filter(|(_, c)| *c == class).count();
    // Default method: compute rows 2, 4, 5, 6, 14, 15, 26, 27; gpu 7, 8; memory 3;
    // storage_hdd 9, 11; storage_ssd 10; network 12, 13; unknown 16, 17, 18, 24, 25;
    // excluded 19, 20, 21, 22, 23.
    assert_eq!(count("compute"), 8);
    assert_eq!(count("gpu"), 2);
    assert_eq!(count("memory"), 1);
    assert_eq!(count("storage_hdd"), 2);
    assert_eq!(count("storage_ssd"), 1);
    assert_eq!(count("network"), 2);
    assert_eq!(count("unknown"), 5);
    assert_eq!(count("excluded"), 5);
    let eu = row(&read.rows, "N2 Instance Core running in EMEA", "regular");
    assert_eq!(eu.region.as_deref(), Some("europe-west4"));
    assert_eq!(eu.currency, "EUR");
    assert_eq!(eu.billing_account, "01F0E0-D0C0B0-A09080");
    let first = row(
        &read.rows,
        "N1 Predefined Instance Core running in Americas",
        "regular",
    );
    assert_eq!(first.tags, r#"{"env":"prod","team":"platform"}"#);
    // 0.126 − 0.0252 = 0.1008.
    assert!((first.cost - 0.1008).abs() < 1e-12);
}
