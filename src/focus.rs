//! The ledger as FinOps FOCUS rows plus carbon columns (`--format focus`).
//!
//! Each ledger row becomes one row with FOCUS 1.2 column names, so FinOps tools that read
//! FOCUS can join carbon to cost without a new schema. The carbon figures follow in columns
//! with FOCUS's `x_` prefix for custom columns:
//!
//! | column | unit |
//! |---|---|
//! | `x_EnergyKwh`, its parts `x_CpuKwh` … `x_NetworkKwh` | kWh, PUE and replication in |
//! | `x_Scope2LocationKgCo2e`, `x_Scope2MarketKgCo2e` | kg CO2e |
//! | `x_Scope3EmbodiedKgCo2e` | kg CO2e |
//! | `x_GridKgCo2ePerKwh`, `x_MarketKgCo2ePerKwh` | kg CO2e per kWh |
//! | `x_VcpuHours`, `x_GpuHours` | vCPU-hours, GPU-hours |
//! | `x_MemoryGbHours`, `x_StorageTbHours`, `x_NetworkGb` | GB-hours, TB-hours, GB |
//!
//! What the ledger cannot fill, and how it is filled instead:
//!
//! * **Cost columns.** The ledger carries one cost measure, the one the run read. It goes to
//!   the FOCUS column of the same meaning (the source's [`CostBasis`]: AWS unblended →
//!   `BilledCost`, amortized → `EffectiveCost`, …) and always to `x_Cost` with its name in
//!   `x_CostMeasure`. The other FOCUS cost columns are empty, although FOCUS makes all four
//!   mandatory: filling them would need every cost measure carried through the usage schema,
//!   which the connectors do not do yet.
//! * **`ChargeCategory`, `ChargeFrequency`** come from the provider's line or charge type by
//!   the table `src/data/focus_charge_categories.csv`; **`ServiceCategory`** from the
//!   provider's service by `src/data/focus_service_categories.csv` (`Other` when unlisted).
//! * **`BillingPeriodStart`/`End`** are the calendar month of `ChargePeriodStart`: AWS, GCP
//!   and Azure all bill by calendar month (UTC).
//! * Names (`BillingAccountName`, `SubAccountName`, `RegionName`), resource columns
//!   (`ResourceId`, `ResourceName`, `ResourceType`), `SkuId` and `ChargeClass` are empty: the
//!   usage schema does not keep them. `ChargeDescription` holds the usage type.
//!
//! In CSV, times are written as FOCUS's `YYYY-MM-DDTHH:MM:SSZ` (UTC).

use std::collections::HashMap;

use carbonledger_usage::{CostBasis, FocusCost, col as ucol};
use chrono::{DateTime, Datelike, NaiveDate};
use polars::prelude::*;

use crate::Error;
use crate::ledger::col as lcol;

/// The provider's line or charge type → FOCUS `ChargeCategory` and `ChargeFrequency`.
const CHARGE_CATEGORIES: &str = include_str!("data/focus_charge_categories.csv");
/// The provider's service → FOCUS `ServiceCategory`.
const SERVICE_CATEGORIES: &str = include_str!("data/focus_service_categories.csv");

