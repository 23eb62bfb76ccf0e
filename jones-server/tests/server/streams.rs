//! Event streams and connections over real sockets: stalled and lagging
//! clients, the caps on streams and connections, slow request heads. (A
//! thousand streams on one service: `process.rs`.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jones_server::Admin;
use jones_server::http::{HttpOptions, ServerState};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{
    RunningServer, admin, env, http, metric, obj, open_stream, read_until, service,
};
use crate::shutdown::{busy_service, churn};

const WAIT: Duration = Duration::from_secs(20);

async fn serve_with(admin: &Admin, options: HttpOptions) -> RunningServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = ServerState::with_options(admin.clone(), None, options);
    let task = tokio::spawn(jones_server::http::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    RunningServer {
        addr,
        stop: Some(stop),
        task,
    }
}

/// An event stream whose client never reads: a small receive buffer, so the
/// server's writes block soon.
async fn stalled_stream(addr: SocketAddr, svc: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!("GET /api/v1/services/{svc}/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// One gauge or counter from `/metrics`.
async fn wait_for_metric(addr: SocketAddr, name: &str, ok: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = metric(addr, name).await;
        if ok(value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{name} stays at {value}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_stalled_stream_is_dropped_and_the_others_keep_flowing() {
    let admin = admin().await;
    let svc = busy_service(&admin, 20).await;
    let mut options = HttpOptions::default();
    options.send_timeout = Duration::from_secs(1);
    let server = serve_with(&admin, options).await;
    let addr = server.addr;
    let mut stalled = stalled_stream(addr, svc.as_str()).await;
    let (mut healthy, mut seen) = open_stream(addr, svc.as_str()).await;
    wait_for_metric(addr, "jones_event_streams", |n| n == 2).await;
    // Write until the stalled client's buffers are full and its send
    // timeout passes; the healthy stream keeps reading meanwhile.
    let deadline = Instant::now() + WAIT;
    let mut rounds = 0;
    while metric(addr, "jones_http_send_timeouts_total").await == 0 {
        assert!(
            Instant::now() < deadline,
            "no send timeout after {rounds} rounds"
        );
        churn(&admin, &svc, 10).await;
        rounds += 10;
        seen.clear();
        read_until(&mut healthy, &mut seen, r#""env":"e19-"#, WAIT).await;
    }
    eprintln!("the stalled stream was dropped after {rounds} root writes");
    wait_for_metric(addr, "jones_event_streams", |n| n == 1).await;
    // Its connection is closed: reading drains what was sent, then ends.
    let mut drained = Vec::new();
    let ended = tokio::time::timeout(WAIT, async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stalled.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the stalled connection is closed");
    churn(&admin, &svc, 1).await;
    seen.clear();
    read_until(&mut healthy, &mut seen, r#""env":"e19-"#, WAIT).await;
    assert_eq!(metric(addr, "jones_event_watches").await, 1);
}

#[tokio::test]
async fn a_stream_that_falls_behind_gets_resync() {
    let admin = admin().await;
    let svc = busy_service(&admin, 30).await;
    // The pause below must not count as a stalled client.
    let mut options = HttpOptions::default();
    options.send_timeout = Duration::from_secs(300);
    let server = serve_with(&admin, options).await;
    let addr = server.addr;
    // A client that pauses while ~12,800 events of ~500 bytes pass: more
    // than the broadcast holds plus what the sockets can buffer (a send
    // buffer grows to 4 MiB at most by default).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(addr).await.unwrap();
    let request = format!("GET /api/v1/services/{svc}/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    slow.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    read_until(&mut slow, &mut seen, "event:ready", WAIT).await;
    churn(&admin, &svc, 400).await;
    read_until(&mut slow, &mut seen, "event:resync", WAIT).await;
    assert!(seen.contains(r#""reason":"lagged""#), "{seen}");
    assert!(metric(addr, "jones_event_streams_lagged_total").await >= 1);
    // After the resync the stream is live again: a change made now arrives.
    admin
        .create_env(&svc, &env("fresh"), obj(json!({})))
        .await
        .unwrap();
    read_until(&mut slow, &mut seen, r#""env":"fresh""#, WAIT).await;
}

#[tokio::test]
async fn streams_beyond_the_cap_get_503() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let mut options = HttpOptions::default();
    options.max_streams = 2;
    let server = serve_with(&admin, options).await;
    let addr = server.addr;
    let first = open_stream(addr, svc.as_str()).await;
    let _second = open_stream(addr, svc.as_str()).await;
    let (status, body) = http(addr, "GET", &format!("/api/v1/services/{svc}/events"), None).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("too_many_streams"), "{body}");
    drop(first);
    wait_for_metric(addr, "jones_event_streams", |n| n < 2).await;
    let _third = open_stream(addr, svc.as_str()).await;
    assert!(metric(addr, "jones_event_streams_refused_total").await >= 1);
}

#[tokio::test]
async fn slow_heads_time_out_and_the_connection_cap_holds() {
    let admin = admin().await;
    let mut options = HttpOptions::default();
    options.max_connections = 2;
    options.header_read_timeout = Duration::from_secs(1);
    let server = serve_with(&admin, options).await;
    let addr = server.addr;
    // Two clients take every connection and never finish their heads.
    let mut slow = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: ")
            .await
            .unwrap();
        slow.push(s);
    }
    // A third client is served once the header timeout frees a slot.
    let (status, body) = tokio::time::timeout(WAIT, http(addr, "GET", "/healthz", None))
        .await
        .expect("served after the slow heads time out");
    assert_eq!(status, 200, "{body}");
    for mut s in slow {
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, s.read_to_end(&mut rest))
            .await
            .expect("the slow connection is closed")
            .ok();
    }
}
