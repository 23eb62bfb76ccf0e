//! Merge modes: a deep service merges objects key by key; switching a
//! service's mode rewrites its views atomically (batched or not, and when
//! the switch dies midway); writes racing a switch never leave a view
//! merged in the other mode; a preview names every inherited key a change
//! would hide.

use jones_client::MergeMode;
use jones_server::{Limits, Problem};
use serde_json::json;

use crate::harness::{admin, assert_consistent, env, http, obj, serve_on_socket, service, view};

async fn db_tree(admin: &jones_server::Admin, svc: &jones_client::ServiceName) {
    admin
        .set_env(
            svc,
            &env(""),
            obj(json!({"db": {"host": "db1", "pool": {"size": 5, "idle": 1}}})),
            None,
        )
        .await
        .unwrap();
    admin
        .create_env(
            svc,
            &env("prod"),
            obj(json!({"db": {"pool": {"size": 20}}})),
        )
        .await
        .unwrap();
    admin
        .create_env(svc, &env("prod/eu"), obj(json!({"region": "eu"})))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_deep_service_merges_nested_objects_and_a_switch_rewrites_every_view() {
    let admin = admin().await;
    let svc = service();
    admin
        .create_service_with_merge(&svc, MergeMode::Deep)
        .await
        .unwrap();
    db_tree(&admin, &svc).await;
    assert_eq!(
        view(&admin, &svc, "prod/eu").await["db"],
        json!({"host": "db1", "pool": {"size": 20, "idle": 1}})
    );
    assert_consistent(&admin, &svc).await;
    let out = admin
        .set_merge_mode(&svc, MergeMode::Shallow)
        .await
        .unwrap();
    assert_eq!(
        out.views_written, 2,
        "prod and prod/eu change, the root not"
    );
    assert_eq!(admin.merge_mode(&svc).await.unwrap(), MergeMode::Shallow);
    assert_eq!(
        view(&admin, &svc, "prod/eu").await["db"],
        json!({"pool": {"size": 20}})
    );
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn a_batched_switch_that_dies_midway_is_finished_by_the_repair() {
    let setup = admin().await;
    let svc = service();
    setup.create_service(&svc).await.unwrap();
    db_tree(&setup, &svc).await;
    for i in 0..12 {
        setup
            .create_env(
                &svc,
                &env(&format!("prod/c{i:02}")),
                obj(json!({"pad": "p".repeat(300)})),
            )
            .await
            .unwrap();
    }
    let dying = admin().await.with_limits(Limits {
        multi_bytes: 2048,
        stop_after_batches: Some(2),
        ..Limits::default()
    });
    let err = dying
        .set_merge_mode(&svc, MergeMode::Deep)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stopped after"), "{err}");
    let found = setup.verify(&svc).await.unwrap();
    assert!(
        found.problems.contains(&Problem::PendingRewrite),
        "{found:?}"
    );
    setup.repair(&svc).await.unwrap();
    assert_eq!(setup.merge_mode(&svc).await.unwrap(), MergeMode::Deep);
    assert_eq!(assert_consistent(&setup, &svc).await, 15);
    assert_eq!(
        view(&setup, &svc, "prod/c07").await["db"]["host"],
        "db1",
        "deep views everywhere"
    );
    // Batched the whole way, it lands in one call.
    let batched = admin().await.with_limits(Limits {
        multi_bytes: 2048,
        ..Limits::default()
    });
    let out = batched
        .set_merge_mode(&svc, MergeMode::Shallow)
        .await
        .unwrap();
    assert!(out.transactions > 2, "{out:?}");
    assert_consistent(&setup, &svc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_racing_mode_switches_never_leave_a_view_in_the_other_mode() {
    let one = admin().await;
    // Each write waits between its read and its commit, long enough for
    // the switch to land in between.
    let other = admin().await.with_limits(Limits {
        commit_delay: Some(std::time::Duration::from_millis(30)),
        ..Limits::default()
    });
    let svc = service();
    one.create_service(&svc).await.unwrap();
    db_tree(&one, &svc).await;
    // `other` reads the same view under both modes until the write below
    // gives it its own `db`: a switch alone leaves its view untouched, so
    // only the service znode's version can tell a write that the mode
    // changed after it read the tree.
    let other_env = env("other");
    one.create_env(&svc, &other_env, obj(json!({})))
        .await
        .unwrap();
    for round in 0..40 {
        let mode = if round % 2 == 0 {
            MergeMode::Deep
        } else {
            MergeMode::Shallow
        };
        let switch = one.set_merge_mode(&svc, mode);
        let reset = obj(json!({}));
        other.set_env(&svc, &other_env, reset, None).await.unwrap();
        let write = other.set_env(&svc, &other_env, obj(json!({"db": {"port": round}})), None);
        let (switched, written) = tokio::join!(
            async {
                // Let the write read first.
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                switch.await
            },
            write
        );
        switched.unwrap();
        written.unwrap();
        assert_consistent(&one, &svc).await;
    }
}

#[tokio::test]
async fn a_preview_names_every_inherited_key_a_change_would_hide() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    db_tree(&admin, &svc).await;
    let before = crate::harness::snapshot(&admin, &svc).await;
    let preview = admin
        .preview_env(
            &svc,
            &env("prod"),
            obj(json!({"db": {"pool": {"size": 64}}, "own": 1})),
        )
        .await
        .unwrap();
    // Shallow: prod's `db` already replaced the root's, so nothing new is
    // hidden; overriding `db` at the root's child hides nothing either.
    assert_eq!(preview.views_changed, ["prod", "prod/eu"]);
    assert!(preview.hidden.is_empty(), "{preview:?}");
    let preview = admin
        .preview_env(&svc, &env("prod/eu"), obj(json!({"db": {"port": 1}})))
        .await
        .unwrap();
    let hidden: Vec<(&str, &str, &str)> = preview
        .hidden
        .iter()
        .map(|h| (h.env.as_str(), h.key.as_str(), h.from.as_str()))
        .collect();
    assert_eq!(hidden, [("prod/eu", "db.pool.size", "prod")]);
    let preview = admin
        .preview_env(&svc, &env(""), obj(json!({"db": {"host": "db2"}})))
        .await
        .unwrap();
    assert!(preview.hidden.is_empty(), "the root inherits nothing");
    crate::harness::assert_unchanged(&admin, &svc, &before).await;
    // Dropping an own key the root also sets does not bring the root's
    // back under the shallow merge: hidden.
    admin
        .set_env(
            &svc,
            &env("prod"),
            obj(json!({"db": {"pool": {"size": 20}, "host": "mine"}})),
            None,
        )
        .await
        .unwrap();
    let before = crate::harness::snapshot(&admin, &svc).await;
    let preview = admin
        .preview_env(
            &svc,
            &env("prod"),
            obj(json!({"db": {"pool": {"size": 20}}})),
        )
        .await
        .unwrap();
    let hidden: Vec<(&str, &str, &str)> = preview
        .hidden
        .iter()
        .map(|h| (h.env.as_str(), h.key.as_str(), h.from.as_str()))
        .collect();
    assert_eq!(
        hidden,
        [("prod", "db.host", ""), ("prod/eu", "db.host", "")]
    );
    crate::harness::assert_unchanged(&admin, &svc, &before).await;

    // The same change in a deep service hides nothing.
    admin.set_merge_mode(&svc, MergeMode::Deep).await.unwrap();
    let preview = admin
        .preview_env(&svc, &env("prod/eu"), obj(json!({"db": {"port": 1}})))
        .await
        .unwrap();
    assert!(preview.hidden.is_empty(), "{preview:?}");
    // Unless a non-object replaces an inherited object.
    let preview = admin
        .preview_env(&svc, &env("prod/eu"), obj(json!({"db": "sqlite"})))
        .await
        .unwrap();
    let keys: Vec<&str> = preview.hidden.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(keys, ["db.host", "db.pool.size", "db.pool.idle"]);
}

#[tokio::test]
async fn merge_mode_over_http() {
    let admin = admin().await;
    let svc = service();
    let server = serve_on_socket(&admin, None).await;
    let base = format!("/api/v1/services/{svc}");
    let (status, body) = http(server.addr, "POST", &base, Some(r#"{"merge": "deep"}"#)).await;
    assert_eq!(status, 201, "{body}");
    let (_, body) = http(server.addr, "GET", &base, None).await;
    assert!(body.contains(r#""merge":"deep""#), "{body}");
    for (bad, needle) in [
        (r#"{"merge": "sideways"}"#, "unknown merge mode"),
        (r#"{"merge": 1}"#, "must be"),
        (
            r#"{"merge": "deep", "colour": "red"}"#,
            "unknown service setting",
        ),
        (r#"{}"#, "needs `merge`"),
    ] {
        let (status, body) = http(server.addr, "PUT", &base, Some(bad)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains(needle), "{bad}: {body}");
    }
    let (status, body) = http(server.addr, "PUT", &base, Some(r#"{"merge": "shallow"}"#)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(admin.merge_mode(&svc).await.unwrap(), MergeMode::Shallow);
    db_tree(&admin, &svc).await;
    let (status, body) = http(
        server.addr,
        "POST",
        &format!("{base}/preview/config/prod/eu"),
        Some(r#"{"config": {"db": {"port": 1}}}"#),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let preview: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        preview["hidden"][0],
        json!({"env": "prod/eu", "path": ["db", "pool", "size"], "key": "db.pool.size", "from": "prod"})
    );
}
