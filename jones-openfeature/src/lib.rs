#![warn(missing_docs)]
//! An [OpenFeature](https://openfeature.dev) provider over a live
//! [`jones_client::JonesClient`]: apps evaluate flags through the
//! OpenFeature client API, and Jones serves them from ZooKeeper with the
//! same lock-free reads as the client.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use jones_openfeature::JonesProvider;
//! use open_feature::{EvaluationContext, OpenFeature};
//!
//! let jones = jones_client::JonesClient::connect("127.0.0.1:2181", "checkout").await?;
//! let provider = JonesProvider::new(jones);
//! let mut events = provider.events();
//! let mut api = OpenFeature::singleton_mut().await;
//! api.set_provider(provider).await;
//! let client = api.create_client();
//!
//! let user = EvaluationContext::default().with_targeting_key("user-17");
//! let new_flow = client.get_bool_value("new_flow", Some(&user), None).await.unwrap_or(false);
//! let timeout = client.get_int_value("timeout_ms", None, None).await.unwrap_or(250);
//! # let _ = (new_flow, timeout, events.try_recv());
//! # Ok(()) }
//! ```
//!
//! How config values resolve, with reasons and error codes, is in
//! [`resolve`]; the provider's events in [`ProviderEvent`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jones_client::JonesClient;
use open_feature::provider::{
    FeatureProvider, ProviderMetadata, ProviderStatus, ResolutionDetails,
};
use open_feature::{EvaluationContext, EvaluationResult, StructValue, async_trait};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

mod events;
pub mod resolve;

pub use events::{ProviderEvent, ProviderEvents};

/// How many events a slow receiver may fall behind before it misses some.
const EVENT_BUFFER: usize = 64;

/// Default bound on [`FeatureProvider::initialize`] waiting for the first
/// config of a client started without waiting.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The OpenFeature provider of Jones; see the crate docs.
///
/// Evaluations read the client's current config: no ZooKeeper request,
/// no lock. Dropping the provider (the OpenFeature API does at shutdown
/// or when replaced) stops its event relay; the client stays open.
pub struct JonesProvider {
    client: JonesClient,
    metadata: ProviderMetadata,
    events: broadcast::Sender<ProviderEvent>,
    shared: Arc<events::Shared>,
    relay: JoinHandle<()>,
    init_timeout: Duration,
}

impl std::fmt::Debug for JonesProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JonesProvider")
            .field("client", &self.client)
            .field("init_timeout", &self.init_timeout)
            .finish_non_exhaustive()
    }
}

impl JonesProvider {
    /// A provider evaluating flags from `client`. Must be called inside a
    /// tokio runtime (the event relay runs there).
    pub fn new(client: JonesClient) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let shared = Arc::new(events::Shared::default());
        let relay = tokio::spawn(events::relay(
            client.clone(),
            shared.clone(),
            events.clone(),
        ));
        Self {
            client,
            metadata: ProviderMetadata::new("jones"),
            events,
            shared,
            relay,
            init_timeout: DEFAULT_INIT_TIMEOUT,
        }
    }

    /// How long [`FeatureProvider::initialize`] waits for the first config
    /// of a client started without waiting. Default 5 s. Past it the
    /// provider reports `ERROR` until the first config is read, and
    /// evaluations answer `PROVIDER_NOT_READY` (or the cached values, with
    /// reason `CACHED`, when the client serves its cache file).
    ///
    /// While `initialize` runs, the SDK (0.3) has not registered the
    /// provider yet: evaluations of a named client go to the default
    /// provider, and those of the default provider wait for `initialize`
    /// to end (the SDK holds its registry meanwhile).
    #[must_use]
    pub fn with_init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// A receiver of the provider's events: first its current state
    /// (`Ready`, `Stale` or `Error`; nothing while `NOT_READY`), then every
    /// change (see [`ProviderEvent`]). Make it before handing the provider
    /// to the OpenFeature API.
    pub fn events(&self) -> ProviderEvents {
        ProviderEvents::new(&self.client, &self.shared, self.events.subscribe())
    }

    /// The client the provider reads.
    pub fn client(&self) -> &JonesClient {
        &self.client
    }

    /// Resolves a boolean flag without the OpenFeature client (and without
    /// its allocations): what [`FeatureProvider::resolve_bool_value`] does,
    /// but with no `flag_metadata` (the revision is the client's
    /// [`JonesClient::snapshot`]'s), so nothing is allocated.
    pub fn resolve_bool(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        resolve::boolean(&self.client, flag_key, context, resolve::Metadata::Bare)
    }
}

impl Drop for JonesProvider {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

#[async_trait]
impl FeatureProvider for JonesProvider {
    async fn initialize(&mut self, _context: &EvaluationContext) {
        let failed = self.client.wait_ready(self.init_timeout).await.is_err();
        if failed {
            tracing::warn!(
                status = ?self.client.status().last_error,
                "Jones provider initialized without a config; status ERROR until one is read"
            );
        }
        self.shared.init_failed.store(failed, Ordering::Relaxed);
        self.shared.nudge.notify_one();
    }

    fn status(&self) -> ProviderStatus {
        events::provider_status(&self.client, &self.shared)
    }

    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        flag_key: &str,
        context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        resolve::boolean(&self.client, flag_key, context, resolve::Metadata::Revision)
    }

    async fn resolve_int_value(
        &self,
        flag_key: &str,
        _context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        resolve::typed(&self.client, flag_key, "an integer")
    }

    async fn resolve_float_value(
        &self,
        flag_key: &str,
        _context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        resolve::typed(&self.client, flag_key, "a number")
    }

    async fn resolve_string_value(
        &self,
        flag_key: &str,
        _context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        resolve::typed(&self.client, flag_key, "a string")
    }

    async fn resolve_struct_value(
        &self,
        flag_key: &str,
        _context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        resolve::structure(&self.client, flag_key)
    }
}
