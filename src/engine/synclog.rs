//! The sync log: what each SCIM request and admin action did, in words an admin reads like
//! Entra's provisioning log: the action, a status, each modified property with its old and
//! new value, the steps taken, seat changes, and for a failure a code, the reason and what to
//! do. Changes are logged in their own transaction; failures in a small one after the
//! rollback; reads through a batching writer so a lookup never waits for a write.

use std::time::Instant;

use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use crate::scim::{ResourceKind, ScimError};
pub use crate::store::synclog::SyncRow;
use crate::store::{Store, WriteTx};

use super::error::{EngineError, ErrorCode};
use super::seats::SeatChange;
use super::Engine;

/// Who asked what, and when the request started.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    /// `connection:NAME`, `admin:SUBJECT` or `cli`.
    pub actor: String,
    pub method: String,
    pub path: String,
    pub started: Instant,
}

impl Ctx {
    pub fn new(
        actor: impl Into<String>,
        method: &str,
        path: &str,
        request_id: Option<String>,
    ) -> Ctx {
        Ctx {
            request_id: request_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            actor: actor.into(),
            method: method.to_string(),
            path: path.to_string(),
            started: Instant::now(),
        }
    }

    /// The same request, for one part of it (a Bulk operation, an import row).
    pub fn part(&self, method: &str, path: &str) -> Ctx {
        Ctx {
            method: method.to_string(),
            path: path.to_string(),
            started: Instant::now(),
            ..self.clone()
        }
    }
}

/// One modified property.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub attribute: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// What an operation did so far; becomes the log entry.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub resource_type: Option<&'static str>,
    pub resource_id: Option<String>,
    pub user_name: Option<String>,
    pub action: &'static str,
    pub notes: crate::scim::Notes,
    pub changes: Vec<Change>,
    pub seat_changes: Vec<SeatChange>,
    pub steps: Vec<String>,
    /// The resource as the change left it, for its events (read again when missing).
    pub snapshot: Option<crate::scim::resource::Stored>,
    /// Members a group change added and removed, for its events.
    pub members_added: Vec<String>,
    pub members_removed: Vec<String>,
    /// Events the change names itself (beyond its resource's, members' and seats').
    pub events: Vec<(&'static str, Value)>,
}

impl Draft {
    pub fn new(kind: Option<ResourceKind>, action: &'static str, id: Option<&str>) -> Draft {
        Draft {
            resource_type: kind.map(ResourceKind::name),
            resource_id: id.map(str::to_string),
            action,
            ..Draft::default()
        }
    }

    pub fn step(&mut self, s: impl Into<String>) {
        self.steps.push(s.into());
    }
}

fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("password") || n.contains("secret") || n.contains("token")
}

/// A side of a diff as an object: a missing value is an empty one.
fn as_object<'a>(
    v: Option<&'a Value>,
    none: &'a Map<String, Value>,
) -> Option<&'a Map<String, Value>> {
    match v {
        Some(Value::Object(o)) => Some(o),
        None => Some(none),
        Some(_) => None,
    }
}

/// The modified properties between two documents: top-level attributes and the
/// sub-attributes of singular complex ones and of extensions; lists as a whole.
pub fn diff(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<Change> {
    let mut out = vec![];
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        if k == "schemas" {
            continue;
        }
        let none = Map::new();
        let objects = matches!(old.get(k), Some(Value::Object(_)))
            || matches!(new.get(k), Some(Value::Object(_)));
        let sides = if objects {
            (as_object(old.get(k), &none), as_object(new.get(k), &none))
        } else {
            (None, None)
        };
        match sides {
            (Some(a), Some(b)) => {
                let mut subs: Vec<&String> = a.keys().chain(b.keys()).collect();
                subs.sort();
                subs.dedup();
                for s in subs {
                    if a.get(s) != b.get(s) {
                        out.push(Change {
                            attribute: format!("{k}.{s}"),
                            old: a.get(s).cloned(),
                            new: b.get(s).cloned(),
                        });
                    }
                }
            }
            _ if old.get(k) != new.get(k) => out.push(Change {
                attribute: k.clone(),
                old: old.get(k).cloned(),
                new: new.get(k).cloned(),
            }),
            _ => {}
        }
    }
    for c in &mut out {
        if secret_name(&c.attribute) {
            c.old = c.old.as_ref().map(|_| Value::String("[redacted]".into()));
            c.new = c.new.as_ref().map(|_| Value::String("[redacted]".into()));
        }
    }
    out
}

