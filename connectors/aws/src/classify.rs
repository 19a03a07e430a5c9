//! CCF's AWS classification of a CUR line (ccf-methodology §4.1 and §1.1–§1.4), made
//! deterministic and cached.
//!
//! Order, first match wins:
//! 1. line item type not `Usage` / `DiscountedUsage` / `SavingsPlanCoveredUsage` → `excluded`;
//! 2. operation `EKSPod-EC2` / `ECSTask-EC2` (split cost allocation) → `excluded`, double count;
//! 3. usage type ends with or includes an UNSUPPORTED entry → `excluded`;
//! 4. usage type ends with or includes an UNKNOWN entry, or the pricing unit is not one CCF
//!    knows → `unknown` (the estimator estimates it by ratio);
//! 5. by pricing unit:
//!    * compute units (`Hrs`, `Hours`, `hours`, `vCPU-Hours`, `DPU-Hour`, `ACU-Hr`) → `compute`
//!      with vCPU-hours per §1.1; when no vCPU count can be found, `unknown` (with the CCF
//!      quirks: `compute` with zero quantities);
//!    * storage units (`GB-Mo`, `GB-Month`, `GB-Mp`, `GB-month`, `GB-Hours`) → `storage_ssd` /
//!      `storage_hdd` by CCF's lists, or `excluded` when the media is unknown;
//!    * Lambda units (`seconds`, `Second`, `Lambda-GB-Second`) → `compute`, 1 vCPU per second;
//!    * `GB`, `GigaBytes` → `network` for CCF's transfer types outside CloudFront, else
//!      `excluded`.
//!
//! Before the tests, as CCF's row constructor does: a usage type ending in `xl` gets `arge`
//! appended (`db.r5.12xl` → `db.r5.12xlarge`), `Fargate-GB-Hours` lines get unit `GB-Hours`, and
//! Redshift lines billed in `seconds` are compute billed in hours (amount / 3600).
//!
//! Units of the per-amount factors: vCPU-hours, GPU-hours and memory GB-hours per unit of the
//! billed usage amount. Storage is converted per row (it needs the row's month).
//!
//! Where CCF's arithmetic has a unit slip, the physically right value is produced unless the
//! classifier is built with `ccf_quirks` (the `ccf` method), and the difference is documented in
//! the crate README. Without the quirks: Redshift node-hours are not divided by 3600, the
//! instance type used for the vCPU lookup has the `xl` → `xlarge` fix applied, and a compute line
//! with no vCPU count is `unknown` (estimated by ratio). With them, as CCF's `getVCpuHours`
//! (ccf-methodology §1.1, §10): the vCPU lookup uses the usage type as billed (`db.r5.12xl`
//! finds no vCPUs), Redshift table vCPUs are divided by 3600 and every vCPU count is per billed
//! unit (CCF computes vCPU-hours before it turns Redshift seconds into hours), and a line whose
//! vCPU count is missing (NaN in CCF) is `compute` with zero vCPU-, GPU- and memory-hours: CCF
//! gives it 0 kWh, memory and embodied included, and does not accumulate it for the ratio of
//! unknown usage (§5.1); the estimator recognises such a row by its 0 vCPU-hours and non-zero
//! amount. Memory, GPU and the instance type shown always use the fixed name, as in CCF. In
//! both modes GB-month amounts of "byte-hour" usage types are converted as GB-months (the
//! estimator re-applies CCF's 2^40 division in `ccf` mode with
//! [`crate::is_byte_hours_usage_type`]).

use std::collections::HashMap;
use std::sync::Arc;

use carbonledger_factors::{FactorSet, Instance};
use carbonledger_usage::UsageClass;
use regex::{Regex, RegexSet};

use crate::lists::*;

/// Reason on GB lines that CCF does not count as networking.
const NOT_INTER_DC_TRANSFER: &str =
    "data transfer that is not between data centres (CCF counts only inter-region transfer)";

/// The prefix stripped from the last `:` segment of a usage type to get its instance type
/// (also used by the SQL form of the method).
pub const INSTANCE_PREFIX_PATTERN: &str = r"^((db|cache|dax|dms|ml|mq|KernelGateway-ml|.+Kafka)\.)";
/// What a parsed instance type must look like to be shown as the row's instance type.
pub const INSTANCE_SHAPE_PATTERN: &str = r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$";

/// The factor tables' provider id for AWS.
pub const PROVIDER: &str = "aws";

/// How a storage row's amount becomes TB-hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageUnit {
    /// Not a storage row.
    None,
    /// GB-hours: TB-hours = amount / 1000.
    GbHours,
    /// GB-months: TB-hours = amount × 24 × days in the month / 1000.
    GbMonths,
}

