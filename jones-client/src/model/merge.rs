//! The view merge: how an environment inherits its ancestors' keys.
//!
//! A view is the root's config updated by each config below it down to the
//! environment. Two modes, chosen per service ([`MergeMode`]):
//!
//! - **shallow** (original Jones, the default): like Python's
//!   `dict.update`, a child's top-level key replaces the parent's whole
//!   value, nested objects included;
//! - **deep**: where both the inherited value and the child's are JSON
//!   objects, they merge key by key, at every depth; anything else (a
//!   scalar, an array, `null`, or an object meeting a non-object) replaces
//!   the inherited value whole. Arrays are never merged element-wise, and
//!   `null` is a value like any other, not a deletion.
//!
//! Keys keep the order in which they first appear, as in original Jones'
//! views.

use crate::Config;
use serde_json::Value;

/// How a child's config combines with the view it inherits; see the
/// module documentation.
///
/// ```
/// use jones_client::MergeMode;
/// use serde_json::json;
/// let root = json!({"db": {"host": "db1", "pool": 5}}).as_object().unwrap().clone();
/// let prod = json!({"db": {"pool": 20}}).as_object().unwrap().clone();
/// let deep = MergeMode::Deep.merge_view([&root, &prod]);
/// assert_eq!(deep["db"], json!({"host": "db1", "pool": 20}));
/// let shallow = MergeMode::Shallow.merge_view([&root, &prod]);
/// assert_eq!(shallow["db"], json!({"pool": 20}));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum MergeMode {
    /// Top-level keys replace inherited ones whole (original Jones).
    #[default]
    Shallow,
    /// Objects merge key by key at every depth; other values replace.
    Deep,
}

impl MergeMode {
    /// Its name: `shallow` or `deep`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shallow => "shallow",
            Self::Deep => "deep",
        }
    }

    /// Merges a chain of configs, root first, into the view of the last one.
    pub fn merge_view<'a>(self, chain: impl IntoIterator<Item = &'a Config>) -> Config {
        let mut view = Config::new();
        for config in chain {
            self.merge_into(&mut view, config);
        }
        view
    }

    /// Updates `view` with `config`, in place.
    pub fn merge_into(self, view: &mut Config, config: &Config) {
        match self {
            Self::Shallow => {
                for (key, value) in config {
                    view.insert(key.clone(), value.clone());
                }
            }
            Self::Deep => deep_merge_into(view, config),
        }
    }
}

impl std::fmt::Display for MergeMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MergeMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "shallow" => Ok(Self::Shallow),
            "deep" => Ok(Self::Deep),
            other => Err(format!(
                "unknown merge mode {other:?}: use \"shallow\" or \"deep\""
            )),
        }
    }
}

