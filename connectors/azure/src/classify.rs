//! CCF's Azure classification of a cost-details row (ccf-methodology §4.3, §1.1–§1.5), applied
//! to the export's columns, with the unit block sizes of `PricingUnits.csv` applied.
//!
//! Order, first match wins:
//! 1. `ChargeType` other than `Usage` (an absent or empty one counts as `Usage`) → `excluded`
//!    with the reason: reservation and savings-plan purchases, Marketplace and other purchases,
//!    refunds, unused reservation / savings-plan hours, rounding adjustments, tax;
//! 2. a meter name with one of CCF's unsupported words (`Rulesets`, `Rules`, `Policies`,
//!    `Kafka Surcharge`, `License`) → `excluded`;
//! 3. a unit of measure not in `PricingUnits.csv` → `unknown` (estimated by ratio; the unit is
//!    counted in the source's summary). With the CCF quirks, any unit outside CCF's own list;
//! 4. a meter category or meter name on CCF's unknown lists (`Load Balancer`, `VPN Gateway`,
//!    `Requests`, …) → `unknown`;
//! 5. by the unit's distinct unit:
//!    * `Hours`: compute. vCPUs from the meter for `vCore` / `2 vCore` meters (their quantity
//!      is hours), else `AdditionalInfo.VCPUs`, else the factor set's VM size
//!      (`AdditionalInfo.ServiceType` `Standard_D2s_v3` → `D2s v3`, else the meter name before
//!      `/`, without ` Spot` / ` Low Priority`). With no vCPU count the row is `unknown`
//!      (with the CCF quirks, 1 vCPU as CCF). Memory GB-hours = hours × the size's memory;
//!      GPU-hours = hours × its GPUs. CCF's memory
//!      meters (`Execution Time`, `Memory Duration`, `C1 Cache Instance`) are `unknown`;
//!    * `GB/Month`, `GiB/Month`, `TB/Month`, `TiB/Month` and the `/Day` and `/Hour` forms:
//!      storage, SSD for CCF's SSD words (managed-disk tiers `P*`, `E*`, `SSD`, `Premium`, and
//!      CCF's storage usage types such as `Data Stored`, `LRS`), HDD for `S*` disk tiers and
//!      `HDD`; media unknown → `unknown` (CCF: dropped, here `excluded`);
//!    * `Units/Month`, `Units/Day` of a managed-disk tier (`P10 LRS Disk`): storage of the
//!      tier's size (`managed_disks.csv`) for the disk-months or disk-days billed;
//!    * `GB`, `GiB`, `TB`, `MB`: network for CCF's egress meters (`Data Transfer Out`,
//!      `Egress`, geo-replication transfer) that do not say `To Any`; other data volumes →
//!      `unknown` (CCF: dropped, here `excluded`);
//!    * `GB Hours`, `GB Seconds`, `GiB Hours`, `GiB Seconds`: memory;
//!    * anything else → `unknown`.
//!
//! Units of the results: vCPU-hours, GPU-hours, memory GB-hours, storage TB-hours (10^12
//! bytes for one hour), network GB (10^9 bytes). A billed amount is first multiplied by the
//! unit's block size (`10 Hours` × 3 = 30 hours). A month is the calendar month of the row's
//! date (`GB/Month` × 24 × days in that month / 1000 = TB-hours); a GiB is 2^30 bytes.
//!
//! With the CCF quirks (`--method ccf`), as CCF's `ConsumptionDetailRow`: block sizes are
//! ignored, vCPU-hours = quantity × vCPUs (1 when unknown), `GB/Month` quantities become
//! quantity × 24 / 1000 TB-hours, managed disks the tier's size × 24 / 1000 whatever the
//! quantity, `TB` network quantities × 1000, and reservation-covered rows keep their billed
//! `Quantity`. Without the quirks a row priced under a reservation or savings plan takes its
//! hours from `AdditionalInfo.ConsumedQuantity` when present (its `Quantity` is normalised).

use std::collections::HashMap;
use std::sync::Arc;

use carbonledger_factors::{FactorSet, Instance};
use carbonledger_usage::UsageClass;
use regex::{Regex, RegexSet};

use crate::info::AdditionalInfo;
use crate::lookup::{DiskMedia, Lookups};

