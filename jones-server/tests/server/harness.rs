//! Shared helpers: the test ZooKeeper, admins, the original Jones fixture,
//! and a consistency check of a whole service.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jones_client::{Config, EnvPath, ServiceName, parse_config};
use jones_server::{Admin, ZkOptions};
use jones_testkit::{ZooKeeper, unique_name};
use serde_json::Value;

/// The digest credential every test server uses.
pub const CREDENTIAL: &str = "jones:test-secret";

pub fn zookeeper() -> &'static ZooKeeper {
    ZooKeeper::shared()
}

/// An admin on the shared ZooKeeper with the test credential.
pub async fn admin() -> Admin {
    Admin::connect(ZkOptions::new(zookeeper().connect_string()).with_digest(CREDENTIAL))
        .await
        .expect("connect")
}

/// A connect string for a namespace of its own on the shared ZooKeeper (a
/// chroot): a healer connected there sees only the services made there,
/// not those of tests running alongside.
pub async fn isolated_connect() -> String {
    use zookeeper_client::{Acls, CreateMode};
    let root = format!("/{}", unique_name("isolated"));
    let client = zookeeper_client::Client::connect(&zookeeper().connect_string())
        .await
        .unwrap();
    client
        .create(
            &root,
            b"",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
    format!("{}{root}", zookeeper().connect_string())
}

/// An admin on `connect` with the test credential.
pub async fn admin_on(connect: &str) -> Admin {
    Admin::connect(ZkOptions::new(connect).with_digest(CREDENTIAL))
        .await
        .expect("connect")
}

/// How long a graceful shutdown may take in a test: the server's shutdown
/// deadline plus a generous margin for a loaded machine (closing the
/// ZooKeeper session, reaping the process).
pub fn shutdown_bound() -> std::time::Duration {
    jones_server::http::HttpOptions::default().shutdown_deadline + std::time::Duration::from_secs(5)
}

/// A fresh service name.
pub fn service() -> ServiceName {
    ServiceName::new(&unique_name("svc")).unwrap()
}

pub fn obj(v: Value) -> Config {
    v.as_object().expect("an object").clone()
}

pub fn env(s: &str) -> EnvPath {
    EnvPath::new(s).unwrap()
}

/// The version of `e` in `svc`, for a write based on it.
pub async fn version_of(admin: &Admin, svc: &ServiceName, e: &str) -> i64 {
    admin.get_env(svc, &env(e)).await.unwrap().version
}

/// Creates `svc` with the original Jones fixture tree and associations.
pub async fn fixture(admin: &Admin, svc: &ServiceName) {
    use serde_json::json;
    admin.create_service(svc).await.unwrap();
    admin
        .set_env(svc, &env(""), obj(json!({"foo": "bar"})), None)
        .await
        .unwrap();
    for (e, c) in [
        ("parent", json!({"a": 1, "b": [1, 2, 3], "c": {"x": 0}})),
        ("parent/child1", json!({"a": 2})),
        ("parent/child2", json!({"a": 3})),
        ("parent/child2/subchild1", json!({"b": "abc"})),
    ] {
        admin.create_env(svc, &env(e), obj(c)).await.unwrap();
    }
    admin
        .set_association(svc, "127.0.0.1", &env("parent"))
        .await
        .unwrap();
    admin
        .set_association(svc, "127.0.0.2", &env("parent/child1"))
        .await
        .unwrap();
    admin
        .set_association(svc, "127.0.0.3", &env(""))
        .await
        .unwrap();
}

/// One znode as stored: its exact data bytes and the stat fields a
/// rewrite moves, so that a tree compared before and after sees every
/// write, even one that stored the same bytes again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Znode {
    pub data: Vec<u8>,
    /// Data version: moved by every `set`, even of the same bytes.
    pub version: i32,
    /// Children version: moved by every child created or deleted.
    pub cversion: i32,
    /// The zxid that created it: moved by a delete and re-create.
    pub czxid: i64,
    /// The zxid that last changed its data.
    pub mzxid: i64,
}

impl Znode {
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }
}

impl PartialEq<&str> for Znode {
    fn eq(&self, other: &&str) -> bool {
        self.data == other.as_bytes()
    }
}

