//! What a hostile or sloppy client sends: preconditions that name no version, admin query
//! strings that do not fit, bodies of the wrong media type, bodies that stall, and query
//! strings that must not reach the logs.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use roster::auth::jwt::Role;
use roster::config::Config;
use roster::startup::{self, Application};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{drop_postgres_database, fresh_database, user, Backend, TestApp};

crate::on_both_backends!(
    if_match_that_names_no_current_version_refuses_every_write,
    if_match_star_and_lists_match_the_current_version,
    if_none_match_on_get_still_answers_304,
    admin_query_and_endpoint_errors_are_json,
    scim_writes_refuse_a_foreign_content_type,
);

/// Sends a request with optional extra headers and a body, as the client wrote it.
async fn send_with(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut r = app.req(method, path, &app.token);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r.body(b.to_string());
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, json, headers)
}

async fn create(app: &TestApp, endpoint: &str, body: Value) -> String {
    let (s, created) = app.send(Method::POST, endpoint, Some(body)).await;
    assert_eq!(s, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn group(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
    })
}

/// A PUT body that changes the resource, so a write that went through would show.
fn replacement(endpoint: &str, name: &str) -> Value {
    match endpoint {
        "Users" => user(name),
        _ => group(name),
    }
}

/// A PATCH that renames (`displayName` is on both users and groups).
fn rename_patch(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": name}]
    })
}

async fn version_and_name(app: &TestApp, endpoint: &str, id: &str) -> (Value, Value) {
    let (s, doc) = app
        .send(Method::GET, &format!("{endpoint}/{id}"), None)
        .await;
    assert_eq!(s, 200, "{doc}");
    let name = if endpoint == "Users" {
        doc["userName"].clone()
    } else {
        doc["displayName"].clone()
    };
    (doc["meta"]["version"].clone(), name)
}

