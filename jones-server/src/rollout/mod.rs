//! Rollout: which live clients read a service and what each has applied,
//! from the client registry `/services/{svc}/clients/*` (see
//! [`jones_client::ClientRecord`]).
//!
//! | module | what it does |
//! | --- | --- |
//! | `report` | pure: records and view revisions in, the JSON of `GET .../clients` out |
//! | `read` | full reads: the registry's children, their data pipelined, the views they follow |
//! | `live` | the live picture of one service, fed by its event stream's watch |
//!
//! A live picture runs while someone watches the service (an event
//! stream): it is part of the stream's shared feed, so every watcher of a
//! service shares one. It does O(1) ZooKeeper work per change: the feed's
//! persistent recursive watch names the one registration znode that
//! changed, which alone is read again (or dropped); a view event re-reads
//! that view's stat when clients follow it. A full read happens only at the
//! start and after a reconnect. Without a live picture, `GET .../clients`
//! does a one-shot full read.

mod live;
mod read;
mod report;

use std::sync::atomic::AtomicU64;

use jones_client::ServiceLayout;
use serde_json::Value;

pub(crate) use live::{Live, Watched};

use crate::{Result, Zk};

/// Counters of the live pictures, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct RolloutStats {
    /// Reads of one registration znode or one view's stat.
    pub reads: AtomicU64,
    /// Full reads of a registry (start, reconnect, one-shot `GET`).
    pub full_reads: AtomicU64,
    /// `clients` events sent (one per service, not per stream).
    pub events: AtomicU64,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The report of `layout`'s registry from a one-shot full read.
pub(crate) async fn read_report(
    zk: &Zk,
    layout: &ServiceLayout,
    stats: &RolloutStats,
) -> Result<Value> {
    stats
        .full_reads
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let snapshot = read::full_read(zk, layout).await?;
    Ok(report::render(
        layout,
        &snapshot.entries,
        &snapshot.views,
        now_ms(),
    ))
}
