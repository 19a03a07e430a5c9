//! The worked examples of the FOCUS specification (`fixtures/focus/spec_examples`, copied as
//! published), read with [`FocusOptions::partial`] because they show only the columns their
//! scenario is about. Expected values are computed here from the files with the `csv` crate;
//! the commitment scenarios must count physical usage once and reconcile their cost, and the
//! examples whose values are not FOCUS's formats (spreadsheet money and US dates, an hour 30)
//! must fail naming the file, the line and the column.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_focus::{FocusCost, FocusOptions, FocusSource, NO_CURRENCY};
use carbonledger_usage::{InputTotals, SourceError, UsageSource, validate};
use polars::prelude::*;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/focus/spec_examples")
}

fn options(cost: FocusCost) -> FocusOptions {
    FocusOptions {
        cost,
        ccf_quirks: false,
        partial: true,
    }
}

fn read(path: &Path, cost: FocusCost) -> Result<(DataFrame, InputTotals), SourceError> {
    let factors = Arc::new(FactorSet::embedded("default").expect("factors"));
    let mut source = FocusSource::open(path, factors, options(cost))?;
    let mut frames = Vec::new();
    let totals = source.read(&mut |df| {
        validate(&df).expect("usage schema");
        frames.push(df);
        Ok(())
    })?;
    let mut all = frames.pop().expect("one batch at least");
    for df in frames {
        all.vstack_mut(&df).expect("stack");
    }
    Ok((all, totals))
}

/// The data rows of a spec example, as maps of column → value (blank lines skipped, as the
/// `csv` crate does).
fn rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut csv = csv::Reader::from_path(path).expect("example");
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

fn is_null(v: &str) -> bool {
    v.is_empty() || v.eq_ignore_ascii_case("null")
}

fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
    let column = df.column(name).unwrap().as_materialized_series().rechunk();
    let ca = column.str().unwrap();
    (0..ca.len())
        .map(|i| ca.get(i).map(str::to_owned))
        .collect()
}

fn floats(df: &DataFrame, name: &str) -> Vec<f64> {
    let column = df.column(name).unwrap().as_materialized_series().rechunk();
    let ca = column.f64().unwrap();
    (0..ca.len()).map(|i| ca.get(i).unwrap()).collect()
}

fn lines(df: &DataFrame) -> Vec<u64> {
    let column = df
        .column("source_line")
        .unwrap()
        .as_materialized_series()
        .rechunk();
    let ca = column.u64().unwrap();
    (0..ca.len()).map(|i| ca.get(i).unwrap()).collect()
}

const READABLE: [&str; 8] = [
    concat!(
        "commitment_discount_flexibility__one_hundred_percent_utilization_with_",
        "commitment_discount_flexibility_with_1_resource.csv"
    ),
    concat!(
        "commitment_discount_flexibility__one_hundred_percent_utilization_with_",
        "commitment_discount_flexibility_with_2_resources.csv"
    ),
    concat!(
        "commitment_discount_flexibility__one_hundred_percent_utilization_without_",
        "commitment_discount_flexibility.csv"
    ),
    concat!(
        "commitment_discount_flexibility__zero_percent_utilization_without_",
        "commitment_discount_flexibility.csv"
    ),
    "commitment_discount_scenarios__commitment_discount_purchase_scenario_1.csv",
    "commitment_discount_scenarios__commitment_discount_usage_scenario_1.csv",
    "commitment_discount_scenarios__commitment_discount_usage_scenario_2.csv",
    "commitment_discount_scenarios__commitment_discount_usage_scenario_3.csv",
];

