//! Users and groups: rows with the columns filters and uniqueness need plus the canonical
//! document as JSON; emails in a table of their own; group membership as a table.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::scim::list::ListQuery;
use crate::scim::resource::{Lifecycle, MemberRef, Stored};
use crate::scim::ResourceKind;

use super::filter::FilterCompiler;
use super::sql::{opt_text, Arg, Sql};
use super::{ReadConn, Result, StoreError, WriteTx};

/// How many ids go into one `IN (...)` list.
const CHUNK: usize = 500;

fn table(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "users",
        ResourceKind::Group => "scim_groups",
    }
}

/// The outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Done {
        version: i64,
    },
    NotFound,
    /// The row exists at another version.
    Stale {
        current: i64,
    },
}

/// A group that shares its displayName with another group of its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedGroupName {
    /// The account's slug.
    pub account: String,
    /// The name they share, lower-cased.
    pub name_lc: String,
    pub id: String,
    pub display_name: String,
    pub created: String,
}

/// Filter and uniqueness columns taken from the document.
struct Columns {
    user_name: Option<String>,
    external_id: Option<String>,
    display_name: Option<String>,
    active: bool,
}

fn columns(doc: &Map<String, Value>) -> Columns {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
    Columns {
        user_name: text("userName"),
        external_id: text("externalId"),
        display_name: text("displayName"),
        active: doc.get("active").and_then(Value::as_bool).unwrap_or(true),
    }
}

/// The columns a user's lifecycle is read from, after those `stored` reads first (a group
/// has none).
fn lifecycle_columns(kind: ResourceKind, alias: &str) -> String {
    match kind {
        ResourceKind::User => {
            format!(", {alias}suspended_at, {alias}idp_deleted_at, {alias}held")
        }
        ResourceKind::Group => String::new(),
    }
}

/// A row of `id, version, created, last_modified, doc`, then (for a user) the lifecycle
/// columns from index `lifecycle_at`.
fn stored(kind: ResourceKind, row: &AnyRow, lifecycle_at: usize) -> Result<Stored> {
    let doc: String = row.try_get(4)?;
    let doc = match serde_json::from_str::<Value>(&doc) {
        Ok(Value::Object(m)) => m,
        _ => return Err(StoreError::Corrupt(doc)),
    };
    Ok(Stored {
        kind,
        id: row.try_get(0)?,
        version: row.try_get(1)?,
        created: row.try_get(2)?,
        last_modified: row.try_get(3)?,
        doc,
        refs: None,
        seats: None,
        lifecycle: match kind {
            ResourceKind::User => Lifecycle {
                suspended_since: row.try_get(lifecycle_at)?,
                deleted_by_idp: row.try_get(lifecycle_at + 1)?,
                held: row.try_get(lifecycle_at + 2)?,
            },
            ResourceKind::Group => Lifecycle::default(),
        },
    })
}

fn doc_text(doc: &Map<String, Value>) -> String {
    Value::Object(doc.clone()).to_string()
}

impl ReadConn {
    fn where_version(&self, sql: &mut Sql, account: i64, id: &str, expected: Option<i64>) {
        sql.push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(id);
        if let Some(v) = expected {
            sql.push(" AND version = ").bind_int(v);
        }
    }

    async fn version_of(&mut self, account: i64, kind: ResourceKind, id: &str) -> Result<Written> {
        let mut sql = Sql::new(&format!(
            "SELECT version FROM {} WHERE account_id = ",
            table(kind)
        ));
        sql.bind_int(account).push(" AND id = ").bind_text(id);
        Ok(match self.fetch_optional(&sql).await? {
            Some(row) => Written::Done {
                version: row.try_get(0)?,
            },
            None => Written::NotFound,
        })
    }

