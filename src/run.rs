//! `carbonledger estimate`: input → connector → estimator → ledger (or grouped totals) →
//! output, with the reconciliation checked before anything is committed.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use carbonledger_aws::{CostMeasure, CurOptions};
use carbonledger_aws_cloud::{
    Connection, CostExplorerOptions, CostExplorerSource, CostMetric, Granularity,
};
use carbonledger_azure::AzureOptions;
use carbonledger_azure_cloud::cost_management::{
    CostManagementOptions, CostManagementSource, CostType,
};
use carbonledger_factors::FactorSet;
use carbonledger_focus::{FocusCost, FocusOptions};
use carbonledger_gcp::bigquery::{
    BigQueryAuth, BigQueryOptions, BigQuerySource, Granularity as BqGranularity,
};
use carbonledger_gcp::{BigQueryTable, GcpCost, GcpOptions};
use carbonledger_usage::{
    CostBasis, Location, SourceError, UsageBatchBuilder, UsageSource, col as ucol,
};
use chrono::NaiveDate;
use polars::io::parquet::write::BatchedWriter;
use polars::prelude::*;

use crate::estimate::{Estimator, Method};
use crate::group::{self, GroupKey};
use crate::input::{self, Provider};
use crate::ledger::EstimateColumns;
use crate::output::{self, BatchWriter, Destination, Format};
use crate::reconcile::Reconciliation;
use crate::{Error, sample};

/// What `estimate` was asked to do.
#[derive(Debug, Clone)]
pub struct EstimateRequest {
    /// The billing file or folder; `None` with `sample`.
    pub input: Option<PathBuf>,
    /// Run on the sample CUR embedded in the binary.
    pub sample: bool,
    pub provider: Option<Provider>,
    pub method: Method,
    /// A factor-set folder replacing the embedded set of the method.
    pub factors: Option<PathBuf>,
    pub group_by: Vec<GroupKey>,
    pub format: Format,
    pub output: Option<PathBuf>,
    pub cost: CostMeasure,
    /// The GCP cost measure (for GCP billing exports).
    pub gcp_cost: GcpCost,
    /// The FOCUS cost column (for FOCUS files).
    pub focus_cost: FocusCost,
    /// How to reach AWS for `s3://` inputs and Cost Explorer.
    pub connection: Connection,
    /// An endpoint replacing Azure Blob storage's own (Azurite) for `azblob://` inputs.
    pub azure_endpoint: Option<String>,
    /// Read the Cost Explorer API instead of `input`.
    pub cost_explorer: Option<CostExplorerRequest>,
    /// Read the GCP billing export in BigQuery instead of `input`.
    pub bigquery: Option<BigQueryRequest>,
    /// Read the Azure Cost Management Query API instead of `input`.
    pub cost_management: Option<CostManagementRequest>,
}

/// The Cost Management part of a request.
#[derive(Debug, Clone)]
pub struct CostManagementRequest {
    /// `subscriptions/ID`, `providers/Microsoft.Billing/billingAccounts/ID`, …
    pub scope: String,
    /// First day, and the day after the last one (UTC).
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub cost_type: CostType,
    /// Replaces `https://management.azure.com` (no credentials are sent to it).
    pub endpoint: Option<String>,
}

/// The BigQuery part of a request.
#[derive(Debug, Clone)]
pub struct BigQueryRequest {
    /// The export table, `project.dataset.table`.
    pub table: String,
    /// First day, and the day after the last one (UTC), on `usage_start_time`.
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub granularity: BqGranularity,
    /// Only rows exported after this time (incremental loads).
    pub exported_after: Option<chrono::DateTime<chrono::Utc>>,
    /// The project running the query job; `None`: the table's.
    pub job_project: Option<String>,
    pub endpoint: Option<String>,
    pub auth: BigQueryAuth,
}

