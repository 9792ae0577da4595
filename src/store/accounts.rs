//! Accounts and the bearer tokens of their connections.

use sqlx::Row;

use super::sql::Sql;
use super::{ReadConn, Result, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub slug: String,
    /// The account's schema number (see `custom_schemas`): a replica whose copy of the
    /// account's extensions was built at another number builds it again.
    pub schemas_version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub created: String,
    pub revoked: Option<String>,
}

/// A live token's owner and its connection's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub account: Account,
    pub connection: String,
    pub hash: String,
    pub settings: ConnectionSettings,
}

/// A connection's settings as stored: the rate limit (None: the server's default) and the
/// allowed networks as a JSON array of CIDRs (empty: anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    pub rate_limit_per_second: Option<i64>,
    pub allowed_networks: String,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        ConnectionSettings {
            rate_limit_per_second: None,
            allowed_networks: "[]".into(),
        }
    }
}

impl ReadConn {
    pub async fn account_by_slug(&mut self, slug: &str) -> Result<Option<Account>> {
        let mut sql = Sql::new("SELECT id, slug, schemas_version FROM accounts WHERE slug = ");
        sql.bind_text(slug);
        Ok(match self.fetch_optional(&sql).await? {
            Some(row) => Some(Account {
                id: row.try_get(0)?,
                slug: row.try_get(1)?,
                schemas_version: row.try_get(2)?,
            }),
            None => None,
        })
    }

    /// Every account's slug and how many users it has, by slug.
    pub async fn list_accounts(&mut self) -> Result<Vec<(String, i64)>> {
        let rows = self
            .fetch_all(&Sql::new(
                "SELECT a.slug, (SELECT COUNT(*) FROM users u WHERE u.account_id = a.id) \
                 FROM accounts a ORDER BY a.slug",
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }

    pub async fn count_accounts(&mut self) -> Result<i64> {
        self.fetch_count(&Sql::new("SELECT COUNT(*) FROM accounts"))
            .await
    }

    /// The account, connection name and stored hash of a live token, by its hash, with the
    /// connection's settings (one statement: it runs on every SCIM request).
    pub async fn token_by_hash(&mut self, hash: &str) -> Result<Option<TokenOwner>> {
        let mut sql = Sql::new(
            "SELECT a.id, a.slug, t.name, t.hash, s.rate_limit_per_second, s.allowed_networks, \
             a.schemas_version \
             FROM tokens t JOIN accounts a ON a.id = t.account_id \
             LEFT JOIN connection_settings s ON s.account_id = t.account_id AND s.name = t.name \
             WHERE t.hash = ",
        );
        sql.bind_text(hash).push(" AND t.revoked IS NULL");
        Ok(match self.fetch_optional(&sql).await? {
            Some(row) => Some(TokenOwner {
                account: Account {
                    id: row.try_get(0)?,
                    slug: row.try_get(1)?,
                    schemas_version: row.try_get(6)?,
                },
                connection: row.try_get(2)?,
                hash: row.try_get(3)?,
                settings: ConnectionSettings {
                    rate_limit_per_second: row.try_get(4)?,
                    allowed_networks: row
                        .try_get::<Option<String>, _>(5)?
                        .unwrap_or_else(|| "[]".into()),
                },
            }),
            None => None,
        })
    }

    /// A connection's settings; the defaults when none were set.
    pub async fn connection_settings(
        &mut self,
        account: i64,
        name: &str,
    ) -> Result<ConnectionSettings> {
        let mut sql = Sql::new(
            "SELECT rate_limit_per_second, allowed_networks FROM connection_settings \
             WHERE account_id = ",
        );
        sql.bind_int(account).push(" AND name = ").bind_text(name);
        Ok(match self.fetch_optional(&sql).await? {
            Some(row) => ConnectionSettings {
                rate_limit_per_second: row.try_get(0)?,
                allowed_networks: row.try_get(1)?,
            },
            None => ConnectionSettings::default(),
        })
    }

    /// Every connection of the account with settings, by name.
    pub async fn list_connection_settings(
        &mut self,
        account: i64,
    ) -> Result<Vec<(String, ConnectionSettings)>> {
        let mut sql = Sql::new(
            "SELECT name, rate_limit_per_second, allowed_networks FROM connection_settings \
             WHERE account_id = ",
        );
        sql.bind_int(account).push(" ORDER BY name");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get(0)?,
                    ConnectionSettings {
                        rate_limit_per_second: row.try_get(1)?,
                        allowed_networks: row.try_get(2)?,
                    },
                ))
            })
            .collect()
    }

    /// The time of a connection's latest sync-log entry (its actor is `connection:NAME`).
    pub async fn last_activity(&mut self, account: i64, actor: &str) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT MAX(at) FROM sync_log WHERE account_id = ");
        sql.bind_int(account).push(" AND actor = ").bind_text(actor);
        Ok(match self.fetch_optional(&sql).await? {
            Some(row) => row.try_get(0)?,
            None => None,
        })
    }

    /// Throttled requests per day since a day (`YYYY-MM-DD`), all connections together.
    pub async fn throttled_per_day(
        &mut self,
        account: i64,
        since: &str,
    ) -> Result<Vec<(String, i64)>> {
        let mut sql = Sql::new(
            "SELECT day, CAST(SUM(throttled) AS BIGINT) FROM throttle_counts WHERE account_id = ",
        );
        sql.bind_int(account)
            .push(" AND day >= ")
            .bind_text(since)
            .push(" GROUP BY day ORDER BY day");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get::<i64, _>(1)?)))
            .collect()
    }

    pub async fn list_tokens(&mut self, account: i64) -> Result<Vec<TokenInfo>> {
        let mut sql = Sql::new("SELECT id, name, created, revoked FROM tokens WHERE account_id = ");
        sql.bind_int(account).push(" ORDER BY created, id");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|row| {
                Ok(TokenInfo {
                    id: row.try_get(0)?,
                    name: row.try_get(1)?,
                    created: row.try_get(2)?,
                    revoked: row.try_get(3)?,
                })
            })
            .collect()
    }
}

