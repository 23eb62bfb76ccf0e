//! The write path, whole: every transaction on a Jones tree is read,
//! planned, committed, classified and retried here; the admin operations
//! only validate, queue and count.
//!
//! - `conf`: a conf change and the views it changes (batched when large);
//! - `envs`: environment create and delete;
//! - `associations`: nodemap writes;
//! - `index`: the association index, written with every nodemap change and
//!   built where missing;
//! - `service`: service create and delete;
//! - `settings`: the merge mode, with the views it changes;
//! - `pins`: pins set and removed, with the views they change;
//! - `schema`: the service's schema, checked against every view;
//! - `repair`: views made to agree again, markers cleared, orphans removed.
//!
//! Every change carries its history entry in its (first) transaction; see
//! `crate::history`.
//!
//! Every write loops over [`Attempts`] (backoff with jitter, counted
//! retries, [`Error::Contended`] at the end) and commits through
//! [`Writer::try_commit`], which says whether to read again.
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
//! - batch 1 sets the conf (guarded by the caller's version, the
//!   ancestors' checks and, when they fit, a check on every view of the
//!   subtree, so that nothing below changed shape or content since the
//!   plan) and creates the marker, which fails when one exists; if the
//!   views, planned again after batch 1, do not fit (the subtree changed
//!   unguarded), the write puts the previous conf back, repairs, and is
//!   refused, so no input leaves a service locked;
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

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use jones_client::{Config, EnvPath, ServiceLayout};

use crate::Error;
use crate::history::{self, Author, Record};
use crate::materialize::{DEFAULT_MULTI_BYTES, ops_size};
use crate::nodemap::NodemapFormat;
use crate::tree::{ConfNode, TreeRead, marker_path};
use crate::zk::{MultiError, Op, Zk};

mod associations;
mod conf;
mod envs;
mod index;
mod pins;
mod repair;
mod schema;
mod service;
mod settings;

pub use envs::{Deleted, DroppedAssociation};

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
    /// History entries a service keeps when its history directory does
    /// not say (default 1,000).
    pub history_retention: usize,
    /// For benchmarks only: write without history entries, to measure
    /// what they cost.
    #[doc(hidden)]
    pub record_history: bool,
    /// Fault injection, for tests only.
    ///
    /// For crash tests: stop a batched write after this many batches, as if
    /// the server died there.
    #[doc(hidden)]
    pub stop_after_batches: Option<usize>,
    /// Fault injection, for tests only.
    ///
    /// For tests of unknown outcomes: report the first N transactions that
    /// write confs or the nodemap, or delete an environment or a service,
    /// as lost — `ConnectionLoss` after ZooKeeper applied them, as when a
    /// connection drops before the answer.
    #[doc(hidden)]
    pub lose_answers: u32,
    /// Fault injection, for tests only.
    ///
    /// For race tests: wait this long before committing a transaction
    /// that writes a conf or the nodemap, widening the window between a
    /// write's read and its commit.
    #[doc(hidden)]
    pub commit_delay: Option<std::time::Duration>,
    /// Fault injection, for tests only.
    ///
    /// For crash tests of index builds: stop a build of the association
    /// index after this many batches, as if the server died there.
    #[doc(hidden)]
    pub stop_index_build_after: Option<usize>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            multi_bytes: DEFAULT_MULTI_BYTES,
            max_attempts: 50,
            write_deadline: std::time::Duration::from_secs(10),
            history_retention: history::DEFAULT_RETENTION,
            record_history: true,
            stop_after_batches: None,
            lose_answers: 0,
            commit_delay: None,
            stop_index_build_after: None,
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
    /// The history entry whose config this change restores, for a
    /// rollback.
    pub rollback_to: Option<u64>,
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
    /// The format of nodemaps this writer creates or empties.
    pub nodemap_format: NodemapFormat,
    /// Attempts repeated so far because the tree changed concurrently.
    pub retries: &'a AtomicU64,
    /// Answers lost so far (see [`Limits::lose_answers`]).
    pub lost: &'a AtomicU32,
    /// Who the changes are recorded as (see `history`).
    pub author: &'a Author,
}

/// The attempts of one write, each of which reads, plans and commits:
/// `while let Some(n) = attempts.next().await { ... }`, then
/// `Err(attempts.contended())`. Every attempt after the first backs off
/// first (see [`back_off`]) and counts as a retry.
pub(crate) struct Attempts<'a> {
    done: u32,
    max: u32,
    retries: &'a AtomicU64,
}

impl Attempts<'_> {
    /// The next attempt's number (from 1), or `None` when all are spent.
    pub(crate) async fn next(&mut self) -> Option<u32> {
        if self.done >= self.max {
            return None;
        }
        self.done += 1;
        if self.done > 1 {
            self.retries.fetch_add(1, Ordering::Relaxed);
            back_off(self.done).await;
        }
        Some(self.done)
    }

    /// The error of a write whose every attempt met a concurrent change.
    pub(crate) fn contended(&self) -> Error {
        Error::Contended { attempts: self.max }
    }
}

/// How a transaction went, when not with an error retrying cannot fix.
pub(crate) enum Commit {
    /// Applied; the transaction's zxid when it set data.
    Applied(Option<i64>),
    /// A concurrent change made it fail: read again.
    Raced,
    /// The connection dropped: it may or may not have been applied.
    Unknown,
}

