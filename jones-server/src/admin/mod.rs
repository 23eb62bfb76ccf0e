//! Admin operations: what the HTTP API and the CLI do to a Jones tree.
//!
//! Everything is written in original Jones' layout, so original clients
//! read our trees unchanged. These modules validate, queue (one write per
//! service at a time from this server) and count; every transaction is the
//! `writer`'s, so views always agree with the confs they came from.
//!
//! - `services`: list, create, delete, exists;
//! - `envs`: create, get, set (MVCC), delete, tree;
//! - `associations`: set, delete, list, resolve;
//! - `preview`: what a config change would do, inherited keys it hides;
//!   what a delete would remove;
//! - `dump`: the whole tree of a service with its data;
//! - `verify`: verify and repair a service;
//! - `acl_audit`: world-writable znodes left by original Jones, and securing them;
//! - `accounts`: accounts and their tokens' hashes; which account a token proves.

mod accounts;
mod acl_audit;
mod associations;
mod dump;
mod envs;
mod history;
mod pins;
mod preview;
mod rollback;
mod schema;
mod services;
mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jones_client::{EnvPath, ServiceLayout, ServiceName};
use tokio::sync::OwnedMutexGuard;

pub use acl_audit::{AclAudit, ServiceAcls};
pub use associations::{Association, Resolved};
pub use dump::{Dump, DumpNode};
pub use envs::{EnvDetails, EnvTree};
pub use pins::PinnedEnv;
pub use preview::{DeletePreview, HiddenKey, KeyChange, Preview, Reach, ViewChange};
pub use rollback::RolledBack;
pub use verify::{Problem, Verification};

use crate::history::Author;
use crate::nodemap::NodemapFormat;
use crate::writer::{Limits, WriteOutcome, Writer};
use crate::zk::{Zk, ZkOptions};
use crate::{Error, Result};

/// Admin operations on the Jones trees of one ZooKeeper. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), jones_server::Error> {
/// use jones_client::{EnvPath, ServiceName};
/// use jones_server::{Admin, ZkOptions};
/// let admin = Admin::connect(ZkOptions::new("127.0.0.1:2181").with_digest("jones:secret")).await?;
/// let svc = ServiceName::new("web").unwrap();
/// admin.create_service(&svc).await?;
/// let prod = EnvPath::new("prod").unwrap();
/// admin.create_env(&svc, &prod, serde_json::json!({"threads": 8}).as_object().unwrap().clone()).await?;
/// let details = admin.get_env(&svc, &prod).await?;
/// assert_eq!(details.view["threads"], 8);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Admin {
    zk: Zk,
    limits: Arc<Limits>,
    stats: Arc<AdminStats>,
    nodemap_format: NodemapFormat,
    /// The last audit of world-writable znodes (see `acl_audit`).
    acl_audit: Arc<std::sync::Mutex<Option<AclAudit>>>,
    /// One queue per service this server writes to.
    lanes: Arc<std::sync::Mutex<HashMap<ServiceName, Arc<tokio::sync::Mutex<()>>>>>,
    /// Who the changes made through this handle are recorded as.
    author: Arc<Author>,
    /// Changes this server made per service, to prune their histories
    /// now and then.
    changes: Arc<std::sync::Mutex<HashMap<ServiceName, u32>>>,
}

/// Counters of the write path.
#[derive(Debug, Default)]
struct AdminStats {
    materializations: AtomicU64,
    views_written: AtomicU64,
    transactions: AtomicU64,
    conflicts: AtomicU64,
    repairs: AtomicU64,
    retries: AtomicU64,
    starved: AtomicU64,
    healed: AtomicU64,
    /// Services whose marker this server's healer last saw present.
    marked: std::sync::Mutex<std::collections::BTreeSet<ServiceName>>,
    /// Answers dropped so far by the `Limits::lose_answers` test hook.
    lost_answers: std::sync::atomic::AtomicU32,
}

