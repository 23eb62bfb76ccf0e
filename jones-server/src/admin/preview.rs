//! Previews: what a change would do, computed from the stored tree without
//! writing. A config change: the views it rewrites, above all which
//! inherited keys it would hide (a shallow override of `db` drops the
//! `db.host` the root gave). A delete: every environment it removes and
//! every association it drops, with what those hosts read instead.

use jones_client::{Config, EnvPath, ServiceLayout, ServiceName, hidden_keys, value_at};
use serde::Serialize;

use super::Admin;
use crate::Result;
use crate::materialize::changed_views;
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
        let read = read_tree(&self.zk, &layout, env).await?;
        let writes = changed_views(&read, Some(&config));
        let mut hidden = Vec::new();
        for write in &writes {
            let Some(Some(stored)) = read.views.get(&write.env) else {
                continue;
            };
            let before = parse_stored(&layout.view_path(&write.env), &stored.data)?;
            let after = parse_stored(&layout.view_path(&write.env), &write.data)?;
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
        Ok(Preview {
            env: env.to_string(),
            merge: read.service.merge.as_str(),
            views_changed: writes.iter().map(|w| w.env.to_string()).collect(),
            hidden,
        })
    }
}
