//! Pins: a pinned environment and its children keep their views through
//! edits above; edits below still land; unpinning materializes the current
//! merge; a pin goes with its environment; pins racing edits never leave a
//! view that disagrees with the confs and pins.

use jones_client::ServiceName;
use jones_server::{Action, Admin, Error, Limits};
use serde_json::{Value, json};

use crate::harness::{
    admin, assert_consistent, assert_unchanged, env, http_with_token, obj, serve_on_socket,
    service, snapshot, view,
};

/// The newest entry id of `svc`.
async fn newest_id(admin: &Admin, svc: &ServiceName) -> u64 {
    admin.history(svc, None, 1, None).await.unwrap().entries[0].id
}

/// A service with `prod` below the root and `prod/eu` below it.
async fn tree(admin: &Admin) -> ServiceName {
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(
            &svc,
            &env(""),
            obj(json!({"timeout": 100, "flag": false})),
            None,
        )
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("prod"), obj(json!({"pool": 8})))
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("prod/eu"), obj(json!({"region": "eu"})))
        .await
        .unwrap();
    svc
}

#[tokio::test]
async fn a_pinned_environment_and_its_children_keep_their_views_until_unpinned() {
    let admin = admin().await;
    let svc = tree(&admin).await;
    let then = newest_id(&admin, &svc).await;
    let (prod_then, eu_then) = (
        view(&admin, &svc, "prod").await,
        view(&admin, &svc, "prod/eu").await,
    );
    // Edits after the entry the pin goes back to, above and at prod.
    admin
        .set_env(
            &svc,
            &env(""),
            obj(json!({"timeout": 900, "flag": true})),
            None,
        )
        .await
        .unwrap();
    admin
        .set_env(&svc, &env("prod"), obj(json!({"pool": 64})), None)
        .await
        .unwrap();
    let outcome = admin.pin(&svc, &env("prod"), then).await.unwrap();
    assert_eq!(outcome.views_written, 2);
    assert_eq!(view(&admin, &svc, "prod").await, prod_then);
    assert_eq!(view(&admin, &svc, "prod/eu").await, eu_then);
    assert_consistent(&admin, &svc).await;

    // Edits above keep their history but stop at the pin.
    admin
        .set_env(&svc, &env(""), obj(json!({"timeout": 1, "new": 1})), None)
        .await
        .unwrap();
    admin
        .set_env(&svc, &env("prod"), obj(json!({"pool": 2})), None)
        .await
        .unwrap();
    assert_eq!(view(&admin, &svc, "prod").await, prod_then);
    assert_eq!(view(&admin, &svc, "prod/eu").await, eu_then);
    // An edit below the pin lands on the pinned view.
    admin
        .set_env(
            &svc,
            &env("prod/eu"),
            obj(json!({"region": "eu-west"})),
            None,
        )
        .await
        .unwrap();
    let mut eu_now = eu_then.clone();
    eu_now["region"] = json!("eu-west");
    assert_eq!(view(&admin, &svc, "prod/eu").await, eu_now);
    // A child created below a pin starts from the pinned view.
    admin
        .create_env(&svc, &env("prod/us"), obj(json!({"region": "us"})))
        .await
        .unwrap();
    let mut us = prod_then.clone();
    us["region"] = json!("us");
    assert_eq!(view(&admin, &svc, "prod/us").await, us);
    assert_consistent(&admin, &svc).await;

    let pins = admin.pins(&svc).await.unwrap();
    assert_eq!(pins.len(), 1);
    assert_eq!((pins[0].env.as_str(), pins[0].to), ("prod", then));
    assert_eq!(
        Value::Object(pins[0].unpinned.clone()),
        json!({"timeout": 1, "new": 1, "pool": 2})
    );

    admin.unpin(&svc, &env("prod")).await.unwrap();
    assert_eq!(
        view(&admin, &svc, "prod").await,
        json!({"timeout": 1, "new": 1, "pool": 2})
    );
    assert_eq!(
        view(&admin, &svc, "prod/eu").await,
        json!({"timeout": 1, "new": 1, "pool": 2, "region": "eu-west"})
    );
    assert_consistent(&admin, &svc).await;
    assert!(admin.pins(&svc).await.unwrap().is_empty());
    assert!(admin.verify(&svc).await.unwrap().problems.is_empty());

    let entries = admin
        .history(&svc, Some(&env("prod")), 10, None)
        .await
        .unwrap()
        .entries;
    let pinned = entries.iter().find(|e| e.action == Action::PinSet).unwrap();
    assert_eq!((pinned.to, &pinned.after), (Some(then), &prod_then));
    let unpinned = entries
        .iter()
        .find(|e| e.action == Action::PinRemove)
        .unwrap();
    assert_eq!(unpinned.before, prod_then);
    assert_eq!(unpinned.after, json!({"timeout": 1, "new": 1, "pool": 2}));
}

