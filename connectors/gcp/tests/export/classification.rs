//! Each classification rule of ccf-methodology §4.2 and each unit conversion, on hand-built
//! export lines, in both methods. Expected values are worked out by hand from the methodology
//! and the factor CSVs (the arithmetic is in the comments).

use carbonledger_gcp::{GcpCost, GcpCredit, GcpLine, SystemLabels};

use crate::common::{CCF, DEFAULT, Row, close, convert};

/// 2024-01-15 10:00:00 UTC and an hour later, µs (19737 days × 86400 s + 36000 s).
const START_US: i64 = 1_705_312_800_000_000;
const END_US: i64 = START_US + 3_600_000_000;

fn line<'a>(service: &'a str, sku: &'a str, amount: f64, unit: &'a str) -> GcpLine<'a> {
    GcpLine {
        billing_account_id: "01A2B3-C4D5E6-F7A8B9",
        service_description: service,
        sku_description: sku,
        usage_start_us: START_US,
        usage_end_us: END_US,
        project_id: "carbon-prod",
        location_location: "us-central1",
        location_region: "us-central1",
        usage_amount: amount,
        usage_unit: unit,
        cost: 1.0,
        currency: "USD",
        cost_type: "regular",
        source: "hand-built",
        source_line: Some(2),
        ..GcpLine::default()
    }
}

fn on<'a>(machine_spec: &'a str, line: GcpLine<'a>) -> GcpLine<'a> {
    GcpLine {
        system_labels: SystemLabels {
            machine_spec,
            ..SystemLabels::default()
        },
        ..line
    }
}

fn both(line: &GcpLine<'_>) -> (Row, Row) {
    (
        convert(CCF, GcpCost::Gross, line),
        convert(DEFAULT, GcpCost::Net, line),
    )
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(close(actual, expected), "{what}: {actual} != {expected}");
}

#[test]
fn core_seconds_are_vcpu_hours_on_the_machine_type() {
    let l = on(
        "n1-standard-4",
        line(
            "Compute Engine",
            "N1 Predefined Instance Core running in Americas",
            14400.0,
            "seconds",
        ),
    );
    for r in [both(&l).0, both(&l).1] {
        assert_eq!(r.class, "compute");
        // 14400 vCPU-seconds / 3600 = 4 vCPU-hours; RAM is billed on its own SKU: 0 GB-hours.
        assert_eq!(r.vcpu_hours, 4.0);
        assert_eq!(r.memory_gb_hours, 0.0);
        assert_eq!(r.instance_type.as_deref(), Some("n1-standard-4"));
        // Listed in both factor sets: the estimator takes the table's processors.
        assert_eq!(r.cpu_architecture, None);
        assert_eq!(r.provider, "gcp");
        assert_eq!(r.usage_account, "carbon-prod");
        assert_eq!(r.billing_account, "01A2B3-C4D5E6-F7A8B9");
        assert_eq!(r.charge_type, "regular");
        assert_eq!(r.usage_unit, "seconds");
        assert_eq!(r.usage_amount, 14400.0);
        assert_eq!((r.period_start_us, r.period_end_us), (START_US, END_US));
    }
}

#[test]
fn ram_byte_seconds_are_gib_hours() {
    // 15 GiB held for 3600 s = 15 × 2^30 × 3600 = 57 982 058 496 000 byte-seconds;
    // / 2^30 / 3600 = 15 GiB-hours, in both methods.
    let l = line(
        "Compute Engine",
        "N1 Predefined Instance Ram running in Americas",
        57_982_058_496_000.0,
        "byte-seconds",
    );
    let (ccf, default) = both(&l);
    for r in [ccf, default] {
        assert_eq!(r.class, "memory");
        assert_eq!(r.memory_gb_hours, 15.0);
        assert_eq!(r.storage_tb_hours, 0.0);
    }
    // `Memory` with no compute word is memory too.
    let l = line(
        "Compute Engine",
        "Memory-optimized Instance Ram running in Americas",
        2.0 * 1_073_741_824.0 * 3600.0,
        "byte-seconds",
    );
    assert_eq!(both(&l).1.memory_gb_hours, 2.0);
}

