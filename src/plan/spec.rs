//! The plan file: a TOML description of a training run or an inference service.
//!
//! Strict: an unknown key, a key of the other kind, a missing key or a bad value (negative
//! hours, utilisation above 100 %, …) is an [`Error::Plan`] naming the file, line and column,
//! which the binary maps to exit code 2. Units are in the key names: hours, percent, requests per
//! day and per second, kWh, years; prices per instance-hour (per GPU-hour for bare-GPU plans).
//!
//! ```toml
//! kind = "training"                 # or "inference"
//! name = "ResNet-50 / ImageNet"     # optional, shown in reports
//! provider = "aws"                  # aws, gcp, azure
//! region = "us-east-1"
//! year = 2024                       # factor year (grid, PUE); default the current year (UTC)
//! instance_type = "p3.16xlarge"     # or gpu_model + gpu_count without an instance type
//! utilization_percent = 100         # GPUs (and CPUs unless cpu_utilization_percent)
//! hours = 5                         # or epochs × hours_per_epoch
//! hourly_price = 24.48              # per instance-hour; else the ledger's rate
//! currency = "USD"
//! ```
//!
//! Training keys: `hours` or `epochs` + `hours_per_epoch`, `instances` (nodes, default 1),
//! `measured_kwh` (replaces the computed energy) and `measured_kwh_includes_pue` (default
//! false: the measurement is taken at the machines, so PUE is applied to it). Inference keys:
//! `requests_per_day`, `throughput_per_replica` (requests per second one replica serves at full
//! load), `replicas`, `hours_per_day`, `years` (of service) and `requests_per_unit` (R, default
//! 1000). An inference plan without `utilization_percent` runs at the load its requests put on
//! its replicas: `requests_per_day / (replicas × throughput × 3600 × hours_per_day)`.
//!
//! With `instance_type`, `gpu_model` + `gpu_count` add accelerators to a host the instance table
//! lists without GPUs (GCP N1 machines with attached V100s); an instance type that already has
//! GPUs refuses them. Without `instance_type` the plan is bare GPUs: only GPU energy, no host
//! CPU or memory and no embodied emissions (the factor tables hold embodied figures per server
//! platform, not per card) — a known undercount, said in the report's assumptions.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::Error;

/// What the plan describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanKind {
    Training,
    Inference,
}

impl PlanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Training => "training",
            PlanKind::Inference => "inference",
        }
    }
}

/// A 1-based line and column in the plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A value with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct At<T> {
    pub value: T,
    pub pos: Pos,
}

/// The machines a plan runs on.
#[derive(Debug, Clone, PartialEq)]
pub struct Hardware {
    /// The instance, machine or VM type (`instances.csv`), if any.
    pub instance_type: Option<At<String>>,
    /// A GPU model (`gpu_watts.csv`, as named there or by its last word, `V100`) and count per
    /// instance, node or replica: GPUs added to the host, or (bare GPUs) the whole machine.
    pub gpus: Option<(At<String>, f64)>,
}

/// What runs and for how long.
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    Training {
        /// Wall-clock hours of the run.
        hours: f64,
        /// `(epochs, hours per epoch)` when the hours were given that way.
        epochs: Option<(f64, f64)>,
        /// Instances (nodes) running in parallel.
        instances: f64,
        /// Measured energy of the whole run, kWh.
        measured_kwh: Option<f64>,
        /// Whether `measured_kwh` already includes the data centre's overhead (PUE).
        measured_includes_pue: bool,
    },
    Inference {
        requests_per_day: f64,
        /// Requests per second one replica serves at full load.
        throughput_per_replica: f64,
        replicas: f64,
        hours_per_day: f64,
        /// Years of service.
        years: f64,
        /// Requests per functional unit R.
        requests_per_unit: f64,
    },
}

