//! The account admin's operations: license pools, settings, mapping rules, conflicts, and
//! suspending, reactivating and transferring users. Authorization is decided here: an
//! auditor reads, an admin also writes.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::auth::jwt::{self, AdminClaims, AdminPrincipal, Role};
use crate::auth::Principal;
use crate::grammar;
use crate::scim::patch;
use crate::scim::query::compile_filter;
use crate::scim::resource::{self, Stored};
use crate::scim::{ResourceKind, ScimError, ScimType};
use crate::store::seats::{Resize, RuleRow};
use crate::store::{StoreError, Tx};

use super::resources::seat_summary;
use super::seats::{Fail, SeatChange, GUIDANCE_EMAIL_IN_USE, GUIDANCE_NO_SEAT};
use super::settings::{valid_product, Settings};
use super::synclog::{diff, Change, Ctx, Draft};
use super::{store_error, Engine};

/// An admin API failure: a status class, a stable machine-readable code, words for people,
/// and the field it concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminError {
    Invalid {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    Conflict {
        code: &'static str,
        message: String,
    },
    Internal(String),
}

impl AdminError {
    fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> Self {
        AdminError::Invalid {
            code,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::from(store_error(e))
    }
}

impl From<ScimError> for AdminError {
    fn from(e: ScimError) -> Self {
        let message = e.public_detail().to_string();
        match e {
            ScimError::Internal { detail } => AdminError::Internal(detail),
            ScimError::NotFound { .. } => AdminError::NotFound(message),
            ScimError::Unauthorized { .. } => AdminError::Unauthorized(message),
            ScimError::Forbidden { .. } => AdminError::Forbidden(message),
            ScimError::Conflict { .. } => AdminError::Conflict {
                code: "email_in_use",
                message,
            },
            ScimError::NoSeat { .. } => AdminError::Conflict {
                code: "no_seat",
                message,
            },
            ScimError::PreconditionFailed { .. } => AdminError::Conflict {
                code: "changed_meanwhile",
                message,
            },
            ScimError::BadRequest { scim_type, .. } => AdminError::Invalid {
                code: match scim_type {
                    ScimType::InvalidFilter => "invalid_filter",
                    ScimType::InvalidPath => "invalid_path",
                    ScimType::InvalidSyntax => "invalid_json",
                    _ => "invalid_value",
                },
                message,
                field: None,
            },
            ScimError::Invalid { .. }
            | ScimError::MethodNotAllowed { .. }
            | ScimError::PayloadTooLarge { .. }
            | ScimError::TooManyRequests { .. }
            | ScimError::NotImplemented { .. } => AdminError::Invalid {
                code: "invalid_request",
                message,
                field: None,
            },
        }
    }
}

impl From<Fail> for AdminError {
    fn from(f: Fail) -> Self {
        AdminError::from(f.error)
    }
}

fn require_write(ap: &AdminPrincipal) -> Result<(), AdminError> {
    match ap.role {
        Role::Admin => Ok(()),
        Role::Auditor => Err(AdminError::Forbidden(
            "this is an auditor token: it can read everything and change nothing".into(),
        )),
    }
}

/// The SCIM principal an admin acts as when a change goes through the SCIM write path.
fn as_scim(ap: &AdminPrincipal) -> Principal {
    Principal {
        account_id: ap.account_id,
        account: ap.account.clone(),
        connection: format!("admin:{}", ap.subject),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolView {
    pub product: String,
    pub capacity: i64,
    pub assigned: i64,
    pub waitlisted: i64,
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

#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    pub id: String,
    pub kind: String,
    pub user_name: Option<String>,
    pub email: Option<String>,
    pub product: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub attempts: i64,
    pub status: String,
    pub resolved_at: Option<String>,
    pub guidance: &'static str,
}

/// A user as the admin API shows one.
pub fn user_view(s: &Stored) -> Value {
    let seats: Vec<Value> = s
        .seats
        .iter()
        .flatten()
        .map(|seat| json!({"product": seat.product, "state": seat.state, "since": seat.since}))
        .collect();
    let active = s.doc.get("active").and_then(Value::as_bool).unwrap_or(true);
    json!({
        "id": s.id,
        "user_name": s.doc.get("userName"),
        "emails": s.doc.get("emails").cloned().unwrap_or(Value::Array(vec![])),
        "status": if active { "active" } else { "suspended" },
        "seats": seats,
        "version": s.version,
    })
}

fn changes_view(changes: &[SeatChange]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|c| json!({"user_id": c.user_id, "product": c.product, "change": c.change}))
            .collect(),
    )
}

impl Engine {
    async fn admin_secret(&self) -> Result<Vec<u8>, StoreError> {
        let mut tx = self.store.write().await?;
        let fresh = crate::auth::new_token();
        let secret = tx.secret("admin_jwt_hs256", &fresh).await?;
        tx.commit().await?;
        Ok(secret.into_bytes())
    }

