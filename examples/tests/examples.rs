//! The examples, run as a user would, against a real ZooKeeper.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jones_testkit::{ZooKeeper, unique_name};
use zookeeper_client::{Acls, Client, CreateMode};

/// An example's binary: `cargo test` builds the examples next to the
/// test binaries' directory (`target/debug/examples`).
fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    deps.parent().unwrap().join("examples").join(name)
}

/// Kills the child when the test ends, even on failure.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn service(zk: &str) -> (Client, String) {
    let client = Client::connector()
        .with_session_timeout(Duration::from_secs(20))
        .connect(zk)
        .await
        .unwrap();
    let service = unique_name("ex");
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let _ = client.create("/services", b"", &options).await;
    for (path, data) in [
        (format!("/services/{service}"), &b""[..]),
        (format!("/services/{service}/conf"), br#"{"n": 0}"#),
        (format!("/services/{service}/views"), br#"{"n": 0}"#),
        (format!("/services/{service}/nodemaps"), b""),
    ] {
        client.create(&path, data, &options).await.unwrap();
    }
    (client, service)
}

/// The child's stdout lines as they come, and a guard that kills it.
fn lines_of(mut child: Child) -> (Running, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    (Running(child), lines)
}

#[tokio::test]
async fn watch_prints_one_json_line_per_change() {
    let zk = ZooKeeper::shared().connect_string();
    let (writer, service) = service(&zk).await;
    let child = Command::new(example("watch"))
        .args(["--zk", &zk, "--service", &service, "--association", "h"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the watch example is built by `cargo test`");
    let (_running, mut lines) = lines_of(child);
    let next = async |lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>| {
        tokio::time::timeout(Duration::from_secs(30), lines.recv())
            .await
            .expect("a line in time")
            .expect("the example is running")
    };
    assert_eq!(next(&mut lines).await, r#"{"n":0}"#);
    let view = format!("/services/{service}/views");
    for n in 1..=3 {
        writer
            .set_data(&view, format!(r#"{{"n":{n}}}"#).as_bytes(), None)
            .await
            .unwrap();
        assert_eq!(next(&mut lines).await, format!(r#"{{"n":{n}}}"#));
    }
}

#[tokio::test]
async fn blocking_prints_the_value_and_its_change() {
    let zk = ZooKeeper::shared().connect_string();
    let (writer, service) = service(&zk).await;
    let mut child = Command::new(example("blocking"))
        .args(["--zk", &zk, "--service", &service, "--association", "h"])
        .args(["--key", "n", "--changes", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let running = Running(child);
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        (line, stdout)
    });
    let (line, mut stdout) = first.await.unwrap();
    assert_eq!(line, "n = 0\n");
    let view = format!("/services/{service}/views");
    writer.set_data(&view, br#"{"n": 5}"#, None).await.unwrap();
    let rest = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
        rest
    });
    let rest = tokio::time::timeout(Duration::from_secs(30), rest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, "n = 5\n");
    drop(running);
}

#[test]
fn switches_runs_on_test_data() {
    let out = Command::new(example("switches")).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("checkout: new"), "{text}");
    assert!(text.contains("account 13: beta true"), "{text}");
    assert!(text.contains("account 27: beta false"), "{text}");
}

#[tokio::test]
async fn openfeature_evaluates_flags_again_after_a_change() {
    let zk = ZooKeeper::shared().connect_string();
    let (writer, service) = service(&zk).await;
    let view = format!("/services/{service}/views");
    writer
        .set_data(&view, br#"{"new_flow": false, "rollout": 0}"#, None)
        .await
        .unwrap();
    let child = Command::new(example("openfeature"))
        .args(["--zk", &zk, "--service", &service, "--association", "h"])
        .args([
            "--flag", "new_flow", "--flag", "rollout", "--flag", "absent",
        ])
        .args(["--user", "user-17"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the openfeature example is built by `cargo test`");
    let (_running, mut lines) = lines_of(child);
    let mut next = async || -> serde_json::Value {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.recv())
            .await
            .expect("a line in time")
            .expect("the example is running");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(
        next().await,
        serde_json::json!({
            "new_flow": {"value": false, "reason": "STATIC"},
            "rollout": {"value": false, "reason": "SPLIT"},
            "absent": {"value": false, "error": "FLAG_NOT_FOUND"},
        })
    );
    writer
        .set_data(&view, br#"{"new_flow": true, "rollout": 100}"#, None)
        .await
        .unwrap();
    let after = next().await;
    assert_eq!(after["new_flow"]["value"], true, "{after}");
    assert_eq!(after["rollout"]["value"], true, "{after}");
}

#[tokio::test]
async fn fleet_counts_its_clients_by_value_as_a_change_sweeps_through() {
    let zk = ZooKeeper::shared().connect_string();
    let (writer, service) = service(&zk).await;
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    let canary = format!("/services/{service}/views/canary");
    writer
        .create(&canary, br#"{"n": 100}"#, &options)
        .await
        .unwrap();
    let nodemap = format!("/services/{service}/nodemaps");
    let map = serde_json::json!({ "f-0": canary }).to_string();
    writer
        .set_data(&nodemap, map.as_bytes(), None)
        .await
        .unwrap();
    let child = Command::new(example("fleet"))
        .args(["--zk", &zk, "--service", &service, "--clients", "5"])
        .args(["--prefix", "f-", "--key", "n", "--wave", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the fleet example is built by `cargo test`");
    let (_running, mut lines) = lines_of(child);
    let mut until = async |wanted: serde_json::Value| {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(30), lines.recv())
                .await
                .expect("a line each second")
                .expect("the example is running");
            let line: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(line["clients"], 5, "{line}");
            if line["values"] == wanted {
                assert_eq!(line["ready"], 5, "{line}");
                return;
            }
        }
    };
    until(serde_json::json!({"0": 4, "100": 1})).await;
    let view = format!("/services/{service}/views");
    writer.set_data(&view, br#"{"n": 1}"#, None).await.unwrap();
    until(serde_json::json!({"1": 4, "100": 1})).await;
}
