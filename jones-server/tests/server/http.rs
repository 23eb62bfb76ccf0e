//! The HTTP API: in-process with `warp::test`, and over a real socket
//! (including server-sent events and graceful shutdown).

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long an event stream may take to say what a test waits for.
const STREAM_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

use crate::harness::{
    admin, env, fixture, http, json_of, obj, read_until, routes, serve_on_socket, service, snapshot,
};

#[tokio::test]
async fn fixture_over_http_and_every_read_route() {
    let admin = admin().await;
    let api = routes(&admin, None);
    let svc = service();
    let base = format!("/api/v1/services/{svc}");
    let send = |method: &str, path: String, body: Option<serde_json::Value>| {
        let mut r = warp::test::request().method(method).path(&path);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let api = api.clone();
        async move { json_of(&r.reply(&api).await) }
    };
    let (status, body) = send("POST", base.clone(), None).await;
    assert_eq!(
        (status, body),
        (201, json!({"service": svc.as_str(), "merge": "shallow"}))
    );
    let (_, root) = send("GET", format!("{base}/config"), None).await;
    let (status, body) = send(
        "PUT",
        format!("{base}/config"),
        Some(json!({"config": {"foo": "bar"}, "version": root["version"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["version"].as_i64() > root["version"].as_i64(),
        "{body}"
    );
    let mut created = std::collections::HashMap::new();
    for (e, c) in [
        ("parent", json!({"a": 1, "b": [1, 2, 3], "c": {"x": 0}})),
        ("parent/child1", json!({"a": 2})),
        ("parent/child2", json!({"a": 3})),
        ("parent/child2/subchild1", json!({"b": "abc"})),
    ] {
        let (status, body) = send(
            "POST",
            format!("{base}/config/{e}"),
            Some(json!({"config": c})),
        )
        .await;
        assert_eq!(status, 201, "{e}: {body}");
        created.insert(e, body["version"].clone());
    }
    for (name, e) in [
        ("127.0.0.1", "parent"),
        ("127.0.0.2", "parent/child1"),
        ("127.0.0.3", ""),
    ] {
        let (status, body) = send(
            "PUT",
            format!("{base}/associations/{name}"),
            Some(json!({"env": e})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = send(
        "GET",
        format!("{base}/config/parent/child2/subchild1"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["env"], "parent/child2/subchild1");
    assert_eq!(body["version"], created["parent/child2/subchild1"]);
    assert_eq!(body["config"], json!({"b": "abc"}));
    assert_eq!(
        body["view"],
        json!({"foo": "bar", "a": 3, "b": "abc", "c": {"x": 0}})
    );
    assert_eq!(
        body["origins"],
        json!({"foo": "", "a": "parent/child2", "b": "parent/child2/subchild1", "c": "parent"})
    );
    assert_eq!(body["overrides"], json!(["b"]));
    let (_, body) = send("GET", format!("{base}/config"), None).await;
    assert_eq!(body["children"], json!(["parent"]));
    assert_eq!(body["associations"], json!(["127.0.0.3"]));
    let (_, body) = send("GET", format!("{base}/envs"), None).await;
    assert_eq!(
        body["children"][0]["children"][1]["children"][0]["env"],
        "parent/child2/subchild1"
    );
    let (_, body) = send("GET", format!("{base}/associations"), None).await;
    assert_eq!(
        body["associations"][1],
        json!({"name": "127.0.0.2", "env": "parent/child1", "view_path": format!("/services/{svc}/views/parent/child1")})
    );
    let (_, body) = send("GET", format!("{base}/associations/127.0.0.1"), None).await;
    assert_eq!(body["env"], "parent");
    let (_, body) = send("GET", format!("{base}/resolve/127.0.0.2"), None).await;
    assert_eq!(
        body["config"],
        json!({"foo": "bar", "a": 2, "b": [1, 2, 3], "c": {"x": 0}})
    );
    assert_eq!(body["associated"], true);
    let (_, body) = send("GET", format!("{base}/resolve/elsewhere"), None).await;
    assert_eq!(body["config"], json!({"foo": "bar"}));
    assert_eq!(body["associated"], false);
    let (_, body) = send("GET", format!("{base}/dump"), None).await;
    let paths: Vec<&str> = body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&format!("/services/{svc}/views/parent/child2/subchild1").as_str()));
    let (_, body) = send("GET", "/api/v1/services".into(), None).await;
    assert!(
        body["services"]
            .as_array()
            .unwrap()
            .contains(&json!(svc.as_str()))
    );
    // Changing parent over HTTP updates every descendant.
    let (status, body) = send(
        "PUT",
        format!("{base}/config/parent"),
        Some(json!({"config": {"a": 7}, "version": created["parent"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["views_written"], 4);
    let (_, body) = send(
        "GET",
        format!("{base}/config/parent/child2/subchild1"),
        None,
    )
    .await;
    assert_eq!(body["view"], json!({"foo": "bar", "a": 3, "b": "abc"}));
    // Deletes.
    let (status, body) = send("DELETE", format!("{base}/associations/127.0.0.3"), None).await;
    assert_eq!((status, body), (200, json!({"deleted": "127.0.0.3"})));
    let (status, _) = send(
        "DELETE",
        format!("{base}/config/parent?recursive=true"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = send("GET", format!("{base}/associations"), None).await;
    assert_eq!(body["associations"], json!([]));
    let (status, _) = send("DELETE", base.clone(), None).await;
    assert_eq!(status, 200);
    let (status, body) = send("GET", format!("{base}/config"), None).await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_write_nothing() {
    let admin = admin().await;
    let api = routes(&admin, None);
    let svc = service();
    fixture(&admin, &svc).await;
    let before = snapshot(&admin, &svc).await;
    let base = format!("/api/v1/services/{svc}");
    let big_config = format!(
        r#"{{"config": {{"blob": "{}"}}, "version": 0}}"#,
        "x".repeat(1_100_000)
    );
    let huge_body = format!(r#"{{"config": {{"blob": "{}"}}}}"#, "x".repeat(3_000_000));
    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        (
            "PUT",
            format!("{base}/config/parent"),
            "{not json".into(),
            400,
            "not valid JSON",
        ),
        (
            "PUT",
            format!("{base}/config/parent"),
            "[1]".into(),
            400,
            "must be a JSON object",
        ),
        (
            "PUT",
            format!("{base}/config/parent"),
            r#"{"config": [1], "version": 0}"#.into(),
            400,
            "not an array",
        ),
        (
            "PUT",
            format!("{base}/config/parent"),
            r#"{"config": {}}"#.into(),
            400,
            "needs `version`",
        ),
        (
            "PUT",
            format!("{base}/config/parent"),
            r#"{"config": {}, "version": "x"}"#.into(),
            400,
            "must be a number",
        ),
        (
            "PUT",
            format!("{base}/config/parent"),
            r#"{"version": 0}"#.into(),
            400,
            "needs `config`",
        ),
        (
            "PUT",
            format!("{base}/config/parent"),
            big_config,
            400,
            "limit",
        ),
        (
            "POST",
            format!("{base}/config/parent/new"),
            huge_body,
            413,
            "over the limit",
        ),
        (
            "POST",
            format!("{base}/config/parent/new"),
            String::new(),
            400,
            "needs a JSON body",
        ),
        (
            "POST",
            format!("{base}/config/a%2F..%2Fb"),
            r#"{"config": {}}"#.into(),
            400,
            "invalid environment path",
        ),
        (
            "POST",
            "/api/v1/services/..".into(),
            String::new(),
            400,
            "invalid service name",
        ),
        (
            "POST",
            format!("{base}/config/missing/child"),
            r#"{"config": {}}"#.into(),
            404,
            "\"missing\"",
        ),
        (
            "POST",
            format!("{base}/config/parent"),
            r#"{"config": {}}"#.into(),
            409,
            "already exists",
        ),
        (
            "PUT",
            format!("{base}/config/parent"),
            r#"{"config": {"a": 5}, "version": 7}"#.into(),
            409,
            "version conflict",
        ),
        (
            "DELETE",
            format!("{base}/config/parent"),
            String::new(),
            409,
            "children",
        ),
        (
            "DELETE",
            format!("{base}/config/parent?recursive=maybe"),
            String::new(),
            400,
            "`recursive`",
        ),
        (
            "DELETE",
            format!("{base}/config"),
            String::new(),
            400,
            "root",
        ),
        (
            "PUT",
            format!("{base}/associations/h"),
            r#"{"env": "nope"}"#.into(),
            404,
            "\"nope\"",
        ),
        (
            "PUT",
            format!("{base}/associations/h"),
            r#"{"env": 3}"#.into(),
            400,
            "must be a string",
        ),
        (
            "DELETE",
            format!("{base}/associations/nobody"),
            String::new(),
            404,
            "nobody",
        ),
        (
            "GET",
            "/api/v1/services/no-such-service/config".into(),
            String::new(),
            404,
            "no-such-service",
        ),
        (
            "GET",
            format!("{base}/config/nope"),
            String::new(),
            404,
            "\"nope\"",
        ),
        (
            "PATCH",
            format!("{base}/config"),
            String::new(),
            405,
            "PATCH",
        ),
        ("GET", "/api/v2/x".into(), String::new(), 404, "/api/v1"),
    ];
    for (method, path, body, status, needle) in cases {
        let response = warp::test::request()
            .method(method)
            .path(&path)
            .header("content-type", "application/json")
            .body(body)
            .reply(&api)
            .await;
        let (got, json) = json_of(&response);
        let error = json["error"].as_str().unwrap_or_default();
        assert_eq!(got, status, "{method} {path}: {json}");
        assert!(
            error.contains(needle),
            "{method} {path}: {error:?} lacks {needle:?}"
        );
    }
    // The conflict body carries the current version and config.
    let response = warp::test::request()
        .method("PUT")
        .path(&format!("{base}/config/parent/child1"))
        .json(&json!({"config": {"a": 9}, "version": 3}))
        .reply(&api)
        .await;
    let (status, body) = json_of(&response);
    assert_eq!(status, 409);
    assert_eq!(
        body["current_version"],
        crate::harness::version_of(&admin, &svc, "parent/child1").await
    );
    assert_eq!(body["current_config"], json!({"a": 2}));
    assert_eq!(snapshot(&admin, &svc).await, before, "nothing written");
}

#[tokio::test]
async fn a_version_never_repeats_across_delete_and_re_create() {
    let admin = admin().await;
    let api = routes(&admin, None);
    let svc = service();
    fixture(&admin, &svc).await;
    let path = format!("/api/v1/services/{svc}/config/parent/child1");
    let read = warp::test::request().path(&path).reply(&api).await;
    let old_etag = read.headers()["etag"].clone();
    let (_, old) = json_of(&read);
    assert_eq!(old_etag, format!("\"{}\"", old["version"]).as_str());
    // While an editor holds that version, the environment is deleted and
    // re-created with other content.
    admin
        .delete_env(&svc, &env("parent/child1"), false)
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("parent/child1"), obj(json!({"other": true})))
        .await
        .unwrap();
    let before = snapshot(&admin, &svc).await;
    let put = |body: serde_json::Value, if_match: Option<&warp::http::HeaderValue>| {
        let mut r = warp::test::request().method("PUT").path(&path).json(&body);
        if let Some(tag) = if_match {
            r = r.header("if-match", tag);
        }
        let api = api.clone();
        async move { r.reply(&api).await }
    };
    let stale = put(
        json!({"config": {"a": 99}, "version": old["version"]}),
        None,
    )
    .await;
    assert_eq!(stale.status(), 409, "the old version is refused");
    let stale = put(json!({"config": {"a": 99}}), Some(&old_etag)).await;
    assert_eq!(stale.status(), 409, "the old ETag is refused");
    assert_eq!(snapshot(&admin, &svc).await, before, "nothing written");

    let read = warp::test::request().path(&path).reply(&api).await;
    let etag = read.headers()["etag"].clone();
    assert_ne!(etag, old_etag);
    let disagree = put(
        json!({"config": {"a": 99}, "version": old["version"]}),
        Some(&etag),
    )
    .await;
    assert_eq!(disagree.status(), 400, "body and If-Match disagree");
    let saved = put(json!({"config": {"a": 99}}), Some(&etag)).await;
    assert_eq!(saved.status(), 200, "If-Match alone carries the version");
    let (_, body) = json_of(&saved);
    assert_eq!(
        saved.headers()["etag"],
        format!("\"{}\"", body["version"]).as_str()
    );
    assert_ne!(saved.headers()["etag"], etag);
    assert_eq!(
        admin
            .get_env(&svc, &env("parent/child1"))
            .await
            .unwrap()
            .config,
        obj(json!({"a": 99}))
    );
}

#[tokio::test]
async fn health_metrics_and_the_web_editor() {
    let admin = admin().await;
    let api = routes(&admin, None);
    let (status, body) = json_of(&warp::test::request().path("/healthz").reply(&api).await);
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let page = warp::test::request().path("/").reply(&api).await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let deep = warp::test::request()
        .path("/services/x/env")
        .reply(&api)
        .await;
    assert_eq!(deep.status(), 200);
    let missing = warp::test::request().path("/nope.js").reply(&api).await;
    assert_eq!(missing.status(), 404);
    let metrics = warp::test::request().path("/metrics").reply(&api).await;
    let text = String::from_utf8_lossy(metrics.body());
    for needle in [
        "jones_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1",
        "jones_http_request_duration_seconds_count",
        "jones_zookeeper_requests_total",
        "jones_materializations_total",
        "jones_conflicts_total",
        "jones_zookeeper_connected 1",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[tokio::test]
async fn real_socket_with_events_and_graceful_shutdown() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let mut server = serve_on_socket(&admin, None).await;
    let (status, body) = http(server.addr, "GET", "/healthz", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        server.addr,
        "POST",
        &format!("/api/v1/services/{svc}/config/web"),
        Some(r#"{"config": {"threads": 4}}"#),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    // Subscribe to events; a change shows up; shutdown ends the stream.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /api/v1/services/{svc}/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "event:ready", STREAM_WAIT).await;
    assert!(seen.contains("text/event-stream"), "{seen}");
    admin
        .set_env(&svc, &env("web"), obj(json!({"threads": 8})), None)
        .await
        .unwrap();
    read_until(&mut stream, &mut seen, "\"kind\":\"view\"", STREAM_WAIT).await;
    assert!(seen.contains("event:change"), "{seen}");
    assert!(
        seen.contains(&format!(
            r#"{{"path":"/services/{svc}/conf/web","kind":"conf","env":"web"}}"#
        )),
        "{seen}"
    );
    server.stop.take().unwrap().send(()).unwrap();
    // The stream ends and the server stops.
    let mut rest = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut rest),
    )
    .await
    .expect("the event stream ends on shutdown")
    .unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server.task)
        .await
        .expect("the server stops")
        .unwrap();
}

#[tokio::test]
async fn an_event_stream_drops_its_zookeeper_watch_when_its_client_goes_away() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let server = serve_on_socket(&admin, None).await;
    let port = crate::harness::zookeeper().port();
    let watched = || {
        let paths = jones_testkit::four_letter_word(port, "wchp").unwrap();
        paths.lines().any(|l| l == format!("/services/{svc}"))
    };
    assert!(
        !watched(),
        "nothing watches the service before a stream opens"
    );

    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /api/v1/services/{svc}/events HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    read_until(&mut stream, &mut String::new(), "event:ready", STREAM_WAIT).await;
    assert!(watched(), "the open stream watches the service");

    drop(stream);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while watched() {
        assert!(
            std::time::Instant::now() < deadline,
            "the watch outlived its stream"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
