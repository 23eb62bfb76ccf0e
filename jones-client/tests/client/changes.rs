//! Updates reach the client once each, in order, and a moved host stops
//! hearing from its old environment.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jones_testkit::ZooKeeper;
use serde_json::json;

use crate::harness::{Tree, eventually, next_change};

#[tokio::test]
async fn each_update_fires_the_subscriber_and_callbacks_exactly_once() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.3").await;
    let mut changes = client.subscribe();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let guard = client.on_change(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    for n in 1..=5 {
        let stat = tree.set_view("", json!({"foo": "bar", "n": n})).await;
        let snapshot = next_change(&mut changes).await;
        assert_eq!(snapshot.config["n"], n);
        assert_eq!(snapshot.revision.unwrap().mzxid, stat.mzxid);
        assert_eq!(snapshot.revision.unwrap().version, stat.version);
    }
    // The write of n = 6 comes after all the others: once it is seen,
    // every earlier notification has been delivered.
    tree.set_view("", json!({"n": 6})).await;
    next_change(&mut changes).await;
    eventually("six calls", || calls.load(Ordering::SeqCst) >= 6).await;
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    assert!(!changes.has_changed().unwrap());
    drop(guard);
    tree.set_view("", json!({"n": 7})).await;
    next_change(&mut changes).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        6,
        "a dropped guard unregisters"
    );
    client.close().await;
}

#[tokio::test]
async fn a_rewrite_with_the_same_content_moves_the_revision_without_a_change() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.3").await;
    let mut changes = client.subscribe();
    let before = client.snapshot();
    let same = tree.set_view("", json!({"foo": "bar"})).await;
    eventually("the new revision", || {
        client
            .status()
            .revision
            .is_some_and(|r| r.mzxid == same.mzxid)
    })
    .await;
    assert_eq!(client.snapshot().config, before.config);
    assert!(!changes.has_changed().unwrap(), "no change fired");
    // A real change after it still fires, once.
    tree.set_view("", json!({"foo": "baz"})).await;
    assert_eq!(next_change(&mut changes).await.config["foo"], "baz");
    client.close().await;
}

#[tokio::test]
async fn a_thousand_rapid_updates_end_with_the_last_in_order() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.1").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let _guard = client.on_change(move |s| {
        log.lock().unwrap().push(s.config["n"].as_i64().unwrap());
    });
    let path = tree.view_path("parent");
    let bodies: Vec<Vec<u8>> = (0..1000)
        .map(|n| serde_json::to_vec(&json!({"n": n})).unwrap())
        .collect();
    // Each request is sent when its future is created: all 1000 are in
    // flight at once, and ZooKeeper applies them in order.
    let writes: Vec<_> = bodies
        .iter()
        .map(|b| tree.zk.set_data(&path, b, None))
        .collect();
    for write in writes {
        write.await.unwrap();
    }
    eventually("the last update", || client.get::<i64>("n") == Some(999)).await;
    eventually("the last callback", || {
        seen.lock().unwrap().last() == Some(&999)
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "out of order: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&999));
    client.close().await;
}

#[tokio::test]
async fn a_remapped_host_follows_its_new_view_and_never_hears_the_old_one() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.2").await;
    assert_eq!(client.get::<i64>("a"), Some(2));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let _guard = client.on_change(move |s| log.lock().unwrap().push(s.config.clone()));

    tree.associate("127.0.0.2", "parent/child2").await;
    eventually("the new view", || client.get::<i64>("a") == Some(3)).await;
    assert_eq!(client.snapshot().view_path, tree.view_path("parent/child2"));

    // The old environment changes, then (later in ZooKeeper's order) the new one.
    tree.set_view("parent/child1", json!({"a": 99, "old": true}))
        .await;
    tree.set_view("parent/child2", json!({"a": 4})).await;
    eventually("the new view's update", || {
        client.get::<i64>("a") == Some(4)
    })
    .await;
    // One more round trip through ZooKeeper for any straggler.
    tree.set_view("parent/child2", json!({"a": 5})).await;
    eventually("the second update", || client.get::<i64>("a") == Some(5)).await;
    eventually("the second update's callback", || {
        seen.lock().unwrap().last().map(|c| c["a"].clone()) == Some(json!(5))
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter().all(|c| !c.contains_key("old")),
        "the old view leaked: {seen:?}"
    );
    assert_eq!(seen.len(), 3, "{seen:?}");
    client.close().await;
}

#[tokio::test]
async fn a_snapshot_is_one_consistent_config() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.1").await;
    let before = client.snapshot();
    tree.set_view("parent", json!({"a": 10, "b": 10})).await;
    eventually("the update", || client.get::<i64>("a") == Some(10)).await;
    // The old snapshot is untouched.
    assert_eq!(before.config["a"], 1);
    let now = client.snapshot();
    assert_eq!(
        (now.get::<i64>("a"), now.get::<i64>("b")),
        (Some(10), Some(10))
    );
    assert!(now.revision > before.revision);
    client.close().await;
}

#[tokio::test]
async fn a_panicking_callback_does_not_stop_the_client() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.3").await;
    let _bad = client.on_change(|_| panic!("a buggy app callback"));
    tree.set_view("", json!({"n": 1})).await;
    eventually("the first update", || client.get::<i64>("n") == Some(1)).await;
    tree.set_view("", json!({"n": 2})).await;
    eventually("the second update", || client.get::<i64>("n") == Some(2)).await;
    client.close().await;
}

#[tokio::test]
async fn switches_read_the_live_config_and_count_misses() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.3").await;
    assert!(!client.enabled("new_checkout"));
    assert_eq!(client.status().switch_misses, 1, "a missing key is a miss");
    tree.set_view(
        "",
        json!({"new_checkout": true, "pct": 100, "buckets": 4, "enabled_for": [1]}),
    )
    .await;
    eventually("the switches", || client.enabled("new_checkout")).await;
    assert!(client.percentage("pct", "any-unit"));
    assert!(client.in_buckets("buckets", "enabled_for", 5));
    assert!(!client.in_buckets("buckets", "enabled_for", 6));
    let misses = client.switch_misses();
    assert!(
        !client.percentage("new_checkout", 1),
        "a boolean is no percentage"
    );
    assert_eq!(client.switch_misses(), misses + 1);
    client.close().await;
}
