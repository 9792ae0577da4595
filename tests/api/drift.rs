//! Drift: `last_seen_by_idp` on users and groups (set by a connection's create, replace,
//! patch and, at most once an hour, GET by id; never by an admin), and the drift report's
//! findings appearing and leaving as the test clock moves.

use chrono::Duration;
use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, TestApp};

async fn setup(app: &TestApp) -> String {
    let admin = app.admin_token(Role::Admin).await;
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 10})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app
        .admin(
            &admin,
            Method::PATCH,
            "settings",
            Some(json!({"default_products": ["meeting"]})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    admin
}

async fn create(app: &TestApp, token: &str, name: &str) -> String {
    let (s, u) = app
        .send_as(token, Method::POST, "Users", Some(user(name)))
        .await;
    assert_eq!(s, 201, "{u}");
    u["id"].as_str().unwrap().to_string()
}

/// The drift report's rows.
async fn drift(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let (s, body) = app
        .admin(admin, Method::GET, &format!("reports/drift{query}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["report"], json!("drift"), "{body}");
    body["rows"].as_array().unwrap().clone()
}

/// The ids (or connection names) the report lists under `kind`.
fn listed(rows: &[Value], kind: &str) -> Vec<String> {
    rows.iter()
        .filter(|r| r["kind"] == json!(kind))
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// A user as `GET /admin/v1/users` shows it.
async fn admin_view(app: &TestApp, admin: &str, name: &str) -> Value {
    let filter = format!("userName eq \"{name}\"");
    let (s, body) = app
        .admin(
            admin,
            Method::GET,
            &format!("users?filter={}", urlencoding(&filter)),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    body["users"][0].clone()
}

fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Waits until the batched writer has written `n` read entries of the connection `test`
/// (the marks of `last_seen_by_idp` commit with them).
async fn reads_written(app: &TestApp, admin: &str, n: usize) {
    for _ in 0..200 {
        let (s, body) = app
            .admin(
                admin,
                Method::GET,
                "sync-log?operation=read&connection=test&limit=1000",
                None,
            )
            .await;
        assert_eq!(s, 200, "{body}");
        if body["entries"].as_array().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the batched writer never wrote {n} read entries");
}

async fn get_by_idp(app: &TestApp, kind: &str, id: &str) {
    let (s, body) = app.send(Method::GET, &format!("{kind}/{id}"), None).await;
    assert_eq!(s, 200, "{body}");
}

fn parse(t: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

async fn users_drift_in_and_out_as_the_clock_moves(app: TestApp) {
    let admin = setup(&app).await;
    let token = app.token.clone();
    let ann = create(&app, &token, "ann").await;
    // Bob is added by an admin: no identity provider has ever touched him.
    let (s, bob) = app
        .admin(
            &admin,
            Method::POST,
            "users",
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    assert_eq!(s, 201, "{bob}");
    let bob = bob["user_id"].as_str().unwrap().to_string();

    let seen = admin_view(&app, &admin, "ann").await;
    assert!(
        seen["last_seen_by_idp"].is_string(),
        "the identity provider created ann: {seen}"
    );
    let bob_view = admin_view(&app, &admin, "bob@example.com").await;
    assert_eq!(bob_view["last_seen_by_idp"], Value::Null, "{bob_view}");
    // The console's users page shows it too: a time for ann, "never" for bob.
    let session = app.console(Role::Auditor).await;
    let page = app
        .console_req(&session, Method::GET, "/console/users")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Last seen by IdP"), "{page}");
    let at = seen["last_seen_by_idp"].as_str().unwrap();
    assert!(page.contains(&format!("datetime=\"{at}\"")), "{page}");
    assert!(page.contains(">never<"), "{page}");

    let rows = drift(&app, &admin, "").await;
    assert_eq!(
        listed(&rows, "unmanaged_seats"),
        vec![bob.clone()],
        "{rows:?}"
    );
    let row = rows.iter().find(|r| r["id"] == json!(bob)).unwrap();
    assert_eq!(row["name"], json!("bob@example.com"), "{row}");
    assert_eq!(row["products"], json!("meeting"), "{row}");
    assert_eq!(row["last_seen"], Value::Null, "{row}");
    assert!(row["detail"].as_str().unwrap().contains("ever"), "{row}");

    // A month passes: ann has not been touched in 30 days; a longer limit still keeps her.
    app.clock.advance(Duration::days(31));
    let rows = drift(&app, &admin, "?days=30").await;
    let mut expected = vec![ann.clone(), bob.clone()];
    expected.sort();
    let mut got = listed(&rows, "unmanaged_seats");
    got.sort();
    assert_eq!(got, expected, "{rows:?}");
    assert_eq!(
        listed(&drift(&app, &admin, "?days=60").await, "unmanaged_seats"),
        vec![bob.clone()]
    );

    // An admin's change is not the identity provider's: ann stays on the list.
    for action in ["suspend", "reactivate"] {
        let (s, body) = app
            .admin(&admin, Method::POST, &format!("users/{ann}/{action}"), None)
            .await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(
            body["user"]["last_seen_by_idp"], seen["last_seen_by_idp"],
            "an admin's {action} does not move last_seen_by_idp: {body}"
        );
    }
    assert!(listed(&drift(&app, &admin, "").await, "unmanaged_seats").contains(&ann));

    // The identity provider changes ann: she leaves the list.
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Ann"}]
    });
    let (s, body) = app
        .send(Method::PATCH, &format!("Users/{ann}"), Some(patch))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        listed(&drift(&app, &admin, "").await, "unmanaged_seats"),
        vec![bob.clone()]
    );

    // The identity provider reads bob by id (as Okta does before it matches a user): he
    // leaves the list too, once the batched writer has written the read.
    get_by_idp(&app, "Users", &bob).await;
    reads_written(&app, &admin, 1).await;
    assert!(
        listed(&drift(&app, &admin, "").await, "unmanaged_seats").is_empty(),
        "a read by id counts as the identity provider's"
    );
    let bob_view = admin_view(&app, &admin, "bob@example.com").await;
    assert!(bob_view["last_seen_by_idp"].is_string(), "{bob_view}");

    // A replace (PUT) counts as well, after another month.
    app.clock.advance(Duration::days(31));
    let (s, body) = app
        .send(Method::PUT, &format!("Users/{ann}"), Some(user("ann")))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        listed(&drift(&app, &admin, "").await, "unmanaged_seats"),
        vec![bob.clone()]
    );

    // The same rows as CSV, with the kind first and empty cells for what does not apply.
    let resp = app
        .client
        .get(format!("{}/admin/v1/reports/drift?format=csv", app.root()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let csv = resp.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("kind,id,name,last_seen,products,members,usual_interval_minutes,detail")
    );
    let line = lines.next().unwrap();
    assert!(
        line.starts_with(&format!("unmanaged_seats,{bob},bob@example.com,")),
        "{csv}"
    );
    assert!(line.contains(",meeting,,,"), "{csv}");
}

async fn days_must_be_a_whole_number_of_days(app: TestApp) {
    let admin = app.admin_token(Role::Auditor).await;
    for bad in ["0", "-3", "3651", "thirty", "1.5", "%00"] {
        let (s, body) = app
            .admin(
                &admin,
                Method::GET,
                &format!("reports/drift?days={bad}"),
                None,
            )
            .await;
        assert_eq!(s, 400, "days={bad}: {body}");
        assert_eq!(body["error"]["code"], json!("invalid_value"), "{body}");
        assert_eq!(body["error"]["field"], json!("days"), "{body}");
    }
    // An auditor reads the report.
    for good in ["1", "3650", ""] {
        let (s, body) = app
            .admin(
                &admin,
                Method::GET,
                &format!("reports/drift?days={good}"),
                None,
            )
            .await;
        assert_eq!(s, 200, "days={good}: {body}");
    }
}

async fn a_read_by_id_marks_at_most_once_an_hour(app: TestApp) {
    let admin = setup(&app).await;
    let ann = create(&app, &app.token.clone(), "ann").await;
    let (s, group) = app
        .send(
            Method::POST,
            "Groups",
            Some(json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Sales"
            })),
        )
        .await;
    assert_eq!(s, 201, "{group}");
    let group = group["id"].as_str().unwrap().to_string();
    let created = admin_view(&app, &admin, "ann").await["last_seen_by_idp"].clone();
    let created_at = parse(&created);
    let group_created = group_seen(&app, &group).await.unwrap();

    // Half an hour later, reads change nothing.
    app.clock.advance(Duration::minutes(30));
    get_by_idp(&app, "Users", &ann).await;
    get_by_idp(&app, "Users", &ann).await;
    get_by_idp(&app, "Groups", &group).await;
    reads_written(&app, &admin, 3).await;
    assert_eq!(
        admin_view(&app, &admin, "ann").await["last_seen_by_idp"],
        created
    );
    assert_eq!(group_seen(&app, &group).await.unwrap(), group_created);

    // Past the hour, the next read marks it (once: the reads after it change nothing).
    app.clock.advance(Duration::minutes(31));
    get_by_idp(&app, "Users", &ann).await;
    get_by_idp(&app, "Groups", &group).await;
    reads_written(&app, &admin, 5).await;
    let marked = admin_view(&app, &admin, "ann").await["last_seen_by_idp"].clone();
    let marked_at = parse(&marked);
    assert!(
        marked_at - created_at >= Duration::minutes(61),
        "{created} -> {marked}"
    );
    assert_ne!(group_seen(&app, &group).await.unwrap(), group_created);
    app.clock.advance(Duration::minutes(20));
    get_by_idp(&app, "Users", &ann).await;
    reads_written(&app, &admin, 6).await;
    assert_eq!(
        admin_view(&app, &admin, "ann").await["last_seen_by_idp"],
        marked
    );
    // The SCIM resource itself does not change: no new version for a read.
    let (_, u) = app.send(Method::GET, &format!("Users/{ann}"), None).await;
    assert_eq!(u["meta"]["version"], json!("W/\"1\""), "{u}");
}

/// A group's `last_seen_by_idp`, read straight from the database.
async fn group_seen(app: &TestApp, id: &str) -> Option<String> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    // The id is a UUID Roster made.
    assert!(id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    let row = sqlx::query(&format!(
        "SELECT last_seen_by_idp FROM scim_groups WHERE id = '{id}'"
    ))
    .fetch_one(&db)
    .await
    .unwrap();
    let seen: Option<String> = row.try_get(0).unwrap();
    db.close().await;
    seen
}

async fn a_suspended_user_holding_manual_seats_is_listed(app: TestApp) {
    let admin = setup(&app).await;
    // Webinar is no default product: carl holds it because an admin gave it (`manual`).
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/webinar",
            Some(json!({"seats": 5})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, carl) = app
        .admin(
            &admin,
            Method::POST,
            "users",
            Some(json!({"email": "carl@example.com", "products": ["webinar"]})),
        )
        .await;
    assert_eq!(s, 201, "{carl}");
    let carl = carl["user_id"].as_str().unwrap().to_string();
    assert!(listed(&drift(&app, &admin, "").await, "suspended_manual_seats").is_empty());

    // Roster frees every seat of a user it suspends; a suspended user with an admin's seat
    // comes from data written otherwise (before that rule, or by hand), made here in SQL.
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    assert!(carl.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    sqlx::query(&format!("UPDATE users SET active = 0 WHERE id = '{carl}'"))
        .execute(&db)
        .await
        .unwrap();
    db.close().await;

    let rows = drift(&app, &admin, "").await;
    assert_eq!(
        listed(&rows, "suspended_manual_seats"),
        vec![carl.clone()],
        "{rows:?}"
    );
    let row = rows
        .iter()
        .find(|r| r["kind"] == json!("suspended_manual_seats"))
        .unwrap();
    assert_eq!(row["products"], json!("webinar"), "{row}");
    assert_eq!(row["name"], json!("carl@example.com"), "{row}");

    // Deleting the user frees the seat: the entry leaves.
    let (s, body) = app
        .admin(&admin, Method::DELETE, &format!("users/{carl}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    let rows = drift(&app, &admin, "").await;
    assert!(
        listed(&rows, "suspended_manual_seats").is_empty(),
        "{rows:?}"
    );
    assert!(listed(&rows, "unmanaged_seats").is_empty(), "{rows:?}");
}

async fn groups_no_rule_uses_are_listed(app: TestApp) {
    let admin = setup(&app).await;
    let ann = create(&app, &app.token.clone(), "ann").await;
    let mut ids = vec![];
    for (name, members) in [
        ("Sales", vec![ann.clone()]),
        ("Support", vec![]),
        ("Eng", vec![ann.clone()]),
    ] {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        let (s, g) = app
            .send(
                Method::POST,
                "Groups",
                Some(json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name,
                    "members": members
                })),
            )
            .await;
        assert_eq!(s, 201, "{g}");
        ids.push(g["id"].as_str().unwrap().to_string());
    }
    let (sales, support, eng) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    let mut all = ids.clone();
    all.sort();
    let mut unused = listed(&drift(&app, &admin, "").await, "unused_group");
    unused.sort();
    assert_eq!(unused, all, "no rule yet");

    let (s, rule) = app
        .admin(
            &admin,
            Method::POST,
            "rules",
            Some(json!({"product": "meeting", "group": sales})),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            "rules",
            Some(json!({"product": "meeting", "filter": format!("groups.value eq \"{support}\"")})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let rows = drift(&app, &admin, "").await;
    assert_eq!(listed(&rows, "unused_group"), vec![eng.clone()], "{rows:?}");
    let row = rows.iter().find(|r| r["id"] == json!(eng)).unwrap();
    assert_eq!(row["name"], json!("Eng"), "{row}");
    assert_eq!(row["members"], json!(1), "{row}");
    assert!(
        row["last_seen"].is_string(),
        "the identity provider made it: {row}"
    );

    // The group rule goes: Sales is unused again.
    let rule_id = rule["id"].as_str().unwrap();
    let (s, body) = app
        .admin(&admin, Method::DELETE, &format!("rules/{rule_id}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    let mut unused = listed(&drift(&app, &admin, "").await, "unused_group");
    unused.sort();
    let mut expected = vec![sales, eng];
    expected.sort();
    assert_eq!(unused, expected);
}

/// A sync cycle of a connection: a few requests in the same minute.
async fn cycle(app: &TestApp, token: &str) {
    for _ in 0..3 {
        let (s, body) = app.send_as(token, Method::GET, "Users?count=1", None).await;
        assert_eq!(s, 200, "{body}");
    }
}

/// Waits until the connection's latest entry is written (reads go through a batch).
async fn settled(app: &TestApp, admin: &str, connection: &str, entries: usize) {
    for _ in 0..200 {
        let (_, body) = app
            .admin(
                admin,
                Method::GET,
                &format!("sync-log?connection={connection}&limit=1000"),
                None,
            )
            .await;
        if body["entries"].as_array().map_or(0, Vec::len) >= entries {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{connection}'s entries were never written");
}

async fn connections_silent_past_twice_their_usual_interval(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let mut tokens = vec![];
    for name in ["okta", "jumpcloud", "spare"] {
        let (s, made) = app
            .admin(
                &admin,
                Method::POST,
                "connections",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s, 201, "{made}");
        tokens.push(made["token"].as_str().unwrap().to_string());
    }
    let (okta, jumpcloud) = (tokens[0].clone(), tokens[1].clone());

    // Okta syncs every 40 minutes, five cycles; JumpCloud has sent one request.
    for i in 0..5 {
        if i > 0 {
            app.clock.advance(Duration::minutes(40));
        }
        cycle(&app, &okta).await;
    }
    cycle(&app, &jumpcloud).await;
    settled(&app, &admin, "okta", 15).await;
    settled(&app, &admin, "jumpcloud", 3).await;
    assert!(
        listed(&drift(&app, &admin, "").await, "silent_connection").is_empty(),
        "nobody is silent yet"
    );

    // 79 minutes: within two intervals. 81: past them.
    app.clock.advance(Duration::minutes(79));
    assert!(listed(&drift(&app, &admin, "").await, "silent_connection").is_empty());
    app.clock.advance(Duration::minutes(2));
    let rows = drift(&app, &admin, "").await;
    assert_eq!(listed(&rows, "silent_connection"), vec!["okta"], "{rows:?}");
    let row = rows.iter().find(|r| r["id"] == json!("okta")).unwrap();
    assert_eq!(row["usual_interval_minutes"], json!(40), "{row}");
    assert!(row["last_seen"].is_string(), "{row}");
    assert!(
        row["detail"].as_str().unwrap().contains("every 40 minutes"),
        "{row}"
    );

    // Too little history to know an interval: the report's days decide, as for users; a
    // connection that never sent anything counts from when it was made.
    app.clock.advance(Duration::days(8));
    let rows = drift(&app, &admin, "?days=7").await;
    let mut silent = listed(&rows, "silent_connection");
    silent.sort();
    assert_eq!(
        silent,
        vec!["jumpcloud", "okta", "spare", "test"],
        "{rows:?}"
    );
    let row = rows.iter().find(|r| r["id"] == json!("jumpcloud")).unwrap();
    assert_eq!(row["usual_interval_minutes"], Value::Null, "{row}");
    let row = rows.iter().find(|r| r["id"] == json!("spare")).unwrap();
    assert_eq!(row["last_seen"], Value::Null, "{row}");
    assert_eq!(
        listed(&drift(&app, &admin, "?days=30").await, "silent_connection"),
        vec!["okta"]
    );

    // A revoked connection is meant to be silent; one that syncs again is not.
    let (s, body) = app
        .admin(&admin, Method::DELETE, "connections/spare", None)
        .await;
    assert_eq!(s, 200, "{body}");
    cycle(&app, &okta).await;
    settled(&app, &admin, "okta", 18).await;
    let mut silent = listed(&drift(&app, &admin, "?days=7").await, "silent_connection");
    silent.sort();
    assert_eq!(silent, vec!["jumpcloud", "test"]);
}

crate::on_both_backends!(
    users_drift_in_and_out_as_the_clock_moves,
    days_must_be_a_whole_number_of_days,
    a_read_by_id_marks_at_most_once_an_hour,
    a_suspended_user_holding_manual_seats_is_listed,
    groups_no_rule_uses_are_listed,
    connections_silent_past_twice_their_usual_interval,
);
