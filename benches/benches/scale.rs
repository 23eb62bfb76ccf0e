//! Benchmark `scale`: one service read by 10,000 live clients.
//!
//! For each deployment — one standalone ZooKeeper, then the test kit's
//! 3-node ensemble — and each design — `nodemap` (the baseline: every
//! client watches the service's one nodemap, as before the association
//! index, and as original Jones trees are still followed) and `index` (each
//! client watches its own association's znode) — it starts N clients in this
//! process (N = `JONES_SCALE_CLIENTS`, default 10,000), each with its own
//! session and association `h{i}` spread over ten environments, and
//! measures:
//!
//! - client memory: growth of this process's resident set per client;
//! - re-pointing one host: clients woken (watch events) and bytes read by
//!   all clients until the fleet is quiet again;
//! - a root change: time until every client applied it, and the p50/p99/max
//!   of the per-client delay from the write; the registry writes it caused;
//! - the server's `GET /api/v1/services/{svc}/clients` answer time;
//! - a ZooKeeper restart (standalone) or a leader kill (ensemble): reads per
//!   client until every client is connected again and serves the latest
//!   revision, and the time that took.
//!
//! The baseline tree is written as original Jones writes it (no index; a
//! re-point rewrites only the nodemap), the indexed one by the server. The
//! ZooKeeper nodes get a 3 GiB heap and no per-address connection cap.
//!
//! Each case runs in a fresh process of this binary. Prints a table, then
//! one JSON line of the figures.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jones_client::{Config, EnvPath, JonesClient, Nodemap, ServiceLayout, ServiceName};
use jones_server::{Admin, ZkOptions};
use jones_testkit::{Ensemble, unique_name};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zookeeper_client::Client;

const DEFAULT_CLIENTS: usize = 10_000;
const ENVS: usize = 10;
const HEAP_MB: u32 = 3072;
/// Clients started at once; the next wave waits until these are ready.
const WAVE: usize = 500;
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the fleet must stay without reads to count as quiet.
const QUIET: Duration = Duration::from_secs(2);
/// A phase not done within this fails the run.
const PHASE_LIMIT: Duration = Duration::from_secs(180);
/// The clients' registry report interval (the library default).
const REPORT_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq)]
enum Design {
    Nodemap,
    Index,
}

impl Design {
    fn name(self) -> &'static str {
        match self {
            Design::Nodemap => "nodemap",
            Design::Index => "index",
        }
    }
}

/// The figures of one (deployment, design) run.
struct Figures {
    deployment: &'static str,
    design: Design,
    clients: usize,
    start_s: f64,
    memory_kib_per_client: f64,
    repoint_woken: u64,
    repoint_bytes: u64,
    root_p50_ms: f64,
    root_p99_ms: f64,
    root_max_ms: f64,
    registry_writes_per_change: u64,
    clients_answer_ms: f64,
    outage: &'static str,
    outage_reads_per_client: f64,
    outage_converge_ms: f64,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn resident_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() => {
            eprintln!("open-file limit: {hard}");
        }
        _ => eprintln!("cannot raise the open-file limit; more clients than it allows will fail"),
    }
}

