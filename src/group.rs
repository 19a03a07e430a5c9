//! `--group-by`: totals of the ledger by day, month, account, region, service, usage class,
//! provider or a tag, with rows, cost, energy (kWh) and emissions (kg CO2e) per group.

use std::path::Path;
use std::str::FromStr;

use carbonledger_usage::col as ucol;
use polars::prelude::*;

use crate::Error;
use crate::ledger::col as lcol;

/// One `--group-by` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupKey {
    Day,
    Month,
    Account,
    Region,
    Service,
    UsageClass,
    Provider,
    /// A user tag, `tag:KEY`.
    Tag(String),
}

impl FromStr for GroupKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "day" => GroupKey::Day,
            "month" => GroupKey::Month,
            "account" => GroupKey::Account,
            "region" => GroupKey::Region,
            "service" => GroupKey::Service,
            "usage_class" => GroupKey::UsageClass,
            "provider" => GroupKey::Provider,
            tag if tag.starts_with("tag:") && tag.len() > 4 => GroupKey::Tag(tag[4..].to_owned()),
            other => {
                return Err(format!(
                    "unknown group key `{other}` (day, month, account, region, service, \
                     usage_class, provider, tag:KEY)"
                ));
            }
        })
    }
}

impl GroupKey {
    fn expr(&self) -> Expr {
        match self {
            GroupKey::Day => col(ucol::PERIOD_START).dt().date().alias("day"),
            GroupKey::Month => col(ucol::PERIOD_START)
                .dt()
                .strftime("%Y-%m")
                .alias("month"),
            GroupKey::Account => col(ucol::USAGE_ACCOUNT).alias("account"),
            GroupKey::Region => col(ucol::REGION),
            GroupKey::Service => col(ucol::SERVICE),
            GroupKey::UsageClass => col(ucol::USAGE_CLASS),
            GroupKey::Provider => col(ucol::PROVIDER),
            GroupKey::Tag(key) => {
                let path = format!("$['{}']", key.replace('\'', "\\'"));
                col(ucol::TAGS)
                    .str()
                    .json_path_match(lit(path))
                    .alias(format!("tag:{key}"))
            }
        }
    }

    fn name(&self) -> String {
        match self {
            GroupKey::Day => "day".into(),
            GroupKey::Month => "month".into(),
            GroupKey::Account => "account".into(),
            GroupKey::Region => ucol::REGION.into(),
            GroupKey::Service => ucol::SERVICE.into(),
            GroupKey::UsageClass => ucol::USAGE_CLASS.into(),
            GroupKey::Provider => ucol::PROVIDER.into(),
            GroupKey::Tag(key) => format!("tag:{key}"),
        }
    }
}

/// The market-based Scope 2 total of a group: null unless every row with energy has a
/// market factor, since a sum over part of the group's energy would read as the whole.
pub fn market_sum() -> Expr {
    let market = lcol::SCOPE2_MARKET_KG;
    let uncovered = col(lcol::ENERGY_KWH)
        .gt(lit(0.0))
        .and(col(market).is_null());
    when(uncovered.any(true))
        .then(lit(NULL).cast(DataType::Float64))
        .otherwise(col(market).sum())
        .alias(market)
}

/// Groups the ledger Parquet file at `ledger` by `keys` (always also by currency).
pub fn group(ledger: &Path, keys: &[GroupKey]) -> Result<DataFrame, Error> {
    let path = ledger.to_string_lossy().into_owned();
    let lf = LazyFrame::scan_parquet(PlRefPath::new(&path), ScanArgsParquet::default())
        .map_err(Error::polars("reading the ledger"))?;
    let mut by: Vec<Expr> = keys.iter().map(GroupKey::expr).collect();
    by.push(col(ucol::CURRENCY));
    let mut names: Vec<String> = keys.iter().map(GroupKey::name).collect();
    names.push(ucol::CURRENCY.into());
    lf.group_by(by)
        .agg([
            len().alias("rows"),
            col(ucol::COST).sum(),
            col(lcol::ENERGY_KWH).sum(),
            col(lcol::SCOPE2_LOCATION_KG).sum(),
            market_sum(),
            col(lcol::SCOPE3_EMBODIED_KG).sum(),
        ])
        .sort(names, SortMultipleOptions::default().with_nulls_last(true))
        .collect_with_engine(Engine::Streaming)
        .map(|r| r.unwrap_single())
        .map_err(Error::polars("grouping the ledger"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The market total of one group of rows (energy kWh, market kg).
    fn market_total(energy: &[Option<f64>], market: &[Option<f64>]) -> Option<f64> {
        let df = df! {
            "g" => vec![1; energy.len()],
            lcol::ENERGY_KWH => energy,
            lcol::SCOPE2_MARKET_KG => market,
        }
        .unwrap();
        let out = df
            .lazy()
            .group_by([col("g")])
            .agg([market_sum()])
            .collect()
            .unwrap();
        out.column(lcol::SCOPE2_MARKET_KG)
            .unwrap()
            .f64()
            .unwrap()
            .get(0)
    }

    #[test]
    fn market_totals_need_every_row_with_energy_covered() {
        // A GCP row (0.5 kg) and an excluded row (no energy): 0.5.
        assert_eq!(
            market_total(&[Some(1.0), None], &[Some(0.5), None]),
            Some(0.5)
        );
        // Add an AWS row with energy but no market factor: the total is unknown.
        assert_eq!(
            market_total(&[Some(1.0), None, Some(2.0)], &[Some(0.5), None, None]),
            None
        );
        // Only rows without energy: 0 kg, nothing uncovered.
        assert_eq!(market_total(&[Some(0.0)], &[None]), Some(0.0));
    }

    #[test]
    fn keys_parse() {
        assert_eq!("month".parse::<GroupKey>(), Ok(GroupKey::Month));
        assert_eq!(
            "tag:Team".parse::<GroupKey>(),
            Ok(GroupKey::Tag("Team".into()))
        );
        assert!("tag:".parse::<GroupKey>().is_err());
        assert!(
            "week"
                .parse::<GroupKey>()
                .unwrap_err()
                .contains("unknown group key")
        );
    }
}
