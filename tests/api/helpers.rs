//! `spawn_app_on`: a server on 127.0.0.1:0 with a fresh SQLite or PostgreSQL database and an
//! account with a token; `on_both_backends!`, which runs each scenario on both; request helpers.

use roster::config::Config;
use roster::engine::Engine;
use roster::startup::{self, Application};
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub engine: Engine,
    /// The server's clock: `app.clock.advance(chrono::Duration::days(31))` makes days pass.
    #[allow(dead_code)] // not every test binary build uses it
    pub clock: std::sync::Arc<roster::clock::ShiftedClock>,
    /// The test's own database, for checks made straight in SQL.
    pub database_url: String,
    _dir: tempfile::TempDir,
    /// A PostgreSQL database to drop when the test ends.
    pg_database: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests make their databases on (no database name).
pub fn postgres_server() -> String {
    std::env::var("ROSTER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh, empty database URL for the backend, and the PostgreSQL database name to drop.
pub fn fresh_database(backend: Backend, dir: &std::path::Path) -> (String, Option<String>) {
    match backend {
        Backend::Sqlite => (
            format!("sqlite://{}", dir.join("roster.db").display()),
            None,
        ),
        Backend::Postgres => {
            let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
            (format!("{}/{name}", postgres_server()), Some(name))
        }
    }
}

pub async fn spawn_app_on(backend: Backend) -> TestApp {
    spawn_app_configured(backend, |_| {}).await
}

/// [`spawn_app_on`] with the test's change to the server's configuration (e.g.
/// `webhook_allow_private: false`).
pub async fn spawn_app_configured(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_database) = fresh_database(backend, dir.path());
    let mut config = Config {
        database_url: url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        max_connections: 8,
        durable: false,
        workers: 2,
        statement_timeout_ms: 0,
        body_timeout: std::time::Duration::from_secs(roster::config::DEFAULT_BODY_TIMEOUT_SECS),
        // Far above any test's pace: only tests/api/ratelimit.rs is throttled.
        rate_limit_per_second: 1_000_000,
        trusted_proxies: vec![],
        webhook_allow_private: true,
    };
    configure(&mut config);
    let clock = std::sync::Arc::new(roster::clock::ShiftedClock::default());
    let engine = startup::engine_with_clock(&url, Some(&config), clock.clone())
        .await
        .unwrap();
    engine.ensure_account("acme").await.unwrap();
    let token = engine.create_token("acme", "test").await.unwrap();
    let app = Application::build(&config, engine.clone()).await.unwrap();
    let base = format!("http://127.0.0.1:{}/scim/v2", app.port());
    tokio::spawn(app.run());
    TestApp {
        base,
        token,
        client: reqwest::Client::new(),
        engine,
        clock,
        database_url: url,
        _dir: dir,
        pg_database,
    }
}

/// Drops a test's PostgreSQL database, from a thread of its own (Drop cannot await).
pub fn drop_postgres_database(name: &str) {
    let name = name.to_string();
    let handle = std::thread::spawn(move || {
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
    });
    let _ = handle.join();
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_database {
            drop_postgres_database(name);
        }
    }
}

/// Runs each named `async fn(TestApp)` once on SQLite and once on PostgreSQL, as
/// `<module>::sqlite::<name>` and `<module>::postgres::<name>`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app_on($crate::helpers::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::spawn_app_on($crate::helpers::Backend::Postgres).await).await
                }
            )*
        }
    };
}

impl TestApp {
    /// A token of another account of the same server.
    pub async fn other_account_token(&self, slug: &str) -> String {
        self.engine.ensure_account(slug).await.unwrap();
        self.engine.create_token(slug, "other").await.unwrap()
    }

    /// An admin API token of this app's account.
    pub async fn admin_token(&self, role: roster::auth::jwt::Role) -> String {
        self.engine
            .issue_admin_token("acme", role, 1)
            .await
            .unwrap()
    }

    /// Calls the admin API.
    pub async fn admin(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = self.base.replace(
            "/scim/v2",
            &format!("/admin/v1/{}", path.trim_start_matches('/')),
        );
        let mut r = self.client.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn req(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(
                method,
                format!("{}/{}", self.base, path.trim_start_matches('/')),
            )
            .bearer_auth(token)
            .header("Content-Type", "application/scim+json")
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let token = self.token.clone();
        self.send_as(&token, method, path, body).await
    }

    pub async fn send_as(
        &self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut r = self.req(method, path, token);
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }
}

pub fn user(name: &str) -> Value {
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "emails": [{"value": format!("{name}@example.com"), "type": "work", "primary": true}]
    })
}

/// A signed-in console session of this app's account: the `Cookie` header value to send and
/// the session's CSRF token (read from the page, as a browser's form would carry it).
pub struct ConsoleSession {
    pub cookie: String,
    pub csrf: String,
}

impl TestApp {
    /// The server's root URL (`http://127.0.0.1:PORT`).
    pub fn root(&self) -> String {
        self.base.trim_end_matches("/scim/v2").to_string()
    }

    /// Signs in to the console with a one-time link, as `roster console-link` makes them.
    pub async fn console(&self, role: roster::auth::jwt::Role) -> ConsoleSession {
        let secret = self.engine.console_link("acme", role).await.unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = client
            .get(format!("{}/console/link/{secret}", self.root()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        let cookie = resp
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_string();
        let page = client
            .get(format!("{}/console/", self.root()))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_string();
        ConsoleSession { cookie, csrf }
    }

    /// A console request with the session's cookie, redirects not followed.
    pub fn console_req(
        &self,
        s: &ConsoleSession,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .request(method, format!("{}{path}", self.root()))
            .header("Cookie", &s.cookie)
    }
}

/// Roster's user extension (a user's status and seats), and the `attributes` that ask for it:
/// it is returned only when asked for.
pub const ROSTER_USER: &str = "urn:roster:params:scim:schemas:extension:2.0:User";
pub const WITH_SEATS: &str =
    "attributes=userName,emails,active,urn:roster:params:scim:schemas:extension:2.0:User";

/// A pool of `seats` licenses of `product` that every user gets; the admin's token.
pub async fn seat_pool(app: &TestApp, product: &str, seats: i64) -> String {
    let admin = app.admin_token(roster::auth::jwt::Role::Admin).await;
    let (s, body) = app
        .admin(
            &admin,
            reqwest::Method::PUT,
            &format!("products/{product}"),
            Some(serde_json::json!({"seats": seats})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    patch_settings(
        app,
        &admin,
        serde_json::json!({"default_products": [product]}),
    )
    .await;
    admin
}

/// `PATCH /admin/v1/settings`, which must succeed; the settings after it.
pub async fn patch_settings(app: &TestApp, admin: &str, patch: Value) -> Value {
    let (s, body) = app
        .admin(admin, reqwest::Method::PATCH, "settings", Some(patch))
        .await;
    assert_eq!(s, 200, "{body}");
    body
}

/// A user created with its seats in the answer: its id and the answer.
pub async fn create_seated(app: &TestApp, name: &str) -> (String, Value) {
    let (s, u) = app
        .send(
            reqwest::Method::POST,
            &format!("Users?{WITH_SEATS}"),
            Some(user(name)),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    (u["id"].as_str().unwrap().to_string(), u)
}
