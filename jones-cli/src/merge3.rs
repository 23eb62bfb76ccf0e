//! Three-way merge of configs, for `env edit` after a conflict: `base` is
//! the config the edit started from, `theirs` the config saved meanwhile,
//! `mine` the edit.
//!
//! Key by key, recursively through objects present on all sides that
//! differ: a key only one side changed (set, changed or removed) takes that
//! side's value; a key both changed the same way takes it; a key both
//! changed differently is a [`Conflict`], provisionally `mine`. Where both
//! sides hold objects that differ, they merge key by key, whatever the base
//! held (an object, or nothing, a scalar, `null`: then as if the keys were
//! new on both sides). Arrays and other values are compared whole. Keys
//! keep `theirs`' order, then the keys only `mine` added.
//!
//! The cases in `merge3_cases.json` beside this file are the one table this
//! merge and the web editor's `merge3.js` are tested against.

use serde_json::{Map, Value};

/// A key both sides changed differently.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The key's path through nested objects.
    pub path: Vec<String>,
    /// Its value in the saved config (`None`: removed there).
    pub theirs: Option<Value>,
    /// Its value in the edit (`None`: removed there).
    pub mine: Option<Value>,
}

/// The merge, and the keys left for a person to pick.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The merged config; conflicting keys hold `mine`.
    pub config: Map<String, Value>,
    pub conflicts: Vec<Conflict>,
}

/// Merges `mine` into `theirs` relative to `base`; see the module docs.
pub fn merge3(
    base: &Map<String, Value>,
    theirs: &Map<String, Value>,
    mine: &Map<String, Value>,
) -> Merged {
    let mut merged = Merged {
        config: Map::new(),
        conflicts: Vec::new(),
    };
    merge_into(base, theirs, mine, &mut Vec::new(), &mut merged);
    merged
}