fn deep_merge_into(view: &mut Config, config: &Config) {
    for (key, value) in config {
        match (view.get_mut(key), value) {
            (Some(Value::Object(inherited)), Value::Object(own)) => deep_merge_into(inherited, own),
            _ => {
                view.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Merges a chain of configs, root first, into the view of the last one,
/// shallowly (original Jones; see [`MergeMode`]).
///
/// ```
/// use serde_json::json;
/// let root = json!({"foo": "bar", "c": {"x": 0}}).as_object().unwrap().clone();
/// let child = json!({"c": {"y": 1}}).as_object().unwrap().clone();
/// let view = jones_client::merge_view([&root, &child]);
/// assert_eq!(serde_json::Value::Object(view), json!({"foo": "bar", "c": {"y": 1}}));
/// ```
pub fn merge_view<'a>(chain: impl IntoIterator<Item = &'a Config>) -> Config {
    MergeMode::Shallow.merge_view(chain)
}

/// Updates `view` with `config`'s keys, in place (shallow).
pub fn merge_into(view: &mut Config, config: &Config) {
    MergeMode::Shallow.merge_into(view, config)
}

/// The leaves of `inherited` (each a path of keys; an empty object is a
/// leaf) that `view` no longer has: what a change hides. `["db", "host"]`
/// is hidden when the view's `db` lacks `host`, or is no longer an object.
///
/// ```
/// use serde_json::json;
/// let inherited = json!({"db": {"host": "db1", "pool": {"size": 5}}}).as_object().unwrap().clone();
/// let view = json!({"db": {"pool": {"size": 20}}}).as_object().unwrap().clone();
/// assert_eq!(jones_client::hidden_keys(&inherited, &view), [["db", "host"]]);
/// ```
pub fn hidden_keys(inherited: &Config, view: &Config) -> Vec<Vec<String>> {
    let mut hidden = Vec::new();
    collect_hidden(inherited, Some(view), &mut Vec::new(), &mut hidden);
    hidden
}

fn collect_hidden(
    inherited: &Config,
    view: Option<&Config>,
    path: &mut Vec<String>,
    out: &mut Vec<Vec<String>>,
) {
    for (key, value) in inherited {
        path.push(key.clone());
        match (value, view.and_then(|v| v.get(key))) {
            (_, None) => leaves(value, path, out),
            (Value::Object(inner), Some(Value::Object(now))) if !inner.is_empty() => {
                collect_hidden(inner, Some(now), path, out)
            }
            (Value::Object(inner), Some(_)) if !inner.is_empty() => leaves(value, path, out),
            _ => {}
        }
        path.pop();
    }
}

fn leaves(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(inner) if !inner.is_empty() => {
            for (key, value) in inner {
                path.push(key.clone());
                leaves(value, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

/// The value at `path` in `config`, through nested objects.
///
/// ```
/// use serde_json::json;
/// let config = json!({"db": {"host": "db1"}}).as_object().unwrap().clone();
/// assert_eq!(jones_client::value_at(&config, &["db", "host"]), Some(&json!("db1")));
/// ```
pub fn value_at<'a>(config: &'a Config, path: &[impl AsRef<str>]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(config.get(first.as_ref())?, |value, key| {
            value.get(key.as_ref())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn obj(v: Value) -> Config {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn original_jones_fixture() {
        let root = obj(json!({"foo": "bar"}));
        let parent = obj(json!({"a": 1, "b": [1, 2, 3], "c": {"x": 0}}));
        let child1 = obj(json!({"a": 2}));
        let child2 = obj(json!({"a": 3}));
        let sub = obj(json!({"b": "abc"}));
        assert_eq!(
            Value::Object(merge_view([&root, &parent, &child1])),
            json!({"foo": "bar", "a": 2, "b": [1, 2, 3], "c": {"x": 0}})
        );
        assert_eq!(
            Value::Object(merge_view([&root, &parent, &child2, &sub])),
            json!({"foo": "bar", "a": 3, "b": "abc", "c": {"x": 0}})
        );
        assert!(merge_view([]).is_empty());
    }

    #[test]
    fn order_is_first_appearance() {
        let view = merge_view([&obj(json!({"b": 1, "a": 1})), &obj(json!({"c": 2, "b": 2}))]);
        assert_eq!(view.keys().collect::<Vec<_>>(), ["b", "a", "c"]);
    }

    fn config_strategy() -> impl Strategy<Value = Config> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,5}".prop_map(Value::from),
        ];
        let value = leaf.prop_recursive(2, 8, 3, |inner| {
            proptest::collection::btree_map("[a-c]", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        });
        proptest::collection::btree_map("[a-f]", value, 0..5).prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #[test]
        fn last_writer_wins_per_key(chain in proptest::collection::vec(config_strategy(), 0..5)) {
            let view = merge_view(&chain);
            // Every key of the view comes from the deepest config that has it.
            for (key, value) in &view {
                let deepest = chain.iter().rev().find_map(|c| c.get(key)).unwrap();
                prop_assert_eq!(value, deepest);
            }
            // And every key of any config is in the view.
            for config in &chain {
                for key in config.keys() {
                    prop_assert!(view.contains_key(key));
                }
            }
        }

        #[test]
        fn merging_is_incremental(chain in proptest::collection::vec(config_strategy(), 1..5)) {
            // The view of a child is its parent's view updated by the child:
            // what the materializer relies on to compute a subtree top-down.
            let (last, init) = chain.split_last().unwrap();
            let mut parent_view = merge_view(init);
            merge_into(&mut parent_view, last);
            prop_assert_eq!(parent_view, merge_view(&chain));
        }

        #[test]
        fn an_empty_config_changes_nothing(chain in proptest::collection::vec(config_strategy(), 0..4)) {
            let empty = Config::new();
            let with_empty: Vec<&Config> = chain.iter().chain(std::iter::once(&empty)).collect();
            prop_assert_eq!(merge_view(with_empty), merge_view(&chain));
        }
    }

    /// A reference deep merge, written independently of the one above.
    fn reference_deep(chain: &[Config]) -> Value {
        fn merge(base: Value, over: &Value) -> Value {
            match (base, over) {
                (Value::Object(mut b), Value::Object(o)) => {
                    for (k, v) in o {
                        let merged = match b.remove(k) {
                            Some(old) => merge(old, v),
                            None => v.clone(),
                        };
                        b.insert(k.clone(), merged);
                    }
                    Value::Object(b)
                }
                (_, over) => over.clone(),
            }
        }
        chain.iter().fold(Value::Object(Config::new()), |acc, c| {
            merge(acc, &Value::Object(c.clone()))
        })
    }

    #[test]
    fn deep_mode_merges_objects_and_replaces_the_rest() {
        let root = obj(
            json!({"db": {"host": "db1", "pool": {"size": 5, "idle": 2}}, "tags": [1, 2], "x": {"y": 1}}),
        );
        let prod = obj(json!({"db": {"pool": {"size": 20}}, "tags": [3], "x": null}));
        assert_eq!(
            Value::Object(MergeMode::Deep.merge_view([&root, &prod])),
            json!({"db": {"host": "db1", "pool": {"size": 20, "idle": 2}}, "tags": [3], "x": null})
        );
        assert_eq!("deep".parse::<MergeMode>(), Ok(MergeMode::Deep));
        assert!("Deep".parse::<MergeMode>().is_err());
    }

    #[test]
    fn hidden_keys_name_every_inherited_leaf_a_view_lost() {
        let inherited = obj(json!({"db": {"host": "h", "pool": {"size": 5}}, "a": 1, "e": {}}));
        let view = obj(json!({"db": {"pool": 7}, "a": 2}));
        let dotted: Vec<String> = hidden_keys(&inherited, &view)
            .iter()
            .map(|p| p.join("."))
            .collect();
        assert_eq!(dotted, ["db.host", "db.pool.size", "e"]);
        assert!(hidden_keys(&inherited, &inherited).is_empty());
    }

    proptest! {
        #[test]
        fn deep_mode_equals_the_reference(chain in proptest::collection::vec(config_strategy(), 0..5)) {
            let view = MergeMode::Deep.merge_view(&chain);
            prop_assert_eq!(Value::Object(view), reference_deep(&chain));
        }

        #[test]
        fn deep_merging_is_incremental(chain in proptest::collection::vec(config_strategy(), 1..5)) {
            let (last, init) = chain.split_last().unwrap();
            let mut parent_view = MergeMode::Deep.merge_view(init);
            MergeMode::Deep.merge_into(&mut parent_view, last);
            prop_assert_eq!(parent_view, MergeMode::Deep.merge_view(&chain));
        }

        #[test]
        fn a_deep_view_hides_nothing_but_replaced_non_objects(chain in proptest::collection::vec(config_strategy(), 1..4)) {
            // Under deep merge a leaf of the inherited view is lost only
            // where the child put a non-object over an object.
            let (last, init) = chain.split_last().unwrap();
            let inherited = MergeMode::Deep.merge_view(init);
            let view = MergeMode::Deep.merge_view(&chain);
            for path in hidden_keys(&inherited, &view) {
                prop_assert!(last.contains_key(&path[0]), "{path:?} hidden without the child touching it");
            }
        }
    }
}
