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
//! * **Market-based Scope 2** (GHG Protocol dual reporting): the ledger has no market factor
//!   for AWS and Azure (null `scope2_market_kg`). The report never reads a null as 0. It gives
//!   `scope2_market_kg_covered` (the sum over rows with a market factor) with
//!   `market_coverage` (the share of kWh those rows carry), and
//!   `scope2_market_kg_with_fallback`, where rows without a market factor take their
//!   location-based value (grid average, the fallback of the Scope 2 Guidance's hierarchy
//!   when no residual mix is known). The HTML labels both and prints the coverage.
//! * **Uncertainty** ([`uncertainty`]): a bound, not a confidence interval. The method assumes
//!   the factor set's CPU utilisation (`cpu_utilization_percent`) because bills do not say;
//!   the range lets CPU and GPU energy go from idle to full-load watts (the widest ratio
//!   over the set's `cpu_watts.csv` / `gpu_watts.csv` rows), and lets rows estimated by ratio
//!   go from 0 to twice their value (a cost ratio says nothing physical about the usage).
//!   Memory, storage, network, grid factors and embodied emissions are taken as point values:
//!   their tables carry no ranges (a known shortcoming, said in the report).
//! * **Movers**: the services and accounts whose emissions changed most (absolute kg CO2e)
//!   against the previous month; the relative change is null when the previous month had 0.
//!   With no previous month in the ledger the list is empty and `previous_in_ledger` false.
//! * **Trend**: the 12 months ending at the report's month; a month without ledger rows has
//!   `rows` 0 and no figures (a gap in the chart, listed under the chart), never a 0.
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
    pub totals: Figures,
    pub by_provider: Vec<Group>,
    pub by_region: Vec<Group>,
    pub by_service: Vec<Group>,
    pub by_account: Vec<Group>,
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

/// The figures of one provider, region, service or account.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The value (`global` for rows without a region, `(none)` for rows without an account).
    pub key: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// One month of the trend.
#[derive(Debug, Clone, Serialize)]
pub struct TrendMonth {
    pub month: String,
    pub rows: u64,
    /// Null when the ledger has no row of the month.
    pub figures: Option<Figures>,
}

/// The biggest changes against the previous month.
#[derive(Debug, Clone, Serialize)]
pub struct Movers {
    pub previous_month: String,
    /// Whether the ledger has rows of the previous month at all.
    pub previous_in_ledger: bool,
    pub by_service: Vec<Mover>,
    pub by_account: Vec<Mover>,
}

/// One group's emissions (kg CO2e) this month and the previous one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mover {
    pub key: String,
    pub current_kg: f64,
    pub previous_kg: f64,
    /// `current_kg - previous_kg`.
    pub change_kg: f64,
    /// `change_kg / previous_kg × 100`; null when `previous_kg` is 0.
    pub change_percent: Option<f64>,
}

/// Emissions per unit of cost, within one currency (and provider, or `all`).
#[derive(Debug, Clone, Serialize)]
pub struct Intensity {
    pub currency: String,
    pub provider: String,
    pub cost: f64,
    /// kg CO2e (Scope 2 location-based + Scope 3) of the rows in this currency.
    pub emissions_kg: f64,
    /// kg CO2e per unit of `currency`; null unless `cost` is positive.
    pub kg_per_cost: Option<f64>,
}

/// How much of the month is estimated, estimated by ratio or excluded, and how sure it is.
#[derive(Debug, Clone, Serialize)]
pub struct DataQuality {
    pub by_kind: Vec<KindQuality>,
    /// Share of the month's kWh that comes from rows estimated by ratio; null without energy.
    pub ratio_energy_share: Option<f64>,
    pub excluded: Vec<Exclusion>,
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
    /// The factor's `source`, from the set's `grid_location.csv`; null when the set is not
    /// resolved.
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
        lcol::GRID_KG_PER_KWH,
        lcol::GRID_YEAR,
        lcol::SCOPE2_LOCATION_KG,
        lcol::SCOPE2_MARKET_KG,
        lcol::SCOPE3_EMBODIED_KG,
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
    let group = |column: &str| -> Result<Vec<Group>, Error> {
        Ok(figures_by(this.clone(), &[column])?
            .into_iter()
            .map(|(k, figures)| Group {
                key: k.into_iter().next().unwrap_or_default(),
                figures,
            })
            .collect())
    };
    let by_provider = group(ucol::PROVIDER)?;
    let by_region = group(ucol::REGION)?;
    let by_service = group(ucol::SERVICE)?;
    let by_account = group(ucol::USAGE_ACCOUNT)?;

