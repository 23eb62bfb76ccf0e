//! Flag resolution: a Jones config value as an OpenFeature resolution,
//! with the spec's reasons and error codes.
//!
//! | config value, asked as | resolution |
//! | --- | --- |
//! | a value of the type asked for | the value, reason `STATIC` |
//! | a number in `[0, 100]`, asked as a boolean | the sticky percentage rollout of the targeting key ([`jones_client::switches`]), reason `SPLIT`; no targeting key: `TARGETING_KEY_MISSING` |
//! | a JSON object, asked as a structure | the object, reason `STATIC` |
//! | a value of another type (or a percentage out of range) | error `TYPE_MISMATCH` |
//! | no such key | error `FLAG_NOT_FOUND` |
//! | no config read yet (client started without waiting) | error `PROVIDER_NOT_READY` |
//!
//! A value read while the config may be out of date (disconnected, a read
//! failing) has reason `STALE`, or `CACHED` when it came from the client's
//! cache file. A resolved value carries the revision of the view it was
//! read from in its `flag_metadata` (`mzxid`, `version`), when the config
//! came from ZooKeeper. Errors leave the default to the OpenFeature
//! client, as the spec requires.

use jones_client::{Detail, JonesClient, Reason, Revision, json_kind, switches};
use open_feature::provider::ResolutionDetails;
use open_feature::{
    EvaluationContext, EvaluationError, EvaluationErrorCode, EvaluationReason, EvaluationResult,
    FlagMetadata, StructValue,
};
use serde_json::Value;

/// Whether a resolution carries the revision it was read from in its
/// `flag_metadata` (`mzxid` and `version` of the view). It costs an
/// allocation, so the provider's allocation-free
/// [`crate::JonesProvider::resolve_bool`] leaves it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metadata {
    /// With the revision.
    Revision,
    /// Without metadata.
    Bare,
}

/// `key` as a `T`, for integers, floats and strings.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    client: &JonesClient,
    key: &str,
    asked: &'static str,
) -> EvaluationResult<ResolutionDetails<T>> {
    let detail = client.get_detail::<Option<T>>(key, None);
    match detail.value {
        Some(value) if !detail.reason.is_default() => Ok(resolved(
            client,
            value,
            (detail.reason, detail.revision),
            false,
            Metadata::Revision,
        )),
        _ => Err(failure(client, key, &detail, asked)),
    }
}

/// What a boolean flag read found, within one snapshot.
enum Boolean {
    /// A toggle.
    Toggle(bool),
    /// A percentage rollout, evaluated for the targeting key.
    Rollout(bool),
    /// A percentage rollout, and no targeting key to evaluate it for.
    NeedsKey,
}

/// `key` as a boolean: a toggle, or a percentage rollout of the
/// targeting key. The value, its kind and the percentage are read from
/// one snapshot.
pub(crate) fn boolean(
    client: &JonesClient,
    key: &str,
    context: &EvaluationContext,
    metadata: Metadata,
) -> EvaluationResult<ResolutionDetails<bool>> {
    let unit = context.targeting_key.as_deref();
    let detail = client.read_detail(Boolean::Toggle(false), |config| match config.get(key) {
        None => Err(Reason::Missing),
        Some(Value::Bool(on)) => Ok(Boolean::Toggle(*on)),
        Some(Value::Number(_)) => match unit {
            None => Ok(Boolean::NeedsKey),
            Some(unit) => switches::percentage(config, key, unit)
                .map(Boolean::Rollout)
                .map_err(Reason::from),
        },
        Some(_) => Err(Reason::WrongType),
    });
    let asked = if matches!(detail.reason, Reason::WrongType) && holds_number(client, key) {
        "a percentage from 0 to 100"
    } else {
        "a boolean"
    };
    let of = (detail.reason, detail.revision);
    match detail.value {
        _ if detail.reason.is_default() => Err(failure(client, key, &detail, asked)),
        Boolean::Toggle(on) => Ok(resolved(client, on, of, false, metadata)),
        Boolean::Rollout(on) => Ok(resolved(client, on, of, true, metadata)),
        Boolean::NeedsKey => Err(error(
            EvaluationErrorCode::TargetingKeyMissing,
            format!("flag {key:?} is a percentage rollout: it needs a targeting key"),
        )),
    }
}

