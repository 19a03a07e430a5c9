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
/// 2020-10-01T00:00:00Z in microseconds.
const OCT_2020: i64 = 1_601_510_400_000_000;
/// 2021-10-01T00:00:00Z in microseconds.
const OCT_2021: i64 = 1_633_046_400_000_000;
/// 2023-10-01T00:00:00Z in microseconds.
const OCT_2023: i64 = 1_696_118_400_000_000;

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
    let ccf = run(Method::Ccf, std::slice::from_ref(&s3));
    close(value(&ccf, lcol::ENERGY_KWH, 0), 8.051756594795733e-15);

    // The default method takes the GB-months as GB-months: 2 GB for the 744 h of October
    // = 1.488 TB-h. factors/default: HDD 0.65 Wh/TB-h, AWS PUE 1.14 (the 2025 row, the latest
    // on or before 2026), S3 TimedStorage replication 6:
    // 1.488 × 0.65 = 0.9672 Wh; / 1000 = 0.0009672 kWh; × 1.14 = 0.001102608; × 6
    // = 0.006615648 kWh (not ~1e-15: no 2^40 division).
    let default = run(Method::Default, &[s3]);
    close(value(&default, lcol::ENERGY_KWH, 0), 0.006_615_648);
    close(value(&default, lcol::PUE, 0), 1.14);
    close(value(&default, lcol::REPLICATION_FACTOR, 0), 6.0);
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
    // SCI: platform × instance-hours / lifespan × (instance vCPUs / largest vCPUs).
    // factors/default: m5 platform 1200 kg, largest m5.metal 96 vCPU; lifespan 35040 h.
    // 1200 × 10 h = 12000; / 35040 = 0.342465753…; × 4/96 = 48000 / 3363840
    // = 0.014269406392694063 kg.
    let ledger = run(Method::Default, &[ec2]);
    close(
        value(&ledger, lcol::SCOPE3_EMBODIED_KG, 0),
        0.014_269_406_392_694_063,
    );
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

/// `row` moved to the hour starting at `start_us`.
fn at(start_us: i64, r: UsageRow<'static>) -> UsageRow<'static> {
    UsageRow {
        period_start_us: start_us,
        period_end_us: start_us + 3_600_000_000,
        ..r
    }
}

/// A GCP row in `region`, October 2026.
fn gcp_row(
    service: &'static str,
    usage_type: &'static str,
    class: UsageClass,
    region: &'static str,
) -> UsageRow<'static> {
    UsageRow {
        provider: "gcp",
        billing_account: "0000AA-BBBBBB-CCCCCC",
        usage_account: "my-project",
        region: Some(region),
        ..row(service, usage_type, class)
    }
}

/// `n` instance-hours of an AWS EC2 instance type (no memory GB-hours: embodied only matters).
fn ec2_hours(
    usage_type: &'static str,
    instance: &'static str,
    vcpu_hours: f64,
    n: f64,
) -> UsageRow<'static> {
    UsageRow {
        instance_type: Some(instance),
        vcpu_hours,
        usage_amount: n,
        usage_unit: "Hrs",
        cost: 1.0,
        ..row("AmazonEC2", usage_type, UsageClass::Compute)
    }
}

#[test]
fn burstable_embodied_uses_instance_hours_not_the_baseline() {
    // 10 instance-hours of t3.nano (2 vCPU, baseline 5 %): the AWS connector bills
    // 2 × 5/50 × 10 = 2 vCPU-hours, a tenth of the 20 the instance holds.
    let nano = ec2_hours("BoxUsage:t3.nano", "t3.nano", 2.0, 10.0);
    // Default (factors/default): t3 platform 1200 kg, largest t3.2xlarge 8 vCPU, 35040 h:
    // 1200 × 10 / 35040 = 0.342465753… kg; × 2/8 = 3000 / 35040 = 0.08561643835616438 kg
    // (per vCPU-hour it would have been 1200 / (35040 × 8) × 2 = 0.008561643835616438).
    let ledger = run(Method::Default, std::slice::from_ref(&nano));
    close(
        value(&ledger, lcol::SCOPE3_EMBODIED_KG, 0),
        0.085_616_438_356_164_38,
    );
    // CCF (factors/ccf): t3 platform 1610.3792 kg, largest (last entry) t3.2xlarge 8 vCPU;
    // the share cancels: 1610.3792 × 10 / (35040 × 8) = 16103.792 / 280320
    // = 0.05744788812785388 kg, whatever the baseline.
    let ledger = run(Method::Ccf, &[nano]);
    close(
        value(&ledger, lcol::SCOPE3_EMBODIED_KG, 0),
        0.057_447_888_127_853_88,
    );
    // The CPU energy does use the scaled vCPU-hours: Cascade Lake 0.64 / 3.97 W at 50 %
    // = 2.305 W × 2 vCPU-h = 4.61 Wh = 0.00461 kWh × PUE 1.135 = 0.00523235 kWh.
    close(value(&ledger, lcol::CPU_KWH, 0), 0.005_232_35);
}

