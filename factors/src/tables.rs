//! The loaded factor set and its lookups.

use std::collections::HashMap;

use regex::Regex;

use crate::pick_year;

/// The set's identity, from `set.toml`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SetMeta {
    pub name: String,
    pub version: String,
    /// `ccf` or `default`: which estimation method the set was made for.
    pub method: String,
    pub description: String,
}

/// Scalar coefficients (`coefficients.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct Coefficients {
    /// kWh per GB-hour of memory.
    pub memory_kwh_per_gb_hour: f64,
    /// Wh per TB-hour of SSD storage.
    pub ssd_wh_per_tb_hour: f64,
    /// Wh per TB-hour of HDD storage.
    pub hdd_wh_per_tb_hour: f64,
    /// kWh per GB transferred.
    pub network_kwh_per_gb: f64,
    /// Average CPU utilisation assumed for billing data, in percent (50 = half load).
    pub cpu_utilization_percent: f64,
    /// Expected server lifespan in hours, over which embodied emissions are spread.
    pub server_lifespan_hours: f64,
    /// vCPUs per AWS Glue DPU-hour.
    pub aws_glue_vcpus_per_dpu: f64,
    /// vCPUs per Aurora Serverless ACU-hour.
    pub aws_aurora_serverless_vcpus_per_acu: f64,
    /// vCPUs assumed per GKE cluster-hour.
    pub gcp_vcpus_per_gke_cluster: f64,
    /// vCPUs assumed per Cloud Composer environment-hour.
    pub gcp_vcpus_per_cloud_composer_environment: f64,
    /// vCPUs per physical chip, to count the chips of a family's largest server.
    pub vcpus_per_physical_chip: f64,
}

/// One row of a set's `coefficients.csv`: a number the method assumes, with its unit as the
/// file states it (e.g. `kWh/GB-hour`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Assumption {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// Watts per vCPU at idle and at full load, and the memory a SPECpower server of this
/// architecture has per physical chip (GB).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuWatts {
    pub min_watts: f64,
    pub max_watts: f64,
    pub gb_per_chip: Option<f64>,
}

/// Watts per GPU at idle and at full load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuWatts {
    pub min_watts: f64,
    pub max_watts: f64,
}

/// A grid emission factor in kg CO2e per kWh, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct GridFactor {
    pub kg_per_kwh: f64,
    pub year: i32,
    pub source: String,
}

/// One instance, machine or VM type.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub instance_type: String,
    pub family: String,
    pub vcpus: f64,
    pub memory_gb: f64,
    /// GPUs per instance; 0 also when `accelerators_unknown`.
    pub gpu_count: f64,
    pub gpu_model: Option<String>,
    /// `gpu_count` is empty in `instances.csv`: the type carries accelerators (GPUs or other
    /// chips) that the data set has no count or model for, so their energy is missing.
    pub accelerators_unknown: bool,
    /// Micro-architectures, as named in `cpu_watts.csv`; empty when unknown.
    pub processors: Vec<String>,
    /// Embodied emissions of the whole platform (largest size of the family), kg CO2e.
    pub embodied_kgco2e: Option<f64>,
    /// vCPUs of the largest type in the family.
    pub largest_vcpus: f64,
    /// Memory (GB) of the largest type in the family.
    pub largest_memory_gb: f64,
}

/// How a replication rule matches a usage type.
#[derive(Debug, Clone)]
pub enum RuleMatch {
    /// Any pattern matches as `\b<pattern>\b` (CCF's `containsAny`, pattern unescaped).
    ContainsWord(Vec<Regex>),
    /// Any pattern is a substring.
    Includes(Vec<String>),
    /// Always matches.
    Always,
}

/// One replication rule for a provider's service (`replication.csv`).
#[derive(Debug, Clone)]
pub struct ReplicationRule {
    pub order: i64,
    pub rule: RuleMatch,
    pub factor: f64,
}

impl ReplicationRule {
    pub fn matches(&self, usage_type: &str) -> bool {
        match &self.rule {
            RuleMatch::ContainsWord(patterns) => patterns.iter().any(|p| p.is_match(usage_type)),
            RuleMatch::Includes(patterns) => patterns.iter().any(|p| usage_type.contains(p)),
            RuleMatch::Always => true,
        }
    }
}

type Key = (String, String);

fn key(provider: &str, name: &str) -> Key {
    (provider.to_owned(), name.to_owned())
}

