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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_association_named_before_the_rules_is_viewed_and_removed() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    // A nodemap written before the rules (and before the association
    // index): a name with a leading space.
    let raw = zookeeper_client::Client::connect(&zk).await.unwrap();
    let index = format!("/services/{svc}/associations");
    for child in raw.list_children(&index).await.unwrap() {
        raw.delete(&format!("{index}/{child}"), None).await.unwrap();
    }
    raw.delete(&index, None).await.unwrap();
    let nodemap = format!(" web-01 -> /services/{svc}/views/parent");
    raw.set_data(
        &format!("/services/{svc}/nodemaps"),
        nodemap.as_bytes(),
        None,
    )
    .await
    .unwrap();
    let server = TestServer::start(&zk, None).await;
    let (zk, url, svc) = (zk.as_str(), server.url.as_str(), svc.as_str());

    // Through the server (an empty JONES_ZK: no ZooKeeper of its own).
    let view = ok(&jones_at(
        zk,
        url,
        &["--json", "view", svc, "-a", " web-01"],
        &[("JONES_ZK", "")],
    )
    .await);
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["associated"], true, "{view}");
    assert_eq!(view["env"], "parent", "{view}");
    // Straight from ZooKeeper, as an app's client follows it.
    let live = ok(&jones_at(
        zk,
        url,
        &["--json", "view", svc, "-a", " web-01", "--zk", zk],
        &[],
    )
    .await);
    let live: serde_json::Value = serde_json::from_str(&live).unwrap();
    assert_eq!(live["associated"], true, "{live}");
    assert_eq!(live["env"], "parent", "{live}");
    assert_eq!(live["config"], view["config"], "{live}");

    ok(&jones_at(zk, url, &["assoc", "rm", svc, " web-01"], &[]).await);
    let listed = ok(&jones_at(zk, url, &["assoc", "ls", svc], &[]).await);
    assert!(!listed.contains("web-01"), "{listed}");
    // A new association under such a name is still refused.
    let refused = jones_at(zk, url, &["assoc", "set", svc, " web-01", "parent"], &[]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    server.stop().await;
}
