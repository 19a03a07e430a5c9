//! One FOCUS row turned into one usage row.
//!
//! First the charge itself decides (for every provider):
//!
//! * `ChargeClass` `Correction` → `excluded` (a correction of an earlier billing period: its
//!   usage, if any, was counted in that period's file);
//! * `ChargeCategory` `Purchase`, `Tax`, `Credit`, `Adjustment` → `excluded` with the category
//!   as reason (no physical usage);
//! * `Usage` with `CommitmentDiscountStatus` `Unused` → `excluded`: the unused part of a
//!   commitment, for which no resource ran (FOCUS leaves its `ConsumedQuantity` null); made
//!   `unknown` it would be given energy by ratio for capacity nobody used;
//! * `Usage` with a negative `BilledCost` → `excluded`: a discount or a Savings Plan negation
//!   that a CUR-to-FOCUS conversion kept as a usage row, with the usage type and amount of the
//!   usage it discounts (that usage has its own row);
//! * `Usage` without a `ConsumedQuantity` → `unknown` (estimated by ratio downstream).
//!
//! Then the remaining usage rows are classified by provider: AWS rows with an `x_UsageType`
//! as a `carbonledger_aws::BilledLine` through the AWS connector's `LineConverter`, Google
//! Cloud rows with a SKU description (`x_SkuDescription`, `SkuMeter` or `ChargeDescription`)
//! as a `carbonledger_gcp::GcpLine` through the GCP connector's, Azure rows with an
//! `x_SkuMeterCategory` as a `carbonledger_azure::AzureLine` through the Azure connector's,
//! everything else by `classify`.
//!
//! The row's `cost` is the chosen [`FocusCost`] column; every row's cost is added to the
//! input totals from the raw value before any of this.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_gcp::{GcpCost, GcpLine, GcpOptions};
use carbonledger_usage::{
    InputTotals, Location, SourceError, UsageBatchBuilder, UsageClass, UsageRow,
};

use crate::FocusCost;
use crate::classify::{Classifier, GenericKey, Storage};
use crate::columns::{COUNT, Col, ColumnMap};
use crate::values::{Cell, canonical, normalise_tags, parse_decimal, parse_time, tags_json};

/// The `ChargeCategory` values of FOCUS 1.0–1.2.
const CATEGORIES: [&str; 5] = ["Usage", "Purchase", "Tax", "Credit", "Adjustment"];

/// `currency` of rows of a partial file without `BillingCurrency` (ISO 4217: no currency).
pub const NO_CURRENCY: &str = "XXX";

/// One row of a file: its cells by [`Col`], where it is, and how the file names the columns.
pub struct RowView<'r, 'a> {
    pub cells: &'r [Cell<'a>; COUNT],
    pub columns: &'r ColumnMap,
    pub source: &'r str,
    pub line: u64,
}

impl RowView<'_, '_> {
    fn at(&self, col: Col) -> Location {
        Location::file(self.source)
            .at_line(self.line)
            .in_column(self.columns.shown(col))
    }

    /// The cell's text, empty when null; borrowed from the read buffers where it can be.
    fn text(&self, col: Col) -> Cow<'_, str> {
        self.cells[col as usize].text().unwrap_or(Cow::Borrowed(""))
    }

    fn number(&self, col: Col) -> Result<Option<f64>, SourceError> {
        match &self.cells[col as usize] {
            Cell::Number(n) => Ok(Some(*n)),
            cell => match cell.text() {
                None => Ok(None),
                Some(t) => parse_decimal(&t).map(Some).ok_or_else(|| {
                    SourceError::invalid(
                        self.at(col),
                        format!("`{t}` is not a number (FOCUS Numeric Format: `1234.5`)"),
                    )
                }),
            },
        }
    }

    fn time(&self, col: Col) -> Result<i64, SourceError> {
        match &self.cells[col as usize] {
            Cell::Time(us) => Ok(*us),
            cell => match cell.text() {
                None => Err(SourceError::invalid(
                    self.at(col),
                    format!("`{}` is null; FOCUS requires it on every row", col.name()),
                )),
                Some(t) => parse_time(&t).ok_or_else(|| {
                    SourceError::invalid(
                        self.at(col),
                        format!("`{t}` is not a date and time (FOCUS: `2024-01-31T00:00:00Z`)"),
                    )
                }),
            },
        }
    }
}

