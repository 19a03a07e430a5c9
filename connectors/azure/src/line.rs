//! One Azure cost-details row by its canonical column names ([`AzureLine`]) and its conversion
//! to a usage row ([`LineConverter`]): classification, units, region and tags in one place, so
//! that every Azure path (export files here, Blob storage in `carbonledger-azure-cloud`, a
//! later Cost Management query, the FOCUS connector's Azure extension columns) produces the
//! same rows from the same facts.
//!
//! Units: `quantity` is in `unit_of_measure` as billed (`10 Hours`: one unit is ten hours);
//! `cost` is in `billing_currency`; times are microseconds since the epoch, UTC.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::{Location, UsageBatchBuilder, UsageClass, UsageRow};

use crate::classify::{Classifier, RowFacts};
use crate::columns::Field;
use crate::info::{AdditionalInfo, parse_object, tags_json};

/// The provider name in the usage rows.
pub const PROVIDER: &str = "azure";

/// Microseconds per day.
pub const DAY_US: i64 = 86_400_000_000;

/// A cost-details row, its fields named as in EA exports. Text fields are empty when the file
/// does not have the column.
#[derive(Clone, Default)]
pub struct AzureLine<'a> {
    /// `BillingAccountId` (EA enrolment or MCA billing account).
    pub billing_account_id: &'a str,
    /// `BillingProfileId`: the paying account when `BillingAccountId` is empty.
    pub billing_profile_id: &'a str,
    /// `SubscriptionId` (`SubscriptionGuid` in older files).
    pub subscription_id: &'a str,
    /// `Date` (`UsageDate`, `UsageDateTime`): start of the row's day, microseconds, UTC.
    pub date_us: i64,
    /// Days in the calendar month of `Date` (28 to 31).
    pub days_in_month: u32,
    pub meter_category: &'a str,
    pub meter_sub_category: &'a str,
    pub meter_name: &'a str,
    /// `MeterRegion`: a pricing region (`Virginia`, `CA Central`), the last resort for the
    /// region.
    pub meter_region: &'a str,
    /// `Quantity` in `unit_of_measure`.
    pub quantity: f64,
    /// `UnitOfMeasure`, as billed (`10 Hours`, `1 GB/Month`).
    pub unit_of_measure: &'a str,
    /// `Cost` (`CostInBillingCurrency`, `PreTaxCost`): the file's cost (actual or amortized).
    pub cost: f64,
    /// `BillingCurrency` (`BillingCurrencyCode`, `Currency`).
    pub billing_currency: &'a str,
    /// `ResourceLocation` (`EastUS`, `eastus`, `US East`).
    pub resource_location: &'a str,
    /// `Location` (MCA's normalised location, `US East`).
    pub location: &'a str,
    pub consumed_service: &'a str,
    pub resource_id: &'a str,
    /// `AdditionalInfo`: JSON text, with or without braces.
    pub additional_info: &'a str,
    /// `Tags`: JSON text, with or without braces.
    pub tags: &'a str,
    /// `ChargeType`: `Usage`, `Purchase`, `Refund`, `UnusedReservation`, … (empty: usage).
    pub charge_type: &'a str,
    pub pricing_model: &'a str,
    pub frequency: &'a str,
    pub reservation_id: &'a str,
    pub benefit_id: &'a str,
    /// The file, blob or request the row came from, and its line (header = 1).
    pub source: &'a str,
    pub source_line: Option<u64>,
    /// How the source names the `AdditionalInfo` and `Tags` columns (for warnings).
    pub column_names: Option<&'a dyn Fn(Field) -> String>,
}

/// How to convert rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AzureOptions {
    /// Reproduce CCF's arithmetic (`--method ccf`): block sizes ignored, 1 vCPU for unknown
    /// sizes, CCF's storage and disk conversions, CCF's unit list (see `classify`).
    pub ccf_quirks: bool,
}

/// `(ResourceLocation, Location, MeterRegion)` as written.
type LocationKey = (String, String, String);
/// The region id and the region note of a location.
type RegionFound = (Option<String>, Option<String>);

/// Most warnings of one kind kept as examples.
const WARNING_EXAMPLES: usize = 3;

/// Converts [`AzureLine`]s into usage rows and keeps what it noticed for the summary.
pub struct LineConverter {
    classifier: Classifier,
    regions: HashMap<LocationKey, RegionFound>,
    /// Units not in `PricingUnits.csv`: rows per unit (classified `unknown`).
    unknown_units: BTreeMap<String, u64>,
    /// Locations not in `Regions.csv`: rows per location (region null).
    unknown_locations: BTreeMap<String, u64>,
    /// Malformed `AdditionalInfo` / `Tags` texts: count and the first examples.
    malformed: u64,
    malformed_examples: Vec<String>,
}

impl LineConverter {
    pub fn new(factors: Arc<FactorSet>, options: AzureOptions) -> LineConverter {
        LineConverter {
            classifier: Classifier::new(factors, options.ccf_quirks),
            regions: HashMap::new(),
            unknown_units: BTreeMap::new(),
            unknown_locations: BTreeMap::new(),
            malformed: 0,
            malformed_examples: Vec::new(),
        }
    }

    /// Units of measure not in `PricingUnits.csv`, with their row counts.
    pub fn unknown_units(&self) -> &BTreeMap<String, u64> {
        &self.unknown_units
    }

    /// Locations not in `Regions.csv`, with their row counts.
    pub fn unknown_locations(&self) -> &BTreeMap<String, u64> {
        &self.unknown_locations
    }

