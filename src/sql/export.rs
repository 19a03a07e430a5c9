//! `carbonledger factors export`: the factor set, the classification lists and the per-instance
//! factors the estimator derives from them, as tables (CSV or Parquet) to upload next to a
//! billing export so that the SQL view of [`super`] can join them.
//!
//! Units are those of the factor files (`factors/README.md`): watts per vCPU or GPU, kWh per
//! vCPU-hour, GPU-hour, GB-hour (memory) and GB (network), Wh per TB-hour (storage), kg CO2e per
//! kWh (grid), kg CO2e per platform, per instance-hour or per vCPU-hour (embodied).
//!
//! Two kinds of table:
//! * **copies** of the set's tables, one row per value the Rust loader keeps (`pue`,
//!   `grid_location`, `grid_market` with one row per provider, region and year: where a file
//!   repeats a year, the row the loader picks; `replication_rules` with one row per pattern;
//!   `cpu_watts`, `gpu_watts`, `instances`, `burstable`, `coefficients`, `set_info`), and the
//!   AWS connector's classification lists and region billing codes (`classification_lists`,
//!   `aws_region_codes`), the GCP connector's lists (in `classification_lists`) and its machine
//!   series' processors (`gcp_series_processors`), all read from the same constants and code
//!   the Rust path uses;
//! * **derived** tables computed by the estimator's own resolver (`estimate::row_factors`) for
//!   both methods: `instance_factors` (watts per vCPU from the processor list with the method's
//!   fallback rule, GPU kWh per GPU-hour, the share of memory above the per-chip threshold and
//!   the embodied basis, per instance type), `cpu_profiles` (watts per vCPU of a billed CPU
//!   architecture or `;`-list, `_fallback` for the provider fallback) and `gpu_profiles` (kWh
//!   per GPU-hour of a named model, `_mean` for the mean the method takes for an unknown one).
//!   Mean, median and chip-count logic is therefore never rewritten in SQL: a factor change reaches
//!   the view by exporting again.

use std::path::Path;

use carbonledger_factors::{FactorSet, RuleMatch};
use carbonledger_usage::UsageClass;
use polars::prelude::*;

use crate::Error;
use crate::estimate::Method;
use crate::estimate::row_factors::{EmbodiedBasis, FactorResolver, RowKey};

/// The file format of exported tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TableFormat {
    Csv,
    Parquet,
}

impl TableFormat {
    fn extension(self) -> &'static str {
        match self {
            TableFormat::Csv => "csv",
            TableFormat::Parquet => "parquet",
        }
    }
}

/// `cpu_profiles` key of the provider fallback (a row with no billed architecture). Not empty:
/// a CSV upload reads an empty cell as null.
pub const CPU_FALLBACK_KEY: &str = carbonledger_factors::FALLBACK_ARCHITECTURE;
/// `gpu_profiles` key of the mean the method takes for a GPU model it cannot name.
pub const GPU_MEAN_KEY: &str = "_mean";

/// The names of the exported tables, in the order they are written.
pub const TABLES: [&str; 16] = [
    "set_info",
    "coefficients",
    "cpu_watts",
    "gpu_watts",
    "pue",
    "grid_location",
    "grid_market",
    "replication_rules",
    "instances",
    "burstable",
    "instance_factors",
    "cpu_profiles",
    "gpu_profiles",
    "classification_lists",
    "aws_region_codes",
    "gcp_series_processors",
];

/// Builds every table of [`TABLES`] from `factors`.
pub fn tables(factors: &FactorSet) -> PolarsResult<Vec<(&'static str, DataFrame)>> {
    Ok(vec![
        ("set_info", set_info(factors)?),
        ("coefficients", coefficients(factors)?),
        ("cpu_watts", cpu_watts(factors)?),
        ("gpu_watts", gpu_watts(factors)?),
        ("pue", year_table(factors.pue_rows(), "pue")?),
        (
            "grid_location",
            year_table(factors.grid_rows(false), "kg_per_kwh")?,
        ),
        (
            "grid_market",
            year_table(factors.grid_rows(true), "kg_per_kwh")?,
        ),
        ("replication_rules", replication(factors)?),
        ("instances", instances(factors)?),
        ("burstable", burstable(factors)?),
        ("instance_factors", instance_factors(factors)?),
        ("cpu_profiles", cpu_profiles(factors)?),
        ("gpu_profiles", gpu_profiles(factors)?),
        ("classification_lists", classification_lists()?),
        ("aws_region_codes", region_codes()?),
        ("gcp_series_processors", series_processors(factors)?),
    ])
}

