//! The estimator on hand-built usage rows, checked against values worked out by hand from
//! the methodology notes (`../shared/reference/ccf-methodology.md`) and CCF's published test
//! values. Factor values used in the hand calculations are quoted from `factors/ccf/*.csv`.

use carbonledger::estimate::{Estimator, Method};
use carbonledger::ledger::col as lcol;
use carbonledger_factors::FactorSet;
use carbonledger_usage::{UsageBatchBuilder, UsageClass, UsageRow, col as ucol};
use polars::prelude::*;

/// 2026-10-01T00:00:00Z in microseconds.
const OCT_2026: i64 = 1_790_812_800_000_000;

fn row(service: &'static str, usage_type: &'static str, class: UsageClass) -> UsageRow<'static> {
    UsageRow {
        period_start_us: OCT_2026,
        period_end_us: OCT_2026 + 3_600_000_000,
        provider: "aws",
        billing_account: "111111111111",
        usage_account: "222222222222",
        service,
        region: Some("us-east-1"),
        usage_type,
        charge_type: "Usage",
        usage_class: Some(class),
        currency: "USD",
        source: "test",
        ..UsageRow::default()
    }
}

/// Runs the estimator over `rows` and returns the whole ledger.
fn run(method: Method, rows: &[UsageRow<'_>]) -> DataFrame {
    let set = FactorSet::embedded(method.factor_set_name()).unwrap();
    let mut builder = UsageBatchBuilder::with_capacity(rows.len());
    for r in rows {
        builder.push(r);
    }
    let usage = builder.finish().unwrap();
    let mut out: Vec<DataFrame> = Vec::new();
    let mut estimator = Estimator::new(&set, method).unwrap();
    estimator
        .estimate(usage, &mut |b| {
            out.push(b);
            Ok(())
        })
        .unwrap();
    estimator
        .finish(&mut |b| {
            out.push(b);
            Ok(())
        })
        .unwrap();
    let mut ledger = out.remove(0);
    for b in out {
        ledger.vstack_mut(&b).unwrap();
    }
    ledger
}

fn value(ledger: &DataFrame, column: &str, i: usize) -> Option<f64> {
    ledger.column(column).unwrap().f64().unwrap().get(i)
}

fn text<'a>(ledger: &'a DataFrame, column: &str, i: usize) -> Option<&'a str> {
    ledger.column(column).unwrap().str().unwrap().get(i)
}

fn close(actual: Option<f64>, expected: f64) {
    let a = actual.expect("a value, not null");
    assert!(
        (a - expected).abs() <= 1e-9 * expected.abs().max(1e-300),
        "{a} != {expected}"
    );
}

#[test]
fn ccf_reproduces_its_s3_byte_hours_quirk() {
    // CCF's test: 2 GB-Mo of S3 TimedStorage-ByteHrs gives 8.051756594795733e-15 kWh, because
    // CCF divides by 2^40 as if the amount were byte-hours (HDD 0.65 Wh/TB-h, PUE 1.135, S3
    // replication 6).
    let s3 = UsageRow {
        usage_amount: 2.0,
        usage_unit: "GB-Mo",
        storage_tb_hours: 2.0 * 24.0 * 31.0 / 1000.0,
        cost: 0.046,
        ..row(
            "AmazonS3",
            "USE1-TimedStorage-ByteHrs",
            UsageClass::StorageHdd,
        )
    };
    let ccf = run(Method::Ccf, &[s3.clone()]);
    close(value(&ccf, lcol::ENERGY_KWH, 0), 8.051756594795733e-15);

    // The default method takes the GB-months as GB-months: 2 GB for the 744 h of October
    // = 1.488 TB-h, with the default set's own HDD coefficient, PUE and S3 replication.
    let set = FactorSet::embedded("default").unwrap();
    let pue = set.pue("aws", Some("us-east-1"), 2026).unwrap();
    let rf = set.replication("aws", "AmazonS3", "USE1-TimedStorage-ByteHrs");
    let expected = 1.488 * set.coefficients.hdd_wh_per_tb_hour / 1000.0 * pue * rf;
    let default = run(Method::Default, &[s3]);
    close(value(&default, lcol::ENERGY_KWH, 0), expected);
    assert!(
        expected > 1e-6,
        "the default method must not under-count by 2^40"
    );
}

#[test]
fn ccf_compute_row_with_memory_and_embodied() {
    // 10 instance-hours of m5.xlarge (4 vCPU, 16 GB; Skylake) in us-east-1.
    let ec2 = UsageRow {
        instance_type: Some("m5.xlarge"),
        vcpu_hours: 40.0,
        memory_gb_hours: 160.0,
        usage_amount: 10.0,
        usage_unit: "Hrs",
        cost: 1.92,
        ..row("AmazonEC2", "BoxUsage:m5.xlarge", UsageClass::Compute)
    };
    let ledger = run(Method::Ccf, &[ec2]);
    // Skylake 0.65 W idle, 4.26 W full, 50 % → 2.455 W per vCPU; PUE 1.135; replication 1.
    let cpu = 2.455 * 40.0 / 1000.0 * 1.135;
    close(value(&ledger, lcol::CPU_KWH, 0), cpu);
    // m5.metal is the family's largest: 96 vCPU, 384 GB, one chip; Skylake has 81.32 GB per
    // chip, so 384 − 81.32 = 302.68 GB are above it; m5.xlarge holds 16/384 of that.
    let memory_gbh = 302.68 / (384.0 / 16.0) * 10.0;
    let memory = memory_gbh * 0.000392 * 1.135;
    close(value(&ledger, lcol::MEMORY_KWH, 0), memory);
    close(value(&ledger, lcol::ENERGY_KWH, 0), cpu + memory);
    // us-east-1 is 0.379069 kg/kWh (eGRID SERC).
    close(
        value(&ledger, lcol::SCOPE2_LOCATION_KG, 0),
        (cpu + memory) * 0.379069,
    );
    // Embodied, CCF's AWS arithmetic: 1610.3792 kg × 10 h / (35040 h × 96 vCPU).
    let embodied = 1610.3792 * 10.0 / (35040.0 * 96.0);
    close(value(&ledger, lcol::SCOPE3_EMBODIED_KG, 0), embodied);
    // CCF reports embodied as kWh added to energy.
    close(
        value(&ledger, lcol::CCF_KWH, 0),
        cpu + memory + embodied / 0.379069,
    );
    assert_eq!(
        value(&ledger, lcol::SCOPE2_MARKET_KG, 0),
        None,
        "AWS has no market factor"
    );
    assert_eq!(text(&ledger, lcol::ESTIMATE_KIND, 0), Some("estimated"));
}

