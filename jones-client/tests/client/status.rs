//! The status of a client that has read nothing yet, or whose session
//! ended for good: never "current".

use jones_client::{JonesClient, Reason};
use jones_testkit::ZooKeeper;

use crate::harness::{Tree, eventually};

/// A loopback address nothing listens on (bound, then released).
fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    address
}

#[tokio::test]
async fn a_client_that_never_connected_is_stale_not_current() {
    let client = JonesClient::builder("svc")
        .zk(&dead_address())
        .association("h")
        .start()
        .unwrap();
    let status = client.status();
    assert!(!status.connected && !status.ready, "{status:?}");
    assert!(status.stale_since.is_some(), "{status:?}");
    assert!(!status.is_current(), "{status:?}");
    assert_eq!(client.get_detail("a", 1).reason, Reason::NotReady);
    client.close().await;
}

#[tokio::test]
async fn a_refused_authentication_ends_the_session_and_the_client_is_not_current() {
    let tree = Tree::original(&ZooKeeper::shared().connect_string()).await;
    let client = JonesClient::builder(&tree.service)
        .zk(&tree.connect_string)
        .association("127.0.0.2")
        .auth("no-such-scheme", b"x")
        .start()
        .unwrap();
    eventually("the refused authentication in the status", || {
        client
            .status()
            .last_error
            .is_some_and(|e| e.to_lowercase().contains("auth"))
    })
    .await;
    let status = client.status();
    assert!(!status.connected && !status.ready, "{status:?}");
    assert!(!status.is_current(), "{status:?}");
    assert!(status.stale_since.is_some(), "{status:?}");
    client.close().await;
}
