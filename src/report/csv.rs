//! `report.csv`: the report's figures in long format, one figure a line:
//! `section,dimension,key,metric,value,unit`.
//!
//! Every (section, dimension, key, metric) is on one line only.
//!
//! Sections (dimension: keys — metrics):
//!
//! * `report` (`month`: the report's `YYYY-MM`) — `complete` (1 or 0, unit `flag`),
//!   `days_covered`, `days_in_month` (unit `days`); (`previous_month`: `YYYY-MM`) —
//!   `in_ledger` (`flag`); (`warning`: each warning's text) — `warning`, empty value;
//! * `completeness` (`provider`: each provider of the month) — `complete`, `days_covered`,
//!   `days_in_month`;
//! * `totals` (`all`: `all`) — the [`Figures`] below;
//! * `by_provider` (`provider`), `by_region`, `by_service`, `by_account` (`provider/region`,
//!   `provider/service`, `provider/account`: e.g. `aws/global`) — [`Figures`];
//! * `by_account_service_region` (`provider/account/service/region`) — [`Figures`];
//! * `trend` (`month`: `YYYY-MM`) — `rows`, then, when the month has rows, `complete`,
//!   `days_covered` and [`Figures`];
//! * `movers_service`, `movers_account` (`provider/service`, `provider/account`: e.g.
//!   `aws/AmazonEC2`) — `current_kg`, `previous_kg`, `change_kg`, `change_percent`;
//!   `movers_not_compared` (`provider`: each provider left out) — `not_compared`, empty value,
//!   the reason as unit;
//! * `intensity` (`currency/provider`: e.g. `USD/all`, `USD/aws`) — `cost`, `estimated_cost`
//!   (unit: the currency), `emissions_kg`, `kg_per_cost` (over all cost) and
//!   `kg_per_estimated_cost` (over the cost of rows estimated from usage or by ratio; unit
//!   `kg CO2e per USD`, …);
//! * `data_quality` (`estimate_kind`: `estimated`, `ratio`, `excluded`) — [`Figures`] and
//!   `positive_cost_share_USD`, … per currency; (`all`: `all`) — `ratio_energy_share`;
//!   (`estimated_without_energy`: `all`) — `rows`, `cost_USD`…, `ccf_no_vcpu_rows`: rows of
//!   kind `estimated` with 0 kWh, of which CCF compute lines with no vCPU count;
//! * `excluded` (`exclusion_reason`: each reason) — `rows`, `cost_USD`, … per currency;
//! * `uncertainty` (`all`: `all`) — `energy_low_kwh`, `energy_high_kwh`,
//!   `scope2_location_low_kg`, `scope2_location_high_kg`,
//!   `scope2_market_with_fallback_low_kg`, `scope2_market_with_fallback_high_kg`,
//!   `scope3_embodied_low_kg`, `scope3_embodied_high_kg`, `emissions_low_kg`,
//!   `emissions_high_kg`, `ratio_rows_unbounded`, `ratio_unbounded_kwh`, `excluded_rows`;
//!   (`currency/provider`: each ratio bound) — `kwh_per_cost_low`, `kwh_per_cost_high`;
//! * `factor_sets` (`factor_set`: `name version`) — `rows`;
//! * `grid_factors` (`factor_set/provider/region/year/kg_per_kwh`: e.g.
//!   `default carbonledger-2026.12/gcp/us-central1/2024/0.456`) — `kg_per_kwh`,
//!   `energy_kwh`, `pue` (the kWh-weighted PUE of the rows);
//! * `pue` (`provider`: each provider) — `pue` (unit `ratio`), `energy_kwh` (of the rows with
//!   a PUE).
//!
//! [`Figures`] are `rows`, `energy_kwh`, `scope2_location_kg`, `scope2_market_kg_covered`,
//! `market_covered_energy_kwh`, `market_coverage`, `scope2_market_kg_with_fallback`,
//! `scope3_embodied_kg`, `emissions_kg` and one `cost_<currency>` line per currency (e.g.
//! `cost_USD`, unit `USD`). An unknown value (null in the JSON) is an empty `value`.
//! Numbers are written in Rust's shortest form that reads back to the same binary value, as
//! in the JSON.

