//! The BigQuery source: the Cloud Billing export table (standard or detailed) read straight
//! from BigQuery with **one** grouped, parameterised query, so that the heavy grouping happens
//! inside BigQuery and only what the estimator needs comes back.
//!
//! The query ([`BigQuerySource::sql`]) keeps the export rows whose `usage_start_time` is in
//! the window `[start, end)` (and, for incremental loads, whose `export_time` is after a
//! watermark), and groups them by day or month (UTC) of `usage_start_time`, billing account,
//! project, service, SKU, location, usage and pricing units, the machine type, cores and memory
//! of the `system_labels`, `cost_type`, currency and invoice month. Each group returns the sums
//! of `usage.amount` (in `usage.unit`), `usage.amount_in_pricing_units`, `cost` (before credits,
//! in the currency), the credits that are promotions and the other credits (negative, same
//! currency), the number of export rows and the newest `export_time`. The location is
//! `location.region` when set; without it `location.zone` and `location.location` are kept, so
//! the region is resolved exactly as for exported files (`region`), without splitting a
//! region's rows by zone.
//!
//! Each result row becomes one [`GcpLine`] (its two credit sums as two credits, so that every
//! [`crate::GcpCost`] works) and one usage row through the same [`LineConverter`] as the file
//! readers. The input totals come from a second, ungrouped control query
//! ([`BigQuerySource::control_sql`]: export rows, cost and credits per currency), so the
//! reconciliation checks the ledger against an aggregation it was not built from. Labels are
//! not read: grouping by them would multiply the rows.
//!
//! Authentication: Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud's
//! `application_default_credentials.json`, the metadata server), or anonymous credentials for
//! emulators ([`BigQueryAuth`]). Failures are [`SourceError::Api`] naming the request: the
//! table and the window.

use std::fmt;
use std::sync::Arc;

use carbonledger_factors::FactorSet;
use carbonledger_usage::{CostBasis, InputTotals, Location, SourceError, UsageSource};
use chrono::{DateTime, SecondsFormat, Utc};
use google_cloud_bigquery::client::BigQuery;
use google_cloud_bigquery::error::{QueryError, RowError};
use google_cloud_bigquery::model_ext::QueryMetadata;
use google_cloud_bigquery::query::{Row, RowIterator};
use google_cloud_bigquery_v2::model::{
    ErrorProto, QueryParameter, QueryParameterType, QueryParameterValue,
};
use polars::prelude::DataFrame;

use crate::GcpOptions;
use crate::cost::{GcpCredit, PROMOTION};
use crate::line::{GcpLine, LineConverter, SystemLabels};
use crate::reader::Emitter;

/// A BigQuery table, `project.dataset.table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BigQueryTable {
    /// The project (`my-project`, or a domain-scoped `example.com:my-project`).
    pub project: String,
    pub dataset: String,
    pub table: String,
}

impl BigQueryTable {
    /// Reads `project.dataset.table` (backticks allowed around it). The dataset and table
    /// names may hold letters, digits, `_` and `-`; the project also `.` and `:`. Anything
    /// else is refused, as the name is written into the query text (BigQuery has no
    /// parameters for table names).
    pub fn parse(text: &str) -> Result<BigQueryTable, SourceError> {
        let trimmed = text.trim().trim_matches('`');
        let bad = |why: &str| {
            SourceError::invalid(
                Location::file(format!("BigQuery table `{text}`")),
                format!("{why}; expected `project.dataset.table`"),
            )
        };
        let (rest, table) = trimmed.rsplit_once('.').ok_or_else(|| bad("no dataset"))?;
        let (project, dataset) = rest.rsplit_once('.').ok_or_else(|| bad("no project"))?;
        let name_ok = |s: &str, extra: &[char]| {
            !s.is_empty()
                && s.chars().all(|c| {
                    c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(&c)
                })
        };
        if !name_ok(project, &['.', ':']) {
            return Err(bad("the project name is empty or holds other characters"));
        }
        if !name_ok(dataset, &[]) || !name_ok(table, &[]) {
            return Err(bad(
                "a dataset or table name is empty or holds characters other than letters, \
                 digits, `_` and `-`",
            ));
        }
        Ok(BigQueryTable {
            project: project.to_owned(),
            dataset: dataset.to_owned(),
            table: table.to_owned(),
        })
    }
}

