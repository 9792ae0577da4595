//! Outbound events: what a change tells the products behind Roster. Every change that commits
//! writes its events in its own transaction (the store's outbox, numbered per account in
//! commit order); readers pull them (`GET /admin/v1/events`, `roster events`) or receive
//! them at webhook endpoints (`webhooks`, delivered by `deliver`).

pub mod deliver;
pub mod webhooks;

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::auth::jwt::AdminPrincipal;
use crate::scim::projection::Projection;
use crate::scim::resource;
use crate::scim::{ResourceKind, ScimError};
use crate::store::events::{EventRow, NewEvent};
use crate::store::WriteTx;

use super::error::{EngineError, ErrorCode};
use super::seats::SeatChange;
use super::synclog::{Ctx, Draft};
use super::Engine;

/// Every event type, in the order the documentation lists them.
pub const EVENT_TYPES: [&str; 16] = [
    "user.created",
    "user.updated",
    "user.suspended",
    "user.reactivated",
    "user.deleted",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.members_added",
    "group.members_removed",
    "seat.assigned",
    "seat.waitlisted",
    "seat.released",
    "license.changed",
    "conflict.opened",
    "conflict.resolved",
];

/// Longest a long poll waits.
pub const MAX_WAIT_SECS: u64 = 30;
/// Most events one page of the feed holds.
pub const MAX_LIMIT: i64 = 1000;

/// The type names a list gives, checked against [`EVENT_TYPES`]; `*` alone means all.
pub fn parse_types(field: &str, list: &[String]) -> Result<Vec<String>, EngineError> {
    let mut out = vec![];
    for t in list {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if t == "*" {
            return Ok(vec![]);
        }
        match EVENT_TYPES.iter().find(|known| **known == t) {
            Some(known) => {
                if !out.iter().any(|o: &String| o == known) {
                    out.push((*known).to_string());
                }
            }
            None => {
                return Err(EngineError::invalid(
                    ErrorCode::InvalidValue,
                    field,
                    format!(
                        "unknown event type {t:?}; the types are {}, or \"*\" for all",
                        EVENT_TYPES.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(out)
}

/// An event as readers receive it (the Standard Webhooks payload, and each item of the feed).
#[derive(Debug, Clone, Serialize)]
pub struct Envelope {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub account: String,
    pub sequence: i64,
    pub occurred_at: String,
    pub actor: String,
    pub data: Value,
}

impl Envelope {
    pub(crate) fn of(account: &str, r: EventRow) -> Envelope {
        Envelope {
            data: serde_json::from_str(&r.data).unwrap_or(Value::Null),
            id: r.id,
            kind: r.kind,
            account: account.to_string(),
            sequence: r.sequence,
            occurred_at: r.occurred_at,
            actor: r.actor,
        }
    }
}

/// A page of the feed. `next_after` is what to pass as `after` for the next page.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    pub events: Vec<Envelope>,
    pub next_after: i64,
    /// The account's last sequence when this page was read.
    pub last_sequence: i64,
}

/// `GET /admin/v1/events` parameters, as typed values.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub after: i64,
    pub types: Vec<String>,
    pub limit: i64,
    pub wait: Duration,
}

impl EventQuery {
    /// Reads the query string's values; a bad one is a 400 naming its parameter.
    pub fn parse(
        after: Option<&str>,
        types: Option<&str>,
        limit: Option<&str>,
        wait: Option<&str>,
    ) -> Result<EventQuery, EngineError> {
        let num = |field: &str, v: Option<&str>, default: i64, max: i64| match v {
            None | Some("") => Ok(default),
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (0..=max).contains(&n) => Ok(n),
                _ => Err(EngineError::invalid(
                    ErrorCode::InvalidValue,
                    field,
                    format!("{field} is a whole number from 0 to {max}"),
                )),
            },
        };
        let types: Vec<String> = types
            .map(|t| t.split(',').map(str::to_string).collect())
            .unwrap_or_default();
        let limit = num("limit", limit, 100, MAX_LIMIT)?;
        Ok(EventQuery {
            after: num("after", after, 0, i64::MAX)?,
            types: parse_types("types", &types)?,
            limit: if limit == 0 { 100 } else { limit },
            wait: Duration::from_secs(
                u64::try_from(num(
                    "wait",
                    wait,
                    0,
                    i64::try_from(MAX_WAIT_SECS).unwrap_or(30),
                )?)
                .unwrap_or(0),
            ),
        })
    }
}

/// The seat event a seat change makes, if any (`source_changed` moves no seat).
fn seat_event(c: &SeatChange) -> Option<(&'static str, Value)> {
    let (kind, reason, state) = match c.change {
        "assigned" => ("seat.assigned", c.source, "assigned"),
        "moved" => ("seat.assigned", "transfer", "assigned"),
        "waitlisted" => ("seat.waitlisted", c.source, "waitlisted"),
        "freed" => ("seat.released", c.source, "assigned"),
        "left_waitlist" => ("seat.released", c.source, "waitlisted"),
        _ => return None,
    };
    let data = match kind {
        "seat.released" => json!({
            "user_id": c.user_id, "product": c.product, "reason": reason, "was": state,
        }),
        _ => json!({"user_id": c.user_id, "product": c.product, "reason": reason}),
    };
    Some((kind, data))
}

/// The resource events a logged change makes: `(type, needs the resource)`.
fn resource_events(kind: ResourceKind, draft: &Draft) -> Vec<(&'static str, bool)> {
    let (created, updated, deleted, name) = match kind {
        ResourceKind::User => ("user.created", "user.updated", "user.deleted", "userName"),
        ResourceKind::Group => (
            "group.created",
            "group.updated",
            "group.deleted",
            "displayName",
        ),
    };
    if draft.action == "create" {
        return vec![(created, true)];
    }
    if draft
        .changes
        .iter()
        .any(|c| c.attribute == name && c.old.is_some() && c.new.is_none())
    {
        return vec![(deleted, false)];
    }
    let mut out = vec![];
    let mut other = false;
    for c in &draft.changes {
        match c.attribute.as_str() {
            // Not in the document: members have their own events, and a transfer's entry
            // names what happened beside the properties it changed.
            "members" | "transfer" => {}
            "active" if kind == ResourceKind::User => match c.new {
                Some(Value::Bool(false)) => out.push(("user.suspended", true)),
                _ => out.push(("user.reactivated", true)),
            },
            _ => other = true,
        }
    }
    if other {
        out.insert(0, (updated, true));
    }
    out
}

/// What a deleted resource's event carries: its id and the names it was known by.
fn deleted_data(kind: ResourceKind, id: &str, draft: &Draft) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), id.into());
    let keys: &[&str] = match kind {
        ResourceKind::User => &["userName", "externalId", "displayName"],
        ResourceKind::Group => &["displayName", "externalId"],
    };
    for k in keys {
        if let Some(v) = draft
            .changes
            .iter()
            .find(|c| c.attribute == *k)
            .and_then(|c| c.old.clone())
        {
            o.insert((*k).into(), v);
        }
    }
    Value::Object(o)
}

