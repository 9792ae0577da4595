//! Holds, as the admin handles them: listed with their users and changes, released (every
//! held change applied in the order it came: seats freed, the waitlist served) or discarded
//! (the users stay active with their seats). Every step is in the sync log.
//!
//! A release runs in transactions of [`BATCH`] changes, so a hold of thousands never holds
//! the writer for long. The hold is closed first (no change joins it after), and each change
//! is marked done in the transaction that applies it: a release cut short by a failure is
//! finished by releasing again, and two admins releasing at once apply each change once.

use serde::Serialize;
use serde_json::Value;

use crate::auth::jwt::AdminPrincipal;
use crate::auth::Principal;
use crate::scim::patch::Applied;
use crate::scim::resource::{self, Stored};
use crate::scim::{Notes, ResourceKind, ScimError};
use crate::store::lifecycle::{HeldChange, HeldCounts, HoldRow};
use crate::store::resources::Written;
use crate::store::WriteTx;

use super::super::authz::{as_scim, require_write};
use super::super::error::{EngineError, ErrorCode, Fail};
use super::super::seats::{RuleSet, SeatChange};
use super::super::synclog::{diff, row, Change, Ctx, Draft};
use super::super::Engine;
use super::{is_active, with_active};

/// Held changes applied in one transaction of a release.
const BATCH: i64 = 100;
/// Most changes one hold shows in a list (the counts say how many there are).
const SHOWN: i64 = 1000;

