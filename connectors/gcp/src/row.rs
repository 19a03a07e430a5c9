//! One export row as the readers see it, a cell per [`Field`], turned into a [`GcpLine`].
//!
//! Every reader (CSV, JSON lines, Parquet) fills the cells in its own types; this module reads
//! them the same way for all: numbers (blank or null = 0; text that is not a number is an
//! error), timestamps (see `parse`; an empty usage start or end is an error), text, and the
//! repeated fields (see `repeated`). Errors name the source, the line and the column (the
//! file's own name for it, or the field's path in nested files).

use std::borrow::Cow;

use carbonledger_usage::{Location, SourceError};
use serde_json::Value;

use crate::fields::Field;
use crate::line::{GcpLine, SystemLabels};
use crate::{parse, repeated};

/// One field of one row.
#[derive(Debug, Clone, Default)]
pub enum Cell<'a> {
    /// The file has no such column (or the object no such key).
    #[default]
    Absent,
    Null,
    Text(Cow<'a, str>),
    Number(f64),
    /// Microseconds since the epoch, UTC.
    Timestamp(i64),
    /// A nested value (JSON lines, Parquet lists and records).
    Json(Cow<'a, Value>),
}

/// Where the row is, for rows and errors.
pub struct RowPlace<'a> {
    pub source: &'a str,
    /// The line (or row number) errors name.
    pub line: u64,
    /// How the file names a field (its column name, or the field's path).
    pub column: &'a dyn Fn(Field) -> String,
}

impl RowPlace<'_> {
    fn error(&self, field: Field, message: impl Into<String>) -> SourceError {
        let location = Location::file(self.source)
            .at_line(self.line)
            .in_column((self.column)(field));
        SourceError::invalid(location, message)
    }
}

/// The cells of one row, indexed by `Field as usize`.
pub struct RowCells<'a> {
    pub cells: Vec<Cell<'a>>,
}

impl<'a> RowCells<'a> {
    pub fn new() -> Self {
        RowCells {
            cells: vec![Cell::Absent; crate::fields::ALL.len()],
        }
    }

    pub fn set(&mut self, field: Field, cell: Cell<'a>) {
        self.cells[field as usize] = cell;
    }

