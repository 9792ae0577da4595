//! The console's import, settings and rules pages over HTTP: a dry run that writes nothing
//! and an apply that imports the kept file (only for the session that uploaded it), the CSRF
//! token checked in the multipart form before the file, settings refused field by field,
//! rules added and deleted with the seats they moved, and an auditor who can change nothing.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, ConsoleSession, TestApp};

const BOUNDARY: &str = "----roster-test-boundary-5b1f";

/// One part of a multipart form: name, file name (for a file), content.
struct Part<'a> {
    name: &'a str,
    filename: Option<&'a str>,
    content: &'a [u8],
}

fn field<'a>(name: &'a str, content: &'a str) -> Part<'a> {
    Part {
        name,
        filename: None,
        content: content.as_bytes(),
    }
}

fn file<'a>(filename: &'a str, content: &'a [u8]) -> Part<'a> {
    Part {
        name: "file",
        filename: Some(filename),
        content,
    }
}

/// A `multipart/form-data` body as a browser sends it.
fn multipart(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match p.filename {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n",
                    p.name
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{}\"\r\n\r\n", p.name).as_bytes(),
            ),
        }
        body.extend_from_slice(p.content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post_multipart(app: &TestApp, s: &ConsoleSession, body: Vec<u8>) -> (u16, String) {
    let resp = app
        .console_req(s, Method::POST, "/console/import")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A url-encoded console form.
async fn post_form(
    app: &TestApp,
    s: &ConsoleSession,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let resp = app
        .console_req(s, Method::POST, path)
        .form(fields)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn get_page(app: &TestApp, s: &ConsoleSession, path: &str) -> String {
    let resp = app.console_req(s, Method::GET, path).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200, "GET {path}");
    resp.text().await.unwrap()
}

async fn user_count(app: &TestApp) -> u64 {
    let (status, list) = app.send(Method::GET, "Users?count=0", None).await;
    assert_eq!(status, 200, "{list}");
    list["totalResults"].as_u64().unwrap()
}

async fn uploads_kept(app: &TestApp) -> i64 {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(&app.database_url).await.unwrap();
    let n: i64 = sqlx::query("SELECT COUNT(*) FROM console_uploads")
        .fetch_one(&db)
        .await
        .unwrap()
        .get(0);
    db.close().await;
    n
}

/// The value of the hidden `upload` field of the apply form.
fn upload_id(page: &str) -> String {
    page.split("name=\"upload\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no upload field: {page}"))
        .to_string()
}

/// The text of the table row whose first cell is `line`.
fn report_row(page: &str, line: usize) -> String {
    let table = page
        .split("<table id=\"import-report\">")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap_or_else(|| panic!("no import report: {page}"));
    table
        .split("<tr>")
        .find(|r| r.starts_with(&format!("<th scope=\"row\" class=\"num\">{line}</th>")))
        .unwrap_or_else(|| panic!("no row for line {line}: {table}"))
        .to_string()
}

const PEOPLE: &str = "email,userName,products\n\
                      ann@example.com,ann,meeting\n\
                      bob@example.com,bob,meeting\n\
                      not-an-email,carl,\n";

async fn a_dry_run_writes_nothing_and_apply_imports_the_kept_file(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let (status, _) = app
        .admin(
            &admin,
            Method::PUT,
            "products/meeting",
            Some(json!({"seats": 1})),
        )
        .await;
    assert_eq!(status, 200);
    let s = app.console(Role::Admin).await;

    let page = get_page(&app, &s, "/console/import").await;
    assert!(page.contains("enctype=\"multipart/form-data\""), "{page}");
    assert!(
        page.contains("<label for=\"field-file\">CSV file</label>"),
        "{page}"
    );
    assert!(page.contains("name=\"file\""), "{page}");
    assert!(page.contains("Check (dry run)"), "{page}");
    assert!(page.contains("aria-current=\"page\">Import<"), "{page}");

    let body = multipart(&[
        field("csrf", &s.csrf),
        file("people.csv", PEOPLE.as_bytes()),
    ]);
    let (status, page) = post_multipart(&app, &s, body).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Dry run of people.csv"), "{page}");
    assert!(page.contains("<dt>Rows</dt><dd>3</dd>"), "{page}");
    assert!(page.contains("<dt>Created</dt><dd>2</dd>"), "{page}");
    assert!(page.contains("<dt>Failed</dt><dd>1</dd>"), "{page}");
    assert!(page.contains("<dt>Seats assigned</dt><dd>1</dd>"), "{page}");
    assert!(
        page.contains("<dt>Seats waitlisted</dt><dd>1</dd>"),
        "{page}"
    );
    let ann = report_row(&page, 2);
    assert!(
        ann.contains("<td>ann</td>") && ann.contains("created"),
        "{ann}"
    );
    assert!(ann.contains("meeting: assigned"), "{ann}");
    let bob = report_row(&page, 3);
    assert!(bob.contains("meeting: waitlisted"), "{bob}");
    let carl = report_row(&page, 4);
    assert!(carl.contains("failed") && carl.contains("email"), "{carl}");
    assert!(page.contains("action=\"/console/import/apply\""), "{page}");
    assert!(page.contains("Apply import"), "{page}");
    assert_eq!(user_count(&app).await, 0, "a dry run writes nothing");
    assert_eq!(uploads_kept(&app).await, 1);
    let id = upload_id(&page);

    // Another session of the same account cannot apply this session's upload.
    let other = app.console(Role::Admin).await;
    let (status, page) = post_form(
        &app,
        &other,
        "/console/import/apply",
        &[("csrf", &other.csrf), ("upload", &id)],
    )
    .await;
    assert_eq!(status, 404, "{page}");
    assert!(page.contains("upload the file again"), "{page}");
    assert_eq!(user_count(&app).await, 0);

    // Nor can the form without its token.
    let (status, _) = post_form(&app, &s, "/console/import/apply", &[("upload", &id)]).await;
    assert_eq!(status, 403);
    assert_eq!(user_count(&app).await, 0);

    let (status, page) = post_form(
        &app,
        &s,
        "/console/import/apply",
        &[("csrf", &s.csrf), ("upload", &id)],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Import of people.csv applied: 2 created, 0 updated, 0 unchanged, 1 failed."),
        "{page}"
    );
    assert!(page.contains("<table id=\"import-report\">"), "{page}");
    assert!(page.contains("What changed"), "{page}");
    assert!(report_row(&page, 2).contains("meeting: assigned"), "{page}");
    assert_eq!(user_count(&app).await, 2);
    let (_, list) = app
        .send(Method::GET, "Users?filter=userName%20eq%20%22ann%22", None)
        .await;
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(
        uploads_kept(&app).await,
        0,
        "an applied upload is forgotten"
    );

    // Applied once: the same form again finds nothing.
    let (status, _) = post_form(
        &app,
        &s,
        "/console/import/apply",
        &[("csrf", &s.csrf), ("upload", &id)],
    )
    .await;
    assert_eq!(status, 404);
}

async fn the_multipart_form_needs_its_token_and_a_csv_file(app: TestApp) {
    let s = app.console(Role::Admin).await;

    // No token, a wrong token, and the file before the token: refused before the file is read.
    for body in [
        multipart(&[file("people.csv", PEOPLE.as_bytes())]),
        multipart(&[
            field("csrf", "not-the-token"),
            file("people.csv", PEOPLE.as_bytes()),
        ]),
        multipart(&[
            file("people.csv", PEOPLE.as_bytes()),
            field("csrf", &s.csrf),
        ]),
    ] {
        let (status, page) = post_multipart(&app, &s, body).await;
        assert_eq!(status, 403, "{page}");
        assert!(
            page.contains("security token is missing or wrong"),
            "{page}"
        );
    }
    assert_eq!(uploads_kept(&app).await, 0, "a refused form keeps nothing");
    assert_eq!(user_count(&app).await, 0);

    // A binary file, UTF-16 text, a file that is not an import: said next to the file field.
    let cases: [(&[u8], &str); 3] = [
        (b"PK\x03\x04\x00\x00binary", "not CSV text"),
        (b"\xff\xfee\x00m\x00", "UTF-16"),
        (b"{\"users\": []}\n", "header"),
    ];
    for (content, words) in cases {
        let body = multipart(&[field("csrf", &s.csrf), file("people.xlsx", content)]);
        let (status, page) = post_multipart(&app, &s, body).await;
        assert_eq!(status, 400, "{page}");
        assert!(
            page.contains("<p class=\"field-error\" id=\"error-file\">"),
            "{page}"
        );
        assert!(page.contains("aria-describedby=\"error-file\""), "{page}");
        assert!(page.contains("aria-invalid=\"true\""), "{page}");
        assert!(page.contains(words), "{words}: {page}");
        assert!(!page.contains("import-report"), "{page}");
    }

    // No file chosen (browsers send an empty part without a name).
    let body = multipart(&[field("csrf", &s.csrf), file("", b"")]);
    let (status, page) = post_multipart(&app, &s, body).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("Choose a CSV file to check."), "{page}");

    // Not a multipart body at all.
    let (status, page) = post_form(&app, &s, "/console/import", &[("csrf", &s.csrf)]).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("The form could not be read"), "{page}");

    // Larger than the engine keeps (32 MiB): refused, said next to the file field.
    let mut big = b"email\n".to_vec();
    big.resize(33 * 1024 * 1024, b'a');
    let body = multipart(&[field("csrf", &s.csrf), file("big.csv", &big)]);
    let resp = app
        .console_req(&s, Method::POST, "/console/import")
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await;
    // The server answers before it has read the whole body; a client may see the
    // connection closed instead of the answer. Either way nothing is kept.
    if let Ok(resp) = resp {
        assert_eq!(resp.status().as_u16(), 413);
        let page = resp.text().await.unwrap_or_default();
        assert!(
            page.is_empty() || page.contains("larger than 32 MiB"),
            "{page}"
        );
    }
    assert_eq!(uploads_kept(&app).await, 0);
    assert_eq!(user_count(&app).await, 0);
}

