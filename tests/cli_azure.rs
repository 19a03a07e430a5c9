//! The binary on Azure cost-details exports, as a user runs it: `carbonledger estimate --input
//! costs.csv` detects the export, every header variant and the export folder reconcile under
//! both methods (rows and cost per currency computed here from the fixtures with the `csv`
//! crate, never typed in), rows carry the energy worked out from the quantities and the factor
//! CSVs, a broken export fails with exit code 1 naming the file, the line and the column, and
//! a FOCUS file is not taken for an Azure export.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("fixtures/azure").join(name)
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

/// Rows and cost per currency of a cost-details CSV, by the named columns.
fn input_facts(path: &Path, cost: &str, currency: &str) -> (usize, BTreeMap<String, f64>) {
    let mut csv = csv::Reader::from_path(path).expect("fixture");
    let header: Vec<String> = csv
        .headers()
        .expect("header")
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_owned())
        .collect();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (cost_at, currency_at) = (at(cost), at(currency));
    let mut rows = 0;
    let mut totals = BTreeMap::new();
    for record in csv.records() {
        let record = record.expect("record");
        rows += 1;
        let value: f64 = record[cost_at].parse().unwrap_or(0.0);
        *totals.entry(record[currency_at].to_owned()).or_default() += value;
    }
    (rows, totals)
}

