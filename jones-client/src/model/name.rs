//! Validated names: service names, environment paths and association names.
//!
//! Everything that ends up inside a znode path is checked here once, so the
//! rest of the code can format paths without re-checking.
//!
//! Two levels of rules:
//!
//! - **What can be read** ([`ServiceName::new`], [`EnvPath::new`]): what
//!   ZooKeeper accepts in a path segment plus a few of Jones' own (no
//!   relative segments, bounded length and depth). Trees written by
//!   original Jones may hold any such name, and are read as they are.
//! - **What may be written from now on** ([`ServiceName::strict`],
//!   [`EnvPath::strict`], [`validate_association`]): a service name is
//!   ASCII letters, digits, `-`, `_` and `.`, starting with a letter or a
//!   digit (safe in URLs and shells unquoted); an environment segment and
//!   an association have no leading or trailing whitespace (the set
//!   [`EDGE_SPACE`]: Unicode's `White_Space` plus the zero-width
//!   characters that look like nothing) and no control characters. A name that can be read but breaks these rules is
//!   *read-only*: the server reads and deletes it, and refuses to change it.
//!
//! The cases in `name_rules.json` beside this file are the one table these
//! rules are tested against, here and in the web editor's `names.js`.

use std::fmt;

use crate::Error;

/// Longest service name or environment segment, in bytes.
pub const MAX_SEGMENT_LEN: usize = 255;
/// Deepest environment path, in segments.
pub const MAX_ENV_DEPTH: usize = 32;
/// Longest association name, in bytes.
pub const MAX_ASSOCIATION_LEN: usize = 1024;

/// The characters a name may not start or end with, as inclusive ranges of
/// code points: Unicode's `White_Space` property (what Rust's
/// `char::is_whitespace` tests) plus U+200B–U+200D, U+2060 and U+FEFF,
/// which show as nothing. JavaScript's `trim()` uses yet another set, so
/// the web editor's `names.js` spells out this one; both are tested
/// against the `edge_space` list of `name_rules.json`.
pub const EDGE_SPACE: &[(char, char)] = &[
    ('\u{0009}', '\u{000D}'),
    ('\u{0020}', '\u{0020}'),
    ('\u{0085}', '\u{0085}'),
    ('\u{00A0}', '\u{00A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200D}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{2060}'),
    ('\u{3000}', '\u{3000}'),
    ('\u{FEFF}', '\u{FEFF}'),
];

/// Whether `c` is in [`EDGE_SPACE`].
pub fn is_edge_space(c: char) -> bool {
    EDGE_SPACE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// Whether `name` starts or ends with a character of [`EDGE_SPACE`].
fn has_edge_space(name: &str) -> bool {
    name.trim_matches(is_edge_space) != name
}

/// What kind of name was rejected; carried by [`Error::InvalidName`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A service name.
    Service,
    /// An environment path.
    Environment,
    /// An association (host) name.
    Association,
}

