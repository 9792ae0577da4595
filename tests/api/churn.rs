//! Seat accounting under churn: many tasks (and, on PostgreSQL, two replicas) suspend and
//! reactivate the same users, move them in and out of a group a rule names, transfer them,
//! delete and re-create them, change licenses and rules, all at once. Afterwards every pool
//! counter must equal its seat rows, no seat may be free while someone waits, and no
//! suspended or deleted user may hold a seat. Creating users alone never exercises the
//! paths that free and hand on seats; this does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};
use sqlx::Row;
use tokio::sync::Mutex;

use crate::helpers::{user, TestApp};

/// One server (or two replicas) under churn.
#[derive(Clone)]
struct Target {
    /// SCIM base URLs, `.../scim/v2`; requests alternate between them.
    bases: Vec<String>,
    token: String,
    admin: String,
    client: reqwest::Client,
}

impl Target {
    fn base(&self, n: usize) -> &str {
        &self.bases[n % self.bases.len()]
    }

    async fn call(
        &self,
        method: Method,
        url: String,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.client.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn scim(
        &self,
        n: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}/{path}", self.base(n));
        self.call(method, url, &self.token, body).await
    }

    async fn admin(
        &self,
        n: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}/{path}", self.base(n).replace("/scim/v2", "/admin/v1"));
        self.call(method, url, &self.admin, body).await
    }
}

const USERS: usize = 120;

/// What went wrong during the churn: answers no client should ever get.
#[derive(Default)]
struct Trouble {
    lines: Vec<String>,
}

