//! The association index and the client registry, on trees written by the
//! test as the server writes them: one re-point wakes one client, and every
//! client registers what it applied.

use std::time::{Duration, Instant};

use jones_client::{AssociationRecord, ClientRecord, IndexState, JonesClient, Nodemap};
use jones_testkit::ZooKeeper;
use zookeeper_client::{Acls, CreateMode};

use crate::harness::{PATIENCE, Tree, eventually};

const PERSISTENT: zookeeper_client::CreateOptions<'static> =
    CreateMode::Persistent.with_acls(Acls::anyone_all());
const HOSTS: usize = 200;

/// Associates `h0`…`h199` with `parent` in the nodemap and, when `indexed`,
/// in a complete index beside it.
async fn fleet_tree(indexed: bool) -> Tree {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let mut nodemap = Nodemap::new();
    for i in 0..HOSTS {
        nodemap
            .insert(&format!("h{i}"), tree.view_path("parent"))
            .unwrap();
    }
    let zk = &tree.zk;
    zk.set_data(tree.layout.nodemap_path(), &nodemap.to_bytes(), None)
        .await
        .unwrap();
    if indexed {
        let dir = tree.layout.associations_path();
        zk.create(dir, &IndexState::building().to_bytes(), &PERSISTENT)
            .await
            .unwrap();
        let record = AssociationRecord::new(tree.view_path("parent")).to_bytes();
        for i in 0..HOSTS {
            let path = tree.layout.association_path(&format!("h{i}"));
            zk.create(&path, &record, &PERSISTENT).await.unwrap();
        }
        zk.set_data(dir, &IndexState::complete().to_bytes(), None)
            .await
            .unwrap();
    }
    tree
}

async fn fleet(tree: &Tree) -> Vec<JonesClient> {
    let mut clients = Vec::with_capacity(HOSTS);
    for i in 0..HOSTS {
        let client = JonesClient::builder(&tree.service)
            .zk(&tree.connect_string)
            .association(&format!("h{i}"))
            .register(false)
            .build()
            .await
            .unwrap_or_else(|e| panic!("client h{i}: {e}"));
        clients.push(client);
    }
    clients
}

/// Re-points `h7` to `parent/child1` as the server does: the nodemap and,
/// when indexed, its index znode in one transaction.
async fn repoint_h7(tree: &Tree, indexed: bool) {
    let zk = &tree.zk;
    let (data, stat) = zk.get_data(tree.layout.nodemap_path()).await.unwrap();
    let mut nodemap = Nodemap::parse(&data).unwrap();
    let moved = tree.view_path("parent/child1");
    nodemap.insert("h7", moved.clone()).unwrap();
    let bytes = nodemap.to_bytes();
    let record = AssociationRecord::new(moved).to_bytes();
    let index_path = tree.layout.association_path("h7");
    let mut writer = zk.new_multi_writer();
    writer
        .add_set_data(tree.layout.nodemap_path(), &bytes, Some(stat.version))
        .unwrap();
    if indexed {
        writer.add_set_data(&index_path, &record, None).unwrap();
    }
    writer.commit().await.unwrap();
}

/// The clients whose watch events rose after `h7` moved, once the fleet has
/// been quiet for a second.
async fn woken_by_one_repoint(indexed: bool) -> Vec<usize> {
    let tree = fleet_tree(indexed).await;
    let clients = fleet(&tree).await;
    let before: Vec<u64> = clients.iter().map(|c| c.stats().watch_events).collect();
    repoint_h7(&tree, indexed).await;
    let moved = tree.view_path("parent/child1");
    eventually("h7 follows its new environment", || {
        clients[7].snapshot().view_path == moved
    })
    .await;
    let deadline = Instant::now() + PATIENCE;
    let mut last = clients.iter().map(|c| c.stats().reads).sum::<u64>();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(1) {
        assert!(Instant::now() < deadline, "the fleet kept reading");
        tokio::time::sleep(Duration::from_millis(50)).await;
        let reads = clients.iter().map(|c| c.stats().reads).sum::<u64>();
        if reads != last {
            last = reads;
            quiet_since = Instant::now();
        }
    }
    let woken = clients
        .iter()
        .zip(&before)
        .enumerate()
        .filter(|(_, (client, before))| client.stats().watch_events > **before)
        .map(|(i, _)| i)
        .collect();
    for client in &clients {
        client.close().await;
    }
    woken
}

#[tokio::test]
async fn re_pointing_one_of_200_indexed_clients_wakes_that_one_only() {
    assert_eq!(woken_by_one_repoint(true).await, vec![7]);
}

/// The same fleet on a nodemap-only tree (original Jones): every client
/// wakes, which is what the index saves.
#[tokio::test]
async fn re_pointing_one_of_200_clients_of_a_nodemap_only_tree_wakes_them_all() {
    assert_eq!(woken_by_one_repoint(false).await.len(), HOSTS);
}

#[tokio::test]
async fn a_client_registers_reports_each_applied_revision_and_leaves_when_closed() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    tree.zk
        .create(tree.layout.clients_path(), b"", &PERSISTENT)
        .await
        .unwrap();
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .report_interval(Duration::from_millis(100))
        .build()
        .await
        .unwrap();
    eventually("the client registers", || client.registration().is_some()).await;
    let path = client.registration().unwrap();
    assert!(
        path.starts_with(&format!("{}/c", tree.layout.clients_path())),
        "{path}"
    );
    let record = |tree: &Tree, path: String| {
        let zk = tree.zk.clone();
        async move {
            let (data, stat) = zk.get_data(&path).await.unwrap();
            assert_ne!(stat.ephemeral_owner, 0, "a registration is ephemeral");
            ClientRecord::parse(&data).unwrap()
        }
    };
    let first = record(&tree, path.clone()).await;
    assert_eq!(first.association, "127.0.0.2");
    assert_eq!(first.view, tree.view_path("parent/child1"));
    assert_eq!(first.pid, std::process::id());

    let stat = tree
        .set_view("parent/child1", serde_json::json!({"a": 2, "new": true}))
        .await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = record(&tree, path.clone()).await;
        if now.revision == Some(stat.mzxid) {
            assert!(now.applied_ms.is_some());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the registration never reported {}",
            stat.mzxid
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(client.stats().registry_writes >= 2);

    client.close().await;
    let deadline = Instant::now() + PATIENCE;
    while tree.zk.check_stat(&path).await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the registration outlived the client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