impl PartialEq<String> for Znode {
    fn eq(&self, other: &String) -> bool {
        self.data == other.as_bytes()
    }
}

/// Every znode of the service, read raw with the server's credential:
/// path → data bytes and versions.
pub async fn snapshot(admin: &Admin, svc: &ServiceName) -> BTreeMap<String, Znode> {
    let client = admin.zk().client().await.unwrap();
    let mut nodes = BTreeMap::new();
    let mut pending = vec![format!("/services/{svc}")];
    while let Some(path) = pending.pop() {
        let (data, stat) = match client.get_data(&path).await {
            Ok(read) => read,
            Err(zookeeper_client::Error::NoNode) => continue,
            Err(e) => panic!("{path}: {e}"),
        };
        match client.list_children(&path).await {
            Ok(children) => pending.extend(children.iter().map(|c| format!("{path}/{c}"))),
            Err(zookeeper_client::Error::NoNode) => continue,
            Err(e) => panic!("{path}: {e}"),
        }
        nodes.insert(
            path,
            Znode {
                data,
                version: stat.version,
                cversion: stat.cversion,
                czxid: stat.czxid,
                mzxid: stat.mzxid,
            },
        );
    }
    nodes
}

/// Asserts every view of `svc` equals the merge of its lineage's confs
/// (in the service's merge mode, restarting at each pinned environment
/// from its pin's view),
/// that every conf has a view and no view lacks a conf, and that no
/// rewrite is pending. Returns the number of environments.
pub async fn assert_consistent(admin: &Admin, svc: &ServiceName) -> usize {
    let nodes = snapshot(admin, svc).await;
    let conf_prefix = format!("/services/{svc}/conf");
    let view_prefix = format!("/services/{svc}/views");
    let confs: BTreeMap<String, Config> = nodes
        .iter()
        .filter_map(|(p, d)| {
            let rest = p.strip_prefix(&conf_prefix)?;
            Some((
                rest.trim_start_matches('/').to_owned(),
                parse_config(d.as_bytes()).unwrap(),
            ))
        })
        .collect();
    let views: BTreeMap<String, Config> = nodes
        .iter()
        .filter_map(|(p, d)| {
            let rest = p.strip_prefix(&view_prefix)?;
            Some((
                rest.trim_start_matches('/').to_owned(),
                parse_config(d.as_bytes()).unwrap(),
            ))
        })
        .collect();
    assert_eq!(
        confs.keys().collect::<Vec<_>>(),
        views.keys().collect::<Vec<_>>(),
        "confs and views name the same environments"
    );
    let merge = admin.merge_mode(svc).await.unwrap();
    let pins: BTreeMap<String, Config> = nodes
        .get(&format!("/services/{svc}/pins"))
        .map(|d| serde_json::from_slice::<BTreeMap<String, Value>>(d.as_bytes()).unwrap())
        .unwrap_or_default()
        .into_iter()
        .map(|(e, pin)| (e, pin["view"].as_object().unwrap().clone()))
        .collect();
    for (e, view) in &views {
        let mut expected = Config::new();
        for l in env(e).lineage() {
            match pins.get(l.as_str()) {
                Some(pinned) => expected = pinned.clone(),
                None => expected = merge.merge_view([&expected, &confs[l.as_str()]]),
            }
        }
        assert_eq!(view, &expected, "{merge} view of {e:?}");
    }
    assert!(
        !nodes.contains_key(&format!("/services/{svc}/jones-pending")),
        "no rewrite pending"
    );
    confs.len()
}

/// The view of `e` as stored.
pub async fn view(admin: &Admin, svc: &ServiceName, e: &str) -> Value {
    Value::Object(admin.get_env(svc, &env(e)).await.unwrap().view)
}

/// The server's routes over `admin`, with an optional admin token.
pub fn routes(
    admin: &Admin,
    token: Option<&str>,
) -> impl warp::Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible>
+ Clone
+ 'static {
    jones_server::http::routes(jones_server::http::ServerState::new(
        admin.clone(),
        token.map(str::to_owned),
    ))
}

/// A response's status and JSON body.
pub fn json_of(response: &warp::http::Response<bytes::Bytes>) -> (u16, Value) {
    let body = serde_json::from_slice(response.body()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(response.body())
        )
    });
    (response.status().as_u16(), body)
}

