//! CCF's classification of a GCP billing export row (ccf-methodology §4.2 and §1.1–§1.4), made
//! deterministic and cached.
//!
//! Order, first match wins:
//! 1. `cost_type` other than `regular` (`tax`, `adjustment`, `rounding_error`, …) →
//!    `excluded`; an empty `cost_type` counts as `regular`;
//! 2. with the CCF quirks: a `usage.unit` CCF's query does not read (anything but
//!    `byte-seconds`, `seconds`, `bytes`, `requests`) → `excluded`;
//! 3. SKU description containing an UNSUPPORTED word (`Fee`, `Static Ip`, …) → `excluded`;
//! 4. without the CCF quirks: a `Commitment …` SKU (a committed-use fee) → `excluded`, the
//!    usage it pays for is billed on its own rows;
//! 5. without the CCF quirks: GKE Autopilot `Pod mCPU Requests` (`seconds`) → `compute`
//!    (milli-vCPU-seconds / 1000 / 3600) and `Pod Memory Requests` (`byte-seconds`) →
//!    `memory`; CCF has the / 1000 in its code but its unknown list catches both SKUs first;
//! 6. SKU description containing an UNKNOWN entry, service description containing an UNKNOWN
//!    service, unit `requests`, or an empty SKU description → `unknown` (estimated by ratio);
//! 7. by `usage.unit`:
//!    * `seconds`: a compute word (`Core`, `vCPU`, `CPU`, `Kubernetes Clusters`, `GPU`, `DCU`,
//!      …) → `gpu` if the SKU includes `GPU`, else `compute`; otherwise `unknown`;
//!    * `byte-seconds`: a memory word (`RAM`, `Ram`, `Memory`) and no compute word → `memory`;
//!      otherwise `storage_ssd` if the SKU includes `SSD`, else `storage_hdd`;
//!    * `bytes`: a networking word (`Egress`, `egress`, `data delivery`, `network traffic`,
//!      `Download`) → `network`, else `unknown`;
//!    * anything else → `unknown` (real usage in a unit the method has no quantity for).
//!
//! "Contains a word" is CCF's `containsAny`: an unescaped `\b<entry>\b` regex.
//!
//! Quantities, per unit of `usage.amount`:
//! * compute: vCPU-hours = vCPU-seconds / 3600 (the amount already counts vCPUs), × 3 for GKE
//!   cluster SKUs and × 14 for Cloud Composer environment SKUs (the factor set's
//!   `gcp_vcpus_per_gke_cluster` and `gcp_vcpus_per_cloud_composer_environment`), whose machine
//!   type is taken to be `e2-medium`; memory GB-hours 0 (GCP bills RAM on its own SKUs);
//! * gpu: GPU-hours = GPU-seconds / 3600;
//! * memory: GB-hours = byte-seconds / 2^30 / 3600, in **GiB**-hours in both methods (the
//!   0.000392 kWh/GB coefficient is per GB of DRAM module capacity, which is binary; CCF
//!   divides by 2^30 too);
//! * storage: TB-hours = byte-seconds / 10^12 / 3600 (decimal TB, the unit of the drive
//!   capacities the SSD and HDD coefficients are per); with the CCF quirks
//!   byte-seconds / 2^40 / 3600, TiB-hours, as CCF's `unitConversion.ts`;
//! * network: GB = bytes / 10^9; with the CCF quirks bytes / 2^30, as CCF.

use std::collections::HashMap;
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::UsageClass;
use regex::RegexSet;

use crate::lists::*;
use crate::processors::{PROVIDER, Processors};

/// Seconds per hour.
const SECONDS_PER_HOUR: f64 = 3600.0;
/// 2^30 bytes.
const GIB: f64 = 1_073_741_824.0;
/// 2^40 bytes.
const TIB: f64 = 1_099_511_627_776.0;
/// 10^9 bytes.
const GB: f64 = 1e9;
/// 10^12 bytes.
const TB: f64 = 1e12;

/// A quantity per unit of usage amount, `numerator / denominator`, kept apart so that
/// `amount × numerator / denominator` is exact where the arithmetic allows (3.6e15
/// byte-seconds / (10^12 × 3600) is 1 TB-hour, not 0.9999999999999999).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerAmount {
    pub numerator: f64,
    pub denominator: f64,
}

