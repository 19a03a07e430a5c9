//! The method's formulas, one small function each, in the units the factor files use.
//!
//! Energy is in kWh, power in watts, emissions in kg CO2e. Every function here is pinned by a
//! unit test to a value worked out by hand from `../shared/reference/ccf-methodology.md`.

use carbonledger_factors::{CpuWatts, FactorSet, GpuWatts};

/// Average watts between idle and full load at `utilization_percent` (50 = half load).
pub fn average_watts(min_watts: f64, max_watts: f64, utilization_percent: f64) -> f64 {
    min_watts + utilization_percent / 100.0 * (max_watts - min_watts)
}

/// kWh drawn by `hours` of a device at `watts`, before PUE and replication.
pub fn kwh(watts: f64, hours: f64) -> f64 {
    watts * hours / 1000.0
}

/// Storage kWh for `tb_hours` at `wh_per_tb_hour`, before PUE and replication.
pub fn storage_kwh(tb_hours: f64, wh_per_tb_hour: f64) -> f64 {
    tb_hours * wh_per_tb_hour / 1000.0
}

/// How the per-vCPU watts of a processor list are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchitectureFallback {
    /// CCF: one unknown architecture in the list sends the whole row to the provider fallback.
    AnyUnknownFallsBack,
    /// carbonledger: unknown architectures are left out; the fallback only when none is known.
    SkipUnknown,
}

/// Per-vCPU watts for a list of micro-architectures: their mean, or their median when the list
/// holds Sandy Bridge or Ivy Bridge (CCF §1.1); `None` when the provider fallback applies.
pub fn processor_watts(
    factors: &FactorSet,
    provider: &str,
    processors: &[String],
    fallback: ArchitectureFallback,
) -> Option<CpuWatts> {
    let mut known = Vec::with_capacity(processors.len());
    for name in processors {
        match factors.cpu_watts(provider, name) {
            Some(w) => known.push(w),
            None if fallback == ArchitectureFallback::AnyUnknownFallsBack => return None,
            None => {}
        }
    }
    if known.is_empty() {
        return None;
    }
    let median = processors
        .iter()
        .any(|p| p == "Sandy Bridge" || p == "Ivy Bridge");
    let pick = |values: Vec<f64>| {
        if median {
            median_of(values)
        } else {
            mean_of(&values)
        }
    };
    let gb: Vec<f64> = known.iter().filter_map(|w| w.gb_per_chip).collect();
    Some(CpuWatts {
        min_watts: pick(known.iter().map(|w| w.min_watts).collect()),
        max_watts: pick(known.iter().map(|w| w.max_watts).collect()),
        gb_per_chip: (!gb.is_empty()).then(|| mean_of(&gb)),
    })
}

/// The mean of GPU watts over several models (CCF GCP: a GPU SKU it cannot name).
pub fn mean_gpu_watts(models: &[GpuWatts]) -> Option<GpuWatts> {
    if models.is_empty() {
        return None;
    }
    Some(GpuWatts {
        min_watts: mean_of(&models.iter().map(|w| w.min_watts).collect::<Vec<_>>()),
        max_watts: mean_of(&models.iter().map(|w| w.max_watts).collect::<Vec<_>>()),
    })
}

