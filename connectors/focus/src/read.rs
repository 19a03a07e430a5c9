//! Finding the files of an input and reading each in batches.
//!
//! * A file is read in the format its name says (`.csv`, `.csv.gz`, `.parquet`); another name
//!   by its first bytes (`PAR1` Parquet, the gzip magic gzip CSV, else CSV).
//! * A folder: every such file below it (hidden entries skipped, eight levels deep), in path
//!   order, as FOCUS exports are delivered in numbered parts.
//!
//! CSV (plain or gzip, decompressed on the fly) is streamed record by record with the `csv`
//! crate; Parquet is scanned by polars and handed over in batches of [`BATCH_ROWS`] by its
//! streaming engine, each column read as one chunk before the per-row access. Line numbers:
//! CSV, the physical line where the record starts (header = line 1); Parquet, the 1-based row
//! number. A record with another number of fields than the header, invalid UTF-8, broken gzip
//! data and an empty file are errors naming the file and the line (and the column where one
//! applies).

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use carbonledger_usage::{InputTotals, Location, SourceError, UsageBatchBuilder};
use csv::{ErrorKind, ReaderBuilder, StringRecord};
use flate2::read::MultiGzDecoder;
use polars::prelude::*;

use crate::columns::{COUNT, Col, ColumnMap};
use crate::convert::{Converter, RowView};
use crate::values::Cell;

/// Rows per usage batch.
pub const BATCH_ROWS: usize = 65_536;
const BUFFER: usize = 256 * 1024;
const MAX_DEPTH: usize = 8;
const ROW_INDEX: &str = "__carbonledger_row_index";

/// How a file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    GzipCsv,
    Parquet,
}

impl FileFormat {
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

/// One file to read, with its header mapped.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub path: PathBuf,
    pub shown: String,
    pub format: FileFormat,
    pub columns: ColumnMap,
}

/// The files of `path`, in reading order, each with its header read.
pub fn discover(path: &Path) -> Result<Vec<DataFile>, SourceError> {
    let shown = path.display().to_string();
    let meta = fs::metadata(path).map_err(|e| SourceError::io(&shown, e))?;
    let mut found = Vec::new();
    if meta.is_file() {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let format = match name.as_deref().and_then(FileFormat::from_name) {
            Some(f) => f,
            None => sniff(path)?,
        };
        found.push((path.to_path_buf(), shown.clone(), format));
    } else {
        walk(path, 0, &mut found)?;
        // A Data Exports delivery (`data/BILLING_PERIOD=…/` with `metadata/` manifests, or
        // several executions of one period) holds superseded files: read only the delivery
        // the AWS connector's layout rules choose per billing period, as the S3 path does.
        let layout = carbonledger_aws::layout::discover(path)?;
        if layout.kind == carbonledger_aws::LayoutKind::Cur2Folder {
            let chosen: std::collections::HashSet<&Path> =
                layout.files.iter().map(|f| f.path.as_path()).collect();
            found.retain(|(file, _, _)| chosen.contains(file.as_path()));
        }
        if found.is_empty() {
            return Err(SourceError::invalid(
                Location::file(shown),
                "no FOCUS files (.csv, .csv.gz, .parquet) in the folder",
            ));
        }
    }
    found
        .into_iter()
        .map(|(path, shown, format)| {
            let header = header_of(&path, &shown, format)?;
            let columns = ColumnMap::new(&header, &shown)?;
            Ok(DataFile {
                path,
                shown,
                format,
                columns,
            })
        })
        .collect()
}

fn walk(
    dir: &Path,
    depth: usize,
    found: &mut Vec<(PathBuf, String, FileFormat)>,
) -> Result<(), SourceError> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| SourceError::io(dir.display(), e))? {
        paths.push(entry.map_err(|e| SourceError::io(dir.display(), e))?.path());
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
        if path.is_dir() {
            walk(&path, depth + 1, found)?;
        } else if let Some(format) = FileFormat::from_name(&name) {
            found.push((path.clone(), path.display().to_string(), format));
        }
    }
    Ok(())
}

pub fn sniff(path: &Path) -> Result<FileFormat, SourceError> {
    let shown = path.display().to_string();
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(|e| SourceError::io(&shown, e))?;
    let n = file
        .read(&mut head)
        .map_err(|e| SourceError::io(&shown, e))?;
    Ok(if head[..n].starts_with(b"PAR1") {
        FileFormat::Parquet
    } else if head[..n].starts_with(&[0x1f, 0x8b]) {
        FileFormat::GzipCsv
    } else {
        FileFormat::Csv
    })
}

