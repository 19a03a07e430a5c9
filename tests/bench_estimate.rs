//! Benchmark of `carbonledger estimate` against a bare polars scan of the same CUR.
//!
//! Run (release build of the binary and of this test):
//!
//! ```text
//! BENCH_LINES=1000000 cargo test --release --test bench_estimate -- --ignored --nocapture
//! ```
//!
//! * Input: a synthetic legacy CUR of `BENCH_LINES` lines (default 1,000,000; about 850 bytes
//!   per line) written by `carbonledger::synth` with seed 42 into `BENCH_DIR` (default
//!   `$TMPDIR/carbonledger-bench`) and reused by later runs; also one of `BENCH_LINES / 4` lines.
//! * Measured, each command in its own freshly spawned helper process (this test binary
//!   re-executed), so that the peak resident set size (maximum RSS, MiB = 2^20 bytes) belongs
//!   to that command alone:
//!   * `estimate`: wall time (seconds) of the binary `carbonledger estimate --input <csv>
//!     --provider aws --format parquet --output <dir>/ledger.parquet`, and its peak RSS from
//!     `getrusage(RUSAGE_CHILDREN)` after it exited.
//!   * `scan`: wall time and peak RSS (`getrusage(RUSAGE_SELF)`, which includes the few MiB of
//!     the test harness) of a polars lazy CSV scan with every column read as String (schema
//!     inference off, as the AWS connector reads), `lineItem/UnblendedCost` cast to Float64 and
//!     summed per `lineItem/ProductCode`, collected with the streaming engine.
//!   Also the peak anonymous memory (`RssAnon` of `/proc/<pid>/status`, sampled every 10 ms):
//!   the RSS without the file-backed pages of the memory-mapped input CSV, which polars maps
//!   whole, so that RSS grows with the file even for the bare scan.
//! * Targets (printed as PASS/MISS, never failing the test): estimate wall time ≤ 1.5 × scan
//!   wall time at N lines, and flat memory: estimate peak anonymous memory at N ≤ 1.25 × its
//!   peak at N/4 (peak RSS is printed beside it).
//! * Checked: both commands succeed, the ledger has one row per input line, and the scan
//!   counts every input line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use carbonledger::synth::{SynthOptions, write_cur};
use polars::prelude::*;

const SEED: u64 = 42;
const DEFAULT_LINES: u64 = 1_000_000;
const TARGET_RATIO: f64 = 1.5;
const TARGET_MEMORY_GROWTH: f64 = 1.25;

/// Environment of the helper process: which command to measure, on which input.
const CHILD_MODE: &str = "CARBONLEDGER_BENCH_CHILD";
const CHILD_INPUT: &str = "CARBONLEDGER_BENCH_INPUT";
const CHILD_OUTPUT: &str = "CARBONLEDGER_BENCH_OUTPUT";
/// Prefix of the helper's result line on stdout.
const RESULT_TAG: &str = "BENCH_CHILD_RESULT";

#[derive(Debug, Clone, Copy)]
struct Measured {
    wall_s: f64,
    max_rss_kib: u64,
    /// Peak anonymous resident memory (heap and stacks, `RssAnon` of /proc), KiB: the RSS
    /// without the file pages of the memory-mapped input, which grow with the file and which
    /// the kernel reclaims under pressure.
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

#[test]
#[ignore = "benchmark: cargo test --release --test bench_estimate -- --ignored --nocapture"]
fn bench_estimate() {
    let lines: u64 = match std::env::var("BENCH_LINES") {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .expect("BENCH_LINES is a number of lines"),
        Err(_) => DEFAULT_LINES,
    };
    assert!(lines >= 4, "BENCH_LINES must be at least 4");
    let quarter = lines / 4;
    let dir = std::env::var_os("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("carbonledger-bench"));
    std::fs::create_dir_all(&dir).expect("create bench dir");
    let out_dir = tempfile::tempdir().expect("temp dir");

    let (full, full_note) = cur_file(&dir, lines);
    let (small, small_note) = cur_file(&dir, quarter);

    let ledger_small = out_dir.path().join("ledger-quarter.parquet");
    let ledger = out_dir.path().join("ledger.parquet");
    let est_small = run_child("estimate", &small, &ledger_small);
    let scan_small = run_child("scan", &small, &ledger_small);
    let est = run_child("estimate", &full, &ledger);
    let scan = run_child("scan", &full, &ledger);

    let ledger_rows = parquet_rows(&ledger);

    let size_mib = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0) as f64 / MIB;
    let ratio = est.wall_s / scan.wall_s;
    let growth = est.anon_mib() / est_small.anon_mib();
    let rss_growth = est.rss_mib() / est_small.rss_mib();
    let scan_growth = scan.rss_mib() / scan_small.rss_mib();
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };

    println!();
    println!("==================== carbonledger estimate benchmark ====================");
    if cfg!(debug_assertions) {
        println!("NOTE: debug build; timings are not representative (use --release)");
    }
    println!(
        "input    {} lines, {:.1} MiB, seed {SEED}: {}",
        lines,
        size_mib(&full),
        full.display()
    );
    println!("         ({full_note})");
    println!(
        "quarter  {} lines, {:.1} MiB: {} ({small_note})",
        quarter,
        size_mib(&small),
        small.display()
    );
    println!(
        "estimate {} estimate --input <csv> --provider aws --format parquet --output <tmp>",
        env!("CARGO_BIN_EXE_carbonledger")
    );
    println!("scan     polars LazyCsvReader, all columns String (infer_schema_length = 0),");
    println!("         UnblendedCost cast to Float64, sum by lineItem/ProductCode, streaming");
    println!();
    println!(
        "{:<10} {:>10} {:>10} {:>14} {:>14} {:>15}",
        "command", "lines", "wall s", "lines/s", "peak RSS MiB", "peak anon MiB"
    );
    for (name, n, m) in [
        ("estimate", lines, est),
        ("scan", lines, scan),
        ("estimate", quarter, est_small),
        ("scan", quarter, scan_small),
    ] {
        println!(
            "{:<10} {:>10} {:>10.2} {:>14.0} {:>14.1} {:>15.1}",
            name,
            n,
            m.wall_s,
            n as f64 / m.wall_s,
            m.rss_mib(),
            m.anon_mib()
        );
    }
    println!();
    println!("ledger rows: {ledger_rows} (expected {lines}, one per input line)");
    println!(
        "estimate / scan wall time at N/4:      {:.2}  (reference)",
        est_small.wall_s / scan_small.wall_s
    );
    println!(
        "estimate / scan wall time at N:        {ratio:.2}  (target <= {TARGET_RATIO})  {}",
        verdict(ratio <= TARGET_RATIO)
    );
    println!(
        "estimate peak anon N vs N/4: {:.1} / {:.1} MiB = {growth:.2}  (target <= \
        {TARGET_MEMORY_GROWTH}, flat)  {}",
        est.anon_mib(),
        est_small.anon_mib(),
        verdict(growth <= TARGET_MEMORY_GROWTH)
    );
    println!(
        "estimate peak RSS N vs N/4:  {:.1} / {:.1} MiB = {rss_growth:.2}  (reference: \
        includes the pages of the memory-mapped input)",
        est.rss_mib(),
        est_small.rss_mib()
    );
    println!(
        "scan peak RSS N vs N/4:     {:.1} / {:.1} MiB = {scan_growth:.2}  (reference)",
        scan.rss_mib(),
        scan_small.rss_mib()
    );
    println!("==========================================================================");

    // Correctness, after the report so that a failure still shows the numbers.
    assert_eq!(ledger_rows, lines, "the ledger has one row per input line");
    assert_eq!(scan.rows, lines, "the scan must see every input line");
    assert_eq!(scan_small.rows, quarter);
}

/// The helper process: measures one command and prints one result line. Does nothing unless
/// started by [`run_child`].
#[test]
#[ignore = "helper of bench_estimate"]
fn bench_child() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let input = PathBuf::from(std::env::var_os(CHILD_INPUT).expect("input path"));
    let output = PathBuf::from(std::env::var_os(CHILD_OUTPUT).expect("output path"));
    let measured = match mode.as_str() {
        "estimate" => {
            let started = Instant::now();
            let mut child = Command::new(env!("CARGO_BIN_EXE_carbonledger"))
                .arg("estimate")
                .arg("--input")
                .arg(&input)
                .args(["--provider", "aws", "--format", "parquet", "--output"])
                .arg(&output)
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
            for line in stderr.lines() {
                eprintln!("  | {line}");
            }
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
            let totals = polars_scan(&input).expect("polars scan");
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

const MIB: f64 = 1024.0 * 1024.0;

/// Generates (or reuses) the synthetic CUR of `lines` lines in `dir`.
fn cur_file(dir: &Path, lines: u64) -> (PathBuf, String) {
    let path = dir.join(format!("cur-legacy-{lines}-seed{SEED}-v1.csv"));
    if std::fs::metadata(&path)
        .map(|m| m.len() > 0)
        .unwrap_or(false)
    {
        return (path, "reused".to_owned());
    }
    let partial = path.with_extension("csv.partial");
    let started = Instant::now();
    let file = std::fs::File::create(&partial).expect("create CUR file");
    let options = SynthOptions {
        lines,
        seed: SEED,
        ..SynthOptions::default()
    };
    let summary = write_cur(std::io::BufWriter::new(file), &options).expect("write CUR");
    assert_eq!(summary.lines, lines);
    std::fs::rename(&partial, &path).expect("rename CUR file");
    (
        path,
        format!("generated in {:.1} s", started.elapsed().as_secs_f64()),
    )
}

/// Re-executes this test binary to measure `mode` on `input` in a fresh process.
fn run_child(mode: &str, input: &Path, output: &Path) -> Measured {
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
    if mode == "estimate" {
        eprintln!("estimate on {}:", input.display());
        eprint!("{stderr}");
    }
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

/// The reference: cost per product code with a bare streaming polars scan.
fn polars_scan(input: &Path) -> PolarsResult<DataFrame> {
    let lf = LazyCsvReader::new(PlRefPath::try_from_path(input)?)
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .with_glob(false)
        .finish()?;
    Ok(lf
        .group_by([col("lineItem/ProductCode")])
        .agg([
            col("lineItem/UnblendedCost")
                .cast(DataType::Float64)
                .sum()
                .alias("cost"),
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
