//! Pins: an environment's view frozen as it was right after a history
//! entry, until unpinned (see `crate::pins`).

use jones_client::{Config, EnvPath, ServiceLayout, ServiceName};
use serde::Serialize;

use super::Admin;
use crate::pins::{Pin, Pins};
use crate::tree::{read_chain, read_service};
use crate::writer::WriteOutcome;
use crate::{Error, Result};

/// A pinned environment, as the editor shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PinnedEnv {
    /// The environment.
    pub env: String,
    /// The history entry its view is as of.
    pub to: u64,
    /// Its view: what its clients read.
    pub view: Config,
    /// What its view would be unpinned: the merge of its lineage now.
    pub unpinned: Config,
}

impl Admin {
    /// Pins `env`'s view as it was right after history entry `to` (of any
    /// environment): its view, and through it its children's, stop
    /// following edits above it until [`Admin::unpin`]. The view is the
    /// merge of the confs its lineage had then, in the service's merge mode.
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// let svc = jones_client::ServiceName::new("web").unwrap();
    /// let prod = jones_client::EnvPath::new("prod").unwrap();
    /// admin.pin(&svc, &prod, 42).await?;
    /// // ... edits to the root no longer reach prod ...
    /// admin.unpin(&svc, &prod).await?;
    /// # Ok(()) }
    /// ```
    pub async fn pin(&self, service: &ServiceName, env: &EnvPath, to: u64) -> Result<WriteOutcome> {
        super::check_writable(service, Some(env))?;
        let view = self.view_at(service, env, to).await?;
        self.write_pin(service, env, Some(Pin { to, view })).await
    }

    /// Removes `env`'s pin: its view, and its children's, are the merge of
    /// their lineages again.
    pub async fn unpin(&self, service: &ServiceName, env: &EnvPath) -> Result<WriteOutcome> {
        let layout = ServiceLayout::new(service.clone());
        let pins = read_service(&self.zk, &layout)
            .await?
            .ok_or_else(|| Error::ServiceNotFound(service.clone()))?
            .pins;
        if pins.get(env).is_none() {
            return Err(Error::NotPinned {
                service: service.clone(),
                env: env.clone(),
            });
        }
        self.write_pin(service, env, None).await
    }

    /// The pinned environments of `service`, parents first.
    pub async fn pins(&self, service: &ServiceName) -> Result<Vec<PinnedEnv>> {
        let layout = ServiceLayout::new(service.clone());
        let node = read_service(&self.zk, &layout)
            .await?
            .ok_or_else(|| Error::ServiceNotFound(service.clone()))?;
        let mut shown = Vec::with_capacity(node.pins.pins.len());
        for (env, pin) in &node.pins.pins {
            let chain = read_chain(&self.zk, &layout, env).await?;
            let mut others = node.pins.clone();
            others.pins.remove(env);
            let unpinned =
                others.lineage_view(node.merge, chain.iter().map(|(e, c)| (e, &c.config)));
            shown.push(PinnedEnv {
                env: env.to_string(),
                to: pin.to,
                view: pin.view.clone(),
                unpinned,
            });
        }
        Ok(shown)
    }

    async fn write_pin(
        &self,
        service: &ServiceName,
        env: &EnvPath,
        pin: Option<Pin>,
    ) -> Result<WriteOutcome> {
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self.writer(&layout).set_pin(env, pin).await;
        self.record(&result);
        self.after(service, &result).await;
        result
    }

    /// `env`'s view right after entry `to`: the merge of the confs its
    /// lineage had then.
    async fn view_at(&self, service: &ServiceName, env: &EnvPath, to: u64) -> Result<Config> {
        self.history_entry(service, to).await?;
        let layout = ServiceLayout::new(service.clone());
        // The stored confs first, then the entries (see `config_after`).
        let (chain, node) = futures_util::future::try_join(
            read_chain(&self.zk, &layout, env),
            read_service(&self.zk, &layout),
        )
        .await?;
        let merge = node.map(|n| n.merge).unwrap_or_default();
        let entries = self.all_entries(service).await?;
        let mut confs = Vec::with_capacity(chain.len());
        for (e, now) in &chain {
            let config = super::rollback::config_after_in(&entries, e, to, Some(&now.config))?
                .ok_or_else(|| Error::Unrestorable {
                    id: to,
                    reason: format!("environment {:?} did not exist then", e.as_str()),
                })?;
            confs.push((e.clone(), config));
        }
        Ok(Pins::default().lineage_view(merge, confs.iter().map(|(e, c)| (e, c))))
    }
}
