//! The mass-deprovisioning guard, inside the identity provider's own request: each
//! suspension or deletion of a user by a connection is counted in the database, in the
//! request's transaction; past `max_users` within `window_minutes`, the change is accepted on
//! the wire but held: the user keeps its seats and access, its status shows `held`, and the
//! admin finds the hold in `GET /admin/v1/holds` and an open `deprovision_held` conflict.
//!
//! The identity provider gets its normal answer (200, or 204 for a DELETE), and the resource
//! in it is what Roster holds: the user still active, with Roster's extension saying `held`.
//! Showing what it asked for would be a state no later GET confirms (nor its version); the
//! answer's status is what keeps the identity provider's job running, and an identity
//! provider that compares (Entra) simply sends the deactivation again, which the hold keeps
//! once.

use serde_json::{Map, Value};

use crate::auth::Principal;
use crate::scim::patch::Operation;
use crate::scim::resource::Stored;
use crate::scim::{Notes, Registry, ResourceKind, ScimError};
use crate::store::conflicts::NewConflict;
use crate::store::lifecycle::NewHeldChange;
use crate::store::WriteTx;

use super::super::error::Fail;
use super::super::settings::DeprovisionGuard;
use super::super::synclog::{Ctx, Draft};
use super::super::Engine;
use super::{from_idp, is_active};

/// Where a deprovisioning the guard held waits.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    pub hold: String,
    /// Its number in the hold; `None` when the hold kept it already (sent again).
    pub seq: Option<i64>,
    /// `suspend`, `delete` or `delete_as_suspend`.
    pub change: &'static str,
    pub connection: String,
    pub guard: DeprovisionGuard,
}

/// What the lifecycle rules did to an identity provider's update of a user.
#[derive(Debug, Clone)]
pub(crate) enum Guarded {
    /// The deactivation is held: the user stays active.
    Held(Held),
    /// The identity provider set a held user active again: its held suspensions (in these
    /// holds) will not be applied.
    Superseded(Vec<String>),
}

impl Held {
    /// Says in the request's log entry that the change waits for an admin.
    pub(crate) fn annotate(&self, draft: &mut Draft) {
        draft.action = match self.change {
            "suspend" => "disable",
            _ => "delete",
        };
        let what = match self.change {
            "suspend" => "deactivation",
            _ => "deletion",
        };
        draft.notes.push(format!(
            "held: connection {} deprovisioned more than {} user(s) within {} minute(s) \
             (deprovision_guard); this {what} waits in hold {} for an admin, and the user keeps \
             its seats and access meanwhile",
            self.connection, self.guard.max_users, self.guard.window_minutes, self.hold
        ));
        draft.step(match self.seq {
            Some(n) => format!(
                "guard: held as change {n} of hold {}; POST /admin/v1/holds/{}/release applies it, /discard drops it",
                self.hold, self.hold
            ),
            None => format!(
                "guard: hold {} already keeps this {what} of the user; kept once",
                self.hold
            ),
        });
    }
}

impl Guarded {
    pub(crate) fn annotate(&self, draft: &mut Draft) {
        match self {
            Guarded::Held(h) => h.annotate(draft),
            Guarded::Superseded(holds) => draft.step(format!(
                "guard: the identity provider set the user active again: its held deactivation \
                 in hold(s) {} will not be applied",
                holds.join(", ")
            )),
        }
    }
}

/// Whether a PATCH sets `active` to true itself (rather than leaving it as it was): applied
/// to the document with `active` false, it must come out true.
pub(crate) fn patch_sets_active(reg: &Registry, current: &Stored, ops: &[Operation]) -> bool {
    if current.kind != ResourceKind::User {
        return false;
    }
    let probe = super::with_active(&current.doc, false);
    patch_probe(reg, &probe, ops)
}

fn patch_probe(reg: &Registry, probe: &Map<String, Value>, ops: &[Operation]) -> bool {
    crate::scim::patch::apply(reg, ResourceKind::User, probe, ops, &mut Notes::default())
        .is_ok_and(|a| is_active(&a.doc))
}

