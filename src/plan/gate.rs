//! `carbonledger gate`: a plan against carbon budgets, for CI.
//!
//! Budgets (any combination; each must hold):
//!
//! * `--budget-kg N`: total kg CO2e (Scope 2 location-based + Scope 3 embodied) per period:
//!   the training run, or one year of an inference service;
//! * `--budget-per-unit N`: SCI, kg CO2e per functional unit (the run, or `requests_per_unit`
//!   requests);
//! * `--baseline base.toml --max-increase-pct P`: the plan's SCI may exceed the baseline's by
//!   at most P % (both computed with the same factor set and method, as SCI's baseline rule
//!   asks; the plans must have the same kind and functional unit).
//!
//! Exit codes, through the binary's one mapping: 0 within every budget, 1 over a budget
//! ([`crate::Error::OverBudget`]; nothing else makes the gate exit 1), 2 a bad plan, budget,
//! command line, factor set or ledger. The text output puts one verdict line first
//! (`carbon gate: PASS …` / `carbon gate: FAIL …`), then one line per check and the figures;
//! `--format json` writes the same as one JSON object.

use serde::Serialize;

use super::assess::Assessment;
use super::report::num;
use crate::Error;

/// The budgets asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budgets {
    pub budget_kg: Option<f64>,
    pub budget_per_unit: Option<f64>,
    pub max_increase_pct: Option<f64>,
}

/// One budget and how the plan stands against it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `budget_kg`, `budget_per_unit` or `max_increase_pct`.
    pub check: &'static str,
    /// The plan's figure, in `unit`.
    pub value: f64,
    /// The most it may be, in `unit`.
    pub limit: f64,
    pub unit: String,
    pub pass: bool,
    pub detail: String,
}

/// The gate's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub pass: bool,
    pub checks: Vec<Check>,
    pub plan: Assessment,
    pub baseline: Option<Assessment>,
}

/// Checks `plan` (and `baseline`, when given) against `budgets`.
pub fn evaluate(
    plan: Assessment,
    baseline: Option<Assessment>,
    budgets: Budgets,
) -> Result<Verdict, Error> {
    for (name, v) in [
        ("--budget-kg", budgets.budget_kg),
        ("--budget-per-unit", budgets.budget_per_unit),
        ("--max-increase-pct", budgets.max_increase_pct),
    ] {
        if let Some(v) = v
            && (!v.is_finite() || v < 0.0)
        {
            return Err(Error::Usage(format!(
                "{name} {v}: a budget is zero or more"
            )));
        }
    }
    if budgets.budget_kg.is_none()
        && budgets.budget_per_unit.is_none()
        && budgets.max_increase_pct.is_none()
    {
        return Err(Error::Usage(
            "gate needs a budget: --budget-kg, --budget-per-unit or --baseline with \
             --max-increase-pct"
                .into(),
        ));
    }
    let mut checks = Vec::new();
    if let Some(limit) = budgets.budget_kg {
        checks.push(Check {
            check: "budget_kg",
            value: plan.total_kg,
            limit,
            unit: format!("kg CO2e per {}", plan.period),
            pass: plan.total_kg <= limit,
            detail: "Scope 2 location-based + Scope 3 embodied".into(),
        });
    }
    if let Some(limit) = budgets.budget_per_unit {
        checks.push(Check {
            check: "budget_per_unit",
            value: plan.sci_kg_per_unit,
            limit,
            unit: format!("kg CO2e per {}", plan.functional_unit),
            pass: plan.sci_kg_per_unit <= limit,
            detail: "SCI = (E × I + M) per R".into(),
        });
    }
    match (&baseline, budgets.max_increase_pct) {
        (Some(base), Some(pct)) => {
            if base.kind != plan.kind || base.functional_unit != plan.functional_unit {
                return Err(Error::Plan(format!(
                    "{}: the baseline is a {} plan per {}, the plan a {} plan per {}: SCI \
                     compares only the same functional unit",
                    base.file,
                    base.kind.as_str(),
                    base.functional_unit,
                    plan.kind.as_str(),
                    plan.functional_unit
                )));
            }
            let limit = base.sci_kg_per_unit * (1.0 + pct / 100.0);
            let change = if base.sci_kg_per_unit > 0.0 {
                (plan.sci_kg_per_unit / base.sci_kg_per_unit - 1.0) * 100.0
            } else {
                0.0
            };
            // SCI's baseline rule: the same factors. A different factor year changes the grid
            // factor and PUE under both plans, so the increase is not the plan's alone.
            let years = if base.year != plan.year {
                let note = format!(
                    "; the baseline uses factor year {}, the plan {}: part of the change is the \
                     factors'",
                    base.year, plan.year
                );
                tracing::warn!("carbon gate{note}");
                note
            } else {
                String::new()
            };
            checks.push(Check {
                check: "max_increase_pct",
                value: plan.sci_kg_per_unit,
                limit,
                unit: format!("kg CO2e per {}", plan.functional_unit),
                pass: plan.sci_kg_per_unit <= limit,
                detail: format!(
                    "{change:+.2} % against baseline {} ({} kg CO2e per {}; at most {pct:+} \
                     %){years}",
                    base.file,
                    num(base.sci_kg_per_unit),
                    base.functional_unit
                ),
            });
        }
        (Some(_), None) => {
            return Err(Error::Usage("--baseline needs --max-increase-pct".into()));
        }
        (None, Some(_)) => {
            return Err(Error::Usage("--max-increase-pct needs --baseline".into()));
        }
        (None, None) => {}
    }
    Ok(Verdict {
        pass: checks.iter().all(|c| c.pass),
        checks,
        plan,
        baseline,
    })
}