impl Engine {
    /// Adds the events of a logged change to its transaction: the resource's (created,
    /// updated, suspended, reactivated, deleted), its members', any the change named itself
    /// (`license.changed`), then its seats'.
    pub(crate) async fn emit_logged(
        &self,
        tx: &mut WriteTx,
        account: i64,
        ctx: &Ctx,
        draft: &Draft,
    ) -> Result<(), ScimError> {
        let at = self.now();
        let emit = |tx: &mut WriteTx, kind: &'static str, data: Value| {
            tx.emit(NewEvent {
                account,
                kind,
                occurred_at: at.clone(),
                actor: ctx.actor.clone(),
                data: data.to_string(),
            })
        };
        let kind = match draft.resource_type {
            Some("User") => Some(ResourceKind::User),
            Some("Group") => Some(ResourceKind::Group),
            _ => None,
        };
        if let (Some(kind), Some(id)) = (kind, draft.resource_id.as_deref()) {
            let wanted = resource_events(kind, draft);
            let mut data: Option<Value> = None;
            for (event, needs) in &wanted {
                let d = if *needs {
                    if data.is_none() {
                        let snapshot = draft.snapshot.as_ref().filter(|s| s.id == id);
                        data = Some(self.resource_data(tx, account, kind, id, snapshot).await?);
                    }
                    data.clone().unwrap_or(Value::Null)
                } else {
                    deleted_data(kind, id, draft)
                };
                emit(tx, event, d);
            }
            if kind == ResourceKind::Group {
                let group = json!({
                    "id": id,
                    "displayName": draft.user_name,
                });
                if !draft.members_added.is_empty() {
                    emit(
                        tx,
                        "group.members_added",
                        json!({"group": group, "members": draft.members_added}),
                    );
                }
                if !draft.members_removed.is_empty() {
                    emit(
                        tx,
                        "group.members_removed",
                        json!({"group": group, "members": draft.members_removed}),
                    );
                }
            }
        }
        // The change's own events before the seats it moved: a reader sees the licenses
        // added before the waitlisted users they seat.
        for (kind, data) in &draft.events {
            emit(tx, kind, data.clone());
        }
        for c in &draft.seat_changes {
            if let Some((kind, data)) = seat_event(c) {
                emit(tx, kind, data);
            }
        }
        Ok(())
    }

    /// The resource as a GET returns it (without members or groups, and without anything
    /// `returned: never`), from the change's snapshot or read in its transaction.
    pub(crate) async fn resource_data(
        &self,
        tx: &mut WriteTx,
        account: i64,
        kind: ResourceKind,
        id: &str,
        snapshot: Option<&crate::scim::resource::Stored>,
    ) -> Result<Value, ScimError> {
        // Seats are not read: they are in Roster's extension, which is returned on request
        // only, so the projection below would drop them.
        let stored = match snapshot {
            Some(s) => Some(s.clone()),
            None => tx.get_resource(account, kind, id).await?,
        };
        let Some(mut stored) = stored else {
            return Ok(json!({"id": id}));
        };
        stored.refs = None;
        let reg = self.registry_in(tx, account).await?;
        let projection = Projection::parse(&reg, kind, None, None);
        let mut doc = projection.apply(&reg, kind, resource::render(&stored, "/scim/v2"));
        doc.insert(
            "meta".into(),
            json!({
                "resourceType": kind.name(),
                "created": stored.created,
                "lastModified": stored.last_modified,
                "version": resource::etag(stored.version),
            }),
        );
        Ok(Value::Object(doc))
    }

    /// `GET /admin/v1/events`: the events after `after`, waiting up to `wait` for the first
    /// when there is none yet.
    pub async fn events(
        &self,
        ap: &AdminPrincipal,
        q: &EventQuery,
    ) -> Result<EventPage, EngineError> {
        let deadline = tokio::time::Instant::now() + q.wait;
        let mut woken = self.store.events_committed();
        loop {
            woken.borrow_and_update();
            let (rows, last) = {
                let mut conn = self.store.read().await?;
                let rows = conn
                    .events_after(ap.account_id, q.after, &q.types, q.limit)
                    .await?;
                let last = conn.last_event_sequence(ap.account_id).await?;
                (rows, last)
            };
            if !rows.is_empty() || tokio::time::Instant::now() >= deadline {
                let next_after = rows.last().map_or(q.after, |r| r.sequence);
                return Ok(EventPage {
                    events: rows
                        .into_iter()
                        .map(|r| Envelope::of(&ap.account, r))
                        .collect(),
                    next_after,
                    last_sequence: last,
                });
            }
            // This process's commits wake the poll at once; another replica's are found by
            // looking again within half a second.
            let nap = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_millis(500));
            let _ = tokio::time::timeout(nap, woken.changed()).await;
        }
    }

    /// Deletes events older than each account's `events_retention_days` that every enabled
    /// webhook endpoint has been given, and delivery records as old.
    pub async fn prune_events(&self) -> Result<u64, EngineError> {
        let now = self.clock.now();
        let accounts = self.store.read().await?.accounts_with_events().await?;
        let mut total = 0;
        for account in accounts {
            let mut tx = self.store.write().await?;
            let settings = self.settings_in(&mut tx, account).await?;
            let cutoff = now - chrono::Duration::days(i64::from(settings.events_retention_days));
            total += tx
                .prune_events(account, &crate::scim::query::timestamp(cutoff))
                .await?;
            tx.commit().await?;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked_and_star_means_all() {
        assert_eq!(
            parse_types("events", &["user.created".into(), " seat.assigned ".into()]).ok(),
            Some(vec![
                "user.created".to_string(),
                "seat.assigned".to_string()
            ])
        );
        assert_eq!(parse_types("events", &["*".into()]).ok(), Some(vec![]));
        assert!(parse_types("events", &["user.exploded".into()]).is_err());
    }

    #[test]
    fn seat_changes_become_seat_events() {
        let c = |change| SeatChange {
            user_id: "u".into(),
            product: "meeting".into(),
            change,
            source: "rule",
        };
        assert_eq!(
            seat_event(&c("assigned")).map(|e| e.0),
            Some("seat.assigned")
        );
        assert_eq!(
            seat_event(&c("waitlisted")).map(|e| e.0),
            Some("seat.waitlisted")
        );
        assert_eq!(seat_event(&c("freed")).map(|e| e.0), Some("seat.released"));
        assert_eq!(
            seat_event(&c("left_waitlist")).map(|e| e.0),
            Some("seat.released")
        );
        assert_eq!(
            seat_event(&c("moved")).map(|e| e.1["reason"].clone()),
            Some(json!("transfer"))
        );
        assert!(seat_event(&c("source_changed")).is_none());
    }
}
