//! The handlers: one function per resource and method, each returning a
//! JSON response or an [`ApiError`]; bodies are parsed and checked here.
//! The router has already checked the request head and read the body.

use jones_client::{Config, EnvPath, MergeMode, ServiceLayout, ServiceName, config_from_value};
use serde_json::{Value, json};
use warp::Reply;
use warp::http::StatusCode;
use warp::reply::Response;

use super::ServerState;
use super::errors::ApiError;
use super::events as event_stream;
use super::router::{Handled, Request};

/// The services the caller may view (all of them for a global role, or
/// when anonymous requests may read).
pub(crate) async fn list_services(state: &ServerState, req: &Request) -> Handled {
    let services = state.admin().list_services().await?;
    let names: Vec<&str> = services
        .iter()
        .filter(|s| super::roles::may_list(&req.caller, s, state.options().anonymous_read))
        .map(ServiceName::as_str)
        .collect();
    Ok(json_response(StatusCode::OK, &json!({"services": names})))
}

pub(crate) async fn service_tree(state: &ServerState, svc: &ServiceName) -> Handled {
    let (tree, merge) =
        futures_util::future::try_join(state.admin().env_tree(svc), state.admin().merge_mode(svc))
            .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "service": svc.as_str(),
            "merge": merge.as_str(),
            "read_only": crate::admin::check_writable(svc, None).err().map(|e| e.to_string()),
            "envs": tree,
        }),
    ))
}

/// Creates a service; an optional body `{"merge": "deep"}` sets its merge
/// mode (shallow, as original Jones merges, when absent).
pub(crate) async fn create_service(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
) -> Handled {
    let body = match req.body.is_empty() {
        true => serde_json::Map::new(),
        false => json_body(req)?,
    };
    let merge = match body.keys().any(|k| k != "message") {
        true => Some(merge_field(&body)?),
        false => None,
    };
    author(state, req, &body)?
        .create_service_with_merge(svc, merge.unwrap_or_default())
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({"service": svc.as_str(), "merge": merge.unwrap_or_default().as_str()}),
    ))
}

/// Changes a service's settings: `{"merge": "shallow" | "deep"}`, every
/// view that changes rewritten with it.
pub(crate) async fn set_service(state: &ServerState, req: &Request, svc: &ServiceName) -> Handled {
    let body = json_body(req)?;
    let mode = merge_field(&body)?;
    let outcome = author(state, req, &body)?.set_merge_mode(svc, mode).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "service": svc.as_str(),
            "merge": mode.as_str(),
            "views_written": outcome.views_written,
            "transactions": outcome.transactions,
        }),
    ))
}

/// What deleting `env` with its descendants (the root: the service) would
/// remove, deleted nowhere.
pub(crate) async fn preview_delete(
    state: &ServerState,
    svc: &ServiceName,
    env: &EnvPath,
) -> Handled {
    let preview = state.admin().preview_delete(svc, env).await?;
    Ok(json_response(StatusCode::OK, &preview))
}

/// What a `PUT` of the body's `config` would change, written nowhere.
pub(crate) async fn preview_config(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
    env: &EnvPath,
) -> Handled {
    let config = config_field(&json_body(req)?)?;
    let preview = state.admin().preview_env(svc, env, config).await?;
    Ok(json_response(StatusCode::OK, &preview))
}

pub(crate) async fn delete_service(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
) -> Handled {
    author(state, req, &serde_json::Map::new())?
        .delete_service(svc)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"deleted": svc.as_str()}),
    ))
}

pub(crate) async fn env_tree(state: &ServerState, svc: &ServiceName) -> Handled {
    let tree = state.admin().env_tree(svc).await?;
    Ok(json_response(StatusCode::OK, &tree))
}

pub(crate) async fn get_config(state: &ServerState, svc: &ServiceName, env: &EnvPath) -> Handled {
    let details = state.admin().get_env(svc, env).await?;
    Ok(with_etag(
        json_response(StatusCode::OK, &details),
        details.version,
    ))
}

