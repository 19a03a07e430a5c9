//! What the grouped query returns, checked against values worked out by hand from the rows of
//! `fixtures/gcp/bigquery_rows.jsonl` (r1…r13, listed in `fixtures/gcp/PROVENANCE.md`), and
//! against the file path on the same rows.

use std::collections::BTreeMap;

use carbonledger_gcp::GcpCost;
use carbonledger_gcp::bigquery::Granularity;
use carbonledger_usage::UsageSource;
use serde_json::{Value, json};

use crate::common::{CCF, DEFAULT, Row, read_with};
use crate::harness::{self, dataset, export_table};
use crate::{assert_near, at, options, read};

const N1_CORE: &str = "N1 Predefined Instance Core running in Americas";

/// Two N1 core rows just outside October 2026: the hour before it starts and the hour that
/// starts when it ends (the window's end is exclusive). Each costs 99, which no total below
/// could hide.
fn outside_the_window() -> Vec<Value> {
    let mut rows = harness::fixture_rows(true);
    let template = rows.remove(0);
    [
        ("2026-09-30T23:00:00Z", "2026-10-01T00:00:00Z", "202609"),
        ("2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z", "202611"),
    ]
    .into_iter()
    .map(|(start, end, month)| {
        let mut row = template.clone();
        row["usage_start_time"] = json!(start);
        row["usage_end_time"] = json!(end);
        row["cost"] = json!(99.0);
        row["credits"] = json!([]);
        row["invoice"] = json!({ "month": month });
        row
    })
    .collect()
}

/// A detailed export table with the fixture rows and the two rows outside the window.
fn table(prefix: &str) -> (String, &'static str) {
    let ds = dataset(prefix);
    let table = "gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9";
    export_table(&ds, table, true, &outside_the_window());
    (ds, table)
}

fn one<'a>(rows: &'a [Row], sku: &str, day: &str) -> &'a Row {
    let start = at(&format!("{day}T00:00:00Z")).timestamp_micros();
    let end = start + 86_400_000_000;
    let found: Vec<&Row> = rows
        .iter()
        .filter(|r| r.usage_type == sku && (start..end).contains(&r.period_start_us))
        .collect();
    assert_eq!(found.len(), 1, "rows of `{sku}` on {day}: {found:?}");
    found[0]
}

