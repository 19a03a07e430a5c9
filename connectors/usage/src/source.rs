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
}
