//! The Cost Explorer source: `GetCostAndUsage`, for teams that have no Cost and Usage Report.
//!
//! For every calendar month of the window (and every linked account, when the user names
//! them) two queries are made, each followed through `NextPageToken`:
//!
//! 1. **by record type** (`GroupBy RECORD_TYPE`): the bill's cost per record type (`Usage`,
//!    `Tax`, `Credit`, …). This is the input total the ledger must reconcile to, and every
//!    record type that is not usage becomes one `excluded` row with its cost;
//! 2. **usage by service and usage type** (`GroupBy SERVICE, USAGE_TYPE`, filtered to the
//!    usage record types): `UsageQuantity` (in the usage type's own unit: `Hrs`, `GB-Mo`,
//!    `GB`, …) and the chosen cost metric. Each group becomes one usage row, classified
//!    with the CUR rules of `carbonledger-aws` (the usage type carries the instance type and
//!    the region prefix). Whatever cost of the usage record types the groups do not add up to
//!    is kept as one `excluded` row, so the totals always reconcile.
//!
//! What Cost Explorer cannot tell, and what that does to the estimate (also in the README):
//! there is no `product/vcpu` column, so vCPUs come from the instance tables by the instance
//! type in the usage type (types the tables lack are estimated by ratio); there is no
//! `product/region`, so the region is the usage-type prefix (no prefix: us-east-1, as AWS
//! bills it); there are no tags, operations or resource ids; and the grouping is at most two
//! dimensions, so a usage type's lines of different operations are summed.
//!
//! Every request is billed by AWS ($0.01 each): they are counted, with retries, and reported
//! in [`UsageSource::summary`]. Results of closed periods (every result `Estimated: false`
//! and the month over before the current one started) are kept in a cache folder keyed by
//! the caller's account and the request, and never asked for again.
//!
//! Units: amounts as Cost Explorer gives them (`UsageQuantity` in the usage type's unit,
//! cost in the metric's currency); periods are UTC days, end exclusive.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_costexplorer::types::{
    DateInterval, DimensionValues, Expression, GroupDefinition, GroupDefinitionType,
};
use carbonledger_aws::{BilledLine, LineConverter};
use carbonledger_factors::FactorSet;
use carbonledger_usage::{
    CostBasis, FocusCost, InputTotals, Location, SourceError, UsageBatchBuilder, UsageSource,
};
use chrono::{Datelike, NaiveDate, Utc};
use polars::prelude::DataFrame;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::sdk::{self, COST_EXPLORER_REGION, Connection, RequestCounter};
use crate::services::ServiceCodes;

/// `DAILY` or `MONTHLY` results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Daily,
    Monthly,
}

impl Granularity {
    fn api(self) -> aws_sdk_costexplorer::types::Granularity {
        match self {
            Granularity::Daily => aws_sdk_costexplorer::types::Granularity::Daily,
            Granularity::Monthly => aws_sdk_costexplorer::types::Granularity::Monthly,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::Daily => "DAILY",
            Granularity::Monthly => "MONTHLY",
        }
    }
}

/// The cost metric the ledger carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CostMetric {
    Unblended,
    NetUnblended,
    Amortized,
    NetAmortized,
    Blended,
}

impl CostMetric {
    /// The metric's name in the API (`UnblendedCost`, …).
    pub fn api_name(self) -> &'static str {
        match self {
            CostMetric::Unblended => "UnblendedCost",
            CostMetric::NetUnblended => "NetUnblendedCost",
            CostMetric::Amortized => "AmortizedCost",
            CostMetric::NetAmortized => "NetAmortizedCost",
            CostMetric::Blended => "BlendedCost",
        }
    }

    /// The FOCUS cost column of the same figure (see `CostMeasure::focus`).
    pub fn focus(self) -> Option<FocusCost> {
        match self {
            CostMetric::Unblended | CostMetric::NetUnblended => Some(FocusCost::BilledCost),
            CostMetric::Amortized | CostMetric::NetAmortized => Some(FocusCost::EffectiveCost),
            CostMetric::Blended => None,
        }
    }
}

/// The usage metric, in each usage type's own unit.
const USAGE_QUANTITY: &str = "UsageQuantity";

