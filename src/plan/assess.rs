//! A plan's figures, computed through the bill estimator's factor resolution and formulas.
//!
//! For a plan on an instance type the row the estimator would see is an hour-billed compute
//! line of that type (`BoxUsage:TYPE` on AWS): the same [`FactorResolver`] gives watts per vCPU
//! and per GPU (CCF's `min + utilisation × (max − min)`, `formulas::average_watts`), the share
//! of memory counted (CCF's excess-memory rule), PUE, the location- and market-based grid
//! factors of the region and year, and the embodied basis (SCI share of the platform over the
//! server lifespan). Then, as for a bill row:
//!
//! * CPU kWh = vCPU-hours × kWh per vCPU-hour × PUE × replication
//! * GPU kWh = GPU-hours × kWh per GPU-hour × PUE × replication
//! * memory kWh = GB-hours × counted share × kWh per GB-hour × PUE × replication (the share
//!   of CCF's excess-memory rule on AWS and Azure; on GCP, which bills RAM on its own SKU, the
//!   share of that memory row: all of it)
//! * burstable AWS types: vCPU-hours × baseline / the set's utilisation, as the AWS connector
//!   bills them, when the CPU utilisation is the set's assumption (a utilisation the plan gives,
//!   or an inference load, replaces the baseline)
//! * Scope 2 = kWh × kg CO2e/kWh (location; market where the factor set has one)
//! * Scope 3 embodied = kg per instance-hour (or per vCPU-hour) × hours
//!
//! `measured_kwh` replaces the computed energy; PUE is applied to it unless the plan says the
//! measurement includes it. The period is the run (training) or one year of service (inference,
//! 365 days of `hours_per_day`). SCI = (E × I + M) / R with I location-based, as the SCI
//! specification requires; the market-based variant is given beside it, labelled.

use std::path::Path;

use carbonledger_factors::{FactorSet, Instance};
use carbonledger_usage::UsageClass;
use serde::Serialize;

use super::price::{self, Price};
use super::spec::{Plan, PlanKind, Workload};
use crate::Error;
use crate::estimate::Method;
use crate::estimate::row_factors::{EmbodiedBasis, FactorResolver, RowFactors, RowKey};

/// Days in a year of service (leap days ignored).
const DAYS_PER_YEAR: f64 = 365.0;

/// Everything a plan comes to, per period (`run` or `year`).
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub file: String,
    pub name: String,
    pub kind: PlanKind,
    pub provider: String,
    pub region: String,
    /// The factor year asked for: grid and PUE rows of that year, else the latest earlier
    /// year, else the earliest later one (the factor set's rule); `grid_year` and the PUE
    /// assumption say which row was used.
    pub year: i32,
    pub method: String,
    pub factor_set: String,
    pub instance_type: Option<String>,
    pub gpu_model: Option<String>,
    /// `run` (training) or `year` (inference).
    pub period: &'static str,
    pub instance_hours: f64,
    pub vcpu_hours: f64,
    pub gpu_hours: f64,
    pub memory_gb_hours: f64,
    pub gpu_utilization_percent: f64,
    pub cpu_utilization_percent: f64,
    pub watts_per_gpu: f64,
    pub watts_per_vcpu: f64,
    /// Computed energy by part, kWh, PUE included.
    pub cpu_kwh: f64,
    pub gpu_kwh: f64,
    pub memory_kwh: f64,
    pub computed_kwh: f64,
    /// The energy used for emissions: computed, or measured (with PUE unless it included it).
    pub energy_kwh: f64,
    /// `computed` or `measured`.
    pub energy_source: &'static str,
    pub pue: f64,
    pub grid_kg_per_kwh: f64,
    pub grid_year: i32,
    pub market_kg_per_kwh: Option<f64>,
    pub scope2_location_kg: f64,
    pub scope2_market_kg: Option<f64>,
    pub scope3_embodied_kg: f64,
    /// Scope 2 location-based + Scope 3 embodied, kg CO2e: the SCI numerator.
    pub total_kg: f64,
    pub cost: Option<f64>,
    pub currency: Option<String>,
    pub price: Price,
    /// What R is: `run` or `1000 requests`.
    pub functional_unit: String,
    /// R per period.
    pub units: f64,
    /// SCI: (E × I + M) / R, kg CO2e per functional unit (location-based I).
    pub sci_kg_per_unit: f64,
    /// The same with the market-based factor (not SCI: SCI excludes market instruments).
    pub market_kg_per_unit: Option<f64>,
    /// Years of service (inference).
    pub service_years: Option<f64>,
    pub carbon_cost: Option<CarbonCost>,
    pub assumptions: Vec<String>,
}

