//! Schemas: a JSON Schema (draft 2020-12) every view of a service must
//! satisfy. A write is checked against every view it changes — the merged
//! views, not only the config edited — and refused, nothing written, with
//! each violation named by environment and JSON pointer.
//!
//! ```text
//! /services/{svc}/schema   the schema (absent: no schema)
//! ```
//!
//! The schema is read with the service znode in one request, and every
//! change of it also rewrites the service znode (same data), moving the
//! version every view write checks: a write checked against an older
//! schema fails its transaction and is checked again. Schemas may not
//! refer to other documents (no remote or file `$ref`); original Jones never
//! reads `schema`.

use jones_client::{EnvPath, ServiceLayout};
use serde::Serialize;
use serde_json::Value;

use crate::tree::ServiceNode;
use crate::{Error, Result};

/// The most violations a refusal lists (the count says how many there were).
pub(crate) const MAX_LISTED_VIOLATIONS: usize = 100;

/// One way a view breaks the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The environment whose view breaks it.
    pub env: String,
    /// Where in the view, as a JSON pointer (`""`: the whole view).
    pub pointer: String,
    /// What is wrong there.
    pub message: String,
}

/// A service's schema as stored, with its znode's version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredSchema {
    pub schema: Value,
    pub version: i32,
}

/// The service's schema znode.
pub(crate) fn schema_path(layout: &ServiceLayout) -> String {
    format!("{}/schema", layout.service_path())
}

impl StoredSchema {
    /// The schema a znode's data holds (`None`: no znode).
    pub(crate) fn parse(path: &str, stored: Option<(&[u8], i32)>) -> Result<Option<Self>> {
        let Some((data, version)) = stored else {
            return Ok(None);
        };
        let schema = serde_json::from_slice(data).map_err(|e| Error::Corrupt {
            path: path.to_owned(),
            reason: format!("not a JSON schema: {e}"),
        })?;
        Ok(Some(Self { schema, version }))
    }
}

/// A compiled schema, ready to check views.
pub(crate) struct Checker(jsonschema::Validator);

impl Checker {
    /// Compiles `schema` as draft 2020-12; the error says what is wrong
    /// with it.
    pub(crate) fn new(schema: &Value) -> std::result::Result<Self, String> {
        if !schema.is_object() && !schema.is_boolean() {
            return Err(format!(
                "a schema is a JSON object (or a boolean), not {}",
                jones_client::json_kind(schema)
            ));
        }
        jsonschema::draft202012::new(schema).map(Self).map_err(|e| {
            match e.instance_path().as_str() {
                "" => e.to_string(),
                at => format!("at {at}: {e}"),
            }
        })
    }

    /// Appends to `out` every way `view`, the view of `env`, breaks the
    /// schema.
    pub(crate) fn check(&self, env: &EnvPath, view: &Value, out: &mut Vec<Violation>) {
        out.extend(self.0.iter_errors(view).map(|e| Violation {
            env: env.to_string(),
            pointer: e.instance_path().as_str().to_owned(),
            message: e.to_string(),
        }));
    }
}

/// Checks `views` (each environment's new view, as stored bytes) against
/// the schema of `service`, if it has one: the refusal lists every
/// violation.
pub(crate) fn check_views<'a>(
    layout: &ServiceLayout,
    service: &ServiceNode,
    views: impl IntoIterator<Item = (&'a EnvPath, &'a [u8])>,
) -> Result<()> {
    let Some(stored) = &service.schema else {
        return Ok(());
    };
    let checker = Checker::new(&stored.schema).map_err(|reason| Error::Corrupt {
        path: schema_path(layout),
        reason,
    })?;
    let mut violations = Vec::new();
    for (env, data) in views {
        let view: Value = serde_json::from_slice(data).expect("a view the server computed");
        checker.check(env, &view, &mut violations);
    }
    match violations.is_empty() {
        true => Ok(()),
        false => Err(refusal(violations)),
    }
}

/// The error refusing a write whose views break the schema.
pub(crate) fn refusal(mut violations: Vec<Violation>) -> Error {
    let count = violations.len();
    violations.truncate(MAX_LISTED_VIOLATIONS);
    Error::SchemaViolation { count, violations }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn violations_name_the_environment_and_the_pointer() {
        let checker = Checker::new(&json!({
            "type": "object",
            "properties": {
                "pool": {"type": "integer", "minimum": 1},
                "db": {"type": "object", "required": ["host"]}
            }
        }))
        .unwrap();
        let mut out = Vec::new();
        let prod = EnvPath::new("prod").unwrap();
        checker.check(&prod, &json!({"pool": 0, "db": {}}), &mut out);
        let at: Vec<(&str, &str)> = out
            .iter()
            .map(|v| (v.env.as_str(), v.pointer.as_str()))
            .collect();
        assert_eq!(at.len(), 2, "{out:?}");
        assert!(
            at.contains(&("prod", "/pool")) && at.contains(&("prod", "/db")),
            "{out:?}"
        );
        out.clear();
        checker.check(&prod, &json!({"pool": 3, "db": {"host": "a"}}), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_schema_that_is_not_one_is_refused_with_the_reason() {
        for (schema, wanted) in [
            (json!(3), "not a number"),
            (json!({"type": "nonsense"}), "nonsense"),
            (json!({"$ref": "https://example.com/s.json"}), "example.com"),
            (json!({"minimum": "x"}), "minimum"),
        ] {
            let error = Checker::new(&schema).err().unwrap();
            assert!(error.contains(wanted), "{schema}: {error}");
        }
        assert!(Checker::new(&json!(true)).is_ok());
    }

    #[test]
    fn a_refusal_lists_at_most_its_limit_and_counts_all() {
        let many = (0..MAX_LISTED_VIOLATIONS + 5)
            .map(|i| Violation {
                env: String::new(),
                pointer: format!("/{i}"),
                message: "bad".into(),
            })
            .collect();
        match refusal(many) {
            Error::SchemaViolation { count, violations } => {
                assert_eq!((count, violations.len()), (105, MAX_LISTED_VIOLATIONS));
            }
            other => panic!("{other}"),
        }
    }
}
