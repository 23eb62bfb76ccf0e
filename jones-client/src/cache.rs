//! The local fallback cache: the last good view in a file, so an app can
//! start with its last known config while ZooKeeper is unreachable.
//!
//! The file is JSON: `{"view_path": ..., "mzxid": ..., "version": ...,
//! "config": {...}}`. It is written atomically (a temporary file in the same
//! directory, flushed, then renamed over the old one), so a reader sees the
//! old file or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Config, Error, Revision, ServiceLayout, Snapshot};

#[derive(Serialize, Deserialize)]
struct CacheFile {
    view_path: String,
    mzxid: i64,
    version: i32,
    config: Config,
}

/// Writes `snapshot` to `path` atomically.
pub(crate) fn write(path: &Path, snapshot: &Snapshot) -> Result<(), Error> {
    let fail = |reason: String| Error::Cache {
        path: path.to_owned(),
        reason,
    };
    let revision = snapshot.revision.unwrap_or(Revision {
        mzxid: 0,
        version: 0,
    });
    let file = CacheFile {
        view_path: snapshot.view_path.clone(),
        mzxid: revision.mzxid,
        version: revision.version,
        config: snapshot.config.clone(),
    };
    let bytes = serde_json::to_vec(&file).map_err(|e| fail(e.to_string()))?;
    let tmp = temp_path(path);
    let written = (|| {
        let mut out = std::fs::File::create(&tmp)?;
        out.write_all(&bytes)?;
        out.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(format!("cannot write: {e}"))
    })
}

/// Reads the snapshot cached in `path`; refuses a cache of a view that is
/// not one of `layout`'s service (a file written by another app, or
/// for another service).
pub(crate) fn read(path: &Path, layout: &ServiceLayout) -> Result<Snapshot, Error> {
    let fail = |reason: String| Error::Cache {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let file: CacheFile =
        serde_json::from_slice(&bytes).map_err(|e| fail(format!("not a cache file: {e}")))?;
    if layout.env_of_view_path(&file.view_path).is_err() {
        return Err(fail(format!(
            "it holds {}, which is not a view of service {}",
            file.view_path,
            layout.service()
        )));
    }
    Ok(Snapshot {
        config: file.config,
        revision: Some(Revision {
            mzxid: file.mzxid,
            version: file.version,
        }),
        view_path: file.view_path,
        from_cache: true,
    })
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "jones-cache".into());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn web() -> ServiceLayout {
        ServiceLayout::new(crate::ServiceName::new("web").unwrap())
    }

    fn view(config: serde_json::Value) -> Snapshot {
        Snapshot {
            view_path: "/services/web/views/prod".into(),
            ..Snapshot::detached(config.as_object().unwrap().clone())
        }
    }

    #[test]
    fn a_cache_of_a_view_of_another_service_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        for foreign in ["/services/api/views/prod", "/elsewhere", ""] {
            let snapshot = Snapshot {
                view_path: foreign.into(),
                ..view(json!({"a": 1}))
            };
            write(&path, &snapshot).unwrap();
            let err = read(&path, &web()).unwrap_err().to_string();
            assert!(err.contains("not a view of service web"), "{err}");
        }
        write(&path, &view(json!({"a": 1}))).unwrap();
        assert!(read(&path, &web()).is_ok());
    }

    #[test]
    fn round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.json");
        let mut snapshot = Snapshot {
            config: json!({"a": 1}).as_object().unwrap().clone(),
            revision: Some(Revision {
                mzxid: 7,
                version: 2,
            }),
            view_path: "/services/web/views".into(),
            from_cache: false,
        };
        write(&path, &snapshot).unwrap();
        snapshot.config.insert("b".into(), json!([1, 2]));
        write(&path, &snapshot).unwrap();
        let back = read(&path, &web()).unwrap();
        assert!(back.from_cache);
        assert_eq!(back.config, snapshot.config);
        assert_eq!(back.revision, snapshot.revision);
        assert_eq!(back.view_path, snapshot.view_path);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, b"{\"config\": ").unwrap();
        let err = read(&path, &web()).unwrap_err().to_string();
        assert!(
            err.contains("c.json") && err.contains("not a cache file"),
            "{err}"
        );
        let err = read(&dir.path().join("none"), &web())
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let snapshot = view(json!({"a": 1}));
        write(&path, &snapshot).unwrap();
        // A directory in the way of the rename target's temp file.
        std::fs::create_dir(temp_path(&path)).unwrap();
        assert!(write(&path, &view(json!({}))).is_err());
        assert_eq!(read(&path, &web()).unwrap().config, snapshot.config);
    }
}
