//! Column names, types and the usage classes of the usage schema.
//!
//! Every connector produces exactly these columns, in this order. Quantities are in the units
//! named in the column (hours, GB, TB); `cost` is in `currency`. Times are UTC.

use std::fmt;

use polars::prelude::*;

/// The column names, as constants so that a typo is a compile error.
pub mod col {
    /// Start of the billed period, inclusive (UTC, microseconds).
    pub const PERIOD_START: &str = "period_start";
    /// End of the billed period, exclusive (UTC, microseconds).
    pub const PERIOD_END: &str = "period_end";
    /// `aws`, `gcp`, `azure`, or the FOCUS `ProviderName` lower-cased.
    pub const PROVIDER: &str = "provider";
    /// The paying account (AWS payer, GCP billing account, Azure billing account).
    pub const BILLING_ACCOUNT: &str = "billing_account";
    /// The account that used the resource (AWS usage account, GCP project, subscription).
    pub const USAGE_ACCOUNT: &str = "usage_account";
    /// The provider's service code (`AmazonEC2`, `Compute Engine`, `Virtual Machines`).
    pub const SERVICE: &str = "service";
    /// The provider's own region code (`us-east-1`); null only for global usage.
    pub const REGION: &str = "region";
    /// Why `region` is null (or how it was derived when not given directly).
    pub const REGION_NOTE: &str = "region_note";
    /// The raw usage type / SKU / meter, unchanged.
    pub const USAGE_TYPE: &str = "usage_type";
    /// The provider's line or charge type (`Usage`, `Tax`, `SavingsPlanNegation`, …).
    pub const CHARGE_TYPE: &str = "charge_type";
    /// One of [`super::UsageClass`].
    pub const USAGE_CLASS: &str = "usage_class";
    /// Why the row carries no estimate; set exactly when `usage_class` is `excluded`.
    pub const EXCLUSION_REASON: &str = "exclusion_reason";
    /// Instance, machine or VM type (`m5.xlarge`, `n2-standard-4`, `D2 v3`).
    pub const INSTANCE_TYPE: &str = "instance_type";
    /// CPU micro-architecture when the bill says it and no instance type does.
    pub const CPU_ARCHITECTURE: &str = "cpu_architecture";
    /// GPU model when the row carries GPU-hours (`Nvidia Tesla V100`).
    pub const GPU_MODEL: &str = "gpu_model";
    /// vCPU-hours.
    pub const VCPU_HOURS: &str = "vcpu_hours";
    /// GPU-hours.
    pub const GPU_HOURS: &str = "gpu_hours";
    /// Memory GB-hours (separately billed memory, or the instance's memory for compute rows).
    pub const MEMORY_GB_HOURS: &str = "memory_gb_hours";
    /// Storage TB-hours (10^12 bytes held for one hour).
    pub const STORAGE_TB_HOURS: &str = "storage_tb_hours";
    /// Network transfer in GB (10^9 bytes).
    pub const NETWORK_GB: &str = "network_gb";
    /// The billed usage amount, as in the bill.
    pub const USAGE_AMOUNT: &str = "usage_amount";
    /// The billed unit, as in the bill (`Hrs`, `GB-Mo`, `10 Hours`).
    pub const USAGE_UNIT: &str = "usage_unit";
    /// The row's cost in `currency` (the cost measure the connector was asked for).
    pub const COST: &str = "cost";
    /// ISO 4217 currency code.
    pub const CURRENCY: &str = "currency";
    /// User tags as a JSON object with string values, keys sorted; `{}` when none.
    pub const TAGS: &str = "tags";
    /// The file path or request the row came from.
    pub const SOURCE: &str = "source";
    /// 1-based line in `source` (the header is line 1); null for API sources.
    pub const SOURCE_LINE: &str = "source_line";
}

/// The timezone of every timestamp in the schema.
pub const TIME_ZONE: &str = "UTC";

fn utc_micros() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