/// CCF's unsupported meter-name words.
const UNSUPPORTED_METERS: [&str; 5] = [
    "Rulesets",
    "Rules",
    "Policies",
    "Kafka Surcharge",
    "License",
];
/// CCF's unknown meter categories.
const UNKNOWN_CATEGORIES: [&str; 9] = [
    "Azure Bastion",
    "Load Balancer",
    "VPN Gateway",
    "Azure Front Door Service",
    "Azure Databricks",
    "Azure Data Factory v2",
    "API Management",
    "Advanced Data Security",
    "Virtual Machines Licenses",
];
/// CCF's unknown meter names.
const UNKNOWN_METERS: [&str; 3] = ["Server - Free", "Requests", "Custom Domain"];
/// CCF's memory meters (compute units, memory only in CCF).
const MEMORY_METERS: [&str; 3] = ["Execution Time", "Memory Duration", "C1 Cache Instance"];
/// CCF's storage usage types, all counted as SSD.
const STORAGE_USAGE_TYPES: [&str; 34] = [
    "Data Stored",
    "Metadata",
    "Registry Unit",
    "ZRS",
    "LRS",
    "GRS",
    "GZRS",
    "Data Retention",
    "Pay-as-you-go Data at Rest",
    "Standard Instances",
    "Node",
    "10 DTUs",
    "S0 DTUs",
    "B DTUs",
    "B DTU",
    "eDTUs",
    "On Premises Server Protected Instances",
    "Standard Trial Nodes",
    "Azure VM Protected Instances",
    "Standard User",
    "Multi-step Web Test",
    "S0 Secondary Active DTUs",
    "Resource Monitored at 5 Minute Frequency",
    "VM Replicated to Azure",
    "Basic User",
    "Standard Nodes",
    "Microsoft-hosted CI",
    "Data Processing Unit",
    "Pay as you go Warm Storage",
    "Standard Unit",
    "SSD",
    "Premium",
    "Snapshots",
    "Ultra",
];
/// CCF's egress meters.
const NETWORK_METERS: [&str; 5] = [
    "Geo-Replication Data transfer",
    "Data Transfer Out",
    "Egress",
    "Geo-Replication v2 Data transfer",
    "Data Processed - Egress",
];
/// The units CCF's Azure code knows (exact strings); other units are unknown with the quirks.
const CCF_UNITS: [&str; 24] = [
    "1 Hour",
    "10 Hour",
    "10 Hours",
    "100 Hour",
    "100 Hours",
    "1000 Hour",
    "1000 Hours",
    "1 /Month",
    "100 /Month",
    "1 GB/Month",
    "10 GB/Month",
    "100 GB/Month",
    "10 /Day",
    "30 /Day",
    "1 TB/Month",
    "1 GB",
    "1 TB",
    "10 GB",
    "100 GB",
    "200 GB",
    "1 GB Second",
    "50000 GB Seconds",
    "1 GB Hour",
    "1000 GB Hours",
];

/// 2^30 bytes in GB (10^9 bytes).
const GB_PER_GIB: f64 = 1.073_741_824;
/// Seconds per hour.
const SECONDS_PER_HOUR: f64 = 3600.0;
/// Hours per day.
const HOURS_PER_DAY: f64 = 24.0;
/// GB per TB.
const GB_PER_TB: f64 = 1000.0;

/// What one row classifies as, with its physical quantities.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Classified {
    pub class: Option<UsageClass>,
    /// Set exactly when the class is `excluded`.
    pub reason: Option<String>,
    pub instance_type: Option<String>,
    pub gpu_model: Option<String>,
    pub vcpu_hours: f64,
    pub gpu_hours: f64,
    pub memory_gb_hours: f64,
    pub storage_tb_hours: f64,
    pub network_gb: f64,
    /// The unit of measure is not in `PricingUnits.csv`.
    pub unit_not_in_table: bool,
}

impl Classified {
    fn of(class: UsageClass) -> Self {
        Classified {
            class: Some(class),
            ..Classified::default()
        }
    }

    fn excluded(reason: impl Into<String>) -> Self {
        Classified {
            class: Some(UsageClass::Excluded),
            reason: Some(reason.into()),
            ..Classified::default()
        }
    }
}