#[test]
fn disks_and_buckets_are_tb_hours_by_media() {
    // 1 TB (10^12 bytes) for 3600 s = 3.6e15 byte-seconds: default / 10^12 / 3600 = 1 TB-hour;
    // CCF / 2^40 / 3600 = 10^12 / 1 099 511 627 776 = 0.9094947017729282 TiB-hours.
    let l = line(
        "Compute Engine",
        "Storage PD Capacity",
        3.6e15,
        "byte-seconds",
    );
    let (ccf, default) = both(&l);
    assert_eq!(default.class, "storage_hdd");
    assert_eq!(default.storage_tb_hours, 1.0);
    assert_eq!(ccf.class, "storage_hdd");
    assert_close(ccf.storage_tb_hours, 0.9094947017729282, "ccf TiB-hours");

    // `SSD` in the SKU: SSD. 0.5 TB for an hour: 0.5 TB-hours; CCF 5e11 / 2^40 =
    // 0.4547473508864641.
    let l = line(
        "Compute Engine",
        "Regional SSD backed PD Capacity",
        1.8e15,
        "byte-seconds",
    );
    let (ccf, default) = both(&l);
    assert_eq!(default.class, "storage_ssd");
    assert_eq!(default.storage_tb_hours, 0.5);
    assert_close(ccf.storage_tb_hours, 0.4547473508864641, "ccf TiB-hours");

    // A compute word in a byte-seconds SKU keeps it out of memory (CCF: storage).
    let l = line(
        "Compute Engine",
        "Core Memory Snapshot",
        3.6e15,
        "byte-seconds",
    );
    assert_eq!(both(&l).1.class, "storage_hdd");
}

#[test]
fn egress_bytes_are_network_gb() {
    // 5 × 10^9 bytes: default 5 GB; CCF 5e9 / 2^30 = 4.656612873077393 GiB.
    let l = line(
        "Cloud Storage",
        "Download Worldwide Destinations (excluding Asia & Australia)",
        5e9,
        "bytes",
    );
    let (ccf, default) = both(&l);
    assert_eq!(default.class, "network");
    assert_eq!(default.network_gb, 5.0);
    assert_close(ccf.network_gb, 4.656612873077393, "ccf GiB");
    // 10 GiB = 10 737 418 240 bytes: default 10.73741824 GB; CCF 10.
    let l = line(
        "Compute Engine",
        "Network Inter Region Egress from Americas to EMEA",
        10_737_418_240.0,
        "bytes",
    );
    let (ccf, default) = both(&l);
    assert_eq!(default.network_gb, 10.73741824);
    assert_eq!(ccf.network_gb, 10.0);
    // Bytes that are not transfer (query scans): unknown.
    let l = line("BigQuery", "Analysis", 1e12, "bytes");
    assert_eq!(both(&l).0.class, "unknown");
    assert_eq!(both(&l).1.class, "unknown");
}

#[test]
fn gpu_skus_carry_gpu_hours_and_their_model() {
    // 3600 GPU-seconds / 3600 = 1 GPU-hour; `Nvidia Tesla V100` is one of CCF's six names.
    let l = on(
        "n1-standard-8",
        line(
            "Compute Engine",
            "Nvidia Tesla V100 GPU running in Americas",
            3600.0,
            "seconds",
        ),
    );
    let (ccf, default) = both(&l);
    for r in [&ccf, &default] {
        assert_eq!(r.class, "gpu");
        assert_eq!(r.gpu_hours, 1.0);
        assert_eq!(r.vcpu_hours, 0.0);
        assert_eq!(r.gpu_model.as_deref(), Some("Nvidia Tesla V100"));
    }
    // CCF never reads the machine type of a GPU SKU; the default method keeps it.
    assert_eq!(ccf.instance_type, None);
    assert_eq!(default.instance_type.as_deref(), Some("n1-standard-8"));

    // CCF's name is `Nvidia T4`, so `Nvidia Tesla T4 GPU …` names no model under CCF (the
    // estimator then averages CCF's six); the default method finds `Nvidia T4`.
    let l = line(
        "Compute Engine",
        "Nvidia Tesla T4 GPU running in Americas",
        7200.0,
        "seconds",
    );
    let (ccf, default) = both(&l);
    assert_eq!(ccf.gpu_hours, 2.0);
    assert_eq!(ccf.gpu_model, None);
    assert_eq!(default.gpu_model.as_deref(), Some("Nvidia T4"));
    // A model no factor set lists keeps its name in the default method.
    let l = line(
        "Compute Engine",
        "Nvidia L4 GPU running in Americas",
        3600.0,
        "seconds",
    );
    let (ccf, default) = both(&l);
    assert_eq!(ccf.gpu_model, None);
    assert_eq!(default.gpu_model.as_deref(), Some("Nvidia L4"));
    // `Nvidia A100 80GB` is the A100 of the factor sets.
    let l = line(
        "Compute Engine",
        "Nvidia A100 80GB GPU running in Americas",
        3600.0,
        "seconds",
    );
    assert_eq!(both(&l).1.gpu_model.as_deref(), Some("Nvidia Tesla A100"));
}

