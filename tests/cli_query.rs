//! `carbonledger query "SQL"`, as a user runs it after `carbonledger run`: the results of a
//! grouping query equal sums computed here row by row from the partition files (no polars
//! grouping, no SQL); CSV, JSON and Parquet output carry the same values; a single ledger file
//! of `estimate --format parquet` is queried the same way; bad queries exit 2 naming the problem.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use assert_cmd::Command;
use polars::prelude::*;

fn carbonledger(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("carbonledger")
        .expect("binary")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

fn ok(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Sums of one group: rows, kWh, kg CO2e (Scope 2 location-based), cost; as in SQL, the sum
/// of a group whose values are all null is null (`None`).
#[derive(Debug, Default, Clone, Copy)]
struct Sums {
    rows: u64,
    kwh: Option<f64>,
    kg: Option<f64>,
    cost: Option<f64>,
}

fn add(sum: &mut Option<f64>, value: Option<f64>) {
    if let Some(v) = value {
        *sum = Some(sum.unwrap_or(0.0) + v);
    }
}

/// (provider, month folder, service, currency) → sums, row by row over every partition file;
/// the month is taken from the partition folder's `month=` name, not from the data.
fn by_group(ledger: &Path) -> BTreeMap<(String, String, String, String), Sums> {
    let mut out: BTreeMap<_, Sums> = BTreeMap::new();
    let mut stack = vec![ledger.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("dir").filter_map(|e| e.ok()) {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("_carbonledger") {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "parquet") {
                continue;
            }
            let month = path
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("month="))
                .expect("month= folder")
                .to_owned();
            let df = ParquetReader::new(fs::File::open(&path).expect("open"))
                .finish()
                .expect("parquet");
            let text = |c: &str| df.column(c).expect(c).str().expect("text").clone();
            let num = |c: &str| df.column(c).expect(c).f64().expect("f64").clone();
            let (provider, service, currency) =
                (text("provider"), text("service"), text("currency"));
            let (kwh, kg, cost) = (num("energy_kwh"), num("scope2_location_kg"), num("cost"));
            for i in 0..df.height() {
                let key = (
                    provider.get(i).expect("provider").to_owned(),
                    month.clone(),
                    service.get(i).expect("service").to_owned(),
                    currency.get(i).unwrap_or("").to_owned(),
                );
                let sums = out.entry(key).or_default();
                sums.rows += 1;
                add(&mut sums.kwh, kwh.get(i));
                add(&mut sums.kg, kg.get(i));
                add(&mut sums.cost, cost.get(i));
            }
        }
    }
    out
}

const GROUPING: &str = "SELECT provider, month, service, currency, COUNT(*) AS n, \
     SUM(energy_kwh) AS kwh, SUM(scope2_location_kg) AS kg, SUM(cost) AS cost \
     FROM ledger GROUP BY provider, month, service, currency \
     ORDER BY provider, month, service, currency";

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: {got} vs {want}"
    );
}

/// A summed cell: a number, or null (JSON `null`, an empty CSV field) when every value was null.
fn sum_cell(value: &serde_json::Value, want: Option<f64>, what: &str) {
    match (value, want) {
        (serde_json::Value::Number(n), Some(w)) => close(n.as_f64().expect("f64"), w, what),
        (serde_json::Value::Null, None) => {}
        (serde_json::Value::String(s), None) if s.is_empty() => {}
        (got, want) => panic!("{what}: {got:?} vs {want:?}"),
    }
}

fn check(
    rows: &[BTreeMap<String, serde_json::Value>],
    expected: &BTreeMap<(String, String, String, String), Sums>,
) {
    assert_eq!(rows.len(), expected.len(), "one result row per group");
    let keys: Vec<_> = expected.keys().collect();
    for (row, key) in rows.iter().zip(keys) {
        let text = |c: &str| row[c].as_str().unwrap_or("").to_owned();
        let got_key = (
            text("provider"),
            text("month"),
            text("service"),
            text("currency"),
        );
        assert_eq!(&got_key, key, "rows in ORDER BY order");
        let want = expected[key];
        let num = |c: &str| row[c].as_f64().unwrap_or_else(|| panic!("{c} in {row:?}"));
        assert_eq!(num("n") as u64, want.rows, "{key:?} rows");
        sum_cell(&row["kwh"], want.kwh, "kWh");
        sum_cell(&row["kg"], want.kg, "kg CO2e");
        sum_cell(&row["cost"], want.cost, "cost");
    }
}

