//! Delivering events to webhook endpoints, following the Standard Webhooks conventions: the
//! envelope as the JSON body, signed (`webhook-id`, `webhook-timestamp`, `webhook-signature`
//! `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`). Each replica leases the endpoints
//! that have events past their cursor and sends them one at a time, in sequence order; the
//! cursor moves only after a 2xx, so a crash sends an event again rather than losing it, and
//! a failing endpoint holds its later events back. Retries back off exponentially (with
//! jitter) for at least 24 hours, then the endpoint is marked failing.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

use crate::store::events::{DeliveryRow, Failure, WebhookRow};

use super::super::Engine;
use super::webhooks::is_public;
use super::Envelope;

/// A receiver has this long to answer (connect, send, and read its answer).
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer's body that is read.
pub const MAX_RESPONSE: usize = 64 * 1024;
/// The most of it that is kept in the delivery record.
const KEPT_RESPONSE: usize = 1024;
/// How long a replica's lease of an endpoint lasts; renewed after every delivery, so a
/// replica that died is replaced within this.
pub const LEASE: Duration = Duration::from_secs(30);
/// Successful deliveries recorded in one write, at most this many...
const RECORD_EVERY: usize = 100;
/// ... or after this long.
const RECORD_AFTER: Duration = Duration::from_millis(250);
/// Endpoints one replica delivers to at once.
const PARALLEL: i64 = 16;
/// First retry after this; doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF_SECS: f64 = 5.0;
const MAX_BACKOFF_SECS: f64 = 3600.0;
/// An endpoint whose oldest undelivered event has failed this long is marked failing.
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::hours(24);

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::thread_rng().fill(&mut key);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// The `webhook-signature` header value for a message.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_else(|_| encoded.as_bytes().to_vec());
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key) {
        Ok(m) => m,
        // HMAC takes a key of any length; this arm is never taken.
        Err(_) => return String::new(),
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

/// What one attempt to send got.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: Option<u16>,
    pub latency_ms: i64,
    pub response: Option<String>,
    pub error: Option<String>,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// What the admin reads of a failure.
    fn reason(&self) -> String {
        match (&self.error, self.status) {
            (Some(e), _) => e.clone(),
            (None, Some(s)) => format!("the receiver answered {s}"),
            (None, None) => "no answer".into(),
        }
    }

    pub(crate) fn row(
        &self,
        hook: &WebhookRow,
        envelope: &Envelope,
        attempt: i64,
        at: &str,
        manual: bool,
    ) -> DeliveryRow {
        DeliveryRow {
            id: format!("dlv_{}", uuid::Uuid::new_v4().simple()),
            webhook_id: hook.id.clone(),
            event_id: envelope.id.clone(),
            sequence: envelope.sequence,
            kind: envelope.kind.clone(),
            attempt,
            at: at.to_string(),
            outcome: if self.succeeded() {
                "succeeded"
            } else {
                "failed"
            }
            .into(),
            http_status: self.status.map(i64::from),
            latency_ms: self.latency_ms,
            response: self.response.clone(),
            error: if self.succeeded() {
                None
            } else {
                Some(self.reason())
            },
            manual,
        }
    }
}