    pub async fn get_resource(
        &mut self,
        account: i64,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Option<Stored>> {
        let mut sql = Sql::new(&format!(
            "SELECT id, version, created, last_modified, doc{} FROM {} WHERE account_id = ",
            lifecycle_columns(kind, ""),
            table(kind)
        ));
        sql.bind_int(account).push(" AND id = ").bind_text(id);
        match self.fetch_optional(&sql).await? {
            Some(row) => Ok(Some(stored(kind, &row, 5)?)),
            None => Ok(None),
        }
    }

    /// One page of a filtered, sorted list and the total count.
    pub async fn list_resources(
        &mut self,
        account: i64,
        kind: ResourceKind,
        q: &ListQuery,
    ) -> std::result::Result<(u64, Vec<Stored>), ListError> {
        self.list_resources_as(account, kind, q, false).await
    }

    /// [`ReadConn::list_resources`]; with `hide_idp_deleted`, without the users an identity
    /// provider deleted (kept for admins by `delete_action` `suspend`), as it sees the list.
    pub async fn list_resources_as(
        &mut self,
        account: i64,
        kind: ResourceKind,
        q: &ListQuery,
        hide_idp_deleted: bool,
    ) -> std::result::Result<(u64, Vec<Stored>), ListError> {
        let mut compiler = FilterCompiler::new(kind, self.backend);
        let mut where_ = Sql::new(" WHERE r.account_id = ");
        where_.bind_int(account);
        if hide_idp_deleted && kind == ResourceKind::User {
            // In the userName index: a `userName eq` lookup stays one index read.
            where_.push(" AND r.deleted_key = ''");
        }
        if let Some(f) = &q.filter {
            where_.push(" AND ");
            compiler.compile(f, &mut where_).map_err(ListError::Query)?;
        }
        let mut count = Sql::new(&format!("SELECT COUNT(*) FROM {} r", table(kind)));
        super::filter::append(&mut count, where_.clone());
        if q.count == 0 {
            return Ok((self.fetch_count(&count).await? as u64, vec![]));
        }
        // The page and the total in one statement: one snapshot, one round trip.
        let mut page = Sql::new(&format!(
            "SELECT r.id, r.version, r.created, r.last_modified, r.doc, COUNT(*) OVER (){} FROM {} r",
            lifecycle_columns(kind, "r."),
            table(kind)
        ));
        super::filter::append(&mut page, where_);
        page.push(" ORDER BY ");
        if let Some(s) = &q.sort {
            compiler.order_by(s, &mut page).map_err(ListError::Query)?;
            page.push(", ");
        }
        page.push("r.created, r.id LIMIT ")
            .bind_int(q.count as i64)
            .push(" OFFSET ")
            .bind_int(q.start_index.saturating_sub(1) as i64);
        let rows = self.fetch_all(&page).await?;
        let total = match rows.first() {
            Some(r) => r.try_get::<i64, _>(5)? as u64,
            // Past the last page (or nothing matched): the count alone says how many.
            None => self.fetch_count(&count).await? as u64,
        };
        let items = rows
            .iter()
            .map(|r| stored(kind, r, 6))
            .collect::<Result<Vec<_>>>()?;
        Ok((total, items))
    }

    /// Loads group members (for groups) or the groups a user is in (for users).
    pub async fn load_refs(&mut self, account: i64, items: &mut [Stored]) -> Result<()> {
        let Some(kind) = items.first().map(|s| s.kind) else {
            return Ok(());
        };
        let ids: Vec<String> = items.iter().map(|s| s.id.clone()).collect();
        let mut found: HashMap<String, Vec<MemberRef>> = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let mut sql = match kind {
                ResourceKind::Group => Sql::new(
                    // Members carry no display: the schema has none, and a 100,000-member
                    // list should not join the users table.
                    "SELECT m.group_id, m.member_id, m.member_type, NULL FROM group_members m \
                     WHERE m.account_id = ",
                ),
                ResourceKind::User => Sql::new(
                    // One table in the outer query, so the planner takes the member index
                    // (a join let it scan the account's memberships by primary key).
                    "SELECT m.member_id, m.group_id, 'Group', \
                     (SELECT g.display_name FROM scim_groups g WHERE g.account_id = m.account_id AND g.id = m.group_id) \
                     FROM group_members m WHERE m.account_id = ",
                ),
            };
            sql.bind_int(account).push(match kind {
                ResourceKind::Group => " AND m.group_id IN (",
                ResourceKind::User => " AND m.member_id IN (",
            });
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind_text(id.clone());
            }
            sql.push(") ORDER BY 1, 2");
            for row in self.fetch_all(&sql).await? {
                let owner: String = row.try_get(0)?;
                let id: String = row.try_get(1)?;
                let ty: String = row.try_get(2)?;
                let display: Option<String> = row.try_get(3)?;
                found.entry(owner).or_default().push(MemberRef {
                    id,
                    kind: if ty == "Group" {
                        ResourceKind::Group
                    } else {
                        ResourceKind::User
                    },
                    display,
                });
            }
        }
        for item in items.iter_mut() {
            item.refs = Some(found.remove(&item.id).unwrap_or_default());
        }
        Ok(())
    }

    /// Groups whose displayName another group of their account shares (case-insensitively):
    /// only possible for groups named before names were unique. Every account, or one.
    pub async fn shared_group_names(
        &mut self,
        account: Option<i64>,
    ) -> Result<Vec<SharedGroupName>> {
        // The shared names come from the partial index of groups holding a key of their
        // own; each name's groups from the name index.
        let mut sql = Sql::new(
            "SELECT a.slug, g.display_name_lc, g.id, g.display_name, g.created \
             FROM (SELECT DISTINCT account_id, display_name_lc FROM scim_groups \
             WHERE name_key <> display_name_lc",
        );
        if let Some(a) = account {
            sql.push(" AND account_id = ").bind_int(a);
        }
        sql.push(
            ") s JOIN scim_groups g ON g.account_id = s.account_id \
             AND g.display_name_lc = s.display_name_lc \
             JOIN accounts a ON a.id = g.account_id \
             ORDER BY a.slug, g.display_name_lc, g.created, g.id",
        );
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| -> Result<SharedGroupName> {
                Ok(SharedGroupName {
                    account: r.try_get(0)?,
                    name_lc: r.try_get(1)?,
                    id: r.try_get(2)?,
                    display_name: r.try_get(3)?,
                    created: r.try_get(4)?,
                })
            })
            .collect()
    }

    /// Which of `ids` are users or groups of the account.
    pub async fn resource_kinds(
        &mut self,
        account: i64,
        ids: &[String],
    ) -> Result<HashMap<String, ResourceKind>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            for (kind, t) in [
                (ResourceKind::User, "users"),
                (ResourceKind::Group, "scim_groups"),
            ] {
                let mut sql = Sql::new(&format!("SELECT id FROM {t} WHERE account_id = "));
                sql.bind_int(account).push(" AND id IN (");
                for (i, id) in chunk.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.bind_text(id.clone());
                }
                sql.push(")");
                for row in self.fetch_all(&sql).await? {
                    out.insert(row.try_get::<String, _>(0)?, kind);
                }
            }
        }
        Ok(out)
    }
}

