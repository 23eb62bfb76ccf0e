//! Writes under contention: a write that waits past the write deadline
//! behind this server's earlier writes to the service answers 503 `busy`
//! with the reason, and counts as starved; a write that meets a concurrent
//! change retries, and counts the retry.

use std::time::{Duration, Instant};

use jones_server::Limits;
use serde_json::json;

use crate::harness::{admin, assert_consistent, env, json_of, obj, routes, service};

/// The value of metric `name` in `/metrics` of `api`.
async fn metric(
    api: &(
         impl warp::Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible>
         + Clone
         + 'static
     ),
    name: &str,
) -> u64 {
    let reply = warp::test::request().path("/metrics").reply(api).await;
    let text = String::from_utf8_lossy(reply.body()).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_starved_past_its_deadline_answers_503_busy_with_the_reason() {
    let svc = service();
    let setup = admin().await;
    setup.create_service(&svc).await.unwrap();
    // Every write holds this server's turn for 3 s before it commits; the
    // next one may wait 300 ms.
    let slow = admin().await.with_limits(Limits {
        write_deadline: Duration::from_millis(300),
        commit_delay: Some(Duration::from_secs(3)),
        ..Limits::default()
    });
    let api = routes(&slow, None);
    let version = setup.get_env(&svc, &env("")).await.unwrap().version;
    let put = |n: u32| {
        let api = api.clone();
        let path = format!("/api/v1/services/{svc}/config");
        async move {
            let reply = warp::test::request()
                .method("PUT")
                .path(&path)
                .header("content-type", "application/json")
                .json(&json!({"config": {"n": n}, "version": version}))
                .reply(&api)
                .await;
            json_of(&reply)
        }
    };
    let (one, two) = tokio::join!(put(1), put(2));
    let mut answers = [one, two];
    answers.sort_by_key(|(status, _)| *status);
    let [(ok, _), (busy, body)] = answers.clone();
    assert_eq!(ok, 200, "one write lands: {answers:?}");
    assert_eq!(busy, 503, "{body}");
    assert_eq!(body["kind"], "busy", "{body}");
    let reason = body["error"].as_str().unwrap();
    assert!(
        reason.contains(svc.as_str()) && reason.contains("queued"),
        "{reason}"
    );
    assert_eq!(slow.write_counts().starved, 1);
    assert_eq!(metric(&api, "jones_writes_starved_total").await, 1);
    assert_consistent(&setup, &svc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_meets_a_concurrent_change_retries_and_counts_it() {
    let svc = service();
    let fast = admin().await;
    fast.create_service(&svc).await.unwrap();
    fast.create_env(&svc, &env("a"), obj(json!({})))
        .await
        .unwrap();
    let slow = admin().await.with_limits(Limits {
        commit_delay: Some(Duration::from_secs(2)),
        ..Limits::default()
    });
    let api = routes(&slow, None);
    assert_eq!(metric(&api, "jones_contention_retries_total").await, 0);
    let before = slow.zk().counts().requests;
    let write = tokio::spawn({
        let (slow, svc) = (slow.clone(), svc.clone());
        async move {
            slow.set_env(&svc, &env("a"), obj(json!({"mine": true})), None)
                .await
        }
    });
    // Its read is two requests (the ancestors, then the subtree's level).
    let deadline = Instant::now() + Duration::from_secs(10);
    while slow.zk().counts().requests < before + 2 {
        assert!(Instant::now() < deadline, "the write never read the tree");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The root's conf moves under it: its check on the root fails.
    fast.set_env(&svc, &env(""), obj(json!({"root": 1})), None)
        .await
        .unwrap();
    let out = write.await.unwrap().unwrap();
    assert_eq!(out.attempts, 2, "{out:?}");
    assert_eq!(slow.write_counts().contention_retries, 1);
    assert_eq!(metric(&api, "jones_contention_retries_total").await, 1);
    assert_eq!(
        crate::harness::view(&fast, &svc, "a").await,
        json!({"root": 1, "mine": true})
    );
    assert_consistent(&fast, &svc).await;
}