/// A complete, versioned factor set.
#[derive(Debug, Clone)]
pub struct FactorSet {
    pub meta: SetMeta,
    pub coefficients: Coefficients,
    /// Every row of `coefficients.csv` as the file states it (name, value, unit), file order.
    pub assumptions: Vec<Assumption>,
    pub(crate) cpu: HashMap<Key, CpuWatts>,
    pub(crate) gpu: HashMap<Key, GpuWatts>,
    /// (provider, region or `*`) → rows by year.
    pub(crate) pue: HashMap<Key, Vec<(i32, f64)>>,
    pub(crate) grid_location: HashMap<Key, Vec<(i32, GridFactor)>>,
    pub(crate) grid_market: HashMap<Key, Vec<(i32, GridFactor)>>,
    pub(crate) replication: HashMap<Key, Vec<ReplicationRule>>,
    pub(crate) instances: HashMap<Key, Instance>,
    pub(crate) burstable: HashMap<Key, f64>,
    /// Each data file's rows, years, licences and sources (`set.toml` aside), file order.
    pub provenance: Vec<crate::FileProvenance>,
}

/// The architecture name of a provider's fallback row in `cpu_watts.csv`.
pub const FALLBACK_ARCHITECTURE: &str = "_fallback";
/// The region name of a provider's fallback row in the grid tables.
pub const UNKNOWN_REGION: &str = "_unknown";

impl FactorSet {
    /// `name version`, as written into every ledger row.
    pub fn label(&self) -> String {
        format!("{} {}", self.meta.name, self.meta.version)
    }

    /// Every row of `cpu_watts.csv`: (provider, architecture, watts per vCPU).
    pub fn cpu_watts_rows(&self) -> impl Iterator<Item = (&str, &str, CpuWatts)> {
        self.cpu
            .iter()
            .map(|((p, a), w)| (p.as_str(), a.as_str(), *w))
    }

    /// Every row of `gpu_watts.csv`: (provider, GPU model, watts per GPU).
    pub fn gpu_watts_rows(&self) -> impl Iterator<Item = (&str, &str, GpuWatts)> {
        self.gpu
            .iter()
            .map(|((p, m), w)| (p.as_str(), m.as_str(), *w))
    }

    pub fn cpu_watts(&self, provider: &str, architecture: &str) -> Option<CpuWatts> {
        self.cpu.get(&key(provider, architecture)).copied()
    }

    /// The provider's fallback for unknown architectures.
    pub fn cpu_fallback(&self, provider: &str) -> Option<CpuWatts> {
        self.cpu_watts(provider, FALLBACK_ARCHITECTURE)
    }

    pub fn gpu_watts(&self, provider: &str, model: &str) -> Option<GpuWatts> {
        self.gpu.get(&key(provider, model)).copied()
    }

    /// All GPU models known for a provider, sorted by name.
    pub fn gpu_models(&self, provider: &str) -> Vec<(&str, GpuWatts)> {
        let mut models: Vec<_> = self
            .gpu
            .iter()
            .filter(|((p, _), _)| p == provider)
            .map(|((_, m), w)| (m.as_str(), *w))
            .collect();
        models.sort_by(|a, b| a.0.cmp(b.0));
        models
    }

    /// PUE of a region in a year, else the provider's default for that year.
    pub fn pue(&self, provider: &str, region: Option<&str>, year: i32) -> Option<f64> {
        region
            .and_then(|r| self.pue.get(&key(provider, r)))
            .or_else(|| self.pue.get(&key(provider, "*")))
            .and_then(|rows| pick_year(rows, year))
            .copied()
    }

    /// The year of the PUE row [`FactorSet::pue`] picks.
    pub fn pue_year(&self, provider: &str, region: Option<&str>, year: i32) -> Option<i32> {
        let rows = region
            .and_then(|r| self.pue.get(&key(provider, r)))
            .or_else(|| self.pue.get(&key(provider, "*")))?;
        rows.iter()
            .rev()
            .find(|(y, _)| *y <= year)
            .or_else(|| rows.first())
            .map(|(y, _)| *y)
    }

    /// Location-based factor of a region; `None` when the region is not in the table.
    pub fn grid_location(&self, provider: &str, region: &str, year: i32) -> Option<&GridFactor> {
        self.grid_location
            .get(&key(provider, region))
            .and_then(|rows| pick_year(rows, year))
    }

    /// The provider's location-based fallback for unknown regions.
    pub fn grid_location_unknown(&self, provider: &str, year: i32) -> Option<&GridFactor> {
        self.grid_location(provider, UNKNOWN_REGION, year)
    }

