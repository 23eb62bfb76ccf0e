//! The client registry: `GET .../clients` and the `clients` event, with
//! clients simulated by ephemeral-sequential znodes from sessions of their
//! own; and event streams staying O(1) ZooKeeper work per change whatever
//! the number of editors.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use jones_client::{ClientRecord, ServiceLayout, ServiceName};
use jones_server::Admin;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::harness::{
    admin, env, http, metric, obj, open_stream, read_until, serve_on_socket, service, zookeeper,
};

const WAIT: Duration = Duration::from_secs(20);

/// Creates the registry directory open to clients (unless it exists).
async fn registry_dir(admin: &Admin, svc: &ServiceName) {
    let client = admin.zk().client().await.unwrap();
    let path = ServiceLayout::new(svc.clone()).clients_path().to_owned();
    match client
        .create(
            &path,
            b"",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
    {
        Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
        Err(e) => panic!("{path}: {e}"),
    }
}

/// Removes the registry directory, if any.
async fn no_registry_dir(admin: &Admin, svc: &ServiceName) {
    let client = admin.zk().client().await.unwrap();
    let path = ServiceLayout::new(svc.clone()).clients_path().to_owned();
    match client.delete(&path, None).await {
        Ok(()) | Err(zookeeper_client::Error::NoNode) => {}
        Err(e) => panic!("{path}: {e}"),
    }
}

/// The current revision (mzxid) of `e`'s view.
async fn view_revision(admin: &Admin, svc: &ServiceName, e: &str) -> i64 {
    let client = admin.zk().client().await.unwrap();
    let path = ServiceLayout::new(svc.clone()).view_path(&env(e));
    client.get_data(&path).await.unwrap().1.mzxid
}

fn record(svc: &ServiceName, association: &str, e: &str, revision: Option<i64>) -> ClientRecord {
    ClientRecord {
        association: association.into(),
        view: ServiceLayout::new(svc.clone()).view_path(&env(e)),
        revision,
        applied_ms: revision.map(|_| 1),
        started_ms: 1,
        client: "jones-client/test".into(),
        host: format!("{association}.example"),
        pid: 4242,
    }
}

/// A simulated client: a session of its own and its registration znode.
struct Registered {
    client: Client,
    path: String,
}

impl Registered {
    fn id(&self) -> &str {
        self.path.rsplit('/').next().unwrap()
    }

    async fn update(&self, data: &[u8]) {
        self.client.set_data(&self.path, data, None).await.unwrap();
    }
}

async fn register_data(svc: &ServiceName, data: &[u8]) -> Registered {
    let client = Client::connect(&zookeeper().connect_string())
        .await
        .unwrap();
    let prefix = format!("{}/c", ServiceLayout::new(svc.clone()).clients_path());
    let (_, sequence) = client
        .create(
            &prefix,
            data,
            &CreateMode::EphemeralSequential.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
    Registered {
        client,
        path: format!("{prefix}{sequence}"),
    }
}

async fn register(svc: &ServiceName, record: &ClientRecord) -> Registered {
    register_data(svc, &record.to_bytes()).await
}

async fn clients(addr: SocketAddr, svc: &ServiceName) -> Value {
    let (status, body) = http(
        addr,
        "GET",
        &format!("/api/v1/services/{svc}/clients"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Polls `GET .../clients` until `ok` holds; panics with the last answer.
async fn clients_until(addr: SocketAddr, svc: &ServiceName, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let report = clients(addr, svc).await;
        if ok(&report) {
            return report;
        }
        assert!(Instant::now() < deadline, "never reached: {report:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn env_report<'a>(report: &'a Value, e: &str) -> Option<&'a Value> {
    report["environments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["env"] == e)
}

async fn wait_for_metric(addr: SocketAddr, name: &str, ok: impl Fn(u64) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = metric(addr, name).await;
        if ok(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{name} stays at {value}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A service with environment `prod` and an open registry.
async fn service_with_registry(admin: &Admin) -> ServiceName {
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .create_env(&svc, &env("prod"), obj(json!({"v": 0})))
        .await
        .unwrap();
    registry_dir(admin, &svc).await;
    svc
}

/// Registration, a new revision, clients catching up, a session closing:
/// the report follows, from the live picture while a stream is open and
/// from a one-shot read after.
#[tokio::test]
async fn the_report_follows_registrations_revisions_and_sessions() {
    let admin = admin().await;
    let svc = service_with_registry(&admin).await;
    let server = serve_on_socket(&admin, None).await;
    let addr = server.addr;
    let (mut stream, mut seen) = open_stream(addr, &svc).await;
    let first = view_revision(&admin, &svc, "prod").await;
    let a = register(&svc, &record(&svc, "web-01", "prod", Some(first))).await;
    let b = register(&svc, &record(&svc, "web-02", "prod", Some(first))).await;
    let report = clients_until(addr, &svc, |r| r["clients"] == 2).await;
    let prod = env_report(&report, "prod").unwrap();
    assert_eq!(prod["view_revision"], first);
    assert_eq!(prod["applied"], 2, "{report:#}");
    assert_eq!(prod["revisions"], json!({first.to_string(): 2}));
    read_until(&mut stream, &mut seen, "event:clients", WAIT).await;

    // A new revision: both are behind, with the lag since it was written.
    admin
        .set_env(&svc, &env("prod"), obj(json!({"v": 1})), None)
        .await
        .unwrap();
    let second = view_revision(&admin, &svc, "prod").await;
    let report = clients_until(addr, &svc, |r| {
        env_report(r, "prod").is_some_and(|p| p["view_revision"] == second)
    })
    .await;
    let prod = env_report(&report, "prod").unwrap();
    assert_eq!(prod["applied"], 0, "{report:#}");
    assert_eq!(prod["behind"].as_array().unwrap().len(), 2);

    // One catches up; the other is listed with its lag.
    a.update(&record(&svc, "web-01", "prod", Some(second)).to_bytes())
        .await;
    let report = clients_until(addr, &svc, |r| {
        env_report(r, "prod").unwrap()["applied"] == 1
    })
    .await;
    let prod = env_report(&report, "prod").unwrap();
    assert_eq!(
        prod["revisions"],
        json!({first.to_string(): 1, second.to_string(): 1})
    );
    let behind = prod["behind"].as_array().unwrap();
    assert_eq!(behind.len(), 1, "{report:#}");
    assert_eq!(behind[0]["id"], b.id());
    assert_eq!(behind[0]["association"], "web-02");
    assert_eq!(behind[0]["host"], "web-02.example");
    assert_eq!(behind[0]["revision"], first);
    assert!(behind[0]["lag_ms"].as_i64().unwrap() >= 0, "{report:#}");
    // The stream told of it too.
    read_until(&mut stream, &mut seen, &format!(r#""{second}":1"#), WAIT).await;

    // A session that closes leaves the registry.
    drop(b);
    let report = clients_until(addr, &svc, |r| r["clients"] == 1).await;
    let prod = env_report(&report, "prod").unwrap();
    assert_eq!(prod["applied"], 1);
    assert_eq!(prod["behind"], json!([]));

    // Without a stream (no live picture) a one-shot read says the same.
    drop(stream);
    wait_for_metric(addr, "jones_event_watches", |n| n == 0).await;
    let full_reads = metric(addr, "jones_registry_full_reads_total").await;
    assert_eq!(clients(addr, &svc).await, report);
    assert_eq!(
        metric(addr, "jones_registry_full_reads_total").await,
        full_reads + 1
    );
    drop(a);
}

/// A service without a `clients` directory has no clients, and one created
/// later is followed by a running picture.
#[tokio::test]
async fn a_service_without_a_registry_has_no_clients() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    no_registry_dir(&admin, &svc).await;
    let server = serve_on_socket(&admin, None).await;
    let addr = server.addr;
    let empty = json!({"service": svc.as_str(), "clients": 0, "environments": [], "invalid": 0, "invalid_records": []});
    assert_eq!(clients(addr, &svc).await, empty);
    let (_stream, _) = open_stream(addr, &svc).await;
    assert_eq!(clients(addr, &svc).await, empty);
    registry_dir(&admin, &svc).await;
    let revision = view_revision(&admin, &svc, "").await;
    let _c = register(&svc, &record(&svc, "web-01", "", Some(revision))).await;
    let report = clients_until(addr, &svc, |r| r["clients"] == 1).await;
    assert_eq!(env_report(&report, "").unwrap()["applied"], 1);
    // A missing service is 404, like every other route.
    let (status, body) = http(addr, "GET", "/api/v1/services/no-such-svc/clients", None).await;
    assert_eq!(status, 404, "{body}");
}

/// A registration that is not a record is skipped and counted, live and
/// one-shot, never a 500.
#[tokio::test]
async fn a_garbage_registration_is_reported_not_fatal() {
    let admin = admin().await;
    let svc = service_with_registry(&admin).await;
    let server = serve_on_socket(&admin, None).await;
    let addr = server.addr;
    let revision = view_revision(&admin, &svc, "prod").await;
    let good = register(&svc, &record(&svc, "web-01", "prod", Some(revision))).await;
    let bad = register_data(&svc, b"{\"not\": \"a record\"").await;
    let check = |r: &Value| {
        assert_eq!(r["clients"], 1, "{r:#}");
        assert_eq!(r["invalid"], 1, "{r:#}");
        assert_eq!(r["invalid_records"][0]["id"], bad.id());
        assert_eq!(env_report(r, "prod").unwrap()["applied"], 1, "{r:#}");
    };
    check(&clients(addr, &svc).await);
    let (_stream, _) = open_stream(addr, &svc).await;
    // Live: a record turning into garbage and back.
    good.update(b"garbage").await;
    let r = clients_until(addr, &svc, |r| r["invalid"] == 2).await;
    assert_eq!(r["clients"], 0);
    good.update(&record(&svc, "web-01", "prod", Some(revision)).to_bytes())
        .await;
    check(&clients_until(addr, &svc, |r| r["invalid"] == 1).await);
}

/// Reads what `stream` has received until it holds `needle`, in `seen`.
async fn drain_until(stream: &mut TcpStream, seen: &mut String, needle: &str) {
    read_until(stream, seen, needle, WAIT).await;
}

/// What one round of writes cost the serving server.
#[derive(Debug)]
struct Round {
    registry_reads: u64,
    conf_reads: u64,
}

/// `subscribers` streams on a service with one simulated client: 100
/// registry writes, then one conf change made by another server; the
/// serving server's ZooKeeper requests for each.
async fn round(subscribers: usize) -> Round {
    let admin = admin().await;
    let writer = crate::harness::admin().await;
    let svc = service_with_registry(&admin).await;
    let server = serve_on_socket(&admin, None).await;
    let addr = server.addr;
    let revision = view_revision(&admin, &svc, "prod").await;
    let client = register(&svc, &record(&svc, "web-01", "prod", Some(revision))).await;
    let mut streams = Vec::new();
    for _ in 0..subscribers {
        streams.push(open_stream(addr, &svc).await);
    }
    // Every stream sees a registry change: the picture is live.
    client
        .update(&record(&svc, "web-01", "prod", Some(1)).to_bytes())
        .await;
    for (stream, seen) in &mut streams {
        drain_until(stream, seen, r#"{"1":1}"#).await;
        seen.clear();
    }

    let before = admin.zk().counts();
    let started = Instant::now();
    for i in 1..=100 {
        client
            .update(&record(&svc, "web-01", "prod", Some(7000 + i)).to_bytes())
            .await;
    }
    for (stream, seen) in &mut streams {
        drain_until(stream, seen, r#"{"7100":1}"#).await;
    }
    let elapsed = started.elapsed();
    let registry_reads = admin.zk().counts().since(before).requests;
    for (_, seen) in &streams {
        assert!(
            !seen.contains("event:change"),
            "registry writes reached a stream as changes: {seen}"
        );
        // Coalesced: the first at once, then one per 250 ms at most.
        let events = seen.matches("event:clients").count() as u128;
        assert!(
            events <= elapsed.as_millis() / 250 + 2,
            "{events} clients events in {elapsed:?}"
        );
    }

    // Index writes (with a nodemap change) reach streams only as the nodemap.
    writer
        .set_association(&svc, "web-01", &env("prod"))
        .await
        .unwrap();
    for (stream, seen) in &mut streams {
        drain_until(stream, seen, r#""kind":"nodemap""#).await;
        assert!(!seen.contains(r#""kind":"associations""#), "{seen}");
        assert!(!seen.contains("/associations/"), "{seen}");
        seen.clear();
    }

    // A conf change made elsewhere: the followed view's stat is read once.
    let before = admin.zk().counts();
    writer
        .set_env(&svc, &env("prod"), obj(json!({"v": 2})), None)
        .await
        .unwrap();
    let changed = view_revision(&admin, &svc, "prod").await;
    for (stream, seen) in &mut streams {
        drain_until(stream, seen, &format!(r#""view_revision":{changed}"#)).await;
    }
    let conf_reads = admin.zk().counts().since(before).requests;
    drop(streams);
    drop(client);
    Round {
        registry_reads,
        conf_reads,
    }
}

#[tokio::test]
async fn streams_stay_one_read_per_change_whatever_the_number_of_subscribers() {
    let one = round(1).await;
    let twenty = round(20).await;
    eprintln!("1 subscriber: {one:?}; 20 subscribers: {twenty:?}");
    for r in [&one, &twenty] {
        // One read per registry write at most (fewer when writes coalesce),
        // and one view stat for the conf change: nothing per subscriber.
        assert!(r.registry_reads <= 100, "{r:?}");
        assert!(r.conf_reads <= 1, "{r:?}");
    }
    // The work does not grow with the subscribers.
    assert!(twenty.registry_reads <= 100 && twenty.conf_reads <= one.conf_reads.max(1));
}

/// Times `GET .../clients` over 10,000 registrations (run by hand:
/// `cargo test -p jones-server --test server registry::ten_thousand -- --ignored --nocapture`).
#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn ten_thousand_registrations_answer_time() {
    let admin = admin().await;
    let svc = service_with_registry(&admin).await;
    let server = serve_on_socket(&admin, None).await;
    let addr = server.addr;
    let revision = view_revision(&admin, &svc, "prod").await;
    let sessions: Vec<Client> = {
        let mut v = Vec::new();
        for _ in 0..8 {
            v.push(
                Client::connect(&zookeeper().connect_string())
                    .await
                    .unwrap(),
            );
        }
        v
    };
    let prefix = format!("{}/c", ServiceLayout::new(svc.clone()).clients_path());
    let options = CreateMode::EphemeralSequential.with_acls(Acls::anyone_all());
    let creates = (0..10_000).map(|i| {
        let session = &sessions[i % sessions.len()];
        let rev = if i % 10 == 0 { revision - 1 } else { revision };
        let data = record(&svc, &format!("web-{i:05}"), "prod", Some(rev)).to_bytes();
        let prefix = prefix.clone();
        let options = &options;
        async move { session.create(&prefix, &data, options).await.unwrap() }
    });
    futures_util::future::join_all(creates).await;
    let time_gets = async |labels: [&str; 2]| {
        for label in labels {
            let started = Instant::now();
            let report = clients(addr, &svc).await;
            eprintln!(
                "GET clients, {label}: {:?} ({} clients)",
                started.elapsed(),
                report["clients"]
            );
        }
    };
    time_gets(["one-shot", "one-shot again"]).await;
    let (mut stream, mut seen) = open_stream(addr, &svc).await;
    read_until(&mut stream, &mut seen, "event:clients", WAIT).await;
    time_gets(["live", "live again"]).await;
    let _ = stream.read(&mut [0u8; 1]).await;
}
