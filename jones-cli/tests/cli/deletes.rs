//! Deletes that show their reach: `env rm` and `service delete` list what
//! goes before anything is removed, need --yes without a terminal, and say
//! what they removed.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_rm_lists_every_environment_and_host_it_drops_before_deleting() {
    let zk = shared_zk();
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    let server = TestServer::start(&zk, None).await;
    let (zk, url, svc) = (zk.as_str(), server.url.as_str(), svc.as_str());
    ok(&jones_at(zk, url, &["env", "create", svc, "parent/child1/deep"], &[]).await);
    ok(&jones_at(
        zk,
        url,
        &["assoc", "set", svc, "web-09", "parent/child1/deep"],
        &[],
    )
    .await);
    let before = ok(&jones_at(zk, url, &["dump", svc], &[]).await);

    let asked = jones_at(zk, url, &["env", "rm", svc, "parent/child1", "-r"], &[]).await;
    assert_eq!(asked.status.code(), Some(2), "{}", stderr(&asked));
    let reach = stderr(&asked);
    for needle in [
        "Deleting parent/child1 removes 2 environments: parent/child1, parent/child1/deep.",
        "These hosts lose their association and will read the root config instead:",
        "  127.0.0.2 (now parent/child1)",
        "  web-09 (now parent/child1/deep)",
        r#"  root config: {"foo":"bar"}"#,
        "confirm with --yes",
    ] {
        assert!(reach.contains(needle), "{needle:?} in:\n{reach}");
    }
    assert_eq!(
        ok(&jones_at(zk, url, &["dump", svc], &[]).await),
        before,
        "nothing deleted"
    );

    let done = ok(&jones_at(
        zk,
        url,
        &["env", "rm", svc, "parent/child1", "-r", "--yes"],
        &[],
    )
    .await);
    assert_eq!(
        done.trim(),
        "deleted parent/child1, parent/child1/deep; 127.0.0.2, web-09 now read the root config"
    );
    let view = ok(&jones_at(zk, url, &["--json", "view", svc, "-a", "web-09"], &[]).await);
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["config"], json!({"foo": "bar"}));

    // --json: the server's answer, with everything removed.
    ok(&jones_at(zk, url, &["env", "create", svc, "solo"], &[]).await);
    let json_out =
        ok(&jones_at(zk, url, &["--json", "env", "rm", svc, "solo", "--yes"], &[]).await);
    let json_out: serde_json::Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(
        json_out,
        json!({"deleted": "solo", "envs": ["solo"], "associations": []})
    );

    let asked = jones_at(zk, url, &["service", "delete", svc], &[]).await;
    assert_eq!(asked.status.code(), Some(2));
    assert!(
        stderr(&asked).contains(&format!(
            "Deleting service {svc} removes its 3 environments and 1 association."
        )),
        "{}",
        stderr(&asked)
    );
    ok(&jones_at(zk, url, &["service", "delete", svc, "--yes"], &[]).await);
    server.stop().await;
}
