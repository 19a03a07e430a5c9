//! `carbonledger top`, as a user runs it after `carbonledger run`: the ranking (by emissions
//! and by kg CO2e per unit of cost) is the one computed here from the partition files, row by
//! row, without polars' grouping.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use polars::prelude::*;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

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
