//! The driver task of a live client: nodemap → view path → view → parsed
//! config → [`Store`], and the status of each step.
//!
//! # Exact following
//!
//! The app must only ever be shown a view read that is at least as new as
//! the nodemap resolution it came from, for the view the association
//! points to at that time. Two independent watchers cannot promise that:
//! when one transaction moves the host from view A to view B *and*
//! rewrites A, the view watch of A and the nodemap watch fire together,
//! and a driver that handles A's event first publishes A's new content,
//! which the host was moved away from in that very transaction.
//!
//! So the driver does every read itself, in *rounds*, all on one client
//! (one session) and in this order:
//!
//! 1. the nodemap, with a watch, when its last resolution may be out of
//!    date (first round, nodemap watch fired, reconnect, new session):
//!    its `mzxid` `N1` (or "missing") and the view path it resolves to;
//! 2. that view, with a watch;
//! 3. the nodemap's stat again, without a watch: its `mzxid` `N2` (sent
//!    right behind read 2, so both cost one round trip).
//!
//! When a view is followed already, reads 2 and 3 of that view are sent
//! right behind read 1, all three back to back (the host most likely has
//! not moved): one round trip, and no write of the nodemap can land
//! between reads 1 and 3 but in the server's few microseconds between
//! them, so a nodemap rewritten without pause (other hosts re-pointed)
//! does not keep the round from passing. That batch counts only if read
//! 1 resolves to the view it read; otherwise reads 2 and 3 are sent again
//! for the view resolved.
//!
//! The view read is published only when `N2 == N1`; otherwise the nodemap
//! is read again and the round starts over (at once for the first
//! [`AGAIN_AT_ONCE`] rounds in a row, then after a pause doubling from
//! [`BACKOFF_MIN`] up to [`AGAIN_MAX`], jittered, so a
//! nodemap rewritten without pause is not read in a tight loop: one of
//! the slower rounds finds it still, and publishes). The argument: ZooKeeper
//! answers one session's requests in order, and a session never sees the
//! tree go back in time (it carries its last zxid to any server it
//! reconnects to). So the server state `z1` that answered read 1, `zv`
//! that answered read 2 and `z2` that answered read 3 satisfy
//! `z1 <= zv <= z2`. Every write of the nodemap sets a new `mzxid`
//! (a delete and re-create too), so equal `mzxid`s at `z1` and `z2` mean
//! no write of the nodemap in between: at `zv` the nodemap was the one
//! resolved, and the view read is of the view the association pointed to
//! when it was read, and no older than that resolution. A reconnect or a
//! new session drops the resolution: each round notes the session mark
//! (generation, connection) it reads under, and a round under another
//! mark than the last starts from read 1, whatever ended the previous
//! round. A new session is handed out only once it is `sync`ed (the
//! session keeper retries the sync until it succeeds), so the three reads
//! of a published round always share one session, and it is not behind
//! what an earlier session served.
//!
//! Among the configs that pass, a late read never replaces a newer one of
//! the same view (ordered by the view's `mzxid`), and a re-read of the same
//! revision or a rewrite with the same content is not a change.
//!
//! # The association index
//!
//! Where the server keeps an association index beside the nodemap (one
//! znode per association under `associations/`, written in the same
//! transaction as the nodemap), the *pointer* of the reads above is the
//! association's own znode instead of the nodemap, so re-pointing another
//! host wakes nobody else. The index directory's data says whether the
//! index is complete; only then is it followed, and the nodemap else (a
//! tree written by original Jones, an index being built or rebuilt). Each
//! round in index mode starts from a watched read of the directory when
//! its last read may be out of date, and read 3 carries the directory's
//! stat too: the view read is published only if neither the pointer's
//! nor the directory's `mzxid` moved, by the argument above, so a round
//! never publishes a resolution of an index that stopped agreeing with
//! the nodemap while it read. A directory that moved starts the round
//! over from the directory. A missing association znode reads the root
//! view, as a host missing from the nodemap does.
//!
//! # Nothing lost
//!
//! A view that answers `NoNode` is watched with `exists`; if it was
//! created between the two requests, `exists` finds it and the round
//! starts over at once instead of waiting for a write that may never come.
//! The same holds for the nodemap. A missing view is a [`Cause::MissingView`]
//! in the status, and is read as soon as it is created.
//!
//! # Errors you can see
//!
//! Every lasting failure of a read lands in [`crate::Status::errors`] with
//! its cause: `NoAuth`, a pointer naming a path that is not a view of this service
//! (checked against [`ServiceLayout`]), unparseable data, a missing view,
//! any other failed request. Failed requests are retried after a pause
//! that doubles from [`BACKOFF_MIN`] up to [`BACKOFF_MAX`], with jitter, and
//! resets after a good round; a watch that fires or a session that moves
//! on wakes the driver earlier.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, watch};
use zookeeper_client::{Client, EventType, Stat, WatchedEvent};

