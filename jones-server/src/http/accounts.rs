//! The account and session routes.
//!
//! - `GET /api/v1/accounts`: every account, without hashes (a znode that
//!   is not an account is listed with its `problem`);
//! - `POST /api/v1/accounts` `{"name", "grants": [{"role", "service"}]}`
//!   (and an optional `message`, logged):
//!   201 with the account and its `token`, the only time it is shown;
//! - `DELETE /api/v1/accounts/{name}`: refused everywhere from then on;
//! - `GET /api/v1/session`: who the request's credential names;
//! - `POST /api/v1/session` `{"token"}`: signs the editor in, setting the
//!   `jones_session` cookie (`HttpOnly`, `SameSite=Strict`, `Path=/`, and
//!   `Secure` when the request came over https);
//! - `DELETE /api/v1/session`: signs out, clearing the cookie.

use serde_json::{Value, json};
use warp::http::StatusCode;

use super::ServerState;
use super::auth::{self, Caller, SESSION_COOKIE};
use super::errors::ApiError;
use super::handlers::{json_body, json_response};
use super::router::{Handled, Request};
use crate::{AccountName, Error};

pub(crate) async fn list(state: &ServerState) -> Handled {
    let accounts: Vec<Value> = state
        .admin()
        .accounts()
        .await?
        .into_iter()
        .map(|found| match found {
            Ok(account) => account.to_json(),
            Err(Error::Corrupt { path, reason }) => json!({
                "name": path.rsplit('/').next().unwrap_or_default(),
                "problem": format!("corrupt data at {path}: {reason}"),
            }),
            Err(other) => json!({"problem": other.to_string()}),
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"accounts": accounts}),
    ))
}

pub(crate) async fn create(state: &ServerState, req: &Request) -> Handled {
    let body = json_body(req)?;
    if let Some(other) = body
        .keys()
        .find(|k| !["name", "grants", "message"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown field `{other}`: an account has `name` and `grants`"
        )));
    }
    let name = match body.get("name") {
        Some(Value::String(name)) => AccountName::new(name)?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`name` must be a string, not {}",
                jones_client::json_kind(other)
            )));
        }
        None => return Err(ApiError::bad_request("the body needs `name`")),
    };
    let grants = match body.get("grants") {
        Some(grants) => crate::accounts::parse_grants(grants)?,
        None => {
            return Err(ApiError::bad_request(
                "the body needs `grants`: [{\"role\": \"viewer\" | \"editor\" | \"admin\", \
                 \"service\": \"name\" | null}]",
            ));
        }
    };
    let (account, token) = super::handlers::author(state, req, &body)?
        .create_account(&name, grants)
        .await?;
    tracing::info!(account = %name, by = %req.actor(), "account created");
    let mut shown = account.to_json();
    shown["token"] = json!(token);
    Ok(json_response(StatusCode::CREATED, &shown))
}

pub(crate) async fn delete(state: &ServerState, req: &Request, name: &AccountName) -> Handled {
    super::handlers::author(state, req, &serde_json::Map::new())?
        .delete_account(name)
        .await?;
    tracing::info!(account = %name, by = %req.actor(), "account removed");
    Ok(json_response(
        StatusCode::OK,
        &json!({"deleted": name.as_str()}),
    ))
}

/// Who the request's credential names; always 200, so the editor can ask
/// before it signs in.
pub(crate) async fn session(state: &ServerState, req: &Request) -> Handled {
    let caller = auth::identify(state, auth::presented(&req.headers)).await?;
    Ok(json_response(StatusCode::OK, &session_body(state, &caller)))
}

/// Checks the body's `token` and keeps it in the session cookie.
pub(crate) async fn sign_in(state: &ServerState, req: &Request) -> Handled {
    let body = json_body(req)?;
    let token = match body.get("token") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.trim(),
        _ => {
            return Err(ApiError::bad_request(
                "the body needs `token`: an account's token (from `jones account add`) or the \
                 admin token",
            ));
        }
    };
    if token.bytes().any(|b| !b.is_ascii_graphic() || b == b';') {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this is not a token: tokens hold no spaces, `;` or control characters",
        ));
    }
    let caller = auth::identify(state, Some(token)).await?;
    match caller {
        Caller::Admin | Caller::Account(_) | Caller::Open(Some(_)) => {}
        Caller::Refused(why) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!("cannot sign in: {why}"),
            ));
        }
        Caller::Open(None) | Caller::Anonymous => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "cannot sign in: no account holds this token",
            ));
        }
    }
    let cookie = format!("{SESSION_COOKIE}={token}{}", attributes(state, req));
    Ok(with_cookie(
        json_response(StatusCode::OK, &session_body(state, &caller)),
        &cookie,
    ))
}

/// Clears the session cookie.
pub(crate) fn sign_out(state: &ServerState, req: &Request) -> Handled {
    let cookie = format!("{SESSION_COOKIE}={}; Max-Age=0", attributes(state, req));
    let open = state.inner.token.is_none();
    let caller = if open {
        Caller::Open(None)
    } else {
        Caller::Anonymous
    };
    Ok(with_cookie(
        json_response(StatusCode::OK, &session_body(state, &caller)),
        &cookie,
    ))
}

fn session_body(state: &ServerState, caller: &Caller) -> Value {
    caller.session_json(
        state.inner.token.is_none(),
        state.inner.options.anonymous_read,
    )
}

/// The cookie's attributes, `Secure` when the request came over https.
fn attributes(state: &ServerState, req: &Request) -> &'static str {
    match super::guard::came_over_https(&state.host_rules(), &req.headers) {
        true => "; HttpOnly; SameSite=Strict; Path=/; Secure",
        false => "; HttpOnly; SameSite=Strict; Path=/",
    }
}

fn with_cookie(mut response: warp::reply::Response, cookie: &str) -> warp::reply::Response {
    match warp::http::HeaderValue::from_str(cookie) {
        Ok(value) => {
            response
                .headers_mut()
                .insert(warp::http::header::SET_COOKIE, value);
            response
        }
        Err(_) => ApiError::bad_request("the token cannot be kept in a cookie").into_response(),
    }
}
