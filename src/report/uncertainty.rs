//! The report's uncertainty range of the month's energy (kWh) and emissions (kg CO2e): a
//! bound from what the method assumes, not a statistical confidence interval.
//!
//! * **CPU and GPU energy** is computed at the factor set's assumed utilisation
//!   `u = cpu_utilization_percent` (billing data does not tell the real one), as
//!   `min + u × (max − min)` watts. The real utilisation lies between idle and full load, so
//!   each row's CPU energy lies between `min / avg` and `max / avg` times its value. The range
//!   takes, per factor set, the widest of these ratios over every row of `cpu_watts.csv` (and
//!   of `gpu_watts.csv` for GPU energy), of every provider and architecture: an outer bound,
//!   wider than the row's own architecture would give.
//! * **Rows estimated by ratio** carry energy extrapolated from known rows. Their bounds come
//!   from the month's data: per provider and currency, the lowest and the highest kWh per unit
//!   of cost among the services estimated from physical usage (services with positive kWh and
//!   positive cost); a ratio row of cost `c` and energy `e` spans `min(e, c × low)` to
//!   `max(e, c × high)`, and its embodied emissions (Scope 3) and Scope 2 scale by the same
//!   factor. A ratio row without such a service, or without positive cost, counts at its value
//!   in both bounds (`ratio_rows_unbounded`; the report says so).
//! * **Memory, storage and network energy, grid factors and the embodied emissions of rows
//!   estimated from usage** are point values in the factor tables (no published ranges), so
//!   they count at their value in both bounds. This understates the real uncertainty; the
//!   report says so.
//! * **Excluded rows** (no physical usage, or usage the method leaves out) are outside the
//!   range: it bounds the estimated figures only. A month with no estimated energy has no
//!   range (not a 0-to-0 one).
//!
//! Location-based Scope 2 scales with each row's energy (its own grid factor,
//! `scope2_location_kg / energy_kwh`); market-based Scope 2 (the market factor where one
//! exists, location-based elsewhere) scales the same way.

use carbonledger_factors::FactorSet;
use carbonledger_usage::col as ucol;
use polars::prelude::*;
use serde::Serialize;

use super::FactorSetInfo;
use crate::Error;
use crate::ledger::{col as lcol, kind};

/// The month's range.
#[derive(Debug, Clone, Serialize)]
pub struct Range {
    /// kWh.
    pub energy_low_kwh: f64,
    pub energy_high_kwh: f64,
    /// kg CO2e, location-based.
    pub scope2_location_low_kg: f64,
    pub scope2_location_high_kg: f64,
    /// kg CO2e, market-based where a market factor exists, location-based elsewhere.
    pub scope2_market_with_fallback_low_kg: f64,
    pub scope2_market_with_fallback_high_kg: f64,
    /// kg CO2e, embodied.
    pub scope3_embodied_low_kg: f64,
    pub scope3_embodied_high_kg: f64,
    /// kg CO2e: Scope 2 location-based + Scope 3 embodied.
    pub emissions_low_kg: f64,
    pub emissions_high_kg: f64,
    /// The ratio rows' bounds, per provider and currency, from the month's known services.
    pub ratio_bounds: Vec<RatioBound>,
    /// Ratio rows with energy but no bound, counted at their value in both bounds.
    pub ratio_rows_unbounded: u64,
    /// kWh of those rows.
    pub ratio_unbounded_kwh: f64,
    /// Excluded rows: outside the range.
    pub excluded_rows: u64,
    pub sets: Vec<SetBounds>,
}

/// The kWh per unit of cost of the services estimated from usage, one provider and currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatioBound {
    pub provider: String,
    pub currency: String,
    /// Services with positive kWh and cost the bound is taken over.
    pub services: u64,
    /// kWh per unit of `currency`.
    pub kwh_per_cost_low: f64,
    pub kwh_per_cost_high: f64,
}

