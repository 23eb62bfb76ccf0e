//! Every failure heals: a write left unfinished is repaired by another
//! running server's healer, without a restart or a further write; verify
//! names what is wrong and repair fixes it; deletes racing associations
//! never leave an association pointing at a deleted view.

use std::time::{Duration, Instant};

use jones_server::{Healer, Limits, Problem};
use serde_json::json;

use crate::harness::{
    admin, admin_on, assert_consistent, assert_index_matches, env, healed_within, isolated_connect,
    obj, service, znodes_under, znodes_under_on,
};

#[tokio::test]
async fn another_servers_healer_finishes_a_write_left_after_its_first_batch() {
    let connect = isolated_connect().await;
    let svc = service();
    let healthy = admin_on(&connect).await;
    healthy.create_service(&svc).await.unwrap();
    for i in 0..6 {
        healthy
            .create_env(
                &svc,
                &env(&format!("e{i}")),
                obj(json!({"i": i, "pad": "p".repeat(500)})),
            )
            .await
            .unwrap();
    }
    let healer = Healer::start(healthy.clone());
    for stop_after in [1, 2, 3] {
        let dying = admin_on(&connect).await.with_limits(Limits {
            multi_bytes: 2048,
            stop_after_batches: Some(stop_after),
            ..Limits::default()
        });
        let err = dying
            .set_env(
                &svc,
                &env(""),
                obj(json!({"round": stop_after, "pad": "r".repeat(400)})),
                None,
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("stopped after"), "{err}");
        drop(dying);
        let marked = !healthy.verify(&svc).await.unwrap().consistent;
        assert!(marked, "the dying write left work behind");
        // The healer sees the marker (and waits a second before repairing).
        let seen_by = Instant::now() + Duration::from_secs(10);
        while healthy.write_counts().pending_markers == 0 {
            assert!(Instant::now() < seen_by, "the healer never saw the marker");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = healthy.verify(&svc).await.unwrap();
            if found.consistent {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "not healed within 10 s: {found:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_consistent(&healthy, &svc).await;
        assert_eq!(
            healthy.get_env(&svc, &env("")).await.unwrap().config["round"],
            stop_after
        );
    }
    healer.stop().await;
}

#[tokio::test]
async fn verify_names_each_problem_and_repair_fixes_them() {
    let svc = service();
    let admin = admin().await.with_limits(Limits {
        multi_bytes: 2560,
        stop_after_batches: Some(1),
        ..Limits::default()
    });
    admin.create_service(&svc).await.unwrap();
    for e in ["a", "b", "c"] {
        admin
            .create_env(&svc, &env(e), obj(json!({"pad": "x".repeat(550)})))
            .await
            .unwrap();
    }
    admin.set_association(&svc, "h1", &env("a")).await.unwrap();
    assert!(admin.verify(&svc).await.unwrap().consistent);
    admin
        .set_env(&svc, &env(""), obj(json!({"k": "y".repeat(600)})), None)
        .await
        .unwrap_err();
    let found = admin.verify(&svc).await.unwrap();
    assert!(!found.consistent);
    assert!(
        found.problems.contains(&Problem::PendingRewrite),
        "{found:?}"
    );
    assert!(
        found
            .problems
            .iter()
            .any(|p| matches!(p, Problem::ViewDiffers { .. })),
        "{found:?}"
    );
    let fresh = crate::harness::admin().await;
    fresh.repair(&svc).await.unwrap();
    assert!(admin.verify(&svc).await.unwrap().consistent);
    assert_consistent(&admin, &svc).await;
}

#[tokio::test]
async fn deleting_an_environment_racing_its_association_never_leaves_it_dangling() {
    let svc = service();
    let one = admin().await;
    let two = admin().await;
    one.create_service(&svc).await.unwrap();
    let e = env("doomed");
    let mut dangling_avoided = 0;
    for round in 0..500 {
        one.create_env(&svc, &e, obj(json!({"round": round})))
            .await
            .unwrap();
        let (deleted, associated) = tokio::join!(
            one.delete_env(&svc, &e, false),
            two.set_association(&svc, "host", &e)
        );
        deleted.unwrap();
        if associated.is_ok() {
            dangling_avoided += 1;
        }
        let found = one.verify(&svc).await.unwrap();
        assert!(found.consistent, "round {round}: {found:?}");
        assert_index_matches(&one, &svc).await;
        if two
            .associations(&svc)
            .await
            .unwrap()
            .iter()
            .any(|a| a.name == "host")
        {
            two.delete_association(&svc, "host").await.unwrap();
        }
    }
    // Both orders happened: the association landed first some rounds.
    assert!(dangling_avoided > 0, "the race was never run");
}

/// Removing an association while another server deletes the environment
/// it points to: whichever lands first, the nodemap and the index agree
/// and the host is gone from both.
#[tokio::test]
async fn removing_an_association_racing_its_environments_delete_leaves_nodemap_and_index_agreeing()
{
    let svc = service();
    let one = admin().await;
    let two = admin().await;
    one.create_service(&svc).await.unwrap();
    let e = env("doomed");
    let (mut removed_first, mut deleted_first) = (0, 0);
    // The removal is quicker (fewer reads): on odd rounds it starts this
    // late, a delay that grows while it keeps winning and shrinks when it
    // loses, so both orders happen on a fast or a slow machine alike.
    let mut head_start = std::time::Duration::ZERO;
    for round in 0..300 {
        one.create_env(&svc, &e, obj(json!({"round": round})))
            .await
            .unwrap();
        one.set_association(&svc, "host", &e).await.unwrap();
        one.set_association(&svc, "bystander", &e).await.unwrap();
        let delay = if round % 2 == 1 {
            head_start
        } else {
            Duration::ZERO
        };
        let (deleted, removed) = tokio::join!(one.delete_env(&svc, &e, false), async {
            tokio::time::sleep(delay).await;
            two.delete_association(&svc, "host").await
        });
        deleted.unwrap();
        // Refused as unknown when the delete took the association first.
        if removed.is_ok() {
            removed_first += 1;
            if round % 2 == 1 {
                head_start =
                    (head_start * 2).clamp(Duration::from_micros(100), Duration::from_millis(50));
            }
        } else {
            deleted_first += 1;
            head_start /= 2;
        }
        let found = one.verify(&svc).await.unwrap();
        assert!(found.consistent, "round {round}: {found:?}");
        assert_index_matches(&one, &svc).await;
        let left = two.associations(&svc).await.unwrap();
        assert!(left.is_empty(), "round {round}: {left:?}");
    }
    assert!(
        removed_first > 0 && deleted_first > 0,
        "both orders: {removed_first} removed first, {deleted_first} deleted first"
    );
}

#[tokio::test]
async fn a_service_delete_left_midway_is_finished_by_another_servers_healer() {
    let connect = isolated_connect().await;
    let healthy = admin_on(&connect).await;
    let healer = Healer::start(healthy.clone());
    for stop_after in [1, 2, 3] {
        let svc = service();
        healthy.create_service(&svc).await.unwrap();
        for i in 0..40 {
            healthy
                .create_env(&svc, &env(&format!("env-{i:02}")), obj(json!({"i": i})))
                .await
                .unwrap();
        }
        healthy
            .set_association(&svc, "web-01", &env("env-07"))
            .await
            .unwrap();
        // Deletes of ~80 znodes take several transactions of 2 KiB.
        let dying = admin_on(&connect).await.with_limits(Limits {
            multi_bytes: 2048,
            stop_after_batches: Some(stop_after),
            ..Limits::default()
        });
        let err = dying.delete_service(&svc).await.unwrap_err();
        assert!(err.to_string().contains("stopped after"), "{err}");
        drop(dying);
        let service_path = format!("/services/{svc}");
        let left = znodes_under_on(&connect, &service_path).await.len();
        assert!(left > 2, "round {stop_after}: the delete stopped midway");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !znodes_under_on(&connect, &service_path).await.is_empty() {
            assert!(
                Instant::now() < deadline,
                "round {stop_after}: not finished within 10 s: {:?}",
                healthy.verify(&svc).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!healthy.list_services().await.unwrap().contains(&svc));
    }
    healer.stop().await;
}

#[tokio::test]
async fn a_half_deleted_service_shows_in_verify_and_the_next_write_finishes_the_delete() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    for i in 0..40 {
        admin
            .create_env(&svc, &env(&format!("env-{i:02}")), obj(json!({"i": i})))
            .await
            .unwrap();
    }
    let dying = admin.clone().with_limits(Limits {
        multi_bytes: 2048,
        stop_after_batches: Some(2),
        ..Limits::default()
    });
    dying.delete_service(&svc).await.unwrap_err();
    let found = admin.verify(&svc).await.unwrap();
    assert_eq!(found.problems, vec![Problem::PendingDelete]);
    let err = admin
        .set_env(&svc, &env("env-39"), obj(json!({"late": true})), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, jones_server::Error::ServiceNotFound(_)),
        "{err}"
    );
    assert_eq!(
        znodes_under(&format!("/services/{svc}")).await,
        Vec::<String>::new()
    );
    // A small service is deleted in one transaction, no marker needed.
    let small = service();
    admin.create_service(&small).await.unwrap();
    admin.delete_service(&small).await.unwrap();
    assert!(matches!(
        admin.delete_service(&small).await,
        Err(jones_server::Error::ServiceNotFound(_))
    ));
}

/// A service of six padded environments whose root write, over a 2 KiB
/// budget, stopped after batch 1: it holds a marker and stale views.
async fn marked_service(setup: &jones_server::Admin, connect: &str) -> jones_client::ServiceName {
    let svc = service();
    setup.create_service(&svc).await.unwrap();
    for i in 0..6 {
        setup
            .create_env(
                &svc,
                &env(&format!("e{i}")),
                obj(json!({"i": i, "pad": "p".repeat(500)})),
            )
            .await
            .unwrap();
    }
    leave_marker(connect, &svc).await;
    svc
}

/// A root write of `svc` that dies after its first batch.
async fn leave_marker(connect: &str, svc: &jones_client::ServiceName) {
    let dying = admin_on(connect).await.with_limits(Limits {
        multi_bytes: 2048,
        stop_after_batches: Some(1),
        ..Limits::default()
    });
    let err = dying
        .set_env(
            svc,
            &env(""),
            obj(json!({"dying": true, "pad": "r".repeat(400)})),
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stopped after"), "{err}");
    assert!(
        dying
            .verify(svc)
            .await
            .unwrap()
            .problems
            .contains(&Problem::PendingRewrite)
    );
}

/// A server busy with a long write of its own to a service (here: an
/// association write held before its commit) sees the marker another
/// server's write left, and dies without giving up its ZooKeeper session
/// (as a killed server's session outlives it until it expires): another
/// server's healer still heals the service within 10 s, because a healer
/// queues behind its own server's writes before it takes the repair lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healer_queued_behind_its_own_servers_write_holds_no_lock_another_server_needs() {
    let connect = isolated_connect().await;
    let setup = admin_on(&connect).await;
    let svc = service();
    setup.create_service(&svc).await.unwrap();
    for i in 0..6 {
        setup
            .create_env(
                &svc,
                &env(&format!("e{i}")),
                obj(json!({"i": i, "pad": "p".repeat(500)})),
            )
            .await
            .unwrap();
    }
    let busy = admin_on(&connect).await.with_limits(Limits {
        commit_delay: Some(Duration::from_secs(60)),
        write_deadline: Duration::from_secs(120),
        ..Limits::default()
    });
    let busy_healer = Healer::start(busy.clone());
    let slow = tokio::spawn({
        let (busy, svc) = (busy.clone(), svc.clone());
        async move { busy.set_association(&svc, "slow", &env("e0")).await }
    });
    leave_marker(&connect, &svc).await;
    let lock = format!("/services/{svc}/jones-repairing");
    let raw = busy.zk().client().await.unwrap();
    // The busy server's healer sees the marker; give it its grace period
    // and more to take the lock (a healer that queues first never does).
    let seen_by = Instant::now() + Duration::from_secs(10);
    while busy.write_counts().pending_markers == 0 {
        assert!(Instant::now() < seen_by, "the healer never saw the marker");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let locked_by = Instant::now() + Duration::from_secs(3);
    let mut lock_taken = false;
    while Instant::now() < locked_by && !lock_taken {
        lock_taken = raw.check_stat(&lock).await.unwrap().is_some();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("the busy server took the repair lock: {lock_taken}");
    // The busy server dies; its session lives on.
    busy_healer.stop().await;
    let other = admin_on(&connect).await;
    let healer = Healer::start(other.clone());
    healed_within(&other, &svc, Duration::from_secs(10)).await;
    assert_consistent(&other, &svc).await;
    healer.stop().await;
    slow.abort();
}

/// Two servers' healers see the same marker: one repairs, the other finds
/// the work done; `healed` counts the one repair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_repairer_at_a_time_counts_one_heal() {
    let connect = isolated_connect().await;
    let setup = admin_on(&connect).await;
    let (one, two) = (admin_on(&connect).await, admin_on(&connect).await);
    let healers = [Healer::start(one.clone()), Healer::start(two.clone())];
    let svc = marked_service(&setup, &connect).await;
    healed_within(&setup, &svc, Duration::from_secs(10)).await;
    let counted = || {
        let (a, b) = (one.write_counts(), two.write_counts());
        (a.healed + b.healed, a.repairs + b.repairs)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while counted().0 == 0 {
        assert!(Instant::now() < deadline, "no heal counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_consistent(&setup, &svc).await;
    for healer in healers {
        healer.stop().await;
    }
    assert_eq!(counted(), (1, 1), "one repair, counted once");
}

/// A repair that fails (here: a corrupt conf) is not counted as healed;
/// the healer retries, and counts the heal once it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_repair_is_not_counted_as_healed() {
    let connect = isolated_connect().await;
    let setup = admin_on(&connect).await;
    let svc = marked_service(&setup, &connect).await;
    let raw = setup.zk().client().await.unwrap();
    let conf = format!("/services/{svc}/conf/e3");
    let (good, _) = raw.get_data(&conf).await.unwrap();
    raw.set_data(&conf, b"{not json", None).await.unwrap();
    let lock = format!("/services/{svc}/jones-repairing");
    let (_, taken) = raw.check_and_watch_stat(&lock).await.unwrap();
    let healer_admin = admin_on(&connect).await;
    let healer = Healer::start(healer_admin.clone());
    // The lock appears (a repair starts) and goes (it failed).
    tokio::time::timeout(Duration::from_secs(10), taken.changed())
        .await
        .expect("a repair starts");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let (held, watcher) = raw.check_and_watch_stat(&lock).await.unwrap();
            if held.is_none() {
                break;
            }
            watcher.changed().await;
        }
    })
    .await
    .expect("the failed repair lets the lock go");
    let counts = healer_admin.write_counts();
    assert_eq!((counts.healed, counts.repairs), (0, 0), "{counts:?}");
    raw.set_data(&conf, &good, None).await.unwrap();
    healed_within(&setup, &svc, Duration::from_secs(10)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while healer_admin.write_counts().healed == 0 {
        assert!(Instant::now() < deadline, "the heal is never counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    healer.stop().await;
    assert_eq!(healer_admin.write_counts().healed, 1);
    assert_consistent(&setup, &svc).await;
}

/// Start-up repair goes on past a service that fails and reports it (in a
/// namespace of its own, so no other test's markers are repaired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_repair_goes_past_a_failing_service_and_reports_it() {
    let namespace = isolated_connect().await;
    let connect = || admin_on(&namespace);
    let setup = connect().await;
    let small = Limits {
        multi_bytes: 2048,
        stop_after_batches: Some(1),
        ..Limits::default()
    };
    // Services are listed in ZooKeeper's order; both orders are covered by
    // corrupting either one in turn.
    let mut failed_first = Vec::new();
    for round in 0..2 {
        let names = [format!("a-{round}"), format!("b-{round}")];
        let svcs: Vec<jones_client::ServiceName> = names
            .iter()
            .map(|n| jones_client::ServiceName::new(n).unwrap())
            .collect();
        for svc in &svcs {
            setup.create_service(svc).await.unwrap();
            for i in 0..4 {
                setup
                    .create_env(
                        svc,
                        &env(&format!("e{i}")),
                        obj(json!({"pad": "p".repeat(500)})),
                    )
                    .await
                    .unwrap();
            }
            let dying = connect().await.with_limits(small.clone());
            dying
                .set_env(svc, &env(""), obj(json!({"root": "r".repeat(400)})), None)
                .await
                .unwrap_err();
        }
        let (bad, good) = (&svcs[round], &svcs[1 - round]);
        let raw = setup.zk().client().await.unwrap();
        raw.set_data(&format!("/services/{bad}/conf/e2"), b"{not json", None)
            .await
            .unwrap();
        let report = connect().await.repair_pending().await.unwrap();
        let outcome = |svc: &jones_client::ServiceName| {
            report
                .iter()
                .find(|(s, _)| s == svc)
                .map(|(_, r)| r.as_ref().map_err(ToString::to_string))
        };
        assert!(
            matches!(outcome(bad), Some(Err(e)) if e.contains("e2")),
            "{report:?}"
        );
        assert_eq!(outcome(good), Some(Ok(&())), "{report:?}");
        assert!(setup.verify(good).await.unwrap().consistent);
        let found = setup.verify(bad).await;
        assert!(found.is_err() || !found.unwrap().consistent);
        failed_first.push(report.iter().position(|(s, _)| s == bad) == Some(0));
    }
    eprintln!("the failing service was repaired first: {failed_first:?}");
}