/// The live fleet of one run, and when each client saw the awaited stamp.
struct Fleet {
    clients: Vec<JonesClient>,
    base: Instant,
    target: Arc<AtomicI64>,
    seen_ns: Arc<Vec<AtomicU64>>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

impl Fleet {
    async fn start(connect: &[String], service: &str, n: usize) -> Self {
        let base = Instant::now();
        let target = Arc::new(AtomicI64::new(-1));
        let seen_ns: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
        let mut clients = Vec::with_capacity(n);
        let mut watchers = Vec::with_capacity(n);
        for wave in (0..n).collect::<Vec<_>>().chunks(WAVE) {
            for &i in wave {
                let client = JonesClient::builder(service)
                    .zk(&connect[i % connect.len()])
                    .association(&format!("h{i}"))
                    .session_timeout(SESSION_TIMEOUT)
                    .report_interval(REPORT_INTERVAL)
                    .start()
                    .expect("client settings");
                let mut changes = client.subscribe();
                let (target, seen_ns) = (target.clone(), seen_ns.clone());
                watchers.push(tokio::spawn(async move {
                    while changes.changed().await.is_ok() {
                        let stamp = changes
                            .borrow_and_update()
                            .config
                            .get("stamp")
                            .and_then(Value::as_i64);
                        if stamp.is_some() && stamp == Some(target.load(Ordering::Acquire)) {
                            let at = base.elapsed().as_nanos() as u64;
                            let _ = seen_ns[i].compare_exchange(
                                0,
                                at,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            );
                        }
                    }
                }));
                clients.push(client);
            }
            for &i in wave {
                clients[i]
                    .wait_ready(PHASE_LIMIT)
                    .await
                    .unwrap_or_else(|e| panic!("client h{i} not ready: {e}"));
            }
        }
        Self {
            clients,
            base,
            target,
            seen_ns,
            watchers,
        }
    }

    fn sum(&self, of: impl Fn(&jones_client::ClientStats) -> u64) -> u64 {
        self.clients.iter().map(|c| of(&c.stats())).sum()
    }

    fn watch_events(&self) -> Vec<u64> {
        self.clients
            .iter()
            .map(|c| c.stats().watch_events)
            .collect()
    }

    /// Waits until no client read anything for [`QUIET`].
    async fn quiet(&self) {
        let deadline = Instant::now() + PHASE_LIMIT;
        let mut last = self.sum(|s| s.reads);
        let mut since = Instant::now();
        while since.elapsed() < QUIET {
            assert!(Instant::now() < deadline, "the fleet never became quiet");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.sum(|s| s.reads);
            if now != last {
                last = now;
                since = Instant::now();
            }
        }
    }

    /// Every client connected and serving `stamp`.
    fn converged(&self, stamp: i64) -> bool {
        self.clients.iter().all(|c| {
            c.status().connected
                && c.snapshot().config.get("stamp").and_then(Value::as_i64) == Some(stamp)
        })
    }

