//! Runs a shell command for each update, as `jones watch` and
//! `jones export --exec` need: the data on stdin, `JONES_*` variables, a
//! policy for updates arriving while a run is still going, a timeout
//! (SIGTERM, then SIGKILL five seconds later), an optional signal to the
//! running command when a newer update arrives, and every run's output and
//! exit status logged. Each run gets its own process group, so signals and
//! the final cleanup reach the command's children too.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::task::JoinSet;

/// Grace between SIGTERM and SIGKILL, for timeouts and shutdown.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// What to do with an update that arrives while a run is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Keep at most one waiting update, the newest, and run it next.
    Queue,
    /// Drop it.
    Discard,
    /// Run it at once, beside the running one.
    Parallel,
}

/// One update to run the command for.
#[derive(Debug, Clone)]
pub struct Update {
    /// Written to the command's stdin.
    pub stdin: Vec<u8>,
    /// Extra environment variables (`JONES_*`).
    pub env: Vec<(String, String)>,
    /// How the update is named in logs (e.g. its revision).
    pub label: String,
}

/// How runs are made.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    pub command: String,
    pub mode: Mode,
    pub timeout: Option<Duration>,
    pub notify_signal: Option<Signal>,
}

/// Runs the command per [`RunnerOptions`]; owns every child it starts.
#[derive(Debug)]
pub struct Runner {
    options: RunnerOptions,
    running: HashMap<u64, Pid>,
    waiting: Option<Update>,
    tasks: JoinSet<u64>,
    next_id: u64,
}

impl Runner {
    pub fn new(options: RunnerOptions) -> Self {
        Self {
            options,
            running: HashMap::new(),
            waiting: None,
            tasks: JoinSet::new(),
            next_id: 1,
        }
    }

    /// Takes a new update: runs it, queues it or drops it per the mode.
    pub fn update(&mut self, update: Update) {
        if let Some(signal) = self.options.notify_signal {
            for (id, pid) in &self.running {
                tracing::info!(run = id, %signal, "newer update {}: signalling the running command", update.label);
                let _ = killpg(*pid, signal);
            }
        }
        if self.running.is_empty() || self.options.mode == Mode::Parallel {
            self.start(update);
            return;
        }
        match self.options.mode {
            Mode::Queue => {
                if let Some(old) = self.waiting.replace(update) {
                    tracing::info!("update {} replaced by a newer one before it ran", old.label);
                }
            }
            Mode::Discard => tracing::info!(
                "update {} discarded: the command is still running",
                update.label
            ),
            Mode::Parallel => unreachable!("handled above"),
        }
    }

    /// Waits until a run ends (pending forever while none runs), then starts
    /// the queued update, if any.
    pub async fn run_finished(&mut self) {
        match self.tasks.join_next().await {
            Some(result) => {
                if let Ok(id) = result {
                    self.running.remove(&id);
                }
                if self.running.is_empty() {
                    if let Some(next) = self.waiting.take() {
                        self.start(next);
                    }
                }
            }
            None => std::future::pending().await,
        }
    }

    /// Whether no run is going and none is waiting.
    pub fn is_idle(&self) -> bool {
        self.running.is_empty() && self.waiting.is_none()
    }

    /// Stops every run: SIGTERM to each process group, SIGKILL after the
    /// grace period, and waits until all are gone.
    pub async fn shutdown(&mut self) {
        self.waiting = None;
        for pid in self.running.values() {
            let _ = killpg(*pid, Signal::SIGTERM);
        }
        let deadline = tokio::time::sleep(KILL_GRACE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = self.tasks.join_next() => match next {
                    Some(Ok(id)) => { self.running.remove(&id); }
                    Some(Err(_)) => {}
                    None => break,
                },
                _ = &mut deadline => {
                    for pid in self.running.values() {
                        let _ = killpg(*pid, Signal::SIGKILL);
                    }
                    while self.tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        self.running.clear();
    }

    fn start(&mut self, update: Update) {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.options.command)
            .envs(update.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(run = id, "cannot start `{}`: {e}", self.options.command);
                return;
            }
        };
        let Some(pid) = child.id().map(|p| Pid::from_raw(p as i32)) else {
            return;
        };
        tracing::info!(
            run = id,
            pid = pid.as_raw(),
            "running `{}` for update {}",
            self.options.command,
            update.label
        );
        self.running.insert(id, pid);
        let timeout = self.options.timeout;
        self.tasks.spawn(async move {
            let started = Instant::now();
            let stdin = child.stdin.take();
            let feed = async move {
                if let Some(mut stdin) = stdin {
                    // A command that does not read its stdin closes the pipe: not an error.
                    let _ = stdin.write_all(&update.stdin).await;
                }
            };
            let out = forward(id, "stdout", child.stdout.take());
            let err = forward(id, "stderr", child.stderr.take());
            let wait = async {
                match timeout {
                    None => child.wait().await,
                    Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
                        Ok(status) => status,
                        Err(_) => {
                            tracing::warn!(run = id, "timed out after {limit:?}: SIGTERM");
                            let _ = killpg(pid, Signal::SIGTERM);
                            match tokio::time::timeout(KILL_GRACE, child.wait()).await {
                                Ok(status) => status,
                                Err(_) => {
                                    tracing::warn!(
                                        run = id,
                                        "still running {KILL_GRACE:?} after SIGTERM: SIGKILL"
                                    );
                                    let _ = killpg(pid, Signal::SIGKILL);
                                    child.wait().await
                                }
                            }
                        }
                    },
                }
            };
            let (status, ..) = tokio::join!(wait, feed, out, err);
            let elapsed = started.elapsed();
            match status {
                Ok(status) if status.success() => {
                    tracing::info!(run = id, "exited 0 after {elapsed:?}")
                }
                Ok(status) => tracing::warn!(run = id, "exited with {status} after {elapsed:?}"),
                Err(e) => tracing::error!(run = id, "could not wait for the command: {e}"),
            }
            // The group may hold children the command left behind.
            let _ = killpg(pid, Signal::SIGKILL);
            id
        });
    }
}

/// Logs each line a run writes.
async fn forward(id: u64, stream: &'static str, pipe: Option<impl tokio::io::AsyncRead + Unpin>) {
    let Some(pipe) = pipe else { return };
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::info!(run = id, "{stream}: {line}");
    }
}

/// Parses a signal name: `HUP`, `SIGHUP`, `usr1`, or a number.
pub fn parse_signal(name: &str) -> Result<Signal, String> {
    if let Ok(number) = name.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| format!("unknown signal number {number}"));
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<Signal>()
        .map_err(|_| format!("unknown signal {name:?} (try HUP, USR1, TERM)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("HUP").unwrap(), Signal::SIGHUP);
        assert_eq!(parse_signal("sigusr1").unwrap(), Signal::SIGUSR1);
        assert_eq!(parse_signal("15").unwrap(), Signal::SIGTERM);
        assert!(parse_signal("NOPE").unwrap_err().contains("NOPE"));
    }
}
