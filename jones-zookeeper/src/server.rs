//! A standalone ZooKeeper server on a loopback port: its config written,
//! started, serving.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::net::{free_ports, mode_of};
use crate::process::ServerProcess;
use crate::{Error, Installation, four_letter_word};

/// ZooKeeper's own default tick.
pub const DEFAULT_TICK: Duration = Duration::from_millis(2000);
/// Ports are picked, then bound by the JVM; another process may take one in
/// between, so a start on a free port (and a restart, whose port may have
/// been taken while the server was down) is tried this many times.
const START_ATTEMPTS: usize = 3;

/// A standalone ZooKeeper on `127.0.0.1`. Killed on drop, and its
/// directory removed unless its data lives in a directory given to
/// [`Builder::data_dir`].
///
/// ```no_run
/// let mut zk = jones_zookeeper::ZooKeeper::start()?;
/// println!("connect to {}", zk.connect_string());
/// zk.stop();
/// # Ok::<(), jones_zookeeper::Error>(())
/// ```
#[derive(Debug)]
pub struct ZooKeeper {
    // Dropped first: the process is gone before its directory is removed.
    process: ServerProcess,
    dir: TempDir,
    data: PathBuf,
}

/// Options of a [`ZooKeeper`] to start: where its data lives, its port, its
/// tick.
///
/// ```no_run
/// use std::time::Duration;
///
/// let zk = jones_zookeeper::ZooKeeper::builder()
///     .data_dir(".jones/zookeeper")
///     .port(2181)
///     .tick_time(Duration::from_millis(200))
///     .start()?;
/// assert_eq!(zk.port(), 2181);
/// # Ok::<(), jones_zookeeper::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder {
    data_dir: Option<PathBuf>,
    port: Option<u16>,
    tick: Duration,
    heap_mb: u32,
    install: Option<Installation>,
}

