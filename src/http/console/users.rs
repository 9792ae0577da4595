//! Users: a search with the SCIM filter grammar (a filter that does not parse is shown with
//! a caret under the spot, as `roster filter` shows it), each user's status and seats, and
//! suspend, reactivate and transfer, each behind a confirmation page whose form posts to the
//! same URL.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::engine::input::validated;
use crate::engine::seats::SeatChange;
use crate::engine::transfer::{TransferTo, Transferred};
use crate::engine::users::{UserPage, UserView};
use crate::engine::{EngineError, ErrorCode};

use super::{html_response, layout, Console, ConsoleError, Nav};

/// Users on one page of the list.
const PAGE_SIZE: u64 = 50;

/// What a confirmation page asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Suspend,
    Reactivate,
    Transfer,
}

impl Action {
    fn parse(word: &str) -> Result<Action, ConsoleError> {
        match word {
            "suspend" => Ok(Action::Suspend),
            "reactivate" => Ok(Action::Reactivate),
            "transfer" => Ok(Action::Transfer),
            _ => Err(ConsoleError::page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such console page.",
            )),
        }
    }

    fn word(self) -> &'static str {
        match self {
            Action::Suspend => "suspend",
            Action::Reactivate => "reactivate",
            Action::Transfer => "transfer",
        }
    }
}

/// The query string's fields (the first value of each name); one that cannot be read is a
/// 400 page.
pub(super) fn query_fields(req: &HttpRequest) -> Result<HashMap<String, String>, ConsoleError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).map_err(|_| {
            ConsoleError::page(
                StatusCode::BAD_REQUEST,
                "Bad address",
                "The page's address could not be read: go back and try again.",
            )
        })?;
    let mut map = HashMap::new();
    for (k, v) in pairs {
        map.entry(k).or_insert(v);
    }
    Ok(map)
}

/// `text` as one percent-encoded path segment (ids and connection names go in URLs).
pub(super) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A stored time (RFC 3339) to the minute in UTC, the exact value in `datetime`.
pub(super) fn when(at: &str) -> Markup {
    let shown = chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| at.to_string());
    html! { time datetime=(at) { (shown) } }
}

/// The users page filtered by `filter`.
pub(super) fn users_url(filter: &str) -> String {
    match serde_urlencoded::to_string([("filter", filter)]) {
        Ok(q) => format!("/console/users?{q}"),
        Err(_) => "/console/users".into(),
    }
}

/// A filter that finds exactly this user (the id as a JSON string, as the grammar reads it).
fn id_filter(id: &str) -> String {
    format!("id eq {}", serde_json::Value::from(id))
}

fn name_of(u: &UserView) -> String {
    match &u.user_name {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => u.id.clone(),
    }
}

fn email_of(u: &UserView) -> Option<String> {
    let list = u.emails.as_array()?;
    let primary = list
        .iter()
        .find(|e| e.get("primary").and_then(serde_json::Value::as_bool) == Some(true))
        .or_else(|| list.first())?;
    primary
        .get("value")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string)
}

/// `GET /console/users?filter=&start=`.
pub async fn list(req: HttpRequest, console: Console) -> Result<HttpResponse, ConsoleError> {
    let q = query_fields(&req)?;
    let filter = q.get("filter").map(|f| f.trim()).filter(|f| !f.is_empty());
    let start = q
        .get("start")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1)
        .max(1);
    // The grammar the server reads filters with: a syntax error gets its caret.
    if let Some(f) = filter {
        if let Err(e) = crate::scim::limits::parse_filter(f) {
            return Ok(list_page(&console, filter, Err(e.render(f))));
        }
    }
    let found = console
        .engine
        .admin_users(
            &console.session.principal,
            filter,
            Some(&start.to_string()),
            Some(&PAGE_SIZE.to_string()),
        )
        .await;
    match found {
        Ok(page) => Ok(list_page(&console, filter, Ok(page))),
        // It parses but does not fit the schema (an unknown attribute, a wrong operator).
        Err(EngineError::Refused {
            code: ErrorCode::InvalidFilter,
            message,
            ..
        }) => Ok(list_page(
            &console,
            filter,
            Err(format!("error: {message}")),
        )),
        Err(e) => Err(e.into()),
    }
}

