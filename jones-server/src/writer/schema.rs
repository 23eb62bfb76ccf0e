//! Schema changes: the schema znode, with the service znode rewritten (see
//! `crate::schema`), in one transaction guarded by the version of every
//! view it was checked against.

use jones_client::EnvPath;
use serde_json::Value;

use super::{Commit, WriteOutcome, Writer, assert_no_marker, view_checks};
use crate::history::Action;
use crate::materialize::MAX_NODE_BYTES;
use crate::schema::{Checker, check_views, schema_path};
use crate::tree::read_tree;
use crate::zk::Op;
use crate::{Error, Result};

impl Writer<'_> {
    /// Sets the service's schema (`None` removes it). Refused when a view
    /// breaks it, listing every violation; nothing written.
    pub(crate) async fn set_schema(&self, schema: Option<Value>) -> Result<WriteOutcome> {
        let data = match &schema {
            Some(schema) => {
                Checker::new(schema)
                    .map_err(|reason| Error::invalid(format!("the schema: {reason}")))?;
                let data = serde_json::to_vec(schema).expect("JSON serializes");
                if data.len() > MAX_NODE_BYTES {
                    return Err(Error::TooLarge {
                        reason: format!(
                            "the schema is {} bytes, the limit is {MAX_NODE_BYTES}",
                            data.len()
                        ),
                    });
                }
                Some(data)
            }
            None => None,
        };
        let mut outcome = WriteOutcome::default();
        let mut attempts = self.attempts();
        while let Some(attempt) = attempts.next().await {
            outcome.attempts = attempt;
            let mut read = read_tree(self.zk, self.layout, &EnvPath::root()).await?;
            if read.marker.is_some() {
                outcome.transactions += self.repair().await?.transactions;
                continue;
            }
            let stored = read.service.schema.take();
            if stored.as_ref().map(|s| &s.schema) == schema.as_ref() {
                // Already so, perhaps by an earlier attempt whose answer
                // was lost.
                return Ok(outcome);
            }
            let path = schema_path(self.layout);
            let mut ops = Vec::new();
            if let Some(schema) = &schema {
                // Every view as stored, checked against the new schema and
                // guarded at the version checked.
                read.service.schema = Some(crate::schema::StoredSchema {
                    schema: schema.clone(),
                    version: 0,
                });
                let views = read
                    .views
                    .iter()
                    .filter_map(|(e, v)| v.as_ref().map(|v| (e, v.data.as_slice())));
                check_views(self.layout, &read.service, views)?;
                ops.extend(view_checks(self.layout, &read));
            }
            ops.extend(assert_no_marker(self.layout));
            ops.push(Op::Set {
                path: self.layout.service_path().to_owned(),
                data: read.service.data.clone(),
                version: Some(read.service.version),
            });
            ops.push(match (&data, &stored) {
                (Some(data), Some(s)) => Op::Set {
                    path,
                    data: data.clone(),
                    version: Some(s.version),
                },
                (Some(data), None) => Op::Create {
                    path,
                    data: data.clone(),
                },
                (None, Some(s)) => Op::Delete {
                    path,
                    version: Some(s.version),
                },
                (None, None) => unreachable!("equal above"),
            });
            let action = match schema {
                Some(_) => Action::SchemaSet,
                None => Action::SchemaRemove,
            };
            let record = self.record(action, None).change(
                stored.map_or(Value::Null, |s| s.schema),
                schema.clone().unwrap_or(Value::Null),
            );
            let (entry, _) = self.record_ops(read.history_exists, record, self.room_beside(&ops));
            ops.extend(entry);
            self.fits(&ops, || {
                format!("checking the schema against all {} views", read.views.len())
            })?;
            match self.try_commit(&ops).await? {
                Commit::Applied(_) => {
                    outcome.transactions += 1;
                    return Ok(outcome);
                }
                Commit::Raced | Commit::Unknown => continue,
            }
        }
        Err(attempts.contended())
    }
}
