//! Licenses as entitlements through HTTP: `/Licenses` (list, filter, paging, by id,
//! read-only, discovery), a user's License entitlements holding and releasing seats under
//! the seat policy, a rule and an entitlement sharing one seat, the sync log naming who
//! holds a seat, and every pool counter equal to its rows afterwards.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};
use sqlx::Row;

use crate::helpers::{user, TestApp};

const CORE: &str = "urn:roster:params:scim:schemas:core:2.0:License";
const EXT: &str = "urn:roster:params:scim:schemas:extension:2.0:License";
const USER_EXT: &str = "urn:roster:params:scim:schemas:extension:2.0:User";
const WITH_SEATS: &str =
    "attributes=userName,entitlements,active,urn:roster:params:scim:schemas:extension:2.0:User";

async fn products(app: &TestApp, pools: &[(&str, i64)]) -> String {
    let admin = app.admin_token(Role::Admin).await;
    for (product, seats) in pools {
        let (s, body) = app
            .admin(
                &admin,
                Method::PUT,
                &format!("products/{product}"),
                Some(json!({ "seats": seats })),
            )
            .await;
        assert_eq!(s, 200, "{body}");
    }
    admin
}

async fn settings(app: &TestApp, admin: &str, patch: Value) {
    let (s, body) = app
        .admin(admin, Method::PATCH, "settings", Some(patch))
        .await;
    assert_eq!(s, 200, "{body}");
}

/// A user with these entitlements (value, type).
fn entitled(name: &str, entitlements: &[(&str, Option<&str>)]) -> Value {
    let mut u = user(name);
    u["entitlements"] = entitlements
        .iter()
        .map(|(value, ty)| match ty {
            Some(t) => json!({"value": value, "type": t}),
            None => json!({ "value": value }),
        })
        .collect();
    u
}

async fn create(app: &TestApp, body: Value) -> (String, Value) {
    let (s, u) = app
        .send(Method::POST, &format!("Users?{WITH_SEATS}"), Some(body))
        .await;
    assert_eq!(s, 201, "{u}");
    (u["id"].as_str().unwrap().to_string(), u)
}

async fn patch(app: &TestApp, id: &str, ops: Value) -> (u16, Value) {
    app.send(
        Method::PATCH,
        &format!("Users/{id}?{WITH_SEATS}"),
        Some(json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": ops
        })),
    )
    .await
}

async fn seats(app: &TestApp, id: &str) -> Vec<(String, String)> {
    let (s, u) = app
        .send(Method::GET, &format!("Users/{id}?{WITH_SEATS}"), None)
        .await;
    assert_eq!(s, 200, "{u}");
    seat_states(&u)
}