fn list_page(
    console: &Console,
    filter: Option<&str>,
    found: Result<UserPage, String>,
) -> HttpResponse {
    let status = if found.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let error = found.as_ref().err();
    let body = html! {
        h1 { "Users" }
        form method="get" action="/console/users" class="filters" role="search" {
            div class="field field-wide" {
                label for="field-filter" { "SCIM filter" }
                input id="field-filter" name="filter" type="text" value=[filter]
                    spellcheck="false" autocomplete="off"
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=(if error.is_some() { "error-filter hint-filter" } else { "hint-filter" });
                p class="hint" id="hint-filter" {
                    "For example " code { "userName sw \"a\"" } " or "
                    code { "active eq false and emails.value co \"@example.com\"" } "."
                }
                @if let Some(e) = error {
                    // Focusable: a long filter scrolls sideways rather than wrap under its caret.
                    pre id="error-filter" role="alert" class="error" tabindex="0" { (e) }
                }
            }
            button type="submit" { "Search" }
            @if filter.is_some() {
                a class="button secondary" href="/console/users" { "Clear" }
            }
        }
        @if let Ok(page) = &found {
            (table(console, filter, page))
        }
    };
    html_response(status, layout::page(console, Nav::Users, "Users", body))
}

fn table(console: &Console, filter: Option<&str>, page: &UserPage) -> Markup {
    if page.users.is_empty() {
        return html! {
            p {
                @if filter.is_some() { "No users match this filter." }
                @else if page.total > 0 { "No users on this page." }
                @else { "No users yet." }
            }
        };
    }
    let first = page.start_index;
    let last = first + page.users.len() as u64 - 1;
    let page_url = |start: u64| {
        let mut pairs = vec![];
        if let Some(f) = filter {
            pairs.push(("filter", f.to_string()));
        }
        pairs.push(("start", start.to_string()));
        serde_urlencoded::to_string(pairs)
            .map(|q| format!("/console/users?{q}"))
            .unwrap_or_else(|_| "/console/users".into())
    };
    let write = console.can_write();
    html! {
        div class="table-wrap" role="region" aria-label="Users table" tabindex="0" {
            table id="users" {
                caption {
                    "Users " (first) "–" (last) " of " (page.total)
                    @if filter.is_some() { " matching the filter" }
                }
                thead {
                    tr {
                        th scope="col" { "userName" }
                        th scope="col" { "Email" }
                        th scope="col" { "Status" }
                        th scope="col" { "Seats" }
                        th scope="col" { "Last seen by IdP" }
                        @if write { th scope="col" { "Actions" } }
                    }
                }
                tbody {
                    @for u in &page.users {
                        (row(u, write))
                    }
                }
            }
        }
        nav class="pager" aria-label="Pages of users" {
            @if first > 1 {
                a href=(page_url(first.saturating_sub(PAGE_SIZE).max(1))) { "Previous users" }
            }
            @if last < page.total {
                a href=(page_url(last + 1)) { "Next users" }
            }
        }
    }
}