#[test]
fn gke_and_composer_use_ccfs_vcpu_multipliers_on_e2_medium() {
    // coefficients.csv: gcp_vcpus_per_gke_cluster = 3: 3600 s / 3600 × 3 = 3 vCPU-hours.
    let l = line(
        "Kubernetes Engine",
        "Regional Kubernetes Clusters",
        3600.0,
        "seconds",
    );
    for r in [both(&l).0, both(&l).1] {
        assert_eq!(r.class, "compute");
        assert_eq!(r.vcpu_hours, 3.0);
        assert_eq!(r.instance_type.as_deref(), Some("e2-medium"));
    }
    // gcp_vcpus_per_cloud_composer_environment = 14: 3600 s / 3600 × 14 = 14 vCPU-hours.
    let l = line(
        "Cloud Composer",
        "Cloud Composer vCPU time in Iowa",
        3600.0,
        "seconds",
    );
    for r in [both(&l).0, both(&l).1] {
        assert_eq!(r.vcpu_hours, 14.0);
        assert_eq!(r.instance_type.as_deref(), Some("e2-medium"));
    }
}

#[test]
fn autopilot_pod_requests_are_unknown_for_ccf_and_quantities_by_default() {
    // 1000 mCPU for 3600 s = 3 600 000 mCPU-seconds / 1000 / 3600 = 1 vCPU-hour.
    let l = line(
        "Kubernetes Engine",
        "Autopilot Pod mCPU Requests (us-central1)",
        3_600_000.0,
        "seconds",
    );
    let (ccf, default) = both(&l);
    assert_eq!(ccf.class, "unknown");
    assert_eq!(default.class, "compute");
    assert_eq!(default.vcpu_hours, 1.0);
    // 4 GiB for 3600 s / 2^30 / 3600 = 4 GiB-hours.
    let l = line(
        "Kubernetes Engine",
        "Autopilot Pod Memory Requests (us-central1)",
        4.0 * 1_073_741_824.0 * 3600.0,
        "byte-seconds",
    );
    let (ccf, default) = both(&l);
    assert_eq!(ccf.class, "unknown");
    assert_eq!(default.class, "memory");
    assert_eq!(default.memory_gb_hours, 4.0);
}

#[test]
fn processors_of_unlisted_machine_types_follow_the_method() {
    let custom = |machine| {
        on(
            machine,
            line(
                "Compute Engine",
                "E2 Instance Core running in EMEA",
                14400.0,
                "seconds",
            ),
        )
    };
    // CCF: the first two characters, `e2` → Skylake, Broadwell, Haswell, AMD EPYC 2nd Gen
    // (MachineTypes.ts, §1.1). Default: every `e2-*` row of factors/default/instances.csv
    // lists Skylake.
    let (ccf, default) = both(&custom("e2-custom-4-8192"));
    assert_eq!(
        ccf.cpu_architecture.as_deref(),
        Some("Skylake;Broadwell;Haswell;AMD EPYC 2nd Gen")
    );
    assert_eq!(default.cpu_architecture.as_deref(), Some("Skylake"));
    assert_eq!(ccf.vcpu_hours, 4.0);
    // `n2d` by its first two characters is `n2`: Cascade Lake for CCF; AMD EPYC 2nd Gen by the
    // n2d rows of the default set.
    let (ccf, default) = both(&custom("n2d-custom-4-16384"));
    assert_eq!(ccf.cpu_architecture.as_deref(), Some("Cascade Lake"));
    assert_eq!(
        default.cpu_architecture.as_deref(),
        Some("AMD EPYC 2nd Gen")
    );
    // No machine type: CCF has none; the default method reads the series off the SKU
    // (every `n2-*` row of the default set lists Ice Lake).
    let l = line(
        "Compute Engine",
        "N2 Instance Core running in Americas",
        28800.0,
        "seconds",
    );
    let (ccf, default) = both(&l);
    assert_eq!(ccf.cpu_architecture, None);
    assert_eq!(ccf.instance_type, None);
    assert_eq!(default.cpu_architecture.as_deref(), Some("Ice Lake"));
    assert_eq!(default.vcpu_hours, 8.0);
}

