//! Reads one export file, CSV (plain or gzip, streamed record by record with the `csv` crate)
//! or Parquet (polars' streaming engine, in batches), and turns each row into an
//! [`AzureLine`] and then a usage row, in batches of [`BATCH_ROWS`].
//!
//! Every row is counted in the file's [`InputTotals`] from its raw `Cost` before it is
//! classified. A missing required column, an unparsable number or date, a record with another
//! number of fields than the header, invalid UTF-8 and broken gzip data are errors naming the
//! file, the line (CSV: the physical line, header = 1; Parquet: the 1-based row number) and
//! the column as the file spells it.
//!
//! Values: dates as `MM/DD/YYYY` (US, EA exports), `YYYY-MM-DD` with or without a time
//! (ISO, MCA and API), or `DD.MM.YYYY` (German); numbers with a `.` decimal point, or a single
//! `,` when there is no `.` (localised files); an empty quantity or cost is 0.

use std::io::Read;
use std::num::NonZeroUsize;

use carbonledger_usage::{InputTotals, Location, SourceError, UsageBatchBuilder};
use chrono::{Datelike, NaiveDate};
use csv::{ErrorKind, ReaderBuilder, StringRecord};
use polars::prelude::*;

use crate::columns::{ColumnMap, Field};
use crate::layout::{DataFile, FileFormat};
use crate::line::{AzureLine, LineConverter};

/// Rows per usage batch.
pub const BATCH_ROWS: usize = 65_536;
/// Read buffer of the CSV reader, bytes.
const BUFFER: usize = 256 * 1024;

/// Reads `file` into `sink`.
pub fn read_file(
    file: &DataFile,
    converter: &mut LineConverter,
    sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
) -> Result<InputTotals, SourceError> {
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

struct Emitter<'a> {
    converter: &'a mut LineConverter,
    builder: UsageBatchBuilder,
    totals: InputTotals,
    sink: &'a mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    shown: &'a str,
}

impl Emitter<'_> {
    fn push(&mut self, line: &AzureLine<'_>) -> Result<(), SourceError> {
        self.totals.rows += 1;
        *self
            .totals
            .cost
            .entry(line.billing_currency.trim().to_owned())
            .or_default() += line.cost;
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
}

/// Parses a cost-details date into (start of day in µs UTC, days in its month).
pub fn parse_date(text: &str) -> Result<(i64, u32), String> {
    let text = text.trim();
    let day_part = text.split(['T', ' ']).next().unwrap_or_default();
    let date = if day_part.contains('/') {
        NaiveDate::parse_from_str(day_part, "%m/%d/%Y")
    } else if day_part.contains('.') {
        NaiveDate::parse_from_str(day_part, "%d.%m.%Y")
    } else {
        NaiveDate::parse_from_str(day_part, "%Y-%m-%d")
    }
    .map_err(|_| {
        format!(
            "`{text}` is not a date (expected MM/DD/YYYY, YYYY-MM-DD[THH:MM:SSZ] or DD.MM.YYYY)"
        )
    })?;
    if date.year() < 1971 {
        return Err(format!("`{text}` is not a plausible billing date"));
    }
    let start = date
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp_micros())
        .ok_or_else(|| format!("`{text}` is out of range"))?;
    let next = if date.month() == 12 {
        NaiveDate::from_ymd_opt(date.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(date.year(), date.month() + 1, 1)
    };
    let first = NaiveDate::from_ymd_opt(date.year(), date.month(), 1);
    let days = match (first, next) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 30,
    };
    Ok((start, days))
}

/// Parses a quantity or cost; empty text is 0.
pub fn parse_number(text: &str) -> Result<f64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0.0);
    }
    if let Ok(n) = text.parse::<f64>() {
        if n.is_finite() {
            return Ok(n);
        }
    } else if !text.contains('.')
        && text.matches(',').count() == 1
        && let Ok(n) = text.replace(',', ".").parse::<f64>()
    {
        return Ok(n);
    }
    Err(format!("`{text}` is not a number"))
}

