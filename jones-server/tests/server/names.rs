//! Names: new services and environments follow one rule set; a tree whose
//! names predate it is read and deleted, never changed, and says why.

use serde_json::json;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::harness::{CREDENTIAL, admin, env, http, obj, serve_on_socket, zookeeper};

/// Writes an original-layout service named `svc` with an environment
/// `prod ` (trailing space), straight into ZooKeeper, as the server's
/// digest user (`/services` may already carry the server's ACL).
async fn legacy_tree(svc: &str) {
    let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let raw = Client::connect(&zookeeper().connect_string())
        .await
        .unwrap();
    raw.auth("digest", CREDENTIAL.as_bytes()).await.unwrap();
    let _ = raw.create("/services", b"", &open).await;
    for (path, data) in [
        (format!("/services/{svc}"), String::new()),
        (format!("/services/{svc}/conf"), r#"{"a": 1}"#.to_owned()),
        (
            format!("/services/{svc}/conf/prod "),
            r#"{"b": 2}"#.to_owned(),
        ),
        (format!("/services/{svc}/views"), r#"{"a": 1}"#.to_owned()),
        (
            format!("/services/{svc}/views/prod "),
            r#"{"a": 1, "b": 2}"#.to_owned(),
        ),
        (format!("/services/{svc}/nodemaps"), String::new()),
    ] {
        raw.create(&path, data.as_bytes(), &open).await.unwrap();
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn a_service_named_before_the_rules_is_read_and_deleted_never_changed() {
    let admin = admin().await;
    let svc = format!("Check Out {}!", jones_testkit::unique_name("x"));
    legacy_tree(&svc).await;
    let server = serve_on_socket(&admin, None).await;
    let base = format!("/api/v1/services/{}", encode(&svc));

    let (status, body) = http(server.addr, "GET", &base, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("read-only"), "{body}");
    let (status, body) = http(
        server.addr,
        "GET",
        &format!("{base}/config/{}", encode("prod ")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""read_only":"service"#), "{body}");

    for (method, path, payload) in [
        (
            "PUT",
            format!("{base}/config"),
            r#"{"config": {"a": 2}, "version": 1}"#,
        ),
        ("POST", format!("{base}/config/new"), r#"{"config": {}}"#),
        ("PUT", format!("{base}/associations/h"), r#"{"env": ""}"#),
        ("PUT", base.clone(), r#"{"merge": "deep"}"#),
    ] {
        let (status, body) = http(server.addr, method, &path, Some(payload)).await;
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert!(body.contains(r#""kind":"read_only""#), "{body}");
        assert!(body.contains("jones restore - --service NEW"), "{body}");
    }
    let (status, body) = http(server.addr, "DELETE", &base, None).await;
    assert_eq!(status, 200, "deleting needs no name typed twice: {body}");
}

#[tokio::test]
async fn new_names_follow_the_rules_and_an_old_environment_is_read_only() {
    let admin = admin().await;
    let svc_name = jones_testkit::unique_name("rules");
    legacy_tree(&svc_name).await;
    let svc = jones_client::ServiceName::new(&svc_name).unwrap();

    for bad in [" spaced name ", "Check Out!", "über"] {
        let bad = jones_client::ServiceName::new(bad).unwrap();
        let refused = admin.create_service(&bad).await.unwrap_err();
        assert!(
            refused.to_string().contains("invalid service name"),
            "{refused}"
        );
    }
    let refused = admin
        .create_env(&svc, &env(" lab"), obj(json!({})))
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("leading or trailing whitespace"),
        "{refused}"
    );

    // The environment `prod ` predates the rules: read, not changed.
    let details = admin.get_env(&svc, &env("prod ")).await.unwrap();
    assert_eq!(details.view, obj(json!({"a": 1, "b": 2})));
    assert!(details.read_only.is_some());
    let refused = admin
        .set_env(&svc, &env("prod "), obj(json!({"b": 3})), None)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, jones_server::Error::ReadOnly { .. }),
        "{refused}"
    );
    // The rest of the service is writable; the old environment can go.
    admin
        .create_env(&svc, &env("lab"), obj(json!({"c": 1})))
        .await
        .unwrap();
    admin.delete_env(&svc, &env("prod "), false).await.unwrap();
    admin.delete_service(&svc).await.unwrap();
}

#[tokio::test]
async fn an_association_named_before_the_rules_is_resolved_and_removed_never_written() {
    let admin = admin().await;
    let svc = jones_client::ServiceName::new(&jones_testkit::unique_name("oldhosts")).unwrap();
    admin.create_service(&svc).await.unwrap();
    admin
        .create_env(&svc, &env("prod"), obj(json!({"a": 1})))
        .await
        .unwrap();
    // A nodemap written before the rules: names with edge spaces.
    let raw = Client::connect(&zookeeper().connect_string())
        .await
        .unwrap();
    raw.auth("digest", CREDENTIAL.as_bytes()).await.unwrap();
    let views = format!("/services/{svc}/views/prod");
    let nodemap = format!(" web-01 -> {views}\nweb-02  -> {views}\nweb-03 -> {views}");
    raw.set_data(
        &format!("/services/{svc}/nodemaps"),
        nodemap.as_bytes(),
        None,
    )
    .await
    .unwrap();

    for old in [" web-01", "web-02 "] {
        let resolved = admin.resolve(&svc, old).await.unwrap();
        assert!(resolved.associated, "{old:?} is looked up as it is");
        assert_eq!(resolved.env.as_deref(), Some("prod"));
    }
    let server = serve_on_socket(&admin, None).await;
    let (status, body) = http(
        server.addr,
        "GET",
        &format!("/api/v1/services/{svc}/resolve/%20web-01"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""associated":true"#), "{body}");

    // Removed by the name as stored, through the API and the library.
    let (status, body) = http(
        server.addr,
        "DELETE",
        &format!("/api/v1/services/{svc}/associations/%20web-01"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    admin.delete_association(&svc, "web-02 ").await.unwrap();
    for old in [" web-01", "web-02 "] {
        assert!(
            !admin.resolve(&svc, old).await.unwrap().associated,
            "{old:?} removed"
        );
    }
    assert!(
        admin.resolve(&svc, "web-03").await.unwrap().associated,
        "the others stay"
    );

    // Never written again under such a name.
    let refused = admin
        .set_association(&svc, " web-01", &env("prod"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("whitespace"), "{refused}");
    // A name no nodemap can hold is refused even for reading.
    assert!(admin.resolve(&svc, "a\nb").await.is_err());
}
