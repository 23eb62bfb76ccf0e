//! Dev mode: `jones-server` without `--zk` runs its own standalone
//! ZooKeeper (Debian's package, found as the test kit finds it) with its
//! data under the state directory, and stops it on exit. The JVM also dies
//! if the server is killed, thanks to the kit's guardian process.

use std::path::{Path, PathBuf};

use jones_testkit::ZooKeeper;

/// The digest credential dev mode uses when none is given.
pub const DEV_DIGEST: &str = "jones:jones-dev";

/// A local ZooKeeper for dev mode; stopped on drop.
#[derive(Debug)]
pub struct DevZooKeeper {
    zookeeper: ZooKeeper,
    data: PathBuf,
}

impl DevZooKeeper {
    /// Starts ZooKeeper with its data in `state_dir/zookeeper` (kept across
    /// runs) and waits until it serves.
    pub async fn start(state_dir: &Path) -> Result<Self, jones_testkit::Error> {
        let data = state_dir.join("zookeeper");
        let dir = data.clone();
        let zookeeper = tokio::task::spawn_blocking(move || ZooKeeper::start_in(&dir, None))
            .await
            .map_err(|e| jones_testkit::Error::Start(format!("the start task failed: {e}")))??;
        Ok(Self { zookeeper, data })
    }

    /// `127.0.0.1:PORT`.
    pub fn connect_string(&self) -> String {
        self.zookeeper.connect_string()
    }

    /// Where its data lives.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}