    let mut per_month: HashMap<String, Figures> = figures_by(ledger.clone(), &["month"])?
        .into_iter()
        .map(|(k, f)| (k.into_iter().next().unwrap_or_default(), f))
        .collect();
    let trend = window_names
        .iter()
        .map(|m| {
            let figures = per_month.remove(m);
            TrendMonth {
                month: m.clone(),
                rows: figures.as_ref().map_or(0, |f| f.rows),
                figures,
            }
        })
        .collect::<Vec<_>>();
    let previous_in_ledger = trend.iter().any(|t| t.month == previous && t.rows > 0);
    let last = ledger
        .clone()
        .filter(col("month").eq(lit(previous.clone())));
    let movers = Movers {
        previous_month: previous.clone(),
        previous_in_ledger,
        by_service: if previous_in_ledger {
            movers(&by_service, figures_by(last.clone(), &[ucol::SERVICE])?)
        } else {
            Vec::new()
        },
        by_account: if previous_in_ledger {
            movers(&by_account, figures_by(last, &[ucol::USAGE_ACCOUNT])?)
        } else {
            Vec::new()
        },
    };

    let intensity = intensity(&this)?;
    let sets = resolve_sets(&this, request.factors)?;
    let data_quality = data_quality(&this, &totals, &sets)?;
    let goal_and_scope = goal_and_scope(&this, request.month, &by_provider, sets)?;
    Ok(Report {
        month,
        previous_month: previous,
        generated_by: format!("carbonledger {}", env!("CARGO_PKG_VERSION")),
        totals,
        by_provider,
        by_region,
        by_service,
        by_account,
        trend,
        movers,
        intensity,
        data_quality,
        goal_and_scope,
    })
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

/// The groups whose emissions changed most, by absolute change, largest first.
fn movers(current: &[Group], previous: Vec<(Vec<String>, Figures)>) -> Vec<Mover> {
    let mut both: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for g in current {
        both.entry(g.key.clone()).or_default().0 = g.figures.emissions_kg;
    }
    for (key, f) in previous {
        both.entry(key.into_iter().next().unwrap_or_default())
            .or_default()
            .1 = f.emissions_kg;
    }
    let mut out: Vec<Mover> = both
        .into_iter()
        .map(|(key, (current_kg, previous_kg))| {
            let change_kg = current_kg - previous_kg;
            Mover {
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
            .then_with(|| a.key.cmp(&b.key))
    });
    out.truncate(MOVERS);
    out
}

/// Emissions per unit of cost per currency, over all providers and per provider. The
/// emissions of a currency are those of the rows billed in it.
fn intensity(this: &LazyFrame) -> Result<Vec<Intensity>, Error> {
    let emissions = (col(lcol::SCOPE2_LOCATION_KG).fill_null(lit(0.0))
        + col(lcol::SCOPE3_EMBODIED_KG).fill_null(lit(0.0)))
    .sum()
    .alias("emissions_kg");
    let by = |keys: Vec<Expr>| -> Result<DataFrame, Error> {
        this.clone()
            .group_by(keys)
            .agg([emissions.clone(), col(ucol::COST).sum()])
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
        for i in 0..df.height() {
            let (kg, cost) = (kg[i].unwrap_or(0.0), cost[i].unwrap_or(0.0));
            out.push(Intensity {
                currency: currencies[i].clone(),
                provider: providers[i].clone(),
                cost,
                emissions_kg: kg,
                kg_per_cost: (cost > 0.0).then(|| kg / cost),
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
    let (uncertainty, uncertainty_note) = match uncertainty::range(this, sets)? {
        Ok(range) => (Some(range), None),
        Err(note) => (None, Some(note)),
    };
    Ok(DataQuality {
        by_kind,
        ratio_energy_share: (totals.energy_kwh > 0.0).then(|| ratio_energy / totals.energy_kwh),
        excluded,
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
        .agg([col(lcol::ENERGY_KWH).sum()])
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
    let resolved: HashMap<&str, &FactorSet> = sets
        .iter()
        .filter_map(|(info, set)| set.as_ref().map(|s| (info.label.as_str(), s)))
        .collect();
    let mut grid_factors = Vec::new();
    for i in 0..grid.height() {
        let year = year[i].unwrap_or(0.0) as i32;
        let source = resolved.get(set_of[i].as_str()).and_then(|set| {
            // Rows without a region were labelled `global`; the set knows them as unknown.
            let factor = if region[i] == "global" {
                set.grid_location_unknown(&provider[i], year)
            } else {
                set.grid_location(&provider[i], &region[i], year)
                    .or_else(|| set.grid_location_unknown(&provider[i], year))
            };
            factor.map(|f| f.source.clone())
        });
        grid_factors.push(GridFactorUsed {
            factor_set: set_of[i].clone(),
            provider: provider[i].clone(),
            region: region[i].clone(),
            year,
            kg_per_kwh: factor[i].unwrap_or(0.0),
            energy_kwh: energy[i].unwrap_or(0.0),
            source,
        });
    }
    let mut providers: Vec<String> = by_provider.iter().map(|g| g.key.clone()).collect();
    providers.sort();
    Ok(GoalAndScope {
        period_start: month.first_day().to_string(),
        period_end: month.end().to_string(),
        providers,
        accounts,
        methods,
        factor_sets: sets.into_iter().map(|(info, _)| info).collect(),
        grid_factors,
    })
}

/// Writes `report.html`, `report.csv` and `report.json` into `dir` (created if missing), each
/// written aside and renamed, and returns their paths.
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
    let mut written = Vec::new();
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
        temp.persist(&path).map_err(|e| io(&path)(e.error))?;
        written.push(path);
    }
    Ok(written)
}
