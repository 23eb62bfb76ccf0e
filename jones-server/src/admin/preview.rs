//! Previews: what a change would do, computed from the stored tree without
//! writing. A config change: the views it rewrites, each with its per-key
//! diff and the associations that read it, the schema violations that
//! would refuse it, and above all which inherited keys it would hide (a shallow override of `db` drops the
//! `db.host` the root gave). A delete: every environment it removes and
//! every association it drops, with what those hosts read instead.

use jones_client::{Config, EnvPath, ServiceLayout, ServiceName, hidden_keys, value_at};
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::Admin;
use crate::Result;
use crate::materialize::{changed_views, view_data};
use crate::tree::{not_found, parse_stored, read_tree};
use crate::writer::DroppedAssociation;

/// What setting an environment's config would do.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Preview {
    /// The environment whose config would change.
    pub env: String,
    /// The merge mode of the service.
    pub merge: &'static str,
    /// The environments whose views would change, parents first.
    pub views_changed: Vec<String>,
    /// Every inherited key a view would lose.
    pub hidden: Vec<HiddenKey>,
    /// Each view that would change, parents first: its per-key diff and
    /// the associations (hosts) that read it.
    pub views: Vec<ViewChange>,
    /// How far the change reaches.
    pub reach: Reach,
    /// How the changed views would break the service's schema; not empty:
    /// the write would be refused.
    pub violations: Vec<crate::Violation>,
}

/// One view a change would rewrite.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ViewChange {
    /// The environment.
    pub env: String,
    /// Every key whose value would change, through nested objects.
    pub changes: Vec<KeyChange>,
    /// The associations reading this view, sorted; at most 100.
    pub associations: Vec<String>,
    /// How many associations read this view.
    pub association_count: usize,
}

/// The most associations a [`ViewChange`] lists.
const LISTED_ASSOCIATIONS: usize = 100;

/// A key of a view whose value would change.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeyChange {
    /// The key's path as `a.b.c`, for people.
    pub key: String,
    /// The key's path, through nested objects.
    pub path: Vec<String>,
    /// Its value before; absent when the key is new.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<serde_json::Value>,
    /// Its value after; absent when the key goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<serde_json::Value>,
}

/// How far a change reaches.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Reach {
    /// Views that would change.
    pub envs: usize,
    /// Associations reading them (hosts without an association read the
    /// root view and are not counted).
    pub associations: usize,
}

/// A key a view would no longer have although an ancestor above the
/// changed environment still sets it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct HiddenKey {
    /// The environment whose view loses it.
    pub env: String,
    /// The key's path, through nested objects.
    pub path: Vec<String>,
    /// The path as `a.b.c`, for people.
    pub key: String,
    /// The environment whose config sets it.
    pub from: String,
}

/// What deleting an environment (with its descendants), or a whole
/// service, would remove.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeletePreview {
    /// The environment deleted; `""` for the whole service.
    pub env: String,
    /// Every environment removed, parents first.
    pub envs: Vec<String>,
    /// Every association removed, sorted by name.
    pub associations: Vec<DroppedAssociation>,
    /// What hosts whose association is removed read instead: the root view
    /// (`None` when the whole service goes).
    pub fallback: Option<Config>,
}

impl Admin {
    /// What `delete_env(service, env, true)` would remove, or, for the
    /// root, `delete_service(service)`.
    pub async fn preview_delete(
        &self,
        service: &ServiceName,
        env: &EnvPath,
    ) -> Result<DeletePreview> {
        let layout = ServiceLayout::new(service.clone());
        let (tree, associations, root_view) = futures_util::future::try_join3(
            self.env_tree(service),
            self.associations(service),
            self.zk.get(layout.views_root()),
        )
        .await?;
        let mut envs = Vec::new();
        let mut level = vec![&tree];
        while !level.is_empty() {
            let mut next = Vec::new();
            for node in level {
                let path = EnvPath::new(&node.env)?;
                if path.is_within(env) {
                    envs.push(node.env.clone());
                }
                next.extend(&node.children);
            }
            level = next;
        }
        if envs.is_empty() {
            return Err(not_found(&self.zk, &layout, env).await);
        }
        let associations = associations
            .into_iter()
            .filter_map(|a| {
                let within = a
                    .env
                    .as_deref()
                    .and_then(|e| EnvPath::new(e).ok())
                    .is_some_and(|e| e.is_within(env));
                within.then(|| DroppedAssociation {
                    name: a.name,
                    env: a.env.unwrap_or_default(),
                })
            })
            .collect();
        let fallback = match (env.is_root(), root_view) {
            (false, Some((data, _))) => Some(parse_stored(layout.views_root(), &data)?),
            _ => None,
        };
        Ok(DeletePreview {
            env: env.to_string(),
            envs,
            associations,
            fallback,
        })
    }

