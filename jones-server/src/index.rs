//! Pure planning of the association index (see
//! [`jones_client::IndexState`]): what the index should hold for a nodemap,
//! how the stored index differs from it, and the ops that make one nodemap
//! change carry its index change. No I/O; `writer::index` reads and commits.
//!
//! The nodemap stays the source of truth: the index holds one znode per
//! association, `/services/{svc}/associations/{encoded name}`, with
//! `{"view": path}` exactly as the nodemap says. A name that encodes to no
//! znode name (the empty string, only in trees written by others) is not
//! indexed.

use std::collections::BTreeMap;

use jones_client::{
    AssociationRecord, IndexState, Nodemap, ServiceLayout, association_of_znode_name,
    association_znode_name,
};

use crate::zk::Op;

/// Budget of one index build batch, in bytes: well under ZooKeeper's
/// 1 MiB request limit, so a build never competes with the write budget.
pub(crate) const BUILD_BATCH_BYTES: usize = 512 * 1024;

/// The index of a service as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StoredIndex {
    /// The directory's state and data version; `None` when there is no
    /// directory. A state that does not parse reads as `None` inside.
    pub dir: Option<(Option<IndexState>, i32)>,
    /// Every child of the directory: znode name → (data, version).
    pub entries: BTreeMap<String, (Vec<u8>, i32)>,
    /// Whether the client registry directory exists.
    pub clients: bool,
}

impl StoredIndex {
    /// Whether clients follow this index.
    pub(crate) fn followable(&self) -> bool {
        matches!(self.dir, Some((Some(state), _)) if state.is_followable())
    }
}

/// How a stored index differs from its nodemap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IndexDiff {
    /// Associations without a znode: (name, view path).
    pub missing: Vec<(String, String)>,
    /// Associations whose znode says something else: (name, view path in
    /// the nodemap, what the znode holds, its version).
    pub stale: Vec<(String, String, String, i32)>,
    /// Znodes no association of the nodemap has: (znode name, version).
    pub extra: Vec<(String, i32)>,
}

impl IndexDiff {
    /// Whether the entries agree with the nodemap.
    pub(crate) fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.stale.is_empty() && self.extra.is_empty()
    }

    /// The ops that make the entries agree, creates first.
    pub(crate) fn ops(&self, layout: &ServiceLayout) -> Vec<Op> {
        let dir = layout.associations_path();
        let mut ops = Vec::new();
        for (name, view) in &self.missing {
            ops.push(Op::Create {
                path: layout.association_path(name),
                data: AssociationRecord::new(view.as_str()).to_bytes(),
            });
        }
        for (name, view, _, version) in &self.stale {
            ops.push(Op::Set {
                path: layout.association_path(name),
                data: AssociationRecord::new(view.as_str()).to_bytes(),
                version: Some(*version),
            });
        }
        for (znode, version) in &self.extra {
            ops.push(Op::Delete {
                path: format!("{dir}/{znode}"),
                version: Some(*version),
            });
        }
        ops
    }
}

/// Whether clients follow an index whose directory holds `data`.
pub(crate) fn followable_state(data: &[u8]) -> bool {
    IndexState::parse(data).is_ok_and(IndexState::is_followable)
}

/// Whether `name` has an index znode (every name but the empty one).
pub(crate) fn indexable(name: &str) -> bool {
    !association_znode_name(name).is_empty()
}

/// How `stored`'s entries differ from `nodemap`.
pub(crate) fn diff(nodemap: &Nodemap, stored: &StoredIndex) -> IndexDiff {
    let mut out = IndexDiff::default();
    let mut wanted: BTreeMap<String, (&str, &str)> = BTreeMap::new();
    for (name, view) in nodemap.iter().filter(|(n, _)| indexable(n)) {
        wanted.insert(association_znode_name(name), (name, view));
    }
    for (znode, (name, view)) in &wanted {
        match stored.entries.get(znode) {
            None => out.missing.push(((*name).to_owned(), (*view).to_owned())),
            Some((data, version)) => {
                let indexed = match AssociationRecord::parse(data) {
                    Ok(record) => record.view,
                    Err(_) => String::from_utf8_lossy(data).into_owned(),
                };
                if indexed != *view {
                    out.stale
                        .push(((*name).to_owned(), (*view).to_owned(), indexed, *version));
                }
            }
        }
    }
    for (znode, (_, version)) in &stored.entries {
        if !wanted.contains_key(znode) {
            out.extra.push((znode.clone(), *version));
        }
    }
    out
}

