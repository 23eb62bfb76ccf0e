//! The client's health: connection, staleness, read errors by cause, and
//! the revision served; [`Health`] computes [`Status`] and feeds the
//! status stream of [`crate::JonesClient::subscribe_status`].

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::Revision;
use crate::session::SessionState;
use crate::store::Store;

/// How a client stands, from [`crate::JonesClient::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Whether the ZooKeeper session is connected right now.
    pub connected: bool,
    /// Since when the served config may not be the latest: the connection
    /// was lost, the view or nodemap is missing or unreadable, or the config
    /// came from the fallback cache. `None` while it is current.
    pub stale_since: Option<SystemTime>,
    /// Every problem in one line (connection, session, read errors), `None`
    /// once everything is fine again.
    pub last_error: Option<String>,
    /// Each lasting read error with its cause, oldest part first: empty
    /// while the nodemap and view read fine.
    pub errors: Vec<ReadError>,
    /// The revision of the served config, `None` if it did not come from
    /// ZooKeeper.
    pub revision: Option<Revision>,
    /// The view znode the served config was read from.
    pub view_path: String,
    /// Whether the served config came from the fallback cache file.
    pub from_cache: bool,
    /// Whether a config read from ZooKeeper has been served: false while a
    /// client started without waiting serves its defaults or the cache.
    pub ready: bool,
    /// ZooKeeper sessions established so far (more than one after expiry).
    pub sessions: u64,
    /// Switch reads that fell back to off because of a missing key or a
    /// value of the wrong type.
    pub switch_misses: u64,
}

impl Status {
    /// How long the config has been stale, `None` while it is current.
    ///
    /// ```
    /// let client = jones_client::JonesClient::from_config(Default::default());
    /// assert_eq!(client.status().stale_for(), None);
    /// ```
    pub fn stale_for(&self) -> Option<Duration> {
        self.stale_since
            .map(|since| SystemTime::now().duration_since(since).unwrap_or_default())
    }

    /// Whether the served config is current: connected, nothing failing,
    /// not from the cache.
    pub fn is_current(&self) -> bool {
        self.stale_since.is_none() && self.errors.is_empty()
    }
}

/// One lasting failure to read what the client follows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadError {
    /// Why the read fails.
    pub cause: Cause,
    /// The znode concerned (the nodemap, a view, or the cache file).
    pub path: String,
    /// A sentence for logs and health pages.
    pub message: String,
    /// When this failure began.
    pub since: SystemTime,
}

/// Why a read fails; see [`ReadError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// ZooKeeper refused the read: the znode's ACL does not let this
    /// session read it. Retried with backoff.
    NoAuth,
    /// The nodemap points the association at a path that is not a view
    /// of this service; no view is followed until the nodemap is fixed.
    NotAView,
    /// The nodemap or the view is not parseable; the last good config is
    /// served until the next good write.
    Unparseable,
    /// The view the association points to does not exist; it is read as
    /// soon as it is created.
    MissingView,
    /// The read request failed for another reason; retried with backoff.
    ReadFailed,
    /// The config served is the one of the cache file: ZooKeeper could not
    /// be reached at start, or the client started without waiting and has
    /// not read the live config yet.
    Cache,
}

/// Which data a problem is about: one slot each.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    Nodemap = 0,
    View = 1,
    Cache = 2,
}

/// The status of a client, shared by its handles and its driver: read
/// problems recorded by the driver, the session's state, the store's
/// snapshot; and the status stream.
#[derive(Debug)]
pub(crate) struct Health {
    store: Arc<Store>,
    session: Option<watch::Receiver<SessionState>>,
    problems: Mutex<[Option<ReadError>; 3]>,
    /// `None` once the client is closed: receivers then see the end.
    stream: Mutex<Option<watch::Sender<Status>>>,
}

impl Health {
    pub(crate) fn new(
        store: Arc<Store>,
        session: Option<watch::Receiver<SessionState>>,
    ) -> Arc<Self> {
        let health = Self {
            store,
            session,
            problems: Mutex::new([None, None, None]),
            stream: Mutex::new(None),
        };
        let (tx, _) = watch::channel(health.status());
        *health.stream.lock().expect("never poisoned") = Some(tx);
        let health = Arc::new(health);
        health.refresh();
        health
    }

    /// Records a problem; keeps the start time of the part's problem
    /// while it lasts with the same cause.
    pub(crate) fn problem(&self, part: Part, cause: Cause, path: &str, message: String) {
        {
            let mut problems = self.problems.lock().expect("never poisoned");
            let slot = &mut problems[part as usize];
            let since = match slot {
                Some(old) if old.cause == cause => old.since,
                _ => SystemTime::now(),
            };
            *slot = Some(ReadError {
                cause,
                path: path.to_owned(),
                message,
                since,
            });
        }
        self.refresh();
    }

    /// The part reads fine again.
    pub(crate) fn clear(&self, part: Part) {
        let cleared = self.problems.lock().expect("never poisoned")[part as usize]
            .take()
            .is_some();
        if cleared {
            self.refresh();
        }
    }

    /// The status right now.
    pub(crate) fn status(&self) -> Status {
        let snapshot = self.store.load_full();
        let errors: Vec<ReadError> = self
            .problems
            .lock()
            .expect("never poisoned")
            .iter()
            .flatten()
            .cloned()
            .collect();
        let (connected, disconnected_since, session_error, sessions) = match &self.session {
            Some(session) => {
                let s = session.borrow();
                (
                    s.connected,
                    s.disconnected_since,
                    (!s.connected).then(|| {
                        s.last_error
                            .clone()
                            .unwrap_or_else(|| "not connected to ZooKeeper".into())
                    }),
                    s.generation,
                )
            }
            None => (false, None, None, 0),
        };
        let stale_since = errors
            .iter()
            .map(|e| e.since)
            .chain(disconnected_since)
            .min();
        let mut messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        messages.extend(session_error.as_deref());
        let last_error = (!messages.is_empty()).then(|| messages.join("; "));
        Status {
            connected,
            stale_since,
            last_error,
            errors,
            revision: snapshot.revision,
            view_path: snapshot.view_path.clone(),
            from_cache: snapshot.from_cache,
            ready: self.store.is_ready(),
            sessions,
            switch_misses: self.store.switch_misses(),
        }
    }

    /// Sends the status to the stream when it changed (a moving switch
    /// miss counter alone is no change).
    pub(crate) fn refresh(&self) {
        let status = self.status();
        self.store.set_stale(!status.is_current());
        if let Some(tx) = self.stream.lock().expect("never poisoned").as_ref() {
            tx.send_if_modified(|current| {
                let changed = Status {
                    switch_misses: current.switch_misses,
                    ..status.clone()
                } != *current;
                if changed {
                    *current = status;
                }
                changed
            });
        }
    }

    /// A receiver of status changes; ended once the client is closed.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Status> {
        match self.stream.lock().expect("never poisoned").as_ref() {
            Some(tx) => tx.subscribe(),
            None => watch::channel(self.status()).1,
        }
    }

    /// Ends the status stream.
    pub(crate) fn close(&self) {
        self.refresh();
        self.stream.lock().expect("never poisoned").take();
    }
}