/// The provider id of the factor tables for a `ProviderName`.
pub fn provider_id(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    let squashed: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
    if squashed == "aws" || lower.contains("amazon") {
        "aws".into()
    } else if squashed == "gcp" || lower.contains("google") {
        "gcp".into()
    } else if lower.contains("microsoft") || lower.contains("azure") {
        "azure".into()
    } else if lower.is_empty() {
        "unknown".into()
    } else {
        lower
    }
}

/// Converts rows, with the provider converters and the generic classifier.
pub struct Converter {
    aws: carbonledger_aws::LineConverter,
    gcp: carbonledger_gcp::LineConverter,
    azure: carbonledger_azure::LineConverter,
    generic: Classifier,
    pub cost: FocusCost,
    /// Rows by (provider, how they were classified), for the summary.
    pub paths: BTreeMap<(String, &'static str), u64>,
}

impl Converter {
    pub fn new(
        factors: Arc<FactorSet>,
        cost: FocusCost,
        ccf_quirks: bool,
    ) -> Result<Self, SourceError> {
        let gcp_options = GcpOptions {
            // The FOCUS cost is passed as `cost` with no credits: the measure is applied here.
            cost: GcpCost::Gross,
            ccf_quirks,
        };
        Ok(Converter {
            aws: carbonledger_aws::LineConverter::new(Arc::clone(&factors), ccf_quirks)?,
            gcp: carbonledger_gcp::LineConverter::new(Arc::clone(&factors), gcp_options)?,
            azure: carbonledger_azure::LineConverter::new(
                Arc::clone(&factors),
                carbonledger_azure::AzureOptions { ccf_quirks },
            ),
            generic: Classifier::new(factors),
            cost,
            paths: BTreeMap::new(),
        })
    }

