//! Header flavours of a CUR file and the logical columns the connector reads from them.
//!
//! Three header flavours name the same data:
//!
//! * legacy: `lineItem/UsageType`, `resourceTags/user:Team` (legacy CUR CSV);
//! * Athena: `line_item_usage_type`, `product_vcpu`, `resource_tags_user_team` (legacy CUR
//!   delivered for Athena, Parquet);
//! * CUR 2.0: `line_item_usage_type` plus the map columns `product` and `resource_tags` (AWS
//!   Data Exports).
//!
//! Each flavour's names are mapped onto one set of [`Logical`] columns. Legacy names are
//! matched without regard to case (AWS spells some of them in lower case, `product/usagetype`);
//! snake_case names are AWS's Athena conversion of the legacy names (`ReservationARN` →
//! `reservation_a_r_n`), see [`legacy_to_snake`].

use std::collections::HashMap;

use carbonledger_usage::{Location, SourceError};

use crate::CostMeasure;

/// How a file names its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `category/Name` headers of the legacy CUR CSV.
    Legacy,
    /// snake_case headers of the legacy CUR delivered for Athena.
    Athena,
    /// snake_case headers plus the `product` / `resource_tags` maps of CUR 2.0.
    Cur2,
}

impl Flavour {
    /// A short name for messages: `legacy CUR`, `legacy CUR (Athena columns)`, `CUR 2.0`.
    pub fn label(self) -> &'static str {
        match self {
            Flavour::Legacy => "legacy CUR",
            Flavour::Athena => "legacy CUR (Athena columns)",
            Flavour::Cur2 => "CUR 2.0",
        }
    }
}

/// The columns the connector understands, whatever the file calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Logical {
    UsageStart,
    UsageEnd,
    LineItemType,
    ProductCode,
    UsageType,
    UsageAmount,
    Currency,
    UnblendedCost,
    NetUnblendedCost,
    BlendedCost,
    SavingsPlanEffectiveCost,
    SavingsPlanTotalCommitment,
    SavingsPlanUsedCommitment,
    ReservationEffectiveCost,
    ReservationUnusedAmortizedUpfront,
    ReservationUnusedRecurringFee,
    ReservationArn,
    PricingUnit,
    PayerAccount,
    UsageAccount,
    ProductRegion,
    ProductRegionCode,
    InstanceType,
    Vcpu,
    Operation,
    /// CUR 2.0 `product` map (JSON text in CSV, MAP in Parquet).
    ProductMap,
    /// CUR 2.0 `resource_tags` map.
    ResourceTagsMap,
}

