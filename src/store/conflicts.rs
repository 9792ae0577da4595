//! Conflicts: what could not complete for another account's data or for capacity, counted
//! on every retry and closed when a retry succeeds.

use sqlx::Row;

use super::sql::{in_list, opt_text, Sql};
use super::{ReadConn, Result, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRow {
    pub id: String,
    pub kind: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub email: Option<String>,
    pub product: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub attempts: i64,
    pub status: String,
    pub resolved_at: Option<String>,
}

/// A conflict to record (or count again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConflict {
    pub kind: &'static str,
    pub dedupe_key: String,
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    pub email: Option<String>,
    pub product: Option<String>,
}

impl ReadConn {
    pub async fn list_conflicts(
        &mut self,
        account: i64,
        status: Option<&str>,
    ) -> Result<Vec<ConflictRow>> {
        let mut sql = Sql::new(
            "SELECT id, kind, user_id, user_name, email, product, first_seen, last_seen, attempts, status, resolved_at \
             FROM conflicts WHERE account_id = ",
        );
        sql.bind_int(account);
        if let Some(s) = status {
            sql.push(" AND status = ").bind_text(s);
        }
        sql.push(" ORDER BY last_seen DESC, id");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(ConflictRow {
                    id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    user_id: r.try_get(2)?,
                    user_name: r.try_get(3)?,
                    email: r.try_get(4)?,
                    product: r.try_get(5)?,
                    first_seen: r.try_get(6)?,
                    last_seen: r.try_get(7)?,
                    attempts: r.try_get(8)?,
                    status: r.try_get(9)?,
                    resolved_at: r.try_get(10)?,
                })
            })
            .collect()
    }
}

fn conflict_event(
    account: i64,
    kind: &'static str,
    now: &str,
    data: serde_json::Value,
) -> super::events::NewEvent {
    super::events::NewEvent {
        account,
        kind,
        occurred_at: now.to_string(),
        actor: "roster".into(),
        data: data.to_string(),
    }
}

impl WriteTx {
    /// Records a conflict, or counts one more attempt of the open one with the same key.
    pub async fn record_conflict(
        &mut self,
        account: i64,
        c: &NewConflict,
        id: &str,
        now: &str,
    ) -> Result<()> {
        let mut up = Sql::new("UPDATE conflicts SET attempts = attempts + 1, last_seen = ");
        up.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND status = 'open' AND kind = ")
            .bind_text(c.kind)
            .push(" AND dedupe_key = ")
            .bind_text(c.dedupe_key.clone());
        if self.execute(&up).await? > 0 {
            return Ok(());
        }
        // Conflicts announce themselves: every path that opens or closes one comes here.
        self.emit_trailing(conflict_event(
            account,
            "conflict.opened",
            now,
            serde_json::json!({
                "id": id, "kind": c.kind, "user_id": c.user_id, "user_name": c.user_name,
                "email": c.email, "product": c.product, "first_seen": now,
            }),
        ));
        let mut ins = Sql::new(
            "INSERT INTO conflicts (account_id, id, kind, dedupe_key, user_id, user_name, email, product, first_seen, last_seen, attempts, status) VALUES (",
        );
        ins.bind_int(account)
            .push(", ")
            .bind_text(id)
            .push(", ")
            .bind_text(c.kind)
            .push(", ")
            .bind_text(c.dedupe_key.clone())
            .push(", ")
            .bind(opt_text(c.user_id.as_deref()))
            .push(", ")
            .bind(opt_text(c.user_name.as_deref()))
            .push(", ")
            .bind(opt_text(c.email.as_deref()))
            .push(", ")
            .bind(opt_text(c.product.as_deref()))
            .push(", ")
            .bind_text(now)
            .push(", ")
            .bind_text(now)
            .push(", 1, 'open')");
        self.execute(&ins).await?;
        Ok(())
    }

    /// Closes the open conflicts of a kind with these keys.
    pub async fn resolve_conflicts(
        &mut self,
        account: i64,
        kind: &str,
        keys: &[String],
        now: &str,
    ) -> Result<u64> {
        let mut n = 0;
        for chunk in keys.chunks(500) {
            let mut sql = Sql::new("UPDATE conflicts SET status = 'resolved', resolved_at = ");
            sql.bind_text(now)
                .push(" WHERE account_id = ")
                .bind_int(account)
                .push(" AND status = 'open' AND kind = ")
                .bind_text(kind)
                .push(" AND dedupe_key IN ");
            in_list(&mut sql, chunk);
            sql.push(" RETURNING id, user_id, user_name, email, product, first_seen");
            for r in self.fetch_all(&sql).await? {
                n += 1;
                let data = serde_json::json!({
                    "id": r.try_get::<String, _>(0)?,
                    "kind": kind,
                    "user_id": r.try_get::<Option<String>, _>(1)?,
                    "user_name": r.try_get::<Option<String>, _>(2)?,
                    "email": r.try_get::<Option<String>, _>(3)?,
                    "product": r.try_get::<Option<String>, _>(4)?,
                    "first_seen": r.try_get::<String, _>(5)?,
                    "resolved_at": now,
                });
                self.emit_trailing(conflict_event(account, "conflict.resolved", now, data));
            }
        }
        Ok(n)
    }
}
