//! The `carbonledger` command line. Data goes to stdout (or `--output`), logs and the
//! reconciliation summary to stderr. Exit codes: 0 success, 1 bad input or a failed run,
//! 2 a bad command line, config or plan file, 3 a reconciliation failure (a bug: nothing is
//! written). `carbonledger gate` alone: 0 within budget, 1 over budget, 2 anything else.

use std::path::PathBuf;
use std::process::ExitCode;

use carbonledger::Error;
use carbonledger::estimate::Method;
use carbonledger::group::GroupKey;
use carbonledger::input::Provider;
use carbonledger::output::Format;
use carbonledger::run::{
    self, BigQueryRequest, CostExplorerRequest, CostManagementRequest, EstimateRequest,
};
use carbonledger_aws::CostMeasure;
use carbonledger_aws_cloud::{Connection, CostMetric, Granularity};
use carbonledger_azure_cloud::cost_management::CostType;
use carbonledger_focus::FocusCost;
use carbonledger_gcp::GcpCost;
use carbonledger_gcp::bigquery::{BigQueryAuth, Granularity as BqGranularity};
use chrono::{Datelike, NaiveDate};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "carbonledger",
    version,
    about = "Turns cloud bills into a carbon ledger"
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Estimate energy and emissions of a bill and write the ledger or its totals.
    Estimate(Box<EstimateArgs>),
    /// The scheduled job: read every source of a config file into the partitioned ledger.
    Run(RunArgs),
    /// Write the partitioned ledger's totals as OpenMetrics (Prometheus) text.
    Metrics(MetricsArgs),
    /// Run SQL (polars' dialect) over the ledger's table `ledger`.
    Query(QueryArgs),
    /// The top services, regions, accounts or providers by emissions or kg CO2e per cost.
    Top(TopArgs),
    /// The monthly ESG report of the partitioned ledger: report.html, report.csv, report.json.
    Report(ReportArgs),
    /// Write a synthetic bill of N lines: legacy CUR, GCP or Azure export (for trials and
    /// benchmarks).
    #[command(name = "generate", visible_alias = "generate-cur")]
    GenerateCur(GenerateArgs),
    /// Plan AI workloads before they are billed: estimate one plan file or compare two.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Check a plan file against carbon budgets: exit 0 within, 1 over, 2 bad input.
    Gate(GateArgs),
    /// Print the method as a SQL view over a billing export table (`README`: the method as SQL).
    Sql(Box<SqlArgs>),
    /// The factor set as tables.
    #[command(subcommand)]
    Factors(FactorsCommand),
}

#[derive(Subcommand)]
enum PlanCommand {
    /// kWh, Scope 2 location and market, Scope 3 embodied, cost, SCI and the assumptions.
    Estimate(PlanEstimateArgs),
    /// Two plans side by side and the difference (B − A).
    Compare(PlanCompareArgs),
}

#[derive(Args)]
struct PlanEstimateArgs {
    /// The plan file (TOML; README "Planning AI workloads").
    plan: PathBuf,
    #[command(flatten)]
    options: PlanOptions,
}

#[derive(Args)]
struct PlanCompareArgs {
    /// Plan A (the reference).
    a: PathBuf,
    /// Plan B (compared with A).
    b: PathBuf,
    #[command(flatten)]
    options: PlanOptions,
}

#[derive(Args)]
struct GateArgs {
    /// The plan file to check.
    plan: PathBuf,
    /// At most this many kg CO2e (Scope 2 location + Scope 3) per run, or per year of service.
    #[arg(long, value_name = "KG")]
    budget_kg: Option<f64>,
    /// At most this many kg CO2e per functional unit (SCI: per run, or per R requests).
    #[arg(long, value_name = "KG")]
    budget_per_unit: Option<f64>,
    /// A baseline plan, for --max-increase-pct.
    #[arg(long, value_name = "FILE", requires = "max_increase_pct")]
    baseline: Option<PathBuf>,
    /// The plan's SCI may exceed the baseline's by at most this percentage.
    #[arg(long, value_name = "PCT", requires = "baseline")]
    max_increase_pct: Option<f64>,
    #[command(flatten)]
    options: PlanOptions,
}

