//! Associations: which environment's view a host (or any name) reads.

use jones_client::{Config, EnvPath, Nodemap, ServiceLayout, ServiceName, validate_association};
use serde::Serialize;
use zookeeper_client::Stat;

use super::Admin;
use crate::tree::{not_found, parse_stored};
use crate::writer::{Next, classify};
use crate::zk::Op;
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
    async fn read_nodemap(&self, layout: &ServiceLayout) -> Result<(Nodemap, Stat)> {
        let Some((data, stat)) = self.zk.get(layout.nodemap_path()).await? else {
            return Err(not_found(&self.zk, layout, &EnvPath::root()).await);
        };
        let map = Nodemap::parse(&data).map_err(|e| Error::Corrupt {
            path: layout.nodemap_path().to_owned(),
            reason: e.to_string(),
        })?;
        Ok((map, stat))
    }

    /// Every association of `service`, sorted by name.
    pub async fn associations(&self, service: &ServiceName) -> Result<Vec<Association>> {
        let layout = ServiceLayout::new(service.clone());
        let (map, _) = self.read_nodemap(&layout).await?;
        Ok(map
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
        validate_association(name)?;
        let layout = ServiceLayout::new(service.clone());
        for _ in 0..self.limits.max_attempts {
            let ((mut map, stat), conf) = futures_util::future::try_join(
                self.read_nodemap(&layout),
                self.zk.get(&layout.conf_path(env)),
            )
            .await?;
            let Some((_, conf_stat)) = conf else {
                return Err(not_found(&self.zk, &layout, env).await);
            };
            map.insert(name, layout.view_path(env))?;
            // The check keeps the environment from vanishing meanwhile.
            let ops = [
                Op::Check {
                    path: layout.conf_path(env),
                    version: conf_stat.version,
                },
                Op::Set {
                    path: layout.nodemap_path().to_owned(),
                    data: map.to_bytes(),
                    version: Some(stat.version),
                },
            ];
            match self.zk.multi(&ops).await {
                Ok(()) => return Ok(()),
                Err(e) => match classify(&ops, e) {
                    Next::Fail(e) => return Err(e),
                    Next::Retry | Next::Unknown => {}
                },
            }
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
    }

    /// Removes association `name`.
    pub async fn delete_association(&self, service: &ServiceName, name: &str) -> Result<()> {
        validate_association(name)?;
        let layout = ServiceLayout::new(service.clone());
        for _ in 0..self.limits.max_attempts {
            let (mut map, stat) = self.read_nodemap(&layout).await?;
            if map.remove(name).is_none() {
                return Err(Error::AssociationNotFound {
                    service: service.clone(),
                    name: name.to_owned(),
                });
            }
            let ops = [Op::Set {
                path: layout.nodemap_path().to_owned(),
                data: map.to_bytes(),
                version: Some(stat.version),
            }];
            match self.zk.multi(&ops).await {
                Ok(()) => return Ok(()),
                Err(e) => match classify(&ops, e) {
                    Next::Fail(e) => return Err(e),
                    Next::Retry | Next::Unknown => {}
                },
            }
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
    }

    /// The config a client with association `name` reads: its
    /// environment's view, or the root view when it has none.
    pub async fn resolve(&self, service: &ServiceName, name: &str) -> Result<Resolved> {
        validate_association(name)?;
        let layout = ServiceLayout::new(service.clone());
        let (map, _) = self.read_nodemap(&layout).await?;
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
