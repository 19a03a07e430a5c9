//! Which files an input path (or an object-store prefix) stands for.
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
//! 2. else the manifest with the newest modification time (ties: the greatest key);
//! 3. with no manifest: the parts directly in the period folder if there are any, else the
//!    subfolder (assembly) whose newest file is the newest (ties: the greatest name).
//!
//! A manifest key is an S3 key or URI
//! (`s3://bucket/prefix/report/20231101-20231201/<id>/x.csv.gz`). It is mapped to a listed
//! file by its trailing components, resolved against the report folder (the period folder's
//! parent; for CUR 2.0 the folder above `data/` and `metadata/`); the trailing part must
//! include the period folder. A key that maps to no listed file is an error that names the
//! manifest and the key.
//!
//! The choice is made on a [`Listing`]: keys relative to the input's root, `/`-separated,
//! with their modification times. A local folder is walked into one ([`discover`]); an
//! object store lists its prefix into one and calls [`pick`].

use std::collections::HashSet;
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

    /// The same content without its gzip layer.
    pub fn decompressed(self) -> FileFormat {
        match self {
            FileFormat::GzipCsv => FileFormat::Csv,
            FileFormat::GzipParquet => FileFormat::Parquet,
            other => other,
        }
    }
}

/// One file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Where the bytes are on this machine.
    pub path: PathBuf,
    /// How the file is named in messages and in the rows' `source` (the local path, or the
    /// `s3://` URI of a downloaded part).
    pub shown: String,
    pub format: FileFormat,
    /// The billing period folder's name, when the file is in one.
    pub period: Option<String>,
}

impl DataFile {
    /// A local file, shown as its path.
    pub fn local(path: PathBuf, format: FileFormat, period: Option<String>) -> DataFile {
        DataFile {
            shown: path.display().to_string(),
            path,
            format,
            period,
        }
    }
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

/// A file of a listing: its key relative to the listing's root (`/`-separated) and when it
/// was last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub modified: SystemTime,
}

/// The place a listing's files are in: how to show a key and how to read a manifest.
pub trait Listing {
    /// The key as a user knows it: a local path, an `s3://` URI.
    fn shown(&self, key: &str) -> String;
    /// The whole text of a (small) manifest file.
    fn read_text(&self, key: &str) -> Result<String, SourceError>;
}

/// A file chosen from a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickedFile {
    pub key: String,
    pub format: FileFormat,
    pub period: Option<String>,
}

/// The files chosen from a listing, in reading order.
#[derive(Debug, Clone)]
pub struct Picked {
    pub kind: LayoutKind,
    pub files: Vec<PickedFile>,
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
        reject_zip(&path.display().to_string(), &name)?;
        let format = FileFormat::from_name(&name).unwrap_or(FileFormat::Csv);
        return Ok(Layout {
            kind: LayoutKind::File,
            files: vec![DataFile::local(path.to_path_buf(), format, None)],
            periods: Vec::new(),
        });
    }
    // Keys start with the folder's own name, so that a period folder given as the input is
    // still seen as one.
    let (base, own_name) = match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => (parent, name.to_string_lossy().into_owned()),
        _ => (path, String::new()),
    };
    let mut entries = Vec::new();
    walk(path, &own_name, 0, &mut entries)?;
    let folder = LocalFolder { root: base };
    let picked = pick(&path.display().to_string(), entries, &folder)?;
    let files = picked
        .files
        .into_iter()
        .map(|f| DataFile::local(folder.path(&f.key), f.format, f.period))
        .collect();
    Ok(Layout {
        kind: picked.kind,
        files,
        periods: picked.periods,
    })
}

/// A local folder as a [`Listing`].
struct LocalFolder<'a> {
    root: &'a Path,
}

impl LocalFolder<'_> {
    fn path(&self, key: &str) -> PathBuf {
        key.split('/')
            .fold(self.root.to_path_buf(), |p, c| p.join(c))
    }
}

impl Listing for LocalFolder<'_> {
    fn shown(&self, key: &str) -> String {
        self.path(key).display().to_string()
    }

    fn read_text(&self, key: &str) -> Result<String, SourceError> {
        let path = self.path(key);
        fs::read_to_string(&path).map_err(|e| SourceError::io(path.display(), e))
    }
}

