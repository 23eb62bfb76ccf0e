//! Start-up and the first config: which view a host reads, and the errors
//! that say why there is none.

use std::time::Duration;

use jones_client::{Error, JonesClient};
use jones_testkit::ZooKeeper;
use serde_json::json;

use crate::harness::{Tree, connect, create_all, value};

#[tokio::test]
async fn associated_host_sees_root_parent_and_child_merged() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("127.0.0.2").await;
    let snapshot = client.snapshot();
    assert_eq!(
        value(&snapshot.config),
        json!({"foo": "bar", "a": 2, "b": [1, 2, 3], "c": {"x": 0}})
    );
    assert_eq!(snapshot.view_path, tree.view_path("parent/child1"));
    assert_eq!(snapshot.env().unwrap().as_str(), "parent/child1");
    let (_, stat) = tree
        .zk
        .get_data(&tree.view_path("parent/child1"))
        .await
        .unwrap();
    let revision = snapshot.revision.unwrap();
    assert_eq!(
        (revision.mzxid, revision.version),
        (stat.mzxid, stat.version)
    );
    assert_eq!(client.get::<i64>("a"), Some(2));
    assert_eq!(client.get::<Vec<u8>>("b"), Some(vec![1, 2, 3]));
    assert_eq!(client.get::<String>("foo").as_deref(), Some("bar"));
    assert_eq!(client.get::<String>("a"), None, "wrong type reads as None");
    assert_eq!(client.get_or("missing", 7), 7);
    assert!(client.contains("c") && !client.contains("missing"));
    let status = client.status();
    assert!(status.connected);
    assert_eq!(status.stale_since, None);
    assert_eq!(status.last_error, None);
    assert_eq!(status.revision, Some(revision));
    client.close().await;
}

#[tokio::test]
async fn unassociated_host_sees_the_root_view() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = tree.client("nobody.example.com").await;
    assert_eq!(value(&client.snapshot().config), json!({"foo": "bar"}));
    assert_eq!(client.snapshot().view_path, tree.view_path(""));
    let parent = tree.client("127.0.0.1").await;
    assert_eq!(
        value(&parent.snapshot().config),
        json!({"foo": "bar", "a": 1, "b": [1, 2, 3], "c": {"x": 0}})
    );
    client.close().await;
    parent.close().await;
}

#[tokio::test]
async fn a_missing_service_is_an_error_that_says_so() {
    let zk = ZooKeeper::shared().connect_string();
    let err = JonesClient::builder(&jones_testkit::unique_name("absent"))
        .zk(&zk)
        .association("h")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ServiceNotFound { .. }), "{err}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[tokio::test]
async fn a_missing_view_is_an_error_naming_it() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    tree.associate("lost", "parent/nowhere").await;
    let err = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("lost")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ViewNotFound { .. }), "{err}");
    assert!(err.to_string().contains("parent/nowhere"), "{err}");
}

#[tokio::test]
async fn unreachable_zookeeper_fails_within_the_start_timeout() {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let err = JonesClient::builder("svc")
        .zk(&format!("127.0.0.1:{port}"))
        .association("h")
        .start_timeout(Duration::from_millis(500))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn bad_settings_are_refused_before_connecting() {
    let err = JonesClient::builder("a/b")
        .zk("127.0.0.1:1")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err}");
    let err = JonesClient::builder("svc")
        .association("h")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSettings(_)), "{err}");
    let err = JonesClient::builder("svc")
        .zk("127.0.0.1:1")
        .association("a\nb")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName { .. }), "{err}");
    let err = JonesClient::builder("svc")
        .zk(" ")
        .association("h")
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidSettings(ref m) if m.contains("empty")),
        "{err}"
    );
}

#[tokio::test]
async fn reads_a_tree_under_a_chroot() {
    let zk = ZooKeeper::shared().connect_string();
    let chroot = format!("/{}", jones_testkit::unique_name("chroot"));
    create_all(&connect(&zk).await, &chroot, b"").await;
    let tree = Tree::original(&format!("{zk}{chroot}")).await;
    let client = tree.client("127.0.0.3").await;
    assert_eq!(value(&client.snapshot().config), json!({"foo": "bar"}));
    client.close().await;
}

#[tokio::test]
async fn uses_an_existing_zookeeper_client() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = JonesClient::builder(&tree.service)
        .zk_client(tree.zk.clone())
        .association("127.0.0.1")
        .build()
        .await
        .unwrap();
    assert_eq!(client.get::<i64>("a"), Some(1));
    tree.set_view("parent", json!({"a": 5})).await;
    crate::harness::eventually("the update", || client.get::<i64>("a") == Some(5)).await;
    client.close().await;
}

#[tokio::test]
async fn the_default_association_is_this_hosts_name() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    tree.associate(&jones_client::fqdn(), "parent/child2/subchild1")
        .await;
    let client = JonesClient::connect(&tree.connect_string, &tree.service)
        .await
        .unwrap();
    assert_eq!(client.get::<String>("b").as_deref(), Some("abc"));
    client.close().await;
}

#[tokio::test]
async fn unreadable_data_at_start_is_an_error_naming_it() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    tree.set_view_bytes("parent", b"{\"a\": ").await;
    let err = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.1")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
    assert!(err.to_string().contains(&tree.view_path("parent")), "{err}");

    tree.zk
        .set_data(tree.layout.nodemap_path(), b"garbage", None)
        .await
        .unwrap();
    let err = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidNodemap { .. }), "{err}");
}
