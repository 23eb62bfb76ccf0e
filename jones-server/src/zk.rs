//! The server's ZooKeeper session: connect with a digest credential, create
//! znodes with protective ACLs, count every request, and replace the session
//! when ZooKeeper expires it.
//!
//! Every read and write of the crate goes through [`Zk`], so the operation
//! counters (`ZkCounts`) are complete: the benchmark and `/metrics` read
//! them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use zookeeper_client::{Acl, Acls, AuthId, Client, CreateMode, Permission, SessionState, Stat};

use crate::Error;

/// world:anyone may read, the server's digest identity may do everything:
/// original Jones' ACL, so that only servers write.
static PROTECTED: [Acl; 2] = [
    Acl::new_const(Permission::READ, "world", "anyone"),
    Acl::new_const(Permission::ALL, "auth", ""),
];

/// The ACL of account znodes: the server's digest identity may do
/// everything, nobody else anything, not even read.
static SECRET: [Acl; 1] = [Acl::new_const(Permission::ALL, "auth", "")];

/// The registry directory's ACL (see [`Zk::registry_acls`]).
static REGISTRY: std::sync::LazyLock<[Acl; 2]> = std::sync::LazyLock::new(|| {
    [
        Acl::new(Permission::READ | Permission::CREATE, AuthId::anyone()),
        Acl::new(Permission::ALL, AuthId::authed()),
    ]
});

/// How to reach ZooKeeper. `Debug` leaves out the digest's password.
#[derive(Clone)]
pub struct ZkOptions {
    /// `host:port[,host:port][/chroot]`.
    pub connect: String,
    /// Digest credential `user:password`. With it every znode the server
    /// creates is world-readable and writable only by this identity; without
    /// it znodes are open to anyone (a warning is logged).
    pub digest: Option<String>,
    /// Session timeout.
    pub session_timeout: Duration,
}

impl std::fmt::Debug for ZkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self
            .digest
            .as_deref()
            .map(|d| format!("{}:<redacted>", d.split_once(':').map_or(d, |(u, _)| u)));
        f.debug_struct("ZkOptions")
            .field("connect", &self.connect)
            .field("digest", &user)
            .field("session_timeout", &self.session_timeout)
            .finish()
    }
}

impl ZkOptions {
    /// Options for `connect` with no credential and a 10 s session timeout.
    pub fn new(connect: impl Into<String>) -> Self {
        Self {
            connect: connect.into(),
            digest: None,
            session_timeout: Duration::from_secs(10),
        }
    }

    /// The same options with a digest credential `user:password`.
    pub fn with_digest(mut self, credential: impl Into<String>) -> Self {
        self.digest = Some(credential.into());
        self
    }
}

/// Counters of ZooKeeper requests made through a [`Zk`].
#[derive(Debug, Default)]
pub(crate) struct ZkStats {
    requests: AtomicU64,
    ops: AtomicU64,
    multi_bytes: AtomicU64,
    sessions_replaced: AtomicU64,
}

/// Counts of ZooKeeper requests made through a [`Zk`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ZkCounts {
    /// Round trips to ZooKeeper (a `multi` counts once).
    pub requests: u64,
    /// Operations (each op inside a `multi` counts).
    pub ops: u64,
    /// Bytes of the transactions (`multi`) sent, as their ops' wire sizes.
    pub multi_bytes: u64,
    /// Sessions that ended (expired, closed or refused) and were replaced.
    pub sessions_replaced: u64,
}

impl ZkCounts {
    /// The counts since `earlier`.
    pub fn since(self, earlier: ZkCounts) -> ZkCounts {
        ZkCounts {
            requests: self.requests - earlier.requests,
            ops: self.ops - earlier.ops,
            multi_bytes: self.multi_bytes - earlier.multi_bytes,
            sessions_replaced: self.sessions_replaced - earlier.sessions_replaced,
        }
    }
}

/// One operation of a transaction (`multi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Fail unless `path` is at `version`.
    Check { path: String, version: i32 },
    /// Create `path` with `data` and the server's ACL.
    Create { path: String, data: Vec<u8> },
    /// Create a persistent sequential znode `prefix{sequence}` with `data`
    /// and the server's ACL: ZooKeeper numbers them in commit order.
    CreateSequential { prefix: String, data: Vec<u8> },
    /// Create the client registry directory `path` (no data) with the
    /// registry's ACL: anyone may read it and create children (clients
    /// register anonymously), only the server may change or delete it.
    CreateRegistry { path: String },
    /// Create `path` with `data` and the secret ACL (see
    /// [`Zk::secret_acls`]).
    CreateSecret { path: String, data: Vec<u8> },
    /// Set `path`'s data, if at `version` (any version with `None`).
    Set {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
    },
    /// Delete `path`, if at `version`.
    Delete { path: String, version: Option<i32> },
}