    /// Signs an admin token for the account.
    pub async fn issue_admin_token(
        &self,
        slug: &str,
        role: Role,
        ttl_hours: u32,
    ) -> Result<String, AdminError> {
        let account = {
            let mut tx = self.store.read().await?;
            tx.account_by_slug(slug)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no account '{slug}'")))?
        };
        let now = self.clock.now().timestamp();
        let claims = AdminClaims {
            sub: "admin".into(),
            account: account.slug,
            account_id: account.id,
            role,
            iss: jwt::ISSUER.into(),
            aud: jwt::AUDIENCE.into(),
            iat: now,
            exp: now + i64::from(ttl_hours.max(1)) * 3600,
        };
        let secret = self.admin_secret().await?;
        jwt::issue(&secret, &claims).map_err(|e| AdminError::Internal(e.to_string()))
    }

    pub async fn authenticate_admin(&self, token: &str) -> Result<AdminPrincipal, AdminError> {
        let secret = self.admin_secret().await?;
        let claims = jwt::verify(&secret, token).map_err(|_| {
            AdminError::Unauthorized(
                "the admin token is missing, invalid or expired; make one with `roster admin-token create`".into(),
            )
        })?;
        let mut tx = self.store.read().await?;
        match tx.account_by_slug(&claims.account).await? {
            Some(a) if a.id == claims.account_id => Ok(AdminPrincipal {
                account_id: a.id,
                account: a.slug,
                subject: claims.sub,
                role: claims.role,
            }),
            _ => Err(AdminError::Unauthorized(
                "the admin token's account no longer exists".into(),
            )),
        }
    }

    // ---- products and license pools ----

    pub async fn products(&self, ap: &AdminPrincipal) -> Result<Vec<PoolView>, AdminError> {
        let mut tx = self.store.read().await?;
        let mut out: Vec<PoolView> = tx
            .list_pools(ap.account_id)
            .await?
            .into_iter()
            .map(|p| PoolView {
                product: p.product,
                capacity: p.capacity,
                assigned: p.assigned,
                waitlisted: p.waitlisted,
            })
            .collect();
        // Products users wait for but nobody bought yet.
        for (product, waiting) in tx.waitlisted_without_pool(ap.account_id).await? {
            out.push(PoolView {
                product,
                capacity: 0,
                assigned: 0,
                waitlisted: waiting,
            });
        }
        out.sort_by(|a, b| a.product.cmp(&b.product));
        Ok(out)
    }

