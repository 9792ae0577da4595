//! Lifecycle safety through HTTP: what an identity provider's DELETE means
//! (`delete_action`), the purge of long-suspended users (`purge_suspended_after_days`, run
//! through the engine with a moved clock), and the mass-deprovisioning guard
//! (`deprovision_guard`): held changes, holds released and discarded, their sync-log entries,
//! and the seat counters after each.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{patch_settings as settings, seat_pool, user, TestApp, ROSTER_USER as EXT};

const WITH_EXT: &str =
    "attributes=userName,active,urn:roster:params:scim:schemas:extension:2.0:User";

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A `meeting` pool of `seats` licenses that every active user gets; the admin's token.
async fn setup(app: &TestApp, seats: i64) -> String {
    seat_pool(app, "meeting", seats).await
}

async fn create(app: &TestApp, name: &str) -> String {
    let (s, u) = app.send(Method::POST, "Users", Some(user(name))).await;
    assert_eq!(s, 201, "{u}");
    u["id"].as_str().unwrap().to_string()
}

fn active(value: bool) -> Option<Value> {
    Some(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "active", "value": if value { "True" } else { "False" }}]}),
    )
}

/// The identity provider deactivates a user (Entra's PATCH): its answer.
async fn deactivate(app: &TestApp, id: &str) -> (u16, Value) {
    app.send(
        Method::PATCH,
        &format!("Users/{id}?{WITH_EXT}"),
        active(false),
    )
    .await
}

async fn idp_delete(app: &TestApp, id: &str) -> u16 {
    app.send(Method::DELETE, &format!("Users/{id}"), None)
        .await
        .0
}