/// What the admin (or the identity provider's admin) should do about a failure.
fn failure_advice(e: &ScimError) -> String {
    match ErrorCode::of_scim(e) {
        ErrorCode::EmailInUse => "The person has a user in another account. They must ask that account's admin to remove them, or contact support; the identity provider's next retry then succeeds.".into(),
        ErrorCode::Uniqueness => format!("A resource with this value already exists in this account ({}): match on it in the identity provider instead of creating it again, or change one of the two.", e.public_detail()),
        ErrorCode::NoSeat => "Add licenses to the product (or free a seat), then let the identity provider retry.".into(),
        ErrorCode::NotFound => "The resource no longer exists in Roster (deleted here or never created): let the identity provider create it again.".into(),
        ErrorCode::ChangedMeanwhile => "Someone changed the resource meanwhile: read it again and retry.".into(),
        ErrorCode::Unauthorized => "Give the identity provider a live token of this account (roster token create).".into(),
        ErrorCode::Internal => "Retry; if it persists, contact support with the request id.".into(),
        ErrorCode::Unavailable | ErrorCode::Busy => "Nothing to fix in the request: the server was busy; the identity provider's retry goes through.".into(),
        ErrorCode::InvalidFilter
        | ErrorCode::InvalidPath
        | ErrorCode::InvalidSyntax
        | ErrorCode::ReadOnly
        | ErrorCode::NoTarget
        | ErrorCode::InvalidValue => {
            format!("Fix the attribute mapping in the identity provider: {}", e.public_detail())
        }
        ErrorCode::InvalidJson
        | ErrorCode::InvalidProduct
        | ErrorCode::InvalidEmail
        | ErrorCode::InvalidRule
        | ErrorCode::InvalidSchema
        | ErrorCode::SchemaInUse
        | ErrorCode::HoldClosed
        | ErrorCode::InvalidSetting
        | ErrorCode::InvalidCsv
        | ErrorCode::InvalidUser
        | ErrorCode::InvalidRequest
        | ErrorCode::UnknownField
        | ErrorCode::UnknownGroup
        | ErrorCode::UnknownColumns
        | ErrorCode::MissingColumn
        | ErrorCode::Forbidden
        | ErrorCode::MethodNotAllowed
        | ErrorCode::SeatsInUse
        | ErrorCode::TooLarge
        | ErrorCode::UnsupportedMediaType
        | ErrorCode::RequestTimeout
        | ErrorCode::TooManyRequests
        | ErrorCode::NotImplemented => "Check the request the identity provider sent against Roster's /ServiceProviderConfig.".into(),
    }
}

fn change_json(c: &Change) -> Value {
    json!({"attribute": c.attribute, "old": c.old, "new": c.new})
}

/// Longest text the log keeps of a value a client sent (a path, a userName, an id, a
/// detail quoting input): the entry stays small and indexable whatever was sent.
const CLIP: usize = 256;

pub(crate) fn clipped(s: &str) -> String {
    match s.char_indices().nth(CLIP) {
        None => s.to_string(),
        Some((at, _)) => format!("{}… ({} characters)", &s[..at], s.chars().count()),
    }
}

/// An entry's id: its time, then a counter of this process (entries made in the same
/// millisecond keep their order, newest first in the log), then random bits (two replicas
/// never make the same id).
fn entry_id(at: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let seq = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{at}-{seq:010x}{:08x}", rand::random::<u32>())
}

