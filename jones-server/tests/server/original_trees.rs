//! Trees from original Jones, created with `world:anyone` ACLs: the audit
//! counts and names them, `/healthz` and `/metrics` show them, and
//! securing gives them the server's ACL (anonymous writes then fail with
//! NoAuth) with every byte of data unchanged. Each test works in its own
//! ZooKeeper chroot, so securing cannot touch other tests' trees.

use std::collections::BTreeMap;

use jones_client::ServiceName;
use jones_server::{Admin, ZkOptions};
use serde_json::json;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::harness::{CREDENTIAL, env, http, obj, serve_on_socket, zookeeper};

/// A chroot holding an original Jones tree for `svc`, every znode open to
/// anyone; returns its connect string.
async fn original_tree(svc: &str) -> String {
    let chroot = format!("/{}", jones_testkit::unique_name("original"));
    let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let raw = Client::connect(&zookeeper().connect_string())
        .await
        .unwrap();
    raw.create(&chroot, b"", &open).await.unwrap();
    let connect = format!("{}{chroot}", zookeeper().connect_string());
    let raw = Client::connect(&connect).await.unwrap();
    for (path, data) in [
        ("/services".to_owned(), String::new()),
        (format!("/services/{svc}"), String::new()),
        (format!("/services/{svc}/conf"), r#"{"a": 1}"#.to_owned()),
        (
            format!("/services/{svc}/conf/prod"),
            r#"{"b": 2}"#.to_owned(),
        ),
        (format!("/services/{svc}/views"), r#"{"a": 1}"#.to_owned()),
        (
            format!("/services/{svc}/views/prod"),
            r#"{"a": 1, "b": 2}"#.to_owned(),
        ),
        (
            format!("/services/{svc}/nodemaps"),
            format!("web-01 -> /services/{svc}/views/prod"),
        ),
    ] {
        raw.create(&path, data.as_bytes(), &open).await.unwrap();
    }
    connect
}

/// Every znode's data under /services of `connect`.
async fn data_under(connect: &str) -> BTreeMap<String, Vec<u8>> {
    let raw = Client::connect(connect).await.unwrap();
    let mut all = BTreeMap::new();
    let mut pending = vec!["/services".to_owned()];
    while let Some(path) = pending.pop() {
        let (data, _) = raw.get_data(&path).await.unwrap();
        for child in raw.list_children(&path).await.unwrap() {
            pending.push(format!("{path}/{child}"));
        }
        all.insert(path, data);
    }
    all
}

#[tokio::test]
async fn open_znodes_are_reported_then_secured_with_their_data_unchanged() {
    let svc = ServiceName::new(&jones_testkit::unique_name("orig")).unwrap();
    let connect = original_tree(svc.as_str()).await;
    let admin = Admin::connect(ZkOptions::new(&connect).with_digest(CREDENTIAL))
        .await
        .unwrap();
    let audit = admin.audit_acls().await.unwrap();
    assert_eq!((audit.checked, audit.world_writable), (7, 7), "{audit:?}");
    let ours = audit
        .services
        .iter()
        .find(|s| s.service == svc.as_str())
        .unwrap();
    assert_eq!(ours.world_writable, 6);
    assert_eq!(ours.examples.len(), 3);
    let server = serve_on_socket(&admin, None).await;
    let (_, health) = http(server.addr, "GET", "/healthz", None).await;
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["world_writable_znodes"]["count"], 7, "{health}");
    let (_, metrics) = http(server.addr, "GET", "/metrics", None).await;
    assert!(
        metrics.contains("\njones_world_writable_znodes 7\n"),
        "{metrics}"
    );

    // Open: anyone may write.
    let anonymous = Client::connect(&connect).await.unwrap();
    let conf = format!("/services/{svc}/conf");
    anonymous
        .set_data(&conf, br#"{"a": 1}"#, None)
        .await
        .unwrap();
    let before = data_under(&connect).await;

    assert_eq!(admin.secure_existing().await.unwrap(), 7);
    assert_eq!(admin.last_acl_audit().unwrap().world_writable, 0);
    assert_eq!(data_under(&connect).await, before, "data byte-identical");
    assert_eq!(
        anonymous.set_data(&conf, br#"{"a": 666}"#, None).await,
        Err(zookeeper_client::Error::NoAuth)
    );
    let (_, metrics) = http(server.addr, "GET", "/metrics", None).await;
    assert!(
        metrics.contains("\njones_world_writable_znodes 0\n"),
        "{metrics}"
    );
    // Still readable by anyone, and writable by the server.
    assert_eq!(anonymous.get_data(&conf).await.unwrap().0, br#"{"a": 1}"#);
    admin
        .set_env(&svc, &env("prod"), obj(json!({"b": 3})), None)
        .await
        .unwrap();
    assert_eq!(
        admin.resolve(&svc, "web-01").await.unwrap().config,
        obj(json!({"a": 1, "b": 3}))
    );
    // A second pass finds nothing to do.
    assert_eq!(admin.secure_existing().await.unwrap(), 0);
}

#[tokio::test]
async fn securing_without_a_digest_is_refused_and_changes_nothing() {
    let svc = jones_testkit::unique_name("orig");
    let connect = original_tree(&svc).await;
    let before = data_under(&connect).await;
    let admin = Admin::connect(ZkOptions::new(&connect)).await.unwrap();
    let err = admin.secure_existing().await.unwrap_err();
    assert!(err.to_string().contains("digest"), "{err}");
    assert_eq!(admin.audit_acls().await.unwrap().world_writable, 7);
    assert_eq!(data_under(&connect).await, before);

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jones-server"))
        .args(["--zk", &connect, "--secure-existing"])
        .env_remove("JONES_ZK_DIGEST")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--secure-existing needs --digest"),
        "{stderr}"
    );
}
