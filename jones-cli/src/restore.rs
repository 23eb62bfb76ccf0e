//! `jones restore`: loads a `jones dump` back into a service.
//!
//! A dump holds every znode of a service: the environments' own configs
//! (`conf`), their materialized views (`views`) and the nodemap (a dump by
//! an older server may also hold the association index and the client
//! registry: derived and ephemeral, they are skipped). Restore
//! takes the configs and the associations from it and writes them through
//! the server like any other admin write, so the server computes the views
//! and keeps its own invariants; the dumped views are not copied. When the
//! dump was consistent (`jones verify`), a dump of the restored service is
//! the same text as the dump restored (with the service's name changed when
//! restored under another name). The service's merge mode comes along.
//!
//! A tree written by original Jones itself restores with these differences,
//! and only these (the API takes values, not bytes, so the original bytes
//! cannot be written back):
//!
//! - each config and view is written as compact JSON (`{"a":1,"b":[1,2]}`,
//!   non-ASCII characters as UTF-8), where Python's `json.dumps` wrote
//!   `{"a": 1, "b": [1, 2]}` with `\u` escapes; the values and their key
//!   order are kept;
//! - the nodemap of the new service is written in the server's format for
//!   new nodemaps (`jones-server --nodemap-format`): a JSON object by
//!   default, or with `lines` original Jones 0.5's `name -> view path`
//!   lines, sorted by name (the same bytes when the dumped lines were
//!   sorted); with `lines`, the service znode records `{"nodemap":"lines"}`
//!   (original clients never read it), so the service keeps lines once its
//!   last association is removed.
//!
//! From the restored service on, the round trip is exact.
//!
//! Into a new service, or one holding nothing yet (an empty root config, no
//! other environment, no association), restore creates what the dump holds.
//! A service holding anything is refused (exit 8) unless `--replace`.
//!
//! `--replace` reads every environment of the target with its version
//! first. Each environment the dump also has is written with the version
//! read (the server refuses the write if it changed meanwhile), and each
//! environment the dump lacks is deleted only after re-reading it at the
//! version read. So a change made by someone else between the read and the
//! write stops the restore with exit 4 instead of being overwritten; what
//! was written before the stop stays written, and the message says so. The
//! API has no multi-environment transaction, so a replace is a sequence of
//! checked steps, not one atomic step; associations are not versioned by
//! the API and are set as the dump has them.

use std::collections::BTreeMap;

use jones_client::{Config, EnvPath, Nodemap, ServiceLayout, ServiceName};
use serde_json::{Value, json};

use crate::admin::parse_service;
use crate::api::Api;
use crate::error::{CliError, Result};
use crate::input::read_file_arg;
use crate::output::{env_label, items, outln, print_json};

/// What a dump holds that restore writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Contents {
    /// The service it was dumped from.
    pub service: ServiceName,
    /// Every environment's own config, the root's included, sorted by path
    /// (so a parent comes before its children).
    pub envs: BTreeMap<EnvPath, Config>,
    /// Association name → environment.
    pub associations: BTreeMap<String, EnvPath>,
    /// The service's merge mode (`shallow` when the dump does not say).
    pub merge: String,
}

/// One znode of a dump.
#[derive(Debug)]
struct Node {
    path: String,
    data: String,
}

/// Parses a dump as `jones dump` prints it: JSON (with `--json`) or text
/// (a path per line, its data below indented by four spaces).
pub fn parse_dump(text: &str) -> Result<Contents> {
    let nodes = match serde_json::from_str::<Value>(text) {
        Ok(value) => json_nodes(&value)?,
        Err(_) if text.trim_start().starts_with('{') => {
            return Err(CliError::invalid(
                "the dump looks like JSON but is not valid JSON",
            ));
        }
        Err(_) => text_nodes(text)?,
    };
    contents(&nodes)
}

fn json_nodes(value: &Value) -> Result<Vec<Node>> {
    let list = value
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or_else(|| CliError::invalid("the dump has no `nodes` list: is it a `jones dump`?"))?;
    list.iter()
        .map(
            |node| match (node["path"].as_str(), node["data"].as_str()) {
                (Some(path), Some(data)) => Ok(Node {
                    path: path.to_owned(),
                    data: data.to_owned(),
                }),
                _ => Err(CliError::invalid(format!(
                    "a node of the dump lacks `path` or `data`: {node}"
                ))),
            },
        )
        .collect()
}

fn text_nodes(text: &str) -> Result<Vec<Node>> {
    let mut nodes: Vec<Node> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if let Some(data) = line.strip_prefix("    ") {
            let node = nodes.last_mut().ok_or_else(|| {
                CliError::invalid(format!("line {}: data before any path", number + 1))
            })?;
            if !node.data.is_empty() {
                node.data.push('\n');
            }
            node.data.push_str(data);
        } else if line.starts_with('/') {
            nodes.push(Node {
                path: line.to_owned(),
                data: String::new(),
            });
        } else if !line.trim().is_empty() {
            return Err(CliError::invalid(format!(
                "line {}: neither a znode path nor indented data: {line:?}; is it a `jones dump`?",
                number + 1
            )));
        }
    }
    Ok(nodes)
}

