//! The admin's side through HTTP: CSV import (dry run, report, idempotent re-run), users by
//! hand, reports, retention.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, TestApp};

const CSV: &str = "email,userName,givenName,familyName,products,groups,active
ann@example.com,,Ann,Lee,meeting,Sales;Support,true
bob@example.com,bob,Bob,Ray,,Sales,
not-an-email,,X,Y,,,
cat@example.com,,Cat,Kim,Bad Product,,
dan@example.com,,Dan,Orr,meeting,,false
";

async fn import(app: &TestApp, token: &str, csv: &str, dry_run: bool) -> (u16, Value) {
    let url = app
        .base
        .replace("/scim/v2", &format!("/admin/v1/imports?dry_run={dry_run}"));
    let resp = app
        .client
        .post(url)
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn total_users(app: &TestApp) -> Value {
    app.send(Method::GET, "Users?count=0", None).await.1["totalResults"].clone()
}

async fn import_reports_each_row_and_a_dry_run_writes_nothing(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 10})),
    )
    .await;

    let (s, dry) = import(&app, &admin, CSV, true).await;
    assert_eq!(s, 200, "{dry}");
    assert_eq!(dry["dry_run"], json!(true));
    assert_eq!(
        (dry["created"].clone(), dry["failed"].clone()),
        (json!(3), json!(2)),
        "{dry}"
    );
    let rows = dry["report"].as_array().unwrap();
    assert_eq!(rows[0]["result"], json!("created"));
    assert_eq!(
        rows[0]["seats"],
        json!([{"product": "meeting", "state": "assigned"}])
    );
    assert_eq!(rows[2]["line"], json!(4));
    assert!(rows[2]["reason"].as_str().unwrap().contains("not an email"));
    assert!(rows[3]["reason"].as_str().unwrap().contains("Bad Product"));
    assert_eq!(
        rows[4]["seats"],
        json!([]),
        "an inactive user holds no seat"
    );
    assert_eq!(
        total_users(&app).await,
        json!(0),
        "a dry run writes nothing"
    );
    let (_, groups) = app.send(Method::GET, "Groups?count=0", None).await;
    assert_eq!(groups["totalResults"], json!(0));

    let (s, real) = import(&app, &admin, CSV, false).await;
    assert_eq!(s, 200);
    assert_eq!(
        real["created"], dry["created"],
        "the dry run said what the real run did"
    );
    assert_eq!(real["failed"], dry["failed"]);
    assert_eq!(total_users(&app).await, json!(3));
    let (_, sales) = app
        .send(
            Method::GET,
            // A list carries members only when asked for them.
            "Groups?filter=displayName%20eq%20%22sales%22&attributes=members",
            None,
        )
        .await;
    assert_eq!(
        sales["Resources"][0]["members"].as_array().unwrap().len(),
        2
    );

    // Re-running the same file changes nothing.
    let (_, again) = import(&app, &admin, CSV, false).await;
    assert_eq!(
        (
            again["created"].clone(),
            again["updated"].clone(),
            again["unchanged"].clone()
        ),
        (json!(0), json!(0), json!(3)),
        "{again}"
    );
    let (_, products) = app.admin(&admin, Method::GET, "products", None).await;
    assert_eq!(products["products"][0]["assigned"], json!(1));

    // Changing a name updates that row only.
    let changed = CSV.replace("Bob,Ray", "Robert,Ray");
    let (_, third) = import(&app, &admin, &changed, false).await;
    assert_eq!(
        (third["updated"].clone(), third["unchanged"].clone()),
        (json!(1), json!(2))
    );

    // Every change is in the sync log; failed rows too.
    let (_, log) = app
        .admin(
            &admin,
            Method::GET,
            "sync-log?user=bob&operation=update",
            None,
        )
        .await;
    assert_eq!(
        log["entries"][0]["modified_properties"][0]["attribute"],
        json!("name.givenName")
    );
    let (_, failed) = app
        .admin(&admin, Method::GET, "sync-log?outcome=failure", None)
        .await;
    assert!(failed["entries"].as_array().unwrap().len() >= 2);
}

