//! The repeated fields of an export row (`credits`, `labels`, `system_labels`), whatever the
//! file made of them.
//!
//! * JSON lines and Parquet keep them as lists of objects (`[{"key": "env", "value": "prod"}]`;
//!   Parquet: a list of structs), read here from a `serde_json::Value`.
//! * A CSV holds them as text: JSON (`[{"name": "…", "amount": -0.5}]`) or Python's repr form as
//!   koku's exports write it (`[{'name': '…', 'amount': -0.5, 'full_name': None}]`), which is
//!   turned into JSON first. An empty cell, `[]` and `null` are an empty list.
//!
//! Labels may also be a JSON object (`{"env": "prod"}`). Credit amounts are numbers or numeric
//! text, in the row's currency.

use serde_json::Value;

use crate::cost::GcpCredit;

/// Why a repeated field could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct RepeatedError(pub String);

/// A repeated field's text (CSV) as a JSON value: JSON as it is, else Python's repr form.
pub fn parse_text(text: &str) -> Result<Value, RepeatedError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(json_error) => {
            let converted = python_repr_to_json(text).map_err(|why| {
                RepeatedError(format!(
                    "neither JSON ({json_error}) nor a Python list of dicts ({why})"
                ))
            })?;
            serde_json::from_str(&converted).map_err(|e| {
                RepeatedError(format!(
                    "neither JSON ({json_error}) nor a Python list of dicts ({e})"
                ))
            })
        }
    }
}

/// The entries of a list (null is an empty list).
fn entries<'v>(value: &'v Value, field: &str) -> Result<&'v [Value], RepeatedError> {
    match value {
        Value::Null => Ok(&[]),
        Value::Array(items) => Ok(items),
        other => Err(RepeatedError(format!(
            "`{field}` must be a list of objects, not {}",
            kind(other)
        ))),
    }
}

