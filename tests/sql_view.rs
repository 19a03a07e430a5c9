//! `carbonledger sql` and `carbonledger factors export`, as a user runs them: the AWS view runs
//! in DuckDB (the `duckdb` Python package) and in a local Spark (PySpark) over a CUR loaded as
//! a table, the GCP view in DuckDB and in bqemulator (BigQuery) over the export's rows, joined
//! to the exported factor tables, and every row must equal the Rust path's
//! (`carbonledger estimate --format parquet` on the same file) to 1e-9 relative: class,
//! exclusion reason, estimate kind, region, instance type, quantities, energy (kWh), Scope 2
//! location and market and Scope 3 (kg CO2e). The comparison is the independent computation:
//! the same method evaluated by another engine from the exported tables.
//!
//! Python: `$CARBONLEDGER_SQL_PYTHON`, else the virtualenv `.ci/run` installs
//! (`~/.cache/carbonledger-emulators/sql-venv/bin/python`: duckdb 2.0.1, sqlglot, pyspark),
//! else `python3`. A test whose package is missing prints why and passes only when `CI` is
//! not set; in CI it fails.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

const MIXED: &str = "fixtures/aws/legacy_mixed.csv";
const ANONYMIZED: &str = "fixtures/aws/cur_legacy_anonymized_focus_converters.csv";
const SAMPLE: &str = "fixtures/sample/cur-sample-2026-10.csv.gz";
const GCP_MIXED: &str = "fixtures/gcp/export_mixed.jsonl";
const GCP_ROWS: &str = "fixtures/gcp/bigquery_rows.jsonl";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script(name: &str) -> PathBuf {
    root().join("tests/sql_view").join(name)
}

fn carbonledger(args: &[&str]) -> Output {
    Command::cargo_bin("carbonledger")
        .expect("binary")
        .current_dir(root())
        .args(args)
        .output()
        .expect("runs")
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// A Python that imports `module`, or `None` (skip) outside CI.
fn python(module: &str) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("CARBONLEDGER_SQL_PYTHON") {
        candidates.push(PathBuf::from(p));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates
            .push(PathBuf::from(home).join(".cache/carbonledger-emulators/sql-venv/bin/python"));
    }
    candidates.push(PathBuf::from("python3"));
    for candidate in candidates {
        let imports = std::process::Command::new(&candidate)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if imports {
            return Some(candidate);
        }
    }
    let why = format!(
        "no Python with `{module}` (set CARBONLEDGER_SQL_PYTHON, or install as .ci/run does: \
         python3 -m venv ~/.cache/carbonledger-emulators/sql-venv && \
         ~/.cache/carbonledger-emulators/sql-venv/bin/pip install duckdb==2.0.1 sqlglot pyspark)"
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// Exports the factor tables (`--factors DIR` when given) into `dir`.
fn export(dir: &Path, format: &str, factors: Option<&Path>) {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["factors", "export", "--output-dir", dir, "--format", format];
    if let Some(f) = factors {
        args.extend(["--factors", f.to_str().unwrap()]);
    }
    let out = ok(carbonledger(&args));
    let listed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        listed.lines().count(),
        carbonledger::sql::export::TABLES.len()
    );
}

/// Writes the view's SQL for `dialect` (extra `args`) to `dir/view.sql`.
fn view(dir: &Path, dialect: &str, args: &[&str]) -> PathBuf {
    let mut all = vec!["sql", "--dialect", dialect, "--table", "cur"];
    all.extend(["--line-column", "cl_line"]);
    all.extend(args);
    let out = ok(carbonledger(&all));
    let path = dir.join(format!("view-{dialect}.sql"));
    std::fs::write(&path, out.stdout).unwrap();
    path
}

/// The Rust path's ledger of `input` as Parquet.
fn rust_ledger(dir: &Path, input: &str, factors: Option<&Path>) -> PathBuf {
    let path = dir.join("rust.parquet");
    let mut args = vec!["estimate", "--input", input, "--format", "parquet"];
    args.extend(["--output", path.to_str().unwrap()]);
    if let Some(f) = factors {
        args.extend(["--factors", f.to_str().unwrap()]);
    }
    ok(carbonledger(&args));
    path
}

/// Runs a comparison script; panics with its report when a row differs.
fn compare(python: &Path, script_name: &str, args: &[&Path], flags: &[&str]) -> String {
    let out = std::process::Command::new(python)
        .arg(script(script_name))
        .args(args)
        .args(flags)
        .current_dir(root())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script_name} found differences:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rows equal to 1e-9"), "{stdout}");
    stdout
}

