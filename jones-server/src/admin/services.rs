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

    /// Deletes `service` and its whole tree, deepest znodes first, in as
    /// few transactions as fit ZooKeeper's request limit.
    pub async fn delete_service(&self, service: &ServiceName) -> Result<()> {
        let layout = ServiceLayout::new(service.clone());
        // Whether an earlier attempt deleted (or may have deleted) part of
        // the tree: then finding nothing left means done, not not-found.
        let mut started = false;
        let _turn = self.queue(service).await?;
        for attempt in 1..=self.limits.max_attempts {
            self.back_off(attempt).await;
            let mut paths = Vec::new();
            let mut level = vec![layout.service_path().to_owned()];
            while !level.is_empty() {
                let lists =
                    futures_util::future::join_all(level.iter().map(|p| self.zk.children(p))).await;
                let mut next = Vec::new();
                for (path, children) in level.into_iter().zip(lists) {
                    let Some(children) = children? else { continue };
                    next.extend(children.iter().map(|c| format!("{path}/{c}")));
                    paths.push(path);
                }
                level = next;
            }
            if paths.is_empty() {
                return if started {
                    Ok(())
                } else {
                    Err(Error::ServiceNotFound(service.clone()))
                };
            }
            // Deepest first: children before their parents.
            paths.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
            let ops: Vec<Op> = paths
                .into_iter()
                .map(|path| Op::Delete {
                    path,
                    version: None,
                })
                .collect();
            let mut failed = false;
            for batch in chunk(&ops, self.limits.multi_bytes) {
                match self.writer(&layout).commit(batch).await {
                    Ok(_) => started = true,
                    Err(e) => {
                        match classify(batch, e) {
                            Next::Fail(e) => return Err(e),
                            Next::Unknown => started = true,
                            Next::Retry => {}
                        }
                        failed = true;
                        break;
                    }
                }
            }
            if !failed {
                return Ok(());
            }
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
    }
}

/// Splits `ops` into consecutive slices of at most `budget` bytes.
fn chunk(ops: &[Op], budget: usize) -> Vec<&[Op]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, op) in ops.iter().enumerate() {
        if i > start && size + op.wire_size() > budget {
            chunks.push(&ops[start..i]);
            start = i;
            size = 0;
        }
        size += op.wire_size();
    }
    if start < ops.len() {
        chunks.push(&ops[start..]);
    }
    chunks
}