/// The strings and numbers of a row that decide its class.
#[derive(Debug, Clone, Default)]
pub struct RowFacts<'a> {
    pub charge_type: &'a str,
    pub pricing_model: &'a str,
    pub consumed_service: &'a str,
    pub reservation_id: &'a str,
    pub benefit_id: &'a str,
    pub meter_category: &'a str,
    pub meter_sub_category: &'a str,
    pub meter_name: &'a str,
    pub unit_of_measure: &'a str,
    pub quantity: f64,
    /// Days in the calendar month of the row's date.
    pub days_in_month: f64,
}

fn word_set(words: &[&str]) -> RegexSet {
    RegexSet::new(words.iter().map(|w| format!(r"\b{}\b", regex::escape(w))))
        .expect("word patterns compile")
}

/// Classifies rows; built once per source.
pub struct Classifier {
    factors: Arc<FactorSet>,
    lookups: Lookups,
    ccf_quirks: bool,
    unsupported: RegexSet,
    unknown_categories: RegexSet,
    unknown_meters: RegexSet,
    memory_meters: RegexSet,
    storage_types: RegexSet,
    network_meters: RegexSet,
    disk_tier: Regex,
    hdd: Regex,
    /// Lower-cased Azure VM size → the factor set's spelling (`b1ms` → `B1ms`).
    sizes: HashMap<String, String>,
    /// What the word lists say of each (meter category, subcategory, meter name).
    meters: HashMap<String, Arc<MeterFacts>>,
    /// The key of the row being classified: category, subcategory, meter, `\u{1f}`-ended.
    key_buffer: String,
    /// `AdditionalInfo.ServiceType` → the factor set's VM size.
    service_types: HashMap<String, Option<Arc<str>>>,
}

/// What the word lists and tables say of one meter, computed once per distinct meter.
#[derive(Debug, Clone, Default)]
struct MeterFacts {
    /// CCF's unsupported words in the meter name.
    unsupported: bool,
    /// CCF's unknown categories or meter names.
    unknown_listed: bool,
    /// CCF's memory meters (hour units).
    memory_meter: bool,
    /// The vCores of a `vCore` meter.
    vcores: Option<f64>,
    /// The factor set's VM size named by the meter (`D2 v3/D2s v3` → `D2 v3`).
    meter_size: Option<Arc<str>>,
    /// Storage media named by the subcategory or meter.
    media: Option<DiskMedia>,
    /// The managed-disk tier's size (GiB) and media.
    disk: Option<(f64, DiskMedia)>,
    /// CCF's egress meters, not `To Any`.
    egress: bool,
}

impl Classifier {
    pub fn new(factors: Arc<FactorSet>, ccf_quirks: bool) -> Classifier {
        let lookups = Lookups::embedded();
        let mut tiers: Vec<&str> = lookups.disk_tiers().collect();
        tiers.sort_by_key(|t| std::cmp::Reverse(t.len()));
        let disk_tier = Regex::new(&format!(r"\b({})\b", tiers.join("|"))).expect("tier regex");
        let mut sizes = HashMap::new();
        for i in factors.instances("azure") {
            sizes
                .entry(i.instance_type.to_lowercase())
                .or_insert_with(|| i.instance_type.clone());
        }
        Classifier {
            sizes,
            meters: HashMap::new(),
            key_buffer: String::new(),
            service_types: HashMap::new(),
            factors,
            ccf_quirks,
            unsupported: word_set(&UNSUPPORTED_METERS),
            unknown_categories: word_set(&UNKNOWN_CATEGORIES),
            unknown_meters: word_set(&UNKNOWN_METERS),
            memory_meters: word_set(&MEMORY_METERS),
            storage_types: word_set(&STORAGE_USAGE_TYPES),
            network_meters: word_set(&NETWORK_METERS),
            disk_tier,
            hdd: Regex::new(r"\b(HDD|Standard HDD)\b").expect("hdd regex"),
            lookups,
        }
    }

    pub fn lookups(&self) -> &Lookups {
        &self.lookups
    }

