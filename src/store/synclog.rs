//! The sync log and seat events: append, query newest first with a cursor, prune by age,
//! and the aggregates reports read.

use sqlx::Row;

use super::sql::{opt_text, Sql};
use super::{ReadConn, Result, WriteTx};

/// One sync log entry as stored. JSON-valued fields are JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncRow {
    pub id: String,
    pub at: String,
    pub actor: String,
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub user_name: Option<String>,
    pub action: String,
    pub status: String,
    pub http_status: i64,
    pub scim_type: Option<String>,
    pub detail: Option<String>,
    pub error_code: Option<String>,
    pub recommended_action: Option<String>,
    pub notes: String,
    pub changes: String,
    pub seat_changes: String,
    pub steps: String,
    pub latency_ms: i64,
}

/// What an admin asks of the log. Every field narrows.
#[derive(Debug, Clone, Default)]
pub struct SyncQuery {
    pub since: Option<String>,
    pub until: Option<String>,
    /// A user id or userName.
    pub user: Option<String>,
    pub actor: Option<String>,
    pub status: Option<String>,
    pub action: Option<String>,
    /// Entries older than this id (the previous page's last).
    pub before: Option<String>,
    /// Entries newer than this id (for following the log).
    pub after: Option<String>,
    /// Exactly this entry.
    pub id: Option<String>,
    pub limit: i64,
}

const COLUMNS: &str = "id, at, actor, request_id, method, path, resource_type, resource_id, user_name, action, status, http_status, scim_type, detail, error_code, recommended_action, notes, changes, seat_changes, steps, latency_ms";

