//! Reads one CUR file in batches and turns each line into a usage row.
//!
//! The file is scanned lazily with polars (CSV with every column as text; Parquet with its own
//! types), only the needed columns are projected, a row index is added, and the streaming engine
//! hands over batches of about 64k rows. Each batch becomes one usage batch for the sink.
//!
//! Line numbers: for CSV, `source_line` and error lines are the physical line of the row when no
//! quoted field spans lines (row index + 2; the header is line 1); a quoted field holding a
//! newline shifts the physical lines after it. For Parquet they are the 1-based row number.
//!
//! Blank numbers (a cost column AWS leaves empty on some line types, an empty usage amount)
//! read as 0; text that is not a number is an error naming the file, the line and the column.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use carbonledger_usage::{InputTotals, Location, SourceError, UsageBatchBuilder};
use polars::prelude::*;

use crate::columns::{ColumnMap, Flavour, Logical, map_tag_key};
use crate::diagnose::{CsvFile, EXTRA_FIELD};
use crate::layout::DataFile;
use crate::line::{BilledLine, LineConverter};
use crate::values::{CellError, Values, json_entries};
use crate::{CostMeasure, gzip};

/// Rows per batch handed to the streaming engine.
pub const BATCH_ROWS: usize = 65_536;

const ROW_INDEX: &str = "__carbonledger_row_index";
const MAP_CACHE_LIMIT: usize = 50_000;

/// Caches shared by every file of a source.
pub struct ReadState {
    pub converter: LineConverter,
    pub measure: CostMeasure,
    map_cache: HashMap<String, Arc<Vec<(String, String)>>>,
}

impl ReadState {
    pub fn new(converter: LineConverter, measure: CostMeasure) -> Self {
        ReadState {
            converter,
            measure,
            map_cache: HashMap::new(),
        }
    }

    /// Map entries of a text (JSON) cell, cached by the text: CUR 2.0 repeats the same
    /// `product` map on many lines.
    fn cached_json_entries(&mut self, text: &str) -> Result<Arc<Vec<(String, String)>>, CellError> {
        if let Some(hit) = self.map_cache.get(text) {
            return Ok(Arc::clone(hit));
        }
        let entries = if text.trim().is_empty() {
            Vec::new()
        } else {
            json_entries(text)?
        };
        if self.map_cache.len() >= MAP_CACHE_LIMIT {
            self.map_cache.clear();
        }
        let entries = Arc::new(entries);
        self.map_cache.insert(text.to_owned(), Arc::clone(&entries));
        Ok(entries)
    }
}

/// Reads `file`, sending one usage batch per input batch to `sink`.
pub fn read_file(
    file: &DataFile,
    state: &mut ReadState,
    sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
) -> Result<InputTotals, SourceError> {
    let shown = file.shown.clone();
    let temp = if file.format.is_gzip() {
        let suffix = if file.format.is_parquet() {
            ".parquet"
        } else {
            ".csv"
        };
        Some(gzip::gunzip_to_temp(&file.path, suffix)?)
    } else {
        let len = std::fs::metadata(&file.path)
            .map_err(|e| SourceError::io(&shown, e))?
            .len();
        if len == 0 {
            return Err(SourceError::invalid(Location::file(&shown), "empty file"));
        }
        None
    };
    let scan_path = temp.as_ref().map_or(file.path.as_path(), |t| t.path());
    let parquet = file.format.is_parquet();
    let polars_err = |e: PolarsError| SourceError::polars(format!("reading {shown}"), e);
    // A CSV is checked where polars is silent (see `diagnose`); when polars fails on it, the
    // file is re-read to name the malformed line and column.
    let csv = if parquet {
        None
    } else {
        let csv = CsvFile::open(scan_path, &shown, file.format.is_gzip())?;
        csv.check_tail()?;
        Some(csv)
    };
    let fail = |e: PolarsError| {
        csv.as_ref()
            .and_then(|csv| csv.diagnose(None))
            .unwrap_or_else(|| polars_err(e))
    };

    let mut lf = scan(scan_path, parquet).map_err(fail)?;
    let header: Vec<String> = lf
        .collect_schema()
        .map_err(fail)?
        .iter_names()
        .filter(|n| n.as_str() != EXTRA_FIELD)
        .map(|n| n.to_string())
        .collect();
    let header_line = (!parquet).then_some(1);
    let map = ColumnMap::resolve(&header, state.measure, &shown, header_line)?;

    let mut projection = vec![col(ROW_INDEX)];
    projection.extend(map.projection().iter().map(|name| col(name.as_str())));
    if csv.is_some() {
        projection.push(col(EXTRA_FIELD));
    }
    let batches = lf
        .with_row_index(ROW_INDEX, None)
        .select(projection)
        .collect_batches(
            Engine::Streaming,
            true,
            NonZeroUsize::new(BATCH_ROWS),
            false,
        )
        .map_err(fail)?;

    let file_ctx = FileContext {
        shown: &shown,
        map: &map,
        parquet,
    };
    let mut totals = InputTotals::default();
    for batch in batches {
        let df = batch.map_err(fail)?;
        if df.height() == 0 {
            continue;
        }
        if let Some(csv) = &csv {
            csv.check_extra_field(&df, ROW_INDEX)?;
        }
        let usage = read_batch(&df, &file_ctx, state, &mut totals).map_err(|e| match &csv {
            Some(csv) => csv.explain(e),
            None => e,
        })?;
        sink(usage)?;
    }
    drop(temp);
    Ok(totals)
}

