//! Which files an input path stands for.
//!
//! * A file: that file (`.csv`, `.csv.gz` / `.gz`, `.parquet`; any other name is read as CSV).
//! * A folder, searched recursively (hidden entries skipped), in three layouts that may mix:
//!   - **legacy CUR**: `<report>/yyyymmdd-yyyymmdd/` period folders, each with the period-level
//!     `<report>-Manifest.json` naming the latest assembly's `reportKeys`, and assembly folders
//!     `<assemblyId>/` holding the parts (and their own manifests); also the overwrite mode, with
//!     the parts directly in the period folder;
//!   - **CUR 2.0 / Data Exports**: `data/BILLING_PERIOD=YYYY-MM/` parts and
//!     `metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json` with `dataFiles`;
//!   - **plain**: files that are not inside a period folder are all read.
//!
//! Per billing period only one delivery is read:
//! 1. a manifest directly in the period folder (the period-level manifest) wins;
//! 2. else the manifest with the newest modification time (ties: the greatest path);
//! 3. with no manifest: the parts directly in the period folder if there are any, else the
//!    subfolder (assembly) whose newest file is the newest (ties: the greatest name).
//!
//! A manifest key is an S3 key or URI
//! (`s3://bucket/prefix/report/20231101-20231201/<id>/x.csv.gz`). It is mapped to a local path
//! by its trailing components, resolved against the report folder (the period folder's parent;
//! for CUR 2.0 the folder above `data/` and `metadata/`); the trailing part must include the
//! period folder. A key that maps to no file is an error that
//! names the manifest and the key.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use carbonledger_usage::{Location, SourceError};

/// How a data file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    GzipCsv,
    Parquet,
    GzipParquet,
}

impl FileFormat {
    /// The format a file name says; `None` for names that are not CUR data files.
    pub fn from_name(name: &str) -> Option<FileFormat> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".parquet.gz") {
            Some(FileFormat::GzipParquet)
        } else if lower.ends_with(".gz") {
            Some(FileFormat::GzipCsv)
        } else if lower.ends_with(".parquet") {
            Some(FileFormat::Parquet)
        } else if lower.ends_with(".csv") {
            Some(FileFormat::Csv)
        } else {
            None
        }
    }

    pub fn is_parquet(self) -> bool {
        matches!(self, FileFormat::Parquet | FileFormat::GzipParquet)
    }

    pub fn is_gzip(self) -> bool {
        matches!(self, FileFormat::GzipCsv | FileFormat::GzipParquet)
    }
}

/// One file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    pub path: PathBuf,
    pub format: FileFormat,
    /// The billing period folder's name, when the file is in one.
    pub period: Option<String>,
}

/// What kind of input the path was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutKind {
    File,
    LegacyFolder,
    Cur2Folder,
    PlainFolder,
}

/// The files of an input path, in reading order.
#[derive(Debug, Clone)]
pub struct Layout {
    pub kind: LayoutKind,
    pub files: Vec<DataFile>,
    /// Billing period folder names, sorted.
    pub periods: Vec<String>,
}

const MAX_DEPTH: usize = 24;

/// Finds the files to read under `path`.
pub fn discover(path: &Path) -> Result<Layout, SourceError> {
    let meta = fs::metadata(path).map_err(|e| SourceError::io(path.display(), e))?;
    if !meta.is_dir() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        reject_zip(path, &name)?;
        let format = FileFormat::from_name(&name).unwrap_or(FileFormat::Csv);
        return Ok(Layout {
            kind: LayoutKind::File,
            files: vec![DataFile {
                path: path.to_path_buf(),
                format,
                period: None,
            }],
            periods: Vec::new(),
        });
    }
    let mut found = Found::default();
    walk(path, 0, &mut found)?;

    // Group manifests and data files by billing period.
    let mut periods: Vec<Period> = Vec::new();
    let mut plain = Vec::new();
    for manifest in found.manifests {
        // A manifest outside any period folder cannot be scoped to a period: it is ignored.
        if let Some(p) = period_of(path, &manifest) {
            period_entry(&mut periods, p).manifests.push(manifest);
        }
    }
    for file in found.data {
        match period_of(path, &file) {
            Some(p) => {
                let dir = p.dir.clone();
                period_entry(&mut periods, p).data.push((dir, file));
            }
            None => plain.push(file),
        }
    }
    periods.sort_by(|a, b| (&a.name, &a.report_root).cmp(&(&b.name, &b.report_root)));

    let mut files = Vec::new();
    let mut legacy = false;
    let mut cur2 = false;
    for period in &periods {
        if period.name.starts_with("BILLING_PERIOD=") {
            cur2 = true;
        } else {
            legacy = true;
        }
        for file in period.pick()? {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            reject_zip(&file, &name)?;
            let format = FileFormat::from_name(&name).unwrap_or(FileFormat::Csv);
            files.push(DataFile {
                path: file,
                format,
                period: Some(period.name.clone()),
            });
        }
    }
    plain.sort();
    for file in plain {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(format) = FileFormat::from_name(&name) {
            files.push(DataFile {
                path: file,
                format,
                period: None,
            });
        }
    }
    if files.is_empty() {
        return Err(SourceError::invalid(
            Location::file(path.display().to_string()),
            "no CUR files (.csv, .csv.gz, .gz, .parquet) in the folder",
        ));
    }
    let kind = match (legacy, cur2) {
        (true, false) => LayoutKind::LegacyFolder,
        (false, true) => LayoutKind::Cur2Folder,
        _ => LayoutKind::PlainFolder,
    };
    let mut names: Vec<String> = periods.iter().map(|p| p.name.clone()).collect();
    names.sort();
    names.dedup();
    Ok(Layout {
        kind,
        files,
        periods: names,
    })
}

