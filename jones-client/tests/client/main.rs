//! Integration tests of the live client against real ZooKeeper servers
//! started by `jones-testkit`: a shared server for most tests, private
//! servers and an ensemble for the ones that stop, pause or kill them.

mod harness;

mod blocking;
mod cache;
mod changes;
mod failures;
mod sync;
mod watcher;
