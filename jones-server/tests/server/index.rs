//! The association index through its failure paths: it equals the nodemap
//! after every operation of random sequences; an original tree too large
//! for one transaction is indexed in batches that clients do not follow
//! until the last; a build killed midway is finished by the next start-up
//! or by another running server's healer, and by the next nodemap write;
//! verify names each kind of damage and repair fixes it; a refused
//! oversized write leaves the nodemap and the index untouched.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use jones_client::{IndexState, JonesClient, ServiceLayout, ServiceName};
use jones_server::{Admin, Error, Limits, Problem};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{Value, json};

use crate::harness::{
    admin, admin_on, assert_consistent, assert_index_matches, assert_unchanged, env, healed_within,
    isolated_connect, metric, obj, original_service, service, snapshot, stored_index,
};
use crate::process::ServerProcess;

// ---------------------------------------------------------------------------
// Random operation sequences.

/// Environments the sequences work on ("" is the root).
const ENVS: [&str; 5] = ["", "a", "a/b", "b", "b/c"];

/// Association names: plain, needing percent-encoding, all dots, and the
/// longest allowed (in ASCII and in two-byte characters).
fn names() -> Vec<String> {
    vec![
        "web-01".into(),
        "a/b".into(),
        "web 01".into(),
        "%41".into(),
        "..".into(),
        "ü-host".into(),
        "a:b@c+d=e,f~g".into(),
        "x".repeat(1024),
        "é".repeat(512),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    /// Associate name `.0` with environment `.1` (set or re-point).
    Associate(usize, usize),
    /// Remove association `.0`.
    Remove(usize),
    /// Create environment `.0` (not the root).
    Create(usize),
    /// Delete environment `.0` recursively, with the associations into it.
    Delete(usize),
    /// Change environment `.0`'s config (views only).
    Configure(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let n = names().len();
    prop_oneof![
        4 => (0..n, 0..ENVS.len()).prop_map(|(a, e)| Step::Associate(a, e)),
        2 => (0..n).prop_map(Step::Remove),
        3 => (1..ENVS.len()).prop_map(Step::Create),
        2 => (1..ENVS.len()).prop_map(Step::Delete),
        1 => (0..ENVS.len()).prop_map(Step::Configure),
    ]
}

/// What the service should hold: its environments and associations.
struct Model {
    envs: BTreeSet<String>,
    map: BTreeMap<String, String>,
}

fn within(e: &str, top: &str) -> bool {
    e == top || e.starts_with(&format!("{top}/"))
}

/// Applies `step` to the service and the model; a refusal the model does
/// not expect fails the case. A write over a small budget may be refused
/// as too large (and then changes nothing).
async fn apply(admin: &Admin, svc: &ServiceName, model: &mut Model, step: &Step, n: usize) {
    let names = names();
    match *step {
        Step::Associate(a, e) => {
            let (name, e) = (&names[a], ENVS[e]);
            match admin.set_association(svc, name, &env(e)).await {
                Ok(()) => {
                    assert!(model.envs.contains(e), "{step:?} applied");
                    model.map.insert(name.clone(), e.to_owned());
                }
                Err(Error::TooLarge { .. }) => {}
                Err(err) => assert!(!model.envs.contains(e), "{step:?}: {err}"),
            }
        }
        Step::Remove(a) => match admin.delete_association(svc, &names[a]).await {
            Ok(()) => assert!(model.map.remove(&names[a]).is_some(), "{step:?} applied"),
            Err(Error::TooLarge { .. }) => {}
            Err(err) => assert!(!model.map.contains_key(&names[a]), "{step:?}: {err}"),
        },
        Step::Create(e) => {
            let e = ENVS[e];
            let parent = e.rsplit_once('/').map_or("", |(p, _)| p);
            let ok = !model.envs.contains(e) && model.envs.contains(parent);
            match admin.create_env(svc, &env(e), obj(json!({"at": n}))).await {
                Ok(_) => {
                    assert!(ok, "{step:?} applied");
                    model.envs.insert(e.to_owned());
                }
                Err(err) => assert!(!ok, "{step:?}: {err}"),
            }
        }
        Step::Delete(e) => {
            let e = ENVS[e];
            match admin.delete_env(svc, &env(e), true).await {
                Ok(_) => {
                    assert!(model.envs.contains(e), "{step:?} applied");
                    model.envs.retain(|x| !within(x, e));
                    model.map.retain(|_, x| !within(x, e));
                }
                Err(Error::TooLarge { .. }) => {}
                Err(err) => assert!(!model.envs.contains(e), "{step:?}: {err}"),
            }
        }
        Step::Configure(e) => {
            let e = ENVS[e];
            match admin
                .set_env(svc, &env(e), obj(json!({"n": n})), None)
                .await
            {
                Ok(_) => assert!(model.envs.contains(e), "{step:?} applied"),
                Err(err) => assert!(!model.envs.contains(e), "{step:?}: {err}"),
            }
        }
    }
}

/// Runs one sequence on a fresh service, checking after every step that
/// the nodemap is the model's and the index equals the nodemap.
async fn run_sequence(admin: &Admin, steps: &[Step]) {
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let mut model = Model {
        envs: BTreeSet::from([String::new()]),
        map: BTreeMap::new(),
    };
    for (n, step) in steps.iter().enumerate() {
        apply(admin, &svc, &mut model, step, n).await;
        let stored: BTreeMap<String, String> = admin
            .associations(&svc)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.name, a.env.unwrap_or_default()))
            .collect();
        assert_eq!(stored, model.map, "after {:?}", &steps[..=n]);
        assert_index_matches(admin, &svc).await;
        let found = admin.verify(&svc).await.unwrap();
        assert!(found.consistent, "after {:?}: {found:?}", &steps[..=n]);
    }
    admin.delete_service(&svc).await.unwrap();
}