/// Writes every table to `dir/<table>.<csv|parquet>`; returns the paths written.
pub fn write(factors: &FactorSet, dir: &Path, format: TableFormat) -> Result<Vec<String>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Output {
        path: dir.display().to_string(),
        source,
    })?;
    let built = tables(factors).map_err(Error::polars("building the factor tables"))?;
    let mut written = Vec::with_capacity(built.len());
    for (name, mut df) in built {
        let path = dir.join(format!("{name}.{}", format.extension()));
        let shown = path.display().to_string();
        let file = std::fs::File::create(&path).map_err(|source| Error::Output {
            path: shown.clone(),
            source,
        })?;
        let result = match format {
            TableFormat::Csv => CsvWriter::new(file).include_header(true).finish(&mut df),
            TableFormat::Parquet => ParquetWriter::new(file).finish(&mut df).map(|_| ()),
        };
        result.map_err(Error::polars(format!("writing {shown}")))?;
        written.push(shown);
    }
    Ok(written)
}

fn set_info(f: &FactorSet) -> PolarsResult<DataFrame> {
    df!(
        "name" => [f.meta.name.as_str()],
        "version" => [f.meta.version.as_str()],
        "method" => [f.meta.method.as_str()],
        "label" => [f.label()],
    )
}

fn coefficients(f: &FactorSet) -> PolarsResult<DataFrame> {
    let c = &f.coefficients;
    let rows = [
        ("memory_kwh_per_gb_hour", c.memory_kwh_per_gb_hour),
        ("ssd_wh_per_tb_hour", c.ssd_wh_per_tb_hour),
        ("hdd_wh_per_tb_hour", c.hdd_wh_per_tb_hour),
        ("network_kwh_per_gb", c.network_kwh_per_gb),
        ("cpu_utilization_percent", c.cpu_utilization_percent),
        ("server_lifespan_hours", c.server_lifespan_hours),
        ("aws_glue_vcpus_per_dpu", c.aws_glue_vcpus_per_dpu),
        (
            "aws_aurora_serverless_vcpus_per_acu",
            c.aws_aurora_serverless_vcpus_per_acu,
        ),
        ("gcp_vcpus_per_gke_cluster", c.gcp_vcpus_per_gke_cluster),
        (
            "gcp_vcpus_per_cloud_composer_environment",
            c.gcp_vcpus_per_cloud_composer_environment,
        ),
        ("vcpus_per_physical_chip", c.vcpus_per_physical_chip),
    ];
    df!(
        "name" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "value" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
    )
}

fn cpu_watts(f: &FactorSet) -> PolarsResult<DataFrame> {
    let rows = f.cpu_rows();
    df!(
        "provider" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "architecture" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "min_watts" => rows.iter().map(|r| r.2.min_watts).collect::<Vec<_>>(),
        "max_watts" => rows.iter().map(|r| r.2.max_watts).collect::<Vec<_>>(),
        "gb_per_chip" => rows.iter().map(|r| r.2.gb_per_chip).collect::<Vec<_>>(),
    )
}

fn gpu_watts(f: &FactorSet) -> PolarsResult<DataFrame> {
    let rows = f.gpu_rows();
    df!(
        "provider" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "gpu_model" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "min_watts" => rows.iter().map(|r| r.2.min_watts).collect::<Vec<_>>(),
        "max_watts" => rows.iter().map(|r| r.2.max_watts).collect::<Vec<_>>(),
    )
}

