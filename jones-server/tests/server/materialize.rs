//! The materializer under stress: batches over the transaction budget,
//! a writer dying between batches, two servers writing concurrently, and
//! the number of ZooKeeper operations a write costs.

use std::collections::BTreeMap;

use jones_client::{Config, ServiceName, merge_view, parse_config};
use jones_server::{Admin, Error, Limits};
use serde_json::json;

use crate::harness::{admin, assert_consistent, env, obj, service, snapshot, version_of};

/// A service with `children` environments under each of `parents`
/// top-level environments, each config carrying some payload.
async fn wide_tree(admin: &Admin, svc: &ServiceName, parents: usize, children: usize) {
    admin.create_service(svc).await.unwrap();
    for p in 0..parents {
        let pe = env(&format!("p{p}"));
        admin
            .create_env(svc, &pe, obj(json!({"level": "parent", "p": p})))
            .await
            .unwrap();
        for c in 0..children {
            admin
                .create_env(
                    svc,
                    &pe.child(&format!("c{c}")).unwrap(),
                    obj(json!({"c": c, "pad": "x".repeat(64)})),
                )
                .await
                .unwrap();
        }
    }
}

fn small_batches(stop_after: Option<usize>) -> Limits {
    Limits {
        multi_bytes: 2048,
        stop_after_batches: stop_after,
        ..Limits::default()
    }
}