impl NameKind {
    /// Checks that `name` can be *read* as a name of this kind: looked up,
    /// resolved, deleted. This is the first level of the module
    /// documentation's rules, which names written before the rules also
    /// pass (` web-01`, a service `Check Out!`), not the rules for writing
    /// a new name. For an association: not empty, at most
    /// [`MAX_ASSOCIATION_LEN`] bytes, and no line break (the nodemap's line
    /// format cannot hold one).
    ///
    /// ```
    /// use jones_client::NameKind;
    /// assert!(NameKind::Association.check_readable(" web-01").is_ok());
    /// assert!(jones_client::validate_association(" web-01").is_err());
    /// assert!(NameKind::Association.check_readable("a\nb").is_err());
    /// ```
    pub fn check_readable(self, name: &str) -> Result<(), Error> {
        match self {
            NameKind::Service => ServiceName::new(name).map(|_| ()),
            NameKind::Environment => EnvPath::new(name).map(|_| ()),
            NameKind::Association => {
                if name.is_empty() {
                    return Err(invalid(self, name, "empty"));
                }
                if name.len() > MAX_ASSOCIATION_LEN {
                    return Err(invalid(
                        self,
                        name,
                        format!(
                            "{} bytes long, the limit is {MAX_ASSOCIATION_LEN}",
                            name.len()
                        ),
                    ));
                }
                if name.contains(['\n', '\r']) {
                    return Err(invalid(self, name, "a line break is not allowed"));
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Service => "service name",
            NameKind::Environment => "environment path",
            NameKind::Association => "association name",
        })
    }
}

fn invalid(kind: NameKind, name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidName {
        kind,
        name: name.to_owned(),
        reason: reason.into(),
    }
}

/// Characters ZooKeeper refuses in a path (see `PathUtils.validatePath`; its
/// surrogate range cannot occur in a Rust `char`),
/// plus every other control character.
fn forbidden_char(c: char) -> bool {
    c.is_control()
        || ('\u{e000}'..='\u{f8ff}').contains(&c)
        || ('\u{fff0}'..='\u{ffff}').contains(&c)
}

/// Checks one path segment: a service name or one level of an environment.
fn check_segment(kind: NameKind, whole: &str, segment: &str) -> Result<(), Error> {
    if segment.is_empty() {
        return Err(invalid(kind, whole, "empty segment"));
    }
    if segment == "." || segment == ".." {
        return Err(invalid(
            kind,
            whole,
            format!("segment `{segment}` is not allowed"),
        ));
    }
    if segment.len() > MAX_SEGMENT_LEN {
        return Err(invalid(
            kind,
            whole,
            format!(
                "segment is {} bytes long, the limit is {MAX_SEGMENT_LEN}",
                segment.len()
            ),
        ));
    }
    if let Some(c) = segment.chars().find(|&c| forbidden_char(c)) {
        return Err(invalid(
            kind,
            whole,
            format!("character {c:?} (U+{:04X}) is not allowed", c as u32),
        ));
    }
    Ok(())
}

/// The name of a service: one non-empty path segment.
///
/// ```
/// use jones_client::ServiceName;
/// let svc = ServiceName::new("web-frontend").unwrap();
/// assert_eq!(svc.as_str(), "web-frontend");
/// assert!(ServiceName::new("a/b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceName(String);

impl ServiceName {
    /// Validates `name` as a service name.
    pub fn new(name: &str) -> Result<Self, Error> {
        if name.contains('/') {
            return Err(invalid(NameKind::Service, name, "`/` is not allowed"));
        }
        check_segment(NameKind::Service, name, name)?;
        Ok(Self(name.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ServiceName {
    /// Validates `name` as the name of a service to create: see the module
    /// docs for the rules.
    ///
    /// ```
    /// use jones_client::ServiceName;
    /// assert!(ServiceName::strict("checkout-v2.eu_1").is_ok());
    /// assert!(ServiceName::strict("Check Out!").is_err());
    /// assert!(ServiceName::new("Check Out!").is_ok(), "an existing tree may hold it");
    /// ```
    pub fn strict(name: &str) -> Result<Self, Error> {
        let service = Self::new(name)?;
        match service.rule_problem() {
            Some(reason) => Err(invalid(NameKind::Service, name, reason)),
            None => Ok(service),
        }
    }

    /// Why this name breaks the rules for names written from now on
    /// (making the service read-only), or `None`.
    pub fn rule_problem(&self) -> Option<String> {
        let mut chars = self.0.chars();
        let first = chars.next()?;
        if !first.is_ascii_alphanumeric() {
            return Some(format!(
                "must start with a letter or a digit, not {first:?}"
            ));
        }
        chars
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .map(|c| format!("{c:?} is not allowed: use ASCII letters, digits, `-`, `_` and `.`"))
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for ServiceName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// The path of an environment inside a service: `""` is the root, `a/b` the
/// child `b` of `a`.
///
/// ```
/// use jones_client::EnvPath;
/// let env = EnvPath::new("parent/child1").unwrap();
/// assert_eq!(env.parent(), Some(EnvPath::new("parent").unwrap()));
/// assert!(EnvPath::root().is_root());
/// assert!(EnvPath::new("/parent").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EnvPath(String);

impl EnvPath {
    /// Validates `path` as an environment path.
    pub fn new(path: &str) -> Result<Self, Error> {
        if path.is_empty() {
            return Ok(Self::root());
        }
        if path.starts_with('/') || path.ends_with('/') {
            return Err(invalid(
                NameKind::Environment,
                path,
                "leading or trailing `/` is not allowed (the root is the empty path)",
            ));
        }
        let mut depth = 0;
        for segment in path.split('/') {
            check_segment(NameKind::Environment, path, segment)?;
            depth += 1;
        }
        if depth > MAX_ENV_DEPTH {
            return Err(invalid(
                NameKind::Environment,
                path,
                format!("{depth} levels deep, the limit is {MAX_ENV_DEPTH}"),
            ));
        }
        Ok(Self(path.to_owned()))
    }

    /// Validates `path` as the path of an environment to create: see the
    /// module docs for the rules.
    ///
    /// ```
    /// use jones_client::EnvPath;
    /// assert!(EnvPath::strict("prod/eu-west 1").is_ok());
    /// assert!(EnvPath::strict("prod/ eu").is_err());
    /// ```
    pub fn strict(path: &str) -> Result<Self, Error> {
        let env = Self::new(path)?;
        match env.rule_problem() {
            Some(reason) => Err(invalid(NameKind::Environment, path, reason)),
            None => Ok(env),
        }
    }

    /// Why this path breaks the rules for names written from now on
    /// (making the environment read-only), or `None`.
    pub fn rule_problem(&self) -> Option<String> {
        self.segments()
            .find(|s| has_edge_space(s))
            .map(|s| format!("segment {s:?} has leading or trailing whitespace"))
    }

    /// The root environment.
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Whether this is the root environment.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The path as a string (`""` for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments from the top down; none for the root.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// How many levels below the root.
    pub fn depth(&self) -> usize {
        self.segments().count()
    }

    /// The last segment, `None` for the root.
    pub fn name(&self) -> Option<&str> {
        self.segments().last()
    }

    /// The parent environment, `None` for the root.
    pub fn parent(&self) -> Option<EnvPath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => Self(self.0[..i].to_owned()),
            None => Self::root(),
        })
    }

    /// The child `name` of this environment.
    pub fn child(&self, name: &str) -> Result<EnvPath, Error> {
        if self.is_root() {
            Self::new(name)
        } else {
            Self::new(&format!("{}/{name}", self.0))
        }
    }

    /// Every environment from the root down to and including this one.
    ///
    /// ```
    /// use jones_client::EnvPath;
    /// let chain: Vec<String> = EnvPath::new("a/b").unwrap().lineage().map(|e| e.to_string()).collect();
    /// assert_eq!(chain, ["", "a", "a/b"]);
    /// ```
    pub fn lineage(&self) -> impl Iterator<Item = EnvPath> + '_ {
        let root = std::iter::once(Self::root());
        let below = self
            .0
            .match_indices('/')
            .map(|(i, _)| Self(self.0[..i].to_owned()))
            .chain((!self.is_root()).then(|| self.clone()));
        root.chain(below)
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &EnvPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for EnvPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for EnvPath {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

/// Validates an association name (usually a host name).
///
/// Any string is allowed except the empty one, control characters, and the
/// ` -> ` separator of the nodemap's line format, which could not be read back.
///
/// ```
/// assert!(jones_client::validate_association("web-01.example.com").is_ok());
/// assert!(jones_client::validate_association("a -> b").is_err());
/// ```
pub fn validate_association(name: &str) -> Result<(), Error> {
    let kind = NameKind::Association;
    if name.is_empty() {
        return Err(invalid(kind, name, "empty"));
    }
    if name.len() > MAX_ASSOCIATION_LEN {
        return Err(invalid(
            kind,
            name,
            format!(
                "{} bytes long, the limit is {MAX_ASSOCIATION_LEN}",
                name.len()
            ),
        ));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(invalid(
            kind,
            name,
            format!("control character U+{:04X} is not allowed", c as u32),
        ));
    }
    if name.contains(crate::model::nodemap::SEPARATOR) {
        return Err(invalid(
            kind,
            name,
            "` -> ` is the nodemap separator and is not allowed",
        ));
    }
    if has_edge_space(name) {
        return Err(invalid(
            kind,
            name,
            "leading or trailing whitespace is not allowed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The one table of name cases, shared with the web editor's tests.
    #[test]
    fn the_shared_table_of_name_cases() {
        let table: serde_json::Value =
            serde_json::from_str(include_str!("name_rules.json")).unwrap();
        let cases = |kind: &str| {
            table[kind]
                .as_array()
                .unwrap_or_else(|| panic!("no {kind} cases"))
                .iter()
                .map(|c| {
                    (
                        c["name"].as_str().unwrap().to_owned(),
                        c["ok"].as_bool().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        };
        for (name, ok) in cases("service") {
            assert_eq!(ServiceName::strict(&name).is_ok(), ok, "service {name:?}");
        }
        for (name, ok) in cases("environment") {
            assert_eq!(EnvPath::strict(&name).is_ok(), ok, "environment {name:?}");
        }
        for (name, ok) in cases("association") {
            assert_eq!(
                validate_association(&name).is_ok(),
                ok,
                "association {name:?}"
            );
        }
    }

    /// The edge-space set is the table's, code point by code point, and
    /// holds everything `char::is_whitespace` does.
    #[test]
    fn edge_space_is_the_shared_set() {
        let table: serde_json::Value =
            serde_json::from_str(include_str!("name_rules.json")).unwrap();
        let listed: Vec<(u32, u32)> = table["edge_space"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let part = |i: usize| u32::from_str_radix(r[i].as_str().unwrap(), 16).unwrap();
                (part(0), part(1))
            })
            .collect();
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let in_table = listed
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&(c as u32)));
            assert_eq!(is_edge_space(c), in_table, "U+{:04X}", c as u32);
            if c.is_whitespace() {
                assert!(in_table, "U+{:04X} is whitespace", c as u32);
            }
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        for name in [
            "a",
            "web-01",
            "prod_eu",
            "über",
            "a.b",
            "x".repeat(255).as_str(),
        ] {
            ServiceName::new(name).unwrap();
            EnvPath::new(name).unwrap();
        }
        EnvPath::new("parent/child1/sub").unwrap();
    }

    #[test]
    fn rejects_bad_environment_paths_with_reason() {
        let cases = [
            ("/a", "leading or trailing"),
            ("a/", "leading or trailing"),
            ("a//b", "empty segment"),
            ("a/./b", "`.`"),
            ("a/..", "`..`"),
            ("a\nb", "U+000A"),
            ("a\u{0}b", "U+0000"),
            ("a\u{fff5}", "U+FFF5"),
            ("a\u{e000}", "U+E000"),
        ];
        for (path, reason) in cases {
            let err = EnvPath::new(path).unwrap_err().to_string();
            assert!(err.contains(reason), "{path:?}: {err}");
            assert!(err.contains("environment path"), "{err}");
        }
        let long = "x".repeat(256);
        assert!(
            EnvPath::new(&long)
                .unwrap_err()
                .to_string()
                .contains("256 bytes")
        );
        let deep = vec!["d"; MAX_ENV_DEPTH + 1].join("/");
        assert!(
            EnvPath::new(&deep)
                .unwrap_err()
                .to_string()
                .contains("levels deep")
        );
        EnvPath::new(&vec!["d"; MAX_ENV_DEPTH].join("/")).unwrap();
    }

    #[test]
    fn rejects_bad_service_names() {
        for name in ["", "a/b", ".", "..", "a\tb"] {
            let err = ServiceName::new(name).unwrap_err().to_string();
            assert!(err.contains("service name"), "{err}");
        }
    }

    #[test]
    fn association_rules() {
        validate_association("127.0.0.1").unwrap();
        validate_association("any string, even with spaces").unwrap();
        for bad in ["", "a\nb", "a -> b", " lead", "x".repeat(1025).as_str()] {
            assert!(validate_association(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tree_navigation() {
        let env = EnvPath::new("a/b/c").unwrap();
        assert_eq!(env.depth(), 3);
        assert_eq!(env.name(), Some("c"));
        assert_eq!(env.parent().unwrap().as_str(), "a/b");
        assert_eq!(EnvPath::new("a").unwrap().parent(), Some(EnvPath::root()));
        assert_eq!(EnvPath::root().parent(), None);
        assert_eq!(EnvPath::root().child("x").unwrap().as_str(), "x");
        assert_eq!(env.child("d").unwrap().as_str(), "a/b/c/d");
        assert!(env.is_within(&EnvPath::new("a/b").unwrap()));
        assert!(env.is_within(&EnvPath::root()));
        assert!(
            !EnvPath::new("a/bc")
                .unwrap()
                .is_within(&EnvPath::new("a/b").unwrap())
        );
        let lineage: Vec<_> = EnvPath::root().lineage().collect();
        assert_eq!(lineage, [EnvPath::root()]);
    }

    proptest! {
        #[test]
        fn valid_paths_round_trip(segs in proptest::collection::vec("[a-zA-Z0-9_.-]{1,20}", 0..6)) {
            let joined = segs.join("/");
            match EnvPath::new(&joined) {
                Ok(env) => {
                    prop_assert_eq!(env.as_str(), joined.as_str());
                    prop_assert_eq!(env.depth(), segs.len());
                    let lineage: Vec<_> = env.lineage().collect();
                    prop_assert_eq!(lineage.len(), segs.len() + 1);
                    prop_assert_eq!(lineage.last().unwrap(), &env);
                    for pair in lineage.windows(2) {
                        prop_assert_eq!(pair[1].parent(), Some(pair[0].clone()));
                    }
                }
                Err(_) => prop_assert!(segs.iter().any(|s| s == "." || s == "..")),
            }
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,40}|[\\x00-\\x7f]{0,40}") {
            let _ = EnvPath::new(&s);
            let _ = ServiceName::new(&s);
            let _ = validate_association(&s);
        }

        #[test]
        fn accepted_paths_have_only_allowed_chars(s in "[a-z/.\\x00-\\x1f]{0,12}") {
            if let Ok(env) = EnvPath::new(&s) {
                prop_assert!(!env.as_str().starts_with('/') && !env.as_str().ends_with('/'));
                prop_assert!(!env.as_str().contains("//"));
                prop_assert!(env.segments().all(|seg| seg != "." && seg != ".."));
                prop_assert!(!env.as_str().chars().any(char::is_control));
            }
        }
    }
}