use super::{Cost, Figures, Report};

/// One line of the CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub section: String,
    pub dimension: String,
    pub key: String,
    pub metric: String,
    pub value: Option<f64>,
    pub unit: String,
}

const KWH: &str = "kWh";
const KG: &str = "kg CO2e";
const SHARE: &str = "share";
const ROWS: &str = "rows";
const DAYS: &str = "days";
const RATIO: &str = "ratio";

/// Every figure of the report, in the order of the table above.
pub fn lines(report: &Report) -> Vec<Line> {
    let mut out = Vec::new();
    let mut push = |s: &str, d: &str, k: &str, m: &str, v: Option<f64>, u: &str| {
        out.push(Line {
            section: s.into(),
            dimension: d.into(),
            key: k.into(),
            metric: m.into(),
            value: v,
            unit: u.into(),
        });
    };
    let flag = |b: bool| Some(if b { 1.0 } else { 0.0 });
    let m = report.month.as_str();
    push(
        "report",
        "month",
        m,
        "complete",
        flag(report.complete),
        "flag",
    );
    push(
        "report",
        "month",
        m,
        "days_covered",
        Some(report.days_covered),
        DAYS,
    );
    let days_in_month = report.completeness.first().map(|c| c.days_in_month);
    push("report", "month", m, "days_in_month", days_in_month, DAYS);
    push(
        "report",
        "previous_month",
        &report.previous_month,
        "in_ledger",
        flag(report.movers.previous_in_ledger),
        "flag",
    );
    for w in &report.warnings {
        push("report", "warning", w, "warning", None, "text");
    }
    for c in &report.completeness {
        let p = c.provider.as_str();
        push(
            "completeness",
            "provider",
            p,
            "complete",
            flag(c.complete),
            "flag",
        );
        push(
            "completeness",
            "provider",
            p,
            "days_covered",
            Some(c.days_covered),
            DAYS,
        );
        push(
            "completeness",
            "provider",
            p,
            "days_in_month",
            Some(c.days_in_month),
            DAYS,
        );
    }
    figures(&mut push, "totals", "all", "all", &report.totals);
    let groups = [
        ("by_provider", "provider", &report.by_provider),
        ("by_region", "provider/region", &report.by_region),
        ("by_service", "provider/service", &report.by_service),
        ("by_account", "provider/account", &report.by_account),
    ];
    for (section, dimension, groups) in groups {
        for g in groups {
            let key = match &g.provider {
                Some(p) => format!("{p}/{}", g.key),
                None => g.key.clone(),
            };
            figures(&mut push, section, dimension, &key, &g.figures);
        }
    }
    for d in &report.by_account_service_region {
        let key = format!("{}/{}/{}/{}", d.provider, d.account, d.service, d.region);
        let dimension = "provider/account/service/region";
        figures(
            &mut push,
            "by_account_service_region",
            dimension,
            &key,
            &d.figures,
        );
    }
    for t in &report.trend {
        push(
            "trend",
            "month",
            &t.month,
            "rows",
            Some(t.rows as f64),
            ROWS,
        );
        if let Some(c) = t.complete {
            push("trend", "month", &t.month, "complete", flag(c), "flag");
        }
        if let Some(d) = t.days_covered {
            push("trend", "month", &t.month, "days_covered", Some(d), DAYS);
        }
        if let Some(f) = &t.figures {
            figures_after_rows(&mut push, "trend", "month", &t.month, f);
        }
    }
    let movers = [
        (
            "movers_service",
            "provider/service",
            &report.movers.by_service,
        ),
        (
            "movers_account",
            "provider/account",
            &report.movers.by_account,
        ),
    ];
    for (section, dimension, movers) in movers {
        for m in movers {
            let key = format!("{}/{}", m.provider, m.key);
            let m = &super::Mover { key, ..m.clone() };
            push(
                section,
                dimension,
                &m.key,
                "current_kg",
                Some(m.current_kg),
                KG,
            );
            push(
                section,
                dimension,
                &m.key,
                "previous_kg",
                Some(m.previous_kg),
                KG,
            );
            push(
                section,
                dimension,
                &m.key,
                "change_kg",
                Some(m.change_kg),
                KG,
            );
            push(
                section,
                dimension,
                &m.key,
                "change_percent",
                m.change_percent,
                "percent",
            );
        }
    }
    for n in &report.movers.not_compared {
        push(
            "movers_not_compared",
            "provider",
            &n.provider,
            "not_compared",
            None,
            &n.reason,
        );
    }
    for i in &report.intensity {
        let per = format!("{KG} per {}", i.currency);
        let key = format!("{}/{}", i.currency, i.provider);
        let d = "currency/provider";
        push("intensity", d, &key, "cost", Some(i.cost), &i.currency);
        let estimated = Some(i.estimated_cost);
        push(
            "intensity",
            d,
            &key,
            "estimated_cost",
            estimated,
            &i.currency,
        );
        push(
            "intensity",
            d,
            &key,
            "emissions_kg",
            Some(i.emissions_kg),
            KG,
        );
        push("intensity", d, &key, "kg_per_cost", i.kg_per_cost, &per);
        let per_estimated = i.kg_per_estimated_cost;
        push(
            "intensity",
            d,
            &key,
            "kg_per_estimated_cost",
            per_estimated,
            &per,
        );
    }
    let q = &report.data_quality;
    for k in &q.by_kind {
        figures(
            &mut push,
            "data_quality",
            "estimate_kind",
            &k.kind,
            &k.figures,
        );
        for s in &k.positive_cost_share {
            let unit = format!("share of positive {} cost", s.currency);
            let metric = format!("positive_cost_share_{}", s.currency);
            push(
                "data_quality",
                "estimate_kind",
                &k.kind,
                &metric,
                s.share,
                &unit,
            );
        }
    }
    push(
        "data_quality",
        "all",
        "all",
        "ratio_energy_share",
        q.ratio_energy_share,
        SHARE,
    );
    for e in &q.excluded {
        push(
            "excluded",
            "exclusion_reason",
            &e.reason,
            "rows",
            Some(e.rows as f64),
            ROWS,
        );
        costs(
            &mut push,
            "excluded",
            "exclusion_reason",
            &e.reason,
            &e.cost,
        );
    }
    let w = &q.estimated_without_energy;
    let d = "estimated_without_energy";
    push("data_quality", d, "all", "rows", Some(w.rows as f64), ROWS);
    costs(&mut push, "data_quality", d, "all", &w.cost);
    let ccf = Some(q.ccf_no_vcpu_rows as f64);
    push("data_quality", d, "all", "ccf_no_vcpu_rows", ccf, ROWS);
    if let Some(r) = &q.uncertainty {
        let figures = [
            ("energy_low_kwh", r.energy_low_kwh, KWH),
            ("energy_high_kwh", r.energy_high_kwh, KWH),
            ("scope2_location_low_kg", r.scope2_location_low_kg, KG),
            ("scope2_location_high_kg", r.scope2_location_high_kg, KG),
            (
                "scope2_market_with_fallback_low_kg",
                r.scope2_market_with_fallback_low_kg,
                KG,
            ),
            (
                "scope2_market_with_fallback_high_kg",
                r.scope2_market_with_fallback_high_kg,
                KG,
            ),
            ("scope3_embodied_low_kg", r.scope3_embodied_low_kg, KG),
            ("scope3_embodied_high_kg", r.scope3_embodied_high_kg, KG),
            ("emissions_low_kg", r.emissions_low_kg, KG),
            ("emissions_high_kg", r.emissions_high_kg, KG),
            ("ratio_rows_unbounded", r.ratio_rows_unbounded as f64, ROWS),
            ("ratio_unbounded_kwh", r.ratio_unbounded_kwh, KWH),
            ("excluded_rows", r.excluded_rows as f64, ROWS),
        ];
        for (metric, value, unit) in figures {
            push("uncertainty", "all", "all", metric, Some(value), unit);
        }
        for b in &r.ratio_bounds {
            let key = format!("{}/{}", b.currency, b.provider);
            let unit = format!("kWh per {}", b.currency);
            let d = "currency/provider";
            let (lo, hi) = (Some(b.kwh_per_cost_low), Some(b.kwh_per_cost_high));
            push("uncertainty", d, &key, "kwh_per_cost_low", lo, &unit);
            push("uncertainty", d, &key, "kwh_per_cost_high", hi, &unit);
        }
    }
    for s in &report.goal_and_scope.factor_sets {
        push(
            "factor_sets",
            "factor_set",
            &s.label,
            "rows",
            Some(s.rows as f64),
            ROWS,
        );
    }
    for g in &report.goal_and_scope.grid_factors {
        let key = format!(
            "{}/{}/{}/{}/{}",
            g.factor_set, g.provider, g.region, g.year, g.kg_per_kwh
        );
        let d = "factor_set/provider/region/year/kg_per_kwh";
        let per = "kg CO2e per kWh";
        push(
            "grid_factors",
            d,
            &key,
            "kg_per_kwh",
            Some(g.kg_per_kwh),
            per,
        );
        push(
            "grid_factors",
            d,
            &key,
            "energy_kwh",
            Some(g.energy_kwh),
            KWH,
        );
        push("grid_factors", d, &key, "pue", g.pue, RATIO);
    }
    for p in &report.goal_and_scope.pue {
        push("pue", "provider", &p.provider, "pue", p.pue, RATIO);
        let kwh = Some(p.energy_kwh);
        push("pue", "provider", &p.provider, "energy_kwh", kwh, KWH);
    }
    out
}

