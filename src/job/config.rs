//! The batch job's configuration file (`carbonledger run --config carbonledger.toml`).
//!
//! Every key is documented in the README ("The scheduled job"). The file never holds
//! credentials: each source takes them from its provider's standard chain. Unknown keys, a
//! missing key, a bad value or a duplicated source name stop the run with exit code 2 and a
//! message naming the file, the line and the column.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::Error;
use crate::estimate::Method;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub ledger: LedgerConfig,
    #[serde(default)]
    pub period: PeriodConfig,
    #[serde(rename = "source")]
    pub sources: Vec<SourceConfig>,
    pub postgres: Option<PostgresConfig>,
}

/// `[postgres]`: the optional sink for BI tools.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The environment variable holding the connection URL (never the URL itself).
    #[serde(default = "default_url_env")]
    pub url_env: String,
    /// The table (`name` or `schema.name`); default `carbonledger_ledger`.
    #[serde(default = "default_table")]
    pub table: String,
}

fn default_url_env() -> String {
    "CARBONLEDGER_POSTGRES_URL".into()
}

fn default_table() -> String {
    "carbonledger_ledger".into()
}

/// `[ledger]`: where the ledger lives and how it is estimated.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// The ledger's root folder (relative paths are taken from the config file's folder).
    pub path: PathBuf,
    /// `default` or `ccf`.
    #[serde(default = "default_method")]
    pub method: String,
    /// A factor-set folder replacing the embedded set of the method.
    pub factors: Option<PathBuf>,
}

fn default_method() -> String {
    "default".into()
}

/// `[period]`: the billing months a run (re)writes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodConfig {
    /// `YYYY-MM` months; default: the open month and the previous one (UTC).
    pub months: Option<Vec<String>>,
}

/// One `[[source]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique; names the source's files in the ledger (letters, digits, `-`, `_`).
    pub name: String,
    pub kind: SourceKind,
    /// Files: `aws-cur`, `gcp-export`, `focus`, `azure-export` (or its `url`).
    pub path: Option<PathBuf>,
    /// `aws-s3`: `s3://bucket/prefix/report`; `azure-export`: `azblob://account/container/…`.
    pub url: Option<String>,
    /// `bigquery`: `project.dataset.table`.
    pub table: Option<String>,
    /// `cost-management`: the Query API scope (`subscriptions/ID`,
    /// `providers/Microsoft.Billing/billingAccounts/ID`, …).
    pub scope: Option<String>,
    /// The cost measure (the CLI's `--cost` for AWS kinds, `--gcp-cost` for GCP kinds).
    pub cost: Option<String>,
    /// `aws-s3`, `cost-explorer`, `bigquery`, `azure-export`, `cost-management`: another
    /// endpoint (an emulator, MinIO, a local test server).
    pub endpoint_url: Option<String>,
    /// `aws-s3`, `cost-explorer`: the AWS region.
    pub region: Option<String>,
    /// `cost-explorer`, `bigquery`: `daily` (default) or `monthly`.
    pub granularity: Option<String>,
    /// `cost-explorer`: linked accounts queried one by one.
    #[serde(default)]
    pub accounts: Vec<String>,
}

/// The connectors a source can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    AwsCur,
    AwsS3,
    CostExplorer,
    GcpExport,
    Bigquery,
    Focus,
    AzureExport,
    CostManagement,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::AwsCur => "aws-cur",
            SourceKind::AwsS3 => "aws-s3",
            SourceKind::CostExplorer => "cost-explorer",
            SourceKind::GcpExport => "gcp-export",
            SourceKind::Bigquery => "bigquery",
            SourceKind::Focus => "focus",
            SourceKind::AzureExport => "azure-export",
            SourceKind::CostManagement => "cost-management",
        }
    }

    /// The `cost` values a source of this kind takes.
    pub fn costs(self) -> &'static [&'static str] {
        const AWS: [&str; 4] = ["unblended", "net-unblended", "blended", "amortized"];
        const FOCUS: [&str; 4] = ["effective", "billed", "list", "contracted"];
        match self {
            SourceKind::AwsCur => &AWS,
            // A delivery in S3 may be a FOCUS export: FOCUS's names are taken too.
            SourceKind::AwsS3 => &[
                "unblended",
                "net-unblended",
                "blended",
                "amortized",
                "effective",
                "billed",
                "list",
                "contracted",
            ],
            SourceKind::CostExplorer => &[
                "unblended",
                "net-unblended",
                "blended",
                "amortized",
                "net-amortized",
            ],
            SourceKind::GcpExport | SourceKind::Bigquery => {
                &["gross", "net", "net-except-promotions"]
            }
            SourceKind::Focus => &FOCUS,
            SourceKind::AzureExport => &[],
            SourceKind::CostManagement => &["actual", "amortized"],
        }
    }

    /// The keys a source of this kind must or may have, besides `name` and `kind`.
    fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            SourceKind::AwsCur | SourceKind::GcpExport => (&["path"], &["cost"]),
            SourceKind::Focus => (&["path"], &["cost"]),
            SourceKind::AzureExport => (&[], &["path", "url", "endpoint_url"]),
            SourceKind::AwsS3 => (&["url"], &["cost", "endpoint_url", "region"]),
            SourceKind::CostExplorer => (
                &[],
                &["cost", "endpoint_url", "region", "granularity", "accounts"],
            ),
            SourceKind::Bigquery => (&["table"], &["cost", "endpoint_url", "granularity"]),
            SourceKind::CostManagement => (&["scope"], &["cost", "endpoint_url"]),
        }
    }
}

