//! Dev mode: `jones-server` without `--zk` runs its own standalone
//! ZooKeeper (Debian's package, found by `jones-zookeeper`) with its data
//! under the state directory, and stops it cleanly on exit. The JVM also
//! dies if the server is killed, thanks to `jones-zookeeper`'s guardian
//! process.

use std::path::Path;
use std::time::Duration;

use jones_zookeeper::ZooKeeper;

/// The digest credential dev mode uses when none is given.
pub const DEV_DIGEST: &str = "jones:jones-dev";

/// Dev mode's ZooKeeper tick: sessions may be as short as two ticks
/// (400 ms), so `--session-timeout-ms` can be tried with short values.
pub const DEV_TICK: Duration = Duration::from_millis(200);

/// Dev mode's ZooKeeper heap: ZooKeeper keeps its last 500 transactions in
/// memory, and a change to a large config (conf, views and history entry)
/// makes a transaction of up to 1 MiB, so a smaller heap runs out after a
/// few hundred such changes and ZooKeeper stops.
pub const DEV_HEAP_MB: u32 = 1024;

/// A local ZooKeeper for dev mode; stopped cleanly on drop.
#[derive(Debug)]
pub struct DevZooKeeper {
    zookeeper: ZooKeeper,
}

impl DevZooKeeper {
    /// Starts ZooKeeper with its data in `state_dir/zookeeper` (kept across
    /// runs), on loopback `port` or a free one, and waits until it serves.
    pub async fn start(
        state_dir: &Path,
        port: Option<u16>,
    ) -> Result<Self, jones_zookeeper::Error> {
        let mut builder = ZooKeeper::builder()
            .data_dir(state_dir.join("zookeeper"))
            .tick_time(DEV_TICK)
            .heap_mb(DEV_HEAP_MB);
        if let Some(port) = port {
            builder = builder.port(port);
        }
        let zookeeper = tokio::task::spawn_blocking(move || builder.start())
            .await
            .map_err(|e| jones_zookeeper::Error::Start(format!("the start task failed: {e}")))??;
        Ok(Self { zookeeper })
    }

    /// `127.0.0.1:PORT`.
    pub fn connect_string(&self) -> String {
        self.zookeeper.connect_string()
    }

    /// Where its data lives.
    pub fn data_dir(&self) -> &Path {
        self.zookeeper.data_dir()
    }
}

impl Drop for DevZooKeeper {
    /// Stops ZooKeeper with SIGTERM (SIGKILL after a grace period) and
    /// waits until it is gone.
    fn drop(&mut self) {
        self.zookeeper.stop();
    }
}

/// The demo service's name.
pub const DEMO_SERVICE: &str = "demo";

/// Creates the demo service (`demo`) with the original Jones fixture —
/// root `{"foo":"bar"}`, `parent`, `parent/child1`, `parent/child2`,
/// `parent/child2/subchild1`, associations `127.0.0.1` → `parent` and
/// `127.0.0.2` → `parent/child1` — creating only what is missing, so a
/// second run changes nothing and keeps edits made since. Returns whether
/// anything was created.
pub async fn seed_demo(admin: &crate::Admin) -> crate::Result<bool> {
    use jones_client::{EnvPath, ServiceName};
    use serde_json::json;
    let svc = ServiceName::new(DEMO_SERVICE).expect("a valid name");
    let env = |s: &str| EnvPath::new(s).expect("a valid path");
    let obj = |v: serde_json::Value| v.as_object().expect("an object").clone();
    let mut created = false;
    if !admin.service_exists(&svc).await? {
        admin.create_service(&svc).await?;
        admin
            .set_env(&svc, &EnvPath::root(), obj(json!({"foo": "bar"})), None)
            .await?;
        created = true;
    }
    for (path, config) in [
        ("parent", json!({"a": 1, "b": [1, 2, 3], "c": {"x": 0}})),
        ("parent/child1", json!({"a": 2})),
        ("parent/child2", json!({"a": 3})),
        ("parent/child2/subchild1", json!({"b": "abc"})),
    ] {
        match admin.create_env(&svc, &env(path), obj(config)).await {
            Ok(_) => created = true,
            Err(crate::Error::EnvExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let existing = admin.associations(&svc).await?;
    for (name, path) in [("127.0.0.1", "parent"), ("127.0.0.2", "parent/child1")] {
        if !existing.iter().any(|a| a.name == name) {
            admin.set_association(&svc, name, &env(path)).await?;
            created = true;
        }
    }
    Ok(created)
}
