//! The provider through the OpenFeature client API, against a live tree on
//! a real ZooKeeper: every resolution type and reason, a switch flipped in
//! ZooKeeper, provider status and events.

use std::time::Duration;

use jones_client::{JonesClient, ServiceLayout, ServiceName};
use jones_openfeature::{JonesProvider, ProviderEvent, ProviderEvents};
use jones_testkit::ZooKeeper;
use open_feature::provider::{FeatureProvider, ProviderStatus};
use open_feature::{EvaluationContext, EvaluationErrorCode, EvaluationReason, OpenFeature};
use zookeeper_client::{Acls, Client, CreateMode};

const PATIENCE: Duration = Duration::from_secs(30);

/// A service whose root view is `view`, written as the server would.
async fn service(zk: &Client, view: &str) -> ServiceLayout {
    service_named(zk, &jones_testkit::unique_name("flags"), view).await
}

/// [`service`] under the name `name`.
async fn service_named(zk: &Client, name: &str, view: &str) -> ServiceLayout {
    let layout = ServiceLayout::new(ServiceName::new(name).unwrap());
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    for (path, data) in [
        ("/services", "".as_bytes()),
        (layout.service_path(), b""),
        (layout.conf_root(), view.as_bytes()),
        (layout.views_root(), view.as_bytes()),
        (layout.nodemap_path(), b"{}"),
    ] {
        match zk.create(path, data, &options).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => panic!("create {path}: {e}"),
        }
    }
    layout
}

async fn next_event(events: &mut ProviderEvents) -> ProviderEvent {
    tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("an event in time")
        .expect("the relay is running")
}

/// The next event that is not a configuration change.
async fn next_status_event(events: &mut ProviderEvents) -> ProviderEvent {
    loop {
        match next_event(events).await {
            ProviderEvent::ConfigurationChanged { .. } => {}
            event => return event,
        }
    }
}

#[tokio::test]
async fn every_type_and_reason_through_the_openfeature_client_and_a_flip_in_zookeeper() {
    let zk_server = ZooKeeper::shared();
    let zk = Client::connect(&zk_server.connect_string()).await.unwrap();
    let layout = service(
        &zk,
        r#"{"new_flow": false, "rollout": 100, "timeout_ms": 250, "ratio": 0.25,
            "greeting": "hello", "limits": {"rps": 50, "burst": [1, 2]}, "broken": "yes"}"#,
    )
    .await;
    let jones = JonesClient::builder(layout.service().as_str())
        .zk(&zk_server.connect_string())
        .association("web-01")
        .build()
        .await
        .unwrap();
    let provider = JonesProvider::new(jones.clone());
    let mut events = provider.events();
    assert_eq!(provider.status(), ProviderStatus::Ready);
    // A new receiver hears the current state first.
    assert_eq!(next_event(&mut events).await, ProviderEvent::Ready);
    let name = layout.service().as_str().to_owned();
    let mut api = OpenFeature::singleton_mut().await;
    api.set_named_provider(&name, provider).await;
    let client = api.create_named_client(&name);
    drop(api);
    let user = EvaluationContext::default().with_targeting_key("user-17");

    let flow = client
        .get_bool_details("new_flow", Some(&user), None)
        .await
        .unwrap();
    assert_eq!(
        (flow.value, flow.reason),
        (false, Some(EvaluationReason::Static))
    );
    // The revision the value was read from.
    let revision = jones.snapshot().revision.unwrap();
    assert_eq!(
        flow.flag_metadata.values.get("mzxid"),
        Some(&open_feature::FlagMetadataValue::Int(revision.mzxid))
    );
    assert_eq!(
        flow.flag_metadata.values.get("version"),
        Some(&open_feature::FlagMetadataValue::Int(
            revision.version.into()
        ))
    );
    let rollout = client
        .get_bool_details("rollout", Some(&user), None)
        .await
        .unwrap();
    assert_eq!(
        (rollout.value, rollout.reason),
        (true, Some(EvaluationReason::Split))
    );
    let timeout = client
        .get_int_details("timeout_ms", None, None)
        .await
        .unwrap();
    assert_eq!(
        (timeout.value, timeout.reason),
        (250, Some(EvaluationReason::Static))
    );
    assert_eq!(
        client.get_float_value("ratio", None, None).await.unwrap(),
        0.25
    );
    assert_eq!(
        client
            .get_string_value("greeting", None, None)
            .await
            .unwrap(),
        "hello"
    );
    let limits = client
        .get_struct_details::<open_feature::StructValue>("limits", None, None)
        .await
        .unwrap();
    assert_eq!(limits.value.fields["rps"], open_feature::Value::Int(50));

    let missing = client
        .get_bool_details("absent", Some(&user), None)
        .await
        .unwrap_err();
    assert_eq!(missing.code, EvaluationErrorCode::FlagNotFound);
    let mismatch = client
        .get_bool_details("broken", Some(&user), None)
        .await
        .unwrap_err();
    assert_eq!(mismatch.code, EvaluationErrorCode::TypeMismatch);
    let no_key = client
        .get_bool_details("rollout", None, None)
        .await
        .unwrap_err();
    assert_eq!(no_key.code, EvaluationErrorCode::TargetingKeyMissing);
    let wrong = client
        .get_int_details("greeting", None, None)
        .await
        .unwrap_err();
    assert_eq!(wrong.code, EvaluationErrorCode::TypeMismatch);
    assert!(
        client
            .get_bool_value("absent", None, None)
            .await
            .unwrap_or(true)
    );

    // Flipped in ZooKeeper (as the server writes the view): the evaluation
    // follows and the provider says which flag changed.
    zk.set_data(
        layout.views_root(),
        br#"{"new_flow": true, "rollout": 100, "timeout_ms": 250, "ratio": 0.25,
            "greeting": "hello", "limits": {"rps": 50, "burst": [1, 2]}, "broken": "yes"}"#,
        None,
    )
    .await
    .unwrap();
    let ProviderEvent::ConfigurationChanged {
        flags_changed,
        revision,
    } = next_event(&mut events).await
    else {
        panic!("a configuration change");
    };
    assert_eq!(flags_changed, ["new_flow"]);
    assert_eq!(revision, jones.snapshot().revision);
    assert!(
        client
            .get_bool_value("new_flow", Some(&user), None)
            .await
            .unwrap()
    );
    jones.close().await;
}