impl WriteTx {
    /// Locks a resource's row until commit (PostgreSQL; SQLite's one writer already
    /// excludes the others), so that what a write reads next stays current: a PATCH that
    /// named no version then never loses a version race, it waits its turn.
    pub async fn lock_resource(
        &mut self,
        account: i64,
        kind: ResourceKind,
        id: &str,
    ) -> Result<()> {
        if self.backend == super::Backend::Sqlite {
            return Ok(());
        }
        let mut sql = Sql::new(&format!(
            "SELECT 1 FROM {} WHERE account_id = ",
            table(kind)
        ));
        sql.bind_int(account)
            .push(" AND id = ")
            .bind_text(id)
            .push(self.backend.for_update(false));
        self.fetch_optional(&sql).await?;
        Ok(())
    }

    pub async fn insert_resource(
        &mut self,
        account: i64,
        kind: ResourceKind,
        id: &str,
        doc: &Map<String, Value>,
        now: &str,
        by_idp: bool,
    ) -> Result<i64> {
        let c = columns(doc);
        // Made by an identity provider: seen by it now (`last_seen_by_idp`), in the insert.
        let seen = opt_text(by_idp.then_some(now));
        let mut sql = Sql::default();
        match kind {
            ResourceKind::User => {
                let user_name = c.user_name.clone().unwrap_or_default();
                sql.push("INSERT INTO users (account_id, id, user_name, user_name_lc, external_id, display_name, display_name_lc, active, suspended_at, version, created, last_modified, doc, last_seen_by_idp) VALUES (")
                    .bind_int(account).push(", ")
                    .bind_text(id).push(", ")
                    .bind_text(user_name.clone()).push(", ")
                    .bind_text(user_name.to_lowercase()).push(", ")
                    .bind(opt_text(c.external_id.as_deref())).push(", ")
                    .bind(opt_text(c.display_name.as_deref())).push(", ")
                    .bind(opt_text(c.display_name.map(|d| d.to_lowercase()).as_deref())).push(", ")
                    .bind_int(i64::from(c.active)).push(", ")
                    // A user made suspended is suspended from now on (the purge counts from it).
                    .bind(opt_text((!c.active).then_some(now))).push(", 1, ")
                    .bind_text(now).push(", ")
                    .bind_text(now).push(", ")
                    .bind_text(doc_text(doc)).push(", ")
                    .bind(seen.clone()).push(")");
            }
            ResourceKind::Group => {
                let display = c.display_name.unwrap_or_default();
                // `name_key`: the unique key of a group's name in the account (a taken
                // name is `UniqueKey::GroupName`).
                sql.push("INSERT INTO scim_groups (account_id, id, display_name, display_name_lc, name_key, external_id, version, created, last_modified, doc, last_seen_by_idp) VALUES (")
                    .bind_int(account).push(", ")
                    .bind_text(id).push(", ")
                    .bind_text(display.clone()).push(", ")
                    .bind_text(display.to_lowercase()).push(", ")
                    .bind_text(display.to_lowercase()).push(", ")
                    .bind(opt_text(c.external_id.as_deref())).push(", 1, ")
                    .bind_text(now).push(", ")
                    .bind_text(now).push(", ")
                    .bind_text(doc_text(doc)).push(", ")
                    .bind(seen.clone()).push(")");
            }
        }
        self.execute(&sql).await?;
        if kind == ResourceKind::User {
            // A new user has no email rows to clear.
            self.write_emails(account, id, doc, false).await?;
        }
        Ok(1)
    }

