//! CSV import through HTTP, against broken files: bad quoting, ragged rows, files that are
//! not CSV, other encodings and separators, products that do not exist; the one email rule
//! at every entry point (import, admin API, SCIM); users by hand are not file rows; seat
//! totals of a large run.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, TestApp};

/// Posts a file to the import endpoint as clients send it: raw bytes.
async fn import_bytes(app: &TestApp, token: &str, csv: Vec<u8>, dry_run: bool) -> (u16, Value) {
    let url = app
        .base
        .replace("/scim/v2", &format!("/admin/v1/imports?dry_run={dry_run}"));
    let resp = app
        .client
        .post(url)
        .bearer_auth(token)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn import(app: &TestApp, token: &str, csv: &str) -> (u16, Value) {
    import_bytes(app, token, csv.as_bytes().to_vec(), false).await
}

async fn user_names(app: &TestApp) -> Vec<String> {
    let (_, list) = app.send(Method::GET, "Users?count=100", None).await;
    let mut names: Vec<String> = list["Resources"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|u| u["userName"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The report's rows as (line, result, reason).
fn rows(report: &Value) -> Vec<(u64, String, String)> {
    report["report"]
        .as_array()
        .unwrap_or_else(|| panic!("no report: {report}"))
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["result"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn failed_line(report: &Value, line: u64) -> String {
    rows(report)
        .into_iter()
        .find(|(l, result, _)| *l == line && result == "failed")
        .map(|(_, _, reason)| reason)
        .unwrap_or_else(|| panic!("line {line} did not fail: {report}"))
}

async fn broken_quoting_fails_its_row_and_creates_nobody_from_it(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let csv = "email,userName,givenName,familyName\n\
               \"bad@example.com,bad,\"Ba\"d,X\n\
               ok1@example.com,ok1,\"Ok, One\",Y\n\
               \"unterminated@example.com,u,U,U\n";
    let (s, report) = import(&app, &admin, csv).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["created"], json!(1), "{report}");
    assert_eq!(report["failed"], json!(2), "{report}");
    assert!(failed_line(&report, 2).contains("quote"), "{report}");
    assert!(failed_line(&report, 4).contains("not closed"), "{report}");
    assert_eq!(user_names(&app).await, vec!["ok1".to_string()]);
    let (_, ok) = app
        .send(Method::GET, "Users?filter=userName%20eq%20%22ok1%22", None)
        .await;
    assert_eq!(
        ok["Resources"][0]["name"]["givenName"],
        json!("Ok, One"),
        "a quoted field keeps its delimiter"
    );

    // A quote in the middle of an unquoted field, text after a closing quote.
    let csv = "email,userName\n\
               a\"b@example.com,ab\n\
               \"c@example.com\"x,c\n\
               \"d@example.com\" , \"d \"\"the\"\" one\"\n";
    let (s, report) = import(&app, &admin, csv).await;
    assert_eq!(s, 200, "{report}");
    assert!(failed_line(&report, 2).contains("quote"), "{report}");
    assert!(
        failed_line(&report, 3).contains("closing quote"),
        "{report}"
    );
    assert_eq!(rows(&report)[2].1, "created", "{report}");
    assert!(user_names(&app)
        .await
        .contains(&"d \"the\" one".to_string()));
}

async fn rows_with_the_wrong_number_of_fields_fail(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let csv = "email,userName,givenName,familyName\n\
               short@example.com,short,S\n\
               long@example.com,long,L,L,extra\n\
               fine@example.com,fine,F,F\n";
    let (s, report) = import(&app, &admin, csv).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(
        failed_line(&report, 2),
        "3 fields where the header has 4",
        "{report}"
    );
    assert_eq!(failed_line(&report, 3), "5 fields where the header has 4");
    assert_eq!(report["created"], json!(1));
    assert_eq!(user_names(&app).await, vec!["fine".to_string()]);
}

async fn a_file_that_is_not_csv_is_refused_whole(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let refused = [
        br#"{"email": "a@example.com", "userName": "a"}"#.to_vec(),
        b"[{\"email\": \"a@example.com\"}]\n".to_vec(),
        b"hello world\n".to_vec(),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01".to_vec(),
        b"PK\x03\x04\x14\0\x06\0email,userName\n".to_vec(),
        b"".to_vec(),
        b"\xff\xfee\0m\0a\0i\0l\0\n\0".to_vec(),
    ];
    for file in refused {
        let (s, body) = import_bytes(&app, &admin, file.clone(), false).await;
        assert_eq!(s, 400, "{}: {body}", String::from_utf8_lossy(&file));
        assert_eq!(
            body["error"]["code"],
            json!("invalid_csv"),
            "{}: {body}",
            String::from_utf8_lossy(&file)
        );
    }
    assert!(user_names(&app).await.is_empty());
    // Known and unknown columns together still name the unknown ones.
    let (s, body) = import(&app, &admin, "email,nickname\na@example.com,a\n").await;
    assert_eq!(s, 400);
    assert_eq!(body["error"]["code"], json!("unknown_columns"));
}

async fn one_email_rule_at_every_entry_point(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    // Import: the row fails, naming its line.
    let csv = "email,userName\nx@,x\n@x.com,y\nq\"uote@example.com,q\nfirst.last+tag@sub.example.co.uk,fl\n";
    let (s, report) = import(&app, &admin, csv).await;
    assert_eq!(s, 200, "{report}");
    assert!(failed_line(&report, 2).contains("'x@'"), "{report}");
    assert!(failed_line(&report, 2).contains("not an email address"));
    assert!(failed_line(&report, 3).contains("not an email address"));
    failed_line(&report, 4);
    assert_eq!(report["created"], json!(1), "{report}");

    // Admin API: 400 invalid_email.
    for bad in ["x@", "@x", "a b@example.com", "q\"uote@example.com"] {
        let (s, err) = app
            .admin(&admin, Method::POST, "users", Some(json!({"email": bad})))
            .await;
        assert_eq!(s, 400, "{bad}: {err}");
        assert_eq!(err["error"]["code"], json!("invalid_email"), "{bad}: {err}");
        assert_eq!(err["error"]["field"], json!("email"));
    }
    let (s, added) = app
        .admin(
            &admin,
            Method::POST,
            "users",
            Some(json!({"email": "first.last+hand@sub.example.co.uk", "userName": "fl2"})),
        )
        .await;
    assert_eq!(s, 201, "{added}");
    let id = added["user_id"].as_str().unwrap().to_string();
    let (s, err) = app
        .admin(
            &admin,
            Method::POST,
            &format!("users/{id}/transfer"),
            Some(json!({"email": "x@"})),
        )
        .await;
    assert_eq!(s, 400, "{err}");
    assert_eq!(err["error"]["code"], json!("invalid_email"));

    // SCIM: kept as sent, with a note in the sync log.
    let mut body = user("sam");
    body["emails"] = json!([{"value": "x@", "primary": true}]);
    let (s, created) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["emails"][0]["value"], json!("x@"));
    let (_, log) = app
        .admin(
            &admin,
            Method::GET,
            "sync-log?user=sam&operation=create",
            None,
        )
        .await;
    let notes = log["entries"][0]["notes"].to_string();
    assert!(
        notes.contains("emails[0].value 'x@' is not a valid email address"),
        "{log}"
    );
    assert_eq!(log["entries"][0]["status"], json!("warning"));

    // A PATCH that brings a bad address is noted too; one already there is not again.
    let sid = created["id"].as_str().unwrap();
    let patch = json!({"Operations": [{"op": "add", "path": "emails", "value": [{"value": "a b@example.com", "type": "home"}]}]});
    let (s, patched) = app
        .send(Method::PATCH, &format!("Users/{sid}"), Some(patch))
        .await;
    assert_eq!(s, 200, "{patched}");
    let (_, log) = app
        .admin(
            &admin,
            Method::GET,
            "sync-log?user=sam&operation=update",
            None,
        )
        .await;
    let notes = log["entries"][0]["notes"].to_string();
    assert!(notes.contains("'a b@example.com'"), "{log}");
    assert!(!notes.contains("'x@'"), "{log}");
}

async fn a_product_that_does_not_exist_fails_the_row(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 5})),
    )
    .await;
    let csv = "email,userName,products\n\
               a@example.com,a,nosuchproduct\n\
               b@example.com,b,meeting\n";
    for dry_run in [true, false] {
        let (s, report) = import_bytes(&app, &admin, csv.as_bytes().to_vec(), dry_run).await;
        assert_eq!(s, 200, "{report}");
        assert_eq!(
            failed_line(&report, 2),
            "no product 'nosuchproduct': create it with `roster licenses set` or PUT /admin/v1/products/nosuchproduct",
        );
        assert_eq!(report["created"], json!(1));
    }
    let (_, conflicts) = app.admin(&admin, Method::GET, "conflicts", None).await;
    assert!(
        !conflicts.to_string().contains("nosuchproduct"),
        "no no_seat conflict for a product that is not one: {conflicts}"
    );
    let (s, err) = app
        .admin(
            &admin,
            Method::POST,
            "users",
            Some(json!({"email": "c@example.com", "products": ["nosuchproduct"]})),
        )
        .await;
    assert_eq!(s, 400, "{err}");
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no product 'nosuchproduct'"));

    // A product named by the settings (or a rule) without a pool still waitlists.
    app.admin(
        &admin,
        Method::PATCH,
        "settings",
        Some(json!({"default_products": ["later"]})),
    )
    .await;
    let (s, report) = import(&app, &admin, "email,userName\nd@example.com,d\n").await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["created"], json!(1), "{report}");
    assert_eq!(
        report["report"][0]["seats"],
        json!([{"product": "later", "state": "waitlisted"}])
    );
    assert_eq!(report["seats_waitlisted"], json!(1));
}

