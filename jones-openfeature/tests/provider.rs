//! The provider through the OpenFeature client API, against a live tree on
//! a real ZooKeeper: every resolution type and reason, a switch flipped in
//! ZooKeeper, provider status and events.

use std::time::Duration;

use jones_client::{JonesClient, ServiceLayout, ServiceName};
use jones_openfeature::{JonesProvider, ProviderEvent};
use jones_testkit::ZooKeeper;
use open_feature::provider::{FeatureProvider, ProviderStatus};
use open_feature::{EvaluationContext, EvaluationErrorCode, EvaluationReason, OpenFeature};
use tokio::sync::broadcast;
use zookeeper_client::{Acls, Client, CreateMode};

const PATIENCE: Duration = Duration::from_secs(30);

/// A service whose root view is `view`, written as the server would.
async fn service(zk: &Client, view: &str) -> ServiceLayout {
    let name = jones_testkit::unique_name("flags");
    let layout = ServiceLayout::new(ServiceName::new(&name).unwrap());
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

async fn next_event(events: &mut broadcast::Receiver<ProviderEvent>) -> ProviderEvent {
    tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("an event in time")
        .expect("the relay is running")
}

/// The next event that is not a configuration change.
async fn next_status_event(events: &mut broadcast::Receiver<ProviderEvent>) -> ProviderEvent {
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