/// Record types whose groups carry physical usage, in the API's and the console's spelling
/// (compared without case or spaces).
const USAGE_RECORD_TYPES: [&str; 4] = [
    "usage",
    "discountedusage",
    "savingsplancoveredusage",
    "reservationappliedusage",
];

fn is_usage_record_type(record_type: &str) -> bool {
    let folded: String = record_type
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    USAGE_RECORD_TYPES.contains(&folded.as_str())
}

/// What to ask Cost Explorer for.
#[derive(Debug, Clone)]
pub struct CostExplorerOptions {
    /// First day of the window (UTC).
    pub start: NaiveDate,
    /// Day after the last day of the window (exclusive, as the API takes it).
    pub end: NaiveDate,
    pub granularity: Granularity,
    pub metric: CostMetric,
    /// Linked accounts to query one by one (`LINKED_ACCOUNT` filter); empty: the whole bill
    /// of the caller's account (for a payer: every linked account, summed).
    pub accounts: Vec<String>,
    pub connection: Connection,
    /// Where results of closed periods are kept; `None`: no cache.
    pub cache_dir: Option<PathBuf>,
    /// "Today", which decides which months are closed; the clock's date when `None`.
    pub today: Option<NaiveDate>,
    /// Apply Cloud Carbon Footprint's classification quirks (`--method ccf`).
    pub ccf_quirks: bool,
}

/// The default cache folder: `$XDG_CACHE_HOME/carbonledger/cost-explorer`, else
/// `$HOME/.cache/carbonledger/cost-explorer`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("carbonledger").join("cost-explorer"))
}

/// A Cost Explorer window, ready to be read.
pub struct CostExplorerSource {
    options: CostExplorerOptions,
    factors: Arc<FactorSet>,
    services: ServiceCodes,
    stats: Stats,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Stats {
    /// `GetCostAndUsage` pages received (each one billed).
    pages: u64,
    /// `GetCostAndUsage` requests on the wire, retries included.
    attempts: u64,
    /// STS `GetCallerIdentity` requests (free; they name the caller's account).
    identity_requests: u64,
    /// Months (per account) answered from the cache.
    cached_months: u64,
    /// Months (per account) written to the cache.
    stored_months: u64,
    /// Months whose usage groups do not add up to their record types' usage cost.
    warnings: Vec<String>,
}

/// The version of the cache files' layout; part of every key.
const CACHE_FORMAT: u32 = 2;

/// Usage cost the groups may miss before the difference is reported: rounding of amounts
/// Cost Explorer sends with ten decimals, relative to the month's usage cost.
const UNATTRIBUTED_TOLERANCE: f64 = 1e-6;

impl CostExplorerSource {
    /// Checks the window and loads the service-name table; nothing is requested yet.
    pub fn new(
        options: CostExplorerOptions,
        factors: Arc<FactorSet>,
    ) -> Result<CostExplorerSource, SourceError> {
        if options.end <= options.start {
            return Err(SourceError::invalid(
                Location::file("Cost Explorer window"),
                format!(
                    "the window ends ({}) before it starts ({})",
                    options.end, options.start
                ),
            ));
        }
        let mut options = options;
        let mut seen = std::collections::HashSet::new();
        options
            .accounts
            .retain(|a| seen.insert(a.trim().to_owned()));
        Ok(CostExplorerSource {
            options,
            factors,
            services: ServiceCodes::embedded()?,
            stats: Stats::default(),
        })
    }

    fn describe_query(&self, query: &Query) -> String {
        let account = match &query.account {
            Some(a) => format!(", linked account {a}"),
            None => String::new(),
        };
        format!(
            "Cost Explorer GetCostAndUsage {}..{} {} by {}{account}",
            query.start,
            query.end,
            self.options.granularity.as_str(),
            query.kind.group_names()
        )
    }
}

/// The two kinds of query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum QueryKind {
    RecordTypes,
    Usage,
}

impl QueryKind {
    fn group_names(self) -> &'static str {
        match self {
            QueryKind::RecordTypes => "RECORD_TYPE",
            QueryKind::Usage => "SERVICE, USAGE_TYPE",
        }
    }
}

