//! SCIM authentication as identity providers send it: `Authorization: Bearer TOKEN` (the
//! scheme in any case) and Okta's "Header" option, the bare `Authorization: TOKEN`; every
//! refusal a 401 with `WWW-Authenticate: Bearer realm="roster"` (RFC 6750 §3) and a SCIM
//! error body; any other scheme (`Basic`) refused even with a good token in it.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::TestApp;

crate::on_both_backends!(
    a_bare_token_header_works_for_reads_and_writes,
    the_bearer_scheme_is_read_in_any_case,
    every_refusal_is_a_401_with_a_bearer_challenge,
    basic_is_refused_even_with_a_good_token,
);

/// A SCIM request with `Authorization` exactly as given (or none).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut r = app
        .client
        .request(
            method,
            format!("{}/{}", app.base, path.trim_start_matches('/')),
        )
        .header("Content-Type", "application/scim+json");
    if let Some(a) = authorization {
        r = r.header("Authorization", a);
    }
    if let Some(b) = body {
        r = r.body(b.to_string());
    }
    r.send().await.unwrap()
}

fn user(name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "active": true,
        "emails": [{"value": name, "primary": true}]
    })
}

/// Asserts a 401 with the RFC 6750 challenge and a SCIM error body.
async fn assert_challenge(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status().as_u16(), 401, "{what}");
    assert_eq!(
        resp.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"roster\""),
        "{what}: the 401 challenges with the Bearer scheme"
    );
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/scim+json"),
        "{what}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{what}: {body}"
    );
    assert_eq!(body["status"], "401", "{what}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{what}: {body}"
    );
}

async fn a_bare_token_header_works_for_reads_and_writes(app: TestApp) {
    let token = app.token.clone();
    let resp = call(&app, Method::GET, "/Users", Some(&token), None).await;
    assert_eq!(resp.status().as_u16(), 200, "GET with the bare token");

    let resp = call(
        &app,
        Method::POST,
        "/Users",
        Some(&token),
        Some(user("okta.header@example.com")),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201, "POST with the bare token");
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();

    let resp = call(
        &app,
        Method::GET,
        &format!("/Users/{id}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    let got: Value = resp.json().await.unwrap();
    assert_eq!(got["userName"], "okta.header@example.com");

    // Spaces around the value, as some clients send it, change nothing.
    let padded = format!("  {token} ");
    let resp = call(&app, Method::GET, "/Groups", Some(&padded), None).await;
    assert_eq!(resp.status().as_u16(), 200, "a padded bare token");
}

async fn the_bearer_scheme_is_read_in_any_case(app: TestApp) {
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let header = format!("{scheme} {}", app.token);
        let resp = call(&app, Method::GET, "/Users", Some(&header), None).await;
        assert_eq!(resp.status().as_u16(), 200, "{scheme}");
    }
    let resp = call(
        &app,
        Method::POST,
        "/Users",
        Some(&format!("bearer {}", app.token)),
        Some(user("lower.bearer@example.com")),
    )
    .await;
    assert_eq!(resp.status().as_u16(), 201);
}

async fn every_refusal_is_a_401_with_a_bearer_challenge(app: TestApp) {
    let wrong = "rst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let revoked_looking = format!("{}x", app.token);
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("a wrong bare token", Some(wrong.to_string())),
        ("a wrong Bearer token", Some(format!("Bearer {wrong}"))),
        (
            "a good token with one character more",
            Some(revoked_looking),
        ),
        ("the scheme alone", Some("Bearer".into())),
        ("an empty header", Some(String::new())),
        (
            "two words, no known scheme",
            Some(format!("Token {}", app.token)),
        ),
    ];
    for (what, header) in &cases {
        let resp = call(&app, Method::GET, "/Users", header.as_deref(), None).await;
        assert_challenge(resp, what).await;
    }
    // Every authenticated route and method, not only the list.
    for (method, path, body) in [
        (Method::POST, "/Users", Some(user("never@example.com"))),
        (
            Method::GET,
            "/Users/00000000-0000-0000-0000-000000000000",
            None,
        ),
        (
            Method::DELETE,
            "/Users/00000000-0000-0000-0000-000000000000",
            None,
        ),
        (Method::GET, "/Groups", None),
        (Method::POST, "/Bulk", Some(json!({}))),
        (Method::POST, "/.search", Some(json!({}))),
    ] {
        let what = format!("{method} {path} with a wrong bare token");
        let resp = call(&app, method, path, Some(wrong), body).await;
        assert_challenge(resp, &what).await;
    }
    // Nothing was written by the refused requests.
    let (s, list) = app.send(Method::GET, "/Users", None).await;
    assert_eq!(s, 200);
    assert_eq!(list["totalResults"], 0, "{list}");
}

