//! Classification of the hand-made legacy CUR, each case worked out by hand from the CCF
//! method (ccf-methodology §1.1–§1.4, §4.1). Instance facts come from CCF's tables
//! (m5.xlarge 4 vCPU / 16 GB, t3.micro 2 vCPU / 1 GB with a 10 % baseline, p3.2xlarge 8 vCPU /
//! 61 GB / 1 V100, r5.large 2 vCPU / 16 GB, r5.12xlarge 48 vCPU / 384 GB, dc2.large 2 vCPU /
//! 15 GB, MSK m5.large 2 vCPU / 8 GB); the first test checks the factor set agrees.

use carbonledger_aws::{CostMeasure, is_byte_hours_usage_type};

use crate::common::*;

const EXCLUDED: &str = "excluded";

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn factor_tables_hold_the_instance_facts_the_cases_use() {
    let factors = factors();
    for (instance, vcpus, memory_gb, gpus) in [
        ("m5.xlarge", 4.0, 16.0, 0.0),
        ("t3.micro", 2.0, 1.0, 0.0),
        ("p3.2xlarge", 8.0, 61.0, 1.0),
        ("r5.large", 2.0, 16.0, 0.0),
        ("r5.12xlarge", 48.0, 384.0, 0.0),
        ("dc2.large", 2.0, 15.0, 0.0),
        ("Kafka.m5.large", 2.0, 8.0, 0.0),
        ("m5.large", 2.0, 8.0, 0.0),
        ("c5.large", 2.0, 4.0, 0.0),
    ] {
        let i = factors
            .instance("aws", instance)
            .unwrap_or_else(|| panic!("{instance}"));
        assert_eq!(
            (i.vcpus, i.memory_gb, i.gpu_count),
            (vcpus, memory_gb, gpus),
            "{instance}"
        );
    }
    assert_eq!(factors.burstable_baseline("aws", "t3.micro"), Some(10.0));
    assert_eq!(factors.coefficients.cpu_utilization_percent, 50.0);
    assert_eq!(factors.coefficients.aws_glue_vcpus_per_dpu, 4.0);
}

