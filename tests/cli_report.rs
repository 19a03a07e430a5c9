//! `carbonledger report --month YYYY-MM`, as a user runs it after `carbonledger run`, on a
//! ledger of three months (July, September, October 2026) and two providers built by the
//! real job from the fixtures: the embedded AWS sample CUR (October 2026: estimated, ratio and
//! excluded rows), a synthetic CUR of September 2026 (`generate-cur`), and the GCP export
//! fixture moved to October and July 2026 (market factors, two currencies, a service renamed
//! to `Compute <Engine> & "Co"`; its rows cover the 15th only, so GCP's October is partial).
//! A second ledger holds a partial month against a whole one, a month of excluded rows only,
//! and a custom factor set (with `--factors DIR` and without).
//!
//! The report's figures (totals, breakdowns, trend, movers of both lists, intensity, data
//! quality, uncertainty bounds, grid factors' kWh, PUE, completeness) are compared with a
//! computation done here, row by row, from the partition files; `report.csv` must hold
//! exactly the JSON's figures, one line per (section, dimension, key, metric);
//! `report.html` must show the JSON's totals, PUE, warnings and movers, escape names, and
//! reference nothing outside itself.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use polars::prelude::*;
use serde_json::Value;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

fn carbonledger(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("carbonledger")
        .expect("binary")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

fn ok(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = carbonledger(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One ledger row, the columns the report reads.
#[derive(Debug, Clone)]
struct Row {
    month: String,
    provider: String,
    service: String,
    account: String,
    region: String,
    currency: String,
    kind: String,
    reason: Option<String>,
    factor_set: String,
    cost: f64,
    energy: f64,
    cpu: f64,
    gpu: f64,
    s2: f64,
    market: Option<f64>,
    s3: f64,
    pue: Option<f64>,
    grid: Option<f64>,
    grid_year: Option<f64>,
    /// `period_end`, µs since 1970-01-01 UTC.
    end_us: Option<i64>,
}

/// Every row of every partition file under `ledger`.
fn ledger_rows(ledger: &Path) -> Vec<Row> {
    let mut out = Vec::new();
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
            let text = |c: &str| -> Vec<Option<String>> {
                let col = df.column(c).expect(c).cast(&DataType::String).expect(c);
                let s = col.str().expect(c);
                s.iter().map(|v| v.map(str::to_owned)).collect()
            };
            let num = |c: &str| -> Vec<Option<f64>> {
                let col = df.column(c).expect(c).cast(&DataType::Float64).expect(c);
                col.f64().expect(c).iter().collect()
            };
            // The month of period_start: days since 1970-01-01, then the calendar.
            let days = df
                .column("period_start")
                .and_then(|c| c.cast(&DataType::Date))
                .and_then(|c| c.cast(&DataType::Int32))
                .expect("period_start");
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
            let start: Vec<String> = days
                .i32()
                .expect("days")
                .iter()
                .map(|d| {
                    let day = epoch + chrono::Duration::days(i64::from(d.expect("a start")));
                    day.format("%Y-%m").to_string()
                })
                .collect();
            let (provider, service) = (text("provider"), text("service"));
            let (account, region, currency) =
                (text("usage_account"), text("region"), text("currency"));
            let (kind, reason, set) = (
                text("estimate_kind"),
                text("exclusion_reason"),
                text("factor_set"),
            );
            let (cost, energy, cpu, gpu) = (
                num("cost"),
                num("energy_kwh"),
                num("cpu_kwh"),
                num("gpu_kwh"),
            );
            let (s2, market, s3) = (
                num("scope2_location_kg"),
                num("scope2_market_kg"),
                num("scope3_embodied_kg"),
            );
            let (pue, grid, grid_year) = (num("pue"), num("grid_kg_per_kwh"), num("grid_year"));
            let end = df
                .column("period_end")
                .and_then(|c| c.cast(&DataType::Int64))
                .expect("period_end");
            let end: Vec<Option<i64>> = end.i64().expect("µs").iter().collect();
            for i in 0..df.height() {
                let v = |c: &[Option<String>]| c[i].clone().unwrap_or_default();
                out.push(Row {
                    month: start[i].clone(),
                    provider: v(&provider),
                    service: v(&service),
                    account: account[i].clone().unwrap_or_else(|| "(none)".into()),
                    region: region[i].clone().unwrap_or_else(|| "global".into()),
                    currency: v(&currency),
                    kind: v(&kind),
                    reason: reason[i].clone(),
                    factor_set: v(&set),
                    cost: cost[i].unwrap_or(0.0),
                    energy: energy[i].unwrap_or(0.0),
                    cpu: cpu[i].unwrap_or(0.0),
                    gpu: gpu[i].unwrap_or(0.0),
                    s2: s2[i].unwrap_or(0.0),
                    market: market[i],
                    s3: s3[i].unwrap_or(0.0),
                    pue: pue[i],
                    grid: grid[i],
                    grid_year: grid_year[i],
                    end_us: end[i],
                });
            }
        }
    }
    out
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1e-9),
        "{what}: report {got}, computed {want}"
    );
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// Checks a JSON figures object against the rows it covers.
fn check_figures(json: &Value, rows: &[&Row], what: &str) {
    assert_eq!(
        json["rows"].as_u64(),
        Some(rows.len() as u64),
        "{what} rows"
    );
    let sum = |g: &dyn Fn(&Row) -> f64| rows.iter().map(|r| g(r)).sum::<f64>();
    let energy = sum(&|r| r.energy);
    close(f(json, "energy_kwh"), energy, &format!("{what} kWh"));
    close(f(json, "scope2_location_kg"), sum(&|r| r.s2), what);
    close(f(json, "scope3_embodied_kg"), sum(&|r| r.s3), what);
    close(f(json, "emissions_kg"), sum(&|r| r.s2 + r.s3), what);
    let covered = sum(&|r| r.market.unwrap_or(0.0));
    close(f(json, "scope2_market_kg_covered"), covered, what);
    let covered_kwh = sum(&|r| if r.market.is_some() { r.energy } else { 0.0 });
    close(f(json, "market_covered_energy_kwh"), covered_kwh, what);
    // Never a null counted as 0: rows without a market factor take their location value.
    let fallback = sum(&|r| r.market.unwrap_or(r.s2));
    close(f(json, "scope2_market_kg_with_fallback"), fallback, what);
    if energy > 0.0 {
        close(f(json, "market_coverage"), covered_kwh / energy, what);
    } else {
        assert!(json["market_coverage"].is_null(), "{what}");
    }
    let mut cost: BTreeMap<&str, f64> = BTreeMap::new();
    for r in rows {
        *cost.entry(&r.currency).or_default() += r.cost;
    }
    let got = json["cost"].as_array().expect("cost list");
    assert_eq!(got.len(), cost.len(), "{what} currencies: {got:?}");
    for (c, (currency, amount)) in got.iter().zip(&cost) {
        assert_eq!(c["currency"].as_str(), Some(*currency), "{what}");
        close(f(c, "amount"), *amount, &format!("{what} {currency}"));
    }
}

/// The CSV lines the JSON's figures make, by the layout `report.csv` documents; built here
/// from the JSON, independently of the crate's writer. Key: section, dimension, key,
/// metric; value: the number (None for an empty value) and the unit. Each key is on one
/// line only: a second line of the same key fails.
type Lines = BTreeMap<(String, String, String, String), (Option<f64>, String)>;

/// Adds one expected line: section, dimension, key, metric, value, unit.
type Push<'a> = dyn FnMut(&str, &str, &str, &str, Option<f64>, &str) + 'a;

