//! Benchmark of `carbonledger estimate` against a bare polars scan of the same bill, for every
//! reader, at one or more sizes.
//!
//! Run (release build of the binary and of this test):
//!
//! ```text
//! BENCH_LINES=1000000,10000000 cargo test --release --test bench_estimate -- --ignored --nocapture
//! ```
//!
//! * `BENCH_LINES`: comma-separated sizes in lines (default 1,000,000). `BENCH_CASES`:
//!   comma-separated case names (default all): `cur-csv`, `cur-csv-gz`, `cur-parquet`,
//!   `gcp-csv`, `azure-csv`, `focus-csv`. `BENCH_DIR`: where inputs are written and reused
//!   (default `$TMPDIR/carbonledger-bench`; 10M lines of every case take about 30 GB).
//! * Inputs, deterministic (seed 42, billing month 2026-10): the synthetic legacy CUR of
//!   `carbonledger::synth::write_cur` (about 850 bytes per line) as CSV, as CSV.gz, and as
//!   Parquet (converted here by polars: the CSV's columns, cost and amount columns as Float64,
//!   the others as text, legacy column names); the synthetic GCP billing export and Azure EA
//!   export of `carbonledger::synth` (CSV); and a FOCUS 1.2 file, the synthetic CUR written by
//!   `carbonledger estimate --format focus` (CSV).
//! * Measured, each command in its own freshly spawned helper process (this test binary
//!   re-executed), so that peak memory belongs to that command alone:
//!   * `estimate`: wall time (seconds) of `carbonledger estimate --input <file> --provider P
//!     --format parquet --output <tmp>/ledger.parquet`, its peak resident set size
//!     (`getrusage(RUSAGE_CHILDREN)`, MiB = 2^20 bytes), and its peak anonymous memory
//!     (`RssAnon` of `/proc/<pid>/status`, sampled every 10 ms: the RSS without the file pages
//!     of memory-mapped inputs, which the kernel reclaims under pressure).
//!   * `scan`: a bare polars lazy scan of the same file, every column as text (CSV) or as
//!     stored (Parquet), the cost column cast to Float64 and summed per service column,
//!     streaming engine. A `.gz` input is first decompressed into a temporary file with
//!     flate2, as the readers do, and that time is counted.
//!   * `limit`: at the largest size, `estimate` again inside a memory cgroup limited to 1 GiB
//!     (cgroup v1 `memory.limit_in_bytes` or v2 `memory.max`, when this process may create
//!     one, e.g. as root): whether it completes, and the cgroup's peak usage (page cache
//!     included, reclaimed under the limit). Skipped with a note otherwise.
//! * Targets (printed as PASS/MISS, never failing the test): estimate wall time ≤ 1.5 × scan
//!   wall time, and peak memory ≤ 1 GiB at every size (judged on the anonymous peak, with the
//!   1 GiB cgroup run as the proof where it ran).
//! * Checked: every command succeeds, the ledger has one row per input line, the scan counts
//!   every input line.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use carbonledger::synth::{SynthOptions, write_azure, write_cur, write_gcp};
use polars::prelude::*;

const SEED: u64 = 42;
const DEFAULT_LINES: u64 = 1_000_000;
const TARGET_RATIO: f64 = 1.5;
/// The memory target, MiB.
const TARGET_MIB: f64 = 1024.0;

/// Environment of the helper process: which command to measure, on which input.
const CHILD_MODE: &str = "CARBONLEDGER_BENCH_CHILD";
const CHILD_CASE: &str = "CARBONLEDGER_BENCH_CASE";
const CHILD_INPUT: &str = "CARBONLEDGER_BENCH_INPUT";
const CHILD_OUTPUT: &str = "CARBONLEDGER_BENCH_OUTPUT";
/// Prefix of the helper's result line on stdout.
const RESULT_TAG: &str = "BENCH_CHILD_RESULT";

