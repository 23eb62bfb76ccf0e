//! Errors you can see, nothing lost: lasting read failures show in the
//! status with their cause and are retried with backoff; a view that
//! appears after being missing is read without another write.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jones_client::{Cause, EnvPath, JonesClient};
use jones_testkit::ZooKeeper;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use zookeeper_client::{Acls, CreateMode};

use crate::harness::{Tree, connect, eventually, within};

/// Each connection's session id and the requests the server received
/// on it (`cons`: `sid=` and `recved=`, pings included).
fn connections(zk: &ZooKeeper) -> Vec<(String, u64)> {
    let cons = jones_testkit::four_letter_word(zk.port(), "cons").unwrap();
    cons.lines()
        .filter_map(|line| {
            let field = |name: &str| {
                line.split([',', '(', ')'])
                    .find_map(|f| f.trim().strip_prefix(name).map(str::to_owned))
            };
            Some((field("sid=")?, field("recved=")?.parse().ok()?))
        })
        .collect()
}

/// The session of the one connection opened since `before` was taken.
async fn new_session(zk: &ZooKeeper, before: &[(String, u64)]) -> String {
    let mut fresh = Vec::new();
    eventually("the client's connection", || {
        fresh = connections(zk)
            .into_iter()
            .filter(|(sid, _)| before.iter().all(|(old, _)| old != sid))
            .map(|(sid, _)| sid)
            .collect();
        !fresh.is_empty()
    })
    .await;
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    fresh.remove(0)
}

/// Requests received so far on the connection of session `sid`. A
/// reconnection starts its count over: the tests here keep one connection.
fn requests_of(zk: &ZooKeeper, sid: &str) -> u64 {
    connections(zk)
        .into_iter()
        .find(|(s, _)| s == sid)
        .unwrap_or_else(|| panic!("no connection of session {sid}"))
        .1
}

fn has_cause(client: &JonesClient, cause: Cause, path: &str) -> bool {
    client
        .status()
        .errors
        .iter()
        .any(|e| e.cause == cause && e.path == path)
}

