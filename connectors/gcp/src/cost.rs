//! Which cost of a GCP export row becomes the row's `cost`.
//!
//! GCP's `cost` is the row's charge **before credits**: committed-use and sustained-use
//! discounts, free tier and promotions are on the same row, in the repeated `credits` field,
//! as negative amounts in the row's `currency`. The net cost is `cost + sum(credits.amount)`,
//! as Google's own FOCUS view computes `BilledCost`.

use std::fmt;

use carbonledger_usage::{CostBasis, FocusCost};

/// The credit type of promotional credits (free trial, marketing and grant credits).
pub const PROMOTION: &str = "PROMOTION";

/// One entry of a row's repeated `credits` field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcpCredit {
    /// `credits.name` (`Sustained usage discount`, `FreeTrial:…`).
    pub name: String,
    /// `credits.amount`, negative, in the row's currency.
    pub amount: f64,
    /// `credits.type` (`COMMITTED_USAGE_DISCOUNT`, `SUSTAINED_USAGE_DISCOUNT`, `FREE_TIER`,
    /// `PROMOTION`, `DISCOUNT`, …); empty in exports older than the field.
    pub credit_type: String,
}

/// The cost measure carried into the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GcpCost {
    /// `cost` alone: the charge before any credit (what CCF sums).
    Gross,
    /// `cost + sum(credits.amount)`: what the row is billed after every credit (before tax).
    #[default]
    Net,
    /// `cost + sum(credits.amount)` over the credits whose type is not `PROMOTION`: the price
    /// after discounts, with promotional credits (free trial, grants) still counted as cost.
    NetExceptPromotions,
}

impl GcpCost {
    /// `gross`, `net` or `net-except-promotions`.
    pub fn as_str(self) -> &'static str {
        match self {
            GcpCost::Gross => "gross",
            GcpCost::Net => "net",
            GcpCost::NetExceptPromotions => "net-except-promotions",
        }
    }

    /// The FOCUS cost column of the same figure: the net cost is what is invoiced
    /// (`BilledCost`; GCP bills have no amortization). Cost before credits, and cost with
    /// promotions kept, have no FOCUS column.
    pub fn focus(self) -> Option<FocusCost> {
        match self {
            GcpCost::Net => Some(FocusCost::BilledCost),
            GcpCost::Gross | GcpCost::NetExceptPromotions => None,
        }
    }

    /// The measure as a [`CostBasis`].
    pub fn basis(self) -> CostBasis {
        CostBasis::new(self.as_str(), self.focus())
    }

    /// The inverse of [`GcpCost::as_str`].
    pub fn parse(s: &str) -> Option<GcpCost> {
        [GcpCost::Gross, GcpCost::Net, GcpCost::NetExceptPromotions]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    /// Whether the measure needs the `credits` field.
    pub fn needs_credits(self) -> bool {
        self != GcpCost::Gross
    }

    /// The row's cost in this measure, from its `cost` and `credits`.
    pub fn of(self, cost: f64, credits: &[GcpCredit]) -> f64 {
        let counted = |c: &&GcpCredit| match self {
            GcpCost::Gross => false,
            GcpCost::Net => true,
            GcpCost::NetExceptPromotions => !c.credit_type.eq_ignore_ascii_case(PROMOTION),
        };
        cost + credits
            .iter()
            .filter(counted)
            .map(|c| c.amount)
            .sum::<f64>()
    }
}

impl fmt::Display for GcpCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credit(amount: f64, credit_type: &str) -> GcpCredit {
        GcpCredit {
            name: "c".into(),
            amount,
            credit_type: credit_type.into(),
        }
    }

    #[test]
    fn measures_net_the_credits_they_name() {
        let credits = [
            credit(-0.25, "SUSTAINED_USAGE_DISCOUNT"),
            credit(-0.5, "PROMOTION"),
        ];
        // 2.5 alone; 2.5 − 0.25 − 0.5 = 1.75; 2.5 − 0.25 = 2.25.
        assert_eq!(GcpCost::Gross.of(2.5, &credits), 2.5);
        assert_eq!(GcpCost::Net.of(2.5, &credits), 1.75);
        assert_eq!(GcpCost::NetExceptPromotions.of(2.5, &credits), 2.25);
        assert_eq!(GcpCost::Net.of(2.5, &[]), 2.5);
    }

    #[test]
    fn names_round_trip() {
        for m in [GcpCost::Gross, GcpCost::Net, GcpCost::NetExceptPromotions] {
            assert_eq!(GcpCost::parse(m.as_str()), Some(m));
        }
        assert_eq!(GcpCost::parse("blended"), None);
        assert!(!GcpCost::Gross.needs_credits());
        assert!(GcpCost::Net.needs_credits());
    }
}
