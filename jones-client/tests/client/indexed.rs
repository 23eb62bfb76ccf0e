//! Following through the association index: a host moved while the index
//! is rebuilt or while its client is disconnected is never shown a view
//! it left, a reconnect that missed nothing reads nothing, and a deleted
//! or garbled association znode is handled like the nodemap's cases.

use std::time::Duration;

use jones_client::{AssociationRecord, Cause, JonesClient, Session, Znode, ZnodeWatcher};
use jones_testkit::{Relay, ZooKeeper};

use crate::following::{HOST, Index, Shown, VIEWS, expected, move_host_written, prepare};
use crate::harness::{PATIENCE, Tree, create_all, eventually, within};

/// The following fixture with a complete index beside the nodemap.
async fn indexed_tree() -> Tree {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    prepare(&tree).await;
    tree.build_index().await;
    tree
}

/// A client of `HOST` on `tree`, connected through a relay the test cuts.
async fn through_relay(tree: &Tree) -> (Relay, JonesClient) {
    let relay = Relay::start(ZooKeeper::shared().port()).unwrap();
    let client = JonesClient::builder(&tree.service)
        .zk(&relay.connect_string())
        .association(HOST)
        .register(false)
        .build()
        .await
        .unwrap();
    (relay, client)
}

async fn reaches(client: &JonesClient, round: usize) {
    let want = expected(round);
    eventually(&want, || {
        client.get::<String>("m").as_deref() == Some(want.as_str())
    })
    .await;
}

/// Four-round cycles: the index rebuilt and marked complete, a move
/// written to the index too, the index marked building and a move written
/// to the nodemap only (the host's znode now names the view it left, which
/// the client must not follow), and one more nodemap-only move.
#[tokio::test]
async fn a_host_moved_while_its_index_is_rebuilt_is_never_shown_a_view_it_left() {
    let tree = indexed_tree().await;
    tree.mark_index(false).await;
    let client = tree.client(HOST).await;
    let shown = Shown::default();
    let _guard = shown.record(&client);
    for round in 0..160 {
        let (from, to) = (VIEWS[round % 2], VIEWS[(round + 1) % 2]);
        let index = match round % 4 {
            0 => {
                tree.build_index().await;
                Index::Moved
            }
            1 => Index::Moved,
            2 => {
                tree.mark_index(false).await;
                Index::Untouched
            }
            _ => Index::Untouched,
        };
        move_host_written(&tree, &tree.zk, round, from, to, index).await;
        reaches(&client, round).await;
        shown.check(&tree);
    }
    client.close().await;
    shown.check(&tree);
}

/// Each round cuts the client's connection, moves the host (rewriting the
/// view it leaves) and restores the connection: the same session comes
/// back, and its re-armed watches bring the move.
async fn moved_while_disconnected(index: Index, rounds: usize) {
    let tree = match index {
        Index::Moved => indexed_tree().await,
        Index::Untouched => {
            let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
            prepare(&tree).await;
            tree
        }
    };
    let (relay, client) = through_relay(&tree).await;
    let shown = Shown::default();
    let _guard = shown.record(&client);
    let sessions = client.status().sessions;
    for round in 0..rounds {
        let (from, to) = (VIEWS[round % 2], VIEWS[(round + 1) % 2]);
        relay.cut();
        eventually("the client to lose its connection", || {
            !client.status().connected
        })
        .await;
        move_host_written(&tree, &tree.zk, round, from, to, index).await;
        relay.restore();
        reaches(&client, round).await;
        shown.check(&tree);
    }
    assert_eq!(client.status().sessions, sessions, "one session throughout");
    client.close().await;
    shown.check(&tree);
}

#[tokio::test]
async fn an_indexed_host_moved_while_its_client_is_disconnected_is_followed() {
    moved_while_disconnected(Index::Moved, 150).await;
}

#[tokio::test]
async fn a_host_moved_in_the_nodemap_while_its_client_is_disconnected_is_followed() {
    moved_while_disconnected(Index::Untouched, 150).await;
}

