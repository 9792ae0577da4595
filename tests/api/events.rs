//! Outbound events through HTTP: deliveries checked as a Standard Webhooks receiver checks
//! them (at a receiver the test runs), every event type from real SCIM and admin calls,
//! retries with backoff holding later events back, a receiver that never answers, endpoints
//! marked failing and brought back, the pull feed (paging, filters, long poll, validation,
//! roles), events only for changes that commit, endpoint CRUD with replay and retry,
//! retention, and the private-address guard.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{patch_settings, spawn_app_configured, user, Backend, TestApp};

/// The sixteen event types, as the documentation lists them.
const TYPES: [&str; 16] = [
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

/// Polls `$probe` (an `Option`) until it is `Some`, failing after 20 s with `$what`.
macro_rules! eventually {
    ($what:expr, $probe:expr) => {{
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = $probe {
                break v;
            }
            assert!(Instant::now() < deadline, "waited 20 s for {}", $what);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }};
}

/// Holds `$cond` true for `$for` (polling), failing as soon as it is not: for what must not
/// happen, checked after something that shows the server had its chance.
macro_rules! stays {
    ($for:expr, $what:expr, $cond:expr) => {{
        let until = Instant::now() + $for;
        while Instant::now() < until {
            assert!($cond, "{}", $what);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }};
}

// ---------------------------------------------------------------------------------------
// A webhook receiver: a tiny HTTP/1.1 server on 127.0.0.1:0 that records every request.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// 200.
    Ok,
    /// 500 with a short body.
    Fail,
    /// Reads the request and never answers (the connection stays open).
    Hang,
    /// 200 after this many milliseconds (a backlog takes a while to send).
    Slow(u64),
}

const FAIL_BODY: &str = "boom: the receiver is not ready";

#[derive(Debug, Clone)]
struct Received {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    /// What the receiver answered (0: nothing).
    answered: u16,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Fails the first `fail_first` requests, then answers `then`.
struct Plan {
    fail_first: usize,
    then: Answer,
}

struct Receiver {
    url: String,
    log: Arc<Mutex<Vec<Received>>>,
    plan: Arc<Mutex<Plan>>,
}

impl Receiver {
    async fn start(fail_first: usize, then: Answer) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        let log = Arc::new(Mutex::new(vec![]));
        let plan = Arc::new(Mutex::new(Plan { fail_first, then }));
        let (l, p) = (log.clone(), plan.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, l.clone(), p.clone()));
            }
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            log,
            plan,
        }
    }

    /// From now on every request gets `answer`.
    fn set(&self, answer: Answer) {
        let mut p = self.plan.lock().expect("plan lock");
        p.fail_first = 0;
        p.then = answer;
    }

    fn received(&self) -> Vec<Received> {
        self.log.lock().expect("log lock").clone()
    }

    fn count(&self) -> usize {
        self.log.lock().expect("log lock").len()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads one request (headers, then a body of its Content-Length).
async fn read_request(sock: &mut TcpStream) -> Option<Received> {
    let mut buf = vec![];
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        answered: 0,
    })
}

