//! The report's uncertainty range of the month's energy (kWh) and emissions (kg CO2e): a
//! bound from what the method assumes, not a statistical confidence interval.
//!
//! * **CPU and GPU energy** is computed at the factor set's assumed utilisation
//!   `u = cpu_utilization_percent` (billing data does not tell the real one), as
//!   `min + u × (max − min)` watts. The real utilisation lies between idle and full load, so
//!   each row's CPU energy lies between `min / avg` and `max / avg` times its value. The range
//!   takes, per factor set, the widest of these ratios over every row of `cpu_watts.csv` (and
//!   of `gpu_watts.csv` for GPU energy), so it holds whichever architecture a row was given.
//! * **Rows estimated by ratio** carry energy extrapolated from the cost (or usage) of known
//!   rows: nothing physical is known about them, so they range from 0 to
//!   [`RATIO_HIGH`] times their value.
//! * **Memory, storage and network energy, grid factors and embodied emissions** are point
//!   values in the factor tables (no published ranges), so they count at their value in both
//!   bounds. This understates the real uncertainty; the report says so.
//!
//! Location-based Scope 2 scales with each row's energy (its own grid factor,
//! `scope2_location_kg / energy_kwh`); Scope 3 embodied is added unchanged to both bounds.

use carbonledger_factors::FactorSet;
use polars::prelude::*;
use serde::Serialize;

use super::FactorSetInfo;
use crate::Error;
use crate::ledger::{col as lcol, kind};

/// Rows estimated by ratio range from 0 to this many times their value.
pub const RATIO_HIGH: f64 = 2.0;

/// The month's range.
#[derive(Debug, Clone, Serialize)]
pub struct Range {
    /// kWh.
    pub energy_low_kwh: f64,
    pub energy_high_kwh: f64,
    /// kg CO2e, location-based.
    pub scope2_location_low_kg: f64,
    pub scope2_location_high_kg: f64,
    /// kg CO2e: Scope 2 location-based + Scope 3 embodied.
    pub emissions_low_kg: f64,
    pub emissions_high_kg: f64,
    pub ratio_low_factor: f64,
    pub ratio_high_factor: f64,
    pub sets: Vec<SetBounds>,
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
    let energy = z(lcol::ENERGY_KWH);
    let (cpu, gpu) = (z(lcol::CPU_KWH), z(lcol::GPU_KWH));
    let is = |k: &str| col(lcol::ESTIMATE_KIND).eq(lit(k.to_owned()));
    let low = when(is(kind::RATIO))
        .then(lit(0.0))
        .when(is(kind::ESTIMATED))
        .then(
            energy.clone()
                - cpu.clone() * (lit(1.0) - col("cl"))
                - gpu.clone() * (lit(1.0) - col("gl")),
        )
        .otherwise(energy.clone());
    let high = when(is(kind::RATIO))
        .then(energy.clone() * lit(RATIO_HIGH))
        .when(is(kind::ESTIMATED))
        .then(energy.clone() + cpu * (col("ch") - lit(1.0)) + gpu * (col("gh") - lit(1.0)))
        .otherwise(energy.clone());
    let grid = when(energy.clone().gt(lit(0.0)))
        .then(z(lcol::SCOPE2_LOCATION_KG) / energy)
        .otherwise(lit(0.0));
    let sums = this
        .clone()
        .with_column(col(lcol::FACTOR_SET).cast(DataType::String))
        .join(
            table.lazy(),
            [col(lcol::FACTOR_SET)],
            [col("bound_set")],
            JoinArgs::new(JoinType::Left),
        )
        .select([
            low.clone().sum().alias("energy_low"),
            high.clone().sum().alias("energy_high"),
            (low * grid.clone()).sum().alias("s2_low"),
            (high * grid).sum().alias("s2_high"),
            z(lcol::SCOPE3_EMBODIED_KG).sum().alias("s3"),
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
    let (s2_low, s2_high, s3) = (get("s2_low")?, get("s2_high")?, get("s3")?);
    Ok(Ok(Range {
        energy_low_kwh: get("energy_low")?,
        energy_high_kwh: get("energy_high")?,
        scope2_location_low_kg: s2_low,
        scope2_location_high_kg: s2_high,
        emissions_low_kg: s2_low + s3,
        emissions_high_kg: s2_high + s3,
        ratio_low_factor: 0.0,
        ratio_high_factor: RATIO_HIGH,
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
