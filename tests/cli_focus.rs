//! The binary on FOCUS files, as a user runs it: detection, the three file formats and a
//! folder, the charge rules (commitments counted once, purchases, tax, credits and corrections
//! excluded with their cost), messy values, errors naming file, line and column, and the round
//! trips: a native AWS CUR and a native GCP export against their FOCUS conversions
//! (`fixtures/focus/cur_to_focus.py`, `gcp_to_focus.py`). Expected values are computed here
//! from the fixtures and the factor CSVs, never typed in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

type Row = BTreeMap<String, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn focus(name: &str) -> PathBuf {
    root().join("fixtures/focus").join(name)
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

/// Rows of a CSV file as maps of column → value.
fn csv_rows(path: &Path) -> Vec<Row> {
    let mut csv = csv::Reader::from_path(path).expect("csv");
    let header = csv.headers().expect("header").clone();
    csv.records()
        .map(|r| {
            let r = r.expect("record");
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.trim_start_matches('\u{feff}').to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// Runs `estimate` on `input` writing the whole ledger as CSV; returns the rows and stderr.
fn estimate(input: &Path, extra: &[&str]) -> (Vec<Row>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("ledger.csv");
    let mut args = vec![
        "estimate",
        "--input",
        input.to_str().expect("utf-8 path"),
        "--format",
        "csv",
        "--output",
        output.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "{args:?} failed:\n{}", stderr(&out));
    (csv_rows(&output), stderr(&out))
}

fn number(row: &Row, column: &str) -> f64 {
    match row[column].as_str() {
        "" => 0.0,
        v => v.parse().unwrap_or_else(|_| panic!("{column} = `{v}`")),
    }
}

fn total(rows: &[Row], column: &str) -> f64 {
    rows.iter().map(|r| number(r, column)).sum()
}

fn by_line(rows: &[Row]) -> BTreeMap<u64, &Row> {
    rows.iter()
        .map(|r| (r["source_line"].parse().expect("line"), r))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

const QUANTITIES: [&str; 5] = [
    "vcpu_hours",
    "gpu_hours",
    "memory_gb_hours",
    "storage_tb_hours",
    "network_gb",
];

/// The factor set's instance table: (provider, instance type) → (vCPUs, memory GB).
fn instances() -> BTreeMap<(String, String), (f64, f64)> {
    csv_rows(&root().join("factors/default/instances.csv"))
        .into_iter()
        .map(|r| {
            let key = (r["provider"].clone(), r["instance_type"].clone());
            (key, (number(&r, "vcpus"), number(&r, "memory_gb")))
        })
        .collect()
}

#[test]
fn a_cur_and_its_focus_conversion_give_the_same_ledger() {
    let cur = root().join("fixtures/aws/cur_legacy_anonymized_focus_converters.csv");
    let converted = focus("roundtrip/cur_legacy_anonymized.focus.csv");
    let (native, _) = estimate(&cur, &["--cost", "unblended"]);
    let (via_focus, log) = estimate(&converted, &["--cost", "unblended"]);
    assert!(log.contains("FOCUS 1.2 (CSV)"), "{log}");
    assert_eq!(native.len(), csv_rows(&cur).len());
    assert_eq!(native.len(), via_focus.len());
    // The cost: the CUR's unblended cost summed here, equal on both sides.
    let input: f64 = csv_rows(&cur)
        .iter()
        .map(|r| number(r, "lineItem/UnblendedCost"))
        .sum();
    for column in [
        "cost",
        "energy_kwh",
        "scope2_location_kg",
        "scope3_embodied_kg",
    ] {
        let (a, b) = (total(&native, column), total(&via_focus, column));
        assert!(close(a, b), "{column}: CUR {a} vs FOCUS {b}");
    }
    assert!(close(total(&native, "cost"), input));
    assert!(total(&native, "energy_kwh") > 0.0);
    let (a, b) = (by_line(&native), by_line(&via_focus));
    for (line, row) in &a {
        let other = b[line];
        assert_eq!(row["usage_class"], other["usage_class"], "line {line}");
        assert_eq!(row["region"], other["region"], "line {line}");
        for q in QUANTITIES {
            assert!(close(number(row, q), number(other, q)), "line {line} {q}");
        }
    }
}

#[test]
fn the_mixed_cur_round_trip_differs_only_where_focus_has_no_vcpu_column() {
    let cur = root().join("fixtures/aws/legacy_mixed.csv");
    let converted = focus("roundtrip/legacy_mixed.focus.csv");
    let raw = csv_rows(&cur);
    // BilledCost is the net unblended cost; EffectiveCost the amortized cost.
    for (native_cost, focus_cost, column) in [
        ("net-unblended", "billed", "lineItem/NetUnblendedCost"),
        ("amortized", "effective", ""),
    ] {
        let (native, _) = estimate(&cur, &["--cost", native_cost]);
        let (via_focus, _) = estimate(&converted, &["--focus-cost", focus_cost]);
        assert_eq!(native.len(), raw.len());
        assert_eq!(via_focus.len(), raw.len());
        assert!(close(total(&native, "cost"), total(&via_focus, "cost")));
        if !column.is_empty() {
            let input: f64 = raw.iter().map(|r| number(r, column)).sum();
            assert!(close(total(&via_focus, "cost"), input));
        }
        let (a, b) = (by_line(&native), by_line(&via_focus));
        let mut differing = Vec::new();
        for (line, row) in &a {
            let other = b[line];
            let same = row["usage_class"] == other["usage_class"]
                && QUANTITIES
                    .iter()
                    .all(|q| close(number(row, q), number(other, q)));
            if !same {
                differing.push(*line);
                // FOCUS has no product/vcpu: a line whose vCPUs only that column gave is
                // real usage the method cannot size, estimated by ratio.
                let cur_row = &raw[(*line - 2) as usize];
                assert!(!cur_row["product/vcpu"].is_empty(), "line {line}");
                assert_eq!(row["usage_class"], "compute", "line {line}");
                assert_eq!(other["usage_class"], "unknown", "line {line}");
            } else if row["estimate_kind"] == "estimated" {
                // Every other estimated line has the same energy.
                let (x, y) = (number(row, "energy_kwh"), number(other, "energy_kwh"));
                assert!(close(x, y), "line {line}: {x} vs {y}");
            }
        }
        assert_eq!(differing.len(), 1, "{differing:?}");
        // The Savings Plan negation (line 17) is excluded on both sides.
        assert_eq!(a[&17]["usage_class"], "excluded");
        assert_eq!(b[&17]["usage_class"], "excluded");
    }
}

#[test]
fn a_gcp_export_and_its_focus_conversion_give_the_same_usage() {
    let export = root().join("fixtures/gcp/export_mixed.csv");
    let converted = focus("roundtrip/gcp_export_mixed.focus.csv");
    let (native, _) = estimate(&export, &["--gcp-cost", "gross"]);
    let (via_focus, log) = estimate(&converted, &["--focus-cost", "billed"]);
    assert!(log.contains("FOCUS 1.1 (CSV)"), "{log}");
    assert_eq!(native.len(), via_focus.len());
    for column in ["cost", "energy_kwh", "scope2_location_kg"] {
        let (a, b) = (total(&native, column), total(&via_focus, column));
        assert!(close(a, b), "{column}: export {a} vs FOCUS {b}");
    }
    let raw = csv_rows(&export);
    let (a, b) = (by_line(&native), by_line(&via_focus));
    for (line, row) in &a {
        let other = b[line];
        for column in ["usage_class", "region", "usage_unit", "tags", "cost"] {
            assert_eq!(row[column], other[column], "line {line} {column}");
        }
        for q in QUANTITIES {
            assert!(close(number(row, q), number(other, q)), "line {line} {q}");
        }
        // The machine type is a GCP system label, which FOCUS has no column for: where the
        // export gave it, FOCUS cannot, and the embodied emissions of the instance are lost.
        let labels = &raw[(*line - 2) as usize]["system_labels"];
        if labels.contains("machine_spec") {
            assert_eq!(other["instance_type"], "", "line {line}");
        } else {
            assert_eq!(row["instance_type"], other["instance_type"], "line {line}");
        }
    }
    assert!(total(&native, "scope3_embodied_kg") > total(&via_focus, "scope3_embodied_kg"));
}

#[test]
fn csv_gzip_parquet_and_a_folder_give_the_same_ledger() {
    let summary = |rows: &[Row]| {
        let mut by_class: BTreeMap<String, (usize, f64, f64)> = BTreeMap::new();
        for r in rows {
            let e = by_class.entry(r["usage_class"].clone()).or_default();
            e.0 += 1;
            e.1 += number(r, "cost");
            e.2 += number(r, "vcpu_hours") + number(r, "storage_tb_hours");
        }
        by_class
    };
    // Every provider's file as CSV, gzip CSV and Parquet (DuckDB's types: doubles,
    // timestamps, a MAP of tags) gives the same ledger.
    for stem in [
        "aws_focus_1_2",
        "azure_focus_1_0",
        "oci_focus_1_0",
        "roundtrip/gcp_export_mixed.focus",
    ] {
        let (csv, _) = estimate(&focus(&format!("{stem}.csv")), &[]);
        let expected = summary(&csv);
        for ext in ["csv.gz", "parquet"] {
            let (rows, _) = estimate(&focus(&format!("{stem}.{ext}")), &[]);
            assert_eq!(summary(&rows).len(), expected.len(), "{stem}.{ext}");
            for (class, (n, cost, q)) in &expected {
                let (gn, gcost, gq) = summary(&rows)[class];
                assert_eq!(*n, gn, "{stem}.{ext} {class}");
                assert!(close(*cost, gcost) && close(*q, gq), "{stem}.{ext} {class}");
            }
            let (a, b) = (by_line(&csv), by_line(&rows));
            let offset = if ext == "parquet" { 1 } else { 0 };
            for (line, row) in &a {
                let other = b[&(line - offset)];
                for column in ["usage_class", "tags", "period_start", "region", "service"] {
                    assert_eq!(row[column], other[column], "{stem}.{ext} line {line}");
                }
            }
        }
    }
    let (csv, _) = estimate(&focus("aws_focus_1_2.csv"), &[]);
    let expected = summary(&csv);
    for input in ["folder"] {
        let (rows, log) = estimate(&focus(input), &[]);
        let got = summary(&rows);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>()
        );
        for (class, (n, cost, q)) in &expected {
            let (gn, gcost, gq) = got[class];
            assert_eq!(*n, gn, "{input} {class}");
            assert!(close(*cost, gcost) && close(*q, gq), "{input} {class}");
        }
        assert!(log.contains("FOCUS 1.2 (CSV)") && log.contains("FOCUS 1.2 (Parquet)"));
    }
}

#[test]
fn commitments_count_usage_once_and_every_cost_reconciles() {
    let path = focus("aws_focus_1_2.csv");
    let raw = csv_rows(&path);
    let table = instances();
    // vCPU-hours the usage rows really consumed: instance-hours × the type's vCPUs, over the
    // Usage rows that are neither corrections nor the unused part of a commitment.
    let expected_vcpu_hours: f64 = raw
        .iter()
        .filter(|r| r["ChargeCategory"] == "Usage" && r["ChargeClass"].is_empty())
        .filter(|r| r["CommitmentDiscountStatus"] != "Unused")
        .filter_map(|r| {
            let instance = r["x_UsageType"].split_once("BoxUsage:")?.1;
            let (vcpus, _) = table[&("aws".to_owned(), instance.to_owned())];
            Some(number(r, "ConsumedQuantity") * vcpus)
        })
        .sum();
    assert!(expected_vcpu_hours > 0.0);
    for (flag, column) in [("effective", "EffectiveCost"), ("billed", "BilledCost")] {
        let (rows, log) = estimate(&path, &["--focus-cost", flag]);
        assert_eq!(rows.len(), raw.len());
        let input: f64 = raw.iter().map(|r| number(r, column)).sum();
        assert!(close(total(&rows, "cost"), input), "{flag}");
        let cost_in = log
            .lines()
            .find(|l| l.contains("cost in"))
            .expect("reconciliation");
        assert!(cost_in.ends_with(&format!(" {input:.4} USD")), "{log}");
        assert!(
            close(total(&rows, "vcpu_hours"), expected_vcpu_hours),
            "{flag}"
        );
        let lines = by_line(&rows);
        for (i, r) in raw.iter().enumerate() {
            let row = lines[&(i as u64 + 2)];
            // Every AWS row, whatever its class, has the product code as its service.
            assert_eq!(row["service"], r["x_ServiceCode"], "line {}", i + 2);
            let why = row["exclusion_reason"].as_str();
            let expect = match r["ChargeCategory"].as_str() {
                _ if r["ChargeClass"] == "Correction" => "correction",
                "Purchase" => "purchase",
                "Tax" => "tax",
                "Credit" => "credit",
                _ if r["CommitmentDiscountStatus"] == "Unused" => "unused commitment",
                _ => "",
            };
            if expect.is_empty() {
                assert_ne!(row["usage_class"], "excluded", "line {}", i + 2);
            } else {
                assert_eq!(row["usage_class"], "excluded", "line {}", i + 2);
                assert!(why.starts_with(expect), "line {}: {why}", i + 2);
                for q in QUANTITIES {
                    assert_eq!(number(row, q), 0.0);
                }
            }
        }
    }
}

#[test]
fn messy_values_read_as_the_clean_rows() {
    let (clean, _) = estimate(&focus("aws_focus_1_2.csv"), &[]);
    let (messy, _) = estimate(&focus("aws_focus_1_0_messy.csv"), &[]);
    let raw = csv_rows(&focus("aws_focus_1_0_messy.csv"));
    assert_eq!(messy.len(), raw.len());
    // The messy rows are clean lines 2, 3, 5, 10 and 6, in that order.
    let (clean, messy) = (by_line(&clean), by_line(&messy));
    for (line, clean_line) in [(2, 2), (3, 3), (4, 5), (5, 10), (6, 6)] {
        let (m, c) = (messy[&line], clean[&clean_line]);
        for column in [
            "usage_class",
            "period_start",
            "period_end",
            "cost",
            "charge_type",
        ] {
            assert_eq!(m[column], c[column], "messy line {line} {column}");
        }
        for q in QUANTITIES {
            assert!(close(number(m, q), number(c, q)), "messy line {line} {q}");
        }
    }
    // Tags: sorted keys, every value a string, an empty key kept, `null` as "".
    let tags: serde_json::Value = serde_json::from_str(&messy[&2]["tags"]).unwrap();
    let object = tags.as_object().unwrap();
    assert!(object.values().all(|v| v.is_string()));
    assert_eq!(object["Cost Center"], "42");
    assert_eq!(object["aws:createdBy"], "true");
    assert_eq!(object["empty"], "");
    assert_eq!(object[""], "blank key");
    let keys: Vec<_> = object.keys().cloned().collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(messy[&6]["tags"], r#"{"user:team":"data"}"#);
}

#[test]
fn azure_rows_are_classified_by_the_azure_connector() {
    let path = focus("azure_focus_1_0.csv");
    let raw = csv_rows(&path);
    let (rows, log) = estimate(&path, &[]);
    assert!(log.contains("FOCUS 1.0 (CSV)"), "{log}");
    // Usage rows with `x_SkuMeterCategory` go through the Azure connector's converter, so
    // they are classified by the same (CCF) meter rules as Azure's own cost details.
    assert!(
        log.contains("FOCUS rows of provider `azure`: 9 by Azure connector"),
        "{log}"
    );
    let lines = by_line(&rows);
    let table = instances();
    // Line 2: a D2s v3; vCPUs from x_SkuDetails, memory from the factor set's Azure table.
    let details: serde_json::Value = serde_json::from_str(&raw[0]["x_SkuDetails"]).unwrap();
    let hours = number(&raw[0], "ConsumedQuantity");
    let vm = lines[&2];
    assert_eq!(vm["provider"], "azure");
    assert_eq!(vm["usage_class"], "compute");
    assert_eq!(vm["instance_type"], "D2s v3");
    assert_eq!(
        number(vm, "vcpu_hours"),
        details["VCPUs"].as_f64().unwrap() * hours
    );
    let (_, memory) = table[&("azure".to_owned(), "D2s v3".to_owned())];
    assert_eq!(number(vm, "memory_gb_hours"), memory * hours);
    assert_eq!(vm["tags"], r#"{"env":"prod"}"#);
    let class = |line: u64| lines[&line]["usage_class"].clone();
    assert_eq!(class(3), "compute"); // reservation-covered usage
    assert_eq!(class(4), "excluded"); // the reservation purchase
    assert_eq!(class(5), "excluded"); // its unused hours
    assert_eq!(class(6), "storage_ssd");
    assert_eq!(class(7), "storage_hdd");
    // `Data Transfer Out` is one of CCF's Azure egress meters: network, as in cost details.
    assert_eq!(class(8), "network");
    assert_eq!(class(9), "network");
    assert_eq!(
        number(lines[&9], "network_gb"),
        number(&raw[7], "ConsumedQuantity")
    );
    // `vCore Hours` is not a unit of Azure's price sheet (`PricingUnits.csv`; Microsoft's
    // FOCUS export writes its distinct units, `Hours`): the row is kept and estimated by ratio,
    // and the run names the unit.
    assert!(log.contains("vCore Hours"), "{log}");
    for line in [10, 11, 12] {
        assert_eq!(class(line), "unknown", "line {line}");
        assert_eq!(lines[&line]["estimate_kind"], "ratio", "line {line}");
    }
    // A 128 GB disk for March: GB-months × 24 × 31 days / 1000 TB-hours.
    let tb_hours = number(&raw[4], "ConsumedQuantity") * 24.0 * 31.0 / 1000.0;
    assert!(close(number(lines[&6], "storage_tb_hours"), tb_hours));
    let input: f64 = raw.iter().map(|r| number(r, "EffectiveCost")).sum();
    assert!(close(total(&rows, "cost"), input));
}

#[test]
fn oci_rows_without_consumed_quantity_keep_their_cost() {
    let path = focus("oci_focus_1_0.csv");
    let raw = csv_rows(&path);
    let (rows, log) = estimate(&path, &[]);
    assert_eq!(rows.len(), raw.len());
    assert!(rows.iter().all(|r| r["provider"] == "oracle"));
    let input: f64 = raw.iter().map(|r| number(r, "EffectiveCost")).sum();
    assert!(close(total(&rows, "cost"), input));
    // No consumed quantity and no other Oracle usage to take a ratio from: no energy, and
    // the run says why.
    assert_eq!(total(&rows, "energy_kwh"), 0.0);
    assert!(log.contains("no estimated oracle usage"), "{log}");
}

#[test]
fn broken_files_fail_naming_file_line_and_column() {
    let cases = [
        (
            "missing_charge_category.csv",
            "line 1, column `ChargeCategory`: required column",
        ),
        (
            "missing_billing_currency.csv",
            "line 1, column `BillingCurrency`: required column",
        ),
        (
            "bad_date.csv",
            "line 3, column `ChargePeriodStart`: `03/10/2024` is not a date",
        ),
        (
            "bad_number.csv",
            "line 2, column `EffectiveCost`: `1,234.5` is not a number",
        ),
        (
            "bad_category.csv",
            "line 4, column `ChargeCategory`: `Refund` is not a FOCUS",
        ),
        (
            "bad_tags.csv",
            "line 3, column `Tags`: not a JSON object of tags",
        ),
        (
            "null_currency.csv",
            "line 3, column `BillingCurrency`: `BillingCurrency` is null",
        ),
        ("truncated.csv.gz", "gzip data is broken or truncated"),
        ("truncated_line.csv", "line 4, column `"),
        ("truncated.parquet", "The file must end with PAR1"),
        ("empty.csv", "empty file"),
    ];
    for (name, expected) in cases {
        let path = focus("broken").join(name);
        let shown = path.to_str().unwrap().to_owned();
        let out = run(&["estimate", "--provider", "focus", "--input", &shown]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains(&shown) && err.contains(expected),
            "{name}: {err}"
        );
    }
    // Detection too reads a FOCUS file that lacks a mandatory column as FOCUS.
    let path = focus("broken/missing_charge_category.csv");
    let out = run(&["estimate", "--input", path.to_str().unwrap()]);
    assert!(stderr(&out).contains("column `ChargeCategory`: required column"));
}

#[test]
fn focus_is_told_from_native_formats() {
    // A CUR read as FOCUS lacks the FOCUS columns.
    let cur = root().join("fixtures/aws/legacy_mixed.csv");
    let out = run(&[
        "estimate",
        "--provider",
        "focus",
        "--input",
        cur.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("column `ChargePeriodStart`: required column"));
    // The native files are still detected as their own format.
    let (_, log) = estimate(&cur, &[]);
    assert!(!log.contains("FOCUS"), "{log}");
    // The spec's worked examples lack mandatory columns a real export has.
    let examples = focus("spec_examples");
    let out = run(&["estimate", "--input", examples.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("column `BillingCurrency`: required column"));
}

#[test]
fn cost_flags_choose_the_focus_cost_column() {
    let path = focus("aws_focus_1_2.csv");
    let raw = csv_rows(&path);
    let sum = |column: &str| raw.iter().map(|r| number(r, column)).sum::<f64>();
    // Billed and effective cost differ in this file (commitments), list cost too.
    assert!(!close(sum("BilledCost"), sum("EffectiveCost")));
    assert!(!close(sum("ListCost"), sum("BilledCost")));
    let cases: [(&[&str], &str); 7] = [
        (&[], "EffectiveCost"),
        (&["--cost", "unblended"], "BilledCost"),
        (&["--cost", "net-unblended"], "BilledCost"),
        (&["--cost", "amortized"], "EffectiveCost"),
        (&["--method", "ccf"], "EffectiveCost"),
        (&["--focus-cost", "list"], "ListCost"),
        (
            &["--cost", "unblended", "--focus-cost", "contracted"],
            "ContractedCost",
        ),
    ];
    for (flags, column) in cases {
        let (rows, _) = estimate(&path, flags);
        assert!(
            close(total(&rows, "cost"), sum(column)),
            "{flags:?}: {column}"
        );
    }
}

#[test]
fn a_folder_of_two_versions_reports_both() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["aws_focus_1_2.csv", "azure_focus_1_0.csv"] {
        std::fs::copy(focus(name), dir.path().join(name)).unwrap();
    }
    let (rows, log) = estimate(dir.path(), &[]);
    let expected =
        csv_rows(&focus("aws_focus_1_2.csv")).len() + csv_rows(&focus("azure_focus_1_0.csv")).len();
    assert_eq!(rows.len(), expected);
    assert!(
        log.contains("FOCUS 1.2 (CSV)") && log.contains("FOCUS 1.0 (CSV)"),
        "{log}"
    );
    let providers: std::collections::BTreeSet<_> =
        rows.iter().map(|r| r["provider"].as_str()).collect();
    assert_eq!(providers.into_iter().collect::<Vec<_>>(), ["aws", "azure"]);
}

#[test]
fn aws_rows_without_the_aws_columns_degrade_to_the_generic_classifier() {
    // "FOCUS 1.2" without "with AWS columns": no x_UsageType, x_Operation, x_ServiceCode.
    let raw = csv_rows(&focus("aws_focus_1_2.csv"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aws_plain.csv");
    let mut writer = csv::Writer::from_path(&path).unwrap();
    let header: Vec<&String> = raw[0].keys().filter(|k| !k.starts_with("x_")).collect();
    writer.write_record(&header).unwrap();
    for r in &raw {
        writer
            .write_record(header.iter().map(|h| r[*h].as_str()))
            .unwrap();
    }
    writer.flush().unwrap();
    let (rows, log) = estimate(&path, &[]);
    assert_eq!(rows.len(), raw.len());
    let input: f64 = raw.iter().map(|r| number(r, "EffectiveCost")).sum();
    assert!(close(total(&rows, "cost"), input));
    // The charge rules do not need the AWS columns; the sizing does: no instance is sized.
    let (with, _) = estimate(&focus("aws_focus_1_2.csv"), &[]);
    let excluded = |rows: &[Row]| -> Vec<String> {
        rows.iter()
            .filter(|r| r["usage_class"] == "excluded")
            .map(|r| r["source_line"].clone())
            .collect()
    };
    assert!(excluded(&with).iter().all(|l| excluded(&rows).contains(l)));
    assert!(rows.iter().all(|r| r["usage_class"] != "compute"));
    assert!(total(&with, "vcpu_hours") > 0.0);
    assert!(log.contains("by generic FOCUS classifier"), "{log}");
    assert!(!log.contains("by AWS connector"), "{log}");
}

#[test]
fn a_data_export_folder_with_two_executions_of_a_period_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let period = dir.path().join("export/data/BILLING_PERIOD=2024-03");
    for execution in ["exec-a", "exec-b"] {
        std::fs::create_dir_all(period.join(execution)).unwrap();
        std::fs::copy(
            focus("aws_focus_1_2.csv"),
            period.join(execution).join("export-00001.csv"),
        )
        .unwrap();
        // The second execution is the newer one.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let (rows, log) = estimate(&dir.path().join("export"), &[]);
    let (single, _) = estimate(&focus("aws_focus_1_2.csv"), &[]);
    assert_eq!(rows.len(), single.len(), "{log}");
    assert!(close(total(&rows, "cost"), total(&single, "cost")));
    assert!(
        log.contains("exec-b/export-00001.csv") && !log.contains("exec-a/"),
        "{log}"
    );
}
