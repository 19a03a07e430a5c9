//! Synthetic GCP billing exports and Azure cost-details exports (CSV), for benchmarks of the
//! GCP and Azure readers at the sizes of [`super::write_cur`].
//!
//! Each line is drawn from a table of line templates modelled on real export rows (the
//! fixtures under `fixtures/gcp` and `fixtures/azure` show the same shapes): the template fixes
//! the service, SKU or meter, unit and price; the generator draws the hour of the billing
//! month, the account (project or subscription), the quantity (0.25 to 4 times the template's)
//! and computes the cost as quantity × price. A share of lines is tax, adjustments, purchases
//! or usage the method does not know, as in real bills. The same options give the same bytes;
//! memory stays constant whatever the number of lines.
//!
//! GCP columns are the flat CSV of a BigQuery export (`service.description`, `usage.amount`,
//! …, times as `YYYY-MM-DD HH:MM:SS UTC`); GCP quantities are in the export's units (seconds,
//! byte-seconds, bytes) with `usage.amount_in_pricing_units` beside them. Azure columns are an
//! Enterprise Agreement actual-cost export (dates `MM/DD/YYYY`, cost in USD).

use std::fmt::Write as _;
use std::io;

use fastrand::Rng;

use super::{SynthOptions, SynthSummary, days_in_month};

/// One GCP line template: service, SKU, usage unit, usage units per pricing unit, pricing
/// unit, pricing units per line, USD per pricing unit, cost type, region (empty: global),
/// machine type of the `system_labels` (empty: none), weight.
struct GcpLine {
    service: (&'static str, &'static str),
    sku: (&'static str, &'static str),
    unit: &'static str,
    per_pricing_unit: f64,
    pricing_unit: &'static str,
    quantity: f64,
    price: f64,
    cost_type: &'static str,
    region: &'static str,
    machine: &'static str,
    weight: u32,
}

/// Byte-seconds in a gibibyte-month (2^30 bytes × 730 hours × 3600 s).
const GIB_MONTH: f64 = 2_821_793_513_472_000.0;
const GCE: (&str, &str) = ("6F81-5844-456A", "Compute Engine");
const GCS: (&str, &str) = ("95FF-2EF5-5EA1", "Cloud Storage");
#[rustfmt::skip]
const GCP_LINES: &[GcpLine] = &[
    gcp(GCE, ("2E27-4F75-95CD", "N1 Predefined Instance Core running in Americas"), "seconds",
        3600.0, "hour", 4.0, 0.031611, "us-central1", "n1-standard-4", 12),
    gcp(GCE, ("6C71-E8CE-1F5F", "N1 Predefined Instance Ram running in Americas"),
        "byte-seconds", 3_865_470_566_400.0, "gibibyte hour", 15.0, 0.004237, "us-central1",
        "n1-standard-4", 12),
    gcp(GCE, ("B1C2-4A5B-9E11", "N2 Instance Core running in Americas"), "seconds", 3600.0, "hour",
        8.0, 0.031611, "us-central1", "", 10),
    gcp(GCE, ("C3D4-1F2A-8B22", "N2D AMD Instance Core running in Americas"), "seconds", 3600.0,
        "hour", 2.0, 0.029563, "us-east1", "n2d-standard-2", 6),
    gcp(GCE, ("D5E6-2B3C-7C33", "E2 Instance Core running in EMEA"), "seconds", 3600.0, "hour", 4.0,
        0.023125, "europe-west1", "e2-custom-4-8192", 8),
    gcp(GCE, ("E7F8-3C4D-6D44", "Nvidia Tesla T4 GPU running in Americas"), "seconds", 3600.0,
        "hour", 2.0, 0.35, "us-central1", "n1-standard-8", 2),
    gcp(GCE, ("F9A0-4D5E-5E55", "Storage PD Capacity"), "byte-seconds", GIB_MONTH, "gibibyte month",
        0.137, 0.04, "us-central1", "", 10),
    gcp(GCE, ("A1B2-5E6F-4F66", "Regional SSD backed PD Capacity"), "byte-seconds", GIB_MONTH,
        "gibibyte month", 0.0685, 0.187, "europe-west1", "", 5),
    gcp(GCS, ("B3C4-6F7A-3A77", "Standard Storage US Multi-region"), "byte-seconds", GIB_MONTH,
        "gibibyte month", 1.37, 0.026, "", "", 8),
    gcp(GCE, ("C5D6-7A8B-2B88", "Network Inter Region Egress from Americas to EMEA"), "bytes",
        1_073_741_824.0, "gibibyte", 10.0, 0.02, "", "", 6),
    gcp(("24E6-581D-38E5", "BigQuery"), ("D7E8-8B9C-1C99", "Analysis"), "bytes",
        1_099_511_627_776.0, "tebibyte", 0.9094947, 6.25, "", "", 4),
    gcp(("CCD8-9BF1-090E", "Kubernetes Engine"), ("E9F0-9C0D-0DAA", "Regional Kubernetes Clusters"),
        "seconds", 3600.0, "hour", 1.0, 0.1, "us-central1", "", 3),
    gcp(("FA26-5236-A627", "Cloud DNS"), ("F1A2-0D1E-9EBB", "DNS Query (port 53)"), "requests",
        1_000_000.0, "count", 1.0, 0.4, "", "", 2),
    gcp(("0000-0000-0000", "Invoice"), ("", "Tax"), "", 1.0, "", 0.0, 0.0, "", "", 1),
];

