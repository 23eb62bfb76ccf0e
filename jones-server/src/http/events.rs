//! `GET /api/v1/services/{svc}/events`: server-sent events, fed by one
//! persistent recursive ZooKeeper watch per service, shared by all of that
//! service's streams through a broadcast channel (the hub).
//!
//! Events: `ready` once the watch is in place; `change` with data
//! `{"path", "kind": "conf"|"view"|"nodemap"|"pins"|"schema"|"service", "env"}` for every
//! znode change except the client registry's and the association index's;
//! `clients` with the report of `GET .../clients` when the registry
//! picture changed (at most one per 250 ms per service, see
//! `crate::rollout`); `resync` with `{"reason"}` when the client must re-read:
//! after a reconnect (zookeeper-client 0.11 does not re-register persistent
//! watches, and ZooKeeper does not replay changes missed while disconnected:
//! the watch is added again) or when the stream fell behind the broadcast
//! (`"reason": "lagged"`). Keep-alive comments every 15 s. The stream ends
//! when the server shuts down or the client goes away.
//!
//! Why memory stays flat whatever the clients do:
//! - One watch and one task per watched service, not per stream. The feed
//!   (watch task + broadcast sender) lives as long as a stream holds it: the
//!   hub keeps only a weak reference, and the task stops when the last
//!   stream is dropped.
//! - The broadcast channel is a ring of [`BROADCAST_CAPACITY`] events; a
//!   stream that does not keep up loses its place and gets `resync` instead
//!   of queueing events.
//! - A stream is only polled when its connection can take more bytes; a
//!   client that stops reading is cut off by the connection's send timeout
//!   (see `server.rs`), which drops the stream.
//! - The number of open streams is capped ([`super::HttpOptions::max_streams`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use jones_client::{ServiceLayout, ServiceName};
use serde_json::json;
use tokio::sync::{broadcast, oneshot, watch};
use warp::sse::Event;
use zookeeper_client::{AddWatchMode, EventType, PersistentWatcher, SessionState};

use crate::rollout::{self, RolloutStats};
use crate::{Error, Zk};

/// Interval of keep-alive comments.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Events a stream may fall behind before it gets `resync`.
pub(crate) const BROADCAST_CAPACITY: usize = 256;

/// Classifies a changed znode of a service: kind and environment. Kinds
/// `clients` (the registry), `associations` (the index, written with
/// every nodemap change, which has its own event) and `history` (an entry
/// with every change, which has its own event) never reach streams as
/// `change` events.
pub(crate) fn classify(layout: &ServiceLayout, path: &str) -> (&'static str, Option<String>) {
    let env_of = |base: &str| -> Option<Option<String>> {
        let rest = path.strip_prefix(base)?;
        if rest.is_empty() {
            Some(Some(String::new()))
        } else {
            rest.strip_prefix('/').map(|r| Some(r.to_owned()))
        }
    };
    if let Some(env) = env_of(layout.conf_root()) {
        ("conf", env)
    } else if let Some(env) = env_of(layout.views_root()) {
        ("view", env)
    } else if path == layout.nodemap_path() {
        ("nodemap", None)
    } else if env_of(layout.clients_path()).is_some() {
        ("clients", None)
    } else if env_of(layout.associations_path()).is_some() {
        ("associations", None)
    } else if env_of(&crate::history::history_path(layout)).is_some() {
        ("history", None)
    } else if path == crate::pins::pins_path(layout) {
        ("pins", None)
    } else if path == crate::schema::schema_path(layout) {
        ("schema", None)
    } else {
        ("service", None)
    }
}

/// One event as broadcast to every stream of a service.
#[derive(Debug)]
struct FeedEvent {
    name: &'static str,
    data: String,
}

impl FeedEvent {
    fn to_sse(&self) -> Event {
        Event::default().event(self.name).data(&self.data)
    }
}

/// Where a feed's watch stands.
#[derive(Debug, Clone)]
enum FeedState {
    Starting,
    Ready,
    Failed(String),
}

/// The shared side of one watched service: held by its streams.
#[derive(Debug)]
struct Feed {
    events: broadcast::Sender<Arc<FeedEvent>>,
    state: watch::Receiver<FeedState>,
    /// The service's client registry, kept live while the feed runs.
    rollout: rollout::Live,
    /// Dropped with the last stream: stops the watch task.
    _stop: oneshot::Sender<()>,
}

