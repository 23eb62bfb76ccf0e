//! Schemas: every write is checked against every view it changes, the
//! merged views included; a refusal names each violation by environment
//! and JSON pointer and leaves the tree byte-identical; a schema is only
//! stored when every view satisfies it, also against concurrent edits.

use jones_client::{MergeMode, ServiceName};
use jones_server::{Action, Admin, Error};
use serde_json::{Value, json};

use crate::harness::{
    admin, assert_unchanged, env, http_with_token, obj, serve_on_socket, service, snapshot,
};

/// Views that set `region` need `dpo`; `pool` is a positive integer.
fn schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"pool": {"type": "integer", "minimum": 1}},
        "dependentRequired": {"region": ["dpo"]}
    })
}

/// A service whose root gives `dpo` and `pool`, with `prod/eu` setting
/// `region`, under [`schema`].
async fn governed(admin: &Admin) -> ServiceName {
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(&svc, &env(""), obj(json!({"dpo": "ana", "pool": 4})), None)
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("prod"), obj(json!({})))
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("prod/eu"), obj(json!({"region": "eu"})))
        .await
        .unwrap();
    admin.set_schema(&svc, schema()).await.unwrap();
    svc
}

fn violations(e: &Error) -> Vec<(String, String)> {
    match e {
        Error::SchemaViolation { violations, .. } => violations
            .iter()
            .map(|v| (v.env.clone(), v.pointer.clone()))
            .collect(),
        other => panic!("not a schema violation: {other}"),
    }
}

#[tokio::test]
async fn a_root_edit_that_breaks_a_child_view_is_refused_and_the_tree_is_untouched() {
    let admin = admin().await;
    let svc = governed(&admin).await;
    let tree = snapshot(&admin, &svc).await;
    // The root's own view stays valid without `dpo`; prod/eu's does not.
    let e = admin
        .set_env(&svc, &env(""), obj(json!({"pool": 4})), None)
        .await
        .unwrap_err();
    assert_eq!(violations(&e), [("prod/eu".to_owned(), String::new())]);
    assert!(e.to_string().contains("dpo"), "{e}");
    let e = admin
        .set_env(&svc, &env("prod"), obj(json!({"pool": 0})), None)
        .await
        .unwrap_err();
    assert_eq!(
        violations(&e),
        [
            ("prod".to_owned(), "/pool".to_owned()),
            ("prod/eu".to_owned(), "/pool".to_owned())
        ]
    );
    assert_unchanged(&admin, &svc, &tree).await;

    // A valid edit passes.
    admin
        .set_env(&svc, &env(""), obj(json!({"dpo": "bo", "pool": 9})), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn creates_rollbacks_pins_and_merge_changes_are_checked_too() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(
            &svc,
            &env(""),
            obj(json!({"pool": 4, "db": {"host": "h"}})),
            None,
        )
        .await
        .unwrap();
    let root_without_dpo = admin.history(&svc, None, 1, None).await.unwrap().entries[0].id;
    admin
        .create_env(&svc, &env("prod"), obj(json!({"db": {"port": 1}})))
        .await
        .unwrap();
    let prod_without_dpo = admin.history(&svc, None, 1, None).await.unwrap().entries[0].id;
    admin
        .set_env(
            &svc,
            &env(""),
            obj(json!({"pool": 4, "dpo": "ana", "db": {"host": "h"}})),
            None,
        )
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("prod/eu"), obj(json!({"region": "eu"})))
        .await
        .unwrap();
    // Deep-merged views keep `db.host`; the shallow merge drops it.
    admin.set_merge_mode(&svc, MergeMode::Deep).await.unwrap();
    let mut with_host = schema();
    with_host["properties"]["db"] = json!({"type": "object", "required": ["host"]});
    admin.set_schema(&svc, with_host).await.unwrap();
    let tree = snapshot(&admin, &svc).await;

    let created = admin
        .create_env(&svc, &env("prod/us"), obj(json!({"pool": 0})))
        .await
        .unwrap_err();
    assert_eq!(
        violations(&created),
        [("prod/us".to_owned(), "/pool".to_owned())]
    );
    let rolled = admin
        .rollback(&svc, root_without_dpo, None)
        .await
        .unwrap_err();
    assert_eq!(violations(&rolled), [("prod/eu".to_owned(), String::new())]);
    let pinned = admin
        .pin(&svc, &env("prod"), prod_without_dpo)
        .await
        .unwrap_err();
    assert!(violations(&pinned).contains(&("prod/eu".to_owned(), String::new())));
    let merged = admin
        .set_merge_mode(&svc, MergeMode::Shallow)
        .await
        .unwrap_err();
    assert_eq!(
        violations(&merged),
        [
            ("prod".to_owned(), "/db".to_owned()),
            ("prod/eu".to_owned(), "/db".to_owned())
        ]
    );
    assert_unchanged(&admin, &svc, &tree).await;
}