/// A snapshot of the write path's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriteCounts {
    /// Conf writes that materialized views.
    pub materializations: u64,
    /// Views written.
    pub views_written: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Writes refused for a stale version.
    pub conflicts: u64,
    /// Service repairs (a pending marker found and resolved).
    pub repairs: u64,
    /// Attempts repeated because the tree changed concurrently.
    pub contention_retries: u64,
    /// Writes refused because they waited past the write deadline.
    pub starved: u64,
    /// Unfinished writes this server's healer completed.
    pub healed: u64,
    /// Services with a pending marker, as this server's healer last saw
    /// them (0 when no healer runs).
    pub pending_markers: u64,
}

impl Admin {
    /// Connects to ZooKeeper with `options`.
    pub async fn connect(options: ZkOptions) -> Result<Self> {
        Ok(Self::new(Zk::connect(options).await?))
    }

    /// Admin operations over an existing session.
    pub fn new(zk: Zk) -> Self {
        Self {
            zk,
            limits: Arc::new(Limits::default()),
            stats: Arc::new(AdminStats::default()),
            nodemap_format: NodemapFormat::default(),
            acl_audit: Arc::default(),
            lanes: Arc::default(),
            author: Arc::default(),
            changes: Arc::default(),
        }
    }

    /// The same admin (same session, queues and counters), recording its
    /// changes in the history as made by `author`.
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// use jones_server::Author;
    /// let svc = jones_client::ServiceName::new("web").unwrap();
    /// let env = jones_client::EnvPath::new("prod").unwrap();
    /// let alice = admin.acting_as(Author::new("alice").with_message(Some("more threads".into())));
    /// alice.set_env(&svc, &env, serde_json::json!({"threads": 16}).as_object().unwrap().clone(), None).await?;
    /// # Ok(()) }
    /// ```
    pub fn acting_as(&self, author: Author) -> Self {
        Self {
            author: Arc::new(author),
            ..self.clone()
        }
    }

    /// The same admin with other write-path limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    /// The same admin writing new services' nodemaps (and empty ones) in
    /// `format`; a nodemap that holds associations keeps its format.
    pub fn with_nodemap_format(mut self, format: NodemapFormat) -> Self {
        self.nodemap_format = format;
        self
    }

    /// The ZooKeeper session.
    pub fn zk(&self) -> &Zk {
        &self.zk
    }

    /// The write path's counters.
    pub fn write_counts(&self) -> WriteCounts {
        let s = &self.stats;
        WriteCounts {
            materializations: s.materializations.load(Ordering::Relaxed),
            views_written: s.views_written.load(Ordering::Relaxed),
            transactions: s.transactions.load(Ordering::Relaxed),
            conflicts: s.conflicts.load(Ordering::Relaxed),
            repairs: s.repairs.load(Ordering::Relaxed),
            contention_retries: s.retries.load(Ordering::Relaxed),
            starved: s.starved.load(Ordering::Relaxed),
            healed: s.healed.load(Ordering::Relaxed),
            pending_markers: s.marked.lock().unwrap_or_else(|e| e.into_inner()).len() as u64,
        }
    }

    /// Records whether `service`'s marker is present (the healer's view).
    pub(crate) fn note_marker(&self, service: &ServiceName, present: bool) {
        let mut marked = self.stats.marked.lock().unwrap_or_else(|e| e.into_inner());
        match present {
            true => marked.insert(service.clone()),
            false => marked.remove(service),
        };
    }

    fn writer<'a>(&'a self, layout: &'a ServiceLayout) -> Writer<'a> {
        Writer {
            zk: &self.zk,
            layout,
            limits: &self.limits,
            nodemap_format: self.nodemap_format,
            retries: &self.stats.retries,
            lost: &self.stats.lost_answers,
            author: &self.author,
        }
    }

