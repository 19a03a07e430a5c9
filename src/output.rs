//! Writing ledger batches and grouped results as table, CSV, JSON, Parquet or FOCUS, to a file
//! or to stdout. A file is written aside and renamed into place only when the run succeeds, so a
//! failed run leaves no partial output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::io::csv::write::BatchedWriter as CsvBatched;
use polars::io::parquet::write::BatchedWriter as ParquetBatched;
use polars::prelude::*;

use carbonledger_usage::CostBasis;

use crate::Error;
use crate::focus::{self, FocusMapper};

/// Output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A human-readable table (grouped results only).
    Table,
    Csv,
    /// A JSON array of row objects.
    Json,
    Parquet,
    /// The ledger as FinOps FOCUS 1.2 columns plus `x_` carbon columns (see
    /// [`crate::focus`]): Parquet when `--output` ends in `.parquet`, else CSV.
    Focus,
}

/// Where output goes: stdout, or a temporary file beside the destination.
pub struct Destination {
    target: Option<(tempfile::NamedTempFile, PathBuf)>,
}

impl Destination {
    pub fn new(output: Option<&Path>, format: Format) -> Result<Destination, Error> {
        let Some(path) = output else {
            if format == Format::Parquet {
                return Err(Error::Usage("--format parquet needs --output FILE".into()));
            }
            return Ok(Destination { target: None });
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".carbonledger-partial-")
            .tempfile_in(&dir)
            .map_err(|source| Error::Output {
                path: dir.display().to_string(),
                source,
            })?;
        Ok(Destination {
            target: Some((temp, path.to_path_buf())),
        })
    }

    /// Whether the destination is a file named `….parquet`.
    fn is_parquet_file(&self) -> bool {
        self.target.as_ref().is_some_and(|(_, path)| {
            path.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        })
    }

    fn writer(&self) -> Result<Box<dyn Write + Send>, Error> {
        match &self.target {
            None => Ok(Box::new(std::io::stdout())),
            Some((temp, path)) => {
                let file = temp.reopen().map_err(|source| Error::Output {
                    path: path.display().to_string(),
                    source,
                })?;
                Ok(Box::new(BufWriter::new(file)))
            }
        }
    }

    /// Moves the finished file into place.
    pub fn commit(self) -> Result<(), Error> {
        if let Some((temp, path)) = self.target {
            temp.persist(&path).map_err(|e| Error::Output {
                path: path.display().to_string(),
                source: e.error,
            })?;
        }
        Ok(())
    }
}

/// A streaming writer of ledger batches in one format.
pub enum BatchWriter {
    Parquet(Box<ParquetBatched<Box<dyn Write + Send>>>),
    Csv(CsvBatched<Box<dyn Write + Send>>),
    Json {
        out: Box<dyn Write + Send>,
        first: bool,
    },
    /// Ledger batches turned into FOCUS rows, then written as CSV or Parquet.
    Focus {
        mapper: FocusMapper,
        inner: Box<BatchWriter>,
    },
}

impl BatchWriter {
    /// Opens a writer for batches of `schema`. Table output is not streamed (see [`write_all`]).
    /// `basis` names the cost in the ledger's `cost` column (for the FOCUS cost columns).
    pub fn open(
        dest: &Destination,
        format: Format,
        schema: &Schema,
        basis: Option<&CostBasis>,
    ) -> Result<Self, Error> {
        if format == Format::Focus {
            let mut mapper = FocusMapper::new(basis.cloned());
            let empty = DataFrame::empty_with_schema(schema);
            let focus_schema = mapper.map(&empty)?.schema().clone();
            let inner = if dest.is_parquet_file() {
                BatchWriter::open(dest, Format::Parquet, &focus_schema, None)?
            } else {
                BatchWriter::Csv(
                    CsvWriter::new(dest.writer()?)
                        .include_header(true)
                        .with_datetime_format(Some(focus::CSV_DATETIME_FORMAT.into()))
                        .batched(&focus_schema)
                        .map_err(Error::polars("opening the output"))?,
                )
            };
            return Ok(BatchWriter::Focus {
                mapper,
                inner: Box::new(inner),
            });
        }
        let out = dest.writer()?;
        let context = "opening the output";
        Ok(match format {
            Format::Parquet => BatchWriter::Parquet(Box::new(
                ParquetWriter::new(out)
                    .batched(schema)
                    .map_err(Error::polars(context))?,
            )),
            Format::Csv => BatchWriter::Csv(
                CsvWriter::new(out)
                    .include_header(true)
                    .batched(schema)
                    .map_err(Error::polars(context))?,
            ),
            Format::Json | Format::Table => BatchWriter::Json { out, first: true },
            Format::Focus => unreachable!("FOCUS output is opened above"),
        })
    }

