//! Benchmark `history`: what recording every change in the same
//! transaction costs on the write path, on a real ZooKeeper.
//!
//! Each scenario runs the same writes through two admins on one
//! ZooKeeper, one recording history entries (the server's way) and one with
//! `Limits::record_history` off, interleaved write by write (which goes
//! first alternates) so both see the same machine:
//!
//! - `leaf set`: a 1 KiB config of an environment without children;
//! - `root set, 100 envs`: the root of a depth-2 tree of 100 environments;
//! - `association set`: an association re-pointed between two environments;
//! - `leaf set, 100 KiB`: a large config, whose entry carries it twice;
//! - `leaf set, 300 KiB`: a config whose change and whole entry do not fit
//!   one transaction, so the entry leaves `before` out.
//!
//! The large scenarios make 60 writes per side. ZooKeeper keeps its last 500
//! transactions in memory, so its heap here is 1 GiB.
//!
//! Bytes are those of the transactions sent (`ZkCounts::multi_bytes`).
//! Prints a table (p50 and p99 latency, bytes and ops per change), then
//! one JSON line of the figures.

use std::time::{Duration, Instant};

use jones_client::{Config, EnvPath, ServiceName};
use jones_server::{Admin, Limits, ZkOptions};
use serde_json::json;

const WRITES: usize = 300;

fn obj(v: serde_json::Value) -> Config {
    v.as_object().expect("object").clone()
}

#[derive(Clone, Copy)]
enum Scenario {
    Leaf,
    Root,
    Association,
    /// A leaf config of this many KiB.
    LargeLeaf(usize),
}

impl Scenario {
    /// Writes measured per side.
    fn writes(self) -> usize {
        match self {
            Scenario::LargeLeaf(_) => 60,
            _ => WRITES,
        }
    }

    fn name(self) -> String {
        match self {
            Scenario::Leaf => "leaf set".into(),
            Scenario::Root => "root set, 100 envs".into(),
            Scenario::Association => "association set".into(),
            Scenario::LargeLeaf(kib) => format!("leaf set, {kib} KiB"),
        }
    }

    /// A service shaped for the scenario.
    async fn prepare(self, admin: &Admin) -> ServiceName {
        let svc = ServiceName::new(&jones_testkit::unique_name("bench")).expect("name");
        admin.create_service(&svc).await.expect("service");
        let envs = match self {
            Scenario::Root => 100,
            _ => 2,
        };
        for i in 0..envs {
            let parent = match self {
                Scenario::Root if i >= 10 => format!("p{}/", i % 10),
                _ => String::new(),
            };
            let env = EnvPath::new(&format!("{parent}p{i}")).expect("env");
            admin
                .create_env(&svc, &env, obj(json!({"i": i})))
                .await
                .expect("env");
        }
        svc
    }

    /// Write number `n` of the scenario.
    async fn write(self, admin: &Admin, svc: &ServiceName, n: usize) {
        let pad = |bytes: usize| "x".repeat(bytes);
        match self {
            Scenario::Leaf => {
                let config = obj(json!({"n": n, "pad": pad(1024)}));
                let env = EnvPath::new("p1").expect("env");
                admin.set_env(svc, &env, config, None).await.expect("set");
            }
            Scenario::Root => {
                let config = obj(json!({"n": n}));
                admin
                    .set_env(svc, &EnvPath::root(), config, None)
                    .await
                    .expect("set");
            }
            Scenario::Association => {
                let env = EnvPath::new(&format!("p{}", n % 2)).expect("env");
                admin
                    .set_association(svc, "web-01.example.com", &env)
                    .await
                    .expect("associate");
            }
            Scenario::LargeLeaf(kib) => {
                let config = obj(json!({"n": n, "pad": pad(kib * 1024)}));
                let env = EnvPath::new("p1").expect("env");
                admin.set_env(svc, &env, config, None).await.expect("set");
            }
        }
    }
}

/// One side's figures.
#[derive(Default)]
struct Side {
    latencies: Vec<Duration>,
    bytes: u64,
    ops: u64,
}

impl Side {
    async fn measure(&mut self, admin: &Admin, svc: &ServiceName, s: Scenario, n: usize) {
        let before = admin.zk().counts();
        let started = Instant::now();
        s.write(admin, svc, n).await;
        self.latencies.push(started.elapsed());
        let cost = admin.zk().counts().since(before);
        self.bytes += cost.multi_bytes;
        self.ops += cost.ops;
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i].as_secs_f64() * 1e3
    }

    fn per_change(&self, total: u64) -> f64 {
        total as f64 / self.latencies.len() as f64
    }
}

async fn run(connect: &str, scenario: Scenario) -> (Side, Side) {
    let with = Admin::connect(ZkOptions::new(connect))
        .await
        .expect("connect");
    let without = Admin::connect(ZkOptions::new(connect))
        .await
        .expect("connect")
        .with_limits(Limits {
            record_history: false,
            ..Limits::default()
        });
    let (svc_with, svc_without) = (
        scenario.prepare(&with).await,
        scenario.prepare(&without).await,
    );
    let (mut recorded, mut bare) = (Side::default(), Side::default());
    for n in 0..scenario.writes() {
        if n % 2 == 0 {
            recorded.measure(&with, &svc_with, scenario, n).await;
            bare.measure(&without, &svc_without, scenario, n).await;
        } else {
            bare.measure(&without, &svc_without, scenario, n).await;
            recorded.measure(&with, &svc_with, scenario, n).await;
        }
    }
    with.delete_service(&svc_with).await.expect("cleanup");
    with.delete_service(&svc_without).await.expect("cleanup");
    (recorded, bare)
}

fn main() {
    let zookeeper = jones_testkit::ZooKeeper::start_with_heap_mb(1024).expect("ZooKeeper");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let connect = zookeeper.connect_string();
    // Warm up ZooKeeper's JVM and both paths.
    runtime.block_on(run(&connect, Scenario::Leaf));
    let scenarios = [
        Scenario::Leaf,
        Scenario::Root,
        Scenario::Association,
        Scenario::LargeLeaf(100),
        Scenario::LargeLeaf(300),
    ];
    println!(
        "history: the same writes ({WRITES}, 60 of each large size) with and without their history entries"
    );
    println!(
        "{:<20} | {:>17} | {:>17} | {:>21} | {:>9}",
        "scenario", "p50 ms without/with", "p99 ms without/with", "bytes/change w/o, with", "ops +"
    );
    let mut figures = Vec::new();
    for scenario in scenarios {
        let (with, without) = runtime.block_on(run(&connect, scenario));
        let bytes = (
            without.per_change(without.bytes),
            with.per_change(with.bytes),
        );
        let ops = with.per_change(with.ops) - without.per_change(without.ops);
        println!(
            "{:<20} | {:>8.2} / {:>6.2} | {:>8.2} / {:>6.2} | {:>10.0} / {:>8.0} | {:>+9.2}",
            scenario.name(),
            without.percentile(0.5),
            with.percentile(0.5),
            without.percentile(0.99),
            with.percentile(0.99),
            bytes.0,
            bytes.1,
            ops
        );
        let round = |x: f64| (x * 100.0).round() / 100.0;
        figures.push(json!({
            "scenario": scenario.name(),
            "p50_ms_without": round(without.percentile(0.5)),
            "p50_ms_with": round(with.percentile(0.5)),
            "p99_ms_without": round(without.percentile(0.99)),
            "p99_ms_with": round(with.percentile(0.99)),
            "bytes_without": bytes.0.round(),
            "bytes_with": bytes.1.round(),
            "ops_added": round(ops),
        }));
    }
    println!("{}", json!({"history": figures}));
}
