//! The Cost Explorer source against moto, whose queued `GetCostAndUsage` results are served
//! in order, one per distinct request body (a request with a `NextPageToken` is a new body).

use std::sync::Arc;
use std::time::Duration;

use carbonledger_aws_cloud::{
    Connection, CostExplorerOptions, CostExplorerSource, CostMetric, Granularity,
};
use carbonledger_factors::FactorSet;
use carbonledger_usage::{InputTotals, SourceError, UsageSource};
use chrono::NaiveDate;
use polars::prelude::*;
use serde_json::{Value, json};

use crate::harness::{ce_lock, ce_moto, post, queue_cost_explorer, test_credentials};
use crate::proxy::FaultProxy;

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

fn options(endpoint: &str, start: &str, end: &str) -> CostExplorerOptions {
    test_credentials();
    CostExplorerOptions {
        start: date(start),
        end: date(end),
        granularity: Granularity::Daily,
        metric: CostMetric::Unblended,
        accounts: Vec::new(),
        connection: Connection {
            endpoint_url: Some(endpoint.to_owned()),
            initial_backoff: Duration::from_millis(10),
            ..Connection::default()
        },
        cache_dir: None,
        today: Some(date("2026-12-04")),
        ccf_quirks: false,
    }
}

fn source(options: CostExplorerOptions) -> CostExplorerSource {
    let factors = Arc::new(FactorSet::embedded("default").expect("factors"));
    CostExplorerSource::new(options, factors).expect("source")
}

fn read(source: &mut CostExplorerSource) -> Result<(DataFrame, InputTotals), SourceError> {
    let mut frames: Vec<DataFrame> = Vec::new();
    let totals = source.read(&mut |batch| {
        frames.push(batch);
        Ok(())
    })?;
    let mut all = frames.first().cloned().expect("a batch");
    for frame in &frames[1..] {
        all.vstack_mut(frame).expect("same schema");
    }
    Ok((all, totals))
}

fn metric(amount: &str, unit: &str) -> Value {
    json!({ "Amount": amount, "Unit": unit })
}

/// One `ResultsByTime` entry.
fn day(start: &str, end: &str, groups: Vec<Value>) -> Value {
    json!({
        "TimePeriod": { "Start": start, "End": end },
        "Total": {},
        "Groups": groups,
        "Estimated": false,
    })
}

fn record_type(name: &str, cost: &str) -> Value {
    json!({
        "Keys": [name],
        "Metrics": { "UnblendedCost": metric(cost, "USD"), "UsageQuantity": metric("0", "N/A") },
    })
}

fn usage(service: &str, usage_type: &str, quantity: &str, unit: &str, cost: &str) -> Value {
    json!({
        "Keys": [service, usage_type],
        "Metrics": {
            "UnblendedCost": metric(cost, "USD"),
            "UsageQuantity": metric(quantity, unit),
        },
    })
}

fn page(results: Vec<Value>, next: Option<&str>) -> Value {
    let mut page = json!({ "ResultsByTime": results, "DimensionValueAttributes": [] });
    if let Some(next) = next {
        page["NextPageToken"] = json!(next);
    }
    page
}

/// The results of one month of 2026-10 (two days), in the order the source asks:
/// by record type (two pages), then usage by service and usage type (two pages).
fn october_pages() -> Vec<Value> {
    vec![
        page(
            vec![day(
                "2026-10-01",
                "2026-10-02",
                vec![record_type("Usage", "26.4"), record_type("Tax", "2.64")],
            )],
            Some("types-2"),
        ),
        page(
            vec![day(
                "2026-10-02",
                "2026-10-03",
                vec![record_type("Usage", "2.3"), record_type("Credit", "-1.0")],
            )],
            None,
        ),
        page(
            vec![day(
                "2026-10-01",
                "2026-10-02",
                vec![
                    usage(
                        "Amazon Elastic Compute Cloud - Compute",
                        "USW2-BoxUsage:m5.xlarge",
                        "24",
                        "Hrs",
                        "4.608",
                    ),
                    usage(
                        "EC2 - Other",
                        "USW2-EBS:VolumeUsage.gp3",
                        "100",
                        "GB-Mo",
                        "0.8",
                    ),
                ],
            )],
            Some("usage-2"),
        ),
        page(
            vec![
                day(
                    "2026-10-01",
                    "2026-10-02",
                    vec![usage(
                        "Amazon Elastic Compute Cloud - Compute",
                        "USW2-NatGateway-Hours",
                        "24",
                        "Hrs",
                        "20.992",
                    )],
                ),
                day(
                    "2026-10-02",
                    "2026-10-03",
                    vec![usage(
                        "Amazon Simple Storage Service",
                        "TimedStorage-ByteHrs",
                        "100",
                        "GB-Mo",
                        "2.3",
                    )],
                ),
            ],
            None,
        ),
    ]
}

