//! `carbonledger run --config FILE`: the scheduled job. For each configured source, in
//! order: skip it when its input has not changed since the last run, else read and estimate
//! it (the same pipeline as `estimate`, reconciliation included) into the partitioned ledger
//! of [`store`]. A failing source does not stop the others; the exit code says which
//! happened ([`Error::SourcesFailed`]).

pub mod config;
pub mod postgres;
pub mod store;

use std::path::Path;
use std::time::UNIX_EPOCH;

use carbonledger_aws::CostMeasure;
use carbonledger_aws_cloud::{Connection, CostMetric, Granularity};
use carbonledger_azure_cloud::cost_management::CostType;
use carbonledger_focus::FocusCost;
use carbonledger_gcp::GcpCost;
use carbonledger_gcp::bigquery::{BigQueryAuth, Granularity as BqGranularity};
use chrono::NaiveDate;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::estimate::Method;
use crate::input::Provider;
use crate::output::Format;
use crate::progress::Progress;
use crate::run::{
    self, BigQueryRequest, CostExplorerRequest, CostManagementRequest, EstimateRequest,
};
use config::{Job, Month, SourceConfig, SourceKind};
use store::{Ledger, SourceState};

/// What happened to one source.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Skipped {
        since: String,
    },
    Written(store::Committed),
    /// The PostgreSQL sink brought up to date.
    Synced(postgres::Synced),
    Failed(String),
}

/// Runs the job; `today` (UTC) decides the open month. Returns each source's outcome, or
/// [`Error::SourcesFailed`] when some failed (their previous files are kept).
pub fn run(job: &Job, today: NaiveDate) -> Result<Vec<(String, Outcome)>, Error> {
    let mut ledger = Ledger::open(&job.ledger)?;
    let months: Vec<String> = job.months.iter().map(Month::to_string).collect();
    eprintln!(
        "ledger {} (method {}, months {})",
        job.ledger.display(),
        job.method.as_str(),
        months.join(", ")
    );
    let open_month = Month::of(today);
    for known in ledger.known_sources() {
        if job.sources.iter().any(|s| s.name == known) {
            continue;
        }
        if job.prune {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let removed = ledger.prune(&known, open_month, &now)?;
            eprintln!("{known}: pruned (no longer in the config): {removed:?}");
        } else {
            eprintln!(
                "warning: the ledger holds files of source \"{known}\", which the config no \
                 longer names: they stay in the ledger (and are counted by its readers) until \
                 `carbonledger run --prune` removes them; if the source was renamed, its rows \
                 are in the ledger twice"
            );
        }
    }
    let mut outcomes = Vec::new();
    let mut unreconciled = Vec::new();
    for source in &job.sources {
        let outcome = match run_source(job, source, &mut ledger, open_month) {
            Ok(outcome) => outcome,
            Err(e) => {
                if let Error::Reconciliation(why) = &e {
                    unreconciled.push(format!("{}: {why}", source.name));
                }
                let mut message = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    message.push_str(&format!(": {c}"));
                    cause = c.source();
                }
                eprintln!("{}: FAILED: {message}", source.name);
                Outcome::Failed(message)
            }
        };
        outcomes.push((source.name.clone(), outcome));
    }
    if let Some(pg) = &job.postgres {
        let outcome = match sync_postgres(job, pg, &ledger) {
            Ok(synced) => {
                eprintln!(
                    "postgres {}: {} partitions replaced ({} rows), {} unchanged, {} deleted",
                    pg.table,
                    synced.replaced.len(),
                    synced.replaced.iter().map(|(_, n)| n).sum::<u64>(),
                    synced.unchanged,
                    synced.deleted.len()
                );
                Outcome::Synced(synced)
            }
            Err(e) => {
                eprintln!("postgres: FAILED: {e}");
                Outcome::Failed(e.to_string())
            }
        };
        outcomes.push(("postgres".into(), outcome));
    }
    // A reconciliation failure is a bug, not a failing source: its exit code wins.
    if !unreconciled.is_empty() {
        return Err(Error::Reconciliation(unreconciled.join("; ")));
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .map(|(n, _)| n.clone())
        .collect();
    if !failed.is_empty() {
        return Err(Error::SourcesFailed {
            failed,
            total: outcomes.len(),
        });
    }
    Ok(outcomes)
}

fn sync_postgres(
    job: &Job,
    pg: &config::PostgresConfig,
    ledger: &Ledger,
) -> Result<postgres::Synced, Error> {
    let url = std::env::var(&pg.url_env).map_err(|_| {
        Error::Sink(format!(
            "the PostgreSQL sink's URL is read from ${}, which is not set",
            pg.url_env
        ))
    })?;
    let factors = match &job.factors {
        Some(dir) => carbonledger_factors::FactorSet::from_dir(dir)?,
        None => carbonledger_factors::FactorSet::embedded(job.method.factor_set_name())?,
    };
    let empty = run::empty_ledger(&factors, job.method)?;
    let mut sink = postgres::PgSink::connect(&url, &pg.table, empty.schema())?;
    sink.sync(ledger.root(), ledger.state())
}

