//! Inherited keys a change hides, in words: from the server's preview of a
//! config change (`POST .../preview/config/{env}`), for `env set`, `unset`
//! and `edit`. Every write is previewed, a retry after a conflict again
//! (what it hides may have changed with the other writer's save); what is
//! hidden is always shown, with `--yes` too.

use jones_client::EnvPath;
use serde_json::Value;

use crate::api::Api;
use crate::error::Result;
use crate::output::{env_label, items};

/// Previews saving `config` into `env`; when that hides inherited keys
/// not already agreed to (`agreed`: the warning confirmed before, for a
/// retry), shows them on stderr and asks (or goes on with `yes`).
pub fn review(
    api: &Api,
    service: &str,
    env: &EnvPath,
    config: &Value,
    yes: bool,
    copy_hint: bool,
    agreed: &mut Option<String>,
) -> Result<()> {
    let preview = api.preview_config(service, env, config)?;
    let Some(text) = warning(&preview, copy_hint) else {
        return Ok(());
    };
    if agreed.as_deref() == Some(text.as_str()) {
        return Ok(());
    }
    crate::confirm::confirm(&text, "Save anyway?", "not saved", yes)?;
    *agreed = Some(text);
    Ok(())
}

/// One line per inherited key the previewed change hides ("prod's view
/// would no longer have db.host (from /)"), or `None` when it hides none.
/// `copy_hint` adds how `env set --copy-inherited` keeps them.
pub fn warning(preview: &Value, copy_hint: bool) -> Option<String> {
    let hidden = items(preview, "hidden");
    if hidden.is_empty() {
        return None;
    }
    let mut text = String::new();
    for h in &hidden {
        text.push_str(&format!(
            "{}'s view would no longer have {} (from {})\n",
            env_label(h["env"].as_str().unwrap_or_default()),
            h["key"].as_str().unwrap_or_default(),
            env_label(h["from"].as_str().unwrap_or_default()),
        ));
    }
    if preview["merge"] == "shallow" {
        text.push_str(
            "(this service merges shallowly, as original Jones: an object an environment sets \
             replaces the whole inherited object)\n",
        );
    }
    if copy_hint {
        text.push_str(
            "--copy-inherited starts from a copy of the inherited object and keeps them\n",
        );
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_each_hidden_key_with_where_it_came_from() {
        let preview = json!({"merge": "shallow", "hidden": [
            {"env": "prod", "key": "db.host", "from": ""},
            {"env": "prod/eu", "key": "db.host", "from": ""},
        ]});
        let text = warning(&preview, true).unwrap();
        assert!(text.starts_with(
            "prod's view would no longer have db.host (from /)\nprod/eu's view would no longer have db.host (from /)\n"
        ));
        assert!(text.contains("--copy-inherited"));
        assert_eq!(warning(&json!({"merge": "deep", "hidden": []}), true), None);
    }
}