async fn a_user_added_by_hand_is_no_file_row(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let (s, added) = app
        .admin(
            &admin,
            Method::POST,
            "users",
            Some(json!({"email": "hand@example.com", "givenName": "Hand"})),
        )
        .await;
    assert_eq!(s, 201, "{added}");
    assert!(added.get("line").is_none(), "{added}");
    let (_, log) = app
        .admin(&admin, Method::GET, "sync-log?user=hand@example.com", None)
        .await;
    let e = &log["entries"][0];
    assert_eq!(e["method"], json!("POST"), "{log}");
    assert_eq!(e["path"], json!("/admin/v1/users"));
    assert_eq!(e["action"], json!("create"));
    assert!(!e["steps"].to_string().contains("line"), "{e}");

    let (s, again) = app
        .admin(
            &admin,
            Method::POST,
            "users",
            Some(json!({"email": "hand@example.com", "givenName": "Handy"})),
        )
        .await;
    assert_eq!(s, 200, "{again}");
    assert!(again.get("line").is_none(), "{again}");
    let (_, log) = app
        .admin(
            &admin,
            Method::GET,
            "sync-log?user=hand@example.com&operation=update",
            None,
        )
        .await;
    assert_eq!(log["entries"][0]["method"], json!("POST"), "{log}");
    assert_eq!(log["entries"][0]["path"], json!("/admin/v1/users"));

    // A file's rows are still logged by line.
    let (_, _) = import(&app, &admin, "email\nfile@example.com\n").await;
    let (_, log) = app
        .admin(&admin, Method::GET, "sync-log?user=file@example.com", None)
        .await;
    assert_eq!(log["entries"][0]["path"], json!("line 2"), "{log}");
}