use crate::jitter;
use crate::registry::{Applied, Registry};
use crate::session::Session;
use crate::stats::Counters;
use crate::status::{Cause, Health, Part};
use crate::store::Store;
use crate::{
    AssociationRecord, Error, IndexState, Nodemap, Revision, ServiceLayout, Snapshot, parse_config,
};

/// First pause after a failed read.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest pause between retries of a failing read.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Longest pause before a round after rounds that kept ending "read
/// again": short, since the nodemap moving is no failure, only busy.
pub(crate) const AGAIN_MAX: Duration = Duration::from_secs(1);

/// Rounds in a row that may end "read again" and start over at once;
/// after that, each next one waits for a backoff pause first.
pub(crate) const AGAIN_AT_ONCE: u32 = 3;

/// A test hook awaited between a view read that answered `NoNode` and the
/// `exists` that follows, to widen that window.
pub(crate) type MissingViewHook =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A test hook awaited before each round, ahead of taking the session's
/// current client, to let a test move the session in between.
pub(crate) type RoundHook = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Everything the driver needs; it owns the session.
pub(crate) struct Driver {
    pub(crate) session: Session,
    pub(crate) layout: ServiceLayout,
    pub(crate) association: String,
    pub(crate) store: Arc<Store>,
    pub(crate) health: Arc<Health>,
    pub(crate) cache_file: Option<PathBuf>,
    /// Counts the driver's reads and watch events, holds the registration.
    pub(crate) counters: Arc<Counters>,
    /// Keeps the client's registration, when it registers; run by the
    /// driver next to its rounds.
    pub(crate) registry: Option<Registry>,
    /// Tells the registry each newly applied revision.
    pub(crate) applied: watch::Sender<Option<Applied>>,
    /// Whether the unreadable index directory was logged already.
    pub(crate) dir_unreadable_said: bool,
    /// Told the outcome of start: the first config, or why there is none.
    pub(crate) started: Option<oneshot::Sender<Result<(), Error>>>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) missing_view_hook: Option<MissingViewHook>,
    pub(crate) round_hook: Option<RoundHook>,
}

type Fired = Pin<Box<dyn Future<Output = WatchedEvent> + Send>>;

/// Which znode says where the association points (the *pointer*).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Source {
    /// The service's nodemap: one znode naming every association.
    #[default]
    Nodemap,
    /// The association's own znode in the complete index.
    Index,
}

/// What the driver follows between rounds.
#[derive(Default)]
struct Following {
    /// The index directory at its last read: `None` when it must be read
    /// (again); `Some(None)` when it is missing or cannot be read;
    /// `Some(Some((mzxid, followable)))` else.
    dir: Option<Option<(i64, bool)>>,
    dir_watch: Option<Fired>,
    /// The pointer the resolution below came from.
    source: Source,
    /// The pointer's `mzxid` (`None`: missing) at the last resolution;
    /// `None` when the pointer must be read again.
    resolved: Option<Option<i64>>,
    /// The view the resolution points to; `None` while there is none to
    /// follow (not known yet, or the pointer names a path that is no view).
    view: Option<String>,
    pointer_watch: Option<Fired>,
    /// Set once the view's read passed the round's check (and was
    /// applied): while it is armed and the resolution holds, nothing needs
    /// reading.
    view_watch: Option<Fired>,
}

