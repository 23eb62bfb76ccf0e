//! Every failure heals: a write left unfinished is repaired by another
//! running server's healer, without a restart or a further write; verify
//! names what is wrong and repair fixes it; deletes racing associations
//! never leave an association pointing at a deleted view.

use std::time::{Duration, Instant};

use jones_server::{Healer, Limits, Problem};
use serde_json::json;

use crate::harness::{admin, assert_consistent, env, obj, service, znodes_under};

#[tokio::test]
async fn another_servers_healer_finishes_a_write_left_after_its_first_batch() {
    let svc = service();
    let healthy = admin().await;
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
        let dying = admin().await.with_limits(Limits {
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
        multi_bytes: 2048,
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

#[tokio::test]
async fn a_service_delete_left_midway_is_finished_by_another_servers_healer() {
    let healthy = admin().await;
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
        let dying = admin().await.with_limits(Limits {
            multi_bytes: 2048,
            stop_after_batches: Some(stop_after),
            ..Limits::default()
        });
        let err = dying.delete_service(&svc).await.unwrap_err();
        assert!(err.to_string().contains("stopped after"), "{err}");
        drop(dying);
        let service_path = format!("/services/{svc}");
        let left = znodes_under(&service_path).await.len();
        assert!(left > 2, "round {stop_after}: the delete stopped midway");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !znodes_under(&service_path).await.is_empty() {
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
