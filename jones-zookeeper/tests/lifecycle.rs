//! A local ZooKeeper's whole life on a real server: started with its data
//! kept, stopped cleanly and restarted with the data, and never outliving
//! an owner that dies by SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jones_zookeeper::{ZooKeeper, four_letter_word, port_accepts};

/// Set in the child process that holds a server for
/// [`an_owner_killed_by_sigkill_leaves_no_server_behind`].
const CHILD_ENV: &str = "JONES_ZOOKEEPER_TEST_CHILD";

fn exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits until `done` holds, for at most 20 s.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_clean_stop_keeps_the_data_for_a_restart_on_the_same_port() {
    let data = tempfile::tempdir().unwrap();
    let mut zk = ZooKeeper::builder()
        .data_dir(data.path())
        .tick_time(Duration::from_millis(200))
        .start()
        .unwrap();
    assert_eq!(zk.mode().as_deref(), Some("standalone"));
    assert_eq!(zk.data_dir(), data.path());
    let port = zk.port();
    for round in 0..5 {
        let pid = zk.pid().unwrap();
        zk.stop();
        assert!(!exists(pid), "round {round}: pid {pid} still exists");
        assert!(!port_accepts(port), "round {round}: the port still accepts");
        assert!(!zk.is_running());
        zk.restart().unwrap();
        assert_eq!(zk.port(), port);
        assert_eq!(four_letter_word(port, "ruok").unwrap(), "imok");
    }
    let config_dir = zk.dir().to_owned();
    drop(zk);
    assert!(
        !config_dir.exists(),
        "the config directory is removed on drop"
    );
    assert!(
        data.path().join("version-2").is_dir(),
        "the data directory is kept"
    );
}

#[test]
fn an_owner_killed_by_sigkill_leaves_no_server_behind() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "holds_a_server_until_killed", "--nocapture"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let line = stdout
        .lines()
        .map(Result::unwrap)
        .find(|l| l.starts_with("SERVER "))
        .expect("the child reports its server");
    let fields: Vec<&str> = line.split(' ').collect();
    let (pid, port, dir): (u32, u16, PathBuf) = (
        fields[1].parse().unwrap(),
        fields[2].parse().unwrap(),
        fields[3].into(),
    );
    assert!(exists(pid) && port_accepts(port) && dir.exists());

    child.kill().unwrap(); // SIGKILL: no destructor runs in the child.
    child.wait().unwrap();
    eventually("the JVM's exit", || !exists(pid));
    eventually("the port's release", || !port_accepts(port));
    eventually("the directory's removal", || !dir.exists());
}

/// The child of [`an_owner_killed_by_sigkill_leaves_no_server_behind`]:
/// starts a server, reports it, and waits to be killed. Does nothing in a
/// normal test run.
#[test]
fn holds_a_server_until_killed() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let zk = ZooKeeper::start().unwrap();
    println!(
        "SERVER {} {} {}",
        zk.pid().unwrap(),
        zk.port(),
        zk.dir().display()
    );
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}
