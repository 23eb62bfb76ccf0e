//! `jones watch`: stdin and variables, the three modes with a slow command,
//! timeouts, notify signals, any znode, and surviving ZooKeeper restarts and
//! session expiry.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jones_testkit::ZooKeeper;
use serde_json::{Value, json};

use crate::harness::*;

/// A command that logs `start A` and `end A` around a sleep, where A is the
/// config's "a".
fn slow_command(log: &Path, seconds: f64) -> String {
    format!(
        "a=$(grep -o '\"a\": [0-9]*' | head -n 1 | tr -dc 0-9); echo \"start $a\" >> '{log}'; sleep {seconds}; echo \"end $a\" >> '{log}'",
        log = log.display()
    )
}

fn watch_command(zk: &str, svc: &str, exec: &str, extra: &[&str]) -> std::process::Command {
    let mut command = jones(zk);
    command
        .args(["watch", svc, "--association", "127.0.0.2", "--exec", exec])
        .args(extra);
    command
}

/// A fixture service, a temporary directory with a `runs.log`, and a way to
/// start `jones watch` on them.
struct Scene {
    zk: String,
    admin: jones_server::Admin,
    svc: jones_client::ServiceName,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Scene {
    async fn new() -> Self {
        let zk = shared_zk();
        let admin = admin(&zk).await;
        let svc = fixture(&admin).await;
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runs.log");
        Self {
            zk,
            admin,
            svc,
            dir,
            log,
        }
    }

    /// `jones watch` of 127.0.0.2 running `exec` (`{log}` stands for the log path).
    fn watch(&self, exec: &str, extra: &[&str]) -> Running {
        let exec = exec.replace("{log}", &self.log.display().to_string());
        Running::spawn(
            watch_command(&self.zk, self.svc.as_str(), &exec, extra),
            self.dir.path(),
        )
    }

    fn log(&self) -> Vec<String> {
        lines(&self.log)
    }

    async fn set_child1(&self, a: i64) {
        set(&self.admin, &self.svc, "parent/child1", json!({"a": a})).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_gets_the_config_on_stdin_and_jones_variables() {
    let zk = shared_zk();
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let exec = format!(
        "cat > '{d}/stdin-'\"$JONES_VERSION\"; env | grep '^JONES_' | sort > '{d}/env-'\"$JONES_VERSION\"",
        d = dir.path().display()
    );
    let _watch = Running::spawn(watch_command(&zk, svc.as_str(), &exec, &[]), dir.path());
    let find = |prefix: &str| {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
    };
    wait_until("the on-load run", Duration::from_secs(20), || {
        find("env-").is_some_and(|p| !lines(&p).is_empty())
    })
    .await;
    let stdin: Value =
        serde_json::from_str(&std::fs::read_to_string(find("stdin-").unwrap()).unwrap()).unwrap();
    assert_eq!(
        stdin,
        json!({"foo": "bar", "a": 2, "b": [1, 2, 3], "c": {"x": 0}})
    );
    let env = lines(&find("env-").unwrap());
    assert!(env.contains(&format!("JONES_SERVICE={svc}")), "{env:?}");
    assert!(
        env.contains(&"JONES_ENV=parent/child1".to_owned()),
        "{env:?}"
    );
    assert!(
        env.contains(&"JONES_ASSOCIATION=127.0.0.2".to_owned()),
        "{env:?}"
    );
    assert!(
        env.iter()
            .any(|l| l.starts_with("JONES_REVISION=") && l.len() > "JONES_REVISION=".len()),
        "{env:?}"
    );
}

/// Starts a watch in `mode` with a slow command, waits for its on-load run to
/// start, and makes three updates while it runs.
async fn three_updates_during_a_slow_run(mode: &str) -> (Scene, Running) {
    let scene = Scene::new().await;
    let watch = scene.watch(&slow_command(&scene.log, 2.5), &["--mode", mode]);
    wait_until("the on-load run starts", Duration::from_secs(20), || {
        scene.log() == ["start 2"]
    })
    .await;
    for a in [11, 12, 13] {
        scene.set_child1(a).await;
    }
    (scene, watch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_mode_runs_only_the_newest_waiting_update() {
    let (scene, mut watch) = three_updates_during_a_slow_run("queue").await;
    wait_until("the queued run ends", Duration::from_secs(20), || {
        scene.log().len() >= 4
    })
    .await;
    assert_eq!(
        scene.log(),
        ["start 2", "end 2", "start 13", "end 13"],
        "{}",
        watch.log_text()
    );
    assert!(watch.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_mode_drops_updates_that_arrive_during_a_run() {
    let (scene, mut watch) = three_updates_during_a_slow_run("discard").await;
    wait_until("the first run ends", Duration::from_secs(20), || {
        scene.log().len() >= 2
    })
    .await;
    // The next update after the run is taken again.
    scene.set_child1(14).await;
    wait_until("the next run ends", Duration::from_secs(20), || {
        scene.log().len() >= 4
    })
    .await;
    assert_eq!(
        scene.log(),
        ["start 2", "end 2", "start 14", "end 14"],
        "{}",
        watch.log_text()
    );
    assert!(watch.log_text().contains("discarded"));
    assert!(watch.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_mode_overlaps_runs() {
    let (scene, mut watch) = three_updates_during_a_slow_run("parallel").await;
    wait_until("every run ends", Duration::from_secs(20), || {
        scene.log().len() >= 8
    })
    .await;
    let log = scene.log();
    let first_end = log.iter().position(|l| l == "end 2").unwrap();
    let later_starts = log[..first_end]
        .iter()
        .filter(|l| l.starts_with("start 1"))
        .count();
    assert!(
        later_starts >= 1,
        "an update started while the first run went on: {log:?}"
    );
    assert!(log.contains(&"end 13".to_owned()), "{log:?}");
    assert!(watch.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_over_its_timeout_gets_sigterm_then_sigkill() {
    let scene = Scene::new().await;
    let mut watch = scene.watch(
        "trap 'echo term >> \"{log}\"' TERM; echo start >> '{log}'; while :; do sleep 0.1; done",
        &["--timeout", "0.5"],
    );
    wait_until(
        "the timed-out run is killed",
        Duration::from_secs(20),
        || watch.log_text().contains("exited with signal: 9"),
    )
    .await;
    assert_eq!(scene.log()[..2], ["start", "term"], "{}", watch.log_text());
    assert!(watch.log_text().contains("SIGKILL"));
    assert!(watch.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_update_signals_the_running_command() {
    let scene = Scene::new().await;
    let mut watch = scene.watch(
        "trap 'echo usr1 >> \"{log}\"' USR1; echo start >> '{log}'; i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done",
        &["--notify-signal", "USR1", "--mode", "discard"],
    );
    wait_until("the run starts", Duration::from_secs(20), || {
        scene.log() == ["start"]
    })
    .await;
    scene.set_child1(5).await;
    wait_until("the signal arrives", Duration::from_secs(20), || {
        scene.log().contains(&"usr1".to_owned())
    })
    .await;
    // Stopping the watch stops the run too.
    assert!(watch.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_znode_can_be_watched() {
    let zk = shared_zk();
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("nodemap.log");
    let mut command = jones(&zk);
    command
        .args([
            "watch",
            "--znode",
            &format!("/services/{svc}/nodemaps"),
            "--exec",
        ])
        .arg(format!(
            "cat >> '{}'; echo >> '{}'",
            log.display(),
            log.display()
        ));
    let mut watch = Running::spawn(command, dir.path());
    wait_until("the on-load run", Duration::from_secs(20), || {
        lines(&log).iter().any(|l| l.contains(r#""127.0.0.2":"#))
    })
    .await;
    admin
        .set_association(
            &svc,
            "web-01",
            &jones_client::EnvPath::new("parent").unwrap(),
        )
        .await
        .unwrap();
    wait_until("the change", Duration::from_secs(20), || {
        lines(&log).iter().any(|l| l.contains(r#""web-01":"#))
    })
    .await;
    assert!(watch.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_survives_a_zookeeper_restart_and_a_session_expiry() {
    let zk = tokio::task::spawn_blocking(|| ZooKeeper::start().unwrap())
        .await
        .unwrap();
    let connect = zk.connect_string();
    let svc = fixture(&admin(&connect).await).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("values.log");
    let exec = format!(
        "grep -o '\"a\": [0-9]*' | head -n 1 | tr -dc 0-9 >> '{log}'; echo >> '{log}'",
        log = log.display()
    );
    let mut command = jones(&connect);
    command.args([
        "--session-timeout",
        "1",
        "watch",
        svc.as_str(),
        "--association",
        "127.0.0.2",
        "--exec",
        &exec,
    ]);
    let mut watch = Running::spawn(command, dir.path());
    wait_until("the on-load run", Duration::from_secs(20), || {
        lines(&log) == ["2"]
    })
    .await;

    let _zk = survive_restart_and_expiry(zk, &watch, &svc, [2, 20, 21], |a| {
        lines(&log).contains(&a.to_string())
    })
    .await;
    assert!(watch.stop().success(), "{}", watch.log_text());
}