/// Herd safety: a fleet that lost its connection comes back without a
/// read when nothing changed meanwhile, since the watches stand.
#[tokio::test]
async fn a_reconnect_that_missed_nothing_reads_nothing() {
    let tree = indexed_tree().await;
    let (relay, client) = through_relay(&tree).await;
    let reads = client.stats().reads;
    for _ in 0..20 {
        relay.cut();
        eventually("the cut", || !client.status().connected).await;
        relay.restore();
        eventually("the reconnect", || client.status().connected).await;
    }
    // Anything still due would be read within the jitter spread (at most
    // a second): wait past it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(client.stats().reads, reads, "reads after 20 reconnects");
    // The watches did stand: a write is still followed.
    tree.set_view(VIEWS[0], serde_json::json!({"m": "after"}))
        .await;
    eventually("the write after the reconnects", || {
        client.get::<String>("m").as_deref() == Some("after")
    })
    .await;
    client.close().await;
}

/// The generic watcher keeps its watch across a reconnect too, and a
/// write made while it was disconnected reaches it.
#[tokio::test]
async fn a_znode_watcher_sees_a_write_made_while_it_was_disconnected() {
    let zk = ZooKeeper::shared();
    let writer = crate::harness::connect(&zk.connect_string()).await;
    let path = format!("/{}", jones_testkit::unique_name("cut"));
    create_all(&writer, &path, b"0").await;
    let relay = Relay::start(zk.port()).unwrap();
    let session = Session::connect(&relay.connect_string(), Duration::from_secs(10));
    let mut watcher = ZnodeWatcher::new(&session, path.clone());
    let mut states = session.subscribe();
    for round in 1..=30u32 {
        within(PATIENCE, states.wait_for(|s| s.connected))
            .await
            .unwrap();
        relay.cut();
        within(PATIENCE, states.wait_for(|s| !s.connected))
            .await
            .unwrap();
        let want = round.to_string();
        writer.set_data(&path, want.as_bytes(), None).await.unwrap();
        relay.restore();
        loop {
            let Znode::Present { data, .. } = within(PATIENCE, watcher.changed()).await.unwrap()
            else {
                panic!("the znode exists")
            };
            if data[..] == *want.as_bytes() {
                break;
            }
        }
    }
    assert_eq!(session.state().generation, 1, "one session throughout");
    watcher.stop().await;
    session.stop().await;
}

/// In the index, a host without a znode has no association, like a host
/// missing from the nodemap: it reads the root view, and follows its
/// znode again once it is back.
#[tokio::test]
async fn a_deleted_association_znode_reads_the_root_view() {
    let tree = indexed_tree().await;
    let client = tree.client(HOST).await;
    assert_eq!(client.snapshot().view_path, tree.view_path(VIEWS[0]));
    let znode = tree.layout.association_path(HOST);
    tree.zk.delete(&znode, None).await.unwrap();
    eventually("the root view", || {
        client.snapshot().view_path == tree.layout.views_root()
    })
    .await;
    assert_eq!(client.get::<String>("foo").as_deref(), Some("bar"));
    let record = AssociationRecord::new(tree.view_path(VIEWS[1])).to_bytes();
    create_all(&tree.zk, &znode, &record).await;
    eventually("the znode followed again", || {
        client.snapshot().view_path == tree.view_path(VIEWS[1])
    })
    .await;
    client.close().await;
}

/// Garbage in the host's znode keeps the view it follows, says why in the
/// status, and the next good record is followed.
#[tokio::test]
async fn a_garbled_association_znode_keeps_the_view_and_says_why() {
    let tree = indexed_tree().await;
    let client = tree.client(HOST).await;
    let shown = client.get::<String>("m");
    let znode = tree.layout.association_path(HOST);
    let same = AssociationRecord::new(tree.view_path(VIEWS[0])).to_bytes();
    for garbage in [
        &b"{\"view\": 7}"[..],
        b"/services/x/views",
        b"\xff\xfe",
        b"",
    ] {
        tree.zk.set_data(&znode, garbage, None).await.unwrap();
        eventually("the unparseable record in the status", || {
            client
                .status()
                .errors
                .iter()
                .any(|e| e.cause == Cause::Unparseable && e.path == znode)
        })
        .await;
        assert_eq!(client.snapshot().view_path, tree.view_path(VIEWS[0]));
        assert_eq!(client.get::<String>("m"), shown);
        tree.zk.set_data(&znode, &same, None).await.unwrap();
        eventually("the error cleared by a good record", || {
            client.status().errors.is_empty()
        })
        .await;
    }
    let record = AssociationRecord::new(tree.view_path(VIEWS[1])).to_bytes();
    tree.zk.set_data(&znode, &record, None).await.unwrap();
    eventually("the good record followed", || {
        client.snapshot().view_path == tree.view_path(VIEWS[1])
    })
    .await;
    assert!(client.status().errors.is_empty(), "{:?}", client.status());
    client.close().await;
}
