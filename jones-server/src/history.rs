//! The change history of a service: every change appends one entry znode
//! **in the same transaction** as the change, so no server, however it
//! dies, leaves a change without its entry or an entry of a change that
//! did not happen.
//!
//! ```text
//! /services/{svc}/history               {"retention": N} (optional; the server's default otherwise)
//! /services/{svc}/history/e0000000042   one entry: {"actor", "action", "env", "before", "after", "message", ...}
//! ```
//!
//! Entries are persistent sequential znodes: ZooKeeper numbers them in the
//! order their transactions commit, on whichever server, and the number is
//! the entry's id. The time of an entry is its znode's `ctime`, set by the
//! ZooKeeper leader at commit. Original clients never read `history`.
//!
//! An entry holds the environment's config before and after the change
//! (for an association: the environment it pointed to before and after).
//! It shares its transaction with the change, so where both do not fit,
//! the entry gets smaller, never the change refused: `before` is left out
//! first (`null`, with `"before_omitted": true`; it is the `after` of the
//! environment's previous entry), then `after` (`"after_omitted": true`;
//! it is the config committed with the entry: the `before` of the next
//! entry, or what is stored now). Pruning deletes the oldest entries beyond the
//! retention, in transactions of their own: deleting the record of an old
//! change never touches a change.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use jones_client::{Config, EnvPath, ServiceLayout};

use crate::zk::Op;
use crate::{Error, Result};

/// Entries a service keeps unless its history directory says otherwise.
pub const DEFAULT_RETENTION: usize = 1000;
/// The most entries a service may be told to keep.
pub const MAX_RETENTION: usize = 100_000;
/// The largest entry: ZooKeeper's node limit, as for configs.
pub const MAX_ENTRY_BYTES: usize = crate::materialize::MAX_NODE_BYTES;
/// The most entries one history request returns.
pub const MAX_PAGE: usize = 500;

/// The prefix ZooKeeper numbers entries after.
const ENTRY_PREFIX: &str = "e";

/// Who makes a change, and why: recorded in its entry.
///
/// ```
/// let author = jones_server::Author::new("alice").with_message(Some("raise the pool".into()));
/// assert_eq!(author.actor(), "alice");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    actor: String,
    message: Option<String>,
}

impl Author {
    /// A change made by `actor`, without a message.
    pub fn new(actor: impl Into<String>) -> Self {
        Self {
            actor: actor.into(),
            message: None,
        }
    }

    /// The same author with `message` (empty counts as none).
    pub fn with_message(mut self, message: Option<String>) -> Self {
        self.message = message.filter(|m| !m.trim().is_empty());
        self
    }

    /// Who.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Why, when said.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }
}

impl Default for Author {
    /// Changes made through the library without an author: `"server"`.
    fn default() -> Self {
        Self::new("server")
    }
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// An environment's config set.
    #[serde(rename = "config.set")]
    ConfigSet,
    /// An environment created.
    #[serde(rename = "env.create")]
    EnvCreate,
    /// An environment deleted (with its subtree).
    #[serde(rename = "env.delete")]
    EnvDelete,
    /// An association set or re-pointed.
    #[serde(rename = "association.set")]
    AssociationSet,
    /// An association removed.
    #[serde(rename = "association.remove")]
    AssociationRemove,
    /// The service created.
    #[serde(rename = "service.create")]
    ServiceCreate,
    /// An environment's config made what it was right after entry `to`.
    #[serde(rename = "config.rollback")]
    ConfigRollback,
    /// An environment's view pinned as it was right after entry `to`
    /// (`before` and `after`: its view).
    #[serde(rename = "pin.set")]
    PinSet,
    /// A pin removed (`before` and `after`: the environment's view).
    #[serde(rename = "pin.remove")]
    PinRemove,
    /// The service's schema set (`before` and `after`: the schema).
    #[serde(rename = "schema.set")]
    SchemaSet,
    /// The service's schema removed.
    #[serde(rename = "schema.remove")]
    SchemaRemove,
    /// A service deleted with everything in it, its history too: recorded
    /// in the Jones-wide history.
    #[serde(rename = "service.delete")]
    ServiceDelete,
    /// An account created (`after`: its grants): Jones-wide.
    #[serde(rename = "account.create")]
    AccountCreate,
    /// An account removed (`before`: its grants): Jones-wide.
    #[serde(rename = "account.remove")]
    AccountRemove,
}

impl Action {
    /// Whether the action sets an environment's config: its entry's
    /// `after` is the config the environment had right after it (`null`
    /// for a delete).
    pub fn changes_config(self) -> bool {
        matches!(
            self,
            Action::ConfigSet | Action::EnvCreate | Action::EnvDelete | Action::ConfigRollback
        )
    }
}