/// Whether `key` holds a number now (for an error message only).
fn holds_number(client: &JonesClient, key: &str) -> bool {
    client.get::<serde_json::Number>(key).is_some()
}

/// `key` as a structure: a JSON object.
pub(crate) fn structure(
    client: &JonesClient,
    key: &str,
) -> EvaluationResult<ResolutionDetails<StructValue>> {
    let detail = client.get_detail::<Option<serde_json::Map<String, Value>>>(key, None);
    match detail.value {
        Some(object) if !detail.reason.is_default() => {
            let value = to_struct(&object).map_err(|inner| {
                error(
                    EvaluationErrorCode::TypeMismatch,
                    format!("flag {key:?} holds a null {inner}, which a structure cannot hold"),
                )
            })?;
            Ok(resolved(
                client,
                value,
                (detail.reason, detail.revision),
                false,
                Metadata::Revision,
            ))
        }
        _ => Err(failure(client, key, &detail, "an object")),
    }
}

/// A JSON object as an OpenFeature structure. OpenFeature values have no
/// null: a field that is null is left out (as absent), a null inside an
/// array is refused (`Err` says where).
fn to_struct(object: &serde_json::Map<String, Value>) -> Result<StructValue, String> {
    let mut fields = std::collections::HashMap::with_capacity(object.len());
    for (name, value) in object {
        if !value.is_null() {
            let value = to_value(value).map_err(|inner| format!("in field {name:?}{inner}"))?;
            fields.insert(name.clone(), value);
        }
    }
    Ok(StructValue { fields })
}

