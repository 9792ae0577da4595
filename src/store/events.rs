//! Outbound events: the outbox a change writes in its own transaction, the feed read from it,
//! webhook endpoints with their cursor and lease, and the record of delivery attempts.

use std::collections::BTreeMap;

use sqlx::Row;

use super::sql::{in_list, opt_text, Arg, Sql};
use super::{ReadConn, Result, WriteTx};

/// An event a change emits; numbered when its transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub account: i64,
    pub kind: &'static str,
    pub occurred_at: String,
    pub actor: String,
    /// The envelope's `data`, as JSON text.
    pub data: String,
}

/// The events a transaction has emitted so far, with the marks of its open savepoints.
/// `trailing` events (conflicts, which a change opens or closes on its way) are numbered
/// after the change's own, so a reader sees the user before the conflict about it.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    events: Vec<NewEvent>,
    trailing: Vec<NewEvent>,
    marks: Vec<(usize, usize)>,
}

impl Outbox {
    pub(super) fn mark(&mut self) {
        self.marks.push((self.events.len(), self.trailing.len()));
    }

    pub(super) fn keep(&mut self) {
        self.marks.pop();
    }

    pub(super) fn drop_to_mark(&mut self) {
        if let Some((events, trailing)) = self.marks.pop() {
            self.events.truncate(events);
            self.trailing.truncate(trailing);
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: String,
    pub sequence: i64,
    pub kind: String,
    pub occurred_at: String,
    pub actor: String,
    pub data: String,
}

const EVENT_COLUMNS: &str = "id, sequence, type, occurred_at, actor, data";

fn event_row(r: &sqlx::any::AnyRow) -> Result<EventRow> {
    Ok(EventRow {
        id: r.try_get(0)?,
        sequence: r.try_get(1)?,
        kind: r.try_get(2)?,
        occurred_at: r.try_get(3)?,
        actor: r.try_get(4)?,
        data: r.try_get(5)?,
    })
}

/// A webhook endpoint as stored (the secret too: only the engine decides who sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRow {
    pub account_id: i64,
    pub id: String,
    pub url: String,
    /// JSON array of event types.
    pub events: String,
    pub secret: String,
    pub enabled: bool,
    pub state: String,
    pub cursor: i64,
    pub attempts: i64,
    pub failing_since: Option<String>,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created: String,
    pub updated: String,
}

const WEBHOOK_COLUMNS: &str = "account_id, id, url, events, secret, enabled, state, cursor, attempts, failing_since, next_attempt_at, last_error, created, updated";

fn webhook_row(r: &sqlx::any::AnyRow) -> Result<WebhookRow> {
    Ok(WebhookRow {
        account_id: r.try_get(0)?,
        id: r.try_get(1)?,
        url: r.try_get(2)?,
        events: r.try_get(3)?,
        secret: r.try_get(4)?,
        enabled: r.try_get::<i64, _>(5)? != 0,
        state: r.try_get(6)?,
        cursor: r.try_get(7)?,
        attempts: r.try_get(8)?,
        failing_since: r.try_get(9)?,
        next_attempt_at: r.try_get(10)?,
        last_error: r.try_get(11)?,
        created: r.try_get(12)?,
        updated: r.try_get(13)?,
    })
}

/// What a PATCH of an endpoint changes (None: unchanged).
#[derive(Debug, Clone, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<String>,
    pub enabled: Option<bool>,
}

/// One delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub sequence: i64,
    pub kind: String,
    pub attempt: i64,
    pub at: String,
    /// `succeeded` or `failed`.
    pub outcome: String,
    pub http_status: Option<i64>,
    pub latency_ms: i64,
    pub response: Option<String>,
    pub error: Option<String>,
    /// Sent again by an admin (retry), not by the schedule.
    pub manual: bool,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, sequence, type, attempt, at, outcome, http_status, latency_ms, response, error, manual";

fn delivery_row(r: &sqlx::any::AnyRow) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.try_get(0)?,
        webhook_id: r.try_get(1)?,
        event_id: r.try_get(2)?,
        sequence: r.try_get(3)?,
        kind: r.try_get(4)?,
        attempt: r.try_get(5)?,
        at: r.try_get(6)?,
        outcome: r.try_get(7)?,
        http_status: r.try_get(8)?,
        latency_ms: r.try_get(9)?,
        response: r.try_get(10)?,
        error: r.try_get(11)?,
        manual: r.try_get::<i64, _>(12)? != 0,
    })
}

