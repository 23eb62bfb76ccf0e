//! Rollback: a config restored exactly as it was right after an entry, as a
//! change with its own entry; refused, with nothing written, when the
//! version is stale, the entry is not a config's, or the history cannot
//! tell; a rollback racing an edit loses with a conflict or wins whole.

use jones_client::ServiceName;
use jones_server::{Action, Admin, Entry, Error};
use serde_json::{Value, json};

use crate::harness::{
    admin, assert_unchanged, env, http_with_token, obj, serve_on_socket, service, snapshot,
};

/// The newest entry of `svc`.
async fn newest(admin: &Admin, svc: &ServiceName) -> Entry {
    admin
        .history(svc, None, 1, None)
        .await
        .unwrap()
        .entries
        .remove(0)
}

#[tokio::test]
async fn a_rollback_restores_the_config_and_views_exactly_and_is_recorded() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .create_env(
            &svc,
            &env("prod"),
            obj(json!({"pool": 4, "db": {"host": "a"}})),
        )
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("prod/eu"), obj(json!({"region": "eu"})))
        .await
        .unwrap();
    let good = obj(json!({"pool": 8, "db": {"host": "b", "port": 5432}, "list": [1, 2]}));
    admin
        .set_env(&svc, &env("prod"), good.clone(), None)
        .await
        .unwrap();
    let good_entry = newest(&admin, &svc).await;
    let views_then = (
        admin.get_env(&svc, &env("prod")).await.unwrap().view,
        admin.get_env(&svc, &env("prod/eu")).await.unwrap().view,
    );
    for bad in [json!({"pool": 0}), json!({"pool": -1, "extra": true})] {
        admin
            .set_env(&svc, &env("prod"), obj(bad), None)
            .await
            .unwrap();
    }
    // An edit elsewhere in between is not undone.
    admin
        .set_env(
            &svc,
            &env("prod/eu"),
            obj(json!({"region": "eu-west"})),
            None,
        )
        .await
        .unwrap();

    let version = admin.get_env(&svc, &env("prod")).await.unwrap().version;
    let done = admin
        .rollback(&svc, good_entry.id, Some(version))
        .await
        .unwrap();
    assert_eq!((done.env.as_str(), &done.config), ("prod", &good));
    let prod = admin.get_env(&svc, &env("prod")).await.unwrap();
    assert_eq!(prod.config, good);
    assert_eq!(prod.view, views_then.0);
    let eu = admin.get_env(&svc, &env("prod/eu")).await.unwrap();
    let mut expected_eu = views_then.1.clone();
    expected_eu.insert("region".into(), json!("eu-west"));
    assert_eq!(eu.view, expected_eu);
    assert_eq!(prod.version, done.outcome.version);

    let entry = newest(&admin, &svc).await;
    assert_eq!(entry.action, Action::ConfigRollback);
    assert_eq!(entry.to, Some(good_entry.id));
    assert_eq!(entry.env.as_deref(), Some("prod"));
    assert_eq!(entry.before, json!({"pool": -1, "extra": true}));
    assert_eq!(entry.after, Value::Object(good.clone()));

    // Back to the environment's creation, then to the rollback itself.
    let created = admin
        .history(&svc, Some(&env("prod")), 500, None)
        .await
        .unwrap()
        .entries
        .into_iter()
        .find(|e| e.action == Action::EnvCreate)
        .unwrap();
    admin.rollback(&svc, created.id, None).await.unwrap();
    assert_eq!(
        admin.get_env(&svc, &env("prod")).await.unwrap().config,
        obj(json!({"pool": 4, "db": {"host": "a"}}))
    );
    admin.rollback(&svc, entry.id, None).await.unwrap();
    assert_eq!(
        admin.get_env(&svc, &env("prod")).await.unwrap().config,
        good
    );
    assert!(admin.verify(&svc).await.unwrap().problems.is_empty());
}

