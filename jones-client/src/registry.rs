//! The client's registration in its service's client registry: one
//! ephemeral znode per session, `{clients_path}/c{session id}`, holding a
//! [`ClientRecord`] of what the client has applied, so operators see which
//! clients run which revision.
//!
//! - The znode is created once a session is up (connected) and the first
//!   config read from ZooKeeper is applied, with an open ACL; its path is
//!   [`crate::JonesClient::registration`]. Its name is the session's id in
//!   hex, so a create whose answer was lost with the connection, and then
//!   retried, meets `NodeExists` on a znode its own session owns: it is
//!   adopted (and rewritten), never duplicated.
//! - After each newly applied revision it is rewritten at a bounded rate:
//!   the first write after a change waits a uniform random delay in
//!   `[0, interval)`, and no write comes sooner than `interval` after the
//!   previous one. Changes applied meanwhile are coalesced: the write
//!   carries the latest. So one change that reaches every client of a
//!   service costs one write per client, spread over one interval, and a
//!   burst of changes costs each client at most one write per interval
//!   (plus the first).
//! - Writes wait for a connected session: after a reconnect a pending
//!   write waits its random delay again, so a fleet does not write at once.
//! - The znode goes with its session: a session that expires takes it, and
//!   the new session registers anew (a new znode, a new path); closing the
//!   client closes the session, which removes it.
//! - A service without a `clients` directory (written by original Jones)
//!   or whose registry the session may not write (`NoAuth`) is followed
//!   without registering: logged once, nothing counted, tried again with
//!   the next session.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio::time::Instant;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::session::SessionState;
use crate::stats::Counters;
use crate::{CLIENT_ZNODE_PREFIX, ClientRecord, ServiceLayout, jitter};

/// What the driver has applied, as the registry reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    /// The view the config was read from.
    pub(crate) view: String,
    /// The view's `mzxid` at that read.
    pub(crate) revision: i64,
    /// When it was applied, in milliseconds since the Unix epoch.
    pub(crate) applied_ms: u64,
}

impl Applied {
    pub(crate) fn new(view: &str, revision: i64) -> Self {
        Self {
            view: view.to_owned(),
            revision,
            applied_ms: now_ms(),
        }
    }

