//! Accounts in ZooKeeper: create (the token returned once), list, remove,
//! and find the account a token proves.
//!
//! Every check of a token reads the account's znode, after a `sync`:
//! there is no cache, so once `delete_account` has returned, no server
//! accepts the token again, whichever ZooKeeper server its session reads
//! from.

use serde_json::Value;

use super::Admin;
use crate::accounts::{ACCOUNTS_ROOT, JONES_ROOT, parse_record, record_bytes, token};
use crate::history::{self, Action, JONES_HISTORY, Record};
use crate::materialize::ops_size;
use crate::zk::{Op, Read, ReadResult};
use crate::{Account, AccountName, Error, Grant, Result};

/// Account records read in one multi-read at most.
const READ_BATCH: usize = 256;

impl Admin {
    /// Creates account `name` with `grants` and returns it with its token,
    /// the only time the token is known: only its hash is stored.
    ///
    /// ```no_run
    /// # async fn demo(admin: jones_server::Admin) -> Result<(), jones_server::Error> {
    /// use jones_server::{AccountName, Grant, Role};
    /// let svc = jones_client::ServiceName::new("checkout").unwrap();
    /// let name = AccountName::new("ci-deploy").unwrap();
    /// let (account, token) = admin.create_account(&name, vec![Grant::on(Role::Editor, svc)]).await?;
    /// assert!(token.starts_with("jones_ci-deploy_"));
    /// assert_eq!(admin.authenticate(&token).await?, Some(account));
    /// # Ok(()) }
    /// ```
    pub async fn create_account(
        &self,
        name: &AccountName,
        grants: Vec<Grant>,
    ) -> Result<(Account, String)> {
        if grants.is_empty() {
            return Err(Error::invalid(
                "an account needs at least one grant (a role, on a service or on every service)",
            ));
        }
        if grants.len() > crate::accounts::MAX_GRANTS {
            return Err(Error::invalid(format!(
                "an account holds at most {} grants",
                crate::accounts::MAX_GRANTS
            )));
        }
        let token = token::generate(name)?;
        let account = Account::new(name.clone(), grants).with_token(&token);
        self.zk.ensure(JONES_ROOT).await?;
        self.zk.ensure(JONES_HISTORY).await?;
        self.zk.create_secret(ACCOUNTS_ROOT, b"").await?;
        let create = Op::CreateSecret {
            path: name.path(),
            data: record_bytes(&account),
        };
        let record = self
            .account_record(Action::AccountCreate, name)
            .change(Value::Null, grants_json(&account));
        match self.commit_recorded(create, record).await {
            Ok(()) => Ok((account, token)),
            Err(zookeeper_client::Error::NodeExists) => Err(Error::AccountExists(name.clone())),
            Err(e) => Err(crate::error::zk_error(&name.path(), e)),
        }
    }

    /// A Jones-wide record of `action` on account `name`.
    fn account_record(&self, action: Action, name: &AccountName) -> Record {
        Record::new(&self.author, action, None).account(name.as_str())
    }

    /// Commits `op` with `record`'s entry in the Jones-wide history, in one
    /// transaction; the error is the one `op` met.
    async fn commit_recorded(
        &self,
        op: Op,
        record: Record,
    ) -> std::result::Result<(), zookeeper_client::Error> {
        let mut ops = vec![op];
        if self.limits.record_history {
            let room = self.limits.multi_bytes.saturating_sub(ops_size(&ops));
            ops.push(history::append_to(JONES_HISTORY, record, room).0);
        }
        let result = self.zk.multi(&ops).await.map(|_| ()).map_err(|e| e.source);
        if result.is_ok() {
            self.after_jones_change().await;
        }
        result
    }

    /// Every account, sorted by name; a znode that is not a valid account
    /// is an [`Error::Corrupt`] in its place.
    pub async fn accounts(&self) -> Result<Vec<Result<Account>>> {
        let children = self.zk.children(ACCOUNTS_ROOT).await?.unwrap_or_default();
        let mut found = Vec::with_capacity(children.len());
        for batch in children.chunks(READ_BATCH) {
            let reads: Vec<Read> = batch
                .iter()
                .map(|c| Read::Data(format!("{ACCOUNTS_ROOT}/{c}")))
                .collect();
            let results = self.zk.multi_read(&reads).await?;
            for (child, result) in batch.iter().zip(results) {
                let account = match (AccountName::new(child), result) {
                    (_, ReadResult::Data(None)) => continue,
                    (Ok(name), ReadResult::Data(Some((data, _)))) => parse_record(&name, &data),
                    (Err(e), _) => Err(Error::Corrupt {
                        path: format!("{ACCOUNTS_ROOT}/{child}"),
                        reason: e.to_string(),
                    }),
                    (Ok(name), ReadResult::Children(_)) => Err(Error::Corrupt {
                        path: name.path(),
                        reason: "unexpected answer".into(),
                    }),
                };
                found.push(account);
            }
        }
        Ok(found)
    }

    /// Removes account `name`: from the moment this returns, its token is
    /// refused by every server.
    pub async fn delete_account(&self, name: &AccountName) -> Result<()> {
        self.zk.ensure(JONES_ROOT).await?;
        self.zk.ensure(JONES_HISTORY).await?;
        let Some((data, stat)) = self.zk.get(&name.path()).await? else {
            return Err(Error::AccountNotFound(name.clone()));
        };
        // What it could do, for the record; a garbled record still goes.
        let grants = parse_record(name, &data)
            .map(|account| grants_json(&account))
            .unwrap_or(Value::Null);
        let delete = Op::Delete {
            path: name.path(),
            version: Some(stat.version),
        };
        let record = self
            .account_record(Action::AccountRemove, name)
            .change(grants, Value::Null);
        match self.commit_recorded(delete, record).await {
            Ok(()) => Ok(()),
            Err(zookeeper_client::Error::NoNode) => Err(Error::AccountNotFound(name.clone())),
            // Changed since read: it was replaced or removed meanwhile.
            Err(zookeeper_client::Error::BadVersion) => Err(Error::Unavailable(format!(
                "account {:?} changed while it was being removed; try again",
                name.as_str()
            ))),
            Err(e) => Err(crate::error::zk_error(&name.path(), e)),
        }
    }

    /// The account `token` proves, read from ZooKeeper now; `None` when it
    /// is not an account token, names no account, or is not the account's.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Account>> {
        let Some(name) = token::account_of(token) else {
            return Ok(None);
        };
        let Some((data, _)) = self.zk.get_synced(&name.path()).await? else {
            return Ok(None);
        };
        let account = parse_record(&name, &data)?;
        Ok(account.token_matches(token).then_some(account))
    }
}

/// An account's grants as its history entries show them (never its
/// token's hash).
fn grants_json(account: &Account) -> Value {
    Value::Array(account.grants().iter().map(Grant::to_json).collect())
}
