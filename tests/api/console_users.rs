//! The console's users, products and connections pages over HTTP: a SCIM-filter search
//! (a bad filter shown with its caret), suspend, reactivate and transfer through their
//! confirmation forms, licenses changed (and refused next to the field), the waitlist in
//! queue order, a connection's token shown once and revoked, and an auditor with no control
//! that writes.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, ConsoleSession, TestApp};

async fn get(app: &TestApp, s: &ConsoleSession, path: &str) -> (u16, String) {
    let resp = app.console_req(s, Method::GET, path).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// Posts a form as a browser does, with the session's CSRF token.
async fn post(
    app: &TestApp,
    s: &ConsoleSession,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let mut all = vec![("csrf", s.csrf.as_str())];
    all.extend_from_slice(fields);
    let resp = app
        .console_req(s, Method::POST, path)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(&all).unwrap())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

fn query(filter: &str) -> String {
    format!(
        "/console/users?{}",
        serde_urlencoded::to_string([("filter", filter)]).unwrap()
    )
}

/// A product of `seats` licenses that every new user asks for.
async fn product_for_everyone(app: &TestApp, product: &str, seats: i64) {
    let admin = app.admin_token(Role::Admin).await;
    let (s, body) = app
        .admin(
            &admin,
            Method::PUT,
            &format!("products/{product}"),
            Some(json!({"seats": seats})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app
        .admin(
            &admin,
            Method::PATCH,
            "settings",
            Some(json!({"default_products": [product]})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

async fn create(app: &TestApp, name: &str) -> String {
    let (s, u) = app.send(Method::POST, "Users", Some(user(name))).await;
    assert_eq!(s, 201, "{u}");
    u["id"].as_str().unwrap().to_string()
}

async fn scim_user(app: &TestApp, id: &str) -> Value {
    let (s, u) = app.send(Method::GET, &format!("Users/{id}"), None).await;
    assert_eq!(s, 200, "{u}");
    u
}

/// The text of the element that starts with `start` (up to its closing `end`).
fn between<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {page}"));
    let rest = &page[from + start.len()..];
    &rest[..rest.find(end).unwrap()]
}

async fn users_are_listed_and_filtered_and_a_bad_filter_shows_its_caret(app: TestApp) {
    create(&app, "alice").await;
    create(&app, "bob").await;
    let s = app.console(Role::Admin).await;

    let (status, page) = get(&app, &s, "/console/users").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<label for=\"field-filter\">SCIM filter</label>"),
        "{page}"
    );
    assert!(page.contains("<th scope=\"row\">alice</th>"), "{page}");
    assert!(page.contains("<th scope=\"row\">bob</th>"), "{page}");
    assert!(page.contains("class=\"table-wrap\""), "{page}");
    assert!(page.contains(">active</span>"), "{page}");
    assert!(page.contains(">Suspend<"), "{page}");
    assert!(page.contains(">Transfer<"), "{page}");

    let (status, page) = get(&app, &s, &query("userName eq \"alice\"")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<th scope=\"row\">alice</th>"), "{page}");
    assert!(!page.contains("<th scope=\"row\">bob</th>"), "{page}");
    assert!(page.contains("of 1 matching the filter"), "{page}");

    let (status, page) = get(&app, &s, &query("userName sw \"zz\"")).await;
    assert_eq!(status, 200);
    assert!(page.contains("No users match this filter."), "{page}");

    // A syntax error: the message, the filter and a caret under where it went wrong, as
    // `roster filter` prints it.
    let (status, page) = get(&app, &s, &query("userName eq")).await;
    assert_eq!(status, 400, "{page}");
    let pre = between(
        &page,
        "<pre id=\"error-filter\" role=\"alert\" class=\"error\" tabindex=\"0\">",
        "</pre>",
    );
    assert!(pre.starts_with("error: expected"), "{pre}");
    let lines: Vec<&str> = pre.lines().collect();
    assert_eq!(lines.len(), 3, "{pre}");
    assert_eq!(lines[1], "  userName eq");
    assert_eq!(lines[2], format!("  {}^", " ".repeat("userName eq".len())));
    assert!(page.contains("aria-invalid=\"true\""), "{page}");
    assert!(
        page.contains("aria-describedby=\"error-filter hint-filter\""),
        "{page}"
    );
    assert!(!page.contains("<table id=\"users\""), "{page}");

    // It parses but names no attribute of a user: the engine's refusal, in the same place.
    let (status, page) = get(&app, &s, &query("nosuch eq \"x\"")).await;
    assert_eq!(status, 400, "{page}");
    let pre = between(
        &page,
        "<pre id=\"error-filter\" role=\"alert\" class=\"error\" tabindex=\"0\">",
        "</pre>",
    );
    assert!(pre.contains("nosuch"), "{pre}");
}

async fn suspend_and_reactivate_go_through_their_confirmation_forms(app: TestApp) {
    product_for_everyone(&app, "meeting", 1).await;
    let alice = create(&app, "alice").await;
    let bob = create(&app, "bob").await;
    let s = app.console(Role::Admin).await;

    let (status, page) = get(&app, &s, &format!("/console/users/{alice}/suspend")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Suspend alice</h1>"), "{page}");
    assert!(
        page.contains(&format!(
            "<form method=\"post\" action=\"/console/users/{alice}/suspend\""
        )),
        "{page}"
    );
    assert!(page.contains(">Suspend user</button>"), "{page}");
    assert!(page.contains("meeting: assigned"), "{page}");
    // Looking changes nothing.
    assert_eq!(scim_user(&app, &alice).await["active"], json!(true));

    // Without the form's token nothing happens.
    let refused = app
        .console_req(&s, Method::POST, &format!("/console/users/{alice}/suspend"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(scim_user(&app, &alice).await["active"], json!(true));

    let (status, page) = post(&app, &s, &format!("/console/users/{alice}/suspend"), &[]).await;
    assert_eq!(status, 200, "{page}");
    let notice = between(&page, "<p class=\"notice\" role=\"status\">", "</p>");
    assert!(notice.starts_with("alice is suspended."), "{notice}");
    assert!(notice.contains("meeting seat of alice freed"), "{notice}");
    assert!(notice.contains("meeting seat assigned to bob"), "{notice}");
    assert!(page.contains("<table id=\"seat-changes\""), "{page}");
    assert_eq!(scim_user(&app, &alice).await["active"], json!(false));

    // The list now offers to reactivate her.
    let (_, page) = get(&app, &s, "/console/users").await;
    assert!(
        page.contains(&format!("href=\"/console/users/{alice}/reactivate\"")),
        "{page}"
    );
    assert!(page.contains(">suspended</span>"), "{page}");

    let (status, page) = get(&app, &s, &format!("/console/users/{alice}/reactivate")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(">Reactivate user</button>"), "{page}");
    let (status, page) = post(&app, &s, &format!("/console/users/{alice}/reactivate"), &[]).await;
    assert_eq!(status, 200, "{page}");
    let notice = between(&page, "<p class=\"notice\" role=\"status\">", "</p>");
    assert!(notice.starts_with("alice is active again."), "{notice}");
    // Bob holds the only seat now: she waits for it.
    assert!(notice.contains("alice waitlisted for meeting"), "{notice}");
    assert_eq!(scim_user(&app, &alice).await["active"], json!(true));
    assert_eq!(scim_user(&app, &bob).await["active"], json!(true));

    // An unknown user or action is a page that says so.
    let (status, page) = get(&app, &s, "/console/users/no-such-id/suspend").await;
    assert_eq!(status, 404, "{page}");
    assert!(page.contains("no user with this id"), "{page}");
    let (status, _) = get(&app, &s, &format!("/console/users/{alice}/delete")).await;
    assert_eq!(status, 404);
    let (status, _) = post(&app, &s, "/console/users/no-such-id/suspend", &[]).await;
    assert_eq!(status, 404);
}

async fn transfer_moves_seats_and_a_bad_email_is_shown_next_to_its_field(app: TestApp) {
    product_for_everyone(&app, "meeting", 1).await;
    let ann = create(&app, "ann").await;
    let s = app.console(Role::Admin).await;
    let url = format!("/console/users/{ann}/transfer");

    let (status, page) = get(&app, &s, &url).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("<label for=\"field-email\">New email</label>"),
        "{page}"
    );
    assert!(
        page.contains("name=\"retain_data\" type=\"checkbox\""),
        "{page}"
    );
    assert!(page.contains(">Transfer seats</button>"), "{page}");

    let (status, page) = post(&app, &s, &url, &[("email", "not an email")]).await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("<p class=\"field-error\" id=\"error-email\">"),
        "{page}"
    );
    assert!(page.contains("aria-invalid=\"true\""), "{page}");
    assert!(page.contains("value=\"not an email\""), "{page}");

    // Keeping the data: the same user takes the new email and keeps the seat.
    let (status, page) = post(
        &app,
        &s,
        &url,
        &[("email", "ann.new@example.com"), ("retain_data", "on")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let notice = between(&page, "<p class=\"notice\" role=\"status\">", "</p>");
    assert!(
        notice.contains("ann now has the email ann.new@example.com"),
        "{notice}"
    );
    let u = scim_user(&app, &ann).await;
    assert_eq!(u["emails"][0]["value"], json!("ann.new@example.com"));
    assert_eq!(u["active"], json!(true));

    // Without: the seat goes to a new user with that email and ann is suspended.
    let (status, page) = post(&app, &s, &url, &[("email", "bob@example.com")]).await;
    assert_eq!(status, 200, "{page}");
    let notice = between(&page, "<p class=\"notice\" role=\"status\">", "</p>");
    assert!(
        notice.contains("The seats of ann moved to bob@example.com"),
        "{notice}"
    );
    assert!(notice.contains("ann is suspended"), "{notice}");
    assert!(notice.contains("meeting"), "{notice}");
    assert_eq!(scim_user(&app, &ann).await["active"], json!(false));
    let (_, list) = app
        .send(
            Method::GET,
            "Users?filter=userName%20eq%20%22bob@example.com%22",
            None,
        )
        .await;
    assert_eq!(list["totalResults"], json!(1), "{list}");
}

async fn licenses_change_and_the_waitlist_shows_in_queue_order(app: TestApp) {
    product_for_everyone(&app, "meeting", 2).await;
    for name in ["u1", "u2", "zed", "amy"] {
        create(&app, name).await;
    }
    let s = app.console(Role::Admin).await;

    let (status, page) = get(&app, &s, "/console/products").await;
    assert_eq!(status, 200, "{page}");
    let table = between(&page, "<table id=\"products\">", "</table>");
    assert!(
        table.contains("<a href=\"#product-meeting\">meeting</a></th><td class=\"num\">2</td><td class=\"num\">2</td><td class=\"num\">0</td><td class=\"num\">2</td>"),
        "{table}"
    );
    // First come, first served: zed joined before amy.
    let waitlist = between(
        &page,
        "<ol class=\"waitlist\" id=\"waitlist-meeting\"",
        "</ol>",
    );
    let (zed, amy) = (
        waitlist.find(">zed<").unwrap(),
        waitlist.find(">amy<").unwrap(),
    );
    assert!(zed < amy, "{waitlist}");
    assert!(
        page.contains("<form method=\"post\" action=\"/console/products/meeting\""),
        "{page}"
    );
    assert!(
        page.contains("<label for=\"field-seats-meeting\">Licenses"),
        "{page}"
    );

    // Fewer licenses than are assigned: refused next to the field, with the engine's status.
    let (status, page) = post(&app, &s, "/console/products/meeting", &[("seats", "1")]).await;
    assert_eq!(status, 409, "{page}");
    assert!(
        page.contains("<label for=\"field-seats\">Licenses</label>"),
        "{page}"
    );
    let error = between(
        &page,
        "<p class=\"field-error\" id=\"error-seats\">",
        "</p>",
    );
    assert!(
        error.contains("2 seats of 'meeting' are assigned"),
        "{error}"
    );
    assert!(page.contains("aria-invalid=\"true\""), "{page}");

    let (status, page) = post(&app, &s, "/console/products/meeting", &[("seats", "many")]).await;
    assert_eq!(status, 400, "{page}");
    let error = between(
        &page,
        "<p class=\"field-error\" id=\"error-seats\">",
        "</p>",
    );
    assert!(error.contains("not a whole number"), "{error}");
    let (status, page) = post(&app, &s, "/console/products/meeting", &[("seats", "-3")]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("id=\"error-seats\""), "{page}");

    // One more license: the first in line gets it.
    let (status, page) = post(&app, &s, "/console/products/meeting", &[("seats", "3")]).await;
    assert_eq!(status, 200, "{page}");
    let notice = between(&page, "<p class=\"notice\" role=\"status\">", "</p>");
    assert!(
        notice.starts_with("meeting now has 3 licenses (was 2): 3 assigned, 1 waitlisted."),
        "{notice}"
    );
    assert!(notice.contains("meeting seat assigned to zed"), "{notice}");
    let waitlist = between(
        &page,
        "<ol class=\"waitlist\" id=\"waitlist-meeting\"",
        "</ol>",
    );
    assert!(
        waitlist.contains(">amy<") && !waitlist.contains(">zed<"),
        "{waitlist}"
    );

    // A new product.
    let (status, page) = post(
        &app,
        &s,
        "/console/products",
        &[("product", "Web Inar"), ("seats", "5")],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("<p class=\"field-error\" id=\"error-product\">"),
        "{page}"
    );
    assert!(page.contains("value=\"Web Inar\""), "{page}");
    let (status, page) = post(
        &app,
        &s,
        "/console/products",
        &[("product", "webinar"), ("seats", "5")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let notice = between(&page, "<p class=\"notice\" role=\"status\">", "</p>");
    assert!(
        notice.starts_with("webinar now has 5 licenses (a new product)"),
        "{notice}"
    );
    let admin = app.admin_token(Role::Admin).await;
    let (_, products) = app.admin(&admin, Method::GET, "products", None).await;
    let webinar = products["products"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product"] == json!("webinar"))
        .cloned()
        .unwrap();
    assert_eq!(webinar["capacity"], json!(5));
}

async fn a_connection_token_is_shown_once_works_and_is_revoked(app: TestApp) {
    let s = app.console(Role::Admin).await;
    let (status, page) = get(&app, &s, "/console/connections").await;
    assert_eq!(status, 200, "{page}");
    // The test app's own connection.
    assert!(page.contains("<th scope=\"row\">test</th>"), "{page}");
    assert!(
        page.contains("<label for=\"field-name\">Name</label>"),
        "{page}"
    );
    assert!(
        page.contains("<select id=\"field-auth\" name=\"auth\">"),
        "{page}"
    );

    let (status, page) = post(
        &app,
        &s,
        "/console/connections",
        &[("name", "okta eu/west"), ("auth", "bearer")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("shown once"), "{page}");
    let token = between(&page, "<output id=\"secret\">", "</output>").to_string();
    assert!(token.len() >= 20, "{token}");
    assert_eq!(
        page.matches(token.as_str()).count(),
        1,
        "the token once: {page}"
    );

    let (status, list) = app.send_as(&token, Method::GET, "Users", None).await;
    assert_eq!(status, 200, "{list}");

    let (status, page) = get(&app, &s, "/console/connections").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<th scope=\"row\">okta eu/west</th>"),
        "{page}"
    );
    assert!(!page.contains(&token), "the token is not shown again");
    // The name goes in the URL as one path segment.
    let action = "/console/connections/okta%20eu%2Fwest/revoke";
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");

    let (status, page) = post(&app, &s, action, &[]).await;
    assert_eq!(status, 200, "{page}");
    let notice = between(&page, "<p class=\"notice\" role=\"status\">", "</p>");
    assert!(
        notice.starts_with("Revoked the connection okta eu/west: 1 token or secret revoked"),
        "{notice}"
    );
    let (status, _) = app.send_as(&token, Method::GET, "Users", None).await;
    assert_eq!(status, 401, "a revoked token fails");
    assert!(page.contains(">revoked</span>"), "{page}");
    // Revoking it again: nothing live is left to revoke.
    let (status, _) = post(&app, &s, action, &[]).await;
    assert_eq!(status, 404);

    // OAuth: a client id and its secret, the secret once.
    let (status, page) = post(
        &app,
        &s,
        "/console/connections",
        &[("name", "entra"), ("auth", "oauth")],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("shown once"), "{page}");
    let secret = between(&page, "<output id=\"secret\">", "</output>");
    let client_id = between(&page, "<code id=\"client-id\">", "</code>");
    assert!(!secret.is_empty() && !client_id.is_empty(), "{page}");

    // Bad input is shown next to its field.
    let (status, page) = post(
        &app,
        &s,
        "/console/connections",
        &[("name", ""), ("auth", "jwt")],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("<p class=\"field-error\" id=\"error-name\">"),
        "{page}"
    );
    assert!(
        page.contains("<p class=\"field-error\" id=\"error-auth\">"),
        "{page}"
    );
    let long = "x".repeat(101);
    let (status, page) = post(
        &app,
        &s,
        "/console/connections",
        &[("name", long.as_str()), ("auth", "bearer")],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("<p class=\"field-error\" id=\"error-name\">"),
        "{page}"
    );
}

async fn an_auditor_sees_no_control_that_writes_and_is_refused(app: TestApp) {
    product_for_everyone(&app, "meeting", 1).await;
    let alice = create(&app, "alice").await;
    create(&app, "bob").await;
    let s = app.console(Role::Auditor).await;

    for path in [
        "/console/users",
        "/console/products",
        "/console/connections",
    ] {
        let (status, page) = get(&app, &s, path).await;
        assert_eq!(status, 200, "{path}: {page}");
        // The only form that posts is sign-out.
        assert_eq!(page.matches("method=\"post\"").count(), 1, "{path}: {page}");
        assert!(page.contains("action=\"/console/sign-out\""), "{path}");
    }
    let (_, page) = get(&app, &s, "/console/users").await;
    assert!(page.contains("<th scope=\"row\">alice</th>"), "{page}");
    assert!(!page.contains("/suspend\""), "{page}");
    let (_, page) = get(&app, &s, "/console/products").await;
    assert!(page.contains("id=\"waitlist-meeting\""), "{page}");

    let (status, page) = get(&app, &s, &format!("/console/users/{alice}/suspend")).await;
    assert_eq!(status, 403, "{page}");
    assert!(!page.contains("Suspend user"), "{page}");
    assert_eq!(page.matches("method=\"post\"").count(), 1, "{page}");

    // The server refuses what a form would have sent.
    let (status, page) = post(&app, &s, &format!("/console/users/{alice}/suspend"), &[]).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("role=\"alert\""), "{page}");
    assert_eq!(scim_user(&app, &alice).await["active"], json!(true));
    let (status, _) = post(
        &app,
        &s,
        &format!("/console/users/{alice}/transfer"),
        &[("email", "eve@example.com")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(&app, &s, "/console/products/meeting", &[("seats", "9")]).await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &app,
        &s,
        "/console/products",
        &[("product", "webinar"), ("seats", "9")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(
        &app,
        &s,
        "/console/connections",
        &[("name", "sneaky"), ("auth", "bearer")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post(&app, &s, "/console/connections/test/revoke", &[]).await;
    assert_eq!(status, 403);
    let (status, _) = app.send(Method::GET, "Users", None).await;
    assert_eq!(status, 200, "the connection still works");
    let admin = app.admin_token(Role::Admin).await;
    let (_, products) = app.admin(&admin, Method::GET, "products", None).await;
    assert_eq!(products["products"][0]["capacity"], json!(1), "{products}");
    assert_eq!(
        products["products"].as_array().unwrap().len(),
        1,
        "{products}"
    );
}

crate::on_both_backends!(
    users_are_listed_and_filtered_and_a_bad_filter_shows_its_caret,
    suspend_and_reactivate_go_through_their_confirmation_forms,
    transfer_moves_seats_and_a_bad_email_is_shown_next_to_its_field,
    licenses_change_and_the_waitlist_shows_in_queue_order,
    a_connection_token_is_shown_once_works_and_is_revoked,
    an_auditor_sees_no_control_that_writes_and_is_refused,
);