async fn bom_crlf_semicolons_and_latin1_are_read(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 10})),
    )
    .await;
    // A BOM and CRLF line endings (Excel's "CSV UTF-8").
    let bom =
        b"\xef\xbb\xbfemail,userName,givenName\r\nbom@example.com,bom,B\r\nx@,bad,X\r\n".to_vec();
    let (s, report) = import_bytes(&app, &admin, bom, false).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["created"], json!(1), "{report}");
    assert!(failed_line(&report, 3).contains("'x@'"), "{report}");
    let (_, u) = app
        .send(Method::GET, "Users?filter=userName%20eq%20%22bom%22", None)
        .await;
    assert_eq!(u["Resources"][0]["name"]["givenName"], json!("B"), "{u}");

    // `;` as the separator, lists with `|`.
    let semi = "email;userName;familyName;products\nsemi@example.com;semi;Dupont, Jr;meeting\nshort@example.com;short\n";
    let (s, report) = import(&app, &admin, semi).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["created"], json!(1), "{report}");
    assert_eq!(
        report["report"][0]["seats"],
        json!([{"product": "meeting", "state": "assigned"}])
    );
    assert_eq!(
        failed_line(&report, 3),
        "2 fields where the header has 4",
        "{report}"
    );
    let (_, u) = app
        .send(Method::GET, "Users?filter=userName%20eq%20%22semi%22", None)
        .await;
    assert_eq!(u["Resources"][0]["name"]["familyName"], json!("Dupont, Jr"));

    // Latin-1 (Windows-1252): bytes that are not UTF-8 are read one character each, by the
    // endpoint as they are sent.
    let latin1 = b"email;userName;familyName\r\nm\xfcller@example.com;mueller;M\xfcller\r\nbroken@example.com;\"b;B\r\n";
    let (s, report) = import_bytes(&app, &admin, latin1.to_vec(), false).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["created"], json!(1), "{report}");
    assert!(failed_line(&report, 3).contains("not closed"), "{report}");
    let (_, u) = app
        .send(
            Method::GET,
            "Users?filter=userName%20eq%20%22mueller%22",
            None,
        )
        .await;
    assert_eq!(u["Resources"][0]["name"]["familyName"], json!("Müller"));
    assert_eq!(
        u["Resources"][0]["emails"][0]["value"],
        json!("müller@example.com")
    );
}