/// The configs and associations of the dumped znodes.
fn contents(nodes: &[Node]) -> Result<Contents> {
    let first = nodes
        .first()
        .ok_or_else(|| CliError::invalid("the dump is empty"))?;
    let name = first
        .path
        .strip_prefix("/services/")
        .map(|rest| rest.split('/').next().unwrap_or_default())
        .ok_or_else(|| {
            CliError::invalid(format!(
                "the dump starts with {}, not /services/NAME",
                first.path
            ))
        })?;
    let service = ServiceName::new(name)?;
    let layout = ServiceLayout::new(service.clone());
    let mut envs = BTreeMap::new();
    let mut associations = BTreeMap::new();
    let mut merge = "shallow".to_owned();
    for node in nodes {
        let path = node.path.as_str();
        if path == layout.service_path() {
            if let Ok(settings) = serde_json::from_str::<Value>(&node.data) {
                if let Some(mode) = settings["merge"].as_str() {
                    merge = mode.to_owned();
                }
            }
            continue;
        }
        // Derived or ephemeral: views (from the confs), the association
        // index (from the nodemap), the client registry (live sessions).
        // Dumps of older servers hold the last two; the server rebuilds the
        // index as it writes the associations.
        if under(path, layout.views_root())
            || under(path, layout.associations_path())
            || under(path, layout.clients_path())
        {
            continue;
        }
        if under(path, layout.conf_root()) {
            let rest = path[layout.conf_root().len()..].trim_start_matches('/');
            let env = EnvPath::new(rest)?;
            envs.insert(env, parse_config(path, &node.data)?);
        } else if path == layout.nodemap_path() {
            let map = Nodemap::parse(node.data.as_bytes())?;
            for (name, view_path) in map.iter() {
                let env = layout.env_of_view_path(view_path)?;
                associations.insert(name.to_owned(), env);
            }
        } else if path.starts_with(&format!("{}/", layout.service_path())) {
            tracing::warn!("{path} is not a config or the nodemap: not restored");
        } else {
            return Err(CliError::invalid(format!(
                "{path} is not in the service {service} the dump starts with"
            )));
        }
    }
    if !envs.contains_key(&EnvPath::root()) {
        return Err(CliError::invalid(format!(
            "the dump has no root config {}",
            layout.conf_root()
        )));
    }
    Ok(Contents {
        service,
        envs,
        associations,
        merge,
    })
}