async fn if_match_that_names_no_current_version_refuses_every_write(app: TestApp) {
    for (endpoint, original) in [("Users", user("hm.ann")), ("Groups", group("hm-team"))] {
        let id = create(&app, endpoint, original).await;
        let path = format!("{endpoint}/{id}");
        let before = version_and_name(&app, endpoint, &id).await;
        assert_eq!(before.0, json!("W/\"1\""), "versions start at 1");
        // Garbage, a quoted string that is no version, a list of versions that are not the
        // current one, versions that can never exist, and `*` inside a list.
        let unmatchable = [
            "\"abc\"",
            "garbage",
            "W/\"2\", W/\"3\"",
            "W/\"0\"",
            "\"-1\"",
            "W/\"+1\"",
            "W/\"1\" junk",
            "*, W/\"1\"",
            "",
        ];
        for header in unmatchable {
            let (s, body, _) = send_with(
                &app,
                Method::PUT,
                &path,
                &[("If-Match", header)],
                Some(replacement(endpoint, "hm-replaced")),
            )
            .await;
            assert_eq!(s, 412, "PUT {endpoint} If-Match {header:?}: {body}");
            assert_eq!(body["status"], json!("412"), "{body}");
            let (s, body, _) = send_with(
                &app,
                Method::PATCH,
                &path,
                &[("If-Match", header)],
                Some(rename_patch("hm-patched")),
            )
            .await;
            assert_eq!(s, 412, "PATCH {endpoint} If-Match {header:?}: {body}");
            let (s, body, _) =
                send_with(&app, Method::DELETE, &path, &[("If-Match", header)], None).await;
            assert_eq!(s, 412, "DELETE {endpoint} If-Match {header:?}: {body}");
            assert_eq!(
                version_and_name(&app, endpoint, &id).await,
                before,
                "If-Match {header:?} wrote to the {endpoint} resource"
            );
        }
        // A header sent twice is one list: neither line names the current version.
        let r = app
            .req(Method::DELETE, &path, &app.token)
            .header("If-Match", "W/\"5\"")
            .header("If-Match", "W/\"6\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 412);
        assert_eq!(version_and_name(&app, endpoint, &id).await, before);
    }
}

async fn if_match_star_and_lists_match_the_current_version(app: TestApp) {
    for (endpoint, original) in [("Users", user("ok.ann")), ("Groups", group("ok-team"))] {
        let id = create(&app, endpoint, original).await;
        let path = format!("{endpoint}/{id}");
        // `*`: any current representation.
        let (s, body, h) = send_with(
            &app,
            Method::PUT,
            &path,
            &[("If-Match", "*")],
            Some(replacement(endpoint, "ok-put")),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(h["etag"], "W/\"2\"");
        // A list matches when any of its tags is the current version, weak or strong.
        let (s, body, h) = send_with(
            &app,
            Method::PATCH,
            &path,
            &[("If-Match", "W/\"7\", \"2\" ,W/\"9\"")],
            Some(rename_patch("ok-patched")),
        )
        .await;
        assert!(s == 200 || s == 204, "{s} {body}");
        assert_eq!(h["etag"], "W/\"3\"");
        // A list of one, and a second header line carrying the current version.
        let (s, body, h) = send_with(
            &app,
            Method::PUT,
            &path,
            &[("If-Match", "W/\"3\"")],
            Some(replacement(endpoint, "ok-put-again")),
        )
        .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(h["etag"], "W/\"4\"");
        let r = app
            .req(Method::DELETE, &path, &app.token)
            .header("If-Match", "W/\"1\"")
            .header("If-Match", "W/\"4\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204);
        let (s, _) = app.send(Method::GET, &path, None).await;
        assert_eq!(s, 404);
        // `*` on a resource that does not exist matches nothing there is.
        let (s, _, _) = send_with(&app, Method::DELETE, &path, &[("If-Match", "*")], None).await;
        assert_eq!(s, 404);
    }
}

async fn if_none_match_on_get_still_answers_304(app: TestApp) {
    let id = create(&app, "Users", user("inm.ann")).await;
    let path = format!("Users/{id}");
    for header in ["W/\"1\"", "\"1\"", "W/\"8\", W/\"1\"", "*"] {
        let (s, _, h) =
            send_with(&app, Method::GET, &path, &[("If-None-Match", header)], None).await;
        assert_eq!(s, 304, "If-None-Match {header:?}");
        assert_eq!(h["etag"], "W/\"1\"");
    }
    for header in ["W/\"2\"", "garbage", "\"abc\""] {
        let (s, body, _) =
            send_with(&app, Method::GET, &path, &[("If-None-Match", header)], None).await;
        assert_eq!(s, 200, "If-None-Match {header:?}: {body}");
        assert_eq!(body["id"], json!(id));
    }
}

async fn admin_query_and_endpoint_errors_are_json(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let url = |path: &str| app.base.replace("/scim/v2", &format!("/admin/v1/{path}"));
    for path in [
        "sync-log?limit=1&limit=2",
        "sync-log?user=a&user=b",
        "conflicts?status=open&status=resolved",
        "imports?dry_run=true&dry_run=false",
    ] {
        let method = if path.starts_with("imports") {
            Method::POST
        } else {
            Method::GET
        };
        let resp = app
            .client
            .request(method, url(path))
            .bearer_auth(&admin)
            .header("Content-Type", "text/csv")
            .body("email\n")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(
            body["error"]["code"],
            json!("invalid_value"),
            "{path}: {body}"
        );
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    for (method, path) in [
        (Method::GET, "no-such-thing"),
        (Method::GET, "products/meeting/extra"),
        (Method::POST, "reports"),
    ] {
        let resp = app
            .client
            .request(method.clone(), url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{method} {path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], json!("not_found"), "{path}: {body}");
    }
}

async fn scim_writes_refuse_a_foreign_content_type(app: TestApp) {
    let id = create(&app, "Users", user("ct.ann")).await;
    let path = format!("Users/{id}");
    let url = |p: &str| format!("{}/{p}", app.base);
    let send = |method: Method, p: &str, ct: Option<&str>, body: Value| {
        let mut r = app
            .client
            .request(method, url(p))
            .bearer_auth(&app.token)
            .body(body.to_string());
        if let Some(ct) = ct {
            r = r.header("Content-Type", ct);
        }
        r.send()
    };
    let search = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName eq \"ct.ann\""
    });
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/scim+jsonx",
        "application/json-patch+json",
        "multipart/form-data; boundary=x",
        "",
    ] {
        let cases = [
            (Method::POST, "Users".to_string(), user("ct.bob")),
            (Method::PUT, path.clone(), user("ct.renamed")),
            (Method::PATCH, path.clone(), rename_patch("ct-x")),
            (Method::POST, "Users/.search".to_string(), search.clone()),
            (Method::POST, ".search".to_string(), search.clone()),
        ];
        for (method, p, body) in cases {
            let resp = send(method.clone(), &p, Some(ct), body).await.unwrap();
            assert_eq!(resp.status().as_u16(), 415, "{method} {p} with {ct:?}");
            let got = resp.headers()["content-type"].to_str().unwrap().to_string();
            assert_eq!(got, "application/scim+json");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(
                body["schemas"],
                json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
            );
            assert_eq!(body["status"], json!("415"), "{body}");
            assert!(
                body["detail"].as_str().unwrap().contains("Content-Type"),
                "{body}"
            );
        }
    }
    let (_, users) = app.send(Method::GET, "Users", None).await;
    assert_eq!(
        users["totalResults"],
        json!(1),
        "nothing was written: {users}"
    );
    let (v, name) = version_and_name(&app, "Users", &id).await;
    assert_eq!((v, name), (json!("W/\"1\""), json!("ct.ann")));

    // Both JSON media types, in any case and with parameters; and none at all.
    for (i, ct) in [
        Some("application/scim+json"),
        Some("application/json"),
        Some("Application/SCIM+JSON; charset=utf-8"),
        Some("application/json;charset=UTF-8"),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        let resp = send(Method::POST, "Users", ct, user(&format!("ct.ok{i}")))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201, "{ct:?}");
        let resp = send(Method::PUT, &path, ct, user(&format!("ct.put{i}")))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{ct:?}");
    }
    // GET and DELETE carry no body: their Content-Type is not looked at.
    let resp = app
        .client
        .get(url(&path))
        .bearer_auth(&app.token)
        .header("Content-Type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Authentication comes first: no token, no word on the media type.
    let resp = app
        .client
        .post(url("Users"))
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}

/// A server like `spawn_app_on`'s, with a body timeout of one second.
struct Impatient {
    port: u16,
    token: String,
    admin: String,
    _dir: tempfile::TempDir,
    pg_database: Option<String>,
}

impl Drop for Impatient {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_database {
            drop_postgres_database(name);
        }
    }
}