fn mean_of(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// Physical chips in the family's largest server: one per `vcpus_per_chip` (96) vCPUs, rounded
/// up; CCF's exception: the m5zn and z1d families have 2 (CCF §1.3).
pub fn physical_chips(largest_vcpus: f64, family: &str, vcpus_per_chip: f64) -> f64 {
    if family == "m5zn" || family == "z1d" {
        2.0
    } else {
        (largest_vcpus / vcpus_per_chip).ceil().max(1.0)
    }
}

/// The share of an instance's memory that is above what a SPECpower server of its
/// architecture carries per chip, so that only that excess is counted as memory energy
/// (the CPU watts already include the rest). Returns a fraction of the instance's GB-hours.
///
/// CCF: `GBh = (largestMem / chips − gbPerChip) / (largestMem / instanceMem) × hours`, which
/// is `(largestMem / chips − gbPerChip) / largestMem` of the instance's memory GB-hours.
pub fn excess_memory_fraction(largest_memory_gb: f64, chips: f64, gb_per_chip: f64) -> f64 {
    if largest_memory_gb <= 0.0 {
        return 0.0;
    }
    let delta = largest_memory_gb / chips - gb_per_chip;
    if delta > 0.0 {
        delta / largest_memory_gb
    } else {
        0.0
    }
}

/// Embodied emissions (kg) of `instance_hours` of an instance holding `vcpus` of a platform
/// with `largest_vcpus`, whose manufacture emitted `platform_kg` over `lifespan_hours`.
pub fn embodied_kg(
    platform_kg: f64,
    instance_hours: f64,
    lifespan_hours: f64,
    vcpus: f64,
    largest_vcpus: f64,
) -> f64 {
    if largest_vcpus <= 0.0 || lifespan_hours <= 0.0 {
        return 0.0;
    }
    platform_kg * (instance_hours / lifespan_hours) * (vcpus / largest_vcpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} != {b}");
    }

    #[test]
    fn compute_energy_at_half_load() {
        // AWS Cascade Lake (CCF code table): 0.64 W idle, 3.97 W full, 50 %:
        // 0.64 + 0.5 × 3.33 = 2.305 W per vCPU; 4 vCPU × 10 h = 40 vCPU-h → 0.0922 kWh.
        let w = average_watts(0.64, 3.97, 50.0);
        close(w, 2.305);
        close(kwh(w, 40.0), 0.0922);
    }

    #[test]
    fn storage_energy_in_wh_per_tb_hour() {
        // 2 TB for 720 h on SSD at 1.2 Wh/TB-h = 1.728 kWh.
        close(storage_kwh(1440.0, 1.2), 1.728);
    }

    #[test]
    fn chips_and_excess_memory_follow_ccf_checks() {
        // ccf-methodology §1.3: getPhysicalChips(300) = 4.
        assert_eq!(physical_chips(300.0, "m5", 96.0), 4.0);
        assert_eq!(physical_chips(96.0, "m5", 96.0), 1.0);
        assert_eq!(physical_chips(48.0, "z1d", 96.0), 2.0);
        // calculateGigabyteHours(chips 1, largestMem 10, gbPerChip 5, instanceMem 20, hours 20)
        // = (10/1 − 5) / (10/20) × 20 = 200 GB-h. With instance memory GB-h = 20 × 20 = 400,
        // the fraction must give the same 200.
        let fraction = excess_memory_fraction(10.0, 1.0, 5.0);
        close(fraction * 20.0 * 20.0, 200.0);
        assert_eq!(excess_memory_fraction(10.0, 1.0, 12.0), 0.0);
    }

    #[test]
    fn embodied_share_of_platform() {
        // m5 family platform 1610.3792 kg; m5.xlarge (4 of 96 vCPUs) for 8760 h over 35040 h:
        // 8760 / 35040 = 0.25; 1610.3792 × 0.25 = 402.5948 kg; × 4/96 = 402.5948 / 24
        // = 16.774783333… kg.
        close(
            embodied_kg(1610.3792, 8760.0, 35040.0, 4.0, 96.0),
            16.774_783_333_333_333,
        );
        assert_eq!(embodied_kg(1000.0, 1.0, 35040.0, 4.0, 0.0), 0.0);
        assert_eq!(embodied_kg(1000.0, 1.0, 0.0, 4.0, 96.0), 0.0);
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The `ccf` factor set: its AWS and GCP per-vCPU watts are CCF's code table
    /// (ccf-methodology §1.1), quoted in the tests below.
    fn ccf_set() -> FactorSet {
        FactorSet::embedded("ccf").expect("the ccf set loads")
    }

    #[test]
    fn mean_of_listed_architectures() {
        // AWS Skylake 0.65 / 4.26 W, 81.32 GB per chip; Cascade Lake 0.64 / 3.97 W, 98.12 GB.
        // Mean: (0.65 + 0.64) / 2 = 0.645 W; (4.26 + 3.97) / 2 = 4.115 W;
        // (81.32 + 98.12) / 2 = 89.72 GB.
        let set = ccf_set();
        let list = names(&["Skylake", "Cascade Lake"]);
        let w = processor_watts(
            &set,
            "aws",
            &list,
            ArchitectureFallback::AnyUnknownFallsBack,
        )
        .expect("both architectures are known");
        close(w.min_watts, 0.645);
        close(w.max_watts, 4.115);
        close(w.gb_per_chip.unwrap(), 89.72);
    }

    #[test]
    fn sandy_or_ivy_bridge_takes_the_median() {
        let set = ccf_set();
        let rule = ArchitectureFallback::AnyUnknownFallsBack;
        // CCF's GCP n1 list: Skylake 0.65/4.26, Broadwell 0.71/3.69, Haswell 1/4.74,
        // Sandy Bridge 2.17/8.58, Ivy Bridge 3.04/8.25 W. Sorted minima 0.65, 0.71, 1, 2.17,
        // 3.04 → median 1 W (the mean would be 1.514 W); sorted maxima 3.69, 4.26, 4.74, 8.25,
        // 8.58 → median 4.74 W (mean 5.904 W). GCP rows have no GB per chip.
        let n1 = names(&[
            "Skylake",
            "Broadwell",
            "Haswell",
            "Sandy Bridge",
            "Ivy Bridge",
        ]);
        let w = processor_watts(&set, "gcp", &n1, rule).unwrap();
        close(w.min_watts, 1.0);
        close(w.max_watts, 4.74);
        assert_eq!(w.gb_per_chip, None);
        // An even count takes the middle pair's mean: AWS Sandy Bridge 2.17/8.58 W and Ivy
        // Bridge 3.04/8.25 W → (2.17 + 3.04) / 2 = 2.605 W, (8.25 + 8.58) / 2 = 8.415 W.
        // GB per chip stays a mean: (16.7 + 9.67) / 2 = 13.185 GB.
        let pair = names(&["Sandy Bridge", "Ivy Bridge"]);
        let w = processor_watts(&set, "aws", &pair, rule).unwrap();
        close(w.min_watts, 2.605);
        close(w.max_watts, 8.415);
        close(w.gb_per_chip.unwrap(), 13.185);
    }

    #[test]
    fn ccf_falls_back_when_any_architecture_is_unknown() {
        // The ccf set's AWS table has no Ice Lake row (CCF's AWS map lacks it): CCF's rule
        // sends the whole list to the provider fallback (`None`).
        let set = ccf_set();
        let list = names(&["Skylake", "Ice Lake"]);
        let rule = ArchitectureFallback::AnyUnknownFallsBack;
        assert_eq!(processor_watts(&set, "aws", &list, rule), None);
        assert_eq!(
            processor_watts(&set, "aws", &names(&["Ice Lake"]), rule),
            None
        );
        assert_eq!(processor_watts(&set, "aws", &[], rule), None);
    }

    #[test]
    fn default_skips_unknown_architectures() {
        // carbonledger's rule leaves Ice Lake out and keeps Skylake: 0.65 / 4.26 W, 81.32 GB.
        let set = ccf_set();
        let rule = ArchitectureFallback::SkipUnknown;
        let list = names(&["Skylake", "Ice Lake"]);
        let w = processor_watts(&set, "aws", &list, rule).unwrap();
        close(w.min_watts, 0.65);
        close(w.max_watts, 4.26);
        close(w.gb_per_chip.unwrap(), 81.32);
        // Only when nothing listed is known does it fall back.
        assert_eq!(
            processor_watts(&set, "aws", &names(&["Ice Lake"]), rule),
            None
        );
        assert_eq!(processor_watts(&set, "aws", &[], rule), None);
    }

    #[test]
    fn median_and_mean_of_gpus() {
        let gpus = [
            GpuWatts {
                min_watts: 8.0,
                max_watts: 71.0,
            },
            GpuWatts {
                min_watts: 36.0,
                max_watts: 306.0,
            },
        ];
        let m = mean_gpu_watts(&gpus).unwrap();
        close(m.min_watts, 22.0);
        close(m.max_watts, 188.5);
        close(median_of(vec![3.0, 1.0, 2.0]), 2.0);
        close(median_of(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
