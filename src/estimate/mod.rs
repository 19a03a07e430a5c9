//! The estimator: usage batches in, ledger batches out.
//!
//! Each usage row is estimated directly from its quantities (vCPU-hours, GPU-hours, memory
//! GB-hours, storage TB-hours, network GB) and the factor set, or, when its class is
//! `unknown`, held back until every known row has been seen and then estimated by ratio
//! (see [`ratio`]). Rows of class `excluded` keep their cost and get no estimate.
//!
//! With the `default` method a row that is not excluded but bills a negative usage amount or
//! quantity (a correction line: `-10` hours of EC2) is excluded with
//! [`NEGATIVE_USAGE_REASON`]: its cost stays in the ledger, and it neither gets negative kWh
//! nor turns the ratios of the unknown rows negative. `ccf` keeps CCF's behaviour (the sign
//! carries through).
//!
//! Units: energy in kWh, emissions in kg CO2e, cost in the row's currency.

pub mod formulas;
mod ratio;
pub(crate) mod row_factors;
mod spill;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::rc::Rc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::{UsageClass, col as ucol};
use chrono::{DateTime, Datelike};
use polars::prelude::*;

use crate::Error;
use crate::ledger::{Estimate, EstimateColumns, kind};
use ratio::{RatioBook, RatioEstimate, Ratios};
use row_factors::{EmbodiedBasis, FactorResolver, RowFactors, RowKey};
use spill::Spill;

/// Which estimation method to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Reproduces Cloud Carbon Footprint's numbers, quirks included.
    Ccf,
    /// carbonledger's method: CCF's with its unit defects fixed and the newest factors.
    Default,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Ccf => "ccf",
            Method::Default => "default",
        }
    }

    /// The embedded factor set made for this method.
    pub fn factor_set_name(self) -> &'static str {
        self.as_str()
    }
}

/// Why a row with a negative usage amount or quantity is excluded (`default` method).
pub const NEGATIVE_USAGE_REASON: &str =
    "negative usage amount (a correction line): no physical usage to estimate, cost kept";

/// 2^40: CCF divides AWS byte-hour usage types by this although their unit is GB-month.
const BYTES_PER_TIB: f64 = 1_099_511_627_776.0;

/// Marks rows that are not excluded and bill a negative usage amount or physical quantity as
/// excluded, with [`NEGATIVE_USAGE_REASON`].
fn exclude_negative_usage(usage: DataFrame) -> PolarsResult<DataFrame> {
    let negative = [
        ucol::USAGE_AMOUNT,
        ucol::VCPU_HOURS,
        ucol::GPU_HOURS,
        ucol::MEMORY_GB_HOURS,
        ucol::STORAGE_TB_HOURS,
        ucol::NETWORK_GB,
    ]
    .into_iter()
    .map(|name| col(name).lt(lit(0.0)).fill_null(lit(false)))
    .reduce(|a, b| a.or(b))
    .expect("quantities")
    .and(col(ucol::USAGE_CLASS).neq(lit(UsageClass::Excluded.as_str())));
    let any = usage
        .clone()
        .lazy()
        .select([negative.clone().any(true)])
        .collect()?;
    if !any
        .column(ucol::USAGE_AMOUNT)?
        .bool()?
        .get(0)
        .unwrap_or(false)
    {
        return Ok(usage);
    }
    usage
        .lazy()
        .with_columns([
            when(negative.clone())
                .then(lit(UsageClass::Excluded.as_str()))
                .otherwise(col(ucol::USAGE_CLASS))
                .alias(ucol::USAGE_CLASS),
            when(negative)
                .then(lit(NEGATIVE_USAGE_REASON))
                .otherwise(col(ucol::EXCLUSION_REASON))
                .alias(ucol::EXCLUSION_REASON),
        ])
        .collect()
}

