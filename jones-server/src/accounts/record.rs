//! An account's znode: its JSON, written and read back with every field
//! checked, so a znode someone garbled is named, never half-trusted.

use jones_client::ServiceName;
use serde::{Deserialize, Serialize};

use super::{Account, AccountName, Grant, Role};
use crate::Error;

#[derive(Serialize, Deserialize)]
struct Record {
    name: String,
    token_sha256: String,
    grants: Vec<RecordGrant>,
    created: String,
}

#[derive(Serialize, Deserialize)]
struct RecordGrant {
    role: String,
    service: Option<String>,
}

/// The znode data of `account`.
pub(crate) fn record_bytes(account: &Account) -> Vec<u8> {
    let record = Record {
        name: account.name.as_str().to_owned(),
        token_sha256: account.token_sha256.clone(),
        grants: account
            .grants
            .iter()
            .map(|g| RecordGrant {
                role: g.role.as_str().to_owned(),
                service: g.service.as_ref().map(|s| s.as_str().to_owned()),
            })
            .collect(),
        created: account.created.clone(),
    };
    serde_json::to_vec(&record).expect("an account serializes")
}

/// The account stored at `name`'s znode as `data`; [`Error::Corrupt`]
/// naming the znode and what is wrong when it is not a whole account.
pub(crate) fn parse_record(name: &AccountName, data: &[u8]) -> Result<Account, Error> {
    let corrupt = |reason: String| Error::Corrupt {
        path: name.path(),
        reason,
    };
    let record: Record =
        serde_json::from_slice(data).map_err(|e| corrupt(format!("not an account record: {e}")))?;
    if record.name != name.as_str() {
        return Err(corrupt(format!(
            "the record names account {:?}",
            record.name
        )));
    }
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if record.token_sha256.len() != 64 || !record.token_sha256.bytes().all(hex) {
        return Err(corrupt("`token_sha256` is not a SHA-256 in hex".into()));
    }
    if record.grants.is_empty() {
        return Err(corrupt("no grants".into()));
    }
    let grants = record
        .grants
        .into_iter()
        .map(|g| {
            let role = g.role.parse::<Role>().map_err(&corrupt)?;
            let service = g
                .service
                .map(|s| ServiceName::new(&s).map_err(|e| corrupt(e.to_string())))
                .transpose()?;
            Ok(Grant { role, service })
        })
        .collect::<Result<_, Error>>()?;
    Ok(Account {
        name: name.clone(),
        grants,
        created: record.created,
        token_sha256: record.token_sha256,
    })
}

impl Account {
    /// The same account, proven by `token` (its hash is what is stored).
    pub(crate) fn with_token(mut self, token: &str) -> Self {
        self.token_sha256 = super::token::sha256_hex(token.as_bytes());
        self
    }

    /// Whether `token` is this account's, compared in constant time.
    pub(crate) fn token_matches(&self, token: &str) -> bool {
        let presented = super::token::sha256_hex(token.as_bytes());
        super::token::constant_time_eq(presented.as_bytes(), self.token_sha256.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> AccountName {
        AccountName::new("alice").unwrap()
    }

    #[test]
    fn records_round_trip_without_the_token() {
        let account = Account::new(
            alice(),
            vec![
                Grant::global(Role::Viewer),
                Grant::on(Role::Admin, ServiceName::new("checkout").unwrap()),
            ],
        )
        .with_token("jones_alice_secret");
        let bytes = record_bytes(&account);
        assert!(!String::from_utf8_lossy(&bytes).contains("secret"));
        let back = parse_record(&alice(), &bytes).unwrap();
        assert_eq!(back, account);
        assert!(back.token_matches("jones_alice_secret"));
        assert!(!back.token_matches("jones_alice_secreT"));
    }

    #[test]
    fn garbled_records_are_named() {
        let hash = "0".repeat(64);
        for (data, says) in [
            ("".to_owned(), "not an account record"),
            ("{}".to_owned(), "not an account record"),
            (
                format!(r#"{{"name":"bob","token_sha256":"{hash}","grants":[{{"role":"viewer","service":null}}],"created":"t"}}"#),
                "names account",
            ),
            (
                r#"{"name":"alice","token_sha256":"xyz","grants":[{"role":"viewer","service":null}],"created":"t"}"#.to_owned(),
                "SHA-256",
            ),
            (
                format!(r#"{{"name":"alice","token_sha256":"{hash}","grants":[],"created":"t"}}"#),
                "no grants",
            ),
            (
                format!(r#"{{"name":"alice","token_sha256":"{hash}","grants":[{{"role":"root","service":null}}],"created":"t"}}"#),
                "unknown role",
            ),
        ] {
            let err = parse_record(&alice(), data.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("/jones/accounts/alice"), "{err}");
            assert!(err.contains(says), "{data}: {err}");
        }
    }
}
