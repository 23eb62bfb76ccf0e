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

/// Writes the cache of host `127.0.0.2` of `tree` with a client that is
/// closed afterwards, and returns the cached config's `a`.
async fn write_cache(tree: &Tree, cache: &std::path::Path) -> i64 {
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .cache_file(cache)
        .build()
        .await
        .unwrap();
    eventually("the cache file", || cache.exists()).await;
    let a = client.get::<i64>("a").unwrap();
    client.close().await;
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_config_read_before_the_cache_is_served_is_kept() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("svc.json");
    assert_eq!(write_cache(&tree, &cache).await, 2);
    tree.set_view("parent/child1", json!({"a": 50})).await;
    // The live config is read before the cache is served.
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .cache_file(&cache)
        .hook_before_cache(|client| {
            let deadline = std::time::Instant::now() + crate::harness::PATIENCE;
            while !client.is_ready() {
                assert!(std::time::Instant::now() < deadline, "no live config");
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .start()
        .unwrap();
    let snapshot = client.snapshot();
    assert!(!snapshot.from_cache, "the cache replaced the live config");
    assert_eq!(client.get::<i64>("a"), Some(50));
    let status = client.status();
    assert!(status.errors.is_empty() && !status.from_cache, "{status:?}");
    eventually("a current status", || client.status().is_current()).await;
    assert_eq!(client.get::<i64>("a"), Some(50));
    client.close().await;
}

#[tokio::test]
async fn a_cache_of_another_services_view_is_not_served() {
    let mut zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("svc.json");
    write_cache(&tree, &cache).await;
    // The same file, claimed by a client of another service.
    let other = jones_testkit::unique_name("other");
    zk.stop();
    let err = JonesClient::builder(&other)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .start_timeout(Duration::from_millis(500))
        .cache_file(&cache)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, jones_client::Error::Unavailable { .. }),
        "{err}"
    );
    let started = JonesClient::builder(&other)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .cache_file(&cache)
        .start()
        .unwrap();
    assert!(!started.status().from_cache);
    assert_eq!(started.get::<i64>("a"), None);
    started.close().await;
}
