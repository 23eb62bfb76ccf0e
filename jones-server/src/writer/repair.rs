//! Repair: views made to agree with the confs again, the marker removed
//! last (or, for a delete marker, the service's deletion finished).

use std::collections::BTreeSet;

use jones_client::EnvPath;

use super::{Next, WriteOutcome, Writer, classify, conf_checks};
use crate::Error;
use crate::materialize::{Versions, changed_views, ops_size, view_batches};
use crate::tree::{Marker, TreeRead, delete_pending, marker_path, orphans, read_tree};
use crate::zk::{Op, Read, ReadResult};

impl Writer<'_> {
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

    /// [`Self::repair`] as the rest of a batched write that has committed
    /// `committed` transactions (for [`Limits::stop_after_batches`]).
    pub(super) async fn repair_after(&self, committed: usize) -> Result<WriteOutcome, Error> {
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
        let mut attempts = self.attempts();
        'attempts: while let Some(attempt) = attempts.next().await {
            outcome.attempts = attempt;
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
            match &read.marker {
                Some(marker) => self.append_marker_delete(&mut batches, marker),
                // No marker: nothing holds off a merge mode change but the
                // service znode's version.
                None => batches
                    .iter_mut()
                    .for_each(|batch| batch.push(read.service.check(self.layout))),
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
        Err(attempts.contended())
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

    /// Deletes orphan views (view znodes without a conf) that no
    /// association points at, each at the version read, deepest first.
    pub(crate) async fn delete_orphans(&self) -> Result<(), Error> {
        let mut attempts = self.attempts();
        while attempts.next().await.is_some() {
            let (read, views, (nodemap, stat)) = futures_util::future::try_join3(
                read_tree(self.zk, self.layout, &EnvPath::root()),
                self.zk.subtree(self.layout.views_root()),
                self.read_nodemap(),
            )
            .await?;
            let with_conf: BTreeSet<String> = read
                .subtree
                .keys()
                .map(|e| self.layout.view_path(e))
                .collect();
            let pointed: BTreeSet<&str> = nodemap.map.iter().map(|(_, p)| p).collect();
            // Deepest first; an orphan with something kept below it stays.
            let mut doomed: Vec<String> = orphans(&views, &with_conf)
                .filter(|p| !pointed.contains(p.as_str()))
                .collect();
            doomed.retain(|p| {
                let below = format!("{p}/");
                !views.iter().any(|v| {
                    v.starts_with(&below) && (with_conf.contains(v) || pointed.contains(v.as_str()))
                })
            });
            if doomed.is_empty() {
                return Ok(());
            }
            doomed.reverse();
            // At the versions read: a create that adopts an orphan moves it.
            let reads: Vec<Read> = doomed.iter().cloned().map(Read::Data).collect();
            let stats = self.zk.multi_read(&reads).await?;
            let mut ops = conf_checks(self.layout, &read.subtree);
            ops.push(Op::Check {
                path: self.layout.nodemap_path().to_owned(),
                version: stat.version,
            });
            for (path, read) in doomed.into_iter().zip(stats) {
                if let ReadResult::Data(Some((_, stat))) = read {
                    ops.push(Op::Delete {
                        path,
                        version: Some(stat.version),
                    });
                }
            }
            self.fits(&ops, || "deleting the orphan views".to_owned())?;
            match self.zk.multi(&ops).await {
                Ok(_) => return Ok(()),
                Err(e) => match classify(&ops, e) {
                    Next::Fail(e) => return Err(e),
                    Next::Retry | Next::Unknown => {}
                },
            }
        }
        Err(attempts.contended())
    }
}