/// A month as `YYYY-MM`, with its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    pub fn of(date: NaiveDate) -> Month {
        Month {
            year: date.year(),
            month: date.month(),
        }
    }

    pub fn parse(text: &str) -> Option<Month> {
        let date = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()?;
        (text.len() == 7).then(|| Month::of(date))
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// The first day of the next month.
    pub fn end(self) -> NaiveDate {
        self.first_day()
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(NaiveDate::MAX)
    }

    pub fn previous(self) -> Month {
        Month::of(self.first_day().pred_opt().unwrap_or(NaiveDate::MIN))
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A checked configuration, paths resolved.
#[derive(Debug, Clone)]
pub struct Job {
    pub ledger: PathBuf,
    pub method: Method,
    pub factors: Option<PathBuf>,
    /// The months the run writes, sorted.
    pub months: Vec<Month>,
    pub sources: Vec<SourceConfig>,
    pub postgres: Option<PostgresConfig>,
    /// Remove the ledger files of sources the config no longer names (`run --prune`).
    pub prune: bool,
    /// The config file, for messages.
    pub file: PathBuf,
}

/// Reads and checks the config file; `today` (UTC) sets the default months.
pub fn load(file: &Path, today: NaiveDate) -> Result<Job, Error> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file)
        .map_err(|e| Error::Config(format!("{shown}: cannot read the config file: {e}")))?;
    let config: Config =
        toml::from_str(&text).map_err(|e| Error::Config(located(&shown, &text, &e)))?;
    check(config, file, &text, today)
}

