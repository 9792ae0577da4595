//! The SCIM surface through HTTP: bearer auth, create and case-insensitive lookup, concurrent
//! creates of one userName, group membership PATCH, `If-Match`, account isolation, malformed
//! bodies.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{user, TestApp};

fn assert_error(body: &Value, status: &str, scim_type: Option<&str>) {
    assert_eq!(
        body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{body}"
    );
    assert_eq!(body["status"], json!(status), "{body}");
    if let Some(t) = scim_type {
        assert_eq!(body["scimType"], json!(t), "{body}");
    }
}

async fn a_bad_token_gets_401_with_a_scim_body(app: TestApp) {
    let resp = app
        .req(Method::GET, "Users", "rst_not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    assert!(resp.headers().contains_key("www-authenticate"));
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/scim+json"
    );
    let body: Value = resp.json().await.unwrap();
    assert_error(&body, "401", None);
}

async fn create_then_find_by_case_insensitive_username_and_email(app: TestApp) {
    let (status, created) = app.send(Method::POST, "Users", Some(user("Barbara"))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["meta"]["version"], json!("W/\"1\""));

    let (status, list) = app
        .send(
            Method::GET,
            "Users?filter=userName%20eq%20%22BARBARA%22",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["totalResults"], json!(1));
    assert_eq!(list["Resources"][0]["id"], json!(id));

    let (_, list) = app
        .send(
            Method::GET,
            "Users?filter=emails%5Btype%20eq%20%22work%22%20and%20value%20co%20%22barbara%40%22%5D",
            None,
        )
        .await;
    assert_eq!(list["totalResults"], json!(1), "{list}");

    let (_, none) = app
        .send(
            Method::GET,
            "Users?filter=userName%20eq%20%22nobody%22",
            None,
        )
        .await;
    assert_eq!(none["totalResults"], json!(0));

    let (status, err) = app
        .send(Method::GET, "Users?filter=userName%20eq%20no%22body", None)
        .await;
    assert_eq!(status, 400);
    assert_error(&err, "400", Some("invalidFilter"));
}

async fn concurrent_creates_of_one_username_make_one_user(app: TestApp) {
    let mut tasks = vec![];
    for _ in 0..16 {
        let client = app.client.clone();
        let url = format!("{}/Users", app.base);
        let token = app.token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .body(user("same").to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = vec![];
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );
    let (_, list) = app.send(Method::GET, "Users", None).await;
    assert_eq!(list["totalResults"], json!(1));
}

async fn group_membership_changes_only_what_is_named(app: TestApp) {
    let mut ids = vec![];
    for i in 0..5 {
        let (_, u) = app
            .send(Method::POST, "Users", Some(user(&format!("m{i}"))))
            .await;
        ids.push(u["id"].as_str().unwrap().to_string());
    }
    let members: Vec<Value> = ids.iter().take(3).map(|id| json!({"value": id})).collect();
    let (status, g) = app
        .send(
            Method::POST,
            "Groups",
            Some(json!({"displayName": "Sales", "members": members})),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    let path = format!("Groups/{gid}");

    // Re-adding an existing member and adding a new one.
    let (status, _) = app
        .send(
            Method::PATCH,
            &path,
            Some(
                json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members",
                    "value": [{"value": ids[0]}, {"value": ids[3]}]}]}),
            ),
        )
        .await;
    assert_eq!(status, 204);
    // Removing by value list removes only those.
    let (status, _) = app
        .send(
            Method::PATCH,
            &path,
            Some(json!({"Operations": [{"op": "Remove", "path": "members",
                "value": [{"value": ids[1]}]}]})),
        )
        .await;
    assert_eq!(status, 204);
    // A no-path replace without members keeps them.
    app.send(
        Method::PATCH,
        &path,
        Some(json!({"Operations": [{"op": "replace", "value": {"id": gid, "displayName": "Sales EU"}}]})),
    )
    .await;
    let (_, g) = app.send(Method::GET, &path, None).await;
    let mut got: Vec<&str> = g["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    got.sort();
    let mut want = vec![ids[0].as_str(), ids[2].as_str(), ids[3].as_str()];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(g["displayName"], json!("Sales EU"));

    // The user sees the group; excludedAttributes=members leaves them out.
    let (_, u) = app
        .send(Method::GET, &format!("Users/{}", ids[0]), None)
        .await;
    assert_eq!(u["groups"][0]["value"], json!(gid));
    let (_, g) = app
        .send(
            Method::GET,
            &format!("{path}?excludedAttributes=members"),
            None,
        )
        .await;
    assert!(g.get("members").is_none());

    // An unknown member is refused and nothing changes.
    let (status, err) = app
        .send(
            Method::PATCH,
            &path,
            Some(json!({"Operations": [
                {"op": "replace", "path": "displayName", "value": "Renamed"},
                {"op": "add", "path": "members", "value": [{"value": "no-such-id"}]}]})),
        )
        .await;
    assert_eq!(status, 400);
    assert_error(&err, "400", Some("invalidValue"));
    let (_, g) = app.send(Method::GET, &path, None).await;
    assert_eq!(g["displayName"], json!("Sales EU"));
}

