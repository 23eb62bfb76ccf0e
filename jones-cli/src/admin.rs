//! The admin commands: services, environments, associations, view, dump.
//! Writes go through the server's HTTP API.

use jones_client::{EnvPath, ServiceName, validate_association};
use serde_json::{Value, json};

use crate::api::Api;
use crate::cli::{AssocCommand, EnvCommand, ServiceCommand};
use crate::dotted::{ValueMode, parse_value, set_dotted};
use crate::error::{CliError, Result};
use crate::input::read_config_arg;
use crate::output::{env_label, items, outln, print_json, tree_text, write_stdout};

/// How many times `env set`/`unset` re-read and re-apply their one-key
/// change when another writer got there first.
const KEY_WRITE_ATTEMPTS: usize = 5;

/// Parses an ENV argument: `/` (or nothing) is the root; one leading `/` is
/// allowed (`/parent/child1`).
pub fn parse_env(arg: &str) -> Result<EnvPath> {
    let trimmed = arg.strip_prefix('/').unwrap_or(arg);
    Ok(EnvPath::new(trimmed)?)
}

/// Validates a service name argument.
pub fn parse_service(arg: &str) -> Result<ServiceName> {
    Ok(ServiceName::new(arg)?)
}

pub fn services(api: &Api, json: bool) -> Result<()> {
    let list = api.services()?;
    if json {
        print_json(&list);
    } else {
        for svc in items(&list, "services") {
            outln!("{}", svc.as_str().unwrap_or_default());
        }
    }
    Ok(())
}

pub fn service(api: &Api, command: ServiceCommand, json: bool) -> Result<()> {
    let (result, done) = match command {
        ServiceCommand::Create { name, merge } => {
            ServiceName::strict(&name)?;
            (
                api.create_service(&name, merge.as_str())?,
                format!("created service {name} ({} merge)", merge.as_str()),
            )
        }
        ServiceCommand::Merge { name, mode } => {
            parse_service(&name)?;
            let result = api.set_merge(&name, mode.as_str())?;
            let views = result["views_written"].as_u64().unwrap_or_default();
            (
                result,
                format!(
                    "{name} merges {} now; {views} views rewritten",
                    mode.as_str()
                ),
            )
        }
        ServiceCommand::Delete { name, yes } => {
            parse_service(&name)?;
            let reach = crate::reach::describe(api, &name, &EnvPath::root())?;
            crate::confirm::confirm(&reach.text, "Delete?", "not deleted", yes)?;
            (
                api.delete_service(&name)?,
                format!("deleted service {name}"),
            )
        }
    };
    report(json, &result, &done);
    Ok(())
}

fn report(json: bool, result: &Value, done: &str) {
    if json {
        print_json(if result.is_null() {
            &Value::Null
        } else {
            result
        });
    } else {
        outln!("{done}");
    }
}

pub fn env(api: &Api, command: EnvCommand, json: bool) -> Result<()> {
    match command {
        EnvCommand::Ls { service } => {
            parse_service(&service)?;
            let tree = api.tree(&service)?;
            if json {
                print_json(&tree);
            } else {
                write_stdout(&tree_text(&tree));
            }
        }
        EnvCommand::Get { service, env } => {
            parse_service(&service)?;
            let env = parse_env(&env)?;
            let details = api.env(&service, &env)?;
            if json {
                print_json(&details);
            } else {
                print_env(&details);
            }
        }
        EnvCommand::Create {
            service,
            env,
            config,
        } => {
            parse_service(&service)?;
            let env = EnvPath::strict(parse_env(&env)?.as_str())?;
            let config = read_config_arg(&config)?;
            let result = api.create_env(&service, &env, &Value::Object(config))?;
            report(
                json,
                &result,
                &format!("created {}", env_label(env.as_str())),
            );
        }
        EnvCommand::Set {
            service,
            env,
            key,
            value,
            string,
            json_value,
            yes,
            copy_inherited,
            dry_run,
        } => {
            let mode = match (string, json_value) {
                (true, _) => ValueMode::String,
                (false, true) => ValueMode::Json,
                (false, false) => ValueMode::Auto,
            };
            let value = parse_value(&value, mode)?;
            let hint = key.contains('.') && !copy_inherited;
            let write = KeyWrite {
                yes,
                copy_hint: hint,
                dry_run,
                json,
            };
            let result = update_key(api, &service, &env, write, |config, view| {
                if copy_inherited {
                    crate::dotted::copy_inherited(config, view, &key);
                }
                set_dotted(config, &key, value.clone())
            })?;
            if let Some(result) = result {
                report(json, &result, &format!("set {key} in {}", env_label(&env)));
            }
        }
        EnvCommand::Unset {
            service,
            env,
            key,
            yes,
            dry_run,
        } => {
            let write = KeyWrite {
                yes,
                copy_hint: false,
                dry_run,
                json,
            };
            let result = update_key(api, &service, &env, write, |config, _| {
                unset_dotted(config, &key)
            })?;
            if let Some(result) = result {
                report(
                    json,
                    &result,
                    &format!("removed {key} from {}", env_label(&env)),
                );
            }
        }
        EnvCommand::Edit {
            service,
            env,
            resume,
            yes,
        } => {
            parse_service(&service)?;
            let env = parse_env(&env)?;
            crate::edit::edit(api, &service, &env, resume.as_deref(), yes, json)?;
        }
        EnvCommand::Rm {
            service,
            env,
            recursive,
            yes,
        } => {
            parse_service(&service)?;
            let env = parse_env(&env)?;
            if env.is_root() {
                return Err(CliError::invalid(
                    "the root environment cannot be deleted; delete the service instead",
                ));
            }
            let reach = crate::reach::describe(api, &service, &env)?;
            // With children and without -r the server refuses the delete
            // (has_children): nothing to ask.
            if recursive || reach.envs.len() == 1 {
                crate::confirm::confirm(&reach.text, "Delete?", "not deleted", yes)?;
            }
            let result = api.delete_env(&service, &env, recursive)?;
            report(json, &result, &removed(&result));
        }
    }
    Ok(())
}

