//! The live picture of one service's registry, kept by one task per
//! watched service.
//!
//! The service's event feed hands every registry and view event over
//! through an inbox that holds at most one entry per znode (so a burst of
//! writes to one registration costs one read, and memory is bounded by the
//! number of znodes, not of events). The task then:
//! - reads the one registration znode an event names, with at most one read
//!   in flight per znode (an event meanwhile asks for one more read after
//!   it, so answers apply in the order ZooKeeper served them); a deletion
//!   drops the record and discards a read still in flight;
//! - re-reads the stat of a view an event names when clients follow it
//!   (its mzxid is the current revision, its mtime the start of any lag);
//! - does a full read at the start and after every reconnect (persistent
//!   watches miss what happened meanwhile); events arriving during a full
//!   read wait for it and apply after;
//! - sends the report as a `clients` event when the picture changed: the
//!   first change at once, then at most one per [`EMIT_EVERY`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use jones_client::ServiceLayout;
use serde_json::Value;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;
use zookeeper_client::EventType;

use super::RolloutStats;
use super::read::{self, Snapshot};
use super::report::{self, Entry, ViewRevision};
use crate::{Error, Zk};

/// At most one `clients` event per service per this interval.
pub(crate) const EMIT_EVERY: Duration = Duration::from_millis(250);

/// Registration znodes read at once at most; the rest wait in the inbox.
const MAX_IN_FLIGHT: usize = 256;

/// Pause before a failed full read is tried again.
const RETRY: Duration = Duration::from_millis(500);

/// What the watch handed over and the task has not taken yet.
#[derive(Debug, Default)]
struct Inbox {
    /// Registration znode name → deleted (else created or changed).
    children: HashMap<String, bool>,
    /// View paths that changed.
    views: HashSet<String>,
    /// A full read is needed (start, reconnect).
    resync: bool,
}

/// The picture as the task keeps it and `GET .../clients` reads it.
#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<String, Entry>,
    views: HashMap<String, Option<ViewRevision>>,
    /// A full read is done and no reconnect asked for another since.
    ready: bool,
}

#[derive(Debug)]
struct Shared {
    layout: ServiceLayout,
    inbox: Mutex<Inbox>,
    wake: Notify,
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running live picture; its task stops when this is dropped.
#[derive(Debug)]
pub(crate) struct Live {
    shared: Arc<Shared>,
    _stop: oneshot::Sender<()>,
}

/// The watch's side of a live picture: hands events over.
#[derive(Debug, Clone)]
pub(crate) struct Watched(Arc<Shared>);

impl Live {
    /// Starts the picture of `layout`; `emit` sends a `clients` event's
    /// data to the service's streams. Nothing is read before the first
    /// [`Watched::resync`] (once the watch is in place).
    pub(crate) fn start(
        zk: Zk,
        layout: ServiceLayout,
        stats: Arc<RolloutStats>,
        emit: impl Fn(String) + Send + 'static,
    ) -> (Live, Watched) {
        let shared = Arc::new(Shared {
            layout,
            inbox: Mutex::default(),
            wake: Notify::new(),
            state: Mutex::default(),
        });
        let (stop, stopped) = oneshot::channel();
        tokio::spawn(run(zk, shared.clone(), stats, Box::new(emit), stopped));
        (
            Live {
                shared: shared.clone(),
                _stop: stop,
            },
            Watched(shared),
        )
    }

    /// The report, when the picture is complete (else `None`: read it
    /// one-shot).
    pub(crate) fn report(&self) -> Option<Value> {
        let state = lock(&self.shared.state);
        state.ready.then(|| {
            report::render(
                &self.shared.layout,
                &state.entries,
                &state.views,
                super::now_ms(),
            )
        })
    }
}

impl Watched {
    /// A znode of the service changed: registration znodes and views are
    /// taken in; anything else is not the picture's business.
    pub(crate) fn on_change(&self, path: &str, event_type: EventType) {
        let layout = &self.0.layout;
        let child = path
            .strip_prefix(layout.clients_path())
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|name| !name.is_empty() && !name.contains('/'));
        let mut inbox = lock(&self.0.inbox);
        if let Some(name) = child {
            inbox
                .children
                .insert(name.to_owned(), event_type == EventType::NodeDeleted);
        } else if layout.env_of_view_path(path).is_ok() {
            inbox.views.insert(path.to_owned());
        } else {
            return;
        }
        drop(inbox);
        self.0.wake.notify_one();
    }

