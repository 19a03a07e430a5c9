//! Where a GCP export row's usage happened: the region code (`us-central1`), a multi-region or
//! dual-region location (`us`, `eu`, `europe`, `asia`, `nam4`, `eur4`, `asia1`), or nothing
//! for global usage.
//!
//! In order:
//! 1. `location.region` when set (CCF's `ifnull(location.region, location.location)`) → that
//!    region, no note;
//! 2. `location.zone` when set (`us-central1-a`) → its region, note "from location.zone";
//! 3. `location.location`:
//!    * `global` → no region, note "global usage (location `global`)";
//!    * a zone → its region, note "from location.location (a zone)";
//!    * a region code → that region, note "from location.location";
//!    * anything else (a multi-region or dual-region) → the location itself, lower-cased, note
//!      "multi-region location `us`"; the factor tables key multi- and dual-regions by these
//!      names (`factors/README.md`: means of the member regions by default, CCF's sums with
//!      `--method ccf`);
//! 4. no location at all → no region, note "no location in the export row".

use regex::Regex;

/// A resolved region and how it was found.
/// A GCP region code (`us-central1`); the SQL form of the method uses the same.
pub const REGION_PATTERN: &str = r"^[a-z]+-[a-z]+\d+$";
/// A zone (`us-central1-a`), its region captured.
pub const ZONE_PATTERN: &str = r"^([a-z]+-[a-z]+\d+)-[a-z]$";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionInfo {
    pub region: Option<String>,
    pub note: Option<String>,
}

/// Resolves regions; holds the compiled patterns.
#[derive(Debug, Clone)]
pub struct RegionResolver {
    region: Regex,
    zone: Regex,
}

impl RegionResolver {
    pub fn new() -> Result<Self, regex::Error> {
        Ok(RegionResolver {
            region: Regex::new(REGION_PATTERN)?,
            zone: Regex::new(ZONE_PATTERN)?,
        })
    }

    /// The region of a row from `location.location`, `location.region` and `location.zone`.
    pub fn resolve(&self, location: &str, region: &str, zone: &str) -> RegionInfo {
        let found = |region: &str, note: Option<String>| RegionInfo {
            region: Some(region.to_owned()),
            note,
        };
        let region = region.trim().to_ascii_lowercase();
        if !region.is_empty() {
            return found(&region, None);
        }
        let zone = zone.trim().to_ascii_lowercase();
        if let Some(r) = self.zone.captures(&zone).and_then(|c| c.get(1)) {
            return found(r.as_str(), Some("from location.zone".to_owned()));
        }
        let location = location.trim().to_ascii_lowercase();
        if location.is_empty() {
            return RegionInfo {
                region: None,
                note: Some("no location in the export row".to_owned()),
            };
        }
        if location == "global" {
            return RegionInfo {
                region: None,
                note: Some("global usage (location `global`)".to_owned()),
            };
        }
        if let Some(r) = self.zone.captures(&location).and_then(|c| c.get(1)) {
            return found(
                r.as_str(),
                Some("from location.location (a zone)".to_owned()),
            );
        }
        if self.region.is_match(&location) {
            return found(&location, Some("from location.location".to_owned()));
        }
        let note = format!("multi-region location `{location}`");
        found(&location, Some(note))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(location: &str, region: &str, zone: &str) -> RegionInfo {
        RegionResolver::new()
            .expect("patterns compile")
            .resolve(location, region, zone)
    }

    fn info(region: Option<&str>, note: Option<&str>) -> RegionInfo {
        RegionInfo {
            region: region.map(str::to_owned),
            note: note.map(str::to_owned),
        }
    }

    #[test]
    fn the_region_field_wins() {
        assert_eq!(
            resolve("us-central1", "us-central1", "us-central1-a"),
            info(Some("us-central1"), None)
        );
    }

    #[test]
    fn zones_give_their_region() {
        assert_eq!(
            resolve("", "", "europe-west4-a"),
            info(Some("europe-west4"), Some("from location.zone"))
        );
        assert_eq!(
            resolve("us-east1-b", "", ""),
            info(Some("us-east1"), Some("from location.location (a zone)"))
        );
        assert_eq!(
            resolve("northamerica-northeast1", "", ""),
            info(
                Some("northamerica-northeast1"),
                Some("from location.location")
            )
        );
    }

    #[test]
    fn multi_regions_keep_their_name_and_global_has_none() {
        assert_eq!(
            resolve("US", "", ""),
            info(Some("us"), Some("multi-region location `us`"))
        );
        assert_eq!(
            resolve("nam4", "", ""),
            info(Some("nam4"), Some("multi-region location `nam4`"))
        );
        assert_eq!(
            resolve("global", "", ""),
            info(None, Some("global usage (location `global`)"))
        );
        assert_eq!(
            resolve("", "", ""),
            info(None, Some("no location in the export row"))
        );
    }
}