/// The time format of FOCUS dates in CSV.
pub const CSV_DATETIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Ledger columns copied under a FOCUS or `x_` name, in output order after the derived ones.
const RENAMED: [(&str, &str); 38] = [
    (ucol::BILLING_ACCOUNT, "BillingAccountId"),
    (ucol::CURRENCY, "BillingCurrency"),
    (ucol::USAGE_TYPE, "ChargeDescription"),
    (ucol::PERIOD_END, "ChargePeriodEnd"),
    (ucol::PERIOD_START, "ChargePeriodStart"),
    (ucol::USAGE_AMOUNT, "PricingQuantity"),
    (ucol::USAGE_UNIT, "PricingUnit"),
    (ucol::REGION, "RegionId"),
    (ucol::SERVICE, "ServiceName"),
    (ucol::USAGE_ACCOUNT, "SubAccountId"),
    (ucol::TAGS, "Tags"),
    (ucol::COST, "x_Cost"),
    (ucol::CHARGE_TYPE, "x_ChargeType"),
    (ucol::USAGE_TYPE, "x_UsageType"),
    (ucol::REGION_NOTE, "x_RegionNote"),
    (ucol::USAGE_CLASS, "x_UsageClass"),
    (ucol::EXCLUSION_REASON, "x_ExclusionReason"),
    (ucol::INSTANCE_TYPE, "x_InstanceType"),
    (ucol::CPU_ARCHITECTURE, "x_CpuArchitecture"),
    (ucol::GPU_MODEL, "x_GpuModel"),
    (ucol::VCPU_HOURS, "x_VcpuHours"),
    (ucol::GPU_HOURS, "x_GpuHours"),
    (ucol::MEMORY_GB_HOURS, "x_MemoryGbHours"),
    (ucol::STORAGE_TB_HOURS, "x_StorageTbHours"),
    (ucol::NETWORK_GB, "x_NetworkGb"),
    (lcol::METHOD, "x_CarbonMethod"),
    (lcol::FACTOR_SET, "x_CarbonFactorSet"),
    (lcol::ESTIMATE_KIND, "x_CarbonEstimateKind"),
    (lcol::ENERGY_KWH, "x_EnergyKwh"),
    (lcol::SCOPE2_LOCATION_KG, "x_Scope2LocationKgCo2e"),
    (lcol::SCOPE2_MARKET_KG, "x_Scope2MarketKgCo2e"),
    (lcol::SCOPE3_EMBODIED_KG, "x_Scope3EmbodiedKgCo2e"),
    (lcol::GRID_KG_PER_KWH, "x_GridKgCo2ePerKwh"),
    (lcol::GRID_YEAR, "x_GridFactorYear"),
    (lcol::MARKET_KG_PER_KWH, "x_MarketKgCo2ePerKwh"),
    (lcol::PUE, "x_Pue"),
    (lcol::REPLICATION_FACTOR, "x_ReplicationFactor"),
    (lcol::NOTES, "x_CarbonNotes"),
];

/// Further estimate columns, kept when the ledger has them.
const RENAMED_OPTIONAL: [(&str, &str); 8] = [
    (lcol::WATTS_PER_VCPU, "x_WattsPerVcpu"),
    (lcol::CPU_KWH, "x_CpuKwh"),
    (lcol::GPU_KWH, "x_GpuKwh"),
    (lcol::MEMORY_KWH, "x_MemoryKwh"),
    (lcol::STORAGE_KWH, "x_StorageKwh"),
    (lcol::NETWORK_KWH, "x_NetworkKwh"),
    (lcol::CCF_KWH, "x_CcfKwh"),
    (ucol::SOURCE, "x_SourceFile"),
];

/// FOCUS columns the usage schema has no data for; written empty.
const EMPTY_TEXT: [&str; 9] = [
    "BillingAccountName",
    "ChargeClass",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "SkuId",
    "SkuPriceId",
    "SubAccountName",
];

const COST_COLUMNS: [FocusCost; 4] = [
    FocusCost::BilledCost,
    FocusCost::EffectiveCost,
    FocusCost::ListCost,
    FocusCost::ContractedCost,
];

/// A charge type's FOCUS category and frequency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Charge {
    category: &'static str,
    frequency: &'static str,
}

/// Turns ledger batches into FOCUS + carbon batches.
pub struct FocusMapper {
    basis: Option<CostBasis>,
    /// Folded `provider|charge type` (or `*|charge type`) → charge.
    charges: HashMap<String, Charge>,
    /// `provider|lower-cased service` → service category.
    services: HashMap<String, &'static str>,
    /// Charge types no table row names, with their row counts (for one warning at the end).
    unmapped: HashMap<(String, String), u64>,
    /// provider → raw charge type → charge, and provider → service → category, as met: rows
    /// are looked up by borrowed text, without building a key per row.
    seen_charges: HashMap<String, HashMap<String, Charge>>,
    seen_services: HashMap<String, HashMap<String, &'static str>>,
}

