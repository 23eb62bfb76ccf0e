//! Graceful shutdown finishes whatever the clients do: a client that
//! stopped reading its event stream, a client that never finishes its
//! request head.

use std::time::{Duration, Instant};

use jones_server::Admin;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::harness::{admin, env, obj, read_until, serve_on_socket, service, shutdown_bound};

/// Longer than the default shutdown deadline, far shorter than forever.
const STOP_WAIT: Duration = Duration::from_secs(20);

async fn stop_and_wait(mut server: crate::harness::RunningServer) -> Duration {
    let started = Instant::now();
    server.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(STOP_WAIT, &mut server.task)
        .await
        .expect("the server stops within its shutdown deadline")
        .unwrap();
    started.elapsed()
}

/// A service with `children` environments with long names under the root,
/// so that one root write fires `children + 2` events of ~500 bytes.
pub async fn busy_service(admin: &Admin, children: usize) -> jones_client::ServiceName {
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    for i in 0..children {
        let name = format!("e{i:02}-{}", "x".repeat(200));
        admin
            .create_env(&svc, &env(&name), obj(json!({})))
            .await
            .unwrap();
    }
    svc
}

/// Writes the root of `svc` `rounds` times.
pub async fn churn(admin: &Admin, svc: &jones_client::ServiceName, rounds: usize) {
    for _ in 0..rounds {
        let version = admin.get_env(svc, &env("")).await.unwrap().version;
        admin
            .set_env(svc, &env(""), obj(json!({"n": version})), Some(version))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_client_that_stopped_reading_its_events_does_not_block_shutdown() {
    let admin = admin().await;
    let svc = busy_service(&admin, 40).await;
    let server = serve_on_socket(&admin, None).await;
    let addr = server.addr;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    let request = format!("GET /api/v1/services/{svc}/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stalled.write_all(request.as_bytes()).await.unwrap();
    read_until(
        &mut stalled,
        &mut String::new(),
        "event:ready",
        Duration::from_secs(10),
    )
    .await;
    // About 12,600 events of ~500 bytes: more than the client's receive
    // buffer and the server's send buffer (at most 4 MiB) hold.
    churn(&admin, &svc, 300).await;
    let took = stop_and_wait(server).await;
    eprintln!("shutdown with a stalled event stream took {took:?}");
    assert!(took < shutdown_bound(), "shutdown took {took:?}");
    drop(stalled);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_does_not_block_shutdown() {
    let admin = admin().await;
    let server = serve_on_socket(&admin, None).await;
    let mut half = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    half.write_all(b"PUT /api/v1/services/x HTTP/1.1\r\nHost: ")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let took = stop_and_wait(server).await;
    eprintln!("shutdown with a half-sent request took {took:?}");
    assert!(took < shutdown_bound(), "shutdown took {took:?}");
    drop(half);
}
