//! Reading a service's history, and keeping it within its retention.

use std::collections::BTreeSet;

use jones_client::{EnvPath, ServiceLayout, ServiceName};

use super::Admin;
use crate::history::{self, Entry, HistoryPage, MAX_PAGE, entry_id, entry_name, history_path};
use crate::zk::{Op, Read, ReadResult};
use crate::{Error, Result};

/// A server prunes a service's history once every this many of its
/// changes there (and at its first).
const PRUNE_EVERY: u32 = 32;
/// Deletes per pruning transaction.
const PRUNE_BATCH: usize = 1000;

impl Admin {
    /// The entries of `service`'s history, newest first: at most `limit`
    /// (1 to 500), only those of `env` when given, only those older than
    /// entry `before` when given. `next` is the `before` of the following
    /// page, `None` when no older entry (of `env`) is left.
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// let svc = jones_client::ServiceName::new("web").unwrap();
    /// let page = admin.history(&svc, None, 20, None).await?;
    /// for entry in &page.entries {
    ///     println!("{} {} {:?} by {}", entry.id, entry.at, entry.action, entry.actor);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn history(
        &self,
        service: &ServiceName,
        env: Option<&EnvPath>,
        limit: usize,
        before: Option<u64>,
    ) -> Result<HistoryPage> {
        let layout = ServiceLayout::new(service.clone());
        let dir = history_path(&layout);
        if self.zk.stat(layout.service_path()).await?.is_none() {
            return Err(Error::ServiceNotFound(service.clone()));
        }
        self.history_page(&dir, env, limit, before).await
    }

    /// The entries of the Jones-wide history (service deletes, accounts
    /// created and removed), newest first, paged as [`Admin::history`].
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// for entry in admin.jones_history(20, None).await?.entries {
    ///     println!("{} {:?} {:?} by {}", entry.id, entry.action, entry.service, entry.actor);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn jones_history(&self, limit: usize, before: Option<u64>) -> Result<HistoryPage> {
        self.history_page(history::JONES_HISTORY, None, limit, before)
            .await
    }

    /// A page of the history directory `dir`; see [`Admin::history`].
    async fn history_page(
        &self,
        dir: &str,
        env: Option<&EnvPath>,
        limit: usize,
        before: Option<u64>,
    ) -> Result<HistoryPage> {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::invalid(format!(
                "limit must be between 1 and {MAX_PAGE}, not {limit}"
            )));
        }
        let children = self.zk.children(dir).await?;
        let mut ids: Vec<u64> = children
            .unwrap_or_default()
            .iter()
            .filter_map(|name| entry_id(name))
            .filter(|id| before.is_none_or(|before| *id < before))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let wanted = env.map(ToString::to_string);
        let mut entries = Vec::with_capacity(limit);
        // Whether an older entry than the page's last matches: read on
        // until one is found, so `next` never leads to an empty page.
        let mut more = false;
        let mut read = 0;
        // Read in pipelined batches: with an environment filter, most
        // entries may be of others.
        'batches: while read < ids.len() {
            let batch = &ids[read..(read + limit.max(50)).min(ids.len())];
            let reads: Vec<Read> = batch
                .iter()
                .map(|id| Read::Data(format!("{dir}/{}", entry_name(*id))))
                .collect();
            let answers = self.zk.multi_read(&reads).await?;
            read += batch.len();
            for (id, answer) in batch.iter().zip(answers) {
                // Pruned since the listing: older than anything kept.
                let ReadResult::Data(Some((data, stat))) = answer else {
                    continue;
                };
                let entry = history::entry(*id, stat.ctime, &data)?;
                if wanted.is_none() || entry.env == wanted {
                    if entries.len() == limit {
                        more = true;
                        break 'batches;
                    }
                    entries.push(entry);
                }
            }
        }
        let next = match entries.last() {
            Some(last) if more => Some(last.id),
            _ => None,
        };
        Ok(HistoryPage { entries, next })
    }

    /// Every entry of `service`'s history, oldest first.
    pub(crate) async fn all_entries(&self, service: &ServiceName) -> Result<Vec<Entry>> {
        let layout = ServiceLayout::new(service.clone());
        let dir = history_path(&layout);
        let mut ids: Vec<u64> = self
            .zk
            .children(&dir)
            .await?
            .unwrap_or_default()
            .iter()
            .filter_map(|name| entry_id(name))
            .collect();
        ids.sort_unstable();
        let mut entries = Vec::with_capacity(ids.len());
        for batch in ids.chunks(200) {
            let reads: Vec<Read> = batch
                .iter()
                .map(|id| Read::Data(format!("{dir}/{}", entry_name(*id))))
                .collect();
            for (id, answer) in batch.iter().zip(self.zk.multi_read(&reads).await?) {
                // Pruned since the listing: older than anything kept.
                if let ReadResult::Data(Some((data, stat))) = answer {
                    entries.push(history::entry(*id, stat.ctime, &data)?);
                }
            }
        }
        Ok(entries)
    }

    /// One entry of `service`'s history.
    pub async fn history_entry(&self, service: &ServiceName, id: u64) -> Result<Entry> {
        let layout = ServiceLayout::new(service.clone());
        let path = format!("{}/{}", history_path(&layout), entry_name(id));
        match self.zk.get(&path).await? {
            Some((data, stat)) => history::entry(id, stat.ctime, &data),
            None => Err(Error::HistoryEntryNotFound {
                service: service.clone(),
                id,
            }),
        }
    }

    /// Called after each write this server made to `service`: after a
    /// change, prunes its history now and then. A failure is logged; the
    /// change stands.
    pub(super) async fn after<T>(&self, service: &ServiceName, result: &Result<T>) {
        if result.is_err() {
            return;
        }
        let due = {
            let mut counts = self.changes.lock().unwrap();
            let count = counts.entry(service.clone()).or_insert(0);
            *count = count.wrapping_add(1);
            *count % PRUNE_EVERY == 1
        };
        if due {
            if let Err(e) = self.prune_history(service).await {
                tracing::warn!(service = %service, error = %e, "pruning the history failed");
            }
        }
    }

    /// Deletes the oldest entries of `service` beyond its retention; returns
    /// how many went.
    pub async fn prune_history(&self, service: &ServiceName) -> Result<usize> {
        let layout = ServiceLayout::new(service.clone());
        self.prune_dir(&history_path(&layout)).await
    }

    /// Called after each change this server recorded in the Jones-wide
    /// history: prunes it. A failure is logged; the change stands.
    pub(super) async fn after_jones_change(&self) {
        if let Err(e) = self.prune_dir(history::JONES_HISTORY).await {
            tracing::warn!(error = %e, "pruning the Jones-wide history failed");
        }
    }

    /// Deletes the oldest entries of history directory `dir` beyond its
    /// retention.
    async fn prune_dir(&self, dir: &str) -> Result<usize> {
        let (children, settings) =
            futures_util::future::try_join(self.zk.children(dir), self.zk.get(dir)).await?;
        let ids: BTreeSet<u64> = children
            .unwrap_or_default()
            .iter()
            .filter_map(|name| entry_id(name))
            .collect();
        let retention = settings
            .and_then(|(data, _)| history::retention_of(&data))
            .unwrap_or(self.limits.history_retention);
        let doomed = history::to_prune(&ids, retention);
        for chunk in doomed.chunks(PRUNE_BATCH) {
            let ops: Vec<Op> = chunk
                .iter()
                .map(|id| Op::Delete {
                    path: format!("{dir}/{}", entry_name(*id)),
                    version: None,
                })
                .collect();
            if let Err(e) = self.zk.multi(&ops).await {
                // Another server pruned some of them first.
                tracing::debug!(dir, error = ?e.source, "a pruning transaction failed");
                return Ok(0);
            }
        }
        Ok(doomed.len())
    }
}
