//! Full reads of a service's registry: the children of `clients`, their
//! data in pipelined multi-reads, and the stat of every view they follow.
//! Done at a live picture's start, after a reconnect, and for a
//! `GET .../clients` when no picture runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures_util::future::join_all;
use jones_client::ServiceLayout;

use super::report::{Entry, ViewRevision};
use crate::zk::{Read, ReadResult, Zk};
use crate::{Error, Result};

/// Registration znodes read per multi-read: ~300 bytes each keeps an
/// answer far below ZooKeeper's 1 MiB packet limit.
const READ_BATCH: usize = 500;

/// A service's registry as read at one time.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// Registration znode name → what it holds.
    pub entries: BTreeMap<String, Entry>,
    /// View path → its revision (`None`: missing), for every view followed.
    pub views: HashMap<String, Option<ViewRevision>>,
}

/// Reads the whole registry; a missing `clients` directory is no client.
pub(crate) async fn full_read(zk: &Zk, layout: &ServiceLayout) -> Result<Snapshot> {
    let clients = layout.clients_path();
    let names = zk.children(clients).await?.unwrap_or_default();
    let reads = names.chunks(READ_BATCH).map(|batch| {
        let reads: Vec<Read> = batch
            .iter()
            .map(|n| Read::Data(format!("{clients}/{n}")))
            .collect();
        async move { zk.multi_read(&reads).await }
    });
    let mut entries = BTreeMap::new();
    for (batch, results) in names.chunks(READ_BATCH).zip(join_all(reads).await) {
        for (name, result) in batch.iter().zip(results?) {
            if let ReadResult::Data(Some((data, stat))) = result {
                entries.insert(name.clone(), Entry::parse(layout, &data, stat.mzxid));
            }
        }
    }
    let followed: BTreeSet<&str> = entries.values().filter_map(Entry::view).collect();
    let revisions = join_all(followed.iter().map(|v| read_view(zk, v))).await;
    let mut views = HashMap::new();
    for (view, revision) in followed.into_iter().zip(revisions) {
        views.insert(view.to_owned(), revision?);
    }
    Ok(Snapshot { entries, views })
}

/// One view's current revision; `None` when the view is missing.
pub(crate) async fn read_view(zk: &Zk, path: &str) -> Result<Option<ViewRevision>, Error> {
    Ok(zk.stat(path).await?.map(|s| ViewRevision {
        mzxid: s.mzxid,
        mtime: s.mtime,
    }))
}
