//! Replacing (PUT) and patching (PATCH) a resource: the new document is checked, written
//! only if its version is the one read (a conditional UPDATE), and its seats follow.

use serde_json::Value;

use crate::auth::Principal;
use crate::scim::patch::{self, MemberOp};
use crate::scim::resource::{self, Stored};
use crate::scim::{Notes, ResourceKind, ScimError};
use crate::store::WriteTx;

use super::super::error::Fail;
use super::super::lifecycle;
use super::super::synclog::{Change, Ctx, Draft};
use super::super::Engine;
use super::{display_name, stale, written, Outcome};

impl Engine {
    pub async fn replace(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
        ctx: &Ctx,
    ) -> Result<Outcome, ScimError> {
        self.write_scim(
            p.account_id,
            ctx,
            if_match.is_some(),
            || Draft::new(Some(kind), "update", Some(id)),
            |mut draft| async move {
                let r = self
                    .replace_in(p, kind, id, body, if_match, ctx, &mut draft)
                    .await;
                (draft, r)
            },
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn replace_in(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
        ctx: &Ctx,
        draft: &mut Draft,
    ) -> Result<Outcome, Fail> {
        let mut notes = Notes::default();
        let reg = self.registry_of(p).await?;
        let n = resource::normalise(&reg, kind, body, &mut notes);
        draft.notes = notes.clone();
        let mut n = n?;
        draft.user_name = display_name(kind, &n.doc);
        let now = self.now();
        let mut tx = self.write_for(p).await?;
        tx.lock_resource(p.account_id, kind, id).await?;
        let current = self.load(&mut tx, p, kind, id, false).await?;
        // Lifecycle: a user the identity provider deleted is gone for it; its deactivation
        // may be held by the guard (the user then stays active).
        lifecycle::idp_sees(ctx, &current)?;
        let sets_active = n.doc.get("active") == Some(&Value::Bool(true));
        let guarded = self
            .guard_update(&mut tx, p, ctx, &current, &mut n.doc, sets_active, &now)
            .await?;
        let w = tx
            .update_resource(p.account_id, kind, id, &n.doc, &now, if_match)
            .await?;
        written(kind, id, w)?;
        self.mark_written_by_idp(&mut tx, p.account_id, ctx, kind, id, &now)
            .await?;
        self.index_extensions(&mut tx, p, kind, id, Some(&current.doc), &n.doc)
            .await?;
        self.sync_identities(&mut tx, p, kind, Some(&current.doc), &n.doc, &now, true)
            .await?;
        let mut affected = vec![];
        let mut delta = (vec![], vec![]);
        if let Some(members) = &n.members {
            affected = tx.user_members(p.account_id, id).await?;
            delta = super::member_delta(&affected, members);
            tx.clear_members(p.account_id, id).await?;
            self.add_members(&mut tx, p, id, members).await?;
            affected.extend(members.iter().cloned());
        }
        let mut seat_changes = vec![];
        self.check_licenses(&mut tx, p.account_id, kind, Some(&current.doc), &n.doc)
            .await?;
        let set = self.rule_set(&mut tx, p.account_id).await?;
        self.follow_rules(
            &mut tx,
            p,
            &set,
            kind,
            id,
            affected,
            &now,
            &mut seat_changes,
        )
        .await?;
        let resource = self.load(&mut tx, p, kind, id, true).await?;
        let out = Outcome {
            resource,
            notes,
            seat_changes,
            member_changes: vec![],
            members_added: delta.0,
            members_removed: delta.1,
        };
        self.finish_draft(draft, kind, Some(&current.doc), &out);
        if let Some(g) = &guarded {
            g.annotate(draft);
        }
        self.log_in(&mut tx, p.account_id, ctx, draft, 200).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Applies a PatchOp. Member changes touch only the members named.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
        return_refs: bool,
        ctx: &Ctx,
    ) -> Result<Outcome, ScimError> {
        self.write_scim(
            p.account_id,
            ctx,
            if_match.is_some(),
            || Draft::new(Some(kind), "update", Some(id)),
            |mut draft| async move {
                let r = self
                    .patch_in(p, kind, id, body, if_match, return_refs, ctx, &mut draft)
                    .await;
                (draft, r)
            },
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn patch_in(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
        return_refs: bool,
        ctx: &Ctx,
        draft: &mut Draft,
    ) -> Result<Outcome, Fail> {
        let mut notes = Notes::default();
        let ops = patch::parse_request(body, &mut notes);
        draft.notes = notes.clone();
        let ops = ops?;
        let mut tx = self.write_for(p).await?;
        tx.lock_resource(p.account_id, kind, id).await?;
        let current = self.load(&mut tx, p, kind, id, false).await?;
        lifecycle::idp_sees(ctx, &current)?;
        draft.user_name = display_name(kind, &current.doc);
        if let Some(v) = if_match {
            if v != current.version {
                return Err(stale(current.version).into());
            }
        }
        let reg = self
            .registry_at(&mut tx, p.account_id, p.schemas_version)
            .await?;
        let applied = patch::apply(&reg, kind, &current.doc, &ops, &mut notes);
        draft.notes = notes.clone();
        let mut applied = applied?;
        // Lifecycle: a deactivation past the guard is held (the user stays active).
        let sets_active =
            current.lifecycle.held.is_some() && lifecycle::patch_sets_active(&reg, &current, &ops);
        let guarded = self
            .guard_update(
                &mut tx,
                p,
                ctx,
                &current,
                &mut applied.doc,
                sets_active,
                &self.now(),
            )
            .await?;
        let outcome = self
            .write_patched(&mut tx, p, kind, &current, applied, notes, return_refs)
            .await?;
        // A PATCH that changes nothing still says the identity provider manages the resource.
        self.mark_written_by_idp(&mut tx, p.account_id, ctx, kind, id, &self.now())
            .await?;
        self.finish_draft(draft, kind, Some(&current.doc), &outcome);
        if let Some(g) = &guarded {
            g.annotate(draft);
        }
        let status = if kind == ResourceKind::Group && !return_refs {
            204
        } else {
            200
        };
        self.log_in(&mut tx, p.account_id, ctx, draft, status)
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Writes a patched document and member changes, follows the rules, and returns the
    /// outcome with the open transaction.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn write_patched(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        kind: ResourceKind,
        current: &Stored,
        applied: patch::Applied,
        notes: Notes,
        return_refs: bool,
    ) -> Result<Outcome, Fail> {
        let id = current.id.as_str();
        let now = self.now();
        let mut changed = false;
        if applied.doc != current.doc {
            let w = tx
                .update_resource(
                    p.account_id,
                    kind,
                    id,
                    &applied.doc,
                    &now,
                    Some(current.version),
                )
                .await?;
            written(kind, id, w)?;
            self.index_extensions(tx, p, kind, id, Some(&current.doc), &applied.doc)
                .await?;
            self.sync_identities(tx, p, kind, Some(&current.doc), &applied.doc, &now, true)
                .await?;
            changed = true;
        }
        let mut members_changed = 0;
        let mut affected: Vec<String> = vec![];
        let mut member_changes = vec![];
        let (mut added, mut removed): (Vec<String>, Vec<String>) = (vec![], vec![]);
        for op in &applied.members {
            members_changed += match op {
                MemberOp::Add(ids) => {
                    affected.extend(ids.iter().cloned());
                    let n = self.add_members(tx, p, id, ids).await?;
                    if n > 0 {
                        added.extend(ids.iter().cloned());
                        member_changes.push(Change {
                            attribute: "members".into(),
                            old: None,
                            new: Some(serde_json::json!({ "added": ids, "new": n })),
                        });
                    }
                    n
                }
                MemberOp::Remove(ids) => {
                    affected.extend(ids.iter().cloned());
                    let n = tx.remove_members(p.account_id, id, ids).await?;
                    if n > 0 {
                        removed.extend(ids.iter().cloned());
                        member_changes.push(Change {
                            attribute: "members".into(),
                            old: Some(serde_json::json!({ "removed": ids, "count": n })),
                            new: None,
                        });
                    }
                    n
                }
                MemberOp::RemoveAll => {
                    let before = tx.user_members(p.account_id, id).await?;
                    removed.extend(before.iter().cloned());
                    affected.extend(before);
                    tx.clear_members(p.account_id, id).await?
                }
                MemberOp::Replace(ids) => {
                    let before = tx.user_members(p.account_id, id).await?;
                    let (a, r) = super::member_delta(&before, ids);
                    added.extend(a);
                    removed.extend(r);
                    affected.extend(before);
                    affected.extend(ids.iter().cloned());
                    let cleared = tx.clear_members(p.account_id, id).await?;
                    cleared + self.add_members(tx, p, id, ids).await?
                }
            };
        }
        if members_changed > 0 && !changed {
            let w = tx
                .touch_resource(p.account_id, kind, id, &now, None)
                .await?;
            written(kind, id, w)?;
        }
        let mut seat_changes = vec![];
        if changed || members_changed > 0 {
            if changed {
                self.check_licenses(tx, p.account_id, kind, Some(&current.doc), &applied.doc)
                    .await?;
            }
            let set = self.rule_set(tx, p.account_id).await?;
            self.follow_rules(tx, p, &set, kind, id, affected, &now, &mut seat_changes)
                .await?;
        }
        if members_changed > 0 && member_changes.is_empty() {
            member_changes.push(Change {
                attribute: "members".into(),
                old: None,
                new: Some(serde_json::json!({ "replaced": members_changed })),
            });
        }
        let resource = self.load(tx, p, kind, id, return_refs).await?;
        Ok(Outcome {
            resource,
            notes,
            seat_changes,
            member_changes,
            members_added: added,
            members_removed: removed,
        })
    }
}
