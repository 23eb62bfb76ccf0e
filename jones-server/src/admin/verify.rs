//! Verify and repair a service: does every view equal the merge of its
//! lineage's confs, does every association point at a view, is a rewrite
//! pending, are there view znodes without a conf, does the association
//! index agree with the nodemap?

use std::collections::BTreeSet;

use jones_client::{EnvPath, ServiceLayout, ServiceName};
use serde::Serialize;

use super::Admin;
use crate::materialize::changed_views;
use crate::tree::{orphans, read_tree};
use crate::writer::WriteOutcome;
use crate::{Error, Result};

/// What [`Admin::verify`] found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Verification {
    /// Whether nothing is wrong.
    pub consistent: bool,
    /// Every problem found, views first.
    pub problems: Vec<Problem>,
}

/// One thing wrong with a service's tree.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Problem {
    /// The stored view differs from the merge of its lineage's confs.
    ViewDiffers {
        /// The environment.
        env: String,
    },
    /// The environment has a conf but no view.
    ViewMissing {
        /// The environment.
        env: String,
    },
    /// A view znode without a conf (left by a non-atomic delete).
    OrphanView {
        /// The view znode.
        path: String,
    },
    /// An association points at a view that does not exist.
    DanglingAssociation {
        /// The association.
        name: String,
        /// Where it points.
        view_path: String,
    },
    /// A batched write did not finish: every write is held off until the
    /// service is repaired.
    PendingRewrite,
    /// A delete of the whole service was left unfinished; a repair (or any
    /// server's healer) finishes it.
    PendingDelete,
    /// The service has no association index (a tree written by original
    /// Jones or an older Jones server): clients read the nodemap. A repair
    /// builds it.
    IndexMissing,
    /// The association index is not complete (being built, or its build
    /// was left unfinished): clients read the nodemap. A repair finishes it.
    IndexIncomplete,
    /// An association of the nodemap has no index znode.
    IndexEntryMissing {
        /// The association.
        name: String,
        /// Where the nodemap points it.
        view_path: String,
    },
    /// An association's index znode points elsewhere than the nodemap
    /// (or does not parse).
    IndexEntryStale {
        /// The association.
        name: String,
        /// Where the nodemap points it.
        view_path: String,
        /// What its index znode holds.
        indexed: String,
    },
    /// An index znode for an association the nodemap does not have.
    IndexEntryExtra {
        /// The znode's name under `associations`.
        znode: String,
        /// The association it stands for (`None`: not a name the index
        /// encoding writes).
        name: Option<String>,
    },
    /// The service has no client registry directory (`clients`).
    RegistryMissing,
}

impl Admin {
    /// Checks `service`'s tree against the rules every write keeps; see
    /// [`Problem`]. Reads only.
    pub async fn verify(&self, service: &ServiceName) -> Result<Verification> {
        let layout = ServiceLayout::new(service.clone());
        if crate::tree::delete_pending(&self.zk, &layout).await? {
            return Ok(Verification {
                consistent: false,
                problems: vec![Problem::PendingDelete],
            });
        }
        let (read, views, (nodemap, _)) = futures_util::future::try_join3(
            read_tree(&self.zk, &layout, &EnvPath::root()),
            self.zk.subtree(layout.views_root()),
            self.read_nodemap(&layout),
        )
        .await?;
        let mut problems: Vec<Problem> = changed_views(&read, None)
            .into_iter()
            .map(|w| match w.version {
                Some(_) => Problem::ViewDiffers {
                    env: w.env.to_string(),
                },
                None => Problem::ViewMissing {
                    env: w.env.to_string(),
                },
            })
            .collect();
        let with_conf: BTreeSet<String> =
            read.subtree.keys().map(|e| layout.view_path(e)).collect();
        problems.extend(orphans(&views, &with_conf).map(|path| Problem::OrphanView { path }));
        let existing: BTreeSet<&String> = views.iter().collect();
        problems.extend(
            nodemap
                .map
                .iter()
                .filter(|(_, path)| !existing.contains(&path.to_string()))
                .map(|(name, path)| Problem::DanglingAssociation {
                    name: name.to_owned(),
                    view_path: path.to_owned(),
                }),
        );
        if read.marker.is_some() {
            problems.push(Problem::PendingRewrite);
        }
        let index = self.writer(&layout).read_stored_index().await?;
        problems.extend(index_problems(&nodemap.map, &index));
        Ok(Verification {
            consistent: problems.is_empty(),
            problems,
        })
    }