async fn serve(mut sock: TcpStream, log: Arc<Mutex<Vec<Received>>>, plan: Arc<Mutex<Plan>>) {
    let Some(mut req) = read_request(&mut sock).await else {
        return;
    };
    let answer = {
        let mut p = plan.lock().expect("plan lock");
        if p.fail_first > 0 {
            p.fail_first -= 1;
            Answer::Fail
        } else {
            p.then
        }
    };
    let (status, reason, text) = match answer {
        Answer::Ok | Answer::Slow(_) => (200, "OK", "thanks"),
        Answer::Fail => (500, "Internal Server Error", FAIL_BODY),
        Answer::Hang => (0, "", ""),
    };
    req.answered = status;
    log.lock().expect("log lock").push(req);
    if answer == Answer::Hang {
        // Holds the connection open, answering nothing, until the test ends.
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(sock);
        return;
    }
    if let Answer::Slow(ms) = answer {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let resp = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Checks a delivery as a Standard Webhooks receiver does (the signature over
/// `id.timestamp.body` with the endpoint's secret, the id, a fresh timestamp) and returns
/// its envelope.
fn verified(secret: &str, r: &Received) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/hook");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let id = r.header("webhook-id").expect("a webhook-id header");
    let ts = r
        .header("webhook-timestamp")
        .expect("a webhook-timestamp header");
    let sig = r
        .header("webhook-signature")
        .expect("a webhook-signature header");
    let key = base64::engine::general_purpose::STANDARD
        .decode(
            secret
                .strip_prefix("whsec_")
                .expect("the secret starts with whsec_"),
        )
        .expect("the secret is base64 after whsec_");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{id}.{ts}.{}", r.body).as_bytes());
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert!(
        sig.split(' ').any(|s| s == expected),
        "signature {sig} is not {expected} for {}",
        r.body
    );
    let ts: i64 = ts.parse().expect("webhook-timestamp is unix seconds");
    assert!(
        (chrono::Utc::now().timestamp() - ts).abs() < 300,
        "webhook-timestamp {ts} is not now"
    );
    let envelope: Value = serde_json::from_str(&r.body).expect("the body is JSON");
    assert_eq!(envelope["id"], json!(id), "webhook-id is the event's id");
    envelope
}

// ---------------------------------------------------------------------------------------
// Admin and SCIM calls.

async fn add_webhook(app: &TestApp, admin: &str, url: &str, events: Value) -> (String, String) {
    let (s, body) = app
        .admin(
            admin,
            Method::POST,
            "webhooks",
            Some(json!({"url": url, "events": events})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    (
        body["id"].as_str().expect("an id").to_string(),
        body["secret"].as_str().expect("a secret").to_string(),
    )
}

async fn webhook(app: &TestApp, admin: &str, id: &str) -> Value {
    let (s, body) = app
        .admin(admin, Method::GET, &format!("webhooks/{id}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    body
}

/// The endpoint's attempts, oldest first.
async fn deliveries(app: &TestApp, admin: &str, id: &str, query: &str) -> Vec<Value> {
    let (s, body) = app
        .admin(
            admin,
            Method::GET,
            &format!("webhooks/{id}/deliveries{query}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let mut list = body["deliveries"]
        .as_array()
        .unwrap_or_else(|| panic!("no deliveries in {body}"))
        .clone();
    list.reverse();
    list
}

async fn feed(app: &TestApp, token: &str, query: &str) -> Value {
    let (s, body) = app
        .admin(token, Method::GET, &format!("events?{query}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    body
}

async fn last_sequence(app: &TestApp, token: &str) -> i64 {
    feed(app, token, "limit=1").await["last_sequence"]
        .as_i64()
        .expect("last_sequence")
}

/// The feed's events after `after` (all of them, every page).
async fn events_after(app: &TestApp, token: &str, after: i64) -> Vec<Value> {
    let mut out = vec![];
    let mut after = after;
    loop {
        let page = feed(app, token, &format!("after={after}&limit=1000")).await;
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            return out;
        }
        after = page["next_after"].as_i64().expect("next_after");
        out.extend(events);
    }
}

fn seqs(events: &[Value]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e["sequence"].as_i64().expect("a sequence"))
        .collect()
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("a type").to_string())
        .collect()
}

async fn put_licenses(app: &TestApp, admin: &str, product: &str, seats: i64) {
    let (s, body) = app
        .admin(
            admin,
            Method::PUT,
            &format!("products/{product}"),
            Some(json!({"seats": seats})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

/// A user created over SCIM, with a password (which no event may carry); its id.
async fn create_user(app: &TestApp, name: &str) -> String {
    let mut body = user(name);
    body["password"] = json!("Sup3r-Secret!");
    let (s, u) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(s, 201, "{u}");
    u["id"].as_str().expect("an id").to_string()
}

fn patch_op(ops: Value) -> Option<Value> {
    Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": ops,
    }))
}

async fn scim_ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (s, answer) = app.send(method.clone(), path, body).await;
    assert!((200..300).contains(&s), "{method} {path}: {s} {answer}");
    answer
}

/// Whether any object key in `v` names a password.
fn has_password(v: &Value) -> bool {
    match v {
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| k.to_lowercase().contains("password") || has_password(v)),
        Value::Array(a) => a.iter().any(has_password),
        _ => false,
    }
}

/// The one event of a type about a subject (`data.id`, `data.user_id` or `data.group.id`),
/// the `nth` (0-based) if there are several.
fn event<'a>(events: &'a [Value], kind: &str, subject: &str, nth: usize) -> &'a Value {
    events
        .iter()
        .filter(|e| e["type"] == json!(kind))
        .filter(|e| {
            let d = &e["data"];
            d["id"] == json!(subject)
                || d["user_id"] == json!(subject)
                || d["group"]["id"] == json!(subject)
                || d["product"] == json!(subject)
        })
        .nth(nth)
        .unwrap_or_else(|| panic!("no {kind} #{nth} about {subject} in {events:#?}"))
}

// ---------------------------------------------------------------------------------------
// 1. Every type, signed, in order.

async fn every_event_type_arrives_signed_and_in_order(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let rx = Receiver::start(0, Answer::Ok).await;
    let (hook, secret) = add_webhook(&app, &admin, &rx.url, json!(["*"])).await;

    // license.changed; then everyone gets the product.
    put_licenses(&app, &admin, "meeting", 1).await;
    patch_settings(&app, &admin, json!({"default_products": ["meeting"]})).await;
    // user.created + seat.assigned.
    let ann = create_user(&app, "ann").await;
    // user.created + seat.waitlisted + conflict.opened (no seat left).
    let bob = create_user(&app, "bob").await;
    // license.changed, and the waitlist served: seat.assigned + conflict.resolved.
    put_licenses(&app, &admin, "meeting", 2).await;
    // user.updated.
    scim_ok(
        &app,
        Method::PATCH,
        &format!("Users/{ann}"),
        patch_op(json!([{"op": "replace", "path": "name.givenName", "value": "Annie"}])),
    )
    .await;
    // user.suspended + seat.released; user.reactivated + seat.assigned.
    for active in [false, true] {
        scim_ok(
            &app,
            Method::PATCH,
            &format!("Users/{ann}"),
            patch_op(json!([{"op": "replace", "path": "active", "value": active}])),
        )
        .await;
    }
    // group.created, members added and removed, renamed (group.updated), deleted.
    let g = scim_ok(
        &app,
        Method::POST,
        "Groups",
        Some(json!({"displayName": "Engineering"})),
    )
    .await;
    let gid = g["id"].as_str().expect("a group id").to_string();
    let group = format!("Groups/{gid}");
    scim_ok(
        &app,
        Method::PATCH,
        &group,
        patch_op(json!([{"op": "add", "path": "members", "value": [{"value": ann}]}])),
    )
    .await;
    scim_ok(
        &app,
        Method::PATCH,
        &group,
        patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{ann}\"]")}])),
    )
    .await;
    scim_ok(
        &app,
        Method::PATCH,
        &group,
        patch_op(json!([{"op": "replace", "path": "displayName", "value": "Platform"}])),
    )
    .await;
    scim_ok(&app, Method::DELETE, &group, None).await;
    // user.deleted + seat.released.
    scim_ok(&app, Method::DELETE, &format!("Users/{bob}"), None).await;

    let all = events_after(&app, &admin, 0).await;
    let last = *seqs(&all).last().expect("events");
    assert_eq!(
        last_sequence(&app, &admin).await,
        last,
        "the feed ends at the last sequence"
    );
    eventually!(
        format!("delivery through {last}"),
        (webhook(&app, &admin, &hook).await["delivered_through"] == json!(last)).then_some(())
    );

    // Exactly what happened, in the order it happened: each change's own events, then the
    // conflicts it opened or closed.
    assert_eq!(
        kinds(&all),
        [
            "license.changed",
            "user.created",
            "seat.assigned",
            "user.created",
            "seat.waitlisted",
            "conflict.opened",
            "license.changed",
            "seat.assigned",
            "conflict.resolved",
            "user.updated",
            "user.suspended",
            "seat.released",
            "user.reactivated",
            "seat.assigned",
            "group.created",
            "group.members_added",
            "group.members_removed",
            "group.updated",
            "group.deleted",
            "user.deleted",
            "seat.released",
        ],
        "{all:#?}"
    );
    let mut seen: Vec<&str> = all.iter().filter_map(|e| e["type"].as_str()).collect();
    seen.sort_unstable();
    seen.dedup();
    let mut want = TYPES.to_vec();
    want.sort_unstable();
    assert_eq!(seen, want, "every type was emitted");

    // Every delivery is signed with the endpoint's secret, each event arrived once, in
    // sequence order, and its body is the feed's envelope.
    let got = rx.received();
    assert!(got.iter().all(|r| r.answered == 200));
    let delivered: Vec<Value> = got.iter().map(|r| verified(&secret, r)).collect();
    let arrived = seqs(&delivered);
    assert!(
        arrived.windows(2).all(|w| w[0] < w[1]),
        "sequences strictly increase in arrival order: {arrived:?}"
    );
    assert_eq!(
        delivered, all,
        "each delivery's body is the feed's envelope"
    );
    assert_eq!(seqs(&all), (1..=last).collect::<Vec<_>>());

    for e in &all {
        assert_eq!(e["account"], json!("acme"), "{e}");
        assert!(e["id"].as_str().is_some_and(|i| !i.is_empty()), "{e}");
        assert!(e["actor"].as_str().is_some_and(|a| !a.is_empty()), "{e}");
        let at = e["occurred_at"].as_str().expect("occurred_at");
        assert!(
            chrono::DateTime::parse_from_rfc3339(at).is_ok(),
            "occurred_at {at}"
        );
        assert!(!has_password(&e["data"]), "no password in {e}");
    }
    let ids: std::collections::HashSet<&str> =
        all.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), all.len(), "event ids are unique");

    // The data of each type.
    let created = &event(&all, "user.created", &ann, 0)["data"];
    assert_eq!(created["userName"], json!("ann"), "{created}");
    assert_eq!(created["meta"]["resourceType"], json!("User"), "{created}");
    assert_eq!(created["active"], json!(true), "{created}");
    assert!(created.get("groups").is_none(), "{created}");
    assert_eq!(
        event(&all, "user.created", &bob, 0)["data"]["userName"],
        json!("bob")
    );
    let d = &event(&all, "seat.assigned", &ann, 0)["data"];
    assert_eq!(d["product"], json!("meeting"), "{d}");
    let d = &event(&all, "seat.waitlisted", &bob, 0)["data"];
    assert_eq!(d["product"], json!("meeting"), "{d}");
    let opened = &event(&all, "conflict.opened", &bob, 0)["data"];
    assert_eq!(
        (&opened["kind"], &opened["product"], &opened["user_name"]),
        (&json!("no_seat"), &json!("meeting"), &json!("bob")),
        "{opened}"
    );
    let resolved = &event(&all, "conflict.resolved", &bob, 0)["data"];
    assert_eq!(resolved["id"], opened["id"], "the same conflict closes");
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    assert_eq!(
        event(&all, "seat.assigned", &bob, 0)["data"]["product"],
        json!("meeting")
    );
    let first = &event(&all, "license.changed", "meeting", 0)["data"];
    assert_eq!(
        (&first["licenses"], &first["previous"]),
        (&json!(1), &Value::Null),
        "{first}"
    );
    let second = &event(&all, "license.changed", "meeting", 1)["data"];
    assert_eq!(
        (&second["licenses"], &second["previous"]),
        (&json!(2), &json!(1)),
        "{second}"
    );
    let updated = &event(&all, "user.updated", &ann, 0)["data"];
    assert_eq!(updated["name"]["givenName"], json!("Annie"), "{updated}");
    assert_eq!(
        event(&all, "user.suspended", &ann, 0)["data"]["active"],
        json!(false)
    );
    assert_eq!(
        event(&all, "user.reactivated", &ann, 0)["data"]["active"],
        json!(true)
    );
    let released = &event(&all, "seat.released", &ann, 0)["data"];
    assert_eq!(
        (&released["product"], &released["was"]),
        (&json!("meeting"), &json!("assigned")),
        "{released}"
    );
    let d = &event(&all, "group.created", &gid, 0)["data"];
    assert_eq!(d["displayName"], json!("Engineering"), "{d}");
    assert!(d.get("members").is_none(), "{d}");
    let d = &event(&all, "group.members_added", &gid, 0)["data"];
    assert_eq!(d["members"], json!([ann]), "{d}");
    let d = &event(&all, "group.members_removed", &gid, 0)["data"];
    assert_eq!(d["members"], json!([ann]), "{d}");
    let d = &event(&all, "group.updated", &gid, 0)["data"];
    assert_eq!(d["displayName"], json!("Platform"), "{d}");
    let d = &event(&all, "group.deleted", &gid, 0)["data"];
    assert_eq!(d["displayName"], json!("Platform"), "{d}");
    let d = &event(&all, "user.deleted", &bob, 0)["data"];
    assert_eq!(d["userName"], json!("bob"), "{d}");
    assert_eq!(
        event(&all, "seat.released", &bob, 0)["data"]["was"],
        json!("assigned")
    );

    // One successful attempt per event.
    let tried = deliveries(&app, &admin, &hook, "").await;
    assert_eq!(tried.len(), all.len());
    assert!(tried
        .iter()
        .all(|d| d["outcome"] == json!("succeeded") && d["attempt"] == json!(1)));
}