async fn basic_is_refused_even_with_a_good_token(app: TestApp) {
    // `Basic` carries user:password in base64; Roster takes no passwords, so even a header
    // that holds the good token behind that scheme is refused.
    let cases = [
        format!("Basic {}", app.token),
        format!("basic {}", app.token),
        "Basic xyz".to_string(),
        "Basic dXNlcjpwYXNz".to_string(),
    ];
    for header in &cases {
        let resp = call(&app, Method::GET, "/Users", Some(header), None).await;
        assert_challenge(resp, &format!("Authorization: {header}")).await;
        let resp = call(
            &app,
            Method::POST,
            "/Users",
            Some(header),
            Some(user("basic@example.com")),
        )
        .await;
        assert_challenge(resp, "POST with Basic").await;
    }
}

/// Every string in a JSON document that looks like a Roster token (`rst_...`).
fn tokens_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.starts_with("rst_") && s.len() > 20 => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| tokens_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| tokens_in(x, out)),
        _ => {}
    }
}

/// `roster serve` at its most verbose (`RUST_LOG=trace`, which includes `debug`, with sqlx's
/// statements and actix's connection handling named so they log too), driven with good and bad tokens in both header styles,
/// an admin token, a token the admin API makes and a user with a password: none of those
/// strings is anywhere in its stdout or stderr, except the first start's token line, which
/// the server prints on purpose.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_secret_or_password_reaches_the_log() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("roster.db").display());
    let roster = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_roster"))
            .args(["--database", &database])
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    };

    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["--database", &database, "serve", "--listen", "127.0.0.1:0"])
        .args(["--workers", "2"])
        .env("RUST_LOG", "trace,sqlx=trace,actix_server=trace")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr_text = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = stderr_text.clone();
    let stderr_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        sink.lock()
            .unwrap()
            .push_str(&String::from_utf8_lossy(&buf));
    });
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stdout_lines = Vec::new();
    let origin = loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "serve ended early"
        );
        let line = line.trim_end_matches('\n').to_string();
        stdout_lines.push(line.clone());
        if let Some(url) = line.strip_prefix("Roster is serving SCIM 2.0 at ") {
            break url.trim().trim_end_matches("/scim/v2").to_string();
        }
    };
    let stdout_reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        rest
    });
    let first_token = stdout_lines
        .iter()
        .find(|l| l.starts_with("    rst_"))
        .map(|l| l.trim().to_string())
        .expect("the first start prints the default account's token");
    let token_line = format!("    {first_token}");

    let second_token = roster(&["token", "create", "--account", "default", "--name", "okta"]);
    let admin_token = roster(&["admin-token", "create", "--account", "default"]);
    let bad_token = "rst_thisIsNotAnyTokenOfRosterButLooksLikeOne000";
    let password = "Correct-Horse-Battery-Staple-91f2";
    let basic = "Basic c2NpbTpzM2NyM3QtYmFzaWMtcGFzcw==";

    let client = reqwest::Client::new();
    let scim = format!("{origin}/scim/v2");
    let get = |path: &str, authorization: &str| {
        client
            .get(format!("{scim}/{path}"))
            .header("Authorization", authorization.to_string())
            .send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(get("Users", &first_token).await.unwrap()), 200);
    assert_eq!(
        status(
            get("Users", &format!("Bearer {second_token}"))
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            get("Groups", &format!("bearer {first_token}"))
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(status(get("Users", bad_token).await.unwrap()), 401);
    assert_eq!(
        status(get("Users", &format!("Bearer {bad_token}")).await.unwrap()),
        401
    );
    assert_eq!(status(get("Users", basic).await.unwrap()), 401);
    // An admin token on the SCIM surface is refused; on the admin API it works.
    assert_eq!(
        status(
            get("Users", &format!("Bearer {admin_token}"))
                .await
                .unwrap()
        ),
        401
    );
    let resp = client
        .get(format!("{origin}/admin/v1/users"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let resp = client
        .get(format!("{origin}/admin/v1/users"))
        .bearer_auth(bad_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // A token the admin API makes is in its answer only.
    let resp = client
        .post(format!("{origin}/admin/v1/connections"))
        .bearer_auth(&admin_token)
        .json(&json!({"name": "entra"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let made: Value = resp.json().await.unwrap();
    let mut api_tokens = Vec::new();
    tokens_in(&made, &mut api_tokens);
    assert!(
        !api_tokens.is_empty(),
        "the admin API answers with its token: {made}"
    );
    // OAuth: a client secret, the token endpoint with it (Basic and in the body, and a
    // wrong one), and the access token it gives, used on the SCIM API.
    let resp = client
        .post(format!("{origin}/admin/v1/connections"))
        .bearer_auth(&admin_token)
        .json(&json!({"name": "entra-oauth", "auth": "oauth"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let oauth: Value = resp.json().await.unwrap();
    let client_id = oauth["client_id"].as_str().unwrap().to_string();
    let client_secret = oauth["client_secret"].as_str().unwrap().to_string();
    let resp = client
        .post(format!("{origin}/oauth/token"))
        .basic_auth(&client_id, Some(&client_secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let access_token = resp.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for body in [
        format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={client_secret}"
        ),
        format!(
            "grant_type=client_credentials&client_id={client_id}&client_secret={client_secret}x"
        ),
    ] {
        let resp = client
            .post(format!("{origin}/oauth/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(resp.status().as_u16() < 500);
    }
    assert_eq!(
        status(
            get("Users", &format!("Bearer {access_token}"))
                .await
                .unwrap()
        ),
        200
    );

    // A user with a password, which Roster drops (and never logs).
    let mut with_password = user("pw.user@example.com");
    with_password["password"] = json!(password);
    let resp = client
        .post(format!("{scim}/Users"))
        .header("Authorization", first_token.clone())
        .header("Content-Type", "application/scim+json")
        .body(with_password.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let created: Value = resp.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let resp = client
        .patch(format!("{scim}/Users/{id}"))
        .header("Authorization", first_token.clone())
        .header("Content-Type", "application/scim+json")
        .body(
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "password", "value": password}]
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().as_u16() < 500, "{}", resp.status());

    // Stop it gracefully so every line is written, then read all it wrote.
    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let _ = child.wait();
    let rest = stdout_reader.join().unwrap();
    stderr_reader.join().unwrap();
    let stderr_text = stderr_text.lock().unwrap().clone();
    stdout_lines.extend(rest.lines().map(str::to_string));

    // The scan sees the output: the request lines are there, and so is the token line.
    assert!(stderr_text.contains("/scim/v2/Users"), "{stderr_text}");
    assert!(
        stderr_text.contains("DEBUG") && stderr_text.contains("TRACE"),
        "RUST_LOG took effect"
    );
    assert_eq!(
        stdout_lines.iter().filter(|l| **l == token_line).count(),
        1,
        "the first start's token line"
    );

    let mut secrets = vec![
        ("the first start's token", first_token.clone()),
        ("a CLI token", second_token),
        ("the admin token", admin_token),
        ("a bad token", bad_token.to_string()),
        ("the password", password.to_string()),
        ("a Basic credential", basic["Basic ".len()..].to_string()),
        ("an OAuth client secret", client_secret),
        ("an OAuth access token", access_token),
    ];
    for t in api_tokens {
        secrets.push(("a token made by the admin API", t));
    }
    let stdout_rest: Vec<&String> = stdout_lines.iter().filter(|l| **l != token_line).collect();
    for (what, secret) in &secrets {
        for line in stderr_text.lines() {
            assert!(!line.contains(secret.as_str()), "{what} in stderr: {line}");
        }
        for line in &stdout_rest {
            assert!(!line.contains(secret.as_str()), "{what} in stdout: {line}");
        }
    }
}