#[test]
fn grouped_rows_carry_the_hand_worked_values() {
    let (ds, t) = table("hand");
    let read = read(options(&ds, t, DEFAULT, GcpCost::Net), DEFAULT).expect("read");
    let rows = &read.rows;
    // 13 export rows in October; r1 and r2 (same SKU, day and keys, other labels and zones)
    // share a group: 12 result rows, one usage row each. The two rows outside are not read.
    assert_eq!(rows.len(), 12);
    assert_eq!(read.totals.rows, 12);
    let stats = read.source.stats();
    assert_eq!(
        (stats.queries, stats.result_rows, stats.export_rows),
        (2, 12, 13)
    );
    // Lines follow the query's ORDER BY and the source names the request.
    let lines: Vec<Option<u64>> = rows.iter().map(|r| r.source_line).collect();
    assert_eq!(lines, (1..=12).map(Some).collect::<Vec<_>>());
    let request = read.source.request();
    assert!(request.contains(&format!("local.{ds}.{t}")), "{request}");
    assert!(request.contains("2026-10-01..2026-11-01"), "{request}");
    assert!(rows.iter().all(|r| r.source == request));

    // r1 + r2: 14400 + 14400 vCPU-seconds = 28800 / 3600 = 8 vCPU-hours, 10:00 to 12:00;
    // net cost 0.126 + 0.126 − 0.0252 − 0.0252 − 0.05 = 0.1516. Labels are not grouped by.
    let n1 = one(rows, N1_CORE, "2026-10-05");
    assert_eq!(n1.class, "compute");
    assert_near(n1.vcpu_hours, 8.0, "r1+r2 vCPU-hours");
    assert_near(n1.usage_amount, 28_800.0, "r1+r2 seconds");
    assert_near(n1.cost, 0.1516, "r1+r2 net cost");
    assert_eq!(n1.instance_type.as_deref(), Some("n1-standard-4"));
    assert_eq!(
        n1.period_start_us,
        at("2026-10-05T10:00:00Z").timestamp_micros()
    );
    assert_eq!(
        n1.period_end_us,
        at("2026-10-05T12:00:00Z").timestamp_micros()
    );
    assert_eq!(n1.region.as_deref(), Some("us-central1"));
    assert_eq!(n1.tags, "{}");
    assert_eq!(n1.charge_type, "regular");
    // r9: 3600 s = 1 vCPU-hour; 0.0315 − 0.0063 = 0.0252. r13: 1 vCPU-hour, 0.0315, in the
    // last hour of the window.
    let n1_6 = one(rows, N1_CORE, "2026-10-06");
    assert_near(n1_6.vcpu_hours, 1.0, "r9 vCPU-hours");
    assert_near(n1_6.cost, 0.0252, "r9 net cost");
    let n1_31 = one(rows, N1_CORE, "2026-10-31");
    assert_near(n1_31.cost, 0.0315, "r13 cost");
    assert_eq!(
        n1_31.period_end_us,
        at("2026-11-01T00:00:00Z").timestamp_micros()
    );

    // r3: 15 × 2^30 × 3600 byte-seconds / 2^30 / 3600 = 15 GiB-hours; 0.0675 − 0.0135.
    let ram = one(
        rows,
        "N1 Predefined Instance Ram running in Americas",
        "2026-10-05",
    );
    assert_eq!(ram.class, "memory");
    assert_near(ram.memory_gb_hours, 15.0, "r3 GiB-hours");
    assert_near(ram.cost, 0.054, "r3 net cost");
    // r4: 2 × 10^12 × 3600 byte-seconds / 10^12 / 3600 = 2 TB-hours in the `us` multi-region.
    let bucket = one(rows, "Standard Storage US Multi-region", "2026-10-05");
    assert_eq!(bucket.class, "storage_hdd");
    assert_near(bucket.storage_tb_hours, 2.0, "r4 TB-hours");
    assert_eq!(bucket.region.as_deref(), Some("us"));
    assert_eq!(
        bucket.region_note.as_deref(),
        Some("multi-region location `us`")
    );
    // r5: 10 × 10^9 bytes / 10^9 = 10 GB, global; 0.2 − 0.2 free tier = 0.
    let egress = one(
        rows,
        "Network Inter Region Egress from Americas to EMEA",
        "2026-10-05",
    );
    assert_eq!(egress.class, "network");
    assert_near(egress.network_gb, 10.0, "r5 GB");
    assert_eq!(egress.region, None);
    assert_near(egress.cost, 0.0, "r5 net cost");
    // r6: tax keeps its cost and is excluded.
    let tax = one(rows, "Tax", "2026-10-05");
    assert_eq!(
        (tax.class.as_str(), tax.charge_type.as_str()),
        ("excluded", "tax")
    );
    assert_near(tax.cost, 0.42, "r6 cost");
    // r7: requests of Cloud DNS, estimated by ratio downstream.
    let dns = one(rows, "DNS Query (port 53)", "2026-10-05");
    assert_eq!(dns.class, "unknown");
    assert_near(dns.usage_amount, 1e6, "r7 requests");
    // r8: EUR, another account; the region comes from location.zone europe-west4-a;
    // 14400 s / 3600 = 4 vCPU-hours.
    let eu = one(rows, "N2 Instance Core running in EMEA", "2026-10-05");
    assert_eq!(eu.currency, "EUR");
    assert_eq!(eu.billing_account, "01F0E0-D0C0B0-A09080");
    assert_eq!(eu.usage_account, "carbon-eu");
    assert_eq!(eu.region.as_deref(), Some("europe-west4"));
    assert_eq!(eu.region_note.as_deref(), Some("from location.zone"));
    assert_near(eu.vcpu_hours, 4.0, "r8 vCPU-hours");
    assert_eq!(eu.instance_type.as_deref(), Some("n2-standard-4"));
    // r10: 7200 GPU-seconds / 3600 = 2 GPU-hours; 0.7 − 0.7 promotion = 0.
    let gpu = one(
        rows,
        "Nvidia Tesla T4 GPU running in Americas",
        "2026-10-06",
    );
    assert_eq!(gpu.class, "gpu");
    assert_near(gpu.gpu_hours, 2.0, "r10 GPU-hours");
    assert_near(gpu.cost, 0.0, "r10 net cost");
    // r11: 5 × 10^11 × 3600 byte-seconds / 10^12 / 3600 = 0.5 TB-hours of SSD.
    let ssd = one(rows, "Regional SSD backed PD Capacity", "2026-10-06");
    assert_eq!(ssd.class, "storage_ssd");
    assert_near(ssd.storage_tb_hours, 0.5, "r11 TB-hours");
    assert_eq!(ssd.region.as_deref(), Some("europe-west1"));
    // r12: a GKE cluster hour × 3 vCPUs (the factor set's gcp_vcpus_per_gke_cluster) = 3
    // vCPU-hours of e2-medium; 0.1 − 0.01 (a credit of no type) = 0.09.
    let gke = one(rows, "Regional Kubernetes Clusters", "2026-10-06");
    assert_eq!(gke.class, "compute");
    assert_near(gke.vcpu_hours, 3.0, "r12 vCPU-hours");
    assert_eq!(gke.instance_type.as_deref(), Some("e2-medium"));
    assert_near(gke.cost, 0.09, "r12 net cost");

    // Net USD: cost 0.126 + 0.126 + 0.0675 + 0.0722 + 0.2 + 0.42 + 0.4 + 0.0315 + 0.7 + 0.0465
    // + 0.1 + 0.0315 = 2.3212, credits −(0.0252 + 0.0252 + 0.05 + 0.0135 + 0.2 + 0.0063 + 0.7
    // + 0.01) = −1.0302: 1.291. EUR 0.151.
    assert_eq!(read.totals.cost.len(), 2);
    assert_near(read.totals.cost["USD"], 1.291, "USD net");
    assert_near(read.totals.cost["EUR"], 0.151, "EUR net");
    let out: f64 = rows
        .iter()
        .filter(|r| r.currency == "USD")
        .map(|r| r.cost)
        .sum();
    assert_near(out, 1.291, "USD net of the rows");
}

