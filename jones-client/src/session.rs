//! The session keeper: one live ZooKeeper session, rebuilt after expiry.
//!
//! A `zookeeper_client::Client` reconnects by itself after a lost
//! connection, but session expiry is final for it: every call returns
//! `SessionExpired` from then on. [`Session`] owns the client, watches its
//! state, and when the session expires (or cannot be established) connects
//! a new one, over and over, until it is dropped. Everything that reads
//! ZooKeeper through a [`Session`] asks it for the *current* client and
//! listens to [`SessionState`] changes to know when to read again.
//!
//! A fleet that loses ZooKeeper together must not come back together: a
//! new session after expiry is built after a random delay of up to a
//! quarter of the session timeout (at most 1 s), and failed attempts are
//! retried after jittered, doubling pauses.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client::{Client, SessionState as ZkState};

use crate::Error;
use crate::driver::Backoff;
use crate::jitter;

/// Default negotiated session timeout.
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// First and last pause between attempts to establish a session (each
/// drawn from the upper half of its step, see [`Backoff`]).
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// How long [`Session::stop`] waits for the server to close the session:
/// well within a second, so that `close()` ends everything in one.
const CLOSE_WAIT: Duration = Duration::from_millis(750);

/// Where a [`Session`] stands, as seen by everything that reads through it.
#[derive(Debug, Clone)]
pub struct SessionState {
    /// The client of the current session, `None` before the first session
    /// is established (and after it ended for good).
    pub client: Option<Client>,
    /// Increases by one each time a new session (a new client) replaces the
    /// previous one, after an expiry.
    pub generation: u64,
    /// Increases by one at every (re)connection of the current session.
    /// One-shot watches survive a reconnect (the client re-arms them with
    /// the last zxid seen and ZooKeeper fires those whose znode changed),
    /// so readers holding watches need not read again; a read that failed
    /// while disconnected is due again.
    pub connection: u64,
    /// Whether the current session is connected right now.
    pub connected: bool,
    /// Since when no session is connected, while none is: from the start
    /// until the first session connects, and from a lost connection, an
    /// expiry or the end of the session on.
    pub disconnected_since: Option<SystemTime>,
    /// The last failure to establish or keep a session, if any.
    pub last_error: Option<String>,
    /// Whether the session ended for good (the client was supplied by the
    /// app and expired, or authentication failed): nothing will be read
    /// through this session any more.
    pub ended: bool,
}

/// Owns a ZooKeeper session and replaces it after expiry; see the module
/// docs. Dropping it stops its task and closes the session.
///
/// ```no_run
/// # async fn demo() {
/// let session = jones_client::Session::connect("127.0.0.1:2181", std::time::Duration::from_secs(5));
/// let mut state = session.subscribe();
/// let client = state.wait_for(|s| s.connected).await.unwrap().client.clone().unwrap();
/// let (data, stat) = client.get_data("/services").await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct Session {
    state: watch::Receiver<SessionState>,
    /// Kept to take the client out of the state when the session is
    /// dropped: receivers may outlive it, the session must not.
    sender: watch::Sender<SessionState>,
    task: JoinHandle<()>,
    description: Arc<str>,
}

impl Session {
    /// Starts keeping a session to `connect_string` (hosts, then an optional
    /// chroot: `host1:2181,host2:2181/chroot`). Returns at once; the session
    /// is established in the background and retried until it is.
    ///
    /// Must be called inside a tokio runtime.
    pub fn connect(connect_string: &str, session_timeout: Duration) -> Self {
        Self::connect_with_auth(connect_string, session_timeout, Vec::new())
    }

    /// [`Self::connect`], adding each `(scheme, auth)` to every session
    /// (the first and each rebuilt one) before it is used: `("digest",
    /// b"user:password")` for trees whose ACLs name a digest user.
    pub fn connect_with_auth(
        connect_string: &str,
        session_timeout: Duration,
        auth: Vec<(String, Vec<u8>)>,
    ) -> Self {
        let source = Source::ConnectString {
            connect_string: connect_string.to_owned(),
            session_timeout,
            auth,
        };
        Self::spawn(source, None, connect_string.into())
    }

    /// Keeps the session of an existing client. Such a session cannot be
    /// rebuilt after expiry (the connect string is not known): when it
    /// expires, [`SessionState::ended`] is set and the error says so.
    pub fn from_client(client: Client) -> Self {
        Self::spawn(Source::Supplied, Some(client), "a supplied client".into())
    }

