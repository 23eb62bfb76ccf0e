//! Environments: create, get, set (guarded by version), delete, tree.

use futures_util::future::join_all;
use jones_client::{Config, EnvPath, Nodemap, ServiceLayout, ServiceName};
use serde::Serialize;

use super::Admin;
use crate::tree::{not_found, parse_stored, read_chain};
use crate::writer::{ConfChange, Deleted, WriteOutcome};
use crate::{Error, Result};

/// An environment as the editor shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EnvDetails {
    /// Its path (`""` for the root).
    pub env: String,
    /// Its version, to send back with the next write: the zxid of its
    /// conf's last change. It never repeats for a path, also across delete
    /// and re-create, so a write based on what was read before a re-create
    /// is refused, not applied to a different environment.
    pub version: i64,
    /// Its own config.
    pub config: Config,
    /// Its stored view: what clients read.
    pub view: Config,
    /// Its children's names, sorted.
    pub children: Vec<String>,
    /// The associations that read its view, sorted.
    pub associations: Vec<String>,
    /// For each key of the view, the environment whose config supplies it.
    pub origins: serde_json::Map<String, serde_json::Value>,
    /// Keys of its own config that replace an ancestor's value.
    pub overrides: Vec<String>,
    /// Why it cannot be changed (a name from before the name rules), or
    /// `None` when it can.
    pub read_only: Option<String>,
}

/// The environment tree of a service.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EnvTree {
    /// The environment's path.
    pub env: String,
    /// Its last segment (`""` for the root).
    pub name: String,
    /// Its children, sorted by name.
    pub children: Vec<EnvTree>,
}

impl Admin {
    /// Creates environment `env` with `config`; its parent must exist.
    pub async fn create_env(
        &self,
        service: &ServiceName,
        env: &EnvPath,
        config: Config,
    ) -> Result<WriteOutcome> {
        if let Some(reason) = env.rule_problem() {
            return Err(Error::InvalidName(jones_client::Error::InvalidName {
                kind: jones_client::NameKind::Environment,
                name: env.to_string(),
                reason,
            }));
        }
        super::check_writable(service, None)?;
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self.writer(&layout).create_env(env, config).await;
        self.record(&result);
        self.after(service, &result).await;
        result
    }

    /// Replaces `env`'s config. With `expected`, only if its conf is still
    /// at that version, else [`Error::Conflict`] with what is stored now.
    /// Every view below it that changes is rewritten atomically with it.
    pub async fn set_env(
        &self,
        service: &ServiceName,
        env: &EnvPath,
        config: Config,
        expected: Option<i64>,
    ) -> Result<WriteOutcome> {
        super::check_writable(service, Some(env))?;
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self
            .writer(&layout)
            .set_conf(
                env,
                ConfChange {
                    config,
                    expected,
                    rollback_to: None,
                },
            )
            .await;
        self.record(&result);
        self.after(service, &result).await;
        result
    }

    /// Deletes `env` (not the root). Refused when it has children unless
    /// `recursive`. Its conf and view subtrees go in one transaction, with
    /// every association pointing into the subtree removed from the nodemap
    /// (such hosts then read the root view, as unassociated ones do).
    /// Returns what it removed.
    pub async fn delete_env(
        &self,
        service: &ServiceName,
        env: &EnvPath,
        recursive: bool,
    ) -> Result<Deleted> {
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self.writer(&layout).delete_env(env, recursive).await;
        self.after(service, &result).await;
        result
    }

    /// The environment `env`: config, version, view, children,
    /// associations, and where each view key comes from.
    pub async fn get_env(&self, service: &ServiceName, env: &EnvPath) -> Result<EnvDetails> {
        let layout = ServiceLayout::new(service.clone());
        let (chain, children, view, nodemap, service) = futures_util::future::try_join5(
            read_chain(&self.zk, &layout, env),
            self.zk.children(&layout.conf_path(env)),
            self.zk.get(&layout.view_path(env)),
            self.zk.get(layout.nodemap_path()),
            crate::tree::read_service(&self.zk, &layout),
        )
        .await?;
        let (merge, pins) = service.map(|s| (s.merge, s.pins)).unwrap_or_default();
        let (_, top) = chain.last().cloned().expect("lineage");
        let (config, version) = (top.config, top.revision);
        let view_path = layout.view_path(env);
        let view = match view {
            Some((data, _)) => parse_stored(&view_path, &data)?,
            None => pins.lineage_view(merge, chain.iter().map(|(e, c)| (e, &c.config))),
        };
        let mut origins = serde_json::Map::new();
        for key in view.keys() {
            if let Some((e, _)) = chain.iter().rev().find(|(_, c)| c.config.contains_key(key)) {
                origins.insert(key.clone(), e.as_str().into());
            }
        }
        let overrides = config
            .keys()
            .filter(|k| {
                chain[..chain.len() - 1]
                    .iter()
                    .any(|(_, c)| c.config.contains_key(*k))
            })
            .cloned()
            .collect();
        let associations = match nodemap {
            Some((data, _)) => Nodemap::parse(&data)
                .map_err(|e| Error::Corrupt {
                    path: layout.nodemap_path().to_owned(),
                    reason: e.to_string(),
                })?
                .iter()
                .filter(|(_, p)| *p == view_path)
                .map(|(n, _)| n.to_owned())
                .collect(),
            None => Vec::new(),
        };
        Ok(EnvDetails {
            env: env.to_string(),
            version,
            config,
            view,
            children: children.unwrap_or_default(),
            associations,
            origins,
            overrides,
            read_only: super::check_writable(layout.service(), Some(env))
                .err()
                .map(|e| e.to_string()),
        })
    }

    /// The environment tree of `service`, children sorted.
    pub async fn env_tree(&self, service: &ServiceName) -> Result<EnvTree> {
        let layout = ServiceLayout::new(service.clone());
        let mut all: Vec<EnvPath> = Vec::new();
        let mut level = vec![EnvPath::root()];
        while !level.is_empty() {
            let paths: Vec<String> = level.iter().map(|e| layout.conf_path(e)).collect();
            let lists = join_all(paths.iter().map(|p| self.zk.children(p))).await;
            let mut next = Vec::new();
            for (env, children) in level.into_iter().zip(lists) {
                let Some(children) = children? else {
                    if env.is_root() {
                        return Err(not_found(&self.zk, &layout, &env).await);
                    }
                    continue;
                };
                for c in children {
                    if let Ok(child) = env.child(&c) {
                        next.push(child);
                    }
                }
                all.push(env);
            }
            level = next;
        }
        Ok(build_tree(EnvPath::root(), &all))
    }
}

/// Nests `all` (sorted, parents before children) under `env`.
fn build_tree(env: EnvPath, all: &[EnvPath]) -> EnvTree {
    let mut children: std::collections::HashMap<EnvPath, Vec<EnvPath>> =
        std::collections::HashMap::new();
    for e in all {
        if let Some(parent) = e.parent() {
            children.entry(parent).or_default().push(e.clone());
        }
    }
    fn nest(
        env: EnvPath,
        children: &mut std::collections::HashMap<EnvPath, Vec<EnvPath>>,
    ) -> EnvTree {
        let mut kids = children.remove(&env).unwrap_or_default();
        kids.sort_by(|a, b| a.name().cmp(&b.name()));
        EnvTree {
            name: env.name().unwrap_or("").to_owned(),
            env: env.to_string(),
            children: kids.into_iter().map(|k| nest(k, children)).collect(),
        }
    }
    nest(env, &mut children)
}
