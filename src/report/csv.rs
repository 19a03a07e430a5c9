//! `report.csv`: the report's figures in long format, one figure a line:
//! `section,dimension,key,metric,value,unit`.
//!
//! Sections (dimension: keys — metrics):
//!
//! * `totals` (`all`: `all`) — the [`Figures`] below;
//! * `by_provider`, `by_region`, `by_service`, `by_account` (`provider`, `region`,
//!   `service`, `account`: each group) — [`Figures`];
//! * `trend` (`month`: `YYYY-MM`) — `rows`, then [`Figures`] when the month has rows;
//! * `movers_service`, `movers_account` (`service`, `account`: each mover) — `current_kg`,
//!   `previous_kg`, `change_kg`, `change_percent`;
//! * `intensity` (`provider`: `all` or a provider) — `cost`, `emissions_kg`, `kg_per_cost`
//!   (unit `kg CO2e per USD`, …), one set per currency;
//! * `data_quality` (`estimate_kind`: `estimated`, `ratio`, `excluded`) — [`Figures`] and
//!   `positive_cost_share` per currency; (`all`: `all`) — `ratio_energy_share`;
//! * `excluded` (`exclusion_reason`: each reason) — `rows`, `cost` per currency;
//! * `uncertainty` (`all`: `all`) — `energy_low_kwh`, `energy_high_kwh`,
//!   `scope2_location_low_kg`, `scope2_location_high_kg`, `emissions_low_kg`,
//!   `emissions_high_kg`;
//! * `factor_sets` (`factor_set`: `name version`) — `rows`;
//! * `grid_factors` (`provider/region/year`: e.g. `gcp/us-central1/2024`) — `kg_per_kwh`,
//!   `energy_kwh`.
//!
//! [`Figures`] are `rows`, `energy_kwh`, `scope2_location_kg`, `scope2_market_kg_covered`,
//! `market_covered_energy_kwh`, `market_coverage`, `scope2_market_kg_with_fallback`,
//! `scope3_embodied_kg`, `emissions_kg` and one `cost` line per currency (unit: the
//! currency). An unknown value (null in the JSON) is an empty `value`. Numbers are written in
//! Rust's shortest form that reads back to the same binary value, as in the JSON.

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
    figures(&mut push, "totals", "all", "all", &report.totals);
    let groups = [
        ("by_provider", "provider", &report.by_provider),
        ("by_region", "region", &report.by_region),
        ("by_service", "service", &report.by_service),
        ("by_account", "account", &report.by_account),
    ];
    for (section, dimension, groups) in groups {
        for g in groups {
            figures(&mut push, section, dimension, &g.key, &g.figures);
        }
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
        if let Some(f) = &t.figures {
            figures_after_rows(&mut push, "trend", "month", &t.month, f);
        }
    }
    let movers = [
        ("movers_service", "service", &report.movers.by_service),
        ("movers_account", "account", &report.movers.by_account),
    ];
    for (section, dimension, movers) in movers {
        for m in movers {
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
    for i in &report.intensity {
        let per = format!("{KG} per {}", i.currency);
        push(
            "intensity",
            "provider",
            &i.provider,
            "cost",
            Some(i.cost),
            &i.currency,
        );
        push(
            "intensity",
            "provider",
            &i.provider,
            "emissions_kg",
            Some(i.emissions_kg),
            KG,
        );
        push(
            "intensity",
            "provider",
            &i.provider,
            "kg_per_cost",
            i.kg_per_cost,
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
            push(
                "data_quality",
                "estimate_kind",
                &k.kind,
                "positive_cost_share",
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
    if let Some(r) = &q.uncertainty {
        let figures = [
            ("energy_low_kwh", r.energy_low_kwh, KWH),
            ("energy_high_kwh", r.energy_high_kwh, KWH),
            ("scope2_location_low_kg", r.scope2_location_low_kg, KG),
            ("scope2_location_high_kg", r.scope2_location_high_kg, KG),
            ("emissions_low_kg", r.emissions_low_kg, KG),
            ("emissions_high_kg", r.emissions_high_kg, KG),
        ];
        for (metric, value, unit) in figures {
            push("uncertainty", "all", "all", metric, Some(value), unit);
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
        let key = format!("{}/{}/{}", g.provider, g.region, g.year);
        let per = "kg CO2e per kWh";
        push(
            "grid_factors",
            "provider/region/year",
            &key,
            "kg_per_kwh",
            Some(g.kg_per_kwh),
            per,
        );
        push(
            "grid_factors",
            "provider/region/year",
            &key,
            "energy_kwh",
            Some(g.energy_kwh),
            KWH,
        );
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
        push(s, d, k, "cost", Some(c.amount), &c.currency);
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
