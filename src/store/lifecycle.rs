//! Lifecycle safety: the deprovisionings each connection made lately (which the guard
//! counts), holds and the changes they keep, users the identity provider deleted but the
//! account keeps, and the suspended users the purge takes.

use sqlx::Row;

use super::sql::{in_list, Sql};
use super::{ReadConn, Result, WriteTx};

/// A hold: the deprovisionings of one connection's burst, kept for an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    pub id: String,
    pub connection: String,
    /// `open`, `released` or `discarded`.
    pub status: String,
    pub opened: String,
    pub last_held: String,
    /// The guard's setting when the hold opened.
    pub max_users: i64,
    pub window_minutes: i64,
    pub closed: Option<String>,
    pub closed_by: Option<String>,
    /// Changes by state: pending, applied, skipped, discarded, superseded.
    pub counts: HeldCounts,
    /// The users it holds changes of.
    pub users: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HeldCounts {
    pub pending: i64,
    pub applied: i64,
    pub skipped: i64,
    pub discarded: i64,
    pub superseded: i64,
}

/// One change a hold keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldChange {
    pub seq: i64,
    pub user_id: String,
    pub user_name: String,
    /// `suspend`, `delete` or `delete_as_suspend`.
    pub change: String,
    pub at: String,
    pub request_id: String,
    pub state: String,
    pub done: Option<String>,
}

/// A change to hold.
#[derive(Debug, Clone)]
pub struct NewHeldChange<'a> {
    pub user_id: &'a str,
    pub user_name: &'a str,
    pub change: &'a str,
    pub at: &'a str,
    pub request_id: &'a str,
}

const HOLD_COLUMNS: &str = "h.id, h.connection, h.status, h.opened, h.last_held, h.max_users, \
     h.window_minutes, h.closed, h.closed_by, \
     (SELECT COUNT(*) FROM held_changes c WHERE c.account_id = h.account_id AND c.hold_id = h.id AND c.state = 'pending'), \
     (SELECT COUNT(*) FROM held_changes c WHERE c.account_id = h.account_id AND c.hold_id = h.id AND c.state = 'applied'), \
     (SELECT COUNT(*) FROM held_changes c WHERE c.account_id = h.account_id AND c.hold_id = h.id AND c.state = 'skipped'), \
     (SELECT COUNT(*) FROM held_changes c WHERE c.account_id = h.account_id AND c.hold_id = h.id AND c.state = 'discarded'), \
     (SELECT COUNT(*) FROM held_changes c WHERE c.account_id = h.account_id AND c.hold_id = h.id AND c.state = 'superseded'), \
     (SELECT COUNT(DISTINCT c.user_id) FROM held_changes c WHERE c.account_id = h.account_id AND c.hold_id = h.id)";

fn hold_row(r: &sqlx::any::AnyRow) -> Result<HoldRow> {
    Ok(HoldRow {
        id: r.try_get(0)?,
        connection: r.try_get(1)?,
        status: r.try_get(2)?,
        opened: r.try_get(3)?,
        last_held: r.try_get(4)?,
        max_users: r.try_get(5)?,
        window_minutes: r.try_get(6)?,
        closed: r.try_get(7)?,
        closed_by: r.try_get(8)?,
        counts: HeldCounts {
            pending: r.try_get(9)?,
            applied: r.try_get(10)?,
            skipped: r.try_get(11)?,
            discarded: r.try_get(12)?,
            superseded: r.try_get(13)?,
        },
        users: r.try_get(14)?,
    })
}

impl ReadConn {
    /// How many deprovisionings the connection made since `since`, counting at most `cap`
    /// (the guard only needs to know whether its limit is reached).
    pub async fn recent_deprovisions(
        &mut self,
        account: i64,
        connection: &str,
        since: &str,
        cap: i64,
    ) -> Result<i64> {
        let mut sql =
            Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM deprovisions WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND connection = ")
            .bind_text(connection)
            .push(" AND at > ")
            .bind_text(since)
            .push(" LIMIT ")
            .bind_int(cap)
            .push(") recent");
        self.fetch_count(&sql).await
    }

