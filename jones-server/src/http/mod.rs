//! The HTTP API under `/api/v1`, `/healthz`, `/metrics`, and the web editor
//! at every other path. See `jones-server/README.md` for the API.
//!
//! One catch-all warp filter hands each request to a small router
//! (`router`, which calls `handlers`), so every route, error and status code is in one readable
//! place and every failure becomes a JSON body naming what was wrong.
//!
//! ```no_run
//! # async fn demo(admin: jones_server::Admin) -> std::io::Result<()> {
//! use jones_server::http::{ServerState, serve};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let state = ServerState::new(admin, None);
//! serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

mod auth;
mod errors;
mod events;
mod handlers;
mod metrics;
mod router;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use futures_util::StreamExt;
use warp::Filter;
use warp::reply::Response;

pub use metrics::Metrics;

use crate::Admin;

/// Largest request body accepted, in bytes (a config may be up to
/// [`crate::MAX_NODE_BYTES`]; larger bodies get 413).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What every request handler shares.
#[derive(Debug, Clone)]
pub struct ServerState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    admin: Admin,
    /// Admin token every write must carry, when set.
    token: Option<String>,
    metrics: Metrics,
    /// Turns true when the server shuts down: ends event streams.
    shutdown_tx: tokio::sync::watch::Sender<bool>,
}

impl ServerState {
    /// State for a server writing through `admin`, requiring `token` as a
    /// bearer token on writes when given.
    pub fn new(admin: Admin, token: Option<String>) -> Self {
        let (shutdown_tx, _) = tokio::sync::watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                admin,
                token,
                metrics: Metrics::default(),
                shutdown_tx,
            }),
        }
    }

    /// The admin operations.
    pub fn admin(&self) -> &Admin {
        &self.inner.admin
    }

    /// Ends every open event stream (the server is shutting down).
    pub fn shutdown(&self) {
        self.inner.shutdown_tx.send_replace(true);
    }
}

/// Every route of the server as one warp filter.
pub fn routes(
    state: ServerState,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let state = warp::any().map(move || state.clone());
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::body::stream())
        .and(state)
        .then(
            |method: warp::http::Method,
             path: warp::path::FullPath,
             query: String,
             authorization: Option<String>,
             body,
             state: ServerState| async move {
                let body = read_body(body).await;
                let request = router::Request {
                    method,
                    path: path.as_str().to_owned(),
                    query,
                    authorization,
                    body,
                };
                router::handle(state, request).await
            },
        )
        .recover(|rejection: warp::Rejection| async move {
            // Only a malformed header gets here: every route is handled above.
            let error = errors::ApiError::bad_request(format!("malformed request: {rejection:?}"));
            Ok::<Response, Infallible>(error.into_response())
        })
        .unify()
}

/// The body, or `Err` when it is over [`MAX_BODY_BYTES`] or broken.
async fn read_body<S, B>(body: S) -> Result<bytes::Bytes, String>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>>,
    B: warp::Buf,
{
    let mut body = std::pin::pin!(body);
    let mut collected = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(|e| format!("cannot read the request body: {e}"))?;
        if collected.len() + chunk.remaining() > MAX_BODY_BYTES {
            return Err(format!(
                "the request body is over the limit of {MAX_BODY_BYTES} bytes"
            ));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            collected.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(collected.freeze())
}

/// The listening rule: loopback is always allowed; any other address only
/// with an admin token, or when the operator says `--insecure`.
///
/// ```
/// use jones_server::http::check_listen;
/// assert!(check_listen("127.0.0.1:8080".parse().unwrap(), false, false).is_ok());
/// assert!(check_listen("0.0.0.0:8080".parse().unwrap(), false, false).is_err());
/// assert!(check_listen("0.0.0.0:8080".parse().unwrap(), true, false).is_ok());
/// assert!(check_listen("[::]:8080".parse().unwrap(), false, true).is_ok());
/// ```
pub fn check_listen(
    addr: std::net::SocketAddr,
    has_token: bool,
    insecure: bool,
) -> Result<(), String> {
    if addr.ip().is_loopback() || has_token || insecure {
        return Ok(());
    }
    Err(format!(
        "refusing to listen on {addr} (not loopback) without an admin token: \
         set --admin-token (or JONES_ADMIN_TOKEN), or pass --insecure"
    ))
}

/// Serves `state`'s routes on `listener` until `shutdown` completes, then
/// ends event streams and waits for open requests to finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let on_shutdown = state.clone();
    warp::serve(routes(state))
        .incoming(listener)
        .graceful(async move {
            shutdown.await;
            on_shutdown.shutdown();
        })
        .run()
        .await;
}
