//! The Jones server's HTTP API (`/api/v1`), as the admin commands use it.

use std::time::Duration;

use jones_client::EnvPath;
use serde_json::{Value, json};

use crate::error::{Class, CliError};

/// A failed API call: the HTTP status (0 when the server was not reached),
/// the server's message, and its JSON body.
#[derive(Debug)]
pub struct ApiFailure {
    pub status: u16,
    pub message: String,
    pub body: Value,
}

impl From<ApiFailure> for CliError {
    /// The class (exit code) follows the status, refined by the body's
    /// `kind` for 409s: `version_conflict`, `*_exists`, `has_children`.
    /// The `kind` and the body's extra fields are kept for `--json`.
    fn from(f: ApiFailure) -> Self {
        let kind = f
            .body
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let class = match (f.status, kind.as_deref()) {
            (0 | 502..=504, _) => Class::Unavailable,
            (400 | 413 | 415 | 422, _) => Class::Invalid,
            (401 | 403, _) => Class::Unauthorized,
            (404, _) => Class::NotFound,
            (409, Some(k)) if k.ends_with("_exists") => Class::Exists,
            (409, Some("has_children" | "not_empty")) => Class::NotEmpty,
            (409, _) => Class::Conflict,
            _ => Class::Failed,
        };
        let mut error = CliError::new(class, f.message);
        match kind {
            Some(kind) => error = error.with_kind(kind),
            None if f.status == 0 => error = error.with_kind("server_unreachable"),
            None => {}
        }
        if let Value::Object(body) = f.body {
            error.details = Some(Box::new(body));
        }
        error
    }
}

/// A client of one Jones server.
#[derive(Debug)]
pub struct Api {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    /// Sent with every write (see [`Api::with_message`]).
    message: Option<String>,
}

fn seg(s: &str) -> String {
    // Percent-encode everything but unreserved characters.
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `base` with a scheme (`http://` when it has none) and no trailing `/`.
fn server_url(base: &str) -> String {
    let base = base.trim().trim_end_matches('/');
    if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    }
}

fn env_suffix(env: &EnvPath) -> String {
    env.segments().map(|s| format!("/{}", seg(s))).collect()
}

impl Api {
    /// A client of the server at `base` (`http://127.0.0.1:8080`, or
    /// `127.0.0.1:8080`: without a scheme, `http://` is meant).
    pub fn new(base: &str, token: Option<String>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self {
            base: server_url(base),
            token,
            agent,
            message: None,
        }
    }

