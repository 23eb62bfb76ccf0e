#![warn(missing_docs)]
//! Live configuration from Jones on Apache ZooKeeper.
//!
//! Jones keeps each service's configuration as a tree of environments in
//! ZooKeeper; every environment inherits its parents' keys, and the server
//! materializes each environment's inherited *view* so a client reads one
//! znode and never computes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), jones_client::Error> {
//! use jones_client::JonesClient;
//! let client = JonesClient::connect("127.0.0.1:2181", "web").await?;
//! let timeout_ms: u64 = client.get_or("timeout_ms", 250);
//! if client.percentage("pct_new_queue", "user-17") { /* new code path */ }
//! let mut changes = client.subscribe();
//! changes.changed().await.ok();
//! client.close().await;
//! # Ok(()) }
//! ```
//!
//! | concept | item |
//! | --- | --- |
//! | the live config of a service | [`JonesClient`], [`JonesClientBuilder`], [`Snapshot`], [`Status`], [`ReadError`] |
//! | switches (toggles, sticky rollouts, bucket lists) | [`JonesClient::enabled`], [`JonesClient::enabled_or`], [`JonesClient::percentage`], [`JonesClient::in_buckets`], [`switches`] |
//! | a value with its reason and revision | [`Detail`], [`Reason`], [`JonesClient::get_detail`] |
//! | typed handles for hot paths | [`Setting`], [`Switch`], [`JonesClient::setting`], [`JonesClient::switch`] |
//! | what the client costs ZooKeeper, its registration | [`ClientStats`], [`JonesClient::stats`], [`JonesClient::registration`] |
//! | start without waiting | [`JonesClientBuilder::start`], [`JonesClient::wait_ready`] |
//! | a client for apps without async | [`blocking::JonesClient`] |
//! | a client fed by tests | [`TestData`], [`JonesClient::from_config`] |
//! | one ZooKeeper session, rebuilt after expiry | [`Session`] |
//! | any znode, kept current | [`ZnodeWatcher`], [`Znode`] |
//! | validated names | [`ServiceName`], [`EnvPath`], [`validate_association`] |
//! | znode layout | [`ServiceLayout`] |
//! | configs and views | [`Config`], [`parse_config`], [`merge_view`] |
//! | associations | [`Nodemap`], [`fqdn`] |
//!
//! The live client is layered: a [`Session`] owns the ZooKeeper client and
//! replaces it after expiry; the client's driver reads the nodemap and the
//! view in rounds through it, publishing a view read only when the nodemap
//! did not move around it (the argument is in `driver.rs`), into a
//! lock-free store of the parsed config. [`ZnodeWatcher`] keeps any one
//! znode current, for tools.

pub mod blocking;
mod builder;
mod cache;
mod client;
mod detail;
mod driver;
mod error;
mod handle;
mod host;
mod jitter;
mod model;
mod published;
mod registry;
mod session;
mod stats;
mod status;
mod store;
pub mod switches;
mod test_data;
mod znode;

pub use builder::{DEFAULT_REPORT_INTERVAL, DEFAULT_START_TIMEOUT, JonesClientBuilder};
pub use client::JonesClient;
pub use detail::{Detail, Reason};
pub use error::Error;
pub use handle::{Setting, Switch};
pub use host::fqdn;
pub use model::association_index::{
    AssociationRecord, INDEX_LAYOUT, IndexState, association_of_znode_name, association_znode_name,
};
pub use model::config::{Config, config_from_value, config_to_bytes, json_kind, parse_config};
pub use model::layout::{SERVICES_ROOT, ServiceLayout};
pub use model::merge::{MergeMode, hidden_keys, merge_into, merge_view, value_at};
pub use model::name::{
    EnvPath, MAX_ASSOCIATION_LEN, MAX_ENV_DEPTH, MAX_SEGMENT_LEN, NameKind, ServiceName,
    validate_association,
};
pub use model::nodemap::Nodemap;
pub use model::registry::{CLIENT_ZNODE_PREFIX, ClientRecord};
pub use session::{DEFAULT_SESSION_TIMEOUT, Session, SessionState};
pub use stats::ClientStats;
pub use status::{Cause, ReadError, Status};
pub use store::{CallbackGuard, Revision, Snapshot};
pub use test_data::{TEST_DATA_VIEW, TestData};
pub use znode::{Znode, ZnodeWatcher};
pub use zookeeper_client;

#[cfg(test)]
mod tests {
    /// What apps pass between threads and tasks must be `Send + Sync`.
    #[test]
    fn public_types_are_send_and_sync() {
        fn send_sync<T: Send + Sync + 'static>() {}
        send_sync::<crate::Error>();
        send_sync::<crate::JonesClient>();
        send_sync::<crate::blocking::JonesClient>();
        send_sync::<crate::Snapshot>();
        send_sync::<crate::Status>();
        send_sync::<crate::Session>();
        send_sync::<crate::ZnodeWatcher>();
        send_sync::<crate::TestData>();
        send_sync::<crate::Setting<String>>();
        send_sync::<crate::Switch>();
        send_sync::<crate::Detail<u64>>();
    }
}