/// The association a znode of the index stands for, when it is one.
pub(crate) fn name_of(znode: &str) -> Option<String> {
    association_of_znode_name(znode).ok()
}

/// The names whose view differs between `before` and `after`.
pub(crate) fn changed_names(before: &Nodemap, after: &Nodemap) -> Vec<String> {
    let mut names: Vec<String> = before
        .iter()
        .filter(|(n, v)| after.get(n) != Some(*v))
        .map(|(n, _)| n.to_owned())
        .collect();
    names.extend(
        after
            .iter()
            .filter(|(n, v)| before.get(n) != Some(*v))
            .map(|(n, _)| n.to_owned()),
    );
    names.sort();
    names.dedup();
    names.retain(|n| indexable(n));
    names
}

/// What a nodemap writer read of the index: the directory (its data
/// version, `None` when absent, and whether clients follow it) and, for
/// each name it may change, its znode's version (`None` when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IndexRead {
    /// The directory's data version; `None` when there is no directory.
    pub dir: Option<i32>,
    /// Whether the directory says complete (in a layout this code writes):
    /// a write that finds it unfinished builds it after its commit.
    pub followable: bool,
    /// Name → its znode's version, for the names read.
    pub entries: BTreeMap<String, Option<i32>>,
}

/// The index half of a nodemap change from `before` to `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IndexChange {
    /// No directory: ops that fail the transaction if one appears
    /// meanwhile (create and delete it), and the index is to be built
    /// after the write.
    Absent(Vec<Op>),
    /// The entry ops; `degraded` holds instead the op that marks the index
    /// incomplete, for when the entries do not fit the transaction (then
    /// the index is rebuilt after the write, and clients read the nodemap
    /// meanwhile).
    Entries { ops: Vec<Op>, degraded: Op },
}

/// Plans the index ops of a nodemap change; `None` when a changed name was
/// not read (a caller's bug: read it and plan again).
pub(crate) fn plan_change(
    layout: &ServiceLayout,
    before: &Nodemap,
    after: &Nodemap,
    read: &IndexRead,
) -> Option<IndexChange> {
    let dir = layout.associations_path();
    let Some(dir_version) = read.dir else {
        return Some(IndexChange::Absent(vec![
            Op::Create {
                path: dir.to_owned(),
                data: Vec::new(),
            },
            Op::Delete {
                path: dir.to_owned(),
                version: Some(0),
            },
        ]));
    };
    let mut ops = Vec::new();
    for name in changed_names(before, after) {
        let existing = *read.entries.get(&name)?;
        let path = layout.association_path(&name);
        match (after.get(&name), existing) {
            (Some(view), None) => ops.push(Op::Create {
                path,
                data: AssociationRecord::new(view).to_bytes(),
            }),
            (Some(view), Some(version)) => ops.push(Op::Set {
                path,
                data: AssociationRecord::new(view).to_bytes(),
                version: Some(version),
            }),
            (None, Some(version)) => ops.push(Op::Delete {
                path,
                version: Some(version),
            }),
            (None, None) => {}
        }
    }
    Some(IndexChange::Entries {
        ops,
        degraded: Op::Set {
            path: dir.to_owned(),
            data: IndexState::building().to_bytes(),
            version: Some(dir_version),
        },
    })
}