impl fmt::Display for BigQueryTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.project, self.dataset, self.table)
    }
}

/// The result rows' period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Granularity {
    /// One row per UTC day of `usage_start_time` (and the other keys).
    #[default]
    Daily,
    /// One row per UTC calendar month.
    Monthly,
}

impl Granularity {
    fn sql_part(self) -> &'static str {
        match self {
            Granularity::Daily => "DAY",
            Granularity::Monthly => "MONTH",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Granularity::Daily => "by day",
            Granularity::Monthly => "by month",
        }
    }
}

/// How the client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BigQueryAuth {
    /// Application Default Credentials: `GOOGLE_APPLICATION_CREDENTIALS` (a service account
    /// key or another credentials file), gcloud's `application_default_credentials.json`
    /// (`gcloud auth application-default login`), else the metadata server of GCE, GKE or
    /// Cloud Run.
    #[default]
    ApplicationDefault,
    /// No credentials at all (emulators).
    Anonymous,
}

/// What to read.
#[derive(Debug, Clone)]
pub struct BigQueryOptions {
    /// The export table (`gcp_billing_export_v1_…` or `gcp_billing_export_resource_v1_…`).
    pub table: BigQueryTable,
    /// The window on `usage_start_time`: from `start` (inclusive) to `end` (exclusive), UTC.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub granularity: Granularity,
    /// Only rows with `export_time` after this (incremental loads; see the README).
    pub exported_after: Option<DateTime<Utc>>,
    /// The project that runs (and pays for) the query job; `None`: the table's project.
    pub job_project: Option<String>,
    /// An endpoint replacing `https://bigquery.googleapis.com` (an emulator, a Private Service
    /// Connect endpoint).
    pub endpoint: Option<String>,
    pub auth: BigQueryAuth,
    /// Cost measure and CCF quirks, as for exported files.
    pub gcp: GcpOptions,
}

/// What a read did, for [`UsageSource::summary`] and callers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BigQueryStats {
    /// Queries sent (one per read; the client's retries of a failed call not counted).
    pub queries: u64,
    /// The query job (`project:job_id`), when BigQuery created one.
    pub job: Option<String>,
    /// Result rows received (one usage row each).
    pub result_rows: u64,
    /// Export rows the result rows sum up.
    pub export_rows: u64,
    /// Bytes the query scanned, and billed, as BigQuery reports them.
    pub bytes_processed: Option<i64>,
    pub bytes_billed: Option<i64>,
    /// Whether BigQuery answered from its query cache.
    pub cache_hit: Option<bool>,
    /// The newest `export_time` among the rows read, µs since the epoch.
    pub newest_export_us: Option<i64>,
    /// The control query's cost per currency (in the chosen measure): the input totals.
    pub control_cost: std::collections::BTreeMap<String, f64>,
}

/// The billing export in BigQuery for one window, ready to be read.
pub struct BigQuerySource {
    options: BigQueryOptions,
    converter: LineConverter,
    stats: BigQueryStats,
}

/// The result columns, in the order of the query's `SELECT`.
const COLUMNS: [&str; 24] = [
    "start_us",
    "end_us",
    "billing_account_id",
    "project_id",
    "service",
    "sku",
    "region",
    "zone",
    "location",
    "usage_unit",
    "pricing_unit",
    "machine_spec",
    "cores",
    "memory",
    "cost_type",
    "currency",
    "invoice_month",
    "usage_amount",
    "pricing_amount",
    "cost",
    "other_credits",
    "promotions",
    "export_rows",
    "newest_export_us",
];

impl BigQuerySource {
    /// Checks the window and sets up the converter; nothing is requested yet.
    pub fn new(
        options: BigQueryOptions,
        factors: Arc<FactorSet>,
    ) -> Result<BigQuerySource, SourceError> {
        if options.end <= options.start {
            return Err(SourceError::invalid(
                Location::file(format!("BigQuery window on {}", options.table)),
                format!(
                    "the window ends ({}) before it starts ({})",
                    rfc3339(options.end),
                    rfc3339(options.start)
                ),
            ));
        }
        Ok(BigQuerySource {
            converter: LineConverter::new(factors, options.gcp)?,
            options,
            stats: BigQueryStats::default(),
        })
    }