/// Counters and gauges of the hub, for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct HubStats {
    /// Open event streams.
    pub open_streams: AtomicUsize,
    /// ZooKeeper watches held for event streams (one per watched service).
    pub watches: AtomicUsize,
    /// Streams ever opened.
    pub opened: AtomicU64,
    /// Streams refused for the cap.
    pub refused: AtomicU64,
    /// `resync` events sent because a stream fell behind.
    pub lagged: AtomicU64,
    /// The live pictures of client registries.
    pub rollout: Arc<RolloutStats>,
}

/// The event streams of a server: one feed per watched service.
#[derive(Debug)]
pub(crate) struct Hub {
    zk: Zk,
    feeds: Mutex<HashMap<ServiceName, Weak<Feed>>>,
    max_streams: usize,
    shutdown: watch::Receiver<bool>,
    stats: Arc<HubStats>,
}

/// A place among the open streams, given back on drop.
#[derive(Debug)]
pub(crate) struct Slot(Arc<HubStats>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open_streams.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Hub {
    pub(crate) fn new(zk: Zk, max_streams: usize, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            zk,
            feeds: Mutex::default(),
            max_streams,
            shutdown,
            stats: Arc::default(),
        }
    }

    pub(crate) fn stats(&self) -> &HubStats {
        &self.stats
    }

    /// A place for one more stream, or `None` at the cap.
    pub(crate) fn reserve(&self) -> Option<Slot> {
        let open = &self.stats.open_streams;
        let reserved = open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_streams).then_some(n + 1)
            })
            .is_ok();
        if reserved {
            self.stats.opened.fetch_add(1, Ordering::Relaxed);
            Some(Slot(self.stats.clone()))
        } else {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// A stream of `layout`'s events, starting with `ready` once the
    /// service's watch is in place. When `revoked` completes (the account
    /// the stream was opened with was removed), the stream sends a last
    /// `revoked` event and ends: a client that reconnects is checked anew.
    pub(crate) async fn subscribe(
        &self,
        layout: ServiceLayout,
        slot: Slot,
        revoked: Option<Revoked>,
    ) -> Result<EventStream, Error> {
        let feed = self.feed(&layout);
        // Subscribe before waiting for the watch: nothing that happens
        // after `ready` can be missed.
        let events = feed.events.subscribe();
        let mut state = feed.state.clone();
        let ready = state
            .wait_for(|s| !matches!(s, FeedState::Starting))
            .await
            .map(|s| s.clone());
        match ready {
            Ok(FeedState::Ready) => {}
            Ok(FeedState::Failed(reason)) => return Err(Error::Unavailable(reason)),
            Ok(FeedState::Starting) | Err(_) => {
                return Err(Error::Unavailable(format!(
                    "the watch on {} ended before it was ready",
                    layout.service_path()
                )));
            }
        }
        let ready = Event::default()
            .event("ready")
            .data(json!({"service": layout.service().as_str()}).to_string());
        let stream = Subscription {
            first: Some(ready),
            revoked,
            ended: false,
            events,
            shutdown: self.shutdown.clone(),
            stats: self.stats.clone(),
            _feed: feed,
            _slot: slot,
        };
        Ok(EventStream(Mutex::new(Box::pin(stream.into_stream()))))
    }

    /// The report of `service`'s client registry from its live picture,
    /// when one runs and is complete.
    pub(crate) fn clients_report(&self, service: &ServiceName) -> Option<serde_json::Value> {
        let feed = {
            let feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
            feeds.get(service).and_then(Weak::upgrade)?
        };
        if !matches!(*feed.state.borrow(), FeedState::Ready) {
            return None;
        }
        feed.rollout.report()
    }

    /// The live feed of a service, or a new one.
    fn feed(&self, layout: &ServiceLayout) -> Arc<Feed> {
        let mut feeds = self.feeds.lock().unwrap_or_else(PoisonError::into_inner);
        feeds.retain(|_, feed| feed.strong_count() > 0);
        if let Some(feed) = feeds.get(layout.service()).and_then(Weak::upgrade) {
            if !matches!(*feed.state.borrow(), FeedState::Failed(_)) {
                return feed;
            }
        }
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (state_tx, state) = watch::channel(FeedState::Starting);
        let (stop, stopped) = oneshot::channel();
        let clients_events = events.clone();
        let (rollout, watched) = rollout::Live::start(
            self.zk.clone(),
            layout.clone(),
            self.stats.rollout.clone(),
            move |data| {
                let _ = clients_events.send(Arc::new(FeedEvent {
                    name: "clients",
                    data,
                }));
            },
        );
        tokio::spawn(run_feed(
            self.zk.clone(),
            layout.clone(),
            Channels {
                events: events.clone(),
                state: state_tx,
                watched,
            },
            stopped,
            self.shutdown.clone(),
            self.stats.clone(),
        ));
        let feed = Arc::new(Feed {
            events,
            state,
            rollout,
            _stop: stop,
        });
        feeds.insert(layout.service().clone(), Arc::downgrade(&feed));
        feed
    }
}