/// Every logical column with its legacy header name (`None` for the CUR 2.0 maps).
const LEGACY_NAMES: [(Logical, &str); 25] = [
    (Logical::UsageStart, "lineItem/UsageStartDate"),
    (Logical::UsageEnd, "lineItem/UsageEndDate"),
    (Logical::LineItemType, "lineItem/LineItemType"),
    (Logical::ProductCode, "lineItem/ProductCode"),
    (Logical::UsageType, "lineItem/UsageType"),
    (Logical::UsageAmount, "lineItem/UsageAmount"),
    (Logical::Currency, "lineItem/CurrencyCode"),
    (Logical::UnblendedCost, "lineItem/UnblendedCost"),
    (Logical::NetUnblendedCost, "lineItem/NetUnblendedCost"),
    (Logical::BlendedCost, "lineItem/BlendedCost"),
    (
        Logical::SavingsPlanEffectiveCost,
        "savingsPlan/SavingsPlanEffectiveCost",
    ),
    (
        Logical::SavingsPlanTotalCommitment,
        "savingsPlan/TotalCommitmentToDate",
    ),
    (
        Logical::SavingsPlanUsedCommitment,
        "savingsPlan/UsedCommitment",
    ),
    (
        Logical::ReservationEffectiveCost,
        "reservation/EffectiveCost",
    ),
    (
        Logical::ReservationUnusedAmortizedUpfront,
        "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    ),
    (
        Logical::ReservationUnusedRecurringFee,
        "reservation/UnusedRecurringFee",
    ),
    (Logical::ReservationArn, "reservation/ReservationARN"),
    (Logical::PricingUnit, "pricing/unit"),
    (Logical::PayerAccount, "bill/PayerAccountId"),
    (Logical::UsageAccount, "lineItem/UsageAccountId"),
    (Logical::ProductRegion, "product/region"),
    (Logical::ProductRegionCode, "product/regionCode"),
    (Logical::InstanceType, "product/instanceType"),
    (Logical::Vcpu, "product/vcpu"),
    (Logical::Operation, "lineItem/Operation"),
];

/// Columns without which no row can be read (the cost column is added per measure).
const ALWAYS_REQUIRED: [Logical; 7] = [
    Logical::UsageStart,
    Logical::UsageEnd,
    Logical::LineItemType,
    Logical::ProductCode,
    Logical::UsageType,
    Logical::UsageAmount,
    Logical::Currency,
];

/// AWS's Athena name for a legacy CUR header: `/` and `:` become `_`, and every capital
/// letter becomes `_` + its lower case (`lineItem/UsageType` → `line_item_usage_type`,
/// `reservation/ReservationARN` → `reservation_reservation_a_r_n`,
/// `resourceTags/user:Team` → `resource_tags_user_team`).
pub fn legacy_to_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if c == '/' || c == ':' {
            out.push('_');
        } else if c.is_ascii_uppercase() {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn clean(name: &str) -> &str {
    name.trim_start_matches('\u{feff}').trim()
}

/// Which flavour a header is, if it is a CUR header at all (it must name the usage type and
/// the line item type).
pub fn detect_flavour(header: &[String]) -> Option<Flavour> {
    let has = |wanted: &str| header.iter().any(|h| clean(h).eq_ignore_ascii_case(wanted));
    if has("lineItem/UsageType") && has("lineItem/LineItemType") {
        return Some(Flavour::Legacy);
    }
    if has("line_item_usage_type") && has("line_item_line_item_type") {
        let cur2 = has("product") || has("resource_tags") || has("bill_payer_account_name");
        return Some(if cur2 { Flavour::Cur2 } else { Flavour::Athena });
    }
    None
}

/// A file's header resolved onto logical columns.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    pub flavour: Flavour,
    /// Logical column → the column's name as it is in the file.
    found: HashMap<Logical, String>,
    /// Tag columns: (name in the file, tag key in the ledger).
    pub tag_columns: Vec<(String, String)>,
}

impl ColumnMap {
    /// Maps `header` (the file's column names, in order) for reading with `measure`.
    ///
    /// Errors with the file, line 1 (for CSV) and the missing column, in the file's naming.
    pub fn resolve(
        header: &[String],
        measure: CostMeasure,
        file: &str,
        header_line: Option<u64>,
    ) -> Result<ColumnMap, SourceError> {
        let at = |column: Option<String>| {
            let mut location = Location::file(file);
            location.line = header_line;
            location.column = column;
            location
        };
        let flavour = detect_flavour(header).ok_or_else(|| {
            SourceError::invalid(
                at(None),
                "not an AWS Cost and Usage Report: the header has neither \
                 `lineItem/UsageType` + `lineItem/LineItemType` nor \
                 `line_item_usage_type` + `line_item_line_item_type`",
            )
        })?;
        let mut found = HashMap::new();
        for (logical, legacy) in LEGACY_NAMES {
            let wanted = name_in(flavour, legacy);
            let hit = header.iter().find(|h| match flavour {
                Flavour::Legacy => clean(h).eq_ignore_ascii_case(&wanted),
                Flavour::Athena | Flavour::Cur2 => clean(h) == wanted,
            });
            if let Some(h) = hit {
                found.insert(logical, h.clone());
            }
        }
        if flavour == Flavour::Cur2 {
            for (logical, wanted) in [
                (Logical::ProductMap, "product"),
                (Logical::ResourceTagsMap, "resource_tags"),
            ] {
                if let Some(h) = header.iter().find(|h| clean(h) == wanted) {
                    found.insert(logical, h.clone());
                }
            }
        }
        let mut required = ALWAYS_REQUIRED.to_vec();
        required.push(measure.required_column());
        for logical in required {
            if !found.contains_key(&logical) {
                let name = ColumnMap::file_name_of(flavour, logical);
                return Err(SourceError::invalid(
                    at(Some(name.clone())),
                    format!(
                        "required column `{name}` is missing ({} header)",
                        flavour.label()
                    ),
                ));
            }
        }
        let tag_columns = header
            .iter()
            .filter_map(|h| tag_key(flavour, clean(h)).map(|key| (h.clone(), key)))
            .collect();
        Ok(ColumnMap {
            flavour,
            found,
            tag_columns,
        })
    }

    /// The file's name for a logical column, if the file has it.
    pub fn get(&self, logical: Logical) -> Option<&str> {
        self.found.get(&logical).map(String::as_str)
    }

    /// How a file of `flavour` names `logical` (for messages about absent columns).
    pub fn file_name_of(flavour: Flavour, logical: Logical) -> String {
        match logical {
            Logical::ProductMap => return "product".to_owned(),
            Logical::ResourceTagsMap => return "resource_tags".to_owned(),
            _ => {}
        }
        let legacy = LEGACY_NAMES
            .iter()
            .find(|(l, _)| *l == logical)
            .map_or("", |(_, name)| *name);
        name_in(flavour, legacy)
    }

    /// The name this map's file uses (or would use) for `logical`.
    pub fn name_of(&self, logical: Logical) -> String {
        self.get(logical).map_or_else(
            || ColumnMap::file_name_of(self.flavour, logical),
            str::to_owned,
        )
    }

    /// Every column the reader needs from the file, without duplicates, in a stable order.
    pub fn projection(&self) -> Vec<String> {
        let mut logical: Vec<_> = self.found.iter().collect();
        logical.sort_by_key(|(l, _)| **l);
        let mut names: Vec<String> = logical.into_iter().map(|(_, name)| name.clone()).collect();
        for (name, _) in &self.tag_columns {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
        names
    }
}

fn name_in(flavour: Flavour, legacy: &str) -> String {
    match flavour {
        Flavour::Legacy => legacy.to_owned(),
        Flavour::Athena | Flavour::Cur2 => legacy_to_snake(legacy),
    }
}

/// The ledger's tag key for a tag column, or `None` if the column is not a tag.
///
/// Legacy `resourceTags/user:Team` → `Team`, `resourceTags/aws:createdBy` → `aws:createdBy`;
/// Athena `resource_tags_user_team` → `team`, `resource_tags_aws_created_by` →
/// `aws_created_by`.
fn tag_key(flavour: Flavour, column: &str) -> Option<String> {
    let key = match flavour {
        Flavour::Legacy => {
            let rest = strip_prefix_ignore_case(column, "resourceTags/")?;
            strip_prefix_ignore_case(rest, "user:").unwrap_or(rest)
        }
        Flavour::Athena | Flavour::Cur2 => {
            let rest = column.strip_prefix("resource_tags_")?;
            rest.strip_prefix("user_").unwrap_or(rest)
        }
    };
    (!key.is_empty()).then(|| key.to_owned())
}

/// The ledger's tag key for a key of the CUR 2.0 `resource_tags` map: `user_team` → `team`;
/// other keys (`aws_createdBy`) are kept as they are.
pub fn map_tag_key(key: &str) -> &str {
    key.strip_prefix("user_").unwrap_or(key)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn snake_case_follows_athena() {
        assert_eq!(
            legacy_to_snake("lineItem/UsageType"),
            "line_item_usage_type"
        );
        assert_eq!(
            legacy_to_snake("lineItem/LineItemType"),
            "line_item_line_item_type"
        );
        assert_eq!(
            legacy_to_snake("reservation/ReservationARN"),
            "reservation_reservation_a_r_n"
        );
        assert_eq!(legacy_to_snake("product/regionCode"), "product_region_code");
        assert_eq!(
            legacy_to_snake("resourceTags/user:team"),
            "resource_tags_user_team"
        );
        assert_eq!(legacy_to_snake("pricing/unit"), "pricing_unit");
    }

    #[test]
    fn flavours_are_told_apart() {
        let legacy = header(&["lineItem/UsageType", "lineItem/LineItemType"]);
        assert_eq!(detect_flavour(&legacy), Some(Flavour::Legacy));
        let athena = header(&["line_item_usage_type", "line_item_line_item_type"]);
        assert_eq!(detect_flavour(&athena), Some(Flavour::Athena));
        let cur2 = header(&[
            "line_item_usage_type",
            "line_item_line_item_type",
            "product",
        ]);
        assert_eq!(detect_flavour(&cur2), Some(Flavour::Cur2));
        assert_eq!(detect_flavour(&header(&["UsageType", "Cost"])), None);
    }

    #[test]
    fn missing_required_column_is_named_in_the_files_own_naming() {
        let h = header(&[
            "line_item_usage_start_date",
            "line_item_usage_end_date",
            "line_item_line_item_type",
            "line_item_product_code",
            "line_item_usage_type",
            "line_item_usage_amount",
            "line_item_currency_code",
        ]);
        let err = ColumnMap::resolve(&h, CostMeasure::Unblended, "x.csv", Some(1))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            err,
            "x.csv, line 1, column `line_item_unblended_cost`: required column \
             `line_item_unblended_cost` is missing (legacy CUR (Athena columns) header)"
        );
    }

    #[test]
    fn tag_columns_get_short_keys() {
        assert_eq!(
            tag_key(Flavour::Legacy, "resourceTags/user:Team").as_deref(),
            Some("Team")
        );
        assert_eq!(
            tag_key(Flavour::Legacy, "resourceTags/aws:createdBy").as_deref(),
            Some("aws:createdBy")
        );
        assert_eq!(
            tag_key(Flavour::Athena, "resource_tags_user_team").as_deref(),
            Some("team")
        );
        assert_eq!(tag_key(Flavour::Athena, "resource_tags").as_deref(), None);
        assert_eq!(map_tag_key("user_team"), "team");
        assert_eq!(map_tag_key("aws_createdBy"), "aws_createdBy");
    }
}