fn reject_zip(path: &Path, name: &str) -> Result<(), SourceError> {
    if name.to_ascii_lowercase().ends_with(".zip") {
        return Err(SourceError::invalid(
            Location::file(path.display().to_string()),
            "ZIP-compressed CUR parts are not read; unzip them or deliver GZIP/Parquet",
        ));
    }
    Ok(())
}

#[derive(Default)]
struct Found {
    manifests: Vec<PathBuf>,
    data: Vec<PathBuf>,
}

fn walk(dir: &Path, depth: usize, found: &mut Found) -> Result<(), SourceError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let entries = fs::read_dir(dir).map_err(|e| SourceError::io(dir.display(), e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SourceError::io(dir.display(), e))?;
        paths.push(entry.path());
    }
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') {
            continue;
        }
        let meta = fs::metadata(&path).map_err(|e| SourceError::io(path.display(), e))?;
        if meta.is_dir() {
            walk(&path, depth + 1, found)?;
        } else if name.ends_with("Manifest.json") {
            found.manifests.push(path);
        } else if FileFormat::from_name(&name).is_some()
            || name.to_ascii_lowercase().ends_with(".zip")
        {
            found.data.push(path);
        }
    }
    Ok(())
}

/// A billing period folder and what was found in it.
struct Period {
    name: String,
    /// The folder manifest keys are resolved against.
    report_root: PathBuf,
    manifests: Vec<PathBuf>,
    /// (the file's own period folder, the file).
    data: Vec<(PathBuf, PathBuf)>,
}

struct PeriodRef {
    name: String,
    dir: PathBuf,
    report_root: PathBuf,
}

fn is_period_name(name: &str) -> bool {
    let legacy = name.len() == 17
        && name.as_bytes()[8] == b'-'
        && name
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 8 || b.is_ascii_digit());
    legacy || (name.starts_with("BILLING_PERIOD=") && name.len() > "BILLING_PERIOD=".len())
}

/// The nearest period folder holding `file`, searched up to and including `root`.
fn period_of(root: &Path, file: &Path) -> Option<PeriodRef> {
    let mut dir = file.parent();
    while let Some(d) = dir {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_period_name(&name) {
            let parent = d.parent().map(Path::to_path_buf).unwrap_or_default();
            let parent_name = parent
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let report_root = if name.starts_with("BILLING_PERIOD=")
                && (parent_name == "data" || parent_name == "metadata")
            {
                parent.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                parent
            };
            return Some(PeriodRef {
                name,
                dir: d.to_path_buf(),
                report_root,
            });
        }
        if d == root {
            break;
        }
        dir = d.parent();
    }
    None
}

fn period_entry(periods: &mut Vec<Period>, p: PeriodRef) -> &mut Period {
    let at = periods
        .iter()
        .position(|x| x.name == p.name && x.report_root == p.report_root);
    let index = match at {
        Some(index) => index,
        None => {
            periods.push(Period {
                name: p.name,
                report_root: p.report_root,
                manifests: Vec::new(),
                data: Vec::new(),
            });
            periods.len() - 1
        }
    };
    &mut periods[index]
}

