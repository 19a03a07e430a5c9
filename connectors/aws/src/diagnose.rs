//! Where a CSV CUR file is malformed: the file, the line and the column, for the error.
//!
//! polars (0.55, every column read as text, only the needed columns projected) says little when
//! a CSV is malformed, and accepts some faults silently:
//!
//! * a line with more fields than the header: with a projection polars does not look past the
//!   last projected column, so the extra fields are dropped without an error;
//! * a line with fewer fields: padded with nulls, without an error;
//! * an unclosed quote: an error with a byte offset or a row count, no line;
//! * invalid UTF-8: `invalid utf-8 sequence`, no position (in the header: replaced, silently);
//! * a duplicated header name: the second one is renamed `<name>_duplicated_0`, silently.
//!
//! So, for a CSV, the reader checks the header line before scanning ([`CsvFile::open`]:
//! duplicated names, invalid UTF-8, quotes), checks the field count of the last line, which a
//! truncated file gets wrong ([`CsvFile::check_tail`], at most [`TAIL`] bytes read), and
//! declares one column past the header, so that a line with too many fields shows as a value
//! in it. When polars fails, a value cannot be read or that column holds a value,
//! [`CsvFile::diagnose`] re-reads the file with the `csv` crate to find the first malformed
//! line. None of this reads a good file twice. A line with too few fields in the middle of a
//! file is only found when it makes a value unreadable (an empty date, …).

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use carbonledger_usage::{Location, SourceError};
use csv::{ByteRecord, ReaderBuilder, Terminator};
use polars::prelude::{DataFrame, DataType};

/// The column the reader declares past the header's last one: a line with more fields than the
/// header puts a value in it.
pub const EXTRA_FIELD: &str = "__carbonledger_extra_field";

/// Longest header line checked before the scan.
const HEADER_LIMIT: u64 = 1 << 20;
/// The diagnosis gives up on a record longer than this (an unclosed quote, most likely).
const RECORD_LIMIT: u64 = 64 << 20;
/// How much of the end of the file [`CsvFile::check_tail`] reads.
pub const TAIL: u64 = 256 << 10;

const BOM: &[u8] = b"\xef\xbb\xbf";

/// One CSV file being read, as the diagnosis needs it.
pub struct CsvFile {
    /// The file polars reads (for a `.gz`, the decompressed temporary file).
    path: PathBuf,
    /// The name errors show (for a `.gz`, the `.gz`).
    shown: String,
    /// Whether `path` is decompressed from `shown` (byte offsets are then in the decompressed
    /// data).
    decompressed: bool,
    /// The header's column names, when the header line is not longer than [`HEADER_LIMIT`].
    header: Option<Vec<String>>,
}

