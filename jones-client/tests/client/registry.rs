//! The client registry under failure: a create whose answer was lost is
//! adopted, a session that expires leaves one registration, not two, and a
//! burst of changes costs at most one write per report interval.

use std::time::{Duration, Instant};

use jones_client::{ClientRecord, JonesClient};
use jones_testkit::ZooKeeper;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::harness::{PATIENCE, Tree, eventually, expire_session};

const INTERVAL: Duration = Duration::from_millis(200);

async fn with_registry(connect_string: &str) -> Tree {
    let tree = Tree::original(connect_string).await;
    tree.zk
        .create(
            tree.layout.clients_path(),
            b"",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
    tree
}

/// The registration znodes of the service, with their records.
async fn registrations(tree: &Tree) -> Vec<(String, ClientRecord)> {
    let dir = tree.layout.clients_path();
    let mut found = Vec::new();
    for name in tree.zk.list_children(dir).await.unwrap() {
        let path = format!("{dir}/{name}");
        if let Ok((data, _)) = tree.zk.get_data(&path).await {
            found.push((path, ClientRecord::parse(&data).unwrap()));
        }
    }
    found
}

/// Polls until the service holds exactly one registration reporting
/// `revision`, and returns its path.
async fn one_registration_at(tree: &Tree, revision: i64) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let found = registrations(tree).await;
        if let [(path, record)] = &found[..] {
            if record.revision == Some(revision) {
                return path.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "wanted one registration at {revision}, found {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A create that landed but whose answer was lost with the connection is
/// retried by the client; the retry must find the znode its own session
/// made. Here the session's first create is made by the test, through the
/// very client the Jones client is then given.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_adopted_not_duplicated() {
    let tree = with_registry(&ZooKeeper::shared().connect_string()).await;
    let zk = Client::connector()
        .connect(&tree.connect_string)
        .await
        .unwrap();
    let landed = format!(
        "{}/c{:016x}",
        tree.layout.clients_path(),
        zk.session_id().0 as u64
    );
    let stale = ClientRecord {
        association: "127.0.0.2".into(),
        view: tree.view_path("parent/child1"),
        revision: Some(1),
        applied_ms: Some(1),
        started_ms: 1,
        client: "jones-client/0".into(),
        host: "h".into(),
        pid: std::process::id(),
    };
    zk.create(
        &landed,
        &stale.to_bytes(),
        &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
    )
    .await
    .unwrap();
    let client = JonesClient::builder(&tree.service)
        .zk_client(zk)
        .association("127.0.0.2")
        .report_interval(INTERVAL)
        .build()
        .await
        .unwrap();
    let revision = client.snapshot().revision.unwrap().mzxid;
    assert_eq!(one_registration_at(&tree, revision).await, landed);
    eventually("the client says where it registered", || {
        client.registration().as_deref() == Some(landed.as_str())
    })
    .await;
    client.close().await;
}

/// Sessions expire five times; each new session registers anew, and the
/// service never keeps more than the one live registration.
#[tokio::test]
async fn each_new_session_after_expiry_leaves_one_registration() {
    let zk = ZooKeeper::start().unwrap();
    let tree = with_registry(&zk.connect_string()).await;
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .session_timeout(Duration::from_millis(500))
        .report_interval(INTERVAL)
        .build()
        .await
        .unwrap();
    let mut revision = client.snapshot().revision.unwrap().mzxid;
    let mut paths = vec![one_registration_at(&tree, revision).await];
    for round in 0..5 {
        expire_session(&zk, &client).await;
        revision = tree
            .set_view("parent/child1", serde_json::json!({"round": round}))
            .await
            .mzxid;
        let path = one_registration_at(&tree, revision).await;
        assert!(!paths.contains(&path), "{path} registered twice");
        paths.push(path);
    }
    client.close().await;
}

/// A hundred changes written back to back: the registration follows with
/// at most one write per interval (plus the first), and ends on the last.
#[tokio::test]
async fn a_burst_of_changes_costs_at_most_one_write_per_interval() {
    let tree = with_registry(&ZooKeeper::shared().connect_string()).await;
    let started = Instant::now();
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .report_interval(INTERVAL)
        .build()
        .await
        .unwrap();
    let mut last = 0;
    for i in 0..100 {
        last = tree
            .set_view("parent/child1", serde_json::json!({"i": i}))
            .await
            .mzxid;
    }
    one_registration_at(&tree, last).await;
    let elapsed = started.elapsed();
    let writes = client.stats().registry_writes;
    let bound = 2 + (elapsed.as_millis() / INTERVAL.as_millis()) as u64;
    assert!(
        writes <= bound,
        "{writes} registry writes in {elapsed:?}, more than one per {INTERVAL:?}"
    );
    assert!(writes >= 2, "the change was never reported");
    client.close().await;
}