/// Emissions priced at a carbon price.
#[derive(Debug, Clone, Serialize)]
pub struct CarbonCost {
    pub price_per_tonne: f64,
    pub currency: String,
    /// `total_kg` / 1000 × price, per period.
    pub amount: f64,
}

impl Assessment {
    /// Prices `total_kg` (location-based Scope 2 + embodied) at `per_tonne` `currency`.
    pub fn set_carbon_price(&mut self, per_tonne: f64, currency: &str) {
        self.carbon_cost = Some(CarbonCost {
            price_per_tonne: per_tonne,
            currency: currency.to_owned(),
            amount: self.total_kg / 1000.0 * per_tonne,
        });
    }
}

/// The GPU model of `gpu_watts.csv` a plan means: the name as listed (any case), else the one
/// model whose last word it is (`V100` → `Nvidia Tesla V100`).
pub fn resolve_gpu_model(factors: &FactorSet, provider: &str, wanted: &str) -> Option<String> {
    let models = factors.gpu_models(provider);
    if let Some((name, _)) = models.iter().find(|(n, _)| n.eq_ignore_ascii_case(wanted)) {
        return Some((*name).to_owned());
    }
    let by_last: Vec<&str> = models
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| {
            n.rsplit(' ')
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(wanted))
        })
        .collect();
    match by_last.as_slice() {
        [one] => Some((*one).to_owned()),
        _ => None,
    }
}

/// The estimator's service and usage type of an hour-billed instance line.
fn billed_line(provider: &str, instance_type: &str) -> (&'static str, String, &'static str) {
    match provider {
        "aws" => ("AmazonEC2", format!("BoxUsage:{instance_type}"), "Hrs"),
        "gcp" => ("Compute Engine", instance_type.to_owned(), "hour"),
        _ => ("Virtual Machines", instance_type.to_owned(), "1 Hour"),
    }
}