/// One reader under test: the input's shape, the provider flag, and what the bare scan groups.
#[derive(Debug, Clone, Copy)]
struct Case {
    name: &'static str,
    provider: &'static str,
    /// File name suffix of the input.
    suffix: &'static str,
    service: &'static str,
    cost: &'static str,
    /// More `estimate` arguments.
    extra: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "cur-csv",
        provider: "aws",
        suffix: "csv",
        service: "lineItem/ProductCode",
        cost: "lineItem/UnblendedCost",
        extra: &[],
    },
    Case {
        name: "cur-csv-gz",
        provider: "aws",
        suffix: "csv.gz",
        service: "lineItem/ProductCode",
        cost: "lineItem/UnblendedCost",
        extra: &[],
    },
    Case {
        name: "cur-parquet",
        provider: "aws",
        suffix: "parquet",
        service: "lineItem/ProductCode",
        cost: "lineItem/UnblendedCost",
        extra: &[],
    },
    Case {
        name: "gcp-csv",
        provider: "gcp",
        suffix: "csv",
        service: "service.description",
        cost: "cost",
        extra: &[],
    },
    Case {
        name: "azure-csv",
        provider: "azure",
        suffix: "csv",
        service: "MeterCategory",
        cost: "Cost",
        extra: &[],
    },
    Case {
        name: "focus-csv",
        provider: "focus",
        suffix: "csv",
        service: "ServiceName",
        cost: "BilledCost",
        // The FOCUS output fills the cost column of its measure only (README, "The ledger as
        // FOCUS"): the unblended CUR cost is in BilledCost.
        extra: &["--focus-cost", "billed"],
    },
];

#[derive(Debug, Clone, Copy, Default)]
struct Measured {
    wall_s: f64,
    max_rss_kib: u64,
    /// Peak anonymous resident memory (heap and stacks), KiB.
    max_anon_kib: u64,
    /// Rows the scan counted (scan only).
    rows: u64,
}

impl Measured {
    fn rss_mib(&self) -> f64 {
        self.max_rss_kib as f64 / 1024.0
    }

    fn anon_mib(&self) -> f64 {
        self.max_anon_kib as f64 / 1024.0
    }
}

/// One row of the report.
struct Row {
    case: &'static str,
    lines: u64,
    size_mib: f64,
    estimate: Measured,
    scan: Measured,
    ledger_rows: u64,
}

#[test]
#[ignore = "benchmark: cargo test --release --test bench_estimate -- --ignored --nocapture"]
fn bench_estimate() {
    let sizes: Vec<u64> = match std::env::var("BENCH_LINES") {
        Ok(v) => v
            .split(',')
            .map(|n| {
                n.trim()
                    .replace('_', "")
                    .parse()
                    .expect("BENCH_LINES: numbers of lines")
            })
            .collect(),
        Err(_) => vec![DEFAULT_LINES],
    };
    let wanted: Vec<String> = std::env::var("BENCH_CASES")
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    let cases: Vec<Case> = CASES
        .iter()
        .filter(|c| wanted.is_empty() || wanted.iter().any(|w| w == c.name))
        .copied()
        .collect();
    assert!(!cases.is_empty(), "BENCH_CASES names no case of {CASES:?}");
    let dir = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("carbonledger-bench"));
    std::fs::create_dir_all(&dir).expect("create bench dir");
    let out_dir = tempfile::tempdir_in(&dir).expect("temp dir");
    let ledger = out_dir.path().join("ledger.parquet");
    let largest = sizes.iter().copied().max().unwrap_or(DEFAULT_LINES);

    let mut rows = Vec::new();
    let mut limited = Vec::new();
    for &lines in &sizes {
        for case in &cases {
            let input = input_file(&dir, case, lines);
            let estimate = run_child("estimate", case, &input, &ledger);
            let ledger_rows = parquet_rows(&ledger);
            let scan = run_child("scan", case, &input, &ledger);
            let size_mib = std::fs::metadata(&input).map(|m| m.len()).unwrap_or(0) as f64 / MIB;
            if lines == largest {
                limited.push((case.name, lines, limited_run(case, &input, &ledger)));
            }
            rows.push(Row {
                case: case.name,
                lines,
                size_mib,
                estimate,
                scan,
                ledger_rows,
            });
        }
    }
    report(&rows, &limited);

    // Correctness, after the report so that a failure still shows the numbers.
    for row in &rows {
        assert_eq!(
            row.ledger_rows, row.lines,
            "{}: one ledger row per line",
            row.case
        );
        assert_eq!(
            row.scan.rows, row.lines,
            "{}: the scan sees every line",
            row.case
        );
    }
}

