//! Associations: which environment's view a host (or any name) reads.

use jones_client::{Config, EnvPath, ServiceLayout, ServiceName};
use serde::Serialize;
use zookeeper_client::Stat;

use super::Admin;
use crate::nodemap::StoredNodemap;
use crate::tree::parse_stored;
use crate::{Error, Result};

/// One association.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Association {
    /// The association (host) name.
    pub name: String,
    /// The environment whose view it reads; `None` when the nodemap points
    /// outside this service's views.
    pub env: Option<String>,
    /// The view path stored in the nodemap.
    pub view_path: String,
}

/// The config a client with a given association reads.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Resolved {
    /// The association name.
    pub name: String,
    /// Whether the name is in the nodemap (else the root view is read).
    pub associated: bool,
    /// The environment whose view is read.
    pub env: Option<String>,
    /// The view's znode.
    pub view_path: String,
    /// The view.
    pub config: Config,
}

impl Admin {
    pub(super) async fn read_nodemap(
        &self,
        layout: &ServiceLayout,
    ) -> Result<(StoredNodemap, Stat)> {
        self.writer(layout).read_nodemap().await
    }

    /// Every association of `service`, sorted by name.
    pub async fn associations(&self, service: &ServiceName) -> Result<Vec<Association>> {
        let layout = ServiceLayout::new(service.clone());
        let (stored, _) = self.read_nodemap(&layout).await?;
        Ok(stored
            .map
            .iter()
            .map(|(name, path)| Association {
                name: name.to_owned(),
                env: layout.env_of_view_path(path).ok().map(|e| e.to_string()),
                view_path: path.to_owned(),
            })
            .collect())
    }

    /// Associates `name` with environment `env` (which must exist),
    /// replacing an earlier association of `name`.
    pub async fn set_association(
        &self,
        service: &ServiceName,
        name: &str,
        env: &EnvPath,
    ) -> Result<()> {
        super::check_writable(service, Some(env))?;
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self.writer(&layout).set_association(name, env).await;
        self.after(service, &result).await;
        result
    }

    /// Removes association `name`, a name written before the rules
    /// (` web-01`) included.
    pub async fn delete_association(&self, service: &ServiceName, name: &str) -> Result<()> {
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        let result = self.writer(&layout).delete_association(name).await;
        self.after(service, &result).await;
        result
    }

    /// The config a client with association `name` reads: its
    /// environment's view, or the root view when it has none. Names
    /// written before the rules (` web-01`) are looked up as they are.
    pub async fn resolve(&self, service: &ServiceName, name: &str) -> Result<Resolved> {
        jones_client::NameKind::Association.check_readable(name)?;
        let layout = ServiceLayout::new(service.clone());
        let (StoredNodemap { map, .. }, _) = self.read_nodemap(&layout).await?;
        let view_path = map.resolve(name, &layout).to_owned();
        let Some((data, _)) = self.zk.get(&view_path).await? else {
            return Err(Error::Corrupt {
                path: view_path,
                reason: format!("association {name:?} points to a missing view"),
            });
        };
        Ok(Resolved {
            name: name.to_owned(),
            associated: map.get(name).is_some(),
            env: layout
                .env_of_view_path(&view_path)
                .ok()
                .map(|e| e.to_string()),
            config: parse_stored(&view_path, &data)?,
            view_path,
        })
    }
}