    /// What the last read did.
    pub fn stats(&self) -> &BigQueryStats {
        &self.stats
    }

    /// The newest `export_time` among the rows read: the watermark of the next incremental
    /// run (`BigQueryOptions::exported_after`).
    pub fn newest_export_time(&self) -> Option<DateTime<Utc>> {
        self.stats
            .newest_export_us
            .and_then(DateTime::from_timestamp_micros)
    }

    /// The request as errors and rows' `source` name it: the table and the window.
    pub fn request(&self) -> String {
        let o = &self.options;
        let after = match o.exported_after {
            Some(t) => format!(", export_time > {}", rfc3339(t)),
            None => String::new(),
        };
        format!(
            "BigQuery jobs.query on {} for usage_start_time {}..{}{after}",
            o.table,
            window_bound(o.start),
            window_bound(o.end)
        )
    }

    /// The query text. Parameters: `@start` and `@end` (TIMESTAMP), and `@exported_after`
    /// (TIMESTAMP) when the options set it.
    pub fn sql(&self) -> String {
        let o = &self.options;
        let table = format!("`{}`", o.table);
        let part = o.granularity.sql_part();
        let exported = if o.exported_after.is_some() {
            "\n    AND export_time > @exported_after"
        } else {
            ""
        };
        let label = |key: &str| {
            format!(
                "IFNULL((SELECT l.value FROM UNNEST(system_labels) AS l\n            \
                 WHERE l.key = '{key}' LIMIT 1), '')"
            )
        };
        let credits = |filter: &str| {
            format!(
                "IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c\n            \
                 WHERE IFNULL(UPPER(c.type), '') {filter} '{PROMOTION}'), 0)"
            )
        };
        format!(
            "WITH line AS (
  SELECT
    TIMESTAMP_TRUNC(usage_start_time, {part}) AS period,
    usage_start_time,
    usage_end_time,
    IFNULL(billing_account_id, '') AS billing_account_id,
    IFNULL(project.id, '') AS project_id,
    IFNULL(service.description, '') AS service,
    IFNULL(sku.description, '') AS sku,
    IFNULL(location.region, '') AS region,
    IF(IFNULL(location.region, '') = '', IFNULL(location.zone, ''), '') AS zone,
    IF(IFNULL(location.region, '') = '', IFNULL(location.location, ''), '') AS location,
    IFNULL(usage.unit, '') AS usage_unit,
    IFNULL(usage.pricing_unit, '') AS pricing_unit,
    {machine} AS machine_spec,
    {cores} AS cores,
    {memory} AS memory,
    IFNULL(cost_type, '') AS cost_type,
    IFNULL(currency, '') AS currency,
    IFNULL(invoice.month, '') AS invoice_month,
    IFNULL(usage.amount, 0) AS usage_amount,
    IFNULL(usage.amount_in_pricing_units, 0) AS pricing_amount,
    IFNULL(cost, 0) AS cost,
    {other} AS other_credits,
    {promotions} AS promotions,
    export_time
  FROM {table}
  WHERE usage_start_time >= @start AND usage_start_time < @end{exported}
)
SELECT
  UNIX_MICROS(MIN(usage_start_time)) AS start_us,
  UNIX_MICROS(MAX(usage_end_time)) AS end_us,
  billing_account_id, project_id, service, sku, region, zone, location, usage_unit,
  pricing_unit, machine_spec, cores, memory, cost_type, currency, invoice_month,
  SUM(usage_amount) AS usage_amount,
  SUM(pricing_amount) AS pricing_amount,
  SUM(cost) AS cost,
  SUM(other_credits) AS other_credits,
  SUM(promotions) AS promotions,
  COUNT(*) AS export_rows,
  UNIX_MICROS(MAX(export_time)) AS newest_export_us
FROM line
GROUP BY period, billing_account_id, project_id, service, sku, region, zone, location,
  usage_unit, pricing_unit, machine_spec, cores, memory, cost_type, currency, invoice_month
ORDER BY period, billing_account_id, project_id, service, sku, region, zone, location,
  usage_unit, pricing_unit, machine_spec, cores, memory, cost_type, currency, invoice_month",
            machine = label(crate::line::MACHINE_SPEC_LABEL),
            cores = label(crate::line::CORES_LABEL),
            memory = label(crate::line::MEMORY_LABEL),
            other = credits("!="),
            promotions = credits("="),
        )
    }

    /// The control query: the export rows, cost and credits per currency over the same rows
    /// as [`BigQuerySource::sql`], summed by BigQuery straight from the table. The read's
    /// input totals come from it, so the ledger (built from the grouped rows) is checked
    /// against an aggregation it was not built from.
    pub fn control_sql(&self) -> String {
        let o = &self.options;
        let exported = if o.exported_after.is_some() {
            "\n  AND export_time > @exported_after"
        } else {
            ""
        };
        let credits = |filter: &str| {
            format!(
                "SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c\n    \
                 WHERE IFNULL(UPPER(c.type), '') {filter} '{PROMOTION}'), 0))"
            )
        };
        format!(
            "SELECT
  IFNULL(currency, '') AS currency,
  COUNT(*) AS export_rows,
  SUM(IFNULL(cost, 0)) AS cost,
  {other} AS other_credits,
  {promotions} AS promotions
FROM `{table}`
WHERE usage_start_time >= @start AND usage_start_time < @end{exported}
GROUP BY currency
ORDER BY currency",
            table = o.table,
            other = credits("!="),
            promotions = credits("="),
        )
    }

    fn parameters(&self) -> Vec<QueryParameter> {
        let timestamp = |name: &str, t: DateTime<Utc>| {
            QueryParameter::new()
                .set_name(name)
                .set_parameter_type(QueryParameterType::new().set_type("TIMESTAMP"))
                .set_parameter_value(QueryParameterValue::new().set_value(rfc3339(t)))
        };
        let o = &self.options;
        let mut parameters = vec![timestamp("start", o.start), timestamp("end", o.end)];
        if let Some(after) = o.exported_after {
            parameters.push(timestamp("exported_after", after));
        }
        parameters
    }

    /// The client, with the options' endpoint and credentials.
    async fn client(&self) -> Result<BigQuery, SourceError> {
        let o = &self.options;
        let job_project = o.job_project.clone().unwrap_or(o.table.project.clone());
        let mut builder = BigQuery::builder().with_project_id(job_project);
        if let Some(endpoint) = &o.endpoint {
            builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
        }
        builder = match o.auth {
            BigQueryAuth::Anonymous => builder.with_credentials(
                google_cloud_auth::credentials::anonymous::Builder::new().build(),
            ),
            BigQueryAuth::ApplicationDefault => {
                let credentials = google_cloud_auth::credentials::Builder::default()
                    .build()
                    .map_err(|e| {
                        SourceError::api(
                            self.request(),
                            format!(
                                "Application Default Credentials could not be loaded: {}; {}",
                                with_causes(&e),
                                adc_description()
                            ),
                        )
                    })?;
                builder.with_credentials(credentials)
            }
        };
        builder.build().await.map_err(|e| {
            let message = if e.is_default_credentials() {
                format!(
                    "the credentials could not be set up: {}; {}",
                    with_causes(&e),
                    adc_description()
                )
            } else {
                format!(
                    "the BigQuery client could not be set up: {}",
                    with_causes(&e)
                )
            };
            SourceError::api(self.request(), message)
        })
    }

    /// The probe behind [`UsageSource::fingerprint`]: export rows and newest `export_time`
    /// in the window, one small query (it scans `export_time` and `usage_start_time` only).
    /// Export rows are only ever appended (late rows with a later `export_time`), so equal
    /// answers mean the same rows.
    pub fn probe_sql(&self) -> String {
        let exported = if self.options.exported_after.is_some() {
            "\n  AND export_time > @exported_after"
        } else {
            ""
        };
        format!(
            "SELECT COUNT(*) AS export_rows, UNIX_MICROS(MAX(export_time)) AS newest_export_us
FROM `{}`
WHERE usage_start_time >= @start AND usage_start_time < @end{exported}",
            self.options.table
        )
    }

    async fn probe(&self) -> Result<String, SourceError> {
        let client = self.client().await?;
        let handle = client
            .query(self.probe_sql())
            .set_parameter_mode("NAMED")
            .set_query_parameters(self.parameters())
            .send()
            .await
            .map_err(|e| self.query_error(&e))?;
        check_handle(handle.metadata()).map_err(|m| SourceError::api(self.request(), m))?;
        let complete = handle
            .until_done()
            .await
            .map_err(|e| self.query_error(&e))?;
        let mut rows = complete.read();
        let mut out = String::new();
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| SourceError::api(self.request(), e.to_string()))?;
            let count = row.get::<Option<i64>>(0).ok().flatten();
            let newest = row.get::<Option<i64>>(1).ok().flatten();
            out.push_str(&format!("{count:?} {newest:?}"));
        }
        Ok(out)
    }

    /// Sends `sql` and waits for it; the rows are read after.
    async fn run(&mut self, sql: String) -> Result<RowIterator, SourceError> {
        let client = self.client().await?;
        self.stats.queries += 1;
        let handle = client
            .query(sql)
            .set_parameter_mode("NAMED")
            .set_query_parameters(self.parameters())
            .send()
            .await
            .map_err(|e| self.query_error(&e))?;
        check_handle(handle.metadata()).map_err(|m| SourceError::api(self.request(), m))?;
        let complete = handle
            .until_done()
            .await
            .map_err(|e| self.query_error(&e))?;
        let metadata = complete.metadata();
        let job = metadata
            .job_reference
            .as_ref()
            .filter(|j| !j.job_id.is_empty())
            .map(|j| format!("{}:{}", j.project_id, j.job_id));
        // The first query's job names the read; bytes add up over both queries.
        if self.stats.job.is_none() {
            self.stats.job = job;
        }
        let add = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.stats.bytes_processed =
            add(self.stats.bytes_processed, metadata.total_bytes_processed);
        self.stats.bytes_billed = add(self.stats.bytes_billed, metadata.total_bytes_billed);
        self.stats.cache_hit =
            Some(self.stats.cache_hit.unwrap_or(true) && metadata.cache_hit == Some(true));
        Ok(complete.read())
    }

    /// Runs [`BigQuerySource::control_sql`]: export rows, and the cost in the chosen measure
    /// per currency.
    fn control_totals(
        &mut self,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Control, SourceError> {
        let request = format!("{} (control totals)", self.request());
        let sql = self.control_sql();
        let mut rows = runtime.block_on(self.run(sql))?;
        let mut control = Control::default();
        let mut number = 0u64;
        while let Some(row) = runtime.block_on(rows.next()) {
            number += 1;
            let row = row.map_err(|e| {
                SourceError::api(request.clone(), format!("result row {number}: {e}"))
            })?;
            let bad = |name: &str, e: RowError| {
                SourceError::invalid(
                    Location::file(&request).at_line(number).in_column(name),
                    format!("the result value cannot be read: {e}"),
                )
            };
            let currency: String = row
                .get::<Option<String>>(0)
                .map_err(|e| bad("currency", e))?
                .unwrap_or_default();
            let count = row
                .get::<Option<i64>>(1)
                .map_err(|e| bad("export_rows", e))?;
            let number_at = |index: usize, name: &str| {
                row.get::<Option<f64>>(index)
                    .map(|v| v.unwrap_or(0.0))
                    .map_err(|e| bad(name, e))
            };
            let cost = number_at(2, "cost")?;
            let credits = [
                GcpCredit {
                    name: String::new(),
                    amount: number_at(3, "other_credits")?,
                    credit_type: String::new(),
                },
                GcpCredit {
                    name: String::new(),
                    amount: number_at(4, "promotions")?,
                    credit_type: PROMOTION.to_owned(),
                },
            ];
            control.export_rows += u64::try_from(count.unwrap_or(0)).unwrap_or(0);
            let measured = self.converter.cost_measure().of(cost, &credits);
            *control.cost.entry(currency).or_default() += measured;
        }
        Ok(control)
    }

    fn query_error(&self, error: &QueryError) -> SourceError {
        SourceError::api(
            self.request(),
            describe_query_error(error, &self.options.table),
        )
    }
}

