//! The materializer's committing half: read, plan, commit, retry.
//!
//! # How a write stays consistent
//!
//! 1. Read the ancestors' confs and the subtree (confs, children, views)
//!    pipelined (`tree`).
//! 2. Compute the changed views (`materialize`).
//! 3. Commit the conf and every changed view in **one** `multi`, with a
//!    `check` on the version of every conf read. The same `multi` creates and
//!    deletes the service's marker znode (`/services/{svc}/jones-pending`),
//!    which fails when a marker exists: a cheap "no rewrite is pending".
//!
//! A check that fails (someone wrote meanwhile) fails the whole transaction;
//! the loop re-reads and retries, a bounded number of times. A caller's stale
//! version is not retried: it is a [`Error::Conflict`] carrying the current
//! version and config.
//!
//! The subtree's shape is guarded too: every view is written at the version
//! it was read at, and creating or deleting an environment rewrites its
//! parent's view with its own content, which moves that version. A
//! materialization that listed the parent's children before the change
//! either rewrites the parent's view (and fails on its version) or leaves
//! it unchanged — and then the new child's view, the parent's view plus the
//! child's conf, is unchanged too, so nothing is missed.
//!
//! # Transactions over ZooKeeper's 1 MiB limit
//!
//! When conf + views do not fit in one transaction (budget
//! [`Limits::multi_bytes`]):
//!
//! - batch 1 sets the conf (guarded by the caller's version and the
//!   ancestors' checks) and creates the marker, which fails when one exists;
//! - batches 2..n each write a slice of the views together with `check`s on
//!   every conf of those views' lineages, at the versions they were computed
//!   from: a view written by any batch always equals the merge of the confs
//!   stored when it was written;
//! - the last batch deletes the marker, guarded by the version of the
//!   service znode, which batch 1 moves (by rewriting its data): so a
//!   repair never deletes the marker of a batched write that started after
//!   the repair read the tree.
//!
//! While the marker exists every other write fails its marker op, and the
//! writer that sees the marker first *repairs* the service: recomputes every
//! view from the confs (in checked batches) and deletes the marker. The
//! server also repairs every marked service when it starts. So a writer
//! that dies after batch k leaves confs that are the truth, views of which
//! none is half-written (each is either the old merge or the new one), and a
//! marker that makes the next server converge them.
//!
//! # Deleting a service
//!
//! A service whose whole tree fits one transaction is deleted in one. A
//! larger one first turns the marker into a delete marker (creating it, or
//! overwriting a rewrite's marker: the rewrite is moot), then deletes the
//! tree deepest first in batches, and the marker together with the
//! service znode last. A writer that dies in between leaves the delete
//! marker, so the next write or any server's healer finishes the delete
//! (a repair of a service with a delete marker is that delete), and every
//! other write meanwhile fails its marker op. So a service is never left
//! half deleted for good.
//!
//! # Unknown outcomes
//!
//! A transaction whose connection dropped may or may not have been applied.
//! The next attempt re-reads: if the conf holds what we wrote (its version
//! moved past the one we expected), the write happened and only the views
//! are made to agree; otherwise it is retried or reported as a conflict.

use std::sync::atomic::{AtomicU32, Ordering};

use jones_client::{Config, EnvPath, ServiceLayout, config_to_bytes};

use crate::Error;
use crate::materialize::{
    DEFAULT_MULTI_BYTES, MAX_NODE_BYTES, Versions, changed_views, ops_size, view_batches, view_op,
};
use crate::tree::{DELETE_MARKER, Marker, TreeRead, delete_pending, marker_path, read_tree};
use crate::zk::{MultiError, Op, Zk};

/// Bounds of the write path.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Budget of one ZooKeeper transaction, in bytes (default 900 KiB).
    pub multi_bytes: usize,
    /// Attempts before a write under contention gives up.
    pub max_attempts: u32,
    /// How long a write may wait for this server's earlier writes to the
    /// same service before it is refused ([`Error::Busy`]).
    pub write_deadline: std::time::Duration,
    /// For crash tests: stop a batched write after this many batches, as if
    /// the server died there.
    pub stop_after_batches: Option<usize>,
    /// For tests of unknown outcomes: report the first N transactions that
    /// write confs or the nodemap, or delete a service, as lost —
    /// `ConnectionLoss` after ZooKeeper applied them, as when a connection
    /// drops before the answer.
    pub lose_answers: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            multi_bytes: DEFAULT_MULTI_BYTES,
            max_attempts: 50,
            write_deadline: std::time::Duration::from_secs(10),
            stop_after_batches: None,
            lose_answers: 0,
        }
    }
}

