//! The generic classifier: usage rows of providers without a connector of their own here
//! (Oracle, SaaS publishers), and rows of AWS, GCP or Azure that lack the column their
//! connector's rules key on (`x_UsageType`, a SKU description, `x_SkuMeterCategory`),
//! classified from FOCUS columns alone: `ServiceCategory`, `ServiceSubcategory`,
//! `ConsumedUnit`, `ResourceType`, `SkuMeter` / `x_SkuMeterCategory` / `x_SkuMeterSubcategory`
//! and the VM size and vCPU count of `x_SkuDetails` / `SkuPriceDetails` where present. This is
//! coarser than the providers' CCF rules (no per-service lists of unknown and unsupported
//! meters).
//!
//! Rules, first match wins (text tests are on the lower-cased service name, subcategory,
//! resource type, meter and meter category and subcategory, and charge description):
//! 1. unit `vCPU-Hours` / `Core Hours` → `compute`, 1 vCPU-hour per unit;
//! 2. a time unit (hours, minutes, seconds, days) in a compute context (`ServiceCategory`
//!    `Compute`, or meter category / subcategory `Virtual Machines`) → `compute` with the vCPU
//!    count of the SKU details (`VCPUs`, `vCPUs`, `vCores`, `CoreCount`) or of the VM size
//!    (`ServiceType`, `VMSize`, `InstanceType`) in the factor set's instance table; memory
//!    and GPUs from the table when the size is listed; no vCPU count → `unknown`;
//! 3. GB-hours with `memory` or `ram` in the text → `memory`;
//! 4. GB-months or GB-hours of storage (`ServiceCategory` `Storage`, or storage words in the
//!    text) → `storage_ssd` (`ssd`, `premium`, `ultra`), `storage_hdd` (`hdd`, `standard`,
//!    `archive`, `cool`, `cold`, `blob`, `glacier`, or subcategory Object / Backup Storage), else
//!    `unknown` (media not stated);
//! 5. GB of data transfer → `network` when the text says inter-region, else `excluded` (CCF
//!    counts only transfer between data centres);
//! 6. anything else → `unknown` (estimated by ratio downstream).
//!
//! Units: `usage_amount` is `ConsumedQuantity` in `ConsumedUnit`; a leading block size
//! (`10 Hours`, `100 GB-Months`) multiplies it; GiB units are converted to GB (× 1.073741824);
//! storage TB-hours = GB-months × 24 × days in the month / 1000, or GB-hours / 1000.

use std::collections::HashMap;
use std::sync::Arc;

use carbonledger_factors::{FactorSet, Instance};
use carbonledger_usage::UsageClass;
use serde_json::Value;

/// Reason for GB of transfer that is not between regions.
pub const NOT_INTER_DC_TRANSFER: &str =
    "data transfer that is not between data centres (CCF counts only inter-region transfer)";

/// GB per GiB.
const GB_PER_GIB: f64 = 1.073_741_824;

/// What a `ConsumedUnit` measures, with the factor from one unit to the base quantity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnitKind {
    /// Hours per unit.
    Time(f64),
    /// vCPU-hours per unit.
    VcpuHours(f64),
    /// GB-months per unit.
    GbMonths(f64),
    /// GB-hours per unit.
    GbHours(f64),
    /// GB per unit.
    Gb(f64),
    Other,
}