impl Op {
    /// The znode this op touches.
    pub(crate) fn path(&self) -> &str {
        match self {
            Op::Check { path, .. }
            | Op::Create { path, .. }
            | Op::CreateSequential { prefix: path, .. }
            | Op::CreateRegistry { path }
            | Op::CreateSecret { path, .. }
            | Op::Set { path, .. }
            | Op::Delete { path, .. } => path,
        }
    }

    /// An upper bound of this op's size on the wire, in bytes.
    pub(crate) fn wire_size(&self) -> usize {
        // Headers, lengths, version, flags and the two-entry ACL.
        const OVERHEAD: usize = 96;
        OVERHEAD
            + self.path().len()
            + match self {
                Op::Create { data, .. }
                | Op::CreateSequential { data, .. }
                | Op::CreateSecret { data, .. }
                | Op::Set { data, .. } => data.len(),
                _ => 0,
            }
    }
}

/// One read of a batched read ([`Zk::multi_read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Read {
    /// Data and stat of a znode.
    Data(String),
    /// Children of a znode.
    Children(String),
}

/// The answer to one [`Read`]; `None` when the znode does not exist.
#[derive(Debug)]
pub(crate) enum ReadResult {
    Data(Option<(Vec<u8>, Stat)>),
    Children(Option<Vec<String>>),
}

/// Why a transaction failed.
#[derive(Debug)]
pub(crate) struct MultiError {
    /// The failing op, when one op failed (the others did nothing).
    pub index: Option<usize>,
    /// ZooKeeper's error.
    pub source: zookeeper_client::Error,
}

/// The server's session to ZooKeeper. Cheap to clone; clones share the
/// session and counters.
#[derive(Debug, Clone)]
pub struct Zk {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: ZkOptions,
    /// The current session; replaced when ZooKeeper expires it.
    client: ArcSwap<Client>,
    /// Serializes reconnects so one expiry builds one new session.
    reconnecting: tokio::sync::Mutex<()>,
    stats: ZkStats,
}

