//! `carbonledger report --month YYYY-MM`: the monthly ESG report of the partitioned ledger, as
//! a self-contained HTML page (inline CSS and SVG charts, no script, no external resource)
//! plus the same figures as JSON (this module's [`Report`], serialised) and as long-format CSV
//! (`section,dimension,key,metric,value,unit`, one figure a line; [`csv`]).
//!
//! Units: energy in kWh (operational, PUE and replication included), emissions in kg CO2e,
//! cost in the ledger's currency (never added across currencies: every cost is a list of
//! per-currency amounts), intensity in kg CO2e per unit of a currency, shares as fractions
//! (0.25 = 25 %).
//!
//! What the figures mean:
//!
//! * **Emissions** are Scope 2 location-based plus Scope 3 embodied (as `carbonledger top`).
//!   For the customer all of it is Scope 3 category 1 (purchased services); "Scope 2" names
//!   the provider's electricity component, as providers' own carbon exports do.
//! * **Market-based Scope 2** (GHG Protocol dual reporting): the embedded factor sets have
//!   no market factor for AWS and Azure (null `scope2_market_kg`). The report never reads
//!   a null as 0. It gives `scope2_market_kg_covered` (the sum over rows with a market
//!   factor) with `market_coverage` (the share of kWh those rows carry), and
//!   `scope2_market_kg_with_fallback`, where rows without a market factor take their
//!   location-based value (grid average, the fallback of the Scope 2 Guidance's hierarchy
//!   when no residual mix is known). The HTML labels both and prints the coverage.
//! * **Uncertainty** ([`uncertainty`]): a bound, not a confidence interval. The method assumes
//!   the factor set's CPU utilisation (`cpu_utilization_percent`) because bills do not say;
//!   the range lets CPU and GPU energy go from idle to full-load watts (the widest ratio
//!   over every row of the set's `cpu_watts.csv` / `gpu_watts.csv`: an outer bound), and
//!   rows estimated by ratio span the month's lowest to highest kWh per unit of cost of the
//!   services estimated from usage, per provider and currency. Memory, storage, network,
//!   grid factors and embodied emissions of rows estimated from usage are taken as point
//!   values: their tables carry no ranges (a known shortcoming, said in the report).
//! * **Completeness**: per provider, the rows' latest `period_end` against the month's end
//!   ([`Completeness`]); a partial month is warned about and not ranked against a full one.
//! * **Movers**: the (provider, service) and (provider, account) pairs whose emissions
//!   changed most (absolute kg CO2e) against the previous month, of the providers with
//!   complete rows in both months; the others are in `not_compared` with the reason. The
//!   relative change is null when the previous month had 0. With no previous month in the
//!   ledger the lists are empty and `previous_in_ledger` false.
//! * **Intensity**: kg CO2e per unit of cost over all cost and over the cost of the rows
//!   estimated from usage or by ratio (fees, taxes and credits carry no emissions).
//! * **PUE**: the kWh-weighted PUE applied per provider and per grid factor.
//! * **Trend**: the 12 months ending at the report's month; a month without ledger rows has
//!   `rows` 0 and no figures (a gap in the chart, listed under the chart), never a 0.
//! * **Warnings**: partial months, providers left out of the movers, a month with no
//!   estimated energy (whose 0 kg is not a measurement).
//! * **Data quality**: rows, kWh, kg CO2e and cost by `estimate_kind`, with each kind's share
//!   of the month's positive cost per currency (credits and refunds, negative, are left out
//!   of the denominator so the shares add up to 1); excluded cost by reason.
//! * **Goal and scope**: the factor sets named by the month's rows, resolved to the embedded
//!   sets (or `--factors DIR`) and listed with their version, description and each data file's
//!   rows, years, licences and sources as the files state them; the grid factors applied with
//!   the source of each. A set the binary cannot resolve is listed as such.
//!
//! A month with no rows in the ledger is an error (exit code 1, [`Error::NoData`]).

pub mod csv;
pub mod html;
mod svg;
pub mod uncertainty;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use carbonledger_factors::{FactorSet, FileProvenance};
use carbonledger_usage::col as ucol;
use polars::prelude::*;
use serde::Serialize;

use crate::Error;
use crate::job::config::Month;
use crate::ledger::{col as lcol, kind};
use crate::metrics::scan_ledger;

/// How many movers each list keeps.
pub const MOVERS: usize = 10;
/// Months in the trend, the report's month last.
pub const TREND_MONTHS: usize = 12;

/// The whole report: what `report.json` holds and the HTML and CSV show.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `YYYY-MM`.
    pub month: String,
    pub previous_month: String,
    /// `carbonledger VERSION`.
    pub generated_by: String,
    /// Whether every provider's rows of the month reach the month's end (see
    /// [`Completeness`]); a partial month is not comparable with a full one.
    pub complete: bool,
    /// The fewest days covered by any provider's rows of the month.
    pub days_covered: f64,
    /// Per provider: how much of the month its rows cover.
    pub completeness: Vec<Completeness>,
    /// What a reader must know before using the figures (partial month, providers left out
    /// of the comparison, no estimated energy); also on the page and in the CSV.
    pub warnings: Vec<String>,
    pub totals: Figures,
    pub by_provider: Vec<Group>,
    pub by_region: Vec<Group>,
    pub by_service: Vec<Group>,
    pub by_account: Vec<Group>,
    /// The ESG table: one line per provider, account, service and region.
    pub by_account_service_region: Vec<Detail>,
    pub trend: Vec<TrendMonth>,
    pub movers: Movers,
    pub intensity: Vec<Intensity>,
    pub data_quality: DataQuality,
    pub goal_and_scope: GoalAndScope,
}

/// The figures of a set of ledger rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    pub rows: u64,
    /// kWh.
    pub energy_kwh: f64,
    /// kg CO2e, location-based.
    pub scope2_location_kg: f64,
    /// kg CO2e, market-based, summed over the rows that have a market factor only.
    pub scope2_market_kg_covered: f64,
    /// kWh of the rows with a market factor.
    pub market_covered_energy_kwh: f64,
    /// `market_covered_energy_kwh / energy_kwh`; null without energy.
    pub market_coverage: Option<f64>,
    /// kg CO2e, market-based where a market factor exists, location-based elsewhere.
    pub scope2_market_kg_with_fallback: f64,
    /// kg CO2e.
    pub scope3_embodied_kg: f64,
    /// kg CO2e: `scope2_location_kg + scope3_embodied_kg`.
    pub emissions_kg: f64,
    /// Cost per currency (signed: credits count), sorted by currency.
    pub cost: Vec<Cost>,
}

