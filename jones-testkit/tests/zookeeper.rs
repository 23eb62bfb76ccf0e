//! The test kit on a real ZooKeeper: a standalone server holding a tree in
//! the Jones layout, lifecycle handles, and leader failover in an ensemble.

use std::time::Duration;

use jones_client::{EnvPath, Nodemap, ServiceLayout, ServiceName, config_to_bytes, parse_config};
use jones_testkit::{
    ENSEMBLE_SIZE, Ensemble, ZooKeeper, four_letter_word, port_accepts, unique_name,
};
use serde_json::json;
use zookeeper_client::{Acls, Client, CreateMode};

const PERSISTENT: zookeeper_client::CreateOptions<'static> =
    CreateMode::Persistent.with_acls(Acls::anyone_all());

async fn connect(connect_string: &str) -> Client {
    Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(connect_string)
        .await
        .unwrap_or_else(|e| panic!("connect to {connect_string}: {e}"))
}

/// Creates `path` with `data`, and any missing parents empty.
async fn create_all(client: &Client, path: &str, data: &[u8]) {
    let mut prefix = String::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        prefix.push('/');
        prefix.push_str(segment);
        let bytes = if i + 1 == segments.len() { data } else { b"" };
        match client.create(&prefix, bytes, &PERSISTENT).await {
            Ok(_) | Err(zookeeper_client::Error::NodeExists) => {}
            Err(e) => panic!("create {prefix}: {e}"),
        }
    }
}

#[tokio::test]
async fn standalone_holds_a_jones_tree() {
    let zk = ZooKeeper::shared();
    assert_eq!(four_letter_word(zk.port(), "ruok").unwrap(), "imok");
    assert_eq!(zk.mode().as_deref(), Some("standalone"));
    let client = connect(&zk.connect_string()).await;

    let layout = ServiceLayout::new(ServiceName::new(&unique_name("kit")).unwrap());
    let child = EnvPath::new("child1").unwrap();
    let root_conf = parse_config(br#"{"foo": "bar"}"#).unwrap();
    let child_conf = parse_config(br#"{"field": "x"}"#).unwrap();
    let view = jones_client::merge_view([&root_conf, &child_conf]);
    let mut nodemap = Nodemap::new();
    nodemap.insert("example", layout.view_path(&child)).unwrap();

    create_all(&client, layout.conf_root(), &config_to_bytes(&root_conf)).await;
    create_all(
        &client,
        &layout.conf_path(&child),
        &config_to_bytes(&child_conf),
    )
    .await;
    create_all(&client, layout.views_root(), &config_to_bytes(&root_conf)).await;
    create_all(&client, &layout.view_path(&child), &config_to_bytes(&view)).await;
    create_all(&client, layout.nodemap_path(), &nodemap.to_bytes()).await;

    let (data, _) = client.get_data(layout.nodemap_path()).await.unwrap();
    let read_map = Nodemap::parse(&data).unwrap();
    let path = read_map.resolve("example", &layout);
    assert_eq!(layout.env_of_view_path(path).unwrap(), child);
    let (data, _) = client.get_data(path).await.unwrap();
    assert_eq!(
        serde_json::Value::Object(parse_config(&data).unwrap()),
        json!({"foo": "bar", "field": "x"})
    );
    let (data, _) = client
        .get_data(read_map.resolve("unknown", &layout))
        .await
        .unwrap();
    assert_eq!(parse_config(&data).unwrap(), root_conf);
    let (children, _) = client.get_children(layout.service_path()).await.unwrap();
    let mut children = children;
    children.sort();
    assert_eq!(children, ["conf", "nodemaps", "views"]);
}

#[tokio::test]
async fn a_stopped_server_restarts_with_its_data_and_drop_cleans_up() {
    let mut zk = ZooKeeper::start().unwrap();
    let dir = zk.dir().to_owned();
    let client = connect(&zk.connect_string()).await;
    client
        .create("/kept", b"before", &PERSISTENT)
        .await
        .unwrap();
    drop(client);

    zk.stop();
    assert!(
        four_letter_word(zk.port(), "ruok").is_err(),
        "the server should be down"
    );
    zk.restart().unwrap();
    let client = connect(&zk.connect_string()).await;
    let (data, _) = client.get_data("/kept").await.unwrap();
    assert_eq!(data, b"before");

    // A paused server does not answer; a resumed one does.
    zk.pause().unwrap();
    assert!(four_letter_word(zk.port(), "ruok").is_err());
    zk.resume().unwrap();
    let (data, _) = client.get_data("/kept").await.unwrap();
    assert_eq!(data, b"before");

    let port = zk.port();
    drop(client);
    drop(zk);
    assert!(!dir.exists(), "the server's directory is removed on drop");
    assert!(
        four_letter_word(port, "ruok").is_err(),
        "the server is killed on drop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_survives_the_loss_of_the_leader() {
    let mut ensemble = tokio::task::spawn_blocking(|| Ensemble::start().unwrap())
        .await
        .unwrap();
    let leader = ensemble.leader().expect("a leader after start");
    let client = connect(&ensemble.connect_string()).await;
    client
        .create("/before", b"written before", &PERSISTENT)
        .await
        .unwrap();
    let session = client.session_id();

    ensemble.stop(leader);
    let ensemble = tokio::task::spawn_blocking(move || {
        ensemble.wait_for_quorum().unwrap();
        ensemble
    })
    .await
    .unwrap();
    let new_leader = ensemble.leader().expect("a new leader");
    assert_ne!(new_leader, leader);

    // The same session reconnects to a remaining node and reads old data...
    let (data, _) = client.get_data("/before").await.unwrap();
    assert_eq!(data, b"written before");
    // ...and writes made under the new leader.
    client
        .create("/after", b"written after", &PERSISTENT)
        .await
        .unwrap();
    let other = connect(&format!("127.0.0.1:{}", ensemble.port(new_leader))).await;
    let (data, _) = other.get_data("/after").await.unwrap();
    assert_eq!(data, b"written after");
    assert_eq!(client.session_id(), session, "the session survived");
}

/// Processes whose command line mentions `needle`, from `/proc`: found
/// without trusting the kit's own records. With `shells`, the guardian
/// shells too; without, only the JVMs.
fn processes_mentioning(needle: &std::path::Path, shells: bool) -> Vec<u32> {
    let needle = needle.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let cmdline = String::from_utf8_lossy(&c);
                cmdline.contains(&needle) && (shells || !cmdline.starts_with("sh\0"))
            })
        })
        .collect()
}

