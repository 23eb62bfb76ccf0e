//! A standalone ZooKeeper server on a free loopback port.

use std::fs;
use std::sync::OnceLock;

use nix::sys::signal::Signal;
use tempfile::TempDir;

use crate::net::{free_ports, mode_of};
use crate::process::ServerProcess;
use crate::{Error, Installation, four_letter_word};

/// Tick of test servers: sessions may be as short as two ticks (400 ms), so
/// session-expiry tests run quickly.
pub(crate) const TICK_MS: u32 = 200;
/// Ports are picked, then bound by the JVM; another process may take one in
/// between, so a start is tried this many times.
const START_ATTEMPTS: usize = 3;

/// A real standalone ZooKeeper, killed and its directory removed on drop.
///
/// ```no_run
/// let zk = jones_testkit::ZooKeeper::start().unwrap();
/// println!("connect to {}", zk.connect_string());
/// ```
#[derive(Debug)]
pub struct ZooKeeper {
    process: ServerProcess,
    dir: TempDir,
}

impl ZooKeeper {
    /// Starts a server in a new temporary directory and waits until it
    /// serves: `ruok` answers `imok` and `srvr` reports a mode.
    pub fn start() -> Result<Self, Error> {
        let install = Installation::locate()?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(install.clone()) {
                Ok(zk) => return Ok(zk),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Starts a server whose data lives in `dir` (kept after it stops), on
    /// `port` or a free one. Used by the dev-mode server.
    pub fn start_in(dir: &std::path::Path, port: Option<u16>) -> Result<Self, Error> {
        let install = Installation::locate()?;
        let port = match port {
            Some(port) => port,
            None => free_ports(1)?[0],
        };
        fs::create_dir_all(dir)
            .map_err(|e| Error::Start(format!("cannot create {}: {e}", dir.display())))?;
        // The TempDir only holds the config; the data stays in `dir`.
        let tmp = tempfile::Builder::new()
            .prefix("jones-zk-")
            .tempdir()
            .map_err(|e| Error::Start(format!("cannot create a temp dir: {e}")))?;
        Self::launch(install, tmp, dir, port)
    }

    fn start_once(install: Installation) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("jones-zk-")
            .tempdir()
            .map_err(|e| Error::Start(format!("cannot create a temp dir: {e}")))?;
        let port = free_ports(1)?[0];
        let data = dir.path().join("data");
        Self::launch(install, dir, &data, port)
    }

    fn launch(
        install: Installation,
        dir: TempDir,
        data: &std::path::Path,
        port: u16,
    ) -> Result<Self, Error> {
        let config = dir.path().join("zoo.cfg");
        let text = format!(
            "tickTime={TICK_MS}\n\
             dataDir={}\n\
             clientPort={port}\n\
             clientPortAddress=127.0.0.1\n\
             maxSessionTimeout=60000\n\
             maxClientCnxns=0\n\
             admin.enableServer=false\n\
             4lw.commands.whitelist=*\n",
            data.display()
        );
        fs::write(&config, text).map_err(|e| Error::Start(format!("cannot write zoo.cfg: {e}")))?;
        let mut process = ServerProcess::new(install, config, dir.path().to_owned(), port);
        process.start()?;
        wait_until_serving(&process)?;
        Ok(Self { process, dir })
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

    /// `127.0.0.1:PORT`, for `zookeeper_client::Client::connect`.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.process.client_port())
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.process.client_port()
    }

    /// The directory holding the config and, unless started with
    /// [`Self::start_in`], the data.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Kills the server as a crash would; the data is kept for [`Self::restart`].
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts a stopped server again on the same port and data, and waits
    /// until it serves.
    pub fn restart(&mut self) -> Result<(), Error> {
        self.process.start()?;
        wait_until_serving(&self.process)
    }

    /// Freezes the server (SIGSTOP): clients see it go silent, as in a long
    /// GC pause or a network partition.
    pub fn pause(&self) -> Result<(), Error> {
        self.process.signal(Signal::SIGSTOP)
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) -> Result<(), Error> {
        self.process.signal(Signal::SIGCONT)
    }

    /// Whether the server process is running (it may be paused).
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// The server's `Mode:` from `srvr`, e.g. `standalone`.
    pub fn mode(&self) -> Option<String> {
        let answer = four_letter_word(self.port(), "srvr").ok()?;
        mode_of(&answer).map(str::to_owned)
    }
}

/// Waits until the server answers `ruok` with `imok` and then serves
/// requests: `ruok` answers `imok` as soon as the process listens, a moment
/// before the database is loaded, while `srvr` reports a `Mode:` only once
/// the server serves.
fn wait_until_serving(process: &ServerProcess) -> Result<(), Error> {
    process.wait_until("ruok", |answer| answer == "imok")?;
    process.wait_until("srvr", |answer| mode_of(answer).is_some())
}