#[test]
fn redshift_node_seconds_count_as_hours_for_embodied() {
    // 36000 s = 10 node-hours of ra3.4xlarge. CCF turns the seconds into hours before its
    // embodied step: ra3 platform 2110.3792 kg, largest ra3.16xlarge 48 vCPU:
    // 2110.3792 × 10 / (35040 × 48) = 21103.792 / 1681920 = 0.01254744101978691 kg.
    let node = UsageRow {
        instance_type: Some("ra3.4xlarge"),
        vcpu_hours: 120.0,
        usage_amount: 36_000.0,
        usage_unit: "seconds",
        cost: 32.6,
        ..row(
            "AmazonRedshift",
            "USE1-Node:ra3.4xlarge",
            UsageClass::Compute,
        )
    };
    let ledger = run(Method::Ccf, &[node]);
    close(
        value(&ledger, lcol::SCOPE3_EMBODIED_KG, 0),
        0.012_547_441_019_786_91,
    );
}

#[test]
fn ccf_u_tb1_reads_memory_as_tonnes_of_embodied() {
    // 10 instance-hours of u-6tb1.56xlarge (224 vCPU, 6144 GB). CCF takes the memory figure
    // 6144 as tonnes: 6 144 000 kg × 10 / (35040 × 448 largest vCPU, u-6tb1.metal)
    // = 61 440 000 / 15 697 920 = 3.9138943248532287 kg (the true 1100 kg would give
    // 0.0007007…).
    let u6 = ec2_hours("BoxUsage:u-6tb1.56xlarge", "u-6tb1.56xlarge", 2240.0, 10.0);
    let ledger = run(Method::Ccf, std::slice::from_ref(&u6));
    close(
        value(&ledger, lcol::SCOPE3_EMBODIED_KG, 0),
        3.913_894_324_853_228_7,
    );
    assert!(text(&ledger, lcol::NOTES, 0).unwrap().contains("u-*tb1"));
    // The default method keeps the true figure: factors/default u-6tb1 platform 45000 kg,
    // largest 448 vCPU: 45000 × 10 / 35040 × 224/448 = 225000 / 35040 = 6.421232876712328 kg.
    let ledger = run(Method::Default, &[u6]);
    close(
        value(&ledger, lcol::SCOPE3_EMBODIED_KG, 0),
        6.421_232_876_712_328,
    );
    assert!(
        !text(&ledger, lcol::NOTES, 0)
            .unwrap_or("")
            .contains("u-*tb1")
    );
}

#[test]
fn ccf_compute_line_without_vcpus_is_zero_and_left_out_of_ratios() {
    // With the CCF quirks the connector passes a line CCF finds no vCPUs for as compute with
    // 0 vCPU-hours: CCF reports 0 kWh (no embodied) and does not accumulate its cost.
    let lost = UsageRow {
        cost: 5.0,
        ..ec2_hours("BoxUsage:m5.12xl", "m5.12xlarge", 0.0, 10.0)
    };
    let known = UsageRow {
        cost: 2.0,
        ..ec2_hours("BoxUsage:m5.xlarge", "m5.xlarge", 40.0, 10.0)
    };
    let nat = UsageRow {
        usage_amount: 5.0,
        usage_unit: "Hrs",
        cost: 0.5,
        ..row("AmazonVPC", "NatGateway-Hours", UsageClass::Unknown)
    };
    let ledger = run(Method::Ccf, &[lost, known, nat]);
    close(value(&ledger, lcol::SCOPE3_EMBODIED_KG, 0), 0.0);
    close(value(&ledger, lcol::CCF_KWH, 0), 0.0);
    // The NAT row's ratio is the m5.xlarge row's CCF kWh per dollar only (cost 2, not 7).
    let per_dollar = value(&ledger, lcol::CCF_KWH, 1).unwrap() / 2.0;
    close(value(&ledger, lcol::CCF_KWH, 2), per_dollar * 0.5);
}

