//! A service's creation (one transaction) and deletion: one transaction,
//! or batches behind a delete marker that any server finishes (see the
//! module doc of `writer`).

use jones_client::MergeMode;

use super::{Next, Writer, classify};
use crate::Error;
use crate::history;
use crate::materialize::ops_size;
use crate::nodemap::NodemapFormat;
use crate::tree::{DELETE_MARKER, delete_pending, marker_path};
use crate::zk::Op;

impl Writer<'_> {
    /// Creates the service: root conf `{}`, root view `{}`, an empty
    /// nodemap, its (complete, empty) association index and its client
    /// registry, in one transaction (and `/services` once).
    pub(crate) async fn create_service(&self, merge: MergeMode) -> Result<(), Error> {
        self.zk.ensure(jones_client::SERVICES_ROOT).await?;
        // Empty, as original Jones leaves it, unless the service merges
        // deeply or keeps a lines nodemap (see `nodemap`).
        let path = self.layout.service_path();
        let mut settings = match merge {
            MergeMode::Shallow => Vec::new(),
            mode => super::settings::settings_with(path, &[], mode)?,
        };
        if self.nodemap_format == NodemapFormat::Lines {
            settings = super::settings::setting_set(
                path,
                &settings,
                "nodemap",
                NodemapFormat::Lines.as_str(),
            )?;
        }
        let ops = [
            Op::Create {
                path: self.layout.service_path().to_owned(),
                data: settings,
            },
            Op::Create {
                path: self.layout.conf_root().to_owned(),
                data: b"{}".to_vec(),
            },
            Op::Create {
                path: self.layout.views_root().to_owned(),
                data: b"{}".to_vec(),
            },
            Op::Create {
                path: self.layout.nodemap_path().to_owned(),
                data: self.nodemap_format.empty(),
            },
            Op::Create {
                path: self.layout.associations_path().to_owned(),
                data: jones_client::IndexState::complete().to_bytes(),
            },
            Op::CreateRegistry {
                path: self.layout.clients_path().to_owned(),
            },
            crate::history::create_dir(self.layout),
            crate::history::append(
                self.layout,
                self.record(crate::history::Action::ServiceCreate, None)
                    .change(serde_json::Value::Null, serde_json::json!({})),
                self.limits.multi_bytes,
            )
            .0,
        ];
        match self.zk.multi(&ops).await {
            Ok(_) => Ok(()),
            Err(e) if e.index == Some(0) && e.source == zookeeper_client::Error::NodeExists => {
                Err(Error::ServiceExists(self.layout.service().clone()))
            }
            Err(e) => Err(match classify(&ops, e) {
                Next::Fail(e) => e,
                _ => Error::Unavailable(format!(
                    "creating service {:?} failed; it may or may not exist now",
                    self.layout.service().as_str()
                )),
            }),
        }
    }

    /// Deletes the service's whole tree, the association index and the
    /// client registry included; see the module doc. A client that
    /// registers (creates an ephemeral znode under `clients`) between the
    /// listing and the delete fails the transaction with `NotEmpty`, and
    /// the delete lists again and retries.
    ///
    /// The delete is recorded in the Jones-wide history (the service's own
    /// goes with it) in the transaction that decides it: the whole delete,
    /// or the one that makes the marker a delete marker, after which any
    /// server finishes it without recording it again.
    pub(crate) async fn delete_service(&self) -> Result<(), Error> {
        // Whether an attempt may have deleted the tree: then finding
        // nothing left means done, not not-found.
        let mut maybe_done = false;
        self.zk.ensure(crate::accounts::JONES_ROOT).await?;
        self.zk.ensure(history::JONES_HISTORY).await?;
        let mut attempts = self.attempts();
        while attempts.next().await.is_some() {
            let paths = self.zk.subtree(self.layout.service_path()).await?;
            if paths.is_empty() {
                return match maybe_done {
                    true => Ok(()),
                    false => Err(Error::ServiceNotFound(self.layout.service().clone())),
                };
            }
            if delete_pending(self.zk, self.layout).await? {
                // Decided (and recorded) before, by this delete after a
                // lost answer or by another: finish it.
                return self.finish_delete(0).await;
            }
            let record = self
                .record(history::Action::ServiceDelete, None)
                .service(self.layout.service().as_str());
            let whole = deletes_deepest_first(paths);
            let (mut ops, then_finish) = if ops_size(&whole) <= self.limits.multi_bytes {
                (whole, false)
            } else {
                (vec![self.delete_marker_op().await?], true)
            };
            if self.limits.record_history {
                let room = self.room_beside(&ops);
                ops.push(history::append_to(history::JONES_HISTORY, record, room).0);
            }
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
        Err(attempts.contended())
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
    pub(super) async fn finish_delete(&self, committed: usize) -> Result<(), Error> {
        let service_path = self.layout.service_path();
        let marker = marker_path(self.layout);
        let mut attempts = self.attempts();

        'attempts: while attempts.next().await.is_some() {
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
        Err(attempts.contended())
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