/// An entry as stored, without what ZooKeeper knows (id and time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub actor: String,
    pub action: Action,
    /// The environment changed (for an association: the one it points
    /// to after the change, or before a removal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// The association changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub association: Option<String>,
    /// The entry a rollback or pin goes back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    /// The service, in the Jones-wide history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The account, in the Jones-wide history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub before: Value,
    pub after: Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub before_omitted: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_omitted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Record {
    /// A record of `action` by `author`.
    pub(crate) fn new(author: &Author, action: Action, env: Option<&EnvPath>) -> Self {
        Self {
            actor: author.actor.clone(),
            action,
            env: env.map(ToString::to_string),
            association: None,
            to: None,
            service: None,
            account: None,
            before: Value::Null,
            after: Value::Null,
            before_omitted: false,
            after_omitted: false,
            message: author.message.clone(),
        }
    }

    /// The same record with `before` and `after`.
    pub(crate) fn change(mut self, before: Value, after: Value) -> Self {
        self.before = before;
        self.after = after;
        self
    }

    /// The same record with `message` instead of the author's.
    pub(crate) fn with_message(mut self, message: Option<String>) -> Self {
        self.message = message;
        self
    }

    /// The same record going back to entry `to`.
    pub(crate) fn to(mut self, to: Option<u64>) -> Self {
        self.to = to;
        self
    }

    /// The same record about service `name` (Jones-wide).
    pub(crate) fn service(mut self, name: &str) -> Self {
        self.service = Some(name.to_owned());
        self
    }

    /// The same record about account `name` (Jones-wide).
    pub(crate) fn account(mut self, name: &str) -> Self {
        self.account = Some(name.to_owned());
        self
    }

    /// The same record about association `name`.
    pub(crate) fn association(mut self, name: &str) -> Self {
        self.association = Some(name.to_owned());
        self
    }

    /// The entry's bytes, at most `room` bytes (and never over
    /// [`MAX_ENTRY_BYTES`]): whole when it fits, else without `before`
    /// (the `after` of the environment's previous entry), else without
    /// `after` too (the config committed with the entry, so the `before`
    /// of its next entry, or what is stored now). A change is never
    /// refused for its record: the record only gets smaller. Also says
    /// whether `after` was kept.
    fn encode(mut self, room: usize) -> (Vec<u8>, bool) {
        let room = room.min(MAX_ENTRY_BYTES);
        let bytes = serde_json::to_vec(&self).expect("a record serializes");
        if bytes.len() <= room {
            return (bytes, true);
        }
        self.before = Value::Null;
        self.before_omitted = true;
        let bytes = serde_json::to_vec(&self).expect("a record serializes");
        if bytes.len() <= room {
            return (bytes, true);
        }
        self.after = Value::Null;
        self.after_omitted = true;
        let bytes = serde_json::to_vec(&self).expect("a record serializes");
        (bytes, false)
    }
}

/// One change as the history API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Its id: the commit order among the service's changes.
    pub id: u64,
    /// When it was committed (RFC 3339, UTC, milliseconds).
    pub at: String,
    /// Who made it.
    pub actor: String,
    /// What it did.
    pub action: Action,
    /// The environment it changed.
    pub env: Option<String>,
    /// The association it changed, for association actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub association: Option<String>,
    /// The entry a rollback or pin went back to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    /// The service, in the Jones-wide history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The account, in the Jones-wide history.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The config (or association target) before; `null` when there was
    /// none, or when it was left out (see `before_omitted`).
    pub before: Value,
    /// The config (or association target) after; `null` when there is none.
    pub after: Value,
    /// Whether `before` was left out for size.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub before_omitted: bool,
    /// Whether `after` was left out for size.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub after_omitted: bool,
    /// Why, as the author said.
    pub message: Option<String>,
}

/// A page of history, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryPage {
    /// The entries.
    pub entries: Vec<Entry>,
    /// The `before` of the next page; `None` when nothing older is left.
    pub next: Option<u64>,
}

/// The service's history directory.
pub(crate) fn history_path(layout: &ServiceLayout) -> String {
    format!("{}/history", layout.service_path())
}

/// The Jones-wide history: what outlives a service (its deletion) or
/// belongs to none (accounts), with the same entries.
pub(crate) const JONES_HISTORY: &str = "/jones/history";

/// The op that appends `record` to the service's history, taking at most
/// `room` bytes of its transaction (see [`Record::encode`]), and whether
/// the entry kept the record's `after`.
pub(crate) fn append(layout: &ServiceLayout, record: Record, room: usize) -> (Op, bool) {
    append_to(&history_path(layout), record, room)
}

