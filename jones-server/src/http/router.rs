//! The router: wiring only. It resolves a path to a [`Route`], applies the
//! request-head checks (web security, admin token, body size) before any
//! body byte is read, reads the body of writes within its limit, calls the
//! handler, records metrics and writes the access log.
//!
//! | route | methods |
//! | --- | --- |
//! | `/healthz`, `/metrics` | GET |
//! | `/api/v1/services` | GET |
//! | `/api/v1/services/{svc}` | GET, POST, DELETE |
//! | `/api/v1/services/{svc}/envs` | GET |
//! | `/api/v1/services/{svc}/config[/{env}]` | GET, POST, PUT, DELETE |
//! | `/api/v1/services/{svc}/associations` | GET |
//! | `/api/v1/services/{svc}/associations/{name}` | GET, PUT, DELETE |
//! | `/api/v1/services/{svc}/resolve/{name}` | GET |
//! | `/api/v1/services/{svc}/dump` | GET |
//! | `/api/v1/services/{svc}/verify` | GET |
//! | `/api/v1/services/{svc}/repair` | POST |
//! | `/api/v1/services/{svc}/clients` | GET |
//! | `/api/v1/history` | GET (the Jones-wide history) |
//! | `/api/v1/services/{svc}/history` | GET |
//! | `/api/v1/services/{svc}/history/{id}[/config]` | GET |
//! | `/api/v1/services/{svc}/rollback` | POST |
//! | `/api/v1/services/{svc}/schema` | GET, PUT, DELETE |
//! | `/api/v1/services/{svc}/pins` | GET |
//! | `/api/v1/services/{svc}/pins[/{env}]` | PUT, DELETE |
//! | `/api/v1/services/{svc}/events` | GET (server-sent events) |
//! | `/api/v1/accounts` | GET, POST |
//! | `/api/v1/accounts/{name}` | DELETE |
//! | `/api/v1/session` | GET, POST (sign in), DELETE (sign out) |
//! | anything else | GET: the web editor |
//!
//! The order of checks on a request: `Host` (403); for writes `Origin`
//! (403); the route (404); the caller's credential and role for the route
//! (401, 403; see `roles.rs`); for writes `Content-Type` (415), a declared
//! `Content-Length` over the limit (413); then the body is read, refused
//! with 413 the moment it passes the limit; then the handler runs.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use jones_client::{EnvPath, ServiceName};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;

use super::ServerState;
use super::auth::{self, Caller};
use super::errors::ApiError;
use super::handlers;
use super::roles::{self, Requirement};
use super::{accounts, guard};
use crate::AccountName;

/// A request as the handlers see it: the head, and the body of a write once
/// every check passed.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: Method,
    /// The path, still percent-encoded.
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    /// The peer's address (absent in in-process tests).
    pub peer: Option<SocketAddr>,
    /// The body; empty for reads.
    pub body: Bytes,
    /// Who sent it; found only for routes that need a role.
    pub caller: Caller,
}

impl Request {
    /// Who the request's changes are recorded as: the account's name,
    /// `admin` for the admin token, `local` on a server without one.
    pub(crate) fn actor(&self) -> &str {
        self.caller.actor()
    }
}

pub(crate) type Handled = Result<Response, ApiError>;

/// What a path names. Services, environments and association names are
/// decoded and checked here; everything else is the handlers' business.
#[derive(Debug)]
pub(crate) enum Route {
    Healthz,
    Metrics,
    Ui,
    Services,
    Service(ServiceName),
    Envs(ServiceName),
    Config(ServiceName, EnvPath),
    Preview(ServiceName, EnvPath),
    PreviewDelete(ServiceName, EnvPath),
    Associations(ServiceName),
    Association(ServiceName, String),
    Resolve(ServiceName, String),
    Dump(ServiceName),
    Verify(ServiceName),
    Repair(ServiceName),
    Clients(ServiceName),
    History(ServiceName),
    HistoryEntry(ServiceName, u64),
    HistoryConfig(ServiceName, u64),
    Rollback(ServiceName),
    Pins(ServiceName, EnvPath),
    Schema(ServiceName),
    Events(ServiceName),
    Accounts,
    Account(AccountName),
    Session,
    /// The Jones-wide history: service deletes, accounts.
    JonesHistory,
}