    async fn write_emails(
        &mut self,
        account: i64,
        user: &str,
        doc: &Map<String, Value>,
        replace: bool,
    ) -> Result<()> {
        if replace {
            let mut del = Sql::new("DELETE FROM user_emails WHERE account_id = ");
            del.bind_int(account)
                .push(" AND user_id = ")
                .bind_text(user);
            self.execute(&del).await?;
        }
        let Some(Value::Array(emails)) = doc.get("emails") else {
            return Ok(());
        };
        if emails.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new(
            "INSERT INTO user_emails (account_id, user_id, position, value, value_lc, type, primary_, display) VALUES ",
        );
        for (i, e) in emails.iter().enumerate() {
            let text = |k: &str| e.get(k).and_then(Value::as_str);
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind_int(account)
                .push(", ")
                .bind_text(user)
                .push(", ")
                .bind_int(i as i64)
                .push(", ")
                .bind(opt_text(text("value")))
                .push(", ")
                .bind(opt_text(text("value").map(str::to_lowercase).as_deref()))
                .push(", ")
                .bind(opt_text(text("type")))
                .push(", ")
                .bind_int(i64::from(
                    e.get("primary").and_then(Value::as_bool).unwrap_or(false),
                ))
                .push(", ")
                .bind(opt_text(text("display")))
                .push(")");
        }
        self.execute(&sql).await?;
        Ok(())
    }

