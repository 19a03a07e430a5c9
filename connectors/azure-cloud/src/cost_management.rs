//! The Cost Management source: the Cost Management **Query API**
//! (`POST {scope}/providers/Microsoft.CostManagement/query`, api-version 2023-11-01), for
//! teams that have no cost-details export.
//!
//! For every calendar month of the window one query is made: daily cost (`Cost`, actual or
//! amortized) and quantity (`UsageQuantity`, in the row's `UnitOfMeasure`) grouped by meter
//! category, sub-category and meter, resource location, subscription, unit of measure and
//! charge type, followed through `nextLink` (the same body is posted to it). Every result row
//! becomes one [`AzureLine`], classified by the Azure connector's [`LineConverter`], so the
//! rows are those an export of the same facts gives. Columns are found by name, never by
//! position.
//!
//! Throttling and failures (Cloud Carbon Footprint loops on "Too many requests"; this source
//! never loops without bound): a 429 waits for the longest of `Retry-After` and the
//! `x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers, capped at
//! [`RetryPolicy::max_wait`]; a 5xx or a broken connection backs off exponentially from
//! [`RetryPolicy::backoff_base`] (a 5xx with `Retry-After` waits for it, capped the same);
//! after [`RetryPolicy::max_retries`] retries of one request, or on any other status, the read
//! fails with [`SourceError::Api`] naming the request, the status and Microsoft's
//! `error.code` / `error.message`. A `nextLink` seen twice is an error too. Requests, retries
//! and waits are printed by [`UsageSource::summary`].
//!
//! What the Query API cannot tell, and what that does to the estimate: there is no
//! `AdditionalInfo`, so a virtual machine's vCPU count (`AdditionalInfo.VCPUs`) is unknown and
//! VM rows rely on the VM size in the meter name (`D2s v3`) and the size tables; a meter
//! without a size is estimated by ratio. There are no tags, resource ids, consumed services,
//! reservation or benefit ids, pricing models or frequencies either. Microsoft's reference
//! says a query "can have up to 2 group by clauses", but that bound is the SDKs' client-side
//! validation (azure-sdk-for-python issue 12973: the REST API itself took 15); the seven asked
//! for here are what the classification needs, not checked against a live account, and a
//! scope whose query is refused says so in the surfaced error.
//!
//! Units: `quantity` in the row's `UnitOfMeasure` as billed, `cost` in the row's `Currency`;
//! periods are UTC days (`UsageDate`, `YYYYMMDD`), windows end exclusive.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use azure_core::credentials::TokenCredential;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    ClientOptions, Context, Method, Pipeline, PipelineSendOptions, Request, RetryOptions, Url,
};
use carbonledger_azure::{AzureLine, AzureOptions, BATCH_ROWS, LineConverter};
use carbonledger_factors::FactorSet;
use carbonledger_usage::{
    CostBasis, FocusCost, InputTotals, Location, SourceError, UsageBatchBuilder, UsageSource,
};
use chrono::{Datelike, NaiveDate};
use polars::prelude::DataFrame;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

use crate::{CredentialChain, mask};

/// Azure Resource Manager, where the Query API lives.
pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";
/// The environment variable naming an endpoint that replaces [`DEFAULT_ENDPOINT`] (a local
/// test server); requests to it carry no credentials.
pub const ENDPOINT_ENV: &str = "CARBONLEDGER_COST_MANAGEMENT_ENDPOINT";
/// The API version of the query.
pub const API_VERSION: &str = "2023-11-01";
/// The token scope of Azure Resource Manager.
pub const TOKEN_SCOPE: &str = "https://management.azure.com/.default";

/// The dimensions the query groups by, in the order they are asked for.
pub const GROUPING: [&str; 7] = [
    "MeterCategory",
    "MeterSubCategory",
    "Meter",
    "ResourceLocation",
    "SubscriptionId",
    "UnitOfMeasure",
    "ChargeType",
];

/// `ActualCost` or `AmortizedCost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CostType {
    #[default]
    Actual,
    Amortized,
}