#[test]
fn default_embodied_takes_the_vcpu_share() {
    let ec2 = UsageRow {
        instance_type: Some("m5.xlarge"),
        vcpu_hours: 40.0,
        memory_gb_hours: 160.0,
        usage_amount: 10.0,
        usage_unit: "Hrs",
        cost: 1.92,
        ..row("AmazonEC2", "BoxUsage:m5.xlarge", UsageClass::Compute)
    };
    let set = FactorSet::embedded("default").unwrap();
    let m5 = set.instance("aws", "m5.xlarge").unwrap();
    let platform = m5.embodied_kgco2e.unwrap();
    // SCI: platform × hours / lifespan × (4 / largest vCPUs), hours = 40 vCPU-h / 4 vCPU.
    let expected =
        platform * 10.0 / set.coefficients.server_lifespan_hours * 4.0 / m5.largest_vcpus;
    let ledger = run(Method::Default, &[ec2]);
    close(value(&ledger, lcol::SCOPE3_EMBODIED_KG, 0), expected);
    assert_eq!(value(&ledger, lcol::CCF_KWH, 0), None);
}

#[test]
fn network_has_no_replication_and_excluded_rows_keep_cost() {
    let transfer = UsageRow {
        network_gb: 100.0,
        usage_amount: 100.0,
        usage_unit: "GB",
        cost: 2.0,
        ..row(
            "AWSDataTransfer",
            "USE1-USW2-AWS-Out-Bytes",
            UsageClass::Network,
        )
    };
    let tax = UsageRow {
        charge_type: "Tax",
        exclusion_reason: Some("line item type Tax carries no physical usage"),
        cost: 0.37,
        ..row("AmazonEC2", "", UsageClass::Excluded)
    };
    let ledger = run(Method::Ccf, &[transfer, tax]);
    // 100 GB × 0.001 kWh/GB × PUE 1.135.
    close(value(&ledger, lcol::ENERGY_KWH, 0), 0.1135);
    close(value(&ledger, lcol::REPLICATION_FACTOR, 0), 1.0);
    assert_eq!(text(&ledger, lcol::ESTIMATE_KIND, 1), Some("excluded"));
    assert_eq!(value(&ledger, lcol::ENERGY_KWH, 1), None);
    close(value(&ledger, ucol::COST, 1), 0.37);
}

#[test]
fn unknown_rows_by_ratio_and_unestimable_ones_excluded() {
    let ec2 = UsageRow {
        instance_type: Some("m5.xlarge"),
        vcpu_hours: 40.0,
        memory_gb_hours: 160.0,
        usage_amount: 10.0,
        usage_unit: "Hrs",
        cost: 2.0,
        ..row("AmazonEC2", "BoxUsage:m5.xlarge", UsageClass::Compute)
    };
    let nat = UsageRow {
        usage_amount: 5.0,
        usage_unit: "Hrs",
        cost: 0.5,
        ..row("AmazonVPC", "NatGateway-Hours", UsageClass::Unknown)
    };
    let metrics = UsageRow {
        usage_amount: 3.0,
        usage_unit: "Metrics",
        cost: 0.9,
        ..row(
            "AmazonCloudWatch",
            "CW:MetricMonitorUsage",
            UsageClass::Unknown,
        )
    };
    let ledger = run(Method::Ccf, &[ec2, nat, metrics]);
    assert_eq!(ledger.height(), 3);
    // CCF: the NAT row gets the EC2 row's CCF kWh per dollar (embodied kWh included) × 0.5.
    let known_ccf_kwh = value(&ledger, lcol::CCF_KWH, 0).unwrap();
    let known_energy = value(&ledger, lcol::ENERGY_KWH, 0).unwrap();
    close(value(&ledger, lcol::CCF_KWH, 1), known_ccf_kwh / 2.0 * 0.5);
    close(
        value(&ledger, lcol::ENERGY_KWH, 1),
        known_energy / 2.0 * 0.5,
    );
    assert_eq!(text(&ledger, lcol::ESTIMATE_KIND, 1), Some("ratio"));
    assert_eq!(text(&ledger, ucol::USAGE_CLASS, 1), Some("unknown"));
    // No known row has the unit `Metrics`: CCF gives it nothing, so it is excluded, with why.
    assert_eq!(text(&ledger, lcol::ESTIMATE_KIND, 2), Some("excluded"));
    assert_eq!(text(&ledger, ucol::USAGE_CLASS, 2), Some("excluded"));
    assert!(
        text(&ledger, ucol::EXCLUSION_REASON, 2)
            .unwrap()
            .contains("Metrics")
    );
    // Cost is kept on every row.
    let cost: f64 = ledger
        .column(ucol::COST)
        .unwrap()
        .f64()
        .unwrap()
        .sum()
        .unwrap();
    close(Some(cost), 3.4);
}
