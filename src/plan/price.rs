//! The hourly price of a plan: its own `hourly_price`, else the effective rate seen in the
//! ledger `carbonledger run` writes (`--ledger DIR`), else unknown.
//!
//! The ledger rate is cost ÷ hours over the ledger's usage rows of the plan's provider and
//! region (the whole ledger, every month), in the ledger's cost measure (unblended by default:
//! discounts that arrive as separate credit or negation lines are not in it). Per provider:
//!
//! * AWS: on-demand rows only, the compute rows of the instance type with line item type
//!   `Usage` and a `BoxUsage` usage type (Spot, reserved and Savings Plans rows have other
//!   usage or line item types); instance-hours are the billed `Hrs`.
//! * GCP bills a machine in parts, so its rate is the sum of per-hour rates: the cores (compute
//!   rows of the machine type: cost ÷ instance-hours, instance-hours = vCPU-hours ÷ the type's
//!   vCPUs), the RAM (memory rows, which carry no machine type, of the machine series, e.g.
//!   SKUs `N1 … Ram` for `n1-*`: cost per GB-hour × the type's GB) and attached or built-in GPUs
//!   (GPU rows of the GPU model: cost per GPU-hour × GPUs per machine). A part without rows
//!   makes the price unknown, never a partial rate.
//! * Azure: the compute rows of the VM type, every purchase option (a known shortcoming: Spot
//!   and reserved meters are not told apart here).
//!
//! Hours are the billed amount of hour-unit rows (`Hrs`, `Hours`, `hours`, `hour`), else
//! vCPU-hours ÷ the type's vCPUs. A bare-GPU plan takes cost ÷ GPU-hours of the rows naming its
//! GPU model (AWS on-demand instance rows, GCP GPU rows). Rows in several currencies give no
//! rate unless the plan names its `currency`.

use std::path::Path;

use carbonledger_factors::Instance;
use carbonledger_usage::{UsageClass, col as ucol};
use polars::prelude::*;
use serde::Serialize;

use super::spec::Plan;
use crate::Error;
use crate::metrics::scan_ledger;

/// Where a plan's price comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Price {
    /// `hourly_price` in the plan, per instance-hour (per GPU-hour for bare GPUs).
    Plan { per_hour: f64, currency: String },
    /// The ledger's effective rate: the sum of its `parts` per instance-hour (per GPU-hour for
    /// bare GPUs), over `rows` rows.
    Ledger {
        per_hour: f64,
        currency: String,
        rows: u64,
        ledger: String,
        parts: Vec<LedgerPart>,
    },
    /// No price: the cost is unknown, not zero.
    Unknown { reason: String },
}

/// One billed part of a ledger rate (the whole instance, or GCP cores, RAM or GPUs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LedgerPart {
    /// `instance`, `cores`, `RAM`, `GPUs` (bare GPUs: `GPU`).
    pub part: String,
    /// What `hours` counts: `instance-hours`, `GB-hours` or `GPU-hours`.
    pub unit: &'static str,
    /// `cost` ÷ `hours`.
    pub rate: f64,
    /// Units per instance-hour (GB of the type, GPUs per machine; 1 for the instance).
    pub per_instance: f64,
    pub cost: f64,
    pub hours: f64,
    pub rows: u64,
}

impl Price {
    /// One line saying which price was used.
    pub fn describe(&self) -> String {
        match self {
            Price::Plan { per_hour, currency } => {
                format!("{per_hour} {currency} per hour, the plan's hourly_price")
            }
            Price::Ledger {
                per_hour,
                currency,
                ledger,
                parts,
                ..
            } => {
                let shown: Vec<String> = parts
                    .iter()
                    .map(|p| {
                        let each = if p.per_instance == 1.0 {
                            String::new()
                        } else {
                            format!(" × {}", p.per_instance)
                        };
                        format!(
                            "{} {:.4} {currency} per {}{each} ({:.2} {currency} over {:.1} {} \
                             in {} rows)",
                            p.part,
                            p.rate,
                            p.unit.trim_end_matches('s'),
                            p.cost,
                            p.hours,
                            p.unit,
                            p.rows
                        )
                    })
                    .collect();
                format!(
                    "{per_hour:.4} {currency} per hour, the effective rate in ledger {ledger}: {}",
                    shown.join(" + ")
                )
            }
            Price::Unknown { reason } => format!("unknown: {reason}"),
        }
    }
}

/// What a plan prices: an instance type (with GPUs per instance, attached or built in), or bare
/// GPUs of a model.
#[derive(Debug, Clone, Copy)]
pub enum Priced<'a> {
    Instance {
        instance: &'a Instance,
        gpus: Option<(&'a str, f64)>,
    },
    BareGpus {
        model: &'a str,
    },
}

