//! Parsing a factor set from its data files, embedded or from a folder.

use std::collections::HashMap;
use std::path::Path;

use regex::Regex;
use serde::Deserialize;

use crate::tables::*;

/// A factor file that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    #[error("factor set `{0}` is not embedded (known: ccf, default)")]
    UnknownSet(String),
    #[error("{file}: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}, line {line}: {message}")]
    Invalid {
        file: String,
        line: u64,
        message: String,
    },
}

macro_rules! embed_set {
    ($dir:literal) => {
        [
            ("set.toml", include_str!(concat!("../", $dir, "/set.toml"))),
            (
                "coefficients.csv",
                include_str!(concat!("../", $dir, "/coefficients.csv")),
            ),
            (
                "cpu_watts.csv",
                include_str!(concat!("../", $dir, "/cpu_watts.csv")),
            ),
            (
                "gpu_watts.csv",
                include_str!(concat!("../", $dir, "/gpu_watts.csv")),
            ),
            ("pue.csv", include_str!(concat!("../", $dir, "/pue.csv"))),
            (
                "grid_location.csv",
                include_str!(concat!("../", $dir, "/grid_location.csv")),
            ),
            (
                "grid_market.csv",
                include_str!(concat!("../", $dir, "/grid_market.csv")),
            ),
            (
                "replication.csv",
                include_str!(concat!("../", $dir, "/replication.csv")),
            ),
            (
                "instances.csv",
                include_str!(concat!("../", $dir, "/instances.csv")),
            ),
            (
                "burstable.csv",
                include_str!(concat!("../", $dir, "/burstable.csv")),
            ),
        ]
    };
}

const EMBEDDED_CCF: [(&str, &str); 10] = embed_set!("ccf");
const EMBEDDED_DEFAULT: [(&str, &str); 10] = embed_set!("default");

/// The names of the sets compiled into the binary.
pub fn embedded_set_names() -> [&'static str; 2] {
    ["ccf", "default"]
}

impl FactorSet {
    /// One of the sets compiled into the binary: `ccf` or `default`.
    pub fn embedded(name: &str) -> Result<FactorSet, FactorError> {
        let files = match name {
            "ccf" => &EMBEDDED_CCF,
            "default" => &EMBEDDED_DEFAULT,
            other => return Err(FactorError::UnknownSet(other.to_owned())),
        };
        let origin = format!("embedded factor set `{name}`");
        parse_set(&origin, |file| {
            let found = files
                .iter()
                .find(|(n, _)| *n == file)
                .map(|(_, text)| *text);
            Ok(found.unwrap_or_default().to_owned())
        })
    }

    /// A set laid out like `factors/default/` in a folder of the user's.
    pub fn from_dir(dir: &Path) -> Result<FactorSet, FactorError> {
        parse_set(&dir.display().to_string(), |file| {
            let path = dir.join(file);
            std::fs::read_to_string(&path).map_err(|source| FactorError::Read {
                file: path.display().to_string(),
                source,
            })
        })
    }
}

