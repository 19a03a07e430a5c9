//! The `carbonledger` binary run as a user runs it: on the embedded sample and on the real
//! anonymized CUR in `fixtures/aws`, with both methods, every output format and grouping, and
//! on broken inputs (exit code 1, a message naming file, line and column, no output file).
//!
//! Expected totals are computed here from the input files themselves (with the `csv` crate),
//! never typed in.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use polars::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn real_cur() -> PathBuf {
    fixture("aws/cur_legacy_anonymized_focus_converters.csv")
}

fn run(args: &[&str]) -> Output {
    Command::cargo_bin("carbonledger")
        .expect("binary")
        .args(args)
        .output()
        .expect("runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    out
}

/// Rows and unblended cost of a legacy CUR (any reader of CSV gets these numbers).
struct InputFacts {
    rows: usize,
    cost: f64,
    by_line_type: BTreeMap<String, usize>,
}

fn input_facts(reader: impl std::io::Read) -> InputFacts {
    let mut csv = csv::Reader::from_reader(reader);
    let header = csv.headers().expect("header").clone();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (cost_at, type_at) = (at("lineItem/UnblendedCost"), at("lineItem/LineItemType"));
    let mut facts = InputFacts {
        rows: 0,
        cost: 0.0,
        by_line_type: BTreeMap::new(),
    };
    for record in csv.records() {
        let record = record.expect("record");
        facts.rows += 1;
        facts.cost += record[cost_at].parse::<f64>().unwrap_or(0.0);
        *facts
            .by_line_type
            .entry(record[type_at].to_owned())
            .or_default() += 1;
    }
    facts
}

fn sample_facts() -> InputFacts {
    let gz = std::fs::read(fixture("sample/cur-sample-2026-10.csv.gz")).expect("sample");
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut text)
        .expect("gunzip");
    input_facts(&text[..])
}

fn read_parquet(path: &Path) -> DataFrame {
    ParquetReader::new(std::fs::File::open(path).expect("open"))
        .finish()
        .expect("parquet")
}

fn read_csv(path: &Path) -> DataFrame {
    CsvReadOptions::default()
        .with_infer_schema_length(None)
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .expect("csv reader")
        .finish()
        .expect("csv")
}