impl Writer<'_> {
    /// Commits a transaction that writes a conf or the nodemap, or deletes
    /// an environment or a service; see [`Limits::lose_answers`].
    /// Returns the transaction's zxid when it sets data.
    pub(crate) async fn commit(&self, ops: &[Op]) -> Result<Option<i64>, MultiError> {
        if let Some(delay) = self.limits.commit_delay {
            tokio::time::sleep(delay).await;
        }
        let zxid = self.zk.multi(ops).await?;
        if self.lost.fetch_add(1, Ordering::Relaxed) < self.limits.lose_answers {
            return Err(MultiError {
                index: None,
                source: zookeeper_client::Error::ConnectionLoss,
            });
        }
        Ok(zxid)
    }

    /// Commits `ops`, classifying a failure; see [`Commit`].
    pub(crate) async fn try_commit(&self, ops: &[Op]) -> Result<Commit, Error> {
        match self.commit(ops).await {
            Ok(zxid) => Ok(Commit::Applied(zxid)),
            Err(e) => match classify(ops, e) {
                Next::Fail(e) => Err(e),
                Next::Retry => Ok(Commit::Raced),
                Next::Unknown => Ok(Commit::Unknown),
            },
        }
    }

    /// The attempts of one write: see [`Attempts`].
    pub(crate) fn attempts(&self) -> Attempts<'_> {
        Attempts {
            done: 0,
            max: self.limits.max_attempts,
            retries: self.retries,
        }
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

    /// Whether the service's history directory exists (services created
    /// before histories have none until their first recorded change).
    pub(crate) async fn history_exists(&self) -> Result<bool, Error> {
        Ok(self
            .zk
            .get(&history::history_path(self.layout))
            .await?
            .is_some())
    }

    /// The ops that record `record` in the same transaction as a change,
    /// in at most `room` bytes of it (see `history`): the history
    /// directory when it does not exist yet, then the entry. Also says
    /// whether the entry kept the record's `after`.
    pub(crate) fn record_ops(
        &self,
        dir_exists: bool,
        record: Record,
        room: usize,
    ) -> (Vec<Op>, bool) {
        if !self.limits.record_history {
            return (Vec::new(), true);
        }
        let mut ops = Vec::with_capacity(2);
        if !dir_exists {
            ops.push(history::create_dir(self.layout));
        }
        let room = room.saturating_sub(ops_size(&ops));
        let (entry, kept_after) = history::append(self.layout, record, room);
        ops.push(entry);
        (ops, kept_after)
    }

    /// The room left in a transaction of `ops`.
    pub(crate) fn room_beside(&self, ops: &[Op]) -> usize {
        self.limits.multi_bytes.saturating_sub(ops_size(ops))
    }

    /// A record of `action` on `env` by this writer's author.
    pub(crate) fn record(&self, action: history::Action, env: Option<&EnvPath>) -> Record {
        Record::new(self.author, action, env)
    }

    /// Commits a write too large for one transaction: plans every view
    /// batch first (refusing what cannot be written, the tree untouched),
    /// then commits `first` (the change and the marker), guarded by every
    /// view of `read` when that fits (see [`view_checks`]), then writes the
    /// views as a repair does. `Ok(false)`: the first batch met a
    /// concurrent change, nothing was written; read again.
    pub(crate) async fn commit_behind_marker(
        &self,
        read: &TreeRead,
        writes: &[crate::materialize::ViewWrite],
        mut first: Vec<Op>,
        outcome: &mut WriteOutcome,
    ) -> Result<bool, Error> {
        let versions = crate::materialize::Versions {
            read,
            top_after: None,
        };
        crate::materialize::view_batches(self.layout, &versions, writes, self.limits.multi_bytes)?;
        let guard = view_checks(self.layout, read);
        if ops_size(&first) + ops_size(&guard) <= self.limits.multi_bytes {
            first.splice(0..0, guard);
        }
        match self.try_commit(&first).await? {
            Commit::Applied(_) => outcome.transactions += 1,
            Commit::Raced | Commit::Unknown => return Ok(false),
        }
        let rest = self.repair_after(outcome.transactions).await?;
        outcome.transactions += rest.transactions;
        outcome.views_written += rest.views_written;
        Ok(true)
    }

    fn crash_hook(&self, committed: usize) -> Result<(), Error> {
        match self.limits.stop_after_batches {
            Some(k) if committed >= k => Err(Error::Unavailable(format!(
                "stopped after {committed} transactions (Limits::stop_after_batches)"
            ))),
            _ => Ok(()),
        }
    }
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

/// `check` ops on the confs of `nodes`, at the versions they were read at.
pub(crate) fn conf_checks<'n>(
    layout: &ServiceLayout,
    nodes: impl IntoIterator<Item = (&'n EnvPath, &'n ConfNode)>,
) -> Vec<Op> {
    nodes
        .into_iter()
        .map(|(e, n)| Op::Check {
            path: layout.conf_path(e),
            version: n.version,
        })
        .collect()
}

/// `check` ops on every view of `read`'s subtree, at the version read.
///
/// The first batch of a batched write carries them: an environment created
/// or deleted below the top since the read (which rewrites its parent's
/// view) or a conf changed there (which rewrites its own view) fails the
/// batch, and the write reads and plans again, instead of committing a
/// conf whose views, planned without that change, might not fit any
/// transaction and so could never be written.
pub(crate) fn view_checks(layout: &ServiceLayout, read: &TreeRead) -> Vec<Op> {
    read.views
        .iter()
        .filter_map(|(e, view)| {
            view.as_ref().map(|v| Op::Check {
                path: layout.view_path(e),
                version: v.version,
            })
        })
        .collect()
}

/// `check` ops on every conf read except the top's (whose `set` carries its
/// own version check).
pub(crate) fn checks_except_top(layout: &ServiceLayout, read: &TreeRead) -> Vec<Op> {
    let ancestors = read.ancestors.iter().map(|(e, n)| (e, n));
    let below = read.subtree.iter().filter(|(e, _)| **e != read.top);
    conf_checks(layout, ancestors.chain(below))
}
