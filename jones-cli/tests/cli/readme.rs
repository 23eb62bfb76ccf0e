//! The examples people copy: every command of the README's "The shell"
//! section and of `jones --help`, run as written, in order, by `sh`
//! against a real server, each exiting 0. The service name `checkout` is
//! made unique per run (tests share one ZooKeeper), `prod.json` is the file
//! the examples read, and `$VISUAL` an editor that adds a key. `export` and
//! `watch` run until stopped (and the examples write under /etc and reload
//! systemd units): they are left to `export.rs` and `watch.rs`.

use std::path::Path;

use crate::harness::*;

/// The commands of the ```sh blocks of `text`, continuation lines joined.
fn commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_block = line == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                out.push(std::mem::take(&mut pending));
            }
        }
    }
    out
}

/// The README's "The shell" section.
fn shell_section() -> &'static str {
    let readme = include_str!("../../../README.md");
    let start = readme.find("## The shell").expect("a shell section");
    let rest = &readme[start + 2..];
    &readme[start..start + 2 + rest.find("\n## ").unwrap_or(rest.len())]
}

/// The examples of `jones --help`.
fn help_examples(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Examples:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_owned())
        .collect()
}

/// Runs `commands` with `sh` in `dir`, `checkout` replaced by `svc`;
/// returns each failure with its output.
fn run_all(commands: &[String], svc: &str, url: &str, dir: &Path) -> Vec<String> {
    let bin = Path::new(env!("CARGO_BIN_EXE_jones")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let editor = dir.join("add-a-key");
    let mut failures = Vec::new();
    for command in commands {
        if command.starts_with("jones export") || command.starts_with("jones watch") {
            continue;
        }
        let line = command.replace("checkout", svc);
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(dir)
            .env("PATH", &path)
            .env("JONES_SERVER", url)
            .env_remove("JONES_ZK")
            .env("VISUAL", &editor)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        if !output.status.success() {
            failures.push(format!(
                "{command}\n  exit {:?}\n  {}{}",
                output.status.code(),
                stdout(&output),
                stderr(&output)
            ));
        }
    }
    failures
}

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prod.json"),
        r#"{"db": {"host": "db1", "pool": {"size": 5, "idle": 1}}, "timeout_ms": 500}"#,
    )
    .unwrap();
    let editor = dir.path().join("add-a-key");
    // Adds "edited": true to the JSON object in the file it is given.
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/^{/{\"edited\": true, /' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dir
}

/// Runs `examples` in a fresh work directory on a fresh service name
/// against the server at `url`, asserting each exits 0; returns the name.
async fn run_examples(examples: Vec<String>, url: &str, what: &str) -> String {
    let svc = jones_testkit::unique_name("checkout");
    let dir = workdir();
    let (name, url) = (svc.clone(), url.to_owned());
    let failures = tokio::task::spawn_blocking(move || run_all(&examples, &name, &url, dir.path()))
        .await
        .unwrap();
    assert!(
        failures.is_empty(),
        "{what} examples failed:\n{}",
        failures.join("\n")
    );
    svc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_shell_examples_run_as_written() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let examples = commands(shell_section());
    assert!(examples.len() >= 20, "{examples:?}");
    let svc = run_examples(examples, &server.url, "README").await;
    // The last examples removed the service.
    let services = ok(&jones_at(&zk, &server.url, &["--json", "services"], &[]).await);
    assert!(!services.contains(&svc), "{services}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_help_examples_run_as_written() {
    let zk = shared_zk();
    let server = TestServer::start(&zk, None).await;
    let help = ok(&jones_at(&zk, &server.url, &["--help"], &[]).await);
    let examples = help_examples(&help);
    assert!(examples.len() >= 6, "{help}");
    let svc = run_examples(examples, &server.url, "--help").await;
    let view = ok(&jones_at(
        &zk,
        &server.url,
        &["--json", "env", "get", &svc, "prod"],
        &[],
    )
    .await);
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    assert_eq!(
        view["view"]["db"]["host"], "db1",
        "the dotted set kept db.host: {view}"
    );
    assert_eq!(view["view"]["db"]["pool"]["size"], 20);
    assert_eq!(view["config"]["edited"], true, "the edit was saved");
    server.stop().await;
}
