//! Real Apache ZooKeeper for tests, built on [`jones_zookeeper`] (which runs
//! the processes; `jones-server`'s dev mode uses it directly).
//!
//! - [`ZooKeeper`]: a standalone test server on a free loopback port, in a
//!   temporary directory, with a short tick so sessions can expire in well
//!   under a second; killed and its directory removed on drop, also when a
//!   test panics or the test binary dies. [`ZooKeeper::shared`] gives one
//!   per test binary. Its `stop` kills the server as a crash would.
//! - [`Ensemble`]: three nodes on loopback, with stop / pause / restart of a
//!   node and [`Ensemble::leader`] (from the `srvr` four-letter word).
//! - [`Relay`]: a loopback TCP relay in front of a server, cut and
//!   restored to disconnect clients without ending their sessions.
//! - [`unique_name`]: names no other test of the run uses.
//! - Re-exported from `jones-zookeeper`: [`Installation`],
//!   [`four_letter_word`], [`port_accepts`] and [`Error`].

#![warn(missing_docs)]

mod ensemble;
mod relay;
mod standalone;

use std::sync::atomic::{AtomicU32, Ordering};

pub use ensemble::{ENSEMBLE_SIZE, Ensemble};
pub use jones_zookeeper::{
    DEBIAN_ZOOKEEPER_JAR, Error, INSTALL_HINT, Installation, four_letter_word, port_accepts,
};
pub use relay::Relay;
pub use standalone::{TICK, ZooKeeper};

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