/// One query, before paging.
#[derive(Debug, Clone, Serialize)]
struct Query {
    kind: QueryKind,
    start: NaiveDate,
    end: NaiveDate,
    granularity: &'static str,
    metric: &'static str,
    account: Option<String>,
    /// The usage record types the usage query is filtered to.
    record_types: Vec<String>,
}

/// A query's results, all pages.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Results {
    periods: Vec<PeriodResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PeriodResult {
    start: String,
    end: String,
    estimated: bool,
    /// The page (1-based) the period came on.
    page: u64,
    groups: Vec<GroupResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct GroupResult {
    keys: Vec<String>,
    /// Metric name → (amount as sent, unit).
    metrics: BTreeMap<String, (String, String)>,
}

/// Both queries of one month (and account): what the cache keeps, as one file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Month {
    by_type: Results,
    by_usage: Results,
    /// How the two queries were described, for the rows' `source`.
    types_shown: String,
    usage_shown: String,
}

impl Month {
    /// Final: the month has results and none of them is an estimate.
    fn is_final(&self) -> bool {
        let periods = || self.by_type.periods.iter().chain(&self.by_usage.periods);
        periods().next().is_some() && periods().all(|p| !p.estimated)
    }
}

impl UsageSource for CostExplorerSource {
    fn describe(&self) -> String {
        let accounts = match self.options.accounts.len() {
            0 => "the caller's whole bill".to_owned(),
            1 => "1 linked account".to_owned(),
            n => format!("{n} linked accounts"),
        };
        format!(
            "AWS Cost Explorer {}..{} ({}, {}, {accounts})",
            self.options.start,
            self.options.end,
            self.options.granularity.as_str(),
            self.options.metric.api_name()
        )
    }

    fn cost_basis(&self) -> Option<CostBasis> {
        let metric = self.options.metric;
        Some(CostBasis::new(metric.api_name(), metric.focus()))
    }

    fn read(
        &mut self,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SourceError::io("starting the Cost Explorer client", e))?;
        let counter = RequestCounter::default();
        let identity_counter = RequestCounter::default();
        let result = self.read_months(&runtime, &counter, &identity_counter, sink);
        self.stats.attempts = counter.attempts();
        self.stats.identity_requests = identity_counter.attempts();
        result
    }

    fn summary(&self) -> Vec<String> {
        let s = &self.stats;
        let retries = s.attempts.saturating_sub(s.pages);
        let mut lines = vec![format!(
            "Cost Explorer: {} requests sent ({} pages billed at $0.01 each{}), {} STS \
             identity request{}; {} months answered from the cache of closed months, {} newly \
             cached",
            s.attempts,
            s.pages,
            if retries > 0 {
                format!(", {retries} retried after throttling or errors")
            } else {
                String::new()
            },
            s.identity_requests,
            if s.identity_requests == 1 { "" } else { "s" },
            s.cached_months,
            s.stored_months
        )];
        lines.extend(s.warnings.iter().map(|w| format!("warning: {w}")));
        lines
    }
}

