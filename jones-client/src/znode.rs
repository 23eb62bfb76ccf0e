//! A live znode: the latest data of one path, kept current across
//! reconnects and session expiry.
//!
//! [`ZnodeWatcher`] does a watched read of its path (`get_and_watch_data`,
//! or `check_and_watch_stat` while the znode does not exist) and reads
//! again when the watch fires and on every new session. A reconnect of the
//! same session reads nothing: the client re-arms the watch with the last
//! zxid it saw, and ZooKeeper fires it at once if the znode changed while
//! disconnected. Values are ordered by the znode's `mzxid` (watch events
//! carry no zxid on ZooKeeper 3.8), so a late or repeated read never
//! replaces a newer value and a re-read of the same revision is not
//! reported as a change. A znode that answers `NoNode` and then exists for
//! the `exists` that follows (created in between) is read again at once.
//! Failed reads are retried with jittered, doubling pauses up to a cap; a
//! reconnect brings the retry forward to a random point within a quarter
//! of the session timeout (at most 1 s), so watchers that failed together
//! do not retry together.
//!
//! This is the building block of tools that watch any znode (`jones watch
//! --znode`). The config client does not use two of them: one watcher per
//! znode cannot order a nodemap event against a view event; see
//! `driver.rs` for the reads it does instead.

use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client::{Client, EventType, Stat};

use crate::Error;
use crate::driver::Backoff;
use crate::jitter;
use crate::session::{Session, SessionState};

/// What a [`ZnodeWatcher`] knows about its znode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Znode {
    /// Not read yet.
    Unknown,
    /// The znode does not exist (it is watched for creation).
    Missing,
    /// The znode's data and stat at its latest known revision.
    Present {
        /// The data.
        data: Bytes,
        /// The stat of the read; `stat.mzxid` orders revisions.
        stat: Stat,
    },
}

impl Znode {
    /// The `mzxid` of a present znode.
    pub fn mzxid(&self) -> Option<i64> {
        match self {
            Znode::Present { stat, .. } => Some(stat.mzxid),
            _ => None,
        }
    }
}

/// Watches one znode through a [`Session`]; see the module docs. Dropping
/// the watcher stops its task and its ZooKeeper watch.
///
/// ```no_run
/// # async fn demo() -> Result<(), jones_client::Error> {
/// use jones_client::{Session, Znode, ZnodeWatcher};
/// let session = Session::connect("127.0.0.1:2181", std::time::Duration::from_secs(10));
/// let mut watcher = ZnodeWatcher::new(&session, "/services/web/nodemaps");
/// loop {
///     match watcher.changed().await? {
///         Znode::Present { data, stat } => println!("{} bytes at mzxid {}", data.len(), stat.mzxid),
///         Znode::Missing => println!("deleted"),
///         Znode::Unknown => {}
///     }
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct ZnodeWatcher {
    path: String,
    value: watch::Receiver<Znode>,
    errors: watch::Receiver<Option<String>>,
    task: JoinHandle<()>,
}