/// Builds the stored row.
pub fn row(
    ctx: &Ctx,
    at: &str,
    draft: &Draft,
    http_status: u16,
    error: Option<&ScimError>,
) -> SyncRow {
    let status = match error {
        Some(_) => "failure",
        None if draft.action == "update"
            && draft.changes.is_empty()
            && draft.seat_changes.is_empty() =>
        {
            "skipped"
        }
        None if !draft.notes.is_empty()
            || draft.seat_changes.iter().any(|s| s.change == "waitlisted") =>
        {
            "warning"
        }
        None => "success",
    };
    let (error_code, advice) = match error {
        Some(e) => (
            Some(ErrorCode::of_scim(e).as_str().to_string()),
            Some(failure_advice(e)),
        ),
        None => (None, None),
    };
    let notes: Vec<String> = draft
        .notes
        .iter()
        .map(|n| {
            if secret_name(n) && !n.starts_with("password dropped") {
                "[redacted note]".into()
            } else {
                n.clone()
            }
        })
        .collect();
    SyncRow {
        id: entry_id(at),
        at: at.to_string(),
        actor: ctx.actor.clone(),
        request_id: ctx.request_id.clone(),
        method: ctx.method.clone(),
        path: clipped(&ctx.path),
        resource_type: draft.resource_type.map(str::to_string),
        resource_id: draft.resource_id.as_deref().map(clipped),
        user_name: draft.user_name.as_deref().map(clipped),
        action: draft.action.to_string(),
        status: status.to_string(),
        http_status: i64::from(http_status),
        scim_type: error
            .and_then(ScimError::scim_type)
            .map(|t| t.as_str().to_string()),
        detail: error.map(|e| clipped(e.public_detail())),
        error_code,
        recommended_action: advice,
        notes: Value::from(notes).to_string(),
        changes: Value::Array(draft.changes.iter().map(change_json).collect()).to_string(),
        seat_changes: Value::Array(
            draft
                .seat_changes
                .iter()
                .map(|c| {
                    json!({"user_id": c.user_id, "product": c.product, "change": c.change, "source": c.source})
                })
                .collect(),
        )
        .to_string(),
        steps: Value::from(draft.steps.clone()).to_string(),
        latency_ms: i64::try_from(ctx.started.elapsed().as_millis()).unwrap_or(i64::MAX),
    }
}

/// A read's entry, written later in a batch.
pub struct Queued {
    pub account: i64,
    pub row: SyncRow,
    /// An identity provider's GET by id: its resource's `last_seen_by_idp` to mark.
    pub seen: Option<super::drift::Seen>,
}

/// Starts the batching writer for reads' entries; returns its queue.
pub fn start_reads_writer(store: Store) -> mpsc::Sender<Queued> {
    let (tx, mut rx) = mpsc::channel::<Queued>(10_000);
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < 500 {
                match rx.try_recv() {
                    Ok(q) => batch.push(q),
                    Err(_) => break,
                }
            }
            let written = async {
                let mut t = store.write().await?;
                // Each account's entries in multi-row inserts: a burst of lookups costs the
                // writer a statement per 40 entries, not one each.
                let mut by_account: Vec<(i64, Vec<&SyncRow>)> = vec![];
                for q in &batch {
                    match by_account.iter_mut().find(|(a, _)| *a == q.account) {
                        Some((_, rows)) => rows.push(&q.row),
                        None => by_account.push((q.account, vec![&q.row])),
                    }
                }
                for (account, rows) in &by_account {
                    t.insert_sync_logs(*account, rows).await?;
                }
                mark_seen(&mut t, &batch).await?;
                t.commit().await
            }
            .await;
            if written.is_err() {
                // One entry the database refuses must not take the others with it: write
                // them one by one, and lose only the ones that fail; then the marks, on
                // their own (a mark that fails is lost, and the next read marks again).
                for q in &batch {
                    let one = async {
                        let mut t = store.write().await?;
                        t.insert_sync_log(q.account, &q.row).await?;
                        t.commit().await
                    }
                    .await;
                    if let Err(e) = one {
                        tracing::error!(error = %e, "could not write a read's entry to the sync log");
                    }
                }
                let marked = async {
                    let mut t = store.write().await?;
                    mark_seen(&mut t, &batch).await?;
                    t.commit().await
                }
                .await;
                if let Err(e) = marked {
                    tracing::warn!(error = %e, "could not mark the resources identity providers read");
                }
            }
        }
    });
    tx
}