impl CostType {
    /// The query's `type`.
    pub fn api_name(self) -> &'static str {
        match self {
            CostType::Actual => "ActualCost",
            CostType::Amortized => "AmortizedCost",
        }
    }

    /// The FOCUS cost column holding the same figure.
    pub fn focus(self) -> FocusCost {
        match self {
            CostType::Actual => FocusCost::BilledCost,
            CostType::Amortized => FocusCost::EffectiveCost,
        }
    }
}

/// How throttling and server errors are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries of one request (429, 5xx or a broken connection) before the read fails.
    pub max_retries: u32,
    /// The longest wait for one 429, whatever the headers ask.
    pub max_wait: StdDuration,
    /// The first 5xx back-off; it doubles on each retry (and is capped at `max_wait`).
    pub backoff_base: StdDuration,
    /// How long one request may take, answer included; past it the request counts as a
    /// broken connection (retried within `max_retries`), so a stalled server cannot hang
    /// the run.
    pub timeout: StdDuration,
}

impl Default for RetryPolicy {
    /// 5 retries, 60 s at most per wait, back-off from 1 s, 120 s per request.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            max_wait: StdDuration::from_secs(60),
            backoff_base: StdDuration::from_secs(1),
            timeout: StdDuration::from_secs(120),
        }
    }
}

/// What to ask the Query API for.
#[derive(Clone)]
pub struct CostManagementOptions {
    /// `subscriptions/{id}`, `providers/Microsoft.Billing/billingAccounts/{id}`, … (leading
    /// and trailing `/` ignored).
    pub scope: String,
    /// First day of the window (UTC).
    pub start: NaiveDate,
    /// Day after the last day of the window (exclusive).
    pub end: NaiveDate,
    pub cost_type: CostType,
    /// Replaces [`DEFAULT_ENDPOINT`].
    pub endpoint: Option<String>,
    /// Entra ID tokens for Azure Resource Manager; `None`: requests carry no credentials.
    pub credential: Option<Arc<dyn TokenCredential>>,
    pub retry: RetryPolicy,
    pub azure: AzureOptions,
}

impl CostManagementOptions {
    /// The endpoint from `CARBONLEDGER_COST_MANAGEMENT_ENDPOINT` unless given; with an
    /// endpoint no credentials, else the Entra ID [`CredentialChain`] (as the Blob source).
    pub fn from_env(
        scope: String,
        start: NaiveDate,
        end: NaiveDate,
        cost_type: CostType,
        endpoint: Option<String>,
        azure: AzureOptions,
    ) -> Result<Self, SourceError> {
        let endpoint = endpoint
            .or_else(|| std::env::var(ENDPOINT_ENV).ok())
            .filter(|e| !e.trim().is_empty());
        let credential: Option<Arc<dyn TokenCredential>> = match endpoint {
            Some(_) => None,
            None => Some(Arc::new(CredentialChain::from_env()?)),
        };
        Ok(CostManagementOptions {
            scope,
            start,
            end,
            cost_type,
            endpoint,
            credential,
            retry: RetryPolicy::default(),
            azure,
        })
    }
}

/// Requests and waits, for the summary.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stats {
    /// Requests on the wire, retries included.
    pub requests: u64,
    /// Pages received (successful responses).
    pub pages: u64,
    /// Responses with status 429.
    pub throttled: u64,
    /// Responses with a 5xx status, and connections that broke.
    pub server_errors: u64,
    /// Time slept before retries (Retry-After and back-off), seconds.
    pub waited_seconds: f64,
}

/// A Cost Management query window, ready to be read.
pub struct CostManagementSource {
    options: CostManagementOptions,
    scope: String,
    factors: Arc<FactorSet>,
    converter: Option<LineConverter>,
    stats: Stats,
}