/// Turns usage batches into ledger batches. Call [`Estimator::estimate`] for every batch, then
/// [`Estimator::finish`] once to emit the rows estimated by ratio.
pub struct Estimator<'f> {
    resolver: FactorResolver<'f>,
    method: Method,
    factor_set: String,
    cache: HashMap<String, Rc<RowFactors>>,
    key_buffer: String,
    ratios: RatioBook,
    spill: Spill,
}

/// Emits one finished ledger batch.
pub type Emit<'a> = dyn FnMut(DataFrame) -> Result<(), Error> + 'a;

impl<'f> Estimator<'f> {
    pub fn new(factors: &'f FactorSet, method: Method) -> Result<Self, Error> {
        Ok(Estimator {
            resolver: FactorResolver { factors, method },
            method,
            factor_set: factors.label(),
            cache: HashMap::new(),
            key_buffer: String::new(),
            ratios: RatioBook::default(),
            spill: Spill::new().map_err(Error::polars("preparing the estimator"))?,
        })
    }

    /// Estimates the known rows of `usage` and emits them; holds the unknown rows back.
    pub fn estimate(&mut self, usage: DataFrame, emit: &mut Emit<'_>) -> Result<(), Error> {
        let usage = match self.method {
            Method::Default => exclude_negative_usage(usage),
            Method::Ccf => Ok(usage),
        }
        .map_err(Error::polars("checking usage signs"))?;
        let ledger = self
            .estimate_known(usage)
            .map_err(Error::polars("estimating"))?;
        emit(ledger)
    }

    fn estimate_known(&mut self, usage: DataFrame) -> PolarsResult<DataFrame> {
        let rows = UsageColumns::of(&usage)?;
        let n = usage.height();
        let mut unknown = Vec::with_capacity(n);
        let mut out = EstimateColumns::new(self.method.as_str(), &self.factor_set, n);
        for i in 0..n {
            let class = rows.class(i)?;
            if class == UsageClass::Unknown {
                unknown.push(true);
                continue;
            }
            unknown.push(false);
            if class == UsageClass::Excluded {
                out.push(&Estimate {
                    kind: kind::EXCLUDED,
                    ..Estimate::default()
                });
                continue;
            }
            let factors = self.factors_for(&rows, i, class);
            let no_vcpus = self.method == Method::Ccf && rows.ccf_vcpus_missing(i, class);
            let estimate = direct_estimate(self.method, &factors, &rows, i, no_vcpus);
            out.push(&estimate);
            if no_vcpus {
                // CCF returns 0 kWh without accumulating the row for the ratios (§5.1, §10).
                continue;
            }
            let energy = estimate.energy_kwh.unwrap_or(0.0);
            let embodied = estimate.scope3_embodied_kg.unwrap_or(0.0);
            let ccf_kwh = estimate.ccf_kwh.unwrap_or(energy);
            self.ratios.add_known(
                rows.str(&rows.provider, i),
                rows.month(i),
                rows.str(&rows.currency, i),
                rows.str(&rows.service, i),
                rows.str(&rows.unit, i),
                [energy, ccf_kwh, embodied, rows.cost[i], rows.amount[i]],
            );
        }
        let unknown = BooleanChunked::from_slice("unknown".into(), &unknown);
        if unknown.any() {
            self.spill.write(&usage.filter(&unknown)?)?;
        }
        let known = usage.filter(&!&unknown)?;
        known.hstack(&out.finish())
    }

    /// Estimates the held-back unknown rows by ratio and emits them.
    pub fn finish(mut self, emit: &mut Emit<'_>) -> Result<(), Error> {
        let ratios = std::mem::take(&mut self.ratios).freeze(self.method);
        let context = "estimating unknown usage by ratio";
        let batches = std::mem::take(&mut self.spill)
            .read_back()
            .map_err(Error::polars(context))?;
        for batch in batches {
            let usage = batch.map_err(Error::polars(context))?;
            emit(
                self.estimate_by_ratio(&ratios, usage)
                    .map_err(Error::polars(context))?,
            )?;
        }
        Ok(())
    }

