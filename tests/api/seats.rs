//! The provisioning engine through HTTP: pools, waitlist, suspension, policies, conflicts,
//! transfers, rules, the seat invariant under concurrency, the admin API's guards and
//! validation, and Roster's read-only user extension.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{
    create_seated as create, seat_pool as setup, user, TestApp, ROSTER_USER as EXT, WITH_SEATS,
};

fn seat_states(u: &Value) -> Vec<(String, String)> {
    u[EXT]["seats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["product"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn pool(app: &TestApp, admin: &str, product: &str) -> Value {
    let (_, body) = app.admin(admin, Method::GET, "products", None).await;
    body["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == json!(product))
        .cloned()
        .unwrap()
}

async fn get_user(app: &TestApp, id: &str) -> Value {
    let (s, u) = app
        .send(Method::GET, &format!("Users/{id}?{WITH_SEATS}"), None)
        .await;
    assert_eq!(s, 200, "{u}");
    u
}

fn deactivate(active: bool) -> Option<Value> {
    Some(
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": active}]}),
    )
}

async fn waitlist_is_served_first_come_first_served(app: TestApp) {
    let admin = setup(&app, "meeting", 2).await;
    let (a, ua) = create(&app, "a").await;
    let (_b, _) = create(&app, "b").await;
    let (c, uc) = create(&app, "c").await;
    let (d, _) = create(&app, "d").await;
    assert_eq!(
        seat_states(&ua),
        vec![("meeting".into(), "assigned".into())]
    );
    assert_eq!(
        seat_states(&uc),
        vec![("meeting".into(), "waitlisted".into())]
    );
    let p = pool(&app, &admin, "meeting").await;
    assert_eq!(
        (
            p["capacity"].clone(),
            p["assigned"].clone(),
            p["waitlisted"].clone()
        ),
        (json!(2), json!(2), json!(2))
    );

    let (_, conflicts) = app
        .admin(&admin, Method::GET, "conflicts?status=open", None)
        .await;
    let open = conflicts["conflicts"].as_array().unwrap();
    assert_eq!(open.len(), 2, "{conflicts}");
    assert!(open
        .iter()
        .all(|c| c["kind"] == json!("no_seat") && c["product"] == json!("meeting")));
    assert!(open[0]["guidance"]
        .as_str()
        .unwrap()
        .contains("Add licenses"));

    // Suspending a holder hands the seat to the first in line (c, not d).
    let (s, ua) = app
        .send(
            Method::PATCH,
            &format!("Users/{a}?{WITH_SEATS}"),
            deactivate(false),
        )
        .await;
    assert_eq!(s, 200, "{ua}");
    assert_eq!(ua[EXT]["status"], json!("suspended"));
    assert_eq!(seat_states(&ua), vec![]);
    assert_eq!(
        seat_states(&get_user(&app, &c).await),
        vec![("meeting".into(), "assigned".into())]
    );
    assert_eq!(
        seat_states(&get_user(&app, &d).await),
        vec![("meeting".into(), "waitlisted".into())]
    );

    // Suspended users stay listed and filterable.
    let (_, list) = app
        .send(
            Method::GET,
            &format!(
                "Users?filter={}",
                urlencode(&format!("{EXT}:status eq \"suspended\""))
            ),
            None,
        )
        .await;
    assert_eq!(list["totalResults"], json!(1), "{list}");
    assert_eq!(list["Resources"][0]["id"], json!(a));
    let (_, list) = app
        .send(
            Method::GET,
            &format!("Users?filter={}", urlencode("active eq false")),
            None,
        )
        .await;
    assert_eq!(list["totalResults"], json!(1));

    // Re-deactivating is a no-op: same version.
    let v = get_user(&app, &a).await["meta"]["version"].clone();
    let (s, again) = app
        .send(
            Method::PATCH,
            &format!("Users/{a}?{WITH_SEATS}"),
            deactivate(false),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(again["meta"]["version"], v);

    // Reactivating with the pool full waitlists behind d.
    let (_, ua) = app
        .send(
            Method::PATCH,
            &format!("Users/{a}?{WITH_SEATS}"),
            deactivate(true),
        )
        .await;
    assert_eq!(
        seat_states(&ua),
        vec![("meeting".into(), "waitlisted".into())]
    );

    // Adding licenses serves the waitlist in order: d, then a.
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 3})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        seat_states(&get_user(&app, &d).await),
        vec![("meeting".into(), "assigned".into())]
    );
    assert_eq!(
        seat_states(&get_user(&app, &a).await),
        vec![("meeting".into(), "waitlisted".into())]
    );
    let p = pool(&app, &admin, "meeting").await;
    assert_eq!(
        (p["assigned"].clone(), p["waitlisted"].clone()),
        (json!(3), json!(1))
    );

    // Shrinking below what is assigned is refused.
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 1})),
        )
        .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(body["error"]["code"], json!("seats_in_use"));

    // Deleting a holder frees the seat too.
    let (s, _) = app.send(Method::DELETE, &format!("Users/{c}"), None).await;
    assert_eq!(s, 204);
    assert_eq!(
        seat_states(&get_user(&app, &a).await),
        vec![("meeting".into(), "assigned".into())]
    );
    let (_, resolved) = app
        .admin(&admin, Method::GET, "conflicts?status=resolved", None)
        .await;
    assert!(
        resolved["conflicts"].as_array().unwrap().len() >= 2,
        "{resolved}"
    );
}

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

