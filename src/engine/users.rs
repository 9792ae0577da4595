//! Users as the account admin handles them: listed with the SCIM filter grammar, added one
//! by hand (the same path as one row of an import), suspended, reactivated (the same path as
//! a SCIM PATCH of `active`) and deleted.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use validator::Validate;

use crate::auth::jwt::AdminPrincipal;
use crate::auth::Principal;
use crate::scim::resource::Stored;
use crate::scim::{ResourceKind, ScimError, ScimType};
use crate::store::ReadConn;

use super::authz::{as_scim, require_write};
use super::error::{EngineError, ErrorCode, Fail};
use super::import::Row;
use super::seats::SeatChange;
use super::synclog::Ctx;
use super::Engine;

/// A user as the admin API shows one.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub id: String,
    pub user_name: Option<Value>,
    pub emails: Value,
    /// `active`, `held` (active: a deprovisioning waits in a hold for an admin),
    /// `suspended`, or `deleted_by_idp` (suspended, and deleted as the identity provider sees
    /// it: `delete_action` `suspend`).
    pub status: &'static str,
    /// Since when the user is suspended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_since: Option<String>,
    /// When the identity provider deleted the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_by_idp: Option<String>,
    /// The hold a deprovisioning of the user waits in (`GET /admin/v1/holds`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<String>,
    pub seats: Vec<SeatView>,
    pub version: i64,
    /// When an identity provider last created, changed or read the user by id (null:
    /// never); filled in by the views that show it.
    pub last_seen_by_idp: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SeatView {
    pub product: String,
    pub state: String,
    pub since: String,
}

impl From<&Stored> for UserView {
    fn from(s: &Stored) -> Self {
        UserView {
            id: s.id.clone(),
            user_name: s.doc.get("userName").cloned(),
            emails: s.doc.get("emails").cloned().unwrap_or(Value::Array(vec![])),
            status: s.status(),
            suspended_since: s.lifecycle.suspended_since.clone(),
            deleted_by_idp: s.lifecycle.deleted_by_idp.clone(),
            hold: s.lifecycle.held.clone(),
            seats: s
                .seats
                .iter()
                .flatten()
                .map(|seat| SeatView {
                    product: seat.product.clone(),
                    state: seat.state.clone(),
                    since: seat.since.clone(),
                })
                .collect(),
            version: s.version,
            last_seen_by_idp: None,
        }
    }
}

/// One page of users.
#[derive(Debug, Clone, Serialize)]
pub struct UserPage {
    pub total: u64,
    pub start_index: u64,
    pub users: Vec<UserView>,
}

/// A user after a suspend or reactivate, and the seats that moved.
#[derive(Debug, Clone, Serialize)]
pub struct UserChanged {
    pub user: UserView,
    pub seat_changes: Vec<SeatChange>,
}

/// A user added (or updated) by hand: an import row's report, without a line.
#[derive(Debug, Clone, Serialize)]
pub struct UserAdded {
    pub user_name: String,
    /// created, updated or unchanged
    pub result: &'static str,
    pub user_id: String,
    pub seats: Vec<Value>,
    pub conflicts: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserDeleted {
    pub deleted: String,
    pub seat_changes: Vec<SeatChange>,
}

/// `POST /admin/v1/users`: one user by hand, the columns of an import row.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[validate(custom(function = "email_address"))]
    pub email: String,
    #[serde(rename = "userName", default)]
    #[validate(length(max = 1024, message = "userName is at most 1024 characters"))]
    pub user_name: Option<String>,
    #[serde(rename = "givenName", default)]
    #[validate(length(max = 1024, message = "givenName is at most 1024 characters"))]
    pub given_name: Option<String>,
    #[serde(rename = "familyName", default)]
    #[validate(length(max = 1024, message = "familyName is at most 1024 characters"))]
    pub family_name: Option<String>,
    #[serde(default)]
    #[validate(custom(
        function = "products_named",
        code = "invalid_product",
        message = "products are product names (lower-case letters, digits, '-', '_')"
    ))]
    pub products: Vec<String>,
    #[serde(default)]
    #[validate(length(max = 1000, message = "at most 1000 groups"))]
    pub groups: Vec<String>,
    #[serde(default)]
    pub active: Option<bool>,
}

/// `validator` check: an email address by the one rule ([`crate::scim::email::check`]),
/// as `invalid_email` with what is wrong with it. Leading and trailing spaces are trimmed
/// before use, so they are not held against it.
pub(crate) fn email_address(addr: &str) -> Result<(), validator::ValidationError> {
    crate::scim::email::check(addr.trim()).map_err(|why| {
        validator::ValidationError::new("invalid_email")
            .with_message(format!("email is not an email address: {why}").into())
    })
}

fn products_named(products: &[String]) -> Result<(), validator::ValidationError> {
    products
        .iter()
        .try_for_each(|p| super::input::product_name(p))
}