    /// Creates or resizes a pool, then serves its waitlist.
    pub async fn set_licenses(
        &self,
        ap: &AdminPrincipal,
        product: &str,
        seats: &Value,
        ctx: &Ctx,
    ) -> Result<(PoolView, Vec<SeatChange>), AdminError> {
        require_write(ap)?;
        if !valid_product(product) {
            return Err(AdminError::invalid(
                "invalid_product",
                "product",
                "a product name is lower-case letters, digits, '-' and '_' (at most 63)",
            ));
        }
        let seats = match seats.as_i64() {
            Some(n) if (0..=10_000_000).contains(&n) => n,
            _ => {
                return Err(AdminError::invalid(
                    "invalid_value",
                    "seats",
                    "seats must be a whole number from 0 to 10000000",
                ))
            }
        };
        let now = self.now();
        let mut tx = self.store.write().await?;
        let before = tx
            .list_pools(ap.account_id)
            .await?
            .into_iter()
            .find(|p| p.product == product)
            .map(|p| p.capacity);
        if let Resize::BelowAssigned { assigned } =
            tx.set_capacity(ap.account_id, product, seats, &now).await?
        {
            return Err(AdminError::Conflict {
                code: "seats_in_use",
                message: format!(
                    "{assigned} seats of '{product}' are assigned, more than {seats}: suspend or remove users (or change rules) to free seats first"
                ),
            });
        }
        let mut changes = vec![];
        self.serve_waitlist(&mut tx, ap.account_id, product, &now, &mut changes)
            .await?;
        let view = tx
            .list_pools(ap.account_id)
            .await?
            .into_iter()
            .find(|p| p.product == product)
            .map(|p| PoolView {
                product: p.product,
                capacity: p.capacity,
                assigned: p.assigned,
                waitlisted: p.waitlisted,
            })
            .ok_or_else(|| AdminError::Internal(format!("pool {product} vanished")))?;
        let mut draft = Draft::new(None, "licenses", Some(product));
        draft.resource_type = Some("Product");
        draft.changes = vec![Change {
            attribute: "capacity".into(),
            old: before.map(Value::from),
            new: Some(Value::from(seats)),
        }];
        draft.seat_changes = changes.clone();
        draft.step(format!("rules and seats: {}", seat_summary(&changes)));
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
            .await?;
        tx.commit().await?;
        Ok((view, changes))
    }

    /// The account's admin, for the command line (whoever runs it owns the database).
    pub async fn cli_principal(&self, slug: &str) -> Result<AdminPrincipal, AdminError> {
        let mut tx = self.store.read().await?;
        let account = tx
            .account_by_slug(slug)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no account '{slug}'")))?;
        Ok(AdminPrincipal {
            account_id: account.id,
            account: account.slug,
            subject: "cli".into(),
            role: Role::Admin,
        })
    }

    /// `roster licenses set`: the same as the admin API, acting as the account's admin.
    pub async fn cli_set_licenses(
        &self,
        slug: &str,
        product: &str,
        seats: i64,
    ) -> Result<(PoolView, Vec<SeatChange>), AdminError> {
        let account = {
            let mut tx = self.store.read().await?;
            tx.account_by_slug(slug)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no account '{slug}'")))?
        };
        let ap = AdminPrincipal {
            account_id: account.id,
            account: account.slug,
            subject: "cli".into(),
            role: Role::Admin,
        };
        let ctx = Ctx::new(
            "cli",
            "CLI",
            &format!("licenses set --product {product}"),
            None,
        );
        self.set_licenses(&ap, product, &Value::from(seats), &ctx)
            .await
    }

    // ---- IdP connections and their tokens ----

    pub async fn connections(&self, ap: &AdminPrincipal) -> Result<Value, AdminError> {
        let tokens = self.list_tokens(&ap.account).await.map_err(account_error)?;
        Ok(json!({"connections": tokens.into_iter().map(|t| json!({
            "id": t.id, "name": t.name, "created": t.created,
            "status": if t.revoked.is_some() { "revoked" } else { "live" },
            "revoked_at": t.revoked,
        })).collect::<Vec<_>>()}))
    }

    /// A new bearer token for a named connection; the token is in this answer only.
    pub async fn create_connection(
        &self,
        ap: &AdminPrincipal,
        body: &Value,
        ctx: &Ctx,
    ) -> Result<Value, AdminError> {
        require_write(ap)?;
        let name = match body.get("name").and_then(Value::as_str).map(str::trim) {
            Some(n) if !n.is_empty() && n.len() <= 100 => n.to_string(),
            _ => {
                return Err(AdminError::invalid(
                    "invalid_value",
                    "name",
                    "name is the connection's name, e.g. okta-prod",
                ))
            }
        };
        let token = self
            .create_token(&ap.account, &name)
            .await
            .map_err(account_error)?;
        let change = Change {
            attribute: "token".into(),
            old: None,
            new: Some(Value::String("[redacted]".into())),
        };
        self.log_admin(ap, ctx, "connection", Some(&name), vec![change])
            .await?;
        Ok(
            json!({"name": name, "token": token, "note": "shown once: store it in the identity provider now"}),
        )
    }