impl CsvFile {
    /// Reads and checks the header line: it fails on a duplicated column name (naming both
    /// positions), invalid UTF-8 or a quote that is not closed on the line.
    pub fn open(path: &Path, shown: &str, decompressed: bool) -> Result<CsvFile, SourceError> {
        let mut file = CsvFile {
            path: path.to_path_buf(),
            shown: shown.to_owned(),
            decompressed,
            header: None,
        };
        let mut line = Vec::new();
        File::open(path)
            .and_then(|f| f.take(HEADER_LIMIT).read_to_end(&mut line))
            .map_err(|e| SourceError::io(shown, e))?;
        match line.iter().position(|b| *b == b'\n') {
            Some(end) => line.truncate(end),
            None if line.len() as u64 == HEADER_LIMIT => return Ok(file),
            None => {}
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        let skip = if line.starts_with(BOM) { BOM.len() } else { 0 };
        let line = &line[skip..];
        let at_header = || Location::file(shown).at_line(1);
        if let Some(issue) = quote_issue(line) {
            let at = file.byte(skip + issue.offset);
            let message = format!(
                "{} (the header's column {})",
                issue.describe(&at, "the end of the header line"),
                issue.field + 1
            );
            return Err(SourceError::invalid(at_header(), message));
        }
        let names = match csv_reader(line).byte_records().next() {
            Some(Ok(record)) => names_of(&record),
            _ => Vec::new(),
        };
        if let Err(e) = std::str::from_utf8(line) {
            let offset = e.valid_up_to();
            let field = field_at(line, offset);
            let mut location = at_header();
            if let Some(name) = names.get(field) {
                location = location.in_column(name.as_str());
            }
            return Err(SourceError::invalid(
                location,
                format!(
                    "invalid UTF-8 at {} in the header (column {}): the file must be UTF-8",
                    file.byte(skip + offset),
                    field + 1
                ),
            ));
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (k, name) in names.iter().enumerate() {
            if let Some(first) = seen.insert(name, k) {
                return Err(SourceError::invalid(
                    at_header().in_column(name.as_str()),
                    format!(
                        "the column name appears twice in the header: as column {} and as \
                         column {}",
                        first + 1,
                        k + 1
                    ),
                ));
            }
        }
        file.header = Some(names);
        Ok(file)
    }

    /// Checks the field count of the file's last line (a truncated file's last line is short)
    /// and, when it is off, looks for the first malformed line.
    pub fn check_tail(&self) -> Result<(), SourceError> {
        let Some(header) = &self.header else {
            return Ok(());
        };
        let mut file = File::open(&self.path).map_err(|e| SourceError::io(&self.shown, e))?;
        let len = file
            .metadata()
            .map_err(|e| SourceError::io(&self.shown, e))?
            .len();
        let window = len.min(TAIL);
        let mut tail = Vec::with_capacity(window as usize);
        file.seek(SeekFrom::Start(len - window))
            .and_then(|_| file.take(window).read_to_end(&mut tail))
            .map_err(|e| SourceError::io(&self.shown, e))?;
        let mut body = tail.as_slice();
        body = body.strip_suffix(b"\n").unwrap_or(body);
        body = body.strip_suffix(b"\r").unwrap_or(body);
        // No line end: the whole file is the header, or the last line is longer than the tail.
        let Some(start) = body.iter().rposition(|b| *b == b'\n') else {
            return Ok(());
        };
        let last = &body[start + 1..];
        if last.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        // An odd number of quotes: the line closes a field opened on an earlier line, or opens
        // one that is never closed, which polars reports. Either way the count says nothing.
        if last.iter().filter(|b| **b == b'"').count() % 2 == 1 {
            return Ok(());
        }
        let fields = match csv_reader(last).byte_records().next() {
            Some(Ok(record)) => record.len(),
            _ => 0,
        };
        if fields != header.len()
            && let Some(error) = self.diagnose(None)
        {
            return Err(error);
        }
        Ok(())
    }

    /// The first malformed line (starting no later than `until_line`, if given) as an error
    /// naming the file, the line and the column; `None` if the `csv` crate finds none.
    pub fn diagnose(&self, until_line: Option<u64>) -> Option<SourceError> {
        let record_start = Rc::new(Cell::new(0));
        let input = Limited {
            inner: File::open(&self.path).ok()?,
            read: 0,
            record_start: Rc::clone(&record_start),
        };
        let mut reader = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(Terminator::Any(b'\n'))
            .from_reader(input);
        let mut raw = BufReader::new(File::open(&self.path).ok()?);
        let mut span = Vec::new();
        let mut record = ByteRecord::new();
        let mut header: Option<Vec<String>> = None;
        loop {
            let at = reader.position().clone();
            record_start.set(at.byte());
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => return None,
                Err(_) => return self.too_long(&mut raw, at.byte(), at.line(), header.as_deref()),
            }
            let end = reader.position().byte();
            span.clear();
            (&mut raw)
                .take(end - at.byte())
                .read_to_end(&mut span)
                .ok()?;
            let Some(names) = &header else {
                header = Some(names_of(&record));
                continue;
            };
            let found = Span {
                bytes: &span,
                byte: at.byte(),
                line: at.line(),
            };
            if until_line.is_some_and(|limit| found.line_at(found.leading_blank_lines()) > limit) {
                return None;
            }
            if let Some(error) = self.check_record(names, &record, &found) {
                return Some(error);
            }
        }
    }

    /// Fails when a batch has a value in [`EXTRA_FIELD`]: a line with more fields than the
    /// header. `row_index` names the batch's 0-based row index column.
    pub fn check_extra_field(&self, batch: &DataFrame, row_index: &str) -> Result<(), SourceError> {
        let Ok(extra) = batch.column(EXTRA_FIELD) else {
            return Ok(());
        };
        if extra.null_count() == extra.len() {
            return Ok(());
        }
        if let Some(error) = self.diagnose(None) {
            return Err(error);
        }
        // polars and the `csv` crate disagree on the line: say what polars saw.
        let values = extra.str().ok();
        let i = values
            .and_then(|v| v.iter().position(|x| x.is_some()))
            .unwrap_or(0);
        let row = batch
            .column(row_index)
            .ok()
            .and_then(|c| c.idx().ok())
            .and_then(|c| c.get(i))
            .map_or(i as u64, u64::from);
        let value = values.and_then(|v| v.get(i)).unwrap_or_default();
        let mut location = Location::file(&self.shown).at_line(row + 2);
        if let Some(last) = self.header.as_ref().and_then(|h| h.last()) {
            location = location.in_column(last.as_str());
        }
        Err(SourceError::invalid(
            location,
            format!(
                "more fields than the header has: a field past the last column holds `{value}`"
            ),
        ))
    }

    /// `error` (a value that cannot be read on a line), or the first malformed line at or
    /// before that line, which explains it better (a short line leaves a date empty, …).
    pub fn explain(&self, error: SourceError) -> SourceError {
        let line = match &error {
            SourceError::Invalid { location, .. } => location.line,
            _ => None,
        };
        line.and_then(|line| self.diagnose(Some(line)))
            .unwrap_or(error)
    }

    /// The schema polars reads with: the header's (all text) and [`EXTRA_FIELD`].
    pub fn with_extra_field(mut schema: polars::prelude::Schema) -> polars::prelude::Schema {
        schema.with_column(EXTRA_FIELD.into(), DataType::String);
        schema
    }

    fn check_record(
        &self,
        names: &[String],
        record: &ByteRecord,
        span: &Span,
    ) -> Option<SourceError> {
        let column = |field: usize| names.get(field).or(names.last()).map_or("", String::as_str);
        if span.bytes.contains(&b'"')
            && let Some(issue) = quote_issue(span.bytes)
        {
            let location = Location::file(&self.shown)
                .at_line(span.line_at(issue.offset))
                .in_column(column(issue.field));
            let at = self.byte(span.byte as usize + issue.offset);
            let message = issue.describe(&at, "the end of the file");
            return Some(SourceError::invalid(location, message));
        }
        let expected = names.len();
        let found = record.len();
        if found != expected {
            let line = span.line_at(span.leading_blank_lines());
            let (field, message) = if found > expected {
                let message = format!(
                    "expected {expected} fields as in the header, found {found}: field {} is \
                     past the last column",
                    expected + 1
                );
                (expected - 1, message)
            } else {
                let message = format!(
                    "expected {expected} fields as in the header, found {found}: the line ends \
                     before this column (field {})",
                    found + 1
                );
                (found, message)
            };
            let location = Location::file(&self.shown)
                .at_line(line)
                .in_column(column(field));
            return Some(SourceError::invalid(location, message));
        }
        if let Err(e) = std::str::from_utf8(span.bytes) {
            let offset = e.valid_up_to();
            let location = Location::file(&self.shown)
                .at_line(span.line_at(offset))
                .in_column(column(field_at(span.bytes, offset)));
            let message = format!(
                "invalid UTF-8 at {}: the file must be UTF-8",
                self.byte(span.byte as usize + offset)
            );
            return Some(SourceError::invalid(location, message));
        }
        None
    }

    /// A record over [`RECORD_LIMIT`] bytes: an unclosed quote if the start of it says so.
    fn too_long(
        &self,
        raw: &mut BufReader<File>,
        byte: u64,
        line: u64,
        names: Option<&[String]>,
    ) -> Option<SourceError> {
        let mut bytes = Vec::new();
        raw.seek(SeekFrom::Start(byte)).ok()?;
        raw.take(RECORD_LIMIT).read_to_end(&mut bytes).ok()?;
        let issue = quote_issue(&bytes)?;
        let span = Span {
            bytes: &bytes,
            byte,
            line,
        };
        let mut location = Location::file(&self.shown).at_line(span.line_at(issue.offset));
        if let Some(name) = names.and_then(|n| n.get(issue.field).or(n.last())) {
            location = location.in_column(name.as_str());
        }
        let at = self.byte(byte as usize + issue.offset);
        let message = issue.describe(&at, &format!("the next {} MiB", RECORD_LIMIT >> 20));
        Some(SourceError::invalid(location, message))
    }

    fn byte(&self, offset: usize) -> String {
        if self.decompressed {
            format!("byte offset {offset} of the decompressed data")
        } else {
            format!("byte offset {offset}")
        }
    }
}

/// The raw bytes of one record (with any blank lines before it) and where they start.
struct Span<'a> {
    bytes: &'a [u8],
    byte: u64,
    line: u64,
}