impl CostManagementSource {
    /// Checks the scope and the window; nothing is requested yet.
    pub fn new(
        options: CostManagementOptions,
        factors: Arc<FactorSet>,
    ) -> Result<CostManagementSource, SourceError> {
        let scope = options.scope.trim().trim_matches('/').to_owned();
        if scope.is_empty() || scope.contains(char::is_whitespace) {
            return Err(SourceError::invalid(
                Location::file("Cost Management scope"),
                format!(
                    "`{}` is not a scope (subscriptions/ID, \
                     providers/Microsoft.Billing/billingAccounts/ID, …)",
                    options.scope
                ),
            ));
        }
        if options.end <= options.start {
            return Err(SourceError::invalid(
                Location::file("Cost Management window"),
                format!(
                    "the window ends ({}) before it starts ({})",
                    options.end, options.start
                ),
            ));
        }
        Ok(CostManagementSource {
            options,
            scope,
            factors,
            converter: None,
            stats: Stats::default(),
        })
    }

    /// Requests and waits so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The query URL of the scope.
    pub fn query_url(&self) -> Result<Url, SourceError> {
        let endpoint = self
            .options
            .endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/');
        let text = format!(
            "{endpoint}/{}/providers/Microsoft.CostManagement/query?api-version={API_VERSION}",
            self.scope
        );
        Url::parse(&text)
            .map_err(|e| SourceError::invalid(Location::file(text.clone()), format!("{e}")))
    }

    /// The billing account of the scope, when it names one.
    fn billing_account(&self) -> &str {
        let mut parts = self.scope.split('/');
        while let Some(part) = parts.next() {
            if part.eq_ignore_ascii_case("billingAccounts") {
                return parts.next().unwrap_or_default();
            }
        }
        ""
    }
}

/// The query body of one window piece (`to` is inclusive in the API: the last second).
pub fn query_body(cost_type: CostType, start: NaiveDate, end: NaiveDate) -> Value {
    let last = end.pred_opt().unwrap_or(end);
    let grouping: Vec<Value> = GROUPING
        .iter()
        .map(|name| json!({"type": "Dimension", "name": name}))
        .collect();
    json!({
        "type": cost_type.api_name(),
        "timeframe": "Custom",
        "timePeriod": {
            "from": format!("{}T00:00:00Z", start.format("%Y-%m-%d")),
            "to": format!("{}T23:59:59Z", last.format("%Y-%m-%d")),
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {
                "totalCost": {"name": "Cost", "function": "Sum"},
                "totalQuantity": {"name": "UsageQuantity", "function": "Sum"},
            },
            "grouping": grouping,
        },
    })
}

impl UsageSource for CostManagementSource {
    fn describe(&self) -> String {
        format!(
            "Azure Cost Management query {} {}..{} ({}, daily{})",
            self.scope,
            self.options.start,
            self.options.end,
            self.options.cost_type.api_name(),
            if self.options.credential.is_some() {
                ", Entra ID token"
            } else {
                ", no credentials"
            }
        )
    }

    fn cost_basis(&self) -> Option<CostBasis> {
        let t = self.options.cost_type;
        Some(CostBasis::new(t.api_name(), Some(t.focus())))
    }

    fn read(
        &mut self,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::io("starting the Cost Management client", e))?;
        let pipeline = self.pipeline();
        let mut converter = LineConverter::new(Arc::clone(&self.factors), self.options.azure);
        let mut totals = InputTotals::default();
        let mut builder = UsageBatchBuilder::with_capacity(BATCH_ROWS.min(8192));
        let url = self.query_url()?;
        let mut result = Ok(());
        for (start, end) in months(self.options.start, self.options.end) {
            result = self.read_piece(
                &runtime,
                &pipeline,
                &url,
                (start, end),
                &mut converter,
                &mut builder,
                &mut totals,
                sink,
            );
            if result.is_err() {
                break;
            }
        }
        self.converter = Some(converter);
        result?;
        if !builder.is_empty() {
            sink(
                builder
                    .finish()
                    .map_err(|e| SourceError::polars("usage batch", e))?,
            )?;
        }
        Ok(totals)
    }

    fn summary(&self) -> Vec<String> {
        let s = &self.stats;
        let retries = s.requests.saturating_sub(s.pages);
        let mut lines = vec![format!(
            "Cost Management: {} request{} sent ({} page{}{}), {:.1} s waited before retries",
            s.requests,
            if s.requests == 1 { "" } else { "s" },
            s.pages,
            if s.pages == 1 { "" } else { "s" },
            if retries > 0 {
                format!(
                    ", {retries} retried: {} throttled (429), {} server errors (5xx or broken \
                     connections)",
                    s.throttled, s.server_errors
                )
            } else {
                String::new()
            },
            s.waited_seconds
        )];
        lines.push(
            "Cost Management: the Query API has no AdditionalInfo: VM vCPUs come from the VM \
             size in the meter name"
                .to_owned(),
        );
        if let Some(c) = &self.converter {
            lines.extend(c.summary());
        }
        lines
    }
}