fn run_source(
    job: &Job,
    source: &SourceConfig,
    ledger: &mut Ledger,
    open_month: Month,
) -> Result<Outcome, Error> {
    let request = request(job, source)?;
    let months: Vec<String> = job.months.iter().map(Month::to_string).collect();
    let mut opened = run::open(&request)?;
    // Files on disk by their metadata; an API source by what it says it would read (an S3
    // listing, a BigQuery probe); sources that cannot tell (Cost Explorer, Cost Management)
    // are read every run.
    let fingerprint = match (&source.path, opened.source.fingerprint()) {
        (Some(path), _) => Some(fingerprint(job, source, path)?),
        (None, Some(listing)) => {
            let mut hasher = depends_on(job, source)?;
            hasher.update(listing.as_bytes());
            Some(format!("{:x}", hasher.finalize()))
        }
        (None, None) => None,
    };
    let factor_set = opened.factors.label();
    if let (Some(print), Some(last)) = (&fingerprint, ledger.state().sources.get(&source.name))
        && last.fingerprint.as_ref() == Some(print)
        && last.factor_set == factor_set
        && last.method == job.method.as_str()
        && last.months == months
        && last.partitions.keys().all(|k| {
            ledger
                .root()
                .join(k)
                .join(format!("{}.parquet", source.name))
                .exists()
        })
    {
        eprintln!(
            "{}: skipped, unchanged since {} (same input, factor set and months)",
            source.name, last.run_at
        );
        return Ok(Outcome::Skipped {
            since: last.run_at.clone(),
        });
    }
    let run_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut writer = ledger.writer(&source.name, &job.months);
    let mut progress = Progress::start(&source.name, &opened.source.describe());
    let pumped = run::pump(&mut opened, &mut |batch| {
        progress.add(batch.height() as u64);
        writer.write(batch)
    });
    let reconciliation = match pumped {
        Ok(r) => {
            progress.finish("estimated");
            r
        }
        Err(e) => {
            progress.finish("stopped by an error");
            writer.abandon();
            return Err(e);
        }
    };
    let finished = writer.finish()?;
    let outside = finished.outside.clone();
    let state = SourceState {
        fingerprint,
        method: job.method.as_str().to_owned(),
        factor_set,
        months,
        run_at,
        partitions: Default::default(),
    };
    let committed = ledger.commit(finished, state, open_month)?;
    eprint!("{}: {reconciliation}", source.name);
    if !outside.is_empty() {
        let listed: Vec<String> = outside.iter().map(|(m, n)| format!("{m}: {n}")).collect();
        eprintln!(
            "{}: rows of months outside the run's period, not written: {}",
            source.name,
            listed.join(", ")
        );
    }
    eprintln!(
        "{}: partitions written {:?}, unchanged {:?}, removed {:?}, old versions kept {:?}",
        source.name, committed.written, committed.unchanged, committed.removed, committed.versioned
    );
    Ok(Outcome::Written(committed))
}

