//! Service settings: the merge mode, stored in the service znode's data
//! (`{"merge": "deep"}`; original Jones leaves it empty, which is the
//! shallow merge). Changing it rewrites every view that changes in the same
//! transaction, or behind the marker in batches, as a conf change does.

use jones_client::{EnvPath, MergeMode};

use super::{Commit, WriteOutcome, Writer, assert_no_marker, conf_checks};
use crate::materialize::{changed_views, ops_size, view_data, view_op};
use crate::schema::check_views;
use crate::tree::{marker_path, read_tree};
use crate::zk::Op;
use crate::{Error, Result};

impl Writer<'_> {
    /// Sets the service's merge mode and re-materializes its views.
    pub(crate) async fn set_merge_mode(&self, mode: MergeMode) -> Result<WriteOutcome> {
        let root = EnvPath::root();
        let mut outcome = WriteOutcome::default();
        let mut attempts = self.attempts();
        while let Some(attempt) = attempts.next().await {
            outcome.attempts = attempt;
            let mut read = read_tree(self.zk, self.layout, &root).await?;
            if read.marker.is_some() {
                outcome.transactions += self.repair().await?.transactions;
                continue;
            }
            if read.service.merge == mode {
                // Already so, perhaps by an earlier attempt whose answer
                // was lost (its views were written with it, or a marker
                // made the repair above write them).
                return Ok(outcome);
            }
            let set_service = Op::Set {
                path: self.layout.service_path().to_owned(),
                data: settings_with(self.layout.service_path(), &read.service.data, mode)?,
                version: Some(read.service.version),
            };
            read.service.merge = mode;
            let writes = changed_views(&read, None);
            check_views(self.layout, &read.service, view_data(&writes))?;
            let mut ops = conf_checks(self.layout, &read.subtree);
            ops.extend(assert_no_marker(self.layout));
            ops.push(set_service.clone());
            ops.extend(writes.iter().map(|w| view_op(self.layout, w)));
            if ops_size(&ops) <= self.limits.multi_bytes {
                match self.try_commit(&ops).await? {
                    Commit::Applied(_) => {
                        outcome.views_written += writes.len();
                        outcome.transactions += 1;
                        return Ok(outcome);
                    }
                    Commit::Raced | Commit::Unknown => continue,
                }
            }
            // The setting and the marker in batch 1, the views as a repair
            // writes them.
            let first = vec![
                Op::Create {
                    path: marker_path(self.layout),
                    data: br#"{"merge":true}"#.to_vec(),
                },
                set_service,
            ];
            if self
                .commit_behind_marker(&read, &writes, first, &mut outcome)
                .await?
            {
                return Ok(outcome);
            }
        }
        Err(attempts.contended())
    }
}

/// The service znode's data with `merge` set to `mode`, other settings kept.
pub(super) fn settings_with(path: &str, data: &[u8], mode: MergeMode) -> Result<Vec<u8>> {
    setting_set(path, data, "merge", mode.as_str())
}

/// The service znode's data with `key` set to `value`, other settings kept.
pub(super) fn setting_set(path: &str, data: &[u8], key: &str, value: &str) -> Result<Vec<u8>> {
    let mut settings = if data.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice(data) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => {
                return Err(Error::Corrupt {
                    path: path.to_owned(),
                    reason: "the service znode holds data that is not a JSON object".into(),
                });
            }
        }
    };
    settings.insert(key.into(), value.into());
    Ok(serde_json::to_vec(&settings).expect("JSON"))
}
