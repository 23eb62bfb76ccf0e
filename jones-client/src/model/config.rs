//! A config: the JSON object an environment holds, and a view is made of.

use serde_json::{Map, Value};

use crate::Error;

/// An environment's config or a view: a JSON object.
pub type Config = Map<String, Value>;

/// Parses `bytes` as a config, refusing anything but a JSON object.
///
/// ```
/// let config = jones_client::parse_config(br#"{"foo": "bar"}"#).unwrap();
/// assert_eq!(config["foo"], "bar");
/// assert!(jones_client::parse_config(b"[1, 2]").is_err());
/// ```
pub fn parse_config(bytes: &[u8]) -> Result<Config, Error> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Error::InvalidConfig {
        reason: format!("not valid JSON: {e}"),
    })?;
    config_from_value(value)
}

/// Accepts `value` as a config when it is a JSON object.
pub fn config_from_value(value: Value) -> Result<Config, Error> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Error::InvalidConfig {
            reason: format!("a config must be a JSON object, not {}", json_kind(&other)),
        }),
    }
}

/// Serializes a config the way it is stored in ZooKeeper (compact JSON).
pub fn config_to_bytes(config: &Config) -> Vec<u8> {
    serde_json::to_vec(config).expect("a JSON map always serializes")
}

/// A word naming the kind of a JSON value, for error messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_objects_only() {
        assert!(parse_config(b"{}").unwrap().is_empty());
        for (input, word) in [
            (&b"[]"[..], "an array"),
            (b"null", "null"),
            (b"3", "a number"),
            (b"\"s\"", "a string"),
            (b"true", "a boolean"),
        ] {
            let err = parse_config(input).unwrap_err().to_string();
            assert!(err.contains(word), "{err}");
        }
    }

    #[test]
    fn garbage_is_an_error_naming_the_problem() {
        let err = parse_config(b"{\"a\": ").unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
        let err = parse_config(&[0xff, 0xfe]).unwrap_err().to_string();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn round_trips_and_keeps_key_order() {
        let config = parse_config(br#"{"z":1,"a":{"n":[1,2]}}"#).unwrap();
        assert_eq!(config_to_bytes(&config), br#"{"z":1,"a":{"n":[1,2]}}"#);
    }
}
