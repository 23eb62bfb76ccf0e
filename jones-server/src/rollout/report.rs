//! Pure: the registry's records and the views' revisions in, the report of
//! `GET /api/v1/services/{svc}/clients` out.

use std::collections::{BTreeMap, HashMap};

use jones_client::{ClientRecord, ServiceLayout};
use serde_json::{Value, json};

/// The laggards listed per environment at most.
pub(crate) const MAX_BEHIND: usize = 100;
/// The unreadable records listed at most.
pub(crate) const MAX_INVALID: usize = 100;

/// One registration znode as last read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entry {
    /// A record that parsed; `mzxid` of the read.
    Valid { record: ClientRecord, mzxid: i64 },
    /// Data that is not a record (or names a view of another service).
    Invalid { reason: String, mzxid: i64 },
}

impl Entry {
    /// The entry of a registration znode's data.
    pub(crate) fn parse(layout: &ServiceLayout, data: &[u8], mzxid: i64) -> Entry {
        match ClientRecord::parse(data) {
            Ok(record) => match layout.env_of_view_path(&record.view) {
                Ok(_) => Entry::Valid { record, mzxid },
                Err(e) => Entry::Invalid {
                    reason: e.to_string(),
                    mzxid,
                },
            },
            Err(e) => Entry::Invalid {
                reason: e.to_string(),
                mzxid,
            },
        }
    }

    pub(crate) fn mzxid(&self) -> i64 {
        match self {
            Entry::Valid { mzxid, .. } | Entry::Invalid { mzxid, .. } => *mzxid,
        }
    }

    /// The view path the client follows, for a valid record.
    pub(crate) fn view(&self) -> Option<&str> {
        match self {
            Entry::Valid { record, .. } => Some(&record.view),
            Entry::Invalid { .. } => None,
        }
    }
}

/// A view's current revision as last read: its mzxid and mtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ViewRevision {
    pub mzxid: i64,
    /// Milliseconds since the Unix epoch.
    pub mtime: i64,
}

