//! Reading a service's environment tree from ZooKeeper, pipelined: a
//! level of the subtree is read with multi-reads (conf, children and view
//! of many environments per request, every request in flight at once), so a
//! subtree costs about one round trip per level, not one per environment.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use jones_client::{Config, EnvPath, MergeMode, ServiceLayout, parse_config};

use crate::pins::{Pins, pins_path};
use crate::schema::{StoredSchema, schema_path};
use crate::zk::{Read, ReadResult, Zk};
use crate::{Error, Result};

/// One environment's own config as read, with the version it was read at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConfNode {
    pub config: Config,
    /// ZooKeeper's data version: what transactions check.
    pub version: i32,
    /// The zxid of the conf's last change (its mzxid): the API's version,
    /// which never repeats, also across delete and re-create.
    pub revision: i64,
    /// Child environment names, sorted (empty for ancestors, not read).
    pub children: Vec<String>,
}

/// A view as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredView {
    pub data: Vec<u8>,
    pub version: i32,
}

/// The rewrite-in-progress marker of a service (see `writer`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Marker {
    pub version: i32,
    /// The version of the service znode `/services/{svc}` when the marker
    /// was read: every batched write moves it when it creates a marker.
    pub service_version: i32,
}

/// The service znode `/services/{svc}` as read: its settings and version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceNode {
    pub data: Vec<u8>,
    /// Moved by every batched write, every settings change and every pin
    /// change; the transactions that write views check it, so a view is
    /// never written under a merge mode or pins other than the service's.
    pub version: i32,
    pub merge: MergeMode,
    /// The service's pins, read after the service znode in the same
    /// request.
    pub pins: Pins,
    /// The service's schema, read with its pins.
    pub schema: Option<StoredSchema>,
}

impl ServiceNode {
    /// The `check` op that fails when the service's settings moved.
    pub(crate) fn check(&self, layout: &ServiceLayout) -> crate::zk::Op {
        crate::zk::Op::Check {
            path: layout.service_path().to_owned(),
            version: self.version,
        }
    }
}

/// Reads the service znode and its pins; `None` when the service does not
/// exist.
pub(crate) async fn read_service(zk: &Zk, layout: &ServiceLayout) -> Result<Option<ServiceNode>> {
    let reads = [
        Read::Data(layout.service_path().to_owned()),
        Read::Data(pins_path(layout)),
        Read::Data(schema_path(layout)),
    ];
    let mut answers = data_answers(zk.multi_read(&reads).await?);
    let (service, pins, schema) = (
        answers.next().flatten(),
        answers.next().flatten(),
        answers.next().flatten(),
    );
    service_node(layout, service, pins, schema)
}

type DataAnswer = Option<(Vec<u8>, zookeeper_client::Stat)>;

/// The service node from the answers to reads of the service znode and,
/// after it, its pins and schema.
fn service_node(
    layout: &ServiceLayout,
    service: DataAnswer,
    pins: DataAnswer,
    schema: DataAnswer,
) -> Result<Option<ServiceNode>> {
    let Some((data, stat)) = service else {
        return Ok(None);
    };
    Ok(Some(ServiceNode {
        merge: merge_mode_of(layout.service_path(), &data)?,
        pins: Pins::parse(&pins_path(layout), stored(&pins))?,
        schema: StoredSchema::parse(&schema_path(layout), stored(&schema))?,
        data,
        version: stat.version,
    }))
}

/// A data answer as bytes and version.
fn stored(answer: &DataAnswer) -> Option<(&[u8], i32)> {
    answer.as_ref().map(|(d, s)| (d.as_slice(), s.version))
}

/// The data answers of a multi-read of data reads only.
fn data_answers(answers: Vec<ReadResult>) -> impl Iterator<Item = DataAnswer> {
    answers.into_iter().map(|r| match r {
        ReadResult::Data(data) => data,
        ReadResult::Children(_) => unreachable!("data reads answer data"),
    })
}

/// The merge mode a service znode's data sets: `{"merge": "deep"}`; empty
/// data (original Jones) or no `merge` key is the shallow merge.
pub(crate) fn merge_mode_of(path: &str, data: &[u8]) -> Result<MergeMode> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(MergeMode::Shallow);
    }
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_owned(),
        reason,
    };
    let settings: serde_json::Value =
        serde_json::from_slice(data).map_err(|e| corrupt(e.to_string()))?;
    match settings.get("merge") {
        None => Ok(MergeMode::Shallow),
        Some(serde_json::Value::String(mode)) => mode.parse().map_err(corrupt),
        Some(other) => Err(corrupt(format!("`merge` is {other}, not a string"))),
    }
}

