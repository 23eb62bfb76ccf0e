//! Admin operations on the original Jones fixture: services, environments,
//! associations, MVCC, delete rules, bad input.

use jones_server::Error;
use serde_json::json;

use crate::harness::{
    admin, assert_consistent, env, fixture, obj, service, snapshot, version_of, view,
};

#[tokio::test]
async fn services_lifecycle() {
    let admin = admin().await;
    let svc = service();
    assert!(!admin.service_exists(&svc).await.unwrap());
    admin.create_service(&svc).await.unwrap();
    assert!(admin.service_exists(&svc).await.unwrap());
    assert!(admin.list_services().await.unwrap().contains(&svc));
    let nodes = snapshot(&admin, &svc).await;
    let p = format!("/services/{svc}");
    assert_eq!(nodes[&format!("{p}/conf")], "{}");
    assert_eq!(nodes[&format!("{p}/views")], "{}");
    assert_eq!(nodes[&format!("{p}/nodemaps")], "{}", "a JSON nodemap");
    let err = admin.create_service(&svc).await.unwrap_err();
    assert!(matches!(err, Error::ServiceExists(_)), "{err}");
    fixture(&admin, &service()).await;
    admin
        .create_env(&svc, &env("a"), obj(json!({"k": 1})))
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("a/b"), obj(json!({"k": 2})))
        .await
        .unwrap();
    admin.delete_service(&svc).await.unwrap();
    assert!(!admin.service_exists(&svc).await.unwrap());
    assert!(!admin.list_services().await.unwrap().contains(&svc));
    let err = admin.delete_service(&svc).await.unwrap_err();
    assert!(matches!(err, Error::ServiceNotFound(_)), "{err}");
}

