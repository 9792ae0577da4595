//! Mapping rules (a group or a SCIM filter -> a product) and what evaluating them needs:
//! whether a user matches a rule's filter, compiled to SQL like any list filter.

use sqlx::Row;

use crate::scim::query::Expr;
use crate::scim::ResourceKind;

use super::filter::FilterCompiler;
use super::resources::ListError;
use super::sql::{opt_text, Sql};
use super::{ReadConn, Result, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    pub id: String,
    pub product: String,
    pub group_id: Option<String>,
    pub filter: Option<String>,
    pub created: String,
}

impl ReadConn {
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
}

impl WriteTx {
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
}
