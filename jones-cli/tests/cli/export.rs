//! `jones export`: every format read back, atomic replacement, one exec per
//! change, and clear failures.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

fn expected_child1() -> Value {
    json!({"foo": "bar", "a": 2, "b": [1, 2, 3], "c": {"x": 0}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_reads_back_to_the_view() {
    let zk = shared_zk();
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    for format in ["json", "yaml", "toml", "env", "php"] {
        let out = dir.path().join(format!("config.{format}"));
        let output = run(jones(&zk)
            .args([
                "export",
                svc.as_str(),
                "--association",
                "127.0.0.2",
                "--format",
                format,
                "--once",
                "--out",
            ])
            .arg(&out));
        assert!(
            output.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = std::fs::read_to_string(&out).unwrap();
        let back: Value = match format {
            "json" => serde_json::from_str(&text).unwrap(),
            "yaml" => serde_norway::from_str(&text).unwrap(),
            "toml" => toml::from_str(&text).unwrap(),
            "php" => {
                let php = std::process::Command::new("php")
                    .arg("-r")
                    .arg("echo json_encode(include $argv[1]);")
                    .arg(&out)
                    .output()
                    .expect("php runs (scripts/setup installs php-cli)");
                assert!(
                    php.status.success(),
                    "{}",
                    String::from_utf8_lossy(&php.stderr)
                );
                serde_json::from_slice(&php.stdout).unwrap()
            }
            "env" => {
                let shell = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(r#"set -a; . "$1"; printf '%s\n' "$FOO" "$A" "$B" "$C_X""#)
                    .arg("sh")
                    .arg(&out)
                    .output()
                    .unwrap();
                assert!(shell.status.success());
                let vars: Vec<String> = String::from_utf8(shell.stdout)
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect();
                assert_eq!(vars, ["bar", "2", "[1,2,3]", "0"], "{text}");
                continue;
            }
            _ => unreachable!(),
        };
        assert_eq!(back, expected_child1(), "{format}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_file_is_replaced_atomically_and_exec_runs_once_per_change() {
    let zk = shared_zk();
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.json");
    let runs = dir.path().join("runs.log");
    let mut command = jones(&zk);
    command
        .args([
            "export",
            svc.as_str(),
            "--association",
            "127.0.0.2",
            "--out",
        ])
        .arg(&out)
        .arg("--exec")
        .arg(format!("echo \"$JONES_REVISION\" >> '{}'", runs.display()));
    let mut export = Running::spawn(command, dir.path());
    wait_until(
        "the first write and its exec",
        Duration::from_secs(20),
        || lines(&runs).len() == 1,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&std::fs::read_to_string(&out).unwrap()).unwrap(),
        expected_child1()
    );

    // A reader that never must see a partial file.
    let reader_path = out.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_stop = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut reads = 0u64;
        while !reader_stop.load(std::sync::atomic::Ordering::Relaxed) {
            let text = std::fs::read_to_string(&reader_path).unwrap();
            let value: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("partial file ({e}): {text:?}"));
            assert_eq!(value["foo"], "bar");
            reads += 1;
        }
        reads
    });

    for a in 10..20 {
        set(
            &admin,
            &svc,
            "parent/child1",
            json!({"a": a, "padding": "x".repeat(20_000)}),
        )
        .await;
        wait_until("the file shows the change", Duration::from_secs(20), || {
            std::fs::read_to_string(&out)
                .is_ok_and(|t| serde_json::from_str::<Value>(&t).is_ok_and(|v| v["a"] == a))
        })
        .await;
        wait_until("the exec of the change", Duration::from_secs(20), || {
            lines(&runs).len() == (a - 8) as usize
        })
        .await;
    }
    // A change elsewhere in the tree that leaves this view alone rewrites
    // nothing and runs nothing; the next real change runs once.
    set(&admin, &svc, "parent/child2", json!({"a": 99})).await;
    set(&admin, &svc, "parent/child1", json!({"a": 20})).await;
    wait_until("the last change", Duration::from_secs(20), || {
        lines(&runs).len() == 12
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reads = reader.join().unwrap();
    assert!(reads > 10, "the reader ran ({reads} reads)");

    let status = export.stop();
    assert!(
        status.success(),
        "export stops cleanly on SIGTERM: {status}\n{}",
        export.log_text()
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary files are left: {leftovers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_refuses_what_it_cannot_do_with_clear_errors() {
    let zk = shared_zk();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.json");

    let missing = run(jones(&zk)
        .args([
            "export",
            "no-such-service",
            "--association",
            "h",
            "--once",
            "--out",
        ])
        .arg(&out));
    assert_eq!(
        missing.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-service"));

    let bad_name = run(jones(&zk)
        .args(["export", "a/b", "--association", "h", "--once", "--out"])
        .arg(&out));
    assert_eq!(bad_name.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_name.stderr).contains("invalid service name"));

    let no_zk = run(jones(&zk)
        .env_remove("JONES_ZK")
        .args(["export", "svc", "--association", "h", "--once", "--out"])
        .arg(&out));
    assert_eq!(no_zk.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_zk.stderr).contains("--zk"));

    // TOML has no null: the error names the key and nothing is written.
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    set(&admin, &svc, "parent", json!({"a": 1, "gone": null})).await;
    let toml = run(jones(&zk)
        .args([
            "export",
            svc.as_str(),
            "--association",
            "127.0.0.1",
            "--format",
            "toml",
            "--once",
            "--out",
        ])
        .arg(&out));
    assert_eq!(toml.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&toml.stderr).contains("`gone` is null"));
    assert!(!out.exists(), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_catches_up_after_a_zookeeper_restart_and_a_session_expiry() {
    let zk = tokio::task::spawn_blocking(|| jones_testkit::ZooKeeper::start().unwrap())
        .await
        .unwrap();
    let connect = zk.connect_string();
    let svc = fixture(&admin(&connect).await).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app.json");
    let shows = |a: i64| {
        let out = out.clone();
        move || {
            std::fs::read_to_string(&out)
                .is_ok_and(|t| serde_json::from_str::<Value>(&t).is_ok_and(|v| v["a"] == a))
        }
    };
    let mut command = jones(&connect);
    command
        .args([
            "--session-timeout",
            "1",
            "export",
            svc.as_str(),
            "--association",
            "127.0.0.2",
            "--out",
        ])
        .arg(&out);
    let mut export = Running::spawn(command, dir.path());
    wait_until("the first write", Duration::from_secs(20), shows(2)).await;

    let _zk = survive_restart_and_expiry(zk, &export, &svc, [2, 30, 31], |a| shows(a)()).await;
    assert!(export.stop().success(), "{}", export.log_text());
}
