//! SCIM resources: create, read, list, replace, patch, delete and bulk, each one
//! transaction.

use std::collections::HashMap;

use serde_json::Value;

use crate::auth::Principal;
use crate::scim::bulk::{self, BulkOp, Method};
use crate::scim::list::ListQuery;
use crate::scim::patch::{self, MemberOp};
use crate::scim::projection::Projection;
use crate::scim::resource::{self, etag, SeatInfo, Stored};
use crate::scim::{Notes, ResourceKind, ScimError};
use crate::store::resources::{ListError, Written};
use crate::store::{ReadConn, WriteTx};

use crate::store::conflicts::NewConflict;

use super::error::Fail;
use super::seats::{RuleSet, SeatChange};
use super::synclog::{diff, Change, Ctx, Draft};
use super::Engine;

/// What a write returns: the resource as stored now, what normalisation rewrote, and the
/// seats it moved.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub resource: Stored,
    pub notes: Notes,
    pub seat_changes: Vec<SeatChange>,
    /// Member additions and removals (they are not in the document).
    pub member_changes: Vec<Change>,
}

fn not_found(kind: ResourceKind, id: &str) -> ScimError {
    ScimError::not_found(format!("{} {id} not found", kind.name()))
}

fn stale(current: i64) -> ScimError {
    ScimError::PreconditionFailed {
        detail: format!(
            "the resource has changed: its version is now {}",
            etag(current)
        ),
    }
}

fn written(kind: ResourceKind, id: &str, w: Written) -> Result<i64, ScimError> {
    match w {
        Written::Done { version } => Ok(version),
        Written::NotFound => Err(not_found(kind, id)),
        Written::Stale { current } => Err(stale(current)),
    }
}

fn refs_key(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    }
}

impl Engine {
    pub async fn create(
        &self,
        p: &Principal,
        kind: ResourceKind,
        body: &Value,
        ctx: &Ctx,
    ) -> Result<Outcome, ScimError> {
        let mut draft = Draft::new(Some(kind), "create", None);
        let r = self.create_in(p, kind, body, ctx, &mut draft).await;
        self.settle(p.account_id, ctx, &draft, r).await
    }

