//! Per-row factors: everything the estimate of a row needs that depends only on what the row
//! describes (provider, service, usage type, instance, region, year), computed once per
//! distinct description and cached.
//!
//! Units: kWh per vCPU-hour and per GPU-hour (before PUE and replication), Wh per TB-hour,
//! kg CO2e per kWh, kg CO2e per vCPU-hour or per unit of billed amount (embodied).
//!
//! Embodied emissions follow SCI: platform kg × instance-hours / lifespan hours × instance
//! vCPUs / vCPUs of the family's largest type. For AWS the instance-hours are the billed
//! amount (hour units; Redshift node seconds / 3600), never the vCPU-hours, which the AWS
//! connector scales by baseline / 50 for burstable types. `--method ccf` keeps CCF's
//! arithmetic (ccf-methodology §2): for AWS and Azure the share cancels, so every size of a
//! family gets platform kg / (lifespan × largest vCPUs) per billed instance-hour, and for the
//! AWS `u-*tb1` families the memory figure is read as tonnes of embodied CO2e.

use carbonledger_factors::{CpuWatts, FactorSet, Instance};
use carbonledger_usage::UsageClass;

use super::Method;
use super::formulas::{self, ArchitectureFallback};

/// What identifies a row's factors.
#[derive(Debug, Clone, Copy)]
pub struct RowKey<'a> {
    pub provider: &'a str,
    pub service: &'a str,
    pub usage_type: &'a str,
    pub usage_class: UsageClass,
    /// The billed unit (`Hrs`, `seconds`, …): it says how many instance-hours the amount is.
    pub usage_unit: &'a str,
    pub instance_type: Option<&'a str>,
    pub cpu_architecture: Option<&'a str>,
    pub gpu_model: Option<&'a str>,
    pub region: Option<&'a str>,
    /// How the connector found `region` when the bill did not state it (null when it did).
    pub region_note: Option<&'a str>,
    pub year: i32,
}

/// How embodied emissions scale with the row's quantities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EmbodiedBasis {
    /// No embodied emissions (not compute, or no instance data).
    None,
    /// kg per vCPU-hour: the instance's vCPU share of the platform (SCI), for rows whose
    /// vCPU-hours are instance-hours × instance vCPUs (GCP, Azure).
    PerVcpuHour(f64),
    /// kg per unit of billed amount (`usage_amount`, instance-hours or Redshift node seconds):
    /// AWS rows, whose vCPU-hours may be scaled by a burstable baseline. With `--method ccf`
    /// (AWS and Azure) the vCPU share cancels out, as in CCF.
    PerUsageAmount(f64),
}

/// The factors of one row description.
#[derive(Debug, Clone)]
pub struct RowFactors {
    /// Average watts per vCPU at the assumed utilisation.
    pub watts_per_vcpu: f64,
    pub kwh_per_vcpu_hour: f64,
    pub kwh_per_gpu_hour: f64,
    /// Share of `memory_gb_hours` that counts as memory energy.
    pub memory_fraction: f64,
    pub memory_replication: f64,
    /// kWh per GB-hour of memory.
    pub memory_kwh_per_gb_hour: f64,
    /// kWh per GB transferred.
    pub network_kwh_per_gb: f64,
    /// Storage Wh per TB-hour for the row's media (0 when not storage).
    pub storage_wh_per_tb_hour: f64,
    /// CCF quirk: TB-hours taken as `usage_amount / 2^40` (AWS byte-hour usage types).
    pub storage_from_byte_hours: bool,
    pub replication: f64,
    pub pue: f64,
    pub grid_kg_per_kwh: f64,
    pub grid_year: i32,
    pub market_kg_per_kwh: Option<f64>,
    pub embodied: EmbodiedBasis,
    /// Plain-language notes on fallbacks used, joined with `; `.
    pub notes: Option<String>,
}

/// Builds [`RowFactors`] for a method and factor set.
pub struct FactorResolver<'f> {
    pub factors: &'f FactorSet,
    pub method: Method,
}

