//! The admin console's sign-in links, sessions and kept uploads. Secrets are stored as their
//! SHA-256 hashes; a link is used at most once (one conditional update, on every replica).

use sqlx::Row;

use super::accounts::Account;
use super::sql::Sql;
use super::{ReadConn, Result, WriteTx};

/// Who a link or session signs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleGrant {
    pub account_id: i64,
    pub role: String,
    pub subject: String,
}

/// A live session, with its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub account: Account,
    pub role: String,
    pub subject: String,
    pub csrf: String,
    pub expires: String,
}

/// A CSV kept between an import's dry run and its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub name: String,
    pub body: String,
    pub created: String,
}

impl ReadConn {
    /// The session with this hash, if it has not ended and expires after `now`.
    pub async fn console_session(&mut self, hash: &str, now: &str) -> Result<Option<SessionRow>> {
        let mut sql = Sql::new(
            "SELECT a.id, a.slug, a.schemas_version, s.role, s.subject, s.csrf, s.expires \
             FROM console_sessions s JOIN accounts a ON a.id = s.account_id WHERE s.hash = ",
        );
        sql.bind_text(hash)
            .push(" AND s.ended IS NULL AND s.expires > ")
            .bind_text(now);
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some(SessionRow {
                account: Account {
                    id: r.try_get(0)?,
                    slug: r.try_get(1)?,
                    schemas_version: r.try_get(2)?,
                },
                role: r.try_get(3)?,
                subject: r.try_get(4)?,
                csrf: r.try_get(5)?,
                expires: r.try_get(6)?,
            }),
            None => None,
        })
    }

    /// An upload of this session, kept since `since` or later.
    pub async fn console_upload(
        &mut self,
        account: i64,
        session_hash: &str,
        id: &str,
        since: &str,
    ) -> Result<Option<UploadRow>> {
        let mut sql = Sql::new("SELECT name, body, created FROM console_uploads WHERE id = ");
        sql.bind_text(id)
            .push(" AND account_id = ")
            .bind_int(account)
            .push(" AND session_hash = ")
            .bind_text(session_hash)
            .push(" AND created >= ")
            .bind_text(since);
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some(UploadRow {
                name: r.try_get(0)?,
                body: r.try_get(1)?,
                created: r.try_get(2)?,
            }),
            None => None,
        })
    }
}

impl WriteTx {
    pub async fn insert_console_link(
        &mut self,
        hash: &str,
        grant: &ConsoleGrant,
        now: &str,
        expires: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO console_links (hash, account_id, role, subject, created, expires) VALUES (",
        );
        sql.bind_text(hash)
            .push(", ")
            .bind_int(grant.account_id)
            .push(", ")
            .bind_text(grant.role.clone())
            .push(", ")
            .bind_text(grant.subject.clone())
            .push(", ")
            .bind_text(now)
            .push(", ")
            .bind_text(expires)
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    /// Marks a live, unused link used and returns whom it signs in; None when it is unknown,
    /// used or expired. Two requests with one link: only one gets a grant.
    pub async fn use_console_link(
        &mut self,
        hash: &str,
        now: &str,
    ) -> Result<Option<ConsoleGrant>> {
        let mut sql = Sql::new("UPDATE console_links SET used = ");
        sql.bind_text(now)
            .push(" WHERE hash = ")
            .bind_text(hash)
            .push(" AND used IS NULL AND expires > ")
            .bind_text(now)
            .push(" RETURNING account_id, role, subject");
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some(ConsoleGrant {
                account_id: r.try_get(0)?,
                role: r.try_get(1)?,
                subject: r.try_get(2)?,
            }),
            None => None,
        })
    }

    pub async fn insert_console_session(
        &mut self,
        hash: &str,
        grant: &ConsoleGrant,
        csrf: &str,
        now: &str,
        expires: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO console_sessions (hash, account_id, role, subject, csrf, created, expires) VALUES (",
        );
        sql.bind_text(hash)
            .push(", ")
            .bind_int(grant.account_id)
            .push(", ")
            .bind_text(grant.role.clone())
            .push(", ")
            .bind_text(grant.subject.clone())
            .push(", ")
            .bind_text(csrf)
            .push(", ")
            .bind_text(now)
            .push(", ")
            .bind_text(expires)
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    pub async fn end_console_session(&mut self, hash: &str, now: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE console_sessions SET ended = ");
        sql.bind_text(now)
            .push(" WHERE hash = ")
            .bind_text(hash)
            .push(" AND ended IS NULL");
        self.execute(&sql).await?;
        Ok(())
    }

    pub async fn insert_console_upload(
        &mut self,
        id: &str,
        account: i64,
        session_hash: &str,
        name: &str,
        body: &str,
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO console_uploads (id, account_id, session_hash, name, body, created) VALUES (",
        );
        sql.bind_text(id)
            .push(", ")
            .bind_int(account)
            .push(", ")
            .bind_text(session_hash)
            .push(", ")
            .bind_text(name)
            .push(", ")
            .bind_text(body)
            .push(", ")
            .bind_text(now)
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    pub async fn delete_console_upload(&mut self, id: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM console_uploads WHERE id = ");
        sql.bind_text(id);
        self.execute(&sql).await?;
        Ok(())
    }

    /// Drops what is past its use: links and sessions expired before `before`, uploads made
    /// before `uploads_before`.
    pub async fn prune_console(&mut self, before: &str, uploads_before: &str) -> Result<u64> {
        let mut n = 0;
        for (table, column, at) in [
            ("console_links", "expires", before),
            ("console_sessions", "expires", before),
            ("console_uploads", "created", uploads_before),
        ] {
            let mut sql = Sql::new(&format!("DELETE FROM {table} WHERE {column} < "));
            sql.bind_text(at);
            n += self.execute(&sql).await?;
        }
        Ok(n)
    }
}

/// One product's counts on one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailySeats {
    pub product: String,
    pub day: String,
    pub capacity: i64,
    pub assigned: i64,
    pub waitlisted: i64,
}

