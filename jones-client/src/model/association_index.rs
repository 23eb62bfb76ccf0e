//! The association index: one znode per association, beside the nodemap.
//!
//! ```text
//! /services/{svc}/associations           {"layout": 1, "complete": true}
//! /services/{svc}/associations/{znode}   {"view": "/services/{svc}/views/{env}"}
//! ```
//!
//! The nodemap stays the source of truth (original clients read it, and
//! original servers write only it); the index is derived from it, as views
//! are derived from confs, and written in the same transaction as every
//! nodemap change. A client that reads its own association's znode wakes
//! only when that association moves. The index is followed only while its
//! directory says `complete`; a service without one (written by original
//! Jones) is followed through its nodemap.
//!
//! Association names may hold characters a znode name cannot (`/`, some
//! Unicode ranges, `.` and `..` as whole names), so each name is
//! percent-encoded: ASCII letters, digits and `-_.~:@+=,` stay as they are,
//! every other byte of the UTF-8 name becomes `%XX`, and a name made only of
//! dots has them encoded too. Host names and addresses read unchanged.

use serde::{Deserialize, Serialize};

use crate::Error;

/// The index layout this code writes and reads.
pub const INDEX_LAYOUT: u32 = 1;

/// The data of the index directory znode.
///
/// ```
/// use jones_client::IndexState;
/// let state = IndexState::parse(br#"{"layout":1,"complete":true}"#).unwrap();
/// assert!(state.is_followable());
/// assert_eq!(IndexState::parse(&IndexState::complete().to_bytes()).unwrap(), state);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexState {
    /// Which layout of the index this is.
    pub layout: u32,
    /// Whether every association of the nodemap has its znode. An index being
    /// built (or rebuilt) is not complete, and clients read the nodemap.
    pub complete: bool,
}

impl IndexState {
    /// A complete index of this layout.
    pub fn complete() -> Self {
        Self {
            layout: INDEX_LAYOUT,
            complete: true,
        }
    }

    /// An index of this layout still being built.
    pub fn building() -> Self {
        Self {
            layout: INDEX_LAYOUT,
            complete: false,
        }
    }

    /// Parses the directory's data.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::InvalidRecord {
            reason: format!("association index state: {e}"),
        })
    }

    /// The directory's data.
    pub fn to_bytes(self) -> Vec<u8> {
        serde_json::to_vec(&self).expect("a state serializes")
    }

    /// Whether a client may follow its association's znode instead of the
    /// nodemap: complete, and of a layout this code reads.
    pub fn is_followable(self) -> bool {
        self.complete && self.layout == INDEX_LAYOUT
    }
}

/// The data of one association's znode.
///
/// ```
/// use jones_client::AssociationRecord;
/// let record = AssociationRecord::new("/services/s/views/prod");
/// assert_eq!(record.to_bytes(), br#"{"view":"/services/s/views/prod"}"#);
/// assert_eq!(AssociationRecord::parse(&record.to_bytes()).unwrap(), record);
/// assert!(AssociationRecord::parse(b"/services/s/views").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociationRecord {
    /// The view path the association reads, as in the nodemap.
    pub view: String,
}

impl AssociationRecord {
    /// A record pointing at `view`.
    pub fn new(view: impl Into<String>) -> Self {
        Self { view: view.into() }
    }

    /// Parses an association znode's data.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::InvalidRecord {
            reason: format!("association record: {e}"),
        })
    }

    /// The znode's data.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a record serializes")
    }
}

/// The znode name of association `name`: percent-encoded, see the module
/// documentation.
///
/// ```
/// use jones_client::{association_of_znode_name, association_znode_name};
/// assert_eq!(association_znode_name("web-01.example.com"), "web-01.example.com");
/// assert_eq!(association_znode_name("10.0.0.1:8080"), "10.0.0.1:8080");
/// assert_eq!(association_znode_name("a/b c"), "a%2Fb%20c");
/// assert_eq!(association_znode_name(".."), "%2E%2E");
/// assert_eq!(association_of_znode_name("a%2Fb%20c").unwrap(), "a/b c");
/// ```
pub fn association_znode_name(name: &str) -> String {
    if !name.is_empty() && name.bytes().all(|b| b == b'.') {
        return "%2E".repeat(name.len());
    }
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if is_kept(byte) {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0xF));
        }
    }
    out
}

/// The association whose znode is named `znode`; an error when `znode` is
/// not a name [`association_znode_name`] writes.
pub fn association_of_znode_name(znode: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::InvalidRecord {
        reason: format!("association znode {znode:?}: {why}"),
    };
    let bytes = znode.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let value = bytes
                    .get(i + 1..i + 3)
                    .and_then(|pair| Some(hex_value(pair[0])? << 4 | hex_value(pair[1])?))
                    .ok_or_else(|| bad("a `%` not followed by two upper-case hex digits"))?;
                out.push(value);
                i += 3;
            }
            byte if is_kept(byte) => {
                out.push(byte);
                i += 1;
            }
            _ => return Err(bad("a character that is always encoded")),
        }
    }
    let name = String::from_utf8(out).map_err(|_| bad("not UTF-8 once decoded"))?;
    if association_znode_name(&name) != znode {
        return Err(bad("not in canonical form"));
    }
    Ok(name)
}

fn is_kept(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"-_.~:@+=,".contains(&byte)
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789ABCDEF"[usize::from(nibble)])
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_znodes_cannot_hold_are_encoded() {
        for (name, znode) in [
            ("", ""),
            (".", "%2E"),
            ("...", "%2E%2E%2E"),
            (".hidden", ".hidden"),
            (" web-01", "%20web-01"),
            ("100%", "100%25"),
            ("zookeeper", "zookeeper"),
            ("é", "%C3%A9"),
            ("\u{1F600}", "%F0%9F%98%80"),
            ("\u{E000}", "%EE%80%80"),
        ] {
            assert_eq!(association_znode_name(name), znode, "{name:?}");
            assert_eq!(association_of_znode_name(znode).unwrap(), name);
        }
    }

    #[test]
    fn foreign_znode_names_are_refused() {
        for znode in ["a b", "%2", "%zz", "%2f", "%41", "%FF", "a/b", "."] {
            let err = association_of_znode_name(znode).unwrap_err();
            assert!(matches!(err, Error::InvalidRecord { .. }), "{znode:?}");
        }
    }

    #[test]
    fn index_state_refuses_garbage_and_newer_layouts_are_not_followed() {
        assert!(IndexState::parse(b"").is_err());
        assert!(IndexState::parse(b"{\"layout\":1}").is_err());
        assert!(!IndexState::building().is_followable());
        let newer = IndexState::parse(br#"{"layout":2,"complete":true}"#).unwrap();
        assert!(!newer.is_followable());
    }

    proptest! {
        #[test]
        fn every_name_round_trips_into_a_safe_znode_name(name in any::<String>()) {
            let znode = association_znode_name(&name);
            prop_assert!(znode.bytes().all(|b| is_kept(b) || b == b'%'));
            prop_assert!(znode != "." && znode != "..");
            prop_assert_eq!(association_of_znode_name(&znode).unwrap(), name);
        }
    }
}
