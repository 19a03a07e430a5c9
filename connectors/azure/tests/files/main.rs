//! Tests of the Azure file connector on the fixtures in `fixtures/azure` (see its
//! PROVENANCE.md for what each row covers): header variants, units, classification, layout,
//! formats and errors with their file, line and column.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use carbonledger_azure::{AzureExportSource, AzureOptions, is_export_file};
use carbonledger_factors::FactorSet;
use carbonledger_usage::{InputTotals, SourceError, UsageSource, col, validate};
use polars::prelude::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/azure")
        .join(name)
}

fn factors(name: &str) -> Arc<FactorSet> {
    Arc::new(FactorSet::embedded(name).unwrap())
}

fn read_with(path: &Path, ccf: bool) -> Result<(DataFrame, InputTotals, Vec<String>), SourceError> {
    let set = factors(if ccf { "ccf" } else { "default" });
    let mut source = AzureExportSource::open(path, set, AzureOptions { ccf_quirks: ccf })?;
    let mut frames: Vec<DataFrame> = Vec::new();
    let totals = source.read(&mut |df| {
        validate(&df).unwrap();
        frames.push(df);
        Ok(())
    })?;
    let all = frames
        .into_iter()
        .reduce(|a, b| a.vstack(&b).unwrap())
        .unwrap_or_else(|| DataFrame::empty_with_schema(&carbonledger_usage::usage_schema()));
    Ok((all, totals, source.summary()))
}

fn read(path: &Path) -> (DataFrame, InputTotals, Vec<String>) {
    read_with(path, false).unwrap()
}

fn str_at(df: &DataFrame, column: &str, i: usize) -> Option<String> {
    df.column(column)
        .unwrap()
        .str()
        .unwrap()
        .get(i)
        .map(str::to_owned)
}

fn f64_at(df: &DataFrame, column: &str, i: usize) -> f64 {
    df.column(column).unwrap().f64().unwrap().get(i).unwrap()
}

/// The row read from `line` of the file (header = line 1).
fn at_line(df: &DataFrame, line: u64) -> usize {
    let lines = df.column(col::SOURCE_LINE).unwrap().u64().unwrap();
    (0..df.height())
        .find(|i| lines.get(*i) == Some(line))
        .unwrap_or_else(|| panic!("no row from line {line}"))
}

/// Data rows and cost per currency, counted from the CSV with the `csv` crate.
fn raw_totals(path: &Path, cost_column: &str, currency_column: &str) -> (u64, f64) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_owned())
        .collect();
    let cost = header.iter().position(|h| h == cost_column).unwrap();
    let _currency = header.iter().position(|h| h == currency_column).unwrap();
    let mut rows = 0;
    let mut sum = 0.0;
    for record in reader.records() {
        let record = record.unwrap();
        rows += 1;
        sum += record[cost].parse::<f64>().unwrap_or(0.0);
    }
    (rows, sum)
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} != {b}");
}

#[test]
fn every_header_variant_reads_and_reconciles() {
    let cases = [
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
        (
            "opencost_headerset_Enterprise.csv",
            "CostInBillingCurrency",
            "BillingCurrencyCode",
        ),
        (
            "opencost_headerset_EnterpriseCamel.csv",
            "costInBillingCurrency",
            "billingCurrency",
        ),
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
    ];
    for (name, cost, currency) in cases {
        let path = fixture(name);
        assert!(
            is_export_file(&path),
            "{name} is not detected as cost details"
        );
        let (df, totals, _) = read(&path);
        let (rows, sum) = raw_totals(&path, cost, currency);
        assert_eq!(df.height() as u64, rows, "{name}");
        assert_eq!(totals.rows, rows, "{name}");
        let out: f64 = df.column(col::COST).unwrap().f64().unwrap().sum().unwrap();
        let counted: f64 = totals.cost.values().sum();
        close(out, sum);
        close(counted, sum);
        let classes = df.column(col::USAGE_CLASS).unwrap().str().unwrap();
        let reasons = df.column(col::EXCLUSION_REASON).unwrap().str().unwrap();
        for i in 0..df.height() {
            assert_eq!(
                classes.get(i) == Some("excluded"),
                reasons.get(i).is_some(),
                "{name} row {i}: a reason exactly for excluded rows"
            );
        }
    }
}

#[test]
fn a_header_only_file_gives_no_rows() {
    let (df, totals, _) = read(&fixture("finops-toolkit_EA_NoRows.csv"));
    assert_eq!((df.height(), totals.rows), (0, 0));
}

