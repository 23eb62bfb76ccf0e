//! Previews: what a config change would do to the views, computed from
//! the stored tree without writing, above all which inherited keys it would
//! hide (a shallow override of `db` drops the `db.host` the root gave).

use jones_client::{Config, EnvPath, ServiceLayout, ServiceName, hidden_keys, value_at};
use serde::Serialize;

use super::Admin;
use crate::Result;
use crate::materialize::changed_views;
use crate::tree::{parse_stored, read_tree};

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

impl Admin {
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
                // The deepest environment of the lineage that sets it; only
                // keys set above the changed environment are inherited.
                let from = write
                    .env
                    .lineage()
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .find(|e| {
                        let conf = read.subtree.get(e).or_else(|| {
                            read.ancestors.iter().find(|(a, _)| a == e).map(|(_, n)| n)
                        });
                        conf.is_some_and(|n| value_at(&n.config, &path).is_some())
                    });
                if let Some(from) = from.filter(|f| !f.is_within(env)) {
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