fn expected_lines(r: &Value) -> Lines {
    let mut out: Lines = BTreeMap::new();
    let mut push = |s: &str, d: &str, k: &str, m: &str, v: Option<f64>, u: &str| {
        let old = out.insert((s.into(), d.into(), k.into(), m.into()), (v, u.into()));
        assert!(old.is_none(), "two JSON figures for {s},{d},{k},{m}");
    };
    let flag = |v: &Value| v.as_bool().map(|b| if b { 1.0 } else { 0.0 });
    let figures = |push: &mut Push<'_>, s: &str, d: &str, k: &str, v: &Value| {
        let metrics = [
            ("rows", "rows"),
            ("energy_kwh", "kWh"),
            ("scope2_location_kg", "kg CO2e"),
            ("scope2_market_kg_covered", "kg CO2e"),
            ("market_covered_energy_kwh", "kWh"),
            ("market_coverage", "share"),
            ("scope2_market_kg_with_fallback", "kg CO2e"),
            ("scope3_embodied_kg", "kg CO2e"),
            ("emissions_kg", "kg CO2e"),
        ];
        for (m, u) in metrics {
            push(s, d, k, m, v[m].as_f64(), u);
        }
        for c in v["cost"].as_array().expect("cost") {
            let cur = c["currency"].as_str().expect("currency");
            push(s, d, k, &format!("cost_{cur}"), c["amount"].as_f64(), cur);
        }
    };
    let m = r["month"].as_str().expect("month");
    push(
        "report",
        "month",
        m,
        "complete",
        flag(&r["complete"]),
        "flag",
    );
    push(
        "report",
        "month",
        m,
        "days_covered",
        r["days_covered"].as_f64(),
        "days",
    );
    let days_in = r["completeness"][0]["days_in_month"].as_f64();
    push("report", "month", m, "days_in_month", days_in, "days");
    let previous = r["previous_month"].as_str().expect("previous");
    let in_ledger = flag(&r["movers"]["previous_in_ledger"]);
    push(
        "report",
        "previous_month",
        previous,
        "in_ledger",
        in_ledger,
        "flag",
    );
    for w in r["warnings"].as_array().expect("warnings") {
        push(
            "report",
            "warning",
            w.as_str().expect("text"),
            "warning",
            None,
            "text",
        );
    }
    for c in r["completeness"].as_array().expect("completeness") {
        let p = c["provider"].as_str().expect("provider");
        push(
            "completeness",
            "provider",
            p,
            "complete",
            flag(&c["complete"]),
            "flag",
        );
        for metric in ["days_covered", "days_in_month"] {
            push(
                "completeness",
                "provider",
                p,
                metric,
                c[metric].as_f64(),
                "days",
            );
        }
    }
    figures(&mut push, "totals", "all", "all", &r["totals"]);
    for (section, dim) in [
        ("by_provider", "provider"),
        ("by_region", "provider/region"),
        ("by_service", "provider/service"),
        ("by_account", "provider/account"),
    ] {
        for g in r[section].as_array().expect(section) {
            let key = g["key"].as_str().expect("key");
            let key = match g["provider"].as_str() {
                Some(p) => format!("{p}/{key}"),
                None => key.to_owned(),
            };
            figures(&mut push, section, dim, &key, g);
        }
    }
    for d in r["by_account_service_region"].as_array().expect("detail") {
        let t = |k: &str| d[k].as_str().expect(k).to_owned();
        let key = [t("provider"), t("account"), t("service"), t("region")].join("/");
        let (s, dim) = (
            "by_account_service_region",
            "provider/account/service/region",
        );
        figures(&mut push, s, dim, &key, d);
    }
    for t in r["trend"].as_array().expect("trend") {
        let m = t["month"].as_str().expect("month");
        push("trend", "month", m, "rows", t["rows"].as_f64(), "rows");
        if !t["figures"].is_null() {
            push(
                "trend",
                "month",
                m,
                "complete",
                flag(&t["complete"]),
                "flag",
            );
            push(
                "trend",
                "month",
                m,
                "days_covered",
                t["days_covered"].as_f64(),
                "days",
            );
            let mut f = t["figures"].clone();
            f.as_object_mut().expect("figures").remove("rows");
            let metrics = [
                ("energy_kwh", "kWh"),
                ("scope2_location_kg", "kg CO2e"),
                ("scope2_market_kg_covered", "kg CO2e"),
                ("market_covered_energy_kwh", "kWh"),
                ("market_coverage", "share"),
                ("scope2_market_kg_with_fallback", "kg CO2e"),
                ("scope3_embodied_kg", "kg CO2e"),
                ("emissions_kg", "kg CO2e"),
            ];
            for (metric, u) in metrics {
                push("trend", "month", m, metric, f[metric].as_f64(), u);
            }
            for c in f["cost"].as_array().expect("cost") {
                let cur = c["currency"].as_str().expect("currency");
                push(
                    "trend",
                    "month",
                    m,
                    &format!("cost_{cur}"),
                    c["amount"].as_f64(),
                    cur,
                );
            }
        }
    }
    for (section, dim, list) in [
        ("movers_service", "provider/service", "by_service"),
        ("movers_account", "provider/account", "by_account"),
    ] {
        for m in r["movers"][list].as_array().expect("movers") {
            let k = format!(
                "{}/{}",
                m["provider"].as_str().expect("provider"),
                m["key"].as_str().expect("key")
            );
            for metric in ["current_kg", "previous_kg", "change_kg"] {
                push(section, dim, &k, metric, m[metric].as_f64(), "kg CO2e");
            }
            let pct = m["change_percent"].as_f64();
            push(section, dim, &k, "change_percent", pct, "percent");
        }
    }
    for n in r["movers"]["not_compared"]
        .as_array()
        .expect("not compared")
    {
        let (p, reason) = (
            n["provider"].as_str().expect("p"),
            n["reason"].as_str().expect("reason"),
        );
        push(
            "movers_not_compared",
            "provider",
            p,
            "not_compared",
            None,
            reason,
        );
    }
    for i in r["intensity"].as_array().expect("intensity") {
        let (p, c) = (
            i["provider"].as_str().expect("p"),
            i["currency"].as_str().expect("c"),
        );
        let (k, d, per) = (
            format!("{c}/{p}"),
            "currency/provider",
            format!("kg CO2e per {c}"),
        );
        push("intensity", d, &k, "cost", i["cost"].as_f64(), c);
        push(
            "intensity",
            d,
            &k,
            "estimated_cost",
            i["estimated_cost"].as_f64(),
            c,
        );
        push(
            "intensity",
            d,
            &k,
            "emissions_kg",
            i["emissions_kg"].as_f64(),
            "kg CO2e",
        );
        push(
            "intensity",
            d,
            &k,
            "kg_per_cost",
            i["kg_per_cost"].as_f64(),
            &per,
        );
        let v = i["kg_per_estimated_cost"].as_f64();
        push("intensity", d, &k, "kg_per_estimated_cost", v, &per);
    }
    let q = &r["data_quality"];
    for k in q["by_kind"].as_array().expect("kinds") {
        let kind = k["kind"].as_str().expect("kind");
        figures(&mut push, "data_quality", "estimate_kind", kind, k);
        for s in k["positive_cost_share"].as_array().expect("shares") {
            let cur = s["currency"].as_str().expect("c");
            let unit = format!("share of positive {cur} cost");
            let metric = format!("positive_cost_share_{cur}");
            push(
                "data_quality",
                "estimate_kind",
                kind,
                &metric,
                s["share"].as_f64(),
                &unit,
            );
        }
    }
    let w = &q["estimated_without_energy"];
    let d = "estimated_without_energy";
    push("data_quality", d, "all", "rows", w["rows"].as_f64(), "rows");
    for c in w["cost"].as_array().expect("cost") {
        let cur = c["currency"].as_str().expect("currency");
        push(
            "data_quality",
            d,
            "all",
            &format!("cost_{cur}"),
            c["amount"].as_f64(),
            cur,
        );
    }
    let ccf = q["ccf_no_vcpu_rows"].as_f64();
    push("data_quality", d, "all", "ccf_no_vcpu_rows", ccf, "rows");
    let share = q["ratio_energy_share"].as_f64();
    push(
        "data_quality",
        "all",
        "all",
        "ratio_energy_share",
        share,
        "share",
    );
    for e in q["excluded"].as_array().expect("excluded") {
        let reason = e["reason"].as_str().expect("reason");
        let d = "exclusion_reason";
        push("excluded", d, reason, "rows", e["rows"].as_f64(), "rows");
        for c in e["cost"].as_array().expect("cost") {
            let cur = c["currency"].as_str().expect("currency");
            push(
                "excluded",
                d,
                reason,
                &format!("cost_{cur}"),
                c["amount"].as_f64(),
                cur,
            );
        }
    }
    if let Some(u) = q["uncertainty"].as_object() {
        for (m, unit) in [
            ("energy_low_kwh", "kWh"),
            ("energy_high_kwh", "kWh"),
            ("scope2_location_low_kg", "kg CO2e"),
            ("scope2_location_high_kg", "kg CO2e"),
            ("scope2_market_with_fallback_low_kg", "kg CO2e"),
            ("scope2_market_with_fallback_high_kg", "kg CO2e"),
            ("scope3_embodied_low_kg", "kg CO2e"),
            ("scope3_embodied_high_kg", "kg CO2e"),
            ("emissions_low_kg", "kg CO2e"),
            ("emissions_high_kg", "kg CO2e"),
            ("ratio_rows_unbounded", "rows"),
            ("ratio_unbounded_kwh", "kWh"),
            ("excluded_rows", "rows"),
        ] {
            push("uncertainty", "all", "all", m, u[m].as_f64(), unit);
        }
        for b in u["ratio_bounds"].as_array().expect("ratio bounds") {
            let c = b["currency"].as_str().expect("c");
            let k = format!("{c}/{}", b["provider"].as_str().expect("p"));
            let unit = format!("kWh per {c}");
            for m in ["kwh_per_cost_low", "kwh_per_cost_high"] {
                push(
                    "uncertainty",
                    "currency/provider",
                    &k,
                    m,
                    b[m].as_f64(),
                    &unit,
                );
            }
        }
    }
    let g = &r["goal_and_scope"];
    for s in g["factor_sets"].as_array().expect("sets") {
        let label = s["label"].as_str().expect("label");
        push(
            "factor_sets",
            "factor_set",
            label,
            "rows",
            s["rows"].as_f64(),
            "rows",
        );
    }
    for x in g["grid_factors"].as_array().expect("grid") {
        let key = format!(
            "{}/{}/{}/{}/{}",
            x["factor_set"].as_str().expect("set"),
            x["provider"].as_str().expect("p"),
            x["region"].as_str().expect("r"),
            x["year"],
            // Compared at 12 digits: the JSON's number may read back one bit off.
            format!("{:.12e}", x["kg_per_kwh"].as_f64().expect("factor"))
        );
        let d = "factor_set/provider/region/year/kg_per_kwh";
        let per = "kg CO2e per kWh";
        push(
            "grid_factors",
            d,
            &key,
            "kg_per_kwh",
            x["kg_per_kwh"].as_f64(),
            per,
        );
        push(
            "grid_factors",
            d,
            &key,
            "energy_kwh",
            x["energy_kwh"].as_f64(),
            "kWh",
        );
        push("grid_factors", d, &key, "pue", x["pue"].as_f64(), "ratio");
    }
    for p in g["pue"].as_array().expect("pue") {
        let k = p["provider"].as_str().expect("p");
        push("pue", "provider", k, "pue", p["pue"].as_f64(), "ratio");
        push(
            "pue",
            "provider",
            k,
            "energy_kwh",
            p["energy_kwh"].as_f64(),
            "kWh",
        );
    }
    out
}

