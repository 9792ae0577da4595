//! The console's webhook pages over HTTP (console-tests/test_webhooks.py drives them in
//! Chromium): an endpoint made from the form shows its signing secret once and signs with
//! it; a failing endpoint is badged on the list and the overview, its failed deliveries are
//! listed with a retry, a replay goes back; disable, enable and delete go through their
//! confirmation pages; an auditor gets no write control and is refused; a form without the
//! CSRF field changes nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use roster::auth::jwt::Role;
use roster::engine::events::deliver::sign;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{ConsoleSession, TestApp};

/// One request a receiver got: its headers (lower-cased names) and body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }
}

/// A webhook receiver on a loopback port that answers every POST with `status` and `body`;
/// its URL and what it has received.
async fn receiver(status: u16, body: &'static str) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(vec![]));
    let seen = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = vec![];
                let mut chunk = [0u8; 4096];
                // The head, then as much body as Content-Length says.
                let (head_end, length) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (i + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let headers = head
                    .lines()
                    .skip(1)
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
                    .collect();
                let end = buf.len().min(head_end + length);
                let text = String::from_utf8_lossy(&buf[head_end..end]).to_string();
                seen.lock().unwrap().push(Received {
                    headers,
                    body: text,
                });
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}/hook"), got)
}

async fn get(app: &TestApp, s: &ConsoleSession, path: &str) -> (u16, String) {
    let resp = app.console_req(s, Method::GET, path).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// A console form POST; `fields` as given (the test adds the CSRF field when it means to).
async fn post(
    app: &TestApp,
    s: &ConsoleSession,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let resp = app
        .console_req(s, Method::POST, path)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// The text between `start` and the next `end` after it.
fn between<'a>(page: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = page.split_once(start)?.1;
    Some(rest.split_once(end)?.0)
}

/// A change that writes a `group.created` event.
async fn make_group(app: &TestApp, name: &str) {
    let (s, body) = app
        .send(
            Method::POST,
            "Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name,
            })),
        )
        .await;
    assert_eq!(s, 201, "{body}");
}