/// One part to find in the ledger.
struct Wanted {
    part: String,
    unit: &'static str,
    per_instance: f64,
    filter: Expr,
    hours: Expr,
}

/// Rows billed per hour: hour-unit amount, else vCPU-hours ÷ `vcpus`.
fn instance_hours(vcpus: f64) -> Expr {
    let unit = col(ucol::USAGE_UNIT);
    let hour_unit = unit
        .clone()
        .eq(lit("Hrs"))
        .or(unit.clone().eq(lit("Hours")))
        .or(unit.clone().eq(lit("hours")))
        .or(unit.eq(lit("hour")));
    when(hour_unit)
        .then(col(ucol::USAGE_AMOUNT))
        .otherwise(col(ucol::VCPU_HOURS) / lit(vcpus.max(1.0)))
}

/// AWS on-demand: line item type `Usage` and a `BoxUsage` usage type.
fn aws_on_demand() -> Expr {
    col(ucol::CHARGE_TYPE).eq(lit("Usage")).and(
        col(ucol::USAGE_TYPE)
            .str()
            .contains_literal(lit("BoxUsage")),
    )
}

/// The parts of `priced` on `provider`, each with its ledger filter (before provider/region).
fn wanted(provider: &str, priced: Priced<'_>) -> Vec<Wanted> {
    let class = |c: UsageClass| col(ucol::USAGE_CLASS).eq(lit(c.as_str()));
    match priced {
        Priced::BareGpus { model } => {
            let mut filter = col(ucol::GPU_MODEL)
                .eq(lit(model.to_owned()))
                .and(col(ucol::GPU_HOURS).gt(lit(0.0)));
            filter = match provider {
                "aws" => filter.and(class(UsageClass::Compute)).and(aws_on_demand()),
                "gcp" => filter.and(class(UsageClass::Gpu)),
                _ => filter.and(class(UsageClass::Compute).or(class(UsageClass::Gpu))),
            };
            vec![Wanted {
                part: format!("{model} GPU"),
                unit: "GPU-hours",
                per_instance: 1.0,
                filter,
                hours: col(ucol::GPU_HOURS),
            }]
        }
        Priced::Instance { instance, gpus } => {
            let own = col(ucol::INSTANCE_TYPE)
                .eq(lit(instance.instance_type.clone()))
                .and(class(UsageClass::Compute));
            if provider != "gcp" {
                let filter = if provider == "aws" {
                    own.and(aws_on_demand())
                } else {
                    own
                };
                return vec![Wanted {
                    part: instance.instance_type.clone(),
                    unit: "instance-hours",
                    per_instance: 1.0,
                    filter,
                    hours: instance_hours(instance.vcpus),
                }];
            }
            let mut parts = vec![Wanted {
                part: format!("{} cores", instance.instance_type),
                unit: "instance-hours",
                per_instance: 1.0,
                filter: own,
                hours: instance_hours(instance.vcpus),
            }];
            // GCP RAM SKUs name the machine series first (`N1 Predefined Instance Ram`). A
            // machine type without memory in the factor set (the ccf set's GCP types) gets a
            // RAM part that matches nothing: the price is unknown, never the cores' alone.
            let series = instance
                .instance_type
                .split('-')
                .next()
                .unwrap_or_default()
                .to_uppercase();
            let known = instance.memory_gb > 0.0;
            let part = if known {
                format!("{series} RAM")
            } else {
                format!(
                    "{series} RAM (the factor set has no memory for {})",
                    instance.instance_type
                )
            };
            parts.push(Wanted {
                part,
                unit: "GB-hours",
                per_instance: instance.memory_gb,
                filter: lit(known).and(class(UsageClass::Memory)).and(
                    col(ucol::USAGE_TYPE)
                        .str()
                        .starts_with(lit(format!("{series} "))),
                ),
                hours: col(ucol::MEMORY_GB_HOURS),
            });
            if let Some((model, n)) = gpus.filter(|(_, n)| *n > 0.0) {
                parts.push(Wanted {
                    part: format!("{model} GPUs"),
                    unit: "GPU-hours",
                    per_instance: n,
                    filter: class(UsageClass::Gpu)
                        .and(col(ucol::GPU_MODEL).eq(lit(model.to_owned()))),
                    hours: col(ucol::GPU_HOURS),
                });
            }
            parts
        }
    }
}

/// Cost, hours and rows per currency of the rows of `w`.
type Sums = Vec<(Option<String>, f64, f64, u64)>;