fn csv_lines(text: &str) -> Lines {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        ["section", "dimension", "key", "metric", "value", "unit"]
    );
    let mut out: Lines = BTreeMap::new();
    for record in reader.records() {
        let r = record.expect("line");
        let value = (!r[4].is_empty()).then(|| r[4].parse::<f64>().expect("a number"));
        let mut key: (String, String, String, String) =
            (r[0].into(), r[1].into(), r[2].into(), r[3].into());
        if key.0 == "grid_factors" {
            let (head, value) = key.2.rsplit_once('/').expect("a factor in the key");
            let value: f64 = value.parse().expect("a number");
            key.2 = format!("{head}/{value:.12e}");
        }
        let old = out.insert(key, (value, r[5].into()));
        assert!(old.is_none(), "two CSV lines for {:?}", &r);
    }
    out
}

/// The CSV holds exactly the JSON's figures, one line each.
fn check_csv(r: &Value, csv_text: &str) {
    let want = expected_lines(r);
    let got = csv_lines(csv_text);
    // Equal up to the last bit or two: serde_json's default float parser (no
    // `float_roundtrip`) may read the JSON's shortest form one unit off; both files hold the
    // same shortest round-trip digits of the same number.
    let same = |a: &Option<f64>, b: &Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs()),
        (None, None) => true,
        _ => false,
    };
    for (k, (v, unit)) in &want {
        let (g, u) = got.get(k).unwrap_or_else(|| panic!("no CSV line {k:?}"));
        assert!(
            same(g, v) && u == unit,
            "{k:?}: CSV {g:?} {u}, JSON {v:?} {unit}"
        );
    }
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(extra.is_empty(), "CSV lines not in the JSON: {extra:?}");
}

/// The widest idle / full-load ratios to the average watts at the set's utilisation, from
/// the factor files themselves.
fn watt_bounds(file: &str, utilization_percent: f64) -> (f64, f64) {
    let text = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("factors/default")
            .join(file),
    )
    .expect("factor file");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader.headers().expect("header").clone();
    let at = |n: &str| header.iter().position(|h| h == n).expect(n);
    let (min_at, max_at) = (at("min_watts"), at("max_watts"));
    let (mut lo, mut hi) = (f64::INFINITY, 0.0_f64);
    for record in reader.records() {
        let r = record.expect("row");
        let (min, max): (f64, f64) = (
            r[min_at].parse().expect("min"),
            r[max_at].parse().expect("max"),
        );
        let avg = min + utilization_percent / 100.0 * (max - min);
        if avg > 0.0 {
            lo = lo.min(min / avg);
            hi = hi.max(max / avg);
        }
    }
    (lo, hi)
}

/// A `data-value` attribute of the element with `id`.
fn data_value(html: &str, id: &str) -> f64 {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[at..];
    let start = rest.find("data-value=\"").expect("data-value") + 12;
    let end = rest[start..].find('"').expect("end") + start;
    rest[start..end].parse().expect("a number")
}