    /// Recomputes every view of `service` from its confs, clears a pending
    /// marker (left by a server that died mid-write), deletes orphan
    /// views no association points at, and rebuilds the association index
    /// from the nodemap (the source of truth) where it differs, in checked
    /// batches; a service written by original Jones gets its index here. Associations pointing at missing
    /// views are left for an operator (they show in [`Admin::verify`]).
    /// A service whose delete was left unfinished is deleted, and the
    /// answer is [`Error::ServiceNotFound`].
    pub async fn repair(&self, service: &ServiceName) -> Result<WriteOutcome> {
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        if self.zk.get(layout.service_path()).await?.is_none() {
            return Err(Error::ServiceNotFound(service.clone()));
        }
        let writer = self.writer(&layout);
        let outcome = writer.repair().await?;
        writer.delete_orphans().await?;
        writer.build_index().await?;
        self.stats
            .repairs
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(outcome)
    }

    /// Repairs `service` when a pending marker is still there; the caller
    /// holds this server's turn for the service (see [`Admin::queue`]).
    /// Counts as a repair and a healed write once the repair succeeds.
    pub(crate) async fn repair_marked_in_turn(&self, service: &ServiceName) -> Result<()> {
        let layout = ServiceLayout::new(service.clone());
        if self
            .zk
            .get(&crate::tree::marker_path(&layout))
            .await?
            .is_none()
        {
            return Ok(());
        }
        tracing::warn!(service = %service, "healer: repairing a write left unfinished");
        match self.writer(&layout).repair().await {
            // An unfinished delete, now finished.
            Ok(_) | Err(Error::ServiceNotFound(_)) => {}
            Err(e) => return Err(e),
        }
        for counter in [&self.stats.repairs, &self.stats.healed] {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Admin {
    /// Finishes `service`'s association index when its directory is still
    /// there and not complete (a build whose server died); the caller
    /// holds this server's turn for the service (see [`Admin::queue`]).
    /// Counts as a healed write once the build succeeds.
    pub(crate) async fn build_unfinished_index_in_turn(&self, service: &ServiceName) -> Result<()> {
        let layout = ServiceLayout::new(service.clone());
        match self.zk.get(layout.associations_path()).await? {
            Some((data, _)) if !crate::index::followable_state(&data) => {}
            _ => return Ok(()),
        }
        tracing::warn!(service = %service, "healer: finishing an association index left unfinished");
        self.writer(&layout).build_index().await?;
        self.stats
            .healed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// The findings about `index` for `nodemap`.
fn index_problems(
    nodemap: &jones_client::Nodemap,
    index: &crate::index::StoredIndex,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    match index.dir {
        None => problems.push(Problem::IndexMissing),
        Some(_) if !index.followable() => problems.push(Problem::IndexIncomplete),
        Some(_) => {}
    }
    if !index.clients {
        problems.push(Problem::RegistryMissing);
    }
    if index.dir.is_none() {
        // Every entry would be missing: the one finding says it.
        return problems;
    }
    let diff = crate::index::diff(nodemap, index);
    problems.extend(
        diff.missing
            .into_iter()
            .map(|(name, view_path)| Problem::IndexEntryMissing { name, view_path }),
    );
    problems.extend(diff.stale.into_iter().map(|(name, view_path, indexed, _)| {
        Problem::IndexEntryStale {
            name,
            view_path,
            indexed,
        }
    }));
    problems.extend(
        diff.extra
            .into_iter()
            .map(|(znode, _)| Problem::IndexEntryExtra {
                name: crate::index::name_of(&znode),
                znode,
            }),
    );
    problems
}