#[test]
fn unknown_usage_follows_ccfs_lists_and_units() {
    let cases = [
        // An unknown service.
        line("Cloud DNS", "DNS Query (port 53)", 1e6, "requests"),
        // `requests`.
        line(
            "Cloud Storage",
            "Class A Operations Standard Storage",
            2e4,
            "requests",
        ),
        // An UNKNOWN_USAGE_TYPES entry (`NAT Gateway`).
        line(
            "Compute Engine",
            "NAT Gateway Uptime charge",
            3600.0,
            "seconds",
        ),
        // `seconds` without a compute word.
        line(
            "Cloud Storage",
            "Standard Storage Early Delete",
            3600.0,
            "seconds",
        ),
        // An empty SKU description.
        line("Compute Engine", "", 1.0, "seconds"),
    ];
    for l in &cases {
        let (ccf, default) = both(l);
        assert_eq!(ccf.class, "unknown", "{}", l.sku_description);
        assert_eq!(default.class, "unknown", "{}", l.sku_description);
        assert_eq!(ccf.reason, None);
    }
    // CCF writes Secret Manager's and Cloud KMS's unit as `Unknown` (so no ratio reaches
    // them); the default method keeps the bill's unit.
    let l = line(
        "Secret Manager",
        "Secret version replica storage",
        3600.0,
        "seconds",
    );
    let (ccf, default) = both(&l);
    assert_eq!(
        (ccf.class.as_str(), ccf.usage_unit.as_str()),
        ("unknown", "Unknown")
    );
    assert_eq!(
        (default.class.as_str(), default.usage_unit.as_str()),
        ("unknown", "seconds")
    );
    // A unit CCF's query does not read: excluded by CCF, unknown by default.
    let l = line("Maps API", "Dynamic Maps", 1000.0, "count");
    let (ccf, default) = both(&l);
    assert_eq!(ccf.class, "excluded");
    assert_eq!(
        ccf.reason.as_deref(),
        Some(
            "usage unit count is not one CCF's query reads (byte-seconds, seconds, bytes, \
             requests)"
        )
    );
    assert_eq!(default.class, "unknown");
}

#[test]
fn charges_that_are_not_usage_are_excluded_with_their_cost() {
    let cost_type = |t: &'static str| GcpLine {
        cost_type: t,
        cost: -0.05,
        ..line(
            "Compute Engine",
            "N1 Predefined Instance Core running in Americas",
            0.0,
            "seconds",
        )
    };
    for (t, why) in [
        ("tax", "cost type tax: a tax charge, not physical usage"),
        (
            "adjustment",
            "cost type adjustment: a billing correction, not physical usage",
        ),
        (
            "rounding_error",
            "cost type rounding_error: invoice rounding (CCF's query drops it), not physical \
             usage",
        ),
    ] {
        let (ccf, default) = both(&cost_type(t));
        assert_eq!(default.class, "excluded");
        assert_eq!(default.reason.as_deref(), Some(why));
        // CCF's query (`WHERE cost_type != 'rounding_error'`) keeps tax and adjustment rows
        // with a usage unit: a core-seconds SKU is compute, here with 0 s of usage.
        if t == "rounding_error" {
            assert_eq!(ccf.class, "excluded");
            assert_eq!(ccf.reason.as_deref(), Some(why));
        } else {
            assert_eq!(ccf.class, "compute", "{t}");
            assert_eq!(ccf.reason, None);
            assert_eq!(ccf.vcpu_hours, 0.0);
        }
        for r in [ccf, default] {
            assert_eq!(r.charge_type, t);
            assert_eq!(r.cost, -0.05);
        }
    }
    let l = line("Compute Engine", "Static Ip Charge", 3600.0, "seconds");
    let (ccf, default) = both(&l);
    for r in [ccf, default] {
        assert_eq!(
            r.reason.as_deref(),
            Some("SKU matches `Static Ip` in CCF's unsupported list: a charge, not physical usage")
        );
    }
    // `Fee` is a word: `Licensing Fee` is excluded.
    let l = line(
        "Compute Engine",
        "Licensing Fee for SUSE",
        3600.0,
        "seconds",
    );
    assert_eq!(both(&l).1.class, "excluded");
    // A committed-use fee: estimated by ratio by CCF, excluded by default (its usage is on the
    // covered rows).
    let l = line(
        "Compute Engine",
        "Commitment v1: Cpu in Americas for 1 Year",
        14400.0,
        "seconds",
    );
    let (ccf, default) = both(&l);
    assert_eq!(ccf.class, "unknown");
    assert_eq!(default.class, "excluded");
    assert!(
        default
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("committed-use fee")),
        "{:?}",
        default.reason
    );
}