/// An amount of one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cost {
    pub currency: String,
    pub amount: f64,
}

/// The figures of one provider, or of one region, service or account of a provider (never
/// merged across providers: AWS's and GCP's `global` are two groups).
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The provider of a region, service or account; absent in `by_provider`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The value (`global` for rows without a region, `(none)` for rows without an account).
    pub key: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// The figures of one provider, account, service and region.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    pub provider: String,
    pub account: String,
    pub service: String,
    pub region: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// How much of a month one provider's rows cover, from their `period_end` (the usage
/// period's end, UTC): a month the ledger holds only part of (the open month, a late
/// delivery) has its latest `period_end` before the month's end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completeness {
    pub provider: String,
    /// The latest `period_end` of the provider's rows of the month, RFC 3339 UTC; null when
    /// no row has one.
    pub latest_period_end: Option<String>,
    /// Days from the month's first day 00:00 UTC to the latest `period_end`, at most
    /// `days_in_month`.
    pub days_covered: f64,
    pub days_in_month: f64,
    /// Whether the latest `period_end` reaches the next month's first day 00:00 UTC.
    pub complete: bool,
}

/// One month of the trend.
#[derive(Debug, Clone, Serialize)]
pub struct TrendMonth {
    pub month: String,
    pub rows: u64,
    /// Whether every provider's rows reach the month's end; null without rows.
    pub complete: Option<bool>,
    /// The fewest days covered by any provider's rows; null without rows.
    pub days_covered: Option<f64>,
    /// Null when the ledger has no row of the month.
    pub figures: Option<Figures>,
}

/// The biggest changes against the previous month.
#[derive(Debug, Clone, Serialize)]
pub struct Movers {
    pub previous_month: String,
    /// Whether the ledger has rows of the previous month at all.
    pub previous_in_ledger: bool,
    /// Services and accounts of the compared providers, keyed by (provider, service or
    /// account).
    pub by_service: Vec<Mover>,
    pub by_account: Vec<Mover>,
    /// The providers left out of the comparison and why: absent from one of the two months,
    /// or one of the two months incomplete for them.
    pub not_compared: Vec<NotCompared>,
}

/// A provider whose groups are not ranked as movers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotCompared {
    pub provider: String,
    pub reason: String,
}

/// One group's emissions (kg CO2e) this month and the previous one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    pub provider: String,
    pub key: String,
    pub current_kg: f64,
    pub previous_kg: f64,
    /// `current_kg - previous_kg`.
    pub change_kg: f64,
    /// `change_kg / previous_kg × 100`; null when `previous_kg` is 0.
    pub change_percent: Option<f64>,
}

/// Emissions per unit of cost, within one currency (and provider, or `all`), over two cost
/// measures: all cost (taxes, fees, commitment fees and credits included, which carry no
/// emissions and dilute the figure) and the cost of the rows that carry emissions (estimated
/// from usage or by ratio).
#[derive(Debug, Clone, Serialize)]
pub struct Intensity {
    pub currency: String,
    pub provider: String,
    /// All cost of the rows in this currency, signed.
    pub cost: f64,
    /// Cost of the rows estimated from usage or by ratio, signed.
    pub estimated_cost: f64,
    /// kg CO2e (Scope 2 location-based + Scope 3) of the rows in this currency.
    pub emissions_kg: f64,
    /// kg CO2e per unit of `currency` over all cost; null unless both `cost` and
    /// `estimated_cost` are positive (a month of excluded rows only has no intensity).
    pub kg_per_cost: Option<f64>,
    /// kg CO2e per unit of `currency` over `estimated_cost`; null unless it is positive.
    pub kg_per_estimated_cost: Option<f64>,
}

/// How much of the month is estimated, estimated by ratio or excluded, and how sure it is.
#[derive(Debug, Clone, Serialize)]
pub struct DataQuality {
    pub by_kind: Vec<KindQuality>,
    /// Share of the month's kWh that comes from rows estimated by ratio; null without energy.
    pub ratio_energy_share: Option<f64>,
    pub excluded: Vec<Exclusion>,
    /// Rows of kind `estimated` that carry no energy (0 or no kWh): counted with `estimated`
    /// in `by_kind`, but not a physical estimate of anything.
    pub estimated_without_energy: Exclusion,
    /// Of those, the CCF compute lines whose instance type has no vCPU count (`--method ccf`
    /// gives them 0 kWh, as CCF's code does).
    pub ccf_no_vcpu_rows: u64,
    pub uncertainty: Option<uncertainty::Range>,
    /// Why the range is missing, when it is.
    pub uncertainty_note: Option<String>,
}

/// The rows of one `estimate_kind`.
#[derive(Debug, Clone, Serialize)]
pub struct KindQuality {
    /// `estimated`, `ratio` or `excluded`.
    pub kind: String,
    #[serde(flatten)]
    pub figures: Figures,
    /// Per currency: this kind's positive cost over the month's positive cost.
    pub positive_cost_share: Vec<Share>,
}

/// A share within one currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub currency: String,
    pub share: Option<f64>,
}

/// Excluded rows of one reason.
#[derive(Debug, Clone, Serialize)]
pub struct Exclusion {
    pub reason: String,
    pub rows: u64,
    pub cost: Vec<Cost>,
}

/// The ISO 14040-style goal and scope of the report, from the ledger and its factor sets.
#[derive(Debug, Clone, Serialize)]
pub struct GoalAndScope {
    /// The month's first day and the next month's, `YYYY-MM-DD`, end exclusive.
    pub period_start: String,
    pub period_end: String,
    pub providers: Vec<String>,
    pub accounts: u64,
    /// The methods the rows were estimated with (`default`, `ccf`).
    pub methods: Vec<String>,
    pub factor_sets: Vec<FactorSetInfo>,
    pub grid_factors: Vec<GridFactorUsed>,
    /// The PUE applied, per provider, weighted by kWh.
    pub pue: Vec<PueApplied>,
}

