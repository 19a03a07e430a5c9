//! Integration tests of the synthetic legacy-CUR generator (`carbonledger::synth`).
//!
//! The checked-in sample `fixtures/sample/cur-sample-2026-10.csv.gz` is regenerated with
//! `cargo test --test synth -- --ignored regenerate_sample_fixture`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;

use carbonledger::synth::{SynthOptions, SynthSummary, header, write_cur};

const SAMPLE_LINES: u64 = 3000;
const SAMPLE_SEED: u64 = 2026;

fn opts(lines: u64, seed: u64) -> SynthOptions {
    SynthOptions {
        lines,
        seed,
        ..SynthOptions::default()
    }
}

fn generate(options: &SynthOptions) -> (Vec<u8>, SynthSummary) {
    let mut buf = Vec::new();
    let summary = write_cur(&mut buf, options).expect("generation succeeds");
    (buf, summary)
}

/// Header and records of a generated file, read back with the csv crate.
fn parse(bytes: &[u8]) -> (Vec<String>, Vec<csv::StringRecord>) {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let hdr = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = rdr
        .records()
        .collect::<Result<Vec<_>, _>>()
        .expect("records parse");
    (hdr, rows)
}

fn col(hdr: &[String], name: &str) -> usize {
    hdr.iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("column {name} missing"))
}

fn sample_fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/sample/cur-sample-2026-10.csv.gz")
}

fn sample_options() -> SynthOptions {
    SynthOptions {
        lines: SAMPLE_LINES,
        seed: SAMPLE_SEED,
        month: (2026, 10),
        accounts: 6,
    }
}

#[test]
fn default_options_are_the_documented_ones() {
    let d = SynthOptions::default();
    assert_eq!(d.month, (2026, 10));
    assert_eq!(d.accounts, 6);
    assert_eq!(
        d,
        sample_options(),
        "the sample README relies on these defaults"
    );
}

#[test]
fn same_seed_gives_identical_bytes() {
    let (a, sa) = generate(&opts(2000, 7));
    let (b, sb) = generate(&opts(2000, 7));
    assert!(a == b, "same seed must give the same bytes");
    assert_eq!(sa, sb);
}

#[test]
fn different_seed_gives_different_bytes() {
    let (a, _) = generate(&opts(500, 1));
    let (b, _) = generate(&opts(500, 2));
    assert!(a != b);
    // Same header, different rows.
    assert_eq!(
        a.split(|&c| c == b'\n').next(),
        b.split(|&c| c == b'\n').next()
    );
}

#[test]
fn writes_exactly_n_lines_plus_header() {
    for n in [0u64, 1, 2, 3, 1234] {
        let (bytes, summary) = generate(&opts(n, 11));
        let newlines = bytes.iter().filter(|&&c| c == b'\n').count() as u64;
        assert_eq!(newlines, n + 1, "N={n}: physical lines");
        assert_eq!(bytes.last(), Some(&b'\n'));
        let (_, rows) = parse(&bytes);
        assert_eq!(rows.len() as u64, n, "N={n}: csv records");
        assert_eq!(summary.lines, n);
    }
}

#[test]
fn summary_matches_the_file() {
    let (bytes, summary) = generate(&opts(5000, 3));
    let (hdr, rows) = parse(&bytes);
    let cost = col(&hdr, "lineItem/UnblendedCost");
    let lit = col(&hdr, "lineItem/LineItemType");
    let code = col(&hdr, "lineItem/ProductCode");
    let mut total = 0.0f64;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rows {
        total += r[cost].parse::<f64>().expect("UnblendedCost is a number");
        *by_type.entry(r[lit].to_owned()).or_default() += 1;
        *by_code.entry(r[code].to_owned()).or_default() += 1;
    }
    // Same values summed in the same order: equal up to float noise (in practice exactly).
    let tolerance = 1e-9 * summary.unblended_cost_total.abs().max(1.0);
    assert!(
        (total - summary.unblended_cost_total).abs() <= tolerance,
        "file {total} vs summary {}",
        summary.unblended_cost_total
    );
    assert!(summary.unblended_cost_total > 0.0);
    assert_eq!(by_type, summary.rows_by_line_item_type);
    assert_eq!(by_code, summary.rows_by_product_code);
    assert_eq!(summary.rows_by_line_item_type.values().sum::<u64>(), 5000);
}