    /// The watch is (again) in place: read everything.
    pub(crate) fn resync(&self) {
        lock(&self.0.inbox).resync = true;
        lock(&self.0.state).ready = false;
        self.0.wake.notify_one();
    }
}

/// A read the task waits for.
enum Done {
    Child(String, Result<Option<(Vec<u8>, i64)>, Error>),
    View(String, Result<Option<ViewRevision>, Error>),
    Full(Result<Snapshot, Error>),
}

type Work = Pin<Box<dyn Future<Output = Done> + Send>>;

/// The task's bookkeeping besides the shared state.
#[derive(Default)]
struct Flights {
    /// Registration znodes being read → (read again after, deleted meanwhile).
    children: HashMap<String, (bool, bool)>,
    /// Views whose stat is being read → read again after.
    views: HashMap<String, bool>,
    /// Registration znodes to read once there is room (or the full read is done).
    queued: HashSet<String>,
    /// Views to read once the full read is done.
    queued_views: HashSet<String>,
    /// Records waiting for the first read of the view they follow: view
    /// path → registration znode name → record.
    waiting: HashMap<String, HashMap<String, Entry>>,
    /// Deleted while the full read was running: not in its result.
    tombstones: HashSet<String>,
    full_running: bool,
    /// A reconnect came during the full read: read once more after.
    full_again: bool,
}