/// Every view: env → config.
async fn views(admin: &Admin, svc: &ServiceName) -> BTreeMap<String, Config> {
    let prefix = format!("/services/{svc}/views");
    snapshot(admin, svc)
        .await
        .into_iter()
        .filter_map(|(p, d)| {
            let rest = p.strip_prefix(&prefix)?.trim_start_matches('/').to_owned();
            Some((rest, parse_config(d.as_bytes()).unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn a_change_over_the_budget_is_batched_and_stays_consistent() {
    let svc = service();
    let admin = admin().await.with_limits(small_batches(None));
    wide_tree(&admin, &svc, 3, 8).await;
    let out = admin
        .set_env(&svc, &env(""), obj(json!({"root": "new"})), None)
        .await
        .unwrap();
    assert!(out.transactions > 3, "{out:?}");
    assert_eq!(out.views_written, 1 + 3 + 24);
    assert_eq!(assert_consistent(&admin, &svc).await, 28);
    assert_eq!(
        admin.resolve(&svc, "anyone").await.unwrap().config,
        obj(json!({"root": "new"}))
    );
}

#[tokio::test]
async fn a_writer_dying_between_batches_leaves_no_half_written_view() {
    let svc = service();
    let setup = admin().await;
    wide_tree(&setup, &svc, 3, 8).await;
    let old_views = views(&setup, &svc).await;
    let crashing = admin().await.with_limits(small_batches(Some(2)));
    let err = crashing
        .set_env(&svc, &env(""), obj(json!({"root": "new"})), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unavailable(_)), "{err}");
    // The conf is the truth and a marker says views are being rewritten.
    let nodes = snapshot(&setup, &svc).await;
    assert_eq!(nodes[&format!("/services/{svc}/conf")], r#"{"root":"new"}"#);
    assert!(nodes.contains_key(&format!("/services/{svc}/jones-pending")));
    // Each view is either the old merge or the new one, never a mix.
    let confs: BTreeMap<String, Config> = nodes
        .iter()
        .filter_map(|(p, d)| {
            let rest = p
                .strip_prefix(&format!("/services/{svc}/conf"))?
                .trim_start_matches('/')
                .to_owned();
            Some((rest, parse_config(d.as_bytes()).unwrap()))
        })
        .collect();
    let (mut new, mut old) = (0, 0);
    for (e, view) in views(&setup, &svc).await {
        let merged = merge_view(env(&e).lineage().map(|l| &confs[l.as_str()]));
        if view == merged {
            new += 1;
        } else {
            assert_eq!(view, old_views[&e], "view of {e:?} is neither new nor old");
            old += 1;
        }
    }
    assert!(new > 0 && old > 0, "stopped midway: {new} new, {old} old");
    // Another server's write finds the marker, repairs, then writes.
    let other = admin().await;
    other
        .set_env(&svc, &env("p1/c3"), obj(json!({"c": "changed"})), None)
        .await
        .unwrap();
    assert_consistent(&other, &svc).await;
    assert_eq!(
        views(&other, &svc).await["p1/c3"],
        obj(json!({"root": "new", "level": "parent", "p": 1, "c": "changed"}))
    );

    // A crash again; this time the startup repair converges the views.
    let crashing = admin().await.with_limits(small_batches(Some(1)));
    crashing
        .set_env(&svc, &env(""), obj(json!({"root": "newer"})), None)
        .await
        .unwrap_err();
    let repaired = other.repair_pending().await.unwrap();
    assert!(
        repaired.iter().any(|(s, r)| *s == svc && r.is_ok()),
        "{repaired:?}"
    );
    assert_consistent(&other, &svc).await;
    assert_eq!(views(&other, &svc).await["p2/c7"]["root"], "newer");
}

#[tokio::test]
async fn two_servers_with_200_concurrent_writes_along_one_path() {
    let svc = service();
    let limits = Limits {
        max_attempts: 1000,
        ..Limits::default()
    };
    let servers = [
        admin().await.with_limits(limits.clone()),
        admin().await.with_limits(limits),
    ];
    let path = ["", "a", "a/b", "a/b/c"];
    servers[0].create_service(&svc).await.unwrap();
    for e in &path[1..] {
        servers[0]
            .create_env(&svc, &env(e), obj(json!({})))
            .await
            .unwrap();
    }
    servers[0]
        .create_env(&svc, &env("a/side"), obj(json!({"side": true})))
        .await
        .unwrap();
    let writes = (0..200).map(|i| {
        let server = &servers[i % 2];
        let e = env(path[i % path.len()]);
        let svc = &svc;
        async move {
            let config = obj(json!({ format!("k{}", i % path.len()): i, "last": i }));
            if i % 3 == 0 {
                // A careful editor: read, write with the version, re-read
                // on conflict.
                loop {
                    let v = server.get_env(svc, &e).await.unwrap().version;
                    match server.set_env(svc, &e, config.clone(), Some(v)).await {
                        Ok(_) => break,
                        Err(Error::Conflict { .. }) => continue,
                        Err(other) => panic!("write {i}: {other}"),
                    }
                }
            } else {
                server.set_env(svc, &e, config, None).await.unwrap();
            }
        }
    });
    futures_util::future::join_all(writes).await;
    assert_eq!(assert_consistent(&servers[0], &svc).await, 5);
    let counts: u64 = servers
        .iter()
        .map(|s| s.write_counts().materializations)
        .sum();
    assert!(counts >= 200, "{counts}");
}

#[tokio::test]
async fn a_root_change_costs_operations_linear_in_environments() {
    let svc = service();
    let admin = admin().await;
    wide_tree(&admin, &svc, 5, 19).await; // 1 + 5 + 95 = 101 environments
    let before = admin.zk().counts();
    let out = admin
        .set_env(&svc, &env(""), obj(json!({"r": 1})), None)
        .await
        .unwrap();
    let cost = admin.zk().counts().since(before);
    assert_eq!(out.transactions, 1);
    assert_eq!(out.views_written, 101);
    // Round trips: one multi-read of the marker, the service znode, its
    // pins and schema, and the history directory, one multi-read per level (3
    // levels), one transaction.
    assert_eq!(cost.requests, 1 + 3 + 1, "{cost:?}");
    // Operations: the marker, service, pins, schema and history reads, conf, children
    // and view reads per environment, then 100 conf checks, 2 marker ops,
    // the service check, the conf set, the history entry and 101 view sets.
    assert_eq!(
        cost.ops,
        5 + 3 * 101 + 100 + 2 + 1 + 1 + 1 + 101,
        "{cost:?}"
    );
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn children_created_during_ancestor_rewrites_get_current_views() {
    // Regression guard for the subtree's shape: a materialization of the
    // root that listed `a`'s children before a new child appeared must not
    // commit (it checks `a`'s view version, which the creation moves).
    let svc = service();
    let limits = Limits {
        max_attempts: 1000,
        ..Limits::default()
    };
    let writer = admin().await.with_limits(limits.clone());
    let creator = admin().await.with_limits(limits);
    writer.create_service(&svc).await.unwrap();
    writer
        .create_env(&svc, &env("a"), obj(json!({"a": true})))
        .await
        .unwrap();
    // Start a root rewrite and a child creation together, many times: the
    // creation often commits between the rewrite's read and its commit.
    for i in 0..40 {
        let (root, child) = (env(""), env(&format!("a/c{i}")));
        let (rewrite, create) = tokio::join!(
            writer.set_env(&svc, &root, obj(json!({"root": i})), None),
            creator.create_env(&svc, &child, obj(json!({"c": i}))),
        );
        rewrite.unwrap();
        create.unwrap();
        assert_eq!(assert_consistent(&writer, &svc).await, i + 3);
    }
}

#[tokio::test]
async fn a_lost_answer_is_settled_by_rereading_not_reported_as_a_conflict() {
    let svc = service();
    let setup = admin().await;
    crate::harness::fixture(&setup, &svc).await;
    // Every conf write commits, but its answer is reported lost: the
    // writer must find out from the tree that it did commit.
    let lossy = admin().await.with_limits(Limits {
        lose_answers: u32::MAX,
        ..Limits::default()
    });
    let v = lossy.get_env(&svc, &env("parent")).await.unwrap().version;
    let out = lossy
        .set_env(&svc, &env("parent"), obj(json!({"a": 100})), Some(v))
        .await
        .unwrap();
    assert_eq!(out.version, version_of(&setup, &svc, "parent").await);
    assert!(out.version > v);
    assert_eq!(out.attempts, 2, "{out:?}");
    lossy
        .create_env(&svc, &env("parent/new"), obj(json!({"n": 1})))
        .await
        .unwrap();
    assert_eq!(
        views(&setup, &svc).await["parent/new"],
        obj(json!({"foo": "bar", "a": 100, "n": 1}))
    );
    assert_consistent(&setup, &svc).await;

    // The same with a batched write: the lost batch 1 left a marker.
    let wide = service();
    wide_tree(&setup, &wide, 2, 8).await;
    let lossy = admin().await.with_limits(Limits {
        lose_answers: 1,
        ..small_batches(None)
    });
    let v = version_of(&setup, &wide, "").await;
    let out = lossy
        .set_env(&wide, &env(""), obj(json!({"root": "lost"})), Some(v))
        .await
        .unwrap();
    assert_eq!(out.version, version_of(&setup, &wide, "").await);
    assert!(out.version > v);
    assert_eq!(assert_consistent(&setup, &wide).await, 19);
    assert_eq!(views(&setup, &wide).await["p1/c7"]["root"], "lost");
}