    pub fn write(&mut self, batch: &mut DataFrame) -> Result<(), Error> {
        let context = "writing the output";
        match self {
            BatchWriter::Parquet(w) => w.write_batch(batch).map_err(Error::polars(context)),
            BatchWriter::Csv(w) => w.write_batch(batch).map_err(Error::polars(context)),
            BatchWriter::Focus { mapper, inner } => {
                let mut rows = mapper.map(batch)?;
                inner.write(&mut rows)
            }
            BatchWriter::Json { out, first } => {
                let mut lines = Vec::new();
                JsonWriter::new(&mut lines)
                    .with_json_format(JsonFormat::JsonLines)
                    .finish(batch)
                    .map_err(Error::polars(context))?;
                let io = |source| Error::Output {
                    path: "output".into(),
                    source,
                };
                for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    out.write_all(if *first { b"[\n" } else { b",\n" })
                        .map_err(io)?;
                    out.write_all(line).map_err(io)?;
                    *first = false;
                }
                Ok(())
            }
        }
    }

    pub fn finish(self) -> Result<(), Error> {
        let io = |source| Error::Output {
            path: "output".into(),
            source,
        };
        match self {
            BatchWriter::Parquet(w) => {
                w.finish()
                    .map_err(Error::polars("finishing the Parquet output"))?;
            }
            BatchWriter::Csv(mut w) => w
                .finish()
                .map_err(Error::polars("finishing the CSV output"))?,
            BatchWriter::Json { mut out, first } => {
                out.write_all(if first { b"[]\n" } else { b"\n]\n" })
                    .map_err(io)?;
                out.flush().map_err(io)?;
            }
            BatchWriter::Focus { mapper, inner } => {
                for (provider, charge_type, rows) in mapper.unmapped() {
                    tracing::warn!(
                        "FOCUS output: {provider} charge type `{charge_type}` has no FOCUS \
                         ChargeCategory in src/data/focus_charge_categories.csv; {rows} rows \
                         written as Usage (or Adjustment when excluded)"
                    );
                }
                inner.finish()?;
            }
        }
        Ok(())
    }
}

/// Writes a whole (small, grouped) frame in `format`.
pub fn write_all(dest: &Destination, format: Format, df: &mut DataFrame) -> Result<(), Error> {
    if format == Format::Table {
        let mut out = dest.writer()?;
        let text = table(df);
        let io = |source| Error::Output {
            path: "output".into(),
            source,
        };
        out.write_all(text.as_bytes()).map_err(io)?;
        return out.flush().map_err(io);
    }
    let mut writer = BatchWriter::open(dest, format, df.schema(), None)?;
    writer.write(df)?;
    writer.finish()
}

/// The frame rendered as a table (the binary sets polars' display limits at start-up so
/// that every row and column is shown).
fn table(df: &DataFrame) -> String {
    format!("{df}\n")
}

/// Opens a Parquet file for writing a ledger to a path of the caller's (used for the
/// intermediate ledger of grouped runs).
pub fn parquet_file(path: &Path, schema: &Schema) -> Result<ParquetBatched<File>, Error> {
    let file = File::create(path).map_err(|source| Error::Output {
        path: path.display().to_string(),
        source,
    })?;
    ParquetWriter::new(file)
        .batched(schema)
        .map_err(Error::polars("opening the ledger"))
}
