//! Estimating unknown usage by ratio from the usage the method could estimate.
//!
//! `--method ccf` does what CCF's code does: per provider and billed unit, the known rows' kWh
//! per unit of cost (AWS) or of usage amount (GCP, Azure), times the unknown row's cost or
//! amount; when no known row has that unit the row gets no estimate. `--method default` first
//! uses the same service and unit by usage amount (like for like), then the provider and unit by
//! cost, then the provider's kWh per unit of cost over all its known rows; negative costs are
//! not turned into negative energy.
//!
//! Every ratio is taken within one currency (a kWh per unit of cost means nothing across
//! currencies) and one calendar month (UTC) of the rows' `period_start`: an
//! unknown row of October is estimated from October's known rows only (CCF takes its ratios
//! per result timestamp, not over the whole input), so a later month's bill cannot change the
//! estimate of a closed month.
//!
//! Units: kWh, kg CO2e; cost in the row's currency.

use std::collections::HashMap;

use super::Method;

/// Sums over known rows: energy (kWh), CCF-style kWh, embodied (kg), cost, usage amount.
#[derive(Debug, Default, Clone, Copy)]
struct Acc {
    energy: f64,
    ccf_kwh: f64,
    embodied: f64,
    cost: f64,
    amount: f64,
}

impl Acc {
    fn add(&mut self, v: [f64; 5]) {
        self.energy += v[0];
        self.ccf_kwh += v[1];
        self.embodied += v[2];
        self.cost += v[3];
        self.amount += v[4];
    }
}

/// Collects the known rows while the estimator runs.
#[derive(Debug, Default)]
pub struct RatioBook {
    /// `provider␟month␟service␟unit` → (the parts, `provider␟month` first, and the sums).
    by_service_unit: HashMap<String, ((String, String, String), Acc)>,
    key: String,
}

impl RatioBook {
    /// Adds a known row: `[energy kWh, CCF kWh, embodied kg, cost, usage amount]`.
    /// `month` is `YYYYMM` of the row's `period_start`, `currency` the row's.
    pub fn add_known(
        &mut self,
        provider: &str,
        month: u32,
        currency: &str,
        service: &str,
        unit: &str,
        values: [f64; 5],
    ) {
        self.key.clear();
        self.key.push_str(provider);
        self.key.push('\u{1f}');
        self.key.push_str(&month.to_string());
        for part in [currency, service, unit] {
            self.key.push('\u{1f}');
            self.key.push_str(part);
        }
        if let Some((_, acc)) = self.by_service_unit.get_mut(self.key.as_str()) {
            acc.add(values);
            return;
        }
        let mut acc = Acc::default();
        acc.add(values);
        let parts = (
            in_month(provider, month, currency),
            service.to_owned(),
            unit.to_owned(),
        );
        self.by_service_unit.insert(self.key.clone(), (parts, acc));
    }

    /// Ends collection and derives the per-unit and per-provider sums.
    pub fn freeze(self, method: Method) -> Ratios {
        let mut by_unit: HashMap<(String, String), Acc> = HashMap::new();
        let mut by_provider: HashMap<String, Acc> = HashMap::new();
        let mut by_service_unit = HashMap::with_capacity(self.by_service_unit.len());
        // Sum in key order: the hash map's order changes from run to run, and so would the
        // last bits of the sums (and the ledger's bytes).
        let mut groups: Vec<_> = self.by_service_unit.into_values().collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        for ((p, s, u), acc) in groups {
            let v = [acc.energy, acc.ccf_kwh, acc.embodied, acc.cost, acc.amount];
            by_unit.entry((p.clone(), u.clone())).or_default().add(v);
            by_provider.entry(p.clone()).or_default().add(v);
            by_service_unit.insert((p, s, u), acc);
        }
        Ratios {
            method,
            by_service_unit,
            by_unit,
            by_provider,
        }
    }
}

/// The frozen sums, ready to estimate unknown rows.
#[derive(Debug)]
pub struct Ratios {
    method: Method,
    by_service_unit: HashMap<(String, String, String), Acc>,
    by_unit: HashMap<(String, String), Acc>,
    by_provider: HashMap<String, Acc>,
}