fn modified(path: &Path) -> SystemTime {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

impl Period {
    /// The files of the period's latest delivery.
    fn pick(&self) -> Result<Vec<PathBuf>, SourceError> {
        if let Some(manifest) = self.chosen_manifest() {
            return self.manifest_files(manifest);
        }
        let direct: Vec<PathBuf> = self
            .data
            .iter()
            .filter(|(dir, file)| file.parent() == Some(dir.as_path()))
            .map(|(_, file)| file.clone())
            .collect();
        if !direct.is_empty() {
            return Ok(direct);
        }
        // Group by the first folder below the period folder (the assembly).
        let mut groups: Vec<(PathBuf, SystemTime, Vec<PathBuf>)> = Vec::new();
        for (dir, file) in &self.data {
            let Ok(rest) = file.strip_prefix(dir) else {
                continue;
            };
            let Some(first) = rest.components().next() else {
                continue;
            };
            let assembly = dir.join(first);
            let time = modified(file);
            match groups.iter_mut().find(|(a, _, _)| *a == assembly) {
                Some(group) => {
                    group.1 = group.1.max(time);
                    group.2.push(file.clone());
                }
                None => groups.push((assembly, time, vec![file.clone()])),
            }
        }
        let newest = groups
            .into_iter()
            .max_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        Ok(newest.map(|(_, _, files)| files).unwrap_or_default())
    }

    fn chosen_manifest(&self) -> Option<&PathBuf> {
        let in_period_folder = |m: &&PathBuf| {
            m.parent()
                .and_then(Path::file_name)
                .is_some_and(|n| n.to_string_lossy() == self.name)
        };
        let direct: Vec<&PathBuf> = self.manifests.iter().filter(in_period_folder).collect();
        let pool: Vec<&PathBuf> = if direct.is_empty() {
            self.manifests.iter().collect()
        } else {
            direct
        };
        pool.into_iter()
            .max_by(|a, b| (modified(a), *a).cmp(&(modified(b), *b)))
    }

    fn manifest_files(&self, manifest: &Path) -> Result<Vec<PathBuf>, SourceError> {
        let location = || Location::file(manifest.display().to_string());
        let text =
            fs::read_to_string(manifest).map_err(|e| SourceError::io(manifest.display(), e))?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            SourceError::invalid(
                location().at_line(e.line() as u64),
                format!("manifest is not valid JSON: {e}"),
            )
        })?;
        let keys = ["reportKeys", "dataFiles"].iter().find_map(|k| {
            json.get(*k)
                .and_then(serde_json::Value::as_array)
                .map(|a| (*k, a))
        });
        let Some((field, keys)) = keys else {
            return Err(SourceError::invalid(
                location(),
                "manifest has neither `reportKeys` (legacy CUR) nor `dataFiles` (CUR 2.0)",
            ));
        };
        let mut files = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(key) = key.as_str() else {
                return Err(SourceError::invalid(
                    location().in_column(field),
                    format!("`{field}` holds a value that is not a string: {key}"),
                ));
            };
            match resolve_key(&self.report_root, &self.name, key) {
                Some(path) => files.push(path),
                None => {
                    return Err(SourceError::invalid(
                        location().in_column(field),
                        format!(
                            "the manifest names part `{key}`, which is not in the folder \
                             (looked under {})",
                            self.report_root.display()
                        ),
                    ));
                }
            }
        }
        Ok(files)
    }
}

/// The local file of an S3 key or URI: its trailing components, from the period folder (or
/// the folder just above it) on, resolved against `report_root`.
fn resolve_key(report_root: &Path, period: &str, key: &str) -> Option<PathBuf> {
    let key = match key.strip_prefix("s3://") {
        Some(rest) => rest.split_once('/').map_or("", |(_, path)| path),
        None => key,
    };
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    let anchor = parts.iter().position(|p| *p == period);
    let last_start = anchor.unwrap_or(parts.len().saturating_sub(1));
    (0..=last_start)
        .filter(|&i| i < parts.len())
        .map(|i| report_root.join(parts[i..].join("/")))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_folder_names_are_recognised() {
        assert!(is_period_name("20231101-20231201"));
        assert!(is_period_name("BILLING_PERIOD=2023-11"));
        assert!(!is_period_name("2023110-20231201x"));
        assert!(!is_period_name("BILLING_PERIOD="));
        assert!(!is_period_name("assembly-1"));
    }

    #[test]
    fn formats_follow_the_file_name() {
        assert_eq!(FileFormat::from_name("a.csv.gz"), Some(FileFormat::GzipCsv));
        assert_eq!(FileFormat::from_name("a.GZ"), Some(FileFormat::GzipCsv));
        assert_eq!(
            FileFormat::from_name("a.snappy.parquet"),
            Some(FileFormat::Parquet)
        );
        assert_eq!(FileFormat::from_name("a.CSV"), Some(FileFormat::Csv));
        assert_eq!(FileFormat::from_name("a-Manifest.json"), None);
    }
}
