//! The console's sync log and conflicts pages over HTTP: the list with its filters, cursor
//! paging, the CSV export, the live tail's JSON, an entry's sections, and the conflicts
//! queue with links to the user and the user's entries.

use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, ConsoleSession, TestApp};

/// A console page: its status and text.
async fn get(app: &TestApp, s: &ConsoleSession, path: &str) -> (u16, String) {
    let resp = app.console_req(s, Method::GET, path).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// The ids of the entries a page links to, in page order.
fn entry_ids(page: &str) -> Vec<String> {
    page.split("href=\"/console/sync-log/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|id| id.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
        .collect()
}

/// The value of `attr="..."` on the element that has `marker` in its start tag.
fn attr_after(page: &str, marker: &str, attr: &str) -> Option<String> {
    let at = page.find(marker)?;
    let tag_end = page[at..].find('>')? + at;
    let start = page[..at].rfind('<')?;
    let tag = &page[start..tag_end];
    let key = format!("{attr}=\"");
    let v = tag.split(&key).nth(1)?.split('"').next()?;
    Some(v.replace("&amp;", "&"))
}

/// The admin API's entries for a query, to compare the pages with.
async fn api_entries(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let (s, body) = app
        .admin(admin, Method::GET, &format!("sync-log?{query}"), None)
        .await;
    assert_eq!(s, 200, "{body}");
    body["entries"].as_array().unwrap().clone()
}

async fn the_list_filters_pages_exports_and_tails(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    for i in 0..52 {
        let (s, _) = app
            .send(Method::POST, "Users", Some(user(&format!("u{i:02}"))))
            .await;
        assert_eq!(s, 201);
    }
    let (s, _) = app.send(Method::POST, "Users", Some(user("u07"))).await;
    assert_eq!(s, 409, "a second u07 fails and is logged as a failure");
    let all = api_entries(&app, &admin, "limit=1000").await;
    assert_eq!(all.len(), 53, "{all:?}");

    let s = app.console(Role::Auditor).await;
    let (status, page) = get(&app, &s, "/console/sync-log").await;
    assert_eq!(status, 200);
    for label in ["Since", "Until", "User", "Connection", "Outcome", "Action"] {
        assert!(page.contains(&format!(">{label}</label>")), "label {label}");
    }
    assert!(page.contains("<option value=\"throttled\">throttled</option>"));
    for col in [
        "When", "Actor", "Action", "Resource", "User", "Outcome", "HTTP",
    ] {
        assert!(page.contains(&format!(">{col}</th>")), "column {col}");
    }
    // Newest first, 50 to a page; the table knows the newest id for the live tail.
    let first = entry_ids(&page);
    let newest: Vec<String> = all
        .iter()
        .take(50)
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first, newest);
    assert_eq!(
        attr_after(&page, "id=\"sync-log\"", "data-after").as_deref(),
        Some(newest[0].as_str())
    );
    assert!(page.contains("id=\"live-tail\""), "the live tail's button");
    assert!(page.contains("id=\"live-status\" role=\"status\""));
    assert!(page.contains("connection:test"));
    assert!(page.contains(">failure</span>") && page.contains(">409</td>"));

    // The older entries, by the page's own link.
    let older = attr_after(&page, ">Older entries<", "href").unwrap();
    assert!(older.starts_with("/console/sync-log?cursor="), "{older}");
    let (status, page2) = get(&app, &s, &older).await;
    assert_eq!(status, 200);
    let second = entry_ids(&page2);
    let rest: Vec<String> = all
        .iter()
        .skip(50)
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(second, rest);
    assert!(!page2.contains("Older entries"), "the last page");
    assert!(page2.contains(">Newest entries<"));
    assert!(
        !page2.contains("id=\"live-tail\""),
        "no live tail on an older page"
    );

    // By user: u07's create and its failed second create, and nobody else.
    let (status, by_user) = get(&app, &s, "/console/sync-log?user=U07").await;
    assert_eq!(status, 200);
    assert_eq!(entry_ids(&by_user).len(), 2, "{by_user}");
    assert!(by_user.contains(">u07</td>") && !by_user.contains(">u08</td>"));
    assert!(
        by_user.contains("value=\"U07\""),
        "the form keeps the filter"
    );
    // By outcome, and the pages' links keep the filter.
    let (_, failed) = get(&app, &s, "/console/sync-log?outcome=failure&action=create").await;
    let ids = entry_ids(&failed);
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0], all[0]["id"].as_str().unwrap());
    assert!(failed.contains("<option value=\"failure\" selected>failure</option>"));
    assert_eq!(
        attr_after(&failed, ">Export CSV<", "href").as_deref(),
        Some("/console/sync-log/export.csv?outcome=failure&action=create")
    );
    let (_, none) = get(&app, &s, "/console/sync-log?connection=other").await;
    assert!(entry_ids(&none).is_empty());
    assert!(none.contains("No entries match the filter."));

    // A bad value is shown next to its field, with the form kept.
    let (status, bad) = get(&app, &s, "/console/sync-log?since=yesterday&user=u07").await;
    assert_eq!(status, 400, "{bad}");
    assert!(bad.contains("<p class=\"field-error\" id=\"error-since\">"));
    assert!(bad.contains("since must be a date"));
    assert!(bad.contains("aria-invalid=\"true\" aria-describedby=\"error-since"));
    assert!(bad.contains("role=\"alert\""));
    assert!(bad.contains("value=\"yesterday\""));
    let (status, bad) = get(&app, &s, "/console/sync-log?outcome=maybe").await;
    assert_eq!(status, 400);
    assert!(bad.contains("id=\"error-outcome\""));

    // The export: the admin API's columns, every matching row (past one page).
    let resp = app
        .console_req(&s, Method::GET, "/console/sync-log/export.csv?user=u07")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(resp.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("sync-log.csv"));
    let text = resp.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header = rd.headers().unwrap().clone();
    assert_eq!(header.get(0), Some("at"));
    assert_eq!(header.get(1), Some("actor"));
    assert_eq!(header.get(9), Some("status"));
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.get(7) == Some("u07")));
    assert_eq!(rows[0].get(9), Some("failure"));
    assert_eq!(rows[0].get(10), Some("409"));
    assert_eq!(rows[1].get(9), Some("success"));
    let text = app
        .console_req(&s, Method::GET, "/console/sync-log/export.csv")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(rd.records().count(), 53, "the export is not one page");
    let resp = app
        .console_req(&s, Method::GET, "/console/sync-log/export.csv?until=never")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().await.unwrap().contains("until"));

    // The live tail: nothing after the newest; then the new entry, with the newest id.
    let tail = |after: String| {
        let req = app.console_req(
            &s,
            Method::GET,
            &format!("/console/sync-log/tail?after={after}"),
        );
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            assert!(resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"));
            resp.json::<Value>().await.unwrap()
        }
    };
    let quiet = tail(newest[0].clone()).await;
    assert_eq!(quiet, json!({"entries": [], "after": newest[0]}));
    let (_, zed) = app.send(Method::POST, "Users", Some(user("zed"))).await;
    let (_, yan) = app.send(Method::POST, "Users", Some(user("yan"))).await;
    let news = tail(newest[0].clone()).await;
    let entries = news["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{news}");
    let latest = api_entries(&app, &admin, "limit=2").await;
    assert_eq!(
        entries[0],
        json!({
            "id": latest[1]["id"],
            "at": latest[1]["at"],
            "actor": "connection:test",
            "action": "create",
            "resource": format!("User {}", zed["id"].as_str().unwrap()),
            "user_name": "zed",
            "status": "success",
            "http_status": 201,
        }),
        "oldest first"
    );
    assert_eq!(entries[1]["user_name"], json!("yan"));
    assert_eq!(
        entries[1]["resource"],
        json!(format!("User {}", yan["id"].as_str().unwrap()))
    );
    assert_eq!(news["after"], latest[0]["id"]);
}

