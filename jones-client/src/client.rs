//! [`JonesClient`]: the live config of one service as an app sees it.
//!
//! Reads ([`JonesClient::get`], the switches, [`JonesClient::snapshot`])
//! load the current snapshot from an `ArcSwap`: they never block, await,
//! lock or fail, and reading a boolean or a number allocates nothing.
//! Everything else happens in the background driver (see `driver.rs`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::builder::JonesClientBuilder;
use crate::session::SessionState;
use crate::status::DataHealth;
use crate::store::{CallbackGuard, Store};
use crate::{Config, Error, Snapshot, Status, switches};

/// The live config of one service; see the crate docs for a tour.
///
/// Cloning is cheap and every clone reads the same live config. The
/// background tasks stop at [`JonesClient::close`], or when the last clone
/// is dropped.
///
/// ```no_run
/// # async fn demo() -> Result<(), jones_client::Error> {
/// let client = jones_client::JonesClient::connect("127.0.0.1:2181", "web").await?;
/// let workers: u32 = client.get_or("workers", 4);
/// if client.enabled("new_checkout") { /* ... */ }
/// let mut changes = client.subscribe();
/// while changes.changed().await.is_ok() {
///     println!("now at {:?}", changes.borrow().revision);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JonesClient {
    pub(crate) inner: Arc<Inner>,
}

/// State shared by the clones of a client.
pub(crate) struct Inner {
    pub(crate) store: Arc<Store>,
    pub(crate) health: Arc<DataHealth>,
    /// The session's state; `None` for clients not fed by ZooKeeper.
    pub(crate) session: Option<watch::Receiver<SessionState>>,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) driver: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.get_mut().ok().and_then(Option::take) {
            driver.abort();
        }
    }
}

impl fmt::Debug for JonesClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.inner.store.load();
        f.debug_struct("JonesClient")
            .field("view_path", &snapshot.view_path)
            .field("revision", &snapshot.revision)
            .finish_non_exhaustive()
    }
}

impl JonesClient {
    /// Connects to ZooKeeper (`host:port[,host:port...][/chroot]`) and
    /// returns once the first config of `service` is loaded, with the
    /// defaults of [`JonesClientBuilder`] (association: this host's fully
    /// qualified name).
    pub async fn connect(zk: &str, service: &str) -> Result<Self, Error> {
        Self::builder(service).zk(zk).build().await
    }

    /// A builder for the other settings.
    pub fn builder(service: &str) -> JonesClientBuilder {
        JonesClientBuilder::new(service)
    }

    /// A client serving `config` and never changing, without ZooKeeper: for
    /// tests of apps and benchmarks. [`crate::TestData`] makes one that changes.
    ///
    /// ```
    /// let config = jones_client::parse_config(br#"{"workers": 8, "beta": true}"#).unwrap();
    /// let client = jones_client::JonesClient::from_config(config);
    /// assert_eq!(client.get::<u32>("workers"), Some(8));
    /// assert!(client.enabled("beta"));
    /// ```
    pub fn from_config(config: Config) -> Self {
        Self::detached(Store::new(Snapshot::detached(config)))
    }

    pub(crate) fn detached(store: Arc<Store>) -> Self {
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                store,
                health: Arc::new(DataHealth::default()),
                session: None,
                shutdown,
                driver: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The value of `key` as a `T`; `None` when the key is missing or its
    /// value is not a `T`. Never blocks or fails.
    #[inline]
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        let snapshot = self.inner.store.load();
        T::deserialize(snapshot.config.get(key)?).ok()
    }

    /// The value of `key` as a `T`, or `default`.
    #[inline]
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> T {
        self.get(key).unwrap_or(default)
    }

    /// Whether the config has `key`.
    #[inline]
    pub fn contains(&self, key: &str) -> bool {
        self.inner.store.load().config.contains_key(key)
    }

