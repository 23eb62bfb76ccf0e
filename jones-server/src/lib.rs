#![warn(missing_docs)]
//! The Jones server: where configuration is written.
//!
//! It keeps every environment's materialized view in agreement with the
//! confs it comes from, whatever happens (concurrent writers, several
//! servers, a crash in the middle), and serves the admin HTTP API and the
//! web editor.
//!
//! | module | what it does |
//! | --- | --- |
//! | `zk` | the ZooKeeper session: digest auth, protective ACLs, op counters, reconnect on expiry ([`Zk`]) |
//! | `tree` | pipelined reads of a service's environment tree |
//! | `materialize` | pure: confs in, changed views and size-bounded transactions out |
//! | `nodemap` | the nodemap's two formats (JSON, ` -> ` lines) and its size bound |
//! | `index` | pure: the association index a nodemap implies, and how a stored one differs |
//! | `writer` | commit with version checks, retry, batching with a pending marker, repair |
//! | `history` | every change's entry, committed in the change's transaction; pages, retention |
//! | `admin` | services, environments, associations, dump, accounts ([`Admin`]) |
//! | `accounts` | accounts, roles and grants; tokens stored as hashes ([`Account`], [`Role`]) |
//! | `http` | the HTTP API under `/api/v1`, `/healthz`, `/metrics`, events, the web editor ([`http::routes`]) |
//! | `rollout` | which live clients read a service and what each has applied: a live picture of the client registry |
//! | `healer` | every server repairs a service whose write was left unfinished ([`Healer`]) |
//! | `devmode` | a local ZooKeeper for `jones-server` without `--zk` |

mod accounts;
mod admin;
pub mod devmode;
mod error;
mod healer;
mod history;
pub mod http;
mod index;
mod materialize;
mod nodemap;
mod pins;
mod rollout;
mod schema;
mod tree;
mod writer;
mod zk;

pub use accounts::{Account, AccountName, Grant, MAX_GRANTS, Role};
pub use admin::{
    AclAudit, Admin, Association, DeletePreview, Dump, DumpNode, EnvDetails, EnvTree, HiddenKey,
    KeyChange, PinnedEnv, Preview, Problem, Reach, Resolved, RolledBack, ServiceAcls, Verification,
    ViewChange, WriteCounts,
};
pub use error::Error;
pub use healer::Healer;
pub use history::{Action, Author, Entry, HistoryPage};
pub use materialize::{DEFAULT_MULTI_BYTES, MAX_NODE_BYTES};
pub use nodemap::NodemapFormat;
pub use pins::Pin;
pub use schema::Violation;
pub use writer::{Deleted, DroppedAssociation, Limits, WriteOutcome};
pub use zk::{Zk, ZkCounts, ZkOptions};

/// The result of admin operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
