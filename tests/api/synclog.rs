//! The sync log through HTTP: every change with its modified properties, notes, seat
//! changes and steps; failures with a code and a recommended action; filters, paging, CSV.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, TestApp};

async fn log(app: &TestApp, admin: &str, query: &str) -> Value {
    let (s, body) = app
        .admin(admin, Method::GET, &format!("sync-log?{query}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    body
}

async fn entries(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    log(app, admin, query).await["entries"]
        .as_array()
        .unwrap()
        .clone()
}

async fn changes_are_logged_with_properties_notes_seats_and_steps(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 5})),
    )
    .await;
    app.admin(
        &admin,
        Method::PATCH,
        "settings",
        Some(json!({"default_products": ["meeting"]})),
    )
    .await;
    let mut body = user("lena");
    body["password"] = json!("Sup3r-Secret!");
    body["name"] = json!({"givenName": "Lena"});
    let (s, u) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(s, 201);
    let id = u["id"].as_str().unwrap().to_string();

    let e = entries(&app, &admin, "operation=create").await;
    assert_eq!(e.len(), 1, "{e:?}");
    let e = &e[0];
    assert_eq!(e["actor"], json!("connection:test"));
    assert_eq!(e["method"], json!("POST"));
    assert_eq!(e["resource_type"], json!("User"));
    assert_eq!(e["resource_id"], json!(id));
    assert_eq!(e["user_name"], json!("lena"));
    assert_eq!(
        e["status"],
        json!("warning"),
        "a dropped password is a note: {e}"
    );
    assert_eq!(e["outcome"]["http_status"], json!(201));
    assert!(!e["request_id"].as_str().unwrap().is_empty());
    let props = e["modified_properties"].as_array().unwrap();
    assert!(props.iter().any(|p| p["attribute"] == json!("userName")
        && p["new"] == json!("lena")
        && p["old"].is_null()));
    assert!(props
        .iter()
        .any(|p| p["attribute"] == json!("name.givenName")));
    assert!(e["notes"].to_string().contains("password dropped"));
    assert_eq!(
        e["seat_changes"],
        json!([{"user_id": id, "product": "meeting", "change": "assigned", "source": "rule"}])
    );
    assert_eq!(e["steps"].as_array().unwrap().len(), 4, "{e}");

    // An Entra-style disable: the action says so, the note names the rewrite.
    let patch = json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    app.send(Method::PATCH, &format!("Users/{id}"), Some(patch))
        .await;
    let e = &entries(&app, &admin, "operation=disable").await[0];
    assert_eq!(
        e["modified_properties"],
        json!([{"attribute": "active", "old": true, "new": false}])
    );
    let notes = e["notes"].as_array().unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.as_str().unwrap().contains("\"False\"")),
        "{e}"
    );
    assert_eq!(e["seat_changes"][0]["change"], json!("freed"));

    // The admin's own actions are there too.
    let settings = entries(&app, &admin, "operation=settings").await;
    assert_eq!(settings[0]["actor"], json!("admin:admin"));
    assert_eq!(
        settings[0]["modified_properties"][0]["attribute"],
        json!("default_products")
    );

    // The password never reaches the log.
    let (_, csv) = {
        let url = app
            .base
            .replace("/scim/v2", "/admin/v1/sync-log?format=csv&limit=1000");
        let resp = app
            .client
            .get(url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    assert!(!csv.contains("Sup3r-Secret!"));
    assert!(!log(&app, &admin, "limit=1000")
        .await
        .to_string()
        .contains("Sup3r-Secret!"));
}

async fn failures_say_why_and_what_to_do(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.send(Method::POST, "Users", Some(user("dup"))).await;
    let (s, _) = app.send(Method::POST, "Users", Some(user("dup"))).await;
    assert_eq!(s, 409);
    let e = &entries(&app, &admin, "outcome=failure").await[0];
    assert_eq!(e["action"], json!("create"));
    assert_eq!(e["outcome"]["http_status"], json!(409));
    assert_eq!(e["outcome"]["scim_type"], json!("uniqueness"));
    assert_eq!(e["outcome"]["error_code"], json!("uniqueness"));
    assert!(e["outcome"]["recommended_action"]
        .as_str()
        .unwrap()
        .contains("already exists"));
    assert_eq!(e["user_name"], json!("dup"));

    let (s, _) = app
        .send(
            Method::PATCH,
            "Users/nope",
            Some(json!({"Operations": [{"op": "replace", "path": "title", "value": "x"}]})),
        )
        .await;
    assert_eq!(s, 404);
    let e = &entries(&app, &admin, "outcome=failure&operation=update").await[0];
    assert_eq!(e["outcome"]["error_code"], json!("not_found"));
}

async fn filters_paging_csv_and_reads(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let mut ids = vec![];
    for i in 0..5 {
        let (_, u) = app
            .send(Method::POST, "Users", Some(user(&format!("p{i}"))))
            .await;
        ids.push(u["id"].as_str().unwrap().to_string());
    }
    // Newest first, two at a time, with a cursor.
    let first = log(&app, &admin, "operation=create&limit=2").await;
    let page1 = first["entries"].as_array().unwrap();
    assert_eq!(page1.len(), 2);
    assert_eq!(page1[0]["user_name"], json!("p4"));
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = log(
        &app,
        &admin,
        &format!("operation=create&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(second["entries"][0]["user_name"], json!("p2"));
    let third = log(
        &app,
        &admin,
        &format!(
            "operation=create&limit=2&cursor={}",
            second["next_cursor"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(third["entries"].as_array().unwrap().len(), 1);
    assert!(third["next_cursor"].is_null());

    // By user (id or userName), by connection, by time.
    assert_eq!(entries(&app, &admin, "user=P3").await.len(), 1);
    assert_eq!(
        entries(&app, &admin, &format!("user={}", ids[1]))
            .await
            .len(),
        1
    );
    assert_eq!(
        entries(&app, &admin, "connection=test&operation=create")
            .await
            .len(),
        5
    );
    assert_eq!(entries(&app, &admin, "connection=other").await.len(), 0);
    assert_eq!(
        entries(&app, &admin, "since=2000-01-01&operation=create")
            .await
            .len(),
        5
    );
    assert_eq!(entries(&app, &admin, "until=2000-01-01").await.len(), 0);
    let (s, body) = app
        .admin(&admin, Method::GET, "sync-log?since=yesterday", None)
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["field"], json!("since"));

    // CSV: the same rows.
    let url = app
        .base
        .replace("/scim/v2", "/admin/v1/sync-log?operation=create");
    let resp = app
        .client
        .get(url)
        .bearer_auth(&admin)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = resp.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(rd.headers().unwrap().get(0), Some("at"));
    assert_eq!(rd.records().count(), 5);

    // Reads are logged too (in batches, a moment later).
    app.send(Method::GET, &format!("Users/{}", ids[0]), None)
        .await;
    let mut found = false;
    for _ in 0..50 {
        if !entries(&app, &admin, "operation=read").await.is_empty() {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(found, "the read was logged");
}

crate::on_both_backends!(
    changes_are_logged_with_properties_notes_seats_and_steps,
    failures_say_why_and_what_to_do,
    filters_paging_csv_and_reads,
);
