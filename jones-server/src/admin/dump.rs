//! A dump of a service's whole tree, like original Jones' export.
//!
//! Left out: the association index (`associations`, derived from the
//! nodemap like views from confs, but unlike views never read by original
//! clients) and the client registry (`clients`, ephemeral znodes of live
//! clients), the history (`history`, the record of changes, which a
//! restore records anew as it writes), the pins (`pins`, which refer to
//! that history) and the schema (`schema`, governance rather than config,
//! set through its own route). So a dump holds what original Jones' trees hold, and a
//! tree restored from it gets its index and its history from the server
//! that writes it.

use futures_util::future::join_all;
use jones_client::{ServiceLayout, ServiceName};
use serde::Serialize;

use super::Admin;
use crate::{Error, Result};

/// Every znode of a service with its data.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Dump {
    /// The service.
    pub service: String,
    /// Its znodes, sorted by path.
    pub nodes: Vec<DumpNode>,
}

/// One znode.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DumpNode {
    /// The znode's path.
    pub path: String,
    /// Its data as text (invalid UTF-8 replaced).
    pub data: String,
    /// Its data version.
    pub version: i32,
}

impl Admin {
    /// Every znode under `/services/{service}` with its data, but the
    /// association index, the client registry, the history, the pins and
    /// the schema (see the module doc).
    pub async fn dump(&self, service: &ServiceName) -> Result<Dump> {
        let layout = ServiceLayout::new(service.clone());
        let (history, pins, schema) = (
            crate::history::history_path(&layout),
            crate::pins::pins_path(&layout),
            crate::schema::schema_path(&layout),
        );
        let left_out = [
            layout.associations_path(),
            layout.clients_path(),
            &history,
            &pins,
            &schema,
        ];
        let mut nodes = Vec::new();
        let mut level = vec![layout.service_path().to_owned()];
        while !level.is_empty() {
            let reads = join_all(level.iter().map(|p| async move {
                futures_util::future::try_join(self.zk.get(p), self.zk.children(p)).await
            }))
            .await;
            let mut next = Vec::new();
            for (path, read) in level.into_iter().zip(reads) {
                let (Some((data, stat)), Some(children)) = read? else {
                    continue;
                };
                next.extend(
                    children
                        .iter()
                        .map(|c| format!("{path}/{c}"))
                        .filter(|p| !left_out.contains(&p.as_str())),
                );
                nodes.push(DumpNode {
                    path,
                    data: String::from_utf8_lossy(&data).into_owned(),
                    version: stat.version,
                });
            }
            level = next;
        }
        if nodes.is_empty() {
            return Err(Error::ServiceNotFound(service.clone()));
        }
        nodes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Dump {
            service: service.to_string(),
            nodes,
        })
    }
}
