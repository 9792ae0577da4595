//! Custom schema extensions per account: registered through the admin API, shown by
//! discovery to that account's token, accepted in every form Entra and Okta send, checked by
//! type, returned per `returned`, filterable, sortable and usable in seat rules; and
//! attributes in no schema ignored with a note and counted, never dropped in silence.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, TestApp};

const ENTRA: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";
const OKTA: &str = "urn:okta:acme:1.0:user:custom";

/// Every character but letters and digits percent-encoded, for a query string.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn entra_schema() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": ENTRA,
        "name": "CustomExtension",
        "description": "Attributes the Entra tenant maps",
        "attributes": [
            {"name": "costCenterCode", "type": "string", "multiValued": false, "required": false,
             "caseExact": false, "mutability": "readWrite", "returned": "default", "uniqueness": "none"},
            {"name": "badgeNumber", "type": "integer"},
            {"name": "startDate", "type": "dateTime"},
            {"name": "skills", "type": "string", "multiValued": true},
            {"name": "clearance", "type": "string", "returned": "request",
             "canonicalValues": ["public", "secret"]},
            {"name": "pin", "type": "string", "returned": "never", "mutability": "writeOnly"}
        ]
    })
}

async fn ids(app: &TestApp, filter: &str) -> Vec<String> {
    let (s, body) = app
        .send(Method::GET, &format!("Users?filter={}", enc(filter)), None)
        .await;
    assert_eq!(s, 200, "{filter}: {body}");
    let mut out: Vec<String> = body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

async fn last_entry(app: &TestApp, admin: &str) -> Value {
    let (s, body) = app
        .admin(admin, Method::GET, "sync-log?limit=1", None)
        .await;
    assert_eq!(s, 200, "{body}");
    body["entries"][0].clone()
}

async fn entra_stream_sets_changes_filters_and_clears_custom_attributes(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;

    // Before the extension exists: accepted, ignored with a note, counted; never a 400.
    let mut body = user("early");
    body[ENTRA] = json!({"costCenterCode": "R&D"});
    let (s, created) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(s, 201, "{created}");
    assert!(created.get(ENTRA).is_none(), "{created}");
    let entry = last_entry(&app, &admin).await;
    let notes = entry["notes"].to_string();
    assert!(
        notes.contains(&format!("{ENTRA}:costCenterCode"))
            && notes.contains("POST /admin/v1/schemas"),
        "the note names the attribute and how to keep it: {notes}"
    );
    let early = created["id"].as_str().unwrap().to_string();
    let (s, patched) = app
        .send(
            Method::PATCH,
            &format!("Users/{early}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": format!("{ENTRA}:costCenterCode"), "value": "R&D"}]
            })),
        )
        .await;
    assert_eq!(
        s, 200,
        "a PATCH to a path in no schema is not refused: {patched}"
    );
    let (s, report) = app
        .admin(&admin, Method::GET, "reports/unmapped", None)
        .await;
    assert_eq!(s, 200, "{report}");
    let rows = report["rows"].as_array().unwrap();
    let row = rows
        .iter()
        .find(|r| r["attribute"] == json!(format!("{ENTRA}:costCenterCode")))
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(row["connection"], json!("test"));
    assert_eq!(row["resource_type"], json!("User"));
    assert_eq!(row["count"], json!(2), "{report}");

    // Discovery without a token shows the built-in schemas only.
    let anon = |path: &str| app.client.get(format!("{}/{path}", app.base)).send();
    let schemas: Value = anon("Schemas").await.unwrap().json().await.unwrap();
    assert!(!schemas.to_string().contains(ENTRA));

    // Register it (an auditor may not; a bad document names its field).
    let auditor = app.admin_token(Role::Auditor).await;
    let (s, _) = app
        .admin(&auditor, Method::POST, "schemas", Some(entra_schema()))
        .await;
    assert_eq!(s, 403);
    let mut bad = entra_schema();
    bad["attributes"][1]["type"] = json!("number");
    let (s, e) = app.admin(&admin, Method::POST, "schemas", Some(bad)).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["code"], json!("invalid_schema"));
    assert_eq!(e["error"]["field"], json!("attributes[1].type"));
    let (s, added) = app
        .admin(&admin, Method::POST, "schemas", Some(entra_schema()))
        .await;
    assert_eq!(s, 201, "{added}");
    assert_eq!(added["id"], json!(ENTRA));
    assert_eq!(added["resourceType"], json!("User"));
    let (s, again) = app
        .admin(&admin, Method::POST, "schemas", Some(entra_schema()))
        .await;
    assert_eq!(s, 409, "{again}");
    let (_, listed) = app.admin(&admin, Method::GET, "schemas", None).await;
    assert_eq!(listed["schemas"][0]["id"], json!(ENTRA));

    // Discovery with the account's token shows it, in /Schemas and in schemaExtensions;
    // another account's token does not.
    let (_, schemas) = app.send(Method::GET, "Schemas", None).await;
    let ours = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == json!(ENTRA))
        .unwrap_or_else(|| panic!("{schemas}"));
    assert_eq!(ours["attributes"][0]["name"], json!("costCenterCode"));
    let (s, one) = app
        .send(Method::GET, &format!("Schemas/{ENTRA}"), None)
        .await;
    assert_eq!(s, 200, "{one}");
    let (_, types) = app.send(Method::GET, "ResourceTypes/User", None).await;
    assert!(
        types["schemaExtensions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["schema"] == json!(ENTRA)),
        "{types}"
    );
    let other = app.other_account_token("globex").await;
    let (_, theirs) = app.send_as(&other, Method::GET, "Schemas", None).await;
    assert!(!theirs.to_string().contains(ENTRA));

    // Entra's POST: the extension object, with its URN in `schemas`.
    let mut body = user("ada");
    body["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTRA]);
    body[ENTRA] = json!({
        "costCenterCode": "R&D", "badgeNumber": 7, "startDate": "2026-01-05T08:00:00+01:00",
        "skills": ["rust", "sql"], "clearance": "secret", "pin": "1234"
    });
    let (s, ada) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(s, 201, "{ada}");
    assert_eq!(ada[ENTRA]["costCenterCode"], json!("R&D"));
    assert_eq!(ada[ENTRA]["badgeNumber"], json!(7));
    assert!(
        ada[ENTRA].get("clearance").is_none(),
        "returned: request: {ada}"
    );
    assert!(ada[ENTRA].get("pin").is_none(), "returned: never: {ada}");
    assert!(ada["schemas"].as_array().unwrap().contains(&json!(ENTRA)));
    let ada_id = ada["id"].as_str().unwrap().to_string();
    let (_, asked) = app
        .send(
            Method::GET,
            &format!(
                "Users/{ada_id}?attributes={}",
                enc(&format!("{ENTRA}:clearance"))
            ),
            None,
        )
        .await;
    assert_eq!(asked[ENTRA]["clearance"], json!("secret"), "{asked}");
    assert!(asked[ENTRA].get("pin").is_none(), "{asked}");

    // The old user's value is registered now too: its PATCH names the attribute by URN.
    let (s, p) = app
        .send(
            Method::PATCH,
            &format!("Users/{early}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Add", "path": format!("{ENTRA}:costCenterCode"), "value": "Sales"}]
            })),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p[ENTRA]["costCenterCode"], json!("Sales"));

    // A wrong type is a 400 naming the attribute, in a POST and in a PATCH.
    let mut body = user("bad");
    body[ENTRA] = json!({"badgeNumber": "seven"});
    let (s, e) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["scimType"], json!("invalidValue"));
    assert!(e["detail"].as_str().unwrap().contains("badgeNumber"), "{e}");
    let (s, e) = app
        .send(
            Method::PATCH,
            &format!("Users/{ada_id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": format!("{ENTRA}:startDate"), "value": "next monday"}]
            })),
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert!(e["detail"].as_str().unwrap().contains("startDate"), "{e}");

    // A third user through a path-less replace with URN-prefixed keys (Entra's form).
    let (s, cy) = app.send(Method::POST, "Users", Some(user("cy"))).await;
    assert_eq!(s, 201);
    let cy_id = cy["id"].as_str().unwrap().to_string();
    let (s, cy) = app
        .send(
            Method::PATCH,
            &format!("Users/{cy_id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "value": {
                    format!("{ENTRA}:costCenterCode"): "r&d",
                    format!("{ENTRA}:badgeNumber"): 12
                }}]
            })),
        )
        .await;
    assert_eq!(s, 200, "{cy}");
    assert_eq!(cy[ENTRA]["badgeNumber"], json!(12));

    // Filters: case-insensitive strings, numbers, dates, presence, multi-valued, ne.
    let cc = format!("{ENTRA}:costCenterCode");
    assert_eq!(ids(&app, &format!("{cc} eq \"R&D\"")).await, ["ada", "cy"]);
    assert_eq!(ids(&app, &format!("{cc} ne \"r&d\"")).await, ["early"]);
    assert_eq!(ids(&app, &format!("{cc} sw \"sa\"")).await, ["early"]);
    assert_eq!(
        ids(&app, &format!("{ENTRA}:badgeNumber gt 10")).await,
        ["cy"]
    );
    assert_eq!(
        ids(&app, &format!("{ENTRA}:badgeNumber le 10")).await,
        ["ada"]
    );
    assert_eq!(
        ids(
            &app,
            &format!("{ENTRA}:startDate lt \"2026-01-05T08:00:00Z\"")
        )
        .await,
        ["ada"]
    );
    assert_eq!(
        ids(&app, &format!("{ENTRA}:skills eq \"SQL\"")).await,
        ["ada"]
    );
    assert_eq!(
        ids(&app, &format!("{ENTRA}:badgeNumber pr")).await,
        ["ada", "cy"]
    );
    assert_eq!(
        ids(
            &app,
            &format!("not ({ENTRA}:badgeNumber pr) and userName ne \"bad\"")
        )
        .await,
        ["early"]
    );
    let (s, e) = app
        .send(
            Method::GET,
            &format!("Users?filter={}", enc(&format!("{cc} gt 5"))),
            None,
        )
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["scimType"], json!("invalidFilter"));

    // Sorting by a custom attribute.
    let (s, sorted) = app
        .send(
            Method::GET,
            &format!(
                "Users?filter={}&sortBy={}&sortOrder=descending",
                enc(&format!("{ENTRA}:badgeNumber pr")),
                enc(&format!("{ENTRA}:badgeNumber"))
            ),
            None,
        )
        .await;
    assert_eq!(s, 200, "{sorted}");
    let order: Vec<&str> = sorted["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["cy", "ada"]);

    // A seat rule on the custom attribute.
    app.admin(
        &admin,
        Method::PUT,
        "products/webinar",
        Some(json!({"seats": 10})),
    )
    .await;
    let (s, rule) = app
        .admin(
            &admin,
            Method::POST,
            "rules",
            Some(json!({"product": "webinar", "filter": format!("{cc} eq \"R&D\"")})),
        )
        .await;
    assert_eq!(s, 201, "{rule}");
    let rule_id = rule["id"].as_str().unwrap().to_string();
    let seats = |body: &Value| {
        body["urn:roster:params:scim:schemas:extension:2.0:User"]["seats"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s["product"].as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let roster_ext = enc("urn:roster:params:scim:schemas:extension:2.0:User");
    let (_, a) = app
        .send(
            Method::GET,
            &format!("Users/{ada_id}?attributes={roster_ext}"),
            None,
        )
        .await;
    assert_eq!(seats(&a), ["webinar"], "{a}");
    // Changing the attribute moves the seat.
    let (s, _) = app
        .send(
            Method::PATCH,
            &format!("Users/{ada_id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Replace", "path": cc, "value": "Finance"}]
            })),
        )
        .await;
    assert_eq!(s, 200);
    let (_, a) = app
        .send(
            Method::GET,
            &format!("Users/{ada_id}?attributes={roster_ext}"),
            None,
        )
        .await;
    assert!(seats(&a).is_empty(), "{a}");

    // Clearing: PATCH remove, then the filter no longer finds it.
    let (s, cleared) = app
        .send(
            Method::PATCH,
            &format!("Users/{cy_id}"),
            Some(json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "Remove", "path": cc}]
            })),
        )
        .await;
    assert_eq!(s, 200, "{cleared}");
    assert!(cleared[ENTRA].get("costCenterCode").is_none(), "{cleared}");
    assert!(ids(&app, &format!("{cc} eq \"r&d\"")).await.is_empty());

    // The extension cannot go while a rule uses it; then it can, and it is gone from
    // discovery and responses (the values stay stored).
    let (s, e) = app
        .admin(&admin, Method::DELETE, &format!("schemas/{ENTRA}"), None)
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["error"]["code"], json!("schema_in_use"));
    let (s, _) = app
        .admin(&admin, Method::DELETE, &format!("rules/{rule_id}"), None)
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .admin(&admin, Method::DELETE, &format!("schemas/{ENTRA}"), None)
        .await;
    assert_eq!(s, 200);
    let (_, schemas) = app.send(Method::GET, "Schemas", None).await;
    assert!(!schemas.to_string().contains(ENTRA));
    let (_, a) = app
        .send(Method::GET, &format!("Users/{ada_id}"), None)
        .await;
    assert!(a.get(ENTRA).is_none(), "{a}");
    assert!(!a["schemas"].to_string().contains(ENTRA), "{a}");
    // Registered again, the stored values come back, indexed.
    let (s, _) = app
        .admin(&admin, Method::POST, "schemas", Some(entra_schema()))
        .await;
    assert_eq!(s, 201);
    assert_eq!(ids(&app, &format!("{cc} eq \"finance\"")).await, ["ada"]);
}

