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

use crate::{CallbackGuard, Error, JonesClientBuilder, Snapshot, Status};

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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("jones-client")
            .enable_all()
            .build()
            .map_err(|e| Error::InvalidSettings(format!("cannot start a runtime thread: {e}")))?;
        let client = runtime.block_on(builder.build())?;
        Ok(Self {
            changes: client.subscribe(),
            client,
            runtime: Some(runtime),
        })
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

    /// See [`crate::JonesClient::on_change`]; the callback runs on the
    /// client's runtime thread.
    pub fn on_change(
        &self,
        callback: impl Fn(&Arc<Snapshot>) + Send + Sync + 'static,
    ) -> CallbackGuard {
        self.client.on_change(callback)
    }

    /// Blocks until a config newer than the last one this method returned
    /// (or than the one at connect) arrives, or `timeout` passes (`None`).
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

    /// Stops every task and the runtime thread; reads keep serving the
    /// last config.
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
