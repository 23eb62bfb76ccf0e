//! Refused writes leave the tree byte-identical and never lock a service:
//! every size and shape check happens before the first write.

use jones_server::{Error, Limits};
use serde_json::json;

use crate::harness::{
    admin, assert_consistent, assert_unchanged, env, obj, service, snapshot, version_of,
};

#[tokio::test]
async fn an_oversized_root_config_is_refused_up_front_and_the_service_stays_writable() {
    let svc = service();
    let admin = admin().await;
    admin.create_service(&svc).await.unwrap();
    let before = snapshot(&admin, &svc).await;
    let v = version_of(&admin, &svc, "").await;
    let blob = "x".repeat(930_000);
    let err = admin
        .set_env(&svc, &env(""), obj(json!({ "blob": blob })), Some(v))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("bytes"), "{message}");
    assert_unchanged(&admin, &svc, &before).await;
    // Still writable at the version the caller holds.
    admin
        .set_env(&svc, &env(""), obj(json!({})), Some(v))
        .await
        .unwrap();
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn a_change_whose_descendant_view_is_oversized_is_refused_naming_it() {
    let svc = service();
    let admin = admin().await;
    admin.create_service(&svc).await.unwrap();
    admin
        .create_env(&svc, &env("big"), obj(json!({"own": "y".repeat(450_000)})))
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("big/leaf"), obj(json!({})))
        .await
        .unwrap();
    let before = snapshot(&admin, &svc).await;
    // The root's config alone fits, its view too; big's and leaf's views do not.
    let err = admin
        .set_env(
            &svc,
            &env(""),
            obj(json!({"shared": "z".repeat(480_000)})),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("\"big"),
        "names the environment: {err}"
    );
    assert_unchanged(&admin, &svc, &before).await;
    admin
        .set_env(&svc, &env(""), obj(json!({"shared": 1})), None)
        .await
        .unwrap();
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn creating_an_environment_checks_the_whole_transaction() {
    let svc = service();
    let admin = admin().await;
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(
            &svc,
            &env(""),
            obj(json!({"root": "r".repeat(10_000)})),
            None,
        )
        .await
        .unwrap();
    let before = snapshot(&admin, &svc).await;
    // 600 KB conf + 610 KB view: each under the node limit, together over
    // one transaction.
    let err = admin
        .create_env(&svc, &env("fat"), obj(json!({"pad": "p".repeat(600_000)})))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("\"fat\""), "{err}");
    assert_unchanged(&admin, &svc, &before).await;
    admin
        .create_env(&svc, &env("fine"), obj(json!({"pad": 1})))
        .await
        .unwrap();
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn an_association_that_would_overflow_the_nodemap_is_refused() {
    let svc = service();
    // A small transaction budget stands in for ZooKeeper's 1 MiB limit.
    let admin = admin().await.with_limits(Limits {
        multi_bytes: 16 * 1024,
        ..Limits::default()
    });
    admin.create_service(&svc).await.unwrap();
    let deep = env(&format!("prod/{}", "n".repeat(200)));
    admin
        .create_env(&svc, &deep.parent().unwrap(), obj(json!({})))
        .await
        .unwrap();
    admin.create_env(&svc, &deep, obj(json!({}))).await.unwrap();
    let mut refused = None;
    for i in 0..200 {
        let host = format!("host-{i:05}-{}", "h".repeat(40));
        if let Err(e) = admin.set_association(&svc, &host, &deep).await {
            refused = Some((i, e));
            break;
        }
    }
    let (stored, err) = refused.expect("the nodemap's size is bounded");
    assert!(stored > 10, "{stored} associations fit");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("nodemap"), "{err}");
    // What is stored still parses and still serves.
    assert_eq!(admin.associations(&svc).await.unwrap().len(), stored);
    assert_consistent(&admin, &svc).await;
}