    /// Replaces the document; with `expected`, only when the row is at that version.
    pub async fn update_resource(
        &mut self,
        account: i64,
        kind: ResourceKind,
        id: &str,
        doc: &Map<String, Value>,
        now: &str,
        expected: Option<i64>,
    ) -> Result<Written> {
        let c = columns(doc);
        let mut sql = Sql::default();
        match kind {
            ResourceKind::User => {
                let user_name = c.user_name.clone().unwrap_or_default();
                sql.push("UPDATE users SET user_name = ")
                    .bind_text(user_name.clone())
                    .push(", user_name_lc = ")
                    .bind_text(user_name.to_lowercase())
                    .push(", external_id = ")
                    .bind(opt_text(c.external_id.as_deref()))
                    .push(", display_name = ")
                    .bind(opt_text(c.display_name.as_deref()))
                    .push(", display_name_lc = ")
                    .bind(opt_text(
                        c.display_name.map(|d| d.to_lowercase()).as_deref(),
                    ))
                    .push(", active = ")
                    .bind_int(i64::from(c.active));
                if c.active {
                    // Active again: no longer suspended, nor deleted as the identity provider
                    // saw it (its userName is its own again, unless a user took it meanwhile:
                    // the unique key then refuses this write).
                    sql.push(", suspended_at = NULL, idp_deleted_at = NULL, deleted_key = ''");
                } else {
                    sql.push(", suspended_at = COALESCE(suspended_at, ")
                        .bind_text(now)
                        .push(")");
                }
            }
            ResourceKind::Group => {
                let display = c.display_name.unwrap_or_default();
                let lc = display.to_lowercase();
                // A group that keeps its name keeps its key: one that shared its name before
                // names were unique (its key is its own, see the 0010 migration) can still be
                // changed in every other way.
                sql.push("UPDATE scim_groups SET name_key = CASE WHEN display_name_lc = ")
                    .bind_text(lc.clone())
                    .push(" THEN COALESCE(name_key, display_name_lc) ELSE ")
                    .bind_text(lc.clone())
                    .push(" END, display_name = ")
                    .bind_text(display.clone())
                    .push(", display_name_lc = ")
                    .bind_text(lc)
                    .push(", external_id = ")
                    .bind(opt_text(c.external_id.as_deref()));
            }
        }
        sql.push(", doc = ")
            .bind_text(doc_text(doc))
            .push(", last_modified = ")
            .bind_text(now)
            .push(", version = version + 1");
        self.where_version(&mut sql, account, id, expected);
        if self.execute(&sql).await? == 0 {
            return self.why_not_written(account, kind, id).await;
        }
        match kind {
            ResourceKind::User => self.write_emails(account, id, doc, true).await?,
            ResourceKind::Group => self.hand_on_shared_name(account).await?,
        }
        self.version_of(account, kind, id).await
    }

    /// Bumps version and lastModified after a membership change.
    pub async fn touch_resource(
        &mut self,
        account: i64,
        kind: ResourceKind,
        id: &str,
        now: &str,
        expected: Option<i64>,
    ) -> Result<Written> {
        let mut sql = Sql::new(&format!("UPDATE {} SET last_modified = ", table(kind)));
        sql.bind_text(now).push(", version = version + 1");
        self.where_version(&mut sql, account, id, expected);
        if self.execute(&sql).await? == 0 {
            return self.why_not_written(account, kind, id).await;
        }
        self.version_of(account, kind, id).await
    }

    async fn why_not_written(
        &mut self,
        account: i64,
        kind: ResourceKind,
        id: &str,
    ) -> Result<Written> {
        Ok(match self.version_of(account, kind, id).await? {
            Written::Done { version } => Written::Stale { current: version },
            other => other,
        })
    }

