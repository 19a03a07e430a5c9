//! Header normalisation: every spelling of a cost-details column (EA and MCA PascalCase, MCA
//! and API camelCase, legacy pay-as-you-go names, localised headers with the English name in
//! brackets such as `Maßeinheit (UnitOfMeasure)`, a UTF-8 byte-order mark) mapped to one
//! canonical [`Field`].
//!
//! A header is cleaned before lookup: the BOM is dropped, a localised name keeps only the text
//! in its last brackets, spaces, `_` and `-` are removed and the rest is lower-cased. Aliases
//! are ranked: when a file has two columns for one field (`Cost` and `CostInBillingCurrency`),
//! the first alias in [`Field::aliases`] wins and the other column is ignored. One spelling
//! twice (`Cost`, `Cost`) is an error (the reader names both positions): which of two
//! columns with the same name holds the cost cannot be known.

/// A cost-details column the connector reads, by its canonical (EA PascalCase) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    BillingAccountId,
    BillingProfileId,
    SubscriptionId,
    Date,
    MeterCategory,
    MeterSubCategory,
    MeterName,
    MeterRegion,
    Quantity,
    UnitOfMeasure,
    Cost,
    BillingCurrency,
    ResourceLocation,
    Location,
    ConsumedService,
    ResourceId,
    AdditionalInfo,
    Tags,
    ChargeType,
    PricingModel,
    Frequency,
    ReservationId,
    BenefitId,
}

/// Every field, in the order of the enum.
pub const ALL: [Field; 23] = [
    Field::BillingAccountId,
    Field::BillingProfileId,
    Field::SubscriptionId,
    Field::Date,
    Field::MeterCategory,
    Field::MeterSubCategory,
    Field::MeterName,
    Field::MeterRegion,
    Field::Quantity,
    Field::UnitOfMeasure,
    Field::Cost,
    Field::BillingCurrency,
    Field::ResourceLocation,
    Field::Location,
    Field::ConsumedService,
    Field::ResourceId,
    Field::AdditionalInfo,
    Field::Tags,
    Field::ChargeType,
    Field::PricingModel,
    Field::Frequency,
    Field::ReservationId,
    Field::BenefitId,
];

/// The fields a file must have: without them a row has no day, quantity, unit, cost,
/// currency or meter to classify.
pub const REQUIRED: [Field; 7] = [
    Field::Date,
    Field::MeterCategory,
    Field::MeterName,
    Field::Quantity,
    Field::UnitOfMeasure,
    Field::Cost,
    Field::BillingCurrency,
];

impl Field {
    /// The canonical column name (as EA exports spell it).
    pub fn name(self) -> &'static str {
        self.aliases()[0]
    }

    /// Accepted spellings after [`clean`], preferred first. The first entry, with its case,
    /// is the canonical name.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::BillingAccountId => &["BillingAccountId", "billingaccount"],
            Field::BillingProfileId => &["BillingProfileId"],
            Field::SubscriptionId => &["SubscriptionId", "subscriptionguid"],
            Field::Date => &["Date", "usagedate", "usagedatetime", "usagestart"],
            Field::MeterCategory => &["MeterCategory", "servicename"],
            Field::MeterSubCategory => &["MeterSubCategory", "servicetier"],
            Field::MeterName => &["MeterName"],
            Field::MeterRegion => &["MeterRegion"],
            Field::Quantity => &["Quantity", "usagequantity", "consumedquantity"],
            Field::UnitOfMeasure => &["UnitOfMeasure", "unit"],
            Field::Cost => &["Cost", "costinbillingcurrency", "pretaxcost"],
            Field::BillingCurrency => &["BillingCurrency", "billingcurrencycode", "currency"],
            Field::ResourceLocation => &["ResourceLocation"],
            Field::Location => &["Location", "resourcelocationnormalized"],
            Field::ConsumedService => &["ConsumedService"],
            Field::ResourceId => &["ResourceId", "instanceid", "instancename"],
            Field::AdditionalInfo => &["AdditionalInfo"],
            Field::Tags => &["Tags"],
            Field::ChargeType => &["ChargeType"],
            Field::PricingModel => &["PricingModel"],
            Field::Frequency => &["Frequency"],
            Field::ReservationId => &["ReservationId"],
            Field::BenefitId => &["benefitId"],
        }
    }

    /// The field a header names and the rank of the alias (0 = preferred).
    pub fn of_name(header: &str) -> Option<(Field, usize)> {
        let key = clean(header);
        if key.is_empty() {
            return None;
        }
        ALL.iter().find_map(|field| {
            field
                .aliases()
                .iter()
                .position(|alias| alias.to_ascii_lowercase() == key)
                .map(|rank| (*field, rank))
        })
    }
}