/// Waits (up to 20 s) until `cond` (an expression that may `.await`) holds.
macro_rules! eventually {
    ($what:expr, $cond:expr) => {{
        let mut held = false;
        for _ in 0..200 {
            if $cond {
                held = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(held, "timed out waiting for {}", $what);
    }};
}

async fn the_endpoint(app: &TestApp, admin: &str) -> serde_json::Value {
    let (s, body) = app.admin(admin, Method::GET, "webhooks", None).await;
    assert_eq!(s, 200, "{body}");
    let list = body["webhooks"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    list[0].clone()
}

async fn a_new_endpoint_shows_its_secret_once_and_signs_with_it(app: TestApp) {
    let (hook_url, got) = receiver(204, "").await;
    let url = hook_url.as_str();
    let admin = app.admin_token(Role::Admin).await;
    let s = app.console(Role::Admin).await;

    let (status, page) = get(&app, &s, "/console/webhooks").await;
    assert_eq!(status, 200);
    assert!(page.contains("No webhook endpoints yet."), "{page}");
    assert!(
        page.contains("href=\"/console/webhooks\" aria-current=\"page\""),
        "{page}"
    );
    assert!(
        page.contains("name=\"events\" type=\"checkbox\" value=\"*\" checked"),
        "{page}"
    );

    // Without the CSRF field: refused, nothing made.
    let (status, page) = post(
        &app,
        &s,
        "/console/webhooks",
        &[("url", url), ("events", "*")],
    )
    .await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("security token is missing or wrong"),
        "{page}"
    );
    let (_, body) = app.admin(&admin, Method::GET, "webhooks", None).await;
    assert_eq!(body["webhooks"], json!([]));

    // Errors next to their fields, nothing made.
    let csrf = s.csrf.as_str();
    let (status, page) = post(
        &app,
        &s,
        "/console/webhooks",
        &[("csrf", csrf), ("url", url)],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("id=\"error-events\""), "{page}");
    let (status, page) = post(
        &app,
        &s,
        "/console/webhooks",
        &[
            ("csrf", csrf),
            ("url", url),
            ("events", "*"),
            ("events", "user.created"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not both"), "{page}");
    let (status, page) = post(
        &app,
        &s,
        "/console/webhooks",
        &[
            ("csrf", csrf),
            ("url", "ftp://127.0.0.1/x"),
            ("events", "*"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("id=\"error-url\""), "{page}");
    assert!(page.contains("aria-invalid=\"true\""), "{page}");
    assert!(
        page.contains("value=\"ftp://127.0.0.1/x\""),
        "the form keeps what was sent: {page}"
    );
    let (_, body) = app.admin(&admin, Method::GET, "webhooks", None).await;
    assert_eq!(body["webhooks"], json!([]));

    // Made, with two chosen types: the secret is on this answer only.
    let (status, page) = post(
        &app,
        &s,
        "/console/webhooks",
        &[
            ("csrf", csrf),
            ("url", url),
            ("events", "group.created"),
            ("events", "user.created"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("shown once"), "{page}");
    assert!(
        page.contains("webhook-signature"),
        "how to check a signature: {page}"
    );
    let secret = between(&page, "<output id=\"secret\">", "</output>")
        .unwrap()
        .to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let hook = the_endpoint(&app, &admin).await;
    assert_eq!(hook["events"], json!(["group.created", "user.created"]));
    let id = hook["id"].as_str().unwrap().to_string();

    let (status, list) = get(&app, &s, "/console/webhooks").await;
    assert_eq!(status, 200);
    assert!(
        !list.contains(&secret),
        "the secret is shown again on the list"
    );
    assert!(
        list.contains(url) && list.contains("group.created, user.created"),
        "{list}"
    );
    assert!(
        list.contains(&format!("href=\"/console/webhooks/{id}\"")),
        "{list}"
    );
    let (status, one) = get(&app, &s, &format!("/console/webhooks/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        !one.contains(&secret),
        "the secret is shown on the endpoint's page"
    );

    // It signs with the secret shown.
    make_group(&app, "Hooked").await;
    eventually!("a delivery", !got.lock().unwrap().is_empty());
    let r = got.lock().unwrap()[0].clone();
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    let expected = sign(&secret, r.header("webhook-id"), ts, &r.body);
    assert!(
        r.header("webhook-signature")
            .split(' ')
            .any(|s| s == expected),
        "signature {} is not {expected}",
        r.header("webhook-signature")
    );
    eventually!("the delivery on the endpoint's page", {
        let (_, one) = get(&app, &s, &format!("/console/webhooks/{id}")).await;
        one.contains("succeeded") && one.contains("group.created")
    });
    let (_, one) = get(&app, &s, &format!("/console/webhooks/{id}")).await;
    assert!(one.contains("<table id=\"deliveries\""), "{one}");
    assert!(one.contains(">204<"), "{one}");
    assert!(
        !one.contains("/retry\""),
        "no retry offered for a success: {one}"
    );
}

async fn a_failing_endpoint_is_badged_and_retried_replayed_disabled_and_deleted(app: TestApp) {
    let (hook_url, got) = receiver(500, "receiver says no").await;
    let url = hook_url.as_str();
    let admin = app.admin_token(Role::Admin).await;
    let s = app.console(Role::Admin).await;
    let csrf = s.csrf.as_str();
    let (status, page) = post(
        &app,
        &s,
        "/console/webhooks",
        &[("csrf", csrf), ("url", url), ("events", "group.created")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let id = the_endpoint(&app, &admin).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page_url = format!("/console/webhooks/{id}");

    make_group(&app, "Refused").await;
    eventually!("a failed delivery", !got.lock().unwrap().is_empty());
    eventually!(
        "the failed attempt recorded",
        the_endpoint(&app, &admin).await["attempts"].as_i64() >= Some(1)
    );
    let (status, one) = get(&app, &s, &format!("{page_url}?outcome=failed")).await;
    assert_eq!(status, 200);
    assert!(one.contains("<table id=\"deliveries\""), "{one}");
    assert!(one.contains(">500<"), "{one}");
    assert!(
        one.contains("receiver says no"),
        "the response excerpt: {one}"
    );
    assert!(
        one.contains("the receiver answered 500"),
        "the error: {one}"
    );
    assert!(one.contains("option value=\"failed\" selected"), "{one}");
    let (_, list) = get(&app, &s, "/console/webhooks").await;
    assert!(list.contains("retrying"), "{list}");

    // A day later the endpoint is failing: badged on the list, a notice on the overview.
    app.clock.advance(chrono::Duration::hours(25));
    eventually!(
        "the endpoint marked failing",
        the_endpoint(&app, &admin).await["state"] == "failing"
    );
    // A day later the session has run out too: a fresh one.
    let s = app.console(Role::Admin).await;
    let csrf = s.csrf.as_str();
    let (_, list) = get(&app, &s, "/console/webhooks").await;
    assert!(list.contains("status status-failure"), "{list}");
    assert!(list.contains("failing"), "{list}");
    assert!(
        list.contains(&format!("{page_url}/enable")),
        "resume is offered: {list}"
    );
    let (status, overview) = get(&app, &s, "/console/").await;
    assert_eq!(status, 200);
    assert!(
        overview.contains(&format!("href=\"{page_url}\"")),
        "{overview}"
    );
    assert!(
        overview.contains("webhook endpoint is failing"),
        "{overview}"
    );

    // Retry the failed delivery: the endpoint is due again.
    let (_, one) = get(&app, &s, &page_url).await;
    let retry = format!(
        "{page_url}/deliveries/{}/retry",
        between(&one, &format!("{page_url}/deliveries/"), "/retry").unwrap()
    );
    let (status, page) = post(&app, &s, &retry, &[]).await;
    assert_eq!(status, 403, "a retry without the CSRF field: {page}");
    let (status, page) = post(&app, &s, &retry, &[("csrf", csrf)]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("due now"), "{page}");
    assert_ne!(the_endpoint(&app, &admin).await["state"], "failing");
    let (_, overview) = get(&app, &s, "/console/").await;
    assert!(
        !overview.contains("webhook endpoint is failing"),
        "{overview}"
    );

    // Replay from a sequence: a bad one is an error next to the field.
    let replay = format!("{page_url}/replay");
    let (status, page) = post(&app, &s, &replay, &[("from", "1")]).await;
    assert_eq!(status, 403, "a replay without the CSRF field: {page}");
    let (status, page) = post(&app, &s, &replay, &[("csrf", csrf), ("from", "0")]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("id=\"error-from\""), "{page}");
    let (status, page) = post(&app, &s, &replay, &[("csrf", csrf), ("from", "9999")]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("at most"), "{page}");
    let (status, page) = post(&app, &s, &replay, &[("csrf", csrf), ("from", "1")]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("from sequence 1 on"), "{page}");
    assert_eq!(the_endpoint(&app, &admin).await["delivered_through"], 0);

    // Disable and enable through their confirmation pages.
    let (status, confirm) = get(&app, &s, &format!("{page_url}/disable")).await;
    assert_eq!(status, 200);
    assert!(
        confirm.contains(&format!("action=\"{page_url}/disable\"")),
        "{confirm}"
    );
    assert!(confirm.contains("Disable endpoint"), "{confirm}");
    let (status, _) = post(&app, &s, &format!("{page_url}/disable"), &[]).await;
    assert_eq!(status, 403);
    assert_eq!(the_endpoint(&app, &admin).await["enabled"], true);
    let (status, page) = post(&app, &s, &format!("{page_url}/disable"), &[("csrf", csrf)]).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(the_endpoint(&app, &admin).await["enabled"], false);
    assert!(page.contains("disabled"), "{page}");
    let (_, list) = get(&app, &s, "/console/webhooks").await;
    assert!(list.contains(&format!("{page_url}/enable")), "{list}");
    let (status, _) = post(&app, &s, &format!("{page_url}/enable"), &[("csrf", csrf)]).await;
    assert_eq!(status, 200);
    assert_eq!(the_endpoint(&app, &admin).await["enabled"], true);
    let (status, _) = get(&app, &s, &format!("{page_url}/frobnicate")).await;
    assert_eq!(status, 404);

    // Delete: confirmation, then gone.
    let (status, confirm) = get(&app, &s, &format!("{page_url}/delete")).await;
    assert_eq!(status, 200);
    assert!(confirm.contains("Delete endpoint"), "{confirm}");
    let (status, _) = post(&app, &s, &format!("{page_url}/delete"), &[]).await;
    assert_eq!(status, 403);
    let (status, page) = post(&app, &s, &format!("{page_url}/delete"), &[("csrf", csrf)]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Deleted the webhook endpoint"), "{page}");
    let (_, body) = app.admin(&admin, Method::GET, "webhooks", None).await;
    assert_eq!(body["webhooks"], json!([]));
    let (status, _) = get(&app, &s, &page_url).await;
    assert_eq!(status, 404);
}

async fn an_auditor_gets_no_write_control_and_is_refused(app: TestApp) {
    // A receiver that answers (500): an attempt that gets no answer at all (a refused
    // connection) is not recorded on PostgreSQL (its NULL status is bound as text).
    let (hook_url, _got) = receiver(500, "no").await;
    let admin = app.admin_token(Role::Admin).await;
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            "webhooks",
            Some(json!({"url": hook_url, "events": ["group.created"]})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    make_group(&app, "Unheard").await;
    eventually!("a failed delivery", {
        let (_, d) = app
            .admin(
                &admin,
                Method::GET,
                &format!("webhooks/{id}/deliveries"),
                None,
            )
            .await;
        !d["deliveries"].as_array().unwrap().is_empty()
    });
    let before = the_endpoint(&app, &admin).await;
    let page_url = format!("/console/webhooks/{id}");

    let a = app.console(Role::Auditor).await;
    for path in ["/console/webhooks".to_string(), page_url.clone()] {
        let (status, page) = get(&app, &a, &path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            page.matches("method=\"post\"").count(),
            1,
            "{path}: an auditor gets only the sign-out form: {page}"
        );
        for word in [
            "/disable\"",
            "/enable\"",
            "/delete\"",
            "/retry\"",
            "/replay\"",
        ] {
            assert!(
                !page.contains(word),
                "{path}: an auditor is offered {word}: {page}"
            );
        }
    }
    let (status, page) = get(&app, &a, &format!("{page_url}/delete")).await;
    assert_eq!(status, 403);
    assert_eq!(page.matches("method=\"post\"").count(), 1, "{page}");

    let (_, d) = app
        .admin(
            &admin,
            Method::GET,
            &format!("webhooks/{id}/deliveries"),
            None,
        )
        .await;
    let delivery = d["deliveries"][0]["id"].as_str().unwrap().to_string();
    let csrf = a.csrf.as_str();
    let writes: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/console/webhooks".into(),
            vec![
                ("csrf", csrf),
                ("url", "http://127.0.0.1:9/other"),
                ("events", "*"),
            ],
        ),
        (format!("{page_url}/disable"), vec![("csrf", csrf)]),
        (format!("{page_url}/delete"), vec![("csrf", csrf)]),
        (
            format!("{page_url}/replay"),
            vec![("csrf", csrf), ("from", "1")],
        ),
        (
            format!("{page_url}/deliveries/{delivery}/retry"),
            vec![("csrf", csrf)],
        ),
    ];
    for (path, fields) in &writes {
        let (status, page) = post(&app, &a, path, fields).await;
        assert_eq!(status, 403, "POST {path} as auditor: {page}");
    }
    let after = the_endpoint(&app, &admin).await;
    assert_eq!(after["enabled"], before["enabled"]);
    assert_eq!(after["delivered_through"], before["delivered_through"]);
    assert_eq!(after["url"], before["url"]);
}

crate::on_both_backends!(
    a_new_endpoint_shows_its_secret_once_and_signs_with_it,
    a_failing_endpoint_is_badged_and_retried_replayed_disabled_and_deleted,
    an_auditor_gets_no_write_control_and_is_refused,
);
