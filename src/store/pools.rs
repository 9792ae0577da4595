//! License pools: capacity bought and seats assigned per product. The assigned count moves
//! only by conditional updates, so no interleaving of requests (or replicas) holds more
//! seats than a pool has: its capacity plus the overage its settings allow (`allowance`).
//! Seats held over a ceiling that was lowered are `kept`, and given to no one once freed.

use sqlx::Row;

use super::sql::Sql;
use super::{ReadConn, Result, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub product: String,
    pub capacity: i64,
    pub assigned: i64,
    pub waitlisted: i64,
    /// Seats the overage policy allows above the capacity now.
    pub allowance: i64,
    /// When `assigned` went above `capacity` (None while it is not).
    pub over_since: Option<String>,
}

/// One user waiting for a seat of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub user_id: String,
    pub user_name: String,
    /// When the user joined the waitlist.
    pub since: String,
}

/// Why a pool could not be resized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resize {
    Done,
    /// More seats are assigned than the new capacity.
    BelowAssigned {
        assigned: i64,
    },
}

impl ReadConn {
    pub async fn list_pools(&mut self, account: i64) -> Result<Vec<Pool>> {
        let mut sql = Sql::new(
            "SELECT p.name, p.capacity, p.assigned, \
             (SELECT COUNT(*) FROM seats s WHERE s.account_id = p.account_id AND s.product = p.name AND s.state = 'waitlisted'), \
             p.allowance, p.over_since \
             FROM products p WHERE p.account_id = ",
        );
        sql.bind_int(account).push(" ORDER BY p.name");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(Pool {
                    product: r.try_get(0)?,
                    capacity: r.try_get(1)?,
                    assigned: r.try_get(2)?,
                    waitlisted: r.try_get(3)?,
                    allowance: r.try_get(4)?,
                    over_since: r.try_get(5)?,
                })
            })
            .collect()
    }

    /// The first `limit` users waiting for a product, in the order seats are handed out
    /// (the order of `WriteTx::lock_first_waitlisted`).
    pub async fn waitlist(
        &mut self,
        account: i64,
        product: &str,
        limit: i64,
    ) -> Result<Vec<Waiting>> {
        let mut sql = Sql::new(
            "SELECT s.user_id, u.user_name, s.since FROM seats s \
             JOIN users u ON u.account_id = s.account_id AND u.id = s.user_id \
             WHERE s.account_id = ",
        );
        sql.bind_int(account)
            .push(" AND s.product = ")
            .bind_text(product)
            .push(" AND s.state = 'waitlisted' ORDER BY s.queue_seq, s.since, s.user_id LIMIT ")
            .bind_int(limit);
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(Waiting {
                    user_id: r.try_get(0)?,
                    user_name: r.try_get(1)?,
                    since: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Products that have waitlisted seats but no pool row yet count too.
    pub async fn waitlisted_without_pool(&mut self, account: i64) -> Result<Vec<(String, i64)>> {
        let mut sql = Sql::new("SELECT s.product, COUNT(*) FROM seats s WHERE s.account_id = ");
        sql.bind_int(account).push(
            " AND s.state = 'waitlisted' AND NOT EXISTS (SELECT 1 FROM products p WHERE p.account_id = s.account_id AND p.name = s.product) \
             GROUP BY s.product ORDER BY s.product",
        );
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

impl WriteTx {
    /// Creates or resizes a pool, with the overage `allowance` the settings give that
    /// capacity. Seats held over the new ceiling stay (`kept`). Unless `keep_over` (the
    /// overage policy, under which a pool may hold more seats than licenses), a capacity
    /// lowered below the seats assigned now is refused.
    pub async fn set_capacity(
        &mut self,
        account: i64,
        product: &str,
        capacity: i64,
        allowance: i64,
        keep_over: bool,
        now: &str,
    ) -> Result<Resize> {
        let mut ins = Sql::new(
            "INSERT INTO products (account_id, name, capacity, allowance, assigned, created) VALUES (",
        );
        ins.bind_int(account)
            .push(", ")
            .bind_text(product)
            .push(", ")
            .bind_int(capacity)
            .push(", ")
            .bind_int(allowance)
            .push(", 0, ")
            .bind_text(now)
            .push(") ON CONFLICT (account_id, name) DO NOTHING");
        if self.execute(&ins).await? == 1 {
            return Ok(Resize::Done);
        }
        let mut up = Sql::new("UPDATE products SET capacity = ");
        up.bind_int(capacity)
            .push(", allowance = ")
            .bind_int(allowance)
            .push(", kept = ");
        kept_over(&mut up, capacity, allowance);
        up.push(", over_since = CASE WHEN assigned <= ")
            .bind_int(capacity)
            .push(" THEN NULL WHEN over_since IS NULL THEN ")
            .bind_text(now)
            .push(" ELSE over_since END WHERE account_id = ")
            .bind_int(account)
            .push(" AND name = ")
            .bind_text(product);
        if !keep_over {
            // More licenses (or as many) are always taken, even by a pool still holding
            // seats over them from an earlier overage.
            up.push(" AND (assigned <= ")
                .bind_int(capacity)
                .push(" OR capacity <= ")
                .bind_int(capacity)
                .push(")");
        }
        if self.execute(&up).await? == 1 {
            return Ok(Resize::Done);
        }
        let mut q = Sql::new("SELECT assigned FROM products WHERE account_id = ");
        q.bind_int(account).push(" AND name = ").bind_text(product);
        let assigned = match self.fetch_optional(&q).await? {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        Ok(Resize::BelowAssigned { assigned })
    }

    /// Sets every pool's overage allowance to `percent` of its capacity (rounded down; 0
    /// when the seat policy is not `overage`). Seats held over a lowered ceiling stay
    /// (`kept`); none is given past it.
    pub async fn set_overage(&mut self, account: i64, percent: i64) -> Result<()> {
        let mut up = Sql::new("UPDATE products SET allowance = capacity * ");
        up.bind_int(percent)
            .push(" / 100, kept = CASE WHEN assigned > capacity + capacity * ")
            .bind_int(percent)
            .push(" / 100 THEN assigned - capacity - capacity * ")
            .bind_int(percent)
            .push(" / 100 ELSE 0 END WHERE account_id = ")
            .bind_int(account);
        self.execute(&up).await?;
        Ok(())
    }

    /// Locks a product's pool row until commit (PostgreSQL; SQLite's one writer needs no
    /// lock). Whoever waitlists holds it, so a seat freed meanwhile waits for the waitlist
    /// entry to commit and is then handed to it.
    pub async fn lock_pool(&mut self, account: i64, product: &str) -> Result<()> {
        let mut sql = Sql::new("SELECT assigned FROM products WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND name = ")
            .bind_text(product)
            .push(self.backend.for_update(false));
        self.fetch_optional(&sql).await?;
        Ok(())
    }

    /// Moves a pool's assigned count by `delta`, kept within 0 and the pool's ceiling (a dry
    /// run replaying what its earlier, rolled-back batches took). `over_since` is not set
    /// here: the run is rolled back.
    pub async fn adjust_assigned(&mut self, account: i64, product: &str, delta: i64) -> Result<()> {
        if delta == 0 {
            return Ok(());
        }
        let mut sql = Sql::new("UPDATE products SET assigned = CASE WHEN assigned + ");
        sql.bind_int(delta)
            .push(
                " > capacity + allowance + kept THEN capacity + allowance + kept WHEN assigned + ",
            )
            .bind_int(delta)
            .push(" < 0 THEN 0 ELSE assigned + ")
            .bind_int(delta)
            .push(" END WHERE account_id = ")
            .bind_int(account)
            .push(" AND name = ")
            .bind_text(product);
        self.execute(&sql).await?;
        let mut settle = Sql::new(
            "UPDATE products SET kept = CASE WHEN assigned > capacity + allowance \
             THEN assigned - capacity - allowance ELSE 0 END, \
             over_since = CASE WHEN assigned <= capacity THEN NULL ELSE over_since END \
             WHERE account_id = ",
        );
        settle
            .bind_int(account)
            .push(" AND name = ")
            .bind_text(product);
        self.execute(&settle).await?;
        Ok(())
    }

    /// Takes one seat of the pool, if one is left below its ceiling (capacity plus the
    /// overage allowance): the conditional increment that keeps `assigned` under it whatever
    /// the concurrency. A seat past the capacity records when the pool went over, unless it
    /// already was.
    pub async fn take_seat(&mut self, account: i64, product: &str, now: &str) -> Result<bool> {
        let mut sql = Sql::new(
            "UPDATE products SET assigned = assigned + 1, over_since = CASE \
             WHEN assigned + 1 <= capacity THEN NULL \
             WHEN over_since IS NOT NULL THEN over_since ELSE ",
        );
        sql.bind_text(now)
            .push(" END WHERE account_id = ")
            .bind_int(account)
            .push(" AND name = ")
            .bind_text(product)
            .push(" AND assigned < capacity + allowance");
        Ok(self.execute(&sql).await? == 1)
    }

    /// Gives a seat back to its pool. A seat kept over a lowered ceiling is given back for
    /// good (`kept` shrinks with it), so no one takes it. `over_since` is left to
    /// `settle_over`, once the change has handed the seat on (or not): a seat freed and
    /// taken by the next in line keeps the pool over since when it was.
    pub async fn give_back_seat(&mut self, account: i64, product: &str) -> Result<()> {
        let mut sql = Sql::new(
            "UPDATE products SET assigned = assigned - 1, \
             kept = CASE WHEN kept > 0 THEN kept - 1 ELSE 0 END WHERE account_id = ",
        );
        sql.bind_int(account)
            .push(" AND name = ")
            .bind_text(product)
            .push(" AND assigned > 0");
        self.execute(&sql).await?;
        Ok(())
    }

    /// A pool back within its licenses is no longer over (after seats were given back).
    pub async fn settle_over(&mut self, account: i64, product: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE products SET over_since = NULL WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND name = ")
            .bind_text(product)
            .push(" AND over_since IS NOT NULL AND assigned <= capacity");
        self.execute(&sql).await?;
        Ok(())
    }
}

/// `kept` for a pool of this capacity and allowance: the seats assigned over that ceiling.
fn kept_over(sql: &mut Sql, capacity: i64, allowance: i64) {
    sql.push("CASE WHEN assigned > ")
        .bind_int(capacity + allowance)
        .push(" THEN assigned - ")
        .bind_int(capacity + allowance)
        .push(" ELSE 0 END");
}