#[allow(clippy::too_many_arguments)]
const fn gcp(
    service: (&'static str, &'static str),
    sku: (&'static str, &'static str),
    unit: &'static str,
    per_pricing_unit: f64,
    pricing_unit: &'static str,
    quantity: f64,
    price: f64,
    region: &'static str,
    machine: &'static str,
    weight: u32,
) -> GcpLine {
    let cost_type = if sku.1.eq_ignore_ascii_case("tax") {
        "tax"
    } else {
        "regular"
    };
    GcpLine {
        service,
        sku,
        unit,
        per_pricing_unit,
        pricing_unit,
        quantity,
        price,
        cost_type,
        region,
        machine,
        weight,
    }
}

#[rustfmt::skip]
const GCP_HEADER: &[&str] = &[
    "billing_account_id", "service.id", "service.description", "sku.id", "sku.description",
    "usage_start_time", "usage_end_time", "project.id", "project.name", "labels", "system_labels",
    "location.location", "location.country", "location.region", "location.zone", "export_time",
    "cost", "currency", "currency_conversion_rate", "usage.amount", "usage.unit",
    "usage.amount_in_pricing_units", "usage.pricing_unit", "credits", "invoice.month", "cost_type",
];

/// Writes a GCP billing export of `options.lines` lines as CSV.
pub fn write_gcp<W: io::Write>(out: W, options: &SynthOptions) -> io::Result<SynthSummary> {
    let (year, month) = check(options)?;
    let mut wtr = writer(out);
    wtr.write_record(GCP_HEADER)?;
    let mut rng = Rng::with_seed(options.seed);
    let weights: Vec<u32> = GCP_LINES.iter().map(|l| l.weight).collect();
    let mut summary = SynthSummary::default();
    let mut row: Vec<String> = vec![String::new(); GCP_HEADER.len()];
    let hours = days_in_month(year, month) * 24;
    while summary.lines < options.lines {
        let line = &GCP_LINES[pick(&mut rng, &weights)];
        let hour = rng.u32(0..hours);
        let (day, hh) = (hour / 24 + 1, hour % 24);
        let scale = 0.25 + rng.f64() * 3.75;
        let quantity = line.quantity * scale;
        let cost = if line.cost_type == "tax" {
            0.05 + rng.f64() * 2.0
        } else {
            round(quantity * line.price)
        };
        let project = rng.usize(0..options.accounts);
        for cell in row.iter_mut() {
            cell.clear();
        }
        let set = |row: &mut Vec<String>, i: usize, v: &str| row[i].push_str(v);
        set(&mut row, 0, "01A2B3-C4D5E6-F7A8B9");
        set(&mut row, 1, line.service.0);
        set(&mut row, 2, line.service.1);
        set(&mut row, 3, line.sku.0);
        set(&mut row, 4, line.sku.1);
        let _ = write!(row[5], "{year:04}-{month:02}-{day:02} {hh:02}:00:00 UTC");
        if hh == 23 {
            let _ = write!(row[6], "{year:04}-{month:02}-{day:02} 23:59:59 UTC");
        } else {
            let _ = write!(
                row[6],
                "{year:04}-{month:02}-{day:02} {:02}:00:00 UTC",
                hh + 1
            );
        }
        let _ = write!(row[7], "synth-project-{project}");
        let _ = write!(row[8], "Synth Project {project}");
        let team = ["platform", "data", "ml", "web"][project % 4];
        let _ = write!(
            row[9],
            r#"[{{"key":"env","value":"prod"}},{{"key":"team","value":"{team}"}}]"#
        );
        if line.machine.is_empty() {
            row[10].push_str("[]");
        } else {
            let _ = write!(
                row[10],
                r#"[{{"key":"compute.googleapis.com/machine_spec","value":"{}"}}]"#,
                line.machine
            );
        }
        set(&mut row, 11, line.region);
        set(
            &mut row,
            12,
            if line.region.starts_with("europe") {
                "BE"
            } else {
                "US"
            },
        );
        set(&mut row, 13, line.region);
        if !line.region.is_empty() {
            let _ = write!(row[14], "{}-a", line.region);
        }
        let _ = write!(
            row[15],
            "{year:04}-{month:02}-{day:02} {hh:02}:47:12.123456 UTC"
        );
        let _ = write!(row[16], "{cost}");
        set(&mut row, 17, "USD");
        set(&mut row, 18, "1");
        if line.cost_type == "tax" {
            set(&mut row, 19, "0");
        } else {
            let _ = write!(row[19], "{}", quantity * line.per_pricing_unit);
            set(&mut row, 20, line.unit);
            let _ = write!(row[21], "{quantity}");
            set(&mut row, 22, line.pricing_unit);
        }
        row[23].push_str("[]");
        let _ = write!(row[24], "{year:04}{month:02}");
        set(&mut row, 25, line.cost_type);
        wtr.write_record(&row)?;
        count(&mut summary, cost, line.cost_type, line.service.1);
    }
    wtr.flush()?;
    Ok(summary)
}

