//! An empty window, a missing table or dataset, a query BigQuery rejects and a bad window:
//! each one clear outcome naming the request (table and window), never a panic. Credentials
//! are tested through the binary (`tests/cli_bigquery.rs`), whose environment is its own.

use carbonledger_gcp::GcpCost;
use carbonledger_usage::{SourceError, UsageSource};
use serde_json::json;

use crate::common::DEFAULT;
use crate::harness::{create_table, dataset, export_table};
use crate::{at, options, read};

/// The error of a read that must fail.
fn failure(result: Result<crate::Read, SourceError>) -> SourceError {
    match result {
        Ok(read) => panic!("read {} rows without an error", read.rows.len()),
        Err(e) => e,
    }
}

#[test]
fn an_empty_window_is_an_empty_read_with_a_note() {
    let ds = dataset("empty");
    export_table(&ds, "export", true, &[]);
    let mut options = options(&ds, "export", DEFAULT, GcpCost::Net);
    options.start = at("2027-01-01T00:00:00Z");
    options.end = at("2027-02-01T00:00:00Z");
    let read = read(options, DEFAULT).expect("an empty window is not an error");
    assert!(read.rows.is_empty());
    assert_eq!(read.totals.rows, 0);
    assert!(read.totals.cost.is_empty());
    let summary = read.source.summary().join("\n");
    assert!(
        summary.contains(&format!(
            "no export rows in local.{ds}.export for usage_start_time 2027-01-01..2027-02-01"
        )),
        "{summary}"
    );
    assert!(summary.contains("the ledger is empty"), "{summary}");
}

#[test]
fn a_missing_table_names_the_table_and_the_window() {
    let ds = dataset("missing");
    let error = failure(read(
        options(&ds, "gcp_billing_export_v1_NOPE", DEFAULT, GcpCost::Net),
        DEFAULT,
    ));
    assert!(matches!(error, SourceError::Api { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "BigQuery jobs.query on local.{ds}.gcp_billing_export_v1_NOPE for \
             usage_start_time 2026-10-01..2026-11-01: the table"
        )),
        "{text}"
    );
    assert!(text.contains("does not exist"), "{text}");
}

#[test]
fn a_missing_dataset_is_reported_too() {
    let error = failure(read(
        options("no_such_dataset", "export", DEFAULT, GcpCost::Net),
        DEFAULT,
    ));
    let text = error.to_string();
    assert!(text.contains("local.no_such_dataset.export"), "{text}");
    // bqemulator answers accessDenied where BigQuery answers notFound (see the README).
    assert!(
        text.contains("does not exist") || text.contains("access denied"),
        "{text}"
    );
}

#[test]
fn a_table_that_is_not_an_export_is_a_query_error() {
    let ds = dataset("notexport");
    // A table with a usage start time and a cost, but none of the export's records.
    create_table(
        &ds,
        "costs",
        json!([
            { "name": "usage_start_time", "type": "TIMESTAMP", "mode": "NULLABLE" },
            { "name": "cost", "type": "FLOAT", "mode": "NULLABLE" },
        ]),
    );
    let error = failure(read(options(&ds, "costs", DEFAULT, GcpCost::Net), DEFAULT));
    assert!(matches!(error, SourceError::Api { .. }), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains(&format!(
            "local.{ds}.costs for usage_start_time 2026-10-01..2026-11-01"
        )),
        "{text}"
    );
    assert!(text.contains("BigQuery rejected the query"), "{text}");
    assert!(text.contains("Cloud Billing export table"), "{text}");
}

#[test]
fn a_window_that_ends_before_it_starts_is_refused_before_any_request() {
    let mut options = options("any", "export", DEFAULT, GcpCost::Net);
    options.end = options.start;
    let error = failure(read(options, DEFAULT));
    assert!(matches!(error, SourceError::Invalid { .. }), "{error:?}");
    assert!(error.to_string().contains("the window ends"), "{error}");
}
