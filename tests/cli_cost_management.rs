//! The binary on the Azure Cost Management Query API, as a user runs it: `carbonledger estimate
//! --cost-management SCOPE --period …` against a local HTTP server replaying the fixtures'
//! two pages (through `nextLink`) after a 429, reconciles (rows and cost per currency
//! recomputed here from the fixtures), writes the ledger with the Azure classes and energy, and
//! prints the requests and the wait; a 400 fails with exit code 1 and Microsoft's message.

#[path = "../connectors/azure-cloud/tests/replay/mod.rs"]
mod replay;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use replay::{Reply, Server};

const SCOPE: &str = "subscriptions/00000000-1111-2222-3333-444444444444";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/azure/cost_management")
        .join(name);
    std::fs::read_to_string(path).expect("fixture")
}

fn page1() -> String {
    fixture("page1.json").replace(
        "{NEXT_LINK}",
        &format!(
            "{{BASE}}/{SCOPE}/providers/Microsoft.CostManagement/query\
             ?api-version=2023-11-01&$skiptoken=Mg%3D%3D"
        ),
    )
}

fn run(args: &[&str]) -> Output {
    Command::cargo_bin("carbonledger")
        .expect("binary")
        .env_remove("CARBONLEDGER_COST_MANAGEMENT_ENDPOINT")
        .args(args)
        .output()
        .expect("runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Rows and cost per currency of the fixture pages, by column name.
fn fixture_totals(names: &[&str]) -> (usize, BTreeMap<String, f64>) {
    let mut rows = 0;
    let mut cost = BTreeMap::new();
    for name in names {
        let page: serde_json::Value = serde_json::from_str(&fixture(name)).expect("json");
        let columns = page["properties"]["columns"].as_array().expect("columns");
        let at = |n: &str| columns.iter().position(|c| c["name"] == n).expect(n);
        let (c, cur) = (at("Cost"), at("Currency"));
        for row in page["properties"]["rows"].as_array().expect("rows") {
            rows += 1;
            *cost
                .entry(row[cur].as_str().expect("currency").to_owned())
                .or_default() += row[c].as_f64().expect("cost");
        }
    }
    (rows, cost)
}

fn ledger(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut csv = csv::Reader::from_path(path).expect("ledger");
    let header = csv.headers().expect("header").clone();
    csv.records()
        .map(|r| {
            let r = r.expect("record");
            header
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[test]
fn estimate_reads_the_query_api_through_throttling_and_paging() {
    let server = Server::start(vec![
        Reply::new(429, fixture("throttled_429.json")).header("Retry-After", "1"),
        Reply::new(200, page1()),
        Reply::new(200, fixture("page2.json")),
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("ledger.csv");
    let out = run(&[
        "estimate",
        "--cost-management",
        SCOPE,
        "--period",
        "2024-03-01..2024-03-04",
        "--cost-type",
        "amortized",
        "--cost-management-endpoint",
        &server.base,
        "--format",
        "csv",
        "--output",
        output.to_str().expect("utf-8"),
    ]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let got = server.received();
    assert_eq!(got.len(), 3);
    let body: serde_json::Value = serde_json::from_str(&got[0].body).expect("body");
    assert_eq!(body["type"], "AmortizedCost");
    assert_eq!(body["timePeriod"]["to"], "2024-03-03T23:59:59Z");
    assert!(
        err.contains("3 requests sent (2 pages, 1 retried: 1 throttled (429)"),
        "{err}"
    );
    assert!(err.contains("1.0 s waited"), "{err}");

    let rows = ledger(&output);
    let (count, cost) = fixture_totals(&["page1.json", "page2.json"]);
    assert_eq!(rows.len(), count);
    for (currency, value) in &cost {
        let sum: f64 = rows
            .iter()
            .filter(|r| &r["currency"] == currency)
            .map(|r| r["cost"].parse::<f64>().expect("cost"))
            .sum();
        assert!((sum - value).abs() < 1e-9, "{currency}: {sum} vs {value}");
    }
    let row = |meter: &str| {
        rows.iter()
            .find(|r| r["usage_type"] == meter)
            .unwrap_or_else(|| panic!("{meter}"))
    };
    let vm = row("D2 v3/D2s v3");
    assert_eq!(vm["usage_class"], "compute");
    assert_eq!(vm["provider"], "azure");
    assert!(
        vm["cpu_kwh"].parse::<f64>().expect("cpu energy") > 0.0,
        "{vm:?}"
    );
    assert_eq!(row("P10 LRS Disk")["usage_class"], "storage_ssd");
    assert_eq!(row("B1s")["usage_class"], "excluded");
}

#[test]
fn a_refused_query_exits_1_with_microsofts_message() {
    let server = Server::start(vec![Reply::new(400, fixture("bad_request_400.json"))]);
    let out = run(&[
        "estimate",
        "--cost-management",
        SCOPE,
        "--period",
        "2024-03",
        "--cost-management-endpoint",
        &server.base,
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("BadRequest: Invalid query definition"),
        "{err}"
    );
    assert!(err.contains("2024-03-01..2024-04-01 page 1"), "{err}");
}

#[test]
fn the_scheduled_job_reads_a_cost_management_source_into_azure_partitions() {
    use polars::prelude::*;
    let server = Server::start(vec![
        Reply::new(200, page1()),
        Reply::new(200, fixture("page2.json")),
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("carbonledger.toml");
    std::fs::write(
        &config,
        format!(
            "[ledger]\npath = \"ledger\"\n\n[period]\nmonths = [\"2024-03\"]\n\n\
             [[source]]\nname = \"azure-api\"\nkind = \"cost-management\"\n\
             scope = \"{SCOPE}\"\ncost = \"actual\"\nendpoint_url = \"{}\"\n",
            server.base
        ),
    )
    .expect("config");
    let out = run(&["run", "--config", config.to_str().expect("utf-8")]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let got = server.received();
    assert_eq!(got.len(), 2);
    let body: serde_json::Value = serde_json::from_str(&got[0].body).expect("body");
    assert_eq!(body["type"], "ActualCost");
    assert_eq!(body["timePeriod"]["from"], "2024-03-01T00:00:00Z");
    assert_eq!(body["timePeriod"]["to"], "2024-03-31T23:59:59Z");
    let partition = dir
        .path()
        .join("ledger/provider=azure/month=2024-03/azure-api.parquet");
    let file = std::fs::File::open(&partition)
        .unwrap_or_else(|e| panic!("{}: {e}\n{err}", partition.display()));
    let df = ParquetReader::new(file).finish().expect("parquet");
    let (count, cost) = fixture_totals(&["page1.json", "page2.json"]);
    assert_eq!(df.height(), count);
    let total: f64 = df
        .column("cost")
        .expect("cost")
        .f64()
        .expect("f64")
        .sum()
        .expect("sum");
    let expected: f64 = cost.values().sum();
    assert!((total - expected).abs() < 1e-9, "{total} vs {expected}");
}
