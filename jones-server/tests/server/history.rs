//! The change history: every change has exactly one entry, committed in
//! its transaction, whatever answers are lost and whichever server dies;
//! entries are numbered in commit order across servers; the API pages
//! them and the retention bounds them.

use std::collections::BTreeMap;

use jones_client::{ServiceLayout, ServiceName};
use jones_server::{Action, Admin, Author, Entry, Limits};
use serde_json::{Value, json};

use crate::harness::{admin, env, obj, serve_on_socket, service};

/// Every entry of `svc`, oldest first, through the paged API.
async fn all_entries(admin: &Admin, svc: &ServiceName) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut before = None;
    loop {
        let page = admin.history(svc, None, 500, before).await.unwrap();
        entries.extend(page.entries);
        match page.next {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    entries.reverse();
    entries
}

/// The conf znode's data version of `e`: how many times it was set since
/// it was created.
async fn conf_sets(admin: &Admin, svc: &ServiceName, e: &str) -> usize {
    let client = admin.zk().client().await.unwrap();
    let layout = ServiceLayout::new(svc.clone());
    let (_, stat) = client.get_data(&layout.conf_path(&env(e))).await.unwrap();
    stat.version as usize
}

/// Per environment, the `config.set` entries must be exactly the conf's
/// sets, chained (each one's `before` the previous one's `after`), ending
/// on the stored config.
async fn assert_one_entry_per_change(admin: &Admin, svc: &ServiceName, envs: &[&str]) {
    let entries = all_entries(admin, svc).await;
    for e in envs {
        let sets: Vec<&Entry> = entries
            .iter()
            .filter(|x| {
                x.env.as_deref() == Some(*e)
                    && matches!(x.action, Action::ConfigSet | Action::ConfigRollback)
            })
            .collect();
        assert_eq!(
            sets.len(),
            conf_sets(admin, svc, e).await,
            "config.set entries of {e:?} against the conf's version"
        );
        for pair in sets.windows(2) {
            assert_eq!(
                pair[1].before, pair[0].after,
                "entries {} and {} of {e:?}",
                pair[0].id, pair[1].id
            );
        }
        let stored = admin.get_env(svc, &env(e)).await.unwrap().config;
        if let Some(last) = sets.last() {
            assert_eq!(last.after, Value::Object(stored), "the last entry of {e:?}");
        }
    }
}

#[tokio::test]
async fn every_change_appends_one_entry_with_who_what_before_after_and_why() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let alice = admin.acting_as(Author::new("alice").with_message(Some("for the launch".into())));
    alice
        .create_env(&svc, &env("prod"), obj(json!({"threads": 4})))
        .await
        .unwrap();
    alice
        .set_env(&svc, &env("prod"), obj(json!({"threads": 8})), None)
        .await
        .unwrap();
    admin
        .set_association(&svc, "web-01", &env("prod"))
        .await
        .unwrap();
    admin
        .set_association(&svc, "web-01", &env(""))
        .await
        .unwrap();
    // Setting what is already set changes nothing and records nothing.
    admin
        .set_association(&svc, "web-01", &env(""))
        .await
        .unwrap();
    admin.delete_association(&svc, "web-01").await.unwrap();
    admin.delete_env(&svc, &env("prod"), false).await.unwrap();

    let entries = all_entries(&admin, &svc).await;
    let shape: Vec<(Action, Option<&str>, Value, Value, &str)> = entries
        .iter()
        .map(|e| {
            (
                e.action,
                e.env.as_deref(),
                e.before.clone(),
                e.after.clone(),
                e.actor.as_str(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (
                Action::ServiceCreate,
                None,
                Value::Null,
                json!({}),
                "server"
            ),
            (
                Action::EnvCreate,
                Some("prod"),
                Value::Null,
                json!({"threads": 4}),
                "alice"
            ),
            (
                Action::ConfigSet,
                Some("prod"),
                json!({"threads": 4}),
                json!({"threads": 8}),
                "alice"
            ),
            (
                Action::AssociationSet,
                Some("prod"),
                Value::Null,
                json!("prod"),
                "server"
            ),
            (
                Action::AssociationSet,
                Some(""),
                json!("prod"),
                json!(""),
                "server"
            ),
            (
                Action::AssociationRemove,
                Some(""),
                json!(""),
                Value::Null,
                "server"
            ),
            (
                Action::EnvDelete,
                Some("prod"),
                json!({"threads": 8}),
                Value::Null,
                "server"
            ),
        ]
    );
    assert_eq!(entries[1].message.as_deref(), Some("for the launch"));
    assert_eq!(entries[3].message, None);
    assert!(entries.iter().all(|e| e.association.is_some()
        == matches!(e.action, Action::AssociationSet | Action::AssociationRemove)));
    assert!(
        entries
            .windows(2)
            .all(|w| w[0].id < w[1].id && w[0].at <= w[1].at)
    );
    assert!(
        entries[0].at.ends_with('Z') && entries[0].at.len() == 24,
        "{}",
        entries[0].at
    );
}

/// Every transaction's answer lost (ZooKeeper applied it, the server heard
/// `ConnectionLoss`): each retry finds its change applied, and no change
/// is recorded twice or not at all.
#[tokio::test]
async fn lost_answers_leave_exactly_one_entry_per_change() {
    let svc = service();
    admin().await.create_service(&svc).await.unwrap();
    let lossy = admin().await.with_limits(Limits {
        lose_answers: u32::MAX,
        ..Limits::default()
    });
    lossy
        .create_env(&svc, &env("a"), obj(json!({"n": 0})))
        .await
        .unwrap();
    for n in 1..=60 {
        lossy
            .set_env(&svc, &env("a"), obj(json!({"n": n})), None)
            .await
            .unwrap();
        if n % 10 == 0 {
            lossy
                .set_association(&svc, &format!("h{n}"), &env("a"))
                .await
                .unwrap();
            lossy
                .delete_association(&svc, &format!("h{n}"))
                .await
                .unwrap();
        }
    }
    let reader = admin().await;
    assert_one_entry_per_change(&reader, &svc, &["a"]).await;
    let entries = all_entries(&reader, &svc).await;
    let count = |action| entries.iter().filter(|e| e.action == action).count();
    assert_eq!(count(Action::EnvCreate), 1);
    assert_eq!(count(Action::ConfigSet), 60);
    assert_eq!(count(Action::AssociationSet), 6);
    assert_eq!(count(Action::AssociationRemove), 6);
}

/// Two servers editing the same environments at once: entries are
/// numbered in commit order (their znodes' creation zxids rise with their
/// ids), and each environment's entries chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_writing_at_once_record_in_commit_order() {
    let svc = service();
    let one = admin().await;
    let two = admin().await;
    one.create_service(&svc).await.unwrap();
    for e in ["a", "b"] {
        one.create_env(&svc, &env(e), obj(json!({"n": 0})))
            .await
            .unwrap();
    }
    let writes = |admin: Admin, who: &'static str| {
        let svc = svc.clone();
        async move {
            let admin = admin.acting_as(Author::new(who));
            for n in 0..100 {
                let e = if n % 2 == 0 { "a" } else { "b" };
                admin
                    .set_env(&svc, &env(e), obj(json!({"n": n, "by": who})), None)
                    .await
                    .unwrap();
            }
        }
    };
    tokio::join!(writes(one.clone(), "one"), writes(two.clone(), "two"));
    assert_one_entry_per_change(&one, &svc, &["a", "b"]).await;
    let client = one.zk().client().await.unwrap();
    let dir = format!("{}/history", ServiceLayout::new(svc.clone()).service_path());
    let mut czxids = BTreeMap::new();
    for entry in all_entries(&one, &svc).await {
        let path = format!("{dir}/e{:010}", entry.id);
        let (_, stat) = client.get_data(&path).await.unwrap();
        czxids.insert(entry.id, stat.czxid);
    }
    let in_id_order: Vec<i64> = czxids.values().copied().collect();
    assert!(
        in_id_order.windows(2).all(|w| w[0] < w[1]),
        "ids follow commit order"
    );
}