/// The column names of a file.
pub fn header_of(path: &Path, shown: &str, format: FileFormat) -> Result<Vec<String>, SourceError> {
    if format == FileFormat::Parquet {
        let schema = scan_parquet(path, shown)?
            .collect_schema()
            .map_err(|e| SourceError::polars(format!("reading the schema of {shown}"), e))?;
        return Ok(schema.iter_names().map(|n| n.to_string()).collect());
    }
    let mut csv = csv_reader(path, shown, format)?;
    let gzip = format == FileFormat::GzipCsv;
    let header = csv
        .headers()
        .map_err(|e| csv_error(shown, gzip, &StringRecord::new(), 1, e))?;
    if header.iter().all(|h| crate::columns::clean(h).is_empty()) {
        let what = if gzip {
            "empty file (after gunzip)"
        } else {
            "empty file"
        };
        return Err(SourceError::invalid(Location::file(shown), what));
    }
    Ok(header.iter().map(str::to_owned).collect())
}

fn csv_reader(
    path: &Path,
    shown: &str,
    format: FileFormat,
) -> Result<csv::Reader<Box<dyn Read>>, SourceError> {
    let handle = File::open(path).map_err(|e| SourceError::io(shown, e))?;
    let len = handle
        .metadata()
        .map_err(|e| SourceError::io(shown, e))?
        .len();
    if len == 0 {
        return Err(SourceError::invalid(Location::file(shown), "empty file"));
    }
    let input: Box<dyn Read> = if format == FileFormat::GzipCsv {
        Box::new(CrlfToLf::new(MultiGzDecoder::new(
            BufReader::with_capacity(BUFFER, handle),
        )))
    } else {
        Box::new(CrlfToLf::new(handle))
    };
    Ok(ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .buffer_capacity(BUFFER)
        .from_reader(input))
}

/// Turns CRLF line ends into LF while reading. The `csv` crate ends a record at the `\r` of a
/// CRLF and counts the line at the `\n`, so every record of a CRLF file (spreadsheet exports,
/// the FOCUS spec's own examples) would be reported one line too early; with LF only, the
/// lines it reports are the file's. A `\r` not followed by `\n` is kept.
struct CrlfToLf<R> {
    inner: R,
    /// Converted bytes not yet handed out, from `start`.
    ready: Vec<u8>,
    start: usize,
    raw: Vec<u8>,
    /// A `\r` that ended the previous raw chunk, not yet known to precede a `\n`.
    pending_cr: bool,
}

impl<R: Read> CrlfToLf<R> {
    fn new(inner: R) -> Self {
        CrlfToLf {
            inner,
            ready: Vec::new(),
            start: 0,
            raw: vec![0u8; BUFFER],
            pending_cr: false,
        }
    }
}

impl<R: Read> Read for CrlfToLf<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.start == self.ready.len() {
            self.ready.clear();
            self.start = 0;
            let n = self.inner.read(&mut self.raw)?;
            if n == 0 {
                if std::mem::take(&mut self.pending_cr) {
                    self.ready.push(b'\r');
                    break;
                }
                return Ok(0);
            }
            for &b in &self.raw[..n] {
                if std::mem::take(&mut self.pending_cr) && b != b'\n' {
                    self.ready.push(b'\r');
                }
                if b == b'\r' {
                    self.pending_cr = true;
                } else {
                    self.ready.push(b);
                }
            }
        }
        let n = out.len().min(self.ready.len() - self.start);
        out[..n].copy_from_slice(&self.ready[self.start..self.start + n]);
        self.start += n;
        Ok(n)
    }
}

fn scan_parquet(path: &Path, shown: &str) -> Result<LazyFrame, SourceError> {
    let polars_err = |e: PolarsError| SourceError::polars(format!("reading {shown}"), e);
    let len = fs::metadata(path)
        .map_err(|e| SourceError::io(shown, e))?
        .len();
    if len == 0 {
        return Err(SourceError::invalid(Location::file(shown), "empty file"));
    }
    let pl_path = PlRefPath::try_from_path(path).map_err(polars_err)?;
    let args = ScanArgsParquet {
        hive_options: HiveOptions::new_disabled(),
        glob: false,
        ..ScanArgsParquet::default()
    };
    LazyFrame::scan_parquet(pl_path, args).map_err(polars_err)
}

