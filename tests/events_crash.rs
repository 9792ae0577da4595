//! Webhooks survive a crash: `roster serve` is killed (SIGKILL) in the middle of a burst of
//! SCIM changes and started again on the same database; every change it acknowledged, and
//! every event of the feed, still reaches the receiver, at least once, and only the events
//! in flight at the kill arrive twice. On SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

/// SCIM changes in the burst.
const CHANGES: usize = 1000;
/// Acknowledged changes after which the server is killed.
const KILL_AFTER: usize = 300;
/// Clients sending the burst at once.
const CLIENTS: usize = 8;
/// How long the restarted server has to deliver everything: the dead process's 30 s lease
/// must run out first.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(90);

/// A database of this test's own, removed when it ends (after the servers, declared later).
struct Database {
    url: String,
    /// The PostgreSQL database to drop.
    postgres: Option<String>,
    _dir: tempfile::TempDir,
}

fn postgres_server() -> String {
    std::env::var("ROSTER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

impl Database {
    fn fresh(postgres: bool) -> Database {
        let dir = tempfile::tempdir().unwrap();
        if postgres {
            // `roster serve` creates it.
            let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
            Database {
                url: format!("{}/{name}", postgres_server()),
                postgres: Some(name),
                _dir: dir,
            }
        } else {
            Database {
                url: format!("sqlite://{}", dir.path().join("roster.db").display()),
                postgres: None,
                _dir: dir,
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let Some(name) = self.postgres.clone() else {
            return;
        };
        // Drop cannot await: a runtime of its own, on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                let url = format!("{}/postgres", postgres_server());
                if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A `roster serve` process, killed when dropped (also when the test fails).
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    origin: String,
    /// The default account's SCIM token, printed on the first start only.
    first_token: Option<String>,
    /// What it wrote on stderr, for a failure's message.
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(database: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
            .args([
                "--database",
                database,
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--workers",
                "2",
                "--rate-limit",
                "100000",
                "--webhook-allow-private",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("roster serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut first_token = None;
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!(
                    "serve ended before naming its address:\n{}",
                    log.lock().unwrap()
                );
            };
            if first_token.is_none() && line.starts_with("    ") {
                first_token = Some(line.trim().to_string());
            }
            if let Some(url) = line.strip_prefix("Roster is serving SCIM 2.0 at ") {
                break url.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            origin: url.trim_end_matches("/scim/v2").to_string(),
            first_token,
            log,
        }
    }

    /// SIGKILL, and waits until the process is gone (nothing it sent can arrive later).
    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn log_tail(&self) -> String {
        let log = self.log.lock().unwrap();
        let start = log.len().saturating_sub(4000);
        log.get(start..).unwrap_or_default().to_string()
    }
}

fn admin_token(database: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "--database",
            database,
            "admin-token",
            "create",
            "--account",
            "default",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

/// One delivery as the receiver got it.
struct Delivery {
    id: String,
    body: Value,
    /// Whether `webhook-signature` is the body's, signed with the endpoint's secret.
    signed: bool,
}

/// A webhook receiver on loopback: records every delivery, answers 204.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Delivery>>>,
    secret: Arc<Mutex<String>>,
}

impl Receiver {
    /// Serves at `http://127.0.0.1:PORT/hook`; returns that URL.
    fn start(&self) -> (String, actix_web::dev::ServerHandle) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let me = self.clone();
        let server = HttpServer::new(move || {
            let me = me.clone();
            App::new().route(
                "/hook",
                web::post().to(move |req: HttpRequest, body: web::Bytes| {
                    let me = me.clone();
                    async move {
                        me.record(&req, &body);
                        HttpResponse::NoContent().finish()
                    }
                }),
            )
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        (format!("http://127.0.0.1:{port}/hook"), handle)
    }

    fn record(&self, req: &HttpRequest, body: &[u8]) {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let id = header("webhook-id");
        let text = String::from_utf8_lossy(body).into_owned();
        let signed = header("webhook-timestamp")
            .parse::<i64>()
            .map(|ts| {
                let secret = self.secret.lock().unwrap().clone();
                roster::engine::events::deliver::sign(&secret, &id, ts, &text)
                    == header("webhook-signature")
            })
            .unwrap_or(false);
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        self.got.lock().unwrap().push(Delivery { id, body, signed });
    }

    fn len(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// The burst's shared state: which changes are claimed and which were acknowledged.
#[derive(Default)]
struct Burst {
    next: AtomicUsize,
    acknowledged: AtomicUsize,
    /// Ids of acknowledged creates.
    created: Mutex<Vec<String>>,
    /// `(user id, title)` of acknowledged PATCHes.
    patched: Mutex<Vec<(String, String)>>,
    /// Answers that were neither 2xx nor a broken connection.
    refused: Mutex<Vec<u16>>,
}

/// Sends changes until the burst is done or the server goes away (the first broken
/// connection ends this client). Even changes create a user, odd ones PATCH the title of
/// one created before.
async fn client(origin: String, token: String, burst: Arc<Burst>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    loop {
        let i = burst.next.fetch_add(1, Ordering::SeqCst);
        if i >= CHANGES {
            return;
        }
        let target = {
            let created = burst.created.lock().unwrap();
            (i % 2 == 1 && !created.is_empty()).then(|| created[(i * 7919) % created.len()].clone())
        };
        let sent = match &target {
            None => {
                let name = format!("u{i}");
                http.post(format!("{origin}/scim/v2/Users"))
                    .bearer_auth(&token)
                    .json(&json!({
                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                        "userName": name,
                        "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}]
                    }))
                    .send()
                    .await
            }
            Some(id) => {
                http.patch(format!("{origin}/scim/v2/Users/{id}"))
                    .bearer_auth(&token)
                    .json(&json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "title", "value": format!("t{i}")}]
                    }))
                    .send()
                    .await
            }
        };
        let Ok(resp) = sent else { return };
        let status = resp.status();
        // A 2xx counts only once its body has arrived whole.
        let Ok(body) = resp.json::<Value>().await else {
            if !status.is_success() {
                burst.refused.lock().unwrap().push(status.as_u16());
                continue;
            }
            return;
        };
        if !status.is_success() {
            burst.refused.lock().unwrap().push(status.as_u16());
            continue;
        }
        match target {
            None => burst
                .created
                .lock()
                .unwrap()
                .push(body["id"].as_str().unwrap().to_string()),
            Some(id) => burst.patched.lock().unwrap().push((id, format!("t{i}"))),
        }
        burst.acknowledged.fetch_add(1, Ordering::SeqCst);
    }
}

/// The whole feed after `after`, page by page.
async fn feed(http: &reqwest::Client, origin: &str, admin: &str, after: i64) -> (Vec<Value>, i64) {
    let mut events = vec![];
    let mut after = after;
    loop {
        let page: Value = http
            .get(format!("{origin}/admin/v1/events?after={after}&limit=1000"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let got = page["events"].as_array().unwrap().clone();
        if got.is_empty() {
            return (events, page["last_sequence"].as_i64().unwrap());
        }
        after = page["next_after"].as_i64().unwrap();
        events.extend(got);
    }
}

/// What is still missing at the receiver: feed events, acknowledged creates and PATCHes.
fn missing(receiver: &Receiver, feed: &[Value], burst: &Burst) -> Vec<String> {
    let got = receiver.got.lock().unwrap();
    let ids: HashSet<&str> = got.iter().map(|d| d.id.as_str()).collect();
    let mut out: Vec<String> = feed
        .iter()
        .filter(|e| !ids.contains(e["id"].as_str().unwrap()))
        .map(|e| format!("event {} ({})", e["sequence"], e["type"]))
        .collect();
    let created: HashSet<&str> = got
        .iter()
        .filter(|d| d.body["type"] == json!("user.created"))
        .filter_map(|d| d.body["data"]["id"].as_str())
        .collect();
    let updated: HashSet<(&str, &str)> = got
        .iter()
        .filter(|d| d.body["type"] == json!("user.updated"))
        .filter_map(|d| {
            Some((
                d.body["data"]["id"].as_str()?,
                d.body["data"]["title"].as_str()?,
            ))
        })
        .collect();
    for id in burst.created.lock().unwrap().iter() {
        if !created.contains(id.as_str()) {
            out.push(format!("user.created of {id}"));
        }
    }
    for (id, title) in burst.patched.lock().unwrap().iter() {
        if !updated.contains(&(id.as_str(), title.as_str())) {
            out.push(format!("user.updated of {id} to {title}"));
        }
    }
    out
}

async fn killed_mid_burst_delivers_everything(postgres: bool) {
    let backend = if postgres { "postgres" } else { "sqlite" };
    let db = Database::fresh(postgres);
    let mut first = Server::start(&db.url);
    let token = first.first_token.clone().expect("the first start's token");
    let admin = admin_token(&db.url);
    let http = reqwest::Client::new();

    let receiver = Receiver::default();
    let (hook_url, receiver_handle) = receiver.start();
    let made: Value = http
        .post(format!("{}/admin/v1/webhooks", first.origin))
        .bearer_auth(&admin)
        .json(&json!({"url": hook_url, "events": ["*"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    *receiver.secret.lock().unwrap() = made["secret"].as_str().expect("a secret").to_string();
    let start_cursor = made["delivered_through"].as_i64().unwrap();

    // The burst, killed once KILL_AFTER changes have been acknowledged.
    let burst = Arc::new(Burst::default());
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(client(first.origin.clone(), token.clone(), burst.clone())))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while burst.acknowledged.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(
            Instant::now() < deadline,
            "{backend}: only {} changes acknowledged in 60 s\n{}",
            burst.acknowledged.load(Ordering::SeqCst),
            first.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first.kill9();
    let acknowledged_at_kill = burst.acknowledged.load(Ordering::SeqCst);
    let claimed_at_kill = burst.next.load(Ordering::SeqCst).min(CHANGES);
    // Everything the dead process delivered has arrived: it is gone.
    let received_at_kill = receiver.len();
    let max_sequence_at_kill = receiver
        .got
        .lock()
        .unwrap()
        .iter()
        .filter_map(|d| d.body["sequence"].as_i64())
        .max()
        .unwrap_or(start_cursor);
    for c in clients {
        c.await.unwrap();
    }
    let acknowledged_by_first = burst.acknowledged.load(Ordering::SeqCst);
    let burst_first_part = started.elapsed();

    // Started again on the same database: the burst goes on until all changes are sent.
    let second = Server::start(&db.url);
    assert!(second.first_token.is_none(), "a second first start");
    let restarted = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(client(second.origin.clone(), token.clone(), burst.clone())))
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    let burst_done = restarted.elapsed();

    // Everything reaches the receiver, within the deadline (the dead lease runs out first).
    let deadline = restarted + DELIVERY_DEADLINE;
    let (events, last_sequence) = loop {
        let (events, last) = feed(&http, &second.origin, &admin, start_cursor).await;
        let still = missing(&receiver, &events, &burst);
        if still.is_empty() {
            break (events, last);
        }
        assert!(
            Instant::now() < deadline,
            "{backend}: {} still not delivered {:?} after the restart, e.g. {:?}\nwebhook: {}\nserver log:\n{}",
            still.len(),
            DELIVERY_DEADLINE,
            &still[..still.len().min(10)],
            http.get(format!("{}/admin/v1/webhooks", second.origin))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
            second.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let delivered_after = restarted.elapsed();
    receiver_handle.stop(false).await;

    // The feed has no gap: sequences after the endpoint's start, one each, up to the last.
    let sequences: Vec<i64> = events
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    let expected: Vec<i64> = (start_cursor + 1..=last_sequence).collect();
    assert_eq!(sequences, expected, "{backend}: the feed has a gap");

    let got = receiver.got.lock().unwrap();
    assert!(
        got.iter().all(|d| d.signed),
        "{backend}: a delivery whose signature is not its body's"
    );
    let feed_ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert!(
        got.iter().all(|d| feed_ids.contains(d.id.as_str())),
        "{backend}: a delivery of an event the feed does not have"
    );
    // Duplicates: only events the dead process had sent just before it died, whose cursor
    // had not moved yet: successes are recorded in batches of at most 100 (or 250 ms), so
    // at most the last 100.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for d in got.iter() {
        *seen.entry(d.id.as_str()).or_default() += 1;
    }
    let mut duplicates: Vec<(i64, usize)> = vec![];
    for (id, n) in &seen {
        if *n < 2 {
            continue;
        }
        let first_at = got.iter().position(|d| d.id == *id).unwrap();
        let sequence = got[first_at].body["sequence"].as_i64().unwrap();
        duplicates.push((sequence, *n));
        assert!(
            first_at < received_at_kill && sequence > max_sequence_at_kill - 100,
            "{backend}: event {sequence} arrived {n} times, not around the kill \
             (the last sequence received before it was {max_sequence_at_kill})"
        );
        assert_eq!(*n, 2, "{backend}: event {sequence} arrived {n} times");
    }
    duplicates.sort_unstable();
    let refused = burst.refused.lock().unwrap().clone();
    println!(
        "{backend}: acknowledged {acknowledged_at_kill} of {claimed_at_kill} claimed at the kill \
         ({acknowledged_by_first} by the first process, {:.2?} into the burst); \
         {received_at_kill} deliveries received before the kill (up to sequence {max_sequence_at_kill}); \
         after the restart the burst finished in {burst_done:.2?}; \
         acknowledged in all {} creates + {} PATCHes = {}, non-2xx answers {:?}; \
         feed {} events ({}..={last_sequence}); deliveries {} of {} distinct events; \
         duplicates (sequence, copies) {duplicates:?}; \
         everything delivered {delivered_after:.2?} after the restart",
        burst_first_part,
        burst.created.lock().unwrap().len(),
        burst.patched.lock().unwrap().len(),
        burst.acknowledged.load(Ordering::SeqCst),
        refused,
        events.len(),
        start_cursor + 1,
        got.len(),
        seen.len(),
    );
    assert!(
        seen.len() == events.len(),
        "{backend}: {} distinct events delivered, the feed has {}",
        seen.len(),
        events.len()
    );
    // In sequence order from each process; the second starts again after the last event the
    // first recorded (successes are recorded in batches of at most 100, or every 250 ms), so at
    // most 100 before the event after the last one the first sent.
    let arrivals: Vec<i64> = got
        .iter()
        .map(|d| d.body["sequence"].as_i64().unwrap())
        .collect();
    let (before, after) = arrivals.split_at(received_at_kill);
    for (who, part) in [("the first process", before), ("the second", after)] {
        if let Some(w) = part.windows(2).find(|w| w[1] <= w[0]) {
            panic!("{backend}: {who} sent {} after {}", w[1], w[0]);
        }
    }
    if let Some(resumed) = after.first() {
        assert!(
            *resumed > max_sequence_at_kill - 100 && *resumed <= max_sequence_at_kill + 1,
            "{backend}: the restarted server began at {resumed}, the first had sent up to \
             {max_sequence_at_kill}"
        );
    }
    drop(got);
    drop(second);
    drop(first);
    drop(db);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_server_killed_mid_burst_delivers_every_event_after_restart() {
    killed_mid_burst_delivers_everything(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_server_killed_mid_burst_delivers_every_event_after_restart() {
    killed_mid_burst_delivers_everything(true).await
}
