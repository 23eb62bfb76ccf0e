//! Associations: which environment's view a host (or any name) reads.

use jones_client::{Config, EnvPath, ServiceLayout, ServiceName, validate_association};
use serde::Serialize;
use zookeeper_client::Stat;

use super::Admin;
use crate::nodemap::StoredNodemap;
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

/// How a nodemap write went.
enum Commit {
    Done,
    /// Someone wrote meanwhile: read again.
    Retry,
    /// The connection dropped: it may or may not have been applied.
    Unknown,
}

impl Admin {
    pub(super) async fn read_nodemap(
        &self,
        layout: &ServiceLayout,
    ) -> Result<(StoredNodemap, Stat)> {
        let Some((data, stat)) = self.zk.get(layout.nodemap_path()).await? else {
            return Err(not_found(&self.zk, layout, &EnvPath::root()).await);
        };
        Ok((
            StoredNodemap::parse(layout, &data, self.nodemap_format)?,
            stat,
        ))
    }

    /// Commits a nodemap write; a failure that retrying cannot fix is the error.
    async fn commit_nodemap(&self, layout: &ServiceLayout, ops: &[Op]) -> Result<Commit> {
        match self.writer(layout).commit(ops).await {
            Ok(_) => Ok(Commit::Done),
            Err(e) => match classify(ops, e) {
                Next::Fail(e) => Err(e),
                Next::Retry => Ok(Commit::Retry),
                Next::Unknown => Ok(Commit::Unknown),
            },
        }
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
        validate_association(name)?;
        let layout = ServiceLayout::new(service.clone());
        let _turn = self.queue(service).await?;
        for attempt in 1..=self.limits.max_attempts {
            self.back_off(attempt).await;
            let ((mut stored, stat), conf) = futures_util::future::try_join(
                self.read_nodemap(&layout),
                self.zk.get(&layout.conf_path(env)),
            )
            .await?;
            let Some((_, conf_stat)) = conf else {
                return Err(not_found(&self.zk, &layout, env).await);
            };
            let view_path = layout.view_path(env);
            if stored.map.get(name) == Some(view_path.as_str()) {
                // Already so (perhaps by our own write whose answer was lost):
                // nothing to write, and clients see no needless event.
                return Ok(());
            }
            stored.map.insert(name, view_path)?;
            // The check keeps the environment from vanishing meanwhile.
            let ops = [
                Op::Check {
                    path: layout.conf_path(env),
                    version: conf_stat.version,
                },
                Op::Set {
                    path: layout.nodemap_path().to_owned(),
                    data: stored.encode()?,
                    version: Some(stat.version),
                },
            ];
            self.writer(&layout)
                .fits(&ops, || format!("the nodemap with association {name:?}"))?;
            // Retried after an unknown outcome too: setting it again is harmless.
            if let Commit::Done = self.commit_nodemap(&layout, &ops).await? {
                return Ok(());
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
        // Set when a removal may have been applied without our hearing it:
        // then a name found missing is that removal, not a mistake.
        let mut maybe_removed = false;
        let _turn = self.queue(service).await?;
        for attempt in 1..=self.limits.max_attempts {
            self.back_off(attempt).await;
            let (mut stored, stat) = self.read_nodemap(&layout).await?;
            if stored.map.remove(name).is_none() {
                if maybe_removed {
                    return Ok(());
                }
                return Err(Error::AssociationNotFound {
                    service: service.clone(),
                    name: name.to_owned(),
                });
            }
            let ops = [Op::Set {
                path: layout.nodemap_path().to_owned(),
                data: stored.encode()?,
                version: Some(stat.version),
            }];
            match self.commit_nodemap(&layout, &ops).await? {
                Commit::Done => return Ok(()),
                Commit::Retry => {}
                Commit::Unknown => maybe_removed = true,
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