impl FocusMapper {
    /// A mapper for a ledger whose `cost` is `basis`.
    pub fn new(basis: Option<CostBasis>) -> Self {
        let mut charges = HashMap::new();
        for row in table_rows(CHARGE_CATEGORIES, 4) {
            let charge = Charge {
                category: row[2],
                frequency: row[3],
            };
            charges.insert(charge_key(row[0], row[1]), charge);
        }
        let mut services = HashMap::new();
        for row in table_rows(SERVICE_CATEGORIES, 3) {
            services.insert(format!("{}|{}", row[0], row[1].to_lowercase()), row[2]);
        }
        FocusMapper {
            basis,
            charges,
            services,
            unmapped: HashMap::new(),
            seen_charges: HashMap::new(),
            seen_services: HashMap::new(),
        }
    }

    /// The FOCUS + carbon frame of one ledger batch, row for row.
    pub fn map(&mut self, ledger: &DataFrame) -> Result<DataFrame, Error> {
        self.map_frame(ledger)
            .map_err(Error::polars("converting the ledger to FOCUS columns"))
    }

    /// Charge types that had no FOCUS category in the table, with row counts, sorted.
    pub fn unmapped(&self) -> Vec<(String, String, u64)> {
        let mut out: Vec<_> = self
            .unmapped
            .iter()
            .map(|((p, c), n)| (p.clone(), c.clone(), *n))
            .collect();
        out.sort();
        out
    }

    fn map_frame(&mut self, ledger: &DataFrame) -> PolarsResult<DataFrame> {
        let n = ledger.height();
        let provider = ledger.column(ucol::PROVIDER)?.str()?;
        let charge_type = ledger.column(ucol::CHARGE_TYPE)?.str()?;
        let class = ledger.column(ucol::USAGE_CLASS)?.str()?;
        let service = ledger.column(ucol::SERVICE)?.str()?;
        let start = ledger.column(ucol::PERIOD_START)?.datetime()?;
        let amount = ledger.column(ucol::USAGE_AMOUNT)?.f64()?;
        let unit = ledger.column(ucol::USAGE_UNIT)?.str()?;
        let cost = ledger.column(ucol::COST)?.f64()?;

        let mut category = StringChunkedBuilder::new("ChargeCategory".into(), n);
        let mut frequency = StringChunkedBuilder::new("ChargeFrequency".into(), n);
        let mut service_category = StringChunkedBuilder::new("ServiceCategory".into(), n);
        let mut provider_name = StringChunkedBuilder::new("ProviderName".into(), n);
        let mut consumed =
            PrimitiveChunkedBuilder::<Float64Type>::new("ConsumedQuantity".into(), n);
        let mut consumed_unit = StringChunkedBuilder::new("ConsumedUnit".into(), n);
        let mut period_start = Vec::with_capacity(n);
        let mut period_end = Vec::with_capacity(n);
        let rows = provider
            .iter()
            .zip(charge_type.iter())
            .zip(class.iter())
            .zip(service.iter())
            .zip(start.physical().iter())
            .zip(amount.iter().zip(unit.iter()));
        for (((((p, c), k), s), t), (a, u)) in rows {
            let p = p.unwrap_or("");
            let excluded = k == Some("excluded");
            let charge = self.charge(p, c.unwrap_or(""), excluded);
            category.append_value(charge.category);
            frequency.append_value(charge.frequency);
            service_category.append_value(self.service_category(p, s.unwrap_or("")));
            provider_name.append_value(provider_display_name(p));
            if charge.category == "Usage" {
                consumed.append_option(a);
                consumed_unit.append_option(u);
            } else {
                consumed.append_null();
                consumed_unit.append_null();
            }
            let (from, to) = t.map(billing_month).unzip();
            period_start.push(from.flatten());
            period_end.push(to.flatten());
        }

        let time = DataType::Datetime(TimeUnit::Microseconds, None);
        let mut columns: Vec<Column> = Vec::with_capacity(RENAMED.len() + 32);
        for focus in COST_COLUMNS {
            let column = match &self.basis {
                Some(b) if b.focus == Some(focus) => {
                    cost.clone().with_name(focus.column().into()).into_column()
                }
                _ => Column::full_null(focus.column().into(), n, &DataType::Float64),
            };
            columns.push(column);
        }
        columns.push(
            Int64Chunked::from_iter_options("BillingPeriodStart".into(), period_start.into_iter())
                .into_column()
                .cast(&time)?,
        );
        columns.push(
            Int64Chunked::from_iter_options("BillingPeriodEnd".into(), period_end.into_iter())
                .into_column()
                .cast(&time)?,
        );
        columns.push(category.finish().into_column());
        columns.push(frequency.finish().into_column());
        columns.push(consumed.finish().into_column());
        columns.push(consumed_unit.finish().into_column());
        columns.push(provider_name.finish().into_column());
        columns.push(
            columns
                .last()
                .expect("provider name column pushed above")
                .clone()
                .with_name("PublisherName".into()),
        );
        columns.push(
            columns
                .last()
                .expect("publisher column pushed above")
                .clone()
                .with_name("InvoiceIssuerName".into()),
        );
        columns.push(service_category.finish().into_column());
        for name in EMPTY_TEXT {
            columns.push(Column::full_null(name.into(), n, &DataType::String));
        }
        for (from, to) in RENAMED {
            columns.push(ledger.column(from)?.clone().with_name(to.into()));
        }
        for (from, to) in RENAMED_OPTIONAL {
            if let Ok(column) = ledger.column(from) {
                columns.push(column.clone().with_name(to.into()));
            }
        }
        let line = ledger.column(ucol::SOURCE_LINE)?.cast(&DataType::UInt64)?;
        columns.push(line.with_name("x_SourceLine".into()));
        let measure = self.basis.as_ref().map(|b| b.name.as_str());
        columns.push(Column::new_scalar(
            "x_CostMeasure".into(),
            match measure {
                Some(m) => Scalar::from(PlSmallStr::from(m)),
                None => Scalar::new(DataType::String, AnyValue::Null),
            },
            n,
        ));
        // FOCUS columns in the specification's (alphabetical) order, then the `x_` ones as
        // listed above.
        let (mut focus, custom): (Vec<Column>, Vec<Column>) = columns
            .into_iter()
            .partition(|c| !c.name().starts_with("x_"));
        focus.sort_by(|a, b| a.name().cmp(b.name()));
        focus.extend(custom);
        DataFrame::new(n, focus)
    }