/// What a write below `top` depends on.
#[derive(Debug, Clone)]
pub(crate) struct TreeRead {
    /// The environment the read started at.
    pub top: EnvPath,
    /// Every ancestor of `top`, root first (empty when `top` is the root).
    pub ancestors: Vec<(EnvPath, ConfNode)>,
    /// `top` and every environment below it; parents sort before children.
    pub subtree: BTreeMap<EnvPath, ConfNode>,
    /// The current view of each environment of the subtree (bytes and
    /// version), `None` when its view znode is missing.
    pub views: BTreeMap<EnvPath, Option<StoredView>>,
    /// The service's marker, when a rewrite is pending.
    pub marker: Option<Marker>,
    /// The service znode, read before the subtree.
    pub service: ServiceNode,
    /// Whether the service's history directory exists.
    pub history_exists: bool,
}

/// The path of a service's rewrite-in-progress marker.
pub(crate) fn marker_path(layout: &ServiceLayout) -> String {
    format!("{}/jones-pending", layout.service_path())
}

/// The marker's data while the service is being deleted (a rewrite's
/// marker names its environment instead).
pub(crate) const DELETE_MARKER: &[u8] = br#"{"delete":true}"#;

/// Whether `service`'s marker says the service is being deleted.
pub(crate) async fn delete_pending(zk: &Zk, layout: &ServiceLayout) -> Result<bool> {
    Ok(zk
        .get(&marker_path(layout))
        .await?
        .is_some_and(|(data, _)| data == DELETE_MARKER))
}

/// Reads and parses one conf; `None` when missing.
pub(crate) async fn read_conf(
    zk: &Zk,
    layout: &ServiceLayout,
    env: &EnvPath,
) -> Result<Option<ConfNode>> {
    let path = layout.conf_path(env);
    match zk.get(&path).await? {
        None => Ok(None),
        Some((data, stat)) => Ok(Some(ConfNode {
            config: parse_stored(&path, &data)?,
            version: stat.version,
            revision: stat.mzxid,
            children: Vec::new(),
        })),
    }
}

