//! Two `roster serve` processes against one PostgreSQL database: what one replica does the
//! other sees at once, and the invariants hold across them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{drop_postgres_database, fresh_database, user, Backend};

struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `roster serve` on a free port and waits for the line that names it.
fn replica(database: &str) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "--database",
            database,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
            // The churn test's pace is far above the default per-connection limit.
            "--rate-limit",
            "100000",
            // The events test's webhook receiver is on loopback.
            "--webhook-allow-private",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("roster serve starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("serve printed its address")
            .expect("readable");
        if let Some(url) = line.strip_prefix("Roster is serving SCIM 2.0 at ") {
            break url.trim().to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Replica { child, base }
}

pub struct Cluster {
    a: Replica,
    b: Replica,
    pub token: String,
    pub admin: String,
    pub client: reqwest::Client,
    database: String,
    pub url: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The replicas go first (their fields drop after this), then the database.
        let _ = self.a.child.kill();
        let _ = self.b.child.kill();
        let _ = self.a.child.wait();
        let _ = self.b.child.wait();
        drop_postgres_database(&self.database);
    }
}

pub async fn cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let (url, name) = fresh_database(Backend::Postgres, dir.path());
    let engine = roster::startup::engine(&url, None).await.unwrap();
    engine.ensure_account("acme").await.unwrap();
    let token = engine.create_token("acme", "okta").await.unwrap();
    let admin = engine
        .issue_admin_token("acme", Role::Admin, 1)
        .await
        .unwrap();
    Cluster {
        a: replica(&url),
        b: replica(&url),
        token,
        admin,
        client: reqwest::Client::new(),
        database: name.unwrap(),
        url,
    }
}

impl Cluster {
    /// The SCIM base URL of replica A (even `n`) or B (odd `n`).
    pub fn on(&self, n: usize) -> &str {
        if n.is_multiple_of(2) {
            &self.a.base
        } else {
            &self.b.base
        }
    }

