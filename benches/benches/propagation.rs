//! Benchmark `propagation`: from a write to the app seeing it.
//!
//! Times a `set_data` on a view znode until the live client's change
//! callback sees the new config, for 1, 100 and 1000 clients each on its own
//! ZooKeeper session, on a private test ZooKeeper. The floor, measured in
//! the same run, is a raw zookeeper-client watch on another session: set →
//! watch event → get of the new data, which is the least any watching
//! client must do.
//!
//! Prints a table, then one JSON line of the figures.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jones_client::JonesClient;
use jones_testkit::{ZooKeeper, unique_name};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};
use zookeeper_client::{Acls, Client, CreateMode};

/// Writes timed per case: (clients, samples).
const CASES: [(usize, usize); 3] = [(1, 1000), (100, 200), (1000, 30)];
const FLOOR_SAMPLES: usize = 1000;
/// Sessions long enough that a busy machine does not expire them.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// A sample not complete within this is a failure of the run.
const SAMPLE_LIMIT: Duration = Duration::from_secs(30);

/// One line of the table.
struct Line {
    subject: String,
    clients: usize,
    samples: usize,
    /// Write → one subscriber sees it, over every (sample, client).
    each: Vec<Duration>,
    /// Write → the last of the clients sees it, per sample.
    all: Vec<Duration>,
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

async fn connect(zk: &str) -> Client {
    Client::connector()
        .with_session_timeout(SESSION_TIMEOUT)
        .connect(zk)
        .await
        .expect("connect to the test ZooKeeper")
}

fn body(n: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({"n": n, "payload": "x".repeat(64)})).unwrap()
}

/// The floor: a raw watch on its own session. The writes count up from 1
/// each run, after whatever the view held.
async fn floor(zk: &str, writer: &Client, path: &str) -> Line {
    let watcher = connect(zk).await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let watch_path = path.to_owned();
    let task = tokio::spawn(async move {
        loop {
            let (data, _, watch) = watcher.get_and_watch_data(&watch_path).await.unwrap();
            let at = Instant::now();
            let n = serde_json::from_slice::<Value>(&data).unwrap()["n"].as_u64();
            if seen_tx.send((n, at)).is_err() {
                return;
            }
            watch.changed().await;
        }
    });
    seen.recv().await.unwrap();
    let mut each = Vec::with_capacity(FLOOR_SAMPLES);
    for n in 1..=FLOOR_SAMPLES {
        let data = body(n);
        let began = Instant::now();
        writer.set_data(path, &data, None).await.unwrap();
        loop {
            let (seen_n, at) = tokio::time::timeout(SAMPLE_LIMIT, seen.recv())
                .await
                .expect("the raw watch fired")
                .unwrap();
            if seen_n == Some(n as u64) {
                each.push(at - began);
                break;
            }
        }
    }
    task.abort();
    Line {
        subject: "raw watch (floor)".into(),
        clients: 1,
        samples: FLOOR_SAMPLES,
        all: each.clone(),
        each,
    }
}

/// What the change callbacks of every client report into.
#[derive(Default)]
struct Arrivals {
    target: Option<(u64, Instant)>,
    seen: usize,
    each: Vec<Duration>,
    last: Option<Duration>,
}