fn sums(frame: &LazyFrame, base: Expr, w: &Wanted, shown: &str) -> Result<Sums, Error> {
    let table = frame
        .clone()
        .filter(base.and(w.filter.clone()))
        .group_by([col(ucol::CURRENCY)])
        .agg([
            col(ucol::COST).sum().alias("cost"),
            w.hours.clone().sum().alias("hours"),
            len().alias("rows"),
        ])
        .sort([ucol::CURRENCY], SortMultipleOptions::default())
        .collect()
        .map_err(Error::polars(format!("reading prices from ledger {shown}")))?;
    let text = |name: &str| -> Result<Vec<Option<String>>, Error> {
        let c = table
            .column(name)
            .and_then(|c| c.cast(&DataType::String))
            .map_err(Error::polars("reading ledger prices"))?;
        let s = c.str().map_err(Error::polars("reading ledger prices"))?;
        Ok((0..s.len()).map(|i| s.get(i).map(str::to_owned)).collect())
    };
    let number = |name: &str| -> Result<Vec<f64>, Error> {
        let c = table
            .column(name)
            .and_then(|c| c.cast(&DataType::Float64))
            .map_err(Error::polars("reading ledger prices"))?;
        let s = c.f64().map_err(Error::polars("reading ledger prices"))?;
        Ok((0..s.len()).map(|i| s.get(i).unwrap_or(0.0)).collect())
    };
    let (currencies, costs, hours, rows) = (
        text("currency")?,
        number("cost")?,
        number("hours")?,
        number("rows")?,
    );
    Ok(currencies
        .into_iter()
        .zip(costs)
        .zip(hours)
        .zip(rows)
        .map(|(((c, cost), h), r)| (c, cost, h, r as u64))
        .collect())
}

/// The price of `plan`, which runs on `priced`.
pub fn find(plan: &Plan, priced: Priced<'_>, ledger: Option<&Path>) -> Result<Price, Error> {
    // A wrong --ledger is an error even when the plan's own price makes it unused.
    if let Some(root) = ledger
        && !root.is_dir()
    {
        return Err(Error::Usage(format!(
            "--ledger {}: no such folder (the `[ledger] path` of `carbonledger run`)",
            root.display()
        )));
    }
    if let (Some(per_hour), Some(currency)) = (plan.hourly_price, &plan.currency) {
        return Ok(Price::Plan {
            per_hour,
            currency: currency.clone(),
        });
    }
    let Some(root) = ledger else {
        return Ok(Price::Unknown {
            reason: "no hourly_price in the plan and no --ledger".into(),
        });
    };
    let shown = root.display().to_string();
    let Some(frame) = scan_ledger(root)? else {
        return Ok(Price::Unknown {
            reason: format!("ledger {shown} has no partition files"),
        });
    };
    let region = plan.region.value.as_str();
    let base = col(ucol::PROVIDER)
        .eq(lit(plan.provider.clone()))
        .and(col(ucol::REGION).eq(lit(region.to_owned())));
    let parts = wanted(&plan.provider, priced);
    let mut found = Vec::with_capacity(parts.len());
    for w in &parts {
        found.push(sums(&frame, base.clone(), w, &shown)?);
    }
    let mut all: Vec<&str> = found
        .iter()
        .flatten()
        .filter_map(|(c, ..)| c.as_deref())
        .collect();
    all.sort_unstable();
    all.dedup();
    let currency = match (&plan.currency, all.as_slice()) {
        (Some(c), _) => c.clone(),
        (None, [one]) => (*one).to_owned(),
        (None, []) => String::new(),
        (None, several) => {
            return Ok(Price::Unknown {
                reason: format!(
                    "ledger {shown} prices {} {region} in several currencies ({}): set \
                     `currency` in the plan",
                    plan.provider,
                    several.join(", ")
                ),
            });
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (w, sums) in parts.iter().zip(&found) {
        let row = sums
            .iter()
            .find(|(c, ..)| c.as_deref() == Some(currency.as_str()));
        match row {
            Some((_, cost, hours, rows)) if *hours > 0.0 => out.push(LedgerPart {
                part: w.part.clone(),
                unit: w.unit,
                rate: cost / hours,
                per_instance: w.per_instance,
                cost: *cost,
                hours: *hours,
                rows: *rows,
            }),
            _ => {
                let with = if currency.is_empty() {
                    String::new()
                } else {
                    format!(" in {currency}")
                };
                return Ok(Price::Unknown {
                    reason: format!(
                        "no hourly_price in the plan and no {} of {} {} in {region}{with} in \
                         ledger {shown}",
                        w.unit, plan.provider, w.part
                    ),
                });
            }
        }
    }
    Ok(Price::Ledger {
        per_hour: out.iter().map(|p| p.rate * p.per_instance).sum(),
        currency,
        rows: out.iter().map(|p| p.rows).sum(),
        ledger: shown,
        parts: out,
    })
}
