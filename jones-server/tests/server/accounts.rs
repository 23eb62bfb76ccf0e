//! Accounts and roles over HTTP: every role allowed and refused on every
//! route, grants that stop at their service, removal seen at once by
//! every server, tokens stored only as hashes, garbage refused with
//! nothing stored, history naming the account, the editor's session.

use std::net::SocketAddr;

use jones_client::ServiceName;
use jones_server::http::HttpOptions;
use jones_server::{AccountName, Admin, Grant, Role};
use jones_testkit::unique_name;
use serde_json::{Value, json};

use crate::harness::{
    RunningServer, admin, fixture, http_with_headers, serve_with_options, service, zookeeper,
};

const ADMIN_TOKEN: &str = "bootstrap-admin-token";

/// One request; its status and JSON body (`Null` for an event stream,
/// whose head is all that is read, or an empty body).
async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before a response head");
        raw.extend_from_slice(&buf[..n]);
        if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    if head.contains("text/event-stream") {
        return (status, Value::Null);
    }
    stream.read_to_end(&mut raw).await.unwrap();
    let rest = String::from_utf8_lossy(&raw[head_end + 4..]).into_owned();
    let text = if head.contains("transfer-encoding: chunked") {
        dechunk(&rest)
    } else {
        rest
    };
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, value)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&tail[..n]);
        rest = &tail[n + 2..];
    }
    out
}

async fn server(admin: &Admin, token: Option<&str>, anonymous_read: bool) -> RunningServer {
    let mut options = HttpOptions::default();
    options.anonymous_read = anonymous_read;
    serve_with_options(admin, token, options).await
}

/// Creates an account through the API with the admin token; its token.
async fn add_account(addr: SocketAddr, name: &str, grants: Value) -> String {
    let body = json!({"name": name, "grants": grants}).to_string();
    let (status, created) = call(
        addr,
        "POST",
        "/api/v1/accounts",
        Some(&body),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created["token"].as_str().unwrap().to_owned()
}

/// The role a route needs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Needs {
    Open,
    AnyRole,
    On(Role),
    GlobalAdmin,
}