fn under(path: &str, root: &str) -> bool {
    path == root
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn parse_config(path: &str, data: &str) -> Result<Config> {
    if data.trim().is_empty() {
        return Ok(Config::new());
    }
    let value: Value = serde_json::from_str(data)
        .map_err(|e| CliError::invalid(format!("the config of {path} is not JSON: {e}")))?;
    jones_client::config_from_value(value)
        .map_err(|e| CliError::from(e).map_message(|m| format!("{path}: {m}")))
}

/// What the target service holds now: each environment's config and
/// version, and the associations.
struct Current {
    envs: BTreeMap<EnvPath, (Config, i64)>,
    associations: BTreeMap<String, String>,
}

fn read_current(api: &Api, service: &str) -> Result<Option<Current>> {
    let tree = match api.tree(service) {
        Ok(tree) => tree,
        Err(failure) if failure.status == 404 => return Ok(None),
        Err(failure) => return Err(failure.into()),
    };
    let mut paths = Vec::new();
    collect_envs(&tree, &mut paths);
    let mut envs = BTreeMap::new();
    for path in paths {
        let env = EnvPath::new(&path)?;
        let details = api.env(service, &env)?;
        let version = details["version"]
            .as_i64()
            .ok_or_else(|| CliError::failed("the server sent no version"))?;
        let config = jones_client::config_from_value(details["config"].clone())?;
        envs.insert(env, (config, version));
    }
    let list = api.associations(service)?;
    let associations = items(&list, "associations")
        .into_iter()
        .map(|a| {
            let target = a["env"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| a["view_path"].as_str().unwrap_or_default().to_owned());
            (a["name"].as_str().unwrap_or_default().to_owned(), target)
        })
        .collect();
    Ok(Some(Current { envs, associations }))
}

fn collect_envs(node: &Value, out: &mut Vec<String>) {
    if let Some(env) = node.get("env").and_then(Value::as_str) {
        out.push(env.to_owned());
    }
    for child in items(&node["children"], "children") {
        collect_envs(child, out);
    }
}

impl Current {
    fn is_empty(&self) -> bool {
        self.associations.is_empty()
            && self.envs.len() == 1
            && self
                .envs
                .get(&EnvPath::root())
                .is_some_and(|(config, _)| config.is_empty())
    }
}

/// What a restore did.
#[derive(Debug, Default)]
struct Done {
    envs_written: usize,
    envs_deleted: usize,
    associations_written: usize,
    associations_deleted: usize,
}

/// `jones restore FILE [--service NAME] [--replace]`.
pub fn restore(
    api: &Api,
    file: &str,
    service: Option<&str>,
    replace: bool,
    json: bool,
) -> Result<()> {
    let contents = parse_dump(&read_file_arg(file, "the dump")?)?;
    let target = service.unwrap_or(contents.service.as_str()).to_owned();
    parse_service(&target)?;
    let mut created = false;
    let current = match read_current(api, &target)? {
        Some(current) => current,
        None => {
            api.create_service(&target, &contents.merge)?;
            created = true;
            read_current(api, &target)?
                .ok_or_else(|| CliError::failed(format!("service {target} vanished")))?
        }
    };
    if !replace && !current.is_empty() {
        return Err(CliError::not_empty(format!(
            "service {target} already holds environments, associations or a root config; \
             restore into a new service (--service NAME), or give --replace to replace what it holds"
        )));
    }
    if !created && api.service(&target)?["merge"] != contents.merge.as_str() {
        api.set_merge(&target, &contents.merge)?;
    }
    let mut done = Done::default();
    let outcome = write(api, &target, &contents, &current, &mut done);
    let summary = format!(
        "{} environments written, {} deleted; {} associations written, {} removed",
        done.envs_written, done.envs_deleted, done.associations_written, done.associations_deleted
    );
    if let Err(e) = outcome {
        return Err(e.map_message(|m| {
            format!("{m}; the restore stopped after {summary}: check `jones dump {target}`")
        }));
    }
    if json {
        print_json(&json!({
            "service": target,
            "created": created,
            "envs_written": done.envs_written,
            "envs_deleted": done.envs_deleted,
            "associations_written": done.associations_written,
            "associations_deleted": done.associations_deleted,
        }));
    } else {
        outln!("restored {target}: {summary}");
    }
    Ok(())
}

fn write(
    api: &Api,
    service: &str,
    contents: &Contents,
    current: &Current,
    done: &mut Done,
) -> Result<()> {
    // Parents before children (the map is sorted by path).
    for (env, config) in &contents.envs {
        let body = Value::Object(config.clone());
        match current.envs.get(env) {
            Some((now, _)) if now == config => {}
            Some((_, version)) => {
                api.set_env(service, env, &body, *version)?;
                done.envs_written += 1;
            }
            None => {
                api.create_env(service, env, &body)?;
                done.envs_written += 1;
            }
        }
    }
    // Children before parents, each unchanged since it was read.
    for (env, (_, version)) in current.envs.iter().rev() {
        if contents.envs.contains_key(env) {
            continue;
        }
        let now = api.env(service, env)?;
        if now["version"].as_i64() != Some(*version) {
            return Err(CliError::conflict(format!(
                "{} changed since it was read (version {version}, now {}); it was not deleted",
                env_label(env.as_str()),
                now["version"]
            )));
        }
        api.delete_env(service, env, false)?;
        done.envs_deleted += 1;
    }
    for (name, env) in &contents.associations {
        if current.associations.get(name).map(String::as_str) != Some(env.as_str()) {
            api.associate(service, name, env)?;
            done.associations_written += 1;
        }
    }
    for name in current.associations.keys() {
        if !contents.associations.contains_key(name) {
            api.dissociate(service, name)?;
            done.associations_deleted += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "/services/s
/services/s/conf
    {\"foo\":\"bar\"}
/services/s/conf/parent
    {\"a\":1}
/services/s/conf/parent/child
    {}
/services/s/nodemaps
    {\"h1\":\"/services/s/views/parent/child\"}
/services/s/views
    {\"foo\":\"bar\"}
/services/s/views/parent
    {\"foo\":\"bar\",\"a\":1}
";

    #[test]
    fn reads_text_and_json_dumps_alike() {
        let from_text = parse_dump(TEXT).unwrap();
        assert_eq!(from_text.service.as_str(), "s");
        let envs: Vec<&str> = from_text.envs.keys().map(EnvPath::as_str).collect();
        assert_eq!(envs, ["", "parent", "parent/child"]);
        assert_eq!(
            Value::Object(from_text.envs[&EnvPath::root()].clone()),
            json!({"foo": "bar"})
        );
        assert_eq!(from_text.associations["h1"].as_str(), "parent/child");

        let nodes: Vec<Value> = text_nodes(TEXT)
            .unwrap()
            .into_iter()
            .map(|n| json!({"path": n.path, "data": n.data, "version": 0}))
            .collect();
        let json_dump = json!({"service": "s", "nodes": nodes}).to_string();
        assert_eq!(parse_dump(&json_dump).unwrap(), from_text);
    }

    #[test]
    fn refuses_what_is_not_a_dump() {
        for bad in [
            "",
            "hello",
            "{\"nodes\": 1}",
            "{broken",
            "/other/path\n",
            "/services/s\n/services/t/conf\n    {}\n",
            "/services/s\n/services/s/conf\n    [1]\n",
            "/services/s\n/services/s/conf/x\n    {}\n",
        ] {
            let err = parse_dump(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}: {err}");
        }
    }
}