#[tokio::test]
async fn the_retention_keeps_the_newest_entries() {
    let svc = service();
    let admin = admin().await.with_limits(Limits {
        history_retention: 10,
        ..Limits::default()
    });
    admin.create_service(&svc).await.unwrap();
    for n in 0..100 {
        admin
            .set_env(&svc, &env(""), obj(json!({"n": n})), None)
            .await
            .unwrap();
    }
    // Pruned every 32 changes: never more than the retention and 32.
    assert!(all_entries(&admin, &svc).await.len() <= 10 + 32);
    admin.prune_history(&svc).await.unwrap();
    let kept = all_entries(&admin, &svc).await;
    assert_eq!(kept.len(), 10);
    assert_eq!(kept.last().unwrap().after, json!({"n": 99}));
    assert_eq!(kept.first().unwrap().after, json!({"n": 90}));
}

/// A change whose entry does not fit beside it in its transaction is
/// still made, and recorded smaller: without `before` first (the previous
/// entry's `after`), then without `after` (what is stored).
#[tokio::test]
async fn a_change_too_large_to_record_whole_is_recorded_smaller_never_refused() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let pad = |c: &str, n: usize| obj(json!({"pad": c.repeat(n)}));
    admin
        .set_env(&svc, &env(""), pad("x", 250 * 1024), None)
        .await
        .unwrap();
    admin
        .set_env(&svc, &env(""), pad("y", 250 * 1024), None)
        .await
        .unwrap();
    let huge = pad("z", 500 * 1024);
    admin
        .set_env(&svc, &env(""), huge.clone(), None)
        .await
        .unwrap();
    let entries = all_entries(&admin, &svc).await;
    let [.., whole, smaller, smallest] = entries.as_slice() else {
        panic!("{} entries", entries.len())
    };
    assert!(!whole.before_omitted && !whole.after_omitted);
    assert!(smaller.before_omitted && !smaller.after_omitted);
    assert_eq!(smaller.before, Value::Null);
    assert_eq!(smaller.after, Value::Object(pad("y", 250 * 1024)));
    assert!(smallest.before_omitted && smallest.after_omitted);
    assert_eq!(
        (smallest.action, smallest.actor.as_str()),
        (Action::ConfigSet, "server")
    );
    assert_eq!(admin.get_env(&svc, &env("")).await.unwrap().config, huge);
    // A 450 KB environment is created with its config and view in one
    // transaction, as without a history; its entry gives way.
    let other = service();
    admin.create_service(&other).await.unwrap();
    admin
        .create_env(&other, &env("fat"), pad("f", 450_000))
        .await
        .unwrap();
    let created = all_entries(&admin, &other).await.pop().unwrap();
    assert_eq!(
        (created.action, created.after_omitted),
        (Action::EnvCreate, true)
    );
}