    /// The facts of the row's meter (cached).
    fn meter_facts(&mut self, row: &RowFacts<'_>) -> Arc<MeterFacts> {
        let (category, sub, meter) = (
            row.meter_category.trim(),
            row.meter_sub_category.trim(),
            row.meter_name.trim(),
        );
        self.key_buffer.clear();
        for part in [category, sub, meter] {
            self.key_buffer.push_str(part);
            self.key_buffer.push('\u{1f}');
        }
        if let Some(found) = self.meters.get(self.key_buffer.as_str()) {
            return Arc::clone(found);
        }
        let text = format!("{sub} {meter}");
        let disk = self
            .disk_tier
            .find(&text)
            .and_then(|t| self.lookups.disk(t.as_str()));
        let media = disk.map(|d| d.1).or_else(|| {
            if self.hdd.is_match(&text) {
                Some(DiskMedia::Hdd)
            } else {
                self.storage_types.is_match(&text).then_some(DiskMedia::Ssd)
            }
        });
        let facts = Arc::new(MeterFacts {
            unsupported: self.unsupported.is_match(meter),
            unknown_listed: self.unknown_categories.is_match(category)
                || self.unknown_meters.is_match(meter),
            memory_meter: self.memory_meters.is_match(meter),
            vcores: vcores_of_meter(meter),
            meter_size: self
                .instance(&vm_size_of_meter(meter))
                .map(|i| Arc::from(i.instance_type.as_str())),
            media,
            disk,
            egress: self.network_meters.is_match(meter) && !meter.contains("To Any"),
        });
        self.meters
            .insert(self.key_buffer.clone(), Arc::clone(&facts));
        facts
    }

    /// The factor set's VM size of an `AdditionalInfo.ServiceType` (cached).
    fn service_type_size(&mut self, service_type: &str) -> Option<Arc<str>> {
        if let Some(found) = self.service_types.get(service_type) {
            return found.clone();
        }
        let size = self
            .instance(&vm_size_of_service_type(service_type))
            .map(|i| Arc::from(i.instance_type.as_str()));
        self.service_types
            .insert(service_type.to_owned(), size.clone());
        size
    }

    /// Classifies one row.
    pub fn classify(&mut self, row: &RowFacts<'_>, info: &AdditionalInfo) -> Classified {
        if let Some(reason) = charge_exclusion(row) {
            return Classified::excluded(reason);
        }
        let meter = row.meter_name.trim();
        let facts = self.meter_facts(row);
        if facts.unsupported {
            return Classified::excluded(format!(
                "meter `{meter}` is not usage the method estimates (CCF's unsupported list)"
            ));
        }
        let unit_text = row.unit_of_measure.trim();
        let Some(unit) = self.lookups.unit(row.unit_of_measure) else {
            return Classified {
                unit_not_in_table: true,
                ..Classified::of(UsageClass::Unknown)
            };
        };
        if self.ccf_quirks && !CCF_UNITS.contains(&unit_text) {
            return Classified::of(UsageClass::Unknown);
        }
        if facts.unknown_listed {
            return Classified::of(UsageClass::Unknown);
        }
        let block = if self.ccf_quirks {
            1.0
        } else {
            unit.block_size
        };
        let amount = row.quantity * block;
        let distinct = unit.distinct.clone();
        let distinct = distinct.as_str();
        match distinct {
            "Hours" => {
                let size = info
                    .service_type
                    .as_deref()
                    .and_then(|st| self.service_type_size(st));
                self.compute(row, info, &facts, size, amount)
            }
            "GB/Month" | "GiB/Month" | "TB/Month" | "TiB/Month" | "GB/Day" | "GiB/Day"
            | "TB/Day" | "GB/Hour" | "GiB/Hour" | "TB/Hour" | "TiB/Hour" => {
                self.storage(row, &facts, amount, distinct)
            }
            "Units/Month" | "Units/Day" => self.disk(row, &facts, amount, distinct),
            "GB" | "GiB" | "TB" | "MB" => self.network(row, &facts, amount, distinct),
            "GB Hours" | "GB Seconds" | "GiB Hours" | "GiB Seconds" => {
                let gb = if distinct.starts_with("GiB") && !self.ccf_quirks {
                    GB_PER_GIB
                } else {
                    1.0
                };
                let per_hour = if distinct.ends_with("Seconds") {
                    1.0 / SECONDS_PER_HOUR
                } else {
                    1.0
                };
                Classified {
                    memory_gb_hours: amount * gb * per_hour,
                    ..Classified::of(UsageClass::Memory)
                }
            }
            _ => Classified::of(UsageClass::Unknown),
        }
    }