/// Reads a FOCUS (or provider) unit string: `Hours`, `1 Hour`, `10 Hours`, `GB-Months`,
/// `GB Month`, `GiB-Hours`, `vCPU-Hours`, `GB`, `TB`.
pub fn unit_kind(unit: &str) -> UnitKind {
    let lower = unit.trim().to_ascii_lowercase();
    let (block, rest) = match lower.split_once(' ') {
        Some((n, rest)) if n.parse::<f64>().is_ok() => (n.parse::<f64>().unwrap_or(1.0), rest),
        _ => (1.0, lower.as_str()),
    };
    let rest = rest.trim().replace([' ', '/', '_'], "-");
    let base = match rest.as_str() {
        "hour" | "hours" | "hr" | "hrs" | "h" => UnitKind::Time(1.0),
        "minute" | "minutes" | "min" | "mins" => UnitKind::Time(1.0 / 60.0),
        "second" | "seconds" | "sec" | "secs" | "s" => UnitKind::Time(1.0 / 3600.0),
        "day" | "days" => UnitKind::Time(24.0),
        "vcpu-hour" | "vcpu-hours" | "vcpu-hrs" | "vcore-hour" | "vcore-hours" | "core-hour"
        | "core-hours" => UnitKind::VcpuHours(1.0),
        "gb-month" | "gb-months" | "gb-mo" | "gb-mos" => UnitKind::GbMonths(1.0),
        "gib-month" | "gib-months" | "gib-mo" => UnitKind::GbMonths(GB_PER_GIB),
        "tb-month" | "tb-months" | "tb-mo" => UnitKind::GbMonths(1000.0),
        "gb-hour" | "gb-hours" | "gb-hrs" => UnitKind::GbHours(1.0),
        "gib-hour" | "gib-hours" => UnitKind::GbHours(GB_PER_GIB),
        "gb" | "gigabyte" | "gigabytes" => UnitKind::Gb(1.0),
        "gib" | "gibibyte" | "gibibytes" => UnitKind::Gb(GB_PER_GIB),
        "tb" | "terabyte" | "terabytes" => UnitKind::Gb(1000.0),
        "mb" | "megabytes" => UnitKind::Gb(0.001),
        _ => UnitKind::Other,
    };
    match base {
        UnitKind::Time(f) => UnitKind::Time(f * block),
        UnitKind::VcpuHours(f) => UnitKind::VcpuHours(f * block),
        UnitKind::GbMonths(f) => UnitKind::GbMonths(f * block),
        UnitKind::GbHours(f) => UnitKind::GbHours(f * block),
        UnitKind::Gb(f) => UnitKind::Gb(f * block),
        UnitKind::Other => UnitKind::Other,
    }
}

/// The FOCUS facts the generic classifier looks at, as text (empty when null).
#[derive(Debug, Clone, Default)]
pub struct GenericKey<'a> {
    pub provider: &'a str,
    pub service_category: &'a str,
    pub service_subcategory: &'a str,
    pub service_name: &'a str,
    pub resource_type: &'a str,
    pub sku_meter: &'a str,
    pub meter_category: &'a str,
    pub meter_subcategory: &'a str,
    pub charge_description: &'a str,
    /// `x_SkuDetails` or `SkuPriceDetails`, JSON text.
    pub sku_details: &'a str,
    pub consumed_unit: &'a str,
}

/// How a storage row's amount becomes TB-hours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Storage {
    None,
    /// GB-months per unit (× 24 × days in the month / 1000 gives TB-hours).
    GbMonths(f64),
    /// GB-hours per unit (/ 1000 gives TB-hours).
    GbHours(f64),
}

/// The class of a row and its quantities per unit of `ConsumedQuantity`.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub class: UsageClass,
    pub reason: Option<&'static str>,
    pub instance_type: Option<String>,
    pub gpu_model: Option<String>,
    pub vcpu_hours: f64,
    pub gpu_hours: f64,
    pub memory_gb_hours: f64,
    pub storage: Storage,
    pub network_gb: f64,
}

impl Classified {
    fn of(class: UsageClass) -> Self {
        Classified {
            class,
            reason: None,
            instance_type: None,
            gpu_model: None,
            vcpu_hours: 0.0,
            gpu_hours: 0.0,
            memory_gb_hours: 0.0,
            storage: Storage::None,
            network_gb: 0.0,
        }
    }
}

/// Classifies rows by [`GenericKey`], caching per distinct key.
pub struct Classifier {
    factors: Arc<FactorSet>,
    cache: HashMap<String, Classified>,
    key: String,
}

impl Classifier {
    pub fn new(factors: Arc<FactorSet>) -> Self {
        Classifier {
            factors,
            cache: HashMap::new(),
            key: String::new(),
        }
    }

