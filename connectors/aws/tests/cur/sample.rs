//! The real anonymized CUR from focus_converters: every line comes out, classified as the
//! method says, and the input totals match the file.

use std::collections::BTreeMap;

use crate::common::*;

const SAMPLE: &str = "cur_legacy_anonymized_focus_converters.csv";

/// The sample's column values by header name.
struct Line<'a> {
    header: &'a [String],
    values: &'a [String],
}

impl Line<'_> {
    fn get(&self, name: &str) -> &str {
        let k = self.header.iter().position(|h| h == name).expect(name);
        &self.values[k]
    }
}

/// The class CCF's rules give a sample line. The sample has only these units: `GB`, `GB-Mo`
/// and units CCF does not know (`Requests`, `Events`, `Obj-Month`, …), and no UNKNOWN or
/// UNSUPPORTED usage types, so for it the rules reduce to: non-usage line types are excluded;
/// GB lines are network when the usage type ends with one of CCF's transfer types, else
/// excluded; GB-Mo lines are SSD for EFS (an SSD service) and HDD otherwise (they all end
/// with `ByteHrs`); everything else is unknown.
fn expected_class(line: &Line<'_>) -> &'static str {
    let usage = ["Usage", "DiscountedUsage", "SavingsPlanCoveredUsage"];
    if !usage.contains(&line.get("lineItem/LineItemType")) {
        return "excluded";
    }
    let usage_type = line.get("lineItem/UsageType");
    match line.get("pricing/unit") {
        "GB" => {
            let transfer = [
                "AWS-Out-Bytes",
                "DataTransfer-Out-Bytes",
                "DataTransfer-Regional-Bytes",
            ];
            let counted = transfer.iter().any(|t| usage_type.ends_with(t))
                && line.get("lineItem/ProductCode") != "AmazonCloudFront";
            if counted { "network" } else { "excluded" }
        }
        "GB-Mo" => {
            assert!(usage_type.ends_with("ByteHrs"), "{usage_type}");
            if line.get("lineItem/ProductCode") == "AmazonEFS" {
                "storage_ssd"
            } else {
                "storage_hdd"
            }
        }
        "Hrs" | "Hours" | "hours" | "vCPU-Hours" | "DPU-Hour" | "ACU-Hr" | "seconds" | "Second"
        | "Lambda-GB-Second" | "GB-Hours" | "GB-Month" | "GB-Mp" | "GB-month" | "GigaBytes" => {
            panic!(
                "the sample was described as having no {} lines",
                line.get("pricing/unit")
            )
        }
        _ => "unknown",
    }
}

#[test]
fn every_sample_line_comes_out_classified() {
    let path = fixture(SAMPLE);
    let (header, records) = csv_records(&path);
    assert_eq!(records.len(), 1281);
    let read = read_ok(&path);
    assert_eq!(read.rows.len(), records.len());
    assert_eq!(read.totals.rows, records.len() as u64);

    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    let mut actual: BTreeMap<&str, usize> = BTreeMap::new();
    for (values, row) in records.iter().zip(&read.rows) {
        let line = Line {
            header: &header,
            values,
        };
        let class = expected_class(&line);
        assert_eq!(
            row.class, class,
            "line {:?}: {}",
            row.source_line, row.usage_type
        );
        assert_eq!(row.usage_type, line.get("lineItem/UsageType"));
        *expected.entry(class).or_default() += 1;
        *actual.entry(row.class.as_str()).or_default() += 1;
    }
    assert_eq!(actual, expected);
    assert!(expected.len() >= 5, "{expected:?}");
}

#[test]
fn sample_input_cost_is_the_sum_of_unblended_cost() {
    let path = fixture(SAMPLE);
    let (header, records) = csv_records(&path);
    let k = header
        .iter()
        .position(|h| h == "lineItem/UnblendedCost")
        .expect("cost column");
    let sum: f64 = records
        .iter()
        .map(|r| r[k].parse::<f64>().expect("cost"))
        .sum();
    let read = read_ok(&path);
    let total = read.totals.cost["USD"];
    assert!((total - sum).abs() < 1e-9, "{total} vs {sum}");
    let rows_cost: f64 = read.rows.iter().map(|r| r.cost).sum();
    assert!((rows_cost - sum).abs() < 1e-9);
}

#[test]
fn sample_regions_come_from_the_product_region_or_the_usage_type() {
    let path = fixture(SAMPLE);
    let (header, records) = csv_records(&path);
    let read = read_ok(&path);
    for (values, row) in records.iter().zip(&read.rows) {
        let line = Line {
            header: &header,
            values,
        };
        let product_region = line.get("product/region");
        match product_region {
            "global" => {
                assert_eq!(
                    (row.region.as_deref(), row.region_note.as_deref()),
                    (None, Some("global service"))
                );
            }
            "" => assert!(row.region_note.is_some(), "{}", row.usage_type),
            region => {
                assert_eq!(row.region.as_deref(), Some(region), "{}", row.usage_type);
                assert_eq!(row.region_note, None);
            }
        }
        // The row's period starts at the line's usage start.
        let start = chrono::DateTime::parse_from_rfc3339(line.get("lineItem/UsageStartDate"))
            .expect("date")
            .timestamp_micros();
        assert_eq!(row.period_start_us, start);
    }
}