fn report(rows: &[Row], limited: &[(&str, u64, Limited)]) {
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    println!();
    println!("==================== carbonledger estimate benchmark ====================");
    if cfg!(debug_assertions) {
        println!("NOTE: debug build; timings are not representative (use --release)");
    }
    println!(
        "estimate: {} estimate --input <file> --provider P --format parquet --output <tmp>",
        env!("CARGO_BIN_EXE_carbonledger")
    );
    println!("scan:     polars lazy scan, cost summed per service, streaming engine");
    println!();
    println!(
        "{:<12} {:>10} {:>9} {:>9} {:>9} {:>10} {:>6} {:>9} {:>9} {:>8}  verdict",
        "case",
        "lines",
        "MiB",
        "est s",
        "scan s",
        "lines/s",
        "ratio",
        "anon MiB",
        "RSS MiB",
        "scan RSS"
    );
    for r in rows {
        let ratio = r.estimate.wall_s / r.scan.wall_s;
        let memory_ok = r.estimate.anon_mib() <= TARGET_MIB;
        println!(
            "{:<12} {:>10} {:>9.0} {:>9.2} {:>9.2} {:>10.0} {:>6.2} {:>9.1} {:>9.1} {:>8.1}  \
             speed {} memory {}",
            r.case,
            r.lines,
            r.size_mib,
            r.estimate.wall_s,
            r.scan.wall_s,
            r.lines as f64 / r.estimate.wall_s,
            ratio,
            r.estimate.anon_mib(),
            r.estimate.rss_mib(),
            r.scan.rss_mib(),
            verdict(ratio <= TARGET_RATIO),
            verdict(memory_ok),
        );
    }
    println!();
    println!(
        "targets: ratio = estimate s / scan s <= {TARGET_RATIO}; estimate peak anonymous \
         memory <= {TARGET_MIB} MiB"
    );
    for (case, lines, outcome) in limited {
        match outcome {
            Limited::Ran { ok, peak_mib } => println!(
                "1 GiB cgroup: {case} at {lines} lines {} (cgroup peak {peak_mib:.1} MiB, page \
                 cache included)  {}",
                if *ok { "completed" } else { "FAILED" },
                verdict(*ok)
            ),
            Limited::Skipped(why) => println!("1 GiB cgroup: {case} not checked: {why}"),
        }
    }
    println!("==========================================================================");
}

/// The helper process: measures one command and prints one result line. Does nothing unless
/// started by [`run_child`].
#[test]
#[ignore = "helper of bench_estimate"]
fn bench_child() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let case_name = std::env::var(CHILD_CASE).expect("case");
    let case = *CASES
        .iter()
        .find(|c| c.name == case_name)
        .expect("known case");
    let input = PathBuf::from(std::env::var_os(CHILD_INPUT).expect("input path"));
    let output = PathBuf::from(std::env::var_os(CHILD_OUTPUT).expect("output path"));
    let measured = match mode.as_str() {
        "estimate" => {
            let started = Instant::now();
            let mut child = estimate_command(&case, &input, &output)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn carbonledger");
            let mut pipe = child.stderr.take().expect("stderr pipe");
            let reader = std::thread::spawn(move || {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut pipe, &mut text).expect("stderr");
                text
            });
            let status_path = format!("/proc/{}/status", child.id());
            let mut max_anon_kib = 0;
            let status = loop {
                max_anon_kib = max_anon_kib.max(rss_anon_kib(&status_path));
                if let Some(status) = child.try_wait().expect("wait") {
                    break status;
                }
                std::thread::sleep(SAMPLE_EVERY);
            };
            let wall_s = started.elapsed().as_secs_f64();
            let stderr = reader.join().expect("stderr reader");
            assert!(status.success(), "estimate failed ({status}):\n{stderr}");
            Measured {
                wall_s,
                max_rss_kib: max_rss_kib(libc::RUSAGE_CHILDREN),
                max_anon_kib,
                rows: 0,
            }
        }
        "scan" => {
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = std::sync::Arc::clone(&done);
            let sampler = std::thread::spawn(move || {
                let mut peak = 0;
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    peak = peak.max(rss_anon_kib("/proc/self/status"));
                    std::thread::sleep(SAMPLE_EVERY);
                }
                peak.max(rss_anon_kib("/proc/self/status"))
            });
            let started = Instant::now();
            let totals = polars_scan(&case, &input).expect("polars scan");
            let wall_s = started.elapsed().as_secs_f64();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            let max_anon_kib = sampler.join().expect("sampler");
            let rows_column = totals
                .column("rows")
                .and_then(|c| c.cast(&DataType::UInt64))
                .expect("rows");
            let rows = rows_column.u64().expect("u64 rows").sum().unwrap_or(0);
            Measured {
                wall_s,
                max_rss_kib: max_rss_kib(libc::RUSAGE_SELF),
                max_anon_kib,
                rows,
            }
        }
        other => panic!("unknown {CHILD_MODE}={other}"),
    };
    println!(
        // On its own line: the harness has already printed "test bench_child ... ".
        "\n{RESULT_TAG} {} {} {} {}",
        measured.wall_s, measured.max_rss_kib, measured.max_anon_kib, measured.rows
    );
}