#[test]
fn the_index_equals_the_nodemap_after_every_operation() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The default budget, and one so small that long names' entries make
    // environment deletes mark the index incomplete and rebuild it (and
    // make some writes too large).
    let roomy = rt.block_on(admin());
    let tight = rt.block_on(admin()).with_limits(Limits {
        multi_bytes: 6 * 1024,
        ..Limits::default()
    });
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    });
    let strategy = (any::<bool>(), proptest::collection::vec(step(), 1..=16));
    runner
        .run(&strategy, |(small, steps)| {
            let admin = if small { &tight } else { &roomy };
            rt.block_on(run_sequence(admin, &steps));
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------
// Trees too large for one transaction.

/// Associations of the large original tree: its nodemap is over 600 KiB,
/// its index over two build batches.
const HOSTS: usize = 7000;

fn host(i: usize) -> String {
    format!("host-{i:05}-{}", "h".repeat(50))
}

/// A service written by original Jones on `connect` whose nodemap points
/// [`HOSTS`] hosts at `prod`.
async fn large_original(connect: &str) -> ServiceName {
    let svc = service();
    let view = format!("/services/{svc}/views/prod");
    let nodemap: serde_json::Map<String, Value> =
        (0..HOSTS).map(|i| (host(i), view.clone().into())).collect();
    let nodemap = serde_json::to_vec(&nodemap).unwrap();
    assert!(nodemap.len() > 600 * 1024, "{} bytes", nodemap.len());
    original_service(
        connect,
        &svc,
        &json!({"k": "root"}),
        &[("prod", json!({"k": "prod"}))],
        &nodemap,
    )
    .await;
    svc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_tree_too_large_for_one_transaction_is_indexed_in_batches_followed_only_when_complete()
 {
    let connect = isolated_connect().await;
    let svc = large_original(&connect).await;
    let setup = admin_on(&connect).await;
    assert_eq!(stored_index(&setup, &svc).await.0, None);

    // Builds stopped after one batch, then after two: each leaves the
    // directory incomplete, with some entries and not all.
    let mut written = 0;
    for stop in [1, 2] {
        let stopped = admin_on(&connect).await.with_limits(Limits {
            stop_index_build_after: Some(stop),
            ..Limits::default()
        });
        let report = stopped.build_missing_indexes().await.unwrap();
        assert!(
            matches!(&report[..], [(s, Err(e))] if *s == svc && e.to_string().contains("stopped after")),
            "{report:?}"
        );
        let (state, entries) = stored_index(&setup, &svc).await;
        assert_eq!(state, Some(IndexState::building()), "after {stop} batches");
        assert!(
            written < entries.len() && entries.len() < HOSTS,
            "after {stop} batches: {} entries",
            entries.len()
        );
        written = entries.len();
    }
    let found = setup.verify(&svc).await.unwrap();
    assert!(
        found.problems.contains(&Problem::IndexIncomplete),
        "{found:?}"
    );

    // A client of a host the build has not reached follows the nodemap
    // (an index followed now would send it to the root view).
    let last = host(HOSTS - 1);
    let client = JonesClient::builder(svc.as_str())
        .zk(&connect)
        .association(&last)
        .register(false)
        .build()
        .await
        .unwrap();
    assert_eq!(client.get::<String>("k").as_deref(), Some("prod"));

    let report = setup.build_missing_indexes().await.unwrap();
    assert!(
        matches!(&report[..], [(s, Ok(()))] if *s == svc),
        "{report:?}"
    );
    assert_index_matches(&setup, &svc).await;
    assert!(setup.verify(&svc).await.unwrap().consistent);
    assert_eq!(client.get::<String>("k").as_deref(), Some("prod"));
    // A second pass finds nothing to build.
    assert!(setup.build_missing_indexes().await.unwrap().is_empty());
    client.close().await;
}

/// Starts a server whose start-up index build stops after one batch (as if
/// it died there) and kills it with SIGKILL. Returns the index state first
/// seen once the build created the directory.
async fn kill_mid_build(connect: &str, admin: &Admin, svc: &ServiceName) -> Option<IndexState> {
    let first_seen = tokio::spawn({
        let (admin, svc) = (admin.clone(), svc.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let (Some(state), _) = stored_index(&admin, &svc).await {
                    return Some(state);
                }
                assert!(Instant::now() < deadline, "no index directory appeared");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let dying = ServerProcess::start_on(
        connect,
        &[
            "--stop-index-build-after",
            "1",
            "--session-timeout-ms",
            "4000",
        ],
    )
    .await;
    dying.kill().await;
    first_seen.await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_killed_midway_is_finished_by_the_next_start_or_another_running_servers_healer() {
    // A namespace of its own: no other test's server builds these indexes.
    let connect = isolated_connect().await;
    let admin = admin_on(&connect).await;

    // Killed, then finished by the next server's start-up.
    let first = large_original(&connect).await;
    let seen = kill_mid_build(&connect, &admin, &first).await;
    assert_eq!(seen, Some(IndexState::building()), "built incomplete");
    let (state, entries) = stored_index(&admin, &first).await;
    assert_eq!(state, Some(IndexState::building()), "never marked complete");
    assert!(
        !entries.is_empty() && entries.len() < HOSTS,
        "{} entries",
        entries.len()
    );
    let survivor = ServerProcess::start_on(&connect, &[]).await;
    assert_index_matches(&admin, &first).await;
    assert!(admin.verify(&first).await.unwrap().consistent);

    // Killed while another server runs: that server's healer finishes it,
    // with no restart and no write. (It leaves the original tree, without
    // a directory, to start-up and repair.)
    let second = large_original(&connect).await;
    let seen = kill_mid_build(&connect, &admin, &second).await;
    assert_eq!(seen, Some(IndexState::building()), "built incomplete");
    healed_within(&admin, &second, Duration::from_secs(10)).await;
    assert_index_matches(&admin, &second).await;
    assert_eq!(metric(survivor.addr, "jones_healed_total").await, 1);
    survivor.terminate().await;
}

#[tokio::test]
async fn a_nodemap_write_finishes_an_index_left_incomplete() {
    let connect = isolated_connect().await;
    let admin = admin_on(&connect).await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    for i in 0..5 {
        admin
            .set_association(&svc, &format!("h{i}"), &env(""))
            .await
            .unwrap();
    }
    // As a build that died after its first batch leaves it.
    let layout = ServiceLayout::new(svc.clone());
    let raw = admin.zk().client().await.unwrap();
    raw.set_data(
        layout.associations_path(),
        &IndexState::building().to_bytes(),
        None,
    )
    .await
    .unwrap();
    for i in 0..3 {
        raw.delete(&layout.association_path(&format!("h{i}")), None)
            .await
            .unwrap();
    }
    admin.set_association(&svc, "new", &env("")).await.unwrap();
    assert_index_matches(&admin, &svc).await;
    assert!(admin.verify(&svc).await.unwrap().consistent);
}

// ---------------------------------------------------------------------------
// Damage, named by verify and fixed by repair.

#[derive(Debug, Clone, Copy)]
enum Damage {
    NoDirectory,
    Incomplete,
    EntryDeleted,
    EntryRepointed,
    EntryAdded,
    NoRegistry,
}

#[tokio::test]
async fn verify_names_each_kind_of_index_damage_and_repair_fixes_it() {
    // A namespace of its own: no healer of another test's server mends
    // the damage before verify sees it.
    let connect = isolated_connect().await;
    let admin = admin_on(&connect).await;
    for damage in [
        Damage::NoDirectory,
        Damage::Incomplete,
        Damage::EntryDeleted,
        Damage::EntryRepointed,
        Damage::EntryAdded,
        Damage::NoRegistry,
    ] {
        let svc = service();
        admin.create_service(&svc).await.unwrap();
        admin
            .create_env(&svc, &env("prod"), obj(json!({})))
            .await
            .unwrap();
        for name in ["web-01", "a/b"] {
            admin
                .set_association(&svc, name, &env("prod"))
                .await
                .unwrap();
        }
        let layout = ServiceLayout::new(svc.clone());
        let dir = layout.associations_path();
        let prod = layout.view_path(&env("prod"));
        let raw = admin.zk().client().await.unwrap();
        let acl = zookeeper_client::CreateMode::Persistent
            .with_acls(zookeeper_client::Acls::anyone_all());
        let expected = match damage {
            Damage::NoDirectory => {
                for name in ["web-01", "a/b"] {
                    raw.delete(&layout.association_path(name), None)
                        .await
                        .unwrap();
                }
                raw.delete(dir, None).await.unwrap();
                Problem::IndexMissing
            }
            Damage::Incomplete => {
                raw.set_data(dir, &IndexState::building().to_bytes(), None)
                    .await
                    .unwrap();
                Problem::IndexIncomplete
            }
            Damage::EntryDeleted => {
                raw.delete(&layout.association_path("a/b"), None)
                    .await
                    .unwrap();
                Problem::IndexEntryMissing {
                    name: "a/b".into(),
                    view_path: prod.clone(),
                }
            }
            Damage::EntryRepointed => {
                let elsewhere = jones_client::AssociationRecord::new(layout.views_root());
                raw.set_data(
                    &layout.association_path("web-01"),
                    &elsewhere.to_bytes(),
                    None,
                )
                .await
                .unwrap();
                Problem::IndexEntryStale {
                    name: "web-01".into(),
                    view_path: prod.clone(),
                    indexed: layout.views_root().to_owned(),
                }
            }
            Damage::EntryAdded => {
                let record = jones_client::AssociationRecord::new(prod.as_str());
                raw.create(&layout.association_path("ghost"), &record.to_bytes(), &acl)
                    .await
                    .unwrap();
                Problem::IndexEntryExtra {
                    znode: "ghost".into(),
                    name: Some("ghost".into()),
                }
            }
            Damage::NoRegistry => {
                raw.delete(layout.clients_path(), None).await.unwrap();
                Problem::RegistryMissing
            }
        };
        let found = admin.verify(&svc).await.unwrap();
        assert_eq!(found.problems, [expected], "{damage:?}");
        admin.repair(&svc).await.unwrap();
        let found = admin.verify(&svc).await.unwrap();
        assert!(found.consistent, "{damage:?} repaired: {found:?}");
        assert_index_matches(&admin, &svc).await;
        assert_consistent(&admin, &svc).await;
    }
}

// ---------------------------------------------------------------------------
// Refusals.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_association_write_is_refused_and_leaves_nodemap_and_index_unchanged() {
    let connect = isolated_connect().await;
    let admin = admin_on(&connect).await;
    // A nodemap just under ZooKeeper's node limit (1,000,000 bytes here),
    // indexed.
    let svc = service();
    let view = format!("/services/{svc}/views/prod");
    let mut nodemap = serde_json::Map::new();
    let mut i = 0;
    while serde_json::to_vec(&nodemap).unwrap().len() < 998_500 {
        for _ in 0..100 {
            nodemap.insert(host(i), view.clone().into());
            i += 1;
        }
    }
    let size = |m: &serde_json::Map<String, Value>| serde_json::to_vec(m).unwrap().len();
    while size(&nodemap) > 998_500 {
        nodemap.remove(&host(i - 1));
        i -= 1;
    }
    // Padded to 999,300 bytes: 1,024 more go over the limit, 50 do not.
    let before_pad = size(&nodemap);
    nodemap.insert("pad".into(), view.clone().into());
    let pad_cost = size(&nodemap) - before_pad;
    nodemap.remove("pad");
    let pad = format!("pad{}", "p".repeat(999_300 - before_pad - pad_cost));
    nodemap.insert(pad, view.clone().into());
    assert_eq!(size(&nodemap), 999_300);
    let nodemap = serde_json::to_vec(&nodemap).unwrap();
    original_service(&connect, &svc, &json!({}), &[("prod", json!({}))], &nodemap).await;
    admin.build_missing_indexes().await.unwrap();
    assert_index_matches(&admin, &svc).await;
    let before = snapshot(&admin, &svc).await;

    // Over the node limit: refused naming the nodemap and its size.
    let long = "l".repeat(1024);
    let err = admin
        .set_association(&svc, &long, &env("prod"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("nodemap") && text.contains("1000000"),
        "{text}"
    );
    assert_unchanged(&admin, &svc, &before).await;

    // Under the node limit, but its transaction is over the budget.
    let err = admin
        .set_association(&svc, "new-host", &env("prod"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("nodemap") && text.contains("new-host") && text.contains("transaction"),
        "{text}"
    );
    assert_unchanged(&admin, &svc, &before).await;
    assert!(admin.verify(&svc).await.unwrap().consistent);
}