pub(crate) async fn create_config(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
    env: &EnvPath,
) -> Handled {
    let body = json_body(req)?;
    let config = config_field(&body)?;
    let outcome = author(state, req, &body)?
        .create_env(svc, env, config)
        .await?;
    Ok(with_etag(
        json_response(
            StatusCode::CREATED,
            &json!({"env": env.as_str(), "version": outcome.version, "views_written": outcome.views_written}),
        ),
        outcome.version,
    ))
}

pub(crate) async fn set_config(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
    env: &EnvPath,
) -> Handled {
    let body = json_body(req)?;
    let config = config_field(&body)?;
    let version = expected_version(req, &body)?;
    let outcome = author(state, req, &body)?
        .set_env(svc, env, config, Some(version))
        .await?;
    Ok(with_etag(
        json_response(
            StatusCode::OK,
            &json!({
                "env": env.as_str(),
                "version": outcome.version,
                "views_written": outcome.views_written,
                "transactions": outcome.transactions,
            }),
        ),
        outcome.version,
    ))
}

/// The version a write is based on: the body's `version`, or the
/// `If-Match` header (the `ETag` a read answered); both must agree when
/// both are given.
fn expected_version(req: &Request, body: &serde_json::Map<String, Value>) -> Result<i64, ApiError> {
    let parse = |n: Option<i64>, shown: &dyn std::fmt::Display| {
        n.filter(|v| *v >= 0)
            .ok_or_else(|| ApiError::bad_request(format!("`version` {shown} is not a version")))
    };
    let from_body = match body.get("version") {
        Some(Value::Number(n)) => Some(parse(n.as_i64(), n)?),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`version` must be a number, not {}",
                jones_client::json_kind(other)
            )));
        }
        None => None,
    };
    let from_header = match req.headers.get(warp::http::header::IF_MATCH) {
        Some(value) => {
            let text = value.to_str().unwrap_or_default();
            let tag = text.trim().trim_matches('"');
            Some(parse(tag.parse().ok(), &format!("If-Match {text}"))?)
        }
        None => None,
    };
    match (from_body, from_header) {
        (Some(body), Some(header)) if body != header => Err(ApiError::bad_request(format!(
            "`version` {body} and If-Match {header} disagree"
        ))),
        (Some(v), _) | (None, Some(v)) => Ok(v),
        (None, None) => Err(ApiError::bad_request(
            "the body needs `version`: the version you read (GET returns it, also as ETag)",
        )),
    }
}

/// Adds the `ETag` of an environment at `version`.
fn with_etag(mut response: Response, version: i64) -> Response {
    let tag = warp::http::HeaderValue::from_str(&format!("\"{version}\"")).expect("digits");
    response.headers_mut().insert(warp::http::header::ETAG, tag);
    response
}

pub(crate) async fn delete_config(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
    env: &EnvPath,
) -> Handled {
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
    let deleted = author(state, req, &serde_json::Map::new())?
        .delete_env(svc, env, recursive)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "deleted": env.as_str(),
            "envs": deleted.envs,
            "associations": deleted.associations,
        }),
    ))
}

pub(crate) async fn associations(state: &ServerState, svc: &ServiceName) -> Handled {
    let list = state.admin().associations(svc).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"associations": list}),
    ))
}

pub(crate) async fn association(state: &ServerState, svc: &ServiceName, name: &str) -> Handled {
    let list = state.admin().associations(svc).await?;
    match list.into_iter().find(|a| a.name == name) {
        Some(a) => Ok(json_response(StatusCode::OK, &a)),
        None => Err(crate::Error::AssociationNotFound {
            service: svc.clone(),
            name: name.to_owned(),
        }
        .into()),
    }
}

pub(crate) async fn set_association(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
    name: &str,
) -> Handled {
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
    author(state, req, &body)?
        .set_association(svc, name, &env)
        .await?;
    let view_path = ServiceLayout::new(svc.clone()).view_path(&env);
    Ok(json_response(
        StatusCode::OK,
        &json!({"name": name, "env": env.as_str(), "view_path": view_path}),
    ))
}

pub(crate) async fn delete_association(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
    name: &str,
) -> Handled {
    author(state, req, &serde_json::Map::new())?
        .delete_association(svc, name)
        .await?;
    Ok(json_response(StatusCode::OK, &json!({"deleted": name})))
}