    /// Revokes a connection's live tokens, by connection name or token id.
    pub async fn revoke_connection(
        &self,
        ap: &AdminPrincipal,
        id_or_name: &str,
        ctx: &Ctx,
    ) -> Result<Value, AdminError> {
        require_write(ap)?;
        let n = self
            .revoke_token(&ap.account, id_or_name)
            .await
            .map_err(account_error)?;
        let change = Change {
            attribute: "revoked tokens".into(),
            old: None,
            new: Some(Value::from(n)),
        };
        self.log_admin(ap, ctx, "connection", Some(id_or_name), vec![change])
            .await?;
        Ok(json!({"revoked": n}))
    }

    /// Logs an admin action on a connection, in a transaction of its own.
    async fn log_admin(
        &self,
        ap: &AdminPrincipal,
        ctx: &Ctx,
        action: &'static str,
        subject: Option<&str>,
        changes: Vec<Change>,
    ) -> Result<(), AdminError> {
        let mut draft = Draft::new(None, action, subject);
        draft.resource_type = Some("Connection");
        draft.changes = changes;
        let mut tx = self.store.write().await?;
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- settings ----

    pub async fn settings(&self, ap: &AdminPrincipal) -> Result<Settings, AdminError> {
        let mut tx = self.store.read().await?;
        Ok(self.settings_in(&mut tx, ap.account_id).await?)
    }

    pub async fn patch_settings(
        &self,
        ap: &AdminPrincipal,
        patch: &Value,
        ctx: &Ctx,
    ) -> Result<(Settings, Vec<SeatChange>), AdminError> {
        require_write(ap)?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let current = self.settings_in(&mut tx, ap.account_id).await?;
        let next = current.patched(patch).map_err(|e| AdminError::Invalid {
            code: "invalid_setting",
            message: format!("{}: {}", e.field, e.message),
            field: Some(e.field),
        })?;
        tx.put_settings_doc(ap.account_id, &next.to_json().to_string())
            .await?;
        let mut changes = vec![];
        if next.default_products != current.default_products {
            self.reconcile_all(&mut tx, ap.account_id, &now, &mut changes)
                .await?;
        }
        let mut draft = Draft::new(None, "settings", None);
        draft.resource_type = Some("Settings");
        if let (Value::Object(a), Value::Object(b)) = (current.to_json(), next.to_json()) {
            draft.changes = diff(&a, &b);
        }
        draft.seat_changes = changes.clone();
        draft.step(format!("rules and seats: {}", seat_summary(&changes)));
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
            .await?;
        tx.commit().await?;
        Ok((next, changes))
    }

    // ---- mapping rules ----

    pub async fn rules(&self, ap: &AdminPrincipal) -> Result<Vec<RuleView>, AdminError> {
        let mut tx = self.store.read().await?;
        Ok(tx
            .list_rules(ap.account_id)
            .await?
            .into_iter()
            .map(|r| RuleView {
                id: r.id,
                product: r.product,
                group: r.group_id,
                filter: r.filter,
                created: r.created,
            })
            .collect())
    }

    /// Adds a rule `{"product": P, "group": GROUP_ID}` or `{"product": P, "filter": F}` and
    /// applies it at once.
    pub async fn add_rule(
        &self,
        ap: &AdminPrincipal,
        body: &Value,
        ctx: &Ctx,
    ) -> Result<(RuleView, Vec<SeatChange>), AdminError> {
        require_write(ap)?;
        let Some(obj) = body.as_object() else {
            return Err(AdminError::invalid(
                "invalid_json",
                "",
                "send a JSON object",
            ));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "product" | "group" | "filter"))
        {
            return Err(AdminError::invalid(
                "unknown_field",
                k,
                format!("unknown field '{k}'; a rule has product and either group or filter"),
            ));
        }
        let product = match obj.get("product").and_then(Value::as_str) {
            Some(p) if valid_product(p) => p.to_string(),
            _ => {
                return Err(AdminError::invalid(
                    "invalid_product",
                    "product",
                    "product must be a product name (lower-case letters, digits, '-', '_')",
                ))
            }
        };
        let group = obj.get("group").and_then(Value::as_str).map(str::to_string);
        let filter = obj
            .get("filter")
            .and_then(Value::as_str)
            .map(str::to_string);
        let now = self.now();
        let mut tx = self.store.write().await?;
        match (&group, &filter) {
            (Some(g), None) => {
                if tx
                    .get_resource(ap.account_id, ResourceKind::Group, g)
                    .await?
                    .is_none()
                {
                    return Err(AdminError::invalid(
                        "unknown_group",
                        "group",
                        format!("no group with id {g} in this account"),
                    ));
                }
            }
            (None, Some(f)) => {
                let parsed = grammar::parse_filter(f)
                    .map_err(|e| AdminError::invalid("invalid_filter", "filter", e.render(f)))?;
                compile_filter(self.registry(), ResourceKind::User, &parsed).map_err(|e| {
                    AdminError::invalid("invalid_filter", "filter", e.public_detail())
                })?;
            }
            _ => {
                return Err(AdminError::invalid(
                    "invalid_rule",
                    "group",
                    "a rule names either a group or a filter, not both and not neither",
                ))
            }
        }
        let rule = RuleRow {
            id: uuid::Uuid::new_v4().to_string(),
            product,
            group_id: group,
            filter,
            created: now.clone(),
        };
        tx.insert_rule(ap.account_id, &rule).await?;
        let mut changes = vec![];
        self.reconcile_all(&mut tx, ap.account_id, &now, &mut changes)
            .await?;
        let mut draft = Draft::new(None, "rule", Some(&rule.id));
        draft.resource_type = Some("Rule");
        draft.changes = vec![Change {
            attribute: "rule".into(),
            old: None,
            new: Some(
                json!({"product": rule.product, "group": rule.group_id, "filter": rule.filter}),
            ),
        }];
        draft.seat_changes = changes.clone();
        draft.step(format!("rules and seats: {}", seat_summary(&changes)));
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 201)
            .await?;
        tx.commit().await?;
        Ok((
            RuleView {
                id: rule.id,
                product: rule.product,
                group: rule.group_id,
                filter: rule.filter,
                created: rule.created,
            },
            changes,
        ))
    }