async fn import_refuses_unknown_columns_and_auditors(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let (s, body) = import(&app, &admin, "email,nickname,colour\na@x.com,a,red\n", true).await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["code"], json!("unknown_columns"));
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("nickname, colour"));
    let (s, body) = import(&app, &admin, "userName\nbob\n", true).await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["field"], json!("email"));

    let auditor = app.admin_token(Role::Auditor).await;
    let (s, _) = import(&app, &auditor, CSV, true).await;
    assert_eq!(s, 200, "an auditor may dry-run");
    let (s, _) = import(&app, &auditor, CSV, false).await;
    assert_eq!(s, 403);
}

async fn users_by_hand_and_reports(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 1})),
    )
    .await;
    let (s, added) = app
        .admin(
            &admin,
            Method::POST,
            "users",
            Some(json!({"email": "eve@example.com", "givenName": "Eve", "products": ["meeting"]})),
        )
        .await;
    assert_eq!(s, 201, "{added}");
    assert_eq!(
        added["seats"],
        json!([{"product": "meeting", "state": "assigned"}])
    );
    let (s, err) = app
        .admin(
            &admin,
            Method::POST,
            "users",
            Some(json!({"email": "x", "shoe": "9"})),
        )
        .await;
    assert_eq!(s, 400, "{err}");
    app.send(Method::POST, "Users", Some(user("fay"))).await;

    let (s, list) = app
        .admin(
            &admin,
            Method::GET,
            "users?filter=userName%20sw%20%22EVE%22",
            None,
        )
        .await;
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["total"], json!(1));
    assert_eq!(list["users"][0]["seats"][0]["product"], json!("meeting"));
    let (s, bad) = app
        .admin(&admin, Method::GET, "users?filter=userName%20eq", None)
        .await;
    assert_eq!(s, 400);
    assert_eq!(bad["error"]["code"], json!("invalid_filter"));

    // Suspend eve: a seat freed in the last 30 days.
    let id = list["users"][0]["id"].as_str().unwrap().to_string();
    app.admin(&admin, Method::POST, &format!("users/{id}/suspend"), None)
        .await;
    let (_, seats) = app.admin(&admin, Method::GET, "reports/seats", None).await;
    assert_eq!(
        seats["rows"][0],
        json!({"product": "meeting", "capacity": 1, "assigned": 0, "free": 1, "waitlisted": 0, "freed_last_30_days": 1,
               "overage_allowed": 0, "overage": 0, "over_since": null})
    );
    let (_, users) = app.admin(&admin, Method::GET, "reports/users", None).await;
    assert_eq!(users["rows"][0], json!({"status": "active", "users": 1}));
    assert_eq!(users["rows"][1], json!({"status": "suspended", "users": 1}));
    let (_, sync) = app.admin(&admin, Method::GET, "reports/sync", None).await;
    assert!(sync["rows"][0]["success"].as_i64().unwrap() >= 1, "{sync}");
    let (s, _) = app
        .admin(&admin, Method::GET, "reports/conflicts", None)
        .await;
    assert_eq!(s, 200);
    let url = app
        .base
        .replace("/scim/v2", "/admin/v1/reports/seats?format=csv");
    let text = app
        .client
        .get(url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        text.lines().next(),
        Some("product,capacity,assigned,free,waitlisted,freed_last_30_days,overage_allowed,overage,over_since")
    );
    // Never over its licenses: no overage, and no date it went over (an empty cell).
    assert_eq!(text.lines().nth(1), Some("meeting,1,0,1,0,1,0,0,"));
    let (s, _) = app.admin(&admin, Method::GET, "reports/nope", None).await;
    assert_eq!(s, 404);

    let (s, _) = app
        .admin(&admin, Method::DELETE, &format!("users/{id}"), None)
        .await;
    assert_eq!(s, 200);
    let (_, list) = app.admin(&admin, Method::GET, "users", None).await;
    assert_eq!(list["total"], json!(1));
}