    fn charge(&mut self, provider: &str, charge_type: &str, excluded: bool) -> Charge {
        if let Some(charge) = self
            .seen_charges
            .get(provider)
            .and_then(|m| m.get(charge_type))
        {
            // An unmapped type's fallback depends on the row's class: only mapped ones are
            // remembered.
            return *charge;
        }
        let found = self
            .charges
            .get(&charge_key(provider, charge_type))
            .or_else(|| self.charges.get(&charge_key("*", charge_type)));
        if let Some(charge) = found.copied() {
            self.seen_charges
                .entry(provider.to_owned())
                .or_default()
                .insert(charge_type.to_owned(), charge);
            return charge;
        }
        *self
            .unmapped
            .entry((provider.to_owned(), charge_type.to_owned()))
            .or_default() += 1;
        Charge {
            category: if excluded { "Adjustment" } else { "Usage" },
            frequency: if excluded { "One-Time" } else { "Usage-Based" },
        }
    }

    fn service_category(&mut self, provider: &str, service: &str) -> &'static str {
        if let Some(category) = self
            .seen_services
            .get(provider)
            .and_then(|m| m.get(service))
        {
            return category;
        }
        let category = self
            .services
            .get(&format!("{provider}|{}", service.to_lowercase()))
            .copied()
            .unwrap_or("Other");
        self.seen_services
            .entry(provider.to_owned())
            .or_default()
            .insert(service.to_owned(), category);
        category
    }
}

/// `provider|charge type`, without case or spaces.
fn charge_key(provider: &str, charge_type: &str) -> String {
    let folded: String = charge_type
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    format!("{provider}|{folded}")
}