impl CostExplorerSource {
    /// Fetches each month (in the runtime) and converts it (outside it, so the sink never
    /// runs inside an async task).
    fn read_months(
        &mut self,
        runtime: &tokio::runtime::Runtime,
        counter: &RequestCounter,
        identity_counter: &RequestCounter,
        sink: &mut dyn FnMut(DataFrame) -> Result<(), SourceError>,
    ) -> Result<InputTotals, SourceError> {
        let connection = self.options.connection.clone();
        let (client, caller) = runtime.block_on(async {
            let config = connection.load(Some(COST_EXPLORER_REGION)).await;
            let ce_config = aws_sdk_costexplorer::config::Builder::from(&config)
                .interceptor(counter.clone())
                .build();
            let caller = caller_account(&config, identity_counter).await?;
            let client = aws_sdk_costexplorer::Client::from_conf(ce_config);
            Ok::<_, SourceError>((client, caller))
        })?;
        let today = self
            .options
            .today
            .unwrap_or_else(|| Utc::now().date_naive());
        let mut converter = LineConverter::new(Arc::clone(&self.factors), self.options.ccf_quirks)?;
        let mut totals = InputTotals::default();
        let accounts: Vec<Option<String>> = if self.options.accounts.is_empty() {
            vec![None]
        } else {
            self.options.accounts.iter().cloned().map(Some).collect()
        };
        for (start, end) in months(self.options.start, self.options.end) {
            for account in &accounts {
                let query = Query {
                    kind: QueryKind::RecordTypes,
                    start,
                    end,
                    granularity: self.options.granularity.as_str(),
                    metric: self.options.metric.api_name(),
                    account: account.clone(),
                    record_types: Vec::new(),
                };
                let cache = self
                    .options
                    .cache_dir
                    .as_ref()
                    .map(|dir| self.cache_path(dir, &caller, &query));
                let cached = cache.as_deref().and_then(load);
                let month = match cached {
                    Some(month) => {
                        self.stats.cached_months += 1;
                        month
                    }
                    None => {
                        let month = runtime.block_on(self.fetch_month(&client, query))?;
                        if let Some(path) = &cache
                            && month_closed(end, today)
                            && month.is_final()
                        {
                            store(path, &month)?;
                            self.stats.stored_months += 1;
                        }
                        month
                    }
                };
                let mut builder = UsageBatchBuilder::with_capacity(1024);
                let context = RowContext {
                    metric: self.options.metric.api_name(),
                    billing_account: &caller,
                    usage_account: account.as_deref().unwrap_or(""),
                    services: &self.services,
                };
                let warning = context.rows(&month, &mut converter, &mut builder, &mut totals)?;
                self.stats.warnings.extend(warning);
                if !builder.is_empty() {
                    let batch = builder
                        .finish()
                        .map_err(|e| SourceError::polars(&month.usage_shown, e))?;
                    sink(batch)?;
                }
            }
        }
        Ok(totals)
    }

    /// Both queries of a month, every page.
    async fn fetch_month(
        &mut self,
        client: &aws_sdk_costexplorer::Client,
        mut query: Query,
    ) -> Result<Month, SourceError> {
        let types_shown = self.describe_query(&query);
        let by_type = self.fetch_live(client, &query, &types_shown).await?;
        query.kind = QueryKind::Usage;
        query.record_types = usage_record_types(&by_type);
        let usage_shown = self.describe_query(&query);
        let by_usage = if query.record_types.is_empty() {
            Results::default()
        } else {
            self.fetch_live(client, &query, &usage_shown).await?
        };
        Ok(Month {
            by_type,
            by_usage,
            types_shown,
            usage_shown,
        })
    }

    /// The cache file of a month: keyed by the cache format, the endpoint, the caller's
    /// account and the query.
    fn cache_path(&self, dir: &std::path::Path, caller: &str, query: &Query) -> PathBuf {
        let endpoint = self
            .options
            .connection
            .endpoint_url
            .as_deref()
            .unwrap_or("aws");
        let key =
            serde_json::to_string(&(CACHE_FORMAT, endpoint, caller, query)).unwrap_or_default();
        let digest = Sha256::digest(key.as_bytes());
        let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        dir.join(format!("ce-{}-{hex}.json", query.start))
    }

