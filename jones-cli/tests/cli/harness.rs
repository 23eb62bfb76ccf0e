//! Shared test kit: one ZooKeeper per test binary, services written by the
//! real admin library, the `jones` binary run as a child process that is
//! always stopped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use jones_client::{Config, EnvPath, ServiceName};
use jones_server::{Admin, ZkOptions};
use jones_testkit::{ZooKeeper, unique_name};
use serde_json::{Value, json};

pub fn obj(value: Value) -> Config {
    value.as_object().expect("an object").clone()
}

pub async fn admin(zk: &str) -> Admin {
    Admin::connect(ZkOptions::new(zk))
        .await
        .expect("admin connects")
}

/// A new service with the original Jones fixture tree and associations
/// `127.0.0.1` → parent and `127.0.0.2` → parent/child1.
pub async fn fixture(admin: &Admin) -> ServiceName {
    let svc = ServiceName::new(&unique_name("cli")).unwrap();
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(&svc, &EnvPath::root(), obj(json!({"foo": "bar"})), None)
        .await
        .unwrap();
    for (env, config) in [
        ("parent", json!({"a": 1, "b": [1, 2, 3], "c": {"x": 0}})),
        ("parent/child1", json!({"a": 2})),
        ("parent/child2", json!({"a": 3})),
    ] {
        admin
            .create_env(&svc, &EnvPath::new(env).unwrap(), obj(config))
            .await
            .unwrap();
    }
    admin
        .set_association(&svc, "127.0.0.1", &EnvPath::new("parent").unwrap())
        .await
        .unwrap();
    admin
        .set_association(&svc, "127.0.0.2", &EnvPath::new("parent/child1").unwrap())
        .await
        .unwrap();
    svc
}

/// Replaces `env`'s config.
pub async fn set(admin: &Admin, svc: &ServiceName, env: &str, config: Value) {
    admin
        .set_env(svc, &EnvPath::new(env).unwrap(), obj(config), None)
        .await
        .unwrap();
}

pub fn shared_zk() -> String {
    ZooKeeper::shared().connect_string()
}

/// The `jones` binary with `--zk` pointing at `zk`.
pub fn jones(zk: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jones"));
    command
        .env_remove("JONES_SERVER")
        .env_remove("JONES_TOKEN")
        .env("JONES_ZK", zk)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    command
}

/// Runs `command` to completion.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("jones runs")
}

/// A long-running `jones`, stopped with SIGTERM (then SIGKILL) on drop; its
/// log goes to a file for assertions.
pub struct Running {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Running {
    pub fn spawn(mut command: Command, dir: &Path) -> Self {
        let log = dir.join(format!("jones-{}.log", unique_name("log")));
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("jones starts");
        Self {
            child: Some(child),
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
    }
}

/// Polls `check` until it holds or `timeout` passes; panics with `what`.
pub async fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The lines of a file, empty when it does not exist yet.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A real Jones server over HTTP on a free loopback port, stopped on drop.
pub struct TestServer {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(zk: &str, token: Option<&str>) -> Self {
        Self::start_with(admin(zk).await, token).await
    }

