//! `carbonledger top`: the common questions without SQL, over the partitioned ledger of
//! `carbonledger run`: which services, regions, accounts or providers emit the most, or emit the
//! most per unit of cost, over a month, a range of months or the whole ledger.
//!
//! Emissions are location-based Scope 2 plus Scope 3 embodied, in kg CO2e, summed over every
//! currency (no cost column: costs of different currencies do not add up); intensity is those
//! emissions per unit of cost (kg CO2e per unit of the row's currency), so an intensity ranking
//! splits groups by currency. Groups without positive cost have no intensity and are
//! left out of an intensity ranking.

use std::path::Path;

use carbonledger_usage::col as ucol;
use polars::prelude::*;

use crate::Error;
use crate::ledger::col as lcol;
use crate::metrics::scan_ledger;

/// What to group by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TopBy {
    Service,
    Region,
    Account,
    Provider,
}

impl TopBy {
    fn column(self) -> &'static str {
        match self {
            TopBy::Service => ucol::SERVICE,
            TopBy::Region => ucol::REGION,
            TopBy::Account => ucol::USAGE_ACCOUNT,
            TopBy::Provider => ucol::PROVIDER,
        }
    }
}

/// What to rank by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TopMetric {
    /// kg CO2e (Scope 2 location-based + Scope 3 embodied).
    Emissions,
    /// kg CO2e per unit of cost.
    Intensity,
}

/// The `limit` largest groups of the ledger under `root`, over the billing months `from` to
/// `to` (`YYYY-MM`, both included; an open end when `None`).
pub fn top(
    root: &Path,
    by: TopBy,
    metric: TopMetric,
    (from, to): (Option<&str>, Option<&str>),
    limit: usize,
) -> Result<DataFrame, Error> {
    let Some(mut ledger) = scan_ledger(root)? else {
        return Err(Error::Usage(format!(
            "{}: the ledger has no partition files yet (run `carbonledger run` first)",
            root.display()
        )));
    };
    // `YYYY-MM` text orders as the months do.
    let of = || col(ucol::PERIOD_START).dt().strftime("%Y-%m");
    if let Some(from) = from {
        ledger = ledger.filter(of().gt_eq(lit(from.to_owned())));
    }
    if let Some(to) = to {
        ledger = ledger.filter(of().lt_eq(lit(to.to_owned())));
    }
    let key = by.column();
    let emissions = (col(lcol::SCOPE2_LOCATION_KG).fill_null(lit(0.0))
        + col(lcol::SCOPE3_EMBODIED_KG).fill_null(lit(0.0)))
    .sum()
    .alias("emissions_kg");
    let base = [
        emissions,
        col(lcol::ENERGY_KWH).sum().alias("energy_kwh"),
        len().alias("rows"),
    ];
    let (grouped, rank) = match metric {
        // Emissions add up across currencies; cost does not, so it is left out here.
        TopMetric::Emissions => (ledger.group_by([col(key)]).agg(base), "emissions_kg"),
        TopMetric::Intensity => {
            let mut aggs = base.to_vec();
            aggs.push(col(ucol::COST).sum().alias("cost"));
            let grouped = ledger
                .group_by([col(key), col(ucol::CURRENCY)])
                .agg(aggs)
                .filter(col("cost").gt(lit(0.0)))
                .with_column((col("emissions_kg") / col("cost")).alias("kg_per_cost"));
            (grouped, "kg_per_cost")
        }
    };
    grouped
        .sort(
            [rank, key],
            SortMultipleOptions::default()
                .with_order_descending_multi([true, false])
                .with_nulls_last(true),
        )
        .limit(limit as IdxSize)
        .collect()
        .map_err(Error::polars("ranking the ledger"))
}