fn scan(path: &Path, parquet: bool) -> PolarsResult<LazyFrame> {
    let pl_path = PlRefPath::try_from_path(path)?;
    if parquet {
        let args = ScanArgsParquet {
            hive_options: HiveOptions::new_disabled(),
            glob: false,
            ..ScanArgsParquet::default()
        };
        LazyFrame::scan_parquet(pl_path, args)
    } else {
        let reader = LazyCsvReader::new(pl_path)
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_glob(false);
        // With a projection polars drops the fields past the header silently; a column declared
        // past the header catches them (`truncate_ragged_lines` lets the schema be longer).
        let schema = reader.clone().finish()?.collect_schema()?.as_ref().clone();
        reader
            .with_truncate_ragged_lines(true)
            .with_schema(Some(Arc::new(CsvFile::with_extra_field(schema))))
            .finish()
    }
}

struct FileContext<'a> {
    shown: &'a str,
    map: &'a ColumnMap,
    parquet: bool,
}

/// The batch's columns, by logical name.
struct BatchColumns {
    row_index: IdxCa,
    by_logical: HashMap<Logical, Values>,
    tags: Vec<(String, Values)>,
}

impl BatchColumns {
    fn get(&self, logical: Logical) -> Option<&Values> {
        self.by_logical.get(&logical)
    }

    fn text(&self, logical: Logical, i: usize) -> Cow<'_, str> {
        self.get(logical)
            .and_then(|v| v.text(i))
            .unwrap_or(Cow::Borrowed(""))
    }
}

fn read_batch(
    df: &DataFrame,
    file: &FileContext<'_>,
    state: &mut ReadState,
    totals: &mut InputTotals,
) -> Result<DataFrame, SourceError> {
    let polars_err = |e: PolarsError| SourceError::polars(format!("reading {}", file.shown), e);
    let row_index = df
        .column(ROW_INDEX)
        .and_then(|c| c.idx().cloned())
        .map_err(polars_err)?;
    let mut by_logical = HashMap::new();
    for logical in ALL_LOGICAL {
        if let Some(name) = file.map.get(logical) {
            let column = df.column(name).map_err(polars_err)?;
            by_logical.insert(logical, Values::from_column(column).map_err(polars_err)?);
        }
    }
    let mut tags = Vec::with_capacity(file.map.tag_columns.len());
    for (name, key) in &file.map.tag_columns {
        let column = df.column(name).map_err(polars_err)?;
        tags.push((
            key.clone(),
            Values::from_column(column).map_err(polars_err)?,
        ));
    }
    let columns = BatchColumns {
        row_index,
        by_logical,
        tags,
    };
    let mut builder = UsageBatchBuilder::with_capacity(df.height());
    for i in 0..df.height() {
        read_row(&columns, i, file, state, totals, &mut builder)?;
    }
    builder.finish().map_err(polars_err)
}