/// One Azure meter template: meter category, subcategory, meter name, unit of measure,
/// quantity per line, USD per unit, consumed service, `AdditionalInfo`, charge type, weight.
struct AzureLine {
    category: &'static str,
    subcategory: &'static str,
    meter: &'static str,
    unit: &'static str,
    quantity: f64,
    price: f64,
    consumed: &'static str,
    info: &'static str,
    charge: &'static str,
    weight: u32,
}

#[rustfmt::skip]
const AZURE_LINES: &[AzureLine] = &[
    azure("Virtual Machines", "Dv3/DSv3 Series", "D2 v3/D2s v3", "1 Hour", 1.0, 0.096,
        "Microsoft.Compute", r#"{"UsageType": "ComputeHR", "VCPUs": 2}"#, "Usage", 14),
    azure("Virtual Machines", "Ev3/ESv3 Series", "E4 v3/E4s v3", "10 Hours", 0.1, 2.52,
        "Microsoft.Compute",
        r#"{"UsageType": "ComputeHR", "ServiceType": "Standard_E4s_v3", "VCPUs": 4}"#, "Usage", 8),
    azure("Virtual Machines", "BS Series", "B1s", "1 Hour", 1.0, 0.0104, "Microsoft.Compute",
        r#"{"UsageType": "ComputeHR", "VCPUs": 1}"#, "Usage", 6),
    azure("Storage", "Premium SSD Managed Disks", "P10 LRS Disk", "1/Month", 0.0013889, 19.71,
        "Microsoft.Compute", "", "Usage", 10),
    azure("Storage", "Tiered Block Blob", "Hot LRS Data Stored", "1 GB/Month", 12.5, 0.0184,
        "Microsoft.Storage", "", "Usage", 8),
    azure("Bandwidth", "Inter-Region", "Standard Data Transfer Out", "100 GB", 0.05, 2.0,
        "Microsoft.Network", "", "Usage", 6),
    azure("Azure Bastion", "", "Basic Gateway", "1 Hour", 1.0, 0.19, "Microsoft.Network", "",
        "Usage", 2),
    azure("Azure Maps", "", "Map Tiles", "1 Tile Batch", 3.0, 0.05, "Microsoft.Maps", "", "Usage",
        1),
    azure("", "", "", "", 0.0, 0.0, "", "", "Tax", 1),
];

#[allow(clippy::too_many_arguments)]
const fn azure(
    category: &'static str,
    subcategory: &'static str,
    meter: &'static str,
    unit: &'static str,
    quantity: f64,
    price: f64,
    consumed: &'static str,
    info: &'static str,
    charge: &'static str,
    weight: u32,
) -> AzureLine {
    AzureLine {
        category,
        subcategory,
        meter,
        unit,
        quantity,
        price,
        consumed,
        info,
        charge,
        weight,
    }
}

#[rustfmt::skip]
const AZURE_HEADER: &[&str] = &[
    "BillingAccountId", "BillingAccountName", "BillingPeriodStartDate", "BillingPeriodEndDate",
    "SubscriptionId", "SubscriptionName", "Date", "MeterCategory", "MeterSubCategory", "MeterName",
    "Quantity", "Cost", "BillingCurrency", "ResourceLocation", "ConsumedService", "AdditionalInfo",
    "Tags", "UnitOfMeasure", "ResourceGroup", "ChargeType", "Frequency", "PricingModel",
];

const AZURE_LOCATIONS: &[&str] = &["EastUS", "eastus2", "westeurope", "uksouth", "WestUS2"];

/// Writes an Azure EA actual-cost export of `options.lines` lines as CSV.
pub fn write_azure<W: io::Write>(out: W, options: &SynthOptions) -> io::Result<SynthSummary> {
    let (year, month) = check(options)?;
    let mut wtr = writer(out);
    wtr.write_record(AZURE_HEADER)?;
    let mut rng = Rng::with_seed(options.seed);
    let weights: Vec<u32> = AZURE_LINES.iter().map(|l| l.weight).collect();
    let mut summary = SynthSummary::default();
    let mut row: Vec<String> = vec![String::new(); AZURE_HEADER.len()];
    let days = days_in_month(year, month);
    while summary.lines < options.lines {
        let line = &AZURE_LINES[pick(&mut rng, &weights)];
        let day = rng.u32(1..=days);
        let quantity = line.quantity * (0.25 + rng.f64() * 3.75);
        let cost = if line.charge == "Tax" {
            0.05 + rng.f64() * 2.0
        } else {
            round(quantity * line.price)
        };
        let subscription = rng.usize(0..options.accounts);
        for cell in row.iter_mut() {
            cell.clear();
        }
        row[0].push_str("1234567");
        row[1].push_str("Synth Enterprise");
        let _ = write!(row[2], "{month:02}/01/{year:04}");
        let _ = write!(row[3], "{month:02}/{days:02}/{year:04}");
        let _ = write!(row[4], "00000000-0000-0000-0000-{subscription:012}");
        let _ = write!(row[5], "Synth subscription {subscription}");
        let _ = write!(row[6], "{month:02}/{day:02}/{year:04}");
        row[7].push_str(line.category);
        row[8].push_str(line.subcategory);
        row[9].push_str(line.meter);
        if line.charge == "Tax" {
            row[10].push('0');
        } else {
            let _ = write!(row[10], "{quantity}");
        }
        let _ = write!(row[11], "{cost}");
        row[12].push_str("USD");
        if !line.category.is_empty() {
            row[13].push_str(AZURE_LOCATIONS[rng.usize(0..AZURE_LOCATIONS.len())]);
        }
        row[14].push_str(line.consumed);
        row[15].push_str(line.info);
        let team = ["platform", "data", "ml", "web"][subscription % 4];
        let _ = write!(row[16], r#""env": "prod","team": "{team}""#);
        row[17].push_str(line.unit);
        let _ = write!(row[18], "rg-synth-{}", subscription % 3);
        row[19].push_str(line.charge);
        row[20].push_str(if line.charge == "Tax" {
            "OneTime"
        } else {
            "UsageBased"
        });
        row[21].push_str("OnDemand");
        wtr.write_record(&row)?;
        count(&mut summary, cost, line.charge, line.category);
    }
    wtr.flush()?;
    Ok(summary)
}

fn check(options: &SynthOptions) -> io::Result<(i32, u32)> {
    let (year, month) = options.month;
    if !(1..=12).contains(&month) || !(1970..=9999).contains(&year) || options.accounts == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "invalid options: month {year}-{month}, {} accounts",
                options.accounts
            ),
        ));
    }
    Ok((year, month))
}