fn to_value(value: &Value) -> Result<open_feature::Value, String> {
    use open_feature::Value as Feature;
    Ok(match value {
        Value::Null => return Err(String::new()),
        Value::Bool(b) => Feature::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Feature::Int(i),
            None => Feature::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Feature::String(s.clone()),
        Value::Array(items) => Feature::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_value(item).map_err(|inner| format!(" at [{i}]{inner}")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(object) => {
            Feature::Struct(to_struct(object).map_err(|inner| format!(" {inner}"))?)
        }
    })
}

fn resolved<T>(
    client: &JonesClient,
    value: T,
    (reason, revision): (Reason, Option<Revision>),
    split: bool,
    metadata: Metadata,
) -> ResolutionDetails<T> {
    let reason = match reason {
        Reason::Stale if client.snapshot().from_cache => EvaluationReason::Cached,
        Reason::Stale => EvaluationReason::Other("STALE".into()),
        _ if split => EvaluationReason::Split,
        _ => EvaluationReason::Static,
    };
    ResolutionDetails {
        value,
        variant: None,
        reason: Some(reason),
        flag_metadata: match (metadata, revision) {
            (Metadata::Revision, Some(revision)) => Some(revision_metadata(revision)),
            _ => None,
        },
    }
}

/// The revision a value was read from, as flag metadata: the view's
/// `mzxid` and `version`.
fn revision_metadata(revision: Revision) -> FlagMetadata {
    FlagMetadata::default()
        .with_value("mzxid", revision.mzxid)
        .with_value("version", i64::from(revision.version))
}

/// The error for a default: which code, and a message naming the flag and
/// what it holds.
fn failure<T>(client: &JonesClient, key: &str, detail: &Detail<T>, asked: &str) -> EvaluationError {
    match detail.reason {
        Reason::NotReady => error(
            EvaluationErrorCode::ProviderNotReady,
            "no config has been read from ZooKeeper yet".into(),
        ),
        Reason::Missing => error(
            EvaluationErrorCode::FlagNotFound,
            format!("flag {key:?} is not in the config"),
        ),
        _ => {
            let snapshot = client.snapshot();
            let held = snapshot.config.get(key).map_or("nothing", json_kind);
            error(
                EvaluationErrorCode::TypeMismatch,
                format!("flag {key:?} holds {held}, not {asked}"),
            )
        }
    }
}

fn error(code: EvaluationErrorCode, message: String) -> EvaluationError {
    EvaluationError {
        code,
        message: Some(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jones_client::{TestData, parse_config};

    fn client() -> JonesClient {
        TestData::new(
            parse_config(
                br#"{"on": true, "pct": 100, "none": 0, "bad_pct": 150, "n": 7, "x": 2.5,
                     "s": "hi", "obj": {"a": [1, {"b": null}]}, "null": null}"#,
            )
            .unwrap(),
        )
        .client()
    }

    fn code<T: std::fmt::Debug>(result: EvaluationResult<T>) -> EvaluationErrorCode {
        result.unwrap_err().code
    }

    #[test]
    fn every_type_resolves_with_the_spec_reasons() {
        let c = client();
        let ctx = EvaluationContext::default().with_targeting_key("user-17");
        let on = boolean(&c, "on", &ctx, Metadata::Bare).unwrap();
        assert_eq!(
            (on.value, on.reason),
            (true, Some(EvaluationReason::Static))
        );
        let pct = boolean(&c, "pct", &ctx, Metadata::Bare).unwrap();
        assert_eq!(
            (pct.value, pct.reason),
            (true, Some(EvaluationReason::Split))
        );
        assert!(!boolean(&c, "none", &ctx, Metadata::Bare).unwrap().value);
        assert_eq!(typed::<i64>(&c, "n", "an integer").unwrap().value, 7);
        assert_eq!(typed::<f64>(&c, "x", "a float").unwrap().value, 2.5);
        assert_eq!(typed::<f64>(&c, "n", "a float").unwrap().value, 7.0);
        assert_eq!(typed::<String>(&c, "s", "a string").unwrap().value, "hi");
        let obj = structure(&c, "obj").unwrap().value;
        let open_feature::Value::Array(a) = &obj.fields["a"] else {
            panic!("{obj:?}")
        };
        assert_eq!(a[0], open_feature::Value::Int(1));
        let open_feature::Value::Struct(inner) = &a[1] else {
            panic!("{a:?}")
        };
        assert!(inner.fields.is_empty(), "a null field is left out");
    }

    #[test]
    fn a_null_inside_an_array_is_refused_naming_where() {
        let c = TestData::new(parse_config(br#"{"obj": {"list": [1, null]}}"#).unwrap()).client();
        let e = structure(&c, "obj").unwrap_err();
        assert_eq!(e.code, EvaluationErrorCode::TypeMismatch);
        assert_eq!(
            e.message.unwrap(),
            r#"flag "obj" holds a null in field "list" at [1], which a structure cannot hold"#
        );
    }

    #[test]
    fn failures_carry_the_spec_error_codes_and_name_the_flag() {
        let c = client();
        let none = EvaluationContext::default();
        let ctx = none.clone().with_targeting_key("u");
        assert_eq!(
            code(boolean(&c, "pct", &none, Metadata::Bare)),
            EvaluationErrorCode::TargetingKeyMissing
        );
        assert_eq!(
            code(boolean(&c, "bad_pct", &ctx, Metadata::Bare)),
            EvaluationErrorCode::TypeMismatch
        );
        assert_eq!(
            code(boolean(&c, "s", &ctx, Metadata::Bare)),
            EvaluationErrorCode::TypeMismatch
        );
        assert_eq!(
            code(boolean(&c, "absent", &ctx, Metadata::Bare)),
            EvaluationErrorCode::FlagNotFound
        );
        assert_eq!(
            code(typed::<i64>(&c, "x", "an integer")),
            EvaluationErrorCode::TypeMismatch
        );
        assert_eq!(
            code(typed::<String>(&c, "null", "a string")),
            EvaluationErrorCode::TypeMismatch
        );
        assert_eq!(code(structure(&c, "s")), EvaluationErrorCode::TypeMismatch);
        let message = typed::<i64>(&c, "s", "an integer")
            .unwrap_err()
            .message
            .unwrap();
        assert_eq!(message, r#"flag "s" holds a string, not an integer"#);
    }
}
