//! `jones` in scripts: values stored as typed, configs from files and
//! stdin, `--json` errors with the API's kinds, exit codes per class, one
//! `view --json` shape, quiet broken pipes, `--out -`, `host:port` servers,
//! no colours in logs, and taking back a kept edit.

use std::io::Read;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::harness::*;

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn config_of(zk: &str, url: &str, svc: &str, env: &str) -> Value {
    parse(&ok(&jones_at(
        zk,
        url,
        &["--json", "env", "get", svc, env],
        &[],
    )
    .await))["config"]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_set_stores_values_as_typed() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, None).await;
    let (zk, url, svc) = (zk.as_str(), server.url.as_str(), svc.as_str());
    let set = |args: &'static [&'static str]| {
        let mut all = vec!["env", "set", svc, "parent"];
        all.extend_from_slice(args);
        async move { jones_at(zk, url, &all, &[]).await }
    };

    ok(&set(&["version", "1.10", "--string"]).await);
    ok(&set(&["zip", "01234", "--string"]).await);
    ok(&set(&["flag", "true", "--string"]).await);
    ok(&set(&["n", "42", "--json-value"]).await);
    ok(&set(&["ratio", "1.1"]).await);
    ok(&set(&["word", "hello"]).await);
    let config = config_of(zk, url, svc, "parent").await;
    assert_eq!(config["version"], json!("1.10"));
    assert_eq!(config["zip"], json!("01234"));
    assert_eq!(config["flag"], json!("true"));
    assert_eq!(config["n"], json!(42));
    assert_eq!(config["ratio"], json!(1.1));
    assert_eq!(config["word"], json!("hello"));

    // A number whose text JSON would change is refused, by default and
    // with --json-value, and nothing is written.
    for args in [
        &["version", "1.10"][..],
        &["version", "1.10", "--json-value"],
        &["big", "1e3"],
        &["list", "[1, 2.50]"],
    ] {
        let mut all = vec!["env", "set", svc, "parent"];
        all.extend_from_slice(args);
        let refused = jones_at(zk, url, &all, &[]).await;
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&refused)
        );
        assert!(
            stderr(&refused).contains("--string"),
            "{}",
            stderr(&refused)
        );
    }
    let refused = set(&["word", "hello", "--json-value"]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("not valid JSON"),
        "{}",
        stderr(&refused)
    );
    let both = set(&["v", "1", "--string", "--json-value"]).await;
    assert_eq!(both.status.code(), Some(2), "clap refuses both");
    assert_eq!(
        config_of(zk, url, svc, "parent").await,
        config,
        "nothing changed"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_come_inline_from_a_file_or_from_stdin() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, None).await;
    let (zk, url, svc) = (zk.as_str(), server.url.as_str(), svc.as_str());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prod.json");
    std::fs::write(
        &file,
        r#"{"version": "1.10", "ratio": 1.10, "db": {"host": "h"}}"#,
    )
    .unwrap();
    let at_file = format!("@{}", file.display());

    ok(&jones_at(
        zk,
        url,
        &["env", "create", svc, "prod", "--config", &at_file],
        &[],
    )
    .await);
    assert_eq!(
        config_of(zk, url, svc, "prod").await,
        json!({"version": "1.10", "ratio": 1.1, "db": {"host": "h"}})
    );
    ok(&jones_input(
        zk,
        url,
        &["env", "create", svc, "prod/eu", "--config", "-"],
        br#"{"from": "stdin"}"#,
    )
    .await);
    assert_eq!(
        config_of(zk, url, svc, "prod/eu").await,
        json!({"from": "stdin"})
    );

    let missing = jones_at(
        zk,
        url,
        &["env", "create", svc, "x", "--config", "@/no/such.json"],
        &[],
    )
    .await;
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("/no/such.json"),
        "{}",
        stderr(&missing)
    );
    let garbage = jones_input(
        zk,
        url,
        &["env", "create", svc, "x", "--config", "-"],
        b"{nope",
    )
    .await;
    assert_eq!(garbage.status.code(), Some(2), "{}", stderr(&garbage));
    assert!(stderr(&garbage).contains("stdin"), "{}", stderr(&garbage));
    let absent = jones_at(zk, url, &["--json", "env", "get", svc, "x"], &[]).await;
    assert_eq!(absent.status.code(), Some(3), "nothing was created");
    server.stop().await;
}