const REQUIRED_COLUMNS: &[&str] = &[
    "identity/LineItemId",
    "identity/TimeInterval",
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/Operation",
    "lineItem/AvailabilityZone",
    "lineItem/UsageAmount",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedRate",
    "lineItem/UnblendedCost",
    "lineItem/BlendedCost",
    "lineItem/LineItemDescription",
    "product/ProductName",
    "product/region",
    "product/regionCode",
    "product/location",
    "product/fromRegionCode",
    "product/toRegionCode",
    "product/productFamily",
    "product/servicecode",
    "product/usagetype",
    "product/instanceType",
    "product/vcpu",
    "product/memory",
    "product/physicalProcessor",
    "product/storageMedia",
    "product/volumeType",
    "pricing/unit",
    "pricing/term",
    "pricing/publicOnDemandCost",
    "reservation/EffectiveCost",
    "savingsPlan/SavingsPlanEffectiveCost",
    "resourceTags/user:Team",
    "resourceTags/user:Environment",
];

const EXTRA_COLUMNS: &[&str] = &[
    "product/instanceType",
    "product/vcpu",
    "product/memory",
    "product/physicalProcessor",
    "resourceTags/user:Team",
    "resourceTags/user:Environment",
];

#[test]
fn required_legacy_cur_columns_are_present() {
    let (bytes, _) = generate(&opts(10, 1));
    let (hdr, rows) = parse(&bytes);
    assert_eq!(
        hdr,
        header().iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
    for name in REQUIRED_COLUMNS {
        assert!(hdr.iter().any(|h| h == name), "missing {name}");
    }
    assert_eq!(
        hdr.iter().collect::<BTreeSet<_>>().len(),
        hdr.len(),
        "duplicate columns"
    );
    for r in &rows {
        assert_eq!(r.len(), hdr.len());
    }
}

/// The header is the real anonymized sample's header (same order) plus the six extra columns.
/// Skipped when the shared sample is not beside the checkout.
#[test]
fn header_extends_the_real_sample() {
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/samples/aws/cur_legacy_anonymized_focus_converters.csv");
    let Ok(file) = std::fs::File::open(&sample) else {
        eprintln!("skipped: {} not found", sample.display());
        return;
    };
    let mut rdr = csv::Reader::from_reader(file);
    let real: Vec<String> = rdr
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let ours: Vec<&str> = header().to_vec();
    let ours_without_extras: Vec<&str> = ours
        .iter()
        .copied()
        .filter(|h| !EXTRA_COLUMNS.contains(h))
        .collect();
    assert_eq!(
        ours_without_extras,
        real.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(ours.len(), real.len() + EXTRA_COLUMNS.len());
}

#[test]
fn all_line_item_types_and_product_codes_appear() {
    let (_, summary) = generate(&opts(5000, SAMPLE_SEED));
    let types: BTreeSet<&str> = summary
        .rows_by_line_item_type
        .keys()
        .map(String::as_str)
        .collect();
    let expected_types: BTreeSet<&str> = [
        "Usage",
        "DiscountedUsage",
        "SavingsPlanCoveredUsage",
        "SavingsPlanNegation",
        "SavingsPlanRecurringFee",
        "RIFee",
        "Fee",
        "Credit",
        "Tax",
    ]
    .into_iter()
    .collect();
    assert_eq!(types, expected_types);
    let codes: BTreeSet<&str> = summary
        .rows_by_product_code
        .keys()
        .map(String::as_str)
        .collect();
    let expected_codes: BTreeSet<&str> = [
        "AmazonEC2",
        "AmazonS3",
        "AmazonRDS",
        "AWSLambda",
        "AWSDataTransfer",
        "AWSELB",
        "AmazonVPC",
        "AmazonEKS",
        "AmazonDynamoDB",
        "AmazonCloudWatch",
        "AmazonRoute53",
        "ComputeSavingsPlans",
        "AWSSupportBusiness",
    ]
    .into_iter()
    .collect();
    assert_eq!(codes, expected_codes);
    // Every covered line has its negation.
    assert_eq!(
        summary.rows_by_line_item_type["SavingsPlanCoveredUsage"],
        summary.rows_by_line_item_type["SavingsPlanNegation"]
    );
}

#[test]
fn content_is_realistic() {
    let (bytes, _) = generate(&opts(5000, SAMPLE_SEED));
    let bytes_per_line = bytes.len() as f64 / 5001.0;
    assert!(
        (600.0..1100.0).contains(&bytes_per_line),
        "{bytes_per_line} bytes per line"
    );
    let (hdr, rows) = parse(&bytes);
    let c = |name: &str| col(&hdr, name);
    let (lit, ut, unit, region, start, end) = (
        c("lineItem/LineItemType"),
        c("lineItem/UsageType"),
        c("pricing/unit"),
        c("product/region"),
        c("lineItem/UsageStartDate"),
        c("lineItem/UsageEndDate"),
    );
    let (amount, rate, cost, account, currency) = (
        c("lineItem/UsageAmount"),
        c("lineItem/UnblendedRate"),
        c("lineItem/UnblendedCost"),
        c("lineItem/UsageAccountId"),
        c("lineItem/CurrencyCode"),
    );
    let (itype, vcpu) = (c("product/instanceType"), c("product/vcpu"));
    let mut usage_types = BTreeSet::new();
    let mut units = BTreeSet::new();
    let mut regions = BTreeSet::new();
    let mut instance_types = BTreeSet::new();
    let mut accounts = BTreeSet::new();
    let mut previous: Option<&csv::StringRecord> = None;
    for r in &rows {
        assert_eq!(&r[currency], "USD");
        assert!(r[start].starts_with("2026-10-"), "start {}", &r[start]);
        assert!(
            r[end].starts_with("2026-10-") || &r[end] == "2026-11-01T00:00:00.000Z",
            "end {}",
            &r[end]
        );
        assert!(r[start] < r[end]);
        assert_eq!(r[account].len(), 12);
        assert!(r[account].bytes().all(|b| b.is_ascii_digit()));
        accounts.insert(r[account].to_owned());
        if &r[lit] == "Usage" {
            let a: f64 = r[amount].parse().expect("amount");
            let p: f64 = r[rate].parse().expect("rate");
            let x: f64 = r[cost].parse().expect("cost");
            assert!(
                (a * p - x).abs() <= 1e-9 + 1e-9 * x.abs(),
                "{a} x {p} != {x}"
            );
            usage_types.insert(r[ut].to_owned());
            units.insert(r[unit].to_owned());
        }
        if !r[region].is_empty() {
            regions.insert(r[region].to_owned());
        }
        if r[ut].contains("BoxUsage:") {
            instance_types.insert(r[itype].to_owned());
            assert!(r[vcpu].parse::<u32>().is_ok(), "vcpu {}", &r[vcpu]);
        }
        if &r[lit] == "SavingsPlanNegation" {
            let covered = previous.expect("negation follows its covered line");
            assert_eq!(&covered[lit], "SavingsPlanCoveredUsage");
            assert_eq!(&covered[ut], &r[ut]);
            let x: f64 = r[cost].parse().expect("cost");
            let y: f64 = covered[cost].parse().expect("cost");
            assert_eq!(x, -y);
        }
        previous = Some(r);
    }
    assert_eq!(accounts.len(), 6);
    assert!(
        accounts.iter().any(|a| a.starts_with('0')),
        "an account id with a leading zero"
    );
    for needle in [
        "BoxUsage:m5.large",
        "EBS:VolumeUsage.gp3",
        "EBS:SnapshotUsage",
        "TimedStorage-ByteHrs",
        "Requests-Tier1",
        "InstanceUsage:db.",
        "-AWS-Out-Bytes",
        "DataTransfer-Out-Bytes",
        "Lambda-GB-Second",
        "Lambda-GB-Second-ARM",
        "NatGateway-Hours",
        "HostedZone",
        "USE1-",
        "USW2-",
        "EUC1-",
        "APN1-",
        "APS3-",
        "EU-",
    ] {
        assert!(
            usage_types.iter().any(|u| u.contains(needle)),
            "no usage type with {needle}"
        );
    }
    // us-east-1 EC2 usage types carry no prefix.
    assert!(usage_types.iter().any(|u| u.starts_with("BoxUsage:")));
    for u in [
        "Hrs",
        "GB-Mo",
        "GB",
        "Requests",
        "Lambda-GB-Second",
        "HostedZone",
    ] {
        assert!(units.contains(u), "no usage line with unit {u}");
    }
    for r in [
        "us-east-1",
        "us-west-2",
        "eu-central-1",
        "eu-west-1",
        "ap-northeast-1",
        "ap-south-1",
    ] {
        assert!(regions.contains(r), "no line in {r}");
    }
    for t in [
        "m5.large",
        "c5.large",
        "r5.large",
        "t3.micro",
        "m6g.large",
        "p3.2xlarge",
    ] {
        assert!(instance_types.contains(t), "no {t}");
    }
    assert!(instance_types.contains("g4dn.xlarge") && instance_types.contains("m7i.xlarge"));
}

#[test]
fn region_prefix_agrees_with_product_region() {
    const PREFIXES: &[(&str, &str)] = &[
        ("USE1", "us-east-1"),
        ("USE2", "us-east-2"),
        ("USW1", "us-west-1"),
        ("USW2", "us-west-2"),
        ("CAN1", "ca-central-1"),
        ("EU", "eu-west-1"),
        ("EUC1", "eu-central-1"),
        ("EUW2", "eu-west-2"),
        ("EUN1", "eu-north-1"),
        ("APN1", "ap-northeast-1"),
        ("APS1", "ap-southeast-1"),
        ("APS2", "ap-southeast-2"),
        ("APS3", "ap-south-1"),
        ("SAE1", "sa-east-1"),
        ("MEC1", "me-central-1"),
    ];
    let (bytes, _) = generate(&opts(3000, 5));
    let (hdr, rows) = parse(&bytes);
    let (ut, region, lit) = (
        col(&hdr, "lineItem/UsageType"),
        col(&hdr, "product/region"),
        col(&hdr, "lineItem/LineItemType"),
    );
    let mut checked = 0;
    for r in &rows {
        if &r[lit] != "Usage" || r[ut].contains("-AWS-") {
            continue; // two-region transfer types name both ends
        }
        let Some((prefix, _)) = r[ut].split_once('-') else {
            continue;
        };
        if let Some((_, code)) = PREFIXES.iter().find(|(p, _)| *p == prefix) {
            assert_eq!(&r[region], *code, "{}", &r[ut]);
            checked += 1;
        }
    }
    assert!(checked > 1000, "only {checked} prefixed lines");
}

#[test]
fn invalid_options_are_rejected() {
    let mut buf = Vec::new();
    let bad_month = SynthOptions {
        month: (2026, 13),
        ..opts(10, 1)
    };
    assert_eq!(
        write_cur(&mut buf, &bad_month).map_err(|e| e.kind()).err(),
        Some(std::io::ErrorKind::InvalidInput)
    );
    let no_accounts = SynthOptions {
        accounts: 0,
        ..opts(10, 1)
    };
    assert!(write_cur(&mut buf, &no_accounts).is_err());
}

#[test]
fn other_months_and_account_counts_work() {
    let options = SynthOptions {
        lines: 400,
        seed: 9,
        month: (2028, 2),
        accounts: 1,
    };
    let (bytes, summary) = generate(&options);
    let (hdr, rows) = parse(&bytes);
    let start = col(&hdr, "lineItem/UsageStartDate");
    let account = col(&hdr, "lineItem/UsageAccountId");
    assert_eq!(summary.lines, 400);
    assert!(rows.iter().all(|r| r[start].starts_with("2028-02-")));
    assert!(
        rows.iter().any(|r| r[start].starts_with("2028-02-29")),
        "leap day used"
    );
    let accounts: BTreeSet<&str> = rows.iter().map(|r| &r[account]).collect();
    assert_eq!(accounts.len(), 1);
}

/// The checked-in sample is exactly what the generator writes for its seed.
#[test]
fn sample_fixture_matches_generator() {
    let path = sample_fixture_path();
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut checked_in = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut checked_in)
        .expect("gzip");
    let (expected, summary) = generate(&sample_options());
    assert_eq!(summary.lines, SAMPLE_LINES);
    assert!(
        checked_in == expected,
        "{} differs from the generator output: run \
         `cargo test --test synth -- --ignored regenerate_sample_fixture`",
        path.display()
    );
}

/// Rewrites `fixtures/sample/cur-sample-2026-10.csv.gz` (gzip, best compression).
#[test]
#[ignore = "rewrites the checked-in sample fixture"]
fn regenerate_sample_fixture() {
    let path = sample_fixture_path();
    std::fs::create_dir_all(path.parent().expect("parent dir")).expect("mkdir");
    let file = std::fs::File::create(&path).expect("create fixture");
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    let summary = write_cur(&mut gz, &sample_options()).expect("generate");
    gz.finish().expect("finish gzip");
    eprintln!("wrote {} ({summary:?})", path.display());
}

/// `carbonledger generate --kind gcp|azure`: files the GCP and Azure readers take whole, every
/// line and every cent of the generated cost accounted for (rows read, cost in = cost out, as
/// the reconciliation on stderr reports them), plain and gzip-compressed.
#[test]
fn generated_gcp_and_azure_exports_are_read_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (kind, name, cost_column) in [
        ("gcp", "gcp.csv", "cost"),
        ("azure", "azure.csv.gz", "Cost"),
    ] {
        let path = dir.path().join(name);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonledger"))
            .args([
                "generate", "--kind", kind, "--lines", "2500", "--seed", "7", "--output",
            ])
            .arg(&path)
            .output()
            .expect("generate");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut text = Vec::new();
        let file = std::fs::File::open(&path).expect("generated file");
        if name.ends_with(".gz") {
            flate2::read::MultiGzDecoder::new(file)
                .read_to_end(&mut text)
                .expect("gzip");
        } else {
            std::io::BufReader::new(file)
                .read_to_end(&mut text)
                .expect("read");
        }
        let (hdr, rows) = parse(&text);
        assert_eq!(rows.len(), 2500, "{kind}");
        let at = col(&hdr, cost_column);
        let cost: f64 = rows
            .iter()
            .map(|r| r[at].parse::<f64>().expect("cost"))
            .sum();

        let out = std::process::Command::new(env!("CARGO_BIN_EXE_carbonledger"))
            .args(["estimate", "--provider", kind, "--input"])
            .arg(&path)
            .output()
            .expect("estimate");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{kind}: {stderr}");
        let figure = |label: &str| -> f64 {
            let line = stderr
                .lines()
                .find(|l| l.trim_start().starts_with(label))
                .unwrap_or_else(|| panic!("{kind}: no `{label}` in\n{stderr}"));
            line.trim_start()[label.len()..]
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{kind}: {line}"))
        };
        assert_eq!(figure("rows read"), 2500.0, "{kind}");
        assert!((figure("cost in") - cost).abs() < 1e-3, "{kind}: {stderr}");
        assert!((figure("cost out") - cost).abs() < 1e-3, "{kind}: {stderr}");
        // Most lines are usage the method quantifies.
        assert!(figure("estimated") > 2000.0, "{kind}: {stderr}");
    }
}
