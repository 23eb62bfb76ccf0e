//! The long-running commands, `jones export` and `jones watch`: configs (or
//! any znode) read from ZooKeeper through `jones-client`, so they inherit
//! its reconnect and session-expiry handling; they log every change of the
//! connection and stop cleanly on SIGINT or SIGTERM.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use jones_client::{
    JonesClient, Nodemap, ServiceLayout, ServiceName, Session, Snapshot, Status, Znode,
    ZnodeWatcher,
};
use tokio::signal::unix::{SignalKind, signal};

use crate::atomic::replace_if_changed;
use crate::cli::{ExportArgs, WatchArgs};
use crate::error::{CliError, Result};
use crate::formats::render;
use crate::runner::{Mode, Runner, RunnerOptions, Update, parse_signal};

/// How often the connection state is checked for the log.
const STATUS_POLL: Duration = Duration::from_millis(250);

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() -> Result<()> {
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| CliError::failed(format!("cannot catch SIGTERM: {e}")))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| CliError::failed(format!("cannot catch SIGINT: {e}")))?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
    Ok(())
}

/// Where and how the live commands reach ZooKeeper.
#[derive(Debug, Clone)]
pub struct ZkTarget {
    /// `host:port[,host:port][/chroot]`, from `--zk` or `JONES_ZK`.
    pub connect: Option<String>,
    /// The session timeout.
    pub session_timeout: Duration,
}

impl ZkTarget {
    fn connect_string(&self) -> Result<&str> {
        self.connect.as_deref().ok_or_else(|| {
            CliError::invalid(
                "this command reads ZooKeeper directly: give --zk HOST:PORT or set JONES_ZK",
            )
        })
    }
}

async fn connect(zk: &ZkTarget, service: &str, association: &str) -> Result<JonesClient> {
    ServiceName::new(service)?;
    jones_client::NameKind::Association.check_readable(association)?;
    Ok(JonesClient::builder(service)
        .zk(zk.connect_string()?)
        .session_timeout(zk.session_timeout)
        .association(association)
        .build()
        .await?)
}

/// Logs the client's connection changes: losses, reconnects, new sessions.
struct ConnectionLog {
    last: Option<(bool, u64)>,
}

impl ConnectionLog {
    fn observe(&mut self, status: &Status) {
        let now = (status.connected, status.sessions);
        if self.last == Some(now) {
            return;
        }
        match self.last {
            Some((_, sessions)) if status.sessions > sessions => {
                tracing::warn!(
                    "new ZooKeeper session #{} (the previous one expired); config re-read",
                    status.sessions
                )
            }
            Some((true, _)) if !status.connected => tracing::warn!(
                "lost the ZooKeeper connection ({}); serving the last config",
                status.last_error.as_deref().unwrap_or("no detail")
            ),
            Some((false, _)) if status.connected => tracing::info!("reconnected to ZooKeeper"),
            _ => {}
        }
        self.last = Some(now);
    }
}

fn snapshot_update(service: &str, association: &str, snapshot: &Snapshot) -> Update {
    let layout = ServiceLayout::new(ServiceName::new(service).expect("validated at connect"));
    let env = layout
        .env_of_view_path(&snapshot.view_path)
        .map(|e| e.to_string())
        .unwrap_or_default();
    let (mzxid, version) = snapshot
        .revision
        .map(|r| (r.mzxid.to_string(), r.version.to_string()))
        .unwrap_or_default();
    let mut stdin = serde_json::to_vec_pretty(&snapshot.config).expect("JSON serializes");
    stdin.push(b'\n');
    Update {
        stdin,
        label: format!("revision {mzxid}"),
        env: vec![
            ("JONES_SERVICE".into(), service.into()),
            ("JONES_ASSOCIATION".into(), association.into()),
            ("JONES_ENV".into(), env),
            ("JONES_VIEW_PATH".into(), snapshot.view_path.clone()),
            ("JONES_REVISION".into(), mzxid),
            ("JONES_VERSION".into(), version),
        ],
    }
}

