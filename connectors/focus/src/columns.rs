//! The FOCUS columns the connector reads, how a header maps onto them, which version of the
//! specification a header is, and which columns a file must have.
//!
//! Names are matched exactly, ignoring ASCII case and surrounding spaces (a byte-order mark on
//! the first name is dropped); columns the connector does not read (other FOCUS columns,
//! other providers' `x_` columns, non-spec columns such as an `Id`) are ignored.

use std::fmt;

use carbonledger_usage::{Location, SourceError};

/// A column the connector reads. The discriminant indexes [`NAMES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(usize)]
pub enum Col {
    ChargePeriodStart,
    ChargePeriodEnd,
    ChargeCategory,
    ChargeClass,
    ChargeDescription,
    BilledCost,
    EffectiveCost,
    ListCost,
    ContractedCost,
    BillingCurrency,
    BillingAccountId,
    SubAccountId,
    SubAccountName,
    ProviderName,
    ServiceName,
    ServiceCategory,
    ServiceSubcategory,
    RegionId,
    AvailabilityZone,
    ResourceType,
    SkuId,
    SkuMeter,
    SkuPriceDetails,
    ConsumedQuantity,
    ConsumedUnit,
    PricingQuantity,
    PricingUnit,
    CommitmentDiscountStatus,
    Tags,
    // Provider columns (`x_`): AWS's FOCUS export.
    XUsageType,
    XOperation,
    XServiceCode,
    // Azure's FocusCost export.
    XSkuMeterCategory,
    XSkuMeterSubcategory,
    XSkuDetails,
    XSkuDescription,
}

/// Number of columns in [`Col`].
pub const COUNT: usize = 36;

/// The header name of each [`Col`], in declaration order.
pub const NAMES: [&str; COUNT] = [
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "BillingAccountId",
    "SubAccountId",
    "SubAccountName",
    "ProviderName",
    "ServiceName",
    "ServiceCategory",
    "ServiceSubcategory",
    "RegionId",
    "AvailabilityZone",
    "ResourceType",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingQuantity",
    "PricingUnit",
    "CommitmentDiscountStatus",
    "Tags",
    "x_UsageType",
    "x_Operation",
    "x_ServiceCode",
    "x_SkuMeterCategory",
    "x_SkuMeterSubcategory",
    "x_SkuDetails",
    "x_SkuDescription",
];

const ALL: [Col; COUNT] = {
    use Col::*;
    [
        ChargePeriodStart,
        ChargePeriodEnd,
        ChargeCategory,
        ChargeClass,
        ChargeDescription,
        BilledCost,
        EffectiveCost,
        ListCost,
        ContractedCost,
        BillingCurrency,
        BillingAccountId,
        SubAccountId,
        SubAccountName,
        ProviderName,
        ServiceName,
        ServiceCategory,
        ServiceSubcategory,
        RegionId,
        AvailabilityZone,
        ResourceType,
        SkuId,
        SkuMeter,
        SkuPriceDetails,
        ConsumedQuantity,
        ConsumedUnit,
        PricingQuantity,
        PricingUnit,
        CommitmentDiscountStatus,
        Tags,
        XUsageType,
        XOperation,
        XServiceCode,
        XSkuMeterCategory,
        XSkuMeterSubcategory,
        XSkuDetails,
        XSkuDescription,
    ]
};

impl Col {
    pub fn name(self) -> &'static str {
        NAMES[self as usize]
    }

    /// The column a header name stands for.
    pub fn of_name(name: &str) -> Option<Col> {
        let name = clean(name);
        ALL.into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

/// A header name without a byte-order mark and surrounding spaces.
pub fn clean(name: &str) -> &str {
    name.trim_start_matches('\u{feff}').trim()
}

/// Columns added in FOCUS 1.1 (checked against the column lists of the specification).
const ADDED_IN_1_1: [&str; 7] = [
    "CapacityReservationId",
    "CapacityReservationStatus",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountUnit",
    "ServiceSubcategory",
    "SkuMeter",
    "SkuPriceDetails",
];

/// Columns added in FOCUS 1.2.
const ADDED_IN_1_2: [&str; 7] = [
    "BillingAccountType",
    "InvoiceId",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "SubAccountType",
];

/// The FOCUS version a header is, told from the columns present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FocusVersion {
    V1_0,
    V1_1,
    V1_2,
}

impl FocusVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            FocusVersion::V1_0 => "1.0",
            FocusVersion::V1_1 => "1.1",
            FocusVersion::V1_2 => "1.2",
        }
    }

    /// The newest version whose added columns appear in `header`: a 1.2 column makes it 1.2,
    /// else a 1.1 column 1.1, else 1.0. Conditional columns may be left out of an export, so
    /// this is a lower bound: a 1.1 export whose provider fills none of the seven 1.1 columns
    /// reads as 1.0 (nothing the connector does depends on the difference).
    pub fn detect<S: AsRef<str>>(header: &[S]) -> FocusVersion {
        let has = |names: &[&str]| {
            header.iter().any(|h| {
                names
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(clean(h.as_ref())))
            })
        };
        if has(&ADDED_IN_1_2) {
            FocusVersion::V1_2
        } else if has(&ADDED_IN_1_1) {
            FocusVersion::V1_1
        } else {
            FocusVersion::V1_0
        }
    }
}