/// One row per provider, region and year; where the loader holds a year twice, the row its
/// year lookup (`pick_year`, which takes the last) returns.
fn year_table(rows: Vec<(&str, &str, i32, f64)>, value: &str) -> PolarsResult<DataFrame> {
    let mut kept: Vec<(&str, &str, i32, f64)> = Vec::with_capacity(rows.len());
    for row in rows {
        match kept.last_mut() {
            Some(last) if (last.0, last.1, last.2) == (row.0, row.1, row.2) => *last = row,
            _ => kept.push(row),
        }
    }
    df!(
        "provider" => kept.iter().map(|r| r.0).collect::<Vec<_>>(),
        "region" => kept.iter().map(|r| r.1).collect::<Vec<_>>(),
        "year" => kept.iter().map(|r| r.2).collect::<Vec<_>>(),
        value => kept.iter().map(|r| r.3).collect::<Vec<_>>(),
    )
}

/// One row per pattern: `match_kind` `regex` (the rule's compiled `\b…\b` pattern, as CCF's
/// `containsAny` builds it), `includes` (substring) or `always` (pattern empty).
fn replication(f: &FactorSet) -> PolarsResult<DataFrame> {
    let (mut provider, mut service, mut order) = (Vec::new(), Vec::new(), Vec::new());
    let (mut kind, mut pattern, mut factor) = (Vec::new(), Vec::new(), Vec::new());
    for (p, s, rule) in f.replication_rules() {
        let patterns: Vec<(&str, String)> = match &rule.rule {
            RuleMatch::ContainsWord(list) => list
                .iter()
                .map(|r| ("regex", r.as_str().to_owned()))
                .collect(),
            RuleMatch::Includes(list) => list.iter().map(|p| ("includes", p.clone())).collect(),
            RuleMatch::Always => vec![("always", String::new())],
        };
        for (k, text) in patterns {
            provider.push(p);
            service.push(s);
            order.push(rule.order);
            kind.push(k);
            pattern.push(text);
            factor.push(rule.factor);
        }
    }
    df!(
        "provider" => provider,
        "service" => service,
        "rule_order" => order,
        "match_kind" => kind,
        "pattern" => pattern,
        "factor" => factor,
    )
}

fn instances(f: &FactorSet) -> PolarsResult<DataFrame> {
    let rows = f.instance_rows();
    df!(
        "provider" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "instance_type" => rows.iter().map(|r| r.1.instance_type.as_str()).collect::<Vec<_>>(),
        "family" => rows.iter().map(|r| r.1.family.as_str()).collect::<Vec<_>>(),
        "vcpus" => rows.iter().map(|r| r.1.vcpus).collect::<Vec<_>>(),
        "memory_gb" => rows.iter().map(|r| r.1.memory_gb).collect::<Vec<_>>(),
        "gpu_count" => rows.iter().map(|r| r.1.gpu_count).collect::<Vec<_>>(),
        "gpu_model" => rows.iter().map(|r| r.1.gpu_model.as_deref()).collect::<Vec<_>>(),
        "processors" => rows.iter().map(|r| r.1.processors.join(";")).collect::<Vec<_>>(),
        "embodied_kgco2e" => rows.iter().map(|r| r.1.embodied_kgco2e).collect::<Vec<_>>(),
        "largest_vcpus" => rows.iter().map(|r| r.1.largest_vcpus).collect::<Vec<_>>(),
        "largest_memory_gb" => rows.iter().map(|r| r.1.largest_memory_gb).collect::<Vec<_>>(),
    )
}

fn burstable(f: &FactorSet) -> PolarsResult<DataFrame> {
    let rows = f.burstable_rows();
    df!(
        "provider" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        "instance_type" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        "baseline_percent" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
    )
}

const METHODS: [Method; 2] = [Method::Default, Method::Ccf];

fn key<'a>(provider: &'a str, class: UsageClass, unit: &'a str) -> RowKey<'a> {
    RowKey {
        provider,
        service: "",
        usage_type: "",
        usage_class: class,
        usage_unit: unit,
        instance_type: None,
        cpu_architecture: None,
        gpu_model: None,
        region: None,
        region_note: None,
        year: 2024,
    }
}

/// `(basis, kg)`: `per_amount` (kg per unit of billed amount), `per_vcpu_hour` or `none`.
fn basis(b: EmbodiedBasis) -> (&'static str, f64) {
    match b {
        EmbodiedBasis::None => ("none", 0.0),
        EmbodiedBasis::PerVcpuHour(kg) => ("per_vcpu_hour", kg),
        EmbodiedBasis::PerUsageAmount(kg) => ("per_amount", kg),
    }
}