impl Span<'_> {
    /// The physical line of the byte at `offset` in the span.
    fn line_at(&self, offset: usize) -> u64 {
        let newlines = self.bytes[..offset.min(self.bytes.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.line + newlines as u64
    }

    /// The offset of the record's first byte, after blank lines.
    fn leading_blank_lines(&self) -> usize {
        let mut offset = 0;
        for (i, b) in self.bytes.iter().enumerate() {
            match b {
                b'\n' => offset = i + 1,
                b'\r' => {}
                _ => break,
            }
        }
        offset
    }
}

/// A reader that fails once more than [`RECORD_LIMIT`] bytes past the current record's start
/// are read, so that an unclosed quote does not pull the rest of a big file into one record.
struct Limited {
    inner: File,
    read: u64,
    record_start: Rc<Cell<u64>>,
}

impl Read for Limited {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read.saturating_sub(self.record_start.get()) > RECORD_LIMIT {
            return Err(io::Error::other("a CSV record longer than the limit"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

fn csv_reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(Terminator::Any(b'\n'))
        .from_reader(bytes)
}

fn names_of(record: &ByteRecord) -> Vec<String> {
    record
        .iter()
        .enumerate()
        .map(|(k, field)| {
            let field = if k == 0 {
                field.strip_prefix(BOM).unwrap_or(field)
            } else {
                field
            };
            let name = String::from_utf8_lossy(field);
            name.strip_suffix('\r').unwrap_or(&name).to_owned()
        })
        .collect()
}

/// What is wrong with the quotes of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuoteFault {
    /// A quoted field is not closed by the end of the bytes.
    Unclosed,
    /// A quote inside a field that does not start with one (an odd number of them).
    Stray,
    /// Text between a quoted field's closing quote and the next separator.
    AfterClosing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct QuoteIssue {
    fault: QuoteFault,
    /// 0-based field of the record.
    field: usize,
    /// Offset in the bytes: the opening quote, the stray quote or the text after the quote.
    offset: usize,
}

impl QuoteIssue {
    /// What is wrong, with where (`at`) and, for an unclosed quote, the end it was not closed
    /// by (`end`).
    fn describe(&self, at: &str, end: &str) -> String {
        match self.fault {
            QuoteFault::Unclosed => format!(
                "unclosed quote: the quoted field that starts at {at} is not closed before {end}"
            ),
            QuoteFault::Stray => format!(
                "a quote inside an unquoted field, at {at}: a field holding quotes must be \
                 quoted, with each quote doubled"
            ),
            QuoteFault::AfterClosing => format!(
                "text after the closing quote of a quoted field, at {at}: a quote inside a \
                 quoted field must be doubled"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the closing one, or the first of a doubled quote.
    QuoteInQuoted,
    /// `\r` after a closing quote, which only a `\n` may follow.
    QuoteThenCr,
}

/// Walks one record's raw bytes as RFC 4180 has them: `,` separates fields, a field that
/// starts with `"` is quoted and a quote inside it is doubled.
struct Walk {
    state: State,
    field: usize,
    opened: usize,
    strays: usize,
    first_stray: usize,
}

impl Walk {
    fn new() -> Walk {
        Walk {
            state: State::FieldStart,
            field: 0,
            opened: 0,
            strays: 0,
            first_stray: 0,
        }
    }

    fn issue(&self, fault: QuoteFault, offset: usize) -> Option<QuoteIssue> {
        Some(QuoteIssue {
            fault,
            field: self.field,
            offset,
        })
    }

    /// Ends the current field at a separator (`next_field`) or a line end.
    fn end_field(&mut self, next_field: bool) -> Option<QuoteIssue> {
        if self.strays % 2 == 1 {
            return self.issue(QuoteFault::Stray, self.first_stray);
        }
        self.strays = 0;
        self.state = State::FieldStart;
        if next_field {
            self.field += 1;
        } else {
            self.field = 0;
        }
        None
    }

    fn step(&mut self, i: usize, b: u8) -> Option<QuoteIssue> {
        match (self.state, b) {
            (State::FieldStart, b'"') => {
                self.opened = i;
                self.state = State::Quoted;
            }
            (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b',') => {
                return self.end_field(true);
            }
            (State::FieldStart | State::Unquoted | State::QuoteInQuoted, b'\n')
            | (State::QuoteThenCr, b'\n') => return self.end_field(false),
            (State::Unquoted, b'"') => {
                if self.strays == 0 {
                    self.first_stray = i;
                }
                self.strays += 1;
            }
            (State::FieldStart | State::Unquoted, _) => self.state = State::Unquoted,
            (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
            (State::Quoted, _) => {}
            (State::QuoteInQuoted, b'"') => self.state = State::Quoted,
            (State::QuoteInQuoted, b'\r') => self.state = State::QuoteThenCr,
            (State::QuoteInQuoted, _) => return self.issue(QuoteFault::AfterClosing, i),
            (State::QuoteThenCr, _) => return self.issue(QuoteFault::AfterClosing, i - 1),
        }
        None
    }

    /// At the end of the bytes.
    fn finish(self) -> Option<QuoteIssue> {
        match self.state {
            State::Quoted => self.issue(QuoteFault::Unclosed, self.opened),
            State::Unquoted if self.strays % 2 == 1 => {
                self.issue(QuoteFault::Stray, self.first_stray)
            }
            _ => None,
        }
    }
}

/// The first quoting fault of a record's raw bytes. The `csv` crate ends a record at the end of
/// the file when a quote is never closed, so a quoted field still open at the end of the bytes
/// is the unclosed quote.
fn quote_issue(bytes: &[u8]) -> Option<QuoteIssue> {
    let mut walk = Walk::new();
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(issue) = walk.step(i, b) {
            return Some(issue);
        }
    }
    walk.finish()
}

/// The 0-based field of a record's raw bytes that holds the byte at `offset`.
fn field_at(bytes: &[u8], offset: usize) -> usize {
    let mut walk = Walk::new();
    for (i, &b) in bytes[..offset.min(bytes.len())].iter().enumerate() {
        let _ = walk.step(i, b);
    }
    walk.field
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(bytes: &[u8]) -> Option<(QuoteFault, usize, usize)> {
        quote_issue(bytes).map(|i| (i.fault, i.field, i.offset))
    }

    #[test]
    fn quotes() {
        assert_eq!(fault(b"a,\"b,\"\"c\"\"\",d\r\n"), None);
        assert_eq!(fault(b"a,\"b\n\",c\n"), None);
        assert_eq!(fault(b"a,\"b,c\n1,2\n"), Some((QuoteFault::Unclosed, 1, 2)));
        assert_eq!(fault(b"a,b\"c,d\n"), Some((QuoteFault::Stray, 1, 3)));
        assert_eq!(fault(b"a,b\"c\"d,e\n"), None);
        assert_eq!(
            fault(b"a,\"b\"c,d\n"),
            Some((QuoteFault::AfterClosing, 1, 5))
        );
        assert_eq!(fault(b"\"a\"\r\n"), None);
    }

    #[test]
    fn lines_count_blank_lines_and_quoted_line_breaks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "a,b,c\n1,\"2\n2\",3\n\n4,5\n6,7,8\n").expect("write");
        let file = CsvFile::open(&path, "t.csv", false).expect("header");
        let Some(SourceError::Invalid { location, message }) = file.diagnose(None) else {
            panic!("no error found");
        };
        assert_eq!(
            (location.line, location.column.as_deref()),
            (Some(5), Some("c"))
        );
        assert!(message.contains("found 2"), "{message}");
        assert!(file.diagnose(Some(4)).is_none());
    }

    #[test]
    fn fields() {
        assert_eq!(field_at(b"a,\"b,c\",d", 8), 2);
        assert_eq!(field_at(b"a,\"b,c\",d", 4), 1);
    }
}