/// After a failed attempt: when to try again, and whether the endpoint is now failing.
#[derive(Debug, Clone)]
pub struct Failure {
    pub attempts: i64,
    pub failing_since: String,
    pub next_attempt_at: String,
    pub failing: bool,
    pub error: String,
}

impl WriteTx {
    /// Adds an event to this change; it is written, with the account's next sequence, just
    /// before the commit, so it exists if and only if the change does.
    pub fn emit(&mut self, event: NewEvent) {
        self.outbox.events.push(event);
    }

    /// [`WriteTx::emit`], numbered after the events the change emits itself.
    pub fn emit_trailing(&mut self, event: NewEvent) {
        self.outbox.trailing.push(event);
    }

    /// Numbers and writes the outbox: per account, one upsert of its sequence (which holds
    /// the row until the commit) and multi-row inserts. Returns whether it wrote any.
    pub(super) async fn write_outbox(&mut self) -> Result<bool> {
        if self.outbox.events.is_empty() && self.outbox.trailing.is_empty() {
            return Ok(false);
        }
        let mut events = std::mem::take(&mut self.outbox.events);
        events.append(&mut self.outbox.trailing);
        let mut by_account: BTreeMap<i64, Vec<NewEvent>> = BTreeMap::new();
        for e in events {
            by_account.entry(e.account).or_default().push(e);
        }
        for (account, events) in by_account {
            let n = i64::try_from(events.len()).unwrap_or(i64::MAX);
            let mut seq = Sql::new("INSERT INTO event_sequences (account_id, last) VALUES (");
            seq.bind_int(account)
                .push(", ")
                .bind_int(n)
                .push(") ON CONFLICT (account_id) DO UPDATE SET last = event_sequences.last + ")
                .bind_int(n)
                .push(" RETURNING last");
            let last: i64 = match self.fetch_optional(&seq).await? {
                Some(r) => r.try_get(0)?,
                None => n,
            };
            let mut next = last - n + 1;
            for chunk in events.chunks(200) {
                let mut ins = Sql::new(
                    "INSERT INTO events (account_id, sequence, id, type, occurred_at, actor, data) VALUES ",
                );
                for (i, e) in chunk.iter().enumerate() {
                    if i > 0 {
                        ins.push(", ");
                    }
                    ins.push("(")
                        .bind_int(account)
                        .push(", ")
                        .bind_int(next)
                        .push(", ")
                        .bind_text(format!("evt_{}", uuid::Uuid::new_v4().simple()))
                        .push(", ")
                        .bind_text(e.kind)
                        .push(", ")
                        .bind_text(e.occurred_at.clone())
                        .push(", ")
                        .bind_text(e.actor.clone())
                        .push(", ")
                        .bind_text(e.data.clone())
                        .push(")");
                    next += 1;
                }
                self.execute(&ins).await?;
            }
        }
        Ok(true)
    }

    /// Deletes an account's events that happened before `before` and that every enabled
    /// endpoint has been given.
    pub async fn prune_events(&mut self, account: i64, before: &str) -> Result<u64> {
        let mut sql = Sql::new("DELETE FROM events WHERE account_id = ");
        sql.bind_int(account)
            .push(" AND occurred_at < ")
            .bind_text(before)
            .push(" AND sequence <= COALESCE((SELECT MIN(cursor) FROM webhooks WHERE account_id = ")
            .bind_int(account)
            .push(" AND enabled = 1), sequence)");
        let n = self.execute(&sql).await?;
        let mut d = Sql::new("DELETE FROM webhook_deliveries WHERE account_id = ");
        d.bind_int(account).push(" AND at < ").bind_text(before);
        self.execute(&d).await?;
        Ok(n)
    }

    pub async fn insert_webhook(&mut self, w: &WebhookRow) -> Result<()> {
        let mut sql = Sql::new("INSERT INTO webhooks (");
        sql.push(WEBHOOK_COLUMNS).push(") VALUES (");
        sql.bind_int(w.account_id)
            .push(", ")
            .bind_text(w.id.clone())
            .push(", ")
            .bind_text(w.url.clone())
            .push(", ")
            .bind_text(w.events.clone())
            .push(", ")
            .bind_text(w.secret.clone())
            .push(", ")
            .bind_int(i64::from(w.enabled))
            .push(", ")
            .bind_text(w.state.clone())
            .push(", ")
            .bind_int(w.cursor)
            .push(", ")
            .bind_int(w.attempts)
            .push(", ")
            .bind(opt_text(w.failing_since.as_deref()))
            .push(", ")
            .bind(opt_text(w.next_attempt_at.as_deref()))
            .push(", ")
            .bind(opt_text(w.last_error.as_deref()))
            .push(", ")
            .bind_text(w.created.clone())
            .push(", ")
            .bind_text(w.updated.clone())
            .push(")");
        self.execute(&sql).await?;
        Ok(())
    }

