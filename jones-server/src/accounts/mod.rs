//! Accounts and roles: who may do what through the HTTP API.
//!
//! Accounts live in ZooKeeper, beside the services tree, so every server
//! on the same ZooKeeper shares them:
//!
//! ```text
//! /jones                       Jones-wide data (the server's ACL)
//! /jones/accounts              one child per account
//! /jones/accounts/{name}       {"name", "token_sha256", "grants": [{"role", "service"}], "created"}
//! ```
//!
//! With a digest credential the two account levels carry an ACL that gives
//! the server's identity everything and nobody else anything, not even
//! reading: the hashes are not for ZooKeeper clients to see. A token is
//! never stored, only its SHA-256 (see `token`).
//!
//! A role is granted on one service or globally; roles are ordered
//! `viewer` < `editor` < `admin`, and an account's role on a service is the
//! highest of its grants on that service and its global grants. What each
//! route needs is decided in one table, `http/roles.rs`.

mod record;
pub(crate) mod token;

use std::fmt;

use jones_client::ServiceName;

use crate::Error;

pub(crate) use record::{parse_record, record_bytes};

/// The znode holding one child per account.
pub(crate) const ACCOUNTS_ROOT: &str = "/jones/accounts";
/// The parent of [`ACCOUNTS_ROOT`]: Jones-wide data outside `/services`.
pub(crate) const JONES_ROOT: &str = "/jones";

/// Grants an account may hold at most.
pub const MAX_GRANTS: usize = 256;

/// What an account may do. Ordered: each role may do what the ones below
/// it may.
///
/// ```
/// use jones_server::Role;
/// assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
/// assert_eq!("editor".parse::<Role>().unwrap(), Role::Editor);
/// assert!("owner".parse::<Role>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads configs, environments, associations, history, event streams.
    Viewer,
    /// A viewer that also sets configs and associations.
    Editor,
    /// An editor that also creates and deletes services and environments,
    /// repairs, and (granted globally) manages accounts.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

    /// `viewer`, `editor` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?}: the roles are viewer, editor and admin"))
    }
}

/// An account's name: 1 to 64 characters of `a-z`, `0-9`, `.`, `_` and
/// `-`, starting with a letter or digit (`[a-z0-9][a-z0-9._-]{0,63}`).
///
/// ```
/// use jones_server::AccountName;
/// assert_eq!(AccountName::new("ci-deploy").unwrap().as_str(), "ci-deploy");
/// assert!(AccountName::new("Alice").is_err());
/// assert!(AccountName::new("-x").is_err());
/// assert!(AccountName::new("a/b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountName(String);

impl AccountName {
    /// Validates `name`; the error says which rule it breaks.
    pub fn new(name: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::invalid(format!("account name {name:?}: {why}"));
        let Some(first) = name.chars().next() else {
            return Err(bad("is empty"));
        };
        if name.len() > 64 {
            return Err(bad("is longer than 64 characters"));
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(bad("must start with a-z or 0-9"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(*c)))
        {
            return Err(bad(&format!(
                "character {c:?} is not allowed (a-z, 0-9, `.`, `_` and `-` are)"
            )));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The account's znode.
    pub(crate) fn path(&self) -> String {
        format!("{ACCOUNTS_ROOT}/{}", self.0)
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role on one service, or on every service (`service: None`).
///
/// ```
/// use jones_server::{Grant, Role};
/// let svc = jones_client::ServiceName::new("checkout").unwrap();
/// assert_eq!(Grant::on(Role::Editor, svc).to_string(), "editor on checkout");
/// assert_eq!(Grant::global(Role::Viewer).to_string(), "viewer on every service");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grant {
    /// The role granted.
    pub role: Role,
    /// The service it is granted on; `None`: every service.
    pub service: Option<ServiceName>,
}

impl Grant {
    /// `role` on every service.
    pub fn global(role: Role) -> Self {
        Self {
            role,
            service: None,
        }
    }

    /// `role` on `service`.
    pub fn on(role: Role, service: ServiceName) -> Self {
        Self {
            role,
            service: Some(service),
        }
    }

    /// `{"role": "...", "service": "..." | null}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "role": self.role.as_str(),
            "service": self.service.as_ref().map(ServiceName::as_str),
        })
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.service {
            Some(s) => write!(f, "{} on {s}", self.role),
            None => write!(f, "{} on every service", self.role),
        }
    }
}

/// An account: its name, its grants, when it was made. The token's hash
/// stays inside this crate.
///
/// ```
/// use jones_server::{Account, AccountName, Grant, Role};
/// use jones_client::ServiceName;
/// let checkout = ServiceName::new("checkout").unwrap();
/// let cart = ServiceName::new("cart").unwrap();
/// let account = Account::new(
///     AccountName::new("alice").unwrap(),
///     vec![Grant::global(Role::Viewer), Grant::on(Role::Editor, checkout.clone())],
/// );
/// assert_eq!(account.role_on(Some(&checkout)), Some(Role::Editor));
/// assert_eq!(account.role_on(Some(&cart)), Some(Role::Viewer));
/// assert_eq!(account.role_on(None), Some(Role::Viewer));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    name: AccountName,
    grants: Vec<Grant>,
    /// RFC 3339, UTC.
    created: String,
    /// SHA-256 of the token, lowercase hex; empty for an account not stored.
    token_sha256: String,
}