/// Every route and method, on `svc`, with what it needs. Where the
/// request would pass, it is built to change nothing that later rows
/// read (a body the handler refuses, a missing target), except the
/// service delete, after which the fixture is made again.
fn table(svc: &ServiceName) -> Vec<(&'static str, String, Option<String>, Needs)> {
    use Needs::*;
    let s = format!("/api/v1/services/{svc}");
    let nobody = unique_name("nobody");
    vec![
        ("GET", "/healthz".into(), None, Open),
        ("GET", "/metrics".into(), None, Open),
        ("GET", "/".into(), None, Open),
        ("GET", "/api/v1/session".into(), None, Open),
        ("GET", "/api/v1/services".into(), None, AnyRole),
        ("GET", s.clone(), None, On(Role::Viewer)),
        ("POST", s.clone(), None, On(Role::Admin)),
        (
            "PUT",
            s.clone(),
            Some(r#"{"merge": "bogus"}"#.into()),
            On(Role::Admin),
        ),
        ("GET", format!("{s}/envs"), None, On(Role::Viewer)),
        ("GET", format!("{s}/config"), None, On(Role::Viewer)),
        ("GET", format!("{s}/config/parent"), None, On(Role::Viewer)),
        (
            "PUT",
            format!("{s}/config/parent"),
            Some("{}".into()),
            On(Role::Editor),
        ),
        (
            "POST",
            format!("{s}/config/parent/new"),
            Some("{}".into()),
            On(Role::Admin),
        ),
        ("DELETE", format!("{s}/config/nope"), None, On(Role::Admin)),
        (
            "POST",
            format!("{s}/preview/config/parent"),
            Some(r#"{"config": {}}"#.into()),
            On(Role::Viewer),
        ),
        (
            "GET",
            format!("{s}/preview/delete/parent"),
            None,
            On(Role::Viewer),
        ),
        ("GET", format!("{s}/associations"), None, On(Role::Viewer)),
        (
            "GET",
            format!("{s}/associations/127.0.0.1"),
            None,
            On(Role::Viewer),
        ),
        (
            "PUT",
            format!("{s}/associations/h1"),
            Some("{}".into()),
            On(Role::Editor),
        ),
        (
            "DELETE",
            format!("{s}/associations/nope"),
            None,
            On(Role::Editor),
        ),
        (
            "GET",
            format!("{s}/resolve/127.0.0.1"),
            None,
            On(Role::Viewer),
        ),
        ("GET", format!("{s}/dump"), None, On(Role::Viewer)),
        ("GET", format!("{s}/verify"), None, On(Role::Viewer)),
        ("POST", format!("{s}/repair"), None, On(Role::Admin)),
        ("GET", format!("{s}/clients"), None, On(Role::Viewer)),
        ("GET", format!("{s}/history"), None, On(Role::Viewer)),
        ("GET", format!("{s}/events"), None, On(Role::Viewer)),
        ("GET", format!("{s}/history/0"), None, On(Role::Viewer)),
        (
            "GET",
            format!("{s}/history/0/config"),
            None,
            On(Role::Viewer),
        ),
        (
            "POST",
            format!("{s}/rollback"),
            Some(r#"{"to": 999999999, "version": 1}"#.into()),
            On(Role::Editor),
        ),
        ("GET", format!("{s}/pins"), None, On(Role::Viewer)),
        (
            "PUT",
            format!("{s}/pins/parent"),
            Some(r#"{"to": 999999999}"#.into()),
            On(Role::Admin),
        ),
        ("DELETE", format!("{s}/pins/parent"), None, On(Role::Admin)),
        ("GET", format!("{s}/schema"), None, On(Role::Viewer)),
        (
            "PUT",
            format!("{s}/schema"),
            Some(r#"{"schema": {"type": 5}}"#.into()),
            On(Role::Admin),
        ),
        ("DELETE", format!("{s}/schema"), None, On(Role::Admin)),
        ("PATCH", format!("{s}/dump"), None, GlobalAdmin),
        ("GET", "/api/v1/accounts".into(), None, GlobalAdmin),
        ("GET", "/api/v1/history".into(), None, GlobalAdmin),
        (
            "POST",
            "/api/v1/accounts".into(),
            Some(r#"{"name": "x", "grants": []}"#.into()),
            GlobalAdmin,
        ),
        (
            "DELETE",
            format!("/api/v1/accounts/{nobody}"),
            None,
            GlobalAdmin,
        ),
        ("DELETE", s.clone(), None, On(Role::Admin)),
    ]
}

/// Who calls, and what it may do on the table's service.
#[derive(Debug, Clone)]
struct Caller {
    label: &'static str,
    token: Option<String>,
    /// Its role on the table's service (`None`: none).
    role: Option<Role>,
    /// Whether it holds a global admin grant.
    global_admin: bool,
    /// Refused with 401 (no or a bad credential) rather than 403.
    unauthenticated: bool,
    /// Whether requests without a credential may read.
    anonymous_read: bool,
}

impl Caller {
    fn allowed(&self, method: &str, needs: Needs) -> bool {
        let read = method == "GET";
        match needs {
            Needs::Open => true,
            Needs::AnyRole | Needs::On(Role::Viewer)
                if self.anonymous_read && read && !self.unauthenticated =>
            {
                true
            }
            _ if self.unauthenticated => {
                self.anonymous_read
                    && read
                    && matches!(needs, Needs::AnyRole | Needs::On(Role::Viewer))
            }
            Needs::AnyRole => true,
            Needs::On(r) => self.role.is_some_and(|have| have >= r),
            Needs::GlobalAdmin => self.global_admin,
        }
    }
}

#[tokio::test]
async fn every_role_allowed_and_refused_on_every_route() {
    let admin = admin().await;
    let svc = service();
    let other = service();
    fixture(&admin, &svc).await;
    admin.create_service(&other).await.unwrap();
    let strict = server(&admin, Some(ADMIN_TOKEN), false).await;
    let reading = server(&admin, Some(ADMIN_TOKEN), true).await;
    let open = server(&admin, None, false).await;
    let mut tokens = Vec::new();
    for (role, scope) in [
        (Role::Viewer, Some(&svc)),
        (Role::Editor, Some(&svc)),
        (Role::Admin, Some(&svc)),
        (Role::Admin, Some(&other)),
        (Role::Viewer, None),
    ] {
        let grant = json!([{"role": role.as_str(), "service": scope.map(ServiceName::as_str)}]);
        tokens.push(add_account(strict.addr, &unique_name("table"), grant).await);
    }
    let account = |label, i: usize, role| Caller {
        label,
        token: Some(tokens[i].clone()),
        role,
        global_admin: false,
        unauthenticated: false,
        anonymous_read: false,
    };
    let anonymous = |label, token: Option<&str>, anonymous_read| Caller {
        label,
        token: token.map(str::to_owned),
        role: None,
        global_admin: false,
        unauthenticated: true,
        anonymous_read,
    };
    let everything = |label, token: Option<&str>| Caller {
        label,
        token: token.map(str::to_owned),
        role: Some(Role::Admin),
        global_admin: true,
        unauthenticated: false,
        anonymous_read: false,
    };
    let cases: Vec<(&RunningServer, Caller)> = vec![
        (&strict, account("viewer", 0, Some(Role::Viewer))),
        (&strict, account("editor", 1, Some(Role::Editor))),
        (&strict, account("admin", 2, Some(Role::Admin))),
        (&strict, account("admin elsewhere", 3, None)),
        (&strict, account("global viewer", 4, Some(Role::Viewer))),
        (&strict, everything("admin token", Some(ADMIN_TOKEN))),
        (&strict, anonymous("anonymous", None, false)),
        (
            &strict,
            anonymous("wrong token", Some("not-a-token"), false),
        ),
        (
            &strict,
            anonymous(
                "unknown account",
                Some(&format!("jones_ghost_{}", "A".repeat(43))),
                false,
            ),
        ),
        (
            &reading,
            anonymous("anonymous, --anonymous-read", None, true),
        ),
        // A wrong token is refused even where anonymous reads pass.
        (
            &reading,
            anonymous("wrong token, --anonymous-read", Some("nope"), false),
        ),
        (
            &reading,
            account("viewer, --anonymous-read", 0, Some(Role::Viewer)),
        ),
        (
            &reading,
            Caller {
                anonymous_read: true,
                ..account("admin elsewhere, --anonymous-read", 3, None)
            },
        ),
        (&open, everything("local, open server", None)),
        (
            &open,
            everything("viewer's token, open server", Some(&tokens[0])),
        ),
    ];
    for (server, caller) in &cases {
        for (method, path, body, needs) in table(&svc) {
            let (status, answer) = call(
                server.addr,
                method,
                &path,
                body.as_deref(),
                caller.token.as_deref(),
            )
            .await;
            let case = format!("{} {method} {path}: {status} {answer}", caller.label);
            if caller.allowed(method, needs) {
                assert!(status != 401 && status != 403, "allowed, refused: {case}");
                assert!(status < 500, "{case}");
                if method == "DELETE" && path.ends_with(svc.as_str()) {
                    fixture(&admin, &svc).await;
                }
                continue;
            }
            let expected = if caller.unauthenticated { 401 } else { 403 };
            assert_eq!(status, expected, "refused: {case}");
            let message = answer["error"].as_str().unwrap_or_default();
            assert!(
                message.contains(&format!("{method} ")),
                "names the request: {case}"
            );
            if expected == 401 {
                assert!(message.contains("Authorization: Bearer"), "{case}");
                assert!(message.contains("sign in"), "{case}");
            } else {
                assert_eq!(answer["kind"], "forbidden", "{case}");
                assert!(answer["account"].is_string(), "{case}");
                assert!(answer["needed"].is_string(), "{case}");
                assert!(message.contains("needs the"), "{case}");
            }
        }
    }
    // The service list shows each account what it may view.
    let listed = |answer: Value| -> Vec<String> {
        answer["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    let (_, viewer) = call(
        strict.addr,
        "GET",
        "/api/v1/services",
        None,
        Some(&tokens[0]),
    )
    .await;
    assert!(
        listed(viewer.clone()).contains(&svc.to_string()),
        "{viewer}"
    );
    assert!(
        !listed(viewer.clone()).contains(&other.to_string()),
        "{viewer}"
    );
    let (_, elsewhere) = call(
        strict.addr,
        "GET",
        "/api/v1/services",
        None,
        Some(&tokens[3]),
    )
    .await;
    assert!(
        !listed(elsewhere.clone()).contains(&svc.to_string()),
        "{elsewhere}"
    );
    assert!(
        listed(elsewhere.clone()).contains(&other.to_string()),
        "{elsewhere}"
    );
    let (_, global) = call(
        strict.addr,
        "GET",
        "/api/v1/services",
        None,
        Some(&tokens[4]),
    )
    .await;
    assert!(
        listed(global.clone()).contains(&svc.to_string())
            && listed(global).contains(&other.to_string())
    );
}

#[tokio::test]
async fn a_service_grant_stops_at_its_service() {
    let admin = admin().await;
    let (a, b) = (service(), service());
    fixture(&admin, &a).await;
    fixture(&admin, &b).await;
    let running = server(&admin, Some(ADMIN_TOKEN), false).await;
    let name = unique_name("scoped");
    let token = add_account(
        running.addr,
        &name,
        json!([{"role": "editor", "service": a.as_str()}]),
    )
    .await;
    let set = |svc: &ServiceName, version: i64| {
        (
            format!("/api/v1/services/{svc}/config/parent"),
            json!({"config": {"a": 9}, "version": version}).to_string(),
        )
    };
    let version = crate::harness::version_of(&admin, &a, "parent").await;
    let (path, body) = set(&a, version);
    let (status, answer) = call(running.addr, "PUT", &path, Some(&body), Some(&token)).await;
    assert_eq!(status, 200, "{answer}");
    let version = crate::harness::version_of(&admin, &b, "parent").await;
    let (path, body) = set(&b, version);
    let (status, answer) = call(running.addr, "PUT", &path, Some(&body), Some(&token)).await;
    assert_eq!(status, 403, "{answer}");
    let message = answer["error"].as_str().unwrap();
    assert!(
        message.contains(&format!("account {name} has no role on service {b}"))
            && message.contains(&format!("needs the editor role on service {b}")),
        "{message}"
    );
    assert_eq!(answer["service"], b.as_str());
    assert_eq!(answer["role"], Value::Null);
    for svc in [&a, &b] {
        let (status, answer) = call(
            running.addr,
            "GET",
            &format!("/api/v1/services/{svc}/config/parent"),
            None,
            Some(&token),
        )
        .await;
        let expected = if svc == &a { 200 } else { 403 };
        assert_eq!(status, expected, "{answer}");
    }
    // A global grant reaches both.
    let global = add_account(
        running.addr,
        &unique_name("global"),
        json!([{"role": "editor"}]),
    )
    .await;
    for svc in [&a, &b] {
        let version = crate::harness::version_of(&admin, svc, "parent").await;
        let (path, body) = set(svc, version);
        let (status, answer) = call(running.addr, "PUT", &path, Some(&body), Some(&global)).await;
        assert_eq!(status, 200, "{svc}: {answer}");
    }
}

#[tokio::test]
async fn a_removed_account_is_refused_at_once_by_every_server() {
    // Two servers, each with its own ZooKeeper session.
    let (first_admin, second_admin) = (admin().await, admin().await);
    let svc = service();
    fixture(&first_admin, &svc).await;
    let first = server(&first_admin, Some(ADMIN_TOKEN), false).await;
    let second = server(&second_admin, Some(ADMIN_TOKEN), true).await;
    let read = format!("/api/v1/services/{svc}/config/parent");
    for round in 0..20 {
        let name = unique_name("removed");
        let token = add_account(
            first.addr,
            &name,
            json!([{"role": "viewer", "service": svc.as_str()}]),
        )
        .await;
        let (status, answer) = call(second.addr, "GET", &read, None, Some(&token)).await;
        assert_eq!(status, 200, "round {round}: {answer}");
        let (status, answer) = call(
            first.addr,
            "DELETE",
            &format!("/api/v1/accounts/{name}"),
            None,
            Some(ADMIN_TOKEN),
        )
        .await;
        assert_eq!(status, 200, "round {round}: {answer}");
        for running in [&second, &first] {
            let (status, answer) = call(running.addr, "GET", &read, None, Some(&token)).await;
            assert_eq!(status, 401, "round {round}: {answer}");
            assert!(
                answer["error"].as_str().unwrap().contains("was removed"),
                "{answer}"
            );
        }
    }
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let admin = admin().await;
    let running = server(&admin, Some(ADMIN_TOKEN), false).await;
    let name = unique_name("hashed");
    let token = add_account(running.addr, &name, json!([{"role": "viewer"}])).await;
    assert!(token.starts_with(&format!("jones_{name}_")), "{token}");
    let secret = token.rsplit('_').next().unwrap();
    let path = format!("/jones/accounts/{name}");
    let client = admin.zk().client().await.unwrap();
    let (data, _) = client.get_data(&path).await.unwrap();
    let stored = String::from_utf8(data.clone()).unwrap();
    assert!(
        !stored.contains(&token) && !stored.contains(secret),
        "{stored}"
    );
    let record: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(record["name"], name.as_str());
    assert_eq!(record["token_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        record["grants"],
        json!([{"role": "viewer", "service": null}])
    );
    // Nobody but the servers reads it, nor lists the accounts.
    let anonymous = zookeeper_client::Client::connect(&zookeeper().connect_string())
        .await
        .unwrap();
    assert_eq!(
        anonymous.get_data(&path).await.unwrap_err(),
        zookeeper_client::Error::NoAuth
    );
    assert_eq!(
        anonymous
            .list_children("/jones/accounts")
            .await
            .unwrap_err(),
        zookeeper_client::Error::NoAuth
    );
    // The list shows no hash and no token.
    let (status, listed) = call(
        running.addr,
        "GET",
        "/api/v1/accounts",
        None,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    let mine = listed["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} in {listed}"));
    assert_eq!(mine["grants"], json!([{"role": "viewer", "service": null}]));
    assert!(mine["created"].as_str().unwrap().ends_with('Z'));
    let text = listed.to_string();
    assert!(!text.contains("sha256") && !text.contains(secret), "{text}");
}

#[tokio::test]
async fn garbage_is_refused_and_nothing_is_stored() {
    let admin = admin().await;
    let mut options = HttpOptions::default();
    options.max_body_bytes = 4096;
    let running = serve_with_options(&admin, Some(ADMIN_TOKEN), options).await;
    let name = unique_name("garbage");
    let long = "a".repeat(65);
    let oversized =
        json!({"name": name, "grants": [{"role": "viewer", "service": "x".repeat(5000)}]})
            .to_string();
    let cases: Vec<(String, u16, &str)> = vec![
        (
            json!({"name": "Bad Name", "grants": [{"role": "viewer"}]}).to_string(),
            400,
            "account name",
        ),
        (
            json!({"name": "", "grants": [{"role": "viewer"}]}).to_string(),
            400,
            "is empty",
        ),
        (
            json!({"name": long, "grants": [{"role": "viewer"}]}).to_string(),
            400,
            "longer than 64",
        ),
        (
            json!({"name": 7, "grants": [{"role": "viewer"}]}).to_string(),
            400,
            "must be a string",
        ),
        (
            json!({"grants": [{"role": "viewer"}]}).to_string(),
            400,
            "needs `name`",
        ),
        (
            json!({"name": name, "grants": [{"role": "owner"}]}).to_string(),
            400,
            "unknown role \"owner\"",
        ),
        (
            json!({"name": name, "grants": []}).to_string(),
            400,
            "empty",
        ),
        (json!({"name": name}).to_string(), 400, "needs `grants`"),
        (
            json!({"name": name, "grants": "admin"}).to_string(),
            400,
            "must be an array",
        ),
        (
            json!({"name": name, "grants": [{"role": "viewer", "service": "a/b"}]}).to_string(),
            400,
            "/",
        ),
        (
            json!({"name": name, "grants": [{"role": "viewer"}], "token": "mine"}).to_string(),
            400,
            "unknown field `token`",
        ),
        ("{not json".to_owned(), 400, "not valid JSON"),
        ("[1]".to_owned(), 400, "JSON object"),
        (oversized, 413, "over the limit"),
    ];
    for (body, status, says) in &cases {
        let (got, answer) = call(
            running.addr,
            "POST",
            "/api/v1/accounts",
            Some(body),
            Some(ADMIN_TOKEN),
        )
        .await;
        assert_eq!(got, *status, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
    }
    let client = admin.zk().client().await.unwrap();
    assert_eq!(
        client
            .get_data(&format!("/jones/accounts/{name}"))
            .await
            .unwrap_err(),
        zookeeper_client::Error::NoNode,
        "nothing stored"
    );
    // An account of that name can still be made, once.
    let body = json!({"name": name, "grants": [{"role": "viewer"}]}).to_string();
    let (status, _) = call(
        running.addr,
        "POST",
        "/api/v1/accounts",
        Some(&body),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 201);
    let (status, answer) = call(
        running.addr,
        "POST",
        "/api/v1/accounts",
        Some(&body),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(answer["kind"], "account_exists");
    let (status, answer) = call(
        running.addr,
        "DELETE",
        "/api/v1/accounts/Bad%20Name",
        None,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = call(
        running.addr,
        "DELETE",
        &format!("/api/v1/accounts/{}", unique_name("absent")),
        None,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(answer["kind"], "account_not_found");
}

#[tokio::test]
async fn a_garbled_account_znode_is_named_and_can_be_removed() {
    let admin = admin().await;
    let running = server(&admin, Some(ADMIN_TOKEN), false).await;
    let name = unique_name("garbled");
    let token = add_account(running.addr, &name, json!([{"role": "viewer"}])).await;
    let path = format!("/jones/accounts/{name}");
    let client = admin.zk().client().await.unwrap();
    client.set_data(&path, b"{\"name\": 3", None).await.unwrap();
    let (status, answer) = call(running.addr, "GET", "/api/v1/services", None, Some(&token)).await;
    assert_eq!(status, 500, "{answer}");
    assert_eq!(answer["kind"], "corrupt");
    assert!(
        answer["error"].as_str().unwrap().contains(&path),
        "{answer}"
    );
    let (status, listed) = call(
        running.addr,
        "GET",
        "/api/v1/accounts",
        None,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let entry = listed["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name.as_str())
        .unwrap()
        .clone();
    assert!(
        entry["problem"].as_str().unwrap().contains(&path),
        "{entry}"
    );
    let (status, _) = call(
        running.addr,
        "DELETE",
        &format!("/api/v1/accounts/{name}"),
        None,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(running.addr, "GET", "/api/v1/services", None, Some(&token)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn changes_made_with_an_account_token_name_the_account() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let name = AccountName::new(&unique_name("author")).unwrap();
    let (_, token) = admin
        .create_account(&name, vec![Grant::on(Role::Editor, svc.clone())])
        .await
        .unwrap();
    for (token_server, label) in [(Some(ADMIN_TOKEN), "strict"), (None, "open")] {
        let running = server(&admin, token_server, false).await;
        let version = crate::harness::version_of(&admin, &svc, "parent").await;
        let body =
            json!({"config": {"a": label}, "version": version, "message": label}).to_string();
        let path = format!("/api/v1/services/{svc}/config/parent");
        let (status, answer) = call(running.addr, "PUT", &path, Some(&body), Some(&token)).await;
        assert_eq!(status, 200, "{label}: {answer}");
        let page = admin.history(&svc, None, 1, None).await.unwrap();
        let entry = &page.entries[0];
        assert_eq!(entry.actor, name.as_str(), "{label}");
        assert_eq!(entry.message.as_deref(), Some(label));
    }
    let running = server(&admin, Some(ADMIN_TOKEN), false).await;
    let version = crate::harness::version_of(&admin, &svc, "parent").await;
    let body = json!({"config": {"a": 0}, "version": version}).to_string();
    let path = format!("/api/v1/services/{svc}/config/parent");
    let (status, _) = call(running.addr, "PUT", &path, Some(&body), Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        admin.history(&svc, None, 1, None).await.unwrap().entries[0].actor,
        "admin"
    );
}

#[tokio::test]
async fn the_editor_signs_in_with_a_cookie() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let running = server(&admin, Some(ADMIN_TOKEN), false).await;
    let name = unique_name("signin");
    let token = add_account(
        running.addr,
        &name,
        json!([{"role": "editor", "service": svc.as_str()}]),
    )
    .await;
    let addr = running.addr;
    let origin = format!("Origin: http://{addr}\r\n");
    let (status, raw) = raw_call(
        addr,
        "POST",
        "/api/v1/session",
        &json!({"token": token}).to_string(),
        &origin,
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let cookie_line = raw
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie: {raw}"));
    for attribute in ["jones_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie_line.contains(attribute), "{cookie_line}");
    }
    assert!(!cookie_line.contains("Secure"), "plain http: {cookie_line}");
    let cookie = format!("Cookie: jones_session={token}\r\n");
    let (status, body) = http_with_headers(addr, "GET", "/api/v1/session", None, &cookie).await;
    assert_eq!(status, 200);
    let session: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(session["account"], name.as_str());
    assert_eq!(
        session["grants"],
        json!([{"role": "editor", "service": svc.as_str()}])
    );
    assert_eq!(session["open"], false);
    // The cookie is a credential for reads and, from the server's own
    // origin, for writes.
    let config = format!("/api/v1/services/{svc}/config/parent");
    let (status, body) = http_with_headers(addr, "GET", &config, None, &cookie).await;
    assert_eq!(status, 200, "{body}");
    let version = crate::harness::version_of(&admin, &svc, "parent").await;
    let write = json!({"config": {"a": 5}, "version": version}).to_string();
    let (status, body) = http_with_headers(
        addr,
        "PUT",
        &config,
        Some(&write),
        &format!("{cookie}{origin}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        admin.history(&svc, None, 1, None).await.unwrap().entries[0].actor,
        name
    );
    let foreign = "Origin: http://evil.example\r\n";
    let (status, body) = http_with_headers(
        addr,
        "PUT",
        &config,
        Some(&write),
        &format!("{cookie}{foreign}"),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("foreign_origin"), "{body}");
    // Signing out clears the cookie; a wrong token signs nobody in.
    let (status, raw) = raw_call(addr, "DELETE", "/api/v1/session", "", &origin).await;
    assert_eq!(status, 200, "{raw}");
    assert!(
        raw.contains("jones_session=;") && raw.contains("Max-Age=0"),
        "{raw}"
    );
    for wrong in [
        format!("jones_{name}_{}", "A".repeat(43)),
        "nonsense".into(),
    ] {
        let (status, raw) = raw_call(
            addr,
            "POST",
            "/api/v1/session",
            &json!({"token": wrong}).to_string(),
            &origin,
        )
        .await;
        assert_eq!(status, 401, "{raw}");
        assert!(!raw.to_ascii_lowercase().contains("set-cookie"), "{raw}");
    }
    let (status, body) = http_with_headers(addr, "GET", "/api/v1/session", None, "").await;
    assert_eq!(status, 200);
    let nobody: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(nobody["account"], Value::Null);
    // Behind an https public URL the cookie is Secure.
    let mut options = HttpOptions::default();
    options
        .public_urls
        .push(jones_server::http::PublicUrl::parse("https://jones.example.com").unwrap());
    let behind = serve_with_options(&admin, Some(ADMIN_TOKEN), options).await;
    let headers = "Host: jones.example.com\r\nOrigin: https://jones.example.com\r\n";
    let (status, raw) = raw_call_host(
        behind.addr,
        "POST",
        "/api/v1/session",
        &json!({"token": token}).to_string(),
        headers,
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    assert!(raw.contains("; Secure"), "{raw}");
}

/// One request with extra `headers`; status and the whole raw response.
async fn raw_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    headers: &str,
) -> (u16, String) {
    raw_call_host(
        addr,
        method,
        path,
        body,
        &format!("Host: {addr}\r\n{headers}"),
    )
    .await
}

/// [`raw_call`] with every header given, `Host` included.
async fn raw_call_host(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    headers: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    (status, text)
}

/// Opens `svc`'s event stream on `addr` with `token` and waits for `ready`.
async fn open_stream_as(
    addr: SocketAddr,
    svc: &ServiceName,
    token: &str,
) -> (tokio::net::TcpStream, String) {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /api/v1/services/{svc}/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    crate::harness::read_until(&mut stream, &mut seen, "event:ready", STREAM_WAIT).await;
    (stream, seen)
}

/// Generous: a watch event on a loaded machine.
const STREAM_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

#[tokio::test]
async fn a_stream_opened_by_a_removed_account_ends() {
    let (first_admin, second_admin) = (admin().await, admin().await);
    let svc = service();
    fixture(&first_admin, &svc).await;
    let first = server(&first_admin, Some(ADMIN_TOKEN), false).await;
    let second = server(&second_admin, Some(ADMIN_TOKEN), false).await;
    let name = unique_name("streamer");
    let token = add_account(
        first.addr,
        &name,
        json!([{"role": "viewer", "service": svc.as_str()}]),
    )
    .await;
    let (mut removed, mut seen) = open_stream_as(second.addr, &svc, &token).await;
    let (mut kept, mut kept_seen) = open_stream_as(second.addr, &svc, ADMIN_TOKEN).await;
    let (status, _) = call(
        first.addr,
        "DELETE",
        &format!("/api/v1/accounts/{name}"),
        None,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    crate::harness::read_until(&mut removed, &mut seen, "event:revoked", STREAM_WAIT).await;
    // The stream has ended: its chunked body is terminated.
    crate::harness::read_until(&mut removed, &mut seen, "\r\n0\r\n\r\n", STREAM_WAIT).await;
    let (status, answer) = call(
        second.addr,
        "GET",
        &format!("/api/v1/services/{svc}/events"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    // A stream of another credential goes on.
    first_admin
        .set_env(
            &svc,
            &crate::harness::env("parent"),
            crate::harness::obj(json!({"a": 99})),
            None,
        )
        .await
        .unwrap();
    crate::harness::read_until(&mut kept, &mut kept_seen, "event:change", STREAM_WAIT).await;
    assert!(!kept_seen.contains("revoked"), "{kept_seen}");
}

#[tokio::test]
async fn two_server_processes_share_accounts_and_removal() {
    use crate::process::ServerProcess;
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let first = ServerProcess::start(&["--admin-token", ADMIN_TOKEN]).await;
    let second = ServerProcess::start(&["--admin-token", ADMIN_TOKEN, "--anonymous-read"]).await;
    let name = unique_name("procs");
    let token = add_account(
        first.addr,
        &name,
        json!([{"role": "editor", "service": svc.as_str()}]),
    )
    .await;
    let path = format!("/api/v1/services/{svc}/config/parent");
    let version = crate::harness::version_of(&admin, &svc, "parent").await;
    let body = json!({"config": {"a": 3}, "version": version}).to_string();
    let (status, answer) = call(second.addr, "PUT", &path, Some(&body), Some(&token)).await;
    assert_eq!(status, 200, "{answer}");
    let (status, _) = call(second.addr, "GET", &path, None, None).await;
    assert_eq!(status, 200, "--anonymous-read");
    let (status, _) = call(first.addr, "GET", &path, None, None).await;
    assert_eq!(status, 401, "no --anonymous-read");
    let (status, _) = call(
        first.addr,
        "DELETE",
        &format!("/api/v1/accounts/{name}"),
        None,
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    let version = crate::harness::version_of(&admin, &svc, "parent").await;
    let body = json!({"config": {"a": 4}, "version": version}).to_string();
    let (status, answer) = call(second.addr, "PUT", &path, Some(&body), Some(&token)).await;
    assert_eq!(status, 401, "{answer}");
    let secret = token.rsplit('_').next().unwrap().to_owned();
    let actor = format!("actor={name}");
    let logs = [
        first.log_holding(&["every request needs a role"]).await,
        second
            .log_holding(&["--anonymous-read: reads need no credential", &actor])
            .await,
    ];
    for log in &logs {
        assert!(
            !log.contains(&secret) && !log.contains(ADMIN_TOKEN),
            "{log}"
        );
    }
    first.kill().await;
    second.kill().await;
}
