//! Per-connection rate limits and network allow-lists through HTTP: a burst over the limit
//! gets 429 with `Retry-After` while another connection goes on; the limit is set and reset
//! per connection; throttling leaves one sync-log entry with its count, which the sync report
//! adds up; allow-lists refuse with 403 and a log entry, and believe `X-Forwarded-For` only
//! from trusted proxies.

use std::time::Duration;

use reqwest::Method;
use roster::auth::jwt::Role;
use roster::config::Config;
use roster::startup::{self, Application};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// Sends `n` GET /Users at once with the token; the status and `Retry-After` of each.
async fn burst(app: &TestApp, base: &str, token: &str, n: usize) -> Vec<(u16, Option<String>)> {
    let sends: Vec<_> = (0..n)
        .map(|_| {
            let r = app
                .client
                .get(format!("{base}/Users?count=1"))
                .bearer_auth(token);
            tokio::spawn(async move {
                let resp = r.send().await.unwrap();
                let status = resp.status().as_u16();
                let retry = resp
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let body: Value = resp.json().await.unwrap();
                if status == 429 {
                    assert_eq!(body["status"], json!("429"), "{body}");
                    assert!(
                        body["schemas"][0]
                            .as_str()
                            .unwrap()
                            .ends_with(":api:messages:2.0:Error"),
                        "{body}"
                    );
                }
                (status, retry)
            })
        })
        .collect();
    let mut out = vec![];
    for s in sends {
        out.push(s.await.unwrap());
    }
    out
}

async fn patch(app: &TestApp, admin: &str, name: &str, body: Value) -> (u16, Value) {
    app.admin(
        admin,
        Method::PATCH,
        &format!("connections/{name}"),
        Some(body),
    )
    .await
}

