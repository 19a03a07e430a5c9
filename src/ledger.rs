//! The ledger: one row per usage row, the usage columns followed by the estimate columns.
//!
//! Energy is in kWh (operational, PUE and replication included), emissions in kg CO2e.
//! Embodied (Scope 3) emissions are never folded into energy.

use polars::prelude::*;

/// Names of the columns the estimator appends to the usage schema.
pub mod col {
    /// `ccf` or `default`.
    pub const METHOD: &str = "method";
    /// Factor set name and version, e.g. `default carbonledger-2026.12`.
    pub const FACTOR_SET: &str = "factor_set";
    /// `estimated`, `ratio` (estimated by ratio from known usage) or `excluded`.
    pub const ESTIMATE_KIND: &str = "estimate_kind";
    /// Average watts per vCPU used for compute rows.
    pub const WATTS_PER_VCPU: &str = "watts_per_vcpu";
    /// Power usage effectiveness applied.
    pub const PUE: &str = "pue";
    /// Replication factor applied to compute, memory and storage energy.
    pub const REPLICATION_FACTOR: &str = "replication_factor";
    pub const CPU_KWH: &str = "cpu_kwh";
    pub const GPU_KWH: &str = "gpu_kwh";
    pub const MEMORY_KWH: &str = "memory_kwh";
    pub const STORAGE_KWH: &str = "storage_kwh";
    pub const NETWORK_KWH: &str = "network_kwh";
    /// Operational energy, the sum of the five parts above (kWh).
    pub const ENERGY_KWH: &str = "energy_kwh";
    /// Location-based grid factor (kg CO2e per kWh).
    pub const GRID_KG_PER_KWH: &str = "grid_kg_per_kwh";
    /// Year of the grid factor's data.
    pub const GRID_YEAR: &str = "grid_year";
    /// Market-based factor (kg CO2e per kWh); null where the provider publishes none.
    pub const MARKET_KG_PER_KWH: &str = "market_kg_per_kwh";
    /// Scope 2, location-based (kg CO2e).
    pub const SCOPE2_LOCATION_KG: &str = "scope2_location_kg";
    /// Scope 2, market-based (kg CO2e); null where no market factor exists.
    pub const SCOPE2_MARKET_KG: &str = "scope2_market_kg";
    /// Scope 3 embodied emissions of the hardware (kg CO2e).
    pub const SCOPE3_EMBODIED_KG: &str = "scope3_embodied_kg";
    /// The kWh CCF itself would report (embodied emissions turned back into kWh and added);
    /// only with `--method ccf`.
    pub const CCF_KWH: &str = "ccf_kwh";
    /// Fallbacks and ratios used for the row, in words.
    pub const NOTES: &str = "notes";
}

/// `estimate_kind` values.
pub mod kind {
    pub const ESTIMATED: &str = "estimated";
    pub const RATIO: &str = "ratio";
    pub const EXCLUDED: &str = "excluded";
}

/// The estimate columns of one row; `None` values become nulls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Estimate<'a> {
    pub kind: &'a str,
    pub watts_per_vcpu: Option<f64>,
    pub pue: Option<f64>,
    pub replication_factor: Option<f64>,
    pub cpu_kwh: Option<f64>,
    pub gpu_kwh: Option<f64>,
    pub memory_kwh: Option<f64>,
    pub storage_kwh: Option<f64>,
    pub network_kwh: Option<f64>,
    pub energy_kwh: Option<f64>,
    pub grid_kg_per_kwh: Option<f64>,
    pub grid_year: Option<i32>,
    pub market_kg_per_kwh: Option<f64>,
    pub scope2_location_kg: Option<f64>,
    pub scope2_market_kg: Option<f64>,
    pub scope3_embodied_kg: Option<f64>,
    pub ccf_kwh: Option<f64>,
    pub notes: Option<&'a str>,
}