/// The plan's figures with `factors` and `method`; prices from `ledger` when the plan has none.
pub fn assess(
    plan: &Plan,
    factors: &FactorSet,
    method: Method,
    ledger: Option<&Path>,
) -> Result<Assessment, Error> {
    let provider = plan.provider.as_str();
    let region = plan.region.value.as_str();
    let mut assumptions: Vec<String> = Vec::new();

    let instance: Option<&Instance> = match &plan.hardware.instance_type {
        Some(t) => Some(factors.instance(provider, &t.value).ok_or_else(|| {
            let family = t.value.split('.').next().unwrap_or_default();
            let mut near: Vec<&str> = factors
                .instances(provider)
                .filter(|i| i.family == family)
                .map(|i| i.instance_type.as_str())
                .collect();
            near.sort();
            near.truncate(12);
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!(" (known in that family: {})", near.join(", "))
            };
            plan.error_at(
                t.pos,
                format!(
                    "instance type {} is not in the {provider} instance table of factor set \
                     {}{hint}",
                    t.value,
                    factors.label()
                ),
            )
        })?),
        None => None,
    };
    let gpu = match &plan.hardware.gpus {
        Some((model, count)) => {
            let name = resolve_gpu_model(factors, provider, &model.value).ok_or_else(|| {
                let known: Vec<&str> = factors
                    .gpu_models(provider)
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect();
                plan.error_at(
                    model.pos,
                    format!(
                        "GPU model {} has no idle/full-load watts for {provider} in factor set {} \
                         (known: {})",
                        model.value,
                        factors.label(),
                        known.join(", ")
                    ),
                )
            })?;
            if let Some(i) = instance
                && i.gpu_count > 0.0
            {
                return Err(plan.error_at(
                    model.pos,
                    format!(
                        "instance type {} already has {} × {}: leave gpu_model out",
                        i.instance_type,
                        i.gpu_count,
                        i.gpu_model.as_deref().unwrap_or("GPU")
                    ),
                ));
            }
            Some((name, *count))
        }
        None => None,
    };
    // Accelerators the factor set cannot quantify would count as ~0 kWh and pass a gate: refuse
    // them unless the plan names its GPUs or gives measured energy.
    let measured = matches!(
        plan.workload,
        Workload::Training {
            measured_kwh: Some(_),
            ..
        }
    );
    if let (Some(i), Some(t), None, false) =
        (instance, &plan.hardware.instance_type, &gpu, measured)
    {
        let unquantified = if i.accelerators_unknown {
            Some("accelerators with no count or model (instances.csv gpu_count empty)".to_owned())
        } else {
            i.gpu_model
                .as_deref()
                .filter(|m| i.gpu_count > 0.0 && factors.gpu_watts(provider, m).is_none())
                .map(|m| {
                    format!(
                        "{} × {m}, which gpu_watts.csv has no watts for",
                        i.gpu_count
                    )
                })
        };
        if let Some(what) = unquantified {
            return Err(plan.error_at(
                t.pos,
                format!(
                    "instance type {} carries {what} in factor set {}: their energy would count \
                     as about 0. Give `measured_kwh`, or `gpu_model` + `gpu_count` of \
                     a model gpu_watts.csv lists, or use --factors with a set that has them",
                    i.instance_type,
                    factors.label()
                ),
            ));
        }
    }
    if factors.grid_location(provider, region, plan.year).is_none() {
        return Err(plan.error_at(
            plan.region.pos,
            format!(
                "region {region} has no {provider} grid factor in factor set {}",
                factors.label()
            ),
        ));
    }

    // Utilisation: the plan's, else the load of an inference service, else the factor set's.
    let set_util = factors.coefficients.cpu_utilization_percent;
    let load = match &plan.workload {
        Workload::Inference {
            requests_per_day,
            throughput_per_replica,
            replicas,
            hours_per_day,
            ..
        } => Some(
            100.0 * requests_per_day / (replicas * throughput_per_replica * 3600.0 * hours_per_day),
        ),
        Workload::Training { .. } => None,
    };
    let gpu_util = match (plan.utilization_percent, load) {
        (Some(u), _) => {
            assumptions.push(format!("utilisation {u} % (the plan's)"));
            u
        }
        (None, Some(l)) => {
            assumptions.push(format!(
                "utilisation {l:.2} %: requests per day ÷ (replicas × throughput × 3600 s × \
                 hours per day)"
            ));
            l
        }
        (None, None) => {
            assumptions.push(format!(
                "utilisation {set_util} % (the factor set's assumed average, as for bills)"
            ));
            set_util
        }
    };
    let cpu_util = match plan.cpu_utilization_percent {
        Some(u) => {
            assumptions.push(format!("CPU utilisation {u} % (the plan's)"));
            u
        }
        None => gpu_util,
    };
    let cpu_from_set = plan.cpu_utilization_percent.is_none()
        && plan.utilization_percent.is_none()
        && load.is_none();

    // The factors of the row a bill of this usage would carry, at the plan's utilisation.
    let resolve_at = |util: f64| -> RowFactors {
        let mut set = factors.clone();
        set.coefficients.cpu_utilization_percent = util;
        let (service, usage_type, unit) = match instance {
            Some(i) => billed_line(provider, &i.instance_type),
            None => ("", String::new(), "Hrs"),
        };
        let key = RowKey {
            provider,
            service,
            usage_type: &usage_type,
            usage_class: if instance.is_some() {
                UsageClass::Compute
            } else {
                UsageClass::Gpu
            },
            usage_unit: unit,
            instance_type: instance.map(|i| i.instance_type.as_str()),
            cpu_architecture: None,
            gpu_model: gpu.as_ref().map(|(m, _)| m.as_str()),
            region: Some(region),
            region_note: None,
            year: plan.year,
        };
        FactorResolver {
            factors: &set,
            method,
        }
        .resolve(&key)
    };
    let f = resolve_at(cpu_util);
    let f_gpu = if gpu_util == cpu_util {
        f.clone()
    } else {
        resolve_at(gpu_util)
    };
    if let Some(notes) = &f.notes {
        assumptions.push(format!("factor notes: {notes}"));
    }
    // GCP bills a machine's RAM on its own SKU (`N1 Predefined Instance Ram`), a memory row
    // the estimator counts whole; AWS and Azure count only the excess share of the instance row.
    let memory_row = match instance {
        Some(i) if provider == "gcp" => {
            let series = i.instance_type.split('-').next().unwrap_or_default();
            let usage_type = format!("{} Instance Ram", series.to_uppercase());
            let key = RowKey {
                provider,
                service: "Compute Engine",
                usage_type: &usage_type,
                usage_class: UsageClass::Memory,
                usage_unit: "byte-seconds",
                instance_type: None,
                cpu_architecture: None,
                gpu_model: None,
                region: Some(region),
                region_note: None,
                year: plan.year,
            };
            Some(FactorResolver { factors, method }.resolve(&key))
        }
        _ => None,
    };
    let mem = memory_row.as_ref().unwrap_or(&f);

    // Quantities per period.
    // Instance-hours: nodes or replicas × hours (bare GPUs: GPU groups of `gpu_count`).
    let (period, instance_hours) = match &plan.workload {
        Workload::Training {
            hours, instances, ..
        } => ("run", hours * instances),
        Workload::Inference {
            replicas,
            hours_per_day,
            ..
        } => ("year", replicas * hours_per_day * DAYS_PER_YEAR),
    };
    let (vcpus, memory_gb, gpus_per_instance) = match instance {
        Some(i) => (
            i.vcpus,
            i.memory_gb,
            gpu.as_ref().map_or(i.gpu_count, |(_, n)| *n),
        ),
        None => (0.0, 0.0, gpu.as_ref().map_or(0.0, |(_, n)| *n)),
    };
    // A burstable AWS type averages its baseline, not the assumed utilisation: the AWS
    // connector bills it as vCPUs × baseline / the set's utilisation, at that utilisation.
    // The plan does the same when its CPU utilisation is the set's assumption; a utilisation
    // the plan gives (or an inference load) replaces the baseline.
    let burstable = match instance {
        Some(i) if provider == "aws" && cpu_from_set => {
            factors.burstable_baseline(provider, &i.instance_type)
        }
        _ => None,
    };
    let vcpu_share = match burstable {
        Some(baseline) => {
            assumptions.push(format!(
                "burstable: {baseline} % baseline (burstable.csv) → vCPU-hours × {baseline} / \
                 {set_util}, as for a bill"
            ));
            baseline / set_util
        }
        None => 1.0,
    };
    let vcpu_hours = instance_hours * vcpus * vcpu_share;
    let gpu_hours = instance_hours * gpus_per_instance;
    let memory_gb_hours = instance_hours * memory_gb;

    let (pue, rf) = (f.pue, f.replication);
    let cpu_kwh = vcpu_hours * f.kwh_per_vcpu_hour * pue * rf;
    let gpu_kwh = gpu_hours * f_gpu.kwh_per_gpu_hour * pue * rf;
    let memory_kwh = memory_gb_hours
        * mem.memory_fraction
        * mem.memory_kwh_per_gb_hour
        * mem.pue
        * mem.memory_replication;
    let computed_kwh = cpu_kwh + gpu_kwh + memory_kwh;
    let gpu_name = gpu
        .as_ref()
        .map(|(m, _)| m.clone())
        .or_else(|| instance.and_then(|i| i.gpu_model.clone()));
    if let Some(i) = instance.filter(|i| i.memory_gb <= 0.0) {
        // Known shortcoming: the ccf set, as CCF, lists no memory for GCP machine types.
        assumptions.push(format!(
            "{}: memory unknown in factor set {} (instances.csv memory_gb empty): no memory \
             energy counted",
            i.instance_type,
            factors.label()
        ));
    }
    if let Some(i) = instance {
        assumptions.push(format!(
            "{}: {} vCPUs, {} GB memory, {} × {} ({} of factor set {})",
            i.instance_type,
            i.vcpus,
            i.memory_gb,
            gpus_per_instance,
            gpu_name.as_deref().unwrap_or("no GPU"),
            "instances.csv",
            factors.label()
        ));
        assumptions.push(format!(
            "CPU {:.4} W per vCPU (min + utilisation × (max − min) of its processors); memory: \
             {:.1} % of GB-hours counted ({})",
            f.watts_per_vcpu,
            mem.memory_fraction * 100.0,
            if memory_row.is_some() {
                "GCP bills RAM apart: a memory row, counted whole"
            } else {
                "above what the CPU watts include"
            }
        ));
    } else {
        // Known shortcoming: a bare-GPU plan has no host, so no CPU or memory energy, and no
        // embodied emissions, because the factor tables hold embodied kg per server platform
        // (instances.csv), not per GPU card. Plan on an instance type to count them.
        assumptions.push(
            "bare GPUs: no host CPU, memory or embodied emissions counted (an undercount)".into(),
        );
    }
    let watts_per_gpu = f_gpu.kwh_per_gpu_hour * 1000.0;
    if gpus_per_instance > 0.0 {
        let w = gpu_name
            .as_deref()
            .and_then(|m| factors.gpu_watts(provider, m));
        if let (Some(m), Some(w)) = (&gpu_name, w) {
            assumptions.push(format!(
                "GPU {m}: {} W idle, {} W full load (gpu_watts.csv) → {watts_per_gpu:.1} W at \
                 {} %",
                w.min_watts,
                w.max_watts,
                super::report::num(gpu_util)
            ));
        }
    }
    let pue_year = factors
        .pue_year(provider, Some(region), plan.year)
        .unwrap_or(plan.year);
    assumptions.push(format!("PUE {pue} ({provider}, {pue_year} row)"));

    let (energy_kwh, energy_source) = match &plan.workload {
        Workload::Training {
            measured_kwh: Some(m),
            measured_includes_pue,
            ..
        } => {
            let e = if *measured_includes_pue { *m } else { m * pue };
            assumptions.push(format!(
                "energy: measured {m} kWh{} replaces the computed {computed_kwh:.3} kWh",
                if *measured_includes_pue {
                    " (PUE included, as the plan says)"
                } else {
                    " × PUE"
                }
            ));
            (e, "measured")
        }
        _ => (computed_kwh, "computed"),
    };

    let scope2_location_kg = energy_kwh * f.grid_kg_per_kwh;
    let scope2_market_kg = f.market_kg_per_kwh.map(|m| energy_kwh * m);
    assumptions.push(format!(
        "grid {} kg CO2e/kWh location-based ({provider} {region}, {} row)",
        f.grid_kg_per_kwh, f.grid_year
    ));
    match f.market_kg_per_kwh {
        Some(m) => assumptions.push(format!("market-based {m} kg CO2e/kWh")),
        None => assumptions.push(format!(
            "market-based: unknown (factor set {} has no market factor for {provider} {region})",
            factors.label()
        )),
    }
    let scope3_embodied_kg = match f.embodied {
        EmbodiedBasis::PerUsageAmount(kg) => kg * instance_hours,
        EmbodiedBasis::PerVcpuHour(kg) => kg * vcpu_hours,
        EmbodiedBasis::None => 0.0,
    };
    if let Some(i) = instance {
        match i.embodied_kgco2e {
            Some(kg) if f.embodied != EmbodiedBasis::None => assumptions.push(format!(
                "embodied: {kg} kg CO2e platform × hours / {} h lifespan × {} / {} vCPUs",
                factors.coefficients.server_lifespan_hours, i.vcpus, i.largest_vcpus
            )),
            _ => assumptions.push(format!(
                "embodied: none ({} has no platform figure)",
                i.instance_type
            )),
        }
    }
    let total_kg = scope2_location_kg + scope3_embodied_kg;

    let (functional_unit, units, service_years) = match &plan.workload {
        Workload::Training { .. } => ("run".to_owned(), 1.0, None),
        Workload::Inference {
            requests_per_day,
            requests_per_unit,
            years,
            ..
        } => (
            format!("{} requests", format_count(*requests_per_unit)),
            requests_per_day * DAYS_PER_YEAR / requests_per_unit,
            Some(*years),
        ),
    };
    if plan.kind == PlanKind::Inference {
        assumptions.push(format!(
            "a year of service = {DAYS_PER_YEAR} days of the plan's hours per day"
        ));
    }

    // Cost: the plan's price, else the ledger's effective rate.
    let priced_hours = if instance.is_some() {
        instance_hours
    } else {
        gpu_hours
    };
    let priced = match (instance, gpu_name.as_deref()) {
        (Some(instance), model) => Some(price::Priced::Instance {
            instance,
            gpus: model.map(|m| (m, gpus_per_instance)),
        }),
        (None, Some(model)) => Some(price::Priced::BareGpus { model }),
        (None, None) => None,
    };
    let price = match priced {
        Some(p) => price::find(plan, p, ledger)?,
        None => Price::Unknown {
            reason: "nothing to price".into(),
        },
    };
    let (cost, currency) = match &price {
        Price::Plan {
            per_hour, currency, ..
        }
        | Price::Ledger {
            per_hour, currency, ..
        } => (Some(per_hour * priced_hours), Some(currency.clone())),
        Price::Unknown { .. } => (None, plan.currency.clone()),
    };

    let sci_kg_per_unit = total_kg / units;
    let figures = [
        ("instance-hours", Some(instance_hours)),
        ("vCPU-hours", Some(vcpu_hours)),
        ("GPU-hours", Some(gpu_hours)),
        ("memory GB-hours", Some(memory_gb_hours)),
        ("energy (kWh)", Some(computed_kwh)),
        ("energy (kWh)", Some(energy_kwh)),
        ("Scope 2 location-based (kg CO2e)", Some(scope2_location_kg)),
        ("Scope 2 market-based (kg CO2e)", scope2_market_kg),
        ("Scope 3 embodied (kg CO2e)", Some(scope3_embodied_kg)),
        ("SCI (kg CO2e per unit)", Some(sci_kg_per_unit)),
        ("functional units", Some(units)),
        ("cost", cost),
        (
            "total over the service life (kg CO2e)",
            service_years.map(|y| total_kg * y),
        ),
        (
            "cost over the service life",
            service_years.zip(cost).map(|(y, c)| y * c),
        ),
    ];
    if let Some((what, Some(v))) = figures
        .iter()
        .find(|(_, v)| v.is_some_and(|v| !v.is_finite()))
    {
        return Err(not_finite(plan, what, *v));
    }

    Ok(Assessment {
        file: plan.file.clone(),
        name: plan.name.clone(),
        kind: plan.kind,
        provider: provider.to_owned(),
        region: region.to_owned(),
        year: plan.year,
        method: method.as_str().to_owned(),
        factor_set: factors.label(),
        instance_type: instance.map(|i| i.instance_type.clone()),
        gpu_model: gpu_name,
        period,
        instance_hours,
        vcpu_hours,
        gpu_hours,
        memory_gb_hours,
        gpu_utilization_percent: gpu_util,
        cpu_utilization_percent: cpu_util,
        watts_per_gpu,
        watts_per_vcpu: f.watts_per_vcpu,
        cpu_kwh,
        gpu_kwh,
        memory_kwh,
        computed_kwh,
        energy_kwh,
        energy_source,
        pue,
        grid_kg_per_kwh: f.grid_kg_per_kwh,
        grid_year: f.grid_year,
        market_kg_per_kwh: f.market_kg_per_kwh,
        scope2_location_kg,
        scope2_market_kg,
        scope3_embodied_kg,
        total_kg,
        cost,
        currency,
        price,
        functional_unit,
        units,
        sci_kg_per_unit,
        market_kg_per_unit: scope2_market_kg.map(|m| (m + scope3_embodied_kg) / units),
        service_years,
        carbon_cost: None,
        assumptions,
    })
}