fn estimate_command(case: &Case, input: &Path, output: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_carbonledger"));
    command
        .arg("estimate")
        .arg("--input")
        .arg(input)
        .args(["--provider", case.provider])
        .args(case.extra)
        .args(["--format", "parquet", "--output"])
        .arg(output);
    command
}

const MIB: f64 = 1024.0 * 1024.0;

/// Generates (or reuses) the input of `case` with `lines` lines in `dir`.
fn input_file(dir: &Path, case: &Case, lines: u64) -> PathBuf {
    let path = dir.join(format!(
        "{}-{lines}-seed{SEED}-v2.{}",
        case.name, case.suffix
    ));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
        return path;
    }
    let started = Instant::now();
    let partial = dir.join(format!(".partial-{}-{lines}", case.name));
    let options = SynthOptions {
        lines,
        seed: SEED,
        ..SynthOptions::default()
    };
    let create = || std::io::BufWriter::new(std::fs::File::create(&partial).expect("create"));
    match case.name {
        "cur-csv" => {
            write_cur(create(), &options).expect("write CUR");
        }
        "cur-csv-gz" => {
            let mut gz = flate2::write::GzEncoder::new(create(), flate2::Compression::default());
            write_cur(&mut gz, &options).expect("write CUR");
            gz.finish().expect("gzip").flush().expect("flush");
        }
        "cur-parquet" => {
            let csv = input_file(dir, &CASES[0], lines);
            cur_to_parquet(&csv, &partial).expect("CUR as Parquet");
        }
        "gcp-csv" => {
            write_gcp(create(), &options).expect("write GCP export");
        }
        "azure-csv" => {
            write_azure(create(), &options).expect("write Azure export");
        }
        "focus-csv" => {
            let csv = input_file(dir, &CASES[0], lines);
            let status = Command::new(env!("CARGO_BIN_EXE_carbonledger"))
                .arg("estimate")
                .arg("--input")
                .arg(&csv)
                .args(["--provider", "aws", "--format", "focus", "--output"])
                .arg(&partial)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("estimate --format focus");
            assert!(status.success(), "writing the FOCUS input failed");
        }
        other => panic!("no generator for {other}"),
    }
    std::fs::rename(&partial, &path).expect("rename input");
    eprintln!(
        "generated {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    path
}

/// The CUR CSV as Parquet: legacy names, amounts and costs as Float64, the rest as text.
fn cur_to_parquet(csv: &Path, parquet: &Path) -> PolarsResult<()> {
    let lf = LazyCsvReader::new(PlRefPath::try_from_path(csv)?)
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .finish()?;
    let numeric =
        |name: &str| name.ends_with("Cost") || name.ends_with("Rate") || name.ends_with("Amount");
    let schema = lf.clone().collect_schema()?;
    let columns: Vec<Expr> = schema
        .iter_names()
        .map(|name| {
            if name.starts_with("lineItem/") && numeric(name) {
                col(name.clone()).cast(DataType::Float64)
            } else {
                col(name.clone())
            }
        })
        .collect();
    let target = SinkTarget::Path(PlRefPath::try_from_path(parquet)?);
    lf.select(columns)
        .sink(
            SinkDestination::File { target },
            FileWriteFormat::Parquet(Arc::new(ParquetWriteOptions::default())),
            UnifiedSinkArgs::default(),
        )?
        .collect_with_engine(Engine::Streaming)?;
    Ok(())
}

