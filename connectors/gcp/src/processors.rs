//! The CPU micro-architectures of a Compute Engine row whose machine type the factor set does
//! not list (custom types such as `n2-custom-8-32768`, or no `machine_spec` label at all).
//!
//! The row's `cpu_architecture` is then a `;`-separated list of architectures, spelled as in
//! `cpu_watts.csv` (the estimator averages them, or takes their median when Sandy Bridge or Ivy
//! Bridge is among them). A machine type the factor set lists gets no `cpu_architecture`: the
//! estimator takes that type's `processors`.
//!
//! * With the CCF quirks (`--method ccf`), as CCF's `getComputeProcessorsFromMachineType`: a
//!   shared-core type (`e2-micro`, `e2-small`, `e2-medium`, `f1-micro`, `g1-small`) has none;
//!   otherwise the **first two characters** of the machine type pick CCF's list (`n2d-…` is
//!   Cascade Lake, `t2d-…` nothing); a row without a machine type has none.
//! * Without them: the machine **series**, i.e. the machine type up to its first `-` (`n2d`,
//!   `c2d`, `t2d`; `custom-…` is N1), or, when the row has no machine type, the series that
//!   starts the SKU description (`N2D AMD Instance Core running in Americas` → `n2d`;
//!   `Compute optimized Core` → `c2`, `Memory-optimized Instance Core` → `m1`,
//!   `Custom Instance Core` → `n1`); the architectures are those the factor set lists for the
//!   machine types of that series.

use std::collections::{BTreeSet, HashMap};

use carbonledger_factors::FactorSet;
use regex::Regex;

use crate::lists::{
    CCF_PROCESSORS_BY_PREFIX, SHARED_CORE_MACHINE_TYPES, SKU_SERIES_PREFIXES, includes_any,
};

/// The factor tables' provider id for GCP.
pub const PROVIDER: &str = "gcp";

/// The series that starts a core SKU's description (`N2D AMD Instance Core …` → `N2D`).
pub const SKU_SERIES_PATTERN: &str = r"^([A-Za-z][0-9][A-Za-z]?) ";

/// Finds architectures for machine types the factor set does not list.
#[derive(Debug, Clone)]
pub struct Processors {
    ccf_quirks: bool,
    /// Series (`n2d`) → `;`-separated architectures the factor set lists for it.
    by_series: HashMap<String, String>,
    sku_series: Regex,
}

impl Processors {
    pub fn new(factors: &FactorSet, ccf_quirks: bool) -> Result<Self, regex::Error> {
        let mut sets: HashMap<String, BTreeSet<String>> = HashMap::new();
        for instance in factors.instances(PROVIDER) {
            let series = series_of(&instance.instance_type);
            let set = sets.entry(series.to_owned()).or_default();
            set.extend(instance.processors.iter().cloned());
        }
        let by_series = sets
            .into_iter()
            .filter(|(_, set)| !set.is_empty())
            .map(|(series, set)| (series, set.into_iter().collect::<Vec<_>>().join(";")))
            .collect();
        Ok(Processors {
            ccf_quirks,
            by_series,
            sku_series: Regex::new(SKU_SERIES_PATTERN)?,
        })
    }

    /// The `cpu_architecture` of a compute row: `machine_type` is the row's machine type when
    /// the factor set does not list it (empty when the row has none), `sku` its SKU description.
    /// Every machine series of the factor set with its `;`-separated architectures (for the
    /// SQL form of the method), sorted by series.
    pub fn series(&self) -> Vec<(String, String)> {
        let mut all: Vec<_> = self
            .by_series
            .iter()
            .map(|(s, l)| (s.clone(), l.clone()))
            .collect();
        all.sort();
        all
    }

    pub fn architecture(&self, machine_type: &str, sku: &str) -> Option<String> {
        let machine_type = machine_type.trim().to_ascii_lowercase();
        if self.ccf_quirks {
            if machine_type.is_empty() || includes_any(&SHARED_CORE_MACHINE_TYPES, &machine_type) {
                return None;
            }
            let prefix = machine_type.get(..2)?;
            return CCF_PROCESSORS_BY_PREFIX
                .iter()
                .find(|(p, _)| *p == prefix)
                .map(|(_, list)| (*list).to_owned());
        }
        let series = if machine_type.is_empty() {
            self.sku_series(sku)?
        } else {
            match series_of(&machine_type) {
                "custom" => "n1".to_owned(),
                s => s.to_owned(),
            }
        };
        self.by_series.get(&series).cloned()
    }

    /// The machine series a Compute Engine core SKU starts with, lower-cased.
    fn sku_series(&self, sku: &str) -> Option<String> {
        let sku = sku.trim();
        if let Some((_, series)) = SKU_SERIES_PREFIXES.iter().find(|(p, _)| sku.starts_with(p)) {
            return Some((*series).to_owned());
        }
        self.sku_series
            .captures(sku)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_ascii_lowercase())
    }
}

/// The machine type up to its first `-` (`n2d-standard-4` → `n2d`).
fn series_of(machine_type: &str) -> &str {
    machine_type.split('-').next().unwrap_or(machine_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn processors(set: &str, ccf_quirks: bool) -> Processors {
        let factors = FactorSet::embedded(set).expect("embedded set");
        Processors::new(&factors, ccf_quirks).expect("patterns")
    }

    #[test]
    fn ccf_uses_the_first_two_characters() {
        let p = processors("ccf", true);
        // CCF's MachineTypes.ts (ccf-methodology §1.1): n2 → Cascade Lake, so n2d-* too.
        assert_eq!(
            p.architecture("n2d-custom-4-16384", "").as_deref(),
            Some("Cascade Lake")
        );
        assert_eq!(
            p.architecture("e2-custom-4-8192", "").as_deref(),
            Some("Skylake;Broadwell;Haswell;AMD EPYC 2nd Gen")
        );
        // `t2` is not in CCF's map; shared-core types and rows without a type have none.
        assert_eq!(p.architecture("t2d-custom-4", ""), None);
        assert_eq!(p.architecture("e2-medium", ""), None);
        assert_eq!(
            p.architecture("", "N2 Instance Core running in Americas"),
            None
        );
    }

    #[test]
    fn default_uses_the_series_and_the_sku() {
        let p = processors("default", false);
        // factors/default/instances.csv: every `e2-*` row lists Skylake, every `n2-*` row
        // Ice Lake, every `n2d-*` row AMD EPYC 2nd Gen, `m1-*` rows Broadwell or Skylake.
        assert_eq!(
            p.architecture("e2-custom-4-8192", "").as_deref(),
            Some("Skylake")
        );
        assert_eq!(
            p.architecture("n2d-custom-4-16384", "").as_deref(),
            Some("AMD EPYC 2nd Gen")
        );
        assert_eq!(
            p.architecture("", "N2 Instance Core running in Americas")
                .as_deref(),
            Some("Ice Lake")
        );
        assert_eq!(
            p.architecture("", "Memory-optimized Instance Core running in Americas")
                .as_deref(),
            Some("Broadwell;Skylake")
        );
        // N1 custom types are named `custom-…`; every `n1-*` row lists Skylake.
        assert_eq!(
            p.architecture("custom-4-16384", "").as_deref(),
            Some("Skylake")
        );
        assert_eq!(p.architecture("", "Licensing Fee for Windows"), None);
        assert_eq!(p.architecture("zz9-standard-4", ""), None);
    }
}