async fn okta_stream_replaces_and_clears_custom_attributes(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let schema = json!({
        "id": OKTA,
        "name": "Okta custom",
        "attributes": [
            {"name": "employeeType", "type": "string"},
            {"name": "isContractor", "type": "boolean"},
            {"name": "location", "type": "complex", "subAttributes": [
                {"name": "site", "type": "string"},
                {"name": "floor", "type": "integer"}
            ]}
        ]
    });
    // The URN does not say User: the request does.
    let (s, e) = app
        .admin(&admin, Method::POST, "schemas", Some(schema.clone()))
        .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["field"], json!("resourceType"));
    let (s, added) = app
        .admin(
            &admin,
            Method::POST,
            "schemas?resourceType=User",
            Some(schema),
        )
        .await;
    assert_eq!(s, 201, "{added}");

    // Okta: look up by userName, then POST, then PUT the whole user.
    assert!(ids(&app, "userName eq \"grace@acme.test\"")
        .await
        .is_empty());
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", OKTA],
        "userName": "grace@acme.test",
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "emails": [{"primary": true, "value": "grace@acme.test", "type": "work"}],
        "active": true,
        OKTA: {"employeeType": "Contractor", "isContractor": "true", "location": {"site": "Oslo", "floor": 3}}
    });
    let (s, g) = app.send(Method::POST, "Users", Some(body.clone())).await;
    assert_eq!(s, 201, "{g}");
    assert_eq!(
        g[OKTA]["isContractor"],
        json!(true),
        "a boolean as a string is read: {g}"
    );
    assert_eq!(g[OKTA]["location"]["floor"], json!(3));
    let id = g["id"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&app, &format!("{OKTA}:isContractor eq true")).await,
        ["grace@acme.test"]
    );
    assert_eq!(
        ids(&app, &format!("{OKTA}:location.site eq \"oslo\"")).await,
        ["grace@acme.test"]
    );
    assert_eq!(
        ids(&app, &format!("{OKTA}:location.floor ge 3")).await,
        ["grace@acme.test"]
    );

    let mut put = body.clone();
    put[OKTA] = json!({"employeeType": "Employee", "isContractor": false});
    let (s, g) = app
        .send(Method::PUT, &format!("Users/{id}"), Some(put))
        .await;
    assert_eq!(s, 200, "{g}");
    assert!(g[OKTA].get("location").is_none(), "{g}");
    assert!(ids(&app, &format!("{OKTA}:location.site pr"))
        .await
        .is_empty());
    assert_eq!(
        ids(&app, &format!("{OKTA}:employeeType eq \"employee\"")).await,
        ["grace@acme.test"]
    );

    // A PUT without the extension clears it.
    let mut put = body.clone();
    put.as_object_mut().unwrap().remove(OKTA);
    let (s, g) = app
        .send(Method::PUT, &format!("Users/{id}"), Some(put))
        .await;
    assert_eq!(s, 200, "{g}");
    assert!(g.get(OKTA).is_none(), "{g}");
    assert!(ids(&app, &format!("{OKTA}:employeeType pr"))
        .await
        .is_empty());

    // Deleting the user removes its indexed values.
    let (s, _) = app
        .send(Method::PUT, &format!("Users/{id}"), Some(body))
        .await;
    assert_eq!(s, 200);
    let (s, _) = app.send(Method::DELETE, &format!("Users/{id}"), None).await;
    assert_eq!(s, 204);
    assert!(ids(&app, &format!("{OKTA}:employeeType pr"))
        .await
        .is_empty());
}

