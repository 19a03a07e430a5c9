//! Builds usage batches row by row, so that a connector never assembles columns by hand.

use polars::prelude::*;

use crate::schema::{UsageClass, col, usage_schema};

/// One usage row, borrowed from the connector's parsing buffers.
///
/// Quantities that do not apply to the row's class are 0. Timestamps are microseconds since
/// the Unix epoch, UTC.
#[derive(Debug, Clone, Default)]
pub struct UsageRow<'a> {
    pub period_start_us: i64,
    pub period_end_us: i64,
    pub provider: &'a str,
    pub billing_account: &'a str,
    pub usage_account: &'a str,
    pub service: &'a str,
    pub region: Option<&'a str>,
    pub region_note: Option<&'a str>,
    pub usage_type: &'a str,
    pub charge_type: &'a str,
    pub usage_class: Option<UsageClass>,
    pub exclusion_reason: Option<&'a str>,
    pub instance_type: Option<&'a str>,
    pub cpu_architecture: Option<&'a str>,
    pub gpu_model: Option<&'a str>,
    pub vcpu_hours: f64,
    pub gpu_hours: f64,
    pub memory_gb_hours: f64,
    pub storage_tb_hours: f64,
    pub network_gb: f64,
    pub usage_amount: f64,
    pub usage_unit: &'a str,
    pub cost: f64,
    pub currency: &'a str,
    /// JSON object text; empty means `{}`.
    pub tags: &'a str,
    pub source: &'a str,
    pub source_line: Option<u64>,
}

type Floats = PrimitiveChunkedBuilder<Float64Type>;

/// Accumulates [`UsageRow`]s and turns them into a `DataFrame` in the usage schema.
pub struct UsageBatchBuilder {
    period_start: Vec<i64>,
    period_end: Vec<i64>,
    strings: Vec<StringChunkedBuilder>,
    floats: Vec<Floats>,
    source_line: PrimitiveChunkedBuilder<UInt64Type>,
    len: usize,
}

/// String columns, in schema order.
const STRING_COLUMNS: [&str; 15] = [
    col::PROVIDER,
    col::BILLING_ACCOUNT,
    col::USAGE_ACCOUNT,
    col::SERVICE,
    col::REGION,
    col::REGION_NOTE,
    col::USAGE_TYPE,
    col::CHARGE_TYPE,
    col::USAGE_CLASS,
    col::EXCLUSION_REASON,
    col::INSTANCE_TYPE,
    col::CPU_ARCHITECTURE,
    col::GPU_MODEL,
    // The three string columns after the quantities are kept apart below.
    col::USAGE_UNIT,
    col::CURRENCY,
];

const FLOAT_COLUMNS: [&str; 7] = [
    col::VCPU_HOURS,
    col::GPU_HOURS,
    col::MEMORY_GB_HOURS,
    col::STORAGE_TB_HOURS,
    col::NETWORK_GB,
    col::USAGE_AMOUNT,
    col::COST,
];

const TAIL_STRINGS: [&str; 2] = [col::TAGS, col::SOURCE];

impl UsageBatchBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        let strings = STRING_COLUMNS
            .iter()
            .chain(TAIL_STRINGS.iter())
            .map(|name| StringChunkedBuilder::new((*name).into(), capacity))
            .collect();
        let floats = FLOAT_COLUMNS
            .iter()
            .map(|name| Floats::new((*name).into(), capacity))
            .collect();
        UsageBatchBuilder {
            period_start: Vec::with_capacity(capacity),
            period_end: Vec::with_capacity(capacity),
            strings,
            floats,
            source_line: PrimitiveChunkedBuilder::new(col::SOURCE_LINE.into(), capacity),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, row: &UsageRow<'_>) {
        self.period_start.push(row.period_start_us);
        self.period_end.push(row.period_end_us);
        let class = row.usage_class.map(UsageClass::as_str);
        let tags = if row.tags.is_empty() { "{}" } else { row.tags };
        let strings: [Option<&str>; 17] = [
            Some(row.provider),
            Some(row.billing_account),
            Some(row.usage_account),
            Some(row.service),
            row.region,
            row.region_note,
            Some(row.usage_type),
            Some(row.charge_type),
            class,
            row.exclusion_reason,
            row.instance_type,
            row.cpu_architecture,
            row.gpu_model,
            Some(row.usage_unit),
            Some(row.currency),
            Some(tags),
            Some(row.source),
        ];
        for (builder, value) in self.strings.iter_mut().zip(strings) {
            builder.append_option(value);
        }
        let floats = [
            row.vcpu_hours,
            row.gpu_hours,
            row.memory_gb_hours,
            row.storage_tb_hours,
            row.network_gb,
            row.usage_amount,
            row.cost,
        ];
        for (builder, value) in self.floats.iter_mut().zip(floats) {
            builder.append_value(value);
        }
        self.source_line.append_option(row.source_line);
        self.len += 1;
    }

    /// Returns the batch and leaves the builder empty, ready for the next batch.
    pub fn finish(&mut self) -> PolarsResult<DataFrame> {
        let capacity = self.len.max(1);
        let done = std::mem::replace(self, UsageBatchBuilder::with_capacity(capacity));
        let time = |name: &str, values: Vec<i64>| {
            Int64Chunked::from_vec(name.into(), values)
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                .into_column()
        };
        let mut strings: Vec<Column> = done
            .strings
            .into_iter()
            .map(|b| b.finish().into_column())
            .collect();
        let mut floats: Vec<Column> = done
            .floats
            .into_iter()
            .map(|b| b.finish().into_column())
            .collect();
        let source = strings.pop().expect("source column");
        let tags = strings.pop().expect("tags column");
        let currency = strings.pop().expect("currency column");
        let unit = strings.pop().expect("unit column");
        let cost = floats.pop().expect("cost column");
        let amount = floats.pop().expect("amount column");
        let mut columns = vec![
            time(col::PERIOD_START, done.period_start),
            time(col::PERIOD_END, done.period_end),
        ];
        columns.extend(strings);
        columns.extend(floats);
        columns.extend([amount, unit, cost, currency, tags, source]);
        columns.push(done.source_line.finish().into_column());
        let df = DataFrame::new(done.len, columns)?;
        debug_assert_eq!(df.schema().as_ref(), &usage_schema());
        Ok(df)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate;

    #[test]
    fn built_batches_have_the_usage_schema() {
        let mut builder = UsageBatchBuilder::with_capacity(2);
        let row = UsageRow {
            provider: "aws",
            service: "AmazonEC2",
            region: Some("us-east-1"),
            usage_class: Some(UsageClass::Compute),
            vcpu_hours: 4.0,
            usage_amount: 1.0,
            usage_unit: "Hrs",
            cost: 0.192,
            currency: "USD",
            source: "cur.csv",
            source_line: Some(2),
            ..UsageRow::default()
        };
        builder.push(&row);
        builder.push(&UsageRow {
            usage_class: Some(UsageClass::Excluded),
            ..row.clone()
        });
        let df = builder.finish().unwrap();
        validate(&df).unwrap();
        assert_eq!(df.height(), 2);
        let cost = df.column(col::COST).unwrap().f64().unwrap().sum();
        assert_eq!(cost, Some(0.384));
        assert!(builder.is_empty());
    }
}
