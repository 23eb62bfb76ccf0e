//! What a live client costs ZooKeeper: counters of watch notifications,
//! read requests, bytes read and registry writes, kept in atomics shared by
//! the client's handles and its background tasks ([`Counters`]), read as a
//! [`ClientStats`] by [`crate::JonesClient::stats`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a live client's traffic with ZooKeeper, from
/// [`crate::JonesClient::stats`]. Every counter only grows, over the
/// client's whole life (across reconnects and new sessions). A client not
/// fed by ZooKeeper ([`crate::JonesClient::from_config`],
/// [`crate::TestData`]) reads all zeros.
///
/// ```
/// let client = jones_client::JonesClient::from_config(Default::default());
/// let stats = client.stats();
/// assert_eq!((stats.watch_events, stats.reads, stats.bytes_read, stats.registry_writes), (0, 0, 0, 0));
/// ```
///
/// With a live client, the difference of two readings tells what one
/// change cost, say (a re-point of another host wakes nobody):
///
/// ```no_run
/// # async fn demo(client: jones_client::JonesClient) {
/// let before = client.stats();
/// // ... another host is re-pointed ...
/// let after = client.stats();
/// println!("{} watch events, {} reads", after.watch_events - before.watch_events,
///     after.reads - before.reads);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Watch notifications received for the znodes the client follows (a
    /// data change, a creation or a deletion; not connection events).
    pub watch_events: u64,
    /// Read requests sent to ZooKeeper (data reads, stat checks and exists
    /// watches alike).
    pub reads: u64,
    /// Bytes of znode data those reads returned.
    pub bytes_read: u64,
    /// Creates and rewrites of the client's registration znode.
    pub registry_writes: u64,
}

/// The shared counters behind [`ClientStats`], and the path of the
/// client's current registration.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    watch_events: AtomicU64,
    reads: AtomicU64,
    bytes_read: AtomicU64,
    registry_writes: AtomicU64,
    registration: Mutex<Option<String>>,
}

impl Counters {
    /// Counts one watch notification.
    pub(crate) fn watch_event(&self) {
        self.watch_events.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` read requests sent.
    pub(crate) fn reads(&self, n: u64) {
        self.reads.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` bytes of data read.
    pub(crate) fn bytes(&self, n: usize) {
        self.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Counts one create or rewrite of the registration znode.
    pub(crate) fn registry_write(&self) {
        self.registry_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets (or clears) the current registration's path.
    pub(crate) fn set_registration(&self, path: Option<String>) {
        *self.registration.lock().expect("never poisoned") = path;
    }

    /// The current registration's path.
    pub(crate) fn registration(&self) -> Option<String> {
        self.registration.lock().expect("never poisoned").clone()
    }

    /// The counters right now.
    pub(crate) fn snapshot(&self) -> ClientStats {
        ClientStats {
            watch_events: self.watch_events.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            registry_writes: self.registry_writes.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up() {
        let counters = Counters::default();
        counters.watch_event();
        counters.reads(3);
        counters.bytes(10);
        counters.bytes(5);
        counters.registry_write();
        counters.set_registration(Some("/services/s/clients/c0000000001".into()));
        let stats = counters.snapshot();
        assert_eq!(
            (
                stats.watch_events,
                stats.reads,
                stats.bytes_read,
                stats.registry_writes
            ),
            (1, 3, 15, 1)
        );
        assert_eq!(
            counters.registration().as_deref(),
            Some("/services/s/clients/c0000000001")
        );
    }
}