    async fn fetch_live(
        &mut self,
        client: &aws_sdk_costexplorer::Client,
        query: &Query,
        shown: &str,
    ) -> Result<Results, SourceError> {
        let interval = DateInterval::builder()
            .start(query.start.to_string())
            .end(query.end.to_string())
            .build()
            .map_err(|e| SourceError::api(shown, e.to_string()))?;
        let groups: &[&str] = match query.kind {
            QueryKind::RecordTypes => &["RECORD_TYPE"],
            QueryKind::Usage => &["SERVICE", "USAGE_TYPE"],
        };
        let mut filters = Vec::new();
        if let Some(account) = &query.account {
            filters.push(dimension("LINKED_ACCOUNT", std::slice::from_ref(account)));
        }
        if query.kind == QueryKind::Usage {
            filters.push(dimension("RECORD_TYPE", &query.record_types));
        }
        let filter = match filters.len() {
            0 => None,
            1 => filters.pop(),
            _ => Some(Expression::builder().set_and(Some(filters)).build()),
        };
        let mut results = Results::default();
        let mut token: Option<String> = None;
        let mut seen_tokens = std::collections::HashSet::new();
        let mut page = 0u64;
        loop {
            page += 1;
            let mut request = client
                .get_cost_and_usage()
                .time_period(interval.clone())
                .granularity(self.options.granularity.api())
                .metrics(USAGE_QUANTITY)
                .metrics(query.metric)
                .set_filter(filter.clone())
                .set_next_page_token(token.clone());
            for key in groups {
                request = request.group_by(
                    GroupDefinition::builder()
                        .r#type(GroupDefinitionType::Dimension)
                        .key(*key)
                        .build(),
                );
            }
            let shown_page = format!("{shown}, page {page}");
            let output = request
                .send()
                .await
                .map_err(|e| sdk::api_error(&shown_page, &e))?;
            self.stats.pages += 1;
            for result in output.results_by_time() {
                let (start, end) = result
                    .time_period()
                    .map(|t| (t.start().to_owned(), t.end().to_owned()))
                    .unwrap_or_default();
                let groups = result
                    .groups()
                    .iter()
                    .map(|g| GroupResult {
                        keys: g.keys().to_vec(),
                        metrics: g
                            .metrics()
                            .map(|m| {
                                m.iter()
                                    .map(|(name, v)| {
                                        let amount = v.amount().unwrap_or_default().to_owned();
                                        let unit = v.unit().unwrap_or_default().to_owned();
                                        (name.clone(), (amount, unit))
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect();
                results.periods.push(PeriodResult {
                    start,
                    end,
                    estimated: result.estimated(),
                    page,
                    groups,
                });
            }
            match output.next_page_token() {
                Some(next) if !next.is_empty() => {
                    if !seen_tokens.insert(next.to_owned()) {
                        return Err(SourceError::api(
                            shown_page,
                            "Cost Explorer sent a NextPageToken it had already sent: the \
                             paging loops, stopping",
                        ));
                    }
                    token = Some(next.to_owned());
                }
                _ => break,
            }
        }
        Ok(results)
    }
}

fn dimension(key: &str, values: &[String]) -> Expression {
    Expression::builder()
        .dimensions(
            DimensionValues::builder()
                .key(aws_sdk_costexplorer::types::Dimension::from(key))
                .set_values(Some(values.to_vec()))
                .build(),
        )
        .build()
}

/// The usage record types present in a by-record-type result, sorted.
fn usage_record_types(results: &Results) -> Vec<String> {
    let mut types: Vec<String> = results
        .periods
        .iter()
        .flat_map(|p| p.groups.iter())
        .filter_map(|g| g.keys.first())
        .filter(|t| is_usage_record_type(t))
        .cloned()
        .collect();
    types.sort();
    types.dedup();
    types
}

/// The account the credentials belong to (STS `GetCallerIdentity`): the rows' billing
/// account, and part of the cache key so that two callers never share an entry.
async fn caller_account(
    config: &aws_config::SdkConfig,
    counter: &RequestCounter,
) -> Result<String, SourceError> {
    let sts_config = aws_sdk_sts::config::Builder::from(config)
        .interceptor(counter.clone())
        .build();
    let shown = "STS GetCallerIdentity (the caller's account: billing account and cache key)";
    let identity = aws_sdk_sts::Client::from_conf(sts_config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk::api_error(shown, &e))?;
    identity
        .account()
        .map(str::to_owned)
        .ok_or_else(|| SourceError::api(shown, "the answer names no account"))
}

/// Calendar-month pieces of `[start, end)`.
fn months(start: NaiveDate, end: NaiveDate) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out = Vec::new();
    let mut from = start;
    while from < end {
        let next_month = first_of_next_month(from);
        let to = next_month.min(end);
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

/// Whether a piece ending (exclusive) on `end` lies wholly before the current month.
fn month_closed(end: NaiveDate, today: NaiveDate) -> bool {
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today);
    end <= this_month
}

/// A cached month, if the file is there and readable (an unreadable one is ignored).
fn load(path: &std::path::Path) -> Option<Month> {
    let text = std::fs::read_to_string(path).ok()?;
    match serde_json::from_str::<Month>(&text) {
        Ok(month) => {
            tracing::info!("answered from the cache {}", path.display());
            Some(month)
        }
        Err(e) => {
            tracing::warn!("ignoring the unreadable cache file {}: {e}", path.display());
            None
        }
    }
}

/// Writes the cache file aside and renames it, so a reader never sees half of one.
fn store(path: &std::path::Path, month: &Month) -> Result<(), SourceError> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| SourceError::io(dir.display(), e))?;
    let text = serde_json::to_string(month)
        .map_err(|e| SourceError::io(path.display(), std::io::Error::other(e.to_string())))?;
    let temp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| SourceError::io(dir.display(), e))?;
    std::fs::write(temp.path(), text).map_err(|e| SourceError::io(temp.path().display(), e))?;
    temp.persist(path)
        .map_err(|e| SourceError::io(path.display(), e.error))?;
    Ok(())
}

/// What turning one month's results into rows needs.
struct RowContext<'a> {
    metric: &'a str,
    billing_account: &'a str,
    usage_account: &'a str,
    services: &'a ServiceCodes,
}

/// One metric of a group, parsed.
struct Amount {
    value: f64,
    unit: String,
}

impl RowContext<'_> {
    /// Appends the month's rows. The input totals are what Cost Explorer says, counted
    /// before any row is made: the cost of every record type (the bill), and the groups
    /// received. Usage cost that the usage groups do not add up to becomes one excluded row
    /// (so the ledger still adds up to the bill); above the rounding tolerance it is also
    /// returned as a warning, since it means the two queries disagree.
    fn rows(
        &self,
        month: &Month,
        converter: &mut LineConverter,
        builder: &mut UsageBatchBuilder,
        totals: &mut InputTotals,
    ) -> Result<Option<String>, SourceError> {
        // Usage cost per (period start, currency), from the record types.
        let mut usage_cost: BTreeMap<(String, String), (f64, f64, String)> = BTreeMap::new();
        for period in &month.by_type.periods {
            let (start_us, end_us) = period_bounds(period, &month.types_shown)?;
            for (g, group) in period.groups.iter().enumerate() {
                let shown = format!(
                    "{}, page {}, period {}, group {}",
                    month.types_shown,
                    period.page,
                    period.start,
                    g + 1
                );
                let record_type = group.keys.first().map(String::as_str).unwrap_or("");
                let cost = metric(group, self.metric, &shown)?;
                *totals.cost.entry(cost.unit.clone()).or_default() += cost.value;
                if is_usage_record_type(record_type) {
                    // The usage groups carry this cost, row by row.
                    let entry = usage_cost
                        .entry((period.start.clone(), cost.unit.clone()))
                        .or_insert((0.0, 0.0, period.end.clone()));
                    entry.0 += cost.value;
                    continue;
                }
                totals.rows += 1;
                converter.push(
                    &BilledLine {
                        start_us,
                        end_us,
                        billing_account: self.billing_account,
                        usage_account: self.usage_account,
                        usage_type: record_type,
                        line_item_type: record_type,
                        cost: cost.value,
                        currency: &cost.unit,
                        source: &shown,
                        ..BilledLine::default()
                    },
                    builder,
                );
            }
        }
        for period in &month.by_usage.periods {
            let (start_us, end_us) = period_bounds(period, &month.usage_shown)?;
            for (g, group) in period.groups.iter().enumerate() {
                let shown = format!(
                    "{}, page {}, period {}, group {}",
                    month.usage_shown,
                    period.page,
                    period.start,
                    g + 1
                );
                let service = group.keys.first().map(String::as_str).unwrap_or("");
                let usage_type = group.keys.get(1).map(String::as_str).unwrap_or("");
                let cost = metric(group, self.metric, &shown)?;
                let quantity = metric(group, USAGE_QUANTITY, &shown)?;
                totals.rows += 1;
                usage_cost
                    .entry((period.start.clone(), cost.unit.clone()))
                    .or_insert((0.0, 0.0, period.end.clone()))
                    .1 += cost.value;
                let unit = if quantity.unit == "N/A" {
                    ""
                } else {
                    quantity.unit.as_str()
                };
                converter.push(
                    &BilledLine {
                        start_us,
                        end_us,
                        billing_account: self.billing_account,
                        usage_account: self.usage_account,
                        product_code: self.services.code(service),
                        usage_type,
                        pricing_unit: unit,
                        line_item_type: "Usage",
                        amount: quantity.value,
                        cost: cost.value,
                        currency: &cost.unit,
                        source: &shown,
                        ..BilledLine::default()
                    },
                    builder,
                );
            }
        }
        // What the usage groups do not account for, per period.
        let mut warning = None;
        for ((start, currency), (expected, grouped, end)) in usage_cost {
            let rest = expected - grouped;
            let tolerance = UNATTRIBUTED_TOLERANCE * expected.abs().max(grouped.abs()).max(1.0);
            if rest.abs() <= tolerance * 1e-3 {
                continue;
            }
            if rest.abs() > tolerance && warning.is_none() {
                warning = Some(format!(
                    "{}, period {start}: the usage record types cost {expected} {currency} but \
                     the service and usage type groups add up to {grouped} {currency}; the \
                     difference is an excluded row (UnattributedUsage)",
                    month.types_shown
                ));
            }
            let bounds = PeriodResult {
                start: start.clone(),
                end,
                estimated: false,
                page: 0,
                groups: Vec::new(),
            };
            let (start_us, end_us) = period_bounds(&bounds, &month.types_shown)?;
            let shown = format!(
                "{}, period {start}, usage not in any group",
                month.types_shown
            );
            totals.rows += 1;
            converter.push(
                &BilledLine {
                    start_us,
                    end_us,
                    billing_account: self.billing_account,
                    usage_account: self.usage_account,
                    usage_type: "(usage cost not in any service and usage type group)",
                    line_item_type: "UnattributedUsage",
                    cost: rest,
                    currency: &currency,
                    source: &shown,
                    ..BilledLine::default()
                },
                builder,
            );
        }
        Ok(warning)
    }
}

fn metric(group: &GroupResult, name: &str, shown: &str) -> Result<Amount, SourceError> {
    let Some((amount, unit)) = group.metrics.get(name) else {
        return Err(SourceError::invalid(
            Location::file(shown).in_column(name),
            format!("the group {:?} has no `{name}` metric", group.keys),
        ));
    };
    let value = amount.trim().parse::<f64>().map_err(|_| {
        SourceError::invalid(
            Location::file(shown).in_column(name),
            format!(
                "amount `{amount}` of group {:?} is not a number",
                group.keys
            ),
        )
    })?;
    if !value.is_finite() {
        return Err(SourceError::invalid(
            Location::file(shown).in_column(name),
            format!("amount `{amount}` of group {:?} is not finite", group.keys),
        ));
    }
    Ok(Amount {
        value,
        unit: unit.trim().to_owned(),
    })
}

/// A result's period as UTC microseconds (start inclusive, end exclusive).
fn period_bounds(period: &PeriodResult, shown: &str) -> Result<(i64, i64), SourceError> {
    let day = |text: &str, column: &str| -> Result<i64, SourceError> {
        let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
            SourceError::invalid(
                Location::file(shown).in_column(column),
                format!("TimePeriod {column} `{text}` is not a YYYY-MM-DD date"),
            )
        })?;
        Ok(date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_micros())
            .unwrap_or_default())
    };
    Ok((day(&period.start, "Start")?, day(&period.end, "End")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn windows_split_at_month_boundaries() {
        assert_eq!(
            months(date("2026-10-15"), date("2026-12-02")),
            [
                (date("2026-10-15"), date("2026-11-01")),
                (date("2026-11-01"), date("2026-12-01")),
                (date("2026-12-01"), date("2026-12-02")),
            ]
        );
        assert!(months(date("2026-10-01"), date("2026-10-01")).is_empty());
    }

    #[test]
    fn a_month_is_closed_once_the_next_one_has_begun() {
        assert!(month_closed(date("2026-11-01"), date("2026-12-04")));
        assert!(month_closed(date("2026-12-01"), date("2026-12-04")));
        assert!(!month_closed(date("2026-12-05"), date("2026-12-04")));
        assert!(!month_closed(date("2027-01-01"), date("2026-12-04")));
    }

    #[test]
    fn usage_record_types_in_both_spellings() {
        assert!(is_usage_record_type("Usage"));
        assert!(is_usage_record_type("DiscountedUsage"));
        assert!(is_usage_record_type("Savings Plan Covered Usage"));
        assert!(!is_usage_record_type("Tax"));
        assert!(!is_usage_record_type("SavingsPlanNegation"));
    }
}
