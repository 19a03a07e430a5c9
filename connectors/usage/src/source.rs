//! The trait every connector implements.

use std::collections::BTreeMap;

use polars::prelude::DataFrame;

use crate::SourceError;

/// What a source counted in its raw input, independently of classification, so the caller can
/// check that every row and every unit of cost reached the ledger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputTotals {
    /// Data rows read (header lines not counted).
    pub rows: u64,
    /// Sum of the chosen cost measure per currency, as read from the input.
    pub cost: BTreeMap<String, f64>,
}

impl InputTotals {
    pub fn add(&mut self, other: &InputTotals) {
        self.rows += other.rows;
        for (currency, cost) in &other.cost {
            *self.cost.entry(currency.clone()).or_default() += cost;
        }
    }
}

/// A source of usage rows: a CUR folder, a BigQuery table, an API, …
///
/// `read` calls `sink` with batches in the usage schema (see [`crate::usage_schema`]); a batch
/// may have any number of rows. A source must either deliver every input row (estimated or
/// marked `excluded` with a reason) or fail with an error naming where the input is broken.
/// It returns the totals it counted in the raw input.
pub trait UsageSource {
    /// A short human description for logs: `AWS CUR folder reports/cur (2 periods, 3 files)`.
    fn describe(&self) -> String;

    /// Streams every row of the source to `sink`.
    fn read(
        &mut self,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError>;

    /// Lines for the user after a read (on stderr): requests made, what a cache answered,
    /// what was skipped. Empty for sources with nothing to say.
    fn summary(&self) -> Vec<String> {
        Vec::new()
    }

    /// What the source would read, as text that changes whenever its input does (object keys
    /// and modification times of a listing, say); `None` when the source cannot tell without
    /// reading. The batch job skips a source whose fingerprint is the last run's.
    fn fingerprint(&self) -> Option<String> {
        None
    }

    /// Which cost the `cost` column holds. `None` for a source that does not say (the FOCUS
    /// output then leaves every FOCUS cost column empty and keeps the cost in `x_Cost`).
    fn cost_basis(&self) -> Option<CostBasis> {
        None
    }
}

/// The cost measure of a source's `cost` column, and the FinOps FOCUS cost column it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostBasis {
    /// The measure in the connector's own words (`unblended`, `net`, `EffectiveCost`).
    pub name: String,
    /// The FOCUS column holding the same figure, or `None` when FOCUS has no such column
    /// (AWS blended cost, GCP cost before credits).
    pub focus: Option<FocusCost>,
}

/// FOCUS's four cost columns (FOCUS 1.2 §Metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FocusCost {
    /// What is invoiced: reduced rates and discounts applied, upfront charges not amortized.
    BilledCost,
    /// Amortized: upfront and recurring commitment purchases spread over the usage they cover.
    EffectiveCost,
    /// List unit price × pricing quantity.
    ListCost,
    /// Contracted (negotiated) unit price × pricing quantity.
    ContractedCost,
}

impl FocusCost {
    /// The FOCUS column name.
    pub fn column(self) -> &'static str {
        match self {
            FocusCost::BilledCost => "BilledCost",
            FocusCost::EffectiveCost => "EffectiveCost",
            FocusCost::ListCost => "ListCost",
            FocusCost::ContractedCost => "ContractedCost",
        }
    }
}

impl CostBasis {
    pub fn new(name: impl Into<String>, focus: Option<FocusCost>) -> Self {
        CostBasis {
            name: name.into(),
            focus,
        }
    }
}