    /// Market-based factor where the provider publishes one.
    pub fn grid_market(&self, provider: &str, region: &str, year: i32) -> Option<&GridFactor> {
        self.grid_market
            .get(&key(provider, region))
            .and_then(|rows| pick_year(rows, year))
    }

    /// The replication factor for a service's usage type (1 when no rule matches).
    pub fn replication(&self, provider: &str, service: &str, usage_type: &str) -> f64 {
        self.replication
            .get(&key(provider, service))
            .and_then(|rules| rules.iter().find(|r| r.matches(usage_type)))
            .map_or(1.0, |r| r.factor)
    }

    pub fn instance(&self, provider: &str, instance_type: &str) -> Option<&Instance> {
        self.instances.get(&key(provider, instance_type))
    }

    /// Every instance type of a provider, in no particular order.
    pub fn instances(&self, provider: &str) -> impl Iterator<Item = &Instance> {
        self.instances
            .iter()
            .filter(move |((p, _), _)| p == provider)
            .map(|(_, instance)| instance)
    }

    /// Every PUE row as (provider, region or `*`, year, PUE), sorted; for exporting the set
    /// as tables (`carbonledger factors export`).
    pub fn pue_rows(&self) -> Vec<(&str, &str, i32, f64)> {
        let mut rows: Vec<_> = self
            .pue
            .iter()
            .flat_map(|((p, r), years)| {
                years
                    .iter()
                    .map(move |(y, v)| (p.as_str(), r.as_str(), *y, *v))
            })
            .collect();
        rows.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        rows
    }

    /// Every location-based (`market == false`) or market-based grid factor as (provider,
    /// region, year, kg CO2e per kWh), sorted; for exporting the set as tables.
    pub fn grid_rows(&self, market: bool) -> Vec<(&str, &str, i32, f64)> {
        let table = if market {
            &self.grid_market
        } else {
            &self.grid_location
        };
        let mut rows: Vec<_> = table
            .iter()
            .flat_map(|((p, r), years)| {
                years
                    .iter()
                    .map(move |(y, g)| (p.as_str(), r.as_str(), *y, g.kg_per_kwh))
            })
            .collect();
        rows.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        rows
    }

    /// Every replication rule as (provider, service, rule), each service's rules in order.
    pub fn replication_rules(&self) -> Vec<(&str, &str, &ReplicationRule)> {
        let mut rows: Vec<_> = self
            .replication
            .iter()
            .flat_map(|((p, s), rules)| rules.iter().map(move |r| (p.as_str(), s.as_str(), r)))
            .collect();
        rows.sort_by(|a, b| (a.0, a.1, a.2.order).cmp(&(b.0, b.1, b.2.order)));
        rows
    }

    /// Every CPU watts row as (provider, architecture, watts), sorted.
    pub fn cpu_rows(&self) -> Vec<(&str, &str, CpuWatts)> {
        let mut rows: Vec<_> = self
            .cpu
            .iter()
            .map(|((p, a), w)| (p.as_str(), a.as_str(), *w))
            .collect();
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        rows
    }

    /// Every GPU watts row as (provider, model, watts), sorted.
    pub fn gpu_rows(&self) -> Vec<(&str, &str, GpuWatts)> {
        let mut rows: Vec<_> = self
            .gpu
            .iter()
            .map(|((p, m), w)| (p.as_str(), m.as_str(), *w))
            .collect();
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        rows
    }

    /// Every instance as (provider, instance), sorted by provider and type.
    pub fn instance_rows(&self) -> Vec<(&str, &Instance)> {
        let mut rows: Vec<_> = self
            .instances
            .iter()
            .map(|((p, _), i)| (p.as_str(), i))
            .collect();
        rows.sort_by(|a, b| (a.0, &a.1.instance_type).cmp(&(b.0, &b.1.instance_type)));
        rows
    }

    /// Every burstable type as (provider, instance type, baseline percent), sorted.
    pub fn burstable_rows(&self) -> Vec<(&str, &str, f64)> {
        let mut rows: Vec<_> = self
            .burstable
            .iter()
            .map(|((p, t), b)| (p.as_str(), t.as_str(), *b))
            .collect();
        rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        rows
    }

    /// Baseline CPU utilisation of a burstable type, in percent.
    pub fn burstable_baseline(&self, provider: &str, instance_type: &str) -> Option<f64> {
        self.burstable.get(&key(provider, instance_type)).copied()
    }

    /// The burstable instance types of a provider.
    pub fn burstable_types(&self, provider: &str) -> impl Iterator<Item = &str> {
        self.burstable
            .keys()
            .filter(move |(p, _)| p == provider)
            .map(|(_, t)| t.as_str())
    }
}
