//! The one error type of `jones-server`: every variant is something a caller
//! (the HTTP layer, the CLI, a test) can act on.

use jones_client::{Config, EnvPath, ServiceName};

/// Everything an admin operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service name, environment path or association name was refused.
    #[error(transparent)]
    InvalidName(jones_client::Error),
    /// The service or environment has a name from before Jones' name rules
    /// (see `jones_client::ServiceName::strict`): it can be read and
    /// deleted, not changed.
    #[error(
        "{what} is read-only: its name predates Jones' name rules ({reason}); it can be read \
         and deleted; to change it, copy it under a new name \
         (`jones dump SVC | jones restore - --service NEW`)"
    )]
    ReadOnly {
        /// The service or environment, named.
        what: String,
        /// Which rule its name breaks.
        reason: String,
    },
    /// A config or request body was refused; nothing was written.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong with it.
        reason: String,
    },
    /// A config, or a transaction holding it, is over ZooKeeper's size limit.
    #[error("too large: {reason}")]
    TooLarge {
        /// What was too large, with the limit.
        reason: String,
    },
    /// The service does not exist.
    #[error("service {:?} does not exist", .0.as_str())]
    ServiceNotFound(ServiceName),
    /// The service already exists.
    #[error("service {:?} already exists", .0.as_str())]
    ServiceExists(ServiceName),
    /// The environment does not exist.
    #[error("environment {:?} of service {:?} does not exist", .env.as_str(), .service.as_str())]
    EnvNotFound {
        /// The service.
        service: ServiceName,
        /// The missing environment.
        env: EnvPath,
    },
    /// The environment already exists.
    #[error("environment {:?} of service {:?} already exists", .env.as_str(), .service.as_str())]
    EnvExists {
        /// The service.
        service: ServiceName,
        /// The environment.
        env: EnvPath,
    },
    /// The environment has children and the delete was not recursive.
    #[error(
        "environment {:?} has children {children:?}; delete them first or delete recursively",
        .env.as_str()
    )]
    HasChildren {
        /// The environment.
        env: EnvPath,
        /// Its children's names.
        children: Vec<String>,
    },
    /// The association does not exist.
    #[error("association {name:?} of service {:?} does not exist", .service.as_str())]
    AssociationNotFound {
        /// The service.
        service: ServiceName,
        /// The association.
        name: String,
    },
    /// The history entry does not exist: never made, or pruned.
    #[error(
        "service {:?} has no history entry {id} (never made, or pruned beyond the retention)",
        .service.as_str()
    )]
    HistoryEntryNotFound {
        /// The service.
        service: ServiceName,
        /// The entry asked for.
        id: u64,
    },
    /// The change would give views that break the service's schema;
    /// nothing was written.
    #[error("{}", schema_refusal(*.count, .violations))]
    SchemaViolation {
        /// How many violations there were.
        count: usize,
        /// The violations, at most 100.
        violations: Vec<crate::Violation>,
    },
    /// The service has no schema to remove.
    #[error("service {:?} has no schema", .0.as_str())]
    NoSchema(ServiceName),
    /// The environment has no pin to remove.
    #[error("environment {:?} of service {:?} is not pinned", .env.as_str(), .service.as_str())]
    NotPinned {
        /// The service.
        service: ServiceName,
        /// The environment.
        env: EnvPath,
    },
    /// What a rollback or pin asked for cannot be rebuilt from the history;
    /// nothing was written.
    #[error("cannot go back to history entry {id}: {reason}")]
    Unrestorable {
        /// The entry asked for.
        id: u64,
        /// Why.
        reason: String,
    },
    /// The caller's version is stale: someone changed the environment since
    /// it was read. Carries what is stored now.
    #[error(
        "version conflict on environment {:?}: you sent version {expected}, the current version is {current_version}",
        .env.as_str()
    )]
    Conflict {
        /// The environment.
        env: EnvPath,
        /// The version the caller sent.
        expected: i64,
        /// The version stored now.
        current_version: i64,
        /// The config stored now.
        current_config: Config,
    },
    /// Concurrent writers kept changing the tree; the write was retried
    /// `attempts` times and given up. Nothing half-written is left.
    #[error("gave up after {attempts} attempts: the service kept changing concurrently")]
    Contended {
        /// Attempts made.
        attempts: u32,
    },
    /// This server's earlier writes to the service took the whole write
    /// deadline; nothing was written. Retry later.
    #[error("busy: {reason}")]
    Busy {
        /// Why, with the deadline.
        reason: String,
    },
    /// The account does not exist (or was removed).
    #[error("account {:?} does not exist", .0.as_str())]
    AccountNotFound(crate::AccountName),
    /// An account of that name already exists.
    #[error("account {:?} already exists", .0.as_str())]
    AccountExists(crate::AccountName),
    /// The operating system's random source failed: no token was made.
    #[error("cannot make a token: {0}")]
    Entropy(String),
    /// Data stored in ZooKeeper could not be read as Jones data.
    #[error("corrupt data at {path}: {reason}")]
    Corrupt {
        /// The znode.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// ZooKeeper refused the write: this session lacks the permission
    /// (wrong or missing digest credential).
    #[error("ZooKeeper refused access to {path}: not authorized (check the digest credential)")]
    NoAuth {
        /// The znode.
        path: String,
    },
    /// ZooKeeper cannot be reached, or the outcome of a request is unknown.
    #[error("ZooKeeper unavailable: {0}")]
    Unavailable(String),
}

/// The message of [`Error::SchemaViolation`]: the count and the first few.
fn schema_refusal(count: usize, violations: &[crate::Violation]) -> String {
    let shown: Vec<String> = violations
        .iter()
        .take(3)
        .map(|v| {
            let env = if v.env.is_empty() { "/" } else { &v.env };
            let at = if v.pointer.is_empty() {
                "/"
            } else {
                &v.pointer
            };
            format!("{env} at {at}: {}", v.message)
        })
        .collect();
    let more = match count.saturating_sub(shown.len()) {
        0 => String::new(),
        n => format!("; and {n} more"),
    };
    format!(
        "the change breaks the service's schema ({count} violation{}): {}{more}",
        if count == 1 { "" } else { "s" },
        shown.join("; ")
    )
}

impl Error {
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            reason: reason.into(),
        }
    }
}

impl From<jones_client::Error> for Error {
    fn from(e: jones_client::Error) -> Self {
        match e {
            jones_client::Error::InvalidName { .. } => Error::InvalidName(e),
            other => Error::InvalidInput {
                reason: other.to_string(),
            },
        }
    }
}

/// Maps a ZooKeeper error on `path` that no caller handled specifically.
pub(crate) fn zk_error(path: &str, e: zookeeper_client::Error) -> Error {
    use zookeeper_client::Error as Zk;
    match e {
        Zk::NoAuth => Error::NoAuth {
            path: path.to_owned(),
        },
        Zk::NoNode | Zk::NodeExists | Zk::BadVersion | Zk::NotEmpty => Error::Unavailable(format!(
            "{path}: {e} (the tree changed concurrently; retry)"
        )),
        other => Error::Unavailable(format!("{path}: {other}")),
    }
}

/// Whether a failed write may still have been applied by the server.
pub(crate) fn outcome_unknown(e: &zookeeper_client::Error) -> bool {
    use zookeeper_client::Error as Zk;
    matches!(
        e,
        Zk::ConnectionLoss | Zk::Timeout | Zk::Custom(_) | Zk::UnexpectedError(_)
    )
}