/// A checked plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The file, as the user named it.
    pub file: String,
    pub name: String,
    pub kind: PlanKind,
    pub provider: String,
    pub region: At<String>,
    /// The factor year (grid factor, PUE).
    pub year: i32,
    pub hardware: Hardware,
    /// GPU (and CPU) utilisation, percent; `None`: the inference load, else the factor set's.
    pub utilization_percent: Option<f64>,
    /// CPU utilisation, percent, when it differs from the GPUs'.
    pub cpu_utilization_percent: Option<f64>,
    /// Price per instance-hour (per GPU-hour for bare GPUs).
    pub hourly_price: Option<f64>,
    pub currency: Option<String>,
    pub workload: Workload,
    /// The plan's quantities (`hours`, `replicas`, `requests_per_day`, …) as written, with
    /// where: a figure that overflows is reported at the largest of them.
    pub quantities: Vec<(&'static str, At<f64>)>,
}

impl Plan {
    /// `file:line:column: message` for a value of this plan.
    pub fn error_at(&self, pos: Pos, message: impl std::fmt::Display) -> Error {
        Error::Plan(format!(
            "{}:{}:{}: {message}",
            self.file, pos.line, pos.column
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    kind: Spanned<String>,
    name: Option<String>,
    provider: Spanned<String>,
    region: Spanned<String>,
    year: Option<Spanned<i64>>,
    instance_type: Option<Spanned<String>>,
    gpu_model: Option<Spanned<String>>,
    gpu_count: Option<Spanned<i64>>,
    utilization_percent: Option<Spanned<f64>>,
    cpu_utilization_percent: Option<Spanned<f64>>,
    hourly_price: Option<Spanned<f64>>,
    currency: Option<Spanned<String>>,
    hours: Option<Spanned<f64>>,
    epochs: Option<Spanned<f64>>,
    hours_per_epoch: Option<Spanned<f64>>,
    instances: Option<Spanned<i64>>,
    measured_kwh: Option<Spanned<f64>>,
    measured_kwh_includes_pue: Option<Spanned<bool>>,
    requests_per_day: Option<Spanned<f64>>,
    throughput_per_replica: Option<Spanned<f64>>,
    replicas: Option<Spanned<i64>>,
    hours_per_day: Option<Spanned<f64>>,
    years: Option<Spanned<f64>>,
    requests_per_unit: Option<Spanned<f64>>,
}

/// Reads and checks a plan file; `this_year` is the default factor year.
pub fn load(file: &Path, this_year: i32) -> Result<Plan, Error> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Plan(format!("{shown}: cannot read the plan file: {e}")))?;
    parse(&shown, &text, this_year)
}

/// Parses and checks the text of a plan file named `shown`.
pub fn parse(shown: &str, text: &str, this_year: i32) -> Result<Plan, Error> {
    let raw: RawPlan = toml::from_str(text).map_err(|e| {
        let message = e.message();
        Error::Plan(match e.span() {
            Some(span) => {
                let p = pos(text, span.start);
                format!("{shown}:{}:{}: {message}", p.line, p.column)
            }
            None => format!("{shown}: {message}"),
        })
    })?;
    Checker { shown, text }.check(raw, this_year)
}

/// 1-based line and column of a byte offset.
fn pos(text: &str, offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    Pos {
        line: before.matches('\n').count() + 1,
        column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
    }
}

struct Checker<'a> {
    shown: &'a str,
    text: &'a str,
}