async fn a_large_run_counts_seats_assigned_and_waitlisted(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 100})),
    )
    .await;
    let mut csv = String::from("email,userName,products\n");
    for i in 0..20_000 {
        csv.push_str(&format!("u{i}@example.com,u{i},meeting\n"));
    }
    let started = std::time::Instant::now();
    let (s, report) = import(&app, &admin, &csv).await;
    eprintln!("20,000 rows imported in {:?}", started.elapsed());
    assert_eq!(
        s,
        200,
        "{}",
        report.to_string().chars().take(2000).collect::<String>()
    );
    assert_eq!(report["created"], json!(20_000));
    assert_eq!(report["failed"], json!(0));
    assert_eq!(report["seats_assigned"], json!(100));
    assert_eq!(report["seats_waitlisted"], json!(19_900));
    let (_, products) = app.admin(&admin, Method::GET, "products", None).await;
    assert_eq!(
        products["products"][0]["assigned"],
        json!(100),
        "{products}"
    );
    assert_eq!(products["products"][0]["waitlisted"], json!(19_900));
}

crate::on_both_backends!(
    broken_quoting_fails_its_row_and_creates_nobody_from_it,
    rows_with_the_wrong_number_of_fields_fail,
    a_file_that_is_not_csv_is_refused_whole,
    one_email_rule_at_every_entry_point,
    a_product_that_does_not_exist_fails_the_row,
    a_user_added_by_hand_is_no_file_row,
    bom_crlf_semicolons_and_latin1_are_read,
    a_large_run_counts_seats_assigned_and_waitlisted,
);