    pub fn classify(&mut self, k: &GenericKey<'_>) -> &Classified {
        self.key.clear();
        for part in [
            k.provider,
            k.service_category,
            k.service_subcategory,
            k.service_name,
            k.resource_type,
            k.sku_meter,
            k.meter_category,
            k.meter_subcategory,
            k.charge_description,
            k.sku_details,
            k.consumed_unit,
        ] {
            self.key.push_str(part);
            self.key.push('\u{1f}');
        }
        if !self.cache.contains_key(self.key.as_str()) {
            let classified = classify(&self.factors, k);
            self.cache.insert(self.key.clone(), classified);
        }
        &self.cache[self.key.as_str()]
    }
}

fn classify(factors: &FactorSet, k: &GenericKey<'_>) -> Classified {
    let text = [
        k.service_name,
        k.service_subcategory,
        k.resource_type,
        k.sku_meter,
        k.meter_category,
        k.meter_subcategory,
        k.charge_description,
    ]
    .join(" ")
    .to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let category = k.service_category.trim().to_ascii_lowercase();
    let sub = k.service_subcategory.trim().to_ascii_lowercase();
    let meter = format!("{} {}", k.meter_category, k.meter_subcategory).to_ascii_lowercase();
    let compute_context =
        category == "compute" || sub == "virtual machines" || meter.contains("virtual machines");
    match unit_kind(k.consumed_unit) {
        UnitKind::VcpuHours(f) => Classified {
            vcpu_hours: f,
            ..Classified::of(UsageClass::Compute)
        },
        UnitKind::Time(hours) if compute_context => compute(factors, k, hours),
        UnitKind::GbHours(f) if has(&["memory", " ram"]) => Classified {
            memory_gb_hours: f,
            ..Classified::of(UsageClass::Memory)
        },
        unit @ (UnitKind::GbMonths(_) | UnitKind::GbHours(_))
            if category == "storage"
                || has(&["storage", "disk", "snapshot", "blob", "volume", "backup"]) =>
        {
            let storage = match unit {
                UnitKind::GbMonths(f) => Storage::GbMonths(f),
                UnitKind::GbHours(f) => Storage::GbHours(f),
                _ => Storage::None,
            };
            let class = if has(&["ssd", "premium", "ultra"]) {
                UsageClass::StorageSsd
            } else if has(&[
                "hdd", "standard", "archive", "cool", "cold", "blob", "glacier",
            ]) || sub == "object storage"
                || sub == "backup storage"
            {
                UsageClass::StorageHdd
            } else {
                return Classified::of(UsageClass::Unknown);
            };
            Classified {
                storage,
                ..Classified::of(class)
            }
        }
        UnitKind::Gb(f)
            if category == "networking" || has(&["transfer", "egress", "bandwidth"]) =>
        {
            if has(&[
                "inter-region",
                "inter region",
                "interregion",
                "between regions",
            ]) {
                Classified {
                    network_gb: f,
                    ..Classified::of(UsageClass::Network)
                }
            } else {
                Classified {
                    reason: Some(NOT_INTER_DC_TRANSFER),
                    ..Classified::of(UsageClass::Excluded)
                }
            }
        }
        _ => Classified::of(UsageClass::Unknown),
    }
}

/// A compute row billed in time: vCPUs from the SKU details or the VM size.
fn compute(factors: &FactorSet, k: &GenericKey<'_>, hours: f64) -> Classified {
    let details = sku_details(k.sku_details);
    let size = details_text(
        &details,
        &["ServiceType", "VMSize", "VmSize", "InstanceType"],
    );
    let instance = size.as_deref().and_then(|s| lookup(factors, k.provider, s));
    let vcpus = details_number(&details, &["VCPUs", "vCPUs", "vCores", "CoreCount", "vCPU"])
        .or(instance.map(|i| i.vcpus))
        .filter(|v| *v > 0.0);
    let Some(vcpus) = vcpus else {
        return Classified::of(UsageClass::Unknown);
    };
    Classified {
        instance_type: instance.map(|i| i.instance_type.clone()).or(size),
        gpu_model: instance.and_then(|i| i.gpu_model.clone()),
        vcpu_hours: vcpus * hours,
        gpu_hours: instance.map_or(0.0, |i| i.gpu_count) * hours,
        memory_gb_hours: instance.map_or(0.0, |i| i.memory_gb) * hours,
        ..Classified::of(UsageClass::Compute)
    }
}