/// `jones export`: keeps a file equal to an association's config.
pub async fn export(args: ExportArgs, zk: &ZkTarget) -> Result<()> {
    let client = connect(zk, &args.service, &args.association).await?;
    let mut snapshots = client.subscribe();
    let mut runner = args.exec.as_ref().map(|command| {
        Runner::new(RunnerOptions {
            command: command.clone(),
            mode: Mode::Queue,
            timeout: None,
            notify_signal: None,
        })
    });
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut log = ConnectionLog { last: None };
    let mut poll = tokio::time::interval(STATUS_POLL);
    let mut outcome = Ok(());
    let mut changed = true;
    let mut last_written = None;
    loop {
        if !changed {
            tokio::select! {
                result = snapshots.changed() => if result.is_err() { break } else { changed = true },
                _ = async { match runner.as_mut() { Some(r) => r.run_finished().await, None => std::future::pending().await } } => {}
                _ = poll.tick() => log.observe(&client.status()),
                result = &mut shutdown => { outcome = result; break }
            }
            continue;
        }
        changed = false;
        let snapshot: Arc<Snapshot> = snapshots.borrow_and_update().clone();
        match write_export(&args, &snapshot, &mut last_written) {
            Ok(true) => {
                if let Some(runner) = runner.as_mut() {
                    runner.update(snapshot_update(&args.service, &args.association, &snapshot));
                }
            }
            Ok(false) => {}
            // `--out -` and the reader has gone: nothing more to write to.
            Err(e) if e.kind == "broken_pipe" => break,
            Err(e) if args.once => {
                outcome = Err(e);
                break;
            }
            Err(e) => tracing::error!("{e}; {} keeps its previous content", args.out.display()),
        }
        if args.once {
            if let Some(runner) = runner.as_mut() {
                while !runner.is_idle() {
                    runner.run_finished().await;
                }
            }
            break;
        }
    }
    if let Some(runner) = runner.as_mut() {
        runner.shutdown().await;
    }
    client.close().await;
    outcome
}

/// Writes the config to `--out`: a file replaced atomically, or with `-`
/// stdout (each new config once, the reader's going ending the export).
/// `last` holds what stdout got last. Returns whether anything was written.
fn write_export(args: &ExportArgs, snapshot: &Snapshot, last: &mut Option<String>) -> Result<bool> {
    let text = render(&snapshot.config, args.format)?;
    let written = if args.out.as_os_str() == "-" {
        if last.as_deref() == Some(text.as_str()) {
            false
        } else {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| {
                    let error = CliError::failed(format!("cannot write to stdout: {e}"));
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        error.with_kind("broken_pipe")
                    } else {
                        error
                    }
                })?;
            *last = Some(text);
            true
        }
    } else {
        replace_if_changed(&args.out, text.as_bytes())
            .map_err(|e| CliError::failed(format!("cannot write {}: {e}", args.out.display())))?
    };
    if written {
        let revision = snapshot
            .revision
            .map(|r| r.mzxid.to_string())
            .unwrap_or_else(|| "none".into());
        tracing::info!("wrote {} (revision {revision})", args.out.display());
    }
    Ok(written)
}

/// `jones watch`: runs a command for each change.
pub async fn watch(args: WatchArgs, zk: &ZkTarget) -> Result<()> {
    let notify_signal = args
        .notify_signal
        .as_deref()
        .map(parse_signal)
        .transpose()
        .map_err(CliError::invalid)?;
    let timeout = match args.timeout {
        Some(secs) if secs.is_finite() && secs > 0.0 => Some(Duration::from_secs_f64(secs)),
        Some(secs) => {
            return Err(CliError::invalid(format!(
                "--timeout must be a positive number of seconds, not {secs}"
            )));
        }
        None => None,
    };
    let runner = Runner::new(RunnerOptions {
        command: args.exec.clone(),
        mode: args.mode,
        timeout,
        notify_signal,
    });
    match &args.znode {
        Some(path) => watch_znode(zk, path, args.on_load, runner).await,
        None => {
            let service = args
                .service
                .as_deref()
                .expect("clap requires it without --znode");
            let association = args
                .association
                .as_deref()
                .expect("clap requires it without --znode");
            watch_config(zk, service, association, args.on_load, runner).await
        }
    }
}