#[test]
fn ea_actual_rows_get_the_method_quantities() {
    let path = fixture("ea_actual.csv");
    let (df, _, summary) = read(&path);
    let set = factors("default");
    let class = |line| str_at(&df, col::USAGE_CLASS, at_line(&df, line)).unwrap();

    // Line 2: 2.4 × `10 Hours` of an E4 v3 with AdditionalInfo VCPUs 4.
    let i = at_line(&df, 2);
    let e4 = set.instance("azure", "E4s v3").unwrap();
    assert_eq!(class(2), "compute");
    assert_eq!(
        str_at(&df, col::INSTANCE_TYPE, i).as_deref(),
        Some("E4s v3")
    );
    close(f64_at(&df, col::VCPU_HOURS, i), 24.0 * 4.0);
    close(f64_at(&df, col::MEMORY_GB_HOURS, i), 24.0 * e4.memory_gb);
    assert_eq!(str_at(&df, col::REGION, i).as_deref(), Some("eastus"));
    assert_eq!(
        str_at(&df, col::TAGS, i).as_deref(),
        Some(r#"{"env":"prod","team":"platform"}"#)
    );
    assert_eq!(f64_at(&df, col::USAGE_AMOUNT, i), 2.4);
    assert_eq!(str_at(&df, col::USAGE_UNIT, i).as_deref(), Some("10 Hours"));

    // Line 3: no VCPUs, size from the meter `D2 v3/D2s v3`; location spelt `US East`.
    let i = at_line(&df, 3);
    let d2 = set.instance("azure", "D2 v3").unwrap();
    close(f64_at(&df, col::VCPU_HOURS, i), 24.0 * d2.vcpus);
    assert_eq!(str_at(&df, col::REGION, i).as_deref(), Some("eastus"));

    // Line 4: the reservation purchase, excluded with its reason and cost.
    let i = at_line(&df, 4);
    assert_eq!(class(4), "excluded");
    assert!(
        str_at(&df, col::EXCLUSION_REASON, i)
            .unwrap()
            .starts_with("reservation purchase")
    );
    assert_eq!(f64_at(&df, col::COST, i), 75.0);

    // Line 5: 300 GB-months of LRS blob data in September (30 days).
    let i = at_line(&df, 5);
    assert_eq!(class(5), "storage_ssd");
    close(
        f64_at(&df, col::STORAGE_TB_HOURS, i),
        300.0 * 24.0 * 30.0 / 1000.0,
    );

    // Line 6: a P10 disk (128 GiB) for 0.033333 of a month.
    let i = at_line(&df, 6);
    assert_eq!(class(6), "storage_ssd");
    let tb = 0.033333 * 128.0 * 1.073_741_824 * 24.0 * 30.0 / 1000.0;
    close(f64_at(&df, col::STORAGE_TB_HOURS, i), tb);

    // Line 7: 0.5 × `100 GB` of egress; location `Intl` is not in Regions.csv.
    let i = at_line(&df, 7);
    assert_eq!(class(7), "network");
    close(f64_at(&df, col::NETWORK_GB, i), 50.0);
    assert_eq!(str_at(&df, col::REGION, i), None);
    assert_eq!(
        str_at(&df, col::REGION_NOTE, i).as_deref(),
        Some("location `Intl` is not in Regions.csv")
    );

    // Line 8: a unit PricingUnits.csv lacks; location `global`.
    let i = at_line(&df, 8);
    assert_eq!(class(8), "unknown");
    assert_eq!(str_at(&df, col::REGION, i), None);
    assert!(
        summary
            .iter()
            .any(|l| l.contains("`1 Tile Batch` (1 rows)"))
    );
    assert!(summary.iter().any(|l| l.contains("`Intl` (1 rows)")));

    // Line 9: Azure Bastion, CCF's unknown list. Lines 10–11, 13–14: purchase, refund,
    // rounding, tax.
    assert_eq!(class(9), "unknown");
    for (line, start) in [
        (10, "purchase (Marketplace"),
        (11, "refund"),
        (13, "rounding adjustment"),
        (14, "tax"),
    ] {
        assert_eq!(class(line), "excluded");
        let reason = str_at(&df, col::EXCLUSION_REASON, at_line(&df, line)).unwrap();
        assert!(reason.starts_with(start), "line {line}: {reason}");
    }

    // Line 12: a malformed AdditionalInfo is reported and the row kept (size from the meter).
    assert_eq!(class(12), "compute");
    let shown = path.display().to_string();
    let warning = summary.iter().find(|l| l.contains("malformed")).unwrap();
    assert!(
        warning.contains(&format!("{shown}, line 12, column `AdditionalInfo`")),
        "{warning}"
    );
}

#[test]
fn the_ccf_method_ignores_block_sizes_as_ccf() {
    let (df, _, _) = read_with(&fixture("ea_actual.csv"), true).unwrap();
    let i = at_line(&df, 2);
    close(f64_at(&df, col::VCPU_HOURS, i), 2.4 * 4.0);
    // CCF: GB/Month quantities held for the row's day, the P10 size for one day.
    close(
        f64_at(&df, col::STORAGE_TB_HOURS, at_line(&df, 5)),
        300.0 * 24.0 / 1000.0,
    );
    // `1/Month` is not one of CCF's units (it knows `1 /Month`): the P10 disk is unknown.
    let i = at_line(&df, 6);
    assert_eq!(str_at(&df, col::USAGE_CLASS, i).as_deref(), Some("unknown"));
    let (df, _, _) = read_with(&fixture("ea_amortized.csv"), true).unwrap();
    // Reservation-covered: CCF keeps the normalised quantity 8.
    close(f64_at(&df, col::VCPU_HOURS, at_line(&df, 2)), 8.0 * 2.0);
}

#[test]
fn amortized_rows_use_the_consumed_hours_and_exclude_unused_commitments() {
    let (df, totals, _) = read(&fixture("ea_amortized.csv"));
    // Reservation-normalised Quantity 8, ConsumedQuantity 4 hours × 2 vCPUs.
    close(f64_at(&df, col::VCPU_HOURS, at_line(&df, 2)), 8.0);
    close(f64_at(&df, col::VCPU_HOURS, at_line(&df, 3)), 2.0);
    for (line, start) in [
        (4, "unused reservation"),
        (5, "unused savings plan"),
        (6, "reservation purchase"),
    ] {
        let i = at_line(&df, line);
        assert_eq!(
            str_at(&df, col::USAGE_CLASS, i).as_deref(),
            Some("excluded")
        );
        assert!(
            str_at(&df, col::EXCLUSION_REASON, i)
                .unwrap()
                .starts_with(start)
        );
    }
    // Excluded cost is kept: the ledger's cost equals the input's.
    let out: f64 = df.column(col::COST).unwrap().f64().unwrap().sum().unwrap();
    close(out, totals.cost["USD"]);
}

#[test]
fn totals_reconcile_with_purchases_excluded_with_their_reason() {
    let (df, totals, _) = read(&fixture("ea_actual.csv"));
    let excluded = df
        .clone()
        .lazy()
        .filter(col(col::USAGE_CLASS).eq(lit("excluded")))
        .group_by([col(col::EXCLUSION_REASON)])
        .agg([col(col::COST).sum()])
        .collect()
        .unwrap();
    let purchase_cost: f64 = (0..excluded.height())
        .filter(|i| {
            str_at(&excluded, col::EXCLUSION_REASON, *i)
                .unwrap()
                .contains("purchase")
        })
        .map(|i| f64_at(&excluded, col::COST, i))
        .sum();
    // Lines 4 (75.00) and 10 (40.00) are the purchases of the fixture.
    close(purchase_cost, 115.0);
    let all: f64 = df.column(col::COST).unwrap().f64().unwrap().sum().unwrap();
    close(all, totals.cost["USD"]);
    assert_eq!(totals.rows, df.height() as u64);
}

#[test]
fn mca_camel_legacy_and_german_files_give_the_same_kind_of_rows() {
    let set = factors("default");
    let (df, totals, _) = read(&fixture("mca_actual.csv"));
    assert!(totals.cost.contains_key("EUR"));
    let d4 = set.instance("azure", "D4 v3").unwrap();
    // 0.24 × `100 Hours` = 24 hours; EASTUS; ISO date.
    close(f64_at(&df, col::VCPU_HOURS, 0), 24.0 * d4.vcpus);
    assert_eq!(str_at(&df, col::REGION, 0).as_deref(), Some("eastus"));
    assert_eq!(
        str_at(&df, col::BILLING_ACCOUNT, 0).as_deref(),
        Some("abc:def_2019-05-31")
    );
    // Empty ResourceLocation: the normalised Location `EU West` gives westeurope.
    assert_eq!(str_at(&df, col::REGION, 1).as_deref(), Some("westeurope"));
    assert_eq!(
        str_at(&df, col::USAGE_CLASS, 1).as_deref(),
        Some("storage_hdd")
    );

    let (df, _, _) = read(&fixture("payg_camel.csv"));
    close(f64_at(&df, col::VCPU_HOURS, 0), 20.0);
    assert_eq!(str_at(&df, col::USAGE_CLASS, 1).as_deref(), Some("memory"));
    close(f64_at(&df, col::MEMORY_GB_HOURS, 1), 360.0 / 3600.0);

    let (df, totals, _) = read(&fixture("payg_legacy.csv"));
    assert!(totals.cost.contains_key("GBP"));
    let b2s = set.instance("azure", "B2s").unwrap();
    close(f64_at(&df, col::VCPU_HOURS, 0), 24.0 * b2s.vcpus);
    assert_eq!(str_at(&df, col::REGION, 0).as_deref(), Some("uksouth"));

    let (df, _, _) = read(&fixture("ea_german.csv"));
    close(f64_at(&df, col::VCPU_HOURS, 0), 48.0);
    assert_eq!(
        str_at(&df, col::REGION, 0).as_deref(),
        Some("germanywestcentral")
    );
    assert_eq!(
        str_at(&df, col::REGION, 1).as_deref(),
        Some("germanywestcentral")
    );
}

#[test]
fn gzip_and_parquet_give_the_rows_of_the_csv() {
    let (csv, _, _) = read(&fixture("ea_actual.csv"));
    for name in ["ea_actual.csv.gz", "ea_actual.parquet"] {
        assert!(is_export_file(&fixture(name)), "{name} is not detected");
        let (other, _, _) = read(&fixture(name));
        assert_eq!(other.height(), csv.height(), "{name}");
        for column in [
            col::PERIOD_START,
            col::USAGE_CLASS,
            col::VCPU_HOURS,
            col::STORAGE_TB_HOURS,
            col::NETWORK_GB,
            col::COST,
            col::REGION,
            col::TAGS,
        ] {
            assert!(
                other
                    .column(column)
                    .unwrap()
                    .as_materialized_series()
                    .equals_missing(csv.column(column).unwrap().as_materialized_series()),
                "{name}: column {column} differs"
            );
        }
    }
}

#[test]
fn the_latest_run_of_each_period_is_read() {
    let root = fixture("layout");
    let set = factors("default");
    let source = AzureExportSource::open(&root, set, AzureOptions::default()).unwrap();
    let files: Vec<String> = source
        .files()
        .iter()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    let latest =
        "exports/daily/costs-actual/20230901-20230930/0a1b2c3d-0000-4000-8000-000000000001";
    assert_eq!(
        files,
        [
            format!("{latest}/part_0_0001.csv"),
            format!("{latest}/part_1_0001.csv"),
            "exports/daily/costs-actual/20231001-20231031/5e6f7a8b-0000-4000-8000-000000000003/\
             part_0_0001.csv"
                .to_owned(),
        ]
    );
    let (df, totals, _) = read(&root);
    let (rows, cost) = raw_totals(&fixture("ea_actual.csv"), "Cost", "BillingCurrency");
    assert_eq!(df.height() as u64, rows + 2);
    assert_eq!(totals.rows, rows + 2);
    // The October run holds the first two rows of the fixture.
    close(totals.cost["USD"], cost + 6.048 + 2.304);
}

fn error_of(name: &str) -> String {
    match read_with(&fixture(name), false) {
        Ok(_) => panic!("{name} read without an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_files_name_the_file_line_and_column() {
    let shown = |name: &str| fixture(name).display().to_string();
    let e = error_of("missing_column.csv");
    assert!(
        e.starts_with(&format!(
            "{}, line 1, column `UnitOfMeasure`:",
            shown("missing_column.csv")
        )),
        "{e}"
    );
    let e = error_of("bad_number.csv");
    assert!(
        e.starts_with(&format!(
            "{}, line 4, column `Quantity`:",
            shown("bad_number.csv")
        )),
        "{e}"
    );
    assert!(e.contains("`2,4,0` is not a number"), "{e}");
    let e = error_of("bad_date.csv");
    assert!(
        e.starts_with(&format!(
            "{}, line 3, column `Date`:",
            shown("bad_date.csv")
        )),
        "{e}"
    );
    let e = error_of("truncated.csv.gz");
    assert!(e.starts_with(&shown("truncated.csv.gz")), "{e}");
    assert!(e.contains("gzip data is broken or truncated"), "{e}");
}

#[test]
fn empty_and_missing_inputs_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let e = read_with(&empty, false).err().unwrap().to_string();
    assert!(e.ends_with("empty file"), "{e}");
    let none = dir.path().join("none");
    std::fs::create_dir(&none).unwrap();
    let e = AzureExportSource::open(&none, factors("default"), AzureOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("no Azure cost-details files"), "{e}");
}

#[test]
fn a_file_without_meters_is_refused_naming_the_first_missing_column() {
    // OpenCost's minimal VM sample has no MeterName, Quantity or UnitOfMeasure.
    let name = "opencost_values_VirtualMachine.csv";
    assert!(!is_export_file(&fixture(name)));
    let e = error_of(name);
    let expected = format!("{}, line 1, column `MeterName`:", fixture(name).display());
    assert!(e.starts_with(&expected), "{e}");
}
