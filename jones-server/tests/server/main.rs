//! Integration tests of jones-server on a real ZooKeeper (one per binary,
//! shared; every test works in its own service).

mod accounts;
mod admin;
mod compat;
mod contention;
mod crash;
mod delete_preview;
mod harness;
mod healing;
mod history;
mod http;
mod index;
mod materialize;
mod merge_modes;
mod names;
mod original_trees;
mod orphans;
mod pins;
mod preview;
mod process;
mod refusals;
mod registry;
mod rollback;
mod schema;
mod security;
mod sessions;
mod shutdown;
mod streams;
mod web;
