//! Seats: one license of one product held (or waited for) by one user; the waitlist is the
//! `waitlisted` rows of a product in `queue_seq` order.

use std::collections::{BTreeSet, HashMap};

use sqlx::Row;

use super::sql::{in_list, Sql};
use super::{ReadConn, Result, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRow {
    pub user_id: String,
    pub product: String,
    /// `assigned` or `waitlisted`.
    pub state: String,
    /// Why the user holds it: `rule` (the mapping rules), `idp` (a License entitlement the
    /// identity provider set) or `manual` (an admin: a transfer, an import or added user).
    pub source: String,
    pub since: String,
}

/// What seat decisions need of a user, read with the user row locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatHolder {
    pub user_name: String,
    pub active: bool,
    /// The document's `entitlements`, as JSON text (`None` when it has none).
    pub entitlements: Option<String>,
}

impl ReadConn {
    /// Which of these names are products of the account (a pool exists, even of 0 seats).
    pub async fn pooled_products(
        &mut self,
        account: i64,
        names: &[String],
    ) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for chunk in names.chunks(500) {
            let mut sql = Sql::new("SELECT name FROM products WHERE account_id = ");
            sql.bind_int(account).push(" AND name IN ");
            in_list(&mut sql, chunk);
            for r in self.fetch_all(&sql).await? {
                out.insert(r.try_get::<String, _>(0)?);
            }
        }
        Ok(out)
    }

    pub async fn seats_of(
        &mut self,
        account: i64,
        users: &[String],
    ) -> Result<HashMap<String, Vec<SeatRow>>> {
        let mut out: HashMap<String, Vec<SeatRow>> = HashMap::new();
        for chunk in users.chunks(500) {
            let mut sql = Sql::new(
                "SELECT user_id, product, state, source, since FROM seats WHERE account_id = ",
            );
            sql.bind_int(account).push(" AND user_id IN ");
            in_list(&mut sql, chunk);
            sql.push(" ORDER BY user_id, product");
            for r in self.fetch_all(&sql).await? {
                let seat = SeatRow {
                    user_id: r.try_get(0)?,
                    product: r.try_get(1)?,
                    state: r.try_get(2)?,
                    source: r.try_get(3)?,
                    since: r.try_get(4)?,
                };
                out.entry(seat.user_id.clone()).or_default().push(seat);
            }
        }
        Ok(out)
    }

    pub async fn waitlisted_products(&mut self, account: i64) -> Result<Vec<String>> {
        let mut sql = Sql::new("SELECT DISTINCT product FROM seats WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND state = 'waitlisted' ORDER BY product");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }
}

impl WriteTx {
    /// userName, active flag and entitlements of a user, the row locked until commit
    /// (PostgreSQL), as `lock_user_brief` does: seat decisions for one user run one
    /// transaction at a time.
    pub async fn lock_seat_holder(
        &mut self,
        account: i64,
        user: &str,
    ) -> Result<Option<SeatHolder>> {
        let entitlements = self.backend.json_text("doc", &["entitlements".to_string()]);
        let mut sql = Sql::new(&format!(
            "SELECT user_name, active, {entitlements} FROM users WHERE account_id = "
        ));
        sql.bind_int(account)
            .push(" AND id = ")
            .bind_text(user)
            .push(self.backend.for_update(false));
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some(SeatHolder {
                user_name: r.try_get(0)?,
                active: r.try_get::<i64, _>(1)? != 0,
                entitlements: r.try_get(2)?,
            }),
            None => None,
        })
    }

    /// The user first in line for a product, that row locked until commit. On PostgreSQL a
    /// row another transaction is serving is skipped, so two transactions freeing seats at
    /// once hand them to two different people.
    pub async fn lock_first_waitlisted(
        &mut self,
        account: i64,
        product: &str,
    ) -> Result<Option<(String, String)>> {
        let mut sql = Sql::new("SELECT user_id, source FROM seats WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND product = ")
            .bind_text(product)
            .push(" AND state = 'waitlisted' ORDER BY queue_seq, since, user_id LIMIT 1")
            .push(self.backend.for_update(true));
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// Inserts a seat row unless the user already holds one of the product (a concurrent
    /// request got there first). Returns whether it was inserted.
    pub async fn insert_seat(
        &mut self,
        account: i64,
        user: &str,
        product: &str,
        state: &str,
        source: &str,
        now: &str,
    ) -> Result<bool> {
        let mut sql = Sql::new(
            "INSERT INTO seats (account_id, user_id, product, state, source, since, queue_seq) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(user)
            .push(", ")
            .bind_text(product)
            .push(", ")
            .bind_text(state)
            .push(", ")
            .bind_text(source)
            .push(", ")
            .bind_text(now)
            .push(", ");
        // Only the waitlist needs an order; its index makes the MAX a single lookup.
        if state == "waitlisted" {
            sql.push("(SELECT COALESCE(MAX(queue_seq), 0) + 1 FROM seats WHERE account_id = ")
                .bind_int(account)
                .push(" AND product = ")
                .bind_text(product)
                .push(" AND state = 'waitlisted')");
        } else {
            sql.push("0");
        }
        sql.push(") ON CONFLICT (account_id, user_id, product) DO NOTHING");
        Ok(self.execute(&sql).await? == 1)
    }

    /// Deletes a seat row; returns the state and source it had when deleted (`None`: another
    /// transaction deleted it first). What to give back follows from this, never from an
    /// earlier read.
    pub async fn delete_seat(
        &mut self,
        account: i64,
        user: &str,
        product: &str,
    ) -> Result<Option<(String, String)>> {
        let mut sql = Sql::new("DELETE FROM seats WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND user_id = ")
            .bind_text(user)
            .push(" AND product = ")
            .bind_text(product)
            .push(" RETURNING state, source");
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// Records why a user holds a seat now (`rule` or `idp`); an admin's (`manual`) seat
    /// keeps its source. False when nothing changed.
    pub async fn set_seat_source(
        &mut self,
        account: i64,
        user: &str,
        product: &str,
        source: &str,
    ) -> Result<bool> {
        let mut sql = Sql::new("UPDATE seats SET source = ");
        sql.bind_text(source)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND user_id = ")
            .bind_text(user)
            .push(" AND product = ")
            .bind_text(product)
            .push(" AND source <> 'manual' AND source <> ")
            .bind_text(source);
        Ok(self.execute(&sql).await? == 1)
    }

    /// Turns a waitlisted seat into an assigned one; false when the row is no longer
    /// waitlisted (served or deleted by another transaction meanwhile).
    pub async fn mark_assigned(
        &mut self,
        account: i64,
        user: &str,
        product: &str,
        now: &str,
    ) -> Result<bool> {
        let mut sql = Sql::new("UPDATE seats SET state = 'assigned', since = ");
        sql.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND user_id = ")
            .bind_text(user)
            .push(" AND product = ")
            .bind_text(product)
            .push(" AND state = 'waitlisted'");
        Ok(self.execute(&sql).await? == 1)
    }

    /// Moves a seat row from one user to another as a manual seat, keeping its state;
    /// false when the row was gone.
    pub async fn move_seat(
        &mut self,
        account: i64,
        from: &str,
        to: &str,
        product: &str,
        now: &str,
    ) -> Result<bool> {
        let mut sql = Sql::new("UPDATE seats SET user_id = ");
        sql.bind_text(to)
            .push(", source = 'manual', since = ")
            .bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND user_id = ")
            .bind_text(from)
            .push(" AND product = ")
            .bind_text(product);
        Ok(self.execute(&sql).await? == 1)
    }
}