impl PerAmount {
    /// Nothing per unit of amount.
    pub const NONE: PerAmount = PerAmount {
        numerator: 0.0,
        denominator: 1.0,
    };

    fn new(numerator: f64, denominator: f64) -> Self {
        PerAmount {
            numerator,
            denominator,
        }
    }

    /// The quantity of `amount`.
    pub fn of(self, amount: f64) -> f64 {
        amount * self.numerator / self.denominator
    }
}

/// What a distinct combination of the deciding strings classifies as.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub class: UsageClass,
    /// Set exactly when `class` is `excluded`.
    pub reason: Option<String>,
    pub instance_type: Option<String>,
    /// `;`-separated architectures for a machine type the factor set does not list.
    pub cpu_architecture: Option<String>,
    pub gpu_model: Option<String>,
    /// vCPU-hours per unit of usage amount.
    pub vcpu_hours: PerAmount,
    /// GPU-hours per unit of usage amount.
    pub gpu_hours: PerAmount,
    /// Memory GB-hours (GiB-hours, see the module docs) per unit of usage amount.
    pub memory_gb_hours: PerAmount,
    /// Storage TB-hours per unit of usage amount.
    pub storage_tb_hours: PerAmount,
    /// Network GB per unit of usage amount.
    pub network_gb: PerAmount,
    /// The usage unit written instead of the bill's (CCF: `Unknown` for Secret Manager and
    /// Cloud KMS).
    pub unit_override: Option<&'static str>,
}

impl Classified {
    fn of(class: UsageClass) -> Self {
        Classified {
            class,
            reason: None,
            instance_type: None,
            cpu_architecture: None,
            gpu_model: None,
            vcpu_hours: PerAmount::NONE,
            gpu_hours: PerAmount::NONE,
            memory_gb_hours: PerAmount::NONE,
            storage_tb_hours: PerAmount::NONE,
            network_gb: PerAmount::NONE,
            unit_override: None,
        }
    }

    fn excluded(reason: impl Into<String>) -> Self {
        Classified {
            reason: Some(reason.into()),
            ..Classified::of(UsageClass::Excluded)
        }
    }
}

/// The strings that decide a row's class.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowKey<'a> {
    pub service: &'a str,
    pub sku: &'a str,
    pub unit: &'a str,
    pub cost_type: &'a str,
    /// The `compute.googleapis.com/machine_spec` system label.
    pub machine_type: &'a str,
}

/// `containsAny` lists compiled once.
struct Patterns {
    unsupported: RegexSet,
    unknown_usage: RegexSet,
    unknown_service: RegexSet,
    compute: RegexSet,
    memory: RegexSet,
    networking: RegexSet,
    composer: RegexSet,
}

fn contains_any(list: &[&str]) -> Result<RegexSet, regex::Error> {
    RegexSet::new(list.iter().map(|p| format!(r"\b{p}\b")))
}

/// Classifies rows, once per distinct [`RowKey`].
pub struct Classifier {
    factors: Arc<FactorSet>,
    ccf_quirks: bool,
    patterns: Patterns,
    processors: Processors,
    cache: HashMap<String, usize>,
    entries: Vec<Classified>,
    key_buffer: String,
}

impl Classifier {
    pub fn new(factors: Arc<FactorSet>, ccf_quirks: bool) -> Result<Self, regex::Error> {
        let patterns = Patterns {
            unsupported: contains_any(&UNSUPPORTED_USAGE_TYPES)?,
            unknown_usage: contains_any(&UNKNOWN_USAGE_TYPES)?,
            unknown_service: contains_any(&UNKNOWN_SERVICE_TYPES)?,
            compute: contains_any(&COMPUTE_USAGE_TYPES)?,
            memory: contains_any(&MEMORY_USAGE_TYPES)?,
            networking: contains_any(&NETWORKING_USAGE_TYPES)?,
            composer: contains_any(&COMPOSER_USAGE_TYPES)?,
        };
        let processors = Processors::new(&factors, ccf_quirks)?;
        Ok(Classifier {
            factors,
            ccf_quirks,
            patterns,
            processors,
            cache: HashMap::new(),
            entries: Vec::new(),
            key_buffer: String::new(),
        })
    }