pub(crate) async fn resolve(state: &ServerState, svc: &ServiceName, name: &str) -> Handled {
    let resolved = state.admin().resolve(svc, name).await?;
    Ok(json_response(StatusCode::OK, &resolved))
}

pub(crate) async fn dump(state: &ServerState, svc: &ServiceName) -> Handled {
    let dump = state.admin().dump(svc).await?;
    Ok(json_response(StatusCode::OK, &dump))
}

pub(crate) async fn verify(state: &ServerState, svc: &ServiceName) -> Handled {
    let found = state.admin().verify(svc).await?;
    Ok(json_response(StatusCode::OK, &found))
}

/// Repairs the service, then answers with what a verify finds after it.
pub(crate) async fn repair(state: &ServerState, svc: &ServiceName) -> Handled {
    let admin = state.admin();
    let outcome = admin.repair(svc).await?;
    let after = admin.verify(svc).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "views_written": outcome.views_written,
            "transactions": outcome.transactions,
            "consistent": after.consistent,
            "problems": after.problems,
        }),
    ))
}

/// Which live clients read the service and what each has applied: from
/// the live picture of its registry when an event stream keeps one, else
/// from a one-shot full read.
pub(crate) async fn clients(state: &ServerState, svc: &ServiceName) -> Handled {
    let admin = state.admin();
    if !admin.service_exists(svc).await? {
        return Err(crate::Error::ServiceNotFound(svc.clone()).into());
    }
    let report = match state.inner.hub.clients_report(svc) {
        Some(report) => report,
        None => {
            let layout = ServiceLayout::new(svc.clone());
            crate::rollout::read_report(admin.zk(), &layout, &state.inner.hub.stats().rollout)
                .await?
        }
    };
    Ok(json_response(StatusCode::OK, &report))
}

/// Opens an event stream: 503 beyond the cap on open streams.
/// The service's event stream. A stream opened with an account's token
/// holds a watch on the account's znode and ends when it is removed.
pub(crate) async fn events(state: &ServerState, req: &Request, svc: &ServiceName) -> Handled {
    let Some(slot) = state.inner.hub.reserve() else {
        return Err(ApiError::unavailable(
            "too_many_streams",
            format!(
                "this server already serves its limit of {} event streams; retry later",
                state.inner.options.max_streams
            ),
        ));
    };
    let admin = state.admin();
    if !admin.service_exists(svc).await? {
        return Err(crate::Error::ServiceNotFound(svc.clone()).into());
    }
    let revoked = match &req.caller {
        super::auth::Caller::Account(account) => {
            let path = account.name().path();
            let (found, watcher) = admin.zk().watch_exists(&path).await?;
            if found.is_none() {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    format!("account {} was removed", account.name()),
                ));
            }
            Some(Box::pin(async move {
                watcher.changed().await;
            }) as event_stream::Revoked)
        }
        _ => None,
    };
    let stream = state
        .inner
        .hub
        .subscribe(ServiceLayout::new(svc.clone()), slot, revoked)
        .await?;
    let stream = warp::sse::keep_alive()
        .interval(event_stream::KEEP_ALIVE)
        .stream(stream);
    Ok(warp::sse::reply(stream).into_response())
}

pub(crate) fn healthz(state: &ServerState) -> Handled {
    let zk_state = state.admin().zk().state();
    let connected = matches!(zk_state, zookeeper_client::SessionState::SyncConnected);
    let mut body = json!({
        "status": if connected { "ok" } else { "unavailable" },
        "zookeeper": format!("{zk_state:?}"),
    });
    if let Some(audit) = state.admin().last_acl_audit() {
        // Open trees are reported, not a reason to take the server out.
        body["world_writable_znodes"] = json!({
            "count": audit.world_writable,
            "services": audit.services,
            "fix": "jones-server --secure-existing",
        });
    }
    let status = if connected {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_response(status, &body))
}

pub(crate) fn metrics(state: &ServerState) -> Handled {
    let text = state
        .inner
        .metrics
        .render(state.admin(), state.inner.hub.stats());
    Ok(warp::reply::with_header(text, "content-type", "text/plain; version=0.0.4").into_response())
}