/// The CPU and GPU bounds of one factor set (multipliers of the energy at `u`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetBounds {
    pub factor_set: String,
    /// Percent.
    pub cpu_utilization_percent: f64,
    pub cpu_low_factor: f64,
    pub cpu_high_factor: f64,
    pub gpu_low_factor: f64,
    pub gpu_high_factor: f64,
}

/// The widest idle and full-load ratios to the average at `utilization_percent`, over
/// (min, max) watt pairs; (1, 1) when there are none.
pub fn bounds(pairs: impl Iterator<Item = (f64, f64)>, utilization_percent: f64) -> (f64, f64) {
    let u = utilization_percent / 100.0;
    let mut out: Option<(f64, f64)> = None;
    for (min, max) in pairs {
        let avg = min + u * (max - min);
        if avg <= 0.0 {
            continue;
        }
        let (lo, hi) = (min / avg, max / avg);
        out = Some(out.map_or((lo, hi), |(l, h)| (l.min(lo), h.max(hi))));
    }
    out.unwrap_or((1.0, 1.0))
}

/// The bounds of a set, from its own watt tables.
pub fn set_bounds(set: &FactorSet) -> SetBounds {
    let u = set.coefficients.cpu_utilization_percent;
    let cpu = bounds(
        set.cpu_watts_rows()
            .map(|(_, _, w)| (w.min_watts, w.max_watts)),
        u,
    );
    let gpu = bounds(
        set.gpu_watts_rows()
            .map(|(_, _, w)| (w.min_watts, w.max_watts)),
        u,
    );
    SetBounds {
        factor_set: set.label(),
        cpu_utilization_percent: u,
        cpu_low_factor: cpu.0,
        cpu_high_factor: cpu.1,
        gpu_low_factor: gpu.0,
        gpu_high_factor: gpu.1,
    }
}

