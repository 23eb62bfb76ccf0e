//! The `jones` command end to end: the real binary against a real
//! ZooKeeper (and, for the admin commands, a real server over HTTP).

mod account;
mod admin;
mod deletes;
mod export;
mod harness;
mod merging;
mod readme;
mod restore;
mod scripts;
mod watch;