/// A running server on a real loopback socket; stops on drop of `stop`.
pub struct RunningServer {
    pub addr: std::net::SocketAddr,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
}

pub async fn serve_on_socket(admin: &Admin, token: Option<&str>) -> RunningServer {
    serve_with_options(admin, token, jones_server::http::HttpOptions::default()).await
}

/// [`serve_on_socket`] with `options`.
pub async fn serve_with_options(
    admin: &Admin,
    token: Option<&str>,
    options: jones_server::http::HttpOptions,
) -> RunningServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = jones_server::http::ServerState::with_options(
        admin.clone(),
        token.map(str::to_owned),
        options,
    );
    let task = tokio::spawn(jones_server::http::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    RunningServer {
        addr,
        stop: Some(stop),
        task,
    }
}

/// One HTTP/1.1 request over a fresh connection; returns status and body
/// (the body de-chunked when needed).
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    http_with_headers(addr, method, path, body, "").await
}

/// [`http`] with `Authorization: Bearer {token}`.
pub async fn http_with_token(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: &str,
) -> (u16, String) {
    let auth = format!("Authorization: Bearer {token}\r\n");
    http_with_headers(addr, method, path, body, &auth).await
}

/// [`http`] with `headers` (complete lines, each ending in CRLF).
pub async fn http_with_headers(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, body)
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