impl fmt::Display for FocusVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Columns that only FOCUS has (no provider's native format uses these names).
const DISTINCTIVE: [&str; 8] = [
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "BilledCost",
    "EffectiveCost",
    "ConsumedQuantity",
    "ListCost",
    "ContractedCost",
];

/// Whether a header is a FOCUS header: it has at least three of the column names only FOCUS
/// uses (the charge period, the charge category, the FOCUS cost and quantity columns). Three,
/// not all, so that a FOCUS file missing a mandatory column is still read as FOCUS and
/// rejected with the column's name.
pub fn looks_like_focus<S: AsRef<str>>(header: &[S]) -> bool {
    let found = DISTINCTIVE
        .iter()
        .filter(|name| {
            header
                .iter()
                .any(|h| clean(h.as_ref()).eq_ignore_ascii_case(name))
        })
        .count();
    found >= 3
}

/// Where the connector's columns are in one file: the index of each [`Col`] and the name
/// the file gives it.
#[derive(Debug, Clone)]
pub struct ColumnMap {
    /// `(column, index in the file, name as in the file)`.
    pub present: Vec<(Col, usize, String)>,
    pub version: FocusVersion,
}

impl ColumnMap {
    /// Maps `header`; a name given twice is an error naming both positions.
    pub fn new<S: AsRef<str>>(header: &[S], shown: &str) -> Result<ColumnMap, SourceError> {
        let mut present: Vec<(Col, usize, String)> = Vec::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.as_ref();
            let Some(col) = Col::of_name(name) else {
                continue;
            };
            if let Some((_, first, _)) = present.iter().find(|(c, _, _)| *c == col) {
                return Err(SourceError::invalid(
                    Location::file(shown).at_line(1).in_column(clean(name)),
                    format!(
                        "the column appears twice in the header: as column {} and as column {}",
                        first + 1,
                        i + 1
                    ),
                ));
            }
            present.push((col, i, clean(name).to_owned()));
        }
        Ok(ColumnMap {
            present,
            version: FocusVersion::detect(header),
        })
    }

    pub fn has(&self, col: Col) -> bool {
        self.present.iter().any(|(c, _, _)| *c == col)
    }

    /// The file's own name of `col` (the spec's name when the file lacks it).
    pub fn shown(&self, col: Col) -> &str {
        self.present
            .iter()
            .find(|(c, _, _)| *c == col)
            .map_or(col.name(), |(_, _, n)| n.as_str())
    }

    /// Fails on the first of `required` the file lacks, naming the file and the column.
    pub fn require(&self, required: &[Col], shown: &str) -> Result<(), SourceError> {
        for col in required {
            if !self.has(*col) {
                return Err(SourceError::invalid(
                    Location::file(shown).at_line(1).in_column(col.name()),
                    format!(
                        "required column `{}` is missing from the FOCUS header (FOCUS {} \
                         columns detected)",
                        col.name(),
                        self.version
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_enum() {
        for (i, col) in ALL.iter().enumerate() {
            assert_eq!(*col as usize, i);
            assert_eq!(Col::of_name(NAMES[i]), Some(*col));
        }
        assert_eq!(
            Col::of_name(" chargeperiodstart "),
            Some(Col::ChargePeriodStart)
        );
        assert_eq!(Col::of_name("\u{feff}BilledCost"), Some(Col::BilledCost));
        assert_eq!(Col::of_name("Id"), None);
    }

    #[test]
    fn versions_follow_the_added_columns() {
        let v10 = [
            "ChargePeriodStart",
            "ChargeCategory",
            "BilledCost",
            "ChargeClass",
        ];
        assert_eq!(FocusVersion::detect(&v10), FocusVersion::V1_0);
        let v11 = ["ChargePeriodStart", "SkuMeter", "BilledCost"];
        assert_eq!(FocusVersion::detect(&v11), FocusVersion::V1_1);
        let v12 = ["ChargePeriodStart", "SkuMeter", "InvoiceId"];
        assert_eq!(FocusVersion::detect(&v12), FocusVersion::V1_2);
        assert!(looks_like_focus(&v10));
        assert!(!looks_like_focus(&["lineItem/UsageType", "ChargeCategory"]));
    }

    #[test]
    fn a_duplicate_column_names_both_places() {
        let err = ColumnMap::new(&["BilledCost", "billedcost"], "f.csv").unwrap_err();
        assert_eq!(
            err.to_string(),
            "f.csv, line 1, column `billedcost`: the column appears twice in the header: as \
             column 1 and as column 2"
        );
    }
}