impl Verdict {
    /// The first line: what a CI log shows when the step fails.
    pub fn headline(&self) -> String {
        let failed: Vec<&Check> = self.checks.iter().filter(|c| !c.pass).collect();
        match failed.first() {
            None => format!(
                "carbon gate: PASS {}: {} kg CO2e per {}, within {} budget{}",
                self.plan.file,
                num(self.plan.sci_kg_per_unit),
                self.plan.functional_unit,
                self.checks.len(),
                if self.checks.len() == 1 { "" } else { "s" }
            ),
            Some(c) => format!(
                "carbon gate: FAIL {}: {} {} over the limit of {} {} ({})",
                self.plan.file,
                num(c.value),
                c.unit,
                num(c.limit),
                c.unit,
                c.check
            ),
        }
    }

    /// The whole text output: the verdict, each check, then the plan's figures.
    pub fn text(&self) -> String {
        let mut out = self.headline();
        out.push('\n');
        for c in &self.checks {
            out.push_str(&format!(
                "  [{}] {}: {} {} (limit {}) — {}\n",
                if c.pass { "ok" } else { "over" },
                c.check,
                num(c.value),
                c.unit,
                num(c.limit),
                c.detail
            ));
        }
        out.push('\n');
        out.push_str(&super::report::estimate_text(&self.plan));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::Method;
    use carbonledger_factors::FactorSet;

    fn assessment(text: &str) -> Assessment {
        let plan = crate::plan::spec::parse("p.toml", text, 2026).expect("plan");
        let set = FactorSet::embedded("default").expect("set");
        crate::plan::assess(&plan, &set, Method::Default, None).expect("assessment")
    }

    const RUN: &str = "kind = \"training\"\nprovider = \"aws\"\nregion = \"us-east-1\"\n\
                       instance_type = \"p3.2xlarge\"\nhours = 10\nyear = 2024\n";

    #[test]
    fn a_budget_equal_to_the_figure_passes() {
        let a = assessment(RUN);
        let exact = Budgets {
            budget_kg: Some(a.total_kg),
            ..Budgets::default()
        };
        assert!(evaluate(a.clone(), None, exact).unwrap().pass);
        let below = Budgets {
            budget_kg: Some(a.total_kg * 0.999),
            ..Budgets::default()
        };
        let v = evaluate(a, None, below).unwrap();
        assert!(!v.pass);
        assert!(v.headline().starts_with("carbon gate: FAIL p.toml: "));
    }

    #[test]
    fn baseline_increase_is_relative_to_the_baseline_sci() {
        // The same run for 10 h and 11 h: SCI per run grows by exactly 10 %.
        let base = assessment(RUN);
        let longer = assessment(&RUN.replace("hours = 10", "hours = 11"));
        let pct = |p: f64| Budgets {
            max_increase_pct: Some(p),
            ..Budgets::default()
        };
        let v = evaluate(longer.clone(), Some(base.clone()), pct(10.0 + 1e-9)).unwrap();
        assert!(v.pass, "{:?}", v.checks);
        let v = evaluate(longer, Some(base), pct(9.99)).unwrap();
        assert!(!v.pass);
        assert!(
            v.checks[0].detail.starts_with("+10.00 %"),
            "{}",
            v.checks[0].detail
        );
    }

    #[test]
    fn a_baseline_of_another_factor_year_is_said() {
        let base = assessment(&RUN.replace("year = 2024", "year = 2022"));
        let plan = assessment(RUN);
        let pct = Budgets {
            max_increase_pct: Some(1000.0),
            ..Budgets::default()
        };
        let v = evaluate(plan.clone(), Some(base), pct).unwrap();
        assert!(
            v.checks[0]
                .detail
                .contains("factor year 2022, the plan 2024"),
            "{}",
            v.checks[0].detail
        );
        let v = evaluate(plan.clone(), Some(plan), pct).unwrap();
        assert!(!v.checks[0].detail.contains("factor year"));
    }

    #[test]
    fn budgets_must_be_given_and_sane() {
        let a = assessment(RUN);
        assert!(matches!(
            evaluate(a.clone(), None, Budgets::default()),
            Err(Error::Usage(_))
        ));
        let negative = Budgets {
            budget_per_unit: Some(-1.0),
            ..Budgets::default()
        };
        assert!(matches!(evaluate(a, None, negative), Err(Error::Usage(_))));
    }
}