/// Splits `ops` into batches of at most `budget` bytes each, counting
/// `reserve` bytes per batch for the ops every batch carries.
pub(crate) fn batches(ops: Vec<Op>, budget: usize, reserve: usize) -> Vec<Vec<Op>> {
    let mut out: Vec<Vec<Op>> = Vec::new();
    let mut size = 0;
    for op in ops {
        let op_size = op.wire_size();
        match out.last_mut() {
            Some(batch) if size + op_size + reserve <= budget => batch.push(op),
            _ => {
                out.push(vec![op]);
                size = 0;
            }
        }
        size += op_size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jones_client::ServiceName;

    fn layout() -> ServiceLayout {
        ServiceLayout::new(ServiceName::new("s").unwrap())
    }

    fn map(pairs: &[(&str, &str)]) -> Nodemap {
        let mut map = Nodemap::new();
        for (n, v) in pairs {
            map.insert(n, format!("/services/s/views/{v}")).unwrap();
        }
        map
    }

    #[test]
    fn a_diff_finds_missing_stale_and_extra_entries() {
        let nodemap = map(&[("a/b", "x"), ("web", "y"), ("same", "z")]);
        let mut stored = StoredIndex {
            dir: Some((Some(IndexState::complete()), 0)),
            ..StoredIndex::default()
        };
        stored.entries.insert(
            "web".into(),
            (
                AssociationRecord::new("/services/s/views/old").to_bytes(),
                3,
            ),
        );
        stored.entries.insert(
            "same".into(),
            (AssociationRecord::new("/services/s/views/z").to_bytes(), 1),
        );
        stored.entries.insert("gone".into(), (b"{}".to_vec(), 2));
        let d = diff(&nodemap, &stored);
        assert_eq!(
            d.missing,
            [("a/b".to_owned(), "/services/s/views/x".to_owned())]
        );
        assert_eq!(d.stale.len(), 1);
        assert_eq!(d.stale[0].2, "/services/s/views/old");
        assert_eq!(d.extra, [("gone".to_owned(), 2)]);
        let ops = d.ops(&layout());
        assert_eq!(ops[0].path(), "/services/s/associations/a%2Fb");
        assert_eq!(ops.len(), 3);
    }

    #[test]
    fn the_empty_name_is_not_indexed() {
        let nodemap = Nodemap::parse(br#"{"": "/services/s/views/x"}"#).unwrap();
        assert_eq!(nodemap.len(), 1);
        assert!(diff(&nodemap, &StoredIndex::default()).is_empty());
        assert!(changed_names(&Nodemap::new(), &nodemap).is_empty());
    }

    #[test]
    fn a_change_writes_only_the_entries_that_change() {
        let before = map(&[("a", "x"), ("b", "y"), ("c", "z")]);
        let after = map(&[("a", "x"), ("b", "w"), ("d", "z")]);
        assert_eq!(changed_names(&before, &after), ["b", "c", "d"]);
        let read = IndexRead {
            dir: Some(4),
            followable: true,
            entries: [("b", Some(1)), ("c", Some(0)), ("d", None)]
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v))
                .collect(),
        };
        let Some(IndexChange::Entries { ops, degraded }) =
            plan_change(&layout(), &before, &after, &read)
        else {
            panic!("a directory was read");
        };
        assert!(matches!(&ops[0], Op::Set { path, version: Some(1), .. } if path.ends_with("/b")));
        assert!(matches!(&ops[1], Op::Delete { path, version: Some(0) } if path.ends_with("/c")));
        assert!(matches!(&ops[2], Op::Create { path, .. } if path.ends_with("/d")));
        assert!(matches!(
            degraded,
            Op::Set {
                version: Some(4),
                ..
            }
        ));
        let unread = IndexRead {
            dir: Some(4),
            ..IndexRead::default()
        };
        assert_eq!(plan_change(&layout(), &before, &after, &unread), None);
        assert!(matches!(
            plan_change(&layout(), &before, &after, &IndexRead::default()),
            Some(IndexChange::Absent(_))
        ));
    }

    #[test]
    fn batches_stay_under_the_budget() {
        let ops: Vec<Op> = (0..100)
            .map(|i| Op::Create {
                path: format!("/x/{i}"),
                data: vec![0; 100],
            })
            .collect();
        let one = ops[0].wire_size();
        let split = batches(ops, one * 10 + 50, 50);
        assert!(split.len() >= 10);
        assert!(split.iter().all(|b| b.len() <= 10));
        assert_eq!(split.iter().map(Vec::len).sum::<usize>(), 100);
    }
}