/// Per method and instance type, what the resolver derives from the instance alone. The
/// embodied basis is given for an hour unit (`Hrs`: AWS instance-hours) and for any other unit
/// (taken with `vCPU-Hours`), as the resolver tells them apart for AWS.
fn instance_factors(f: &FactorSet) -> PolarsResult<DataFrame> {
    let mut c: InstanceCols = Default::default();
    for method in METHODS {
        let resolver = FactorResolver { factors: f, method };
        for (provider, instance) in f.instance_rows() {
            let t = Some(instance.instance_type.as_str());
            let hours = resolver.resolve(&RowKey {
                instance_type: t,
                ..key(provider, UsageClass::Compute, "Hrs")
            });
            let other = resolver.resolve(&RowKey {
                instance_type: t,
                ..key(provider, UsageClass::Compute, "vCPU-Hours")
            });
            let gpu = resolver.resolve(&RowKey {
                instance_type: t,
                ..key(provider, UsageClass::Gpu, "seconds")
            });
            c.provider.push(provider.to_owned());
            c.method.push(method.as_str());
            c.instance_type.push(instance.instance_type.clone());
            c.watts.push(hours.watts_per_vcpu);
            c.kwh_vcpu.push(hours.kwh_per_vcpu_hour);
            c.kwh_gpu.push(hours.kwh_per_gpu_hour);
            c.kwh_gpu_gpu_class.push(gpu.kwh_per_gpu_hour);
            c.memory_fraction.push(hours.memory_fraction);
            let (b, kg) = basis(hours.embodied);
            c.basis_hours.push(b);
            c.kg_hours.push(kg);
            let (b, kg) = basis(other.embodied);
            c.basis_other.push(b);
            c.kg_other.push(kg);
        }
    }
    df!(
        "provider" => c.provider,
        "method" => c.method,
        "instance_type" => c.instance_type,
        "watts_per_vcpu" => c.watts,
        "kwh_per_vcpu_hour" => c.kwh_vcpu,
        "kwh_per_gpu_hour" => c.kwh_gpu,
        "gpu_row_kwh_per_gpu_hour" => c.kwh_gpu_gpu_class,
        "memory_fraction" => c.memory_fraction,
        "embodied_basis_hours" => c.basis_hours,
        "embodied_kg_hours" => c.kg_hours,
        "embodied_basis_other" => c.basis_other,
        "embodied_kg_other" => c.kg_other,
    )
}

#[derive(Default)]
struct InstanceCols {
    provider: Vec<String>,
    method: Vec<&'static str>,
    instance_type: Vec<String>,
    watts: Vec<f64>,
    kwh_vcpu: Vec<f64>,
    kwh_gpu: Vec<f64>,
    kwh_gpu_gpu_class: Vec<f64>,
    memory_fraction: Vec<f64>,
    basis_hours: Vec<&'static str>,
    kg_hours: Vec<f64>,
    basis_other: Vec<&'static str>,
    kg_other: Vec<f64>,
}

fn providers(f: &FactorSet) -> Vec<String> {
    let mut p: Vec<String> = f.cpu_rows().iter().map(|r| r.0.to_owned()).collect();
    p.extend(f.instance_rows().iter().map(|r| r.0.to_owned()));
    p.extend(f.gpu_rows().iter().map(|r| r.0.to_owned()));
    p.sort();
    p.dedup();
    p
}

