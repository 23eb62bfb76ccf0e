//! The driver task of a live client: nodemap watcher → view path → view
//! watcher → parsed config → [`Store`].
//!
//! It waits for the nodemap before reading any view (so a host never sees
//! the root view for a moment on its way to its own), re-points when the
//! nodemap moves the host (dropping the old view's watcher, so the old
//! environment's later updates never reach the app), and publishes a
//! config only when its revision is new.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};

use crate::session::Session;
use crate::status::{DataHealth, Part};
use crate::store::Store;
use crate::znode::{Znode, ZnodeWatcher};
use crate::{Error, Nodemap, Revision, ServiceLayout, Snapshot, parse_config};

/// Everything the driver needs; it owns the session and the watchers.
pub(crate) struct Driver {
    pub(crate) session: Session,
    pub(crate) layout: ServiceLayout,
    pub(crate) association: String,
    pub(crate) store: Arc<Store>,
    pub(crate) health: Arc<DataHealth>,
    pub(crate) cache_file: Option<PathBuf>,
    /// Told the outcome of start: the first config, or why there is none.
    pub(crate) started: Option<oneshot::Sender<Result<(), Error>>>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// The view being followed.
struct Followed {
    watcher: ZnodeWatcher,
    changes: watch::Receiver<Znode>,
}

impl Driver {
    pub(crate) async fn run(mut self) {
        let nodemap_watcher = ZnodeWatcher::new(&self.session, self.layout.nodemap_path());
        let mut nodemap = nodemap_watcher.subscribe();
        let mut view: Option<Followed> = None;
        loop {
            let map = nodemap.borrow_and_update().clone();
            let target = self.view_path_of(&map);
            if let Some(target) = target {
                if view.as_ref().map(|v| v.watcher.path()) != Some(target.as_str()) {
                    tracing::info!(view = %target, association = %self.association, "following view");
                    // Replacing drops the old watcher: its task and its
                    // ZooKeeper watch end here.
                    let watcher = ZnodeWatcher::new(&self.session, target);
                    let changes = watcher.subscribe();
                    view = Some(Followed { watcher, changes });
                }
            }
            let view_changed = async {
                match view.as_mut() {
                    Some(v) => v.changes.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = nodemap.changed() => if changed.is_err() { break },
                alive = view_changed => {
                    if !alive { break }
                    let v = view.as_mut().expect("a view is followed");
                    let znode = v.changes.borrow_and_update().clone();
                    let path = v.watcher.path().to_owned();
                    self.on_view(&path, znode).await;
                }
                _ = self.shutdown.changed() => break,
            }
        }
        if let Some(view) = view {
            view.watcher.stop().await;
        }
        nodemap_watcher.stop().await;
        self.session.stop().await;
    }

    /// The view this client should read given the nodemap, or `None` while
    /// it is unknown.
    fn view_path_of(&mut self, nodemap: &Znode) -> Option<String> {
        let root = self.layout.views_root().to_owned();
        match nodemap {
            Znode::Unknown => None,
            Znode::Missing => {
                self.health.clear(Part::Nodemap);
                Some(root)
            }
            Znode::Present { data, .. } => match Nodemap::parse(data) {
                Ok(map) => {
                    self.health.clear(Part::Nodemap);
                    Some(map.resolve(&self.association, &self.layout).to_owned())
                }
                Err(e) => {
                    let message = format!(
                        "{}: {e}; keeping the current view",
                        self.layout.nodemap_path()
                    );
                    tracing::warn!("{message}");
                    self.health.problem(Part::Nodemap, message);
                    self.fail_start(Part::Nodemap, e);
                    None
                }
            },
        }
    }

    async fn on_view(&mut self, path: &str, znode: Znode) {
        match znode {
            Znode::Unknown => {}
            Znode::Missing => {
                if self.started.is_some() {
                    let error = self.missing_view_error(path).await;
                    self.fail_start(Part::View, error);
                } else {
                    let message = format!(
                        "view {path} does not exist (deleted, or the nodemap points to a missing \
                         environment); serving the last config"
                    );
                    tracing::warn!("{message}");
                    self.health.problem(Part::View, message);
                }
            }
            Znode::Present { data, stat } => match parse_config(&data) {
                Ok(config) => {
                    let revision = Revision {
                        mzxid: stat.mzxid,
                        version: stat.version,
                    };
                    let current = self.store.load_full();
                    let is_new = current.from_cache
                        || current.view_path != path
                        || current.revision.is_none_or(|r| r.mzxid < revision.mzxid);
                    self.health.clear(Part::View);
                    if is_new {
                        // A rewrite with the same content (the server moves a
                        // parent's view version when a child is created or
                        // deleted) is a new revision, not a new config.
                        let same_config = !current.from_cache
                            && current.view_path == path
                            && current.config == config;
                        let snapshot = Snapshot {
                            config,
                            revision: Some(revision),
                            view_path: path.to_owned(),
                            from_cache: false,
                        };
                        if same_config {
                            self.store.replace_quietly(snapshot);
                        } else {
                            // The app first, the file after.
                            self.store.publish(snapshot);
                            self.write_cache().await;
                        }
                    }
                    if let Some(started) = self.started.take() {
                        let _ = started.send(Ok(()));
                    }
                }
                Err(e) => {
                    let message = format!(
                        "view {path} (mzxid {}): {e}; keeping the last good config",
                        stat.mzxid
                    );
                    tracing::warn!("{message}");
                    self.health.problem(Part::View, message.clone());
                    self.fail_start(Part::View, Error::InvalidConfig { reason: message });
                }
            },
        }
    }

    /// `ServiceNotFound` when the whole service is missing, else `ViewNotFound`.
    async fn missing_view_error(&self, path: &str) -> Error {
        let service = self.layout.service().to_string();
        if let Some(client) = self.session.client() {
            if let Ok(None) = client.check_stat(self.layout.service_path()).await {
                return Error::ServiceNotFound {
                    service,
                    path: self.layout.service_path().to_owned(),
                };
            }
        }
        Error::ViewNotFound {
            service,
            association: self.association.clone(),
            path: path.to_owned(),
        }
    }

    /// Tells start why there is no config; once start has given up
    /// waiting (a cached config is served), the problem goes to the status.
    fn fail_start(&mut self, part: Part, error: Error) {
        if let Some(started) = self.started.take() {
            if let Err(Err(error)) = started.send(Err(error)) {
                self.health.problem(part, error.to_string());
            }
        }
    }

    /// Writes the current snapshot to the cache file, if there is one.
    async fn write_cache(&self) {
        let Some(path) = self.cache_file.clone() else {
            return;
        };
        let snapshot = self.store.load_full();
        let written =
            tokio::task::spawn_blocking(move || crate::cache::write(&path, &snapshot)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot update the fallback cache"),
            Err(e) => tracing::warn!(error = %e, "cache writer failed"),
        }
    }
}
