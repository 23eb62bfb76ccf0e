//! Self-healing: every running server repairs a service whose pending
//! marker outlives the write that made it.
//!
//! A batched write (or a service delete) leaves `/services/{svc}/jones-pending`
//! while it runs; a writer that dies leaves it behind, and the marker holds
//! off every other write. The healer keeps a one-shot `exists` watch on each
//! service's marker (and a children watch on `/services` for new services),
//! so it notices a marker at once, without polling; one-shot watches are
//! re-sent by the client after a reconnect. When a marker is still there,
//! unchanged, after [`GRACE`] (its writer, if alive, has usually finished
//! by then), the healer repairs the service.
//!
//! The healer also finishes an association index left unfinished: it
//! keeps a one-shot `exists` watch on each service's `associations`
//! directory (which fires on its data changes too), and when the directory
//! says `complete: false` and neither it nor its children changed for
//! [`GRACE`] (a live builder creates entries as it goes), it builds the
//! index from the nodemap under the same lock. A service without a
//! directory (a tree written by original Jones) is left to start-up and
//! `jones repair`: its clients read the nodemap, and nothing of ours is
//! half-written there.
//!
//! One repairer at a time: a server repairs only while it holds the
//! ephemeral `/services/{svc}/jones-repairing` znode; the others watch it
//! and look again when it goes (when the repair ends or its server dies).
//! A healer takes the lock only once its turn in its own server's write
//! queue for the service has come, so the lock is never held by a server
//! that is merely waiting (see `heal_alone`).
//! A repair racing the marker's own writer is safe anyway: both write views
//! in checked transactions, and the marker's deletion is guarded (see
//! `writer`).

use std::collections::HashMap;
use std::time::Duration;

use jones_client::{SERVICES_ROOT, ServiceLayout, ServiceName};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::Admin;
use crate::tree::marker_path;

/// How long a marker must stay unchanged before another writer's write is
/// presumed dead and the service repaired.
pub const GRACE: Duration = Duration::from_secs(1);

/// Pause after a ZooKeeper error before watching again.
const RETRY: Duration = Duration::from_millis(500);

/// The healer of one server; stops (and waits for its tasks) on
/// [`Healer::stop`], or aborts them on drop.
///
/// ```no_run
/// # async fn demo(admin: jones_server::Admin) {
/// let healer = jones_server::Healer::start(admin);
/// // ... serve ...
/// healer.stop().await;
/// # }
/// ```
#[derive(Debug)]
pub struct Healer {
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Healer {
    /// Starts watching every service of `admin`'s ZooKeeper.
    pub fn start(admin: Admin) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(supervise(admin, stopped));
        Self {
            stop,
            task: Some(task),
        }
    }