    /// A server on `admin` (e.g. with another nodemap format).
    pub async fn start_with(admin: Admin, token: Option<&str>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = jones_server::http::ServerState::new(admin, token.map(str::to_owned));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(jones_server::http::serve(listener, state, async move {
            let _ = stopped.await;
        }));
        Self {
            url,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the server and waits until it has stopped.
    pub async fn stop(mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Runs `jones` with `args` against `server` and ZooKeeper `zk`, off the
/// async runtime's threads.
pub async fn jones_at(zk: &str, server: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = jones(zk);
    command.env("JONES_SERVER", server).args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap()
}

/// `jones` bound to ZooKeeper `zk` and a test server: `cli.run(&[...])`.
pub struct Cli {
    zk: String,
    url: String,
}

impl Cli {
    pub fn new(zk: &str, server: &TestServer) -> Self {
        Self {
            zk: zk.to_owned(),
            url: server.url.clone(),
        }
    }

    pub async fn run(&self, args: &[&str]) -> Output {
        jones_at(&self.zk, &self.url, args, &[]).await
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "jones failed: {}{}",
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Crashes and restarts `zk`, then freezes it past a 1 s session timeout.
/// `values[0]` is parent/child1's "a" before: `reached` must still hold for it
/// while ZooKeeper is down. After the restart and after the expiry, "a" is
/// set to `values[1]` and `values[2]` and each must be reached. `running`
/// must log both the loss and the new session.
pub async fn survive_restart_and_expiry(
    mut zk: ZooKeeper,
    running: &Running,
    svc: &ServiceName,
    values: [i64; 3],
    reached: impl Fn(i64) -> bool,
) -> ZooKeeper {
    let connect = zk.connect_string();
    zk.stop();
    wait_until("the loss is logged", Duration::from_secs(20), || {
        running.log_text().contains("lost the ZooKeeper connection")
    })
    .await;
    assert!(
        reached(values[0]),
        "the last config is kept while ZooKeeper is down"
    );
    zk = tokio::task::spawn_blocking(move || {
        zk.restart().unwrap();
        zk
    })
    .await
    .unwrap();
    set(
        &admin(&connect).await,
        svc,
        "parent/child1",
        json!({"a": values[1]}),
    )
    .await;
    wait_until(
        "the change after the restart",
        Duration::from_secs(30),
        || reached(values[1]),
    )
    .await;

    // Frozen longer than the session timeout: the session expires.
    zk.pause().unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    zk.resume().unwrap();
    wait_until("a new session", Duration::from_secs(30), || {
        running.log_text().contains("new ZooKeeper session")
    })
    .await;
    set(
        &admin(&connect).await,
        svc,
        "parent/child1",
        json!({"a": values[2]}),
    )
    .await;
    wait_until(
        "the change after the expiry",
        Duration::from_secs(30),
        || reached(values[2]),
    )
    .await;
    zk
}

/// Runs `jones` with `args` against `server` like [`jones_at`], with
/// `input` on its stdin.
pub async fn jones_input(zk: &str, server: &str, args: &[&str], input: &[u8]) -> Output {
    let mut command = jones(zk);
    command
        .env("JONES_SERVER", server)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let input = input.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("jones starts");
        let mut stdin = child.stdin.take().unwrap();
        // jones may not read it all (an error first): a closed pipe is fine.
        let _ = std::io::Write::write_all(&mut stdin, &input);
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// The `--json` error object `jones` printed on stderr.
#[track_caller]
pub fn json_error(output: &Output) -> Value {
    let text = stderr(output);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON error on stderr: {text}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// A TCP proxy in front of a server that holds the first request whose
/// request line starts with a given method until [`HoldingProxy::release`],
/// so a test can act between what a command reads and what it writes.
pub struct HoldingProxy {
    pub url: String,
    /// The held request's line (`PUT /api/v1/… HTTP/1.1`), once it arrives.
    pub held: Option<tokio::sync::oneshot::Receiver<String>>,
    release: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl HoldingProxy {
    pub async fn start(server_url: &str, method: &str) -> Self {
        use std::sync::{Arc, Mutex};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let upstream = server_url.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let own = listener.local_addr().unwrap().to_string();
        let url = format!("http://{own}");
        // The server answers only to its own address: requests are sent on
        // with their Host header naming it.
        let host_from = format!("Host: {own}\r\n").into_bytes();
        let host_to = format!("Host: {upstream}\r\n").into_bytes();
        let (held_tx, held) = tokio::sync::oneshot::channel();
        let (release, release_rx) = tokio::sync::oneshot::channel::<()>();
        let trigger = Arc::new(Mutex::new(Some((held_tx, release_rx))));
        let prefix = format!("{method} ").into_bytes();
        let task = tokio::spawn(async move {
            let mut pumps = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                pumps.spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                });
                let trigger = trigger.clone();
                let prefix = prefix.clone();
                let (host_from, host_to) = (host_from.clone(), host_to.clone());
                pumps.spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if buf[..n].starts_with(&prefix) {
                            let taken = trigger.lock().unwrap().take();
                            if let Some((held_tx, release_rx)) = taken {
                                let text = String::from_utf8_lossy(&buf[..n]);
                                let _ = held_tx
                                    .send(text.lines().next().unwrap_or_default().to_owned());
                                let _ = release_rx.await;
                            }
                        }
                        let chunk = replace_bytes(&buf[..n], &host_from, &host_to);
                        if server_write.write_all(&chunk).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self {
            url,
            held: Some(held),
            release: Some(release),
            task,
        }
    }

    /// Lets the held request through.
    pub fn release(&mut self) {
        let _ = self.release.take().map(|r| r.send(()));
    }
}

/// `data` with every `from` replaced by `to` (ASCII case-insensitive).
fn replace_bytes(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].len() >= from.len() && data[i..i + from.len()].eq_ignore_ascii_case(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

impl Drop for HoldingProxy {
    fn drop(&mut self) {
        self.release();
        self.task.abort();
    }
}