#[tokio::test]
async fn a_view_the_acl_forbids_shows_as_no_auth_and_is_retried_with_backoff() {
    let zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let secret = tree
        .layout
        .view_path(&EnvPath::new("parent/secret").unwrap());
    let owner = connect(&zk.connect_string()).await;
    owner.auth("digest", b"owner:pw").await.unwrap();
    owner
        .create(
            &secret,
            br#"{"a": "secret"}"#,
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    let before = connections(&zk);
    let client = tree.client("127.0.0.2").await;
    let sid = new_session(&zk, &before).await;
    let mut statuses = client.subscribe_status();
    tree.associate("127.0.0.2", "parent/secret").await;
    within(Duration::from_secs(20), async {
        while !statuses
            .borrow_and_update()
            .errors
            .iter()
            .any(|e| e.cause == Cause::NoAuth)
        {
            statuses.changed().await.unwrap();
        }
    })
    .await;
    let status = client.status();
    assert!(status.stale_since.is_some(), "{status:?}");
    assert!(has_cause(&client, Cause::NoAuth, &secret), "{status:?}");
    assert!(status.last_error.unwrap().contains("NoAuth"));
    assert_eq!(client.get::<i64>("a"), Some(2), "the last config is served");

    // What the client's own session sends: its retries (a view read and a
    // nodemap stat each) and a ping every few seconds. At a fixed 200 ms
    // that would be about 20 retries (40 requests) in the 4 s window;
    // backing off (doubling from 200 ms, jittered) it is two or three,
    // however the jitter falls.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = requests_of(&zk, &sid);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let requests = requests_of(&zk, &sid) - before;
    assert!(requests <= 10, "{requests} requests in 4 s");

    // Readable again (after the next retry): followed.
    owner
        .set_acl(&secret, &Acls::anyone_all(), None)
        .await
        .unwrap();
    eventually("the view once readable", || {
        client.get::<String>("a").as_deref() == Some("secret")
    })
    .await;
    assert!(client.status().errors.is_empty());
    client.close().await;
}

#[tokio::test]
async fn a_nodemap_path_outside_the_service_is_refused_and_shown() {
    let zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let before = connections(&zk);
    let client = tree.client("127.0.0.2").await;
    let sid = new_session(&zk, &before).await;
    let nodemap = tree.layout.nodemap_path();
    let (data, _) = tree.zk.get_data(nodemap).await.unwrap();
    let mut map = jones_client::Nodemap::parse(&data).unwrap();
    // The view of another service's environment: readable, but not ours.
    let foreign = tree
        .view_path("parent")
        .replace(&tree.service, &jones_testkit::unique_name("other"));
    crate::harness::create_all(&tree.zk, &foreign, br#"{"a": "foreign"}"#).await;
    map.insert("127.0.0.2", foreign).unwrap();
    tree.zk
        .set_data(nodemap, &map.to_bytes(), None)
        .await
        .unwrap();
    eventually("the bad path in the status", || {
        has_cause(&client, Cause::NotAView, nodemap)
    })
    .await;
    let status = client.status();
    assert!(status.last_error.unwrap().contains("not a view of service"));
    assert!(status.stale_since.is_some());
    assert_eq!(client.get::<i64>("a"), Some(2), "the last config is served");
    assert_eq!(client.snapshot().view_path, tree.view_path("parent/child1"));
    // Nothing to read until the nodemap changes: the client waits for its
    // watch and sends nothing but pings (one every few seconds).
    let before = requests_of(&zk, &sid);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let requests = requests_of(&zk, &sid) - before;
    assert!(requests <= 3, "{requests} requests in 4 s");
    tree.associate("127.0.0.2", "parent/child2").await;
    eventually("the fixed nodemap", || client.get::<i64>("a") == Some(3)).await;
    assert!(client.status().errors.is_empty());
    client.close().await;
}

#[tokio::test]
async fn a_repoint_to_a_missing_view_shows_and_is_followed_when_it_appears() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.2").await;
    tree.associate("127.0.0.2", "parent/later").await;
    let later = tree.view_path("parent/later");
    eventually("the missing view in the status", || {
        has_cause(&client, Cause::MissingView, &later)
    })
    .await;
    assert_eq!(client.get::<i64>("a"), Some(2), "the last config is served");
    crate::harness::create_all(&tree.zk, &later, br#"{"a": 7}"#).await;
    eventually("the created view", || client.get::<i64>("a") == Some(7)).await;
    assert!(client.status().errors.is_empty());
    assert_eq!(client.snapshot().view_path, later);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_created_just_after_it_was_found_missing_is_read_without_another_write() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let (missing_tx, mut missing) = mpsc::unbounded_channel::<(String, oneshot::Sender<()>)>();
    let armed = Arc::new(Mutex::new(false));
    let hook_armed = armed.clone();
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .hook_after_missing_view(move |path| {
            let (go, wait) = oneshot::channel();
            if *hook_armed.lock().unwrap() {
                let _ = missing_tx.send((path, go));
            } else {
                let _ = go.send(());
            }
            async move {
                let _ = wait.await;
            }
        })
        .build()
        .await
        .unwrap();
    *armed.lock().unwrap() = true;
    tree.associate("127.0.0.2", "parent/late").await;
    let late = tree.view_path("parent/late");
    // The client found the view missing; it is created before the client
    // sets its exists watch, and never written again.
    let (path, go) = within(Duration::from_secs(20), missing.recv())
        .await
        .unwrap();
    assert_eq!(path, late);
    crate::harness::create_all(&tree.zk, &late, br#"{"a": 8}"#).await;
    *armed.lock().unwrap() = false;
    go.send(()).unwrap();
    eventually("the view created in the window", || {
        client.get::<i64>("a") == Some(8)
    })
    .await;
    client.close().await;
}

#[tokio::test]
async fn an_unparseable_view_shows_its_cause_and_the_next_good_write_clears_it() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.2").await;
    let path = tree.view_path("parent/child1");
    tree.set_view_bytes("parent/child1", b"{not json").await;
    eventually("the parse error", || {
        has_cause(&client, Cause::Unparseable, &path)
    })
    .await;
    assert_eq!(client.get::<i64>("a"), Some(2));
    tree.set_view("parent/child1", json!({"a": 5})).await;
    eventually("the good write", || client.get::<i64>("a") == Some(5)).await;
    assert!(client.status().errors.is_empty());
    client.close().await;
}