async fn jones(
    zk: &str,
    service: &str,
    writer: &Client,
    path: &str,
    clients: usize,
    samples: usize,
) -> Line {
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let complete = Arc::new(Notify::new());
    let mut started = tokio::task::JoinSet::new();
    for i in 0..clients {
        let (zk, service) = (zk.to_owned(), service.to_owned());
        started.spawn(async move {
            JonesClient::builder(&service)
                .zk(&zk)
                .association(&format!("bench-{i}"))
                .session_timeout(SESSION_TIMEOUT)
                .start_timeout(Duration::from_secs(60))
                .build()
                .await
                .expect("a client starts")
        });
    }
    let mut handles = Vec::with_capacity(clients);
    let mut guards = Vec::with_capacity(clients);
    while let Some(client) = started.join_next().await {
        let client = client.unwrap();
        let (arrivals, complete) = (arrivals.clone(), complete.clone());
        guards.push(client.on_change(move |snapshot| {
            let at = Instant::now();
            let n = snapshot.config.get("n").and_then(Value::as_u64);
            let mut a = arrivals.lock().unwrap();
            if let Some((target, began)) = a.target {
                if n == Some(target) {
                    a.each.push(at - began);
                    a.seen += 1;
                    if a.seen == clients {
                        a.last = Some(at - began);
                        complete.notify_one();
                    }
                }
            }
        }));
        handles.push(client);
    }
    let mut all = Vec::with_capacity(samples);
    let base = 1_000_000 * clients;
    for n in base + 1..=base + samples {
        let data = body(n);
        let notified = complete.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let mut a = arrivals.lock().unwrap();
            a.seen = 0;
            a.target = Some((n as u64, Instant::now()));
        }
        writer.set_data(path, &data, None).await.unwrap();
        tokio::time::timeout(SAMPLE_LIMIT, notified)
            .await
            .unwrap_or_else(|_| panic!("{clients} clients did not all see write {n}"));
        all.push(arrivals.lock().unwrap().last.take().unwrap());
    }
    drop(guards);
    let mut closing = tokio::task::JoinSet::new();
    for client in handles {
        closing.spawn(async move { client.close().await });
    }
    while closing.join_next().await.is_some() {}
    let each = std::mem::take(&mut arrivals.lock().unwrap().each);
    Line {
        subject: "JonesClient on_change".into(),
        clients,
        samples,
        each,
        all,
    }
}

fn main() {
    let zk = ZooKeeper::start().expect("a test ZooKeeper");
    let connect_string = zk.connect_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let mut lines = runtime.block_on(async {
        let writer = connect(&connect_string).await;
        let service = unique_name("bench");
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        let root = format!("/services/{service}");
        writer.create("/services", b"", &options).await.unwrap();
        for (path, data) in [
            (root.clone(), b"".to_vec()),
            (format!("{root}/conf"), body(0)),
            (format!("{root}/views"), body(0)),
            (format!("{root}/nodemaps"), Vec::new()),
        ] {
            writer.create(&path, &data, &options).await.unwrap();
        }
        let view = format!("{root}/views");
        // A first, unreported floor run warms the JVM up, so the figures
        // that follow do not depend on which case runs first.
        floor(&connect_string, &writer, &view).await;
        let mut lines = vec![floor(&connect_string, &writer, &view).await];
        for (clients, samples) in CASES {
            lines.push(jones(&connect_string, &service, &writer, &view, clients, samples).await);
        }
        lines
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(zk);

    println!(
        "propagation: set_data on the view → the app sees it (ms), each client on its own session; {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "{:<24} {:>7} {:>7} {:>11} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "subject", "clients", "samples", "deliveries", "p50", "p99", "max", "all p50", "all max"
    );
    let mut figures = Vec::new();
    for line in &mut lines {
        line.each.sort();
        line.all.sort();
        let (p50, p99, max) = (
            quantile(&line.each, 0.5),
            quantile(&line.each, 0.99),
            *line.each.last().unwrap(),
        );
        let (all50, allmax) = (quantile(&line.all, 0.5), *line.all.last().unwrap());
        println!(
            "{:<24} {:>7} {:>7} {:>11} {:>8.2} {:>8.2} {:>8.2} {:>10.2} {:>10.2}",
            line.subject,
            line.clients,
            line.samples,
            line.each.len(),
            ms(p50),
            ms(p99),
            ms(max),
            ms(all50),
            ms(allmax)
        );
        figures.push(json!({
            "subject": line.subject, "clients": line.clients, "samples": line.samples,
            "deliveries": line.each.len(), "p50_ms": ms(p50), "p99_ms": ms(p99), "max_ms": ms(max),
            "all_seen_p50_ms": ms(all50), "all_seen_max_ms": ms(allmax),
        }));
    }
    let floor_p99 = quantile(&lines[0].each, 0.99);
    let one_p99 = quantile(&lines[1].each, 0.99);
    println!(
        "p99 at 1 client vs the floor: {:.2}x",
        one_p99.as_secs_f64() / floor_p99.as_secs_f64()
    );
    println!("{}", json!({"bench": "propagation", "results": figures}));
}