#[test]
fn ccf_ignores_regions_the_bill_does_not_state() {
    // 100 GB between regions: 100 × 0.001 kWh/GB × PUE 1.135 = 0.1135 kWh.
    let transfer = |note: Option<&'static str>| UsageRow {
        network_gb: 100.0,
        usage_amount: 100.0,
        usage_unit: "GB",
        cost: 2.0,
        region_note: note,
        ..row(
            "AWSDataTransfer",
            "USE1-USW2-AWS-Out-Bytes",
            UsageClass::Network,
        )
    };
    let rows = [
        transfer(None),
        transfer(Some("from usage-type prefix USE1")),
        transfer(Some(
            "no region prefix: AWS bills us-east-1 usage without one",
        )),
    ];
    let ledger = run(Method::Ccf, &rows);
    // Stated by the bill: us-east-1, 0.379069 kg/kWh → 0.1135 × 0.379069 = 0.0430243315 kg.
    close(value(&ledger, lcol::GRID_KG_PER_KWH, 0), 0.379_069);
    close(value(&ledger, lcol::SCOPE2_LOCATION_KG, 0), 0.043_024_331_5);
    // Derived by the connector: CCF's AWS Unknown, 0.39278188 kg/kWh (year 2022)
    // → 0.1135 × 0.39278188 = 0.04458074338 kg.
    for i in [1, 2] {
        close(value(&ledger, lcol::GRID_KG_PER_KWH, i), 0.392_781_88);
        close(
            value(&ledger, lcol::SCOPE2_LOCATION_KG, i),
            0.044_580_743_38,
        );
        close(value(&ledger, lcol::ENERGY_KWH, i), 0.1135);
        assert!(
            text(&ledger, lcol::NOTES, i)
                .unwrap()
                .contains("not stated by the bill")
        );
    }
    assert_eq!(
        text(&ledger, ucol::REGION, 1),
        Some("us-east-1"),
        "the row keeps its region"
    );
    // The default method keeps the derived region: factors/default us-east-1 for 2026 is the
    // 2024 row, 0.32305 kg/kWh, for every row.
    let ledger = run(Method::Default, &rows);
    for i in 0..3 {
        close(value(&ledger, lcol::GRID_KG_PER_KWH, i), 0.323_05);
    }
}

#[test]
fn gpu_energy_from_gpu_hours() {
    // 10 h of p3.2xlarge: 1 Nvidia Tesla V100 (35 W idle, 306 W full) → 10 GPU-hours at 50 %:
    // 35 + 0.5 × 271 = 170.5 W; × 10 h = 1.705 kWh.
    let p3 = UsageRow {
        instance_type: Some("p3.2xlarge"),
        gpu_model: Some("Nvidia Tesla V100"),
        vcpu_hours: 80.0,
        gpu_hours: 10.0,
        usage_amount: 10.0,
        usage_unit: "Hrs",
        cost: 30.6,
        ..row("AmazonEC2", "BoxUsage:p3.2xlarge", UsageClass::Compute)
    };
    // CCF: × PUE 1.135 = 1.935175 kWh. CPU: Broadwell 0.71 / 3.69 W → 2.2 W × 80 vCPU-h
    // = 0.176 kWh × 1.135 = 0.19976 kWh.
    let ledger = run(Method::Ccf, std::slice::from_ref(&p3));
    close(value(&ledger, lcol::GPU_KWH, 0), 1.935_175);
    close(value(&ledger, lcol::CPU_KWH, 0), 0.199_76);
    // Default: same GPU watts, PUE 1.14 (2026 → the 2025 row): 1.705 × 1.14 = 1.9437 kWh.
    let ledger = run(Method::Default, &[p3]);
    close(value(&ledger, lcol::GPU_KWH, 0), 1.9437);

    // GCP GPU SKUs carry their GPU-hours; PUE us-central1 1.11 (both sets).
    let t4 = UsageRow {
        gpu_model: Some("Nvidia T4"),
        gpu_hours: 10.0,
        usage_amount: 36_000.0,
        usage_unit: "seconds",
        ..gcp_row(
            "Compute Engine",
            "Nvidia Tesla T4 GPU running in Americas",
            UsageClass::Gpu,
            "us-central1",
        )
    };
    // T4 8 / 71 W → 8 + 31.5 = 39.5 W × 10 h = 0.395 kWh × 1.11 = 0.43845 kWh.
    let unnamed = UsageRow {
        gpu_model: None,
        usage_type: "GPU running in Americas",
        ..t4.clone()
    };
    let ledger = run(Method::Ccf, &[t4, unnamed]);
    close(value(&ledger, lcol::GPU_KWH, 0), 0.438_45);
    // A SKU CCF cannot name gets the mean of its six GCP models (T4 8/71, K80 35/306,
    // V100 35/306, A100 46/407, P4 9/76.5, P100 36/306): idle 169/6, full 1472.5/6 W;
    // at 50 %: (169 + 0.5 × 1303.5) / 6 = 820.75 / 6 = 136.791666… W × 10 h
    // = 1.36791666… kWh × 1.11 = 1.5183875 kWh.
    close(value(&ledger, lcol::GPU_KWH, 1), 1.518_387_5);
}

