//! The admin commands against a real server over HTTP.

use jones_testkit::unique_name;
use serde_json::{Value, json};

use crate::harness::*;

/// The shared ZooKeeper, a fixture service and a server without a token.
async fn fixture_with_server() -> (String, jones_client::ServiceName, TestServer) {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, None).await;
    (zk, svc, server)
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_environments_and_keys_end_to_end() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let svc = unique_name("admin");
    let jones = |args: Vec<&str>| {
        let (zk, url) = (zk.clone(), server.url.clone());
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        async move {
            jones_at(
                &zk,
                &url,
                &args.iter().map(String::as_str).collect::<Vec<_>>(),
                &[],
            )
            .await
        }
    };

    assert!(ok(&jones(vec!["service", "create", &svc]).await).contains("created service"));
    assert!(ok(&jones(vec!["services"]).await).lines().any(|l| l == svc));
    ok(&jones(vec![
        "env",
        "create",
        &svc,
        "parent",
        "--config",
        r#"{"a": 1}"#,
    ])
    .await);
    ok(&jones(vec!["env", "create", &svc, "/parent/child1"]).await);
    ok(&jones(vec!["env", "set", &svc, "/", "foo", r#""bar""#]).await);
    ok(&jones(vec!["env", "set", &svc, "parent", "db.pool.size", "20"]).await);
    ok(&jones(vec!["env", "set", &svc, "parent", "name", "plain words"]).await);
    ok(&jones(vec!["env", "set", &svc, "parent/child1", "a", "2"]).await);

    let parent = parse(&ok(
        &jones(vec!["--json", "env", "get", &svc, "parent"]).await
    ));
    assert_eq!(
        parent["config"],
        json!({"a": 1, "db": {"pool": {"size": 20}}, "name": "plain words"})
    );
    let child = parse(&ok(&jones(vec![
        "--json",
        "env",
        "get",
        &svc,
        "parent/child1",
    ])
    .await));
    assert_eq!(
        child["view"],
        json!({"foo": "bar", "a": 2, "db": {"pool": {"size": 20}}, "name": "plain words"})
    );

    let text = ok(&jones(vec!["env", "get", &svc, "parent/child1"]).await);
    assert!(text.contains("environment: parent/child1"), "{text}");
    assert!(text.contains("foo = \"bar\"    from /"), "{text}");
    assert!(text.contains("a = 2    own"), "{text}");
    assert_eq!(
        ok(&jones(vec!["env", "ls", &svc]).await),
        "/ (root)\n└── parent\n    └── child1\n"
    );

    ok(&jones(vec!["env", "unset", &svc, "parent", "db.pool"]).await);
    let parent = parse(&ok(
        &jones(vec!["--json", "env", "get", &svc, "parent"]).await
    ));
    assert_eq!(
        parent["config"],
        json!({"a": 1, "db": {}, "name": "plain words"})
    );

    let refused = jones(vec!["env", "rm", &svc, "parent"]).await;
    assert_ne!(
        refused.status.code(),
        Some(0),
        "a parent with children is not deleted"
    );
    assert!(stderr(&refused).contains("child"), "{}", stderr(&refused));
    let refused = jones(vec!["env", "rm", &svc, "parent", "--recursive"]).await;
    assert_eq!(
        refused.status.code(),
        Some(2),
        "no terminal to ask: {}",
        stderr(&refused)
    );
    assert!(stderr(&refused).contains("--yes"), "{}", stderr(&refused));
    let removed = ok(&jones(vec!["env", "rm", &svc, "parent", "--recursive", "--yes"]).await);
    assert!(
        removed.starts_with("deleted parent, parent/child1"),
        "{removed}"
    );
    let gone = jones(vec!["env", "get", &svc, "parent"]).await;
    assert_eq!(gone.status.code(), Some(3), "{}", stderr(&gone));

    let dump = ok(&jones(vec!["dump", &svc]).await);
    assert!(
        dump.contains(&format!("/services/{svc}/nodemaps")),
        "{dump}"
    );
    assert!(
        dump.contains(&format!("/services/{svc}/conf\n    {{\"foo\":\"bar\"}}")),
        "{dump}"
    );

    ok(&jones(vec!["service", "delete", &svc, "--yes"]).await);
    assert!(!ok(&jones(vec!["services"]).await).lines().any(|l| l == svc));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn associations_and_the_view_a_host_reads() {
    let (zk, svc, server) = fixture_with_server().await;
    let (zk, url, svc) = (zk.as_str(), server.url.as_str(), svc.as_str());

    ok(&jones_at(
        zk,
        url,
        &["assoc", "set", svc, "web-01", "parent/child2"],
        &[],
    )
    .await);
    let list = ok(&jones_at(zk, url, &["assoc", "ls", svc], &[]).await);
    assert!(list.contains("web-01 -> parent/child2\n"), "{list}");
    assert!(list.contains("127.0.0.2 -> parent/child1\n"), "{list}");

    let expected = json!({"foo": "bar", "a": 3, "b": [1, 2, 3], "c": {"x": 0}});
    let view = ["view", svc, "--association", "web-01"];
    // From ZooKeeper, as an app reads it...
    assert_eq!(parse(&ok(&jones_at(zk, url, &view, &[]).await)), expected);
    // ...and through the server when no ZooKeeper is given (an empty
    // JONES_ZK counts as none).
    assert_eq!(parse(&ok(&jones_at("", url, &view, &[]).await)), expected);

    ok(&jones_at(zk, url, &["assoc", "rm", svc, "web-01"], &[]).await);
    assert_eq!(
        parse(&ok(&jones_at(zk, url, &view, &[]).await)),
        json!({"foo": "bar"})
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_saves_with_the_version_read_and_keeps_the_edit_on_conflict() {
    let (zk, svc, server) = fixture_with_server().await;
    let dir = tempfile::tempdir().unwrap();
    // Edits that cannot be saved are kept in files: here, not in /tmp.
    let tmp = dir.path().display().to_string();
    let editor = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::process::Command::new("chmod")
            .arg("+x")
            .arg(&path)
            .status()
            .unwrap();
        path.display().to_string()
    };
    let svc = svc.as_str();

    let simple = editor("simple", r#"printf '{"a": 5, "added": true}\n' > "$1""#);
    ok(&jones_at(
        &zk,
        &server.url,
        &["env", "edit", svc, "parent"],
        &[("EDITOR", &simple), ("VISUAL", &simple), ("TMPDIR", &tmp)],
    )
    .await);
    let parent = parse(&ok(&jones_at(
        &zk,
        &server.url,
        &["--json", "env", "get", svc, "parent"],
        &[],
    )
    .await));
    assert_eq!(parent["config"], json!({"a": 5, "added": true}));

    // Someone else saves while the editor is open.
    let racing = editor(
        "racing",
        &format!(
            "JONES_SERVER='{}' '{}' env set {svc} parent a 99 >/dev/null\nprintf '{{\"a\": 6}}\\n' > \"$1\"",
            server.url,
            env!("CARGO_BIN_EXE_jones")
        ),
    );
    let conflict = jones_at(
        &zk,
        &server.url,
        &["env", "edit", svc, "parent"],
        &[("VISUAL", &racing), ("TMPDIR", &tmp)],
    )
    .await;
    assert_eq!(conflict.status.code(), Some(4), "{}", stderr(&conflict));
    let err = stderr(&conflict);
    assert!(
        err.contains("- ")
            && err.contains("\"a\": 99")
            && err.contains("+ ")
            && err.contains("\"a\": 6"),
        "{err}"
    );
    let kept = err
        .split("kept in ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim()
        .to_owned();
    assert!(kept.starts_with(&tmp), "{kept} is in TMPDIR");
    assert!(err.contains("both changed: a: saved 99, yours 6"), "{err}");
    let kept_text = std::fs::read_to_string(&kept).unwrap();
    assert!(kept_text.starts_with("// Saved meanwhile"), "{kept_text}");
    let kept_json: String = kept_text.lines().filter(|l| !l.starts_with("//")).collect();
    assert_eq!(
        parse(&kept_json),
        json!({"a": 6}),
        "the merge is kept in {kept}: `added`, which only the edit removed, stays removed"
    );
    let parent = parse(&ok(&jones_at(
        &zk,
        &server.url,
        &["--json", "env", "get", svc, "parent"],
        &[],
    )
    .await));
    assert_eq!(
        parent["config"]["a"], 99,
        "the other writer's change stands"
    );

    // Someone else changes another key while the editor is open: the edit
    // is merged key by key and saved, both changes kept.
    let merging = editor(
        "merging",
        &format!(
            "JONES_SERVER='{}' '{}' env set {svc} parent other 1 >/dev/null\nprintf '{{\"a\": 7}}\\n' > \"$1\"",
            server.url,
            env!("CARGO_BIN_EXE_jones")
        ),
    );
    let merged = jones_at(
        &zk,
        &server.url,
        &["env", "edit", svc, "parent"],
        &[("VISUAL", &merging), ("TMPDIR", &tmp)],
    )
    .await;
    assert_eq!(
        stdout(&merged).trim(),
        "saved parent (merged)",
        "{}",
        stderr(&merged)
    );
    // The edit holds only a = 7 (dropping `added`); the other writer
    // added `other`.
    let expected = json!({"a": 7, "other": 1});
    let parent = parse(&ok(&jones_at(
        &zk,
        &server.url,
        &["--json", "env", "get", svc, "parent"],
        &[],
    )
    .await));
    assert_eq!(parent["config"], expected);

    let broken = editor("broken", r#"printf '{"a": ' > "$1""#);
    let invalid = jones_at(
        &zk,
        &server.url,
        &["env", "edit", svc, "parent"],
        &[("VISUAL", &broken), ("TMPDIR", &tmp)],
    )
    .await;
    assert_eq!(invalid.status.code(), Some(2));
    assert!(
        stderr(&invalid).contains("not valid JSON"),
        "{}",
        stderr(&invalid)
    );
    assert!(stderr(&invalid).contains("kept in"), "{}", stderr(&invalid));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_message_and_its_exit_code() {
    let (zk, svc, server) = fixture_with_server().await;
    let svc = svc.as_str();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["env", "ls", "no-such-service"], 3, "no-such-service"),
        (&["env", "get", svc, "parent//x"], 2, "empty segment"),
        (&["env", "get", svc, "parent/../x"], 2, "`..`"),
        (
            &["env", "set", svc, "parent", "k", "{\"broken\": "],
            2,
            "looks like JSON",
        ),
        (
            &["env", "set", svc, "parent", "a.b", "1"],
            2,
            "is a number, not an object",
        ),
        (
            &["env", "create", svc, "parent/new", "--config", "[1]"],
            2,
            "not an array",
        ),
        (&["env", "create", svc, "missing/child"], 3, "missing"),
        (&["assoc", "set", svc, "host", "nowhere"], 3, "nowhere"),
        (
            &["service", "create", "bad/name"],
            2,
            "invalid service name",
        ),
        (
            &["service", "create", "Check Out!"],
            2,
            "use ASCII letters, digits",
        ),
        (
            &["env", "create", svc, " spaced "],
            2,
            "leading or trailing whitespace",
        ),
    ];
    for (args, code, words) in cases {
        let output = jones_at(&zk, &server.url, args, &[]).await;
        assert_eq!(
            output.status.code(),
            Some(*code),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(words),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let before = parse(&ok(&jones_at(
        &zk,
        &server.url,
        &["--json", "dump", svc],
        &[],
    )
    .await));
    let unreachable = jones_at(
        &zk,
        "http://127.0.0.1:9",
        &["env", "set", svc, "parent", "a", "7"],
        &[],
    )
    .await;
    assert_eq!(
        unreachable.status.code(),
        Some(5),
        "{}",
        stderr(&unreachable)
    );
    assert!(stderr(&unreachable).contains("cannot reach the Jones server"));
    let after = parse(&ok(&jones_at(
        &zk,
        &server.url,
        &["--json", "dump", svc],
        &[],
    )
    .await));
    assert_eq!(before, after, "nothing was written by the refused commands");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_admin_token_when_the_server_has_one() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, Some("s3cret")).await;
    let svc = unique_name("token");
    let denied = jones_at(&zk, &server.url, &["service", "create", &svc], &[]).await;
    assert_eq!(denied.status.code(), Some(6), "{}", stderr(&denied));
    ok(&jones_at(
        &zk,
        &server.url,
        &["service", "create", &svc],
        &[("JONES_TOKEN", "s3cret")],
    )
    .await);
    ok(&jones_at(
        &zk,
        &server.url,
        &["--token", "s3cret", "service", "delete", &svc, "--yes"],
        &[],
    )
    .await);
    server.stop().await;
}

#[tokio::test]
async fn completions_and_help_teach_the_commands() {
    let bash = run(jones("").args(["completions", "bash"]));
    assert!(ok(&bash).contains("_jones()"));
    let help = ok(&run(jones("").arg("--help")));
    for words in [
        "Examples:",
        "jones export",
        "Exit codes",
        "JONES_SERVER",
        "JONES_ZK",
    ] {
        assert!(help.contains(words), "--help lacks {words}:\n{help}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_repair_exit_by_consistency() {
    let (zk, svc, server) = fixture_with_server().await;
    let svc = svc.as_str();
    let verified = jones_at(&zk, &server.url, &["verify", svc], &[]).await;
    assert!(ok(&verified).contains("consistent"));
    // A write that stops after its first batch leaves views to redo.
    let dying = admin(&zk).await.with_limits(jones_server::Limits {
        multi_bytes: 2048,
        stop_after_batches: Some(1),
        ..jones_server::Limits::default()
    });
    let root = jones_client::EnvPath::root();
    let service = jones_client::ServiceName::new(svc).unwrap();
    dying
        .set_env(
            &service,
            &root,
            obj(json!({"foo": "baz", "pad": "p".repeat(600)})),
            None,
        )
        .await
        .unwrap_err();
    let found = jones_at(&zk, &server.url, &["verify", svc], &[]).await;
    assert_eq!(found.status.code(), Some(1), "{}", stderr(&found));
    assert!(
        stdout(&found).contains("pending_rewrite"),
        "{}",
        stdout(&found)
    );
    assert!(
        stderr(&found).contains("not consistent"),
        "{}",
        stderr(&found)
    );
    let repaired = jones_at(&zk, &server.url, &["repair", svc], &[]).await;
    assert!(ok(&repaired).contains("consistent"));
    ok(&jones_at(&zk, &server.url, &["verify", svc], &[]).await);
}

/// `--message` travels with every write, and `jones history` shows who,
/// what and why, newest first, with a diff and the next page's cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_shows_each_change_with_its_message_and_diff() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let svc = unique_name("hist");
    let cli = Cli::new(&zk, &server);
    let config = r#"{"pool": 4}"#;
    for write in [
        vec!["service", "create", &svc],
        vec![
            "env",
            "create",
            &svc,
            "prod",
            "--config",
            config,
            "-m",
            "first cut",
        ],
        vec![
            "env",
            "set",
            &svc,
            "prod",
            "pool",
            "8",
            "--message",
            "more traffic",
        ],
        vec![
            "assoc",
            "set",
            &svc,
            "web-01",
            "prod",
            "-m",
            "web-01 goes live",
        ],
        vec!["env", "rm", &svc, "prod", "--yes", "-m", "retired"],
    ] {
        ok(&cli.run(&write).await);
    }

    let text = ok(&cli.run(&["history", &svc, "prod", "--limit", "3"]).await);
    let headlines: Vec<&str> = text.lines().filter(|l| l.starts_with('#')).collect();
    assert_eq!(headlines.len(), 3, "{text}");
    assert!(headlines[0].ends_with("local  env.delete  prod"), "{text}");
    assert!(
        headlines[1].ends_with("association.set  web-01 -> prod"),
        "{text}"
    );
    assert!(headlines[2].ends_with("config.set  prod"), "{text}");
    for message in ["retired", "web-01 goes live", "more traffic"] {
        assert!(
            text.contains(&format!("    {message}\n")),
            "{message}: {text}"
        );
    }
    assert!(
        text.contains("-   \"pool\": 4") && text.contains("+   \"pool\": 8"),
        "{text}"
    );
    assert!(text.contains("(older: --before "), "{text}");

    let json = parse(&ok(&cli.run(&["history", &svc, "--json"]).await));
    let actions: Vec<&str> = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "env.delete",
            "association.set",
            "config.set",
            "env.create",
            "service.create"
        ]
    );
    assert_eq!(json["entries"][3]["message"], "first cut");
    assert_eq!(json["next"], Value::Null);

    let refused = cli.run(&["history", &svc, "--limit", "0"]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("limit"), "{}", stderr(&refused));
}

#[tokio::test]
async fn rollback_shows_the_diff_asks_and_restores_with_the_version_read() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let svc = unique_name("back");
    let cli = Cli::new(&zk, &server);
    ok(&cli.run(&["service", "create", &svc]).await);
    ok(&cli
        .run(&["env", "create", &svc, "prod", "--config", r#"{"pool": 4}"#])
        .await);
    ok(&cli.run(&["env", "set", &svc, "prod", "pool", "20"]).await);
    let history = parse(&ok(&cli.run(&["history", &svc, "prod", "--json"]).await));
    let created = history["entries"][1]["id"].as_u64().unwrap().to_string();

    // No terminal and no --yes: the diff is shown, nothing is written.
    let refused = cli.run(&["rollback", &svc, &created]).await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let shown = stderr(&refused);
    assert!(
        shown.contains("-   \"pool\": 20") && shown.contains("+   \"pool\": 4"),
        "{shown}"
    );
    assert!(shown.contains("--yes"), "{shown}");
    let prod = parse(&ok(&cli.run(&["env", "get", &svc, "prod", "--json"]).await));
    assert_eq!(prod["config"], json!({"pool": 20}));

    let text = ok(&cli
        .run(&[
            "rollback",
            &svc,
            &created,
            "--yes",
            "-m",
            "pool 20 starved the db",
        ])
        .await);
    assert!(
        text.contains(&format!("rolled prod back to entry #{created}")),
        "{text}"
    );
    let prod = parse(&ok(&cli.run(&["env", "get", &svc, "prod", "--json"]).await));
    assert_eq!(prod["config"], json!({"pool": 4}));
    let newest = parse(&ok(&cli
        .run(&["history", &svc, "--limit", "1", "--json"])
        .await));
    assert_eq!(newest["entries"][0]["action"], "config.rollback");
    assert_eq!(newest["entries"][0]["message"], "pool 20 starved the db");

    let again = ok(&cli.run(&["rollback", &svc, &created, "--yes"]).await);
    assert!(again.contains("nothing to roll back"), "{again}");
    let missing = cli.run(&["rollback", &svc, "99999999", "--yes"]).await;
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
    let whole = parse(&ok(&cli.run(&["history", &svc, "--json"]).await));
    let first = whole["entries"].as_array().unwrap().last().unwrap()["id"].to_string();
    let not_config = cli.run(&["rollback", &svc, &first, "--yes"]).await;
    assert_eq!(not_config.status.code(), Some(2), "{}", stderr(&not_config));
    assert!(
        stderr(&not_config).contains("service.create"),
        "{}",
        stderr(&not_config)
    );
}

#[tokio::test]
async fn pin_holds_a_view_through_edits_above_until_unpin() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let svc = unique_name("pin");
    let cli = Cli::new(&zk, &server);
    ok(&cli.run(&["service", "create", &svc]).await);
    ok(&cli.run(&["env", "set", &svc, "/", "timeout", "100"]).await);
    ok(&cli.run(&["env", "create", &svc, "prod"]).await);
    let history = parse(&ok(&cli
        .run(&["history", &svc, "--limit", "1", "--json"])
        .await));
    let then = history["entries"][0]["id"].as_u64().unwrap().to_string();
    let text = ok(&cli.run(&["pin", &svc, "prod", &then]).await);
    assert!(
        text.contains(&format!("pinned prod at entry #{then}")),
        "{text}"
    );
    ok(&cli.run(&["env", "set", &svc, "/", "timeout", "900"]).await);
    let prod = parse(&ok(&cli.run(&["env", "get", &svc, "prod", "--json"]).await));
    assert_eq!(prod["view"], json!({"timeout": 100}));
    let listed = ok(&cli.run(&["pins", &svc]).await);
    assert!(
        listed.contains(&format!("prod  pinned at #{then}")),
        "{listed}"
    );
    assert!(
        listed.contains("-   \"timeout\": 100") && listed.contains("+   \"timeout\": 900"),
        "{listed}"
    );
    ok(&cli.run(&["unpin", &svc, "prod"]).await);
    let prod = parse(&ok(&cli.run(&["env", "get", &svc, "prod", "--json"]).await));
    assert_eq!(prod["view"], json!({"timeout": 900}));
    let again = cli.run(&["unpin", &svc, "prod"]).await;
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    assert!(ok(&cli.run(&["pins", &svc]).await).contains("no environment"));
}

#[tokio::test]
async fn env_set_dry_run_prints_the_reach_and_writes_nothing() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let svc = unique_name("dry");
    let cli = Cli::new(&zk, &server);
    ok(&cli.run(&["service", "create", &svc]).await);
    ok(&cli.run(&["env", "set", &svc, "/", "pool", "4"]).await);
    ok(&cli.run(&["env", "create", &svc, "prod"]).await);
    for host in ["web-01", "web-02"] {
        ok(&cli.run(&["assoc", "set", &svc, host, "prod"]).await);
    }
    let text = ok(&cli
        .run(&["env", "set", &svc, "/", "pool", "8", "--dry-run"])
        .await);
    assert!(
        text.contains("2 views would change, read by 2 associations"),
        "{text}"
    );
    assert!(
        text.contains("prod  (2 associations: web-01, web-02)"),
        "{text}"
    );
    assert!(text.contains("pool: 4 -> 8"), "{text}");
    let json_out = parse(&ok(&cli
        .run(&["env", "set", &svc, "/", "pool", "8", "--dry-run", "--json"])
        .await));
    assert_eq!(json_out["reach"], json!({"envs": 2, "associations": 2}));
    let root = parse(&ok(&cli.run(&["env", "get", &svc, "/", "--json"]).await));
    assert_eq!(root["config"], json!({"pool": 4}));

    // A schema the change would break: exit 2, each violation named.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("schema.json");
    std::fs::write(&file, r#"{"properties": {"pool": {"maximum": 10}}}"#).unwrap();
    ok(&cli
        .run(&["schema", "set", &svc, file.to_str().unwrap()])
        .await);
    let refused = cli
        .run(&["env", "set", &svc, "/", "pool", "11", "--dry-run"])
        .await;
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    let shown = stdout(&refused);
    assert!(shown.contains("prod at /pool"), "{shown}");
    assert!(
        stderr(&refused).contains("schema would refuse"),
        "{}",
        stderr(&refused)
    );
    let written = cli.run(&["env", "set", &svc, "/", "pool", "11"]).await;
    assert_eq!(written.status.code(), Some(2), "{}", stderr(&written));
    assert!(
        stderr(&written).contains("breaks the service's schema"),
        "{}",
        stderr(&written)
    );
    let stored = parse(&ok(&cli.run(&["schema", "get", &svc]).await));
    assert_eq!(stored["properties"]["pool"]["maximum"], 10);
    std::fs::write(&file, r#"{"properties": {"pool": {"maximum": 1}}}"#).unwrap();
    let strict = cli
        .run(&["schema", "set", &svc, file.to_str().unwrap()])
        .await;
    assert_eq!(strict.status.code(), Some(2), "{}", stderr(&strict));
    ok(&cli.run(&["schema", "rm", &svc]).await);
    let gone = cli.run(&["schema", "get", &svc]).await;
    assert_eq!(gone.status.code(), Some(3), "{}", stderr(&gone));
}
