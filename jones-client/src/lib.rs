#![warn(missing_docs)]
//! Live configuration from Jones on Apache ZooKeeper.
//!
//! Jones keeps each service's configuration as a tree of environments in
//! ZooKeeper; every environment inherits its parents' keys, and the server
//! materializes each environment's inherited *view* so a client reads one
//! znode and never computes.
//!
//! This crate holds the data model shared by the client and the server:
//!
//! | concept | item |
//! | --- | --- |
//! | validated names | [`ServiceName`], [`EnvPath`], [`validate_association`] |
//! | znode layout | [`ServiceLayout`] |
//! | configs and views | [`Config`], [`parse_config`], [`merge_view`] |
//! | associations | [`Nodemap`] |

mod error;
mod model;

pub use error::Error;
pub use model::config::{Config, config_from_value, config_to_bytes, json_kind, parse_config};
pub use model::layout::{SERVICES_ROOT, ServiceLayout};
pub use model::merge::{merge_into, merge_view};
pub use model::name::{
    EnvPath, MAX_ASSOCIATION_LEN, MAX_ENV_DEPTH, MAX_SEGMENT_LEN, NameKind, ServiceName,
    validate_association,
};
pub use model::nodemap::Nodemap;