    /// Applies a PATCH; false when there is no such endpoint. Enabling an endpoint that was
    /// failing makes it active again, due now. Whoever delivers to it loses its lease, so a
    /// delivery under way stops after the event in flight rather than going on with the
    /// old URL, types or a disabled endpoint; the next lease reads the change.
    pub async fn update_webhook(
        &mut self,
        account: i64,
        id: &str,
        change: &WebhookChange,
        now: &str,
    ) -> Result<bool> {
        let mut sql =
            Sql::new("UPDATE webhooks SET lease_owner = NULL, lease_until = NULL, updated = ");
        sql.bind_text(now);
        if let Some(url) = &change.url {
            sql.push(", url = ").bind_text(url.clone());
        }
        if let Some(events) = &change.events {
            sql.push(", events = ").bind_text(events.clone());
        }
        if let Some(enabled) = change.enabled {
            sql.push(", enabled = ").bind_int(i64::from(enabled));
            if enabled {
                sql.push(
                    ", state = 'active', attempts = 0, failing_since = NULL, next_attempt_at = NULL",
                );
            }
        }
        sql.push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(id);
        Ok(self.execute(&sql).await? > 0)
    }

    pub async fn delete_webhook(&mut self, account: i64, id: &str) -> Result<bool> {
        let mut d = Sql::new("DELETE FROM webhook_deliveries WHERE account_id = ");
        d.bind_int(account).push(" AND webhook_id = ").bind_text(id);
        self.execute(&d).await?;
        let mut sql = Sql::new("DELETE FROM webhooks WHERE account_id = ");
        sql.bind_int(account).push(" AND id = ").bind_text(id);
        Ok(self.execute(&sql).await? > 0)
    }

    /// Sends the endpoint's events after `after` again: its cursor moves back, it is active
    /// and due now, and whoever delivers to it loses its lease (so it cannot move the cursor
    /// forward past the replay).
    pub async fn rewind_webhook(
        &mut self,
        account: i64,
        id: &str,
        after: i64,
        now: &str,
    ) -> Result<bool> {
        let mut sql = Sql::new("UPDATE webhooks SET cursor = ");
        sql.bind_int(after)
            .push(", state = 'active', attempts = 0, failing_since = NULL, next_attempt_at = NULL, last_error = NULL, lease_owner = NULL, lease_until = NULL, updated = ")
            .bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(id);
        Ok(self.execute(&sql).await? > 0)
    }

    /// Makes a failing or waiting endpoint due now (an admin's retry of its head event).
    pub async fn wake_webhook(&mut self, account: i64, id: &str, now: &str) -> Result<bool> {
        let mut sql = Sql::new(
            "UPDATE webhooks SET state = 'active', attempts = 0, failing_since = NULL, next_attempt_at = NULL, updated = ",
        );
        sql.bind_text(now)
            .push(" WHERE account_id = ")
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(id);
        Ok(self.execute(&sql).await? > 0)
    }

    /// Leases up to `limit` endpoints that have events past their cursor and are due, for
    /// `owner` until `until`. On PostgreSQL rows another replica is leasing right now are
    /// skipped; an endpoint whose lease ran out (its replica died) is taken over.
    pub async fn lease_webhooks(
        &mut self,
        owner: &str,
        now: &str,
        until: &str,
        limit: i64,
    ) -> Result<Vec<WebhookRow>> {
        let lock = self.backend.for_update(true);
        let mut sql = Sql::new("UPDATE webhooks SET lease_owner = ");
        sql.bind_text(owner)
            .push(", lease_until = ")
            .bind_text(until)
            .push(" WHERE id IN (SELECT w.id FROM webhooks w WHERE ");
        due(&mut sql, now);
        sql.push(" ORDER BY w.next_attempt_at, w.id LIMIT ")
            .bind_int(limit)
            .push(lock)
            .push(") RETURNING ")
            .push(WEBHOOK_COLUMNS);
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(webhook_row)
            .collect()
    }

