//! License pools: capacity bought and seats assigned per product. The assigned count moves
//! only by conditional updates, so no interleaving of requests (or replicas) holds more
//! seats than a pool has.

use sqlx::Row;

use super::sql::Sql;
use super::{ReadConn, Result, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub product: String,
    pub capacity: i64,
    pub assigned: i64,
    pub waitlisted: i64,
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
             (SELECT COUNT(*) FROM seats s WHERE s.account_id = p.account_id AND s.product = p.name AND s.state = 'waitlisted') \
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
    /// Creates or resizes a pool; refuses to go below the seats assigned now.
    pub async fn set_capacity(
        &mut self,
        account: i64,
        product: &str,
        capacity: i64,
        now: &str,
    ) -> Result<Resize> {
        let mut ins = Sql::new(
            "INSERT INTO products (account_id, name, capacity, assigned, created) VALUES (",
        );
        ins.bind_int(account)
            .push(", ")
            .bind_text(product)
            .push(", ")
            .bind_int(capacity)
            .push(", 0, ")
            .bind_text(now)
            .push(") ON CONFLICT (account_id, name) DO NOTHING");
        if self.execute(&ins).await? == 1 {
            return Ok(Resize::Done);
        }
        let mut up = Sql::new("UPDATE products SET capacity = ");
        up.bind_int(capacity)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND name = ")
            .bind_text(product)
            .push(" AND assigned <= ")
            .bind_int(capacity);
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

    /// Takes one free seat of the pool, if there is one: the conditional increment that
    /// keeps `assigned <= capacity` under any concurrency.
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

    /// Moves a pool's assigned count by `delta`, kept within 0 and the capacity (a dry run
    /// replaying what its earlier, rolled-back batches took).
    pub async fn adjust_assigned(&mut self, account: i64, product: &str, delta: i64) -> Result<()> {
        if delta == 0 {
            return Ok(());
        }
        let mut sql = Sql::new("UPDATE products SET assigned = CASE WHEN assigned + ");
        sql.bind_int(delta)
            .push(" > capacity THEN capacity WHEN assigned + ")
            .bind_int(delta)
            .push(" < 0 THEN 0 ELSE assigned + ")
            .bind_int(delta)
            .push(" END WHERE account_id = ")
            .bind_int(account)
            .push(" AND name = ")
            .bind_text(product);
        self.execute(&sql).await?;
        Ok(())
    }

    pub async fn take_seat(&mut self, account: i64, product: &str) -> Result<bool> {
        let mut sql = Sql::new("UPDATE products SET assigned = assigned + 1 WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND name = ")
            .bind_text(product)
            .push(" AND assigned < capacity");
        Ok(self.execute(&sql).await? == 1)
    }

    pub async fn give_back_seat(&mut self, account: i64, product: &str) -> Result<()> {
        let mut sql = Sql::new("UPDATE products SET assigned = assigned - 1 WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND name = ")
            .bind_text(product)
            .push(" AND assigned > 0");
        self.execute(&sql).await?;
        Ok(())
    }
}