/// The text of a scalar (`None` for null or absent).
fn scalar_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// The `credits` entries: `name`, `amount`, `type`.
pub fn credits(value: &Value) -> Result<Vec<GcpCredit>, RepeatedError> {
    let mut out = Vec::new();
    for (i, item) in entries(value, "credits")?.iter().enumerate() {
        let Value::Object(object) = item else {
            return Err(RepeatedError(format!(
                "credit {} is {}, not an object",
                i + 1,
                kind(item)
            )));
        };
        let amount = match object.get("amount") {
            None | Some(Value::Null) => 0.0,
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
            Some(Value::String(s)) if s.trim().is_empty() => 0.0,
            Some(Value::String(s)) => crate::parse::number(s).ok_or_else(|| {
                RepeatedError(format!("credit {}: amount `{s}` is not a number", i + 1))
            })?,
            Some(other) => {
                return Err(RepeatedError(format!(
                    "credit {}: amount is {}, not a number",
                    i + 1,
                    kind(other)
                )));
            }
        };
        out.push(GcpCredit {
            name: scalar_text(object.get("name")).unwrap_or_default(),
            amount,
            credit_type: scalar_text(object.get("type")).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// `(key, value)` pairs of a label list (`[{key, value}]`) or object (`{key: value}`).
pub fn pairs(value: &Value, field: &str) -> Result<Vec<(String, String)>, RepeatedError> {
    if let Value::Object(object) = value {
        return Ok(object
            .iter()
            .map(|(k, v)| (k.clone(), scalar_text(Some(v)).unwrap_or_default()))
            .collect());
    }
    let mut out = Vec::new();
    for (i, item) in entries(value, field)?.iter().enumerate() {
        let Value::Object(object) = item else {
            return Err(RepeatedError(format!(
                "{field} entry {} is {}, not an object",
                i + 1,
                kind(item)
            )));
        };
        let Some(key) = scalar_text(object.get("key")) else {
            return Err(RepeatedError(format!(
                "{field} entry {} has no `key`",
                i + 1
            )));
        };
        out.push((key, scalar_text(object.get("value")).unwrap_or_default()));
    }
    Ok(out)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Python's repr of lists, dicts, strings, numbers, `None`, `True` and `False` as JSON text.
/// Single- and double-quoted strings with backslash escapes are read; anything else is an
/// error naming the character position.
pub fn python_repr_to_json(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push('"');
                let mut closed = false;
                while let Some((_, s)) = chars.next() {
                    match s {
                        '\\' => match chars.next() {
                            Some((_, '\'')) => out.push('\''),
                            Some((_, '"')) => out.push_str("\\\""),
                            Some((_, e @ ('\\' | 'n' | 't' | 'r' | 'b' | 'f' | '/'))) => {
                                out.push('\\');
                                out.push(e);
                            }
                            Some((_, 'u')) => out.push_str("\\u"),
                            Some((p, e)) => {
                                return Err(format!("unknown escape `\\{e}` at character {p}"));
                            }
                            None => break,
                        },
                        '"' if c == '\'' => out.push_str("\\\""),
                        q if q == c => {
                            closed = true;
                            break;
                        }
                        '\n' => out.push_str("\\n"),
                        other => out.push(other),
                    }
                }
                if !closed {
                    return Err(format!("a string opened at character {at} is not closed"));
                }
                out.push('"');
            }
            '[' | ']' | '{' | '}' | ':' | ',' => out.push(c),
            c if c.is_whitespace() => out.push(c),
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                out.push(c);
                while let Some((_, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || matches!(d, '.' | '-' | '+') {
                        out.push(*d);
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            c if c.is_ascii_alphabetic() => {
                let mut word = String::from(c);
                while let Some((_, d)) = chars.peek() {
                    if d.is_ascii_alphanumeric() || *d == '_' {
                        word.push(*d);
                        chars.next();
                    } else {
                        break;
                    }
                }
                match word.as_str() {
                    "None" => out.push_str("null"),
                    "True" => out.push_str("true"),
                    "False" => out.push_str("false"),
                    other => return Err(format!("`{other}` at character {at} is not a value")),
                }
            }
            other => return Err(format!("unexpected `{other}` at character {at}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn koku_style_python_repr_reads_like_json() {
        let repr = "[{'name': 'FreeTrial:204dd9b9', 'amount': -0.5, 'full_name': None, \
                    'id': 'FreeTrial:204dd9b9', 'type': 'PROMOTION'}]";
        let value = parse_text(repr).unwrap();
        assert_eq!(
            credits(&value).unwrap(),
            vec![GcpCredit {
                name: "FreeTrial:204dd9b9".into(),
                amount: -0.5,
                credit_type: "PROMOTION".into(),
            }]
        );
        let labels = parse_text(r#"[{'key': 'owner', 'value': "o'brien"}]"#).unwrap();
        assert_eq!(
            pairs(&labels, "labels").unwrap(),
            vec![("owner".to_owned(), "o'brien".to_owned())]
        );
        assert_eq!(
            python_repr_to_json(r#"{'a': 'say "hi"', 'b': True, 'c': 1e-05}"#).unwrap(),
            r#"{"a": "say \"hi\"", "b": true, "c": 1e-05}"#
        );
    }

    #[test]
    fn json_lists_objects_and_blanks_are_read() {
        let value = parse_text(r#"[{"key":"env","value":"prod"},{"key":"flag"}]"#).unwrap();
        assert_eq!(
            pairs(&value, "labels").unwrap(),
            vec![
                ("env".to_owned(), "prod".to_owned()),
                ("flag".to_owned(), String::new())
            ]
        );
        let object = parse_text(r#"{"team": "data"}"#).unwrap();
        assert_eq!(
            pairs(&object, "labels").unwrap(),
            vec![("team".to_owned(), "data".to_owned())]
        );
        assert!(credits(&parse_text("").unwrap()).unwrap().is_empty());
        assert!(credits(&parse_text("null").unwrap()).unwrap().is_empty());
        let text_amount = parse_text(r#"[{"name":"x","amount":"-0.25"}]"#).unwrap();
        assert_eq!(credits(&text_amount).unwrap()[0].amount, -0.25);
    }

    #[test]
    fn malformed_repeated_fields_say_why() {
        let err = parse_text("[{'name': 'x', 'amount': -0.5").unwrap_err();
        assert!(err.0.contains("neither JSON"), "{err}");
        let err = parse_text("[{'name': nope}]").unwrap_err();
        assert!(
            err.0.contains("`nope` at character 10 is not a value"),
            "{err}"
        );
        let bad_amount = parse_text(r#"[{"name":"x","amount":"abc"}]"#).unwrap();
        assert_eq!(
            credits(&bad_amount).unwrap_err().0,
            "credit 1: amount `abc` is not a number"
        );
        assert_eq!(
            pairs(&parse_text("[1]").unwrap(), "labels").unwrap_err().0,
            "labels entry 1 is a number, not an object"
        );
    }
}