    pub async fn delete_rule(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
    ) -> Result<Vec<SeatChange>, AdminError> {
        require_write(ap)?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        if !tx.delete_rule(ap.account_id, id).await? {
            return Err(AdminError::NotFound(format!("no rule {id}")));
        }
        let mut changes = vec![];
        self.reconcile_all(&mut tx, ap.account_id, &now, &mut changes)
            .await?;
        let mut draft = Draft::new(None, "rule", Some(id));
        draft.resource_type = Some("Rule");
        draft.changes = vec![Change {
            attribute: "rule".into(),
            old: Some(Value::String(id.to_string())),
            new: None,
        }];
        draft.seat_changes = changes.clone();
        draft.step(format!("rules and seats: {}", seat_summary(&changes)));
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
            .await?;
        tx.commit().await?;
        Ok(changes)
    }

    // ---- conflicts ----

    pub async fn conflicts(
        &self,
        ap: &AdminPrincipal,
        status: Option<&str>,
    ) -> Result<Vec<ConflictView>, AdminError> {
        let status = match status {
            None | Some("") | Some("all") => None,
            Some(s @ ("open" | "resolved")) => Some(s),
            Some(_) => {
                return Err(AdminError::invalid(
                    "invalid_value",
                    "status",
                    "status is open, resolved or all",
                ))
            }
        };
        let mut tx = self.store.read().await?;
        Ok(tx
            .list_conflicts(ap.account_id, status)
            .await?
            .into_iter()
            .map(|c| ConflictView {
                guidance: if c.kind == "email_in_use" {
                    GUIDANCE_EMAIL_IN_USE
                } else {
                    GUIDANCE_NO_SEAT
                },
                id: c.id,
                kind: c.kind,
                user_name: c.user_name,
                email: c.email,
                product: c.product,
                first_seen: c.first_seen,
                last_seen: c.last_seen,
                attempts: c.attempts,
                status: c.status,
                resolved_at: c.resolved_at,
            })
            .collect())
    }

