//! Deletes that show their reach: before `jones env rm` and `jones service
//! delete` remove anything, they say what goes (every environment, every
//! association, and the config those hosts read instead), then ask (see
//! [`crate::confirm`]).

use jones_client::EnvPath;
use serde_json::Value;

use crate::api::Api;
use crate::error::Result;
use crate::output::items;

/// What a delete would remove.
pub struct Reach {
    /// Every environment it removes, parents first (`/` for the root).
    pub envs: Vec<String>,
    /// The same, with the associations and their fallback, in words.
    pub text: String,
}

/// What a delete of `env` (the root: the service) removes.
pub fn describe(api: &Api, service: &str, env: &EnvPath) -> Result<Reach> {
    let preview = api.preview_delete(service, env)?;
    let envs: Vec<String> = items(&preview, "envs")
        .iter()
        .map(|e| crate::output::env_label(e.as_str().unwrap_or_default()).to_owned())
        .collect();
    let associations = items(&preview, "associations");
    let mut text = if env.is_root() {
        format!(
            "Deleting service {service} removes its {} and {}.\n",
            count(envs.len(), "environment"),
            count(associations.len(), "association"),
        )
    } else {
        format!(
            "Deleting {} removes {}: {}.\n",
            env.as_str(),
            count(envs.len(), "environment"),
            envs.join(", ")
        )
    };
    if !env.is_root() && !associations.is_empty() {
        text.push_str(&format!(
            "{} will read the root config instead:\n",
            if associations.len() == 1 {
                "This host loses its association and"
            } else {
                "These hosts lose their association and"
            }
        ));
        for a in &associations {
            text.push_str(&format!(
                "  {} (now {})\n",
                a["name"].as_str().unwrap_or_default(),
                crate::output::env_label(a["env"].as_str().unwrap_or_default())
            ));
        }
        let fallback = preview.get("fallback").cloned().unwrap_or(Value::Null);
        text.push_str(&format!("  root config: {fallback}\n"));
    }
    Ok(Reach { envs, text })
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