async fn an_entry_shows_its_sections(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    app.admin(
        &admin,
        Method::PUT,
        "products/meeting",
        Some(json!({"seats": 5})),
    )
    .await;
    app.admin(
        &admin,
        Method::PATCH,
        "settings",
        Some(json!({"default_products": ["meeting"]})),
    )
    .await;
    let mut body = user("lena");
    body["password"] = json!("Sup3r-Secret!");
    body["name"] = json!({"givenName": "Lena"});
    let (s, u) = app.send(Method::POST, "Users", Some(body)).await;
    assert_eq!(s, 201);
    let (s, _) = app.send(Method::POST, "Users", Some(user("lena"))).await;
    assert_eq!(s, 409);
    let log = api_entries(&app, &admin, "user=lena").await;
    let failed = log[0]["id"].as_str().unwrap();
    let created = log[1]["id"].as_str().unwrap();

    let s = app.console(Role::Auditor).await;
    // The list links to the entry.
    let (_, list) = get(&app, &s, "/console/sync-log?user=lena").await;
    assert_eq!(
        entry_ids(&list),
        vec![failed.to_string(), created.to_string()]
    );

    let (status, page) = get(&app, &s, &format!("/console/sync-log/{created}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Sync-log entry</h1>"));
    for h in [
        "Request",
        "Steps",
        "Modified properties",
        "Notes",
        "Seat effects",
        "Error",
    ] {
        assert!(page.contains(&format!(">{h}</h2>")), "section {h}");
    }
    assert!(page.contains("<code>POST /scim/v2/Users</code>"));
    assert!(page.contains("connection:test"));
    assert!(
        page.contains(">warning</span>"),
        "a dropped password is a note"
    );
    // Modified properties: attribute, old (none) -> new.
    assert!(
        page.contains("<th scope=\"row\"><code>userName</code></th><td class=\"value\">—</td><td class=\"value\">lena</td>"),
        "{page}"
    );
    assert!(page.contains("<code>name.givenName</code>"));
    assert!(!page.contains("Sup3r-Secret!"));
    assert!(page.contains("password dropped"));
    // Seat effects with their source.
    let uid = u["id"].as_str().unwrap();
    assert!(
        page.contains(&format!(
            "<th scope=\"row\">meeting</th><td>assigned</td><td>rule</td><td><code>{uid}</code></td>"
        )),
        "{page}"
    );
    assert_eq!(page.matches("<ol><li>").count(), 1, "the steps as a list");
    assert!(page.contains("No error."));

    let (status, page) = get(&app, &s, &format!("/console/sync-log/{failed}")).await;
    assert_eq!(status, 200);
    assert!(page.contains(">failure</span>"));
    assert!(page.contains("<th scope=\"row\">Code</th><td><code>uniqueness</code></td>"));
    assert!(page.contains(">Reason</th>"));
    assert!(page.contains(">Recommended action</th>"));
    assert!(page.contains("already exists"));
    assert!(page.contains("No property changed."));

    let (status, page) = get(&app, &s, "/console/sync-log/2000-01-01T00:00:00Z-nope").await;
    assert_eq!(status, 404);
    assert!(page.contains("role=\"alert\""));
    assert!(page.contains("no such sync-log entry"));

    // Another account's entry is not found here either.
    let other = app.other_account_token("globex").await;
    app.send_as(&other, Method::POST, "Users", Some(user("theirs")))
        .await;
    let theirs = app
        .engine
        .sync_log_after("globex", None, None, None, 10)
        .await
        .unwrap();
    let (status, _) = get(&app, &s, &format!("/console/sync-log/{}", theirs[0].id)).await;
    assert_eq!(status, 404);
}

