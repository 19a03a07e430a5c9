//! `carbonledger estimate --format focus`, as a user runs it: the FOCUS rows are the ledger's
//! rows (same count, same cost, same energy and emissions, summed here from the plain ledger
//! of the same input), the cost lands in the FOCUS column of its measure, CSV and Parquet
//! both work, and grouping is refused.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use polars::prelude::*;

fn run(args: &[&str]) -> Output {
    Command::cargo_bin("carbonledger")
        .expect("binary")
        .args(args)
        .output()
        .expect("runs")
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A CSV file as columns of text, by header name.
fn read_csv(path: &Path) -> (usize, HashMap<String, Vec<String>>) {
    let mut csv = csv::Reader::from_path(path).expect("csv output");
    let header: Vec<String> = csv
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let mut columns: HashMap<String, Vec<String>> = HashMap::new();
    let mut rows = 0;
    for record in csv.records() {
        let record = record.expect("record");
        rows += 1;
        for (name, value) in header.iter().zip(record.iter()) {
            columns
                .entry(name.clone())
                .or_default()
                .push(value.to_owned());
        }
    }
    (rows, columns)
}

fn sum(values: &[String]) -> f64 {
    values
        .iter()
        .filter(|v| !v.is_empty())
        .map(|v| v.parse::<f64>().expect("a number"))
        .sum()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The plain ledger and the FOCUS ledger of the same input.
fn both(dir: &Path, input: &[&str]) -> (PathBuf, PathBuf) {
    let plain = dir.join("ledger.csv");
    let focus = dir.join("focus.csv");
    let with = |format: &str, out: &Path| {
        let mut args = vec!["estimate"];
        args.extend(input);
        args.extend(["--format", format, "--output", out.to_str().expect("utf-8")]);
        ok(run(&args));
    };
    with("csv", &plain);
    with("focus", &focus);
    (plain, focus)
}

#[test]
fn focus_rows_carry_the_ledgers_rows_cost_and_carbon() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (plain, focus) = both(dir.path(), &["--sample"]);
    let (n, ledger) = read_csv(&plain);
    let (m, rows) = read_csv(&focus);
    assert!(n > 10, "the sample has rows");
    assert_eq!(n, m);

    // The sample is read at unblended cost: FOCUS's BilledCost.
    assert!(close(sum(&rows["BilledCost"]), sum(&ledger["cost"])));
    assert!(close(sum(&rows["x_Cost"]), sum(&ledger["cost"])));
    assert!(rows["EffectiveCost"].iter().all(String::is_empty));
    assert!(rows["x_CostMeasure"].iter().all(|m| m == "unblended"));
    for (focus_name, ledger_name) in [
        ("x_EnergyKwh", "energy_kwh"),
        ("x_Scope2LocationKgCo2e", "scope2_location_kg"),
        ("x_Scope3EmbodiedKgCo2e", "scope3_embodied_kg"),
        ("x_VcpuHours", "vcpu_hours"),
        ("x_StorageTbHours", "storage_tb_hours"),
    ] {
        assert!(
            close(sum(&rows[focus_name]), sum(&ledger[ledger_name])),
            "{focus_name} differs from {ledger_name}"
        );
        assert!(sum(&rows[focus_name]) > 0.0, "{focus_name} is empty");
    }

    // Row for row: the charge category follows the CUR line item type.
    for (charge_type, category) in ledger["charge_type"].iter().zip(&rows["ChargeCategory"]) {
        let expected = match charge_type.as_str() {
            "Tax" => "Tax",
            "Credit" | "Refund" => "Credit",
            "RIFee" | "Fee" | "SavingsPlanRecurringFee" | "SavingsPlanUpfrontFee" => "Purchase",
            _ => "Usage",
        };
        assert_eq!(category, expected, "charge type {charge_type}");
    }
    assert!(ledger["charge_type"].iter().any(|c| c != "Usage"));
    // FOCUS date/time format, and the billing period is the charge's month.
    for (start, period) in rows["ChargePeriodStart"]
        .iter()
        .zip(&rows["BillingPeriodStart"])
    {
        assert!(start.ends_with('Z') && start.contains('T'), "{start}");
        assert_eq!(&start[..7], &period[..7]);
        assert!(period.ends_with("-01T00:00:00Z"), "{period}");
    }
    assert!(rows["ProviderName"].iter().all(|p| p == "AWS"));
    assert_eq!(ledger["usage_account"], rows["SubAccountId"]);
}

#[test]
fn focus_parquet_has_the_same_rows_as_focus_csv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_out = dir.path().join("focus.csv");
    let parquet_out = dir.path().join("focus.parquet");
    for out in [&csv_out, &parquet_out] {
        let out = out.to_str().expect("utf-8");
        ok(run(&[
            "estimate", "--sample", "--format", "focus", "--output", out,
        ]));
    }
    let (n, rows) = read_csv(&csv_out);
    let file = std::fs::File::open(&parquet_out).expect("parquet output");
    let df = ParquetReader::new(file).finish().expect("readable Parquet");
    assert_eq!(df.height(), n);
    let header: Vec<String> = csv::Reader::from_path(&csv_out)
        .expect("csv")
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, header);
    let energy = df
        .column("x_EnergyKwh")
        .expect("energy")
        .f64()
        .expect("f64");
    assert!(close(
        energy.sum().unwrap_or(0.0),
        sum(&rows["x_EnergyKwh"])
    ));
}

