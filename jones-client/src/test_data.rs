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
/// ```
/// use jones_client::{TestData, parse_config};
/// let data = TestData::new(parse_config(br#"{"beta": false}"#).unwrap());
/// let client = data.client();
/// assert!(!client.enabled("beta"));
/// data.update(parse_config(br#"{"beta": true}"#).unwrap());
/// assert!(client.enabled("beta"));
/// assert_eq!(client.snapshot().revision.unwrap().version, 1);
/// ```
#[derive(Debug)]
pub struct TestData {
    store: Arc<Store>,
    client: JonesClient,
    version: AtomicI64,
}

impl TestData {
    /// Starts with `config` at version 0.
    pub fn new(config: Config) -> Self {
        let store = Store::new(snapshot(config, 0));
        Self {
            client: JonesClient::detached(store.clone()),
            store,
            version: AtomicI64::new(0),
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