async fn group_extensions_and_unique_attributes(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let urn = "urn:acme:params:scim:schemas:extension:2.0:Group";
    let (s, added) = app
        .admin(
            &admin,
            Method::POST,
            "schemas",
            Some(json!({
                "id": urn,
                "attributes": [
                    {"name": "costCenter", "type": "string", "uniqueness": "server"},
                    {"name": "owner", "type": "string", "required": true}
                ]
            })),
        )
        .await;
    assert_eq!(s, 201, "{added}");
    assert_eq!(added["resourceType"], json!("Group"));
    let (_, types) = app.send(Method::GET, "ResourceTypes/Group", None).await;
    assert_eq!(
        types["schemaExtensions"][0]["schema"],
        json!(urn),
        "{types}"
    );

    let group = |name: &str, cc: &str| {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", urn],
            "displayName": name,
            urn: {"costCenter": cc, "owner": "it"}
        })
    };
    let (s, g1) = app
        .send(Method::POST, "Groups", Some(group("one", "CC-1")))
        .await;
    assert_eq!(s, 201, "{g1}");
    assert_eq!(g1[urn]["costCenter"], json!("CC-1"));
    // Unique within the account, case-insensitively (the attribute is not caseExact).
    let (s, e) = app
        .send(Method::POST, "Groups", Some(group("two", "cc-1")))
        .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["scimType"], json!("uniqueness"));
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("costcenter"),
        "{e}"
    );
    // A required attribute of an extension the resource uses.
    let mut missing = group("three", "CC-3");
    missing[urn].as_object_mut().unwrap().remove("owner");
    let (s, e) = app.send(Method::POST, "Groups", Some(missing)).await;
    assert_eq!(s, 400, "{e}");
    assert!(e["detail"].as_str().unwrap().contains("owner"), "{e}");
    let (s, g2) = app
        .send(Method::POST, "Groups", Some(group("two", "CC-2")))
        .await;
    assert_eq!(s, 201, "{g2}");
    let (s, found) = app
        .send(
            Method::GET,
            &format!(
                "Groups?filter={}",
                enc(&format!("{urn}:costCenter eq \"cc-2\""))
            ),
            None,
        )
        .await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["totalResults"], json!(1));
    assert_eq!(found["Resources"][0]["displayName"], json!("two"));
    // Another account may use the same value.
    let other = app.other_account_token("globex").await;
    let (s, theirs) = app
        .send_as(&other, Method::POST, "Groups", Some(group("one", "CC-1")))
        .await;
    assert_eq!(s, 201, "the extension is this account's only: {theirs}");
    assert!(theirs.get(urn).is_none(), "{theirs}");
}

crate::on_both_backends!(
    entra_stream_sets_changes_filters_and_clears_custom_attributes,
    okta_stream_replaces_and_clears_custom_attributes,
    group_extensions_and_unique_attributes,
);