async fn settings_are_refused_next_to_their_field_then_saved(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 5})),
    )
    .await;
    let (status, _) = app.send(Method::POST, "Users", Some(user("dana"))).await;
    assert_eq!(status, 201);
    let s = app.console(Role::Admin).await;

    let page = get_page(&app, &s, "/console/settings").await;
    assert!(page.contains("action=\"/console/settings\""), "{page}");
    for name in [
        "seat_policy",
        "default_products",
        "recording_access",
        "sync_log_retention_days",
    ] {
        assert!(page.contains(&format!("name=\"{name}\"")), "{name}: {page}");
        assert!(
            page.contains(&format!("<label for=\"field-{name}\"")),
            "{name}: {page}"
        );
    }
    assert!(page.contains("type=\"number\""), "{page}");
    assert!(page.contains("value=\"90\""), "{page}");

    let before = app.admin(&admin, Method::GET, "settings", None).await.1;
    let bad = |days: &'static str, products: &'static str| {
        vec![
            ("seat_policy", "reject"),
            ("default_products", products),
            ("recording_access", "own_only"),
            ("sync_log_retention_days", days),
        ]
    };
    let mut fields = bad("0", "meeting");
    fields.push(("csrf", &s.csrf));
    let (status, page) = post_form(&app, &s, "/console/settings", &fields).await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("<p class=\"field-error\" id=\"error-sync_log_retention_days\">Must be a whole number of days from 1 to 3650.</p>"),
        "{page}"
    );
    assert!(
        page.contains("aria-describedby=\"error-sync_log_retention_days"),
        "{page}"
    );
    assert!(!page.contains("id=\"error-default_products\""), "{page}");
    assert!(
        page.contains("value=\"0\""),
        "what was sent is shown again: {page}"
    );
    assert!(page.contains("role=\"alert\""), "{page}");

    let mut fields = bad("30", "meeting, Bad Name");
    fields.push(("csrf", &s.csrf));
    let (status, page) = post_form(&app, &s, "/console/settings", &fields).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("id=\"error-default_products\""), "{page}");
    assert!(page.contains("Bad Name"), "{page}");
    let after = app.admin(&admin, Method::GET, "settings", None).await.1;
    assert_eq!(before, after, "a refused form changes nothing");

    let mut fields = bad("30", "meeting");
    fields.push(("csrf", &s.csrf));
    let (status, page) = post_form(&app, &s, "/console/settings", &fields).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Settings saved. Seat changes: meeting: 1 assigned."),
        "{page}"
    );
    assert!(!page.contains("field-error"), "{page}");
    let saved = app.admin(&admin, Method::GET, "settings", None).await.1;
    assert_eq!(
        saved,
        json!({
            "seat_policy": "reject",
            "default_products": ["meeting"],
            "recording_access": "own_only",
            "sync_log_retention_days": 30,
            // Lifecycle settings the console's form does not change keep their defaults.
            "delete_action": "delete",
            "purge_suspended_after_days": null,
            "deprovision_guard": null,
            "events_retention_days": 7
        })
    );
    // The saved values are what the form shows now.
    let page = get_page(&app, &s, "/console/settings").await;
    assert!(page.contains("value=\"30\""), "{page}");
    assert!(
        page.contains("<option value=\"reject\" selected>"),
        "{page}"
    );
}

