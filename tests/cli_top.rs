//! `carbonledger top`, as a user runs it after `carbonledger run`: the ranking (by emissions
//! and by kg CO2e per unit of cost) is the one computed here from the partition files, row by
//! row, without polars' grouping.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use assert_cmd::Command;
use common::fixture;
use polars::prelude::*;

fn carbonledger(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::cargo_bin("carbonledger")
        .expect("binary")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// service → (emissions kg, cost) over every row of the ledger's partition files.
fn by_service(ledger: &Path) -> BTreeMap<String, (f64, f64)> {
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut stack = vec![ledger.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("dir").filter_map(|e| e.ok()) {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("_carbonledger") {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "parquet") {
                continue;
            }
            let df = ParquetReader::new(fs::File::open(&path).expect("open"))
                .finish()
                .expect("parquet");
            let f = |c: &str| df.column(c).expect(c).f64().expect("f64").clone();
            let (s2, s3, cost) = (f("scope2_location_kg"), f("scope3_embodied_kg"), f("cost"));
            let service = df
                .column("service")
                .expect("service")
                .str()
                .expect("text")
                .clone();
            for i in 0..df.height() {
                let e = out
                    .entry(service.get(i).expect("service").to_owned())
                    .or_default();
                e.0 += s2.get(i).unwrap_or(0.0) + s3.get(i).unwrap_or(0.0);
                e.1 += cost.get(i).unwrap_or(0.0);
            }
        }
    }
    out
}

fn csv_rows(out: &std::process::Output) -> Vec<BTreeMap<String, String>> {
    let mut csv = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = csv
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    csv.records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.expect("row").iter().map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn top_services_match_the_ledger() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    fs::create_dir(dir.join("cur")).expect("cur");
    fs::copy(
        fixture("sample/cur-sample-2026-10.csv.gz"),
        dir.join("cur/cur-sample-2026-10.csv.gz"),
    )
    .expect("sample");
    let config = "[ledger]\npath = \"ledger\"\n[period]\nmonths = [\"2026-10\"]\n\
                  [[source]]\nname = \"aws\"\nkind = \"aws-cur\"\npath = \"cur\"\n";
    fs::write(dir.join("c.toml"), config).expect("config");
    carbonledger(dir, &["run", "--config", "c.toml"]);
    let expected = by_service(&dir.join("ledger"));

    let mut by_emissions: Vec<(&String, f64)> = expected.iter().map(|(s, v)| (s, v.0)).collect();
    by_emissions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let out = carbonledger(
        dir,
        &[
            "top", "--ledger", "ledger", "--limit", "3", "--format", "csv", "--month", "2026-10",
        ],
    );
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 3);
    for (row, (service, kg)) in rows.iter().zip(&by_emissions) {
        assert_eq!(&row["service"], *service);
        let got: f64 = row["emissions_kg"].parse().expect("kg");
        assert!(
            (got - kg).abs() <= 1e-9 * kg.abs().max(1.0),
            "{service}: {got} vs {kg}"
        );
    }

    let mut by_intensity: Vec<(&String, f64)> = expected
        .iter()
        .filter(|(_, v)| v.1 > 0.0)
        .map(|(s, v)| (s, v.0 / v.1))
        .collect();
    by_intensity.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let out = carbonledger(
        dir,
        &[
            "top",
            "--ledger",
            "ledger",
            "--metric",
            "intensity",
            "--limit",
            "2",
            "--format",
            "csv",
        ],
    );
    let rows = csv_rows(&out);
    assert_eq!(rows.len(), 2);
    for (row, (service, ratio)) in rows.iter().zip(&by_intensity) {
        assert_eq!(&row["service"], *service);
        let got: f64 = row["kg_per_cost"].parse().expect("ratio");
        assert!(
            (got - ratio).abs() <= 1e-9 * ratio.abs().max(1e-6),
            "{service}"
        );
    }
    // A month with no rows: an empty ranking, not an error.
    let out = carbonledger(
        dir,
        &[
            "top", "--ledger", "ledger", "--month", "2020-01", "--format", "csv",
        ],
    );
    assert!(csv_rows(&out).is_empty());
}

/// (month folder, provider) → emissions kg, row by row over the partition files.
fn by_month_and_provider(ledger: &Path) -> BTreeMap<(String, String), f64> {
    let mut out = BTreeMap::new();
    for provider_dir in fs::read_dir(ledger).expect("ledger").filter_map(|e| e.ok()) {
        let Some(provider) = provider_dir
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix("provider=").map(String::from))
        else {
            continue;
        };
        for month_dir in fs::read_dir(provider_dir.path())
            .expect("provider")
            .flatten()
        {
            let name = month_dir.file_name().to_string_lossy().into_owned();
            let month = name.strip_prefix("month=").expect("month=").to_owned();
            for file in fs::read_dir(month_dir.path()).expect("month").flatten() {
                if file.path().extension().is_none_or(|e| e != "parquet") {
                    continue;
                }
                let df = ParquetReader::new(fs::File::open(file.path()).expect("open"))
                    .finish()
                    .expect("parquet");
                let f = |c: &str| df.column(c).expect(c).f64().expect("f64").clone();
                let (s2, s3) = (f("scope2_location_kg"), f("scope3_embodied_kg"));
                let kg: f64 = (0..df.height())
                    .map(|i| s2.get(i).unwrap_or(0.0) + s3.get(i).unwrap_or(0.0))
                    .sum();
                *out.entry((month.clone(), provider.clone())).or_default() += kg;
            }
        }
    }
    out
}

#[test]
fn a_range_of_months_sums_only_those_months() {
    let dir = common::three_month_ledger();
    let dir = dir.path();
    let cells = by_month_and_provider(&dir.join("ledger"));
    let months: Vec<&str> = cells.keys().map(|k| k.0.as_str()).collect();
    assert!(
        months.contains(&"2024-01") && months.contains(&"2024-03"),
        "{months:?}"
    );

    // (from, to) → the providers and their kg over the months within.
    for (from, to) in [
        ("2024-01", "2024-03"),
        ("2024-02", "2024-12"),
        ("2024-03", "2026-10"),
    ] {
        let mut want: BTreeMap<&str, f64> = BTreeMap::new();
        for ((month, provider), kg) in &cells {
            if month.as_str() >= from && month.as_str() <= to {
                *want.entry(provider.as_str()).or_default() += kg;
            }
        }
        let out = carbonledger(
            dir,
            &[
                "top", "--ledger", "ledger", "--by", "provider", "--from", from, "--to", to,
                "--format", "csv",
            ],
        );
        let rows = csv_rows(&out);
        assert_eq!(rows.len(), want.len(), "{from}..{to}: {rows:?}");
        for row in rows {
            let kg = want[row["provider"].as_str()];
            let got: f64 = row["emissions_kg"].parse().expect("kg");
            assert!(
                (got - kg).abs() <= 1e-9 * kg.max(1.0),
                "{from}..{to}: {got} vs {kg}"
            );
        }
    }
    let out = Command::cargo_bin("carbonledger")
        .expect("binary")
        .current_dir(dir)
        .args([
            "top", "--ledger", "ledger", "--from", "2026-10", "--to", "2024-01",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("after --to"));
}