/// A second connection of the same account; its token.
async fn second_connection(app: &TestApp, admin: &str) -> String {
    let (s, body) = app
        .admin(
            admin,
            Method::POST,
            "connections",
            Some(json!({"name": "second"})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// Sync-log entries with this action, waiting up to 10 s for the first one (throttle
/// entries are gathered for a second; refusals go through the batching writer).
async fn entries_with_action(app: &TestApp, admin: &str, action: &str) -> Vec<Value> {
    for _ in 0..100 {
        let (s, body) = app
            .admin(admin, Method::GET, "sync-log?limit=500", None)
            .await;
        assert_eq!(s, 200, "{body}");
        let found: Vec<Value> = body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == json!(action))
            .cloned()
            .collect();
        if !found.is_empty() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    vec![]
}

async fn a_burst_over_the_limit_is_429_and_another_connection_is_unaffected(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let second = second_connection(&app, &admin).await;
    let (s, body) = patch(&app, &admin, "test", json!({"rate_limit_per_second": 2})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["rate_limit_per_second"], json!(2));
    assert_eq!(body["rate_limit_source"], json!("connection"));

    let (first, other) = tokio::join!(
        burst(&app, &app.base, &app.token, 10),
        burst(&app, &app.base, &second, 10)
    );
    let throttled: Vec<_> = first.iter().filter(|(s, _)| *s == 429).collect();
    // Burst 4 (twice the rate): at least 10 - 4 - a token or two refilled meanwhile.
    assert!(throttled.len() >= 4, "{first:?}");
    for (s, _) in &first {
        assert!(*s == 200 || *s == 429, "{first:?}");
    }
    for (_, retry) in &throttled {
        let secs: u64 = retry.as_deref().unwrap().parse().unwrap();
        assert!((1..=2).contains(&secs), "{retry:?}");
    }
    assert!(other.iter().all(|(s, _)| *s == 200), "{other:?}");
}

async fn the_rate_is_set_and_reset_per_connection_and_checked(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    assert_eq!(
        patch(&app, &admin, "test", json!({"rate_limit_per_second": 2}))
            .await
            .0,
        200
    );
    let before = burst(&app, &app.base, &app.token, 10).await;
    assert!(before.iter().any(|(s, _)| *s == 429), "{before:?}");

    // null: back to the server's default (far above this pace in tests).
    let (s, body) = patch(&app, &admin, "test", json!({"rate_limit_per_second": null})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["rate_limit_source"], json!("default"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let after = burst(&app, &app.base, &app.token, 10).await;
    assert!(after.iter().all(|(s, _)| *s == 200), "{after:?}");

    let (s, body) = patch(&app, &admin, "test", json!({"rate_limit_per_second": 0})).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        body["error"]["field"],
        json!("rate_limit_per_second"),
        "{body}"
    );
    let (s, body) = patch(
        &app,
        &admin,
        "test",
        json!({"rate_limit_per_second": "fast"}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = patch(
        &app,
        &admin,
        "test",
        json!({"allowed_networks": ["10.0.0.0/8", "10.0.0.0/33"]}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'10.0.0.0/33'"),
        "{body}"
    );
    let (s, body) = patch(&app, &admin, "test", json!({"burst": 3})).await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = patch(&app, &admin, "nobody", json!({"rate_limit_per_second": 5})).await;
    assert_eq!(s, 404, "{body}");
    let auditor = app.admin_token(Role::Auditor).await;
    let (s, body) = patch(&app, &auditor, "test", json!({"rate_limit_per_second": 5})).await;
    assert_eq!(s, 403, "{body}");
}

async fn throttling_leaves_one_entry_with_its_count_and_the_report_counts_it(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    patch(&app, &admin, "test", json!({"rate_limit_per_second": 2})).await;
    let first = burst(&app, &app.base, &app.token, 10).await;
    let n = first.iter().filter(|(s, _)| *s == 429).count();
    assert!(n > 0, "{first:?}");

    let entries = entries_with_action(&app, &admin, "throttle").await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let e = &entries[0];
    assert_eq!(e["status"], json!("throttled"), "{e}");
    assert_eq!(e["actor"], json!("connection:test"), "{e}");
    assert_eq!(e["resource_id"], json!("test"), "{e}");
    assert_eq!(e["outcome"]["http_status"], json!(429), "{e}");
    assert_eq!(
        e["modified_properties"],
        json!([{"attribute": "throttled_requests", "old": null, "new": n}]),
        "{e}"
    );

    let (s, report) = app.admin(&admin, Method::GET, "reports/sync", None).await;
    assert_eq!(s, 200, "{report}");
    let rows = report["rows"].as_array().unwrap();
    let throttled: i64 = rows.iter().map(|r| r["throttled"].as_i64().unwrap()).sum();
    assert_eq!(throttled, n as i64, "{report}");
    let failures: i64 = rows.iter().map(|r| r["failure"].as_i64().unwrap()).sum();
    assert_eq!(failures, 0, "a throttle entry is not a failure: {report}");

    // More throttling within the minute: no second entry yet.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let again = burst(&app, &app.base, &app.token, 10).await;
    assert!(again.iter().any(|(s, _)| *s == 429), "{again:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(entries_with_action(&app, &admin, "throttle").await.len(), 1);

    // The connection list shows the limit and the latest activity.
    let (s, list) = app.admin(&admin, Method::GET, "connections", None).await;
    assert_eq!(s, 200, "{list}");
    let c = list["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == json!("test"))
        .unwrap();
    assert_eq!(c["rate_limit_per_second"], json!(2), "{c}");
    assert_eq!(c["rate_limit_source"], json!("connection"), "{c}");
    assert_eq!(c["allowed_networks"], json!([]), "{c}");
    assert!(
        c["last_activity"].as_str().unwrap().starts_with("20"),
        "{c}"
    );
}

async fn an_allow_list_refuses_other_networks_with_403_and_a_log_entry(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let (s, body) = patch(
        &app,
        &admin,
        "test",
        json!({"allowed_networks": ["10.0.0.0/8", "2001:db8::/32"]}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["allowed_networks"],
        json!(["10.0.0.0/8", "2001:db8::/32"])
    );
    let (s, body) = app.send(Method::GET, "Users", None).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["status"], json!("403"), "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("127.0.0.1"),
        "{body}"
    );

    let refused = entries_with_action(&app, &admin, "refuse").await;
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["status"], json!("failure"));
    assert_eq!(refused[0]["outcome"]["http_status"], json!(403));
    assert_eq!(refused[0]["actor"], json!("connection:test"));

    // Host bits are cleared; loopback allowed.
    let (s, body) = patch(
        &app,
        &admin,
        "test",
        json!({"allowed_networks": ["127.1.2.3/8"]}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["allowed_networks"], json!(["127.0.0.0/8"]));
    assert_eq!(app.send(Method::GET, "Users", None).await.0, 200);
    // Empty: anywhere.
    patch(
        &app,
        &admin,
        "test",
        json!({"allowed_networks": ["192.168.0.0/16"]}),
    )
    .await;
    assert_eq!(app.send(Method::GET, "Users", None).await.0, 403);
    patch(&app, &admin, "test", json!({"allowed_networks": []})).await;
    assert_eq!(app.send(Method::GET, "Users", None).await.0, 200);
}

/// `X-Forwarded-For` is believed only from `--trusted-proxies`: a second server on the same
/// database trusts 127.0.0.1, the test's own server trusts nobody.
async fn forwarded_for_counts_only_from_trusted_proxies(app: TestApp) {
    let config = Config {
        database_url: app.database_url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        max_connections: 4,
        durable: false,
        workers: 1,
        statement_timeout_ms: 0,
        body_timeout: Duration::from_secs(30),
        rate_limit_per_second: 1_000_000,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        webhook_allow_private: true,
    };
    let engine = startup::engine(&app.database_url, Some(&config))
        .await
        .unwrap();
    let proxied = Application::build(&config, engine).await.unwrap();
    let proxied_base = format!("http://127.0.0.1:{}/scim/v2", proxied.port());
    tokio::spawn(proxied.run());

    let admin = app.admin_token(Role::Admin).await;
    let get = |base: &str, from: &str| {
        app.client
            .get(format!("{base}/Users"))
            .bearer_auth(&app.token)
            .header("X-Forwarded-For", from)
            .send()
    };
    patch(
        &app,
        &admin,
        "test",
        json!({"allowed_networks": ["10.0.0.0/8"]}),
    )
    .await;
    // Trusted: the forwarded address decides, wherever it is in the list's right end.
    assert_eq!(get(&proxied_base, "10.1.2.3").await.unwrap().status(), 200);
    assert_eq!(
        get(&proxied_base, "192.168.1.1, 10.1.2.3")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(&proxied_base, "10.1.2.3, 192.168.1.1")
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        get(&proxied_base, "not-an-address").await.unwrap().status(),
        403
    );
    // Not trusted: the header is ignored; the peer (127.0.0.1) is outside 10.0.0.0/8.
    assert_eq!(get(&app.base, "10.1.2.3").await.unwrap().status(), 403);

    patch(
        &app,
        &admin,
        "test",
        json!({"allowed_networks": ["192.168.0.0/16"]}),
    )
    .await;
    // The second server caches settings for a few seconds outside authentication, but
    // authentication reads them with the token: the change applies at once.
    assert_eq!(get(&proxied_base, "10.1.2.3").await.unwrap().status(), 403);
    assert_eq!(
        get(&proxied_base, "192.168.7.7").await.unwrap().status(),
        200
    );
}

crate::on_both_backends!(
    a_burst_over_the_limit_is_429_and_another_connection_is_unaffected,
    the_rate_is_set_and_reset_per_connection_and_checked,
    throttling_leaves_one_entry_with_its_count_and_the_report_counts_it,
    an_allow_list_refuses_other_networks_with_403_and_a_log_entry,
    forwarded_for_counts_only_from_trusted_proxies,
);
