//! Mapping rules: members of a group, or users matching a SCIM filter, hold a product. A
//! rule added or deleted is applied to every user at once, in the same transaction.

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::auth::jwt::AdminPrincipal;
use crate::scim::query::compile_filter;
use crate::scim::ResourceKind;
use crate::store::pools::Pool;
use crate::store::resources::ListError;
use crate::store::rules::RuleRow;
use crate::store::StoreError;

use super::authz::require_write;
use super::error::{EngineError, ErrorCode};
use super::forecast::{Forecast, Run};
use super::resources::seat_summary;
use super::seats::SeatChange;
use super::synclog::{Change, Ctx, Draft};
use super::Engine;

/// `POST /admin/v1/rules`: a product and either a group id or a SCIM filter.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    #[validate(custom(
        function = "super::input::product_name",
        message = "product must be a product name (lower-case letters, digits, '-', '_')"
    ))]
    pub product: String,
    #[validate(length(min = 1, max = 1024, message = "group is a group's id"))]
    pub group: Option<String>,
    #[validate(length(
        min = 1,
        max = 65536,
        code = "invalid_filter",
        message = "filter is a SCIM filter of at most 64 KiB"
    ))]
    pub filter: Option<String>,
}

impl super::input::Input for NewRule {
    const FIELDS: &'static [&'static str] = &["product", "group", "filter"];
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub id: String,
    pub product: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    pub created: String,
}

