//! Failure behaviour: the client serves its last config through a
//! ZooKeeper restart, a session expiry, a leader kill, and bad data, and
//! converges to the latest config afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jones_client::JonesClient;
use jones_testkit::{Ensemble, ZooKeeper};
use serde_json::json;

use crate::harness::{Tree, connect, eventually, value};

fn counting(client: &JonesClient) -> (Arc<AtomicUsize>, jones_client::CallbackGuard) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let guard = client.on_change(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (calls, guard)
}

#[tokio::test]
async fn serves_the_last_config_through_a_restart_and_converges() {
    let mut zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .session_timeout(Duration::from_secs(20))
        .build()
        .await
        .unwrap();
    let (calls, _guard) = counting(&client);
    let before = client.snapshot();

    zk.stop();
    eventually("the client to notice", || !client.status().connected).await;
    let status = client.status();
    assert!(status.stale_since.is_some(), "{status:?}");
    assert_eq!(client.get::<i64>("a"), Some(2), "the last config is served");
    assert_eq!(client.snapshot(), before);

    zk.restart().unwrap();
    eventually("reconnection", || client.status().connected).await;
    // The re-read after reconnecting finds the same revision: no change fires.
    let writer = connect(&zk.connect_string()).await;
    writer
        .set_data(&tree.view_path("parent/child1"), br#"{"a": 20}"#, None)
        .await
        .unwrap();
    eventually("the new config", || client.get::<i64>("a") == Some(20)).await;
    // Callbacks run in order on their own thread: once the last config
    // reached the counter's thread, a second call would have too.
    eventually("the callback", || calls.load(Ordering::SeqCst) >= 1).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let status = client.status();
    assert!(
        status.connected && status.stale_since.is_none(),
        "{status:?}"
    );
    assert_eq!(status.sessions, 1, "the session survived the restart");
    client.close().await;
}

#[tokio::test]
async fn rebuilds_the_session_after_expiry_and_converges() {
    let zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.1")
        .session_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    let (calls, _guard) = counting(&client);

    // Frozen longer than the session timeout: the client declares the
    // session expired (about 7/5 of the timeout after it last heard).
    crate::harness::freeze_until_expired(&zk, &client).await;
    assert_eq!(client.get::<i64>("a"), Some(1), "the last config is served");
    assert!(!client.status().connected);
    zk.resume().unwrap();

    eventually("a new session", || {
        let s = client.status();
        s.connected && s.sessions >= 2
    })
    .await;
    let writer = connect(&zk.connect_string()).await;
    writer
        .set_data(&tree.view_path("parent"), br#"{"a": 30}"#, None)
        .await
        .unwrap();
    eventually("the new config", || client.get::<i64>("a") == Some(30)).await;
    eventually("the callback", || calls.load(Ordering::SeqCst) >= 1).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the re-read of the same revision fired"
    );
    assert_eq!(client.status().last_error, None);
    client.close().await;
}

#[tokio::test]
async fn serves_through_a_leader_kill_and_converges() {
    let mut ensemble = Ensemble::start().unwrap();
    let tree = Tree::original(&ensemble.connect_string()).await;
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .session_timeout(Duration::from_secs(10))
        .build()
        .await
        .unwrap();
    let leader = ensemble.leader().expect("a leader");
    ensemble.stop(leader);
    assert_eq!(client.get::<i64>("a"), Some(2));
    ensemble.wait_for_quorum().unwrap();
    let writer = connect(&ensemble.connect_string()).await;
    writer
        .set_data(&tree.view_path("parent/child1"), br#"{"a": 40}"#, None)
        .await
        .unwrap();
    eventually("the new config", || client.get::<i64>("a") == Some(40)).await;
    eventually("a connected client", || client.status().connected).await;
    client.close().await;
}

#[tokio::test]
async fn corrupt_view_json_keeps_the_last_good_config_until_fixed() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.1").await;
    let good = client.snapshot();
    let changes = client.subscribe();
    tree.set_view_bytes("parent", b"{\"a\": 1, broken").await;
    eventually("the error in the status", || {
        client.status().last_error.is_some()
    })
    .await;
    let status = client.status();
    let error = status.last_error.clone().unwrap();
    assert!(
        error.contains(&tree.view_path("parent")) && error.contains("not valid JSON"),
        "{error}"
    );
    assert!(status.stale_since.is_some());
    assert_eq!(client.snapshot(), good);
    assert!(!changes.has_changed().unwrap());

    tree.set_view_bytes("parent", b"[1, 2]").await;
    eventually("the second error", || {
        client
            .status()
            .last_error
            .is_some_and(|e| e.contains("an array"))
    })
    .await;
    assert_eq!(client.snapshot(), good);

    tree.set_view("parent", json!({"a": 50})).await;
    eventually("recovery", || client.get::<i64>("a") == Some(50)).await;
    let status = client.status();
    assert_eq!((status.last_error, status.stale_since), (None, None));
    client.close().await;
}

#[tokio::test]
async fn a_deleted_view_keeps_the_last_config_and_returns() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.2").await;
    let path = tree.view_path("parent/child1");
    tree.zk.delete(&path, None).await.unwrap();
    eventually("the deletion in the status", || {
        client
            .status()
            .last_error
            .is_some_and(|e| e.contains("deleted"))
    })
    .await;
    assert_eq!(client.get::<i64>("a"), Some(2));
    crate::harness::create_all(&tree.zk, &path, br#"{"a": 60}"#).await;
    eventually("the recreated view", || client.get::<i64>("a") == Some(60)).await;
    assert_eq!(client.status().last_error, None);
    client.close().await;
}

#[tokio::test]
async fn a_corrupt_nodemap_keeps_the_current_view() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.2").await;
    tree.zk
        .set_data(tree.layout.nodemap_path(), b"this is no nodemap", None)
        .await
        .unwrap();
    eventually("the error in the status", || {
        client
            .status()
            .last_error
            .is_some_and(|e| e.contains("nodemap"))
    })
    .await;
    tree.set_view("parent/child1", json!({"a": 70})).await;
    eventually("updates of the current view", || {
        client.get::<i64>("a") == Some(70)
    })
    .await;
    assert!(
        client.status().last_error.is_some(),
        "the nodemap is still broken"
    );
    let fixed = format!("127.0.0.2 -> {}", tree.view_path("parent"));
    tree.zk
        .set_data(tree.layout.nodemap_path(), fixed.as_bytes(), None)
        .await
        .unwrap();
    eventually("the fixed nodemap", || client.get::<i64>("a") == Some(1)).await;
    assert_eq!(client.status().last_error, None);
    assert_eq!(
        value(&client.snapshot().config),
        json!({"foo": "bar", "a": 1, "b": [1, 2, 3], "c": {"x": 0}})
    );
    client.close().await;
}