/// A TOML error as `file:line:column: message`.
fn located(shown: &str, text: &str, error: &toml::de::Error) -> String {
    let message = error.message();
    match error.span() {
        Some(span) => {
            let (line, column) = line_column(text, span.start);
            format!("{shown}:{line}:{column}: {message}")
        }
        None => format!("{shown}: {message}"),
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where `[[source]]` number `index` (0-based) starts, for messages.
fn source_line(text: &str, index: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[source]]"))
        .nth(index)
        .map_or(1, |(i, _)| i + 1)
}

fn check(config: Config, file: &Path, text: &str, today: NaiveDate) -> Result<Job, Error> {
    let shown = file.display().to_string();
    let base = file.parent().unwrap_or(Path::new("."));
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let method = match config.ledger.method.as_str() {
        "default" => Method::Default,
        "ccf" => Method::Ccf,
        other => {
            return Err(Error::Config(format!(
                "{shown}: [ledger] method = \"{other}\": expected \"default\" or \"ccf\""
            )));
        }
    };
    let months = match &config.period.months {
        None => {
            let open = Month::of(today);
            vec![open.previous(), open]
        }
        Some(list) if list.is_empty() => {
            return Err(Error::Config(format!(
                "{shown}: [period] months is empty; leave it out for the open month and the \
                 previous one"
            )));
        }
        Some(list) => {
            let mut months = BTreeSet::new();
            for text in list {
                let month = Month::parse(text).ok_or_else(|| {
                    Error::Config(format!(
                        "{shown}: [period] months: \"{text}\" is not a YYYY-MM month"
                    ))
                })?;
                months.insert(month);
            }
            months.into_iter().collect()
        }
    };
    if config.sources.is_empty() {
        return Err(Error::Config(format!(
            "{shown}: no [[source]]: name at least one bill to read"
        )));
    }
    let mut names = BTreeSet::new();
    let mut sources = Vec::new();
    for (i, mut source) in config.sources.into_iter().enumerate() {
        let at = format!(
            "{shown}:{}: [[source]] \"{}\"",
            source_line(text, i),
            source.name
        );
        let valid_name = !source.name.is_empty()
            && source
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(Error::Config(format!(
                "{at}: a source name is letters, digits, `-` and `_` (it names ledger files)"
            )));
        }
        if !names.insert(source.name.clone()) {
            return Err(Error::Config(format!("{at}: the name is used twice")));
        }
        let (required, optional) = source.kind.keys();
        let present = present_keys(&source);
        for key in required {
            if !present.contains(key) {
                return Err(Error::Config(format!(
                    "{at}: kind \"{}\" needs `{key}`",
                    source.kind.as_str()
                )));
            }
        }
        for key in &present {
            if !required.contains(key) && !optional.contains(key) {
                return Err(Error::Config(format!(
                    "{at}: `{key}` does not apply to kind \"{}\" (it takes {})",
                    source.kind.as_str(),
                    required
                        .iter()
                        .chain(optional)
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        if let Some(cost) = &source.cost
            && !source.kind.costs().contains(&cost.as_str())
        {
            return Err(Error::Config(format!(
                "{at}: cost = \"{cost}\": kind \"{}\" takes {}",
                source.kind.as_str(),
                source
                    .kind
                    .costs()
                    .iter()
                    .map(|c| format!("\"{c}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if let Some(path) = &source.path {
            let path = resolve(path);
            let ledger = resolve(&config.ledger.path);
            if absolute(&ledger).starts_with(absolute(&path)) {
                return Err(Error::Config(format!(
                    "{at}: path {} holds the ledger {}: the source would read the ledger's \
                     own files",
                    path.display(),
                    ledger.display()
                )));
            }
            source.path = Some(path);
        }
        match (source.kind, &source.url, &source.path) {
            (SourceKind::AwsS3, Some(url), _) if !url.starts_with("s3://") => {
                return Err(Error::Config(format!(
                    "{at}: url \"{url}\" is not an s3:// URL"
                )));
            }
            (SourceKind::AzureExport, Some(url), _)
                if !url.starts_with("azblob://") && !url.starts_with("https://") =>
            {
                return Err(Error::Config(format!(
                    "{at}: url \"{url}\" is not an azblob:// or https:// Blob storage URL"
                )));
            }
            (SourceKind::AzureExport, Some(_), Some(_)) | (SourceKind::AzureExport, None, None) => {
                return Err(Error::Config(format!(
                    "{at}: kind \"azure-export\" takes either `path` (files on disk) or `url` \
                     (Blob storage)"
                )));
            }
            _ => {}
        }
        if let Some(g) = &source.granularity
            && g != "daily"
            && g != "monthly"
        {
            return Err(Error::Config(format!(
                "{at}: granularity \"{g}\": expected \"daily\" or \"monthly\""
            )));
        }
        sources.push(source);
    }
    if let Some(pg) = &config.postgres {
        let identifier = |part: &str| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        let parts: Vec<&str> = pg.table.split('.').collect();
        if parts.len() > 2 || !parts.iter().all(|p| identifier(p)) {
            return Err(Error::Config(format!(
                "{shown}: [postgres] table = \"{}\": expected `name` or `schema.name` in \
                 lower case letters, digits and `_`",
                pg.table
            )));
        }
        if pg.url_env.is_empty() || pg.url_env.contains("://") {
            return Err(Error::Config(format!(
                "{shown}: [postgres] url_env names the environment variable that holds the \
                 connection URL, not the URL itself"
            )));
        }
    }
    Ok(Job {
        ledger: resolve(&config.ledger.path),
        method,
        factors: config.ledger.factors.as_deref().map(resolve),
        months,
        sources,
        postgres: config.postgres,
        prune: false,
        file: file.to_path_buf(),
    })
}

/// `path` made absolute and without `.`/`..` parts (canonical when it exists).
fn absolute(path: &Path) -> PathBuf {
    if let Ok(real) = path.canonicalize() {
        return real;
    }
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn present_keys(source: &SourceConfig) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut add = |present: bool, key| {
        if present {
            keys.push(key);
        }
    };
    add(source.path.is_some(), "path");
    add(source.url.is_some(), "url");
    add(source.table.is_some(), "table");
    add(source.scope.is_some(), "scope");
    add(source.cost.is_some(), "cost");
    add(source.endpoint_url.is_some(), "endpoint_url");
    add(source.region.is_some(), "region");
    add(source.granularity.is_some(), "granularity");
    add(!source.accounts.is_empty(), "accounts");
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Job, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("carbonledger.toml");
        std::fs::write(&file, text).expect("write");
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).expect("date");
        load(&file, today).map_err(|e| {
            e.to_string()
                .replace(&file.display().to_string(), "carbonledger.toml")
        })
    }

    const GOOD: &str = r#"
[ledger]
path = "ledger"

[[source]]
name = "aws-main"
kind = "aws-cur"
path = "cur/"
cost = "amortized"

[[source]]
name = "gcp"
kind = "bigquery"
table = "p.d.t"
"#;

    #[test]
    fn a_good_file_resolves_paths_and_defaults_to_the_open_and_previous_month() {
        let job = parse(GOOD).expect("valid");
        assert_eq!(job.method, Method::Default);
        let months: Vec<String> = job.months.iter().map(Month::to_string).collect();
        assert_eq!(months, ["2026-11", "2026-12"]);
        assert!(job.ledger.is_absolute() && job.ledger.ends_with("ledger"));
        assert!(
            job.sources[0]
                .path
                .as_ref()
                .is_some_and(|p| p.is_absolute())
        );
    }

    #[test]
    fn a_cost_management_source_needs_a_scope_and_takes_actual_or_amortized() {
        let text = format!(
            "{GOOD}\n[[source]]\nname = \"azure-api\"\nkind = \"cost-management\"\n\
             scope = \"subscriptions/0000\"\ncost = \"amortized\"\n\
             endpoint_url = \"http://127.0.0.1:9\"\n"
        );
        let job = parse(&text).expect("valid");
        let source = &job.sources[2];
        assert_eq!(source.kind, SourceKind::CostManagement);
        assert_eq!(source.scope.as_deref(), Some("subscriptions/0000"));
        let no_scope =
            parse(&text.replace("scope = \"subscriptions/0000\"\n", "")).expect_err("no scope");
        assert!(
            no_scope.contains("kind \"cost-management\" needs `scope`"),
            "{no_scope}"
        );
        let cost = parse(&text.replace("\"amortized\"\nendpoint", "\"blended\"\nendpoint"))
            .expect_err("an AWS cost");
        assert!(cost.contains("takes \"actual\", \"amortized\""), "{cost}");
        let scope_elsewhere =
            parse(&GOOD.replace("table = \"p.d.t\"", "table = \"p.d.t\"\nscope = \"x\""))
                .expect_err("scope on bigquery");
        assert!(
            scope_elsewhere.contains("`scope` does not apply to kind \"bigquery\""),
            "{scope_elsewhere}"
        );
    }

    #[test]
    fn january_defaults_to_december_of_the_year_before() {
        let jan = NaiveDate::from_ymd_opt(2027, 1, 3).expect("date");
        assert_eq!(Month::of(jan).previous().to_string(), "2026-12");
    }

    #[test]
    fn mistakes_name_the_file_line_and_column() {
        let unknown = parse(&GOOD.replace("cost = \"amortized\"", "costs = \"amortized\""))
            .expect_err("unknown key");
        assert!(
            unknown.starts_with("carbonledger.toml:9:1: unknown field `costs`"),
            "{unknown}"
        );

        let kind = parse(&GOOD.replace("aws-cur", "aws-curr")).expect_err("bad kind");
        assert!(
            kind.starts_with("carbonledger.toml:7:8: unknown variant `aws-curr`"),
            "{kind}"
        );

        let missing = parse(&GOOD.replace("table = \"p.d.t\"", "")).expect_err("no table");
        assert!(
            missing.contains(
                "carbonledger.toml:11: [[source]] \"gcp\": kind \"bigquery\" needs `table`"
            ),
            "{missing}"
        );

        let misplaced =
            parse(&GOOD.replace("table = \"p.d.t\"", "table = \"p.d.t\"\npath = \"x\""))
                .expect_err("path on bigquery");
        assert!(
            misplaced.contains("`path` does not apply to kind \"bigquery\""),
            "{misplaced}"
        );

        let twice =
            parse(&GOOD.replace("name = \"gcp\"", "name = \"aws-main\"")).expect_err("duplicate");
        assert!(
            twice.contains("\"aws-main\": the name is used twice"),
            "{twice}"
        );

        let month =
            parse(&format!("{GOOD}\n[period]\nmonths = [\"2026-13\"]\n")).expect_err("bad month");
        assert!(
            month.contains("\"2026-13\" is not a YYYY-MM month"),
            "{month}"
        );

        let method = parse(&GOOD.replace("path = \"ledger\"", "path = \"ledger\"\nmethod = \"x\""))
            .expect_err("bad method");
        assert!(method.contains("method = \"x\""), "{method}");

        let cost = parse(&GOOD.replace("cost = \"amortized\"", "cost = \"net\""))
            .expect_err("a GCP cost on an AWS source");
        assert!(
            cost.contains("\"aws-main\": cost = \"net\": kind \"aws-cur\" takes \"unblended\""),
            "{cost}"
        );

        let nested = parse(&GOOD.replace("path = \"cur/\"", "path = \".\""))
            .expect_err("the ledger inside a source");
        assert!(nested.contains("holds the ledger"), "{nested}");

        let syntax = parse("[ledger\npath = 1").expect_err("syntax");
        assert!(syntax.starts_with("carbonledger.toml:1:"), "{syntax}");
    }
}