/// The range of the month's rows `this`; `Err(note)` when a factor set is not resolved.
pub(super) fn range(
    this: &LazyFrame,
    sets: &[(FactorSetInfo, Option<FactorSet>)],
) -> Result<Result<Range, String>, Error> {
    let mut bounds = Vec::new();
    for (info, set) in sets {
        match set {
            Some(set) => bounds.push(set_bounds(set)),
            None => {
                return Ok(Err(format!(
                    "no range: factor set `{}` is neither embedded in this binary nor given \
                     with --factors, so its watt ranges are unknown",
                    info.label
                )));
            }
        }
    }
    let table = df! {
        "bound_set" => bounds.iter().map(|b| b.factor_set.clone()).collect::<Vec<_>>(),
        "cl" => bounds.iter().map(|b| b.cpu_low_factor).collect::<Vec<_>>(),
        "ch" => bounds.iter().map(|b| b.cpu_high_factor).collect::<Vec<_>>(),
        "gl" => bounds.iter().map(|b| b.gpu_low_factor).collect::<Vec<_>>(),
        "gh" => bounds.iter().map(|b| b.gpu_high_factor).collect::<Vec<_>>(),
    }
    .map_err(Error::polars("the uncertainty bounds"))?;
    let z = |c: &str| col(c).fill_null(lit(0.0));
    let is = |k: &str| col(lcol::ESTIMATE_KIND).eq(lit(k.to_owned()));
    let rows = this.clone().with_columns([
        col(ucol::PROVIDER)
            .cast(DataType::String)
            .alias("j_provider"),
        col(ucol::CURRENCY)
            .cast(DataType::String)
            .fill_null(lit("?"))
            .alias("j_currency"),
    ]);
    // Per provider and currency: kWh per unit of cost of each service estimated from usage.
    let ratio = rows
        .clone()
        .filter(is(kind::ESTIMATED))
        .group_by([
            col("j_provider"),
            col("j_currency"),
            col(ucol::SERVICE).cast(DataType::String),
        ])
        .agg([
            z(lcol::ENERGY_KWH).sum().alias("e"),
            z(ucol::COST).sum().alias("c"),
        ])
        .filter(col("e").gt(lit(0.0)).and(col("c").gt(lit(0.0))))
        .with_column((col("e") / col("c")).alias("k"))
        .group_by([col("j_provider"), col("j_currency")])
        .agg([
            col("k").min().alias("k_lo"),
            col("k").max().alias("k_hi"),
            len().cast(DataType::UInt64).alias("services"),
        ])
        .sort(["j_provider", "j_currency"], SortMultipleOptions::default())
        .collect()
        .map_err(Error::polars("the ratio rows' bounds"))?;
    let ratio_bounds = {
        let (p, c) = (
            super::strings(&ratio, "j_provider")?,
            super::strings(&ratio, "j_currency")?,
        );
        let (lo, hi) = (
            super::floats(&ratio, "k_lo")?,
            super::floats(&ratio, "k_hi")?,
        );
        let n = super::floats(&ratio, "services")?;
        (0..ratio.height())
            .map(|i| RatioBound {
                provider: p[i].clone(),
                currency: c[i].clone(),
                services: n[i].unwrap_or(0.0) as u64,
                kwh_per_cost_low: lo[i].unwrap_or(0.0),
                kwh_per_cost_high: hi[i].unwrap_or(0.0),
            })
            .collect::<Vec<_>>()
    };
    let energy = z(lcol::ENERGY_KWH);
    let cost = z(ucol::COST);
    let (cpu, gpu) = (z(lcol::CPU_KWH), z(lcol::GPU_KWH));
    let bounded = is(kind::RATIO)
        .and(col("k_lo").is_not_null())
        .and(cost.clone().gt(lit(0.0)))
        .and(energy.clone().gt(lit(0.0)));
    let (c_lo, c_hi) = (cost.clone() * col("k_lo"), cost * col("k_hi"));
    let ratio_low = when(c_lo.clone().lt(energy.clone()))
        .then(c_lo)
        .otherwise(energy.clone());
    let ratio_high = when(c_hi.clone().gt(energy.clone()))
        .then(c_hi)
        .otherwise(energy.clone());
    let low = when(bounded.clone())
        .then(ratio_low)
        .when(is(kind::ESTIMATED))
        .then(
            energy.clone()
                - cpu.clone() * (lit(1.0) - col("cl"))
                - gpu.clone() * (lit(1.0) - col("gl")),
        )
        .otherwise(energy.clone());
    let high = when(bounded.clone())
        .then(ratio_high)
        .when(is(kind::ESTIMATED))
        .then(energy.clone() + cpu * (col("ch") - lit(1.0)) + gpu * (col("gh") - lit(1.0)))
        .otherwise(energy.clone());
    let per_kwh = |kg: Expr| {
        when(energy.clone().gt(lit(0.0)))
            .then(kg / energy.clone())
            .otherwise(lit(0.0))
    };
    let grid = per_kwh(z(lcol::SCOPE2_LOCATION_KG));
    let market = per_kwh(
        col(lcol::SCOPE2_MARKET_KG)
            .fill_null(col(lcol::SCOPE2_LOCATION_KG))
            .fill_null(lit(0.0)),
    );
    let s3 = z(lcol::SCOPE3_EMBODIED_KG);
    // Ratio rows' embodied scales with their energy; the rest is a point value.
    let s3_scaled = |bound: Expr| {
        when(bounded.clone())
            .then(s3.clone() * bound / energy.clone())
            .otherwise(s3.clone())
    };
    let sums = rows
        .with_column(col(lcol::FACTOR_SET).cast(DataType::String))
        .join(
            table.lazy(),
            [col(lcol::FACTOR_SET)],
            [col("bound_set")],
            JoinArgs::new(JoinType::Left),
        )
        .join(
            ratio.lazy(),
            [col("j_provider"), col("j_currency")],
            [col("j_provider"), col("j_currency")],
            JoinArgs::new(JoinType::Left),
        )
        .select([
            low.clone().sum().alias("energy_low"),
            high.clone().sum().alias("energy_high"),
            (low.clone() * grid.clone()).sum().alias("s2_low"),
            (high.clone() * grid).sum().alias("s2_high"),
            (low.clone() * market.clone()).sum().alias("market_low"),
            (high.clone() * market).sum().alias("market_high"),
            s3_scaled(low).sum().alias("s3_low"),
            s3_scaled(high).sum().alias("s3_high"),
            when(is(kind::EXCLUDED))
                .then(lit(0.0))
                .otherwise(energy.clone())
                .sum()
                .alias("estimated_kwh"),
            when(is(kind::EXCLUDED))
                .then(lit(1.0))
                .otherwise(lit(0.0))
                .sum()
                .alias("excluded_rows"),
            when(
                is(kind::RATIO)
                    .and(energy.clone().gt(lit(0.0)))
                    .and(bounded.clone().not()),
            )
            .then(lit(1.0))
            .otherwise(lit(0.0))
            .sum()
            .alias("unbounded_rows"),
            when(is(kind::RATIO).and(bounded.not()))
                .then(energy)
                .otherwise(lit(0.0))
                .sum()
                .alias("unbounded_kwh"),
        ])
        .collect()
        .map_err(Error::polars("the uncertainty range"))?;
    let get = |name: &str| -> Result<f64, Error> {
        Ok(super::floats(&sums, name)?
            .first()
            .copied()
            .flatten()
            .unwrap_or(0.0))
    };
    let excluded_rows = get("excluded_rows")? as u64;
    if get("estimated_kwh")? <= 0.0 {
        return Ok(Err(format!(
            "no range: no row of the month carries estimated energy (from physical usage or \
             by ratio), so there is nothing to bound; the {excluded_rows} excluded rows are \
             outside any range"
        )));
    }
    let (s2_low, s2_high) = (get("s2_low")?, get("s2_high")?);
    let (s3_low, s3_high) = (get("s3_low")?, get("s3_high")?);
    Ok(Ok(Range {
        energy_low_kwh: get("energy_low")?,
        energy_high_kwh: get("energy_high")?,
        scope2_location_low_kg: s2_low,
        scope2_location_high_kg: s2_high,
        scope2_market_with_fallback_low_kg: get("market_low")?,
        scope2_market_with_fallback_high_kg: get("market_high")?,
        scope3_embodied_low_kg: s3_low,
        scope3_embodied_high_kg: s3_high,
        emissions_low_kg: s2_low + s3_low,
        emissions_high_kg: s2_high + s3_high,
        ratio_bounds,
        ratio_rows_unbounded: get("unbounded_rows")? as u64,
        ratio_unbounded_kwh: get("unbounded_kwh")?,
        excluded_rows,
        sets: bounds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_the_widest_ratios() {
        // At 50 %: (1, 3) W averages 2 W, ratios 0.5 and 1.5; (0, 4) W averages 2 W,
        // ratios 0 and 2. Widest: 0 and 2.
        assert_eq!(
            bounds([(1.0, 3.0), (0.0, 4.0)].into_iter(), 50.0),
            (0.0, 2.0)
        );
        // At 25 %: (2, 6) W averages 2 + 0.25 × 4 = 3 W: 2/3 and 6/3 = 2.
        let (lo, hi) = bounds([(2.0, 6.0)].into_iter(), 25.0);
        assert!((lo - 2.0 / 3.0).abs() < 1e-12 && (hi - 2.0).abs() < 1e-12);
        assert_eq!(bounds(std::iter::empty(), 50.0), (1.0, 1.0));
    }

    #[test]
    fn the_embedded_sets_bound_around_one() {
        for name in carbonledger_factors::embedded_set_names() {
            let b = set_bounds(&FactorSet::embedded(name).expect("set"));
            assert!(b.cpu_low_factor < 1.0 && b.cpu_high_factor > 1.0, "{b:?}");
            assert!(b.gpu_low_factor < 1.0 && b.gpu_high_factor > 1.0, "{b:?}");
        }
    }
}