    /// Stops watching; a repair under way is abandoned (its marker stays,
    /// for the next healer).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Healer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Keeps one watcher task per service, following `/services`' children.
async fn supervise(admin: Admin, mut stopped: watch::Receiver<bool>) {
    let mut tasks = JoinSet::new();
    let mut watching: HashMap<ServiceName, tokio::task::AbortHandle> = HashMap::new();
    loop {
        let changed = match admin.zk().watch_children(SERVICES_ROOT).await {
            Ok((children, watcher)) => {
                let now: Vec<ServiceName> = children
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| ServiceName::new(c).ok())
                    .collect();
                watching.retain(|svc, task| {
                    let keep = now.contains(svc);
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for svc in now {
                    if let std::collections::hash_map::Entry::Vacant(slot) =
                        watching.entry(svc.clone())
                    {
                        slot.insert(tasks.spawn(watch_service(admin.clone(), svc)));
                    }
                }
                Some(watcher)
            }
            Err(e) => {
                tracing::debug!(error = %e, "healer: cannot list the services; retrying");
                None
            }
        };
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            _ = async {
                match changed {
                    Some(watcher) => { watcher.changed().await; }
                    None => tokio::time::sleep(RETRY).await,
                }
            } => {}
            // Reap finished tasks so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tasks.shutdown().await;
}

/// What a healer finishes.
#[derive(Debug, Clone, Copy)]
enum Heal {
    /// A write or delete that left its marker.
    Marker,
    /// An association index build that left its directory incomplete.
    Index,
}

/// Watches `svc`'s marker and index directory, and heals what is left
/// behind.
async fn watch_service(admin: Admin, svc: ServiceName) {
    let layout = ServiceLayout::new(svc.clone());
    tokio::join!(
        watch_marker(&admin, &svc, &layout),
        watch_index(&admin, &svc, &layout)
    );
}

/// Watches `svc`'s index directory and finishes a build left unfinished.
async fn watch_index(admin: &Admin, svc: &ServiceName, layout: &ServiceLayout) {
    let dir = layout.associations_path();
    // Whether the directory is there and unfinished, and its stat.
    let unfinished = |found: Option<(Vec<u8>, zookeeper_client::Stat)>| match found {
        Some((data, stat)) if !crate::index::followable_state(&data) => Some(stat),
        _ => None,
    };
    loop {
        let seen = match admin.zk().watch_exists(dir).await {
            Ok((None, watcher)) => {
                watcher.changed().await;
                continue;
            }
            Ok((Some(_), watcher)) => match admin.zk().get(dir).await.map(unfinished) {
                Ok(Some(stat)) => stat,
                Ok(None) => {
                    watcher.changed().await;
                    continue;
                }
                Err(e) => {
                    tracing::debug!(service = %svc, error = %e, "healer: cannot read the index");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            },
            Err(e) => {
                tracing::debug!(service = %svc, error = %e, "healer: cannot watch the index");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        tokio::time::sleep(GRACE).await;
        match admin.zk().get(dir).await.map(unfinished) {
            // Unchanged, entries included: its builder, if any, is gone.
            Ok(Some(now)) if (now.mzxid, now.pzxid) == (seen.mzxid, seen.pzxid) => {
                if let Err(e) = heal_alone(admin, svc, layout, Heal::Index).await {
                    tracing::warn!(service = %svc, error = %e, "healer: index build failed; will retry");
                    tokio::time::sleep(RETRY).await;
                }
            }
            // Finished, gone, or still being built.
            Ok(_) => {}
            Err(_) => tokio::time::sleep(RETRY).await,
        }
    }
}

/// Watches `svc`'s marker and repairs the service when one is left behind.
async fn watch_marker(admin: &Admin, svc: &ServiceName, layout: &ServiceLayout) {
    let marker = marker_path(layout);
    loop {
        let seen = match admin.zk().watch_exists(&marker).await {
            Ok((None, watcher)) => {
                admin.note_marker(svc, false);
                watcher.changed().await;
                continue;
            }
            Ok((Some(stat), _)) => {
                admin.note_marker(svc, true);
                stat
            }
            Err(e) => {
                tracing::debug!(service = %svc, error = %e, "healer: cannot watch the marker");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        tokio::time::sleep(GRACE).await;
        match admin.zk().get(&marker).await {
            Ok(Some((_, now))) if now.czxid == seen.czxid => {
                if let Err(e) = heal_alone(admin, svc, layout, Heal::Marker).await {
                    tracing::warn!(service = %svc, error = %e, "healer: repair failed; will retry");
                    tokio::time::sleep(RETRY).await;
                }
            }
            // Gone (its writer finished) or replaced by a newer write's.
            Ok(_) => {}
            Err(_) => tokio::time::sleep(RETRY).await,
        }
    }
}

/// Heals `svc` (see [`Heal`]) while holding its repair lock, or waits for
/// whoever holds it to finish.
///
/// The healer first waits for its turn in this server's queue of writes to
/// the service, and only then takes the lock: a server busy with its own
/// long write to the service (perhaps the very write that made the marker)
/// never holds the lock while it waits, so if it dies there, the lock is
/// not left to its session's expiry and another server heals at once.
async fn heal_alone(
    admin: &Admin,
    svc: &ServiceName,
    layout: &ServiceLayout,
    heal: Heal,
) -> crate::Result<()> {
    let turn = admin.queue_unbounded(svc).await;
    let lock = repair_lock_path(layout);
    if !admin.zk().create_ephemeral(&lock).await? {
        drop(turn);
        let (held, watcher) = admin.zk().watch_exists(&lock).await?;
        if held.is_some() {
            watcher.changed().await;
        }
        return Ok(());
    }
    let result = match heal {
        Heal::Marker => admin.repair_marked_in_turn(svc).await,
        Heal::Index => admin.build_unfinished_index_in_turn(svc).await,
    };
    admin.zk().delete(&lock).await?;
    drop(turn);
    result
}

/// The ephemeral znode held by the one server repairing a service.
pub(crate) fn repair_lock_path(layout: &ServiceLayout) -> String {
    format!("{}/jones-repairing", layout.service_path())
}
