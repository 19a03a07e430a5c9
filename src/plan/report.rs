//! What `plan estimate` and `plan compare` print: an aligned text report for people (stdout),
//! or JSON (`--format json`) with every figure of [`Assessment`] in its unit (kWh, kg CO2e,
//! hours, cost in its currency). An unknown figure (no market factor, no price) is printed as
//! `unknown` and is `null` in JSON, never 0.

use serde::Serialize;

use super::assess::Assessment;
use super::spec::PlanKind;
use crate::Error;

/// A number for people: grouped thousands above 1,000, else four significant digits (in
/// scientific notation below 0.0001, so a tiny figure never prints as 0).
pub fn num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 1e15 {
        return format!("{v:.3e}");
    }
    if a >= 1000.0 || v.fract() == 0.0 {
        return super::assess::format_count(v.round());
    }
    if a < 1e-4 {
        return format!("{v:.3e}");
    }
    let digits = (3 - a.log10().floor() as i32).max(0) as usize;
    format!("{v:.digits$}")
}

fn opt(v: Option<f64>, unit: &str) -> String {
    match v {
        Some(v) => format!("{} {unit}", num(v)),
        None => "unknown".into(),
    }
}

/// The text report of one plan.
pub fn estimate_text(a: &Assessment) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("  {label:<32} {value}\n"));
    };
    let on = match (&a.instance_type, &a.gpu_model) {
        (Some(t), _) => t.clone(),
        (None, Some(g)) => format!("bare {g} GPUs"),
        (None, None) => "?".into(),
    };
    let head = format!(
        "{} ({})\n{} on {} {on} in {}; factor set {} (method {}), factor year {}\n\nper {}\n",
        a.name,
        a.file,
        a.kind.as_str(),
        a.provider,
        a.region,
        a.factor_set,
        a.method,
        a.year,
        a.period
    );
    let cur = a.currency.clone().unwrap_or_default();
    line("instance-hours", num(a.instance_hours));
    line("GPU-hours", num(a.gpu_hours));
    line(
        "energy",
        format!(
            "{} kWh ({}, PUE {})",
            num(a.energy_kwh),
            a.energy_source,
            a.pue
        ),
    );
    line("  CPU (computed)", format!("{} kWh", num(a.cpu_kwh)));
    line("  GPU (computed)", format!("{} kWh", num(a.gpu_kwh)));
    line("  memory (computed)", format!("{} kWh", num(a.memory_kwh)));
    line(
        "Scope 2 location-based",
        format!("{} kg CO2e", num(a.scope2_location_kg)),
    );
    line("Scope 2 market-based", opt(a.scope2_market_kg, "kg CO2e"));
    line(
        "Scope 3 embodied",
        format!("{} kg CO2e", num(a.scope3_embodied_kg)),
    );
    line(
        "total (location + embodied)",
        format!("{} kg CO2e", num(a.total_kg)),
    );
    line("cost", opt(a.cost, &cur));
    if let Some(c) = &a.carbon_cost {
        line(
            "carbon cost",
            format!(
                "{} {} (at {} {} per t CO2e)",
                num(c.amount),
                c.currency,
                num(c.price_per_tonne),
                c.currency
            ),
        );
    }
    line(
        &format!("SCI per {}", a.functional_unit),
        format!("{} kg CO2e", num(a.sci_kg_per_unit)),
    );
    line(
        &format!("market-based per {}", a.functional_unit),
        opt(a.market_kg_per_unit, "kg CO2e"),
    );
    if let Some(years) = a.service_years {
        line(
            &format!("over {} years: total", num(years)),
            format!("{} t CO2e", num(a.total_kg * years / 1000.0)),
        );
        line(
            &format!("over {} years: cost", num(years)),
            opt(a.cost.map(|c| c * years), &cur),
        );
    }
    let mut text = head;
    text.push_str(&out);
    text.push_str(&format!("price: {}\n", a.price.describe()));
    text.push_str("assumptions:\n");
    for s in &a.assumptions {
        text.push_str(&format!("  - {s}\n"));
    }
    text
}

/// One figure of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub figure: String,
    pub a: Option<f64>,
    pub b: Option<f64>,
    /// b − a.
    pub difference: Option<f64>,
    /// (b − a) / a × 100.
    pub change_percent: Option<f64>,
}