// ---------------------------------------------------------------------------------------
// 2. Retries, in order.

async fn a_failed_event_is_retried_and_holds_later_events_back(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let rx = Receiver::start(3, Answer::Ok).await;
    let (hook, secret) = add_webhook(&app, &admin, &rx.url, json!(["*"])).await;
    let first = create_user(&app, "first").await;
    create_user(&app, "second").await;
    create_user(&app, "third").await;
    let all = events_after(&app, &admin, 0).await;
    assert_eq!(kinds(&all), ["user.created"; 3]);

    for n in 1..=3i64 {
        // The n-th failure is recorded, with its backoff: 5 s doubling, give or take 20 %.
        let w = eventually!(format!("failed attempt {n}"), {
            let w = webhook(&app, &admin, &hook).await;
            (w["attempts"] == json!(n)).then_some(w)
        });
        assert_eq!(w["state"], json!("active"), "{w}");
        assert_eq!(w["delivered_through"], json!(0), "{w}");
        let tried = deliveries(&app, &admin, &hook, "").await;
        assert_eq!(tried.len(), n as usize, "{tried:#?}");
        let latest = tried.last().expect("an attempt");
        assert_eq!(latest["attempt"], json!(n), "{latest}");
        let at = chrono::DateTime::parse_from_rfc3339(latest["at"].as_str().expect("at"))
            .expect("at is a time");
        let next = chrono::DateTime::parse_from_rfc3339(
            w["next_attempt_at"].as_str().expect("next_attempt_at"),
        )
        .expect("next_attempt_at is a time");
        let wait = (next - at).num_milliseconds() as f64 / 1000.0;
        let base = 5.0 * 2f64.powi(n as i32 - 1);
        assert!(
            (base * 0.8 - 0.01..=base * 1.2 + 0.5).contains(&wait),
            "attempt {n}: next in {wait} s, not {base} s ± 20 %"
        );
        // Nothing after the failing event has been sent.
        assert_eq!(rx.count(), n as usize);
        app.clock.advance(chrono::Duration::minutes(1));
    }
    let last = *seqs(&all).last().expect("events");
    eventually!(
        "the held events delivered",
        (webhook(&app, &admin, &hook).await["delivered_through"] == json!(last)).then_some(())
    );

    let got: Vec<(i64, u16)> = rx
        .received()
        .iter()
        .map(|r| {
            (
                verified(&secret, r)["sequence"].as_i64().expect("sequence"),
                r.answered,
            )
        })
        .collect();
    assert_eq!(
        got,
        [(1, 500), (1, 500), (1, 500), (1, 200), (2, 200), (3, 200)],
        "the failing event first, again and again, then the ones after it"
    );
    assert_eq!(event(&all, "user.created", &first, 0)["sequence"], json!(1));

    // The record: three failed attempts (status, the answer's start), then the successes.
    let tried = deliveries(&app, &admin, &hook, "").await;
    let summary: Vec<(Value, Value, Value, Value)> = tried
        .iter()
        .map(|d| {
            (
                d["sequence"].clone(),
                d["attempt"].clone(),
                d["outcome"].clone(),
                d["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (json!(1), json!(1), json!("failed"), json!(500)),
            (json!(1), json!(2), json!("failed"), json!(500)),
            (json!(1), json!(3), json!("failed"), json!(500)),
            (json!(1), json!(4), json!("succeeded"), json!(200)),
            (json!(2), json!(1), json!("succeeded"), json!(200)),
            (json!(3), json!(1), json!("succeeded"), json!(200)),
        ],
        "{tried:#?}"
    );
    for d in &tried[..3] {
        assert_eq!(d["response"], json!(FAIL_BODY), "{d}");
        assert!(
            d["error"].as_str().is_some_and(|e| e.contains("500")),
            "{d}"
        );
        assert_eq!(d["event_id"], all[0]["id"], "{d}");
        assert_eq!(d["manual"], json!(false), "{d}");
    }
    let failed = deliveries(&app, &admin, &hook, "?outcome=failed").await;
    assert_eq!(failed, tried[..3].to_vec());
    let w = webhook(&app, &admin, &hook).await;
    assert_eq!(
        (&w["state"], &w["attempts"], &w["last_error"]),
        (&json!("active"), &json!(0), &Value::Null),
        "{w}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. A receiver that never answers.

async fn a_receiver_that_never_answers_slows_no_request(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let rx = Receiver::start(0, Answer::Hang).await;
    let (hook, _) = add_webhook(&app, &admin, &rx.url, json!(["*"])).await;
    let before = last_sequence(&app, &admin).await;
    for i in 0..30 {
        let started = Instant::now();
        create_user(&app, &format!("patient{i}")).await;
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "create {i} took {took:?} while a receiver hangs"
        );
    }
    eventually!(
        "a delivery to the silent receiver",
        (rx.count() >= 1).then_some(())
    );
    let events = events_after(&app, &admin, before).await;
    assert_eq!(events.len(), 30);
    let names: Vec<&str> = events
        .iter()
        .filter_map(|e| e["data"]["userName"].as_str())
        .collect();
    let want: Vec<String> = (0..30).map(|i| format!("patient{i}")).collect();
    assert_eq!(names, want);
    assert_eq!(
        webhook(&app, &admin, &hook).await["delivered_through"],
        json!(before),
        "nothing counts as delivered"
    );
    // After the delivery timeout (10 s) the attempt is recorded as failed, with no status,
    // and retried later; nothing past the first event was sent meanwhile.
    let failed = eventually!(
        format!(
            "the silent attempt recorded: {} requests, {}, {:?}",
            rx.count(),
            webhook(&app, &admin, &hook).await,
            deliveries(&app, &admin, &hook, "").await
        ),
        Some(deliveries(&app, &admin, &hook, "?outcome=failed").await).filter(|d| !d.is_empty())
    );
    let d = &failed[0];
    assert_eq!(
        (&d["sequence"], &d["status"]),
        (&json!(before + 1), &Value::Null),
        "{d}"
    );
    assert!(
        d["error"].as_str().is_some_and(|e| e.contains("no answer")),
        "{d}"
    );
    assert!(
        d["latency_ms"].as_i64().is_some_and(|ms| ms >= 9_000),
        "{d}"
    );
    let w = webhook(&app, &admin, &hook).await;
    assert_eq!(w["attempts"], json!(1), "{w}");
    assert_eq!(rx.count(), 1, "later events wait behind the first");
}

/// A receiver whose port refuses connections: each failure is recorded (no status, why)
/// and backed off, not tried again at once.
async fn an_unreachable_receiver_is_recorded_and_backed_off(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let closed = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port to close");
        l.local_addr().expect("its address")
    };
    let (hook, _) = add_webhook(&app, &admin, &format!("http://{closed}/hook"), json!(["*"])).await;
    create_user(&app, "nobody-home").await;
    let failed = eventually!(
        format!(
            "the refused attempt recorded: {}",
            webhook(&app, &admin, &hook).await
        ),
        Some(deliveries(&app, &admin, &hook, "?outcome=failed").await).filter(|d| !d.is_empty())
    );
    let d = &failed[0];
    assert_eq!(
        (&d["attempt"], &d["status"]),
        (&json!(1), &Value::Null),
        "{d}"
    );
    assert!(
        d["error"].as_str().is_some_and(|e| e.contains("connect")),
        "{d}"
    );
    let w = webhook(&app, &admin, &hook).await;
    assert_eq!(w["attempts"], json!(1), "{w}");
    assert!(w["next_attempt_at"].is_string(), "{w}");
    // The first backoff is 4 to 6 s: within it, no second attempt.
    stays!(
        Duration::from_millis(1500),
        "a refused endpoint was tried again before its backoff",
        deliveries(&app, &admin, &hook, "").await.len() == 1
    );
}

// ---------------------------------------------------------------------------------------
// 4. The pull feed.

async fn the_feed_pages_filters_long_polls_and_checks_its_parameters(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let auditor = app.admin_token(Role::Auditor).await;
    put_licenses(&app, &admin, "meeting", 10).await;
    for name in ["u1", "u2", "u3", "u4"] {
        create_user(&app, name).await;
    }
    scim_ok(
        &app,
        Method::POST,
        "Groups",
        Some(json!({"displayName": "Readers"})),
    )
    .await;

    // The auditor reads the feed.
    let page = feed(&app, &auditor, "").await;
    let all = page["events"].as_array().expect("events").clone();
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5, 6]);
    assert_eq!(
        kinds(&all),
        [
            "license.changed",
            "user.created",
            "user.created",
            "user.created",
            "user.created",
            "group.created"
        ]
    );
    assert_eq!(
        (&page["next_after"], &page["last_sequence"]),
        (&json!(6), &json!(6))
    );

    // Pages of two, each from the last one's next_after.
    let mut after = 0;
    let mut paged = vec![];
    for want in [[1, 2], [3, 4], [5, 6]] {
        let p = feed(&app, &admin, &format!("after={after}&limit=2")).await;
        let events = p["events"].as_array().expect("events").clone();
        assert_eq!(seqs(&events), want, "{p}");
        assert_eq!(p["next_after"], json!(want[1]));
        assert_eq!(p["last_sequence"], json!(6));
        after = p["next_after"].as_i64().expect("next_after");
        paged.extend(events);
    }
    assert_eq!(paged, all, "pages make up the feed");
    let end = feed(&app, &admin, "after=6").await;
    assert_eq!(
        (&end["events"], &end["next_after"]),
        (&json!([]), &json!(6)),
        "{end}"
    );

    // Types.
    let users = feed(&app, &admin, "types=user.created").await;
    let users = users["events"].as_array().expect("events").clone();
    assert_eq!(seqs(&users), [2, 3, 4, 5]);
    let p = feed(&app, &admin, "types=license.changed,group.created").await;
    assert_eq!(seqs(p["events"].as_array().expect("events")), [1, 6], "{p}");
    let p = feed(&app, &admin, "types=user.created&after=3&limit=1").await;
    assert_eq!(seqs(p["events"].as_array().expect("events")), [4], "{p}");
    assert_eq!(p["next_after"], json!(4));
    let p = feed(&app, &admin, "types=*").await;
    assert_eq!(p["events"].as_array().map(Vec::len), Some(6), "{p}");

    // A long poll answers as soon as a change commits.
    let url = format!("{}/admin/v1/events?after=6&wait=5", app.root());
    let (client, token) = (app.client.clone(), auditor.clone());
    let started = Instant::now();
    let poll = tokio::spawn(async move {
        let resp = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("the long poll answers");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.expect("a JSON page"))
    });
    // Gives the poll its head start (only ordering: the check below is the answer's).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let changed = Instant::now();
    create_user(&app, "late").await;
    let (s, p) = poll.await.expect("the poll task");
    let waited = changed.elapsed();
    assert_eq!(s, 200, "{p}");
    let events = p["events"].as_array().expect("events");
    assert_eq!(seqs(events), [7], "{p}");
    assert_eq!(events[0]["data"]["userName"], json!("late"));
    assert!(
        waited < Duration::from_secs(2) && started.elapsed() < Duration::from_secs(4),
        "the long poll answered {waited:?} after the change"
    );
    // With nothing new it waits, then answers an empty page.
    let started = Instant::now();
    let p = feed(&app, &admin, "after=7&wait=1").await;
    assert_eq!(p["events"], json!([]), "{p}");
    assert!(started.elapsed() >= Duration::from_millis(900));

    // The feed is the admin API's: a SCIM token does not read it.
    let (s, body) = app.admin(&app.token, Method::GET, "events", None).await;
    assert_eq!(s, 401, "{body}");

    // A bad parameter is a 400 naming it.
    for (query, field) in [
        ("after=-1", "after"),
        ("after=x", "after"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("wait=31", "wait"),
        ("wait=soon", "wait"),
        ("types=user.exploded", "types"),
        ("types=user.created,nope", "types"),
    ] {
        let (s, body) = app
            .admin(&admin, Method::GET, &format!("events?{query}"), None)
            .await;
        assert_eq!(s, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], json!(field), "{query}: {body}");
    }

    // The auditor reads endpoints and their deliveries but changes none.
    let rx = Receiver::start(0, Answer::Ok).await;
    let (hook, _) = add_webhook(&app, &admin, &rx.url, json!(["*"])).await;
    for path in [
        "webhooks".to_string(),
        format!("webhooks/{hook}"),
        format!("webhooks/{hook}/deliveries"),
    ] {
        let (s, body) = app.admin(&auditor, Method::GET, &path, None).await;
        assert_eq!(s, 200, "{path}: {body}");
    }
    let (_, list) = app.admin(&auditor, Method::GET, "webhooks", None).await;
    assert_eq!(list["webhooks"][0]["id"], json!(hook), "{list}");
    for (method, path, body) in [
        (
            Method::POST,
            "webhooks".to_string(),
            Some(json!({"url": rx.url, "events": ["*"]})),
        ),
        (
            Method::PATCH,
            format!("webhooks/{hook}"),
            Some(json!({"enabled": false})),
        ),
        (Method::DELETE, format!("webhooks/{hook}"), None),
        (
            Method::POST,
            format!("webhooks/{hook}/replay"),
            Some(json!({"after": 0})),
        ),
    ] {
        let (s, answer) = app.admin(&auditor, method.clone(), &path, body).await;
        assert_eq!(s, 403, "{method} {path}: {answer}");
    }
    let w = webhook(&app, &admin, &hook).await;
    assert_eq!(w["enabled"], json!(true), "the auditor changed nothing");
    let (_, list) = app.admin(&admin, Method::GET, "webhooks", None).await;
    assert_eq!(list["webhooks"].as_array().map(Vec::len), Some(1));
}