/// The ledger a run wrote as CSV: one map of column → value per row.
fn ledger(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut csv = csv::Reader::from_path(path).expect("ledger");
    let header = csv.headers().expect("header").clone();
    csv.records()
        .map(|r| {
            let r = r.expect("row");
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn cost_by_currency(rows: &[BTreeMap<String, String>]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for row in rows {
        let cost: f64 = row["cost"].parse().expect("cost");
        *out.entry(row["currency"].clone()).or_default() += cost;
    }
    out
}

fn assert_same_cost(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (currency, x) in a {
        assert!(
            (x - b[currency]).abs() < 1e-9,
            "{currency}: {x} != {}",
            b[currency]
        );
    }
}

/// Runs `estimate` on `input` writing the whole ledger as CSV; returns the rows and stderr.
fn estimate(input: &Path, extra: &[&str]) -> (Vec<BTreeMap<String, String>>, String) {
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
    (ledger(&output), stderr(&out))
}

fn at_line(rows: &[BTreeMap<String, String>], line: u64) -> &BTreeMap<String, String> {
    let line = line.to_string();
    rows.iter()
        .find(|r| r["source_line"] == line)
        .unwrap_or_else(|| panic!("no ledger row for line {line}"))
}

fn number(row: &BTreeMap<String, String>, column: &str) -> f64 {
    row[column]
        .parse()
        .unwrap_or_else(|_| panic!("{column} = `{}`", row[column]))
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1e-12),
        "{what}: {actual} != {expected}"
    );
}

/// A value of a factor CSV of `factors/default`: the `value_column` of the first row whose
/// leading columns are `key`.
fn factor(file: &str, key: &[&str], value_column: &str) -> f64 {
    let path = root().join("factors/default").join(file);
    let mut csv = csv::Reader::from_path(&path).expect("factor file");
    let header = csv.headers().expect("header").clone();
    let at = header
        .iter()
        .position(|h| h == value_column)
        .expect("column");
    for record in csv.records() {
        let record = record.expect("record");
        if key.iter().enumerate().all(|(i, k)| &record[i] == *k) {
            return record[at].parse().expect("number");
        }
    }
    panic!("{file}: no row {key:?}");
}

/// A text value of a factor CSV of `factors/default` (see [`factor`]).
fn text_factor(file: &str, key: &[&str], value_column: &str) -> String {
    let path = root().join("factors/default").join(file);
    let mut csv = csv::Reader::from_path(&path).expect("factor file");
    let header = csv.headers().expect("header").clone();
    let at = header
        .iter()
        .position(|h| h == value_column)
        .expect("column");
    for record in csv.records() {
        let record = record.expect("record");
        if key.iter().enumerate().all(|(i, k)| &record[i] == *k) {
            return record[at].to_owned();
        }
    }
    panic!("{file}: no row {key:?}");
}

#[test]
fn every_variant_is_detected_and_reconciles_under_both_methods() {
    let cases = [
        ("ea_actual.csv", "Cost", "BillingCurrency"),
        ("ea_amortized.csv", "Cost", "BillingCurrency"),
        (
            "mca_actual.csv",
            "CostInBillingCurrency",
            "BillingCurrencyCode",
        ),
        ("payg_camel.csv", "costInBillingCurrency", "billingCurrency"),
        ("payg_legacy.csv", "PreTaxCost", "Currency"),
        (
            "ea_german.csv",
            "Kosten (Cost)",
            "Abrechnungswährung (BillingCurrency)",
        ),
        (
            "finops-toolkit_EA_ActualCost_Small.csv",
            "Cost",
            "BillingCurrency",
        ),
        (
            "finops-toolkit_EA_AmortizedCost_Small.csv",
            "Cost",
            "BillingCurrency",
        ),
    ];
    for (name, cost, currency) in cases {
        let input = fixture(name);
        let (rows_in, cost_in) = input_facts(&input, cost, currency);
        for method in ["default", "ccf"] {
            let (rows, log) = estimate(&input, &["--method", method]);
            assert_eq!(rows.len(), rows_in, "{name} {method}");
            assert_same_cost(&cost_by_currency(&rows), &cost_in);
            assert!(rows.iter().all(|r| r["provider"] == "azure"), "{name}");
            let read = log
                .lines()
                .find_map(|l| l.trim().strip_prefix("rows read"))
                .map(|n| n.trim().parse::<usize>().expect("count"));
            assert_eq!(read, Some(rows_in), "{name}: {log}");
        }
    }
}

#[test]
fn gzip_parquet_and_the_export_folder_reconcile() {
    let (rows_in, cost_in) = input_facts(&fixture("ea_actual.csv"), "Cost", "BillingCurrency");
    for name in ["ea_actual.csv.gz", "ea_actual.parquet"] {
        // Detected from the gzip CSV header and from the Parquet schema.
        let (rows, _) = estimate(&fixture(name), &[]);
        assert_eq!(rows.len(), rows_in, "{name}");
        assert_same_cost(&cost_by_currency(&rows), &cost_in);
    }
    // The folder: the latest September run (all rows) and October (the first two rows).
    let october = fixture(
        "layout/exports/daily/costs-actual/20231001-20231031/\
         5e6f7a8b-0000-4000-8000-000000000003/part_0_0001.csv",
    );
    let (rows_oct, cost_oct) = input_facts(&october, "Cost", "BillingCurrency");
    let (rows, _) = estimate(&fixture("layout"), &[]);
    assert_eq!(rows.len(), rows_in + rows_oct);
    let mut expected = cost_in.clone();
    for (c, v) in cost_oct {
        *expected.entry(c).or_default() += v;
    }
    assert_same_cost(&cost_by_currency(&rows), &expected);
    let sources: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["source"].as_str()).collect();
    assert_eq!(sources.len(), 3, "{sources:?}");
}

