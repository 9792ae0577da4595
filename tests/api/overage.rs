//! Overage and seat forecasts (issue 16), on both backends: seats past the licenses up to
//! the overage share and not past it, the true-up columns of the seats report, a lowered
//! ceiling that keeps its seats and gives no new ones, the setting's validation; forecasts
//! (`?dry_run=true`) that equal what the real change then does and write nothing; and the
//! ceiling under concurrent creates, counted in the rows.

use std::collections::BTreeMap;

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{
    create_seated as create, patch_settings, seat_pool as setup, user, TestApp, ROSTER_USER as EXT,
    WITH_SEATS,
};

/// The state of the user's seat of a product (`assigned`, `waitlisted`), and since when.
fn seat(u: &Value, product: &str) -> Option<(String, String)> {
    u[EXT]["seats"].as_array()?.iter().find_map(|s| {
        (s["product"] == json!(product)).then(|| {
            (
                s["state"].as_str().unwrap().to_string(),
                s["since"].as_str().unwrap_or_default().to_string(),
            )
        })
    })
}

async fn get_user(app: &TestApp, id: &str) -> Value {
    let (s, u) = app
        .send(Method::GET, &format!("Users/{id}?{WITH_SEATS}"), None)
        .await;
    assert_eq!(s, 200, "{u}");
    u
}

async fn suspend(app: &TestApp, admin: &str, id: &str) {
    let (s, body) = app
        .admin(admin, Method::POST, &format!("users/{id}/suspend"), None)
        .await;
    assert_eq!(s, 200, "{body}");
}

/// (capacity, assigned, waitlisted) as `GET /admin/v1/products` shows them.
async fn pool(app: &TestApp, admin: &str, product: &str) -> (i64, i64, i64) {
    let (_, body) = app.admin(admin, Method::GET, "products", None).await;
    let p = body["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == json!(product))
        .cloned()
        .unwrap_or(json!({"capacity": 0, "assigned": 0, "waitlisted": 0}));
    (
        p["capacity"].as_i64().unwrap(),
        p["assigned"].as_i64().unwrap(),
        p["waitlisted"].as_i64().unwrap(),
    )
}

async fn db(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&app.database_url).await.unwrap()
}

