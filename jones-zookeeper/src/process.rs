//! One ZooKeeper server process, watched over so it never outlives its owner.
//!
//! The JVM is started by a small `sh` guardian whose standard input is a pipe
//! from this process. When the pipe closes without a word — the owner
//! dropped the handle without stopping it, panicked, or died, even by a
//! signal — the guardian kills the JVM and removes the server's cleanup
//! directory. So a server kept in a `static` for a whole program is cleaned
//! up too.
//!
//! Stopping is a protocol between this process and the guardian, so that
//! [`ServerProcess::stop`] and [`ServerProcess::kill`] return only once the
//! JVM is gone and its client port closed:
//!
//! 1. this process signals the JVM itself (SIGTERM then, after a grace
//!    period, SIGKILL; or SIGKILL at once), with SIGCONT so that a paused
//!    JVM acts on it. The JVM's pid cannot have been reused meanwhile: it is
//!    the guardian's child, and the guardian reaps it only in step 2;
//! 2. it writes `stop` to the guardian, which then waits for (reaps) the JVM
//!    and exits, keeping the directory;
//! 3. it waits for (reaps) the guardian. A JVM is reaped only once dead,
//!    and a dead process has closed its sockets, so the listener is gone;
//! 4. it checks both anyway, from the outside: no process with the JVM's
//!    pid still runs our config (if the guardian was killed by someone
//!    else, the JVM is killed here), and, if the JVM ever answered on its
//!    client port (so the listener there was its own), the port refuses
//!    connections. Each wait is bounded by [`RELEASE_TIMEOUT`]: a port
//!    taken by another program after ours closed is not waited for longer.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::{Error, Installation, four_letter_word, mode_of, port_accepts};

/// The guardian: starts the JVM and prints its pid. On `stop` it waits for
/// the JVM (which its owner signals) and keeps the directory; when its
/// standard input ends without `stop` it kills the JVM and removes
/// `$cleanup`.
const GUARDIAN: &str = r#"
log=$1; cleanup=$2; shift 2
"$@" >>"$log" 2>&1 </dev/null &
zk=$!
echo "$zk"
while read -r line; do
  if [ "$line" = stop ]; then wait "$zk" 2>/dev/null; exit 0; fi
done
kill -9 "$zk" 2>/dev/null
wait "$zk" 2>/dev/null
if [ -n "$cleanup" ]; then rm -rf "$cleanup"; fi
"#;

/// How long a server may take to answer after its JVM started.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`ServerProcess::stop`] lets the JVM shut down after SIGTERM
/// before it kills it.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How long a stop waits for the client port to refuse connections once
/// the JVM has been reaped.
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// The JVM heap a server gets unless told otherwise: enough for tests.
///
/// ZooKeeper keeps its last 500 committed transactions in memory (for
/// followers catching up; `zookeeper.commitLogCount` may not go lower), so
/// a server taking transactions near its 1 MiB limit needs about 500 MiB
/// for them alone: such a server needs [`ServerProcess::with_heap_mb`].
pub const DEFAULT_HEAP_MB: u32 = 256;

/// A ZooKeeper server process started from a config file: running or
/// stopped, with what it takes to start it again.
///
/// Most programs want [`crate::ZooKeeper`], which writes the config too;
/// this is for servers configured by hand, such as the nodes of an ensemble.
///
/// ```no_run
/// use jones_zookeeper::{Installation, ServerProcess};
///
/// let dir = std::path::Path::new("/tmp/zk");
/// std::fs::write(dir.join("zoo.cfg"), "tickTime=2000\ndataDir=/tmp/zk/data\nclientPort=2181\n")?;
/// let mut server = ServerProcess::new(Installation::locate()?, dir.join("zoo.cfg"), dir.to_owned(), 2181);
/// server.start()?;
/// server.wait_until_serving()?;
/// server.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ServerProcess {
    install: Installation,
    config: PathBuf,
    log: PathBuf,
    cleanup: PathBuf,
    client_port: u16,
    heap_mb: u32,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    guardian: Child,
    stdin: ChildStdin,
    jvm: Pid,
    /// Whether the JVM answered on the client port: only then is the
    /// port's listener known to be its own, to be waited for at stop.
    answered: AtomicBool,
}

/// How to end the JVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// SIGTERM, then SIGKILL after [`STOP_GRACE`].
    Graceful,
    /// SIGKILL, as a crash.
    Crash,
}

