//! The client's health: connection, staleness, last error, revision.

use std::sync::Mutex;
use std::time::SystemTime;

use crate::Revision;

/// How a client stands, from [`crate::JonesClient::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Whether the ZooKeeper session is connected right now.
    pub connected: bool,
    /// Since when the served config may not be the latest: the connection
    /// was lost, the view or nodemap is deleted or unreadable, or the config
    /// came from the fallback cache. `None` while it is current.
    pub stale_since: Option<SystemTime>,
    /// The last problem (connection, session, unparseable view or nodemap,
    /// deleted view), `None` once everything is fine again.
    pub last_error: Option<String>,
    /// The revision of the served config, `None` if it did not come from
    /// ZooKeeper.
    pub revision: Option<Revision>,
    /// The view znode the served config was read from.
    pub view_path: String,
    /// Whether the served config came from the fallback cache file.
    pub from_cache: bool,
    /// ZooKeeper sessions established so far (more than one after expiry).
    pub sessions: u64,
    /// Switch reads that fell back to off because of a missing key or a
    /// value of the wrong type.
    pub switch_misses: u64,
}

/// Which data a problem is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    Nodemap,
    View,
}

/// What the driver knows that the session does not: problems with the
/// data (nodemap, view), and since when.
#[derive(Debug, Default)]
pub(crate) struct DataHealth {
    inner: Mutex<[Option<(String, SystemTime)>; 2]>,
}

impl DataHealth {
    /// Records a problem; keeps the time of the first one of its part.
    pub(crate) fn problem(&self, part: Part, message: String) {
        let mut inner = self.inner.lock().expect("never poisoned");
        let slot = &mut inner[part as usize];
        let since = slot.as_ref().map_or_else(SystemTime::now, |(_, t)| *t);
        *slot = Some((message, since));
    }

    /// The part is current again.
    pub(crate) fn clear(&self, part: Part) {
        self.inner.lock().expect("never poisoned")[part as usize] = None;
    }

    /// The latest problem and the earliest time, over both parts.
    pub(crate) fn get(&self) -> (Option<String>, Option<SystemTime>) {
        let inner = self.inner.lock().expect("never poisoned");
        let problems = inner.iter().flatten();
        let since = problems.clone().map(|(_, t)| *t).min();
        let message = problems
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        ((!message.is_empty()).then_some(message), since)
    }
}
