//! The admin commands: services, environments, associations, view, dump.
//! Writes go through the server's HTTP API.

use jones_client::{EnvPath, ServiceName, validate_association};
use serde_json::{Value, json};

use crate::api::Api;
use crate::cli::{AssocCommand, EnvCommand, ServiceCommand};
use crate::dotted::{parse_value, set_dotted};
use crate::error::{CliError, Result};
use crate::output::{env_label, items, print_json, tree_text};

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
            println!("{}", svc.as_str().unwrap_or_default());
        }
    }
    Ok(())
}

pub fn service(api: &Api, command: ServiceCommand, json: bool) -> Result<()> {
    let (result, done) = match command {
        ServiceCommand::Create { name } => {
            parse_service(&name)?;
            (
                api.create_service(&name)?,
                format!("created service {name}"),
            )
        }
        ServiceCommand::Delete { name } => {
            parse_service(&name)?;
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
        println!("{done}");
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
                print!("{}", tree_text(&tree));
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
            let env = parse_env(&env)?;
            let config: Value = serde_json::from_str(&config)
                .map_err(|e| CliError::Invalid(format!("--config is not valid JSON: {e}")))?;
            jones_client::config_from_value(config.clone())?;
            let result = api.create_env(&service, &env, &config)?;
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
        } => {
            let value = parse_value(&value)?;
            let result = update_key(api, &service, &env, |config| {
                set_dotted(config, &key, value.clone())
            })?;
            report(json, &result, &format!("set {key} in {}", env_label(&env)));
        }
        EnvCommand::Unset { service, env, key } => {
            let result = update_key(api, &service, &env, |config| unset_dotted(config, &key))?;
            report(
                json,
                &result,
                &format!("removed {key} from {}", env_label(&env)),
            );
        }
        EnvCommand::Edit { service, env } => {
            parse_service(&service)?;
            let env = parse_env(&env)?;
            crate::edit::edit(api, &service, &env, json)?;
        }
        EnvCommand::Rm {
            service,
            env,
            recursive,
        } => {
            parse_service(&service)?;
            let env = parse_env(&env)?;
            if env.is_root() {
                return Err(CliError::Invalid(
                    "the root environment cannot be deleted; delete the service instead".into(),
                ));
            }
            let result = api.delete_env(&service, &env, recursive)?;
            report(json, &result, &format!("deleted {}", env.as_str()));
        }
    }
    Ok(())
}

/// Reads an environment, applies `change` to its config, and writes it with
/// the version read; on a conflict, reads again and re-applies.
fn update_key(
    api: &Api,
    service: &str,
    env: &str,
    change: impl Fn(&mut jones_client::Config) -> Result<()>,
) -> Result<Value> {
    parse_service(service)?;
    let env = parse_env(env)?;
    let mut last_conflict = None;
    for _ in 0..KEY_WRITE_ATTEMPTS {
        let details = api.env(service, &env)?;
        let version = details["version"]
            .as_i64()
            .ok_or_else(|| CliError::Failed("the server sent no version".into()))?;
        let mut config = jones_client::config_from_value(details["config"].clone())?;
        change(&mut config)?;
        match api.set_env(service, &env, &Value::Object(config), version) {
            Ok(result) => return Ok(result),
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
            _ => return Err(CliError::NotFound(format!("no key {key:?}"))),
        };
    }
    map.remove(last)
        .map(|_| ())
        .ok_or_else(|| CliError::NotFound(format!("no key {key:?}")))
}

fn print_env(details: &Value) {
    let env = details["env"].as_str().unwrap_or_default();
    println!("environment: {}", env_label(env));
    println!("version:     {}", details["version"]);
    let children: Vec<&str> = items(&details["children"], "children")
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    if !children.is_empty() {
        println!("children:    {}", children.join(", "));
    }
    let associations: Vec<&str> = items(&details["associations"], "associations")
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    if !associations.is_empty() {
        println!("associated:  {}", associations.join(", "));
    }
    println!("config:");
    println!(
        "{}",
        serde_json::to_string_pretty(&details["config"]).unwrap_or_default()
    );
    println!("view (inherited):");
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
            println!("  {key} = {value}    {from}");
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
            validate_association(&name)?;
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
                    println!("{name} -> {target}");
                }
            }
        }
    }
    Ok(())
}

/// The resolved config of an association through the server (without --zk).
pub fn view_via_server(api: &Api, service: &str, association: &str, json: bool) -> Result<()> {
    parse_service(service)?;
    validate_association(association)?;
    let resolved = api.resolve(service, association)?;
    if json {
        print_json(&resolved);
    } else {
        print_json(resolved.get("config").unwrap_or(&resolved));
    }
    Ok(())
}

pub fn verify(api: &Api, service: &str, json: bool) -> Result<()> {
    parse_service(service)?;
    report_consistency(service, &api.verify(service)?, json)
}

pub fn repair(api: &Api, service: &str, json: bool) -> Result<()> {
    parse_service(service)?;
    let repaired = api.repair(service)?;
    if !json {
        println!(
            "repaired: {} views written in {} transactions",
            repaired["views_written"], repaired["transactions"]
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
        println!("{service}: consistent");
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
            println!("{what} {}", detail.join(" "));
        }
    }
    if found["consistent"] == Value::Bool(true) {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
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
            println!("{}", node["path"].as_str().unwrap_or_default());
            let data = node["data"].as_str().unwrap_or_default();
            for line in data.lines() {
                println!("    {line}");
            }
        }
    }
    Ok(())
}

/// `{"config": ...}` for printing a snapshot read from ZooKeeper.
pub fn resolved_json(
    config: &jones_client::Config,
    view_path: &str,
    revision: Option<jones_client::Revision>,
) -> Value {
    json!({
        "view_path": view_path,
        "mzxid": revision.map(|r| r.mzxid),
        "version": revision.map(|r| r.version),
        "config": config,
    })
}
