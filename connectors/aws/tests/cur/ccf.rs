//! What the `ccf` method needs from the connector: CCF's vCPU-hour quirks (`ccf_quirks`, off by
//! default) and the blended cost CCF divides by. Every expected value is worked out by hand
//! from ccf-methodology §1.1 ("How vCPU-hours are derived"), §5.1 and §10 and the instance
//! facts of `factors/ccf/instances.csv`: r5.12xlarge 48 vCPU / 384 GB, dc2.large 2 vCPU /
//! 15 GB; `zz9.xlarge` is in no table.

use std::path::Path;

use carbonledger_aws::{CostMeasure, CurOptions, CurSource};

use crate::common::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1.0)
}

fn read_with(path: &Path, cost: CostMeasure, ccf_quirks: bool) -> Read {
    let options = CurOptions { cost, ccf_quirks };
    let mut source = CurSource::open(path, factors(), options).expect("opens");
    read_source(&mut source).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn quirks(path: &Path) -> Vec<Row> {
    read_with(path, CostMeasure::Unblended, true).rows
}

/// (vCPU-hours, GPU-hours, memory GB-hours) of a row.
fn hours(r: &Row) -> (f64, f64, f64) {
    (r.vcpu_hours, r.gpu_hours, r.memory_gb_hours)
}

const HEADER: [&str; 17] = [
    "identity/LineItemId",
    "bill/PayerAccountId",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/Operation",
    "lineItem/UsageAmount",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedCost",
    "lineItem/BlendedCost",
    "pricing/unit",
    "product/region",
    "product/instanceType",
    "product/vcpu",
];

/// A legacy CUR line: (id, service, usage type, amount, unblended, blended, unit, vCPU).
type Line<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
);

/// Hand-made lines for the cases `legacy_mixed.csv` lacks: Redshift billed in seconds, and the
/// quirk cases with `product/vcpu` given. Blended cost differs from unblended on every line.
const LINES: [Line<'static>; 5] = [
    (
        "q1",
        "AmazonRedshift",
        "USE1-CS:dc2.large",
        "7200",
        "1.00",
        "0.90",
        "seconds",
        "",
    ),
    (
        "q2",
        "AmazonRedshift",
        "USE1-CS:dc2.large",
        "7200",
        "1.00",
        "0.80",
        "seconds",
        "2",
    ),
    (
        "q3",
        "AmazonRedshift",
        "USE1-Node:dc2.large",
        "10",
        "2.50",
        "2.25",
        "Hrs",
        "2",
    ),
    (
        "q4",
        "AmazonRDS",
        "USE1-InstanceUsage:db.r5.12xl",
        "2",
        "11.52",
        "10.00",
        "Hrs",
        "48",
    ),
    (
        "q5",
        "AmazonEC2",
        "USE1-BoxUsage:zz9.xlarge",
        "3",
        "0.60",
        "0.45",
        "Hrs",
        "",
    ),
];

fn write_lines(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("ccf_cases.csv");
    let header: Vec<String> = HEADER.iter().map(|h| (*h).to_owned()).collect();
    let rows: Vec<Vec<String>> = LINES
        .iter()
        .map(
            |&(id, service, usage_type, amount, unblended, blended, unit, vcpu)| {
                [
                    id,
                    "000111222333",
                    "000444555666",
                    "Usage",
                    "2023-11-01T00:00:00Z",
                    "2023-11-02T00:00:00Z",
                    service,
                    usage_type,
                    "Run",
                    amount,
                    "USD",
                    unblended,
                    blended,
                    unit,
                    "us-east-1",
                    "",
                    vcpu,
                ]
                .map(str::to_owned)
                .to_vec()
            },
        )
        .collect();
    write_csv(&path, &header, &rows);
    path
}

/// The row of a hand-made line, by its position in [`LINES`] (lines 2.. of the file).
fn line(rows: &[Row], k: usize) -> &Row {
    let wanted = k as u64 + 2;
    rows.iter()
        .find(|r| r.source_line == Some(wanted))
        .expect("line")
}

#[test]
fn quirks_are_off_by_default() {
    assert!(!CurOptions::default().ccf_quirks);
    assert_eq!(CurOptions::default().cost, CostMeasure::Unblended);
}