impl FactorResolver<'_> {
    pub fn resolve(&self, key: &RowKey<'_>) -> RowFactors {
        let f = self.factors;
        let c = &f.coefficients;
        let mut notes: Vec<String> = Vec::new();
        let provider = key.provider;
        let instance = key.instance_type.and_then(|t| f.instance(provider, t));

        // Compute: watts per vCPU from the instance's processors, else the billed
        // architecture (a `;`-separated list for GCP machine series the table lacks), else the
        // provider fallback.
        let processors: Vec<String> = match (instance, key.cpu_architecture) {
            (Some(i), _) if !i.processors.is_empty() => i.processors.clone(),
            (_, Some(arch)) => arch.split(';').map(|a| a.trim().to_owned()).collect(),
            _ => Vec::new(),
        };
        let rule = match self.method {
            Method::Ccf => ArchitectureFallback::AnyUnknownFallsBack,
            Method::Default => ArchitectureFallback::SkipUnknown,
        };
        let uses_cpu = key.usage_class == UsageClass::Compute;
        let watts = formulas::processor_watts(f, provider, &processors, rule);
        let cpu = match watts {
            Some(w) => w,
            None => {
                if uses_cpu {
                    notes.push(format!(
                        "CPU architecture unknown: {provider} average watts"
                    ));
                }
                f.cpu_fallback(provider).unwrap_or(CpuWatts {
                    min_watts: 0.0,
                    max_watts: 0.0,
                    gb_per_chip: None,
                })
            }
        };
        let util = c.cpu_utilization_percent;
        let watts_per_vcpu = formulas::average_watts(cpu.min_watts, cpu.max_watts, util);

        // GPU: the named model, else the mean of the provider's models.
        let gpu_name = key
            .gpu_model
            .or_else(|| instance.and_then(|i| i.gpu_model.as_deref()));
        // CCF averages only its six GCP GPU models for a GCP GPU SKU it cannot name (§1.2).
        let ccf_gcp = self.method == Method::Ccf && provider == "gcp";
        let gpu = gpu_name.and_then(|m| f.gpu_watts(provider, m)).or_else(|| {
            let all: Vec<_> = f
                .gpu_models(provider)
                .into_iter()
                .filter(|(name, _)| !ccf_gcp || CCF_GCP_GPU_MODELS.contains(name))
                .map(|(_, w)| w)
                .collect();
            if gpu_name.is_some() || key.usage_class == UsageClass::Gpu {
                let name = gpu_name.unwrap_or("unnamed");
                let which = if ccf_gcp { "CCF's six" } else { "all" };
                notes.push(format!(
                    "GPU model {name} unknown: mean of {which} {provider} GPU models"
                ));
            }
            formulas::mean_gpu_watts(&all)
        });
        let gpu_watts = gpu.map_or(0.0, |g| {
            formulas::average_watts(g.min_watts, g.max_watts, util)
        });

        // Memory: all of a memory row; the excess above the per-chip threshold for compute.
        let memory_fraction = match key.usage_class {
            UsageClass::Memory => 1.0,
            UsageClass::Compute => match instance {
                Some(i) if f.burstable_baseline(provider, &i.instance_type).is_none() => {
                    let per_chip = cpu
                        .gb_per_chip
                        .or_else(|| f.cpu_fallback(provider).and_then(|w| w.gb_per_chip));
                    per_chip.map_or(0.0, |gb| {
                        let per_chip_vcpus = c.vcpus_per_physical_chip;
                        let chips =
                            formulas::physical_chips(i.largest_vcpus, &i.family, per_chip_vcpus);
                        formulas::excess_memory_fraction(i.largest_memory_gb, chips, gb)
                    })
                }
                _ => 0.0,
            },
            _ => 0.0,
        };

        let replication = f.replication(provider, key.service, key.usage_type);
        // CCF passes no replication factor to GCP memory SKUs.
        let memory_replication = match (self.method, provider, key.usage_class) {
            (Method::Ccf, "gcp", UsageClass::Memory) => 1.0,
            _ => replication,
        };
        let storage_wh_per_tb_hour = match key.usage_class {
            UsageClass::StorageSsd => c.ssd_wh_per_tb_hour,
            UsageClass::StorageHdd => c.hdd_wh_per_tb_hour,
            _ => 0.0,
        };
        let storage_from_byte_hours = self.method == Method::Ccf
            && provider == "aws"
            && key.usage_class != UsageClass::Compute
            && carbonledger_aws::is_byte_hours_usage_type(key.usage_type);

        // CCF reads only the bill's product region (§3, §4.1): an AWS region the connector
        // derived (usage-type prefix, us-east-1 default) is one CCF never sees.
        let region = match (self.method, provider, key.region_note) {
            (Method::Ccf, "aws", Some(_)) => None,
            _ => key.region,
        };
        let pue = f.pue(provider, region, key.year).unwrap_or_else(|| {
            notes.push(format!("no PUE for {provider}: 1.0 used"));
            1.0
        });
        let region_factor = region.and_then(|r| f.grid_location(provider, r, key.year));
        let grid = match region_factor {
            Some(g) => Some(g),
            None => {
                match (key.region, region) {
                    (Some(r), Some(_)) => {
                        notes.push(format!("region {r} has no grid factor: {provider} average"))
                    }
                    (Some(r), None) => notes.push(format!(
                        "region {r} not stated by the bill ({}); CCF uses only product_region: \
                         {provider} average grid factor",
                        key.region_note.unwrap_or_default()
                    )),
                    (None, _) => notes.push(format!("no region: {provider} average grid factor")),
                }
                f.grid_location_unknown(provider, key.year)
            }
        };
        let (grid_kg_per_kwh, grid_year) = grid.map_or((0.0, key.year), |g| (g.kg_per_kwh, g.year));
        let market_kg_per_kwh = region
            .and_then(|r| f.grid_market(provider, r, key.year))
            .map(|g| g.kg_per_kwh);

        let embodied = match (uses_cpu, instance) {
            (true, Some(i)) => self.embodied(key, i, &mut notes),
            _ => EmbodiedBasis::None,
        };

        RowFactors {
            watts_per_vcpu,
            kwh_per_vcpu_hour: formulas::kwh(watts_per_vcpu, 1.0),
            kwh_per_gpu_hour: formulas::kwh(gpu_watts, 1.0),
            memory_fraction,
            memory_replication,
            memory_kwh_per_gb_hour: c.memory_kwh_per_gb_hour,
            network_kwh_per_gb: c.network_kwh_per_gb,
            storage_wh_per_tb_hour,
            storage_from_byte_hours,
            replication,
            pue,
            grid_kg_per_kwh,
            grid_year,
            market_kg_per_kwh,
            embodied,
            notes: (!notes.is_empty()).then(|| notes.join("; ")),
        }
    }

    /// The embodied basis of a compute row of instance `i` (see the module docs).
    fn embodied(&self, key: &RowKey<'_>, i: &Instance, notes: &mut Vec<String>) -> EmbodiedBasis {
        let provider = key.provider;
        let lifespan = self.factors.coefficients.server_lifespan_hours;
        let ccf = self.method == Method::Ccf;
        let platform_kg = if ccf && provider == "aws" && is_u_tb1_family(&i.family) {
            // CCF reads element 1 (memory, GB) of `[vcpus, memory, embodied]` as tonnes.
            let kg = i.memory_gb * 1000.0;
            notes.push(format!(
                "CCF u-*tb1 quirk: embodied = the memory figure of {} ({} GB) read as tonnes CO2e",
                i.instance_type, i.memory_gb
            ));
            Some(kg)
        } else {
            i.embodied_kgco2e
        };
        let Some(kg) = platform_kg.filter(|kg| *kg > 0.0) else {
            return EmbodiedBasis::None;
        };
        // kg per vCPU-hour of the platform: the SCI share without the instance's vCPUs.
        let per_vcpu_hour = formulas::embodied_kg(kg, 1.0, lifespan, 1.0, i.largest_vcpus);
        let hours_per_amount = aws_instance_hours_per_amount(key.service, key.usage_unit);
        match (self.method, provider) {
            // CCF: usage amount / instance vCPUs × instance vCPUs / largest: the share cancels.
            // CCF turns Redshift node seconds into hours before this step.
            (Method::Ccf, "aws") => {
                EmbodiedBasis::PerUsageAmount(per_vcpu_hour * hours_per_amount.unwrap_or(1.0))
            }
            (Method::Ccf, "azure") => EmbodiedBasis::PerUsageAmount(per_vcpu_hour),
            (Method::Default, "aws") => match hours_per_amount {
                Some(hours) => EmbodiedBasis::PerUsageAmount(formulas::embodied_kg(
                    kg,
                    hours,
                    lifespan,
                    i.vcpus,
                    i.largest_vcpus,
                )),
                // Not an instance-hour unit: the vCPU-hours are not scaled by a baseline.
                None => EmbodiedBasis::PerVcpuHour(per_vcpu_hour),
            },
            _ => EmbodiedBasis::PerVcpuHour(per_vcpu_hour),
        }
    }
}

