//! Orphan view znodes (a view without a conf), as original Jones'
//! non-atomic deletes leave them: creates adopt them, deletes remove them,
//! `verify` names them with the other problems a tree can hold, and
//! `repair` removes those no association points at.

use std::collections::BTreeSet;

use jones_client::ServiceName;
use jones_server::{Admin, Problem};
use serde_json::json;
use zookeeper_client::{Acls, Client, CreateMode};

use crate::harness::{admin, assert_consistent, env, obj, service, snapshot, view, znodes_under};

/// A raw session with the server's credential, as original Jones' server
/// (or an operator's shell) would hold.
async fn raw(admin: &Admin) -> Client {
    admin.zk().client().await.unwrap()
}

/// Creates `path` with `data`, world-writable as original Jones left it.
async fn create(client: &Client, path: &str, data: &str) {
    client
        .create(
            path,
            data.as_bytes(),
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
}

async fn delete(client: &Client, path: &str) {
    client
        .delete(path, None)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
}

fn views_of(svc: &ServiceName) -> String {
    format!("/services/{svc}/views")
}

#[tokio::test]
async fn creating_an_environment_over_an_orphan_view_adopts_it() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(&svc, &env(""), obj(json!({"root": 1})), None)
        .await
        .unwrap();
    let raw = raw(&admin).await;
    let views = views_of(&svc);
    create(&raw, &format!("{views}/ghost"), r#"{"stale": true}"#).await;
    create(&raw, &format!("{views}/ghost/kid"), r#"{"stale": true}"#).await;
    let found = admin.verify(&svc).await.unwrap();
    assert_eq!(found.problems.len(), 2, "{found:?}");

    admin
        .create_env(&svc, &env("ghost"), obj(json!({"own": 2})))
        .await
        .unwrap();
    assert_eq!(
        view(&admin, &svc, "ghost").await,
        json!({"root": 1, "own": 2})
    );
    // The orphan below it stays an orphan until a repair.
    let found = admin.verify(&svc).await.unwrap();
    assert_eq!(
        found.problems,
        vec![Problem::OrphanView {
            path: format!("{views}/ghost/kid")
        }]
    );
    // Creating the child adopts that one too.
    admin
        .create_env(&svc, &env("ghost/kid"), obj(json!({})))
        .await
        .unwrap();
    assert!(admin.verify(&svc).await.unwrap().consistent);
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn deleting_an_environment_removes_the_orphans_in_its_view_subtree() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    for e in ["a", "a/b", "other"] {
        admin
            .create_env(&svc, &env(e), obj(json!({})))
            .await
            .unwrap();
    }
    let raw = raw(&admin).await;
    let views = views_of(&svc);
    for orphan in ["a/b/lost", "a/gone", "a/gone/deeper"] {
        create(&raw, &format!("{views}/{orphan}"), "{}").await;
    }
    let deleted = admin.delete_env(&svc, &env("a"), true).await.unwrap();
    assert_eq!(deleted.envs, ["a", "a/b"]);
    assert_eq!(
        znodes_under(&format!("{views}/a")).await,
        Vec::<String>::new()
    );
    assert!(admin.verify(&svc).await.unwrap().consistent);
    assert_eq!(assert_consistent(&admin, &svc).await, 2);
    // And the name can be used again.
    admin
        .create_env(&svc, &env("a"), obj(json!({"again": true})))
        .await
        .unwrap();
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn verify_names_orphans_missing_views_and_dangling_associations_and_repair_removes_unpointed_orphans()
 {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    for e in ["fine", "noview", "target", "kept"] {
        admin
            .create_env(&svc, &env(e), obj(json!({"e": e})))
            .await
            .unwrap();
    }
    admin
        .set_association(&svc, "h-dangling", &env("target"))
        .await
        .unwrap();
    admin
        .set_association(&svc, "h-orphan", &env("kept"))
        .await
        .unwrap();
    admin
        .set_association(&svc, "h-fine", &env("fine"))
        .await
        .unwrap();
    assert!(admin.verify(&svc).await.unwrap().consistent);

    let raw = raw(&admin).await;
    let views = views_of(&svc);
    let confs = format!("/services/{svc}/conf");
    // A view lost; a conf and view both gone under an association; a conf
    // gone under an association whose view stays; a stray view with a child.
    delete(&raw, &format!("{views}/noview")).await;
    delete(&raw, &format!("{views}/target")).await;
    delete(&raw, &format!("{confs}/target")).await;
    delete(&raw, &format!("{confs}/kept")).await;
    create(&raw, &format!("{views}/stray"), "{}").await;
    create(&raw, &format!("{views}/stray/below"), "{}").await;

    let problems = |found: jones_server::Verification| -> BTreeSet<String> {
        assert!(!found.consistent);
        found.problems.iter().map(|p| format!("{p:?}")).collect()
    };
    let expected = |problems: &[Problem]| -> BTreeSet<String> {
        problems.iter().map(|p| format!("{p:?}")).collect()
    };
    let dangling = Problem::DanglingAssociation {
        name: "h-dangling".into(),
        view_path: format!("{views}/target"),
    };
    let pointed_orphan = Problem::OrphanView {
        path: format!("{views}/kept"),
    };
    assert_eq!(
        problems(admin.verify(&svc).await.unwrap()),
        expected(&[
            Problem::ViewMissing {
                env: "noview".into()
            },
            pointed_orphan.clone(),
            Problem::OrphanView {
                path: format!("{views}/stray")
            },
            Problem::OrphanView {
                path: format!("{views}/stray/below")
            },
            dangling.clone(),
        ])
    );

    let before = snapshot(&admin, &svc).await;
    admin.repair(&svc).await.unwrap();
    // The missing view is back, the unpointed orphans are gone; the orphan
    // an association reads and the dangling association wait for an
    // operator.
    assert_eq!(
        problems(admin.verify(&svc).await.unwrap()),
        expected(&[pointed_orphan, dangling])
    );
    let after = snapshot(&admin, &svc).await;
    assert!(after.contains_key(&format!("{views}/noview")));
    assert!(!after.contains_key(&format!("{views}/stray")));
    assert!(!after.contains_key(&format!("{views}/stray/below")));
    let kept = format!("{views}/kept");
    assert_eq!(
        after[&kept], before[&kept],
        "the pointed orphan is untouched"
    );
    assert_eq!(
        view(&admin, &svc, "noview").await,
        json!({"e": "noview"}),
        "the recreated view is the merge"
    );
    // Once the operator removes those associations, a repair finishes.
    admin.delete_association(&svc, "h-orphan").await.unwrap();
    admin.delete_association(&svc, "h-dangling").await.unwrap();
    admin.repair(&svc).await.unwrap();
    assert!(admin.verify(&svc).await.unwrap().consistent);
    assert_consistent(&admin, &svc).await;
}
