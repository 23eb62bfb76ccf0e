//! Trees from original Jones: which znodes under `/services` anonymous
//! clients can change. Original Jones created its trees with
//! `OPEN_ACL_UNSAFE` (`world:anyone` may do everything), so anyone who can
//! reach ZooKeeper can rewrite a config behind the materializer's back.
//! The server reports them when it starts (a log line per service, a
//! detail of `/healthz`, the gauge `jones_world_writable_znodes`), and
//! `jones-server --secure-existing` gives them the server's own ACL
//! (readable by anyone, writable with the server's digest credential).
//!
//! One directory is open by design: each service's client registry
//! `/services/{svc}/clients`, where anonymous clients create their
//! ephemeral registration znodes. Anyone may read it and create children
//! there, nothing more; the audit accepts exactly that on it (and secures
//! it to exactly that), and leaves the registrations themselves alone:
//! clients create them with an open ACL so that they can rewrite them, and
//! they vanish with their session.

use futures_util::future::join_all;
use jones_client::SERVICES_ROOT;
use serde::Serialize;
use zookeeper_client::{Acl, Permission};

use super::Admin;
use crate::{Error, Result};

/// Znodes under `/services` that anonymous clients may change.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct AclAudit {
    /// Znodes checked (`/services` and everything below it).
    pub checked: usize,
    /// Those anyone may write, create children of, delete or re-ACL.
    pub world_writable: usize,
    /// The same per service, services sorted by name.
    pub services: Vec<ServiceAcls>,
}

/// The world-writable znodes of one service.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ServiceAcls {
    /// The service (`""` for `/services` itself).
    pub service: String,
    /// How many of its znodes anyone may change.
    pub world_writable: usize,
    /// The first few of them.
    pub examples: Vec<String>,
}

/// Znodes whose ACL is read at once.
const ACL_READS_IN_FLIGHT: usize = 256;
/// Paths named per service in a report.
const EXAMPLES: usize = 3;

/// What a znode under `/services` is, for the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Written by servers only.
    Server,
    /// A service's client registry directory.
    Registry,
    /// A client's registration znode (its own, open by design).
    Registration,
}

fn kind(path: &str) -> Kind {
    let rest = path
        .strip_prefix(SERVICES_ROOT)
        .and_then(|r| r.strip_prefix('/'))
        .unwrap_or_default();
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(_), Some("clients"), None) => Kind::Registry,
        (Some(_), Some("clients"), Some(_)) => Kind::Registration,
        _ => Kind::Server,
    }
}

/// Whether `acls` let an anonymous client change the znode at `path`
/// beyond what its kind allows (see the module doc).
fn too_open(path: &str, acls: &[Acl]) -> bool {
    match kind(path) {
        Kind::Server => world_writable(acls),
        Kind::Registry => acls.iter().any(|acl| {
            acl.scheme() == "world"
                && acl.id() == "anyone"
                && [Permission::WRITE, Permission::DELETE, Permission::ADMIN]
                    .iter()
                    .any(|p| acl.permission().has(*p))
        }),
        Kind::Registration => false,
    }
}

/// Whether `acls` let an anonymous client change the znode.
pub(crate) fn world_writable(acls: &[Acl]) -> bool {
    let changes = [
        Permission::WRITE,
        Permission::CREATE,
        Permission::DELETE,
        Permission::ADMIN,
    ];
    acls.iter().any(|acl| {
        acl.scheme() == "world"
            && acl.id() == "anyone"
            && changes.iter().any(|p| acl.permission().has(*p))
    })
}