    /// Moves the cursor past an event given (or skipped) and renews the lease; false when
    /// the lease is no longer `owner`'s (a replay, or another replica took over).
    pub async fn advance_webhook(
        &mut self,
        id: &str,
        owner: &str,
        cursor: i64,
        until: &str,
    ) -> Result<bool> {
        let mut sql = Sql::new("UPDATE webhooks SET cursor = ");
        sql.bind_int(cursor)
            .push(", attempts = 0, failing_since = NULL, next_attempt_at = NULL, last_error = NULL, lease_until = ")
            .bind_text(until)
            .push(" WHERE id = ")
            .bind_text(id)
            .push(" AND lease_owner = ")
            .bind_text(owner)
            .push(" AND cursor < ")
            .bind_int(cursor);
        Ok(self.execute(&sql).await? > 0)
    }

    /// Records a failed attempt of the head event: the next attempt's time, maybe the
    /// failing state; the lease is given up.
    pub async fn fail_webhook(&mut self, id: &str, owner: &str, f: &Failure) -> Result<bool> {
        let mut sql = Sql::new("UPDATE webhooks SET attempts = ");
        sql.bind_int(f.attempts)
            .push(", failing_since = ")
            .bind_text(f.failing_since.clone())
            .push(", next_attempt_at = ")
            .bind_text(f.next_attempt_at.clone())
            .push(", last_error = ")
            .bind_text(f.error.clone())
            .push(", state = ")
            .bind_text(if f.failing { "failing" } else { "active" })
            .push(", lease_owner = NULL, lease_until = NULL WHERE id = ")
            .bind_text(id)
            .push(" AND lease_owner = ")
            .bind_text(owner);
        Ok(self.execute(&sql).await? > 0)
    }

    /// Gives the lease up (nothing left to send).
    pub async fn release_webhook(&mut self, id: &str, owner: &str) -> Result<()> {
        let mut sql =
            Sql::new("UPDATE webhooks SET lease_owner = NULL, lease_until = NULL WHERE id = ");
        sql.bind_text(id)
            .push(" AND lease_owner = ")
            .bind_text(owner);
        self.execute(&sql).await?;
        Ok(())
    }

    pub async fn insert_delivery(&mut self, account: i64, d: &DeliveryRow) -> Result<()> {
        self.insert_deliveries(account, std::slice::from_ref(d))
            .await
    }

    /// Records delivery attempts, many rows per statement.
    pub async fn insert_deliveries(&mut self, account: i64, rows: &[DeliveryRow]) -> Result<()> {
        for chunk in rows.chunks(100) {
            let mut sql = Sql::new("INSERT INTO webhook_deliveries (account_id, ");
            sql.push(DELIVERY_COLUMNS).push(") VALUES ");
            for (i, d) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(")
                    .bind_int(account)
                    .push(", ")
                    .bind_text(d.id.clone())
                    .push(", ")
                    .bind_text(d.webhook_id.clone())
                    .push(", ")
                    .bind_text(d.event_id.clone())
                    .push(", ")
                    .bind_int(d.sequence)
                    .push(", ")
                    .bind_text(d.kind.clone())
                    .push(", ")
                    .bind_int(d.attempt)
                    .push(", ")
                    .bind_text(d.at.clone())
                    .push(", ")
                    .bind_text(d.outcome.clone())
                    .push(", ")
                    .bind(d.http_status.map_or(Arg::NullInt, Arg::Int))
                    .push(", ")
                    .bind_int(d.latency_ms)
                    .push(", ")
                    .bind(opt_text(d.response.as_deref()))
                    .push(", ")
                    .bind(opt_text(d.error.as_deref()))
                    .push(", ")
                    .bind_int(i64::from(d.manual))
                    .push(")");
            }
            self.execute(&sql).await?;
        }
        Ok(())
    }
}

/// The condition of an endpoint (`w`) a replica may lease now: enabled, not failing, due,
/// not leased (or its lease ran out), with events past its cursor.
fn due(sql: &mut Sql, now: &str) {
    sql.push("w.enabled = 1 AND w.state = 'active' AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= ")
        .bind_text(now)
        .push(") AND (w.lease_until IS NULL OR w.lease_until < ")
        .bind_text(now)
        .push(") AND EXISTS (SELECT 1 FROM events e WHERE e.account_id = w.account_id AND e.sequence > w.cursor)");
}

impl ReadConn {
    /// Whether any endpoint could be leased now (read first, so an idle replica does not
    /// take the writer every time it looks).
    pub async fn any_webhook_due(&mut self, now: &str) -> Result<bool> {
        let mut sql = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM webhooks w WHERE ");
        due(&mut sql, now);
        sql.push(" LIMIT 1) d");
        Ok(self.fetch_count(&sql).await? > 0)
    }