#[tokio::test]
async fn a_pin_goes_with_its_environment_and_refusals_write_nothing() {
    let admin = admin().await;
    let svc = tree(&admin).await;
    let then = newest_id(&admin, &svc).await;
    admin.pin(&svc, &env("prod/eu"), then).await.unwrap();
    let tree = snapshot(&admin, &svc).await;
    for (result, wanted) in [
        (
            admin.pin(&svc, &env("prod/eu"), 99_999_999).await,
            "no history entry",
        ),
        (admin.pin(&svc, &env("nope"), then).await, "does not exist"),
        (admin.unpin(&svc, &env("prod")).await, "not pinned"),
        // Before prod existed.
        (admin.pin(&svc, &env("prod"), 1).await, "did not exist"),
    ] {
        let e = result.unwrap_err();
        assert!(e.to_string().contains(wanted), "{e}");
    }
    assert_unchanged(&admin, &svc, &tree).await;

    admin.delete_env(&svc, &env("prod"), true).await.unwrap();
    assert!(admin.pins(&svc).await.unwrap().is_empty());
    admin
        .create_env(&svc, &env("prod"), obj(json!({"pool": 1})))
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("prod/eu"), obj(json!({})))
        .await
        .unwrap();
    admin
        .set_env(&svc, &env(""), obj(json!({"timeout": 5})), None)
        .await
        .unwrap();
    assert_eq!(
        view(&admin, &svc, "prod/eu").await,
        json!({"timeout": 5, "pool": 1})
    );
    assert_consistent(&admin, &svc).await;
    let e = admin.unpin(&svc, &env("prod/eu")).await.unwrap_err();
    assert!(matches!(e, Error::NotPinned { .. }), "{e}");
}

