//! One ZooKeeper server process, watched over so it never outlives the test.
//!
//! The JVM is started by a small `sh` guardian whose standard input is a pipe
//! from this process. When the pipe closes — the owner dropped the handle,
//! the test panicked, or the whole test binary exited, even by a signal — the
//! guardian kills the JVM and removes the server's directory. So a server
//! kept in a `static` for a whole test binary is cleaned up too.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::{Error, Installation, four_letter_word};

/// The guardian: starts the JVM, prints its pid, and kills it (and removes
/// `$cleanup`) when its standard input ends; `stop` on stdin kills the JVM
/// but keeps the directory for a restart.
const GUARDIAN: &str = r#"
log=$1; cleanup=$2; shift 2
"$@" >>"$log" 2>&1 </dev/null &
zk=$!
echo "$zk"
reason=eof
while read -r line; do
  if [ "$line" = stop ]; then reason=stop; break; fi
done
kill -9 "$zk" 2>/dev/null
wait "$zk" 2>/dev/null
if [ "$reason" = eof ] && [ -n "$cleanup" ]; then rm -rf "$cleanup"; fi
"#;

/// How long a server may take to answer after its JVM started.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running (or stopped) server process, with what it takes to start it again.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    install: Installation,
    config: PathBuf,
    log: PathBuf,
    cleanup: PathBuf,
    client_port: u16,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    guardian: Child,
    stdin: ChildStdin,
    jvm: Pid,
}

impl ServerProcess {
    /// A server started from `config`; `cleanup` is removed when the test
    /// binary dies without dropping the handle.
    pub(crate) fn new(
        install: Installation,
        config: PathBuf,
        cleanup: PathBuf,
        client_port: u16,
    ) -> Self {
        let log = config.with_extension("log");
        Self {
            install,
            config,
            log,
            cleanup,
            client_port,
            running: None,
        }
    }

    pub(crate) fn client_port(&self) -> u16 {
        self.client_port
    }

    pub(crate) fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts the JVM. Does not wait for it to serve; see [`Self::wait_until`].
    pub(crate) fn start(&mut self) -> Result<(), Error> {
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
            .args([
                "-Xmx256m",
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
        let jvm = line
            .trim()
            .parse()
            .map(Pid::from_raw)
            .map_err(|_| Error::Start(format!("guardian gave no pid: {line:?}")))?;
        self.running = Some(Running {
            guardian,
            stdin,
            jvm,
        });
        Ok(())
    }

    /// Polls `probe` on the client port until it accepts the answer, the
    /// JVM dies, or the start timeout passes.
    pub(crate) fn wait_until(
        &self,
        probe: &str,
        accept: impl Fn(&str) -> bool,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let last = match four_letter_word(self.client_port, probe) {
                Ok(answer) if accept(&answer) => return Ok(()),
                Ok(answer) => answer,
                Err(e) => e.to_string(),
            };
            if !self.jvm_alive() {
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

    /// Kills the JVM (like a crash) and keeps its data for a restart.
    pub(crate) fn stop(&mut self) {
        if let Some(mut running) = self.running.take() {
            // Resume first: a stopped JVM still dies from SIGKILL, but the
            // guardian's `wait` is simpler to reason about on a live one.
            let _ = kill(running.jvm, Signal::SIGCONT);
            let _ = running.stdin.write_all(b"stop\n");
            drop(running.stdin);
            let _ = running.guardian.wait();
        }
    }

    /// Sends `signal` to the JVM.
    pub(crate) fn signal(&self, signal: Signal) -> Result<(), Error> {
        let running = self
            .running
            .as_ref()
            .ok_or_else(|| Error::Start("the server is not running".into()))?;
        kill(running.jvm, signal).map_err(|e| Error::Start(format!("kill {signal}: {e}")))
    }

    fn jvm_alive(&self) -> bool {
        let Some(running) = &self.running else {
            return false;
        };
        // A dead child of the guardian lingers as a zombie until reaped.
        match fs::read_to_string(format!("/proc/{}/stat", running.jvm)) {
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn main_class(config: &Path) -> &'static str {
    let text = fs::read_to_string(config).unwrap_or_default();
    if text.lines().any(|l| l.starts_with("server.")) {
        "org.apache.zookeeper.server.quorum.QuorumPeerMain"
    } else {
        "org.apache.zookeeper.server.ZooKeeperServerMain"
    }
}
