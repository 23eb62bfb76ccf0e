//! A three-node ZooKeeper ensemble on loopback, with handles to crash, pause
//! and restart nodes and to find the leader.

use std::fs;
use std::time::{Duration, Instant};

use jones_zookeeper::{START_TIMEOUT, ServerProcess, free_ports, mode_of};
use tempfile::TempDir;

use crate::{Error, Installation, TICK, four_letter_word};

/// Nodes in an ensemble.
pub const ENSEMBLE_SIZE: usize = 3;
/// Starts of an ensemble tried before giving up.
const START_ATTEMPTS: usize = 3;

/// A running three-node ensemble; every node is killed and the directory
/// removed on drop.
///
/// ```no_run
/// let mut ensemble = jones_testkit::Ensemble::start().unwrap();
/// let leader = ensemble.leader().unwrap();
/// ensemble.stop(leader);
/// ensemble.wait_for_quorum().unwrap();
/// ```
#[derive(Debug)]
pub struct Ensemble {
    nodes: Vec<ServerProcess>,
    dir: TempDir,
}

impl Ensemble {
    /// Starts three nodes and waits until they have elected a leader.
    ///
    /// Ports are picked, then bound by the JVMs; another process may take
    /// one in between, and the node that cannot bind it exits, so a start is
    /// tried a few times.
    pub fn start() -> Result<Self, Error> {
        Self::start_with_heap_mb(jones_zookeeper::DEFAULT_HEAP_MB)
    }

    /// [`Self::start`] with a JVM heap of `mb` MiB per node, for benches
    /// holding thousands of sessions.
    pub fn start_with_heap_mb(mb: u32) -> Result<Self, Error> {
        let install = Installation::locate()?;
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&install, mb) {
                Ok(ensemble) => return Ok(ensemble),
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    fn start_once(install: &Installation, heap_mb: u32) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("jones-ensemble-")
            .tempdir()
            .map_err(|e| Error::Start(format!("cannot create a temp dir: {e}")))?;
        let ports = free_ports(ENSEMBLE_SIZE * 3)?;
        let servers: String = (0..ENSEMBLE_SIZE)
            .map(|i| {
                format!(
                    "server.{}=127.0.0.1:{}:{}\n",
                    i + 1,
                    ports[ENSEMBLE_SIZE + i],
                    ports[2 * ENSEMBLE_SIZE + i]
                )
            })
            .collect();
        let mut nodes = Vec::with_capacity(ENSEMBLE_SIZE);
        for (i, &client_port) in ports.iter().take(ENSEMBLE_SIZE).enumerate() {
            let node_dir = dir.path().join(format!("node{}", i + 1));
            let io =
                |e: std::io::Error| Error::Start(format!("cannot prepare node {}: {e}", i + 1));
            fs::create_dir_all(node_dir.join("data")).map_err(io)?;
            fs::write(node_dir.join("data/myid"), format!("{}\n", i + 1)).map_err(io)?;
            let config = node_dir.join("zoo.cfg");
            let text = format!(
                "tickTime={}\n\
                 initLimit=20\n\
                 syncLimit=10\n\
                 dataDir={}\n\
                 clientPort={client_port}\n\
                 clientPortAddress=127.0.0.1\n\
                 maxSessionTimeout=60000\n\
                 maxClientCnxns=0\n\
                 admin.enableServer=false\n\
                 4lw.commands.whitelist=*\n\
                 {servers}",
                TICK.as_millis(),
                node_dir.join("data").display()
            );
            fs::write(&config, text).map_err(io)?;
            nodes.push(
                ServerProcess::new(install.clone(), config, dir.path().to_owned(), client_port)
                    .with_heap_mb(heap_mb),
            );
        }
        for node in &mut nodes {
            node.start()?;
        }
        let ensemble = Self { nodes, dir };
        ensemble.wait_for_quorum()?;
        Ok(ensemble)
    }

    /// The connect string naming every node.
    pub fn connect_string(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.client_port()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The client port of node `index` (0-based).
    pub fn port(&self, index: usize) -> u16 {
        self.nodes[index].client_port()
    }

    /// The mode node `index` reports (`leader`, `follower`), if it serves.
    pub fn mode(&self, index: usize) -> Option<String> {
        let answer = four_letter_word(self.port(index), "srvr").ok()?;
        mode_of(&answer).map(str::to_owned)
    }

    /// The index of the current leader, if one is serving.
    pub fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_running())
            .find(|&i| self.mode(i).as_deref() == Some("leader"))
    }

    /// Waits until every running node serves and one of them leads; fails
    /// at once if a node's process died.
    pub fn wait_for_quorum(&self) -> Result<(), Error> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(dead) = (0..self.nodes.len())
                .find(|&i| self.nodes[i].is_running() && !self.nodes[i].is_alive())
            {
                let log = fs::read_to_string(self.nodes[dead].log_path()).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                return Err(Error::Start(format!(
                    "node {} of the ensemble exited; its log ends:\n{}",
                    dead + 1,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )));
            }
            let modes: Vec<Option<String>> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].is_running())
                .map(|i| self.mode(i))
                .collect();
            let leaders = modes
                .iter()
                .filter(|m| m.as_deref() == Some("leader"))
                .count();
            if leaders == 1 && modes.iter().all(Option::is_some) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Start(format!(
                    "the ensemble found no quorum within {START_TIMEOUT:?}: modes {modes:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills node `index` as a crash would; its data is kept. Returns once
    /// the process is reaped and its client port closed.
    pub fn stop(&mut self, index: usize) {
        self.nodes[index].kill();
    }

    /// Starts a stopped node again and waits until it serves.
    pub fn restart(&mut self, index: usize) -> Result<(), Error> {
        self.nodes[index].start()?;
        self.nodes[index].wait_until("srvr", |answer| mode_of(answer).is_some())
    }

    /// Freezes node `index` (SIGSTOP).
    pub fn pause(&self, index: usize) -> Result<(), Error> {
        self.nodes[index].pause()
    }

    /// Thaws node `index` (SIGCONT).
    pub fn resume(&self, index: usize) -> Result<(), Error> {
        self.nodes[index].resume()
    }

    /// The directory holding every node's config and data.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
