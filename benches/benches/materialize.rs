//! Benchmark `materialize`: the cost of a root change in services of 10,
//! 100 and 1000 environments (depth 3), on a real ZooKeeper.
//!
//! Compared in the same run against a baseline doing what original Jones
//! did: set the conf, then walk the subtree and, for each environment, read
//! each ancestor's conf one at a time, merge, set its view, list its
//! children (original Jones also checked each view's existence first; the
//! baseline skips that, to its advantage).
//!
//! Ours: pipelined multi-reads of the subtree, one transaction with version
//! checks (see `jones-server/src/writer/`).
//!
//! Prints a table (medians), then one JSON line of the figures.

use std::time::{Duration, Instant};

use jones_client::{Config, EnvPath, ServiceLayout, ServiceName, config_to_bytes, merge_view};
use jones_server::{Admin, ZkOptions};
use serde_json::json;
use zookeeper_client::Client;

const SIZES: [usize; 3] = [10, 100, 1000];

fn obj(v: serde_json::Value) -> Config {
    v.as_object().expect("object").clone()
}

/// Environments of a depth-3 tree with `n` environments below the root:
/// the smallest fanout `f` with `f + f² + f³ ≥ n`, filled level by level.
fn tree(n: usize) -> Vec<EnvPath> {
    let f = (1..)
        .find(|f: &usize| f + f * f + f * f * f >= n)
        .expect("a fanout");
    let mut envs = Vec::with_capacity(n);
    let mut level = vec![EnvPath::root()];
    while envs.len() < n {
        let mut next = Vec::new();
        'fill: for parent in &level {
            for i in 0..f {
                if envs.len() == n {
                    break 'fill;
                }
                let child = parent.child(&format!("e{i}")).expect("valid");
                envs.push(child.clone());
                next.push(child);
            }
        }
        level = next;
    }
    envs
}

/// Original Jones' write path, counting requests.
struct Baseline {
    client: Client,
    layout: ServiceLayout,
    requests: u64,
}

impl Baseline {
    async fn conf(&mut self, env: &EnvPath) -> Config {
        self.requests += 1;
        let (data, _) = self
            .client
            .get_data(&self.layout.conf_path(env))
            .await
            .expect("conf");
        jones_client::parse_config(&data).expect("JSON")
    }

    async fn set_root(&mut self, config: &Config) {
        self.requests += 1;
        self.client
            .set_data(self.layout.conf_root(), &config_to_bytes(config), None)
            .await
            .expect("set conf");
        self.update_view(EnvPath::root()).await;
    }

    async fn update_view(&mut self, root: EnvPath) {
        let mut stack = vec![root];
        while let Some(env) = stack.pop() {
            let mut chain = Vec::new();
            for ancestor in env.lineage() {
                chain.push(self.conf(&ancestor).await);
            }
            let view = merge_view(&chain);
            self.requests += 1;
            self.client
                .set_data(&self.layout.view_path(&env), &config_to_bytes(&view), None)
                .await
                .expect("set view");
            self.requests += 1;
            let children = self
                .client
                .list_children(&self.layout.conf_path(&env))
                .await
                .expect("children");
            for c in children.iter().rev() {
                stack.push(env.child(c).expect("valid"));
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Row {
    envs: usize,
    ours: Duration,
    ours_requests: u64,
    ours_ops: u64,
    baseline: Duration,
    baseline_requests: u64,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn measure(zk: &str, n: usize) -> Row {
    let admin = Admin::connect(ZkOptions::new(zk)).await.expect("connect");
    let svc = ServiceName::new(&jones_testkit::unique_name("bench")).expect("name");
    admin.create_service(&svc).await.expect("service");
    for (i, env) in tree(n).iter().enumerate() {
        admin
            .create_env(
                &svc,
                env,
                obj(json!({ format!("k{}", i % 7): i, "name": env.as_str() })),
            )
            .await
            .expect("create env");
    }
    let mut baseline = Baseline {
        client: Client::connect(zk).await.expect("connect"),
        layout: ServiceLayout::new(svc.clone()),
        requests: 0,
    };
    let reps = if n >= 1000 { 3 } else { 5 };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut ours_requests, mut ours_ops, mut baseline_requests) = (0, 0, 0);
    for rep in 0..reps {
        // Every run changes the root, so every view changes.
        let config = obj(json!({"root": format!("ours-{rep}"), "shared": rep}));
        let before = admin.zk().counts();
        let started = Instant::now();
        let outcome = admin
            .set_env(&svc, &EnvPath::root(), config, None)
            .await
            .expect("ours");
        ours.push(started.elapsed());
        let cost = admin.zk().counts().since(before);
        assert_eq!(outcome.views_written, n + 1, "every view rewritten");
        (ours_requests, ours_ops) = (cost.requests, cost.ops);

        let config = obj(json!({"root": format!("baseline-{rep}"), "shared": rep}));
        baseline.requests = 0;
        let started = Instant::now();
        baseline.set_root(&config).await;
        theirs.push(started.elapsed());
        baseline_requests = baseline.requests;
    }
    admin.delete_service(&svc).await.expect("cleanup");
    Row {
        envs: n,
        ours: median(ours),
        ours_requests,
        ours_ops,
        baseline: median(theirs),
        baseline_requests,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let zookeeper = jones_testkit::ZooKeeper::start().expect("ZooKeeper");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Warm up ZooKeeper's JVM (and both code paths) before measuring.
    runtime.block_on(measure(&zookeeper.connect_string(), 100));
    let rows: Vec<Row> = SIZES
        .iter()
        .map(|&n| runtime.block_on(measure(&zookeeper.connect_string(), n)))
        .collect();
    println!("materialize: a root change, depth-3 services, median wall time");
    println!(
        "{:>6} | {:>9} {:>9} {:>7} | {:>11} {:>9} | {:>7}",
        "envs", "ours ms", "requests", "ops", "baseline ms", "requests", "speedup"
    );
    for r in &rows {
        println!(
            "{:>6} | {:>9.1} {:>9} {:>7} | {:>11.1} {:>9} | {:>6.1}x",
            r.envs,
            ms(r.ours),
            r.ours_requests,
            r.ours_ops,
            ms(r.baseline),
            r.baseline_requests,
            ms(r.baseline) / ms(r.ours)
        );
    }
    let figures: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            json!({
                "envs": r.envs,
                "ours_ms": (ms(r.ours) * 10.0).round() / 10.0,
                "ours_requests": r.ours_requests,
                "ours_ops": r.ours_ops,
                "baseline_ms": (ms(r.baseline) * 10.0).round() / 10.0,
                "baseline_requests": r.baseline_requests,
                "speedup": ((ms(r.baseline) / ms(r.ours)) * 10.0).round() / 10.0,
            })
        })
        .collect();
    println!("{}", json!({"bench": "materialize", "results": figures}));
}