impl Route {
    /// The route as a template, the `route` label of metrics.
    pub(crate) fn template(&self) -> &'static str {
        match self {
            Route::Healthz => "/healthz",
            Route::Metrics => "/metrics",
            Route::Ui => "/",
            Route::Services => "/api/v1/services",
            Route::Service(_) => "/api/v1/services/{svc}",
            Route::Envs(_) => "/api/v1/services/{svc}/envs",
            Route::Config(_, env) if env.is_root() => "/api/v1/services/{svc}/config",
            Route::Config(..) => "/api/v1/services/{svc}/config/{env}",
            Route::Preview(_, env) if env.is_root() => "/api/v1/services/{svc}/preview/config",
            Route::Preview(..) => "/api/v1/services/{svc}/preview/config/{env}",
            Route::PreviewDelete(_, env) if env.is_root() => {
                "/api/v1/services/{svc}/preview/delete"
            }
            Route::PreviewDelete(..) => "/api/v1/services/{svc}/preview/delete/{env}",
            Route::Associations(_) => "/api/v1/services/{svc}/associations",
            Route::Association(..) => "/api/v1/services/{svc}/associations/{name}",
            Route::Resolve(..) => "/api/v1/services/{svc}/resolve/{name}",
            Route::Dump(_) => "/api/v1/services/{svc}/dump",
            Route::Verify(_) => "/api/v1/services/{svc}/verify",
            Route::Repair(_) => "/api/v1/services/{svc}/repair",
            Route::Clients(_) => "/api/v1/services/{svc}/clients",
            Route::History(_) => "/api/v1/services/{svc}/history",
            Route::HistoryEntry(..) => "/api/v1/services/{svc}/history/{id}",
            Route::HistoryConfig(..) => "/api/v1/services/{svc}/history/{id}/config",
            Route::Rollback(_) => "/api/v1/services/{svc}/rollback",
            Route::Pins(_, env) if env.is_root() => "/api/v1/services/{svc}/pins",
            Route::Pins(..) => "/api/v1/services/{svc}/pins/{env}",
            Route::Schema(_) => "/api/v1/services/{svc}/schema",
            Route::Events(_) => "/api/v1/services/{svc}/events",
            Route::Accounts => "/api/v1/accounts",
            Route::Account(_) => "/api/v1/accounts/{name}",
            Route::Session => "/api/v1/session",
            Route::JonesHistory => "/api/v1/history",
        }
    }

    /// The service the route is about.
    pub(crate) fn service(&self) -> Option<&ServiceName> {
        match self {
            Route::Healthz
            | Route::Metrics
            | Route::Ui
            | Route::Services
            | Route::Accounts
            | Route::Account(_)
            | Route::Session
            | Route::JonesHistory => None,
            Route::Service(s)
            | Route::Envs(s)
            | Route::Config(s, _)
            | Route::Preview(s, _)
            | Route::PreviewDelete(s, _)
            | Route::Associations(s)
            | Route::Association(s, _)
            | Route::Resolve(s, _)
            | Route::Dump(s)
            | Route::Verify(s)
            | Route::Repair(s)
            | Route::Clients(s)
            | Route::History(s)
            | Route::HistoryEntry(s, _)
            | Route::HistoryConfig(s, _)
            | Route::Rollback(s)
            | Route::Pins(s, _)
            | Route::Schema(s)
            | Route::Events(s) => Some(s),
        }
    }

    /// The environment or association a request is about, for the log.
    fn target(&self) -> Option<&str> {
        match self {
            Route::Config(_, env)
            | Route::Preview(_, env)
            | Route::PreviewDelete(_, env)
            | Route::Pins(_, env) => Some(env.as_str()),
            Route::Association(_, name) | Route::Resolve(_, name) => Some(name),
            Route::Account(name) => Some(name.as_str()),
            _ => None,
        }
    }
}