#[test]
fn the_monthly_report_matches_the_ledger() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    fs::create_dir_all(dir.join("cur")).expect("cur");
    fs::create_dir_all(dir.join("gcp")).expect("gcp");
    fs::copy(
        fixture("sample/cur-sample-2026-10.csv.gz"),
        dir.join("cur/cur-sample-2026-10.csv.gz"),
    )
    .expect("sample");
    ok(
        dir,
        &[
            "generate-cur",
            "--lines",
            "300",
            "--month",
            "2026-09",
            "--output",
            "cur/synth-2026-09.csv",
        ],
    );
    let gcp = fs::read_to_string(fixture("gcp/export_mixed.csv")).expect("gcp fixture");
    let moved = |month: &str, next: &str| {
        let compact = month.replace('-', "");
        gcp.replace("2024-01-", &format!("{month}-"))
            .replace("2024-02-01", &format!("{next}-01"))
            .replace(",202401,", &format!(",{compact},"))
    };
    // One service renamed with markup characters, to see them escaped in the page.
    let october = moved("2026-10", "2026-11").replacen(
        ",Compute Engine,",
        ",\"Compute <Engine> & \"\"Co\"\"\",",
        1,
    );
    fs::write(dir.join("gcp/gcp-2026-10.csv"), october).expect("write");
    fs::write(dir.join("gcp/gcp-2026-07.csv"), moved("2026-07", "2026-08")).expect("write");
    let config = "[ledger]\npath = \"ledger\"\n\
                  [period]\nmonths = [\"2026-07\", \"2026-09\", \"2026-10\"]\n\
                  [[source]]\nname = \"aws\"\nkind = \"aws-cur\"\npath = \"cur\"\n\
                  [[source]]\nname = \"gcp\"\nkind = \"gcp-export\"\npath = \"gcp\"\n";
    fs::write(dir.join("c.toml"), config).expect("config");
    ok(dir, &["run", "--config", "c.toml"]);
    let rows = ledger_rows(&dir.join("ledger"));

    ok(
        dir,
        &[
            "report",
            "--ledger",
            "ledger",
            "--month",
            "2026-10",
            "--output-dir",
            "out",
        ],
    );
    let json_text = fs::read_to_string(dir.join("out/report.json")).expect("json");
    let r: Value = serde_json::from_str(&json_text).expect("json parses");
    assert_eq!(r["month"], "2026-10");
    assert_eq!(r["previous_month"], "2026-09");

    // The fixture has what the report must tell apart.
    let october: Vec<&Row> = rows.iter().filter(|x| x.month == "2026-10").collect();
    for kind in ["estimated", "ratio", "excluded"] {
        assert!(october.iter().any(|x| x.kind == kind), "no {kind} row");
    }
    assert!(october.iter().any(|x| x.market.is_some()));
    assert!(october.iter().any(|x| x.market.is_none() && x.energy > 0.0));
    check_figures(&r["totals"], &october, "totals");
    let coverage = f(&r["totals"], "market_coverage");
    assert!(
        coverage > 0.0 && coverage < 1.0,
        "partial coverage: {coverage}"
    );

    // Every group of every breakdown, and no group missing. Regions, services and accounts
    // are groups of one provider each (AWS's and GCP's `global` are two groups); the ESG
    // table has one line per provider, account, service and region.
    for (section, key) in [
        (
            "by_provider",
            (|x: &Row| x.provider.clone()) as fn(&Row) -> String,
        ),
        ("by_region", |x: &Row| {
            format!("{}/{}", x.provider, x.region)
        }),
        ("by_service", |x: &Row| {
            format!("{}/{}", x.provider, x.service)
        }),
        ("by_account", |x: &Row| {
            format!("{}/{}", x.provider, x.account)
        }),
        ("by_account_service_region", |x: &Row| {
            [&x.provider, &x.account, &x.service, &x.region]
                .map(|s| s.as_str())
                .join("/")
        }),
    ] {
        let mut groups: BTreeMap<String, Vec<&Row>> = BTreeMap::new();
        for x in &october {
            groups.entry(key(x)).or_default().push(x);
        }
        let got = r[section].as_array().expect(section);
        assert_eq!(got.len(), groups.len(), "{section}");
        for g in got {
            let k = if section == "by_account_service_region" {
                ["provider", "account", "service", "region"]
                    .map(|c| g[c].as_str().expect(c))
                    .join("/")
            } else {
                let k = g["key"].as_str().expect("key");
                match g["provider"].as_str() {
                    Some(p) => format!("{p}/{k}"),
                    None => k.to_owned(),
                }
            };
            check_figures(g, &groups[&k], &format!("{section} {k}"));
        }
        // Largest emissions first.
        let kg: Vec<f64> = got.iter().map(|g| f(g, "emissions_kg")).collect();
        assert!(kg.windows(2).all(|w| w[0] >= w[1]), "{section} order");
    }
    let regions = r["by_region"].as_array().expect("regions");
    let global = regions.iter().filter(|g| g["key"] == "global").count();
    let providers_without_region: std::collections::BTreeSet<&str> = october
        .iter()
        .filter(|x| x.region == "global")
        .map(|x| x.provider.as_str())
        .collect();
    assert_eq!(
        global,
        providers_without_region.len(),
        "one `global` per provider"
    );
    assert!(r["by_provider"].as_array().expect("p").len() == 2);

    // The trend: the 12 months up to October 2026; months without rows have no figures.
    let trend = r["trend"].as_array().expect("trend");
    assert_eq!(trend.len(), 12);
    assert_eq!(trend[0]["month"], "2025-11");
    assert_eq!(trend[11]["month"], "2026-10");
    for t in trend {
        let m = t["month"].as_str().expect("month");
        let of: Vec<&Row> = rows.iter().filter(|x| x.month == m).collect();
        if of.is_empty() {
            assert_eq!(t["rows"], 0, "{m}");
            assert!(t["figures"].is_null(), "{m}: a gap, not a zero");
        } else {
            check_figures(&t["figures"], &of, m);
        }
    }
    assert!(trend[8]["figures"].is_object() && trend[9]["figures"].is_null());

    // Completeness, from the rows' latest period_end: the AWS sample covers October to
    // 2026-11-01 00:00 UTC (31 days, complete); the GCP fixture's rows all end on the 15th
    // at 11:00, so 14 days + 11 h = 14.458… days of 31, a partial month.
    let micros = |y: i32, m: u32| {
        chrono::NaiveDate::from_ymd_opt(y, m, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .expect("date")
            .and_utc()
            .timestamp_micros()
    };
    let latest = |month: &str, provider: &str| {
        rows.iter()
            .filter(|x| x.month == month && x.provider == provider)
            .filter_map(|x| x.end_us)
            .max()
    };
    let complete =
        |month: &str, provider: &str, end: i64| latest(month, provider).is_some_and(|l| l >= end);
    assert!(complete("2026-10", "aws", micros(2026, 11)));
    assert!(!complete("2026-10", "gcp", micros(2026, 11)));
    assert_eq!(r["complete"], false);
    let cov = r["completeness"].as_array().expect("completeness");
    assert_eq!(cov.len(), 2);
    for c in cov {
        let p = c["provider"].as_str().expect("p");
        let l = latest("2026-10", p).expect("an end");
        let days = (l.min(micros(2026, 11)) - micros(2026, 10)) as f64 / 86_400e6;
        close(f(c, "days_covered"), days, p);
        close(f(c, "days_in_month"), 31.0, p);
        assert_eq!(
            c["complete"],
            complete("2026-10", p, micros(2026, 11)),
            "{p}"
        );
    }
    close(
        f(&r, "days_covered"),
        14.0 + 11.0 / 24.0,
        "GCP's 14 days 11 hours",
    );
    let warnings = r["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.starts_with("gcp:") && w.contains("partial"))),
        "{warnings:?}"
    );
    assert_eq!(trend[11]["complete"], false);
    assert_eq!(
        trend[10]["complete"], true,
        "the synthetic September is whole"
    );

    // Movers: the change against September, per (provider, service) and (provider,
    // account), of the providers with complete rows in both months only: AWS. GCP has no
    // September rows (and a partial October): listed as not compared, never a "new" mover.
    let compared: Vec<&str> = ["aws", "gcp"]
        .into_iter()
        .filter(|p| {
            complete("2026-10", p, micros(2026, 11)) && complete("2026-09", p, micros(2026, 10))
        })
        .collect();
    assert_eq!(compared, ["aws"]);
    let not_compared = r["movers"]["not_compared"]
        .as_array()
        .expect("not compared");
    assert_eq!(not_compared.len(), 1);
    assert_eq!(not_compared[0]["provider"], "gcp");
    assert!(r["movers"]["previous_in_ledger"].as_bool().expect("bool"));
    for (list, key) in [
        (
            "by_service",
            (|x: &Row| x.service.clone()) as fn(&Row) -> String,
        ),
        ("by_account", |x: &Row| x.account.clone()),
    ] {
        let mut change: HashMap<(String, String), (f64, f64)> = HashMap::new();
        for x in rows
            .iter()
            .filter(|x| compared.contains(&x.provider.as_str()))
        {
            let e = change.entry((x.provider.clone(), key(x))).or_default();
            match x.month.as_str() {
                "2026-10" => e.0 += x.s2 + x.s3,
                "2026-09" => e.1 += x.s2 + x.s3,
                _ => {}
            }
        }
        let mut by_change: Vec<(&(String, String), f64)> =
            change.iter().map(|(k, v)| (k, v.0 - v.1)).collect();
        by_change.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(b.0)));
        let movers = r["movers"][list].as_array().expect("movers");
        assert_eq!(movers.len(), by_change.len().min(10), "{list}");
        for (m, ((provider, k), kg)) in movers.iter().zip(&by_change) {
            assert_eq!(m["provider"].as_str(), Some(provider.as_str()), "{list}");
            assert_eq!(m["key"].as_str(), Some(k.as_str()), "{list}");
            close(f(m, "change_kg"), *kg, k);
            let (now, before) = change[&(provider.clone(), k.clone())];
            close(f(m, "current_kg"), now, k);
            close(f(m, "previous_kg"), before, k);
            if before == 0.0 {
                assert!(m["change_percent"].is_null(), "{k}: new this month");
            } else {
                close(f(m, "change_percent"), (now - before) / before * 100.0, k);
            }
        }
    }

    // Emissions per unit of cost, per currency.
    for i in r["intensity"].as_array().expect("intensity") {
        let (cur, provider) = (
            i["currency"].as_str().expect("c"),
            i["provider"].as_str().expect("p"),
        );
        let of: Vec<&&Row> = october
            .iter()
            .filter(|x| x.currency == cur && (provider == "all" || x.provider == provider))
            .collect();
        let cost: f64 = of.iter().map(|x| x.cost).sum();
        let estimated: f64 = of
            .iter()
            .filter(|x| x.kind != "excluded")
            .map(|x| x.cost)
            .sum();
        let kg: f64 = of.iter().map(|x| x.s2 + x.s3).sum();
        let what = format!("{cur} {provider}");
        close(f(i, "cost"), cost, &what);
        close(f(i, "estimated_cost"), estimated, &what);
        close(f(i, "emissions_kg"), kg, &what);
        if cost > 0.0 && estimated > 0.0 {
            close(f(i, "kg_per_cost"), kg / cost, &what);
        } else {
            assert!(i["kg_per_cost"].is_null(), "{what}");
        }
        if estimated > 0.0 {
            close(f(i, "kg_per_estimated_cost"), kg / estimated, &what);
        } else {
            assert!(i["kg_per_estimated_cost"].is_null(), "{what}");
        }
    }

    // Data quality: kinds with their share of positive cost, excluded cost by reason.
    let q = &r["data_quality"];
    for k in q["by_kind"].as_array().expect("kinds") {
        let kind = k["kind"].as_str().expect("kind");
        let of: Vec<&Row> = october.iter().copied().filter(|x| x.kind == kind).collect();
        check_figures(k, &of, kind);
        for s in k["positive_cost_share"].as_array().expect("shares") {
            let cur = s["currency"].as_str().expect("currency");
            let positive = |x: &&&Row| x.currency == cur && x.cost > 0.0;
            let total: f64 = october.iter().filter(positive).map(|x| x.cost).sum();
            let part: f64 = of.iter().filter(|x| positive(x)).map(|x| x.cost).sum();
            close(
                f(s, "share"),
                part / total,
                &format!("{kind} share of {cur}"),
            );
        }
    }
    let ratio_kwh: f64 = october
        .iter()
        .filter(|x| x.kind == "ratio")
        .map(|x| x.energy)
        .sum();
    let kwh: f64 = october.iter().map(|x| x.energy).sum();
    close(f(q, "ratio_energy_share"), ratio_kwh / kwh, "ratio share");
    let mut reasons: BTreeMap<&str, (u64, BTreeMap<&str, f64>)> = BTreeMap::new();
    for x in october.iter().filter(|x| x.kind == "excluded") {
        let e = reasons
            .entry(x.reason.as_deref().expect("a reason"))
            .or_default();
        e.0 += 1;
        *e.1.entry(&x.currency).or_default() += x.cost;
    }
    let excluded = q["excluded"].as_array().expect("excluded");
    assert_eq!(excluded.len(), reasons.len());
    for e in excluded {
        let (n, cost) = &reasons[e["reason"].as_str().expect("reason")];
        assert_eq!(e["rows"].as_u64(), Some(*n));
        for c in e["cost"].as_array().expect("cost") {
            close(
                f(c, "amount"),
                cost[c["currency"].as_str().expect("c")],
                "excluded cost",
            );
        }
    }

    // Uncertainty: CPU and GPU energy from idle to full-load watts (the factor files'
    // widest ratios at 50 % utilisation, coefficients.csv). E.g. a (1, 3) W row averages 2 W
    // at 50 %, so its CPU energy spans 0.5 to 1.5 times. Ratio rows: per provider and
    // currency, the lowest and highest kWh per unit of cost over the services estimated from
    // usage (positive kWh and cost), worked out here from the rows; a ratio row of cost c and
    // energy e spans min(e, c × low) to max(e, c × high), its Scope 2 and 3 scaled alike.
    let u = &q["uncertainty"];
    let (cl, ch) = watt_bounds("cpu_watts.csv", 50.0);
    let (gl, gh) = watt_bounds("gpu_watts.csv", 50.0);
    let set = &u["sets"][0];
    close(f(set, "cpu_utilization_percent"), 50.0, "utilisation");
    close(f(set, "cpu_low_factor"), cl, "cpu low");
    close(f(set, "cpu_high_factor"), ch, "cpu high");
    close(f(set, "gpu_low_factor"), gl, "gpu low");
    close(f(set, "gpu_high_factor"), gh, "gpu high");
    let mut services: BTreeMap<(&str, &str, &str), (f64, f64)> = BTreeMap::new();
    for x in october.iter().filter(|x| x.kind == "estimated") {
        let e = services
            .entry((&x.provider, &x.currency, &x.service))
            .or_default();
        e.0 += x.energy;
        e.1 += x.cost;
    }
    let mut kwh_per_cost: BTreeMap<(&str, &str), (f64, f64, u64)> = BTreeMap::new();
    for ((p, c, _), (e, cost)) in &services {
        if *e > 0.0 && *cost > 0.0 {
            let b = kwh_per_cost
                .entry((p, c))
                .or_insert((f64::INFINITY, 0.0, 0));
            *b = (b.0.min(e / cost), b.1.max(e / cost), b.2 + 1);
        }
    }
    let got_bounds = u["ratio_bounds"].as_array().expect("ratio bounds");
    assert_eq!(got_bounds.len(), kwh_per_cost.len());
    assert!(!got_bounds.is_empty());
    for b in got_bounds {
        let key = (
            b["provider"].as_str().expect("p"),
            b["currency"].as_str().expect("c"),
        );
        let (lo, hi, n) = kwh_per_cost[&key];
        close(f(b, "kwh_per_cost_low"), lo, "ratio low");
        close(f(b, "kwh_per_cost_high"), hi, "ratio high");
        assert_eq!(b["services"].as_u64(), Some(n));
        assert!(lo <= hi, "{key:?}");
    }
    // AWS in USD has many services: a real spread, not a point.
    let (lo, hi, _) = kwh_per_cost[&("aws", "USD")];
    assert!(lo < hi, "AWS: {lo} to {hi}");
    let (mut lo, mut hi, mut s3_lo, mut s3_hi) = (0.0, 0.0, 0.0, 0.0);
    let (mut unbounded, mut excluded_rows) = (0, 0);
    for x in &october {
        let bound = kwh_per_cost.get(&(x.provider.as_str(), x.currency.as_str()));
        let (l, h) = match (x.kind.as_str(), bound) {
            ("ratio", Some((kl, kh, _))) if x.cost > 0.0 && x.energy > 0.0 => {
                (x.energy.min(x.cost * kl), x.energy.max(x.cost * kh))
            }
            ("estimated", _) => (
                x.energy - x.cpu * (1.0 - cl) - x.gpu * (1.0 - gl),
                x.energy + x.cpu * (ch - 1.0) + x.gpu * (gh - 1.0),
            ),
            (kind, _) => {
                unbounded += u64::from(kind == "ratio" && x.energy > 0.0);
                excluded_rows += u64::from(kind == "excluded");
                (x.energy, x.energy)
            }
        };
        let grid = if x.energy > 0.0 { x.s2 / x.energy } else { 0.0 };
        lo += l * grid;
        hi += h * grid;
        let scaled = x.kind == "ratio" && x.energy > 0.0 && l != h;
        s3_lo += if scaled { x.s3 * l / x.energy } else { x.s3 };
        s3_hi += if scaled { x.s3 * h / x.energy } else { x.s3 };
    }
    close(f(u, "scope2_location_low_kg"), lo, "s2 low");
    close(f(u, "scope2_location_high_kg"), hi, "s2 high");
    close(f(u, "scope3_embodied_low_kg"), s3_lo, "s3 low");
    close(f(u, "scope3_embodied_high_kg"), s3_hi, "s3 high");
    close(f(u, "emissions_low_kg"), lo + s3_lo, "low");
    close(f(u, "emissions_high_kg"), hi + s3_hi, "high");
    assert_eq!(u["ratio_rows_unbounded"].as_u64(), Some(unbounded));
    assert_eq!(u["excluded_rows"].as_u64(), Some(excluded_rows));
    let point = f(&r["totals"], "emissions_kg");
    assert!(f(u, "emissions_low_kg") < point && point < f(u, "emissions_high_kg"));
    let market = f(&r["totals"], "scope2_market_kg_with_fallback");
    assert!(
        f(u, "scope2_market_with_fallback_low_kg") < market
            && market < f(u, "scope2_market_with_fallback_high_kg")
    );

    // PUE: kWh-weighted per provider, Σ pue × kWh / Σ kWh over the rows with a PUE.
    for p in r["goal_and_scope"]["pue"].as_array().expect("pue") {
        let name = p["provider"].as_str().expect("p");
        let with: Vec<&&Row> = october
            .iter()
            .filter(|x| x.provider == name && x.pue.is_some() && x.energy > 0.0)
            .collect();
        let kwh: f64 = with.iter().map(|x| x.energy).sum();
        let weighted: f64 = with.iter().map(|x| x.energy * x.pue.unwrap_or(0.0)).sum();
        close(f(p, "pue"), weighted / kwh, name);
        assert!(f(p, "pue") > 1.0, "{name}: a PUE above 1");
    }

    // Goal and scope: the factor set named by the rows, listed from its own files.
    let g = &r["goal_and_scope"];
    assert_eq!(g["period_start"], "2026-10-01");
    assert_eq!(g["period_end"], "2026-11-01");
    let sets = g["factor_sets"].as_array().expect("sets");
    assert_eq!(sets.len(), 1);
    let set_toml =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("factors/default/set.toml"))
            .expect("set.toml");
    let version = set_toml
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .expect("version")
        .trim_matches('"');
    assert_eq!(
        sets[0]["label"].as_str(),
        Some(format!("default {version}").as_str())
    );
    assert_eq!(sets[0]["version"].as_str(), Some(version));
    assert_eq!(sets[0]["rows"].as_u64(), Some(october.len() as u64));
    assert!(
        october
            .iter()
            .all(|x| x.factor_set == format!("default {version}"))
    );
    let grid_file = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("factors/default/grid_location.csv"),
    )
    .expect("grid");
    let grid_rows = csv::Reader::from_reader(grid_file.as_bytes())
        .records()
        .count();
    let files = sets[0]["files"].as_array().expect("files");
    let grid_entry = files
        .iter()
        .find(|x| x["file"] == "grid_location.csv")
        .expect("grid_location.csv listed");
    assert_eq!(grid_entry["rows"].as_u64(), Some(grid_rows as u64));
    assert!(
        grid_entry["references"]
            .as_array()
            .expect("refs")
            .iter()
            .any(|x| x["reference"]
                .as_str()
                .is_some_and(|s| s.starts_with("GoogleCloudPlatform/region-carbon-info@")))
    );
    // Each grid factor applied names its source row in grid_location.csv.
    let mut reader = csv::Reader::from_reader(grid_file.as_bytes());
    let mut source_of: HashMap<(String, String, String), String> = HashMap::new();
    for rec in reader.records() {
        let rec = rec.expect("row");
        source_of.insert((rec[0].into(), rec[1].into(), rec[2].into()), rec[4].into());
    }
    let applied = g["grid_factors"].as_array().expect("grid factors");
    assert!(!applied.is_empty());
    for x in applied {
        let key = (
            x["provider"].as_str().expect("p").to_owned(),
            x["region"].as_str().expect("r").to_owned(),
            x["year"].to_string(),
        );
        if let Some(source) = source_of.get(&key) {
            assert_eq!(x["source"].as_str(), Some(source.as_str()), "{key:?}");
        } else {
            assert!(
                x["source"].as_str().is_some_and(|s| !s.is_empty()),
                "{key:?}"
            );
        }
    }
    // Each applied factor's kWh, from the rows of that set, provider, region, year and value.
    let mut applied_kwh: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for x in october.iter().filter(|x| x.grid.is_some()) {
        let key = format!(
            "{}/{}/{}/{}/{:e}",
            x.factor_set,
            x.provider,
            x.region,
            x.grid_year.unwrap_or(0.0),
            x.grid.unwrap_or(0.0)
        );
        applied_kwh.entry(key).or_default().0 += x.energy;
    }
    assert_eq!(applied.len(), applied_kwh.len());
    for x in applied {
        let key = format!(
            "{}/{}/{}/{}/{:e}",
            x["factor_set"].as_str().expect("set"),
            x["provider"].as_str().expect("p"),
            x["region"].as_str().expect("r"),
            f(x, "year"),
            f(x, "kg_per_kwh")
        );
        let e = applied_kwh.get_mut(&key).unwrap_or_else(|| panic!("{key}"));
        close(f(x, "energy_kwh"), e.0, &key);
        e.1 += 1;
    }
    assert!(
        applied_kwh.values().all(|e| e.1 == 1),
        "one entry per factor"
    );

    // The CSV holds exactly the JSON's figures.
    let csv_text = fs::read_to_string(dir.join("out/report.csv")).expect("csv");
    check_csv(&r, &csv_text);

    // The page: the JSON's totals, escaped names, nothing fetched from anywhere.
    let html = fs::read_to_string(dir.join("out/report.html")).expect("html");
    for id in [
        "energy_kwh",
        "scope2_location_kg",
        "scope2_market_kg_covered",
        "scope2_market_kg_with_fallback",
        "scope3_embodied_kg",
        "emissions_kg",
    ] {
        close(
            data_value(&html, &format!("total-{id}")),
            f(&r["totals"], id),
            id,
        );
    }
    for c in r["totals"]["cost"].as_array().expect("cost") {
        let id = format!("total-cost-{}", c["currency"].as_str().expect("c"));
        close(data_value(&html, &id), f(c, "amount"), &id);
    }
    assert!(html.contains("Compute &lt;Engine&gt; &amp; &quot;Co&quot;"));
    assert!(!html.contains("<Engine>"));
    assert!(
        r["by_service"]
            .as_array()
            .expect("services")
            .iter()
            .any(|s| s["key"] == "Compute <Engine> & \"Co\"")
    );
    let lower = html.to_lowercase();
    for forbidden in [
        "http://", "https://", "<script", "<link", "<img", "src=", "href=", "url(", "@import",
    ] {
        assert!(
            !lower.contains(forbidden),
            "the page references {forbidden}"
        );
    }
    // The charts: scopes, trend, regions, services, movers, each with bars.
    for id in [
        "chart-scopes",
        "chart-trend",
        "chart-region",
        "chart-service",
        "chart-movers",
    ] {
        let at = html
            .find(&format!("<svg id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id}"));
        let end = html[at..].find("</svg>").expect("svg end") + at;
        assert!(html[at..end].contains("<rect"), "{id} has no bars");
    }
    assert!(html.contains("no data"), "the trend's gaps are marked");
    // The warnings, the providers left out of the movers, the PUE beside the energy.
    for w in r["warnings"].as_array().expect("warnings") {
        let text = w
            .as_str()
            .expect("text")
            .replace('"', "&quot;")
            .replace('\'', "&#39;");
        assert!(html.contains(&text), "warning not on the page: {text}");
    }
    assert!(html.contains("gcp not compared: no rows of 2026-09 in the ledger"));
    for p in r["goal_and_scope"]["pue"].as_array().expect("pue") {
        let id = format!("pue-{}", p["provider"].as_str().expect("p"));
        close(data_value(&html, &id), f(p, "pue"), &id);
    }
    // Every mover of both lists is a row of its table: provider, then the group.
    for list in ["by_service", "by_account"] {
        for m in r["movers"][list].as_array().expect("movers") {
            let cell = |k: &str| {
                let t = m[k].as_str().expect("text");
                t.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
            };
            let row = format!("<tr><td>{}</td><td>{}</td>", cell("provider"), cell("key"));
            assert!(html.contains(&row), "{list}: {row}");
        }
    }
    assert!(html.contains("kg CO2e per unit of estimated rows' cost"));
    // The ratio wording of the default method, and the set's coefficients with units.
    assert!(html.contains("same service and unit first"));
    assert!(!html.contains("estimated by ratio from the energy per unit of cost of the known"));
    assert!(html.contains("server_lifespan_hours") && html.contains("kWh/GB-hour"));
}

