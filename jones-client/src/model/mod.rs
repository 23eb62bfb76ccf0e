//! The Jones data model: pure code shared by the client and the server.
//!
//! - [`name`]: validated service names, environment paths, associations;
//! - [`layout`]: where a service's confs, views and nodemap live;
//! - [`config`]: a config is a JSON object;
//! - [`merge`]: how a view inherits its ancestors' keys;
//! - [`nodemap`]: associations, in original Jones' format;
//! - [`association_index`]: one znode per association, derived from the nodemap;
//! - [`registry`]: live clients and the revision each applied.

pub(crate) mod association_index;
pub(crate) mod config;
pub(crate) mod layout;
pub(crate) mod merge;
pub(crate) mod name;
pub(crate) mod nodemap;
pub(crate) mod registry;