#[tokio::test]
async fn close_stops_every_task() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let client = tree.client("127.0.0.1").await;
    assert!(metrics.num_alive_tasks() > baseline);
    client.close().await;
    eventually("every task to end", || {
        metrics.num_alive_tasks() == baseline
    })
    .await;
    // Reads keep serving the last config; updates no longer arrive.
    tree.set_view("parent", json!({"a": 80})).await;
    assert_eq!(client.get::<i64>("a"), Some(1));
}

#[tokio::test]
async fn a_host_moved_to_a_missing_view_keeps_its_config() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.2").await;
    tree.associate("127.0.0.2", "parent/not-yet").await;
    eventually("the missing view in the status", || {
        client
            .status()
            .last_error
            .is_some_and(|e| e.contains("parent/not-yet") && e.contains("does not exist"))
    })
    .await;
    assert_eq!(client.get::<i64>("a"), Some(2));
    crate::harness::create_all(&tree.zk, &tree.view_path("parent/not-yet"), br#"{"a": 90}"#).await;
    eventually("the view once created", || {
        client.get::<i64>("a") == Some(90)
    })
    .await;
    assert_eq!(client.status().last_error, None);
    client.close().await;
}

#[tokio::test]
async fn an_expired_supplied_client_keeps_the_last_config_and_says_why() {
    let zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let supplied = zookeeper_client::Client::connector()
        .with_session_timeout(Duration::from_secs(1))
        .connect(&zk.connect_string())
        .await
        .unwrap();
    let client = JonesClient::builder(&tree.service)
        .zk_client(supplied)
        .association("127.0.0.1")
        .build()
        .await
        .unwrap();
    zk.pause().unwrap();
    eventually("the session to end", || {
        client
            .status()
            .last_error
            .is_some_and(|e| e.contains("cannot be rebuilt"))
    })
    .await;
    zk.resume().unwrap();
    assert_eq!(client.get::<i64>("a"), Some(1));
    assert!(!client.status().connected);
    client.close().await;
}
