//! Errors as HTTP responses: a status a client can act on and a JSON body
//! `{"error": "<what was wrong>", "kind": "<machine-readable kind>", ...}`.

use serde_json::{Value, json};
use warp::http::StatusCode;
use warp::reply::Response;

use crate::Error;

/// A failed request: status, kind and message, plus extra fields.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({"error": message.into(), "kind": kind}),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is over the limit of {limit} bytes"),
        )
    }

    pub(crate) fn unavailable(kind: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, kind, message)
    }

    pub(crate) fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
    }

    pub(crate) fn into_response(self) -> Response {
        let mut response = warp::reply::json(&self.body).into_response();
        *response.status_mut() = self.status;
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                warp::http::header::WWW_AUTHENTICATE,
                warp::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

use warp::Reply as _;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::InvalidName(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_name", message),
            Error::ReadOnly { .. } => Self::new(StatusCode::BAD_REQUEST, "read_only", message),
            Error::InvalidInput { .. } => {
                Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
            }
            Error::TooLarge { .. } => Self::new(StatusCode::BAD_REQUEST, "too_large", message),
            Error::ServiceNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "service_not_found", message)
            }
            Error::EnvNotFound { .. } => Self::new(StatusCode::NOT_FOUND, "env_not_found", message),
            Error::AssociationNotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "association_not_found", message)
            }
            Error::HistoryEntryNotFound { .. } => {
                Self::new(StatusCode::NOT_FOUND, "history_entry_not_found", message)
            }
            Error::SchemaViolation {
                count,
                ref violations,
            } => {
                let mut err = Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "schema_violation",
                    message,
                );
                err.body["count"] = json!(count);
                err.body["violations"] = json!(violations);
                err
            }
            Error::NoSchema(_) => Self::new(StatusCode::NOT_FOUND, "no_schema", message),
            Error::NotPinned { .. } => Self::new(StatusCode::NOT_FOUND, "not_pinned", message),
            Error::Unrestorable { .. } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unrestorable", message)
            }
            Error::AccountNotFound(_) => {
                Self::new(StatusCode::NOT_FOUND, "account_not_found", message)
            }
            Error::AccountExists(_) => Self::new(StatusCode::CONFLICT, "account_exists", message),
            Error::Entropy(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "entropy", message),
            Error::ServiceExists(_) => Self::new(StatusCode::CONFLICT, "service_exists", message),
            Error::EnvExists { .. } => Self::new(StatusCode::CONFLICT, "env_exists", message),
            Error::HasChildren { ref children, .. } => {
                let mut err = Self::new(StatusCode::CONFLICT, "has_children", message);
                err.body["children"] = json!(children);
                err
            }
            Error::Conflict {
                ref env,
                current_version,
                ref current_config,
                ..
            } => {
                let mut err = Self::new(StatusCode::CONFLICT, "version_conflict", message);
                err.body["env"] = json!(env.as_str());
                err.body["current_version"] = json!(current_version);
                err.body["current_config"] = Value::Object(current_config.clone());
                err
            }
            Error::Contended { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "contended", message)
            }
            Error::Busy { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message),
            Error::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "zookeeper_unavailable",
                message,
            ),
            Error::NoAuth { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "zookeeper_no_auth",
                message,
            ),
            Error::Corrupt { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt", message)
            }
        }
    }
}
