//! Webhooks from two `roster serve` replicas on one PostgreSQL database: changes made on
//! both reach one endpoint once each, in sequence order (one replica at a time holds the
//! endpoint's lease).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::helpers::user;
use crate::replicas::{cluster, Cluster};

/// SCIM changes, spread over both replicas.
const CHANGES: usize = 500;
const CLIENTS: usize = 8;

/// Records `(webhook-id, sequence)` of every delivery in arrival order; answers 204.
async fn receiver(got: Arc<Mutex<Vec<(String, i64)>>>) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let got = got.clone();
        App::new().route(
            "/hook",
            web::post().to(move |req: HttpRequest, body: web::Json<Value>| {
                let got = got.clone();
                async move {
                    let id = req
                        .headers()
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let sequence = body["sequence"].as_i64().unwrap_or(-1);
                    got.lock().unwrap().push((id, sequence));
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

fn admin_url(c: &Cluster, n: usize, path: &str) -> String {
    format!("{}/{path}", c.on(n).replace("/scim/v2", "/admin/v1"))
}

/// The whole feed after `after`, read from replica `n`.
async fn feed(c: &Cluster, n: usize, after: i64) -> Vec<Value> {
    let mut events = vec![];
    let mut after = after;
    loop {
        let page: Value = c
            .client
            .get(admin_url(c, n, &format!("events?after={after}&limit=1000")))
            .bearer_auth(&c.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let got = page["events"].as_array().unwrap().clone();
        if got.is_empty() {
            return events;
        }
        after = page["next_after"].as_i64().unwrap();
        events.extend(got);
    }
}

/// Change `i` goes to replica `i % 2`; every other pair creates a user, the rest PATCH
/// the title of one created before (on either replica).
async fn send_changes(c: &Cluster) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let created = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = vec![];
    for _ in 0..CLIENTS {
        let (next, created) = (next.clone(), created.clone());
        let client = c.client.clone();
        let token = c.token.clone();
        let bases = [c.on(0).to_string(), c.on(1).to_string()];
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= CHANGES {
                    return;
                }
                let base = &bases[i % 2];
                let target = {
                    let created = created.lock().unwrap();
                    ((i / 2) % 2 == 1 && !created.is_empty())
                        .then(|| created[(i * 7919) % created.len()].clone())
                };
                let resp = match &target {
                    None => client
                        .post(format!("{base}/Users"))
                        .bearer_auth(&token)
                        .json(&user(&format!("e{i}")))
                        .send()
                        .await
                        .unwrap(),
                    Some(id) => client
                        .patch(format!("{base}/Users/{id}"))
                        .bearer_auth(&token)
                        .json(&json!({"Operations": [{"op": "replace", "path": "title", "value": format!("t{i}")}]}))
                        .send()
                        .await
                        .unwrap(),
                };
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                assert!((200..300).contains(&status), "change {i}: {status} {body}");
                if target.is_none() {
                    created
                        .lock()
                        .unwrap()
                        .push(body["id"].as_str().unwrap().to_string());
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_replicas_deliver_each_event_once_in_sequence_order() {
    let c = cluster().await;
    let got = Arc::new(Mutex::new(vec![]));
    let (url, handle) = receiver(got.clone()).await;
    let resp = c
        .client
        .post(admin_url(&c, 0, "webhooks"))
        .bearer_auth(&c.admin)
        .json(&json!({"url": url, "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let made: Value = resp.json().await.unwrap();
    let hook = made["id"].as_str().unwrap().to_string();
    let start = made["delivered_through"].as_i64().unwrap();

    let started = Instant::now();
    send_changes(&c).await;
    let sent = started.elapsed();

    // Done when the endpoint's cursor (seen from either replica) has reached the feed's last
    // event: nothing is left to send, so no copy can still be on its way.
    let deadline = Instant::now() + Duration::from_secs(60);
    let events = loop {
        let events = feed(&c, 1, start).await;
        let last = events
            .last()
            .map_or(start, |e| e["sequence"].as_i64().unwrap());
        let mut through = vec![];
        for n in 0..2 {
            let w: Value = c
                .client
                .get(admin_url(&c, n, &format!("webhooks/{hook}")))
                .bearer_auth(&c.admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            through.push(w["delivered_through"].as_i64().unwrap());
        }
        if through.iter().all(|t| *t >= last) && got.lock().unwrap().len() >= events.len() {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "after 60 s: delivered through {through:?} of {last}, {} deliveries received",
            got.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let delivered = started.elapsed();
    handle.stop(false).await;

    let got = got.lock().unwrap().clone();
    let want: Vec<(String, i64)> = events
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["sequence"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(
        want.len() >= CHANGES,
        "{} events for {CHANGES} changes",
        want.len()
    );
    let ids: std::collections::HashSet<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "an event arrived more than once");
    // Exactly the feed, in its order: every event once, sequences increasing.
    if let Some(k) = (0..got.len().max(want.len())).find(|&k| got.get(k) != want.get(k)) {
        let around = |v: &[(String, i64)]| -> Vec<i64> {
            v.iter()
                .skip(k.saturating_sub(3))
                .take(7)
                .map(|e| e.1)
                .collect()
        };
        panic!(
            "arrival {k} differs from the feed: sequences received {:?}, the feed {:?} \
             ({} received, {} in the feed)",
            around(&got),
            around(&want),
            got.len(),
            want.len()
        );
    }
    println!(
        "two replicas: {CHANGES} changes sent in {sent:.2?}, {} events ({}..={}), \
         all delivered once, in order, {delivered:.2?} after the first change",
        want.len(),
        start + 1,
        want.last().map_or(start, |w| w.1),
    );
}
