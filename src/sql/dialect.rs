//! The per-dialect layer of the SQL view: every function, literal and name whose spelling
//! differs between DuckDB, BigQuery (GoogleSQL), Athena (Trino) and Spark SQL. The view's
//! logic in [`super::aws`] is written once against these helpers.
//!
//! The differences handled: identifier quoting (`"x"` or `` `x` ``), table paths
//! (`dataset.table` in one pair of backticks for BigQuery), string literals (BigQuery and Spark
//! read backslash escapes, DuckDB and Trino do not), the failing cast (`TRY_CAST` or
//! `SAFE_CAST`), type names, substring and suffix tests, regular expressions (RE2 in DuckDB and
//! BigQuery, Java-style in Trino and Spark; the view uses only the syntax all four share:
//! classes, `\b`, `\d`, anchors, groups), the days of a month, and timestamps.

/// A SQL dialect the view can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Dialect {
    Bigquery,
    Athena,
    Spark,
    Duckdb,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Bigquery => "bigquery",
            Dialect::Athena => "athena",
            Dialect::Spark => "spark",
            Dialect::Duckdb => "duckdb",
        }
    }

    fn backticks(self) -> bool {
        matches!(self, Dialect::Bigquery | Dialect::Spark)
    }

    /// A quoted identifier (a column name such as `lineItem/UsageType`).
    pub fn ident(self, name: &str) -> String {
        if self.backticks() {
            format!("`{}`", name.replace('`', "\\`"))
        } else {
            format!("\"{}\"", name.replace('"', "\"\""))
        }
    }

    /// A table reference from a dotted path (`project.dataset.table`, `catalog.db.table`).
    pub fn table(self, path: &str) -> String {
        match self {
            Dialect::Bigquery => format!("`{path}`"),
            _ => path
                .split('.')
                .map(|part| self.ident(part))
                .collect::<Vec<_>>()
                .join("."),
        }
    }

    /// A string literal holding exactly `s`.
    pub fn str(self, s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('\'');
        for c in s.chars() {
            match c {
                '\'' if self.backticks() => out.push_str("\\'"),
                '\'' => out.push_str("''"),
                '\\' if self.backticks() => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('\'');
        out
    }

    pub fn string_type(self) -> &'static str {
        match self {
            Dialect::Bigquery => "STRING",
            Dialect::Spark => "STRING",
            _ => "VARCHAR",
        }
    }

    pub fn double_type(self) -> &'static str {
        match self {
            Dialect::Bigquery => "FLOAT64",
            _ => "DOUBLE",
        }
    }

    pub fn int_type(self) -> &'static str {
        match self {
            Dialect::Bigquery => "INT64",
            _ => "BIGINT",
        }
    }

    /// `expr` as text, `''` when null: connectors read missing cells as empty strings.
    pub fn text(self, expr: &str) -> String {
        format!("COALESCE(CAST({expr} AS {}), '')", self.string_type())
    }

    /// A number read from text or a number column: null when it does not parse. BigQuery casts
    /// the column itself (its tables are typed, and a FLOAT64 → STRING → FLOAT64 round trip
    /// is not promised to be exact there); the others go through trimmed text, which CSV-loaded
    /// CUR tables hold, and print doubles in a form that reads back exactly.
    pub fn try_double(self, expr: &str) -> String {
        match self {
            Dialect::Bigquery => format!("SAFE_CAST({expr} AS FLOAT64)"),
            _ => format!(
                "TRY_CAST(NULLIF(TRIM(CAST({expr} AS {})), '') AS DOUBLE)",
                self.string_type()
            ),
        }
    }

    /// A UTC timestamp from a timestamp column or RFC 3339 text (`2023-11-01T00:00:00Z`).
    pub fn timestamp(self, expr: &str) -> String {
        match self {
            Dialect::Duckdb => format!(
                "CAST(CAST(CAST({expr} AS VARCHAR) AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)"
            ),
            Dialect::Bigquery => format!("TIMESTAMP(CAST({expr} AS STRING))"),
            Dialect::Athena => format!(
                "CAST(from_iso8601_timestamp(replace(CAST({expr} AS VARCHAR), ' ', 'T')) \
                 AT TIME ZONE 'UTC' AS TIMESTAMP)"
            ),
            Dialect::Spark => format!("to_utc_timestamp(CAST({expr} AS TIMESTAMP), 'UTC')"),
        }
    }

    /// Whether `haystack` contains `needle` (both text).
    pub fn contains(self, haystack: &str, needle: &str) -> String {
        match self {
            Dialect::Spark => format!("(instr({haystack}, {needle}) > 0)"),
            _ => format!("(strpos({haystack}, {needle}) > 0)"),
        }
    }

    /// Whether `s` ends with `suffix` (both text; `suffix` not empty).
    pub fn ends_with(self, s: &str, suffix: &str) -> String {
        match self {
            Dialect::Duckdb => format!("ends_with({s}, {suffix})"),
            Dialect::Bigquery => format!("ENDS_WITH({s}, {suffix})"),
            _ => format!(
                "(length({s}) >= length({suffix}) \
                 AND substr({s}, length({s}) - length({suffix}) + 1) = {suffix})"
            ),
        }
    }

    /// Whether the regular expression `pattern` (an expression) matches somewhere in `s`.
    pub fn regex_match(self, s: &str, pattern: &str) -> String {
        match self {
            Dialect::Duckdb => format!("regexp_matches({s}, {pattern})"),
            Dialect::Bigquery => format!("REGEXP_CONTAINS({s}, {pattern})"),
            Dialect::Athena => format!("regexp_like({s}, {pattern})"),
            Dialect::Spark => format!("({s} RLIKE {pattern})"),
        }
    }

    /// The first capture group of `pattern` (a literal regex) in `s`, `''` when it does not
    /// match.
    pub fn regex_group(self, s: &str, pattern: &str) -> String {
        let p = self.str(pattern);
        match self {
            Dialect::Bigquery => format!("COALESCE(REGEXP_EXTRACT({s}, {p}), '')"),
            _ => format!("COALESCE(regexp_extract({s}, {p}, 1), '')"),
        }
    }

    /// `s` with the first match of the anchored `pattern` (a literal regex) removed.
    pub fn regex_strip(self, s: &str, pattern: &str) -> String {
        let p = self.str(pattern);
        match self {
            Dialect::Bigquery => format!("REGEXP_REPLACE({s}, {p}, '')"),
            _ => format!("regexp_replace({s}, {p}, '')"),
        }
    }

    /// The number of days in the month of the timestamp `ts`.
    pub fn days_in_month(self, ts: &str) -> String {
        match self {
            Dialect::Duckdb => format!("CAST(day(last_day({ts})) AS DOUBLE)"),
            Dialect::Bigquery => {
                format!("CAST(EXTRACT(DAY FROM LAST_DAY(DATE({ts}))) AS FLOAT64)")
            }
            Dialect::Athena => format!("CAST(day(last_day_of_month({ts})) AS DOUBLE)"),
            Dialect::Spark => format!("CAST(day(last_day({ts})) AS DOUBLE)"),
        }
    }

    /// Whether `s` starts with `prefix` (both text).
    pub fn starts_with(self, s: &str, prefix: &str) -> String {
        match self {
            Dialect::Bigquery => format!("STARTS_WITH({s}, {prefix})"),
            Dialect::Duckdb => format!("starts_with({s}, {prefix})"),
            _ => format!("(substr({s}, 1, length({prefix})) = {prefix})"),
        }
    }

    /// The sum of `field` over the repeated record `list` (GCP `credits`), 0 when empty.
    /// BigQuery and DuckDB only (the GCP export's engines).
    pub fn repeated_sum(self, list: &str, field: &str) -> String {
        match self {
            Dialect::Duckdb => {
                format!("COALESCE(list_sum(list_transform({list}, lambda x: x.{field})), 0e0)")
            }
            _ => format!("IFNULL((SELECT SUM(x.{field}) FROM UNNEST({list}) AS x), 0e0)"),
        }
    }

    /// The `value` of the first entry of the repeated key/value record `list` whose `key` is
    /// `key` (a literal), `''` when none (GCP `system_labels`).
    pub fn repeated_lookup(self, list: &str, key: &str) -> String {
        let k = self.str(key);
        match self {
            Dialect::Duckdb => format!(
                "COALESCE(list_extract(list_transform(list_filter({list}, lambda x: x.key = {k}), \
                 lambda x: x.value), 1), '')"
            ),
            _ => format!(
                "IFNULL((SELECT x.value FROM UNNEST({list}) AS x WHERE x.key = {k} LIMIT 1), '')"
            ),
        }
    }

    /// `CREATE OR REPLACE VIEW name AS` (every supported engine has the form).
    pub fn create_view(self, name: &str) -> String {
        format!("CREATE OR REPLACE VIEW {} AS", self.table(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_names_follow_each_dialect() {
        assert_eq!(Dialect::Duckdb.str(r"\bx'"), r"'\bx'''");
        assert_eq!(Dialect::Bigquery.str(r"\bx'"), r"'\\bx\''");
        assert_eq!(
            Dialect::Spark.ident("lineItem/UsageType"),
            "`lineItem/UsageType`"
        );
        assert_eq!(Dialect::Athena.table("db.cur"), "\"db\".\"cur\"");
        assert_eq!(Dialect::Bigquery.table("p-1.billing.t"), "`p-1.billing.t`");
    }
}