async fn rules_are_added_and_deleted_with_their_seat_changes(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/webinar",
        Some(json!({"seats": 5})),
    )
    .await;
    let (_, u) = app.send(Method::POST, "Users", Some(user("erin"))).await;
    let uid = u["id"].as_str().unwrap().to_string();
    let (status, g) = app
        .send(
            Method::POST,
            "Groups",
            Some(json!({"displayName": "Hosts", "members": [{"value": uid}]})),
        )
        .await;
    assert_eq!(status, 201, "{g}");
    let gid = g["id"].as_str().unwrap().to_string();
    let s = app.console(Role::Admin).await;

    let page = get_page(&app, &s, "/console/settings").await;
    assert!(page.contains("action=\"/console/rules\""), "{page}");
    assert!(page.contains("No rules yet."), "{page}");

    // A filter that does not parse: its message next to the filter field, no rule made.
    let (status, page) = post_form(
        &app,
        &s,
        "/console/rules",
        &[
            ("csrf", &s.csrf),
            ("product", "webinar"),
            ("filter", "userName eq"),
        ],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(
        page.contains("<p class=\"field-error\" id=\"error-filter\">"),
        "{page}"
    );
    assert!(page.contains("aria-describedby=\"error-filter"), "{page}");
    assert!(page.contains("value=\"userName eq\""), "{page}");
    let (_, rules) = app.admin(&admin, Method::GET, "rules", None).await;
    assert_eq!(rules["rules"], json!([]));

    // A product name that is not one: next to the product field.
    let (status, page) = post_form(
        &app,
        &s,
        "/console/rules",
        &[("csrf", &s.csrf), ("product", "Web Inar"), ("group", &gid)],
    )
    .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("id=\"error-product\""), "{page}");

    let (status, page) = post_form(
        &app,
        &s,
        "/console/rules",
        &[("csrf", &s.csrf), ("product", "webinar"), ("group", &gid)],
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!(
            "Rule added: webinar for members of group {gid}. Seat changes: webinar: 1 assigned."
        )),
        "{page}"
    );
    assert!(
        page.contains(&uid),
        "the seat change names the user: {page}"
    );
    let (_, rules) = app.admin(&admin, Method::GET, "rules", None).await;
    let rule_id = rules["rules"][0]["id"].as_str().unwrap().to_string();
    assert!(
        page.contains(&format!("action=\"/console/rules/{rule_id}/delete\"")),
        "{page}"
    );
    let (_, products) = app.admin(&admin, Method::GET, "products", None).await;
    assert_eq!(products["products"][0]["assigned"], 1, "{products}");

    let delete = format!("/console/rules/{rule_id}/delete");
    let (status, _) = post_form(&app, &s, &delete, &[]).await;
    assert_eq!(status, 403, "no token, no delete");
    let (status, page) = post_form(&app, &s, &delete, &[("csrf", &s.csrf)]).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&format!(
            "Rule deleted: webinar for members of group {gid}. Seat changes: webinar: 1 freed."
        )),
        "{page}"
    );
    assert!(page.contains("No rules yet."), "{page}");
    let (_, rules) = app.admin(&admin, Method::GET, "rules", None).await;
    assert_eq!(rules["rules"], json!([]));
    let (_, products) = app.admin(&admin, Method::GET, "products", None).await;
    assert_eq!(products["products"][0]["assigned"], 0, "{products}");

    let (status, page) = post_form(&app, &s, &delete, &[("csrf", &s.csrf)]).await;
    assert_eq!(status, 404, "{page}");
}