#[test]
fn compute_lines_get_vcpu_gpu_and_memory_hours() {
    let rows = read_ok(&fixture("legacy_mixed.csv")).rows;

    // m5.xlarge, 10 instance-hours: 4 vCPU × 10 h; memory 16 GB × 10 h.
    let r = row(&rows, "USE1-BoxUsage:m5.xlarge", "Usage");
    assert_eq!(r.class, "compute");
    assert_eq!(
        (r.vcpu_hours, r.memory_gb_hours, r.gpu_hours),
        (40.0, 160.0, 0.0)
    );
    assert_eq!(r.instance_type.as_deref(), Some("m5.xlarge"));
    assert_eq!(r.reason, None);

    // t3.micro burstable: 2 vCPU × (10 % baseline / 50 %) × 24 h = 9.6 vCPU-h.
    let r = row(&rows, "USW2-BoxUsage:t3.micro", "Usage");
    assert_eq!(r.class, "compute");
    assert!(
        close(r.vcpu_hours, 2.0 * 10.0 / 50.0 * 24.0),
        "{}",
        r.vcpu_hours
    );
    assert_eq!(r.memory_gb_hours, 24.0);

    // p3.2xlarge, 5 h: 8 × 5 vCPU-h, 1 GPU × 5 h of a Tesla V100, 61 GB × 5 h.
    let r = row(&rows, "USE1-BoxUsage:p3.2xlarge", "Usage");
    assert_eq!(
        (r.vcpu_hours, r.gpu_hours, r.memory_gb_hours),
        (40.0, 5.0, 305.0)
    );
    assert_eq!(r.gpu_model.as_deref(), Some("Nvidia Tesla V100"));

    // RI-covered m5.large (DiscountedUsage counts as usage): 2 vCPU × 24 h.
    let r = row(&rows, "USE1-BoxUsage:m5.large", "DiscountedUsage");
    assert_eq!((r.class.as_str(), r.vcpu_hours), ("compute", 48.0));

    // Savings Plan covered c5.large: 2 vCPU × 10 h; its negation line is not usage.
    let r = row(&rows, "USE1-BoxUsage:c5.large", "SavingsPlanCoveredUsage");
    assert_eq!(
        (r.class.as_str(), r.vcpu_hours, r.memory_gb_hours),
        ("compute", 20.0, 40.0)
    );
    let r = row(&rows, "USE1-BoxUsage:c5.large", "SavingsPlanNegation");
    assert_eq!(r.class, EXCLUDED);
    assert_eq!(r.vcpu_hours, 0.0);

    // RDS db.r5.large: the `db.` prefix is stripped; 2 vCPU × 10 h, 16 GB × 10 h.
    let r = row(&rows, "USE1-InstanceUsage:db.r5.large", "Usage");
    assert_eq!(r.instance_type.as_deref(), Some("r5.large"));
    assert_eq!((r.vcpu_hours, r.memory_gb_hours), (20.0, 160.0));

    // `…12xl` reads as r5.12xlarge (CCF appends `arge`): 48 vCPU × 1 h, no product vCPU.
    let r = row(&rows, "USE1-InstanceUsage:db.r5.12xl", "Usage");
    assert_eq!(r.instance_type.as_deref(), Some("r5.12xlarge"));
    assert_eq!((r.vcpu_hours, r.memory_gb_hours), (48.0, 384.0));

    // Lambda: seconds / 3600 vCPU-hours (1 vCPU assumed); `-ARM` runs on Graviton2.
    let r = row(&rows, "USE1-Lambda-GB-Second", "Usage");
    assert_eq!(
        (
            r.class.as_str(),
            r.vcpu_hours,
            r.cpu_architecture.as_deref()
        ),
        ("compute", 2.0, None)
    );
    let r = row(&rows, "USE1-Lambda-GB-Second-ARM", "Usage");
    assert_eq!(
        (r.vcpu_hours, r.cpu_architecture.as_deref()),
        (1.0, Some("AWS Graviton2"))
    );

    // Glue: 4 vCPU per DPU-hour × 2; Fargate vCPU-hours are vCPU-hours.
    assert_eq!(row(&rows, "USE1-ETL-DPU-Hour", "Usage").vcpu_hours, 8.0);
    assert_eq!(
        row(&rows, "USE1-Fargate-vCPU-Hours:perCPU", "Usage").vcpu_hours,
        10.0
    );

    // Unknown instance type: product/vcpu 4 × 3 h; without it no vCPU count → unknown.
    let r = row(&rows, "USE1-BoxUsage:zz9.large", "Usage");
    assert_eq!(
        (r.class.as_str(), r.vcpu_hours, r.memory_gb_hours),
        ("compute", 12.0, 0.0)
    );
    let r = row(&rows, "USE1-BoxUsage:zz9.xlarge", "Usage");
    assert_eq!(
        (r.class.as_str(), r.vcpu_hours, r.reason.as_deref()),
        ("unknown", 0.0, None)
    );

    // Redshift dc2.large node-hours: 2 vCPU × 10 h (no division by 3600 for hour billing).
    let r = row(&rows, "USE1-Node:dc2.large", "Usage");
    assert_eq!((r.vcpu_hours, r.memory_gb_hours), (20.0, 150.0));

    // MSK broker m5.large: CCF's MSK table, 2 vCPU × 10 h.
    let r = row(&rows, "USE1-Kafka.m5.large", "Usage");
    assert_eq!(
        (r.instance_type.as_deref(), r.vcpu_hours),
        (Some("m5.large"), 20.0)
    );
}