/// Column positions of a page, found by name.
struct Columns {
    cost: usize,
    quantity: usize,
    date: usize,
    currency: usize,
    /// The positions of [`GROUPING`], in its order.
    dims: [usize; 7],
}

impl Columns {
    fn of(properties: &Value, shown: &str) -> Result<Columns, SourceError> {
        let names: Vec<String> = properties
            .get("columns")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                SourceError::invalid(
                    Location::file(shown).in_column("properties.columns"),
                    "the response has no `properties.columns` array",
                )
            })?
            .iter()
            .map(|c| {
                c.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        let find = |wanted: &[&str]| -> Result<usize, SourceError> {
            wanted
                .iter()
                .find_map(|w| names.iter().position(|n| n.eq_ignore_ascii_case(w)))
                .ok_or_else(|| {
                    SourceError::invalid(
                        Location::file(shown).in_column(wanted[0]),
                        format!(
                            "the response has no `{}` column (columns: {})",
                            wanted[0],
                            names.join(", ")
                        ),
                    )
                })
        };
        let mut dims = [0; 7];
        for (slot, name) in dims.iter_mut().zip(GROUPING) {
            *slot = find(&[name])?;
        }
        Ok(Columns {
            // The aggregation's name; older API versions name actual cost `PreTaxCost`.
            cost: find(&["Cost", "PreTaxCost", "totalCost"])?,
            quantity: find(&["UsageQuantity", "totalQuantity"])?,
            date: find(&["UsageDate"])?,
            currency: find(&["Currency", "BillingCurrency"])?,
            dims,
        })
    }
}

