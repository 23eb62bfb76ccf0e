//! The API app teams expect, against live trees: start without waiting,
//! evaluation details, digest authentication, typed handles, and
//! `on_change` with the snapshot current at registration.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jones_client::{Cause, Error, JonesClient, Reason, Snapshot};
use jones_testkit::ZooKeeper;
use serde_json::json;
use zookeeper_client::{Acls, CreateMode};

use crate::harness::{Tree, connect, eventually, within};

#[tokio::test]
async fn a_client_started_without_waiting_serves_defaults_then_becomes_ready() {
    let zk = ZooKeeper::shared();
    let service = jones_testkit::unique_name("later");
    let began = Instant::now();
    let client = JonesClient::builder(&service)
        .zk(&zk.connect_string())
        .association("web-01")
        .start()
        .unwrap();
    assert!(began.elapsed() < Duration::from_millis(500));
    assert!(!client.is_ready() && !client.status().ready);
    let workers = client.setting("workers", 4u32);
    let detail = client.get_detail("workers", 4u32);
    assert_eq!((detail.value, detail.reason), (4, Reason::NotReady));
    assert_eq!(workers.detail().reason, Reason::NotReady);
    assert_eq!(client.enabled_detail("beta", true).reason, Reason::NotReady);

    // The service does not exist: waiting says what is missing.
    let Err(Error::StartTimeout { reason, .. }) =
        client.wait_ready(Duration::from_millis(700)).await
    else {
        panic!("not ready without a tree");
    };
    assert!(reason.contains("does not exist"), "{reason}");
    assert!(
        client
            .status()
            .errors
            .iter()
            .any(|e| e.cause == Cause::MissingView)
    );

    // Created later, it is read without a restart.
    let tree = Tree::original_named(&zk.connect_string(), &service).await;
    let stat = tree
        .set_view("", json!({"foo": "bar", "workers": 12}))
        .await;
    within(
        Duration::from_secs(20),
        client.wait_ready(Duration::from_secs(20)),
    )
    .await
    .unwrap();
    eventually("the root view", || client.get::<u32>("workers") == Some(12)).await;
    let detail = client.get_detail("workers", 4u32);
    assert_eq!((detail.value, detail.reason), (12, Reason::Found));
    assert_eq!(detail.revision.unwrap().mzxid, stat.mzxid);
    assert_eq!(workers.get(), 12);
    assert_eq!(workers.detail().revision, detail.revision);
    assert!(client.status().ready && client.status().errors.is_empty());
    client.close().await;
}

#[tokio::test]
async fn a_client_started_without_waiting_serves_the_cache_marked_stale() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("jones.json");
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let live = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .cache_file(&cache)
        .build()
        .await
        .unwrap();
    eventually("the cache file", || cache.exists()).await;
    live.close().await;

    // Nothing listens on port 1.
    let client = JonesClient::builder(&tree.service)
        .zk("127.0.0.1:1")
        .association("127.0.0.2")
        .cache_file(&cache)
        .start()
        .unwrap();
    assert!(!client.is_ready());
    let a = client.get_detail("a", 0i64);
    assert_eq!((a.value, a.reason), (2, Reason::Stale));
    assert_eq!(client.get_detail("nope", 0i64).reason, Reason::NotReady);
    let status = client.status();
    assert!(status.from_cache && !status.ready, "{status:?}");
    assert!(status.errors.iter().any(|e| e.cause == Cause::Cache));
    assert!(client.wait_ready(Duration::from_millis(300)).await.is_err());
    client.close().await;
}

#[tokio::test]
async fn digest_authentication_reads_a_view_only_its_user_may_read() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let secret = tree.view_path("parent/secret");
    let owner = connect(&tree.connect_string).await;
    owner.auth("digest", b"billing:s3cret").await.unwrap();
    owner
        .create(
            &secret,
            br#"{"a": "secret"}"#,
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    tree.associate("billing-01", "parent/secret").await;

    let refused = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("billing-01")
        .build()
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("NoAuth") || refused.to_string().contains("auth"),
        "{refused}"
    );

    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("billing-01")
        .digest("billing", "s3cret")
        .build()
        .await
        .unwrap();
    assert_eq!(client.get::<String>("a").as_deref(), Some("secret"));
    let builder = JonesClient::builder("x").digest("billing", "s3cret");
    assert!(!format!("{builder:?}").contains("s3cret"));
    client.close().await;
}