#[test]
fn storage_lines_get_terabyte_hours_by_media() {
    let rows = read_ok(&fixture("legacy_mixed.csv")).rows;
    // GB-months × 24 h × days in the month (UTC) / 1000. November has 30 days.
    let tb_hours = |gb_months: f64, days: f64| gb_months * 24.0 * days / 1000.0;

    let r = row(&rows, "USE1-EBS:VolumeUsage.gp3", "Usage");
    assert_eq!(r.class, "storage_ssd");
    assert!(close(r.storage_tb_hours, tb_hours(100.0, 30.0)));
    let r = row(&rows, "USE1-EBS:SnapshotUsage", "Usage");
    assert_eq!(r.class, "storage_hdd");
    assert!(close(r.storage_tb_hours, tb_hours(50.0, 30.0)));
    let r = row(&rows, "USE1-RDS:GP2-Storage", "Usage");
    assert_eq!(r.class, "storage_ssd");
    assert!(close(r.storage_tb_hours, tb_hours(20.0, 30.0)));

    // S3 standard storage, 2 GB-months: a 30-day and a 29-day (February 2024) month.
    let r = row(&rows, "USW2-TimedStorage-ByteHrs", "Usage");
    assert_eq!(r.class, "storage_hdd");
    assert!(
        close(r.storage_tb_hours, tb_hours(2.0, 30.0)),
        "{}",
        r.storage_tb_hours
    );
    assert!(is_byte_hours_usage_type(&r.usage_type));
    let r = row(&rows, "TimedStorage-ByteHrs", "Usage");
    assert!(
        close(r.storage_tb_hours, tb_hours(2.0, 29.0)),
        "{}",
        r.storage_tb_hours
    );

    // Storage whose media CCF does not know is dropped, with the reason.
    let r = row(&rows, "USE1-WarmStorage-ByteHrs-EBS", "Usage");
    assert_eq!(r.class, EXCLUDED);
    assert_eq!(
        r.reason.as_deref(),
        Some("storage usage type with unknown media (CCF skips it)")
    );
    assert_eq!(r.storage_tb_hours, 0.0);
}

#[test]
fn transfer_unknown_and_excluded_lines_follow_ccf() {
    let rows = read_ok(&fixture("legacy_mixed.csv")).rows;

    // Inter-region bytes are networking, in GB as billed.
    let r = row(&rows, "USE1-USW2-AWS-Out-Bytes", "Usage");
    assert_eq!((r.class.as_str(), r.network_gb), ("network", 5.0));
    let r = row(&rows, "USE1-DataTransfer-In-Bytes", "Usage");
    assert_eq!(r.class, EXCLUDED);
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|t| t.contains("not between data centres"))
    );
    let r = row(&rows, "US-DataTransfer-Out-Bytes", "Usage");
    assert_eq!((r.class.as_str(), r.network_gb), (EXCLUDED, 0.0));
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|t| t.contains("CloudFront"))
    );

    // CCF's UNKNOWN list and unknown units: estimated by ratio, no reason.
    for usage_type in [
        "USE1-NatGateway-Hours",
        "USE1-Requests-Tier1",
        "ca-central-1-KMS-Requests",
    ] {
        let r = row(&rows, usage_type, "Usage");
        assert_eq!(
            (r.class.as_str(), r.reason.as_deref()),
            ("unknown", None),
            "{usage_type}"
        );
    }

    let r = row(&rows, "", "Tax");
    assert_eq!(r.class, EXCLUDED);
    assert_eq!(
        r.reason.as_deref(),
        Some("line item type Tax carries no physical usage")
    );
    let r = row(&rows, "USE1-ECS-EC2-vCPU-Hours", "Usage");
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|t| t.contains("ECSTask-EC2") && t.contains("double"))
    );
    let r = row(&rows, "USE1-ECS-EC2-GB-Hours", "Usage");
    assert!(
        r.reason
            .as_deref()
            .is_some_and(|t| t.contains("unsupported"))
    );

    // Every excluded row has a reason and no other row has one.
    for r in &rows {
        assert_eq!(r.class == EXCLUDED, r.reason.is_some(), "{}", r.usage_type);
    }
}

