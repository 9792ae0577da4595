//! Drift: when an identity provider last created, changed or read each user and group
//! (`last_seen_by_idp`), and what the drift report reads: seat holders by that time,
//! suspended users still holding manual seats, groups no group rule names, and the minutes
//! in which a connection made requests.

use std::collections::HashMap;

use sqlx::Row;

use crate::scim::ResourceKind;

use super::sql::Sql;
use super::{Backend, ReadConn, Result, WriteTx};

fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "scim_groups",
    }
}

/// One seat of a user, with what the report says about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftSeat {
    pub user_id: String,
    pub user_name: String,
    pub active: bool,
    pub last_seen_by_idp: Option<String>,
    pub product: String,
    /// `assigned` or `waitlisted`
    pub state: String,
    /// `rule`, `idp` or `manual`
    pub source: String,
}

/// A group that no group rule names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftGroup {
    pub id: String,
    pub display_name: String,
    pub last_seen_by_idp: Option<String>,
    pub members: i64,
}

fn drift_seat(r: &sqlx::any::AnyRow) -> Result<DriftSeat> {
    Ok(DriftSeat {
        user_id: r.try_get(0)?,
        user_name: r.try_get(1)?,
        active: r.try_get::<i64, _>(2)? != 0,
        last_seen_by_idp: r.try_get(3)?,
        product: r.try_get(4)?,
        state: r.try_get(5)?,
        source: r.try_get(6)?,
    })
}

const SEAT_COLUMNS: &str = "SELECT u.id, u.user_name, u.active, u.last_seen_by_idp, s.product, \
     s.state, s.source FROM seats s JOIN users u ON u.account_id = s.account_id AND u.id = s.user_id \
     WHERE s.account_id = ";

impl WriteTx {
    /// Records that an identity provider touched the resource at `at`, unless it is known
    /// to have done so at `before` or later. With `skip_locked` (the batched writer of
    /// reads), a row another transaction holds is left alone rather than waited for on
    /// PostgreSQL: that transaction is a write, and the next read marks the row again.
    /// Whether the row changed.
    pub async fn mark_seen_by_idp(
        &mut self,
        account: i64,
        kind: ResourceKind,
        id: &str,
        at: &str,
        before: &str,
        skip_locked: bool,
    ) -> Result<bool> {
        let t = table(kind);
        let mut sql = Sql::new(&format!("UPDATE {t} SET last_seen_by_idp = "));
        sql.bind_text(at)
            .push(" WHERE account_id = ")
            .bind_int(account);
        if skip_locked && self.backend == Backend::Postgres {
            sql.push(&format!(
                " AND id = (SELECT id FROM {t} WHERE account_id = "
            ))
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(id)
            .push(" AND (last_seen_by_idp IS NULL OR last_seen_by_idp < ")
            .bind_text(before)
            .push(")")
            .push(self.backend.for_update(true))
            .push(")");
        } else {
            sql.push(" AND id = ")
                .bind_text(id)
                .push(" AND (last_seen_by_idp IS NULL OR last_seen_by_idp < ")
                .bind_text(before)
                .push(")");
        }
        Ok(self.execute(&sql).await? > 0)
    }
}

impl ReadConn {
    /// When an identity provider last touched each of `ids` (those it ever did).
    pub async fn seen_by_idp(
        &mut self,
        account: i64,
        kind: ResourceKind,
        ids: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut sql = Sql::new(&format!(
                "SELECT id, last_seen_by_idp FROM {} WHERE account_id = ",
                table(kind)
            ));
            sql.bind_int(account)
                .push(" AND last_seen_by_idp IS NOT NULL AND id IN (");
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind_text(id.clone());
            }
            sql.push(")");
            for r in self.fetch_all(&sql).await? {
                out.insert(r.try_get(0)?, r.try_get(1)?);
            }
        }
        Ok(out)
    }

    /// The seats (assigned or waitlisted) of users no identity provider has touched since
    /// `before`, or ever; by userName, then product.
    pub async fn seats_unseen_since(
        &mut self,
        account: i64,
        before: &str,
    ) -> Result<Vec<DriftSeat>> {
        let mut sql = Sql::new(SEAT_COLUMNS);
        sql.bind_int(account)
            .push(" AND (u.last_seen_by_idp IS NULL OR u.last_seen_by_idp < ")
            .bind_text(before)
            .push(") ORDER BY u.user_name_lc, u.id, s.product");
        self.fetch_all(&sql).await?.iter().map(drift_seat).collect()
    }

    /// The manual seats (an admin's) that suspended users still hold; by userName, then
    /// product.
    pub async fn suspended_manual_seats(&mut self, account: i64) -> Result<Vec<DriftSeat>> {
        let mut sql = Sql::new(SEAT_COLUMNS);
        sql.bind_int(account).push(
            " AND s.source = 'manual' AND u.active = 0 ORDER BY u.user_name_lc, u.id, s.product",
        );
        self.fetch_all(&sql).await?.iter().map(drift_seat).collect()
    }

    /// Groups that no group rule names, with their member counts; by displayName.
    pub async fn groups_without_group_rules(&mut self, account: i64) -> Result<Vec<DriftGroup>> {
        let mut sql = Sql::new(
            "SELECT g.id, g.display_name, g.last_seen_by_idp, \
             (SELECT COUNT(*) FROM group_members m WHERE m.account_id = g.account_id AND m.group_id = g.id) \
             FROM scim_groups g WHERE g.account_id = ",
        );
        sql.bind_int(account).push(
            " AND NOT EXISTS (SELECT 1 FROM rules r WHERE r.account_id = g.account_id \
             AND r.group_id = g.id) ORDER BY g.display_name_lc, g.id",
        );
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(DriftGroup {
                    id: r.try_get(0)?,
                    display_name: r.try_get(1)?,
                    last_seen_by_idp: r.try_get(2)?,
                    members: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The minutes (`YYYY-MM-DDTHH:MM`, in order) in which `actor` has sync-log entries
    /// between `since` and `until`, both included: at most one row per minute however busy
    /// the actor was, read from the (account_id, actor, at) index.
    pub async fn active_minutes(
        &mut self,
        account: i64,
        actor: &str,
        since: &str,
        until: &str,
    ) -> Result<Vec<String>> {
        let mut sql =
            Sql::new("SELECT DISTINCT substr(at, 1, 16) FROM sync_log WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND actor = ")
            .bind_text(actor)
            .push(" AND at >= ")
            .bind_text(since)
            .push(" AND at <= ")
            .bind_text(until)
            .push(" ORDER BY 1");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }
}