/// Exports, writes the DuckDB view, estimates with Rust and compares row by row.
fn duckdb_case(input: &str, view_args: &[&str], flags: &[&str]) -> Option<String> {
    let python = python("duckdb")?;
    let dir = tempfile::tempdir().unwrap();
    let format = if flags.contains(&"--csv") {
        "csv"
    } else {
        "parquet"
    };
    let factors = dir.path().join("factors");
    export(&factors, format, None);
    let sql = view(dir.path(), "duckdb", view_args);
    let ledger = rust_ledger(dir.path(), input, None);
    let cur = root().join(input);
    Some(compare(
        &python,
        "compare_duckdb.py",
        &[&cur, &factors, &sql, &ledger],
        flags,
    ))
}

/// As [`duckdb_case`] with `--method ccf` (the ccf set exported, `extra` for both the view and
/// the Rust path, e.g. a cost measure).
fn duckdb_ccf_case(input: &str, view_args: &[&str], extra: &[&str]) -> Option<String> {
    let python = python("duckdb")?;
    let dir = tempfile::tempdir().unwrap();
    let factors = dir.path().join("factors");
    let shown = factors.to_str().unwrap();
    let export_args = [
        "factors", "export", "--method", "ccf", "--format", "parquet",
    ];
    ok(carbonledger(
        &[&export_args[..], &["--output-dir", shown]].concat(),
    ));
    let mut args = vec!["--method", "ccf"];
    args.extend(extra);
    args.extend(view_args);
    let sql = view(dir.path(), "duckdb", &args);
    let ledger = dir.path().join("rust.parquet");
    let mut estimate = vec!["estimate", "--input", input, "--method", "ccf"];
    estimate.extend(extra);
    estimate.extend(["--format", "parquet", "--output", ledger.to_str().unwrap()]);
    ok(carbonledger(&estimate));
    let cur = root().join(input);
    Some(compare(
        &python,
        "compare_duckdb.py",
        &[&cur, &factors, &sql, &ledger],
        &[],
    ))
}

#[test]
fn duckdb_ccf_view_equals_rust_on_three_curs() {
    // CCF's quirks, ccf_kwh included: the sample and the anonymized CUR at CCF's blended cost,
    // the mixed fixture (no blended cost column) at unblended cost.
    let anonymized = ["--missing-column", "product/vcpu,product/instanceType"];
    for (input, view_args, extra, rows) in [
        (SAMPLE, &[][..], &[][..], 3000),
        (ANONYMIZED, &anonymized[..], &[][..], 1281),
        (
            MIXED,
            &["--missing-column", "product/regionCode"][..],
            &["--cost", "unblended"][..],
            31,
        ),
    ] {
        let Some(report) = duckdb_ccf_case(input, view_args, extra) else {
            return;
        };
        assert_eq!(rows_equal(&report), rows, "{input}: {report}");
    }
}