#[derive(Args)]
struct PlanOptions {
    /// The ledger of `carbonledger run`, for the effective hourly rate of plans without
    /// `hourly_price`.
    #[arg(long, value_name = "DIR")]
    ledger: Option<PathBuf>,
    /// `default` (carbonledger's method) or `ccf` (Cloud Carbon Footprint's numbers).
    #[arg(long, value_enum, default_value = "default")]
    method: Method,
    /// A factor-set folder laid out like `factors/default/`, replacing the embedded set.
    #[arg(long, value_name = "DIR")]
    factors: Option<PathBuf>,
    /// `table` (text for people and CI logs) or `json`.
    #[arg(long, value_enum, default_value = "table")]
    format: PlanFormat,
    /// Price the emissions (location-based + embodied) at this much per tonne CO2e.
    #[arg(long, value_name = "PER_TONNE")]
    carbon_price: Option<f64>,
    /// The currency of --carbon-price [default: the plans' cost currency].
    #[arg(long, value_name = "CODE", requires = "carbon_price")]
    carbon_currency: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PlanFormat {
    Table,
    Json,
}

#[derive(Args)]
struct QueryArgs {
    /// The query, e.g. "SELECT service, SUM(scope2_location_kg) AS kg FROM ledger GROUP BY 1".
    sql: String,
    /// A ledger folder of `carbonledger run`, or a ledger Parquet file of `carbonledger
    /// estimate --format parquet`.
    #[arg(long, value_name = "DIR|FILE")]
    ledger: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write there (atomically) instead of stdout; needed for `--format parquet`.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct SqlArgs {
    /// The SQL dialect of the warehouse.
    #[arg(long, value_enum)]
    dialect: carbonledger::sql::Dialect,
    /// The billing export the table holds.
    #[arg(long, value_enum, default_value = "aws")]
    provider: carbonledger::sql::Provider,
    /// The export table as the engine names it (`db.cur`, `catalog.db.cur`).
    #[arg(long, value_name = "NAME")]
    table: String,
    /// The schema (dataset, database) holding the tables of `carbonledger factors export`.
    #[arg(long, value_name = "S")]
    factors_schema: Option<String>,
    #[arg(long, value_enum, default_value = "default")]
    method: Method,
    /// The view to create.
    #[arg(long, value_name = "NAME", default_value = "carbonledger_ledger")]
    view: String,
    /// Print the bare query instead of a CREATE OR REPLACE VIEW statement.
    #[arg(long)]
    query_only: bool,
    /// How the CUR table names its columns (default: snake for athena, else slash).
    #[arg(long, value_enum)]
    cur_names: Option<carbonledger::sql::CurNames>,
    /// The AWS cost measure (default: unblended with --method default, blended with ccf, as
    /// `estimate`).
    #[arg(long, value_enum)]
    cost: Option<carbonledger::sql::AwsCost>,
    /// A column of the table carried into `source_line` (e.g. a row number added at load).
    #[arg(long, value_name = "COLUMN")]
    line_column: Option<String>,
    /// An optional CUR column (legacy name, e.g. `product/regionCode`) the table lacks;
    /// repeat or separate with commas.
    #[arg(long, value_name = "COLUMN", value_delimiter = ',')]
    missing_column: Vec<String>,
}

#[derive(Subcommand)]
enum FactorsCommand {
    /// Write the factor tables the SQL view joins (CSV or Parquet, one file per table).
    Export(FactorsExportArgs),
}

#[derive(Args)]
struct FactorsExportArgs {
    #[arg(long, value_name = "DIR")]
    output_dir: PathBuf,
    #[arg(long, value_enum, default_value = "csv")]
    format: carbonledger::sql::export::TableFormat,
    /// Which embedded set (`default` or `ccf`, as `--method`); ignored with `--factors`.
    #[arg(long, value_enum, default_value = "default")]
    method: Method,
    /// A factor-set folder laid out like `factors/default/`, instead of an embedded set.
    #[arg(long, value_name = "DIR")]
    factors: Option<PathBuf>,
}

#[derive(Args)]
struct TopArgs {
    /// The ledger folder `carbonledger run` writes (`[ledger] path`).
    #[arg(long, value_name = "DIR")]
    ledger: PathBuf,
    #[arg(long, value_enum, default_value = "service")]
    by: carbonledger::top::TopBy,
    /// `emissions` (kg CO2e, Scope 2 location-based + Scope 3) or `intensity` (per cost).
    #[arg(long, value_enum, default_value = "emissions")]
    metric: carbonledger::top::TopMetric,
    /// Only this billing month, YYYY-MM (default: the whole ledger).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    month: Option<String>,
    /// From this billing month on, YYYY-MM (included).
    #[arg(long)]
    from: Option<String>,
    /// Up to this billing month, YYYY-MM (included).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, default_value_t = 10)]
    limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Args)]
struct ReportArgs {
    /// The ledger folder `carbonledger run` writes (`[ledger] path`).
    #[arg(long, value_name = "DIR")]
    ledger: PathBuf,
    /// The billing month to report, YYYY-MM.
    #[arg(long, value_name = "YYYY-MM")]
    month: String,
    /// Where to write report.html, report.csv and report.json (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    output_dir: PathBuf,
    /// The factor-set folder a `[ledger] factors` run used, so the report can list its
    /// sources (the embedded sets are known without it).
    #[arg(long, value_name = "DIR")]
    factors: Option<PathBuf>,
}

#[derive(Args)]
struct MetricsArgs {
    /// The ledger folder `carbonledger run` writes (`[ledger] path`).
    #[arg(long, value_name = "DIR")]
    ledger: PathBuf,
    /// Write there (atomically) instead of stdout, e.g. a textfile collector's `*.prom` file.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    /// The job's configuration (TOML; every key is described in the README).
    #[arg(long, value_name = "FILE", default_value = "carbonledger.toml")]
    config: PathBuf,
    /// Remove the ledger files of sources the config no longer names (closed months' files are
    /// kept under `_carbonledger/versions/`).
    #[arg(long)]
    prune: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("api").args(["cost_explorer", "bigquery", "cost_management"])))]
