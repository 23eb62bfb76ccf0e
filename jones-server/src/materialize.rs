//! The materializer's pure half: confs in, changed views and transactions
//! out. No I/O here; `writer` reads the tree, calls these, and commits.
//!
//! A view is the merge of its lineage's confs in the service's merge mode
//! ([`jones_client::MergeMode`]: shallow as original Jones, the default, or
//! deep), computed top-down (a child's view is its parent's view updated
//! by the child's conf in that mode). Only views whose bytes differ from
//! what is stored are written.
//!
//! Every view write travels with `check` ops on the versions of the confs it
//! was computed from (its whole lineage), so a transaction that commits
//! writes only views that agree with the confs stored at that instant; when
//! a batch is too large for one transaction, each batch carries the checks
//! of its own views and so keeps the same promise on its own.

use std::collections::{BTreeMap, HashSet};

use jones_client::{Config, EnvPath, ServiceLayout, config_to_bytes};

use crate::Error;
use crate::tree::TreeRead;
use crate::zk::Op;

/// Largest config or view the server stores, in bytes: ZooKeeper refuses
/// requests over `jute.maxbuffer` (1 MiB by default) and drops the
/// connection, so stay below it with room for the request's framing.
pub const MAX_NODE_BYTES: usize = 1_000_000;
/// Default budget of one transaction, in bytes: below ZooKeeper's 1 MiB
/// request limit with a margin for framing.
pub const DEFAULT_MULTI_BYTES: usize = 900 * 1024;

/// A view to write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ViewWrite {
    pub env: EnvPath,
    pub data: Vec<u8>,
    /// The stored view's version; `None` when the znode is missing and
    /// must be created.
    pub version: Option<i32>,
}

/// Computes the views of `read`'s subtree, with `new_top` replacing the top
/// environment's conf when given, and returns those whose bytes differ from
/// the stored ones, parents first.
pub(crate) fn changed_views(read: &TreeRead, new_top: Option<&Config>) -> Vec<ViewWrite> {
    let (merge, pins) = (read.service.merge, &read.service.pins);
    let base = pins.lineage_view(
        merge,
        read.ancestors.iter().map(|(e, node)| (e, &node.config)),
    );
    let mut computed: BTreeMap<&EnvPath, Config> = BTreeMap::new();
    let mut writes = Vec::new();
    for (env, node) in &read.subtree {
        let conf = match new_top {
            Some(config) if *env == read.top => config,
            _ => &node.config,
        };
        let mut view = match env.parent().filter(|_| *env != read.top) {
            Some(parent) => computed.get(&parent).cloned().unwrap_or_default(),
            None => base.clone(),
        };
        pins.apply(merge, &mut view, env, conf);
        let data = config_to_bytes(&view);
        match read.views.get(env) {
            Some(Some(stored)) if stored.data == data => {}
            stored => writes.push(ViewWrite {
                env: env.clone(),
                data,
                version: stored.and_then(|s| s.as_ref().map(|s| s.version)),
            }),
        }
        computed.insert(env, view);
    }
    writes
}

/// Each write's environment and new view bytes.
pub(crate) fn view_data(writes: &[ViewWrite]) -> impl Iterator<Item = (&EnvPath, &[u8])> {
    writes.iter().map(|w| (&w.env, w.data.as_slice()))
}

/// The version each conf of `read` will have when the views are written:
/// as read, except the top's when the change itself moves it.
pub(crate) struct Versions<'a> {
    pub read: &'a TreeRead,
    /// The top's version after the change, when the change sets its conf.
    pub top_after: Option<i32>,
}

impl Versions<'_> {
    fn of(&self, env: &EnvPath) -> Option<i32> {
        if *env == self.read.top {
            if let Some(v) = self.top_after {
                return Some(v);
            }
        }
        self.read.subtree.get(env).map(|n| n.version).or_else(|| {
            self.read
                .ancestors
                .iter()
                .find(|(e, _)| e == env)
                .map(|(_, n)| n.version)
        })
    }
}

