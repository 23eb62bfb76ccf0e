//! Security: digest ACLs in ZooKeeper (anonymous sessions get NoAuth), the
//! admin token over HTTP, and the loopback rule of the binary.

use jones_server::{Admin, Error, ZkOptions};
use serde_json::json;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::harness::{admin, env, fixture, obj, routes, service, snapshot, zookeeper};

#[tokio::test]
async fn anonymous_sessions_can_read_but_not_write_or_delete() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let before = snapshot(&admin, &svc).await;
    let anonymous = Client::connect(&zookeeper().connect_string())
        .await
        .unwrap();
    let p = format!("/services/{svc}");
    // Reading works: original clients read anonymously.
    let (data, _) = anonymous
        .get_data(&format!("{p}/views/parent"))
        .await
        .unwrap();
    assert_eq!(&data[..], br#"{"foo":"bar","a":1,"b":[1,2,3],"c":{"x":0}}"#);
    let acl = anonymous.get_acl(&format!("{p}/conf")).await.unwrap().0;
    assert_eq!(acl.len(), 2, "{acl:?}");
    let no_auth = zookeeper_client::Error::NoAuth;
    assert_eq!(
        anonymous
            .set_data(&format!("{p}/conf"), b"{}", None)
            .await
            .unwrap_err(),
        no_auth
    );
    assert_eq!(
        anonymous
            .set_data(&format!("{p}/views/parent"), b"{}", None)
            .await
            .unwrap_err(),
        no_auth
    );
    assert_eq!(
        anonymous
            .delete(&format!("{p}/views/parent/child1"), None)
            .await
            .unwrap_err(),
        no_auth
    );
    assert_eq!(
        anonymous
            .delete(&format!("{p}/nodemaps"), None)
            .await
            .unwrap_err(),
        no_auth
    );
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    assert_eq!(
        anonymous
            .create(&format!("{p}/conf/intruder"), b"{}", &options)
            .await
            .unwrap_err(),
        no_auth
    );
    // `/services` itself is protected: no new services, no deleting one.
    assert_eq!(
        anonymous
            .create("/services/intruder", b"", &options)
            .await
            .unwrap_err(),
        no_auth
    );
    let empty = service();
    admin.create_service(&empty).await.unwrap();
    assert_eq!(
        anonymous
            .delete(&format!("/services/{empty}/nodemaps"), None)
            .await
            .unwrap_err(),
        no_auth
    );
    assert_eq!(snapshot(&admin, &svc).await, before, "nothing changed");
}

#[tokio::test]
async fn a_wrong_digest_gets_no_auth_and_writes_nothing() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let before = snapshot(&admin, &svc).await;
    let intruder = Admin::connect(
        ZkOptions::new(zookeeper().connect_string()).with_digest("jones:wrong-password"),
    )
    .await
    .unwrap();
    let err = intruder
        .set_env(&svc, &env("parent"), obj(json!({"a": 666})), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoAuth { .. }), "{err}");
    assert!(err.to_string().contains("digest credential"), "{err}");
    let err = intruder
        .delete_env(&svc, &env("parent/child1"), false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoAuth { .. }), "{err}");
    assert_eq!(snapshot(&admin, &svc).await, before, "nothing changed");
}

#[tokio::test]
async fn requests_need_the_admin_token_when_one_is_set() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let api = routes(&admin, Some("s3cret"));
    let path = format!("/api/v1/services/{svc}/config/parent/child1");
    let version = crate::harness::version_of(&admin, &svc, "parent/child1").await;
    let put = |auth: Option<&'static str>| {
        let mut r = warp::test::request()
            .method("PUT")
            .path(&path)
            .json(&json!({"config": {"a": 42}, "version": version}));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let api = api.clone();
        async move { r.reply(&api).await }
    };
    for auth in [None, Some("Bearer wrong"), Some("s3cret")] {
        let response = put(auth).await;
        assert_eq!(response.status(), 401, "{auth:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    }
    let get = warp::test::request().path(&path).reply(&api).await;
    assert_eq!(get.status(), 401, "reads need a role too");
    let get = warp::test::request()
        .path(&path)
        .header("authorization", "Bearer s3cret")
        .reply(&api)
        .await;
    assert_eq!(get.status(), 200, "the admin token reads");
    let response = put(Some("Bearer s3cret")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        admin
            .get_env(&svc, &env("parent/child1"))
            .await
            .unwrap()
            .config,
        obj(json!({"a": 42}))
    );
}

#[test]
fn the_binary_refuses_a_public_address_without_a_token() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jones-server"))
        .args(["--listen", "0.0.0.0:0", "--zk", "127.0.0.1:1"])
        .env_remove("JONES_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--insecure") && stderr.contains("admin token"),
        "{stderr}"
    );
}

#[test]
fn the_binary_refuses_anonymous_reads_without_a_token() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jones-server"))
        .args(["--anonymous-read", "--zk", "127.0.0.1:1"])
        .env_remove("JONES_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--anonymous-read needs --admin-token"),
        "{stderr}"
    );
}

#[test]
fn the_binary_in_dev_mode_serves_the_demo_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    let state = tempfile::tempdir().unwrap();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_jones-server"))
        .args(["--listen", "127.0.0.1:0", "--demo", "--state-dir"])
        .arg(state.path())
        .env_remove("JONES_ZK")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(server.stdout.take().unwrap());
    let mut log = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "exited early:\n{log}"
        );
        log.push_str(&line);
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    assert!(log.contains("dev mode: ZooKeeper is serving"), "{log}");
    let get = |path: &str| {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(get("/healthz").contains(r#""status":"ok""#));
    let resolved = get("/api/v1/services/demo/resolve/127.0.0.1");
    assert!(
        resolved.contains(r#""config":{"foo":"bar","a":1,"b":[1,2,3],"c":{"x":0}}"#),
        "{resolved}"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("jones-server stopped"), "{rest}");
    assert!(
        rest.contains("the API is open to every local user"),
        "says at start that it is open: {rest}"
    );
    // ZooKeeper's data stays in the state dir for the next run.
    assert!(state.path().join("zookeeper").is_dir());
}
