//! The live config store: the current [`Snapshot`] in an `ArcSwap`, a
//! tokio `watch` channel of snapshots, and change callbacks.
//!
//! Reads load the `ArcSwap` (no lock, no allocation, no await); the one
//! writer (the client's driver task, or [`crate::TestData`]) publishes a new
//! snapshot with [`Store::publish`], which notifies subscribers and
//! callbacks once per snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::Config;

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

/// Shared between a client's handles and its driver; see the module docs.
pub(crate) struct Store {
    current: ArcSwap<Snapshot>,
    changes: watch::Sender<Arc<Snapshot>>,
    callbacks: Mutex<Vec<(u64, Callback)>>,
    next_callback: AtomicU64,
    /// Switch reads that fell back to off (missing key or wrong type).
    pub(crate) switch_misses: AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("current", &self.current.load().revision)
            .finish_non_exhaustive()
    }
}

impl Store {
    pub(crate) fn new(initial: Snapshot) -> Arc<Self> {
        let initial = Arc::new(initial);
        let (changes, _) = watch::channel(initial.clone());
        Arc::new(Self {
            current: ArcSwap::new(initial),
            changes,
            callbacks: Mutex::new(Vec::new()),
            next_callback: AtomicU64::new(0),
            switch_misses: AtomicU64::new(0),
        })
    }

    /// The current snapshot, for short reads (no allocation).
    #[inline]
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The current snapshot, to keep.
    pub(crate) fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Makes `snapshot` current without telling anyone: for a new revision
    /// whose config equals the current one.
    pub(crate) fn replace_quietly(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        self.current.store(snapshot.clone());
        self.changes.send_if_modified(|current| {
            *current = snapshot;
            false
        });
    }

    /// Makes `snapshot` current and tells subscribers and callbacks.
    pub(crate) fn publish(&self, snapshot: Snapshot) {
        let snapshot = Arc::new(snapshot);
        self.current.store(snapshot.clone());
        self.changes.send_replace(snapshot.clone());
        let callbacks: Vec<Callback> = self
            .callbacks
            .lock()
            .expect("callbacks never panic while the lock is held")
            .iter()
            .map(|(_, c)| c.clone())
            .collect();
        for callback in callbacks {
            // A panicking callback must not take the client down with it.
            let called =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| callback(&snapshot)));
            if called.is_err() {
                tracing::error!("a change callback panicked; the client goes on");
            }
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.changes.subscribe()
    }

    pub(crate) fn add_callback(self: &Arc<Self>, callback: Callback) -> CallbackGuard {
        let id = self.next_callback.fetch_add(1, Ordering::Relaxed);
        self.callbacks
            .lock()
            .expect("callbacks never panic while the lock is held")
            .push((id, callback));
        CallbackGuard {
            store: Arc::downgrade(self),
            id,
        }
    }

    pub(crate) fn count_switch_miss(&self) {
        self.switch_misses.fetch_add(1, Ordering::Relaxed);
    }
}

/// Keeps a callback registered with [`crate::JonesClient::on_change`];
/// dropping it unregisters the callback.
#[must_use = "the callback is unregistered when the guard is dropped"]
#[derive(Debug)]
pub struct CallbackGuard {
    store: std::sync::Weak<Store>,
    id: u64,
}

impl Drop for CallbackGuard {
    fn drop(&mut self) {
        if let Some(store) = self.store.upgrade() {
            if let Ok(mut callbacks) = store.callbacks.lock() {
                callbacks.retain(|(id, _)| *id != self.id);
            }
        }
    }
}