#[test]
fn replication_of_ebs_snapshots_and_rds_storage() {
    // 100 TB-hours each; CCF's SSD 1.2 / HDD 0.65 Wh per TB-hour, PUE 1.135:
    // SSD 100 × 1.2 / 1000 × 1.135 = 0.1362 kWh; HDD 100 × 0.65 / 1000 × 1.135 = 0.073775 kWh.
    let storage = |service, usage_type, class| UsageRow {
        storage_tb_hours: 100.0,
        usage_amount: 134.4,
        usage_unit: "GB-Mo",
        cost: 1.0,
        ..row(service, usage_type, class)
    };
    let rows = [
        // EC2 VolumeUsage → 2: 0.1362 × 2 = 0.2724.
        storage(
            "AmazonEC2",
            "USE1-EBS:VolumeUsage.gp2",
            UsageClass::StorageSsd,
        ),
        // EC2 SnapshotUsage → 3: 0.073775 × 3 = 0.221325.
        storage(
            "AmazonEC2",
            "USE1-EBS:SnapshotUsage",
            UsageClass::StorageHdd,
        ),
        // RDS BackupUsage → 3: 0.221325.
        storage(
            "AmazonRDS",
            "USE1-RDS:ChargedBackupUsage",
            UsageClass::StorageHdd,
        ),
        // RDS Aurora → 6: 0.1362 × 6 = 0.8172.
        storage(
            "AmazonRDS",
            "USE1-Aurora:StorageUsage",
            UsageClass::StorageSsd,
        ),
        // RDS BackupUsage is tested before Aurora → 3: 0.221325.
        storage(
            "AmazonRDS",
            "USE1-Aurora:BackupUsage",
            UsageClass::StorageHdd,
        ),
        // RDS Multi-AZ → 2: 0.2724.
        storage(
            "AmazonRDS",
            "USE1-RDS:Multi-AZ-StorageUsage",
            UsageClass::StorageSsd,
        ),
        // Any other RDS storage → 1: 0.1362.
        storage("AmazonRDS", "USE1-RDS:GP2-Storage", UsageClass::StorageSsd),
    ];
    let ledger = run(Method::Ccf, &rows);
    let expected = [
        (2.0, 0.2724),
        (3.0, 0.221_325),
        (3.0, 0.221_325),
        (6.0, 0.8172),
        (3.0, 0.221_325),
        (2.0, 0.2724),
        (1.0, 0.1362),
    ];
    for (i, (rf, kwh)) in expected.into_iter().enumerate() {
        close(value(&ledger, lcol::REPLICATION_FACTOR, i), rf);
        close(value(&ledger, lcol::STORAGE_KWH, i), kwh);
        close(value(&ledger, lcol::ENERGY_KWH, i), kwh);
    }
}