    /// Whether a record of `self` says the same as one of `other`.
    fn same_revision(&self, other: &Applied) -> bool {
        self.view == other.view && self.revision == other.revision
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Keeps one client's registration; see the module docs.
pub(crate) struct Registry {
    pub(crate) layout: ServiceLayout,
    pub(crate) association: String,
    /// The shortest interval between two writes.
    pub(crate) interval: Duration,
    pub(crate) counters: Arc<Counters>,
    /// What the driver applied last; `None` before the first config.
    pub(crate) applied: watch::Receiver<Option<Applied>>,
    pub(crate) started_ms: u64,
}

/// Why one session's registration ended.
enum Ended {
    /// The client is closing.
    Shutdown,
    /// The session is gone (expired, replaced, ended).
    Session,
    /// The znode is gone while the session lives: register again.
    Lost,
    /// This session cannot register (no directory, `NoAuth`).
    NotHere(String),
}

impl Registry {
    /// Registers each session until `shutdown`.
    pub(crate) async fn run(
        mut self,
        mut session: watch::Receiver<SessionState>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let host = tokio::task::spawn_blocking(crate::host::fqdn)
            .await
            .unwrap_or_default();
        let mut skip: Option<u64> = None;
        let mut said = false;
        // Kept across sessions: no two attempts closer than the interval,
        // whatever ended the one before.
        let mut last_attempt: Option<Instant> = None;
        loop {
            let Some((client, generation)) = self.ready(&mut session, &mut shutdown, skip).await
            else {
                break;
            };
            match self
                .keep(
                    &client,
                    generation,
                    &mut last_attempt,
                    &mut session,
                    &mut shutdown,
                    &host,
                )
                .await
            {
                Ended::Shutdown => break,
                Ended::Session | Ended::Lost => {}
                Ended::NotHere(why) => {
                    skip = Some(generation);
                    if !said {
                        said = true;
                        tracing::info!(
                            registry = %self.layout.clients_path(),
                            "not registering this client: {why}; trying again with the next session"
                        );
                    }
                }
            }
            self.counters.set_registration(None);
        }
        self.counters.set_registration(None);
    }

    /// Waits for a connected session (of another generation than `skip`)
    /// and a first applied config; `None` at shutdown.
    async fn ready(
        &mut self,
        session: &mut watch::Receiver<SessionState>,
        shutdown: &mut watch::Receiver<bool>,
        skip: Option<u64>,
    ) -> Option<(Client, u64)> {
        loop {
            if *shutdown.borrow() {
                return None;
            }
            let current = {
                let s = session.borrow_and_update();
                match &s.client {
                    Some(client) if s.connected && Some(s.generation) != skip => {
                        Some((client.clone(), s.generation))
                    }
                    _ => None,
                }
            };
            if let Some(current) = current {
                if self.applied.borrow_and_update().is_some() {
                    return Some(current);
                }
            }
            tokio::select! {
                changed = session.changed() => changed.ok()?,
                changed = self.applied.changed() => changed.ok()?,
                _ = shutdown.changed() => return None,
            }
        }
    }

    /// Registers through `client` and keeps the record current until the
    /// session goes. Every attempt waits until the interval since
    /// `last_attempt` passed: a session that fails each request at once
    /// (expired, but not yet seen so by the session keeper) is retried at
    /// that rate, never in a loop that does not yield.
    #[allow(clippy::too_many_arguments)]
    async fn keep(
        &mut self,
        client: &Client,
        generation: u64,
        last_attempt: &mut Option<Instant>,
        session: &mut watch::Receiver<SessionState>,
        shutdown: &mut watch::Receiver<bool>,
        host: &str,
    ) -> Ended {
        let path = registration_path(&self.layout, client.session_id().0);
        let options = CreateMode::Ephemeral.with_acls(Acls::anyone_all());
        let mut written = loop {
            if last_attempt.is_some() {
                if let Some(ended) = self
                    .pause(*last_attempt, false, generation, session, shutdown)
                    .await
                {
                    return ended;
                }
            }
            let applied = self.latest();
            let data = self.record(&applied, host).to_bytes();
            *last_attempt = Some(Instant::now());
            let created = tokio::select! {
                created = client.create(&path, &data, &options) => created,
                () = gone(session, generation) => return Ended::Session,
                _ = shutdown.changed() => return Ended::Shutdown,
            };
            use zookeeper_client::Error as Zk;
            match created {
                Ok(_) => {
                    self.counters.registry_write();
                    break Some(applied);
                }
                // An earlier create of this session landed, but its answer
                // was lost with the connection: the znode is this
                // session's, with a record that may be behind.
                Err(Zk::NodeExists) => match self.owned(client, &path).await {
                    Ok(true) => break None,
                    Ok(false) => {
                        return Ended::NotHere(format!("{path} is held by another session"));
                    }
                    Err(ended) => return ended,
                },
                Err(Zk::NoNode) => {
                    return Ended::NotHere(format!(
                        "{} does not exist",
                        self.layout.clients_path()
                    ));
                }
                Err(Zk::NoAuth) => {
                    return Ended::NotHere(format!(
                        "creating under {} is not allowed by its ACL (NoAuth)",
                        self.layout.clients_path()
                    ));
                }
                Err(Zk::SessionExpired | Zk::ClientClosed | Zk::SessionMoved) => {
                    return Ended::Session;
                }
                Err(e) => tracing::debug!(error = %e, "cannot register yet; retrying"),
            }
        };
        tracing::debug!(path, "registered in the client registry");
        self.counters.set_registration(Some(path.clone()));
        loop {
            // Wait for a revision the record does not say yet.
            while self
                .applied
                .borrow_and_update()
                .as_ref()
                .is_none_or(|a| written.as_ref().is_some_and(|w| a.same_revision(w)))
            {
                tokio::select! {
                    changed = self.applied.changed() => if changed.is_err() { return Ended::Shutdown },
                    () = gone(session, generation) => return Ended::Session,
                    _ = shutdown.changed() => return Ended::Shutdown,
                }
            }
            // A random delay below the interval, and at least the
            // interval since the last write; then the latest revision.
            loop {
                if let Some(ended) = self
                    .pause(*last_attempt, true, generation, session, shutdown)
                    .await
                {
                    return ended;
                }
                let applied = self.latest();
                let data = self.record(&applied, host).to_bytes();
                *last_attempt = Some(Instant::now());
                let set = tokio::select! {
                    set = client.set_data(&path, &data, None) => set,
                    () = gone(session, generation) => return Ended::Session,
                    _ = shutdown.changed() => return Ended::Shutdown,
                };
                use zookeeper_client::Error as Zk;
                match set {
                    Ok(_) => {
                        self.counters.registry_write();
                        written = Some(applied);
                        break;
                    }
                    Err(Zk::NoNode) => return Ended::Lost,
                    Err(Zk::SessionExpired | Zk::ClientClosed | Zk::SessionMoved) => {
                        return Ended::Session;
                    }
                    Err(e) => {
                        tracing::debug!(path, error = %e, "cannot update the registration; retrying")
                    }
                }
            }
        }
    }

    /// Waits before a write: for a connected session (then a random part
    /// of the interval, so writes held by a lost connection spread out),
    /// a random part of the interval when `jittered`, and at least the
    /// interval since `last`. `Some` when the wait ended otherwise.
    async fn pause(
        &self,
        last: Option<Instant>,
        jittered: bool,
        generation: u64,
        session: &mut watch::Receiver<SessionState>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Ended> {
        let mut at = Instant::now();
        if jittered {
            at += jitter::uniform(self.interval);
        }
        if let Some(last) = last {
            at = at.max(last + self.interval);
        }
        tokio::select! {
            () = tokio::time::sleep_until(at) => {}
            () = gone(session, generation) => return Some(Ended::Session),
            _ = shutdown.changed() => return Some(Ended::Shutdown),
        }
        if !session.borrow().connected {
            tokio::select! {
                connected = session.wait_for(|s| s.connected || s.generation != generation || s.client.is_none()) => {
                    if connected.is_err() {
                        return Some(Ended::Shutdown);
                    }
                }
                _ = shutdown.changed() => return Some(Ended::Shutdown),
            }
            let delay = jitter::uniform(self.interval);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = gone(session, generation) => return Some(Ended::Session),
                _ = shutdown.changed() => return Some(Ended::Shutdown),
            }
        }
        let s = session.borrow();
        (s.generation != generation || s.client.is_none()).then_some(Ended::Session)
    }

    /// Whether the znode at `path` belongs to `client`'s session; `Err`
    /// when the session ended or the znode went meanwhile (register
    /// again).
    async fn owned(&self, client: &Client, path: &str) -> Result<bool, Ended> {
        use zookeeper_client::Error as Zk;
        match client.check_stat(path).await {
            Ok(Some(stat)) => Ok(stat.ephemeral_owner == client.session_id().0),
            Ok(None) => Err(Ended::Lost),
            Err(Zk::SessionExpired | Zk::ClientClosed | Zk::SessionMoved) => Err(Ended::Session),
            Err(e) => {
                tracing::debug!(path, error = %e, "cannot check the registration; retrying");
                Err(Ended::Lost)
            }
        }
    }

    /// The latest applied config (there is one: registration waits for it).
    fn latest(&self) -> Applied {
        self.applied
            .borrow()
            .clone()
            .expect("registration starts after the first config")
    }

    fn record(&self, applied: &Applied, host: &str) -> ClientRecord {
        ClientRecord {
            association: self.association.clone(),
            view: applied.view.clone(),
            revision: Some(applied.revision),
            applied_ms: Some(applied.applied_ms),
            started_ms: self.started_ms,
            client: concat!("jones-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            host: host.to_owned(),
            pid: std::process::id(),
        }
    }
}

/// The registration znode of the session `session_id`: one name per
/// session, so a create retried after a lost answer finds its own znode.
fn registration_path(layout: &ServiceLayout, session_id: i64) -> String {
    format!(
        "{}/{CLIENT_ZNODE_PREFIX}{:016x}",
        layout.clients_path(),
        session_id as u64
    )
}

/// Resolves once the session of `generation` is gone (replaced, ended) or
/// the session keeper stopped.
async fn gone(session: &mut watch::Receiver<SessionState>, generation: u64) {
    let _ = session
        .wait_for(|s| s.generation != generation || s.client.is_none())
        .await;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jones_testkit::ZooKeeper;
    use zookeeper_client::Client;

    use super::*;

    /// A client whose session expired (the server froze past its timeout):
    /// every request on it fails at once, without ever waiting.
    async fn expired_client(zk: &ZooKeeper) -> Client {
        let client = Client::connector()
            .with_session_timeout(Duration::from_secs(1))
            .connect(&zk.connect_string())
            .await
            .unwrap();
        let mut states = client.state_watcher();
        zk.pause().unwrap();
        while !states.peek_state().is_terminated() {
            states.changed().await;
        }
        zk.resume().unwrap();
        client
    }

    /// Between a session's expiry and the session keeper noticing it, the
    /// state still says connected while every request fails at once. The
    /// registry must wait for the state to move on, not retry in a loop
    /// that never yields: on a busy runtime such loops took every worker
    /// and starved the session keepers, so no session ever came back.
    #[test]
    fn a_dead_session_still_shown_connected_does_not_take_the_runtime() {
        let zk = ZooKeeper::start().unwrap();
        let client = tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(expired_client(&zk));
        let (done, finished) = std::sync::mpsc::channel();
        let layout = ServiceLayout::new(crate::ServiceName::new("svc").unwrap());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let (_session_tx, session) = watch::channel(SessionState {
                    client: Some(client),
                    generation: 1,
                    connection: 1,
                    connected: true,
                    disconnected_since: None,
                    last_error: None,
                    ended: false,
                });
                let (_applied_tx, applied) = watch::channel(Some(Applied::new(
                    &layout.view_path(&crate::EnvPath::root()),
                    1,
                )));
                let (stop, shutdown) = watch::channel(false);
                let registry = Registry {
                    layout,
                    association: "a".into(),
                    interval: Duration::from_millis(100),
                    counters: Arc::default(),
                    applied,
                    started_ms: now_ms(),
                };
                let task = tokio::spawn(registry.run(session, shutdown));
                tokio::time::sleep(Duration::from_millis(500)).await;
                stop.send(true).unwrap();
                task.await.unwrap();
            });
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(30))
            .expect("the registry yielded to the rest of the runtime");
    }
}