#[tokio::test]
async fn the_history_api_pages_filters_and_records_the_actor_and_message() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let server = serve_on_socket(&admin, Some("sesame")).await;
    let addr = server.addr;
    let base = format!("/api/v1/services/{}", svc.as_str());
    let authed = |method: &'static str, path: String, body: Option<String>| async move {
        crate::harness::http_with_token(addr, method, &path, body.as_deref(), "sesame").await
    };
    let (status, _) = authed(
        "POST",
        format!("{base}/config/a"),
        Some(r#"{"config": {"n": 0}, "message": "new"}"#.into()),
    )
    .await;
    assert_eq!(status, 201);
    for n in 1..=5 {
        let version = admin.get_env(&svc, &env("a")).await.unwrap().version;
        let body = json!({"config": {"n": n}, "version": version, "message": format!("step {n}")});
        let (status, text) =
            authed("PUT", format!("{base}/config/a"), Some(body.to_string())).await;
        assert_eq!(status, 200, "{text}");
    }
    let (status, _) = authed(
        "DELETE",
        format!("{base}/config/a?message=gone%20now"),
        None,
    )
    .await;
    assert_eq!(status, 200);

    let (status, text) = authed("GET", format!("{base}/history?env=a&limit=3"), None).await;
    assert_eq!(status, 200, "{text}");
    let page: Value = serde_json::from_str(&text).unwrap();
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["action"], "env.delete");
    assert_eq!(entries[0]["message"], "gone now");
    assert_eq!(entries[0]["actor"], "admin");
    assert_eq!(entries[1]["after"], json!({"n": 5}));
    assert_eq!(entries[1]["message"], "step 5");
    let next = page["next"].as_u64().unwrap();
    let (_, text) = authed(
        "GET",
        format!("{base}/history?env=a&limit=10&before={next}"),
        None,
    )
    .await;
    let rest: Value = serde_json::from_str(&text).unwrap();
    let messages: Vec<&str> = rest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["step 3", "step 2", "step 1", "new"]);
    assert_eq!(rest["next"], Value::Null);

    for (query, wanted) in [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("before=-1", "before"),
        ("env=..", ""),
    ] {
        let (status, text) = authed("GET", format!("{base}/history?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {text}");
        assert!(text.contains(wanted), "{query}: {text}");
    }
    let (status, _) = authed(
        "GET",
        "/api/v1/services/no-such-service/history".into(),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, text) = authed(
        "PUT",
        format!("{base}/config"),
        Some(json!({"config": {}, "version": 0, "message": 7}).to_string()),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("`message` must be a string"), "{text}");
}