/// Builds the line of one row from its cells (`cell(field)` gives the text, empty when the
/// file lacks the column) and hands it to the emitter.
fn emit_row<'t>(
    emitter: &mut Emitter<'_>,
    cell: &dyn Fn(Field) -> &'t str,
    column_name: &dyn Fn(Field) -> String,
    line: u64,
) -> Result<(), SourceError> {
    let shown = emitter.shown;
    let at = |field: Field| {
        Location::file(shown)
            .at_line(line)
            .in_column(column_name(field))
    };
    let (date_us, days_in_month) =
        parse_date(cell(Field::Date)).map_err(|m| SourceError::invalid(at(Field::Date), m))?;
    let number =
        |field: Field| parse_number(cell(field)).map_err(|m| SourceError::invalid(at(field), m));
    let quantity = number(Field::Quantity)?;
    let cost = number(Field::Cost)?;
    let currency = cell(Field::BillingCurrency);
    if currency.trim().is_empty() && cost != 0.0 {
        return Err(SourceError::invalid(
            at(Field::BillingCurrency),
            "the row has a cost but no currency",
        ));
    }
    let row = AzureLine {
        billing_account_id: cell(Field::BillingAccountId),
        billing_profile_id: cell(Field::BillingProfileId),
        subscription_id: cell(Field::SubscriptionId),
        date_us,
        days_in_month,
        meter_category: cell(Field::MeterCategory),
        meter_sub_category: cell(Field::MeterSubCategory),
        meter_name: cell(Field::MeterName),
        meter_region: cell(Field::MeterRegion),
        quantity,
        unit_of_measure: cell(Field::UnitOfMeasure),
        cost,
        billing_currency: currency,
        resource_location: cell(Field::ResourceLocation),
        location: cell(Field::Location),
        consumed_service: cell(Field::ConsumedService),
        resource_id: cell(Field::ResourceId),
        additional_info: cell(Field::AdditionalInfo),
        tags: cell(Field::Tags),
        charge_type: cell(Field::ChargeType),
        pricing_model: cell(Field::PricingModel),
        frequency: cell(Field::Frequency),
        reservation_id: cell(Field::ReservationId),
        benefit_id: cell(Field::BenefitId),
        source: shown,
        source_line: Some(line),
        column_names: Some(column_name),
    };
    emitter.push(&row)
}

/// A column name the header has twice (`first`, `second`: 0-based indexes).
fn duplicate_column(
    shown: &str,
    name: &str,
    first: usize,
    second: usize,
    line: Option<u64>,
) -> SourceError {
    let mut at = Location::file(shown).in_column(name.trim_start_matches('\u{feff}'));
    at.line = line;
    SourceError::invalid(
        at,
        format!(
            "the column appears twice in the header: as column {} and as column {}",
            first + 1,
            second + 1
        ),
    )
}

fn missing_column(shown: &str, field: Field, line: Option<u64>) -> SourceError {
    let mut at = Location::file(shown).in_column(field.name());
    at.line = line;
    let aliases = field.aliases()[1..].join("`, `");
    let also = if aliases.is_empty() {
        String::new()
    } else {
        format!(" (or `{aliases}`)")
    };
    SourceError::invalid(
        at,
        format!(
            "required column `{}`{also} is missing from the Azure cost-details header",
            field.name()
        ),
    )
}

fn open_text(file: &DataFile) -> Result<Box<dyn Read>, SourceError> {
    let shown = file.shown.as_str();
    let handle = std::fs::File::open(&file.path).map_err(|e| SourceError::io(shown, e))?;
    let len = handle
        .metadata()
        .map_err(|e| SourceError::io(shown, e))?
        .len();
    if len == 0 {
        return Err(SourceError::invalid(Location::file(shown), "empty file"));
    }
    let buffered = std::io::BufReader::with_capacity(BUFFER, handle);
    Ok(if file.format == FileFormat::GzipCsv {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    })
}

