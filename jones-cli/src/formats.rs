//! The file formats `jones export` writes a config in.
//!
//! Every format is written from the config alone and reads back to the same
//! data (tested by parsing the output with each format's own parser), except
//! where the format cannot say it: TOML has no null (an error names the key),
//! and `env` has only strings (nested objects are flattened to `A_B=...`,
//! arrays written as JSON).

use std::fmt::Write as _;

use jones_client::Config;
use serde_json::Value;

use crate::error::{CliError, Result};

/// An output format of `jones export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Pretty-printed JSON.
    Json,
    /// YAML (block style; strings double-quoted).
    Yaml,
    /// TOML (no null values).
    Toml,
    /// Shell `KEY='value'` lines; nested keys flattened to `A_B`.
    Env,
    /// A PHP file returning an array: `<?php return array(...);`.
    Php,
}

/// Renders `config` in `format`.
pub fn render(config: &Config, format: Format) -> Result<String> {
    match format {
        Format::Json => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(config).expect("a JSON map always serializes")
        )),
        Format::Yaml => Ok(yaml(config)),
        Format::Toml => toml_text(config),
        Format::Env => env_lines(config),
        Format::Php => Ok(php(config)),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

fn yaml(config: &Config) -> String {
    if config.is_empty() {
        return "{}\n".to_owned();
    }
    let mut out = String::new();
    yaml_map(&mut out, config, 0);
    out
}

fn yaml_map(out: &mut String, map: &Config, indent: usize) {
    for (key, value) in map {
        let _ = write!(out, "{:indent$}{}:", "", json_string(key));
        yaml_value_after_key(out, value, indent);
    }
}

fn yaml_value_after_key(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(inner) if !inner.is_empty() => {
            out.push('\n');
            yaml_map(out, inner, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            yaml_seq(out, items, indent + 2);
        }
        scalar => {
            let _ = writeln!(out, " {}", yaml_scalar(scalar));
        }
    }
}

fn yaml_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        let _ = write!(out, "{:indent$}-", "");
        match item {
            Value::Object(inner) if !inner.is_empty() => {
                // The first key goes on the dash's line, the rest below it.
                let mut first = true;
                for (key, value) in inner {
                    if first {
                        let _ = write!(out, " {}:", json_string(key));
                        first = false;
                    } else {
                        let _ = write!(
                            out,
                            "{:width$}{}:",
                            "",
                            json_string(key),
                            width = indent + 2
                        );
                    }
                    yaml_value_after_key(out, value, indent + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                yaml_seq(out, inner, indent + 2);
            }
            scalar => {
                let _ = writeln!(out, " {}", yaml_scalar(scalar));
            }
        }
    }
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::String(s) => json_string(s),
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        other => other.to_string(),
    }
}

fn toml_text(config: &Config) -> Result<String> {
    if let Some(path) = first_null(&Value::Object(config.clone()), &mut Vec::new()) {
        return Err(CliError::invalid(format!(
            "TOML cannot hold null, and `{path}` is null: export another format or remove the null"
        )));
    }
    toml::to_string(config).map_err(|e| CliError::invalid(format!("cannot write TOML: {e}")))
}

fn first_null(value: &Value, path: &mut Vec<String>) -> Option<String> {
    match value {
        Value::Null => Some(path.join(".")),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            path.push(k.clone());
            let found = first_null(v, path);
            path.pop();
            found
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            path.push(i.to_string());
            let found = first_null(v, path);
            path.pop();
            found
        }),
        _ => None,
    }
}

/// `KEY='value'` lines: keys upper-cased, characters other than letters and
/// digits become `_`, nested objects join with `_`; values single-quoted
/// for the shell.
fn env_lines(config: &Config) -> Result<String> {
    let mut vars: Vec<(String, String, String)> = Vec::new(); // name, value, source key
    flatten_env(config, "", "", &mut vars);
    let mut seen = std::collections::HashMap::new();
    for (name, _, source) in &vars {
        if let Some(other) = seen.insert(name.clone(), source.clone()) {
            return Err(CliError::invalid(format!(
                "keys `{other}` and `{source}` both become the variable {name}"
            )));
        }
    }
    Ok(vars
        .iter()
        .map(|(name, value, _)| format!("{name}={}\n", shell_quote(value)))
        .collect())
}

fn flatten_env(map: &Config, prefix: &str, source: &str, out: &mut Vec<(String, String, String)>) {
    for (key, value) in map {
        let mut name: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        if prefix.is_empty() && name.starts_with(|c: char| c.is_ascii_digit()) {
            name.insert(0, '_');
        }
        let name = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}_{name}")
        };
        let source = if source.is_empty() {
            key.clone()
        } else {
            format!("{source}.{key}")
        };
        match value {
            Value::Object(inner) => flatten_env(inner, &name, &source, out),
            Value::String(s) => out.push((name, s.clone(), source)),
            Value::Null => out.push((name, String::new(), source)),
            other => out.push((name, other.to_string(), source)),
        }
    }
}