impl Builder {
    /// Keeps the data in `dir` (created if missing, kept after the server
    /// stops) instead of a temporary directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Serves on loopback `port` instead of a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// ZooKeeper's `tickTime` (default [`DEFAULT_TICK`]): sessions may be as
    /// short as two ticks.
    pub fn tick_time(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// Gives the JVM a heap of `mb` MiB (default
    /// [`crate::DEFAULT_HEAP_MB`]): thousands of sessions need more.
    pub fn heap_mb(mut self, mb: u32) -> Self {
        self.heap_mb = mb;
        self
    }

    /// Runs this installation instead of the one [`Installation::locate`]
    /// finds.
    pub fn installation(mut self, install: Installation) -> Self {
        self.install = Some(install);
        self
    }

    /// Writes the config, starts the server and waits until it serves:
    /// `ruok` answers `imok` and `srvr` reports a mode.
    pub fn start(self) -> Result<ZooKeeper, Error> {
        let install = match &self.install {
            Some(install) => install.clone(),
            None => Installation::locate()?,
        };
        let attempts = if self.port.is_some() {
            1
        } else {
            START_ATTEMPTS
        };
        let mut last = None;
        for _ in 0..attempts {
            match self.start_once(install.clone()) {
                Ok(zk) => return Ok(zk),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn start_once(&self, install: Installation) -> Result<ZooKeeper, Error> {
        let dir = tempfile::Builder::new()
            .prefix("jones-zk-")
            .tempdir()
            .map_err(|e| Error::Start(format!("cannot create a temp dir: {e}")))?;
        let data = match &self.data_dir {
            Some(data) => data.clone(),
            None => dir.path().join("data"),
        };
        fs::create_dir_all(&data)
            .map_err(|e| Error::Start(format!("cannot create {}: {e}", data.display())))?;
        let port = match self.port {
            Some(port) => port,
            None => free_ports(1)?[0],
        };
        let config = dir.path().join("zoo.cfg");
        fs::write(&config, config_text(&data, port, self.tick))
            .map_err(|e| Error::Start(format!("cannot write zoo.cfg: {e}")))?;
        let mut process = ServerProcess::new(install, config, dir.path().to_owned(), port)
            .with_heap_mb(self.heap_mb);
        process.start()?;
        process.wait_until_serving()?;
        Ok(ZooKeeper { process, dir, data })
    }
}

/// The config of a standalone server on loopback `port`: every four-letter
/// word allowed (they tell when it serves), no admin server, no cap on
/// connections from one address (tests and benches open many sessions
/// from loopback).
fn config_text(data: &Path, port: u16, tick: Duration) -> String {
    format!(
        "tickTime={}\n\
         dataDir={}\n\
         clientPort={port}\n\
         clientPortAddress=127.0.0.1\n\
         maxSessionTimeout=60000\n\
         maxClientCnxns=0\n\
         admin.enableServer=false\n\
         4lw.commands.whitelist=*\n",
        tick.as_millis().max(1),
        data.display()
    )
}

impl ZooKeeper {
    /// Options for a server to start; see [`Builder`].
    pub fn builder() -> Builder {
        Builder {
            data_dir: None,
            port: None,
            tick: DEFAULT_TICK,
            heap_mb: crate::DEFAULT_HEAP_MB,
            install: None,
        }
    }

    /// Starts a server with its data in a new temporary directory, on a
    /// free port, and waits until it serves.
    pub fn start() -> Result<Self, Error> {
        Self::builder().start()
    }

    /// `127.0.0.1:PORT`, for `zookeeper_client::Client::connect`.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.process.client_port())
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.process.client_port()
    }

    /// The directory holding the config and the log and, unless started
    /// with [`Builder::data_dir`], the data; removed on drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where the data lives.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The JVM's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Stops the server cleanly (SIGTERM, SIGKILL after a grace period);
    /// returns once the process is reaped and the port closed. The data is
    /// kept for [`Self::restart`].
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Kills the server as a crash would (SIGKILL); returns once the process
    /// is reaped and the port closed. The data is kept for [`Self::restart`].
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts a stopped server again on the same port and data, and waits
    /// until it serves. If something else took the port meanwhile, tries a
    /// few times before giving up.
    pub fn restart(&mut self) -> Result<(), Error> {
        let mut attempt = 1;
        loop {
            let log_before = self.log_len();
            self.process.start()?;
            let served = self.process.wait_until_serving();
            if served.is_ok() {
                return served;
            }
            self.process.kill();
            if attempt == START_ATTEMPTS || !self.port_taken_since(log_before) {
                return served;
            }
            attempt += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn log_len(&self) -> usize {
        fs::metadata(self.process.log_path()).map_or(0, |m| m.len() as usize)
    }

    /// Whether the server logged, past byte `from` of its log, that its
    /// port was in use.
    fn port_taken_since(&self, from: usize) -> bool {
        fs::read(self.process.log_path()).is_ok_and(|log| {
            String::from_utf8_lossy(log.get(from..).unwrap_or_default())
                .contains("Address already in use")
        })
    }

    /// Freezes the server (SIGSTOP): clients see it go silent, as in a long
    /// GC pause or a network partition.
    pub fn pause(&self) -> Result<(), Error> {
        self.process.pause()
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) -> Result<(), Error> {
        self.process.resume()
    }

    /// Whether the server process is running (it may be paused).
    pub fn is_running(&self) -> bool {
        self.process.is_running()
    }

    /// The server's `Mode:` from `srvr`, e.g. `standalone`; `None` while it
    /// does not serve.
    pub fn mode(&self) -> Option<String> {
        let answer = four_letter_word(self.port(), "srvr").ok()?;
        mode_of(&answer).map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_port_data_and_tick() {
        let text = config_text(Path::new("/var/zk"), 2181, Duration::from_millis(200));
        assert!(text.contains("tickTime=200\n"), "{text}");
        assert!(text.contains("dataDir=/var/zk\n"), "{text}");
        assert!(text.contains("clientPort=2181\n"), "{text}");
        assert!(text.contains("clientPortAddress=127.0.0.1\n"), "{text}");
    }
}