fn row(u: &UserView, write: bool) -> Markup {
    let name = name_of(u);
    let base = format!("/console/users/{}", segment(&u.id));
    html! {
        tr {
            th scope="row" { (name) }
            td { @if let Some(e) = email_of(u) { (e) } @else { span class="muted" { "none" } } }
            td { (user_status(u.status)) }
            td { (seats(u)) }
            td {
                @match &u.last_seen_by_idp {
                    Some(at) => (when(at)),
                    None => span class="muted" { "never" },
                }
            }
            @if write {
                td class="actions" {
                    // A held user is active: its deprovisioning waits for an admin.
                    @if is_active(u.status) {
                        a href={ (base) "/suspend" } { "Suspend" span class="visually-hidden" { " " (name) } }
                    } @else {
                        a href={ (base) "/reactivate" } { "Reactivate" span class="visually-hidden" { " " (name) } }
                    }
                    " "
                    a href={ (base) "/transfer" } { "Transfer" span class="visually-hidden" { " the seats of " (name) } }
                }
            }
        }
    }
}

/// Whether a status is an active user's: `active`, or `held` (a deprovisioning of the user
/// waits in a hold for an admin; the user keeps its seats meanwhile).
fn is_active(status: &str) -> bool {
    matches!(status, "active" | "held")
}

/// A user's status as a word and a mark.
fn user_status(status: &str) -> Markup {
    let (class, mark) = match status {
        "active" => ("success", "✓"),
        _ => ("warning", "⏸"),
    };
    html! {
        span class={ "status status-" (class) } {
            span aria-hidden="true" { (mark) " " } (status)
        }
    }
}

fn seats(u: &UserView) -> Markup {
    if u.seats.is_empty() {
        return html! { span class="muted" { "none" } };
    }
    html! {
        ul class="seats" {
            @for s in &u.seats {
                li { (s.product) ": " (s.state) }
            }
        }
    }
}