impl ServerProcess {
    /// A server to be started from `config` (its log goes beside it, with
    /// the extension `.log`), serving on loopback `client_port`; `cleanup`
    /// is removed if the owner dies without stopping it.
    pub fn new(install: Installation, config: PathBuf, cleanup: PathBuf, client_port: u16) -> Self {
        let log = config.with_extension("log");
        Self {
            install,
            config,
            log,
            cleanup,
            client_port,
            heap_mb: DEFAULT_HEAP_MB,
            running: None,
        }
    }

    /// Gives the JVM a heap of `mb` MiB instead of [`DEFAULT_HEAP_MB`]
    /// (thousands of sessions need more).
    pub fn with_heap_mb(mut self, mb: u32) -> Self {
        self.heap_mb = mb;
        self
    }

    /// The client port from the config.
    pub fn client_port(&self) -> u16 {
        self.client_port
    }

    /// Whether the JVM was started and not stopped since (it may be paused,
    /// or have died by itself).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The JVM's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.jvm.as_raw().unsigned_abs())
    }

    /// The file the server logs to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Starts the JVM. Does not wait for it to serve; see
    /// [`Self::wait_until_serving`]. Starting a running server does nothing.
    pub fn start(&mut self) -> Result<(), Error> {
        if self.running.is_some() {
            return Ok(());
        }
        let mut guardian = Command::new("sh")
            .arg("-c")
            .arg(GUARDIAN)
            .arg("zookeeper-guardian")
            .arg(&self.log)
            .arg(&self.cleanup)
            .arg(&self.install.java)
            .arg(format!("-Xmx{}m", self.heap_mb))
            .args([
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Xshare:auto",
                "-Dzookeeper.admin.enableServer=false",
                "-Dzookeeper.4lw.commands.whitelist=*",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp",
            ])
            .arg(&self.install.classpath)
            .arg(main_class(&self.config))
            .arg(&self.config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Start(format!("cannot run sh: {e}")))?;
        let stdin = guardian.stdin.take().expect("stdin is piped");
        let stdout = guardian.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| Error::Start(format!("guardian gave no pid: {e}")))?;
        let jvm = match line.trim().parse() {
            Ok(pid) => Pid::from_raw(pid),
            Err(_) => {
                drop(stdin);
                let _ = guardian.wait();
                return Err(Error::Start(format!("guardian gave no pid: {line:?}")));
            }
        };
        self.running = Some(Running {
            guardian,
            stdin,
            jvm,
            answered: AtomicBool::new(false),
        });
        Ok(())
    }

    /// Polls the four-letter word `probe` on the client port until `accept`
    /// takes its answer, the JVM dies, or [`START_TIMEOUT`] passes.
    pub fn wait_until(&self, probe: &str, accept: impl Fn(&str) -> bool) -> Result<(), Error> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let last = match four_letter_word(self.client_port, probe) {
                Ok(answer) if accept(&answer) => {
                    if let Some(running) = &self.running {
                        running.answered.store(true, Ordering::Relaxed);
                    }
                    return Ok(());
                }
                Ok(answer) => answer,
                Err(e) => e.to_string(),
            };
            if !self.is_alive() {
                return Err(Error::Start(format!(
                    "ZooKeeper on port {} exited during start; its log:\n{}",
                    self.client_port,
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::Start(format!(
                    "ZooKeeper on port {} did not answer `{probe}` within {START_TIMEOUT:?} (last: {last:?}); its log:\n{}",
                    self.client_port,
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the server serves requests: `ruok` answers `imok` as
    /// soon as the process listens, a moment before the database is loaded,
    /// while `srvr` reports a `Mode:` only once the server serves.
    pub fn wait_until_serving(&self) -> Result<(), Error> {
        self.wait_until("ruok", |answer| answer == "imok")?;
        self.wait_until("srvr", |answer| mode_of(answer).is_some())
    }

    /// Stops the server cleanly: SIGTERM, and SIGKILL if it is still there
    /// after [`STOP_GRACE`]. Returns once the JVM is reaped and its client
    /// port refuses connections; the data is kept for a restart.
    pub fn stop(&mut self) {
        self.end(Ending::Graceful);
    }

    /// Kills the server with SIGKILL, as a crash would. Returns once the JVM
    /// is reaped and its client port refuses connections; the data is kept
    /// for a restart.
    pub fn kill(&mut self) {
        self.end(Ending::Crash);
    }

    /// Freezes the JVM (SIGSTOP): clients see it go silent, as in a long GC
    /// pause or a network partition. Returns once every thread of the JVM
    /// has stopped: a signal is only queued when `kill` returns, and a
    /// thread still running could answer one more request.
    pub fn pause(&self) -> Result<(), Error> {
        self.signal(Signal::SIGSTOP)?;
        self.wait_for_threads("stop", |state| matches!(state, 'T' | 't' | 'Z' | 'X'))
    }

    /// Thaws a paused JVM (SIGCONT). Returns once no thread is stopped.
    pub fn resume(&self) -> Result<(), Error> {
        self.signal(Signal::SIGCONT)?;
        self.wait_for_threads("continue", |state| !matches!(state, 'T' | 't'))
    }

    /// Waits until the state of every thread of the JVM satisfies `done`.
    fn wait_for_threads(&self, what: &str, done: impl Fn(char) -> bool) -> Result<(), Error> {
        let pid = self
            .running
            .as_ref()
            .ok_or_else(|| Error::Signal("the server is not running".into()))?
            .jvm;
        let deadline = Instant::now() + RELEASE_TIMEOUT;
        loop {
            let states = thread_states(pid);
            if !states.is_empty() && states.iter().copied().all(&done) {
                return Ok(());
            }
            if states.is_empty() || Instant::now() > deadline {
                return Err(Error::Signal(format!(
                    "the threads of ZooKeeper (pid {pid}) did not {what} within {RELEASE_TIMEOUT:?}: states {states:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn signal(&self, signal: Signal) -> Result<(), Error> {
        let running = self
            .running
            .as_ref()
            .ok_or_else(|| Error::Signal("the server is not running".into()))?;
        kill(running.jvm, signal).map_err(|e| Error::Signal(format!("kill {signal}: {e}")))
    }

    fn end(&mut self, ending: Ending) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        // Steps 1 and 2 of the module doc: signal, then let the guardian reap.
        let first = match ending {
            Ending::Graceful => Signal::SIGTERM,
            Ending::Crash => Signal::SIGKILL,
        };
        let _ = kill(running.jvm, first);
        let _ = kill(running.jvm, Signal::SIGCONT);
        let _ = running.stdin.write_all(b"stop\n");
        drop(running.stdin);
        // Step 3: the guardian exits once it has reaped the JVM.
        if ending == Ending::Graceful {
            let deadline = Instant::now() + STOP_GRACE;
            while matches!(running.guardian.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(running.guardian.try_wait(), Ok(None)) {
                let _ = kill(running.jvm, Signal::SIGKILL);
            }
        }
        let _ = running.guardian.wait();
        // Step 4: check from the outside.
        if runs_config(running.jvm, &self.config) {
            // Only if the guardian died before reaping it: the JVM was
            // handed to init, which reaps it once it is dead.
            let _ = kill(running.jvm, Signal::SIGKILL);
        }
        let answered = running.answered.load(Ordering::Relaxed);
        let deadline = Instant::now() + RELEASE_TIMEOUT;
        while (runs_config(running.jvm, &self.config)
            || (answered && port_accepts(self.client_port)))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the JVM process lives: false once stopped, or if it exited by
    /// itself (a start that failed, a crash). Its pid cannot have been
    /// reused meanwhile: the guardian reaps it only when told to stop.
    pub fn is_alive(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|running| live(running.jvm))
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ServerProcess {
    /// Kills the JVM and waits until it is reaped and its port closed.
    fn drop(&mut self) {
        self.kill();
    }
}

/// The state letter (`R`, `S`, `T`, …) of every thread of `pid`; empty if
/// it is gone.
fn thread_states(pid: Pid) -> Vec<char> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| {
            let stat = fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            rest.trim_start().chars().next()
        })
        .collect()
}

/// Whether `pid` is a live process, not a zombie.
fn live(pid: Pid) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z'))
    })
}

/// Whether `pid` is a live process that may be the server started with
/// `config`: only a readable command line without `config` on it proves it
/// is another process (one that reused the pid).
fn runs_config(pid: Pid, config: &Path) -> bool {
    live(pid)
        && !fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            let config = config.as_os_str().as_encoded_bytes();
            !cmdline.is_empty() && !cmdline.split(|&b| b == 0).any(|arg| arg == config)
        })
}

fn main_class(config: &Path) -> &'static str {
    let text = fs::read_to_string(config).unwrap_or_default();
    if text.lines().any(|l| l.starts_with("server.")) {
        "org.apache.zookeeper.server.quorum.QuorumPeerMain"
    } else {
        "org.apache.zookeeper.server.ZooKeeperServerMain"
    }
}
