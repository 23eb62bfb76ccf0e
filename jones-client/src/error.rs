//! The one error type of `jones-client`.

use crate::model::name::NameKind;

/// Everything that can go wrong in `jones-client`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service name, environment path or association was refused.
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        /// Which kind of name.
        kind: NameKind,
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A config (an environment's or a view) is not a JSON object.
    #[error("invalid config: {reason}")]
    InvalidConfig {
        /// What is wrong with it.
        reason: String,
    },
    /// The nodemap could not be parsed.
    #[error("invalid nodemap: {reason}")]
    InvalidNodemap {
        /// What is wrong with it.
        reason: String,
    },
    /// An association index or client registration znode could not be parsed.
    #[error("invalid record: {reason}")]
    InvalidRecord {
        /// Which znode and what is wrong with it.
        reason: String,
    },
    /// A path that should be a view of a service is not one.
    #[error("{path:?} is not a view path of service {service:?}")]
    NotAViewPath {
        /// The path.
        path: String,
        /// The service it was checked against.
        service: String,
    },
    /// The service has no tree in ZooKeeper (`/services/{service}` is missing).
    #[error("service {service:?} does not exist in ZooKeeper ({path} is missing); create it first")]
    ServiceNotFound {
        /// The service asked for.
        service: String,
        /// The znode that is missing.
        path: String,
    },
    /// The view the association resolves to does not exist.
    #[error("view {path} does not exist (association {association:?} of service {service:?})")]
    ViewNotFound {
        /// The service.
        service: String,
        /// The association whose view it is.
        association: String,
        /// The missing view znode.
        path: String,
    },
    /// ZooKeeper could not be reached or a session could not be established.
    #[error("cannot reach ZooKeeper at {connect_string:?}: {reason}")]
    Unavailable {
        /// The connect string tried.
        connect_string: String,
        /// Why it failed.
        reason: String,
    },
    /// The first config did not arrive within the start bound.
    #[error("no config within {waited:?} of start: {reason}")]
    StartTimeout {
        /// How long start waited.
        waited: std::time::Duration,
        /// What it was waiting for when time ran out.
        reason: String,
    },
    /// A ZooKeeper request failed.
    #[error("ZooKeeper {operation} of {path} failed: {source}")]
    ZooKeeper {
        /// What was attempted.
        operation: &'static str,
        /// The znode.
        path: String,
        /// The ZooKeeper client's error.
        #[source]
        source: zookeeper_client::Error,
    },
    /// The local fallback cache could not be read or written.
    #[error("cache file {path}: {reason}")]
    Cache {
        /// The cache file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The builder was given contradicting or missing settings.
    #[error("invalid client settings: {0}")]
    InvalidSettings(String),
    /// The client (or watcher) was closed.
    #[error("the client is closed")]
    Closed,
}