/// The Cost Explorer part of a request.
#[derive(Debug, Clone)]
pub struct CostExplorerRequest {
    /// First day, and the day after the last one (UTC).
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub granularity: Granularity,
    pub accounts: Vec<String>,
    /// Cache folder for closed months; `None` turns the cache off.
    pub cache_dir: Option<PathBuf>,
    /// A metric only Cost Explorer has (`NetAmortizedCost`); else the one of `cost`.
    pub metric: Option<CostMetric>,
}

/// The keys a table is grouped by when the user names none.
pub const DEFAULT_TABLE_KEYS: [GroupKey; 3] =
    [GroupKey::Month, GroupKey::Service, GroupKey::UsageClass];

/// Where ledger batches go during the run.
enum Sink {
    /// Straight to the output.
    Stream(Option<BatchWriter>),
    /// To an intermediate Parquet ledger that is grouped at the end.
    Ledger(tempfile::TempPath, Option<Box<BatchedWriter<File>>>),
}

/// A source opened for a request, with what reading it needs.
pub struct Opened {
    pub source: Box<dyn UsageSource>,
    pub factors: Arc<FactorSet>,
    pub method: Method,
    /// The `source` value of every row, replacing the connector's (the embedded sample).
    relabel: Option<&'static str>,
    /// Keeps the written-out sample alive while it is read.
    _sample_dir: Option<tempfile::TempDir>,
}

/// Loads the request's factor set and opens its source.
pub fn open(request: &EstimateRequest) -> Result<Opened, Error> {
    let factors = Arc::new(match &request.factors {
        Some(dir) => FactorSet::from_dir(dir)?,
        None => FactorSet::embedded(request.method.factor_set_name())?,
    });
    tracing::info!("factor set {}", factors.label());

    // The ccf method also takes CCF's vCPU-hour arithmetic from the connector.
    let options = CurOptions {
        cost: request.cost,
        ccf_quirks: request.method == Method::Ccf,
    };
    let gcp = GcpOptions {
        cost: request.gcp_cost,
        ccf_quirks: request.method == Method::Ccf,
    };
    let focus = FocusOptions {
        cost: request.focus_cost,
        ccf_quirks: request.method == Method::Ccf,
        partial: false,
    };
    let azure = AzureOptions {
        ccf_quirks: request.method == Method::Ccf,
    };
    let mut sample_dir = None;
    let mut relabel = None;
    let what = (
        &request.cost_explorer,
        &request.input,
        request.sample,
        &request.bigquery,
    );
    if let Some(cm) = &request.cost_management {
        if !matches!(what, (None, None, false, None)) {
            return Err(Error::Usage(
                "--cost-management reads the Query API: give no --input, --sample, \
                 --cost-explorer or --bigquery with it"
                    .into(),
            ));
        }
        let source = open_cost_management(cm.clone(), azure, Arc::clone(&factors))?;
        tracing::info!("reading {}", source.describe());
        return Ok(Opened {
            source: Box::new(source),
            factors,
            method: request.method,
            relabel: None,
            _sample_dir: None,
        });
    }
    let source: Box<dyn UsageSource> = match what {
        (None, None, false, Some(bq)) => Box::new(open_bigquery(bq, gcp, Arc::clone(&factors))?),
        (Some(ce), None, false, None) => Box::new(open_cost_explorer(
            ce.clone(),
            request,
            options,
            Arc::clone(&factors),
        )?),
        (None, Some(path), false, None) => {
            let text = path.to_string_lossy();
            if input::is_blob_url(&text) {
                input::open_blob(
                    &text,
                    request.provider,
                    Arc::clone(&factors),
                    azure,
                    request.azure_endpoint.clone(),
                )?
            } else if text.starts_with("s3://") {
                input::open_s3(
                    &text,
                    request.provider,
                    Arc::clone(&factors),
                    options,
                    focus,
                    &request.connection,
                )?
            } else {
                input::open(
                    path,
                    request.provider,
                    Arc::clone(&factors),
                    options,
                    gcp,
                    focus,
                    azure,
                )?
            }
        }
        (None, None, true, None) => {
            let dir = tempfile::tempdir().map_err(|source| Error::Output {
                path: "temporary folder".into(),
                source,
            })?;
            relabel = Some(sample::LABEL);
            let path = sample::write_to(dir.path())?;
            sample_dir = Some(dir);
            input::open(
                &path,
                request.provider,
                Arc::clone(&factors),
                options,
                gcp,
                focus,
                azure,
            )?
        }
        _ => {
            return Err(Error::Usage(
                "give one of --input PATH, --sample, --cost-explorer, --bigquery TABLE or \
                 --cost-management SCOPE"
                    .into(),
            ));
        }
    };
    tracing::info!("reading {}", source.describe());
    Ok(Opened {
        source,
        factors,
        method: request.method,
        relabel,
        _sample_dir: sample_dir,
    })
}

