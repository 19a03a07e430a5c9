//! One GCP billing export row, described with the export's own fields, turned into a usage row:
//! the classification (`classify`), the region (`region`), the cost measure and the unit
//! conversions in one place, so that every GCP source (exported files, a BigQuery query)
//! produces the same rows from the same facts.
//!
//! Units: `usage_amount` is in `usage_unit` (`seconds`, `byte-seconds`, `bytes`, `requests`);
//! the row gets vCPU-hours, GPU-hours, memory GB-hours (GiB-hours), storage TB-hours and
//! network GB from it (see `classify` for the factors); `cost` and credits are in `currency`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::{Location, SourceError, UsageBatchBuilder, UsageRow};

use crate::GcpOptions;
use crate::classify::{Classifier, RowKey};
use crate::cost::{GcpCost, GcpCredit};
use crate::processors::PROVIDER;
use crate::region::{RegionInfo, RegionResolver};

/// The system label holding a VM's machine type.
pub const MACHINE_SPEC_LABEL: &str = "compute.googleapis.com/machine_spec";
/// The system label holding a VM's vCPU count.
pub const CORES_LABEL: &str = "compute.googleapis.com/cores";
/// The system label holding a VM's memory (MiB in public examples; not used for estimates).
pub const MEMORY_LABEL: &str = "compute.googleapis.com/memory";

/// The system labels the connector reads, as text (empty when absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemLabels<'a> {
    /// `compute.googleapis.com/machine_spec` (`n2-standard-4`).
    pub machine_spec: &'a str,
    /// `compute.googleapis.com/cores` (`4`).
    pub cores: &'a str,
    /// `compute.googleapis.com/memory` (`16384`).
    pub memory: &'a str,
}

impl<'a> SystemLabels<'a> {
    /// The labels among `pairs` (`(key, value)` of the repeated `system_labels` field).
    pub fn from_pairs(pairs: &'a [(String, String)]) -> Self {
        let mut labels = SystemLabels::default();
        for (key, value) in pairs {
            match key.as_str() {
                MACHINE_SPEC_LABEL => labels.machine_spec = value,
                CORES_LABEL => labels.cores = value,
                MEMORY_LABEL => labels.memory = value,
                _ => {}
            }
        }
        labels
    }
}

/// A billing export row as the export names its fields (standard and detailed tables). Text
/// fields are empty when the source does not have them.
#[derive(Debug, Clone, Default)]
pub struct GcpLine<'a> {
    /// `billing_account_id`.
    pub billing_account_id: &'a str,
    /// `service.id` (`6F81-5844-456A`) and `service.description` (`Compute Engine`).
    pub service_id: &'a str,
    pub service_description: &'a str,
    /// `sku.id` and `sku.description` (`N1 Predefined Instance Core running in Americas`).
    pub sku_id: &'a str,
    pub sku_description: &'a str,
    /// `usage_start_time` and `usage_end_time` (exclusive), microseconds since the epoch, UTC.
    pub usage_start_us: i64,
    pub usage_end_us: i64,
    /// `project.id` and `project.name`.
    pub project_id: &'a str,
    pub project_name: &'a str,
    /// `location.location` (`us-central1`, `us`, `global`), `location.region`,
    /// `location.zone`.
    pub location_location: &'a str,
    pub location_region: &'a str,
    pub location_zone: &'a str,
    /// `usage.amount` in `usage.unit` (`seconds`, `byte-seconds`, `bytes`, `requests`).
    pub usage_amount: f64,
    pub usage_unit: &'a str,
    /// `usage.amount_in_pricing_units` in `usage.pricing_unit` (`hour`, `gibibyte month`).
    pub usage_amount_in_pricing_units: f64,
    pub usage_pricing_unit: &'a str,
    /// `cost`: the charge before credits, in `currency`.
    pub cost: f64,
    pub currency: &'a str,
    /// The repeated `credits` field.
    pub credits: &'a [GcpCredit],
    /// `cost_type`: `regular`, `tax`, `adjustment`, `rounding_error`.
    pub cost_type: &'a str,
    /// The repeated `labels` field (user labels), as `(key, value)`.
    pub labels: &'a [(String, String)],
    /// The machine type, cores and memory among the repeated `system_labels`.
    pub system_labels: SystemLabels<'a>,
    /// `export_time`, microseconds since the epoch, UTC.
    pub export_time_us: Option<i64>,
    /// `invoice.month` (`202401`, Pacific time).
    pub invoice_month: &'a str,
    /// The file, object or request the row came from.
    pub source: &'a str,
    pub source_line: Option<u64>,
}

