//! Lifecycle: close (and the drop of the last handle) ends every stream
//! and callback and closes the ZooKeeper session on the server; a slow
//! callback never stalls following.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jones_client::JonesClient;
use jones_testkit::ZooKeeper;
use serde_json::json;

use crate::harness::{Tree, eventually, within};

/// The sessions the server holds (`dump`'s session tracker section):
/// a session stays there until a CloseSession request ends it or it
/// times out, whether or not its connection is open.
fn sessions(zk: &ZooKeeper) -> BTreeSet<String> {
    let dump = jones_testkit::four_letter_word(zk.port(), "dump").unwrap();
    let tracker = dump
        .split("ephemeral nodes dump:")
        .next()
        .unwrap_or_default();
    tracker
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("0x"))
        .map(str::to_owned)
        .collect()
}

/// Waits for a session the server did not have in `before`; returns it.
async fn new_session(zk: &ZooKeeper, before: &BTreeSet<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(sid) = sessions(zk).difference(before).next() {
            return sid.clone();
        }
        assert!(Instant::now() < deadline, "no new session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Closing: at most this long from the `close()` call (or the drop of the
/// last handle) until every stream ended and the server ended the session.
const CLOSE_LIMIT: Duration = Duration::from_secs(1);

/// A subscriber loop as the README shows it, and a status loop; each
/// task returns when its loop ends.
fn loops(client: &JonesClient) -> Vec<tokio::task::JoinHandle<()>> {
    let mut changes = client.subscribe();
    let mut statuses = client.subscribe_status();
    vec![
        tokio::spawn(async move { while changes.changed().await.is_ok() {} }),
        tokio::spawn(async move { while statuses.changed().await.is_ok() {} }),
    ]
}

#[tokio::test]
async fn close_ends_every_stream_and_callback_and_the_session_on_the_server() {
    let zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let before = sessions(&zk);
    let client = tree.client("127.0.0.1").await;
    let sid = new_session(&zk, &before).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let _guard = client.on_change(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let loops = loops(&client);
    let reader = client.clone();

    let closing = Instant::now();
    within(CLOSE_LIMIT, client.close()).await;
    // A session whose connection merely closed stays until it times out
    // (10 s); only a CloseSession request ends it at once.
    assert!(
        !sessions(&zk).contains(&sid),
        "session {sid} still open after close"
    );
    for handle in loops {
        within(CLOSE_LIMIT.saturating_sub(closing.elapsed()), handle)
            .await
            .unwrap();
    }
    assert!(client.subscribe().changed().await.is_err());
    // Reads go on with the last config; nothing is published any more.
    assert_eq!(reader.get::<i64>("a"), Some(1));
    tree.set_view("parent", json!({"a": 9})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reader.get::<i64>("a"), Some(1));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn dropping_the_last_handle_ends_the_streams_and_closes_the_session() {
    let zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let before = sessions(&zk);
    let client = tree.client("127.0.0.1").await;
    let sid = new_session(&zk, &before).await;
    let loops = loops(&client);
    let clone = client.clone();
    let dropped = Instant::now();
    drop(client);
    drop(clone);
    for handle in loops {
        within(CLOSE_LIMIT.saturating_sub(dropped.elapsed()), handle)
            .await
            .unwrap();
    }
    // Well within the 10 s session timeout: the session was closed, not
    // left to expire.
    while sessions(&zk).contains(&sid) {
        assert!(
            dropped.elapsed() < CLOSE_LIMIT * 2,
            "session {sid} still open after the drop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn the_blocking_facade_closes_the_same_way() {
    let zk = ZooKeeper::start().unwrap();
    let writes = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tree = writes.block_on(Tree::original(&zk.connect_string()));
    let before = sessions(&zk);
    let builder = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.1");
    let client = jones_client::blocking::JonesClient::build(builder).unwrap();
    let sid = writes.block_on(new_session(&zk, &before));
    let mut changes = client.as_async().subscribe();
    let closing = Instant::now();
    client.close();
    assert!(closing.elapsed() < CLOSE_LIMIT, "{:?}", closing.elapsed());
    assert!(!sessions(&zk).contains(&sid), "session {sid} still open");
    assert!(writes.block_on(changes.changed()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_callback_does_not_stall_following() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.2").await;
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let blocked = Mutex::new(blocked);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let _guard = client.on_change(move |s| {
        log.lock().unwrap().push(s.config.clone());
        // The first call blocks until the test lets it go.
        let _ = blocked.lock().unwrap().recv();
    });
    tree.set_view("parent/child1", json!({"a": 20})).await;
    tree.associate("127.0.0.2", "parent/child2").await;
    tree.set_view("parent/child2", json!({"a": 30})).await;
    // With the first callback still blocked, the client has re-pointed and
    // read the new view.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get::<i64>("a") != Some(30) {
        assert!(
            Instant::now() < deadline,
            "following stalled behind a slow callback: {:?}",
            client.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(client.snapshot().view_path, tree.view_path("parent/child2"));
    for _ in 0..10 {
        let _ = release.send(());
    }
    // Every change still reaches the callback, in order.
    eventually("the callbacks to catch up", || {
        seen.lock().unwrap().last().and_then(|c| c["a"].as_i64()) == Some(30)
    })
    .await;
    client.close().await;
}