struct EstimateArgs {
    /// A billing file (CSV, CSV.gz, Parquet), a report folder as the provider writes it, an
    /// AWS export in S3 (`s3://bucket/prefix/report`) or an Azure export in Blob storage
    /// (`azblob://account/container/prefix` or `https://account.blob.core.windows.net/...`).
    #[arg(
        long,
        required_unless_present_any = ["sample", "cost_explorer", "bigquery", "cost_management"],
        conflicts_with_all = ["sample", "cost_explorer", "bigquery", "cost_management"]
    )]
    input: Option<PathBuf>,
    /// Read the bill from the AWS Cost Explorer API (GetCostAndUsage) instead of files.
    #[arg(long, conflicts_with = "sample")]
    cost_explorer: bool,
    /// Read the GCP billing export straight from BigQuery: the export table as
    /// `project.dataset.table` (standard or detailed export), grouped inside BigQuery.
    #[arg(long, value_name = "TABLE", conflicts_with = "sample")]
    bigquery: Option<String>,
    /// Read Azure usage from the Cost Management Query API at this scope:
    /// `subscriptions/ID`, `providers/Microsoft.Billing/billingAccounts/ID`, … (daily cost
    /// and quantity by meter, resource location and subscription; Entra ID credentials).
    #[arg(
        long,
        value_name = "SCOPE",
        conflicts_with_all = ["sample", "cost_explorer", "bigquery"]
    )]
    cost_management: Option<String>,
    /// Cost Management: actual or amortized cost.
    #[arg(
        long,
        value_enum,
        default_value = "actual",
        requires = "cost_management"
    )]
    cost_type: CostTypeArg,
    /// An endpoint replacing https://management.azure.com for --cost-management (a local
    /// test server); requests to it carry no credentials.
    #[arg(
        long,
        value_name = "URL",
        env = "CARBONLEDGER_COST_MANAGEMENT_ENDPOINT"
    )]
    cost_management_endpoint: Option<String>,
    /// Cost Explorer, BigQuery or Cost Management window: `YYYY-MM` (one month) or `FROM..TO`
    /// as `YYYY-MM-DD` with TO exclusive [default: the previous month and the current one up
    /// to today].
    #[arg(long, requires = "api", value_name = "PERIOD")]
    period: Option<String>,
    /// Cost Explorer or BigQuery result granularity.
    #[arg(long, value_enum, default_value = "daily", requires = "api")]
    granularity: GranularityArg,
    /// An endpoint replacing BigQuery's own (an emulator); anonymous credentials unless
    /// --bigquery-auth adc.
    #[arg(long, value_name = "URL", env = "CARBONLEDGER_BIGQUERY_ENDPOINT")]
    bigquery_endpoint: Option<String>,
    /// BigQuery credentials: `adc` (Application Default Credentials) or `anonymous`
    /// [default: anonymous with --bigquery-endpoint, else adc].
    #[arg(long, value_enum, requires = "bigquery")]
    bigquery_auth: Option<BigQueryAuthArg>,
    /// The project that runs (and pays for) the BigQuery query [default: the table's].
    #[arg(long, value_name = "ID", requires = "bigquery")]
    bigquery_project: Option<String>,
    /// BigQuery: only export rows with `export_time` after this RFC 3339 time (incremental
    /// loads; the summary prints the newest export_time read).
    #[arg(long, value_name = "TIME", requires = "bigquery")]
    exported_after: Option<String>,
    /// Linked accounts to query one by one (comma-separated) [default: the caller's bill].
    #[arg(
        long,
        value_delimiter = ',',
        requires = "cost_explorer",
        value_name = "IDS"
    )]
    accounts: Vec<String>,
    /// Folder for Cost Explorer results of closed months
    /// [default: $XDG_CACHE_HOME or ~/.cache, then carbonledger/cost-explorer].
    #[arg(long, value_name = "DIR", requires = "cost_explorer")]
    ce_cache: Option<PathBuf>,
    /// Ask Cost Explorer again for every month, closed or not.
    #[arg(long, requires = "cost_explorer", conflicts_with = "ce_cache")]
    no_ce_cache: bool,
    /// An endpoint replacing AWS's own for S3 and Cost Explorer (S3-compatible stores,
    /// emulators); credentials and region still come from the standard AWS chain.
    #[arg(long, value_name = "URL", env = "CARBONLEDGER_AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// An endpoint replacing Azure Blob storage's own for `azblob://` inputs (Azurite:
    /// `http://127.0.0.1:10000`, the account then being the first path segment).
    /// Credentials: a SAS in CARBONLEDGER_AZURE_SAS, an account key in
    /// CARBONLEDGER_AZURE_STORAGE_KEY or AZURE_STORAGE_KEY, else Entra ID.
    #[arg(long, value_name = "URL", env = "CARBONLEDGER_AZURE_ENDPOINT_URL")]
    azure_endpoint_url: Option<String>,
    /// The AWS region of an `s3://` bucket [default: the chain's (AWS_REGION, the profile),
    /// else us-east-1].
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Run on the synthetic sample CUR embedded in the binary.
    #[arg(long)]
    sample: bool,
    /// The billing format; detected from the headers when left out.
    #[arg(long, value_enum)]
    provider: Option<Provider>,
    /// `default` (carbonledger's method) or `ccf` (Cloud Carbon Footprint's numbers).
    #[arg(long, value_enum, default_value = "default")]
    method: Method,
    /// A factor-set folder laid out like `factors/default/`, replacing the embedded set.
    #[arg(long, value_name = "DIR")]
    factors: Option<PathBuf>,
    /// Totals by any of day, month, account, region, service, usage_class, provider, tag:KEY.
    #[arg(long, value_delimiter = ',', value_name = "KEYS")]
    group_by: Vec<GroupKey>,
    /// Output format. `table` groups by month, service and usage_class unless --group-by.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Write to FILE instead of stdout (written aside and renamed when the run succeeds).
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The AWS cost measure carried into the ledger [default: blended with --method ccf (the
    /// cost CCF divides by), unblended with --method default].
    #[arg(long, value_enum)]
    cost: Option<CostArg>,
    /// The GCP cost carried into the ledger: `gross` (`cost`, before credits), `net` (`cost`
    /// + credits) or `net-except-promotions` [default: gross with --method ccf (what CCF
    /// sums), net with --method default].
    #[arg(long, value_enum)]
    gcp_cost: Option<GcpCostArg>,
    /// The FOCUS cost column carried into the ledger: `effective` (EffectiveCost, amortized),
    /// `billed` (BilledCost, invoiced), `list` (ListCost) or `contracted` (ContractedCost)
    /// [default: billed with --cost unblended or net-unblended, else effective].
    #[arg(long, value_enum)]
    focus_cost: Option<FocusCostArg>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FocusCostArg {
    Effective,
    Billed,
    List,
    Contracted,
}

#[derive(Clone, Copy, ValueEnum)]
enum BigQueryAuthArg {
    Adc,
    Anonymous,
}

#[derive(Clone, Copy, ValueEnum)]
enum GcpCostArg {
    Gross,
    Net,
    NetExceptPromotions,
}

#[derive(Clone, Copy, ValueEnum)]
enum CostTypeArg {
    Actual,
    Amortized,
}

#[derive(Clone, Copy, ValueEnum)]
enum GranularityArg {
    Daily,
    Monthly,
}

#[derive(Clone, Copy, ValueEnum)]
enum CostArg {
    Unblended,
    NetUnblended,
    Blended,
    Amortized,
    /// Cost Explorer only (`NetAmortizedCost`).
    NetAmortized,
}

#[derive(Args)]
struct GenerateArgs {
    /// Which bill: an AWS legacy CUR, a GCP billing export or an Azure EA cost-details export.
    #[arg(long, value_enum, default_value = "cur")]
    kind: SynthKind,
    /// Number of lines (header not counted).
    #[arg(long, default_value_t = 10_000)]
    lines: u64,
    /// Random seed; the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Billing month, YYYY-MM.
    #[arg(long, default_value = "2026-10")]
    month: String,
    /// Where to write the CSV (gzip-compressed when the name ends in `.gz`).
    #[arg(long, short)]
    output: PathBuf,
}

fn synthesize<W: std::io::Write>(
    kind: SynthKind,
    out: &mut W,
    options: &carbonledger::synth::SynthOptions,
) -> std::io::Result<carbonledger::synth::SynthSummary> {
    match kind {
        SynthKind::Cur => carbonledger::synth::write_cur(out, options),
        SynthKind::Gcp => carbonledger::synth::write_gcp(out, options),
        SynthKind::Azure => carbonledger::synth::write_azure(out, options),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SynthKind {
    Cur,
    Gcp,
    Azure,
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let is_gate = matches!(cli.command, Command::Gate(_));
    let result = match cli.command {
        Command::Estimate(args) => estimate(*args),
        Command::Run(args) => run_job(args),
        Command::Metrics(args) => metrics(args),
        Command::Query(args) => query(args),
        Command::Top(args) => top(args),
        Command::Report(args) => report(args),
        Command::GenerateCur(args) => generate(args),
        Command::Plan(PlanCommand::Estimate(args)) => plan_estimate(args),
        Command::Plan(PlanCommand::Compare(args)) => plan_compare(args),
        Command::Gate(args) => gate(args),
        Command::Sql(args) => sql(*args),
        Command::Factors(FactorsCommand::Export(args)) => factors_export(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `carbonledger … | head`: the reader has what it wanted; say nothing, as ripgrep does.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(exit_code(&error, is_gate))
        }
    }
}

/// Whether the error comes from writing to a closed pipe.
fn is_broken_pipe(error: &Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// One glibc malloc arena: with one per polars thread, freed batch memory stays spread
/// over arenas and the heap grows with the input (240 → 330 MiB for 4× the lines, where one
/// arena stays at 245 → 264 MiB; README "Benchmark"). `MALLOC_ARENA_MAX` still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; no other thread runs yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// The one place errors become exit codes. `gate`: 1 means over budget and nothing else, so
/// every other failure of a gate (bad plan, budget, factor set, ledger) is 2.
fn exit_code(error: &Error, gate: bool) -> u8 {
    match error {
        Error::OverBudget(_) => 1,
        _ if gate => 2,
        Error::Plan(_) => 2,
        Error::Source(_) | Error::Factors(_) | Error::Output { .. } | Error::Polars { .. } => 1,
        Error::Locked(_) | Error::Sink(_) | Error::NoData(_) => 1,
        Error::Usage(_) | Error::Config(_) | Error::Query(_) => 2,
        Error::Reconciliation(_) => 3,
        Error::SourcesFailed { .. } => 4,
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only on a terminal: a scheduled job's log file gets plain lines.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Show every row and column of tables. Set before any other thread starts.
    // SAFETY: called at start-up, before the program spawns threads.
    unsafe {
        std::env::set_var("POLARS_FMT_MAX_ROWS", "-1");
        std::env::set_var("POLARS_FMT_MAX_COLS", "-1");
        std::env::set_var("POLARS_FMT_STR_LEN", "80");
        std::env::set_var("POLARS_FMT_TABLE_HIDE_COLUMN_DATA_TYPES", "1");
        std::env::set_var("POLARS_FMT_TABLE_HIDE_DATAFRAME_SHAPE_INFORMATION", "1");
        std::env::set_var("POLARS_FMT_TABLE_CELL_NUMERIC_ALIGNMENT", "RIGHT");
        // Never wrap cells to a terminal width: a table is read whole or piped.
        std::env::set_var("POLARS_TABLE_WIDTH", "65535");
    }
}

fn query(args: QueryArgs) -> Result<(), Error> {
    if args.format == Format::Focus {
        return Err(Error::Usage(
            "query writes table, csv, json or parquet (its result is not a ledger)".into(),
        ));
    }
    // Checked before the query runs, so a long query does not end in a usage error.
    let dest = carbonledger::output::Destination::new(args.output.as_deref(), args.format)?;
    let mut result = carbonledger::query::query(&args.ledger, &args.sql)?;
    carbonledger::output::write_all(&dest, args.format, &mut result)?;
    dest.commit()
}

fn top(args: TopArgs) -> Result<(), Error> {
    for (flag, month) in [
        ("month", &args.month),
        ("from", &args.from),
        ("to", &args.to),
    ] {
        if let Some(month) = month
            && carbonledger::job::config::Month::parse(month).is_none()
        {
            return Err(Error::Usage(format!("--{flag} {month} is not YYYY-MM")));
        }
    }
    let range = match &args.month {
        Some(month) => (Some(month.as_str()), Some(month.as_str())),
        None => (args.from.as_deref(), args.to.as_deref()),
    };
    if let (Some(from), Some(to)) = range
        && from > to
    {
        return Err(Error::Usage(format!("--from {from} is after --to {to}")));
    }
    if matches!(args.format, Format::Parquet | Format::Focus) {
        return Err(Error::Usage("top writes table, csv or json".into()));
    }
    let mut ranked = carbonledger::top::top(&args.ledger, args.by, args.metric, range, args.limit)?;
    let dest = carbonledger::output::Destination::new(None, args.format)?;
    carbonledger::output::write_all(&dest, args.format, &mut ranked)?;
    dest.commit()
}

fn report(args: ReportArgs) -> Result<(), Error> {
    let Some(month) = carbonledger::job::config::Month::parse(&args.month) else {
        return Err(Error::Usage(format!(
            "--month {} is not YYYY-MM",
            args.month
        )));
    };
    if !args.ledger.is_dir() {
        return Err(Error::Usage(format!(
            "--ledger {}: no such folder (the `[ledger] path` of `carbonledger run`)",
            args.ledger.display()
        )));
    }
    let request = carbonledger::report::ReportRequest {
        ledger: &args.ledger,
        month,
        factors: args.factors.as_deref(),
    };
    let report = carbonledger::report::build(&request)?;
    for path in carbonledger::report::write(&report, &args.output_dir)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn sql(args: SqlArgs) -> Result<(), Error> {
    use carbonledger::sql::{CurNames, Dialect, SqlOptions};
    let options = SqlOptions {
        dialect: args.dialect,
        provider: args.provider,
        table: args.table,
        factors_schema: args.factors_schema,
        method: args.method,
        view: (!args.query_only).then_some(args.view),
        cur_names: args.cur_names.unwrap_or(match args.dialect {
            Dialect::Athena => CurNames::Snake,
            _ => CurNames::Slash,
        }),
        aws_cost: args.cost.unwrap_or(match args.method {
            Method::Ccf => carbonledger::sql::AwsCost::Blended,
            Method::Default => carbonledger::sql::AwsCost::Unblended,
        }),
        line_column: args.line_column,
        missing_columns: args.missing_column,
    };
    let text = carbonledger::sql::generate(&options)?;
    use std::io::Write as _;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Output {
            path: "stdout".into(),
            source,
        })
}

fn factors_export(args: FactorsExportArgs) -> Result<(), Error> {
    let factors = match &args.factors {
        Some(dir) => carbonledger_factors::FactorSet::from_dir(dir)?,
        None => carbonledger_factors::FactorSet::embedded(args.method.factor_set_name())?,
    };
    let written = carbonledger::sql::export::write(&factors, &args.output_dir, args.format)?;
    eprintln!(
        "factor set {}: {} tables written to {}",
        factors.label(),
        written.len(),
        args.output_dir.display()
    );
    for path in written {
        println!("{path}");
    }
    Ok(())
}

fn metrics(args: MetricsArgs) -> Result<(), Error> {
    if !args.ledger.is_dir() {
        return Err(Error::Usage(format!(
            "--ledger {}: no such folder (the `[ledger] path` of `carbonledger run`)",
            args.ledger.display()
        )));
    }
    let text = carbonledger::metrics::render(&args.ledger)?;
    let io = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| Error::Output { path, source }
    };
    match &args.output {
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(io(std::path::Path::new("stdout")))?;
        }
        Some(file) => {
            // Written aside and renamed: a collector never reads half a file.
            let dir = file.parent().filter(|p| !p.as_os_str().is_empty());
            let dir = dir.unwrap_or(std::path::Path::new("."));
            let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
            std::io::Write::write_all(&mut temp, text.as_bytes()).map_err(io(file))?;
            temp.persist(file).map_err(|e| io(file)(e.error))?;
        }
    }
    Ok(())
}

fn run_job(args: RunArgs) -> Result<(), Error> {
    let today = chrono::Utc::now().date_naive();
    let mut job = carbonledger::job::config::load(&args.config, today)?;
    job.prune = args.prune;
    carbonledger::job::run(&job, today)?;
    Ok(())
}

fn estimate(args: EstimateArgs) -> Result<(), Error> {
    let cost = match (args.cost, args.method) {
        (Some(CostArg::Unblended), _) | (None, Method::Default) => CostMeasure::Unblended,
        (Some(CostArg::NetUnblended), _) => CostMeasure::NetUnblended,
        (Some(CostArg::Blended), _) | (None, Method::Ccf) => CostMeasure::Blended,
        (Some(CostArg::Amortized), _) => CostMeasure::Amortized,
        (Some(CostArg::NetAmortized), _) if args.cost_explorer => CostMeasure::Amortized,
        (Some(CostArg::NetAmortized), _) => {
            return Err(Error::Usage(
                "--cost net-amortized is a Cost Explorer metric; CUR files have unblended, \
                 net-unblended, blended and amortized cost"
                    .into(),
            ));
        }
    };
    let net_amortized = matches!(args.cost, Some(CostArg::NetAmortized));
    let gcp_cost = match (args.gcp_cost, args.method) {
        (Some(GcpCostArg::Gross), _) | (None, Method::Ccf) => GcpCost::Gross,
        (Some(GcpCostArg::Net), _) | (None, Method::Default) => GcpCost::Net,
        (Some(GcpCostArg::NetExceptPromotions), _) => GcpCost::NetExceptPromotions,
    };
    // FOCUS has no blended cost: an AWS cost flag maps onto the FOCUS column nearest to it
    // (BilledCost is AWS's net unblended cost, EffectiveCost its amortized cost).
    let focus_cost = match (args.focus_cost, args.cost) {
        (Some(FocusCostArg::Effective), _) => FocusCost::Effective,
        (Some(FocusCostArg::Billed), _) => FocusCost::Billed,
        (Some(FocusCostArg::List), _) => FocusCost::List,
        (Some(FocusCostArg::Contracted), _) => FocusCost::Contracted,
        (None, Some(CostArg::Unblended | CostArg::NetUnblended)) => FocusCost::Billed,
        (None, _) => FocusCost::Effective,
    };
    let cost_explorer = if args.cost_explorer {
        let today = chrono::Utc::now().date_naive();
        let (start, end) = period(args.period.as_deref(), today)?;
        Some(CostExplorerRequest {
            start,
            end,
            granularity: match args.granularity {
                GranularityArg::Daily => Granularity::Daily,
                GranularityArg::Monthly => Granularity::Monthly,
            },
            accounts: args.accounts,
            cache_dir: match (args.no_ce_cache, args.ce_cache) {
                (true, _) => None,
                (false, Some(dir)) => Some(dir),
                (false, None) => carbonledger_aws_cloud::cost_explorer::default_cache_dir(),
            },
            metric: net_amortized.then_some(CostMetric::NetAmortized),
        })
    } else {
        None
    };
    let cost_management = match args.cost_management {
        Some(scope) => {
            let today = chrono::Utc::now().date_naive();
            let (start, end) = period(args.period.as_deref(), today)?;
            Some(CostManagementRequest {
                scope,
                start,
                end,
                cost_type: match args.cost_type {
                    CostTypeArg::Actual => CostType::Actual,
                    CostTypeArg::Amortized => CostType::Amortized,
                },
                endpoint: args.cost_management_endpoint,
            })
        }
        None => None,
    };
    let bigquery = match args.bigquery {
        Some(table) => {
            let today = chrono::Utc::now().date_naive();
            let (start, end) = period(args.period.as_deref(), today)?;
            let exported_after = match args.exported_after.as_deref() {
                Some(t) => Some(
                    chrono::DateTime::parse_from_rfc3339(t)
                        .map_err(|_| {
                            Error::Usage(format!(
                                "--exported-after {t} is not an RFC 3339 time \
                                 (2026-11-01T05:00:00Z)"
                            ))
                        })?
                        .to_utc(),
                ),
                None => None,
            };
            let auth = match (args.bigquery_auth, &args.bigquery_endpoint) {
                (Some(BigQueryAuthArg::Adc), _) | (None, None) => BigQueryAuth::ApplicationDefault,
                (Some(BigQueryAuthArg::Anonymous), _) | (None, Some(_)) => BigQueryAuth::Anonymous,
            };
            Some(BigQueryRequest {
                table,
                start,
                end,
                granularity: match args.granularity {
                    GranularityArg::Daily => BqGranularity::Daily,
                    GranularityArg::Monthly => BqGranularity::Monthly,
                },
                exported_after,
                job_project: args.bigquery_project,
                endpoint: args.bigquery_endpoint,
                auth,
            })
        }
        None => None,
    };
    let request = EstimateRequest {
        input: args.input,
        sample: args.sample,
        provider: args.provider,
        method: args.method,
        factors: args.factors,
        group_by: args.group_by,
        format: args.format,
        output: args.output,
        cost,
        gcp_cost,
        focus_cost,
        connection: Connection {
            endpoint_url: args.endpoint_url,
            region: args.region,
            ..Connection::default()
        },
        azure_endpoint: args.azure_endpoint_url,
        cost_explorer,
        bigquery,
        cost_management,
    };
    let reconciliation = run::estimate(&request)?;
    eprint!("{reconciliation}");
    Ok(())
}

/// The Cost Explorer or BigQuery window of `--period` (start, exclusive end); by default the
/// previous month and the current one up to today.
fn period(text: Option<&str>, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), Error> {
    let bad = |t: &str| {
        Error::Usage(format!(
            "--period {t} is neither YYYY-MM nor YYYY-MM-DD..YYYY-MM-DD"
        ))
    };
    let first_of = |year: i32, month: u32| NaiveDate::from_ymd_opt(year, month, 1);
    let next_month = |d: NaiveDate| {
        if d.month() == 12 {
            first_of(d.year() + 1, 1)
        } else {
            first_of(d.year(), d.month() + 1)
        }
    };
    let Some(text) = text else {
        let this_month = first_of(today.year(), today.month()).unwrap_or(today);
        let previous = this_month.pred_opt().unwrap_or(this_month);
        let start = first_of(previous.year(), previous.month()).unwrap_or(previous);
        return Ok((start, today));
    };
    if let Some((from, to)) = text.split_once("..") {
        let day = |t: &str| NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d").map_err(|_| bad(text));
        let (start, end) = (day(from)?, day(to)?);
        if end <= start {
            return Err(Error::Usage(format!(
                "--period {text} ends before it starts"
            )));
        }
        return Ok((start, end));
    }
    let start =
        NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").map_err(|_| bad(text))?;
    let end = next_month(start).ok_or_else(|| bad(text))?;
    Ok((start, end))
}

fn generate(args: GenerateArgs) -> Result<(), Error> {
    let bad_month = || Error::Usage(format!("--month {} is not YYYY-MM", args.month));
    let (year, month) = args.month.split_once('-').ok_or_else(bad_month)?;
    let month = (
        year.parse().map_err(|_| bad_month())?,
        month.parse().map_err(|_| bad_month())?,
    );
    let options = carbonledger::synth::SynthOptions {
        lines: args.lines,
        seed: args.seed,
        month,
        ..Default::default()
    };
    let path = args.output.display().to_string();
    let file = std::fs::File::create(&args.output).map_err(|source| Error::Output {
        path: path.clone(),
        source,
    })?;
    let gzip = args.output.extension().is_some_and(|e| e == "gz");
    let io = |source| Error::Output {
        path: path.clone(),
        source,
    };
    let summary = if gzip {
        let mut out = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::default(),
        );
        let summary = synthesize(args.kind, &mut out, &options).map_err(io)?;
        std::io::Write::flush(&mut out.finish().map_err(io)?).map_err(io)?;
        summary
    } else {
        let mut out = std::io::BufWriter::new(file);
        let summary = synthesize(args.kind, &mut out, &options).map_err(io)?;
        std::io::Write::flush(&mut out).map_err(io)?;
        summary
    };
    eprintln!(
        "wrote {} {:?} lines to {}",
        summary.lines,
        args.kind,
        args.output.display()
    );
    Ok(())
}

/// The factor set of `--method` / `--factors`, and the current UTC year (the plans' default
/// factor year).
fn plan_factors(options: &PlanOptions) -> Result<(carbonledger_factors::FactorSet, i32), Error> {
    let factors = match &options.factors {
        Some(dir) => carbonledger_factors::FactorSet::from_dir(dir)?,
        None => carbonledger_factors::FactorSet::embedded(options.method.factor_set_name())?,
    };
    Ok((factors, chrono::Utc::now().year()))
}

fn assess_plan(
    file: &std::path::Path,
    options: &PlanOptions,
) -> Result<carbonledger::plan::Assessment, Error> {
    let (factors, year) = plan_factors(options)?;
    let plan = carbonledger::plan::load(file, year)?;
    let mut assessment =
        carbonledger::plan::assess(&plan, &factors, options.method, options.ledger.as_deref())?;
    if let Some(price) = options.carbon_price {
        if !price.is_finite() || price < 0.0 {
            return Err(Error::Usage(format!(
                "--carbon-price {price}: a price is zero or more"
            )));
        }
        let currency = options
            .carbon_currency
            .clone()
            .or_else(|| assessment.currency.clone())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--carbon-price needs --carbon-currency: {} has no cost currency",
                    file.display()
                ))
            })?;
        assessment.set_carbon_price(price, &currency);
    }
    Ok(assessment)
}