/// The users an admin finds by userName (a user the identity provider deleted and a newer
/// one may share it), oldest first.
async fn admin_users(app: &TestApp, admin: &str, name: &str) -> Vec<Value> {
    let filter = urlencode(&format!("userName eq \"{name}\""));
    let (s, body) = app
        .admin(admin, Method::GET, &format!("users?filter={filter}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    body["users"].as_array().unwrap().clone()
}

/// The one user an admin finds by userName.
async fn admin_user(app: &TestApp, admin: &str, name: &str) -> Value {
    let found = admin_users(app, admin, name).await;
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// A user's meeting seat as the admin sees it: `assigned`, `waitlisted` or none.
fn seat(u: &Value) -> Option<String> {
    u["seats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["product"] == json!("meeting"))
        .map(|s| s["state"].as_str().unwrap().to_string())
}

async fn seat_of(app: &TestApp, admin: &str, name: &str) -> Option<String> {
    seat(&admin_user(app, admin, name).await)
}

/// The sync log's entries of one action about a user (or a hold), newest first.
async fn log_of(app: &TestApp, admin: &str, who: &str, action: &str) -> Vec<Value> {
    let (s, body) = app
        .admin(
            admin,
            Method::GET,
            &format!("sync-log?user={}&operation={action}", urlencode(who)),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

async fn holds(app: &TestApp, admin: &str) -> Vec<Value> {
    let (s, body) = app.admin(admin, Method::GET, "holds", None).await;
    assert_eq!(s, 200, "{body}");
    body["holds"].as_array().unwrap().clone()
}

async fn open_conflicts(app: &TestApp, admin: &str, kind: &str) -> Vec<Value> {
    let (s, body) = app
        .admin(admin, Method::GET, "conflicts?status=open", None)
        .await;
    assert_eq!(s, 200, "{body}");
    body["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == json!(kind))
        .cloned()
        .collect()
}

/// Every pool counter against its rows, in SQL: `assigned` equals the assigned seat rows,
/// and nobody waits while a seat is free.
async fn assert_counters_match_rows(app: &TestApp) {
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    let rows = sqlx::query(
        "SELECT p.name, p.capacity, p.assigned, \
         (SELECT COUNT(*) FROM seats s WHERE s.account_id = p.account_id AND s.product = p.name AND s.state = 'assigned'), \
         (SELECT COUNT(*) FROM seats s WHERE s.account_id = p.account_id AND s.product = p.name AND s.state = 'waitlisted') \
         FROM products p ORDER BY p.name",
    )
    .fetch_all(&db)
    .await
    .unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        let (name, capacity, assigned, held, waiting): (String, i64, i64, i64, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        assert_eq!(
            assigned, held,
            "{name}: counter {assigned}, {held} rows assigned"
        );
        assert!(
            waiting == 0 || assigned >= capacity,
            "{name}: {waiting} wait while {} seats are free",
            capacity - assigned
        );
    }
    db.close().await;
}

async fn delete_action_delete_removes_the_user(app: TestApp) {
    let admin = setup(&app, 1).await;
    let a = create(&app, "ann").await;
    create(&app, "bob").await;
    assert_eq!(
        seat_of(&app, &admin, "bob").await.as_deref(),
        Some("waitlisted")
    );

    assert_eq!(idp_delete(&app, &a).await, 204);
    let (s, _) = app.send(Method::GET, &format!("Users/{a}"), None).await;
    assert_eq!(s, 404);
    assert!(admin_users(&app, &admin, "ann").await.is_empty());
    assert_eq!(
        seat_of(&app, &admin, "bob").await.as_deref(),
        Some("assigned")
    );
    // A later POST of the same userName is a new user.
    let again = create(&app, "ann").await;
    assert_ne!(again, a);
    assert_eq!(
        log_of(&app, &admin, &a, "delete").await[0]["status"],
        json!("success")
    );
    assert_counters_match_rows(&app).await;
}

async fn delete_action_suspend_keeps_the_user_for_admins(app: TestApp) {
    let admin = setup(&app, 1).await;
    let body = settings(&app, &admin, json!({"delete_action": "suspend"})).await;
    assert_eq!(body["delete_action"], json!("suspend"));
    let a = create(&app, "ann").await;
    create(&app, "bob").await;
    let (s, g) = app
        .send(
            Method::POST,
            "Groups",
            Some(json!({"displayName": "sales", "members": [{"value": a}]})),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let group = g["id"].as_str().unwrap().to_string();

    // The identity provider deletes ann: 204, and she is gone for it.
    assert_eq!(idp_delete(&app, &a).await, 204);
    let (s, body) = app.send(Method::GET, &format!("Users/{a}"), None).await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(body["status"], json!("404"));
    let filter = urlencode("userName eq \"ann\"");
    let (_, list) = app
        .send(Method::GET, &format!("Users?filter={filter}"), None)
        .await;
    assert_eq!(list["totalResults"], json!(0), "{list}");
    let (_, all) = app.send(Method::GET, "Users", None).await;
    assert_eq!(all["totalResults"], json!(1), "{all}");
    let (s, _) = app
        .send(Method::PATCH, &format!("Users/{a}"), active(true))
        .await;
    assert_eq!(s, 404);
    assert_eq!(
        idp_delete(&app, &a).await,
        404,
        "a second DELETE finds nothing"
    );
    let (_, g) = app
        .send(Method::GET, &format!("Groups/{group}"), None)
        .await;
    assert!(g.get("members").is_none(), "taken out of its groups: {g}");

    // Admins still see her: suspended, deleted by the identity provider, no seat; bob got it.
    let ann = admin_user(&app, &admin, "ann").await;
    assert_eq!(ann["status"], json!("deleted_by_idp"), "{ann}");
    assert!(ann["deleted_by_idp"].is_string() && ann["suspended_since"].is_string());
    assert_eq!(seat(&ann), None);
    assert_eq!(
        seat_of(&app, &admin, "bob").await.as_deref(),
        Some("assigned")
    );
    let deletes = log_of(&app, &admin, &a, "delete").await;
    let entry = &deletes[deletes.len() - 1];
    assert_eq!(entry["status"], json!("success"), "{entry}");
    assert_eq!(entry["actor"], json!("connection:test"));
    assert!(
        entry["steps"].to_string().contains("suspended and kept"),
        "{entry}"
    );
    assert!(
        entry["seat_changes"].to_string().contains("freed"),
        "{entry}"
    );
    let filter = urlencode("status eq \"deleted_by_idp\"");
    let (_, found) = app
        .admin(&admin, Method::GET, &format!("users?filter={filter}"), None)
        .await;
    assert_eq!(found["total"], json!(1), "{found}");

    // The identity provider may create ann again: a new user, with a seat when one frees.
    let again = create(&app, "ann").await;
    assert_ne!(again, a);
    let both = admin_users(&app, &admin, "ann").await;
    let states: Vec<&Value> = both.iter().map(|u| &u["status"]).collect();
    assert_eq!(states.len(), 2);
    assert!(states.contains(&&json!("deleted_by_idp")) && states.contains(&&json!("active")));
    let (s, _) = app.send(Method::GET, &format!("Users/{again}"), None).await;
    assert_eq!(s, 200);

    // Reactivating the old ann while the new one holds her userName is refused; once the
    // new one is gone, she is back, for the identity provider too.
    let (s, body) = app
        .admin(&admin, Method::POST, &format!("users/{a}/reactivate"), None)
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], json!("uniqueness"));
    let (s, body) = app
        .admin(&admin, Method::DELETE, &format!("users/{again}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app
        .admin(&admin, Method::POST, &format!("users/{a}/reactivate"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"]["status"], json!("active"));
    let (s, _) = app.send(Method::GET, &format!("Users/{a}"), None).await;
    assert_eq!(s, 200);

    // A group's DELETE stays a delete.
    let (s, _) = app
        .send(Method::DELETE, &format!("Groups/{group}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .send(Method::GET, &format!("Groups/{group}"), None)
        .await;
    assert_eq!(s, 404);
    assert_counters_match_rows(&app).await;
}

async fn suspended_users_are_purged_after_the_days_set(app: TestApp) {
    let admin = setup(&app, 5).await;
    let body = settings(
        &app,
        &admin,
        json!({"purge_suspended_after_days": 30, "delete_action": "suspend"}),
    )
    .await;
    assert_eq!(body["purge_suspended_after_days"], json!(30));
    let a = create(&app, "ann").await;
    let b = create(&app, "bob").await;
    create(&app, "cat").await;
    let (s, _) = deactivate(&app, &a).await;
    assert_eq!(s, 200);
    assert_eq!(idp_delete(&app, &b).await, 204);

    app.clock.advance(chrono::Duration::days(29));
    assert_eq!(app.engine.purge_suspended().await.unwrap(), 0);
    assert_eq!(
        admin_user(&app, &admin, "ann").await["status"],
        json!("suspended")
    );
    // dan is suspended later: his 30 days start then.
    let d = create(&app, "dan").await;
    deactivate(&app, &d).await;

    app.clock.advance(chrono::Duration::days(2));
    assert_eq!(app.engine.purge_suspended().await.unwrap(), 2);
    assert!(admin_users(&app, &admin, "ann").await.is_empty());
    assert!(admin_users(&app, &admin, "bob").await.is_empty());
    assert_eq!(
        admin_user(&app, &admin, "cat").await["status"],
        json!("active")
    );
    assert_eq!(
        admin_user(&app, &admin, "dan").await["status"],
        json!("suspended")
    );
    for id in [&a, &b] {
        let entry = &log_of(&app, &admin, id, "delete").await[0];
        assert_eq!(entry["actor"], json!("policy"), "{entry}");
        assert!(entry["steps"][0]
            .as_str()
            .unwrap()
            .contains("purge_suspended_after_days"));
    }
    // A second run (another replica's) finds nothing more.
    assert_eq!(app.engine.purge_suspended().await.unwrap(), 0);

    // Never: nothing is purged, however long.
    settings(&app, &admin, json!({"purge_suspended_after_days": null})).await;
    app.clock.advance(chrono::Duration::days(400));
    assert_eq!(app.engine.purge_suspended().await.unwrap(), 0);
    assert_eq!(
        admin_user(&app, &admin, "dan").await["status"],
        json!("suspended")
    );
    assert_counters_match_rows(&app).await;
}

async fn the_guard_holds_past_its_limit_and_a_release_applies_in_order(app: TestApp) {
    // Three seats for seven people: four wait.
    let admin = setup(&app, 3).await;
    settings(
        &app,
        &admin,
        json!({"deprovision_guard": {"max_users": 2, "window_minutes": 60}}),
    )
    .await;
    let names = ["ann", "bob", "cat", "dee", "eli", "fay", "gus"];
    let mut ids = vec![];
    for n in names {
        ids.push(create(&app, n).await);
    }
    let id = |n: &str| ids[names.iter().position(|x| *x == n).unwrap()].clone();

    // Two deactivations are within the guard: applied, their seats go to dee and eli.
    for n in ["ann", "bob"] {
        let (s, u) = deactivate(&app, &id(n)).await;
        assert_eq!(s, 200, "{u}");
        assert_eq!(u["active"], json!(false));
        assert_eq!(u[EXT]["status"], json!("suspended"));
    }
    assert_eq!(
        seat_of(&app, &admin, "dee").await.as_deref(),
        Some("assigned")
    );
    assert_eq!(
        seat_of(&app, &admin, "eli").await.as_deref(),
        Some("assigned")
    );

    // The third is held: answered 200 with what Roster holds (cat still active, held).
    let (s, u) = deactivate(&app, &id("cat")).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["active"], json!(true));
    assert_eq!(u[EXT]["status"], json!("held"));
    // Sent again (as Entra does on its next cycle): kept once.
    let (s, _) = deactivate(&app, &id("cat")).await;
    assert_eq!(s, 200);
    // A DELETE is held too (204, the user stays).
    assert_eq!(idp_delete(&app, &id("dee")).await, 204);
    let (s, _) = app
        .send(Method::GET, &format!("Users/{}", id("dee")), None)
        .await;
    assert_eq!(s, 200);

    // Seats untouched while held.
    let cat = admin_user(&app, &admin, "cat").await;
    assert_eq!(cat["status"], json!("held"), "{cat}");
    assert_eq!(seat(&cat).as_deref(), Some("assigned"));
    assert_eq!(
        admin_user(&app, &admin, "dee").await["status"],
        json!("held")
    );
    assert_eq!(
        seat_of(&app, &admin, "dee").await.as_deref(),
        Some("assigned")
    );
    assert_eq!(
        seat_of(&app, &admin, "fay").await.as_deref(),
        Some("waitlisted")
    );
    assert_eq!(
        seat_of(&app, &admin, "gus").await.as_deref(),
        Some("waitlisted")
    );
    assert_counters_match_rows(&app).await;

    // The admin is told: one hold with its users and changes, one open conflict (the
    // hold's id), in the conflicts report too.
    let list = holds(&app, &admin).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let hold = &list[0];
    let hold_id = hold["id"].as_str().unwrap().to_string();
    assert_eq!(hold["connection"], json!("test"));
    assert_eq!(hold["status"], json!("open"));
    assert_eq!(hold["users"], json!(2));
    assert_eq!(hold["counts"]["pending"], json!(2));
    assert_eq!(hold["guard"], json!({"max_users": 2, "window_minutes": 60}));
    let changes: Vec<(Value, Value, Value)> = hold["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["seq"].clone(),
                c["user_name"].clone(),
                c["change"].clone(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (json!(1), json!("cat"), json!("suspend")),
            (json!(2), json!("dee"), json!("delete"))
        ]
    );
    let conflicts = open_conflicts(&app, &admin, "deprovision_held").await;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["id"], json!(hold_id));
    assert!(conflicts[0]["guidance"]
        .as_str()
        .unwrap()
        .contains("/admin/v1/holds"));
    let (_, report) = app
        .admin(&admin, Method::GET, "reports/conflicts", None)
        .await;
    assert!(report["rows"]
        .as_array()
        .unwrap()
        .contains(&json!({"kind": "deprovision_held", "status": "open", "conflicts": 1})));
    let (_, report) = app.admin(&admin, Method::GET, "reports/users", None).await;
    assert!(report["rows"]
        .as_array()
        .unwrap()
        .contains(&json!({"status": "held", "users": 2})));
    let disables = log_of(&app, &admin, &id("cat"), "disable").await;
    assert_eq!(disables.len(), 2, "{disables:?}");
    for entry in &disables {
        assert_eq!(entry["status"], json!("warning"), "{entry}");
        assert!(
            entry["notes"]
                .to_string()
                .contains("\"held: connection test"),
            "{entry}"
        );
        assert_eq!(entry["seat_changes"], json!([]));
    }
    assert!(disables[1]["steps"]
        .to_string()
        .contains("held as change 1 of hold"));
    assert!(disables[0]["steps"].to_string().contains("kept once"));

    // Outside the window the connection is counted afresh: eli's deactivation applies.
    app.clock.advance(chrono::Duration::minutes(61));
    let (s, u) = deactivate(&app, &id("eli")).await;
    assert_eq!(s, 200);
    assert_eq!(u[EXT]["status"], json!("suspended"));
    assert_eq!(
        seat_of(&app, &admin, "fay").await.as_deref(),
        Some("assigned")
    );

    // Release: cat's suspension, then dee's deletion, each seat to the next in line (gus,
    // then nobody is left).
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            &format!("holds/{hold_id}/release"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["applied"], json!(2));
    assert_eq!(body["hold"]["status"], json!("released"));
    assert_eq!(body["hold"]["counts"]["applied"], json!(2));
    let moved: Vec<(Value, Value)> = body["seat_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["user_id"].clone(), c["change"].clone()))
        .collect();
    assert_eq!(
        moved,
        vec![
            (json!(id("cat")), json!("freed")),
            (json!(id("gus")), json!("assigned")),
            (json!(id("dee")), json!("freed")),
        ]
    );
    assert_eq!(
        admin_user(&app, &admin, "cat").await["status"],
        json!("suspended")
    );
    assert!(admin_users(&app, &admin, "dee").await.is_empty());
    assert_eq!(
        seat_of(&app, &admin, "gus").await.as_deref(),
        Some("assigned")
    );
    let (s, _) = app
        .send(Method::GET, &format!("Users/{}", id("dee")), None)
        .await;
    assert_eq!(s, 404);
    assert!(open_conflicts(&app, &admin, "deprovision_held")
        .await
        .is_empty());

    // Every step in the sync log: each change applied by the admin, and the release.
    let entry = &log_of(&app, &admin, &id("cat"), "disable").await[0];
    assert!(
        entry["actor"].as_str().unwrap().starts_with("admin:"),
        "{entry}"
    );
    assert!(
        entry["seat_changes"].to_string().contains("freed"),
        "{entry}"
    );
    assert!(entry["steps"][0]
        .as_str()
        .unwrap()
        .starts_with(&format!("release: change 1 of hold {hold_id}")));
    let entry = &log_of(&app, &admin, &id("dee"), "delete").await[0];
    assert!(
        entry["actor"].as_str().unwrap().starts_with("admin:"),
        "{entry}"
    );
    let entry = &log_of(&app, &admin, &hold_id, "hold_release").await[0];
    assert_eq!(entry["resource_type"], json!("Hold"), "{entry}");

    // Released is released: it cannot be discarded, and releasing again does nothing.
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            &format!("holds/{hold_id}/discard"),
            None,
        )
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], json!("hold_closed"));
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            &format!("holds/{hold_id}/release"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["applied"], json!(0));
    assert_counters_match_rows(&app).await;
}

async fn a_discarded_hold_leaves_the_users_active(app: TestApp) {
    let admin = setup(&app, 2).await;
    settings(
        &app,
        &admin,
        json!({"deprovision_guard": {"max_users": 1, "window_minutes": 10}}),
    )
    .await;
    let a = create(&app, "ann").await;
    let b = create(&app, "bob").await;
    let c = create(&app, "cat").await;

    // The N+1-th inside the window is held; admins are never guarded.
    assert_eq!(
        deactivate(&app, &a).await.1[EXT]["status"],
        json!("suspended")
    );
    assert_eq!(deactivate(&app, &b).await.1[EXT]["status"], json!("held"));
    let (s, body) = app
        .admin(&admin, Method::POST, &format!("users/{c}/suspend"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["user"]["status"], json!("suspended"));
    let (s, body) = app
        .admin(&admin, Method::POST, &format!("users/{c}/reactivate"), None)
        .await;
    assert_eq!(s, 200, "{body}");

    let hold_id = holds(&app, &admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The console shows bob as held, still active: to suspend, not to reactivate.
    let session = app.console(Role::Admin).await;
    let page = app
        .console_req(
            &session,
            Method::GET,
            &format!("/console/users?filter={}", urlencode("userName eq \"bob\"")),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("held"), "{page}");
    assert!(
        page.contains(&format!("/console/users/{b}/suspend")),
        "{page}"
    );
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            &format!("holds/{hold_id}/discard"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["discarded"], json!(1));
    assert_eq!(body["hold"]["status"], json!("discarded"));
    assert_eq!(body["hold"]["changes"][0]["state"], json!("discarded"));
    let bob = admin_user(&app, &admin, "bob").await;
    assert_eq!(bob["status"], json!("active"), "{bob}");
    assert!(bob.get("hold").is_none());
    assert_eq!(seat(&bob).as_deref(), Some("assigned"));
    let (_, u) = app
        .send(Method::GET, &format!("Users/{b}?{WITH_EXT}"), None)
        .await;
    assert_eq!(u[EXT]["status"], json!("active"));
    assert!(open_conflicts(&app, &admin, "deprovision_held")
        .await
        .is_empty());
    let entries = log_of(&app, &admin, &b, "disable").await;
    assert_eq!(entries[0]["status"], json!("skipped"), "{:?}", entries[0]);
    assert!(entries[0]["steps"][0]
        .as_str()
        .unwrap()
        .starts_with("discard:"));
    assert_eq!(
        log_of(&app, &admin, &hold_id, "hold_discard").await.len(),
        1
    );

    // Discarded is final.
    for step in ["release", "discard"] {
        let (s, body) = app
            .admin(
                &admin,
                Method::POST,
                &format!("holds/{hold_id}/{step}"),
                None,
            )
            .await;
        assert_eq!(s, 409, "{body}");
    }
    let (s, _) = app
        .admin(&admin, Method::POST, "holds/no-such-hold/release", None)
        .await;
    assert_eq!(s, 404);
    // An auditor reads holds and changes none.
    let auditor = app.admin_token(Role::Auditor).await;
    let (s, _) = app.admin(&auditor, Method::GET, "holds", None).await;
    assert_eq!(s, 200);
    let (s, _) = app
        .admin(
            &auditor,
            Method::POST,
            &format!("holds/{hold_id}/release"),
            None,
        )
        .await;
    assert_eq!(s, 403);
    assert_counters_match_rows(&app).await;
}

async fn the_identity_provider_can_take_a_held_deactivation_back(app: TestApp) {
    let admin = setup(&app, 2).await;
    settings(
        &app,
        &admin,
        json!({"deprovision_guard": {"max_users": 1, "window_minutes": 60}}),
    )
    .await;
    let a = create(&app, "ann").await;
    let b = create(&app, "bob").await;
    deactivate(&app, &a).await;
    assert_eq!(deactivate(&app, &b).await.1[EXT]["status"], json!("held"));
    // The identity provider's admin fixed the mistake: it sets bob active again.
    let (s, u) = app
        .send(
            Method::PATCH,
            &format!("Users/{b}?{WITH_EXT}"),
            active(true),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u[EXT]["status"], json!("active"));
    let hold = &holds(&app, &admin).await[0];
    assert_eq!(hold["counts"]["superseded"], json!(1), "{hold}");
    let hold_id = hold["id"].as_str().unwrap();
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            &format!("holds/{hold_id}/release"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["applied"], json!(0));
    assert_eq!(
        admin_user(&app, &admin, "bob").await["status"],
        json!("active")
    );
    assert_eq!(
        seat_of(&app, &admin, "bob").await.as_deref(),
        Some("assigned")
    );
    assert_counters_match_rows(&app).await;
}

async fn lifecycle_settings_are_typed(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let (s, body) = app.admin(&admin, Method::GET, "settings", None).await;
    assert_eq!(s, 200);
    assert_eq!(body["delete_action"], json!("delete"));
    assert_eq!(body["purge_suspended_after_days"], json!(null));
    assert_eq!(body["deprovision_guard"], json!(null));
    assert_eq!(body["events_retention_days"], json!(7));
    for (patch, field) in [
        (json!({"delete_action": "archive"}), "delete_action"),
        (
            json!({"purge_suspended_after_days": 0}),
            "purge_suspended_after_days",
        ),
        (
            json!({"purge_suspended_after_days": 3651}),
            "purge_suspended_after_days",
        ),
        (
            json!({"deprovision_guard": {"max_users": 10}}),
            "deprovision_guard.window_minutes",
        ),
        (
            json!({"deprovision_guard": {"max_users": -1, "window_minutes": 5}}),
            "deprovision_guard.max_users",
        ),
        (json!({"deprovision_guard": "on"}), "deprovision_guard"),
        (json!({"events_retention_days": 0}), "events_retention_days"),
        (
            json!({"events_retention_days": 366}),
            "events_retention_days",
        ),
    ] {
        let (s, body) = app
            .admin(&admin, Method::PATCH, "settings", Some(patch.clone()))
            .await;
        assert_eq!(s, 400, "{patch}: {body}");
        assert_eq!(body["error"]["code"], json!("invalid_setting"));
        assert_eq!(body["error"]["field"], json!(field), "{patch}: {body}");
    }
    let (_, body) = app.admin(&admin, Method::GET, "settings", None).await;
    assert_eq!(body["delete_action"], json!("delete"), "nothing changed");
    let (s, body) = app
        .admin(&admin, Method::GET, "holds?status=maybe", None)
        .await;
    assert_eq!(s, 400, "{body}");
}

async fn concurrent_deactivations_are_counted_exactly(app: TestApp) {
    let admin = setup(&app, 10).await;
    settings(
        &app,
        &admin,
        json!({"deprovision_guard": {"max_users": 5, "window_minutes": 60}}),
    )
    .await;
    let mut ids = vec![];
    for i in 0..24 {
        ids.push(create(&app, &format!("p{i:02}")).await);
    }
    // All at once, as a burst of the identity provider's workers: on PostgreSQL each runs
    // in a transaction of its own, and the count is still exact.
    let mut tasks = vec![];
    for id in ids {
        let req = app
            .req(Method::PATCH, &format!("Users/{id}?{WITH_EXT}"), &app.token)
            .body(active(false).unwrap().to_string());
        tasks.push(tokio::spawn(async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }));
    }
    let mut states = vec![];
    for t in tasks {
        let (s, u) = t.await.unwrap();
        assert_eq!(s, 200, "{u}");
        states.push(u[EXT]["status"].as_str().unwrap().to_string());
    }
    assert_eq!(states.iter().filter(|s| *s == "suspended").count(), 5);
    assert_eq!(states.iter().filter(|s| *s == "held").count(), 19);
    let list = holds(&app, &admin).await;
    assert_eq!(list.len(), 1, "one burst, one hold: {list:?}");
    assert_eq!(list[0]["counts"]["pending"], json!(19));
    let seqs: Vec<i64> = list[0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=19).collect::<Vec<i64>>());
    assert_counters_match_rows(&app).await;
}

crate::on_both_backends!(
    delete_action_delete_removes_the_user,
    delete_action_suspend_keeps_the_user_for_admins,
    suspended_users_are_purged_after_the_days_set,
    the_guard_holds_past_its_limit_and_a_release_applies_in_order,
    a_discarded_hold_leaves_the_users_active,
    the_identity_provider_can_take_a_held_deactivation_back,
    lifecycle_settings_are_typed,
    concurrent_deactivations_are_counted_exactly,
);