/// Marks, in the batch's transaction, the resources identity providers read by id, each
/// unless it was marked within the hour: one conditional UPDATE per resource, which changes
/// no row (and writes nothing) for every read but the first of the hour.
async fn mark_seen(t: &mut WriteTx, batch: &[Queued]) -> Result<(), crate::store::StoreError> {
    let mut done = std::collections::HashSet::new();
    for q in batch {
        if let Some(s) = &q.seen {
            if done.insert((q.account, s.kind, s.id.as_str())) {
                t.mark_seen_by_idp(q.account, s.kind, &s.id, &s.at, &s.before, true)
                    .await?;
            }
        }
    }
    Ok(())
}

impl Engine {
    /// Appends the entry (and its seat events) in the caller's transaction.
    pub(crate) async fn log_in(
        &self,
        tx: &mut WriteTx,
        account: i64,
        ctx: &Ctx,
        draft: &Draft,
        http_status: u16,
    ) -> Result<(), ScimError> {
        let at = self.now();
        let r = row(ctx, &at, draft, http_status, None);
        tx.insert_sync_log(account, &r).await?;
        self.emit_logged(tx, account, ctx, draft).await?;
        self.count_unmapped(tx, account, ctx, draft, &at).await?;
        for c in &draft.seat_changes {
            tx.insert_seat_event(account, &at, &c.product, &c.user_id, c.change)
                .await?;
        }
        Ok(())
    }

    /// Appends a connection's throttle entry (status `throttled`, the count in its changes)
    /// in the caller's transaction.
    pub(crate) async fn log_throttle_in(
        &self,
        tx: &mut WriteTx,
        account: i64,
        ctx: &Ctx,
        draft: &Draft,
        e: &ScimError,
    ) -> Result<(), ScimError> {
        let mut r = row(ctx, &self.now(), draft, e.status(), Some(e));
        r.status = "throttled".into();
        r.recommended_action = Some(
            "Nothing to fix: the identity provider retries after Retry-After. If its sync is too slow, raise the connection's rate_limit_per_second (PATCH /admin/v1/connections/NAME).".into(),
        );
        tx.insert_sync_log(account, &r).await?;
        Ok(())
    }

    /// Logs a failed request in a transaction of its own. Never fails the caller.
    pub(crate) async fn log_failure(&self, account: i64, ctx: &Ctx, draft: &Draft, e: &ScimError) {
        let r = row(ctx, &self.now(), draft, e.status(), Some(e));
        let written = async {
            let mut tx = self.store.write().await?;
            tx.insert_sync_log(account, &r).await?;
            tx.commit().await
        }
        .await;
        if let Err(err) = written {
            tracing::error!(error = %err, "could not write a failure to the sync log");
        }
    }

    /// Queues a read's entry; when the queue is full the entry is dropped and said so.
    pub(crate) fn log_read(
        &self,
        account: i64,
        ctx: &Ctx,
        draft: &Draft,
        http_status: u16,
        e: Option<&ScimError>,
    ) {
        self.log_read_seen(account, ctx, draft, http_status, e, None);
    }

    /// [`Engine::log_read`], with an identity provider's read of a resource to mark.
    pub(crate) fn log_read_seen(
        &self,
        account: i64,
        ctx: &Ctx,
        draft: &Draft,
        http_status: u16,
        e: Option<&ScimError>,
        seen: Option<super::drift::Seen>,
    ) {
        let r = row(ctx, &self.now(), draft, http_status, e);
        if let Some(q) = &self.reads {
            if q.try_send(Queued {
                account,
                row: r,
                seen,
            })
            .is_err()
            {
                tracing::warn!("sync log read queue full: a read entry was dropped");
            }
        }
    }

    /// Deletes entries older than each account's `sync_log_retention_days`.
    pub async fn prune_sync_log(&self) -> Result<u64, ScimError> {
        let now = self.clock.now();
        let mut total = 0;
        let accounts = {
            let mut tx = self.store.read().await?;
            tx.account_ids().await?
        };
        for account in accounts {
            let mut tx = self.store.write().await?;
            let settings = self.settings_in(&mut tx, account).await?;
            let cutoff = now - chrono::Duration::days(i64::from(settings.sync_log_retention_days));
            total += tx
                .prune_sync_log(account, &crate::scim::query::timestamp(cutoff))
                .await?;
            tx.commit().await?;
        }
        Ok(total)
    }
}

