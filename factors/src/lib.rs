//! carbonledger's factor tables: the numbers the estimator multiplies usage by.
//!
//! The tables are data files under `factors/<set>/` (see `factors/README.md` for each file's
//! columns, units and sources). Both shipped sets are embedded in the binary; `--factors DIR`
//! loads a folder of the same layout instead. Every row carries its source, year and licence.
//!
//! Units: watts per vCPU and per GPU; kWh per GB-hour (memory); Wh per TB-hour (storage);
//! kWh per GB (network); kg CO2e per kWh (grid); kg CO2e per server (embodied); hours (lifespan).

mod load;
mod provenance;
mod tables;

pub use load::{FactorError, embedded_set_names};
pub use provenance::{FileProvenance, SourceCount};
pub use tables::{
    Assumption, Coefficients, CpuWatts, FALLBACK_ARCHITECTURE, FactorSet, GpuWatts, GridFactor,
    Instance, ReplicationRule, RuleMatch, SetMeta, UNKNOWN_REGION,
};

/// Picks, from rows sorted by year, the row of `year`, else the latest earlier year, else the
/// earliest later year.
pub fn pick_year<T>(rows: &[(i32, T)], year: i32) -> Option<&T> {
    rows.iter()
        .rev()
        .find(|(y, _)| *y <= year)
        .or_else(|| rows.first())
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn year_picking_prefers_same_then_earlier_then_later() {
        let rows = [(2021, "a"), (2023, "b")];
        assert_eq!(pick_year(&rows, 2023), Some(&"b"));
        assert_eq!(pick_year(&rows, 2026), Some(&"b"));
        assert_eq!(pick_year(&rows, 2022), Some(&"a"));
        assert_eq!(pick_year(&rows, 2019), Some(&"a"));
        assert_eq!(pick_year::<&str>(&[], 2019), None);
    }
}