#[tokio::test]
async fn a_config_too_large_for_its_entry_is_restored_from_the_next_entry() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let pad = |c: &str, n: usize| obj(json!({"pad": c.repeat(n)}));
    // Too large to share a transaction with its view: batched, and the
    // first batch has no room for the config twice, so the entry leaves
    // both sides out.
    let huge = pad("z", 500 * 1024);
    admin
        .set_env(&svc, &env(""), huge.clone(), None)
        .await
        .unwrap();
    let omitted = newest(&admin, &svc).await;
    assert!(
        omitted.after_omitted,
        "the test needs an entry without `after`"
    );
    admin
        .set_env(&svc, &env(""), obj(json!({"small": 1})), None)
        .await
        .unwrap();
    // From the next entry's `before`.
    admin.rollback(&svc, omitted.id, None).await.unwrap();
    assert_eq!(admin.get_env(&svc, &env("")).await.unwrap().config, huge);
    // The rollback's own entry leaves its `after` out too; nothing came
    // after it, so its config is the stored one.
    let rollback = newest(&admin, &svc).await;
    assert!(rollback.after_omitted);
    admin.rollback(&svc, rollback.id, None).await.unwrap();
    assert_eq!(admin.get_env(&svc, &env("")).await.unwrap().config, huge);
    assert_eq!(newest(&admin, &svc).await.action, Action::ConfigRollback);
}

#[tokio::test]
async fn a_rollback_that_cannot_be_done_is_refused_and_writes_nothing() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .create_env(&svc, &env("a"), obj(json!({"n": 1})))
        .await
        .unwrap();
    let created = newest(&admin, &svc).await;
    admin.set_association(&svc, "h1", &env("a")).await.unwrap();
    let association = newest(&admin, &svc).await;
    admin
        .create_env(&svc, &env("b"), obj(json!({"n": 2})))
        .await
        .unwrap();
    let b = newest(&admin, &svc).await;
    admin.delete_env(&svc, &env("b"), false).await.unwrap();
    let deleted = newest(&admin, &svc).await;
    let tree = snapshot(&admin, &svc).await;

    let refused = |e: Error| e.to_string();
    let e = admin
        .rollback(&svc, association.id, None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Unrestorable { .. }) && refused(e).contains("association.set"));
    let e = admin.rollback(&svc, deleted.id, None).await.unwrap_err();
    assert!(matches!(e, Error::Unrestorable { .. }), "{e}");
    let e = admin.rollback(&svc, b.id, None).await.unwrap_err();
    assert!(matches!(e, Error::EnvNotFound { .. }), "{e}");
    let e = admin.rollback(&svc, 9_999_999, None).await.unwrap_err();
    assert!(
        matches!(e, Error::HistoryEntryNotFound { id: 9_999_999, .. }),
        "{e}"
    );
    let e = admin.rollback(&svc, created.id, Some(1)).await.unwrap_err();
    assert!(matches!(e, Error::Conflict { .. }), "{e}");
    assert_unchanged(&admin, &svc, &tree).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_racing_an_edit_gets_a_conflict_or_wins_whole() {
    let admin = admin().await;
    let other = crate::harness::admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .create_env(&svc, &env("a"), obj(json!({"n": 0})))
        .await
        .unwrap();
    let target = newest(&admin, &svc).await;
    let (mut rollbacks, mut edits) = (0, 0);
    let a = env("a");
    for round in 1..=120 {
        let version = admin.get_env(&svc, &env("a")).await.unwrap().version;
        let edit = obj(json!({"n": round}));
        let (rolled, edited) = tokio::join!(
            admin.rollback(&svc, target.id, Some(version)),
            other.set_env(&svc, &a, edit.clone(), Some(version)),
        );
        let stored = admin.get_env(&svc, &env("a")).await.unwrap().config;
        match (rolled, edited) {
            (Ok(_), Err(Error::Conflict { .. })) => {
                rollbacks += 1;
                assert_eq!(stored, obj(json!({"n": 0})), "round {round}");
            }
            (Err(Error::Conflict { .. }), Ok(_)) => {
                edits += 1;
                assert_eq!(stored, edit, "round {round}");
            }
            (r, e) => panic!("round {round}: one must win, the other conflict: {r:?} / {e:?}"),
        }
    }
    assert_eq!(rollbacks + edits, 120);
    let entries = admin
        .history(&svc, Some(&env("a")), 500, None)
        .await
        .unwrap()
        .entries;
    let recorded = |action| entries.iter().filter(|e| e.action == action).count();
    assert_eq!(recorded(Action::ConfigRollback), rollbacks);
    assert_eq!(recorded(Action::ConfigSet), edits);
    assert!(admin.verify(&svc).await.unwrap().problems.is_empty());
}

