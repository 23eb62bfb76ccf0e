//! Reading what a command is given: a config inline, from a file
//! (`@FILE`) or from stdin (`-`).

use std::io::Read;

use jones_client::Config;
use serde_json::Value;

use crate::error::{CliError, Result};

/// The text of `FILE`, or stdin's for `-`; `what` names it in errors.
pub fn read_file_arg(file: &str, what: &str) -> Result<String> {
    if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::invalid(format!("cannot read {what} from stdin: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(file)
        .map_err(|e| CliError::invalid(format!("cannot read {what} from {file}: {e}")))
}

/// A `--config` argument: inline JSON, `@FILE`, or `-` for stdin; it must
/// be a JSON object.
pub fn read_config_arg(arg: &str) -> Result<Config> {
    let (text, source) = match arg {
        "-" => (read_file_arg("-", "--config")?, "stdin".to_owned()),
        _ => match arg.strip_prefix('@') {
            Some(file) => (read_file_arg(file, "--config")?, file.to_owned()),
            None => (arg.to_owned(), "--config".to_owned()),
        },
    };
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::invalid(format!("the config in {source} is not valid JSON: {e}")))?;
    Ok(jones_client::config_from_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_inline_or_from_a_file() {
        assert_eq!(read_config_arg(r#"{"a": 1}"#).unwrap()["a"], 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, r#"{"v": "1.10"}"#).unwrap();
        let config = read_config_arg(&format!("@{}", path.display())).unwrap();
        assert_eq!(config["v"], "1.10");
        let missing = read_config_arg("@/no/such/file").unwrap_err();
        assert_eq!(missing.exit_code(), 2);
        assert!(missing.to_string().contains("/no/such/file"), "{missing}");
        assert_eq!(read_config_arg("[1]").unwrap_err().exit_code(), 2);
    }
}