#[test]
fn regions_come_from_region_zone_or_location() {
    let located = |location: &'static str, region: &'static str, zone: &'static str| GcpLine {
        location_location: location,
        location_region: region,
        location_zone: zone,
        ..line(
            "Cloud Storage",
            "Standard Storage US Multi-region",
            3.6e15,
            "byte-seconds",
        )
    };
    let r = both(&located("us", "", "")).1;
    assert_eq!(r.region.as_deref(), Some("us"));
    assert_eq!(r.region_note.as_deref(), Some("multi-region location `us`"));
    let r = both(&located("global", "", "")).1;
    assert_eq!(r.region, None);
    assert_eq!(
        r.region_note.as_deref(),
        Some("global usage (location `global`)")
    );
    let r = both(&located("", "", "europe-west4-a")).0;
    assert_eq!(r.region.as_deref(), Some("europe-west4"));
    assert_eq!(r.region_note.as_deref(), Some("from location.zone"));
    let r = both(&located("us-central1", "us-central1", "us-central1-a")).0;
    assert_eq!(
        (r.region.as_deref(), r.region_note),
        (Some("us-central1"), None)
    );
}

#[test]
fn cost_measures_and_labels() {
    let credits = [
        GcpCredit {
            name: "Sustained Usage Discount".into(),
            amount: -0.25,
            credit_type: "SUSTAINED_USAGE_DISCOUNT".into(),
        },
        GcpCredit {
            name: "FreeTrial:x".into(),
            amount: -0.5,
            credit_type: "PROMOTION".into(),
        },
    ];
    let labels = [
        ("team".to_owned(), "data".to_owned()),
        ("env".to_owned(), "prod".to_owned()),
    ];
    let l = GcpLine {
        cost: 2.5,
        credits: &credits,
        labels: &labels,
        ..line(
            "Compute Engine",
            "N1 Predefined Instance Core running in Americas",
            3600.0,
            "seconds",
        )
    };
    // Gross 2.5; net 2.5 − 0.25 − 0.5 = 1.75; without the promotion 2.5 − 0.25 = 2.25.
    assert_eq!(convert(CCF, GcpCost::Gross, &l).cost, 2.5);
    assert_eq!(convert(DEFAULT, GcpCost::Net, &l).cost, 1.75);
    assert_eq!(
        convert(DEFAULT, GcpCost::NetExceptPromotions, &l).cost,
        2.25
    );
    assert_eq!(
        convert(DEFAULT, GcpCost::Net, &l).tags,
        r#"{"env":"prod","team":"data"}"#
    );
    let plain = line("Compute Engine", "Static Ip Charge", 1.0, "seconds");
    assert_eq!(convert(DEFAULT, GcpCost::Net, &plain).tags, "{}");
    // An empty cost type is a regular charge.
    let untyped = GcpLine {
        cost_type: "",
        ..plain
    };
    assert_eq!(
        convert(DEFAULT, GcpCost::Net, &untyped).charge_type,
        "regular"
    );
}