    fn record(&self, result: &Result<WriteOutcome>) {
        let s = &self.stats;
        match result {
            Ok(o) => {
                s.materializations.fetch_add(1, Ordering::Relaxed);
                s.views_written
                    .fetch_add(o.views_written as u64, Ordering::Relaxed);
                s.transactions
                    .fetch_add(o.transactions as u64, Ordering::Relaxed);
            }
            Err(Error::Conflict { .. }) => {
                s.conflicts.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }

    /// Repairs every service that has a pending-rewrite marker. A service
    /// that fails does not stop the others: each is reported. The server
    /// runs this when it starts.
    pub async fn repair_pending(&self) -> Result<Vec<(ServiceName, Result<()>)>> {
        let mut report = Vec::new();
        for service in self.list_services().await? {
            let layout = ServiceLayout::new(service.clone());
            let result = match self.zk.get(&crate::tree::marker_path(&layout)).await {
                Ok(None) => continue,
                Ok(Some(_)) => match self.repair(&service).await {
                    // An unfinished delete, now finished.
                    Ok(_) | Err(Error::ServiceNotFound(_)) => Ok(()),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            report.push((service, result));
        }
        Ok(report)
    }

    /// Builds the association index of every service that has none (or an
    /// unfinished one) or lacks its client registry: trees written by
    /// original Jones or older Jones servers, builds a server left
    /// unfinished. The server runs this when it starts, after
    /// [`Admin::repair_pending`]. Reports each service it built, or failed
    /// to build, for; the others are left out.
    pub async fn build_missing_indexes(&self) -> Result<Vec<(ServiceName, Result<()>)>> {
        let mut report = Vec::new();
        for service in self.list_services().await? {
            let layout = ServiceLayout::new(service.clone());
            let state = futures_util::future::try_join(
                self.zk.get(layout.associations_path()),
                self.zk.get(layout.clients_path()),
            )
            .await;
            let needed = match state {
                Ok((Some((data, _)), Some(_))) => !jones_client::IndexState::parse(&data)
                    .is_ok_and(jones_client::IndexState::is_followable),
                Ok(_) => true,
                Err(e) => {
                    report.push((service, Err(e)));
                    continue;
                }
            };
            if !needed {
                continue;
            }
            let result = async {
                let _turn = self.queue(&service).await?;
                self.writer(&layout).build_index().await
            }
            .await;
            match result {
                Ok(false) => {}
                Ok(true) => report.push((service, Ok(()))),
                Err(e) => report.push((service, Err(e))),
            }
        }
        Ok(report)
    }

    /// Waits for this server's turn to write to `service`: writes to one
    /// service from one server are queued, not raced against each other.
    /// Refused with [`Error::Busy`] when the wait passes the write deadline.
    pub(crate) async fn queue(&self, service: &ServiceName) -> Result<OwnedMutexGuard<()>> {
        let lane = self.lane(service);
        let deadline = self.limits.write_deadline;
        match tokio::time::timeout(deadline, lane.lock_owned()).await {
            Ok(turn) => Ok(turn),
            Err(_) => {
                self.stats.starved.fetch_add(1, Ordering::Relaxed);
                Err(Error::Busy {
                    reason: format!(
                        "writes to service {:?} queued for {deadline:?} behind earlier ones; retry later",
                        service.as_str()
                    ),
                })
            }
        }
    }
}

impl Admin {
    /// Waits for this server's turn to write to `service` however long its
    /// earlier writes take (each is bounded by its own attempts): the
    /// healer's wait, which is not a write and so is never refused.
    pub(crate) async fn queue_unbounded(&self, service: &ServiceName) -> OwnedMutexGuard<()> {
        self.lane(service).lock_owned().await
    }

    /// The queue of writes to `service` from this server.
    fn lane(&self, service: &ServiceName) -> Arc<tokio::sync::Mutex<()>> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes.retain(|_, lane| Arc::strong_count(lane) > 1);
        lanes.entry(service.clone()).or_default().clone()
    }
}

/// Refuses a change to a service or environment whose name predates the
/// name rules ([`Error::ReadOnly`]); reads and deletes stay allowed.
pub(crate) fn check_writable(service: &ServiceName, env: Option<&EnvPath>) -> Result<()> {
    if let Some(reason) = service.rule_problem() {
        return Err(Error::ReadOnly {
            what: format!("service {:?}", service.as_str()),
            reason,
        });
    }
    if let Some(reason) = env.and_then(EnvPath::rule_problem) {
        let env = env.map(EnvPath::as_str).unwrap_or_default();
        return Err(Error::ReadOnly {
            what: format!("environment {env:?}"),
            reason,
        });
    }
    Ok(())
}
