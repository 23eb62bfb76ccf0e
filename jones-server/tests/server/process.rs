//! Event streams against the `jones-server` binary, whose memory is
//! measured alone: a thousand streams on one service with one stalled (which
//! then really blocks and is dropped by the send timeout), a stalled stream
//! flooded with events, and SIGTERM within the shutdown deadline either way.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::harness::{
    CREDENTIAL, admin, metric, open_stream, read_until, shutdown_bound, zookeeper,
};
use crate::shutdown::{busy_service, churn};

const WAIT: Duration = Duration::from_secs(20);

/// A `jones-server` process on the shared ZooKeeper.
pub struct ServerProcess {
    child: tokio::process::Child,
    pub addr: SocketAddr,
    /// Every line the server logged.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    pub async fn start(extra: &[&str]) -> Self {
        Self::start_on(&zookeeper().connect_string(), extra).await
    }

    /// A process on `connect` (e.g. a namespace of its own, see
    /// [`crate::harness::isolated_connect`]).
    pub async fn start_on(connect: &str, extra: &[&str]) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jones-server"))
            .args(["--listen", "127.0.0.1:0", "--zk"])
            .arg(connect)
            .args(["--digest", CREDENTIAL])
            .args(extra)
            .env_remove("JONES_ADMIN_TOKEN")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = tokio::time::timeout(WAIT, async {
            loop {
                let line = lines.next_line().await.unwrap().expect("exited early");
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    break rest.split('/').next().unwrap().parse().unwrap();
                }
            }
        })
        .await
        .expect("the server starts");
        // Keep draining its log so it never blocks on a full pipe.
        let log: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let kept = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                kept.lock().unwrap().push(line);
            }
        });
        Self { child, addr, log }
    }

    /// Every line logged after the listening line, so far.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The log once it holds every one of `needles` (its lines are read
    /// as the process writes them); panics after a generous wait.
    pub async fn log_holding(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.log_text();
            if needles.iter().all(|n| text.contains(n)) {
                return text;
            }
            assert!(Instant::now() < deadline, "{needles:?} not logged:\n{text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `signal` (e.g. `"STOP"`, `"KILL"`) to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
    }

    /// Kills the process with SIGKILL and reaps it.
    pub async fn kill(mut self) {
        self.signal("KILL");
        self.child.wait().await.unwrap();
    }

    /// Resident memory of the server process, in KiB.
    fn rss_kib(&self) -> u64 {
        let pid = self.child.id().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// Sends SIGTERM and waits for a clean exit; returns how long it took.
    pub async fn terminate(mut self) -> Duration {
        let started = Instant::now();
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the server exits within its shutdown deadline")
            .unwrap();
        assert!(exit.success(), "{exit:?}");
        started.elapsed()
    }
}

/// A stream whose client never reads, with a small receive buffer.
async fn stalled_stream(addr: SocketAddr, svc: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!("GET /api/v1/services/{svc}/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// How many sessions watch `path`, as ZooKeeper reports them.
fn watchers_of(path: &str) -> usize {
    let report = jones_testkit::four_letter_word(zookeeper().port(), "wchp").unwrap();
    let mut lines = report.lines().skip_while(|l| *l != path);
    lines.next();
    lines.take_while(|l| l.starts_with('\t')).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_streams_one_stalled_keep_one_watch_and_flat_memory() {
    const STREAMS: usize = 1000;
    let admin = admin().await;
    let svc = busy_service(&admin, 2).await;
    let server =
        ServerProcess::start(&["--max-streams", "1100", "--send-timeout-ms", "2000"]).await;
    let addr = server.addr;
    let stalled = stalled_stream(addr, svc.as_str()).await;
    let mut streams = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS / 50 {
        let opened =
            futures_util::future::join_all((0..50).map(|_| open_stream(addr, svc.as_str()))).await;
        streams.extend(opened);
    }
    let deadline = Instant::now() + WAIT;
    while metric(addr, "jones_event_streams").await != STREAMS as u64 + 1 {
        assert!(Instant::now() < deadline, "the streams did not all open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(metric(addr, "jones_event_watches").await, 1, "one watch");
    assert_eq!(
        watchers_of(&format!("/services/{svc}")),
        1,
        "ZooKeeper sees one watcher of the service"
    );
    let opened = server.rss_kib();
    churn(&admin, &svc, 20).await;
    for (stream, seen) in streams.iter_mut().step_by(97) {
        read_until(stream, seen, r#""kind":"view","env":"e01-"#, WAIT).await;
    }
    let first = server.rss_kib();
    churn(&admin, &svc, 20).await;
    for (stream, seen) in streams.iter_mut().step_by(97) {
        seen.clear();
        read_until(stream, seen, r#""kind":"view","env":"e01-"#, WAIT).await;
    }
    let second = server.rss_kib();
    eprintln!(
        "server RSS with {STREAMS} streams + 1 stalled: {opened} KiB open, \
         {first} KiB after 20 root writes, {second} KiB after 40"
    );
    assert!(
        second < first + 8 * 1024,
        "memory grew from {first} KiB to {second} KiB"
    );
    // The stalled stream really blocks and is dropped. With the readers
    // closed first (else the flood below would be sent a thousand times
    // over), large events (200-character names) fill its socket buffers
    // until a write to it stays blocked past the send timeout.
    drop(streams);
    let deadline = Instant::now() + WAIT;
    while metric(addr, "jones_event_streams").await != 1 {
        assert!(Instant::now() < deadline, "the readers did not all close");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for i in 0..40 {
        let name = format!("flood-{i:02}-{}", "x".repeat(200));
        admin
            .create_env(
                &svc,
                &jones_client::EnvPath::new(&name).unwrap(),
                Default::default(),
            )
            .await
            .unwrap();
    }
    let flood_until = Instant::now() + Duration::from_secs(120);
    let mut rounds = 0;
    while metric(addr, "jones_http_send_timeouts_total").await == 0 {
        assert!(
            Instant::now() < flood_until,
            "the stalled stream never blocked past the send timeout ({rounds} root writes)"
        );
        churn(&admin, &svc, 20).await;
        rounds += 20;
    }
    let deadline = Instant::now() + WAIT;
    while metric(addr, "jones_event_streams").await != 0 {
        assert!(
            Instant::now() < deadline,
            "the stalled stream was not dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut stalled = stalled;
    let closed = tokio::time::timeout(WAIT, async {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stalled.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server closed the stalled connection");
    eprintln!("the stalled stream was dropped after {rounds} more root writes");
    let took = server.terminate().await;
    eprintln!("SIGTERM to exit after {STREAMS} streams + 1 stalled: {took:?}");
    assert!(took < shutdown_bound(), "SIGTERM to exit took {took:?}");
}

#[tokio::test]
async fn a_stalled_stream_flooded_with_events_does_not_grow_memory() {
    let admin = admin().await;
    let svc = busy_service(&admin, 40).await;
    let server = ServerProcess::start(&[]).await;
    let stalled = stalled_stream(server.addr, svc.as_str()).await;
    let deadline = Instant::now() + WAIT;
    while metric(server.addr, "jones_event_streams").await != 1 {
        assert!(Instant::now() < deadline, "the stream did not open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // 300 root writes fire ~12,600 events of ~500 bytes: more than the
    // socket buffers hold, so later events pile up wherever the server
    // keeps them.
    churn(&admin, &svc, 300).await;
    let full = server.rss_kib();
    churn(&admin, &svc, 300).await;
    let after = server.rss_kib();
    eprintln!(
        "server RSS with a stalled stream: {full} KiB after 300 root writes, {after} KiB after 600"
    );
    assert!(
        after < full + 2 * 1024,
        "memory grew from {full} KiB to {after} KiB"
    );
    let took = server.terminate().await;
    eprintln!("SIGTERM to exit with a stalled stream: {took:?}");
    assert!(took < shutdown_bound(), "SIGTERM to exit took {took:?}");
    drop(stalled);
}

#[tokio::test]
async fn writes_and_refusals_are_logged_without_token_or_config() {
    let admin = admin().await;
    let svc = busy_service(&admin, 0).await;
    let server = ServerProcess::start(&["--admin-token", "tok-51c0e"]).await;
    let addr = server.addr;
    let send = |method: &'static str,
                path: String,
                auth: Option<&'static str>,
                body: &'static str| async move {
        use tokio::io::AsyncReadExt;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let auth = auth
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let config = r#"{"config": {"secret-value": "cfg-9d2b7"}}"#;
    let answer = send(
        "POST",
        format!("/api/v1/services/{svc}/config/web"),
        Some("tok-51c0e"),
        config,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let answer = send(
        "POST",
        format!("/api/v1/services/{svc}/config/other"),
        Some("wrong-7e1"),
        config,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let answer = send(
        "DELETE",
        format!("/api/v1/services/{svc}/config/web"),
        None,
        "",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let took = server.log.clone();
    let _ = server.terminate().await;
    let log = took.lock().unwrap().join("\n");
    let access: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("jones_server::access"))
        .collect();
    assert_eq!(access.len(), 3, "{log}");
    for (line, (method, token, status, target)) in access.iter().zip([
        ("POST", "admin", "201", "web"),
        ("POST", "wrong", "401", "other"),
        ("DELETE", "none", "401", "web"),
    ]) {
        for needle in [
            format!("method={method}"),
            format!("token={token}"),
            format!("status={status}"),
            format!("service={svc}"),
            format!("target={target}"),
            "peer=127.0.0.1:".to_owned(),
        ] {
            assert!(line.contains(&needle), "{needle} missing from {line}");
        }
    }
    for secret in ["tok-51c0e", "wrong-7e1", "cfg-9d2b7", "test-secret"] {
        assert!(!log.contains(secret), "{secret} logged:\n{log}");
    }
}