/// Reads `stream` into `seen` until it holds `needle`; panics after `deadline`.
pub async fn read_until(
    stream: &mut tokio::net::TcpStream,
    seen: &mut String,
    needle: &str,
    deadline: std::time::Duration,
) {
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(deadline, async {
        let mut buf = [0u8; 4096];
        while !seen.contains(needle) {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "stream closed before {needle:?}: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} within {deadline:?}: {seen}"));
}

/// Opens an event stream of `svc` and waits for its `ready` event; returns
/// the stream and what it sent so far.
pub async fn open_stream(
    addr: std::net::SocketAddr,
    svc: impl std::fmt::Display,
) -> (tokio::net::TcpStream, String) {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /api/v1/services/{svc}/events HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut seen = String::new();
    read_until(
        &mut stream,
        &mut seen,
        "event:ready",
        std::time::Duration::from_secs(20),
    )
    .await;
    (stream, seen)
}

/// The value of metric `name` in the server's `/metrics`.
pub async fn metric(addr: std::net::SocketAddr, name: &str) -> u64 {
    let (status, text) = http(addr, "GET", "/metrics", None).await;
    assert_eq!(status, 200, "{text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// Asserts `svc`'s tree is byte-identical to `before`, with every znode at
/// the same versions (nothing rewritten), naming the znodes that differ
/// (not their possibly huge data).
pub async fn assert_unchanged(admin: &Admin, svc: &ServiceName, before: &BTreeMap<String, Znode>) {
    let after = snapshot(admin, svc).await;
    let differ: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|p| before.get(*p) != after.get(*p))
        .collect();
    assert!(differ.is_empty(), "the tree changed at {differ:?}");
}

/// Every znode at and below `path` (none when `path` is missing), listed by
/// an anonymous ZooKeeper client.
pub async fn znodes_under(path: &str) -> Vec<String> {
    znodes_under_on(&zookeeper().connect_string(), path).await
}

/// [`znodes_under`] on `connect` (e.g. a namespace of the test's own).
pub async fn znodes_under_on(connect: &str, path: &str) -> Vec<String> {
    let client = zookeeper_client::Client::connect(connect).await.unwrap();
    let mut all = Vec::new();
    let mut pending = vec![path.to_owned()];
    while let Some(p) = pending.pop() {
        match client.list_children(&p).await {
            Ok(children) => {
                pending.extend(children.iter().map(|c| format!("{p}/{c}")));
                all.push(p);
            }
            Err(zookeeper_client::Error::NoNode) => {}
            Err(e) => panic!("{p}: {e}"),
        }
    }
    all
}

/// The association index of `svc` as stored: the directory's state
/// (`None` without a directory) and every entry, znode name → the view it
/// holds (its raw data when it does not parse), read with the server's
/// credential.
pub async fn stored_index(
    admin: &Admin,
    svc: &ServiceName,
) -> (Option<jones_client::IndexState>, BTreeMap<String, String>) {
    let client = admin.zk().client().await.unwrap();
    let layout = jones_client::ServiceLayout::new(svc.clone());
    let dir = layout.associations_path();
    let state = match client.get_data(dir).await {
        Ok((data, _)) => Some(jones_client::IndexState::parse(&data).expect("a state")),
        Err(zookeeper_client::Error::NoNode) => return (None, BTreeMap::new()),
        Err(e) => panic!("{dir}: {e}"),
    };
    let children = client.list_children(dir).await.unwrap();
    let paths: Vec<String> = children.iter().map(|c| format!("{dir}/{c}")).collect();
    let datas = futures_util::future::join_all(paths.iter().map(|p| client.get_data(p))).await;
    let entries = children
        .into_iter()
        .zip(datas)
        .map(|(c, read)| {
            let (data, _) = read.unwrap();
            let view = match jones_client::AssociationRecord::parse(&data) {
                Ok(record) => record.view,
                Err(_) => String::from_utf8_lossy(&data).into_owned(),
            };
            (c, view)
        })
        .collect();
    (state, entries)
}

/// Asserts `svc`'s association index is complete and holds exactly its
/// nodemap: one znode per association whose name encodes to one, each
/// with the nodemap's view path.
pub async fn assert_index_matches(admin: &Admin, svc: &ServiceName) {
    let client = admin.zk().client().await.unwrap();
    let layout = jones_client::ServiceLayout::new(svc.clone());
    let (data, _) = client.get_data(layout.nodemap_path()).await.unwrap();
    let nodemap = jones_client::Nodemap::parse(&data).unwrap();
    let wanted: BTreeMap<String, String> = nodemap
        .iter()
        .filter(|(name, _)| !name.is_empty())
        .map(|(name, view)| (jones_client::association_znode_name(name), view.to_owned()))
        .collect();
    let (state, entries) = stored_index(admin, svc).await;
    assert_eq!(
        state,
        Some(jones_client::IndexState::complete()),
        "the index of {svc} is complete"
    );
    if entries != wanted {
        let differ: Vec<&String> = wanted
            .keys()
            .chain(entries.keys())
            .filter(|k| wanted.get(*k) != entries.get(*k))
            .take(10)
            .collect();
        panic!("the index of {svc} differs from its nodemap at {differ:?}");
    }
}

/// Creates `svc` on `connect` as original Jones writes it (no association
/// index, no client registry, every znode open to anyone): root conf and
/// view `root`, each environment of `envs` with its conf and view
/// `config`, and the nodemap `nodemap` as given.
pub async fn original_service(
    connect: &str,
    svc: &ServiceName,
    root: &Value,
    envs: &[(&str, Value)],
    nodemap: &[u8],
) {
    use zookeeper_client::{Acls, CreateMode};
    let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let raw = zookeeper_client::Client::connect(connect).await.unwrap();
    match raw.create("/services", b"", &open).await {
        Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
        Err(e) => panic!("/services: {e}"),
    }
    let root_data = root.to_string();
    let mut nodes = vec![
        (format!("/services/{svc}"), String::new()),
        (format!("/services/{svc}/conf"), root_data.clone()),
        (format!("/services/{svc}/views"), root_data),
    ];
    for (e, config) in envs {
        let mut view = root.as_object().unwrap().clone();
        view.extend(config.as_object().unwrap().clone());
        nodes.push((format!("/services/{svc}/conf/{e}"), config.to_string()));
        nodes.push((
            format!("/services/{svc}/views/{e}"),
            Value::Object(view).to_string(),
        ));
    }
    for (path, data) in nodes {
        raw.create(&path, data.as_bytes(), &open).await.unwrap();
    }
    raw.create(&format!("/services/{svc}/nodemaps"), nodemap, &open)
        .await
        .unwrap();
}

/// Waits until `svc` verifies consistent, at most `within`.
pub async fn healed_within(
    admin: &jones_server::Admin,
    svc: &jones_client::ServiceName,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let found = admin.verify(svc).await.unwrap();
        if found.consistent {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not healed within {within:?}: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
