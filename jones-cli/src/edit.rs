//! `jones env edit`: the config in `$EDITOR`, saved with the version read.
//!
//! Before every save, the edit is previewed: inherited keys it would hide
//! are named (with `--yes` too) and need a yes (`--yes`, or the answer at
//! a terminal); a merge after a conflict is previewed again. When
//! someone else saved meanwhile, the edit is merged three-way
//! ([`crate::merge3`]: base = the config the edit started from, theirs =
//! the config saved since, mine = the edit): keys only one side changed
//! merge silently and the result is saved with the new version; keys both
//! changed are listed at the top of the file (lines starting `//`, dropped
//! when it is read back) and the editor opens again on the merge, like
//! `kubectl edit`; without a terminal the command stops with exit 4
//! instead. An edit that cannot be saved is kept in its file, and the error
//! names the command that takes it back (`jones env edit SVC ENV --resume
//! FILE`).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Command;

use jones_client::{EnvPath, config_from_value};
use serde_json::{Map, Value};

use crate::api::Api;
use crate::diff::{canonical, diff};
use crate::error::{CliError, Result};
use crate::merge3::{Conflict, merge3};
use crate::output::{env_label, outln, print_json};

/// Rounds of conflicts after which `env edit` gives up (each needs a save
/// by someone else while the editor is open).
const MAX_ROUNDS: usize = 10;

/// Edits `env`'s config in `$EDITOR` and saves it with the version read.
/// With `resume`, the editor opens that kept edit instead of the config,
/// after showing on stderr how the config read now differs from it.
pub fn edit(
    api: &Api,
    service: &str,
    env: &EnvPath,
    resume: Option<&Path>,
    yes: bool,
    json: bool,
) -> Result<()> {
    let details = api.env(service, env)?;
    let mut version = details["version"]
        .as_i64()
        .ok_or_else(|| CliError::failed("the server sent no version"))?;
    let mut base = details["config"].clone();
    let label = env_label(env.as_str());

    let path = match resume {
        Some(path) => {
            let kept = std::fs::read_to_string(path).map_err(|e| {
                CliError::invalid(format!("cannot read the kept edit {}: {e}", path.display()))
            })?;
            match serde_json::from_str::<Value>(&strip_comments(&kept)) {
                Ok(kept) if canonical(&kept) != canonical(&base) => eprint!(
                    "{}",
                    diff(
                        &base,
                        &kept,
                        (&format!("{label} now, version {version}"), "your kept edit")
                    )
                ),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("the kept edit is not valid JSON yet ({e}); fix it in the editor")
                }
            }
            path.to_owned()
        }
        None => new_edit_file(service, env, &base)?,
    };
    let resume_hint = format!(
        "your edit is kept in {file}; take it back with: jones env edit {service} {label} --resume {file}",
        file = path.display()
    );
    let kept = |why: String| format!("{why}; {resume_hint}");
    let interactive = std::io::stdin().is_terminal();
    let mut agreed = None;
    let review = |config: &Value, agreed: &mut Option<String>| {
        crate::hidden::review(api, service, env, config, yes, false, agreed)
            .map_err(|e| e.map_message(kept))
    };

    for _ in 0..MAX_ROUNDS {
        run_editor(&path).map_err(|e| e.map_message(kept))?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::failed(kept(format!("cannot read the edit back: {e}"))))?;
        let edited: Value = serde_json::from_str(&strip_comments(&text))
            .map_err(|e| CliError::invalid(kept(format!("the edit is not valid JSON: {e}"))))?;
        config_from_value(edited.clone()).map_err(|e| CliError::from(e).map_message(kept))?;

        if canonical(&edited) == canonical(&base) {
            let _ = std::fs::remove_file(&path);
            eprintln!("no changes");
            return Ok(());
        }
        review(&edited, &mut agreed)?;
        let failure = match api.set_env(service, env, &edited, version) {
            Ok(result) => {
                let _ = std::fs::remove_file(&path);
                if json {
                    print_json(&result);
                } else {
                    outln!("saved {label}");
                }
                return Ok(());
            }
            Err(failure) if failure.status == 409 => failure,
            // Whatever else went wrong, the edit stays in its file.
            Err(failure) => return Err(CliError::from(failure).map_message(kept)),
        };
        let theirs = failure
            .body
            .get("current_config")
            .cloned()
            .unwrap_or(Value::Null);
        let theirs_version = failure.body["current_version"].as_i64();
        let (Some(theirs_map), Some(base_map), Some(mine_map), Some(theirs_version)) = (
            theirs.as_object(),
            base.as_object(),
            edited.as_object(),
            theirs_version,
        ) else {
            return Err(CliError::from(failure).map_message(kept));
        };
        let merged = merge3(base_map, theirs_map, mine_map);
        let merged_config = Value::Object(merged.config.clone());
        eprint!(
            "{}",
            diff(
                &theirs,
                &merged_config,
                (
                    &format!("saved meanwhile, version {theirs_version}"),
                    "your edit merged into it"
                )
            )
        );
        write_edit(
            &path,
            &merged.config,
            &merged.conflicts,
            version,
            theirs_version,
        )
        .map_err(|e| e.map_message(kept))?;
        base = theirs;
        version = theirs_version;
        if merged.conflicts.is_empty() {
            // Only one side changed each key: the merge is the edit, saved
            // with the new version without opening the editor again.
            eprintln!("{label} changed meanwhile; your edit was merged key by key");
            // The merge is a new change: what it hides is reviewed again.
            review(&merged_config, &mut agreed)?;
            match api.set_env(service, env, &merged_config, version) {
                Ok(result) => {
                    let _ = std::fs::remove_file(&path);
                    if json {
                        print_json(&result);
                    } else {
                        outln!("saved {label} (merged)");
                    }
                    return Ok(());
                }
                Err(f) if f.status == 409 => continue,
                Err(f) => return Err(CliError::from(f).map_message(kept)),
            }
        }
        let both = conflict_lines(&merged.conflicts);
        if !interactive {
            return Err(CliError::from(failure).map_message(|_| {
                kept(format!(
                    "{label} changed since you read it (now version {theirs_version}); both changed: {}",
                    both.join(", ")
                ))
            }));
        }
        eprintln!(
            "both you and someone else changed {}: pick in the editor",
            both.join(", ")
        );
    }
    Err(CliError::new(
        crate::error::Class::Conflict,
        kept(format!(
            "{label} kept changing; gave up after {MAX_ROUNDS} rounds"
        )),
    ))
}