/// What one write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The environment's version after the write: the zxid of its conf's
    /// last change, which never repeats (see [`crate::EnvDetails::version`]).
    pub version: i64,
    /// Views written.
    pub views_written: usize,
    /// Transactions committed.
    pub transactions: usize,
    /// Attempts made (1 when nothing interfered).
    pub attempts: u32,
}

/// A change of one environment's conf.
#[derive(Debug, Clone)]
pub(crate) struct ConfChange {
    pub config: Config,
    /// The version the caller read; `None` overwrites whatever is there.
    pub expected: Option<i64>,
}

/// What to do after a failed transaction.
pub(crate) enum Next {
    Retry,
    Unknown,
    Fail(Error),
}

pub(crate) fn classify(ops: &[Op], e: MultiError) -> Next {
    use zookeeper_client::Error as Zk;
    let path = e
        .index
        .and_then(|i| ops.get(i))
        .map(|op| op.path().to_owned())
        .unwrap_or_default();
    match e.source {
        Zk::BadVersion | Zk::NoNode | Zk::NodeExists | Zk::NotEmpty | Zk::RuntimeInconsistent => {
            Next::Retry
        }
        Zk::NoAuth => Next::Fail(Error::NoAuth { path }),
        Zk::SessionExpired => Next::Unknown,
        ref other if crate::error::outcome_unknown(other) => Next::Unknown,
        other => Next::Fail(Error::Unavailable(format!("{path}: {other}"))),
    }
}

/// The marker ops that make a transaction fail while a rewrite is pending.
pub(crate) fn assert_no_marker(layout: &ServiceLayout) -> [Op; 2] {
    let path = marker_path(layout);
    [
        Op::Create {
            path: path.clone(),
            data: Vec::new(),
        },
        Op::Delete {
            path,
            version: Some(0),
        },
    ]
}

/// The materializer bound to one service.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    pub zk: &'a Zk,
    pub layout: &'a ServiceLayout,
    pub limits: &'a Limits,
    /// Answers lost so far (see [`Limits::lose_answers`]).
    pub lost: &'a AtomicU32,
}

