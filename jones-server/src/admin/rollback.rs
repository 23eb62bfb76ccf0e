//! Rollback: an environment's config made what it was right after a
//! history entry, as a new change with its own entry, version-checked like
//! any write.

use jones_client::{Config, EnvPath, ServiceLayout, ServiceName};

use super::{Admin, EnvDetails};
use crate::history::{self, Action, Entry};
use crate::writer::{ConfChange, WriteOutcome};
use crate::{Error, Result};

/// What a rollback did.
#[derive(Debug, Clone, PartialEq)]
pub struct RolledBack {
    /// The environment whose config was restored.
    pub env: EnvPath,
    /// The config it has now.
    pub config: Config,
    /// The write.
    pub outcome: WriteOutcome,
}

impl Admin {
    /// Makes the config of the environment entry `to` changed what it was
    /// right after that entry, as a new change recorded as a
    /// `config.rollback` to `to`. With `expected`, only if the environment
    /// is still at that version (else [`Error::Conflict`]); without, only
    /// if nothing changed it while the config was looked up.
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// let svc = jones_client::ServiceName::new("web").unwrap();
    /// let page = admin.history(&svc, None, 2, None).await?;
    /// let previous = &page.entries[1];
    /// let done = admin.rollback(&svc, previous.id, None).await?;
    /// println!("{} is back at {:?}", done.env, done.config);
    /// # Ok(()) }
    /// ```
    pub async fn rollback(
        &self,
        service: &ServiceName,
        to: u64,
        expected: Option<i64>,
    ) -> Result<RolledBack> {
        let (env, config, current) = self.restorable(service, to).await?;
        let expected = expected.unwrap_or(current.version);
        super::check_writable(service, Some(&env))?;
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let change = ConfChange {
            config: config.clone(),
            expected: Some(expected),
            rollback_to: Some(to),
        };
        let result = self.writer(&layout).set_conf(&env, change).await;
        self.record(&result);
        self.after(service, &result).await;
        Ok(RolledBack {
            env,
            config,
            outcome: result?,
        })
    }

    /// The environment entry `id` changed and the config it had right after
    /// it: what [`Admin::rollback`] to `id` would set.
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// let svc = jones_client::ServiceName::new("web").unwrap();
    /// let (env, config) = admin.config_at(&svc, 42).await?;
    /// println!("rolling back to 42 sets {env} to {config:?}");
    /// # Ok(()) }
    /// ```
    pub async fn config_at(&self, service: &ServiceName, id: u64) -> Result<(EnvPath, Config)> {
        let (env, config, _) = self.restorable(service, id).await?;
        Ok((env, config))
    }

    /// The environment entry `to` changed, the config it had right after,
    /// and how it is stored now.
    async fn restorable(
        &self,
        service: &ServiceName,
        to: u64,
    ) -> Result<(EnvPath, Config, EnvDetails)> {
        let entry = self.history_entry(service, to).await?;
        let unrestorable = |reason: String| Error::Unrestorable { id: to, reason };
        if !entry.action.changes_config() || entry.action == Action::EnvDelete {
            return Err(unrestorable(format!(
                "it records {}, not a config: rollback restores the config an entry set",
                serde_json::to_value(entry.action).expect("an action serializes")
            )));
        }
        let env = EnvPath::new(entry.env.as_deref().unwrap_or_default())?;
        // The stored config first, then the entries: a change between the
        // two reads shows up as an entry.
        let current = self.get_env(service, &env).await?;
        let entries = self.all_entries(service).await?;
        let config = config_after_in(&entries, &env, to, Some(&current.config))?
            .ok_or_else(|| unrestorable(format!("environment {:?} did not exist", env.as_str())))?;
        Ok((env, config, current))
    }
}

/// [`history::config_after`] for `env` among `entries` (a service's, oldest
/// first): its own config changes count, and deletes of an ancestor, which
/// deleted it too. [`Error::Unrestorable`] when the history cannot tell.
pub(super) fn config_after_in(
    entries: &[Entry],
    env: &EnvPath,
    id: u64,
    current: Option<&Config>,
) -> Result<Option<Config>> {
    let concerns = |e: &&Entry| {
        let Some(changed) = e.env.as_deref().and_then(|e| EnvPath::new(e).ok()) else {
            return false;
        };
        e.action.changes_config()
            && (changed == *env || e.action == Action::EnvDelete && env.is_within(&changed))
    };
    let entries: Vec<Entry> = entries.iter().filter(concerns).cloned().collect();
    history::config_after(&entries, id, current)
        .map_err(|reason| Error::Unrestorable { id, reason })
}