async fn reject_policy_refuses_and_writes_nothing(app: TestApp) {
    let admin = setup(&app, "webinar", 1).await;
    let (s, _) = app
        .admin(
            &admin,
            Method::PATCH,
            "settings",
            Some(json!({"seat_policy": "reject"})),
        )
        .await;
    assert_eq!(s, 200);
    create(&app, "first").await;
    let (s, err) = app.send(Method::POST, "Users", Some(user("second"))).await;
    assert_eq!(s, 409, "{err}");
    let detail = err["detail"].as_str().unwrap();
    assert!(
        detail.contains("webinar") && detail.contains("Add licenses"),
        "{detail}"
    );
    assert_eq!(err["status"], json!("409"));
    let (_, list) = app.send(Method::GET, "Users", None).await;
    assert_eq!(list["totalResults"], json!(1), "nothing half-written");
    // A retry counts as another attempt of the same conflict.
    app.send(Method::POST, "Users", Some(user("second"))).await;
    let (_, c) = app
        .admin(&admin, Method::GET, "conflicts?status=open", None)
        .await;
    let c = &c["conflicts"][0];
    assert_eq!(c["kind"], json!("no_seat"));
    assert_eq!(c["user_name"], json!("second"));
    assert_eq!(c["attempts"], json!(2));
    // With a license added, the retry succeeds and the conflict closes.
    app.admin(
        &admin,
        Method::PUT,
        "products/webinar",
        Some(json!({"seats": 2})),
    )
    .await;
    let (s, u) = app.send(Method::POST, "Users", Some(user("second"))).await;
    assert_eq!(s, 201, "{u}");
    let (_, c) = app
        .admin(&admin, Method::GET, "conflicts?status=open", None)
        .await;
    assert_eq!(c["conflicts"], json!([]));
}

async fn email_in_use_is_a_conflict_until_the_email_is_free(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let other = app.other_account_token("globex").await;
    let (s, theirs) = app
        .send_as(&other, Method::POST, "Users", Some(user("pat")))
        .await;
    assert_eq!(s, 201);
    for _ in 0..2 {
        let (s, err) = app.send(Method::POST, "Users", Some(user("pat"))).await;
        assert_eq!(s, 409);
        assert_eq!(err["scimType"], json!("uniqueness"));
        assert!(!err["detail"].as_str().unwrap().contains("globex"));
    }
    let (_, c) = app.admin(&admin, Method::GET, "conflicts", None).await;
    let c = &c["conflicts"][0];
    assert_eq!(c["kind"], json!("email_in_use"));
    assert_eq!(c["email"], json!("pat@example.com"));
    assert_eq!(c["attempts"], json!(2));
    assert_eq!(c["status"], json!("open"));
    assert!(c["guidance"].as_str().unwrap().contains("another account"));

    let id = theirs["id"].as_str().unwrap();
    app.send_as(&other, Method::DELETE, &format!("Users/{id}"), None)
        .await;
    let (s, _) = app.send(Method::POST, "Users", Some(user("pat"))).await;
    assert_eq!(s, 201);
    let (_, c) = app
        .admin(&admin, Method::GET, "conflicts?status=resolved", None)
        .await;
    assert_eq!(c["conflicts"][0]["kind"], json!("email_in_use"));
}