#[tokio::test]
async fn a_schema_is_stored_only_when_every_view_satisfies_it() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(&svc, &env(""), obj(json!({"pool": 0})), None)
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("eu"), obj(json!({"region": "eu", "pool": 2})))
        .await
        .unwrap();
    let tree = snapshot(&admin, &svc).await;
    let e = admin.set_schema(&svc, schema()).await.unwrap_err();
    assert_eq!(
        violations(&e),
        [
            ("".to_owned(), "/pool".to_owned()),
            ("eu".to_owned(), String::new())
        ]
    );
    for (garbage, wanted) in [
        (json!(12), "not a number"),
        (json!({"type": "wrong"}), "wrong"),
        (
            json!({"$ref": "https://example.com/schema.json"}),
            "example.com",
        ),
    ] {
        let e = admin.set_schema(&svc, garbage.clone()).await.unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }) && e.to_string().contains(wanted),
            "{garbage}: {e}"
        );
    }
    let e = admin.remove_schema(&svc).await.unwrap_err();
    assert!(matches!(e, Error::NoSchema(_)), "{e}");
    assert_unchanged(&admin, &svc, &tree).await;
    assert_eq!(admin.schema(&svc).await.unwrap(), None);

    admin
        .set_env(&svc, &env(""), obj(json!({"pool": 1, "dpo": "x"})), None)
        .await
        .unwrap();
    admin.set_schema(&svc, schema()).await.unwrap();
    assert_eq!(admin.schema(&svc).await.unwrap(), Some(schema()));
    admin.remove_schema(&svc).await.unwrap();
    admin
        .set_env(&svc, &env(""), obj(json!({"pool": -5})), None)
        .await
        .unwrap();
    let actions: Vec<Action> = admin
        .history(&svc, None, 3, None)
        .await
        .unwrap()
        .entries
        .iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [Action::ConfigSet, Action::SchemaRemove, Action::SchemaSet]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_racing_an_edit_that_breaks_it_never_lands_beside_it() {
    let admin = admin().await;
    let other = crate::harness::admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let root = env("");
    let (mut schemas, mut edits) = (0, 0);
    for round in 0..100 {
        admin
            .set_env(&svc, &root, obj(json!({"pool": 1})), None)
            .await
            .unwrap();
        let (set, edited) = tokio::join!(
            admin.set_schema(&svc, schema()),
            other.set_env(&svc, &root, obj(json!({"pool": 0})), None),
        );
        match (set, edited) {
            (Ok(_), Err(e)) => {
                assert_eq!(violations(&e), [(String::new(), "/pool".to_owned())]);
                schemas += 1;
            }
            (Err(e), Ok(_)) => {
                assert_eq!(violations(&e), [(String::new(), "/pool".to_owned())]);
                edits += 1;
            }
            (s, e) => panic!("round {round}: exactly one may land: {s:?} / {e:?}"),
        }
        if admin.schema(&svc).await.unwrap().is_some() {
            admin.remove_schema(&svc).await.unwrap();
        }
    }
    assert_eq!(schemas + edits, 100);
}

#[tokio::test]
async fn the_schema_api_answers_422_with_each_violation() {
    let admin = admin().await;
    let svc = governed(&admin).await;
    let server = serve_on_socket(&admin, Some("sesame")).await;
    let addr = server.addr;
    let base = format!("/api/v1/services/{}", svc.as_str());
    let send = |method: &'static str, path: String, body: Option<String>| async move {
        http_with_token(addr, method, &path, body.as_deref(), "sesame").await
    };
    let (status, text) =
        http_with_token(addr, "GET", &format!("{base}/schema"), None, "sesame").await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["schema"],
        schema()
    );

    let version = admin.get_env(&svc, &env("")).await.unwrap().version;
    let tree = snapshot(&admin, &svc).await;
    let body = json!({"config": {"pool": 0}, "version": version});
    let (status, text) = send("PUT", format!("{base}/config"), Some(body.to_string())).await;
    assert_eq!(status, 422, "{text}");
    let refusal: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(refusal["kind"], "schema_violation");
    assert_eq!(refusal["count"], 4);
    let mut named: Vec<(&str, &str)> = refusal["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["env"].as_str().unwrap(), v["pointer"].as_str().unwrap()))
        .collect();
    named.sort_unstable();
    assert_eq!(
        named,
        [
            ("", "/pool"),
            ("prod", "/pool"),
            ("prod/eu", ""),
            ("prod/eu", "/pool")
        ]
    );
    for (body, status, wanted) in [
        (json!({}), 400, "needs `schema`"),
        (json!({"schema": {"type": 5}}), 400, "the schema"),
        (
            json!({"schema": {}, "extra": 1}),
            400,
            "unknown field `extra`",
        ),
        (json!({"schema": {"required": ["nope"]}}), 422, "nope"),
    ] {
        let (got, text) = send("PUT", format!("{base}/schema"), Some(body.to_string())).await;
        assert_eq!(got, status, "{body}: {text}");
        assert!(text.contains(wanted), "{body}: {text}");
    }
    assert_unchanged(&admin, &svc, &tree).await;
    let (status, _) = send("DELETE", format!("{base}/schema?message=loosen"), None).await;
    assert_eq!(status, 200);
    let (status, text) =
        http_with_token(addr, "GET", &format!("{base}/schema"), None, "sesame").await;
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("no schema"), "{text}");
}