pub(crate) fn ui(path: &str) -> Handled {
    match jones_ui::asset(path) {
        Some(asset) => Ok(
            warp::reply::with_header(asset.body, "content-type", asset.content_type)
                .into_response(),
        ),
        None => Err(ApiError::not_found(format!("no such page: {path}"))),
    }
}

/// The longest `message` a change may carry.
const MAX_MESSAGE_BYTES: usize = 4096;

/// The admin that records this request's change: by the request's actor,
/// with the body's `message` (or the `message` query parameter, for
/// requests without a body).
pub(crate) fn author(
    state: &ServerState,
    req: &Request,
    body: &serde_json::Map<String, Value>,
) -> Result<crate::Admin, ApiError> {
    let message = match body.get("message") {
        Some(Value::String(m)) => Some(m.clone()),
        Some(Value::Null) | None => match query_param(&req.query, "message") {
            Some(m) => Some(
                super::router::percent_decode(&m.replace('+', " "))
                    .map_err(|e| ApiError::bad_request(format!("`message`: {e}")))?,
            ),
            None => None,
        },
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`message` must be a string, not {}",
                jones_client::json_kind(other)
            )));
        }
    };
    if let Some(m) = &message {
        if m.len() > MAX_MESSAGE_BYTES {
            return Err(ApiError::bad_request(format!(
                "`message` is {} bytes, the limit is {MAX_MESSAGE_BYTES}",
                m.len()
            )));
        }
    }
    Ok(state
        .admin()
        .acting_as(crate::Author::new(req.actor()).with_message(message)))
}

/// A page of the service's history: `env`, `limit` (default 50) and
/// `before` from the query.
pub(crate) async fn history(state: &ServerState, req: &Request, svc: &ServiceName) -> Handled {
    let env = match query_param(&req.query, "env") {
        Some(e) => Some(
            super::router::percent_decode(e)
                .map_err(ApiError::bad_request)
                .and_then(|e| EnvPath::new(&e).map_err(|e| crate::Error::from(e).into()))?,
        ),
        None => None,
    };
    let (limit, before) = page_params(req)?;
    let page = state
        .admin()
        .history(svc, env.as_ref(), limit, before)
        .await?;
    Ok(json_response(StatusCode::OK, &page))
}

pub(crate) async fn jones_history(state: &ServerState, req: &Request) -> Handled {
    let (limit, before) = page_params(req)?;
    let page = state.admin().jones_history(limit, before).await?;
    Ok(json_response(StatusCode::OK, &page))
}

/// A history page's `limit` (default 50) and `before` from the query.
fn page_params(req: &Request) -> Result<(usize, Option<u64>), ApiError> {
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        match query_param(&req.query, name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(format!("`{name}` must be a whole number, not {v:?}"))
            }),
        }
    };
    Ok((number("limit")?.unwrap_or(50) as usize, number("before")?))
}

pub(crate) async fn history_entry(state: &ServerState, svc: &ServiceName, id: u64) -> Handled {
    let entry = state.admin().history_entry(svc, id).await?;
    Ok(json_response(StatusCode::OK, &entry))
}

pub(crate) async fn config_at(state: &ServerState, svc: &ServiceName, id: u64) -> Handled {
    let (env, config) = state.admin().config_at(svc, id).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({"id": id, "env": env.as_str(), "config": config}),
    ))
}

pub(crate) async fn schema(state: &ServerState, svc: &ServiceName) -> Handled {
    match state.admin().schema(svc).await? {
        Some(schema) => Ok(json_response(StatusCode::OK, &json!({"schema": schema}))),
        None => Err(crate::Error::NoSchema(svc.clone()).into()),
    }
}

pub(crate) async fn set_schema(state: &ServerState, req: &Request, svc: &ServiceName) -> Handled {
    let body = json_body(req)?;
    only_fields(&body, &["schema", "message"], "a schema")?;
    let Some(schema) = body.get("schema") else {
        return Err(ApiError::bad_request(
            "the body needs `schema`: a JSON Schema (draft 2020-12) for the service's views",
        ));
    };
    author(state, req, &body)?
        .set_schema(svc, schema.clone())
        .await?;
    Ok(json_response(StatusCode::OK, &json!({"schema": schema})))
}

