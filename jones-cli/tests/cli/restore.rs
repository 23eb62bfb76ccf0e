//! `jones restore`: a dump loaded into a new service gives the same dump
//! back (for a tree written by original Jones, with the differences the
//! module documents: compact JSON); a service holding anything is refused
//! unless `--replace`, and a replace that meets another writer stops with
//! exit 4; bad input is refused before anything is written.

use serde_json::json;

use crate::harness::*;

/// `jones dump SVC`, with the service's name made neutral so dumps of two
/// services compare.
async fn dump(zk: &str, url: &str, svc: &str) -> String {
    ok(&jones_at(zk, url, &["dump", svc], &[]).await).replace(svc, "SVC")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_restored_into_a_new_service_dumps_the_same() {
    let zk = shared_zk();
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    let server = TestServer::start(&zk, None).await;
    let (zk, url) = (zk.as_str(), server.url.as_str());
    let original = dump(zk, url, svc.as_str()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.txt");
    std::fs::write(
        &file,
        ok(&jones_at(zk, url, &["dump", svc.as_str()], &[]).await),
    )
    .unwrap();

    let copy = jones_testkit::unique_name("copy");
    let file_arg = file.display().to_string();
    ok(&jones_at(zk, url, &["restore", &file_arg, "--service", &copy], &[]).await);
    assert_eq!(dump(zk, url, &copy).await, original);

    // From stdin, as JSON, into another new service.
    let json_dump = ok(&jones_at(zk, url, &["--json", "dump", svc.as_str()], &[]).await);
    let third = jones_testkit::unique_name("copy");
    let piped = jones_input(
        zk,
        url,
        &["restore", "-", "--service", &third],
        json_dump.as_bytes(),
    )
    .await;
    ok(&piped);
    assert_eq!(dump(zk, url, &third).await, original);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_holding_anything_is_refused_unless_replace() {
    let zk = shared_zk();
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    let target = fixture(&admin).await;
    set(&admin, &target, "parent/child2", json!({"a": 99})).await;
    let server = TestServer::start(&zk, None).await;
    let (zk, url) = (zk.as_str(), server.url.as_str());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.txt");
    std::fs::write(
        &file,
        ok(&jones_at(zk, url, &["dump", svc.as_str()], &[]).await),
    )
    .unwrap();
    let file_arg = file.display().to_string();
    let before = dump(zk, url, target.as_str()).await;

    let refused = jones_at(
        zk,
        url,
        &["restore", &file_arg, "--service", target.as_str()],
        &[],
    )
    .await;
    assert_eq!(refused.status.code(), Some(8), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--replace"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(
        dump(zk, url, target.as_str()).await,
        before,
        "nothing written"
    );

    let replace = [
        "restore",
        &file_arg,
        "--service",
        target.as_str(),
        "--replace",
    ];
    ok(&jones_at(zk, url, &replace, &[]).await);
    assert_eq!(
        dump(zk, url, target.as_str()).await,
        dump(zk, url, svc.as_str()).await
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_refused_naming_the_problem_and_nothing_is_written() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let (zk, url) = (zk.as_str(), server.url.as_str());
    let target = jones_testkit::unique_name("empty");
    for input in [&b"not a dump at all"[..], b"{\"half\": ", b""] {
        let refused = jones_input(zk, url, &["restore", "-", "--service", &target], input).await;
        assert_ne!(refused.status.code(), Some(0), "{input:?}");
        assert!(!stderr(&refused).trim().is_empty(), "{input:?}: says why");
        let listed = ok(&jones_at(zk, url, &["--json", "services"], &[]).await);
        assert!(
            !listed.contains(&target),
            "{input:?}: no service was created"
        );
    }
    let missing = jones_at(
        zk,
        url,
        &["restore", "/nonexistent/dump.txt", "--service", &target],
        &[],
    )
    .await;
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(stderr(&missing).contains("/nonexistent/dump.txt"));
    server.stop().await;
}

/// A small deterministic generator (xorshift), so a failing tree can be
/// rebuilt from the seed in the message.
struct Random(u64);

impl Random {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }

    fn value(&mut self, depth: u32) -> serde_json::Value {
        match self.next(if depth > 2 { 5 } else { 7 }) {
            0 => json!(self.next(1000)),
            1 => json!(format!("s{} é \"q\" \\ {}", self.next(100), self.next(9))),
            2 => json!(self.next(2) == 1),
            3 => json!(null),
            4 => json!(self.next(1000) as f64 / 8.0),
            5 => json!([self.value(depth + 1), self.value(depth + 1)]),
            _ => {
                let mut map = serde_json::Map::new();
                for _ in 0..self.next(4) {
                    map.insert(format!("k{}", self.next(6)), self.value(depth + 1));
                }
                serde_json::Value::Object(map)
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_tree_round_trips_through_dump_and_restore() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let (zk, url) = (zk.as_str(), server.url.as_str());
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut random = Random(seed);
    let svc = jones_testkit::unique_name("random");
    let merge = if random.next(2) == 0 {
        "shallow"
    } else {
        "deep"
    };
    ok(&jones_at(zk, url, &["service", "create", &svc, "--merge", merge], &[]).await);
    // The root's own config too, not only the environments below it.
    let root = serde_json::Value::Object(
        (0..1 + random.next(4))
            .map(|_| (format!("k{}", random.next(8)), random.value(0)))
            .collect(),
    );
    set(
        &admin(zk).await,
        &jones_client::ServiceName::new(&svc).unwrap(),
        "",
        root,
    )
    .await;
    let mut envs = vec![String::new()];
    for i in 0..25 {
        let parent = envs[random.next(envs.len() as u64) as usize].clone();
        let env = if parent.is_empty() {
            format!("e{i}")
        } else {
            format!("{parent}/e{i}")
        };
        let config = serde_json::Value::Object(
            (0..random.next(5))
                .map(|_| (format!("k{}", random.next(8)), random.value(0)))
                .collect(),
        );
        let config = config.to_string();
        ok(&jones_at(
            zk,
            url,
            &["env", "create", &svc, &env, "--config", &config],
            &[],
        )
        .await);
        envs.push(env);
    }
    for h in 0..12 {
        let env = &envs[random.next(envs.len() as u64) as usize];
        let env = if env.is_empty() { "/" } else { env.as_str() };
        ok(&jones_at(
            zk,
            url,
            &["assoc", "set", &svc, &format!("host-{h}.example.com"), env],
            &[],
        )
        .await);
    }
    let original = dump(zk, url, &svc).await;
    assert!(
        !original.contains("/services/SVC/conf\n    {}\n"),
        "the root config is set: {original}"
    );
    let text = ok(&jones_at(zk, url, &["dump", &svc], &[]).await);
    let copy = jones_testkit::unique_name("random");
    ok(&jones_input(
        zk,
        url,
        &["restore", "-", "--service", &copy],
        text.as_bytes(),
    )
    .await);
    assert_eq!(dump(zk, url, &copy).await, original, "seed {seed}");
    server.stop().await;
}

/// Writes service `svc` straight into ZooKeeper as original Jones did:
/// JSON as Python's `json.dumps` writes it (spaces after `:` and `,`,
/// non-ASCII as `\u` escapes), views materialized shallowly, the nodemap
/// in lines.
async fn original_tree(zk: &str, svc: &str) {
    use zookeeper_client::{Acls, Client, CreateMode};
    let open = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let raw = Client::connect(zk).await.unwrap();
    let _ = raw.create("/services", b"", &open).await;
    let s = format!("/services/{svc}");
    for (path, data) in [
        (s.clone(), String::new()),
        (
            format!("{s}/conf"),
            r#"{"name": "caf\u00e9", "db": {"host": "db1", "port": 5432}, "ratio": 0.5}"#.to_owned(),
        ),
        (
            format!("{s}/conf/prod"),
            r#"{"db": {"host": "db2"}, "list": [1, 2, 3]}"#.to_owned(),
        ),
        (format!("{s}/conf/prod/eu"), r#"{"region": "eu"}"#.to_owned()),
        (
            format!("{s}/views"),
            r#"{"name": "caf\u00e9", "db": {"host": "db1", "port": 5432}, "ratio": 0.5}"#.to_owned(),
        ),
        (
            format!("{s}/views/prod"),
            r#"{"name": "caf\u00e9", "db": {"host": "db2"}, "ratio": 0.5, "list": [1, 2, 3]}"#
                .to_owned(),
        ),
        (
            format!("{s}/views/prod/eu"),
            r#"{"name": "caf\u00e9", "db": {"host": "db2"}, "ratio": 0.5, "list": [1, 2, 3], "region": "eu"}"#
                .to_owned(),
        ),
        (
            format!("{s}/nodemaps"),
            format!("web-01 -> {s}/views/prod\nweb-02 -> {s}/views/prod/eu"),
        ),
    ] {
        raw.create(&path, data.as_bytes(), &open).await.unwrap();
    }
}

/// A text dump with every config's and view's JSON written compactly, as
/// the server writes it: what restore documents as the only difference.
fn compact_json(dump: &str) -> String {
    let mut out = String::new();
    let mut json_node = false;
    for line in dump.lines() {
        match line.strip_prefix("    ") {
            Some(data) if json_node => {
                let value: serde_json::Value = serde_json::from_str(data).unwrap();
                out.push_str(&format!("    {value}\n"));
            }
            Some(_) => {
                out.push_str(line);
                out.push('\n');
            }
            None => {
                json_node = line.contains("/conf") || line.contains("/views");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The lines of `dump` from `path`'s line up to the next path.
fn node_of(dump: &str, path: &str) -> String {
    dump.lines()
        .skip_while(|l| *l != path)
        .take_while({
            let mut first = true;
            move |l| std::mem::take(&mut first) || l.starts_with("    ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_written_by_original_jones_round_trips_with_only_the_documented_differences() {
    let zk = shared_zk();
    let svc = jones_testkit::unique_name("original");
    original_tree(&zk, &svc).await;
    let nodemap = "/services/SVC/nodemaps";

    // A server writing new nodemaps in original Jones' line format: the
    // nodemap comes back byte for byte, every config and view with the
    // same JSON, keys in the same order, written compactly.
    let lines = TestServer::start_with(
        admin(&zk)
            .await
            .with_nodemap_format(jones_server::NodemapFormat::Lines),
        None,
    )
    .await;
    let (zk, url) = (zk.as_str(), lines.url.as_str());
    let original = dump(zk, url, &svc).await;
    assert!(
        original.contains(r#"{"db": {"host": "db2"}, "list": [1, 2, 3]}"#),
        "{original}"
    );
    let text = ok(&jones_at(zk, url, &["dump", &svc], &[]).await);
    let copy = jones_testkit::unique_name("original");
    ok(&jones_input(
        zk,
        url,
        &["restore", "-", "--service", &copy],
        text.as_bytes(),
    )
    .await);
    let restored = dump(zk, url, &copy).await;
    assert_eq!(node_of(&restored, nodemap), node_of(&original, nodemap));
    // The service znode records the lines format it was created with.
    let service = "/services/SVC";
    assert_eq!(
        node_of(&restored, service),
        format!("{service}\n    {}", json!({"nodemap": "lines"}))
    );
    assert_eq!(node_of(&original, service), service);
    assert_eq!(
        restored.replacen(&node_of(&restored, service), service, 1),
        compact_json(&original)
    );
    assert_ne!(
        restored, original,
        "original Jones' spaced JSON is not kept"
    );

    // From then on the round trip is exact.
    let again = ok(&jones_at(zk, url, &["dump", &copy], &[]).await);
    let third = jones_testkit::unique_name("original");
    ok(&jones_input(
        zk,
        url,
        &["restore", "-", "--service", &third],
        again.as_bytes(),
    )
    .await);
    assert_eq!(dump(zk, url, &third).await, restored);
    lines.stop().await;

    // A server with the default format writes the new service's nodemap as
    // a JSON object: the same associations, the one other difference.
    let default = TestServer::start(zk, None).await;
    let url = default.url.as_str();
    let fourth = jones_testkit::unique_name("original");
    ok(&jones_input(
        zk,
        url,
        &["restore", "-", "--service", &fourth],
        text.as_bytes(),
    )
    .await);
    let restored = dump(zk, url, &fourth).await;
    assert_eq!(
        node_of(&restored, nodemap),
        format!(
            "{nodemap}\n    {}",
            json!({"web-01": "/services/SVC/views/prod", "web-02": "/services/SVC/views/prod/eu"})
        )
    );
    assert_eq!(
        restored.replace(&node_of(&restored, nodemap), &node_of(&original, nodemap)),
        compact_json(&original)
    );
    default.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_that_meets_another_writer_stops_with_exit_4_and_keeps_their_change() {
    let zk = shared_zk();
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    let target = fixture(&admin).await;
    set(&admin, &target, "parent/child2", json!({"a": 99})).await;
    let server = TestServer::start(&zk, None).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dump.txt");
    std::fs::write(
        &file,
        ok(&jones_at(&zk, &server.url, &["dump", svc.as_str()], &[]).await),
    )
    .unwrap();

    // The restore reads the target, then its first write is held while
    // another writer changes that very environment.
    let mut proxy = HoldingProxy::start(&server.url, "PUT").await;
    let run = {
        let (zk, url) = (zk.clone(), proxy.url.clone());
        let args: Vec<String> = [
            "restore",
            &file.display().to_string(),
            "--service",
            target.as_str(),
            "--replace",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        tokio::spawn(async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            jones_at(&zk, &url, &args, &[]).await
        })
    };
    let mut run = run;
    let held = tokio::select! {
        held = proxy.held.take().unwrap() => held.unwrap(),
        out = &mut run => panic!("the restore ended without writing: {:?}", out.map(|o| stderr(&o))),
    };
    assert!(held.contains("/config/parent/child2 "), "{held}");
    set(
        &admin,
        &target,
        "parent/child2",
        json!({"a": 100, "theirs": true}),
    )
    .await;
    proxy.release();
    let out = run.await.unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the restore stopped after"),
        "{}",
        stderr(&out)
    );
    let kept = admin
        .get_env(
            &target,
            &jones_client::EnvPath::new("parent/child2").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::Value::Object(kept.config),
        json!({"a": 100, "theirs": true}),
        "the other writer's change is not overwritten"
    );
    drop(proxy);
    server.stop().await;
}