impl WriteTx {
    /// Creates the account unless it exists; returns it and whether it was new.
    pub async fn ensure_account(&mut self, slug: &str, now: &str) -> Result<(Account, bool)> {
        if let Some(a) = self.account_by_slug(slug).await? {
            return Ok((a, false));
        }
        let mut sql = Sql::new("INSERT INTO accounts (slug, created) VALUES (");
        sql.bind_text(slug).push(", ").bind_text(now).push(")");
        self.execute(&sql).await?;
        let a = self.account_by_slug(slug).await?.ok_or_else(|| {
            super::StoreError::Corrupt(format!("account {slug} vanished after insert"))
        })?;
        Ok((a, true))
    }

    pub async fn insert_token(
        &mut self,
        account: i64,
        id: &str,
        name: &str,
        hash: &str,
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new("INSERT INTO tokens (account_id, id, name, hash, created) VALUES (");
        sql.bind_int(account)
            .push(", ")
            .bind_text(id)
            .push(", ")
            .bind_text(name)
            .push(", ")
            .bind_text(hash)
            .push(", ")
            .bind_text(now)
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    /// Writes a connection's settings (all of them: the caller merged the change).
    pub async fn put_connection_settings(
        &mut self,
        account: i64,
        name: &str,
        settings: &ConnectionSettings,
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO connection_settings \
             (account_id, name, rate_limit_per_second, allowed_networks, updated) VALUES (",
        );
        sql.bind_int(account).push(", ").bind_text(name).push(", ");
        // NULL written as a constant: an untyped bound NULL is text to PostgreSQL.
        match settings.rate_limit_per_second {
            Some(n) => sql.bind_int(n),
            None => sql.push("NULL"),
        };
        sql.push(", ")
            .bind_text(settings.allowed_networks.clone())
            .push(", ")
            .bind_text(now)
            .push(
                ") ON CONFLICT (account_id, name) DO UPDATE SET \
                 rate_limit_per_second = excluded.rate_limit_per_second, \
                 allowed_networks = excluded.allowed_networks, updated = excluded.updated",
            );
        self.execute(&sql).await?;
        Ok(())
    }

    /// Adds throttled requests to a connection's count for a day (`YYYY-MM-DD`).
    pub async fn add_throttled(
        &mut self,
        account: i64,
        name: &str,
        day: &str,
        n: i64,
    ) -> Result<()> {
        let mut sql =
            Sql::new("INSERT INTO throttle_counts (account_id, name, day, throttled) VALUES (");
        sql.bind_int(account)
            .push(", ")
            .bind_text(name)
            .push(", ")
            .bind_text(day)
            .push(", ")
            .bind_int(n)
            .push(
                ") ON CONFLICT (account_id, day, name) DO UPDATE SET \
                 throttled = throttle_counts.throttled + excluded.throttled",
            );
        self.execute(&sql).await?;
        Ok(())
    }

    /// Revokes the account's tokens with this id or name; returns how many.
    pub async fn revoke_tokens(
        &mut self,
        account: i64,
        id_or_name: &str,
        now: &str,
    ) -> Result<u64> {
        let mut sql = Sql::new("UPDATE tokens SET revoked = ");
        sql.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND revoked IS NULL AND (id = ")
            .bind_text(id_or_name)
            .push(" OR name = ")
            .bind_text(id_or_name)
            .push(")");
        self.execute(&sql).await
    }
}

impl WriteTx {
    /// Claims each key (a lower-cased email) for the account. Returns the first key that
    /// another account already holds; the caller then rolls back.
    pub async fn claim_identities(
        &mut self,
        account: i64,
        keys: &[String],
    ) -> Result<Option<String>> {
        for key in keys {
            let mut ins = Sql::new("INSERT INTO identities (email_lc, account_id) VALUES (");
            ins.bind_text(key.clone())
                .push(", ")
                .bind_int(account)
                .push(") ON CONFLICT (email_lc) DO NOTHING");
            if self.execute(&ins).await? == 1 {
                continue;
            }
            let mut owner = Sql::new("SELECT account_id FROM identities WHERE email_lc = ");
            owner.bind_text(key.clone());
            if let Some(row) = self.fetch_optional(&owner).await? {
                let holder: i64 = row.try_get(0)?;
                if holder != account {
                    return Ok(Some(key.clone()));
                }
            }
        }
        Ok(None)
    }

    /// Gives up keys no user of the account holds any more.
    pub async fn release_identities(&mut self, account: i64, keys: &[String]) -> Result<()> {
        for key in keys {
            let mut sql = Sql::new("DELETE FROM identities WHERE email_lc = ");
            sql.bind_text(key.clone())
                .push(" AND account_id = ")
                .bind_int(account)
                .push(" AND NOT EXISTS (SELECT 1 FROM user_emails e WHERE e.account_id = ")
                .bind_int(account)
                .push(" AND e.value_lc = ")
                .bind_text(key.clone())
                .push(") AND NOT EXISTS (SELECT 1 FROM users u WHERE u.account_id = ")
                .bind_int(account)
                .push(" AND u.user_name_lc = ")
                .bind_text(key.clone())
                .push(")");
            self.execute(&sql).await?;
        }
        Ok(())
    }
}

impl ReadConn {
    /// The account's cut-off: admin tokens issued at or before it are revoked.
    pub async fn admin_tokens_after(&mut self, account: i64) -> Result<i64> {
        let mut sql = Sql::new("SELECT admin_tokens_after FROM accounts WHERE id = ");
        sql.bind_int(account);
        self.fetch_count(&sql).await
    }

    /// Whether an admin token was revoked: by its id, or by an account-wide cut-off after
    /// its issue time.
    pub async fn admin_token_revoked(&mut self, account: i64, jti: &str, iat: i64) -> Result<bool> {
        let mut sql =
            Sql::new("SELECT (SELECT COUNT(*) FROM revoked_admin_tokens WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND jti = ")
            .bind_text(jti)
            .push(") + (SELECT COUNT(*) FROM accounts WHERE id = ")
            .bind_int(account)
            .push(" AND admin_tokens_after >= ")
            .bind_int(iat)
            .push(")");
        Ok(self.fetch_count(&sql).await? > 0)
    }
}

impl WriteTx {
    /// Revokes one admin token by id; kept until the token would have expired anyway.
    pub async fn revoke_admin_token(
        &mut self,
        account: i64,
        jti: &str,
        expires: i64,
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO revoked_admin_tokens (account_id, jti, expires, revoked_at) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(jti)
            .push(", ")
            .bind_int(expires)
            .push(", ")
            .bind_text(now)
            .push(") ON CONFLICT (account_id, jti) DO NOTHING");
        self.execute(&sql).await?;
        Ok(())
    }

    /// Revokes every admin token of the account issued at or before `at` (Unix seconds).
    pub async fn revoke_admin_tokens_before(&mut self, account: i64, at: i64) -> Result<()> {
        let mut sql = Sql::new("UPDATE accounts SET admin_tokens_after = ");
        sql.bind_int(at).push(" WHERE id = ").bind_int(account);
        self.execute(&sql).await?;
        Ok(())
    }
}