/// Resolves endpoint hosts, keeping only the addresses the policy allows: public ones,
/// unless `--webhook-allow-private`. Resolving at connect time (not only when the endpoint
/// was made) keeps a host that later points inside from being reached.
struct Resolver {
    allow_private: Arc<AtomicBool>,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private.load(Ordering::Relaxed);
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!(
                    "{host} resolves to no address a webhook may reach (private, loopback or \
                     reserved addresses need serve --webhook-allow-private)"
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client that sends webhooks, and this replica's identity for leases.
pub struct Outbound {
    client: reqwest::Client,
    allow_private: Arc<AtomicBool>,
    owner: String,
}

impl Default for Outbound {
    fn default() -> Self {
        let allow_private = Arc::new(AtomicBool::new(false));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(concat!("Roster-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(Resolver {
                allow_private: allow_private.clone(),
            }))
            .build()
            .unwrap_or_default();
        Outbound {
            client,
            allow_private,
            owner: format!("replica-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl Outbound {
    pub fn allow_private(&self) -> bool {
        self.allow_private.load(Ordering::Relaxed)
    }

    pub fn set_allow_private(&self, allow: bool) {
        self.allow_private.store(allow, Ordering::Relaxed);
    }

    /// Sends one event to an endpoint and reports what came back. Never follows a redirect;
    /// reads at most [`MAX_RESPONSE`] of the answer.
    pub async fn send(&self, hook: &WebhookRow, envelope: &Envelope) -> Attempt {
        let started = Instant::now();
        let elapsed =
            |started: Instant| i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let fail = |e: String| Attempt {
            status: None,
            latency_ms: elapsed(started),
            response: None,
            error: Some(e),
        };
        let url = match reqwest::Url::parse(&hook.url) {
            Ok(u) => u,
            Err(e) => return fail(format!("the endpoint's url is not a URL: {e}")),
        };
        // A literal address is not resolved, so the policy is checked here.
        if let Some(host) = url.host_str() {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = host.parse::<IpAddr>() {
                if !self.allow_private() && !is_public(ip) {
                    return fail(format!(
                        "{ip} is not a public address (serve --webhook-allow-private allows it)"
                    ));
                }
            }
        }
        if url.scheme() != "https" && !self.allow_private() {
            return fail(
                "the endpoint is not https:// (serve --webhook-allow-private allows http://)"
                    .into(),
            );
        }
        let body = match serde_json::to_string(envelope) {
            Ok(b) => b,
            Err(e) => return fail(format!("the event cannot be written as JSON: {e}")),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(&hook.secret, &envelope.id, timestamp, &body);
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", envelope.id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return fail(describe(&e)),
        };
        let status = resp.status().as_u16();
        let mut kept: Vec<u8> = vec![];
        let mut read = 0usize;
        let mut error = None;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    if kept.len() < KEPT_RESPONSE {
                        let room = KEPT_RESPONSE - kept.len();
                        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    if read >= MAX_RESPONSE {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(describe(&e));
                    break;
                }
            }
        }
        let response = (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned());
        // A 2xx counts even if its body was cut short: the receiver answered.
        let error = if (200..300).contains(&status) {
            None
        } else {
            error
        };
        Attempt {
            status: Some(status),
            latency_ms: elapsed(started),
            response,
            error,
        }
    }
}

/// A transport error in words, without the URL's query (which may hold a token).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "no answer within 10 s"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "redirect refused"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {detail}")
    }
}

/// The shortest time between two looks for due endpoints.
const LOOK_EVERY: Duration = Duration::from_millis(50);

/// When to try again after `attempts` failures: 5 s doubling to an hour, give or take a
/// fifth (so endpoints that failed together do not retry together).
fn backoff(attempts: i64) -> Duration {
    let exp = i32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let base = (FIRST_BACKOFF_SECS * 2f64.powi(exp)).min(MAX_BACKOFF_SECS);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    Duration::from_secs_f64(base * jitter)
}

impl Engine {
    /// Starts this replica's delivery loop: it leases due endpoints and delivers to each in
    /// a task of its own, waking on this process's commits of events or every second.
    pub fn start_delivery(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            let mut woken = engine.store.events_committed();
            let mut tasks = tokio::task::JoinSet::new();
            loop {
                let looked = tokio::time::Instant::now();
                woken.borrow_and_update();
                while tasks.try_join_next().is_some() {}
                let room = PARALLEL - i64::try_from(tasks.len()).unwrap_or(PARALLEL);
                if room > 0 {
                    match engine.lease_due(room).await {
                        Ok((lease, hooks)) => {
                            for hook in hooks {
                                let (e, lease) = (engine.clone(), lease.clone());
                                tasks.spawn(async move { e.deliver_to(hook, &lease).await });
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "could not look for webhook deliveries")
                        }
                    }
                }
                tokio::select! {
                    _ = woken.changed() => {}
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                // At most one look per LOOK_EVERY however often this process commits: under
                // a stream of writes, waking on every commit would cost a query per commit.
                tokio::time::sleep_until(looked + LOOK_EVERY).await;
            }
        });
    }

