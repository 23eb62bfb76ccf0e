//! Exact following: a host moved away from a view in the same transaction
//! that rewrites that view is never shown the rewrite, however the nodemap
//! and view events interleave, and also while sessions expire.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jones_client::{EnvPath, JonesClient, Nodemap, Snapshot};
use jones_testkit::ZooKeeper;
use serde_json::json;

use crate::harness::{Tree, eventually, within};

pub(crate) const HOST: &str = "mover";
pub(crate) const VIEWS: [&str; 2] = ["parent/child1", "parent/child2"];

/// Every snapshot the app was shown, through callbacks (each one, in
/// order) and a subscriber (possibly coalesced).
#[derive(Clone, Default)]
pub(crate) struct Shown(Arc<Mutex<Vec<Arc<Snapshot>>>>);

impl Shown {
    pub(crate) fn record(&self, client: &JonesClient) -> jones_client::CallbackGuard {
        let log = self.clone();
        let mut changes = client.subscribe();
        let subscriber_log = self.clone();
        tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                let snapshot = changes.borrow_and_update().clone();
                subscriber_log.0.lock().unwrap().push(snapshot);
            }
        });
        client.on_change(move |s| log.0.lock().unwrap().push(s.clone()))
    }

    /// Fails on any snapshot showing the content a view was given in the
    /// transaction that moved the host away from it, or a marker of
    /// another view than the one the snapshot says it came from.
    pub(crate) fn check(&self, tree: &Tree) {
        for snapshot in self.0.lock().unwrap().iter() {
            let marker = snapshot.config.get("m").and_then(|m| m.as_str());
            let Some(marker) = marker else { continue };
            assert!(
                !marker.starts_with("left"),
                "the app was shown the view it had left: {marker} from {}",
                snapshot.view_path
            );
            let view = marker.split(' ').nth(1).unwrap();
            assert_eq!(
                snapshot.view_path,
                tree.view_path(view),
                "marker {marker} shown from another view"
            );
        }
    }
}

/// One transaction: the host moves from `from` to `to`, `from` is
/// rewritten (content the host must never see) and `to` is rewritten with
/// the content it must end on.
async fn move_host(tree: &Tree, zk: &zookeeper_client::Client, round: usize, from: &str, to: &str) {
    move_host_written(tree, zk, round, from, to, Index::Untouched).await;
}

/// Whether a move also rewrites the host's association znode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Index {
    /// In the same transaction, as our server does.
    Moved,
    /// Left as it is, as original Jones (or a server while it rebuilds the
    /// index) does.
    Untouched,
}

/// [`move_host`], writing the association znode too when `index` says so.
pub(crate) async fn move_host_written(
    tree: &Tree,
    zk: &zookeeper_client::Client,
    round: usize,
    from: &str,
    to: &str,
    index: Index,
) {
    let nodemap_path = tree.layout.nodemap_path();
    let (data, _) = zk.get_data(nodemap_path).await.unwrap();
    let mut nodemap = Nodemap::parse(&data).unwrap();
    nodemap
        .insert(HOST, tree.layout.view_path(&EnvPath::new(to).unwrap()))
        .unwrap();
    let left = serde_json::to_vec(&json!({"m": format!("left {from} {round}")})).unwrap();
    let arrived = serde_json::to_vec(&json!({"m": format!("good {to} {round}")})).unwrap();
    let mut writer = zk.new_multi_writer();
    writer
        .add_set_data(nodemap_path, &nodemap.to_bytes(), None)
        .unwrap();
    writer
        .add_set_data(&tree.view_path(from), &left, None)
        .unwrap();
    writer
        .add_set_data(&tree.view_path(to), &arrived, None)
        .unwrap();
    let record = jones_client::AssociationRecord::new(tree.view_path(to)).to_bytes();
    if index == Index::Moved {
        writer
            .add_set_data(&tree.layout.association_path(HOST), &record, None)
            .unwrap();
    }
    writer.commit().await.unwrap();
}

pub(crate) async fn prepare(tree: &Tree) {
    for view in VIEWS {
        tree.set_view(view, json!({"m": format!("good {view} start")}))
            .await;
    }
    tree.associate(HOST, VIEWS[0]).await;
}