/// The power usage effectiveness (facility kWh per IT kWh) applied to a provider's rows.
#[derive(Debug, Clone, Serialize)]
pub struct PueApplied {
    pub provider: String,
    /// `Σ pue × energy_kwh / Σ energy_kwh` over the rows with a PUE; null when none has.
    pub pue: Option<f64>,
    /// kWh of the rows with a PUE.
    pub energy_kwh: f64,
}

/// One factor set named by the month's rows.
#[derive(Debug, Clone, Serialize)]
pub struct FactorSetInfo {
    /// `name version`, as the ledger's `factor_set` column holds it.
    pub label: String,
    pub rows: u64,
    /// Whether the set was found (embedded in this binary, or `--factors DIR`).
    pub resolved: bool,
    pub name: Option<String>,
    pub version: Option<String>,
    pub method: Option<String>,
    pub description: Option<String>,
    /// The set's `coefficients.csv` rows (utilisation, lifespan, memory, storage and network
    /// coefficients…), with their units.
    pub assumptions: Vec<carbonledger_factors::Assumption>,
    pub files: Vec<FileProvenance>,
}

/// A location-based grid factor the month's rows were multiplied by.
#[derive(Debug, Clone, Serialize)]
pub struct GridFactorUsed {
    pub factor_set: String,
    pub provider: String,
    pub region: String,
    pub year: i32,
    /// kg CO2e per kWh.
    pub kg_per_kwh: f64,
    /// kWh the factor applied to.
    pub energy_kwh: f64,
    /// The kWh-weighted PUE of those rows; null when none has a PUE.
    pub pue: Option<f64>,
    /// The factor's `source`, from the set's `grid_location.csv`; null when the set is not
    /// resolved or its row for the provider, region and year has another value.
    pub source: Option<String>,
}

/// What the report is built from.
pub struct ReportRequest<'a> {
    pub ledger: &'a Path,
    pub month: Month,
    /// A factor-set folder to resolve a ledger's custom `--factors` set by.
    pub factors: Option<&'a Path>,
}

/// The `YYYY-MM` of a row.
fn month_of() -> Expr {
    col(ucol::PERIOD_START).dt().strftime("%Y-%m")
}