type Push<'a> = dyn FnMut(&str, &str, &str, &str, Option<f64>, &str) + 'a;

fn figures(push: &mut Push<'_>, s: &str, d: &str, k: &str, f: &Figures) {
    push(s, d, k, "rows", Some(f.rows as f64), ROWS);
    figures_after_rows(push, s, d, k, f);
}

fn figures_after_rows(push: &mut Push<'_>, s: &str, d: &str, k: &str, f: &Figures) {
    push(s, d, k, "energy_kwh", Some(f.energy_kwh), KWH);
    push(
        s,
        d,
        k,
        "scope2_location_kg",
        Some(f.scope2_location_kg),
        KG,
    );
    push(
        s,
        d,
        k,
        "scope2_market_kg_covered",
        Some(f.scope2_market_kg_covered),
        KG,
    );
    let covered = Some(f.market_covered_energy_kwh);
    push(s, d, k, "market_covered_energy_kwh", covered, KWH);
    push(s, d, k, "market_coverage", f.market_coverage, SHARE);
    let fallback = Some(f.scope2_market_kg_with_fallback);
    push(s, d, k, "scope2_market_kg_with_fallback", fallback, KG);
    push(
        s,
        d,
        k,
        "scope3_embodied_kg",
        Some(f.scope3_embodied_kg),
        KG,
    );
    push(s, d, k, "emissions_kg", Some(f.emissions_kg), KG);
    costs(push, s, d, k, &f.cost);
}

fn costs(push: &mut Push<'_>, s: &str, d: &str, k: &str, cost: &[Cost]) {
    for c in cost {
        let metric = format!("cost_{}", c.currency);
        push(s, d, k, &metric, Some(c.amount), &c.currency);
    }
}

/// The CSV text, header first.
pub fn render(report: &Report) -> Result<String, ::csv::Error> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(["section", "dimension", "key", "metric", "value", "unit"])?;
    for l in lines(report) {
        let value = l.value.map(|v| v.to_string()).unwrap_or_default();
        w.write_record([&l.section, &l.dimension, &l.key, &l.metric, &value, &l.unit])?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ::csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