pub(crate) fn expected(round: usize) -> String {
    format!("good {} {round}", VIEWS[(round + 1) % 2])
}

#[tokio::test]
async fn a_host_moved_in_the_transaction_that_rewrites_its_old_view_never_sees_the_rewrite() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    prepare(&tree).await;
    let client = tree.client(HOST).await;
    let shown = Shown::default();
    let _guard = shown.record(&client);
    for round in 0..240 {
        let (from, to) = (VIEWS[round % 2], VIEWS[(round + 1) % 2]);
        move_host(&tree, &tree.zk, round, from, to).await;
        let want = expected(round);
        eventually(&want, || {
            client.get::<String>("m").as_deref() == Some(want.as_str())
        })
        .await;
        shown.check(&tree);
    }
    client.close().await;
    shown.check(&tree);
}

/// Sessions expire every [`EXPIRE_EVERY`] moves: 40 expiries in 200 moves,
/// landing at different points of the move (queued while the server is
/// frozen, or committed just before it freezes).
const EXPIRE_EVERY: usize = 5;

#[tokio::test]
async fn exact_following_holds_while_sessions_expire() {
    let zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    prepare(&tree).await;
    // The shortest session the server grants (two ticks of 200 ms) and a
    // little: each expiry costs well under a second.
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association(HOST)
        .session_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap();
    let shown = Shown::default();
    let _guard = shown.record(&client);
    let mut expiries = 0;
    for round in 0..200 {
        let (from, to) = (VIEWS[round % 2], VIEWS[(round + 1) % 2]);
        if round % EXPIRE_EVERY == EXPIRE_EVERY - 1 {
            let sessions = client.status().sessions;
            let committed_first = round % (2 * EXPIRE_EVERY) == EXPIRE_EVERY - 1;
            if committed_first {
                // The client may or may not have read the move when the
                // server freezes.
                move_host(&tree, &tree.zk, round, from, to).await;
            }
            // Frozen past the session timeout: the client's session
            // expires (the writer's 20 s session does not).
            crate::harness::freeze_until_expired(&zk, &client).await;
            if committed_first {
                zk.resume().unwrap();
            } else {
                // The move is queued meanwhile and lands as the new
                // session reads.
                let writer = tree.zk.clone();
                let layout_tree = &tree;
                let moved = async move { move_host(layout_tree, &writer, round, from, to).await };
                let resume = async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    zk.resume().unwrap();
                };
                tokio::join!(moved, resume);
            }
            eventually("a new session", || client.status().sessions > sessions).await;
            expiries += 1;
        } else {
            move_host(&tree, &tree.zk, round, from, to).await;
        }
        let want = expected(round);
        eventually(&want, || {
            client.get::<String>("m").as_deref() == Some(want.as_str())
        })
        .await;
        shown.check(&tree);
    }
    assert_eq!(expiries, 200 / EXPIRE_EVERY);
    client.close().await;
    shown.check(&tree);
}