impl Following {
    /// After a new session: everything is read again.
    fn forget(&mut self) {
        self.dir = None;
        self.dir_watch = None;
        self.resolved = None;
        self.pointer_watch = None;
        self.view_watch = None;
    }

    /// The pointer the directory says to follow.
    fn wanted_source(&self) -> Source {
        match self.dir {
            Some(Some((_, true))) => Source::Index,
            _ => Source::Nodemap,
        }
    }

    /// The directory's `mzxid` a round in index mode must see unchanged.
    fn dir_mzxid(&self) -> Option<i64> {
        match self.dir {
            Some(Some((mzxid, _))) => Some(mzxid),
            _ => None,
        }
    }
}

/// How a round ended.
enum Round {
    /// Read and applied; wait for a watch.
    Settled,
    /// Something moved under the reads (the pointer or the index
    /// directory changed, a znode appeared): read again at once.
    Again,
    /// A request failed: retry after a pause (or a watch, or a new session).
    Failed,
}

impl Driver {
    pub(crate) async fn run(mut self) {
        let mut session = self.session.subscribe();
        let mut shutdown = self.shutdown.clone();
        let mut following = Following::default();
        let mut backoff = Backoff::new();
        let mut again_backoff = Backoff::up_to(AGAIN_MAX);
        // The session generation the last round read under: a round under
        // another one (a new session since) starts from the index
        // directory and the pointer again, however the driver got here (a
        // wait, a round that asked to read again, a pause that ended as
        // the session moved). A reconnect of the same session keeps
        // everything: its one-shot watches are re-sent with the session's
        // last zxid, and fire for whatever changed meanwhile.
        let mut read_under: Option<u64> = None;
        // Rounds in a row that ended "read again": a pointer rewritten
        // faster than a round takes would otherwise be read in a loop.
        let mut agains = 0;
        let cache_writer = self
            .cache_file
            .clone()
            .map(|path| tokio::spawn(write_cache_on_change(path, self.store.subscribe())));
        let registry = self.registry.take().map(|registry| {
            tokio::spawn(registry.run(self.session.subscribe(), self.shutdown.clone()))
        });
        'run: loop {
            if let Some(hook) = &self.round_hook {
                hook().await;
            }
            let (client, mut mark, connected) = {
                let s = session.borrow_and_update();
                (s.client.clone(), (s.generation, s.connection), s.connected)
            };
            if client.is_some() && read_under != Some(mark.0) {
                following.forget();
                read_under = Some(mark.0);
            }
            self.health.refresh();
            let Some(client) = client else {
                tokio::select! {
                    changed = session.changed() => if changed.is_err() { break 'run },
                    _ = shutdown.changed() => break 'run,
                }
                continue;
            };
            if !connected {
                // Requests sent now would queue and go out at the
                // reconnect, together with every other client's: wait
                // for the reconnect, then a random part of the spread.
                tokio::select! {
                    changed = session.changed() => if changed.is_err() { break 'run },
                    _ = shutdown.changed() => break 'run,
                }
                let s = session.borrow().clone();
                if s.connected && s.generation == mark.0 {
                    let delay = jitter::uniform(jitter::spread(client.session_timeout()));
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = shutdown.changed() => break 'run,
                    }
                }
                continue;
            }
            let round = tokio::select! {
                round = self.round(&client, &mut following) => round,
                _ = shutdown.changed() => break 'run,
            };
            let pause = match round {
                Round::Settled => {
                    agains = 0;
                    backoff.reset();
                    again_backoff.reset();
                    None
                }
                Round::Again if agains < AGAIN_AT_ONCE => {
                    agains += 1;
                    continue;
                }
                Round::Again => Some(again_backoff.next()),
                Round::Failed => {
                    agains = 0;
                    again_backoff.reset();
                    Some(backoff.next())
                }
            };
            let mut deadline = pause.map(|pause| tokio::time::Instant::now() + pause);
            // Wait for a reason to read again.
            loop {
                tokio::select! {
                    event = fired(&mut following.dir_watch) => {
                        following.dir_watch = None;
                        following.dir = None;
                        if event.event_type == EventType::Session {
                            following.forget();
                        } else {
                            self.counters.watch_event();
                            break;
                        }
                    }
                    event = fired(&mut following.pointer_watch) => {
                        following.pointer_watch = None;
                        following.resolved = None;
                        if event.event_type == EventType::Session {
                            following.forget();
                        } else {
                            self.counters.watch_event();
                            break;
                        }
                    }
                    event = fired(&mut following.view_watch) => {
                        following.view_watch = None;
                        if event.event_type == EventType::Session {
                            following.forget();
                        } else {
                            self.counters.watch_event();
                            break;
                        }
                    }
                    changed = session.changed() => {
                        if changed.is_err() {
                            break 'run;
                        }
                        let (now, has_client, timeout) = {
                            let s = session.borrow_and_update();
                            let timeout = s.client.as_ref().map(Client::session_timeout);
                            ((s.generation, s.connection), s.client.is_some(), timeout)
                        };
                        self.health.refresh();
                        if !has_client {
                            continue;
                        }
                        if now.0 != mark.0 {
                            following.forget();
                            break;
                        }
                        if now.1 != mark.1 {
                            // Reconnected: the watches stand. Only a read
                            // still pending (a retry) is due, and it
                            // waits a random part of the spread.
                            mark = now;
                            if let (Some(at), Some(timeout)) = (deadline, timeout) {
                                let soon = tokio::time::Instant::now()
                                    + jitter::uniform(jitter::spread(timeout));
                                deadline = Some(at.min(soon));
                            }
                        }
                    }
                    () = sleep_until(deadline) => break,
                    _ = shutdown.changed() => break 'run,
                }
            }
        }
        drop(following);
        if let Some(registry) = registry {
            // Stops at shutdown by itself; the session's close removes
            // its znode.
            let _ = registry.await;
        }
        self.session.stop().await;
        if let Some(writer) = cache_writer {
            writer.abort();
            let _ = writer.await;
        }
        self.health.close();
        self.store.close();
    }

