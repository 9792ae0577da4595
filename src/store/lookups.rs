//! Narrow lookups of users and groups by key, for rule evaluation, transfers and imports:
//! ids and a few columns, never whole documents.

use std::collections::HashMap;

use sqlx::Row;

use super::sql::{in_list, Sql};
use super::{ReadConn, Result, WriteTx};

impl ReadConn {
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
        self.brief(account, user, "").await
    }

    async fn brief(
        &mut self,
        account: i64,
        user: &str,
        lock: &str,
    ) -> Result<Option<(String, bool)>> {
        let mut sql = Sql::new("SELECT user_name, active FROM users WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND id = ")
            .bind_text(user)
            .push(lock);
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
        // The first holder by id, picked here: `ORDER BY user_id LIMIT 1` in the statement
        // lets SQLite walk every email of the account in key order instead of looking the
        // value up (seconds at a million users).
        let mut sql = Sql::new("SELECT user_id FROM user_emails WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND value_lc = ")
            .bind_text(email_lc);
        let mut first: Option<String> = None;
        for r in self.fetch_all(&sql).await? {
            let id: String = r.try_get(0)?;
            if first.as_ref().is_none_or(|f| id < *f) {
                first = Some(id);
            }
        }
        Ok(first)
    }

    /// The userNames of these users of the account, by id (a user gone meanwhile is left out).
    pub async fn user_names(
        &mut self,
        account: i64,
        ids: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut sql = Sql::new("SELECT id, user_name FROM users WHERE account_id = ");
            sql.bind_int(account).push(" AND id IN ");
            in_list(&mut sql, chunk);
            for r in self.fetch_all(&sql).await? {
                out.insert(r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?);
            }
        }
        Ok(out)
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
            // A user the identity provider deleted may share its userName with a newer one:
            // the newer (`deleted_key` '') comes last, so it wins.
            a.push(" ORDER BY deleted_key DESC");
            // Sorted here, not by the statement: an `ORDER BY user_id` there lets SQLite walk
            // the primary key (account_id, user_id, ...) over every email of the account to
            // skip the sort, instead of looking the values up (seconds at a million users).
            let mut b = Sql::new("SELECT value_lc, user_id FROM user_emails WHERE account_id = ");
            b.bind_int(account).push(" AND value_lc IN ");
            in_list(&mut b, chunk);
            let mut by_email = vec![];
            for r in self.fetch_all(&b).await? {
                by_email.push((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?));
            }
            // An email several users share goes to the first of them by id.
            by_email.sort_by(|x, y| y.1.cmp(&x.1));
            out.extend(by_email);
            // userName matches win over email matches.
            for r in self.fetch_all(&a).await? {
                out.insert(r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?);
            }
        }
        Ok(out)
    }

    pub async fn user_id_by_user_name(
        &mut self,
        account: i64,
        user_name_lc: &str,
    ) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT id FROM users WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND user_name_lc = ")
            .bind_text(user_name_lc)
            // The user holding the name, before one the identity provider deleted.
            .push(" ORDER BY deleted_key LIMIT 1");
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

impl ReadConn {
    /// How many members each of these groups has.
    pub async fn member_counts(
        &mut self,
        account: i64,
        groups: &[String],
    ) -> Result<HashMap<String, i64>> {
        let mut out = HashMap::new();
        for chunk in groups.chunks(500) {
            let mut sql =
                Sql::new("SELECT group_id, COUNT(*) FROM group_members WHERE account_id = ");
            sql.bind_int(account).push(" AND group_id IN ");
            in_list(&mut sql, chunk);
            sql.push(" GROUP BY group_id");
            for r in self.fetch_all(&sql).await? {
                out.insert(r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?);
            }
        }
        Ok(out)
    }
}

impl WriteTx {
    /// userName and active flag of a user, the row locked until commit (PostgreSQL): seat
    /// decisions for one user then run one transaction at a time, so a seat cannot be given
    /// to a user another transaction is suspending or deleting.
    pub async fn lock_user_brief(
        &mut self,
        account: i64,
        user: &str,
    ) -> Result<Option<(String, bool)>> {
        let lock = self.backend.for_update(false);
        self.brief(account, user, lock).await
    }
}
