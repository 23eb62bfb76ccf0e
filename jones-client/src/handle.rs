//! Typed handles for hot paths: [`Setting`] and [`Switch`] hold one key's
//! value already converted, refreshed by the store in the publish of each
//! new config. A read is a load of that value from the handle's own slot
//! (an `ArcSwap`; for [`Switch::enabled`], an atomic byte): no lookup, no
//! deserialization, and no per-thread cache to share with other handles,
//! so it costs the same however many handles a thread reads.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::de::DeserializeOwned;

use crate::store::{Refresh, Store};
use crate::{Detail, Reason, Snapshot, switches};
use arc_swap::ArcSwap;

/// One key's value, converted when the config changed.
#[derive(Debug)]
struct Resolved<T> {
    value: T,
    /// `Ok` when read from the config, else the reason for the default.
    found: Result<(), Reason>,
    revision: Option<crate::Revision>,
}

impl<T> Resolved<T> {
    fn detail(&self, store: &Store) -> Detail<T>
    where
        T: Clone,
    {
        Detail {
            value: self.value.clone(),
            reason: Reason::of(self.found, store.is_ready(), store.is_stale()),
            revision: self.revision,
        }
    }
}

struct SettingSlot<T> {
    key: String,
    default: T,
    current: ArcSwap<Resolved<T>>,
}

/// `key`'s value in `snapshot` as a `T`, or `default` with the reason.
fn resolve<T: DeserializeOwned + Clone>(
    snapshot: &Snapshot,
    key: &str,
    default: &T,
) -> Resolved<T> {
    let (value, found) = match snapshot.config.get(key) {
        None => (default.clone(), Err(Reason::Missing)),
        Some(value) => match T::deserialize(value) {
            Ok(value) => (value, Ok(())),
            Err(_) => (default.clone(), Err(Reason::WrongType)),
        },
    };
    Resolved {
        value,
        found,
        revision: snapshot.revision,
    }
}

impl<T: DeserializeOwned + Clone + Send + Sync + 'static> Refresh for SettingSlot<T> {
    fn refresh(&self, snapshot: &Snapshot) {
        let resolved = resolve(snapshot, &self.key, &self.default);
        self.current.store(Arc::new(resolved));
    }
}

/// A live, typed setting; from [`crate::JonesClient::setting`].
///
/// Its value is converted once per config change, so [`Setting::get`] is
/// a load from the handle's own slot and a clone (free for numbers and
/// booleans), whatever `T` is and however many handles there are.
/// A missing key or a value that is not a `T` reads as the default.
/// Clones share the value; the handle stops being refreshed when the last
/// clone is dropped or the client is closed.
///
/// ```
/// use jones_client::{TestData, parse_config};
/// let data = TestData::new(parse_config(br#"{"workers": 4}"#).unwrap());
/// let workers = data.client().setting("workers", 1u32);
/// assert_eq!(workers.get(), 4);
/// data.set("workers", 16);
/// assert_eq!(workers.get(), 16);
/// data.remove("workers");
/// assert_eq!(workers.get(), 1);
/// ```
pub struct Setting<T> {
    slot: Arc<SettingSlot<T>>,
    store: Arc<Store>,
}

impl<T: DeserializeOwned + Clone + Send + Sync + 'static> Setting<T> {
    pub(crate) fn new(store: &Arc<Store>, key: &str, default: T) -> Self {
        let slot = store.add_handle(|snapshot| SettingSlot {
            current: ArcSwap::new(Arc::new(resolve(snapshot, key, &default))),
            key: key.to_owned(),
            default,
        });
        Self {
            slot,
            store: store.clone(),
        }
    }

    /// The current value (or the default).
    #[inline]
    pub fn get(&self) -> T {
        self.slot.current.load().value.clone()
    }

    /// Calls `read` with the current value, without cloning it: for large
    /// values (strings, lists, structs).
    #[inline]
    pub fn with<R>(&self, read: impl FnOnce(&T) -> R) -> R {
        read(&self.slot.current.load().value)
    }

    /// The current value with its reason and revision.
    pub fn detail(&self) -> Detail<T> {
        self.slot.current.load().detail(&self.store)
    }

    /// The key this setting follows.
    pub fn key(&self) -> &str {
        &self.slot.key
    }
}

