//! Account settings (one JSON document per account) and server secrets (the admin token
//! signing key, shared by every replica).

use super::sql::Sql;
use super::{ReadConn, Result, WriteTx};

impl ReadConn {
    pub async fn settings_doc(&mut self, account: i64) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT doc FROM account_settings WHERE account_id = ");
        sql.bind_int(account);
        self.fetch_text(&sql).await
    }

    /// The named secret, if it was ever made.
    pub async fn secret(&mut self, name: &str) -> Result<Option<String>> {
        let mut q = Sql::new("SELECT value FROM server_secrets WHERE name = ");
        q.bind_text(name);
        self.fetch_text(&q).await
    }
}

impl WriteTx {
    pub async fn put_settings_doc(&mut self, account: i64, doc: &str) -> Result<()> {
        let mut sql = Sql::new("INSERT INTO account_settings (account_id, doc) VALUES (");
        sql.bind_int(account)
            .push(", ")
            .bind_text(doc)
            .push(") ON CONFLICT (account_id) DO UPDATE SET doc = excluded.doc");
        self.execute(&sql).await?;
        Ok(())
    }

    /// The settings document, its row locked until commit (PostgreSQL; SQLite has one
    /// writer) and made from `default` when the account has none yet, so that a change of
    /// settings and a change that depends on them (a pool's overage allowance) run one after
    /// the other, each seeing the other's result.
    pub async fn lock_settings_doc(&mut self, account: i64, default: &str) -> Result<String> {
        let mut ins = Sql::new("INSERT INTO account_settings (account_id, doc) VALUES (");
        ins.bind_int(account)
            .push(", ")
            .bind_text(default)
            .push(") ON CONFLICT (account_id) DO NOTHING");
        self.execute(&ins).await?;
        let mut sql = Sql::new("SELECT doc FROM account_settings WHERE account_id = ");
        sql.bind_int(account).push(self.backend.for_update(false));
        Ok(self
            .fetch_text(&sql)
            .await?
            .unwrap_or_else(|| default.to_string()))
    }

    /// The named secret, created from `fresh` the first time (by whichever writer is first).
    pub async fn ensure_secret(&mut self, name: &str, fresh: &str) -> Result<String> {
        let mut ins = Sql::new("INSERT INTO server_secrets (name, value) VALUES (");
        ins.bind_text(name)
            .push(", ")
            .bind_text(fresh)
            .push(") ON CONFLICT (name) DO NOTHING");
        self.execute(&ins).await?;
        self.secret(name)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt(format!("secret {name} missing")))
    }
}