    /// Reads the index directory with a watch; `false` when the round
    /// must end (with `round`).
    async fn read_dir(&mut self, client: &Client, following: &mut Following) -> Result<(), Round> {
        let dir_path = self.layout.associations_path().to_owned();
        self.counters.reads(1);
        let (state, watch) = match client.get_and_watch_data(&dir_path).await {
            Ok((data, stat, watch)) => {
                self.counters.bytes(data.len());
                (
                    Some((stat.mzxid, self.followable(&dir_path, &data))),
                    Some(watch),
                )
            }
            Err(zookeeper_client::Error::NoNode) => {
                self.counters.reads(1);
                match watch_missing(client, &dir_path, None).await {
                    Ok(Some(watch)) => (None, Some(watch)),
                    Ok(None) => return Err(Round::Again),
                    Err(e) => return Err(self.failed(Part::Nodemap, &dir_path, &e)),
                }
            }
            Err(zookeeper_client::Error::NoAuth) => {
                // The nodemap is the source of truth: follow it, and look
                // at the directory again with the next session.
                if !self.dir_unreadable_said {
                    self.dir_unreadable_said = true;
                    tracing::warn!(
                        path = %dir_path,
                        "the association index is not readable (NoAuth); following the nodemap"
                    );
                }
                (None, None)
            }
            Err(e) => return Err(self.failed(Part::Nodemap, &dir_path, &e)),
        };
        following.dir_watch = watch.map(|watch| Box::pin(watch.changed()) as Fired);
        following.dir = Some(state);
        let source = following.wanted_source();
        if source != following.source {
            tracing::info!(
                association = %self.association,
                "following {}",
                match source {
                    Source::Index => "the association's index znode",
                    Source::Nodemap => "the nodemap",
                }
            );
            following.source = source;
            following.resolved = None;
            following.pointer_watch = None;
        }
        Ok(())
    }