/// Leaves out the token's hash.
impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("grants", &self.grants)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// An account with `grants`, created now, holding no token yet.
    pub fn new(name: AccountName, grants: Vec<Grant>) -> Self {
        Self {
            name,
            grants,
            created: crate::history::rfc3339_millis(crate::rollout::now_ms()),
            token_sha256: String::new(),
        }
    }

    /// The account's name.
    pub fn name(&self) -> &AccountName {
        &self.name
    }

    /// Its grants.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// When it was created (RFC 3339, UTC).
    pub fn created(&self) -> &str {
        &self.created
    }

    /// Its highest role on `service`: the highest of its grants on that
    /// service and its global grants; with `None`, of its global grants
    /// only. `None` when it has no such grant.
    pub fn role_on(&self, service: Option<&ServiceName>) -> Option<Role> {
        self.grants
            .iter()
            .filter(|g| g.service.is_none() || g.service.as_ref() == service)
            .map(|g| g.role)
            .max()
    }

    /// `{"name", "grants", "created"}`: never the hash.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name.as_str(),
            "grants": self.grants.iter().map(Grant::to_json).collect::<Vec<_>>(),
            "created": self.created,
        })
    }
}

/// Reads the `grants` of a request body: a non-empty array of
/// `{"role": "viewer" | "editor" | "admin", "service": "name" | null}`
/// (`service` absent: every service). Duplicates are dropped; the order
/// is kept.
pub(crate) fn parse_grants(value: &serde_json::Value) -> Result<Vec<Grant>, Error> {
    use serde_json::Value;
    let Value::Array(items) = value else {
        return Err(Error::invalid(format!(
            "`grants` must be an array of {{\"role\", \"service\"}}, not {}",
            jones_client::json_kind(value)
        )));
    };
    if items.is_empty() {
        return Err(Error::invalid(
            "`grants` is empty: an account needs at least one role",
        ));
    }
    if items.len() > MAX_GRANTS {
        return Err(Error::invalid(format!(
            "{} grants; an account holds at most {MAX_GRANTS}",
            items.len()
        )));
    }
    let mut grants: Vec<Grant> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(fields) = item else {
            return Err(Error::invalid(format!(
                "grant {i} must be an object {{\"role\", \"service\"}}, not {}",
                jones_client::json_kind(item)
            )));
        };
        if let Some(other) = fields.keys().find(|k| *k != "role" && *k != "service") {
            return Err(Error::invalid(format!(
                "grant {i}: unknown field `{other}` (a grant has `role` and `service`)"
            )));
        }
        let role = match fields.get("role") {
            Some(Value::String(r)) => r
                .parse::<Role>()
                .map_err(|e| Error::invalid(format!("grant {i}: {e}")))?,
            Some(other) => {
                return Err(Error::invalid(format!(
                    "grant {i}: `role` must be a string, not {}",
                    jones_client::json_kind(other)
                )));
            }
            None => return Err(Error::invalid(format!("grant {i} needs a `role`"))),
        };
        let service = match fields.get("service") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(ServiceName::new(s).map_err(Error::from)?),
            Some(other) => {
                return Err(Error::invalid(format!(
                    "grant {i}: `service` must be a service name or null, not {}",
                    jones_client::json_kind(other)
                )));
            }
        };
        let grant = Grant { role, service };
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(s: &str) -> ServiceName {
        ServiceName::new(s).unwrap()
    }

    #[test]
    fn names_follow_the_rule() {
        for good in ["a", "0", "ci-deploy", "alice.smith", "a_b", &"a".repeat(64)] {
            assert!(AccountName::new(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "A",
            "_a",
            "a b",
            "a/b",
            "ü",
            &"a".repeat(65),
        ] {
            let err = AccountName::new(bad).unwrap_err().to_string();
            assert!(err.contains("account name"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_highest_grant_wins() {
        let a = Account::new(
            AccountName::new("a").unwrap(),
            vec![
                Grant::on(Role::Admin, svc("x")),
                Grant::on(Role::Viewer, svc("y")),
            ],
        );
        assert_eq!(a.role_on(Some(&svc("x"))), Some(Role::Admin));
        assert_eq!(a.role_on(Some(&svc("y"))), Some(Role::Viewer));
        assert_eq!(a.role_on(Some(&svc("z"))), None);
        assert_eq!(a.role_on(None), None, "service grants are not global");
        let g = Account::new(
            AccountName::new("g").unwrap(),
            vec![
                Grant::global(Role::Editor),
                Grant::on(Role::Viewer, svc("x")),
            ],
        );
        assert_eq!(g.role_on(Some(&svc("x"))), Some(Role::Editor));
        assert_eq!(g.role_on(None), Some(Role::Editor));
    }

    #[test]
    fn grants_from_bodies() {
        let grants = parse_grants(&json!([
            {"role": "viewer"},
            {"role": "editor", "service": "checkout"},
            {"role": "editor", "service": "checkout"},
            {"role": "admin", "service": null},
        ]))
        .unwrap();
        assert_eq!(
            grants,
            vec![
                Grant::global(Role::Viewer),
                Grant::on(Role::Editor, svc("checkout")),
                Grant::global(Role::Admin),
            ]
        );
        for (body, says) in [
            (json!([]), "empty"),
            (json!({}), "must be an array"),
            (json!(["viewer"]), "must be an object"),
            (json!([{"role": "owner"}]), "unknown role"),
            (json!([{"role": 1}]), "must be a string"),
            (json!([{"service": "x"}]), "needs a `role`"),
            (json!([{"role": "viewer", "service": "a/b"}]), "/"),
            (
                json!([{"role": "viewer", "service": 3}]),
                "service name or null",
            ),
            (json!([{"role": "viewer", "extra": 1}]), "unknown field"),
        ] {
            let err = parse_grants(&body).unwrap_err().to_string();
            assert!(err.contains(says), "{body}: {err}");
        }
        let many: Vec<_> = (0..=MAX_GRANTS)
            .map(|i| json!({"role": "viewer", "service": format!("s{i}")}))
            .collect();
        assert!(parse_grants(&json!(many)).is_err());
    }
}
