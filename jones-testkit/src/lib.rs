//! Real Apache ZooKeeper for tests (and for the server's dev mode).
//!
//! - [`ZooKeeper`]: a standalone server on a free loopback port, in a
//!   temporary directory, ready once `ruok` answers `imok`; killed and its
//!   directory removed on drop, also when a test panics or the test binary
//!   dies. [`ZooKeeper::shared`] gives one per test binary.
//! - [`Ensemble`]: three nodes on loopback, with stop / pause / restart of a
//!   node and [`Ensemble::leader`] (from the `srvr` four-letter word).
//! - [`Installation`]: finds ZooKeeper (`ZOOKEEPER_CLASSPATH`, else Debian's
//!   `/usr/share/java/zookeeper.jar`) and Java; when either is missing the
//!   error names the command that installs them.

#![warn(missing_docs)]

mod ensemble;
mod install;
mod net;
mod process;
mod standalone;

use std::sync::atomic::{AtomicU32, Ordering};

pub use ensemble::{ENSEMBLE_SIZE, Ensemble};
pub use install::{DEBIAN_ZOOKEEPER_JAR, INSTALL_HINT, Installation};
pub use net::four_letter_word;
pub use standalone::ZooKeeper;

/// What can go wrong starting or talking to a test ZooKeeper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// ZooKeeper or Java is not installed; the message names the install command.
    #[error("{0}")]
    NotInstalled(String),
    /// The server could not be started or did not become ready.
    #[error("cannot start ZooKeeper: {0}")]
    Start(String),
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

/// A name no other test of this run uses, for service names and chroots:
/// `{prefix}-{pid}-{n}`.
///
/// ```
/// let a = jones_testkit::unique_name("svc");
/// let b = jones_testkit::unique_name("svc");
/// assert_ne!(a, b);
/// assert!(a.starts_with("svc-"));
/// ```
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