    /// Up to `limit` events after `after`, oldest first, of the given types (all if none).
    pub async fn events_after(
        &mut self,
        account: i64,
        after: i64,
        types: &[String],
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        let mut sql = Sql::new("SELECT ");
        sql.push(EVENT_COLUMNS)
            .push(" FROM events WHERE account_id = ")
            .bind_int(account)
            .push(" AND sequence > ")
            .bind_int(after);
        if !types.is_empty() {
            sql.push(" AND type IN ");
            in_list(&mut sql, types);
        }
        sql.push(" ORDER BY sequence LIMIT ").bind_int(limit);
        self.fetch_all(&sql).await?.iter().map(event_row).collect()
    }

    /// The account's last event sequence (0 before its first event).
    pub async fn last_event_sequence(&mut self, account: i64) -> Result<i64> {
        let mut sql =
            Sql::new("SELECT COALESCE(MAX(last), 0) FROM event_sequences WHERE account_id = ");
        sql.bind_int(account);
        self.fetch_count(&sql).await
    }

    /// The oldest sequence still kept (None: no event kept).
    pub async fn first_event_sequence(&mut self, account: i64) -> Result<Option<i64>> {
        let mut sql = Sql::new("SELECT MIN(sequence) FROM events WHERE account_id = ");
        sql.bind_int(account);
        match self.fetch_optional(&sql).await? {
            Some(r) => Ok(r.try_get::<Option<i64>, _>(0)?),
            None => Ok(None),
        }
    }

    pub async fn event_by_id(&mut self, account: i64, id: &str) -> Result<Option<EventRow>> {
        let mut sql = Sql::new("SELECT ");
        sql.push(EVENT_COLUMNS)
            .push(" FROM events WHERE account_id = ")
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(id);
        self.fetch_optional(&sql)
            .await?
            .as_ref()
            .map(event_row)
            .transpose()
    }

    pub async fn webhooks(&mut self, account: i64) -> Result<Vec<WebhookRow>> {
        let mut sql = Sql::new("SELECT ");
        sql.push(WEBHOOK_COLUMNS)
            .push(" FROM webhooks WHERE account_id = ")
            .bind_int(account)
            .push(" ORDER BY created, id");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(webhook_row)
            .collect()
    }

    pub async fn webhook(&mut self, account: i64, id: &str) -> Result<Option<WebhookRow>> {
        let mut sql = Sql::new("SELECT ");
        sql.push(WEBHOOK_COLUMNS)
            .push(" FROM webhooks WHERE account_id = ")
            .bind_int(account)
            .push(" AND id = ")
            .bind_text(id);
        self.fetch_optional(&sql)
            .await?
            .as_ref()
            .map(webhook_row)
            .transpose()
    }

    /// An endpoint's attempts, newest first; only failed ones when `failed_only`.
    pub async fn deliveries(
        &mut self,
        account: i64,
        webhook: &str,
        failed_only: bool,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>> {
        let mut sql = Sql::new("SELECT ");
        sql.push(DELIVERY_COLUMNS)
            .push(" FROM webhook_deliveries WHERE account_id = ")
            .bind_int(account)
            .push(" AND webhook_id = ")
            .bind_text(webhook);
        if failed_only {
            sql.push(" AND outcome = 'failed'");
        }
        sql.push(" ORDER BY at DESC, sequence DESC, attempt DESC LIMIT ")
            .bind_int(limit);
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(delivery_row)
            .collect()
    }

    pub async fn delivery(
        &mut self,
        account: i64,
        webhook: &str,
        id: &str,
    ) -> Result<Option<DeliveryRow>> {
        let mut sql = Sql::new("SELECT ");
        sql.push(DELIVERY_COLUMNS)
            .push(" FROM webhook_deliveries WHERE account_id = ")
            .bind_int(account)
            .push(" AND webhook_id = ")
            .bind_text(webhook)
            .push(" AND id = ")
            .bind_text(id);
        self.fetch_optional(&sql)
            .await?
            .as_ref()
            .map(delivery_row)
            .transpose()
    }

    pub async fn account_slug(&mut self, account: i64) -> Result<Option<String>> {
        let mut sql = Sql::new("SELECT slug FROM accounts WHERE id = ");
        sql.bind_int(account);
        self.fetch_text(&sql).await
    }

    /// Accounts that have events (the pruner's list).
    pub async fn accounts_with_events(&mut self) -> Result<Vec<i64>> {
        let sql = Sql::new("SELECT account_id FROM event_sequences ORDER BY account_id");
        self.fetch_all(&sql)
            .await?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }
}