    // ---- users ----

    /// Suspends (`active=false`) or reactivates a user through the same path as a SCIM
    /// PATCH: seats are freed or taken again per policy, in one transaction.
    pub async fn set_active(
        &self,
        ap: &AdminPrincipal,
        user: &str,
        active: bool,
        ctx: &Ctx,
    ) -> Result<(Value, Vec<SeatChange>), AdminError> {
        require_write(ap)?;
        let p = as_scim(ap);
        let mut draft = Draft::new(Some(ResourceKind::User), "update", Some(user));
        let draft_ref = &mut draft;
        let body = json!({"Operations": [{"op": "replace", "path": "active", "value": active}]});
        let r = async {
            let mut notes = vec![];
            let ops = patch::parse_request(&body, &mut notes)?;
            let mut tx = self.store.write().await.map_err(store_error)?;
            let current = self.load_user(&mut tx, &p, user).await?;
            let applied = patch::apply(
                self.registry(),
                ResourceKind::User,
                &current.doc,
                &ops,
                &mut notes,
            )?;
            let out = self
                .write_patched(
                    &mut tx,
                    &p,
                    ResourceKind::User,
                    &current,
                    applied,
                    notes,
                    false,
                )
                .await?;
            self.finish_draft(draft_ref, ResourceKind::User, Some(&current.doc), &out);
            self.log_in(&mut tx, p.account_id, ctx, draft_ref, 200)
                .await?;
            tx.commit().await.map_err(store_error)?;
            Ok::<_, Fail>(out)
        }
        .await;
        let out = self.settle(p.account_id, ctx, &draft, r).await?;
        Ok((user_view(&out.resource), out.seat_changes))
    }

    async fn load_user(&self, tx: &mut Tx, p: &Principal, id: &str) -> Result<Stored, Fail> {
        let found = tx
            .get_resource(p.account_id, ResourceKind::User, id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ScimError::not_found(format!("User {id} not found")))?;
        Ok(found)
    }

    /// Moves a user's seats to another email. With `retain_data` the same user takes the new
    /// email; without, the seats go to the user with that email (made if there is none) and
    /// the old user is suspended. Atomic: seat rows move, so none is lost and none is added.
    pub async fn transfer(
        &self,
        ap: &AdminPrincipal,
        user: &str,
        body: &Value,
        ctx: &Ctx,
    ) -> Result<Value, AdminError> {
        require_write(ap)?;
        let mut draft = Draft::new(Some(ResourceKind::User), "transfer", Some(user));
        let draft_ref = &mut draft;
        let email = match body.get("email").and_then(Value::as_str).map(str::trim) {
            Some(e) if e.contains('@') && !e.contains(char::is_whitespace) => e.to_string(),
            _ => {
                return Err(AdminError::invalid(
                    "invalid_email",
                    "email",
                    "email must be an email address",
                ))
            }
        };
        let retain = match body.get("retain_data") {
            Some(Value::Bool(b)) => *b,
            None => false,
            Some(_) => {
                return Err(AdminError::invalid(
                    "invalid_value",
                    "retain_data",
                    "retain_data must be true or false",
                ))
            }
        };
        let p = as_scim(ap);
        let r = async {
            let now = self.now();
            let mut tx = self.store.write().await.map_err(store_error)?;
            let current = self.load_user(&mut tx, &p, user).await?;
            let result = if retain {
                let doc = with_new_email(&current.doc, &email);
                let mut doc = doc;
                resource::finish(self.registry(), ResourceKind::User, &mut doc)?;
                let applied = patch::Applied { doc, members: vec![] };
                let out = self
                    .write_patched(&mut tx, &p, ResourceKind::User, &current, applied, vec![], false)
                    .await?;
                json!({"user": user_view(&out.resource), "seat_changes": changes_view(&out.seat_changes)})
            } else {
                self.transfer_to_other(&mut tx, &p, &current, &email, &now).await?
            };
            draft_ref.user_name = current
                .doc
                .get("userName")
                .and_then(Value::as_str)
                .map(str::to_string);
            draft_ref.changes = vec![Change {
                attribute: "transfer".into(),
                old: Some(json!({"user": current.id})),
                new: Some(json!({"email": email, "retain_data": retain})),
            }];
            draft_ref.step(if retain {
                "transfer: the same user takes the new email"
            } else {
                "transfer: seats moved to the user with the new email; the old user is suspended"
            });
            self.log_in(&mut tx, p.account_id, ctx, draft_ref, 200)
                .await?;
            tx.commit().await.map_err(store_error)?;
            Ok::<_, Fail>(result)
        }
        .await;
        Ok(self.settle(p.account_id, ctx, &draft, r).await?)
    }