/// The view write as an op.
pub(crate) fn view_op(layout: &ServiceLayout, write: &ViewWrite) -> Op {
    let path = layout.view_path(&write.env);
    match write.version {
        None => Op::Create {
            path,
            data: write.data.clone(),
        },
        Some(version) => Op::Set {
            path,
            data: write.data.clone(),
            version: Some(version),
        },
    }
}

/// Splits `writes` into transactions of at most `budget` bytes, each
/// holding its views plus `check` ops on every conf of those views'
/// lineages (at the versions in `versions`). Parents come first, so
/// consecutive views share most of their checks.
pub(crate) fn view_batches(
    layout: &ServiceLayout,
    versions: &Versions<'_>,
    writes: &[ViewWrite],
    budget: usize,
) -> Result<Vec<Vec<Op>>, Error> {
    let mut batches = Vec::new();
    let mut batch: Vec<Op> = Vec::new();
    let mut size = 0;
    let mut checked: HashSet<EnvPath> = HashSet::new();
    for write in writes {
        let view = view_op(layout, write);
        let checks = |checked: &HashSet<EnvPath>| -> Result<Vec<Op>, Error> {
            write
                .env
                .lineage()
                .filter(|e| !checked.contains(e))
                .map(|e| {
                    let version = versions.of(&e).ok_or_else(|| Error::Corrupt {
                        path: layout.conf_path(&e),
                        reason: "conf not read before writing its descendants' views".into(),
                    })?;
                    Ok(Op::Check {
                        path: layout.conf_path(&e),
                        version,
                    })
                })
                .collect()
        };
        let mut new_checks = checks(&checked)?;
        let mut needed: usize =
            view.wire_size() + new_checks.iter().map(Op::wire_size).sum::<usize>();
        if !batch.is_empty() && size + needed > budget {
            batches.push(std::mem::take(&mut batch));
            checked.clear();
            size = 0;
            new_checks = checks(&checked)?;
            needed = view.wire_size() + new_checks.iter().map(Op::wire_size).sum::<usize>();
        }
        if needed > budget {
            return Err(Error::TooLarge {
                reason: format!(
                    "the view of environment {:?} with its checks is {needed} bytes, over the transaction budget of {budget}",
                    write.env.as_str()
                ),
            });
        }
        checked.extend(write.env.lineage());
        // Checks first: they guard the writes after them.
        let at = batch
            .iter()
            .take_while(|op| matches!(op, Op::Check { .. }))
            .count();
        batch.splice(at..at, new_checks);
        batch.push(view);
        size += needed;
    }
    if !batch.is_empty() {
        batches.push(batch);
    }
    Ok(batches)
}

