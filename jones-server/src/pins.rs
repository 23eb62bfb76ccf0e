//! Pins: environments whose view is frozen at what it was right after a
//! history entry. A pinned environment's view is the pin's, whatever its
//! lineage's confs say; its children's views are computed from it as from
//! any parent, so edits above a pin stop at it, and edits below it still
//! land.
//!
//! ```text
//! /services/{svc}/pins   {"prod": {"to": 42, "view": {...}}, ...}
//! ```
//!
//! One znode holds every pin of a service, so a write reads them with the
//! service znode, in one request. Every change of the pins also rewrites
//! the service znode (same data), moving its version, which every write
//! that computes views checks: a write planned with other pins fails and
//! plans again. Original Jones never reads `pins`; its clients read a
//! pinned view like any other.

use std::collections::BTreeMap;

use jones_client::{Config, EnvPath, MergeMode, ServiceLayout};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One pin: the entry it goes back to, and the view it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    /// The history entry the view is as of.
    pub to: u64,
    /// The view, as it was right after entry `to`.
    pub view: Config,
}

/// The pins of a service, as stored, with the znode's version (`None`
/// when the service has never had a pin).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Pins {
    pub pins: BTreeMap<EnvPath, Pin>,
    pub version: Option<i32>,
}

/// The service's pins znode.
pub(crate) fn pins_path(layout: &ServiceLayout) -> String {
    format!("{}/pins", layout.service_path())
}

impl Pins {
    /// The pins a znode's data holds (`None`: no znode).
    pub(crate) fn parse(path: &str, stored: Option<(&[u8], i32)>) -> Result<Self> {
        let Some((data, version)) = stored else {
            return Ok(Self::default());
        };
        let corrupt = |reason: String| Error::Corrupt {
            path: path.to_owned(),
            reason,
        };
        let raw: BTreeMap<String, Pin> = if data.iter().all(u8::is_ascii_whitespace) {
            BTreeMap::new()
        } else {
            serde_json::from_slice(data).map_err(|e| corrupt(format!("not a map of pins: {e}")))?
        };
        let pins = raw
            .into_iter()
            .map(|(env, pin)| {
                let env = EnvPath::new(&env).map_err(|e| corrupt(format!("pin {env:?}: {e}")))?;
                Ok((env, pin))
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            pins,
            version: Some(version),
        })
    }

    /// The pin of `env`, if any.
    pub(crate) fn get(&self, env: &EnvPath) -> Option<&Pin> {
        self.pins.get(env)
    }

    /// The view of the last environment of `chain` (a lineage's confs,
    /// root first): merged in `merge` mode, restarting from the pin's view
    /// at every pinned environment.
    pub(crate) fn lineage_view<'a>(
        &self,
        merge: MergeMode,
        chain: impl IntoIterator<Item = (&'a EnvPath, &'a Config)>,
    ) -> Config {
        let mut view = Config::new();
        for (env, config) in chain {
            self.apply(merge, &mut view, env, config);
        }
        view
    }

    /// Turns `view`, the parent's view, into `env`'s: the pin's view when
    /// `env` is pinned, else updated with `config`.
    pub(crate) fn apply(
        &self,
        merge: MergeMode,
        view: &mut Config,
        env: &EnvPath,
        config: &Config,
    ) {
        match self.get(env) {
            Some(pin) => view.clone_from(&pin.view),
            None => merge.merge_into(view, config),
        }
    }

    /// The znode's data with `pins`.
    pub(crate) fn encode(pins: &BTreeMap<EnvPath, Pin>) -> Vec<u8> {
        let raw: BTreeMap<&str, &Pin> = pins.iter().map(|(e, p)| (e.as_str(), p)).collect();
        serde_json::to_vec(&raw).expect("pins serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: serde_json::Value) -> Config {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_pin_restarts_the_merge_of_its_lineage() {
        let (root, prod, eu) = (
            EnvPath::root(),
            EnvPath::new("prod").unwrap(),
            EnvPath::new("prod/eu").unwrap(),
        );
        let confs = [
            (root.clone(), obj(json!({"a": 1, "b": 1}))),
            (prod.clone(), obj(json!({"b": 2}))),
            (eu.clone(), obj(json!({"c": 3}))),
        ];
        let chain = || confs.iter().map(|(e, c)| (e, c));
        let none = Pins::default();
        assert_eq!(
            none.lineage_view(MergeMode::Shallow, chain()),
            obj(json!({"a": 1, "b": 2, "c": 3}))
        );
        let mut pinned = Pins::default();
        pinned.pins.insert(
            prod.clone(),
            Pin {
                to: 7,
                view: obj(json!({"a": 0, "old": true})),
            },
        );
        assert_eq!(
            pinned.lineage_view(MergeMode::Shallow, chain()),
            obj(json!({"a": 0, "old": true, "c": 3}))
        );
        assert_eq!(
            pinned.lineage_view(MergeMode::Shallow, chain().take(2)),
            obj(json!({"a": 0, "old": true}))
        );
    }

    #[test]
    fn stored_pins_round_trip_and_garbage_is_named() {
        let mut pins = BTreeMap::new();
        pins.insert(
            EnvPath::new("a/b").unwrap(),
            Pin {
                to: 3,
                view: obj(json!({"k": 1})),
            },
        );
        let data = Pins::encode(&pins);
        let parsed = Pins::parse("/p", Some((&data, 4))).unwrap();
        assert_eq!((parsed.pins, parsed.version), (pins, Some(4)));
        assert_eq!(Pins::parse("/p", None).unwrap(), Pins::default());
        assert!(Pins::parse("/p", Some((b"", 0))).unwrap().pins.is_empty());
        for garbage in [
            &b"[1]"[..],
            b"{\"a\": 1}",
            b"{\"../x\": {\"to\": 1, \"view\": {}}}",
        ] {
            let e = Pins::parse("/p", Some((garbage, 0))).unwrap_err();
            assert!(e.to_string().contains("/p"), "{e}");
        }
    }
}
