//! `jones account`: a token printed once that works, listed without it,
//! refused once removed; roles that stop at their services.

use serde_json::Value;

use crate::harness::{
    TestServer, admin, fixture, jones_at, json_error, ok, shared_zk, stderr, stdout,
};
use jones_testkit::unique_name;

const ADMIN: &str = "cli-admin-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_token_works_until_the_account_is_removed() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let other = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, Some(ADMIN)).await;
    let url = server.url.clone();
    let as_admin = [("JONES_TOKEN", ADMIN)];
    let name = unique_name("ci");
    let added = jones_at(
        &zk,
        &url,
        &[
            "account",
            "add",
            &name,
            "--role",
            "editor",
            "--service",
            svc.as_str(),
        ],
        &as_admin,
    )
    .await;
    let token = ok(&added).trim().to_owned();
    assert!(token.starts_with(&format!("jones_{name}_")), "{token}");
    let note = stderr(&added);
    assert!(
        note.contains("will not be shown again") && note.contains(&format!("editor on {svc}")),
        "{note}"
    );
    // The token works on its service, and only there.
    let with_token = [("JONES_TOKEN", token.as_str())];
    ok(&jones_at(
        &zk,
        &url,
        &["env", "set", svc.as_str(), "parent", "a", "7"],
        &with_token,
    )
    .await);
    let refused = jones_at(
        &zk,
        &url,
        &["env", "set", other.as_str(), "parent", "a", "7"],
        &with_token,
    )
    .await;
    assert_eq!(refused.status.code(), Some(6), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!("account {name} has no role on service {other}")),
        "{}",
        stderr(&refused)
    );
    let history = ok(&jones_at(
        &zk,
        &url,
        &["history", svc.as_str(), "parent", "--limit", "1"],
        &with_token,
    )
    .await);
    assert!(history.contains(&name), "{history}");
    // Listed with its roles, never with its token.
    let listed = ok(&jones_at(&zk, &url, &["account", "ls"], &as_admin).await);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in {listed}"));
    assert!(line.contains(&format!("editor on {svc}")), "{line}");
    assert!(listed.starts_with("NAME"), "{listed}");
    assert!(!listed.contains(&token), "{listed}");
    let json: Value = serde_json::from_str(&ok(&jones_at(
        &zk,
        &url,
        &["--json", "account", "ls"],
        &as_admin,
    )
    .await))
    .unwrap();
    assert!(
        json["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == name.as_str())
    );
    // An editor cannot manage accounts.
    let denied = jones_at(&zk, &url, &["account", "ls"], &with_token).await;
    assert_eq!(denied.status.code(), Some(6), "{}", stderr(&denied));
    // Removed: refused at once.
    let removed = ok(&jones_at(&zk, &url, &["account", "rm", &name], &as_admin).await);
    assert!(
        removed.contains(&format!("removed account {name}")),
        "{removed}"
    );
    let gone = jones_at(
        &zk,
        &url,
        &["env", "get", svc.as_str(), "parent"],
        &with_token,
    )
    .await;
    assert_eq!(gone.status.code(), Some(6), "{}", stderr(&gone));
    assert!(stderr(&gone).contains("was removed"), "{}", stderr(&gone));
    let again = jones_at(&zk, &url, &["--json", "account", "rm", &name], &as_admin).await;
    assert_eq!(again.status.code(), Some(3), "{}", stderr(&again));
    assert_eq!(json_error(&again)["kind"], "account_not_found");
    // Both recorded in the Jones-wide history, by the admin token.
    let audit = ok(&jones_at(&zk, &url, &["audit", "--limit", "500"], &as_admin).await);
    let mine: Vec<&str> = audit
        .lines()
        .filter(|l| l.ends_with(&format!("account {name}")))
        .collect();
    assert_eq!(mine.len(), 2, "{audit}");
    assert!(mine[0].contains("admin  account.remove"), "{audit}");
    assert!(mine[1].contains("admin  account.create"), "{audit}");
    assert!(!audit.contains(&token[token.len() - 43..]), "{audit}");
    let denied = jones_at(&zk, &url, &["audit"], &with_token).await;
    assert_eq!(denied.status.code(), Some(6), "{}", stderr(&denied));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_add_grants_globally_without_a_service_and_refuses_garbage() {
    let zk = shared_zk();
    let svc = fixture(&admin(&zk).await).await;
    let server = TestServer::start(&zk, Some(ADMIN)).await;
    let url = server.url.clone();
    let as_admin = [("JONES_TOKEN", ADMIN)];
    let name = unique_name("reader");
    let added = jones_at(
        &zk,
        &url,
        &["--json", "account", "add", &name, "--role", "viewer"],
        &as_admin,
    )
    .await;
    let created: Value = serde_json::from_str(&ok(&added)).unwrap();
    assert_eq!(created["grants"][0]["service"], Value::Null);
    let token = created["token"].as_str().unwrap().to_owned();
    let with_token = [("JONES_TOKEN", token.as_str())];
    let got = ok(&jones_at(
        &zk,
        &url,
        &["env", "get", svc.as_str(), "parent"],
        &with_token,
    )
    .await);
    assert!(got.contains("\"a\""), "{got}");
    let refused = jones_at(
        &zk,
        &url,
        &["env", "set", svc.as_str(), "parent", "a", "8"],
        &with_token,
    )
    .await;
    assert_eq!(refused.status.code(), Some(6), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("needs the editor role"),
        "{}",
        stderr(&refused)
    );
    let exists = jones_at(
        &zk,
        &url,
        &["account", "add", &name, "--role", "viewer"],
        &as_admin,
    )
    .await;
    assert_eq!(exists.status.code(), Some(7), "{}", stderr(&exists));
    let bad = jones_at(
        &zk,
        &url,
        &["account", "add", "Not OK", "--role", "viewer"],
        &as_admin,
    )
    .await;
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("account name"), "{}", stderr(&bad));
    assert!(stdout(&bad).is_empty());
    let role = jones_at(
        &zk,
        &url,
        &["account", "add", &unique_name("x"), "--role", "owner"],
        &as_admin,
    )
    .await;
    assert_eq!(role.status.code(), Some(2), "{}", stderr(&role));
    let anonymous = jones_at(
        &zk,
        &url,
        &["account", "add", &unique_name("x"), "--role", "viewer"],
        &[],
    )
    .await;
    assert_eq!(anonymous.status.code(), Some(6), "{}", stderr(&anonymous));
    assert!(
        stderr(&anonymous).contains("Authorization: Bearer"),
        "{}",
        stderr(&anonymous)
    );
    server.stop().await;
}
