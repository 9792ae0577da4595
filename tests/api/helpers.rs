//! `spawn_app`: a server on 127.0.0.1:0 with its own database and an account with a token.

use roster::config::Config;
use roster::engine::Engine;
use roster::startup::{self, Application};
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub engine: Engine,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("roster.db").display());
    let config = Config {
        database_url: url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        max_connections: 4,
        durable: false,
        workers: 2,
    };
    let engine = startup::engine(&url, Some(&config)).await.unwrap();
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
        _dir: dir,
    }
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