/// Straight from the rows: a product's (capacity, allowance, counter, assigned rows,
/// waitlisted rows).
async fn counted(app: &TestApp, product: &str) -> (i64, i64, i64, i64, i64) {
    let db = db(app).await;
    let r = sqlx::query(&format!(
        "SELECT p.capacity, p.allowance, p.assigned, \
         (SELECT COUNT(*) FROM seats s WHERE s.account_id = p.account_id AND s.product = p.name AND s.state = 'assigned'), \
         (SELECT COUNT(*) FROM seats s WHERE s.account_id = p.account_id AND s.product = p.name AND s.state = 'waitlisted') \
         FROM products p WHERE p.name = '{product}'"
    ))
    .fetch_one(&db)
    .await
    .unwrap();
    let out = (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
    db.close().await;
    out
}

/// Everything a change could write: seat rows by state and source, pools, rules, settings,
/// conflicts, and the sync log and seat events (read requests' entries aside: they are
/// written in batches, whenever).
async fn everything(app: &TestApp) -> Vec<String> {
    let db = db(app).await;
    let mut out = vec![];
    for q in [
        "SELECT user_id || ' ' || product || ' ' || state || ' ' || source || ' ' || since FROM seats ORDER BY 1",
        "SELECT name || ' ' || capacity || ' ' || allowance || ' ' || kept || ' ' || assigned || ' ' || COALESCE(over_since, '-') FROM products ORDER BY 1",
        "SELECT id || ' ' || product FROM rules ORDER BY 1",
        "SELECT doc FROM account_settings ORDER BY 1",
        "SELECT id || ' ' || status || ' ' || attempts FROM conflicts ORDER BY 1",
        "SELECT id FROM sync_log WHERE action <> 'read' AND action <> 'list' ORDER BY 1",
        "SELECT product || ' ' || user_id || ' ' || change FROM seat_events ORDER BY 1",
    ] {
        for r in sqlx::query(q).fetch_all(&db).await.unwrap() {
            out.push(r.get::<String, _>(0));
        }
        out.push("--".into());
    }
    db.close().await;
    out
}

/// A product's seat changes as counts and sorted user ids, by kind.
type Moves = BTreeMap<String, BTreeMap<String, (usize, Vec<String>)>>;

const KINDS: [&str; 4] = ["assigned", "freed", "waitlisted", "left_waitlist"];

/// The seat changes a real call reported, grouped as a forecast groups them.
fn moves_of_changes(changes: &Value) -> Moves {
    let mut out: Moves = BTreeMap::new();
    for c in changes.as_array().unwrap() {
        let kind = c["change"].as_str().unwrap();
        if !KINDS.contains(&kind) {
            continue;
        }
        let e = out
            .entry(c["product"].as_str().unwrap().to_string())
            .or_insert_with(|| KINDS.iter().map(|k| (k.to_string(), (0, vec![]))).collect())
            .get_mut(kind)
            .unwrap();
        e.0 += 1;
        e.1.push(c["user_id"].as_str().unwrap().to_string());
        e.1.sort();
    }
    out
}

/// A forecast's products the same way (products where nothing moves left out).
fn moves_of_forecast(f: &Value) -> Moves {
    assert_eq!(f["dry_run"], json!(true), "{f}");
    let mut out: Moves = BTreeMap::new();
    for (product, p) in f["products"].as_object().unwrap() {
        let mut kinds = BTreeMap::new();
        let mut any = false;
        for k in KINDS {
            let n = p[k].as_u64().unwrap() as usize;
            let users = p["users"][k].as_array().unwrap();
            assert_eq!(users.len(), n.min(100), "{f}");
            let mut ids: Vec<String> = users
                .iter()
                .map(|u| {
                    assert!(
                        u["user_name"].as_str().is_some_and(|n| !n.is_empty()),
                        "{u}"
                    );
                    u["user_id"].as_str().unwrap().to_string()
                })
                .collect();
            ids.sort();
            any |= n > 0;
            kinds.insert(k.to_string(), (n, ids));
        }
        if any {
            out.insert(product.clone(), kinds);
        }
    }
    out
}

/// A forecast's `after` of a product against the pool the real change left.
async fn after_matches(app: &TestApp, admin: &str, f: &Value, product: &str) {
    let after = &f["products"][product]["after"];
    let (capacity, assigned, waitlisted) = pool(app, admin, product).await;
    assert_eq!(
        (
            after["capacity"].as_i64(),
            after["assigned"].as_i64(),
            after["waitlisted"].as_i64()
        ),
        (Some(capacity), Some(assigned), Some(waitlisted)),
        "{f}"
    );
}

async fn overage_assigns_up_to_the_share_then_waitlists(app: TestApp) {
    let admin = setup(&app, "meeting", 10).await;
    // 25 % of 10 is 2.5: two extra seats.
    let s = patch_settings(
        &app,
        &admin,
        json!({"seat_policy": "overage", "overage_percent": 25}),
    )
    .await;
    assert_eq!(s["seat_policy"], json!("overage"));
    assert_eq!(s["overage_percent"], json!(25));
    let (_, got) = app.admin(&admin, Method::GET, "settings", None).await;
    assert_eq!(got["overage_percent"], json!(25), "{got}");
    let mut ids = vec![];
    for i in 0..13 {
        let (id, u) = create(&app, &format!("u{i:02}")).await;
        let want = if i < 12 { "assigned" } else { "waitlisted" };
        assert_eq!(seat(&u, "meeting").unwrap().0, want, "user {i}: {u}");
        ids.push(id);
    }
    assert_eq!(pool(&app, &admin, "meeting").await, (10, 12, 1));
    assert_eq!(counted(&app, "meeting").await, (10, 2, 12, 12, 1));
    // The thirteenth waits, and its conflict says why.
    let (_, c) = app
        .admin(&admin, Method::GET, "conflicts?status=open", None)
        .await;
    assert_eq!(c["conflicts"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(c["conflicts"][0]["kind"], json!("no_seat"));
    // A freed seat under the ceiling goes to the first in line.
    suspend(&app, &admin, &ids[0]).await;
    assert_eq!(
        seat(&get_user(&app, &ids[12]).await, "meeting").unwrap().0,
        "assigned"
    );
    assert_eq!(counted(&app, "meeting").await, (10, 2, 12, 12, 0));
    // Licenses added raise the allowance with them: 12 licenses, 3 extra (25 % of 12).
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 12})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(counted(&app, "meeting").await.1, 3);
    // Back to the waitlist policy: no extra seat for anyone new.
    patch_settings(&app, &admin, json!({"seat_policy": "waitlist"})).await;
    let (_, got) = app.admin(&admin, Method::GET, "settings", None).await;
    assert!(got.get("overage_percent").is_none(), "{got}");
    let (_, u) = create(&app, "late").await;
    assert_eq!(seat(&u, "meeting").unwrap().0, "waitlisted", "{u}");
    assert_eq!(counted(&app, "meeting").await, (12, 0, 12, 12, 1));
}

/// The first row of the seats report, in JSON.
async fn seats_row(app: &TestApp, admin: &str) -> Value {
    let (s, body) = app.admin(admin, Method::GET, "reports/seats", None).await;
    assert_eq!(s, 200, "{body}");
    body["rows"][0].clone()
}

async fn seats_report_shows_the_overage_and_since_when(app: TestApp) {
    let admin = setup(&app, "meeting", 2).await;
    patch_settings(
        &app,
        &admin,
        json!({"seat_policy": "overage", "overage_percent": 50}),
    )
    .await;
    let (a, _) = create(&app, "ann").await;
    create(&app, "bob").await;
    let row = seats_row(&app, &admin).await;
    assert_eq!(
        row,
        json!({"product": "meeting", "capacity": 2, "assigned": 2, "free": 0, "waitlisted": 0,
               "freed_last_30_days": 0, "overage_allowed": 1, "overage": 0, "over_since": null})
    );
    app.clock.advance(chrono::Duration::days(3));
    let (c, cu) = create(&app, "cat").await;
    let (_, since) = seat(&cu, "meeting").unwrap();
    let row = seats_row(&app, &admin).await;
    assert_eq!(row["assigned"], json!(3), "{row}");
    assert_eq!(row["free"], json!(0), "{row}");
    assert_eq!(row["overage"], json!(1), "{row}");
    assert_eq!(row["over_since"], json!(since), "{row}");
    // Past the allowance: waitlisted, and the overage started when it started.
    app.clock.advance(chrono::Duration::days(1));
    let (_, du) = create(&app, "dee").await;
    assert_eq!(seat(&du, "meeting").unwrap().0, "waitlisted");
    let row = seats_row(&app, &admin).await;
    assert_eq!(
        (&row["overage"], &row["over_since"], &row["waitlisted"]),
        (&json!(1), &json!(since), &json!(1)),
        "{row}"
    );
    // The same in CSV.
    let (s, csv) = app
        .admin(&admin, Method::GET, "reports/seats?format=csv", None)
        .await;
    assert_eq!(s, 200);
    let csv = csv.as_str().unwrap().to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "product,capacity,assigned,free,waitlisted,freed_last_30_days,overage_allowed,overage,over_since"
    );
    assert_eq!(lines[1], format!("meeting,2,3,0,1,0,1,1,{since}"));
    // Ann's seat freed: dee (first in line) may not take it, the pool is back at its
    // ceiling... of 3; it is still one over its licenses, since the same moment.
    suspend(&app, &admin, &a).await;
    let row = seats_row(&app, &admin).await;
    assert_eq!(
        (&row["assigned"], &row["overage"], &row["over_since"]),
        (&json!(3), &json!(1), &json!(since)),
        "dee took ann's seat: {row}"
    );
    // Two seats freed: back within the licenses, the overage and its date are gone.
    suspend(&app, &admin, &c).await;
    let row = seats_row(&app, &admin).await;
    assert_eq!(
        (&row["assigned"], &row["overage"], &row["over_since"]),
        (&json!(2), &json!(0), &json!(null)),
        "{row}"
    );
    let (_, csv) = app
        .admin(&admin, Method::GET, "reports/seats?format=csv", None)
        .await;
    assert_eq!(
        csv.as_str().unwrap().lines().nth(1),
        Some("meeting,2,2,0,0,2,1,0,")
    );
}