/// Builds the report of `request.month` from the ledger.
pub fn build(request: &ReportRequest<'_>) -> Result<Report, Error> {
    let root = request.ledger;
    let Some(ledger) = scan_ledger(root)? else {
        return Err(Error::Usage(format!(
            "{}: the ledger has no partition files yet (run `carbonledger run` first)",
            root.display()
        )));
    };
    let month = request.month.to_string();
    let previous = request.month.previous().to_string();
    let mut window = vec![request.month];
    while window.len() < TREND_MONTHS {
        let first = window[window.len() - 1].previous();
        window.push(first);
    }
    window.reverse();
    let window_names: Vec<String> = window.iter().map(Month::to_string).collect();
    let columns = [
        ucol::PERIOD_END,
        ucol::PROVIDER,
        ucol::REGION,
        ucol::SERVICE,
        ucol::USAGE_ACCOUNT,
        ucol::CURRENCY,
        ucol::COST,
        ucol::EXCLUSION_REASON,
        lcol::METHOD,
        lcol::FACTOR_SET,
        lcol::ESTIMATE_KIND,
        lcol::CPU_KWH,
        lcol::GPU_KWH,
        lcol::ENERGY_KWH,
        lcol::PUE,
        lcol::GRID_KG_PER_KWH,
        lcol::GRID_YEAR,
        lcol::SCOPE2_LOCATION_KG,
        lcol::SCOPE2_MARKET_KG,
        lcol::SCOPE3_EMBODIED_KG,
        lcol::NOTES,
    ];
    let mut keep: Vec<Expr> = columns.iter().map(|c| col(*c)).collect();
    keep.push(month_of().alias("month"));
    // The columns the report reads, of the trend window only (`YYYY-MM` strings order as
    // months do; the window holds the previous month too): older partitions and the other
    // ledger columns are never held in memory.
    let ledger = ledger
        .select(keep)
        .filter(
            col("month")
                .gt_eq(lit(window_names[0].clone()))
                .and(col("month").lt_eq(lit(month.clone()))),
        )
        .with_column(
            col(ucol::REGION)
                .fill_null(lit("global"))
                .alias(ucol::REGION),
        )
        .with_column(
            col(ucol::USAGE_ACCOUNT)
                .fill_null(lit("(none)"))
                .alias(ucol::USAGE_ACCOUNT),
        )
        .collect()
        .map_err(Error::polars("reading the ledger for the report"))?
        .lazy();
    let this = ledger.clone().filter(col("month").eq(lit(month.clone())));
    let totals = figures_by(this.clone(), &[])?;
    let Some((_, totals)) = totals.into_iter().next().filter(|(_, f)| f.rows > 0) else {
        return Err(Error::NoData(format!(
            "{}: the ledger has no rows of {month} (months with rows in the 12 up to it: {})",
            root.display(),
            months_with_rows(&ledger)?.join(", ")
        )));
    };
    let by_provider = figures_by(this.clone(), &[ucol::PROVIDER])?
        .into_iter()
        .map(|(k, figures)| Group {
            provider: None,
            key: k.into_iter().next().unwrap_or_default(),
            figures,
        })
        .collect::<Vec<_>>();
    let group = |column: &str| -> Result<Vec<Group>, Error> {
        Ok(figures_by(this.clone(), &[ucol::PROVIDER, column])?
            .into_iter()
            .map(|(k, figures)| {
                let mut k = k.into_iter();
                Group {
                    provider: Some(k.next().unwrap_or_default()),
                    key: k.next().unwrap_or_default(),
                    figures,
                }
            })
            .collect())
    };
    let by_region = group(ucol::REGION)?;
    let by_service = group(ucol::SERVICE)?;
    let by_account = group(ucol::USAGE_ACCOUNT)?;
    let detail_keys = [
        ucol::PROVIDER,
        ucol::USAGE_ACCOUNT,
        ucol::SERVICE,
        ucol::REGION,
    ];
    let by_account_service_region = figures_by(this.clone(), &detail_keys)?
        .into_iter()
        .map(|(k, figures)| {
            let mut k = k.into_iter();
            let mut next = || k.next().unwrap_or_default();
            Detail {
                provider: next(),
                account: next(),
                service: next(),
                region: next(),
                figures,
            }
        })
        .collect();

    let mut per_month: HashMap<String, Figures> = figures_by(ledger.clone(), &["month"])?
        .into_iter()
        .map(|(k, f)| (k.into_iter().next().unwrap_or_default(), f))
        .collect();
    let coverage = coverage(&ledger)?;
    let trend = window_names
        .iter()
        .map(|m| {
            let figures = per_month.remove(m);
            let of = coverage.get(m).filter(|c| !c.is_empty());
            TrendMonth {
                month: m.clone(),
                rows: figures.as_ref().map_or(0, |f| f.rows),
                complete: of.map(|c| c.iter().all(|c| c.complete)),
                days_covered: of.map(|c| least_days(c)),
                figures,
            }
        })
        .collect::<Vec<_>>();
    let previous_in_ledger = trend.iter().any(|t| t.month == previous && t.rows > 0);
    let completeness = coverage.get(&month).cloned().unwrap_or_default();
    let mut warnings = Vec::new();
    for c in completeness.iter().filter(|c| !c.complete) {
        warnings.push(format!(
            "{}: the ledger's rows of {month} end at {} ({} of {} days): a partial month, \
             not comparable with a full one",
            c.provider,
            c.latest_period_end.as_deref().unwrap_or("no period_end"),
            days(c.days_covered),
            days(c.days_in_month)
        ));
    }
    let mut not_compared = Vec::new();
    let mut compared = std::collections::BTreeSet::new();
    if previous_in_ledger {
        let before = coverage.get(&previous).cloned().unwrap_or_default();
        for c in &completeness {
            let reason = match before.iter().find(|b| b.provider == c.provider) {
                None => Some(format!("no rows of {previous} in the ledger")),
                Some(_) if !c.complete => Some(format!(
                    "{month} is incomplete ({} of {} days)",
                    days(c.days_covered),
                    days(c.days_in_month)
                )),
                Some(b) if !b.complete => Some(format!(
                    "{previous} is incomplete ({} of {} days)",
                    days(b.days_covered),
                    days(b.days_in_month)
                )),
                Some(_) => None,
            };
            match reason {
                Some(reason) => not_compared.push(NotCompared {
                    provider: c.provider.clone(),
                    reason,
                }),
                None => {
                    compared.insert(c.provider.clone());
                }
            }
        }
        for b in &before {
            if !completeness.iter().any(|c| c.provider == b.provider) {
                not_compared.push(NotCompared {
                    provider: b.provider.clone(),
                    reason: format!("no rows of {month} in the ledger"),
                });
            }
        }
        for n in &not_compared {
            warnings.push(format!("movers leave out {}: {}", n.provider, n.reason));
        }
    }
    let last = ledger
        .clone()
        .filter(col("month").eq(lit(previous.clone())));
    let pair = |key: &str| -> Result<Vec<Mover>, Error> {
        if !previous_in_ledger {
            return Ok(Vec::new());
        }
        Ok(movers(
            figures_by(this.clone(), &[ucol::PROVIDER, key])?,
            figures_by(last.clone(), &[ucol::PROVIDER, key])?,
            &compared,
        ))
    };
    let movers = Movers {
        previous_month: previous.clone(),
        previous_in_ledger,
        by_service: pair(ucol::SERVICE)?,
        by_account: pair(ucol::USAGE_ACCOUNT)?,
        not_compared,
    };

    let intensity = intensity(&this)?;
    let sets = resolve_sets(&this, request.factors)?;
    let data_quality = data_quality(&this, &totals, &sets)?;
    let estimated = data_quality
        .by_kind
        .iter()
        .filter(|k| k.kind != kind::EXCLUDED)
        .map(|k| k.figures.energy_kwh)
        .sum::<f64>();
    if estimated <= 0.0 {
        let excluded = data_quality
            .by_kind
            .iter()
            .find(|k| k.kind == kind::EXCLUDED)
            .map_or(0, |k| k.figures.rows);
        warnings.push(format!(
            "no row of {month} carries estimated energy (from physical usage or by ratio): \
             its 0 kWh and 0 kg CO2e are not a measurement; the {excluded} excluded rows \
             (no physical usage, or usage the method leaves out) are outside every figure"
        ));
    }
    let goal_and_scope = goal_and_scope(&this, request.month, &by_provider, sets)?;
    // A set resolved by its label whose grid factors are not the ledger's: most likely a
    // custom set under an embedded set's `name version`, run with `[ledger] factors`.
    for s in goal_and_scope.factor_sets.iter().filter(|s| s.resolved) {
        let differ = goal_and_scope
            .grid_factors
            .iter()
            .filter(|g| g.factor_set == s.label && g.source.is_none())
            .count();
        if differ > 0 {
            warnings.push(format!(
                "factor set `{}`: {differ} grid factors of the ledger are not in the set this \
                 report resolved by that name; the ledger was likely made with a custom set \
                 of the same name and version: pass it with --factors DIR",
                s.label
            ));
        }
    }
    Ok(Report {
        month,
        previous_month: previous,
        generated_by: format!("carbonledger {}", env!("CARGO_PKG_VERSION")),
        complete: completeness.iter().all(|c| c.complete),
        days_covered: least_days(&completeness),
        completeness,
        warnings,
        totals,
        by_provider,
        by_region,
        by_service,
        by_account,
        by_account_service_region,
        trend,
        movers,
        intensity,
        data_quality,
        goal_and_scope,
    })
}

