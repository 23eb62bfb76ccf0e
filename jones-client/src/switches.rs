//! Switches: feature toggles, sticky percentage rollouts and bucket lists,
//! read from config values. Pure functions of a config, so every client
//! language can implement the same rules.
//!
//! | switch | config value | on when |
//! | --- | --- | --- |
//! | [`enabled`] | `true` | the value is the boolean `true` |
//! | [`percentage`] | a number in `[0, 100]` (fractions allowed) | `bucket(flag, unit) < round(pct × 100)` |
//! | [`in_buckets`] | a positive integer, and an array of integers | `id % buckets` is in the array |
//!
//! The percentage bucket of a unit is the 64-bit FNV-1a hash of the UTF-8
//! bytes of `"{flag}:{unit}"`, modulo 10000 (so it is in `[0, 10000)`, and
//! a percentage counts in hundredths of a percent). A unit in at `p`% is
//! in at every higher percentage: raising the rollout never turns a unit
//! off. Test vectors, for implementations in other languages:
//!
//! | flag | unit | FNV-1a 64 of `flag:unit` | bucket |
//! | --- | --- | --- | --- |
//! | `pct_new_queue` | `1` | `0x826faec5f64cc254` | 452 |
//! | `pct_new_queue` | `42` | `0xf07dea618465364b` | 9483 |
//! | `pct_new_queue` | `user-17` | `0x602cc7a211e051e1` | 3793 |
//! | `checkout` | `alice` | `0xdd3789f73e92a083` | 4099 |
//! | (empty) | (empty) | `0xaf63b74c8601adad` (hash of `:`) | 8189 |
//!
//! Anything else (missing key, wrong type, a percentage out of range is
//! clamped, a non-positive bucket count) reads as *off* and is a
//! [`Miss`], which the client counts.

use std::fmt::{self, Write};

use serde_json::Value;

use crate::Config;

/// Number of percentage buckets: a percentage counts in hundredths.
pub const PERCENT_BUCKETS: u64 = 10_000;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Why a switch read as off without being set to off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The key is not in the config.
    Missing,
    /// The value has the wrong type (or is out of its domain).
    WrongType,
}

/// FNV-1a 64 as a `fmt::Write`, so a unit id is hashed from its `Display`
/// without building a string.
struct Fnv1a(u64);

impl Fnv1a {
    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }
}

impl Write for Fnv1a {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.update(s.as_bytes());
        Ok(())
    }
}

/// The FNV-1a 64 hash of `"{flag}:{unit}"`.
///
/// ```
/// assert_eq!(jones_client::switches::rollout_hash("pct_new_queue", 42), 0xf07dea618465364b);
/// ```
pub fn rollout_hash(flag: &str, unit: impl fmt::Display) -> u64 {
    let mut hasher = Fnv1a(FNV_OFFSET);
    hasher.update(flag.as_bytes());
    hasher.update(b":");
    write!(hasher, "{unit}").expect("hashing never fails");
    hasher.0
}

/// The percentage bucket of `unit` for `flag`, in `[0, 10000)`.
///
/// ```
/// assert_eq!(jones_client::switches::rollout_bucket("pct_new_queue", "user-17"), 3793);
/// ```
pub fn rollout_bucket(flag: &str, unit: impl fmt::Display) -> u64 {
    rollout_hash(flag, unit) % PERCENT_BUCKETS
}

/// Whether `flag` is the boolean `true`.
pub fn enabled(config: &Config, flag: &str) -> Result<bool, Miss> {
    match config.get(flag) {
        Some(Value::Bool(on)) => Ok(*on),
        Some(_) => Err(Miss::WrongType),
        None => Err(Miss::Missing),
    }
}

/// Whether `unit` is inside the rollout percentage stored at `flag`.
pub fn percentage(config: &Config, flag: &str, unit: impl fmt::Display) -> Result<bool, Miss> {
    let pct = match config.get(flag) {
        Some(Value::Number(n)) => n.as_f64().ok_or(Miss::WrongType)?,
        Some(_) => return Err(Miss::WrongType),
        None => return Err(Miss::Missing),
    };
    if !(0.0..=100.0).contains(&pct) {
        return Err(Miss::WrongType);
    }
    Ok(rollout_bucket(flag, unit) < threshold(pct))
}

/// The bucket count below which units are in, for `pct` in `[0, 100]`.
fn threshold(pct: f64) -> u64 {
    // In range, so the cast is exact enough: 0..=10000.
    (pct * 100.0).round() as u64
}