async fn impatient(backend: Backend) -> Impatient {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_database) = fresh_database(backend, dir.path());
    let config = Config {
        database_url: url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        max_connections: 4,
        durable: false,
        workers: 2,
        statement_timeout_ms: 0,
        body_timeout: Duration::from_secs(1),
        // Far above any test's pace: only tests/api/ratelimit.rs is throttled.
        rate_limit_per_second: 1_000_000,
        trusted_proxies: vec![],
        webhook_allow_private: true,
    };
    let engine = startup::engine(&url, Some(&config)).await.unwrap();
    engine.ensure_account("acme").await.unwrap();
    let token = engine.create_token("acme", "test").await.unwrap();
    let admin = engine
        .issue_admin_token("acme", Role::Admin, 1)
        .await
        .unwrap();
    let app = Application::build(&config, engine).await.unwrap();
    let port = app.port();
    tokio::spawn(app.run());
    Impatient {
        port,
        token,
        admin,
        _dir: dir,
        pg_database,
    }
}

/// Sends a request head announcing 100 bytes of body, then 10 of them, then nothing; returns
/// the status, the body and how long the answer took.
async fn stall(port: u16, head: &str) -> (u16, Value, Duration) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!("{head}Content-Length: 100\r\n\r\n{{\"schemas\"");
    s.write_all(request.as_bytes()).await.unwrap();
    s.flush().await.unwrap();
    let started = Instant::now();
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    break;
                }
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    assert!(answer.is_ok(), "no answer within 10 s to a stalled body");
    let text = String::from_utf8_lossy(&got).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u16>()
        .unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or(Value::String(body.into())),
        elapsed,
    )
}