#[test]
fn months_without_rows_and_bad_arguments_fail_clearly() {
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
    ok(dir, &["run", "--config", "c.toml"]);

    // A month the ledger does not hold: exit 1, naming the month and the months it has.
    let out = carbonledger(dir, &["report", "--ledger", "ledger", "--month", "2026-11"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no rows of 2026-11") && err.contains("2026-10"),
        "{err}"
    );
    assert!(!dir.join("report.html").exists());
    // Not a month, or no such ledger: exit 2.
    let out = carbonledger(dir, &["report", "--ledger", "ledger", "--month", "2026-1"]);
    assert_eq!(out.status.code(), Some(2));
    let out = carbonledger(
        dir,
        &["report", "--ledger", "nowhere", "--month", "2026-10"],
    );
    assert_eq!(out.status.code(), Some(2));

    // No previous month in the ledger: no movers, said so, and the report is still written.
    ok(
        dir,
        &[
            "report",
            "--ledger",
            "ledger",
            "--month",
            "2026-10",
            "--output-dir",
            "o",
        ],
    );
    let r: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("o/report.json")).expect("json"))
            .expect("parses");
    assert_eq!(r["movers"]["previous_in_ledger"], false);
    assert!(
        r["movers"]["by_service"]
            .as_array()
            .expect("list")
            .is_empty()
    );
    let html = fs::read_to_string(dir.join("o/report.html")).expect("html");
    assert!(html.contains("The ledger has no rows of 2026-09: no comparison."));
    // Only AWS: no market factor anywhere, so the covered market total is 0 kg over 0 % of
    // the energy and the completed one equals the location-based total.
    let t = &r["totals"];
    assert_eq!(f(t, "market_coverage"), 0.0);
    assert_eq!(f(t, "scope2_market_kg_covered"), 0.0);
    close(
        f(t, "scope2_market_kg_with_fallback"),
        f(t, "scope2_location_kg"),
        "fallback",
    );
}