/// Whether `id % buckets` is one of `enabled_for`, where `buckets_key`
/// holds a positive integer and `enabled_for_key` an array of integers.
pub fn in_buckets(
    config: &Config,
    buckets_key: &str,
    enabled_for_key: &str,
    id: u64,
) -> Result<bool, Miss> {
    let buckets = match config.get(buckets_key) {
        Some(Value::Number(n)) => n.as_u64().filter(|&b| b > 0).ok_or(Miss::WrongType)?,
        Some(_) => return Err(Miss::WrongType),
        None => return Err(Miss::Missing),
    };
    let list = match config.get(enabled_for_key) {
        Some(Value::Array(list)) => list,
        Some(_) => return Err(Miss::WrongType),
        None => return Err(Miss::Missing),
    };
    let bucket = id % buckets;
    let mut found = false;
    for item in list {
        match item.as_u64() {
            Some(b) => found |= b == bucket,
            None => return Err(Miss::WrongType),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn config(v: Value) -> Config {
        v.as_object().unwrap().clone()
    }

    /// The vectors of the module docs, computed independently of the
    /// streaming hasher above (plain FNV-1a over the joined string).
    #[test]
    fn hash_test_vectors() {
        fn reference(s: &str) -> u64 {
            s.bytes().fold(FNV_OFFSET, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(FNV_PRIME)
            })
        }
        // Published FNV-1a 64 vectors.
        assert_eq!(reference(""), 0xcbf29ce484222325);
        assert_eq!(reference("a"), 0xaf63dc4c8601ec8c);
        assert_eq!(reference("foobar"), 0x85944171f73967e8);
        let vectors: [(&str, &str, u64, u64); 5] = [
            ("pct_new_queue", "1", 0x826faec5f64cc254, 452),
            ("pct_new_queue", "42", 0xf07dea618465364b, 9483),
            ("pct_new_queue", "user-17", 0x602cc7a211e051e1, 3793),
            ("checkout", "alice", 0xdd3789f73e92a083, 4099),
            ("", "", 0xaf63b74c8601adad, 8189),
        ];
        for (flag, unit, hash, bucket) in vectors {
            assert_eq!(reference(&format!("{flag}:{unit}")), hash, "{flag}:{unit}");
            assert_eq!(rollout_hash(flag, unit), hash, "{flag}:{unit}");
            assert_eq!(rollout_bucket(flag, unit), bucket, "{flag}:{unit}");
        }
        // Integers hash as their decimal form.
        assert_eq!(
            rollout_hash("pct_new_queue", 42u64),
            rollout_hash("pct_new_queue", "42")
        );
    }

    #[test]
    fn enabled_is_true_only_for_true() {
        let c = config(json!({"on": true, "off": false, "str": "true", "one": 1}));
        assert_eq!(enabled(&c, "on"), Ok(true));
        assert_eq!(enabled(&c, "off"), Ok(false));
        assert_eq!(enabled(&c, "str"), Err(Miss::WrongType));
        assert_eq!(enabled(&c, "one"), Err(Miss::WrongType));
        assert_eq!(enabled(&c, "nope"), Err(Miss::Missing));
    }

    #[test]
    fn percentage_edges() {
        let c =
            config(json!({"zero": 0, "all": 100, "half": 50.5, "neg": -1, "big": 101, "s": "50"}));
        for unit in 0..500u32 {
            assert_eq!(percentage(&c, "zero", unit), Ok(false));
            assert_eq!(percentage(&c, "all", unit), Ok(true));
            let bucket = rollout_bucket("half", unit);
            assert_eq!(percentage(&c, "half", unit), Ok(bucket < 5050));
        }
        assert_eq!(percentage(&c, "neg", 1), Err(Miss::WrongType));
        assert_eq!(percentage(&c, "big", 1), Err(Miss::WrongType));
        assert_eq!(percentage(&c, "s", 1), Err(Miss::WrongType));
        assert_eq!(percentage(&c, "nope", 1), Err(Miss::Missing));
        // The vectors: unit 42 of pct_new_queue has bucket 9483.
        let at = |p: f64| config(json!({ "pct_new_queue": p }));
        assert_eq!(percentage(&at(94.83), "pct_new_queue", 42), Ok(false));
        assert_eq!(percentage(&at(94.84), "pct_new_queue", 42), Ok(true));
    }

    #[test]
    fn percentage_spreads_units_evenly() {
        let c = config(json!({"f": 30}));
        let n = 20_000u32;
        let on = (0..n)
            .filter(|u| percentage(&c, "f", u) == Ok(true))
            .count();
        let share = on as f64 / f64::from(n);
        assert!((0.28..0.32).contains(&share), "{share}");
    }

    #[test]
    fn buckets() {
        let c = config(json!({"n": 10, "on": [1, 3], "zero": 0, "bad": [1, "x"], "s": "10"}));
        assert_eq!(in_buckets(&c, "n", "on", 21), Ok(true));
        assert_eq!(in_buckets(&c, "n", "on", 13), Ok(true));
        assert_eq!(in_buckets(&c, "n", "on", 12), Ok(false));
        assert_eq!(in_buckets(&c, "zero", "on", 1), Err(Miss::WrongType));
        assert_eq!(in_buckets(&c, "n", "bad", 1), Err(Miss::WrongType));
        assert_eq!(in_buckets(&c, "s", "on", 1), Err(Miss::WrongType));
        assert_eq!(in_buckets(&c, "n", "nope", 1), Err(Miss::Missing));
        assert_eq!(in_buckets(&c, "nope", "on", 1), Err(Miss::Missing));
    }

    proptest! {
        #[test]
        fn raising_the_percentage_never_turns_a_unit_off(
            flag in "[a-z_]{1,12}",
            unit in any::<u64>(),
            low in 0.0f64..=100.0,
            raise in 0.0f64..=100.0,
        ) {
            let high = (low + raise).min(100.0);
            let was = percentage(&config(json!({ &flag: low })), &flag, unit).unwrap();
            let now = percentage(&config(json!({ &flag: high })), &flag, unit).unwrap();
            prop_assert!(!was || now, "unit {unit} of {flag} in at {low}% but out at {high}%");
        }

        #[test]
        fn bucket_is_in_range(flag in ".{0,10}", unit in ".{0,10}") {
            prop_assert!(rollout_bucket(&flag, &unit) < PERCENT_BUCKETS);
        }
    }
}