async fn stalled_bodies_time_out_on(backend: Backend) {
    let app = impatient(backend).await;
    let scim = format!(
        "POST /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\n",
        app.token
    );
    let (status, body, took) = stall(app.port, &scim).await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(body["status"], json!("408"), "{body}");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    let admin = format!(
        "POST /admin/v1/rules HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\n",
        app.admin
    );
    let (status, body, took) = stall(app.port, &admin).await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"]["code"], json!("request_timeout"), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // The import reads its CSV through the same reader.
    let import = format!(
        "POST /admin/v1/imports HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\n",
        app.admin
    );
    let (status, body, _) = stall(app.port, &import).await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"]["code"], json!("request_timeout"), "{body}");
}

mod stalled {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::stalled_bodies_time_out_on(super::Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::stalled_bodies_time_out_on(super::Backend::Postgres).await
    }
}

/// The address hidden in every query string of the log test.
const SECRET: &str = "secret.person";

/// `roster serve` with `RUST_LOG=info`: failed requests whose query strings hold an email
/// address leave log lines (with their request span), and the address is in none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_strings_stay_out_of_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("roster.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "--database",
            &database,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("roster serve starts");
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    let drain = std::thread::spawn(move || {
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
    let mut token = None;
    let base = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        // The token is printed alone on an indented line.
        if token.is_none() && line.starts_with("    ") {
            token = Some(line.trim().to_string());
        }
        if let Some(url) = line.strip_prefix("Roster is serving SCIM 2.0 at ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let token = token.expect("serve printed the default account's token");
    let admin_out = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "--database",
            &database,
            "admin-token",
            "create",
            "--account",
            "default",
        ])
        .output()
        .unwrap();
    assert!(admin_out.status.success());
    let admin = String::from_utf8(admin_out.stdout)
        .unwrap()
        .trim()
        .to_string();
    let admin_base = base.replace("/scim/v2", "/admin/v1");

    let client = reqwest::Client::new();
    let filter = "filter=userName%20eq%20%22secret.person%40example.com%22";
    let bad_filter = "filter=userName%20zz%20%22secret.person%40example.com%22";
    let calls: Vec<(String, &str, u16)> = vec![
        (format!("{base}/Users?{filter}"), "wrong-token", 401),
        (format!("{base}/Users?{bad_filter}"), &token, 400),
        (format!("{admin_base}/users?{filter}"), "wrong-token", 401),
        (format!("{admin_base}/users?{bad_filter}"), &admin, 400),
        (
            format!("{admin_base}/sync-log?user=secret.person%40example.com&limit=1&limit=2"),
            &admin,
            400,
        ),
    ];
    for (url, bearer, want) in &calls {
        let resp = client.get(url).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), *want, "{url}");
    }
    // Let the last lines reach the pipe, then stop the server.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = drain.join();
    let log = log.lock().unwrap().clone();
    // The failed admin requests were logged, in their request span (so the check below
    // looks at real lines, not at an empty log).
    assert!(log.contains("/admin/v1/users"), "{log}");
    assert!(log.contains("request_id="), "{log}");
    assert!(log.contains("http.status_code=401"), "{log}");
    assert!(
        !log.contains(SECRET),
        "a query string reached the log:\n{log}"
    );
}
