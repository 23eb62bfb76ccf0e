//! The association index on the write path: every nodemap change carries
//! its index change in the same transaction, and a service without a
//! complete index gets one built from its nodemap.
//!
//! # Why the index never disagrees with the nodemap where clients follow it
//!
//! A nodemap writer reads the index directory and the znodes of the names
//! it changes (pipelined with its nodemap read where the names are known),
//! and commits, beside the nodemap `set` at the version read:
//!
//! - when the directory exists (complete or being built): a `create`,
//!   `set` or `delete` of each changed name's znode, at the version read
//!   (a create that meets `NodeExists` or a stale version fails the whole
//!   transaction, and the write reads again);
//! - when the entries do not fit the transaction's budget: instead of
//!   them, a `set` of the directory to `complete: false` (clients then read
//!   the nodemap), and the index is rebuilt after the write;
//! - when there is no directory: a `create` and a `delete` of it, which
//!   fail the transaction if one appeared meanwhile, and the index is built
//!   after the write.
//!
//! A build (see [`Writer::build_index`]) computes the entries from the
//! nodemap and writes them in batches under [`BUILD_BATCH_BYTES`], each
//! with a `check` on the nodemap version it was computed from: batch 1
//! creates the directory with `complete: false` (and the client registry
//! when missing), the last one sets `complete: true`. A nodemap write that
//! lands in between fails the next batch's check, and the build reads
//! again and goes on from what is stored. So when the directory says
//! complete, every entry equals the nodemap of that moment, and every later
//! nodemap change by our servers carried its entries. A builder that dies
//! leaves an incomplete directory that clients do not follow; the next
//! start-up, verify/repair or nodemap write of any server finishes it.
//! Original Jones servers write only the nodemap: `jones repair` re-indexes
//! such a tree (stale entries are rewritten in checked batches too).

use jones_client::{IndexState, Nodemap};

use super::{Commit, Next, Writer, classify};
use crate::Result;
use crate::index::{
    BUILD_BATCH_BYTES, IndexChange, IndexRead, StoredIndex, batches, diff, followable_state,
    plan_change,
};
use crate::materialize::ops_size;
use crate::zk::{Op, Read, ReadResult};

/// Reads of one multi-read: small answers, far below the packet limit.
const READS_PER_REQUEST: usize = 1000;

