//! [`JonesClientBuilder`]: every setting of a live client, and start-up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::client::{Inner, JonesClient};
use crate::driver::{Driver, MissingViewHook, RoundHook};
use crate::registry::Registry;
use crate::session::{DEFAULT_SESSION_TIMEOUT, Session, SessionState};
use crate::stats::Counters;
use crate::status::{Cause, Health, Part};
use crate::store::Store;
use crate::{Config, Error, NameKind, ServiceLayout, ServiceName, Snapshot};

/// Default bound on waiting for the first config.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(10);

/// Default shortest interval between two rewrites of a client's
/// registration znode.
pub const DEFAULT_REPORT_INTERVAL: Duration = Duration::from_secs(1);

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
    register: bool,
    report_interval: Duration,
    /// `(scheme, auth)` pairs for every session; never shown.
    auth: Vec<(String, Vec<u8>)>,
    missing_view_hook: Option<MissingViewHook>,
    round_hook: Option<RoundHook>,
    cache_hook: Option<CacheHook>,
}

/// A test hook called with the started client right before the cache is
/// served, to let the live config arrive first.
type CacheHook = Arc<dyn Fn(&JonesClient) + Send + Sync>;

impl std::fmt::Debug for JonesClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JonesClientBuilder")
            .field("service", &self.service)
            .field("association", &self.association)
            .field("session_timeout", &self.session_timeout)
            .field("start_timeout", &self.start_timeout)
            .field("cache_file", &self.cache_file)
            .field("register", &self.register)
            .field("report_interval", &self.report_interval)
            .field(
                "auth_schemes",
                &self
                    .auth
                    .iter()
                    .map(|(scheme, _)| scheme)
                    .collect::<Vec<_>>(),
            )
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
            register: true,
            report_interval: DEFAULT_REPORT_INTERVAL,
            auth: Vec::new(),
            missing_view_hook: None,
            round_hook: None,
            cache_hook: None,
        }
    }

    /// For tests of the client: `hook` is awaited between a view read that
    /// found no view and the `exists` watch that follows it.
    #[doc(hidden)]
    pub fn hook_after_missing_view<F>(
        mut self,
        hook: impl Fn(String) -> F + Send + Sync + 'static,
    ) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.missing_view_hook = Some(Arc::new(move |path| Box::pin(hook(path))));
        self
    }

    /// For tests of the client: `hook` is awaited before each round of
    /// reads, before the round takes the session's current client.
    #[doc(hidden)]
    pub fn hook_before_round<F>(mut self, hook: impl Fn() -> F + Send + Sync + 'static) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.round_hook = Some(Arc::new(move || Box::pin(hook())));
        self
    }

    /// For tests of the client: `hook` is called with the started client
    /// right before the cache file's config is served.
    #[doc(hidden)]
    pub fn hook_before_cache(
        mut self,
        hook: impl Fn(&JonesClient) + Send + Sync + 'static,
    ) -> Self {
        self.cache_hook = Some(Arc::new(hook));
        self
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

    /// Authenticates every session as the ZooKeeper digest user `user`
    /// (`addauth digest user:password`), to read trees whose views are
    /// readable only by that user. Needs [`Self::zk`]; a supplied client
    /// brings its own authentication. A refused authentication shows in
    /// [`crate::Status::last_error`] and fails [`Self::build`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), jones_client::Error> {
    /// let client = jones_client::JonesClient::builder("billing")
    ///     .zk("zk1:2181")
    ///     .digest("billing-app", &std::env::var("JONES_ZK_PASSWORD").unwrap_or_default())
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn digest(self, user: &str, password: &str) -> Self {
        self.auth("digest", format!("{user}:{password}").as_bytes())
    }

    /// Adds authentication of any ZooKeeper scheme to every session (see
    /// [`Self::digest`] for the common one).
    pub fn auth(mut self, scheme: &str, auth: &[u8]) -> Self {
        self.auth.push((scheme.to_owned(), auth.to_vec()));
        self
    }

    /// The association (usually a host name) whose view to read. Default:
    /// this host's fully qualified name (see [`crate::fqdn`]), as original
    /// Jones clients. Checked at start at the read level
    /// ([`NameKind::check_readable`]): a name a tree written before the
    /// name rules holds is followed too.
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
    /// within the start timeout (or, with [`Self::start`], until the live
    /// config is read). A cache is never served over a live config read
    /// first, and a file that holds no view of this service is ignored.
    /// Off by default.
    pub fn cache_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cache_file = Some(path.into());
        self
    }

    /// Whether the client registers in the service's client registry
    /// (`/services/{svc}/clients`): an ephemeral znode per session saying
    /// which association, view and revision it has applied, so operators
    /// see which clients are behind. Default `true`. A service without a
    /// `clients` directory (a tree written by original Jones) or whose
    /// registry this session may not write is followed without
    /// registering. See [`JonesClient::registration`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), jones_client::Error> {
    /// let client = jones_client::JonesClient::builder("web")
    ///     .zk("127.0.0.1:2181")
    ///     .register(false)
    ///     .build()
    ///     .await?;
    /// assert_eq!(client.registration(), None);
    /// # Ok(()) }
    /// ```
    pub fn register(mut self, register: bool) -> Self {
        self.register = register;
        self
    }

    /// The shortest interval between two rewrites of the registration
    /// znode: after a new revision is applied, the registration is
    /// rewritten once, after a random delay below `interval`, reporting
    /// the latest revision applied by then (so a change that reaches many
    /// clients spreads their writes over one interval, and a burst of
    /// changes costs each client about one write per interval). Default
    /// [`DEFAULT_REPORT_INTERVAL`] (1 s); a zero interval is raised to
    /// 1 ms.
    pub fn report_interval(mut self, interval: Duration) -> Self {
        self.report_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Starts the client and returns at once, without waiting for
    /// ZooKeeper: reads serve the cached config (when a cache file is set
    /// and readable) or nothing, so the app's defaults, with
    /// [`crate::Reason::NotReady`] in details, until the first config is
    /// read. [`JonesClient::is_ready`] and [`JonesClient::wait_ready`] tell
    /// when; [`crate::JonesClient::status`] tells why not yet. A missing
    /// service or view is followed until it is created.
    ///
    /// Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// Only for settings: [`Error::InvalidName`], [`Error::InvalidSettings`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), jones_client::Error> {
    /// let client = jones_client::JonesClient::builder("web").zk("127.0.0.1:2181").start()?;
    /// let workers: u32 = client.get_or("workers", 4); // 4 until the config is read
    /// # Ok(()) }
    /// ```
    pub fn start(self) -> Result<JonesClient, Error> {
        let cache_file = self.cache_file.clone();
        let (client, _, launch) = self.launch(false)?;
        if let Some(path) = cache_file {
            match crate::cache::read(&path, &launch.layout) {
                Ok(snapshot) => {
                    if let Some(hook) = &launch.cache_hook {
                        hook(&client);
                    }
                    serve_cache(&client, snapshot, &path, "until the live config is read")
                }
                Err(e) => {
                    tracing::info!(error = %e, "no usable cache; serving defaults until the config is read")
                }
            }
        }
        Ok(client)
    }

    /// Connects and returns once the first config is loaded; or, when
    /// ZooKeeper cannot be reached within the start timeout and a cache
    /// file is set and readable, serves the cached config (status: stale)
    /// and keeps connecting in the background. [`Self::start`] returns
    /// without waiting.
    ///
    /// # Errors
    /// [`Error::ServiceNotFound`], [`Error::ViewNotFound`],
    /// [`Error::InvalidNodemap`] / [`Error::InvalidConfig`] for unreadable
    /// data, [`Error::Unavailable`] when no session could be established,
    /// [`Error::StartTimeout`] when the config did not arrive in time,
    /// [`Error::InvalidName`] / [`Error::InvalidSettings`] for bad settings.
    pub async fn build(self) -> Result<JonesClient, Error> {
        let start_timeout = self.start_timeout;
        let cache_file = self.cache_file.clone();
        let (client, started, launch) = self.launch(true)?;
        let started = started.expect("asked for");
        let outcome = tokio::time::timeout(start_timeout, started).await;
        let error = match outcome {
            Ok(Ok(Ok(()))) => return Ok(client),
            Ok(Ok(Err(e))) => e,
            Ok(Err(_)) => Error::Closed,
            Err(_) => {
                let s = launch.session_state.borrow().clone();
                let last = s
                    .last_error
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default();
                if s.generation == 0 || !s.connected {
                    Error::Unavailable {
                        connect_string: launch.description,
                        reason: format!("no session within {start_timeout:?}{last}"),
                    }
                } else {
                    Error::StartTimeout {
                        waited: start_timeout,
                        reason: "connected, but the nodemap and view were not read in time".into(),
                    }
                }
            }
        };
        if let (Error::Unavailable { .. }, Some(path)) = (&error, &cache_file) {
            match crate::cache::read(path, &launch.layout) {
                Ok(snapshot) => {
                    if let Some(hook) = &launch.cache_hook {
                        hook(&client);
                    }
                    serve_cache(&client, snapshot, path, &error.to_string());
                    return Ok(client);
                }
                Err(e) => tracing::warn!(error = %e, "no usable fallback cache"),
            }
        }
        client.close().await;
        Err(error)
    }

    /// Validates the settings and starts the driver; with `wait`, also the
    /// channel that tells the outcome of start.
    fn launch(self, wait: bool) -> Result<(JonesClient, Option<Started>, Launch), Error> {
        let service = ServiceName::new(&self.service)?;
        let association = self.association.unwrap_or_else(crate::host::fqdn);
        // Read level: a name a tree written before the name rules holds
        // (` web-01`) is followed like any other; the rules for writing
        // new names are the server's.
        NameKind::Association.check_readable(&association)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::InvalidSettings(
                "a live client must be started inside a tokio runtime".into(),
            ));
        }
        let session = match self.zk {
            Some(Zk::ConnectString(s)) if s.trim().is_empty() => {
                return Err(Error::InvalidSettings(
                    "the ZooKeeper connect string is empty".into(),
                ));
            }
            Some(Zk::ConnectString(s)) => {
                Session::connect_with_auth(&s, self.session_timeout, self.auth)
            }
            Some(Zk::Client(_)) if !self.auth.is_empty() => {
                return Err(Error::InvalidSettings(
                    "authentication is set on a supplied ZooKeeper client, not with .digest()/.auth()"
                        .into(),
                ));
            }
            Some(Zk::Client(c)) => Session::from_client(c),
            None => {
                return Err(Error::InvalidSettings(
                    "no ZooKeeper given: call .zk(connect_string) or .zk_client(client)".into(),
                ));
            }
        };
        let layout = ServiceLayout::new(service);
        let launch = Launch {
            description: session.description().to_owned(),
            session_state: session.subscribe(),
            layout: layout.clone(),
            cache_hook: self.cache_hook.clone(),
        };
        let store = Store::threaded(Snapshot::detached(Config::new()));
        let health = Health::new(store.clone(), Some(session.subscribe()));
        let (started_tx, started) = if wait {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let (applied, applied_rx) = watch::channel(None);
        let registry = self.register.then(|| Registry {
            layout: layout.clone(),
            association: association.clone(),
            interval: self.report_interval,
            counters: counters.clone(),
            applied: applied_rx,
            started_ms: crate::registry::now_ms(),
        });
        let driver = Driver {
            missing_view_hook: self.missing_view_hook.clone(),
            round_hook: self.round_hook.clone(),
            session,
            layout,
            association,
            store: store.clone(),
            health: health.clone(),
            cache_file: self.cache_file.clone(),
            counters: counters.clone(),
            registry,
            applied,
            dir_unreadable_said: false,
            started: started_tx,
            shutdown: shutdown_rx,
        };
        let client = JonesClient {
            inner: Arc::new(Inner {
                store,
                health,
                counters,
                shutdown,
                driver: std::sync::Mutex::new(Some(tokio::spawn(driver.run()))),
            }),
        };
        Ok((client, started, launch))
    }
}

/// Tells [`JonesClientBuilder::build`] the outcome of start.
type Started = oneshot::Receiver<Result<(), Error>>;

/// What start needs to explain a timeout.
struct Launch {
    description: String,
    session_state: watch::Receiver<SessionState>,
    layout: ServiceLayout,
    cache_hook: Option<CacheHook>,
}

/// Serves the cached `snapshot` unless a live config was published first
/// (it is newer than any cache), and says so in the status.
fn serve_cache(client: &JonesClient, snapshot: Snapshot, path: &std::path::Path, why: &str) {
    let served = client
        .inner
        .store
        .publish_if(snapshot, |current| current.revision.is_none());
    if !served {
        return;
    }
    tracing::warn!(cache = %path.display(), why, "serving the cached config");
    client.inner.health.problem(
        Part::Cache,
        Cause::Cache,
        &path.display().to_string(),
        format!("serving the cached config from {}: {why}", path.display()),
    );
    if !client.inner.store.load_full().from_cache {
        // The live config arrived in between.
        client.inner.health.clear(Part::Cache);
    }
}
