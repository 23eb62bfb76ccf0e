//! A config change's preview is what the write then does: the same views
//! change, each by exactly the keys listed, read by the associations
//! listed; a preview that names schema violations is a write refused with
//! those violations. Checked over random trees, configs and writes.

use std::collections::BTreeMap;

use jones_client::{Config, MergeMode};
use jones_server::{Admin, Error, Preview};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};

use crate::harness::{admin, env, http, obj, serve_on_socket, service};

const ENVS: [&str; 6] = ["", "a", "a/b", "a/b/c", "a/d", "e"];

/// A config of a few keys, some nested, from a small space so that
/// environments override each other often.
fn config() -> impl Strategy<Value = Config> {
    proptest::collection::btree_map(
        prop_oneof![Just("k"), Just("n"), Just("db")],
        prop_oneof![
            (0..4i64).prop_map(Value::from),
            proptest::collection::btree_map(prop_oneof![Just("host"), Just("port")], 0..3i64, 0..3)
                .prop_map(|m| json!(m)),
        ],
        0..4,
    )
    .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

#[derive(Debug, Clone)]
struct Case {
    deep: bool,
    confs: Vec<Config>,
    /// Association `h{i}` → environment index.
    hosts: Vec<usize>,
    /// The write: environment index and its new config.
    target: usize,
    write: Config,
    /// Whether the service has a schema capping `limit` at 1; the tree
    /// never sets `limit`, the write sets it to this when given.
    schema: bool,
    limit: Option<i64>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<bool>(),
        proptest::collection::vec(config(), ENVS.len()),
        proptest::collection::vec(0..ENVS.len(), 0..12),
        0..ENVS.len(),
        config(),
        any::<bool>(),
        proptest::option::of(0..3i64),
    )
        .prop_map(|(deep, confs, hosts, target, mut write, schema, limit)| {
            if let Some(limit) = limit {
                write.insert("limit".into(), limit.into());
            }
            Case {
                deep,
                confs,
                hosts,
                target,
                write,
                schema,
                limit,
            }
        })
}

/// `before` with each change of `preview` for `e` applied.
fn applied(before: &Config, preview: &Preview, e: &str) -> Config {
    let mut view = Value::Object(before.clone());
    let Some(change) = preview.views.iter().find(|v| v.env == e) else {
        return before.clone();
    };
    for key in &change.changes {
        let (last, parents) = key.path.split_last().unwrap();
        let mut at = &mut view;
        for p in parents {
            at = at
                .as_object_mut()
                .unwrap()
                .entry(p.clone())
                .or_insert_with(|| json!({}));
        }
        let fields = at.as_object_mut().unwrap();
        match &key.after {
            Some(v) => fields.insert(last.clone(), v.clone()),
            None => fields.remove(last),
        };
        assert_ne!(key.before, key.after, "a change that changes nothing");
    }
    match view {
        Value::Object(v) => v,
        _ => unreachable!(),
    }
}

/// What a case ended in.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    Refused,
    Written,
}