fn sum(df: &DataFrame, column: &str) -> f64 {
    df.column(column)
        .expect(column)
        .cast(&DataType::Float64)
        .expect("f64")
        .f64()
        .expect("f64")
        .sum()
        .unwrap_or(0.0)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// The number after `label` in the reconciliation summary.
fn summary_count(stderr: &str, label: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .expect(label);
    line.trim_start()[label.len()..]
        .trim()
        .parse()
        .expect("count")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sample_runs_prints_a_table_and_reconciles() {
    let facts = sample_facts();
    let out = ok(&["estimate", "--sample"]);
    let table = String::from_utf8_lossy(&out.stdout);
    for word in [
        "month",
        "service",
        "usage_class",
        "energy_kwh",
        "AmazonEC2",
        "2026-10",
    ] {
        assert!(table.contains(word), "table lacks {word}:\n{table}");
    }
    let log = stderr(&out);
    assert_eq!(
        summary_count(&log, "rows read") as usize,
        facts.rows,
        "{log}"
    );
    let estimated = summary_count(&log, "estimated  ");
    let ratio = summary_count(&log, "estimated by ratio");
    let excluded = summary_count(&log, "excluded");
    assert_eq!((estimated + ratio + excluded) as usize, facts.rows, "{log}");
    assert!(estimated > 0 && ratio > 0 && excluded > 0, "{log}");
    let cost_in = format!("cost in              {:.4} USD", facts.cost);
    let cost_out = format!("cost out             {:.4} USD", facts.cost);
    assert!(
        log.contains(&cost_in) && log.contains(&cost_out),
        "{cost_in}\n{log}"
    );
}

#[test]
fn real_cur_ledger_keeps_every_row_and_cent_with_both_methods() {
    let facts = input_facts(std::fs::File::open(real_cur()).expect("fixture"));
    let dir = tempfile::tempdir().expect("temp");
    let input = real_cur();
    let mut energy = BTreeMap::new();
    for method in ["ccf", "default"] {
        let path = dir.path().join(format!("{method}.parquet"));
        ok(&[
            "estimate",
            "--input",
            input.to_str().expect("utf-8"),
            "--method",
            method,
            "--format",
            "parquet",
            "--output",
            path.to_str().expect("utf-8"),
        ]);
        let ledger = read_parquet(&path);
        assert_eq!(ledger.height(), facts.rows);
        assert!(close(sum(&ledger, "cost"), facts.cost), "{method}: cost");
        // Every row is estimated, estimated by ratio, or excluded with a reason.
        let kinds = ledger
            .column("estimate_kind")
            .expect("kind")
            .str()
            .expect("str")
            .clone();
        let reasons = ledger
            .column("exclusion_reason")
            .expect("reason")
            .str()
            .expect("str");
        let classes = ledger
            .column("usage_class")
            .expect("class")
            .str()
            .expect("str");
        let mut excluded = 0;
        for ((kind, reason), class) in kinds.iter().zip(reasons.iter()).zip(classes.iter()) {
            match kind.expect("kind") {
                "estimated" | "ratio" => assert!(reason.is_none()),
                "excluded" => {
                    excluded += 1;
                    assert_eq!(class, Some("excluded"));
                    assert!(reason.is_some_and(|r| !r.is_empty()));
                }
                other => panic!("unexpected estimate_kind {other}"),
            }
        }
        // The fixture's non-usage lines (Tax) are all excluded.
        let non_usage: usize = facts
            .by_line_type
            .iter()
            .filter(|(t, _)| *t != "Usage")
            .map(|(_, n)| n)
            .sum();
        assert!(excluded >= non_usage, "{method}: {excluded} excluded");
        let label = ledger
            .column("factor_set")
            .expect("set")
            .str()
            .expect("str")
            .get(0);
        assert!(label.is_some_and(|l| l.starts_with(method)), "{label:?}");
        // Operational energy and its Scope 2 emissions are positive and consistent.
        let kwh = sum(&ledger, "energy_kwh");
        assert!(kwh > 0.0, "{method}: no energy");
        let by_row = (ledger.column("energy_kwh").expect("e").f64().expect("f64")
            * ledger
                .column("grid_kg_per_kwh")
                .expect("g")
                .f64()
                .expect("f64"))
        .sum()
        .unwrap_or(0.0);
        assert!(
            close(by_row, sum(&ledger, "scope2_location_kg")),
            "{method}: scope 2"
        );
        energy.insert(method, kwh);
    }
    // The ccf method keeps CCF's byte-hours quirk (S3 storage divided by 2^40), so the two
    // methods must disagree on this bill of S3 storage.
    assert!(energy["default"] > energy["ccf"], "{energy:?}");
}

#[test]
fn grouped_json_and_csv_ledgers_carry_the_bill_total() {
    let facts = input_facts(std::fs::File::open(real_cur()).expect("fixture"));
    let dir = tempfile::tempdir().expect("temp");
    let input = real_cur();
    let input = input.to_str().expect("utf-8");

    let json = ok(&[
        "estimate",
        "--input",
        input,
        "--group-by",
        "region,usage_class",
        "--format",
        "json",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&json.stdout).expect("json array");
    assert!(rows.len() > 1);
    let cost: f64 = rows.iter().map(|r| r["cost"].as_f64().expect("cost")).sum();
    assert!(close(cost, facts.cost), "{cost} vs {}", facts.cost);
    for row in &rows {
        assert!(
            row.get("region").is_some() && row.get("usage_class").is_some(),
            "{row}"
        );
        assert_eq!(row["currency"], "USD");
    }

    let path = dir.path().join("ledger.csv");
    ok(&[
        "estimate",
        "--input",
        input,
        "--format",
        "csv",
        "--output",
        path.to_str().expect("utf-8"),
    ]);
    let ledger = read_csv(&path);
    assert_eq!(ledger.height(), facts.rows);
    assert!(close(sum(&ledger, "cost"), facts.cost));
    // The source column points back at the input line.
    let lines = ledger
        .column("source_line")
        .expect("line")
        .cast(&DataType::UInt64)
        .expect("u64");
    assert_eq!(lines.u64().expect("u64").min(), Some(2));

    let tagged = ok(&[
        "estimate",
        "--input",
        input,
        "--group-by",
        "month,tag:user:team",
        "--format",
        "csv",
    ]);
    let text = String::from_utf8_lossy(&tagged.stdout);
    assert!(
        text.lines()
            .next()
            .is_some_and(|h| h.contains("tag:user:team")),
        "{text}"
    );
}

#[test]
fn parquet_needs_an_output_file() {
    let out = run(&["estimate", "--sample", "--format", "parquet"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--output"));
}

/// Runs a broken input with `--output` and checks exit code 1, the message and that the
/// output folder stays empty.
fn fails_cleanly(input: &Path, expected: &[&str]) {
    let dir = tempfile::tempdir().expect("temp");
    let output = dir.path().join("ledger.parquet");
    let out = run(&[
        "estimate",
        "--input",
        input.to_str().expect("utf-8"),
        "--format",
        "parquet",
        "--output",
        output.to_str().expect("utf-8"),
    ]);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    for part in expected {
        assert!(log.contains(part), "stderr lacks `{part}`:\n{log}");
    }
    assert!(out.stdout.is_empty());
    assert_eq!(
        files_in(dir.path()),
        Vec::<String>::new(),
        "partial output left behind"
    );
}

#[test]
fn bad_inputs_fail_with_file_line_and_column_and_leave_no_output() {
    fails_cleanly(
        &fixture("aws/bad_number.csv"),
        &[
            "bad_number.csv, line 3, column `lineItem/UsageAmount`",
            "12,5",
        ],
    );
    fails_cleanly(
        &fixture("aws/bad_date.csv"),
        &[
            "bad_date.csv, line 4, column `lineItem/UsageStartDate`",
            "2023-11-31",
        ],
    );
    fails_cleanly(
        &fixture("aws/missing_usage_amount.csv"),
        &["missing_usage_amount.csv, line 1, column `lineItem/UsageAmount`"],
    );
    fails_cleanly(
        &fixture("aws/legacy_mixed_truncated.csv.gz"),
        &["legacy_mixed_truncated"],
    );
    fails_cleanly(&fixture("aws/empty.csv"), &["empty.csv", "empty"]);
    fails_cleanly(&fixture("nonexistent.csv"), &["nonexistent.csv"]);
}

#[test]
fn a_file_that_is_no_bill_fails_naming_its_header() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("notes.csv");
    std::fs::write(&path, "name,amount\nwidget,3\n").expect("write");
    let out = run(&["estimate", "--input", path.to_str().expect("utf-8")]);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("notes.csv, line 1") && log.contains("name,amount"),
        "{log}"
    );
}

#[test]
fn a_header_only_file_gives_an_empty_ledger() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("empty.parquet");
    let input = fixture("aws/header_only.csv");
    let out = ok(&[
        "estimate",
        "--input",
        input.to_str().expect("utf-8"),
        "--format",
        "parquet",
        "--output",
        path.to_str().expect("utf-8"),
    ]);
    assert_eq!(summary_count(&stderr(&out), "rows read"), 0);
    let ledger = read_parquet(&path);
    assert_eq!(ledger.height(), 0);
    assert!(ledger.column("scope2_location_kg").is_ok());
}

#[test]
fn report_folders_read_the_latest_assembly() {
    let folder = fixture("aws/legacy_layout");
    let out = ok(&[
        "estimate",
        "--input",
        folder.to_str().expect("utf-8"),
        "--format",
        "csv",
    ]);
    // Period 2023-11's newest assembly has 6 lines, 2023-12 has 3; the old assembly's 2 lines
    // are not read.
    assert_eq!(
        summary_count(&stderr(&out), "rows read"),
        9,
        "{}",
        stderr(&out)
    );
}

#[test]
fn generate_cur_writes_a_bill_that_estimates() {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("cur.csv");
    ok(&[
        "generate-cur",
        "--lines",
        "500",
        "--seed",
        "7",
        "--output",
        path.to_str().expect("utf-8"),
    ]);
    let facts = input_facts(std::fs::File::open(&path).expect("generated"));
    assert_eq!(facts.rows, 500);
    let out = ok(&[
        "estimate",
        "--input",
        path.to_str().expect("utf-8"),
        "--method",
        "ccf",
    ]);
    assert_eq!(summary_count(&stderr(&out), "rows read"), 500);
}

/// Every readable fixture, with both methods and every cost measure: the run succeeds, which
/// means the reconciliation held (a mismatch exits with code 3), and it read every line.
#[test]
fn every_fixture_reconciles_with_both_methods_and_all_cost_measures() {
    let cases = [
        ("aws/legacy_mixed.csv", Some("aws/legacy_mixed.csv")),
        ("aws/legacy_mixed.csv.gz", Some("aws/legacy_mixed.csv")),
        ("aws/cur2_mixed.csv", None),
        ("aws/cur2_layout", None),
        ("aws/legacy_layout", None),
        (
            "aws/cur_legacy_anonymized_focus_converters.csv",
            Some("aws/cur_legacy_anonymized_focus_converters.csv"),
        ),
    ];
    for (input, legacy_csv) in cases {
        let path = fixture(input);
        for method in ["ccf", "default"] {
            for cost in ["unblended", "net-unblended", "amortized"] {
                let out = run(&[
                    "estimate",
                    "--input",
                    path.to_str().expect("utf-8"),
                    "--method",
                    method,
                    "--cost",
                    cost,
                    "--format",
                    "csv",
                ]);
                let log = stderr(&out);
                if cost == "net-unblended" && !out.status.success() {
                    // Only files that carry the column can be read with this measure.
                    assert_eq!(out.status.code(), Some(1), "{input}: {log}");
                    assert!(log.contains("NetUnblendedCost"), "{input}: {log}");
                    continue;
                }
                assert!(out.status.success(), "{input} {method} {cost}: {log}");
                let rows = summary_count(&log, "rows read");
                assert!(rows > 0, "{input}");
                let ledger = CsvReadOptions::default()
                    .with_infer_schema_length(None)
                    .into_reader_with_file_handle(std::io::Cursor::new(out.stdout))
                    .finish()
                    .expect("csv ledger");
                assert_eq!(ledger.height() as u64, rows, "{input} {method} {cost}");
                if let (Some(csv), "unblended") = (legacy_csv, cost) {
                    let facts = input_facts(std::fs::File::open(fixture(csv)).expect("csv"));
                    assert_eq!(rows as usize, facts.rows);
                    assert!(close(sum(&ledger, "cost"), facts.cost), "{input} {method}");
                }
            }
        }
    }
}

/// The same bill as CSV and as Parquet gives the same ledger totals.
#[test]
fn a_parquet_cur_estimates_like_its_csv() {
    let dir = tempfile::tempdir().expect("temp");
    let csv_path = real_cur();
    let mut bill = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv_path.clone()))
        .expect("csv reader")
        .finish()
        .expect("csv");
    let parquet_path = dir.path().join("cur.parquet");
    ParquetWriter::new(std::fs::File::create(&parquet_path).expect("create"))
        .finish(&mut bill)
        .expect("write parquet");
    let totals = |input: &Path| -> (u64, f64, f64) {
        let out = ok(&[
            "estimate",
            "--input",
            input.to_str().expect("utf-8"),
            "--group-by",
            "month",
            "--format",
            "json",
        ]);
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
        let get = |key: &str| {
            rows.iter()
                .map(|r| r[key].as_f64().expect(key))
                .sum::<f64>()
        };
        (
            summary_count(&stderr(&out), "rows read"),
            get("cost"),
            get("scope2_location_kg"),
        )
    };
    let (csv_rows, csv_cost, csv_kg) = totals(&csv_path);
    let (pq_rows, pq_cost, pq_kg) = totals(&parquet_path);
    assert_eq!(csv_rows, pq_rows);
    assert!(
        close(csv_cost, pq_cost) && close(csv_kg, pq_kg),
        "{csv_kg} vs {pq_kg}"
    );
    assert!(csv_kg > 0.0);
}