/// A session replaced while the driver is between two rounds (a round
/// that ended "read again" because the view appeared) must not carry the
/// old session's nodemap resolution and watch into the new session: the
/// host is still followed when it moves afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_replaced_between_rounds_drops_the_old_resolution() {
    use tokio::sync::{mpsc, oneshot};
    type Gate = (String, oneshot::Sender<()>);
    let zk = ZooKeeper::start().unwrap();
    let tree = Tree::original(&zk.connect_string()).await;
    let (missing_tx, mut missing) = mpsc::unbounded_channel::<Gate>();
    let (round_tx, mut rounds) = mpsc::unbounded_channel::<Gate>();
    let missing_armed = Arc::new(Mutex::new(false));
    let round_armed = Arc::new(Mutex::new(false));
    let (hook_missing, hook_round) = (missing_armed.clone(), round_armed.clone());
    let gate = |armed: &Arc<Mutex<bool>>, tx: &mpsc::UnboundedSender<Gate>, what: String| {
        let (go, wait) = oneshot::channel();
        if std::mem::take(&mut *armed.lock().unwrap()) {
            let _ = tx.send((what, go));
        } else {
            let _ = go.send(());
        }
        async move {
            let _ = wait.await;
        }
    };
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .session_timeout(Duration::from_secs(1))
        .hook_after_missing_view(move |path| gate(&hook_missing, &missing_tx, path))
        .hook_before_round(move || gate(&hook_round, &round_tx, String::new()))
        .build()
        .await
        .unwrap();
    let late = tree.view_path("parent/late");
    *missing_armed.lock().unwrap() = true;
    tree.associate("127.0.0.2", "parent/late").await;
    // Found missing; created before the exists watch: the round ends with
    // "read again".
    let (path, go) = within(Duration::from_secs(20), missing.recv())
        .await
        .unwrap();
    assert_eq!(path, late);
    crate::harness::create_all(&tree.zk, &late, br#"{"a": 8}"#).await;
    *round_armed.lock().unwrap() = true;
    go.send(()).unwrap();
    // Before the next round, the session expires and a new one replaces it.
    let (_, go) = within(Duration::from_secs(20), rounds.recv())
        .await
        .unwrap();
    crate::harness::expire_session(&zk, &client).await;
    go.send(()).unwrap();
    eventually("the view that appeared", || {
        client.get::<i64>("a") == Some(8)
    })
    .await;
    // Moved again: the new session watches the nodemap.
    tree.associate("127.0.0.2", "parent/child2").await;
    eventually("the host followed after the new session", || {
        client.get::<i64>("a") == Some(3)
    })
    .await;
    assert_eq!(client.snapshot().view_path, tree.view_path("parent/child2"));
    client.close().await;
}

/// Points `host` at the view of `env` with a versioned write, retried
/// when another writer got in first.
async fn repoint(tree: &Tree, zk: &zookeeper_client::Client, host: &str, env: &str) {
    let path = tree.layout.nodemap_path();
    loop {
        let (data, stat) = zk.get_data(path).await.unwrap();
        let mut nodemap = Nodemap::parse(&data).unwrap();
        nodemap
            .insert(host, tree.layout.view_path(&EnvPath::new(env).unwrap()))
            .unwrap();
        match zk
            .set_data(path, &nodemap.to_bytes(), Some(stat.version))
            .await
        {
            Ok(_) => return,
            Err(zookeeper_client::Error::BadVersion) => continue,
            Err(e) => panic!("repoint {host}: {e}"),
        }
    }
}

/// A nodemap rewritten without pause (other hosts re-pointed back and
/// forth by another writer, as fast as it can) keeps moving under the
/// client's rounds; the client still follows its own host and every write
/// of its view.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_is_followed_while_the_nodemap_churns() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let zk = ZooKeeper::start().unwrap();
    let tree = Arc::new(Tree::original(&zk.connect_string()).await);
    prepare(&tree).await;
    let client = tree.client(HOST).await;
    let shown = Shown::default();
    let _guard = shown.record(&client);
    let stop = Arc::new(AtomicBool::new(false));
    let churned = Arc::new(AtomicU64::new(0));
    let churn = {
        let (tree, stop, churned) = (tree.clone(), stop.clone(), churned.clone());
        let writer = crate::harness::connect(&tree.connect_string).await;
        tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let host = format!("other-{}", n % 10);
                repoint(&tree, &writer, &host, VIEWS[n % 2]).await;
                churned.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
        })
    };
    eventually("the churn to start", || {
        churned.load(Ordering::Relaxed) > 50
    })
    .await;
    for round in 0..20 {
        // The churn goes on between the test's own writes too.
        let mark = churned.load(Ordering::Relaxed);
        eventually("more churn", || churned.load(Ordering::Relaxed) >= mark + 5).await;
        let (from, to) = (VIEWS[round % 2], VIEWS[(round + 1) % 2]);
        // Even rounds move the host, then write the view moved to; odd
        // ones write the view followed, the host staying.
        let current = if round % 2 == 0 {
            repoint(&tree, &tree.zk, HOST, to).await;
            to
        } else {
            from
        };
        let want = format!("good {current} {round}");
        tree.set_view(current, json!({ "m": want })).await;
        eventually(&want, || {
            client.get::<String>("m").as_deref() == Some(want.as_str())
        })
        .await;
        assert_eq!(client.snapshot().view_path, tree.view_path(current));
    }
    stop.store(true, Ordering::Relaxed);
    churn.await.unwrap();
    shown.check(&tree);
    client.close().await;
}