/// Quotes `value` for POSIX shells: single quotes, with `'` written `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn php(config: &Config) -> String {
    let mut out = String::from("<?php\nreturn ");
    php_value(&mut out, &Value::Object(config.clone()), 0);
    out.push_str(";\n");
    out
}

fn php_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'"))
}

fn php_value(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&php_string(s)),
        Value::Array(items) if items.is_empty() => out.push_str("array()"),
        Value::Object(map) if map.is_empty() => out.push_str("array()"),
        Value::Array(items) => {
            out.push_str("array(\n");
            for item in items {
                let _ = write!(out, "{:width$}", "", width = indent + 2);
                php_value(out, item, indent + 2);
                out.push_str(",\n");
            }
            let _ = write!(out, "{:indent$})", "");
        }
        Value::Object(map) => {
            out.push_str("array(\n");
            for (key, item) in map {
                let _ = write!(
                    out,
                    "{:width$}{} => ",
                    "",
                    php_string(key),
                    width = indent + 2
                );
                php_value(out, item, indent + 2);
                out.push_str(",\n");
            }
            let _ = write!(out, "{:indent$})", "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tricky() -> Config {
        json!({
            "flag": true,
            "count": 3,
            "ratio": 0.25,
            "name": "it's \"quoted\"\nand\ttabbed \\ ünïcode",
            "empty": "",
            "list": [1, "two", {"three": 3, "four": [4]}, [], {}],
            "nested": {"deep": {"key": "v"}, "empty_obj": {}},
            "colon: key": "yes",
            "nothing": null
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn yaml_reads_back() {
        let config = tricky();
        let text = render(&config, Format::Yaml).unwrap();
        let back: Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(back, Value::Object(config), "{text}");
        let empty: Value =
            serde_norway::from_str(&render(&Config::new(), Format::Yaml).unwrap()).unwrap();
        assert_eq!(empty, json!({}));
    }

    #[test]
    fn json_reads_back() {
        let config = tricky();
        let back: Value = serde_json::from_str(&render(&config, Format::Json).unwrap()).unwrap();
        assert_eq!(back, Value::Object(config));
    }

    #[test]
    fn toml_reads_back_and_refuses_null() {
        let mut config = tricky();
        let err = render(&config, Format::Toml).unwrap_err().to_string();
        assert!(err.contains("`nothing` is null"), "{err}");
        config.remove("nothing");
        config["list"] = json!([1, "two", {"three": 3}]);
        let text = render(&config, Format::Toml).unwrap();
        let back: Value = toml::from_str(&text).unwrap();
        assert_eq!(back, Value::Object(config), "{text}");
    }

    #[test]
    fn env_flattens_and_quotes() {
        let text = render(&tricky(), Format::Env).unwrap();
        assert!(text.contains("FLAG='true'\n"), "{text}");
        assert!(text.contains("NESTED_DEEP_KEY='v'\n"), "{text}");
        assert!(text.contains("COLON__KEY='yes'\n"), "{text}");
        assert!(
            text.contains("NAME='it'\\''s \"quoted\"\nand\ttabbed \\ ünïcode'\n"),
            "{text}"
        );
        assert!(
            text.contains("LIST='[1,\"two\",{\"three\":3,\"four\":[4]},[],{}]'\n"),
            "{text}"
        );
        assert!(text.contains("NOTHING=''\n"), "{text}");
    }

    #[test]
    fn env_refuses_colliding_names() {
        let config = json!({"a-b": 1, "a_b": 2}).as_object().unwrap().clone();
        let err = render(&config, Format::Env).unwrap_err().to_string();
        assert!(
            err.contains("`a-b` and `a_b` both become the variable A_B"),
            "{err}"
        );
    }

    #[test]
    fn php_escapes_quotes_and_backslashes() {
        let config = json!({"s": "it's a \\ path", "n": null, "l": [1, true]})
            .as_object()
            .unwrap()
            .clone();
        let text = render(&config, Format::Php).unwrap();
        assert!(text.starts_with("<?php\nreturn array(\n"), "{text}");
        assert!(text.contains(r"'s' => 'it\'s a \\ path',"), "{text}");
        assert!(text.contains("'n' => null,"), "{text}");
        assert!(
            text.contains("'l' => array(\n    1,\n    true,\n  ),"),
            "{text}"
        );
        assert!(text.ends_with(");\n"), "{text}");
    }
}