impl UsageSource for BigQuerySource {
    fn describe(&self) -> String {
        format!(
            "GCP billing export in BigQuery {} (usage_start_time {}..{}, {}, cost {})",
            self.options.table,
            window_bound(self.options.start),
            window_bound(self.options.end),
            self.options.granularity.label(),
            self.converter.cost_measure()
        )
    }

    fn cost_basis(&self) -> Option<CostBasis> {
        Some(self.converter.cost_measure().basis())
    }

    /// The table, the window and the probe's answer (export rows, newest `export_time`); one
    /// small query. `None` when the probe fails (the read then reports the error).
    fn fingerprint(&self) -> Option<String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        let answer = runtime.block_on(self.probe()).ok()?;
        Some(format!("{}\n{answer}", self.request()))
    }

    fn read(
        &mut self,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::io("starting the BigQuery client", e))?;
        self.stats = BigQueryStats::default();
        let sql = self.sql();
        let mut rows = runtime.block_on(self.run(sql))?;
        let request = self.request();
        let stats = &mut self.stats;
        let mut emitter = Emitter::new(&mut self.converter, &request, sink);
        let mut number = 0u64;
        // Rows are fetched inside the runtime, page by page, and converted outside it: the
        // sink never runs inside an async task.
        while let Some(row) = runtime.block_on(rows.next()) {
            number += 1;
            let row = row.map_err(|e| {
                SourceError::api(
                    request.clone(),
                    format!("result row {number} could not be read: {e}"),
                )
            })?;
            convert(&row, number, &request, stats, &mut emitter)?;
        }
        let mut totals = emitter.finish()?;
        let control = self.control_totals(&runtime)?;
        if control.export_rows != self.stats.export_rows {
            return Err(SourceError::api(
                request,
                format!(
                    "the grouped query's rows sum to {} export rows but a count over the same \
                     window gives {}: the table changed during the read (an export landed?); \
                     run again",
                    self.stats.export_rows, control.export_rows
                ),
            ));
        }
        totals.cost = control.cost;
        self.stats.control_cost = totals.cost.clone();
        Ok(totals)
    }

    fn summary(&self) -> Vec<String> {
        let s = &self.stats;
        let bytes = |b: Option<i64>| b.map_or("unknown".to_owned(), |b| b.to_string());
        let mut lines = vec![format!(
            "BigQuery: {} quer{} ({}) over {}, usage_start_time {}..{} {}: {} result rows \
             summing {} export rows; {} bytes processed, {} bytes billed{}",
            s.queries,
            if s.queries == 1 { "y" } else { "ies" },
            s.job.as_deref().unwrap_or("no job id"),
            self.options.table,
            window_bound(self.options.start),
            window_bound(self.options.end),
            self.options.granularity.label(),
            s.result_rows,
            s.export_rows,
            bytes(s.bytes_processed),
            bytes(s.bytes_billed),
            if s.cache_hit == Some(true) {
                " (answered from BigQuery's query cache)"
            } else {
                ""
            }
        )];
        match self.newest_export_time() {
            Some(t) => lines.push(format!(
                "BigQuery: newest export_time read {}; a later run with --exported-after {} \
                 reads only the rows exported since",
                rfc3339(t),
                rfc3339(t)
            )),
            None if s.queries > 0 => lines.push(format!(
                "BigQuery: no export rows in {} for usage_start_time {}..{}{}: the ledger is \
                 empty",
                self.options.table,
                window_bound(self.options.start),
                window_bound(self.options.end),
                match self.options.exported_after {
                    Some(t) => format!(" exported after {}", rfc3339(t)),
                    None => String::new(),
                }
            )),
            None => {}
        }
        lines
    }
}