#[test]
fn rows_carry_the_energy_of_their_quantities() {
    let (rows, log) = estimate(&fixture("ea_actual.csv"), &[]);
    let pue = factor("pue.csv", &["azure", "*"], "pue");
    let network_kwh_per_gb = factor("coefficients.csv", &["network_kwh_per_gb"], "value");
    let ssd_wh = factor("coefficients.csv", &["ssd_wh_per_tb_hour"], "value");

    // Line 7: 0.5 × `100 GB` of egress = 50 GB.
    let row = at_line(&rows, 7);
    assert_eq!(row["usage_class"], "network");
    assert_close(
        number(row, "network_kwh"),
        50.0 * network_kwh_per_gb * pue,
        "network",
    );

    // Line 5: 300 GB-months of Hot LRS blobs in September = 216 TB-hours; LRS storage is kept
    // three times (replication.csv, `Storage` includes `LRS`).
    let row = at_line(&rows, 5);
    assert_eq!(row["usage_class"], "storage_ssd");
    assert_eq!(row["service"], "Storage");
    assert_close(number(row, "storage_tb_hours"), 216.0, "TB-hours");
    let rf = factor("replication.csv", &["azure", "Storage", "1"], "factor");
    assert_eq!(number(row, "replication_factor"), rf);
    assert_close(
        number(row, "storage_kwh"),
        216.0 * ssd_wh / 1000.0 * pue * rf,
        "storage",
    );
    // The grid factor of westeurope for 2023, the row's year.
    let grid = factor(
        "grid_location.csv",
        &["azure", "westeurope", "2023"],
        "kgco2e_per_kwh",
    );
    assert_close(number(row, "grid_kg_per_kwh"), grid, "grid");

    // Line 2: 2.4 × `10 Hours` of an E4s v3 with 4 vCPUs = 96 vCPU-hours, at the mean
    // watts of the size's processors (instances.csv, cpu_watts.csv) at 50 % utilisation.
    let row = at_line(&rows, 2);
    assert_eq!(row["usage_class"], "compute");
    assert_close(number(row, "vcpu_hours"), 96.0, "vCPU-hours");
    let processors = text_factor("instances.csv", &["azure", "E4s v3"], "processors");
    let util = factor("coefficients.csv", &["cpu_utilization_percent"], "value") / 100.0;
    let watts: Vec<f64> = processors
        .split(';')
        .map(|arch| {
            let min = factor("cpu_watts.csv", &["azure", arch], "min_watts");
            let max = factor("cpu_watts.csv", &["azure", arch], "max_watts");
            min + util * (max - min)
        })
        .collect();
    let mean = watts.iter().sum::<f64>() / watts.len() as f64;
    assert_close(number(row, "watts_per_vcpu"), mean, "watts per vCPU");
    assert_close(
        number(row, "cpu_kwh"),
        96.0 * mean / 1000.0 * pue,
        "cpu kWh",
    );

    // Line 4: the reservation purchase is excluded with its reason and keeps its cost.
    let row = at_line(&rows, 4);
    assert_eq!(row["estimate_kind"], "excluded");
    assert!(row["exclusion_reason"].starts_with("reservation purchase"));
    assert_eq!(number(row, "cost"), 75.0);
    assert_eq!(row["energy_kwh"], "");

    // The reconciliation names the excluded purchases and the unit not in the table.
    assert!(log.contains("reservation purchase"), "{log}");
    assert!(log.contains("`1 Tile Batch` (1 rows)"), "{log}");
}

#[test]
fn a_broken_export_names_file_line_and_column() {
    let input = fixture("bad_number.csv");
    let out = run(&["estimate", "--input", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = format!("{}, line 4, column `Quantity`", input.display());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));

    let input = fixture("missing_column.csv");
    let out = run(&[
        "estimate",
        "--provider",
        "azure",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = format!("{}, line 1, column `UnitOfMeasure`", input.display());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[test]
fn a_focus_file_is_not_taken_for_azure_cost_details() {
    let dir = tempfile::tempdir().unwrap();
    let focus = dir.path().join("focus.csv");
    std::fs::write(
        &focus,
        "BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ServiceName,\
         ConsumedQuantity,ConsumedUnit,PricingUnit,RegionId,ProviderName\n\
         1.0,USD,2024-01-01T00:00:00Z,2024-01-02T00:00:00Z,Virtual Machines,24,Hours,\
         Hours,eastus,Microsoft\n",
    )
    .unwrap();
    let out = run(&["estimate", "--input", focus.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // The FOCUS connector takes it (and names what the excerpt lacks), not the Azure one.
    assert!(
        stderr(&out).contains("is missing from the FOCUS header"),
        "{}",
        stderr(&out)
    );
}
