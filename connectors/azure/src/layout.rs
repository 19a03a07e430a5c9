//! Which files an input stands for: a single export file, or a folder laid out as Cost
//! Management delivers exports (to a storage account, or copied from one).
//!
//! Data files are `.csv`, `.csv.gz` and `.parquet` (any case; `.snappy.parquet` too); hidden
//! entries are skipped. In a folder, a path segment `YYYYMMDD-YYYYMMDD` is a billing period.
//! Everything between the period folder and a file is the file's **run** (a run id or
//! timestamp folder, `<export name>/<time>/<guid>` in the hub layout, or nothing in older
//! exports, where each file in the period folder is a run of its own). Each run overwrites the
//! period with month-to-date data, so only the **latest run of each period** is read:
//!
//! 1. the run whose `manifest.json` (in the run folder or between it and the period) has the
//!    latest `runInfo.submittedTime`;
//! 2. else (no manifest) the run with the newest file (modification time);
//! 3. ties by the run path, the larger (timestamps sort) wins.
//!
//! A chosen run whose manifest lists its parts (`blobs[].blobName`) must have every one of
//! them: a part that is missing (an export still being written, a copy that lost a file) is an
//! error naming the manifest and the part, never a month read with rows missing. A run that
//! has a manifest and no data file at all is a run too (so an older run is not read instead).
//!
//! Periods are told apart by the path up to the period folder and the manifest's
//! `exportConfig.exportName`, so an actual-cost and an amortized-cost export under one root
//! are both read. Files outside any period folder are all read. The same rules serve local
//! folders ([`discover`]) and Blob listings ([`choose`]), which give paths with `/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use carbonledger_usage::{Location, SourceError};
use serde_json::Value;

/// Deepest folder level searched below the input.
const MAX_DEPTH: usize = 10;

/// How a data file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    GzipCsv,
    Parquet,
}

impl FileFormat {
    /// The format a file name says; `None` for other files.
    pub fn from_name(name: &str) -> Option<FileFormat> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv.gz") {
            Some(FileFormat::GzipCsv)
        } else if lower.ends_with(".csv") {
            Some(FileFormat::Csv)
        } else if lower.ends_with(".parquet") {
            Some(FileFormat::Parquet)
        } else {
            None
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FileFormat::Csv => "CSV",
            FileFormat::GzipCsv => "gzip CSV",
            FileFormat::Parquet => "Parquet",
        }
    }
}

/// One file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub path: PathBuf,
    /// How the file is named in messages and in the rows' `source`.
    pub shown: String,
    pub format: FileFormat,
}

/// One listed file: a path relative to the input (`/`-separated) and its modification time
/// (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub modified: i64,
}

/// What the connector reads of an export's `manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// `runInfo.submittedTime` (RFC 3339).
    pub submitted_time: Option<String>,
    /// `exportConfig.exportName`.
    pub export_name: Option<String>,
    /// The file names of `blobs[].blobName` (the last path segment: Cost Management writes
    /// the full blob path, copies keep only the name); empty when the manifest lists none.
    pub parts: Vec<String>,
}

/// Parses a manifest; `shown` names it in errors.
pub fn parse_manifest(text: &str, shown: &str) -> Result<Manifest, SourceError> {
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| {
        SourceError::invalid(
            Location::file(shown).at_line(e.line() as u64),
            format!("manifest is not valid JSON: {e}"),
        )
    })?;
    let text_at = |path: &[&str]| {
        let mut v = &value;
        for key in path {
            v = v.get(*key)?;
        }
        v.as_str().map(str::to_owned)
    };
    let parts = value
        .get("blobs")
        .and_then(Value::as_array)
        .map(|blobs| {
            blobs
                .iter()
                .filter_map(|b| b.get("blobName")?.as_str())
                .filter_map(|name| name.rsplit('/').next())
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Manifest {
        submitted_time: text_at(&["runInfo", "submittedTime"]),
        export_name: text_at(&["exportConfig", "exportName"]),
        parts,
    })
}

/// Whether a path segment is a billing period folder (`20230901-20230930`).
pub fn is_period(segment: &str) -> bool {
    let b = segment.as_bytes();
    b.len() == 17
        && b[8] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || c.is_ascii_digit())
}

fn is_manifest(name: &str) -> bool {
    name.eq_ignore_ascii_case("manifest.json")
}

