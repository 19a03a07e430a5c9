//! The hourly price of a plan: its own `hourly_price`, else the effective rate seen in the
//! ledger `carbonledger run` writes (`--ledger DIR`), else unknown.
//!
//! The ledger rate is cost ÷ instance-hours over the ledger's compute rows of the plan's
//! provider, region and instance type (the whole ledger, every month), in the ledger's cost
//! measure (unblended by default: discounts that arrive as separate credit or negation lines
//! are not in it). Instance-hours are the billed amount of hour-unit rows (`Hrs`, `Hours`,
//! `hours`, `hour`), else vCPU-hours ÷ the type's vCPUs. A bare-GPU plan takes cost ÷ GPU-hours
//! of the compute rows naming its GPU model. GCP bills attached GPUs as separate SKUs without a
//! machine type, so a GCP rate covers the machine only. Rows in several currencies give no rate
//! unless the plan names its `currency`.

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
    /// The ledger's effective rate: `cost` ÷ `hours` over `rows` rows.
    Ledger {
        per_hour: f64,
        currency: String,
        rows: u64,
        hours: f64,
        cost: f64,
        ledger: String,
    },
    /// No price: the cost is unknown, not zero.
    Unknown { reason: String },
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
                rows,
                hours,
                cost,
                ledger,
            } => format!(
                "{per_hour:.4} {currency} per hour, the effective rate in ledger {ledger} \
                 ({cost:.2} {currency} over {hours:.1} h in {rows} rows)"
            ),
            Price::Unknown { reason } => format!("unknown: {reason}"),
        }
    }
}

/// The price of `plan` (on `instance`, or on bare GPUs of `gpu_model`).
pub fn find(
    plan: &Plan,
    instance: Option<&Instance>,
    gpu_model: Option<&str>,
    ledger: Option<&Path>,
) -> Result<Price, Error> {
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
    if !root.is_dir() {
        return Err(Error::Usage(format!(
            "--ledger {}: no such folder (the `[ledger] path` of `carbonledger run`)",
            root.display()
        )));
    }
    let shown = root.display().to_string();
    let Some(frame) = scan_ledger(root)? else {
        return Ok(Price::Unknown {
            reason: format!("ledger {shown} has no partition files"),
        });
    };
    let region = plan.region.value.as_str();
    let base = col(ucol::PROVIDER)
        .eq(lit(plan.provider.clone()))
        .and(col(ucol::REGION).eq(lit(region.to_owned())))
        .and(col(ucol::USAGE_CLASS).eq(lit(UsageClass::Compute.as_str())));
    let (filter, hours, what) = match (instance, gpu_model) {
        (Some(i), _) => {
            let unit = col(ucol::USAGE_UNIT);
            let hour_unit = unit
                .clone()
                .eq(lit("Hrs"))
                .or(unit.clone().eq(lit("Hours")))
                .or(unit.clone().eq(lit("hours")))
                .or(unit.eq(lit("hour")));
            let hours = when(hour_unit)
                .then(col(ucol::USAGE_AMOUNT))
                .otherwise(col(ucol::VCPU_HOURS) / lit(i.vcpus.max(1.0)));
            let filter = base.and(col(ucol::INSTANCE_TYPE).eq(lit(i.instance_type.clone())));
            (filter, hours, i.instance_type.clone())
        }
        (None, Some(m)) => {
            let filter = base
                .and(col(ucol::GPU_MODEL).eq(lit(m.to_owned())))
                .and(col(ucol::GPU_HOURS).gt(lit(0.0)));
            (filter, col(ucol::GPU_HOURS), m.to_owned())
        }
        (None, None) => {
            return Ok(Price::Unknown {
                reason: "nothing to price".into(),
            });
        }
    };
    let sums = frame
        .filter(filter)
        .group_by([col(ucol::CURRENCY)])
        .agg([
            col(ucol::COST).sum().alias("cost"),
            hours.sum().alias("hours"),
            len().alias("rows"),
        ])
        .sort([ucol::CURRENCY], SortMultipleOptions::default())
        .collect()
        .map_err(Error::polars(format!("reading prices from ledger {shown}")))?;
    let text = |name: &str| -> Result<Vec<Option<String>>, Error> {
        let c = sums
            .column(name)
            .and_then(|c| c.cast(&DataType::String))
            .map_err(Error::polars("reading ledger prices"))?;
        let s = c.str().map_err(Error::polars("reading ledger prices"))?;
        Ok((0..s.len()).map(|i| s.get(i).map(str::to_owned)).collect())
    };
    let number = |name: &str| -> Result<Vec<f64>, Error> {
        let c = sums
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
    let where_ = format!("{} {what} in {region}", plan.provider);
    let pick = match &plan.currency {
        Some(c) => currencies.iter().position(|x| x.as_deref() == Some(c)),
        None if currencies.len() == 1 => Some(0),
        None if currencies.is_empty() => None,
        None => {
            let all: Vec<&str> = currencies.iter().flatten().map(String::as_str).collect();
            return Ok(Price::Unknown {
                reason: format!(
                    "ledger {shown} has {where_} in several currencies ({}): set `currency` in \
                     the plan",
                    all.join(", ")
                ),
            });
        }
    };
    let Some(i) = pick else {
        return Ok(Price::Unknown {
            reason: format!(
                "no hourly_price in the plan and no compute rows of {where_}{} in ledger {shown}",
                plan.currency
                    .as_deref()
                    .map(|c| format!(" in {c}"))
                    .unwrap_or_default()
            ),
        });
    };
    if hours[i] <= 0.0 {
        return Ok(Price::Unknown {
            reason: format!("ledger {shown} has no hours of {where_}"),
        });
    }
    Ok(Price::Ledger {
        per_hour: costs[i] / hours[i],
        currency: currencies[i].clone().unwrap_or_default(),
        rows: rows[i] as u64,
        hours: hours[i],
        cost: costs[i],
        ledger: shown,
    })
}