#[test]
fn commitment_examples_count_usage_once_and_reconcile_every_cost() {
    let mut checked = 0;
    for name in READABLE
        .iter()
        .chain(["commitment_discount_scenarios__commitment_discount_usage_scenario_4.csv"].iter())
    {
        let path = examples().join(name);
        let expected = rows(&path);
        for cost in [FocusCost::Effective, FocusCost::Billed] {
            let (df, totals) = read(&path, cost).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                df.height(),
                expected.len(),
                "{name}: one usage row per input row"
            );
            assert_eq!(totals.rows as usize, expected.len());
            let column = cost.column_name();
            let want: f64 = expected
                .iter()
                .map(|r| r[column].trim().parse::<f64>().unwrap())
                .sum();
            // No BillingCurrency in the examples: the cost is counted under `XXX`.
            assert_eq!(totals.cost.keys().collect::<Vec<_>>(), vec![NO_CURRENCY]);
            assert!(
                (totals.cost[NO_CURRENCY] - want).abs() < 1e-9,
                "{name} {column}"
            );
            let out: f64 = floats(&df, "cost").iter().sum();
            assert!(
                (out - want).abs() < 1e-9,
                "{name}: ledger cost {out} vs {want}"
            );

            let classes = strings(&df, "usage_class");
            let amounts = floats(&df, "usage_amount");
            let physical: Vec<f64> = (0..df.height())
                .map(|i| {
                    [
                        "vcpu_hours",
                        "gpu_hours",
                        "memory_gb_hours",
                        "storage_tb_hours",
                    ]
                    .iter()
                    .chain(["network_gb"].iter())
                    .map(|c| floats(&df, c)[i])
                    .sum()
                })
                .collect();
            let lines = lines(&df);
            for (i, row) in expected.iter().enumerate() {
                let category = row["ChargeCategory"].as_str();
                let status = row
                    .get("CommitmentDiscountStatus")
                    .map_or("", |s| s.as_str());
                let class = classes[i].as_deref().unwrap();
                if category != "Usage" || status.eq_ignore_ascii_case("Unused") {
                    // Purchases and the unused part of a commitment carry no usage (the
                    // billed amount is kept as written, even where an example gives the
                    // unused hour a ConsumedQuantity).
                    assert_eq!(class, "excluded", "{name} row {i}");
                    assert_eq!(physical[i], 0.0, "{name} row {i}");
                } else {
                    // Consumed usage is real usage; with no provider to classify it by, it is
                    // estimated by ratio, and its quantity is the consumed quantity.
                    assert_eq!(class, "unknown", "{name} row {i}");
                    let consumed: f64 = row["ConsumedQuantity"].parse().unwrap();
                    assert_eq!(amounts[i], consumed, "{name} row {i}");
                }
            }
            // Physical usage is counted once: the consumed quantity of the non-excluded rows
            // is that of the Usage rows that are not Unused, and nothing else.
            let consumed: f64 = expected
                .iter()
                .filter(|r| r["ChargeCategory"] == "Usage")
                .filter(|r| {
                    !r.get("CommitmentDiscountStatus")
                        .is_some_and(|s| s.eq_ignore_ascii_case("Unused"))
                })
                .map(|r| {
                    let q = &r["ConsumedQuantity"];
                    if is_null(q) { 0.0 } else { q.parse().unwrap() }
                })
                .sum();
            let counted: f64 = classes
                .iter()
                .zip(&amounts)
                .filter(|(c, _)| c.as_deref() != Some("excluded"))
                .map(|(_, a)| a)
                .sum();
            assert_eq!(counted, consumed, "{name}");
            assert!(lines.windows(2).all(|w| w[0] < w[1]));
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

#[test]
fn the_zero_utilisation_example_excludes_the_unused_hour() {
    // One purchase, one unused commitment hour and one on-demand VM hour: only the VM hour is
    // usage; in effective cost the purchase is 0 and the unused hour carries its 1.50.
    let path = examples().join(READABLE[3]);
    let (df, totals) = read(&path, FocusCost::Effective).unwrap();
    assert_eq!(
        strings(&df, "usage_class"),
        ["excluded", "excluded", "unknown"].map(|s| Some(s.to_owned()))
    );
    let reasons = strings(&df, "exclusion_reason");
    assert!(reasons[0].as_deref().unwrap().starts_with("purchase"));
    assert!(
        reasons[1]
            .as_deref()
            .unwrap()
            .starts_with("unused commitment")
    );
    let expected: f64 = rows(&path)
        .iter()
        .map(|r| r["EffectiveCost"].parse::<f64>().unwrap())
        .sum();
    assert_eq!(totals.cost[NO_CURRENCY], expected);
}

#[test]
fn examples_with_impossible_values_name_the_line_and_column() {
    // Purchase scenarios 2 and 3 end a charge period at hour 30.
    for (name, line) in [
        (
            "commitment_discount_scenarios__commitment_discount_purchase_scenario_2.csv",
            4,
        ),
        (
            "commitment_discount_scenarios__commitment_discount_purchase_scenario_3.csv",
            5,
        ),
    ] {
        let path = examples().join(name);
        let err = read(&path, FocusCost::Effective).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{name}, line {line}, column `ChargePeriodEnd`"))
                && err.contains("T30:00:00Z"),
            "{err}"
        );
    }
}

#[test]
fn saas_examples_in_spreadsheet_formats_are_rejected_precisely() {
    // The SaaS examples were exported from a spreadsheet: money as `$10,000.00 ` and dates as
    // `4/1/25` (month first or day first cannot be told). Each fails on its first data line,
    // naming the cost or charge period column and the value.
    let mut names: Vec<_> = std::fs::read_dir(examples())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("saas_examples"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 15);
    for name in names {
        let path = examples().join(&name);
        let first = &rows(&path)[0];
        let (column, value) = if first["EffectiveCost"].trim().parse::<f64>().is_err() {
            ("EffectiveCost", first["EffectiveCost"].trim().to_owned())
        } else {
            (
                "ChargePeriodStart",
                first["ChargePeriodStart"].trim().to_owned(),
            )
        };
        let err = read(&path, FocusCost::Effective).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{name}, line 2, column `{column}`: `{value}`")),
            "{name}: {err}"
        );
    }
}

#[test]
fn without_partial_a_spec_example_lacks_mandatory_columns() {
    let path = examples().join(READABLE[5]);
    let factors = Arc::new(FactorSet::embedded("default").unwrap());
    let mut source = FocusSource::open(&path, factors, FocusOptions::default()).unwrap();
    let err = source.read(&mut |_| Ok(())).unwrap_err().to_string();
    assert!(
        err.contains("line 1, column `BillingCurrency`: required column"),
        "{err}"
    );
}

#[test]
fn describe_reports_the_version_the_columns_tell() {
    let factors = Arc::new(FactorSet::embedded("default").unwrap());
    for (name, version) in [
        // CommitmentDiscountQuantity and CommitmentDiscountUnit arrived in 1.1.
        (READABLE[5], "1.1"),
        // PricingCurrency arrived in 1.2.
        (
            "saas_examples__virtual_currency_pricing_model_a1.csv",
            "1.2",
        ),
    ] {
        let path = examples().join(name);
        let source =
            FocusSource::open(&path, Arc::clone(&factors), options(FocusCost::Billed)).unwrap();
        let described = source.describe();
        assert!(
            described.starts_with(&format!("FOCUS {version} file "))
                && described.ends_with("(CSV, cost billed: BilledCost)"),
            "{described}"
        );
    }
}