async fn an_auditor_gets_no_write_form_and_is_refused(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 5})),
    )
    .await;
    let (status, rule) = app
        .admin(
            &admin,
            Method::POST,
            "rules",
            Some(json!({"product": "meeting", "filter": "userName sw \"a\""})),
        )
        .await;
    assert_eq!(status, 201, "{rule}");
    let rule_id = rule["id"].as_str().unwrap().to_string();
    let a = app.console(Role::Auditor).await;

    let page = get_page(&app, &a, "/console/settings").await;
    assert!(page.contains("auditor"), "{page}");
    assert!(page.contains("userName sw"), "the rules are shown: {page}");
    assert!(page.contains("90 days"), "the settings are shown: {page}");
    for form in [
        "action=\"/console/settings\"",
        "action=\"/console/rules\"",
        "/delete\"",
    ] {
        assert!(!page.contains(form), "{form}: {page}");
    }
    let page = get_page(&app, &a, "/console/import").await;
    assert!(!page.contains("action=\"/console/import\""), "{page}");
    assert!(!page.contains("name=\"file\""), "{page}");

    let before: Value = app.admin(&admin, Method::GET, "settings", None).await.1;
    let (status, _) = post_form(
        &app,
        &a,
        "/console/settings",
        &[
            ("csrf", &a.csrf),
            ("seat_policy", "reject"),
            ("default_products", ""),
            ("recording_access", "all_agents"),
            ("sync_log_retention_days", "10"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        app.admin(&admin, Method::GET, "settings", None).await.1,
        before
    );

    let (status, _) = post_form(
        &app,
        &a,
        "/console/rules",
        &[
            ("csrf", &a.csrf),
            ("product", "meeting"),
            ("filter", "active eq true"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post_form(
        &app,
        &a,
        &format!("/console/rules/{rule_id}/delete"),
        &[("csrf", &a.csrf)],
    )
    .await;
    assert_eq!(status, 403);
    let (_, rules) = app.admin(&admin, Method::GET, "rules", None).await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 1, "{rules}");

    let body = multipart(&[
        field("csrf", &a.csrf),
        file("people.csv", PEOPLE.as_bytes()),
    ]);
    let (status, page) = post_multipart(&app, &a, body).await;
    assert_eq!(status, 403, "{page}");
    assert_eq!(uploads_kept(&app).await, 0);
    assert_eq!(user_count(&app).await, 0);
}

async fn the_overage_policy_is_set_with_its_percentage(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let s = app.console(Role::Admin).await;
    let page = get_page(&app, &s, "/console/settings").await;
    assert!(page.contains("id=\"field-overage_percent\""), "{page}");
    let form = |percent: &'static str| {
        vec![
            ("seat_policy", "overage"),
            ("overage_percent", percent),
            ("default_products", ""),
            ("recording_access", "all_agents"),
            ("sync_log_retention_days", "90"),
        ]
    };
    // Overage without its percentage, or with one out of range: refused next to the field.
    for bad in ["", "150", "ten"] {
        let mut fields = form(bad);
        fields.push(("csrf", &s.csrf));
        let (status, page) = post_form(&app, &s, "/console/settings", &fields).await;
        assert_eq!(status, 400, "{bad}: {page}");
        assert!(
            page.contains("id=\"error-overage_percent\""),
            "{bad}: {page}"
        );
    }
    let (_, settings) = app.admin(&admin, Method::GET, "settings", None).await;
    assert_eq!(
        settings["seat_policy"],
        serde_json::json!("waitlist"),
        "{settings}"
    );
    let mut fields = form("20");
    fields.push(("csrf", &s.csrf));
    let (status, page) = post_form(&app, &s, "/console/settings", &fields).await;
    assert_eq!(status, 200, "{page}");
    let (_, settings) = app.admin(&admin, Method::GET, "settings", None).await;
    assert_eq!(
        settings["seat_policy"],
        serde_json::json!("overage"),
        "{settings}"
    );
    assert_eq!(
        settings["overage_percent"],
        serde_json::json!(20),
        "{settings}"
    );
    assert!(get_page(&app, &s, "/console/settings")
        .await
        .contains("value=\"20\""));
    // Back to the waitlist: the percentage is not sent, and goes with the policy.
    let mut fields = form("20");
    fields[0] = ("seat_policy", "waitlist");
    fields.push(("csrf", &s.csrf));
    let (status, page) = post_form(&app, &s, "/console/settings", &fields).await;
    assert_eq!(status, 200, "{page}");
    let (_, settings) = app.admin(&admin, Method::GET, "settings", None).await;
    assert_eq!(
        settings["seat_policy"],
        serde_json::json!("waitlist"),
        "{settings}"
    );
    assert!(settings.get("overage_percent").is_none(), "{settings}");
}

crate::on_both_backends!(
    the_overage_policy_is_set_with_its_percentage,
    a_dry_run_writes_nothing_and_apply_imports_the_kept_file,
    the_multipart_form_needs_its_token_and_a_csv_file,
    settings_are_refused_next_to_their_field_then_saved,
    rules_are_added_and_deleted_with_their_seat_changes,
    an_auditor_gets_no_write_form_and_is_refused,
);