/// A connection's requests in a period, as the sync log holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorActivity {
    pub actor: String,
    pub requests: i64,
    pub failures: i64,
    pub last_at: String,
}

impl ReadConn {
    /// The account's daily counts since `since_day` (YYYY-MM-DD), by product and day.
    pub async fn seat_daily(&mut self, account: i64, since_day: &str) -> Result<Vec<DailySeats>> {
        let mut sql = Sql::new(
            "SELECT product, day, capacity, assigned, waitlisted FROM seat_daily WHERE account_id = ",
        );
        sql.bind_int(account)
            .push(" AND day >= ")
            .bind_text(since_day)
            .push(" ORDER BY product, day");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(DailySeats {
                    product: r.try_get(0)?,
                    day: r.try_get(1)?,
                    capacity: r.try_get(2)?,
                    assigned: r.try_get(3)?,
                    waitlisted: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Requests, failures and the last request of each connection since `since`.
    pub async fn connection_activity(
        &mut self,
        account: i64,
        since: &str,
    ) -> Result<Vec<ActorActivity>> {
        let mut sql = Sql::new(
            "SELECT actor, COUNT(*), SUM(CASE WHEN status = 'failure' THEN 1 ELSE 0 END), MAX(at) \
             FROM sync_log WHERE account_id = ",
        );
        sql.bind_int(account)
            .push(" AND at >= ")
            .bind_text(since)
            .push(" AND actor LIKE 'connection:%' GROUP BY actor ORDER BY actor");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(ActorActivity {
                    actor: r.try_get(0)?,
                    requests: r.try_get(1)?,
                    failures: r.try_get::<Option<i64>, _>(2)?.unwrap_or(0),
                    last_at: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The outcome (status, HTTP status) of an actor's last entry.
    pub async fn last_outcome(
        &mut self,
        account: i64,
        actor: &str,
    ) -> Result<Option<(String, i64)>> {
        let mut sql = Sql::new("SELECT status, http_status FROM sync_log WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND actor = ")
            .bind_text(actor)
            .push(" ORDER BY at DESC, id DESC LIMIT 1");
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }
}

impl WriteTx {
    /// Records today's counts of every product of every account (the last call of a day wins).
    /// `WHERE TRUE` keeps SQLite from reading `ON CONFLICT` as a join's `ON`.
    pub async fn snapshot_seats(&mut self, day: &str) -> Result<u64> {
        let mut sql = Sql::new(
            "INSERT INTO seat_daily (account_id, product, day, capacity, assigned, waitlisted) \
             SELECT p.account_id, p.name, ",
        );
        sql.bind_text(day).push(
            ", p.capacity, p.assigned, (SELECT COUNT(*) FROM seats s WHERE s.account_id = p.account_id \
             AND s.product = p.name AND s.state = 'waitlisted') FROM products p WHERE TRUE \
             ON CONFLICT (account_id, product, day) DO UPDATE SET capacity = excluded.capacity, \
             assigned = excluded.assigned, waitlisted = excluded.waitlisted",
        );
        self.execute(&sql).await
    }
}