    /// The factor set's Azure VM size for `name` (exact, else case-insensitive).
    fn instance(&self, name: &str) -> Option<&Instance> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        self.factors.instance("azure", name).or_else(|| {
            let canonical = self.sizes.get(&name.to_lowercase())?;
            self.factors.instance("azure", canonical)
        })
    }

    fn compute(
        &self,
        row: &RowFacts<'_>,
        info: &AdditionalInfo,
        facts: &MeterFacts,
        service_type_size: Option<Arc<str>>,
        amount: f64,
    ) -> Classified {
        if facts.memory_meter {
            // Known shortcoming: CCF gives these meters a memory estimate from a VM size the
            // row does not carry; they are estimated by ratio here.
            return Classified::of(UsageClass::Unknown);
        }
        let instance = service_type_size
            .or_else(|| facts.meter_size.clone())
            .and_then(|name| self.factors.instance("azure", &name));
        // A vCore meter (`vCore`, `2 vCore`) is priced per vCore-hour of that many vCores:
        // its quantity counts hours and the meter the vCores (`AdditionalInfo.vCores` describes
        // the server, not the row's unit).
        let vcpus = facts
            .vcores
            .or(info.vcpus)
            .or_else(|| instance.map(|i| i.vcpus))
            .or_else(|| self.ccf_quirks.then_some(1.0));
        let Some(vcpus) = vcpus else {
            return Classified::of(UsageClass::Unknown);
        };
        let benefit = matches!(
            row.pricing_model.trim().to_ascii_lowercase().as_str(),
            "reservation" | "savingsplan" | "savings plan"
        );
        let hours = match info.consumed_quantity {
            Some(consumed) if benefit && !self.ccf_quirks => consumed,
            _ => amount,
        };
        let mut out = Classified {
            instance_type: instance.map(|i| i.instance_type.clone()),
            vcpu_hours: hours * vcpus,
            ..Classified::of(UsageClass::Compute)
        };
        if let Some(i) = instance {
            out.memory_gb_hours = hours * i.memory_gb;
            out.gpu_hours = hours * i.gpu_count;
            out.gpu_model = i.gpu_model.clone();
        }
        out
    }

    fn storage_class(media: DiskMedia, tb_hours: f64) -> Classified {
        let class = match media {
            DiskMedia::Ssd => UsageClass::StorageSsd,
            DiskMedia::Hdd => UsageClass::StorageHdd,
        };
        Classified {
            storage_tb_hours: tb_hours,
            ..Classified::of(class)
        }
    }

    fn no_media(&self, row: &RowFacts<'_>) -> Classified {
        if self.ccf_quirks {
            Classified::excluded(format!(
                "storage meter `{}` names no media CCF knows (CCF drops it)",
                row.meter_name.trim()
            ))
        } else {
            Classified::of(UsageClass::Unknown)
        }
    }

    fn storage(
        &self,
        row: &RowFacts<'_>,
        facts: &MeterFacts,
        amount: f64,
        distinct: &str,
    ) -> Classified {
        let Some(media) = facts.media else {
            return self.no_media(row);
        };
        let (size, per) = distinct.split_once('/').unwrap_or((distinct, "Month"));
        let gb = match (size, self.ccf_quirks) {
            ("TB", _) | ("TiB", true) => GB_PER_TB,
            ("TiB", false) => GB_PER_TB * GB_PER_GIB * 1024.0 / 1000.0,
            ("GiB", false) => GB_PER_GIB,
            _ => 1.0,
        };
        let hours = match (per, self.ccf_quirks) {
            // CCF: the quantity is held for the row's day.
            (_, true) => HOURS_PER_DAY,
            ("Month", false) => HOURS_PER_DAY * row.days_in_month,
            ("Day", false) => HOURS_PER_DAY,
            _ => 1.0,
        };
        Self::storage_class(media, amount * gb * hours / GB_PER_TB)
    }

    fn disk(
        &self,
        row: &RowFacts<'_>,
        facts: &MeterFacts,
        amount: f64,
        distinct: &str,
    ) -> Classified {
        let tier = facts.disk;
        let Some((gib, media)) = tier else {
            // A count of things per month or day (certificates, IPs, users): no quantity.
            return Classified::of(UsageClass::Unknown);
        };
        if self.ccf_quirks {
            // CCF: the tier's size held for one day, whatever the quantity.
            return Self::storage_class(media, gib * HOURS_PER_DAY / GB_PER_TB);
        }
        let hours = if distinct == "Units/Month" {
            HOURS_PER_DAY * row.days_in_month
        } else {
            HOURS_PER_DAY
        };
        Self::storage_class(media, amount * gib * GB_PER_GIB * hours / GB_PER_TB)
    }

    fn network(
        &self,
        row: &RowFacts<'_>,
        facts: &MeterFacts,
        amount: f64,
        distinct: &str,
    ) -> Classified {
        let meter = row.meter_name.trim();
        if !facts.egress {
            if self.ccf_quirks {
                return Classified::excluded(format!(
                    "data volume `{meter}` is not inter-region egress (CCF drops it)"
                ));
            }
            return Classified::of(UsageClass::Unknown);
        }
        let gb = match (distinct, self.ccf_quirks) {
            ("TB", _) => GB_PER_TB,
            ("GiB", false) => GB_PER_GIB,
            ("MB", _) => 1.0 / GB_PER_TB,
            _ => 1.0,
        };
        Classified {
            network_gb: amount * gb,
            ..Classified::of(UsageClass::Network)
        }
    }
}