/// Per method, provider and billed CPU architecture (a single name of `cpu_watts`, a
/// `;`-separated processor list of `instances`, or [`CPU_FALLBACK_KEY`] for none): the watts
/// per vCPU the resolver takes for a row without a listed instance.
fn cpu_profiles(f: &FactorSet) -> PolarsResult<DataFrame> {
    let (mut provider, mut method, mut arch, mut watts, mut kwh) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for m in METHODS {
        let resolver = FactorResolver {
            factors: f,
            method: m,
        };
        for p in providers(f) {
            let mut names: Vec<String> = vec![CPU_FALLBACK_KEY.to_owned()];
            names.extend(
                f.cpu_rows()
                    .iter()
                    .filter(|r| r.0 == p)
                    .map(|r| r.1.to_owned()),
            );
            names.extend(
                f.instance_rows()
                    .iter()
                    .filter(|r| r.0 == p && !r.1.processors.is_empty())
                    .map(|r| r.1.processors.join(";")),
            );
            if p == carbonledger_gcp::PROVIDER {
                names.extend(
                    carbonledger_gcp::series_processors(f)
                        .into_iter()
                        .map(|r| r.1),
                );
            }
            names.sort();
            names.dedup();
            for name in names {
                let r = resolver.resolve(&RowKey {
                    cpu_architecture: (name != CPU_FALLBACK_KEY).then_some(name.as_str()),
                    ..key(&p, UsageClass::Compute, "seconds")
                });
                provider.push(p.clone());
                method.push(m.as_str());
                watts.push(r.watts_per_vcpu);
                kwh.push(r.kwh_per_vcpu_hour);
                arch.push(name);
            }
        }
    }
    df!(
        "provider" => provider,
        "method" => method,
        "cpu_architecture" => arch,
        "watts_per_vcpu" => watts,
        "kwh_per_vcpu_hour" => kwh,
    )
}

/// Per method, provider and GPU model ([`GPU_MEAN_KEY`] for a GPU row whose model the bill
/// does not name or the set does not list): kWh per GPU-hour, before PUE and replication.
fn gpu_profiles(f: &FactorSet) -> PolarsResult<DataFrame> {
    let (mut provider, mut method, mut model, mut kwh) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for m in METHODS {
        let resolver = FactorResolver {
            factors: f,
            method: m,
        };
        for p in providers(f) {
            let mut names: Vec<String> = vec![GPU_MEAN_KEY.to_owned()];
            names.extend(
                f.gpu_rows()
                    .iter()
                    .filter(|r| r.0 == p)
                    .map(|r| r.1.to_owned()),
            );
            for name in names {
                let r = resolver.resolve(&RowKey {
                    gpu_model: (name != GPU_MEAN_KEY).then_some(name.as_str()),
                    ..key(&p, UsageClass::Gpu, "seconds")
                });
                provider.push(p.clone());
                method.push(m.as_str());
                kwh.push(r.kwh_per_gpu_hour);
                model.push(name);
            }
        }
    }
    df!(
        "provider" => provider,
        "method" => method,
        "gpu_model" => model,
        "kwh_per_gpu_hour" => kwh,
    )
}

/// The connectors' classification lists: `provider`, `list`, `seq` (the list's order, which
/// decides the first match), `entry`.
fn classification_lists() -> PolarsResult<DataFrame> {
    let (mut provider, mut list, mut seq, mut entry) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut push = |p: &'static str, name: &'static str, items: Vec<String>| {
        for (i, item) in items.into_iter().enumerate() {
            provider.push(p);
            list.push(name);
            seq.push(i as i64);
            entry.push(item);
        }
    };
    let own = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    for (name, items) in carbonledger_aws::classification_lists() {
        push("aws", name, own(items));
    }
    push(
        "aws",
        "vcpu_hour_usage_types",
        own(carbonledger_aws::vcpu_hour_usage_types()),
    );
    for (name, items) in carbonledger_gcp::classification_lists() {
        push("gcp", name, items);
    }
    df!("provider" => provider, "list" => list, "seq" => seq, "entry" => entry)
}

/// GCP machine series → the `;`-separated architectures the classifier gives a row of that
/// series whose machine type the set does not list (`--method default`).
fn series_processors(f: &FactorSet) -> PolarsResult<DataFrame> {
    let rows = carbonledger_gcp::series_processors(f);
    df!(
        "series" => rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        "cpu_architecture" => rows.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
    )
}

fn region_codes() -> PolarsResult<DataFrame> {
    let codes = carbonledger_aws::billing_codes();
    df!(
        "code" => codes.iter().map(|c| c.0).collect::<Vec<_>>(),
        "region" => codes.iter().map(|c| c.1).collect::<Vec<_>>(),
    )
}