    fn get(&self, field: Field) -> &Cell<'a> {
        &self.cells[field as usize]
    }

    fn text(&self, field: Field, at: &RowPlace<'_>) -> Result<Cow<'_, str>, SourceError> {
        Ok(match self.get(field) {
            Cell::Absent | Cell::Null => Cow::Borrowed(""),
            Cell::Text(t) => Cow::Borrowed(t.as_ref()),
            Cell::Number(n) => Cow::Owned(n.to_string()),
            Cell::Timestamp(t) => Cow::Owned(t.to_string()),
            Cell::Json(v) => match v.as_ref() {
                Value::Null => Cow::Borrowed(""),
                Value::String(s) => Cow::Borrowed(s.as_str()),
                Value::Number(n) => Cow::Owned(n.to_string()),
                Value::Bool(b) => Cow::Owned(b.to_string()),
                _ => return Err(at.error(field, "expected text, found a list or an object")),
            },
        })
    }

    fn number(&self, field: Field, at: &RowPlace<'_>) -> Result<f64, SourceError> {
        let from_text = |text: &str| -> Result<f64, SourceError> {
            if text.trim().is_empty() {
                return Ok(0.0);
            }
            parse::number(text).ok_or_else(|| at.error(field, format!("`{text}` is not a number")))
        };
        match self.get(field) {
            Cell::Absent | Cell::Null => Ok(0.0),
            Cell::Number(n) => Ok(*n),
            Cell::Text(t) => from_text(t),
            Cell::Timestamp(_) => Err(at.error(field, "expected a number, found a timestamp")),
            Cell::Json(v) => match v.as_ref() {
                Value::Null => Ok(0.0),
                Value::Number(n) => Ok(n.as_f64().unwrap_or(0.0)),
                Value::String(s) => from_text(s),
                other => Err(at.error(field, format!("expected a number, found `{other}`"))),
            },
        }
    }

    fn timestamp(&self, field: Field, at: &RowPlace<'_>) -> Result<Option<i64>, SourceError> {
        let from_text = |text: &str| -> Result<Option<i64>, SourceError> {
            if text.trim().is_empty() {
                return Ok(None);
            }
            parse::timestamp_us(text)
                .map(Some)
                .ok_or_else(|| at.error(field, format!("`{text}` is not a date and time")))
        };
        match self.get(field) {
            Cell::Absent | Cell::Null => Ok(None),
            Cell::Timestamp(t) => Ok(Some(*t)),
            Cell::Text(t) => from_text(t),
            Cell::Number(n) => Err(at.error(field, format!("`{n}` is not a date and time"))),
            Cell::Json(v) => match v.as_ref() {
                Value::Null => Ok(None),
                Value::String(s) => from_text(s),
                other => Err(at.error(field, format!("`{other}` is not a date and time"))),
            },
        }
    }

    fn required_timestamp(&self, field: Field, at: &RowPlace<'_>) -> Result<i64, SourceError> {
        self.timestamp(field, at)?
            .ok_or_else(|| at.error(field, "the date is empty"))
    }

    fn repeated(&self, field: Field, at: &RowPlace<'_>) -> Result<Cow<'_, Value>, SourceError> {
        let bad = |e: repeated::RepeatedError| {
            at.error(field, format!("the repeated field cannot be read: {}", e.0))
        };
        match self.get(field) {
            Cell::Absent | Cell::Null => Ok(Cow::Owned(Value::Null)),
            Cell::Text(t) => repeated::parse_text(t).map(Cow::Owned).map_err(bad),
            Cell::Json(v) => Ok(Cow::Borrowed(v.as_ref())),
            Cell::Number(_) | Cell::Timestamp(_) => {
                Err(at.error(field, "the repeated field cannot be read: not a list"))
            }
        }
    }

    /// Reads the cells as a [`GcpLine`] and hands it to `f`. `source_line` is the row's
    /// `source_line` in the ledger.
    pub fn with_line<R>(
        &self,
        at: &RowPlace<'_>,
        source_line: Option<u64>,
        f: impl FnOnce(&GcpLine<'_>) -> R,
    ) -> Result<R, SourceError> {
        let start = self.required_timestamp(Field::UsageStartTime, at)?;
        let end = self.required_timestamp(Field::UsageEndTime, at)?;
        let export_time = self.timestamp(Field::ExportTime, at)?;
        let amount = self.number(Field::UsageAmount, at)?;
        let pricing_amount = self.number(Field::UsageAmountInPricingUnits, at)?;
        let cost = self.number(Field::Cost, at)?;
        let bad = |field: Field| {
            move |e: repeated::RepeatedError| {
                at.error(field, format!("the repeated field cannot be read: {}", e.0))
            }
        };
        let credits_value = self.repeated(Field::Credits, at)?;
        let credits = repeated::credits(&credits_value).map_err(bad(Field::Credits))?;
        let labels_value = self.repeated(Field::Labels, at)?;
        let labels = repeated::pairs(&labels_value, "labels").map_err(bad(Field::Labels))?;
        let system_value = self.repeated(Field::SystemLabels, at)?;
        let system_labels =
            repeated::pairs(&system_value, "system_labels").map_err(bad(Field::SystemLabels))?;
        let text = |field: Field| self.text(field, at);
        let billing_account = text(Field::BillingAccountId)?;
        let service_id = text(Field::ServiceId)?;
        let service = text(Field::ServiceDescription)?;
        let sku_id = text(Field::SkuId)?;
        let sku = text(Field::SkuDescription)?;
        let project_id = text(Field::ProjectId)?;
        let project_name = text(Field::ProjectName)?;
        let location = text(Field::LocationLocation)?;
        let region = text(Field::LocationRegion)?;
        let zone = text(Field::LocationZone)?;
        let unit = text(Field::UsageUnit)?;
        let pricing_unit = text(Field::UsagePricingUnit)?;
        let currency = text(Field::Currency)?;
        let cost_type = text(Field::CostType)?;
        let invoice_month = text(Field::InvoiceMonth)?;
        let line = GcpLine {
            billing_account_id: &billing_account,
            service_id: &service_id,
            service_description: &service,
            sku_id: &sku_id,
            sku_description: &sku,
            usage_start_us: start,
            usage_end_us: end,
            project_id: &project_id,
            project_name: &project_name,
            location_location: &location,
            location_region: &region,
            location_zone: &zone,
            usage_amount: amount,
            usage_unit: &unit,
            usage_amount_in_pricing_units: pricing_amount,
            usage_pricing_unit: &pricing_unit,
            cost,
            currency: &currency,
            credits: &credits,
            cost_type: &cost_type,
            labels: &labels,
            system_labels: SystemLabels::from_pairs(&system_labels),
            export_time_us: export_time,
            invoice_month: &invoice_month,
            source: at.source,
            source_line,
        };
        Ok(f(&line))
    }
}
