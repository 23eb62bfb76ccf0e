//! Where a service's data lives in ZooKeeper: the original Jones layout.
//!
//! ```text
//! /services/{svc}/conf[/{env}]     an environment's own config
//! /services/{svc}/views[/{env}]    its materialized, inherited view
//! /services/{svc}/nodemaps         association -> view path
//! ```
//!
//! and our extensions, which original clients never read:
//!
//! ```text
//! /services/{svc}/associations[/{name}]   the association index (see `association_index`)
//! /services/{svc}/clients/{id}            live clients (see `registry`)
//! ```
//!
//! Paths are relative to the session's chroot, if any.

use crate::{EnvPath, Error, ServiceName};

/// The parent of every service.
pub const SERVICES_ROOT: &str = "/services";

/// The znode paths of one service.
///
/// ```
/// use jones_client::{EnvPath, ServiceLayout, ServiceName};
/// let layout = ServiceLayout::new(ServiceName::new("test").unwrap());
/// let env = EnvPath::new("child1/sib").unwrap();
/// assert_eq!(layout.conf_path(&env), "/services/test/conf/child1/sib");
/// assert_eq!(layout.view_path(&EnvPath::root()), "/services/test/views");
/// assert_eq!(layout.nodemap_path(), "/services/test/nodemaps");
/// assert_eq!(layout.association_path("a/b"), "/services/test/associations/a%2Fb");
/// assert_eq!(layout.clients_path(), "/services/test/clients");
/// assert_eq!(layout.env_of_view_path("/services/test/views/child1/sib").unwrap(), env);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLayout {
    service: ServiceName,
    root: String,
    conf: String,
    views: String,
    nodemap: String,
    associations: String,
    clients: String,
}

impl ServiceLayout {
    /// The layout of `service`.
    pub fn new(service: ServiceName) -> Self {
        let root = format!("{SERVICES_ROOT}/{service}");
        Self {
            conf: format!("{root}/conf"),
            views: format!("{root}/views"),
            nodemap: format!("{root}/nodemaps"),
            associations: format!("{root}/associations"),
            clients: format!("{root}/clients"),
            root,
            service,
        }
    }

    /// The service this layout belongs to.
    pub fn service(&self) -> &ServiceName {
        &self.service
    }

    /// `/services/{svc}`: the whole tree of the service.
    pub fn service_path(&self) -> &str {
        &self.root
    }

    /// `/services/{svc}/conf`: the root environment's config.
    pub fn conf_root(&self) -> &str {
        &self.conf
    }

    /// `/services/{svc}/views`: the root environment's view.
    pub fn views_root(&self) -> &str {
        &self.views
    }

    /// `/services/{svc}/nodemaps`: the associations.
    pub fn nodemap_path(&self) -> &str {
        &self.nodemap
    }

    /// `/services/{svc}/associations`: the association index's directory.
    pub fn associations_path(&self) -> &str {
        &self.associations
    }

    /// The index znode of association `name`.
    pub fn association_path(&self, name: &str) -> String {
        format!(
            "{}/{}",
            self.associations,
            crate::association_znode_name(name)
        )
    }

    /// `/services/{svc}/clients`: the registry of live clients.
    pub fn clients_path(&self) -> &str {
        &self.clients
    }

    /// The znode holding `env`'s own config.
    pub fn conf_path(&self, env: &EnvPath) -> String {
        join(&self.conf, env)
    }

    /// The znode holding `env`'s materialized view.
    pub fn view_path(&self, env: &EnvPath) -> String {
        join(&self.views, env)
    }

    /// The environment whose view lives at `path`; an error when `path` is
    /// not a view of this service.
    pub fn env_of_view_path(&self, path: &str) -> Result<EnvPath, Error> {
        let not_a_view = || Error::NotAViewPath {
            path: path.to_owned(),
            service: self.service.to_string(),
        };
        let rest = path
            .strip_prefix(self.views.as_str())
            .ok_or_else(not_a_view)?;
        if rest.is_empty() {
            return Ok(EnvPath::root());
        }
        match rest.strip_prefix('/') {
            Some(env) if !env.is_empty() => EnvPath::new(env).map_err(|_| not_a_view()),
            _ => Err(not_a_view()),
        }
    }
}

fn join(base: &str, env: &EnvPath) -> String {
    if env.is_root() {
        base.to_owned()
    } else {
        format!("{base}/{env}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn layout() -> ServiceLayout {
        ServiceLayout::new(ServiceName::new("svc").unwrap())
    }

    #[test]
    fn paths_match_original_jones() {
        let l = layout();
        assert_eq!(l.service_path(), "/services/svc");
        assert_eq!(l.conf_path(&EnvPath::root()), "/services/svc/conf");
        assert_eq!(
            l.conf_path(&EnvPath::new("parent").unwrap()),
            "/services/svc/conf/parent"
        );
        assert_eq!(
            l.view_path(&EnvPath::new("a/b").unwrap()),
            "/services/svc/views/a/b"
        );
    }

    #[test]
    fn rejects_paths_outside_the_views() {
        let l = layout();
        for bad in [
            "/services/svc/conf/a",
            "/services/svcx/views",
            "/services/svc/viewsx",
            "/services/svc/views/",
            "/services/svc/views/a//b",
            "/services/other/views/a",
        ] {
            let err = l.env_of_view_path(bad).unwrap_err();
            assert!(matches!(err, Error::NotAViewPath { .. }), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn view_path_round_trips(segs in proptest::collection::vec("[a-z0-9-]{1,8}", 0..5)) {
            let env = EnvPath::new(&segs.join("/")).unwrap();
            let l = layout();
            prop_assert_eq!(l.env_of_view_path(&l.view_path(&env)).unwrap(), env);
        }
    }
}
