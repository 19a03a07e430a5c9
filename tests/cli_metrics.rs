//! `carbonledger metrics --ledger DIR`, as a user runs it after `carbonledger run`: the
//! OpenMetrics text parses back, every family's samples sum to the ledger's own totals (summed
//! here with polars from the partition files), labels name provider, region, service and
//! month, and the text ends with `# EOF`.

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

/// One sample line: family name, labels, value.
fn parse(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let open = line.find('{').expect("labels");
    let close = line.rfind('}').expect("labels end");
    let name = line[..open].to_owned();
    let mut labels = BTreeMap::new();
    for pair in line[open + 1..close].split("\",") {
        let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
        labels.insert(key.to_owned(), value.trim_end_matches('"').to_owned());
    }
    let value = line[close + 1..].trim().parse().expect("a number");
    (name, labels, value)
}

#[test]
fn metrics_sum_to_the_ledger_and_parse_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    fs::create_dir(dir.join("cur")).expect("cur");
    fs::copy(
        fixture("sample/cur-sample-2026-10.csv.gz"),
        dir.join("cur/cur-sample-2026-10.csv.gz"),
    )
    .expect("sample");
    fs::copy(fixture("gcp/export_mixed.csv"), dir.join("gcp.csv")).expect("gcp");
    let config = "[ledger]\npath = \"ledger\"\n[period]\nmonths = [\"2024-01\", \"2026-10\"]\n\
                  [[source]]\nname = \"aws\"\nkind = \"aws-cur\"\npath = \"cur\"\n\
                  [[source]]\nname = \"gcp\"\nkind = \"gcp-export\"\npath = \"gcp.csv\"\n";
    fs::write(dir.join("c.toml"), config).expect("config");
    carbonledger(dir, &["run", "--config", "c.toml"]);
    let out = carbonledger(dir, &["metrics", "--ledger", "ledger"]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.ends_with("# EOF\n"), "{text}");

    let mut sums: BTreeMap<String, f64> = BTreeMap::new();
    let mut families = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            assert!(rest.ends_with(" gauge"), "{line}");
            families.push(rest.trim_end_matches(" gauge").to_owned());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, labels, value) = parse(line);
        assert!(
            families.contains(&name),
            "{name} has no TYPE line before it"
        );
        for key in ["provider", "region", "service", "month"] {
            assert!(labels.get(key).is_some_and(|v| !v.is_empty()), "{line}");
        }
        let key = match labels.get("currency") {
            Some(c) => format!("{name} {c}"),
            None => name,
        };
        *sums.entry(key).or_default() += value;
    }

    // The ledger's totals, from the partition files.
    let mut files = Vec::new();
    let mut stack = vec![dir.join("ledger")];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).expect("dir").filter_map(|e| e.ok()) {
            let path = entry.path();
            if path.is_dir() && !path.ends_with("_carbonledger") {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                files.push(path);
            }
        }
    }
    assert_eq!(files.len(), 2, "{files:?}");
    let mut ledger = BTreeMap::<String, f64>::new();
    for file in files {
        let df = ParquetReader::new(fs::File::open(&file).expect("open"))
            .finish()
            .expect("parquet");
        let sum = |c: &str| {
            df.column(c)
                .expect(c)
                .f64()
                .expect("f64")
                .sum()
                .unwrap_or(0.0)
        };
        for (family, column) in [
            ("carbonledger_energy_kwh", "energy_kwh"),
            ("carbonledger_scope2_location_kg", "scope2_location_kg"),
            ("carbonledger_scope3_embodied_kg", "scope3_embodied_kg"),
        ] {
            *ledger.entry(family.to_owned()).or_default() += sum(column);
        }
        let currency = df
            .column("currency")
            .expect("currency")
            .str()
            .expect("text")
            .clone();
        let cost = df.column("cost").expect("cost").f64().expect("f64").clone();
        for (c, v) in currency.iter().zip(cost.iter()) {
            let key = format!("carbonledger_cost {}", c.expect("currency"));
            *ledger.entry(key).or_default() += v.unwrap_or(0.0);
        }
    }
    for (key, expected) in &ledger {
        let got = sums.get(key).copied().unwrap_or(f64::NAN);
        assert!(
            (got - expected).abs() <= 1e-9 * expected.abs().max(1.0),
            "{key}: metrics {got}, ledger {expected}"
        );
        assert!(*expected != 0.0, "{key} is empty in the fixture");
    }
    assert!(sums.contains_key("carbonledger_cost EUR"), "{sums:?}");
    assert!(families.contains(&"carbonledger_scope2_market_kg".to_owned()));
}

#[test]
fn an_empty_ledger_is_an_empty_exposition() {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir(dir.path().join("ledger")).expect("ledger");
    let out = carbonledger(dir.path(), &["metrics", "--ledger", "ledger"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "# EOF\n");
}