#[test]
fn every_cost_measure_comes_from_the_credit_sums() {
    let (ds, t) = table("measures");
    // Gross: the cost alone, 2.3212 (above). Net except promotions: 2.3212 − (1.0302 − 0.05
    // − 0.7) = 2.3212 − 0.2802 = 2.041.
    for (cost, usd, n1_cost, gpu_cost) in [
        (GcpCost::Gross, 2.3212, 0.252, 0.7),
        // r1 + r2: 0.252 − 0.0252 − 0.0252 = 0.2016; the GPU's only credit is a promotion.
        (GcpCost::NetExceptPromotions, 2.041, 0.2016, 0.7),
        (GcpCost::Net, 1.291, 0.1516, 0.0),
    ] {
        let read = read(options(&ds, t, DEFAULT, cost), DEFAULT).expect("read");
        assert_near(read.totals.cost["USD"], usd, cost.as_str());
        assert_near(read.totals.cost["EUR"], 0.151, cost.as_str());
        assert_near(
            one(&read.rows, N1_CORE, "2026-10-05").cost,
            n1_cost,
            cost.as_str(),
        );
        let gpu = one(
            &read.rows,
            "Nvidia Tesla T4 GPU running in Americas",
            "2026-10-06",
        );
        assert_near(gpu.cost, gpu_cost, cost.as_str());
    }
}

#[test]
fn monthly_rows_sum_the_days() {
    let (ds, t) = table("monthly");
    let mut options = options(&ds, t, DEFAULT, GcpCost::Net);
    options.granularity = Granularity::Monthly;
    let read = read(options, DEFAULT).expect("read");
    // The N1 core rows of the 5th (r1 + r2), the 6th (r9) and the 31st (r13) become one:
    // 12 − 2 = 10 rows.
    assert_eq!(read.rows.len(), 10);
    let n1 = one(&read.rows, N1_CORE, "2026-10-05");
    // 14400 + 14400 + 3600 + 3600 = 36000 s = 10 vCPU-hours; net 0.252 + 0.0315 + 0.0315
    // − 0.0504 − 0.05 − 0.0063 = 0.2083; from r1's start to r13's end.
    assert_near(n1.vcpu_hours, 10.0, "October's N1 vCPU-hours");
    assert_near(n1.cost, 0.2083, "October's N1 net cost");
    assert_eq!(
        n1.period_end_us,
        at("2026-11-01T00:00:00Z").timestamp_micros()
    );
    assert_near(read.totals.cost["USD"], 1.291, "USD net");
}