/// CCF's GCP GPU models (`BillingExportTable`), averaged for a GPU SKU it cannot name.
const CCF_GCP_GPU_MODELS: [&str; 6] = [
    "Nvidia T4",
    "Nvidia Tesla K80",
    "Nvidia Tesla V100",
    "Nvidia Tesla A100",
    "Nvidia Tesla P4",
    "Nvidia Tesla P100",
];

/// Instance-hours per unit of billed amount of an AWS compute row: 1 for the hour units, 1/3600
/// for Redshift node seconds; `None` for units that do not count instances (`vCPU-Hours`,
/// `DPU-Hour`, `ACU-Hr`).
fn aws_instance_hours_per_amount(service: &str, unit: &str) -> Option<f64> {
    match unit {
        "Hrs" | "Hours" | "hours" => Some(1.0),
        "seconds" if service == "AmazonRedshift" => Some(1.0 / 3600.0),
        _ => None,
    }
}

/// The AWS high-memory `u-*tb1` families (`u-6tb1`, `u-24tb1`), which CCF reads from its
/// `INSTANCE_FAMILY_TO_INSTANCE_TYPE_MAPPING` fallback.
fn is_u_tb1_family(family: &str) -> bool {
    family
        .strip_prefix("u-")
        .and_then(|rest| rest.strip_suffix("tb1"))
        .is_some_and(|size| !size.is_empty() && size.bytes().all(|b| b.is_ascii_digit()))
}
