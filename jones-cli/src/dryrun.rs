//! `--dry-run` for config writes: what a change would do, from the
//! server's preview, without writing: every view it changes with its
//! per-key diff and the associations reading it, the inherited keys it
//! hides, and the schema violations that would refuse it (then exit 2).

use serde_json::Value;

use crate::error::{CliError, Result};
use crate::output::{env_label, items, outln, print_json};

/// The most associations named per view; the count says the rest.
const NAMED: usize = 10;

/// Prints `preview` (as JSON with `json`); fails (exit 2,
/// `schema_violation`) when the schema would refuse the write.
pub fn report(preview: &Value, json: bool) -> Result<()> {
    if json {
        print_json(preview);
    } else {
        outln!("{}", describe(preview));
    }
    let violations = items(preview, "violations");
    if violations.is_empty() {
        return Ok(());
    }
    Err(CliError::invalid(format!(
        "the service's schema would refuse this change ({} violation{})",
        violations.len(),
        if violations.len() == 1 { "" } else { "s" }
    ))
    .with_kind("schema_violation"))
}

/// The preview in words.
fn describe(preview: &Value) -> String {
    let views = items(preview, "views");
    let reach = &preview["reach"];
    let mut text = format!(
        "dry run, nothing written: {} view{} would change, read by {} association{}\n",
        views.len(),
        if views.len() == 1 { "" } else { "s" },
        reach["associations"],
        if reach["associations"] == 1 { "" } else { "s" },
    );
    for view in views {
        let names: Vec<&str> = items(view, "associations")
            .iter()
            .filter_map(|n| n.as_str())
            .take(NAMED)
            .collect();
        let count = view["association_count"].as_u64().unwrap_or_default();
        let readers = match (count, names.len() as u64) {
            (0, _) => "no associations".to_owned(),
            (n, shown) if n > shown => format!("{n} associations: {}, ...", names.join(", ")),
            (n, _) => format!(
                "{n} association{}: {}",
                if n == 1 { "" } else { "s" },
                names.join(", ")
            ),
        };
        text.push_str(&format!(
            "  {}  ({readers})\n",
            env_label(view["env"].as_str().unwrap_or_default())
        ));
        for change in items(view, "changes") {
            let shown = |v: &Value| match v {
                Value::Null => "(none)".to_owned(),
                other => other.to_string(),
            };
            text.push_str(&format!(
                "      {}: {} -> {}\n",
                change["key"].as_str().unwrap_or_default(),
                shown(&change["before"]),
                shown(&change["after"]),
            ));
        }
    }
    if let Some(hidden) = crate::hidden::warning(preview, false) {
        text.push_str(&hidden);
    }
    let violations = items(preview, "violations");
    if !violations.is_empty() {
        text.push_str("the service's schema would refuse it:\n");
        for v in violations {
            let at = v["pointer"]
                .as_str()
                .filter(|p| !p.is_empty())
                .unwrap_or("/");
            text.push_str(&format!(
                "  {} at {at}: {}\n",
                env_label(v["env"].as_str().unwrap_or_default()),
                v["message"].as_str().unwrap_or_default()
            ));
        }
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_preview_reads_as_views_keys_readers_and_refusals() {
        let preview = json!({
            "merge": "shallow", "hidden": [],
            "views": [
                {"env": "", "changes": [{"key": "pool", "before": 4, "after": 0}],
                 "associations": [], "association_count": 0},
                {"env": "prod", "changes": [{"key": "db.host", "after": "b"}],
                 "associations": ["web-0", "web-1"], "association_count": 2}
            ],
            "reach": {"envs": 2, "associations": 2},
            "violations": [{"env": "prod", "pointer": "/pool", "message": "0 is less than 1"}]
        });
        assert_eq!(
            describe(&preview),
            "dry run, nothing written: 2 views would change, read by 2 associations\n  \
             /  (no associations)\n      pool: 4 -> 0\n  \
             prod  (2 associations: web-0, web-1)\n      db.host: (none) -> \"b\"\n\
             the service's schema would refuse it:\n  prod at /pool: 0 is less than 1"
        );
        assert!(report(&preview, false).is_err());
    }
}