/// Reads `dir/out/report.json` after `carbonledger report --month month [extra…]`.
fn report_of(dir: &Path, month: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "report",
        "--ledger",
        "ledger",
        "--month",
        month,
        "--output-dir",
        "out",
    ];
    args.extend_from_slice(extra);
    ok(dir, &args);
    let text = fs::read_to_string(dir.join("out/report.json")).expect("json");
    let r: Value = serde_json::from_str(&text).expect("parses");
    check_csv(
        &r,
        &fs::read_to_string(dir.join("out/report.csv")).expect("csv"),
    );
    r
}

#[test]
fn partial_months_excluded_only_months_and_custom_factor_sets_are_said() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    for d in ["cur", "gcp", "myset"] {
        fs::create_dir_all(dir.join(d)).expect("dir");
    }
    // A custom factor set: the default one under another version, so that no binary embeds
    // it.
    let set_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("factors/default");
    for entry in fs::read_dir(&set_dir).expect("set dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_owned();
        fs::copy(&path, dir.join("myset").join(name)).expect("copy");
    }
    let toml = fs::read_to_string(set_dir.join("set.toml")).expect("set.toml");
    let version = toml
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .expect("version");
    fs::write(
        dir.join("myset/set.toml"),
        toml.replace(&format!("version = {version}"), "version = \"custom-1\""),
    )
    .expect("set.toml");
    // GCP: September whole (one row's usage runs to 2026-10-01 00:00 UTC), October to the
    // 15th at 11:00 only: 14 days 11 hours of 31.
    let gcp = fs::read_to_string(fixture("gcp/export_mixed.csv")).expect("gcp fixture");
    let moved = |month: &str, next: &str| {
        gcp.replace("2024-01-", &format!("{month}-"))
            .replace("2024-02-01", &format!("{next}-01"))
            .replace(",202401,", &format!(",{},", month.replace('-', "")))
    };
    let september = moved("2026-09", "2026-10").replacen(
        "2026-09-15 11:00:00 UTC",
        "2026-10-01 00:00:00 UTC",
        1,
    );
    fs::write(dir.join("gcp/gcp-2026-09.csv"), september).expect("write");
    fs::write(dir.join("gcp/gcp-2026-10.csv"), moved("2026-10", "2026-11")).expect("write");
    // AWS, August: the tax and fee lines of a synthetic CUR only (no physical usage), so
    // every row is excluded.
    ok(
        dir,
        &[
            "generate-cur",
            "--lines",
            "300",
            "--month",
            "2026-08",
            "--output",
            "all-2026-08.csv",
        ],
    );
    let mut reader = csv::Reader::from_path(dir.join("all-2026-08.csv")).expect("cur");
    let header = reader.headers().expect("header").clone();
    let at = header
        .iter()
        .position(|h| h == "lineItem/LineItemType")
        .expect("type");
    let mut writer = csv::Writer::from_path(dir.join("cur/tax-2026-08.csv")).expect("write");
    writer.write_record(&header).expect("header");
    let mut taxes = 0;
    for rec in reader.records() {
        let rec = rec.expect("line");
        if ["Tax", "Fee", "RIFee", "SavingsPlanRecurringFee"].contains(&&rec[at]) {
            writer.write_record(&rec).expect("line");
            taxes += 1;
        }
    }
    writer.flush().expect("flush");
    assert!(taxes > 0, "the synthetic CUR has fee lines");
    let config = "[ledger]\npath = \"ledger\"\nfactors = \"myset\"\n\
                  [period]\nmonths = [\"2026-08\", \"2026-09\", \"2026-10\"]\n\
                  [[source]]\nname = \"aws\"\nkind = \"aws-cur\"\npath = \"cur\"\n\
                  [[source]]\nname = \"gcp\"\nkind = \"gcp-export\"\npath = \"gcp\"\n";
    fs::write(dir.join("c.toml"), config).expect("config");
    ok(dir, &["run", "--config", "c.toml"]);

    // The partial October: said, and GCP not ranked against its whole September.
    let r = report_of(dir, "2026-10", &["--factors", "myset"]);
    assert_eq!(r["complete"], false);
    close(f(&r, "days_covered"), 14.0 + 11.0 / 24.0, "days");
    assert_eq!(r["trend"][10]["complete"], true, "September is whole");
    assert!(r["movers"]["previous_in_ledger"].as_bool().expect("bool"));
    assert!(r["movers"]["by_service"].as_array().expect("m").is_empty());
    let nc = &r["movers"]["not_compared"][0];
    assert_eq!(nc["provider"], "gcp");
    assert!(
        nc["reason"]
            .as_str()
            .expect("r")
            .contains("2026-10 is incomplete")
    );
    let html = fs::read_to_string(dir.join("out/report.html")).expect("html");
    assert!(html.contains("a partial month, not comparable with a full one"));
    assert!(html.contains("(partial)"));
    // With --factors DIR the custom set is listed from its own files, coefficients and all.
    let set = &r["goal_and_scope"]["factor_sets"][0];
    assert_eq!(set["label"], "default custom-1");
    assert_eq!(set["resolved"], true);
    let lifespan = set["assumptions"]
        .as_array()
        .expect("assumptions")
        .iter()
        .find(|a| a["name"] == "server_lifespan_hours")
        .expect("lifespan");
    assert_eq!(lifespan["unit"], "hours");
    assert!(r["data_quality"]["uncertainty"].is_object());

    // Without --factors the set is unresolved: said, and no range rather than a wrong one.
    let r = report_of(dir, "2026-10", &[]);
    let set = &r["goal_and_scope"]["factor_sets"][0];
    assert_eq!(set["resolved"], false);
    assert!(r["data_quality"]["uncertainty"].is_null());
    let note = r["data_quality"]["uncertainty_note"]
        .as_str()
        .expect("note");
    assert!(
        note.contains("default custom-1") && note.contains("--factors"),
        "{note}"
    );
    let html = fs::read_to_string(dir.join("out/report.html")).expect("html");
    assert!(html.contains("not embedded in this binary"));

    // August: fee lines only. No measured 0: no intensity, no 0-to-0 range, a warning.
    let r = report_of(dir, "2026-08", &["--factors", "myset"]);
    assert_eq!(r["totals"]["rows"].as_u64(), Some(taxes));
    assert_eq!(
        r["data_quality"]["by_kind"][2]["rows"].as_u64(),
        Some(taxes)
    );
    for i in r["intensity"].as_array().expect("intensity") {
        assert!(
            i["kg_per_cost"].is_null() && i["kg_per_estimated_cost"].is_null(),
            "{i}"
        );
        assert!(f(i, "cost") > 0.0, "fees cost something: {i}");
    }
    assert!(r["data_quality"]["uncertainty"].is_null());
    let note = r["data_quality"]["uncertainty_note"]
        .as_str()
        .expect("note");
    assert!(note.contains("no range") && note.contains(&format!("{taxes} excluded")));
    let warnings = r["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .is_some_and(|w| w.contains("no row of 2026-08 carries estimated energy"))),
        "{warnings:?}"
    );
    let html = fs::read_to_string(dir.join("out/report.html")).expect("html");
    assert!(html.contains("no row of 2026-08 carries estimated energy"));
    assert!(!html.contains("table-uncertainty"));

    // A custom set under the embedded set's own name and version (grid factors doubled):
    // without --factors the report resolves the embedded set, so it says the ledger's grid
    // factors are not that set's; with --factors the warning is gone.
    fs::create_dir(dir.join("sameset")).expect("dir");
    for entry in fs::read_dir(&set_dir).expect("set dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_owned();
        fs::copy(&path, dir.join("sameset").join(name)).expect("copy");
    }
    let mut reader = csv::Reader::from_path(set_dir.join("grid_location.csv")).expect("grid");
    let header = reader.headers().expect("header").clone();
    let at = header
        .iter()
        .position(|h| h == "kgco2e_per_kwh")
        .expect("column");
    let mut writer = csv::Writer::from_path(dir.join("sameset/grid_location.csv")).expect("write");
    writer.write_record(&header).expect("header");
    for rec in reader.records() {
        let rec = rec.expect("row");
        let doubled = (rec[at].parse::<f64>().expect("factor") * 2.0).to_string();
        let row: Vec<&str> = (0..rec.len())
            .map(|i| if i == at { doubled.as_str() } else { &rec[i] })
            .collect();
        writer.write_record(&row).expect("row");
    }
    writer.flush().expect("flush");
    let config = "[ledger]\npath = \"ledger\"\nfactors = \"sameset\"\n\
                  [period]\nmonths = [\"2026-10\"]\n\
                  [[source]]\nname = \"gcp\"\nkind = \"gcp-export\"\npath = \"gcp\"\n";
    fs::remove_dir_all(dir.join("ledger")).expect("old ledger");
    fs::write(dir.join("c.toml"), config).expect("config");
    ok(dir, &["run", "--config", "c.toml"]);
    let r = report_of(dir, "2026-10", &[]);
    let label = format!("default {}", version.trim_matches('"'));
    assert_eq!(
        r["goal_and_scope"]["factor_sets"][0]["label"],
        label.as_str()
    );
    let same_name = |r: &Value| {
        r["warnings"].as_array().expect("warnings").iter().any(|w| {
            w.as_str()
                .is_some_and(|w| w.contains("custom set of the same name"))
        })
    };
    assert!(same_name(&r), "{}", r["warnings"]);
    let r = report_of(dir, "2026-10", &["--factors", "sameset"]);
    assert!(!same_name(&r), "{}", r["warnings"]);
}