async fn conflicts_show_an_email_in_use_with_links(app: TestApp) {
    let other = app.other_account_token("globex").await;
    let (s, _) = app
        .send_as(&other, Method::POST, "Users", Some(user("pat")))
        .await;
    assert_eq!(s, 201);
    for _ in 0..2 {
        let (s, _) = app.send(Method::POST, "Users", Some(user("pat"))).await;
        assert_eq!(s, 409);
    }

    let s = app.console(Role::Auditor).await;
    let (status, page) = get(&app, &s, "/console/conflicts").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("aria-current=\"page\">Conflicts</a>"));
    for col in [
        "Kind",
        "User",
        "Email",
        "Product",
        "First seen",
        "Last seen",
        "Attempts",
        "Guidance",
    ] {
        assert!(page.contains(&format!(">{col}</th>")), "column {col}");
    }
    assert!(page.contains("<code>email_in_use</code>"));
    assert!(page.contains("pat@example.com"));
    assert!(page.contains("<td class=\"num\">2</td>"), "two attempts");
    assert!(page.contains("another account"), "the guidance");
    assert!(!page.contains("globex"), "the other account is not named");
    // The user, by a SCIM filter on userName, and the user's entries.
    let users = attr_after(&page, ">pat</a>", "href").unwrap();
    assert_eq!(users, "/console/users?filter=userName+eq+%22pat%22");
    let log = attr_after(&page, "aria-label=\"Sync log of pat\"", "href").unwrap();
    assert_eq!(log, "/console/sync-log?user=pat");
    let (_, entries) = get(&app, &s, &log).await;
    assert_eq!(entry_ids(&entries).len(), 2);
    assert_eq!(entries.matches(">failure</span>").count(), 2);

    let (status, page) = get(&app, &s, "/console/conflicts?status=resolved").await;
    assert_eq!(status, 200);
    assert!(page.contains("No resolved conflicts."));
    assert!(page.contains("<option value=\"resolved\" selected>resolved</option>"));
    let (status, page) = get(&app, &s, "/console/conflicts?status=all").await;
    assert_eq!(status, 200);
    assert!(page.contains(">Status</th>") && page.contains("<td>open</td>"));
    let (status, page) = get(&app, &s, "/console/conflicts?status=later").await;
    assert_eq!(status, 400);
    assert!(page.contains("<p class=\"field-error\" id=\"error-status\">"));

    // Without a session: to the sign-in page.
    let bare = ConsoleSession {
        cookie: "roster_console=nope".into(),
        csrf: String::new(),
    };
    for path in [
        "/console/conflicts",
        "/console/sync-log",
        "/console/sync-log/tail",
    ] {
        let resp = app
            .console_req(&bare, Method::GET, path)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "{path}");
        assert_eq!(resp.headers()["location"], "/console/sign-in");
    }
}

crate::on_both_backends!(
    the_list_filters_pages_exports_and_tails,
    an_entry_shows_its_sections,
    conflicts_show_an_email_in_use_with_links,
);