/// The exclusion reason of a row whose charge type is not usage.
fn charge_exclusion(row: &RowFacts<'_>) -> Option<String> {
    let charge = row.charge_type.trim();
    let key = charge.to_ascii_lowercase().replace(' ', "");
    let model = row
        .pricing_model
        .trim()
        .to_ascii_lowercase()
        .replace(' ', "");
    let reservation = model == "reservation"
        || row
            .consumed_service
            .trim()
            .eq_ignore_ascii_case("Microsoft.Capacity")
        || !row.reservation_id.trim().is_empty();
    let savings_plan =
        model == "savingsplan" || row.benefit_id.to_ascii_lowercase().contains("savingsplan");
    let reason = match key.as_str() {
        "" | "usage" => return None,
        "purchase" if savings_plan => {
            "savings plan purchase: no usage of its own (the usage it pays for is on usage rows)"
        }
        "purchase" if reservation => {
            "reservation purchase: no usage of its own (the usage it pays for is on usage rows)"
        }
        "purchase" => "purchase (Marketplace or one-time charge): no physical usage",
        "refund" => "refund: no physical usage",
        "unusedreservation" => "unused reservation hours: paid, not used",
        "unusedsavingsplan" => "unused savings plan commitment: paid, not used",
        "roundingadjustment" => "rounding adjustment: no physical usage",
        "tax" => "tax: no physical usage",
        _ => return Some(format!("charge type `{charge}` is not usage")),
    };
    Some(reason.to_owned())
}

/// The vCores of a vCore meter: `2 vCore` → 2, `vCore` → 1; `None` for other meters.
fn vcores_of_meter(meter: &str) -> Option<f64> {
    let before = meter
        .strip_suffix("vCore")
        .or_else(|| meter.strip_suffix("vCores"))?;
    let before = before.trim();
    if before.is_empty() {
        return Some(1.0);
    }
    before.parse().ok().filter(|n: &f64| *n > 0.0)
}

