//! The batch job's PostgreSQL sink against a real server (`.ci/run` starts one and sets
//! `CARBONLEDGER_TEST_POSTGRES_URL`): the table holds exactly the Parquet ledger's rows, a
//! run with nothing new changes nothing, a restated month replaces its partition's rows, and
//! an unreachable server fails the sink (exit 4) without losing the Parquet ledger or
//! printing the password.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use polars::prelude::*;

/// The test server's URL; without one the tests are skipped with a note, except under CI
/// (`CI` set), where a missing server is a failure.
fn server_url() -> Option<String> {
    if let Ok(url) = std::env::var("CARBONLEDGER_TEST_POSTGRES_URL") {
        return Some(url);
    }
    let why = "CARBONLEDGER_TEST_POSTGRES_URL is not set: a PostgreSQL server for the sink's \
               tests (.ci/run starts one)";
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    None
}

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A job folder with the sample CUR and a GCP export, syncing to `schema.ledger`.
fn job(schema: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir(dir.path().join("cur")).expect("cur");
    fs::copy(
        fixture("sample/cur-sample-2026-10.csv.gz"),
        dir.path().join("cur/cur-sample-2026-10.csv.gz"),
    )
    .expect("sample");
    fs::copy(fixture("gcp/export_mixed.csv"), dir.path().join("gcp.csv")).expect("gcp");
    let config = format!(
        r#"[ledger]
path = "ledger"

[period]
months = ["2024-01", "2026-10"]

[postgres]
url_env = "CARBONLEDGER_POSTGRES_URL"
table = "{schema}.ledger"

[[source]]
name = "aws-main"
kind = "aws-cur"
path = "cur"

[[source]]
name = "gcp"
kind = "gcp-export"
path = "gcp.csv"
"#
    );
    fs::write(dir.path().join("carbonledger.toml"), config).expect("config");
    dir
}

fn run(dir: &Path, url: &str) -> Output {
    Command::cargo_bin("carbonledger")
        .expect("binary")
        .current_dir(dir)
        .env("CARBONLEDGER_POSTGRES_URL", url)
        .args(["run", "--config", "carbonledger.toml"])
        .output()
        .expect("runs")
}

/// A fresh schema on the test server.
fn schema(client: &mut postgres::Client, name: &str) -> String {
    let schema = format!("{name}_{}", std::process::id());
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .expect("schema");
    schema
}

/// Rows, cost and energy of every Parquet partition of the ledger.
fn parquet_totals(ledger: &Path) -> (i64, f64, f64) {
    let (mut rows, mut cost, mut energy) = (0, 0.0, 0.0);
    for provider in fs::read_dir(ledger).expect("ledger") {
        let provider = provider.expect("entry").path();
        if !provider.to_string_lossy().contains("provider=") {
            continue;
        }
        for month in fs::read_dir(&provider).expect("provider") {
            for file in fs::read_dir(month.expect("month").path()).expect("month") {
                let file = file.expect("file").path();
                let df = ParquetReader::new(fs::File::open(&file).expect("open"))
                    .finish()
                    .expect("parquet");
                rows += df.height() as i64;
                let sum = |c: &str| {
                    df.column(c)
                        .expect(c)
                        .f64()
                        .expect("f64")
                        .sum()
                        .unwrap_or(0.0)
                };
                cost += sum("cost");
                energy += sum("energy_kwh");
            }
        }
    }
    (rows, cost, energy)
}

fn table_totals(client: &mut postgres::Client, schema: &str) -> (i64, f64, f64) {
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), sum(cost), coalesce(sum(energy_kwh), 0) FROM {schema}.ledger"
            ),
            &[],
        )
        .expect("totals");
    (row.get(0), row.get(1), row.get(2))
}

fn close(a: (i64, f64, f64), b: (i64, f64, f64)) -> bool {
    a.0 == b.0 && (a.1 - b.1).abs() < 1e-6 && (a.2 - b.2).abs() < 1e-9 * a.2.abs().max(1.0)
}