    async fn transfer_to_other(
        &self,
        tx: &mut Tx,
        p: &Principal,
        from: &Stored,
        email: &str,
        now: &str,
    ) -> Result<Value, Fail> {
        let email_lc = email.to_lowercase();
        let mut changes = vec![];
        let target = match tx
            .user_by_email(p.account_id, &email_lc)
            .await
            .map_err(store_error)?
        {
            Some(id) if id == from.id => return Err(ScimError::invalid_value(
                "that email already belongs to this user: use retain_data=true to keep the user",
            )
            .into()),
            Some(id) => id,
            None => {
                let body = json!({
                    "userName": email,
                    "emails": [{"value": email, "type": "work", "primary": true}],
                    "active": true
                });
                self.create_user_in_tx(tx, p, &body, now, true).await?
            }
        };
        let held = tx
            .seats_of(p.account_id, &[from.id.clone(), target.clone()])
            .await
            .map_err(store_error)?;
        let target_has: Vec<String> = held
            .get(&target)
            .map(|s| s.iter().map(|x| x.product.clone()).collect())
            .unwrap_or_default();
        for seat in held.get(&from.id).cloned().unwrap_or_default() {
            if target_has.contains(&seat.product) {
                continue;
            }
            tx.move_seat(p.account_id, &from.id, &target, &seat.product, now)
                .await
                .map_err(store_error)?;
            changes.push(SeatChange {
                user_id: target.clone(),
                product: seat.product.clone(),
                change: "moved",
            });
        }
        // The old user is suspended: what it still holds (products the target already had)
        // is freed and handed on.
        let mut doc = from.doc.clone();
        doc.insert("active".into(), Value::Bool(false));
        let applied = patch::Applied {
            doc,
            members: vec![],
        };
        let old = self
            .write_patched(tx, p, ResourceKind::User, from, applied, vec![], false)
            .await?;
        changes.extend(old.seat_changes);
        let set = self.rule_set(tx, p.account_id).await?;
        self.reconcile(tx, p.account_id, &set, &target, now, &mut changes)
            .await?;
        let mut to = [tx
            .get_resource(p.account_id, ResourceKind::User, &target)
            .await
            .map_err(store_error)?
            .ok_or_else(|| ScimError::internal("transfer target vanished"))?];
        let seats = tx
            .seats_of(p.account_id, std::slice::from_ref(&target))
            .await
            .map_err(store_error)?;
        to[0].seats = Some(
            seats
                .get(&target)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|s| resource::SeatInfo {
                    product: s.product,
                    state: s.state,
                    since: s.since,
                })
                .collect(),
        );
        Ok(json!({
            "from": user_view(&old.resource),
            "to": user_view(&to[0]),
            "seat_changes": changes_view(&changes),
        }))
    }
}