/// What the control query counted.
#[derive(Debug, Default)]
struct Control {
    export_rows: u64,
    cost: std::collections::BTreeMap<String, f64>,
}

/// One result row (number `number`, 1-based) as a usage row; counts it in `stats`.
fn convert(
    row: &Row,
    number: u64,
    request: &str,
    stats: &mut BigQueryStats,
    emitter: &mut Emitter<'_>,
) -> Result<(), SourceError> {
    let cell_error = |index: usize, message: String| {
        SourceError::invalid(
            Location::file(request)
                .at_line(number)
                .in_column(COLUMNS[index]),
            message,
        )
    };
    let read_error = |index: usize| {
        move |e: RowError| cell_error(index, format!("the result value cannot be read: {e}"))
    };
    let text = |index: usize| -> Result<String, SourceError> {
        row.get::<Option<String>>(index)
            .map(Option::unwrap_or_default)
            .map_err(read_error(index))
    };
    let number_at = |index: usize| -> Result<f64, SourceError> {
        row.get::<Option<f64>>(index)
            .map(|v| v.unwrap_or(0.0))
            .map_err(read_error(index))
    };
    let micros = |index: usize| -> Result<Option<i64>, SourceError> {
        row.get::<Option<i64>>(index).map_err(read_error(index))
    };
    let time = |index: usize| -> Result<i64, SourceError> {
        micros(index)?.ok_or_else(|| cell_error(index, "the usage time is null".to_owned()))
    };
    let (start, end) = (time(0)?, time(1)?);
    let [billing, project, service, sku, region, zone, location] = [2, 3, 4, 5, 6, 7, 8].map(text);
    let [
        unit,
        pricing_unit,
        machine,
        cores,
        memory,
        cost_type,
        currency,
        invoice,
    ] = [9, 10, 11, 12, 13, 14, 15, 16].map(text);
    let [amount, pricing_amount, cost, other_credits, promotions] =
        [17, 18, 19, 20, 21].map(number_at);
    let export_rows = micros(22)?.unwrap_or(0);
    let newest_export = micros(23)?;
    let credits = [
        GcpCredit {
            name: "credits other than promotions (summed in BigQuery)".to_owned(),
            amount: other_credits?,
            credit_type: String::new(),
        },
        GcpCredit {
            name: "promotions (summed in BigQuery)".to_owned(),
            amount: promotions?,
            credit_type: PROMOTION.to_owned(),
        },
    ];
    let (machine, cores, memory) = (machine?, cores?, memory?);
    let line = GcpLine {
        billing_account_id: &billing?,
        service_description: &service?,
        sku_description: &sku?,
        usage_start_us: start,
        usage_end_us: end,
        project_id: &project?,
        location_location: &location?,
        location_region: &region?,
        location_zone: &zone?,
        usage_amount: amount?,
        usage_unit: &unit?,
        usage_amount_in_pricing_units: pricing_amount?,
        usage_pricing_unit: &pricing_unit?,
        cost: cost?,
        currency: &currency?,
        credits: &credits,
        cost_type: &cost_type?,
        labels: &[],
        system_labels: SystemLabels {
            machine_spec: &machine,
            cores: &cores,
            memory: &memory,
        },
        export_time_us: newest_export,
        invoice_month: &invoice?,
        source: request,
        source_line: Some(number),
        ..GcpLine::default()
    };
    stats.result_rows = number;
    stats.export_rows += u64::try_from(export_rows).unwrap_or(0);
    if let Some(t) = newest_export {
        stats.newest_export_us = Some(stats.newest_export_us.map_or(t, |n| n.max(t)));
    }
    emitter.push(&line)
}

