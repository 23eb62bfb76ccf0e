//! Run a local Apache ZooKeeper process: find the install, write its config,
//! start it on a loopback port, wait until it serves, stop it cleanly.
//!
//! `jones-server`'s dev mode runs its ZooKeeper with this crate, and
//! `jones-testkit` builds its test servers and ensembles on it.
//!
//! ```no_run
//! use jones_zookeeper::ZooKeeper;
//!
//! // Data kept in .jones/zookeeper, on a free loopback port.
//! let mut zk = ZooKeeper::builder().data_dir(".jones/zookeeper").start()?;
//! println!("ZooKeeper serves on {}", zk.connect_string());
//! assert_eq!(zk.mode().as_deref(), Some("standalone"));
//! // SIGTERM, then SIGKILL after a grace period; returns once the process
//! // is reaped and its port closed.
//! zk.stop();
//! # Ok::<(), jones_zookeeper::Error>(())
//! ```
//!
//! | module | what it does |
//! | --- | --- |
//! | `install` | [`Installation`]: finds ZooKeeper (`ZOOKEEPER_CLASSPATH`, else Debian's `/usr/share/java/zookeeper.jar`) and Java; when either is missing the error names the command that installs them |
//! | `server` | [`ZooKeeper`] and its [`Builder`]: a standalone server, its config written for loopback |
//! | `process` | [`ServerProcess`]: one JVM under a guardian that kills it if its owner dies; start, wait until serving, stop, kill, pause |
//! | `net` | free loopback ports, [`four_letter_word`], [`port_accepts`] |
//!
//! A server never outlives its owner: dropping the handle kills it, and if
//! the owning program dies without dropping it, even by SIGKILL, a guardian
//! process kills the JVM and removes its temporary directory.

#![warn(missing_docs)]

mod install;
mod net;
mod process;
mod server;

pub use install::{DEBIAN_ZOOKEEPER_JAR, INSTALL_HINT, Installation};
pub use net::{four_letter_word, free_ports, mode_of, port_accepts};
pub use process::{DEFAULT_HEAP_MB, RELEASE_TIMEOUT, START_TIMEOUT, STOP_GRACE, ServerProcess};
pub use server::{Builder, DEFAULT_TICK, ZooKeeper};

/// What can go wrong starting or talking to a local ZooKeeper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// ZooKeeper or Java is not installed; the message names the install command.
    #[error("{0}")]
    NotInstalled(String),
    /// The server could not be started or did not become ready.
    #[error("cannot start ZooKeeper: {0}")]
    Start(String),
    /// A running server could not be paused or resumed, or is not running.
    #[error("cannot signal ZooKeeper: {0}")]
    Signal(String),
    /// A four-letter word got no answer.
    #[error("four-letter word `{word}` to port {port} failed: {reason}")]
    FourLetterWord {
        /// The client port.
        port: u16,
        /// The word sent.
        word: String,
        /// Why it failed.
        reason: String,
    },
}
