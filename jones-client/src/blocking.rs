//! A blocking facade for apps without an async runtime.
//!
//! [`JonesClient`] owns a one-thread tokio runtime that runs the session
//! and the watches; reads are the same lock-free loads as the async
//! client's, and only connect, [`JonesClient::wait_for_change`] and close
//! block.
//!
//! ```no_run
//! fn main() -> Result<(), jones_client::Error> {
//!     let client = jones_client::blocking::JonesClient::connect("127.0.0.1:2181", "web")?;
//!     let workers: u32 = client.get_or("workers", 4);
//!     println!("{workers} workers");
//!     client.close();
//!     Ok(())
//! }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::runtime::Runtime;

use crate::{CallbackGuard, Detail, Error, JonesClientBuilder, Setting, Snapshot, Status, Switch};

/// A live client for synchronous code; see the module docs.
#[derive(Debug)]
pub struct JonesClient {
    client: crate::JonesClient,
    changes: tokio::sync::watch::Receiver<Arc<Snapshot>>,
    runtime: Option<Runtime>,
}

impl JonesClient {
    /// Connects like [`crate::JonesClient::connect`], blocking until the
    /// first config is loaded.
    pub fn connect(zk: &str, service: &str) -> Result<Self, Error> {
        Self::build(crate::JonesClient::builder(service).zk(zk))
    }

    /// Builds the client from an async builder's settings, blocking until
    /// the first config is loaded.
    pub fn build(builder: JonesClientBuilder) -> Result<Self, Error> {
        let runtime = Self::runtime()?;
        let client = runtime.block_on(builder.build())?;
        Ok(Self::around(client, runtime))
    }

    /// Starts the client without waiting, like [`JonesClientBuilder::start`]:
    /// reads serve defaults (or the cache) until [`Self::is_ready`].
    pub fn start(builder: JonesClientBuilder) -> Result<Self, Error> {
        let runtime = Self::runtime()?;
        let client = {
            let _entered = runtime.enter();
            builder.start()?
        };
        Ok(Self::around(client, runtime))
    }