impl ReadConn {
    /// Newest first.
    pub async fn query_sync_log(&mut self, account: i64, q: &SyncQuery) -> Result<Vec<SyncRow>> {
        let mut sql = Sql::new(&format!(
            "SELECT {COLUMNS} FROM sync_log WHERE account_id = "
        ));
        sql.bind_int(account);
        if let Some(v) = &q.since {
            sql.push(" AND at >= ").bind_text(v.clone());
        }
        if let Some(v) = &q.until {
            sql.push(" AND at < ").bind_text(v.clone());
        }
        if let Some(v) = &q.user {
            sql.push(" AND (resource_id = ")
                .bind_text(v.clone())
                .push(" OR user_name_lc = ")
                .bind_text(v.to_lowercase())
                .push(")");
        }
        if let Some(v) = &q.actor {
            sql.push(" AND actor = ").bind_text(v.clone());
        }
        if let Some(v) = &q.status {
            sql.push(" AND status = ").bind_text(v.clone());
        }
        if let Some(v) = &q.action {
            sql.push(" AND action = ").bind_text(v.clone());
        }
        if let Some(v) = &q.before {
            sql.push(" AND id < ").bind_text(v.clone());
        }
        if let Some(v) = &q.after {
            sql.push(" AND id > ").bind_text(v.clone());
        }
        if let Some(v) = &q.id {
            sql.push(" AND id = ").bind_text(v.clone());
        }
        sql.push(" ORDER BY id DESC LIMIT ").bind_int(q.limit);
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(SyncRow {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    request_id: r.try_get(3)?,
                    method: r.try_get(4)?,
                    path: r.try_get(5)?,
                    resource_type: r.try_get(6)?,
                    resource_id: r.try_get(7)?,
                    user_name: r.try_get(8)?,
                    action: r.try_get(9)?,
                    status: r.try_get(10)?,
                    http_status: r.try_get(11)?,
                    scim_type: r.try_get(12)?,
                    detail: r.try_get(13)?,
                    error_code: r.try_get(14)?,
                    recommended_action: r.try_get(15)?,
                    notes: r.try_get(16)?,
                    changes: r.try_get(17)?,
                    seat_changes: r.try_get(18)?,
                    steps: r.try_get(19)?,
                    latency_ms: r.try_get(20)?,
                })
            })
            .collect()
    }

    pub async fn account_ids(&mut self) -> Result<Vec<i64>> {
        self.fetch_all(&Sql::new("SELECT id FROM accounts ORDER BY id"))
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    /// Seats freed per product since a time.
    pub async fn freed_since(&mut self, account: i64, since: &str) -> Result<Vec<(String, i64)>> {
        let mut sql = Sql::new("SELECT product, COUNT(*) FROM seat_events WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND change = 'freed' AND at >= ")
            .bind_text(since)
            .push(" GROUP BY product ORDER BY product");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Users by status: (active, suspended, waitlisted for something).
    pub async fn user_counts(&mut self, account: i64) -> Result<(i64, i64, i64)> {
        let mut a = Sql::new("SELECT COUNT(*) FROM users WHERE active = 1 AND account_id = ");
        a.bind_int(account);
        let mut s = Sql::new("SELECT COUNT(*) FROM users WHERE active = 0 AND account_id = ");
        s.bind_int(account);
        let mut w = Sql::new("SELECT COUNT(DISTINCT user_id) FROM seats WHERE state = 'waitlisted' AND account_id = ");
        w.bind_int(account);
        Ok((
            self.fetch_count(&a).await?,
            self.fetch_count(&s).await?,
            self.fetch_count(&w).await?,
        ))
    }

    /// Conflicts by kind and status.
    pub async fn conflict_counts(&mut self, account: i64) -> Result<Vec<(String, String, i64)>> {
        let mut sql = Sql::new("SELECT kind, status, COUNT(*) FROM conflicts WHERE account_id = ");
        sql.bind_int(account)
            .push(" GROUP BY kind, status ORDER BY kind, status");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Log entries per day and status since a time.
    pub async fn sync_per_day(
        &mut self,
        account: i64,
        since: &str,
    ) -> Result<Vec<(String, String, i64)>> {
        let mut sql = Sql::new(
            "SELECT substr(at, 1, 10), status, COUNT(*) FROM sync_log WHERE account_id = ",
        );
        sql.bind_int(account)
            .push(" AND at >= ")
            .bind_text(since)
            .push(" GROUP BY substr(at, 1, 10), status ORDER BY 1, 2");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }
}

impl WriteTx {
    pub async fn insert_sync_log(&mut self, account: i64, r: &SyncRow) -> Result<()> {
        self.insert_sync_logs(account, std::slice::from_ref(r))
            .await
    }

    /// Many entries in few statements (an import's batch, the batched reads' entries),
    /// owned or borrowed.
    pub async fn insert_sync_logs<R: std::borrow::Borrow<SyncRow>>(
        &mut self,
        account: i64,
        rows: &[R],
    ) -> Result<()> {
        for chunk in rows.chunks(40) {
            let mut sql = Sql::new(&format!(
                "INSERT INTO sync_log (account_id, {COLUMNS}, user_name_lc) VALUES "
            ));
            for (n, r) in chunk.iter().enumerate() {
                let r: &SyncRow = r.borrow();
                if n > 0 {
                    sql.push(", ");
                }
                sql.push("(").bind_int(account);
                for v in [&r.id, &r.at, &r.actor, &r.request_id, &r.method, &r.path] {
                    sql.push(", ").bind_text(v.clone());
                }
                for v in [&r.resource_type, &r.resource_id, &r.user_name] {
                    sql.push(", ").bind(opt_text(v.as_deref()));
                }
                sql.push(", ")
                    .bind_text(r.action.clone())
                    .push(", ")
                    .bind_text(r.status.clone())
                    .push(", ")
                    .bind_int(r.http_status);
                for v in [
                    &r.scim_type,
                    &r.detail,
                    &r.error_code,
                    &r.recommended_action,
                ] {
                    sql.push(", ").bind(opt_text(v.as_deref()));
                }
                for v in [&r.notes, &r.changes, &r.seat_changes, &r.steps] {
                    sql.push(", ").bind_text(v.clone());
                }
                sql.push(", ")
                    .bind_int(r.latency_ms)
                    .push(", ")
                    .bind(opt_text(
                        r.user_name.as_deref().map(str::to_lowercase).as_deref(),
                    ))
                    .push(")");
            }
            self.execute(&sql).await?;
        }
        Ok(())
    }

    /// Seat events `(at, product, user, change)` in few statements.
    pub async fn insert_seat_events(
        &mut self,
        account: i64,
        events: &[(String, String, String, String)],
    ) -> Result<()> {
        for chunk in events.chunks(200) {
            let mut sql = Sql::new(
                "INSERT INTO seat_events (account_id, at, product, user_id, change) VALUES ",
            );
            for (n, (at, product, user, change)) in chunk.iter().enumerate() {
                if n > 0 {
                    sql.push(", ");
                }
                sql.push("(")
                    .bind_int(account)
                    .push(", ")
                    .bind_text(at.clone())
                    .push(", ")
                    .bind_text(product.clone())
                    .push(", ")
                    .bind_text(user.clone())
                    .push(", ")
                    .bind_text(change.clone())
                    .push(")");
            }
            self.execute(&sql).await?;
        }
        Ok(())
    }

    pub async fn insert_seat_event(
        &mut self,
        account: i64,
        at: &str,
        product: &str,
        user: &str,
        change: &str,
    ) -> Result<()> {
        let mut sql =
            Sql::new("INSERT INTO seat_events (account_id, at, product, user_id, change) VALUES (");
        sql.bind_int(account)
            .push(", ")
            .bind_text(at)
            .push(", ")
            .bind_text(product)
            .push(", ")
            .bind_text(user)
            .push(", ")
            .bind_text(change)
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    /// Deletes entries (and seat events) older than `before`; returns how many entries.
    pub async fn prune_sync_log(&mut self, account: i64, before: &str) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM sync_log WHERE account_id = ");
        sql.bind_int(account).push(" AND at < ").bind_text(before);
        let n = self.execute(&sql).await?;
        let mut ev = Sql::new("DELETE FROM seat_events WHERE account_id = ");
        ev.bind_int(account).push(" AND at < ").bind_text(before);
        self.execute(&ev).await?;
        Ok(n)
    }
}