#[test]
fn xl_usage_type_without_product_vcpu_has_no_vcpus_in_ccf() {
    let path = fixture("legacy_mixed.csv");
    // `USE1-InstanceUsage:db.r5.12xl`, 1 h, empty product/vcpu. CCF looks the vCPUs up as
    // `r5.12xl` (before `arge` is appended): no table entry, vCPU-hours NaN, 0 kWh for the whole
    // row. So: compute, 0 vCPU-h, 0 GPU-h, 0 memory GB-h; the instance type shown is the fixed
    // `r5.12xlarge` (CCF uses the fixed name for memory, processors and embodied).
    let ccf = quirks(&path);
    let r = row(&ccf, "USE1-InstanceUsage:db.r5.12xl", "Usage");
    assert_eq!(r.class, "compute");
    assert_eq!(hours(r), (0.0, 0.0, 0.0));
    assert_eq!(r.instance_type.as_deref(), Some("r5.12xlarge"));
    assert_eq!((r.reason.as_deref(), r.cost), (None, 5.76));
    // Default: looked up as r5.12xlarge, 48 vCPU × 1 h = 48 vCPU-h, 384 GB × 1 h.
    let default = read_ok(&path).rows;
    let r = row(&default, "USE1-InstanceUsage:db.r5.12xl", "Usage");
    assert_eq!(
        (r.class.as_str(), hours(r)),
        ("compute", (48.0, 0.0, 384.0))
    );
}

#[test]
fn xl_usage_type_with_product_vcpu_is_the_same_in_both_modes() {
    let dir = tempfile::tempdir().expect("temp");
    let path = write_lines(dir.path());
    // q4: product/vcpu 48 is used before any table lookup: 48 × 2 h = 96 vCPU-h; memory from
    // the fixed name r5.12xlarge: 384 GB × 2 h = 768 GB-h.
    for ccf_quirks in [true, false] {
        let rows = read_with(&path, CostMeasure::Unblended, ccf_quirks).rows;
        let r = line(&rows, 3);
        assert_eq!(r.usage_type, "USE1-InstanceUsage:db.r5.12xl");
        assert_eq!(
            (r.class.as_str(), hours(r)),
            ("compute", (96.0, 0.0, 768.0))
        );
    }
}

#[test]
fn redshift_node_hours_divide_table_vcpus_by_3600_in_ccf() {
    let path = fixture("legacy_mixed.csv");
    // `USE1-Node:dc2.large`, 10 node-hours (unit Hrs), empty product/vcpu.
    // CCF: REDSHIFT_INSTANCE_TYPES dc2.large [0] = 2 vCPU, / 3600 → 2 / 3600 × 10 = 1 / 180
    // vCPU-h. Memory is not part of the slip: 15 GB × 10 h = 150 GB-h.
    let ccf = quirks(&path);
    let r = row(&ccf, "USE1-Node:dc2.large", "Usage");
    assert_eq!(r.class, "compute");
    assert!(close(r.vcpu_hours, 2.0 / 3600.0 * 10.0), "{}", r.vcpu_hours);
    assert!(close(r.vcpu_hours, 1.0 / 180.0));
    assert_eq!((r.gpu_hours, r.memory_gb_hours), (0.0, 150.0));
    // Default: 2 vCPU × 10 h = 20 vCPU-h.
    let default = read_ok(&path).rows;
    let r = row(&default, "USE1-Node:dc2.large", "Usage");
    assert_eq!((r.vcpu_hours, r.memory_gb_hours), (20.0, 150.0));
}

#[test]
fn redshift_seconds_follow_ccfs_order_of_operations() {
    let dir = tempfile::tempdir().expect("temp");
    let path = write_lines(dir.path());
    let ccf = quirks(&path);
    let default = read_with(&path, CostMeasure::Unblended, false).rows;

    // q1: 7200 s, empty product/vcpu. CCF: (2 / 3600) × 7200 (the amount still in seconds)
    // = 4 vCPU-h, which is also the physical 2 vCPU × 2 h. Memory: 15 GB × 7200 / 3600 h =
    // 30 GB-h in both modes.
    for rows in [&ccf, &default] {
        let r = line(rows, 0);
        assert_eq!(r.class, "compute");
        assert!(close(r.vcpu_hours, 4.0), "{}", r.vcpu_hours);
        assert!(close(r.memory_gb_hours, 30.0), "{}", r.memory_gb_hours);
        assert_eq!(r.usage_amount, 7200.0);
    }
    // q2: 7200 s, product/vcpu 2. CCF: 2 × 7200 (seconds, not yet / 3600) = 14400 vCPU-h.
    // Default: 2 × 7200 / 3600 = 4 vCPU-h.
    assert!(close(line(&ccf, 1).vcpu_hours, 14_400.0));
    assert!(close(line(&default, 1).vcpu_hours, 4.0));
    // q3: node-hours with product/vcpu 2: 2 × 10 = 20 vCPU-h in both modes (the / 3600 is only
    // on the table value).
    assert_eq!(line(&ccf, 2).vcpu_hours, 20.0);
    assert_eq!(line(&default, 2).vcpu_hours, 20.0);
}

