//! The live config store: the current [`Snapshot`], published to readers, a
//! tokio `watch` channel of snapshots, and change callbacks.
//!
//! Reads go through [`Published`] (no lock, no allocation, no await:
//! an atomic load and a thread-local lookup); the one
//! writer (the client's driver task, or [`crate::TestData`]) publishes a new
//! snapshot with [`Store::publish`], which notifies subscribers and
//! callbacks once per snapshot.
//!
//! Callbacks run on a thread of their own (started with the first
//! callback), fed in order through a queue: a slow callback delays the
//! callbacks after it, never the driver, so following the nodemap and the
//! view goes on. Each published snapshot carries a sequence number, and a
//! callback registered at number `n` is called with the snapshots after
//! `n` only: none is missed and none delivered twice, whatever is still
//! queued when it registers. [`Store::close`] ends the subscriber streams
//! (their `changed()` returns an error) and the callback thread; nothing is
//! published after it.
//!
//! Typed handles ([`crate::Setting`], [`crate::Switch`]) are refreshed in
//! the publish itself, under the publishers' lock, before subscribers hear
//! of the new snapshot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use tokio::sync::watch;

use crate::Config;
use crate::published::Published;

/// Which revision of which view a config is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    /// The zxid of the transaction that last wrote the view znode: it orders
    /// revisions of one view.
    pub mzxid: i64,
    /// The view znode's data version.
    pub version: i32,
}

/// One config as the client holds it: the view's JSON object, with where it
/// came from. Consistent multi-key reads take one snapshot and read it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The config (the view's JSON object).
    pub config: Config,
    /// Its revision; `None` for a config that did not come from ZooKeeper
    /// (the empty initial snapshot, [`crate::TestData`]).
    pub revision: Option<Revision>,
    /// The view znode it was read from (empty when not from ZooKeeper).
    pub view_path: String,
    /// Whether it was served from the local fallback cache file.
    pub from_cache: bool,
}

impl Snapshot {
    /// A snapshot of `config` that did not come from ZooKeeper.
    pub fn detached(config: Config) -> Self {
        Self {
            config,
            revision: None,
            view_path: String::new(),
            from_cache: false,
        }
    }

    /// The environment whose view this is, when it came from a view znode.
    ///
    /// ```
    /// let mut snapshot = jones_client::Snapshot::detached(Default::default());
    /// snapshot.view_path = "/services/web/views/prod/eu".into();
    /// assert_eq!(snapshot.env().unwrap().as_str(), "prod/eu");
    /// ```
    pub fn env(&self) -> Option<crate::EnvPath> {
        let rest = self
            .view_path
            .strip_prefix(crate::SERVICES_ROOT)?
            .strip_prefix('/')?;
        let service = rest.split('/').next()?;
        let layout = crate::ServiceLayout::new(crate::ServiceName::new(service).ok()?);
        layout.env_of_view_path(&self.view_path).ok()
    }

    /// The value of `key` deserialized as `T`; `None` when it is missing or
    /// of another type.
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        T::deserialize(self.config.get(key)?).ok()
    }
}

type Callback = Arc<dyn Fn(&Arc<Snapshot>) + Send + Sync>;

/// A registered callback: its id, and the sequence number of the snapshot
/// current when it registered (it is called with later ones only).
struct Registered {
    id: u64,
    after: u64,
    callback: Callback,
}

type Callbacks = Arc<Mutex<Vec<Registered>>>;

/// The callback thread's queue: snapshots with their sequence numbers.
type Dispatch = mpsc::Sender<(u64, Arc<Snapshot>)>;

/// A typed handle kept current by the store ([`crate::Setting`], [`crate::Switch`]).
pub(crate) trait Refresh: Send + Sync {
    /// Takes the value it follows from the new snapshot.
    fn refresh(&self, snapshot: &Snapshot);
}