async fn retention_prunes_old_entries(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PATCH,
        "settings",
        Some(json!({"sync_log_retention_days": 7})),
    )
    .await;
    let mut tx = app.engine.store().write().await.unwrap();
    let old = roster::store::synclog::SyncRow {
        id: "2001-01-01T00:00:00.000Z-old".into(),
        at: "2001-01-01T00:00:00.000Z".into(),
        actor: "test".into(),
        request_id: "r".into(),
        method: "GET".into(),
        path: "/".into(),
        action: "read".into(),
        status: "success".into(),
        http_status: 200,
        notes: "[]".into(),
        changes: "[]".into(),
        seat_changes: "[]".into(),
        steps: "[]".into(),
        ..Default::default()
    };
    let account = app.engine.cli_principal("acme").await.unwrap().account_id;
    tx.insert_sync_log(account, &old).await.unwrap();
    tx.commit().await.unwrap();
    let before = app
        .admin(&admin, Method::GET, "sync-log?limit=1000", None)
        .await
        .1["entries"]
        .as_array()
        .unwrap()
        .len();
    let pruned = app.engine.prune_sync_log().await.unwrap();
    assert_eq!(pruned, 1);
    let after = app
        .admin(&admin, Method::GET, "sync-log?limit=1000", None)
        .await
        .1["entries"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before - 1);
}

/// Reads never take the writer: while a write transaction holds it (on SQLite the only one),
/// admin authentication and every admin and SCIM read still answer at once.
async fn reads_do_not_wait_for_the_writer(app: TestApp) {
    let admin = app.admin_token(Role::Auditor).await;
    let held = app.engine.store().write().await.unwrap();
    for path in [
        "products",
        "settings",
        "rules",
        "conflicts",
        "connections",
        "sync-log",
        "users",
        "reports/seats",
    ] {
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            app.admin(&admin, Method::GET, path, None),
        )
        .await;
        let (status, body) =
            answered.unwrap_or_else(|_| panic!("GET {path} waited for the writer"));
        assert_eq!(status, 200, "GET {path}: {body}");
    }
    let scim = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        app.send(Method::GET, "Users?count=1", None),
    )
    .await;
    assert_eq!(scim.expect("a SCIM read waited for the writer").0, 200);
    drop(held);
}

/// Admin tokens could not be revoked, and `nbf` was not checked.
async fn admin_tokens_can_be_revoked_and_not_yet_valid_ones_are_refused(app: TestApp) {
    let first = app.admin_token(Role::Admin).await;
    let second = app.admin_token(Role::Admin).await;
    let (s, body) = app
        .admin(
            &second,
            Method::POST,
            "admin-tokens/revoke",
            Some(json!({ "token": first })),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        app.admin(&first, Method::GET, "products", None).await.0,
        401
    );
    assert_eq!(
        app.admin(&second, Method::GET, "products", None).await.0,
        200
    );

    let auditor = app.admin_token(Role::Auditor).await;
    let (s, _) = app
        .admin(
            &auditor,
            Method::POST,
            "admin-tokens/revoke",
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(s, 403, "an auditor revokes nothing");
    let (s, _) = app
        .admin(
            &second,
            Method::POST,
            "admin-tokens/revoke",
            Some(json!({"all": true})),
        )
        .await;
    assert_eq!(s, 200);
    for t in [&second, &auditor] {
        let (s, body) = app.admin(t, Method::GET, "products", None).await;
        assert_eq!(s, 401, "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"));
    }
    let fresh = app.admin_token(Role::Admin).await;
    assert_eq!(
        app.admin(&fresh, Method::GET, "products", None).await.0,
        200,
        "a token made right after a revocation of all works"
    );

    let secret = app.engine.ensure_admin_secret().await.unwrap();
    let account_id = app.engine.cli_principal("acme").await.unwrap().account_id;
    let now = chrono::Utc::now().timestamp();
    let early = roster::auth::jwt::issue(
        &secret,
        &roster::auth::jwt::AdminClaims {
            sub: "admin".into(),
            account: "acme".into(),
            account_id,
            role: Role::Admin,
            iss: roster::auth::jwt::ISSUER.into(),
            aud: roster::auth::jwt::AUDIENCE.into(),
            iat: now + 3600,
            nbf: now + 3600,
            exp: now + 7200,
            jti: "future".into(),
        },
    )
    .unwrap();
    assert_eq!(
        app.admin(&early, Method::GET, "products", None).await.0,
        401
    );
}

crate::on_both_backends!(
    admin_tokens_can_be_revoked_and_not_yet_valid_ones_are_refused,
    reads_do_not_wait_for_the_writer,
    import_reports_each_row_and_a_dry_run_writes_nothing,
    import_refuses_unknown_columns_and_auditors,
    users_by_hand_and_reports,
    retention_prunes_old_entries,
);