/// The rows of a report line `N rows equal to 1e-9`.
fn rows_equal(report: &str) -> usize {
    let line = report
        .lines()
        .find(|l| l.ends_with("rows equal to 1e-9"))
        .expect("summary line");
    line.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn duckdb_view_equals_rust_on_the_mixed_fixture() {
    // Every class, excluded line types, a month without known usage (ratio → excluded).
    let args = ["--missing-column", "product/regionCode"];
    if let Some(report) = duckdb_case(MIXED, &args, &[]) {
        assert_eq!(rows_equal(&report), 31, "{report}");
        assert!(
            report.contains("'ratio'") && report.contains("'excluded'"),
            "{report}"
        );
    }
}

#[test]
fn duckdb_view_excludes_negative_usage_as_rust_does() {
    // The mixed fixture with its first line (10 hours of m5.xlarge) turned into a correction
    // line of -10 hours: the default method excludes it with the estimator's reason instead of
    // giving it negative kWh, and it adds nothing to the ratios of the unknown lines.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("negative.csv");
    let mut reader = csv::Reader::from_path(root().join(MIXED)).unwrap();
    let header = reader.headers().unwrap().clone();
    let amount = header
        .iter()
        .position(|h| h == "lineItem/UsageAmount")
        .unwrap();
    let mut writer = csv::Writer::from_path(&input).unwrap();
    writer.write_record(&header).unwrap();
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let fields: Vec<String> = record
            .iter()
            .enumerate()
            .map(|(at, v)| {
                if i == 0 && at == amount {
                    format!("-{v}")
                } else {
                    v.to_owned()
                }
            })
            .collect();
        writer.write_record(&fields).unwrap();
    }
    writer.flush().unwrap();
    let input = input.to_str().unwrap();
    let rust = carbonledger(&["estimate", "--input", input, "--format", "csv"]);
    let text = String::from_utf8_lossy(&rust.stdout);
    assert!(
        text.contains(carbonledger::estimate::NEGATIVE_USAGE_REASON),
        "the Rust path excludes the line: {text}"
    );
    let args = ["--missing-column", "product/regionCode"];
    if let Some(report) = duckdb_case(input, &args, &[]) {
        assert_eq!(rows_equal(&report), 31, "{report}");
    }
}

#[test]
fn duckdb_view_equals_rust_on_the_anonymized_cur() {
    // A real CUR without product/vcpu or instanceType columns: regions from both product
    // columns and usage-type prefixes, ratio rows by service, by unit and by provider.
    let args = ["--missing-column", "product/vcpu,product/instanceType"];
    if let Some(report) = duckdb_case(ANONYMIZED, &args, &[]) {
        assert_eq!(rows_equal(&report), 1281, "{report}");
    }
}

#[test]
fn duckdb_view_equals_rust_on_the_sample_with_csv_tables_and_athena_names() {
    // The factor tables uploaded as CSV (types detected by the engine) and the CUR columns
    // named as AWS's Athena integration names them.
    let args = ["--cur-names", "snake"];
    if let Some(report) = duckdb_case(SAMPLE, &args, &["--csv", "--snake"]) {
        assert_eq!(rows_equal(&report), 3000, "{report}");
    }
}

#[test]
fn duckdb_view_equals_rust_on_a_generated_cur() {
    let Some(python) = python("duckdb") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cur = dir.path().join("generated.csv");
    let cur_text = cur.to_str().unwrap();
    ok(carbonledger(&[
        "generate-cur",
        "--lines",
        "4000",
        "--seed",
        "7",
        "--output",
        cur_text,
    ]));
    let factors = dir.path().join("factors");
    export(&factors, "parquet", None);
    let sql = view(dir.path(), "duckdb", &[]);
    let ledger = rust_ledger(dir.path(), cur_text, None);
    let report = compare(
        &python,
        "compare_duckdb.py",
        &[&cur, &factors, &sql, &ledger],
        &[],
    );
    assert_eq!(rows_equal(&report), 4000, "{report}");
}

#[test]
fn duckdb_gcp_view_equals_rust_on_both_export_fixtures() {
    // BigQuery's JSON lines export (nested records, repeated credits and system labels) read
    // by DuckDB as structs and lists: compute with and without listed machine types, GPUs,
    // memory, storage, network, credits, multi-regions, excluded cost types, ratios.
    let Some(python) = python("duckdb") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let factors = dir.path().join("factors");
    export(&factors, "parquet", None);
    let sql = view(dir.path(), "duckdb", &["--provider", "gcp"]);
    for (fixture, rows) in [(GCP_MIXED, 26), (GCP_ROWS, 13)] {
        let ledger = rust_ledger(dir.path(), fixture, None);
        let input = root().join(fixture);
        let report = compare(
            &python,
            "compare_duckdb.py",
            &[&input, &factors, &sql, &ledger],
            &["--gcp"],
        );
        assert_eq!(rows_equal(&report), rows, "{report}");
    }
}