#[test]
fn the_table_holds_the_ledgers_rows_and_follows_a_restatement() {
    let Some(url) = server_url() else {
        return;
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("test server");
    let schema = schema(&mut client, "sink");
    let dir = job(&schema);

    let first = run(dir.path(), &url);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stderr(&first).contains(&format!("postgres {schema}.ledger: 2 partitions replaced")),
        "{}",
        stderr(&first)
    );
    let ledger = dir.path().join("ledger");
    let parquet = parquet_totals(&ledger);
    assert!(parquet.0 > 3000);
    assert!(close(parquet, table_totals(&mut client, &schema)));
    // Typed columns, and the partition a row came from.
    let row = client
        .query_one(
            &format!(
                "SELECT count(DISTINCT month), min(period_start)::text, max(grid_year)
                 FROM {schema}.ledger WHERE ledger_source = 'aws-main'"
            ),
            &[],
        )
        .expect("typed");
    let (months, start, year): (i64, String, Option<i32>) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(months, 1);
    assert!(start.starts_with("2026-10-"), "{start}");
    assert!(year.is_some_and(|y| y >= 2019));

    // Nothing new: nothing replaced.
    let second = run(dir.path(), &url);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("0 partitions replaced (0 rows), 2 unchanged, 0 deleted"),
        "{}",
        stderr(&second)
    );

    // A late row in January 2024: its partition is replaced, the other is left.
    let input = dir.path().join("gcp.csv");
    let text = fs::read_to_string(&input).expect("gcp");
    let last = text.lines().last().expect("row").to_owned();
    fs::write(&input, format!("{}\n{last}\n", text.trim_end())).expect("restate");
    let third = run(dir.path(), &url);
    assert!(third.status.success(), "{}", stderr(&third));
    assert!(
        stderr(&third).contains("1 partitions replaced"),
        "{}",
        stderr(&third)
    );
    let parquet = parquet_totals(&ledger);
    assert!(close(parquet, table_totals(&mut client, &schema)));
    let synced: i64 = client
        .query_one(
            &format!("SELECT rows FROM {schema}.ledger_partitions WHERE ledger_source = 'gcp'"),
            &[],
        )
        .expect("partition")
        .get(0);
    let lines = csv::Reader::from_path(&input)
        .expect("csv")
        .records()
        .count() as i64;
    assert_eq!(synced, lines);
}

#[test]
fn an_unreachable_server_fails_the_sink_not_the_ledger() {
    let dir = job("nowhere");
    // A closed port, and a password that must not be printed.
    let out = run(
        dir.path(),
        "postgresql://carbon:s3cret-pw@127.0.0.1:9/ledger",
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains("postgres: FAILED: PostgreSQL postgresql://carbon:***@127.0.0.1:9/ledger"),
        "{text}"
    );
    assert!(!text.contains("s3cret-pw"), "{text}");
    assert!(text.contains("1 of 3 sources failed: postgres"), "{text}");
    assert!(parquet_totals(&dir.path().join("ledger")).0 > 0);

    let unset = Command::cargo_bin("carbonledger")
        .expect("binary")
        .current_dir(dir.path())
        .env_remove("CARBONLEDGER_POSTGRES_URL")
        .args(["run", "--config", "carbonledger.toml"])
        .output()
        .expect("runs");
    assert_eq!(unset.status.code(), Some(4));
    assert!(stderr(&unset).contains("$CARBONLEDGER_POSTGRES_URL, which is not set"));
}

#[test]
fn two_ledgers_sharing_a_table_keep_each_others_rows() {
    let Some(url) = server_url() else {
        return;
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("test server");
    let schema = schema(&mut client, "shared");
    let (a, b) = (job(&schema), job(&schema));
    for dir in [&a, &b] {
        let out = run(dir.path(), &url);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("0 deleted"), "{}", stderr(&out));
    }
    let one = parquet_totals(&a.path().join("ledger"));
    let both = table_totals(&mut client, &schema);
    assert_eq!(both.0, 2 * one.0);
    let ledgers: i64 = client
        .query_one(
            &format!("SELECT count(DISTINCT ledger_id) FROM {schema}.ledger"),
            &[],
        )
        .expect("ledgers")
        .get(0);
    assert_eq!(ledgers, 2);
}

#[test]
fn a_table_without_ledger_ids_is_refused_with_what_to_do() {
    let Some(url) = server_url() else {
        return;
    };
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("test server");
    let schema = schema(&mut client, "old");
    client
        .batch_execute(&format!(
            "CREATE TABLE {schema}.ledger (ledger_source text, provider text, month text)"
        ))
        .expect("an old table");
    let dir = job(&schema);
    let out = run(dir.path(), &url);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("has no `ledger_id` column"),
        "{}",
        stderr(&out)
    );
}