const ALL_LOGICAL: [Logical; 27] = [
    Logical::UsageStart,
    Logical::UsageEnd,
    Logical::LineItemType,
    Logical::ProductCode,
    Logical::UsageType,
    Logical::UsageAmount,
    Logical::Currency,
    Logical::UnblendedCost,
    Logical::NetUnblendedCost,
    Logical::BlendedCost,
    Logical::SavingsPlanEffectiveCost,
    Logical::SavingsPlanTotalCommitment,
    Logical::SavingsPlanUsedCommitment,
    Logical::ReservationEffectiveCost,
    Logical::ReservationUnusedAmortizedUpfront,
    Logical::ReservationUnusedRecurringFee,
    Logical::ReservationArn,
    Logical::PricingUnit,
    Logical::PayerAccount,
    Logical::UsageAccount,
    Logical::ProductRegion,
    Logical::ProductRegionCode,
    Logical::InstanceType,
    Logical::Vcpu,
    Logical::Operation,
    Logical::ProductMap,
    Logical::ResourceTagsMap,
];

/// Values of the CUR 2.0 `product` map that the connector uses.
#[derive(Default)]
struct ProductMapFields {
    region: String,
    vcpu: String,
    instance_type: String,
}

fn read_row(
    columns: &BatchColumns,
    i: usize,
    file: &FileContext<'_>,
    state: &mut ReadState,
    totals: &mut InputTotals,
    builder: &mut UsageBatchBuilder,
) -> Result<(), SourceError> {
    let row = columns.row_index.get(i).map_or(i as u64, u64::from);
    let line = if file.parquet { row + 1 } else { row + 2 };
    let at = |logical: Logical, message: String| {
        let location = Location::file(file.shown)
            .at_line(line)
            .in_column(file.map.name_of(logical));
        SourceError::invalid(location, message)
    };
    let timestamp = |logical: Logical| -> Result<i64, SourceError> {
        match columns.get(logical) {
            Some(values) => values.timestamp_us(i).map_err(|e| at(logical, e.message())),
            None => Err(at(logical, CellError::Date(String::new()).message())),
        }
    };
    let number = |logical: Logical| -> Result<Option<f64>, SourceError> {
        match columns.get(logical) {
            Some(values) => values.number(i).map_err(|e| at(logical, e.message())),
            None => Ok(None),
        }
    };

    let start_us = timestamp(Logical::UsageStart)?;
    let end_us = timestamp(Logical::UsageEnd)?;
    let amount = number(Logical::UsageAmount)?.unwrap_or(0.0);
    let line_item_type = columns.text(Logical::LineItemType, i);
    let product_code = columns.text(Logical::ProductCode, i);
    let cost = cost_of(
        state.measure,
        &line_item_type,
        &product_code,
        columns,
        i,
        &number,
        &at,
    )?;
    let currency = columns.text(Logical::Currency, i);

    totals.rows += 1;
    *totals.cost.entry(currency.trim().to_owned()).or_default() += cost;

    let usage_type = columns.text(Logical::UsageType, i);
    let unit = columns.text(Logical::PricingUnit, i);
    let operation = columns.text(Logical::Operation, i);
    let product =
        product_map_fields(columns, i, state).map_err(|e| at(Logical::ProductMap, e.message()))?;
    let vcpu_column = columns.text(Logical::Vcpu, i);
    let vcpu = if vcpu_column.trim().is_empty() {
        product.vcpu.as_str()
    } else {
        &vcpu_column
    };
    let instance_column = columns.text(Logical::InstanceType, i);
    let instance_type = if instance_column.trim().is_empty() {
        product.instance_type.as_str()
    } else {
        &instance_column
    };
    let region_column = columns.text(Logical::ProductRegion, i);
    let region_code_column = columns.text(Logical::ProductRegionCode, i);
    let tags = tags_json(columns, i, file.map.flavour)
        .map_err(|e| at(Logical::ResourceTagsMap, e.message()))?;
    let payer = columns.text(Logical::PayerAccount, i);
    let usage_account = columns.text(Logical::UsageAccount, i);
    state.converter.push(
        &BilledLine {
            start_us,
            end_us,
            billing_account: payer.trim(),
            usage_account: usage_account.trim(),
            product_code: &product_code,
            usage_type: &usage_type,
            pricing_unit: &unit,
            line_item_type: &line_item_type,
            operation: &operation,
            product_vcpu: vcpu,
            product_instance_type: instance_type,
            product_regions: [
                region_column.trim(),
                product.region.trim(),
                region_code_column.trim(),
            ],
            amount,
            cost,
            currency: currency.trim(),
            tags: &tags,
            source: file.shown,
            source_line: Some(line),
        },
        builder,
    );
    Ok(())
}