    /// Whether the directory's data says the index may be followed.
    fn followable(&self, path: &str, data: &[u8]) -> bool {
        match IndexState::parse(data) {
            Ok(state) => state.is_followable(),
            Err(e) => {
                tracing::warn!(path, error = %e, "unreadable association index state; following the nodemap");
                false
            }
        }
    }

    /// One round of reads; see the module docs.
    async fn round(&mut self, client: &Client, following: &mut Following) -> Round {
        if following.dir.is_none() {
            if let Err(round) = self.read_dir(client, following).await {
                return round;
            }
        }
        if following.resolved.is_some() && following.view_watch.is_some() {
            // Only the directory moved, and the pointer it names is still
            // the one followed: nothing else to read.
            return Round::Settled;
        }
        let source = following.source;
        let pointer_path = match source {
            Source::Nodemap => self.layout.nodemap_path().to_owned(),
            Source::Index => self.layout.association_path(&self.association),
        };
        // In index mode the round also checks that the directory did not
        // move: the index agrees with the nodemap only while complete.
        let dir_expected = (source == Source::Index).then(|| following.dir_mzxid());
        let mut batched = None;
        if following.resolved.is_none() {
            // The view followed so far is most likely still the one the
            // pointer resolves to: read it, and the pointer's stat, in the
            // same batch as the pointer (sent back to back, answered in
            // order). Used only if the resolution is that view.
            let guess = following.view.clone();
            let pointer_read = client.get_and_watch_data(&pointer_path);
            self.counters.reads(1);
            let (pointer_read, batch) = match &guess {
                Some(view) => {
                    let view_read = client.get_and_watch_data(view);
                    let confirm = self.confirm(client, &pointer_path, dir_expected.is_some());
                    let (p, v, c) = tokio::join!(pointer_read, view_read, confirm);
                    (p, Some((v, c)))
                }
                None => (pointer_read.await, None),
            };
            let (pointer, watch) = match pointer_read {
                Ok((data, stat, watch)) => {
                    self.counters.bytes(data.len());
                    (Some((Bytes::from(data), stat)), watch)
                }
                Err(zookeeper_client::Error::NoNode) => {
                    self.counters.reads(1);
                    match watch_missing(client, &pointer_path, None).await {
                        Ok(Some(watch)) => (None, watch),
                        Ok(None) => return Round::Again,
                        Err(e) => return self.failed(Part::Nodemap, &pointer_path, &e),
                    }
                }
                Err(e) => return self.failed(Part::Nodemap, &pointer_path, &e),
            };
            following.pointer_watch = Some(Box::pin(watch.changed()));
            following.resolved = Some(pointer.as_ref().map(|(_, stat)| stat.mzxid));
            self.resolve(
                source,
                &pointer_path,
                pointer.map(|(data, _)| data),
                following,
            );
            if guess.is_some() && following.view == guess {
                batched = batch;
            }
        }
        let Some(view_path) = following.view.clone() else {
            following.view_watch = None;
            return Round::Settled;
        };
        let (view_read, confirmed) = match batched {
            Some(batch) => batch,
            None => {
                // Sent back to back, answered in order: one round trip.
                let view_read = client.get_and_watch_data(&view_path);
                let confirm = self.confirm(client, &pointer_path, dir_expected.is_some());
                tokio::join!(view_read, confirm)
            }
        };
        let (view, watch) = match view_read {
            Ok((data, stat, watch)) => {
                self.counters.bytes(data.len());
                (Some((Bytes::from(data), stat)), watch)
            }
            Err(zookeeper_client::Error::NoNode) => {
                self.counters.reads(1);
                let hook = self.missing_view_hook.clone();
                match watch_missing(client, &view_path, hook).await {
                    Ok(Some(watch)) => (None, watch),
                    Ok(None) => return Round::Again,
                    Err(e) => {
                        following.view_watch = None;
                        return self.failed(Part::View, &view_path, &e);
                    }
                }
            }
            Err(e) => {
                following.view_watch = None;
                return self.failed(Part::View, &view_path, &e);
            }
        };
        let (pointer_now, dir_now) = match confirmed {
            Ok(now) => now,
            Err((path, e)) => {
                following.view_watch = None;
                return self.failed(Part::Nodemap, &path, &e);
            }
        };
        if let Some(expected) = dir_expected {
            if dir_now != expected {
                // The index directory moved (being rebuilt, torn down):
                // this resolution may be of an index that no longer
                // agrees with the nodemap. Read the directory again.
                following.dir = None;
                following.dir_watch = None;
                following.resolved = None;
                following.pointer_watch = None;
                following.view_watch = None;
                return Round::Again;
            }
        }
        if Some(pointer_now) != following.resolved {
            // The pointer moved since it was resolved: this view read may
            // be of a view the host has left. Resolve again, read again.
            following.resolved = None;
            following.pointer_watch = None;
            following.view_watch = None;
            return Round::Again;
        }
        following.view_watch = Some(Box::pin(watch.changed()));
        self.on_view(&view_path, view).await;
        Round::Settled
    }