async fn sixty_four_concurrent_creates_hold_exactly_ten_seats(app: TestApp) {
    let admin = setup(&app, "meeting", 10).await;
    let mut tasks = vec![];
    for i in 0..64 {
        let client = app.client.clone();
        let url = format!("{}/Users", app.base);
        let token = app.token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
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
    let p = pool(&app, &admin, "meeting").await;
    assert_eq!(p["assigned"], json!(10), "{p}");
    assert_eq!(p["waitlisted"], json!(54), "{p}");
    let filter = urlencode(&format!(
        "{EXT}:seats[product eq \"meeting\" and state eq \"assigned\"]"
    ));
    let (_, list) = app
        .send(Method::GET, &format!("Users?filter={filter}&count=0"), None)
        .await;
    assert_eq!(list["totalResults"], json!(10), "{list}");
}

async fn transfer_with_and_without_retaining_data(app: TestApp) {
    let admin = setup(&app, "meeting", 1).await;
    let (id, _) = create(&app, "ann").await;

    let (s, out) = app
        .admin(
            &admin,
            Method::POST,
            &format!("users/{id}/transfer"),
            Some(json!({"email": "ann.new@example.com", "retain_data": true})),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    let u = get_user(&app, &id).await;
    assert_eq!(u["emails"][0]["value"], json!("ann.new@example.com"));
    assert_eq!(seat_states(&u), vec![("meeting".into(), "assigned".into())]);

    let (s, out) = app
        .admin(
            &admin,
            Method::POST,
            &format!("users/{id}/transfer"),
            Some(json!({"email": "bob@example.com", "retain_data": false})),
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["from"]["status"], json!("suspended"));
    assert_eq!(out["from"]["seats"], json!([]));
    assert_eq!(out["to"]["user_name"], json!("bob@example.com"));
    assert_eq!(out["to"]["seats"][0]["state"], json!("assigned"));
    let p = pool(&app, &admin, "meeting").await;
    assert_eq!(
        (p["assigned"].clone(), p["waitlisted"].clone()),
        (json!(1), json!(0)),
        "no seat lost or added"
    );

    // The new email obeys one person, one account.
    let other = app.other_account_token("initech").await;
    app.send_as(&other, Method::POST, "Users", Some(user("taken")))
        .await;
    let to = out["to"]["id"].as_str().unwrap();
    let (s, err) = app
        .admin(
            &admin,
            Method::POST,
            &format!("users/{to}/transfer"),
            Some(json!({"email": "taken@example.com", "retain_data": false})),
        )
        .await;
    assert_eq!(s, 409, "{err}");
    assert_eq!(err["error"]["code"], json!("email_in_use"));
    let p = pool(&app, &admin, "meeting").await;
    assert_eq!(p["assigned"], json!(1));
}

async fn group_and_filter_rules_grant_and_revoke(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/webinar",
        Some(json!({"seats": 5})),
    )
    .await;
    app.admin(
        &admin,
        Method::PUT,
        "products/support",
        Some(json!({"seats": 5})),
    )
    .await;
    let (uid, _) = create(&app, "gail").await;
    let (s, g) = app
        .send(
            Method::POST,
            "Groups",
            Some(json!({"displayName": "Webinar hosts"})),
        )
        .await;
    assert_eq!(s, 201);
    let gid = g["id"].as_str().unwrap();
    let (s, rule) = app
        .admin(
            &admin,
            Method::POST,
            "rules",
            Some(json!({"product": "webinar", "group": gid})),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    let (s, bad) = app
        .admin(
            &admin,
            Method::POST,
            "rules",
            Some(json!({"product": "support", "filter": "title eq"})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(bad["error"]["field"], json!("filter"));
    let (s, _) = app
        .admin(
            &admin,
            Method::POST,
            "rules",
            Some(json!({"product": "support", "filter": "title eq \"Agent\""})),
        )
        .await;
    assert_eq!(s, 201);

    let add = json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}]});
    app.send(Method::PATCH, &format!("Groups/{gid}"), Some(add))
        .await;
    assert_eq!(
        seat_states(&get_user(&app, &uid).await),
        vec![("webinar".into(), "assigned".into())]
    );

    let title = json!({"Operations": [{"op": "replace", "path": "title", "value": "Agent"}]});
    let (_, u) = app
        .send(
            Method::PATCH,
            &format!("Users/{uid}?{WITH_SEATS}"),
            Some(title),
        )
        .await;
    assert_eq!(
        seat_states(&u),
        vec![
            ("support".into(), "assigned".into()),
            ("webinar".into(), "assigned".into())
        ]
    );

    let remove =
        json!({"Operations": [{"op": "remove", "path": format!("members[value eq \"{uid}\"]")}]});
    app.send(Method::PATCH, &format!("Groups/{gid}"), Some(remove))
        .await;
    assert_eq!(
        seat_states(&get_user(&app, &uid).await),
        vec![("support".into(), "assigned".into())]
    );

    let rid = rule["id"].as_str().unwrap();
    let (s, _) = app
        .admin(&admin, Method::DELETE, &format!("rules/{rid}"), None)
        .await;
    assert_eq!(s, 200);
    let (_, rules) = app.admin(&admin, Method::GET, "rules", None).await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 1);
}

