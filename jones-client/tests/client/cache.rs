//! The local fallback cache: written after each change, served at start
//! when ZooKeeper cannot be reached.

use std::time::Duration;

use jones_client::JonesClient;
use jones_testkit::ZooKeeper;
use serde_json::json;

use crate::harness::{Tree, eventually, value};

#[tokio::test]
async fn starts_from_the_cache_when_zookeeper_is_down_then_goes_live() {
    let mut zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("svc.json");
    let builder = || {
        JonesClient::builder(&tree.service)
            .zk(&tree.connect_string)
            .association("127.0.0.2")
            .session_timeout(Duration::from_secs(2))
            .start_timeout(Duration::from_secs(1))
            .cache_file(&cache)
    };
    let client = builder().build().await.unwrap();
    tree.set_view("parent/child1", json!({"a": 2, "cached": true}))
        .await;
    eventually("the update", || client.contains("cached")).await;
    let live = client.snapshot();
    client.close().await;
    let cached: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
    assert_eq!(cached["config"], json!({"a": 2, "cached": true}));
    assert_eq!(cached["mzxid"], live.revision.unwrap().mzxid);

    zk.stop();
    let client = builder().build().await.expect("served from the cache");
    assert_eq!(
        value(&client.snapshot().config),
        json!({"a": 2, "cached": true})
    );
    let status = client.status();
    assert!(status.from_cache && !status.connected, "{status:?}");
    assert!(status.stale_since.is_some());
    assert!(status.last_error.unwrap().contains("cache"));
    assert_eq!(status.revision, live.revision);

    zk.restart().unwrap();
    eventually("the live config", || !client.status().from_cache).await;
    let status = client.status();
    assert!(
        status.connected && status.stale_since.is_none(),
        "{status:?}"
    );
    assert_eq!(client.snapshot().config, live.config);
    client.close().await;
}

#[tokio::test]
async fn without_a_usable_cache_an_unreachable_zookeeper_is_an_error() {
    let mut zk = ZooKeeper::start().unwrap();
    let connect_string = zk.connect_string();
    zk.stop();
    let dir = tempfile::tempdir().unwrap();
    let err = JonesClient::builder("svc")
        .zk(&connect_string)
        .association("h")
        .start_timeout(Duration::from_millis(500))
        .cache_file(dir.path().join("never-written.json"))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, jones_client::Error::Unavailable { .. }),
        "{err}"
    );
}