    /// The whole current config with its revision, for consistent reads of
    /// several keys. Keep it as long as needed; it never changes.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.inner.store.load_full()
    }

    /// A receiver of snapshots: `changed()` fires once per new config (a
    /// new revision of the view with other content, or another view after
    /// the host moved).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.inner.store.subscribe()
    }

    /// Calls `callback` with each new snapshot until the returned guard is
    /// dropped. It runs on the client's task: keep it short, hand long work
    /// to another task.
    pub fn on_change(
        &self,
        callback: impl Fn(&Arc<Snapshot>) + Send + Sync + 'static,
    ) -> CallbackGuard {
        self.inner.store.add_callback(Arc::new(callback))
    }

    /// Feature toggle: on iff `flag` is the boolean `true`. A missing key or
    /// another type reads as off and counts as a switch miss.
    ///
    /// ```
    /// let client = jones_client::JonesClient::from_config(
    ///     jones_client::parse_config(br#"{"new_ui": true, "typo": "yes"}"#).unwrap());
    /// assert!(client.enabled("new_ui"));
    /// assert!(!client.enabled("typo") && !client.enabled("absent"));
    /// assert_eq!(client.switch_misses(), 2);
    /// ```
    #[inline]
    pub fn enabled(&self, flag: &str) -> bool {
        let snapshot = self.inner.store.load();
        self.count(switches::enabled(&snapshot.config, flag))
    }

    /// Sticky percentage rollout: on iff `unit`'s bucket for `flag` is below
    /// the percentage stored at `flag` (see [`crate::switches`] for the hash
    /// and test vectors). Raising the percentage never turns a unit off.
    ///
    /// ```
    /// let client = jones_client::JonesClient::from_config(
    ///     jones_client::parse_config(br#"{"pct_new_queue": 100}"#).unwrap());
    /// assert!(client.percentage("pct_new_queue", 42));
    /// assert!(client.percentage("pct_new_queue", "user-17"));
    /// ```
    #[inline]
    pub fn percentage(&self, flag: &str, unit: impl fmt::Display) -> bool {
        let snapshot = self.inner.store.load();
        self.count(switches::percentage(&snapshot.config, flag, unit))
    }

    /// Bucket list: on iff `id % buckets` is in the list, where
    /// `buckets_key` holds the bucket count and `enabled_for_key` the list.
    ///
    /// ```
    /// let client = jones_client::JonesClient::from_config(
    ///     jones_client::parse_config(br#"{"buckets": 10, "enabled_for": [0, 3]}"#).unwrap());
    /// assert!(client.in_buckets("buckets", "enabled_for", 13));
    /// assert!(!client.in_buckets("buckets", "enabled_for", 14));
    /// ```
    #[inline]
    pub fn in_buckets(&self, buckets_key: &str, enabled_for_key: &str, id: u64) -> bool {
        let snapshot = self.inner.store.load();
        self.count(switches::in_buckets(
            &snapshot.config,
            buckets_key,
            enabled_for_key,
            id,
        ))
    }

    #[inline]
    fn count(&self, result: Result<bool, switches::Miss>) -> bool {
        result.unwrap_or_else(|_| {
            self.inner.store.count_switch_miss();
            false
        })
    }

    /// Switch reads that fell back to off (missing key or wrong type).
    pub fn switch_misses(&self) -> u64 {
        self.inner.store.switch_misses.load(Ordering::Relaxed)
    }

    /// Connection, staleness, last error and revision.
    pub fn status(&self) -> Status {
        let snapshot = self.inner.store.load();
        let (problem, problem_since) = self.inner.health.get();
        let (connected, disconnected_since, session_error, sessions) = match &self.inner.session {
            Some(session) => {
                let s = session.borrow();
                (
                    s.connected,
                    s.disconnected_since,
                    (!s.connected).then(|| s.last_error.clone()).flatten(),
                    s.generation,
                )
            }
            None => (false, None, None, 0),
        };
        let stale_since = match (problem_since, disconnected_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let last_error = match (problem, session_error) {
            (Some(p), Some(s)) => Some(format!("{p}; {s}")),
            (p, s) => p.or(s),
        };
        Status {
            connected,
            stale_since,
            last_error,
            revision: snapshot.revision,
            view_path: snapshot.view_path.clone(),
            from_cache: snapshot.from_cache,
            sessions,
            switch_misses: self.switch_misses(),
        }
    }

    /// Stops every background task (watchers, session) and waits until they
    /// have stopped. Reads keep serving the last config.
    pub async fn close(&self) {
        self.inner.shutdown.send_replace(true);
        let driver = self.inner.driver.lock().expect("never poisoned").take();
        if let Some(driver) = driver {
            let _ = driver.await;
        }
    }
}
