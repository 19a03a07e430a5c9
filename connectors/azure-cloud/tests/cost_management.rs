//! The Cost Management source against a local HTTP server replaying the response bodies in
//! `fixtures/azure/cost_management/` (shaped like Microsoft's published examples): two pages
//! through `nextLink`, a 429 with `Retry-After` (the wait measured), a capped wait, 5xx twice
//! then success, a 503 with `Retry-After`, a permanent 5xx, a refused connection, a 400 with
//! Microsoft's error body, a looping `nextLink` and a missing column. Totals are recomputed
//! here from the fixtures by column name; classes come from the Azure connector's converter.

#[path = "replay/mod.rs"]
mod replay;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use carbonledger_azure::AzureOptions;
use carbonledger_azure_cloud::cost_management::{
    CostManagementOptions, CostManagementSource, CostType, RetryPolicy, query_body,
};
use carbonledger_factors::FactorSet;
use carbonledger_usage::{InputTotals, SourceError, UsageSource, col};
use chrono::NaiveDate;
use polars::prelude::*;
use replay::{Reply, Server};
use serde_json::Value;

const SCOPE: &str = "subscriptions/00000000-1111-2222-3333-444444444444";
const QUERY_PATH: &str = "/subscriptions/00000000-1111-2222-3333-444444444444/providers/\
                          Microsoft.CostManagement/query";

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/azure/cost_management")
        .join(name)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).expect("fixture")
}

/// The first page, its `nextLink` pointing back at the server.
fn page1() -> String {
    fixture("page1.json").replace(
        "{NEXT_LINK}",
        &format!("{{BASE}}{QUERY_PATH}?api-version=2023-11-01&$skiptoken=AQAAAA%3D%3D"),
    )
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn fast_retries(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        max_wait: Duration::from_secs(60),
        backoff_base: Duration::from_millis(10),
        timeout: Duration::from_secs(2),
    }
}

fn source(server: &Server, retry: RetryPolicy) -> CostManagementSource {
    let options = CostManagementOptions {
        scope: SCOPE.to_owned(),
        start: date("2024-03-01"),
        end: date("2024-03-04"),
        cost_type: CostType::Actual,
        endpoint: Some(server.base.clone()),
        credential: None,
        retry,
        azure: AzureOptions::default(),
    };
    let factors = Arc::new(FactorSet::embedded("default").expect("factors"));
    CostManagementSource::new(options, factors).expect("source")
}

fn read(source: &mut CostManagementSource) -> Result<(InputTotals, DataFrame), SourceError> {
    let mut frames = Vec::new();
    let totals = source.read(&mut |df| {
        frames.push(df);
        Ok(())
    })?;
    let mut all = frames.pop().expect("a batch");
    for f in frames {
        all.vstack_mut(&f).expect("stack");
    }
    Ok((totals, all))
}