/// The body of a failed API call, read without `jones`.
fn api_error(method: &str, url: &str, body: Option<Value>) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Content-Type", "application/json")
        .body(body.map(|b| b.to_string()).unwrap_or_default())
        .unwrap();
    let mut response = agent.run(request).unwrap();
    assert!(response.status().as_u16() >= 400, "{url} failed");
    parse(&response.body_mut().read_to_string().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_errors_carry_the_api_kind_and_exit_codes_follow_the_table() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, None).await;
    let (zk, url, svc) = (zk.as_str(), server.url.as_str(), svc.as_str());
    let api = format!("{url}/api/v1/services/{svc}");
    let cases: Vec<(Vec<&str>, i32, Value)> = vec![
        (
            vec!["env", "get", svc, "nope"],
            3,
            api_error("GET", &format!("{api}/config/nope"), None),
        ),
        (
            vec!["service", "create", svc],
            7,
            api_error("POST", &api, None),
        ),
        (
            vec!["env", "create", svc, "parent"],
            7,
            api_error(
                "POST",
                &format!("{api}/config/parent"),
                Some(json!({"config": {}})),
            ),
        ),
        (
            vec!["env", "rm", svc, "parent"],
            8,
            api_error("DELETE", &format!("{api}/config/parent"), None),
        ),
    ];
    for (args, code, api_body) in cases {
        let mut all = vec!["--json"];
        all.extend_from_slice(&args);
        let output = jones_at(zk, url, &all, &[]).await;
        assert_eq!(
            output.status.code(),
            Some(code),
            "{args:?}: {}",
            stderr(&output)
        );
        let error = json_error(&output);
        assert_eq!(
            error["kind"], api_body["kind"],
            "{args:?}: {error} vs {api_body}"
        );
        assert_eq!(error["exit_code"], json!(code));
        assert_eq!(error["error"], api_body["error"]);
        assert!(stdout(&output).is_empty(), "{}", stdout(&output));
        // Without --json the same failure is one line for people.
        let text = jones_at(zk, url, &args, &[]).await;
        assert_eq!(text.status.code(), Some(code));
        assert!(stderr(&text).starts_with("jones: "), "{}", stderr(&text));
    }
    let has_children =
        json_error(&jones_at(zk, url, &["--json", "env", "rm", svc, "parent"], &[]).await);
    assert_eq!(has_children["kind"], "has_children");
    assert!(has_children["children"].is_array(), "{has_children}");

    // Errors found before any request carry kinds too.
    let bad = jones_at(zk, url, &["--json", "service", "create", "bad/name"], &[]).await;
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(json_error(&bad)["kind"], "invalid_name");
    let unreachable = jones_at(zk, "127.0.0.1:9", &["--json", "services"], &[]).await;
    assert_eq!(unreachable.status.code(), Some(5));
    assert_eq!(json_error(&unreachable)["kind"], "server_unreachable");

    // A command line clap refuses is JSON too; help and version are not errors.
    for args in [
        vec!["--json", "env", "set", svc],
        vec!["--json", "--no-such-flag", "services"],
        vec!["env", "get", "--json"],
        vec!["--json", "frobnicate"],
    ] {
        let refused = jones_at(zk, url, &args, &[]).await;
        assert_eq!(
            refused.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&refused)
        );
        let error = json_error(&refused);
        assert_eq!(error["kind"], "invalid_input", "{args:?}: {error}");
        assert_eq!(error["exit_code"], json!(2));
        assert!(
            !error["error"].as_str().unwrap().starts_with("error:"),
            "{error}"
        );
        assert_eq!(
            stderr(&refused).lines().count(),
            1,
            "only the JSON: {}",
            stderr(&refused)
        );
    }
    let plain = jones_at(zk, url, &["env", "set", svc], &[]).await;
    assert_eq!(plain.status.code(), Some(2));
    assert!(stderr(&plain).starts_with("error: "), "{}", stderr(&plain));
    for args in [
        vec!["--json", "--help"],
        vec!["--json", "--version"],
        vec!["env", "--help", "--json"],
    ] {
        let shown = jones_at(zk, url, &args, &[]).await;
        assert_eq!(shown.status.code(), Some(0), "{args:?}: {}", stderr(&shown));
        assert!(!stdout(&shown).is_empty());
    }

    // A confirmation that could not be asked for has its own kind.
    let unconfirmed = jones_at(zk, url, &["--json", "env", "rm", svc, "parent", "-r"], &[]).await;
    assert_eq!(
        unconfirmed.status.code(),
        Some(2),
        "{}",
        stderr(&unconfirmed)
    );
    assert_eq!(json_error(&unconfirmed)["kind"], "confirmation_required");

    // A version conflict is 4, with the current version for a retry.
    let racing = format!(
        "JONES_SERVER='{url}' '{}' env set {svc} parent a 99 >/dev/null\nprintf '{{\"a\": 6}}\\n' > \"$1\"",
        env!("CARGO_BIN_EXE_jones")
    );
    let dir = tempfile::tempdir().unwrap();
    let editor = dir.path().join("racing");
    std::fs::write(&editor, format!("#!/bin/sh\n{racing}\n")).unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tmp = dir.path().display().to_string();
    let conflict = jones_at(
        zk,
        url,
        &["--json", "env", "edit", svc, "parent"],
        &[("VISUAL", &editor.display().to_string()), ("TMPDIR", &tmp)],
    )
    .await;
    assert_eq!(conflict.status.code(), Some(4), "{}", stderr(&conflict));
    let error = json_error(&conflict);
    assert_eq!(error["kind"], "version_conflict");
    assert!(error["current_version"].is_i64(), "{error}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn view_has_one_json_shape_and_names_a_missing_association() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, None).await;
    let (zk, url, svc) = (zk.as_str(), server.url.as_str(), svc.as_str());
    for (name, associated, env) in [
        ("127.0.0.2", true, json!("parent/child1")),
        ("web-typo", false, json!("")),
    ] {
        let from_zk = jones_at(zk, url, &["--json", "view", svc, "-a", name], &[]).await;
        let from_server = jones_at("", url, &["--json", "view", svc, "-a", name], &[]).await;
        let (a, b) = (parse(&ok(&from_zk)), parse(&ok(&from_server)));
        assert_eq!(a, b, "the same shape from ZooKeeper and from the server");
        assert_eq!(a["associated"], json!(associated), "{a}");
        assert_eq!(a["env"], env, "{a}");
        assert_eq!(a["service"], json!(svc));
        assert_eq!(a["association"], json!(name));
        assert!(a["view_path"].as_str().unwrap().starts_with("/services/"));
        for output in [&from_zk, &from_server] {
            assert_eq!(
                stderr(output).contains("is not associated"),
                !associated,
                "{}",
                stderr(output)
            );
        }
        // Text mode warns too, and prints the config alone.
        let text = jones_at(zk, url, &["view", svc, "-a", name], &[]).await;
        assert_eq!(parse(&ok(&text)), a["config"]);
        assert_eq!(stderr(&text).contains("is not associated"), !associated);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_goes_away_ends_jones_quietly() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, None).await;
    for args in [
        vec!["dump", svc.as_str()],
        vec!["--json", "dump", svc.as_str()],
        vec!["env", "ls", svc.as_str()],
        vec!["completions", "bash"],
    ] {
        let mut command = jones(&zk);
        command
            .env("JONES_SERVER", &server.url)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().unwrap();
            // The reader is gone before jones writes a byte.
            drop(child.stdout.take());
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            (child.wait().unwrap(), err)
        })
        .await
        .unwrap();
        let (status, err) = output;
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // As a shell pipeline: `jones dump svc | head -1`.
    let pipeline = std::process::Command::new("bash")
        .arg("-c")
        .arg(r#""$0" dump "$1" | head -1; echo "status ${PIPESTATUS[0]}""#)
        .arg(env!("CARGO_BIN_EXE_jones"))
        .arg(svc.as_str())
        .env("JONES_SERVER", &server.url)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&pipeline.stdout);
    assert_eq!(
        out,
        format!("/services/{svc}\nstatus 0\n"),
        "{}",
        String::from_utf8_lossy(&pipeline.stderr)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_to_stdout_keeps_logs_apart_and_uncoloured() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let dir = tempfile::tempdir().unwrap();
    for no_color in [None, Some("1")] {
        let mut command = jones(&zk);
        command.current_dir(dir.path()).args([
            "export",
            svc.as_str(),
            "-a",
            "127.0.0.2",
            "--once",
            "--out",
            "-",
        ]);
        if let Some(value) = no_color {
            command.env("NO_COLOR", value);
        }
        let output = run(&mut command);
        assert_eq!(
            parse(&ok(&output)),
            json!({"foo": "bar", "a": 2, "b": [1, 2, 3], "c": {"x": 0}}),
            "stdout holds the config alone"
        );
        let log = stderr(&output);
        assert!(log.contains("wrote -"), "the log is on stderr: {log}");
        assert!(
            !log.contains('\u{1b}'),
            "no ANSI codes off a terminal: {log:?}"
        );
        assert!(
            !dir.path().join("-").exists(),
            "no file named `-` is created"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_given_as_host_and_port_is_reached_over_http() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, None).await;
    let bare = server.url.strip_prefix("http://").unwrap().to_owned();
    let listed = ok(&jones_at(&zk, &bare, &["services"], &[]).await);
    assert!(listed.lines().any(|l| l == svc.as_str()), "{listed}");
    let flag = ok(&run(jones(&zk).args([
        "--server",
        &bare,
        "env",
        "ls",
        svc.as_str(),
    ])));
    assert!(flag.contains("parent"), "{flag}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_edit_is_taken_back_with_resume() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, None).await;
    let (zk, url, svc) = (zk.as_str(), server.url.as_str(), svc.as_str());
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().display().to_string();
    let script = |name: &str, body: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path.display().to_string()
    };
    let racing = script(
        "racing",
        format!(
            "JONES_SERVER='{url}' '{}' env set {svc} parent a 99 >/dev/null\nprintf '{{\"a\": 6, \"mine\": true}}\\n' > \"$1\"",
            env!("CARGO_BIN_EXE_jones")
        ),
    );
    let conflict = jones_at(
        zk,
        url,
        &["env", "edit", svc, "parent"],
        &[("VISUAL", &racing), ("TMPDIR", &tmp)],
    )
    .await;
    assert_eq!(conflict.status.code(), Some(4), "{}", stderr(&conflict));
    let err = stderr(&conflict);
    let command = err
        .split("take it back with: ")
        .nth(1)
        .unwrap_or_else(|| panic!("the message names the command: {err}"))
        .trim()
        .to_owned();
    let kept = command.split("--resume ").nth(1).unwrap().to_owned();
    assert_eq!(
        command,
        format!("jones env edit {svc} parent --resume {kept}")
    );

    // The editor of the resumed edit sees the kept text and keeps it.
    let seen = dir.path().join("seen.json");
    let keep = script("keep", format!("cp \"$1\" '{}'", seen.display()));
    let resumed = jones_at(
        zk,
        url,
        &["env", "edit", svc, "parent", "--resume", &kept],
        &[("VISUAL", &keep)],
    )
    .await;
    assert!(ok(&resumed).contains("saved parent"));
    assert!(
        stderr(&resumed).contains("\"a\": 99"),
        "the difference is shown: {}",
        stderr(&resumed)
    );
    // The kept edit is the merge, the key both sides changed noted above it.
    let seen = std::fs::read_to_string(&seen).unwrap();
    assert!(seen.contains("//   a: saved 99, yours 6"), "{seen}");
    let json_part: String = seen
        .lines()
        .filter(|l| !l.starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(parse(&json_part), json!({"a": 6, "mine": true}));
    assert_eq!(
        config_of(zk, url, svc, "parent").await,
        json!({"a": 6, "mine": true})
    );
    assert!(
        !std::path::Path::new(&kept).exists(),
        "a saved edit's file is removed"
    );

    let gone = jones_at(
        zk,
        url,
        &["env", "edit", svc, "parent", "--resume", &kept],
        &[("VISUAL", &keep)],
    )
    .await;
    assert_eq!(gone.status.code(), Some(2), "{}", stderr(&gone));
    assert!(stderr(&gone).contains(&kept), "{}", stderr(&gone));

    // Invalid JSON in an edit: kept, and the same command takes it back.
    let broken = script("broken", r#"printf '{"a": ' > "$1""#.to_owned());
    let invalid = jones_at(
        zk,
        url,
        &["env", "edit", svc, "parent"],
        &[("VISUAL", &broken), ("TMPDIR", &tmp)],
    )
    .await;
    assert_eq!(invalid.status.code(), Some(2));
    let err = stderr(&invalid);
    let kept = err.split("--resume ").nth(1).unwrap().trim().to_owned();
    let fix = script("fix", r#"printf '{"a": 7}\n' > "$1""#.to_owned());
    ok(&jones_at(
        zk,
        url,
        &["env", "edit", svc, "parent", "--resume", &kept],
        &[("VISUAL", &fix)],
    )
    .await);
    assert_eq!(config_of(zk, url, svc, "parent").await, json!({"a": 7}));
    server.stop().await;
}
