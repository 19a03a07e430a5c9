//! One billed line, described with the CUR's own fields, turned into a usage row: the
//! classification (`classify`), the region (`region`) and the unit conversions in one place,
//! so that every AWS source (CUR files, S3 exports, Cost Explorer groups) produces the same
//! rows from the same facts.
//!
//! Units: `amount` is the billed usage amount in `pricing_unit`; the row gets vCPU-hours,
//! GPU-hours, memory GB-hours, storage TB-hours (GB-months × 24 × days in the month / 1000, or
//! GB-hours / 1000) and network GB from it; `cost` is in `currency`.

use std::collections::HashMap;
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::{Location, SourceError, UsageBatchBuilder, UsageRow};

use crate::classify::{Classifier, LineKey, StorageUnit};
use crate::parse;
use crate::region::{RegionInfo, RegionResolver};

/// A billed line as the CUR names its fields. Text fields may be empty when the source does
/// not have them (Cost Explorer has no `product/vcpu`, no operation, no product region).
#[derive(Debug, Clone, Default)]
pub struct BilledLine<'a> {
    /// Usage period start and end (exclusive), microseconds since the Unix epoch, UTC.
    pub start_us: i64,
    pub end_us: i64,
    pub billing_account: &'a str,
    pub usage_account: &'a str,
    /// `lineItem/ProductCode` (`AmazonEC2`).
    pub product_code: &'a str,
    /// `lineItem/UsageType` (`USW2-BoxUsage:m5.xlarge`).
    pub usage_type: &'a str,
    /// `pricing/unit` (`Hrs`, `GB-Mo`).
    pub pricing_unit: &'a str,
    /// `lineItem/LineItemType` (`Usage`, `Tax`).
    pub line_item_type: &'a str,
    pub operation: &'a str,
    /// `product/vcpu`, as text.
    pub product_vcpu: &'a str,
    /// `product/instanceType`.
    pub product_instance_type: &'a str,
    /// The region columns in the order they are trusted (`product/region`, the CUR 2.0
    /// `product` map's region, `product/regionCode`); empty ones are skipped.
    pub product_regions: [&'a str; 3],
    /// `lineItem/UsageAmount`, in `pricing_unit`.
    pub amount: f64,
    pub cost: f64,
    pub currency: &'a str,
    /// Tags as a JSON object of strings; empty means `{}`.
    pub tags: &'a str,
    /// The file, object or request the line came from.
    pub source: &'a str,
    pub source_line: Option<u64>,
}

/// Classifies billed lines and appends them as usage rows; caches per distinct line shape.
pub struct LineConverter {
    classifier: Classifier,
    regions: RegionCache,
}

impl LineConverter {
    /// `ccf_quirks` selects Cloud Carbon Footprint's vCPU arithmetic (`--method ccf`).
    pub fn new(factors: Arc<FactorSet>, ccf_quirks: bool) -> Result<Self, SourceError> {
        let factor_error = |e: regex::Error| {
            SourceError::invalid(
                Location::file(format!("factor set {}", factors.label())),
                format!("a burstable instance type is not a valid pattern: {e}"),
            )
        };
        let classifier = Classifier::new(Arc::clone(&factors), ccf_quirks).map_err(factor_error)?;
        let regions = RegionResolver::new().map_err(factor_error)?;
        Ok(LineConverter {
            classifier,
            regions: RegionCache::new(regions),
        })
    }

    /// Appends `line` to `builder` as one usage row.
    pub fn push(&mut self, line: &BilledLine<'_>, builder: &mut UsageBatchBuilder) {
        let region = self.regions.resolve(
            line.product_code.trim(),
            &line.product_regions,
            line.usage_type.trim(),
        );
        let class = self.classifier.classify(&LineKey {
            product_code: line.product_code,
            usage_type: line.usage_type,
            pricing_unit: line.pricing_unit,
            line_item_type: line.line_item_type,
            product_vcpu: line.product_vcpu,
            product_instance_type: line.product_instance_type,
            operation: line.operation,
        });
        let amount = line.amount;
        let storage_tb_hours = match class.storage {
            StorageUnit::None => 0.0,
            StorageUnit::GbHours => amount / 1000.0,
            StorageUnit::GbMonths => amount * 24.0 * parse::days_in_month(line.start_us) / 1000.0,
        };
        builder.push(&UsageRow {
            period_start_us: line.start_us,
            period_end_us: line.end_us,
            provider: crate::classify::PROVIDER,
            billing_account: line.billing_account,
            usage_account: line.usage_account,
            service: line.product_code.trim(),
            region: region.region.as_deref(),
            region_note: region.note.as_deref(),
            usage_type: line.usage_type,
            charge_type: line.line_item_type.trim(),
            usage_class: Some(class.class),
            exclusion_reason: class.reason.as_deref(),
            instance_type: class.instance_type.as_deref(),
            cpu_architecture: class.cpu_architecture,
            gpu_model: class.gpu_model.as_deref(),
            vcpu_hours: amount * class.vcpu_hours_per_amount,
            gpu_hours: amount * class.gpu_hours_per_amount,
            memory_gb_hours: amount * class.memory_gb_hours_per_amount,
            storage_tb_hours,
            network_gb: amount * class.network_gb_per_amount,
            usage_amount: amount,
            usage_unit: line.pricing_unit,
            cost: line.cost,
            currency: line.currency,
            tags: line.tags,
            source: line.source,
            source_line: line.source_line,
        });
    }
}

/// Region resolution, once per distinct (product code, product regions, usage type).
struct RegionCache {
    resolver: RegionResolver,
    cache: HashMap<String, usize>,
    entries: Vec<RegionInfo>,
    key_buffer: String,
}

impl RegionCache {
    fn new(resolver: RegionResolver) -> Self {
        RegionCache {
            resolver,
            cache: HashMap::new(),
            entries: Vec::new(),
            key_buffer: String::new(),
        }
    }

    fn resolve(
        &mut self,
        product_code: &str,
        product_regions: &[&str],
        usage_type: &str,
    ) -> &RegionInfo {
        self.key_buffer.clear();
        for part in std::iter::once(product_code).chain(product_regions.iter().copied()) {
            self.key_buffer.push_str(part);
            self.key_buffer.push('\u{1f}');
        }
        self.key_buffer.push_str(usage_type);
        let index = match self.cache.get(self.key_buffer.as_str()) {
            Some(index) => *index,
            None => {
                self.entries.push(
                    self.resolver
                        .resolve(product_code, product_regions, usage_type),
                );
                self.cache
                    .insert(self.key_buffer.clone(), self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        &self.entries[index]
    }
}