/// Shared between a client's handles and its driver; see the module docs.
pub(crate) struct Store {
    current: Published<Snapshot>,
    /// Publishers and the subscriber stream; `None` once closed. The lock
    /// orders publishers, never readers.
    changes: Mutex<Option<watch::Sender<Arc<Snapshot>>>>,
    callbacks: Callbacks,
    /// The queue of the callback thread, once there is one.
    dispatch: Mutex<Option<Dispatch>>,
    next_callback: AtomicU64,
    /// The sequence number of the current snapshot; moves under the
    /// publishers' lock.
    sequence: AtomicU64,
    /// Typed handles to refresh at each publish; dropped ones are pruned.
    handles: Mutex<Vec<std::sync::Weak<dyn Refresh>>>,
    /// Whether a config read from ZooKeeper (not the cache) was published,
    /// or the store is not fed by ZooKeeper at all.
    ready: AtomicBool,
    /// Whether the served config may be out of date; set by
    /// [`crate::status`] whenever the status changes.
    stale: AtomicBool,
    /// Whether callbacks run on their own thread (live clients) or in
    /// [`Store::publish`] (configs pushed by tests, which expect them done
    /// when the push returns).
    threaded: bool,
    /// Switch reads that fell back to off (missing key or wrong type).
    switch_misses: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("current", &self.current.load_full().revision)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A store fed by a test or a fixed config: ready from the start, its
    /// callbacks run in [`Store::publish`].
    pub(crate) fn new(initial: Snapshot) -> Arc<Self> {
        Self::with_callbacks(initial, false)
    }

    /// A store fed by ZooKeeper: ready once a live config is published,
    /// its callbacks run on their own thread, off the publisher.
    pub(crate) fn threaded(initial: Snapshot) -> Arc<Self> {
        Self::with_callbacks(initial, true)
    }

    fn with_callbacks(initial: Snapshot, threaded: bool) -> Arc<Self> {
        let initial = Arc::new(initial);
        let (changes, _) = watch::channel(initial.clone());
        Arc::new(Self {
            current: Published::new(initial),
            changes: Mutex::new(Some(changes)),
            callbacks: Arc::default(),
            dispatch: Mutex::new(None),
            next_callback: AtomicU64::new(0),
            sequence: AtomicU64::new(0),
            handles: Mutex::new(Vec::new()),
            ready: AtomicBool::new(!threaded),
            stale: AtomicBool::new(false),
            threaded,
            switch_misses: AtomicU64::new(0),
        })
    }

    /// Calls `read` with the current snapshot: the read path (no lock, no
    /// allocation).
    #[inline]
    pub(crate) fn read<R>(&self, read: impl FnOnce(&Snapshot) -> R) -> R {
        self.current.read(read)
    }

    /// The current snapshot, to keep.
    pub(crate) fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Makes `snapshot` current without telling anyone: for a new revision
    /// whose config equals the current one.
    pub(crate) fn replace_quietly(&self, snapshot: Snapshot) {
        let changes = self.changes.lock().expect("never poisoned");
        let Some(changes) = changes.as_ref() else {
            return;
        };
        self.mark_ready(&snapshot);
        let snapshot = Arc::new(snapshot);
        self.current.store(snapshot.clone());
        self.refresh_handles(&snapshot);
        changes.send_if_modified(|current| {
            *current = snapshot;
            false
        });
    }