/// The jobReference guard: `Query::until_done` of google-cloud-bigquery 0.19 panics
/// (`query job should have job reference at this point`) on a jobs.query answer that is not
/// complete and names no job. The real service always names the job it created when it does
/// not answer at once; anything else is not a BigQuery endpoint, and gets an error here. (The
/// crate's own retry inside `until_done` re-sends the query after a retryable job failure; a
/// server that then answered with neither could still reach the panic. BigQuery does not.)
pub fn check_handle(metadata: &QueryMetadata) -> Result<(), String> {
    let complete = metadata.job_complete.unwrap_or(false);
    let has_job = metadata
        .job_reference
        .as_ref()
        .is_some_and(|j| !j.job_id.is_empty());
    if complete || has_job {
        return Ok(());
    }
    Err(
        "the endpoint answered jobs.query with neither results (jobComplete) nor a job to \
         wait for (jobReference); it does not behave as BigQuery (is the endpoint right?)"
            .to_owned(),
    )
}

/// One clear message for a failed query, never with a credential in it.
pub fn describe_query_error(error: &QueryError, table: &BigQueryTable) -> String {
    match error {
        QueryError::JobFailed { errors, .. } => describe_job_errors(errors, table),
        QueryError::Rpc { source, .. } => {
            let status = source.http_status_code();
            let message = source
                .status()
                .map(|s| s.message.clone())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| with_causes(source));
            if source.is_authentication() || matches!(status, Some(401)) {
                return format!(
                    "the credentials could not be used or were refused: {message}; {}",
                    adc_description()
                );
            }
            match status {
                Some(403) => format!(
                    "access denied: {message} (the caller needs bigquery.jobs.create on the job \
                     project and read access to {table}); {}",
                    adc_description()
                ),
                Some(404) => not_found(&message, table),
                Some(400) => invalid_query(&message, table),
                _ if source.is_connect() || source.is_io() || source.is_timeout() => {
                    format!("BigQuery could not be reached: {}", with_causes(source))
                }
                _ => format!("the query failed: {message}"),
            }
        }
        other => format!("the query failed: {other}"),
    }
}