impl ZnodeWatcher {
    /// Starts watching `path` (relative to the session's chroot). Must be
    /// called inside a tokio runtime.
    pub fn new(session: &Session, path: impl Into<String>) -> Self {
        let path = path.into();
        let (value_tx, value) = watch::channel(Znode::Unknown);
        let (error_tx, errors) = watch::channel(None);
        let task = tokio::spawn(follow(
            session.subscribe(),
            path.clone(),
            value_tx,
            error_tx,
        ));
        Self {
            path,
            value,
            errors,
            task,
        }
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The latest known state, marking it seen.
    pub fn current(&mut self) -> Znode {
        self.value.borrow_and_update().clone()
    }

    /// Waits for a state not seen yet (the first call returns the first read
    /// once it is done) and returns it.
    pub async fn changed(&mut self) -> Result<Znode, Error> {
        self.value.changed().await.map_err(|_| Error::Closed)?;
        Ok(self.current())
    }

    /// A receiver of the state, for `select!` loops and many readers.
    pub fn subscribe(&self) -> watch::Receiver<Znode> {
        self.value.clone()
    }

    /// The last read error, cleared by the next successful read.
    pub fn last_error(&self) -> Option<String> {
        self.errors.borrow().clone()
    }

    /// A receiver of read errors (`None` once a read succeeds again).
    pub fn errors(&self) -> watch::Receiver<Option<String>> {
        self.errors.clone()
    }
}

impl ZnodeWatcher {
    /// Stops the task and waits until it has stopped.
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl Drop for ZnodeWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What ended a wait for the next change.
enum Wake {
    /// The watch fired, or the session moved on: read again.
    Reread,
    /// The watcher's owner is gone.
    Stop,
}

/// The watcher task.
async fn follow(
    mut session: watch::Receiver<SessionState>,
    path: String,
    value: watch::Sender<Znode>,
    errors: watch::Sender<Option<String>>,
) {
    // Reads failing for a reason other than the session (`NoAuth`, say)
    // are retried after a pause that doubles up to a cap, with jitter.
    let mut backoff = Backoff::new();
    loop {
        let (client, mark) = {
            let s = session.borrow_and_update();
            (s.client.clone(), (s.generation, s.connection))
        };
        let Some(client) = client else {
            if session.changed().await.is_err() {
                return;
            }
            continue;
        };
        let wake = match read_once(&client, &path, &value, &errors).await {
            Ok(Some(watch_fired)) => {
                backoff.reset();
                wait(watch_fired, &mut session, mark.0, &value).await
            }
            // Created between `NoNode` and the exists watch: read it now.
            Ok(None) => Wake::Reread,
            Err(e) => {
                tracing::debug!(path, error = %e, "watched read failed; retrying");
                errors.send_replace(Some(format!("reading {path}: {e}")));
                let pause = backoff.next();
                let reconnected =
                    session_moved(&mut session, |s| (s.generation, s.connection) != mark);
                tokio::select! {
                    moved = reconnected => if moved {
                        let delay = jitter::uniform(jitter::spread(client.session_timeout())).min(pause);
                        tokio::select! {
                            () = tokio::time::sleep(delay) => Wake::Reread,
                            _ = value.closed() => Wake::Stop,
                        }
                    } else {
                        Wake::Stop
                    },
                    _ = tokio::time::sleep(pause) => Wake::Reread,
                    _ = value.closed() => Wake::Stop,
                }
            }
        };
        if let Wake::Stop = wake {
            return;
        }
    }
}

/// One watched read; publishes what it read and returns the watch, or
/// `None` when the znode answered `NoNode` and then existed (its exists
/// watch would only fire at its next write: read it again at once).
async fn read_once(
    client: &Client,
    path: &str,
    value: &watch::Sender<Znode>,
    errors: &watch::Sender<Option<String>>,
) -> Result<Option<zookeeper_client::OneshotWatcher>, zookeeper_client::Error> {
    match client.get_and_watch_data(path).await {
        Ok((data, stat, watcher)) => {
            errors.send_if_modified(|e| e.take().is_some());
            value.send_if_modified(|current| {
                let newer = match current {
                    Znode::Present { stat: seen, .. } => stat.mzxid > seen.mzxid,
                    Znode::Unknown | Znode::Missing => true,
                };
                if newer {
                    *current = Znode::Present {
                        data: Bytes::from(data),
                        stat,
                    };
                }
                newer
            });
            Ok(Some(watcher))
        }
        Err(zookeeper_client::Error::NoNode) => {
            let (stat, watcher) = client.check_and_watch_stat(path).await?;
            errors.send_if_modified(|e| e.take().is_some());
            if stat.is_some() {
                return Ok(None);
            }
            value.send_if_modified(|current| {
                let changed = *current != Znode::Missing;
                *current = Znode::Missing;
                changed
            });
            Ok(Some(watcher))
        }
        Err(e) => Err(e),
    }
}

/// Waits for the watch to fire, a new session to replace `generation` or
/// the owner to go away. A reconnect of the same session keeps the watch.
async fn wait(
    watcher: zookeeper_client::OneshotWatcher,
    session: &mut watch::Receiver<SessionState>,
    generation: u64,
    value: &watch::Sender<Znode>,
) -> Wake {
    let replaced = |s: &SessionState| s.generation != generation;
    tokio::select! {
        event = watcher.changed() => {
            if event.event_type == EventType::Session {
                // Expired or closed: the keeper brings a new client.
                if session_moved(session, replaced).await { Wake::Reread } else { Wake::Stop }
            } else {
                Wake::Reread
            }
        }
        moved = session_moved(session, replaced) => if moved { Wake::Reread } else { Wake::Stop },
        _ = value.closed() => Wake::Stop,
    }
}

/// Resolves `true` once `moved` holds for a state with a client, `false`
/// when the session keeper is gone.
async fn session_moved(
    session: &mut watch::Receiver<SessionState>,
    moved: impl Fn(&SessionState) -> bool,
) -> bool {
    session
        .wait_for(|s| moved(s) && s.client.is_some())
        .await
        .is_ok()
}