async fn stale_if_match_is_412_and_current_succeeds(app: TestApp) {
    let (_, u) = app.send(Method::POST, "Users", Some(user("etag"))).await;
    let id = u["id"].as_str().unwrap();
    let patch = json!({"Operations": [{"op": "replace", "path": "title", "value": "x"}]});
    let resp = app
        .req(Method::PATCH, &format!("Users/{id}"), &app.token)
        .header("If-Match", "W/\"7\"")
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 412);
    let resp = app
        .req(Method::PATCH, &format!("Users/{id}"), &app.token)
        .header("If-Match", "W/\"1\"")
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), "W/\"2\"");
}

async fn accounts_never_see_each_other(app: TestApp) {
    let (_, u) = app.send(Method::POST, "Users", Some(user("mine"))).await;
    let id = u["id"].as_str().unwrap();
    let other = app.other_account_token("globex").await;
    let (status, _) = app
        .send_as(&other, Method::GET, &format!("Users/{id}"), None)
        .await;
    assert_eq!(status, 404);
    let (_, list) = app.send_as(&other, Method::GET, "Users", None).await;
    assert_eq!(list["totalResults"], json!(0));
    let (status, _) = app
        .send_as(&other, Method::DELETE, &format!("Users/{id}"), None)
        .await;
    assert_eq!(status, 404);

    // The same email in another account: 409, naming neither account nor user.
    let (status, err) = app
        .send_as(&other, Method::POST, "Users", Some(user("mine")))
        .await;
    assert_eq!(status, 409, "{err}");
    assert_error(&err, "409", Some("uniqueness"));
    let detail = err["detail"].as_str().unwrap();
    assert!(!detail.contains("acme") && !detail.contains(id), "{detail}");

    // Once the first account deletes its user, the email is free.
    let (status, _) = app.send(Method::DELETE, &format!("Users/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = app
        .send_as(&other, Method::POST, "Users", Some(user("mine")))
        .await;
    assert_eq!(status, 201);
}

async fn malformed_bodies_are_400_never_500(app: TestApp) {
    for body in ["{", "[]", "\"x\"", "{\"userName\": 5}", &"[".repeat(10_000)] {
        let resp = app
            .req(Method::POST, "Users", &app.token)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{body:.40}");
        let v: Value = resp.json().await.unwrap();
        assert_error(&v, "400", None);
    }
    let (_, list) = app.send(Method::GET, "Users", None).await;
    assert_eq!(list["totalResults"], json!(0));
}

crate::on_both_backends!(
    a_bad_token_gets_401_with_a_scim_body,
    create_then_find_by_case_insensitive_username_and_email,
    concurrent_creates_of_one_username_make_one_user,
    group_membership_changes_only_what_is_named,
    stale_if_match_is_412_and_current_succeeds,
    accounts_never_see_each_other,
    malformed_bodies_are_400_never_500,
);
