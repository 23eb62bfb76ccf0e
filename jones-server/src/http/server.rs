//! Accepting connections, with the limits warp's own server builder does
//! not offer: hyper's HTTP/1 connection builder on a tokio listener.
//!
//! - **Connection cap**: a semaphore of [`HttpOptions::max_connections`]
//!   permits; the accept loop takes one before accepting, so beyond the cap
//!   clients wait in the kernel's listen queue instead of costing memory.
//! - **Header-read timeout**: a client has
//!   [`HttpOptions::header_read_timeout`] to send a request head, which also
//!   ends idle kept-alive connections, so slow or idle clients give their
//!   permit back.
//! - **Send timeout**: a write to the client that stays blocked for
//!   [`HttpOptions::send_timeout`] (its receive window and our send buffer
//!   full: the client stopped reading) fails the connection, which drops
//!   the response, event streams included.
//! - **Shutdown deadline**: on shutdown the listener closes, event streams
//!   end, connections finish their current response; whatever is still open
//!   after [`HttpOptions::shutdown_deadline`] is closed.
//!
//! [`HttpOptions::max_connections`]: super::HttpOptions::max_connections
//! [`HttpOptions::header_read_timeout`]: super::HttpOptions::header_read_timeout
//! [`HttpOptions::send_timeout`]: super::HttpOptions::send_timeout
//! [`HttpOptions::shutdown_deadline`]: super::HttpOptions::shutdown_deadline

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Peer, ServerState, routes};

/// Serves until `shutdown` completes; see the module doc.
pub(crate) async fn run(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let options = state.options().clone();
    let service = TowerToHyperService::new(warp::service(routes(state.clone())));
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little,
                    // connections may close meanwhile.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let io = SendTimeout::new(TokioIo::new(stream), options.send_timeout, state.clone());
        let service = service.clone();
        let per_request = hyper::service::service_fn(move |mut request| {
            request.extensions_mut().insert(Peer(peer));
            service.call(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout)
            .serve_connection(io, per_request);
        let connection = graceful.watch(connection);
        let counted = Counted::new(state.clone());
        connections.spawn(async move {
            let _permit = permit;
            let _counted = counted;
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    state.shutdown();
    let open = connections.len();
    if tokio::time::timeout(options.shutdown_deadline, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open,
            deadline = ?options.shutdown_deadline,
            "connections still open at the shutdown deadline are closed"
        );
    }
    connections.shutdown().await;
}

/// Counts an open connection in the metrics while alive.
struct Counted(ServerState);

impl Counted {
    fn new(state: ServerState) -> Self {
        state
            .inner
            .metrics
            .connections
            .fetch_add(1, Ordering::Relaxed);
        Self(state)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0
            .inner
            .metrics
            .connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection whose writes fail once they stay blocked for `limit`.
struct SendTimeout<T> {
    io: T,
    limit: Duration,
    /// Running while a write is blocked.
    blocked: Option<Pin<Box<tokio::time::Sleep>>>,
    state: ServerState,
}

impl<T> SendTimeout<T> {
    fn new(io: T, limit: Duration, state: ServerState) -> Self {
        Self {
            io,
            limit,
            blocked: None,
            state,
        }
    }

    /// After the inner write returned `result`: passes it on, or turns a
    /// blocked write into an error once the limit has passed.
    fn judge<R>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        if result.is_ready() {
            self.blocked = None;
            return result;
        }
        let limit = self.limit;
        let timer = self
            .blocked
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(timer.as_mut().poll(cx));
        self.state
            .inner
            .metrics
            .send_timeouts
            .fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client read nothing for {limit:?}"),
        )))
    }
}

impl<T: hyper::rt::Read + Unpin> hyper::rt::Read for SendTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<T: hyper::rt::Write + Unpin> hyper::rt::Write for SendTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        this.judge(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.judge(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_flush(cx);
        this.judge(cx, result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.io).poll_shutdown(cx);
        this.judge(cx, result)
    }
}
