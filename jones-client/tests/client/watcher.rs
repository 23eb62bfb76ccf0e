//! The generic znode watcher, on any znode.

use std::time::Duration;

use jones_client::{Session, Znode, ZnodeWatcher};
use jones_testkit::ZooKeeper;

use crate::harness::{PATIENCE, connect, create_all, within};

#[tokio::test]
async fn follows_any_znode_through_creation_updates_and_deletion() {
    let zk = ZooKeeper::shared().connect_string();
    let writer = connect(&zk).await;
    let path = format!("/{}", jones_testkit::unique_name("any"));
    let session = Session::connect(&zk, Duration::from_secs(10));
    let mut watcher = ZnodeWatcher::new(&session, path.clone());
    assert_eq!(
        within(PATIENCE, watcher.changed()).await.unwrap(),
        Znode::Missing
    );

    create_all(&writer, &path, b"one").await;
    let Znode::Present { data, stat } = within(PATIENCE, watcher.changed()).await.unwrap() else {
        panic!("expected data")
    };
    assert_eq!(&data[..], b"one");
    let first = stat.mzxid;

    let written = writer.set_data(&path, b"two", None).await.unwrap();
    let Znode::Present { data, stat } = within(PATIENCE, watcher.changed()).await.unwrap() else {
        panic!("expected data")
    };
    assert_eq!(&data[..], b"two");
    assert_eq!(stat.mzxid, written.mzxid);
    assert!(stat.mzxid > first);

    writer.delete(&path, None).await.unwrap();
    assert_eq!(
        within(PATIENCE, watcher.changed()).await.unwrap(),
        Znode::Missing
    );
    assert_eq!(watcher.last_error(), None);
    watcher.stop().await;
    session.stop().await;
}
