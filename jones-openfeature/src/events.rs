//! Provider status and events: the client's config and status streams
//! turned into the OpenFeature spec's provider states and events.
//!
//! The OpenFeature Rust SDK (0.3) has no event API yet, so the provider
//! offers its own stream ([`crate::JonesProvider::events`]) with the
//! spec's event kinds. A new stream starts with the provider's current
//! state (`Ready`, `Stale` or `Error`, spec 5.3.3), then reports each
//! transition; [`open_feature::provider::FeatureProvider::status`] tells
//! the state at any time.
//!
//! | client | provider status |
//! | --- | --- |
//! | closed | `NOT_READY` |
//! | serving the cache file (not read from ZooKeeper yet, or unreachable at start) | `STALE` |
//! | nothing read yet, `initialize` failed or timed out, or a read failing | `ERROR` |
//! | nothing read yet, still initializing | `NOT_READY` |
//! | a live config, current | `READY` |
//! | a live config that may be out of date (disconnected, a read failing) | `STALE` |

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jones_client::{JonesClient, Revision, Snapshot, Status};
use open_feature::provider::ProviderStatus;
use tokio::sync::{Notify, broadcast};

/// A provider event, as the OpenFeature spec names them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProviderEvent {
    /// `PROVIDER_READY`: the first config was read, or the provider is
    /// current again after being stale or in error.
    Ready,
    /// `PROVIDER_STALE`: the config served may be out of date (disconnected
    /// from ZooKeeper, a read failing, served from the cache file);
    /// evaluations go on with it.
    Stale {
        /// Why, from the client's status.
        message: String,
    },
    /// `PROVIDER_ERROR`: no config could be read yet, for the reason given.
    Error {
        /// Why, from the client's status.
        message: String,
    },
    /// `PROVIDER_CONFIGURATION_CHANGED`: a new config is served.
    ConfigurationChanged {
        /// The keys added, removed or changed, in the new config's order
        /// (removed ones last).
        flags_changed: Vec<String>,
        /// The revision of the new config.
        revision: Option<Revision>,
    },
}

/// What the provider and its relay share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// `initialize` ended without a config.
    pub(crate) init_failed: AtomicBool,
    /// Wakes the relay when `init_failed` moves.
    pub(crate) nudge: Notify,
}

/// The provider status of `client`; see the module docs.
pub(crate) fn provider_status(client: &JonesClient, shared: &Shared) -> ProviderStatus {
    status_of(
        &client.status(),
        client.is_closed(),
        shared.init_failed.load(Ordering::Relaxed),
    )
}

fn status_of(status: &Status, closed: bool, init_failed: bool) -> ProviderStatus {
    if closed {
        ProviderStatus::NotReady
    } else if status.from_cache {
        ProviderStatus::STALE
    } else if !status.ready {
        if init_failed || !status.errors.is_empty() {
            ProviderStatus::Error
        } else {
            ProviderStatus::NotReady
        }
    } else if status.is_current() {
        ProviderStatus::Ready
    } else {
        ProviderStatus::STALE
    }
}

/// The event announcing `now`, with `status`'s message; none for
/// `NOT_READY`, which has no event.
fn state_event(now: &ProviderStatus, status: &Status) -> Option<ProviderEvent> {
    let message = || {
        status
            .last_error
            .clone()
            .unwrap_or_else(|| "no config read from ZooKeeper yet".into())
    };
    match now {
        ProviderStatus::Ready => Some(ProviderEvent::Ready),
        ProviderStatus::STALE => Some(ProviderEvent::Stale { message: message() }),
        ProviderStatus::Error => Some(ProviderEvent::Error { message: message() }),
        ProviderStatus::NotReady => None,
    }
}

/// The provider's events, from [`crate::JonesProvider::events`]: first the
/// state at the time it was made (none while `NOT_READY`), then every
/// change of state and of config.
#[derive(Debug)]
pub struct ProviderEvents {
    first: Option<ProviderEvent>,
    events: broadcast::Receiver<ProviderEvent>,
    /// The last state event handed out, to drop a relayed repeat of the
    /// first one.
    last_state: Option<std::mem::Discriminant<ProviderEvent>>,
}

