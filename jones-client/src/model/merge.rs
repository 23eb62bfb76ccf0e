//! The view merge: how an environment inherits its ancestors' keys.
//!
//! A view is the root's config updated by each config below it down to the
//! environment, like Python's `dict.update`: shallow, so a child's key
//! replaces the parent's whole value, nested objects included. Keys keep
//! the order in which they first appear, as in original Jones' views.

use crate::Config;

/// Merges a chain of configs, root first, into the view of the last one.
///
/// ```
/// use serde_json::json;
/// let root = json!({"foo": "bar", "c": {"x": 0}}).as_object().unwrap().clone();
/// let child = json!({"c": {"y": 1}}).as_object().unwrap().clone();
/// let view = jones_client::merge_view([&root, &child]);
/// assert_eq!(serde_json::Value::Object(view), json!({"foo": "bar", "c": {"y": 1}}));
/// ```
pub fn merge_view<'a>(chain: impl IntoIterator<Item = &'a Config>) -> Config {
    let mut view = Config::new();
    for config in chain {
        merge_into(&mut view, config);
    }
    view
}

/// Updates `view` with `config`'s keys, in place.
pub fn merge_into(view: &mut Config, config: &Config) {
    for (key, value) in config {
        view.insert(key.clone(), value.clone());
    }
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
}
