//! `jones pin`, `unpin` and `pins`: environments whose view is frozen as it
//! was right after a history entry.

use crate::admin::{parse_env, parse_service};
use crate::api::Api;
use crate::error::Result;
use crate::output::{env_label, items, outln, print_json};

/// Pins `env`'s view as it was right after entry `id`.
pub fn pin(api: &Api, service: &str, env: &str, id: u64, json: bool) -> Result<()> {
    parse_service(service)?;
    let env = parse_env(env)?;
    let done = api.pin(service, &env, id)?;
    if json {
        print_json(&done);
    } else {
        outln!(
            "pinned {} at entry #{id}: {} views written",
            env_label(env.as_str()),
            done["views_written"]
        );
    }
    Ok(())
}

/// Removes `env`'s pin.
pub fn unpin(api: &Api, service: &str, env: &str, json: bool) -> Result<()> {
    parse_service(service)?;
    let env = parse_env(env)?;
    let done = api.unpin(service, &env)?;
    if json {
        print_json(&done);
    } else {
        outln!(
            "unpinned {}: {} views written",
            env_label(env.as_str()),
            done["views_written"]
        );
    }
    Ok(())
}

/// Lists the pinned environments, each with the diff of what it would
/// read unpinned.
pub fn pins(api: &Api, service: &str, json: bool) -> Result<()> {
    parse_service(service)?;
    let listed = api.pins(service)?;
    if json {
        print_json(&listed);
        return Ok(());
    }
    let pins = items(&listed, "pins");
    if pins.is_empty() {
        outln!("no environment of {service} is pinned");
    }
    for pin in pins {
        outln!(
            "{}  pinned at #{}",
            env_label(pin["env"].as_str().unwrap_or_default()),
            pin["to"]
        );
        let unpinned = crate::diff::diff(&pin["view"], &pin["unpinned"], ("pinned", "unpinned"));
        for line in unpinned.lines() {
            outln!("    {line}");
        }
    }
    Ok(())
}
