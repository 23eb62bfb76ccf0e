//! The blocking facade, used from plain threads without a runtime.

use std::time::Duration;

use jones_testkit::ZooKeeper;
use serde_json::json;

use crate::harness::Tree;

/// A runtime for the test's own writes, a tree, and a builder for host
/// `127.0.0.2` of it.
fn setup() -> (
    tokio::runtime::Runtime,
    Tree,
    jones_client::JonesClientBuilder,
) {
    let writes = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tree = writes.block_on(Tree::original(&ZooKeeper::shared().connect_string()));
    let builder = jones_client::JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2");
    (writes, tree, builder)
}

#[test]
fn blocking_client_reads_and_waits_for_changes() {
    let (writes, tree, builder) = setup();
    let mut client = jones_client::blocking::JonesClient::build(builder).unwrap();
    assert_eq!(client.get::<i64>("a"), Some(2));
    assert!(client.status().connected);
    assert_eq!(client.wait_for_change(Duration::from_millis(50)), None);
    writes.block_on(tree.set_view("parent/child1", json!({"a": 3})));
    let snapshot = client
        .wait_for_change(crate::harness::PATIENCE)
        .expect("the change");
    assert_eq!(snapshot.config["a"], 3);
    assert_eq!(client.get::<i64>("a"), Some(3));
    client.close();
}

#[test]
fn a_blocking_client_started_without_waiting_becomes_ready() {
    let (_writes, _tree, builder) = setup();
    let client = jones_client::blocking::JonesClient::start(builder).unwrap();
    client.wait_ready(crate::harness::PATIENCE).unwrap();
    assert!(client.is_ready());
    let a = client.get_detail("a", 0i64);
    assert_eq!((a.value, a.reason), (2, jones_client::Reason::Found));
    let beta = client.switch_or("beta", true);
    assert!(beta.enabled() && client.enabled_or("beta", true));
    assert_eq!(client.setting("a", 0i64).get(), 2);
    let absent = client.percentage_detail("pct", "user-17", true);
    assert_eq!(
        (absent.value, absent.reason),
        (true, jones_client::Reason::Missing)
    );
    let wrong = client.in_buckets_detail("a", "enabled_for", 3, true);
    assert_eq!(
        (wrong.value, wrong.reason),
        (true, jones_client::Reason::Missing)
    );
    let summed = client.read_detail(0, |config| {
        config
            .get("a")
            .and_then(serde_json::Value::as_i64)
            .map(|a| a + 1)
            .ok_or(jones_client::Reason::Missing)
    });
    assert_eq!(
        (summed.value, summed.reason),
        (3, jones_client::Reason::Found)
    );
    client.close();
}