    /// The classification of `key`, computed on first sight and cached.
    pub fn classify(&mut self, key: &RowKey<'_>) -> &Classified {
        self.key_buffer.clear();
        for part in [
            key.service,
            key.sku,
            key.unit,
            key.cost_type,
            key.machine_type,
        ] {
            self.key_buffer.push_str(part);
            self.key_buffer.push('\u{1f}');
        }
        let index = match self.cache.get(self.key_buffer.as_str()) {
            Some(index) => *index,
            None => {
                let classified = self.compute(key);
                self.entries.push(classified);
                let index = self.entries.len() - 1;
                self.cache.insert(self.key_buffer.clone(), index);
                index
            }
        };
        &self.entries[index]
    }

    fn compute(&self, key: &RowKey<'_>) -> Classified {
        let mut classified = self.classify_row(key);
        let service = key.service.trim();
        let excluded = classified.class == UsageClass::Excluded;
        if self.ccf_quirks && !excluded && UNKNOWN_UNIT_SERVICES.contains(&service) {
            classified.unit_override = Some("Unknown");
        }
        classified
    }

    fn classify_row(&self, key: &RowKey<'_>) -> Classified {
        let p = &self.patterns;
        let cost_type = key.cost_type.trim();
        // CCF's query drops only `rounding_error`: its tax and adjustment rows with a usage
        // unit are classified like any other. carbonledger excludes every non-regular row.
        let ccf_keeps = self.ccf_quirks && !cost_type.eq_ignore_ascii_case("rounding_error");
        if !cost_type.is_empty() && !cost_type.eq_ignore_ascii_case("regular") && !ccf_keeps {
            return Classified::excluded(cost_type_reason(cost_type));
        }
        let (service, sku, unit) = (key.service.trim(), key.sku.trim(), key.unit.trim());
        if self.ccf_quirks && !QUERY_UNITS.contains(&unit) {
            let shown = if unit.is_empty() { "(empty)" } else { unit };
            return Classified::excluded(format!(
                "usage unit {shown} is not one CCF's query reads (byte-seconds, seconds, bytes, \
                 requests)"
            ));
        }
        if let Some(i) = p.unsupported.matches(sku).iter().next() {
            return Classified::excluded(format!(
                "SKU matches `{}` in CCF's unsupported list: a charge, not physical usage",
                UNSUPPORTED_USAGE_TYPES[i]
            ));
        }
        if !self.ccf_quirks && sku.starts_with("Commitment") {
            return Classified::excluded(
                "committed-use fee: the usage it pays for is billed on its own rows (CCF \
                 estimates it by ratio, counting that usage twice)",
            );
        }
        if !self.ccf_quirks && sku.contains(POD_MCPU_REQUESTS) && unit == "seconds" {
            return Classified {
                vcpu_hours: PerAmount::new(1.0, 1000.0 * SECONDS_PER_HOUR),
                ..Classified::of(UsageClass::Compute)
            };
        }
        if !self.ccf_quirks && sku.contains(POD_MEMORY_REQUESTS) && unit == "byte-seconds" {
            return Classified {
                memory_gb_hours: PerAmount::new(1.0, GIB * SECONDS_PER_HOUR),
                ..Classified::of(UsageClass::Memory)
            };
        }
        if p.unknown_usage.is_match(sku)
            || p.unknown_service.is_match(service)
            || unit == "requests"
            || sku.is_empty()
        {
            return Classified::of(UsageClass::Unknown);
        }
        let compute_word = p.compute.is_match(sku);
        match unit {
            "seconds" if compute_word && sku.contains("GPU") => self.gpu_row(key),
            "seconds" if compute_word => self.compute_row(key),
            "byte-seconds" if p.memory.is_match(sku) && !compute_word => Classified {
                memory_gb_hours: PerAmount::new(1.0, GIB * SECONDS_PER_HOUR),
                ..Classified::of(UsageClass::Memory)
            },
            "byte-seconds" => {
                let class = if sku.contains("SSD") {
                    UsageClass::StorageSsd
                } else {
                    UsageClass::StorageHdd
                };
                let bytes_per_tb = if self.ccf_quirks { TIB } else { TB };
                Classified {
                    storage_tb_hours: PerAmount::new(1.0, bytes_per_tb * SECONDS_PER_HOUR),
                    ..Classified::of(class)
                }
            }
            "bytes" if p.networking.is_match(sku) => {
                let bytes_per_gb = if self.ccf_quirks { GIB } else { GB };
                Classified {
                    network_gb: PerAmount::new(1.0, bytes_per_gb),
                    ..Classified::of(UsageClass::Network)
                }
            }
            _ => Classified::of(UsageClass::Unknown),
        }
    }