/// Whether `a` and `b` can be put side by side: the same kind and the same functional unit
/// (SCI figures per different R are not comparable; the gate's baseline rule is the same).
pub fn comparable(a: &Assessment, b: &Assessment) -> Result<(), Error> {
    if a.kind != b.kind || a.functional_unit != b.functional_unit {
        return Err(Error::Plan(format!(
            "{} is a {} plan per {} and {} a {} plan per {}: compare two plans of the same \
             kind and functional unit (`requests_per_unit`)",
            a.file,
            a.kind.as_str(),
            a.functional_unit,
            b.file,
            b.kind.as_str(),
            b.functional_unit
        )));
    }
    Ok(())
}

/// The figures `plan compare` shows, per period (t CO2e for inference, kg for training).
pub fn figures(a: &Assessment, b: &Assessment) -> Vec<Figure> {
    let (mass, scale) = match a.kind {
        PlanKind::Inference => ("t CO2e", 1000.0),
        PlanKind::Training => ("kg CO2e", 1.0),
    };
    let per = a.period;
    let cur = a
        .currency
        .clone()
        .or(b.currency.clone())
        .unwrap_or_default();
    let same_currency = a.currency == b.currency;
    let mut rows = vec![
        (
            format!("instance-hours (/{per})"),
            Some(a.instance_hours),
            Some(b.instance_hours),
        ),
        (
            "GPU utilisation (%)".to_owned(),
            Some(a.gpu_utilization_percent),
            Some(b.gpu_utilization_percent),
        ),
        (
            format!("energy (kWh/{per})"),
            Some(a.energy_kwh),
            Some(b.energy_kwh),
        ),
        (
            format!("Scope 2 location ({mass}/{per})"),
            Some(a.scope2_location_kg / scale),
            Some(b.scope2_location_kg / scale),
        ),
        (
            format!("Scope 2 market ({mass}/{per})"),
            a.scope2_market_kg.map(|v| v / scale),
            b.scope2_market_kg.map(|v| v / scale),
        ),
        (
            format!("Scope 3 embodied ({mass}/{per})"),
            Some(a.scope3_embodied_kg / scale),
            Some(b.scope3_embodied_kg / scale),
        ),
        (
            format!("total, location + embodied ({mass}/{per})"),
            Some(a.total_kg / scale),
            Some(b.total_kg / scale),
        ),
        (
            format!("cost ({cur}/{per})"),
            if same_currency { a.cost } else { None },
            if same_currency { b.cost } else { None },
        ),
    ];
    if let (Some(ca), Some(cb)) = (&a.carbon_cost, &b.carbon_cost) {
        // Each plan's carbon cost is in its own cost currency unless --carbon-currency set
        // one: amounts in two currencies are not put side by side.
        let same = ca.currency == cb.currency;
        let label = if same {
            ca.currency.clone()
        } else {
            format!("{} and {}", ca.currency, cb.currency)
        };
        rows.push((
            format!(
                "carbon cost ({label}/{per} at {} per t)",
                num(ca.price_per_tonne)
            ),
            same.then_some(ca.amount),
            same.then_some(cb.amount),
        ));
    }
    if let (Some(ya), Some(yb)) = (a.service_years, b.service_years) {
        rows.push(("service life (years)".to_owned(), Some(ya), Some(yb)));
        rows.push((
            "total over the service life (t CO2e)".to_owned(),
            Some(a.total_kg * ya / 1000.0),
            Some(b.total_kg * yb / 1000.0),
        ));
        rows.push((
            format!("cost over the service life ({cur})"),
            a.cost.filter(|_| same_currency).map(|c| c * ya),
            b.cost.filter(|_| same_currency).map(|c| c * yb),
        ));
    }
    rows.push((
        format!("SCI (kg CO2e per {})", a.functional_unit),
        Some(a.sci_kg_per_unit),
        Some(b.sci_kg_per_unit),
    ));
    rows.push((
        format!("market-based (kg CO2e per {})", a.functional_unit),
        a.market_kg_per_unit,
        b.market_kg_per_unit,
    ));
    rows.into_iter()
        .map(|(figure, a, b)| {
            let difference = a.zip(b).map(|(a, b)| b - a);
            let change_percent = a
                .zip(difference)
                .and_then(|(a, d)| (a != 0.0).then(|| d / a * 100.0));
            Figure {
                figure,
                a,
                b,
                difference,
                change_percent,
            }
        })
        .collect()
}

