//! The admin token: when the server has one, every write must carry it as
//! `Authorization: Bearer <token>`. The check runs on the request head,
//! before the body is read, and compares in constant time; the token never
//! appears in `Debug` output or logs.

use warp::http::StatusCode;

use super::errors::ApiError;

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

/// What a request presented, for the access log (never the token itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    /// No `Authorization: Bearer` header.
    None,
    /// The server's token.
    Valid,
    /// Something else.
    Wrong,
}

impl Credential {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Credential::None => "none",
            Credential::Valid => "valid",
            Credential::Wrong => "wrong",
        }
    }
}

/// What the `Authorization` header presents, judged against `token`.
pub(crate) fn credential(token: Option<&Token>, header: Option<&[u8]>) -> Credential {
    let presented = header
        .and_then(|h| h.strip_prefix(b"Bearer "))
        .map(<[u8]>::trim_ascii);
    match (presented, token) {
        (None, _) => Credential::None,
        (Some(p), Some(t)) if constant_time_eq(p, t.0.as_bytes()) => Credential::Valid,
        (Some(_), _) => Credential::Wrong,
    }
}

/// Checks a write's credential: every write passes when the server has no
/// token; otherwise only [`Credential::Valid`].
pub(crate) fn check_write(token: Option<&Token>, presented: Credential) -> Result<(), ApiError> {
    if token.is_none() {
        return Ok(());
    }
    match presented {
        Credential::Valid => Ok(()),
        Credential::Wrong => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong admin token",
        )),
        Credential::None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs the admin token for writes: send `Authorization: Bearer <token>`",
        )),
    }
}

/// Compares two byte strings in time that depends only on their lengths:
/// every byte is looked at, differences are OR-ed together, no early exit.
/// The length itself is not secret (it is the same for every request).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rules() {
        let token = Token::new("s3cret".into());
        assert!(check_write(None, credential(None, None)).is_ok());
        assert!(check_write(None, credential(None, Some(b"Bearer x"))).is_ok());
        let c = credential(Some(&token), Some(b"Bearer s3cret"));
        assert_eq!(c, Credential::Valid);
        assert!(check_write(Some(&token), c).is_ok());
        for (header, expected) in [
            (None, Credential::None),
            (Some(&b"Bearer nope"[..]), Credential::Wrong),
            (Some(b"Bearer s3cre"), Credential::Wrong),
            (Some(b"Bearer s3cretX"), Credential::Wrong),
            (Some(b"s3cret"), Credential::None),
            (Some(b"Basic s3cret"), Credential::None),
        ] {
            let c = credential(Some(&token), header);
            assert_eq!(c, expected, "{header:?}");
            let err = check_write(Some(&token), c).unwrap_err();
            assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn compares_every_byte() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"xbc", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!("{:?}", Token::new("s3cret".into()));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