/// A cell as text (`null`: empty).
fn text(cell: Option<&Value>) -> String {
    match cell {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A cell as a number (numbers or numeric text).
fn number(cell: Option<&Value>, at: &Location) -> Result<f64, SourceError> {
    let value = match cell {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    value.filter(|v| v.is_finite()).ok_or_else(|| {
        SourceError::invalid(at.clone(), format!("`{}` is not a number", text(cell)))
    })
}

/// `UsageDate` as the day: `20240301` (number or text) or an ISO date/time.
fn usage_date(cell: Option<&Value>, at: &Location) -> Result<NaiveDate, SourceError> {
    let raw = match cell {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.trim().to_owned(),
        _ => String::new(),
    };
    let day = NaiveDate::parse_from_str(&raw, "%Y%m%d").ok().or_else(|| {
        raw.get(..10)
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    });
    day.ok_or_else(|| {
        SourceError::invalid(
            at.clone(),
            format!(
                "UsageDate `{}` is neither YYYYMMDD nor YYYY-MM-DD",
                text(cell)
            ),
        )
    })
}

fn days_in_month(day: NaiveDate) -> u32 {
    let next = first_of_next_month(day);
    let first = NaiveDate::from_ymd_opt(day.year(), day.month(), 1).unwrap_or(day);
    u32::try_from((next - first).num_days()).unwrap_or(30)
}

/// The outcome of one request.
enum Sent {
    Page(Value),
    Failed(SourceError),
}

impl CostManagementSource {
    fn pipeline(&self) -> Pipeline {
        let mut per_try: Vec<Arc<dyn Policy>> = Vec::new();
        if let Some(credential) = &self.options.credential {
            per_try.push(Arc::new(BearerTokenAuthorizationPolicy::new(
                Arc::clone(credential),
                [TOKEN_SCOPE],
            )));
        }
        // Retries are this source's own (429 with Retry-After, bounded 5xx back-off).
        let options = ClientOptions {
            retry: RetryOptions::none(),
            ..ClientOptions::default()
        };
        Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            options,
            Vec::new(),
            per_try,
            None,
        )
    }

    /// One month: every page, converted as it arrives.
    #[allow(clippy::too_many_arguments)]
    fn read_piece(
        &mut self,
        runtime: &Runtime,
        pipeline: &Pipeline,
        url: &Url,
        (start, end): (NaiveDate, NaiveDate),
        converter: &mut LineConverter,
        builder: &mut UsageBatchBuilder,
        totals: &mut InputTotals,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<(), SourceError> {
        let body = query_body(self.options.cost_type, start, end).to_string();
        let billing_account = self.billing_account().to_owned();
        let mut next = url.clone();
        let mut seen = HashSet::new();
        let mut page = 0u64;
        loop {
            page += 1;
            let shown = format!(
                "Cost Management query {} {start}..{end} page {page} (POST {})",
                self.scope,
                mask(next.as_str())
            );
            let sent = runtime.block_on(self.send(pipeline, &next, &body, &shown));
            let value = match sent {
                Sent::Page(v) => v,
                Sent::Failed(e) => return Err(e),
            };
            let properties = value.get("properties").unwrap_or(&Value::Null);
            let columns = Columns::of(properties, &shown)?;
            let rows = properties
                .get("rows")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    SourceError::invalid(
                        Location::file(&shown).in_column("properties.rows"),
                        "the response has no `properties.rows` array",
                    )
                })?;
            for (i, row) in rows.iter().enumerate() {
                let line_no = i as u64 + 1;
                let at = |column: &str| {
                    Location::file(&shown)
                        .at_line(line_no)
                        .in_column(column.to_owned())
                };
                let cells = row.as_array().ok_or_else(|| {
                    SourceError::invalid(at("properties.rows"), "the row is not an array")
                })?;
                let cost = number(cells.get(columns.cost), &at("Cost"))?;
                let quantity = number(cells.get(columns.quantity), &at("UsageQuantity"))?;
                let day = usage_date(cells.get(columns.date), &at("UsageDate"))?;
                let currency = text(cells.get(columns.currency));
                // Counted from the raw values, before any classification.
                totals.rows += 1;
                *totals.cost.entry(currency.trim().to_owned()).or_default() += cost;
                let dims: Vec<String> = columns.dims.iter().map(|&c| text(cells.get(c))).collect();
                let date_us = day
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc().timestamp_micros())
                    .unwrap_or_default();
                converter.push(
                    &AzureLine {
                        billing_account_id: &billing_account,
                        subscription_id: &dims[4],
                        date_us,
                        days_in_month: days_in_month(day),
                        meter_category: &dims[0],
                        meter_sub_category: &dims[1],
                        meter_name: &dims[2],
                        quantity,
                        unit_of_measure: &dims[5],
                        cost,
                        billing_currency: &currency,
                        resource_location: &dims[3],
                        charge_type: &dims[6],
                        source: &shown,
                        source_line: Some(line_no),
                        ..AzureLine::default()
                    },
                    builder,
                );
                if builder.len() >= BATCH_ROWS {
                    sink(
                        builder
                            .finish()
                            .map_err(|e| SourceError::polars("usage batch", e))?,
                    )?;
                }
            }
            let link = properties
                .get("nextLink")
                .and_then(Value::as_str)
                .map(str::trim)
                .unwrap_or_default();
            if link.is_empty() {
                return Ok(());
            }
            if !seen.insert(link.to_owned()) {
                return Err(SourceError::api(
                    shown,
                    "the response repeats a nextLink already followed: the paging loops, \
                     stopping",
                ));
            }
            next = Url::parse(link).map_err(|e| {
                SourceError::invalid(
                    Location::file(&shown).in_column("properties.nextLink"),
                    format!("nextLink `{link}` is not a URL: {e}"),
                )
            })?;
        }
    }

    /// Sends one request, retrying 429s, 5xx and broken connections within the policy.
    async fn send(&mut self, pipeline: &Pipeline, url: &Url, body: &str, shown: &str) -> Sent {
        let policy = self.options.retry;
        let mut retries = 0u32;
        loop {
            let mut request = Request::new(url.clone(), Method::Post);
            request.insert_header("content-type", "application/json");
            request.insert_header("accept", "application/json");
            request.set_body(body.to_owned());
            self.stats.requests += 1;
            let options = PipelineSendOptions {
                skip_checks: true,
                ..PipelineSendOptions::default()
            };
            let context = Context::new();
            let sent = pipeline.send(&context, &mut request, Some(options));
            let outcome = match tokio::time::timeout(policy.timeout, sent).await {
                Ok(outcome) => outcome,
                Err(_) => Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Io,
                    format!("no answer within {} s", policy.timeout.as_secs_f64()),
                )),
            };
            let attempts = retries + 1;
            let (wait, why) = match outcome {
                Err(e) => {
                    self.stats.server_errors += 1;
                    let why = format!("the request failed: {}", mask(&e.to_string()));
                    (backoff(&policy, retries), why)
                }
                Ok(response) => {
                    let status = u16::from(response.status());
                    let headers: Vec<(String, String)> = response
                        .headers()
                        .iter()
                        .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
                        .collect();
                    let bytes = response.into_body();
                    if (200..300).contains(&status) {
                        self.stats.pages += 1;
                        return match serde_json::from_slice::<Value>(&bytes) {
                            Ok(v) => Sent::Page(v),
                            Err(e) => Sent::Failed(SourceError::invalid(
                                Location::file(shown),
                                format!("HTTP {status}, but the body is not JSON: {e}"),
                            )),
                        };
                    }
                    let why = format!("HTTP {status} {}", error_text(&bytes));
                    if status == 429 {
                        self.stats.throttled += 1;
                        let asked = retry_after(&headers);
                        let wait = asked
                            .unwrap_or_else(|| backoff(&policy, retries))
                            .min(policy.max_wait);
                        (wait, why)
                    } else if status >= 500 {
                        // A 503 may say when to come back; else the back-off.
                        self.stats.server_errors += 1;
                        let wait = retry_after(&headers)
                            .map(|w| w.min(policy.max_wait))
                            .unwrap_or_else(|| backoff(&policy, retries));
                        (wait, why)
                    } else {
                        return Sent::Failed(SourceError::api(
                            shown,
                            format!("{why} ({attempts} attempt{})", plural(attempts)),
                        ));
                    }
                }
            };
            if retries >= policy.max_retries {
                return Sent::Failed(SourceError::api(
                    shown,
                    format!(
                        "{why}; giving up after {attempts} attempt{} ({} retries allowed)",
                        plural(attempts),
                        policy.max_retries
                    ),
                ));
            }
            retries += 1;
            tracing::warn!(
                "{shown}: {why}; retry {retries} of {} in {:.1} s",
                policy.max_retries,
                wait.as_secs_f64()
            );
            self.stats.waited_seconds += wait.as_secs_f64();
            tokio::time::sleep(wait).await;
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The `attempt`-th exponential back-off (0-based), capped at the policy's longest wait.
fn backoff(policy: &RetryPolicy, attempt: u32) -> StdDuration {
    policy
        .backoff_base
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(policy.max_wait)
}

/// The wait a 429 asks for: the longest of `Retry-After` (seconds or an HTTP date) and the
/// Cost Management rate-limit headers (`x-ms-ratelimit-microsoft.costmanagement-*-retry-after`,
/// seconds). `None` when no header says.
pub fn retry_after(headers: &[(String, String)]) -> Option<StdDuration> {
    let mut longest: Option<StdDuration> = None;
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let rate_limit = name.starts_with("x-ms-ratelimit-microsoft.costmanagement-")
            && name.ends_with("-retry-after");
        if name != "retry-after" && !rate_limit {
            continue;
        }
        let value = value.trim();
        let wait = match value.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Some(StdDuration::from_secs_f64(s)),
            _ => chrono::DateTime::parse_from_rfc2822(value).ok().map(|t| {
                let left = t.to_utc() - chrono::Utc::now();
                left.to_std().unwrap_or_default()
            }),
        };
        if let Some(w) = wait {
            longest = Some(longest.map_or(w, |l| l.max(w)));
        }
    }
    longest
}