fn merge_into(
    base: &Map<String, Value>,
    theirs: &Map<String, Value>,
    mine: &Map<String, Value>,
    path: &mut Vec<String>,
    out: &mut Merged,
) {
    let keys = theirs
        .keys()
        .chain(mine.keys().filter(|k| !theirs.contains_key(*k)))
        .chain(
            base.keys()
                .filter(|k| !theirs.contains_key(*k) && !mine.contains_key(*k)),
        );
    let mut config = Map::new();
    for key in keys {
        let (b, t, m) = (base.get(key), theirs.get(key), mine.get(key));
        let taken = if t == m || m == b {
            t.cloned()
        } else if t == b {
            m.cloned()
        } else if let (Some(Value::Object(t)), Some(Value::Object(m))) = (t, m) {
            let empty = Map::new();
            let b = match b {
                Some(Value::Object(b)) => b,
                _ => &empty,
            };
            path.push(key.clone());
            let mut inner = Merged {
                config: Map::new(),
                conflicts: Vec::new(),
            };
            merge_into(b, t, m, path, &mut inner);
            path.pop();
            out.conflicts.extend(inner.conflicts);
            Some(Value::Object(inner.config))
        } else {
            let mut at = path.clone();
            at.push(key.clone());
            out.conflicts.push(Conflict {
                path: at,
                theirs: t.cloned(),
                mine: m.cloned(),
            });
            m.cloned()
        };
        if let Some(value) = taken {
            config.insert(key.clone(), value);
        }
    }
    out.config = config;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    /// The one table of cases, shared with the web editor's tests.
    #[test]
    fn the_shared_table_of_merge_cases() {
        let table: Value = serde_json::from_str(include_str!("merge3_cases.json")).unwrap();
        let cases = table["cases"].as_array().unwrap();
        assert!(cases.len() >= 10);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let side = |k: &str| case[k].as_object().unwrap().clone();
            let merged = merge3(&side("base"), &side("theirs"), &side("mine"));
            // Compared as text: the key order counts.
            assert_eq!(
                serde_json::to_string(&merged.config).unwrap(),
                serde_json::to_string(&case["merged"]).unwrap(),
                "{name}"
            );
            let expected: Vec<Conflict> = case["conflicts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| Conflict {
                    path: c["path"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p.as_str().unwrap().to_owned())
                        .collect(),
                    theirs: c.get("theirs").cloned(),
                    mine: c.get("mine").cloned(),
                })
                .collect();
            assert_eq!(merged.conflicts, expected, "{name}");
        }
    }

    #[test]
    fn one_sided_changes_merge_and_two_sided_ones_conflict() {
        let base = map(json!({"db": {"pool": 50, "host": "h"}, "timeout_ms": 500, "gone": 1}));
        let theirs = map(json!({"db": {"pool": 64, "host": "h"}, "timeout_ms": 450, "gone": 1}));
        let mine =
            map(json!({"db": {"pool": 50, "host": "h2"}, "timeout_ms": 400, "new_flow": true}));
        let merged = merge3(&base, &theirs, &mine);
        assert_eq!(
            Value::Object(merged.config),
            json!({"db": {"pool": 64, "host": "h2"}, "timeout_ms": 400, "new_flow": true})
        );
        assert_eq!(
            merged.conflicts,
            [Conflict {
                path: vec!["timeout_ms".into()],
                theirs: Some(json!(450)),
                mine: Some(json!(400)),
            }]
        );
    }

    #[test]
    fn the_case_of_two_tabs_keeps_both_saves() {
        // Tab B only added new_flow; tab A saved pool 64 and timeout 450.
        let base = map(json!({"db": {"pool": {"size": 50}}, "timeout_ms": 500}));
        let theirs = map(json!({"db": {"pool": {"size": 64}}, "timeout_ms": 450}));
        let mine = map(json!({"db": {"pool": {"size": 50}}, "timeout_ms": 500, "new_flow": true}));
        let merged = merge3(&base, &theirs, &mine);
        assert!(merged.conflicts.is_empty());
        assert_eq!(
            Value::Object(merged.config),
            json!({"db": {"pool": {"size": 64}}, "timeout_ms": 450, "new_flow": true})
        );
    }

    #[test]
    fn a_removal_against_a_change_is_a_conflict() {
        let base = map(json!({"a": 1}));
        let merged = merge3(&base, &map(json!({"a": 2})), &map(json!({})));
        assert_eq!(merged.conflicts.len(), 1);
        assert_eq!(merged.conflicts[0].mine, None);
        assert!(merged.config.is_empty(), "mine holds provisionally");
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!(1)),
            Just(json!(2)),
            Just(json!("s")),
            Just(json!([1]))
        ]
    }

    fn config() -> impl Strategy<Value = Map<String, Value>> {
        let value = leaf().prop_recursive(2, 8, 3, |inner| {
            prop::collection::btree_map("[ab]", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        });
        prop::collection::btree_map("[abc]", value, 0..4).prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        /// Whatever one side did alone is the result; nothing conflicts.
        #[test]
        fn one_side_alone_wins(base in config(), changed in config()) {
            let theirs_only = merge3(&base, &changed, &base);
            prop_assert!(theirs_only.conflicts.is_empty());
            prop_assert_eq!(&theirs_only.config, &changed);
            let mine_only = merge3(&base, &base, &changed);
            prop_assert!(mine_only.conflicts.is_empty());
            prop_assert_eq!(Value::Object(mine_only.config), Value::Object(changed));
        }

        /// Picking `theirs` for every conflict gives a config where every
        /// key mine did not touch is theirs.
        #[test]
        fn no_conflict_means_both_sides_kept(base in config(), theirs in config(), mine in config()) {
            let merged = merge3(&base, &theirs, &mine);
            if merged.conflicts.is_empty() {
                for (k, t) in &theirs {
                    if mine.get(k) == base.get(k) {
                        prop_assert_eq!(merged.config.get(k), Some(t));
                    }
                }
                for (k, m) in &mine {
                    if theirs.get(k) == base.get(k) {
                        prop_assert_eq!(merged.config.get(k), Some(m));
                    }
                }
            }
        }
    }
}