/// An unknown row's estimate and the ratio it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioEstimate {
    pub energy_kwh: f64,
    pub ccf_kwh: f64,
    pub embodied_kg: f64,
    pub basis: String,
}

/// The key of a provider's rows of one month and currency.
fn in_month(provider: &str, month: u32, currency: &str) -> String {
    format!("{provider}\u{1f}{month}\u{1f}{currency}")
}

fn scaled(acc: &Acc, per: f64, x: f64, basis: String) -> RatioEstimate {
    RatioEstimate {
        energy_kwh: acc.energy / per * x,
        ccf_kwh: acc.ccf_kwh / per * x,
        embodied_kg: acc.embodied / per * x,
        basis,
    }
}

impl Ratios {
    /// Estimates an unknown row, or says why it cannot be estimated.
    /// `month` is `YYYYMM` of the row's `period_start`: only that month's known rows in the
    /// row's `currency` count.
    #[allow(clippy::too_many_arguments)]
    pub fn estimate(
        &self,
        provider: &str,
        month: u32,
        currency: &str,
        service: &str,
        unit: &str,
        cost: f64,
        amount: f64,
    ) -> Result<RatioEstimate, String> {
        let pm = in_month(provider, month, currency);
        let shown = format!("{:04}-{:02}", month / 100, month % 100);
        let unit_key = (pm.clone(), unit.to_owned());
        match self.method {
            Method::Ccf => {
                let by_cost = provider == "aws";
                let acc = self.by_unit.get(&unit_key);
                let per = acc.map(|a| if by_cost { a.cost } else { a.amount });
                match (acc, per) {
                    (Some(acc), Some(per)) if per != 0.0 => {
                        let (x, what) = if by_cost {
                            (cost, "cost")
                        } else {
                            (amount, "amount")
                        };
                        let basis = format!("by ratio: kWh per {what} of known `{unit}` usage");
                        Ok(scaled(acc, per, x, basis))
                    }
                    _ => Err(format!(
                        "no estimated {provider} usage in unit `{unit}` in {shown} to take a \
                         ratio from (ccf method)"
                    )),
                }
            }
            Method::Default => {
                let service_key = (pm.clone(), service.to_owned(), unit.to_owned());
                if let Some(acc) = self
                    .by_service_unit
                    .get(&service_key)
                    .filter(|a| a.amount > 0.0)
                {
                    let basis = format!("by ratio: kWh per `{unit}` of known {service} usage");
                    return Ok(scaled(acc, acc.amount, amount.max(0.0), basis));
                }
                if let Some(acc) = self.by_unit.get(&unit_key).filter(|a| a.cost > 0.0) {
                    let basis = format!("by ratio: kWh per unit of cost of known `{unit}` usage");
                    return Ok(scaled(acc, acc.cost, cost.max(0.0), basis));
                }
                if let Some(acc) = self.by_provider.get(&pm).filter(|a| a.cost > 0.0) {
                    let basis =
                        format!("by ratio: kWh per unit of cost of all known {provider} usage");
                    return Ok(scaled(acc, acc.cost, cost.max(0.0), basis));
                }
                Err(format!(
                    "no estimated {provider} usage in {shown} to take a ratio from"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OCT: u32 = 202610;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} != {b}");
    }

    #[test]
    fn ccf_reproduces_the_nat_gateway_worked_example() {
        // ccf-methodology §5.1: a known EC2 `Hrs` row of cost 552 gave 3.0426203211844607 kWh;
        // an unknown NatGateway-Hours row (unit Hrs) of cost 10516.725 gets
        // 3.0426203211844607 / 552 × 10516.725 kWh.
        let mut book = RatioBook::default();
        let kwh = 3.0426203211844607;
        book.add_known(
            "aws",
            OCT,
            "USD",
            "AmazonEC2",
            "Hrs",
            [kwh, kwh, 0.0, 552.0, 24.0],
        );
        let ratios = book.freeze(Method::Ccf);
        let r = ratios
            .estimate("aws", OCT, "USD", "AmazonVPC", "Hrs", 10516.725, 720.0)
            .unwrap();
        close(r.energy_kwh, 57.968118111066396);
        // A unit no known row has gets no estimate under CCF.
        assert!(
            ratios
                .estimate("aws", OCT, "USD", "AmazonCloudWatch", "Metrics", 5.0, 1.0)
                .is_err()
        );
    }

    #[test]
    fn default_prefers_like_for_like_then_cost() {
        let mut book = RatioBook::default();
        book.add_known(
            "gcp",
            OCT,
            "USD",
            "Compute Engine",
            "seconds",
            [2.0, 2.0, 0.5, 10.0, 3600.0],
        );
        book.add_known(
            "gcp",
            OCT,
            "USD",
            "Cloud Storage",
            "byte-seconds",
            [1.0, 1.0, 0.0, 30.0, 1e12],
        );
        let ratios = book.freeze(Method::Default);
        // Same service and unit: by amount.
        let r = ratios
            .estimate("gcp", OCT, "USD", "Compute Engine", "seconds", 99.0, 1800.0)
            .unwrap();
        close(r.energy_kwh, 1.0);
        close(r.embodied_kg, 0.25);
        // Other service, same unit: by cost of `seconds` usage (2 kWh per 10).
        let r = ratios
            .estimate("gcp", OCT, "USD", "Cloud Run", "seconds", 5.0, 1.0)
            .unwrap();
        close(r.energy_kwh, 1.0);
        // Unit nobody has: provider-wide kWh per cost (3 kWh per 40).
        let r = ratios
            .estimate("gcp", OCT, "USD", "Cloud DNS", "requests", 4.0, 1000.0)
            .unwrap();
        close(r.energy_kwh, 0.3);
        // Negative cost gives zero, not negative energy.
        let r = ratios
            .estimate("gcp", OCT, "USD", "Cloud DNS", "requests", -4.0, 1000.0)
            .unwrap();
        assert_eq!(r.energy_kwh, 0.0);
        assert!(
            ratios
                .estimate("aws", OCT, "USD", "AmazonEC2", "Hrs", 1.0, 1.0)
                .is_err()
        );
    }
}

#[cfg(test)]
mod month_tests {
    use super::*;

    #[test]
    fn a_ratio_is_taken_within_the_rows_month() {
        let mut book = RatioBook::default();
        book.add_known(
            "aws",
            202609,
            "USD",
            "AmazonEC2",
            "Hrs",
            [9.0, 9.0, 0.0, 9.0, 9.0],
        );
        book.add_known(
            "aws",
            202610,
            "USD",
            "AmazonEC2",
            "Hrs",
            [2.0, 2.0, 0.0, 4.0, 4.0],
        );
        let ratios = book.freeze(Method::Ccf);
        // October's unknown row: October's 2 kWh per 4 of cost, whatever September held.
        let r = ratios
            .estimate("aws", 202610, "USD", "AmazonVPC", "Hrs", 10.0, 1.0)
            .unwrap();
        assert_eq!(r.energy_kwh, 5.0);
        let none = ratios
            .estimate("aws", 202611, "USD", "AmazonVPC", "Hrs", 10.0, 1.0)
            .unwrap_err();
        assert!(none.contains("in 2026-11"), "{none}");
    }

    #[test]
    fn a_ratio_per_unit_of_cost_stays_in_its_currency() {
        let mut book = RatioBook::default();
        book.add_known(
            "gcp",
            202610,
            "USD",
            "Compute Engine",
            "seconds",
            [2.0, 2.0, 0.0, 4.0, 1.0],
        );
        book.add_known(
            "gcp",
            202610,
            "EUR",
            "Compute Engine",
            "seconds",
            [9.0, 9.0, 0.0, 1.0, 1.0],
        );
        let ratios = book.freeze(Method::Default);
        // No like-for-like amount for Cloud DNS: by cost, within USD only (2 kWh per 4 USD).
        let r = ratios
            .estimate("gcp", 202610, "USD", "Cloud DNS", "seconds", 2.0, 0.0)
            .unwrap();
        assert_eq!(r.energy_kwh, 1.0);
        let none = ratios.estimate("gcp", 202610, "JPY", "Cloud DNS", "seconds", 2.0, 0.0);
        assert!(none.is_err());
    }
}