fn seat_states(u: &Value) -> Vec<(String, String)> {
    u[USER_EXT]["seats"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["product"].as_str().unwrap().to_string(),
                        s["state"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pair(product: &str, state: &str) -> (String, String) {
    (product.to_string(), state.to_string())
}

/// A license's counts, as `/Licenses/{id}` shows them.
async fn counts(app: &TestApp, product: &str) -> (i64, i64, i64) {
    let (s, l) = app
        .send(Method::GET, &format!("Licenses/{product}"), None)
        .await;
    assert_eq!(s, 200, "{l}");
    let n = |k: &str| l[EXT][k].as_i64().unwrap();
    (n("capacity"), n("assigned"), n("waitlisted"))
}

/// The newest sync-log entry of this user and operation.
async fn entry(app: &TestApp, admin: &str, user: &str, operation: &str) -> Value {
    let (s, body) = app
        .admin(
            admin,
            Method::GET,
            &format!("sync-log?user={user}&operation={operation}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{body}");
    body["entries"][0].clone()
}

async fn list(app: &TestApp, query: &str) -> (u16, Value) {
    app.send(Method::GET, &format!("Licenses?{query}"), None)
        .await
}

fn ids(body: &Value) -> Vec<String> {
    body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
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
    for r in &rows {
        let (name, capacity, assigned, held, waiting): (String, i64, i64, i64, i64) =
            (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
        assert_eq!(
            assigned, held,
            "{name}: counter {assigned}, {held} rows assigned"
        );
        assert!(
            waiting == 0 || assigned == capacity,
            "{name}: {waiting} wait while {} seats are free",
            capacity - assigned
        );
    }
    db.close().await;
}

async fn licenses_are_listed_filtered_paged_and_read_only(app: TestApp) {
    products(&app, &[("webinar", 2), ("meeting", 10), ("training", 0)]).await;

    let (s, body) = list(&app, "").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["totalResults"], json!(3));
    assert_eq!(ids(&body), ["meeting", "training", "webinar"]);
    let webinar = &body["Resources"][2];
    assert_eq!(webinar["schemas"], json!([CORE, EXT]));
    assert_eq!(webinar["displayName"], json!("webinar"));
    assert_eq!(webinar["type"], json!("License"));
    assert_eq!(
        webinar[EXT],
        json!({"capacity": 2, "assigned": 0, "waitlisted": 0})
    );
    assert_eq!(webinar["meta"]["resourceType"], json!("License"));
    assert!(webinar["meta"]["location"]
        .as_str()
        .unwrap()
        .ends_with("/scim/v2/Licenses/webinar"));

    // Filters on id and displayName with every string operator, and on the counts.
    for (filter, want) in [
        ("id eq \"webinar\"", vec!["webinar"]),
        ("displayName eq \"WEBINAR\"", vec!["webinar"]),
        ("displayName ne \"webinar\"", vec!["meeting", "training"]),
        ("displayName co \"in\"", vec!["meeting", "training", "webinar"]),
        ("displayName sw \"tr\"", vec!["training"]),
        ("id ew \"ing\"", vec!["meeting", "training"]),
        ("displayName pr", vec!["meeting", "training", "webinar"]),
        ("id eq \"nothing\"", vec![]),
        (
            "urn:roster:params:scim:schemas:extension:2.0:License:capacity gt 1 and not (id eq \"meeting\")",
            vec!["webinar"],
        ),
    ] {
        let q = format!("filter={}", urlencode(filter));
        let (s, body) = list(&app, &q).await;
        assert_eq!(s, 200, "{filter}: {body}");
        assert_eq!(ids(&body), want, "{filter}");
        assert_eq!(body["totalResults"], json!(want.len()), "{filter}");
    }
    for bad in [
        "userName eq \"x\"",
        "displayName eq",
        "members[value eq \"x\"]",
    ] {
        let (s, body) = list(&app, &format!("filter={}", urlencode(bad))).await;
        assert_eq!(s, 400, "{bad}: {body}");
        assert_eq!(body["scimType"], json!("invalidFilter"), "{bad}");
    }

    // Paging like any list.
    let (_, body) = list(&app, "startIndex=2&count=1").await;
    assert_eq!(body["totalResults"], json!(3));
    assert_eq!(body["startIndex"], json!(2));
    assert_eq!(body["itemsPerPage"], json!(1));
    assert_eq!(ids(&body), ["training"]);
    let (_, body) = list(&app, "count=0").await;
    assert_eq!(
        (body["totalResults"].clone(), ids(&body).len()),
        (json!(3), 0)
    );
    let (s, _) = list(&app, "count=many").await;
    assert_eq!(s, 400);
    let (_, body) = list(&app, "sortBy=capacity&sortOrder=descending").await;
    assert_eq!(ids(&body), ["meeting", "webinar", "training"]);
    let (_, body) = list(&app, "attributes=displayName").await;
    assert_eq!(
        body["Resources"][0],
        json!({"schemas": [CORE, EXT], "id": "meeting", "displayName": "meeting"})
    );

    // By id; an unknown one is a 404 with a SCIM body.
    let (s, one) = app.send(Method::GET, "Licenses/meeting", None).await;
    assert_eq!(s, 200, "{one}");
    assert_eq!(one["id"], json!("meeting"));
    assert_eq!(one[EXT]["capacity"], json!(10));
    let (s, err) = app.send(Method::GET, "Licenses/nope", None).await;
    assert_eq!(s, 404, "{err}");
    assert_eq!(err["status"], json!("404"));

    // Read-only: every write is a 405 that says what is allowed.
    for (method, path) in [
        (Method::POST, "Licenses"),
        (Method::PUT, "Licenses/webinar"),
        (Method::PATCH, "Licenses/webinar"),
        (Method::DELETE, "Licenses/webinar"),
    ] {
        let resp = app
            .req(method.clone(), path, &app.token)
            .body(json!({"displayName": "x"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 405, "{method} {path}");
        assert_eq!(resp.headers()["allow"], "GET", "{method} {path}");
    }

    // Without a token: 401; another account sees only its own products (none).
    let resp = app
        .client
        .get(format!("{}/Licenses", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let other = app.other_account_token("globex").await;
    let (s, body) = app.send_as(&other, Method::GET, "Licenses", None).await;
    assert_eq!(s, 200);
    assert_eq!(body["totalResults"], json!(0));

    // Discovery lists the resource type and both schemas.
    let (_, types) = app.send(Method::GET, "ResourceTypes", None).await;
    let license = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == json!("License"))
        .cloned()
        .expect("License in /ResourceTypes");
    assert_eq!(license["endpoint"], json!("/Licenses"));
    assert_eq!(license["schema"], json!(CORE));
    assert_eq!(license["schemaExtensions"][0]["schema"], json!(EXT));
    let (s, _) = app.send(Method::GET, "ResourceTypes/License", None).await;
    assert_eq!(s, 200);
    let (_, schemas) = app.send(Method::GET, "Schemas", None).await;
    let listed: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(
        listed.contains(&CORE) && listed.contains(&EXT),
        "{listed:?}"
    );
    for urn in [CORE, EXT] {
        let (s, doc) = app.send(Method::GET, &format!("Schemas/{urn}"), None).await;
        assert_eq!(s, 200, "{doc}");
        assert_eq!(doc["id"], json!(urn));
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn entitlements_hold_and_release_seats(app: TestApp) {
    let admin = products(&app, &[("webinar", 5), ("meeting", 5)]).await;

    // A License entitlement takes the seat; an entitlement of another type takes none.
    let (id, u) = create(
        &app,
        entitled(
            "ines",
            &[
                ("webinar", Some("License")),
                ("Premium support", Some("Badge")),
            ],
        ),
    )
    .await;
    assert_eq!(seat_states(&u), [pair("webinar", "assigned")]);
    assert_eq!(u["entitlements"].as_array().unwrap().len(), 2);
    assert_eq!(counts(&app, "webinar").await, (5, 1, 0));
    let e = entry(&app, &admin, "ines", "create").await;
    assert_eq!(
        e["seat_changes"],
        json!([{"user_id": id, "product": "webinar", "change": "assigned", "source": "idp"}]),
        "{e}"
    );

    // PATCH add: no type counts as a license, and the value is matched in any case.
    let (s, u) = patch(
        &app,
        &id,
        json!([{"op": "add", "path": "entitlements", "value": [{"value": "Meeting"}]}]),
    )
    .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(
        seat_states(&u),
        [pair("meeting", "assigned"), pair("webinar", "assigned")]
    );

    // PATCH remove by value filter frees that seat only.
    let (s, u) = patch(
        &app,
        &id,
        json!([{"op": "remove", "path": "entitlements[value eq \"webinar\"]"}]),
    )
    .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(seat_states(&u), [pair("meeting", "assigned")]);
    assert_eq!(counts(&app, "webinar").await, (5, 0, 0));
    let e = entry(&app, &admin, "ines", "update").await;
    assert_eq!(
        e["seat_changes"],
        json!([{"user_id": id, "product": "webinar", "change": "freed", "source": "idp"}]),
        "{e}"
    );

    // Suspension frees IdP seats like any other; reactivation takes them again.
    let (_, u) = patch(
        &app,
        &id,
        json!([{"op": "replace", "path": "active", "value": false}]),
    )
    .await;
    assert_eq!(seat_states(&u), []);
    assert_eq!(counts(&app, "meeting").await, (5, 0, 0));
    let (_, u) = patch(
        &app,
        &id,
        json!([{"op": "replace", "path": "active", "value": true}]),
    )
    .await;
    assert_eq!(seat_states(&u), [pair("meeting", "assigned")]);

    // PUT without the entitlement releases it.
    let (s, u) = app
        .send(
            Method::PUT,
            &format!("Users/{id}?{WITH_SEATS}"),
            Some(user("ines")),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(seat_states(&u), []);
    assert_eq!(counts(&app, "meeting").await, (5, 0, 0));
    // And a PUT with it takes it back.
    let (s, u) = app
        .send(
            Method::PUT,
            &format!("Users/{id}?{WITH_SEATS}"),
            Some(entitled("ines", &[("webinar", Some("license"))])),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(seat_states(&u), [pair("webinar", "assigned")]);

    // A value naming no product is a 400 that names it, and nothing is written.
    let (s, err) = app
        .send(
            Method::POST,
            "Users",
            Some(entitled(
                "jon",
                &[("webinar", None), ("recordings", Some("License"))],
            )),
        )
        .await;
    assert_eq!(s, 400, "{err}");
    assert_eq!(err["scimType"], json!("invalidValue"));
    assert!(
        err["detail"].as_str().unwrap().contains("'recordings'"),
        "{err}"
    );
    let (_, found) = app
        .send(Method::GET, "Users?filter=userName%20eq%20%22jon%22", None)
        .await;
    assert_eq!(found["totalResults"], json!(0));
    assert_eq!(counts(&app, "webinar").await, (5, 1, 0));
    let (s, err) = patch(
        &app,
        &id,
        json!([{"op": "add", "path": "entitlements", "value": [{"value": "nope", "type": "License"}]}]),
    )
    .await;
    assert_eq!(s, 400, "{err}");
    assert!(err["detail"].as_str().unwrap().contains("'nope'"), "{err}");
    assert_eq!(seats(&app, &id).await, [pair("webinar", "assigned")]);

    assert_counters_match_rows(&app).await;
}

async fn a_rule_and_an_entitlement_share_one_seat(app: TestApp) {
    let admin = products(&app, &[("webinar", 3)]).await;
    settings(&app, &admin, json!({"default_products": ["webinar"]})).await;

    // The rule and the entitlement both want the seat: one row, held for the IdP.
    let (id, u) = create(&app, entitled("kim", &[("webinar", Some("License"))])).await;
    assert_eq!(seat_states(&u), [pair("webinar", "assigned")]);
    assert_eq!(counts(&app, "webinar").await, (3, 1, 0));
    let e = entry(&app, &admin, "kim", "create").await;
    assert_eq!(e["seat_changes"][0]["source"], json!("idp"), "{e}");

    // Without the entitlement the rule still holds it: the seat stays, its source follows.
    let (_, u) = patch(&app, &id, json!([{"op": "remove", "path": "entitlements"}])).await;
    assert_eq!(seat_states(&u), [pair("webinar", "assigned")]);
    let e = entry(&app, &admin, "kim", "update").await;
    assert_eq!(
        e["seat_changes"],
        json!([{"user_id": id, "product": "webinar", "change": "source_changed", "source": "rule"}]),
        "{e}"
    );
    assert_eq!(counts(&app, "webinar").await, (3, 1, 0));

    // Back to the IdP; then the rule goes and the entitlement keeps the seat.
    patch(
        &app,
        &id,
        json!([{"op": "add", "path": "entitlements", "value": [{"value": "webinar", "type": "License"}]}]),
    )
    .await;
    settings(&app, &admin, json!({"default_products": []})).await;
    assert_eq!(seats(&app, &id).await, [pair("webinar", "assigned")]);
    assert_eq!(counts(&app, "webinar").await, (3, 1, 0));

    assert_counters_match_rows(&app).await;
}

async fn seat_policy_applies_to_licenses(app: TestApp) {
    let admin = products(&app, &[("webinar", 1)]).await;
    let license = [("webinar", Some("License"))];

    // Waitlist (the default): the second user waits, and gets the seat the moment the
    // first one's entitlement is removed.
    let (first, u) = create(&app, entitled("lou", &license)).await;
    assert_eq!(seat_states(&u), [pair("webinar", "assigned")]);
    let (second, u) = create(&app, entitled("max", &license)).await;
    assert_eq!(seat_states(&u), [pair("webinar", "waitlisted")]);
    assert_eq!(counts(&app, "webinar").await, (1, 1, 1));
    let e = entry(&app, &admin, "max", "create").await;
    assert_eq!(e["status"], json!("warning"), "{e}");
    assert_eq!(e["seat_changes"][0]["change"], json!("waitlisted"));
    assert_eq!(e["seat_changes"][0]["source"], json!("idp"));

    let (s, _) = patch(
        &app,
        &first,
        json!([{"op": "remove", "path": "entitlements[type eq \"License\"]"}]),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(seats(&app, &first).await, []);
    assert_eq!(seats(&app, &second).await, [pair("webinar", "assigned")]);
    assert_eq!(counts(&app, "webinar").await, (1, 1, 0));
    let e = entry(&app, &admin, "lou", "update").await;
    assert_eq!(
        e["seat_changes"],
        json!([
            {"user_id": first, "product": "webinar", "change": "freed", "source": "idp"},
            {"user_id": second, "product": "webinar", "change": "assigned", "source": "idp"}
        ]),
        "{e}"
    );

    // Reject: at capacity the request fails, names the product, and writes nothing.
    settings(&app, &admin, json!({"seat_policy": "reject"})).await;
    let (s, err) = app
        .send(Method::POST, "Users", Some(entitled("ned", &license)))
        .await;
    assert_eq!(s, 409, "{err}");
    assert!(err["detail"].as_str().unwrap().contains("webinar"), "{err}");
    let (_, found) = app
        .send(Method::GET, "Users?filter=userName%20eq%20%22ned%22", None)
        .await;
    assert_eq!(found["totalResults"], json!(0));
    let (s, err) = patch(
        &app,
        &first,
        json!([{"op": "add", "path": "entitlements", "value": [{"value": "webinar", "type": "License"}]}]),
    )
    .await;
    assert_eq!(s, 409, "{err}");
    assert_eq!(seats(&app, &first).await, []);
    let (_, u) = app
        .send(Method::GET, &format!("Users/{first}?{WITH_SEATS}"), None)
        .await;
    assert_eq!(
        u.get("entitlements"),
        None,
        "the refused PATCH wrote nothing: {u}"
    );
    let (_, c) = app
        .admin(&admin, Method::GET, "conflicts?status=open", None)
        .await;
    assert!(
        c["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == json!("no_seat") && c["product"] == json!("webinar")),
        "{c}"
    );

    assert_counters_match_rows(&app).await;
}

crate::on_both_backends!(
    licenses_are_listed_filtered_paged_and_read_only,
    entitlements_hold_and_release_seats,
    a_rule_and_an_entitlement_share_one_seat,
    seat_policy_applies_to_licenses,
);