    async fn close(self) {
        for chunk in self.clients.chunks(1000) {
            let closing: Vec<_> = chunk.iter().map(JonesClient::close).collect();
            for close in closing {
                close.await;
            }
        }
        for watcher in self.watchers {
            watcher.abort();
        }
    }
}

/// The service of one run: root `{"stamp": 0}`, environments `e0`…`e9`,
/// and `h{i}` associated with `e{i mod 10}` in one nodemap write.
async fn service(admin: &Admin, raw: &Client, design: Design, n: usize) -> ServiceName {
    let svc = ServiceName::new(&unique_name("scale")).expect("name");
    let layout = ServiceLayout::new(svc.clone());
    admin.create_service(&svc).await.expect("service");
    let root: Config = serde_json::from_value(json!({"stamp": 0})).unwrap();
    admin
        .set_env(&svc, &EnvPath::root(), root, None)
        .await
        .expect("root");
    for e in 0..ENVS {
        let config: Config = serde_json::from_value(json!({"env": e})).unwrap();
        admin
            .create_env(&svc, &EnvPath::new(&format!("e{e}")).unwrap(), config)
            .await
            .expect("environment");
    }
    let mut nodemap = Nodemap::new();
    for i in 0..n {
        let env = EnvPath::new(&format!("e{}", i % ENVS)).unwrap();
        nodemap
            .insert(&format!("h{i}"), layout.view_path(&env))
            .unwrap();
    }
    raw.set_data(layout.nodemap_path(), &nodemap_json(&nodemap), None)
        .await
        .expect("nodemap");
    match design {
        Design::Index => {
            admin.repair(&svc).await.expect("index built");
        }
        Design::Nodemap => {
            remove_tree(raw, layout.associations_path()).await;
        }
    }
    svc
}

fn nodemap_json(nodemap: &Nodemap) -> Vec<u8> {
    let map: serde_json::Map<String, Value> = nodemap
        .iter()
        .map(|(name, view)| (name.to_owned(), Value::String(view.to_owned())))
        .collect();
    serde_json::to_vec(&map).unwrap()
}

async fn remove_tree(raw: &Client, path: &str) {
    let Ok(children) = raw.list_children(path).await else {
        return;
    };
    for child in children {
        Box::pin(remove_tree(raw, &format!("{path}/{child}"))).await;
    }
    let _ = raw.delete(path, None).await;
}

/// Re-points `h7` to the next environment: through the server for the
/// indexed design, as original Jones does (the nodemap alone) for the
/// baseline.
async fn repoint(admin: &Admin, raw: &Client, svc: &ServiceName, design: Design) -> String {
    let layout = ServiceLayout::new(svc.clone());
    let env = EnvPath::new(&format!("e{}", (7 + 1) % ENVS)).unwrap();
    match design {
        Design::Index => admin
            .set_association(svc, "h7", &env)
            .await
            .expect("re-point"),
        Design::Nodemap => {
            let (data, stat) = raw.get_data(layout.nodemap_path()).await.unwrap();
            let mut nodemap = Nodemap::parse(&data).unwrap();
            nodemap.insert("h7", layout.view_path(&env)).unwrap();
            raw.set_data(
                layout.nodemap_path(),
                &nodemap_json(&nodemap),
                Some(stat.version),
            )
            .await
            .expect("re-point");
        }
    }
    layout.view_path(&env)
}

/// One GET over a fresh loopback connection; the time to the whole answer.
async fn get_clients(addr: std::net::SocketAddr, svc: &ServiceName) -> (Duration, Value) {
    let began = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /api/v1/services/{svc}/clients HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let took = began.elapsed();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "GET clients: {head}");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (took, serde_json::from_str(&body).expect("JSON"))
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

/// What the run does to ZooKeeper in the outage phase.
enum Outage<'a> {
    Restart(&'a mut jones_zookeeper::ZooKeeper),
    LeaderKill(&'a mut Ensemble),
}

async fn run(
    deployment: &'static str,
    design: Design,
    zk: &str,
    connect: &[String],
    outage: Outage<'_>,
    n: usize,
) -> Figures {
    let admin = Admin::connect(ZkOptions::new(zk)).await.expect("admin");
    let raw = Client::connector()
        .with_session_timeout(SESSION_TIMEOUT)
        .connect(zk)
        .await
        .expect("raw session");
    let svc = service(&admin, &raw, design, n).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let http = tokio::spawn(jones_server::http::serve(
        listener,
        jones_server::http::ServerState::new(admin.clone(), None),
        async move {
            let _ = stopped.await;
        },
    ));

    let rss_before = resident_kib();
    let began = Instant::now();
    let fleet = Fleet::start(connect, svc.as_str(), n).await;
    let start_s = began.elapsed().as_secs_f64();
    fleet.quiet().await;
    let memory_kib_per_client = (resident_kib().saturating_sub(rss_before)) as f64 / n as f64;
    eprintln!(
        "{deployment}/{}: {n} clients ready in {start_s:.1} s",
        design.name()
    );

    // Re-point one host.
    let events_before = fleet.watch_events();
    let bytes_before = fleet.sum(|s| s.bytes_read);
    let new_view = repoint(&admin, &raw, &svc, design).await;
    let deadline = Instant::now() + PHASE_LIMIT;
    while fleet.clients[7].snapshot().view_path != new_view {
        assert!(Instant::now() < deadline, "h7 never moved");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    fleet.quiet().await;
    let repoint_woken = fleet
        .watch_events()
        .iter()
        .zip(&events_before)
        .filter(|(after, before)| after > before)
        .count() as u64;
    let repoint_bytes = fleet.sum(|s| s.bytes_read) - bytes_before;

    // A root change.
    let registry_before = fleet.sum(|s| s.registry_writes);
    fleet.target.store(1, Ordering::Release);
    let written_at = fleet.base.elapsed().as_nanos() as u64;
    let root: Config = serde_json::from_value(json!({"stamp": 1})).unwrap();
    admin
        .set_env(&svc, &EnvPath::root(), root, None)
        .await
        .expect("root change");
    let deadline = Instant::now() + PHASE_LIMIT;
    while fleet.seen_ns.iter().any(|s| s.load(Ordering::Acquire) == 0) {
        assert!(
            Instant::now() < deadline,
            "not every client applied the root change"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut delays: Vec<u64> = fleet
        .seen_ns
        .iter()
        .map(|s| s.load(Ordering::Acquire).saturating_sub(written_at))
        .collect();
    delays.sort_unstable();
    let d = |ns: u64| ms(Duration::from_nanos(ns));
    tokio::time::sleep(REPORT_INTERVAL * 2 + Duration::from_secs(1)).await;
    let registry_writes_per_change = fleet.sum(|s| s.registry_writes) - registry_before;

    // The server's picture of the fleet.
    let mut answers = Vec::new();
    for _ in 0..5 {
        let (took, body) = get_clients(addr, &svc).await;
        assert_eq!(body["clients"], json!(n), "GET clients counts the fleet");
        answers.push(took);
    }
    answers.sort();

    // An outage.
    fleet.quiet().await;
    let reads_before = fleet.sum(|s| s.reads);
    let began = Instant::now();
    let outage_name = match outage {
        Outage::Restart(zk) => {
            zk.kill();
            zk.restart().expect("ZooKeeper restarts");
            "ZooKeeper restart"
        }
        Outage::LeaderKill(ensemble) => {
            let leader = ensemble.leader().expect("a leader");
            ensemble.stop(leader);
            ensemble.wait_for_quorum().expect("a new quorum");
            wait_converged(&fleet, began).await;
            ensemble.restart(leader).expect("the old leader rejoins");
            "leader kill"
        }
    };
    let converge = wait_converged(&fleet, began).await;
    fleet.quiet().await;
    let outage_reads = fleet.sum(|s| s.reads) - reads_before;

    fleet.close().await;
    let _ = stop_http.send(());
    let _ = http.await;
    admin.delete_service(&svc).await.expect("clean up");
    Figures {
        deployment,
        design,
        clients: n,
        start_s,
        memory_kib_per_client,
        repoint_woken,
        repoint_bytes,
        root_p50_ms: d(quantile(&delays, 0.5)),
        root_p99_ms: d(quantile(&delays, 0.99)),
        root_max_ms: d(delays[n - 1]),
        registry_writes_per_change,
        clients_answer_ms: ms(answers[answers.len() / 2]),
        outage: outage_name,
        outage_reads_per_client: outage_reads as f64 / n as f64,
        outage_converge_ms: ms(converge),
    }
}

async fn wait_converged(fleet: &Fleet, began: Instant) -> Duration {
    let deadline = Instant::now() + PHASE_LIMIT;
    while !fleet.converged(1) {
        assert!(Instant::now() < deadline, "the fleet never converged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    began.elapsed()
}

/// Each case runs in a process of its own (this binary again, with
/// `JONES_SCALE_CASE` set), so its memory figure starts from a fresh
/// process and no case inherits another's sessions or ZooKeeper.
const CASES: [(&str, Design); 4] = [
    ("standalone", Design::Nodemap),
    ("standalone", Design::Index),
    ("ensemble", Design::Nodemap),
    ("ensemble", Design::Index),
];

fn main() {
    let n: usize = std::env::var("JONES_SCALE_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CLIENTS);
    if let Ok(case) = std::env::var("JONES_SCALE_CASE") {
        let (deployment, design) = CASES
            .into_iter()
            .find(|(deployment, design)| format!("{deployment}/{}", design.name()) == case)
            .expect("a known case");
        println!("{}", run_case(deployment, design, n).to_json());
        return;
    }
    let runs: Vec<Value> = CASES
        .iter()
        .map(|(deployment, design)| {
            let out = std::process::Command::new(std::env::current_exe().expect("this bench"))
                .env(
                    "JONES_SCALE_CASE",
                    format!("{deployment}/{}", design.name()),
                )
                .env("JONES_SCALE_CLIENTS", n.to_string())
                .stderr(std::process::Stdio::inherit())
                .output()
                .expect("run a case");
            assert!(
                out.status.success(),
                "case {deployment}/{} failed",
                design.name()
            );
            let text = String::from_utf8_lossy(&out.stdout);
            serde_json::from_str(text.lines().last().expect("a line of figures")).expect("figures")
        })
        .collect();
    print_table(&runs);
}

/// One case on a ZooKeeper of its own.
fn run_case(deployment: &'static str, design: Design, n: usize) -> Figures {
    raise_open_file_limit();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if deployment == "standalone" {
        let mut zk = jones_zookeeper::ZooKeeper::builder()
            .tick_time(Duration::from_secs(2))
            .heap_mb(HEAP_MB)
            .start()
            .expect("standalone ZooKeeper");
        let connect = zk.connect_string();
        let outage = Outage::Restart(&mut zk);
        return runtime.block_on(run(
            deployment,
            design,
            &connect,
            std::slice::from_ref(&connect),
            outage,
            n,
        ));
    }
    let mut ensemble = Ensemble::start_with_heap_mb(HEAP_MB).expect("ensemble");
    let connect = ensemble.connect_string();
    let hosts: Vec<&str> = connect.split(',').collect();
    let spread: Vec<String> = (0..hosts.len())
        .map(|first| {
            let rotated: Vec<&str> = hosts[first..]
                .iter()
                .chain(&hosts[..first])
                .copied()
                .collect();
            rotated.join(",")
        })
        .collect();
    let outage = Outage::LeaderKill(&mut ensemble);
    runtime.block_on(run(deployment, design, &connect, &spread, outage, n))
}

impl Figures {
    fn to_json(&self) -> Value {
        json!({
            "zookeeper": self.deployment,
            "design": self.design.name(),
            "clients": self.clients,
            "start_s": self.start_s,
            "memory_kib_per_client": self.memory_kib_per_client,
            "repoint": {"woken": self.repoint_woken, "bytes_read": self.repoint_bytes},
            "root_change_ms": {"p50": self.root_p50_ms, "p99": self.root_p99_ms, "max_until_all": self.root_max_ms},
            "registry_writes_per_change": self.registry_writes_per_change,
            "get_clients_ms": self.clients_answer_ms,
            "outage": {"kind": self.outage, "reads_per_client": self.outage_reads_per_client, "converge_ms": self.outage_converge_ms},
        })
    }
}

fn print_table(runs: &[Value]) {
    println!(
        "{:<10} {:<8} {:>6} | {:>7} {:>8} | {:>6} {:>11} | {:>7} {:>7} {:>11} | {:>8} | {:>8} | {:<17} {:>9} {:>9}",
        "zookeeper",
        "design",
        "N",
        "start s",
        "KiB/cl",
        "woken",
        "bytes",
        "p50 ms",
        "p99 ms",
        "max=all ms",
        "reg w/ch",
        "GET ms",
        "outage",
        "reads/cl",
        "conv ms"
    );
    for r in runs {
        let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<10} {:<8} {:>6} | {:>7.1} {:>8.1} | {:>6} {:>11} | {:>7.1} {:>7.1} {:>11.1} | {:>8} | {:>8.1} | {:<17} {:>9.2} {:>9.1}",
            r["zookeeper"].as_str().unwrap_or(""),
            r["design"].as_str().unwrap_or(""),
            r["clients"],
            f(&r["start_s"]),
            f(&r["memory_kib_per_client"]),
            r["repoint"]["woken"],
            r["repoint"]["bytes_read"],
            f(&r["root_change_ms"]["p50"]),
            f(&r["root_change_ms"]["p99"]),
            f(&r["root_change_ms"]["max_until_all"]),
            r["registry_writes_per_change"],
            f(&r["get_clients_ms"]),
            r["outage"]["kind"].as_str().unwrap_or(""),
            f(&r["outage"]["reads_per_client"]),
            f(&r["outage"]["converge_ms"]),
        );
    }
    println!("{}", json!({"bench": "scale", "runs": runs}));
}