    async fn scim(
        &self,
        n: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
    ) -> (u16, Value) {
        let mut r = self
            .client
            .request(method, format!("{}/{path}", self.on(n)))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn admin(
        &self,
        n: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let base = self.on(n).replace("/scim/v2", "/admin/v1");
        let mut r = self
            .client
            .request(method, format!("{base}/{path}"))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_never_hold_more_seats_than_licenses() {
    let c = cluster().await;
    c.admin(
        0,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 10})),
    )
    .await;
    c.admin(
        1,
        Method::PATCH,
        "settings",
        Some(json!({"default_products": ["meeting"]})),
    )
    .await;
    let mut tasks = vec![];
    for i in 0..48 {
        let url = format!("{}/Users", c.on(i));
        let client = c.client.clone();
        let token = c.token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&user(&format!("r{i}")))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let (_, p) = c.admin(0, Method::GET, "products", None).await;
    assert_eq!(p["products"][0]["assigned"], json!(10), "{p}");
    assert_eq!(p["products"][0]["waitlisted"], json!(38), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_replicas_lose_no_concurrent_member_adds() {
    let c = cluster().await;
    let (s, g) = c
        .scim(
            0,
            Method::POST,
            "Groups",
            Some(json!({"displayName": "all"})),
            &c.token,
        )
        .await;
    assert_eq!(s, 201);
    let gid = g["id"].as_str().unwrap().to_string();
    let mut ids = vec![];
    for i in 0..30 {
        let (_, u) = c
            .scim(
                i,
                Method::POST,
                "Users",
                Some(user(&format!("m{i}"))),
                &c.token,
            )
            .await;
        ids.push(u["id"].as_str().unwrap().to_string());
    }
    let mut tasks = vec![];
    for (i, id) in ids.iter().enumerate() {
        let url = format!("{}/Groups/{gid}", c.on(i));
        let client = c.client.clone();
        let token = c.token.clone();
        let body =
            json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
        tasks.push(tokio::spawn(async move {
            client
                .patch(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 204);
    }
    let (_, g) = c
        .scim(1, Method::GET, &format!("Groups/{gid}"), None, &c.token)
        .await;
    assert_eq!(g["members"].as_array().unwrap().len(), 30, "{g}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_stale_if_match_is_412_on_either_replica() {
    let c = cluster().await;
    let (_, u) = c
        .scim(0, Method::POST, "Users", Some(user("e")), &c.token)
        .await;
    let path = format!("Users/{}", u["id"].as_str().unwrap());
    let patch =
        |title: &str| json!({"Operations": [{"op": "replace", "path": "title", "value": title}]});
    let send = |n: usize, etag: &'static str, body: Value| {
        let req = c
            .client
            .patch(format!("{}/{path}", c.on(n)))
            .bearer_auth(&c.token)
            .header("If-Match", etag)
            .json(&body);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(send(1, "W/\"1\"", patch("one")).await, 200);
    assert_eq!(send(0, "W/\"1\"", patch("two")).await, 412);
    assert_eq!(send(1, "W/\"1\"", patch("two")).await, 412);
    assert_eq!(send(0, "W/\"2\"", patch("two")).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_tokens_made_or_revoked_on_one_replica_count_on_the_other() {
    let c = cluster().await;
    let (s, made) = c
        .admin(
            0,
            Method::POST,
            "connections",
            Some(json!({"name": "entra"})),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    let (s, _) = c.scim(1, Method::GET, "Users", None, &token).await;
    assert_eq!(s, 200, "a token made on A works on B at once");
    let (s, _) = c.admin(1, Method::DELETE, "connections/entra", None).await;
    assert_eq!(s, 200);
    let (s, body) = c.scim(0, Method::GET, "Users", None, &token).await;
    assert_eq!(s, 401, "a token revoked on B fails on A at once: {body}");
    // The connection list shows it revoked, from either replica.
    let (_, list) = c.admin(0, Method::GET, "connections", None).await;
    assert!(list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == json!("entra") && t["status"] == json!("revoked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_schema_extension_registered_on_one_replica_counts_on_the_other() {
    let c = cluster().await;
    let urn = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
    // B builds the account's registry before the extension exists (and caches it).
    let mut body = user("before");
    body[urn] = json!({"costCenterCode": "R&D"});
    let (s, made) = c.scim(1, Method::POST, "Users", Some(body), &c.token).await;
    assert_eq!(s, 201, "{made}");
    assert!(made.get(urn).is_none(), "not registered yet: {made}");
    // Registered through A ...
    let schema = json!({"id": urn, "attributes": [{"name": "costCenterCode", "type": "string"}]});
    let (s, added) = c.admin(0, Method::POST, "schemas", Some(schema)).await;
    assert_eq!(s, 201, "{added}");
    // ... B takes the attribute, filters on it and lists the schema at once.
    let mut body = user("after");
    body[urn] = json!({"costCenterCode": "R&D"});
    let (s, made) = c.scim(1, Method::POST, "Users", Some(body), &c.token).await;
    assert_eq!(s, 201, "{made}");
    assert_eq!(made[urn]["costCenterCode"], json!("R&D"), "{made}");
    let filter = format!("{urn}:costCenterCode eq \"r&d\"");
    let (s, found) = c
        .client
        .get(format!("{}/Users", c.on(1)))
        .bearer_auth(&c.token)
        .query(&[("filter", filter.as_str())])
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 200);
    let found: Value = found.json().await.unwrap();
    assert_eq!(found["totalResults"], json!(1), "{found}");
    let (_, schemas) = c.scim(1, Method::GET, "Schemas", None, &c.token).await;
    assert!(schemas.to_string().contains(urn));
    // Removed through B: A stops returning it at once.
    let (s, _) = c
        .admin(1, Method::DELETE, &format!("schemas/{urn}"), None)
        .await;
    assert_eq!(s, 200);
    let id = made["id"].as_str().unwrap();
    let (_, got) = c
        .scim(0, Method::GET, &format!("Users/{id}"), None, &c.token)
        .await;
    assert!(got.get(urn).is_none(), "{got}");
}