const FLOATS: [&str; 15] = [
    col::WATTS_PER_VCPU,
    col::PUE,
    col::REPLICATION_FACTOR,
    col::CPU_KWH,
    col::GPU_KWH,
    col::MEMORY_KWH,
    col::STORAGE_KWH,
    col::NETWORK_KWH,
    col::ENERGY_KWH,
    col::GRID_KG_PER_KWH,
    col::MARKET_KG_PER_KWH,
    col::SCOPE2_LOCATION_KG,
    col::SCOPE2_MARKET_KG,
    col::SCOPE3_EMBODIED_KG,
    col::CCF_KWH,
];

/// Accumulates [`Estimate`]s into the estimate columns of a batch.
pub struct EstimateColumns {
    method: String,
    factor_set: String,
    kind: StringChunkedBuilder,
    floats: Vec<PrimitiveChunkedBuilder<Float64Type>>,
    grid_year: PrimitiveChunkedBuilder<Int32Type>,
    notes: StringChunkedBuilder,
    len: usize,
}

impl EstimateColumns {
    pub fn new(method: &str, factor_set: &str, capacity: usize) -> Self {
        EstimateColumns {
            method: method.to_owned(),
            factor_set: factor_set.to_owned(),
            kind: StringChunkedBuilder::new(col::ESTIMATE_KIND.into(), capacity),
            floats: FLOATS
                .iter()
                .map(|n| PrimitiveChunkedBuilder::new((*n).into(), capacity))
                .collect(),
            grid_year: PrimitiveChunkedBuilder::new(col::GRID_YEAR.into(), capacity),
            notes: StringChunkedBuilder::new(col::NOTES.into(), capacity),
            len: 0,
        }
    }

    pub fn push(&mut self, e: &Estimate<'_>) {
        self.kind.append_value(e.kind);
        let values = [
            e.watts_per_vcpu,
            e.pue,
            e.replication_factor,
            e.cpu_kwh,
            e.gpu_kwh,
            e.memory_kwh,
            e.storage_kwh,
            e.network_kwh,
            e.energy_kwh,
            e.grid_kg_per_kwh,
            e.market_kg_per_kwh,
            e.scope2_location_kg,
            e.scope2_market_kg,
            e.scope3_embodied_kg,
            e.ccf_kwh,
        ];
        for (builder, value) in self.floats.iter_mut().zip(values) {
            builder.append_option(value);
        }
        self.grid_year.append_option(e.grid_year);
        self.notes.append_option(e.notes);
        self.len += 1;
    }

    /// The estimate columns in ledger order.
    pub fn finish(self) -> Vec<Column> {
        let n = self.len;
        let mut floats: Vec<Column> = self
            .floats
            .into_iter()
            .map(|b| b.finish().into_column())
            .collect();
        let mut out = vec![
            Column::new_scalar(
                col::METHOD.into(),
                Scalar::from(PlSmallStr::from(self.method)),
                n,
            ),
            Column::new_scalar(
                col::FACTOR_SET.into(),
                Scalar::from(PlSmallStr::from(self.factor_set)),
                n,
            ),
            self.kind.finish().into_column(),
        ];
        // Floats up to the grid factor, then its year, then the rest.
        let rest = floats.split_off(10);
        out.extend(floats);
        out.push(self.grid_year.finish().into_column());
        out.extend(rest);
        out.push(self.notes.finish().into_column());
        out
    }
}

/// The names of the ledger's estimate columns, in order.
pub fn estimate_column_names() -> Vec<&'static str> {
    let mut names = vec![col::METHOD, col::FACTOR_SET, col::ESTIMATE_KIND];
    names.extend(&FLOATS[..10]);
    names.push(col::GRID_YEAR);
    names.extend(&FLOATS[10..]);
    names.push(col::NOTES);
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_come_out_in_the_documented_order() {
        let mut cols = EstimateColumns::new("ccf", "ccf 1", 1);
        cols.push(&Estimate {
            kind: kind::EXCLUDED,
            grid_year: Some(2021),
            ..Estimate::default()
        });
        let out = cols.finish();
        let names: Vec<&str> = out.iter().map(|c| c.name().as_str()).collect();
        assert_eq!(names, estimate_column_names());
        assert!(out.iter().all(|c| c.len() == 1));
    }
}
