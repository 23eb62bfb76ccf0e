//! The one error type of `jones-client`.

use crate::model::name::NameKind;

/// Everything that can go wrong in `jones-client`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service name, environment path or association was refused.
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        /// Which kind of name.
        kind: NameKind,
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A config (an environment's or a view) is not a JSON object.
    #[error("invalid config: {reason}")]
    InvalidConfig {
        /// What is wrong with it.
        reason: String,
    },
    /// The nodemap could not be parsed.
    #[error("invalid nodemap: {reason}")]
    InvalidNodemap {
        /// What is wrong with it.
        reason: String,
    },
    /// A path that should be a view of a service is not one.
    #[error("{path:?} is not a view path of service {service:?}")]
    NotAViewPath {
        /// The path.
        path: String,
        /// The service it was checked against.
        service: String,
    },
}
