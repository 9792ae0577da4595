//! Bulk seeding for benchmarks (`roster-bench seed`): users written straight into the tables,
//! many rows per statement, bypassing the engine (no seats, no sync log, no events). The rows
//! are the ones a SCIM create of `{"userName", "externalId", "emails": [one work email]}`
//! would write, so lookups, filters and lists see ordinary users.

use super::sql::Sql;
use super::{Result, Store};

/// Rows per INSERT statement (13 bound values a user: within both databases' limits).
const ROWS: usize = 400;
/// Rows per transaction.
const PER_TX: usize = 20_000;

impl Store {
    /// Inserts users `{prefix}{i}@example.com` for i in `start..start + count`, with external
    /// ids `ext-` and the userName, active, each with its email claimed for the account.
    pub async fn seed_users(
        &self,
        account: i64,
        prefix: &str,
        start: u64,
        count: u64,
        now: &str,
    ) -> Result<u64> {
        let mut done = 0u64;
        while done < count {
            let mut tx = self.write().await?;
            let in_tx = (count - done).min(PER_TX as u64);
            let mut written = 0u64;
            while written < in_tx {
                let n = (in_tx - written).min(ROWS as u64);
                let first = start + done + written;
                let mut users = Sql::new("INSERT INTO users (account_id, id, user_name, user_name_lc, external_id, display_name, display_name_lc, active, version, created, last_modified, doc) VALUES ");
                let mut emails = Sql::new("INSERT INTO user_emails (account_id, user_id, position, value, value_lc, type, primary_, display) VALUES ");
                let mut identities =
                    Sql::new("INSERT INTO identities (email_lc, account_id) VALUES ");
                for i in first..first + n {
                    let name = format!("{prefix}{i}@example.com");
                    let id = uuid::Uuid::new_v4().to_string();
                    let ext = format!("ext-{name}");
                    let doc = serde_json::json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": name,
                        "externalId": ext,
                        "emails": [{"value": name, "type": "work", "primary": true}],
                        "active": true,
                    });
                    if i > first {
                        users.push(", ");
                        emails.push(", ");
                        identities.push(", ");
                    }
                    users
                        .push("(")
                        .bind_int(account)
                        .push(", ")
                        .bind_text(id.clone())
                        .push(", ")
                        .bind_text(name.clone())
                        .push(", ")
                        .bind_text(name.clone())
                        .push(", ")
                        .bind_text(ext)
                        .push(", NULL, NULL, 1, 1, ")
                        .bind_text(now)
                        .push(", ")
                        .bind_text(now)
                        .push(", ")
                        .bind_text(doc.to_string())
                        .push(")");
                    emails
                        .push("(")
                        .bind_int(account)
                        .push(", ")
                        .bind_text(id)
                        .push(", 0, ")
                        .bind_text(name.clone())
                        .push(", ")
                        .bind_text(name.clone())
                        .push(", 'work', 1, NULL)");
                    identities
                        .push("(")
                        .bind_text(name)
                        .push(", ")
                        .bind_int(account)
                        .push(")");
                }
                tx.execute(&users).await?;
                tx.execute(&emails).await?;
                tx.execute(&identities).await?;
                written += n;
            }
            tx.commit().await?;
            done += in_tx;
        }
        Ok(done)
    }
}

impl Store {
    /// Makes the first `count` users whose userName starts with `prefix` members of `group`,
    /// in one statement. Returns how many were added.
    pub async fn seed_group_members(
        &self,
        account: i64,
        group: &str,
        prefix: &str,
        count: u64,
    ) -> Result<u64> {
        let mut tx = self.write().await?;
        let mut sql = Sql::new(
            "INSERT INTO group_members (account_id, group_id, member_id, member_type) SELECT account_id, ",
        );
        sql.bind_text(group)
            .push(", id, 'User' FROM users WHERE account_id = ")
            .bind_int(account)
            .push(" AND substr(user_name, 1, length(")
            .bind_text(prefix)
            .push(")) = ")
            .bind_text(prefix)
            .push(" ORDER BY user_name LIMIT ")
            .bind_int(i64::try_from(count).unwrap_or(i64::MAX))
            .push(" ON CONFLICT DO NOTHING");
        let n = tx.execute(&sql).await?;
        tx.commit().await?;
        Ok(n)
    }
}