/// The text without the lines that start with `//` (the conflict notes
/// `env edit` writes above a merge).
fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `a.b: saved 64, yours 50` for each conflict.
fn conflict_lines(conflicts: &[Conflict]) -> Vec<String> {
    let show = |v: &Option<Value>| v.as_ref().map_or("(removed)".to_owned(), Value::to_string);
    conflicts
        .iter()
        .map(|c| {
            format!(
                "{}: saved {}, yours {}",
                c.path.join("."),
                show(&c.theirs),
                show(&c.mine)
            )
        })
        .collect()
}

/// Writes the merge into the edit file, the conflicts noted above it.
fn write_edit(
    path: &Path,
    config: &Map<String, Value>,
    conflicts: &[Conflict],
    from: i64,
    now: i64,
) -> Result<()> {
    let mut text = String::new();
    if !conflicts.is_empty() {
        text.push_str(&format!(
            "// Saved meanwhile (version {from} -> {now}) and changed in your edit too; the\n\
             // merge below holds your values for these keys: keep or change them, then save.\n"
        ));
        for line in conflict_lines(conflicts) {
            text.push_str(&format!("//   {line}\n"));
        }
    }
    text.push_str(&serde_json::to_string_pretty(config).expect("JSON serializes"));
    text.push('\n');
    std::fs::write(path, text)
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))
}

/// A new file holding `config`, named after the service and environment,
/// in the temporary directory; it outlives `jones` when an edit fails.
fn new_edit_file(service: &str, env: &EnvPath, config: &Value) -> Result<PathBuf> {
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
        .map_err(|e| CliError::failed(format!("cannot create a file to edit: {e}")))?;
    drop(file);
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(config).expect("JSON serializes")
    );
    std::fs::write(&path, text)
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
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
        .map_err(|e| CliError::failed(format!("cannot run the editor {editor:?}: {e}")))?;
    if !status.success() {
        return Err(CliError::failed(format!(
            "the editor {editor:?} exited with {status}"
        )));
    }
    Ok(())
}