/// The `estimate` request a source stands for.
fn request(job: &Job, source: &SourceConfig) -> Result<EstimateRequest, Error> {
    let bad = |what: String| {
        Error::Config(format!(
            "{}: [[source]] \"{}\": {what}",
            job.file.display(),
            source.name
        ))
    };
    let period = (
        job.months.first().map(|m| m.first_day()),
        job.months.last().map(|m| m.end()),
    );
    let (start, end) = match period {
        (Some(s), Some(e)) => (s, e),
        _ => return Err(bad("no months".into())),
    };
    let daily = source.granularity.as_deref() != Some("monthly");
    // `config::check` has checked the value against the kind; see `config::costs`.
    let cost = source.cost.as_deref();
    let focus_named = cost.and_then(FocusCost::parse);
    let aws_cost = match cost.and_then(CostMeasure::parse) {
        Some(measure) => measure,
        None if cost == Some("net-amortized") => CostMeasure::Amortized,
        None if job.method == Method::Ccf => CostMeasure::Blended,
        None => CostMeasure::Unblended,
    };
    let gcp_cost = match cost.and_then(GcpCost::parse) {
        Some(measure) => measure,
        None if job.method == Method::Ccf => GcpCost::Gross,
        None => GcpCost::Net,
    };
    // For FOCUS files, and FOCUS Data Exports in S3 (as `estimate` maps `--cost`): a FOCUS
    // name as is, AWS's unblended costs as what is billed, anything else effective cost.
    let focus_cost = match (focus_named, cost) {
        (Some(named), _) => named,
        (None, Some("unblended" | "net-unblended")) => FocusCost::Billed,
        (None, _) => FocusCost::Effective,
    };
    let provider = match source.kind {
        SourceKind::AwsCur => Some(Provider::Aws),
        // A CUR, a CUR 2.0 or a FOCUS Data Export: told from the first part.
        SourceKind::AwsS3 => None,
        SourceKind::GcpExport => Some(Provider::Gcp),
        SourceKind::Focus => Some(Provider::Focus),
        SourceKind::AzureExport => Some(Provider::Azure),
        SourceKind::CostExplorer | SourceKind::Bigquery | SourceKind::CostManagement => None,
    };
    let input = match (source.kind, &source.url) {
        (SourceKind::AwsS3 | SourceKind::AzureExport, Some(url)) => Some(url.into()),
        _ => source.path.clone(),
    };
    let cost_explorer = (source.kind == SourceKind::CostExplorer).then(|| CostExplorerRequest {
        start,
        end,
        granularity: if daily {
            Granularity::Daily
        } else {
            Granularity::Monthly
        },
        accounts: source.accounts.clone(),
        cache_dir: carbonledger_aws_cloud::cost_explorer::default_cache_dir(),
        metric: (source.cost.as_deref() == Some("net-amortized"))
            .then_some(CostMetric::NetAmortized),
    });
    let bigquery = match (source.kind, &source.table) {
        (SourceKind::Bigquery, Some(table)) => Some(BigQueryRequest {
            table: table.clone(),
            start,
            end,
            granularity: if daily {
                BqGranularity::Daily
            } else {
                BqGranularity::Monthly
            },
            exported_after: None,
            job_project: None,
            endpoint: source.endpoint_url.clone(),
            auth: if source.endpoint_url.is_some() {
                BigQueryAuth::Anonymous
            } else {
                BigQueryAuth::ApplicationDefault
            },
        }),
        _ => None,
    };
    let cost_management = match (source.kind, &source.scope) {
        (SourceKind::CostManagement, Some(scope)) => Some(CostManagementRequest {
            scope: scope.clone(),
            start,
            end,
            cost_type: if cost == Some("amortized") {
                CostType::Amortized
            } else {
                CostType::Actual
            },
            endpoint: source.endpoint_url.clone(),
        }),
        _ => None,
    };
    Ok(EstimateRequest {
        input,
        sample: false,
        provider,
        method: job.method,
        factors: job.factors.clone(),
        group_by: Vec::new(),
        format: Format::Parquet,
        output: None,
        cost: aws_cost,
        gcp_cost,
        focus_cost,
        azure_endpoint: match source.kind {
            SourceKind::AzureExport => source.endpoint_url.clone(),
            _ => None,
        },
        connection: Connection {
            endpoint_url: source.endpoint_url.clone(),
            region: source.region.clone(),
            ..Connection::default()
        },
        cost_explorer,
        bigquery,
        cost_management,
    })
}

/// What a file source's result depends on, as one digest: this binary's version, the
/// source's configuration, the bytes of a `[ledger] factors` folder, and every input file
/// under `path` by relative name, size, modification time, status-change time and inode (the
/// status-change time cannot be set back by `touch -r`, `cp -p` or `rsync -t`, so a rewritten
/// file is read again even when its size and modification time are the old ones).
fn fingerprint(job: &Job, source: &SourceConfig, path: &Path) -> Result<String, Error> {
    let mut hasher = depends_on(job, source)?;
    let mut files = Vec::new();
    walk(path, path, &mut files)?;
    files.sort();
    for line in files {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// A digest started with what every source's result depends on besides its input: this
/// binary (version, size and build time), the source's configuration and the bytes of a
/// `[ledger] factors` folder.
fn depends_on(job: &Job, source: &SourceConfig) -> Result<Sha256, Error> {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    // The package version does not change with every build: the executable's size and
    // modification time do, so a rebuilt (or upgraded) binary reads every source again.
    if let Some(meta) = std::env::current_exe()
        .ok()
        .and_then(|e| std::fs::metadata(e).ok())
    {
        let built = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        hasher.update(format!("\t{}\t{built}", meta.len()).as_bytes());
    }
    hasher.update(format!("\n{source:?}\n").as_bytes());
    if let Some(dir) = &job.factors {
        let mut files = Vec::new();
        walk(dir, dir, &mut files)?;
        files.sort();
        for line in files {
            let name = line.split('\t').next().unwrap_or_default();
            let file = dir.join(name);
            let bytes = std::fs::read(&file).map_err(|e| Error::Output {
                path: file.display().to_string(),
                source: e,
            })?;
            hasher.update(name.as_bytes());
            hasher.update(Sha256::digest(&bytes));
        }
    }
    Ok(hasher)
}

fn walk(root: &Path, path: &Path, out: &mut Vec<String>) -> Result<(), Error> {
    let io = |source| Error::Output {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).map_err(io)? {
            let entry = entry.map_err(io)?;
            walk(root, &entry.path(), out)?;
        }
        return Ok(());
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let name = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let changed = {
        use std::os::unix::fs::MetadataExt;
        format!("{}.{:09}\t{}", meta.ctime(), meta.ctime_nsec(), meta.ino())
    };
    out.push(format!("{name}\t{}\t{modified}\t{changed}", meta.len()));
    Ok(())
}
