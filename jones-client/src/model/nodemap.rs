//! The nodemap: which view each association (host) reads.
//!
//! Original Jones stores it at `/services/{svc}/nodemaps` as lines of
//! `name -> /services/{svc}/views/{env}`, and its clients parse exactly
//! that, so it is the format written here. JSON objects of
//! `{name: view path}` are read too.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Error, ServiceLayout, validate_association};

/// Separator of the line format.
pub const SEPARATOR: &str = " -> ";

/// Associations of one service: name to view path.
///
/// ```
/// use jones_client::Nodemap;
/// let map = Nodemap::parse(b"web-01 -> /services/s/views/prod\nweb-02 -> /services/s/views").unwrap();
/// assert_eq!(map.get("web-01"), Some("/services/s/views/prod"));
/// assert_eq!(Nodemap::parse(&map.to_bytes()).unwrap(), map);
/// assert!(Nodemap::parse(b"no separator here").is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nodemap {
    entries: BTreeMap<String, String>,
}

impl Nodemap {
    /// An empty nodemap.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the line format or a JSON object; empty data is an empty map.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::InvalidNodemap {
            reason: format!("not UTF-8: {e}"),
        })?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Ok(Self::new());
        }
        if trimmed.starts_with('{') {
            Self::parse_json(trimmed)
        } else {
            Self::parse_lines(text)
        }
    }

    fn parse_json(text: &str) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::InvalidNodemap {
            reason: format!("not valid JSON: {e}"),
        })?;
        let Value::Object(map) = value else {
            unreachable!("text starts with `{{`, so it parsed as an object")
        };
        let mut entries = BTreeMap::new();
        for (name, path) in map {
            let Value::String(path) = path else {
                return Err(Error::InvalidNodemap {
                    reason: format!(
                        "the view path of `{name}` is {}, not a string",
                        crate::model::config::json_kind(&path)
                    ),
                });
            };
            entries.insert(name, path);
        }
        Ok(Self { entries })
    }

    fn parse_lines(text: &str) -> Result<Self, Error> {
        let mut entries = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let Some((name, path)) = line.split_once(SEPARATOR) else {
                return Err(Error::InvalidNodemap {
                    reason: format!(
                        "line {}: expected `name{SEPARATOR}path`, got {line:?}",
                        index + 1
                    ),
                });
            };
            if name.is_empty() || path.is_empty() || path.contains(SEPARATOR) {
                return Err(Error::InvalidNodemap {
                    reason: format!("line {}: malformed entry {line:?}", index + 1),
                });
            }
            entries.insert(name.to_owned(), path.to_owned());
        }
        Ok(Self { entries })
    }

    /// The nodemap in original Jones' line format, sorted by name.
    pub fn to_bytes(&self) -> Vec<u8> {
        let lines: Vec<String> = self
            .entries
            .iter()
            .map(|(name, path)| format!("{name}{SEPARATOR}{path}"))
            .collect();
        lines.join("\n").into_bytes()
    }

    /// The view path of `name`, if it is associated.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(String::as_str)
    }

    /// The view path a client with association `name` reads: its own, or the
    /// root view when it has none.
    pub fn resolve<'a>(&'a self, name: &str, layout: &'a ServiceLayout) -> &'a str {
        self.get(name).unwrap_or(layout.views_root())
    }

    /// Associates `name` with `view_path`, replacing any earlier entry.
    pub fn insert(&mut self, name: &str, view_path: String) -> Result<Option<String>, Error> {
        validate_association(name)?;
        Ok(self.entries.insert(name.to_owned(), view_path))
    }

    /// Removes `name`; returns its view path if it was there.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.entries.remove(name)
    }

    /// Every association, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of associations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no associations.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EnvPath, ServiceName};
    use proptest::prelude::*;

    #[test]
    fn reads_original_jones_lines() {
        let data = b"127.0.0.1 -> /services/t/views/parent\n127.0.0.2 -> /services/t/views/parent/child1\n127.0.0.3 -> /services/t/views";
        let map = Nodemap::parse(data).unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("127.0.0.3"), Some("/services/t/views"));
        assert_eq!(map.to_bytes(), data);
    }

    #[test]
    fn reads_json_and_empty() {
        let map = Nodemap::parse(br#"{"web": "/services/t/views/a"}"#).unwrap();
        assert_eq!(map.get("web"), Some("/services/t/views/a"));
        assert!(Nodemap::parse(b"").unwrap().is_empty());
        assert!(Nodemap::parse(b"  \n").unwrap().is_empty());
        assert!(Nodemap::parse(b"{}").unwrap().is_empty());
    }

    #[test]
    fn garbage_is_an_error() {
        for (data, reason) in [
            (&b"a -> b\njunk"[..], "line 2"),
            (b"{\"a\": 1}", "a number, not a string"),
            (b"{\"a\": ", "not valid JSON"),
            (b"\xff\xfe", "not UTF-8"),
            (b" -> /x", "malformed"),
            (b"a -> ", "malformed"),
            (b"a->b", "expected"),
            (b"a -> b -> c", "malformed"),
        ] {
            let err = Nodemap::parse(data).unwrap_err().to_string();
            assert!(err.contains(reason), "{data:?}: {err}");
            assert!(err.contains("nodemap"), "{err}");
        }
    }

    #[test]
    fn resolves_unassociated_to_root_view() {
        let layout = ServiceLayout::new(ServiceName::new("t").unwrap());
        let mut map = Nodemap::new();
        map.insert("h", layout.view_path(&EnvPath::new("a").unwrap()))
            .unwrap();
        assert_eq!(map.resolve("h", &layout), "/services/t/views/a");
        assert_eq!(map.resolve("other", &layout), "/services/t/views");
        assert!(map.insert("bad -> name", String::new()).is_err());
    }

    proptest! {
        #[test]
        fn written_maps_read_back(entries in proptest::collection::btree_map("[a-zA-Z0-9.:_ -]{1,20}", "/[a-z/]{1,20}", 0..8)) {
            let mut map = Nodemap::new();
            for (name, path) in &entries {
                if validate_association(name).is_ok() {
                    map.insert(name, path.clone()).unwrap();
                }
            }
            prop_assert_eq!(Nodemap::parse(&map.to_bytes()).unwrap(), map);
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Nodemap::parse(&data);
        }
    }
}
