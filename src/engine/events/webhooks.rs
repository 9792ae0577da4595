//! Webhook endpoints: made, changed and removed by an admin, each with a signing secret shown
//! once; their delivery attempts, an admin's retry of one, and a replay from a sequence.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use validator::Validate;

use crate::auth::jwt::AdminPrincipal;
use crate::store::events::{DeliveryRow, WebhookChange, WebhookRow};

use super::super::authz::require_write;
use super::super::error::{EngineError, ErrorCode};
use super::super::synclog::{Change, Ctx, Draft};
use super::super::Engine;
use super::deliver::{self, Attempt};
use super::{parse_types, Envelope};

/// Most endpoints an account may have.
pub const MAX_WEBHOOKS: usize = 20;
/// Longest endpoint URL.
const MAX_URL: usize = 2048;

#[derive(Debug, Clone, Deserialize, Validate)]
pub struct NewWebhook {
    #[validate(length(min = 1, max = 2048, message = "url is an https:// URL"))]
    pub url: String,
    #[validate(length(
        min = 1,
        max = 16,
        message = "events lists event types, or [\"*\"] for all"
    ))]
    pub events: Vec<String>,
    pub enabled: Option<bool>,
}

impl super::super::input::Input for NewWebhook {
    const FIELDS: &'static [&'static str] = &["url", "events", "enabled"];
}

#[derive(Debug, Clone, Deserialize, Validate)]
pub struct WebhookPatch {
    #[validate(length(min = 1, max = 2048, message = "url is an https:// URL"))]
    pub url: Option<String>,
    #[validate(length(
        min = 1,
        max = 16,
        message = "events lists event types, or [\"*\"] for all"
    ))]
    pub events: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

impl super::super::input::Input for WebhookPatch {
    const FIELDS: &'static [&'static str] = &["url", "events", "enabled"];
}

#[derive(Debug, Clone, Deserialize, Validate)]
pub struct Replay {
    #[validate(range(min = 0, message = "after is a sequence number, 0 or more"))]
    pub after: i64,
}

impl super::super::input::Input for Replay {
    const FIELDS: &'static [&'static str] = &["after"];
}

/// An endpoint as an admin sees it (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct WebhookView {
    pub id: String,
    pub url: String,
    /// The subscribed types; `["*"]` for all.
    pub events: Vec<String>,
    pub enabled: bool,
    /// `active`, or `failing` once its oldest undelivered event has failed for 24 hours.
    pub state: String,
    /// The last sequence given to the endpoint (or passed over, not subscribed).
    pub delivered_through: i64,
    /// Failed attempts of the event it is stuck on (0 when nothing is failing).
    pub attempts: i64,
    pub failing_since: Option<String>,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created: String,
    pub updated: String,
}

impl From<WebhookRow> for WebhookView {
    fn from(w: WebhookRow) -> Self {
        let mut events: Vec<String> = serde_json::from_str(&w.events).unwrap_or_default();
        if events.is_empty() {
            events = vec!["*".into()];
        }
        WebhookView {
            id: w.id,
            url: w.url,
            events,
            enabled: w.enabled,
            state: w.state,
            delivered_through: w.cursor,
            attempts: w.attempts,
            failing_since: w.failing_since,
            next_attempt_at: w.next_attempt_at,
            last_error: w.last_error,
            created: w.created,
            updated: w.updated,
        }
    }
}

/// A new endpoint with its signing secret, shown this once.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookCreated {
    #[serde(flatten)]
    pub webhook: WebhookView,
    pub secret: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WebhookList {
    pub webhooks: Vec<WebhookView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub sequence: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub attempt: i64,
    pub at: String,
    /// `succeeded` or `failed`.
    pub outcome: String,
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// The start of the receiver's answer (at most 1 KiB).
    pub response: Option<String>,
    pub error: Option<String>,
    /// Sent by an admin's retry.
    pub manual: bool,
}

