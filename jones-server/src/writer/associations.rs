//! Association writes: the nodemap rewritten at the version read, with a
//! check that keeps the target environment from vanishing meanwhile, and
//! the association's index znode in the same transaction (see `index`).

use jones_client::{EnvPath, validate_association};
use serde_json::Value;
use zookeeper_client::Stat;

use super::{Commit, Writer};
use crate::history::Action;
use crate::nodemap::StoredNodemap;
use crate::tree::not_found;
use crate::zk::Op;
use crate::{Error, Result};

impl Writer<'_> {
    /// The nodemap as stored, with its stat.
    pub(crate) async fn read_nodemap(&self) -> Result<(StoredNodemap, Stat)> {
        match self.nodemap_if_any().await? {
            Some(read) => Ok(read),
            None => Err(not_found(self.zk, self.layout, &EnvPath::root()).await),
        }
    }

    /// The nodemap as stored, with its stat; `None` when there is none.
    /// Reads the service znode too, for the format of an empty nodemap.
    pub(crate) async fn nodemap_if_any(&self) -> Result<Option<(StoredNodemap, Stat)>> {
        let (nodemap, service) = futures_util::future::try_join(
            self.zk.get(self.layout.nodemap_path()),
            self.zk.get(self.layout.service_path()),
        )
        .await?;
        let Some((data, stat)) = nodemap else {
            return Ok(None);
        };
        let service = service.as_ref().map(|(d, s)| (d.as_slice(), s.version));
        let stored = StoredNodemap::parse(self.layout, &data, self.nodemap_format, service)?;
        Ok(Some((stored, stat)))
    }

    /// The ops that store `stored` over the nodemap read at `version`: its
    /// `set`, and, for a lines nodemap whose service does not record the
    /// format yet, the service's settings with `"nodemap": "lines"` (at the
    /// version read), so the service keeps lines once its nodemap is empty.
    pub(crate) fn nodemap_ops(&self, stored: &StoredNodemap, version: i32) -> Result<Vec<Op>> {
        let mut ops = vec![Op::Set {
            path: self.layout.nodemap_path().to_owned(),
            data: stored.encode()?,
            version: Some(version),
        }];
        if let Some((data, service_version)) = &stored.record_lines {
            let path = self.layout.service_path();
            ops.push(Op::Set {
                path: path.to_owned(),
                data: super::settings::setting_set(
                    path,
                    data,
                    "nodemap",
                    crate::nodemap::NodemapFormat::Lines.as_str(),
                )?,
                version: Some(*service_version),
            });
        }
        Ok(ops)
    }

    /// What an association pointing at `view` is recorded as: the
    /// environment's path, the view path itself when it is no view of this
    /// service, `null` for none.
    fn env_value(&self, view: Option<&str>) -> Value {
        match view {
            None => Value::Null,
            Some(view) => match self.layout.env_of_view_path(view) {
                Ok(env) => Value::from(env.as_str()),
                Err(_) => Value::from(view),
            },
        }
    }

    /// Points `name` at `env`'s view (`env` must exist).
    pub(crate) async fn set_association(&self, name: &str, env: &EnvPath) -> Result<()> {
        validate_association(name)?;
        let mut attempts = self.attempts();
        while attempts.next().await.is_some() {
            let names = [name.to_owned()];
            let ((mut stored, stat), conf, index, history_exists) =
                futures_util::future::try_join4(
                    self.read_nodemap(),
                    self.zk.get(&self.layout.conf_path(env)),
                    self.read_index_for(&names),
                    self.history_exists(),
                )
                .await?;
            let Some((_, conf_stat)) = conf else {
                return Err(not_found(self.zk, self.layout, env).await);
            };
            let view_path = self.layout.view_path(env);
            if stored.map.get(name) == Some(view_path.as_str()) {
                // Already so (perhaps by our own write whose answer was lost):
                // nothing to write, and clients see no needless event.
                return Ok(());
            }
            let before = stored.map.clone();
            let record = self
                .record(Action::AssociationSet, Some(env))
                .association(name)
                .change(self.env_value(before.get(name)), Value::from(env.as_str()));
            stored.map.insert(name, view_path)?;
            let mut ops = vec![Op::Check {
                path: self.layout.conf_path(env),
                version: conf_stat.version,
            }];
            ops.extend(self.nodemap_ops(&stored, stat.version)?);
            ops.extend(
                self.record_ops(history_exists, record, self.room_beside(&ops))
                    .0,
            );
            let (ops, build) = self.with_index_ops(ops, &before, &stored.map, &index);
            self.fits(&ops, || format!("the nodemap with association {name:?}"))?;
            // Retried after an unknown outcome too: setting it again is harmless.
            if let Commit::Applied(_) = self.commit_nodemap(&ops, build).await? {
                return Ok(());
            }
        }
        Err(attempts.contended())
    }

    /// Removes association `name`.
    /// Names written before the rules (` web-01`) can be removed too: the
    /// name is checked at the read level only.
    pub(crate) async fn delete_association(&self, name: &str) -> Result<()> {
        jones_client::NameKind::Association.check_readable(name)?;
        // Set when a removal may have been applied without our hearing it:
        // then a name found missing is that removal, not a mistake.
        let mut maybe_removed = false;
        let mut attempts = self.attempts();
        while attempts.next().await.is_some() {
            let names = [name.to_owned()];
            let ((mut stored, stat), index, history_exists) = futures_util::future::try_join3(
                self.read_nodemap(),
                self.read_index_for(&names),
                self.history_exists(),
            )
            .await?;
            let before = stored.map.clone();
            let Some(removed) = stored.map.remove(name) else {
                if maybe_removed {
                    return Ok(());
                }
                return Err(Error::AssociationNotFound {
                    service: self.layout.service().clone(),
                    name: name.to_owned(),
                });
            };
            let was = self.layout.env_of_view_path(&removed).ok();
            let record = self
                .record(Action::AssociationRemove, was.as_ref())
                .association(name)
                .change(self.env_value(Some(&removed)), Value::Null);
            let mut ops = self.nodemap_ops(&stored, stat.version)?;
            ops.extend(
                self.record_ops(history_exists, record, self.room_beside(&ops))
                    .0,
            );
            let (ops, build) = self.with_index_ops(ops, &before, &stored.map, &index);
            self.fits(&ops, || format!("the nodemap without association {name:?}"))?;
            match self.commit_nodemap(&ops, build).await? {
                Commit::Applied(_) => return Ok(()),
                Commit::Raced => {}
                Commit::Unknown => maybe_removed = true,
            }
        }
        Err(attempts.contended())
    }
}
