//! [`JonesClient`]: the live config of one service as an app sees it.
//!
//! Reads ([`JonesClient::get`], the switches, [`JonesClient::snapshot`])
//! load the current snapshot from an `ArcSwap`: they never block, await,
//! lock or fail, and reading a boolean or a number allocates nothing.
//! Everything else happens in the background driver (see `driver.rs`).

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::builder::JonesClientBuilder;
use crate::stats::Counters;
use crate::status::Health;
use crate::store::{CallbackGuard, Store};
use crate::{
    ClientStats, Config, Detail, Error, Reason, Setting, Snapshot, Status, Switch, switches,
};

/// The live config of one service; see the crate docs for a tour.
///
/// Cloning is cheap and every clone reads the same live config. The
/// background tasks stop, the ZooKeeper session closes, and every
/// subscriber stream and callback ends at [`JonesClient::close`], or when
/// the last clone is dropped.
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
    pub(crate) health: Arc<Health>,
    /// Traffic counters and the registration, shared with the driver.
    pub(crate) counters: Arc<Counters>,
    pub(crate) shutdown: watch::Sender<bool>,
    /// The driver task of a live client; `None` for clients not fed by
    /// ZooKeeper, and once closed.
    pub(crate) driver: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The driver stops by itself: it closes the session, then the
        // streams. Nothing can be awaited here.
        self.shutdown.send_replace(true);
        let driver = self.driver.get_mut().ok().and_then(Option::take);
        if driver.is_none() {
            self.health.close();
            self.store.close();
        }
    }
}