/// A parsed sync log request from an admin.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LogFilter {
    pub since: Option<String>,
    pub until: Option<String>,
    pub user: Option<String>,
    pub connection: Option<String>,
    pub outcome: Option<String>,
    pub operation: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

/// A time bound: an RFC 3339 time or a date (`2026-11-28`, meaning its start).
fn time_bound(field: &str, v: &str) -> Result<String, EngineError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(crate::scim::query::timestamp(t.with_timezone(&chrono::Utc)));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(crate::scim::query::timestamp(t.and_utc()));
        }
    }
    Err(EngineError::Refused {
        code: ErrorCode::InvalidValue,
        message: format!("{field} must be a date (2026-11-28) or an RFC 3339 time"),
        field: Some(field.to_string()),
    })
}

/// An entry as the admin API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EntryView<'a> {
    pub id: &'a str,
    pub at: &'a str,
    pub actor: &'a str,
    pub request_id: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub resource_type: &'a Option<String>,
    pub resource_id: &'a Option<String>,
    pub user_name: &'a Option<String>,
    pub action: &'a str,
    pub status: &'a str,
    pub outcome: OutcomeView<'a>,
    pub notes: Value,
    pub modified_properties: Value,
    pub seat_changes: Value,
    pub steps: Value,
    pub latency_ms: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OutcomeView<'a> {
    pub http_status: i64,
    pub scim_type: &'a Option<String>,
    pub detail: &'a Option<String>,
    pub error_code: &'a Option<String>,
    pub recommended_action: &'a Option<String>,
}

impl<'a> From<&'a SyncRow> for EntryView<'a> {
    fn from(r: &'a SyncRow) -> Self {
        // The stored lists are JSON the log itself wrote; an unreadable one shows as null.
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
        EntryView {
            id: &r.id,
            at: &r.at,
            actor: &r.actor,
            request_id: &r.request_id,
            method: &r.method,
            path: &r.path,
            resource_type: &r.resource_type,
            resource_id: &r.resource_id,
            user_name: &r.user_name,
            action: &r.action,
            status: &r.status,
            outcome: OutcomeView {
                http_status: r.http_status,
                scim_type: &r.scim_type,
                detail: &r.detail,
                error_code: &r.error_code,
                recommended_action: &r.recommended_action,
            },
            notes: parse(&r.notes),
            modified_properties: parse(&r.changes),
            seat_changes: parse(&r.seat_changes),
            steps: parse(&r.steps),
            latency_ms: r.latency_ms,
        }
    }
}

/// One page of the sync log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogPage<'a> {
    pub entries: Vec<EntryView<'a>>,
    pub next_cursor: Option<String>,
}

