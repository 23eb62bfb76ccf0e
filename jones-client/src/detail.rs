//! Evaluation details: a value read from the config together with why it
//! is that value and which revision it came from, for logs, metrics and
//! the OpenFeature provider.

use crate::Revision;

/// A value with the reason for it and the revision it was read from; from
/// [`crate::JonesClient::get_detail`], the `*_detail` switches and the
/// typed handles.
///
/// ```
/// use jones_client::{JonesClient, Reason, parse_config};
/// let client = JonesClient::from_config(parse_config(br#"{"workers": 8, "name": "x"}"#).unwrap());
/// assert_eq!(client.get_detail("workers", 4u32).reason, Reason::Found);
/// let missing = client.get_detail("threads", 4u32);
/// assert_eq!((missing.value, missing.reason), (4, Reason::Missing));
/// assert_eq!(client.get_detail("name", 4u32).reason, Reason::WrongType);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Detail<T> {
    /// The value: read from the config, or the default (see `reason`).
    pub value: T,
    /// Why the value is what it is.
    pub reason: Reason,
    /// The revision of the config it was read from; `None` when that
    /// config did not come from ZooKeeper (defaults, a test config).
    pub revision: Option<Revision>,
}

impl<T> Detail<T> {
    /// Whether the value is the caller's default rather than one read from
    /// the config.
    pub fn is_default(&self) -> bool {
        self.reason.is_default()
    }
}

/// Why an evaluated value is what it is; see [`Detail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Read from the current config.
    Found,
    /// Read from a config that may be out of date: the session is
    /// disconnected, a read is failing, or it came from the cache file
    /// (see [`crate::JonesClient::status`]).
    Stale,
    /// The default: the key is not in the config.
    Missing,
    /// The default: the key's value is not of the type asked for (or, for
    /// a switch, not a valid switch value).
    WrongType,
    /// The default: the client started without waiting and no config has
    /// been read yet.
    NotReady,
}

impl Reason {
    /// Whether a value with this reason is the caller's default.
    pub fn is_default(self) -> bool {
        !matches!(self, Reason::Found | Reason::Stale)
    }

    /// The reason for a lookup of a present value (`found`) or a miss,
    /// given the state of the client.
    #[inline]
    pub(crate) fn of(found: Result<(), Reason>, ready: bool, stale: bool) -> Reason {
        match found {
            Ok(()) if stale => Reason::Stale,
            Ok(()) => Reason::Found,
            Err(Reason::Missing) if !ready => Reason::NotReady,
            Err(miss) => miss,
        }
    }
}

impl From<crate::switches::Miss> for Reason {
    fn from(miss: crate::switches::Miss) -> Self {
        match miss {
            crate::switches::Miss::Missing => Reason::Missing,
            crate::switches::Miss::WrongType => Reason::WrongType,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_miss_before_the_first_config_is_not_ready_and_staleness_marks_found_values() {
        assert_eq!(Reason::of(Ok(()), true, false), Reason::Found);
        assert_eq!(Reason::of(Ok(()), true, true), Reason::Stale);
        assert_eq!(Reason::of(Ok(()), false, true), Reason::Stale);
        assert_eq!(
            Reason::of(Err(Reason::Missing), false, false),
            Reason::NotReady
        );
        assert_eq!(
            Reason::of(Err(Reason::Missing), true, true),
            Reason::Missing
        );
        assert_eq!(
            Reason::of(Err(Reason::WrongType), false, false),
            Reason::WrongType
        );
        assert!(Reason::Missing.is_default() && !Reason::Stale.is_default());
    }
}