    /// A `seconds` row of vCPU-seconds (see the module docs).
    fn compute_row(&self, key: &RowKey<'_>) -> Classified {
        let c = &self.factors.coefficients;
        let sku = key.sku.trim();
        let (vcpus, forced) = if sku.contains(GKE_CLUSTERS) {
            (c.gcp_vcpus_per_gke_cluster, true)
        } else if self.patterns.composer.is_match(sku) {
            (c.gcp_vcpus_per_cloud_composer_environment, true)
        } else {
            (1.0, false)
        };
        let machine_type = if forced {
            GKE_COMPOSER_MACHINE_TYPE
        } else {
            key.machine_type.trim()
        };
        let listed = self.factors.instance(PROVIDER, machine_type).is_some();
        let cpu_architecture = if listed {
            None
        } else {
            self.processors.architecture(machine_type, sku)
        };
        Classified {
            instance_type: (!machine_type.is_empty()).then(|| machine_type.to_owned()),
            cpu_architecture,
            vcpu_hours: PerAmount::new(vcpus, SECONDS_PER_HOUR),
            ..Classified::of(UsageClass::Compute)
        }
    }

    /// A GPU SKU billed in GPU-seconds. With the CCF quirks the model is the one of CCF's six
    /// whose name starts the SKU (none: the estimator averages the six, as CCF); without them
    /// the factor set's GCP model named in the SKU, `Tesla` or not (`Nvidia Tesla T4 GPU` is
    /// `Nvidia T4`), else the SKU's words before `GPU`. The machine type is kept on the row
    /// without the quirks only (CCF never looks at it for a GPU SKU).
    fn gpu_row(&self, key: &RowKey<'_>) -> Classified {
        let sku = key.sku.trim();
        let gpu_model = if self.ccf_quirks {
            CCF_GPU_MODELS
                .iter()
                .find(|m| sku.starts_with(*m))
                .map(|m| (*m).to_owned())
        } else {
            self.named_gpu(sku)
        };
        let machine_type = key.machine_type.trim();
        let instance_type =
            (!self.ccf_quirks && !machine_type.is_empty()).then(|| machine_type.to_owned());
        Classified {
            instance_type,
            gpu_model,
            gpu_hours: PerAmount::new(1.0, SECONDS_PER_HOUR),
            ..Classified::of(UsageClass::Gpu)
        }
    }

    fn named_gpu(&self, sku: &str) -> Option<String> {
        let plain = |s: &str| s.replacen("Tesla ", "", 1);
        let sku_plain = plain(sku);
        let best = self
            .factors
            .gpu_models(PROVIDER)
            .into_iter()
            .map(|(model, _)| model)
            .filter(|model| {
                let m = plain(model);
                sku_plain
                    .strip_prefix(m.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
            })
            .max_by_key(|model| plain(model).len());
        if let Some(model) = best {
            return Some(model.to_owned());
        }
        let before = sku.split(" GPU").next().unwrap_or_default().trim();
        (!before.is_empty() && before != sku).then(|| before.to_owned())
    }
}

fn cost_type_reason(cost_type: &str) -> String {
    let why = match cost_type.to_ascii_lowercase().as_str() {
        "tax" => "a tax charge",
        "adjustment" => "a billing correction",
        "rounding_error" => "invoice rounding (CCF's query drops it)",
        _ => "not a regular usage charge",
    };
    format!("cost type {cost_type}: {why}, not physical usage")
}