#[tokio::test]
async fn typed_handles_and_details_follow_every_change_of_the_live_view() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.3").await;
    let workers = client.setting("workers", 1u32);
    let name = client.setting("name", String::from("none"));
    let beta = client.switch("beta");
    let serve = client.switch_or("serve", true);
    assert_eq!(workers.detail().reason, Reason::Missing);
    assert!(!beta.enabled() && serve.enabled());

    for n in 1..=20u32 {
        let stat = tree
            .set_view(
                "",
                json!({"workers": n, "name": format!("n{n}"), "beta": n % 2 == 0, "serve": n % 3 != 0}),
            )
            .await;
        eventually("the new revision in the handles", || {
            workers.detail().revision.map(|r| r.mzxid) == Some(stat.mzxid)
        })
        .await;
        // A handle is refreshed in the publish, before the snapshot is
        // visible: it never lags the snapshot it came with.
        assert_eq!(workers.get(), n);
        assert_eq!(name.with(|s| s.clone()), format!("n{n}"));
        assert_eq!(beta.enabled(), n % 2 == 0);
        assert_eq!(serve.enabled(), n % 3 != 0);
        let detail = beta.detail();
        assert_eq!(
            (detail.reason, detail.revision),
            (Reason::Found, client.snapshot().revision)
        );
        assert_eq!(client.enabled_detail("beta", false).value, n % 2 == 0);
    }
    tree.set_view("", json!({"workers": "many"})).await;
    eventually("a wrong type", || {
        workers.detail().reason == Reason::WrongType
    })
    .await;
    assert_eq!(workers.get(), 1);
    assert_eq!(client.get_detail("workers", 7u32).reason, Reason::WrongType);
    assert!(serve.enabled(), "a missing kill switch stays on");
    client.close().await;
}

#[tokio::test]
async fn bucket_and_percentage_details_follow_the_live_view_with_their_defaults() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.3").await;
    let missing = client.in_buckets_detail("buckets", "enabled_for", 13, true);
    assert_eq!((missing.value, missing.reason), (true, Reason::Missing));
    let stat = tree
        .set_view(
            "",
            json!({"buckets": 10, "enabled_for": [0, 3], "pct": 100, "bad": [1]}),
        )
        .await;
    eventually("the buckets", || client.contains("buckets")).await;
    let on = client.in_buckets_detail("buckets", "enabled_for", 13, false);
    assert_eq!((on.value, on.reason), (true, Reason::Found));
    assert_eq!(on.revision.map(|r| r.mzxid), Some(stat.mzxid));
    let off = client.in_buckets_detail("buckets", "enabled_for", 14, true);
    assert_eq!((off.value, off.reason), (false, Reason::Found));
    let bad = client.in_buckets_detail("bad", "enabled_for", 13, true);
    assert_eq!((bad.value, bad.reason), (true, Reason::WrongType));
    let pct = client.percentage_detail("pct", "user-17", false);
    assert_eq!((pct.value, pct.reason), (true, Reason::Found));
    let bad = client.percentage_detail("bad", "user-17", true);
    assert_eq!((bad.value, bad.reason), (true, Reason::WrongType));
    let absent = client.percentage_detail("absent", "user-17", true);
    assert_eq!((absent.value, absent.reason), (true, Reason::Missing));
    client.close().await;
}

#[tokio::test]
async fn details_of_a_disconnected_client_say_stale() {
    let mut zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let client = tree.client("127.0.0.1").await;
    let beta = client.switch_or("beta", true);
    assert_eq!(client.get_detail("a", 0i64).reason, Reason::Found);
    zk.stop();
    eventually("disconnected", || !client.status().connected).await;
    let a = client.get_detail("a", 0i64);
    assert_eq!((a.value, a.reason), (1, Reason::Stale));
    assert_eq!(
        beta.detail().reason,
        Reason::Missing,
        "a default is not stale"
    );
    zk.restart().unwrap();
    eventually("connected", || client.status().is_current()).await;
    assert_eq!(client.get_detail("a", 0i64).reason, Reason::Found);
    client.close().await;
}

#[tokio::test]
async fn on_change_gets_exactly_the_snapshots_after_the_one_its_guard_holds() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.3").await;
    let writer = async {
        for n in 1..=60 {
            tree.set_view("", json!({"n": n})).await;
        }
    };
    let register = async {
        let mut seen = Vec::new();
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(15)).await;
            let calls: Arc<Mutex<Vec<i64>>> = Arc::default();
            let sink = calls.clone();
            let guard = client.on_change(move |s: &Arc<Snapshot>| {
                sink.lock().unwrap().push(s.get::<i64>("n").unwrap_or(0));
            });
            let start = guard.current().get::<i64>("n").unwrap_or(0);
            seen.push((start, calls, guard));
        }
        seen
    };
    let ((), seen) = tokio::join!(writer, register);
    eventually("the last write", || client.get::<i64>("n") == Some(60)).await;
    for (start, calls, _guard) in &seen {
        eventually("every later snapshot", || {
            *start == 60 || calls.lock().unwrap().last() == Some(&60)
        })
        .await;
        let calls = calls.lock().unwrap().clone();
        // Each snapshot after the one held, none before, none twice: the
        // values rise by one from `start`, except where writes were
        // coalesced between two reads of the view.
        assert!(
            calls.iter().all(|&n| n > *start),
            "start {start}: {calls:?}"
        );
        assert!(
            calls.windows(2).all(|w| w[0] < w[1]),
            "start {start}: {calls:?}"
        );
    }
    client.close().await;
}
