//! Lenient parsing of the JSON text columns `AdditionalInfo` and `Tags`.
//!
//! Both are JSON objects, but EA files often drop the outer braces
//! (`"UsageType": "ComputeHR", "VCPUs": 2`), and either may be empty or `null`. The text is
//! parsed as is, and when that fails, wrapped in `{}` and parsed again. Text that is still not
//! an object is malformed: the caller reports it (file, line, column) and keeps the row.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Parses `text` as a JSON object, with or without its braces. `Ok(None)` for empty text and
/// `null`; `Err` with the parser's message for anything else that is not an object.
pub fn parse_object(text: &str) -> Result<Option<Map<String, Value>>, String> {
    let text = text.trim();
    if text.is_empty() || text == "null" || text == "{}" {
        return Ok(None);
    }
    let first = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => return Ok(Some(map)),
        Ok(Value::Null) => return Ok(None),
        Ok(other) => format!("not a JSON object ({})", kind(&other)),
        Err(e) => e.to_string(),
    };
    match serde_json::from_str::<Value>(&format!("{{{text}}}")) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        _ => Err(first),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        _ => "null",
    }
}

/// What the connector uses of `AdditionalInfo`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdditionalInfo {
    /// `ServiceType`: the VM size (`Standard_D2s_v3`).
    pub service_type: Option<String>,
    /// `VCPUs` (a number, or a string in older files); `None` when absent or 0.
    pub vcpus: Option<f64>,
    /// `ConsumedQuantity`: the usage a benefit-covered row stands for (its `Quantity` may be
    /// normalised by `RINormalizationRatio`).
    pub consumed_quantity: Option<f64>,
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl AdditionalInfo {
    /// The fields of a parsed object (keys matched case-insensitively).
    pub fn of(map: &Map<String, Value>) -> AdditionalInfo {
        let get = |key: &str| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        };
        AdditionalInfo {
            service_type: get("ServiceType")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            vcpus: get("VCPUs").and_then(number).filter(|n| *n > 0.0),
            consumed_quantity: get("ConsumedQuantity").and_then(number),
        }
    }
}

/// User tags as a JSON object of strings with sorted keys; empty text when there are none.
/// Non-string values are written as their JSON text.
pub fn tags_json(map: &Map<String, Value>) -> String {
    let tags: BTreeMap<&str, String> = map
        .iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.as_str(), value)
        })
        .collect();
    if tags.is_empty() {
        return String::new();
    }
    serde_json::to_string(&tags).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_with_and_without_braces() {
        let with = parse_object(r#"{"ServiceType":"Standard_D2s_v3","VCPUs":2}"#).unwrap();
        let info = AdditionalInfo::of(&with.unwrap());
        assert_eq!(info.service_type.as_deref(), Some("Standard_D2s_v3"));
        assert_eq!(info.vcpus, Some(2.0));
        let without = parse_object(r#""UsageType": "ComputeHR", "VCPUs": "4""#).unwrap();
        assert_eq!(AdditionalInfo::of(&without.unwrap()).vcpus, Some(4.0));
        assert_eq!(parse_object("").unwrap(), None);
        assert_eq!(parse_object("null").unwrap(), None);
        assert!(parse_object(r#"{"VCPUs": 2"#).is_err());
        assert!(parse_object("[1, 2]").is_err());
    }

    #[test]
    fn tags_are_sorted_strings() {
        let map = parse_object(r#""env": "prod","CostCenter": 1234"#)
            .unwrap()
            .unwrap();
        assert_eq!(tags_json(&map), r#"{"CostCenter":"1234","env":"prod"}"#);
    }
}
