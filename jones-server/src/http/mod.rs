//! The HTTP API under `/api/v1`, `/healthz`, `/metrics`, and the web editor
//! at every other path. See `jones-server/README.md` for the API.
//!
//! | module | what it does |
//! | --- | --- |
//! | `server` | accepts connections: connection cap, header-read and send timeouts, shutdown deadline |
//! | `router` | resolves routes, checks the request head before the body is read, access log, metrics |
//! | `guard` | web security: `Host`, `Origin`, `Content-Type` |
//! | `auth` | who sent a request: the admin token, an account's token (bearer or session cookie), nobody |
//! | `roles` | what each route needs, in one table, and whether the caller has it |
//! | `accounts` | the account and session routes |
//! | `handlers` | one function per resource and method |
//! | `events` | server-sent events: one ZooKeeper watch per service, broadcast to its streams |
//! | `errors` | every failure as a status and a JSON body |
//! | `metrics` | `/metrics` with bounded labels |
//!
//! One catch-all warp filter hands each request to the router, so every
//! route, check, error and status code is in one readable place and every
//! failure becomes a JSON body naming what was wrong.
//!
//! ```no_run
//! # async fn demo(admin: jones_server::Admin) -> std::io::Result<()> {
//! use jones_server::http::{ServerState, serve};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let state = ServerState::new(admin, None);
//! serve(listener, state, async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # Ok(()) }
//! ```

mod accounts;
mod auth;
mod errors;
mod events;
mod guard;
mod handlers;
mod metrics;
mod roles;
mod router;
mod server;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use warp::Filter;
use warp::reply::Response;

pub use guard::PublicUrl;
pub use metrics::Metrics;

use crate::Admin;

/// Default largest request body accepted, in bytes (a config may be up to
/// [`crate::MAX_NODE_BYTES`]; larger bodies get 413).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Limits and names of the HTTP server. `HttpOptions::default()` holds the
/// defaults; change the fields you need.
///
/// ```
/// use jones_server::http::{HttpOptions, PublicUrl};
/// let mut options = HttpOptions::default();
/// options.public_urls.push(PublicUrl::parse("https://jones.example.com").unwrap());
/// options.max_streams = 100;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Names the server is reached at besides its listen address
    /// (`--public-url`): accepted in `Host`, and as `Origin` of writes.
    pub public_urls: Vec<PublicUrl>,
    /// Largest request body, checked against `Content-Length` before
    /// reading and while reading.
    pub max_body_bytes: usize,
    /// Open connections at most; further clients wait in the listen queue.
    pub max_connections: usize,
    /// Time a client has to send a request's head (also the idle time of a
    /// kept-alive connection).
    pub header_read_timeout: Duration,
    /// Time a write to a client may stay blocked (the client not reading)
    /// before the connection is cut: a stalled event stream is dropped.
    pub send_timeout: Duration,
    /// Open event streams at most; beyond it 503.
    pub max_streams: usize,
    /// Time open requests have to finish at shutdown before their
    /// connections are closed.
    pub shutdown_deadline: Duration,
    /// On a server with an admin token, let requests without a credential
    /// read (`--anonymous-read`): whatever a viewer may `GET`.
    pub anonymous_read: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            public_urls: Vec::new(),
            max_body_bytes: MAX_BODY_BYTES,
            max_connections: 4096,
            header_read_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            max_streams: 2048,
            shutdown_deadline: Duration::from_secs(5),
            anonymous_read: false,
        }
    }
}

/// What every request handler shares.
#[derive(Clone)]
pub struct ServerState {
    inner: Arc<Inner>,
}

struct Inner {
    admin: Admin,
    /// Admin token every write must carry, when set.
    token: Option<auth::Token>,
    options: HttpOptions,
    /// The address the server listens on, set by [`serve`].
    listen: OnceLock<SocketAddr>,
    metrics: Metrics,
    hub: events::Hub,
    /// Turns true when the server shuts down: ends event streams.
    shutdown_tx: tokio::sync::watch::Sender<bool>,
}

/// Shows limits and names, never the token or the ZooKeeper credential.
impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        f.debug_struct("ServerState")
            .field("token", &inner.token)
            .field("options", &inner.options)
            .field("listen", &inner.listen.get())
            .field("zookeeper", &inner.admin.zk().state())
            .finish_non_exhaustive()
    }
}

impl ServerState {
    /// State for a server writing through `admin`, requiring `token` as a
    /// bearer token on writes when given, with default [`HttpOptions`].
    pub fn new(admin: Admin, token: Option<String>) -> Self {
        Self::with_options(admin, token, HttpOptions::default())
    }

    /// State for a server with the given options.
    pub fn with_options(admin: Admin, token: Option<String>, options: HttpOptions) -> Self {
        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let hub = events::Hub::new(admin.zk().clone(), options.max_streams, shutdown_rx);
        Self {
            inner: Arc::new(Inner {
                admin,
                token: token.map(auth::Token::new),
                options,
                listen: OnceLock::new(),
                metrics: Metrics::default(),
                hub,
                shutdown_tx,
            }),
        }
    }

    /// The admin operations.
    pub fn admin(&self) -> &Admin {
        &self.inner.admin
    }

    /// The options the server runs with.
    pub fn options(&self) -> &HttpOptions {
        &self.inner.options
    }

    /// Ends every open event stream (the server is shutting down).
    pub fn shutdown(&self) {
        self.inner.shutdown_tx.send_replace(true);
    }

    fn host_rules(&self) -> guard::HostRules<'_> {
        guard::HostRules {
            listen: self.inner.listen.get().copied(),
            public: &self.inner.options.public_urls,
        }
    }
}

/// The peer of a connection, put into each request's extensions by
/// [`serve`].
#[derive(Debug, Clone, Copy)]
struct Peer(SocketAddr);

/// Every route of the server as one warp filter.
pub fn routes(
    state: ServerState,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let state = warp::any().map(move || state.clone());
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::ext::optional::<Peer>())
        .and(warp::body::stream())
        .and(state)
        .then(
            |method: warp::http::Method,
             path: warp::path::FullPath,
             query: String,
             headers: warp::http::HeaderMap,
             peer: Option<Peer>,
             body,
             state: ServerState| async move {
                let request = router::Request {
                    method,
                    path: path.as_str().to_owned(),
                    query,
                    headers,
                    peer: peer.map(|p| p.0),
                    body: bytes::Bytes::new(),
                    caller: auth::Caller::Anonymous,
                };
                router::handle(state, request, body).await
            },
        )
        .recover(|rejection: warp::Rejection| async move {
            // Only a malformed header gets here: every route is handled above.
            let error = errors::ApiError::bad_request(format!("malformed request: {rejection:?}"));
            Ok::<Response, Infallible>(error.into_response())
        })
        .unify()
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
/// ends event streams and gives open requests
/// [`HttpOptions::shutdown_deadline`] to finish before closing their
/// connections. See `server.rs` for the connection limits.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Ok(addr) = listener.local_addr() {
        let _ = state.inner.listen.set(addr);
    }
    server::run(listener, state, shutdown).await;
}