/// Days for reading: `14.46`, `31`.
fn days(d: f64) -> String {
    let text = format!("{d:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The fewest days covered by any provider (0 with none).
fn least_days(c: &[Completeness]) -> f64 {
    c.iter()
        .map(|c| c.days_covered)
        .min_by(f64::total_cmp)
        .unwrap_or(0.0)
}

/// Per month (`YYYY-MM`) and provider, how much of the month the rows cover, from their
/// latest `period_end` (µs since 1970-01-01 UTC in the ledger).
fn coverage(ledger: &LazyFrame) -> Result<HashMap<String, Vec<Completeness>>, Error> {
    let context = "the months' coverage";
    let df = ledger
        .clone()
        .group_by([col("month"), col(ucol::PROVIDER).cast(DataType::String)])
        .agg([col(ucol::PERIOD_END)
            .cast(DataType::Int64)
            .max()
            .alias("latest_end")])
        .sort(["month", ucol::PROVIDER], SortMultipleOptions::default())
        .collect()
        .map_err(Error::polars(context))?;
    let (months, providers) = (strings(&df, "month")?, strings(&df, ucol::PROVIDER)?);
    let latest = df
        .column("latest_end")
        .and_then(|c| c.i64().cloned())
        .map_err(Error::polars(context))?;
    let micros = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_micros())
    };
    const DAY_US: f64 = 86_400e6;
    let mut out: HashMap<String, Vec<Completeness>> = HashMap::new();
    for (i, (m, provider)) in months.into_iter().zip(providers).enumerate() {
        let (Some(year), Some(number)) = (
            m.get(..4).and_then(|y| y.parse().ok()),
            m.get(5..7).and_then(|n| n.parse().ok()),
        ) else {
            continue;
        };
        let month = Month {
            year,
            month: number,
        };
        let (start, end) = (micros(month.first_day()), micros(month.end()));
        let latest = latest.get(i);
        let days_in_month = (end - start) as f64 / DAY_US;
        out.entry(m).or_default().push(Completeness {
            provider,
            latest_period_end: latest.and_then(|l| {
                chrono::DateTime::from_timestamp_micros(l)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }),
            days_covered: latest.map_or(0.0, |l| {
                ((l.min(end) - start) as f64 / DAY_US).clamp(0.0, days_in_month)
            }),
            days_in_month,
            complete: latest.is_some_and(|l| l >= end),
        });
    }
    Ok(out)
}

fn months_with_rows(ledger: &LazyFrame) -> Result<Vec<String>, Error> {
    let df = ledger
        .clone()
        .select([col("month").unique().sort(SortOptions::default())])
        .collect()
        .map_err(Error::polars("listing the ledger's months"))?;
    let months: Vec<String> = strings(&df, "month")?;
    Ok(if months.is_empty() {
        vec!["none".into()]
    } else {
        months
    })
}

/// The figures of `lf` grouped by `keys` (string columns), sorted by emissions, largest
/// first, then by key. With no keys, one group of every row (also when `lf` has none).
fn figures_by(lf: LazyFrame, keys: &[&str]) -> Result<Vec<(Vec<String>, Figures)>, Error> {
    let context = "summing the ledger for the report";
    let market = col(lcol::SCOPE2_MARKET_KG);
    let aggs = [
        len().cast(DataType::UInt64).alias("rows"),
        col(lcol::ENERGY_KWH).sum(),
        col(lcol::SCOPE2_LOCATION_KG).sum(),
        market.clone().sum().alias("market_covered"),
        when(market.clone().is_not_null())
            .then(col(lcol::ENERGY_KWH))
            .otherwise(lit(0.0))
            .sum()
            .alias("market_energy"),
        when(market.clone().is_null())
            .then(col(lcol::SCOPE2_LOCATION_KG))
            .otherwise(market)
            .sum()
            .alias("market_fallback"),
        col(lcol::SCOPE3_EMBODIED_KG).sum(),
    ];
    let key_exprs: Vec<Expr> = keys
        .iter()
        .map(|k| col(*k).cast(DataType::String))
        .collect();
    let sums = if keys.is_empty() {
        lf.clone().select(aggs)
    } else {
        lf.clone().group_by(key_exprs.clone()).agg(aggs)
    }
    .collect()
    .map_err(Error::polars(context))?;
    let mut cost_keys = key_exprs;
    cost_keys.push(col(ucol::CURRENCY).fill_null(lit("?")));
    let costs = lf
        .group_by(cost_keys)
        .agg([col(ucol::COST).sum()])
        .collect()
        .map_err(Error::polars(context))?;

    let key_values = |df: &DataFrame| -> Result<Vec<Vec<String>>, Error> {
        let columns: Vec<Vec<String>> = keys
            .iter()
            .map(|k| strings(df, k))
            .collect::<Result<_, _>>()?;
        Ok((0..df.height())
            .map(|i| columns.iter().map(|c| c[i].clone()).collect())
            .collect())
    };
    let mut cost_of: HashMap<Vec<String>, Vec<Cost>> = HashMap::new();
    let currencies = strings(&costs, ucol::CURRENCY)?;
    let amounts = floats(&costs, ucol::COST)?;
    for ((key, currency), amount) in key_values(&costs)?.into_iter().zip(currencies).zip(amounts) {
        cost_of.entry(key).or_default().push(Cost {
            currency,
            amount: amount.unwrap_or(0.0),
        });
    }
    let rows = sums
        .column("rows")
        .and_then(|c| c.u64().cloned())
        .map_err(Error::polars(context))?;
    let f = |name: &str| floats(&sums, name);
    let (energy, s2, market, market_energy, fallback, s3) = (
        f(lcol::ENERGY_KWH)?,
        f(lcol::SCOPE2_LOCATION_KG)?,
        f("market_covered")?,
        f("market_energy")?,
        f("market_fallback")?,
        f(lcol::SCOPE3_EMBODIED_KG)?,
    );
    let mut out = Vec::new();
    for (i, key) in key_values(&sums)?.into_iter().enumerate() {
        let energy_kwh = energy[i].unwrap_or(0.0);
        let covered = market_energy[i].unwrap_or(0.0);
        let (s2, s3) = (s2[i].unwrap_or(0.0), s3[i].unwrap_or(0.0));
        let mut cost = cost_of.remove(&key).unwrap_or_default();
        cost.sort_by(|a, b| a.currency.cmp(&b.currency));
        out.push((
            key,
            Figures {
                rows: rows.get(i).unwrap_or(0),
                energy_kwh,
                scope2_location_kg: s2,
                scope2_market_kg_covered: market[i].unwrap_or(0.0),
                market_covered_energy_kwh: covered,
                market_coverage: (energy_kwh > 0.0).then(|| covered / energy_kwh),
                scope2_market_kg_with_fallback: fallback[i].unwrap_or(0.0),
                scope3_embodied_kg: s3,
                emissions_kg: s2 + s3,
                cost,
            },
        ));
    }
    out.sort_by(|a, b| {
        b.1.emissions_kg
            .total_cmp(&a.1.emissions_kg)
            .then_with(|| a.0.cmp(&b.0))
    });
    Ok(out)
}