#[test]
fn ccf_rows_without_a_vcpu_count_are_counted_apart() {
    // The legacy CUR fixture under `--method ccf`: zz9.xlarge (no vCPU count anywhere) and
    // db.r5.12xl (looked up as `r5.12xl`) are `estimated` at 0 kWh, as CCF's code does
    // (tests/cli.rs, ccf_quirk_rows_get_zero_kwh_and_stay_out_of_the_ratio).
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    fs::create_dir(dir.join("cur")).expect("cur");
    fs::copy(
        fixture("aws/legacy_mixed.csv"),
        dir.join("cur/legacy-2023-11.csv"),
    )
    .expect("fixture");
    let config = "[ledger]\npath = \"ledger\"\nmethod = \"ccf\"\n\
                  [period]\nmonths = [\"2023-11\"]\n\
                  [[source]]\nname = \"aws\"\nkind = \"aws-cur\"\npath = \"cur\"\n\
                  cost = \"unblended\"\n";
    fs::write(dir.join("c.toml"), config).expect("config");
    ok(dir, &["run", "--config", "c.toml"]);
    let rows = ledger_rows(&dir.join("ledger"));
    let zero: Vec<&Row> = rows
        .iter()
        .filter(|x| x.month == "2023-11" && x.kind == "estimated" && x.energy == 0.0)
        .collect();
    assert!(
        zero.len() >= 2,
        "the two CCF quirk rows at least: {}",
        zero.len()
    );
    let r = report_of(dir, "2023-11", &[]);
    let q = &r["data_quality"];
    let w = &q["estimated_without_energy"];
    assert_eq!(w["rows"].as_u64(), Some(zero.len() as u64));
    let cost: f64 = zero.iter().map(|x| x.cost).sum();
    close(f(&w["cost"][0], "amount"), cost, "their cost");
    assert_eq!(q["ccf_no_vcpu_rows"].as_u64(), Some(2));
    let html = fs::read_to_string(dir.join("out/report.html")).expect("html");
    assert!(html.contains("id=\"estimated-without-energy\""));
    assert!(html.contains("method ccf: per provider and billed unit"));
}