impl super::input::Input for NewUser {
    const FIELDS: &'static [&'static str] = &[
        "email",
        "userName",
        "givenName",
        "familyName",
        "products",
        "groups",
        "active",
    ];
}

impl NewUser {
    /// The import row this user is.
    fn row(&self) -> Row {
        let email = self.email.trim().to_string();
        Row {
            line: None,
            user_name: self
                .user_name
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .unwrap_or(&email)
                .to_string(),
            email,
            given_name: trimmed(self.given_name.as_deref()),
            family_name: trimmed(self.family_name.as_deref()),
            products: listed(&self.products),
            groups: listed(&self.groups),
            active: self.active.unwrap_or(true),
            problem: None,
        }
    }
}

fn trimmed(s: Option<&str>) -> String {
    s.map(str::trim).unwrap_or_default().to_string()
}

fn listed(items: &[String]) -> Vec<String> {
    items
        .iter()
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .collect()
}

impl Engine {
    /// Users of the account, filtered with the SCIM grammar, one page.
    pub async fn admin_users(
        &self,
        ap: &AdminPrincipal,
        filter: Option<&str>,
        start_index: Option<&str>,
        count: Option<&str>,
    ) -> Result<UserPage, EngineError> {
        let params = crate::scim::list::ListParams {
            filter: filter.map(str::to_string),
            start_index: start_index.map(str::to_string),
            count: count.map(str::to_string),
            ..Default::default()
        };
        let reg = self.registry_for(ap.account_id, ap.schemas_version).await?;
        let q = params
            .compile(&reg, ResourceKind::User)
            .map_err(|e| match e.scim_type() {
                Some(ScimType::InvalidFilter) => {
                    EngineError::invalid(ErrorCode::InvalidFilter, "filter", e.public_detail())
                }
                _ => EngineError::from(e),
            })?;
        let p = as_scim(ap);
        let ctx = Ctx::new(
            format!("admin:{}", ap.subject),
            "GET",
            "/admin/v1/users",
            None,
        );
        let (total, items) = self.list_as(&p, ResourceKind::User, &q, &ctx, true).await?;
        let mut users: Vec<UserView> = items.iter().map(UserView::from).collect();
        self.with_last_seen(ap.account_id, &mut users).await?;
        Ok(UserPage {
            total,
            start_index: q.start_index,
            users,
        })
    }

    /// Adds (or updates) one user by hand: the same as one row of an import.
    pub async fn admin_add_user(
        &self,
        ap: &AdminPrincipal,
        input: &NewUser,
        ctx: &Ctx,
    ) -> Result<UserAdded, EngineError> {
        require_write(ap)?;
        let report = self
            .import_rows(ap, vec![input.row()], false, ctx, &|_, _| {})
            .await?;
        let row = report
            .report
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::internal("no row imported"))?;
        match (row.result, row.user_id) {
            ("failed", _) | (_, None) => Err(EngineError::refused(
                row.code.unwrap_or(ErrorCode::InvalidUser),
                row.reason.unwrap_or_default(),
            )),
            (result, Some(user_id)) => Ok(UserAdded {
                user_name: row.user_name,
                result,
                user_id,
                seats: row.seats,
                conflicts: row.conflicts,
            }),
        }
    }

    pub async fn admin_delete_user(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
    ) -> Result<UserDeleted, EngineError> {
        require_write(ap)?;
        let p = as_scim(ap);
        let seat_changes = self.delete(&p, ResourceKind::User, id, None, ctx).await?;
        Ok(UserDeleted {
            deleted: id.to_string(),
            seat_changes,
        })
    }

    /// Suspends (`active=false`) or reactivates a user through the same path as a SCIM
    /// PATCH: seats are freed or taken again per policy, in one transaction.
    pub async fn set_active(
        &self,
        ap: &AdminPrincipal,
        user: &str,
        active: bool,
        ctx: &Ctx,
    ) -> Result<UserChanged, EngineError> {
        require_write(ap)?;
        let p = as_scim(ap);
        let body = json!({"Operations": [{"op": "replace", "path": "active", "value": active}]});
        let out = self
            .patch(&p, ResourceKind::User, user, &body, None, false, ctx)
            .await?;
        let mut user = [UserView::from(&out.resource)];
        self.with_last_seen(ap.account_id, &mut user).await?;
        let [user] = user;
        Ok(UserChanged {
            user,
            seat_changes: out.seat_changes,
        })
    }

    /// A user of the principal's account, or 404.
    pub(crate) async fn load_user(
        &self,
        tx: &mut ReadConn,
        p: &Principal,
        id: &str,
    ) -> Result<Stored, Fail> {
        tx.get_resource(p.account_id, ResourceKind::User, id)
            .await?
            .ok_or_else(|| ScimError::not_found(format!("User {id} not found")).into())
    }
}