impl Writer<'_> {
    /// Reads the index directory's version and the znodes of `names`, for
    /// planning a nodemap change (see [`plan_change`]).
    pub(crate) async fn read_index_for(&self, names: &[String]) -> Result<IndexRead> {
        let mut reads = vec![Read::Data(self.layout.associations_path().to_owned())];
        reads.extend(
            names
                .iter()
                .map(|n| Read::Data(self.layout.association_path(n))),
        );
        let mut results = Vec::with_capacity(reads.len());
        for chunk in reads.chunks(READS_PER_REQUEST) {
            results.extend(self.zk.multi_read(chunk).await?);
        }
        let mut results = results.into_iter().map(|r| match r {
            ReadResult::Data(found) => found,
            ReadResult::Children(_) => None,
        });
        let Some((dir_data, dir)) = results.next().flatten() else {
            return Ok(IndexRead::default());
        };
        Ok(IndexRead {
            dir: Some(dir.version),
            followable: followable_state(&dir_data),
            entries: names
                .iter()
                .cloned()
                .zip(results.map(|found| found.map(|(_, stat)| stat.version)))
                .collect(),
        })
    }

    /// `base` (a nodemap change from `before` to `after`) with its index
    /// ops, and whether the index is to be built after the commit. When
    /// the entries would take `base` over the budget, the directory is
    /// marked incomplete instead (see the module doc); the caller still
    /// checks the result's size.
    pub(crate) fn with_index_ops(
        &self,
        mut base: Vec<Op>,
        before: &Nodemap,
        after: &Nodemap,
        read: &IndexRead,
    ) -> (Vec<Op>, bool) {
        let change = plan_change(self.layout, before, after, read)
            .expect("every changed name's znode was read");
        let build_after = match change {
            IndexChange::Absent(ops) => {
                base.extend(ops);
                true
            }
            IndexChange::Entries { ops, degraded } => {
                let size = ops_size(&base) + ops_size(&ops);
                if size <= self.limits.multi_bytes {
                    base.extend(ops);
                    // A build left unfinished (its server died) is
                    // finished by the next write.
                    !read.followable
                } else {
                    base.push(degraded);
                    true
                }
            }
        };
        (base, build_after)
    }

    /// After a nodemap write that left the index to be built: builds it,
    /// logging (not failing the write) when it cannot; the next start-up,
    /// repair or write builds it then.
    pub(crate) async fn build_index_after_write(&self) {
        if let Err(e) = self.build_index().await {
            tracing::warn!(service = %self.layout.service(), error = %e,
                "cannot build the association index now; a later write or repair will");
        }
    }

    /// The index as stored: the directory, every entry with its data, the
    /// registry's presence.
    pub(crate) async fn read_stored_index(&self) -> Result<StoredIndex> {
        let dir_path = self.layout.associations_path();
        let (dir, children, clients) = futures_util::future::try_join3(
            self.zk.get(dir_path),
            self.zk.children(dir_path),
            self.zk.get(self.layout.clients_path()),
        )
        .await?;
        let mut stored = StoredIndex {
            dir: dir.map(|(data, stat)| (IndexState::parse(&data).ok(), stat.version)),
            clients: clients.is_some(),
            ..StoredIndex::default()
        };
        let names = children.unwrap_or_default();
        let reads: Vec<Read> = names
            .iter()
            .map(|c| Read::Data(format!("{dir_path}/{c}")))
            .collect();
        for (chunk_names, chunk) in names
            .chunks(READS_PER_REQUEST)
            .zip(reads.chunks(READS_PER_REQUEST))
        {
            let results = self.zk.multi_read(chunk).await?;
            for (name, result) in chunk_names.iter().zip(results) {
                if let ReadResult::Data(Some((data, stat))) = result {
                    stored.entries.insert(name.clone(), (data, stat.version));
                }
            }
        }
        Ok(stored)
    }

    /// Makes the index (and the client registry directory) agree with the
    /// nodemap, in checked batches; see the module doc. Whether anything
    /// was written. A service without a nodemap is left alone.
    pub(crate) async fn build_index(&self) -> Result<bool> {
        let mut committed = 0usize;
        let mut attempts = self.attempts();
        'attempts: while attempts.next().await.is_some() {
            let (nodemap, stored) =
                futures_util::future::try_join(self.nodemap_if_any(), self.read_stored_index())
                    .await?;
            let Some((nodemap, stat)) = nodemap else {
                return Ok(committed > 0);
            };
            let entries = diff(&nodemap.map, &stored);
            if stored.followable() && entries.is_empty() && stored.clients {
                return Ok(committed > 0);
            }
            if committed == 0 {
                tracing::info!(service = %self.layout.service(),
                    missing = entries.missing.len(), stale = entries.stale.len(),
                    extra = entries.extra.len(), "building the association index");
            }
            let dir = self.layout.associations_path().to_owned();
            let check = Op::Check {
                path: self.layout.nodemap_path().to_owned(),
                version: stat.version,
            };
            let mut ops = Vec::new();
            let dir_version = match stored.dir {
                Some((_, version)) => version,
                None => {
                    ops.push(Op::Create {
                        path: dir.clone(),
                        data: IndexState::building().to_bytes(),
                    });
                    0
                }
            };
            if !stored.clients {
                ops.push(Op::CreateRegistry {
                    path: self.layout.clients_path().to_owned(),
                });
            }
            let complete = (!stored.followable()).then(|| Op::Set {
                path: dir,
                data: IndexState::complete().to_bytes(),
                version: Some(dir_version),
            });
            ops.extend(entries.ops(self.layout));
            let reserve = check.wire_size() + complete.as_ref().map_or(0, Op::wire_size);
            let budget = BUILD_BATCH_BYTES.min(self.limits.multi_bytes);
            let mut planned = batches(ops, budget, reserve);
            if planned.is_empty() {
                planned.push(Vec::new());
            }
            if let Some(op) = complete {
                planned.last_mut().expect("one batch at least").push(op);
            }
            for mut batch in planned {
                if let Some(k) = self.limits.stop_index_build_after {
                    if committed >= k {
                        return Err(crate::Error::Unavailable(format!(
                            "stopped after {committed} index batches (Limits::stop_index_build_after)"
                        )));
                    }
                }
                batch.push(check.clone());
                match self.zk.multi(&batch).await {
                    Ok(_) => committed += 1,
                    Err(e) => match classify(&batch, e) {
                        Next::Fail(e) => return Err(e),
                        // The nodemap or the index moved (or the outcome is
                        // unknown): read again and go on from what is stored.
                        Next::Retry | Next::Unknown => continue 'attempts,
                    },
                }
            }
        }
        Err(attempts.contended())
    }

    /// Commits a nodemap change planned by [`Self::with_index_ops`] and
    /// builds the index after it when `build_after`; see [`Commit`].
    pub(crate) async fn commit_nodemap(&self, ops: &[Op], build_after: bool) -> Result<Commit> {
        let commit = self.try_commit(ops).await?;
        if build_after && matches!(commit, Commit::Applied(_)) {
            self.build_index_after_write().await;
        }
        Ok(commit)
    }
}