/// Batches usage rows and hands them to the sink.
struct Emitter<'a> {
    converter: &'a mut Converter,
    builder: UsageBatchBuilder,
    totals: InputTotals,
    sink: &'a mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    shown: &'a str,
}

impl Emitter<'_> {
    fn push(&mut self, row: &RowView<'_, '_>) -> Result<(), SourceError> {
        self.converter
            .push(row, &mut self.builder, &mut self.totals)?;
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
}

/// Reads `file` into `sink`, returning what it counted.
pub fn read_file(
    file: &DataFile,
    converter: &mut Converter,
    required: &[Col],
    sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
) -> Result<InputTotals, SourceError> {
    file.columns.require(required, &file.shown)?;
    let mut emitter = Emitter {
        converter,
        builder: UsageBatchBuilder::with_capacity(1024),
        totals: InputTotals::default(),
        sink,
        shown: &file.shown,
    };
    match file.format {
        FileFormat::Csv | FileFormat::GzipCsv => read_csv(file, &mut emitter)?,
        FileFormat::Parquet => read_parquet(file, &mut emitter)?,
    }
    emitter.flush()?;
    Ok(emitter.totals)
}

fn read_csv(file: &DataFile, emitter: &mut Emitter<'_>) -> Result<(), SourceError> {
    let shown = file.shown.as_str();
    let gzip = file.format == FileFormat::GzipCsv;
    let mut csv = csv_reader(&file.path, shown, file.format)?;
    let header = csv
        .headers()
        .map_err(|e| csv_error(shown, gzip, &StringRecord::new(), 1, e))?
        .clone();
    let mut record = StringRecord::new();
    loop {
        let last_line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(shown, gzip, &header, last_line, e)),
        }
        let line = record.position().map_or(last_line, |p| p.line());
        let mut cells: [Cell<'_>; COUNT] = std::array::from_fn(|_| Cell::Null);
        for (col, index, _) in &file.columns.present {
            let text = record.get(*index).unwrap_or_default();
            cells[*col as usize] = Cell::Text(Cow::Borrowed(text));
        }
        emitter.push(&RowView {
            cells: &cells,
            columns: &file.columns,
            source: shown,
            line,
        })?;
    }
    Ok(())
}

fn csv_error(
    shown: &str,
    gzip: bool,
    header: &StringRecord,
    last_line: u64,
    e: csv::Error,
) -> SourceError {
    let line_of = |pos: Option<&csv::Position>| pos.map_or(last_line, |p| p.line());
    match e.kind() {
        ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let mut location = Location::file(shown).at_line(line_of(pos.as_ref()));
            if let Some(name) = header.get(*len as usize) {
                location = location.in_column(name);
            }
            let detail = if len < expected_len {
                "fields are missing from the line (a truncated line, or an unquoted line break)"
            } else {
                "the line has more fields than the header (an unquoted comma?)"
            };
            SourceError::invalid(
                location,
                format!("{len} fields where the header has {expected_len}: {detail}"),
            )
        }
        ErrorKind::Utf8 { pos, err } => {
            let mut location = Location::file(shown).at_line(line_of(pos.as_ref()));
            if let Some(name) = header.get(err.field()) {
                location = location.in_column(name);
            }
            SourceError::invalid(location, "invalid UTF-8: the file must be UTF-8")
        }
        ErrorKind::Io(io) if gzip => SourceError::invalid(
            Location::file(shown).at_line(last_line),
            format!(
                "gzip data is broken or truncated: decompression stopped after line {} ({io})",
                last_line.saturating_sub(1)
            ),
        ),
        ErrorKind::Io(io) => SourceError::io(shown, std::io::Error::new(io.kind(), io.to_string())),
        _ => SourceError::invalid(Location::file(shown).at_line(last_line), e.to_string()),
    }
}

/// One Parquet column of a batch, in the type the file gave it.
enum Values {
    Text(StringChunked),
    Number(Float64Chunked),
    /// Microseconds since the epoch, UTC.
    Time(Int64Chunked),
    /// Days since the epoch.
    Date(Int32Chunked),
    /// A MAP column (`Tags`) as List(Struct{key, value}), written out as JSON text.
    Map(ListChunked),
}

