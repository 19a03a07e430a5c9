//! Reads a flattened CSV export (plain or gzip) record by record with the `csv` crate.
//!
//! The header names the fields flat (`service.description` or `service_description`, see
//! `fields`); repeated fields are JSON or Python-repr text. A missing required column, a name
//! given twice, a record with another number of fields than the header, invalid UTF-8 and
//! broken gzip data are errors naming the file, the line and the column.

use std::borrow::Cow;

use carbonledger_usage::{Location, SourceError};
use csv::{ErrorKind, ReaderBuilder, StringRecord};

use crate::fields::{Field, clean};
use crate::layout::DataFile;
use crate::reader::{BUFFER, Emitter, open_text};
use crate::row::{Cell, RowCells, RowPlace};

/// Reads `file` into `emitter`.
pub fn read(file: &DataFile, emitter: &mut Emitter<'_>) -> Result<(), SourceError> {
    let shown = file.shown.as_str();
    let gzip = file.format.is_gzip();
    let input = open_text(file)?;
    let mut csv = ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .buffer_capacity(BUFFER)
        .from_reader(input);
    let header = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_error(shown, gzip, &StringRecord::new(), 1, e)),
    };
    if header.is_empty() || header.iter().all(|h| clean(h).is_empty()) {
        let what = if gzip {
            "empty file (after gunzip)"
        } else {
            "empty file"
        };
        return Err(SourceError::invalid(Location::file(shown), what));
    }
    let columns = map_header(&header, shown, &emitter.required())?;
    let column_name = |field: Field| {
        columns
            .iter()
            .find(|(_, f)| *f == field)
            .map_or_else(|| field.path().to_owned(), |(i, _)| header[*i].to_owned())
    };
    let mut record = StringRecord::new();
    loop {
        let last_line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(shown, gzip, &header, last_line, e)),
        }
        let line = record.position().map_or(last_line, |p| p.line());
        let mut cells = RowCells::new();
        for (i, field) in &columns {
            let text = record.get(*i).unwrap_or_default();
            cells.set(*field, Cell::Text(Cow::Borrowed(text)));
        }
        let place = RowPlace {
            source: shown,
            line,
            column: &column_name,
        };
        cells.with_line(&place, Some(line), |l| emitter.push(l))??;
    }
    Ok(())
}

/// The header's columns the connector reads, as (index, field).
fn map_header(
    header: &StringRecord,
    shown: &str,
    required: &[Field],
) -> Result<Vec<(usize, Field)>, SourceError> {
    let at = |column: &str| Location::file(shown).at_line(1).in_column(column);
    let mut columns: Vec<(usize, Field)> = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let duplicate = header
            .iter()
            .take(i)
            .position(|earlier| clean(earlier) == clean(name));
        if let Some(first) = duplicate.filter(|_| !clean(name).is_empty()) {
            return Err(SourceError::invalid(
                at(name),
                format!(
                    "the column name appears twice in the header: as column {} and as column {}",
                    first + 1,
                    i + 1
                ),
            ));
        }
        let Some(field) = Field::of_name(name) else {
            continue;
        };
        if let Some((first, _)) = columns.iter().find(|(_, f)| *f == field) {
            return Err(SourceError::invalid(
                at(name),
                format!(
                    "`{}` (column {}) and `{name}` (column {}) both name `{}`",
                    &header[*first],
                    first + 1,
                    i + 1,
                    field.path()
                ),
            ));
        }
        columns.push((i, field));
    }
    for field in required {
        if !columns.iter().any(|(_, f)| f == field) {
            let why = if *field == Field::Credits {
                " (the net cost measures need it; use the gross cost for an export without \
                 credits)"
            } else {
                ""
            };
            return Err(SourceError::invalid(
                at(field.path()),
                format!(
                    "required column `{}` is missing from the GCP export header{why}",
                    field.path()
                ),
            ));
        }
    }
    Ok(columns)
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
            let line = line_of(pos.as_ref());
            let mut location = Location::file(shown).at_line(line);
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