impl Checker<'_> {
    fn at<T: Clone>(&self, s: &Spanned<T>) -> At<T> {
        At {
            value: s.get_ref().clone(),
            pos: pos(self.text, s.span().start),
        }
    }

    fn err<T>(&self, s: &Spanned<T>, message: impl std::fmt::Display) -> Error {
        let p = pos(self.text, s.span().start);
        Error::Plan(format!("{}:{}:{}: {message}", self.shown, p.line, p.column))
    }

    /// The whole file's position 1:1 for keys that are missing.
    fn missing(&self, key: &str, kind: PlanKind) -> Error {
        let article = match kind {
            PlanKind::Training => "a",
            PlanKind::Inference => "an",
        };
        Error::Plan(format!(
            "{}:1:1: {article} {} plan needs `{key}` (README \"Planning AI workloads\")",
            self.shown,
            kind.as_str()
        ))
    }

    /// A positive, finite number.
    fn positive(&self, key: &str, s: &Spanned<f64>) -> Result<f64, Error> {
        let v = *s.get_ref();
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(self.err(s, format!("`{key}` must be a positive number, not {v}")))
        }
    }

    fn positive_int(&self, key: &str, s: &Spanned<i64>) -> Result<f64, Error> {
        let v = *s.get_ref();
        if v > 0 {
            Ok(v as f64)
        } else {
            Err(self.err(
                s,
                format!("`{key}` must be a positive whole number, not {v}"),
            ))
        }
    }

    fn percent(&self, key: &str, s: &Spanned<f64>) -> Result<f64, Error> {
        let v = *s.get_ref();
        if v.is_finite() && (0.0..=100.0).contains(&v) {
            Ok(v)
        } else {
            Err(self.err(s, format!("`{key}` is a percentage from 0 to 100, not {v}")))
        }
    }

    fn check(&self, raw: RawPlan, this_year: i32) -> Result<Plan, Error> {
        let kind = match raw.kind.get_ref().as_str() {
            "training" => PlanKind::Training,
            "inference" => PlanKind::Inference,
            other => {
                return Err(self.err(
                    &raw.kind,
                    format!("kind = \"{other}\": expected \"training\" or \"inference\""),
                ));
            }
        };
        let provider = match raw.provider.get_ref().as_str() {
            p @ ("aws" | "gcp" | "azure") => p.to_owned(),
            other => {
                return Err(self.err(
                    &raw.provider,
                    format!("provider = \"{other}\": expected \"aws\", \"gcp\" or \"azure\""),
                ));
            }
        };
        let year = match &raw.year {
            Some(y) if (1990..=2100).contains(y.get_ref()) => *y.get_ref() as i32,
            Some(y) => {
                return Err(self.err(y, format!("year {} is not a plausible year", y.get_ref())));
            }
            None => this_year,
        };

        // Keys of the other kind are mistakes, not silently ignored.
        let training_keys = [
            ("hours", raw.hours.as_ref().map(|s| s.span())),
            ("epochs", raw.epochs.as_ref().map(|s| s.span())),
            (
                "hours_per_epoch",
                raw.hours_per_epoch.as_ref().map(|s| s.span()),
            ),
            ("instances", raw.instances.as_ref().map(|s| s.span())),
            ("measured_kwh", raw.measured_kwh.as_ref().map(|s| s.span())),
            (
                "measured_kwh_includes_pue",
                raw.measured_kwh_includes_pue.as_ref().map(|s| s.span()),
            ),
        ];
        let inference_keys = [
            (
                "requests_per_day",
                raw.requests_per_day.as_ref().map(|s| s.span()),
            ),
            (
                "throughput_per_replica",
                raw.throughput_per_replica.as_ref().map(|s| s.span()),
            ),
            ("replicas", raw.replicas.as_ref().map(|s| s.span())),
            (
                "hours_per_day",
                raw.hours_per_day.as_ref().map(|s| s.span()),
            ),
            ("years", raw.years.as_ref().map(|s| s.span())),
            (
                "requests_per_unit",
                raw.requests_per_unit.as_ref().map(|s| s.span()),
            ),
        ];
        let foreign = match kind {
            PlanKind::Training => &inference_keys,
            PlanKind::Inference => &training_keys,
        };
        if let Some((key, Some(span))) = foreign.iter().find(|(_, s)| s.is_some()) {
            let p = pos(self.text, span.start);
            let other = match kind {
                PlanKind::Training => "an inference",
                PlanKind::Inference => "a training",
            };
            return Err(Error::Plan(format!(
                "{}:{}:{}: `{key}` belongs to {other} plan, not a {} one",
                self.shown,
                p.line,
                p.column,
                kind.as_str()
            )));
        }

        let gpus = match (&raw.gpu_model, &raw.gpu_count) {
            (Some(model), Some(count)) => {
                Some((self.at(model), self.positive_int("gpu_count", count)?))
            }
            (Some(model), None) if raw.instance_type.is_none() => {
                return Err(self.err(model, "a bare-GPU plan needs `gpu_count`"));
            }
            (Some(model), None) => Some((self.at(model), 1.0)),
            (None, Some(count)) => {
                return Err(self.err(count, "`gpu_count` needs `gpu_model`"));
            }
            (None, None) => None,
        };
        if raw.instance_type.is_none() && gpus.is_none() {
            return Err(Error::Plan(format!(
                "{}:1:1: a plan needs `instance_type` or `gpu_model` + `gpu_count`",
                self.shown
            )));
        }
        let hardware = Hardware {
            instance_type: raw.instance_type.as_ref().map(|s| self.at(s)),
            gpus,
        };

        let utilization_percent = raw
            .utilization_percent
            .as_ref()
            .map(|s| self.percent("utilization_percent", s))
            .transpose()?;
        let cpu_utilization_percent = raw
            .cpu_utilization_percent
            .as_ref()
            .map(|s| self.percent("cpu_utilization_percent", s))
            .transpose()?;
        if let (Some(c), None) = (&raw.cpu_utilization_percent, &raw.instance_type) {
            return Err(self.err(
                c,
                "`cpu_utilization_percent` needs `instance_type`: a bare-GPU plan counts no host \
                 CPU",
            ));
        }
        let hourly_price = match &raw.hourly_price {
            Some(s) if s.get_ref().is_finite() && *s.get_ref() >= 0.0 => Some(*s.get_ref()),
            Some(s) => {
                return Err(self.err(s, "`hourly_price` must be zero or more"));
            }
            None => None,
        };
        let currency = match &raw.currency {
            Some(s) => {
                let c = s.get_ref();
                if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                    Some(c.clone())
                } else {
                    return Err(self.err(s, format!("currency \"{c}\" is not an ISO 4217 code")));
                }
            }
            None => None,
        };
        if let (Some(price), None) = (&raw.hourly_price, &currency) {
            return Err(self.err(
                price,
                "`hourly_price` needs `currency` (\"USD\", \"EUR\", …)",
            ));
        }

        let workload = match kind {
            PlanKind::Training => self.training(&raw)?,
            PlanKind::Inference => self.inference(&raw)?,
        };
        let quantities = self.quantities(&raw);
        Ok(Plan {
            file: self.shown.to_owned(),
            name: raw.name.unwrap_or_else(|| self.shown.to_owned()),
            kind,
            provider,
            region: self.at(&raw.region),
            year,
            hardware,
            utilization_percent,
            cpu_utilization_percent,
            hourly_price,
            currency,
            workload,
            quantities,
        })
    }

    /// Every quantity key the plan gives, with its value and position.
    fn quantities(&self, raw: &RawPlan) -> Vec<(&'static str, At<f64>)> {
        let real = [
            ("hours", &raw.hours),
            ("epochs", &raw.epochs),
            ("hours_per_epoch", &raw.hours_per_epoch),
            ("measured_kwh", &raw.measured_kwh),
            ("requests_per_day", &raw.requests_per_day),
            ("throughput_per_replica", &raw.throughput_per_replica),
            ("hours_per_day", &raw.hours_per_day),
            ("years", &raw.years),
            ("requests_per_unit", &raw.requests_per_unit),
            ("hourly_price", &raw.hourly_price),
        ];
        let whole = [
            ("instances", &raw.instances),
            ("replicas", &raw.replicas),
            ("gpu_count", &raw.gpu_count),
        ];
        let mut out: Vec<(&'static str, At<f64>)> = real
            .into_iter()
            .filter_map(|(k, s)| s.as_ref().map(|s| (k, self.at(s))))
            .collect();
        out.extend(whole.into_iter().filter_map(|(k, s)| {
            s.as_ref().map(|s| {
                let at = self.at(s);
                (
                    k,
                    At {
                        value: at.value as f64,
                        pos: at.pos,
                    },
                )
            })
        }));
        out
    }

    fn training(&self, raw: &RawPlan) -> Result<Workload, Error> {
        let (hours, epochs) = match (&raw.hours, &raw.epochs, &raw.hours_per_epoch) {
            (Some(h), None, None) => (self.positive("hours", h)?, None),
            (None, Some(e), Some(per)) => {
                let e = self.positive("epochs", e)?;
                let per = self.positive("hours_per_epoch", per)?;
                (e * per, Some((e, per)))
            }
            (Some(h), _, _) => {
                return Err(self.err(h, "give `hours` or `epochs` + `hours_per_epoch`, not both"));
            }
            (None, Some(e), None) => return Err(self.err(e, "`epochs` needs `hours_per_epoch`")),
            (None, None, Some(p)) => return Err(self.err(p, "`hours_per_epoch` needs `epochs`")),
            (None, None, None) => return Err(self.missing("hours", PlanKind::Training)),
        };
        let instances = match &raw.instances {
            Some(n) => self.positive_int("instances", n)?,
            None => 1.0,
        };
        let measured_kwh = raw
            .measured_kwh
            .as_ref()
            .map(|s| self.positive("measured_kwh", s))
            .transpose()?;
        let measured_includes_pue = match (&raw.measured_kwh_includes_pue, measured_kwh) {
            (Some(flag), None) => {
                return Err(self.err(flag, "`measured_kwh_includes_pue` needs `measured_kwh`"));
            }
            (Some(flag), Some(_)) => *flag.get_ref(),
            (None, _) => false,
        };
        Ok(Workload::Training {
            hours,
            epochs,
            instances,
            measured_kwh,
            measured_includes_pue,
        })
    }

    fn inference(&self, raw: &RawPlan) -> Result<Workload, Error> {
        let need = |key: &str, s: &Option<Spanned<f64>>| -> Result<f64, Error> {
            match s {
                Some(s) => self.positive(key, s),
                None => Err(self.missing(key, PlanKind::Inference)),
            }
        };
        let requests_per_day = need("requests_per_day", &raw.requests_per_day)?;
        let throughput_per_replica = need("throughput_per_replica", &raw.throughput_per_replica)?;
        let hours_per_day = need("hours_per_day", &raw.hours_per_day)?;
        if let Some(h) = &raw.hours_per_day
            && *h.get_ref() > 24.0
        {
            return Err(self.err(h, "`hours_per_day` cannot be more than 24"));
        }
        let years = need("years", &raw.years)?;
        let replicas = match &raw.replicas {
            Some(n) => self.positive_int("replicas", n)?,
            None => return Err(self.missing("replicas", PlanKind::Inference)),
        };
        let requests_per_unit = match &raw.requests_per_unit {
            Some(s) => self.positive("requests_per_unit", s)?,
            None => 1000.0,
        };
        // The replicas must be able to serve the requests in the hours they run.
        let capacity = replicas * throughput_per_replica * 3600.0 * hours_per_day;
        if requests_per_day > capacity
            && let Some(r) = &raw.requests_per_day
        {
            return Err(self.err(
                r,
                format!(
                    "{requests_per_day} requests a day need more than {replicas} replicas × \
                     {throughput_per_replica} requests/s × {hours_per_day} h can serve \
                     ({capacity} a day)"
                ),
            ));
        }
        Ok(Workload::Inference {
            requests_per_day,
            throughput_per_replica,
            replicas,
            hours_per_day,
            years,
            requests_per_unit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        match parse("p.toml", text, 2026) {
            Err(Error::Plan(m)) => m,
            other => panic!("expected a plan error, got {other:?}"),
        }
    }

    const TRAINING: &str = "kind = \"training\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
                            instance_type = \"p3.16xlarge\"\n";

    #[test]
    fn epochs_times_hours_per_epoch() {
        let text = format!("{TRAINING}epochs = 90\nhours_per_epoch = 0.05\n");
        let plan = parse("p.toml", &text, 2026).unwrap();
        // 90 × 0.05 h = 4.5 h.
        match plan.workload {
            Workload::Training { hours, epochs, .. } => {
                assert!((hours - 4.5).abs() < 1e-12);
                assert_eq!(epochs, Some((90.0, 0.05)));
            }
            _ => panic!("training"),
        }
        assert_eq!(plan.year, 2026);
        assert_eq!(
            plan.region.pos,
            Pos {
                line: 3,
                column: 10
            }
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let m = parse_err(&format!("{TRAINING}hours = 5\ncolour = \"red\"\n"));
        assert!(m.starts_with("p.toml:6:1:"), "{m}");
        assert!(m.contains("colour"), "{m}");
        let m = parse_err(&format!("{TRAINING}hours = -5\n"));
        assert!(m.starts_with("p.toml:5:9:"), "{m}");
        assert!(m.contains("positive"), "{m}");
        let m = parse_err(&format!("{TRAINING}hours = 5\nreplicas = 2\n"));
        assert!(m.starts_with("p.toml:6:12:"), "{m}");
        assert!(m.contains("inference"), "{m}");
        let m = parse_err(&format!("{TRAINING}hours = 5\nutilization_percent = 120\n"));
        assert!(m.starts_with("p.toml:6:23:"), "{m}");
        let m = parse_err(TRAINING);
        assert!(m.contains("`hours`"), "{m}");
        let m = parse_err("kind = \"training\"\nprovider = \"aws\"\nhours = 1\n");
        assert!(m.contains("region"), "{m}");
    }

    #[test]
    fn missing_keys_and_host_less_cpu_utilisation() {
        let m = parse_err(
            "kind = \"inference\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
             instance_type = \"g4dn.xlarge\"\n",
        );
        assert!(m.contains("an inference plan needs"), "{m}");
        // A bare-GPU plan has no host CPU: its CPU utilisation would be silently unused.
        let m = parse_err(
            "kind = \"training\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
             gpu_model = \"T4\"\ngpu_count = 1\nhours = 1\ncpu_utilization_percent = 20\n",
        );
        assert!(m.starts_with("p.toml:7:27:"), "{m}");
    }

    #[test]
    fn quantities_keep_their_positions() {
        let plan = parse(
            "p.toml",
            &format!("{TRAINING}hours = 5\ninstances = 3\n"),
            2026,
        )
        .unwrap();
        let find = |k: &str| {
            plan.quantities
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, a)| a)
        };
        assert_eq!(find("hours").map(|a| (a.value, a.pos.line)), Some((5.0, 5)));
        assert_eq!(
            find("instances").map(|a| (a.value, a.pos.line)),
            Some((3.0, 6))
        );
        assert!(find("epochs").is_none());
    }

    #[test]
    fn inference_needs_enough_replicas() {
        // 2 replicas × 10 requests/s × 3600 s × 24 h = 1,728,000 requests a day at most.
        let base = "kind = \"inference\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
                    instance_type = \"g4dn.xlarge\"\nthroughput_per_replica = 10\nreplicas = 2\n\
                    hours_per_day = 24\nyears = 1\n";
        assert!(
            parse(
                "p.toml",
                &format!("{base}requests_per_day = 1728000\n"),
                2026
            )
            .is_ok()
        );
        let m = parse_err(&format!("{base}requests_per_day = 1728001\n"));
        assert!(m.starts_with("p.toml:9:20:"), "{m}");
    }
}