/// Calls the handler of `route` for the request's method.
async fn dispatch(state: &ServerState, req: &Request, route: &Route) -> Handled {
    use handlers as h;
    let m = &req.method;
    let get = *m == Method::GET || *m == Method::HEAD;
    match route {
        Route::Healthz if get => h::healthz(state),
        Route::Metrics if get => h::metrics(state),
        Route::Ui if get => h::ui(&req.path),
        Route::Services if get => h::list_services(state, req).await,
        Route::Service(svc) => match *m {
            Method::GET => h::service_tree(state, svc).await,
            Method::POST => h::create_service(state, req, svc).await,
            Method::PUT => h::set_service(state, req, svc).await,
            Method::DELETE => h::delete_service(state, req, svc).await,
            _ => Err(not_allowed(req)),
        },
        Route::Envs(svc) if get => h::env_tree(state, svc).await,
        Route::Config(svc, env) => match *m {
            Method::GET => h::get_config(state, svc, env).await,
            Method::POST => h::create_config(state, req, svc, env).await,
            Method::PUT => h::set_config(state, req, svc, env).await,
            Method::DELETE => h::delete_config(state, req, svc, env).await,
            _ => Err(not_allowed(req)),
        },
        Route::Preview(svc, env) if *m == Method::POST => {
            h::preview_config(state, req, svc, env).await
        }
        Route::PreviewDelete(svc, env) if get => h::preview_delete(state, svc, env).await,
        Route::Associations(svc) if get => h::associations(state, svc).await,
        Route::Association(svc, name) => match *m {
            Method::GET => h::association(state, svc, name).await,
            Method::PUT => h::set_association(state, req, svc, name).await,
            Method::DELETE => h::delete_association(state, req, svc, name).await,
            _ => Err(not_allowed(req)),
        },
        Route::Resolve(svc, name) if get => h::resolve(state, svc, name).await,
        Route::Dump(svc) if get => h::dump(state, svc).await,
        Route::Verify(svc) if get => h::verify(state, svc).await,
        Route::Repair(svc) if *m == Method::POST => h::repair(state, svc).await,
        Route::Clients(svc) if get => h::clients(state, svc).await,
        Route::History(svc) if get => h::history(state, req, svc).await,
        Route::HistoryEntry(svc, id) if get => h::history_entry(state, svc, *id).await,
        Route::HistoryConfig(svc, id) if get => h::config_at(state, svc, *id).await,
        Route::Rollback(svc) if *m == Method::POST => h::rollback(state, req, svc).await,
        Route::Schema(svc) => match *m {
            Method::GET | Method::HEAD => h::schema(state, svc).await,
            Method::PUT => h::set_schema(state, req, svc).await,
            Method::DELETE => h::remove_schema(state, req, svc).await,
            _ => Err(not_allowed(req)),
        },
        Route::Pins(svc, env) => match *m {
            Method::GET | Method::HEAD if env.is_root() => h::pins(state, svc).await,
            Method::PUT => h::pin(state, req, svc, env).await,
            Method::DELETE => h::unpin(state, req, svc, env).await,
            _ => Err(not_allowed(req)),
        },
        Route::Events(svc) if get => h::events(state, req, svc).await,
        Route::JonesHistory if get => h::jones_history(state, req).await,
        Route::Accounts => match *m {
            Method::GET => accounts::list(state).await,
            Method::POST => accounts::create(state, req).await,
            _ => Err(not_allowed(req)),
        },
        Route::Account(name) if *m == Method::DELETE => accounts::delete(state, req, name).await,
        Route::Session => match *m {
            Method::GET => accounts::session(state, req).await,
            Method::POST => accounts::sign_in(state, req).await,
            Method::DELETE => accounts::sign_out(state, req),
            _ => Err(not_allowed(req)),
        },
        _ => Err(not_allowed(req)),
    }
}