    /// Lines for [`carbonledger_usage::UsageSource::summary`].
    pub fn summary(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let list = |m: &BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, n)| format!("`{k}` ({n} rows)"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.unknown_units.is_empty() {
            lines.push(format!(
                "Azure: units of measure not in PricingUnits.csv, estimated by ratio: {}",
                list(&self.unknown_units)
            ));
        }
        if !self.unknown_locations.is_empty() {
            lines.push(format!(
                "Azure: locations not in Regions.csv (region left empty, average grid factor): \
                 {}",
                list(&self.unknown_locations)
            ));
        }
        if self.malformed > 0 {
            lines.push(format!(
                "Azure: {} malformed AdditionalInfo/Tags values read as empty (rows kept): {}",
                self.malformed,
                self.malformed_examples.join("; ")
            ));
        }
        lines
    }

    fn object(
        &mut self,
        line: &AzureLine<'_>,
        field: Field,
        text: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        match parse_object(text) {
            Ok(map) => map,
            Err(message) => {
                self.malformed += 1;
                if self.malformed_examples.len() < WARNING_EXAMPLES {
                    let column = line
                        .column_names
                        .map_or_else(|| field.name().to_owned(), |f| f(field));
                    let mut at = Location::file(line.source).in_column(column);
                    at.line = line.source_line;
                    self.malformed_examples
                        .push(format!("{at}: not a JSON object ({message})"));
                }
                None
            }
        }
    }

    /// The region id and note of a row (cached per spelling).
    fn region(&mut self, line: &AzureLine<'_>) -> RegionFound {
        let key = (
            line.resource_location.trim().to_owned(),
            line.location.trim().to_owned(),
            line.meter_region.trim().to_owned(),
        );
        if let Some(found) = self.regions.get(&key) {
            return found.clone();
        }
        let lookups = self.classifier.lookups();
        let candidates = [
            (key.0.as_str(), None),
            (key.1.as_str(), Some("from Location")),
            (key.2.as_str(), Some("from MeterRegion")),
        ];
        let mut result = None;
        let mut unknown = None;
        for (text, how) in candidates {
            if text.is_empty() {
                continue;
            }
            match lookups.region(text) {
                Some(r) if r.id == "global" => {
                    result = Some((
                        None,
                        Some(format!(
                            "location `{text}` is global (Regions.csv: {})",
                            r.name
                        )),
                    ));
                }
                Some(r) => {
                    let note = how.map(|h| format!("{h} `{text}`"));
                    result = Some((Some(r.id.clone()), note));
                }
                None => {
                    unknown.get_or_insert(text.to_owned());
                    continue;
                }
            }
            break;
        }
        let found = match (result, unknown) {
            (Some(r), _) => r,
            (None, Some(text)) => (
                None,
                Some(format!("location `{text}` is not in Regions.csv")),
            ),
            (None, None) => (None, Some("no location in the row".to_owned())),
        };
        self.regions.insert(key, found.clone());
        found
    }

    /// Appends `line` to `builder` as one usage row.
    pub fn push(&mut self, line: &AzureLine<'_>, builder: &mut UsageBatchBuilder) {
        let info = self
            .object(line, Field::AdditionalInfo, line.additional_info)
            .map(|m| AdditionalInfo::of(&m))
            .unwrap_or_default();
        let tags = self
            .object(line, Field::Tags, line.tags)
            .map(|m| tags_json(&m))
            .unwrap_or_default();
        let facts = RowFacts {
            charge_type: line.charge_type,
            pricing_model: line.pricing_model,
            consumed_service: line.consumed_service,
            reservation_id: line.reservation_id,
            benefit_id: line.benefit_id,
            meter_category: line.meter_category,
            meter_sub_category: line.meter_sub_category,
            meter_name: line.meter_name,
            unit_of_measure: line.unit_of_measure,
            quantity: line.quantity,
            days_in_month: f64::from(line.days_in_month),
        };
        let class = self.classifier.classify(&facts, &info);
        if class.unit_not_in_table {
            *self
                .unknown_units
                .entry(line.unit_of_measure.trim().to_owned())
                .or_default() += 1;
        }
        let (region, region_note) = self.region(line);
        if region.is_none()
            && let Some(note) = &region_note
            && note.ends_with("is not in Regions.csv")
        {
            let text = [line.resource_location, line.location, line.meter_region]
                .into_iter()
                .map(str::trim)
                .find(|t| !t.is_empty())
                .unwrap_or_default();
            *self.unknown_locations.entry(text.to_owned()).or_default() += 1;
        }
        let charge_type = match line.charge_type.trim() {
            "" => "Usage",
            other => other,
        };
        let billing_account = match line.billing_account_id.trim() {
            "" => line.billing_profile_id.trim(),
            id => id,
        };
        builder.push(&UsageRow {
            period_start_us: line.date_us,
            period_end_us: line.date_us + DAY_US,
            provider: PROVIDER,
            billing_account,
            usage_account: line.subscription_id.trim(),
            service: line.meter_category.trim(),
            region: region.as_deref(),
            region_note: region_note.as_deref(),
            usage_type: line.meter_name.trim(),
            charge_type,
            usage_class: class.class.or(Some(UsageClass::Unknown)),
            exclusion_reason: class.reason.as_deref(),
            instance_type: class.instance_type.as_deref(),
            cpu_architecture: None,
            gpu_model: class.gpu_model.as_deref(),
            vcpu_hours: class.vcpu_hours,
            gpu_hours: class.gpu_hours,
            memory_gb_hours: class.memory_gb_hours,
            storage_tb_hours: class.storage_tb_hours,
            network_gb: class.network_gb,
            usage_amount: line.quantity,
            usage_unit: line.unit_of_measure.trim(),
            cost: line.cost,
            currency: line.billing_currency.trim(),
            tags: &tags,
            source: line.source,
            source_line: line.source_line,
        });
    }
}