impl Zk {
    /// Connects (and authenticates, when a credential is given).
    pub async fn connect(options: ZkOptions) -> Result<Self, Error> {
        if options.digest.is_none() {
            tracing::warn!("no ZooKeeper digest credential: znodes are created writable by anyone");
        }
        let client = new_client(&options).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                client: ArcSwap::from_pointee(client),
                reconnecting: tokio::sync::Mutex::new(()),
                stats: ZkStats::default(),
            }),
        })
    }

    /// The current session, replaced first when it has expired.
    pub async fn client(&self) -> Result<Client, Error> {
        let current = self.inner.client.load_full();
        if !is_terminal(current.state()) {
            return Ok((*current).clone());
        }
        let _guard = self.inner.reconnecting.lock().await;
        let current = self.inner.client.load_full();
        if !is_terminal(current.state()) {
            return Ok((*current).clone());
        }
        tracing::warn!(state = ?current.state(), "ZooKeeper session ended; starting a new one");
        let client = new_client(&self.inner.options).await?;
        self.inner
            .stats
            .sessions_replaced
            .fetch_add(1, Ordering::Relaxed);
        self.inner.client.store(Arc::new(client.clone()));
        Ok(client)
    }

    /// The state of the current session.
    pub fn state(&self) -> SessionState {
        self.inner.client.load().state()
    }

    /// The connection options.
    pub fn options(&self) -> &ZkOptions {
        &self.inner.options
    }

    /// Requests and ops made so far.
    pub fn counts(&self) -> ZkCounts {
        ZkCounts {
            requests: self.inner.stats.requests.load(Ordering::Relaxed),
            ops: self.inner.stats.ops.load(Ordering::Relaxed),
            multi_bytes: self.inner.stats.multi_bytes.load(Ordering::Relaxed),
            sessions_replaced: self.inner.stats.sessions_replaced.load(Ordering::Relaxed),
        }
    }

    fn count(&self, requests: u64, ops: u64) {
        self.inner
            .stats
            .requests
            .fetch_add(requests, Ordering::Relaxed);
        self.inner.stats.ops.fetch_add(ops, Ordering::Relaxed);
    }

    /// The ACL of every znode the server creates.
    pub(crate) fn acls(&self) -> Acls<'static> {
        if self.inner.options.digest.is_some() {
            Acls::new(&PROTECTED)
        } else {
            Acls::anyone_all()
        }
    }

    /// The ACL of the client registry directory (`/services/{svc}/clients`):
    /// with a credential, anyone may read it and create children, the
    /// server's identity may do everything; without one, open to anyone.
    pub(crate) fn registry_acls(&self) -> Acls<'static> {
        if self.inner.options.digest.is_some() {
            Acls::new(&REGISTRY[..])
        } else {
            Acls::anyone_all()
        }
    }

    /// The ACL of znodes only servers may read (accounts): with a
    /// credential, the server's identity alone; without one, open to
    /// anyone.
    pub(crate) fn secret_acls(&self) -> Acls<'static> {
        if self.inner.options.digest.is_some() {
            Acls::new(&SECRET)
        } else {
            Acls::anyone_all()
        }
    }

    /// Creates `path` with `data` and the [secret ACL](Self::secret_acls);
    /// `false` when it already exists.
    pub(crate) async fn create_secret(&self, path: &str, data: &[u8]) -> Result<bool, Error> {
        let client = self.client().await?;
        self.count(1, 1);
        let options = CreateMode::Persistent.with_acls(self.secret_acls());
        match client.create(path, data, &options).await {
            Ok(_) => Ok(true),
            Err(zookeeper_client::Error::NodeExists) => Ok(false),
            Err(e) => Err(crate::error::zk_error(path, e)),
        }
    }

    /// Data and stat of `path` as of now: a `sync` first, so a read from a
    /// follower sees every write committed before it (ZooKeeper serves a
    /// session's requests in order; both are sent at once, one wait).
    /// `None` when it does not exist.
    pub(crate) async fn get_synced(&self, path: &str) -> Result<Option<(Vec<u8>, Stat)>, Error> {
        let client = self.client().await?;
        self.count(2, 2);
        let (synced, read) =
            futures_util::future::join(client.sync("/"), client.get_data(path)).await;
        synced.map_err(|e| crate::error::zk_error(path, e))?;
        match read {
            Ok(found) => Ok(Some(found)),
            Err(zookeeper_client::Error::NoNode) => Ok(None),
            Err(e) => Err(crate::error::zk_error(path, e)),
        }
    }

    /// The ACL and stat of `path`; `None` when it does not exist.
    pub(crate) async fn get_acl(&self, path: &str) -> Result<Option<(Vec<Acl>, Stat)>, Error> {
        let client = self.client().await?;
        self.count(1, 1);
        match client.get_acl(path).await {
            Ok(found) => Ok(Some(found)),
            Err(zookeeper_client::Error::NoNode) => Ok(None),
            Err(e) => Err(crate::error::zk_error(path, e)),
        }
    }

    /// Gives `path` the server's ACL (the registry's when `registry`) if
    /// its ACL is still at `acl_version`.
    pub(crate) async fn set_server_acl(
        &self,
        path: &str,
        registry: bool,
        acl_version: i32,
    ) -> Result<(), zookeeper_client::Error> {
        let client = self
            .client()
            .await
            .map_err(|_| zookeeper_client::Error::ConnectionLoss)?;
        self.count(1, 1);
        client
            .set_acl(
                path,
                &match registry {
                    true => self.registry_acls(),
                    false => self.acls(),
                },
                Some(acl_version),
            )
            .await
            .map(drop)
    }

    /// Data and stat of `path`; `None` when it does not exist.
    pub(crate) async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, Stat)>, Error> {
        let client = self.client().await?;
        self.count(1, 1);
        match client.get_data(path).await {
            Ok(found) => Ok(Some(found)),
            Err(zookeeper_client::Error::NoNode) => Ok(None),
            Err(e) => Err(crate::error::zk_error(path, e)),
        }
    }

    /// The stat of `path`; `None` when it does not exist.
    pub(crate) async fn stat(&self, path: &str) -> Result<Option<Stat>, Error> {
        let client = self.client().await?;
        self.count(1, 1);
        client
            .check_stat(path)
            .await
            .map_err(|e| crate::error::zk_error(path, e))
    }

    /// Children of `path`, sorted; `None` when it does not exist.
    pub(crate) async fn children(&self, path: &str) -> Result<Option<Vec<String>>, Error> {
        let client = self.client().await?;
        self.count(1, 1);
        match client.list_children(path).await {
            Ok(mut children) => {
                children.sort();
                Ok(Some(children))
            }
            Err(zookeeper_client::Error::NoNode) => Ok(None),
            Err(e) => Err(crate::error::zk_error(path, e)),
        }
    }

    /// `path` and every znode below it, parents before children (a level
    /// at a time); empty when `path` does not exist.
    pub(crate) async fn subtree(&self, path: &str) -> Result<Vec<String>, Error> {
        let mut all = Vec::new();
        let mut level = vec![path.to_owned()];
        while !level.is_empty() {
            let lists =
                futures_util::future::join_all(level.iter().map(|p| self.children(p))).await;
            let mut next = Vec::new();
            for (path, children) in level.into_iter().zip(lists) {
                let Some(children) = children? else { continue };
                next.extend(children.iter().map(|c| format!("{path}/{c}")));
                all.push(path);
            }
            level = next;
        }
        Ok(all)
    }

    /// Whether `path` exists, with a one-shot watch on its creation,
    /// deletion or change (re-sent by the client after a reconnect).
    pub(crate) async fn watch_exists(
        &self,
        path: &str,
    ) -> Result<(Option<Stat>, zookeeper_client::OneshotWatcher), Error> {
        let client = self.client().await?;
        self.count(1, 1);
        client
            .check_and_watch_stat(path)
            .await
            .map_err(|e| crate::error::zk_error(path, e))
    }

    /// Children of `path` with a one-shot watch on them; `None` (and a
    /// watch on its creation) when `path` does not exist.
    pub(crate) async fn watch_children(
        &self,
        path: &str,
    ) -> Result<(Option<Vec<String>>, zookeeper_client::OneshotWatcher), Error> {
        loop {
            let client = self.client().await?;
            self.count(1, 1);
            match client.list_and_watch_children(path).await {
                Ok((children, watcher)) => return Ok((Some(children), watcher)),
                Err(zookeeper_client::Error::NoNode) => {
                    // Created between the two calls: that watch would only
                    // fire on its data or deletion, so list it again.
                    if let (None, watcher) = self.watch_exists(path).await? {
                        return Ok((None, watcher));
                    }
                }
                Err(e) => return Err(crate::error::zk_error(path, e)),
            }
        }
    }

    /// Creates `path` as an ephemeral znode of this session (with the
    /// server's ACL); `false` when it already exists.
    pub(crate) async fn create_ephemeral(&self, path: &str) -> Result<bool, Error> {
        let client = self.client().await?;
        self.count(1, 1);
        let options = CreateMode::Ephemeral.with_acls(self.acls());
        match client.create(path, b"", &options).await {
            Ok(_) => Ok(true),
            Err(zookeeper_client::Error::NodeExists) => Ok(false),
            Err(e) => Err(crate::error::zk_error(path, e)),
        }
    }

    /// Deletes `path` at any version; nothing when it is gone.
    pub(crate) async fn delete(&self, path: &str) -> Result<(), Error> {
        let client = self.client().await?;
        self.count(1, 1);
        match client.delete(path, None).await {
            Ok(()) | Err(zookeeper_client::Error::NoNode) => Ok(()),
            Err(e) => Err(crate::error::zk_error(path, e)),
        }
    }

    /// Creates `path` (with the server's ACL) unless it exists.
    pub(crate) async fn ensure(&self, path: &str) -> Result<(), Error> {
        let client = self.client().await?;
        self.count(1, 1);
        let options = CreateMode::Persistent.with_acls(self.acls());
        match client.create(path, b"", &options).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => Ok(()),
            Err(e) => Err(crate::error::zk_error(path, e)),
        }
    }

    /// Performs `reads` in one request (ZooKeeper's multi-read): one round
    /// trip, results in order. Keep batches small enough for the answer to
    /// stay well below ZooKeeper's 1 MiB packet limit.
    pub(crate) async fn multi_read(&self, reads: &[Read]) -> Result<Vec<ReadResult>, Error> {
        use zookeeper_client::MultiReadResult as R;
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        self.count(1, reads.len() as u64);
        let mut reader = client.new_multi_reader();
        for read in reads {
            let (Read::Data(path) | Read::Children(path)) = read;
            let added = match read {
                Read::Data(_) => reader.add_get_data(path),
                Read::Children(_) => reader.add_get_children(path),
            };
            added.map_err(|e| crate::error::zk_error(path, e))?;
        }
        let results = reader
            .commit()
            .await
            .map_err(|e| crate::error::zk_error("(multi-read)", e))?;
        reads
            .iter()
            .zip(results)
            .map(|(read, result)| {
                let (Read::Data(path) | Read::Children(path)) = read;
                Ok(match (read, result) {
                    (Read::Data(_), R::Data { data, stat }) => ReadResult::Data(Some((data, stat))),
                    (Read::Children(_), R::Children { mut children }) => {
                        children.sort();
                        ReadResult::Children(Some(children))
                    }
                    (
                        Read::Data(_),
                        R::Error {
                            err: zookeeper_client::Error::NoNode,
                        },
                    ) => ReadResult::Data(None),
                    (
                        Read::Children(_),
                        R::Error {
                            err: zookeeper_client::Error::NoNode,
                        },
                    ) => ReadResult::Children(None),
                    (_, R::Error { err }) => return Err(crate::error::zk_error(path, err)),
                    (_, other) => {
                        return Err(Error::Unavailable(format!(
                            "{path}: unexpected multi-read answer {other:?}"
                        )));
                    }
                })
            })
            .collect()
    }

    /// Commits `ops` as one transaction: all or nothing. Returns the
    /// transaction's zxid when it sets data (every op of a transaction
    /// shares it; created znodes' stats are unreliable, ZOOKEEPER-4026).
    pub(crate) async fn multi(&self, ops: &[Op]) -> Result<Option<i64>, MultiError> {
        if ops.is_empty() {
            return Ok(None);
        }
        let client = self.client().await.map_err(|_| MultiError {
            index: None,
            source: zookeeper_client::Error::ConnectionLoss,
        })?;
        self.count(1, ops.len() as u64);
        let bytes: usize = ops.iter().map(Op::wire_size).sum();
        self.inner
            .stats
            .multi_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        let mut writer = client.new_multi_writer();
        let options = CreateMode::Persistent.with_acls(self.acls());
        let registry = CreateMode::Persistent.with_acls(self.registry_acls());
        let sequential = CreateMode::PersistentSequential.with_acls(self.acls());
        let secret = CreateMode::Persistent.with_acls(self.secret_acls());
        for op in ops {
            let added = match op {
                Op::Check { path, version } => writer.add_check_version(path, *version),
                Op::Create { path, data } => writer.add_create(path, data, &options),
                Op::CreateSequential { prefix, data } => {
                    writer.add_create(prefix, data, &sequential)
                }
                Op::CreateRegistry { path } => writer.add_create(path, &[], &registry),
                Op::CreateSecret { path, data } => writer.add_create(path, data, &secret),
                Op::Set {
                    path,
                    data,
                    version,
                } => writer.add_set_data(path, data, *version),
                Op::Delete { path, version } => writer.add_delete(path, *version),
            };
            added.map_err(|source| MultiError {
                index: None,
                source,
            })?;
        }
        match writer.commit().await {
            Ok(results) => Ok(results.into_iter().find_map(|result| match result {
                zookeeper_client::MultiWriteResult::SetData { stat } => Some(stat.mzxid),
                _ => None,
            })),
            Err(zookeeper_client::MultiWriteError::OperationFailed { index, source }) => {
                Err(MultiError {
                    index: Some(index),
                    source,
                })
            }
            Err(zookeeper_client::MultiWriteError::RequestFailed { source }) => Err(MultiError {
                index: None,
                source,
            }),
        }
    }
}

fn is_terminal(state: SessionState) -> bool {
    matches!(
        state,
        SessionState::Expired | SessionState::Closed | SessionState::AuthFailed
    )
}

async fn new_client(options: &ZkOptions) -> Result<Client, Error> {
    let mut connector = Client::connector().with_session_timeout(options.session_timeout);
    if let Some(digest) = &options.digest {
        if !digest.contains(':') {
            return Err(Error::invalid(
                "the ZooKeeper digest credential must look like `user:password`",
            ));
        }
        connector = connector.with_auth("digest", digest.as_bytes());
    }
    connector
        .connect(&options.connect)
        .await
        .map_err(|e| Error::Unavailable(format!("cannot connect to {}: {e}", options.connect)))
}