#[test]
fn gcp_cost_before_credits_has_no_focus_cost_column() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/gcp/export_mixed.csv");
    let input = fixture.to_str().expect("utf-8");
    let dir = tempfile::tempdir().expect("temp dir");

    let (plain, focus) = both(dir.path(), &["--input", input, "--gcp-cost", "gross"]);
    let (_, ledger) = read_csv(&plain);
    let (_, rows) = read_csv(&focus);
    for name in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] {
        assert!(rows[name].iter().all(String::is_empty), "{name} filled");
    }
    assert!(close(sum(&rows["x_Cost"]), sum(&ledger["cost"])));
    assert!(rows["x_CostMeasure"].iter().all(|m| m == "gross"));
    assert!(rows["ProviderName"].iter().all(|p| p == "Google Cloud"));

    let (plain, focus) = both(dir.path(), &["--input", input, "--gcp-cost", "net"]);
    let (_, ledger) = read_csv(&plain);
    let (_, rows) = read_csv(&focus);
    assert!(close(sum(&rows["BilledCost"]), sum(&ledger["cost"])));
    let services: Vec<(&String, &String)> = ledger["service"]
        .iter()
        .zip(&rows["ServiceCategory"])
        .collect();
    assert!(
        services
            .iter()
            .any(|(s, c)| s.as_str() == "Compute Engine" && c.as_str() == "Compute")
    );
}

#[test]
fn focus_output_refuses_grouping() {
    let out = run(&[
        "estimate",
        "--sample",
        "--format",
        "focus",
        "--group-by",
        "service",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--group-by"), "{stderr}");
}

/// Reads a grouped CSV (one row per provider and currency) into its header and first row.
fn grouped(out: &Output) -> HashMap<String, String> {
    let mut csv = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = csv
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let row = csv.records().next().expect("one group").expect("record");
    header
        .into_iter()
        .zip(row.iter().map(String::from))
        .collect()
}

#[test]
fn the_focus_output_read_back_by_the_focus_connector_gives_the_same_ledger_totals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let focus = dir.path().join("ledger-focus.csv");
    let focus = focus.to_str().expect("utf-8");
    ok(run(&[
        "estimate", "--sample", "--format", "focus", "--output", focus,
    ]));
    let keys = ["--group-by", "provider", "--format", "csv"];
    let native = ok(run(&[&["estimate", "--sample"][..], &keys].concat()));
    // The sample is read at unblended cost, which the output put in BilledCost.
    let back = ok(run(&[
        &["estimate", "--input", focus, "--focus-cost", "billed"][..],
        &keys,
    ]
    .concat()));
    assert!(String::from_utf8_lossy(&back.stderr).contains("FOCUS 1."));
    let (a, b) = (grouped(&native), grouped(&back));
    assert_eq!(a["rows"], b["rows"]);
    for column in [
        "cost",
        "energy_kwh",
        "scope2_location_kg",
        "scope3_embodied_kg",
    ] {
        let (x, y): (f64, f64) = (a[column].parse().expect("x"), b[column].parse().expect("y"));
        assert!(
            x > 0.0 && close(x, y),
            "{column}: native {x}, through FOCUS {y}"
        );
    }
}