async fn admin_api_guards_and_validates(app: TestApp) {
    let (s, body) = app.admin("garbage", Method::GET, "products", None).await;
    assert_eq!(s, 401);
    assert_eq!(body["error"]["code"], json!("unauthorized"));
    // A SCIM token is no admin token.
    let (s, _) = app
        .admin(&app.token.clone(), Method::GET, "products", None)
        .await;
    assert_eq!(s, 401);

    let auditor = app.admin_token(Role::Auditor).await;
    let (s, _) = app.admin(&auditor, Method::GET, "settings", None).await;
    assert_eq!(s, 200);
    let (s, body) = app
        .admin(
            &auditor,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 1})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], json!("forbidden"));

    let admin = app.admin_token(Role::Admin).await;
    for (patch, field) in [
        (json!({"colour": "red"}), "colour"),
        (json!({"seat_policy": "sometimes"}), "seat_policy"),
        (json!({"recording_access": "everyone"}), "recording_access"),
        (json!({"default_products": "meeting"}), "default_products"),
    ] {
        let (s, body) = app
            .admin(&admin, Method::PATCH, "settings", Some(patch))
            .await;
        assert_eq!(s, 400, "{body}");
        assert_eq!(body["error"]["field"], json!(field), "{body}");
    }
    let (s, body) = app
        .admin(
            &admin,
            Method::PATCH,
            "settings",
            Some(json!({"recording_access": "own_only"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["recording_access"], json!("own_only"));
    assert_eq!(body["seat_policy"], json!("waitlist"));
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": -1})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["field"], json!("seats"));
    let (s, _) = app
        .admin(&admin, Method::POST, "users/nope/suspend", None)
        .await;
    assert_eq!(s, 404);
}

async fn roster_extension_is_read_only_and_returned_on_request(app: TestApp) {
    setup(&app, "meeting", 1).await;
    let mut body = user("rex");
    body[EXT] = json!({"status": "suspended", "seats": [{"product": "x", "state": "assigned"}]});
    let (s, plain) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(s, 201, "{plain}");
    assert!(plain.get(EXT).is_none(), "not returned by default: {plain}");
    assert!(!plain["schemas"].to_string().contains(EXT));
    let id = plain["id"].as_str().unwrap();
    let u = get_user(&app, id).await;
    assert_eq!(
        u[EXT]["status"],
        json!("active"),
        "input for read-only attributes is ignored"
    );
    assert_eq!(seat_states(&u), vec![("meeting".into(), "assigned".into())]);
    assert!(u["schemas"].to_string().contains(EXT));

    // Suspend and reactivate through the admin API.
    let admin = app.admin_token(Role::Admin).await;
    let (s, out) = app
        .admin(&admin, Method::POST, &format!("users/{id}/suspend"), None)
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["user"]["status"], json!("suspended"));
    assert_eq!(out["seat_changes"][0]["change"], json!("freed"));
    assert_eq!(get_user(&app, id).await["active"], json!(false));
    let (s, out) = app
        .admin(
            &admin,
            Method::POST,
            &format!("users/{id}/reactivate"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{out}");
    assert_eq!(out["user"]["seats"][0]["state"], json!("assigned"));
}

crate::on_both_backends!(
    waitlist_is_served_first_come_first_served,
    reject_policy_refuses_and_writes_nothing,
    email_in_use_is_a_conflict_until_the_email_is_free,
    sixty_four_concurrent_creates_hold_exactly_ten_seats,
    transfer_with_and_without_retaining_data,
    group_and_filter_rules_grant_and_revoke,
    admin_api_guards_and_validates,
    roster_extension_is_read_only_and_returned_on_request,
);
