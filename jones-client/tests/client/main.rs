//! Integration tests of the live client against real ZooKeeper servers
//! started by `jones-testkit`: a shared server for most tests, private
//! servers and an ensemble for the ones that stop, pause or kill them.

mod harness;

mod api;
mod blocking;
mod cache;
mod changes;
mod errors;
mod failures;
mod following;
mod index;
mod indexed;
mod lifecycle;
mod registry;
mod status;
mod sync;
mod watcher;
