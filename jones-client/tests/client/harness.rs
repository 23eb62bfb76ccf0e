//! Writes trees in the original Jones layout directly with
//! `zookeeper_client` (not through our server), and waits for clients.

use std::future::Future;
use std::time::{Duration, Instant};

use jones_client::{
    AssociationRecord, Config, EnvPath, IndexState, JonesClient, Nodemap, ServiceLayout,
    ServiceName, Snapshot, config_to_bytes, merge_view,
};
use serde_json::{Value, json};
use zookeeper_client::{Acls, Client, CreateMode, Stat};

const PERSISTENT: zookeeper_client::CreateOptions<'static> =
    CreateMode::Persistent.with_acls(Acls::anyone_all());

/// How long any wait in these tests may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn obj(value: Value) -> Config {
    value.as_object().expect("a JSON object").clone()
}

pub async fn connect(connect_string: &str) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(connect_string)
        .await
        .unwrap_or_else(|e| panic!("connect to {connect_string}: {e}"))
}

/// Creates `path` with `data`, and any missing parents empty.
pub async fn create_all(client: &Client, path: &str, data: &[u8]) {
    let mut prefix = String::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        prefix.push('/');
        prefix.push_str(segment);
        let bytes = if i + 1 == segments.len() { data } else { b"" };
        match client.create(&prefix, bytes, &PERSISTENT).await {
            Ok(_) => {}
            Err(zookeeper_client::Error::NodeExists) if i + 1 < segments.len() => {}
            Err(e) => panic!("create {prefix}: {e}"),
        }
    }
}

/// The original Jones test fixture, as confs.
pub fn fixture() -> Vec<(&'static str, Config)> {
    vec![
        ("", obj(json!({"foo": "bar"}))),
        (
            "parent",
            obj(json!({"a": 1, "b": [1, 2, 3], "c": {"x": 0}})),
        ),
        ("parent/child1", obj(json!({"a": 2}))),
        ("parent/child2", obj(json!({"a": 3}))),
        ("parent/child2/subchild1", obj(json!({"b": "abc"}))),
    ]
}

/// A service written in the original layout on a ZooKeeper.
pub struct Tree {
    pub zk: Client,
    pub connect_string: String,
    pub service: String,
    pub layout: ServiceLayout,
}

impl Tree {
    /// Writes the original fixture under a new service: confs, their views
    /// (the merge of each lineage) and the line-format nodemap
    /// `127.0.0.1 -> parent`, `127.0.0.2 -> parent/child1`, `127.0.0.3 -> root`.
    pub async fn original(connect_string: &str) -> Tree {
        Self::original_named(connect_string, &jones_testkit::unique_name("svc")).await
    }

    /// [`Tree::original`] under the service name `service`.
    pub async fn original_named(connect_string: &str, service: &str) -> Tree {
        let zk = connect(connect_string).await;
        let service = service.to_owned();
        let layout = ServiceLayout::new(ServiceName::new(&service).unwrap());
        let confs = fixture();
        for (env, conf) in &confs {
            let env = EnvPath::new(env).unwrap();
            create_all(&zk, &layout.conf_path(&env), &config_to_bytes(conf)).await;
        }
        for (env, _) in &confs {
            let env = EnvPath::new(env).unwrap();
            let chain: Vec<&Config> = env
                .lineage()
                .map(|e| &confs.iter().find(|(n, _)| *n == e.as_str()).unwrap().1)
                .collect();
            let view = merge_view(chain);
            create_all(&zk, &layout.view_path(&env), &config_to_bytes(&view)).await;
        }
        let mut nodemap = Nodemap::new();
        for (host, env) in [
            ("127.0.0.1", "parent"),
            ("127.0.0.2", "parent/child1"),
            ("127.0.0.3", ""),
        ] {
            nodemap
                .insert(host, layout.view_path(&EnvPath::new(env).unwrap()))
                .unwrap();
        }
        create_all(&zk, layout.nodemap_path(), &nodemap.to_bytes()).await;
        Tree {
            zk,
            connect_string: connect_string.to_owned(),
            service,
            layout,
        }
    }

    pub fn view_path(&self, env: &str) -> String {
        self.layout.view_path(&EnvPath::new(env).unwrap())
    }