    async fn create_in(
        &self,
        p: &Principal,
        kind: ResourceKind,
        body: &Value,
        ctx: &Ctx,
        draft: &mut Draft,
    ) -> Result<Outcome, Fail> {
        let mut notes = vec![];
        let n = resource::normalise(self.registry(), kind, body, &mut notes);
        draft.notes = notes.clone();
        let n = n?;
        draft.user_name = display_name(kind, &n.doc);
        let now = self.now();
        let mut tx = self.store.write().await?;
        let mut seat_changes = vec![];
        let id = self
            .insert_normalised(&mut tx, p, kind, &n, &now, &mut seat_changes)
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
        let mut notes = vec![];
        let n = resource::normalise(self.registry(), ResourceKind::User, body, &mut notes)?;
        let id = uuid::Uuid::new_v4().to_string();
        tx.insert_resource(p.account_id, ResourceKind::User, &id, &n.doc, now)
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

    async fn insert_normalised(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        kind: ResourceKind,
        n: &resource::Normalised,
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<String, Fail> {
        let set = self.rule_set(tx, p.account_id).await?;
        let id = uuid::Uuid::new_v4().to_string();
        tx.insert_resource(p.account_id, kind, &id, &n.doc, now)
            .await?;
        self.sync_identities(tx, p, kind, None, &n.doc, now, set.open_conflicts)
            .await?;
        match kind {
            ResourceKind::User => {
                // A new user holds nothing yet: take what the rules give, reading nothing.
                if n.doc.get("active").and_then(Value::as_bool).unwrap_or(true) {
                    let name = display_name(kind, &n.doc).unwrap_or_default();
                    self.seat_new_user(tx, p.account_id, &set, (&id, &name), &[], now, changes)
                        .await?;
                }
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
    async fn follow_rules(
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

    async fn load(
        &self,
        tx: &mut ReadConn,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        with_refs: bool,
    ) -> Result<Stored, ScimError> {
        let found = tx
            .get_resource(p.account_id, kind, id)
            .await?
            .ok_or_else(|| not_found(kind, id))?;
        let mut items = [found];
        self.complete(tx, p, &mut items, with_refs).await?;
        let [found] = items;
        Ok(found)
    }

    /// Loads what rows alone do not hold: members or groups when wanted, and users' seats.
    async fn complete(
        &self,
        tx: &mut ReadConn,
        p: &Principal,
        items: &mut [Stored],
        with_refs: bool,
    ) -> Result<(), ScimError> {
        if with_refs {
            tx.load_refs(p.account_id, items).await?;
        }
        let users: Vec<String> = items
            .iter()
            .filter(|s| s.kind == ResourceKind::User)
            .map(|s| s.id.clone())
            .collect();
        if users.is_empty() {
            return Ok(());
        }
        let mut seats = tx.seats_of(p.account_id, &users).await?;
        for item in items.iter_mut().filter(|s| s.kind == ResourceKind::User) {
            item.seats = Some(
                seats
                    .remove(&item.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| SeatInfo {
                        product: s.product,
                        state: s.state,
                        since: s.since,
                    })
                    .collect(),
            );
        }
        Ok(())
    }

    pub async fn get(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        projection: &Projection,
        ctx: &Ctx,
    ) -> Result<Stored, ScimError> {
        let r = async {
            let mut tx = self.store.read().await?;
            self.load(&mut tx, p, kind, id, projection.wants(refs_key(kind)))
                .await
        }
        .await;
        let mut draft = Draft::new(Some(kind), "read", Some(id));
        if let Ok(s) = &r {
            draft.user_name = display_name(kind, &s.doc);
        }
        self.log_read(p.account_id, ctx, &draft, 200, r.as_ref().err());
        r
    }

    pub async fn list(
        &self,
        p: &Principal,
        kind: ResourceKind,
        q: &ListQuery,
        ctx: &Ctx,
    ) -> Result<(u64, Vec<Stored>), ScimError> {
        let r = self.list_in(p, kind, q).await;
        let mut draft = Draft::new(Some(kind), "list", None);
        if let Ok((total, _)) = &r {
            draft.step(format!("match: {total} {}(s)", kind.name()));
        }
        self.log_read(p.account_id, ctx, &draft, 200, r.as_ref().err());
        r
    }

    async fn list_in(
        &self,
        p: &Principal,
        kind: ResourceKind,
        q: &ListQuery,
    ) -> Result<(u64, Vec<Stored>), ScimError> {
        let mut tx = self.store.read().await?;
        let (total, mut items) =
            tx.list_resources(p.account_id, kind, q)
                .await
                .map_err(|e| match e {
                    ListError::Query(e) => e,
                    ListError::Store(e) => ScimError::from(e),
                })?;
        self.complete(&mut tx, p, &mut items, q.projection.wants(refs_key(kind)))
            .await?;
        Ok((total, items))
    }

    pub async fn replace(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
        ctx: &Ctx,
    ) -> Result<Outcome, ScimError> {
        let mut draft = Draft::new(Some(kind), "update", Some(id));
        let r = self
            .replace_in(p, kind, id, body, if_match, ctx, &mut draft)
            .await;
        self.settle(p.account_id, ctx, &draft, r).await
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
        let mut notes = vec![];
        let n = resource::normalise(self.registry(), kind, body, &mut notes);
        draft.notes = notes.clone();
        let n = n?;
        draft.user_name = display_name(kind, &n.doc);
        let now = self.now();
        let mut tx = self.store.write().await?;
        let current = self.load(&mut tx, p, kind, id, false).await?;
        let w = tx
            .update_resource(p.account_id, kind, id, &n.doc, &now, if_match)
            .await?;
        written(kind, id, w)?;
        self.sync_identities(&mut tx, p, kind, Some(&current.doc), &n.doc, &now, true)
            .await?;
        let mut affected = vec![];
        if let Some(members) = &n.members {
            affected = tx.user_members(p.account_id, id).await?;
            tx.clear_members(p.account_id, id).await?;
            self.add_members(&mut tx, p, id, members).await?;
            affected.extend(members.iter().cloned());
        }
        let mut seat_changes = vec![];
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
        };
        self.finish_draft(draft, kind, Some(&current.doc), &out);
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
        let mut draft = Draft::new(Some(kind), "update", Some(id));
        let r = self
            .patch_in(p, kind, id, body, if_match, return_refs, ctx, &mut draft)
            .await;
        self.settle(p.account_id, ctx, &draft, r).await
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
        let mut notes = vec![];
        let ops = patch::parse_request(body, &mut notes);
        draft.notes = notes.clone();
        let ops = ops?;
        let mut tx = self.store.write().await?;
        let current = self.load(&mut tx, p, kind, id, false).await?;
        draft.user_name = display_name(kind, &current.doc);
        if let Some(v) = if_match {
            if v != current.version {
                return Err(stale(current.version).into());
            }
        }
        let applied = patch::apply(self.registry(), kind, &current.doc, &ops, &mut notes);
        draft.notes = notes.clone();
        let applied = applied?;
        let outcome = self
            .write_patched(&mut tx, p, kind, &current, applied, notes, return_refs)
            .await?;
        self.finish_draft(draft, kind, Some(&current.doc), &outcome);
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
            self.sync_identities(tx, p, kind, Some(&current.doc), &applied.doc, &now, true)
                .await?;
            changed = true;
        }
        let mut members_changed = 0;
        let mut affected: Vec<String> = vec![];
        let mut member_changes = vec![];
        for op in &applied.members {
            members_changed += match op {
                MemberOp::Add(ids) => {
                    affected.extend(ids.iter().cloned());
                    let n = self.add_members(tx, p, id, ids).await?;
                    if n > 0 {
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
                        member_changes.push(Change {
                            attribute: "members".into(),
                            old: Some(serde_json::json!({ "removed": ids, "count": n })),
                            new: None,
                        });
                    }
                    n
                }
                MemberOp::RemoveAll => {
                    affected.extend(tx.user_members(p.account_id, id).await?);
                    tx.clear_members(p.account_id, id).await?
                }
                MemberOp::Replace(ids) => {
                    affected.extend(tx.user_members(p.account_id, id).await?);
                    affected.extend(ids.iter().cloned());
                    let removed = tx.clear_members(p.account_id, id).await?;
                    removed + self.add_members(tx, p, id, ids).await?
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
        })
    }

    pub async fn delete(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
        ctx: &Ctx,
    ) -> Result<Vec<SeatChange>, ScimError> {
        let mut draft = Draft::new(Some(kind), "delete", Some(id));
        let r = self.delete_in(p, kind, id, if_match, ctx, &mut draft).await;
        self.settle(p.account_id, ctx, &draft, r).await
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
        let mut tx = self.store.write().await?;
        let current = self.load(&mut tx, p, kind, id, false).await?;
        draft.user_name = display_name(kind, &current.doc);
        let members = match kind {
            ResourceKind::Group => tx.user_members(p.account_id, id).await?,
            ResourceKind::User => vec![],
        };
        let set = self.rule_set(&mut tx, p.account_id).await?;
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

    /// Claims the user's emails for the account and releases the ones it no longer uses.
    /// An email another account holds is a 409 that names neither that account nor its
    /// user, and an `email_in_use` conflict for this account's admins; one that is free
    /// again closes that conflict.
    #[allow(clippy::too_many_arguments)]
    async fn sync_identities(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        kind: ResourceKind,
        old: Option<&serde_json::Map<String, Value>>,
        new: &serde_json::Map<String, Value>,
        now: &str,
        resolve_conflicts: bool,
    ) -> Result<(), Fail> {
        if kind != ResourceKind::User {
            return Ok(());
        }
        let new_keys = resource::identity_keys(new);
        if let Some(taken) = tx.claim_identities(p.account_id, &new_keys).await? {
            return Err(Fail {
                error: ScimError::EmailInUse {
                    detail: format!(
                        "the email address {taken} is already in use by another account. \
                         The person must ask the admin of that account to remove them, \
                         or contact support to move their user here"
                    ),
                },
                conflict: Some(NewConflict {
                    kind: "email_in_use",
                    dedupe_key: taken.clone(),
                    user_id: None,
                    user_name: new
                        .get("userName")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                    email: Some(taken),
                    product: None,
                }),
            });
        }
        if resolve_conflicts {
            tx.resolve_conflicts(p.account_id, "email_in_use", &new_keys, now)
                .await?;
        }
        if let Some(old) = old {
            let released: Vec<String> = resource::identity_keys(old)
                .into_iter()
                .filter(|k| !new_keys.contains(k))
                .collect();
            tx.release_identities(p.account_id, &released).await?;
        }
        Ok(())
    }

    /// Adds members that exist in the account; an unknown id is refused.
    async fn add_members(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        group: &str,
        ids: &[String],
    ) -> Result<u64, ScimError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let kinds = tx.resource_kinds(p.account_id, ids).await?;
        let mut members = Vec::with_capacity(ids.len());
        for id in ids {
            match kinds.get(id) {
                Some(k) if id != group => members.push((id.clone(), *k)),
                Some(_) => {
                    return Err(ScimError::invalid_value("a group cannot be its own member"))
                }
                None => {
                    return Err(ScimError::invalid_value(format!(
                        "member {id} is neither a user nor a group of this account"
                    )))
                }
            }
        }
        tx.add_members(p.account_id, group, &members)
            .await
            .map_err(ScimError::from)
    }

    /// Runs a Bulk request: operations in order (an operation that refers to a later one's
    /// `bulkId` waits for it), each in its own transaction.
    pub async fn bulk(
        &self,
        p: &Principal,
        body: &Value,
        base_url: &str,
        ctx: &Ctx,
    ) -> Result<Value, ScimError> {
        let req = bulk::parse_request(body, self.registry().bulk_max_operations())?;
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut results: Vec<Option<Value>> = vec![None; req.ops.len()];
        let mut pending: Vec<usize> = (0..req.ops.len()).collect();
        let mut errors = 0u64;
        'passes: loop {
            let mut progressed = false;
            let mut still = vec![];
            for &i in &pending {
                let Some(op) = req.ops.get(i) else { continue };
                let waiting = !bulk::unresolved(&op.data.clone().unwrap_or(Value::Null), &ids)
                    .is_empty()
                    || !bulk::unresolved(&Value::String(op.path.clone()), &ids).is_empty();
                if waiting {
                    still.push(i);
                    continue;
                }
                progressed = true;
                let result = self.bulk_op(p, op, &ids, base_url, ctx).await;
                let entry = match result {
                    Ok((status, location, version, new_id)) => {
                        if let (Some(b), Some(new_id)) = (&op.bulk_id, new_id) {
                            ids.insert(b.clone(), new_id);
                        }
                        bulk::response_op(op, status, location, version, None)
                    }
                    Err(e) => {
                        errors += 1;
                        bulk::response_op(op, e.status(), None, None, Some(e.to_body()))
                    }
                };
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(entry);
                }
                if req
                    .fail_on_errors
                    .is_some_and(|max| max > 0 && errors >= max)
                {
                    break 'passes;
                }
            }
            pending = still;
            if pending.is_empty() || !progressed {
                break;
            }
        }
        // Whatever still waits refers to a bulkId nothing created.
        let stopped = req
            .fail_on_errors
            .is_some_and(|max| max > 0 && errors >= max);
        if !stopped {
            for i in pending {
                if let (Some(op), Some(slot)) = (req.ops.get(i), results.get_mut(i)) {
                    let e = ScimError::bad(
                        crate::scim::ScimType::InvalidValue,
                        "a bulkId this operation refers to was never created",
                    );
                    *slot = Some(bulk::response_op(op, 409, None, None, Some(e.to_body())));
                }
            }
        }
        Ok(bulk::response(results.into_iter().flatten().collect()))
    }

    /// One bulk operation: status, location, version, and the new id for a POST.
    async fn bulk_op(
        &self,
        p: &Principal,
        op: &BulkOp,
        ids: &HashMap<String, String>,
        base_url: &str,
        ctx: &Ctx,
    ) -> Result<(u16, Option<String>, Option<String>, Option<String>), ScimError> {
        let ctx = &ctx.part(op.method.as_str(), &format!("/Bulk {}", op.path));
        let mut path = Value::String(op.path.clone());
        bulk::substitute(&mut path, ids);
        let path = path.as_str().unwrap_or_default().to_string();
        let (kind, id) = bulk::parse_path(&path)
            .ok_or_else(|| ScimError::invalid_path(format!("unknown bulk path \"{path}\"")))?;
        let mut data = op.data.clone().unwrap_or(Value::Null);
        bulk::substitute(&mut data, ids);
        let if_match = op.version.as_deref().and_then(resource::parse_etag);
        let location = |id: &str| format!("{base_url}/{}/{id}", kind.endpoint());
        match (op.method, id) {
            (Method::Post, None) => {
                let out = self.create(p, kind, &data, ctx).await?;
                let r = out.resource;
                Ok((
                    201,
                    Some(location(&r.id)),
                    Some(etag(r.version)),
                    Some(r.id),
                ))
            }
            (Method::Put, Some(id)) => {
                let out = self.replace(p, kind, &id, &data, if_match, ctx).await?;
                Ok((
                    200,
                    Some(location(&id)),
                    Some(etag(out.resource.version)),
                    None,
                ))
            }
            (Method::Patch, Some(id)) => {
                let out = self
                    .patch(p, kind, &id, &data, if_match, false, ctx)
                    .await?;
                Ok((
                    200,
                    Some(location(&id)),
                    Some(etag(out.resource.version)),
                    None,
                ))
            }
            (Method::Delete, Some(id)) => {
                self.delete(p, kind, &id, if_match, ctx).await?;
                Ok((204, Some(location(&id)), None, None))
            }
            _ => Err(ScimError::invalid_path(format!(
                "{} {path}: POST goes to a resource type, the others to one resource",
                op.method.as_str()
            ))),
        }
    }
}

/// The name a log entry shows for a resource: userName, or a group's displayName.
pub(crate) fn display_name(
    kind: ResourceKind,
    doc: &serde_json::Map<String, Value>,
) -> Option<String> {
    let key = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    doc.get(key).and_then(Value::as_str).map(str::to_string)
}

pub(crate) fn seat_summary(changes: &[SeatChange]) -> String {
    if changes.is_empty() {
        return "no seat changed".into();
    }
    changes
        .iter()
        .map(|c| format!("{} {}", c.product, c.change))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Engine {
    /// Fills a log entry from an outcome: modified properties, seats, steps, and whether an
    /// update was really a disable or an enable.
    pub(crate) fn finish_draft(
        &self,
        draft: &mut Draft,
        kind: ResourceKind,
        old: Option<&serde_json::Map<String, Value>>,
        out: &Outcome,
    ) {
        let empty = serde_json::Map::new();
        draft.resource_id = Some(out.resource.id.clone());
        draft.user_name = display_name(kind, &out.resource.doc).or(draft.user_name.take());
        draft.notes = out.notes.clone();
        draft.changes = diff(old.unwrap_or(&empty), &out.resource.doc);
        draft.changes.extend(out.member_changes.iter().cloned());
        draft.seat_changes = out.seat_changes.clone();
        if draft.action == "update" {
            if let Some(c) = draft.changes.iter().find(|c| c.attribute == "active") {
                draft.action = match c.new {
                    Some(Value::Bool(false)) => "disable",
                    _ => "enable",
                };
            }
        }
        draft.steps = vec![
            if out.notes.is_empty() {
                "normalise: nothing to rewrite".into()
            } else {
                format!("normalise: {} rewrite(s), see notes", out.notes.len())
            },
            match old {
                Some(_) => format!(
                    "match: {} {} (now version {})",
                    kind.name(),
                    out.resource.id,
                    out.resource.version
                ),
                None => format!(
                    "match: no such {}; created {}",
                    kind.name(),
                    out.resource.id
                ),
            },
            format!("rules and seats: {}", seat_summary(&out.seat_changes)),
            if draft.changes.is_empty() {
                "write: nothing changed".into()
            } else {
                format!("write: {} propert(ies) changed", draft.changes.len())
            },
        ];
    }
}