/// What a distinct combination of the deciding strings classifies as.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub class: UsageClass,
    /// Set exactly when `class` is `excluded`.
    pub reason: Option<String>,
    pub instance_type: Option<String>,
    pub cpu_architecture: Option<&'static str>,
    pub gpu_model: Option<String>,
    /// vCPU-hours per unit of usage amount.
    pub vcpu_hours_per_amount: f64,
    /// GPU-hours per unit of usage amount.
    pub gpu_hours_per_amount: f64,
    /// Memory GB-hours per unit of usage amount (instance memory × instance-hours).
    pub memory_gb_hours_per_amount: f64,
    pub storage: StorageUnit,
    /// Network GB per unit of usage amount.
    pub network_gb_per_amount: f64,
}

impl Classified {
    fn of(class: UsageClass) -> Self {
        Classified {
            class,
            reason: None,
            instance_type: None,
            cpu_architecture: None,
            gpu_model: None,
            vcpu_hours_per_amount: 0.0,
            gpu_hours_per_amount: 0.0,
            memory_gb_hours_per_amount: 0.0,
            storage: StorageUnit::None,
            network_gb_per_amount: 0.0,
        }
    }

    fn excluded(reason: impl Into<String>) -> Self {
        Classified {
            reason: Some(reason.into()),
            ..Classified::of(UsageClass::Excluded)
        }
    }
}

/// The strings that decide a line's class.
#[derive(Debug, Clone, Copy, Default)]
pub struct LineKey<'a> {
    pub product_code: &'a str,
    pub usage_type: &'a str,
    pub pricing_unit: &'a str,
    pub line_item_type: &'a str,
    /// `product/vcpu` (or CUR 2.0 `product['vcpu']`), as text.
    pub product_vcpu: &'a str,
    /// `product/instanceType`, as text.
    pub product_instance_type: &'a str,
    pub operation: &'a str,
}

/// Classifies lines, once per distinct [`LineKey`].
pub struct Classifier {
    factors: Arc<FactorSet>,
    /// Reproduce CCF's vCPU-hour arithmetic (see the module docs).
    ccf_quirks: bool,
    burstable: RegexSet,
    vcpu_hour_types: RegexSet,
    instance_prefix: Regex,
    instance_shape: Regex,
    cache: HashMap<String, usize>,
    entries: Vec<Classified>,
    key_buffer: String,
}

impl Classifier {
    /// Compiles CCF's `containsAny` patterns (unescaped `\b…\b` regexes, as CCF builds them)
    /// for the burstable types of `factors` and the vCPU-hour usage types. `ccf_quirks` selects
    /// CCF's vCPU-hour arithmetic (see the module docs).
    pub fn new(factors: Arc<FactorSet>, ccf_quirks: bool) -> Result<Self, regex::Error> {
        let mut burstable: Vec<&str> = factors.burstable_types(PROVIDER).collect();
        burstable.sort_unstable();
        let word = |p: &&str| format!(r"\b{p}\b");
        Ok(Classifier {
            burstable: RegexSet::new(burstable.iter().map(word))?,
            vcpu_hour_types: RegexSet::new(VCPU_HOUR_USAGE_TYPES.iter().map(word))?,
            instance_prefix: Regex::new(INSTANCE_PREFIX_PATTERN)?,
            instance_shape: Regex::new(INSTANCE_SHAPE_PATTERN)?,
            factors,
            ccf_quirks,
            cache: HashMap::new(),
            entries: Vec::new(),
            key_buffer: String::new(),
        })
    }

