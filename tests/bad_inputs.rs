//! The bad-input catalogue (`tests/bad_inputs/catalogue.toml`, files made by
//! `tests/bad_inputs/make_cases.py`): every case is run through the real `carbonledger
//! estimate` binary with `--output`, and its outcome checked:
//!
//! * `error`: the exit code (1), the location (`FILE, line N, column `C``, as far as the case
//!   names them) and a fragment of the message on stderr, nothing on stdout, and no file at
//!   all in the output folder (no ledger, no partial, no temporary file);
//! * `ok`: the rows read, the rows estimated, estimated by ratio and excluded, the reasons of
//!   the excluded rows, and the totals: the input cost worked out by hand in the catalogue
//!   equals the reconciliation's `cost in`, and the cost of the ledger's estimated rows plus
//!   ratio rows plus excluded rows (summed here from the ledger CSV, in USD) equals it too.
//!
//! Costs are in the bill's currency (USD for every case).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case is (shown on failure).
    name: String,
    /// `aws`, `gcp`, `azure` or `focus`: the reader the case is for.
    reader: String,
    /// The kind of fault, from the list (`gzip`, `parquet`, `delimiter`, …).
    kind: String,
    /// The input, relative to `tests/bad_inputs/`.
    input: String,
    /// Pass `--provider READER` (else the header decides).
    #[serde(default)]
    provider: bool,
    /// More arguments for `estimate`.
    #[serde(default)]
    args: Vec<String>,
    /// `error` or `ok`.
    expect: String,
    // --- error cases
    exit: Option<i32>,
    /// The file named by the message: the input's last path segment unless given.
    file: Option<String>,
    line: Option<u64>,
    column: Option<String>,
    #[serde(default)]
    message: Vec<String>,
    // --- ok cases
    rows: Option<u64>,
    estimated: Option<u64>,
    ratio: Option<u64>,
    excluded: Option<u64>,
    /// Fragments of the exclusion reasons, one per excluded row (any order).
    #[serde(default)]
    reasons: Vec<String>,
    /// The input cost in USD, worked out by hand from the file (the arithmetic in `why`).
    cost: Option<f64>,
    /// Why this is the right outcome (and the arithmetic of `cost`).
    #[allow(dead_code)]
    why: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_inputs")
}

fn catalogue() -> Catalogue {
    let path = root().join("catalogue.toml");
    let text = std::fs::read_to_string(&path).expect("catalogue");
    toml::from_str(&text).expect("catalogue.toml parses")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The number after `label` in the reconciliation summary.
fn summary_number(stderr: &str, label: &str) -> Option<String> {
    let line = stderr.lines().find(|l| l.trim_start().starts_with(label))?;
    Some(line.trim_start()[label.len()..].trim().to_owned())
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read output dir") {
        out.push(
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned(),
        );
    }
    out
}

/// Runs one case; returns what is wrong with its outcome (empty when it is as catalogued).
fn check(case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let input = root().join(&case.input);
    let out_dir = tempfile::tempdir().expect("temp");
    let output = out_dir.path().join("ledger.csv");
    let mut args: Vec<String> = vec![
        "estimate".into(),
        "--input".into(),
        input.to_str().expect("utf-8").into(),
        "--format".into(),
        "csv".into(),
        "--output".into(),
        output.to_str().expect("utf-8").into(),
    ];
    if case.provider {
        args.extend(["--provider".into(), case.reader.clone()]);
    }
    args.extend(case.args.iter().cloned());
    let run = Command::cargo_bin("carbonledger")
        .expect("binary")
        .args(&args)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    let code = run.status.code();
    if stderr.contains("panicked") {
        problems.push("the binary panicked".into());
    }
    match case.expect.as_str() {
        "error" => {
            if code != Some(case.exit.unwrap_or(1)) {
                problems.push(format!("exit code {code:?}, expected {:?}", case.exit));
            }
            let file = case.file.clone().unwrap_or_else(|| {
                Path::new(&case.input)
                    .file_name()
                    .expect("file name")
                    .to_string_lossy()
                    .into_owned()
            });
            let mut location = file;
            if let Some(line) = case.line {
                location.push_str(&format!(", line {line}"));
            }
            if let Some(column) = &case.column {
                location.push_str(&format!(", column `{column}`"));
            }
            if !stderr.contains(&location) {
                problems.push(format!("stderr does not name `{location}`"));
            }
            for fragment in &case.message {
                if !stderr.contains(fragment.as_str()) {
                    problems.push(format!("stderr lacks `{fragment}`"));
                }
            }
            if !run.stdout.is_empty() {
                problems.push("something was written to stdout".into());
            }
            let left = files_under(out_dir.path());
            if !left.is_empty() {
                problems.push(format!("files left in the output folder: {left:?}"));
            }
        }
        "ok" => {
            if code != Some(0) {
                problems.push(format!("exit code {code:?}, expected 0"));
                return with_log(problems, &stderr);
            }
            problems.extend(check_ledger(case, &output, &stderr));
        }
        other => problems.push(format!("unknown expectation `{other}`")),
    }
    with_log(problems, &stderr)
}

fn with_log(mut problems: Vec<String>, stderr: &str) -> Vec<String> {
    if !problems.is_empty() {
        problems.push(format!("stderr:\n{stderr}"));
    }
    problems
}