/// Total wire size of `ops`.
pub(crate) fn ops_size(ops: &[Op]) -> usize {
    ops.iter().map(Op::wire_size).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::ConfNode;
    use jones_client::{ServiceName, parse_config};
    use serde_json::json;

    fn conf(v: serde_json::Value, version: i32, children: &[&str]) -> ConfNode {
        ConfNode {
            config: v.as_object().unwrap().clone(),
            version,
            revision: version.into(),
            children: children.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn env(s: &str) -> EnvPath {
        EnvPath::new(s).unwrap()
    }

    /// The original Jones fixture, read at the root with no views stored.
    fn fixture() -> TreeRead {
        let mut subtree = BTreeMap::new();
        subtree.insert(env(""), conf(json!({"foo": "bar"}), 0, &["parent"]));
        subtree.insert(
            env("parent"),
            conf(
                json!({"a": 1, "b": [1, 2, 3], "c": {"x": 0}}),
                3,
                &["child1", "child2"],
            ),
        );
        subtree.insert(env("parent/child1"), conf(json!({"a": 2}), 1, &[]));
        subtree.insert(
            env("parent/child2"),
            conf(json!({"a": 3}), 1, &["subchild1"]),
        );
        subtree.insert(
            env("parent/child2/subchild1"),
            conf(json!({"b": "abc"}), 2, &[]),
        );
        let views = subtree.keys().map(|e| (e.clone(), None)).collect();
        TreeRead {
            top: EnvPath::root(),
            ancestors: vec![],
            subtree,
            views,
            marker: None,
            service: shallow_service(),
            history_exists: true,
        }
    }

    fn shallow_service() -> crate::tree::ServiceNode {
        crate::tree::ServiceNode {
            data: Vec::new(),
            version: 0,
            merge: jones_client::MergeMode::Shallow,
            pins: Default::default(),
            schema: None,
        }
    }

    fn view_of(writes: &[ViewWrite], e: &str) -> serde_json::Value {
        let w = writes.iter().find(|w| w.env == env(e)).unwrap();
        serde_json::Value::Object(parse_config(&w.data).unwrap())
    }

    #[test]
    fn computes_original_jones_views() {
        let writes = changed_views(&fixture(), None);
        assert_eq!(writes.len(), 5);
        assert!(writes.iter().all(|w| w.version.is_none()));
        assert_eq!(view_of(&writes, ""), json!({"foo": "bar"}));
        assert_eq!(
            view_of(&writes, "parent/child1"),
            json!({"foo": "bar", "a": 2, "b": [1, 2, 3], "c": {"x": 0}})
        );
        assert_eq!(
            view_of(&writes, "parent/child2/subchild1"),
            json!({"foo": "bar", "a": 3, "b": "abc", "c": {"x": 0}})
        );
    }

    #[test]
    fn writes_only_changed_views() {
        let mut read = fixture();
        for w in changed_views(&read.clone(), None) {
            read.views.insert(
                w.env,
                Some(crate::tree::StoredView {
                    data: w.data,
                    version: 0,
                }),
            );
        }
        assert!(changed_views(&read, None).is_empty());
        // Changing a key child1 overrides touches every view but child1's.
        let new_parent = json!({"a": 9, "b": [1, 2, 3], "c": {"x": 0}});
        read.top = env("parent");
        let (root, root_node) = read.subtree.pop_first().unwrap();
        read.views.remove(&root);
        read.ancestors = vec![(root, root_node)];
        let writes = changed_views(&read, Some(new_parent.as_object().unwrap()));
        let envs: Vec<&str> = writes.iter().map(|w| w.env.as_str()).collect();
        assert_eq!(envs, ["parent"]);
        assert_eq!(writes[0].version, Some(0));
    }

    #[test]
    fn batches_carry_their_lineage_checks_and_fit_the_budget() {
        let read = fixture();
        let layout = ServiceLayout::new(ServiceName::new("svc").unwrap());
        let writes = changed_views(&read, None);
        let versions = Versions {
            read: &read,
            top_after: Some(1),
        };
        let one = view_batches(&layout, &versions, &writes, DEFAULT_MULTI_BYTES).unwrap();
        assert_eq!(one.len(), 1);
        // 5 views + 5 distinct confs checked; the root at its new version.
        assert_eq!(one[0].len(), 10);
        assert!(one[0].contains(&Op::Check {
            path: "/services/svc/conf".into(),
            version: 1
        }));
        let budget = 700;
        let many = view_batches(&layout, &versions, &writes, budget).unwrap();
        assert!(many.len() > 1);
        for batch in &many {
            assert!(ops_size(batch) <= budget);
            for op in batch {
                if let Op::Create { path, .. } = op {
                    let e = layout.env_of_view_path(path).unwrap();
                    for ancestor in e.lineage() {
                        let conf = layout.conf_path(&ancestor);
                        assert!(
                            batch
                                .iter()
                                .any(|o| matches!(o, Op::Check { path, .. } if *path == conf)),
                            "{path} without a check of {conf}"
                        );
                    }
                }
            }
        }
        let total: usize = many
            .iter()
            .map(|b| b.iter().filter(|o| !matches!(o, Op::Check { .. })).count())
            .sum();
        assert_eq!(total, 5);
        let err = view_batches(&layout, &versions, &writes, 100).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }

    /// A random JSON value: scalars, `null`, arrays, and objects nested up
    /// to three levels over a few shared keys, so that lineages meet the
    /// same keys with objects and non-objects alike.
    fn random_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            (0i64..4).prop_map(|v| json!(v)),
            Just(serde_json::Value::Null),
            "[xy]".prop_map(serde_json::Value::String),
            proptest::collection::vec(0i64..3, 0..3).prop_map(|v| json!(v)),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            proptest::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()))
        })
    }

    /// A random config: a JSON object of random values.
    fn random_config() -> impl proptest::strategy::Strategy<Value = Config> {
        use proptest::prelude::*;
        proptest::collection::btree_map("[a-d]", random_value(), 0..4)
            .prop_map(|m| m.into_iter().collect::<Config>())
    }

    /// The reference merge, written apart from `MergeMode::merge_into`:
    /// each conf of the chain, root first, is laid over the view so far;
    /// shallowly, its keys replace whole values; deeply, two objects meet
    /// key by key at every depth and anything else replaces. A key already
    /// in the view keeps its place; a new one goes last.
    fn reference_view<'a>(
        mode: jones_client::MergeMode,
        chain: impl IntoIterator<Item = &'a Config>,
    ) -> serde_json::Value {
        fn over(
            under: &serde_json::Value,
            top: &serde_json::Value,
            deep: bool,
        ) -> serde_json::Value {
            match (under, top) {
                (serde_json::Value::Object(u), serde_json::Value::Object(t)) => {
                    let mut out = u.clone();
                    for (k, v) in t {
                        let merged = match (deep, u.get(k)) {
                            (true, Some(below)) => over(below, v, true),
                            _ => v.clone(),
                        };
                        out.insert(k.clone(), merged);
                    }
                    serde_json::Value::Object(out)
                }
                _ => top.clone(),
            }
        }
        let deep = mode == jones_client::MergeMode::Deep;
        chain.into_iter().fold(json!({}), |view, conf| {
            // The top level is always merged key by key (a config is an
            // object); below it only in deep mode.
            let mut out = view.as_object().unwrap().clone();
            for (k, v) in conf {
                let merged = match (deep, out.get(k)) {
                    (true, Some(below)) => over(below, v, true),
                    _ => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            serde_json::Value::Object(out)
        })
    }

    #[test]
    fn the_reference_merge_is_what_the_modes_document() {
        let root = json!({"db": {"host": "db1", "pool": {"size": 5}}, "l": [1]})
            .as_object()
            .unwrap()
            .clone();
        let prod = json!({"db": {"pool": {"size": 20}}, "l": [2], "x": null})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(
            reference_view(jones_client::MergeMode::Deep, [&root, &prod]),
            json!({"db": {"host": "db1", "pool": {"size": 20}}, "l": [2], "x": null})
        );
        assert_eq!(
            reference_view(jones_client::MergeMode::Shallow, [&root, &prod]),
            json!({"db": {"pool": {"size": 20}}, "l": [2], "x": null})
        );
    }

    /// A random tree: each environment's parent is an earlier one.
    fn random_tree() -> impl proptest::strategy::Strategy<Value = TreeRead> {
        use proptest::prelude::*;
        let config = random_config();
        let mode = prop_oneof![
            Just(jones_client::MergeMode::Shallow),
            Just(jones_client::MergeMode::Deep)
        ];
        (
            mode,
            proptest::collection::vec(
                (any::<proptest::sample::Index>(), config, any::<bool>()),
                1..25,
            ),
        )
            .prop_map(|(mode, nodes)| {
                let mut envs: Vec<EnvPath> = vec![EnvPath::root()];
                let mut subtree = BTreeMap::new();
                let mut views = BTreeMap::new();
                for (i, (parent, config, stored)) in nodes.into_iter().enumerate() {
                    let env = if i == 0 {
                        EnvPath::root()
                    } else {
                        let parent = parent.get(&envs).clone();
                        let child = parent.child(&format!("e{i}")).unwrap();
                        envs.push(child.clone());
                        if let Some(node) = subtree.get_mut(&parent) {
                            let node: &mut ConfNode = node;
                            node.children.push(format!("e{i}"));
                        }
                        child
                    };
                    subtree.insert(
                        env.clone(),
                        ConfNode {
                            config,
                            version: i as i32,
                            revision: i as i64,
                            children: vec![],
                        },
                    );
                    // Some views stored (stale or not), some missing.
                    views.insert(
                        env,
                        stored.then(|| crate::tree::StoredView {
                            data: b"{}".to_vec(),
                            version: 7,
                        }),
                    );
                }
                TreeRead {
                    top: EnvPath::root(),
                    ancestors: vec![],
                    subtree,
                    views,
                    marker: None,
                    service: crate::tree::ServiceNode {
                        merge: mode,
                        ..shallow_service()
                    },
                    history_exists: true,
                }
            })
    }

    proptest::proptest! {
        #[test]
        fn planned_writes_make_every_view_the_merge_of_its_lineage(
            read in random_tree(),
            new_root in proptest::option::of(random_config()),
            budget in 300usize..3000,
        ) {
            let writes = changed_views(&read, new_root.as_ref());
            let mut read = read;
            if let Some(config) = &new_root {
                read.subtree.get_mut(&EnvPath::root()).unwrap().config = config.clone();
            }
            let read = read;
            // Apply the writes to the stored views.
            let mut stored: BTreeMap<EnvPath, Vec<u8>> = read
                .views
                .iter()
                .filter_map(|(e, v)| v.as_ref().map(|v| (e.clone(), v.data.clone())))
                .collect();
            for w in &writes {
                proptest::prop_assert_eq!(w.version.is_some(), read.views[&w.env].is_some());
                stored.insert(w.env.clone(), w.data.clone());
            }
            // Every view is the reference merge of its lineage in the
            // service's mode, key order included.
            let mode = read.service.merge;
            for env in read.subtree.keys() {
                let chain: Vec<&Config> = env.lineage().map(|e| &read.subtree[&e].config).collect();
                let expected = reference_view(mode, chain.iter().copied());
                let stored_view = serde_json::Value::Object(parse_config(&stored[env]).unwrap());
                proptest::prop_assert_eq!(&stored_view, &expected, "{} in {} mode", env, mode);
                proptest::prop_assert_eq!(
                    &stored[env],
                    &config_to_bytes(expected.as_object().unwrap()),
                    "{} in {} mode: bytes", env, mode
                );
            }
            // Planning again after applying writes nothing.
            let mut after = read.clone();
            for (e, data) in stored {
                after.views.insert(e, Some(crate::tree::StoredView { data, version: 8 }));
            }
            proptest::prop_assert!(changed_views(&after, None).is_empty());
            // Batches: under budget (or one view alone), each view with its
            // lineage's checks, every write exactly once.
            let layout = ServiceLayout::new(ServiceName::new("svc").unwrap());
            let versions = Versions { read: &read, top_after: None };
            if let Ok(batches) = view_batches(&layout, &versions, &writes, budget) {
                let mut written = 0;
                for batch in &batches {
                    proptest::prop_assert!(ops_size(batch) <= budget);
                    for op in batch {
                        let path = match op {
                            Op::Set { path, .. } | Op::Create { path, .. } => path,
                            _ => continue,
                        };
                        written += 1;
                        let e = layout.env_of_view_path(path).unwrap();
                        for ancestor in e.lineage() {
                            let check = Op::Check {
                                path: layout.conf_path(&ancestor),
                                version: read.subtree[&ancestor].version,
                            };
                            proptest::prop_assert!(batch.contains(&check));
                        }
                    }
                }
                proptest::prop_assert_eq!(written, writes.len());
            }
        }
    }
}
