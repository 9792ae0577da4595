//! License pools, seats and the waitlist, mapping rules, settings, conflicts and server
//! secrets. Seat counts only ever move by conditional updates, so no interleaving of
//! requests (or replicas) can hold more seats than a pool has.

use std::collections::HashMap;

use sqlx::Row;

use crate::scim::query::Expr;
use crate::scim::ResourceKind;

use super::filter::FilterCompiler;
use super::resources::ListError;
use super::sql::{opt_text, Sql};
use super::{Result, Tx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub product: String,
    pub capacity: i64,
    pub assigned: i64,
    pub waitlisted: i64,
}

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    pub id: String,
    pub product: String,
    pub group_id: Option<String>,
    pub filter: Option<String>,
    pub created: String,
}

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

/// Why a pool could not be resized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resize {
    Done,
    /// More seats are assigned than the new capacity.
    BelowAssigned {
        assigned: i64,
    },
}

fn in_list(sql: &mut Sql, ids: &[String]) {
    sql.push("(");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind_text(id.clone());
    }
    sql.push(")");
}

impl Tx {
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

    pub async fn insert_seat(
        &mut self,
        account: i64,
        user: &str,
        product: &str,
        state: &str,
        source: &str,
        now: &str,
    ) -> Result<()> {
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
        sql.push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    pub async fn delete_seat(&mut self, account: i64, user: &str, product: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM seats WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND user_id = ")
            .bind_text(user)
            .push(" AND product = ")
            .bind_text(product);
        self.execute(&sql).await?;
        Ok(())
    }

    pub async fn mark_assigned(
        &mut self,
        account: i64,
        user: &str,
        product: &str,
        now: &str,
    ) -> Result<()> {
        let mut sql = Sql::new("UPDATE seats SET state = 'assigned', since = ");
        sql.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND user_id = ")
            .bind_text(user)
            .push(" AND product = ")
            .bind_text(product);
        self.execute(&sql).await?;
        Ok(())
    }

    /// The user first in line for a product.
    pub async fn first_waitlisted(
        &mut self,
        account: i64,
        product: &str,
    ) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT user_id FROM seats WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND product = ")
            .bind_text(product)
            .push(" AND state = 'waitlisted' ORDER BY queue_seq, since, user_id LIMIT 1");
        self.fetch_text(&sql).await
    }