/// The user with this id, or a 404 page.
async fn find_user(console: &Console, id: &str) -> Result<UserView, ConsoleError> {
    let missing = || {
        ConsoleError::page(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no user with this id in the account.",
        )
    };
    let page = match console
        .engine
        .admin_users(
            &console.session.principal,
            Some(&id_filter(id)),
            None,
            Some("1"),
        )
        .await
    {
        Ok(page) => page,
        // An id the grammar cannot hold is no user's id.
        Err(EngineError::Refused { code, .. }) if code.status() == 400 => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    page.users.into_iter().next().ok_or_else(missing)
}

/// `GET /console/users/{id}/{action}`: what the action will do, and its form.
pub async fn confirm(
    console: Console,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, action) = path.into_inner();
    let action = Action::parse(&action)?;
    let user = find_user(&console, &id).await?;
    let status = if console.can_write() {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    Ok(confirm_page(&console, &user, action, status, None, None))
}

fn confirm_page(
    console: &Console,
    user: &UserView,
    action: Action,
    status: StatusCode,
    email: Option<&str>,
    email_error: Option<&str>,
) -> HttpResponse {
    let name = name_of(user);
    let title = match action {
        Action::Suspend => format!("Suspend {name}"),
        Action::Reactivate => format!("Reactivate {name}"),
        Action::Transfer => format!("Transfer the seats of {name}"),
    };
    let action_url = format!("/console/users/{}/{}", segment(&user.id), action.word());
    let body = html! {
        h1 { (title) }
        table class="kv" {
            tbody {
                tr { th scope="row" { "userName" } td { (name) } }
                tr { th scope="row" { "Email" } td { (email_of(user).unwrap_or_default()) } }
                tr { th scope="row" { "Status" } td { (user_status(user.status)) } }
                tr { th scope="row" { "Seats" } td { (seats(user)) } }
            }
        }
        @match action {
            Action::Suspend => {
                p {
                    "Suspending sets the user's " code { "active" } " to false, as an identity provider does. "
                    "The account's seat policy decides whether their seats are freed; a freed seat goes to the first person waiting."
                }
                @if !is_active(user.status) { p class="hint" { (name) " is already suspended." } }
            }
            Action::Reactivate => {
                p {
                    "Reactivating sets " code { "active" } " to true. The user takes seats again by the rules; "
                    "where no seat is free they join the waitlist."
                }
                @if is_active(user.status) { p class="hint" { (name) " is already active." } }
            }
            Action::Transfer => {
                p {
                    "The user's seats move to another email. Without \"keep the same user\", they go to the user with that email "
                    "(made if there is none) and " (name) " is suspended; with it, " (name) " keeps their seats and takes the new email."
                }
            }
        }
        @if console.can_write() {
            form method="post" action=(action_url) class="confirm" {
                (layout::csrf(console))
                @match action {
                    Action::Suspend => {
                        button type="submit" class="danger" { "Suspend user" }
                    }
                    Action::Reactivate => {
                        button type="submit" { "Reactivate user" }
                    }
                    Action::Transfer => {
                        (layout::field("email", "New email", "email", email, email_error, None))
                        div class="field field-check" {
                            input id="field-retain_data" name="retain_data" type="checkbox" value="on";
                            label for="field-retain_data" { "Keep the same user (retain data): " (name) " takes the new email" }
                        }
                        button type="submit" { "Transfer seats" }
                    }
                }
                " "
                a class="button secondary" href="/console/users" { "Cancel" }
            }
        } @else {
            (layout::alert("This session is read only (auditor): it cannot change users."))
            p { a href="/console/users" { "Back to users" } }
        }
    };
    html_response(status, layout::page(console, Nav::Users, &title, body))
}

/// `POST /console/users/{id}/{action}`: does it, then shows what happened.
pub async fn act(
    req: HttpRequest,
    console: Console,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let (id, action) = path.into_inner();
    let action = Action::parse(&action)?;
    let form = console.form(&body)?;
    let ctx = console.ctx(&req);
    let ap = &console.session.principal;
    let engine = &console.engine;
    let (title, subject, text, changes, mut known) = match action {
        Action::Suspend | Action::Reactivate => {
            let active = action == Action::Reactivate;
            let out = engine.set_active(ap, &id, active, &ctx).await?;
            let name = name_of(&out.user);
            let (title, text) = if active {
                ("User reactivated", format!("{name} is active again."))
            } else {
                ("User suspended", format!("{name} is suspended."))
            };
            let known = HashMap::from([(out.user.id.clone(), name.clone())]);
            (title, name, text, out.seat_changes, known)
        }
        Action::Transfer => {
            let email = form.get("email").unwrap_or_default().to_string();
            let input = TransferTo {
                email: email.clone(),
                retain_data: form.checked("retain_data"),
            };
            let done = match validated(input) {
                Ok(input) => engine.transfer(ap, &id, &input, &ctx).await,
                Err(e) => Err(e),
            };
            match done {
                Ok(Transferred::Retained { user, seat_changes }) => {
                    let name = name_of(&user);
                    let text = format!(
                        "{name} now has the email {}; their seats stay with them.",
                        email.trim()
                    );
                    let known = HashMap::from([(user.id.clone(), name.clone())]);
                    ("Seats transferred", name, text, seat_changes, known)
                }
                Ok(Transferred::Moved {
                    from,
                    to,
                    seat_changes,
                }) => {
                    let (from_name, to_name) = (name_of(&from), name_of(&to));
                    let text = format!(
                        "The seats of {from_name} moved to {to_name} ({}); {from_name} is suspended.",
                        email.trim()
                    );
                    let known = HashMap::from([
                        (from.id.clone(), from_name.clone()),
                        (to.id.clone(), to_name),
                    ]);
                    ("Seats transferred", from_name, text, seat_changes, known)
                }
                // A refusal about the email goes next to the field.
                Err(EngineError::Refused {
                    code,
                    message,
                    field,
                }) if field.as_deref() == Some("email")
                    || matches!(
                        code,
                        ErrorCode::InvalidEmail | ErrorCode::EmailInUse | ErrorCode::Uniqueness
                    ) =>
                {
                    let user = find_user(&console, &id).await?;
                    let status =
                        StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
                    return Ok(confirm_page(
                        &console,
                        &user,
                        action,
                        status,
                        Some(&email),
                        Some(&message),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    name_others(&console, &changes, &mut known).await;
    let text = format!("{text} {}", seat_sentence(&changes, &known));
    let page = html! {
        h1 { (title) }
        (layout::notice(&text))
        @if !changes.is_empty() {
            (changes_table(&changes, &known))
        }
        p {
            a href=(users_url(&format!("userName eq {}", serde_json::Value::from(subject.as_str())))) { "See " (subject) " in the users list" }
            " · "
            a href="/console/users" { "All users" }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        layout::page(&console, Nav::Users, title, page),
    ))
}

/// The userNames of the other users a change moved seats of (people served from a
/// waitlist), looked up in one query; an id not found stays an id.
pub(super) async fn name_others(
    console: &Console,
    changes: &[SeatChange],
    known: &mut HashMap<String, String>,
) {
    let mut missing: Vec<&str> = changes
        .iter()
        .map(|c| c.user_id.as_str())
        .filter(|id| !known.contains_key(*id))
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing.truncate(20);
    if missing.is_empty() {
        return;
    }
    let filter = missing
        .iter()
        .map(|id| id_filter(id))
        .collect::<Vec<_>>()
        .join(" or ");
    let count = missing.len().to_string();
    // Only names for the notice: the change is done either way.
    if let Ok(page) = console
        .engine
        .admin_users(
            &console.session.principal,
            Some(&filter),
            None,
            Some(&count),
        )
        .await
    {
        for u in &page.users {
            known.insert(u.id.clone(), name_of(u));
        }
    }
}

fn who<'a>(known: &'a HashMap<String, String>, id: &'a str) -> &'a str {
    known.get(id).map_or(id, String::as_str)
}

fn change_words(change: &str) -> &str {
    match change {
        "assigned" => "seat assigned",
        "waitlisted" => "joined the waitlist",
        "freed" => "seat freed",
        "left_waitlist" => "left the waitlist",
        "moved" => "seat moved to this user",
        "source_changed" => "seat now held for another reason",
        other => other,
    }
}

/// One seat change in words.
fn change_sentence(c: &SeatChange, known: &HashMap<String, String>) -> String {
    let (p, who) = (&c.product, who(known, &c.user_id));
    match c.change {
        "assigned" => format!("{p} seat assigned to {who}"),
        "waitlisted" => format!("{who} waitlisted for {p}"),
        "freed" => format!("{p} seat of {who} freed"),
        "left_waitlist" => format!("{who} left the {p} waitlist"),
        "moved" => format!("{p} seat moved to {who}"),
        "source_changed" => format!("{p} seat of {who} now held for {}", c.source),
        other => format!("{p}: {other} ({who})"),
    }
}

/// The seats a change moved, in one sentence.
pub(super) fn seat_sentence(changes: &[SeatChange], known: &HashMap<String, String>) -> String {
    if changes.is_empty() {
        return "No seat changed.".into();
    }
    let parts: Vec<String> = changes.iter().map(|c| change_sentence(c, known)).collect();
    let n = changes.len();
    format!(
        "{n} seat {}: {}.",
        if n == 1 { "change" } else { "changes" },
        parts.join("; ")
    )
}

fn changes_table(changes: &[SeatChange], known: &HashMap<String, String>) -> Markup {
    html! {
        div class="table-wrap" role="region" aria-label="Seat changes table" tabindex="0" {
            table id="seat-changes" {
                caption { "Seat changes" }
                thead {
                    tr {
                        th scope="col" { "Product" }
                        th scope="col" { "User" }
                        th scope="col" { "Change" }
                        th scope="col" { "Held for" }
                    }
                }
                tbody {
                    @for c in changes {
                        tr {
                            th scope="row" { (c.product) }
                            td { (who(known, &c.user_id)) }
                            td { (change_words(c.change)) }
                            td { (c.source) }
                        }
                    }
                }
            }
        }
    }
}
