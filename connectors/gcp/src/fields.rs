//! The export fields the connector reads, and how files name them.
//!
//! Every field has its BigQuery path (`usage.amount`). A file may name it:
//! * by the dotted path as one column (`usage.amount`), as flattened CSV and Parquet exports
//!   do (koku's CSV files, `SELECT … AS \`usage.amount\``);
//! * by the path with `_` for `.` (`usage_amount`), as a `SELECT usage.amount AS
//!   usage_amount` writes it;
//! * nested, as BigQuery's own JSON and Parquet exports do: a `usage` object (RECORD) holding
//!   `amount`.
//!
//! Names are matched without regard to case (BigQuery's are case-insensitive). The repeated
//! fields (`credits`, `labels`, `system_labels`) are lists of objects; a CSV holds them as JSON
//! text or in Python's repr form (`[{'key': 'env', 'value': 'prod'}]`).

/// The fields, in the order they are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    BillingAccountId,
    ServiceId,
    ServiceDescription,
    SkuId,
    SkuDescription,
    UsageStartTime,
    UsageEndTime,
    ProjectId,
    ProjectName,
    LocationLocation,
    LocationRegion,
    LocationZone,
    UsageAmount,
    UsageUnit,
    UsageAmountInPricingUnits,
    UsagePricingUnit,
    Cost,
    Currency,
    Credits,
    CostType,
    Labels,
    SystemLabels,
    ExportTime,
    InvoiceMonth,
}

/// Every field, in [`Field`] order (`ALL[f as usize] == f`).
pub const ALL: [Field; 24] = [
    Field::BillingAccountId,
    Field::ServiceId,
    Field::ServiceDescription,
    Field::SkuId,
    Field::SkuDescription,
    Field::UsageStartTime,
    Field::UsageEndTime,
    Field::ProjectId,
    Field::ProjectName,
    Field::LocationLocation,
    Field::LocationRegion,
    Field::LocationZone,
    Field::UsageAmount,
    Field::UsageUnit,
    Field::UsageAmountInPricingUnits,
    Field::UsagePricingUnit,
    Field::Cost,
    Field::Currency,
    Field::Credits,
    Field::CostType,
    Field::Labels,
    Field::SystemLabels,
    Field::ExportTime,
    Field::InvoiceMonth,
];

/// Fields without which no row can be read (`credits` is added for the net cost measures).
pub const REQUIRED: [Field; 8] = [
    Field::ServiceDescription,
    Field::SkuDescription,
    Field::UsageStartTime,
    Field::UsageEndTime,
    Field::UsageAmount,
    Field::UsageUnit,
    Field::Cost,
    Field::Currency,
];

impl Field {
    /// The BigQuery path, `.`-separated.
    pub fn path(self) -> &'static str {
        match self {
            Field::BillingAccountId => "billing_account_id",
            Field::ServiceId => "service.id",
            Field::ServiceDescription => "service.description",
            Field::SkuId => "sku.id",
            Field::SkuDescription => "sku.description",
            Field::UsageStartTime => "usage_start_time",
            Field::UsageEndTime => "usage_end_time",
            Field::ProjectId => "project.id",
            Field::ProjectName => "project.name",
            Field::LocationLocation => "location.location",
            Field::LocationRegion => "location.region",
            Field::LocationZone => "location.zone",
            Field::UsageAmount => "usage.amount",
            Field::UsageUnit => "usage.unit",
            Field::UsageAmountInPricingUnits => "usage.amount_in_pricing_units",
            Field::UsagePricingUnit => "usage.pricing_unit",
            Field::Cost => "cost",
            Field::Currency => "currency",
            Field::Credits => "credits",
            Field::CostType => "cost_type",
            Field::Labels => "labels",
            Field::SystemLabels => "system_labels",
            Field::ExportTime => "export_time",
            Field::InvoiceMonth => "invoice.month",
        }
    }

    /// The record and the field inside it, for nested names (`usage`, `amount`).
    pub fn parts(self) -> (&'static str, Option<&'static str>) {
        match self.path().split_once('.') {
            Some((record, field)) => (record, Some(field)),
            None => (self.path(), None),
        }
    }

    /// Whether a flat column name (dotted or with `_`) names this field.
    pub fn is_named(self, name: &str) -> bool {
        let name = clean(name);
        let path = self.path();
        name.eq_ignore_ascii_case(path) || name.eq_ignore_ascii_case(&path.replace('.', "_"))
    }

    /// The field a flat column name stands for.
    pub fn of_name(name: &str) -> Option<Field> {
        ALL.into_iter().find(|f| f.is_named(name))
    }
}

/// A column name without a byte-order mark and surrounding spaces.
pub fn clean(name: &str) -> &str {
    name.trim_start_matches('\u{feff}').trim()
}

/// Whether a header (flat column names, or the top-level names of a nested file) is a GCP
/// billing export's: it names the service, the SKU and the usage amount, flattened
/// (`service.description`, `sku.description`, `usage.amount`, or with `_`) or as the
/// `service`, `sku` and `usage` records next to `usage_start_time`.
pub fn looks_like_export(header: &[String]) -> bool {
    let has_field = |f: Field| header.iter().any(|h| f.is_named(h));
    let has = |name: &str| header.iter().any(|h| clean(h).eq_ignore_ascii_case(name));
    let flat = [
        Field::ServiceDescription,
        Field::SkuDescription,
        Field::UsageAmount,
    ]
    .into_iter()
    .all(has_field);
    let nested = ["service", "sku", "usage", "usage_start_time"]
        .into_iter()
        .all(has);
    flat || nested
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_field_order() {
        for (i, f) in ALL.iter().enumerate() {
            assert_eq!(*f as usize, i);
        }
    }

    #[test]
    fn flat_names_match_dotted_and_underscored() {
        assert_eq!(Field::of_name("usage.amount"), Some(Field::UsageAmount));
        assert_eq!(
            Field::of_name("\u{feff}Usage_Amount"),
            Some(Field::UsageAmount)
        );
        assert_eq!(Field::of_name("invoice_month"), Some(Field::InvoiceMonth));
        assert_eq!(Field::of_name("cost_type"), Some(Field::CostType));
        assert_eq!(Field::of_name("project.labels"), None);
        assert_eq!(Field::UsageAmount.parts(), ("usage", Some("amount")));
        assert_eq!(Field::Cost.parts(), ("cost", None));
    }

    #[test]
    fn export_headers_are_recognised() {
        let h = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(looks_like_export(&h(&[
            "billing_account_id",
            "service.description",
            "sku.description",
            "usage.amount",
        ])));
        assert!(looks_like_export(&h(&[
            "service_description",
            "sku_description",
            "usage_amount",
        ])));
        assert!(looks_like_export(&h(&[
            "service",
            "sku",
            "usage_start_time",
            "usage"
        ])));
        assert!(!looks_like_export(&h(&[
            "lineItem/UsageType",
            "lineItem/LineItemType"
        ])));
    }
}
