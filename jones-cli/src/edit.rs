//! `jones env edit`: the config in `$EDITOR`, saved with the version read.
//! An edit that cannot be saved (invalid JSON, a conflict) is kept in its
//! file, and the error says where.

use std::path::Path;
use std::process::Command;

use jones_client::{EnvPath, config_from_value};
use serde_json::Value;

use crate::api::Api;
use crate::diff::{canonical, diff};
use crate::error::{CliError, Result};
use crate::output::{env_label, print_json};

pub fn edit(api: &Api, service: &str, env: &EnvPath, json: bool) -> Result<()> {
    let details = api.env(service, env)?;
    let version = details["version"]
        .as_i64()
        .ok_or_else(|| CliError::Failed("the server sent no version".into()))?;
    let original = details["config"].clone();

    let slug: String = format!("{service}-{}", env_label(env.as_str()))
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (file, path) = tempfile::Builder::new()
        .prefix(&format!("jones-{slug}-"))
        .suffix(".json")
        .tempfile()
        .and_then(|f| f.keep().map_err(|e| e.error))
        .map_err(|e| CliError::Failed(format!("cannot create a file to edit: {e}")))?;
    drop(file);
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&original).expect("JSON serializes")
    );
    std::fs::write(&path, text)
        .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;

    run_editor(&path)?;
    let kept = |why: String| format!("{why}; your edit is kept in {}", path.display());
    let edited = std::fs::read_to_string(&path)
        .map_err(|e| CliError::Failed(kept(format!("cannot read the edit back: {e}"))))?;
    let edited: Value = serde_json::from_str(&edited)
        .map_err(|e| CliError::Invalid(kept(format!("the edit is not valid JSON: {e}"))))?;
    config_from_value(edited.clone()).map_err(|e| CliError::Invalid(kept(e.to_string())))?;

    if canonical(&edited) == canonical(&original) {
        let _ = std::fs::remove_file(&path);
        eprintln!("no changes");
        return Ok(());
    }
    match api.set_env(service, env, &edited, version) {
        Ok(result) => {
            let _ = std::fs::remove_file(&path);
            if json {
                print_json(&result);
            } else {
                println!("saved {}", env_label(env.as_str()));
            }
            Ok(())
        }
        Err(failure) if failure.status == 409 => {
            let current = failure
                .body
                .get("current_config")
                .cloned()
                .unwrap_or(Value::Null);
            let current_version = failure
                .body
                .get("current_version")
                .cloned()
                .unwrap_or(Value::Null);
            eprint!(
                "{}",
                diff(
                    &current,
                    &edited,
                    (&format!("server, version {current_version}"), "your edit")
                )
            );
            Err(CliError::Conflict(kept(format!(
                "{} changed since you read version {version} (now version {current_version}); the difference is above",
                env_label(env.as_str())
            ))))
        }
        // Whatever else went wrong, the edit stays in its file.
        Err(failure) => Err(CliError::from(failure).map_message(kept)),
    }
}

/// Runs `$VISUAL`, else `$EDITOR`, else `vi` on `path`; the variable may
/// hold arguments (`code --wait`).
fn run_editor(path: &Path) -> Result<()> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_owned());
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("jones-edit")
        .arg(path)
        .status()
        .map_err(|e| CliError::Failed(format!("cannot run the editor {editor:?}: {e}")))?;
    if !status.success() {
        return Err(CliError::Failed(format!(
            "the editor {editor:?} exited with {status}; your edit is kept in {}",
            path.display()
        )));
    }
    Ok(())
}