/// Chooses the files to read among `entries` (see the module docs). `root_shown` names the
/// listing's root in messages.
pub fn pick(
    root_shown: &str,
    entries: Vec<Entry>,
    listing: &dyn Listing,
) -> Result<Picked, SourceError> {
    let keys: HashSet<&str> = entries.iter().map(|e| e.key.as_str()).collect();

    // Group manifests and data files by billing period.
    let mut periods: Vec<Period<'_>> = Vec::new();
    let mut plain: Vec<&Entry> = Vec::new();
    for entry in &entries {
        let name = file_name(&entry.key);
        let manifest = name.ends_with("Manifest.json");
        let data =
            FileFormat::from_name(name).is_some() || name.to_ascii_lowercase().ends_with(".zip");
        if !manifest && !data {
            continue;
        }
        match period_of(&entry.key) {
            Some(p) => {
                let period = period_entry(&mut periods, &p);
                if manifest {
                    period.manifests.push(entry);
                } else {
                    period.data.push((p.dir, entry));
                }
            }
            // A manifest outside any period folder cannot be scoped to a period: ignored.
            None if manifest => {}
            None => plain.push(entry),
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
        for key in period.pick(listing, &keys)? {
            let name = file_name(&key);
            reject_zip(&listing.shown(&key), name)?;
            let format = FileFormat::from_name(name).unwrap_or(FileFormat::Csv);
            files.push(PickedFile {
                key,
                format,
                period: Some(period.name.clone()),
            });
        }
    }
    plain.sort_by(|a, b| a.key.cmp(&b.key));
    for entry in plain {
        if let Some(format) = FileFormat::from_name(file_name(&entry.key)) {
            files.push(PickedFile {
                key: entry.key.clone(),
                format,
                period: None,
            });
        }
    }
    if files.is_empty() {
        return Err(SourceError::invalid(
            Location::file(root_shown),
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
    Ok(Picked {
        kind,
        files,
        periods: names,
    })
}

fn reject_zip(shown: &str, name: &str) -> Result<(), SourceError> {
    if name.to_ascii_lowercase().ends_with(".zip") {
        return Err(SourceError::invalid(
            Location::file(shown),
            "ZIP-compressed CUR parts are not read; unzip them or deliver GZIP/Parquet",
        ));
    }
    Ok(())
}

/// The last component of a key.
fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The folder part of a key (`a/b/c.csv` → `a/b`; `c.csv` → ``).
fn parent(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// `dir` and `rest` joined with a `/` (either may be empty).
fn join(dir: &str, rest: &str) -> String {
    match (dir.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => dir.to_owned(),
        _ => format!("{dir}/{rest}"),
    }
}

/// Walks `dir` (the folder of key prefix `prefix`) into `entries`, in name order.
fn walk(
    dir: &Path,
    prefix: &str,
    depth: usize,
    entries: &mut Vec<Entry>,
) -> Result<(), SourceError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let listing = fs::read_dir(dir).map_err(|e| SourceError::io(dir.display(), e))?;
    let mut paths = Vec::new();
    for entry in listing {
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
        let key = join(prefix, &name);
        if meta.is_dir() {
            walk(&path, &key, depth + 1, entries)?;
        } else {
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            entries.push(Entry { key, modified });
        }
    }
    Ok(())
}

/// A billing period folder and what was found in it.
struct Period<'e> {
    name: String,
    /// The folder manifest keys are resolved against.
    report_root: String,
    manifests: Vec<&'e Entry>,
    /// (the file's own period folder, the file).
    data: Vec<(String, &'e Entry)>,
}

struct PeriodRef {
    name: String,
    dir: String,
    report_root: String,
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

/// The nearest period folder holding `key`.
fn period_of(key: &str) -> Option<PeriodRef> {
    let mut dir = parent(key);
    while !dir.is_empty() {
        let name = file_name(dir);
        if is_period_name(name) {
            let above = parent(dir);
            let report_root = if name.starts_with("BILLING_PERIOD=")
                && matches!(file_name(above), "data" | "metadata")
            {
                parent(above)
            } else {
                above
            };
            return Some(PeriodRef {
                name: name.to_owned(),
                dir: dir.to_owned(),
                report_root: report_root.to_owned(),
            });
        }
        dir = parent(dir);
    }
    None
}

fn period_entry<'p, 'e>(periods: &'p mut Vec<Period<'e>>, p: &PeriodRef) -> &'p mut Period<'e> {
    let at = periods
        .iter()
        .position(|x| x.name == p.name && x.report_root == p.report_root);
    let index = match at {
        Some(index) => index,
        None => {
            periods.push(Period {
                name: p.name.clone(),
                report_root: p.report_root.clone(),
                manifests: Vec::new(),
                data: Vec::new(),
            });
            periods.len() - 1
        }
    };
    &mut periods[index]
}

impl Period<'_> {
    /// The keys of the period's latest delivery.
    fn pick(
        &self,
        listing: &dyn Listing,
        keys: &HashSet<&str>,
    ) -> Result<Vec<String>, SourceError> {
        if let Some(manifest) = self.chosen_manifest() {
            return self.manifest_files(manifest, listing, keys);
        }
        let direct: Vec<String> = self
            .data
            .iter()
            .filter(|(dir, file)| parent(&file.key) == dir.as_str())
            .map(|(_, file)| file.key.clone())
            .collect();
        if !direct.is_empty() {
            return Ok(direct);
        }
        // Group by the first folder below the period folder (the assembly).
        let mut groups: Vec<(String, SystemTime, Vec<String>)> = Vec::new();
        for (dir, file) in &self.data {
            let Some(rest) = file.key.strip_prefix(dir.as_str()) else {
                continue;
            };
            let Some(first) = rest.trim_start_matches('/').split('/').next() else {
                continue;
            };
            let assembly = join(dir, first);
            match groups.iter_mut().find(|(a, _, _)| *a == assembly) {
                Some(group) => {
                    group.1 = group.1.max(file.modified);
                    group.2.push(file.key.clone());
                }
                None => groups.push((assembly, file.modified, vec![file.key.clone()])),
            }
        }
        let newest = groups
            .into_iter()
            .max_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        Ok(newest.map(|(_, _, files)| files).unwrap_or_default())
    }

    fn chosen_manifest(&self) -> Option<&Entry> {
        let in_period_folder = |m: &&&Entry| file_name(parent(&m.key)) == self.name;
        let direct: Vec<&&Entry> = self.manifests.iter().filter(in_period_folder).collect();
        let pool: Vec<&&Entry> = if direct.is_empty() {
            self.manifests.iter().collect()
        } else {
            direct
        };
        pool.into_iter()
            .max_by(|a, b| (a.modified, &a.key).cmp(&(b.modified, &b.key)))
            .map(|m| &**m)
    }

    fn manifest_files(
        &self,
        manifest: &Entry,
        listing: &dyn Listing,
        keys: &HashSet<&str>,
    ) -> Result<Vec<String>, SourceError> {
        let shown = listing.shown(&manifest.key);
        let location = || Location::file(&shown);
        let text = listing.read_text(&manifest.key)?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            SourceError::invalid(
                location().at_line(e.line() as u64),
                format!("manifest is not valid JSON: {e}"),
            )
        })?;
        let named = ["reportKeys", "dataFiles"].iter().find_map(|k| {
            json.get(*k)
                .and_then(serde_json::Value::as_array)
                .map(|a| (*k, a))
        });
        let Some((field, named)) = named else {
            return Err(SourceError::invalid(
                location(),
                "manifest has neither `reportKeys` (legacy CUR) nor `dataFiles` (CUR 2.0)",
            ));
        };
        let mut files = Vec::with_capacity(named.len());
        for key in named {
            let Some(key) = key.as_str() else {
                return Err(SourceError::invalid(
                    location().in_column(field),
                    format!("`{field}` holds a value that is not a string: {key}"),
                ));
            };
            match resolve_key(&self.report_root, &self.name, key, keys) {
                Some(found) => files.push(found),
                None => {
                    return Err(SourceError::invalid(
                        location().in_column(field),
                        format!(
                            "the manifest names part `{key}`, which is not in the folder \
                             (looked under {})",
                            listing.shown(&self.report_root)
                        ),
                    ));
                }
            }
        }
        Ok(files)
    }
}

/// The listed key of an S3 key or URI: its trailing components, from the period folder (or
/// the folder just above it) on, resolved against `report_root`.
fn resolve_key(report_root: &str, period: &str, key: &str, keys: &HashSet<&str>) -> Option<String> {
    let key = match key.strip_prefix("s3://") {
        Some(rest) => rest.split_once('/').map_or("", |(_, path)| path),
        None => key,
    };
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
    let anchor = parts.iter().position(|p| *p == period);
    let last_start = anchor.unwrap_or(parts.len().saturating_sub(1));
    (0..=last_start)
        .filter(|&i| i < parts.len())
        .map(|i| join(report_root, &parts[i..].join("/")))
        .find(|candidate| keys.contains(candidate.as_str()))
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

    #[test]
    fn keys_find_their_period_and_report_root() {
        let p = period_of("r/20231101-20231201/id/r-1.csv.gz").expect("period");
        assert_eq!(
            (p.name.as_str(), p.dir.as_str()),
            ("20231101-20231201", "r/20231101-20231201")
        );
        assert_eq!(p.report_root, "r");
        let p = period_of("exp/data/BILLING_PERIOD=2023-11/exp-00001.csv.gz").expect("period");
        assert_eq!(p.report_root, "exp");
        let p = period_of("data/BILLING_PERIOD=2023-11/x.parquet").expect("period");
        assert_eq!(p.report_root, "");
        assert!(period_of("plain.csv").is_none());
    }
}