/// The report, rendered at `now_ms` (milliseconds since the Unix epoch).
///
/// `views` maps view paths to their current revision (`None`: the view
/// znode is missing). Environments are sorted by name; `behind` by lag
/// (largest first), then revision, then id.
pub(crate) fn render(
    layout: &ServiceLayout,
    entries: &BTreeMap<String, Entry>,
    views: &HashMap<String, Option<ViewRevision>>,
    now_ms: i64,
) -> Value {
    #[derive(Default)]
    struct EnvAcc<'a> {
        view: Option<ViewRevision>,
        clients: usize,
        applied: usize,
        revisions: BTreeMap<String, usize>,
        behind: Vec<(Option<i64>, &'a str, &'a ClientRecord)>,
    }
    let mut envs: BTreeMap<String, EnvAcc<'_>> = BTreeMap::new();
    let mut invalid = Vec::new();
    let mut total = 0usize;
    for (id, entry) in entries {
        let record = match entry {
            Entry::Valid { record, .. } => record,
            Entry::Invalid { reason, .. } => {
                invalid.push((id.as_str(), reason.as_str()));
                continue;
            }
        };
        let Ok(env) = layout.env_of_view_path(&record.view) else {
            continue;
        };
        total += 1;
        let acc = envs.entry(env.as_str().to_owned()).or_default();
        acc.view = views.get(&record.view).copied().flatten();
        acc.clients += 1;
        let key = record
            .revision
            .map_or_else(|| "none".to_owned(), |r| r.to_string());
        *acc.revisions.entry(key).or_default() += 1;
        let applied = match (record.revision, acc.view) {
            (Some(applied), Some(current)) => applied >= current.mzxid,
            _ => false,
        };
        if applied {
            acc.applied += 1;
        } else {
            acc.behind.push((record.revision, id.as_str(), record));
        }
    }
    let environments: Vec<Value> = envs
        .into_iter()
        .map(|(env, mut acc)| {
            let lag = acc.view.map(|v| (now_ms - v.mtime).max(0));
            // One current view per environment: every laggard's lag is the
            // same, so the oldest revisions come first.
            acc.behind.sort_by(|a, b| {
                a.0.unwrap_or(i64::MIN)
                    .cmp(&b.0.unwrap_or(i64::MIN))
                    .then(a.1.cmp(b.1))
            });
            let behind: Vec<Value> = acc
                .behind
                .iter()
                .take(MAX_BEHIND)
                .map(|(revision, id, r)| {
                    json!({
                        "id": id,
                        "association": r.association,
                        "host": r.host,
                        "pid": r.pid,
                        "client": r.client,
                        "revision": revision,
                        "lag_ms": lag,
                    })
                })
                .collect();
            json!({
                "env": env,
                "view_revision": acc.view.map(|v| v.mzxid),
                "clients": acc.clients,
                "applied": acc.applied,
                "revisions": acc.revisions,
                "behind": behind,
            })
        })
        .collect();
    let invalid_records: Vec<Value> = invalid
        .iter()
        .take(MAX_INVALID)
        .map(|(id, reason)| json!({"id": id, "reason": reason}))
        .collect();
    json!({
        "service": layout.service().as_str(),
        "clients": total,
        "environments": environments,
        "invalid": invalid.len(),
        "invalid_records": invalid_records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jones_client::ServiceName;

    fn layout() -> ServiceLayout {
        ServiceLayout::new(ServiceName::new("s").unwrap())
    }

    fn record(association: &str, view: &str, revision: Option<i64>) -> ClientRecord {
        ClientRecord {
            association: association.into(),
            view: view.into(),
            revision,
            applied_ms: revision.map(|_| 1),
            started_ms: 1,
            client: "jones-client/0.1.0".into(),
            host: format!("{association}.example"),
            pid: 7,
        }
    }

    #[test]
    fn counts_revisions_and_lists_laggards_by_revision() {
        let l = layout();
        let mut entries = BTreeMap::new();
        for (id, assoc, view, rev) in [
            ("c1", "web-01", "/services/s/views/prod", Some(120)),
            ("c2", "web-02", "/services/s/views/prod", Some(123)),
            ("c3", "web-03", "/services/s/views/prod", Some(110)),
            ("c4", "web-04", "/services/s/views/prod", None),
            ("c5", "other", "/services/s/views", Some(5)),
        ] {
            entries.insert(
                id.to_owned(),
                Entry::Valid {
                    record: record(assoc, view, rev),
                    mzxid: 1,
                },
            );
        }
        entries.insert("c6".into(), Entry::parse(&l, b"not json", 9));
        entries.insert(
            "c7".into(),
            Entry::parse(&l, &record("x", "/services/t/views", Some(1)).to_bytes(), 9),
        );
        let views = HashMap::from([
            (
                "/services/s/views/prod".to_owned(),
                Some(ViewRevision {
                    mzxid: 123,
                    mtime: 1_000,
                }),
            ),
            (
                "/services/s/views".to_owned(),
                Some(ViewRevision {
                    mzxid: 5,
                    mtime: 10,
                }),
            ),
        ]);
        let report = render(&l, &entries, &views, 4_400);
        assert_eq!(report["clients"], 5);
        assert_eq!(report["invalid"], 2);
        assert_eq!(report["invalid_records"][0]["id"], "c6");
        let envs = report["environments"].as_array().unwrap();
        assert_eq!(envs[0]["env"], "");
        assert_eq!(envs[0]["applied"], 1);
        assert_eq!(envs[0]["behind"], json!([]));
        let prod = &envs[1];
        assert_eq!(prod["env"], "prod");
        assert_eq!(prod["view_revision"], 123);
        assert_eq!(prod["clients"], 4);
        assert_eq!(prod["applied"], 1);
        assert_eq!(
            prod["revisions"],
            json!({"110": 1, "120": 1, "123": 1, "none": 1})
        );
        let behind: Vec<&str> = prod["behind"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_str().unwrap())
            .collect();
        assert_eq!(behind, ["c4", "c3", "c1"]);
        assert_eq!(prod["behind"][1]["lag_ms"], 3_400);
        assert_eq!(prod["behind"][1]["association"], "web-03");
    }

    #[test]
    fn a_missing_view_applies_nothing_and_at_most_100_laggards_are_listed() {
        let l = layout();
        let entries: BTreeMap<String, Entry> = (0..150)
            .map(|i| {
                (
                    format!("c{i:010}"),
                    Entry::Valid {
                        record: record("a", "/services/s/views/gone", Some(1)),
                        mzxid: 1,
                    },
                )
            })
            .collect();
        let views = HashMap::from([("/services/s/views/gone".to_owned(), None)]);
        let report = render(&l, &entries, &views, 0);
        let env = &report["environments"][0];
        assert_eq!(env["view_revision"], Value::Null);
        assert_eq!(env["applied"], 0);
        assert_eq!(env["clients"], 150);
        assert_eq!(env["behind"].as_array().unwrap().len(), MAX_BEHIND);
        assert_eq!(env["behind"][0]["lag_ms"], Value::Null);
    }
}
