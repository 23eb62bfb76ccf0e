//! [`JonesClientBuilder`]: every setting of a live client, and start-up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::client::{Inner, JonesClient};
use crate::driver::Driver;
use crate::session::{DEFAULT_SESSION_TIMEOUT, Session};
use crate::status::{DataHealth, Part};
use crate::store::Store;
use crate::{Config, Error, ServiceLayout, ServiceName, Snapshot, validate_association};

/// Default bound on waiting for the first config.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the ZooKeeper session comes from.
enum Zk {
    ConnectString(String),
    Client(zookeeper_client::Client),
}

/// Settings of a [`JonesClient`]; from [`JonesClient::builder`].
///
/// ```no_run
/// # async fn demo() -> Result<(), jones_client::Error> {
/// use std::time::Duration;
/// let client = jones_client::JonesClient::builder("web")
///     .zk("zk1:2181,zk2:2181,zk3:2181/jones")
///     .association("web-07")
///     .session_timeout(Duration::from_secs(6))
///     .start_timeout(Duration::from_secs(3))
///     .cache_file("/var/cache/web/jones.json")
///     .build()
///     .await?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct JonesClientBuilder {
    service: String,
    zk: Option<Zk>,
    association: Option<String>,
    session_timeout: Duration,
    start_timeout: Duration,
    cache_file: Option<PathBuf>,
}

impl std::fmt::Debug for JonesClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JonesClientBuilder")
            .field("service", &self.service)
            .field("association", &self.association)
            .field("session_timeout", &self.session_timeout)
            .field("start_timeout", &self.start_timeout)
            .field("cache_file", &self.cache_file)
            .finish_non_exhaustive()
    }
}

impl JonesClientBuilder {
    pub(crate) fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            zk: None,
            association: None,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            start_timeout: DEFAULT_START_TIMEOUT,
            cache_file: None,
        }
    }

    /// The ZooKeeper connect string: `host:port[,host:port...]`, optionally
    /// followed by a chroot (`/jones`) under which `/services` lives.
    pub fn zk(mut self, connect_string: &str) -> Self {
        self.zk = Some(Zk::ConnectString(connect_string.to_owned()));
        self
    }

    /// Uses an existing ZooKeeper client (and its chroot). Its session
    /// cannot be rebuilt after expiry; with [`Self::zk`] it is.
    pub fn zk_client(mut self, client: zookeeper_client::Client) -> Self {
        self.zk = Some(Zk::Client(client));
        self
    }

    /// The association (usually a host name) whose view to read. Default:
    /// this host's fully qualified name (see [`crate::fqdn`]), as original
    /// Jones clients.
    pub fn association(mut self, name: &str) -> Self {
        self.association = Some(name.to_owned());
        self
    }

    /// The ZooKeeper session timeout to ask for (the server bounds it).
    /// Default 10 s.
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    /// How long [`Self::build`] waits for the first config. Default 10 s.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// Keeps the last good config in `path` (written atomically after each
    /// change) and serves it at start when ZooKeeper cannot be reached
    /// within the start timeout. Off by default.
    pub fn cache_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_file = Some(path.into());
        self
    }

    /// Connects and returns once the first config is loaded; or, when
    /// ZooKeeper cannot be reached within the start timeout and a cache
    /// file is set and readable, serves the cached config (status: stale)
    /// and keeps connecting in the background.
    ///
    /// # Errors
    /// [`Error::ServiceNotFound`], [`Error::ViewNotFound`],
    /// [`Error::InvalidNodemap`] / [`Error::InvalidConfig`] for unreadable
    /// data, [`Error::Unavailable`] when no session could be established,
    /// [`Error::StartTimeout`] when the config did not arrive in time,
    /// [`Error::InvalidName`] / [`Error::InvalidSettings`] for bad settings.
    pub async fn build(self) -> Result<JonesClient, Error> {
        let service = ServiceName::new(&self.service)?;
        let association = self.association.unwrap_or_else(crate::host::fqdn);
        validate_association(&association)?;
        let session = match self.zk {
            Some(Zk::ConnectString(s)) if s.trim().is_empty() => {
                return Err(Error::InvalidSettings(
                    "the ZooKeeper connect string is empty".into(),
                ));
            }
            Some(Zk::ConnectString(s)) => Session::connect(&s, self.session_timeout),
            Some(Zk::Client(c)) => Session::from_client(c),
            None => {
                return Err(Error::InvalidSettings(
                    "no ZooKeeper given: call .zk(connect_string) or .zk_client(client)".into(),
                ));
            }
        };
        let description = session.description().to_owned();
        let store = Store::new(Snapshot::detached(Config::new()));
        let health = Arc::new(DataHealth::default());
        let (started_tx, started) = oneshot::channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let session_state = session.subscribe();
        let driver = Driver {
            session,
            layout: ServiceLayout::new(service),
            association,
            store: store.clone(),
            health: health.clone(),
            cache_file: self.cache_file.clone(),
            started: Some(started_tx),
            shutdown: shutdown_rx,
        };
        let client = JonesClient {
            inner: Arc::new(Inner {
                store,
                health,
                session: Some(session_state.clone()),
                shutdown,
                driver: std::sync::Mutex::new(Some(tokio::spawn(driver.run()))),
            }),
        };
        let outcome = tokio::time::timeout(self.start_timeout, started).await;
        let error = match outcome {
            Ok(Ok(Ok(()))) => return Ok(client),
            Ok(Ok(Err(e))) => e,
            Ok(Err(_)) => Error::Closed,
            Err(_) => {
                let s = session_state.borrow().clone();
                let last = s
                    .last_error
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default();
                if s.generation == 0 || !s.connected {
                    Error::Unavailable {
                        connect_string: description,
                        reason: format!("no session within {:?}{last}", self.start_timeout),
                    }
                } else {
                    Error::StartTimeout {
                        waited: self.start_timeout,
                        reason: "connected, but the nodemap and view were not read in time".into(),
                    }
                }
            }
        };
        if let (Error::Unavailable { .. }, Some(path)) = (&error, &self.cache_file) {
            match crate::cache::read(path) {
                Ok(snapshot) => {
                    tracing::warn!(%error, cache = %path.display(), "serving the cached config");
                    client.inner.health.problem(
                        Part::View,
                        format!("serving the cached config from {}: {error}", path.display()),
                    );
                    client.inner.store.publish(snapshot);
                    return Ok(client);
                }
                Err(e) => tracing::warn!(error = %e, "no usable fallback cache"),
            }
        }
        client.close().await;
        Err(error)
    }
}