#[test]
fn compute_line_without_any_vcpu_count_is_known_with_zero_quantities_in_ccf() {
    let path = fixture("legacy_mixed.csv");
    // `USE1-BoxUsage:zz9.xlarge`, 3 h, no product/vcpu and no table entry: CCF's vCPU-hours are
    // NaN and it returns 0 kWh for a row it has classified as compute (not unknown): compute
    // with zero quantities, its cost 0.6 kept.
    let ccf = quirks(&path);
    let r = row(&ccf, "USE1-BoxUsage:zz9.xlarge", "Usage");
    assert_eq!(r.class, "compute");
    assert_eq!(hours(r), (0.0, 0.0, 0.0));
    assert_eq!(r.instance_type.as_deref(), Some("zz9.xlarge"));
    assert_eq!((r.reason.as_deref(), r.cost), (None, 0.6));
    // Default: unknown, estimated by ratio downstream.
    let default = read_ok(&path).rows;
    let r = row(&default, "USE1-BoxUsage:zz9.xlarge", "Usage");
    assert_eq!((r.class.as_str(), hours(r)), ("unknown", (0.0, 0.0, 0.0)));
    // The same from the hand-made file (q5).
    let dir = tempfile::tempdir().expect("temp");
    let rows = quirks(&write_lines(dir.path()));
    assert_eq!(line(&rows, 4).class, "compute");
}

#[test]
fn only_the_quirk_rows_change_between_modes() {
    let path = fixture("legacy_mixed.csv");
    let ccf = quirks(&path);
    let default = read_ok(&path).rows;
    assert_eq!(ccf.len(), default.len());
    let quirk_rows = [
        "USE1-InstanceUsage:db.r5.12xl",
        "USE1-Node:dc2.large",
        "USE1-BoxUsage:zz9.xlarge",
    ];
    for (c, d) in ccf.iter().zip(&default) {
        if quirk_rows.contains(&c.usage_type.as_str()) {
            assert_ne!(c, d, "{}", c.usage_type);
        } else {
            assert_eq!(c, d, "{}", c.usage_type);
        }
    }
    // Default: 14 compute, 2 SSD, 3 HDD, 1 network, 4 unknown, 7 excluded
    // (classification.rs); with the quirks zz9.xlarge moves from unknown to compute.
    let count = |rows: &[Row], class: &str| rows.iter().filter(|r| r.class == class).count();
    assert_eq!((count(&ccf, "compute"), count(&ccf, "unknown")), (15, 3));
    assert_eq!((count(&ccf, "excluded"), count(&ccf, "network")), (7, 1));
    // CUR 2.0 (vCPU and instance type inside the `product` map) gives the same rows.
    let cur2 = quirks(&fixture("cur2_mixed.csv"));
    let content = |rows: &[Row]| rows.iter().map(Row::content).collect::<Vec<_>>();
    assert_eq!(content(&cur2), content(&ccf));
}

#[test]
fn blended_cost_is_a_cost_measure() {
    assert_eq!(CostMeasure::parse("blended"), Some(CostMeasure::Blended));
    assert_eq!(CostMeasure::Blended.as_str(), "blended");

    let dir = tempfile::tempdir().expect("temp");
    let path = write_lines(dir.path());
    // Blended of q1..q5: 0.90 + 0.80 + 2.25 + 10.00 + 0.45 = 14.40 USD; unblended: 1.00 + 1.00
    // + 2.50 + 11.52 + 0.60 = 16.62 USD.
    let blended = read_with(&path, CostMeasure::Blended, false);
    assert!(
        close(blended.totals.cost["USD"], 14.40),
        "{:?}",
        blended.totals
    );
    let per_row: Vec<f64> = blended.rows.iter().map(|r| r.cost).collect();
    assert_eq!(per_row, [0.90, 0.80, 2.25, 10.00, 0.45]);
    let unblended = read_with(&path, CostMeasure::Unblended, false);
    assert!(close(unblended.totals.cost["USD"], 16.62));
}

#[test]
fn blended_cost_of_the_real_cur_is_its_blended_column() {
    let path = fixture("cur_legacy_anonymized_focus_converters.csv");
    let (header, records) = csv_records(&path);
    let k = header
        .iter()
        .position(|h| h == "lineItem/BlendedCost")
        .expect("blended column");
    let sum: f64 = records
        .iter()
        .map(|r| r[k].parse::<f64>().unwrap_or(0.0))
        .sum();
    let read = read_with(&path, CostMeasure::Blended, true);
    assert_eq!(read.rows.len(), records.len());
    let total = read.totals.cost["USD"];
    assert!((total - sum).abs() < 1e-9, "{total} vs {sum}");
}

#[test]
fn blended_cost_needs_its_column() {
    // Neither hand-made CUR has a blended cost column.
    for (name, column, flavour) in [
        ("legacy_mixed.csv", "lineItem/BlendedCost", "legacy CUR"),
        ("cur2_mixed.csv", "line_item_blended_cost", "CUR 2.0"),
    ] {
        let err = read(&fixture(name), CostMeasure::Blended)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        let expected = format!(
            "line 1, column `{column}`: required column `{column}` is missing ({flavour} header)"
        );
        assert!(err.contains(name) && err.contains(&expected), "{err}");
    }
}