/// CSV text → rows of JSON values (numbers parsed where they parse).
fn csv_rows(text: &[u8]) -> Vec<BTreeMap<String, serde_json::Value>> {
    let mut csv = csv::Reader::from_reader(text);
    let header: Vec<String> = csv
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    csv.records()
        .map(|r| {
            let r = r.expect("row");
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| {
                    let value = match v.parse::<f64>() {
                        Ok(n) if !h.ends_with("month") => serde_json::json!(n),
                        _ => serde_json::json!(v),
                    };
                    (h.clone(), value)
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_grouping_query_equals_the_partition_files_in_every_format() {
    let dir = common::three_month_ledger();
    let path = dir.path();
    let expected = by_group(&path.join("ledger"));
    let providers: std::collections::BTreeSet<_> = expected.keys().map(|k| &k.0).collect();
    let months: std::collections::BTreeSet<_> = expected.keys().map(|k| &k.1).collect();
    assert!(
        providers.len() == 2 && months.len() == 3,
        "{providers:?} {months:?}"
    );

    let out = ok(carbonledger(
        path,
        &["query", "--ledger", "ledger", "--format", "csv", GROUPING],
    ));
    check(&csv_rows(&out.stdout), &expected);

    let out = ok(carbonledger(
        path,
        &["query", "--ledger", "ledger", "--format", "json", GROUPING],
    ));
    let json: Vec<BTreeMap<String, serde_json::Value>> =
        serde_json::from_slice(&out.stdout).expect("a JSON array of objects");
    check(&json, &expected);

    ok(carbonledger(
        path,
        &[
            "query",
            "--ledger",
            "ledger",
            "--format",
            "parquet",
            "--output",
            "q.parquet",
            GROUPING,
        ],
    ));
    let df = ParquetReader::new(fs::File::open(path.join("q.parquet")).expect("result"))
        .finish()
        .expect("parquet");
    let mut file = Vec::new();
    JsonWriter::new(&mut file)
        .with_json_format(JsonFormat::Json)
        .finish(&mut df.clone())
        .expect("as JSON");
    let rows: Vec<BTreeMap<String, serde_json::Value>> =
        serde_json::from_slice(&file).expect("rows");
    check(&rows, &expected);

    // The table shows every group (no elided rows).
    let out = ok(carbonledger(
        path,
        &["query", "--ledger", "ledger", GROUPING],
    ));
    let table = String::from_utf8(out.stdout).expect("utf-8");
    for (_, _, service, _) in expected.keys() {
        assert!(
            table.contains(service.as_str()),
            "{service} missing from\n{table}"
        );
    }
    assert!(!table.contains("…"), "{table}");
}

#[test]
fn a_ledger_file_of_estimate_is_queried_like_a_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path();
    ok(carbonledger(
        path,
        &[
            "estimate",
            "--sample",
            "--format",
            "parquet",
            "--output",
            "l.parquet",
        ],
    ));
    let df = ParquetReader::new(fs::File::open(path.join("l.parquet")).expect("ledger"))
        .finish()
        .expect("parquet");
    let kinds = df
        .column("estimate_kind")
        .expect("kind")
        .str()
        .expect("text")
        .clone();
    let cost = df.column("cost").expect("cost").f64().expect("f64").clone();
    let mut want: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for i in 0..df.height() {
        let e = want
            .entry(kinds.get(i).expect("kind").to_owned())
            .or_default();
        e.0 += 1;
        e.1 += cost.get(i).unwrap_or(0.0);
    }
    let out = ok(carbonledger(
        path,
        &[
            "query",
            "--ledger",
            "l.parquet",
            "--format",
            "csv",
            "SELECT estimate_kind, COUNT(*) AS n, SUM(cost) AS cost, MIN(month) AS first_month \
             FROM ledger GROUP BY estimate_kind ORDER BY estimate_kind",
        ],
    ));
    let rows = csv_rows(&out.stdout);
    assert_eq!(rows.len(), want.len());
    for (row, (kind, (n, c))) in rows.iter().zip(&want) {
        assert_eq!(row["estimate_kind"], serde_json::json!(kind));
        assert_eq!(row["n"].as_f64(), Some(*n as f64));
        close(row["cost"].as_f64().expect("cost"), *c, kind);
        assert_eq!(row["first_month"], serde_json::json!("2026-10"));
    }
}

#[test]
fn bad_queries_and_arguments_exit_2_naming_the_problem() {
    let dir = common::three_month_ledger();
    let path = dir.path();
    let cases: [(&[&str], &str); 5] = [
        (
            &["query", "--ledger", "ledger", "SELEC * FROM ledger"],
            "SELEC",
        ),
        (
            &[
                "query",
                "--ledger",
                "ledger",
                "SELECT no_such_column FROM ledger",
            ],
            "no_such_column",
        ),
        (
            &["query", "--ledger", "ledger", "SELECT * FROM invoices"],
            "invoices",
        ),
        (
            &[
                "query",
                "--ledger",
                "ledger",
                "--format",
                "parquet",
                "SELECT 1 AS x FROM ledger",
            ],
            "--output",
        ),
        (
            &["query", "--ledger", "nowhere", "SELECT * FROM ledger"],
            "nowhere",
        ),
    ];
    for (args, needle) in cases {
        let out = carbonledger(path, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} wrote data");
    }
    assert!(!path.join("q.parquet").exists());
}
