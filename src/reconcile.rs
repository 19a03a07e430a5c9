//! The reconciliation of a run: every input row and every unit of cost must reach the ledger,
//! estimated, estimated by ratio, or excluded with a reason. Printed to stderr after each run.

use std::collections::BTreeMap;
use std::fmt;

use carbonledger_usage::{InputTotals, col as ucol};
use polars::prelude::*;

use crate::Error;
use crate::ledger::{col as lcol, kind};

/// Counts taken from the ledger as it is written.
#[derive(Debug, Default, Clone)]
pub struct Reconciliation {
    pub input: InputTotals,
    pub rows_out: u64,
    pub estimated: u64,
    pub by_ratio: u64,
    pub excluded: u64,
    /// Reason → (rows, cost per currency).
    pub excluded_by_reason: BTreeMap<String, (u64, BTreeMap<String, f64>)>,
    pub cost_out: BTreeMap<String, f64>,
    pub energy_kwh: f64,
    pub scope2_location_kg: f64,
    pub scope3_embodied_kg: f64,
    /// What the source reported about the read (requests made, cache hits), one line each.
    pub notes: Vec<String>,
}

impl Reconciliation {
    /// Adds one ledger batch.
    pub fn add(&mut self, ledger: &DataFrame) -> PolarsResult<()> {
        let kinds = ledger.column(lcol::ESTIMATE_KIND)?.str()?;
        let reasons = ledger.column(ucol::EXCLUSION_REASON)?.str()?;
        let costs = ledger.column(ucol::COST)?.f64()?;
        let currencies = ledger.column(ucol::CURRENCY)?.str()?;
        for (((k, reason), cost), currency) in kinds
            .iter()
            .zip(reasons.iter())
            .zip(costs.iter())
            .zip(currencies.iter())
        {
            let cost = cost.unwrap_or(0.0);
            let currency = currency.unwrap_or("");
            match k.unwrap_or("") {
                kind::ESTIMATED => self.estimated += 1,
                kind::RATIO => self.by_ratio += 1,
                _ => {
                    self.excluded += 1;
                    let entry = self
                        .excluded_by_reason
                        .entry(reason.unwrap_or("no reason given").to_owned())
                        .or_default();
                    entry.0 += 1;
                    *entry.1.entry(currency.to_owned()).or_default() += cost;
                }
            }
            if let Some(total) = self.cost_out.get_mut(currency) {
                *total += cost;
            } else {
                self.cost_out.insert(currency.to_owned(), cost);
            }
        }
        self.rows_out += ledger.height() as u64;
        let sum = |name: &str| -> PolarsResult<f64> {
            Ok(ledger.column(name)?.f64()?.sum().unwrap_or(0.0))
        };
        self.energy_kwh += sum(lcol::ENERGY_KWH)?;
        self.scope2_location_kg += sum(lcol::SCOPE2_LOCATION_KG)?;
        self.scope3_embodied_kg += sum(lcol::SCOPE3_EMBODIED_KG)?;
        Ok(())
    }

    /// Fails unless rows and cost per currency match the input exactly (to rounding).
    pub fn check(&self) -> Result<(), Error> {
        if self.rows_out != self.input.rows {
            return Err(Error::Reconciliation(format!(
                "{} rows read but {} rows in the ledger",
                self.input.rows, self.rows_out
            )));
        }
        let currencies: std::collections::BTreeSet<_> =
            self.input.cost.keys().chain(self.cost_out.keys()).collect();
        for currency in currencies {
            let cost_in = self.input.cost.get(currency).copied().unwrap_or(0.0);
            let cost_out = self.cost_out.get(currency).copied().unwrap_or(0.0);
            let tolerance = 1e-9 * cost_in.abs().max(1.0);
            if (cost_in - cost_out).abs() > tolerance {
                return Err(Error::Reconciliation(format!(
                    "cost in {cost_in} {currency} but cost out {cost_out} {currency}"
                )));
            }
        }
        Ok(())
    }
}

fn money(amounts: &BTreeMap<String, f64>) -> String {
    if amounts.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = amounts.iter().map(|(c, v)| format!("{v:.4} {c}")).collect();
    parts.join(", ")
}

impl fmt::Display for Reconciliation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "reconciliation:")?;
        writeln!(f, "  rows read            {:>10}", self.input.rows)?;
        writeln!(f, "  estimated            {:>10}", self.estimated)?;
        writeln!(f, "  estimated by ratio   {:>10}", self.by_ratio)?;
        writeln!(f, "  excluded             {:>10}", self.excluded)?;
        for (reason, (rows, cost)) in &self.excluded_by_reason {
            writeln!(f, "    {rows:>8}  {reason} ({})", money(cost))?;
        }
        writeln!(f, "  cost in              {}", money(&self.input.cost))?;
        writeln!(f, "  cost out             {}", money(&self.cost_out))?;
        writeln!(
            f,
            "  energy {:.6} kWh, scope 2 (location) {:.6} kg CO2e, scope 3 {:.6} kg CO2e",
            self.energy_kwh, self.scope2_location_kg, self.scope3_embodied_kg
        )?;
        for note in &self.notes {
            writeln!(f, "  {note}")?;
        }
        Ok(())
    }
}