impl From<DeliveryRow> for DeliveryView {
    fn from(d: DeliveryRow) -> Self {
        DeliveryView {
            id: d.id,
            event_id: d.event_id,
            sequence: d.sequence,
            kind: d.kind,
            attempt: d.attempt,
            at: d.at,
            outcome: d.outcome,
            status: d.http_status,
            latency_ms: d.latency_ms,
            response: d.response,
            error: d.error,
            manual: d.manual,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
}

/// What an admin's retry of a delivery did.
#[derive(Debug, Clone, Serialize)]
pub struct Retried {
    /// `scheduled`: the event is the one the endpoint waits on, and it is due now;
    /// `sent`: it had been delivered before and was sent once more, with this outcome.
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    pub webhook: WebhookView,
    /// The first sequence that will be sent again.
    pub from_sequence: i64,
}

/// Whether an address is on the public internet (not loopback, private, link-local, shared,
/// documentation, multicast or otherwise reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

impl Engine {
    /// Checks an endpoint URL: `https://` with a host that resolves only to public
    /// addresses, unless `serve --webhook-allow-private` allows `http://` and private ones.
    async fn check_url(&self, url: &str) -> Result<String, EngineError> {
        let bad = |m: String| EngineError::invalid(ErrorCode::InvalidValue, "url", m);
        let url = url.trim();
        if url.len() > MAX_URL {
            return Err(bad(format!("url is at most {MAX_URL} characters")));
        }
        let parsed = reqwest::Url::parse(url).map_err(|e| bad(format!("url is not a URL: {e}")))?;
        let allow_private = self.outbound.allow_private();
        match parsed.scheme() {
            "https" => {}
            "http" if allow_private => {}
            "http" => {
                return Err(bad(
                    "url must be https:// (serve --webhook-allow-private allows http://)".into(),
                ))
            }
            other => return Err(bad(format!("url must be https://, not {other}://"))),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("url must not hold a user name or password".into()));
        }
        let Some(host) = parsed.host_str() else {
            return Err(bad("url has no host".into()));
        };
        if parsed.fragment().is_some() {
            return Err(bad("url must not have a #fragment".into()));
        }
        if !allow_private {
            let port = parsed.port_or_known_default().unwrap_or(443);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let addrs: Vec<IpAddr> = match tokio::net::lookup_host((host, port)).await {
                Ok(a) => a.map(|s| s.ip()).collect(),
                Err(e) => return Err(bad(format!("url's host {host} does not resolve: {e}"))),
            };
            if addrs.is_empty() || addrs.iter().any(|ip| !is_public(*ip)) {
                return Err(bad(format!(
                    "url's host {host} resolves to a private, loopback or reserved address \
                     (serve --webhook-allow-private allows those)"
                )));
            }
        }
        Ok(parsed.to_string())
    }

    /// `POST /admin/v1/webhooks`: the endpoint starts at the account's current sequence (it
    /// receives what happens from now on; a replay sends older events).
    pub async fn add_webhook(
        &self,
        ap: &AdminPrincipal,
        input: &NewWebhook,
        ctx: &Ctx,
    ) -> Result<WebhookCreated, EngineError> {
        require_write(ap)?;
        let url = self.check_url(&input.url).await?;
        let types = parse_types("events", &input.events)?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        if tx.webhooks(ap.account_id).await?.len() >= MAX_WEBHOOKS {
            return Err(EngineError::invalid(
                ErrorCode::InvalidValue,
                "url",
                format!("an account has at most {MAX_WEBHOOKS} webhook endpoints"),
            ));
        }
        let secret = deliver::new_secret();
        let row = WebhookRow {
            account_id: ap.account_id,
            id: format!("wh_{}", uuid::Uuid::new_v4().simple()),
            url,
            events: Value::from(types).to_string(),
            secret: secret.clone(),
            enabled: input.enabled.unwrap_or(true),
            state: "active".into(),
            cursor: tx.last_event_sequence(ap.account_id).await?,
            attempts: 0,
            failing_since: None,
            next_attempt_at: None,
            last_error: None,
            created: now.clone(),
            updated: now,
        };
        tx.insert_webhook(&row).await?;
        let view = WebhookView::from(row);
        self.log_webhook(&mut tx, ap, ctx, &view.id, None, Some(&view))
            .await?;
        tx.commit().await?;
        Ok(WebhookCreated {
            webhook: view,
            secret,
        })
    }

    async fn log_webhook(
        &self,
        tx: &mut crate::store::WriteTx,
        ap: &AdminPrincipal,
        ctx: &Ctx,
        id: &str,
        old: Option<&WebhookView>,
        new: Option<&WebhookView>,
    ) -> Result<(), EngineError> {
        let brief =
            |w: &WebhookView| json!({"url": w.url, "events": w.events, "enabled": w.enabled});
        let mut draft = Draft::new(None, "webhook", Some(id));
        draft.resource_type = Some("Webhook");
        draft.changes = vec![Change {
            attribute: "webhook".into(),
            old: old.map(brief),
            new: new.map(brief),
        }];
        self.log_in(tx, ap.account_id, ctx, &draft, 200).await?;
        Ok(())
    }

    pub async fn webhooks(&self, ap: &AdminPrincipal) -> Result<WebhookList, EngineError> {
        let rows = self.store.read().await?.webhooks(ap.account_id).await?;
        Ok(WebhookList {
            webhooks: rows.into_iter().map(WebhookView::from).collect(),
        })
    }

    async fn webhook_row(
        &self,
        conn: &mut crate::store::ReadConn,
        ap: &AdminPrincipal,
        id: &str,
    ) -> Result<WebhookRow, EngineError> {
        conn.webhook(ap.account_id, id)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("no webhook endpoint {id}")))
    }

    pub async fn webhook(&self, ap: &AdminPrincipal, id: &str) -> Result<WebhookView, EngineError> {
        let mut conn = self.store.read().await?;
        Ok(self.webhook_row(&mut conn, ap, id).await?.into())
    }

    /// `PATCH /admin/v1/webhooks/{id}`: url, events, enabled. Enabling a failing endpoint
    /// makes it active again, due now.
    pub async fn patch_webhook(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        input: &WebhookPatch,
        ctx: &Ctx,
    ) -> Result<WebhookView, EngineError> {
        require_write(ap)?;
        let url = match &input.url {
            Some(u) => Some(self.check_url(u).await?),
            None => None,
        };
        let events = match &input.events {
            Some(e) => Some(Value::from(parse_types("events", e)?).to_string()),
            None => None,
        };
        let now = self.now();
        let mut tx = self.store.write().await?;
        let old = WebhookView::from(self.webhook_row(&mut tx, ap, id).await?);
        let change = WebhookChange {
            url,
            events,
            enabled: input.enabled,
        };
        tx.update_webhook(ap.account_id, id, &change, &now).await?;
        let new = WebhookView::from(self.webhook_row(&mut tx, ap, id).await?);
        self.log_webhook(&mut tx, ap, ctx, id, Some(&old), Some(&new))
            .await?;
        tx.commit().await?;
        Ok(new)
    }

    pub async fn delete_webhook(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        ctx: &Ctx,
    ) -> Result<Value, EngineError> {
        require_write(ap)?;
        let mut tx = self.store.write().await?;
        let old = WebhookView::from(self.webhook_row(&mut tx, ap, id).await?);
        tx.delete_webhook(ap.account_id, id).await?;
        self.log_webhook(&mut tx, ap, ctx, id, Some(&old), None)
            .await?;
        tx.commit().await?;
        Ok(json!({"deleted": id}))
    }

    /// `GET /admin/v1/webhooks/{id}/deliveries[?outcome=failed][&limit=N]`, newest first.
    pub async fn deliveries(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        outcome: Option<&str>,
        limit: Option<&str>,
    ) -> Result<DeliveryList, EngineError> {
        let failed_only = match outcome {
            None | Some("") | Some("all") => false,
            Some("failed") => true,
            Some(_) => {
                return Err(EngineError::invalid(
                    ErrorCode::InvalidValue,
                    "outcome",
                    "outcome is failed or all",
                ))
            }
        };
        let limit = match limit {
            None | Some("") => 100,
            Some(s) => match s.parse::<i64>() {
                Ok(n) if (1..=1000).contains(&n) => n,
                _ => {
                    return Err(EngineError::invalid(
                        ErrorCode::InvalidValue,
                        "limit",
                        "limit is a whole number from 1 to 1000",
                    ))
                }
            },
        };
        let mut conn = self.store.read().await?;
        self.webhook_row(&mut conn, ap, id).await?;
        let rows = conn
            .deliveries(ap.account_id, id, failed_only, limit)
            .await?;
        Ok(DeliveryList {
            deliveries: rows.into_iter().map(DeliveryView::from).collect(),
        })
    }

    /// `POST /admin/v1/webhooks/{id}/deliveries/{delivery}/retry`: the event the endpoint
    /// waits on is made due now (and a failing endpoint active again); an event delivered
    /// before is sent once more, now, and the attempt recorded.
    pub async fn retry_delivery(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        delivery: &str,
    ) -> Result<Retried, EngineError> {
        require_write(ap)?;
        let (hook, d, event) = {
            let mut conn = self.store.read().await?;
            let hook = self.webhook_row(&mut conn, ap, id).await?;
            let d = conn
                .delivery(ap.account_id, id, delivery)
                .await?
                .ok_or_else(|| EngineError::not_found(format!("no delivery {delivery}")))?;
            let event = conn.event_by_id(ap.account_id, &d.event_id).await?;
            (hook, d, event)
        };
        if d.sequence > hook.cursor {
            let mut tx = self.store.write().await?;
            tx.wake_webhook(ap.account_id, id, &self.now()).await?;
            tx.commit().await?;
            return Ok(Retried {
                result: "scheduled",
                delivery: None,
            });
        }
        let Some(event) = event else {
            return Err(EngineError::refused(
                ErrorCode::NotFound,
                format!(
                    "event {} is no longer kept (events_retention_days): it cannot be sent again",
                    d.event_id
                ),
            ));
        };
        let envelope = Envelope::of(&ap.account, event);
        let attempt = self.outbound.send(&hook, &envelope).await;
        let row = self
            .record_manual(ap.account_id, &hook, &envelope, &d, attempt)
            .await?;
        Ok(Retried {
            result: "sent",
            delivery: Some(row.into()),
        })
    }

    async fn record_manual(
        &self,
        account: i64,
        hook: &WebhookRow,
        envelope: &Envelope,
        before: &DeliveryRow,
        attempt: Attempt,
    ) -> Result<DeliveryRow, EngineError> {
        let row = attempt.row(hook, envelope, before.attempt + 1, &self.now(), true);
        let mut tx = self.store.write().await?;
        tx.insert_delivery(account, &row).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// `POST /admin/v1/webhooks/{id}/replay` `{"after": N}`: the events after N are sent
    /// again, in order (those still kept).
    pub async fn replay_webhook(
        &self,
        ap: &AdminPrincipal,
        id: &str,
        input: &Replay,
        ctx: &Ctx,
    ) -> Result<Replayed, EngineError> {
        require_write(ap)?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let old = WebhookView::from(self.webhook_row(&mut tx, ap, id).await?);
        let last = tx.last_event_sequence(ap.account_id).await?;
        if input.after > last {
            return Err(EngineError::invalid(
                ErrorCode::InvalidValue,
                "after",
                format!("after is at most the account's last sequence, {last}"),
            ));
        }
        tx.rewind_webhook(ap.account_id, id, input.after, &now)
            .await?;
        let new = WebhookView::from(self.webhook_row(&mut tx, ap, id).await?);
        let mut draft = Draft::new(None, "webhook_replay", Some(id));
        draft.resource_type = Some("Webhook");
        draft.changes = vec![Change {
            attribute: "delivered_through".into(),
            old: Some(old.delivered_through.into()),
            new: Some(input.after.into()),
        }];
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
            .await?;
        tx.commit().await?;
        Ok(Replayed {
            webhook: new,
            from_sequence: input.after + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_public;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            let ip = private.parse().unwrap_or_else(|_| panic!("{private}"));
            assert!(!is_public(ip), "{private} is not public");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            let ip = public.parse().unwrap_or_else(|_| panic!("{public}"));
            assert!(is_public(ip), "{public} is public");
        }
    }
}
