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

/// A child created between a batched write's read and its first batch
/// would make the child's view too large for any transaction once the
/// write lands. Either the first batch guards the subtree's shape (when
/// its checks fit), so the write re-reads and refuses up front; or (with
/// 120 siblings, too many checks for the budget) the write undoes its conf
/// and refuses. Either way nothing is pending and the service is writable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_created_during_a_batched_write_cannot_lock_the_service() {
    for siblings in [0, 120] {
        child_created_during_a_batched_write(siblings).await;
    }
}

async fn child_created_during_a_batched_write(siblings: usize) {
    use std::time::{Duration, Instant};
    let svc = service();
    let budget = 16 * 1024;
    let creator = admin().await.with_limits(Limits {
        multi_bytes: budget,
        ..Limits::default()
    });
    creator.create_service(&svc).await.unwrap();
    creator
        .create_env(&svc, &env("big"), obj(json!({})))
        .await
        .unwrap();
    for i in 0..siblings {
        let name = format!("big/sibling-{i:03}-{}", "s".repeat(60));
        creator
            .create_env(&svc, &env(&name), obj(json!({})))
            .await
            .unwrap();
    }
    // Holds its transactions 3 s before committing them.
    let writer = admin().await.with_limits(Limits {
        multi_bytes: budget,
        commit_delay: Some(Duration::from_secs(3)),
        ..Limits::default()
    });
    let before = writer.zk().counts().requests;
    // 9 KB conf + 9 KB view: over the budget together, so batched.
    let write = tokio::spawn({
        let (writer, svc) = (writer.clone(), svc.clone());
        async move {
            writer
                .set_env(
                    &svc,
                    &env("big"),
                    obj(json!({"pad": "b".repeat(9000)})),
                    None,
                )
                .await
        }
    });
    // The write reads the tree (a request, then one per level), then the
    // service znode: once that request is out, the tree is read.
    let levels = if siblings == 0 { 1 } else { 2 };
    let deadline = Instant::now() + Duration::from_secs(10);
    while writer.zk().counts().requests < before + 2 + levels {
        assert!(Instant::now() < deadline, "the write never read the tree");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Fits now (under big's empty conf); 7.5 KB more than big's new view.
    creator
        .create_env(&svc, &env("big/fat"), obj(json!({"own": "f".repeat(7500)})))
        .await
        .unwrap();
    let result = write.await.unwrap();
    let err = result.expect_err("big/fat's view would not fit a transaction");
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(
        err.to_string().contains("big/fat"),
        "{siblings} siblings: {err}"
    );
    let kept = creator.get_env(&svc, &env("big")).await.unwrap().config;
    assert!(
        kept.is_empty(),
        "{siblings} siblings: the refused config is kept ({} keys)",
        kept.len()
    );
    // Nothing pending, nothing half-written, and the service takes writes.
    assert!(creator.verify(&svc).await.unwrap().consistent);
    creator
        .set_env(&svc, &env("big"), obj(json!({"pad": "small"})), None)
        .await
        .unwrap();
    assert_consistent(&creator, &svc).await;
}

/// Every size refusal names the environment it is about.
#[tokio::test]
async fn size_refusals_name_the_environment() {
    let svc = service();
    let admin = admin().await;
    admin.create_service(&svc).await.unwrap();
    admin
        .create_env(&svc, &env("named"), obj(json!({})))
        .await
        .unwrap();
    let before = snapshot(&admin, &svc).await;
    let huge = obj(json!({"blob": "x".repeat(1_100_000)}));
    let err = admin
        .set_env(&svc, &env("named"), huge.clone(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("\"named\""), "{err}");
    let err = admin
        .create_env(&svc, &env("fresh"), huge)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("config of environment \"fresh\""),
        "{err}"
    );
    assert_unchanged(&admin, &svc, &before).await;
    // A config that fits under a parent whose view makes the child's too big.
    admin
        .set_env(
            &svc,
            &env("named"),
            obj(json!({"p": "p".repeat(600_000)})),
            None,
        )
        .await
        .unwrap();
    let before = snapshot(&admin, &svc).await;
    let err = admin
        .create_env(
            &svc,
            &env("named/child"),
            obj(json!({"c": "c".repeat(500_000)})),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("view of environment \"named/child\""),
        "{err}"
    );
    assert_unchanged(&admin, &svc, &before).await;
}