#[tokio::test]
async fn the_rollback_api_answers_the_restored_config_and_names_bad_input() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .create_env(&svc, &env("a"), obj(json!({"n": 1})))
        .await
        .unwrap();
    let created = newest(&admin, &svc).await;
    admin
        .set_env(&svc, &env("a"), obj(json!({"n": 2})), None)
        .await
        .unwrap();
    let server = serve_on_socket(&admin, Some("sesame")).await;
    let addr = server.addr;
    let url = format!("/api/v1/services/{}/rollback", svc.as_str());
    let post = |body: String| {
        let url = url.clone();
        async move { http_with_token(addr, "POST", &url, Some(&body), "sesame").await }
    };
    let version = admin.get_env(&svc, &env("a")).await.unwrap().version;
    let tree = snapshot(&admin, &svc).await;
    for (body, status, wanted) in [
        (json!({"version": version}), 400, "needs `to`"),
        (json!({"to": "e1", "version": version}), 400, "`to` must be"),
        (json!({"to": -3, "version": version}), 400, "`to` must be"),
        (json!({"to": created.id}), 400, "`version`"),
        (
            json!({"to": created.id, "version": version, "why": 1}),
            400,
            "unknown field `why`",
        ),
        (
            json!({"to": 123_456_789, "version": version}),
            404,
            "no history entry 123456789",
        ),
        (
            json!({"to": created.id, "version": version - 1}),
            409,
            "version conflict",
        ),
    ] {
        let (got, text) = post(body.to_string()).await;
        assert_eq!(got, status, "{body}: {text}");
        assert!(text.contains(wanted), "{body}: {text}");
    }
    let base = format!("/api/v1/services/{}/history", svc.as_str());
    let get =
        |path: String| async move { http_with_token(addr, "GET", &path, None, "sesame").await };
    let (got, text) = get(format!("{base}/{}", created.id)).await;
    assert_eq!(got, 200, "{text}");
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&shown["action"], &shown["after"]),
        (&json!("env.create"), &json!({"n": 1}))
    );
    let (got, text) = get(format!("{base}/{}/config", created.id)).await;
    assert_eq!(got, 200, "{text}");
    let shown: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        shown,
        json!({"id": created.id, "env": "a", "config": {"n": 1}})
    );
    for (path, status) in [
        ("/x", 400),
        ("/-1/config", 400),
        ("/77777777", 404),
        ("/1/nope", 404),
    ] {
        let (got, text) = get(format!("{base}{path}")).await;
        assert_eq!(got, status, "{path}: {text}");
    }
    let (got, text) = post("not json".into()).await;
    assert_eq!(got, 400, "{text}");
    assert_unchanged(&admin, &svc, &tree).await;

    let body = json!({"to": created.id, "version": version, "message": "back to one"});
    let (got, text) = post(body.to_string()).await;
    assert_eq!(got, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (&answer["env"], &answer["config"]),
        (&json!("a"), &json!({"n": 1}))
    );
    let entry = newest(&admin, &svc).await;
    assert_eq!(
        (entry.actor.as_str(), entry.message.as_deref(), entry.to),
        ("admin", Some("back to one"), Some(created.id))
    );
    assert_eq!(
        answer["version"],
        json!(admin.get_env(&svc, &env("a")).await.unwrap().version)
    );
}
