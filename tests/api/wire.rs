//! Filter shapes identity providers send beyond RFC 7644's ABNF, through HTTP: unquoted
//! values (Microsoft's reference collection, older clients) and a value path followed by a
//! sub-attribute and a comparison (Entra), read as the RFC would write them, each with a note
//! in the request's sync-log entry.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, TestApp};

/// `filter` as a query string value: the characters a filter holds that a URL cannot.
fn query(filter: &str) -> String {
    let mut out = String::new();
    for c in filter.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '"' => out.push_str("%22"),
            '[' => out.push_str("%5B"),
            ']' => out.push_str("%5D"),
            '@' => out.push_str("%40"),
            '+' => out.push_str("%2B"),
            ':' => out.push_str("%3A"),
            '\\' => out.push_str("%5C"),
            c => out.push(c),
        }
    }
    out
}

/// The ids a `GET /Users?filter=...` finds, sorted; panics unless it answers 200.
async fn found(app: &TestApp, filter: &str) -> Vec<String> {
    let (status, body) = app
        .send(
            Method::GET,
            &format!("Users?filter={}", query(filter)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{filter}: {body}");
    ids(&body)
}

fn ids(list: &Value) -> Vec<String> {
    let mut ids: Vec<String> = list["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|u| u["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

async fn create(app: &TestApp, body: Value) -> String {
    let (status, created) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

async fn unquoted_values_are_read_as_strings(app: TestApp) {
    let bjensen = create(&app, user("bjensen")).await;
    let mut omalley = user("omalley");
    omalley["name"] = json!({"familyName": "Employee"});
    let omalley = create(&app, omalley).await;

    assert_eq!(
        found(&app, "userName eq bjensen").await,
        vec![bjensen.clone()]
    );
    assert_eq!(found(&app, "userName sw O").await, vec![omalley.clone()]);
    assert_eq!(
        found(&app, "emails[type eq work]").await,
        sorted(vec![bjensen.clone(), omalley.clone()])
    );
    assert_eq!(
        found(&app, "emails[type eq work and value co bjensen]").await,
        vec![bjensen.clone()]
    );
    // Microsoft's reference collection, as it sends them.
    assert_eq!(
        found(
            &app,
            "name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)"
        )
        .await,
        vec![omalley.clone()]
    );
    assert_eq!(
        found(&app, "meta.Created gt 2015-10-10T14:38:21.8617979-07:00").await,
        sorted(vec![bjensen.clone(), omalley.clone()])
    );
    // true, false and numbers keep their meaning.
    assert_eq!(
        found(&app, "active eq true").await,
        sorted(vec![bjensen.clone(), omalley.clone()])
    );
    assert!(found(&app, "active eq false").await.is_empty());
    // The same through POST .search.
    let (status, body) = app
        .send(
            Method::POST,
            "Users/.search",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                "filter": "userName eq BJENSEN"
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), vec![bjensen.clone()]);

    // What stays refused says where.
    for (filter, offset) in [
        ("userName eq Barbara Jensen", 20),
        ("userName eq bj\"ensen", 14),
        ("userName eq and active eq true", 12),
        ("userName eq ", 11),
    ] {
        let (status, body) = app
            .send(
                Method::GET,
                &format!("Users?filter={}", query(filter)),
                None,
            )
            .await;
        assert_eq!(status, 400, "{filter}: {body}");
        assert_eq!(body["scimType"], json!("invalidFilter"), "{body}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&format!("at byte {offset}")),
            "{filter}: {detail}"
        );
    }
}

async fn a_value_path_then_a_comparison_finds_by_work_email(app: TestApp) {
    let work = create(
        &app,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "alex",
            "emails": [
                {"value": "x@contoso.com", "type": "work", "primary": true},
                {"value": "alex@home.example", "type": "home"}
            ]
        }),
    )
    .await;
    // The same address, but as a home email: reading the filter as two independent tests
    // ("some work email" and "some email is x@contoso.com") would find this user too.
    let home = create(
        &app,
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "blake",
            "emails": [
                {"value": "blake@contoso.com", "type": "work", "primary": true},
                {"value": "x@contoso.com", "type": "home"}
            ]
        }),
    )
    .await;

    assert_eq!(
        found(&app, r#"emails[type eq "work"].value eq "x@contoso.com""#).await,
        vec![work.clone()]
    );
    assert_eq!(
        found(&app, "emails[type eq work].value eq x@contoso.com").await,
        vec![work.clone()]
    );
    assert_eq!(
        found(&app, r#"emails[type eq "home"].value ew "@contoso.com""#).await,
        vec![home.clone()]
    );
    assert_eq!(
        found(&app, r#"emails[type eq "work"].value pr"#).await,
        sorted(vec![work.clone(), home.clone()])
    );
    assert!(found(&app, r#"emails[type eq "other"].value pr"#)
        .await
        .is_empty());
    assert_eq!(
        found(
            &app,
            r#"not (emails[type eq "work"].value eq "x@contoso.com") and userName sw "b""#
        )
        .await,
        vec![home.clone()]
    );
    // A value path followed by a sub-attribute and nothing else is still refused.
    let (status, body) = app
        .send(
            Method::GET,
            &format!("Users?filter={}", query(r#"emails[type eq "work"].value"#)),
            None,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["scimType"], json!("invalidFilter"), "{body}");
}

/// The newest entries of one action, waiting for reads, which are written in batches.
async fn logged(app: &TestApp, admin: &str, operation: &str, wanted: &str) -> Value {
    for _ in 0..100 {
        let (status, body) = app
            .admin(
                admin,
                Method::GET,
                &format!("sync-log?operation={operation}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let hit = body["entries"].as_array().and_then(|es| {
            es.iter()
                .find(|e| e["notes"].to_string().contains(wanted))
                .cloned()
        });
        if let Some(e) = hit {
            return e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no {operation} entry with a note containing {wanted:?}");
}

async fn the_notes_reach_the_sync_log(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let id = create(&app, user("bjensen")).await;

    // A list request's entry.
    found(&app, "userName eq bjensen").await;
    let e = logged(
        &app,
        &admin,
        "list",
        r#"filter value bjensen was unquoted; read as the string \"bjensen\""#,
    )
    .await;
    assert_eq!(e["outcome"]["http_status"], json!(200), "{e}");
    found(
        &app,
        r#"emails[type eq "work"].value eq "bjensen@example.com""#,
    )
    .await;
    logged(
        &app,
        &admin,
        "list",
        r#"is not RFC 7644 syntax; read as emails[(type eq \"work\" and value eq \"bjensen@example.com\")]"#,
    )
    .await;

    // A PATCH path's value filter, in the write's entry.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "emails[type eq work].value", "value": "bj@example.com"}]
    });
    let (status, body) = app
        .send(Method::PATCH, &format!("Users/{id}"), Some(patch))
        .await;
    assert!(status == 200 || status == 204, "{body}");
    let (_, read) = app.send(Method::GET, &format!("Users/{id}"), None).await;
    assert_eq!(
        read["emails"][0]["value"],
        json!("bj@example.com"),
        "{read}"
    );
    logged(
        &app,
        &admin,
        "update",
        r#"filter value work was unquoted; read as the string \"work\""#,
    )
    .await;

    // A seat rule's filter, in the rule's entry; the rule then works like the quoted one.
    let (status, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/support",
            Some(json!({"seats": 5})),
        )
        .await;
    assert!((200..300).contains(&status), "{body}");
    let (status, body) = app
        .admin(
            &admin,
            Method::POST,
            "rules",
            Some(json!({"product": "support", "filter": "userName eq bjensen"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let changes = body["seat_changes"].as_array().cloned().unwrap_or_default();
    assert_eq!(changes.len(), 1, "{body}");
    assert_eq!(changes[0]["user_id"], json!(id), "{body}");
    assert_eq!(changes[0]["change"], json!("assigned"), "{body}");
    logged(
        &app,
        &admin,
        "rule",
        r#"filter value bjensen was unquoted; read as the string \"bjensen\""#,
    )
    .await;
}

crate::on_both_backends!(
    unquoted_values_are_read_as_strings,
    a_value_path_then_a_comparison_finds_by_work_email,
    the_notes_reach_the_sync_log,
);