async fn check(admin: &Admin, case: &Case) -> Ended {
    let svc = service();
    let mode = if case.deep {
        MergeMode::Deep
    } else {
        MergeMode::Shallow
    };
    admin.create_service_with_merge(&svc, mode).await.unwrap();
    admin
        .set_env(&svc, &env(""), case.confs[0].clone(), None)
        .await
        .unwrap();
    for (e, conf) in ENVS.iter().zip(&case.confs).skip(1) {
        admin.create_env(&svc, &env(e), conf.clone()).await.unwrap();
    }
    for (i, e) in case.hosts.iter().enumerate() {
        admin
            .set_association(&svc, &format!("h{i}"), &env(ENVS[*e]))
            .await
            .unwrap();
    }
    if case.schema {
        let schema = json!({"properties": {"limit": {"maximum": 1}}});
        admin.set_schema(&svc, schema).await.unwrap();
    }
    let target = env(ENVS[case.target]);
    let mut before = BTreeMap::new();
    for e in ENVS {
        before.insert(e, admin.get_env(&svc, &env(e)).await.unwrap().view);
    }
    let preview = admin
        .preview_env(&svc, &target, case.write.clone())
        .await
        .unwrap();
    let result = admin.set_env(&svc, &target, case.write.clone(), None).await;
    let breaks = case.schema && case.limit.is_some_and(|l| l > 1);
    assert_eq!(
        !preview.violations.is_empty(),
        breaks,
        "{case:?}: {preview:?}"
    );
    if breaks {
        match result {
            Err(Error::SchemaViolation { violations, .. }) => {
                assert_eq!(violations, preview.violations, "{case:?}")
            }
            other => panic!("the preview named violations, the write gave {other:?}: {case:?}"),
        }
        for e in ENVS {
            assert_eq!(admin.get_env(&svc, &env(e)).await.unwrap().view, before[e]);
        }
        admin.delete_service(&svc).await.unwrap();
        return Ended::Refused;
    }
    let outcome = result.unwrap();
    assert_eq!(outcome.views_written, preview.views.len(), "{case:?}");
    let mut changed = Vec::new();
    for e in ENVS {
        let after = admin.get_env(&svc, &env(e)).await.unwrap().view;
        if after != before[e] {
            changed.push(e.to_owned());
        }
        assert_eq!(
            applied(&before[e], &preview, e),
            after,
            "view of {e:?}: {case:?}"
        );
    }
    let previewed: Vec<&str> = preview
        .views
        .iter()
        .filter(|v| !v.changes.is_empty())
        .map(|v| v.env.as_str())
        .collect();
    assert_eq!(previewed, changed, "{case:?}");
    for view in &preview.views {
        let readers: Vec<String> = case
            .hosts
            .iter()
            .enumerate()
            .filter(|(_, e)| ENVS[**e] == view.env)
            .map(|(i, _)| format!("h{i}"))
            .collect();
        let mut listed = view.associations.clone();
        listed.sort();
        let mut readers_sorted = readers.clone();
        readers_sorted.sort();
        assert_eq!(
            listed, readers_sorted,
            "readers of {:?}: {case:?}",
            view.env
        );
        assert_eq!(view.association_count, readers.len());
    }
    assert_eq!(
        preview.reach.associations,
        preview
            .views
            .iter()
            .map(|v| v.association_count)
            .sum::<usize>()
    );
    admin.delete_service(&svc).await.unwrap();
    Ended::Written
}

#[test]
fn a_preview_is_what_the_write_then_does() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let admin = rt.block_on(admin());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    });
    let ended = std::sync::Mutex::new(Vec::new());
    runner
        .run(&case(), |case| {
            let end = rt.block_on(check(&admin, &case));
            ended.lock().unwrap().push(end);
            Ok(())
        })
        .unwrap();
    let ended = ended.into_inner().unwrap();
    for kind in [Ended::Refused, Ended::Written] {
        assert!(ended.contains(&kind), "no case was {kind:?}: {ended:?}");
    }
}

#[tokio::test]
async fn the_preview_api_shows_reach_diffs_and_violations() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(
            &svc,
            &env(""),
            obj(json!({"pool": 4, "db": {"host": "a"}})),
            None,
        )
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("prod"), obj(json!({})))
        .await
        .unwrap();
    for i in 0..3 {
        admin
            .set_association(&svc, &format!("web-{i}"), &env("prod"))
            .await
            .unwrap();
    }
    admin
        .set_schema(&svc, json!({"properties": {"pool": {"minimum": 1}}}))
        .await
        .unwrap();
    let server = serve_on_socket(&admin, None).await;
    let url = format!("/api/v1/services/{}/preview/config", svc.as_str());
    let body = json!({"config": {"pool": 0, "db": {"host": "b"}}}).to_string();
    let (status, text) = http(server.addr, "POST", &url, Some(&body)).await;
    assert_eq!(status, 200, "{text}");
    let preview: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(preview["reach"], json!({"envs": 2, "associations": 3}));
    assert_eq!(preview["views"][1]["env"], "prod");
    assert_eq!(
        preview["views"][1]["associations"],
        json!(["web-0", "web-1", "web-2"])
    );
    assert_eq!(
        preview["views"][1]["changes"],
        json!([
            {"key": "db.host", "path": ["db", "host"], "before": "a", "after": "b"},
            {"key": "pool", "path": ["pool"], "before": 4, "after": 0}
        ])
    );
    assert_eq!(
        preview["violations"].as_array().unwrap().len(),
        2,
        "{preview}"
    );
    assert_eq!(preview["violations"][1]["env"], "prod");
    assert_eq!(
        admin.get_env(&svc, &env("prod")).await.unwrap().view["pool"],
        4
    );
}