/// What a delete's answer says it removed, in words.
fn removed(result: &Value) -> String {
    let envs: Vec<&str> = items(result, "envs")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    let hosts: Vec<&str> = items(result, "associations")
        .iter()
        .filter_map(|a| a["name"].as_str())
        .collect();
    let mut text = format!("deleted {}", envs.join(", "));
    if !hosts.is_empty() {
        text.push_str(&format!("; {} now read the root config", hosts.join(", ")));
    }
    text
}

/// Reads an environment, applies `change` to its config (given its view
/// too), and writes it with the version read; on a conflict, reads again
/// and re-applies. A change that hides inherited keys is shown and needs a
/// yes (`yes`, or the answer at a terminal); `copy_hint` adds the
/// `--copy-inherited` way out.
/// How `update_key` writes.
struct KeyWrite {
    /// Save even if the change hides inherited keys.
    yes: bool,
    /// Say how `--copy-inherited` keeps hidden keys.
    copy_hint: bool,
    /// Print the preview instead of writing.
    dry_run: bool,
    /// Print it as JSON.
    json: bool,
}

/// Changes one key of `env`'s config with the version read, retrying on
/// conflicts; `None` for a dry run, which prints the preview instead.
fn update_key(
    api: &Api,
    service: &str,
    env: &str,
    write: KeyWrite,
    change: impl Fn(&mut jones_client::Config, &jones_client::Config) -> Result<()>,
) -> Result<Option<Value>> {
    parse_service(service)?;
    let env = parse_env(env)?;
    let mut last_conflict = None;
    let mut agreed = None;
    for _ in 0..KEY_WRITE_ATTEMPTS {
        let details = api.env(service, &env)?;
        let version = details["version"]
            .as_i64()
            .ok_or_else(|| CliError::failed("the server sent no version"))?;
        let mut config = jones_client::config_from_value(details["config"].clone())?;
        let view = jones_client::config_from_value(details["view"].clone()).unwrap_or_default();
        change(&mut config, &view)?;
        let config = Value::Object(config);
        if write.dry_run {
            let preview = api.preview_config(service, &env, &config)?;
            crate::dryrun::report(&preview, write.json)?;
            return Ok(None);
        }
        // Each attempt (a retry is on another version) is previewed.
        let (yes, copy_hint) = (write.yes, write.copy_hint);
        crate::hidden::review(api, service, &env, &config, yes, copy_hint, &mut agreed)?;
        match api.set_env(service, &env, &config, version) {
            Ok(result) => return Ok(Some(result)),
            Err(failure) if failure.status == 409 => last_conflict = Some(failure),
            Err(failure) => return Err(failure.into()),
        }
    }
    Err(last_conflict.expect("the loop ran").into())
}

fn unset_dotted(config: &mut jones_client::Config, key: &str) -> Result<()> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut map = config;
    for part in parts {
        map = match map.get_mut(part) {
            Some(Value::Object(inner)) => inner,
            _ => return Err(CliError::not_found(format!("no key {key:?}"))),
        };
    }
    map.remove(last)
        .map(|_| ())
        .ok_or_else(|| CliError::not_found(format!("no key {key:?}")))
}

fn print_env(details: &Value) {
    let env = details["env"].as_str().unwrap_or_default();
    outln!("environment: {}", env_label(env));
    outln!("version:     {}", details["version"]);
    let children: Vec<&str> = items(&details["children"], "children")
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    if !children.is_empty() {
        outln!("children:    {}", children.join(", "));
    }
    let associations: Vec<&str> = items(&details["associations"], "associations")
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    if !associations.is_empty() {
        outln!("associated:  {}", associations.join(", "));
    }
    outln!("config:");
    outln!(
        "{}",
        serde_json::to_string_pretty(&details["config"]).unwrap_or_default()
    );
    outln!("view (inherited):");
    let origins = details.get("origins").and_then(Value::as_object);
    if let Some(view) = details["view"].as_object() {
        for (key, value) in view {
            let from = origins
                .and_then(|o| o.get(key))
                .and_then(Value::as_str)
                .map(|from| {
                    if from == env {
                        "own".to_owned()
                    } else {
                        format!("from {}", env_label(from))
                    }
                })
                .unwrap_or_default();
            outln!("  {key} = {value}    {from}");
        }
    }
}