/// The provider as FOCUS's `ProviderName` spells it in the providers' own FOCUS exports.
fn provider_display_name(provider: &str) -> &str {
    match provider {
        "aws" => "AWS",
        "gcp" => "Google Cloud",
        "azure" => "Microsoft",
        other => other,
    }
}

/// The calendar month (UTC) holding `start_us`, as µs bounds `[first day, first of next)`.
fn billing_month(start_us: i64) -> (Option<i64>, Option<i64>) {
    let Some(t) = DateTime::from_timestamp_micros(start_us) else {
        return (None, None);
    };
    let first = NaiveDate::from_ymd_opt(t.year(), t.month(), 1);
    let next = first.and_then(|d| d.checked_add_months(chrono::Months::new(1)));
    let micros = |d: NaiveDate| {
        d.and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_micros()
    };
    (first.map(micros), next.map(micros))
}

/// The data rows of an embedded lookup CSV with `width` fields each (a unit test checks that
/// no line of the embedded tables is skipped).
fn table_rows(text: &'static str, width: usize) -> impl Iterator<Item = Vec<&'static str>> {
    text.lines()
        .skip(1)
        .map(|line| line.split(',').collect::<Vec<_>>())
        .filter(move |fields| fields.len() == width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Estimate, EstimateColumns, kind};
    use carbonledger_usage::{UsageBatchBuilder, UsageRow};

    #[test]
    fn every_line_of_the_embedded_tables_is_read() {
        assert_eq!(
            table_rows(CHARGE_CATEGORIES, 4).count(),
            CHARGE_CATEGORIES.lines().count() - 1
        );
        assert_eq!(
            table_rows(SERVICE_CATEGORIES, 3).count(),
            SERVICE_CATEGORIES.lines().count() - 1
        );
    }

    #[test]
    fn charge_types_map_by_provider_then_by_focus_name() {
        let mut mapper = FocusMapper::new(None);
        let usage = |c: Charge| (c.category, c.frequency);
        assert_eq!(
            usage(mapper.charge("aws", "SavingsPlanRecurringFee", true)),
            ("Purchase", "Recurring")
        );
        // Cost Explorer's spelling, folded.
        assert_eq!(
            usage(mapper.charge("aws", "Savings Plan Upfront Fee", true)),
            ("Purchase", "One-Time")
        );
        assert_eq!(usage(mapper.charge("aws", "Refund", true)).0, "Credit");
        assert_eq!(usage(mapper.charge("gcp", "tax", true)).0, "Tax");
        assert_eq!(usage(mapper.charge("gcp", "regular", false)).0, "Usage");
        // A FOCUS input's own category, whatever the provider and case.
        assert_eq!(
            usage(mapper.charge("oracle", "PURCHASE", true)).0,
            "Purchase"
        );
        assert!(mapper.unmapped().is_empty());
        assert_eq!(usage(mapper.charge("aws", "Mystery", true)).0, "Adjustment");
        assert_eq!(usage(mapper.charge("aws", "Mystery", false)).0, "Usage");
        assert_eq!(mapper.unmapped(), vec![("aws".into(), "Mystery".into(), 2)]);
    }

    #[test]
    fn the_billing_period_is_the_calendar_month_of_the_charge() {
        let us = |y, m, d, h| {
            NaiveDate::from_ymd_opt(y, m, d)
                .and_then(|d| d.and_hms_opt(h, 0, 0))
                .map(|t| t.and_utc().timestamp_micros())
        };
        assert_eq!(
            billing_month(us(2026, 12, 31, 23).unwrap()),
            (us(2026, 12, 1, 0), us(2027, 1, 1, 0))
        );
        assert_eq!(
            billing_month(us(2024, 2, 29, 0).unwrap()),
            (us(2024, 2, 1, 0), us(2024, 3, 1, 0))
        );
    }

    fn ledger(rows: &[(&'static str, &'static str, &'static str, f64)]) -> DataFrame {
        let mut builder = UsageBatchBuilder::with_capacity(rows.len());
        for (i, (provider, service, charge_type, cost)) in rows.iter().enumerate() {
            builder.push(&UsageRow {
                period_start_us: 1_790_000_000_000_000,
                period_end_us: 1_790_003_600_000_000,
                provider,
                billing_account: "payer",
                usage_account: "0123",
                service,
                usage_type: "BoxUsage:m5.large",
                charge_type,
                usage_class: None,
                usage_amount: 2.0,
                usage_unit: "Hrs",
                cost: *cost,
                currency: "USD",
                source: "bill.csv",
                source_line: Some(i as u64 + 2),
                ..UsageRow::default()
            });
        }
        let mut estimates = EstimateColumns::new("default", "test set", rows.len());
        for _ in rows {
            estimates.push(&Estimate {
                kind: kind::EXCLUDED,
                ..Estimate::default()
            });
        }
        let usage = builder.finish().expect("usage batch");
        usage.hstack(&estimates.finish()).expect("ledger")
    }

    fn strings(df: &DataFrame, name: &str) -> Vec<Option<String>> {
        let column = df.column(name).expect(name).str().expect("text");
        column.iter().map(|v| v.map(str::to_owned)).collect()
    }

    #[test]
    fn cost_goes_to_the_focus_column_of_its_basis_and_always_to_x_cost() {
        let rows = [
            ("aws", "AmazonEC2", "Usage", 1.5),
            ("aws", "AmazonEC2", "Tax", 0.25),
        ];
        let basis = CostBasis::new("amortized", Some(FocusCost::EffectiveCost));
        let out = FocusMapper::new(Some(basis))
            .map(&ledger(&rows))
            .expect("maps");
        let floats = |name: &str| -> Vec<Option<f64>> {
            out.column(name)
                .expect(name)
                .f64()
                .expect("f64")
                .iter()
                .collect()
        };
        assert_eq!(floats("EffectiveCost"), vec![Some(1.5), Some(0.25)]);
        assert_eq!(floats("x_Cost"), vec![Some(1.5), Some(0.25)]);
        assert_eq!(floats("BilledCost"), vec![None, None]);
        assert_eq!(floats("ListCost"), vec![None, None]);
        // Only usage rows have a consumed quantity.
        assert_eq!(floats("ConsumedQuantity"), vec![Some(2.0), None]);
        assert_eq!(
            strings(&out, "ChargeCategory"),
            vec![Some("Usage".into()), Some("Tax".into())]
        );
        assert_eq!(
            strings(&out, "ServiceCategory")[0].as_deref(),
            Some("Compute")
        );
        assert_eq!(strings(&out, "ProviderName")[0].as_deref(), Some("AWS"));
        assert_eq!(
            strings(&out, "x_CostMeasure")[0].as_deref(),
            Some("amortized")
        );
        assert_eq!(strings(&out, "SubAccountId")[0].as_deref(), Some("0123"));

        let unstated = FocusMapper::new(None).map(&ledger(&rows)).expect("maps");
        for name in ["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] {
            assert_eq!(unstated.column(name).expect(name).null_count(), 2, "{name}");
        }
        assert_eq!(
            unstated
                .column("x_CostMeasure")
                .expect("measure")
                .null_count(),
            2
        );
    }

    #[test]
    fn focus_columns_come_first_in_alphabetical_order() {
        let out = FocusMapper::new(None)
            .map(&ledger(&[("gcp", "Compute Engine", "regular", 1.0)]))
            .expect("maps");
        let names: Vec<&str> = out.get_column_names().iter().map(|n| n.as_str()).collect();
        let focus: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !n.starts_with("x_"))
            .collect();
        let mut sorted = focus.clone();
        sorted.sort();
        assert_eq!(focus, sorted);
        let first_custom = names
            .iter()
            .position(|n| n.starts_with("x_"))
            .expect("x_ columns");
        assert!(names[first_custom..].iter().all(|n| n.starts_with("x_")));
        assert_eq!(
            strings(&out, "ProviderName")[0].as_deref(),
            Some("Google Cloud")
        );
    }
}
