//! `carbonledger estimate`: input → connector → estimator → ledger (or grouped totals) →
//! output, with the reconciliation checked before anything is committed.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use carbonledger_aws::{CostMeasure, CurOptions};
use carbonledger_factors::FactorSet;
use carbonledger_usage::{Location, SourceError, UsageBatchBuilder, col as ucol};
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
}

/// The keys a table is grouped by when the user names none.
pub const DEFAULT_TABLE_KEYS: [GroupKey; 3] =
    [GroupKey::Month, GroupKey::Service, GroupKey::UsageClass];

/// Where ledger batches go during the run.
enum Sink {
    /// Straight to the output.
    Stream(Option<BatchWriter>),
    /// To an intermediate Parquet ledger that is grouped at the end.
    Ledger(tempfile::TempPath, Option<BatchedWriter<File>>),
}

/// Runs an estimate and returns its reconciliation (already checked).
pub fn estimate(request: &EstimateRequest) -> Result<Reconciliation, Error> {
    let factors = Arc::new(match &request.factors {
        Some(dir) => FactorSet::from_dir(dir)?,
        None => FactorSet::embedded(request.method.factor_set_name())?,
    });
    tracing::info!("factor set {}", factors.label());

    let sample_dir;
    let (path, relabel) = match (&request.input, request.sample) {
        (Some(path), false) => (path.clone(), None),
        (None, true) => {
            sample_dir = tempfile::tempdir().map_err(|source| Error::Output {
                path: "temporary folder".into(),
                source,
            })?;
            (sample::write_to(sample_dir.path())?, Some(sample::LABEL))
        }
        _ => return Err(Error::Usage("give either --input PATH or --sample".into())),
    };
    // The ccf method also takes CCF's vCPU-hour arithmetic from the connector.
    let options = CurOptions {
        cost: request.cost,
        ccf_quirks: request.method == Method::Ccf,
    };
    let mut source = input::open(&path, request.provider, Arc::clone(&factors), options)?;
    tracing::info!("reading {}", source.describe());

    let dest = Destination::new(request.output.as_deref(), request.format)?;
    let keys: Vec<GroupKey> = match (request.group_by.is_empty(), request.format) {
        (true, Format::Table) => DEFAULT_TABLE_KEYS.to_vec(),
        _ => request.group_by.clone(),
    };
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

    let mut estimator = Estimator::new(&factors, request.method)?;
    let mut reconciliation = Reconciliation::default();
    let mut emit = |mut batch: DataFrame| -> Result<(), Error> {
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
        write(&mut sink, &dest, request.format, &mut batch)
    };
    let mut failure = None;
    let totals = source.read(&mut |usage| {
        estimator.estimate(usage, &mut emit).map_err(|e| {
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
    estimator.finish(&mut emit)?;
    drop(emit);

    reconciliation.input = totals;
    reconciliation.check()?;
    match sink {
        Sink::Stream(writer) => {
            let writer = match writer {
                Some(w) => w,
                None => {
                    let empty = empty_ledger(&factors, request.method)?;
                    BatchWriter::open(&dest, request.format, &empty.schema())?
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
                    let mut empty = empty_ledger(&factors, request.method)?;
                    let mut w = output::parquet_file(&path, &empty.schema())?;
                    w.write_batch(&mut empty)
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
    batch: &mut DataFrame,
) -> Result<(), Error> {
    match sink {
        Sink::Stream(writer) => {
            if writer.is_none() {
                *writer = Some(BatchWriter::open(dest, format, &batch.schema())?);
            }
            match writer {
                Some(w) => w.write(batch),
                None => Ok(()),
            }
        }
        Sink::Ledger(path, writer) => {
            if writer.is_none() {
                *writer = Some(output::parquet_file(path, &batch.schema())?);
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

/// A ledger with no rows, for outputs of empty inputs.
fn empty_ledger(factors: &FactorSet, method: Method) -> Result<DataFrame, Error> {
    let usage = UsageBatchBuilder::with_capacity(0)
        .finish()
        .map_err(Error::polars("building an empty ledger"))?;
    let estimates = EstimateColumns::new(method.as_str(), &factors.label(), 0).finish();
    usage
        .hstack(&estimates)
        .map_err(Error::polars("building an empty ledger"))
}