/// Reads the whole source, estimates every batch and hands the ledger batches to `emit`;
/// returns the reconciliation, already checked.
pub fn pump(
    opened: &mut Opened,
    emit: &mut dyn FnMut(&mut DataFrame) -> Result<(), Error>,
) -> Result<Reconciliation, Error> {
    let mut estimator = Estimator::new(&opened.factors, opened.method)?;
    let mut reconciliation = Reconciliation::default();
    let relabel = opened.relabel;
    let mut each = |mut batch: DataFrame| -> Result<(), Error> {
        if let Some(label) = relabel {
            let n = batch.height();
            let label = Column::new_scalar(
                ucol::SOURCE.into(),
                Scalar::from(PlSmallStr::from(label)),
                n,
            );
            batch
                .with_column(label)
                .map_err(Error::polars("labelling the sample"))?;
        }
        reconciliation
            .add(&batch)
            .map_err(Error::polars("reconciling"))?;
        // The estimate columns are one chunk each while the usage columns keep the reader's
        // chunks; the writers need every column cut the same way.
        batch.align_chunks_par();
        emit(&mut batch)
    };
    let mut failure = None;
    let totals = opened.source.read(&mut |usage| {
        estimator.estimate(usage, &mut each).map_err(|e| {
            let stop = SourceError::invalid(Location::file("estimator"), e.to_string());
            failure = Some(e);
            stop
        })
    });
    let totals = match (totals, failure) {
        (_, Some(e)) => return Err(e),
        (Err(e), None) => return Err(e.into()),
        (Ok(t), None) => t,
    };
    estimator.finish(&mut each)?;

    reconciliation.input = totals;
    reconciliation.notes = opened.source.summary();
    reconciliation.check()?;
    Ok(reconciliation)
}

/// Runs an estimate and returns its reconciliation (already checked).
pub fn estimate(request: &EstimateRequest) -> Result<Reconciliation, Error> {
    let mut opened = open(request)?;
    let dest = Destination::new(request.output.as_deref(), request.format)?;
    let keys: Vec<GroupKey> = match (request.group_by.is_empty(), request.format) {
        (true, Format::Table) => DEFAULT_TABLE_KEYS.to_vec(),
        (false, Format::Focus) => {
            return Err(Error::Usage(
                "--format focus writes ledger rows; it cannot be combined with --group-by".into(),
            ));
        }
        _ => request.group_by.clone(),
    };
    let basis = opened.source.cost_basis();
    let mut sink = if keys.is_empty() {
        Sink::Stream(None)
    } else {
        let temp = tempfile::Builder::new()
            .prefix("carbonledger-ledger-")
            .suffix(".parquet")
            .tempfile()
            .map_err(|source| Error::Output {
                path: "temporary ledger".into(),
                source,
            })?;
        Sink::Ledger(temp.into_temp_path(), None)
    };

    let reconciliation = pump(&mut opened, &mut |batch| {
        write(&mut sink, &dest, request.format, basis.as_ref(), batch)
    })?;
    match sink {
        Sink::Stream(writer) => {
            let writer = match writer {
                Some(w) => w,
                None => {
                    let empty = empty_ledger(&opened.factors, request.method)?;
                    BatchWriter::open(&dest, request.format, empty.schema(), basis.as_ref())?
                }
            };
            writer.finish()?;
        }
        Sink::Ledger(path, writer) => {
            match writer {
                Some(w) => {
                    w.finish().map_err(Error::polars("finishing the ledger"))?;
                }
                None => {
                    let empty = empty_ledger(&opened.factors, request.method)?;
                    let mut w = output::parquet_file(&path, empty.schema())?;
                    w.write_batch(&empty)
                        .map_err(Error::polars("writing the ledger"))?;
                    w.finish().map_err(Error::polars("finishing the ledger"))?;
                }
            }
            let mut grouped = group::group(&path, &keys)?;
            output::write_all(&dest, request.format, &mut grouped)?;
        }
    }
    dest.commit()?;
    Ok(reconciliation)
}

