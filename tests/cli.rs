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
    input_facts_of(reader, "lineItem/UnblendedCost")
}

/// [`input_facts`] with the cost summed from `cost_column`.
fn input_facts_of(reader: impl std::io::Read, cost_column: &str) -> InputFacts {
    let mut csv = csv::Reader::from_reader(reader);
    let header = csv.headers().expect("header").clone();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (cost_at, type_at) = (at(cost_column), at("lineItem/LineItemType"));
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
    sample_facts_of("lineItem/UnblendedCost")
}

fn sample_facts_of(cost_column: &str) -> InputFacts {
    let gz = std::fs::read(fixture("sample/cur-sample-2026-10.csv.gz")).expect("sample");
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut text)
        .expect("gunzip");
    input_facts_of(&text[..], cost_column)
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
            for cost in ["unblended", "net-unblended", "blended", "amortized"] {
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
                let column = match cost {
                    "net-unblended" => Some("NetUnblendedCost"),
                    "blended" => Some("BlendedCost"),
                    _ => None,
                };
                if let (Some(column), false) = (column, out.status.success()) {
                    // Only files that carry the column can be read with this measure.
                    assert_eq!(out.status.code(), Some(1), "{input}: {log}");
                    let snake = column.replace("Cost", "_cost").to_lowercase();
                    assert!(
                        log.contains(column) || log.contains(&snake),
                        "{input}: {log}"
                    );
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

/// The real CUR with `lineItem/BlendedCost` rewritten to differ from the unblended cost on every
/// line that has a cost (blended = unblended × 0.75 + 0.01), so the two sums tell the columns
/// apart.
fn real_cur_with_distinct_blended_cost(dir: &Path) -> PathBuf {
    let mut reader = csv::Reader::from_path(real_cur()).expect("fixture");
    let header = reader.headers().expect("header").clone();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (unblended, blended) = (at("lineItem/UnblendedCost"), at("lineItem/BlendedCost"));
    let path = dir.join("cur_blended.csv");
    let mut writer = csv::Writer::from_path(&path).expect("write");
    writer.write_record(&header).expect("header");
    for record in reader.records() {
        let mut cells: Vec<String> = record.expect("record").iter().map(str::to_owned).collect();
        let cost: f64 = cells[unblended].parse().unwrap_or(0.0);
        cells[blended] = format!("{}", cost * 0.75 + 0.01);
        writer.write_record(&cells).expect("row");
    }
    writer.flush().expect("flush");
    path
}

/// The ledger cost and the reconciliation's cost in of an estimate written as CSV.
fn ledger_cost(args: &[&str]) -> (f64, String) {
    let mut all = vec!["estimate", "--format", "csv"];
    all.extend_from_slice(args);
    let out = ok(&all);
    let ledger = CsvReadOptions::default()
        .with_infer_schema_length(None)
        .into_reader_with_file_handle(std::io::Cursor::new(out.stdout.clone()))
        .finish()
        .expect("csv ledger");
    (sum(&ledger, "cost"), stderr(&out))
}

#[test]
fn ccf_carries_blended_cost_unless_told_otherwise() {
    let dir = tempfile::tempdir().expect("temp");
    let path = real_cur_with_distinct_blended_cost(dir.path());
    let input = path.to_str().expect("utf-8");
    let file = || std::fs::File::open(&path).expect("input");
    let blended = input_facts_of(file(), "lineItem/BlendedCost").cost;
    let unblended = input_facts(file()).cost;
    assert!(!close(blended, unblended), "{blended} vs {unblended}");

    // --method ccf without --cost: CCF's blended cost.
    let (cost, log) = ledger_cost(&["--input", input, "--method", "ccf"]);
    assert!(close(cost, blended), "{cost} vs {blended}");
    let cost_in = format!("cost in              {blended:.4} USD");
    assert!(log.contains(&cost_in), "{cost_in}\n{log}");
    // --method default without --cost: unblended.
    let (cost, _) = ledger_cost(&["--input", input, "--method", "default"]);
    assert!(close(cost, unblended), "{cost} vs {unblended}");
    let (cost, _) = ledger_cost(&["--input", input]);
    assert!(close(cost, unblended), "{cost} vs {unblended}");
    // --cost overrides the method's default both ways.
    let (cost, _) = ledger_cost(&["--input", input, "--method", "ccf", "--cost", "unblended"]);
    assert!(close(cost, unblended), "{cost} vs {unblended}");
    let (cost, _) = ledger_cost(&["--input", input, "--cost", "blended"]);
    assert!(close(cost, blended), "{cost} vs {blended}");
}

#[test]
fn ccf_on_a_bill_without_blended_cost_needs_cost_unblended() {
    let input = fixture("aws/legacy_mixed.csv");
    let input = input.to_str().expect("utf-8");
    let out = run(&["estimate", "--input", input, "--method", "ccf"]);
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(
        log.contains("legacy_mixed.csv, line 1, column `lineItem/BlendedCost`")
            && log.contains("required column `lineItem/BlendedCost` is missing"),
        "{log}"
    );
    ok(&[
        "estimate",
        "--input",
        input,
        "--method",
        "ccf",
        "--cost",
        "unblended",
    ]);
}

#[test]
fn sample_runs_with_the_ccf_method_on_its_blended_cost() {
    // The sample's generator writes `lineItem/BlendedCost` (equal to the unblended cost).
    let facts = sample_facts_of("lineItem/BlendedCost");
    let out = ok(&["estimate", "--sample", "--method", "ccf"]);
    let log = stderr(&out);
    assert_eq!(summary_count(&log, "rows read") as usize, facts.rows);
    let cost_in = format!("cost in              {:.4} USD", facts.cost);
    let cost_out = format!("cost out             {:.4} USD", facts.cost);
    assert!(
        log.contains(&cost_in) && log.contains(&cost_out),
        "{cost_in}\n{log}"
    );
}

/// The ledger rows of `legacy_mixed.csv` (unblended cost) by usage type, for one method.
fn legacy_mixed_ledger(method: &str) -> DataFrame {
    let input = fixture("aws/legacy_mixed.csv");
    let out = ok(&[
        "estimate",
        "--input",
        input.to_str().expect("utf-8"),
        "--method",
        method,
        "--cost",
        "unblended",
        "--format",
        "csv",
    ]);
    CsvReadOptions::default()
        .with_infer_schema_length(None)
        .into_reader_with_file_handle(std::io::Cursor::new(out.stdout))
        .finish()
        .expect("csv ledger")
}

/// (estimate_kind, energy_kwh, cost) of the one ledger row with `usage_type`.
fn ledger_row(ledger: &DataFrame, usage_type: &str) -> (String, f64, f64) {
    let types = ledger
        .column("usage_type")
        .expect("type")
        .str()
        .expect("str");
    let i = types
        .iter()
        .position(|t| t == Some(usage_type))
        .expect(usage_type);
    let kind = ledger
        .column("estimate_kind")
        .expect("kind")
        .str()
        .expect("str");
    let f = |name: &str| {
        ledger
            .column(name)
            .expect(name)
            .cast(&DataType::Float64)
            .expect("f64")
            .f64()
            .expect("f64")
            .get(i)
            .unwrap_or(f64::NAN)
    };
    (
        kind.get(i).expect("kind").to_owned(),
        f("energy_kwh"),
        f("cost"),
    )
}

#[test]
fn ccf_quirk_rows_get_zero_kwh_and_stay_out_of_the_ratio() {
    let ccf = legacy_mixed_ledger("ccf");
    // zz9.xlarge (no vCPU count anywhere) and db.r5.12xl (looked up as `r5.12xl`): CCF's
    // vCPU-hours are NaN and `getEstimateByUsageUnit` returns 0 kWh before it accumulates the
    // row for the ratio (CostAndUsageReports.ts). Known rows (not by ratio), 0 kWh, no embodied.
    for usage_type in ["USE1-BoxUsage:zz9.xlarge", "USE1-InstanceUsage:db.r5.12xl"] {
        let (kind, kwh, _) = ledger_row(&ccf, usage_type);
        assert_eq!((kind.as_str(), kwh), ("estimated", 0.0), "{usage_type}");
    }
    let types = ccf.column("usage_type").expect("type").str().expect("str");
    let units = ccf.column("usage_unit").expect("unit").str().expect("str");
    let kinds = ccf
        .column("estimate_kind")
        .expect("kind")
        .str()
        .expect("str");
    let column = |name: &str| {
        ccf.column(name)
            .expect(name)
            .cast(&DataType::Float64)
            .expect("f64")
            .f64()
            .expect("f64")
            .clone()
    };
    let (ccf_kwh, cost, embodied) = (
        column("ccf_kwh"),
        column("cost"),
        column("scope3_embodied_kg"),
    );
    let zero_rows = ["USE1-BoxUsage:zz9.xlarge", "USE1-InstanceUsage:db.r5.12xl"];
    let (mut known_kwh, mut known_cost) = (0.0, 0.0);
    for i in 0..ccf.height() {
        let zero = types.get(i).is_some_and(|t| zero_rows.contains(&t));
        if zero {
            assert_eq!((ccf_kwh.get(i), embodied.get(i)), (Some(0.0), Some(0.0)));
        }
        if units.get(i) == Some("Hrs") && kinds.get(i) == Some("estimated") && !zero {
            known_kwh += ccf_kwh.get(i).unwrap_or(0.0);
            known_cost += cost.get(i).unwrap_or(0.0);
        }
    }
    // CCF's ratio for unknown `Hrs` usage (§5.1): kWh of the accumulated `Hrs` rows / their
    // cost, without the zero rows' 0.6 + 5.76 USD. NatGateway-Hours costs 1.08 USD.
    let nat = types
        .iter()
        .position(|t| t == Some("USE1-NatGateway-Hours"))
        .expect("nat");
    let nat_kwh = ccf_kwh.get(nat).expect("ratio kWh");
    assert!(
        close(nat_kwh, known_kwh / known_cost * 1.08),
        "{nat_kwh} vs {known_kwh} / {known_cost} × 1.08"
    );
    assert!(!close(
        nat_kwh,
        known_kwh / (known_cost + 0.6 + 5.76) * 1.08
    ));

    // Default: zz9.xlarge is unknown (estimated by ratio); db.r5.12xl is 48 vCPU × 1 h.
    let default = legacy_mixed_ledger("default");
    let (kind, _, cost) = ledger_row(&default, "USE1-BoxUsage:zz9.xlarge");
    assert_eq!((kind.as_str(), cost), ("ratio", 0.6));
    let (kind, kwh, _) = ledger_row(&default, "USE1-InstanceUsage:db.r5.12xl");
    assert!(kind == "estimated" && kwh > 0.0, "{kind} {kwh}");
}

/// A bill of more lines than one read batch (65,536) gives batches whose usage columns come
/// in several chunks; every format must still be written. Found by the 1M-line benchmark.
#[test]
fn a_bill_larger_than_one_batch_writes_every_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cur = dir.path().join("cur.csv");
    let lines = 70_000;
    ok(&[
        "generate-cur",
        "--lines",
        &lines.to_string(),
        "--seed",
        "7",
        "--output",
        cur.to_str().unwrap(),
    ]);
    let facts = input_facts(std::fs::File::open(&cur).expect("cur"));
    assert_eq!(facts.rows, lines);
    for format in ["parquet", "csv"] {
        let out = dir.path().join(format!("ledger.{format}"));
        ok(&[
            "estimate",
            "--input",
            cur.to_str().unwrap(),
            "--format",
            format,
            "--output",
            out.to_str().unwrap(),
        ]);
        let ledger = match format {
            "parquet" => ParquetReader::new(std::fs::File::open(&out).expect("ledger"))
                .finish()
                .expect("parquet ledger"),
            _ => CsvReadOptions::default()
                .with_infer_schema_length(Some(0))
                .try_into_reader_with_file_path(Some(out.clone()))
                .expect("csv reader")
                .finish()
                .expect("csv ledger"),
        };
        assert_eq!(ledger.height(), lines, "{format}");
        let cost: f64 = ledger
            .column("cost")
            .expect("cost")
            .cast(&DataType::Float64)
            .expect("numbers")
            .f64()
            .expect("f64")
            .sum()
            .unwrap_or(0.0);
        assert!(
            (cost - facts.cost).abs() <= 1e-6 * facts.cost.abs().max(1.0),
            "{format}: ledger cost {cost} vs input {}",
            facts.cost
        );
    }
}