/// `Standard_D2s_v3` → `D2s v3`; `Standard_B1ms` → `B1ms`.
pub fn vm_size_of_service_type(service_type: &str) -> String {
    let name = service_type.trim();
    let name = ["Standard_", "Basic_", "standard_", "basic_"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    name.replace('_', " ")
}

/// `D2 v2/DS2 v2` → `D2 v2`; `D4s v3 Spot` → `D4s v3`.
pub fn vm_size_of_meter(meter_name: &str) -> String {
    let first = meter_name.split('/').next().unwrap_or_default().trim();
    let first = first
        .strip_suffix(" Low Priority")
        .or_else(|| first.strip_suffix(" Spot"))
        .unwrap_or(first);
    first.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier(ccf: bool) -> Classifier {
        let name = if ccf { "ccf" } else { "default" };
        Classifier::new(Arc::new(FactorSet::embedded(name).unwrap()), ccf)
    }

    fn facts<'a>(category: &'a str, meter: &'a str, unit: &'a str, qty: f64) -> RowFacts<'a> {
        RowFacts {
            charge_type: "Usage",
            meter_category: category,
            meter_name: meter,
            unit_of_measure: unit,
            quantity: qty,
            days_in_month: 30.0,
            ..RowFacts::default()
        }
    }

    #[test]
    fn vm_sizes_from_service_type_and_meter() {
        assert_eq!(vcores_of_meter("2 vCore"), Some(2.0));
        assert_eq!(vcores_of_meter("vCore"), Some(1.0));
        assert_eq!(vcores_of_meter("B1s"), None);
        assert_eq!(vm_size_of_service_type("Standard_D2s_v3"), "D2s v3");
        assert_eq!(vm_size_of_meter("D2 v2/DS2 v2"), "D2 v2");
        assert_eq!(vm_size_of_meter("D4s v3 Spot"), "D4s v3");
    }

    #[test]
    fn block_sizes_multiply_compute_hours() {
        let mut c = classifier(false);
        let set = FactorSet::embedded("default").unwrap();
        let e4 = set.instance("azure", "E4 v3").unwrap();
        let row = facts("Virtual Machines", "E4 v3/E4s v3", "10 Hours", 3.0);
        let out = c.classify(&row, &AdditionalInfo::default());
        assert_eq!(out.class, Some(UsageClass::Compute));
        assert_eq!(out.vcpu_hours, 30.0 * e4.vcpus);
        assert_eq!(out.memory_gb_hours, 30.0 * e4.memory_gb);
        // CCF ignores the block size (ccf-methodology §1.1).
        let out = classifier(true).classify(&row, &AdditionalInfo::default());
        assert_eq!(out.vcpu_hours, 3.0 * e4.vcpus);
    }

    #[test]
    fn vcpus_from_additional_info_win() {
        let mut c = classifier(false);
        let info = AdditionalInfo {
            service_type: Some("Standard_DS2_v2".into()),
            vcpus: Some(2.0),
            consumed_quantity: Some(1.0),
        };
        let mut row = facts("Virtual Machines", "D2 v2/DS2 v2", "1 Hour", 8.0);
        row.pricing_model = "Reservation";
        let out = c.classify(&row, &info);
        assert_eq!(out.instance_type.as_deref(), Some("DS2 v2"));
        // Reservation-normalised quantity 8, consumed 1 hour.
        assert_eq!(out.vcpu_hours, 2.0);
    }

    #[test]
    fn storage_months_and_disks_become_tb_hours() {
        let mut c = classifier(false);
        let row = facts("Storage", "Hot LRS Data Stored", "1 GB/Month", 100.0);
        let out = c.classify(&row, &AdditionalInfo::default());
        assert_eq!(out.class, Some(UsageClass::StorageSsd));
        assert_eq!(out.storage_tb_hours, 100.0 * 24.0 * 30.0 / 1000.0);
        let row = facts("Storage", "S4 LRS Disk", "1/Month", 0.5);
        let out = c.classify(&row, &AdditionalInfo::default());
        assert_eq!(out.class, Some(UsageClass::StorageHdd));
        let tb = 0.5 * 32.0 * GB_PER_GIB * 24.0 * 30.0 / 1000.0;
        assert!((out.storage_tb_hours - tb).abs() < 1e-12);
    }

    #[test]
    fn egress_is_network_and_other_volumes_are_unknown() {
        let mut c = classifier(false);
        let row = facts("Bandwidth", "Standard Data Transfer Out", "100 GB", 2.0);
        let out = c.classify(&row, &AdditionalInfo::default());
        assert_eq!(
            (out.class, out.network_gb),
            (Some(UsageClass::Network), 200.0)
        );
        let row = facts("Log Analytics", "Data Ingestion", "1 GB", 2.0);
        let out = c.classify(&row, &AdditionalInfo::default());
        assert_eq!(out.class, Some(UsageClass::Unknown));
    }

    #[test]
    fn purchases_and_unknown_units() {
        let mut c = classifier(false);
        let mut row = facts("Virtual Machines", "B1s", "1 Hour", 1.0);
        row.charge_type = "Purchase";
        row.pricing_model = "Reservation";
        let out = c.classify(&row, &AdditionalInfo::default());
        assert_eq!(out.class, Some(UsageClass::Excluded));
        assert!(out.reason.unwrap().starts_with("reservation purchase"));
        let row = facts("Virtual Machines", "B1s", "7 Fortnights", 1.0);
        let out = c.classify(&row, &AdditionalInfo::default());
        assert_eq!(out.class, Some(UsageClass::Unknown));
        assert!(out.unit_not_in_table);
    }
}