/// Microsoft's error body (`{"error":{"code":…,"message":…}}`) as `code: message`, else the
/// start of the body.
pub fn error_text(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    match error {
        Some(e) => {
            let code = e
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or("no error code");
            let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
            mask(&format!("{code}: {message}"))
        }
        None => {
            let text = String::from_utf8_lossy(body);
            let short: String = text.chars().take(200).collect();
            if short.trim().is_empty() {
                "(empty body)".to_owned()
            } else {
                mask(short.trim())
            }
        }
    }
}

/// Calendar-month pieces of `[start, end)`.
fn months(start: NaiveDate, end: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut from = start;
    while from < end {
        let to = first_of_next_month(from).min(end);
        out.push((from, to));
        from = to;
    }
    out
}

fn first_of_next_month(day: NaiveDate) -> NaiveDate {
    let (year, month) = if day.month() == 12 {
        (day.year() + 1, 1)
    } else {
        (day.year(), day.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn the_body_asks_for_daily_cost_by_the_seven_dimensions() {
        let body = query_body(CostType::Amortized, date("2024-03-01"), date("2024-04-01"));
        assert_eq!(body["type"], "AmortizedCost");
        assert_eq!(body["timePeriod"]["from"], "2024-03-01T00:00:00Z");
        assert_eq!(body["timePeriod"]["to"], "2024-03-31T23:59:59Z");
        assert_eq!(body["dataset"]["granularity"], "Daily");
        assert_eq!(body["dataset"]["aggregation"]["totalCost"]["name"], "Cost");
        let names: Vec<&str> = body["dataset"]["grouping"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, GROUPING);
    }

    #[test]
    fn retry_after_takes_the_longest_header() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        assert_eq!(
            retry_after(&h(&[("Retry-After", "3")])),
            Some(StdDuration::from_secs(3))
        );
        assert_eq!(
            retry_after(&h(&[
                ("retry-after", "2"),
                (
                    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
                    "7"
                ),
                ("x-ms-ratelimit-microsoft.costmanagement-qpu-remaining", "0"),
            ])),
            Some(StdDuration::from_secs(7))
        );
        assert_eq!(
            retry_after(&h(&[("content-type", "application/json")])),
            None
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_retries: 9,
            max_wait: StdDuration::from_millis(500),
            backoff_base: StdDuration::from_millis(100),
            timeout: StdDuration::from_secs(1),
        };
        assert_eq!(backoff(&policy, 0), StdDuration::from_millis(100));
        assert_eq!(backoff(&policy, 2), StdDuration::from_millis(400));
        assert_eq!(backoff(&policy, 5), StdDuration::from_millis(500));
    }

    #[test]
    fn microsoft_error_bodies_are_read() {
        let body = br#"{"error":{"code":"BadRequest","message":"Invalid dataset grouping"}}"#;
        assert_eq!(error_text(body), "BadRequest: Invalid dataset grouping");
        assert_eq!(error_text(b""), "(empty body)");
    }

    #[test]
    fn usage_dates_as_numbers_or_text() {
        let at = Location::file("t");
        assert_eq!(
            usage_date(Some(&json!(20240301)), &at).unwrap(),
            date("2024-03-01")
        );
        assert_eq!(
            usage_date(Some(&json!("2024-03-02T00:00:00")), &at).unwrap(),
            date("2024-03-02")
        );
        assert!(usage_date(Some(&json!("March")), &at).is_err());
        assert_eq!(days_in_month(date("2024-02-10")), 29);
    }
}