/// The text of `plan compare`.
pub fn compare_text(a: &Assessment, b: &Assessment) -> String {
    let mut out = format!("A: {} ({})\nB: {} ({})\n\n", a.name, a.file, b.name, b.file);
    let cell = |v: Option<f64>| v.map_or_else(|| "unknown".to_owned(), num);
    out.push_str(&format!(
        "{:<46} {:>14} {:>14} {:>14} {:>9}\n",
        "figure", "A", "B", "B − A", "change"
    ));
    for f in figures(a, b) {
        let change = f
            .change_percent
            .map_or_else(|| "".to_owned(), |c| format!("{c:+.1} %"));
        out.push_str(&format!(
            "{:<46} {:>14} {:>14} {:>14} {:>9}\n",
            f.figure,
            cell(f.a),
            cell(f.b),
            cell(f.difference),
            change
        ));
    }
    if a.currency != b.currency {
        out.push_str(&format!(
            "cost: the plans are priced in different currencies ({} and {})\n",
            a.currency.as_deref().unwrap_or("unknown"),
            b.currency.as_deref().unwrap_or("unknown")
        ));
    }
    out.push_str(&format!("price A: {}\n", a.price.describe()));
    out.push_str(&format!("price B: {}\n", b.price.describe()));
    out
}

/// The JSON of `plan compare`.
#[derive(Serialize)]
pub struct Comparison<'a> {
    pub a: &'a Assessment,
    pub b: &'a Assessment,
    pub figures: Vec<Figure>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::Method;
    use carbonledger_factors::FactorSet;

    fn inference(extra: &str) -> Assessment {
        let text = format!(
            "kind = \"inference\"\nprovider = \"aws\"\nregion = \"us-east-1\"\nyear = 2024\n\
             instance_type = \"g4dn.xlarge\"\nrequests_per_day = 100000\n\
             throughput_per_replica = 10\nreplicas = 1\nhours_per_day = 24\nyears = 1\n{extra}"
        );
        let plan = crate::plan::spec::parse("p.toml", &text, 2026).expect("plan");
        let set = FactorSet::embedded("default").expect("set");
        crate::plan::assess(&plan, &set, Method::Default, None).expect("assessment")
    }

    #[test]
    fn only_the_same_functional_unit_is_compared() {
        let a = inference("");
        let b = inference("requests_per_unit = 1\n");
        assert!(comparable(&a, &a.clone()).is_ok());
        match comparable(&a, &b) {
            Err(Error::Plan(m)) => assert!(m.contains("per 1,000 requests"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn carbon_costs_in_two_currencies_are_not_put_side_by_side() {
        let (mut a, mut b) = (inference(""), inference(""));
        a.set_carbon_price(85.0, "USD");
        b.set_carbon_price(85.0, "EUR");
        let row = figures(&a, &b)
            .into_iter()
            .find(|f| f.figure.starts_with("carbon cost"))
            .expect("a carbon cost row");
        assert!(row.figure.contains("USD and EUR"), "{}", row.figure);
        assert_eq!((row.a, row.b, row.difference), (None, None, None));
        b.set_carbon_price(85.0, "USD");
        let row = figures(&a, &b)
            .into_iter()
            .find(|f| f.figure.starts_with("carbon cost"))
            .expect("a carbon cost row");
        assert_eq!(row.difference, Some(0.0));
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(num(15.8276), "15.83");
        assert_eq!(num(0.505681), "0.5057");
        assert_eq!(num(123.456), "123.5");
        assert_eq!(num(12345.6), "12,346");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(85.0), "85");
        assert_eq!(num(-2.5), "-2.500");
        // Tiny figures keep four significant digits instead of rounding to zero.
        assert_eq!(num(0.00012346), "0.0001235");
        assert_eq!(num(1.5e-12), "1.500e-12");
        assert_eq!(num(2.0e20), "2.000e20");
    }
}