async fn add_watch(zk: &Zk, layout: &ServiceLayout) -> Result<PersistentWatcher, Error> {
    let client = zk.client().await?;
    client
        .watch(layout.service_path(), AddWatchMode::PersistentRecursive)
        .await
        .map_err(|e| crate::error::zk_error(layout.service_path(), e))
}

/// Counts one held ZooKeeper watch while alive.
struct WatchHeld(Arc<HubStats>);

impl WatchHeld {
    fn new(stats: &Arc<HubStats>) -> Self {
        stats.watches.fetch_add(1, Ordering::Relaxed);
        Self(stats.clone())
    }
}

impl Drop for WatchHeld {
    fn drop(&mut self) {
        self.0.watches.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The watch task of one service: forwards its events to the broadcast
/// until the last stream is gone (`stopped`) or the server shuts down.
/// Where a feed's watch task sends what it sees.
struct Channels {
    events: broadcast::Sender<Arc<FeedEvent>>,
    state: watch::Sender<FeedState>,
    /// The service's live registry picture.
    watched: rollout::Watched,
}

async fn run_feed(
    zk: Zk,
    layout: ServiceLayout,
    channels: Channels,
    mut stopped: oneshot::Receiver<()>,
    mut shutdown: watch::Receiver<bool>,
    stats: Arc<HubStats>,
) {
    let Channels {
        events,
        state,
        watched,
    } = channels;
    let first = tokio::select! {
        _ = &mut stopped => return,
        _ = shutdown.wait_for(|stop| *stop) => return,
        watcher = add_watch(&zk, &layout) => watcher,
    };
    let mut watcher = match first {
        Ok(w) => Some(w),
        Err(e) => {
            state.send_replace(FeedState::Failed(e.to_string()));
            return;
        }
    };
    let _held = WatchHeld::new(&stats);
    state.send_replace(FeedState::Ready);
    watched.resync();
    let send = |name: &'static str, data: serde_json::Value| {
        // No receiver right now is fine: the feed ends with its last stream.
        let _ = events.send(Arc::new(FeedEvent {
            name,
            data: data.to_string(),
        }));
    };
    let mut disconnected = false;
    loop {
        let event = tokio::select! {
            _ = &mut stopped => return,
            _ = shutdown.wait_for(|stop| *stop) => return,
            event = async {
                match watcher.as_mut() {
                    Some(w) => w.changed().await,
                    None => std::future::pending().await,
                }
            } => event,
        };
        if event.event_type != EventType::Session {
            let (kind, env) = classify(&layout, &event.path);
            if kind == "clients" || kind == "view" {
                watched.on_change(&event.path, event.event_type);
            }
            if matches!(kind, "clients" | "associations" | "history") {
                // Registry writes (every live client, after every change),
                // index writes (with every nodemap change) and history
                // entries (with every change) would make every editor
                // re-read: the registry reaches streams as coalesced
                // `clients` events, the index through `nodemap`, an entry
                // through the change it records.
                continue;
            }
            send(
                "change",
                json!({"path": event.path, "kind": kind, "env": env}),
            );
            continue;
        }
        match event.session_state {
            SessionState::Disconnected => disconnected = true,
            SessionState::SyncConnected if !disconnected => {}
            session => {
                // Reconnected (the watch is gone on the server) or the
                // session ended (the watcher must not be polled again):
                // watch again on the current session, then tell the
                // streams to re-read.
                drop(watcher.take());
                loop {
                    if let Ok(w) = add_watch(&zk, &layout).await {
                        watcher = Some(w);
                        break;
                    }
                    tokio::select! {
                        _ = &mut stopped => return,
                        _ = shutdown.wait_for(|stop| *stop) => return,
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    }
                }
                disconnected = false;
                watched.resync();
                send("resync", json!({"reason": format!("{session:?}")}));
            }
        }
    }
}

/// Completes when the credential a stream was opened with may no longer
/// hold (see [`Hub::subscribe`]).
pub(crate) type Revoked = Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// One client's view of a feed.
struct Subscription {
    /// `ready`, sent first.
    first: Option<Event>,
    /// Ends the stream when the account that opened it is removed.
    revoked: Option<Revoked>,
    /// The last event (`revoked`) was sent.
    ended: bool,
    events: broadcast::Receiver<Arc<FeedEvent>>,
    shutdown: watch::Receiver<bool>,
    stats: Arc<HubStats>,
    /// Keeps the service's watch alive while this stream is open.
    _feed: Arc<Feed>,
    /// Gives the place among open streams back on drop.
    _slot: Slot,
}

impl Subscription {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> + Send {
        futures_util::stream::unfold(self, |mut sub| async move {
            if let Some(ready) = sub.first.take() {
                return Some((Ok(ready), sub));
            }
            if sub.ended {
                return None;
            }
            let event = tokio::select! {
                biased;
                _ = sub.shutdown.wait_for(|stop| *stop) => return None,
                _ = until_revoked(&mut sub.revoked) => None,
                event = sub.events.recv() => Some(event),
            };
            let Some(event) = event else {
                sub.ended = true;
                let last = Event::default().event("revoked").data(
                    json!({"reason": "the account this stream was opened with was removed or changed; reconnect with a valid credential"})
                        .to_string(),
                );
                return Some((Ok(last), sub));
            };
            let sse = match event {
                Ok(event) => event.to_sse(),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    sub.stats.lagged.fetch_add(1, Ordering::Relaxed);
                    Event::default()
                        .event("resync")
                        .data(json!({"reason": "lagged", "missed": missed}).to_string())
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(sse), sub))
        })
    }
}

