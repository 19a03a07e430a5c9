//! The ledger on disk: Parquet partitioned by provider and billing month, one file per
//! source in each partition, laid out for DuckDB's and polars' Hive partitioning:
//!
//! ```text
//! LEDGER/provider=aws/month=2026-10/aws-main.parquet
//! LEDGER/_carbonledger/state.json          what each file holds (SHA-256, rows, run, factors)
//! LEDGER/_carbonledger/versions/…          replaced versions of closed months
//! LEDGER/_carbonledger/versions.jsonl      one line per replaced version
//! LEDGER/_carbonledger/lock                held while a run writes
//! ```
//!
//! A partition file is written aside (`.partial-…` in the same folder), synced, and renamed
//! over the old one, so an interrupted run leaves every partition either old or new, never
//! torn; the next run removes the leftovers. A file whose bytes would not change is not
//! touched, so running twice gives the same files. When a partition of a closed month (any
//! month before the run's current one) changes, the old file is moved under `versions/` with
//! the run time and factor set that made it, so a published report can be reproduced.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use polars::io::parquet::write::BatchedWriter;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::job::config::Month;

const STATE_DIR: &str = "_carbonledger";
const PARTIAL: &str = ".partial-";

/// What the ledger knows about its files, kept in `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// This ledger folder's id (random, made by its first run): names its rows in a
    /// PostgreSQL table that several ledgers share.
    #[serde(default)]
    pub ledger_id: String,
    pub sources: BTreeMap<String, SourceState>,
}

/// The last successful run of one source.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceState {
    /// What the input looked like (files, sizes, times); `None` for API sources.
    pub fingerprint: Option<String>,
    pub method: String,
    pub factor_set: String,
    /// The months that run covered.
    pub months: Vec<String>,
    /// RFC 3339 UTC.
    pub run_at: String,
    /// `provider=…/month=…` → the file there.
    pub partitions: BTreeMap<String, PartitionState>,
}

/// One partition file of a source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PartitionState {
    pub sha256: String,
    pub rows: u64,
    /// The run that wrote these bytes (an unchanged file keeps its first run's time).
    pub run_at: String,
    pub factor_set: String,
}

/// One replaced file, a line of `versions.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Version {
    pub source: String,
    pub partition: String,
    /// The kept file, relative to the ledger root.
    pub file: String,
    pub sha256: String,
    pub rows: u64,
    pub run_at: String,
    pub factor_set: String,
    pub replaced_at: String,
}

/// A ledger folder opened for writing; holds the lock until dropped.
pub struct Ledger {
    root: PathBuf,
    state: State,
    _lock: File,
}

/// What committing one source did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Committed {
    pub written: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// Partitions whose previous file was kept under `versions/`.
    pub versioned: Vec<String>,
}

