//! Deleting a user or group: its seats are freed and handed on, its emails released; the
//! sync log keeps its history. An identity provider's DELETE of a user may instead be held
//! (the deprovisioning guard) or be a suspension (`delete_action` `suspend`): see
//! `engine/lifecycle`.

use crate::auth::Principal;
use crate::scim::resource::{self};
use crate::scim::{ResourceKind, ScimError};

use super::super::error::Fail;
use super::super::seats::SeatChange;
use super::super::synclog::{diff, Ctx, Draft};
use super::super::Engine;
use super::{display_name, seat_summary, written};

impl Engine {
    pub async fn delete(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
        ctx: &Ctx,
    ) -> Result<Vec<SeatChange>, ScimError> {
        self.write_scim(
            p.account_id,
            ctx,
            if_match.is_some(),
            || Draft::new(Some(kind), "delete", Some(id)),
            |mut draft| async move {
                let r = self.delete_in(p, kind, id, if_match, ctx, &mut draft).await;
                (draft, r)
            },
        )
        .await
    }

    async fn delete_in(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
        ctx: &Ctx,
        draft: &mut Draft,
    ) -> Result<Vec<SeatChange>, Fail> {
        let now = self.now();
        let mut tx = self.write_for(p).await?;
        tx.lock_resource(p.account_id, kind, id).await?;
        let current = self.load(&mut tx, p, kind, id, false).await?;
        super::super::lifecycle::idp_sees(ctx, &current)?;
        draft.user_name = display_name(kind, &current.doc);
        let members = match kind {
            ResourceKind::Group => tx.user_members(p.account_id, id).await?,
            ResourceKind::User => vec![],
        };
        let set = self.rule_set(&mut tx, p.account_id).await?;
        // An identity provider's DELETE of a user may be held by the guard, or be a
        // suspension (`delete_action` `suspend`); a group's is always a delete.
        if let Some(changes) = self
            .guard_delete(&mut tx, p, ctx, &set, &current, if_match, &now, draft)
            .await?
        {
            self.log_in(&mut tx, p.account_id, ctx, draft, 204).await?;
            tx.commit().await?;
            return Ok(changes);
        }
        let w = tx.delete_resource(p.account_id, kind, id, if_match).await?;
        written(kind, id, w)?;
        let mut changes = vec![];
        match kind {
            ResourceKind::User => {
                let old = resource::identity_keys(&current.doc);
                tx.release_identities(p.account_id, &old).await?;
                // The user is gone: every seat they held is freed and handed on.
                self.reconcile(&mut tx, p.account_id, &set, id, &now, &mut changes)
                    .await?;
            }
            ResourceKind::Group => {
                if Self::rules_name_group(&set, id) {
                    for user in members {
                        self.reconcile(&mut tx, p.account_id, &set, &user, &now, &mut changes)
                            .await?;
                    }
                }
            }
        }
        draft.changes = diff(&current.doc, &serde_json::Map::new());
        draft.seat_changes = changes.clone();
        draft.step(format!("match: {} {id}", kind.name()));
        draft.step(format!("rules and seats: {}", seat_summary(&changes)));
        draft.step("write: deleted; the sync log keeps its history");
        self.log_in(&mut tx, p.account_id, ctx, draft, 204).await?;
        tx.commit().await?;
        Ok(changes)
    }
}