fn read_csv(file: &DataFile, emitter: &mut Emitter<'_>) -> Result<(), SourceError> {
    let shown = file.shown.as_str();
    let gzip = file.format == FileFormat::GzipCsv;
    let mut csv = ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .buffer_capacity(BUFFER)
        .from_reader(open_text(file)?);
    let header = match csv.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Err(csv_error(shown, gzip, &StringRecord::new(), 1, e)),
    };
    if header
        .iter()
        .all(|h| h.trim_start_matches('\u{feff}').trim().is_empty())
    {
        return Err(SourceError::invalid(Location::file(shown), "empty file"));
    }
    let map = ColumnMap::of_header(header.iter());
    if let Some(field) = map.missing() {
        return Err(missing_column(shown, field, Some(1)));
    }
    if let Some((_, first, second)) = map.duplicate {
        return Err(duplicate_column(
            shown,
            &header[second],
            first,
            second,
            Some(1),
        ));
    }
    let index: Vec<Option<usize>> = crate::columns::ALL.iter().map(|f| map.index(*f)).collect();
    let column_name = |field: Field| {
        map.index(field).map_or_else(
            || field.name().to_owned(),
            |i| header[i].trim_start_matches('\u{feff}').to_owned(),
        )
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
        let cell = |field: Field| -> &str {
            index[field as usize]
                .and_then(|i| record.get(i))
                .unwrap_or_default()
        };
        emit_row(emitter, &cell, &column_name, line)?;
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
            SourceError::invalid(
                location,
                format!(
                    "{len} fields where the header has {expected_len} (a truncated line, an \
                     unquoted comma or line break)"
                ),
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

fn read_parquet(file: &DataFile, emitter: &mut Emitter<'_>) -> Result<(), SourceError> {
    let shown = file.shown.as_str();
    let polars_err = |e: PolarsError| SourceError::polars(format!("reading {shown}"), e);
    let len = std::fs::metadata(&file.path)
        .map_err(|e| SourceError::io(shown, e))?
        .len();
    if len == 0 {
        return Err(SourceError::invalid(Location::file(shown), "empty file"));
    }
    let path = PlRefPath::try_from_path(&file.path).map_err(polars_err)?;
    let args = ScanArgsParquet {
        hive_options: HiveOptions::new_disabled(),
        glob: false,
        ..ScanArgsParquet::default()
    };
    let mut lf = LazyFrame::scan_parquet(path, args).map_err(polars_err)?;
    let schema = lf.collect_schema().map_err(polars_err)?;
    let names: Vec<String> = schema.iter_names().map(|n| n.to_string()).collect();
    let map = ColumnMap::of_header(names.iter().map(String::as_str));
    if let Some(field) = map.missing() {
        return Err(missing_column(shown, field, None));
    }
    if let Some((_, first, second)) = map.duplicate {
        return Err(duplicate_column(shown, &names[second], first, second, None));
    }
    let fields: Vec<(Field, String)> = map
        .columns
        .iter()
        .map(|(f, i, _)| (*f, names[*i].clone()))
        .collect();
    // Every column as text, so that numbers, dates and strings go through the same parsing
    // as CSV cells (a Parquet date becomes `YYYY-MM-DD`, a timestamp `YYYY-MM-DD HH:MM:SS`).
    let mut projection: Vec<Expr> = vec![col("__row")];
    projection.extend(
        fields
            .iter()
            .map(|(_, name)| col(name.as_str()).cast(DataType::String)),
    );
    let batches = lf
        .with_row_index("__row", None)
        .select(projection)
        .collect_batches(
            Engine::Streaming,
            true,
            NonZeroUsize::new(BATCH_ROWS),
            false,
        )
        .map_err(polars_err)?;
    let column_name = |field: Field| {
        fields
            .iter()
            .find(|(f, _)| *f == field)
            .map_or_else(|| field.name().to_owned(), |(_, n)| n.clone())
    };
    for batch in batches {
        let df = batch.map_err(polars_err)?;
        let rows = df
            .column("__row")
            .and_then(|c| c.idx().cloned())
            .map_err(polars_err)?;
        let mut columns: Vec<Option<StringChunked>> = vec![None; crate::columns::ALL.len()];
        for (field, name) in &fields {
            let ca = df
                .column(name)
                .and_then(|c| c.str().cloned())
                .map_err(polars_err)?;
            columns[*field as usize] = Some(ca);
        }
        for i in 0..df.height() {
            let line = rows.get(i).map_or(i as u64, u64::from) + 1;
            let cell = |field: Field| -> &str {
                columns[field as usize]
                    .as_ref()
                    .and_then(|ca| ca.get(i))
                    .unwrap_or_default()
            };
            emit_row(emitter, &cell, &column_name, line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_us_iso_and_german_forms() {
        let (us, days) = parse_date("09/04/2023").unwrap();
        assert_eq!(days, 30);
        assert_eq!(parse_date("9/4/2023").unwrap().0, us);
        assert_eq!(parse_date("2023-09-04").unwrap().0, us);
        assert_eq!(parse_date("2023-09-04T00:00:00.0000000Z").unwrap().0, us);
        assert_eq!(parse_date("04.09.2023").unwrap().0, us);
        assert_eq!(parse_date("2024-02-10").unwrap().1, 29);
        assert!(parse_date("13/45/2023").is_err());
        assert!(parse_date("yesterday").is_err());
    }

    #[test]
    fn numbers_with_point_or_single_comma() {
        assert_eq!(parse_number("1.5"), Ok(1.5));
        assert_eq!(parse_number("1,5"), Ok(1.5));
        assert_eq!(parse_number(""), Ok(0.0));
        assert_eq!(parse_number("-0.25"), Ok(-0.25));
        assert!(parse_number("1,000,5").is_err());
        assert!(parse_number("abc").is_err());
        assert!(parse_number("NaN").is_err());
    }
}