/// The usage schema, in column order.
pub fn usage_schema() -> Schema {
    use DataType::{Float64, String, UInt64};
    Schema::from_iter([
        Field::new(col::PERIOD_START.into(), utc_micros()),
        Field::new(col::PERIOD_END.into(), utc_micros()),
        Field::new(col::PROVIDER.into(), String),
        Field::new(col::BILLING_ACCOUNT.into(), String),
        Field::new(col::USAGE_ACCOUNT.into(), String),
        Field::new(col::SERVICE.into(), String),
        Field::new(col::REGION.into(), String),
        Field::new(col::REGION_NOTE.into(), String),
        Field::new(col::USAGE_TYPE.into(), String),
        Field::new(col::CHARGE_TYPE.into(), String),
        Field::new(col::USAGE_CLASS.into(), String),
        Field::new(col::EXCLUSION_REASON.into(), String),
        Field::new(col::INSTANCE_TYPE.into(), String),
        Field::new(col::CPU_ARCHITECTURE.into(), String),
        Field::new(col::GPU_MODEL.into(), String),
        Field::new(col::VCPU_HOURS.into(), Float64),
        Field::new(col::GPU_HOURS.into(), Float64),
        Field::new(col::MEMORY_GB_HOURS.into(), Float64),
        Field::new(col::STORAGE_TB_HOURS.into(), Float64),
        Field::new(col::NETWORK_GB.into(), Float64),
        Field::new(col::USAGE_AMOUNT.into(), Float64),
        Field::new(col::USAGE_UNIT.into(), String),
        Field::new(col::COST.into(), Float64),
        Field::new(col::CURRENCY.into(), String),
        Field::new(col::TAGS.into(), String),
        Field::new(col::SOURCE.into(), String),
        Field::new(col::SOURCE_LINE.into(), UInt64),
    ])
}

/// What kind of physical usage a row is, which decides how the estimator treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UsageClass {
    /// vCPU-hours (and, for accelerated instances, GPU-hours too).
    Compute,
    /// GPU-hours billed on their own (GCP GPU SKUs).
    Gpu,
    /// Separately billed memory GB-hours.
    Memory,
    /// TB-hours on solid-state media.
    StorageSsd,
    /// TB-hours on spinning disks (and archive tiers).
    StorageHdd,
    /// GB transferred between data centres.
    Network,
    /// Real usage the method cannot map to a quantity: estimated by ratio.
    Unknown,
    /// Not physical usage (tax, credits, fees) or not estimable: kept for cost, with a reason.
    Excluded,
}

impl UsageClass {
    pub const ALL: [UsageClass; 8] = [
        UsageClass::Compute,
        UsageClass::Gpu,
        UsageClass::Memory,
        UsageClass::StorageSsd,
        UsageClass::StorageHdd,
        UsageClass::Network,
        UsageClass::Unknown,
        UsageClass::Excluded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UsageClass::Compute => "compute",
            UsageClass::Gpu => "gpu",
            UsageClass::Memory => "memory",
            UsageClass::StorageSsd => "storage_ssd",
            UsageClass::StorageHdd => "storage_hdd",
            UsageClass::Network => "network",
            UsageClass::Unknown => "unknown",
            UsageClass::Excluded => "excluded",
        }
    }

    pub fn parse(s: &str) -> Option<UsageClass> {
        UsageClass::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for UsageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks that `df` has exactly the usage schema (names, order and types).
pub fn validate(df: &DataFrame) -> PolarsResult<()> {
    let expected = usage_schema();
    let actual = df.schema();
    polars_ensure!(
        actual.len() == expected.len(),
        SchemaMismatch: "usage batch has {} columns, the usage schema has {}",
        actual.len(), expected.len()
    );
    for ((name, dtype), (want_name, want_dtype)) in actual.iter().zip(expected.iter()) {
        polars_ensure!(
            name == want_name && dtype == want_dtype,
            SchemaMismatch: "usage batch column `{}` ({:?}) where the schema has `{}` ({:?})",
            name, dtype, want_name, want_dtype
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_round_trip() {
        for class in UsageClass::ALL {
            assert_eq!(UsageClass::parse(class.as_str()), Some(class));
        }
        assert_eq!(UsageClass::parse("cpu"), None);
    }

    #[test]
    fn schema_names_are_unique() {
        let schema = usage_schema();
        let mut names: Vec<_> = schema.iter_names().collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), schema.len());
    }
}
