//! A delete shows its reach before it happens: the preview lists every
//! environment and association a delete removes, and what those hosts read
//! instead; the delete then removes exactly that.

use serde_json::{Value, json};

use crate::harness::{admin, env, http, obj, serve_on_socket, service, view};

#[tokio::test]
async fn the_preview_of_a_delete_lists_what_the_delete_then_removes() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .set_env(&svc, &env(""), obj(json!({"db": {"host": "db1"}})), None)
        .await
        .unwrap();
    for e in ["prod", "prod/eu", "prod/eu/west-1", "staging"] {
        admin
            .create_env(&svc, &env(e), obj(json!({"at": e})))
            .await
            .unwrap();
    }
    for (host, e) in [
        ("web-01", "prod/eu"),
        ("web-02.example.com", "prod/eu/west-1"),
        ("web-03", "staging"),
        ("web-04", "prod"),
    ] {
        admin.set_association(&svc, host, &env(e)).await.unwrap();
    }
    let before = crate::harness::snapshot(&admin, &svc).await;
    let preview = admin.preview_delete(&svc, &env("prod")).await.unwrap();
    assert_eq!(preview.envs, ["prod", "prod/eu", "prod/eu/west-1"]);
    let dropped: Vec<(&str, &str)> = preview
        .associations
        .iter()
        .map(|a| (a.name.as_str(), a.env.as_str()))
        .collect();
    assert_eq!(
        dropped,
        [
            ("web-01", "prod/eu"),
            ("web-02.example.com", "prod/eu/west-1"),
            ("web-04", "prod")
        ]
    );
    assert_eq!(
        Value::Object(preview.fallback.clone().unwrap()),
        view(&admin, &svc, "").await
    );
    crate::harness::assert_unchanged(&admin, &svc, &before).await;

    let deleted = admin.delete_env(&svc, &env("prod"), true).await.unwrap();
    assert_eq!(deleted.envs, preview.envs);
    assert_eq!(deleted.associations, preview.associations);
    let left: Vec<String> = admin
        .associations(&svc)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(left, ["web-03"]);
    for dropped in &preview.associations {
        let resolved = admin.resolve(&svc, &dropped.name).await.unwrap();
        assert!(!resolved.associated);
        assert_eq!(Some(resolved.config), preview.fallback);
    }

    let whole = admin.preview_delete(&svc, &env("")).await.unwrap();
    assert_eq!(whole.envs, ["", "staging"]);
    assert_eq!(whole.associations.len(), 1);
    assert_eq!(whole.fallback, None);
}

#[tokio::test]
async fn the_delete_preview_over_http() {
    let admin = admin().await;
    let svc = service();
    admin.create_service(&svc).await.unwrap();
    admin
        .create_env(&svc, &env("a"), obj(json!({})))
        .await
        .unwrap();
    admin
        .create_env(&svc, &env("a/b"), obj(json!({})))
        .await
        .unwrap();
    admin.set_association(&svc, "h", &env("a/b")).await.unwrap();
    let server = serve_on_socket(&admin, None).await;
    let base = format!("/api/v1/services/{svc}/preview/delete");
    let (status, body) = http(server.addr, "GET", &format!("{base}/a"), None).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"env": "a", "envs": ["a", "a/b"], "associations": [{"name": "h", "env": "a/b"}], "fallback": {}})
    );
    let (status, body) = http(server.addr, "GET", &base, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""fallback":null"#), "{body}");
    let (status, body) = http(server.addr, "GET", &format!("{base}/nope"), None).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("nope"), "{body}");
}