    /// The classification of `key`, computed on first sight and cached.
    pub fn classify(&mut self, key: &LineKey<'_>) -> &Classified {
        self.key_buffer.clear();
        for part in [
            key.product_code,
            key.usage_type,
            key.pricing_unit,
            key.line_item_type,
            key.product_vcpu,
            key.product_instance_type,
            key.operation,
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

    fn compute(&self, key: &LineKey<'_>) -> Classified {
        let line_type = key.line_item_type.trim();
        if !LINE_ITEM_TYPES.contains(&line_type) {
            let shown = if line_type.is_empty() {
                "(empty)"
            } else {
                line_type
            };
            return Classified::excluded(format!(
                "line item type {shown} carries no physical usage"
            ));
        }
        if SPLIT_COST_OPERATIONS.contains(&key.operation.trim()) {
            return Classified::excluded(format!(
                "split cost allocation line (operation {}) re-expresses EC2 instance usage \
                 already on the instance's own line; counting it would double count",
                key.operation.trim()
            ));
        }
        let service = key.product_code.trim();
        let raw_type = key.usage_type.trim();
        // CCF appends `arge` to usage types ending in `xl` before any test on them.
        let usage_type: String = if raw_type.ends_with("xl") {
            format!("{raw_type}arge")
        } else {
            raw_type.to_owned()
        };
        let redshift_seconds = service == "AmazonRedshift" && key.pricing_unit == "seconds";
        let unit = if usage_type.contains("Fargate-GB-Hours") {
            "GB-Hours"
        } else if redshift_seconds {
            "Hrs"
        } else {
            key.pricing_unit.trim()
        };
        if let Some(entry) = ends_with_or_includes(&UNSUPPORTED_USAGE_TYPES, &usage_type) {
            return Classified::excluded(unsupported_reason(entry));
        }
        let known_unit = COMPUTE_UNITS.contains(&unit)
            || STORAGE_UNITS.contains(&unit)
            || LAMBDA_UNITS.contains(&unit)
            || NETWORK_UNITS.contains(&unit);
        if ends_with_or_includes(&UNKNOWN_USAGE_TYPES, &usage_type).is_some() || !known_unit {
            return Classified::of(UsageClass::Unknown);
        }
        if COMPUTE_UNITS.contains(&unit) {
            let hours_per_amount = if redshift_seconds { 1.0 / 3600.0 } else { 1.0 };
            // CCF looks the vCPUs up before it appends `arge` (§1.1).
            let vcpu_usage_type = if self.ccf_quirks {
                raw_type
            } else {
                &usage_type
            };
            return self.compute_line(service, &usage_type, vcpu_usage_type, key, hours_per_amount);
        }
        if STORAGE_UNITS.contains(&unit) {
            let ssd = ends_with_any(&SSD_USAGE_TYPES, &usage_type)
                || (ends_with_any(&SSD_SERVICES, service) && !usage_type.contains("Backup"));
            let class = if ssd {
                UsageClass::StorageSsd
            } else if ends_with_any(&HDD_USAGE_TYPES, &usage_type) {
                UsageClass::StorageHdd
            } else {
                return Classified::excluded(
                    "storage usage type with unknown media (CCF skips it)",
                );
            };
            let storage = if unit == "GB-Hours" {
                StorageUnit::GbHours
            } else {
                StorageUnit::GbMonths
            };
            return Classified {
                storage,
                ..Classified::of(class)
            };
        }
        if LAMBDA_UNITS.contains(&unit) {
            let arm = usage_type.ends_with("-ARM");
            return Classified {
                vcpu_hours_per_amount: 1.0 / 3600.0,
                cpu_architecture: arm.then_some("AWS Graviton2"),
                ..Classified::of(UsageClass::Compute)
            };
        }
        // Networking units.
        if service == "AmazonCloudFront" {
            return Classified::excluded(
                "CloudFront delivery is not transfer between data centres (CCF leaves it out)",
            );
        }
        if ends_with_any(&NETWORKING_USAGE_TYPES, &usage_type) {
            return Classified {
                network_gb_per_amount: 1.0,
                ..Classified::of(UsageClass::Network)
            };
        }
        Classified::excluded(NOT_INTER_DC_TRANSFER)
    }

    /// A line billed per hour: vCPU-hours per §1.1, GPU-hours and memory from the instance.
    /// `usage_type` has CCF's `xl` fix; `vcpu_usage_type` is the one the vCPUs are looked up
    /// with (as billed with the CCF quirks, else `usage_type`).
    fn compute_line(
        &self,
        service: &str,
        usage_type: &str,
        vcpu_usage_type: &str,
        key: &LineKey<'_>,
        hours_per_amount: f64,
    ) -> Classified {
        let instance_type = self.parse_instance_type(usage_type);
        let instance = self.table_instance(usage_type, &instance_type);
        let product_vcpu = crate::parse::number(key.product_vcpu).filter(|v| *v > 0.0);
        let vcpus_per_amount = self.vcpus(service, vcpu_usage_type, product_vcpu);
        let shown_type = if self.instance_shape.is_match(&instance_type) {
            Some(instance_type.clone())
        } else {
            let product = key.product_instance_type.trim();
            let stripped = self.instance_prefix.replace(product, "");
            (!stripped.is_empty()).then(|| stripped.into_owned())
        };
        let Some(vcpus) = vcpus_per_amount.filter(|v| v.is_finite()) else {
            // CCF's vCPU-hours are NaN here: it returns 0 kWh for the whole row, memory and
            // embodied included, before the row is accumulated for the ratios.
            let class = if self.ccf_quirks {
                UsageClass::Compute
            } else {
                UsageClass::Unknown
            };
            return Classified {
                instance_type: shown_type,
                ..Classified::of(class)
            };
        };
        // CCF multiplies the vCPU count by the billed amount before it turns Redshift seconds
        // into hours.
        let vcpu_hours_per_amount = if self.ccf_quirks {
            vcpus
        } else {
            vcpus * hours_per_amount
        };
        let per_instance_hour = |x: f64| x * hours_per_amount;
        let gpu = instance.filter(|i| i.gpu_count > 0.0);
        Classified {
            instance_type: shown_type,
            vcpu_hours_per_amount,
            gpu_hours_per_amount: gpu.map_or(0.0, |i| per_instance_hour(i.gpu_count)),
            gpu_model: gpu.and_then(|i| i.gpu_model.clone()),
            memory_gb_hours_per_amount: instance.map_or(0.0, |i| per_instance_hour(i.memory_gb)),
            ..Classified::of(UsageClass::Compute)
        }
    }

    /// The factor set's instance of a usage type: MSK brokers are keyed `Kafka.<type>` (CCF's
    /// MSK_INSTANCE_TYPES), everything else by its instance type.
    fn table_instance(&self, usage_type: &str, instance_type: &str) -> Option<&Instance> {
        let msk = usage_type.contains("Kafka").then(|| {
            format!(
                "Kafka{}",
                usage_type.rsplit("Kafka").next().unwrap_or_default()
            )
        });
        msk.and_then(|key| self.factors.instance(PROVIDER, &key))
            .or_else(|| self.factors.instance(PROVIDER, instance_type))
    }

    /// vCPUs per unit of billed amount, per §1.1 (`None` when no count can be found). With the
    /// CCF quirks, a Redshift node's table vCPUs are divided by 3600.
    fn vcpus(&self, service: &str, usage_type: &str, product_vcpu: Option<f64>) -> Option<f64> {
        let instance_type = self.parse_instance_type(usage_type);
        let instance = self.table_instance(usage_type, &instance_type);
        let coefficients = &self.factors.coefficients;
        if service == "AWSGlue" {
            Some(coefficients.aws_glue_vcpus_per_dpu)
        } else if service == "AmazonSimpleDB" {
            Some(1.0)
        } else if usage_type.contains("Aurora:ServerlessUsage") {
            Some(coefficients.aws_aurora_serverless_vcpus_per_acu)
        } else if self.vcpu_hour_types.is_match(usage_type) {
            Some(1.0)
        } else if self.burstable.is_match(usage_type) {
            let vcpus = instance.map(|i| i.vcpus).or(product_vcpu);
            let baseline = self.factors.burstable_baseline(PROVIDER, &instance_type);
            match (vcpus, baseline) {
                (Some(vcpus), Some(baseline)) => {
                    Some(vcpus * baseline / coefficients.cpu_utilization_percent)
                }
                _ => None,
            }
        } else {
            // CCF: `REDSHIFT_INSTANCE_TYPES[family][size][0] / 3600` (after the MSK test).
            let redshift_slip =
                self.ccf_quirks && service == "AmazonRedshift" && !usage_type.contains("Kafka");
            let table = instance.map(|i| {
                if redshift_slip {
                    i.vcpus / 3600.0
                } else {
                    i.vcpus
                }
            });
            product_vcpu.or(table)
        }
    }

    /// CCF's instance type of a usage type: the part after the last `:`, without a leading
    /// `db.`, `cache.`, `dax.`, `dms.`, `ml.`, `mq.`, `KernelGateway-ml.` or `…Kafka.`
    /// (`USE1-BoxUsage:m5.xlarge` → `m5.xlarge`, `InstanceUsage:db.r5.large` → `r5.large`,
    /// `USE1-Kafka.m5.large` → `m5.large`).
    pub fn parse_instance_type(&self, usage_type: &str) -> String {
        let last = usage_type.rsplit(':').next().unwrap_or(usage_type);
        self.instance_prefix.replace(last, "").into_owned()
    }
}

fn unsupported_reason(entry: &str) -> String {
    let why = match entry {
        "Dollar" => "a dollar amount, not physical usage",
        "HostBoxUsage" => "CCF does not estimate instance usage on Dedicated Hosts",
        _ => "it re-expresses EC2 instance usage already on the instances' own lines",
    };
    format!("usage type matches `{entry}` in CCF's unsupported list: {why}")
}