/// Parses a stored conf or view; empty data is an empty object (original
/// Jones may leave intermediate znodes empty).
pub(crate) fn parse_stored(path: &str, data: &[u8]) -> Result<Config> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Ok(Config::new());
    }
    parse_config(data).map_err(|e| Error::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Reads the confs of `env`'s lineage (root first, `env` last), all at
/// once. `Err(EnvNotFound)` names the first missing one.
pub(crate) async fn read_chain(
    zk: &Zk,
    layout: &ServiceLayout,
    env: &EnvPath,
) -> Result<Vec<(EnvPath, ConfNode)>> {
    let lineage: Vec<EnvPath> = env.lineage().collect();
    let reads = join_all(lineage.iter().map(|e| read_conf(zk, layout, e))).await;
    let mut chain = Vec::with_capacity(lineage.len());
    for (e, read) in lineage.into_iter().zip(reads) {
        match read? {
            Some(node) => chain.push((e, node)),
            None => return Err(not_found(zk, layout, &e).await),
        }
    }
    Ok(chain)
}

/// The error for a missing environment: its service may be missing too.
pub(crate) async fn not_found(zk: &Zk, layout: &ServiceLayout, env: &EnvPath) -> Error {
    match zk.get(layout.conf_root()).await {
        Ok(None) => Error::ServiceNotFound(layout.service().clone()),
        Ok(Some(_)) => Error::EnvNotFound {
            service: layout.service().clone(),
            env: env.clone(),
        },
        Err(e) => e,
    }
}

/// Reads everything a write at `top` depends on: the ancestors' confs, the
/// subtree's confs, children and views, and the service's marker.
pub(crate) async fn read_tree(zk: &Zk, layout: &ServiceLayout, top: &EnvPath) -> Result<TreeRead> {
    let ancestors_of_top: Vec<EnvPath> = top.lineage().filter(|e| e != top).collect();
    // One multi-read: the ancestors' confs, the marker, the service znode,
    // its pins and schema, and the history directory. The service znode is read before the subtree: a batched write
    // or a settings change that starts after this read moves its version,
    // which single-transaction writes and the repair's last transaction
    // check.
    let mut reads: Vec<Read> = ancestors_of_top
        .iter()
        .map(|e| Read::Data(layout.conf_path(e)))
        .collect();
    reads.push(Read::Data(marker_path(layout)));
    reads.push(Read::Data(layout.service_path().to_owned()));
    reads.push(Read::Data(pins_path(layout)));
    reads.push(Read::Data(schema_path(layout)));
    reads.push(Read::Data(crate::history::history_path(layout)));
    let mut results = data_answers(zk.multi_read(&reads).await?);
    let mut ancestors = Vec::with_capacity(ancestors_of_top.len());
    for env in ancestors_of_top {
        let path = layout.conf_path(&env);
        match results.next().flatten() {
            Some((data, stat)) => ancestors.push((
                env,
                ConfNode {
                    config: parse_stored(&path, &data)?,
                    version: stat.version,
                    revision: stat.mzxid,
                    children: Vec::new(),
                },
            )),
            None => return Err(not_found(zk, layout, &env).await),
        }
    }
    let (marker, service, pins, schema) = (
        results.next().flatten(),
        results.next().flatten(),
        results.next().flatten(),
        results.next().flatten(),
    );
    let history_exists = results.next().flatten().is_some();
    let Some(service) = service_node(layout, service, pins, schema)? else {
        return Err(Error::ServiceNotFound(layout.service().clone()));
    };
    let marker = marker.map(|(_, stat)| Marker {
        version: stat.version,
        service_version: service.version,
    });
    let mut subtree = BTreeMap::new();
    let mut views = BTreeMap::new();
    let mut level = vec![top.clone()];
    while !level.is_empty() {
        // Each level in multi-reads of NODES_PER_READ environments, all in
        // flight at once: one round trip per level.
        let reads = join_all(
            level
                .chunks(NODES_PER_READ)
                .map(|chunk| read_nodes(zk, layout, chunk)),
        )
        .await;
        let mut next = Vec::new();
        let nodes = reads.into_iter().collect::<Result<Vec<_>>>()?;
        for (env, read) in level.iter().zip(nodes.into_iter().flatten()) {
            let Some((node, view)) = read else {
                if env == top {
                    return Err(not_found(zk, layout, env).await);
                }
                // Deleted between listing and reading: the version checks
                // of the commit catch it (the parent's view version moved).
                continue;
            };
            for child in &node.children {
                next.push(env.child(child).map_err(|e| Error::Corrupt {
                    path: layout.conf_path(env),
                    reason: format!("child {child:?}: {e}"),
                })?);
            }
            subtree.insert(env.clone(), node);
            views.insert(env.clone(), view);
        }
        level = next;
    }
    Ok(TreeRead {
        top: top.clone(),
        ancestors,
        subtree,
        views,
        marker,
        service,
        history_exists,
    })
}

type NodeRead = Option<(ConfNode, Option<StoredView>)>;

/// Environments per multi-read: three small reads each, so an answer stays
/// far below ZooKeeper's 1 MiB packet limit for ordinary configs.
const NODES_PER_READ: usize = 128;

/// Reads conf, children and view of each of `envs` in one request.
async fn read_nodes(zk: &Zk, layout: &ServiceLayout, envs: &[EnvPath]) -> Result<Vec<NodeRead>> {
    let reads: Vec<Read> = envs
        .iter()
        .flat_map(|env| {
            let conf = layout.conf_path(env);
            [
                Read::Data(conf.clone()),
                Read::Children(conf),
                Read::Data(layout.view_path(env)),
            ]
        })
        .collect();
    let results = zk.multi_read(&reads).await?;
    let mut results = results.into_iter();
    let mut nodes = Vec::with_capacity(envs.len());
    for env in envs {
        let (
            Some(ReadResult::Data(conf)),
            Some(ReadResult::Children(children)),
            Some(ReadResult::Data(view)),
        ) = (results.next(), results.next(), results.next())
        else {
            return Err(Error::Unavailable(
                "a multi-read answered out of order".into(),
            ));
        };
        let (Some((data, stat)), Some(children)) = (conf, children) else {
            nodes.push(None);
            continue;
        };
        let conf_path = layout.conf_path(env);
        nodes.push(Some((
            ConfNode {
                config: parse_stored(&conf_path, &data)?,
                version: stat.version,
                revision: stat.mzxid,
                children,
            },
            view.map(|(data, stat)| StoredView {
                data,
                version: stat.version,
            }),
        )));
    }
    Ok(nodes)
}

/// View znodes (from `views`, parents first) without a conf.
pub(crate) fn orphans<'a>(
    views: &'a [String],
    with_conf: &'a std::collections::BTreeSet<String>,
) -> impl Iterator<Item = String> + 'a {
    views.iter().filter(|v| !with_conf.contains(*v)).cloned()
}