    fn runtime() -> Result<Runtime, Error> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jones-client")
            .enable_all()
            .build()
            .map_err(|e| Error::InvalidSettings(format!("cannot start a runtime thread: {e}")))
    }

    fn around(client: crate::JonesClient, runtime: Runtime) -> Self {
        Self {
            changes: client.subscribe(),
            client,
            runtime: Some(runtime),
        }
    }

    /// See [`crate::JonesClient::is_ready`].
    pub fn is_ready(&self) -> bool {
        self.client.is_ready()
    }

    /// Blocks until the client is ready, at most `timeout`; see
    /// [`crate::JonesClient::wait_ready`].
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), Error> {
        match &self.runtime {
            Some(runtime) => runtime.block_on(self.client.wait_ready(timeout)),
            None => Err(Error::Closed),
        }
    }

    /// See [`crate::JonesClient::get_detail`].
    #[inline]
    pub fn get_detail<T: DeserializeOwned>(&self, key: &str, default: T) -> Detail<T> {
        self.client.get_detail(key, default)
    }

    /// See [`crate::JonesClient::enabled_or`].
    #[inline]
    pub fn enabled_or(&self, flag: &str, default: bool) -> bool {
        self.client.enabled_or(flag, default)
    }

    /// See [`crate::JonesClient::enabled_detail`].
    #[inline]
    pub fn enabled_detail(&self, flag: &str, default: bool) -> Detail<bool> {
        self.client.enabled_detail(flag, default)
    }

    /// See [`crate::JonesClient::percentage_detail`].
    #[inline]
    pub fn percentage_detail(
        &self,
        flag: &str,
        unit: impl fmt::Display,
        default: bool,
    ) -> Detail<bool> {
        self.client.percentage_detail(flag, unit, default)
    }

    /// See [`crate::JonesClient::in_buckets_detail`].
    #[inline]
    pub fn in_buckets_detail(
        &self,
        buckets_key: &str,
        enabled_for_key: &str,
        id: u64,
        default: bool,
    ) -> Detail<bool> {
        self.client
            .in_buckets_detail(buckets_key, enabled_for_key, id, default)
    }

    /// See [`crate::JonesClient::read_detail`].
    #[inline]
    pub fn read_detail<T>(
        &self,
        default: T,
        read: impl FnOnce(&crate::Config) -> Result<T, crate::Reason>,
    ) -> Detail<T> {
        self.client.read_detail(default, read)
    }

    /// See [`crate::JonesClient::setting`].
    pub fn setting<T>(&self, key: &str, default: T) -> Setting<T>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        self.client.setting(key, default)
    }

    /// See [`crate::JonesClient::switch`].
    pub fn switch(&self, flag: &str) -> Switch {
        self.client.switch(flag)
    }

    /// See [`crate::JonesClient::switch_or`].
    pub fn switch_or(&self, flag: &str, default: bool) -> Switch {
        self.client.switch_or(flag, default)
    }

    /// See [`crate::JonesClient::get`].
    #[inline]
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.client.get(key)
    }

    /// See [`crate::JonesClient::get_or`].
    #[inline]
    pub fn get_or<T: DeserializeOwned>(&self, key: &str, default: T) -> T {
        self.client.get_or(key, default)
    }

    /// See [`crate::JonesClient::contains`].
    pub fn contains(&self, key: &str) -> bool {
        self.client.contains(key)
    }

    /// See [`crate::JonesClient::snapshot`].
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.client.snapshot()
    }

    /// See [`crate::JonesClient::enabled`].
    #[inline]
    pub fn enabled(&self, flag: &str) -> bool {
        self.client.enabled(flag)
    }

    /// See [`crate::JonesClient::percentage`].
    #[inline]
    pub fn percentage(&self, flag: &str, unit: impl fmt::Display) -> bool {
        self.client.percentage(flag, unit)
    }

    /// See [`crate::JonesClient::in_buckets`].
    #[inline]
    pub fn in_buckets(&self, buckets_key: &str, enabled_for_key: &str, id: u64) -> bool {
        self.client.in_buckets(buckets_key, enabled_for_key, id)
    }

    /// See [`crate::JonesClient::switch_misses`].
    pub fn switch_misses(&self) -> u64 {
        self.client.switch_misses()
    }

    /// See [`crate::JonesClient::status`].
    pub fn status(&self) -> Status {
        self.client.status()
    }

    /// See [`crate::JonesClient::stats`].
    pub fn stats(&self) -> crate::ClientStats {
        self.client.stats()
    }

    /// See [`crate::JonesClient::registration`].
    pub fn registration(&self) -> Option<String> {
        self.client.registration()
    }

    /// See [`crate::JonesClient::subscribe_status`].
    pub fn subscribe_status(&self) -> tokio::sync::watch::Receiver<Status> {
        self.client.subscribe_status()
    }

    /// See [`crate::JonesClient::on_change`]; the callback runs on the
    /// client's callback thread, never on the thread that follows ZooKeeper.
    pub fn on_change(
        &self,
        callback: impl Fn(&Arc<Snapshot>) + Send + Sync + 'static,
    ) -> CallbackGuard {
        self.client.on_change(callback)
    }

    /// Blocks until a config newer than the last one this method returned
    /// (or than the one at connect) arrives, or `timeout` passes (`None`).
    /// Returns `None` at once after the client was closed.
    pub fn wait_for_change(&mut self, timeout: Duration) -> Option<Arc<Snapshot>> {
        let runtime = self.runtime.as_ref()?;
        let changes = &mut self.changes;
        let changed =
            runtime.block_on(async { tokio::time::timeout(timeout, changes.changed()).await });
        match changed {
            Ok(Ok(())) => Some(self.changes.borrow_and_update().clone()),
            _ => None,
        }
    }

    /// The async client inside, e.g. to hand to async code.
    pub fn as_async(&self) -> &crate::JonesClient {
        &self.client
    }

    /// Closes like [`crate::JonesClient::close`] (the ZooKeeper session is
    /// closed on the server, every stream and callback ends), then stops
    /// the runtime thread; reads keep serving the last config. Dropping
    /// the client does the same.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Dropped inside async code, where blocking would panic: stop
            // the runtime's tasks without waiting for them.
            runtime.shutdown_background();
        } else {
            runtime.block_on(self.client.close());
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for JonesClient {
    fn drop(&mut self) {
        self.shutdown();
    }
}
