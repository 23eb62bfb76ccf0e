//! Account tokens: `jones_{name}_{secret}`, the secret 32 random bytes from
//! the operating system (`getrandom`) in unpadded base64url, 43 characters.
//! The name in the token lets a server find the account with one ZooKeeper
//! read; the secret is what proves it.
//!
//! Only the SHA-256 of a token is stored. A slow password hash (bcrypt,
//! argon2) is for guessable passwords; a token holds 256 random bits, which
//! no one finds from their hash by trying, so one fast hash is enough and
//! costs nothing per request. Hashes are compared in constant time.

use base64::Engine as _;
use sha2::Digest as _;

use super::AccountName;
use crate::Error;

/// What every account token starts with.
pub(crate) const PREFIX: &str = "jones_";
/// Random bytes in a token.
const SECRET_BYTES: usize = 32;
/// Their length in unpadded base64url.
const SECRET_CHARS: usize = 43;

/// A new token for `name`.
pub(crate) fn generate(name: &AccountName) -> Result<String, Error> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)
        .map_err(|e| Error::Entropy(format!("the system's random source failed: {e}")))?;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    Ok(format!("{PREFIX}{name}_{encoded}"))
}

/// The account a token names, when it has the shape of an account token
/// (it may still be wrong: only its hash tells).
pub(crate) fn account_of(token: &str) -> Option<AccountName> {
    let rest = token.strip_prefix(PREFIX)?;
    let split = rest.len().checked_sub(SECRET_CHARS + 1)?;
    let (name, secret) = rest.split_at_checked(split)?;
    let secret = secret.strip_prefix('_')?;
    let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if secret.len() != SECRET_CHARS || !secret.bytes().all(base64url) {
        return None;
    }
    AccountName::new(name).ok()
}

/// SHA-256 of `token`, lowercase hex.
pub(crate) fn sha256_hex(token: &[u8]) -> String {
    sha2::Sha256::digest(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two byte strings in time that depends only on their lengths:
/// every byte is looked at, differences are OR-ed together, no early exit.
/// The length itself is not secret (it is the same for every request).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
    fn tokens_name_their_account() {
        for name in ["a", "ci_deploy", "x.y-z", &"n".repeat(64)] {
            let name = AccountName::new(name).unwrap();
            let token = generate(&name).unwrap();
            assert_eq!(token.len(), PREFIX.len() + name.as_str().len() + 1 + 43);
            assert_eq!(account_of(&token), Some(name.clone()), "{token}");
            assert_ne!(token, generate(&name).unwrap(), "fresh randomness");
        }
    }

    #[test]
    fn other_strings_name_no_account() {
        let secret = "A".repeat(43);
        for token in [
            String::new(),
            "jones_".into(),
            format!("jones__{secret}"),
            format!("jones_alice{secret}"),
            format!("jones_alice_{}", &secret[1..]),
            format!("jones_alice_{secret}A"),
            format!("jones_Alice_{secret}"),
            format!("jones_alice_{}!", &secret[1..]),
            format!("other_alice_{secret}"),
            format!("jones_ali\u{e9}e_{secret}"),
        ] {
            assert_eq!(account_of(&token), None, "{token}");
        }
        assert!(account_of(&format!("jones_alice_{secret}")).is_some());
    }

    proptest::proptest! {
        #[test]
        fn every_name_survives_its_token(name in "[a-z0-9][a-z0-9._-]{0,63}") {
            let name = AccountName::new(&name).unwrap();
            let token = generate(&name).unwrap();
            proptest::prop_assert_eq!(account_of(&token), Some(name));
        }

        #[test]
        fn any_string_is_judged_without_panicking(token in "\\PC{0,160}") {
            if let Some(name) = account_of(&token) {
                let prefix = format!("{PREFIX}{name}_");
                proptest::prop_assert!(token.starts_with(&prefix));
            }
        }
    }

    #[test]
    fn hashes_are_sha256() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn compares_every_byte() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"xbc", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
