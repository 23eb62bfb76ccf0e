//! The router and the handlers: one function per route, each returning a
//! JSON response or an [`ApiError`].
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
//! | `/api/v1/services/{svc}/events` | GET (server-sent events) |
//! | anything else | GET: the web editor |

use std::time::Instant;

use jones_client::{Config, EnvPath, ServiceLayout, ServiceName, config_from_value};
use serde_json::{Value, json};
use warp::Reply;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::ServerState;
use super::errors::ApiError;
use super::{auth, events};

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

type Handled = Result<Response, ApiError>;

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

async fn list_services(state: &ServerState) -> Handled {
    let services = state.admin().list_services().await?;
    let names: Vec<&str> = services.iter().map(ServiceName::as_str).collect();
    Ok(json_response(StatusCode::OK, &json!({"services": names})))
}

async fn env_tree(state: &ServerState, svc: &ServiceName) -> Result<crate::EnvTree, ApiError> {
    Ok(state.admin().env_tree(svc).await?)
}

async fn config(state: &ServerState, req: &Request, svc: &ServiceName, env: &EnvPath) -> Handled {
    let admin = state.admin();
    match req.method {
        Method::GET => {
            let details = admin.get_env(svc, env).await?;
            Ok(json_response(StatusCode::OK, &details))
        }
        Method::POST => {
            let body = json_body(req)?;
            let config = config_field(&body)?;
            let outcome = admin.create_env(svc, env, config).await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"env": env.as_str(), "version": outcome.version, "views_written": outcome.views_written}),
            ))
        }
        Method::PUT => {
            let body = json_body(req)?;
            let config = config_field(&body)?;
            let version = match body.get("version") {
                Some(Value::Number(n)) => n
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!("`version` {n} is not a ZooKeeper version"))
                    })?,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "`version` must be a number, not {}",
                        jones_client::json_kind(other)
                    )));
                }
                None => {
                    return Err(ApiError::bad_request(
                        "the body needs `version`: the version you read (GET returns it)",
                    ));
                }
            };
            let outcome = admin.set_env(svc, env, config, Some(version)).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({
                    "env": env.as_str(),
                    "version": outcome.version,
                    "views_written": outcome.views_written,
                    "transactions": outcome.transactions,
                }),
            ))
        }
        Method::DELETE => {
            let recursive = match query_param(&req.query, "recursive") {
                None => false,
                Some("true" | "1") => true,
                Some("false" | "0") => false,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "`recursive` must be true or false, not {other:?}"
                    )));
                }
            };
            admin.delete_env(svc, env, recursive).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"deleted": env.as_str()}),
            ))
        }
        _ => Err(ApiError::method_not_allowed(req.method.as_str(), &req.path)),
    }
}

async fn association(state: &ServerState, req: &Request, svc: &ServiceName, name: &str) -> Handled {
    let admin = state.admin();
    match req.method {
        Method::GET => {
            let list = admin.associations(svc).await?;
            match list.into_iter().find(|a| a.name == name) {
                Some(a) => Ok(json_response(StatusCode::OK, &a)),
                None => Err(crate::Error::AssociationNotFound {
                    service: svc.clone(),
                    name: name.to_owned(),
                }
                .into()),
            }
        }
        Method::PUT => {
            let body = json_body(req)?;
            let env = match body.get("env") {
                Some(Value::String(s)) => EnvPath::new(s).map_err(crate::Error::from)?,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "`env` must be a string (an environment path, \"\" for the root), not {}",
                        jones_client::json_kind(other)
                    )));
                }
                None => {
                    return Err(ApiError::bad_request(
                        "the body needs `env`: the environment path, \"\" for the root",
                    ));
                }
            };
            admin.set_association(svc, name, &env).await?;
            let view_path = ServiceLayout::new(svc.clone()).view_path(&env);
            Ok(json_response(
                StatusCode::OK,
                &json!({"name": name, "env": env.as_str(), "view_path": view_path}),
            ))
        }
        Method::DELETE => {
            admin.delete_association(svc, name).await?;
            Ok(json_response(StatusCode::OK, &json!({"deleted": name})))
        }
        _ => Err(ApiError::method_not_allowed(req.method.as_str(), &req.path)),
    }
}

async fn events(state: &ServerState, svc: &ServiceName) -> Handled {
    let admin = state.admin();
    if !admin.service_exists(svc).await? {
        return Err(crate::Error::ServiceNotFound(svc.clone()).into());
    }
    let stream = events::subscribe(
        admin.zk().clone(),
        ServiceLayout::new(svc.clone()),
        state.inner.shutdown_tx.subscribe(),
    )
    .await?;
    let stream = warp::sse::keep_alive()
        .interval(events::KEEP_ALIVE)
        .stream(stream);
    Ok(warp::sse::reply(stream).into_response())
}

fn healthz(state: &ServerState) -> Handled {
    let zk_state = state.admin().zk().state();
    let connected = matches!(zk_state, zookeeper_client::SessionState::SyncConnected);
    let body = json!({
        "status": if connected { "ok" } else { "unavailable" },
        "zookeeper": format!("{zk_state:?}"),
    });
    let status = if connected {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_response(status, &body))
}

fn metrics(state: &ServerState) -> Handled {
    let text = state.inner.metrics.render(state.admin());
    Ok(warp::reply::with_header(text, "content-type", "text/plain; version=0.0.4").into_response())
}

fn ui(path: &str) -> Handled {
    match jones_ui::asset(path) {
        Some(asset) => Ok(
            warp::reply::with_header(asset.body, "content-type", asset.content_type)
                .into_response(),
        ),
        None => Err(ApiError::not_found(format!("no such page: {path}"))),
    }
}

fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// The body as a JSON object, or a 400/413 naming what is wrong.
fn json_body(req: &Request) -> Result<serde_json::Map<String, Value>, ApiError> {
    let bytes = req
        .body
        .as_ref()
        .map_err(|e| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", e.clone()))?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request("the request needs a JSON body"));
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ApiError::bad_request(format!(
            "the body must be a JSON object, not {}",
            jones_client::json_kind(&other)
        ))),
    }
}

/// The `config` field of a body: a JSON object.
fn config_field(body: &serde_json::Map<String, Value>) -> Result<Config, ApiError> {
    let value = body
        .get("config")
        .cloned()
        .ok_or_else(|| ApiError::bad_request("the body needs `config`: a JSON object"))?;
    config_from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_config",
            format!("`config`: {e}"),
        )
    })
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
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

    #[test]
    fn reads_query_params() {
        assert_eq!(query_param("recursive=true", "recursive"), Some("true"));
        assert_eq!(query_param("a=1&recursive", "recursive"), Some(""));
        assert_eq!(query_param("", "recursive"), None);
    }
}
