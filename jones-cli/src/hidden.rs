//! Inherited keys a change hides, in words: from the server's preview of a
//! config change (`POST .../preview/config/{env}`), for `env set`, `unset`
//! and `edit`.

use serde_json::Value;

use crate::output::{env_label, items};

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
