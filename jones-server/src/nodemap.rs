//! The nodemap as the server writes it: which format, and how large.
//!
//! Every Jones client reads `/services/{svc}/nodemaps`. Upstream Jones
//! since 0.6 (its server, its Python client, the Go and .NET clients in its
//! `contrib/`) writes a JSON object `{"host": "/services/S/views/env"}` and
//! still reads the older ` -> ` lines; the 0.5.x Python client on PyPI reads
//! lines only. So:
//!
//! - a nodemap that already holds data keeps its format (a fleet still on
//!   0.5.x keeps working);
//! - a service that used lines keeps lines even once its nodemap is empty
//!   (an empty nodemap is the same bytes in both formats): the first lines
//!   nodemap the server writes, or a service created by a lines server,
//!   records `"nodemap": "lines"` in the service znode's settings (where
//!   the merge mode is stored), and an empty nodemap takes that format;
//! - any other empty or new nodemap gets the server's default format
//!   (`--nodemap-format`, JSON unless told otherwise);
//! - both formats are always read ([`Nodemap::parse`]).

use std::str::FromStr;

use jones_client::{Nodemap, ServiceLayout};

use crate::materialize::MAX_NODE_BYTES;
use crate::{Error, Result};

/// How a nodemap is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NodemapFormat {
    /// A JSON object, as upstream Jones writes it since 0.6.
    #[default]
    Json,
    /// One `host -> /services/S/views/env` per line, as Jones 0.5 wrote it.
    Lines,
}

impl NodemapFormat {
    /// The format of a stored nodemap; `None` when it holds nothing (then
    /// the server's default applies).
    pub fn of_stored(data: &[u8]) -> Option<Self> {
        let text = data.trim_ascii_start();
        match text.first() {
            None => None,
            Some(b'{') => Some(Self::Json),
            Some(_) => Some(Self::Lines),
        }
    }

    /// `map` in this format.
    pub fn encode(self, map: &Nodemap) -> Vec<u8> {
        match self {
            Self::Lines => map.to_bytes(),
            Self::Json => {
                let object: serde_json::Map<String, serde_json::Value> = map
                    .iter()
                    .map(|(name, path)| (name.to_owned(), path.into()))
                    .collect();
                serde_json::to_vec(&object).expect("a map of strings is JSON")
            }
        }
    }

    /// The name stored in a service's settings.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Lines => "lines",
        }
    }

    /// The format a service znode's settings record (`{"nodemap":
    /// "lines"}`), if any; unreadable settings record none.
    pub(crate) fn recorded(service_data: &[u8]) -> Option<Self> {
        let settings: serde_json::Value = serde_json::from_slice(service_data).ok()?;
        settings.get("nodemap")?.as_str()?.parse().ok()
    }

    /// What a new service's nodemap holds.
    pub fn empty(self) -> Vec<u8> {
        match self {
            Self::Json => b"{}".to_vec(),
            Self::Lines => Vec::new(),
        }
    }
}

impl FromStr for NodemapFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "lines" => Ok(Self::Lines),
            other => Err(format!(
                "unknown nodemap format {other:?}: expected `json` or `lines`"
            )),
        }
    }
}

/// A stored nodemap, parsed, with the format to write it back in.
#[derive(Debug, Clone)]
pub(crate) struct StoredNodemap {
    pub map: Nodemap,
    pub format: NodemapFormat,
    /// The service znode as read (data, version) when the format is lines
    /// and its settings do not record that yet: writing the nodemap then
    /// records it too (see the module doc).
    pub record_lines: Option<(Vec<u8>, i32)>,
}

impl StoredNodemap {
    /// Parses the nodemap stored at `layout`'s nodemap path; `service` is
    /// the service znode's data and version, when read.
    pub(crate) fn parse(
        layout: &ServiceLayout,
        data: &[u8],
        default: NodemapFormat,
        service: Option<(&[u8], i32)>,
    ) -> Result<Self> {
        let map = Nodemap::parse(data).map_err(|e| Error::Corrupt {
            path: layout.nodemap_path().to_owned(),
            reason: e.to_string(),
        })?;
        let recorded = service.and_then(|(data, _)| NodemapFormat::recorded(data));
        let format = NodemapFormat::of_stored(data)
            .or(recorded)
            .unwrap_or(default);
        let record_lines = match (format, recorded, service) {
            (NodemapFormat::Lines, None, Some((data, version))) => Some((data.to_vec(), version)),
            _ => None,
        };
        Ok(Self {
            map,
            format,
            record_lines,
        })
    }

    /// The bytes to store, refused when over the node limit.
    pub(crate) fn encode(&self) -> Result<Vec<u8>> {
        let data = self.format.encode(&self.map);
        if data.len() > MAX_NODE_BYTES {
            return Err(Error::TooLarge {
                reason: format!(
                    "the nodemap would be {} bytes ({} associations), the limit is {MAX_NODE_BYTES}",
                    data.len(),
                    self.map.len()
                ),
            });
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip_and_are_detected() {
        let mut map = Nodemap::new();
        map.insert("web1", "/services/s/views/prod".into()).unwrap();
        map.insert("web2", "/services/s/views/dev".into()).unwrap();
        for format in [NodemapFormat::Json, NodemapFormat::Lines] {
            let data = format.encode(&map);
            assert_eq!(NodemapFormat::of_stored(&data), Some(format));
            assert_eq!(Nodemap::parse(&data).unwrap(), map);
        }
        let json: serde_json::Value =
            serde_json::from_slice(&NodemapFormat::Json.encode(&map)).unwrap();
        assert_eq!(json["web1"], "/services/s/views/prod");
        assert_eq!(NodemapFormat::of_stored(b""), None);
        assert_eq!(NodemapFormat::of_stored(b"  \n"), None);
        assert_eq!(NodemapFormat::of_stored(b" {}"), Some(NodemapFormat::Json));
        assert!(
            Nodemap::parse(&NodemapFormat::Json.empty())
                .unwrap()
                .is_empty()
        );
        assert_eq!("lines".parse(), Ok(NodemapFormat::Lines));
        assert_eq!(
            NodemapFormat::recorded(br#"{"merge":"deep","nodemap":"lines"}"#),
            Some(NodemapFormat::Lines)
        );
        assert_eq!(NodemapFormat::recorded(b""), None);
        assert_eq!(NodemapFormat::recorded(br#"{"merge":"deep"}"#), None);
        assert!(
            "yaml"
                .parse::<NodemapFormat>()
                .unwrap_err()
                .contains("yaml")
        );
    }

    #[test]
    fn an_oversized_nodemap_is_refused_naming_its_size() {
        let layout = ServiceLayout::new(jones_client::ServiceName::new("s").unwrap());
        let mut stored = StoredNodemap::parse(&layout, b"{}", NodemapFormat::Json, None).unwrap();
        for i in 0..20_000 {
            stored
                .map
                .insert(
                    &format!("host-{i:06}"),
                    format!("/services/s/views/{}", "e".repeat(40)),
                )
                .unwrap();
        }
        let err = stored.encode().unwrap_err().to_string();
        assert!(err.contains("nodemap") && err.contains("bytes"), "{err}");
    }
}
