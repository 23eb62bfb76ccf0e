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
//! cache file. Errors leave the default to the OpenFeature client, as the
//! spec requires.

use jones_client::{Detail, JonesClient, Reason, json_kind};
use open_feature::provider::ResolutionDetails;
use open_feature::{
    EvaluationContext, EvaluationError, EvaluationErrorCode, EvaluationReason, EvaluationResult,
    StructValue,
};
use serde_json::Value;

/// `key` as a `T`, for integers, floats and strings.
pub(crate) fn typed<T: serde::de::DeserializeOwned>(
    client: &JonesClient,
    key: &str,
    asked: &'static str,
) -> EvaluationResult<ResolutionDetails<T>> {
    let detail = client.get_detail::<Option<T>>(key, None);
    match detail.value {
        Some(value) if !detail.reason.is_default() => {
            Ok(resolved(client, value, detail.reason, false))
        }
        _ => Err(failure(client, key, &detail, asked)),
    }
}

/// `key` as a boolean: a toggle, or a percentage rollout of the
/// targeting key.
pub(crate) fn boolean(
    client: &JonesClient,
    key: &str,
    context: &EvaluationContext,
) -> EvaluationResult<ResolutionDetails<bool>> {
    let detail = client.get_detail::<Option<Value>>(key, None);
    match detail.value {
        Some(Value::Bool(on)) if !detail.reason.is_default() => {
            return Ok(resolved(client, on, detail.reason, false));
        }
        Some(Value::Number(_)) if !detail.reason.is_default() => {}
        _ => return Err(failure(client, key, &detail, "a boolean")),
    }
    let Some(unit) = context.targeting_key.as_deref() else {
        return Err(error(
            EvaluationErrorCode::TargetingKeyMissing,
            format!("flag {key:?} is a percentage rollout: it needs a targeting key"),
        ));
    };
    let rollout = client.percentage_detail(key, unit);
    if rollout.reason.is_default() {
        return Err(failure(client, key, &rollout, "a percentage from 0 to 100"));
    }
    Ok(resolved(client, rollout.value, rollout.reason, true))
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
            Ok(resolved(client, value, detail.reason, false))
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
    reason: Reason,
    split: bool,
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
        flag_metadata: None,
    }
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
        let on = boolean(&c, "on", &ctx).unwrap();
        assert_eq!(
            (on.value, on.reason),
            (true, Some(EvaluationReason::Static))
        );
        let pct = boolean(&c, "pct", &ctx).unwrap();
        assert_eq!(
            (pct.value, pct.reason),
            (true, Some(EvaluationReason::Split))
        );
        assert!(!boolean(&c, "none", &ctx).unwrap().value);
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
            code(boolean(&c, "pct", &none)),
            EvaluationErrorCode::TargetingKeyMissing
        );
        assert_eq!(
            code(boolean(&c, "bad_pct", &ctx)),
            EvaluationErrorCode::TypeMismatch
        );
        assert_eq!(
            code(boolean(&c, "s", &ctx)),
            EvaluationErrorCode::TypeMismatch
        );
        assert_eq!(
            code(boolean(&c, "absent", &ctx)),
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