    fn estimate_by_ratio(
        &mut self,
        ratios: &Ratios,
        mut usage: DataFrame,
    ) -> PolarsResult<DataFrame> {
        let n = usage.height();
        let mut out = EstimateColumns::new(self.method.as_str(), &self.factor_set, n);
        let mut classes: Vec<&str> = Vec::with_capacity(n);
        let mut reasons: Vec<Option<String>> = Vec::with_capacity(n);
        let rows = UsageColumns::of(&usage)?;
        for i in 0..n {
            let factors = self.factors_for(&rows, i, UsageClass::Unknown);
            let provider = rows.str(&rows.provider, i);
            let service = rows.str(&rows.service, i);
            let unit = rows.str(&rows.unit, i);
            let month = rows.month(i);
            let currency = rows.str(&rows.currency, i);
            let (cost, amount) = (rows.cost[i], rows.amount[i]);
            match ratios.estimate(provider, month, currency, service, unit, cost, amount) {
                Ok(r) => {
                    classes.push(UsageClass::Unknown.as_str());
                    reasons.push(rows.reason.get(i).map(str::to_owned));
                    out.push(&ratio_estimate(self.method, &factors, &r));
                }
                Err(reason) => {
                    // No known usage to take a ratio from: excluded, with that reason.
                    classes.push(UsageClass::Excluded.as_str());
                    reasons.push(Some(reason));
                    out.push(&Estimate {
                        kind: kind::EXCLUDED,
                        ..Estimate::default()
                    });
                }
            }
        }
        drop(rows);
        usage.with_column(Column::new(ucol::USAGE_CLASS.into(), classes))?;
        usage.with_column(Column::new(ucol::EXCLUSION_REASON.into(), reasons))?;
        usage.hstack(&out.finish())
    }

    fn factors_for(
        &mut self,
        rows: &UsageColumns<'_>,
        i: usize,
        class: UsageClass,
    ) -> Rc<RowFactors> {
        let key = RowKey {
            provider: rows.str(&rows.provider, i),
            service: rows.str(&rows.service, i),
            usage_type: rows.str(&rows.usage_type, i),
            usage_class: class,
            usage_unit: rows.str(&rows.unit, i),
            instance_type: rows.instance_type.get(i),
            cpu_architecture: rows.cpu_architecture.get(i),
            gpu_model: rows.gpu_model.get(i),
            region: rows.region.get(i),
            region_note: rows.region_note.get(i),
            year: rows.year(i),
        };
        self.key_buffer.clear();
        let sep = '\u{1f}';
        let _ = write!(
            self.key_buffer,
            "{}{sep}{}{sep}{}{sep}{}{sep}{}{sep}",
            key.provider,
            key.service,
            key.usage_type,
            class.as_str(),
            key.usage_unit,
        );
        let _ = write!(
            self.key_buffer,
            "{:?}{sep}{:?}{sep}{:?}{sep}{:?}{sep}{:?}{sep}{}",
            key.instance_type,
            key.cpu_architecture,
            key.gpu_model,
            key.region,
            key.region_note,
            key.year
        );
        if let Some(found) = self.cache.get(self.key_buffer.as_str()) {
            return Rc::clone(found);
        }
        let factors = Rc::new(self.resolver.resolve(&key));
        self.cache
            .insert(self.key_buffer.clone(), Rc::clone(&factors));
        factors
    }
}

