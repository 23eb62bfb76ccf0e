//! The one error type of `jones`, and the exit code of each kind.

/// What went wrong; each kind has its own exit code so scripts can tell.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad input: a name, a value, a file (exit code 2).
    #[error("{0}")]
    Invalid(String),
    /// A service, environment or association does not exist (exit code 3).
    #[error("{0}")]
    NotFound(String),
    /// The environment changed since it was read (exit code 4).
    #[error("{0}")]
    Conflict(String),
    /// The Jones server or ZooKeeper cannot be reached (exit code 5).
    #[error("{0}")]
    Unavailable(String),
    /// The server refused the credentials (exit code 6).
    #[error("{0}")]
    Unauthorized(String),
    /// Anything else (exit code 1).
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Failed(_) => 1,
            CliError::Invalid(_) => 2,
            CliError::NotFound(_) => 3,
            CliError::Conflict(_) => 4,
            CliError::Unavailable(_) => 5,
            CliError::Unauthorized(_) => 6,
        }
    }

    /// The same kind of error with its message passed through `f`.
    pub fn map_message(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            CliError::Invalid(m) => CliError::Invalid(f(m)),
            CliError::NotFound(m) => CliError::NotFound(f(m)),
            CliError::Conflict(m) => CliError::Conflict(f(m)),
            CliError::Unavailable(m) => CliError::Unavailable(f(m)),
            CliError::Unauthorized(m) => CliError::Unauthorized(f(m)),
            CliError::Failed(m) => CliError::Failed(f(m)),
        }
    }
}

impl From<jones_client::Error> for CliError {
    fn from(e: jones_client::Error) -> Self {
        use jones_client::Error as E;
        let text = e.to_string();
        match e {
            E::InvalidName { .. }
            | E::InvalidConfig { .. }
            | E::InvalidNodemap { .. }
            | E::NotAViewPath { .. }
            | E::InvalidSettings(_) => CliError::Invalid(text),
            E::ServiceNotFound { .. } | E::ViewNotFound { .. } => CliError::NotFound(text),
            E::Unavailable { .. } | E::StartTimeout { .. } => CliError::Unavailable(text),
            _ => CliError::Failed(text),
        }
    }
}

/// `Result` with a [`CliError`].
pub type Result<T, E = CliError> = std::result::Result<T, E>;
