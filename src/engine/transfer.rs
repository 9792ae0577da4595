//! Seat transfer: a user's seats move to another email. With `retain_data` the same user
//! takes the new email; without, the seats go to the user with that email (made if there is
//! none) and the old user is suspended. One transaction: seat rows move, so none is lost and
//! none is added, and the new email obeys one person, one account.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use validator::Validate;

use crate::auth::jwt::AdminPrincipal;
use crate::auth::Principal;
use crate::scim::patch;
use crate::scim::resource::{self, Stored};
use crate::scim::Notes;
use crate::scim::{ResourceKind, ScimError};
use crate::store::WriteTx;

use super::authz::{as_scim, require_write};
use super::error::{EngineError, Fail};
use super::seats::SeatChange;
use super::synclog::{diff, Change, Ctx, Draft};
use super::users::UserView;
use super::Engine;

/// `POST /admin/v1/users/{id}/transfer`.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct TransferTo {
    #[validate(custom(function = "super::users::email_address"))]
    pub email: String,
    #[serde(default)]
    pub retain_data: bool,
}

impl super::input::Input for TransferTo {
    const FIELDS: &'static [&'static str] = &["email", "retain_data"];
}

/// What a transfer did.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Transferred {
    /// `retain_data`: the same user, with the new email.
    Retained {
        user: Box<UserView>,
        seat_changes: Vec<SeatChange>,
    },
    /// The seats moved from one user to another.
    Moved {
        from: Box<UserView>,
        to: Box<UserView>,
        seat_changes: Vec<SeatChange>,
    },
}

impl Engine {
    pub async fn transfer(
        &self,
        ap: &AdminPrincipal,
        user: &str,
        input: &TransferTo,
        ctx: &Ctx,
    ) -> Result<Transferred, EngineError> {
        require_write(ap)?;
        let email = input.email.trim().to_string();
        let retain = input.retain_data;
        let p = as_scim(ap);
        let (p, email) = (&p, email.as_str());
        let mut done = self
            .write_scim(
                p.account_id,
                ctx,
                false,
                || Draft::new(Some(ResourceKind::User), "transfer", Some(user)),
                |mut draft| async move {
                    let r = self
                        .transfer_in(p, user, email, retain, ctx, &mut draft)
                        .await;
                    (draft, r)
                },
            )
            .await?;
        match &mut done {
            Transferred::Retained { user, .. } => {
                self.with_last_seen(p.account_id, std::slice::from_mut(&mut **user))
                    .await?
            }
            Transferred::Moved { from, to, .. } => {
                self.with_last_seen(p.account_id, std::slice::from_mut(&mut **from))
                    .await?;
                self.with_last_seen(p.account_id, std::slice::from_mut(&mut **to))
                    .await?;
            }
        }
        Ok(done)
    }

    async fn transfer_in(
        &self,
        p: &Principal,
        user: &str,
        email: &str,
        retain: bool,
        ctx: &Ctx,
        draft_ref: &mut Draft,
    ) -> Result<Transferred, Fail> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        tx.lock_resource(p.account_id, ResourceKind::User, user)
            .await?;
        let current = self.load_user(&mut tx, p, user).await?;
        let mut events = vec![];
        let (result, mut changes) = if retain {
            let mut doc = with_new_email(&current.doc, email);
            resource::finish(
                &*self
                    .registry_at(&mut tx, p.account_id, p.schemas_version)
                    .await?,
                ResourceKind::User,
                &mut doc,
            )?;
            let applied = patch::Applied {
                doc,
                members: vec![],
            };
            let out = self
                .write_patched(
                    &mut tx,
                    p,
                    ResourceKind::User,
                    &current,
                    applied,
                    Notes::default(),
                    false,
                )
                .await?;
            let changes = diff(&current.doc, &out.resource.doc);
            (
                Transferred::Retained {
                    user: Box::new(UserView::from(&out.resource)),
                    seat_changes: out.seat_changes,
                },
                changes,
            )
        } else {
            self.transfer_to_other(&mut tx, p, &current, email, &now, &mut events)
                .await?
        };
        draft_ref.user_name = current
            .doc
            .get("userName")
            .and_then(Value::as_str)
            .map(str::to_string);
        changes.insert(
            0,
            Change {
                attribute: "transfer".into(),
                old: Some(json!({"user": current.id})),
                new: Some(json!({"email": email, "retain_data": retain})),
            },
        );
        draft_ref.changes = changes;
        draft_ref.seat_changes = match &result {
            Transferred::Retained { seat_changes, .. }
            | Transferred::Moved { seat_changes, .. } => seat_changes.clone(),
        };
        draft_ref.events = events;
        draft_ref.step(if retain {
            "transfer: the same user takes the new email"
        } else {
            "transfer: seats moved to the user with the new email; the old user is suspended"
        });
        self.log_in(&mut tx, p.account_id, ctx, draft_ref, 200)
            .await?;
        tx.commit().await?;
        Ok(result)
    }

    async fn transfer_to_other(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        from: &Stored,
        email: &str,
        now: &str,
        events: &mut Vec<(&'static str, Value)>,
    ) -> Result<(Transferred, Vec<Change>), Fail> {
        let email_lc = email.to_lowercase();
        let mut changes = vec![];
        let mut created = false;
        let target = match tx.user_by_email(p.account_id, &email_lc).await? {
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
                let id = self.create_user_in_tx(tx, p, &body, now, true).await?;
                created = true;
                id
            }
        };
        let held = tx
            .seats_of(p.account_id, &[from.id.clone(), target.clone()])
            .await?;
        let target_has: Vec<String> = held
            .get(&target)
            .map(|s| s.iter().map(|x| x.product.clone()).collect())
            .unwrap_or_default();
        for seat in held.get(&from.id).cloned().unwrap_or_default() {
            if target_has.contains(&seat.product) {
                continue;
            }
            if !tx
                .move_seat(p.account_id, &from.id, &target, &seat.product, now)
                .await?
            {
                continue;
            }
            changes.push(SeatChange {
                user_id: target.clone(),
                product: seat.product.clone(),
                change: "moved",
                source: "manual",
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
            .write_patched(
                tx,
                p,
                ResourceKind::User,
                from,
                applied,
                Notes::default(),
                false,
            )
            .await?;
        changes.extend(old.seat_changes);
        let set = self.rule_set(tx, p.account_id).await?;
        self.reconcile(tx, p.account_id, &set, &target, now, &mut changes)
            .await?;
        let to = tx
            .get_resource(p.account_id, ResourceKind::User, &target)
            .await?
            .ok_or_else(|| ScimError::internal("transfer target vanished"))?;
        let mut to = [to];
        super::resources::load_seats(tx, p.account_id, &mut to).await?;
        let [to] = to;
        if created {
            let data = self
                .resource_data(tx, p.account_id, ResourceKind::User, &target, Some(&to))
                .await?;
            events.push(("user.created", data));
        }
        let modified = diff(&from.doc, &old.resource.doc);
        Ok((
            Transferred::Moved {
                from: Box::new(UserView::from(&old.resource)),
                to: Box::new(UserView::from(&to)),
                seat_changes: changes,
            },
            modified,
        ))
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
