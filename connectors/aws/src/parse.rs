//! Lenient parsing of the numbers and timestamps found in CUR files.
//!
//! Timestamps become microseconds since the Unix epoch, UTC. Accepted forms:
//! `2023-11-01T00:00:00Z`, `2023-11-01T00:00:00.000Z`, `2018-06-20 01:00:00`,
//! `2023-11-01T00:00:00+00:00` (any offset), and a bare date `2023-11-01` (midnight UTC).
//! A timestamp without an offset is taken as UTC, as AWS documents for the CUR.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime};

/// Microseconds per second.
const MICROS: i64 = 1_000_000;

/// A decimal number; `None` when the text is not one. Blank text is not handled here.
pub fn number(text: &str) -> Option<f64> {
    let value: f64 = text.trim().parse().ok()?;
    value.is_finite().then_some(value)
}

/// A CUR timestamp as microseconds since the epoch (UTC); `None` when it cannot be read.
pub fn timestamp_us(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_micros());
    }
    let naive = text.strip_suffix('Z').unwrap_or(text);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, format) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    if let Ok(dt) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f %z") {
        return Some(dt.timestamp_micros());
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_time(NaiveTime::MIN).and_utc().timestamp_micros())
}

/// The number of days in the month (UTC) that contains `us`; 30.42 when `us` is out of range
/// (CCF's fallback for an invalid timestamp).
pub fn days_in_month(us: i64) -> f64 {
    let Some(dt) = DateTime::from_timestamp(us.div_euclid(MICROS), 0) else {
        return 30.42;
    };
    let (year, month) = (dt.year(), dt.month());
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(first), Some(next)) => (next - first).num_days() as f64,
        _ => 30.42,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_1_2023_US: i64 = 1_698_796_800 * MICROS;

    #[test]
    fn every_cur_timestamp_form_reads_as_the_same_instant() {
        for text in [
            "2023-11-01T00:00:00Z",
            "2023-11-01T00:00:00.000Z",
            "2023-11-01 00:00:00",
            "2023-11-01 00:00:00.000",
            "2023-11-01T00:00:00+00:00",
            "2023-11-01T01:00:00+01:00",
            "2023-11-01",
        ] {
            assert_eq!(timestamp_us(text), Some(NOV_1_2023_US), "{text}");
        }
        assert_eq!(
            timestamp_us("2018-06-20 01:00:00"),
            Some(1_529_456_400 * MICROS)
        );
        assert_eq!(timestamp_us("yesterday"), None);
        assert_eq!(timestamp_us("2023-13-01T00:00:00Z"), None);
    }

    #[test]
    fn numbers_parse_and_reject_garbage() {
        assert_eq!(number(" 1.5 "), Some(1.5));
        assert_eq!(number("1.2E-5"), Some(1.2e-5));
        assert_eq!(number("-0.0000001"), Some(-0.0000001));
        assert_eq!(number("12,5"), None);
        assert_eq!(number("NaN"), None);
        assert_eq!(number("abc"), None);
    }

    #[test]
    fn month_lengths_follow_the_calendar() {
        assert_eq!(days_in_month(NOV_1_2023_US), 30.0);
        let feb_2024 = timestamp_us("2024-02-10T00:00:00Z").unwrap_or_default();
        assert_eq!(days_in_month(feb_2024), 29.0);
        let dec_2023 = timestamp_us("2023-12-31T23:59:59Z").unwrap_or_default();
        assert_eq!(days_in_month(dec_2023), 31.0);
    }
}