/// bqemulator as the BigQuery connector's tests find it: `$CARBONLEDGER_BQEMULATOR`, else
/// the virtualenv `.ci/run` installs; its DuckDB home likewise.
fn bqemulator() -> Option<(PathBuf, PathBuf)> {
    let cache = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/carbonledger-emulators"))
        .unwrap_or_default();
    let server = std::env::var_os("CARBONLEDGER_BQEMULATOR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("bq-venv/bin/bqemulator"));
    let home = std::env::var_os("CARBONLEDGER_BQEMULATOR_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("bq-duckhome"));
    if server.is_file() && home.is_dir() {
        return Some((server, home));
    }
    let why = format!(
        "no bqemulator at {} with a DuckDB home {} (install it as .ci/run does)",
        server.display(),
        home.display()
    );
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    None
}

#[test]
fn bigquery_gcp_view_equals_rust_in_bqemulator() {
    let Some(python) = python("duckdb") else {
        return;
    };
    let Some((server, home)) = bqemulator() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let factors = dir.path().join("factors");
    export(&factors, "parquet", None);
    let common = [
        "sql",
        "--dialect",
        "bigquery",
        "--provider",
        "gcp",
        "--table",
        "local.billing.export",
        "--factors-schema",
        "local.carbonledger",
        "--line-column",
        "cl_line",
    ];
    let write = |name: &str, extra: &[&str]| {
        let mut args = common.to_vec();
        args.extend(extra);
        let path = dir.path().join(name);
        std::fs::write(&path, ok(carbonledger(&args)).stdout).unwrap();
        path
    };
    let view_sql = write(
        "view.sql",
        &["--view", "local.carbonledger.carbonledger_ledger"],
    );
    let query_sql = write("query.sql", &["--query-only"]);
    let ledger = rust_ledger(dir.path(), GCP_MIXED, None);
    let input = root().join(GCP_MIXED);
    let report = compare(
        &python,
        "compare_bigquery.py",
        &[
            &server, &home, &input, &factors, &view_sql, &query_sql, &ledger,
        ],
        &[],
    );
    // The query and the view: both all 26 rows.
    assert_eq!(
        report.matches("26 rows equal to 1e-9").count(),
        2,
        "{report}"
    );
}

#[test]
fn a_factor_change_reaches_the_view_without_a_sql_edit() {
    let Some(python) = python("duckdb") else {
        return;
    };
    // A copy of the default set whose AWS PUE is 2 instead of 1.15: export it, and the same
    // view text must follow the Rust path with that set.
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    for entry in std::fs::read_dir(root().join("factors/default")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), set.join(entry.file_name())).unwrap();
    }
    let pue = std::fs::read_to_string(set.join("pue.csv")).unwrap();
    let changed: String = pue
        .lines()
        .map(|l| {
            if l.starts_with("aws,*,1.15,") {
                l.replacen("aws,*,1.15,", "aws,*,2,", 1)
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(
        changed.trim(),
        pue.trim(),
        "the AWS PUE row is where the test expects"
    );
    std::fs::write(set.join("pue.csv"), changed + "\n").unwrap();
    let factors = dir.path().join("factors");
    export(&factors, "parquet", Some(&set));
    let sql = view(
        dir.path(),
        "duckdb",
        &["--missing-column", "product/regionCode"],
    );
    let default_sql = ok(carbonledger(&[
        "sql",
        "--dialect",
        "duckdb",
        "--table",
        "cur",
        "--line-column",
        "cl_line",
        "--missing-column",
        "product/regionCode",
    ]));
    assert_eq!(
        std::fs::read(&sql).unwrap(),
        default_sql.stdout,
        "the SQL is the same text"
    );
    let ledger = rust_ledger(dir.path(), MIXED, Some(&set));
    let cur = root().join(MIXED);
    let report = compare(
        &python,
        "compare_duckdb.py",
        &[&cur, &factors, &sql, &ledger],
        &[],
    );
    // And the numbers did change: the mixed fixture's estimated energy with the shipped set is
    // 2.6479471207426357 kWh (at PUE 1.15); every AWS row scales by 2 / 1.15.
    let estimated = report
        .lines()
        .find(|l| l.contains("by kind"))
        .and_then(|l| l.split("('estimated', 20, ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("estimated energy in the report");
    let expected = 2.6479471207426357 * 2.0 / 1.15;
    assert!(
        (estimated - expected).abs() <= 1e-9 * expected,
        "{estimated} != {expected}\n{report}"
    );
}

#[test]
fn spark_query_equals_rust_in_pyspark() {
    let Some(python) = python("pyspark") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let factors = dir.path().join("factors");
    export(&factors, "parquet", None);
    let sql = view(
        dir.path(),
        "spark",
        &["--query-only", "--missing-column", "product/regionCode"],
    );
    let ledger = rust_ledger(dir.path(), MIXED, None);
    let cur = root().join(MIXED);
    let report = compare(
        &python,
        "compare_spark.py",
        &[&cur, &factors, &sql, &ledger],
        &[],
    );
    assert_eq!(rows_equal(&report), 31, "{report}");
}

#[test]
fn every_dialect_parses_with_sqlglot() {
    let Some(python) = python("sqlglot") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (dialect, provider, table, schema) in [
        (
            "athena",
            "aws",
            "awsdatacatalog.cur_db.cur",
            "awsdatacatalog.cl",
        ),
        (
            "spark",
            "aws",
            "spark_catalog.billing.cur",
            "spark_catalog.cl",
        ),
        ("bigquery", "aws", "my-project.billing.cur", "my-project.cl"),
        ("duckdb", "aws", "cur", "carbonledger"),
        (
            "bigquery",
            "gcp",
            "my-project.billing.gcp_billing_export_v1_0A",
            "p.cl",
        ),
        ("duckdb", "gcp", "export", "carbonledger"),
    ] {
        let out = ok(carbonledger(&[
            "sql",
            "--dialect",
            dialect,
            "--provider",
            provider,
            "--table",
            table,
            "--factors-schema",
            schema,
        ]));
        let path = dir.path().join(format!("{dialect}-{provider}.sql"));
        std::fs::write(&path, &out.stdout).unwrap();
        let check = std::process::Command::new(&python)
            .arg(script("parse_sqlglot.py"))
            .arg(dialect)
            .arg(&path)
            .output()
            .expect("python runs");
        let report = String::from_utf8_lossy(&check.stdout).into_owned();
        assert!(
            check.status.success(),
            "{dialect}: {report}{}",
            String::from_utf8_lossy(&check.stderr)
        );
        // The parsed statement creates the view and reads the CUR and the factor tables.
        assert!(
            report.contains("create view carbonledger_ledger"),
            "{report}"
        );
        let export_table = table.rsplit('.').next().unwrap().to_lowercase();
        assert!(
            report.contains(&format!("reads {export_table}\n"))
                && report.contains("reads instance_factors"),
            "{report}"
        );
    }
}

#[test]
fn sql_refuses_what_it_does_not_write_yet() {
    for args in [
        [
            "sql",
            "--dialect",
            "duckdb",
            "--table",
            "t",
            "--provider",
            "gcp",
            "--method",
            "ccf",
        ],
        [
            "sql",
            "--dialect",
            "athena",
            "--table",
            "t",
            "--provider",
            "gcp",
            "--method",
            "default",
        ],
    ] {
        let out = carbonledger(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("not written in SQL yet"));
    }
}

#[test]
fn exported_profiles_hold_the_resolvers_numbers() {
    // The ccf set's AWS Cascade Lake (CCF's code table, ccf-methodology §1.1): 0.64 W idle,
    // 3.97 W at full load; at 50 %: 0.64 + 0.5 × 3.33 = 2.305 W per vCPU, 0.002305 kWh per
    // vCPU-hour.
    let dir = tempfile::tempdir().unwrap();
    ok(carbonledger(&[
        "factors",
        "export",
        "--method",
        "ccf",
        "--output-dir",
        dir.path().to_str().unwrap(),
    ]));
    let mut csv = csv::Reader::from_path(dir.path().join("cpu_profiles.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let at = |name: &str| header.iter().position(|h| h == name).unwrap();
    let row = csv
        .records()
        .map(|r| r.unwrap())
        .find(|r| {
            &r[at("provider")] == "aws"
                && &r[at("method")] == "ccf"
                && &r[at("cpu_architecture")] == "Cascade Lake"
        })
        .expect("a Cascade Lake profile");
    let watts: f64 = row[at("watts_per_vcpu")].parse().unwrap();
    let kwh: f64 = row[at("kwh_per_vcpu_hour")].parse().unwrap();
    assert!((watts - 2.305).abs() < 1e-12, "{watts}");
    assert!((kwh - 0.002305).abs() < 1e-15, "{kwh}");
}
