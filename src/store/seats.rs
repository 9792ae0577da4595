//! Seats: one license of one product held (or waited for) by one user; the waitlist is the
//! `waitlisted` rows of a product in `queue_seq` order.

use std::collections::HashMap;

use sqlx::Row;

use super::sql::{in_list, Sql};
use super::{ReadConn, Result, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatRow {
    pub user_id: String,
    pub product: String,
    /// `assigned` or `waitlisted`.
    pub state: String,
    /// `rule` or `manual`.
    pub source: String,
    pub since: String,
}

impl ReadConn {
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
    /// The user first in line for a product, that row locked until commit. On PostgreSQL a
    /// row another transaction is serving is skipped, so two transactions freeing seats at
    /// once hand them to two different people.
    pub async fn lock_first_waitlisted(
        &mut self,
        account: i64,
        product: &str,
    ) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT user_id FROM seats WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND product = ")
            .bind_text(product)
            .push(" AND state = 'waitlisted' ORDER BY queue_seq, since, user_id LIMIT 1")
            .push(self.backend.for_update(true));
        self.fetch_text(&sql).await
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

    /// Deletes a seat row; returns the state it had when deleted (`None`: another
    /// transaction deleted it first). What to give back follows from this, never from an
    /// earlier read.
    pub async fn delete_seat(
        &mut self,
        account: i64,
        user: &str,
        product: &str,
    ) -> Result<Option<String>> {
        let mut sql = Sql::new("DELETE FROM seats WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND user_id = ")
            .bind_text(user)
            .push(" AND product = ")
            .bind_text(product)
            .push(" RETURNING state");
        self.fetch_text(&sql).await
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