/// The op that appends `record` to the history directory `dir`, as
/// [`append`] does.
pub(crate) fn append_to(dir: &str, record: Record, room: usize) -> (Op, bool) {
    let prefix = format!("{dir}/{ENTRY_PREFIX}");
    let overhead = Op::CreateSequential {
        prefix: prefix.clone(),
        data: Vec::new(),
    }
    .wire_size();
    let (data, kept_after) = record.encode(room.saturating_sub(overhead));
    (Op::CreateSequential { data, prefix }, kept_after)
}

/// The op that creates the history directory (no data: the server's
/// default retention).
pub(crate) fn create_dir(layout: &ServiceLayout) -> Op {
    Op::Create {
        path: history_path(layout),
        data: Vec::new(),
    }
}

/// The id of entry znode `name` (`e0000000042` → 42).
pub(crate) fn entry_id(name: &str) -> Option<u64> {
    name.strip_prefix(ENTRY_PREFIX)?.parse().ok()
}

/// The znode name of entry `id`.
pub(crate) fn entry_name(id: u64) -> String {
    format!("{ENTRY_PREFIX}{id:010}")
}

/// The retention the history directory's data sets, if any.
pub(crate) fn retention_of(data: &[u8]) -> Option<usize> {
    #[derive(Deserialize)]
    struct Settings {
        retention: usize,
    }
    let settings: Settings = serde_json::from_slice(data).ok()?;
    Some(settings.retention.clamp(1, MAX_RETENTION))
}

/// The entries to prune from `ids` (any order) to keep `retention`: the
/// oldest.
pub(crate) fn to_prune(ids: &BTreeSet<u64>, retention: usize) -> Vec<u64> {
    let excess = ids.len().saturating_sub(retention);
    ids.iter().take(excess).copied().collect()
}

/// An entry from its stored record, id and commit time.
pub(crate) fn entry(id: u64, ctime_ms: i64, data: &[u8]) -> Result<Entry> {
    let record: Record = serde_json::from_slice(data).map_err(|e| Error::Corrupt {
        path: entry_name(id),
        reason: format!("not a history entry: {e}"),
    })?;
    Ok(Entry {
        id,
        at: rfc3339_millis(ctime_ms),
        actor: record.actor,
        action: record.action,
        env: record.env,
        association: record.association,
        to: record.to,
        service: record.service,
        account: record.account,
        before: record.before,
        after: record.after,
        before_omitted: record.before_omitted,
        after_omitted: record.after_omitted,
        message: record.message,
    })
}

/// The config an environment had right after entry `id` (of any
/// environment), from `entries`, the environment's config-changing entries
/// in ascending order, and `current`, its config now (`None` when it does
/// not exist), read before the entries were listed: so an entry newer than
/// `id` is never missed. `Ok(None)`: the environment did not exist then.
/// The error says why the history cannot tell (a config too large to be
/// recorded, or a malformed entry).
pub(crate) fn config_after(
    entries: &[Entry],
    id: u64,
    current: Option<&Config>,
) -> std::result::Result<Option<Config>, String> {
    let split = entries.partition_point(|e| e.id <= id);
    let (upto, later) = entries.split_at(split);
    let as_config = |entry: &Entry, value: &Value| match value {
        Value::Object(config) => Ok(Some(config.clone())),
        other => Err(format!(
            "entry {} holds a {} where a config belongs",
            entry.id,
            jones_client::json_kind(other)
        )),
    };
    let last = upto.last();
    if let Some(last) = last {
        if last.action == Action::EnvDelete {
            return Ok(None);
        }
        if !last.after_omitted {
            return as_config(last, &last.after);
        }
    }
    // Nothing recorded at `id` itself: the config then is the one the
    // next change replaced, or, without one, what is stored now.
    match later.first() {
        Some(next) if next.action == Action::EnvCreate => Ok(None),
        Some(next) if next.before_omitted => Err(format!(
            "the config of environment {:?} then was too large to be recorded{}",
            next.env.as_deref().unwrap_or_default(),
            last.map_or_else(String::new, |l| format!(
                " (entries {} and {} left it out)",
                l.id, next.id
            ))
        )),
        Some(next) => as_config(next, &next.before),
        None => Ok(current.cloned()),
    }
}

