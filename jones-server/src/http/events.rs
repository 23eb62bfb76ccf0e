//! `GET /api/v1/services/{svc}/events`: server-sent events fed by a
//! persistent recursive ZooKeeper watch on `/services/{svc}`.
//!
//! Events: `ready` once the watch is in place; `change` with data
//! `{"path", "kind": "conf"|"view"|"nodemap"|"service", "env"}` for every
//! znode change; `resync` after a reconnect (zookeeper-client 0.11 does not
//! re-register persistent watches, and ZooKeeper does not replay changes
//! missed while disconnected: the watch is added again and the client
//! should re-read). Keep-alive comments every 15 s. The stream ends when
//! the server shuts down or the client goes away.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use jones_client::ServiceLayout;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use warp::sse::Event;
use zookeeper_client::{AddWatchMode, EventType, PersistentWatcher, SessionState};

use crate::{Error, Zk};

/// Interval of keep-alive comments.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Classifies a changed znode of a service: kind and environment.
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
    } else {
        ("service", None)
    }
}

/// A stream of SSE events from a channel (so the stream is `Sync`).
pub(crate) struct EventStream(mpsc::Receiver<Event>);

impl Stream for EventStream {
    type Item = Result<Event, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|e| e.map(Ok))
    }
}

async fn add_watch(zk: &Zk, layout: &ServiceLayout) -> Result<PersistentWatcher, Error> {
    let client = zk.client().await?;
    client
        .watch(layout.service_path(), AddWatchMode::PersistentRecursive)
        .await
        .map_err(|e| crate::error::zk_error(layout.service_path(), e))
}

/// Starts watching `layout`'s service; the returned stream yields its
/// events. The task feeding it ends with the stream or on `shutdown`.
pub(crate) async fn subscribe(
    zk: Zk,
    layout: ServiceLayout,
    mut shutdown: watch::Receiver<bool>,
) -> Result<EventStream, Error> {
    let watcher = add_watch(&zk, &layout).await?;
    let (tx, rx) = mpsc::channel(256);
    let ready = Event::default()
        .event("ready")
        .data(json!({"service": layout.service().as_str()}).to_string());
    let _ = tx.try_send(ready);
    tokio::spawn(async move {
        let mut watcher = Some(watcher);
        let mut disconnected = false;
        loop {
            let event = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = tx.closed() => return,
                event = async {
                    match watcher.as_mut() {
                        Some(w) => w.changed().await,
                        None => std::future::pending().await,
                    }
                } => event,
            };
            if event.event_type != EventType::Session {
                let (kind, env) = classify(&layout, &event.path);
                let data = json!({"path": event.path, "kind": kind, "env": env});
                let sse = Event::default().event("change").data(data.to_string());
                if tx.send(sse).await.is_err() {
                    return;
                }
                continue;
            }
            match event.session_state {
                SessionState::Disconnected => disconnected = true,
                SessionState::SyncConnected if !disconnected => {}
                state => {
                    // Reconnected (the watch is gone on the server) or the
                    // session ended (the watcher must not be polled again):
                    // watch again on the current session, then tell the
                    // client to re-read.
                    drop(watcher.take());
                    loop {
                        if let Ok(w) = add_watch(&zk, &layout).await {
                            watcher = Some(w);
                            break;
                        }
                        tokio::select! {
                            _ = shutdown.wait_for(|stop| *stop) => return,
                            _ = tx.closed() => return,
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                    }
                    disconnected = false;
                    let data = json!({"reason": format!("{state:?}")});
                    let sse = Event::default().event("resync").data(data.to_string());
                    if tx.send(sse).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(EventStream(rx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jones_client::ServiceName;

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
    }
}