impl Values {
    fn of(column: &Column) -> PolarsResult<Values> {
        let series = column.as_materialized_series().rechunk();
        Ok(match series.dtype() {
            DataType::String => Values::Text(series.str()?.clone()),
            DataType::Datetime(_, zone) => {
                let us = series.cast(&DataType::Datetime(TimeUnit::Microseconds, zone.clone()))?;
                Values::Time(us.datetime()?.physical().clone())
            }
            DataType::Date => Values::Date(series.date()?.physical().clone()),
            DataType::List(_) => Values::Map(series.list()?.clone()),
            dtype if dtype.is_primitive_numeric() => {
                Values::Number(series.cast(&DataType::Float64)?.f64()?.clone())
            }
            _ => Values::Text(series.cast(&DataType::String)?.str()?.clone()),
        })
    }

    fn cell(&self, i: usize) -> PolarsResult<Cell<'_>> {
        Ok(match self {
            Values::Text(ca) => ca
                .get(i)
                .map_or(Cell::Null, |t| Cell::Text(Cow::Borrowed(t))),
            Values::Number(ca) => ca.get(i).map_or(Cell::Null, Cell::Number),
            Values::Time(ca) => ca.get(i).map_or(Cell::Null, Cell::Time),
            Values::Date(ca) => ca
                .get(i)
                .map_or(Cell::Null, |d| Cell::Time(i64::from(d) * 86_400_000_000)),
            Values::Map(ca) => match ca.get_as_series(i) {
                None => Cell::Null,
                Some(items) => Cell::Text(Cow::Owned(map_json(&items)?)),
            },
        })
    }
}

/// A MAP cell (list of key/value structs) as a JSON object.
fn map_json(items: &Series) -> PolarsResult<String> {
    let mut object = serde_json::Map::new();
    if let DataType::Struct(_) = items.dtype() {
        let fields = items.struct_()?.fields_as_series();
        if let [keys, values, ..] = fields.as_slice() {
            let keys = keys.cast(&DataType::String)?;
            let values = values.cast(&DataType::String)?;
            let (keys, values) = (keys.str()?, values.str()?);
            for j in 0..items.len() {
                if let Some(k) = keys.get(j) {
                    let v = values.get(j).unwrap_or_default();
                    object.insert(k.to_owned(), serde_json::Value::String(v.to_owned()));
                }
            }
        }
    }
    Ok(serde_json::Value::Object(object).to_string())
}

fn read_parquet(file: &DataFile, emitter: &mut Emitter<'_>) -> Result<(), SourceError> {
    let shown = file.shown.as_str();
    let polars_err = |e: PolarsError| SourceError::polars(format!("reading {shown}"), e);
    let lf = scan_parquet(&file.path, shown)?;
    let mut projection = vec![col(ROW_INDEX)];
    projection.extend(
        file.columns
            .present
            .iter()
            .map(|(_, _, name)| col(name.as_str())),
    );
    let batches = lf
        .with_row_index(ROW_INDEX, None)
        .select(projection)
        .collect_batches(
            Engine::Streaming,
            true,
            NonZeroUsize::new(BATCH_ROWS),
            false,
        )
        .map_err(polars_err)?;
    for batch in batches {
        let df = batch.map_err(polars_err)?;
        let rows = df
            .column(ROW_INDEX)
            .map_err(polars_err)?
            .as_materialized_series()
            .rechunk();
        let rows = rows.idx().map_err(polars_err)?.clone();
        let mut values: Vec<(Col, Values)> = Vec::with_capacity(file.columns.present.len());
        for (c, _, name) in &file.columns.present {
            let column = df.column(name).map_err(polars_err)?;
            values.push((*c, Values::of(column).map_err(polars_err)?));
        }
        for i in 0..df.height() {
            let line = rows.get(i).map_or(i as u64, u64::from) + 1;
            let mut cells: [Cell<'_>; COUNT] = std::array::from_fn(|_| Cell::Null);
            for (c, v) in &values {
                cells[*c as usize] = v.cell(i).map_err(polars_err)?;
            }
            emitter.push(&RowView {
                cells: &cells,
                columns: &file.columns,
                source: shown,
                line,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut reader = CrlfToLf::new(input);
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn crlf_becomes_lf_across_chunk_boundaries() {
        let input = b"a,b\r\n1,2\r\n\r\nx\ry\r";
        for chunk in [1, 2, 3, 64] {
            assert_eq!(
                through(input, chunk),
                b"a,b\n1,2\n\nx\ry\r",
                "chunk {chunk}"
            );
        }
    }
}