    fn lease_time(&self) -> String {
        let until = self.clock.now()
            + chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::seconds(30));
        crate::scim::query::timestamp(until)
    }

    /// Leases the due endpoints under a token of this lease's own (the replica's id and a
    /// random part): a delivery whose lease was taken back (a replay, a change of the
    /// endpoint) cannot renew it even when this same replica leases the endpoint again, so
    /// it cannot move the cursor past a replay or go on with the old URL.
    async fn lease_due(
        &self,
        limit: i64,
    ) -> Result<(String, Vec<WebhookRow>), crate::store::StoreError> {
        if !self
            .store
            .read()
            .await?
            .any_webhook_due(&self.now())
            .await?
        {
            return Ok((String::new(), vec![]));
        }
        let lease = format!("{}/{}", self.outbound.owner, uuid::Uuid::new_v4().simple());
        let mut tx = self.store.write().await?;
        let hooks = tx
            .lease_webhooks(&lease, &self.now(), &self.lease_time(), limit)
            .await?;
        tx.commit().await?;
        Ok((lease, hooks))
    }

    /// Delivers an endpoint's events past its cursor, in order, until none is left, one
    /// fails, or the lease is lost.
    async fn deliver_to(&self, hook: WebhookRow, lease: &str) {
        if let Err(e) = self.deliver_to_inner(&hook, lease).await {
            tracing::warn!(error = %e, webhook = %hook.id, "webhook delivery stopped");
            if let Ok(mut tx) = self.store.write().await {
                let _ = tx.release_webhook(&hook.id, lease).await;
                let _ = tx.commit().await;
            }
        }
    }

    async fn deliver_to_inner(
        &self,
        hook: &WebhookRow,
        owner: &str,
    ) -> Result<(), crate::store::StoreError> {
        let types: Vec<String> = serde_json::from_str(&hook.events).unwrap_or_default();
        let account = {
            let mut conn = self.store.read().await?;
            conn.account_slug(hook.account_id)
                .await?
                .unwrap_or_default()
        };
        let mut cursor = hook.cursor;
        let mut attempts = hook.attempts;
        let mut failing_since = hook.failing_since.clone();
        // Successes are recorded (and the cursor moved) in batches: one write for up to
        // [`RECORD_EVERY`] deliveries or [`RECORD_AFTER`], so a busy endpoint does not take
        // the writer twice an event. A crash before a batch is written sends its events
        // again, which at least once allows.
        let mut done: Vec<DeliveryRow> = vec![];
        let mut since_record = Instant::now();
        // The cursor as the database has it (`cursor` may be ahead, by the unrecorded).
        let mut recorded = hook.cursor;
        loop {
            // The last sequence first: every event up to it has committed, so none of the
            // events passed over below can still appear.
            let (last, rows) = {
                let mut conn = self.store.read().await?;
                let last = conn.last_event_sequence(hook.account_id).await?;
                let rows = conn
                    .events_after(hook.account_id, cursor, &types, 100)
                    .await?;
                (last, rows)
            };
            let rows: Vec<_> = rows.into_iter().filter(|r| r.sequence <= last).collect();
            if rows.is_empty() {
                let mut tx = self.store.write().await?;
                tx.insert_deliveries(hook.account_id, &done).await?;
                // Past what was sent, and past events of types it does not take.
                let through = last.max(cursor);
                if through > recorded {
                    tx.advance_webhook(&hook.id, owner, through, &self.lease_time())
                        .await?;
                }
                tx.release_webhook(&hook.id, owner).await?;
                tx.commit().await?;
                return Ok(());
            }
            for r in rows {
                let envelope = Envelope::of(&account, r);
                let attempt = self.outbound.send(hook, &envelope).await;
                let now = self.now();
                let row = attempt.row(hook, &envelope, attempts + 1, &now, false);
                if attempt.succeeded() {
                    done.push(row);
                    cursor = envelope.sequence;
                    attempts = 0;
                    failing_since = None;
                    if done.len() >= RECORD_EVERY || since_record.elapsed() >= RECORD_AFTER {
                        let mut tx = self.store.write().await?;
                        tx.insert_deliveries(hook.account_id, &done).await?;
                        let kept = tx
                            .advance_webhook(&hook.id, owner, cursor, &self.lease_time())
                            .await?;
                        tx.commit().await?;
                        done.clear();
                        since_record = Instant::now();
                        recorded = cursor;
                        if !kept {
                            // Replayed, disabled or taken over meanwhile: whoever holds it
                            // now goes on from its cursor.
                            return Ok(());
                        }
                    }
                } else {
                    let mut tx = self.store.write().await?;
                    tx.insert_deliveries(hook.account_id, &done).await?;
                    tx.insert_delivery(hook.account_id, &row).await?;
                    if !done.is_empty() {
                        tx.advance_webhook(&hook.id, owner, cursor, &self.lease_time())
                            .await?;
                    }
                    attempts += 1;
                    let since = failing_since.clone().unwrap_or_else(|| now.clone());
                    let failing = chrono::DateTime::parse_from_rfc3339(&since)
                        .map(|s| self.clock.now() - s.with_timezone(&chrono::Utc) >= GIVE_UP_AFTER)
                        .unwrap_or(false);
                    let next = self.clock.now()
                        + chrono::Duration::from_std(backoff(attempts))
                            .unwrap_or(chrono::Duration::hours(1));
                    let f = Failure {
                        attempts,
                        failing_since: since,
                        next_attempt_at: crate::scim::query::timestamp(next),
                        failing,
                        error: row.error.clone().unwrap_or_default(),
                    };
                    tx.fail_webhook(&hook.id, owner, &f).await?;
                    tx.commit().await?;
                    if failing {
                        tracing::warn!(
                            webhook = %hook.id,
                            "webhook endpoint marked failing: its oldest undelivered event has failed for 24 hours"
                        );
                    }
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The secret is base64 after `whsec_`; the signed content is id.timestamp.body.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = sign(
            secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn backoff_doubles_to_an_hour() {
        let secs = |n| backoff(n).as_secs_f64();
        assert!((4.0..=6.0).contains(&secs(1)));
        assert!((8.0..=12.0).contains(&secs(2)));
        assert!((16.0..=24.0).contains(&secs(3)));
        assert!((2880.0..=4320.0).contains(&secs(40)));
    }
}