/// Completes when `revoked` does; never without one.
async fn until_revoked(revoked: &mut Option<Revoked>) {
    match revoked {
        Some(revoked) => revoked.as_mut().await,
        None => std::future::pending().await,
    }
}

type BoxedEvents = Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

/// An event stream. The mutex only makes it `Sync`, as warp's SSE reply
/// asks; it is never contended (polling takes `&mut self`).
pub(crate) struct EventStream(Mutex<BoxedEvents>);

impl Stream for EventStream {
    type Item = Result<Event, Infallible>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let inner = self
            .get_mut()
            .0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        inner.as_mut().poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_paths() {
        let l = ServiceLayout::new(ServiceName::new("s").unwrap());
        assert_eq!(
            classify(&l, "/services/s/conf"),
            ("conf", Some(String::new()))
        );
        assert_eq!(
            classify(&l, "/services/s/conf/a/b"),
            ("conf", Some("a/b".into()))
        );
        assert_eq!(
            classify(&l, "/services/s/views/a"),
            ("view", Some("a".into()))
        );
        assert_eq!(classify(&l, "/services/s/nodemaps"), ("nodemap", None));
        assert_eq!(classify(&l, "/services/s"), ("service", None));
        assert_eq!(classify(&l, "/services/s/confx"), ("service", None));
        assert_eq!(classify(&l, "/services/s/clients"), ("clients", None));
        assert_eq!(
            classify(&l, "/services/s/clients/c0000000001"),
            ("clients", None)
        );
        assert_eq!(
            classify(&l, "/services/s/associations/web-01"),
            ("associations", None)
        );
        assert_eq!(classify(&l, "/services/s/clientsx"), ("service", None));
        assert_eq!(
            classify(&l, "/services/s/history/e0000000042"),
            ("history", None)
        );
        assert_eq!(classify(&l, "/services/s/pins"), ("pins", None));
        assert_eq!(classify(&l, "/services/s/schema"), ("schema", None));
    }
}