async fn churn(t: Target, database_url: &str, tasks: usize, run_for: Duration) {
    // Pools: meeting for everyone (fewer seats than users, so a waitlist forms), webinar
    // for the members of a group, training for users whose title is "lead".
    for (product, seats) in [("meeting", 50), ("webinar", 20), ("training", 10)] {
        let (s, b) = t
            .admin(
                0,
                Method::PUT,
                &format!("products/{product}"),
                Some(json!({ "seats": seats })),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, b) = t
        .admin(
            1,
            Method::PATCH,
            "settings",
            Some(json!({"default_products": ["meeting"]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, g) = t
        .scim(
            0,
            Method::POST,
            "Groups",
            Some(json!({"displayName": "webinar-hosts"})),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let group = g["id"].as_str().unwrap().to_string();
    let (s, b) = t
        .admin(
            1,
            Method::POST,
            "rules",
            Some(json!({"product": "webinar", "group": group})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let mut ids = vec![];
    for i in 0..USERS {
        let (s, u) = t
            .scim(i, Method::POST, "Users", Some(user(&format!("c{i}"))))
            .await;
        assert_eq!(s, 201, "{u}");
        ids.push(u["id"].as_str().unwrap().to_string());
    }
    let ids = Arc::new(Mutex::new(ids));
    let trouble = Arc::new(Mutex::new(Trouble::default()));
    let deadline = Instant::now() + run_for;
    let mut handles = vec![];
    for task in 0..tasks {
        let t = t.clone();
        let ids = ids.clone();
        let trouble = trouble.clone();
        let group = group.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(task as u64 + 1);
            let mut n = task;
            let mut done = 0u32;
            while Instant::now() < deadline {
                n += 1;
                let slot = rng.gen_range(0..USERS);
                let id = ids.lock().await[slot].clone();
                let (what, (status, body)) = match rng.gen_range(0..12) {
                    0..=2 => {
                        let active = rng.gen_bool(0.5);
                        let body = json!({"Operations": [{"op": "replace", "path": "active", "value": active}]});
                        ("patch active", t.scim(n, Method::PATCH, &format!("Users/{id}"), Some(body)).await)
                    }
                    3 => {
                        let verb = if rng.gen_bool(0.5) { "suspend" } else { "reactivate" };
                        ("admin suspend/reactivate", t.admin(n, Method::POST, &format!("users/{id}/{verb}"), None).await)
                    }
                    4 | 5 => {
                        let op = if rng.gen_bool(0.5) { "add" } else { "remove" };
                        let body = json!({"Operations": [{"op": op, "path": "members", "value": [{"value": id}]}]});
                        ("group member", t.scim(n, Method::PATCH, &format!("Groups/{group}"), Some(body)).await)
                    }
                    6 => {
                        let seats = rng.gen_range(40..=60);
                        ("licenses", t.admin(n, Method::PUT, "products/meeting", Some(json!({ "seats": seats }))).await)
                    }
                    7 => {
                        let title = if rng.gen_bool(0.5) { "lead" } else { "member" };
                        let body = json!({"Operations": [{"op": "replace", "path": "title", "value": title}]});
                        ("patch title", t.scim(n, Method::PATCH, &format!("Users/{id}"), Some(body)).await)
                    }
                    8 => {
                        let email = format!("moved{task}x{n}@example.com");
                        let r = t
                            .admin(n, Method::POST, &format!("users/{id}/transfer"), Some(json!({"email": email, "retain_data": false})))
                            .await;
                        if r.0 == 200 {
                            if let Some(to) = r.1["to"]["id"].as_str() {
                                ids.lock().await[slot] = to.to_string();
                            }
                        }
                        ("transfer", r)
                    }
                    9 => {
                        let (s, b) = t.scim(n, Method::DELETE, &format!("Users/{id}"), None).await;
                        if s == 204 {
                            let name = format!("c{slot}r{task}x{n}");
                            let (s2, u) = t.scim(n, Method::POST, "Users", Some(user(&name))).await;
                            if s2 == 201 {
                                if let Some(new_id) = u["id"].as_str() {
                                    ids.lock().await[slot] = new_id.to_string();
                                }
                            }
                            ("re-create", (s2, u))
                        } else {
                            ("delete", (s, b))
                        }
                    }
                    _ => {
                        let (s, rule) = t
                            .admin(n, Method::POST, "rules", Some(json!({"product": "training", "filter": "title eq \"lead\""})))
                            .await;
                        if s == 201 {
                            let rid = rule["id"].as_str().unwrap_or_default().to_string();
                            ("rule delete", t.admin(n, Method::DELETE, &format!("rules/{rid}"), None).await)
                        } else {
                            ("rule add", (s, rule))
                        }
                    }
                };
                done += 1;
                // 5xx is never an answer; nor 412, since no request sent If-Match.
                if status >= 500 || status == 412 {
                    trouble.lock().await.lines.push(format!("{what}: {status} {body}"));
                }
            }
            done
        }));
    }
    let mut requests = 0;
    for h in handles {
        requests += h.await.unwrap();
    }
    let trouble = trouble.lock().await;
    let (wrong, report) = check_seats(database_url).await;
    // Shown with --nocapture: how much churn ran, and where the pools ended.
    eprintln!(
        "churn: {requests} requests from {tasks} tasks on {} server(s) in {run_for:?}; {report:?}",
        t.bases.len()
    );
    assert!(
        trouble.lines.is_empty() && wrong.is_empty(),
        "{} of {requests} requests failed: {:#?}\nseats: {wrong:#?}\n{report:#?}",
        trouble.lines.len(),
        &trouble.lines[..trouble.lines.len().min(20)]
    );
    assert!(requests > 50, "the churn ran only {requests} requests");
}

/// Every counter against the rows, straight in SQL: what is wrong, and what was found.
async fn check_seats(database_url: &str) -> (Vec<String>, Vec<String>) {
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(database_url).await.unwrap();
    let pools = sqlx::query(
        "SELECT p.name, p.capacity, p.assigned, \
         (SELECT COUNT(*) FROM seats s WHERE s.account_id = p.account_id AND s.product = p.name AND s.state = 'assigned'), \
         (SELECT COUNT(*) FROM seats s WHERE s.account_id = p.account_id AND s.product = p.name AND s.state = 'waitlisted') \
         FROM products p ORDER BY p.name",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    let mut report = vec![];
    let mut wrong = vec![];
    for r in &pools {
        let (name, capacity, assigned, rows, waiting): (String, i64, i64, i64, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        report.push(format!(
            "{name}: capacity {capacity}, counter {assigned}, assigned rows {rows}, waitlisted {waiting}"
        ));
        if assigned != rows {
            wrong.push(format!(
                "{name}: the counter says {assigned}, {rows} rows are assigned"
            ));
        }
        if waiting > 0 && assigned < capacity {
            wrong.push(format!(
                "{name}: {} seats free while {waiting} wait",
                capacity - assigned
            ));
        }
    }
    let orphans: i64 = sqlx::query(
        "SELECT COUNT(*) FROM seats s WHERE NOT EXISTS \
         (SELECT 1 FROM users u WHERE u.account_id = s.account_id AND u.id = s.user_id AND u.active = 1)",
    )
    .fetch_one(&db)
    .await
    .unwrap()
    .get(0);
    if orphans > 0 {
        wrong.push(format!(
            "{orphans} seats held by suspended or deleted users"
        ));
    }
    db.close().await;
    (wrong, report)
}

async fn churn_keeps_every_counter_true(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let t = Target {
        bases: vec![app.base.clone()],
        token: app.token.clone(),
        admin,
        client: reqwest::Client::new(),
    };
    churn(t, &app.database_url, 12, Duration::from_secs(8)).await;
}

crate::on_both_backends!(churn_keeps_every_counter_true);

/// Two replicas on one PostgreSQL database, churning for 20 seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_replicas_churning_seats_stay_consistent() {
    let c = crate::replicas::cluster().await;
    let t = Target {
        bases: vec![c.on(0).to_string(), c.on(1).to_string()],
        token: c.token.clone(),
        admin: c.admin.clone(),
        client: c.client.clone(),
    };
    churn(t, &c.url, 16, Duration::from_secs(20)).await;
}
