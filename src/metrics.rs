//! `carbonledger metrics --ledger DIR`: the partitioned ledger of `carbonledger run` as
//! OpenMetrics text (the Prometheus exposition format) for a node-exporter textfile collector
//! or a scrape.
//!
//! One gauge family per figure, labelled by `provider`, `region`, `service` and `month`
//! (`YYYY-MM` of `period_start`), summed over the ledger's rows:
//!
//! | family | unit |
//! |---|---|
//! | `carbonledger_energy_kwh` | kWh (operational, PUE and replication included) |
//! | `carbonledger_scope2_location_kg` | kg CO2e, location-based |
//! | `carbonledger_scope2_market_kg` | kg CO2e, market-based (series fully covered by factors) |
//! | `carbonledger_scope3_embodied_kg` | kg CO2e |
//! | `carbonledger_cost` | the ledger's cost, with a `currency` label |
//!
//! A market-based series appears only when every row with energy in it has a market factor.
//! A row with no region is labelled `region="global"`. Values are gauges: each scrape
//! carries the ledger's current totals, restatements included.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use carbonledger_usage::col as ucol;
use polars::prelude::*;

use crate::Error;
use crate::group::market_sum;
use crate::job::store::partition_dirs;
use crate::ledger::col as lcol;

/// The families, in output order: (name, ledger column, help text).
const FAMILIES: [(&str, &str, &str); 4] = [
    (
        "carbonledger_energy_kwh",
        lcol::ENERGY_KWH,
        "Operational energy of cloud usage, kWh (PUE and replication included).",
    ),
    (
        "carbonledger_scope2_location_kg",
        lcol::SCOPE2_LOCATION_KG,
        "Scope 2 emissions, location-based, kg CO2e.",
    ),
    (
        "carbonledger_scope2_market_kg",
        lcol::SCOPE2_MARKET_KG,
        "Scope 2 emissions, market-based, kg CO2e (series with a market factor for every row).",
    ),
    (
        "carbonledger_scope3_embodied_kg",
        lcol::SCOPE3_EMBODIED_KG,
        "Scope 3 embodied emissions of the hardware, kg CO2e.",
    ),
];

/// The ledger's Parquet files: `provider=*/month=*/*.parquet` under `root`, sorted.
pub fn ledger_files(root: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for (_, dir) in partition_dirs(root)? {
        let mut parquet: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|source| Error::Output {
                path: dir.display().to_string(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && f.extension().is_some_and(|e| e == "parquet"))
            .collect();
        parquet.sort();
        files.extend(parquet);
    }
    Ok(files)
}

/// The ledger under `root` as one lazy frame (`None` when it has no files yet).
pub fn scan_ledger(root: &Path) -> Result<Option<LazyFrame>, Error> {
    let mut frames = Vec::new();
    for file in ledger_files(root)? {
        let path = file.to_string_lossy().into_owned();
        let frame = LazyFrame::scan_parquet(PlRefPath::new(&path), ScanArgsParquet::default())
            .map_err(Error::polars(format!("reading {path}")))?;
        frames.push(frame);
    }
    if frames.is_empty() {
        return Ok(None);
    }
    concat(frames, UnionArgs::default())
        .map(Some)
        .map_err(Error::polars("reading the ledger"))
}

/// The OpenMetrics text of the ledger under `root`.
pub fn render(root: &Path) -> Result<String, Error> {
    let mut out = String::new();
    let Some(ledger) = scan_ledger(root)? else {
        out.push_str("# EOF\n");
        return Ok(out);
    };
    let month = col(ucol::PERIOD_START)
        .dt()
        .strftime("%Y-%m")
        .alias("month");
    let region = col(ucol::REGION)
        .fill_null(lit("global"))
        .alias(ucol::REGION);
    let keys = [col(ucol::PROVIDER), region, col(ucol::SERVICE), month];
    let context = "summing the ledger for metrics";
    let sums = ledger
        .clone()
        .group_by(keys.clone())
        .agg([
            col(lcol::ENERGY_KWH).sum(),
            col(lcol::SCOPE2_LOCATION_KG).sum(),
            market_sum(),
            col(lcol::SCOPE3_EMBODIED_KG).sum(),
        ])
        .sort(
            [ucol::PROVIDER, ucol::REGION, ucol::SERVICE, "month"],
            SortMultipleOptions::default(),
        )
        .collect()
        .map_err(Error::polars(context))?;
    let mut cost_keys = keys.to_vec();
    cost_keys.push(col(ucol::CURRENCY));
    let costs = ledger
        .group_by(cost_keys)
        .agg([col(ucol::COST).sum()])
        .sort(
            [
                ucol::PROVIDER,
                ucol::REGION,
                ucol::SERVICE,
                "month",
                ucol::CURRENCY,
            ],
            SortMultipleOptions::default(),
        )
        .collect()
        .map_err(Error::polars(context))?;
    let text = |df: &DataFrame, name: &str| -> PolarsResult<Vec<String>> {
        let c = df.column(name)?.str()?;
        Ok(c.iter().map(|v| v.unwrap_or("").to_owned()).collect())
    };
    let labels = |df: &DataFrame| -> PolarsResult<Vec<String>> {
        let (p, r, s, m) = (
            text(df, ucol::PROVIDER)?,
            text(df, ucol::REGION)?,
            text(df, ucol::SERVICE)?,
            text(df, "month")?,
        );
        Ok((0..df.height())
            .map(|i| {
                format!(
                    "provider=\"{}\",region=\"{}\",service=\"{}\",month=\"{}\"",
                    escape(&p[i]),
                    escape(&r[i]),
                    escape(&s[i]),
                    escape(&m[i])
                )
            })
            .collect())
    };
    let series = labels(&sums).map_err(Error::polars(context))?;
    for (name, column, help) in FAMILIES {
        let _ = writeln!(out, "# TYPE {name} gauge\n# HELP {name} {help}");
        let values = sums
            .column(column)
            .and_then(|c| c.f64().cloned())
            .map_err(Error::polars(context))?;
        for (labels, value) in series.iter().zip(values.iter()) {
            if let Some(v) = value {
                let _ = writeln!(out, "{name}{{{labels}}} {}", number(v));
            }
        }
    }
    let name = "carbonledger_cost";
    let _ = writeln!(
        out,
        "# TYPE {name} gauge\n# HELP {name} Cost of the ledger's rows, in the measure each \
         source was read with, by currency."
    );
    let series = labels(&costs).map_err(Error::polars(context))?;
    let currency = text(&costs, ucol::CURRENCY).map_err(Error::polars(context))?;
    let values = costs
        .column(ucol::COST)
        .and_then(|c| c.f64().cloned())
        .map_err(Error::polars(context))?;
    for ((labels, currency), value) in series.iter().zip(&currency).zip(values.iter()) {
        if let Some(v) = value {
            let currency = escape(currency);
            let _ = writeln!(
                out,
                "{name}{{{labels},currency=\"{currency}\"}} {}",
                number(v)
            );
        }
    }
    out.push_str("# EOF\n");
    Ok(out)
}

/// A label value with `\`, `"` and newlines escaped (OpenMetrics ABNF).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: Rust's shortest round-trip form, which OpenMetrics accepts.
fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v:?}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
    }

    #[test]
    fn numbers_round_trip() {
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(3.0), "3.0");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!("0.30000000000000004".parse::<f64>().ok(), Some(0.1 + 0.2));
        assert_eq!(number(0.1 + 0.2), "0.30000000000000004");
    }
}
