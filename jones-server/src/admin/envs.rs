//! Environments: create, get, set (guarded by version), delete, tree.

use futures_util::future::join_all;
use jones_client::{
    Config, EnvPath, Nodemap, ServiceLayout, ServiceName, config_to_bytes, merge_into, merge_view,
};
use serde::Serialize;

use super::Admin;
use crate::materialize::MAX_NODE_BYTES;
use crate::nodemap::StoredNodemap;
use crate::tree::{not_found, parse_stored, read_chain, read_tree};
use crate::writer::{ConfChange, Next, WriteOutcome, assert_no_marker, classify};
use crate::zk::Op;
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
        let layout = ServiceLayout::new(service.clone());
        let Some(parent) = env.parent() else {
            return Err(Error::EnvExists {
                service: service.clone(),
                env: env.clone(),
            });
        };
        let data = config_to_bytes(&config);
        check_size(&data)?;
        let writer = self.writer(&layout);
        let _turn = self.queue(service).await?;
        for attempt in 1..=self.limits.max_attempts {
            self.back_off(attempt).await;
            let (chain, existing, marker, parent_view, orphan) = futures_util::future::try_join5(
                read_chain(&self.zk, &layout, &parent),
                self.zk.get(&layout.conf_path(env)),
                self.zk.get(&crate::tree::marker_path(&layout)),
                self.zk.get(&layout.view_path(&parent)),
                self.zk.get(&layout.view_path(env)),
            )
            .await?;
            if marker.is_some() {
                writer.repair().await?;
                continue;
            }
            if existing.is_some() {
                return Err(Error::EnvExists {
                    service: service.clone(),
                    env: env.clone(),
                });
            }
            let mut view = merge_view(chain.iter().map(|(_, c)| &c.config));
            merge_into(&mut view, &config);
            let view = config_to_bytes(&view);
            check_size(&view)?;
            let mut ops: Vec<Op> = chain
                .iter()
                .map(|(e, c)| Op::Check {
                    path: layout.conf_path(e),
                    version: c.version,
                })
                .collect();
            ops.push(bump_view(&layout, &parent, parent_view)?);
            ops.extend(assert_no_marker(&layout));
            ops.push(Op::Create {
                path: layout.conf_path(env),
                data: data.clone(),
            });
            // A view left without its conf (an orphan) is overwritten.
            ops.push(match orphan {
                None => Op::Create {
                    path: layout.view_path(env),
                    data: view,
                },
                Some((_, stat)) => Op::Set {
                    path: layout.view_path(env),
                    data: view,
                    version: Some(stat.version),
                },
            });
            writer.fits(&ops, || {
                format!(
                    "creating environment {:?} (its config and its view)",
                    env.as_str()
                )
            })?;
            match writer.commit(&ops).await {
                Ok(zxid) => {
                    let outcome = WriteOutcome {
                        version: zxid.expect("the parent's view is set"),
                        views_written: 1,
                        transactions: 1,
                        attempts: attempt,
                    };
                    self.record(&Ok(outcome));
                    return Ok(outcome);
                }
                Err(e) => match classify(&ops, e) {
                    Next::Fail(e) => return Err(e),
                    // A retry after an unknown outcome finds the
                    // environment: report it as existing only if its
                    // content differs from ours.
                    Next::Unknown => {
                        if let Some((stored, stat)) = self.zk.get(&layout.conf_path(env)).await? {
                            if stored == data {
                                return Ok(WriteOutcome {
                                    version: stat.mzxid,
                                    views_written: 1,
                                    transactions: 1,
                                    attempts: attempt,
                                });
                            }
                        }
                    }
                    Next::Retry => {}
                },
            }
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
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
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self
            .writer(&layout)
            .set_conf(env, ConfChange { config, expected })
            .await;
        self.record(&result);
        result
    }

    /// Deletes `env` (not the root). Refused when it has children unless
    /// `recursive`. Its conf and view subtrees go in one transaction, with
    /// every association pointing into the subtree removed from the nodemap
    /// (such hosts then read the root view, as unassociated ones do).
    pub async fn delete_env(
        &self,
        service: &ServiceName,
        env: &EnvPath,
        recursive: bool,
    ) -> Result<()> {
        let layout = ServiceLayout::new(service.clone());
        if env.is_root() {
            return Err(Error::invalid(
                "the root environment cannot be deleted; delete the service instead",
            ));
        }
        let writer = self.writer(&layout);
        let _turn = self.queue(service).await?;
        for attempt in 1..=self.limits.max_attempts {
            self.back_off(attempt).await;
            let parent = env.parent().expect("not the root");
            let (read, nodemap, parent_view, view_subtree) = futures_util::future::try_join4(
                read_tree(&self.zk, &layout, env),
                self.zk.get(layout.nodemap_path()),
                self.zk.get(&layout.view_path(&parent)),
                self.zk.subtree(&layout.view_path(env)),
            )
            .await?;
            if read.marker.is_some() {
                writer.repair().await?;
                continue;
            }
            let top = &read.subtree[env];
            if !recursive && !top.children.is_empty() {
                return Err(Error::HasChildren {
                    env: env.clone(),
                    children: top.children.clone(),
                });
            }
            let mut ops: Vec<Op> = read
                .ancestors
                .iter()
                .map(|(e, n)| Op::Check {
                    path: layout.conf_path(e),
                    version: n.version,
                })
                .collect();
            ops.push(bump_view(&layout, &parent, parent_view)?);
            ops.extend(assert_no_marker(&layout));
            // Every view znode below the environment's, those without a
            // conf too (original Jones' non-atomic deletes leave such
            // orphans), deepest first.
            for path in view_subtree.iter().rev() {
                ops.push(Op::Delete {
                    path: path.clone(),
                    version: None,
                });
            }
            for (e, node) in read.subtree.iter().rev() {
                ops.push(Op::Delete {
                    path: layout.conf_path(e),
                    version: Some(node.version),
                });
            }
            // The nodemap is checked even when no association points into
            // the subtree: one set meanwhile fails this transaction instead
            // of pointing at a deleted view for good.
            if let Some((data, stat)) = &nodemap {
                let mut stored = StoredNodemap::parse(&layout, data, self.nodemap_format)?;
                let doomed: Vec<String> = stored
                    .map
                    .iter()
                    .filter(|(_, path)| {
                        layout
                            .env_of_view_path(path)
                            .is_ok_and(|e| e.is_within(env))
                    })
                    .map(|(name, _)| name.to_owned())
                    .collect();
                if doomed.is_empty() {
                    ops.push(Op::Check {
                        path: layout.nodemap_path().to_owned(),
                        version: stat.version,
                    });
                } else {
                    for name in &doomed {
                        stored.map.remove(name);
                    }
                    ops.push(Op::Set {
                        path: layout.nodemap_path().to_owned(),
                        data: stored.encode()?,
                        version: Some(stat.version),
                    });
                }
            }
            let size = crate::materialize::ops_size(&ops);
            if size > self.limits.multi_bytes {
                return Err(Error::TooLarge {
                    reason: format!(
                        "deleting {:?} takes a {size}-byte transaction, over the {}-byte budget; delete its subtrees first",
                        env.as_str(),
                        self.limits.multi_bytes
                    ),
                });
            }
            match self.zk.multi(&ops).await {
                Ok(_) => return Ok(()),
                Err(e) => match classify(&ops, e) {
                    Next::Fail(e) => return Err(e),
                    Next::Unknown => {
                        if self.zk.get(&layout.conf_path(env)).await?.is_none() {
                            return Ok(());
                        }
                    }
                    Next::Retry => {}
                },
            }
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
    }

    /// The environment `env`: config, version, view, children,
    /// associations, and where each view key comes from.
    pub async fn get_env(&self, service: &ServiceName, env: &EnvPath) -> Result<EnvDetails> {
        let layout = ServiceLayout::new(service.clone());
        let (chain, children, view, nodemap) = futures_util::future::try_join4(
            read_chain(&self.zk, &layout, env),
            self.zk.children(&layout.conf_path(env)),
            self.zk.get(&layout.view_path(env)),
            self.zk.get(layout.nodemap_path()),
        )
        .await?;
        let (_, top) = chain.last().cloned().expect("lineage");
        let (config, version) = (top.config, top.revision);
        let view_path = layout.view_path(env);
        let view = match view {
            Some((data, _)) => parse_stored(&view_path, &data)?,
            None => merge_view(chain.iter().map(|(_, c)| &c.config)),
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

/// Rewrites the parent's view with its own content: moves its version, so a
/// concurrent materialization that listed the parent's children before this
/// change fails its check on that view instead of missing a child. (The
/// parent's conf is left alone: moving its version would make an editor who
/// read it see a false conflict.)
fn bump_view(
    layout: &ServiceLayout,
    parent: &EnvPath,
    stored: Option<(Vec<u8>, zookeeper_client::Stat)>,
) -> Result<Op> {
    let path = layout.view_path(parent);
    let Some((data, stat)) = stored else {
        return Err(Error::Corrupt {
            path,
            reason: "the view of the parent environment is missing; repair the service".into(),
        });
    };
    Ok(Op::Set {
        path,
        data,
        version: Some(stat.version),
    })
}

fn check_size(data: &[u8]) -> Result<()> {
    if data.len() > MAX_NODE_BYTES {
        return Err(Error::TooLarge {
            reason: format!(
                "the config or view is {} bytes, the limit is {MAX_NODE_BYTES}",
                data.len()
            ),
        });
    }
    Ok(())
}
