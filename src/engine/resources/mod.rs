//! SCIM resources: create, read, list, replace, patch, delete and bulk, each one
//! transaction. This file holds what they share (the outcome of a write, reading and
//! completing resources, claiming emails, member changes); each kind of write has its own
//! file.

mod bulk;
mod create;
mod delete;
mod update;

use serde_json::Value;

use crate::auth::Principal;
use crate::scim::list::ListQuery;
use crate::scim::projection::Projection;
use crate::scim::resource::{self, etag, SeatInfo, Stored};
use crate::scim::{Notes, ResourceKind, ScimError};
use crate::store::resources::{ListError, Written};
use crate::store::{ReadConn, WriteTx};

use crate::store::conflicts::NewConflict;

use super::error::Fail;
use super::seats::SeatChange;
use super::synclog::{diff, Change, Ctx, Draft};
use super::Engine;

/// Most members one page of a group list embeds (the page ends early to stay within it).
const LIST_MEMBERS_BUDGET: i64 = 10_000;

/// How many groups of a page, in order, fit a budget of members: always the first, then
/// each while the members so far stay within the budget.
fn within_budget(sizes: &[i64], budget: i64) -> usize {
    let mut used = 0;
    let mut fit = 0;
    for (i, n) in sizes.iter().enumerate() {
        if i > 0 && used + n > budget {
            break;
        }
        used += n;
        fit += 1;
    }
    fit
}

/// What a write returns: the resource as stored now, what normalisation rewrote, and the
/// seats it moved.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub resource: Stored,
    pub notes: Notes,
    pub seat_changes: Vec<SeatChange>,
    /// Member additions and removals (they are not in the document).
    pub member_changes: Vec<Change>,
    /// The member ids a group write added and removed (its events list them).
    pub members_added: Vec<String>,
    pub members_removed: Vec<String>,
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
    /// A write transaction for a SCIM request: the account's schema number taken from its
    /// credentials, so the change's events and rules do not read it again.
    pub(crate) async fn write_for(&self, p: &Principal) -> Result<WriteTx, Fail> {
        let mut tx = self.store.write().await?;
        tx.assume_schemas_version(p.account_id, p.schemas_version);
        Ok(tx)
    }
    async fn load(
        &self,
        tx: &mut ReadConn,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        with_refs: bool,
    ) -> Result<Stored, ScimError> {
        self.load_as(tx, p, kind, id, with_refs, true).await
    }

    /// [`Engine::load`], reading the user's seats only when `with_seats`.
    async fn load_as(
        &self,
        tx: &mut ReadConn,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        with_refs: bool,
        with_seats: bool,
    ) -> Result<Stored, ScimError> {
        let found = tx
            .get_resource(p.account_id, kind, id)
            .await?
            .ok_or_else(|| not_found(kind, id))?;
        let mut items = [found];
        self.complete(tx, p, &mut items, with_refs, with_seats)
            .await?;
        let [found] = items;
        Ok(found)
    }

    /// Loads what rows alone do not hold: members or groups when wanted, and users' seats
    /// when wanted (they are shown only in Roster's extension, returned on request).
    async fn complete(
        &self,
        tx: &mut ReadConn,
        p: &Principal,
        items: &mut [Stored],
        with_refs: bool,
        with_seats: bool,
    ) -> Result<(), ScimError> {
        if with_refs {
            tx.load_refs(p.account_id, items).await?;
        }
        if !with_seats {
            return Ok(());
        }
        load_seats(tx, p.account_id, items).await
    }
}