/// The document with `email` as its primary email (and as userName when the userName was
/// the old email).
fn with_new_email(doc: &Map<String, Value>, email: &str) -> Map<String, Value> {
    let mut doc = doc.clone();
    let mut old: Option<String> = None;
    let mut emails = match doc.get("emails") {
        Some(Value::Array(items)) => items.clone(),
        _ => vec![],
    };
    let idx = emails
        .iter()
        .position(|e| e.get("primary") == Some(&Value::Bool(true)))
        .or(if emails.is_empty() { None } else { Some(0) });
    match idx.and_then(|i| emails.get_mut(i)) {
        Some(Value::Object(e)) => {
            old = e.get("value").and_then(Value::as_str).map(str::to_string);
            e.insert("value".into(), Value::String(email.to_string()));
        }
        _ => emails.push(json!({"value": email, "type": "work", "primary": true})),
    }
    doc.insert("emails".into(), Value::Array(emails));
    let user_name = doc
        .get("userName")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let (Some(u), Some(o)) = (user_name, old) {
        if u.eq_ignore_ascii_case(&o) {
            doc.insert("userName".into(), Value::String(email.to_string()));
        }
    }
    doc
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminError::Invalid { message, .. }
            | AdminError::Unauthorized(message)
            | AdminError::Forbidden(message)
            | AdminError::NotFound(message)
            | AdminError::Conflict { message, .. }
            | AdminError::Internal(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for AdminError {}

fn account_error(e: super::accounts::AccountError) -> AdminError {
    use super::accounts::AccountError;
    match e {
        AccountError::NoAccount(_) | AccountError::NoToken(..) => {
            AdminError::NotFound(e.to_string())
        }
        AccountError::BadSlug(_) => AdminError::Invalid {
            code: "invalid_value",
            message: e.to_string(),
            field: None,
        },
        AccountError::Store(s) => AdminError::from(s),
    }
}

impl Engine {
    /// Users of the account, filtered with the SCIM grammar, one page.
    pub async fn admin_users(
        &self,
        ap: &AdminPrincipal,
        filter: Option<&str>,
        start_index: Option<&str>,
        count: Option<&str>,
    ) -> Result<Value, AdminError> {
        let params = crate::scim::list::ListParams {
            filter: filter.map(str::to_string),
            start_index: start_index.map(str::to_string),
            count: count.map(str::to_string),
            ..Default::default()
        };
        let q = params
            .compile(self.registry(), ResourceKind::User)
            .map_err(|e| match e.scim_type() {
                Some(ScimType::InvalidFilter) => AdminError::Invalid {
                    code: "invalid_filter",
                    message: e.public_detail().to_string(),
                    field: Some("filter".into()),
                },
                _ => AdminError::from(e),
            })?;
        let p = as_scim(ap);
        let ctx = Ctx::new(
            format!("admin:{}", ap.subject),
            "GET",
            "/admin/v1/users",
            None,
        );
        let (total, items) = self.list(&p, ResourceKind::User, &q, &ctx).await?;
        Ok(json!({
            "total": total,
            "start_index": q.start_index,
            "users": items.iter().map(user_view).collect::<Vec<_>>(),
        }))
    }

    /// Adds (or updates) one user by hand: the same as one row of an import.
    pub async fn admin_add_user(
        &self,
        ap: &AdminPrincipal,
        body: &Value,
        ctx: &Ctx,
    ) -> Result<crate::engine::import::RowReport, AdminError> {
        require_write(ap)?;
        let Some(obj) = body.as_object() else {
            return Err(AdminError::invalid(
                "invalid_json",
                "",
                "send a JSON object",
            ));
        };
        let mut csv = String::new();
        let mut header = vec![];
        let mut values = vec![];
        for (k, v) in obj {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(";"),
                _ => {
                    return Err(AdminError::invalid(
                        "invalid_value",
                        k,
                        format!("{k} has the wrong type"),
                    ))
                }
            };
            header.push(k.clone());
            values.push(text);
        }
        let mut w = csv::Writer::from_writer(vec![]);
        w.write_record(&header)
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        w.write_record(&values)
            .map_err(|e| AdminError::Internal(e.to_string()))?;
        csv.push_str(&String::from_utf8_lossy(
            &w.into_inner()
                .map_err(|e| AdminError::Internal(e.to_string()))?,
        ));
        let report = self.import(ap, &csv, false, ctx, &|_, _| {}).await?;
        report
            .report
            .into_iter()
            .next()
            .ok_or_else(|| AdminError::Internal("no row imported".into()))
    }

    pub async fn admin_delete_user(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
    ) -> Result<Value, AdminError> {
        require_write(ap)?;
        let p = as_scim(ap);
        let changes = self.delete(&p, ResourceKind::User, id, None, ctx).await?;
        Ok(json!({"deleted": id, "seat_changes": changes_view(&changes)}))
    }
}