fn parse_set(
    origin: &str,
    read: impl Fn(&str) -> Result<String, FactorError>,
) -> Result<FactorSet, FactorError> {
    let name = |file: &str| format!("{origin}/{file}");
    let meta_text = read("set.toml")?;
    let meta: SetMeta = toml::from_str(&meta_text).map_err(|e| FactorError::Invalid {
        file: name("set.toml"),
        line: 1,
        message: e.to_string(),
    })?;
    let coefficients = parse_coefficients(&name("coefficients.csv"), &read("coefficients.csv")?)?;
    let assumptions =
        rows::<CoefficientRow>(&name("coefficients.csv"), &read("coefficients.csv")?)?
            .into_iter()
            .map(|(_, r)| crate::Assumption {
                name: r.name,
                value: r.value,
                unit: r.unit.unwrap_or_default(),
            })
            .collect();

    let mut cpu = HashMap::new();
    let cpu_text = read("cpu_watts.csv")?;
    check_rows(&name("cpu_watts.csv"), &cpu_text, 2)?;
    for (_, row) in rows::<CpuRow>(&name("cpu_watts.csv"), &cpu_text)? {
        let watts = CpuWatts {
            min_watts: row.min_watts,
            max_watts: row.max_watts,
            gb_per_chip: row.gb_per_chip,
        };
        cpu.insert((row.provider, row.architecture), watts);
    }
    let mut gpu = HashMap::new();
    let gpu_text = read("gpu_watts.csv")?;
    check_rows(&name("gpu_watts.csv"), &gpu_text, 2)?;
    for (_, row) in rows::<GpuRow>(&name("gpu_watts.csv"), &gpu_text)? {
        let watts = GpuWatts {
            min_watts: row.min_watts,
            max_watts: row.max_watts,
        };
        gpu.insert((row.provider, row.gpu_model), watts);
    }
    let mut pue: HashMap<_, Vec<(i32, f64)>> = HashMap::new();
    for (_, row) in rows::<PueRow>(&name("pue.csv"), &read("pue.csv")?)? {
        pue.entry((row.provider, row.region))
            .or_default()
            .push((row.year, row.pue));
    }
    let grid_location = parse_grid(&name("grid_location.csv"), &read("grid_location.csv")?)?;
    let grid_market = parse_grid(&name("grid_market.csv"), &read("grid_market.csv")?)?;
    let replication = parse_replication(&name("replication.csv"), &read("replication.csv")?)?;
    let instances_text = read("instances.csv")?;
    check_rows(&name("instances.csv"), &instances_text, 2)?;
    let instances = parse_instances(&name("instances.csv"), &instances_text)?;
    let mut burstable = HashMap::new();
    let burstable_text = read("burstable.csv")?;
    check_rows(&name("burstable.csv"), &burstable_text, 2)?;
    for (_, row) in rows::<BurstableRow>(&name("burstable.csv"), &burstable_text)? {
        burstable.insert((row.provider, row.instance_type), row.baseline_percent);
    }
    let mut provenance = Vec::new();
    for file in DATA_FILES {
        provenance.push(crate::provenance::summarise(file, origin, &read(file)?)?);
    }

    let mut set = FactorSet {
        meta,
        coefficients,
        assumptions,
        cpu,
        gpu,
        pue,
        grid_location,
        grid_market,
        replication,
        instances,
        burstable,
        provenance,
    };
    for rows in set.pue.values_mut() {
        rows.sort_by_key(|(year, _)| *year);
    }
    Ok(set)
}

/// A set's data files (besides `set.toml`), in the order provenance lists them.
const DATA_FILES: [&str; 9] = [
    "coefficients.csv",
    "cpu_watts.csv",
    "gpu_watts.csv",
    "pue.csv",
    "grid_location.csv",
    "grid_market.csv",
    "replication.csv",
    "instances.csv",
    "burstable.csv",
];

/// The columns every factor row must fill: where the number comes from, its year, its licence.
const PROVENANCE: [&str; 3] = ["source", "year", "licence"];