/// A string column's values, nulls as empty strings.
fn strings(df: &DataFrame, name: &str) -> Result<Vec<String>, Error> {
    let c = df
        .column(name)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(Error::polars(format!("reading column {name}")))?;
    let s = c
        .str()
        .map_err(Error::polars(format!("reading column {name}")))?;
    Ok(s.iter().map(|v| v.unwrap_or("").to_owned()).collect())
}

/// A float column's values.
fn floats(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>, Error> {
    let c = df
        .column(name)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(Error::polars(format!("reading column {name}")))?;
    let s = c
        .f64()
        .map_err(Error::polars(format!("reading column {name}")))?;
    Ok(s.iter().collect())
}

/// The (provider, group) pairs whose emissions changed most, by absolute change, largest
/// first, of the `compared` providers only.
fn movers(
    current: Vec<(Vec<String>, Figures)>,
    previous: Vec<(Vec<String>, Figures)>,
    compared: &std::collections::BTreeSet<String>,
) -> Vec<Mover> {
    let mut both: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    let pair = |key: Vec<String>| {
        let mut it = key.into_iter();
        (it.next().unwrap_or_default(), it.next().unwrap_or_default())
    };
    for (key, f) in current {
        let key = pair(key);
        if compared.contains(&key.0) {
            both.entry(key).or_default().0 = f.emissions_kg;
        }
    }
    for (key, f) in previous {
        let key = pair(key);
        if compared.contains(&key.0) {
            both.entry(key).or_default().1 = f.emissions_kg;
        }
    }
    let mut out: Vec<Mover> = both
        .into_iter()
        .map(|((provider, key), (current_kg, previous_kg))| {
            let change_kg = current_kg - previous_kg;
            Mover {
                provider,
                key,
                current_kg,
                previous_kg,
                change_kg,
                change_percent: (previous_kg != 0.0).then(|| change_kg / previous_kg * 100.0),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.change_kg
            .abs()
            .total_cmp(&a.change_kg.abs())
            .then_with(|| a.provider.cmp(&b.provider))
            .then_with(|| a.key.cmp(&b.key))
    });
    out.truncate(MOVERS);
    out
}

/// Emissions per unit of cost per currency, over all providers and per provider, over all
/// cost and over the cost of the rows estimated from usage or by ratio. The emissions of a
/// currency are those of the rows whose cost is in it.
fn intensity(this: &LazyFrame) -> Result<Vec<Intensity>, Error> {
    let emissions = (col(lcol::SCOPE2_LOCATION_KG).fill_null(lit(0.0))
        + col(lcol::SCOPE3_EMBODIED_KG).fill_null(lit(0.0)))
    .sum()
    .alias("emissions_kg");
    let by = |keys: Vec<Expr>| -> Result<DataFrame, Error> {
        this.clone()
            .group_by(keys)
            .agg([
                emissions.clone(),
                col(ucol::COST).sum(),
                when(col(lcol::ESTIMATE_KIND).neq(lit(kind::EXCLUDED)))
                    .then(col(ucol::COST))
                    .otherwise(lit(0.0))
                    .sum()
                    .alias("estimated_cost"),
            ])
            .collect()
            .map_err(Error::polars("emissions per cost"))
    };
    let currency = || col(ucol::CURRENCY).fill_null(lit("?"));
    let mut out = Vec::new();
    let mut push = |df: DataFrame, provider: Option<&str>| -> Result<(), Error> {
        let currencies = strings(&df, ucol::CURRENCY)?;
        let providers = match provider {
            Some(p) => vec![p.to_owned(); df.height()],
            None => strings(&df, ucol::PROVIDER)?,
        };
        let kg = floats(&df, "emissions_kg")?;
        let cost = floats(&df, ucol::COST)?;
        let estimated = floats(&df, "estimated_cost")?;
        for i in 0..df.height() {
            let (kg, cost) = (kg[i].unwrap_or(0.0), cost[i].unwrap_or(0.0));
            let estimated_cost = estimated[i].unwrap_or(0.0);
            out.push(Intensity {
                currency: currencies[i].clone(),
                provider: providers[i].clone(),
                cost,
                estimated_cost,
                emissions_kg: kg,
                kg_per_cost: (cost > 0.0 && estimated_cost > 0.0).then(|| kg / cost),
                kg_per_estimated_cost: (estimated_cost > 0.0).then(|| kg / estimated_cost),
            });
        }
        Ok(())
    };
    push(by(vec![currency()])?, Some("all"))?;
    push(by(vec![currency(), col(ucol::PROVIDER)])?, None)?;
    out.sort_by(|a, b| {
        a.currency
            .cmp(&b.currency)
            .then_with(|| (a.provider != "all").cmp(&(b.provider != "all")))
            .then_with(|| a.provider.cmp(&b.provider))
    });
    Ok(out)
}

/// The factor sets named by the month's rows, resolved where the binary can.
fn resolve_sets(
    this: &LazyFrame,
    factors: Option<&Path>,
) -> Result<Vec<(FactorSetInfo, Option<FactorSet>)>, Error> {
    let df = this
        .clone()
        .group_by([col(lcol::FACTOR_SET).cast(DataType::String)])
        .agg([len().cast(DataType::UInt64).alias("rows")])
        .sort([lcol::FACTOR_SET], SortMultipleOptions::default())
        .collect()
        .map_err(Error::polars("listing the factor sets"))?;
    let labels = strings(&df, lcol::FACTOR_SET)?;
    let rows = df
        .column("rows")
        .and_then(|c| c.u64().cloned())
        .map_err(Error::polars("listing the factor sets"))?;
    let mut candidates = Vec::new();
    if let Some(dir) = factors {
        candidates.push(FactorSet::from_dir(dir)?);
    }
    for name in carbonledger_factors::embedded_set_names() {
        candidates.push(FactorSet::embedded(name)?);
    }
    Ok(labels
        .into_iter()
        .enumerate()
        .map(|(i, label)| {
            let set = candidates.iter().find(|s| s.label() == label).cloned();
            let info = FactorSetInfo {
                label,
                rows: rows.get(i).unwrap_or(0),
                resolved: set.is_some(),
                name: set.as_ref().map(|s| s.meta.name.clone()),
                version: set.as_ref().map(|s| s.meta.version.clone()),
                method: set.as_ref().map(|s| s.meta.method.clone()),
                description: set.as_ref().map(|s| s.meta.description.clone()),
                assumptions: set
                    .as_ref()
                    .map(|s| s.assumptions.clone())
                    .unwrap_or_default(),
                files: set
                    .as_ref()
                    .map(|s| s.provenance.clone())
                    .unwrap_or_default(),
            };
            (info, set)
        })
        .collect())
}

fn data_quality(
    this: &LazyFrame,
    totals: &Figures,
    sets: &[(FactorSetInfo, Option<FactorSet>)],
) -> Result<DataQuality, Error> {
    let context = "the report's data quality";
    let currency = || col(ucol::CURRENCY).fill_null(lit("?"));
    let positive = when(col(ucol::COST).gt(lit(0.0)))
        .then(col(ucol::COST))
        .otherwise(lit(0.0))
        .sum()
        .alias("positive");
    let pos = this
        .clone()
        .group_by([col(lcol::ESTIMATE_KIND).cast(DataType::String), currency()])
        .agg([positive])
        .collect()
        .map_err(Error::polars(context))?;
    let (kinds, currencies, amounts) = (
        strings(&pos, lcol::ESTIMATE_KIND)?,
        strings(&pos, ucol::CURRENCY)?,
        floats(&pos, "positive")?,
    );
    let mut per_currency: BTreeMap<String, f64> = BTreeMap::new();
    let mut per_kind: HashMap<(String, String), f64> = HashMap::new();
    for ((k, c), a) in kinds.into_iter().zip(currencies).zip(amounts) {
        let a = a.unwrap_or(0.0);
        *per_currency.entry(c.clone()).or_default() += a;
        *per_kind.entry((k, c)).or_default() += a;
    }
    let mut found: HashMap<String, Figures> = figures_by(this.clone(), &[lcol::ESTIMATE_KIND])?
        .into_iter()
        .map(|(k, f)| (k.into_iter().next().unwrap_or_default(), f))
        .collect();
    let mut by_kind = Vec::new();
    // Every kind, in the ledger's order, also when the month has no row of it.
    for k in [kind::ESTIMATED, kind::RATIO, kind::EXCLUDED] {
        let figures = found.remove(k).unwrap_or_default();
        let positive_cost_share = per_currency
            .iter()
            .map(|(c, total)| Share {
                currency: c.clone(),
                share: (*total > 0.0).then(|| {
                    per_kind
                        .get(&(k.to_owned(), c.clone()))
                        .copied()
                        .unwrap_or(0.0)
                        / total
                }),
            })
            .collect();
        by_kind.push(KindQuality {
            kind: k.to_owned(),
            figures,
            positive_cost_share,
        });
    }
    let ratio_energy = by_kind
        .iter()
        .find(|k| k.kind == kind::RATIO)
        .map_or(0.0, |k| k.figures.energy_kwh);
    let excluded = figures_by(
        this.clone()
            .filter(col(lcol::ESTIMATE_KIND).eq(lit(kind::EXCLUDED)))
            .with_column(
                col(ucol::EXCLUSION_REASON)
                    .fill_null(lit("(no reason given)"))
                    .alias(ucol::EXCLUSION_REASON),
            ),
        &[ucol::EXCLUSION_REASON],
    )?
    .into_iter()
    .map(|(k, f)| Exclusion {
        reason: k.into_iter().next().unwrap_or_default(),
        rows: f.rows,
        cost: f.cost,
    })
    .collect::<Vec<_>>();
    let mut excluded = excluded;
    excluded.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.reason.cmp(&b.reason)));
    let no_energy = this.clone().filter(
        col(lcol::ESTIMATE_KIND)
            .eq(lit(kind::ESTIMATED))
            .and(col(lcol::ENERGY_KWH).fill_null(lit(0.0)).eq(lit(0.0))),
    );
    let without = figures_by(no_energy.clone(), &[])?
        .into_iter()
        .next()
        .map(|(_, f)| f)
        .unwrap_or_default();
    let ccf = figures_by(
        no_energy.filter(
            col(lcol::NOTES)
                .cast(DataType::String)
                .eq(lit(crate::estimate::CCF_NO_VCPUS_NOTE)),
        ),
        &[],
    )?
    .into_iter()
    .next()
    .map_or(0, |(_, f)| f.rows);
    let (uncertainty, uncertainty_note) = match uncertainty::range(this, sets)? {
        Ok(range) => (Some(range), None),
        Err(note) => (None, Some(note)),
    };
    Ok(DataQuality {
        by_kind,
        ratio_energy_share: (totals.energy_kwh > 0.0).then(|| ratio_energy / totals.energy_kwh),
        excluded,
        estimated_without_energy: Exclusion {
            reason: "estimated from usage with 0 kWh".into(),
            rows: without.rows,
            cost: without.cost,
        },
        ccf_no_vcpu_rows: ccf,
        uncertainty,
        uncertainty_note,
    })
}