    /// Sends the round's closing stat reads now (the pointer's, and the
    /// directory's when `dir`), and returns their `mzxid`s (`None`:
    /// missing), or the path that failed.
    fn confirm(
        &self,
        client: &Client,
        pointer_path: &str,
        dir: bool,
    ) -> impl Future<Output = Result<(Option<i64>, Option<i64>), (String, zookeeper_client::Error)>>
    + Send
    + 'static {
        let pointer_check = client.check_stat(pointer_path);
        let dir_path = self.layout.associations_path().to_owned();
        let dir_check = dir.then(|| client.check_stat(&dir_path));
        self.counters.reads(1 + u64::from(dir));
        let pointer_path = pointer_path.to_owned();
        async move {
            let pointer = pointer_check.await.map_err(|e| (pointer_path, e))?;
            let dir = match dir_check {
                Some(check) => check.await.map_err(|e| (dir_path, e))?,
                None => None,
            };
            Ok((pointer.map(|s| s.mzxid), dir.map(|s| s.mzxid)))
        }
    }

    /// Points `following` at the view the pointer gives (`None`: missing,
    /// which reads the root view).
    fn resolve(
        &mut self,
        source: Source,
        pointer_path: &str,
        data: Option<Bytes>,
        following: &mut Following,
    ) {
        let Some(data) = data else {
            self.health.clear(Part::Nodemap);
            self.point(following, Some(self.layout.views_root().to_owned()));
            return;
        };
        let target = match source {
            Source::Nodemap => Nodemap::parse(&data)
                .map(|map| map.resolve(&self.association, &self.layout).to_owned()),
            Source::Index => AssociationRecord::parse(&data).map(|record| record.view),
        };
        let target = match target {
            Ok(target) => target,
            Err(e) => {
                let message = format!("{pointer_path}: {e}; keeping the current view");
                tracing::warn!("{message}");
                self.health
                    .problem(Part::Nodemap, Cause::Unparseable, pointer_path, message);
                self.fail_start(e);
                return;
            }
        };
        match self.layout.env_of_view_path(&target) {
            Ok(_) => {
                self.health.clear(Part::Nodemap);
                self.point(following, Some(target));
            }
            Err(e) => {
                let message = format!(
                    "{pointer_path} maps {:?} to {target:?}, which is not a view of service \
                     {}; serving the last config",
                    self.association,
                    self.layout.service()
                );
                tracing::warn!("{message}");
                self.health
                    .problem(Part::Nodemap, Cause::NotAView, pointer_path, message);
                self.point(following, None);
                self.fail_start(e);
            }
        }
    }
    fn point(&mut self, following: &mut Following, view: Option<String>) {
        if following.view != view {
            if let Some(view) = &view {
                tracing::info!(view = %view, association = %self.association, "following view");
            }
            // Dropping the old view's watch: its later updates never
            // reach the app.
            following.view_watch = None;
            following.view = view;
            self.health.clear(Part::View);
        }
    }

    /// Records a failed request; session-level failures are the session
    /// keeper's to report.
    fn failed(&mut self, part: Part, path: &str, error: &zookeeper_client::Error) -> Round {
        use zookeeper_client::Error as Zk;
        tracing::debug!(path, %error, "read failed; retrying");
        match error {
            Zk::SessionExpired | Zk::ConnectionLoss | Zk::ClientClosed | Zk::SessionMoved => {}
            Zk::NoAuth => {
                let message = format!("reading {path}: not allowed by its ACL (NoAuth)");
                self.health.problem(part, Cause::NoAuth, path, message);
                self.fail_start_with(part, path, error);
            }
            _ => {
                let message = format!("reading {path}: {error}");
                self.health.problem(part, Cause::ReadFailed, path, message);
            }
        }
        Round::Failed
    }

    async fn on_view(&mut self, path: &str, view: Option<(Bytes, Stat)>) {
        let Some((data, stat)) = view else {
            if self.started.is_some() {
                let error = self.missing_view_error(path).await;
                self.fail_start(error);
            }
            let message = format!(
                "view {path} does not exist (deleted, or the nodemap points to a missing \
                 environment); serving the last config until it is created"
            );
            tracing::warn!("{message}");
            self.health
                .problem(Part::View, Cause::MissingView, path, message);
            return;
        };
        let config = match parse_config(&data) {
            Ok(config) => config,
            Err(e) => {
                let message = format!(
                    "view {path} (mzxid {}): {e}; keeping the last good config",
                    stat.mzxid
                );
                tracing::warn!("{message}");
                self.health
                    .problem(Part::View, Cause::Unparseable, path, message.clone());
                self.fail_start(Error::InvalidConfig { reason: message });
                return;
            }
        };
        let revision = Revision {
            mzxid: stat.mzxid,
            version: stat.version,
        };
        let current = self.store.load_full();
        let is_new = current.from_cache
            || current.view_path != path
            || current.revision.is_none_or(|r| r.mzxid < revision.mzxid);
        self.health.clear(Part::View);
        self.health.clear(Part::Cache);
        if is_new {
            // A rewrite with the same content (the server moves a parent's
            // view version when a child is created or deleted) is a new
            // revision, not a new config.
            let same_config =
                !current.from_cache && current.view_path == path && current.config == config;
            let snapshot = Snapshot {
                config,
                revision: Some(revision),
                view_path: path.to_owned(),
                from_cache: false,
            };
            if same_config {
                self.store.replace_quietly(snapshot);
            } else {
                self.store.publish(snapshot);
            }
            self.applied
                .send_replace(Some(Applied::new(path, revision.mzxid)));
            self.health.refresh();
        }
        if let Some(started) = self.started.take() {
            let _ = started.send(Ok(()));
        }
    }

    /// `ServiceNotFound` when the whole service is missing, else `ViewNotFound`.
    async fn missing_view_error(&self, path: &str) -> Error {
        let service = self.layout.service().to_string();
        if let Some(client) = self.session.client() {
            self.counters.reads(1);
            if let Ok(None) = client.check_stat(self.layout.service_path()).await {
                return Error::ServiceNotFound {
                    service,
                    path: self.layout.service_path().to_owned(),
                };
            }
        }
        Error::ViewNotFound {
            service,
            association: self.association.clone(),
            path: path.to_owned(),
        }
    }

    fn fail_start_with(&mut self, _part: Part, path: &str, error: &zookeeper_client::Error) {
        let operation = "read";
        self.fail_start(Error::ZooKeeper {
            operation,
            path: path.to_owned(),
            source: error.clone(),
        });
    }

    /// Tells start why there is no config (the status has it too).
    fn fail_start(&mut self, error: Error) {
        if let Some(started) = self.started.take() {
            let _ = started.send(Err(error));
        }
    }
}