fn check_ledger(case: &Case, output: &Path, stderr: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut ledger = csv::Reader::from_path(output).expect("the ledger CSV");
    let header = ledger.headers().expect("header").clone();
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (kind_at, cost_at, reason_at, currency_at) = (
        at("estimate_kind"),
        at("cost"),
        at("exclusion_reason"),
        at("currency"),
    );
    let mut rows: BTreeMap<String, u64> = BTreeMap::new();
    let mut cost: BTreeMap<String, f64> = BTreeMap::new();
    let mut reasons = Vec::new();
    for record in ledger.records() {
        let record = record.expect("ledger record");
        let kind = record[kind_at].to_owned();
        if record[currency_at] != *"USD" {
            problems.push(format!("a row in `{}`, not USD", &record[currency_at]));
        }
        let value: f64 = record[cost_at].parse().unwrap_or(f64::NAN);
        if !value.is_finite() {
            problems.push(format!("a ledger cost of `{}`", &record[cost_at]));
        }
        *rows.entry(kind.clone()).or_default() += 1;
        *cost.entry(kind.clone()).or_default() += value;
        if kind == "excluded" {
            reasons.push(record[reason_at].to_owned());
        }
    }
    let count = |kind: &str| rows.get(kind).copied().unwrap_or(0);
    let expected = [
        ("estimated", case.estimated),
        ("ratio", case.ratio),
        ("excluded", case.excluded),
    ];
    for (kind, want) in expected {
        if let Some(want) = want
            && count(kind) != want
        {
            problems.push(format!("{} {kind} rows, expected {want}", count(kind)));
        }
    }
    let total: u64 = rows.values().sum();
    let unknown: Vec<_> = rows
        .keys()
        .filter(|k| !["estimated", "ratio", "excluded"].contains(&k.as_str()))
        .collect();
    if !unknown.is_empty() {
        problems.push(format!("rows of unknown kinds {unknown:?}"));
    }
    if let Some(want) = case.rows {
        if total != want {
            problems.push(format!("{total} ledger rows, expected {want}"));
        }
        let read = summary_number(stderr, "rows read");
        if read.as_deref() != Some(want.to_string().as_str()) {
            problems.push(format!("`rows read` says {read:?}, expected {want}"));
        }
    }
    for fragment in &case.reasons {
        match reasons.iter().position(|r| r.contains(fragment.as_str())) {
            Some(i) => {
                reasons.remove(i);
            }
            None => problems.push(format!("no excluded row left with reason `{fragment}`")),
        }
    }
    if !case.reasons.is_empty() && !reasons.is_empty() {
        problems.push(format!("excluded rows not catalogued: {reasons:?}"));
    }
    if let Some(want) = case.cost {
        // cost in = estimated + ratio + excluded, each summed from the ledger.
        let parts = ["estimated", "ratio", "excluded"].map(|k| cost.get(k).copied().unwrap_or(0.0));
        let out: f64 = parts.iter().sum();
        if !close(out, want) {
            problems.push(format!(
                "ledger cost {out} (estimated {} + ratio {} + excluded {}), input {want}",
                parts[0], parts[1], parts[2]
            ));
        }
        // The summary prints 4 decimals: `cost in  3.5000 USD`.
        let cost_in = summary_number(stderr, "cost in");
        let shown = cost_in
            .as_deref()
            .and_then(|v| v.strip_suffix(" USD"))
            .and_then(|v| v.parse::<f64>().ok());
        let agrees = match shown {
            Some(v) => (v - want).abs() <= 0.00005 + 1e-12 * want.abs(),
            None => total == 0 && cost_in.as_deref() == Some("0"),
        };
        if !agrees {
            problems.push(format!(
                "`cost in` says {cost_in:?}, expected {want:.4} USD"
            ));
        }
    }
    problems
}

#[test]
fn every_catalogued_bad_input_has_its_outcome() {
    let catalogue = catalogue();
    // Two at a time (CI has two cores); each case is a process of its own.
    let half = catalogue.case.len().div_ceil(2);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = catalogue
            .case
            .chunks(half)
            .map(|cases| {
                scope.spawn(move || {
                    cases
                        .iter()
                        .filter_map(|case| {
                            let problems = check(case);
                            (!problems.is_empty()).then(|| {
                                let list = problems.join("\n  ");
                                format!("{} ({}):\n  {list}", case.name, case.input)
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        runs.into_iter()
            .flat_map(|run| run.join().expect("case thread"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The catalogue is as wide as issue 11 asks: 40 cases or more, every reader, every kind.
#[test]
fn the_catalogue_covers_every_reader_and_kind() {
    let catalogue = catalogue();
    assert!(catalogue.case.len() >= 40, "{} cases", catalogue.case.len());
    let mut names = std::collections::BTreeSet::new();
    for case in &catalogue.case {
        assert!(
            names.insert(case.name.as_str()),
            "two cases named {}",
            case.name
        );
        assert!(
            root().join(&case.input).exists(),
            "{}: no {}",
            case.name,
            case.input
        );
        assert!(
            matches!(case.expect.as_str(), "ok" | "error"),
            "{}: {}",
            case.name,
            case.expect
        );
        if case.expect == "ok" {
            assert!(
                case.rows.is_some() && case.cost.is_some(),
                "{}: totals",
                case.name
            );
        } else {
            assert!(!case.message.is_empty(), "{}: message", case.name);
        }
    }
    for reader in ["aws", "gcp", "azure", "focus"] {
        let kinds: std::collections::BTreeSet<_> = catalogue
            .case
            .iter()
            .filter(|c| c.reader == reader)
            .map(|c| c.kind.as_str())
            .collect();
        for kind in [
            "gzip",
            "delimiter",
            "bom",
            "encoding",
            "columns",
            "number",
            "date",
            "amount",
            "unknown",
            "empty",
        ] {
            assert!(kinds.contains(kind), "{reader} has no `{kind}` case");
        }
        assert!(kinds.contains("parquet"), "{reader} has no `parquet` case");
    }
    for reader in ["aws", "azure"] {
        assert!(
            catalogue
                .case
                .iter()
                .any(|c| c.reader == reader && c.kind == "manifest"),
            "{reader} has no manifest case"
        );
    }
}