async fn a_lowered_ceiling_keeps_its_seats_and_gives_no_new_ones(app: TestApp) {
    let admin = setup(&app, "meeting", 10).await;
    patch_settings(
        &app,
        &admin,
        json!({"seat_policy": "overage", "overage_percent": 20}),
    )
    .await;
    let mut ids = vec![];
    for i in 0..13 {
        ids.push(create(&app, &format!("u{i:02}")).await.0);
    }
    assert_eq!(counted(&app, "meeting").await, (10, 2, 12, 12, 1));
    // 0 %: the twelve keep their seats.
    let changed = patch_settings(&app, &admin, json!({"overage_percent": 0})).await;
    assert_eq!(changed["seat_changes"], json!([]), "{changed}");
    assert_eq!(counted(&app, "meeting").await, (10, 0, 12, 12, 1));
    // Seats freed over the ceiling go to no one: the thirteenth still waits.
    suspend(&app, &admin, &ids[0]).await;
    suspend(&app, &admin, &ids[1]).await;
    assert_eq!(counted(&app, "meeting").await, (10, 0, 10, 10, 1));
    assert_eq!(
        seat(&get_user(&app, &ids[12]).await, "meeting").unwrap().0,
        "waitlisted"
    );
    // Below the ceiling again, the next freed seat is served.
    suspend(&app, &admin, &ids[2]).await;
    assert_eq!(counted(&app, "meeting").await, (10, 0, 10, 10, 0));
    assert_eq!(
        seat(&get_user(&app, &ids[12]).await, "meeting").unwrap().0,
        "assigned"
    );
    // Fewer licenses under overage: taken, the seats stay, none is given.
    patch_settings(&app, &admin, json!({"overage_percent": 10})).await;
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 5})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(counted(&app, "meeting").await, (5, 0, 10, 10, 0));
    let (_, u) = create(&app, "new").await;
    assert_eq!(seat(&u, "meeting").unwrap().0, "waitlisted", "{u}");
    assert_eq!(counted(&app, "meeting").await, (5, 0, 10, 10, 1));
    // A higher share serves the waitlist at once: 5 + 100 % is 10, still full; 8 + 100 %
    // has room.
    let changed = patch_settings(&app, &admin, json!({"overage_percent": 100})).await;
    assert_eq!(changed["seat_changes"], json!([]), "{changed}");
    let (_, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 8})),
        )
        .await;
    let served = body["seat_changes"].as_array().unwrap();
    assert_eq!(served.len(), 1, "{body}");
    assert_eq!(served[0]["change"], json!("assigned"));
    assert_eq!(counted(&app, "meeting").await, (8, 8, 11, 11, 0));
    // Under the waitlist policy, fewer licenses than seats held is refused, as always.
    patch_settings(&app, &admin, json!({"seat_policy": "waitlist"})).await;
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 7})),
        )
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], json!("seats_in_use"));
    // ... but more licenses are taken even while the pool holds more seats than them.
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 9})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(counted(&app, "meeting").await, (9, 0, 11, 11, 0));
}