/// Fills in the users' seats (one statement for all of them).
pub(crate) async fn load_seats(
    tx: &mut ReadConn,
    account: i64,
    items: &mut [Stored],
) -> Result<(), ScimError> {
    let users: Vec<String> = items
        .iter()
        .filter(|s| s.kind == ResourceKind::User)
        .map(|s| s.id.clone())
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    let mut seats = tx.seats_of(account, &users).await?;
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

impl Engine {
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
            let found = self
                .load_as(
                    &mut tx,
                    p,
                    kind,
                    id,
                    projection.wants(refs_key(kind)),
                    projection.names_schema(crate::scim::ROSTER_USER_SCHEMA),
                )
                .await?;
            super::lifecycle::idp_sees(ctx, &found)?;
            Ok(found)
        }
        .await;
        let mut draft = Draft::new(Some(kind), "read", Some(id));
        if let Ok(s) = &r {
            draft.user_name = display_name(kind, &s.doc);
        }
        let status = r.as_ref().map_or_else(ScimError::status, |_| 200);
        let seen = r
            .as_ref()
            .ok()
            .and_then(|s| self.read_by_idp(ctx, kind, &s.id));
        self.log_read_seen(p.account_id, ctx, &draft, status, r.as_ref().err(), seen);
        r
    }

    pub async fn list(
        &self,
        p: &Principal,
        kind: ResourceKind,
        q: &ListQuery,
        ctx: &Ctx,
    ) -> Result<(u64, Vec<Stored>), ScimError> {
        let seats = q.projection.names_schema(crate::scim::ROSTER_USER_SCHEMA);
        self.list_as(p, kind, q, ctx, seats).await
    }

    /// [`Engine::list`], with users' seats loaded when `seats` (admins' views show them).
    pub(crate) async fn list_as(
        &self,
        p: &Principal,
        kind: ResourceKind,
        q: &ListQuery,
        ctx: &Ctx,
        seats: bool,
    ) -> Result<(u64, Vec<Stored>), ScimError> {
        let r = self
            .list_in(p, kind, q, super::lifecycle::from_idp(ctx), seats)
            .await;
        let mut draft = Draft::new(Some(kind), "list", None);
        for n in &q.notes {
            draft.notes.push(n.clone());
        }
        if let Ok((total, _)) = &r {
            draft.step(format!("match: {total} {}(s)", kind.name()));
        }
        let status = r.as_ref().map_or_else(ScimError::status, |_| 200);
        self.log_read(p.account_id, ctx, &draft, status, r.as_ref().err());
        r
    }

    /// `idp`: as an identity provider sees it (without the users it deleted).
    async fn list_in(
        &self,
        p: &Principal,
        kind: ResourceKind,
        q: &ListQuery,
        idp: bool,
        with_seats: bool,
    ) -> Result<(u64, Vec<Stored>), ScimError> {
        let mut tx = self.store.read().await?;
        let (total, mut items) = tx
            .list_resources_as(p.account_id, kind, q, idp)
            .await
            .map_err(|e| match e {
                ListError::Query(e) => e,
                ListError::Store(e) => ScimError::from(e),
            })?;
        let with_refs = match kind {
            ResourceKind::User => q.projection.wants(refs_key(kind)),
            // A page of groups embeds their members only when `attributes` asks for them, and
            // then only as many groups as fit the budget (always at least one): a page of
            // large groups would otherwise be hundreds of megabytes. GET of one group still
            // returns its members.
            ResourceKind::Group => {
                let named = q.projection.names(refs_key(kind));
                if named {
                    let ids: Vec<String> = items.iter().map(|s| s.id.clone()).collect();
                    let counts = tx.member_counts(p.account_id, &ids).await?;
                    let sizes: Vec<i64> = ids
                        .iter()
                        .map(|id| counts.get(id).copied().unwrap_or(0))
                        .collect();
                    items.truncate(within_budget(&sizes, LIST_MEMBERS_BUDGET));
                }
                named
            }
        };
        self.complete(&mut tx, p, &mut items, with_refs, with_seats)
            .await?;
        Ok((total, items))
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
}

/// `(added, removed)` between a group's member lists before and after a replacement.
pub(crate) fn member_delta(before: &[String], after: &[String]) -> (Vec<String>, Vec<String>) {
    let old: std::collections::HashSet<&String> = before.iter().collect();
    let new: std::collections::HashSet<&String> = after.iter().collect();
    let mut added: Vec<String> = after.iter().filter(|m| !old.contains(m)).cloned().collect();
    let mut removed: Vec<String> = before
        .iter()
        .filter(|m| !new.contains(m))
        .cloned()
        .collect();
    added.dedup();
    removed.dedup();
    (added, removed)
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
        draft.snapshot = Some(out.resource.clone());
        draft.members_added = out.members_added.clone();
        draft.members_removed = out.members_removed.clone();
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

#[cfg(test)]
mod tests {
    use super::within_budget;

    #[test]
    fn a_page_of_groups_ends_at_the_member_budget() {
        assert_eq!(within_budget(&[], 10), 0);
        assert_eq!(within_budget(&[50], 10), 1, "the first group always fits");
        assert_eq!(within_budget(&[4, 4, 2, 1], 10), 3);
        assert_eq!(within_budget(&[0, 0, 0], 10), 3);
        assert_eq!(within_budget(&[3, 20, 1], 10), 1);
    }
}