async fn watch_config(
    zk: &ZkTarget,
    service: &str,
    association: &str,
    on_load: bool,
    mut runner: Runner,
) -> Result<()> {
    let client = connect(zk, service, association).await?;
    let mut snapshots = client.subscribe();
    let first = snapshots.borrow_and_update().clone();
    tracing::info!("watching {service} for {association} ({})", first.view_path);
    if on_load {
        runner.update(snapshot_update(service, association, &first));
    }
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut log = ConnectionLog { last: None };
    let mut poll = tokio::time::interval(STATUS_POLL);
    let outcome = loop {
        tokio::select! {
            changed = snapshots.changed() => {
                if changed.is_err() { break Ok(()) }
                let snapshot = snapshots.borrow_and_update().clone();
                runner.update(snapshot_update(service, association, &snapshot));
            }
            _ = runner.run_finished() => {}
            _ = poll.tick() => log.observe(&client.status()),
            result = &mut shutdown => break result,
        }
    };
    runner.shutdown().await;
    client.close().await;
    outcome
}

async fn watch_znode(zk: &ZkTarget, path: &str, on_load: bool, mut runner: Runner) -> Result<()> {
    if !path.starts_with('/') {
        return Err(CliError::invalid(format!(
            "--znode must be an absolute path, not {path:?}"
        )));
    }
    let session = Session::connect(zk.connect_string()?, zk.session_timeout);
    let mut states = session.subscribe();
    let mut watcher = ZnodeWatcher::new(&session, path);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut first = true;
    let mut connected = None;
    let outcome = loop {
        tokio::select! {
            changed = watcher.changed() => {
                let znode = match changed { Ok(z) => z, Err(e) => break Err(e.into()) };
                match znode {
                    Znode::Present { data, stat } => {
                        if !first || on_load {
                            runner.update(Update {
                                stdin: data.to_vec(),
                                label: format!("mzxid {}", stat.mzxid),
                                env: vec![
                                    ("JONES_ZNODE".into(), path.into()),
                                    ("JONES_REVISION".into(), stat.mzxid.to_string()),
                                    ("JONES_VERSION".into(), stat.version.to_string()),
                                ],
                            });
                        }
                    }
                    Znode::Missing => tracing::warn!("{path} does not exist; waiting for it"),
                    Znode::Unknown => continue,
                }
                first = false;
            }
            _ = runner.run_finished() => {}
            state = states.changed() => {
                if state.is_err() { break Ok(()) }
                let state = states.borrow_and_update().clone();
                if connected != Some(state.connected) {
                    match (connected, state.connected) {
                        (Some(true), false) => tracing::warn!("lost the ZooKeeper connection ({})", state.last_error.as_deref().unwrap_or("no detail")),
                        (Some(false), true) => tracing::info!("reconnected to ZooKeeper (session generation {})", state.generation),
                        _ => {}
                    }
                    connected = Some(state.connected);
                }
            }
            result = &mut shutdown => break result,
        }
    };
    runner.shutdown().await;
    watcher.stop().await;
    session.stop().await;
    outcome
}

/// `jones view --zk`: the config an association reads, straight from
/// ZooKeeper as an app would read it, and whether the nodemap names it.
pub async fn view(zk: &ZkTarget, service: &str, association: &str, json: bool) -> Result<()> {
    let client = connect(zk, service, association).await?;
    let snapshot = client.snapshot();
    client.close().await;
    let layout = ServiceLayout::new(ServiceName::new(service)?);
    let associated = read_nodemap(zk, layout.nodemap_path())
        .await?
        .get(association)
        .is_some();
    let env = layout
        .env_of_view_path(&snapshot.view_path)
        .ok()
        .map(|e| e.to_string());
    crate::admin::print_view(
        &crate::admin::view_json(
            service,
            association,
            associated,
            env,
            &snapshot.view_path,
            &snapshot.config,
        ),
        json,
    );
    Ok(())
}

/// The nodemap at `path`, read once (empty when it does not exist).
async fn read_nodemap(zk: &ZkTarget, path: &str) -> Result<Nodemap> {
    let session = Session::connect(zk.connect_string()?, zk.session_timeout);
    let mut watcher = ZnodeWatcher::new(&session, path);
    let limit = zk.session_timeout.max(Duration::from_secs(10));
    let read = tokio::time::timeout(limit, async {
        loop {
            match watcher.changed().await? {
                Znode::Present { data, .. } => return Ok(Nodemap::parse(&data)?),
                Znode::Missing => return Ok(Nodemap::new()),
                Znode::Unknown => continue,
            }
        }
    })
    .await;
    watcher.stop().await;
    session.stop().await;
    match read {
        Ok(result) => result,
        Err(_) => Err(CliError::unavailable(format!(
            "cannot read {path} from ZooKeeper within {limit:?}"
        ))
        .with_kind("zookeeper_unavailable")),
    }
}