/// Fails unless the file has the provenance columns and every row fills them, and unless
/// every row's key (the columns before the first value column, `key_columns`) is unique.
fn check_rows(file: &str, text: &str, key_columns: usize) -> Result<(), FactorError> {
    let invalid = |line: u64, message: String| FactorError::Invalid {
        file: file.to_owned(),
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| invalid(1, e.to_string()))?
        .clone();
    let mut at = Vec::new();
    for name in PROVENANCE {
        match header.iter().position(|h| h == name) {
            Some(i) => at.push((name, i)),
            None => {
                return Err(invalid(
                    1,
                    format!("no `{name}` column: every factor names its source, year and licence"),
                ));
            }
        }
    }
    let mut keys = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| invalid(line, e.to_string()))?;
        for (name, k) in &at {
            if record.get(*k).is_none_or(str::is_empty) {
                return Err(invalid(line, format!("the `{name}` column is empty")));
            }
        }
        if key_columns > 0 {
            let key: Vec<&str> = record.iter().take(key_columns).collect();
            if let Some(first) = keys.insert(key.join("\u{1f}"), line) {
                return Err(invalid(
                    line,
                    format!(
                        "duplicate row: {} is already on line {first}",
                        key.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Deserialises every row, with its 1-based line number (the header is line 1).
fn rows<T: for<'de> Deserialize<'de>>(
    file: &str,
    text: &str,
) -> Result<Vec<(u64, T)>, FactorError> {
    check_rows(file, text, 0)?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for record in reader.deserialize::<T>() {
        let row = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            FactorError::Invalid {
                file: file.to_owned(),
                line,
                message: e.to_string(),
            }
        })?;
        out.push((out.len() as u64 + 2, row));
    }
    if out.is_empty() && text.trim().is_empty() {
        return Err(FactorError::Invalid {
            file: file.to_owned(),
            line: 1,
            message: "file is empty (a header row is required)".into(),
        });
    }
    Ok(out)
}

#[derive(Deserialize)]
struct CoefficientRow {
    name: String,
    value: f64,
    /// Optional so that a set without the column still loads; the embedded sets have it.
    #[serde(default)]
    unit: Option<String>,
}

#[derive(Deserialize)]
struct CpuRow {
    provider: String,
    architecture: String,
    min_watts: f64,
    max_watts: f64,
    gb_per_chip: Option<f64>,
}

#[derive(Deserialize)]
struct GpuRow {
    provider: String,
    gpu_model: String,
    min_watts: f64,
    max_watts: f64,
}

#[derive(Deserialize)]
struct PueRow {
    provider: String,
    region: String,
    pue: f64,
    year: i32,
}

#[derive(Deserialize)]
struct GridRow {
    provider: String,
    region: String,
    year: i32,
    kgco2e_per_kwh: f64,
    source: String,
}

#[derive(Deserialize)]
struct ReplicationRow {
    provider: String,
    service: String,
    order: i64,
    #[serde(rename = "match")]
    match_kind: String,
    patterns: String,
    factor: f64,
}

#[derive(Deserialize)]
struct InstanceRow {
    provider: String,
    instance_type: String,
    family: String,
    vcpus: f64,
    memory_gb: Option<f64>,
    gpu_count: Option<f64>,
    gpu_model: Option<String>,
    processors: Option<String>,
    embodied_kgco2e: Option<f64>,
    is_family_largest: Option<bool>,
}

#[derive(Deserialize)]
struct BurstableRow {
    provider: String,
    instance_type: String,
    baseline_percent: f64,
}

fn parse_coefficients(file: &str, text: &str) -> Result<Coefficients, FactorError> {
    let values: HashMap<String, f64> = rows::<CoefficientRow>(file, text)?
        .into_iter()
        .map(|(_, r)| (r.name, r.value))
        .collect();
    let get = |name: &str| {
        values
            .get(name)
            .copied()
            .ok_or_else(|| FactorError::Invalid {
                file: file.to_owned(),
                line: 1,
                message: format!("required coefficient `{name}` is missing"),
            })
    };
    Ok(Coefficients {
        memory_kwh_per_gb_hour: get("memory_kwh_per_gb_hour")?,
        ssd_wh_per_tb_hour: get("ssd_wh_per_tb_hour")?,
        hdd_wh_per_tb_hour: get("hdd_wh_per_tb_hour")?,
        network_kwh_per_gb: get("network_kwh_per_gb")?,
        cpu_utilization_percent: get("cpu_utilization_percent")?,
        server_lifespan_hours: get("server_lifespan_hours")?,
        aws_glue_vcpus_per_dpu: get("aws_glue_vcpus_per_dpu")?,
        aws_aurora_serverless_vcpus_per_acu: get("aws_aurora_serverless_vcpus_per_acu")?,
        gcp_vcpus_per_gke_cluster: get("gcp_vcpus_per_gke_cluster")?,
        gcp_vcpus_per_cloud_composer_environment: get("gcp_vcpus_per_cloud_composer_environment")?,
        vcpus_per_physical_chip: get("vcpus_per_physical_chip")?,
    })
}

type GridTable = HashMap<(String, String), Vec<(i32, GridFactor)>>;

fn parse_grid(file: &str, text: &str) -> Result<GridTable, FactorError> {
    let mut table: GridTable = HashMap::new();
    for (line, row) in rows::<GridRow>(file, text)? {
        if !(0.0..10.0).contains(&row.kgco2e_per_kwh) {
            return Err(FactorError::Invalid {
                file: file.to_owned(),
                line,
                message: format!(
                    "{} kg CO2e/kWh is not a plausible grid factor",
                    row.kgco2e_per_kwh
                ),
            });
        }
        let factor = GridFactor {
            kg_per_kwh: row.kgco2e_per_kwh,
            year: row.year,
            source: row.source,
        };
        table
            .entry((row.provider, row.region.to_lowercase()))
            .or_default()
            .push((row.year, factor));
    }
    for rows in table.values_mut() {
        rows.sort_by_key(|(year, _)| *year);
    }
    Ok(table)
}

fn parse_replication(
    file: &str,
    text: &str,
) -> Result<HashMap<(String, String), Vec<ReplicationRule>>, FactorError> {
    let mut table: HashMap<_, Vec<ReplicationRule>> = HashMap::new();
    for (line, row) in rows::<ReplicationRow>(file, text)? {
        let patterns = row
            .patterns
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty());
        let rule = match row.match_kind.as_str() {
            "contains_word" => {
                let compiled: Result<Vec<_>, _> =
                    patterns.map(|p| Regex::new(&format!(r"\b{p}\b"))).collect();
                RuleMatch::ContainsWord(compiled.map_err(|e| FactorError::Invalid {
                    file: file.to_owned(),
                    line,
                    message: e.to_string(),
                })?)
            }
            "includes" => RuleMatch::Includes(patterns.map(str::to_owned).collect()),
            "always" => RuleMatch::Always,
            other => {
                return Err(FactorError::Invalid {
                    file: file.to_owned(),
                    line,
                    message: format!("unknown match `{other}` (contains_word, includes, always)"),
                });
            }
        };
        let rule = ReplicationRule {
            order: row.order,
            rule,
            factor: row.factor,
        };
        table
            .entry((row.provider, row.service))
            .or_default()
            .push(rule);
    }
    for rules in table.values_mut() {
        rules.sort_by_key(|r| r.order);
    }
    Ok(table)
}

fn parse_instances(
    file: &str,
    text: &str,
) -> Result<HashMap<(String, String), Instance>, FactorError> {
    let parsed = rows::<InstanceRow>(file, text)?;
    // The largest type per family: the flagged row, else the one with the most vCPUs.
    let mut largest: HashMap<(String, String), (f64, f64, bool)> = HashMap::new();
    for (_, row) in &parsed {
        let flagged = row.is_family_largest.unwrap_or(false);
        let memory = row.memory_gb.unwrap_or(0.0);
        let entry = largest
            .entry((row.provider.clone(), row.family.clone()))
            .or_insert((row.vcpus, memory, flagged));
        let better = (flagged && !entry.2) || (flagged == entry.2 && row.vcpus > entry.0);
        if better {
            *entry = (row.vcpus, memory, flagged);
        }
    }
    let mut table = HashMap::with_capacity(parsed.len());
    for (_, row) in parsed {
        let (largest_vcpus, largest_memory_gb, _) =
            largest[&(row.provider.clone(), row.family.clone())];
        let processors = row
            .processors
            .as_deref()
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        let instance = Instance {
            instance_type: row.instance_type.clone(),
            family: row.family,
            vcpus: row.vcpus,
            memory_gb: row.memory_gb.unwrap_or(0.0),
            gpu_count: row.gpu_count.unwrap_or(0.0),
            accelerators_unknown: row.gpu_count.is_none(),
            gpu_model: row.gpu_model.filter(|m| !m.is_empty()),
            processors,
            embodied_kgco2e: row.embodied_kgco2e,
            largest_vcpus,
            largest_memory_gb,
        };
        table.insert((row.provider, row.instance_type), instance);
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_embedded_sets_load() {
        for name in embedded_set_names() {
            let set = FactorSet::embedded(name).unwrap();
            assert_eq!(set.meta.name, name);
            for provider in ["aws", "gcp", "azure"] {
                assert!(
                    set.cpu_fallback(provider).is_some(),
                    "{name}: no {provider} fallback"
                );
                assert!(
                    set.pue(provider, None, 2024).is_some(),
                    "{name}: no {provider} PUE"
                );
                assert!(set.grid_location_unknown(provider, 2024).is_some());
            }
        }
        assert!(matches!(
            FactorSet::embedded("x"),
            Err(FactorError::UnknownSet(_))
        ));
    }

    #[test]
    fn malformed_rows_name_file_and_line() {
        let text = "provider,gpu_model,min_watts,max_watts,source,year,licence\n\
                    aws,T4,8,71,s,2020,MIT\naws,V100,idle,306,s,2020,MIT\n";
        let err = rows::<GpuRow>("gpu_watts.csv", text)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("gpu_watts.csv, line 3:"), "{err}");
    }

    #[test]
    fn every_row_names_its_source_year_and_licence() {
        let no_licence = "provider,gpu_model,min_watts,max_watts,source,year\naws,T4,8,71,s,2020\n";
        let err = rows::<GpuRow>("gpu_watts.csv", no_licence)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("no `licence` column"),
            "{err}"
        );
        let empty_source = "provider,gpu_model,min_watts,max_watts,source,year,licence\n\
                            aws,T4,8,71,s,2020,MIT\naws,V100,35,306,,2020,MIT\n";
        let err = rows::<GpuRow>("gpu_watts.csv", empty_source)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("line 3") && err.contains("`source` column is empty"),
            "{err}"
        );
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let text = "provider,gpu_model,min_watts,max_watts,source,year,licence\n\
                    aws,T4,8,71,s,2020,MIT\naws,T4,9,70,t,2021,MIT\n";
        let err = check_rows("gpu_watts.csv", text, 2)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("line 3") && err.contains("already on line 2"),
            "{err}"
        );
    }
}
