//! Environment creation and deletion: each one checked transaction that
//! also moves the parent's view version (see the module doc of `writer`).

use jones_client::{Config, EnvPath, config_to_bytes};
use serde_json::Value;

use super::{Commit, Next, WriteOutcome, Writer, assert_no_marker, classify, conf_checks};
use crate::history::Action;
use crate::materialize::MAX_NODE_BYTES;
use crate::tree::{read_chain, read_service, read_tree};
use crate::zk::Op;
use crate::{Error, Result};

/// What a delete of an environment removed.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct Deleted {
    /// The environment deleted.
    pub env: String,
    /// Every environment removed with it, parents first.
    pub envs: Vec<String>,
    /// Every association removed (those hosts read the root view now).
    pub associations: Vec<DroppedAssociation>,
}

/// An association a delete removes.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct DroppedAssociation {
    /// The association (host) name.
    pub name: String,
    /// The environment it pointed to.
    pub env: String,
}

impl Writer<'_> {
    /// Creates `env` (whose parent must exist) with `config` and its view;
    /// a view left there without a conf (an orphan) is overwritten.
    pub(crate) async fn create_env(&self, env: &EnvPath, config: Config) -> Result<WriteOutcome> {
        let Some(parent) = env.parent() else {
            return Err(Error::EnvExists {
                service: self.layout.service().clone(),
                env: env.clone(),
            });
        };
        let data = config_to_bytes(&config);
        check_size(env, "config", &data)?;
        let mut attempts = self.attempts();
        while let Some(attempt) = attempts.next().await {
            let ((chain, existing, marker, parent_view, orphan), service, history_exists) =
                futures_util::future::try_join3(
                    futures_util::future::try_join5(
                        read_chain(self.zk, self.layout, &parent),
                        self.zk.get(&self.layout.conf_path(env)),
                        self.zk.get(&crate::tree::marker_path(self.layout)),
                        self.zk.get(&self.layout.view_path(&parent)),
                        self.zk.get(&self.layout.view_path(env)),
                    ),
                    read_service(self.zk, self.layout),
                    self.history_exists(),
                )
                .await?;
            let Some(service) = service else {
                return Err(Error::ServiceNotFound(self.layout.service().clone()));
            };
            if marker.is_some() {
                self.repair().await?;
                continue;
            }
            if existing.is_some() {
                return Err(Error::EnvExists {
                    service: self.layout.service().clone(),
                    env: env.clone(),
                });
            }
            let mut view = service
                .pins
                .lineage_view(service.merge, chain.iter().map(|(e, c)| (e, &c.config)));
            service.merge.merge_into(&mut view, &config);
            let view = config_to_bytes(&view);
            check_size(env, "view", &view)?;
            crate::schema::check_views(self.layout, &service, [(env, view.as_slice())])?;
            let mut ops = conf_checks(self.layout, chain.iter().map(|(e, n)| (e, n)));
            ops.push(bump_view(self.layout, &parent, parent_view)?);
            ops.extend(assert_no_marker(self.layout));
            ops.push(service.check(self.layout));
            ops.push(Op::Create {
                path: self.layout.conf_path(env),
                data: data.clone(),
            });
            // A view left without its conf (an orphan) is overwritten.
            ops.push(match orphan {
                None => Op::Create {
                    path: self.layout.view_path(env),
                    data: view,
                },
                Some((_, stat)) => Op::Set {
                    path: self.layout.view_path(env),
                    data: view,
                    version: Some(stat.version),
                },
            });
            let record = self
                .record(Action::EnvCreate, Some(env))
                .change(Value::Null, Value::Object(config.clone()));
            ops.extend(
                self.record_ops(history_exists, record, self.room_beside(&ops))
                    .0,
            );
            self.fits(&ops, || {
                format!(
                    "creating environment {:?} (its config and its view)",
                    env.as_str()
                )
            })?;
            match self.commit(&ops).await {
                Ok(zxid) => {
                    let outcome = WriteOutcome {
                        version: zxid.expect("the parent's view is set"),
                        views_written: 1,
                        transactions: 1,
                        attempts: attempt,
                    };
                    return Ok(outcome);
                }
                Err(e) => match classify(&ops, e) {
                    Next::Fail(e) => return Err(e),
                    // A retry after an unknown outcome finds the
                    // environment: report it as existing only if its
                    // content differs from ours.
                    Next::Unknown => {
                        if let Some((stored, stat)) =
                            self.zk.get(&self.layout.conf_path(env)).await?
                        {
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
        Err(attempts.contended())
    }

    /// Deletes `env` (not the root) with its subtree's confs and views and
    /// every association pointing into it; see [`crate::Admin::delete_env`].
    pub(crate) async fn delete_env(&self, env: &EnvPath, recursive: bool) -> Result<Deleted> {
        if env.is_root() {
            return Err(Error::invalid(
                "the root environment cannot be deleted; delete the service instead",
            ));
        }
        let mut attempts = self.attempts();
        while let Some(_attempt) = attempts.next().await {
            let parent = env.parent().expect("not the root");
            let (read, nodemap, parent_view, view_subtree) = futures_util::future::try_join4(
                read_tree(self.zk, self.layout, env),
                self.nodemap_if_any(),
                self.zk.get(&self.layout.view_path(&parent)),
                self.zk.subtree(&self.layout.view_path(env)),
            )
            .await?;
            if read.marker.is_some() {
                self.repair().await?;
                continue;
            }
            let top = &read.subtree[env];
            if !recursive && !top.children.is_empty() {
                return Err(Error::HasChildren {
                    env: env.clone(),
                    children: top.children.clone(),
                });
            }
            let mut ops = conf_checks(self.layout, read.ancestors.iter().map(|(e, n)| (e, n)));
            ops.push(bump_view(self.layout, &parent, parent_view)?);
            ops.extend(assert_no_marker(self.layout));
            // The pins of the subtree go with it; a pin set meanwhile moves
            // the service znode and fails this.
            ops.push(read.service.check(self.layout));
            ops.extend(self.pins_without(&read.service.pins, env));
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
                    path: self.layout.conf_path(e),
                    version: Some(node.version),
                });
            }
            let mut deleted = Deleted {
                env: env.to_string(),
                envs: read.subtree.keys().map(ToString::to_string).collect(),
                associations: Vec::new(),
            };
            // The nodemap is checked even when no association points into
            // the subtree: one set meanwhile fails this transaction instead
            // of pointing at a deleted view for good.
            let mut build_index = false;
            if let Some((mut stored, stat)) = nodemap {
                let before = stored.map.clone();
                let doomed: Vec<String> = stored
                    .map
                    .iter()
                    .filter(|(_, path)| {
                        self.layout
                            .env_of_view_path(path)
                            .is_ok_and(|e| e.is_within(env))
                    })
                    .map(|(name, _)| name.to_owned())
                    .collect();
                if doomed.is_empty() {
                    ops.push(Op::Check {
                        path: self.layout.nodemap_path().to_owned(),
                        version: stat.version,
                    });
                } else {
                    for name in &doomed {
                        if let Some(path) = stored.map.remove(name) {
                            let env = self.layout.env_of_view_path(&path).map(|e| e.to_string());
                            deleted.associations.push(DroppedAssociation {
                                name: name.clone(),
                                env: env.unwrap_or_default(),
                            });
                        }
                    }
                    ops.extend(self.nodemap_ops(&stored, stat.version)?);
                    let index = self.read_index_for(&doomed).await?;
                    (ops, build_index) = self.with_index_ops(ops, &before, &stored.map, &index);
                }
            }
            let record = self
                .record(Action::EnvDelete, Some(env))
                .change(Value::Object(top.config.clone()), Value::Null);
            let room = self.room_beside(&ops);
            ops.extend(self.record_ops(read.history_exists, record, room).0);
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
            match self.commit_nodemap(&ops, build_index).await? {
                Commit::Applied(_) => return Ok(deleted),
                Commit::Raced => {}
                // Gone after a lost answer: our delete (nothing else
                // deletes it while we hold this server's turn and the
                // commit's checks held).
                Commit::Unknown => {
                    if self.zk.get(&self.layout.conf_path(env)).await?.is_none() {
                        return Ok(deleted);
                    }
                }
            }
        }
        Err(attempts.contended())
    }
}

/// Rewrites the parent's view with its own content: moves its version, so a
/// concurrent materialization that listed the parent's children before this
/// change fails its check on that view instead of missing a child. (The
/// parent's conf is left alone: moving its version would make an editor who
/// read it see a false conflict.)
fn bump_view(
    layout: &jones_client::ServiceLayout,
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

/// Refuses `env`'s config or view (`what`) over the node limit, naming both.
fn check_size(env: &EnvPath, what: &str, data: &[u8]) -> Result<()> {
    if data.len() > MAX_NODE_BYTES {
        return Err(Error::TooLarge {
            reason: format!(
                "the {what} of environment {:?} would be {} bytes, the limit is {MAX_NODE_BYTES}",
                env.as_str(),
                data.len()
            ),
        });
    }
    Ok(())
}
