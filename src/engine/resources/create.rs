//! Creating a user or group: normalise and check the document, claim its emails, insert
//! it, then follow the rules for its seats; one transaction.

use serde_json::Value;

use crate::auth::Principal;
use crate::scim::resource::{self, SeatInfo, Stored};
use crate::scim::{Notes, ResourceKind, ScimError};
use crate::store::WriteTx;

use super::super::drift::by_idp;
use super::super::error::Fail;
use super::super::seats::{RuleSet, SeatChange};
use super::super::synclog::{Change, Ctx, Draft};
use super::super::Engine;
use super::{display_name, Outcome};

impl Engine {
    pub async fn create(
        &self,
        p: &Principal,
        kind: ResourceKind,
        body: &Value,
        ctx: &Ctx,
    ) -> Result<Outcome, ScimError> {
        self.write_scim(
            p.account_id,
            ctx,
            false,
            || Draft::new(Some(kind), "create", None),
            |mut draft| async move {
                let r = self.create_in(p, kind, body, ctx, &mut draft).await;
                (draft, r)
            },
        )
        .await
    }

    async fn create_in(
        &self,
        p: &Principal,
        kind: ResourceKind,
        body: &Value,
        ctx: &Ctx,
        draft: &mut Draft,
    ) -> Result<Outcome, Fail> {
        let mut notes = Notes::default();
        let reg = self.registry_of(p).await?;
        let n = resource::normalise(&reg, kind, body, &mut notes);
        draft.notes = notes.clone();
        let n = n?;
        draft.user_name = display_name(kind, &n.doc);
        let now = self.now();
        let mut tx = self.write_for(p).await?;
        let mut seat_changes = vec![];
        let id = self
            .insert_normalised(&mut tx, p, kind, &n, &now, by_idp(ctx), &mut seat_changes)
            .await?;
        let resource = match kind {
            // Just written: version 1, no groups, the seats just taken.
            ResourceKind::User => Stored {
                kind,
                id: id.clone(),
                version: 1,
                created: now.clone(),
                last_modified: now.clone(),
                doc: n.doc.clone(),
                refs: Some(vec![]),
                seats: Some(
                    seat_changes
                        .iter()
                        .filter(|c| c.user_id == id)
                        .map(|c| SeatInfo {
                            product: c.product.clone(),
                            state: c.change.to_string(),
                            since: now.clone(),
                        })
                        .collect(),
                ),
                // A user just created is neither held nor deleted.
                lifecycle: Default::default(),
            },
            ResourceKind::Group => self.load(&mut tx, p, kind, &id, true).await?,
        };
        let member_changes = match &n.members {
            Some(m) if !m.is_empty() => vec![Change {
                attribute: "members".into(),
                old: None,
                new: Some(serde_json::json!({ "added": m })),
            }],
            _ => vec![],
        };
        let out = Outcome {
            resource,
            notes,
            seat_changes,
            member_changes,
            members_added: n.members.clone().unwrap_or_default(),
            members_removed: vec![],
        };
        self.finish_draft(draft, kind, None, &out);
        self.log_in(&mut tx, p.account_id, ctx, draft, 201).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Creates a user inside a transaction the caller holds, without taking seats yet (the
    /// caller reconciles once it has moved seats in); returns its id.
    pub(crate) async fn create_user_in_tx(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        body: &Value,
        now: &str,
        resolve_conflicts: bool,
    ) -> Result<String, Fail> {
        let mut notes = Notes::default();
        let reg = self
            .registry_at(tx, p.account_id, p.schemas_version)
            .await?;
        let n = resource::normalise(&reg, ResourceKind::User, body, &mut notes)?;
        let id = uuid::Uuid::new_v4().to_string();
        tx.insert_resource(p.account_id, ResourceKind::User, &id, &n.doc, now, false)
            .await?;
        self.index_extensions(tx, p, ResourceKind::User, &id, None, &n.doc)
            .await?;
        self.sync_identities(
            tx,
            p,
            ResourceKind::User,
            None,
            &n.doc,
            now,
            resolve_conflicts,
        )
        .await?;
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    async fn insert_normalised(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        kind: ResourceKind,
        n: &resource::Normalised,
        now: &str,
        by_idp: bool,
        changes: &mut Vec<SeatChange>,
    ) -> Result<String, Fail> {
        let set = self.rule_set(tx, p.account_id).await?;
        let id = uuid::Uuid::new_v4().to_string();
        tx.insert_resource(p.account_id, kind, &id, &n.doc, now, by_idp)
            .await?;
        self.index_extensions(tx, p, kind, &id, None, &n.doc)
            .await?;
        self.sync_identities(tx, p, kind, None, &n.doc, now, set.open_conflicts)
            .await?;
        match kind {
            ResourceKind::User => {
                // A new user holds nothing yet: take what the rules and its License
                // entitlements give, reading nothing but the products they name.
                let name = display_name(kind, &n.doc).unwrap_or_default();
                self.seat_created_user(tx, p.account_id, &set, (&id, &name), &n.doc, now, changes)
                    .await?;
            }
            ResourceKind::Group => {
                if let Some(members) = &n.members {
                    self.add_members(tx, p, &id, members).await?;
                    self.follow_rules(tx, p, &set, kind, &id, members.clone(), now, changes)
                        .await?;
                }
            }
        }
        Ok(id)
    }

    /// Moves seats after a write: for a user, theirs; for a group, those of the users whose
    /// membership changed, when a rule names the group.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn follow_rules(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        set: &RuleSet,
        kind: ResourceKind,
        id: &str,
        members: Vec<String>,
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        match kind {
            ResourceKind::User => {
                self.reconcile(tx, p.account_id, set, id, now, changes)
                    .await
            }
            ResourceKind::Group => {
                if !Self::rules_name_group(set, id) {
                    return Ok(());
                }
                let mut seen = std::collections::HashSet::new();
                for user in members {
                    if seen.insert(user.clone()) {
                        self.reconcile(tx, p.account_id, set, &user, now, changes)
                            .await?;
                    }
                }
                Ok(())
            }
        }
    }
}
