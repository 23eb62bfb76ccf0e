//! `jones restore`: a dump loaded into a new service gives the same dump
//! back; a service holding anything is refused unless `--replace`; bad
//! input is refused before anything is written.

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