    /// Deletes a resource and every membership it had or was.
    pub async fn delete_resource(
        &mut self,
        account: i64,
        kind: ResourceKind,
        id: &str,
        expected: Option<i64>,
    ) -> Result<Written> {
        let mut sql = Sql::new(&format!("DELETE FROM {}", table(kind)));
        self.where_version(&mut sql, account, id, expected);
        if self.execute(&sql).await? == 0 {
            return self.why_not_written(account, kind, id).await;
        }
        let mut m = Sql::new("DELETE FROM group_members WHERE account_id = ");
        m.bind_int(account).push(" AND member_id = ").bind_text(id);
        self.execute(&m).await?;
        match kind {
            ResourceKind::Group => {
                let mut m = Sql::new("DELETE FROM group_members WHERE account_id = ");
                m.bind_int(account).push(" AND group_id = ").bind_text(id);
                self.execute(&m).await?;
                self.hand_on_shared_name(account).await?;
            }
            ResourceKind::User => {
                let mut e = Sql::new("DELETE FROM user_emails WHERE account_id = ");
                e.bind_int(account).push(" AND user_id = ").bind_text(id);
                self.execute(&e).await?;
            }
        }
        self.delete_ext_values(account, id).await?;
        Ok(Written::Done { version: 0 })
    }

    /// When a group that held a name shared since before names were unique is renamed or
    /// deleted, the next group of that name (by created, then id) takes the name's key, so
    /// that no new group can take the name while one still has it. Groups holding a key of
    /// their own are few (usually none) and found through their partial index.
    async fn hand_on_shared_name(&mut self, account: i64) -> Result<()> {
        let mut sql =
            Sql::new("UPDATE scim_groups SET name_key = display_name_lc WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND id = (SELECT g.id FROM scim_groups g WHERE g.account_id = ")
            .bind_int(account)
            .push(
                " AND g.name_key <> g.display_name_lc AND NOT EXISTS (SELECT 1 FROM scim_groups h \
                 WHERE h.account_id = g.account_id AND h.name_key = g.display_name_lc) \
                 ORDER BY g.created, g.id LIMIT 1)",
            );
        self.execute(&sql).await?;
        Ok(())
    }

    /// Adds members; ones already there are left alone. Returns how many were new.
    pub async fn add_members(
        &mut self,
        account: i64,
        group: &str,
        members: &[(String, ResourceKind)],
    ) -> Result<u64> {
        let mut added = 0;
        for chunk in members.chunks(CHUNK) {
            let mut sql = Sql::new(
                "INSERT INTO group_members (account_id, group_id, member_id, member_type) VALUES ",
            );
            for (i, (id, kind)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(")
                    .bind_int(account)
                    .push(", ")
                    .bind_text(group)
                    .push(", ")
                    .bind_text(id.clone())
                    .push(", ")
                    .bind(Arg::Text(kind.name().to_string()))
                    .push(")");
            }
            sql.push(" ON CONFLICT DO NOTHING");
            added += self.execute(&sql).await?;
        }
        Ok(added)
    }

    pub async fn remove_members(
        &mut self,
        account: i64,
        group: &str,
        ids: &[String],
    ) -> Result<u64> {
        let mut removed = 0;
        for chunk in ids.chunks(CHUNK) {
            let mut sql = Sql::new("DELETE FROM group_members WHERE account_id = ");
            sql.bind_int(account)
                .push(" AND group_id = ")
                .bind_text(group)
                .push(" AND member_id IN (");
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind_text(id.clone());
            }
            sql.push(")");
            removed += self.execute(&sql).await?;
        }
        Ok(removed)
    }

    pub async fn clear_members(&mut self, account: i64, group: &str) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM group_members WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND group_id = ")
            .bind_text(group);
        self.execute(&sql).await
    }
}

/// A list can fail on the query (a filter the SQL cannot express) or in the database.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("{0}")]
    Query(crate::scim::ScimError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ListError {
    fn from(e: sqlx::Error) -> Self {
        ListError::Store(StoreError::from(e))
    }
}