/// `ms` since the Unix epoch as RFC 3339 in UTC with milliseconds.
pub(crate) fn rfc3339_millis(ms: i64) -> String {
    let (days, rest) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(
            rfc3339_millis(1_796_645_000_000),
            "2026-12-07T12:03:20.000Z"
        );
    }

    #[test]
    fn entry_names_and_ids_round_trip() {
        assert_eq!(entry_name(42), "e0000000042");
        assert_eq!(entry_id("e0000000042"), Some(42));
        assert_eq!(entry_id("x0000000042"), None);
        assert_eq!(entry_id("e"), None);
    }

    #[test]
    fn pruning_takes_the_oldest_beyond_the_retention() {
        let ids: BTreeSet<u64> = [7, 3, 9, 12, 4].into_iter().collect();
        assert_eq!(to_prune(&ids, 3), vec![3, 4]);
        assert!(to_prune(&ids, 5).is_empty());
        assert!(to_prune(&ids, 50).is_empty());
    }

    #[test]
    fn retention_is_read_and_bounded() {
        assert_eq!(retention_of(br#"{"retention": 20}"#), Some(20));
        assert_eq!(retention_of(br#"{"retention": 0}"#), Some(1));
        assert_eq!(
            retention_of(br#"{"retention": 10000000}"#),
            Some(MAX_RETENTION)
        );
        assert_eq!(retention_of(b""), None);
        assert_eq!(retention_of(b"garbage"), None);
    }

    #[test]
    fn a_record_shrinks_to_its_room_before_then_after_first() {
        let author = Author::new("alice").with_message(Some("why".into()));
        let env = EnvPath::new("prod").unwrap();
        let record = Record::new(&author, Action::ConfigSet, Some(&env)).change(
            json!({"k": "x".repeat(1000)}),
            json!({"k": "y".repeat(1000)}),
        );
        let decode =
            |room| serde_json::from_slice::<Record>(&record.clone().encode(room).0).unwrap();
        let whole = decode(10_000);
        assert!(!whole.before_omitted && !whole.after_omitted);
        assert_eq!(whole, record);
        let smaller = decode(1500);
        assert!(smaller.before_omitted && !smaller.after_omitted);
        assert_eq!(
            (smaller.before, &smaller.after),
            (Value::Null, &record.after)
        );
        let smallest = decode(100);
        assert!(smallest.before_omitted && smallest.after_omitted);
        assert_eq!(
            (smallest.before, smallest.after),
            (Value::Null, Value::Null)
        );
        assert_eq!(smallest.message.as_deref(), Some("why"));
        assert_eq!(smallest.actor, "alice");
    }

    fn config_entry(id: u64, action: Action, before: Value, after: Value) -> Entry {
        Entry {
            id,
            at: rfc3339_millis(0),
            actor: "a".into(),
            action,
            env: Some("prod".into()),
            association: None,
            to: None,
            service: None,
            account: None,
            before_omitted: before.is_null() && action != Action::EnvCreate,
            after_omitted: after.is_null() && action != Action::EnvDelete,
            before,
            after,
            message: None,
        }
    }

    #[test]
    fn the_config_after_an_entry_comes_from_it_its_successor_or_the_store() {
        let config = |n: i64| json!({"n": n}).as_object().unwrap().clone();
        let entries = [
            config_entry(3, Action::EnvCreate, Value::Null, json!({"n": 1})),
            config_entry(5, Action::ConfigSet, json!({"n": 1}), json!({"n": 2})),
            // Too large for both sides.
            config_entry(8, Action::ConfigSet, Value::Null, Value::Null),
            config_entry(9, Action::ConfigSet, json!({"n": 3}), json!({"n": 4})),
            config_entry(12, Action::EnvDelete, json!({"n": 4}), Value::Null),
        ];
        let now = config(7);
        let at = |id| config_after(&entries, id, Some(&now));
        assert_eq!(at(2), Ok(None), "before its creation");
        assert_eq!(at(3), Ok(Some(config(1))));
        assert_eq!(at(4), Ok(Some(config(1))), "another environment's entry");
        assert_eq!(at(5), Ok(Some(config(2))));
        assert_eq!(
            at(8),
            Ok(Some(config(3))),
            "after left out: the next before"
        );
        assert_eq!(at(10), Ok(Some(config(4))));
        assert_eq!(at(12), Ok(None), "deleted");
        assert_eq!(
            config_after(&entries[..4], 20, Some(&now)),
            Ok(Some(config(4)))
        );
        assert_eq!(config_after(&[], 20, Some(&now)), Ok(Some(config(7))));
        assert_eq!(
            config_after(&entries[3..], 1, Some(&now)),
            Ok(Some(config(3)))
        );
        let unrecorded = [
            config_entry(8, Action::ConfigSet, Value::Null, Value::Null),
            config_entry(9, Action::ConfigSet, Value::Null, json!({"n": 4})),
        ];
        let error = config_after(&unrecorded, 8, Some(&now)).unwrap_err();
        assert!(
            error.contains("too large") && error.contains("8 and 9"),
            "{error}"
        );
        let garbage = [config_entry(4, Action::ConfigSet, json!(1), json!([1]))];
        assert!(
            config_after(&garbage, 4, None)
                .unwrap_err()
                .contains("array")
        );
    }

    #[test]
    fn an_empty_message_is_none() {
        assert_eq!(
            Author::new("a").with_message(Some("  ".into())).message(),
            None
        );
    }
}