/// The VM size in the factor set's instance table: as written, then Azure's API spelling
/// (`Standard_D2s_v3`) in the table's (`D2s v3`).
fn lookup<'f>(factors: &'f FactorSet, provider: &str, size: &str) -> Option<&'f Instance> {
    if let Some(i) = factors.instance(provider, size) {
        return Some(i);
    }
    let bare = size
        .strip_prefix("Standard_")
        .or_else(|| size.strip_prefix("Basic_"))
        .unwrap_or(size);
    let spaced = bare.replace('_', " ");
    factors.instance(provider, &spaced)
}

fn sku_details(text: &str) -> serde_json::Map<String, Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

fn details_value<'v>(
    details: &'v serde_json::Map<String, Value>,
    keys: &[&str],
) -> Option<&'v Value> {
    keys.iter().find_map(|key| {
        details
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn details_text(details: &serde_json::Map<String, Value>, keys: &[&str]) -> Option<String> {
    match details_value(details, keys)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn details_number(details: &serde_json::Map<String, Value>, keys: &[&str]) -> Option<f64> {
    match details_value(details, keys)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn factors() -> Arc<FactorSet> {
        Arc::new(FactorSet::embedded("default").unwrap())
    }

    #[test]
    fn units_with_blocks_and_binary_prefixes() {
        assert_eq!(unit_kind("Hours"), UnitKind::Time(1.0));
        assert_eq!(unit_kind("10 Hours"), UnitKind::Time(10.0));
        assert_eq!(unit_kind("1 Hour"), UnitKind::Time(1.0));
        assert_eq!(unit_kind("GB-Months"), UnitKind::GbMonths(1.0));
        assert_eq!(unit_kind("1 GB/Month"), UnitKind::GbMonths(1.0));
        assert_eq!(unit_kind("GiB-Hours"), UnitKind::GbHours(GB_PER_GIB));
        assert_eq!(unit_kind("vCPU-Hours"), UnitKind::VcpuHours(1.0));
        assert_eq!(unit_kind("Requests"), UnitKind::Other);
    }

    #[test]
    fn an_azure_vm_gets_its_vcpus_from_the_sku_details() {
        let mut c = Classifier::new(factors());
        let key = GenericKey {
            provider: "azure",
            service_category: "Compute",
            meter_category: "Virtual Machines",
            sku_details: r#"{"ServiceType":"Standard_D2s_v3","VCPUs":2}"#,
            consumed_unit: "Hours",
            ..GenericKey::default()
        };
        let got = c.classify(&key).clone();
        assert_eq!(got.class, UsageClass::Compute);
        assert_eq!(got.vcpu_hours, 2.0);
        // D2s v3 is in the factor set's Azure table: 8 GB of memory per hour.
        assert_eq!(got.instance_type.as_deref(), Some("D2s v3"));
        assert_eq!(got.memory_gb_hours, 8.0);
        let without = GenericKey {
            sku_details: "",
            ..key
        };
        assert_eq!(c.classify(&without).class, UsageClass::Unknown);
    }

    #[test]
    fn storage_media_and_transfer() {
        let mut c = Classifier::new(factors());
        let disk = GenericKey {
            provider: "azure",
            service_category: "Storage",
            sku_meter: "P10 LRS Disk",
            meter_category: "Storage",
            meter_subcategory: "Premium SSD Managed Disks",
            consumed_unit: "GB-Months",
            ..GenericKey::default()
        };
        let got = c.classify(&disk).clone();
        assert_eq!(got.class, UsageClass::StorageSsd);
        assert_eq!(got.storage, Storage::GbMonths(1.0));
        let egress = GenericKey {
            service_category: "Networking",
            sku_meter: "Standard Data Transfer Out",
            consumed_unit: "GB",
            ..GenericKey::default()
        };
        assert_eq!(c.classify(&egress).class, UsageClass::Excluded);
        let inter = GenericKey {
            sku_meter: "Inter-Region Data Transfer Out",
            ..egress
        };
        assert_eq!(c.classify(&inter).network_gb, 1.0);
    }
}