impl Writer<'_> {
    /// Commits a transaction that writes a conf or the nodemap, or deletes
    /// a service; see [`Limits::lose_answers`].
    /// Returns the transaction's zxid when it sets data.
    pub(crate) async fn commit(&self, ops: &[Op]) -> Result<Option<i64>, MultiError> {
        let zxid = self.zk.multi(ops).await?;
        if self.lost.fetch_add(1, Ordering::Relaxed) < self.limits.lose_answers {
            return Err(MultiError {
                index: None,
                source: zookeeper_client::Error::ConnectionLoss,
            });
        }
        Ok(zxid)
    }

    /// Sets `env`'s conf and rewrites every view that changes.
    pub(crate) async fn set_conf(
        &self,
        env: &EnvPath,
        change: ConfChange,
    ) -> Result<WriteOutcome, Error> {
        let data = config_to_bytes(&change.config);
        if data.len() > MAX_NODE_BYTES {
            return Err(Error::TooLarge {
                reason: format!(
                    "the config is {} bytes, the limit is {MAX_NODE_BYTES}",
                    data.len()
                ),
            });
        }
        let mut unknown = false;
        let mut outcome = WriteOutcome::default();
        for attempt in 1..=self.limits.max_attempts {
            outcome.attempts = attempt;
            if attempt > 1 {
                back_off(attempt).await;
            }
            let read = read_tree(self.zk, self.layout, env).await?;
            if read.marker.is_some() {
                let repaired = self.repair().await?;
                outcome.transactions += repaired.transactions;
                continue;
            }
            let top = &read.subtree[env];
            let applied = unknown && top.config == change.config;
            if applied {
                // A previous attempt's transaction did commit: make the
                // views agree (normally a no-op) and report it.
                let rest = self.repair_views(env).await?;
                outcome.version = top.revision;
                outcome.views_written += rest.views_written;
                outcome.transactions += rest.transactions;
                return Ok(outcome);
            }
            if let Some(expected) = change.expected {
                if top.revision != expected {
                    return Err(Error::Conflict {
                        env: env.clone(),
                        expected,
                        current_version: top.revision,
                        current_config: top.config.clone(),
                    });
                }
            }
            let writes = changed_views(&read, Some(&change.config));
            let set_conf = Op::Set {
                path: self.layout.conf_path(env),
                data: data.clone(),
                version: Some(top.version),
            };
            let mut ops = checks_except_top(self.layout, &read);
            ops.extend(assert_no_marker(self.layout));
            ops.push(set_conf.clone());
            ops.extend(writes.iter().map(|w| view_op(self.layout, w)));
            if ops_size(&ops) <= self.limits.multi_bytes {
                match self.commit(&ops).await {
                    Ok(zxid) => {
                        outcome.version = zxid.expect("the conf is set");
                        outcome.views_written += writes.len();
                        outcome.transactions += 1;
                        return Ok(outcome);
                    }
                    Err(e) => match classify(&ops, e) {
                        Next::Retry => continue,
                        Next::Unknown => {
                            unknown = true;
                            continue;
                        }
                        Next::Fail(e) => return Err(e),
                    },
                }
            }
            // Too large for one transaction: plan every batch before the
            // first write, so what cannot be written is refused with the
            // tree untouched.
            let versions = Versions {
                read: &read,
                top_after: Some(top.version + 1),
            };
            view_batches(self.layout, &versions, &writes, self.limits.multi_bytes)?;
            // Batch 1 = conf + marker, and the service znode rewritten with
            // its own data to move its version (see `append_marker_delete`).
            let Some((service_data, service_stat)) =
                self.zk.get(self.layout.service_path()).await?
            else {
                return Err(Error::ServiceNotFound(self.layout.service().clone()));
            };
            let mut first: Vec<Op> = read
                .ancestors
                .iter()
                .map(|(e, n)| Op::Check {
                    path: self.layout.conf_path(e),
                    version: n.version,
                })
                .collect();
            first.push(Op::Create {
                path: marker_path(self.layout),
                data: serde_json::to_vec(&serde_json::json!({"env": env.as_str()})).expect("JSON"),
            });
            first.push(Op::Set {
                path: self.layout.service_path().to_owned(),
                data: service_data,
                version: Some(service_stat.version),
            });
            first.push(set_conf);
            self.fits(&first, || {
                format!("the config of environment {:?}", env.as_str())
            })?;
            match self.commit(&first).await {
                Ok(zxid) => {
                    outcome.version = zxid.expect("the conf is set");
                    outcome.transactions += 1;
                }
                Err(e) => match classify(&first, e) {
                    Next::Retry => continue,
                    Next::Unknown => {
                        unknown = true;
                        continue;
                    }
                    Next::Fail(e) => return Err(e),
                },
            }
            // The conf is committed and the marker holds off every other
            // write: rewrite the views as a repair does, in checked batches,
            // from a fresh read (which also covers any environment created
            // between our read and batch 1), and delete the marker last.
            let rest = self.repair_after(outcome.transactions).await?;
            outcome.transactions += rest.transactions;
            outcome.views_written += rest.views_written;
            return Ok(outcome);
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
    }

    /// Refuses `ops` when they exceed one transaction's budget; `what`
    /// names what the caller is writing.
    pub(crate) fn fits(&self, ops: &[Op], what: impl FnOnce() -> String) -> Result<(), Error> {
        let size = ops_size(ops);
        if size > self.limits.multi_bytes {
            return Err(Error::TooLarge {
                reason: format!(
                    "{} takes a {size}-byte transaction, over the budget of {} bytes",
                    what(),
                    self.limits.multi_bytes
                ),
            });
        }
        Ok(())
    }

    fn crash_hook(&self, committed: usize) -> Result<(), Error> {
        match self.limits.stop_after_batches {
            Some(k) if committed >= k => Err(Error::Unavailable(format!(
                "stopped after {committed} transactions (Limits::stop_after_batches)"
            ))),
            _ => Ok(()),
        }
    }

    /// Appends the marker's deletion to the last batch, guarded by the
    /// service znode's version: if another batched write started after the
    /// repair's read (and so may not be covered by it), the deletion fails
    /// and the repair starts over instead of removing that write's marker.
    fn append_marker_delete(&self, batches: &mut Vec<Vec<Op>>, marker: &Marker) {
        let ops = [
            Op::Check {
                path: self.layout.service_path().to_owned(),
                version: marker.service_version,
            },
            Op::Delete {
                path: marker_path(self.layout),
                version: Some(marker.version),
            },
        ];
        let size = ops_size(&ops);
        match batches.last_mut() {
            Some(last) if ops_size(last) + size <= self.limits.multi_bytes => last.extend(ops),
            _ => batches.push(ops.to_vec()),
        }
    }

    /// Recomputes every view of the service from the confs and removes the
    /// marker, if any. When the marker is a delete marker, finishes the
    /// service's deletion instead and answers [`Error::ServiceNotFound`].
    pub(crate) async fn repair(&self) -> Result<WriteOutcome, Error> {
        if delete_pending(self.zk, self.layout).await? {
            tracing::info!(service = %self.layout.service(), "finishing the service's deletion");
            self.finish_delete(0).await?;
            return Err(Error::ServiceNotFound(self.layout.service().clone()));
        }
        tracing::info!(service = %self.layout.service(), "repairing the service's views");
        self.repair_views(&EnvPath::root()).await
    }

    /// Deletes the service's whole tree; see the module doc.
    pub(crate) async fn delete_service(&self) -> Result<(), Error> {
        // Whether an attempt may have deleted the tree: then finding
        // nothing left means done, not not-found.
        let mut maybe_done = false;
        for attempt in 1..=self.limits.max_attempts {
            if attempt > 1 {
                back_off(attempt).await;
            }
            let paths = self.zk.subtree(self.layout.service_path()).await?;
            if paths.is_empty() {
                return match maybe_done {
                    true => Ok(()),
                    false => Err(Error::ServiceNotFound(self.layout.service().clone())),
                };
            }
            let whole = deletes_deepest_first(paths);
            let (ops, then_finish) = if ops_size(&whole) <= self.limits.multi_bytes {
                (whole, false)
            } else {
                (vec![self.delete_marker_op().await?], true)
            };
            match self.commit(&ops).await {
                Ok(_) if then_finish => return self.finish_delete(1).await,
                Ok(_) => return Ok(()),
                Err(e) => match classify(&ops, e) {
                    Next::Fail(e) => return Err(e),
                    Next::Unknown => maybe_done = !then_finish,
                    Next::Retry => {}
                },
            }
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
    }

    /// The op that makes the service's marker a delete marker.
    async fn delete_marker_op(&self) -> Result<Op, Error> {
        let path = marker_path(self.layout);
        let data = DELETE_MARKER.to_vec();
        Ok(match self.zk.get(&path).await? {
            Some(_) => Op::Set {
                path,
                data,
                version: None,
            },
            None => Op::Create { path, data },
        })
    }

    /// Deletes what is left of a service with a delete marker: everything
    /// but the marker and the service znode in batches, then those two in
    /// one transaction. `committed` counts the transactions of the delete
    /// so far (for [`Limits::stop_after_batches`]).
    async fn finish_delete(&self, committed: usize) -> Result<(), Error> {
        let service_path = self.layout.service_path();
        let marker = marker_path(self.layout);
        'attempts: for attempt in 1..=self.limits.max_attempts {
            if attempt > 1 {
                back_off(attempt).await;
            }
            let paths = self.zk.subtree(service_path).await?;
            if paths.is_empty() {
                return Ok(());
            }
            let rest: Vec<String> = paths
                .into_iter()
                .filter(|p| *p != marker && p != service_path)
                .collect();
            let ops = deletes_deepest_first(rest);
            let mut batches = op_chunks(&ops, self.limits.multi_bytes);
            let last = [
                Op::Delete {
                    path: marker.clone(),
                    version: None,
                },
                Op::Delete {
                    path: service_path.to_owned(),
                    version: None,
                },
            ];
            batches.push(&last);
            for (i, batch) in batches.into_iter().enumerate() {
                self.crash_hook(committed + i)?;
                if let Err(e) = self.zk.multi(batch).await {
                    match classify(batch, e) {
                        Next::Fail(e) => return Err(e),
                        // Something was created or deleted meanwhile (or
                        // the outcome is unknown): list again.
                        Next::Retry | Next::Unknown => continue 'attempts,
                    }
                }
            }
            return Ok(());
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
    }

    /// [`Self::repair`] as the rest of a batched write that has committed
    /// `committed` transactions (for [`Limits::stop_after_batches`]).
    async fn repair_after(&self, committed: usize) -> Result<WriteOutcome, Error> {
        self.repair_views_from(&EnvPath::root(), committed).await
    }

    /// Makes the views of `top`'s subtree agree with the confs; when the
    /// service has a marker and `top` is the root, deletes it at the end.
    pub(crate) async fn repair_views(&self, top: &EnvPath) -> Result<WriteOutcome, Error> {
        self.repair_views_from(top, 0).await
    }

    async fn repair_views_from(
        &self,
        top: &EnvPath,
        committed: usize,
    ) -> Result<WriteOutcome, Error> {
        let mut outcome = WriteOutcome::default();
        'attempts: for attempt in 1..=self.limits.max_attempts {
            outcome.attempts = attempt;
            if attempt > 1 {
                back_off(attempt).await;
            }
            let read: TreeRead = read_tree(self.zk, self.layout, top).await?;
            if read.marker.is_some() && !top.is_root() {
                return Box::pin(self.repair()).await;
            }
            outcome.version = read.subtree[top].revision;
            let writes = changed_views(&read, None);
            let versions = Versions {
                read: &read,
                top_after: None,
            };
            let mut batches =
                view_batches(self.layout, &versions, &writes, self.limits.multi_bytes)?;
            if let Some(marker) = &read.marker {
                self.append_marker_delete(&mut batches, marker);
            }
            for batch in &batches {
                self.crash_hook(committed + outcome.transactions)?;
                if let Err(e) = self.zk.multi(batch).await {
                    match classify(batch, e) {
                        Next::Fail(e) => return Err(e),
                        Next::Retry | Next::Unknown => continue 'attempts,
                    }
                }
                outcome.transactions += 1;
            }
            outcome.views_written = writes.len();
            return Ok(outcome);
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
    }
}

/// Unconditional deletes of `paths`, children before their parents.
fn deletes_deepest_first(mut paths: Vec<String>) -> Vec<Op> {
    paths.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    paths
        .into_iter()
        .map(|path| Op::Delete {
            path,
            version: None,
        })
        .collect()
}

/// Splits `ops` into consecutive slices of at most `budget` bytes.
fn op_chunks(ops: &[Op], budget: usize) -> Vec<&[Op]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, op) in ops.iter().enumerate() {
        if i > start && size + op.wire_size() > budget {
            chunks.push(&ops[start..i]);
            start = i;
            size = 0;
        }
        size += op.wire_size();
    }
    if start < ops.len() {
        chunks.push(&ops[start..]);
    }
    chunks
}

/// Sleeps before retry `attempt` (2 or more) of a transaction that met a
/// concurrent change: exponential from 1 ms, capped at 64 ms, with full
/// jitter so writers that collided do not collide again in step.
pub(crate) async fn back_off(attempt: u32) {
    use std::hash::{BuildHasher, Hasher};
    let cap_ms = 1u64 << attempt.saturating_sub(2).min(6);
    // A random fraction from the standard library's per-process keys.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(attempt);
    let micros = hasher.finish() % (cap_ms * 1000 + 1);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

/// `check` ops on every conf read except the top's (whose `set` carries its
/// own version check).
pub(crate) fn checks_except_top(layout: &ServiceLayout, read: &TreeRead) -> Vec<Op> {
    read.ancestors
        .iter()
        .map(|(e, n)| (e, n.version))
        .chain(
            read.subtree
                .iter()
                .filter(|(e, _)| **e != read.top)
                .map(|(e, n)| (e, n.version)),
        )
        .map(|(e, version)| Op::Check {
            path: layout.conf_path(e),
            version,
        })
        .collect()
}