impl<T> Clone for Setting<T> {
    fn clone(&self) -> Self {
        Self {
            slot: self.slot.clone(),
            store: self.store.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Setting<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("key", &self.slot.key)
            .field("current", &*self.slot.current.load_full())
            .finish()
    }
}

/// What a switch read: on/off in bit 0, a miss in bit 1.
const ON: u8 = 1;
const MISS: u8 = 2;

struct SwitchSlot {
    flag: String,
    default: bool,
    /// [`ON`] and [`MISS`] bits, for [`Switch::enabled`].
    state: AtomicU8,
    /// The same with its reason and revision, for [`Switch::detail`].
    current: ArcSwap<Resolved<bool>>,
}

impl SwitchSlot {
    fn resolve(flag: &str, default: bool, snapshot: &Snapshot) -> (u8, Resolved<bool>) {
        let (value, found) = match switches::enabled(&snapshot.config, flag) {
            Ok(on) => (on, Ok(())),
            Err(miss) => (default, Err(Reason::from(miss))),
        };
        let state = match (value, found.is_err()) {
            (true, true) => ON | MISS,
            (true, false) => ON,
            (false, true) => MISS,
            (false, false) => 0,
        };
        let resolved = Resolved {
            value,
            found,
            revision: snapshot.revision,
        };
        (state, resolved)
    }
}

impl Refresh for SwitchSlot {
    fn refresh(&self, snapshot: &Snapshot) {
        let (state, resolved) = Self::resolve(&self.flag, self.default, snapshot);
        self.current.store(Arc::new(resolved));
        self.state.store(state, Ordering::Release);
    }
}

/// A live feature toggle; from [`crate::JonesClient::switch`].
///
/// On iff the flag is the boolean `true`, as [`crate::JonesClient::enabled`];
/// a missing flag or one of another type reads as the default and counts
/// as a switch miss. [`Switch::enabled`] is one atomic load.
///
/// ```
/// use jones_client::{TestData, parse_config};
/// let data = TestData::new(parse_config(br#"{"new_checkout": false}"#).unwrap());
/// let new_checkout = data.client().switch("new_checkout");
/// assert!(!new_checkout.enabled());
/// data.switch("new_checkout", true);
/// assert!(new_checkout.enabled());
/// let kill_switch = data.client().switch_or("serve_recommendations", true);
/// assert!(kill_switch.enabled(), "a missing kill switch stays on");
/// ```
#[derive(Clone)]
pub struct Switch {
    slot: Arc<SwitchSlot>,
    store: Arc<Store>,
}

impl Switch {
    pub(crate) fn new(store: &Arc<Store>, flag: &str, default: bool) -> Self {
        let slot = store.add_handle(|snapshot| {
            let (state, resolved) = SwitchSlot::resolve(flag, default, snapshot);
            SwitchSlot {
                flag: flag.to_owned(),
                default,
                state: AtomicU8::new(state),
                current: ArcSwap::new(Arc::new(resolved)),
            }
        });
        Self {
            slot,
            store: store.clone(),
        }
    }

    /// Whether the switch is on.
    #[inline]
    pub fn enabled(&self) -> bool {
        let state = self.slot.state.load(Ordering::Acquire);
        if state & MISS != 0 {
            self.store.count_switch_miss();
        }
        state & ON != 0
    }

    /// Whether the switch is on, with the reason and revision.
    pub fn detail(&self) -> Detail<bool> {
        self.slot.current.load().detail(&self.store)
    }

    /// The flag this switch follows.
    pub fn flag(&self) -> &str {
        &self.slot.flag
    }
}

impl fmt::Debug for Switch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Switch")
            .field("flag", &self.slot.flag)
            .field("current", &*self.slot.current.load_full())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use crate::{TestData, parse_config};

    #[test]
    fn many_handles_on_one_thread_each_read_their_own_current_value() {
        let data = TestData::new(parse_config(b"{}").unwrap());
        let client = data.client();
        let settings: Vec<_> = (0..40)
            .map(|i| client.setting(&format!("k{i}"), 0u64))
            .collect();
        let switches: Vec<_> = (0..40).map(|i| client.switch(&format!("s{i}"))).collect();
        for round in 1..4u64 {
            for i in 0..40u64 {
                data.set(&format!("k{i}"), i * round);
                data.switch(&format!("s{i}"), (i + round) % 2 == 0);
            }
            for (i, setting) in (0u64..).zip(&settings) {
                assert_eq!(setting.get(), i * round);
                assert_eq!(setting.detail().value, i * round);
            }
            for (i, switch) in (0u64..).zip(&switches) {
                assert_eq!(switch.detail().value, (i + round) % 2 == 0);
            }
        }
    }
}
