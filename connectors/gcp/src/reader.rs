//! Reads one export file and turns each row into a usage row, in batches of [`BATCH_ROWS`].
//!
//! The format decides the reader: CSV and JSON lines are streamed record by record (gzip
//! decompressed on the fly, nothing held but the current batch), Parquet is scanned lazily by
//! polars and handed over in batches by its streaming engine. Every row, whatever its class,
//! is counted in the file's [`InputTotals`] from its raw `cost` and `credits`, before it is
//! classified.
//!
//! Line numbers (`source_line` and errors): CSV, the physical line where the record starts
//! (header = line 1; quoted line breaks are counted); JSON lines, the physical line (no
//! header: the first object is line 1); Parquet, the 1-based row number.

use carbonledger_usage::{InputTotals, SourceError, UsageBatchBuilder};
use polars::prelude::DataFrame;

use crate::fields::{Field, REQUIRED};
use crate::layout::{DataFile, FileFormat};
use crate::line::{GcpLine, LineConverter};
use crate::{csv_file, json_lines, parquet_file};

/// Read buffer of the text readers, bytes.
pub const BUFFER: usize = 256 * 1024;

/// A text export opened for reading, gunzipped on the fly when its name says gzip. An empty
/// file is an error naming it.
pub fn open_text(file: &DataFile) -> Result<Box<dyn std::io::Read>, SourceError> {
    let shown = file.shown.as_str();
    let handle = std::fs::File::open(&file.path).map_err(|e| SourceError::io(shown, e))?;
    let len = handle
        .metadata()
        .map_err(|e| SourceError::io(shown, e))?
        .len();
    if len == 0 {
        return Err(SourceError::invalid(
            carbonledger_usage::Location::file(shown),
            "empty file",
        ));
    }
    Ok(if file.format.is_gzip() {
        Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(BUFFER, handle),
        ))
    } else {
        Box::new(handle)
    })
}

/// Rows per usage batch.
pub const BATCH_ROWS: usize = 65_536;

/// Collects the rows of one file into batches and counts them.
pub struct Emitter<'a> {
    converter: &'a mut LineConverter,
    builder: UsageBatchBuilder,
    totals: InputTotals,
    sink: &'a mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    shown: &'a str,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(
        converter: &'a mut LineConverter,
        shown: &'a str,
        sink: &'a mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Self {
        Emitter {
            converter,
            builder: UsageBatchBuilder::with_capacity(1024),
            totals: InputTotals::default(),
            sink,
            shown,
        }
    }

    /// The fields a file must have for the converter's cost measure.
    pub fn required(&self) -> Vec<Field> {
        let mut required = REQUIRED.to_vec();
        if self.converter.cost_measure().needs_credits() {
            required.push(Field::Credits);
        }
        required
    }

    /// Counts `line` and appends it; hands a full batch to the sink.
    pub fn push(&mut self, line: &GcpLine<'_>) -> Result<(), SourceError> {
        self.totals.rows += 1;
        *self
            .totals
            .cost
            .entry(line.currency.trim().to_owned())
            .or_default() += self.converter.cost_of(line);
        self.converter.push(line, &mut self.builder);
        if self.builder.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SourceError> {
        if self.builder.is_empty() {
            return Ok(());
        }
        let batch = self.builder.finish().map_err(|e| {
            SourceError::polars(format!("building usage rows of {}", self.shown), e)
        })?;
        (self.sink)(batch)
    }

    pub(crate) fn finish(mut self) -> Result<InputTotals, SourceError> {
        self.flush()?;
        Ok(self.totals)
    }
}

/// Reads `file`, sending its usage batches to `sink`.
pub fn read_file(
    file: &DataFile,
    converter: &mut LineConverter,
    sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
) -> Result<InputTotals, SourceError> {
    let mut emitter = Emitter::new(converter, &file.shown, sink);
    match file.format {
        FileFormat::Csv | FileFormat::GzipCsv => csv_file::read(file, &mut emitter)?,
        FileFormat::JsonLines | FileFormat::GzipJsonLines => json_lines::read(file, &mut emitter)?,
        FileFormat::Parquet => parquet_file::read(file, &mut emitter)?,
    }
    emitter.finish()
}