/// After `path` answered `NoNode`: watches its creation, or `None` when it
/// exists by now (created between the two requests; its exists watch
/// would only fire at its next write, so it must be read again now).
async fn watch_missing(
    client: &Client,
    path: &str,
    hook: Option<MissingViewHook>,
) -> Result<Option<zookeeper_client::OneshotWatcher>, zookeeper_client::Error> {
    if let Some(hook) = hook {
        hook(path.to_owned()).await;
    }
    let (stat, watch) = client.check_and_watch_stat(path).await?;
    Ok(stat.is_none().then_some(watch))
}

/// Resolves when `watch` fires; never when there is none.
async fn fired(watch: &mut Option<Fired>) -> WatchedEvent {
    match watch.as_mut() {
        Some(watch) => watch.await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`; never when there is none.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Doubling pauses with jitter, from [`BACKOFF_MIN`] (unless told
/// otherwise) up to a cap ([`BACKOFF_MAX`] unless told otherwise).
pub(crate) struct Backoff {
    first: Duration,
    next: Duration,
    cap: Duration,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self::up_to(BACKOFF_MAX)
    }

    /// Pauses doubling up to `cap`.
    pub(crate) fn up_to(cap: Duration) -> Self {
        Self::between(BACKOFF_MIN, cap)
    }

    /// Pauses doubling from `first` up to `cap`.
    pub(crate) fn between(first: Duration, cap: Duration) -> Self {
        Self {
            first,
            next: first,
            cap,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }

    /// The next pause: uniformly in `[d/2, d)` for the current step `d`.
    pub(crate) fn next(&mut self) -> Duration {
        let step = self.next;
        self.next = (step * 2).min(self.cap);
        step / 2 + jitter::uniform(step / 2)
    }
}

/// Writes each new config to the cache file, off the driver: a slow disk
/// never delays following. Writes are in order, and coalesce when the
/// disk is slower than the changes.
async fn write_cache_on_change(path: PathBuf, mut changes: watch::Receiver<Arc<Snapshot>>) {
    while changes.changed().await.is_ok() {
        let snapshot = changes.borrow_and_update().clone();
        if snapshot.revision.is_none() || snapshot.from_cache {
            continue;
        }
        let path = path.clone();
        let written =
            tokio::task::spawn_blocking(move || crate::cache::write(&path, &snapshot)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot update the fallback cache"),
            Err(e) => tracing::warn!(error = %e, "cache writer failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new();
        let mut step = BACKOFF_MIN;
        for _ in 0..20 {
            let pause = backoff.next();
            assert!(pause >= step / 2 && pause <= step, "{pause:?} for {step:?}");
            step = (step * 2).min(BACKOFF_MAX);
        }
        assert!(backoff.next() <= BACKOFF_MAX);
        backoff.reset();
        assert!(backoff.next() <= BACKOFF_MIN);
    }

    #[test]
    fn jitter_spreads_the_pauses() {
        let mut backoff = Backoff::new();
        let pauses: std::collections::HashSet<Duration> = (0..10)
            .map(|_| {
                backoff.reset();
                backoff.next()
            })
            .collect();
        assert!(pauses.len() > 5, "{pauses:?}");
    }
}
