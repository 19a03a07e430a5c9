//! Values as real FOCUS exports write them, and their parsing.
//!
//! * Null: an empty cell, or the literal text `NULL` / `null` / `None` (any case) that
//!   spreadsheet tools and some exports write for a missing value.
//! * Decimal: a plain number (`1.5`, `-0.25`, `1e-3`); thousands separators and currency
//!   signs (`$10,000.00`) are not FOCUS's Numeric Format and are rejected.
//! * Date/Time: FOCUS says `YYYY-MM-DDTHH:mm:ssZ`; also accepted are a space for the `T`,
//!   no `Z` (read as UTC), fractional seconds, an offset (`+02:00`, `+0200`), a ` UTC` suffix
//!   (as polars prints timestamps) and a bare date (midnight UTC). Anything else (`5/1/25`,
//!   hour 30) is rejected.
//! * Enumerations (`ChargeCategory`, `ChargeClass`, `CommitmentDiscountStatus`): compared
//!   ignoring ASCII case and surrounding spaces.
//! * Tags: a JSON object (Key-Value Format); normalised to an object of strings with sorted
//!   keys, as the usage schema wants: string values kept, `true` (FOCUS's valueless tag),
//!   numbers and other values written as their JSON text, `null` as an empty string; a body
//!   without its braces (`"a": "b"`, as some Azure exports write it) is accepted.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use serde_json::Value;

/// One cell of a row, as the file gave it.
#[derive(Debug, Clone, Default)]
pub enum Cell<'a> {
    #[default]
    Null,
    Text(Cow<'a, str>),
    Number(f64),
    /// Microseconds since the Unix epoch, UTC.
    Time(i64),
}

impl Cell<'_> {
    /// The cell as text, `None` when null (see the module docs).
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Cell::Null => None,
            Cell::Text(t) => {
                let t = t.trim();
                (!is_null_text(t)).then_some(Cow::Borrowed(t))
            }
            Cell::Number(n) => Some(Cow::Owned(n.to_string())),
            Cell::Time(us) => DateTime::from_timestamp_micros(*us)
                .map(|d| Cow::Owned(d.format("%Y-%m-%dT%H:%M:%SZ").to_string())),
        }
    }
}

/// Whether a trimmed text cell stands for a missing value.
pub fn is_null_text(t: &str) -> bool {
    t.is_empty() || t.eq_ignore_ascii_case("null") || t.eq_ignore_ascii_case("none")
}

/// A FOCUS Decimal.
pub fn parse_decimal(text: &str) -> Option<f64> {
    let t = text.trim();
    let plain = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !plain {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A FOCUS Date/Time, as microseconds since the epoch (UTC).
pub fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    let t = t.strip_suffix(" UTC").unwrap_or(t);
    if t.len() == 10 {
        return NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp_micros());
    }
    // A space for the `T` (only at the date's end).
    let mut owned;
    let t = if t.as_bytes().get(10) == Some(&b' ') {
        owned = t.to_owned();
        owned.replace_range(10..11, "T");
        owned.as_str()
    } else {
        t
    };
    if let Some(naive) = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')) {
        return naive_utc(naive);
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%:z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(t, format) {
            return Some(dt.to_utc().timestamp_micros());
        }
    }
    naive_utc(t)
}

fn naive_utc(t: &str) -> Option<i64> {
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .map(|d| d.and_utc().timestamp_micros())
}

/// The canonical spelling of `text` among `allowed`, ignoring case.
pub fn canonical<'a>(text: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let t = text.trim();
    allowed.iter().copied().find(|a| a.eq_ignore_ascii_case(t))
}

/// Tags text normalised (see the module docs); `Err` with what is wrong when it is not a JSON
/// object.
pub fn normalise_tags(text: &str) -> Result<BTreeMap<String, String>, String> {
    let t = text.trim();
    let parsed: Value = match serde_json::from_str(t) {
        Ok(v) => v,
        Err(first) => match serde_json::from_str(&format!("{{{t}}}")) {
            Ok(v) => v,
            Err(_) => return Err(format!("not a JSON object of tags: {first}")),
        },
    };
    let Value::Object(map) = parsed else {
        return Err("not a JSON object of tags (FOCUS Key-Value Format)".into());
    };
    Ok(map
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// Tags as the usage schema's JSON text (`{}` when none).
pub fn tags_json(tags: &BTreeMap<String, String>) -> String {
    serde_json::to_string(tags).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_1: i64 = 1_704_067_200_000_000;

    #[test]
    fn times_in_the_shapes_real_exports_write() {
        for t in [
            "2024-01-01T00:00:00Z",
            "2024-01-01 00:00:00",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.000Z",
            "2024-01-01 00:00:00 UTC",
            "2024-01-01T02:00:00+02:00",
            "2024-01-01T02:00:00+0200",
            "2024-01-01",
            "2024-01-01T00:00Z",
        ] {
            assert_eq!(parse_time(t), Some(JAN_1), "{t}");
        }
        for bad in [
            "5/1/25",
            "2023-02-01T30:00:00Z",
            "",
            "2024-13-01",
            "yesterday",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn decimals_are_plain_numbers() {
        assert_eq!(parse_decimal(" 1.50 "), Some(1.5));
        assert_eq!(parse_decimal("-2e-3"), Some(-0.002));
        assert_eq!(parse_decimal("$10,000.00 "), None);
        assert_eq!(parse_decimal("1,5"), None);
        assert_eq!(parse_decimal("NaN"), None);
    }

    #[test]
    fn null_spellings() {
        for t in ["", " ", "NULL", "null", "None"] {
            assert!(Cell::Text(Cow::Borrowed(t)).text().is_none(), "{t}");
        }
        assert_eq!(
            Cell::Text(Cow::Borrowed(" x ")).text().as_deref(),
            Some("x")
        );
    }

    #[test]
    fn tags_become_sorted_strings() {
        let tags =
            normalise_tags(r#"{"z": 1, "Team": "core", "aws:created": true, "e": null}"#).unwrap();
        assert_eq!(
            tags_json(&tags),
            r#"{"Team":"core","aws:created":"true","e":"","z":"1"}"#
        );
        let bare = normalise_tags(r#""env": "prod""#).unwrap();
        assert_eq!(tags_json(&bare), r#"{"env":"prod"}"#);
        assert!(normalise_tags("[1,2]").is_err());
        assert!(normalise_tags("{broken").is_err());
    }

    #[test]
    fn enums_ignore_case() {
        let allowed = ["Usage", "Purchase"];
        assert_eq!(canonical(" USAGE", &allowed), Some("Usage"));
        assert_eq!(canonical("usage", &allowed), Some("Usage"));
        assert_eq!(canonical("Use", &allowed), None);
    }
}