pub fn assoc(api: &Api, command: AssocCommand, json: bool) -> Result<()> {
    match command {
        AssocCommand::Set { service, name, env } => {
            parse_service(&service)?;
            validate_association(&name)?;
            let env = parse_env(&env)?;
            let result = api.associate(&service, &name, &env)?;
            report(
                json,
                &result,
                &format!("{name} -> {}", env_label(env.as_str())),
            );
        }
        AssocCommand::Rm { service, name } => {
            parse_service(&service)?;
            // An old name (` web-01`) can be removed: checked at the read level.
            jones_client::NameKind::Association.check_readable(&name)?;
            let result = api.dissociate(&service, &name)?;
            report(
                json,
                &result,
                &format!("removed {name}; it reads the root view"),
            );
        }
        AssocCommand::Ls { service } => {
            parse_service(&service)?;
            let list = api.associations(&service)?;
            if json {
                print_json(&list);
            } else {
                for entry in items(&list, "associations") {
                    let name = entry["name"].as_str().unwrap_or_default();
                    let target = entry["env"]
                        .as_str()
                        .map(env_label)
                        .unwrap_or_else(|| entry["view_path"].as_str().unwrap_or("?"));
                    outln!("{name} -> {target}");
                }
            }
        }
    }
    Ok(())
}

/// The resolved config of an association through the server (without --zk).
pub fn view_via_server(api: &Api, service: &str, association: &str, json: bool) -> Result<()> {
    parse_service(service)?;
    jones_client::NameKind::Association.check_readable(association)?;
    let resolved = api.resolve(service, association)?;
    let config = jones_client::config_from_value(resolved["config"].clone())?;
    let view = view_json(
        service,
        association,
        resolved["associated"].as_bool().unwrap_or(true),
        resolved["env"].as_str().map(str::to_owned),
        resolved["view_path"].as_str().unwrap_or_default(),
        &config,
    );
    print_view(&view, json);
    Ok(())
}

/// The one shape `jones view --json` prints, whether read from ZooKeeper
/// or through the server.
pub fn view_json(
    service: &str,
    association: &str,
    associated: bool,
    env: Option<String>,
    view_path: &str,
    config: &jones_client::Config,
) -> Value {
    json!({
        "service": service,
        "association": association,
        "associated": associated,
        "env": env,
        "view_path": view_path,
        "config": config,
    })
}

/// Prints a view: all of it with `--json`, else its config; a warning on
/// stderr when the association is not in the nodemap.
pub fn print_view(view: &Value, json: bool) {
    if view["associated"] == Value::Bool(false) {
        let name = view["association"].as_str().unwrap_or_default();
        let service = view["service"].as_str().unwrap_or_default();
        eprintln!(
            "jones: warning: {name:?} is not associated in {service}'s nodemap: it reads the root config \
             (`jones assoc ls {service}` lists the associations)"
        );
    }
    if json {
        print_json(view);
    } else {
        print_json(&view["config"]);
    }
}

pub fn verify(api: &Api, service: &str, json: bool) -> Result<()> {
    parse_service(service)?;
    report_consistency(service, &api.verify(service)?, json)
}

pub fn repair(api: &Api, service: &str, json: bool) -> Result<()> {
    parse_service(service)?;
    let repaired = api.repair(service)?;
    if !json {
        outln!(
            "repaired: {} views written in {} transactions",
            repaired["views_written"],
            repaired["transactions"]
        );
    }
    report_consistency(service, &repaired, json)
}

/// Prints a verify answer; an error (exit 1) when it found problems.
fn report_consistency(service: &str, found: &Value, json: bool) -> Result<()> {
    let problems = items(found, "problems");
    if json {
        print_json(found);
    } else if problems.is_empty() {
        outln!("{service}: consistent");
    } else {
        for problem in &problems {
            let what = problem["kind"].as_str().unwrap_or("problem");
            let detail: Vec<String> = problem
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| *k != "kind")
                .map(|(k, v)| format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect();
            outln!("{what} {}", detail.join(" "));
        }
    }
    if found["consistent"] == Value::Bool(true) {
        Ok(())
    } else {
        Err(CliError::failed(format!(
            "service {service:?} is not consistent: {} problems",
            problems.len()
        )))
    }
}

pub fn dump(api: &Api, service: &str, json: bool) -> Result<()> {
    parse_service(service)?;
    let dump = api.dump(service)?;
    if json {
        print_json(&dump);
    } else {
        for node in items(&dump, "nodes") {
            outln!("{}", node["path"].as_str().unwrap_or_default());
            let data = node["data"].as_str().unwrap_or_default();
            for line in data.lines() {
                outln!("    {line}");
            }
        }
    }
    Ok(())
}