pub(crate) async fn remove_schema(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
) -> Handled {
    author(state, req, &serde_json::Map::new())?
        .remove_schema(svc)
        .await?;
    Ok(json_response(StatusCode::OK, &json!({"removed": "schema"})))
}

pub(crate) async fn pins(state: &ServerState, svc: &ServiceName) -> Handled {
    let pins = state.admin().pins(svc).await?;
    Ok(json_response(StatusCode::OK, &json!({"pins": pins})))
}

pub(crate) async fn pin(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
    env: &EnvPath,
) -> Handled {
    let body = json_body(req)?;
    only_fields(&body, &["to", "message"], "a pin")?;
    let to = entry_id_field(&body)?;
    let outcome = author(state, req, &body)?.pin(svc, env, to).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "env": env.as_str(),
            "to": to,
            "views_written": outcome.views_written,
            "transactions": outcome.transactions,
        }),
    ))
}

pub(crate) async fn unpin(
    state: &ServerState,
    req: &Request,
    svc: &ServiceName,
    env: &EnvPath,
) -> Handled {
    let body = serde_json::Map::new();
    let outcome = author(state, req, &body)?.unpin(svc, env).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "unpinned": env.as_str(),
            "views_written": outcome.views_written,
            "transactions": outcome.transactions,
        }),
    ))
}

/// Refuses a body with a field not in `known`; `what` names the request.
fn only_fields(
    body: &serde_json::Map<String, Value>,
    known: &[&str],
    what: &str,
) -> Result<(), ApiError> {
    match body.keys().find(|k| !known.contains(&k.as_str())) {
        Some(other) => Err(ApiError::bad_request(format!(
            "unknown field `{other}`; {what} takes {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        None => Ok(()),
    }
}

/// The history entry id in the body's `to`.
fn entry_id_field(body: &serde_json::Map<String, Value>) -> Result<u64, ApiError> {
    match body.get("to") {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
            ApiError::bad_request(format!("`to` must be a history entry id, not {n}"))
        }),
        Some(other) => Err(ApiError::bad_request(format!(
            "`to` must be a history entry id (a number), not {}",
            jones_client::json_kind(other)
        ))),
        None => Err(ApiError::bad_request(
            "the body needs `to`: the id of the history entry to go back to",
        )),
    }
}

pub(crate) async fn rollback(state: &ServerState, req: &Request, svc: &ServiceName) -> Handled {
    let body = json_body(req)?;
    only_fields(&body, &["to", "version", "message"], "a rollback")?;
    let to = entry_id_field(&body)?;
    let version = expected_version(req, &body)?;
    let done = author(state, req, &body)?
        .rollback(svc, to, Some(version))
        .await?;
    Ok(with_etag(
        json_response(
            StatusCode::OK,
            &json!({
                "env": done.env.as_str(),
                "config": done.config,
                "version": done.outcome.version,
                "views_written": done.outcome.views_written,
                "transactions": done.outcome.transactions,
            }),
        ),
        done.outcome.version,
    ))
}

pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// The body as a JSON object, or a 400 naming what is wrong.
pub(crate) fn json_body(req: &Request) -> Result<serde_json::Map<String, Value>, ApiError> {
    let bytes = &req.body;
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
/// The settings body's `merge`; other keys than `message` are refused.
fn merge_field(body: &serde_json::Map<String, Value>) -> Result<MergeMode, ApiError> {
    if let Some(other) = body.keys().find(|k| *k != "merge" && *k != "message") {
        return Err(ApiError::bad_request(format!(
            "unknown service setting `{other}`; the one setting is `merge`"
        )));
    }
    match body.get("merge") {
        Some(Value::String(mode)) => mode.parse().map_err(ApiError::bad_request),
        Some(other) => Err(ApiError::bad_request(format!(
            "`merge` must be \"shallow\" or \"deep\", not {other}"
        ))),
        None => Err(ApiError::bad_request(
            "the body needs `merge`: \"shallow\" or \"deep\"",
        )),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_query_params() {
        assert_eq!(query_param("recursive=true", "recursive"), Some("true"));
        assert_eq!(query_param("a=1&recursive", "recursive"), Some(""));
        assert_eq!(query_param("", "recursive"), None);
    }
}