#[tokio::test]
async fn a_pin_over_the_transaction_budget_is_written_in_batches() {
    let admin = admin().await.with_limits(Limits {
        multi_bytes: 16 * 1024,
        ..Limits::default()
    });
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(&svc, &env(""), obj(json!({"pad": "x".repeat(2000)})), None)
        .await
        .unwrap();
    for i in 0..20 {
        admin
            .create_env(&svc, &env(&format!("c{i}")), obj(json!({"i": i})))
            .await
            .unwrap();
    }
    let then = newest_id(&admin, &svc).await;
    admin
        .set_env(&svc, &env(""), obj(json!({"pad": "y".repeat(2000)})), None)
        .await
        .unwrap();
    let outcome = admin.pin(&svc, &env(""), then).await.unwrap();
    assert!(outcome.transactions > 1, "{outcome:?}");
    assert_eq!(
        view(&admin, &svc, "c7").await["pad"],
        json!("x".repeat(2000))
    );
    assert_consistent(&admin, &svc).await;
    admin.unpin(&svc, &env("")).await.unwrap();
    assert_eq!(
        view(&admin, &svc, "c7").await["pad"],
        json!("y".repeat(2000))
    );
    assert_consistent(&admin, &svc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_racing_edits_above_and_deletes_leave_views_that_agree() {
    let admin = admin().await;
    let other = crate::harness::admin().await;
    let svc = tree(&admin).await;
    let then = newest_id(&admin, &svc).await;
    let (root, prod, eu) = (env(""), env("prod"), env("prod/eu"));
    for round in 0..100 {
        let edit = obj(json!({"timeout": round}));
        if round % 2 == 0 {
            let (pinned, edited) = tokio::join!(
                admin.pin(&svc, &prod, then),
                other.set_env(&svc, &root, edit, None),
            );
            pinned.unwrap();
            edited.unwrap();
            assert_eq!(
                view(&admin, &svc, "prod").await["timeout"],
                json!(100),
                "round {round}"
            );
        } else {
            let (unpinned, edited) = tokio::join!(
                admin.unpin(&svc, &prod),
                other.set_env(&svc, &root, edit, None),
            );
            unpinned.unwrap();
            edited.unwrap();
            assert_eq!(
                view(&admin, &svc, "prod").await["timeout"],
                json!(round),
                "round {round}"
            );
        }
        assert_consistent(&admin, &svc).await;
    }
    // A pin racing the delete of its environment: the delete wins whole or
    // the pin goes with the environment.
    for round in 0..50 {
        admin
            .create_env(&svc, &eu, obj(json!({"round": round})))
            .await
            .ok();
        let (pinned, deleted) = tokio::join!(
            admin.pin(&svc, &eu, then),
            other.delete_env(&svc, &eu, false),
        );
        deleted.unwrap();
        match pinned {
            Ok(_) | Err(Error::EnvNotFound { .. }) => {}
            Err(e) => panic!("round {round}: {e}"),
        }
        assert!(
            admin
                .pins(&svc)
                .await
                .unwrap()
                .iter()
                .all(|p| p.env != "prod/eu"),
            "round {round}: a pin outlived its environment"
        );
        assert_consistent(&admin, &svc).await;
    }
}

#[tokio::test]
async fn the_pins_api_pins_lists_unpins_and_names_bad_input() {
    let admin = admin().await;
    let svc = tree(&admin).await;
    let then = newest_id(&admin, &svc).await;
    admin
        .set_env(&svc, &env(""), obj(json!({"timeout": 7})), None)
        .await
        .unwrap();
    let server = serve_on_socket(&admin, Some("sesame")).await;
    let addr = server.addr;
    let base = format!("/api/v1/services/{}/pins", svc.as_str());
    let send = |method: &'static str, path: String, body: Option<String>| async move {
        http_with_token(addr, method, &path, body.as_deref(), "sesame").await
    };
    let tree = snapshot(&admin, &svc).await;
    for (body, status, wanted) in [
        (json!({}), 400, "needs `to`"),
        (json!({"to": "x"}), 400, "`to` must be"),
        (json!({"to": then, "view": {}}), 400, "unknown field `view`"),
        (json!({"to": 88_888_888}), 404, "no history entry"),
    ] {
        let (got, text) = send("PUT", format!("{base}/prod"), Some(body.to_string())).await;
        assert_eq!(got, status, "{body}: {text}");
        assert!(text.contains(wanted), "{body}: {text}");
    }
    let (got, text) = send(
        "PUT",
        format!("{base}/nope"),
        Some(json!({"to": then}).to_string()),
    )
    .await;
    assert_eq!(got, 404, "{text}");
    let (got, text) = send("DELETE", format!("{base}/prod"), None).await;
    assert_eq!(got, 404, "{text}");
    assert!(text.contains("not pinned"), "{text}");
    assert_unchanged(&admin, &svc, &tree).await;

    let body = json!({"to": then, "message": "hold prod for the freeze"});
    let (got, text) = send("PUT", format!("{base}/prod"), Some(body.to_string())).await;
    assert_eq!(got, 200, "{text}");
    let (got, text) = http_with_token(addr, "GET", &base, None, "sesame").await;
    assert_eq!(got, 200, "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["pins"][0]["env"], "prod");
    assert_eq!(listed["pins"][0]["view"]["timeout"], 100);
    assert_eq!(listed["pins"][0]["unpinned"]["timeout"], 7);
    let entry = &admin.history(&svc, None, 1, None).await.unwrap().entries[0];
    assert_eq!(
        (entry.action, entry.message.as_deref(), entry.actor.as_str()),
        (Action::PinSet, Some("hold prod for the freeze"), "admin")
    );
    let (got, text) = send("DELETE", format!("{base}/prod?message=thaw"), None).await;
    assert_eq!(got, 200, "{text}");
    assert_eq!(view(&admin, &svc, "prod").await["timeout"], 7);
    assert_eq!(
        admin.history(&svc, None, 1, None).await.unwrap().entries[0]
            .message
            .as_deref(),
        Some("thaw")
    );
}
