//! The client registry: which live clients read a service, and what each has
//! applied.
//!
//! ```text
//! /services/{svc}/clients                  created by the server with the service
//! /services/{svc}/clients/c{session}       one ephemeral znode per live client session
//! ```
//!
//! A client creates its ephemeral znode, named by its session id in hex, once its session is up
//! and rewrites it after it applied a new revision, at a bounded rate; the
//! znode goes with the session. Original clients do not register, so they
//! are not counted.

use serde::{Deserialize, Serialize};

use crate::Error;

/// The prefix of every registration znode's name (the session id follows,
/// 16 hex digits).
pub const CLIENT_ZNODE_PREFIX: &str = "c";

/// What one live client says of itself.
///
/// ```
/// use jones_client::ClientRecord;
/// let record = ClientRecord {
///     association: "web-01".into(),
///     view: "/services/s/views/prod".into(),
///     revision: Some(4294967301),
///     applied_ms: Some(1_700_000_000_500),
///     started_ms: 1_700_000_000_000,
///     client: "jones-client/0.1.0".into(),
///     host: "web-01.example.com".into(),
///     pid: 4242,
/// };
/// assert_eq!(ClientRecord::parse(&record.to_bytes()).unwrap(), record);
/// assert!(ClientRecord::parse(b"{}").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// The association the client reads for.
    pub association: String,
    /// The view path it follows.
    pub view: String,
    /// The revision (the view's `mzxid`) it has applied; `None` before its
    /// first config.
    pub revision: Option<i64>,
    /// When it applied that revision, in milliseconds since the Unix epoch.
    pub applied_ms: Option<u64>,
    /// When the client started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Library and version, such as `jones-client/0.1.0`.
    pub client: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
}

impl ClientRecord {
    /// Parses a registration znode's data.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::InvalidRecord {
            reason: format!("client registration: {e}"),
        })
    }

    /// The znode's data.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record serializes")
    }
}