    fn spawn(source: Source, client: Option<Client>, description: Arc<str>) -> Self {
        let (tx, state) = watch::channel(SessionState {
            client: None,
            generation: 0,
            connection: 0,
            connected: false,
            // Nothing read yet: stale from the start until connected.
            disconnected_since: Some(SystemTime::now()),
            last_error: None,
            ended: false,
        });
        let task = tokio::spawn(keep(source, client, tx.clone()));
        Self {
            state,
            sender: tx,
            task,
            description,
        }
    }

    /// A receiver of the session's state; `changed()` fires on every
    /// connect, disconnect and new session.
    pub fn subscribe(&self) -> watch::Receiver<SessionState> {
        self.state.clone()
    }

    /// The state right now.
    pub fn state(&self) -> SessionState {
        self.state.borrow().clone()
    }

    /// The client of the current session, if one is established.
    pub fn client(&self) -> Option<Client> {
        self.state.borrow().client.clone()
    }

    /// Waits until a session is connected and returns its client; fails
    /// with [`Error::Unavailable`] when `timeout` passes first.
    pub async fn connected_client(&self, timeout: Duration) -> Result<Client, Error> {
        let mut state = self.subscribe();
        let waited = tokio::time::timeout(timeout, state.wait_for(|s| s.connected || s.ended));
        let unavailable = |reason: String| Error::Unavailable {
            connect_string: self.description.to_string(),
            reason,
        };
        match waited.await {
            Ok(Ok(s)) if s.connected => Ok(s.client.clone().expect("connected has a client")),
            Ok(Ok(s)) => Err(unavailable(
                s.last_error
                    .clone()
                    .unwrap_or_else(|| "session ended".into()),
            )),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => {
                let last = self.state.borrow().last_error.clone();
                Err(unavailable(format!(
                    "no session within {timeout:?}{}",
                    last.map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                )))
            }
        }
    }

    /// What the session connects to, for messages.
    pub fn description(&self) -> &str {
        &self.description
    }
}

impl Session {
    /// Stops the task, closes the session and waits until the server has
    /// acknowledged the close (for at most 750 ms). Clones of the
    /// client held elsewhere (a supplied client the app kept, say) keep the
    /// session open: it closes when the last one is dropped.
    pub async fn stop(mut self) {
        let states = self
            .state
            .borrow()
            .client
            .as_ref()
            .map(Client::state_watcher);
        self.task.abort();
        let _ = (&mut self.task).await;
        self.release();
        if let Some(mut states) = states {
            // With the last clone gone, the client sends CloseSession and
            // reports `Closed` once the server answered.
            let closed = async {
                while !states.peek_state().is_terminated() {
                    states.changed().await;
                }
            };
            if tokio::time::timeout(CLOSE_WAIT, closed).await.is_err() {
                tracing::debug!("the ZooKeeper session did not close within {CLOSE_WAIT:?}");
            }
        }
    }

    /// Drops the client held in the state (closing the session once the
    /// keeper task is gone too).
    fn release(&self) {
        self.sender.send_modify(|s| {
            s.client = None;
            s.connected = false;
            s.ended = true;
            s.disconnected_since.get_or_insert_with(SystemTime::now);
        });
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The task and the state hold the client; dropping both drops the
        // last clone, which closes the session.
        self.task.abort();
        self.release();
    }
}

enum Source {
    ConnectString {
        connect_string: String,
        session_timeout: Duration,
        /// `(scheme, auth)` pairs added to each session; never logged.
        auth: Vec<(String, Vec<u8>)>,
    },
    Supplied,
}

/// Syncs a new session with the leader, retrying with backoff until it
/// succeeds; `false` when the session ended first (expired, closed,
/// authentication refused): build another one.
async fn synced(client: &Client, tx: &watch::Sender<SessionState>) -> bool {
    let mut pause = Backoff::between(RETRY_MIN, RETRY_MAX);
    loop {
        let error = match client.sync("/").await {
            Ok(()) => return true,
            Err(e) => e,
        };
        tracing::debug!(error = %error, "sync of a new session failed; retrying");
        tx.send_modify(|s| s.last_error = Some(format!("cannot sync a new session: {error}")));
        use zookeeper_client::Error as Zk;
        let ended = matches!(
            error,
            Zk::SessionExpired | Zk::ClientClosed | Zk::AuthFailed
        );
        if ended || client.state().is_terminated() {
            return false;
        }
        tokio::time::sleep(pause.next()).await;
    }
}