    /// Makes `snapshot` current and tells subscribers and callbacks.
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        self.publish_if(snapshot, |_| true);
    }

    /// Publishes `snapshot` if `wanted(current)` holds, atomically with
    /// respect to other publishers; returns whether it did.
    pub(crate) fn publish_if(
        &self,
        snapshot: Snapshot,
        wanted: impl FnOnce(&Snapshot) -> bool,
    ) -> bool {
        let snapshot = Arc::new(snapshot);
        let sequence = {
            let changes = self.changes.lock().expect("never poisoned");
            let Some(changes) = changes.as_ref() else {
                return false;
            };
            if !wanted(&self.current.load_full()) {
                return false;
            }
            self.mark_ready(&snapshot);
            self.current.store(snapshot.clone());
            self.refresh_handles(&snapshot);
            let sequence = self.sequence.fetch_add(1, Ordering::Relaxed) + 1;
            changes.send_replace(snapshot.clone());
            // Queued under the same lock: callbacks see snapshots in the
            // order they were published.
            if let Some(dispatch) = self.dispatch.lock().expect("never poisoned").as_ref() {
                let _ = dispatch.send((sequence, snapshot.clone()));
            }
            sequence
        };
        if !self.threaded {
            call_all(&self.callbacks, sequence, &snapshot);
        }
        true
    }

    fn mark_ready(&self, snapshot: &Snapshot) {
        if snapshot.revision.is_some() && !snapshot.from_cache {
            self.ready.store(true, Ordering::Relaxed);
        }
    }

    fn refresh_handles(&self, snapshot: &Snapshot) {
        self.handles
            .lock()
            .expect("never poisoned")
            .retain(|handle| match handle.upgrade() {
                Some(handle) => {
                    handle.refresh(snapshot);
                    true
                }
                None => false,
            });
    }

    /// Registers a typed handle made from the current snapshot by `make`,
    /// atomically with respect to publishers: it misses no config.
    pub(crate) fn add_handle<H: Refresh + 'static>(
        &self,
        make: impl FnOnce(&Snapshot) -> H,
    ) -> Arc<H> {
        let changes = self.changes.lock().expect("never poisoned");
        let handle = Arc::new(make(&self.current.load_full()));
        if changes.is_some() {
            let weak: std::sync::Weak<dyn Refresh> = Arc::downgrade(&handle) as _;
            self.handles.lock().expect("never poisoned").push(weak);
        }
        handle
    }

    /// Whether a live config was served (always, for a store not fed by
    /// ZooKeeper).
    #[inline]
    pub(crate) fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Whether the served config may be out of date.
    #[inline]
    pub(crate) fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    pub(crate) fn set_stale(&self, stale: bool) {
        self.stale.store(stale, Ordering::Relaxed);
    }

    /// A receiver of snapshots; once closed, one whose `changed()` fails.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        match self.changes.lock().expect("never poisoned").as_ref() {
            Some(changes) => changes.subscribe(),
            None => watch::channel(self.load_full()).1,
        }
    }

    /// Ends the subscriber streams and the callback thread; the current
    /// snapshot stays readable.
    pub(crate) fn close(&self) {
        let _changes = self.changes.lock().expect("never poisoned").take();
        self.dispatch.lock().expect("never poisoned").take();
        self.callbacks.lock().expect("never poisoned").clear();
        self.handles.lock().expect("never poisoned").clear();
    }

    /// Registers `callback` for the snapshots published after the current
    /// one, which the guard keeps.
    pub(crate) fn add_callback(self: &Arc<Self>, callback: Callback) -> CallbackGuard {
        let id = self.next_callback.fetch_add(1, Ordering::Relaxed);
        let changes = self.changes.lock().expect("never poisoned");
        let current = self.current.load_full();
        if changes.is_some() {
            self.callbacks
                .lock()
                .expect("never poisoned")
                .push(Registered {
                    id,
                    after: self.sequence.load(Ordering::Relaxed),
                    callback,
                });
            let mut dispatch = self.dispatch.lock().expect("never poisoned");
            if self.threaded && dispatch.is_none() {
                *dispatch = Some(spawn_dispatcher(self.callbacks.clone()));
            }
        }
        CallbackGuard {
            store: Arc::downgrade(self),
            id,
            current,
        }
    }

    pub(crate) fn count_switch_miss(&self) {
        self.switch_misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn switch_misses(&self) -> u64 {
        self.switch_misses.load(Ordering::Relaxed)
    }
}

/// The callback thread: calls every registered callback with each
/// snapshot, in order, until the store closes its queue.
fn spawn_dispatcher(callbacks: Callbacks) -> Dispatch {
    let (tx, rx) = mpsc::channel::<(u64, Arc<Snapshot>)>();
    let spawned = std::thread::Builder::new()
        .name("jones-callbacks".into())
        .spawn(move || {
            while let Ok((sequence, snapshot)) = rx.recv() {
                call_all(&callbacks, sequence, &snapshot);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the callback thread; callbacks will not run");
    }
    tx
}

/// Calls each callback registered before snapshot number `sequence` with it.
fn call_all(callbacks: &Callbacks, sequence: u64, snapshot: &Arc<Snapshot>) {
    let current: Vec<Callback> = callbacks
        .lock()
        .expect("never poisoned")
        .iter()
        .filter(|r| r.after < sequence)
        .map(|r| r.callback.clone())
        .collect();
    for callback in current {
        // A panicking callback must not take the others, or the client, with it.
        let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(snapshot)));
        if called.is_err() {
            tracing::error!("a change callback panicked; the client goes on");
        }
    }
}

