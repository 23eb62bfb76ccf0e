//! Merge modes from the shell: a change that hides inherited keys names
//! them and needs --yes (or --copy-inherited); a service created deep, or
//! switched, merges key by key; restore keeps the mode.

use serde_json::{Value, json};

use crate::harness::*;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dotted_set_that_hides_inherited_keys_says_so_and_needs_yes() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let (zk, url) = (zk.as_str(), server.url.as_str());
    let svc = jones_testkit::unique_name("nested");
    let svc = svc.as_str();
    ok(&jones_at(zk, url, &["service", "create", svc], &[]).await);
    let root = r#"{"db": {"host": "db1", "pool": {"size": 5, "idle": 1}}}"#;
    ok(&jones_at(
        zk,
        url,
        &["env", "edit", svc, "/"],
        &[("VISUAL", &format!("printf '{root}' >"))],
    )
    .await);
    ok(&jones_at(zk, url, &["env", "create", svc, "prod"], &[]).await);
    let get = async |env: &str| {
        parse(&ok(&jones_at(
            zk,
            url,
            &["--json", "env", "get", svc, env],
            &[],
        )
        .await))
    };
    let before = get("prod").await;

    // The README's example: under the shallow merge it would drop db.host.
    let refused = jones_at(
        zk,
        url,
        &["env", "set", svc, "prod", "db.pool.size", "20"],
        &[],
    )
    .await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let warning = stderr(&refused);
    for needle in [
        "prod's view would no longer have db.host (from /)",
        "prod's view would no longer have db.pool.idle (from /)",
        "--copy-inherited",
        "confirm with --yes",
    ] {
        assert!(warning.contains(needle), "{needle:?} in:\n{warning}");
    }
    assert_eq!(get("prod").await, before, "nothing written");

    ok(&jones_at(
        zk,
        url,
        &[
            "env",
            "set",
            svc,
            "prod",
            "db.pool.size",
            "20",
            "--copy-inherited",
        ],
        &[],
    )
    .await);
    let prod = get("prod").await;
    assert_eq!(
        prod["view"]["db"],
        json!({"host": "db1", "pool": {"size": 20, "idle": 1}})
    );

    ok(&jones_at(zk, url, &["env", "create", svc, "lab"], &[]).await);
    ok(&jones_at(
        zk,
        url,
        &["env", "set", svc, "lab", "db.pool.size", "1", "--yes"],
        &[],
    )
    .await);
    assert_eq!(
        get("lab").await["view"]["db"],
        json!({"pool": {"size": 1}}),
        "as asked"
    );

    // An edit that hides inherited keys is refused without --yes, and kept.
    let hiding = jones_at(
        zk,
        url,
        &["env", "edit", svc, "prod"],
        &[("VISUAL", r#"printf '{"db": {"port": 1}}' >"#)],
    )
    .await;
    assert_eq!(hiding.status.code(), Some(2), "{}", stderr(&hiding));
    assert!(stderr(&hiding).contains("prod's view would no longer have db.host (from /)"));
    assert!(stderr(&hiding).contains("--resume"), "{}", stderr(&hiding));

    // Deep: nothing is hidden, nothing asked.
    ok(&jones_at(zk, url, &["service", "merge", svc, "deep"], &[]).await);
    ok(&jones_at(zk, url, &["env", "set", svc, "lab", "db.port", "6"], &[]).await);
    assert_eq!(
        get("lab").await["view"]["db"],
        json!({"host": "db1", "pool": {"size": 1, "idle": 1}, "port": 6})
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_service_is_restored_deep() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let (zk, url) = (zk.as_str(), server.url.as_str());
    let svc = jones_testkit::unique_name("deep");
    let created = ok(&jones_at(
        zk,
        url,
        &["service", "create", &svc, "--merge", "deep"],
        &[],
    )
    .await);
    assert!(created.contains("deep"), "{created}");
    ok(&jones_at(
        zk,
        url,
        &["env", "create", &svc, "a", "--config", r#"{"x": {"y": 1}}"#],
        &[],
    )
    .await);
    let dump = ok(&jones_at(zk, url, &["--json", "dump", &svc], &[]).await);
    let copy = jones_testkit::unique_name("deep");
    ok(&jones_input(
        zk,
        url,
        &["restore", "-", "--service", &copy],
        dump.as_bytes(),
    )
    .await);
    let service: Value = parse(&ok(&jones_at(
        zk,
        url,
        &["--json", "env", "ls", &copy],
        &[],
    )
    .await));
    assert!(service.is_object());
    let copied = ok(&jones_at(zk, url, &["dump", &copy], &[]).await).replace(&copy, "S");
    let original = ok(&jones_at(zk, url, &["dump", &svc], &[]).await).replace(&svc, "S");
    assert_eq!(
        copied, original,
        "the service znode's data carries the mode"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yes_still_shows_what_is_hidden_and_a_retry_after_a_conflict_previews_again() {
    let zk = shared_zk();
    let admin = admin(&zk).await;
    let svc = fixture(&admin).await;
    set(&admin, &svc, "", json!({"db": {"host": "db1"}})).await;
    let server = TestServer::start(&zk, None).await;
    // The first save is held while another writer gives the root one more
    // key under `db`: the save meets a conflict and is retried on the new
    // version, which hides that key too.
    let mut proxy = HoldingProxy::start(&server.url, "PUT").await;
    let mut run = {
        let (zk, url, svc) = (zk.clone(), proxy.url.clone(), svc.to_string());
        tokio::spawn(async move {
            let args = ["env", "set", &svc, "parent", "db.pool.size", "20", "--yes"];
            jones_at(&zk, &url, &args, &[]).await
        })
    };
    tokio::select! {
        held = proxy.held.take().unwrap() => assert!(held.unwrap().contains("/config/parent "), "the save of parent"),
        out = &mut run => panic!("the set ended without saving: {:?}", out.map(|o| stderr(&o))),
    }
    set(
        &admin,
        &svc,
        "",
        json!({"db": {"host": "db1", "port": 5432}, "foo": "bar"}),
    )
    .await;
    set(
        &admin,
        &svc,
        "parent",
        json!({"a": 1, "b": [1, 2, 3], "c": {"x": 0}, "new": 1}),
    )
    .await;
    proxy.release();
    let out = run.await.unwrap();
    let said = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("parent's view would no longer have db.host (from /)"),
        "--yes still shows what is hidden:\n{said}"
    );
    assert!(
        said.contains("parent's view would no longer have db.port (from /)"),
        "the retry is previewed again:\n{said}"
    );
    let saved = admin
        .get_env(&svc, &jones_client::EnvPath::new("parent").unwrap())
        .await
        .unwrap();
    assert_eq!(saved.config["new"], json!(1), "the other save is kept");
    assert_eq!(saved.config["db"], json!({"pool": {"size": 20}}));
    drop(proxy);
    server.stop().await;
}