impl ProviderEvents {
    pub(crate) fn new(
        client: &JonesClient,
        shared: &Shared,
        events: broadcast::Receiver<ProviderEvent>,
    ) -> Self {
        // Subscribed before the state is taken: a transition in between
        // is relayed, never lost.
        let now = provider_status(client, shared);
        Self {
            first: state_event(&now, &client.status()),
            events,
            last_state: None,
        }
    }

    /// The next event; `Err(Lagged)` when this receiver fell more than 64
    /// events behind, `Err(Closed)` once the provider is gone.
    ///
    /// # Errors
    /// See above.
    pub async fn recv(&mut self) -> Result<ProviderEvent, broadcast::error::RecvError> {
        loop {
            let event = match self.first.take() {
                Some(event) => event,
                None => self.events.recv().await?,
            };
            if let Some(event) = self.pass(event) {
                return Ok(event);
            }
        }
    }

    /// The next event if one is waiting.
    ///
    /// # Errors
    /// `Empty` when none is, else as [`Self::recv`].
    pub fn try_recv(&mut self) -> Result<ProviderEvent, broadcast::error::TryRecvError> {
        loop {
            let event = match self.first.take() {
                Some(event) => event,
                None => self.events.try_recv()?,
            };
            if let Some(event) = self.pass(event) {
                return Ok(event);
            }
        }
    }

    /// Drops a state event that repeats the last one handed out.
    fn pass(&mut self, event: ProviderEvent) -> Option<ProviderEvent> {
        if matches!(event, ProviderEvent::ConfigurationChanged { .. }) {
            return Some(event);
        }
        let kind = std::mem::discriminant(&event);
        if self.last_state == Some(kind) {
            return None;
        }
        self.last_state = Some(kind);
        Some(event)
    }
}

/// Sends an event for each change of config or provider status until the
/// client is closed (its streams end).
pub(crate) async fn relay(
    client: JonesClient,
    shared: Arc<Shared>,
    events: broadcast::Sender<ProviderEvent>,
) {
    let mut configs = client.subscribe();
    let mut statuses = client.subscribe_status();
    let mut last_config = configs.borrow_and_update().clone();
    statuses.borrow_and_update();
    let mut last_status = provider_status(&client, &shared);
    loop {
        tokio::select! {
            changed = configs.changed() => {
                if changed.is_err() {
                    break;
                }
                let config = configs.borrow_and_update().clone();
                let flags_changed = changed_keys(&last_config, &config);
                if !flags_changed.is_empty() {
                    let _ = events.send(ProviderEvent::ConfigurationChanged {
                        flags_changed,
                        revision: config.revision,
                    });
                }
                last_config = config;
            }
            changed = statuses.changed() => {
                if changed.is_err() {
                    break;
                }
                statuses.borrow_and_update();
            }
            () = shared.nudge.notified() => {}
        }
        let now = provider_status(&client, &shared);
        if now != last_status {
            if let Some(event) = state_event(&now, &client.status()) {
                let _ = events.send(event);
            }
            last_status = now;
        }
    }
}

/// The keys whose values differ between two configs.
fn changed_keys(old: &Arc<Snapshot>, new: &Arc<Snapshot>) -> Vec<String> {
    let mut keys: Vec<String> = new
        .config
        .iter()
        .filter(|(key, value)| old.config.get(*key) != Some(value))
        .map(|(key, _)| key.clone())
        .collect();
    keys.extend(
        old.config
            .keys()
            .filter(|key| !new.config.contains_key(*key))
            .cloned(),
    );
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use jones_client::parse_config;

    #[test]
    fn changed_keys_names_added_changed_and_removed_keys() {
        let old = Arc::new(Snapshot::detached(
            parse_config(br#"{"same": 1, "changed": 1, "removed": 1}"#).unwrap(),
        ));
        let new = Arc::new(Snapshot::detached(
            parse_config(br#"{"added": 1, "same": 1, "changed": 2}"#).unwrap(),
        ));
        assert_eq!(changed_keys(&old, &new), ["added", "changed", "removed"]);
        assert!(changed_keys(&new, &new).is_empty());
    }
}