impl From<RuleRow> for RuleView {
    fn from(r: RuleRow) -> Self {
        RuleView {
            id: r.id,
            product: r.product,
            group: r.group_id,
            filter: r.filter,
            created: r.created,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleList {
    pub rules: Vec<RuleView>,
}

/// A rule just added, and the seats it moved.
#[derive(Debug, Clone, Serialize)]
pub struct RuleAdded {
    #[serde(flatten)]
    pub rule: RuleView,
    pub seat_changes: Vec<SeatChange>,
}

/// A rule just deleted, and the seats that moved.
#[derive(Debug, Clone, Serialize)]
pub struct RuleDeleted {
    pub deleted: String,
    pub seat_changes: Vec<SeatChange>,
}

impl Engine {
    pub async fn rules(&self, ap: &AdminPrincipal) -> Result<RuleList, EngineError> {
        let rows = self.store.read().await?.list_rules(ap.account_id).await?;
        Ok(RuleList {
            rules: rows.into_iter().map(RuleView::from).collect(),
        })
    }

    /// Adds a rule and applies it at once.
    pub async fn add_rule(
        &self,
        ap: &AdminPrincipal,
        input: &NewRule,
        ctx: &Ctx,
    ) -> Result<RuleAdded, EngineError> {
        Ok(self.add_rule_run(ap, input, ctx, Run::Real).await?.0)
    }

    /// What `add_rule` would do to seats, written nowhere (`?dry_run=true`).
    pub async fn forecast_add_rule(
        &self,
        ap: &AdminPrincipal,
        input: &NewRule,
        ctx: &Ctx,
    ) -> Result<Forecast, EngineError> {
        let (added, pools) = self.add_rule_run(ap, input, ctx, Run::Dry).await?;
        self.forecast(ap.account_id, &added.seat_changes, &pools, &[])
            .await
    }

    async fn add_rule_run(
        &self,
        ap: &AdminPrincipal,
        input: &NewRule,
        ctx: &Ctx,
        run: Run,
    ) -> Result<(RuleAdded, Vec<Pool>), EngineError> {
        let mut attempt = 0;
        loop {
            match self.add_rule_once(ap, input, ctx, run).await {
                Err(e) if super::retry::again_admin(&e, &mut attempt).await => continue,
                r => return r,
            }
        }
    }

    async fn add_rule_once(
        &self,
        ap: &AdminPrincipal,
        input: &NewRule,
        ctx: &Ctx,
        run: Run,
    ) -> Result<(RuleAdded, Vec<Pool>), EngineError> {
        if run == Run::Real {
            require_write(ap)?;
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        let mut filter_notes = vec![];
        match (&input.group, &input.filter) {
            (Some(g), None) => {
                if tx
                    .get_resource(ap.account_id, ResourceKind::Group, g)
                    .await?
                    .is_none()
                {
                    return Err(EngineError::invalid(
                        ErrorCode::UnknownGroup,
                        "group",
                        format!("no group with id {g} in this account"),
                    ));
                }
            }
            (None, Some(f)) => {
                let parsed = crate::scim::limits::parse_filter_noted(f, &mut filter_notes)
                    .map_err(|e| {
                        EngineError::invalid(ErrorCode::InvalidFilter, "filter", e.render(f))
                    })?;
                let reg = self.registry_in(&mut tx, ap.account_id).await?;
                let expr = compile_filter(&reg, ResourceKind::User, &parsed).map_err(|e| {
                    EngineError::invalid(ErrorCode::InvalidFilter, "filter", e.public_detail())
                })?;
                // Run its SQL once before storing it: a rule the database cannot evaluate
                // would fail every later user create.
                tx.user_matches(ap.account_id, "", &expr)
                    .await
                    .map_err(|e| match e {
                        ListError::Query(e) => EngineError::invalid(
                            ErrorCode::InvalidFilter,
                            "filter",
                            e.public_detail(),
                        ),
                        ListError::Store(e @ (StoreError::Busy | StoreError::Contention(_))) => {
                            EngineError::from(e)
                        }
                        ListError::Store(e) => {
                            tracing::warn!(error = %e, "a rule's filter failed in the database");
                            EngineError::invalid(
                                ErrorCode::InvalidFilter,
                                "filter",
                                "the database cannot evaluate this filter: make it smaller",
                            )
                        }
                    })?;
            }
            _ => {
                return Err(EngineError::invalid(
                    ErrorCode::InvalidRule,
                    "group",
                    "a rule names either a group or a filter, not both and not neither",
                ))
            }
        }
        let rule = RuleRow {
            id: uuid::Uuid::new_v4().to_string(),
            product: input.product.clone(),
            group_id: input.group.clone(),
            filter: input.filter.clone(),
            created: now.clone(),
        };
        tx.insert_rule(ap.account_id, &rule).await?;
        let mut changes = vec![];
        self.reconcile_all(&mut tx, ap.account_id, &now, &mut changes)
            .await?;
        let mut draft = Draft::new(None, "rule", Some(&rule.id));
        draft.resource_type = Some("Rule");
        for n in filter_notes {
            draft.notes.push(n);
        }
        draft.changes = vec![Change {
            attribute: "rule".into(),
            old: None,
            new: Some(serde_json::json!({
                "product": rule.product, "group": rule.group_id, "filter": rule.filter
            })),
        }];
        draft.seat_changes = changes.clone();
        draft.step(format!("rules and seats: {}", seat_summary(&changes)));
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 201)
            .await?;
        let pools = self.end_change(tx, ap.account_id, run).await?;
        Ok((
            RuleAdded {
                rule: RuleView::from(rule),
                seat_changes: changes,
            },
            pools,
        ))
    }

    pub async fn delete_rule(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
    ) -> Result<RuleDeleted, EngineError> {
        Ok(self.delete_rule_run(ap, id, ctx, Run::Real).await?.0)
    }

    /// What `delete_rule` would do to seats, written nowhere (`?dry_run=true`).
    pub async fn forecast_delete_rule(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
    ) -> Result<Forecast, EngineError> {
        let (deleted, pools) = self.delete_rule_run(ap, id, ctx, Run::Dry).await?;
        self.forecast(ap.account_id, &deleted.seat_changes, &pools, &[])
            .await
    }

    async fn delete_rule_run(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
        run: Run,
    ) -> Result<(RuleDeleted, Vec<Pool>), EngineError> {
        let mut attempt = 0;
        loop {
            match self.delete_rule_once(ap, id, ctx, run).await {
                Err(e) if super::retry::again_admin(&e, &mut attempt).await => continue,
                r => return r,
            }
        }
    }

    async fn delete_rule_once(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
        run: Run,
    ) -> Result<(RuleDeleted, Vec<Pool>), EngineError> {
        if run == Run::Real {
            require_write(ap)?;
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        if !tx.delete_rule(ap.account_id, id).await? {
            return Err(EngineError::not_found(format!("no rule {id}")));
        }
        let mut changes = vec![];
        self.reconcile_all(&mut tx, ap.account_id, &now, &mut changes)
            .await?;
        let mut draft = Draft::new(None, "rule", Some(id));
        draft.resource_type = Some("Rule");
        draft.changes = vec![Change {
            attribute: "rule".into(),
            old: Some(serde_json::Value::String(id.to_string())),
            new: None,
        }];
        draft.seat_changes = changes.clone();
        draft.step(format!("rules and seats: {}", seat_summary(&changes)));
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
            .await?;
        let pools = self.end_change(tx, ap.account_id, run).await?;
        Ok((
            RuleDeleted {
                deleted: id.to_string(),
                seat_changes: changes,
            },
            pools,
        ))
    }
}