/// Classifies export rows and appends them as usage rows; caches per distinct row shape.
pub struct LineConverter {
    classifier: Classifier,
    regions: RegionCache,
    cost: GcpCost,
}

impl LineConverter {
    /// `options.ccf_quirks` selects CCF's arithmetic (`--method ccf`); `options.cost` the
    /// cost measure of the rows.
    pub fn new(factors: Arc<FactorSet>, options: GcpOptions) -> Result<Self, SourceError> {
        let factor_error = |e: regex::Error| {
            SourceError::invalid(
                Location::file(format!("factor set {}", factors.label())),
                format!("a classification pattern does not compile: {e}"),
            )
        };
        let classifier =
            Classifier::new(Arc::clone(&factors), options.ccf_quirks).map_err(factor_error)?;
        let regions = RegionResolver::new().map_err(factor_error)?;
        Ok(LineConverter {
            classifier,
            regions: RegionCache {
                resolver: regions,
                cache: HashMap::new(),
                key_buffer: String::new(),
            },
            cost: options.cost,
        })
    }

    /// The cost measure of the rows.
    pub fn cost_measure(&self) -> GcpCost {
        self.cost
    }

    /// The row's cost in the chosen measure.
    pub fn cost_of(&self, line: &GcpLine<'_>) -> f64 {
        self.cost.of(line.cost, line.credits)
    }

    /// Appends `line` to `builder` as one usage row.
    pub fn push(&mut self, line: &GcpLine<'_>, builder: &mut UsageBatchBuilder) {
        let region = self.regions.resolve(line);
        let class = self.classifier.classify(&RowKey {
            service: line.service_description,
            sku: line.sku_description,
            unit: line.usage_unit,
            cost_type: line.cost_type,
            machine_type: line.system_labels.machine_spec,
        });
        let amount = line.usage_amount;
        let tags = tags_json(line.labels);
        let charge_type = match line.cost_type.trim() {
            "" => "regular",
            other => other,
        };
        builder.push(&UsageRow {
            period_start_us: line.usage_start_us,
            period_end_us: line.usage_end_us,
            provider: PROVIDER,
            billing_account: line.billing_account_id.trim(),
            usage_account: line.project_id.trim(),
            service: line.service_description.trim(),
            region: region.region.as_deref(),
            region_note: region.note.as_deref(),
            usage_type: line.sku_description,
            charge_type,
            usage_class: Some(class.class),
            exclusion_reason: class.reason.as_deref(),
            instance_type: class.instance_type.as_deref(),
            cpu_architecture: class.cpu_architecture.as_deref(),
            gpu_model: class.gpu_model.as_deref(),
            vcpu_hours: class.vcpu_hours.of(amount),
            gpu_hours: class.gpu_hours.of(amount),
            memory_gb_hours: class.memory_gb_hours.of(amount),
            storage_tb_hours: class.storage_tb_hours.of(amount),
            network_gb: class.network_gb.of(amount),
            usage_amount: amount,
            usage_unit: class.unit_override.unwrap_or(line.usage_unit.trim()),
            cost: self.cost.of(line.cost, line.credits),
            currency: line.currency.trim(),
            tags: &tags,
            source: line.source,
            source_line: line.source_line,
        });
    }
}

/// Region resolution, once per distinct (location, region, zone).
struct RegionCache {
    resolver: RegionResolver,
    cache: HashMap<String, RegionInfo>,
    key_buffer: String,
}

impl RegionCache {
    fn resolve(&mut self, line: &GcpLine<'_>) -> &RegionInfo {
        self.key_buffer.clear();
        for part in [
            line.location_location,
            line.location_region,
            line.location_zone,
        ] {
            self.key_buffer.push_str(part);
            self.key_buffer.push('\u{1f}');
        }
        if !self.cache.contains_key(self.key_buffer.as_str()) {
            let info = self.resolver.resolve(
                line.location_location,
                line.location_region,
                line.location_zone,
            );
            self.cache.insert(self.key_buffer.clone(), info);
        }
        &self.cache[self.key_buffer.as_str()]
    }
}

/// User labels as a JSON object with sorted keys (a later duplicate key wins); empty when
/// there are none. Empty values are kept: a GCP label may be a bare key.
fn tags_json(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let tags: BTreeMap<&str, &str> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    serde_json::to_string(&tags).unwrap_or_default()
}