/// Rows and cost per currency of fixture pages, by column name.
fn fixture_totals(names: &[&str]) -> (u64, BTreeMap<String, f64>) {
    let mut rows = 0;
    let mut cost = BTreeMap::new();
    for name in names {
        let page: Value = serde_json::from_str(&fixture(name)).expect("json");
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

fn strings(df: &DataFrame, name: &str) -> Vec<String> {
    let values = df.column(name).expect(name).str().expect("text");
    (0..values.len())
        .map(|i| values.get(i).unwrap_or_default().to_owned())
        .collect()
}

fn floats(df: &DataFrame, name: &str) -> Vec<Option<f64>> {
    let values = df.column(name).expect(name).f64().expect("float");
    (0..values.len()).map(|i| values.get(i)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn two_pages_through_next_link_reconcile_and_are_classified_by_the_azure_rules() {
    let server = Server::start(vec![
        Reply::new(200, page1()),
        Reply::new(200, fixture("page2.json")),
    ]);
    let mut source = source(&server, fast_retries(2));
    let (totals, df) = read(&mut source).expect("read");

    // Requests: the query, then its nextLink, both POSTs of the same body.
    let got = server.received();
    assert_eq!(got.len(), 2);
    assert_eq!(source.stats().requests, 2);
    assert_eq!(source.stats().pages, 2);
    assert!(got.iter().all(|r| r.method == "POST"));
    assert_eq!(
        got[0].target,
        format!("{QUERY_PATH}?api-version=2023-11-01")
    );
    assert!(
        got[1].target.contains("$skiptoken=AQAAAA%3D%3D"),
        "{}",
        got[1].target
    );
    let expected = query_body(CostType::Actual, date("2024-03-01"), date("2024-03-04"));
    for r in &got {
        let body: Value = serde_json::from_str(&r.body).expect("json body");
        assert_eq!(body, expected);
        assert!(
            r.authorization.is_none(),
            "no credentials to a test endpoint"
        );
    }

    // Totals from the raw values equal the fixtures' and the rows'.
    let (rows, cost) = fixture_totals(&["page1.json", "page2.json"]);
    assert_eq!(totals.rows, rows);
    assert_eq!(df.height() as u64, rows);
    assert_eq!(totals.cost.len(), cost.len());
    for (currency, value) in &cost {
        assert!(close(totals.cost[currency], *value), "{currency}");
    }
    let currencies = strings(&df, col::CURRENCY);
    let row_costs = floats(&df, col::COST);
    for (currency, value) in &cost {
        let sum: f64 = currencies
            .iter()
            .zip(&row_costs)
            .filter(|(c, _)| *c == currency)
            .map(|(_, v)| v.unwrap_or_default())
            .sum();
        assert!(close(sum, *value), "{currency}: {sum} vs {value}");
    }

    // Classes and quantities by the Azure converter.
    let meters = strings(&df, col::USAGE_TYPE);
    let classes = strings(&df, col::USAGE_CLASS);
    let charge = strings(&df, col::CHARGE_TYPE);
    let vcpu = floats(&df, col::VCPU_HOURS);
    let storage = floats(&df, col::STORAGE_TB_HOURS);
    let regions = strings(&df, col::REGION);
    let at = |meter: &str, charge_type: &str| {
        meters
            .iter()
            .zip(&charge)
            .position(|(m, c)| m == meter && c == charge_type)
            .unwrap_or_else(|| panic!("{meter}"))
    };
    let vm = at("D2 v3/D2s v3", "Usage");
    assert_eq!(classes[vm], "compute");
    // 24 hours of a D2 v3 (2 vCPUs in the size table): the size comes from the meter name.
    assert!(close(vcpu[vm].expect("vcpu hours"), 48.0));
    assert_eq!(regions[vm], "eastus");
    let disk = at("P10 LRS Disk", "Usage");
    assert_eq!(classes[disk], "storage_ssd");
    assert!(storage[disk].expect("storage") > 0.0);
    // Blob storage: SSD, as CCF classes `Data Stored` usage types.
    assert_eq!(classes[at("Hot LRS Data Stored", "Usage")], "storage_ssd");
    assert_eq!(
        classes[at("Standard Data Transfer Out", "Usage")],
        "network"
    );
    let purchase = at("B1s", "Purchase");
    assert_eq!(classes[purchase], "excluded");
    assert!(close(row_costs[purchase].unwrap(), 75.0));
    let eur = at("E4 v3/E4s v3", "Usage");
    assert_eq!(currencies[eur], "EUR");
    assert_eq!(
        strings(&df, col::USAGE_ACCOUNT)[eur],
        "55555555-6666-7777-8888-999999999999"
    );
    let sources = strings(&df, col::SOURCE);
    assert!(sources[eur].contains("page 2"), "{}", sources[eur]);

    let summary = source.summary().join("\n");
    assert!(summary.contains("2 requests sent (2 pages)"), "{summary}");
    assert!(summary.contains("AdditionalInfo"), "{summary}");
}

#[test]
fn a_429_waits_for_retry_after_and_is_counted() {
    let server = Server::start(vec![
        Reply::new(429, fixture("throttled_429.json")).header("Retry-After", "1"),
        Reply::new(200, fixture("page2.json")),
    ]);
    let mut source = source(&server, fast_retries(3));
    let (totals, _) = read(&mut source).expect("read after the wait");
    let got = server.received();
    assert_eq!(got.len(), 2);
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(990), "waited only {gap:?}");
    let stats = source.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.pages, 1);
    assert_eq!(stats.throttled, 1);
    assert!(close(stats.waited_seconds, 1.0), "{}", stats.waited_seconds);
    assert_eq!(totals.rows, fixture_totals(&["page2.json"]).0);
    let summary = source.summary().join("\n");
    assert!(
        summary.contains("2 requests sent (1 page, 1 retried: 1 throttled (429)"),
        "{summary}"
    );
    assert!(summary.contains("1.0 s waited"), "{summary}");
}

#[test]
fn the_rate_limit_header_is_honoured_and_a_long_wait_is_capped() {
    let server = Server::start(vec![
        Reply::new(429, fixture("throttled_429.json"))
            .header(
                "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
                "30",
            )
            .header("x-ms-ratelimit-microsoft.costmanagement-qpu-remaining", "0"),
        Reply::new(200, fixture("page2.json")),
    ]);
    let retry = RetryPolicy {
        max_retries: 2,
        max_wait: Duration::from_millis(300),
        backoff_base: Duration::from_millis(10),
        timeout: Duration::from_secs(2),
    };
    let mut source = source(&server, retry);
    read(&mut source).expect("read");
    let got = server.received();
    let gap = got[1].at - got[0].at;
    // The header's 30 s, capped at 300 ms (not the 10 ms back-off).
    assert!(gap >= Duration::from_millis(290), "{gap:?}");
    assert!(gap < Duration::from_secs(10), "{gap:?}");
    assert!(close(source.stats().waited_seconds, 0.3));
}

#[test]
fn two_server_errors_then_success() {
    let server = Server::start(vec![
        Reply::new(503, fixture("server_error_503.json")),
        Reply::new(500, "{}"),
        Reply::new(200, fixture("page2.json")),
    ]);
    let mut source = source(&server, fast_retries(3));
    let (totals, df) = read(&mut source).expect("read");
    assert_eq!(server.received().len(), 3);
    let stats = source.stats();
    assert_eq!(
        (stats.requests, stats.pages, stats.server_errors),
        (3, 1, 2)
    );
    // Back-off 10 ms, then 20 ms.
    assert!(
        close(stats.waited_seconds, 0.03),
        "{}",
        stats.waited_seconds
    );
    assert_eq!(totals.rows, df.height() as u64);
}

#[test]
fn a_503_with_retry_after_waits_for_it_not_the_back_off() {
    let server = Server::start(vec![
        Reply::new(503, fixture("server_error_503.json")).header("Retry-After", "1"),
        Reply::new(200, fixture("page2.json")),
    ]);
    let mut source = source(&server, fast_retries(2));
    read(&mut source).expect("read");
    let got = server.received();
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(990), "{gap:?}");
    assert_eq!(source.stats().server_errors, 1);
}

#[test]
fn a_permanent_server_error_fails_naming_the_request() {
    let server = Server::start(vec![
        Reply::new(503, fixture("server_error_503.json")),
        Reply::new(503, fixture("server_error_503.json")),
        Reply::new(503, fixture("server_error_503.json")),
        Reply::new(200, fixture("page2.json")),
    ]);
    let mut source = source(&server, fast_retries(2));
    let err = read(&mut source).expect_err("fails");
    assert!(matches!(err, SourceError::Api { .. }), "{err:?}");
    let text = err.to_string();
    for part in [
        "Cost Management query subscriptions/00000000-1111-2222-3333-444444444444",
        "2024-03-01..2024-03-04 page 1",
        "HTTP 503",
        "ServiceUnavailable: The Cost Management service is temporarily unavailable",
        "after 3 attempts",
    ] {
        assert!(text.contains(part), "{part} not in {text}");
    }
    // Never more than the allowed retries.
    assert_eq!(server.received().len(), 3);
    assert_eq!(source.stats().requests, 3);
}

#[test]
fn a_400_surfaces_microsofts_message_without_retrying() {
    let server = Server::start(vec![
        Reply::new(400, fixture("bad_request_400.json")),
        Reply::new(200, fixture("page2.json")),
    ]);
    let mut source = source(&server, fast_retries(3));
    let err = read(&mut source).expect_err("fails");
    let text = err.to_string();
    assert!(
        text.contains("HTTP 400 BadRequest: Invalid query definition"),
        "{text}"
    );
    assert!(text.contains("page 1"), "{text}");
    assert_eq!(server.received().len(), 1);
}

#[test]
fn a_next_link_sent_twice_stops_the_paging() {
    let server = Server::start(vec![
        Reply::new(200, page1()),
        Reply::new(200, page1()),
        Reply::new(200, page1()),
    ]);
    let mut source = source(&server, fast_retries(1));
    let err = read(&mut source).expect_err("loops");
    assert!(
        err.to_string().contains("nextLink already followed"),
        "{err}"
    );
    assert_eq!(server.received().len(), 2);
}

#[test]
fn a_missing_column_names_the_column_and_the_request() {
    let page = fixture("page2.json").replace(r#"{"name": "Currency", "type": "String"},"#, "");
    let server = Server::start(vec![Reply::new(200, page)]);
    let mut source = source(&server, fast_retries(1));
    let err = read(&mut source).expect_err("fails");
    let text = err.to_string();
    assert!(matches!(err, SourceError::Invalid { .. }), "{err:?}");
    assert!(text.contains("Currency"), "{text}");
    assert!(text.contains("page 1"), "{text}");
}

#[test]
fn a_server_that_stops_answering_times_out_and_is_retried() {
    let server = Server::start(vec![
        Reply::stalled(),
        Reply::new(200, fixture("page2.json")),
    ]);
    let mut retry = fast_retries(3);
    retry.timeout = Duration::from_millis(500);
    let mut patient = source(&server, retry);
    let started = std::time::Instant::now();
    let (totals, df) = read(&mut patient).expect("read after the timeout");
    // 0.5 s for the stalled request, not the minute the server would hold it.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(server.received().len(), 2);
    let stats = patient.stats();
    assert_eq!(
        (stats.requests, stats.pages, stats.server_errors),
        (2, 1, 1)
    );
    assert_eq!(totals.rows, df.height() as u64);

    // Stalled every time: the run fails naming the request, within the retries.
    let server = Server::start(vec![Reply::stalled(), Reply::stalled()]);
    let mut retry = fast_retries(1);
    retry.timeout = Duration::from_millis(300);
    let mut failing = source(&server, retry);
    let text = read(&mut failing).expect_err("never answered").to_string();
    assert!(text.contains("no answer within 0.3 s"), "{text}");
    assert!(text.contains("after 2 attempts"), "{text}");
}

#[test]
fn a_refused_connection_is_retried_within_the_limit_then_named() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let server = Server {
        base: format!("http://127.0.0.1:{port}"),
        received: Default::default(),
    };
    let mut source = source(&server, fast_retries(2));
    let err = read(&mut source).expect_err("nothing listens");
    let text = err.to_string();
    assert!(text.contains("the request failed"), "{text}");
    assert!(text.contains("after 3 attempts"), "{text}");
    assert_eq!(source.stats().requests, 3);
    assert_eq!(source.stats().server_errors, 3);
}