// ---------------------------------------------------------------------------------------
// 5. Only what commits.

async fn only_changes_that_commit_emit_events(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    put_licenses(&app, &admin, "meeting", 5).await;
    let start = last_sequence(&app, &admin).await;

    // Failed SCIM requests.
    let dup = create_user(&app, "dup").await;
    let (s, body) = app.send(Method::POST, "Users", Some(user("DUP"))).await;
    assert_eq!(s, 409, "userName taken: {body}");
    let (s, body) = app
        .send(
            Method::POST,
            "Users",
            Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]})),
        )
        .await;
    assert_eq!(s, 400, "no userName: {body}");
    let (s, body) = app
        .send(
            Method::PATCH,
            &format!("Users/{dup}"),
            patch_op(json!([{"op": "replace", "path": "active", "value": "maybe"}])),
        )
        .await;
    assert_eq!(s, 400, "active is a boolean: {body}");
    let (s, body) = app
        .send(
            Method::POST,
            "Groups",
            Some(json!({"displayName": "Ghosts", "members": [{"value": "no-such-user"}]})),
        )
        .await;
    assert_eq!(s, 400, "an unknown member: {body}");
    let only = events_after(&app, &admin, start).await;
    assert_eq!(kinds(&only), ["user.created"], "{only:#?}");
    assert_eq!(only[0]["data"]["id"], json!(dup));
    let mark = last_sequence(&app, &admin).await;

    // Dry runs.
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting?dry_run=true",
            Some(json!({"seats": 1})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app
        .admin(
            &admin,
            Method::PATCH,
            "settings?dry_run=true",
            Some(json!({"default_products": ["meeting"]})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            "rules?dry_run=true",
            Some(json!({"product": "meeting", "filter": "userName eq \"dup\""})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let csv = "email,userName,products\nd1@example.com,d1,meeting\nd2@example.com,d2,\n";
    let (s, body) = import(&app, &admin, csv, true).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["created"], json!(2), "{body}");
    assert_eq!(
        last_sequence(&app, &admin).await,
        mark,
        "dry runs emit nothing"
    );
    assert_eq!(events_after(&app, &admin, mark).await, Vec::<Value>::new());

    // An import whose middle row rolls back (its email is another account's): the good
    // rows' events, once each; of the bad row only the conflict it opened.
    let other = app.other_account_token("globex").await;
    let (s, body) = app
        .send_as(&other, Method::POST, "Users", Some(user("taken")))
        .await;
    assert_eq!(s, 201, "{body}");
    let csv = "email,userName\n\
               good1@example.com,good1\n\
               taken@example.com,thief\n\
               good2@example.com,good2\n";
    let (s, report) = import(&app, &admin, csv, false).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&json!(2), &json!(1)),
        "{report}"
    );
    let after = events_after(&app, &admin, mark).await;
    assert_eq!(
        kinds(&after),
        ["user.created", "user.created", "conflict.opened"],
        "{after:#?}"
    );
    let names: Vec<&Value> = after.iter().map(|e| &e["data"]["userName"]).collect();
    assert_eq!(names[..2], [&json!("good1"), &json!("good2")]);
    let conflict = &after[2]["data"];
    assert_eq!(
        (&conflict["kind"], &conflict["user_name"]),
        (&json!("email_in_use"), &json!("thief")),
        "{conflict}"
    );
    assert_eq!(
        seqs(&after),
        (mark + 1..=mark + 3).collect::<Vec<_>>(),
        "no number was spent on the rolled-back row"
    );
    // The other account's feed has its own numbering and only its own event.
    let other_admin = app
        .engine
        .issue_admin_token("globex", Role::Admin, 1)
        .await
        .expect("globex admin token");
    let theirs = events_after(&app, &other_admin, 0).await;
    assert_eq!(seqs(&theirs), [1]);
    assert_eq!(theirs[0]["account"], json!("globex"));
    assert_eq!(theirs[0]["data"]["userName"], json!("taken"));
}

