//! Lifecycle safety for high-turnover organizations: what an identity provider's DELETE of a
//! user means (`delete_action`), the guard that holds a connection's mass deprovisioning for
//! an admin (`deprovision_guard`, with the admin's holds), and the purge of users suspended
//! for long (`purge_suspended_after_days`).
//!
//! Only identity providers are guarded and shown the deletion: what an admin does (the admin
//! API, the console, the CLI, an import) is the admin's decision, applied as asked.

mod guard;
pub mod holds;
mod purge;

pub(crate) use guard::patch_sets_active;

use serde_json::{Map, Value};

use crate::scim::resource::Stored;
use crate::scim::{ResourceKind, ScimError};
use crate::store::WriteTx;

use super::error::Fail;
use super::seats::{RuleSet, SeatChange};
use super::synclog::{diff, Change, Ctx, Draft};
use super::Engine;
use crate::store::resources::Written;

/// Whether a request comes from an identity provider (a connection's SCIM request), not from
/// an admin acting through the same code.
pub(crate) fn from_idp(ctx: &Ctx) -> bool {
    ctx.actor.starts_with("connection:")
}

/// An identity provider never sees a user it deleted while the account kept such users
/// (`delete_action` `suspend`): to it the user is gone, as RFC 7644 §3.6 wants after a
/// DELETE. Admins still see it.
pub(crate) fn idp_sees(ctx: &Ctx, s: &Stored) -> Result<(), ScimError> {
    if s.kind == ResourceKind::User && s.lifecycle.deleted_by_idp.is_some() && from_idp(ctx) {
        return Err(ScimError::not_found(format!("User {} not found", s.id)));
    }
    Ok(())
}

/// A document as `active` leaves it.
fn with_active(doc: &Map<String, Value>, active: bool) -> Map<String, Value> {
    let mut next = doc.clone();
    next.insert("active".into(), Value::Bool(active));
    next
}

fn is_active(doc: &Map<String, Value>) -> bool {
    doc.get("active").and_then(Value::as_bool).unwrap_or(true)
}

impl Engine {
    /// A DELETE of a user while `delete_action` is `suspend`: the user is suspended (its
    /// seats freed and handed on), taken out of its groups (as a deletion would), and marked
    /// as deleted by the identity provider, which gives up its userName. Fills the draft.
    pub(crate) async fn delete_as_suspend(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        current: &Stored,
        now: &str,
        draft: &mut Draft,
    ) -> Result<Vec<SeatChange>, Fail> {
        let id = current.id.as_str();
        let doc = with_active(&current.doc, false);
        if doc != current.doc {
            match tx
                .update_resource(
                    account,
                    ResourceKind::User,
                    id,
                    &doc,
                    now,
                    Some(current.version),
                )
                .await?
            {
                Written::Done { .. } => {}
                Written::NotFound => {
                    return Err(ScimError::not_found(format!("User {id} not found")).into())
                }
                Written::Stale { current } => {
                    return Err(ScimError::PreconditionFailed {
                        detail: format!(
                            "the resource has changed: its version is now {}",
                            crate::scim::resource::etag(current)
                        ),
                    }
                    .into())
                }
            }
        }
        tx.mark_idp_deleted(account, id, now).await?;
        let groups = tx.leave_groups(account, id).await?;
        let mut changes = vec![];
        self.reconcile(tx, account, set, id, now, &mut changes)
            .await?;
        draft.changes = diff(&current.doc, &doc);
        if !groups.is_empty() {
            draft.changes.push(Change {
                attribute: "groups".into(),
                old: Some(Value::from(groups.clone())),
                new: None,
            });
        }
        draft.seat_changes = changes.clone();
        draft.step(format!("match: User {id}"));
        draft.step(format!(
            "rules and seats: {}",
            super::resources::seat_summary(&changes)
        ));
        draft.step(format!(
            "write: suspended and kept (delete_action suspend){}; the identity provider no longer \
             sees the user (404) and may create its userName again; admins see it as deleted_by_idp",
            if groups.is_empty() {
                String::new()
            } else {
                format!(", taken out of {} group(s)", groups.len())
            }
        ));
        Ok(changes)
    }
}
