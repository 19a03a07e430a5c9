//! Writing ledger batches and grouped results as table, CSV, JSON or Parquet, to a file or to
//! stdout. A file is written aside and renamed into place only when the run succeeds, so a
//! failed run leaves no partial output.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::io::csv::write::BatchedWriter as CsvBatched;
use polars::io::parquet::write::BatchedWriter as ParquetBatched;
use polars::prelude::*;

use crate::Error;

/// Output formats of `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A human-readable table (grouped results only).
    Table,
    Csv,
    /// A JSON array of row objects.
    Json,
    Parquet,
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
    Parquet(ParquetBatched<Box<dyn Write + Send>>),
    Csv(CsvBatched<Box<dyn Write + Send>>),
    Json {
        out: Box<dyn Write + Send>,
        first: bool,
    },
}

impl BatchWriter {
    /// Opens a writer for batches of `schema`. Table output is not streamed (see [`write_all`]).
    pub fn open(dest: &Destination, format: Format, schema: &Schema) -> Result<Self, Error> {
        let out = dest.writer()?;
        let context = "opening the output";
        Ok(match format {
            Format::Parquet => BatchWriter::Parquet(
                ParquetWriter::new(out)
                    .batched(schema)
                    .map_err(Error::polars(context))?,
            ),
            Format::Csv => BatchWriter::Csv(
                CsvWriter::new(out)
                    .include_header(true)
                    .batched(schema)
                    .map_err(Error::polars(context))?,
            ),
            Format::Json | Format::Table => BatchWriter::Json { out, first: true },
        })
    }

    pub fn write(&mut self, batch: &mut DataFrame) -> Result<(), Error> {
        let context = "writing the output";
        match self {
            BatchWriter::Parquet(w) => w.write_batch(batch).map_err(Error::polars(context)),
            BatchWriter::Csv(w) => w.write_batch(batch).map_err(Error::polars(context)),
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
    let mut writer = BatchWriter::open(dest, format, &df.schema())?;
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
