//! The one error type of `jones`, the exit code of each class of error,
//! and how an error is printed: a line for people, or with `--json` an
//! object on stderr whose `kind` is the API's.
//!
//! | exit | class | examples of `kind` |
//! | --- | --- | --- |
//! | 0 | success | |
//! | 1 | [`Class::Failed`]: anything else (also `verify` finding problems) | `failed`, `corrupt` |
//! | 2 | [`Class::Invalid`]: bad input (a name, a value, a file, the command line), or a confirmation not given | `invalid_input`, `invalid_name`, `invalid_config`, `confirmation_required`, `not_confirmed` |
//! | 3 | [`Class::NotFound`]: no such service, environment, association | `service_not_found`, `env_not_found` |
//! | 4 | [`Class::Conflict`]: changed since it was read | `version_conflict` |
//! | 5 | [`Class::Unavailable`]: server or ZooKeeper unreachable or busy | `server_unreachable`, `zookeeper_unavailable` |
//! | 6 | [`Class::Unauthorized`]: the server refused the credentials | `unauthorized` |
//! | 7 | [`Class::Exists`]: it already exists | `service_exists`, `env_exists` |
//! | 8 | [`Class::NotEmpty`]: it has children, or holds data | `has_children`, `not_empty` |

use serde_json::{Value, json};

/// What a script can act on: each class has its own exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Failed,
    Invalid,
    NotFound,
    Conflict,
    Unavailable,
    Unauthorized,
    Exists,
    NotEmpty,
}

impl Class {
    /// The process exit code of this class.
    pub fn exit_code(self) -> i32 {
        match self {
            Class::Failed => 1,
            Class::Invalid => 2,
            Class::NotFound => 3,
            Class::Conflict => 4,
            Class::Unavailable => 5,
            Class::Unauthorized => 6,
            Class::Exists => 7,
            Class::NotEmpty => 8,
        }
    }

    /// The `kind` of an error of this class found by `jones` itself.
    fn default_kind(self) -> &'static str {
        match self {
            Class::Failed => "failed",
            Class::Invalid => "invalid_input",
            Class::NotFound => "not_found",
            Class::Conflict => "version_conflict",
            Class::Unavailable => "unavailable",
            Class::Unauthorized => "unauthorized",
            Class::Exists => "exists",
            Class::NotEmpty => "not_empty",
        }
    }
}

/// A failed command: its class (the exit code), a machine-readable `kind`
/// (the API's when the server answered), the message, and extra fields
/// the API sent (`current_version`, `children`, ...).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub class: Class,
    pub kind: String,
    pub message: String,
    /// Extra fields for `--json`.
    pub details: Option<Box<serde_json::Map<String, Value>>>,
}

impl CliError {
    /// An error of `class` with its default kind.
    pub fn new(class: Class, message: impl Into<String>) -> Self {
        Self {
            class,
            kind: class.default_kind().to_owned(),
            message: message.into(),
            details: None,
        }
    }

    /// The same error with another `kind`.
    pub fn with_kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// Bad input: a name, a value, a file (exit code 2).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Class::Invalid, message)
    }

    /// Something does not exist (exit code 3).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Class::NotFound, message)
    }

    /// Changed since it was read (exit code 4).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Class::Conflict, message)
    }

    /// The server or ZooKeeper cannot be reached (exit code 5).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Class::Unavailable, message)
    }

    /// It has children or holds data (exit code 8).
    pub fn not_empty(message: impl Into<String>) -> Self {
        Self::new(Class::NotEmpty, message)
    }

    /// Anything else (exit code 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Class::Failed, message)
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        self.class.exit_code()
    }

    /// The same error with its message passed through `f`.
    pub fn map_message(mut self, f: impl FnOnce(String) -> String) -> Self {
        self.message = f(self.message);
        self
    }

    /// The error as `--json` prints it: `{"error", "kind", "exit_code", ...details}`.
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "error": self.message,
            "kind": self.kind,
            "exit_code": self.exit_code(),
        });
        if let Some(details) = &self.details {
            for (key, value) in details.iter() {
                if !matches!(key.as_str(), "error" | "kind" | "exit_code") {
                    out[key] = value.clone();
                }
            }
        }
        out
    }
}

impl From<jones_client::Error> for CliError {
    fn from(e: jones_client::Error) -> Self {
        use jones_client::Error as E;
        let text = e.to_string();
        let (class, kind) = match e {
            E::InvalidName { .. } => (Class::Invalid, "invalid_name"),
            E::InvalidConfig { .. } => (Class::Invalid, "invalid_config"),
            E::InvalidNodemap { .. } | E::NotAViewPath { .. } | E::InvalidSettings(_) => {
                (Class::Invalid, "invalid_input")
            }
            E::ServiceNotFound { .. } => (Class::NotFound, "service_not_found"),
            E::ViewNotFound { .. } => (Class::NotFound, "not_found"),
            E::Unavailable { .. } | E::StartTimeout { .. } => {
                (Class::Unavailable, "zookeeper_unavailable")
            }
            _ => (Class::Failed, "failed"),
        };
        CliError::new(class, text).with_kind(kind)
    }
}

/// `Result` with a [`CliError`].
pub type Result<T, E = CliError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_carry_kind_code_and_details() {
        let mut e = CliError::conflict("changed").with_kind("version_conflict");
        e.details = json!({"current_version": 7, "kind": "ignored"})
            .as_object()
            .cloned()
            .map(Box::new);
        assert_eq!(
            e.to_json(),
            json!({"error": "changed", "kind": "version_conflict", "exit_code": 4, "current_version": 7})
        );
    }

    #[test]
    fn every_class_has_its_own_code() {
        let classes = [
            Class::Failed,
            Class::Invalid,
            Class::NotFound,
            Class::Conflict,
            Class::Unavailable,
            Class::Unauthorized,
            Class::Exists,
            Class::NotEmpty,
        ];
        let mut codes: Vec<i32> = classes.iter().map(|c| c.exit_code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes, (1..=8).collect::<Vec<_>>());
    }
}
