//! Pin changes: the pins znode and every view of the pinned environment's
//! subtree that changes, in one transaction with the service znode
//! rewritten (see `crate::pins`), or behind the marker in batches, as a
//! conf change is.

use jones_client::{EnvPath, parse_config};
use serde_json::Value;

use super::{Commit, WriteOutcome, Writer, assert_no_marker, checks_except_top, conf_checks};
use crate::history::Action;
use crate::materialize::{MAX_NODE_BYTES, changed_views, ops_size, view_data, view_op};
use crate::pins::{Pin, Pins, pins_path};
use crate::schema::check_views;
use crate::tree::{marker_path, read_tree};
use crate::zk::Op;
use crate::{Error, Result};

impl Writer<'_> {
    /// Pins `env` with `pin`, or with `None` unpins it, and rewrites every
    /// view of its subtree that changes.
    pub(crate) async fn set_pin(&self, env: &EnvPath, pin: Option<Pin>) -> Result<WriteOutcome> {
        let mut outcome = WriteOutcome::default();
        let mut attempts = self.attempts();
        while let Some(attempt) = attempts.next().await {
            outcome.attempts = attempt;
            let mut read = read_tree(self.zk, self.layout, env).await?;
            if read.marker.is_some() {
                outcome.transactions += self.repair().await?.transactions;
                continue;
            }
            if read.service.pins.get(env) == pin.as_ref() {
                // Already so, perhaps by an earlier attempt whose answer
                // was lost.
                return Ok(outcome);
            }
            let mut pins = read.service.pins.pins.clone();
            match &pin {
                Some(pin) => pins.insert(env.clone(), pin.clone()),
                None => pins.remove(env),
            };
            let pins_op = pins_op(self.layout, &read.service.pins, &pins)?;
            let set_service = Op::Set {
                path: self.layout.service_path().to_owned(),
                data: read.service.data.clone(),
                version: Some(read.service.version),
            };
            read.service.pins.pins = pins;
            let writes = changed_views(&read, None);
            check_views(self.layout, &read.service, view_data(&writes))?;
            let stored_view = read.views[env].as_ref().map(|v| v.data.as_slice());
            let new_view = writes
                .iter()
                .find(|w| w.env == *env)
                .map(|w| w.data.as_slice())
                .or(stored_view);
            let as_value = |data: Option<&[u8]>| {
                data.and_then(|d| parse_config(d).ok())
                    .map_or(Value::Null, Value::Object)
            };
            let action = match pin {
                Some(_) => Action::PinSet,
                None => Action::PinRemove,
            };
            let to = pin.as_ref().or(read.service.pins.get(env)).map(|p| p.to);
            let record = self
                .record(action, Some(env))
                .change(as_value(stored_view), as_value(new_view))
                .to(to);
            let mut ops = checks_except_top(self.layout, &read);
            ops.extend(conf_checks(self.layout, [(env, &read.subtree[env])]));
            ops.extend(assert_no_marker(self.layout));
            ops.push(set_service.clone());
            ops.push(pins_op.clone());
            ops.extend(writes.iter().map(|w| view_op(self.layout, w)));
            let (entry, _) =
                self.record_ops(read.history_exists, record.clone(), self.room_beside(&ops));
            ops.extend(entry);
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
            // The pins, the service znode, the marker and the entry in
            // batch 1, the views as a repair writes them.
            let mut first = vec![
                Op::Create {
                    path: marker_path(self.layout),
                    data: serde_json::to_vec(&serde_json::json!({"pin": env.as_str()}))
                        .expect("JSON"),
                },
                set_service,
                pins_op,
            ];
            let (entry, _) = self.record_ops(read.history_exists, record, self.room_beside(&first));
            first.extend(entry);
            self.fits(&first, || {
                format!("the pin of environment {:?}", env.as_str())
            })?;
            if self
                .commit_behind_marker(&read, &writes, first, &mut outcome)
                .await?
            {
                return Ok(outcome);
            }
        }
        Err(attempts.contended())
    }

    /// The op that drops the pins of `env`'s subtree from `stored`, when it
    /// has any.
    pub(crate) fn pins_without(&self, stored: &Pins, env: &EnvPath) -> Option<Op> {
        let mut pins = stored.pins.clone();
        pins.retain(|e, _| !e.is_within(env));
        (pins.len() != stored.pins.len()).then(|| Op::Set {
            path: pins_path(self.layout),
            data: Pins::encode(&pins),
            version: stored.version,
        })
    }
}

/// The op that stores `pins` where `stored` was read.
fn pins_op(
    layout: &jones_client::ServiceLayout,
    stored: &Pins,
    pins: &std::collections::BTreeMap<EnvPath, Pin>,
) -> Result<Op> {
    let data = Pins::encode(pins);
    if data.len() > MAX_NODE_BYTES {
        return Err(Error::TooLarge {
            reason: format!(
                "the service's pins would take {} bytes, the limit is {MAX_NODE_BYTES}; unpin another environment first",
                data.len()
            ),
        });
    }
    let path = pins_path(layout);
    Ok(match stored.version {
        Some(version) => Op::Set {
            path,
            data,
            version: Some(version),
        },
        None => Op::Create { path, data },
    })
}