/// The row's cost in the chosen measure. Amortized follows CUDOS `summary_view.sql`.
fn cost_of(
    measure: CostMeasure,
    line_item_type: &str,
    product_code: &str,
    columns: &BatchColumns,
    i: usize,
    number: &dyn Fn(Logical) -> Result<Option<f64>, SourceError>,
    at: &dyn Fn(Logical, String) -> SourceError,
) -> Result<f64, SourceError> {
    let required = |logical: Logical| -> Result<f64, SourceError> {
        if columns.get(logical).is_none() {
            return Err(at(
                logical,
                format!(
                    "the amortized cost of a {} line needs this column, which the file \
                     does not have",
                    line_item_type.trim()
                ),
            ));
        }
        Ok(number(logical)?.unwrap_or(0.0))
    };
    match measure {
        CostMeasure::Unblended => Ok(number(Logical::UnblendedCost)?.unwrap_or(0.0)),
        CostMeasure::NetUnblended => Ok(number(Logical::NetUnblendedCost)?.unwrap_or(0.0)),
        CostMeasure::Blended => Ok(number(Logical::BlendedCost)?.unwrap_or(0.0)),
        CostMeasure::Amortized => match line_item_type.trim() {
            "SavingsPlanCoveredUsage" => required(Logical::SavingsPlanEffectiveCost),
            "SavingsPlanRecurringFee" => Ok(required(Logical::SavingsPlanTotalCommitment)?
                - required(Logical::SavingsPlanUsedCommitment)?),
            "SavingsPlanNegation" | "SavingsPlanUpfrontFee" => Ok(0.0),
            "DiscountedUsage" => required(Logical::ReservationEffectiveCost),
            "RIFee" => Ok(required(Logical::ReservationUnusedAmortizedUpfront)?
                + required(Logical::ReservationUnusedRecurringFee)?),
            "Fee" if !columns.text(Logical::ReservationArn, i).trim().is_empty() => Ok(0.0),
            "Refund" if product_code.trim() == "ComputeSavingsPlans" => Ok(0.0),
            _ => Ok(number(Logical::UnblendedCost)?.unwrap_or(0.0)),
        },
    }
}

fn product_map_fields(
    columns: &BatchColumns,
    i: usize,
    state: &mut ReadState,
) -> Result<ProductMapFields, CellError> {
    let Some(values) = columns.get(Logical::ProductMap) else {
        return Ok(ProductMapFields::default());
    };
    let entries = match values {
        Values::Map(_) => Arc::new(values.map_entries(i)?),
        _ => match values.text(i) {
            Some(text) => state.cached_json_entries(&text)?,
            None => return Ok(ProductMapFields::default()),
        },
    };
    let mut fields = ProductMapFields::default();
    for (key, value) in entries.iter() {
        match key.as_str() {
            "region" => fields.region.clone_from(value),
            "vcpu" => fields.vcpu.clone_from(value),
            "instance_type" => fields.instance_type.clone_from(value),
            _ => {}
        }
    }
    Ok(fields)
}

/// The row's tags as a JSON object with sorted keys; empty values are left out.
fn tags_json(columns: &BatchColumns, i: usize, flavour: Flavour) -> Result<String, CellError> {
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    for (key, values) in &columns.tags {
        if let Some(value) = values.text(i).filter(|v| !v.trim().is_empty()) {
            tags.insert(key.clone(), value.into_owned());
        }
    }
    if flavour == Flavour::Cur2
        && let Some(values) = columns.get(Logical::ResourceTagsMap)
    {
        for (key, value) in values.map_entries(i)? {
            if !value.trim().is_empty() {
                tags.insert(map_tag_key(&key).to_owned(), value);
            }
        }
    }
    if tags.is_empty() {
        return Ok(String::new());
    }
    serde_json::to_string(&tags).map_err(|e| CellError::Map(e.to_string()))
}