/// Keeps a callback registered with [`crate::JonesClient::on_change`];
/// dropping it unregisters the callback.
#[must_use = "the callback is unregistered when the guard is dropped"]
#[derive(Debug)]
pub struct CallbackGuard {
    store: std::sync::Weak<Store>,
    id: u64,
    current: Arc<Snapshot>,
}

impl CallbackGuard {
    /// The snapshot that was current when the callback was registered: the
    /// callback is called with every snapshot after it, and only those.
    /// Start from it to miss nothing.
    ///
    /// ```
    /// use jones_client::{TestData, parse_config};
    /// let data = TestData::new(parse_config(br#"{"workers": 4}"#).unwrap());
    /// let guard = data.client().on_change(|s| println!("now {:?}", s.config));
    /// assert_eq!(guard.current().get::<u32>("workers"), Some(4));
    /// ```
    pub fn current(&self) -> &Arc<Snapshot> {
        &self.current
    }
}

impl Drop for CallbackGuard {
    fn drop(&mut self) {
        if let Some(store) = self.store.upgrade() {
            if let Ok(mut callbacks) = store.callbacks.lock() {
                callbacks.retain(|r| r.id != self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(n: i64) -> Snapshot {
        let mut snapshot = Snapshot::detached(Config::new());
        snapshot.revision = Some(crate::Revision {
            mzxid: n,
            version: 0,
        });
        snapshot.view_path = "/services/s/views".into();
        snapshot
    }

    /// The start-up cache is published only while nothing live was: a live
    /// config that won the race is never replaced by the cache.
    #[test]
    fn the_cache_never_replaces_a_live_config() {
        let store = Store::threaded(Snapshot::detached(Config::new()));
        store.publish(live(5));
        let mut cached = live(3);
        cached.from_cache = true;
        assert!(!store.publish_if(cached.clone(), |c| c.revision.is_none()));
        assert_eq!(store.load_full().revision, live(5).revision);
        let empty = Store::threaded(Snapshot::detached(Config::new()));
        assert!(empty.publish_if(cached, |c| c.revision.is_none()));
        assert!(empty.load_full().from_cache);
    }

    #[test]
    fn close_ends_subscribers_and_stops_publishing() {
        let store = Store::threaded(Snapshot::detached(Config::new()));
        let mut before = store.subscribe();
        store.close();
        let mut after = store.subscribe();
        assert!(before.has_changed().is_err());
        assert!(after.has_changed().is_err());
        store.publish(live(1));
        assert_eq!(
            store.load_full().revision,
            None,
            "nothing is published after close"
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(rt.block_on(before.changed()).is_err());
        assert!(rt.block_on(after.changed()).is_err());
    }

    /// A callback registered while the callback thread is busy with
    /// earlier snapshots gets none of them: only those after the one its
    /// guard holds.
    #[test]
    fn a_callback_gets_only_the_snapshots_after_its_registration() {
        let store = Store::threaded(Snapshot::detached(Config::new()));
        let (release, blocked) = mpsc::channel::<()>();
        let blocked = Mutex::new(blocked);
        let _slow = store.add_callback(Arc::new(move |_: &Arc<Snapshot>| {
            let _ = blocked.lock().unwrap().recv();
        }));
        for n in 1..=5 {
            store.publish(live(n));
        }
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let guard = store.add_callback(Arc::new(move |s: &Arc<Snapshot>| {
            let _ = tx.lock().unwrap().send(s.revision.unwrap().mzxid);
        }));
        assert_eq!(guard.current().revision.unwrap().mzxid, 5);
        store.publish(live(6));
        for _ in 0..6 {
            release.send(()).unwrap();
        }
        let first = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(first, 6);
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(100))
                .is_err()
        );
    }

    #[test]
    fn threaded_callbacks_see_every_snapshot_in_order() {
        let store = Store::threaded(Snapshot::detached(Config::new()));
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let _guard = store.add_callback(Arc::new(move |s: &Arc<Snapshot>| {
            let _ = tx.lock().unwrap().send(s.revision.unwrap().mzxid);
        }));
        for n in 1..=100 {
            store.publish(live(n));
        }
        let seen: Vec<i64> = (0..100)
            .map(|_| rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(seen, (1..=100).collect::<Vec<_>>());
    }
}
