//! A standalone test server: a [`jones_zookeeper::ZooKeeper`] with a short
//! tick, crash-like stops, and one shared per test binary.

use std::ops::Deref;
use std::sync::OnceLock;
use std::time::Duration;

use crate::Error;

/// Tick of test servers: sessions may be as short as two ticks (400 ms), so
/// session-expiry tests run quickly.
pub const TICK: Duration = Duration::from_millis(200);

/// A real standalone ZooKeeper for a test, killed and its directory removed
/// on drop.
///
/// Everything of [`jones_zookeeper::ZooKeeper`] is available through
/// `Deref`; [`Self::stop`] differs: it kills the server as a crash would.
///
/// ```no_run
/// let mut zk = jones_testkit::ZooKeeper::start().unwrap();
/// println!("connect to {}", zk.connect_string());
/// zk.stop();
/// assert!(!jones_testkit::port_accepts(zk.port()));
/// zk.restart().unwrap();
/// ```
#[derive(Debug)]
pub struct ZooKeeper {
    server: jones_zookeeper::ZooKeeper,
}

impl ZooKeeper {
    /// Starts a server in a new temporary directory on a free port and
    /// waits until it serves.
    pub fn start() -> Result<Self, Error> {
        Self::start_with_heap_mb(jones_zookeeper::DEFAULT_HEAP_MB)
    }

    /// [`Self::start`] with a JVM heap of `mb` MiB, for benches writing
    /// transactions near ZooKeeper's 1 MiB limit (it keeps its last 500
    /// transactions in memory).
    pub fn start_with_heap_mb(mb: u32) -> Result<Self, Error> {
        let server = jones_zookeeper::ZooKeeper::builder()
            .tick_time(TICK)
            .heap_mb(mb)
            .start()?;
        Ok(Self { server })
    }

    /// The server every test of this binary shares, started on first use.
    ///
    /// Tests isolate themselves by their own service names (see
    /// [`crate::unique_name`]). It is killed, and its directory removed,
    /// when the test binary exits.
    pub fn shared() -> &'static ZooKeeper {
        static SHARED: OnceLock<ZooKeeper> = OnceLock::new();
        SHARED.get_or_init(|| match ZooKeeper::start() {
            Ok(zk) => zk,
            Err(e) => panic!("{e}"),
        })
    }

    /// Kills the server as a crash would (SIGKILL). Returns once the process
    /// is reaped and its port refuses connections; the data is kept for
    /// [`Self::restart`].
    pub fn stop(&mut self) {
        self.server.kill();
    }

    /// Starts a stopped server again on the same port and data, and waits
    /// until it serves.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.server.restart()
    }
}

impl Deref for ZooKeeper {
    type Target = jones_zookeeper::ZooKeeper;

    fn deref(&self) -> &Self::Target {
        &self.server
    }
}