impl Engine {
    /// Counts one deprovisioning of `user` by the request's connection against the account's
    /// guard, in the request's transaction. Returns where it is held when the connection
    /// went past the guard's limit within its window; `None` (counted, to be applied) when
    /// not, or when there is no guard.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn guard_deprovision(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        ctx: &Ctx,
        guard: Option<DeprovisionGuard>,
        user: &Stored,
        change: &'static str,
        now: &str,
    ) -> Result<Option<Held>, ScimError> {
        let Some(guard) = guard else {
            return Ok(None);
        };
        let account = p.account_id;
        let connection = p.connection.as_str();
        // One transaction at a time per connection, on every replica, from here to commit.
        tx.lock_deprovision_guard(account, connection, now).await?;
        let window = chrono::Duration::minutes(i64::from(guard.window_minutes));
        let since = crate::scim::query::timestamp(self.clock.now() - window);
        let limit = i64::from(guard.max_users);
        let recent = tx
            .recent_deprovisions(account, connection, &since, limit)
            .await?;
        let held = recent >= limit;
        tx.record_deprovision(
            account,
            connection,
            &user.id,
            if held { "held" } else { "applied" },
            now,
        )
        .await?;
        if !held {
            return Ok(None);
        }
        // One hold per burst: the connection's open hold while it keeps holding within the
        // window, else a new one.
        let hold = match tx.open_hold(account, connection).await? {
            Some((id, last)) if last > since && tx.touch_hold(account, &id, now).await? => id,
            _ => {
                let id = uuid::Uuid::new_v4().to_string();
                tx.create_hold(
                    account,
                    &id,
                    connection,
                    (limit, i64::from(guard.window_minutes)),
                    now,
                )
                .await?;
                id
            }
        };
        let user_name = super::super::resources::display_name(ResourceKind::User, &user.doc)
            .unwrap_or_default();
        let seq = tx
            .add_held_change(
                account,
                &hold,
                &NewHeldChange {
                    user_id: &user.id,
                    user_name: &user_name,
                    change,
                    at: now,
                    request_id: &ctx.request_id,
                },
            )
            .await?;
        tx.refresh_held(account, std::slice::from_ref(&user.id))
            .await?;
        // The admin is told: one open conflict per hold (its id is the hold's), counting the
        // changes held.
        tx.record_conflict(
            account,
            &NewConflict {
                kind: "deprovision_held",
                dedupe_key: hold.clone(),
                user_id: None,
                user_name: None,
                email: None,
                product: None,
            },
            &hold,
            now,
        )
        .await?;
        Ok(Some(Held {
            hold,
            seq,
            change,
            connection: connection.to_string(),
            guard,
        }))
    }

    /// An identity provider's PUT or PATCH of a user, before it is written: a deactivation
    /// past the guard is held (`doc` keeps `active` as it was), one within it is counted;
    /// setting a held user active again supersedes its held deactivations. `sets_active`:
    /// the request itself says `active` is true.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn guard_update(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        ctx: &Ctx,
        current: &Stored,
        doc: &mut Map<String, Value>,
        sets_active: bool,
        now: &str,
    ) -> Result<Option<Guarded>, Fail> {
        if current.kind != ResourceKind::User || !from_idp(ctx) {
            return Ok(None);
        }
        let was_active = is_active(&current.doc);
        if current.lifecycle.held.is_some() && was_active && sets_active && is_active(doc) {
            let holds = tx
                .supersede_held_suspensions(p.account_id, &current.id, now)
                .await?;
            tx.refresh_held(p.account_id, std::slice::from_ref(&current.id))
                .await?;
            return Ok((!holds.is_empty()).then_some(Guarded::Superseded(holds)));
        }
        // Only a deactivation is a deprovisioning.
        if !was_active || is_active(doc) {
            return Ok(None);
        }
        let settings = self.settings_in(tx, p.account_id).await?;
        let held = self
            .guard_deprovision(
                tx,
                p,
                ctx,
                settings.deprovision_guard,
                current,
                "suspend",
                now,
            )
            .await?;
        let Some(held) = held else {
            return Ok(None);
        };
        match current.doc.get("active") {
            Some(v) => doc.insert("active".into(), v.clone()),
            None => doc.remove("active"),
        };
        Ok(Some(Guarded::Held(held)))
    }

    /// An identity provider's DELETE of a user, once it is found: held past the guard (the
    /// draft says so, and nothing else changes), else suspended and kept when
    /// `delete_action` is `suspend`. `None`: delete it, as always.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn guard_delete(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        ctx: &Ctx,
        set: &super::super::seats::RuleSet,
        current: &Stored,
        if_match: Option<i64>,
        now: &str,
        draft: &mut Draft,
    ) -> Result<Option<Vec<super::super::seats::SeatChange>>, Fail> {
        if current.kind != ResourceKind::User || !from_idp(ctx) {
            return Ok(None);
        }
        if let Some(v) = if_match {
            if v != current.version {
                return Err(ScimError::PreconditionFailed {
                    detail: format!(
                        "the resource has changed: its version is now {}",
                        crate::scim::resource::etag(current.version)
                    ),
                }
                .into());
            }
        }
        let keep = set.settings.delete_action == super::super::settings::DeleteAction::Suspend;
        let change = if keep { "delete_as_suspend" } else { "delete" };
        if let Some(held) = self
            .guard_deprovision(
                tx,
                p,
                ctx,
                set.settings.deprovision_guard,
                current,
                change,
                now,
            )
            .await?
        {
            draft.step(format!("match: User {}", current.id));
            held.annotate(draft);
            return Ok(Some(vec![]));
        }
        if !keep {
            return Ok(None);
        }
        let changes = self
            .delete_as_suspend(tx, p.account_id, set, current, now, draft)
            .await?;
        Ok(Some(changes))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_a_patch_that_says_active_true_sets_it() {
        let reg = Registry::load().unwrap();
        let probe = json!({"userName": "a", "active": false});
        let probe = probe.as_object().unwrap();
        let ops = |body: serde_json::Value| {
            crate::scim::patch::parse_request(&body, &mut Notes::default()).unwrap()
        };
        assert!(patch_probe(
            &reg,
            probe,
            &ops(json!({"Operations": [{"op": "Replace", "path": "active", "value": "True"}]}))
        ));
        assert!(patch_probe(
            &reg,
            probe,
            &ops(json!({"Operations": [{"op": "replace", "value": {"active": true}}]}))
        ));
        assert!(!patch_probe(
            &reg,
            probe,
            &ops(json!({"Operations": [{"op": "replace", "path": "displayName", "value": "A"}]}))
        ));
    }
}
