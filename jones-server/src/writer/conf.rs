//! A conf change: the top's conf and every view that changes, in one
//! transaction or, over the budget, in batches behind the marker.

use jones_client::{Config, EnvPath, config_to_bytes};
use serde_json::Value;

use super::{
    Commit, ConfChange, WriteOutcome, Writer, assert_no_marker, checks_except_top, conf_checks,
    view_checks,
};
use crate::Error;
use crate::history::Action;
use crate::materialize::{
    MAX_NODE_BYTES, Versions, changed_views, ops_size, view_batches, view_data, view_op,
};
use crate::schema::check_views;
use crate::tree::{marker_path, read_tree};
use crate::zk::Op;

/// The message of the entry that records a batched write undone.
const UNDONE: &str =
    "undone by the server: the views of the subtree changed during the write and no longer fit";

impl Writer<'_> {
    /// Sets `env`'s conf and rewrites every view that changes.
    pub(crate) async fn set_conf(
        &self,
        env: &EnvPath,
        change: ConfChange,
    ) -> Result<WriteOutcome, Error> {
        let data = config_to_bytes(&change.config);
        if data.len() > MAX_NODE_BYTES {
            return Err(Error::TooLarge {
                reason: format!(
                    "the config of environment {:?} is {} bytes, the limit is {MAX_NODE_BYTES}",
                    env.as_str(),
                    data.len()
                ),
            });
        }
        let mut unknown = false;
        let mut outcome = WriteOutcome::default();
        let mut attempts = self.attempts();
        while let Some(attempt) = attempts.next().await {
            outcome.attempts = attempt;
            let read = read_tree(self.zk, self.layout, env).await?;
            if read.marker.is_some() {
                let repaired = self.repair().await?;
                outcome.transactions += repaired.transactions;
                continue;
            }
            let top = &read.subtree[env];
            let applied = unknown && top.config == change.config;
            if applied {
                // A previous attempt's transaction did commit: make the
                // views agree (normally a no-op) and report it.
                let rest = self.repair_views(env).await?;
                outcome.version = top.revision;
                outcome.views_written += rest.views_written;
                outcome.transactions += rest.transactions;
                return Ok(outcome);
            }
            if let Some(expected) = change.expected {
                if top.revision != expected {
                    return Err(Error::Conflict {
                        env: env.clone(),
                        expected,
                        current_version: top.revision,
                        current_config: top.config.clone(),
                    });
                }
            }
            let writes = changed_views(&read, Some(&change.config));
            check_views(self.layout, &read.service, view_data(&writes))?;
            let action = match change.rollback_to {
                Some(_) => Action::ConfigRollback,
                None => Action::ConfigSet,
            };
            let record = self
                .record(action, Some(env))
                .change(
                    Value::Object(top.config.clone()),
                    Value::Object(change.config.clone()),
                )
                .to(change.rollback_to);
            let set_conf = Op::Set {
                path: self.layout.conf_path(env),
                data: data.clone(),
                version: Some(top.version),
            };
            let mut ops = checks_except_top(self.layout, &read);
            ops.extend(assert_no_marker(self.layout));
            ops.push(read.service.check(self.layout));
            ops.push(set_conf.clone());
            ops.extend(writes.iter().map(|w| view_op(self.layout, w)));
            // One transaction when the change and an entry keeping its
            // `after` fit; else batched, where the entry has more room.
            let (entry, kept_after) =
                self.record_ops(read.history_exists, record.clone(), self.room_beside(&ops));
            if kept_after {
                ops.extend(entry);
            }
            if kept_after && ops_size(&ops) <= self.limits.multi_bytes {
                match self.try_commit(&ops).await? {
                    Commit::Applied(zxid) => {
                        outcome.version = zxid.expect("the conf is set");
                        outcome.views_written += writes.len();
                        outcome.transactions += 1;
                        return Ok(outcome);
                    }
                    Commit::Raced => continue,
                    Commit::Unknown => {
                        unknown = true;
                        continue;
                    }
                }
            }
            // Too large for one transaction: plan every batch before the
            // first write, so what cannot be written is refused with the
            // tree untouched.
            let versions = Versions {
                read: &read,
                top_after: Some(top.version + 1),
            };
            view_batches(self.layout, &versions, &writes, self.limits.multi_bytes)?;
            // Batch 1 = conf + marker, and the service znode rewritten with
            // its own data to move its version (see `append_marker_delete`).
            let Some((service_data, service_stat)) =
                self.zk.get(self.layout.service_path()).await?
            else {
                return Err(Error::ServiceNotFound(self.layout.service().clone()));
            };
            let mut first = conf_checks(self.layout, read.ancestors.iter().map(|(e, n)| (e, n)));
            first.push(Op::Create {
                path: marker_path(self.layout),
                data: serde_json::to_vec(&serde_json::json!({"env": env.as_str()})).expect("JSON"),
            });
            first.push(Op::Set {
                path: self.layout.service_path().to_owned(),
                data: service_data,
                version: Some(service_stat.version),
            });
            first.push(set_conf);
            let (entry, _) = self.record_ops(read.history_exists, record, self.room_beside(&first));
            first.extend(entry);
            self.fits(&first, || {
                format!("the config of environment {:?}", env.as_str())
            })?;
            // Guarded by every view of the subtree when that fits: a child
            // created or a conf changed below since the read fails it, and
            // the next attempt plans with it (see `view_checks`). Without
            // the guard, such a change is caught after batch 1 and undone
            // (see `undo_conf`).
            let guard = view_checks(self.layout, &read);
            if ops_size(&first) + ops_size(&guard) <= self.limits.multi_bytes {
                first.splice(0..0, guard);
            }
            match self.try_commit(&first).await? {
                Commit::Applied(zxid) => {
                    outcome.version = zxid.expect("the conf is set");
                    outcome.transactions += 1;
                }
                Commit::Raced => continue,
                Commit::Unknown => {
                    unknown = true;
                    continue;
                }
            }
            // The conf is committed and the marker holds off every other
            // write: rewrite the views as a repair does, in checked batches,
            // from a fresh read (which also covers any environment created
            // between our read and batch 1), and delete the marker last.
            let rest = match self.repair_after(outcome.transactions).await {
                Ok(rest) => rest,
                Err(Error::TooLarge { reason }) => {
                    self.undo_conf(env, &data, &top.config).await?;
                    return Err(Error::TooLarge { reason });
                }
                Err(e) => return Err(e),
            };
            outcome.transactions += rest.transactions;
            outcome.views_written += rest.views_written;
            return Ok(outcome);
        }
        Err(attempts.contended())
    }

    /// Puts `env`'s previous conf back after batch 1 stored `written` and
    /// the views turned out not to fit (the subtree changed between the
    /// read and batch 1, unguarded), then repairs: every view agrees with
    /// the previous confs again and the marker goes, so no input leaves
    /// the service locked. The marker holds off every other write
    /// meanwhile, so the conf is still ours unless a repair put it back.
    async fn undo_conf(
        &self,
        env: &EnvPath,
        written: &[u8],
        previous: &Config,
    ) -> Result<(), Error> {
        let path = self.layout.conf_path(env);
        if let Some((stored, stat)) = self.zk.get(&path).await? {
            if stored == written {
                tracing::warn!(
                    service = %self.layout.service(),
                    env = %env,
                    "the subtree changed during a batched write and its views do not fit: the write is undone"
                );
                let written: Config = serde_json::from_slice(written).unwrap_or_default();
                let record = self
                    .record(Action::ConfigSet, Some(env))
                    .change(Value::Object(written), Value::Object(previous.clone()))
                    .with_message(Some(UNDONE.into()));
                let mut ops = vec![Op::Set {
                    path,
                    data: config_to_bytes(previous),
                    version: Some(stat.version),
                }];
                let room = self.room_beside(&ops);
                ops.extend(
                    self.record_ops(self.history_exists().await?, record, room)
                        .0,
                );
                if let Err(e) = self.zk.multi(&ops).await {
                    if let super::Next::Fail(e) = super::classify(&ops, e) {
                        return Err(e);
                    }
                }
            }
        }
        self.repair().await.map(|_| ())
    }
}
