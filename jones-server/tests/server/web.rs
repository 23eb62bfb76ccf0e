//! Web security over a real socket: requests a browser page could forge
//! (cross-origin `text/plain` writes, DNS rebinding through a foreign
//! `Host`), oversized bodies without a token, and secrets in `Debug`. Each
//! refused request leaves the tree byte-identical.

use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{CREDENTIAL, admin, fixture, serve_on_socket, service, snapshot};

/// Sends `head` (and `body`) on a fresh connection and returns the status
/// and the whole answer; panics when no answer comes within 10 s.
async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        while !complete(&answer) {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no answer within 10 s: {}",
            String::from_utf8_lossy(&answer)
        )
    });
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    (status, text)
}

/// Whether `answer` holds a whole response with a `Content-Length` body.
fn complete(answer: &[u8]) -> bool {
    let text = String::from_utf8_lossy(answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .is_some_and(|n| body.len() >= n)
}

fn request(method: &str, path: &str, headers: &[(&str, String)], body: &str) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    head
}

async fn services_dump(admin: &jones_server::Admin) -> Vec<String> {
    admin
        .list_services()
        .await
        .unwrap()
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn a_cross_origin_text_plain_post_is_refused_and_writes_nothing() {
    let admin = admin().await;
    let server = serve_on_socket(&admin, None).await;
    let svc = service();
    let host = server.addr.to_string();
    // What a page on http://evil.example can send without a preflight.
    let (status, answer) = raw(
        server.addr,
        &request(
            "POST",
            &format!("/api/v1/services/{svc}"),
            &[
                ("Host", host.clone()),
                ("Content-Type", "text/plain".into()),
                ("Origin", "http://evil.example".into()),
            ],
            "{}",
        ),
        b"",
    )
    .await;
    assert!(status == 403 || status == 415, "{answer}");
    assert!(!admin.service_exists(&svc).await.unwrap(), "{answer}");
    // Each rule on its own: text/plain from the server's own origin, and
    // JSON from a foreign origin.
    let (status, answer) = raw(
        server.addr,
        &request(
            "POST",
            &format!("/api/v1/services/{svc}"),
            &[
                ("Host", host.clone()),
                ("Content-Type", "text/plain".into()),
                ("Origin", format!("http://{host}")),
            ],
            "{}",
        ),
        b"",
    )
    .await;
    assert_eq!(status, 415, "{answer}");
    let (status, answer) = raw(
        server.addr,
        &request(
            "POST",
            &format!("/api/v1/services/{svc}"),
            &[
                ("Host", host.clone()),
                ("Content-Type", "application/json".into()),
                ("Origin", "http://evil.example".into()),
            ],
            "{}",
        ),
        b"",
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(!admin.service_exists(&svc).await.unwrap(), "{answer}");
    // The server's own page may write.
    let (status, answer) = raw(
        server.addr,
        &request(
            "POST",
            &format!("/api/v1/services/{svc}"),
            &[
                ("Host", host.clone()),
                ("Content-Type", "application/json".into()),
                ("Origin", format!("http://{host}")),
            ],
            "",
        ),
        b"",
    )
    .await;
    assert_eq!(status, 201, "{answer}");
}

#[tokio::test]
async fn text_plain_writes_to_an_existing_service_change_nothing() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let before = snapshot(&admin, &svc).await;
    // A valid version: only the request's form may refuse it.
    let version = crate::harness::version_of(&admin, &svc, "parent").await;
    let put_body = format!(r#"{{"config": {{"a": 666}}, "version": {version}}}"#);
    let server = serve_on_socket(&admin, None).await;
    let host = server.addr.to_string();
    for (method, path, body) in [
        (
            "PUT",
            format!("/api/v1/services/{svc}/config/parent"),
            put_body.as_str(),
        ),
        (
            "POST",
            format!("/api/v1/services/{svc}/config/parent/evil"),
            r#"{"config": {"a": 666}}"#,
        ),
        (
            "PUT",
            format!("/api/v1/services/{svc}/associations/web-01"),
            r#"{"env": "parent"}"#,
        ),
        (
            "DELETE",
            format!("/api/v1/services/{svc}/config/parent/child1"),
            "x",
        ),
    ] {
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            let (status, answer) = raw(
                server.addr,
                &request(
                    method,
                    &path,
                    &[
                        ("Host", host.clone()),
                        ("Content-Type", content_type.into()),
                    ],
                    body,
                ),
                b"",
            )
            .await;
            assert_eq!(status, 415, "{method} {path} {content_type}: {answer}");
        }
    }
    assert_eq!(snapshot(&admin, &svc).await, before, "tree byte-identical");
}

#[tokio::test]
async fn a_foreign_host_is_refused_for_reads_and_writes() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let before = snapshot(&admin, &svc).await;
    let services_before = services_dump(&admin).await;
    let version = crate::harness::version_of(&admin, &svc, "parent").await;
    let put_body = format!(r#"{{"config": {{"a": 666}}, "version": {version}}}"#);
    let server = serve_on_socket(&admin, None).await;
    let port = server.addr.port();
    // A DNS-rebinding page: the browser sends the attacker's name as Host.
    for host in [
        format!("rebind.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        "evil.example".to_owned(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
    ] {
        let (status, answer) = raw(
            server.addr,
            &request(
                "GET",
                &format!("/api/v1/services/{svc}/dump"),
                &[("Host", host.clone())],
                "",
            ),
            b"",
        )
        .await;
        assert_eq!(status, 403, "GET with Host {host}: {answer}");
        assert!(!answer.contains("/conf"), "no data leaks: {answer}");
        let (status, answer) = raw(
            server.addr,
            &request(
                "PUT",
                &format!("/api/v1/services/{svc}/config/parent"),
                &[
                    ("Host", host.clone()),
                    ("Content-Type", "application/json".into()),
                ],
                &put_body,
            ),
            b"",
        )
        .await;
        assert_eq!(status, 403, "PUT with Host {host}: {answer}");
        let (status, answer) = raw(
            server.addr,
            &request(
                "POST",
                "/api/v1/services/rebound",
                &[
                    ("Host", host.clone()),
                    ("Content-Type", "application/json".into()),
                ],
                "",
            ),
            b"",
        )
        .await;
        assert_eq!(status, 403, "POST with Host {host}: {answer}");
    }
    // The server's own names work.
    for host in [
        server.addr.to_string(),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (status, answer) = raw(
            server.addr,
            &request(
                "GET",
                &format!("/api/v1/services/{svc}/dump"),
                &[("Host", host.clone())],
                "",
            ),
            b"",
        )
        .await;
        assert_eq!(status, 200, "GET with Host {host}: {answer}");
    }
    assert_eq!(snapshot(&admin, &svc).await, before, "tree byte-identical");
    assert_eq!(services_dump(&admin).await, services_before);
}

/// A body announced far over the limit, without a token: refused from the
/// head alone, before a byte of it is read (the client sends almost none).
#[tokio::test]
async fn an_oversized_body_without_a_token_is_refused_before_it_is_read() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let before = snapshot(&admin, &svc).await;
    let server = serve_on_socket(&admin, Some("s3cret")).await;
    let host = server.addr.to_string();
    let head = format!(
        "PUT /api/v1/services/{svc}/config/parent HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    );
    let (status, answer) = raw(server.addr, &head, br#"{"config": {"blob": ""#).await;
    assert_eq!(status, 401, "{answer}");
    // With the token, the declared length alone is refused.
    let head = format!(
        "PUT /api/v1/services/{svc}/config/parent HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer s3cret\r\n\
         Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
    );
    let (status, answer) = raw(server.addr, &head, br#"{"config": {"blob": ""#).await;
    assert_eq!(status, 413, "{answer}");
    // A chunked body with no length is cut off while it is read.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "PUT /api/v1/services/{svc}/config/parent HTTP/1.1\r\nHost: {host}\r\n\
         Authorization: Bearer s3cret\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
    let mut answer = Vec::new();
    let sent = tokio::time::timeout(Duration::from_secs(20), async {
        // Keep sending until the server answers and closes.
        for _ in 0..200 {
            if stream.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = stream.read_to_end(&mut answer).await;
    })
    .await;
    assert!(sent.is_ok(), "the server answered the endless body");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(snapshot(&admin, &svc).await, before, "tree byte-identical");
}

#[tokio::test]
async fn debug_output_never_shows_the_token_or_the_digest() {
    let admin = admin().await;
    let state = jones_server::http::ServerState::new(admin.clone(), Some("tok-7f3a9".into()));
    let password = CREDENTIAL.split_once(':').unwrap().1;
    for shown in [
        format!("{state:?}"),
        format!("{state:#?}"),
        format!("{admin:?}"),
        format!("{:?}", admin.zk()),
    ] {
        assert!(!shown.contains("tok-7f3a9"), "{shown}");
        assert!(!shown.contains(password), "{shown}");
    }
}

#[tokio::test]
async fn the_method_label_of_metrics_comes_from_a_fixed_set() {
    let admin = admin().await;
    let server = serve_on_socket(&admin, None).await;
    let host = server.addr.to_string();
    for method in ["BREW", "X-RANDOM-1", "X-RANDOM-2"] {
        let (status, answer) = raw(
            server.addr,
            &request(method, "/healthz", &[("Host", host.clone())], ""),
            b"",
        )
        .await;
        assert!(status >= 400, "{answer}");
    }
    let (_, metrics) = raw(
        server.addr,
        &request("GET", "/metrics", &[("Host", host.clone())], ""),
        b"",
    )
    .await;
    for method in ["BREW", "X-RANDOM"] {
        assert!(
            !metrics.contains(method),
            "{method} became a label:\n{metrics}"
        );
    }
    let _ = json!(null);
}