impl Ledger {
    /// Opens (or creates) the ledger at `root` and takes its lock; fails at once when another
    /// run holds it. Leftovers of an interrupted run are removed.
    pub fn open(root: &Path) -> Result<Ledger, Error> {
        let state_dir = root.join(STATE_DIR);
        fs::create_dir_all(&state_dir).map_err(io(&state_dir))?;
        let lock_path = state_dir.join("lock");
        let mut lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                return Err(Error::Locked(format!(
                    "{}: another carbonledger run is writing this ledger ({}); try again when \
                     it has finished",
                    root.display(),
                    holder.trim()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        lock.set_len(0).map_err(io(&lock_path))?;
        writeln!(
            lock,
            "pid {} since {}",
            std::process::id(),
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
        .map_err(io(&lock_path))?;
        remove_partials(root)?;
        let state_file = state_dir.join("state.json");
        let state = match fs::read(&state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Config(format!(
                    "{}: the ledger's state file is unreadable ({e}); restore it from a backup \
                     or move the ledger folder aside",
                    state_file.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(io(&state_file)(e)),
        };
        let mut ledger = Ledger {
            root: root.to_path_buf(),
            state,
            _lock: lock,
        };
        if ledger.state.ledger_id.is_empty() {
            ledger.state.ledger_id = format!("{:032x}", fastrand::u128(..));
            ledger.save_state()?;
        }
        Ok(ledger)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// A writer for one source's rows of this run.
    pub fn writer(&self, source: &str, months: &[Month]) -> SourceWriter {
        SourceWriter {
            root: self.root.clone(),
            source: source.to_owned(),
            months: months.to_vec(),
            open: BTreeMap::new(),
            outside: BTreeMap::new(),
        }
    }

    /// Puts a source's finished partitions in place, replacing what the source wrote before
    /// for the run's months, and records them. `open_month` is the run's current month.
    ///
    /// The order keeps the live file whole at every step: an old file to keep is first
    /// hard-linked under `versions/`, then the new file is renamed over it (one atomic step),
    /// and only then is the replacement logged and the state saved.
    pub fn commit(
        &mut self,
        written: Finished,
        mut run: SourceState,
        open_month: Month,
    ) -> Result<Committed, Error> {
        let source = written.source.clone();
        let previous = self.state.sources.get(&source).cloned().unwrap_or_default();
        let mut done = Committed::default();
        let months: Vec<String> = written.months.iter().map(Month::to_string).collect();
        let in_run = |key: &str| months.iter().any(|m| key.ends_with(&format!("/month={m}")));
        for (key, old) in &previous.partitions {
            if !in_run(key) {
                run.partitions.insert(key.clone(), old.clone());
            }
        }
        // Files of the run's months the source no longer has rows in: found on disk, so a
        // file the state does not know (a crash before the state was saved) goes too.
        for key in self.files_of(&source)? {
            if !in_run(&key) || written.parts.contains_key(&key) {
                continue;
            }
            let file = self.partition_file(&key, &source);
            if is_closed(&key, open_month) {
                let old = self.described(&previous, &key, &file)?;
                let version = self.keep_version(&source, &key, &file, &old, &run.run_at)?;
                self.log_version(&version)?;
                fs::remove_file(&file).map_err(io(&file))?;
                done.versioned.push(key.clone());
            } else {
                fs::remove_file(&file).map_err(io(&file))?;
            }
            done.removed.push(key);
        }
        for (key, part) in written.parts {
            let target = self.partition_file(&key, &source);
            let existing = match fs::metadata(&target) {
                Ok(_) => Some(sha256_file(&target)?),
                Err(_) => None,
            };
            let old = previous.partitions.get(&key);
            if existing.as_deref() == Some(part.sha256.as_str()) {
                fs::remove_file(&part.temp).map_err(io(&part.temp))?;
                let kept = match old {
                    Some(o) if o.sha256 == part.sha256 => o.clone(),
                    _ => part.state(&run),
                };
                run.partitions.insert(key.clone(), kept);
                done.unchanged.push(key);
                continue;
            }
            let version = match existing {
                Some(_) if is_closed(&key, open_month) => {
                    let old = self.described(&previous, &key, &target)?;
                    Some(self.keep_version(&source, &key, &target, &old, &run.run_at)?)
                }
                _ => None,
            };
            // Logged before the rename: a run killed between the two leaves a logged version
            // whose file is still live, and the next run, replacing it again, finds the line
            // already there; logged after, a kill in between would lose the record of it.
            if let Some(version) = &version {
                self.log_version(version)?;
            }
            fs::rename(&part.temp, &target).map_err(io(&target))?;
            sync_dir(target.parent().unwrap_or(&self.root));
            if version.is_some() {
                done.versioned.push(key.clone());
            }
            run.partitions.insert(key.clone(), part.state(&run));
            done.written.push(key);
        }
        self.state.sources.insert(source, run);
        self.save_state()?;
        Ok(done)
    }

    /// Removes every file of `source` and forgets it; files of closed months are kept under
    /// `versions/` first. Returns the partitions removed.
    pub fn prune(
        &mut self,
        source: &str,
        open_month: Month,
        now: &str,
    ) -> Result<Vec<String>, Error> {
        let previous = self.state.sources.get(source).cloned().unwrap_or_default();
        let mut removed = Vec::new();
        for key in self.files_of(source)? {
            let file = self.partition_file(&key, source);
            if is_closed(&key, open_month) {
                let old = self.described(&previous, &key, &file)?;
                let version = self.keep_version(source, &key, &file, &old, now)?;
                self.log_version(&version)?;
                fs::remove_file(&file).map_err(io(&file))?;
            } else {
                fs::remove_file(&file).map_err(io(&file))?;
            }
            removed.push(key);
        }
        self.state.sources.remove(source);
        self.save_state()?;
        Ok(removed)
    }

    /// Sources the state knows, for warnings about ones no longer configured.
    pub fn known_sources(&self) -> Vec<String> {
        self.state.sources.keys().cloned().collect()
    }

    /// `provider=…/month=…` of every file of `source` on disk.
    fn files_of(&self, source: &str) -> Result<Vec<String>, Error> {
        let name = format!("{source}.parquet");
        Ok(partition_dirs(&self.root)?
            .into_iter()
            .filter(|(_, dir)| dir.join(&name).is_file())
            .map(|(key, _)| key)
            .collect())
    }

    /// What the state says of the file at `key`, when its bytes are the ones it describes.
    fn described(
        &self,
        previous: &SourceState,
        key: &str,
        file: &Path,
    ) -> Result<PartitionState, Error> {
        let sha = sha256_file(file)?;
        Ok(match previous.partitions.get(key) {
            Some(o) if o.sha256 == sha => o.clone(),
            // A file the state does not describe (a run interrupted after the rename).
            _ => PartitionState {
                sha256: sha,
                rows: parquet_rows(file),
                run_at: "unknown".into(),
                factor_set: "unknown".into(),
            },
        })
    }

    /// `provider=…/month=…` and source → its file.
    fn partition_file(&self, key: &str, source: &str) -> PathBuf {
        self.root.join(key).join(format!("{source}.parquet"))
    }

    /// Links the live `file` under `versions/` (the live file stays in place); the caller
    /// logs the returned record once the replacement is done.
    fn keep_version(
        &self,
        source: &str,
        key: &str,
        file: &Path,
        old: &PartitionState,
        now: &str,
    ) -> Result<Version, Error> {
        let stamp: String = old
            .run_at
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let relative = Path::new(STATE_DIR)
            .join("versions")
            .join(key)
            .join(format!(
                "{source}.{stamp}.{}.parquet",
                &old.sha256[..12.min(old.sha256.len())]
            ));
        let kept = self.root.join(&relative);
        if let Some(dir) = kept.parent() {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        if !kept.exists() && fs::hard_link(file, &kept).is_err() {
            fs::copy(file, &kept).map_err(io(&kept))?;
            File::open(&kept)
                .and_then(|f| f.sync_all())
                .map_err(io(&kept))?;
        }
        sync_dir(kept.parent().unwrap_or(&self.root));
        Ok(Version {
            source: source.to_owned(),
            partition: key.to_owned(),
            file: relative.to_string_lossy().into_owned(),
            sha256: old.sha256.clone(),
            rows: old.rows,
            run_at: old.run_at.clone(),
            factor_set: old.factor_set.clone(),
            replaced_at: now.to_owned(),
        })
    }

    /// Appends `version` to `versions.jsonl` unless a line already records that kept file
    /// (same source, partition, SHA-256 and file: logged by a run that was killed before it
    /// finished the replacement).
    fn log_version(&self, version: &Version) -> Result<(), Error> {
        let log = self.root.join(STATE_DIR).join("versions.jsonl");
        let logged = match fs::read_to_string(&log) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(&log)(e)),
        };
        let already = logged
            .lines()
            .filter_map(|line| serde_json::from_str::<Version>(line).ok())
            .any(|v| {
                v.source == version.source
                    && v.partition == version.partition
                    && v.sha256 == version.sha256
                    && v.file == version.file
            });
        if already {
            return Ok(());
        }
        let mut out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io(&log))?;
        let line = serde_json::to_string(version).map_err(|e| Error::Config(e.to_string()))?;
        writeln!(out, "{line}").map_err(io(&log))?;
        out.sync_all().map_err(io(&log))?;
        Ok(())
    }

    fn save_state(&self) -> Result<(), Error> {
        let dir = self.root.join(STATE_DIR);
        let file = dir.join("state.json");
        // Named as a partial, so that a run killed before the rename leaves nothing the next
        // run does not remove.
        let mut temp = tempfile::Builder::new()
            .prefix(&format!("{PARTIAL}state-"))
            .tempfile_in(&dir)
            .map_err(io(&dir))?;
        let text =
            serde_json::to_string_pretty(&self.state).map_err(|e| Error::Config(e.to_string()))?;
        temp.write_all(text.as_bytes()).map_err(io(&file))?;
        temp.as_file().sync_all().map_err(io(&file))?;
        temp.persist(&file).map_err(|e| io(&file)(e.error))?;
        sync_dir(&dir);
        Ok(())
    }
}

/// Whether the partition `provider=…/month=YYYY-MM` is of a month before `open_month`.
fn is_closed(key: &str, open_month: Month) -> bool {
    key.rsplit("month=")
        .next()
        .and_then(Month::parse)
        .is_some_and(|m| m < open_month)
}

/// One source's rows of a run, spread over partition files being written aside.
pub struct SourceWriter {
    root: PathBuf,
    source: String,
    months: Vec<Month>,
    open: BTreeMap<String, (PathBuf, BatchedWriter<File>, u64)>,
    /// Rows of months outside the run, by month.
    outside: BTreeMap<String, u64>,
}

/// A source's partition files, finished and hashed, not yet in place.
pub struct Finished {
    pub source: String,
    pub months: Vec<Month>,
    pub parts: BTreeMap<String, Part>,
    pub outside: BTreeMap<String, u64>,
}

/// One finished partition file.
pub struct Part {
    pub temp: PathBuf,
    pub sha256: String,
    pub rows: u64,
}

impl Part {
    fn state(&self, run: &SourceState) -> PartitionState {
        PartitionState {
            sha256: self.sha256.clone(),
            rows: self.rows,
            run_at: run.run_at.clone(),
            factor_set: run.factor_set.clone(),
        }
    }
}

impl SourceWriter {
    /// Splits a ledger batch by provider and month of `period_start` and appends each part to
    /// its partition's file.
    pub fn write(&mut self, batch: &DataFrame) -> Result<(), Error> {
        let keys = partition_keys(batch).map_err(Error::polars("partitioning the ledger"))?;
        let mut rows: BTreeMap<(String, Month), Vec<IdxSize>> = BTreeMap::new();
        for (i, key) in keys.into_iter().enumerate() {
            rows.entry(key).or_default().push(i as IdxSize);
        }
        for ((provider, month), idx) in rows {
            if !self.months.contains(&month) {
                *self.outside.entry(month.to_string()).or_default() += idx.len() as u64;
                continue;
            }
            let key = format!("provider={provider}/month={month}");
            let n = idx.len() as u64;
            let mut part = batch
                .take(&IdxCa::from_vec("idx".into(), idx))
                .map_err(Error::polars("partitioning the ledger"))?;
            // The `provider` column says what the folder says (`My Cloud.Inc` → `my_cloud_inc`),
            // so Hive-partitioned readers and the PostgreSQL sink agree with the files.
            let column = Column::new_scalar(
                carbonledger_usage::col::PROVIDER.into(),
                Scalar::from(PlSmallStr::from(provider.as_str())),
                part.height(),
            );
            part.with_column(column)
                .map_err(Error::polars("partitioning the ledger"))?;
            if !self.open.contains_key(&key) {
                let dir = self.root.join(&key);
                fs::create_dir_all(&dir).map_err(io(&dir))?;
                // No `.parquet` suffix: readers globbing `*.parquet` never see a partial file.
                let temp = dir.join(format!("{PARTIAL}{}-{}", self.source, std::process::id()));
                let file = File::create(&temp).map_err(io(&temp))?;
                let writer = ParquetWriter::new(file)
                    .batched(part.schema())
                    .map_err(Error::polars("opening a ledger partition"))?;
                self.open.insert(key.clone(), (temp, writer, 0));
            }
            if let Some((_, writer, count)) = self.open.get_mut(&key) {
                part.align_chunks_par();
                writer
                    .write_batch(&part)
                    .map_err(Error::polars("writing a ledger partition"))?;
                *count += n;
            }
        }
        Ok(())
    }

    /// Finishes, syncs and hashes every partition file.
    pub fn finish(self) -> Result<Finished, Error> {
        let mut parts = BTreeMap::new();
        for (key, (temp, writer, rows)) in self.open {
            writer
                .finish()
                .map_err(Error::polars("finishing a ledger partition"))?;
            File::open(&temp)
                .and_then(|f| f.sync_all())
                .map_err(io(&temp))?;
            let sha256 = sha256_file(&temp)?;
            parts.insert(key, Part { temp, sha256, rows });
        }
        Ok(Finished {
            source: self.source,
            months: self.months,
            parts,
            outside: self.outside,
        })
    }

    /// Removes the files of a source that failed; the ledger keeps its previous files.
    pub fn abandon(self) {
        for (_, (temp, writer, _)) in self.open {
            drop(writer);
            let _ = fs::remove_file(temp);
        }
    }
}

/// (provider, month of `period_start`) of every row.
fn partition_keys(batch: &DataFrame) -> PolarsResult<Vec<(String, Month)>> {
    use carbonledger_usage::col as ucol;
    let provider = batch.column(ucol::PROVIDER)?.str()?;
    let start = batch.column(ucol::PERIOD_START)?.datetime()?;
    Ok(provider
        .iter()
        .zip(start.physical().iter())
        .map(|(p, t)| {
            let date = t
                .and_then(chrono::DateTime::from_timestamp_micros)
                .map_or(chrono::NaiveDate::MIN, |t| t.date_naive());
            (partition_value(p.unwrap_or("")), Month::of(date))
        })
        .collect())
}

/// A provider as a partition folder name: lower-case letters, digits, `-` and `_` (anything
/// else becomes `_`), so no value can leave the ledger folder or break the Hive layout;
/// `unknown` when empty.
fn partition_value(provider: &str) -> String {
    let value: String = provider
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    if value.is_empty() || value.chars().all(|c| c == '_') {
        "unknown".into()
    } else {
        value
    }
}

/// The row count in a Parquet file's footer (0 when it cannot be read).
fn parquet_rows(path: &Path) -> u64 {
    File::open(path)
        .ok()
        .and_then(|f| ParquetReader::new(f).num_rows().ok())
        .map_or(0, |n| n as u64)
}

fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io(path))?;
    Ok(format!("{:x}", hasher.finalize()))
}

/// Removes `.partial-*` files an interrupted run left in the partition folders.
fn remove_partials(root: &Path) -> Result<(), Error> {
    let dirs = partition_dirs(root)?.into_iter().map(|(_, dir)| dir);
    for dir in dirs.chain([root.join(STATE_DIR)]) {
        for file in read_dir(&dir)? {
            if name_of(&file).starts_with(PARTIAL) {
                tracing::warn!("removing {} left by an interrupted run", file.display());
                fs::remove_file(&file).map_err(io(&file))?;
            }
        }
    }
    Ok(())
}

/// The partition folders under `root`, sorted: (`provider=…/month=…`, the folder).
pub fn partition_dirs(root: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let named = |p: &Path, prefix: &str| p.is_dir() && name_of(p).starts_with(prefix);
    let mut out = Vec::new();
    for provider in read_dir(root)?
        .into_iter()
        .filter(|p| named(p, "provider="))
    {
        for month in read_dir(&provider)?
            .into_iter()
            .filter(|p| named(p, "month="))
        {
            out.push((format!("{}/{}", name_of(&provider), name_of(&month)), month));
        }
    }
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    out.sort();
    Ok(out)
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Makes a rename durable; best effort (some file systems refuse to sync a folder).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Output {
        path: path.display().to_string(),
        source,
    }
}