async fn a_bad_overage_percent_is_a_400_naming_the_field(app: TestApp) {
    let admin = setup(&app, "meeting", 10).await;
    let (_, before) = app.admin(&admin, Method::GET, "settings", None).await;
    for (patch, field) in [
        (
            json!({"seat_policy": "overage", "overage_percent": 101}),
            "overage_percent",
        ),
        (
            json!({"seat_policy": "overage", "overage_percent": -1}),
            "overage_percent",
        ),
        (
            json!({"seat_policy": "overage", "overage_percent": 2.5}),
            "overage_percent",
        ),
        (
            json!({"seat_policy": "overage", "overage_percent": "10"}),
            "overage_percent",
        ),
        (
            json!({"seat_policy": "overage", "overage_percent": null}),
            "overage_percent",
        ),
        // Overage needs its share ...
        (json!({"seat_policy": "overage"}), "overage_percent"),
        // ... and the share means nothing without it.
        (json!({"overage_percent": 10}), "overage_percent"),
        (
            json!({"seat_policy": "reject", "overage_percent": 10}),
            "overage_percent",
        ),
        (
            json!({"seat_policy": "over", "overage_percent": 10}),
            "seat_policy",
        ),
    ] {
        let (s, body) = app
            .admin(&admin, Method::PATCH, "settings", Some(patch.clone()))
            .await;
        assert_eq!(s, 400, "{patch}: {body}");
        assert_eq!(body["error"]["field"], json!(field), "{patch}: {body}");
        assert_eq!(body["error"]["code"], json!("invalid_setting"), "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{body}"
        );
    }
    let (_, after) = app.admin(&admin, Method::GET, "settings", None).await;
    assert_eq!(before, after, "a refused change changes nothing");
    // Once under overage, the share may change alone, and the policy change keeps it.
    patch_settings(
        &app,
        &admin,
        json!({"seat_policy": "overage", "overage_percent": 0}),
    )
    .await;
    let s = patch_settings(&app, &admin, json!({"overage_percent": 100})).await;
    assert_eq!(s["overage_percent"], json!(100));
    let s = patch_settings(&app, &admin, json!({"seat_policy": "overage"})).await;
    assert_eq!(s["overage_percent"], json!(100));
    // A dry run that is not true or false is refused too.
    let (s, body) = app
        .admin(
            &admin,
            Method::PATCH,
            "settings?dry_run=perhaps",
            Some(json!({"overage_percent": 5})),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"]["field"], json!("dry_run"));
}

/// Runs a change as a dry run, checks that it wrote nothing, then for real; returns the
/// forecast and the seat changes the real call reported.
async fn forecast_then_real(
    app: &TestApp,
    admin: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (Value, Value) {
    let before = everything(app).await;
    let sep = if path.contains('?') { '&' } else { '?' };
    let (s, forecast) = app
        .admin(
            admin,
            method.clone(),
            &format!("{path}{sep}dry_run=true"),
            body.clone(),
        )
        .await;
    assert_eq!(s, 200, "{path}: {forecast}");
    assert_eq!(everything(app).await, before, "{path}: a dry run wrote");
    let (s, real) = app.admin(admin, method, path, body).await;
    assert!(s == 200 || s == 201, "{path}: {real}");
    assert_ne!(
        everything(app).await,
        before,
        "{path}: the real change wrote"
    );
    assert_eq!(
        moves_of_forecast(&forecast),
        moves_of_changes(&real["seat_changes"]),
        "{path}: the forecast {forecast} and the change {real}"
    );
    (forecast, real)
}

async fn forecasts_equal_what_the_change_then_does(app: TestApp) {
    let admin = setup(&app, "meeting", 2).await;
    let mut ids = vec![];
    for name in ["ann", "bob", "cat", "dee", "eve"] {
        ids.push(create(&app, name).await.0);
    }
    // Licenses: two more serve cat and dee, first in line.
    let (f, _) = forecast_then_real(
        &app,
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 4})),
    )
    .await;
    let p = &f["products"]["meeting"];
    assert_eq!(
        (&p["assigned"], &p["waitlisted"], &p["freed"]),
        (&json!(2), &json!(0), &json!(0)),
        "{f}"
    );
    let names: Vec<&str> = p["users"]["assigned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cat", "dee"], "{f}");
    after_matches(&app, &admin, &f, "meeting").await;
    // A pool resized with nobody moving is still in the forecast, with its new size.
    let (s, f) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting?dry_run=true",
            Some(json!({"seats": 4})),
        )
        .await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["products"]["meeting"]["after"]["capacity"], json!(4));
    assert_eq!(f["products"]["meeting"]["assigned"], json!(0));

    // Settings: overage of 25 % gives eve the one extra seat.
    let (f, _) = forecast_then_real(
        &app,
        &admin,
        Method::PATCH,
        "settings",
        Some(json!({"seat_policy": "overage", "overage_percent": 25})),
    )
    .await;
    assert_eq!(f["products"]["meeting"]["assigned"], json!(1), "{f}");
    assert_eq!(
        f["products"]["meeting"]["after"]["overage"],
        json!(1),
        "{f}"
    );
    after_matches(&app, &admin, &f, "meeting").await;

    // A rule: members of a group hold webinar (one license: one gets it, one waits).
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/webinar",
            Some(json!({"seats": 1})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, g) = app
        .send(
            Method::POST,
            "Groups",
            Some(
                json!({"displayName": "Hosts", "members": [{"value": ids[0]}, {"value": ids[1]}]}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let gid = g["id"].as_str().unwrap();
    let (f, real) = forecast_then_real(
        &app,
        &admin,
        Method::POST,
        "rules",
        Some(json!({"product": "webinar", "group": gid})),
    )
    .await;
    let w = &f["products"]["webinar"];
    assert_eq!(
        (&w["assigned"], &w["waitlisted"]),
        (&json!(1), &json!(1)),
        "{f}"
    );
    after_matches(&app, &admin, &f, "webinar").await;
    let rule = real["id"].as_str().unwrap().to_string();

    // Default products dropped: everyone loses meeting.
    let (f, _) = forecast_then_real(
        &app,
        &admin,
        Method::PATCH,
        "settings",
        Some(json!({"default_products": []})),
    )
    .await;
    assert_eq!(f["products"]["meeting"]["freed"], json!(5), "{f}");
    after_matches(&app, &admin, &f, "meeting").await;

    // The rule deleted: nobody holds or waits for webinar any more (the waiting one may be
    // served the holder's seat on the way, when the holder comes first: the forecast says
    // so exactly as the change does).
    let (f, _) =
        forecast_then_real(&app, &admin, Method::DELETE, &format!("rules/{rule}"), None).await;
    let w = &f["products"]["webinar"];
    assert!(w["freed"].as_u64().unwrap() >= 1, "{f}");
    assert_eq!(
        (&w["after"]["assigned"], &w["after"]["waitlisted"]),
        (&json!(0), &json!(0)),
        "{f}"
    );
    after_matches(&app, &admin, &f, "webinar").await;

    // A forecast of a change the real call refuses is the same refusal, and writes nothing.
    let before = everything(&app).await;
    let (s, body) = app
        .admin(&admin, Method::DELETE, "rules/nope?dry_run=true", None)
        .await;
    assert_eq!(s, 404, "{body}");
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            "rules?dry_run=true",
            Some(json!({"product": "webinar", "group": "nope"})),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"]["field"], json!("group"));
    assert_eq!(everything(&app).await, before);
}

async fn an_auditor_may_forecast_but_not_change(app: TestApp) {
    let admin = setup(&app, "meeting", 1).await;
    create(&app, "ann").await;
    create(&app, "bob").await;
    let auditor = app.admin_token(Role::Auditor).await;
    let before = everything(&app).await;
    let (s, f) = app
        .admin(
            &auditor,
            Method::PUT,
            "products/meeting?dry_run=true",
            Some(json!({"seats": 2})),
        )
        .await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["products"]["meeting"]["assigned"], json!(1), "{f}");
    assert_eq!(
        f["products"]["meeting"]["users"]["assigned"][0]["user_name"],
        json!("bob")
    );
    let (s, body) = app
        .admin(
            &auditor,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 2})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(everything(&app).await, before);
    assert_eq!(pool(&app, &admin, "meeting").await, (1, 1, 1));
}

async fn concurrent_creates_never_pass_capacity_and_allowance(app: TestApp) {
    let admin = setup(&app, "meeting", 10).await;
    patch_settings(
        &app,
        &admin,
        json!({"seat_policy": "overage", "overage_percent": 30}),
    )
    .await;
    let mut tasks = vec![];
    for i in 0..48 {
        let client = app.client.clone();
        let url = format!("{}/Users", app.base);
        let token = app.token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("Content-Type", "application/scim+json")
                .body(user(&format!("c{i}")).to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    // 10 licenses and 3 extra seats: 13 held, counted in the rows, the rest waiting.
    assert_eq!(counted(&app, "meeting").await, (10, 3, 13, 13, 35));
}

crate::on_both_backends!(
    overage_assigns_up_to_the_share_then_waitlists,
    seats_report_shows_the_overage_and_since_when,
    a_lowered_ceiling_keeps_its_seats_and_gives_no_new_ones,
    a_bad_overage_percent_is_a_400_naming_the_field,
    forecasts_equal_what_the_change_then_does,
    an_auditor_may_forecast_but_not_change,
    concurrent_creates_never_pass_capacity_and_allowance,
);
