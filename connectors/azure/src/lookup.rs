//! The lookup tables in `data/` (provenance in `data/PROVENANCE.md`), embedded in the binary:
//!
//! * `PricingUnits.csv`: a `UnitOfMeasure` (`10 Hours`, `1 GB/Month`, `10K`) → its pricing
//!   block size (10, 1, 10000) and distinct unit (`Hours`, `GB/Month`, `Units`);
//! * `Regions.csv`: a location spelling (`east us`, `useast`, `eastus`) → the region id
//!   (`eastus`) that the `azure` grid factors use;
//! * `managed_disks.csv`: a managed-disk tier (`P10`) → its size in GiB and media.
//!
//! Lookups are case-insensitive. A unit is also looked up with its spaces removed, since files
//! write `1/Month` where the table has `1 /Month` (billing-formats §4.2).

use std::collections::HashMap;

const PRICING_UNITS: &str = include_str!("../data/PricingUnits.csv");
const REGIONS: &str = include_str!("../data/Regions.csv");
const MANAGED_DISKS: &str = include_str!("../data/managed_disks.csv");

/// A unit of measure from `PricingUnits.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct PricingUnit {
    /// How many distinct units one billed unit is (`10 Hours` → 10).
    pub block_size: f64,
    /// The distinct unit (`Hours`, `GB/Month`, `Units/Day`).
    pub distinct: String,
}

/// A region from `Regions.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// The region id (`eastus`); `global` for global and unassigned locations.
    pub id: String,
    /// The display name (`East US`).
    pub name: String,
}

/// The media of a managed-disk tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskMedia {
    Ssd,
    Hdd,
}

/// The embedded tables, parsed once.
#[derive(Debug, Clone)]
pub struct Lookups {
    units: HashMap<String, PricingUnit>,
    units_compact: HashMap<String, PricingUnit>,
    regions: HashMap<String, Region>,
    disks: HashMap<String, (f64, DiskMedia)>,
}

fn compact(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

fn records(text: &str) -> impl Iterator<Item = csv::StringRecord> + '_ {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes())
        .into_records()
        .map(|r| r.expect("embedded lookup tables are valid CSV"))
}

impl Lookups {
    /// Parses the embedded tables. They are part of the binary and checked by the tests, so a
    /// malformed row is a build defect, not an input error.
    pub fn embedded() -> Lookups {
        let mut units = HashMap::new();
        let mut units_compact = HashMap::new();
        for r in records(PRICING_UNITS) {
            let unit = PricingUnit {
                block_size: r[2].trim().parse().expect("PricingBlockSize is a number"),
                distinct: r[3].trim().to_owned(),
            };
            units.insert(r[0].to_lowercase(), unit.clone());
            units_compact.entry(compact(&r[0])).or_insert(unit);
        }
        let mut regions = HashMap::new();
        for r in records(REGIONS) {
            regions.insert(
                r[0].trim().to_lowercase(),
                Region {
                    id: r[1].trim().to_owned(),
                    name: r[2].trim().to_owned(),
                },
            );
        }
        let mut disks = HashMap::new();
        for r in records(MANAGED_DISKS) {
            let media = if &r[2] == "ssd" {
                DiskMedia::Ssd
            } else {
                DiskMedia::Hdd
            };
            let gib: f64 = r[1].parse().expect("disk size is a number");
            disks.insert(r[0].to_owned(), (gib, media));
        }
        Lookups {
            units,
            units_compact,
            regions,
            disks,
        }
    }

    /// The pricing unit of a `UnitOfMeasure`, exactly as written (any case), else with its
    /// spaces removed.
    pub fn unit(&self, unit_of_measure: &str) -> Option<&PricingUnit> {
        self.units
            .get(&unit_of_measure.to_lowercase())
            .or_else(|| self.units.get(&unit_of_measure.trim().to_lowercase()))
            .or_else(|| self.units_compact.get(&compact(unit_of_measure)))
    }

    /// The region of a location spelling (any case; also with its spaces removed).
    pub fn region(&self, location: &str) -> Option<&Region> {
        let key = location.trim().to_lowercase();
        self.regions
            .get(&key)
            .or_else(|| self.regions.get(&compact(&key)))
    }

    /// The size in GiB (2^30 bytes) and media of a managed-disk tier (`P10`).
    pub fn disk(&self, tier: &str) -> Option<(f64, DiskMedia)> {
        self.disks.get(tier).copied()
    }

    /// The managed-disk tiers, for building the matching pattern.
    pub fn disk_tiers(&self) -> impl Iterator<Item = &str> {
        self.disks.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_carry_their_block_size() {
        let l = Lookups::embedded();
        let u = l.unit("10 Hours").unwrap();
        assert_eq!((u.block_size, u.distinct.as_str()), (10.0, "Hours"));
        let u = l.unit("100 GB").unwrap();
        assert_eq!((u.block_size, u.distinct.as_str()), (100.0, "GB"));
        assert_eq!(l.unit("1 GB/Month").unwrap().distinct, "GB/Month");
        assert_eq!(l.unit("1/Day").unwrap().distinct, "Units/Day");
        assert_eq!(l.unit("10K").unwrap().block_size, 10000.0);
        assert_eq!(l.unit("1 hour").unwrap().distinct, "Hours");
        assert_eq!(l.unit("3 Furlongs"), None);
    }

    #[test]
    fn location_spellings_map_to_region_ids() {
        let l = Lookups::embedded();
        for spelling in ["EastUS", "East US", "eastus", "US East", "useast"] {
            assert_eq!(l.region(spelling).unwrap().id, "eastus", "{spelling}");
        }
        assert_eq!(l.region("Unassigned").unwrap().id, "global");
        assert_eq!(l.region("uksouth").unwrap().id, "uksouth");
        assert_eq!(l.region("Atlantis"), None);
    }

    #[test]
    fn disk_tiers_have_sizes() {
        let l = Lookups::embedded();
        assert_eq!(l.disk("P10"), Some((128.0, DiskMedia::Ssd)));
        assert_eq!(l.disk("S4"), Some((32.0, DiskMedia::Hdd)));
        assert_eq!(l.disk_tiers().count(), 39);
    }
}