/// The keeper task: establish, watch, rebuild after expiry.
async fn keep(source: Source, mut supplied: Option<Client>, tx: watch::Sender<SessionState>) {
    let mut pause = Backoff::between(RETRY_MIN, RETRY_MAX);
    loop {
        let client = match (supplied.take(), &source) {
            (Some(client), _) => client,
            (
                None,
                Source::ConnectString {
                    connect_string,
                    session_timeout,
                    auth,
                },
            ) => {
                let connector = auth.iter().fold(
                    Client::connector().with_session_timeout(*session_timeout),
                    |connector, (scheme, auth)| connector.with_auth(scheme, auth),
                );
                let connecting = connector.connect(connect_string);
                match connecting.await {
                    Ok(client) => {
                        pause.reset();
                        client
                    }
                    Err(e) => {
                        tracing::warn!(connect_string, error = %e, "cannot establish a ZooKeeper session");
                        tx.send_modify(|s| s.last_error = Some(format!("cannot connect: {e}")));
                        tokio::time::sleep(pause.next()).await;
                        continue;
                    }
                }
            }
            (None, Source::Supplied) => {
                tx.send_modify(|s| {
                    s.client = None;
                    s.connected = false;
                    s.ended = true;
                    s.disconnected_since.get_or_insert_with(SystemTime::now);
                    s.last_error = Some(
                        "the session of the supplied ZooKeeper client expired; \
                         it cannot be rebuilt without a connect string"
                            .into(),
                    );
                });
                return;
            }
        };
        // Every session, the first too, may land on a follower that is
        // behind what was already served (from the cache, or by an earlier
        // session): catch it up with the leader before anyone reads.
        // A session that cannot be synced is not handed out: retried with
        // backoff, or replaced when it ended meanwhile.
        if !synced(&client, &tx).await {
            continue;
        }
        let mut states = client.state_watcher();
        let connected = matches!(
            states.state(),
            ZkState::SyncConnected | ZkState::ConnectedReadOnly
        );
        tracing::debug!(session = ?client.session_id(), "ZooKeeper session established");
        tx.send_modify(|s| {
            s.client = Some(client.clone());
            s.generation += 1;
            s.connection += 1;
            s.connected = connected;
            if connected {
                s.disconnected_since = None;
            } else {
                s.disconnected_since.get_or_insert_with(SystemTime::now);
            }
            if connected {
                s.last_error = None;
            }
        });
        loop {
            match states.changed().await {
                ZkState::Disconnected => {
                    tracing::info!("ZooKeeper connection lost; serving the last config");
                    tx.send_modify(|s| {
                        s.connected = false;
                        s.disconnected_since.get_or_insert_with(SystemTime::now);
                    });
                }
                ZkState::SyncConnected | ZkState::ConnectedReadOnly => {
                    tracing::info!("ZooKeeper connection restored");
                    tx.send_modify(|s| {
                        s.connected = true;
                        s.connection += 1;
                        s.disconnected_since = None;
                        s.last_error = None;
                    });
                }
                ZkState::Expired => {
                    tracing::warn!("ZooKeeper session expired; starting a new one");
                    tx.send_modify(|s| {
                        s.connected = false;
                        s.disconnected_since.get_or_insert_with(SystemTime::now);
                        s.last_error = Some("session expired".into());
                    });
                    // Every client of the session's server expired at
                    // once; spread their new sessions.
                    tokio::time::sleep(jitter::uniform(jitter::spread(client.session_timeout())))
                        .await;
                    break;
                }
                ZkState::AuthFailed => {
                    tx.send_modify(|s| {
                        s.client = None;
                        s.connected = false;
                        s.ended = true;
                        s.disconnected_since.get_or_insert_with(SystemTime::now);
                        s.last_error = Some("ZooKeeper authentication failed".into());
                    });
                    return;
                }
                ZkState::Closed => {
                    tx.send_modify(|s| {
                        s.client = None;
                        s.connected = false;
                        s.ended = true;
                        s.disconnected_since.get_or_insert_with(SystemTime::now);
                        s.last_error = Some("the ZooKeeper client was closed".into());
                    });
                    return;
                }
            }
        }
    }
}
