//! The binary on GCP billing exports, as a user runs it: `carbonledger estimate --input
//! export.csv` detects the export, both methods reconcile (rows and cost per currency computed
//! here from the fixture with the `csv` crate, never typed in), a few rows carry the numbers
//! worked out by hand from the methodology and the factor CSVs, and a broken export fails
//! with exit code 1 naming the file, the line and the column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gcp")
        .join(name)
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

/// Rows and cost per currency of a flattened CSV export: gross (`cost`), net (`cost` plus
/// every credit) and net of every credit but promotions.
#[derive(Debug, Default)]
struct InputFacts {
    rows: usize,
    gross: BTreeMap<String, f64>,
    net: BTreeMap<String, f64>,
    net_except_promotions: BTreeMap<String, f64>,
}

fn input_facts(path: &Path) -> InputFacts {
    let mut csv = csv::Reader::from_path(path).expect("fixture");
    let header = csv.headers().expect("header").clone();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (cost_at, currency_at, credits_at) = (at("cost"), at("currency"), at("credits"));
    let mut facts = InputFacts::default();
    for record in csv.records() {
        let record = record.expect("record");
        facts.rows += 1;
        let currency = record[currency_at].to_owned();
        let cost: f64 = record[cost_at].parse().expect("cost");
        let credits: serde_json::Value =
            serde_json::from_str(&record[credits_at]).expect("credits JSON");
        let (mut all, mut not_promotions) = (0.0, 0.0);
        for credit in credits.as_array().expect("a list") {
            let amount = credit["amount"].as_f64().expect("amount");
            all += amount;
            if credit["type"] != "PROMOTION" {
                not_promotions += amount;
            }
        }
        *facts.gross.entry(currency.clone()).or_default() += cost;
        *facts.net.entry(currency.clone()).or_default() += cost + all;
        *facts.net_except_promotions.entry(currency).or_default() += cost + not_promotions;
    }
    facts
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

/// The ledger row of the fixture's line `line`.
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

fn assert_close(row: &BTreeMap<String, String>, column: &str, expected: f64) {
    let actual = number(row, column);
    assert!(
        (actual - expected).abs() <= 1e-9 * expected.abs().max(1e-12),
        "line {} {column}: {actual} != {expected}",
        row["source_line"]
    );
}

#[test]
fn both_methods_reconcile_on_the_detected_export() {
    let input = fixture("export_mixed.csv");
    let facts = input_facts(&input);
    assert_eq!(facts.rows, 26);
    for (method, cost, expected) in [
        ("default", None, &facts.net),
        ("ccf", None, &facts.gross),
        ("default", Some("gross"), &facts.gross),
        (
            "ccf",
            Some("net-except-promotions"),
            &facts.net_except_promotions,
        ),
    ] {
        let mut extra = vec!["--method", method];
        if let Some(cost) = cost {
            extra.extend(["--gcp-cost", cost]);
        }
        let (rows, log) = estimate(&input, &extra);
        assert_eq!(rows.len(), facts.rows, "{method} {cost:?}");
        assert_same_cost(&cost_by_currency(&rows), expected);
        assert!(log.contains("rows read                    26"), "{log}");
        assert!(rows.iter().all(|r| r["provider"] == "gcp"));
        assert!(rows.iter().all(|r| r["method"] == method));
    }
}

#[test]
fn every_format_reconciles_with_an_explicit_provider() {
    let facts = input_facts(&fixture("export_mixed.csv"));
    for name in [
        "export_mixed.jsonl",
        "export_nested.parquet",
        "export_koku_repr.csv",
        "folder",
    ] {
        let (rows, _) = estimate(&fixture(name), &["--provider", "gcp"]);
        assert_eq!(rows.len(), facts.rows, "{name}");
        assert_same_cost(&cost_by_currency(&rows), &facts.net);
        // Detection finds the same export without `--provider`.
        let (detected, _) = estimate(&fixture(name), &[]);
        assert_eq!(detected.len(), facts.rows, "{name} detected");
    }
}

#[test]
fn rows_carry_the_hand_worked_numbers_in_both_methods() {
    let (default, _) = estimate(&fixture("export_mixed.csv"), &["--method", "default"]);
    let (ccf, _) = estimate(&fixture("export_mixed.csv"), &["--method", "ccf"]);

    // Line 2, n1-standard-4 in us-central1, 4 vCPU-hours.
    // default: Skylake 0.6129888539040325 / 3.8679459262938636 W (default/cpu_watts.csv) at
    // 50 %: 0.6129888539040325 + 0.5 × 3.2549570723898311 = 2.240467390098948 W;
    // 4 × 2.240467390098948 / 1000 × PUE 1.11 (us-central1, 2023 row for a 2024 bill)
    // = 0.009947675212039328 kWh; × grid 0.41272 (us-central1 2024) = 0.004105604513512872 kg.
    // Embodied: 1677.48 kg (n1-standard) × 4 vCPU-hours / (35040 h × 96 vCPUs of
    // n1-standard-96) = 0.0019947203196347034 kg.
    let r = at_line(&default, 2);
    assert_eq!(r["usage_class"], "compute");
    assert_close(r, "energy_kwh", 0.009947675212039328);
    assert_close(r, "scope2_location_kg", 0.004105604513512872);
    assert_close(r, "scope3_embodied_kg", 0.0019947203196347034);
    // ccf: n1 lists Sandy and Ivy Bridge, so the median of Skylake, Broadwell, Haswell, Sandy
    // Bridge, Ivy Bridge: min 1, max 4.74 → 1 + 0.5 × 3.74 = 2.87 W; 4 × 2.87 / 1000 × 1.11
    // = 0.0127428 kWh; CCF's gross cost 0.126.
    let r = at_line(&ccf, 2);
    assert_close(r, "watts_per_vcpu", 2.87);
    assert_close(r, "energy_kwh", 0.0127428);
    assert_close(r, "cost", 0.126);

    // Line 4, n2d-standard-2: CCF reads `n2` → Cascade Lake 0.64 / 3.97 → 2.305 W; the default
    // set says AMD EPYC 2nd Gen 0.4742621527777777 / 1.575187293981481 → 1.0247247233796295 W.
    assert_close(at_line(&ccf, 4), "watts_per_vcpu", 2.305);
    assert_close(at_line(&default, 4), "watts_per_vcpu", 1.0247247233796295);
    // Line 5, `e2-custom-4-8192` (in no table): CCF's `e2` list Skylake, Broadwell, Haswell,
    // AMD EPYC 2nd Gen, averaged: min (0.65 + 0.71 + 1 + 0.47) / 4 = 0.7075, max (4.26 + 3.69
    // + 4.74 + 1.69) / 4 = 3.595 → 0.7075 + 0.5 × 2.8875 = 2.15125 W. Default: the e2 series
    // is Skylake → 2.240467390098948 W.
    assert_eq!(
        at_line(&ccf, 5)["cpu_architecture"],
        "Skylake;Broadwell;Haswell;AMD EPYC 2nd Gen"
    );
    assert_close(at_line(&ccf, 5), "watts_per_vcpu", 2.15125);
    assert_close(at_line(&default, 5), "watts_per_vcpu", 2.240467390098948);

    // Line 3, 15 GiB-hours of RAM: × 0.000392 kWh/GB-h × PUE 1.11 = 0.0065268 kWh (both).
    assert_close(at_line(&default, 3), "energy_kwh", 0.0065268);
    assert_close(at_line(&ccf, 3), "energy_kwh", 0.0065268);

    // Line 7, one V100 GPU-hour: 35 + 0.5 × (306 − 35) = 170.5 W → 0.1705 kWh × 1.11
    // = 0.189255 kWh (both).
    assert_close(at_line(&default, 7), "energy_kwh", 0.189255);
    assert_close(at_line(&ccf, 7), "energy_kwh", 0.189255);
    // Line 8, two `Tesla T4` GPU-hours: default Nvidia T4 8 / 71 W → 39.5 W → 2 × 39.5 / 1000
    // × 1.11 = 0.08769 kWh. CCF names no model and averages its six: min (8 + 35 + 35 + 46 +
    // 9 + 36) / 6 = 28.1667, max (71 + 306 + 306 + 407 + 76.5 + 306) / 6 = 245.4167 →
    // 136.7917 W → 2 × 136.7917 / 1000 × 1.11 = 0.3036775 kWh.
    assert_close(at_line(&default, 8), "energy_kwh", 0.08769);
    assert_close(at_line(&ccf, 8), "energy_kwh", 0.3036775);

    // Line 11, 2 TB-hours in the `us` multi-region bucket, HDD 0.65 Wh/TB-h, Cloud Storage
    // replication 2 (`Multi-region`), PUE: no `us` row, provider default.
    // default: 2 × 0.65 / 1000 × 2 × 1.09 (2024) = 0.002834 kWh; grid `us` 2024 (mean of the
    // US regions) 0.34647 → 0.00098189598 kg.
    let r = at_line(&default, 11);
    assert_eq!(r["region"], "us");
    assert_close(r, "energy_kwh", 0.002834);
    assert_close(r, "scope2_location_kg", 0.00098189598);
    // ccf: 2 × 10^12 / 2^40 = 1.8189894035458565 TiB-hours × 0.65 / 1000 × 2 × 1.1
    // = 0.0026011548470705748 kWh; CCF's `us` factor is the sum 2.805 → 0.007296239346032962.
    let r = at_line(&ccf, 11);
    assert_close(r, "energy_kwh", 0.0026011548470705748);
    assert_close(r, "scope2_location_kg", 0.007296239346032962);

    // Line 13, 10 GiB of inter-region egress billed globally: no region.
    // default: 10.73741824 GB × 0.001 × 1.09 = 0.0117037858816 kWh; ccf: 10 × 0.001 × 1.1
    // = 0.011 kWh.
    let r = at_line(&default, 13);
    assert_eq!(r["region"], "");
    assert_close(r, "energy_kwh", 0.0117037858816);
    assert_close(at_line(&ccf, 13), "energy_kwh", 0.011);

    // Line 20, tax: excluded in both, its cost kept.
    for rows in [&default, &ccf] {
        let r = at_line(rows, 20);
        assert_eq!(r["usage_class"], "excluded");
        assert_eq!(r["estimate_kind"], "excluded");
        assert_close(r, "cost", 0.42);
    }
}

#[test]
fn a_broken_export_names_file_line_and_column() {
    let input = fixture("bad_number.csv");
    let out = run(&["estimate", "--input", input.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = format!(
        "{}, line 3, column `usage.amount`: `12,5` is not a number",
        input.display()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    let input = fixture("bad_date.csv");
    let out = run(&[
        "estimate",
        "--provider",
        "gcp",
        "--input",
        input.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let expected = format!(
        "{}, line 4, column `usage_start_time`: `2024-01-32 10:00:00 UTC` is not a date and \
         time",
        input.display()
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}
