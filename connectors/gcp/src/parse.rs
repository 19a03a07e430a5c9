//! Lenient parsing of the numbers and timestamps found in GCP billing exports.
//!
//! Timestamps become microseconds since the Unix epoch, UTC. Accepted forms: BigQuery's text
//! form `2024-01-01 00:00:00 UTC` (with or without fractional seconds, as BigQuery's CSV and
//! JSON exports write it), RFC 3339 (`2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.5-08:00`),
//! `2024-01-01 00:00:00+00:00` (any offset, with or without the space), a naive
//! `2024-01-01 00:00:00` or `2024-01-01T00:00:00` (taken as UTC, BigQuery TIMESTAMPs are UTC)
//! and a bare date `2024-01-01` (midnight UTC).

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};

/// A decimal number; `None` when the text is not one (blank text is not handled here).
pub fn number(text: &str) -> Option<f64> {
    let value: f64 = text.trim().parse().ok()?;
    value.is_finite().then_some(value)
}

/// A timestamp as microseconds since the epoch (UTC); `None` when it cannot be read.
pub fn timestamp_us(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_micros());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f %:z",
        "%Y-%m-%d %H:%M:%S%.f %z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(text, format) {
            return Some(dt.timestamp_micros());
        }
    }
    let naive = text
        .strip_suffix("UTC")
        .or_else(|| text.strip_suffix('Z'))
        .unwrap_or(text)
        .trim_end();
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(NaiveTime::MIN).and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-15 10:00:00 UTC: 19737 days × 86400 s + 10 h × 3600 s = 1705312800 s.
    const JAN_15_10H_US: i64 = 1_705_312_800 * 1_000_000;

    #[test]
    fn every_export_timestamp_form_reads_as_the_same_instant() {
        for text in [
            "2024-01-15 10:00:00 UTC",
            "2024-01-15 10:00:00.000000 UTC",
            "2024-01-15T10:00:00Z",
            "2024-01-15T10:00:00.000Z",
            "2024-01-15T02:00:00-08:00",
            "2024-01-15 10:00:00+00:00",
            "2024-01-15 11:00:00 +01:00",
            "2024-01-15 10:00:00",
            "2024-01-15T10:00:00",
        ] {
            assert_eq!(timestamp_us(text), Some(JAN_15_10H_US), "{text}");
        }
        // 19737 days × 86400 s = 1705276800 s.
        assert_eq!(timestamp_us("2024-01-15"), Some(1_705_276_800 * 1_000_000));
        assert_eq!(timestamp_us("2024-01-32 00:00:00 UTC"), None);
        assert_eq!(timestamp_us("yesterday"), None);
        assert_eq!(timestamp_us(""), None);
    }

    #[test]
    fn numbers_parse_and_reject_garbage() {
        assert_eq!(number(" 3600 "), Some(3600.0));
        assert_eq!(number("5.7982058496E13"), Some(57_982_058_496_000.0));
        assert_eq!(number("-0.0252"), Some(-0.0252));
        assert_eq!(number("12,5"), None);
        assert_eq!(number("NaN"), None);
        assert_eq!(number("inf"), None);
    }
}