fn texts(df: &DataFrame, column: &str) -> Vec<String> {
    df.column(column)
        .expect(column)
        .str()
        .expect("text")
        .iter()
        .map(|v| v.unwrap_or_default().to_owned())
        .collect()
}

fn floats(df: &DataFrame, column: &str) -> Vec<f64> {
    df.column(column)
        .expect(column)
        .f64()
        .expect("number")
        .iter()
        .map(|v| v.unwrap_or_default())
        .collect()
}

#[test]
fn paged_results_become_classified_rows_that_reconcile() {
    let _lock = ce_lock();
    queue_cost_explorer(&october_pages());
    let mut ce = source(options(&ce_moto().url, "2026-10-01", "2026-10-03"));
    let (rows, totals) = read(&mut ce).expect("reads");

    // Tax and Credit (by type), four usage groups.
    assert_eq!(rows.height(), 6);
    assert_eq!(totals.rows, 6);
    let input_cost = 26.4 + 2.64 + 2.3 - 1.0;
    assert!((totals.cost["USD"] - input_cost).abs() < 1e-9, "{totals:?}");
    let ledger_cost: f64 = floats(&rows, "cost").iter().sum();
    assert!((ledger_cost - input_cost).abs() < 1e-9);

    let usage_types = texts(&rows, "usage_type");
    let classes = texts(&rows, "usage_class");
    let class_of = |t: &str| {
        let i = usage_types.iter().position(|u| u == t).expect(t);
        classes[i].clone()
    };
    assert_eq!(class_of("Tax"), "excluded");
    assert_eq!(class_of("Credit"), "excluded");
    assert_eq!(class_of("USW2-BoxUsage:m5.xlarge"), "compute");
    assert_eq!(class_of("USW2-EBS:VolumeUsage.gp3"), "storage_ssd");
    assert_eq!(class_of("USW2-NatGateway-Hours"), "unknown");
    assert_eq!(class_of("TimedStorage-ByteHrs"), "storage_hdd");

    // m5.xlarge has 4 vCPUs (factors/default/instances.csv): 24 h × 4 = 96 vCPU-hours; the
    // region comes from the usage-type prefix USW2.
    let i = usage_types
        .iter()
        .position(|u| u == "USW2-BoxUsage:m5.xlarge")
        .unwrap();
    assert_eq!(floats(&rows, "vcpu_hours")[i], 96.0);
    assert_eq!(texts(&rows, "region")[i], "us-west-2");
    assert_eq!(texts(&rows, "service")[i], "AmazonEC2");
    // S3 without a prefix is us-east-1; 100 GB-months of October (31 days) are
    // 100 × 24 × 31 / 1000 = 74.4 TB-hours.
    let s = usage_types
        .iter()
        .position(|u| u == "TimedStorage-ByteHrs")
        .unwrap();
    assert_eq!(texts(&rows, "region")[s], "us-east-1");
    assert!((floats(&rows, "storage_tb_hours")[s] - 74.4).abs() < 1e-9);

    let summary = ce.summary().join("\n");
    assert!(
        summary.contains("4 requests sent (4 pages billed"),
        "{summary}"
    );
}

#[test]
fn throttled_requests_are_retried_with_backoff_and_counted() {
    let _lock = ce_lock();
    queue_cost_explorer(&october_pages());
    let proxy = FaultProxy::start(&ce_moto().url);
    proxy.throttle_next(2);
    let mut ce = source(options(&proxy.url, "2026-10-01", "2026-10-03"));
    let (rows, _) = read(&mut ce).expect("reads after the throttling passes");
    assert_eq!(rows.height(), 6);
    // One STS request, four pages, two of them throttled once each.
    assert_eq!(proxy.counts(), (7, 2));
    let summary = ce.summary().join("\n");
    assert!(
        summary.contains("6 requests sent (4 pages billed"),
        "{summary}"
    );
    assert!(summary.contains("2 retried"), "{summary}");

    // Throttling that outlasts the retries: one clear error naming the request.
    queue_cost_explorer(&october_pages());
    proxy.throttle_next(100);
    let mut opts = options(&proxy.url, "2026-10-01", "2026-10-03");
    opts.connection.max_attempts = 3;
    let err = read(&mut source(opts)).err().expect("fails");
    let message = err.to_string();
    assert!(
        message.contains("Cost Explorer GetCostAndUsage 2026-10-01..2026-10-03"),
        "{message}"
    );
    assert!(message.contains("throttled"), "{message}");
}

