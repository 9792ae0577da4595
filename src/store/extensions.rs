//! Custom schema extensions: the documents an account registered, the number that changes
//! with them, the indexed values of their attributes, and the counts of attributes no schema
//! defines.

use sqlx::Row;

use crate::scim::extension::IndexedValue;
use crate::scim::ResourceKind;

use super::sql::Sql;
use super::{ReadConn, Result, WriteTx};

/// A registered extension as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRow {
    pub urn: String,
    /// `User` or `Group`.
    pub resource_type: String,
    pub doc: String,
    pub created: String,
}

/// One line of the report of unmapped attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmappedRow {
    pub connection: String,
    pub resource_type: String,
    pub attribute: String,
    pub count: i64,
    pub first_seen: String,
    pub last_seen: String,
}

impl ReadConn {
    pub async fn custom_schemas(&mut self, account: i64) -> Result<Vec<SchemaRow>> {
        let mut sql = Sql::new(
            "SELECT urn, resource_type, doc, created FROM custom_schemas WHERE account_id = ",
        );
        sql.bind_int(account).push(" ORDER BY created, urn_lc");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(SchemaRow {
                    urn: r.try_get(0)?,
                    resource_type: r.try_get(1)?,
                    doc: r.try_get(2)?,
                    created: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The account's schema number: it changes whenever an extension is added or removed.
    pub async fn schemas_version(&mut self, account: i64) -> Result<i64> {
        if let Some((a, v)) = self.schemas_hint {
            if a == account {
                return Ok(v);
            }
        }
        let mut sql = Sql::new("SELECT schemas_version FROM accounts WHERE id = ");
        sql.bind_int(account);
        Ok(match self.fetch_optional(&sql).await? {
            Some(row) => row.try_get(0)?,
            None => 0,
        })
    }

    /// Takes `version` as the account's schema number for the rest of this connection's
    /// use (the number a request authenticated with; a change of the schemas in the same
    /// transaction forgets it).
    pub fn assume_schemas_version(&mut self, account: i64, version: i64) {
        self.schemas_hint = Some((account, version));
    }

    /// The ids and documents of every resource of `kind` whose document holds `urn`, a page
    /// at a time (ids after `after`, in order).
    pub async fn documents_holding(
        &mut self,
        account: i64,
        kind: ResourceKind,
        urn: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        let table = match kind {
            ResourceKind::User => "users",
            ResourceKind::Group => "scim_groups",
        };
        let mut sql = Sql::new(&format!("SELECT id, doc FROM {table} WHERE account_id = "));
        // The URN is a JSON key in the document text: a plain substring test finds every
        // candidate (the caller parses each to be sure).
        sql.bind_int(account)
            .push(" AND id > ")
            .bind_text(after)
            .push(" AND doc LIKE ")
            .bind_text(format!("%\"{}\"%", like_escaped(urn)))
            .push(" ESCAPE '\\' ORDER BY id LIMIT ")
            .bind_int(limit);
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Another resource holding `value` of a unique custom attribute.
    pub async fn ext_value_holder(
        &mut self,
        account: i64,
        attr: &str,
        value: &str,
        except: &str,
    ) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT resource_id FROM ext_values WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND attr = ")
            .bind_text(attr)
            .push(" AND value = ")
            .bind_text(value)
            .push(" AND uniq = 1 AND resource_id <> ")
            .bind_text(except)
            .push(" LIMIT 1");
        Ok(match self.fetch_optional(&sql).await? {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    pub async fn unmapped_report(&mut self, account: i64) -> Result<Vec<UnmappedRow>> {
        let mut sql = Sql::new(
            "SELECT connection, resource_type, attribute, count, first_seen, last_seen \
             FROM unmapped_attributes WHERE account_id = ",
        );
        sql.bind_int(account)
            .push(" ORDER BY connection, resource_type, attribute");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| {
                Ok(UnmappedRow {
                    connection: r.try_get(0)?,
                    resource_type: r.try_get(1)?,
                    attribute: r.try_get(2)?,
                    count: r.try_get(3)?,
                    first_seen: r.try_get(4)?,
                    last_seen: r.try_get(5)?,
                })
            })
            .collect()
    }
}

/// `%`, `_` and `\` matched literally by `LIKE ... ESCAPE '\'`.
fn like_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl WriteTx {
    pub async fn insert_custom_schema(&mut self, account: i64, row: &SchemaRow) -> Result<()> {
        let mut sql = Sql::new(
            "INSERT INTO custom_schemas (account_id, urn, urn_lc, resource_type, doc, created) VALUES (",
        );
        sql.bind_int(account)
            .push(", ")
            .bind_text(row.urn.clone())
            .push(", ")
            .bind_text(row.urn.to_lowercase())
            .push(", ")
            .bind_text(row.resource_type.clone())
            .push(", ")
            .bind_text(row.doc.clone())
            .push(", ")
            .bind_text(row.created.clone())
            .push(")");
        self.execute(&sql).await?;
        self.bump_schemas_version(account).await
    }

    /// Removes an extension and its indexed values; false when the account has no such
    /// extension. The values stay in the documents (registering the URN again brings them
    /// back).
    pub async fn delete_custom_schema(&mut self, account: i64, urn: &str) -> Result<bool> {
        let mut sql = Sql::new("DELETE FROM custom_schemas WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND urn_lc = ")
            .bind_text(urn.to_lowercase());
        if self.execute(&sql).await? == 0 {
            return Ok(false);
        }
        let mut values = Sql::new("DELETE FROM ext_values WHERE account_id = ");
        values
            .bind_int(account)
            .push(" AND attr LIKE ")
            .bind_text(format!("{}:%", like_escaped(&urn.to_lowercase())))
            .push(" ESCAPE '\\'");
        self.execute(&values).await?;
        self.bump_schemas_version(account).await?;
        Ok(true)
    }

    async fn bump_schemas_version(&mut self, account: i64) -> Result<()> {
        self.schemas_hint = None;
        let mut sql =
            Sql::new("UPDATE accounts SET schemas_version = schemas_version + 1 WHERE id = ");
        sql.bind_int(account);
        self.execute(&sql).await?;
        Ok(())
    }

    /// Replaces the indexed values of one resource.
    pub async fn write_ext_values(
        &mut self,
        account: i64,
        kind: ResourceKind,
        id: &str,
        values: &[IndexedValue],
        replace: bool,
    ) -> Result<()> {
        if replace {
            self.delete_ext_values(account, id).await?;
        }
        if values.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::new(
            "INSERT INTO ext_values (account_id, resource_type, resource_id, attr, value, num, uniq) VALUES ",
        );
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind_int(account)
                .push(", ")
                .bind_text(kind.name())
                .push(", ")
                .bind_text(id)
                .push(", ")
                .bind_text(v.attr.clone())
                .push(", ");
            match &v.value {
                Some(t) => sql.bind_text(t.clone()),
                None => sql.push("NULL"),
            };
            sql.push(", ");
            match v.num {
                Some(n) if n.is_finite() => sql.bind(super::sql::Arg::Real(n)),
                _ => sql.push("NULL"),
            };
            sql.push(", ").bind_int(i64::from(v.unique)).push(")");
        }
        self.execute(&sql).await?;
        Ok(())
    }

    pub async fn delete_ext_values(&mut self, account: i64, id: &str) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM ext_values WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND resource_id = ")
            .bind_text(id);
        self.execute(&sql).await?;
        Ok(())
    }

    /// Counts attributes a connection sent that no schema defines.
    pub async fn count_unmapped(
        &mut self,
        account: i64,
        connection: &str,
        resource_type: &str,
        attributes: &[String],
        now: &str,
    ) -> Result<()> {
        for attribute in attributes {
            let mut sql = Sql::new(
                "INSERT INTO unmapped_attributes (account_id, connection, resource_type, attribute, count, first_seen, last_seen) VALUES (",
            );
            sql.bind_int(account)
                .push(", ")
                .bind_text(connection)
                .push(", ")
                .bind_text(resource_type)
                .push(", ")
                .bind_text(attribute.clone())
                .push(", 1, ")
                .bind_text(now)
                .push(", ")
                .bind_text(now)
                .push(
                    ") ON CONFLICT (account_id, connection, resource_type, attribute) DO UPDATE SET \
                     count = unmapped_attributes.count + 1, last_seen = excluded.last_seen",
                );
            self.execute(&sql).await?;
        }
        Ok(())
    }
}