/// Whether `pid` exists at all, zombie or not.
fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn stop_returns_once_the_process_is_reaped_and_its_port_closed() {
    let mut zk = ZooKeeper::start().unwrap();
    let dir = zk.dir().to_owned();
    for round in 0..20 {
        let pid = zk.pid().expect("a running server has a pid");
        assert_eq!(processes_mentioning(&dir, false), [pid], "round {round}");
        zk.stop();
        assert!(
            !port_accepts(zk.port()),
            "round {round}: the port still accepts"
        );
        assert!(!exists(pid), "round {round}: pid {pid} still exists");
        assert_eq!(
            processes_mentioning(&dir, true),
            [] as [u32; 0],
            "round {round}"
        );
        assert!(zk.pid().is_none());
        zk.restart().unwrap();
    }
}

#[test]
fn drop_kills_and_reaps_the_server_and_removes_its_directory() {
    for _ in 0..3 {
        let zk = ZooKeeper::start().unwrap();
        let (dir, port, pid) = (zk.dir().to_owned(), zk.port(), zk.pid().unwrap());
        drop(zk);
        assert!(!exists(pid), "pid {pid} still exists");
        assert!(!port_accepts(port));
        assert!(!dir.exists());
        assert_eq!(processes_mentioning(&dir, true), [] as [u32; 0]);
    }
    let ensemble = Ensemble::start().unwrap();
    let dir = ensemble.dir().to_owned();
    assert_eq!(processes_mentioning(&dir, false).len(), ENSEMBLE_SIZE);
    drop(ensemble);
    assert_eq!(processes_mentioning(&dir, true), [] as [u32; 0]);
    assert!(!dir.exists());
}

#[test]
fn a_restart_whose_port_was_taken_says_so_and_succeeds_once_it_is_free() {
    let mut zk = ZooKeeper::start().unwrap();
    zk.stop();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", zk.port())).unwrap();
    let err = zk.restart().unwrap_err().to_string();
    assert!(err.contains("Address already in use"), "{err}");
    assert!(!zk.is_running());
    assert_eq!(processes_mentioning(zk.dir(), true), [] as [u32; 0]);
    drop(squatter);
    zk.restart().unwrap();
    assert_eq!(zk.mode().as_deref(), Some("standalone"));
}

/// The state letter of every thread of `pid`, read here rather than by the kit.
fn thread_states(pid: u32) -> Vec<char> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
            stat.rsplit_once(')')?.1.trim_start().chars().next()
        })
        .collect()
}

#[test]
fn pause_returns_once_every_thread_is_stopped_and_resume_once_none_is() {
    let zk = ZooKeeper::start().unwrap();
    let pid = zk.pid().unwrap();
    for round in 0..50 {
        zk.pause().unwrap();
        let states = thread_states(pid);
        assert!(
            states.iter().all(|s| matches!(s, 'T' | 't' | 'Z' | 'X')),
            "round {round}: threads still running after pause: {states:?}"
        );
        zk.resume().unwrap();
        let states = thread_states(pid);
        assert!(
            !states.iter().any(|s| matches!(s, 'T' | 't')),
            "round {round}: threads still stopped after resume: {states:?}"
        );
    }
    assert_eq!(four_letter_word(zk.port(), "ruok").unwrap(), "imok");
}