    /// Counts `row` in `totals` and appends it to `builder`.
    pub fn push(
        &mut self,
        row: &RowView<'_, '_>,
        builder: &mut UsageBatchBuilder,
        totals: &mut InputTotals,
    ) -> Result<(), SourceError> {
        let cost_col = self.cost.column();
        let cost = row.number(cost_col)?.ok_or_else(|| {
            SourceError::invalid(
                row.at(cost_col),
                format!(
                    "`{}` is null; FOCUS requires a cost on every row (choose another cost \
                     measure if this export leaves it empty)",
                    cost_col.name()
                ),
            )
        })?;
        let currency = match row.text(Col::BillingCurrency) {
            c if !c.is_empty() => c,
            _ if !row.columns.has(Col::BillingCurrency) => Cow::Borrowed(NO_CURRENCY),
            _ => {
                return Err(SourceError::invalid(
                    row.at(Col::BillingCurrency),
                    "`BillingCurrency` is null; FOCUS requires it on every row",
                ));
            }
        };
        totals.rows += 1;
        match totals.cost.get_mut(&*currency) {
            Some(sum) => *sum += cost,
            None => {
                totals.cost.insert(currency.to_string(), cost);
            }
        }

        let start = row.time(Col::ChargePeriodStart)?;
        let end = row.time(Col::ChargePeriodEnd)?;
        if end < start {
            return Err(SourceError::invalid(
                row.at(Col::ChargePeriodEnd),
                "the charge period ends before it starts (ChargePeriodEnd < ChargePeriodStart)",
            ));
        }
        let category_text = row.text(Col::ChargeCategory);
        let category = canonical(&category_text, &CATEGORIES).ok_or_else(|| {
            let shown = if category_text.is_empty() {
                "a null value".to_owned()
            } else {
                format!("`{category_text}`")
            };
            SourceError::invalid(
                row.at(Col::ChargeCategory),
                format!(
                    "{shown} is not a FOCUS charge category ({})",
                    CATEGORIES.join(", ")
                ),
            )
        })?;
        let class_text = row.text(Col::ChargeClass);
        let correction = match canonical(&class_text, &["Correction"]) {
            Some(_) => true,
            None if class_text.is_empty() => false,
            None => {
                return Err(SourceError::invalid(
                    row.at(Col::ChargeClass),
                    format!("`{class_text}` is not a FOCUS charge class (Correction or null)"),
                ));
            }
        };
        let status_text = row.text(Col::CommitmentDiscountStatus);
        let unused = match canonical(&status_text, &["Used", "Unused"]) {
            Some(s) => s == "Unused",
            None if status_text.is_empty() => false,
            None => {
                return Err(SourceError::invalid(
                    row.at(Col::CommitmentDiscountStatus),
                    format!(
                        "`{status_text}` is not a FOCUS commitment discount status (Used, \
                         Unused or null)"
                    ),
                ));
            }
        };
        let tags = match row.cells[Col::Tags as usize].text() {
            None => BTreeMap::new(),
            Some(t) => {
                normalise_tags(&t).map_err(|m| SourceError::invalid(row.at(Col::Tags), m))?
            }
        };
        let tags_text = tags_json(&tags);
        let quantity = row.number(Col::ConsumedQuantity)?;
        let billed = row.number(Col::BilledCost)?;
        // PricingQuantity is read only to reject a broken value; usage comes from
        // ConsumedQuantity.
        row.number(Col::PricingQuantity)?;

        let provider_name = row.text(Col::ProviderName);
        let provider = provider_id(&provider_name);
        // AWS rows carry the product code as their service (`AmazonEC2`), as the AWS
        // connector writes it, whatever their class; AWS's FOCUS export has it in
        // `x_ServiceCode` (its `ServiceName` is the long name).
        let service = if provider == "aws" {
            first_of(row, &[Col::XServiceCode, Col::ServiceName])
        } else {
            row.text(Col::ServiceName)
        };
        let region = row.text(Col::RegionId);
        let consumed_unit = row.text(Col::ConsumedUnit);
        let usage_unit = if consumed_unit.is_empty() {
            row.text(Col::PricingUnit)
        } else {
            consumed_unit.clone()
        };
        let usage_type = first_of(row, &[Col::XUsageType, Col::SkuMeter, Col::SkuId]);
        let billing_account = row.text(Col::BillingAccountId);
        let usage_account = row.text(Col::SubAccountId);

        let excluded = if correction {
            Some("correction of an earlier billing period (FOCUS ChargeClass Correction)")
        } else {
            match category {
                "Purchase" => Some("purchase (commitment or prepayment; no physical usage)"),
                "Tax" => Some("tax"),
                "Credit" => Some("credit"),
                "Adjustment" => Some("adjustment"),
                _ if unused => Some("unused commitment (no resource ran)"),
                // A CUR converted to FOCUS (focus_converters' AWS mapping) keeps Savings Plan
                // negations and discount lines (EdpDiscount, BundledDiscount, ...) as Usage
                // rows with the usage type and amount of the usage they discount: counting
                // them would count that usage twice. Consumption itself never bills less
                // than nothing.
                _ if billed.is_some_and(|b| b < 0.0) => Some(
                    "usage row with a negative BilledCost: a discount or commitment negation \
                     of usage billed on its own row (no physical usage)",
                ),
                _ => None,
            }
        };
        let base = UsageRow {
            period_start_us: start,
            period_end_us: end,
            provider: &provider,
            billing_account: &billing_account,
            usage_account: &usage_account,
            service: &service,
            region: (!region.is_empty()).then_some(&*region),
            region_note: region.is_empty().then_some("no RegionId in the FOCUS row"),
            usage_type: &usage_type,
            charge_type: category,
            usage_amount: quantity.unwrap_or(0.0),
            usage_unit: &usage_unit,
            cost,
            currency: &currency,
            tags: &tags_text,
            source: row.source,
            source_line: Some(row.line),
            ..UsageRow::default()
        };
        if let Some(reason) = excluded {
            self.count(&provider, "excluded by charge");
            builder.push(&UsageRow {
                usage_class: Some(UsageClass::Excluded),
                exclusion_reason: Some(reason),
                ..base
            });
            return Ok(());
        }
        let Some(amount) = quantity else {
            self.count(&provider, "unknown: no ConsumedQuantity");
            builder.push(&UsageRow {
                usage_class: Some(UsageClass::Unknown),
                ..base
            });
            return Ok(());
        };
        // CCF's AWS rules key on the usage type and its GCP rules on the SKU description: a
        // row without them is classified from the FOCUS columns instead.
        let sku_description = first_of(
            row,
            &[Col::XSkuDescription, Col::SkuMeter, Col::ChargeDescription],
        );
        // CCF's Azure rules key on the meter category, which Microsoft's FOCUS export keeps
        // in `x_SkuMeterCategory`.
        let meter_category = row.text(Col::XSkuMeterCategory);
        let route = match provider.as_str() {
            "aws" if !row.text(Col::XUsageType).is_empty() => "aws",
            "gcp" if !sku_description.is_empty() => "gcp",
            "azure" if !meter_category.is_empty() => "azure",
            _ => "generic",
        };
        match route {
            "aws" => {
                self.count(&provider, "AWS connector");
                let operation = row.text(Col::XOperation);
                // The CUR-to-FOCUS conversion maps a Savings Plan negation to a Usage row;
                // only its description still says what it is.
                let description = row.text(Col::ChargeDescription);
                let line_item_type = if description.starts_with("SavingsPlanNegation") {
                    "SavingsPlanNegation"
                } else {
                    "Usage"
                };
                let line = carbonledger_aws::BilledLine {
                    start_us: start,
                    end_us: end,
                    billing_account: &billing_account,
                    usage_account: &usage_account,
                    product_code: &service,
                    usage_type: &usage_type,
                    pricing_unit: &usage_unit,
                    line_item_type,
                    operation: &operation,
                    product_vcpu: "",
                    product_instance_type: "",
                    product_regions: [&region, "", ""],
                    amount,
                    cost,
                    currency: &currency,
                    tags: &tags_text,
                    source: row.source,
                    source_line: Some(row.line),
                };
                self.aws.push(&line, builder);
            }
            "gcp" => {
                self.count(&provider, "GCP connector");
                let labels: Vec<(String, String)> = tags.into_iter().collect();
                let sku_id = row.text(Col::SkuId);
                let project_name = row.text(Col::SubAccountName);
                let zone = row.text(Col::AvailabilityZone);
                let pricing_unit = row.text(Col::PricingUnit);
                let line = GcpLine {
                    billing_account_id: &billing_account,
                    service_description: &service,
                    sku_id: &sku_id,
                    sku_description: &sku_description,
                    usage_start_us: start,
                    usage_end_us: end,
                    project_id: &usage_account,
                    project_name: &project_name,
                    location_location: &region,
                    // FOCUS has one RegionId for GCP's location and region: a region code
                    // ends in a digit (`us-central1`), a multi-region (`us`) or `global` is
                    // only a location, as in the export.
                    location_region: if region.ends_with(|c: char| c.is_ascii_digit()) {
                        &region
                    } else {
                        ""
                    },
                    location_zone: &zone,
                    usage_amount: amount,
                    usage_unit: &usage_unit,
                    usage_amount_in_pricing_units: row.number(Col::PricingQuantity)?.unwrap_or(0.0),
                    usage_pricing_unit: &pricing_unit,
                    cost,
                    currency: &currency,
                    cost_type: "regular",
                    labels: &labels,
                    source: row.source,
                    source_line: Some(row.line),
                    ..GcpLine::default()
                };
                self.gcp.push(&line, builder);
            }
            "azure" => {
                self.count(&provider, "Azure connector");
                let sub_category = row.text(Col::XSkuMeterSubcategory);
                let meter = first_of(row, &[Col::SkuMeter, Col::ChargeDescription]);
                let details = first_of(row, &[Col::XSkuDetails, Col::SkuPriceDetails]);
                let line = carbonledger_azure::AzureLine {
                    billing_account_id: &billing_account,
                    billing_profile_id: "",
                    subscription_id: &usage_account,
                    date_us: start,
                    days_in_month: days_in_month(start).round() as u32,
                    meter_category: &meter_category,
                    meter_sub_category: &sub_category,
                    meter_name: &meter,
                    meter_region: "",
                    // FOCUS's consumed quantity is in its consumed unit; the converter applies
                    // the unit's block size (`10K`, `100 Hours`) as for cost details.
                    quantity: amount,
                    unit_of_measure: &usage_unit,
                    cost,
                    billing_currency: &currency,
                    resource_location: &region,
                    location: "",
                    consumed_service: "",
                    resource_id: "",
                    additional_info: &details,
                    tags: &tags_text,
                    // Non-usage charges were excluded above; commitment usage is usage here.
                    charge_type: "Usage",
                    pricing_model: "",
                    frequency: "",
                    reservation_id: "",
                    benefit_id: "",
                    source: row.source,
                    source_line: Some(row.line),
                    column_names: None,
                };
                self.azure.push(&line, builder);
            }
            _ => {
                // AWS rows without `x_UsageType`, GCP rows without a SKU description, Azure
                // rows without `x_SkuMeterCategory` and every other provider (Oracle, SaaS):
                // classified from the FOCUS columns alone.
                self.count(&provider, "generic FOCUS classifier");
                let details = first_of(row, &[Col::XSkuDetails, Col::SkuPriceDetails]);
                let key = GenericKey {
                    provider: &provider,
                    service_category: &row.text(Col::ServiceCategory),
                    service_subcategory: &row.text(Col::ServiceSubcategory),
                    service_name: &service,
                    resource_type: &row.text(Col::ResourceType),
                    sku_meter: &row.text(Col::SkuMeter),
                    meter_category: &row.text(Col::XSkuMeterCategory),
                    meter_subcategory: &row.text(Col::XSkuMeterSubcategory),
                    charge_description: &row.text(Col::ChargeDescription),
                    sku_details: &details,
                    consumed_unit: &usage_unit,
                };
                let c = self.generic.classify(&key);
                let storage_tb_hours = match c.storage {
                    Storage::None => 0.0,
                    Storage::GbHours(f) => amount * f / 1000.0,
                    Storage::GbMonths(f) => amount * f * 24.0 * days_in_month(start) / 1000.0,
                };
                builder.push(&UsageRow {
                    usage_class: Some(c.class),
                    exclusion_reason: c.reason,
                    instance_type: c.instance_type.as_deref(),
                    gpu_model: c.gpu_model.as_deref(),
                    vcpu_hours: amount * c.vcpu_hours,
                    gpu_hours: amount * c.gpu_hours,
                    memory_gb_hours: amount * c.memory_gb_hours,
                    storage_tb_hours,
                    network_gb: amount * c.network_gb,
                    ..base
                });
            }
        }
        Ok(())
    }

