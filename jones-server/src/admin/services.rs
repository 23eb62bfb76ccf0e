//! Services: list, create, delete, exists, merge mode.

use jones_client::{MergeMode, SERVICES_ROOT, ServiceLayout, ServiceName};

use super::Admin;
use crate::writer::WriteOutcome;
use crate::{Error, Result};

impl Admin {
    /// Every service, sorted. Names that are not valid service names are
    /// skipped.
    pub async fn list_services(&self) -> Result<Vec<ServiceName>> {
        let children = self.zk.children(SERVICES_ROOT).await?.unwrap_or_default();
        Ok(children
            .iter()
            .filter_map(|c| ServiceName::new(c).ok())
            .collect())
    }

    /// Whether `service` exists (has a root conf).
    pub async fn service_exists(&self, service: &ServiceName) -> Result<bool> {
        let layout = ServiceLayout::new(service.clone());
        Ok(self.zk.get(layout.conf_root()).await?.is_some())
    }

    /// Creates `service`: root conf `{}`, root view `{}`, empty nodemap, in
    /// one transaction (and `/services` with the protective ACL, once).
    /// Views merge shallowly, as in original Jones.
    pub async fn create_service(&self, service: &ServiceName) -> Result<()> {
        self.create_service_with_merge(service, MergeMode::Shallow)
            .await
    }

    /// [`Admin::create_service`] with the given merge mode, in the same
    /// transaction.
    pub async fn create_service_with_merge(
        &self,
        service: &ServiceName,
        merge: MergeMode,
    ) -> Result<()> {
        if let Some(reason) = service.rule_problem() {
            return Err(Error::InvalidName(jones_client::Error::InvalidName {
                kind: jones_client::NameKind::Service,
                name: service.to_string(),
                reason,
            }));
        }
        let layout = ServiceLayout::new(service.clone());
        self.writer(&layout).create_service(merge).await
    }

    /// The merge mode of `service` (see [`MergeMode`]).
    pub async fn merge_mode(&self, service: &ServiceName) -> Result<MergeMode> {
        let layout = ServiceLayout::new(service.clone());
        match crate::tree::read_service(&self.zk, &layout).await? {
            Some(node) => Ok(node.merge),
            None => Err(Error::ServiceNotFound(service.clone())),
        }
    }

    /// Sets the merge mode of `service` and rewrites every view that
    /// changes with it, atomically as a conf change is written.
    pub async fn set_merge_mode(
        &self,
        service: &ServiceName,
        mode: MergeMode,
    ) -> Result<WriteOutcome> {
        super::check_writable(service, None)?;
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self.writer(&layout).set_merge_mode(mode).await;
        self.record(&result);
        result
    }

    /// Deletes `service` and its whole tree. A tree over one transaction's
    /// budget is deleted in batches behind a delete marker, so a server that
    /// dies midway leaves a delete that the next server finishes.
    pub async fn delete_service(&self, service: &ServiceName) -> Result<()> {
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self.writer(&layout).delete_service().await;
        if result.is_ok() {
            self.after_jones_change().await;
        }
        result
    }
}