    /// The same client, sending `message` with every write: recorded with
    /// the change in the service's history.
    pub fn with_message(mut self, message: Option<String>) -> Self {
        self.message = message;
        self
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ApiFailure> {
        let mut path = path.to_owned();
        let mut body = body.cloned();
        if let (Some(message), false) = (&self.message, method == "GET") {
            match &mut body {
                Some(Value::Object(fields)) => {
                    fields.insert("message".into(), Value::from(message.as_str()));
                }
                _ => {
                    let sep = if path.contains('?') { '&' } else { '?' };
                    path = format!("{path}{sep}message={}", seg(message));
                }
            }
        }
        let body = body.as_ref();
        let url = format!("{}/api/v1{path}", self.base);
        let unreachable = |e: ureq::Error| ApiFailure {
            status: 0,
            message: format!("cannot reach the Jones server at {}: {e}", self.base),
            body: Value::Null,
        };
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Accept", "application/json");
        let builder = match &self.token {
            Some(token) => builder.header("Authorization", format!("Bearer {token}")),
            None => builder,
        };
        let request = match body {
            Some(body) => builder
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).expect("JSON serializes")),
            None => builder.body(Vec::new()),
        }
        .map_err(|e| ApiFailure {
            status: 0,
            message: format!("invalid request to {url}: {e}"),
            body: Value::Null,
        })?;
        let mut response = self.agent.run(request).map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(unreachable)?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| body.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("HTTP {status} from {url}"));
        Err(ApiFailure {
            status,
            message,
            body,
        })
    }

    /// Creates account `name` with `grants`; the answer holds its token.
    pub fn create_account(&self, name: &str, grants: &[Value]) -> Result<Value, ApiFailure> {
        let body = json!({ "name": name, "grants": grants });
        self.call("POST", "/accounts", Some(&body))
    }

    /// Every account, without tokens or hashes.
    pub fn accounts(&self) -> Result<Value, ApiFailure> {
        self.call("GET", "/accounts", None)
    }

    pub fn delete_account(&self, name: &str) -> Result<Value, ApiFailure> {
        self.call("DELETE", &format!("/accounts/{}", seg(name)), None)
    }

    pub fn services(&self) -> Result<Value, ApiFailure> {
        self.call("GET", "/services", None)
    }

    pub fn create_service(&self, svc: &str, merge: &str) -> Result<Value, ApiFailure> {
        let body = json!({ "merge": merge });
        self.call("POST", &format!("/services/{}", seg(svc)), Some(&body))
    }

    /// The service: its merge mode and environment tree.
    pub fn service(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("GET", &format!("/services/{}", seg(svc)), None)
    }

    /// Changes the service's merge mode (every view is rewritten).
    pub fn set_merge(&self, svc: &str, merge: &str) -> Result<Value, ApiFailure> {
        let body = json!({ "merge": merge });
        self.call("PUT", &format!("/services/{}", seg(svc)), Some(&body))
    }

    pub fn delete_service(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("DELETE", &format!("/services/{}", seg(svc)), None)
    }

    pub fn tree(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("GET", &format!("/services/{}/envs", seg(svc)), None)
    }

    pub fn env(&self, svc: &str, env: &EnvPath) -> Result<Value, ApiFailure> {
        self.call(
            "GET",
            &format!("/services/{}/config{}", seg(svc), env_suffix(env)),
            None,
        )
    }

    pub fn create_env(
        &self,
        svc: &str,
        env: &EnvPath,
        config: &Value,
    ) -> Result<Value, ApiFailure> {
        let path = format!("/services/{}/config{}", seg(svc), env_suffix(env));
        self.call("POST", &path, Some(&json!({ "config": config })))
    }

    pub fn set_env(
        &self,
        svc: &str,
        env: &EnvPath,
        config: &Value,
        version: i64,
    ) -> Result<Value, ApiFailure> {
        let path = format!("/services/{}/config{}", seg(svc), env_suffix(env));
        self.call(
            "PUT",
            &path,
            Some(&json!({ "config": config, "version": version })),
        )
    }

    pub fn delete_env(
        &self,
        svc: &str,
        env: &EnvPath,
        recursive: bool,
    ) -> Result<Value, ApiFailure> {
        let query = if recursive { "?recursive=true" } else { "" };
        let path = format!("/services/{}/config{}{query}", seg(svc), env_suffix(env));
        self.call("DELETE", &path, None)
    }

    /// What setting `env`'s config to `config` would change: the views
    /// rewritten and the inherited keys they would lose.
    pub fn preview_config(
        &self,
        svc: &str,
        env: &EnvPath,
        config: &Value,
    ) -> Result<Value, ApiFailure> {
        let path = format!("/services/{}/preview/config{}", seg(svc), env_suffix(env));
        self.call("POST", &path, Some(&json!({ "config": config })))
    }

    /// What deleting `env` with its descendants (the root: the service)
    /// would remove.
    pub fn preview_delete(&self, svc: &str, env: &EnvPath) -> Result<Value, ApiFailure> {
        let path = format!("/services/{}/preview/delete{}", seg(svc), env_suffix(env));
        self.call("GET", &path, None)
    }

    pub fn associations(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("GET", &format!("/services/{}/associations", seg(svc)), None)
    }

    pub fn associate(&self, svc: &str, name: &str, env: &EnvPath) -> Result<Value, ApiFailure> {
        let path = format!("/services/{}/associations/{}", seg(svc), seg(name));
        self.call("PUT", &path, Some(&json!({ "env": env.as_str() })))
    }

    pub fn dissociate(&self, svc: &str, name: &str) -> Result<Value, ApiFailure> {
        let path = format!("/services/{}/associations/{}", seg(svc), seg(name));
        self.call("DELETE", &path, None)
    }

    pub fn resolve(&self, svc: &str, name: &str) -> Result<Value, ApiFailure> {
        self.call(
            "GET",
            &format!("/services/{}/resolve/{}", seg(svc), seg(name)),
            None,
        )
    }

    pub fn verify(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("GET", &format!("/services/{}/verify", seg(svc)), None)
    }

    pub fn repair(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("POST", &format!("/services/{}/repair", seg(svc)), None)
    }

    /// A page of the service's history, newest first.
    pub fn history(
        &self,
        svc: &str,
        env: Option<&EnvPath>,
        limit: usize,
        before: Option<u64>,
    ) -> Result<Value, ApiFailure> {
        let mut query = format!("limit={limit}");
        if let Some(env) = env {
            query.push_str(&format!("&env={}", seg(env.as_str())));
        }
        if let Some(before) = before {
            query.push_str(&format!("&before={before}"));
        }
        self.call(
            "GET",
            &format!("/services/{}/history?{query}", seg(svc)),
            None,
        )
    }

    pub fn jones_history(&self, limit: usize, before: Option<u64>) -> Result<Value, ApiFailure> {
        let mut query = format!("limit={limit}");
        if let Some(before) = before {
            query.push_str(&format!("&before={before}"));
        }
        self.call("GET", &format!("/history?{query}"), None)
    }

    /// The environment entry `id` changed and its config right after it.
    pub fn config_at(&self, svc: &str, id: u64) -> Result<Value, ApiFailure> {
        self.call(
            "GET",
            &format!("/services/{}/history/{id}/config", seg(svc)),
            None,
        )
    }

    pub fn rollback(&self, svc: &str, id: u64, version: i64) -> Result<Value, ApiFailure> {
        let body = serde_json::json!({"to": id, "version": version});
        self.call(
            "POST",
            &format!("/services/{}/rollback", seg(svc)),
            Some(&body),
        )
    }

    pub fn schema(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("GET", &format!("/services/{}/schema", seg(svc)), None)
    }

    pub fn set_schema(&self, svc: &str, schema: &Value) -> Result<Value, ApiFailure> {
        let body = serde_json::json!({ "schema": schema });
        self.call(
            "PUT",
            &format!("/services/{}/schema", seg(svc)),
            Some(&body),
        )
    }

    pub fn remove_schema(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("DELETE", &format!("/services/{}/schema", seg(svc)), None)
    }

    pub fn pins(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("GET", &format!("/services/{}/pins", seg(svc)), None)
    }

    pub fn pin(&self, svc: &str, env: &EnvPath, to: u64) -> Result<Value, ApiFailure> {
        let body = serde_json::json!({"to": to});
        self.call(
            "PUT",
            &format!("/services/{}/pins{}", seg(svc), env_suffix(env)),
            Some(&body),
        )
    }

    pub fn unpin(&self, svc: &str, env: &EnvPath) -> Result<Value, ApiFailure> {
        self.call(
            "DELETE",
            &format!("/services/{}/pins{}", seg(svc), env_suffix(env)),
            None,
        )
    }

    pub fn dump(&self, svc: &str) -> Result<Value, ApiFailure> {
        self.call("GET", &format!("/services/{}/dump", seg(svc)), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(seg("web-01.example.com"), "web-01.example.com");
        assert_eq!(seg("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(seg("ü"), "%C3%BC");
        assert_eq!(env_suffix(&EnvPath::new("a/b c").unwrap()), "/a/b%20c");
        assert_eq!(env_suffix(&EnvPath::root()), "");
    }

    #[test]
    fn a_server_without_a_scheme_is_http() {
        assert_eq!(server_url("127.0.0.1:9090"), "http://127.0.0.1:9090");
        assert_eq!(server_url("jones.example.com/"), "http://jones.example.com");
        assert_eq!(
            server_url("https://j.example.com/"),
            "https://j.example.com"
        );
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let failure = |status| ApiFailure {
            status,
            message: String::new(),
            body: Value::Null,
        };
        assert_eq!(CliError::from(failure(0)).exit_code(), 5);
        assert_eq!(CliError::from(failure(503)).exit_code(), 5);
        assert_eq!(CliError::from(failure(400)).exit_code(), 2);
        assert_eq!(CliError::from(failure(404)).exit_code(), 3);
        assert_eq!(CliError::from(failure(409)).exit_code(), 4);
        assert_eq!(CliError::from(failure(401)).exit_code(), 6);
        assert_eq!(CliError::from(failure(500)).exit_code(), 1);
        let with_kind = |kind: &str| ApiFailure {
            status: 409,
            message: String::new(),
            body: json!({"error": "", "kind": kind}),
        };
        assert_eq!(CliError::from(with_kind("version_conflict")).exit_code(), 4);
        assert_eq!(CliError::from(with_kind("env_exists")).exit_code(), 7);
        assert_eq!(CliError::from(with_kind("service_exists")).exit_code(), 7);
        assert_eq!(CliError::from(with_kind("has_children")).exit_code(), 8);
        assert_eq!(
            CliError::from(with_kind("has_children")).kind,
            "has_children"
        );
    }
}