/// The lookup key of a header: no BOM, the bracketed English name of a localised header,
/// no spaces, `_` or `-`, lower case.
pub fn clean(header: &str) -> String {
    let text = header.trim_start_matches('\u{feff}').trim();
    let text = match (text.rfind('('), text.strip_suffix(')')) {
        (Some(open), Some(inner)) if open > 0 => &inner[open + 1..],
        _ => text,
    };
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Which input column holds each field, by index.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    /// `(field, column index, alias rank)`, one entry per field found.
    pub columns: Vec<(Field, usize, usize)>,
    /// The first read field whose column name appears twice with the same spelling: the
    /// field and both 0-based column indexes.
    pub duplicate: Option<(Field, usize, usize)>,
}

impl ColumnMap {
    /// Maps a header row; the best-ranked alias of each field wins.
    pub fn of_header<'a>(names: impl IntoIterator<Item = &'a str>) -> ColumnMap {
        let mut map = ColumnMap::default();
        for (i, name) in names.into_iter().enumerate() {
            let Some((field, rank)) = Field::of_name(name) else {
                continue;
            };
            match map.columns.iter_mut().find(|(f, _, _)| *f == field) {
                Some(entry) if entry.2 > rank => *entry = (field, i, rank),
                Some(entry) if entry.2 == rank && map.duplicate.is_none() => {
                    map.duplicate = Some((field, entry.1, i));
                }
                Some(_) => {}
                None => map.columns.push((field, i, rank)),
            }
        }
        map
    }

    pub fn index(&self, field: Field) -> Option<usize> {
        self.columns
            .iter()
            .find(|(f, _, _)| *f == field)
            .map(|(_, i, _)| *i)
    }

    /// The first required field the header lacks.
    pub fn missing(&self) -> Option<Field> {
        REQUIRED.into_iter().find(|f| self.index(*f).is_none())
    }
}

/// Whether a header is an Azure cost-details header: it names the meter category and the
/// meter name. FOCUS files (`BilledCost`, `ChargePeriodStart`) have none of the meter
/// columns, so they are not claimed. The two meter columns are enough: a cost-details file
/// that lacks its cost or unit column is still claimed, so that the reader names the missing
/// column instead of the file being called no bill at all.
pub fn looks_like_cost_details(header: &[String]) -> bool {
    let map = ColumnMap::of_header(header.iter().map(String::as_str));
    [Field::MeterCategory, Field::MeterName]
        .into_iter()
        .all(|f| map.index(f).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_maps_to_its_field() {
        let cases = [
            ("\u{feff}BillingAccountId", Field::BillingAccountId),
            ("costInBillingCurrency", Field::Cost),
            ("PreTaxCost", Field::Cost),
            ("SubscriptionGuid", Field::SubscriptionId),
            ("Abonnement-GUID (SubscriptionGuid)", Field::SubscriptionId),
            ("Maßeinheit (UnitOfMeasure)", Field::UnitOfMeasure),
            ("meterSubCategory", Field::MeterSubCategory),
            ("MeterSubcategory", Field::MeterSubCategory),
            ("UsageDateTime", Field::Date),
            ("billingCurrencyCode", Field::BillingCurrency),
            ("resourceLocation", Field::ResourceLocation),
            ("InstanceName", Field::ResourceId),
        ];
        for (header, field) in cases {
            assert_eq!(Field::of_name(header).map(|f| f.0), Some(field), "{header}");
        }
        assert_eq!(Field::of_name("costInUsd"), None);
        assert_eq!(Field::of_name("BilledCost"), None);
    }

    #[test]
    fn the_preferred_alias_wins_whatever_the_column_order() {
        let map = ColumnMap::of_header(["CostInBillingCurrency", "Cost"]);
        assert_eq!(map.index(Field::Cost), Some(1));
        let map = ColumnMap::of_header(["Cost", "CostInBillingCurrency"]);
        assert_eq!(map.index(Field::Cost), Some(0));
    }

    #[test]
    fn one_spelling_twice_is_a_duplicate_and_two_aliases_are_not() {
        let map = ColumnMap::of_header(["Date", "Cost", "Quantity", "cost"]);
        assert_eq!(map.duplicate, Some((Field::Cost, 1, 3)));
        let map = ColumnMap::of_header(["Cost", "CostInBillingCurrency"]);
        assert_eq!(map.duplicate, None);
    }

    #[test]
    fn focus_headers_are_not_cost_details() {
        let focus: Vec<String> = [
            "BilledCost",
            "ChargePeriodStart",
            "ServiceName",
            "PricingUnit",
        ]
        .map(String::from)
        .to_vec();
        assert!(!looks_like_cost_details(&focus));
        let ea: Vec<String> = [
            "Date",
            "MeterCategory",
            "MeterName",
            "UnitOfMeasure",
            "Cost",
        ]
        .map(String::from)
        .to_vec();
        assert!(looks_like_cost_details(&ea));
    }
}