fn write(
    sink: &mut Sink,
    dest: &Destination,
    format: Format,
    basis: Option<&CostBasis>,
    batch: &mut DataFrame,
) -> Result<(), Error> {
    match sink {
        Sink::Stream(writer) => {
            if writer.is_none() {
                *writer = Some(BatchWriter::open(dest, format, batch.schema(), basis)?);
            }
            match writer {
                Some(w) => w.write(batch),
                None => Ok(()),
            }
        }
        Sink::Ledger(path, writer) => {
            if writer.is_none() {
                *writer = Some(Box::new(output::parquet_file(path, batch.schema())?));
            }
            match writer {
                Some(w) => w
                    .write_batch(batch)
                    .map_err(Error::polars("writing the ledger")),
                None => Ok(()),
            }
        }
    }
}

/// The Cost Explorer source of a request; `--cost` picks the metric.
fn open_cost_explorer(
    ce: CostExplorerRequest,
    request: &EstimateRequest,
    options: CurOptions,
    factors: Arc<FactorSet>,
) -> Result<CostExplorerSource, Error> {
    let metric = ce.metric.unwrap_or(match options.cost {
        CostMeasure::Unblended => CostMetric::Unblended,
        CostMeasure::NetUnblended => CostMetric::NetUnblended,
        CostMeasure::Amortized => CostMetric::Amortized,
        CostMeasure::Blended => CostMetric::Blended,
    });
    let options = CostExplorerOptions {
        start: ce.start,
        end: ce.end,
        granularity: ce.granularity,
        metric,
        accounts: ce.accounts,
        connection: request.connection.clone(),
        cache_dir: ce.cache_dir,
        today: None,
        ccf_quirks: options.ccf_quirks,
    };
    Ok(CostExplorerSource::new(options, factors)?)
}

/// The Cost Management source of a request; credentials from the environment.
fn open_cost_management(
    cm: CostManagementRequest,
    azure: AzureOptions,
    factors: Arc<FactorSet>,
) -> Result<CostManagementSource, Error> {
    let options = CostManagementOptions::from_env(
        cm.scope,
        cm.start,
        cm.end,
        cm.cost_type,
        cm.endpoint,
        azure,
    )?;
    Ok(CostManagementSource::new(options, factors)?)
}

/// The BigQuery source of a request.
fn open_bigquery(
    bq: &BigQueryRequest,
    gcp: GcpOptions,
    factors: Arc<FactorSet>,
) -> Result<BigQuerySource, Error> {
    let midnight = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
    let options = BigQueryOptions {
        table: BigQueryTable::parse(&bq.table).map_err(|e| Error::Usage(e.to_string()))?,
        start: midnight(bq.start),
        end: midnight(bq.end),
        granularity: bq.granularity,
        exported_after: bq.exported_after,
        job_project: bq.job_project.clone(),
        endpoint: bq.endpoint.clone(),
        auth: bq.auth,
        gcp,
    };
    Ok(BigQuerySource::new(options, factors)?)
}

/// A ledger with no rows, for outputs of empty inputs.
pub fn empty_ledger(factors: &FactorSet, method: Method) -> Result<DataFrame, Error> {
    let usage = UsageBatchBuilder::with_capacity(0)
        .finish()
        .map_err(Error::polars("building an empty ledger"))?;
    let estimates = EstimateColumns::new(method.as_str(), &factors.label(), 0).finish();
    usage
        .hstack(&estimates)
        .map_err(Error::polars("building an empty ledger"))
}