#[test]
fn every_line_comes_out_once_with_its_class() {
    let read = read_ok(&fixture("legacy_mixed.csv"));
    let (_, records) = csv_records(&fixture("legacy_mixed.csv"));
    assert_eq!(read.rows.len(), records.len());
    assert_eq!(read.totals.rows, records.len() as u64);
    let lines: Vec<u64> = read.rows.iter().filter_map(|r| r.source_line).collect();
    let expected: Vec<u64> = (2..records.len() as u64 + 2).collect();
    assert_eq!(lines, expected);
    let count = |class: &str| read.rows.iter().filter(|r| r.class == class).count();
    // Tallied from the cases above: 14 compute, 2 SSD, 3 HDD, 1 network, 4 unknown, 7 excluded.
    let counts = [
        "compute",
        "storage_ssd",
        "storage_hdd",
        "network",
        "unknown",
        EXCLUDED,
    ]
    .map(count);
    assert_eq!(counts, [14, 2, 3, 1, 4, 7]);
}

#[test]
fn regions_tags_and_accounts_are_carried() {
    let rows = read_ok(&fixture("legacy_mixed.csv")).rows;
    let r = row(&rows, "USE1-BoxUsage:m5.xlarge", "Usage");
    assert_eq!(
        (r.region.as_deref(), r.region_note.as_deref()),
        (Some("us-east-1"), None)
    );
    assert_eq!(r.tags, r#"{"team":"web"}"#);
    assert_eq!(
        (r.billing_account.as_str(), r.usage_account.as_str()),
        ("000111222333", "000444555666")
    );
    assert_eq!(
        (r.provider.as_str(), r.service.as_str()),
        ("aws", "AmazonEC2")
    );
    assert_eq!((r.usage_unit.as_str(), r.currency.as_str()), ("Hrs", "USD"));

    let r = row(&rows, "TimedStorage-ByteHrs", "Usage");
    assert_eq!(r.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        r.region_note.as_deref(),
        Some("no region prefix: AWS bills us-east-1 usage without one")
    );
    assert_eq!(r.tags, "{}");
    let r = row(&rows, "ca-central-1-KMS-Requests", "Usage");
    assert_eq!(r.region.as_deref(), Some("ca-central-1"));
    assert_eq!(
        r.region_note.as_deref(),
        Some("from usage-type prefix ca-central-1")
    );
    let r = row(&rows, "US-DataTransfer-Out-Bytes", "Usage");
    assert_eq!(
        (r.region.as_deref(), r.region_note.as_deref()),
        (None, Some("global service"))
    );
    let r = row(&rows, "", "Tax");
    assert_eq!(r.usage_unit, "");
    assert_eq!(r.region, None);
}

#[test]
fn cost_measures_pick_their_column() {
    let path = fixture("legacy_mixed.csv");
    let (header, records) = csv_records(&path);
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let sum = |name: &str| -> f64 {
        records
            .iter()
            .map(|r| r[column(name)].parse::<f64>().unwrap_or(0.0))
            .sum()
    };

    let unblended = read(&path, CostMeasure::Unblended).expect("reads");
    let total = unblended.totals.cost["USD"];
    assert!(close(total, sum("lineItem/UnblendedCost")), "{total}");
    let net = read(&path, CostMeasure::NetUnblended).expect("reads");
    assert!(close(
        net.totals.cost["USD"],
        sum("lineItem/NetUnblendedCost")
    ));
    assert_eq!(
        row(&net.rows, "USE1-BoxUsage:m5.xlarge", "Usage").cost,
        1.80
    );

    // Amortized (CUDOS): RI usage at reservation/EffectiveCost, SP usage at its effective
    // cost, the negation at 0, everything else unblended.
    let amortized = read(&path, CostMeasure::Amortized).expect("reads");
    let rows = &amortized.rows;
    assert_eq!(
        row(rows, "USE1-BoxUsage:m5.large", "DiscountedUsage").cost,
        1.5
    );
    assert_eq!(
        row(rows, "USE1-BoxUsage:c5.large", "SavingsPlanCoveredUsage").cost,
        0.55
    );
    assert_eq!(
        row(rows, "USE1-BoxUsage:c5.large", "SavingsPlanNegation").cost,
        0.0
    );
    assert_eq!(row(rows, "USE1-BoxUsage:m5.xlarge", "Usage").cost, 1.92);
    let row_sum: f64 = rows.iter().map(|r| r.cost).sum();
    assert!(close(amortized.totals.cost["USD"], row_sum));
}
