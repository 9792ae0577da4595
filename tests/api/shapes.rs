//! Entra and Okta wire shapes through HTTP: `remove` of `manager[value eq "ID"]`, the filter
//! `manager eq "ID"`, group displayNames unique per account (409 `uniqueness` on POST, PUT
//! and PATCH, in any case), Entra's app roles as JSON text decoded so a seat rule on
//! `roles.value` grants a seat, and `externalId` listed in `/Schemas`.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, TestApp};

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ROSTER: &str = "urn:roster:params:scim:schemas:extension:2.0:User";

fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}

/// Creates a user, with `extra` attributes; its id.
async fn create(app: &TestApp, name: &str, extra: Value) -> String {
    let mut body = user(name);
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (s, u) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(s, 201, "{u}");
    u["id"].as_str().unwrap().to_string()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let (s, body) = app.send(Method::GET, path, None).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// The ids a user filter finds, sorted.
async fn found(app: &TestApp, filter: &str) -> Vec<String> {
    let resp = app
        .req(Method::GET, "Users", &app.token)
        .query(&[("filter", filter)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200, "{filter}");
    let body: Value = resp.json().await.unwrap();
    let mut ids: Vec<String> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

async fn manager_removed_only_when_the_filter_matches(app: TestApp) {
    let id = create(
        &app,
        "ann",
        json!({ENT: {"department": "Sales", "manager": {"value": "boss-1"}}}),
    )
    .await;
    // Another manager's id: nothing changes, and it is no error.
    for path in [
        "manager[value eq \"boss-2\"]",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq \"boss-2\"]",
    ] {
        let (s, u) = app
            .send(
                Method::PATCH,
                &format!("Users/{id}"),
                Some(patch(json!([{"op": "remove", "path": path}]))),
            )
            .await;
        assert_eq!(s, 200, "{path}: {u}");
        assert_eq!(u[ENT]["manager"]["value"], json!("boss-1"), "{u}");
    }
    // The manager's id, as Entra sends it (URN-qualified, op in any case): cleared.
    let (s, u) = app
        .send(
            Method::PATCH,
            &format!("Users/{id}"),
            Some(patch(json!([{
                "op": "Remove",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq \"boss-1\"]"
            }]))),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u[ENT], json!({"department": "Sales"}), "{u}");
    let u = get(&app, &format!("Users/{id}")).await;
    assert!(u[ENT].get("manager").is_none(), "{u}");
    // Again, now that there is none: still fine.
    let (s, _) = app
        .send(
            Method::PATCH,
            &format!("Users/{id}"),
            Some(patch(
                json!([{"op": "remove", "path": "manager[value eq \"boss-1\"]"}]),
            )),
        )
        .await;
    assert_eq!(s, 200);
    // Unqualified, on another user; and a filtered add sets a manager where there is none.
    let other = create(&app, "bob", json!({ENT: {"manager": "boss-3"}})).await;
    let (s, u) = app
        .send(
            Method::PATCH,
            &format!("Users/{other}"),
            Some(patch(json!([
                {"op": "remove", "path": "manager[value eq \"boss-3\"]"},
                {"op": "add", "path": "manager[value eq \"boss-4\"]", "value": {"value": "boss-4"}}
            ]))),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u[ENT]["manager"], json!({"value": "boss-4"}), "{u}");
    // Replacing through a filter that selects another manager overwrites nothing.
    let (s, e) = app
        .send(
            Method::PATCH,
            &format!("Users/{other}"),
            Some(patch(json!([
                {"op": "replace", "path": "manager[value eq \"boss-1\"]", "value": "boss-5"}
            ]))),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["scimType"], json!("noTarget"), "{e}");
}

async fn manager_eq_compares_the_managers_id(app: TestApp) {
    let a = create(&app, "ann", json!({ENT: {"manager": {"value": "Boss-1"}}})).await;
    let b = create(&app, "bob", json!({ENT: {"manager": "boss-2"}})).await;
    let _c = create(&app, "cy", json!({})).await;
    assert_eq!(found(&app, "manager eq \"Boss-1\"").await, [a.as_str()]);
    assert_eq!(
        found(&app, &format!("{ENT}:manager eq \"boss-2\"")).await,
        [b.as_str()]
    );
    assert_eq!(
        found(&app, &format!("{ENT}:manager.value eq \"boss-2\"")).await,
        [b.as_str()]
    );
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(found(&app, "manager pr").await, both);
    assert_eq!(
        found(&app, "manager eq \"Boss-1\" or manager eq \"boss-2\"").await,
        both
    );
    // Still a 400 for a complex attribute with no `value`.
    let resp = app
        .req(Method::GET, "Users", &app.token)
        .query(&[("filter", "name eq \"x\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

async fn group_names_are_unique_per_account_in_any_case(app: TestApp) {
    let group = |name: &str| json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name});
    let (s, sales) = app.send(Method::POST, "Groups", Some(group("Sales"))).await;
    assert_eq!(s, 201, "{sales}");
    for name in ["Sales", "sales", "SALES"] {
        let (s, e) = app.send(Method::POST, "Groups", Some(group(name))).await;
        assert_eq!(s, 409, "{name}: {e}");
        assert_eq!(e["scimType"], json!("uniqueness"), "{e}");
        assert!(e["detail"].as_str().unwrap().contains("displayName"), "{e}");
    }
    let (s, ops) = app.send(Method::POST, "Groups", Some(group("Ops"))).await;
    assert_eq!(s, 201);
    let ops_id = ops["id"].as_str().unwrap();
    // PUT and PATCH to a taken name.
    let (s, e) = app
        .send(
            Method::PUT,
            &format!("Groups/{ops_id}"),
            Some(group("sALES")),
        )
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["scimType"], json!("uniqueness"));
    for op in [
        json!({"op": "replace", "path": "displayName", "value": "SaLeS"}),
        json!({"op": "replace", "value": {"displayName": "sales"}}),
    ] {
        let (s, e) = app
            .send(
                Method::PATCH,
                &format!("Groups/{ops_id}"),
                Some(patch(json!([op]))),
            )
            .await;
        assert_eq!(s, 409, "{e}");
        assert_eq!(e["scimType"], json!("uniqueness"));
    }
    let g = get(&app, &format!("Groups/{ops_id}")).await;
    assert_eq!(g["displayName"], json!("Ops"));
    // A group may change the case of its own name, and keep it on PUT.
    let (s, g) = app
        .send(
            Method::PATCH,
            &format!("Groups/{ops_id}?attributes=displayName"),
            Some(patch(
                json!([{"op": "replace", "path": "displayName", "value": "OPS"}]),
            )),
        )
        .await;
    assert!(s == 200 || s == 204, "{s} {g}");
    let (s, _) = app
        .send(Method::PUT, &format!("Groups/{ops_id}"), Some(group("OPS")))
        .await;
    assert_eq!(s, 200);
    // A freed name can be taken again; another account has names of its own.
    let sales_id = sales["id"].as_str().unwrap();
    let (s, _) = app
        .send(Method::DELETE, &format!("Groups/{sales_id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.send(Method::POST, "Groups", Some(group("sales"))).await;
    assert_eq!(s, 201);
    let other = app.other_account_token("globex").await;
    let (s, _) = app
        .send_as(&other, Method::POST, "Groups", Some(group("Sales")))
        .await;
    assert_eq!(s, 201);
}

async fn entra_app_roles_are_decoded_and_grant_seats(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            "products/console",
            Some(json!({"seats": 5})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, rule) = app
        .admin(
            &admin,
            Method::POST,
            "rules",
            Some(json!({"product": "console", "filter": "roles.value eq \"Admin\""})),
        )
        .await;
    assert_eq!(s, 201, "{rule}");

    // POST as Entra sends it: `displayName` for `display`; a role that grants nothing.
    let id = create(
        &app,
        "ann",
        json!({"roles": [{
            "primary": false,
            "type": "WindowsAzureActiveDirectoryRole",
            "displayName": "Reader",
            "value": "Reader"
        }]}),
    )
    .await;
    let seats = |u: &Value| u[ROSTER]["seats"].as_array().cloned().unwrap_or_default();
    let u = get(&app, &format!("Users/{id}?attributes=roles,{ROSTER}")).await;
    assert_eq!(
        u["roles"],
        json!([{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "display": "Reader", "value": "Reader"}])
    );
    assert!(seats(&u).is_empty(), "{u}");

    // PATCH as Entra's AppRoleAssignmentsComplex sends it: each value JSON text.
    let (s, u) = app
        .send(
            Method::PATCH,
            &format!("Users/{id}?attributes=roles,{ROSTER}"),
            Some(patch(json!([{
                "op": "Add",
                "path": "roles",
                "value": [{"value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"Admin\",\"displayName\":\"Administrator\"}"}]
            }]))),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(
        u["roles"][1],
        json!({"value": "Admin", "display": "Administrator"}),
        "{u}"
    );
    let states: Vec<(Value, Value)> = seats(&u)
        .iter()
        .map(|s| (s["product"].clone(), s["state"].clone()))
        .collect();
    assert_eq!(states, [(json!("console"), json!("assigned"))], "{u}");
    assert_eq!(found(&app, "roles.value eq \"Admin\"").await, [id.as_str()]);
    // The rewrite is noted in the request's sync-log entry.
    let (s, log) = app
        .admin(&admin, Method::GET, "sync-log?operation=update", None)
        .await;
    assert_eq!(s, 200, "{log}");
    assert!(
        log["entries"]
            .to_string()
            .contains("AppRoleAssignmentsComplex"),
        "{log}"
    );

    // A user created with the whole list as one string of JSON gets the seat at once.
    let other = create(
        &app,
        "bob",
        json!({"roles": "[{\"id\":\"1\",\"value\":\"Admin\",\"displayName\":\"Administrator\"}]"}),
    )
    .await;
    let u = get(&app, &format!("Users/{other}?attributes=roles,{ROSTER}")).await;
    assert_eq!(
        u["roles"],
        json!([{"value": "Admin", "display": "Administrator"}])
    );
    assert_eq!(seats(&u).len(), 1, "{u}");

    // Removing the role (listed as it was added) frees the seat.
    let (s, u) = app
        .send(
            Method::PATCH,
            &format!("Users/{id}?attributes=roles,{ROSTER}"),
            Some(patch(json!([{
                "op": "remove",
                "path": "roles",
                "value": [{"value": "{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"Admin\",\"displayName\":\"Administrator\"}"}]
            }]))),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["roles"].as_array().unwrap().len(), 1, "{u}");
    assert!(seats(&u).is_empty(), "{u}");
}

async fn external_id_is_in_the_schemas_and_behaves_as_before(app: TestApp) {
    for urn in [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:Group",
    ] {
        let schema = get(&app, &format!("Schemas/{urn}")).await;
        let attr = schema["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == json!("externalId"))
            .cloned()
            .unwrap_or_else(|| panic!("no externalId in {schema}"));
        assert_eq!(attr["type"], json!("string"));
        assert_eq!(attr["multiValued"], json!(false));
        assert_eq!(attr["caseExact"], json!(true));
        assert_eq!(attr["mutability"], json!("readWrite"));
        assert_eq!(attr["returned"], json!("default"));
        assert_eq!(attr["uniqueness"], json!("none"));
    }
    let list = get(&app, "Schemas").await;
    let listed = list["Resources"].to_string();
    assert!(listed.contains("externalId"), "{list}");

    // As before: set, returned, filtered case-exactly, changed by PATCH, not unique.
    let a = create(&app, "ann", json!({"externalId": "Ext-1"})).await;
    let b = create(&app, "bob", json!({"externalId": "Ext-1"})).await;
    let mut both = vec![a.clone(), b.clone()];
    both.sort();
    assert_eq!(found(&app, "externalId eq \"Ext-1\"").await, both);
    assert!(found(&app, "externalId eq \"ext-1\"").await.is_empty());
    let (s, u) = app
        .send(
            Method::PATCH,
            &format!("Users/{a}"),
            Some(patch(
                json!([{"op": "replace", "path": "externalId", "value": "Ext-2"}]),
            )),
        )
        .await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["externalId"], json!("Ext-2"));
    assert_eq!(
        found(
            &app,
            "urn:ietf:params:scim:schemas:core:2.0:User:externalId eq \"Ext-2\""
        )
        .await,
        [a.as_str()]
    );
    let u = get(&app, &format!("Users/{a}?excludedAttributes=externalId")).await;
    assert!(u.get("externalId").is_none(), "{u}");
    let (s, g) = app
        .send(
            Method::POST,
            "Groups",
            Some(json!({"displayName": "g", "externalId": "G-1"})),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    assert_eq!(g["externalId"], json!("G-1"));
}

crate::on_both_backends!(
    manager_removed_only_when_the_filter_matches,
    manager_eq_compares_the_managers_id,
    group_names_are_unique_per_account_in_any_case,
    entra_app_roles_are_decoded_and_grant_seats,
    external_id_is_in_the_schemas_and_behaves_as_before,
);