/// The estimate of a row of known class from its own quantities. `no_vcpus`: CCF found no
/// vCPU count for the compute line, so it reports 0 kWh and no embodied emissions.
fn direct_estimate<'r>(
    method: Method,
    f: &'r RowFactors,
    rows: &UsageColumns<'_>,
    i: usize,
    no_vcpus: bool,
) -> Estimate<'r> {
    let (pue, rf) = (f.pue, f.replication);
    let cpu = rows.vcpu_hours[i] * f.kwh_per_vcpu_hour * pue * rf;
    let gpu = rows.gpu_hours[i] * f.kwh_per_gpu_hour * pue * rf;
    let memory = rows.memory_gb_hours[i]
        * f.memory_fraction
        * f.memory_kwh_per_gb_hour
        * pue
        * f.memory_replication;
    let tb_hours = if f.storage_from_byte_hours {
        rows.amount[i] / BYTES_PER_TIB
    } else {
        rows.storage_tb_hours[i]
    };
    let storage = formulas::storage_kwh(tb_hours, f.storage_wh_per_tb_hour) * pue * rf;
    let network = rows.network_gb[i] * f.network_kwh_per_gb * pue;
    let energy = cpu + gpu + memory + storage + network;
    let embodied = match f.embodied {
        _ if no_vcpus => 0.0,
        EmbodiedBasis::None => 0.0,
        EmbodiedBasis::PerVcpuHour(kg) => kg * rows.vcpu_hours[i],
        EmbodiedBasis::PerUsageAmount(kg) => kg * rows.amount[i],
    };
    let grid = f.grid_kg_per_kwh;
    let ccf_kwh = match method {
        Method::Ccf if grid > 0.0 => Some(energy + embodied / grid),
        Method::Ccf => Some(energy),
        Method::Default => None,
    };
    Estimate {
        kind: kind::ESTIMATED,
        watts_per_vcpu: (rows.vcpu_hours[i] > 0.0).then_some(f.watts_per_vcpu),
        pue: Some(pue),
        replication_factor: Some(rf),
        cpu_kwh: Some(cpu),
        gpu_kwh: Some(gpu),
        memory_kwh: Some(memory),
        storage_kwh: Some(storage),
        network_kwh: Some(network),
        energy_kwh: Some(energy),
        grid_kg_per_kwh: Some(grid),
        grid_year: Some(f.grid_year),
        market_kg_per_kwh: f.market_kg_per_kwh,
        scope2_location_kg: Some(energy * grid),
        scope2_market_kg: f.market_kg_per_kwh.map(|m| energy * m),
        scope3_embodied_kg: Some(embodied),
        ccf_kwh,
        notes: if no_vcpus {
            Some(CCF_NO_VCPUS_NOTE)
        } else {
            f.notes.as_deref()
        },
    }
}

/// The note on a CCF compute line without a vCPU count.
pub(crate) const CCF_NO_VCPUS_NOTE: &str =
    "CCF: no vCPU count for the instance type, so 0 kWh, no embodied, not in the ratios";

/// The estimate of an unknown row from the ratios of the known rows.
fn ratio_estimate<'r>(method: Method, f: &'r RowFactors, r: &'r RatioEstimate) -> Estimate<'r> {
    let grid = f.grid_kg_per_kwh;
    // With CCF, embodied emissions ride in the ratio as kWh; turn them back into kg.
    let embodied = match method {
        Method::Ccf => (r.ccf_kwh - r.energy_kwh) * grid,
        Method::Default => r.embodied_kg,
    };
    Estimate {
        kind: kind::RATIO,
        energy_kwh: Some(r.energy_kwh),
        grid_kg_per_kwh: Some(grid),
        grid_year: Some(f.grid_year),
        market_kg_per_kwh: f.market_kg_per_kwh,
        scope2_location_kg: Some(r.energy_kwh * grid),
        scope2_market_kg: f.market_kg_per_kwh.map(|m| r.energy_kwh * m),
        scope3_embodied_kg: Some(embodied),
        ccf_kwh: (method == Method::Ccf).then_some(r.ccf_kwh),
        notes: Some(&r.basis),
        ..Estimate::default()
    }
}

/// The usage columns the estimator reads, extracted once per batch.
struct UsageColumns<'a> {
    period_start: Vec<i64>,
    provider: Vec<Option<&'a str>>,
    service: Vec<Option<&'a str>>,
    usage_type: Vec<Option<&'a str>>,
    class: Vec<Option<&'a str>>,
    reason: OptStr<'a>,
    instance_type: OptStr<'a>,
    cpu_architecture: OptStr<'a>,
    gpu_model: OptStr<'a>,
    region: OptStr<'a>,
    region_note: OptStr<'a>,
    unit: Vec<Option<&'a str>>,
    currency: Vec<Option<&'a str>>,
    vcpu_hours: Vec<f64>,
    gpu_hours: Vec<f64>,
    memory_gb_hours: Vec<f64>,
    storage_tb_hours: Vec<f64>,
    network_gb: Vec<f64>,
    amount: Vec<f64>,
    cost: Vec<f64>,
}