fn goal_and_scope(
    this: &LazyFrame,
    month: Month,
    by_provider: &[Group],
    sets: Vec<(FactorSetInfo, Option<FactorSet>)>,
) -> Result<GoalAndScope, Error> {
    let context = "the report's goal and scope";
    let meta = this
        .clone()
        .select([col(ucol::USAGE_ACCOUNT)
            .n_unique()
            .cast(DataType::UInt64)
            .alias("accounts")])
        .collect()
        .map_err(Error::polars(context))?;
    let accounts = meta
        .column("accounts")
        .and_then(|c| c.u64().cloned())
        .map_err(Error::polars(context))?
        .get(0)
        .unwrap_or(0);
    let methods = this
        .clone()
        .select([col(lcol::METHOD)
            .cast(DataType::String)
            .unique()
            .sort(SortOptions::default())])
        .collect()
        .map_err(Error::polars(context))?;
    let methods = strings(&methods, lcol::METHOD)?;
    let grid = this
        .clone()
        .filter(col(lcol::GRID_KG_PER_KWH).is_not_null())
        .group_by([
            col(lcol::FACTOR_SET).cast(DataType::String),
            col(ucol::PROVIDER).cast(DataType::String),
            col(ucol::REGION).cast(DataType::String),
            col(lcol::GRID_YEAR),
            col(lcol::GRID_KG_PER_KWH),
        ])
        .agg([col(lcol::ENERGY_KWH).sum(), weighted_pue()])
        .sort(
            [ucol::PROVIDER, ucol::REGION, lcol::GRID_YEAR],
            SortMultipleOptions::default(),
        )
        .collect()
        .map_err(Error::polars(context))?;
    let (set_of, provider, region) = (
        strings(&grid, lcol::FACTOR_SET)?,
        strings(&grid, ucol::PROVIDER)?,
        strings(&grid, ucol::REGION)?,
    );
    let (year, factor, energy) = (
        floats(&grid, lcol::GRID_YEAR)?,
        floats(&grid, lcol::GRID_KG_PER_KWH)?,
        floats(&grid, lcol::ENERGY_KWH)?,
    );
    let grid_pue = floats(&grid, "pue")?;
    let resolved: HashMap<&str, &FactorSet> = sets
        .iter()
        .filter_map(|(info, set)| set.as_ref().map(|s| (info.label.as_str(), s)))
        .collect();
    let mut grid_factors = Vec::new();
    for i in 0..grid.height() {
        let year = year[i].unwrap_or(0.0) as i32;
        let source = resolved.get(set_of[i].as_str()).and_then(|set| {
            // Rows without a region were labelled `global`; the set knows them as unknown.
            let row = if region[i] == "global" {
                set.grid_location_unknown(&provider[i], year)
            } else {
                set.grid_location(&provider[i], &region[i], year)
                    .or_else(|| set.grid_location_unknown(&provider[i], year))
            };
            // The source only of the set's row with the ledger's value.
            let v = factor[i].unwrap_or(f64::NAN);
            row.filter(|f| (f.kg_per_kwh - v).abs() <= 1e-12 * v.abs().max(1.0))
                .map(|f| f.source.clone())
        });
        grid_factors.push(GridFactorUsed {
            factor_set: set_of[i].clone(),
            provider: provider[i].clone(),
            region: region[i].clone(),
            year,
            kg_per_kwh: factor[i].unwrap_or(0.0),
            energy_kwh: energy[i].unwrap_or(0.0),
            pue: grid_pue[i],
            source,
        });
    }
    let mut providers: Vec<String> = by_provider.iter().map(|g| g.key.clone()).collect();
    providers.sort();
    let pue = this
        .clone()
        .group_by([col(ucol::PROVIDER).cast(DataType::String)])
        .agg([
            weighted_pue(),
            when(col(lcol::PUE).is_not_null())
                .then(col(lcol::ENERGY_KWH).fill_null(lit(0.0)))
                .otherwise(lit(0.0))
                .sum()
                .alias("pue_kwh"),
        ])
        .sort([ucol::PROVIDER], SortMultipleOptions::default())
        .collect()
        .map_err(Error::polars(context))?;
    let (pue_provider, pue_value, pue_kwh) = (
        strings(&pue, ucol::PROVIDER)?,
        floats(&pue, "pue")?,
        floats(&pue, "pue_kwh")?,
    );
    let pue = (0..pue.height())
        .map(|i| PueApplied {
            provider: pue_provider[i].clone(),
            pue: pue_value[i],
            energy_kwh: pue_kwh[i].unwrap_or(0.0),
        })
        .collect();
    Ok(GoalAndScope {
        period_start: month.first_day().to_string(),
        period_end: month.end().to_string(),
        providers,
        accounts,
        methods,
        factor_sets: sets.into_iter().map(|(info, _)| info).collect(),
        grid_factors,
        pue,
    })
}

