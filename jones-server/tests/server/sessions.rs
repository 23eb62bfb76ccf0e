//! Session trouble on a private ZooKeeper: a restart under an open event
//! stream (resync, then live again) and an expired session replaced.

use std::time::{Duration, Instant};

use jones_server::http::{ServerState, routes};
use jones_server::{Admin, ZkOptions};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::harness::{CREDENTIAL, env, obj, read_until, service};

/// How long an event stream may take to resync after ZooKeeper comes back.
const STREAM_WAIT: Duration = Duration::from_secs(20);

async fn private_admin(zk: &jones_testkit::ZooKeeper, timeout: Duration) -> Admin {
    let mut options = ZkOptions::new(zk.connect_string()).with_digest(CREDENTIAL);
    options.session_timeout = timeout;
    Admin::connect(options).await.unwrap()
}

#[tokio::test]
async fn events_resync_after_zookeeper_restarts_and_keep_flowing() {
    let mut zk = jones_testkit::ZooKeeper::start().unwrap();
    let admin = private_admin(&zk, Duration::from_secs(10)).await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(jones_server::http::serve(
        listener,
        ServerState::new(admin.clone(), None),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /api/v1/services/{svc}/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "event:ready", STREAM_WAIT).await;
    zk.stop();
    zk.restart().unwrap();
    read_until(&mut stream, &mut seen, "event:resync", STREAM_WAIT).await;
    // The watch was added again: changes flow after the reconnect.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match admin
            .create_env(&svc, &env("after"), obj(json!({"x": 1})))
            .await
        {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("retrying after restart: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    read_until(
        &mut stream,
        &mut seen,
        &format!(r#""path":"/services/{svc}/conf/after""#),
        STREAM_WAIT,
    )
    .await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server stops with a stream open")
        .unwrap();
}

#[tokio::test]
async fn an_expired_session_is_replaced() {
    let zk = jones_testkit::ZooKeeper::start().unwrap();
    let admin = private_admin(&zk, Duration::from_millis(800)).await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let api = routes(ServerState::new(admin.clone(), None));
    // Silence the server longer than the session timeout: the client
    // declares the session expired.
    zk.pause().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while admin.zk().state() != zookeeper_client::SessionState::Expired {
        assert!(
            Instant::now() < deadline,
            "no expiry: {:?}",
            admin.zk().state()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = warp::test::request().path("/healthz").reply(&api).await;
    assert_eq!(health.status(), 503);
    zk.resume().unwrap();
    // The next operation builds a new session.
    let details = admin.get_env(&svc, &env("")).await.unwrap();
    assert!(details.version > 0);
    admin
        .create_env(&svc, &env("fresh"), obj(json!({"ok": true})))
        .await
        .unwrap();
    let health = warp::test::request().path("/healthz").reply(&api).await;
    assert_eq!(health.status(), 200);
    assert_eq!(admin.zk().counts().sessions_replaced, 1);
    let metrics = warp::test::request().path("/metrics").reply(&api).await;
    let text = String::from_utf8_lossy(metrics.body());
    assert!(
        text.contains("\njones_zookeeper_sessions_replaced_total 1\n"),
        "{text}"
    );
}