/// Resolves the request's path to a route; the error names what is wrong.
fn resolve(req: &Request) -> Result<Route, ApiError> {
    let segments: Vec<String> = req
        .path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect::<Result<_, _>>()
        .map_err(ApiError::bad_request)?;
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let no_route = || ApiError::not_found(format!("no such API route: {}", req.path));
    let rest = match segs.as_slice() {
        ["healthz"] => return Ok(Route::Healthz),
        ["metrics"] => return Ok(Route::Metrics),
        ["api", "v1", "session"] => return Ok(Route::Session),
        ["api", "v1", "history"] => return Ok(Route::JonesHistory),
        ["api", "v1", "accounts"] => return Ok(Route::Accounts),
        ["api", "v1", "accounts", name] => return Ok(Route::Account(AccountName::new(name)?)),
        ["api", "v1", "services", rest @ ..] => rest,
        ["api", "v1", ..] => return Err(no_route()),
        ["api", ..] => {
            return Err(ApiError::not_found(format!(
                "no such API route: {} (the API lives under /api/v1)",
                req.path
            )));
        }
        _ => return Ok(Route::Ui),
    };
    let Some((svc, rest)) = rest.split_first() else {
        return Ok(Route::Services);
    };
    let svc = ServiceName::new(svc).map_err(crate::Error::from)?;
    Ok(match rest {
        [] => Route::Service(svc),
        ["envs"] => Route::Envs(svc),
        ["config", env @ ..] => {
            let env = EnvPath::new(&env.join("/")).map_err(crate::Error::from)?;
            Route::Config(svc, env)
        }
        ["preview", "config", env @ ..] => {
            let env = EnvPath::new(&env.join("/")).map_err(crate::Error::from)?;
            Route::Preview(svc, env)
        }
        ["preview", "delete", env @ ..] => {
            let env = EnvPath::new(&env.join("/")).map_err(crate::Error::from)?;
            Route::PreviewDelete(svc, env)
        }
        ["associations"] => Route::Associations(svc),
        ["associations", name @ ..] if !name.is_empty() => Route::Association(svc, name.join("/")),
        ["resolve", name @ ..] if !name.is_empty() => Route::Resolve(svc, name.join("/")),
        ["dump"] => Route::Dump(svc),
        ["verify"] => Route::Verify(svc),
        ["repair"] => Route::Repair(svc),
        ["clients"] => Route::Clients(svc),
        ["history"] => Route::History(svc),
        ["history", id, rest @ ..] if rest.is_empty() || rest == ["config"] => {
            let id = id.parse().map_err(|_| {
                ApiError::bad_request(format!("history entry ids are numbers, not {id:?}"))
            })?;
            match rest {
                [] => Route::HistoryEntry(svc, id),
                _ => Route::HistoryConfig(svc, id),
            }
        }
        ["rollback"] => Route::Rollback(svc),
        ["schema"] => Route::Schema(svc),
        ["pins", env @ ..] => {
            let env = EnvPath::new(&env.join("/")).map_err(crate::Error::from)?;
            Route::Pins(svc, env)
        }
        ["events"] => Route::Events(svc),
        _ => return Err(no_route()),
    })
}

fn not_allowed(req: &Request) -> ApiError {
    ApiError::method_not_allowed(req.method.as_str(), &req.path)
}

/// Handles one request: checks, body, handler, metrics, access log.
pub(crate) async fn handle<S, B>(state: ServerState, mut req: Request, body: S) -> Response
where
    S: Stream<Item = Result<B, warp::Error>> + Send,
    B: warp::Buf,
{
    let started = Instant::now();
    let write = guard::is_write(&req.method);
    let route = resolve(&req);
    let result = match admit(&state, &mut req, write, &route).await {
        Err(e) => Err(e),
        Ok(route) if !write => dispatch(&state, &req, route).await,
        Ok(route) => match read_body(body, state.inner.options.max_body_bytes).await {
            Ok(bytes) => {
                req.body = bytes;
                dispatch(&state, &req, route).await
            }
            Err(e) => Err(e),
        },
    };
    let response = result.unwrap_or_else(|e| {
        if e.status.is_server_error() {
            tracing::warn!(method = %req.method, path = %req.path, error = %e.body["error"], "request failed");
        }
        e.into_response()
    });
    let status = response.status();
    let template = match &route {
        Ok(r) => r.template(),
        Err(_) => "unknown",
    };
    let refused = status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN;
    if write || refused {
        let route = route.as_ref().ok();
        tracing::info!(
            target: "jones_server::access",
            peer = %req.peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            token = %req.caller.log_label(),
            actor = %req.actor(),
            method = %req.method,
            path = %req.path,
            service = %route.and_then(Route::service).map_or("-", ServiceName::as_str),
            target = %route.and_then(Route::target).unwrap_or("-"),
            status = status.as_u16(),
            "{}",
            if write { "write" } else { "refused read" }
        );
    }
    state
        .inner
        .metrics
        .record(&req.method, template, status.as_u16(), started.elapsed());
    response
}