fn writer<W: io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(1 << 16)
        .from_writer(out)
}

/// An index drawn with the given weights.
fn pick(rng: &mut Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut at = rng.u32(0..total);
    for (i, w) in weights.iter().enumerate() {
        if at < *w {
            return i;
        }
        at -= w;
    }
    weights.len() - 1
}

/// Cost rounded to 1e-10 USD, as exports print it.
fn round(cost: f64) -> f64 {
    (cost * 1e10).round() / 1e10
}

fn count(summary: &mut SynthSummary, cost: f64, kind: &str, service: &str) {
    summary.lines += 1;
    summary.unblended_cost_total += cost;
    *summary
        .rows_by_line_item_type
        .entry(kind.to_owned())
        .or_default() += 1;
    *summary
        .rows_by_product_code
        .entry(service.to_owned())
        .or_default() += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_the_summary_counts_every_line() {
        let options = SynthOptions {
            lines: 500,
            ..SynthOptions::default()
        };
        type Write<'a> = &'a dyn Fn(&mut Vec<u8>, &SynthOptions) -> io::Result<SynthSummary>;
        let writers: [Write; 2] = [&|out, o| write_gcp(out, o), &|out, o| write_azure(out, o)];
        for write in writers {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let summary = write(&mut a, &options).expect("write");
            write(&mut b, &options).expect("write");
            assert_eq!(a, b);
            assert_eq!(summary.lines, 500);
            let mut csv = csv::Reader::from_reader(a.as_slice());
            let records: Vec<_> = csv.records().collect::<Result<_, _>>().expect("CSV");
            assert_eq!(records.len(), 500);
            let cost_column = csv
                .headers()
                .expect("header")
                .iter()
                .position(|h| h == "cost" || h == "Cost")
                .expect("cost column");
            let total: f64 = records
                .iter()
                .map(|r| r[cost_column].parse::<f64>().expect("cost"))
                .sum();
            assert!((total - summary.unblended_cost_total).abs() < 1e-6);
        }
    }
}