#[test]
fn closed_months_are_answered_from_the_cache_on_the_next_run() {
    let _lock = ce_lock();
    queue_cost_explorer(&october_pages());
    let cache = tempfile::tempdir().expect("cache dir");
    let mut opts = options(&ce_moto().url, "2026-10-01", "2026-10-03");
    opts.cache_dir = Some(cache.path().to_path_buf());
    let mut first = source(opts.clone());
    let (rows, _) = read(&mut first).expect("first run");
    let summary = first.summary().join("\n");
    assert!(summary.contains("4 requests sent (4 pages"), "{summary}");
    assert!(summary.contains("1 newly cached"), "{summary}");

    // moto forgets everything: a request now would get no results, so equal rows can only
    // come from the cache.
    post(&ce_moto().url, "/moto-api/reset", "");
    let mut second = source(opts.clone());
    let (again, _) = read(&mut second).expect("second run");
    assert!(again.equals_missing(&rows));
    let summary = second.summary().join("\n");
    assert!(summary.contains("0 requests sent (0 pages"), "{summary}");
    assert!(
        summary.contains("1 months answered from the cache"),
        "{summary}"
    );

    // The open month (December 2026, today 2026-12-04) is never cached, even with final
    // results.
    let mut open = opts;
    open.start = date("2026-12-01");
    open.end = date("2026-12-03");
    queue_cost_explorer(&[page(
        vec![day(
            "2026-12-01",
            "2026-12-02",
            vec![record_type("Tax", "1.0")],
        )],
        None,
    )]);
    let mut december = source(open);
    read(&mut december).expect("december");
    let summary = december.summary().join("\n");
    assert!(summary.contains("0 newly cached"), "{summary}");
}

#[test]
fn linked_accounts_are_queried_one_by_one() {
    let _lock = ce_lock();
    let one = vec![
        page(
            vec![day(
                "2026-10-01",
                "2026-10-02",
                vec![record_type("Usage", "4.608")],
            )],
            None,
        ),
        page(
            vec![day(
                "2026-10-01",
                "2026-10-02",
                vec![usage(
                    "Amazon Elastic Compute Cloud - Compute",
                    "BoxUsage:m5.xlarge",
                    "24",
                    "Hrs",
                    "4.608",
                )],
            )],
            None,
        ),
    ];
    let two = vec![page(
        vec![day(
            "2026-10-01",
            "2026-10-02",
            vec![record_type("Tax", "0.5")],
        )],
        None,
    )];
    queue_cost_explorer(&[one, two].concat());
    let mut opts = options(&ce_moto().url, "2026-10-01", "2026-10-02");
    opts.accounts = vec!["111111111111".into(), "222222222222".into()];
    let mut ce = source(opts);
    let (rows, totals) = read(&mut ce).expect("reads");
    assert_eq!(
        texts(&rows, "usage_account"),
        ["111111111111", "222222222222"]
    );
    assert!((totals.cost["USD"] - 5.108).abs() < 1e-9);
    assert!(
        ce.summary()[0].contains("3 requests sent"),
        "{:?}",
        ce.summary()
    );
}

#[test]
fn usage_cost_missing_from_the_groups_is_kept_as_an_excluded_row() {
    let _lock = ce_lock();
    queue_cost_explorer(&[
        page(
            vec![day(
                "2026-10-01",
                "2026-10-02",
                vec![record_type("Usage", "10.0")],
            )],
            None,
        ),
        page(
            vec![day(
                "2026-10-01",
                "2026-10-02",
                vec![usage(
                    "AWS Lambda",
                    "Lambda-GB-Second",
                    "3600",
                    "Lambda-GB-Second",
                    "7.5",
                )],
            )],
            None,
        ),
    ]);
    let mut ce = source(options(&ce_moto().url, "2026-10-01", "2026-10-02"));
    let (rows, totals) = read(&mut ce).expect("reads");
    assert_eq!(rows.height(), 2);
    assert!((totals.cost["USD"] - 10.0).abs() < 1e-9);
    let costs = floats(&rows, "cost");
    assert!((costs.iter().sum::<f64>() - 10.0).abs() < 1e-9);
    let reasons = texts(&rows, "exclusion_reason");
    assert!(reasons[1].contains("UnattributedUsage"), "{reasons:?}");
    assert!((costs[1] - 2.5).abs() < 1e-9);
    // The two queries disagree by far more than rounding: the run says so.
    let summary = ce.summary().join("\n");
    assert!(summary.contains("warning:"), "{summary}");
    assert!(summary.contains("cost 10 USD but"), "{summary}");
    assert!(summary.contains("add up to 7.5 USD"), "{summary}");
}