#[test]
fn default_picks_factors_by_the_usage_year() {
    // 100 TB-hours of EBS gp2: 100 × 1.2 / 1000 = 0.12 kWh × replication 2 = 0.24 kWh
    // before PUE. factors/default AWS PUE: 1.15 (2023), 1.15 (2024), 1.14 (2025);
    // us-east-1 grid: 0.379069 (2020, eGRID), 0.309 (2021), 0.354 (2022), 0.322 (2023),
    // 0.32305 (2024).
    let ebs = UsageRow {
        storage_tb_hours: 100.0,
        usage_amount: 134.4,
        usage_unit: "GB-Mo",
        cost: 1.0,
        ..row(
            "AmazonEC2",
            "USE1-EBS:VolumeUsage.gp2",
            UsageClass::StorageSsd,
        )
    };
    let rows = [
        at(OCT_2020, ebs.clone()),
        at(OCT_2023, ebs.clone()),
        at(OCT_2026, ebs),
    ];
    let ledger = run(Method::Default, &rows);
    // 2020: no PUE row on or before 2020 → the earliest later one, 1.15: 0.276 kWh;
    // grid 2020: 0.276 × 0.379069 = 0.104623044 kg.
    close(value(&ledger, lcol::PUE, 0), 1.15);
    close(value(&ledger, lcol::ENERGY_KWH, 0), 0.276);
    close(value(&ledger, lcol::SCOPE2_LOCATION_KG, 0), 0.104_623_044);
    // 2023: its own rows: PUE 1.15 → 0.276 kWh; 0.276 × 0.322 = 0.088872 kg.
    close(value(&ledger, lcol::PUE, 1), 1.15);
    close(value(&ledger, lcol::SCOPE2_LOCATION_KG, 1), 0.088_872);
    // 2026: no rows for 2026 → the latest earlier: PUE 1.14 (2025) → 0.2736 kWh;
    // grid 2024: 0.2736 × 0.32305 = 0.08838648 kg.
    close(value(&ledger, lcol::PUE, 2), 1.14);
    close(value(&ledger, lcol::ENERGY_KWH, 2), 0.2736);
    close(value(&ledger, lcol::SCOPE2_LOCATION_KG, 2), 0.088_386_48);
    let years: Vec<Option<i32>> = ledger
        .column(lcol::GRID_YEAR)
        .unwrap()
        .i32()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(years, [Some(2020), Some(2023), Some(2024)]);
    // AWS has no market-based factor.
    assert_eq!(value(&ledger, lcol::SCOPE2_MARKET_KG, 0), None);
}

#[test]
fn gcp_market_based_factor_by_year() {
    // 100 GB of GCP egress between regions from europe-west1: 100 × 0.001 = 0.1 kWh before
    // PUE. factors/default europe-west1: PUE 1.08 (2020), 1.09 (2023); location grid 0.11
    // (2021), 0.122 (2023), 0.10337 (2024); market 0.0198 (2021), 0.02196 (2023),
    // 0.0165392 (2024).
    let egress = UsageRow {
        network_gb: 100.0,
        usage_amount: 107_374_182_400.0,
        usage_unit: "bytes",
        cost: 1.2,
        ..gcp_row(
            "Compute Engine",
            "Network Inter Region Data Transfer Out from EMEA to Americas",
            UsageClass::Network,
            "europe-west1",
        )
    };
    let rows = [
        at(OCT_2021, egress.clone()),
        at(OCT_2023, egress.clone()),
        egress.clone(),
    ];
    let ledger = run(Method::Default, &rows);
    // 2021: PUE 1.08 (2020 row) → 0.108 kWh; location 0.108 × 0.11 = 0.01188 kg;
    // market 0.108 × 0.0198 = 0.0021384 kg.
    close(value(&ledger, lcol::ENERGY_KWH, 0), 0.108);
    close(value(&ledger, lcol::SCOPE2_LOCATION_KG, 0), 0.011_88);
    close(value(&ledger, lcol::MARKET_KG_PER_KWH, 0), 0.0198);
    close(value(&ledger, lcol::SCOPE2_MARKET_KG, 0), 0.002_138_4);
    // 2023: PUE 1.09 → 0.109 kWh; 0.109 × 0.122 = 0.013298 kg; 0.109 × 0.02196
    // = 0.00239364 kg.
    close(value(&ledger, lcol::ENERGY_KWH, 1), 0.109);
    close(value(&ledger, lcol::SCOPE2_LOCATION_KG, 1), 0.013_298);
    close(value(&ledger, lcol::SCOPE2_MARKET_KG, 1), 0.002_393_64);
    // 2026: PUE 1.09 (2023 row), 2024 grid rows: 0.109 × 0.10337 = 0.01126733 kg;
    // 0.109 × 0.0165392 = 0.0018027728 kg.
    close(value(&ledger, lcol::SCOPE2_LOCATION_KG, 2), 0.011_267_33);
    close(value(&ledger, lcol::SCOPE2_MARKET_KG, 2), 0.001_802_772_8);

    // CCF's opt-in CFE set (factors/ccf, 2021 only): europe-west1 PUE 1.09, grid 0.11,
    // market 0.0198: 0.109 kWh; 0.109 × 0.11 = 0.01199 kg; 0.109 × 0.0198 = 0.0021582 kg.
    let ledger = run(Method::Ccf, &[egress]);
    close(value(&ledger, lcol::ENERGY_KWH, 0), 0.109);
    close(value(&ledger, lcol::SCOPE2_LOCATION_KG, 0), 0.011_99);
    close(value(&ledger, lcol::SCOPE2_MARKET_KG, 0), 0.002_158_2);
}