    /// The connection's latest open hold: its id and when it last held a change.
    pub async fn open_hold(
        &mut self,
        account: i64,
        connection: &str,
    ) -> Result<Option<(String, String)>> {
        let mut sql = Sql::new("SELECT id, last_held FROM holds WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND connection = ")
            .bind_text(connection)
            .push(" AND status = 'open' ORDER BY last_held DESC, id LIMIT 1");
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// The account's holds, newest first: `open`, `released`, `discarded`, or all.
    pub async fn list_holds(&mut self, account: i64, status: Option<&str>) -> Result<Vec<HoldRow>> {
        let mut sql = Sql::new(&format!(
            "SELECT {HOLD_COLUMNS} FROM holds h WHERE h.account_id = "
        ));
        sql.bind_int(account);
        if let Some(s) = status {
            sql.push(" AND h.status = ").bind_text(s);
        }
        sql.push(" ORDER BY h.opened DESC, h.id");
        self.fetch_all(&sql).await?.iter().map(hold_row).collect()
    }

    pub async fn hold(&mut self, account: i64, id: &str) -> Result<Option<HoldRow>> {
        let mut sql = Sql::new(&format!(
            "SELECT {HOLD_COLUMNS} FROM holds h WHERE h.account_id = "
        ));
        sql.bind_int(account).push(" AND h.id = ").bind_text(id);
        match self.fetch_optional(&sql).await? {
            Some(r) => Ok(Some(hold_row(&r)?)),
            None => Ok(None),
        }
    }

    /// A hold's changes in the order they came; with `pending_only`, those still waiting.
    pub async fn held_changes(
        &mut self,
        account: i64,
        hold: &str,
        pending_only: bool,
        limit: i64,
    ) -> Result<Vec<HeldChange>> {
        let mut sql = Sql::new(
            "SELECT seq, user_id, user_name, change, at, request_id, state, done \
             FROM held_changes WHERE account_id = ",
        );
        sql.bind_int(account)
            .push(" AND hold_id = ")
            .bind_text(hold);
        if pending_only {
            sql.push(" AND state = 'pending'");
        }
        sql.push(" ORDER BY seq LIMIT ").bind_int(limit);
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(HeldChange {
                    seq: r.try_get(0)?,
                    user_id: r.try_get(1)?,
                    user_name: r.try_get(2)?,
                    change: r.try_get(3)?,
                    at: r.try_get(4)?,
                    request_id: r.try_get(5)?,
                    state: r.try_get(6)?,
                    done: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// Users held and users the identity provider deleted (kept by `delete_action`
    /// `suspend`), for the users report.
    pub async fn lifecycle_counts(&mut self, account: i64) -> Result<(i64, i64)> {
        let mut h = Sql::new(
            "SELECT COUNT(*) FROM users WHERE active = 1 AND held IS NOT NULL AND account_id = ",
        );
        h.bind_int(account);
        let mut d = Sql::new(
            "SELECT COUNT(*) FROM users WHERE idp_deleted_at IS NOT NULL AND account_id = ",
        );
        d.bind_int(account);
        Ok((self.fetch_count(&h).await?, self.fetch_count(&d).await?))
    }
}

impl WriteTx {
    /// Writes the connection's guard row: on PostgreSQL it stays locked until commit, so the
    /// deprovisionings of one connection are counted one transaction at a time on every
    /// replica (SQLite's one writer already does that).
    pub async fn lock_deprovision_guard(
        &mut self,
        account: i64,
        connection: &str,
        now: &str,
    ) -> Result<()> {
        let mut sql =
            Sql::new("INSERT INTO deprovision_guard (account_id, connection, last_at) VALUES (");
        sql.bind_int(account)
            .push(", ")
            .bind_text(connection)
            .push(", ")
            .bind_text(now)
            .push(
                ") ON CONFLICT (account_id, connection) DO UPDATE SET last_at = excluded.last_at",
            );
        self.execute(&sql).await?;
        Ok(())
    }

    /// Counts one deprovisioning of the connection (`applied` or `held`).
    pub async fn record_deprovision(
        &mut self,
        account: i64,
        connection: &str,
        user: &str,
        outcome: &str,
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO deprovisions (account_id, connection, id, at, user_id, outcome) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(connection)
            .push(", ")
            .bind_text(uuid::Uuid::new_v4().to_string())
            .push(", ")
            .bind_text(now)
            .push(", ")
            .bind_text(user)
            .push(", ")
            .bind_text(outcome)
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    /// Forgets deprovisionings older than `before` (no window reaches that far).
    pub async fn prune_deprovisions(&mut self, account: i64, before: &str) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM deprovisions WHERE account_id = ");
        sql.bind_int(account).push(" AND at < ").bind_text(before);
        self.execute(&sql).await
    }

    pub async fn create_hold(
        &mut self,
        account: i64,
        id: &str,
        connection: &str,
        (max_users, window_minutes): (i64, i64),
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO holds (account_id, id, connection, status, opened, last_held, max_users, window_minutes) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(id)
            .push(", ")
            .bind_text(connection)
            .push(", 'open', ")
            .bind_text(now)
            .push(", ")
            .bind_text(now)
            .push(", ")
            .bind_int(max_users)
            .push(", ")
            .bind_int(window_minutes)
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    /// Notes that an open hold held one more change; false when it is no longer open.
    pub async fn touch_hold(&mut self, account: i64, id: &str, now: &str) -> Result<bool> {
        let mut sql = Sql::new("UPDATE holds SET last_held = ");
        sql.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(id)
            .push(" AND status = 'open'");
        Ok(self.execute(&sql).await? == 1)
    }

    /// Closes an open hold as `released` or `discarded`; false when it was not open.
    pub async fn close_hold(
        &mut self,
        account: i64,
        id: &str,
        status: &str,
        now: &str,
        by: &str,
    ) -> Result<bool> {
        let mut sql = Sql::new("UPDATE holds SET status = ");
        sql.bind_text(status)
            .push(", closed = ")
            .bind_text(now)
            .push(", closed_by = ")
            .bind_text(by)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(id)
            .push(" AND status = 'open'");
        Ok(self.execute(&sql).await? == 1)
    }

    /// Adds a change to a hold, after its others; a change the hold already keeps for the
    /// user (the identity provider sent it again) is not kept twice. Returns its number, or
    /// `None` when it was kept already.
    pub async fn add_held_change(
        &mut self,
        account: i64,
        hold: &str,
        c: &NewHeldChange<'_>,
    ) -> Result<Option<i64>> {
        let mut seen = Sql::new("SELECT seq FROM held_changes WHERE account_id = ");
        seen.bind_int(account)
            .push(" AND hold_id = ")
            .bind_text(hold)
            .push(" AND user_id = ")
            .bind_text(c.user_id)
            .push(" AND change = ")
            .bind_text(c.change)
            .push(" AND state = 'pending'");
        if self.fetch_optional(&seen).await?.is_some() {
            return Ok(None);
        }
        // The guard row of the hold's connection is locked: numbers are taken one at a time.
        let mut next =
            Sql::new("SELECT COALESCE(MAX(seq), 0) + 1 FROM held_changes WHERE account_id = ");
        next.bind_int(account)
            .push(" AND hold_id = ")
            .bind_text(hold);
        let seq = self.fetch_count(&next).await?;
        let mut sql = Sql::new(
            "INSERT INTO held_changes (account_id, hold_id, seq, user_id, user_name, change, at, request_id, state) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(hold)
            .push(", ")
            .bind_int(seq)
            .push(", ")
            .bind_text(c.user_id)
            .push(", ")
            .bind_text(c.user_name)
            .push(", ")
            .bind_text(c.change)
            .push(", ")
            .bind_text(c.at)
            .push(", ")
            .bind_text(c.request_id)
            .push(", 'pending')");
        self.execute(&sql).await?;
        Ok(Some(seq))
    }

    /// Ends a pending change as `applied`, `skipped`, `discarded` or `superseded`; false
    /// when it was no longer pending (another admin's release or discard got there first).
    pub async fn finish_held_change(
        &mut self,
        account: i64,
        hold: &str,
        seq: i64,
        state: &str,
        now: &str,
    ) -> Result<bool> {
        let mut sql = Sql::new("UPDATE held_changes SET state = ");
        sql.bind_text(state)
            .push(", done = ")
            .bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND hold_id = ")
            .bind_text(hold)
            .push(" AND seq = ")
            .bind_int(seq)
            .push(" AND state = 'pending'");
        Ok(self.execute(&sql).await? == 1)
    }

    /// Discards every pending change of a hold; returns the users they were of.
    pub async fn discard_held_changes(
        &mut self,
        account: i64,
        hold: &str,
        now: &str,
    ) -> Result<Vec<String>> {
        let mut sql = Sql::new("UPDATE held_changes SET state = 'discarded', done = ");
        sql.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND hold_id = ")
            .bind_text(hold)
            .push(" AND state = 'pending' RETURNING user_id");
        self.distinct_first_column(&sql).await
    }

    /// Supersedes the user's pending suspensions (the identity provider set it active again);
    /// returns the holds they were in.
    pub async fn supersede_held_suspensions(
        &mut self,
        account: i64,
        user: &str,
        now: &str,
    ) -> Result<Vec<String>> {
        let mut sql = Sql::new("UPDATE held_changes SET state = 'superseded', done = ");
        sql.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND user_id = ")
            .bind_text(user)
            .push(" AND change = 'suspend' AND state = 'pending' RETURNING hold_id");
        self.distinct_first_column(&sql).await
    }

    /// The distinct values of the first column a statement returns, in order.
    async fn distinct_first_column(&mut self, sql: &Sql) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .fetch_all(sql)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Sets each user's `held` to a hold that still keeps a pending change of it, or NULL.
    pub async fn refresh_held(&mut self, account: i64, users: &[String]) -> Result<()> {
        for chunk in users.chunks(500) {
            let mut sql = Sql::new(
                "UPDATE users SET held = (SELECT MAX(c.hold_id) FROM held_changes c \
                 WHERE c.account_id = users.account_id AND c.user_id = users.id AND c.state = 'pending') \
                 WHERE account_id = ",
            );
            sql.bind_int(account).push(" AND id IN ");
            in_list(&mut sql, chunk);
            self.execute(&sql).await?;
        }
        Ok(())
    }

    /// Marks a user as deleted by the identity provider (it keeps the row, suspended) and
    /// gives up its userName's key, so the identity provider may create that name again.
    pub async fn mark_idp_deleted(&mut self, account: i64, user: &str, now: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE users SET idp_deleted_at = ");
        sql.bind_text(now)
            .push(", deleted_key = id WHERE account_id = ")
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(user);
        self.execute(&sql).await?;
        Ok(())
    }

    /// Takes a user out of every group it is in (as deleting it would); returns the groups.
    pub async fn leave_groups(&mut self, account: i64, user: &str) -> Result<Vec<String>> {
        let mut sql = Sql::new("SELECT group_id FROM group_members WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND member_id = ")
            .bind_text(user)
            .push(" ORDER BY group_id");
        let groups: Vec<String> = self
            .fetch_all(&sql)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        let mut del = Sql::new("DELETE FROM group_members WHERE account_id = ");
        del.bind_int(account)
            .push(" AND member_id = ")
            .bind_text(user);
        self.execute(&del).await?;
        Ok(groups)
    }

    /// Suspended users of the account suspended before `before`, oldest first, at most
    /// `limit`; on PostgreSQL their rows stay locked until commit and rows another
    /// transaction holds are skipped, so replicas purging at once take different users.
    pub async fn lock_purge_candidates(
        &mut self,
        account: i64,
        before: &str,
        limit: i64,
    ) -> Result<Vec<(String, i64)>> {
        let mut sql = Sql::new("SELECT id, version FROM users WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND active = 0 AND suspended_at IS NOT NULL AND suspended_at < ")
            .bind_text(before)
            .push(" ORDER BY suspended_at, id LIMIT ")
            .bind_int(limit)
            .push(self.backend.for_update(true));
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}