async fn import(app: &TestApp, token: &str, csv: &str, dry_run: bool) -> (u16, Value) {
    let resp = app
        .client
        .post(format!("{}/admin/v1/imports?dry_run={dry_run}", app.root()))
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .expect("the import answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("the import's body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

// ---------------------------------------------------------------------------------------
// 6. Endpoints: CRUD, subscriptions, replay, retry.

async fn endpoints_are_managed_replayed_and_retried(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let rx = Receiver::start(0, Answer::Ok).await;
    let (s, made) = app
        .admin(
            &admin,
            Method::POST,
            "webhooks",
            Some(json!({"url": rx.url, "events": ["user.created"]})),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let hook = made["id"].as_str().expect("an id").to_string();
    let secret = made["secret"].as_str().expect("a secret").to_string();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_"))
        .expect("base64");
    assert_eq!(key.len(), 32, "{secret}");
    assert_eq!(
        (
            &made["url"],
            &made["events"],
            &made["enabled"],
            &made["state"],
            &made["delivered_through"]
        ),
        (
            &json!(rx.url),
            &json!(["user.created"]),
            &json!(true),
            &json!("active"),
            &json!(0)
        ),
        "{made}"
    );
    // The secret is shown once.
    let (_, list) = app.admin(&admin, Method::GET, "webhooks", None).await;
    assert_eq!(list["webhooks"][0]["id"], json!(hook), "{list}");
    assert!(!list.to_string().contains(&secret), "{list}");
    assert!(list["webhooks"][0].get("secret").is_none());
    let one = webhook(&app, &admin, &hook).await;
    assert!(one.get("secret").is_none(), "{one}");
    assert!(!one.to_string().contains(&secret));

    // What is refused, naming the field.
    for (method, path, body, field) in [
        (
            Method::POST,
            "webhooks".to_string(),
            json!({"url": "ftp://127.0.0.1/x", "events": ["*"]}),
            "url",
        ),
        (
            Method::POST,
            "webhooks".to_string(),
            json!({"url": "not a url", "events": ["*"]}),
            "url",
        ),
        (
            Method::POST,
            "webhooks".to_string(),
            json!({"url": rx.url, "events": ["user.exploded"]}),
            "events",
        ),
        (
            Method::POST,
            "webhooks".to_string(),
            json!({"url": rx.url, "events": []}),
            "events",
        ),
        (
            Method::POST,
            "webhooks".to_string(),
            json!({"url": rx.url, "events": ["*"], "colour": "red"}),
            "colour",
        ),
        (
            Method::PATCH,
            format!("webhooks/{hook}"),
            json!({"colour": "red"}),
            "colour",
        ),
        (
            Method::PATCH,
            format!("webhooks/{hook}"),
            json!({"events": ["nope"]}),
            "events",
        ),
        (
            Method::PATCH,
            format!("webhooks/{hook}"),
            json!({"url": "ftp://127.0.0.1/x"}),
            "url",
        ),
        (
            Method::POST,
            format!("webhooks/{hook}/replay"),
            json!({"after": -1}),
            "after",
        ),
        (
            Method::POST,
            format!("webhooks/{hook}/replay"),
            json!({"after": 999}),
            "after",
        ),
        (
            Method::POST,
            format!("webhooks/{hook}/replay"),
            json!({"after": 0, "from": 1}),
            "from",
        ),
    ] {
        let (s, answer) = app
            .admin(&admin, method.clone(), &path, Some(body.clone()))
            .await;
        assert_eq!(s, 400, "{method} {path} {body}: {answer}");
        assert_eq!(
            answer["error"]["field"],
            json!(field),
            "{method} {path} {body}: {answer}"
        );
    }
    let (_, list) = app.admin(&admin, Method::GET, "webhooks", None).await;
    assert_eq!(
        list["webhooks"].as_array().map(Vec::len),
        Some(1),
        "nothing refused was made: {list}"
    );
    let (s, _) = app
        .admin(&admin, Method::GET, "webhooks/wh_nope", None)
        .await;
    assert_eq!(s, 404);

    // Subscribed to user.created only: the license change is passed over.
    put_licenses(&app, &admin, "meeting", 3).await;
    let u1 = create_user(&app, "u1").await;
    eventually!(
        "u1 delivered",
        (webhook(&app, &admin, &hook).await["delivered_through"] == json!(2)).then_some(())
    );
    let got: Vec<Value> = rx.received().iter().map(|r| verified(&secret, r)).collect();
    assert_eq!(kinds(&got), ["user.created"]);
    assert_eq!(got[0]["data"]["id"], json!(u1));

    // Changed: all types, then disabled. A second endpoint shows that deliveries went on.
    let w = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"events": ["*"]})),
        )
        .await;
    assert_eq!((w.0, &w.1["events"]), (200, &json!(["*"])), "{}", w.1);
    assert!(w.1.get("secret").is_none());
    let w = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!((w.0, &w.1["enabled"]), (200, &json!(false)), "{}", w.1);
    let witness = Receiver::start(0, Answer::Ok).await;
    let (witness_hook, witness_secret) =
        add_webhook(&app, &admin, &witness.url, json!(["*"])).await;
    assert_ne!(witness_secret, secret, "each endpoint has its own secret");
    let u2 = create_user(&app, "u2").await;
    eventually!(
        "u2 delivered to the other endpoint",
        (webhook(&app, &admin, &witness_hook).await["delivered_through"] == json!(3)).then_some(())
    );
    let w = &witness.received()[0];
    assert_eq!(verified(&witness_secret, w)["data"]["id"], json!(u2));
    stays!(
        Duration::from_millis(1500),
        "a disabled endpoint was sent an event",
        rx.count() == 1
    );
    // Enabled again, it gets what it missed.
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!((s, &w["enabled"]), (200, &json!(true)), "{w}");
    eventually!("u2 delivered", (rx.count() == 2).then_some(()));
    assert_eq!(
        verified(&secret, &rx.received()[1])["data"]["id"],
        json!(u2)
    );

    // A new URL: deliveries go there.
    let moved = Receiver::start(0, Answer::Ok).await;
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"url": moved.url})),
        )
        .await;
    assert_eq!((s, &w["url"]), (200, &json!(moved.url)), "{w}");
    let u3 = create_user(&app, "u3").await;
    eventually!("u3 delivered", (moved.count() == 1).then_some(()));
    assert_eq!(
        verified(&secret, &moved.received()[0])["data"]["id"],
        json!(u3)
    );
    eventually!(
        "u3 recorded",
        (webhook(&app, &admin, &hook).await["delivered_through"] == json!(4)).then_some(())
    );
    assert_eq!(rx.count(), 2, "the old URL gets nothing more");

    // Replay from 1: events 2, 3 and 4 again, in order.
    let (s, r) = app
        .admin(
            &admin,
            Method::POST,
            &format!("webhooks/{hook}/replay"),
            Some(json!({"after": 1})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["from_sequence"], json!(2), "{r}");
    eventually!("the replay", (moved.count() == 4).then_some(()));
    let replayed: Vec<Value> = moved.received()[1..]
        .iter()
        .map(|r| verified(&secret, r))
        .collect();
    assert_eq!(seqs(&replayed), [2, 3, 4]);
    let feed_events = events_after(&app, &admin, 1).await;
    assert_eq!(replayed, feed_events, "the same events, the same ids");
    eventually!(
        "the replay recorded",
        (webhook(&app, &admin, &hook).await["delivered_through"] == json!(4)).then_some(())
    );

    // Retry of a delivered event sends it once more, now.
    let tried = deliveries(&app, &admin, &hook, "").await;
    let done = tried
        .iter()
        .find(|d| d["sequence"] == json!(4) && d["outcome"] == json!("succeeded"))
        .unwrap_or_else(|| panic!("no delivery of 4 in {tried:#?}"));
    let (s, r) = app
        .admin(
            &admin,
            Method::POST,
            &format!(
                "webhooks/{hook}/deliveries/{}/retry",
                done["id"].as_str().expect("a delivery id")
            ),
            None,
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["result"], json!("sent"), "{r}");
    assert_eq!(
        (
            &r["delivery"]["outcome"],
            &r["delivery"]["manual"],
            &r["delivery"]["sequence"]
        ),
        (&json!("succeeded"), &json!(true), &json!(4)),
        "{r}"
    );
    eventually!("the retry", (moved.count() == 5).then_some(()));
    let again = &moved.received()[4];
    assert_eq!(verified(&secret, again)["sequence"], json!(4));
    assert_eq!(
        again.header("webhook-id"),
        moved.received()[0].header("webhook-id"),
        "the same event id, so a receiver can drop the duplicate"
    );
    let (s, _) = app
        .admin(
            &admin,
            Method::POST,
            &format!("webhooks/{hook}/deliveries/dlv_nope/retry"),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // Deleted: gone with its deliveries.
    let (s, body) = app
        .admin(&admin, Method::DELETE, &format!("webhooks/{hook}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    for path in [
        format!("webhooks/{hook}"),
        format!("webhooks/{hook}/deliveries"),
    ] {
        let (s, body) = app.admin(&admin, Method::GET, &path, None).await;
        assert_eq!(s, 404, "{path}: {body}");
    }
    let (s, _) = app
        .admin(&admin, Method::DELETE, &format!("webhooks/{hook}"), None)
        .await;
    assert_eq!(s, 404);
    let (_, list) = app.admin(&admin, Method::GET, "webhooks", None).await;
    assert_eq!(list["webhooks"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["webhooks"][0]["id"], json!(witness_hook));
}

// ---------------------------------------------------------------------------------------
// 6b. A change to an endpoint reaches a delivery already under way.

async fn disabling_or_moving_an_endpoint_stops_its_catch_up_under_way(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let old = Receiver::start(0, Answer::Slow(250)).await;
    let (hook, secret) = add_webhook(&app, &admin, &old.url, json!(["*"])).await;
    // Disabled while it catches up on a backlog: it stops after the event in flight.
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    for i in 0..20 {
        create_user(&app, &format!("backlog{i}")).await;
    }
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    eventually!("the catch-up under way", (old.count() >= 2).then_some(()));
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    let at_disable = old.count();
    stays!(
        Duration::from_secs(2),
        format!(
            "a disabled endpoint was sent {} more events after the one in flight",
            old.count().saturating_sub(at_disable + 1)
        ),
        old.count() <= at_disable + 1
    );

    // Moved while it catches up: the old URL gets nothing past the event in flight, the new
    // one the rest, in order.
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    let resumed = old.count();
    eventually!(
        "the catch-up under way again",
        (old.count() >= resumed + 2).then_some(())
    );
    let moved = Receiver::start(0, Answer::Ok).await;
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"url": moved.url})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    let at_move = old.count();
    eventually!(
        "the rest delivered at the new URL",
        (webhook(&app, &admin, &hook).await["delivered_through"] == json!(20)).then_some(())
    );
    assert!(
        old.count() <= at_move + 1,
        "the old URL was sent {} more events after the one in flight",
        old.count().saturating_sub(at_move + 1)
    );
    let at_new: Vec<i64> = moved
        .received()
        .iter()
        .map(|r| verified(&secret, r)["sequence"].as_i64().expect("sequence"))
        .collect();
    assert!(!at_new.is_empty());
    assert!(
        at_new.windows(2).all(|w| w[0] < w[1]) && at_new.last() == Some(&20),
        "{at_new:?}"
    );
}

/// Whether `got` is `want` with at most one extra element somewhere (the event a delivery
/// had in flight when it was told to stop).
fn is_with_one_stray(got: &[i64], want: &[i64]) -> bool {
    got == want
        || (got.len() == want.len() + 1
            && (0..got.len()).any(|i| {
                let mut g = got.to_vec();
                g.remove(i);
                g == want
            }))
}

async fn a_replay_during_a_catch_up_sends_everything_again_in_order(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    // Slower than the delivery loop's look for due endpoints (every second), so this
    // replica leases the endpoint again while the old delivery still waits on its answer.
    let rx = Receiver::start(0, Answer::Slow(1500)).await;
    let (hook, secret) = add_webhook(&app, &admin, &rx.url, json!(["*"])).await;
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    for i in 0..5 {
        create_user(&app, &format!("replayed{i}")).await;
    }
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hook}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    eventually!("event 3 in flight", (rx.count() >= 3).then_some(()));
    let (s, r) = app
        .admin(
            &admin,
            Method::POST,
            &format!("webhooks/{hook}/replay"),
            Some(json!({"after": 0})),
        )
        .await;
    assert_eq!(s, 202, "{r}");
    let before = rx.count();
    let arrived = |from: usize| -> Vec<i64> {
        rx.received()[from..]
            .iter()
            .map(|r| verified(&secret, r)["sequence"].as_i64().expect("sequence"))
            .collect()
    };
    eventually!(
        format!(
            "the replay delivered; before it {:?}, since {:?}",
            arrived(0)[..before].to_vec(),
            arrived(before)
        ),
        (rx.count() >= before + 5
            && webhook(&app, &admin, &hook).await["delivered_through"] == json!(5))
        .then_some(())
    );
    let got = arrived(before);
    assert!(
        is_with_one_stray(&got, &[1, 2, 3, 4, 5]),
        "after the replay: {got:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 7. Failing endpoints.

async fn an_endpoint_failing_for_a_day_stops_until_brought_back(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    // Two that always fail (one comes back by PATCH, one by retry), one that works.
    let a = Receiver::start(0, Answer::Fail).await;
    let b = Receiver::start(0, Answer::Fail).await;
    let (ha, sa) = add_webhook(&app, &admin, &a.url, json!(["*"])).await;
    let (hb, sb) = add_webhook(&app, &admin, &b.url, json!(["*"])).await;
    let stuck = create_user(&app, "stuck").await;

    // Each step lets an attempt happen (both failures recorded), then three hours pass.
    let mut seen = (0usize, 0usize);
    for step in 0.. {
        let (wa, wb) = eventually!(format!("the attempts of step {step}"), {
            let wa = webhook(&app, &admin, &ha).await;
            let wb = webhook(&app, &admin, &hb).await;
            let (na, nb) = (a.count(), b.count());
            let recorded = |w: &Value, n: usize, before: usize| {
                w["attempts"] == json!(n) && (n > before || w["state"] == json!("failing"))
            };
            (recorded(&wa, na, seen.0) && recorded(&wb, nb, seen.1)).then_some((wa, wb))
        });
        if wa["state"] == json!("failing") && wb["state"] == json!("failing") {
            break;
        }
        assert!(step < 12, "still not failing after {step} steps: {wa} {wb}");
        seen = (a.count(), b.count());
        app.clock.advance(chrono::Duration::hours(3));
    }
    for (hook, rx) in [(&ha, &a), (&hb, &b)] {
        let w = webhook(&app, &admin, hook).await;
        assert_eq!(w["delivered_through"], json!(0), "{w}");
        assert!(
            w["last_error"].as_str().is_some_and(|e| e.contains("500")),
            "{w}"
        );
        let failed = deliveries(&app, &admin, hook, "?outcome=failed").await;
        assert_eq!(failed.len(), rx.count(), "every attempt is recorded");
        assert!(failed.iter().all(|d| d["sequence"] == json!(1)));
        // Marked failing once its head event had failed for 24 hours, not before.
        let since = chrono::DateTime::parse_from_rfc3339(
            w["failing_since"].as_str().expect("failing_since"),
        )
        .expect("a time");
        let times: Vec<_> = failed
            .iter()
            .map(|d| {
                chrono::DateTime::parse_from_rfc3339(d["at"].as_str().expect("at")).expect("a time")
            })
            .collect();
        let (first, last) = (times[0], times[times.len() - 1]);
        assert_eq!(first, since, "{w}");
        assert!(last - since >= chrono::Duration::hours(24), "{w}");
        assert!(
            times[times.len() - 2] - since < chrono::Duration::hours(24),
            "{w}"
        );
    }

    // Failing, nothing more is tried, however late it gets. A healthy endpoint receiving a
    // new event shows the delivery loop ran meanwhile.
    let counts = (a.count(), b.count());
    let good = Receiver::start(0, Answer::Ok).await;
    let (hg, _) = add_webhook(&app, &admin, &good.url, json!(["*"])).await;
    app.clock.advance(chrono::Duration::hours(5));
    create_user(&app, "later").await;
    eventually!("the healthy endpoint", (good.count() == 1).then_some(()));
    stays!(
        Duration::from_millis(2500),
        "a failing endpoint was tried again",
        (a.count(), b.count()) == counts
    );
    eventually!(
        "the healthy endpoint recorded",
        (webhook(&app, &admin, &hg).await["delivered_through"] == json!(2)).then_some(())
    );

    // The receivers are fixed. A: enabled again by PATCH.
    a.set(Answer::Ok);
    b.set(Answer::Ok);
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{ha}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(
        (&w["state"], &w["attempts"], &w["failing_since"]),
        (&json!("active"), &json!(0), &Value::Null),
        "{w}"
    );
    eventually!(
        "A resumed",
        (webhook(&app, &admin, &ha).await["delivered_through"] == json!(2)).then_some(())
    );
    // B: an admin's retry of its failed delivery.
    let failed = deliveries(&app, &admin, &hb, "?outcome=failed").await;
    let last_failed = failed.last().expect("failed deliveries");
    let (s, r) = app
        .admin(
            &admin,
            Method::POST,
            &format!(
                "webhooks/{hb}/deliveries/{}/retry",
                last_failed["id"].as_str().expect("an id")
            ),
            None,
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["result"], json!("scheduled"), "{r}");
    eventually!(
        "B resumed",
        (webhook(&app, &admin, &hb).await["delivered_through"] == json!(2)).then_some(())
    );
    for (rx, secret, hook) in [(&a, &sa, &ha), (&b, &sb, &hb)] {
        let ok: Vec<Value> = rx
            .received()
            .iter()
            .filter(|r| r.answered == 200)
            .map(|r| verified(secret, r))
            .collect();
        assert_eq!(seqs(&ok), [1, 2], "in order once back");
        assert_eq!(ok[0]["data"]["id"], json!(stuck));
        let w = webhook(&app, &admin, hook).await;
        assert_eq!(
            (&w["state"], &w["attempts"]),
            (&json!("active"), &json!(0)),
            "{w}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// 8. Retention.

async fn delivered_events_are_pruned_after_retention_undelivered_ones_kept(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let ok = Receiver::start(0, Answer::Ok).await;
    let (ha, _) = add_webhook(&app, &admin, &ok.url, json!(["*"])).await;
    for name in ["r1", "r2", "r3"] {
        create_user(&app, name).await;
    }
    eventually!(
        format!(
            "1..3 delivered: {} received, {}",
            ok.count(),
            webhook(&app, &admin, &ha).await
        ),
        (webhook(&app, &admin, &ha).await["delivered_through"] == json!(3)).then_some(())
    );
    // An endpoint made now, whose receiver fails: it has not received 4 and 5.
    let lagging = Receiver::start(0, Answer::Fail).await;
    let (hb, _) = add_webhook(&app, &admin, &lagging.url, json!(["*"])).await;
    for name in ["r4", "r5"] {
        create_user(&app, name).await;
    }
    eventually!(
        "4..5 delivered to the healthy endpoint, tried at the other",
        (webhook(&app, &admin, &ha).await["delivered_through"] == json!(5) && lagging.count() >= 1)
            .then_some(())
    );

    // A week and a day later.
    app.clock.advance(chrono::Duration::days(8));
    let pruned = app.engine.prune_events().await.expect("prune");
    assert_eq!(pruned, 3);
    let kept = events_after(&app, &admin, 0).await;
    assert_eq!(
        seqs(&kept),
        [4, 5],
        "the lagging endpoint's events are kept"
    );
    assert_eq!(last_sequence(&app, &admin).await, 5);
    assert_eq!(
        deliveries(&app, &admin, &ha, "").await,
        Vec::<Value>::new(),
        "old delivery records go too"
    );

    // Disabled, it holds nothing back; a longer retention keeps them a while yet.
    let (s, w) = app
        .admin(
            &admin,
            Method::PATCH,
            &format!("webhooks/{hb}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, 200, "{w}");
    patch_settings(&app, &admin, json!({"events_retention_days": 30})).await;
    assert_eq!(app.engine.prune_events().await.expect("prune"), 0);
    assert_eq!(seqs(&events_after(&app, &admin, 0).await), [4, 5]);
    patch_settings(&app, &admin, json!({"events_retention_days": 7})).await;
    assert_eq!(app.engine.prune_events().await.expect("prune"), 2);
    assert_eq!(events_after(&app, &admin, 0).await, Vec::<Value>::new());
    let p = feed(&app, &admin, "").await;
    assert_eq!(
        (&p["events"], &p["last_sequence"]),
        (&json!([]), &json!(5)),
        "{p}"
    );
    // Numbers go on from where they were.
    create_user(&app, "r6").await;
    assert_eq!(seqs(&events_after(&app, &admin, 0).await), [6]);
}

crate::on_both_backends!(
    every_event_type_arrives_signed_and_in_order,
    a_failed_event_is_retried_and_holds_later_events_back,
    a_receiver_that_never_answers_slows_no_request,
    an_unreachable_receiver_is_recorded_and_backed_off,
    the_feed_pages_filters_long_polls_and_checks_its_parameters,
    only_changes_that_commit_emit_events,
    endpoints_are_managed_replayed_and_retried,
    disabling_or_moving_an_endpoint_stops_its_catch_up_under_way,
    a_replay_during_a_catch_up_sends_everything_again_in_order,
    an_endpoint_failing_for_a_day_stops_until_brought_back,
    delivered_events_are_pruned_after_retention_undelivered_ones_kept,
);

// ---------------------------------------------------------------------------------------
// Without `--webhook-allow-private` (SQLite is enough: the check is before the store).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_and_plain_http_urls_are_refused_without_the_flag() {
    let app = spawn_app_configured(Backend::Sqlite, |c| c.webhook_allow_private = false).await;
    let admin = app.admin_token(Role::Admin).await;
    for url in [
        "http://hooks.example.com/x",
        "http://8.8.8.8/x",
        "https://127.0.0.1/x",
        "https://127.0.0.1:8443/hook",
        "https://localhost/x",
        "https://10.0.0.8/x",
        "https://192.168.1.20/x",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/x",
        "https://0.0.0.0/x",
        "https://[::1]/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://[fd00::1]/x",
    ] {
        let (s, body) = app
            .admin(
                &admin,
                Method::POST,
                "webhooks",
                Some(json!({"url": url, "events": ["*"]})),
            )
            .await;
        assert_eq!(s, 400, "{url}: {body}");
        assert_eq!(body["error"]["field"], json!("url"), "{url}: {body}");
    }
    // A public address is taken (a literal: nothing to resolve), and cannot be moved inside.
    let (hook, _) = add_webhook(&app, &admin, "https://8.8.8.8/hook", json!(["*"])).await;
    for url in ["https://127.0.0.1/x", "http://8.8.8.8/hook"] {
        let (s, body) = app
            .admin(
                &admin,
                Method::PATCH,
                &format!("webhooks/{hook}"),
                Some(json!({"url": url})),
            )
            .await;
        assert_eq!(s, 400, "{url}: {body}");
        assert_eq!(body["error"]["field"], json!("url"), "{url}: {body}");
    }
    assert_eq!(
        webhook(&app, &admin, &hook).await["url"],
        json!("https://8.8.8.8/hook")
    );
}
