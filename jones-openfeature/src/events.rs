//! Provider events: the client's config and status streams turned into
//! the OpenFeature spec's provider events.
//!
//! The OpenFeature Rust SDK (0.3) has no event API yet, so the provider
//! offers its own stream ([`crate::JonesProvider::events`]) with the
//! spec's event kinds. Events report transitions after the receiver was
//! made; [`open_feature::provider::FeatureProvider::status`] tells the
//! state at any time.

use std::sync::Arc;

use jones_client::{JonesClient, Revision, Snapshot, Status};
use open_feature::provider::ProviderStatus;
use tokio::sync::broadcast;

/// A provider event, as the OpenFeature spec names them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ProviderEvent {
    /// `PROVIDER_READY`: the first config was read, or the provider is
    /// current again after being stale or in error.
    Ready,
    /// `PROVIDER_STALE`: the config served may be out of date (disconnected
    /// from ZooKeeper, a read failing); evaluations go on with it.
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

/// The provider status a client's status amounts to.
pub(crate) fn provider_status(status: &Status) -> ProviderStatus {
    if !status.ready {
        if status.errors.is_empty() {
            ProviderStatus::NotReady
        } else {
            ProviderStatus::Error
        }
    } else if status.is_current() {
        ProviderStatus::Ready
    } else {
        ProviderStatus::STALE
    }
}

/// Sends an event for each change of config or provider status until the
/// client is closed (its streams end).
pub(crate) async fn relay(client: JonesClient, events: broadcast::Sender<ProviderEvent>) {
    let mut configs = client.subscribe();
    let mut statuses = client.subscribe_status();
    let mut last_config = configs.borrow_and_update().clone();
    let mut last_status = provider_status(&statuses.borrow_and_update());
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
                let status = statuses.borrow_and_update().clone();
                let now = provider_status(&status);
                if now != last_status {
                    let message = status.last_error.clone().unwrap_or_default();
                    let event = match now {
                        ProviderStatus::Ready => Some(ProviderEvent::Ready),
                        ProviderStatus::STALE => Some(ProviderEvent::Stale { message }),
                        ProviderStatus::Error => Some(ProviderEvent::Error { message }),
                        ProviderStatus::NotReady => None,
                    };
                    if let Some(event) = event {
                        let _ = events.send(event);
                    }
                    last_status = now;
                }
            }
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