    /// What the provider converters noted (the Azure one: units of measure and locations it
    /// did not know, malformed `x_SkuDetails`).
    pub fn notes(&self) -> Vec<String> {
        self.azure.summary()
    }

    fn count(&mut self, provider: &str, path: &'static str) {
        *self.paths.entry((provider.to_owned(), path)).or_default() += 1;
    }
}

/// The first non-null text among `cols`.
fn first_of<'r>(row: &'r RowView<'_, '_>, cols: &[Col]) -> Cow<'r, str> {
    cols.iter()
        .map(|c| row.text(*c))
        .find(|t| !t.is_empty())
        .unwrap_or(Cow::Borrowed(""))
}

/// Days in the UTC month holding `us` (microseconds since the epoch).
fn days_in_month(us: i64) -> f64 {
    use chrono::{Datelike, NaiveDate};
    let Some(dt) = chrono::DateTime::from_timestamp_micros(us) else {
        return 30.42;
    };
    let (y, m) = (dt.year(), dt.month());
    let first = NaiveDate::from_ymd_opt(y, m, 1);
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    match (first, next) {
        (Some(a), Some(b)) => (b - a).num_days() as f64,
        _ => 30.42,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_map_to_the_factor_tables() {
        assert_eq!(provider_id("Amazon Web Services"), "aws");
        assert_eq!(provider_id("AWS"), "aws");
        assert_eq!(provider_id("Google Cloud"), "gcp");
        assert_eq!(provider_id("Microsoft"), "azure");
        assert_eq!(provider_id("Microsoft Azure"), "azure");
        assert_eq!(
            provider_id("Oracle Cloud Infrastructure"),
            "oracle cloud infrastructure"
        );
        assert_eq!(provider_id(""), "unknown");
        assert_eq!(days_in_month(1_706_745_600_000_000), 29.0); // 2024-02-01
    }
}