    /// Writes `view` as the view of `env` (as the server would after an edit).
    pub async fn set_view(&self, env: &str, view: Value) -> Stat {
        self.set_view_bytes(env, &config_to_bytes(&obj(view))).await
    }

    pub async fn set_view_bytes(&self, env: &str, bytes: &[u8]) -> Stat {
        self.zk
            .set_data(&self.view_path(env), bytes, None)
            .await
            .unwrap_or_else(|e| panic!("set view {env}: {e}"))
    }

    /// Associates `host` with `env` (line format, as original Jones writes).
    pub async fn associate(&self, host: &str, env: &str) {
        let path = self.layout.nodemap_path();
        let (data, _) = self.zk.get_data(path).await.unwrap();
        let mut nodemap = Nodemap::parse(&data).unwrap();
        nodemap
            .insert(host, self.layout.view_path(&EnvPath::new(env).unwrap()))
            .unwrap();
        self.zk
            .set_data(path, &nodemap.to_bytes(), None)
            .await
            .unwrap();
    }

    /// Builds the association index from the nodemap as the server does:
    /// the directory marked building, one znode per association, then the
    /// directory marked complete.
    pub async fn build_index(&self) {
        let dir = self.layout.associations_path();
        let building = IndexState::building().to_bytes();
        match self.zk.create(dir, &building, &PERSISTENT).await {
            Ok(_) => {}
            Err(zookeeper_client::Error::NodeExists) => self.mark_index(false).await,
            Err(e) => panic!("create {dir}: {e}"),
        }
        let (data, _) = self.zk.get_data(self.layout.nodemap_path()).await.unwrap();
        for (host, view) in Nodemap::parse(&data).unwrap().iter() {
            let path = self.layout.association_path(host);
            let record = AssociationRecord::new(view).to_bytes();
            match self.zk.create(&path, &record, &PERSISTENT).await {
                Ok(_) => {}
                Err(zookeeper_client::Error::NodeExists) => {
                    self.zk.set_data(&path, &record, None).await.unwrap();
                }
                Err(e) => panic!("create {path}: {e}"),
            }
        }
        self.mark_index(true).await;
    }

    /// Marks the association index complete or being built.
    pub async fn mark_index(&self, complete: bool) {
        let state = if complete {
            IndexState::complete()
        } else {
            IndexState::building()
        };
        self.zk
            .set_data(self.layout.associations_path(), &state.to_bytes(), None)
            .await
            .unwrap();
    }

    /// A client of this service for `association`.
    pub async fn client(&self, association: &str) -> JonesClient {
        JonesClient::builder(&self.service)
            .zk(&self.connect_string)
            .association(association)
            .build()
            .await
            .unwrap_or_else(|e| panic!("client for {association}: {e}"))
    }
}

/// Polls `check` until it holds, failing after [`PATIENCE`].
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for the next snapshot on `changes`, failing after [`PATIENCE`].
pub async fn next_change(
    changes: &mut tokio::sync::watch::Receiver<std::sync::Arc<Snapshot>>,
) -> std::sync::Arc<Snapshot> {
    within(PATIENCE, changes.changed())
        .await
        .expect("client alive");
    changes.borrow_and_update().clone()
}

/// `future`'s output, failing the test when it takes longer than `limit`.
pub async fn within<F: Future>(limit: Duration, future: F) -> F::Output {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("no result within {limit:?}"))
}

/// The config as a JSON value, for comparisons.
pub fn value(config: &Config) -> Value {
    Value::Object(config.clone())
}

/// Freezes `zk` until `client` says its session expired; the server stays
/// frozen.
pub async fn freeze_until_expired(
    zk: &jones_testkit::ZooKeeper,
    client: &jones_client::JonesClient,
) {
    zk.pause().unwrap();
    eventually("the session to expire", || {
        client
            .status()
            .last_error
            .is_some_and(|e| e.contains("expired"))
    })
    .await;
}

/// Expires `client`'s session by freezing `zk`, then resumes it and waits
/// for the new session to connect.
pub async fn expire_session(zk: &jones_testkit::ZooKeeper, client: &jones_client::JonesClient) {
    let sessions = client.status().sessions;
    freeze_until_expired(zk, client).await;
    zk.resume().unwrap();
    eventually("a new session", || {
        let status = client.status();
        status.sessions > sessions && status.connected
    })
    .await;
}