/// How many entries `svc`'s history holds now.
async fn entries_stored(admin: &Admin, svc: &ServiceName) -> usize {
    let client = admin.zk().client().await.unwrap();
    let dir = format!("{}/history", ServiceLayout::new(svc.clone()).service_path());
    client
        .check_stat(&dir)
        .await
        .unwrap()
        .map_or(0, |s| s.num_children as usize)
}

/// One HTTP request, `None` when the connection fails or drops (the
/// server was killed).
async fn try_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n")?;
    Some((head.split(' ').nth(1)?.parse().ok()?, rest.to_owned()))
}

/// Writes to `svc` through the server at `addr` until a request fails:
/// root configs big enough to be batched, a child's config, associations
/// set and removed.
async fn write_until_killed(addr: std::net::SocketAddr, svc: &ServiceName, round: usize) {
    let base = format!("/api/v1/services/{}", svc.as_str());
    for n in 0.. {
        let (path, body) = match n % 4 {
            0 | 1 => {
                let e = if n % 4 == 0 { "" } else { "/c0" };
                let Some((200, text)) =
                    try_request(addr, "GET", &format!("{base}/config{e}"), "").await
                else {
                    return;
                };
                let version = serde_json::from_str::<Value>(&text).unwrap()["version"].clone();
                let pad = if e.is_empty() {
                    "p".repeat(120_000)
                } else {
                    String::new()
                };
                let config = json!({"round": round, "n": n, "pad": pad});
                (
                    format!("{base}/config{e}"),
                    json!({"config": config, "version": version}).to_string(),
                )
            }
            2 => (
                format!("{base}/associations/h{}", n % 3),
                json!({"env": "c0"}).to_string(),
            ),
            _ => (
                format!("{base}/associations/h{}", (n + 1) % 3),
                String::new(),
            ),
        };
        let method = if n % 4 == 3 { "DELETE" } else { "PUT" };
        if try_request(addr, method, &path, &body).await.is_none() {
            return;
        }
    }
}