/// `Σ pue × energy_kwh / Σ energy_kwh` over the rows with a PUE and energy, as `pue`; null
/// when there are none.
fn weighted_pue() -> Expr {
    let has = col(lcol::PUE)
        .is_not_null()
        .and(col(lcol::ENERGY_KWH).fill_null(lit(0.0)).gt(lit(0.0)));
    let kwh = when(has.clone())
        .then(col(lcol::ENERGY_KWH))
        .otherwise(lit(0.0))
        .sum();
    let weighted = when(has)
        .then(col(lcol::PUE) * col(lcol::ENERGY_KWH))
        .otherwise(lit(0.0))
        .sum();
    when(kwh.clone().gt(lit(0.0)))
        .then(weighted / kwh)
        .otherwise(lit(NULL).cast(DataType::Float64))
        .alias("pue")
}

/// Writes `report.html`, `report.csv` and `report.json` into `dir` (created if missing), all
/// three written aside before any is renamed, and returns their paths.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<std::path::PathBuf>, Error> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| Error::Output { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let json = serde_json::to_string_pretty(report).map_err(|e| Error::Output {
        path: dir.join("report.json").display().to_string(),
        source: std::io::Error::other(e),
    })?;
    let csv = csv::render(report).map_err(|e| Error::Output {
        path: dir.join("report.csv").display().to_string(),
        source: std::io::Error::other(e),
    })?;
    let files = [
        ("report.html", html::render(report)),
        ("report.csv", csv),
        ("report.json", json + "\n"),
    ];
    // Every file is written aside first, then the three are renamed: a failed write leaves
    // the previous report whole. (The renames themselves are three steps; a crash between
    // them can still leave files of two runs, a known shortcoming.)
    let mut temps = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
        std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(io(&path))?;
        // A report is for reading: rw-r--r-- (umask permitting), not the temp file's rw-------.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::Permissions::from_mode(0o644);
            temp.as_file().set_permissions(mode).map_err(io(&path))?;
        }
        temps.push((temp, path));
    }
    let mut written = Vec::new();
    for (temp, path) in temps {
        temp.persist(&path).map_err(|e| io(&path)(e.error))?;
        written.push(path);
    }
    Ok(written)
}