impl fmt::Debug for JonesClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.inner.store.load_full();
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
                health: Health::new(store.clone(), None),
                store,
                counters: Arc::default(),
                shutdown,
                driver: std::sync::Mutex::new(None),
            }),
        }
    }

    /// The value of `key` as a `T`; `None` when the key is missing or its
    /// value is not a `T`. Never blocks or fails.
    #[inline]
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.inner
            .store
            .read(|snapshot| T::deserialize(snapshot.config.get(key)?).ok())
    }

    /// The value of `key` as a `T`, or `default`.
    #[inline]
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> T {
        self.get(key).unwrap_or(default)
    }

    /// The value of `key` as a `T`, or `default`, with the reason and the
    /// revision read.
    ///
    /// ```
    /// use jones_client::{JonesClient, Reason, parse_config};
    /// let client = JonesClient::from_config(parse_config(br#"{"timeout_ms": 250}"#).unwrap());
    /// let timeout = client.get_detail("timeout_ms", 1000u64);
    /// assert_eq!((timeout.value, timeout.reason), (250, Reason::Found));
    /// ```
    #[inline]
    pub fn get_detail<T: DeserializeOwned>(&self, key: &str, default: T) -> Detail<T> {
        self.inner.store.read(|snapshot| {
            let (value, found) = match snapshot.config.get(key) {
                None => (default, Err(Reason::Missing)),
                Some(value) => match T::deserialize(value) {
                    Ok(value) => (value, Ok(())),
                    Err(_) => (default, Err(Reason::WrongType)),
                },
            };
            self.detail(value, found, snapshot)
        })
    }

    #[inline]
    fn detail<T>(&self, value: T, found: Result<(), Reason>, snapshot: &Snapshot) -> Detail<T> {
        let store = &self.inner.store;
        Detail {
            value,
            reason: Reason::of(found, store.is_ready(), store.is_stale()),
            revision: snapshot.revision,
        }
    }

    /// A live typed handle on `key` for hot paths: its value is converted
    /// when the config changes, so each read is an atomic load. See
    /// [`Setting`].
    pub fn setting<T>(&self, key: &str, default: T) -> Setting<T>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        Setting::new(&self.inner.store, key, default)
    }

    /// A live handle on the toggle `flag` (off when missing or not a
    /// boolean) for hot paths; see [`Switch`].
    pub fn switch(&self, flag: &str) -> Switch {
        Switch::new(&self.inner.store, flag, false)
    }

    /// A live handle on the toggle `flag` that reads as `default` when it is
    /// missing or not a boolean: `true` for kill switches.
    pub fn switch_or(&self, flag: &str, default: bool) -> Switch {
        Switch::new(&self.inner.store, flag, default)
    }

    /// Whether the config has `key`.
    #[inline]
    pub fn contains(&self, key: &str) -> bool {
        self.inner
            .store
            .read(|snapshot| snapshot.config.contains_key(key))
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

    /// Calls `callback` with each new snapshot, in order, until the returned
    /// guard is dropped or the client is closed. The guard holds the
    /// snapshot current at registration ([`CallbackGuard::current`]); the
    /// callback gets exactly the ones after it. Callbacks of a live client
    /// run on a thread of their own, never on the task that follows
    /// ZooKeeper: a slow callback delays the callbacks after it, not the
    /// config. (Callbacks of a [`crate::TestData`] client run in `update`.)
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
        let result = self
            .inner
            .store
            .read(|snapshot| switches::enabled(&snapshot.config, flag));
        self.count(result)
    }

    /// Feature toggle that reads as `default` when `flag` is missing or not
    /// a boolean (a switch miss): `enabled_or(flag, true)` is a kill switch
    /// that stays on unless set to `false`.
    ///
    /// ```
    /// let client = jones_client::JonesClient::from_config(
    ///     jones_client::parse_config(br#"{"recommendations": false}"#).unwrap());
    /// assert!(!client.enabled_or("recommendations", true));
    /// assert!(client.enabled_or("search_suggestions", true));
    /// ```
    #[inline]
    pub fn enabled_or(&self, flag: &str, default: bool) -> bool {
        let result = self
            .inner
            .store
            .read(|snapshot| switches::enabled(&snapshot.config, flag));
        self.count_or(result, default)
    }

    /// [`Self::enabled_or`] with the reason and the revision read.
    ///
    /// ```
    /// use jones_client::{JonesClient, Reason, parse_config};
    /// let client = JonesClient::from_config(parse_config(br#"{"beta": "yes"}"#).unwrap());
    /// let beta = client.enabled_detail("beta", false);
    /// assert_eq!((beta.value, beta.reason), (false, Reason::WrongType));
    /// ```
    #[inline]
    pub fn enabled_detail(&self, flag: &str, default: bool) -> Detail<bool> {
        self.inner.store.read(|snapshot| {
            let result = switches::enabled(&snapshot.config, flag);
            self.switch_detail(result, default, snapshot)
        })
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
        let result = self
            .inner
            .store
            .read(|snapshot| switches::percentage(&snapshot.config, flag, unit));
        self.count(result)
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
        let result = self.inner.store.read(|snapshot| {
            switches::in_buckets(&snapshot.config, buckets_key, enabled_for_key, id)
        });
        self.count(result)
    }

    /// [`Self::percentage`] with the reason and the revision read; a
    /// missing flag or one that is not a percentage from 0 to 100 reads as
    /// `default`.
    ///
    /// ```
    /// use jones_client::{JonesClient, Reason, parse_config};
    /// let client = JonesClient::from_config(parse_config(br#"{"pct": 100, "bad": "x"}"#).unwrap());
    /// assert_eq!(client.percentage_detail("pct", "user-17", false).reason, Reason::Found);
    /// let bad = client.percentage_detail("bad", "user-17", true);
    /// assert_eq!((bad.value, bad.reason), (true, Reason::WrongType));
    /// ```
    #[inline]
    pub fn percentage_detail(
        &self,
        flag: &str,
        unit: impl fmt::Display,
        default: bool,
    ) -> Detail<bool> {
        self.inner.store.read(|snapshot| {
            let result = switches::percentage(&snapshot.config, flag, unit);
            self.switch_detail(result, default, snapshot)
        })
    }

    /// [`Self::in_buckets`] with the reason and the revision read; a
    /// missing or malformed bucket count or list reads as `default`.
    ///
    /// ```
    /// use jones_client::{JonesClient, Reason, parse_config};
    /// let client = JonesClient::from_config(
    ///     parse_config(br#"{"buckets": 10, "enabled_for": [0, 3]}"#).unwrap());
    /// let on = client.in_buckets_detail("buckets", "enabled_for", 13, false);
    /// assert_eq!((on.value, on.reason), (true, Reason::Found));
    /// let missing = client.in_buckets_detail("shards", "enabled_for", 13, true);
    /// assert_eq!((missing.value, missing.reason), (true, Reason::Missing));
    /// ```
    #[inline]
    pub fn in_buckets_detail(
        &self,
        buckets_key: &str,
        enabled_for_key: &str,
        id: u64,
        default: bool,
    ) -> Detail<bool> {
        self.inner.store.read(|snapshot| {
            let result = switches::in_buckets(&snapshot.config, buckets_key, enabled_for_key, id);
            self.switch_detail(result, default, snapshot)
        })
    }

    /// An evaluation of its own over one snapshot, with the reason and the
    /// revision as the other `*_detail` reads give them: `read` returns
    /// the value, or why the default is used ([`Reason::Missing`],
    /// [`Reason::WrongType`]). For evaluations that look at several keys,
    /// or at one key in several ways, and must see a single config.
    ///
    /// ```
    /// use jones_client::{JonesClient, Reason, parse_config};
    /// let client = JonesClient::from_config(parse_config(br#"{"limit": 5, "burst": 2}"#).unwrap());
    /// let total = client.read_detail(0, |config| {
    ///     let n = |k: &str| config.get(k).and_then(|v| v.as_u64()).ok_or(Reason::Missing);
    ///     Ok(n("limit")? + n("burst")?)
    /// });
    /// assert_eq!((total.value, total.reason), (7, Reason::Found));
    /// ```
    #[inline]
    pub fn read_detail<T>(
        &self,
        default: T,
        read: impl FnOnce(&Config) -> Result<T, Reason>,
    ) -> Detail<T> {
        self.inner
            .store
            .read(|snapshot| match read(&snapshot.config) {
                Ok(value) => self.detail(value, Ok(()), snapshot),
                Err(reason) => self.detail(default, Err(reason), snapshot),
            })
    }

    #[inline]
    fn count(&self, result: Result<bool, switches::Miss>) -> bool {
        self.count_or(result, false)
    }

    #[inline]
    fn count_or(&self, result: Result<bool, switches::Miss>, default: bool) -> bool {
        result.unwrap_or_else(|_| {
            self.inner.store.count_switch_miss();
            default
        })
    }

    #[inline]
    fn switch_detail(
        &self,
        result: Result<bool, switches::Miss>,
        default: bool,
        snapshot: &Snapshot,
    ) -> Detail<bool> {
        match result {
            Ok(on) => self.detail(on, Ok(()), snapshot),
            Err(miss) => {
                self.inner.store.count_switch_miss();
                self.detail(default, Err(miss.into()), snapshot)
            }
        }
    }

    /// Switch reads that fell back to off (missing key or wrong type).
    pub fn switch_misses(&self) -> u64 {
        self.inner.store.switch_misses()
    }

    /// Connection, staleness, read errors with their causes, and the
    /// revision served.
    ///
    /// ```
    /// let client = jones_client::JonesClient::from_config(Default::default());
    /// let status = client.status();
    /// assert!(status.errors.is_empty() && status.stale_for().is_none());
    /// ```
    pub fn status(&self) -> Status {
        self.inner.health.status()
    }

    /// A receiver of the status: `changed()` fires when the connection, an
    /// error, staleness or the revision served changes (not for switch
    /// misses alone), and fails once the client is closed. For health
    /// checks and readiness probes.
    ///
    /// ```no_run
    /// # async fn demo(client: jones_client::JonesClient) {
    /// let mut status = client.subscribe_status();
    /// while status.changed().await.is_ok() {
    ///     let s = status.borrow_and_update().clone();
    ///     if let Some(error) = s.errors.first() {
    ///         eprintln!("config stale for {:?}: {:?} {}", s.stale_for(), error.cause, error.message);
    ///     }
    /// }
    /// # }
    /// ```
    pub fn subscribe_status(&self) -> watch::Receiver<Status> {
        self.inner.health.subscribe()
    }

    /// Counters of this client's traffic with ZooKeeper since it started:
    /// watch notifications, read requests, bytes read, registry writes.
    /// See [`ClientStats`].
    ///
    /// ```
    /// let client = jones_client::JonesClient::from_config(Default::default());
    /// assert_eq!(client.stats().reads, 0);
    /// ```
    pub fn stats(&self) -> ClientStats {
        self.inner.counters.snapshot()
    }

    /// The path of this client's registration znode
    /// (`/services/{svc}/clients/c{session id in hex}`) while it is registered:
    /// `None` before the first config, with
    /// [`JonesClientBuilder::register`]`(false)`, for a service without a
    /// `clients` directory, and for clients not fed by ZooKeeper. A new
    /// session (after expiry) registers anew, under a new path.
    ///
    /// ```
    /// let client = jones_client::JonesClient::from_config(Default::default());
    /// assert_eq!(client.registration(), None);
    /// ```
    pub fn registration(&self) -> Option<String> {
        self.inner.counters.registration()
    }

    /// Whether [`Self::close`] was called: nothing is followed any more
    /// (reads serve the last config).
    pub fn is_closed(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Whether a config read from ZooKeeper has been served (always true
    /// for clients not fed by ZooKeeper). A client made with
    /// [`JonesClientBuilder::start`] serves its defaults (or the cache)
    /// until then.
    pub fn is_ready(&self) -> bool {
        self.inner.store.is_ready()
    }

    /// Waits until the client [`is ready`](Self::is_ready), at most
    /// `timeout`.
    ///
    /// # Errors
    /// [`Error::StartTimeout`] naming what the client is waiting for (the
    /// read errors of [`Self::status`]) when `timeout` passes first;
    /// [`Error::Closed`] when the client is closed first.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), jones_client::Error> {
    /// let client = jones_client::JonesClient::builder("web").zk("127.0.0.1:2181").start()?;
    /// // serving defaults; later:
    /// client.wait_ready(std::time::Duration::from_secs(2)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn wait_ready(&self, timeout: std::time::Duration) -> Result<(), Error> {
        let mut status = self.subscribe_status();
        let waited = tokio::time::timeout(timeout, async {
            loop {
                if self.is_ready() {
                    return Ok(());
                }
                if status.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        })
        .await;
        match waited {
            Ok(outcome) => outcome,
            Err(_) if self.is_ready() => Ok(()),
            Err(_) => {
                let status = self.status();
                let reason = status.last_error.unwrap_or_else(|| {
                    if status.connected {
                        "connected, but the nodemap and view were not read yet".into()
                    } else {
                        "not connected to ZooKeeper yet".into()
                    }
                });
                Err(Error::StartTimeout {
                    waited: timeout,
                    reason,
                })
            }
        }
    }

    /// Stops following ZooKeeper: closes the session and waits until the
    /// server has closed it, then ends every subscriber stream (`changed()`
    /// returns an error), the status stream and the callbacks. Reads keep
    /// serving the last config. Dropping the last clone does the same
    /// without waiting.
    pub async fn close(&self) {
        self.inner.shutdown.send_replace(true);
        let driver = self.inner.driver.lock().expect("never poisoned").take();
        if let Some(driver) = driver {
            let _ = driver.await;
        }
        self.inner.health.close();
        self.inner.store.close();
    }
}
