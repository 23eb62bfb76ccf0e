//! Random delays that keep many clients from acting at the same moment:
//! the reads a reconnect still needs, a new session after expiry, and
//! registry writes are each delayed by a uniform random part of a bound,
//! so a fleet that lost ZooKeeper together does not come back together.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest random delay before a new session is built after expiry,
/// and before the reads a reconnect still needs: the smaller of 1 s and a
/// quarter of the session timeout (`timeout`), so the delay stays well
/// inside the time the session had anyway.
pub(crate) fn spread(timeout: Duration) -> Duration {
    (timeout / 4).min(Duration::from_secs(1))
}

/// A duration drawn uniformly from `[0, bound)` (zero for a zero bound).
pub(crate) fn uniform(bound: Duration) -> Duration {
    let unit = (next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    bound.mul_f64(unit)
}

/// splitmix64 over a process-wide counter seeded from the clock and the
/// process id: jitter needs spread, not cryptographic randomness, and two
/// clients of one process draw different values.
fn next_u64() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
    if STATE.load(Ordering::Relaxed) == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = (nanos ^ (u64::from(std::process::id()) << 32)) | 1;
        let _ = STATE.compare_exchange(0, seed, Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut z = STATE
        .fetch_add(GAMMA, Ordering::Relaxed)
        .wrapping_add(GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_stays_below_its_bound_and_spreads() {
        let bound = Duration::from_millis(100);
        let draws: Vec<Duration> = (0..1000).map(|_| uniform(bound)).collect();
        assert!(draws.iter().all(|d| *d < bound));
        let low = draws.iter().filter(|d| **d < bound / 2).count();
        assert!((350..650).contains(&low), "{low} of 1000 below the middle");
        assert_eq!(uniform(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_spread_is_a_quarter_of_the_timeout_up_to_a_second() {
        assert_eq!(spread(Duration::from_secs(2)), Duration::from_millis(500));
        assert_eq!(spread(Duration::from_secs(30)), Duration::from_secs(1));
    }
}