#[tokio::test]
async fn original_jones_fixture_views_and_resolution() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    assert_eq!(view(&admin, &svc, "").await, json!({"foo": "bar"}));
    assert_eq!(
        view(&admin, &svc, "parent").await,
        json!({"foo": "bar", "a": 1, "b": [1, 2, 3], "c": {"x": 0}})
    );
    assert_eq!(
        view(&admin, &svc, "parent/child1").await,
        json!({"foo": "bar", "a": 2, "b": [1, 2, 3], "c": {"x": 0}})
    );
    assert_eq!(
        view(&admin, &svc, "parent/child2/subchild1").await,
        json!({"foo": "bar", "a": 3, "b": "abc", "c": {"x": 0}})
    );
    let r = admin.resolve(&svc, "127.0.0.1").await.unwrap();
    assert_eq!(r.env.as_deref(), Some("parent"));
    assert_eq!(r.config["a"], 1);
    let r = admin.resolve(&svc, "127.0.0.2").await.unwrap();
    assert_eq!(r.config["a"], 2);
    let r = admin.resolve(&svc, "127.0.0.3").await.unwrap();
    assert_eq!(serde_json::Value::Object(r.config), json!({"foo": "bar"}));
    let r = admin.resolve(&svc, "unknown-host").await.unwrap();
    assert!(!r.associated);
    assert_eq!(r.view_path, format!("/services/{svc}/views"));
    // The nodemap is upstream Jones' JSON object.
    let nodes = snapshot(&admin, &svc).await;
    assert_eq!(
        nodes[&format!("/services/{svc}/nodemaps")],
        format!(
            r#"{{"127.0.0.1":"/services/{svc}/views/parent","127.0.0.2":"/services/{svc}/views/parent/child1","127.0.0.3":"/services/{svc}/views"}}"#
        )
    );
    // Details of an environment, with origins and overrides.
    let d = admin.get_env(&svc, &env("parent/child1")).await.unwrap();
    assert_eq!(d.config, obj(json!({"a": 2})));
    assert_eq!(d.associations, ["127.0.0.2"]);
    assert!(d.children.is_empty());
    assert_eq!(
        serde_json::Value::Object(d.origins),
        json!({"foo": "", "a": "parent/child1", "b": "parent", "c": "parent"})
    );
    assert_eq!(d.overrides, ["a"]);
    let d = admin.get_env(&svc, &env("parent")).await.unwrap();
    assert_eq!(d.children, ["child1", "child2"]);
    let tree = admin.env_tree(&svc).await.unwrap();
    assert_eq!(
        serde_json::to_value(&tree).unwrap(),
        json!({"env": "", "name": "", "children": [{"env": "parent", "name": "parent", "children": [
            {"env": "parent/child1", "name": "child1", "children": []},
            {"env": "parent/child2", "name": "child2", "children": [
                {"env": "parent/child2/subchild1", "name": "subchild1", "children": []}]}]}]})
    );
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn changing_parent_updates_every_descendant_and_only_changed_views() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let v = admin.get_env(&svc, &env("parent")).await.unwrap().version;
    let first = admin
        .set_env(
            &svc,
            &env("parent"),
            obj(json!({"a": 10, "b": [1], "c": {"x": 1}, "d": true})),
            Some(v),
        )
        .await
        .unwrap();
    assert_eq!(first.version, version_of(&admin, &svc, "parent").await);
    assert!(first.version > v);
    assert_eq!(first.transactions, 1);
    assert_eq!(first.views_written, 4);
    assert_eq!(
        view(&admin, &svc, "parent/child2/subchild1").await,
        json!({"foo": "bar", "a": 3, "b": "abc", "c": {"x": 1}, "d": true})
    );
    assert_eq!(view(&admin, &svc, "parent/child1").await["a"], 2);
    // A change that only touches a key every child overrides rewrites one view.
    let out = admin
        .set_env(
            &svc,
            &env("parent"),
            obj(json!({"a": 11, "b": [1], "c": {"x": 1}, "d": true})),
            Some(first.version),
        )
        .await
        .unwrap();
    assert_eq!(out.views_written, 1);
    // Writing the same config again writes no view.
    let out = admin
        .set_env(
            &svc,
            &env("parent"),
            obj(json!({"a": 11, "b": [1], "c": {"x": 1}, "d": true})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.views_written, 0);
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn stale_version_is_a_conflict_carrying_the_current_config() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let d = admin.get_env(&svc, &env("parent/child1")).await.unwrap();
    admin
        .set_env(
            &svc,
            &env("parent/child1"),
            obj(json!({"a": 5})),
            Some(d.version),
        )
        .await
        .unwrap();
    let before = snapshot(&admin, &svc).await;
    let err = admin
        .set_env(
            &svc,
            &env("parent/child1"),
            obj(json!({"a": 6})),
            Some(d.version),
        )
        .await
        .unwrap_err();
    match err {
        Error::Conflict {
            current_version,
            current_config,
            expected,
            ..
        } => {
            assert_eq!(expected, d.version);
            assert_eq!(
                current_version,
                version_of(&admin, &svc, "parent/child1").await
            );
            assert!(current_version > d.version);
            assert_eq!(current_config, obj(json!({"a": 5})));
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(snapshot(&admin, &svc).await, before, "nothing written");
    assert_eq!(admin.write_counts().conflicts, 1);
}

#[tokio::test]
async fn delete_rules() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let before = snapshot(&admin, &svc).await;
    let err = admin
        .delete_env(&svc, &env("parent"), false)
        .await
        .unwrap_err();
    match &err {
        Error::HasChildren { children, .. } => assert_eq!(children, &["child1", "child2"]),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("recursive"), "{err}");
    let err = admin.delete_env(&svc, &env(""), true).await.unwrap_err();
    assert!(err.to_string().contains("root"), "{err}");
    let err = admin
        .delete_env(&svc, &env("nope"), false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EnvNotFound { .. }), "{err}");
    assert_eq!(snapshot(&admin, &svc).await, before, "nothing written");
    // A leaf goes alone.
    admin
        .delete_env(&svc, &env("parent/child2/subchild1"), false)
        .await
        .unwrap();
    // A subtree goes recursively, with the associations into it.
    admin.delete_env(&svc, &env("parent"), true).await.unwrap();
    let tree = admin.env_tree(&svc).await.unwrap();
    assert!(tree.children.is_empty());
    let names: Vec<String> = admin
        .associations(&svc)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["127.0.0.3"]);
    assert_eq!(assert_consistent(&admin, &svc).await, 1);
    // The deleted environment can be created again.
    admin
        .create_env(&svc, &env("parent"), obj(json!({"z": 1})))
        .await
        .unwrap();
    assert_eq!(
        view(&admin, &svc, "parent").await,
        json!({"foo": "bar", "z": 1})
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_leaves_the_tree_unchanged() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    let before = snapshot(&admin, &svc).await;
    let err = admin
        .create_env(&svc, &env("missing/child"), obj(json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::EnvNotFound { ref env, .. } if env.as_str() == "missing"),
        "{err}"
    );
    let err = admin
        .create_env(&svc, &env("parent"), obj(json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EnvExists { .. }), "{err}");
    let big = obj(json!({"blob": "x".repeat(1_100_000)}));
    let err = admin
        .set_env(&svc, &env("parent"), big.clone(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let err = admin
        .create_env(&svc, &env("parent/big"), big)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let err = admin
        .set_association(&svc, "bad -> name", &env("parent"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidName(_)), "{err}");
    let err = admin
        .set_association(&svc, "host", &env("nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EnvNotFound { .. }), "{err}");
    let err = admin.delete_association(&svc, "host").await.unwrap_err();
    assert!(matches!(err, Error::AssociationNotFound { .. }), "{err}");
    let other = service();
    let err = admin.get_env(&other, &env("")).await.unwrap_err();
    assert!(matches!(err, Error::ServiceNotFound(_)), "{err}");
    let err = admin
        .set_env(&other, &env(""), obj(json!({})), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ServiceNotFound(_)), "{err}");
    assert_eq!(snapshot(&admin, &svc).await, before, "nothing written");
}

#[tokio::test]
async fn associations_set_move_and_delete() {
    let admin = admin().await;
    let svc = service();
    fixture(&admin, &svc).await;
    admin
        .set_association(&svc, "127.0.0.1", &env("parent/child2"))
        .await
        .unwrap();
    assert_eq!(
        admin.resolve(&svc, "127.0.0.1").await.unwrap().config["a"],
        3
    );
    admin.delete_association(&svc, "127.0.0.1").await.unwrap();
    let list = admin.associations(&svc).await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].name, "127.0.0.2");
    assert_eq!(list[0].env.as_deref(), Some("parent/child1"));
    let r = admin.resolve(&svc, "127.0.0.1").await.unwrap();
    assert!(!r.associated);
    assert_eq!(serde_json::Value::Object(r.config), json!({"foo": "bar"}));
}

#[tokio::test]
async fn association_and_service_writes_whose_answers_are_lost_are_settled_by_rereading() {
    let setup = admin().await;
    let svc = service();
    fixture(&setup, &svc).await;
    // Every nodemap write commits, but its answer is reported lost.
    let lossy = admin().await.with_limits(jones_server::Limits {
        lose_answers: u32::MAX,
        ..jones_server::Limits::default()
    });
    lossy
        .set_association(&svc, "web-09", &env("parent"))
        .await
        .unwrap();
    let resolved = setup.resolve(&svc, "web-09").await.unwrap();
    assert_eq!(resolved.env.as_deref(), Some("parent"));
    lossy.delete_association(&svc, "web-09").await.unwrap();
    let names: Vec<String> = setup
        .associations(&svc)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert!(!names.contains(&"web-09".to_owned()), "{names:?}");
    // A name that never was there is still an error.
    assert!(matches!(
        lossy.delete_association(&svc, "never-there").await,
        Err(Error::AssociationNotFound { .. })
    ));
    // An environment delete whose answer is lost reports what it removed,
    // not "not found" on the re-read.
    let deleted = lossy
        .delete_env(&svc, &env("parent/child1"), false)
        .await
        .unwrap();
    assert_eq!(deleted.envs, ["parent/child1"]);
    assert_eq!(deleted.associations.len(), 1, "{deleted:?}");
    assert_eq!(deleted.associations[0].name, "127.0.0.2");
    assert!(setup.verify(&svc).await.unwrap().consistent);
    assert!(matches!(
        setup.get_env(&svc, &env("parent/child1")).await,
        Err(Error::EnvNotFound { .. })
    ));
    // So is deleting the service: done, not "not found" on the re-read.
    lossy.delete_service(&svc).await.unwrap();
    assert!(!setup.service_exists(&svc).await.unwrap());
    assert!(matches!(
        lossy.delete_service(&svc).await,
        Err(Error::ServiceNotFound(_))
    ));
}

/// An environment delete commits through the writer's common commit, so a
/// lost answer reaches it like any other write (it spends the one lost
/// answer here, leaving none for the next write).
#[tokio::test]
async fn an_environment_delete_whose_answer_is_lost_is_settled_by_rereading() {
    let setup = admin().await;
    let svc = service();
    fixture(&setup, &svc).await;
    let lossy = admin().await.with_limits(jones_server::Limits {
        lose_answers: 1,
        ..jones_server::Limits::default()
    });
    let deleted = lossy
        .delete_env(&svc, &env("parent/child2"), true)
        .await
        .unwrap();
    assert_eq!(deleted.envs, ["parent/child2", "parent/child2/subchild1"]);
    assert_eq!(lossy.write_counts().contention_retries, 0);
    let out = lossy
        .set_env(&svc, &env("parent"), obj(json!({"a": 9})), None)
        .await
        .unwrap();
    assert_eq!(out.attempts, 1, "the delete spent the lost answer");
    assert_consistent(&setup, &svc).await;
}

#[tokio::test]
async fn the_demo_seed_is_idempotent_and_keeps_edits() {
    // The demo service has a fixed name: use a private ZooKeeper chroot so
    // the shared server's other tests are not involved.
    let admin = admin().await;
    let root = format!("/{}", jones_testkit::unique_name("demo-chroot"));
    admin
        .zk()
        .client()
        .await
        .unwrap()
        .create(
            &root,
            b"",
            &zookeeper_client::CreateMode::Persistent
                .with_acls(zookeeper_client::Acls::anyone_all()),
        )
        .await
        .unwrap();
    let admin = jones_server::Admin::connect(
        jones_server::ZkOptions::new(format!(
            "{}{root}",
            crate::harness::zookeeper().connect_string()
        ))
        .with_digest(crate::harness::CREDENTIAL),
    )
    .await
    .unwrap();
    assert!(jones_server::devmode::seed_demo(&admin).await.unwrap());
    let demo = jones_client::ServiceName::new("demo").unwrap();
    assert_eq!(
        view(&admin, &demo, "parent/child2/subchild1").await,
        json!({"foo": "bar", "a": 3, "b": "abc", "c": {"x": 0}})
    );
    assert_eq!(
        admin.resolve(&demo, "127.0.0.2").await.unwrap().config["a"],
        2
    );
    admin
        .set_env(&demo, &env("parent/child1"), obj(json!({"a": 20})), None)
        .await
        .unwrap();
    assert!(!jones_server::devmode::seed_demo(&admin).await.unwrap());
    assert_eq!(view(&admin, &demo, "parent/child1").await["a"], 20);
    assert_consistent(&admin, &demo).await;
}

#[tokio::test]
async fn a_nodemap_keeps_its_format_and_new_ones_take_the_default() {
    use jones_server::NodemapFormat;
    let json_admin = admin().await;
    let lines_admin = admin().await.with_nodemap_format(NodemapFormat::Lines);
    let svc = service();
    lines_admin.create_service(&svc).await.unwrap();
    lines_admin
        .create_env(&svc, &env("prod"), obj(json!({})))
        .await
        .unwrap();
    lines_admin
        .set_association(&svc, "web1", &env("prod"))
        .await
        .unwrap();
    let nodemap = format!("/services/{svc}/nodemaps");
    let stored = snapshot(&json_admin, &svc).await[&nodemap].clone();
    assert_eq!(stored, format!("web1 -> /services/{svc}/views/prod"));
    // A server whose default is JSON keeps the lines a fleet reads.
    json_admin
        .set_association(&svc, "web2", &env(""))
        .await
        .unwrap();
    let stored = snapshot(&json_admin, &svc).await[&nodemap].clone();
    assert_eq!(
        stored,
        format!("web1 -> /services/{svc}/views/prod\nweb2 -> /services/{svc}/views")
    );
    json_admin
        .delete_env(&svc, &env("prod"), false)
        .await
        .unwrap();
    let stored = snapshot(&json_admin, &svc).await[&nodemap].clone();
    assert_eq!(stored, format!("web2 -> /services/{svc}/views"));
    // And a JSON nodemap stays JSON under a lines server.
    let other = service();
    json_admin.create_service(&other).await.unwrap();
    lines_admin
        .set_association(&other, "web1", &env(""))
        .await
        .unwrap();
    let stored =
        snapshot(&json_admin, &other).await[&format!("/services/{other}/nodemaps")].clone();
    assert_eq!(stored, format!(r#"{{"web1":"/services/{other}/views"}}"#));
}

/// A lines nodemap that becomes empty stays lines: once a service used
/// lines (a fleet on the 0.5.x client reads it), a server whose default is
/// JSON writes its next association as a line, not as JSON the fleet
/// cannot parse. Original Jones' trees (lines, empty service znode) too.
#[tokio::test]
async fn a_lines_nodemap_that_becomes_empty_keeps_lines() {
    use jones_server::NodemapFormat;
    let json_admin = admin().await;
    let lines_admin = admin().await.with_nodemap_format(NodemapFormat::Lines);
    let nodemap_of = |svc: &jones_client::ServiceName| format!("/services/{svc}/nodemaps");

    // Emptied by removing the last association.
    let svc = service();
    lines_admin.create_service(&svc).await.unwrap();
    lines_admin
        .create_env(&svc, &env("prod"), obj(json!({})))
        .await
        .unwrap();
    lines_admin
        .set_association(&svc, "web1", &env("prod"))
        .await
        .unwrap();
    json_admin.delete_association(&svc, "web1").await.unwrap();
    assert_eq!(snapshot(&json_admin, &svc).await[&nodemap_of(&svc)], "");
    json_admin
        .set_association(&svc, "web2", &env("prod"))
        .await
        .unwrap();
    assert_eq!(
        snapshot(&json_admin, &svc).await[&nodemap_of(&svc)],
        format!("web2 -> /services/{svc}/views/prod")
    );

    // Emptied by deleting the environment the last association read.
    json_admin
        .delete_env(&svc, &env("prod"), false)
        .await
        .unwrap();
    assert_eq!(snapshot(&json_admin, &svc).await[&nodemap_of(&svc)], "");
    json_admin
        .set_association(&svc, "web3", &env(""))
        .await
        .unwrap();
    assert_eq!(
        snapshot(&json_admin, &svc).await[&nodemap_of(&svc)],
        format!("web3 -> /services/{svc}/views")
    );

    // A tree original Jones wrote: lines, nothing in the service znode.
    let old = service();
    json_admin.create_service(&old).await.unwrap();
    let raw = json_admin.zk().client().await.unwrap();
    raw.set_data(&format!("/services/{old}"), b"", None)
        .await
        .unwrap();
    raw.set_data(
        &nodemap_of(&old),
        format!("web1 -> /services/{old}/views").as_bytes(),
        None,
    )
    .await
    .unwrap();
    json_admin.delete_association(&old, "web1").await.unwrap();
    json_admin
        .set_association(&old, "web2", &env(""))
        .await
        .unwrap();
    assert_eq!(
        snapshot(&json_admin, &old).await[&nodemap_of(&old)],
        format!("web2 -> /services/{old}/views")
    );

    // A service a lines server created, never associated, stays lines too;
    // one a JSON server created takes JSON.
    let fresh = service();
    lines_admin.create_service(&fresh).await.unwrap();
    json_admin
        .set_association(&fresh, "web1", &env(""))
        .await
        .unwrap();
    assert_eq!(
        snapshot(&json_admin, &fresh).await[&nodemap_of(&fresh)],
        format!("web1 -> /services/{fresh}/views")
    );
    let modern = service();
    json_admin.create_service(&modern).await.unwrap();
    json_admin
        .set_association(&modern, "web1", &env(""))
        .await
        .unwrap();
    assert_eq!(
        snapshot(&json_admin, &modern).await[&nodemap_of(&modern)],
        format!(r#"{{"web1":"/services/{modern}/views"}}"#)
    );
    for svc in [&svc, &old, &fresh, &modern] {
        assert_consistent(&json_admin, svc).await;
    }
}
