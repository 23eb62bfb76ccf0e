//! The admin token: when the server has one, every write must carry it as
//! `Authorization: Bearer <token>`.

use warp::http::StatusCode;

use super::errors::ApiError;

/// Checks the `Authorization` header of a write against `token`.
pub(crate) fn check_write(token: Option<&str>, header: Option<&str>) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Ok(());
    };
    let presented = header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(p) if constant_time_eq(p.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "wrong admin token",
        )),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this server needs the admin token for writes: send `Authorization: Bearer <token>`",
        )),
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_rules() {
        assert!(check_write(None, None).is_ok());
        assert!(check_write(Some("s3cret"), Some("Bearer s3cret")).is_ok());
        for header in [
            None,
            Some("Bearer nope"),
            Some("s3cret"),
            Some("Basic s3cret"),
        ] {
            let err = check_write(Some("s3cret"), header).unwrap_err();
            assert_eq!(err.status, StatusCode::UNAUTHORIZED);
        }
    }
}
