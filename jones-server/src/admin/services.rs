//! Services: list, create, delete, exists.

use jones_client::{SERVICES_ROOT, ServiceLayout, ServiceName};

use super::Admin;
use crate::writer::{Next, classify};
use crate::zk::Op;
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
    pub async fn create_service(&self, service: &ServiceName) -> Result<()> {
        let layout = ServiceLayout::new(service.clone());
        self.zk.ensure(SERVICES_ROOT).await?;
        let ops = [
            Op::Create {
                path: layout.service_path().to_owned(),
                data: Vec::new(),
            },
            Op::Create {
                path: layout.conf_root().to_owned(),
                data: b"{}".to_vec(),
            },
            Op::Create {
                path: layout.views_root().to_owned(),
                data: b"{}".to_vec(),
            },
            Op::Create {
                path: layout.nodemap_path().to_owned(),
                data: self.nodemap_format.empty(),
            },
        ];
        match self.zk.multi(&ops).await {
            Ok(_) => Ok(()),
            Err(e) if e.index == Some(0) && e.source == zookeeper_client::Error::NodeExists => {
                Err(Error::ServiceExists(service.clone()))
            }
            Err(e) => Err(match classify(&ops, e) {
                Next::Fail(e) => e,
                _ => Error::Unavailable(format!(
                    "creating service {service:?} failed; it may or may not exist now"
                )),
            }),
        }
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