impl Engine {
    /// The account's sync log, newest first, one page.
    pub async fn sync_log(
        &self,
        ap: &crate::auth::jwt::AdminPrincipal,
        f: &LogFilter,
    ) -> Result<(Vec<SyncRow>, Option<String>), EngineError> {
        let limit = match f.limit.as_deref() {
            None | Some("") => 100,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(EngineError::Refused {
                        code: ErrorCode::InvalidValue,
                        message: "limit must be a whole number from 1 to 1000".into(),
                        field: Some("limit".into()),
                    })
                }
            },
        };
        let outcome = match f.outcome.as_deref() {
            None | Some("") => None,
            Some(o @ ("success" | "failure" | "skipped" | "warning" | "throttled")) => {
                Some(o.to_string())
            }
            Some(_) => {
                return Err(EngineError::Refused {
                    code: ErrorCode::InvalidValue,
                    message: "outcome is success, failure, skipped, warning or throttled".into(),
                    field: Some("outcome".into()),
                })
            }
        };
        let q = crate::store::synclog::SyncQuery {
            since: f
                .since
                .as_deref()
                .map(|v| time_bound("since", v))
                .transpose()?,
            until: f
                .until
                .as_deref()
                .map(|v| time_bound("until", v))
                .transpose()?,
            user: f.user.clone().filter(|u| !u.is_empty()),
            actor: f.connection.as_deref().filter(|c| !c.is_empty()).map(|c| {
                if c.contains(':') {
                    c.to_string()
                } else {
                    format!("connection:{c}")
                }
            }),
            status: outcome,
            action: f.operation.clone().filter(|o| !o.is_empty()),
            before: f.cursor.clone().filter(|c| !c.is_empty()),
            after: None,
            id: None,
            limit: limit + 1,
        };
        let mut tx = self.store.read().await?;
        let mut rows = tx.query_sync_log(ap.account_id, &q).await?;
        let next = if rows.len() as i64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|r| r.id.clone())
        } else {
            None
        };
        Ok((rows, next))
    }

    /// One entry of the account's log.
    pub async fn sync_log_entry(
        &self,
        ap: &crate::auth::jwt::AdminPrincipal,
        id: &str,
    ) -> Result<SyncRow, EngineError> {
        let q = crate::store::synclog::SyncQuery {
            id: Some(id.to_string()),
            limit: 1,
            ..Default::default()
        };
        let mut tx = self.store.read().await?;
        tx.query_sync_log(ap.account_id, &q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| EngineError::not_found("no such sync-log entry in this account"))
    }

    /// Entries newer than `after` (for following the log), oldest first.
    pub async fn sync_log_after(
        &self,
        account_slug: &str,
        after: Option<&str>,
        user: Option<&str>,
        since: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SyncRow>, EngineError> {
        let mut tx = self.store.read().await?;
        let account = tx
            .account_by_slug(account_slug)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("no account '{account_slug}'")))?;
        let q = crate::store::synclog::SyncQuery {
            since: since.map(|v| time_bound("since", v)).transpose()?,
            user: user.map(str::to_string),
            after: after.map(str::to_string),
            limit,
            ..Default::default()
        };
        let mut rows = tx.query_sync_log(account.id, &q).await?;
        rows.reverse();
        Ok(rows)
    }
}

/// One entry on one line, for the terminal.
pub fn line(r: &SyncRow) -> String {
    const SHOWN: usize = 4;
    let props: Vec<Value> = serde_json::from_str(&r.changes).unwrap_or_default();
    let mut shown: Vec<String> = props
        .iter()
        .take(SHOWN)
        .map(|p| {
            let v = |x: &Value| match x {
                Value::Null => "-".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!(
                "{}: {} -> {}",
                p["attribute"].as_str().unwrap_or("?"),
                v(&p["old"]),
                v(&p["new"])
            )
        })
        .collect();
    if props.len() > SHOWN {
        shown.push(format!("+{} more", props.len() - SHOWN));
    }
    let seats: Vec<Value> = serde_json::from_str(&r.seat_changes).unwrap_or_default();
    let seats: Vec<String> = seats
        .iter()
        .map(|s| {
            let mut seat = format!(
                "{} {}",
                s["product"].as_str().unwrap_or("?"),
                s["change"].as_str().unwrap_or("?")
            );
            // Who the seat is for: a rule, the identity provider, or an admin (`manual`).
            if let Some(source) = s["source"].as_str() {
                seat.push_str(&format!(" ({source})"));
            }
            seat
        })
        .collect();
    let mut out = format!(
        "{}  {:<22} {:<7} {:<9} {:<8} {} {}",
        r.at,
        r.actor,
        r.http_status,
        r.action,
        r.status,
        r.resource_type.as_deref().unwrap_or("-"),
        r.user_name
            .as_deref()
            .or(r.resource_id.as_deref())
            .unwrap_or("-"),
    );
    if !shown.is_empty() {
        out.push_str(&format!("  [{}]", shown.join("; ")));
    }
    if !seats.is_empty() {
        out.push_str(&format!("  seats: {}", seats.join(", ")));
    }
    if let Some(d) = &r.detail {
        out.push_str(&format!("  error: {d}"));
    }
    out
}