impl Admin {
    /// Lists the znodes under `/services` that anonymous clients may
    /// change, and keeps the result for `/healthz` and `/metrics`.
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// let audit = admin.audit_acls().await?;
    /// for service in &audit.services {
    ///     println!("{}: {} world-writable znodes", service.service, service.world_writable);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn audit_acls(&self) -> Result<AclAudit> {
        let paths = self.zk.subtree(SERVICES_ROOT).await?;
        let mut audit = AclAudit {
            checked: paths.len(),
            ..AclAudit::default()
        };
        for chunk in paths.chunks(ACL_READS_IN_FLIGHT) {
            let acls = join_all(chunk.iter().map(|p| self.zk.get_acl(p))).await;
            for (path, acl) in chunk.iter().zip(acls) {
                let Some((entries, _)) = acl? else { continue };
                if !too_open(path, &entries) {
                    continue;
                }
                audit.world_writable += 1;
                let service = path
                    .strip_prefix(SERVICES_ROOT)
                    .and_then(|rest| rest.trim_start_matches('/').split('/').next())
                    .unwrap_or_default();
                let entry = match audit.services.iter_mut().find(|s| s.service == service) {
                    Some(entry) => entry,
                    None => {
                        audit.services.push(ServiceAcls {
                            service: service.to_owned(),
                            world_writable: 0,
                            examples: Vec::new(),
                        });
                        audit.services.last_mut().expect("just pushed")
                    }
                };
                entry.world_writable += 1;
                if entry.examples.len() < EXAMPLES {
                    entry.examples.push(path.clone());
                }
            }
        }
        audit.services.sort_by(|a, b| a.service.cmp(&b.service));
        *self.acl_audit.lock().unwrap_or_else(|e| e.into_inner()) = Some(audit.clone());
        Ok(audit)
    }

    /// The last [`Admin::audit_acls`] result, if any.
    pub fn last_acl_audit(&self) -> Option<AclAudit> {
        self.acl_audit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Gives every world-writable znode under `/services` this server's
    /// ACL, each at the ACL version read (an ACL changed meanwhile is read
    /// again, not overwritten blindly), then audits again. Returns how
    /// many znodes were secured. Refused without a digest credential: the
    /// server's ACL would then be open to anyone too.
    pub async fn secure_existing(&self) -> Result<usize> {
        if self.zk.options().digest.is_none() {
            return Err(Error::invalid(
                "securing existing znodes needs the server's digest credential (--digest)",
            ));
        }
        let paths = self.zk.subtree(SERVICES_ROOT).await?;
        let mut secured = 0;
        for chunk in paths.chunks(ACL_READS_IN_FLIGHT) {
            let results = join_all(chunk.iter().map(|p| self.secure_one(p))).await;
            for result in results {
                secured += usize::from(result?);
            }
        }
        self.audit_acls().await?;
        Ok(secured)
    }

    /// Secures `path` if it is world-writable (the registry: beyond
    /// read and create); whether it was changed.
    async fn secure_one(&self, path: &str) -> Result<bool> {
        for _ in 0..self.limits.max_attempts {
            let Some((acl, stat)) = self.zk.get_acl(path).await? else {
                return Ok(false);
            };
            if !too_open(path, &acl) {
                return Ok(false);
            }
            let registry = kind(path) == Kind::Registry;
            match self.zk.set_server_acl(path, registry, stat.aversion).await {
                Ok(()) => return Ok(true),
                Err(zookeeper_client::Error::BadVersion) => continue,
                Err(zookeeper_client::Error::NoNode) => return Ok(false),
                Err(e) => return Err(crate::error::zk_error(path, e)),
            }
        }
        Err(Error::Contended {
            attempts: self.limits.max_attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_may_be_open_for_creates_only() {
        let read_create = [
            Acl::new(
                Permission::READ | Permission::CREATE,
                zookeeper_client::AuthId::anyone(),
            ),
            Acl::new(Permission::ALL, zookeeper_client::AuthId::authed()),
        ];
        let open = [Acl::new(
            Permission::ALL,
            zookeeper_client::AuthId::anyone(),
        )];
        assert!(!too_open("/services/s/clients", &read_create));
        assert!(too_open("/services/s/clients", &open));
        assert!(too_open("/services/s/conf", &read_create));
        assert!(!too_open("/services/s/clients/c0000000001", &open));
        assert!(too_open("/services/s/conf/clients", &open));
    }
}