/// Sums of every quantity and of cost by class and currency.
fn sums(rows: &[Row]) -> BTreeMap<(String, String), [f64; 7]> {
    let mut sums: BTreeMap<(String, String), [f64; 7]> = BTreeMap::new();
    for r in rows {
        let entry = sums
            .entry((r.class.clone(), r.currency.clone()))
            .or_default();
        let values = [
            r.vcpu_hours,
            r.gpu_hours,
            r.memory_gb_hours,
            r.storage_tb_hours,
            r.network_gb,
            r.usage_amount,
            r.cost,
        ];
        for (total, v) in entry.iter_mut().zip(values) {
            *total += v;
        }
    }
    sums
}

#[test]
fn the_bigquery_path_gives_the_file_path_totals() {
    // A standard table (no resource-level fields) holding exactly the fixture's rows.
    let ds = dataset("same");
    let t = "gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9";
    export_table(&ds, t, false, &[]);
    let file = harness::fixture_dir().join("bigquery_rows.jsonl");
    for method in [DEFAULT, CCF] {
        for cost in [GcpCost::Gross, GcpCost::Net, GcpCost::NetExceptPromotions] {
            let what = format!("{} {}", method.0, cost.as_str());
            let from_file = read_with(&file, method, cost).expect("file path");
            let from_bq = read(options(&ds, t, method, cost), method).expect("BigQuery path");
            assert_eq!(from_file.rows.len(), 13, "{what}");
            assert_eq!(from_bq.rows.len(), 12, "{what}");
            let (a, b) = (sums(&from_file.rows), sums(&from_bq.rows));
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                b.keys().collect::<Vec<_>>(),
                "{what}"
            );
            for (key, values) in &a {
                for (i, (x, y)) in values.iter().zip(&b[key]).enumerate() {
                    assert_near(*y, *x, &format!("{what} {key:?} quantity {i}"));
                }
            }
            for (currency, total) in &from_file.totals.cost {
                assert_near(from_bq.totals.cost[currency], *total, &what);
            }
        }
    }
}

#[test]
fn exported_after_reads_only_the_rows_exported_since() {
    let (ds, t) = table("incremental");
    let full = read(options(&ds, t, DEFAULT, GcpCost::Net), DEFAULT).expect("read");
    // The newest export_time of October's rows is r13's, written after the month ended.
    assert_eq!(
        full.source.newest_export_time(),
        Some(at("2026-11-01T05:00:00Z"))
    );
    let summary = full.source.summary().join("\n");
    assert!(
        summary.contains("--exported-after 2026-11-01T05:00:00.000000Z"),
        "{summary}"
    );
    assert!(
        summary.contains("12 result rows summing 13 export rows"),
        "{summary}"
    );
    // After the load of the 6th (14:00): r2, the late row of the 5th, and r13.
    let mut options = options(&ds, t, DEFAULT, GcpCost::Net);
    options.exported_after = Some(at("2026-10-06T14:00:00Z"));
    let delta = read(options, DEFAULT).expect("read");
    assert_eq!(delta.rows.len(), 2);
    // r2 alone: 14400 s = 4 vCPU-hours; 0.126 − 0.0252 − 0.05 = 0.0508.
    let r2 = one(&delta.rows, N1_CORE, "2026-10-05");
    assert_near(r2.vcpu_hours, 4.0, "r2 vCPU-hours");
    assert_near(r2.cost, 0.0508, "r2 net cost");
    assert_eq!(
        r2.period_start_us,
        at("2026-10-05T11:00:00Z").timestamp_micros()
    );
    // r13: 0.0315, no credit.
    assert_near(delta.totals.cost["USD"], 0.0508 + 0.0315, "the delta's USD");
    assert!(
        delta
            .source
            .request()
            .contains("export_time > 2026-10-06T14:00:00")
    );
}