    /// What `set_env(service, env, config, ..)` would change, without
    /// writing: the views that change and the inherited keys they lose.
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// use jones_client::{EnvPath, ServiceName};
    /// let svc = ServiceName::new("checkout").unwrap();
    /// let config = serde_json::json!({"db": {"pool": 20}}).as_object().unwrap().clone();
    /// let preview = admin.preview_env(&svc, &EnvPath::new("prod").unwrap(), config).await?;
    /// for hidden in &preview.hidden {
    ///     println!("{}'s view no longer has {} (from {:?})", hidden.env, hidden.key, hidden.from);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn preview_env(
        &self,
        service: &ServiceName,
        env: &EnvPath,
        config: Config,
    ) -> Result<Preview> {
        let layout = ServiceLayout::new(service.clone());
        let (read, associations) = futures_util::future::try_join(
            read_tree(&self.zk, &layout, env),
            self.associations(service),
        )
        .await?;
        let writes = changed_views(&read, Some(&config));
        let violations =
            match crate::schema::check_views(&layout, &read.service, view_data(&writes)) {
                Ok(()) => Vec::new(),
                Err(crate::Error::SchemaViolation { violations, .. }) => violations,
                Err(e) => return Err(e),
            };
        let mut readers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for a in &associations {
            if let Some(e) = &a.env {
                readers.entry(e).or_default().push(&a.name);
            }
        }
        let mut hidden = Vec::new();
        let mut views = Vec::with_capacity(writes.len());
        for write in &writes {
            let before = match read.views.get(&write.env) {
                Some(Some(stored)) => parse_stored(&layout.view_path(&write.env), &stored.data)?,
                _ => Config::new(),
            };
            let after = parse_stored(&layout.view_path(&write.env), &write.data)?;
            let names = readers
                .get(write.env.as_str())
                .map_or(&[][..], Vec::as_slice);
            views.push(ViewChange {
                env: write.env.to_string(),
                changes: key_changes(&before, &after),
                associations: names
                    .iter()
                    .take(LISTED_ASSOCIATIONS)
                    .map(|n| (*n).to_owned())
                    .collect(),
                association_count: names.len(),
            });
            for path in hidden_keys(&before, &after) {
                // Hidden when another environment of the lineage still sets
                // it (the deepest one is named): the changed environment's
                // own keys are not inherited, but dropping an own key that
                // an ancestor also sets does not bring the ancestor's back
                // under the shallow merge.
                let from = write
                    .env
                    .lineage()
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .filter(|e| e != env)
                    .find(|e| {
                        let conf = read.subtree.get(e).or_else(|| {
                            read.ancestors.iter().find(|(a, _)| a == e).map(|(_, n)| n)
                        });
                        conf.is_some_and(|n| value_at(&n.config, &path).is_some())
                    });
                if let Some(from) = from {
                    hidden.push(HiddenKey {
                        env: write.env.to_string(),
                        key: path.join("."),
                        path,
                        from: from.to_string(),
                    });
                }
            }
        }
        let reach = Reach {
            envs: views.len(),
            associations: views.iter().map(|v| v.association_count).sum(),
        };
        Ok(Preview {
            env: env.to_string(),
            merge: read.service.merge.as_str(),
            views_changed: writes.iter().map(|w| w.env.to_string()).collect(),
            hidden,
            views,
            reach,
            violations,
        })
    }
}

/// Every key whose value differs between `before` and `after`, through
/// nested objects (an object replaced by a non-object, or the reverse, is
/// one change), in key order.
pub(crate) fn key_changes(before: &Config, after: &Config) -> Vec<KeyChange> {
    fn walk(before: &Config, after: &Config, prefix: &mut Vec<String>, out: &mut Vec<KeyChange>) {
        let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for key in keys {
            prefix.push(key.clone());
            match (before.get(key), after.get(key)) {
                (Some(Value::Object(b)), Some(Value::Object(a))) => walk(b, a, prefix, out),
                (b, a) if b != a => out.push(KeyChange {
                    key: prefix.join("."),
                    path: prefix.clone(),
                    before: b.cloned(),
                    after: a.cloned(),
                }),
                _ => {}
            }
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    walk(before, after, &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_changes_reach_into_nested_objects() {
        let before = json!({"a": 1, "db": {"host": "h", "port": 1}, "gone": true, "same": [1]});
        let after = json!({"a": 2, "db": {"host": "h", "pool": 5}, "new": null, "same": [1]});
        let changes = key_changes(before.as_object().unwrap(), after.as_object().unwrap());
        let shown: Vec<(&str, Option<&Value>, Option<&Value>)> = changes
            .iter()
            .map(|c| (c.key.as_str(), c.before.as_ref(), c.after.as_ref()))
            .collect();
        assert_eq!(
            shown,
            [
                ("a", Some(&json!(1)), Some(&json!(2))),
                ("db.pool", None, Some(&json!(5))),
                ("db.port", Some(&json!(1)), None),
                ("gone", Some(&json!(true)), None),
                ("new", None, Some(&Value::Null)),
            ]
        );
        let flat = key_changes(
            json!({"x": {"y": 1}}).as_object().unwrap(),
            json!({"x": 3}).as_object().unwrap(),
        );
        assert_eq!((flat.len(), flat[0].key.as_str()), (1, "x"));
    }
}
