//! `jones history`: a service's recorded changes, newest first, each with
//! who made it, why, and a diff of what it changed; `jones rollback`: an
//! environment's config made what it was right after one of them.

use serde_json::Value;

use crate::admin::{parse_env, parse_service};
use crate::api::Api;
use crate::error::Result;
use crate::output::{env_label, items, outln, print_json};

/// Prints up to `limit` entries of `service` (of `env` only, when given),
/// older than entry `before` when given.
pub fn history(
    api: &Api,
    service: &str,
    env: Option<&str>,
    limit: usize,
    before: Option<u64>,
    json: bool,
) -> Result<()> {
    parse_service(service)?;
    let env = env.map(parse_env).transpose()?;
    let page = api.history(service, env.as_ref(), limit, before)?;
    print_page(&page, json);
    Ok(())
}

/// Prints up to `limit` entries of the Jones-wide history (service
/// deletes, accounts), older than entry `before` when given.
pub fn audit(api: &Api, limit: usize, before: Option<u64>, json: bool) -> Result<()> {
    let page = api.jones_history(limit, before)?;
    print_page(&page, json);
    Ok(())
}

/// A page of history: per entry a headline, the message, and the diff.
fn print_page(page: &Value, json: bool) {
    if json {
        print_json(page);
        return;
    }
    for entry in items(page, "entries") {
        outln!("{}", headline(entry));
        if let Some(message) = entry["message"].as_str() {
            outln!("    {message}");
        }
        let change = crate::diff::diff(&entry["before"], &entry["after"], ("before", "after"));
        for line in change.lines() {
            outln!("    {line}");
        }
    }
    if let Some(next) = page["next"].as_u64() {
        outln!("(older: --before {next})");
    }
}

/// Rolls the environment entry `id` changed back to its config right after
/// it: shows the diff from what is stored now, asks (or needs `yes`), and
/// writes with the version read, so a change made meanwhile is a conflict
/// (exit 4), not overwritten.
pub fn rollback(api: &Api, service: &str, id: u64, yes: bool, json: bool) -> Result<()> {
    parse_service(service)?;
    let target = api.config_at(service, id)?;
    let env = parse_env(target["env"].as_str().unwrap_or_default())?;
    let current = api.env(service, &env)?;
    let label = env_label(env.as_str());
    if current["config"] == target["config"] {
        if json {
            print_json(&serde_json::json!({"env": env.as_str(), "changed": false}));
        } else {
            outln!("{label} already holds the config of entry #{id}: nothing to roll back");
        }
        return Ok(());
    }
    let change = crate::diff::diff(&current["config"], &target["config"], ("now", "after"));
    let shown = format!("Rolling {label} back to entry #{id}:\n{change}\n");
    crate::confirm::confirm(&shown, "Roll back?", "not rolled back", yes)?;
    let version = current["version"].as_i64().unwrap_or_default();
    let done = api.rollback(service, id, version)?;
    if json {
        print_json(&done);
    } else {
        outln!(
            "rolled {label} back to entry #{id}: version {}, {} views written",
            done["version"],
            done["views_written"]
        );
    }
    Ok(())
}

/// `#42  2026-12-07T12:03:20.000Z  alice  config.set  prod`.
fn headline(entry: &Value) -> String {
    let text = |key: &str| entry[key].as_str().unwrap_or("-").to_owned();
    let target = match (entry["env"].as_str(), entry["association"].as_str()) {
        _ if entry["account"].is_string() => format!("account {}", text("account")),
        _ if entry["service"].is_string() => format!("service {}", text("service")),
        (_, Some(name)) => format!(
            "{name} -> {}",
            entry["after"].as_str().map_or("(none)", env_label)
        ),
        (Some(env), None) => env_label(env).to_owned(),
        (None, None) => "(service)".to_owned(),
    };
    format!(
        "#{}  {}  {}  {}  {target}",
        entry["id"],
        text("at"),
        text("actor"),
        text("action")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn headlines_name_the_target() {
        let entry = json!({"id": 7, "at": "2026-12-07T12:03:20.000Z", "actor": "alice",
            "action": "config.set", "env": "prod", "before": {}, "after": {}});
        assert_eq!(
            headline(&entry),
            "#7  2026-12-07T12:03:20.000Z  alice  config.set  prod"
        );
        let moved = json!({"id": 8, "at": "t", "actor": "a", "action": "association.set",
            "env": "", "association": "web-01", "before": "prod", "after": ""});
        assert_eq!(headline(&moved), "#8  t  a  association.set  web-01 -> /");
        let created =
            json!({"id": 1, "at": "t", "actor": "a", "action": "service.create", "env": null});
        assert_eq!(headline(&created), "#1  t  a  service.create  (service)");
    }
}
