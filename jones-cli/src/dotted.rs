//! `jones env set`'s KEY and VALUE: a dotted key reaches into nested
//! objects; a value is read per [`ValueMode`], and a number is never
//! stored other than as it was typed.

use jones_client::Config;
use serde_json::{Map, Value};

use crate::error::{CliError, Result};

/// How `env set` reads VALUE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueMode {
    /// JSON when it parses as JSON, else the string as typed (the default).
    Auto,
    /// Always the string as typed (`--string`).
    String,
    /// Must be JSON (`--json-value`).
    Json,
}

/// Parses a command-line value per `mode`.
///
/// `true`, `42`, `[1,2]`, `{"a":1}` and `"quoted"` are JSON; `hello` and
/// `1.2.3` are strings. A value that starts like a JSON object, array or
/// string (`{`, `[`, `"`) must be valid JSON: a typo there is an error, not
/// a string stored by surprise. JSON whose numbers would be stored with
/// other text than typed (`1.10` is stored as 1.1) is refused, naming
/// `--string`: a version or a zip code must not change silently.
pub fn parse_value(text: &str, mode: ValueMode) -> Result<Value> {
    if mode == ValueMode::String {
        return Ok(Value::String(text.to_owned()));
    }
    let value = match serde_json::from_str::<Value>(text) {
        Ok(value) => value,
        Err(e) if mode == ValueMode::Json => {
            return Err(CliError::invalid(format!(
                "VALUE {text:?} is not valid JSON ({e}); drop --json-value or give --string to store it as a string"
            )));
        }
        Err(e) if text.trim_start().starts_with(['{', '[', '"']) => {
            return Err(CliError::invalid(format!(
                "VALUE {text:?} looks like JSON but is not valid JSON: {e}"
            )));
        }
        Err(_) => return Ok(Value::String(text.to_owned())),
    };
    let stored = serde_json::to_string(&value).expect("JSON serializes");
    let typed = numbers(text);
    let kept = numbers(&stored);
    if typed != kept {
        let changed: Vec<String> = typed
            .iter()
            .zip(&kept)
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("{a} would be stored as {b}"))
            .collect();
        let detail = if changed.is_empty() {
            format!("it would be stored as {stored}")
        } else {
            changed.join(", ")
        };
        return Err(CliError::invalid(format!(
            "VALUE {text:?} would not be stored as typed: {detail}; give --string to store the text as typed, or type the number as it should be stored"
        )));
    }
    Ok(value)
}

/// The number literals of a JSON text, in order (strings skipped).
fn numbers(json: &str) -> Vec<&str> {
    let bytes = json.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                found.push(&json[start..i]);
            }
            _ => i += 1,
        }
    }
    found
}

/// Sets `key` (dotted: `a.b.c`) to `value` in `config`, creating objects on
/// the way. Refuses to descend into a value that is not an object.
pub fn set_dotted(config: &mut Config, key: &str, value: Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(CliError::invalid(format!(
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
                return Err(CliError::invalid(format!(
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

/// For `env set --copy-inherited`: where the dotted `key` first leaves the
/// environment's own `config` while its `view` (what it inherits) has an
/// object there, copies that object into `config`, so setting `key` keeps
/// every inherited key beside it.
pub fn copy_inherited(config: &mut Config, view: &Config, key: &str) {
    let parts: Vec<&str> = key.split('.').collect();
    let Some((_, path)) = parts.split_last() else {
        return;
    };
    let (mut own, mut inherited) = (config, view);
    for part in path {
        let Some(Value::Object(from)) = inherited.get(*part) else {
            return;
        };
        match own.get(*part) {
            None => {
                own.insert(part.to_string(), Value::Object(from.clone()));
                return;
            }
            Some(Value::Object(_)) => {}
            Some(_) => return,
        }
        let Some(Value::Object(next)) = own.get_mut(*part) else {
            return;
        };
        (own, inherited) = (next, from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_json_or_strings() {
        let parse = |s| parse_value(s, ValueMode::Auto).unwrap();
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
            let err = parse_value(bad, ValueMode::Auto).unwrap_err().to_string();
            assert!(
                err.contains("looks like JSON but is not valid JSON"),
                "{err}"
            );
        }
    }

    #[test]
    fn numbers_are_stored_as_typed_or_refused() {
        for mode in [ValueMode::Auto, ValueMode::Json] {
            for changed in [
                "1.10",
                "1e3",
                "-0",
                "1.0e2",
                "[1, 2.50]",
                r#"{"v": 1.10}"#,
                "123456789012345678901234567890",
            ] {
                let err = parse_value(changed, mode).unwrap_err();
                assert_eq!(err.exit_code(), 2);
                assert!(err.to_string().contains("--string"), "{err}");
            }
            for kept in ["1.1", "0", "-3", "2.5", r#"{"v": [1, 2], "s": "1.10"}"#] {
                let value = parse_value(kept, mode).unwrap();
                assert_eq!(value, serde_json::from_str::<Value>(kept).unwrap());
            }
        }
        let err = parse_value("1.10", ValueMode::Auto)
            .unwrap_err()
            .to_string();
        assert!(err.contains("1.10 would be stored as 1.1"), "{err}");
        assert_eq!(
            parse_value("1.10", ValueMode::String).unwrap(),
            json!("1.10")
        );
        assert_eq!(parse_value("{x", ValueMode::String).unwrap(), json!("{x"));
        assert_eq!(
            parse_value("true", ValueMode::String).unwrap(),
            json!("true")
        );
        let err = parse_value("hello", ValueMode::Json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid JSON"), "{err}");
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

    #[test]
    fn copy_inherited_starts_from_the_inherited_object_where_the_own_config_stops() {
        let view: Config = serde_json::from_value(serde_json::json!(
            {"db": {"host": "h", "pool": {"size": 5, "idle": 1}}, "x": 1}
        ))
        .unwrap();
        let mut own = Config::new();
        copy_inherited(&mut own, &view, "db.pool.size");
        set_dotted(&mut own, "db.pool.size", serde_json::json!(20)).unwrap();
        assert_eq!(
            Value::Object(own),
            serde_json::json!({"db": {"host": "h", "pool": {"size": 20, "idle": 1}}})
        );
        // An own object already replaced the inherited one (shallow): the
        // view has only what it holds, and nothing is copied.
        let mut own: Config =
            serde_json::from_value(serde_json::json!({"db": {"port": 1}})).unwrap();
        let shallow_view = own.clone();
        copy_inherited(&mut own, &shallow_view, "db.pool.size");
        assert_eq!(Value::Object(own), serde_json::json!({"db": {"port": 1}}));
        // A plain key inherits nothing to copy.
        let mut own = Config::new();
        copy_inherited(&mut own, &view, "x");
        assert!(own.is_empty());
    }
}