fn describe_job_errors(errors: &[ErrorProto], table: &BigQueryTable) -> String {
    let message = errors
        .iter()
        .map(|e| format!("{}: {}", e.reason, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    let reason = |r: &str| errors.iter().any(|e| e.reason == r);
    if reason("notFound") {
        not_found(&message, table)
    } else if reason("accessDenied") {
        format!(
            "access denied, or the dataset does not exist: {message} (the caller needs \
             bigquery.jobs.create on the job project and read access to {table})"
        )
    } else if reason("invalidQuery") || reason("invalid") {
        invalid_query(&message, table)
    } else {
        format!("the query job failed: {message}")
    }
}

fn not_found(message: &str, table: &BigQueryTable) -> String {
    format!(
        "the table {table} does not exist (or its dataset or project, or the caller cannot \
         see it): {message}"
    )
}

fn invalid_query(message: &str, table: &BigQueryTable) -> String {
    format!(
        "BigQuery rejected the query: {message} (is {table} a Cloud Billing export table, \
         standard or detailed, with its nested fields?)"
    )
}

/// `error` and its causes, `: `-separated (the client's errors keep the reason in a cause).
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

/// Application Default Credentials as they are looked for, for messages. Names the variable
/// and the file, never their contents.
pub fn adc_description() -> String {
    let variable = match std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS") {
        Some(path) => format!("set to {}", std::path::Path::new(&path).display()),
        None => "not set".to_owned(),
    };
    format!(
        "credentials come from Application Default Credentials, tried in this order: the file \
         named by GOOGLE_APPLICATION_CREDENTIALS ({variable}), \
         ~/.config/gcloud/application_default_credentials.json (`gcloud auth \
         application-default login`), the metadata server of GCE, GKE or Cloud Run"
    )
}

/// RFC 3339 with microseconds, as BigQuery's TIMESTAMP parameters take it.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// A window bound for people: the date when it is midnight, else the full time.
fn window_bound(t: DateTime<Utc>) -> String {
    if t.time() == chrono::NaiveTime::MIN {
        t.date_naive().to_string()
    } else {
        t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        let t = BigQueryTable::parse("`example.com:billing-prj.ds_1.gcp_billing_export_v1_X`")
            .expect("a domain-scoped project");
        assert_eq!(t.project, "example.com:billing-prj");
        assert_eq!(t.dataset, "ds_1");
        assert_eq!(t.table, "gcp_billing_export_v1_X");
        for bad in ["ds.table", "p.d.t`; DROP", "p..t", "p.d.t x"] {
            assert!(BigQueryTable::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_handle_without_results_or_job_is_an_error_not_a_panic() {
        // What a stub answering `{}` gives: not complete, no job reference.
        let empty = QueryMetadata::new();
        let message = check_handle(&empty).expect_err("refused");
        assert!(message.contains("jobReference"), "{message}");
        let done = QueryMetadata::new().set_job_complete(true);
        assert_eq!(check_handle(&done), Ok(()));
        let running = QueryMetadata::new().set_job_reference(
            google_cloud_bigquery_v2::model::JobReference::new()
                .set_project_id("p")
                .set_job_id("job_1"),
        );
        assert_eq!(check_handle(&running), Ok(()));
    }
}
