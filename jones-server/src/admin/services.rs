//! Services: list, create, delete, exists.

use jones_client::{SERVICES_ROOT, ServiceLayout, ServiceName};

use super::Admin;
use crate::Result;

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
    pub async fn create_service(&self, service: &ServiceName) -> Result<()> {
        let layout = ServiceLayout::new(service.clone());
        self.writer(&layout).create_service().await
    }

    /// Deletes `service` and its whole tree. A tree over one transaction's
    /// budget is deleted in batches behind a delete marker, so a server that
    /// dies midway leaves a delete that the next server finishes.
    pub async fn delete_service(&self, service: &ServiceName) -> Result<()> {
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        self.writer(&layout).delete_service().await
    }
}
