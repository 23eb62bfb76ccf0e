//! [`TestData`]: a client fed by the test, without ZooKeeper.
//!
//! Apps test their reaction to config changes by pushing configs; the
//! client reads them from the same store a live client uses, so reads,
//! switches, `subscribe` and `on_change` behave exactly as in production.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::store::Store;
use crate::{Config, JonesClient, Revision, Snapshot};

/// The view path of snapshots pushed by [`TestData`].
pub const TEST_DATA_VIEW: &str = "test-data";

/// A source of configs for tests; see the module docs.
///
/// Every change is one new revision, seen by the client before the call
/// returns.
///
/// ```
/// use jones_client::{TestData, parse_config};
/// let data = TestData::new(parse_config(br#"{"beta": false, "workers": 4}"#).unwrap());
/// let client = data.client();
/// assert!(!client.enabled("beta"));
/// data.switch("beta", true);
/// assert!(client.enabled("beta"));
/// data.set("workers", 16);
/// data.percentage("pct_new_queue", 100.0);
/// assert!(client.percentage("pct_new_queue", "user-17"));
/// data.update(parse_config(br#"{"beta": false}"#).unwrap());
/// assert_eq!(client.get::<u32>("workers"), None);
/// assert_eq!(client.snapshot().revision.unwrap().version, 4);
/// ```
#[derive(Debug)]
pub struct TestData {
    store: Arc<Store>,
    client: JonesClient,
    version: AtomicI64,
    /// Orders edits: each reads the config the previous one published.
    edits: std::sync::Mutex<()>,
}

impl TestData {
    /// Starts with `config` at version 0.
    pub fn new(config: Config) -> Self {
        let store = Store::new(snapshot(config, 0));
        Self {
            client: JonesClient::detached(store.clone()),
            store,
            version: AtomicI64::new(0),
            edits: std::sync::Mutex::new(()),
        }
    }

    /// A client reading this data (all clients share it).
    pub fn client(&self) -> JonesClient {
        self.client.clone()
    }

    /// Replaces the config, as a new revision; subscribers and callbacks
    /// see it before this returns.
    pub fn update(&self, config: Config) {
        let version = self.version.fetch_add(1, Ordering::Relaxed) + 1;
        self.store.publish(snapshot(config, version));
    }

    /// Sets one key to `value` (anything serializable), keeping the others.
    ///
    /// # Panics
    /// When `value` does not serialize to JSON (a map with non-string keys).
    pub fn set(&self, key: &str, value: impl serde::Serialize) {
        let value = serde_json::to_value(value)
            .unwrap_or_else(|e| panic!("TestData::set({key:?}): not serializable to JSON: {e}"));
        self.edit(|config| {
            config.insert(key.to_owned(), value);
        });
    }

    /// Removes one key, keeping the others.
    pub fn remove(&self, key: &str) {
        self.edit(|config| {
            config.remove(key);
        });
    }

    /// Turns the toggle `flag` on or off.
    pub fn switch(&self, flag: &str, on: bool) {
        self.set(flag, on);
    }

    /// Sets the rollout percentage (0 to 100) of `flag`.
    pub fn percentage(&self, flag: &str, percent: f64) {
        self.set(flag, percent);
    }

    /// A new revision of the current config changed by `change`, published
    /// as one.
    pub fn edit(&self, change: impl FnOnce(&mut Config)) {
        let _ordered = self.edits.lock().unwrap_or_else(|e| e.into_inner());
        let mut config = self.store.read(|snapshot| snapshot.config.clone());
        change(&mut config);
        self.update(config);
    }
}

fn snapshot(config: Config, version: i64) -> Snapshot {
    Snapshot {
        config,
        revision: Some(Revision {
            mzxid: version,
            version: i32::try_from(version).unwrap_or(i32::MAX),
        }),
        view_path: TEST_DATA_VIEW.to_owned(),
        from_cache: false,
    }
}