/// A hold as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HoldView {
    pub id: String,
    pub connection: String,
    /// `open`, `released` or `discarded`.
    pub status: String,
    pub opened: String,
    pub last_held: String,
    pub closed: Option<String>,
    pub closed_by: Option<String>,
    /// The guard's setting when the hold opened.
    pub guard: GuardView,
    /// The users it holds changes of.
    pub users: i64,
    /// Its changes by state.
    pub counts: HeldCounts,
    /// Its changes in the order they came (the first 1000).
    pub changes: Vec<HeldChangeView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GuardView {
    pub max_users: i64,
    pub window_minutes: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct HeldChangeView {
    pub seq: i64,
    pub user_id: String,
    pub user_name: String,
    /// `suspend`, `delete` or `delete_as_suspend`.
    pub change: String,
    pub at: String,
    pub request_id: String,
    /// `pending`, `applied`, `skipped`, `discarded` or `superseded`.
    pub state: String,
    pub done: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HoldList {
    pub holds: Vec<HoldView>,
}

/// A hold after a release, and the seats its changes moved.
#[derive(Debug, Clone, Serialize)]
pub struct HoldReleased {
    pub hold: HoldView,
    pub applied: u64,
    pub skipped: u64,
    pub seat_changes: Vec<SeatChange>,
}

/// A hold after a discard.
#[derive(Debug, Clone, Serialize)]
pub struct HoldDiscarded {
    pub hold: HoldView,
    pub discarded: u64,
}

fn view(h: HoldRow, changes: Vec<HeldChange>) -> HoldView {
    HoldView {
        id: h.id,
        connection: h.connection,
        status: h.status,
        opened: h.opened,
        last_held: h.last_held,
        closed: h.closed,
        closed_by: h.closed_by,
        guard: GuardView {
            max_users: h.max_users,
            window_minutes: h.window_minutes,
        },
        users: h.users,
        counts: h.counts,
        changes: changes
            .into_iter()
            .map(|c| HeldChangeView {
                seq: c.seq,
                user_id: c.user_id,
                user_name: c.user_name,
                change: c.change,
                at: c.at,
                request_id: c.request_id,
                state: c.state,
                done: c.done,
            })
            .collect(),
    }
}

fn no_hold(id: &str) -> EngineError {
    EngineError::not_found(format!("no hold {id} in this account"))
}

fn closed(id: &str, status: &str) -> EngineError {
    EngineError::refused(
        ErrorCode::HoldClosed,
        format!("hold {id} is {status}: its changes can no longer be released or discarded"),
    )
}

/// What one held change was, in words for its log entry.
fn provenance(hold: &HoldRow, c: &HeldChange) -> String {
    format!(
        "change {} of hold {} (connection {}), held at {} from request {}",
        c.seq, hold.id, hold.connection, c.at, c.request_id
    )
}

fn action_of(change: &str) -> &'static str {
    match change {
        "suspend" => "disable",
        _ => "delete",
    }
}

/// Where one batch of a release left off.
struct Batch {
    applied: u64,
    skipped: u64,
    seat_changes: Vec<SeatChange>,
    done: bool,
}

impl Engine {
    /// The account's holds, newest first: `open`, `released`, `discarded` or all.
    pub async fn holds(
        &self,
        ap: &AdminPrincipal,
        status: Option<&str>,
    ) -> Result<HoldList, EngineError> {
        let status = match status {
            None | Some("") | Some("all") => None,
            Some(s @ ("open" | "released" | "discarded")) => Some(s),
            Some(_) => {
                return Err(EngineError::invalid(
                    ErrorCode::InvalidValue,
                    "status",
                    "status is open, released, discarded or all",
                ))
            }
        };
        let mut conn = self.store.read().await?;
        let rows = conn.list_holds(ap.account_id, status).await?;
        let mut holds = Vec::with_capacity(rows.len());
        for h in rows {
            let changes = conn
                .held_changes(ap.account_id, &h.id, false, SHOWN)
                .await?;
            holds.push(view(h, changes));
        }
        Ok(HoldList { holds })
    }

    async fn hold_view(&self, account: i64, id: &str) -> Result<HoldView, EngineError> {
        let mut conn = self.store.read().await?;
        let h = conn.hold(account, id).await?.ok_or_else(|| no_hold(id))?;
        let changes = conn.held_changes(account, id, false, SHOWN).await?;
        Ok(view(h, changes))
    }

    /// Applies every held change of a hold in the order they came: suspensions and
    /// deletions as the identity provider asked, seats freed and the waitlist served.
    pub async fn release_hold(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
    ) -> Result<HoldReleased, EngineError> {
        require_write(ap)?;
        let p = as_scim(ap);
        let (mut applied, mut skipped, mut seat_changes) = (0, 0, vec![]);
        loop {
            let mut attempt = 0;
            let batch = loop {
                match self.release_batch(&p, id, ctx).await {
                    Err(e) if super::super::retry::again_admin(&e, &mut attempt).await => continue,
                    r => break r,
                }
            }?;
            applied += batch.applied;
            skipped += batch.skipped;
            seat_changes.extend(batch.seat_changes);
            if batch.done {
                break;
            }
        }
        Ok(HoldReleased {
            hold: self.hold_view(ap.account_id, id).await?,
            applied,
            skipped,
            seat_changes,
        })
    }

    /// Closes the hold as released (unless it is already) and applies its next changes.
    async fn release_batch(
        &self,
        p: &Principal,
        id: &str,
        ctx: &Ctx,
    ) -> Result<Batch, EngineError> {
        let account = p.account_id;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let closed_now = self
            .close(&mut tx, account, id, "released", ctx, &now)
            .await?;
        let Some(hold) = tx.hold(account, id).await? else {
            return Err(no_hold(id));
        };
        let pending = tx.held_changes(account, id, true, BATCH).await?;
        let set = self.rule_set(&mut tx, account).await?;
        let mut batch = Batch {
            applied: 0,
            skipped: 0,
            seat_changes: vec![],
            done: (pending.len() as i64) < BATCH,
        };
        for c in &pending {
            let done = self
                .apply_held(&mut tx, p, &set, &hold, c, &now, ctx)
                .await
                .map_err(|f| EngineError::from(f.error))?;
            match done {
                Some(changes) => {
                    batch.applied += 1;
                    batch.seat_changes.extend(changes);
                }
                None => batch.skipped += 1,
            }
        }
        let users: Vec<String> = pending.iter().map(|c| c.user_id.clone()).collect();
        tx.refresh_held(account, &users).await?;
        if batch.done && (closed_now || !pending.is_empty()) {
            let counts = tx
                .hold(account, id)
                .await?
                .map(|h| h.counts)
                .unwrap_or_default();
            let mut draft = hold_draft(&hold, "hold_release", "released");
            draft.step(format!(
                "release: {} held change(s) applied, {} skipped (nothing left to do), {} superseded by the identity provider",
                counts.applied, counts.skipped, counts.superseded
            ));
            draft.step("conflicts: the hold's deprovision_held conflict is resolved");
            self.log_in(&mut tx, account, ctx, &draft, 200).await?;
        }
        tx.commit().await?;
        Ok(batch)
    }

    /// Closes an open hold as `status`, resolving its conflict: true when it closed now,
    /// false when it was closed already as `status`; refused when it is gone or was closed
    /// the other way.
    async fn close(
        &self,
        tx: &mut WriteTx,
        account: i64,
        id: &str,
        status: &str,
        ctx: &Ctx,
        now: &str,
    ) -> Result<bool, EngineError> {
        if tx.close_hold(account, id, status, now, &ctx.actor).await? {
            tx.resolve_conflicts(account, "deprovision_held", &[id.to_string()], now)
                .await?;
            return Ok(true);
        }
        match tx.hold(account, id).await? {
            None => Err(no_hold(id)),
            // A release cut short goes on where it stopped.
            Some(h) if h.status == status && status == "released" => Ok(false),
            Some(h) => Err(closed(id, &h.status)),
        }
    }

    /// Applies one held change, marking it done in the same transaction. `Some`: applied,
    /// with the seats it moved; `None`: skipped (nothing left to do, or another release got
    /// there first).
    #[allow(clippy::too_many_arguments)]
    async fn apply_held(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        set: &RuleSet,
        hold: &HoldRow,
        c: &HeldChange,
        now: &str,
        ctx: &Ctx,
    ) -> Result<Option<Vec<SeatChange>>, Fail> {
        let account = p.account_id;
        tx.lock_resource(account, ResourceKind::User, &c.user_id)
            .await?;
        let user = tx
            .get_resource(account, ResourceKind::User, &c.user_id)
            .await?;
        let mut draft = Draft::new(
            Some(ResourceKind::User),
            action_of(&c.change),
            Some(&c.user_id),
        );
        draft.user_name = Some(c.user_name.clone());
        let skip = match (&user, c.change.as_str()) {
            (None, _) => Some("the user no longer exists"),
            (Some(u), "suspend") if !is_active(&u.doc) => Some("the user is suspended already"),
            (Some(u), "delete_as_suspend") if u.lifecycle.deleted_by_idp.is_some() => {
                Some("the user is deleted for the identity provider already")
            }
            _ => None,
        };
        let state = if skip.is_some() { "skipped" } else { "applied" };
        if !tx
            .finish_held_change(account, &hold.id, c.seq, state, now)
            .await?
        {
            return Ok(None);
        }
        let (Some(u), None) = (user, skip) else {
            draft.step(format!("release: {}", provenance(hold, c)));
            draft.step(format!("skipped: {}", skip.unwrap_or("nothing to do")));
            self.log_skipped(tx, account, ctx, &draft).await?;
            return Ok(None);
        };
        let changes = match c.change.as_str() {
            "suspend" => {
                let out = self
                    .write_patched(
                        tx,
                        p,
                        ResourceKind::User,
                        &u,
                        Applied {
                            doc: with_active(&u.doc, false),
                            members: vec![],
                        },
                        Notes::default(),
                        false,
                    )
                    .await?;
                self.finish_draft(&mut draft, ResourceKind::User, Some(&u.doc), &out);
                draft.action = "disable";
                out.seat_changes
            }
            "delete_as_suspend" => {
                self.delete_as_suspend(tx, account, set, &u, now, &mut draft)
                    .await?
            }
            _ => {
                self.delete_held(tx, account, set, &u, now, &mut draft)
                    .await?
            }
        };
        draft
            .steps
            .insert(0, format!("release: {}", provenance(hold, c)));
        self.log_in(tx, account, ctx, &draft, 200).await?;
        Ok(Some(changes))
    }

    /// Deletes a user whose deletion was held: as the identity provider's DELETE would have.
    async fn delete_held(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        u: &Stored,
        now: &str,
        draft: &mut Draft,
    ) -> Result<Vec<SeatChange>, Fail> {
        match tx
            .delete_resource(account, ResourceKind::User, &u.id, Some(u.version))
            .await?
        {
            Written::Done { .. } => {}
            Written::NotFound | Written::Stale { .. } => {
                return Err(ScimError::Unavailable {
                    detail: "the user changed while its held deletion was applied: retry".into(),
                    retry_after_secs: super::super::error::CONTENTION_RETRY_AFTER,
                }
                .into())
            }
        }
        tx.release_identities(account, &resource::identity_keys(&u.doc))
            .await?;
        let mut changes = vec![];
        self.reconcile(tx, account, set, &u.id, now, &mut changes)
            .await?;
        draft.changes = diff(&u.doc, &serde_json::Map::new());
        draft.seat_changes = changes.clone();
        draft.step(format!("match: User {}", u.id));
        draft.step(format!(
            "rules and seats: {}",
            super::super::resources::seat_summary(&changes)
        ));
        draft.step("write: deleted; the sync log keeps its history");
        Ok(changes)
    }

    /// Drops every held change of an open hold: the users stay active with their seats.
    pub async fn discard_hold(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
    ) -> Result<HoldDiscarded, EngineError> {
        require_write(ap)?;
        let mut attempt = 0;
        let discarded = loop {
            match self.discard_once(ap.account_id, id, ctx).await {
                Err(e) if super::super::retry::again_admin(&e, &mut attempt).await => continue,
                r => break r,
            }
        }?;
        Ok(HoldDiscarded {
            hold: self.hold_view(ap.account_id, id).await?,
            discarded,
        })
    }

    async fn discard_once(&self, account: i64, id: &str, ctx: &Ctx) -> Result<u64, EngineError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        // Closed now, or refused: a hold is discarded once.
        self.close(&mut tx, account, id, "discarded", ctx, &now)
            .await?;
        let Some(hold) = tx.hold(account, id).await? else {
            return Err(no_hold(id));
        };
        let pending = tx.held_changes(account, id, true, i64::MAX).await?;
        let users = tx.discard_held_changes(account, id, &now).await?;
        tx.refresh_held(account, &users).await?;
        for c in &pending {
            let mut draft = Draft::new(
                Some(ResourceKind::User),
                action_of(&c.change),
                Some(&c.user_id),
            );
            draft.user_name = Some(c.user_name.clone());
            draft.step(format!("discard: {}", provenance(&hold, c)));
            draft.step("dropped by the admin: the user stays active with its seats");
            self.log_skipped(&mut tx, account, ctx, &draft).await?;
        }
        let mut draft = hold_draft(&hold, "hold_discard", "discarded");
        draft.step(format!(
            "discard: {} held change(s) of {} user(s) dropped; the users stay active with their seats. \
             Fix the identity provider's scope or mapping before its next cycle, or it sends them again",
            pending.len(),
            users.len()
        ));
        draft.step("conflicts: the hold's deprovision_held conflict is resolved");
        self.log_in(&mut tx, account, ctx, &draft, 200).await?;
        tx.commit().await?;
        Ok(pending.len() as u64)
    }

    /// Logs a step that changed nothing, in the caller's transaction, as `skipped`.
    async fn log_skipped(
        &self,
        tx: &mut WriteTx,
        account: i64,
        ctx: &Ctx,
        draft: &Draft,
    ) -> Result<(), ScimError> {
        let mut r = row(ctx, &self.now(), draft, 200, None);
        r.status = "skipped".into();
        tx.insert_sync_log(account, &r).await?;
        Ok(())
    }
}

/// The log entry of a hold's release or discard.
fn hold_draft(hold: &HoldRow, action: &'static str, status: &str) -> Draft {
    let mut draft = Draft::new(None, action, Some(&hold.id));
    draft.resource_type = Some("Hold");
    draft.step(format!(
        "match: hold {} of connection {}, opened {}",
        hold.id, hold.connection, hold.opened
    ));
    draft.changes = vec![Change {
        attribute: "status".into(),
        old: Some(Value::from("open")),
        new: Some(Value::from(status)),
    }];
    draft
}