fn print_stdout(text: &str) -> Result<(), Error> {
    use std::io::Write as _;
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Output {
            path: "stdout".into(),
            source,
        })
}

fn json_text(value: &impl serde::Serialize) -> Result<String, Error> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Output {
        path: "stdout".into(),
        source: std::io::Error::other(e),
    })?;
    text.push('\n');
    Ok(text)
}

fn plan_estimate(args: PlanEstimateArgs) -> Result<(), Error> {
    let a = assess_plan(&args.plan, &args.options)?;
    match args.options.format {
        PlanFormat::Table => print_stdout(&carbonledger::plan::report::estimate_text(&a)),
        PlanFormat::Json => print_stdout(&json_text(&a)?),
    }
}

fn plan_compare(args: PlanCompareArgs) -> Result<(), Error> {
    let a = assess_plan(&args.a, &args.options)?;
    let b = assess_plan(&args.b, &args.options)?;
    carbonledger::plan::report::comparable(&a, &b)?;
    match args.options.format {
        PlanFormat::Table => print_stdout(&carbonledger::plan::report::compare_text(&a, &b)),
        PlanFormat::Json => {
            let figures = carbonledger::plan::report::figures(&a, &b);
            let both = carbonledger::plan::report::Comparison {
                a: &a,
                b: &b,
                figures,
            };
            print_stdout(&json_text(&both)?)
        }
    }
}

fn gate(args: GateArgs) -> Result<(), Error> {
    let plan = assess_plan(&args.plan, &args.options)?;
    let baseline = match &args.baseline {
        Some(file) => Some(assess_plan(file, &args.options)?),
        None => None,
    };
    let budgets = carbonledger::plan::gate::Budgets {
        budget_kg: args.budget_kg,
        budget_per_unit: args.budget_per_unit,
        max_increase_pct: args.max_increase_pct,
    };
    let verdict = carbonledger::plan::gate::evaluate(plan, baseline, budgets)?;
    match args.options.format {
        PlanFormat::Table => {
            print_stdout(&verdict.text())?;
            // In GitHub Actions, an annotation on the run's summary page too.
            if !verdict.pass && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true") {
                print_stdout(&format!(
                    "::error title=carbon gate::{}\n",
                    verdict.headline()
                ))?;
            }
        }
        PlanFormat::Json => print_stdout(&json_text(&verdict)?)?,
    }
    if verdict.pass {
        Ok(())
    } else {
        Err(Error::OverBudget(verdict.headline()))
    }
}