#[tokio::test]
async fn status_and_events_follow_readiness_and_staleness() {
    let mut zk_server = ZooKeeper::start().unwrap();
    let connect_string = zk_server.connect_string();
    let jones = JonesClient::builder("later")
        .zk(&connect_string)
        .association("web-01")
        .start()
        .unwrap();
    let provider = JonesProvider::new(jones.clone());
    let mut events = provider.events();
    assert_ne!(provider.status(), ProviderStatus::Ready);
    let ctx = EvaluationContext::default();
    let early = provider.resolve_bool("new_flow", &ctx).unwrap_err();
    assert_eq!(early.code, EvaluationErrorCode::ProviderNotReady);

    let zk = Client::connect(&connect_string).await.unwrap();
    let layout = ServiceLayout::new(ServiceName::new("later").unwrap());
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    for path in ["/services", layout.service_path(), layout.conf_root()] {
        let _ = zk.create(path, b"{}", &options).await;
    }
    zk.create(layout.views_root(), br#"{"new_flow": true}"#, &options)
        .await
        .unwrap();
    // Until the tree exists the provider may report the missing view as
    // an error; then it is ready.
    loop {
        match next_status_event(&mut events).await {
            ProviderEvent::Ready => break,
            ProviderEvent::Error { message } => assert!(message.contains("does not exist")),
            other => panic!("{other:?} before ready"),
        }
    }
    assert_eq!(provider.status(), ProviderStatus::Ready);
    let on = provider.resolve_bool("new_flow", &ctx).unwrap();
    assert_eq!(
        (on.value, on.reason),
        (true, Some(EvaluationReason::Static))
    );

    zk_server.stop();
    let ProviderEvent::Stale { message } = next_status_event(&mut events).await else {
        panic!("stale after the server stopped");
    };
    assert!(!message.is_empty());
    assert_eq!(provider.status(), ProviderStatus::STALE);
    let stale = provider.resolve_bool("new_flow", &ctx).unwrap();
    assert_eq!(
        (stale.value, stale.reason),
        (true, Some(EvaluationReason::Other("STALE".into())))
    );
    zk_server.restart().unwrap();
    assert_eq!(next_status_event(&mut events).await, ProviderEvent::Ready);
    jones.close().await;
}

/// The SDK client of a provider registered under a name of its own.
async fn sdk_client(name: &str, provider: JonesProvider) -> open_feature::Client {
    let mut api = OpenFeature::singleton_mut().await;
    api.set_named_provider(name, provider).await;
    api.create_named_client(name)
}

#[tokio::test]
async fn mismatched_types_and_stale_values_through_the_openfeature_client() {
    let mut zk_server = ZooKeeper::start().unwrap();
    let zk = Client::connect(&zk_server.connect_string()).await.unwrap();
    let layout = service(
        &zk,
        r#"{"ratio": 0.25, "greeting": "hello", "limits": {"rps": 50}, "on": true}"#,
    )
    .await;
    let name = layout.service().as_str().to_owned();
    let jones = JonesClient::builder(&name)
        .zk(&zk_server.connect_string())
        .association("web-01")
        .session_timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let provider = JonesProvider::new(jones.clone());
    let mut events = provider.events();
    let client = sdk_client(&name, provider).await;
    let ratio = client.get_float_details("ratio", None, None).await.unwrap();
    assert_eq!(
        (ratio.value, ratio.reason),
        (0.25, Some(EvaluationReason::Static))
    );
    let greeting = client
        .get_string_details("greeting", None, None)
        .await
        .unwrap();
    assert_eq!(greeting.reason, Some(EvaluationReason::Static));
    for (flag, error) in [
        (
            "greeting",
            client.get_float_details("greeting", None, None).await.err(),
        ),
        (
            "ratio",
            client.get_string_details("ratio", None, None).await.err(),
        ),
        (
            "limits",
            client.get_string_details("limits", None, None).await.err(),
        ),
        (
            "greeting",
            client
                .get_struct_details::<open_feature::StructValue>("greeting", None, None)
                .await
                .err(),
        ),
        (
            "on",
            client
                .get_struct_details::<open_feature::StructValue>("on", None, None)
                .await
                .err(),
        ),
    ] {
        let error = error.unwrap_or_else(|| panic!("{flag}: a type mismatch"));
        assert_eq!(error.code, EvaluationErrorCode::TypeMismatch, "{flag}");
        assert!(error.message.unwrap().contains(flag), "{flag}");
    }
    let absent = client
        .get_float_details("absent", None, None)
        .await
        .unwrap_err();
    assert_eq!(absent.code, EvaluationErrorCode::FlagNotFound);

    assert_eq!(next_event(&mut events).await, ProviderEvent::Ready);
    zk_server.stop();
    let ProviderEvent::Stale { .. } = next_status_event(&mut events).await else {
        panic!("stale after the server stopped");
    };
    let stale = client
        .get_string_details("greeting", None, None)
        .await
        .unwrap();
    assert_eq!(
        (stale.value.as_str(), stale.reason),
        ("hello", Some(EvaluationReason::Other("STALE".into())))
    );
    let limits = client
        .get_struct_details::<open_feature::StructValue>("limits", None, None)
        .await
        .unwrap();
    assert_eq!(limits.reason, Some(EvaluationReason::Other("STALE".into())));
    jones.close().await;
}

#[tokio::test]
async fn a_provider_on_the_cache_is_stale_and_answers_cached_then_not_ready_after_close() {
    let mut zk_server = ZooKeeper::start().unwrap();
    let zk = Client::connect(&zk_server.connect_string()).await.unwrap();
    let layout = service(&zk, r#"{"new_flow": true, "timeout_ms": 250}"#).await;
    let name = layout.service().as_str().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("flags.json");
    let connect_string = zk_server.connect_string();
    let builder = || {
        JonesClient::builder(&name)
            .zk(&connect_string)
            .association("web-01")
            .start_timeout(Duration::from_millis(500))
            .cache_file(&cache)
    };
    let first = builder().build().await.unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while !cache.exists() {
        assert!(std::time::Instant::now() < deadline, "no cache written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.close().await;
    zk_server.stop();

    let jones = builder().build().await.expect("served from the cache");
    let provider = JonesProvider::new(jones.clone()).with_init_timeout(Duration::from_millis(200));
    assert_eq!(provider.status(), ProviderStatus::STALE);
    let mut events = provider.events();
    let ProviderEvent::Stale { message } = next_event(&mut events).await else {
        panic!("a new receiver hears the stale state first");
    };
    assert!(message.contains("cache"), "{message}");
    let client = sdk_client(&name, provider).await;
    let flow = client
        .get_bool_details("new_flow", None, None)
        .await
        .unwrap();
    assert_eq!(
        (flow.value, flow.reason),
        (true, Some(EvaluationReason::Cached))
    );
    let timeout = client
        .get_int_details("timeout_ms", None, None)
        .await
        .unwrap();
    assert_eq!(timeout.reason, Some(EvaluationReason::Cached));

    // A provider (registered again) over the closed client is not ready.
    jones.close().await;
    let closed = JonesProvider::new(jones.clone());
    assert_eq!(closed.status(), ProviderStatus::NotReady);
}

#[tokio::test]
async fn a_provider_whose_initialize_timed_out_is_in_error_and_answers_not_ready() {
    // No server yet: nothing read, no read error either.
    let mut zk_server = ZooKeeper::start().unwrap();
    zk_server.stop();
    let name = jones_testkit::unique_name("notyet");
    let jones = JonesClient::builder(&name)
        .zk(&zk_server.connect_string())
        .association("web-01")
        .start()
        .unwrap();
    let provider = JonesProvider::new(jones.clone()).with_init_timeout(Duration::from_millis(300));
    let mut events = provider.events();
    let client = sdk_client(&name, provider).await;
    // initialize has returned: the provider says why nothing is read.
    let ProviderEvent::Error { message } = next_status_event(&mut events).await else {
        panic!("an error after initialize timed out");
    };
    assert!(!message.is_empty());
    let early = client
        .get_bool_details("new_flow", None, None)
        .await
        .unwrap_err();
    assert_eq!(early.code, EvaluationErrorCode::ProviderNotReady);
    let early = client
        .get_struct_details::<open_feature::StructValue>("limits", None, None)
        .await
        .unwrap_err();
    assert_eq!(early.code, EvaluationErrorCode::ProviderNotReady);
    assert_eq!(
        client.get_bool_value("new_flow", None, None).await.ok(),
        None
    );

    zk_server.restart().unwrap();
    let zk = Client::connect(&zk_server.connect_string()).await.unwrap();
    service_named(&zk, &name, r#"{"new_flow": true}"#).await;
    assert_eq!(next_status_event(&mut events).await, ProviderEvent::Ready);
    assert!(client.get_bool_value("new_flow", None, None).await.unwrap());
    jones.close().await;
}