/// Picks the files to read from a listing (see the module docs). `read_manifest` returns the
/// text of a listed `manifest.json`. The result is in path order.
pub fn choose(
    entries: &[Entry],
    read_manifest: &mut dyn FnMut(&str) -> Result<String, SourceError>,
) -> Result<Vec<String>, SourceError> {
    let manifests: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.path.rsplit('/').next().is_some_and(is_manifest))
        .collect();
    let mut parsed: BTreeMap<String, Manifest> = BTreeMap::new();
    for m in &manifests {
        let text = read_manifest(&m.path)?;
        let folder = m.path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
        parsed.insert(folder, parse_manifest(&text, &m.path)?);
    }
    // (group key) → run path → (manifest time, newest modification, files, manifest path)
    type Run = (Option<String>, i64, Vec<String>, Option<String>);
    let mut groups: BTreeMap<(String, String), BTreeMap<String, Run>> = BTreeMap::new();
    let mut loose: Vec<String> = Vec::new();
    for e in entries {
        let name = e.path.rsplit('/').next().unwrap_or_default();
        let manifest_entry = is_manifest(name);
        if FileFormat::from_name(name).is_none() && !manifest_entry {
            continue;
        }
        let segments: Vec<&str> = e.path.split('/').collect();
        let Some(p) = segments[..segments.len() - 1]
            .iter()
            .rposition(|s| is_period(s))
        else {
            if !manifest_entry {
                loose.push(e.path.clone());
            }
            continue;
        };
        let period = segments[..=p].join("/");
        let run_parts = &segments[p + 1..segments.len() - 1];
        if manifest_entry && run_parts.is_empty() {
            // A manifest in the period folder itself belongs to no one run.
            continue;
        }
        let run = if run_parts.is_empty() {
            name.to_owned()
        } else {
            run_parts.join("/")
        };
        // The nearest manifest between the file's folder and the period folder.
        let manifest = (p + 1..segments.len())
            .rev()
            .find_map(|end| parsed.get(&segments[..end].join("/")));
        let export = manifest
            .and_then(|m| m.export_name.clone())
            .unwrap_or_default();
        let slot = groups
            .entry((period, export))
            .or_default()
            .entry(run)
            .or_insert((None, i64::MIN, Vec::new(), None));
        if let Some(t) = manifest.and_then(|m| m.submitted_time.clone()) {
            slot.0 = Some(t);
        }
        slot.1 = slot.1.max(e.modified);
        if manifest_entry {
            slot.3 = Some(e.path.clone());
        } else {
            slot.2.push(e.path.clone());
        }
    }
    let mut chosen = loose;
    for runs in groups.into_values() {
        let Some((_, (_, _, files, manifest_path))) = runs
            .into_iter()
            .max_by(|(a_name, a), (b_name, b)| (&a.0, a.1, a_name).cmp(&(&b.0, b.1, b_name)))
        else {
            continue;
        };
        // Every part the run's own manifest lists must be there.
        let listed = manifest_path.as_deref().and_then(|path| {
            let folder = path.rsplit_once('/').map_or("", |(d, _)| d);
            Some((path, parsed.get(folder)?))
        });
        if let Some((path, manifest)) = listed {
            let names: Vec<&str> = files
                .iter()
                .map(|f| f.rsplit('/').next().unwrap_or_default())
                .collect();
            if let Some(missing) = manifest.parts.iter().find(|p| !names.contains(&p.as_str())) {
                return Err(SourceError::invalid(
                    Location::file(path).in_column("blobs"),
                    format!(
                        "the manifest names part `{missing}`, which is not beside it (found: \
                         {}); the export is incomplete, so its period is not read with rows \
                         missing",
                        if names.is_empty() {
                            "no data file".to_owned()
                        } else {
                            names.join(", ")
                        }
                    ),
                ));
            }
        }
        chosen.extend(files);
    }
    chosen.sort();
    Ok(chosen)
}

/// The files of `path`, in reading order: the file itself, or the chosen files of a folder.
pub fn discover(path: &Path) -> Result<Vec<DataFile>, SourceError> {
    let shown_root = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| SourceError::io(&shown_root, e))?;
    if meta.is_file() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let format = name
            .as_deref()
            .and_then(FileFormat::from_name)
            .unwrap_or(FileFormat::Csv);
        return Ok(vec![DataFile {
            path: path.to_path_buf(),
            shown: shown_root,
            format,
        }]);
    }
    let mut entries = Vec::new();
    walk(path, path, 0, &mut entries)?;
    let chosen = choose(&entries, &mut |rel| {
        let full = path.join(rel);
        std::fs::read_to_string(&full).map_err(|e| SourceError::io(full.display(), e))
    })
    .map_err(|e| match e {
        // `choose` names manifests by their path under the input: name the file itself.
        SourceError::Invalid {
            mut location,
            message,
        } => {
            location.source = path.join(&location.source).display().to_string();
            SourceError::Invalid { location, message }
        }
        other => other,
    })?;
    if chosen.is_empty() {
        return Err(SourceError::invalid(
            Location::file(shown_root),
            "no Azure cost-details files (.csv, .csv.gz, .parquet) in this folder",
        ));
    }
    Ok(chosen
        .into_iter()
        .map(|rel| {
            let full = path.join(&rel);
            let format = FileFormat::from_name(&rel).unwrap_or(FileFormat::Csv);
            DataFile {
                shown: full.display().to_string(),
                path: full,
                format,
            }
        })
        .collect())
}

fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<Entry>) -> Result<(), SourceError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let io = |e| SourceError::io(dir.display(), e);
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let full = entry.path();
        let meta = entry.metadata().map_err(io)?;
        if meta.is_dir() {
            walk(root, &full, depth + 1, out)?;
        } else if FileFormat::from_name(&name).is_some() || is_manifest(&name) {
            let rel = full
                .strip_prefix(root)
                .unwrap_or(&full)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            out.push(Entry {
                path: rel,
                modified,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, modified: i64) -> Entry {
        Entry {
            path: path.to_owned(),
            modified,
        }
    }

    #[test]
    fn the_manifest_time_picks_the_run() {
        let entries = [
            entry("exp/20230901-20230930/run-a/part_0_0001.csv", 20),
            entry("exp/20230901-20230930/run-a/manifest.json", 20),
            entry("exp/20230901-20230930/run-b/part_0_0001.csv", 10),
            entry("exp/20230901-20230930/run-b/part_1_0001.csv", 10),
            entry("exp/20230901-20230930/run-b/manifest.json", 10),
            entry("exp/20231001-20231031/run-c/part_0_0001.csv.gz", 30),
        ];
        let mut read = |p: &str| {
            let time = if p.contains("run-b") {
                "2023-10-02T08:00:00Z"
            } else {
                "2023-10-01T08:00:00Z"
            };
            let run_info = format!(r#""runInfo":{{"submittedTime":"{time}"}}"#);
            Ok(format!(
                r#"{{{run_info},"exportConfig":{{"exportName":"exp"}}}}"#
            ))
        };
        let chosen = choose(&entries, &mut read).unwrap();
        assert_eq!(
            chosen,
            [
                "exp/20230901-20230930/run-b/part_0_0001.csv",
                "exp/20230901-20230930/run-b/part_1_0001.csv",
                "exp/20231001-20231031/run-c/part_0_0001.csv.gz",
            ]
        );
    }

    #[test]
    fn without_manifests_the_newest_file_wins() {
        let entries = [
            entry("exp/20230901-20230930/exp_aaa.csv", 50),
            entry("exp/20230901-20230930/exp_bbb.csv", 40),
            entry("loose.csv", 1),
        ];
        let chosen = choose(&entries, &mut |_| unreachable!()).unwrap();
        assert_eq!(chosen, ["exp/20230901-20230930/exp_aaa.csv", "loose.csv"]);
    }

    #[test]
    fn a_part_the_manifest_names_must_be_there() {
        let manifest = r#"{"runInfo":{"submittedTime":"2023-10-02T08:00:00Z"},
            "blobs":[{"blobName":"exp/20230901-20230930/run-b/part_0_0001.csv"},
                     {"blobName":"exp/20230901-20230930/run-b/part_1_0001.csv"}]}"#;
        let complete = [
            entry("exp/20230901-20230930/run-b/part_0_0001.csv", 10),
            entry("exp/20230901-20230930/run-b/part_1_0001.csv", 10),
            entry("exp/20230901-20230930/run-b/manifest.json", 10),
        ];
        let chosen = choose(&complete, &mut |_| Ok(manifest.to_owned())).unwrap();
        assert_eq!(chosen.len(), 2);
        let error = choose(&complete[1..], &mut |_| Ok(manifest.to_owned()))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("exp/20230901-20230930/run-b/manifest.json, column `blobs`")
                && error.contains("`part_0_0001.csv`"),
            "{error}"
        );
        // The newest run has its manifest but no data yet: not silently the older run.
        let older = entry("exp/20230901-20230930/run-a/part_0_0001.csv", 5);
        let error = choose(&[older, complete[2].clone()], &mut |p: &str| {
            Ok(if p.contains("run-b") {
                manifest.to_owned()
            } else {
                "{}".to_owned()
            })
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("no data file"), "{error}");
    }

    #[test]
    fn periods_are_recognised() {
        assert!(is_period("20230901-20230930"));
        assert!(!is_period("2023091-20230930"));
        assert!(!is_period("20230901_20230930"));
    }
}
