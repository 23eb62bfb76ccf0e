//! `jones env set`'s KEY and VALUE: a dotted key reaches into nested
//! objects, and a value is JSON when it parses as JSON, else a string.

use jones_client::Config;
use serde_json::{Map, Value};

use crate::error::{CliError, Result};

/// Parses a command-line value: JSON if it is valid JSON, else the string.
///
/// `true`, `42`, `[1,2]`, `{"a":1}` and `"quoted"` are JSON; `hello` and
/// `1.2.3` are strings. A value that starts like a JSON object, array or
/// string (`{`, `[`, `"`) must be valid JSON: a typo there is an error, not
/// a string stored by surprise.
pub fn parse_value(text: &str) -> Result<Value> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(e) if text.trim_start().starts_with(['{', '[', '"']) => Err(CliError::Invalid(
            format!("VALUE {text:?} looks like JSON but is not valid JSON: {e}"),
        )),
        Err(_) => Ok(Value::String(text.to_owned())),
    }
}

/// Sets `key` (dotted: `a.b.c`) to `value` in `config`, creating objects on
/// the way. Refuses to descend into a value that is not an object.
pub fn set_dotted(config: &mut Config, key: &str, value: Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(CliError::Invalid(format!(
            "invalid key {key:?}: empty segment (use `a.b` to reach nested objects)"
        )));
    }
    let (last, path) = parts.split_last().expect("split yields at least one part");
    let mut map = config;
    let mut walked = Vec::new();
    for part in path {
        walked.push(*part);
        let slot = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        map = match slot {
            Value::Object(inner) => inner,
            other => {
                return Err(CliError::Invalid(format!(
                    "cannot set {key:?}: {:?} is {}, not an object",
                    walked.join("."),
                    jones_client::json_kind(other)
                )));
            }
        };
    }
    map.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_json_or_strings() {
        let parse = |s| parse_value(s).unwrap();
        assert_eq!(parse("true"), json!(true));
        assert_eq!(parse("42"), json!(42));
        assert_eq!(parse("[1, 2]"), json!([1, 2]));
        assert_eq!(parse(r#"{"a": 1}"#), json!({"a": 1}));
        assert_eq!(parse(r#""quoted""#), json!("quoted"));
        assert_eq!(parse("hello"), json!("hello"));
        assert_eq!(parse("1.2.3"), json!("1.2.3"));
        assert_eq!(parse(""), json!(""));
    }

    #[test]
    fn broken_json_is_an_error_not_a_string() {
        for bad in [r#"{"a": 1"#, "[1, 2", r#""unterminated"#] {
            let err = parse_value(bad).unwrap_err().to_string();
            assert!(
                err.contains("looks like JSON but is not valid JSON"),
                "{err}"
            );
        }
    }

    #[test]
    fn dotted_keys_reach_nested_objects() {
        let mut config = json!({"db": {"host": "a", "port": 1}, "x": 1})
            .as_object()
            .unwrap()
            .clone();
        set_dotted(&mut config, "db.port", json!(5432)).unwrap();
        set_dotted(&mut config, "cache.ttl.seconds", json!(30)).unwrap();
        set_dotted(&mut config, "x", json!("y")).unwrap();
        assert_eq!(
            Value::Object(config),
            json!({"db": {"host": "a", "port": 5432}, "x": "y", "cache": {"ttl": {"seconds": 30}}})
        );
    }

    #[test]
    fn refuses_to_descend_into_a_non_object() {
        let mut config = json!({"a": [1]}).as_object().unwrap().clone();
        let err = set_dotted(&mut config, "a.b", json!(1)).unwrap_err();
        assert!(err.to_string().contains("\"a\" is an array"), "{err}");
        assert!(set_dotted(&mut config, "a..b", json!(1)).is_err());
        assert!(set_dotted(&mut config, "", json!(1)).is_err());
        assert_eq!(Value::Object(config), json!({"a": [1]}), "nothing changed");
    }
}
