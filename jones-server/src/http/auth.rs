//! Who a request comes from: the server's admin token, an account's token,
//! or nobody. A credential arrives as `Authorization: Bearer <token>` or as
//! the editor's session cookie (`jones_session`); the header wins when both
//! are sent. The admin token is compared in constant time; an account token
//! is checked against its account's znode, read now (see
//! `admin/accounts.rs`). Tokens never appear in `Debug` output or logs.

use jones_client::ServiceName;
use serde_json::{Value, json};
use warp::http::HeaderMap;
use warp::http::header::{AUTHORIZATION, COOKIE};

use super::ServerState;
use super::errors::ApiError;
use crate::accounts::token::constant_time_eq;
use crate::{Account, Role};

/// The cookie that carries the editor's session: an account's token (or
/// the admin token), `HttpOnly` and `SameSite=Strict`.
pub(crate) const SESSION_COOKIE: &str = "jones_session";

/// The admin token. Its `Debug` output is redacted.
#[derive(Clone)]
pub(crate) struct Token(String);

impl Token {
    pub(crate) fn new(token: String) -> Self {
        Self(token)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Who sent a request.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// On a server without an admin token, a local user: every request
    /// passes. A valid account token, when one was sent, names who.
    Open(Option<Account>),
    /// No credential, on a server with an admin token.
    Anonymous,
    /// A credential that proves nothing; why.
    Refused(&'static str),
    /// The server's admin token: an admin of every service.
    Admin,
    /// An account's token.
    Account(Account),
}

impl Caller {
    /// Who the request's changes are recorded as.
    pub(crate) fn actor(&self) -> &str {
        match self {
            Caller::Open(Some(a)) | Caller::Account(a) => a.name().as_str(),
            Caller::Open(None) => "local",
            Caller::Admin => "admin",
            Caller::Anonymous | Caller::Refused(_) => "anonymous",
        }
    }

    /// What the request presented, for the access log (never a token).
    pub(crate) fn log_label(&self) -> &'static str {
        match self {
            Caller::Open(None) => "open",
            Caller::Open(Some(_)) => "open+account",
            Caller::Anonymous => "none",
            Caller::Refused(_) => "wrong",
            Caller::Admin => "admin",
            Caller::Account(_) => "account",
        }
    }

    /// Its role on `service` (`None`: its global role): everything for a
    /// local user on an open server and for the admin token.
    pub(crate) fn role_on(&self, service: Option<&ServiceName>) -> Option<Role> {
        match self {
            Caller::Open(_) | Caller::Admin => Some(Role::Admin),
            Caller::Account(a) => a.role_on(service),
            Caller::Anonymous | Caller::Refused(_) => None,
        }
    }

    /// Who is signed in, as `GET /api/v1/session` shows it.
    pub(crate) fn session_json(&self, open: bool, anonymous_read: bool) -> Value {
        let (account, grants) = match self {
            Caller::Open(Some(a)) | Caller::Account(a) => (
                Some(a.name().as_str()),
                a.grants().iter().map(crate::Grant::to_json).collect(),
            ),
            Caller::Admin => (
                Some("admin"),
                vec![crate::Grant::global(Role::Admin).to_json()],
            ),
            Caller::Open(None) | Caller::Anonymous | Caller::Refused(_) => (None, Vec::new()),
        };
        let mut body = json!({
            "account": account,
            "grants": grants,
            "open": open,
            "anonymous_read": anonymous_read,
        });
        if let Caller::Refused(why) = self {
            body["refused"] = json!(why);
        }
        body
    }
}

/// The token a request presents: its bearer token, else its session
/// cookie; `None` when it sends neither (or an empty one).
pub(crate) fn presented(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = || {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .flat_map(|h| h.split(';'))
            .find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == SESSION_COOKIE).then(|| value.trim())
            })
    };
    bearer.or_else(cookie).filter(|t| !t.is_empty())
}

/// Who sent a request presenting `token`. Reads the account's znode for
/// an account token; fails only when ZooKeeper cannot answer on a server
/// that needs the answer.
pub(crate) async fn identify(state: &ServerState, token: Option<&str>) -> Result<Caller, ApiError> {
    let admin_token = state.inner.token.as_ref();
    let open = admin_token.is_none();
    let Some(token) = token else {
        return Ok(if open {
            Caller::Open(None)
        } else {
            Caller::Anonymous
        });
    };
    if admin_token.is_some_and(|t| constant_time_eq(token.as_bytes(), t.0.as_bytes())) {
        return Ok(Caller::Admin);
    }
    if crate::accounts::token::account_of(token).is_none() {
        return Ok(match open {
            true => Caller::Open(None),
            false => Caller::Refused("neither the admin token nor an account's token"),
        });
    }
    match (state.admin().authenticate(token).await, open) {
        (Ok(Some(account)), true) => Ok(Caller::Open(Some(account))),
        (Ok(Some(account)), false) => Ok(Caller::Account(account)),
        (Ok(None), false) => Ok(Caller::Refused(
            "no account holds this token: it is wrong, or its account was removed",
        )),
        (Ok(None) | Err(_), true) => Ok(Caller::Open(None)),
        (Err(e), false) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn tokens_come_from_the_header_or_the_cookie() {
        assert_eq!(presented(&headers(&[])), None);
        assert_eq!(
            presented(&headers(&[("authorization", "Bearer abc ")])),
            Some("abc")
        );
        assert_eq!(presented(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(presented(&headers(&[("authorization", "abc")])), None);
        assert_eq!(
            presented(&headers(&[("cookie", "a=1; jones_session=tok; b=2")])),
            Some("tok")
        );
        assert_eq!(
            presented(&headers(&[
                ("cookie", "a=1"),
                ("cookie", "jones_session=t2")
            ])),
            Some("t2")
        );
        assert_eq!(presented(&headers(&[("cookie", "jones_session=")])), None);
        assert_eq!(presented(&headers(&[("cookie", "xjones_session=t")])), None);
        assert_eq!(
            presented(&headers(&[
                ("authorization", "Bearer header"),
                ("cookie", "jones_session=cookie")
            ])),
            Some("header")
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!("{:?}", Token::new("s3cret".into()));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