/// Re-executes this test binary to measure `mode` on `input` in a fresh process.
fn run_child(mode: &str, case: &Case, input: &Path, output: &Path) -> Measured {
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new(exe)
        .args([
            "bench_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_MODE, mode)
        .env(CHILD_CASE, case.name)
        .env(CHILD_INPUT, input)
        .env(CHILD_OUTPUT, output)
        .output()
        .expect("spawn helper");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{mode} helper failed:\n{stdout}\n{stderr}"
    );
    let line = stdout
        .lines()
        .find_map(|l| l.find(RESULT_TAG).map(|at| &l[at + RESULT_TAG.len()..]))
        .unwrap_or_else(|| panic!("no result from the {mode} helper:\n{stdout}\n{stderr}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.len(), 4, "bad result line {line:?}");
    Measured {
        wall_s: fields[0].parse().expect("wall seconds"),
        max_rss_kib: fields[1].parse().expect("max rss"),
        max_anon_kib: fields[2].parse().expect("max anon"),
        rows: fields[3].parse().expect("rows"),
    }
}

/// Outcome of the run under a 1 GiB memory cgroup.
enum Limited {
    Ran { ok: bool, peak_mib: f64 },
    Skipped(String),
}

/// `estimate` inside a new memory cgroup limited to 1 GiB (v1 or v2), removed afterwards.
fn limited_run(case: &Case, input: &Path, output: &Path) -> Limited {
    let name = format!("carbonledger-bench-{}", std::process::id());
    let (dir, limit_file, peak_file) = if Path::new("/sys/fs/cgroup/memory").is_dir() {
        (
            Path::new("/sys/fs/cgroup/memory").join(&name),
            "memory.limit_in_bytes",
            "memory.max_usage_in_bytes",
        )
    } else if Path::new("/sys/fs/cgroup/cgroup.controllers").is_file() {
        (
            Path::new("/sys/fs/cgroup").join(&name),
            "memory.max",
            "memory.peak",
        )
    } else {
        return Limited::Skipped("no memory cgroup hierarchy".into());
    };
    if let Err(e) = std::fs::create_dir(&dir) {
        return Limited::Skipped(format!("cannot create {}: {e}", dir.display()));
    }
    let limit = (TARGET_MIB as u64 * 1024 * 1024).to_string();
    if let Err(e) = std::fs::write(dir.join(limit_file), &limit) {
        let _ = std::fs::remove_dir(&dir);
        return Limited::Skipped(format!("cannot set {limit_file}: {e}"));
    }
    // The shell joins the cgroup, then becomes carbonledger.
    let procs = dir.join("cgroup.procs");
    let estimate = estimate_command(case, input, output);
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("echo $$ > \"$0\" && exec \"$@\"")
        .arg(&procs)
        .arg(estimate.get_program())
        .args(estimate.get_args())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let ok = command.status().is_ok_and(|s| s.success());
    let peak_mib = std::fs::read_to_string(dir.join(peak_file))
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .unwrap_or(f64::NAN)
        / MIB;
    let _ = std::fs::remove_dir(&dir);
    Limited::Ran { ok, peak_mib }
}

/// How often the helper samples a process's anonymous memory.
const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

/// `RssAnon` of a `/proc/<pid>/status` file, KiB (0 once the process is gone).
fn rss_anon_kib(status_path: &str) -> u64 {
    std::fs::read_to_string(status_path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Peak resident set size in KiB of this process or of its waited-for children.
fn max_rss_kib(who: libc::c_int) -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one `rusage` into memory we own; it was zeroed beforehand.
    let rc = unsafe { libc::getrusage(who, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage failed");
    // SAFETY: zero-initialised and then filled by getrusage.
    let usage = unsafe { usage.assume_init() };
    let raw = u64::try_from(usage.ru_maxrss).unwrap_or(0);
    // Linux reports KiB, macOS bytes.
    if cfg!(target_os = "macos") {
        raw / 1024
    } else {
        raw
    }
}

/// The reference: cost per service with a bare streaming polars scan.
fn polars_scan(case: &Case, input: &Path) -> PolarsResult<DataFrame> {
    // A `.gz` input is decompressed first, as the readers do; the temporary file lives until
    // the scan is collected.
    let mut _plain = None;
    let mut path = input.to_path_buf();
    if case.suffix.ends_with(".gz") {
        let mut temp = tempfile::Builder::new()
            .suffix(".csv")
            .tempfile_in(input.parent().unwrap_or(Path::new(".")))
            .map_err(PolarsError::from)?;
        let mut gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            std::fs::File::open(input).map_err(PolarsError::from)?,
        ));
        std::io::copy(&mut gz, temp.as_file_mut()).map_err(PolarsError::from)?;
        path = temp.path().to_path_buf();
        _plain = Some(temp);
    }
    let lf = if case.suffix == "parquet" {
        LazyFrame::scan_parquet(PlRefPath::try_from_path(&path)?, Default::default())?
    } else {
        LazyCsvReader::new(PlRefPath::try_from_path(&path)?)
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .with_glob(false)
            .finish()?
    };
    Ok(lf
        .group_by([col(case.service)])
        .agg([
            col(case.cost).cast(DataType::Float64).sum().alias("cost"),
            len().alias("rows"),
        ])
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single())
}

fn parquet_rows(path: &Path) -> u64 {
    let count = || -> PolarsResult<u64> {
        let df = LazyFrame::scan_parquet(PlRefPath::try_from_path(path)?, Default::default())?
            .select([len().alias("rows")])
            .collect()?;
        Ok(df.column("rows")?.get(0)?.extract::<u64>().unwrap_or(0))
    };
    count().unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