/// Everything decided from the head: host; for writes origin; the route;
/// the caller and its role; for writes content type and declared length.
/// Finds the caller (one ZooKeeper read for an account's token) only for
/// routes that need a role.
async fn admit<'r>(
    state: &ServerState,
    req: &mut Request,
    write: bool,
    route: &'r Result<Route, ApiError>,
) -> Result<&'r Route, ApiError> {
    let rules = state.host_rules();
    guard::check_host(&rules, &req.headers)?;
    if write {
        guard::check_write_origin(&rules, &req.headers)?;
    }
    let route = route.as_ref().map_err(Clone::clone)?;
    let needed = roles::required(route, &req.method);
    if needed != Requirement::Open {
        req.caller = auth::identify(state, auth::presented(&req.headers)).await?;
    }
    roles::authorize(
        &req.caller,
        needed,
        route,
        &req.method,
        state.inner.options.anonymous_read,
    )?;
    if !write {
        return Ok(route);
    }
    guard::check_content_type(&req.headers)?;
    let limit = state.inner.options.max_body_bytes;
    match guard::declared_length(&req.headers) {
        Some(n) if n > limit as u64 => Err(ApiError::body_too_large(limit)),
        _ => Ok(route),
    }
}

/// The body, refused the moment it passes `limit` bytes.
async fn read_body<S, B>(body: S, limit: usize) -> Result<Bytes, ApiError>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: warp::Buf,
{
    let mut body = std::pin::pin!(body);
    let mut collected = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk
            .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if collected.len() + chunk.remaining() > limit {
            return Err(ApiError::body_too_large(limit));
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

/// Decodes `%XX` escapes of a path segment.
pub(crate) fn percent_decode(segment: &str) -> Result<String, String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-escape in path segment {segment:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("path segment {segment:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_segments() {
        assert_eq!(percent_decode("a%20b").unwrap(), "a b");
        assert_eq!(percent_decode("%C3%BCber").unwrap(), "über");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%ff").is_err());
    }

    fn request(path: &str) -> Request {
        Request {
            method: Method::GET,
            path: path.into(),
            query: String::new(),
            headers: HeaderMap::new(),
            peer: None,
            body: Bytes::new(),
            caller: Caller::Anonymous,
        }
    }

    #[test]
    fn resolves_paths_to_templates() {
        for (path, template) in [
            ("/healthz", "/healthz"),
            ("/", "/"),
            ("/services/x", "/"),
            ("/api/v1/services", "/api/v1/services"),
            ("/api/v1/services/s", "/api/v1/services/{svc}"),
            ("/api/v1/services/s/config", "/api/v1/services/{svc}/config"),
            (
                "/api/v1/services/s/config/a/b",
                "/api/v1/services/{svc}/config/{env}",
            ),
            (
                "/api/v1/services/s/associations/h",
                "/api/v1/services/{svc}/associations/{name}",
            ),
            ("/api/v1/services/s/events", "/api/v1/services/{svc}/events"),
            (
                "/api/v1/services/s/clients",
                "/api/v1/services/{svc}/clients",
            ),
            ("/api/v1/accounts", "/api/v1/accounts"),
            ("/api/v1/accounts/ci.deploy_1", "/api/v1/accounts/{name}"),
            ("/api/v1/session", "/api/v1/session"),
        ] {
            assert_eq!(
                resolve(&request(path)).unwrap().template(),
                template,
                "{path}"
            );
        }
        for path in [
            "/api/v2",
            "/api/v1/nope",
            "/api/v1/services/s/nope",
            "/api/v1/services/%zz",
            "/api/v1/accounts/Not%20A%20Name",
            "/api/v1/accounts/a/b",
            "/api/v1/session/x",
        ] {
            assert!(resolve(&request(path)).is_err(), "{path}");
        }
    }
}