/// A figure that overflowed: bad input (exit 2), reported at the plan's largest quantity.
fn not_finite(plan: &Plan, what: &str, v: f64) -> Error {
    let largest = plan
        .quantities
        .iter()
        .max_by(|a, b| a.1.value.abs().total_cmp(&b.1.value.abs()));
    match largest {
        Some((key, at)) => plan.error_at(
            at.pos,
            format!(
                "the plan's {what} is not a finite number ({v}): `{key}` = {:e} is \
                 implausibly large",
                at.value
            ),
        ),
        None => Error::Plan(format!(
            "{}: the plan's {what} is not a finite number ({v})",
            plan.file
        )),
    }
}

/// 1000 → `1,000`; fractions as written.
pub fn format_count(n: f64) -> String {
    if n.fract() != 0.0 || n.abs() >= 1e15 {
        return n.to_string();
    }
    let digits = format!("{}", n.abs() as u64);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0.0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::spec::parse;

    fn set() -> FactorSet {
        FactorSet::embedded("default").expect("default set")
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} != {b}");
    }

    #[test]
    fn gpu_models_by_name_or_last_word() {
        let f = set();
        assert_eq!(
            resolve_gpu_model(&f, "aws", "nvidia tesla v100").as_deref(),
            Some("Nvidia Tesla V100")
        );
        assert_eq!(
            resolve_gpu_model(&f, "aws", "V100").as_deref(),
            Some("Nvidia Tesla V100")
        );
        assert_eq!(resolve_gpu_model(&f, "aws", "H100"), None);
    }

    #[test]
    fn bare_gpus_use_gpu_watts_only() {
        // 4 × Nvidia T4 (default gpu_watts.csv, aws: 8 W idle, 71 W full) at 50 % for 10 h:
        // 8 + 0.5 × 63 = 39.5 W; 40 GPU-h × 39.5 W = 1.58 kWh before PUE.
        let text = "kind = \"training\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
                    gpu_model = \"T4\"\ngpu_count = 4\nhours = 10\nutilization_percent = 50\n\
                    year = 2024\n";
        let plan = parse("p.toml", text, 2026).unwrap();
        let f = set();
        let a = assess(&plan, &f, Method::Default, None).unwrap();
        let pue = f.pue("aws", Some("us-east-1"), 2024).unwrap();
        close(a.gpu_hours, 40.0);
        close(a.watts_per_gpu, 39.5);
        close(a.energy_kwh, 1.58 * pue);
        assert_eq!(a.cpu_kwh, 0.0);
        assert_eq!(a.scope3_embodied_kg, 0.0);
        assert!(a.cost.is_none(), "no price, no ledger: cost unknown");
    }

    #[test]
    fn measured_energy_replaces_computed_with_or_without_pue() {
        let base = "kind = \"training\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
                    instance_type = \"p3.2xlarge\"\nhours = 3\nyear = 2024\nmeasured_kwh = 2.0\n";
        let f = set();
        let pue = f.pue("aws", Some("us-east-1"), 2024).unwrap();
        let a = assess(
            &parse("p.toml", base, 2026).unwrap(),
            &f,
            Method::Default,
            None,
        )
        .unwrap();
        close(a.energy_kwh, 2.0 * pue);
        assert_eq!(a.energy_source, "measured");
        let text = format!("{base}measured_kwh_includes_pue = true\n");
        let b = assess(
            &parse("p.toml", &text, 2026).unwrap(),
            &f,
            Method::Default,
            None,
        )
        .unwrap();
        close(b.energy_kwh, 2.0);
        // The computed figure stays visible and is not the one used.
        assert!(b.computed_kwh > 0.0 && (b.computed_kwh - 2.0).abs() > 1e-6);
    }

    #[test]
    fn unknown_names_point_at_the_value() {
        let f = set();
        let err = |text: &str| match assess(
            &parse("p.toml", text, 2026).unwrap(),
            &f,
            Method::Default,
            None,
        ) {
            Err(Error::Plan(m)) => m,
            other => panic!("{other:?}"),
        };
        let head = "kind = \"training\"\nprovider = \"aws\"\nhours = 1\n";
        let m = err(&format!(
            "{head}region = \"us-east-1\"\ninstance_type = \"p3.32xlarge\"\n"
        ));
        assert!(m.starts_with("p.toml:5:17:"), "{m}");
        assert!(m.contains("p3.16xlarge"), "lists the family: {m}");
        let m = err(&format!(
            "{head}region = \"us-east-1\"\ngpu_model = \"H100\"\ngpu_count = 1\n"
        ));
        assert!(m.starts_with("p.toml:5:13:"), "{m}");
        let m = err(&format!(
            "{head}region = \"mars-1\"\ninstance_type = \"p3.2xlarge\"\n"
        ));
        assert!(m.starts_with("p.toml:4:10:"), "{m}");
        let m = err(&format!(
            "{head}region = \"us-east-1\"\ninstance_type = \"p3.2xlarge\"\ngpu_model = \"T4\"\n"
        ));
        assert!(m.contains("already has"), "{m}");
    }

    fn plan_err(text: &str) -> String {
        match assess(
            &parse("p.toml", text, 2026).unwrap(),
            &set(),
            Method::Default,
            None,
        ) {
            Err(Error::Plan(m)) => m,
            other => panic!("expected a plan error, got {other:?}"),
        }
    }

    #[test]
    fn burstable_types_run_at_their_baseline_unless_the_plan_says() {
        // t3.large: 2 vCPUs, baseline 30 % (burstable.csv), the set assumes 50 %
        // (coefficients.csv): as the AWS connector bills `BoxUsage:t3.large`,
        // 24 h × 2 vCPUs × 30 / 50 = 28.8 vCPU-hours.
        let f = set();
        let baseline = f.burstable_baseline("aws", "t3.large").unwrap();
        let util = f.coefficients.cpu_utilization_percent;
        assert_eq!(
            (baseline, util),
            (30.0, 50.0),
            "the factor values this test assumes"
        );
        let head = "kind = \"training\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
                    instance_type = \"t3.large\"\nhours = 24\nyear = 2024\n";
        let a = assess(
            &parse("p.toml", head, 2026).unwrap(),
            &f,
            Method::Default,
            None,
        )
        .unwrap();
        close(a.vcpu_hours, 28.8);
        assert!(
            a.assumptions
                .iter()
                .any(|s| s.starts_with("burstable: 30 %"))
        );
        // A utilisation the plan gives replaces the baseline: 24 h × 2 vCPUs.
        let text = format!("{head}utilization_percent = 30\n");
        let b = assess(
            &parse("p.toml", &text, 2026).unwrap(),
            &f,
            Method::Default,
            None,
        )
        .unwrap();
        close(b.vcpu_hours, 48.0);
        // Not burstable: every vCPU-hour (m5.large, 2 vCPUs).
        let text = head.replace("t3.large", "m5.large");
        let c = assess(
            &parse("p.toml", &text, 2026).unwrap(),
            &f,
            Method::Default,
            None,
        )
        .unwrap();
        close(c.vcpu_hours, 48.0);
    }

    #[test]
    fn accelerators_the_set_cannot_quantify_are_refused() {
        let head = "kind = \"training\"\nprovider = \"aws\"\nregion = \"us-east-1\"\nhours = 1\n";
        // p5.48xlarge carries 8 × H100: instances.csv leaves its gpu_count empty.
        let m = plan_err(&format!("{head}instance_type = \"p5.48xlarge\"\n"));
        assert!(m.starts_with("p.toml:5:17:"), "{m}");
        assert!(m.contains("gpu_count empty"), "{m}");
        // GCP a3-highgpu-8g lists 8 × Nvidia H100, which gpu_watts.csv has no watts for.
        let m = plan_err(
            "kind = \"training\"\nprovider = \"gcp\"\nregion = \"us-central1\"\nhours = 1\n\
             instance_type = \"a3-highgpu-8g\"\n",
        );
        assert!(
            m.starts_with("p.toml:5:17:") && m.contains("Nvidia H100"),
            "{m}"
        );
        // Measured energy, or GPUs the set has watts for, make the plan computable.
        let f = set();
        let text = format!("{head}instance_type = \"p4de.24xlarge\"\nmeasured_kwh = 50\n");
        let a = assess(
            &parse("p.toml", &text, 2026).unwrap(),
            &f,
            Method::Default,
            None,
        );
        assert!(a.is_ok(), "{a:?}");
        let text = format!(
            "{head}instance_type = \"p4de.24xlarge\"\ngpu_model = \"A100\"\ngpu_count = 8\n"
        );
        let a = assess(
            &parse("p.toml", &text, 2026).unwrap(),
            &f,
            Method::Default,
            None,
        )
        .unwrap();
        close(a.gpu_hours, 8.0);
    }

    #[test]
    fn overflowing_figures_are_bad_input_at_the_largest_quantity() {
        let m = plan_err(
            "kind = \"training\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
             instance_type = \"p3.2xlarge\"\nhours = 1e308\ninstances = 2\n",
        );
        assert!(m.starts_with("p.toml:5:9:"), "{m}");
        assert!(m.contains("not a finite number"), "{m}");
    }

    #[test]
    fn gcp_memory_counts_whole_as_its_ram_row() {
        // n1-standard-4: 15 GB, billed on an `N1 Predefined Instance Ram` row that the
        // estimator counts whole: 15 GB × 1 h × 0.000392 kWh/GB-h (coefficients.csv) × PUE.
        let f = set();
        let text = "kind = \"training\"\nprovider = \"gcp\"\nregion = \"us-central1\"\n\
                    instance_type = \"n1-standard-4\"\nhours = 1\nyear = 2024\n";
        let a = assess(
            &parse("p.toml", text, 2026).unwrap(),
            &f,
            Method::Default,
            None,
        )
        .unwrap();
        let pue = f.pue("gcp", Some("us-central1"), 2024).unwrap();
        close(a.memory_gb_hours, 15.0);
        close(
            a.memory_kwh,
            15.0 * f.coefficients.memory_kwh_per_gb_hour * pue,
        );
    }

    #[test]
    fn the_pue_assumption_names_the_row_used() {
        // pue.csv has aws `*` rows for 2023, 2024 and 2025: a 2030 plan uses the 2025 row,
        // a 2010 plan the earliest (2023).
        let f = set();
        for (year, row) in [(2030, 2025), (2010, 2023)] {
            let text = format!(
                "kind = \"training\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
                 instance_type = \"m5.large\"\nhours = 1\nyear = {year}\n"
            );
            let a = assess(
                &parse("p.toml", &text, 2026).unwrap(),
                &f,
                Method::Default,
                None,
            )
            .unwrap();
            let pue = a.assumptions.iter().find(|s| s.starts_with("PUE")).unwrap();
            assert!(pue.ends_with(&format!("(aws, {row} row)")), "{year}: {pue}");
        }
    }

    #[test]
    fn counts_with_thousands_separators() {
        assert_eq!(format_count(1000.0), "1,000");
        assert_eq!(format_count(1234567.0), "1,234,567");
        assert_eq!(format_count(100.0), "100");
        assert_eq!(format_count(2.5), "2.5");
    }
}