    /// Moves a seat row from one user to another as a manual seat, keeping its state.
    pub async fn move_seat(
        &mut self,
        account: i64,
        from: &str,
        to: &str,
        product: &str,
        now: &str,
    ) -> Result<()> {
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
        self.execute(&sql).await?;
        Ok(())
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

    // ---- rules ----

    pub async fn list_rules(&mut self, account: i64) -> Result<Vec<RuleRow>> {
        let mut sql = Sql::new(
            "SELECT id, product, group_id, filter, created FROM rules WHERE account_id = ",
        );
        sql.bind_int(account).push(" ORDER BY created, id");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(RuleRow {
                    id: r.try_get(0)?,
                    product: r.try_get(1)?,
                    group_id: r.try_get(2)?,
                    filter: r.try_get(3)?,
                    created: r.try_get(4)?,
                })
            })
            .collect()
    }

    pub async fn insert_rule(&mut self, account: i64, rule: &RuleRow) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO rules (account_id, id, product, group_id, filter, created) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(rule.id.clone())
            .push(", ")
            .bind_text(rule.product.clone())
            .push(", ")
            .bind(opt_text(rule.group_id.as_deref()))
            .push(", ")
            .bind(opt_text(rule.filter.as_deref()))
            .push(", ")
            .bind_text(rule.created.clone())
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    pub async fn delete_rule(&mut self, account: i64, id: &str) -> Result<bool> {
        let mut sql = Sql::new("DELETE FROM rules WHERE account_id = ");
        sql.bind_int(account).push(" AND id = ").bind_text(id);
        Ok(self.execute(&sql).await? == 1)
    }

    pub async fn group_has_rules(&mut self, account: i64, group: &str) -> Result<bool> {
        let mut sql = Sql::new("SELECT COUNT(*) FROM rules WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND group_id = ")
            .bind_text(group);
        Ok(self.fetch_count(&sql).await? > 0)
    }

    /// Whether one user matches a compiled filter (a rule's), in SQL.
    pub async fn user_matches(
        &mut self,
        account: i64,
        user: &str,
        expr: &Expr,
    ) -> std::result::Result<bool, ListError> {
        let mut sql = Sql::new("SELECT COUNT(*) FROM users r WHERE r.account_id = ");
        sql.bind_int(account)
            .push(" AND r.id = ")
            .bind_text(user)
            .push(" AND ");
        FilterCompiler::new(ResourceKind::User, self.backend)
            .compile(expr, &mut sql)
            .map_err(ListError::Query)?;
        Ok(self.fetch_count(&sql).await? > 0)
    }

    pub async fn groups_of_user(&mut self, account: i64, user: &str) -> Result<Vec<String>> {
        let mut sql = Sql::new("SELECT group_id FROM group_members WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND member_id = ")
            .bind_text(user);
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    /// Users that are direct members of a group.
    pub async fn user_members(&mut self, account: i64, group: &str) -> Result<Vec<String>> {
        let mut sql = Sql::new("SELECT member_id FROM group_members WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND group_id = ")
            .bind_text(group)
            .push(" AND member_type = 'User'");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    pub async fn all_user_ids(&mut self, account: i64) -> Result<Vec<String>> {
        let mut sql = Sql::new("SELECT id FROM users WHERE account_id = ");
        sql.bind_int(account).push(" ORDER BY created, id");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }

    /// userName and active flag of a user.
    pub async fn user_brief(&mut self, account: i64, user: &str) -> Result<Option<(String, bool)>> {
        let mut sql = Sql::new("SELECT user_name, active FROM users WHERE account_id = ");
        sql.bind_int(account).push(" AND id = ").bind_text(user);
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some((r.try_get(0)?, r.try_get::<i64, _>(1)? != 0)),
            None => None,
        })
    }

    /// A user of the account by userName or email (lower-cased). Two indexed lookups: an
    /// `OR` of the two would scan the account's users.
    pub async fn user_by_email(&mut self, account: i64, email_lc: &str) -> Result<Option<String>> {
        if let Some(id) = self.user_id_by_user_name(account, email_lc).await? {
            return Ok(Some(id));
        }
        let mut sql = Sql::new("SELECT user_id FROM user_emails WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND value_lc = ")
            .bind_text(email_lc)
            .push(" ORDER BY user_id LIMIT 1");
        self.fetch_text(&sql).await
    }

    // ---- settings ----

    pub async fn settings_doc(&mut self, account: i64) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT doc FROM account_settings WHERE account_id = ");
        sql.bind_int(account);
        self.fetch_text(&sql).await
    }

    pub async fn put_settings_doc(&mut self, account: i64, doc: &str) -> Result<()> {
        let mut sql = Sql::new("INSERT INTO account_settings (account_id, doc) VALUES (");
        sql.bind_int(account)
            .push(", ")
            .bind_text(doc)
            .push(") ON CONFLICT (account_id) DO UPDATE SET doc = excluded.doc");
        self.execute(&sql).await?;
        Ok(())
    }

    // ---- conflicts ----

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

    /// The account's settings document, whether it has open conflicts, and how many rules.
    pub async fn rule_context(&mut self, account: i64) -> Result<(Option<String>, bool, i64)> {
        let mut sql = Sql::new("SELECT (SELECT doc FROM account_settings WHERE account_id = ");
        sql.bind_int(account)
            .push("), (SELECT COUNT(*) FROM (SELECT 1 FROM conflicts WHERE account_id = ")
            .bind_int(account)
            .push(
                " AND status = 'open' LIMIT 1) c), (SELECT COUNT(*) FROM rules WHERE account_id = ",
            )
            .bind_int(account)
            .push(")");
        let row = self
            .fetch_optional(&sql)
            .await?
            .ok_or_else(|| super::StoreError::Corrupt("no rule context row".into()))?;
        Ok((
            row.try_get(0)?,
            row.try_get::<i64, _>(1)? > 0,
            row.try_get(2)?,
        ))
    }

    /// Ids of the account's users with these userNames or emails (lower-cased), by key.
    pub async fn users_by_keys(
        &mut self,
        account: i64,
        keys: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in keys.chunks(500) {
            let mut a = Sql::new("SELECT user_name_lc, id FROM users WHERE account_id = ");
            a.bind_int(account).push(" AND user_name_lc IN ");
            in_list(&mut a, chunk);
            let mut b = Sql::new("SELECT value_lc, user_id FROM user_emails WHERE account_id = ");
            b.bind_int(account).push(" AND value_lc IN ");
            in_list(&mut b, chunk);
            b.push(" ORDER BY user_id DESC");
            // userName matches win over email matches.
            for sql in [b, a] {
                for r in self.fetch_all(&sql).await? {
                    out.insert(r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?);
                }
            }
        }
        Ok(out)
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
            n += self.execute(&sql).await?;
        }
        Ok(n)
    }

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

    // ---- server secrets ----

    /// The named secret, created from `fresh` the first time (by whichever writer is first).
    pub async fn secret(&mut self, name: &str, fresh: &str) -> Result<String> {
        let mut ins = Sql::new("INSERT INTO server_secrets (name, value) VALUES (");
        ins.bind_text(name)
            .push(", ")
            .bind_text(fresh)
            .push(") ON CONFLICT (name) DO NOTHING");
        self.execute(&ins).await?;
        let mut q = Sql::new("SELECT value FROM server_secrets WHERE name = ");
        q.bind_text(name);
        match self.fetch_optional(&q).await? {
            Some(r) => Ok(r.try_get(0)?),
            None => Err(super::StoreError::Corrupt(format!("secret {name} missing"))),
        }
    }
}

impl Tx {
    /// Savepoints: one import row can fail and roll back alone.
    pub async fn savepoint(&mut self) -> Result<()> {
        self.execute(&Sql::new("SAVEPOINT row_sp")).await?;
        Ok(())
    }

    pub async fn release_savepoint(&mut self) -> Result<()> {
        self.execute(&Sql::new("RELEASE SAVEPOINT row_sp")).await?;
        Ok(())
    }

    pub async fn rollback_to_savepoint(&mut self) -> Result<()> {
        self.execute(&Sql::new("ROLLBACK TO SAVEPOINT row_sp"))
            .await?;
        self.execute(&Sql::new("RELEASE SAVEPOINT row_sp")).await?;
        Ok(())
    }

    pub async fn user_id_by_user_name(
        &mut self,
        account: i64,
        user_name_lc: &str,
    ) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT id FROM users WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND user_name_lc = ")
            .bind_text(user_name_lc);
        self.fetch_text(&sql).await
    }

    pub async fn group_id_by_name(
        &mut self,
        account: i64,
        name_lc: &str,
    ) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT id FROM scim_groups WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND display_name_lc = ")
            .bind_text(name_lc)
            .push(" ORDER BY created, id LIMIT 1");
        self.fetch_text(&sql).await
    }
}
