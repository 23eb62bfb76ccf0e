//! The router: matches method and path, checks the admin token on writes,
//! calls a handler, records metrics, and turns errors into responses.
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
//! | `/api/v1/services/{svc}/events` | GET (server-sent events) |
//! | anything else | GET: the web editor |

use std::time::Instant;

use jones_client::{EnvPath, ServiceName};
use serde_json::json;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::ServerState;
use super::auth;
use super::errors::ApiError;
use super::handlers::{
    association, config, env_tree, events, healthz, json_response, list_services, metrics, repair,
    ui,
};

/// A request as the router sees it.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: Method,
    /// The path, still percent-encoded.
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    /// The body, or why it was refused.
    pub body: Result<bytes::Bytes, String>,
}

pub(crate) type Handled = Result<Response, ApiError>;

/// Routes `request`, records its metrics, and turns errors into responses.
pub(crate) async fn handle(state: ServerState, request: Request) -> Response {
    let started = Instant::now();
    let (route, result) = route(&state, &request).await;
    let response = result.unwrap_or_else(|e| {
        if e.status.is_server_error() {
            tracing::warn!(method = %request.method, path = %request.path, error = %e.body["error"], "request failed");
        }
        e.into_response()
    });
    state.inner.metrics.record(
        request.method.as_str(),
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn route(state: &ServerState, req: &Request) -> (&'static str, Handled) {
    let segments: Vec<String> = match req
        .path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect::<Result<_, _>>()
    {
        Ok(s) => s,
        Err(e) => return ("invalid", Err(ApiError::bad_request(e))),
    };
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let m = &req.method;
    match segs.as_slice() {
        ["healthz"] => ("/healthz", only_get(m, req, || healthz(state))),
        ["metrics"] => ("/metrics", only_get(m, req, || metrics(state))),
        ["api", "v1", rest @ ..] => api(state, req, rest).await,
        ["api", ..] => (
            "unknown",
            Err(ApiError::not_found(format!(
                "no such API route: {} (the API lives under /api/v1)",
                req.path
            ))),
        ),
        _ if *m == Method::GET || *m == Method::HEAD => ("/", ui(&req.path)),
        _ => (
            "unknown",
            Err(ApiError::method_not_allowed(m.as_str(), &req.path)),
        ),
    }
}

fn only_get(m: &Method, req: &Request, f: impl FnOnce() -> Handled) -> Handled {
    if *m == Method::GET {
        f()
    } else {
        Err(ApiError::method_not_allowed(m.as_str(), &req.path))
    }
}

async fn api(state: &ServerState, req: &Request, rest: &[&str]) -> (&'static str, Handled) {
    let admin = state.admin();
    let m = &req.method;
    let not_allowed = || Err(ApiError::method_not_allowed(m.as_str(), &req.path));
    if *m != Method::GET && *m != Method::HEAD {
        if let Err(e) =
            auth::check_write(state.inner.token.as_deref(), req.authorization.as_deref())
        {
            return ("unauthorized", Err(e));
        }
    }
    let [first, rest @ ..] = rest else {
        return (
            "unknown",
            Err(ApiError::not_found("no such API route: /api/v1")),
        );
    };
    if *first != "services" {
        return (
            "unknown",
            Err(ApiError::not_found(format!(
                "no such API route: {}",
                req.path
            ))),
        );
    }
    let Some((svc, rest)) = rest.split_first() else {
        let r = "/api/v1/services";
        return match *m {
            Method::GET => (r, list_services(state).await),
            _ => (r, not_allowed()),
        };
    };
    let svc = match ServiceName::new(svc) {
        Ok(s) => s,
        Err(e) => return ("invalid", Err(crate::Error::from(e).into())),
    };
    match rest {
        [] => {
            let r = "/api/v1/services/{svc}";
            let result = match *m {
                Method::GET => env_tree(state, &svc).await.map(|tree| {
                    json_response(
                        StatusCode::OK,
                        &json!({"service": svc.as_str(), "envs": tree}),
                    )
                }),
                Method::POST => admin
                    .create_service(&svc)
                    .await
                    .map(|()| json_response(StatusCode::CREATED, &json!({"service": svc.as_str()})))
                    .map_err(Into::into),
                Method::DELETE => admin
                    .delete_service(&svc)
                    .await
                    .map(|()| json_response(StatusCode::OK, &json!({"deleted": svc.as_str()})))
                    .map_err(Into::into),
                _ => not_allowed(),
            };
            (r, result)
        }
        ["envs"] => {
            let r = "/api/v1/services/{svc}/envs";
            match *m {
                Method::GET => (
                    r,
                    env_tree(state, &svc)
                        .await
                        .map(|tree| json_response(StatusCode::OK, &tree)),
                ),
                _ => (r, not_allowed()),
            }
        }
        ["config", env @ ..] => {
            let r = if env.is_empty() {
                "/api/v1/services/{svc}/config"
            } else {
                "/api/v1/services/{svc}/config/{env}"
            };
            let env = match EnvPath::new(&env.join("/")) {
                Ok(e) => e,
                Err(e) => return (r, Err(crate::Error::from(e).into())),
            };
            (r, config(state, req, &svc, &env).await)
        }
        ["associations"] => {
            let r = "/api/v1/services/{svc}/associations";
            match *m {
                Method::GET => (
                    r,
                    admin
                        .associations(&svc)
                        .await
                        .map(|list| json_response(StatusCode::OK, &json!({"associations": list})))
                        .map_err(Into::into),
                ),
                _ => (r, not_allowed()),
            }
        }
        ["associations", name @ ..] if !name.is_empty() => {
            let r = "/api/v1/services/{svc}/associations/{name}";
            (r, association(state, req, &svc, &name.join("/")).await)
        }
        ["resolve", name @ ..] if !name.is_empty() => {
            let r = "/api/v1/services/{svc}/resolve/{name}";
            match *m {
                Method::GET => (
                    r,
                    admin
                        .resolve(&svc, &name.join("/"))
                        .await
                        .map(|resolved| json_response(StatusCode::OK, &resolved))
                        .map_err(Into::into),
                ),
                _ => (r, not_allowed()),
            }
        }
        ["dump"] => {
            let r = "/api/v1/services/{svc}/dump";
            match *m {
                Method::GET => (
                    r,
                    admin
                        .dump(&svc)
                        .await
                        .map(|dump| json_response(StatusCode::OK, &dump))
                        .map_err(Into::into),
                ),
                _ => (r, not_allowed()),
            }
        }
        ["verify"] => {
            let r = "/api/v1/services/{svc}/verify";
            match *m {
                Method::GET => (
                    r,
                    admin
                        .verify(&svc)
                        .await
                        .map(|found| json_response(StatusCode::OK, &found))
                        .map_err(Into::into),
                ),
                _ => (r, not_allowed()),
            }
        }
        ["repair"] => {
            let r = "/api/v1/services/{svc}/repair";
            match *m {
                Method::POST => (r, repair(state, &svc).await),
                _ => (r, not_allowed()),
            }
        }
        ["events"] => {
            let r = "/api/v1/services/{svc}/events";
            match *m {
                Method::GET => (r, events(state, &svc).await),
                _ => (r, not_allowed()),
            }
        }
        _ => (
            "unknown",
            Err(ApiError::not_found(format!(
                "no such API route: {}",
                req.path
            ))),
        ),
    }
}

/// Decodes `%XX` escapes of a path segment.
fn percent_decode(segment: &str) -> Result<String, String> {
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
}