async fn run(
    zk: Zk,
    shared: Arc<Shared>,
    stats: Arc<RolloutStats>,
    emit: Box<dyn Fn(String) + Send>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut work: FuturesUnordered<Work> = FuturesUnordered::new();
    let mut f = Flights::default();
    let mut changed = false;
    let mut last_emit: Option<Instant> = None;
    let read_child = |name: &str| -> Work {
        stats.reads.fetch_add(1, Ordering::Relaxed);
        let zk = zk.clone();
        let path = format!("{}/{name}", shared.layout.clients_path());
        let name = name.to_owned();
        Box::pin(async move {
            let read = zk.get(&path).await.map(|r| r.map(|(d, s)| (d, s.mzxid)));
            Done::Child(name, read)
        })
    };
    let read_view = |path: &str| -> Work {
        stats.reads.fetch_add(1, Ordering::Relaxed);
        let zk = zk.clone();
        let path = path.to_owned();
        Box::pin(async move {
            let read = read::read_view(&zk, &path).await;
            Done::View(path, read)
        })
    };
    let read_full = |delay: Duration| -> Work {
        stats.full_reads.fetch_add(1, Ordering::Relaxed);
        let zk = zk.clone();
        let layout = shared.layout.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            Done::Full(read::full_read(&zk, &layout).await)
        })
    };
    loop {
        // Take in what the watch handed over.
        let inbox = std::mem::take(&mut *lock(&shared.inbox));
        if inbox.resync {
            if f.full_running {
                f.full_again = true;
            } else {
                f.full_running = true;
                work.push(read_full(Duration::ZERO));
            }
        }
        {
            let mut state = lock(&shared.state);
            for (name, deleted) in inbox.children {
                if deleted {
                    changed |= state.entries.remove(&name).is_some();
                    for waiting in f.waiting.values_mut() {
                        waiting.remove(&name);
                    }
                    f.queued.remove(&name);
                    if let Some(flight) = f.children.get_mut(&name) {
                        flight.1 = true;
                    }
                    if f.full_running {
                        f.tombstones.insert(name);
                    }
                } else if let Some(flight) = f.children.get_mut(&name) {
                    flight.0 = true;
                } else {
                    f.queued.insert(name);
                }
            }
            for view in inbox.views {
                if f.full_running {
                    f.queued_views.insert(view);
                } else if !state.views.contains_key(&view) {
                    // No client follows it.
                } else if let Some(again) = f.views.get_mut(&view) {
                    *again = true;
                } else {
                    f.views.insert(view.clone(), false);
                    work.push(read_view(&view));
                }
            }
        }
        if !f.full_running {
            while f.children.len() < MAX_IN_FLIGHT {
                let Some(name) = f.queued.iter().next().cloned() else {
                    break;
                };
                f.queued.remove(&name);
                f.children.insert(name.clone(), (false, false));
                work.push(read_child(&name));
            }
        }
        // Send the report when it changed, at most once per EMIT_EVERY.
        let ready = lock(&shared.state).ready;
        let due = match (changed && ready, last_emit) {
            (false, _) => None,
            (true, None) => Some(Instant::now()),
            (true, Some(at)) => Some(at + EMIT_EVERY),
        };
        if let Some(at) = due.filter(|at| *at <= Instant::now()) {
            let data = {
                let state = lock(&shared.state);
                report::render(
                    &shared.layout,
                    &state.entries,
                    &state.views,
                    super::now_ms(),
                )
            };
            emit(data.to_string());
            stats.events.fetch_add(1, Ordering::Relaxed);
            changed = false;
            last_emit = Some(at.max(Instant::now()));
            continue;
        }
        let done = tokio::select! {
            _ = &mut stopped => return,
            () = shared.wake.notified() => continue,
            () = async {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => continue,
            Some(done) = work.next(), if !work.is_empty() => done,
        };
        let mut state = lock(&shared.state);
        match done {
            Done::Child(name, read) => {
                let (again, gone) = f.children.remove(&name).unwrap_or_default();
                match read {
                    _ if gone => {}
                    Ok(Some((data, mzxid))) => {
                        let entry = Entry::parse(&shared.layout, &data, mzxid);
                        let newer = state.entries.get(&name).is_none_or(|e| e.mzxid() <= mzxid);
                        match entry.view() {
                            _ if !newer || state.entries.get(&name) == Some(&entry) => {}
                            // A view no one followed yet: the record waits
                            // for the view's revision, so that no report
                            // shows it behind a revision not read yet.
                            Some(view) if !state.views.contains_key(view) => {
                                let view = view.to_owned();
                                if !f.views.contains_key(&view) {
                                    f.views.insert(view.clone(), false);
                                    work.push(read_view(&view));
                                }
                                f.waiting
                                    .entry(view)
                                    .or_default()
                                    .insert(name.clone(), entry);
                            }
                            _ => {
                                state.entries.insert(name.clone(), entry);
                                changed = true;
                            }
                        }
                    }
                    Ok(None) => changed |= state.entries.remove(&name).is_some(),
                    Err(e) => {
                        // A lost connection ends in a resync and a full read.
                        tracing::debug!(error = %e, "registration read failed");
                    }
                }
                if again && !gone {
                    f.queued.insert(name);
                }
            }
            Done::View(path, read) => {
                let again = f.views.remove(&path).unwrap_or_default();
                match read {
                    Ok(revision) => {
                        let old = state.views.insert(path.clone(), revision);
                        changed |= old != Some(revision);
                    }
                    Err(e) => tracing::debug!(error = %e, "view stat read failed"),
                }
                // Records waiting for this view go in now (as following a
                // view of unknown revision if the read failed).
                for (name, entry) in f.waiting.remove(&path).unwrap_or_default() {
                    if state
                        .entries
                        .get(&name)
                        .is_none_or(|e| e.mzxid() <= entry.mzxid())
                    {
                        state.entries.insert(name, entry);
                        changed = true;
                    }
                }
                if again {
                    f.views.insert(path.clone(), false);
                    work.push(read_view(&path));
                }
            }
            Done::Full(Ok(snapshot)) => {
                f.full_running = false;
                let mut entries = snapshot.entries;
                for name in f.tombstones.drain() {
                    entries.remove(&name);
                }
                state.entries = entries;
                state.views = snapshot.views;
                state.ready = true;
                changed = true;
                let views: Vec<String> = f.queued_views.drain().collect();
                drop(state);
                lock(&shared.inbox).views.extend(views);
                if std::mem::take(&mut f.full_again) {
                    f.full_running = true;
                    work.push(read_full(Duration::ZERO));
                }
            }
            Done::Full(Err(e)) => {
                tracing::warn!(service = %shared.layout.service(), error = %e, "cannot read the client registry; retrying");
                work.push(read_full(RETRY));
            }
        }
    }
}