struct OptStr<'a>(Vec<Option<&'a str>>);

impl<'a> OptStr<'a> {
    fn get(&self, i: usize) -> Option<&'a str> {
        self.0[i].filter(|s| !s.is_empty())
    }
}

impl<'a> UsageColumns<'a> {
    fn of(df: &'a DataFrame) -> PolarsResult<Self> {
        let strs = |name: &str| -> PolarsResult<Vec<Option<&'a str>>> {
            Ok(df.column(name)?.str()?.iter().collect())
        };
        let floats = |name: &str| -> PolarsResult<Vec<f64>> {
            Ok(df
                .column(name)?
                .f64()?
                .iter()
                .map(|v| v.unwrap_or(0.0))
                .collect())
        };
        let start = df.column(ucol::PERIOD_START)?.datetime()?;
        Ok(UsageColumns {
            period_start: start.physical().iter().map(|v| v.unwrap_or(0)).collect(),
            provider: strs(ucol::PROVIDER)?,
            service: strs(ucol::SERVICE)?,
            usage_type: strs(ucol::USAGE_TYPE)?,
            class: strs(ucol::USAGE_CLASS)?,
            reason: OptStr(strs(ucol::EXCLUSION_REASON)?),
            instance_type: OptStr(strs(ucol::INSTANCE_TYPE)?),
            cpu_architecture: OptStr(strs(ucol::CPU_ARCHITECTURE)?),
            gpu_model: OptStr(strs(ucol::GPU_MODEL)?),
            region: OptStr(strs(ucol::REGION)?),
            region_note: OptStr(strs(ucol::REGION_NOTE)?),
            unit: strs(ucol::USAGE_UNIT)?,
            currency: strs(ucol::CURRENCY)?,
            vcpu_hours: floats(ucol::VCPU_HOURS)?,
            gpu_hours: floats(ucol::GPU_HOURS)?,
            memory_gb_hours: floats(ucol::MEMORY_GB_HOURS)?,
            storage_tb_hours: floats(ucol::STORAGE_TB_HOURS)?,
            network_gb: floats(ucol::NETWORK_GB)?,
            amount: floats(ucol::USAGE_AMOUNT)?,
            cost: floats(ucol::COST)?,
        })
    }

    fn str(&self, column: &[Option<&'a str>], i: usize) -> &'a str {
        column[i].unwrap_or("")
    }

    fn class(&self, i: usize) -> PolarsResult<UsageClass> {
        let name = self.str(&self.class, i);
        UsageClass::parse(name).ok_or_else(
            || polars_err!(ComputeError: "usage row has an unknown usage_class `{}`", name),
        )
    }

    /// CCF: an AWS compute line whose vCPU count is missing has NaN vCPU-hours; the AWS
    /// connector (with the CCF quirks) passes it as compute with zero vCPU-hours and a non-zero
    /// amount.
    fn ccf_vcpus_missing(&self, i: usize, class: UsageClass) -> bool {
        class == UsageClass::Compute
            && self.str(&self.provider, i) == "aws"
            && self.vcpu_hours[i] == 0.0
            && self.amount[i] != 0.0
    }

    /// `YYYYMM` of the row's `period_start` (UTC).
    fn month(&self, i: usize) -> u32 {
        DateTime::from_timestamp_micros(self.period_start[i])
            .map_or(197001, |t| t.year() as u32 * 100 + t.month())
    }

    fn year(&self, i: usize) -> i32 {
        DateTime::from_timestamp_micros(self.period_start[i]).map_or(1970, |t| t.year())
    }
}
