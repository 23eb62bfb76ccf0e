//! Clients of original Jones that parse one nodemap format only follow our
//! trees: the PyPI `jones` 0.5.4 client (` -> ` lines) a service that keeps
//! lines, and a reader of JSON nodemaps only (as upstream Jones reads them
//! since 0.6) a service with a JSON nodemap. Each fails on the other
//! format, which is why a stored nodemap keeps the format it has.
//!
//! The Python clients live in the virtualenv `scripts/setup` creates.

use std::process::Stdio;
use std::time::Duration;

use jones_client::ServiceName;
use jones_server::{Admin, NodemapFormat};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

use crate::harness::{admin, env, fixture, obj, service, view, zookeeper};

const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv-compat/bin/python");
const FOLLOW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compat/follow.py");
const WAIT: Duration = Duration::from_secs(20);

/// A Python client following one host's config, one JSON line per change.
struct Follower {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Follower {
    async fn start(parser: &str, svc: &ServiceName, host: &str) -> Self {
        assert!(
            std::path::Path::new(PYTHON).exists(),
            "{PYTHON} is missing: run scripts/setup"
        );
        let mut child = tokio::process::Command::new(PYTHON)
            .args([
                FOLLOW,
                parser,
                &zookeeper().connect_string(),
                svc.as_str(),
                host,
            ])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            _child: child,
            lines,
        }
    }

    /// Reads configs until one satisfies `wanted`; returns it.
    async fn until(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(WAIT, async {
            loop {
                let line = self.lines.next_line().await.unwrap();
                let Some(line) = line else {
                    panic!("the client exited; it printed {seen:?}");
                };
                let value: Value = serde_json::from_str(&line).unwrap();
                if wanted(&value) {
                    return value;
                }
                seen.push(value);
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("{what}: not seen within {WAIT:?}"))
    }
}

/// The fixture, then: the client of `parser` follows 127.0.0.2 through a
/// parent change and a re-point.
async fn follows_changes(admin: &Admin, svc: &ServiceName, parser: &str) {
    let mut client = Follower::start(parser, svc, "127.0.0.2").await;
    let child1 = view(admin, svc, "parent/child1").await;
    client.until("the first config", |v| *v == child1).await;
    admin
        .set_env(
            svc,
            &env("parent"),
            obj(json!({"a": 1, "b": "changed", "c": {"x": 0}})),
            None,
        )
        .await
        .unwrap();
    client
        .until("the parent's change", |v| {
            v["b"] == "changed" && v["a"] == 2
        })
        .await;
    admin
        .set_association(svc, "127.0.0.2", &env("parent/child2"))
        .await
        .unwrap();
    let child2 = view(admin, svc, "parent/child2").await;
    client.until("the re-point", |v| *v == child2).await;
}

#[tokio::test]
async fn the_jones_0_5_4_client_follows_a_service_that_keeps_lines() {
    let admin = admin().await.with_nodemap_format(NodemapFormat::Lines);
    let svc = service();
    fixture(&admin, &svc).await;
    follows_changes(&admin, &svc, "lines").await;
    // A JSON-only reader cannot read lines.
    let mut json_only = Follower::start("json", &svc, "127.0.0.2").await;
    json_only
        .until("the JSON reader's error", |v| {
            v.get("nodemap_error").is_some()
        })
        .await;
}

#[tokio::test]
async fn a_json_only_reader_follows_a_service_with_a_json_nodemap() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    follows_changes(&admin, &svc, "json").await;
    // The 0.5.4 client cannot read a JSON nodemap.
    let mut lines_only = Follower::start("lines", &svc, "127.0.0.2").await;
    let error = lines_only
        .until("the lines client's error", |v| {
            v.get("nodemap_error").is_some()
        })
        .await;
    assert!(
        error["nodemap_error"]
            .as_str()
            .unwrap()
            .contains("ValueError"),
        "{error}"
    );
}