/// A server writing without pause, killed with SIGKILL at a different
/// point of its writes each round (single transactions and batched root
/// writes alike), eight times: once another server has healed what the
/// last one left, every change stored has exactly one entry and every
/// entry a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_write_leaves_one_entry_per_change() {
    use crate::harness::{admin_on, isolated_connect};
    use crate::process::ServerProcess;
    use std::time::Duration;
    let connect = isolated_connect().await;
    let admin = admin_on(&connect).await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    for i in 0..10 {
        admin
            .create_env(&svc, &env(&format!("c{i}")), obj(json!({"i": i})))
            .await
            .unwrap();
    }
    for round in 0..8 {
        let dying = ServerProcess::start_on(&connect, &["--session-timeout-ms", "4000"]).await;
        let writes = write_until_killed(dying.addr, &svc, round);
        // Killed once it made one to three more changes, then a delay
        // that differs per round: mid-write somewhere else each time.
        let kill = async {
            let landed = entries_stored(&admin, &svc).await;
            while entries_stored(&admin, &svc).await < landed + 1 + round % 3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis((round as u64 * 17) % 60)).await;
            dying.kill().await;
        };
        tokio::join!(writes, kill);
    }
    let survivor = ServerProcess::start_on(&connect, &[]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !admin.verify(&svc).await.unwrap().consistent {
        assert!(std::time::Instant::now() < deadline, "not healed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_one_entry_per_change(&admin, &svc, &["", "c0"]).await;
    let client = admin.zk().client().await.unwrap();
    let layout = ServiceLayout::new(svc.clone());
    let (_, nodemap) = client.get_data(layout.nodemap_path()).await.unwrap();
    let associations = all_entries(&admin, &svc)
        .await
        .into_iter()
        .filter(|e| matches!(e.action, Action::AssociationSet | Action::AssociationRemove))
        .count();
    assert_eq!(
        associations, nodemap.version as usize,
        "association entries against nodemap writes"
    );
    let sets = conf_sets(&admin, &svc, "").await + conf_sets(&admin, &svc, "c0").await;
    assert!(sets >= 8, "{sets} config writes in 8 rounds");
    survivor.terminate().await;
}

/// The Jones-wide entries about service `svc`, oldest first.
async fn jones_entries_of(admin: &Admin, svc: &ServiceName) -> Vec<Entry> {
    let mut entries: Vec<Entry> = admin
        .jones_history(500, None)
        .await
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.service.as_deref() == Some(svc.as_str()))
        .collect();
    entries.reverse();
    entries
}

#[tokio::test]
async fn a_service_delete_is_recorded_jones_wide_exactly_once_whatever_dies() {
    let admin = admin().await;
    // Whole, and by someone who said why.
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .acting_as(Author::new("alice").with_message(Some("retired".into())))
        .delete_service(&svc)
        .await
        .unwrap();
    let recorded = jones_entries_of(&admin, &svc).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(
        (
            recorded[0].action,
            recorded[0].actor.as_str(),
            recorded[0].message.as_deref()
        ),
        (Action::ServiceDelete, "alice", Some("retired"))
    );
    // The answer lost: applied once, recorded once.
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    let lossy = admin.clone().with_limits(Limits {
        lose_answers: 1,
        ..Limits::default()
    });
    lossy.delete_service(&svc).await.unwrap();
    assert_eq!(jones_entries_of(&admin, &svc).await.len(), 1);
    // Too large for one transaction, the deleter dying after the delete
    // marker: the next delete finishes it without a second entry.
    let small = Limits {
        multi_bytes: 8 * 1024,
        ..Limits::default()
    };
    let svc = service();
    let big = admin.clone().with_limits(small.clone());
    big.create_service(&svc).await.unwrap();
    for i in 0..40 {
        big.create_env(
            &svc,
            &env(&format!("e{i:02}")),
            obj(json!({"pad": "x".repeat(300)})),
        )
        .await
        .unwrap();
    }
    let dying = admin.clone().with_limits(Limits {
        stop_after_batches: Some(1),
        ..small.clone()
    });
    assert!(dying.delete_service(&svc).await.is_err());
    assert_eq!(jones_entries_of(&admin, &svc).await.len(), 1);
    assert!(admin.service_exists(&svc).await.unwrap(), "half deleted");
    big.delete_service(&svc).await.unwrap();
    assert!(!admin.service_exists(&svc).await.unwrap());
    assert_eq!(jones_entries_of(&admin, &svc).await.len(), 1);
}

#[tokio::test]
async fn accounts_made_and_removed_are_recorded_without_their_token() {
    use jones_server::{AccountName, Grant, Role};
    let admin = admin().await.acting_as(Author::new("root-admin"));
    let name = AccountName::new(&jones_testkit::unique_name("audited")).unwrap();
    let svc = service();
    let (_, token) = admin
        .create_account(&name, vec![Grant::on(Role::Editor, svc.clone())])
        .await
        .unwrap();
    admin.delete_account(&name).await.unwrap();
    let mine: Vec<Entry> = admin
        .jones_history(500, None)
        .await
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.account.as_deref() == Some(name.as_str()))
        .collect();
    let shape: Vec<(Action, &str, Value, Value)> = mine
        .iter()
        .map(|e| {
            (
                e.action,
                e.actor.as_str(),
                e.before.clone(),
                e.after.clone(),
            )
        })
        .collect();
    let grants = json!([{"role": "editor", "service": svc.as_str()}]);
    assert_eq!(
        shape,
        [
            (
                Action::AccountRemove,
                "root-admin",
                grants.clone(),
                Value::Null
            ),
            (Action::AccountCreate, "root-admin", Value::Null, grants),
        ]
    );
    let text = serde_json::to_string(&mine).unwrap();
    let secret = &token[token.len() - 43..];
    assert!(!text.contains(secret) && !text.contains("sha256"), "{text}");
    // Removing what is not there records nothing.
    assert!(admin.delete_account(&name).await.is_err());
    let after = admin.jones_history(500, None).await.unwrap().entries;
    let count = after
        .iter()
        .filter(|e| e.account.as_deref() == Some(name.as_str()))
        .count();
    assert_eq!(count, 2);
}
