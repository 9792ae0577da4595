//! The sync log in the console: the filtered list (newest first, cursor paging), its CSV
//! export, the live tail's JSON, and one entry's detail (steps, modified properties, notes,
//! seat effects, the error and what to do about it). Read only: auditors see all of it.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Serialize;
use serde_json::Value;

use crate::engine::synclog::{LogFilter, SyncRow};
use crate::engine::EngineError;

use super::{html_response, layout, Console, ConsoleError, Nav};

/// Entries on one page of the list.
const PAGE: &str = "50";

/// Most entries one export holds (the newest that match); about 50 MB of CSV at worst.
const MAX_EXPORT: usize = 50_000;

/// Most entries one poll of the live tail returns.
const TAIL: i64 = 100;

/// The outcome select's choices: the empty value means any.
const OUTCOMES: &[(&str, &str)] = &[
    ("", "any"),
    ("success", "success"),
    ("warning", "warning"),
    ("failure", "failure"),
    ("skipped", "skipped"),
    ("throttled", "throttled"),
];

/// The filter fields, in the form's order: (query name, label, hint).
const TEXT_FIELDS: &[(&str, &str, &str)] = &[
    ("since", "Since", "A date (2026-11-28) or an RFC 3339 time"),
    ("until", "Until", "A date or a time, not included"),
    ("user", "User", "A userName or a user id"),
    ("connection", "Connection", "A connection's name"),
];

/// The list's query: the filter and the page's cursor. Empty fields count as absent, so the
/// form's blank fields filter nothing.
#[derive(Debug, Default, Clone)]
struct Query {
    since: Option<String>,
    until: Option<String>,
    user: Option<String>,
    connection: Option<String>,
    outcome: Option<String>,
    action: Option<String>,
    cursor: Option<String>,
}

impl Query {
    /// Reads the query string leniently: unknown names are ignored, a repeated name keeps
    /// its first value, and nothing here fails (the engine judges the values).
    fn parse(req: &HttpRequest) -> Query {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Query {
            since: get("since"),
            until: get("until"),
            user: get("user"),
            connection: get("connection"),
            outcome: get("outcome"),
            action: get("action"),
            cursor: get("cursor"),
        }
    }

    fn value(&self, name: &str) -> Option<&str> {
        match name {
            "since" => self.since.as_deref(),
            "until" => self.until.as_deref(),
            "user" => self.user.as_deref(),
            "connection" => self.connection.as_deref(),
            "outcome" => self.outcome.as_deref(),
            "action" => self.action.as_deref(),
            "cursor" => self.cursor.as_deref(),
            _ => None,
        }
    }

    /// Whether any filter (not the cursor) narrows the list.
    fn filtered(&self) -> bool {
        FILTERS.iter().any(|f| self.value(f).is_some())
    }

    /// The filters as a query string (no cursor), for the export and paging links.
    fn filter_string(&self) -> String {
        let pairs: Vec<(&str, &str)> = FILTERS
            .iter()
            .filter_map(|f| self.value(f).map(|v| (*f, v)))
            .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The engine's filter; the console's `action` is the admin API's `operation`.
    fn log_filter(&self, cursor: Option<String>, limit: &str) -> LogFilter {
        LogFilter {
            since: self.since.clone(),
            until: self.until.clone(),
            user: self.user.clone(),
            connection: self.connection.clone(),
            outcome: self.outcome.clone(),
            operation: self.action.clone(),
            cursor,
            limit: Some(limit.to_string()),
        }
    }
}

/// The filter's names, as the form, the links and the export carry them.
const FILTERS: &[&str] = &["since", "until", "user", "connection", "outcome", "action"];

/// A value the engine refused, and the form field to show it next to; other errors are
/// the console's error page.
fn field_error(e: EngineError) -> Result<(String, String), ConsoleError> {
    match e {
        EngineError::Refused {
            message,
            field: Some(field),
            code,
        } if code.status() == 400 => {
            let field = match field.as_str() {
                "operation" => "action".to_string(),
                _ => field,
            };
            Ok((field, message))
        }
        other => Err(other.into()),
    }
}

/// `GET /console/sync-log`: the filter form and one page of entries, newest first.
pub async fn list(console: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let q = Query::parse(&req);
    let filter = q.log_filter(q.cursor.clone(), PAGE);
    let (status, body) = match console
        .engine
        .sync_log(&console.session.principal, &filter)
        .await
    {
        Ok((rows, next)) => (
            StatusCode::OK,
            html! {
                h1 { "Sync log" }
                (filter_form(&q, None))
                (listing(&q, &rows, next.as_deref()))
            },
        ),
        Err(e) => {
            let (field, message) = field_error(e)?;
            let error = (field.as_str(), message.as_str());
            (
                StatusCode::BAD_REQUEST,
                html! {
                    h1 { "Sync log" }
                    (layout::alert("The filter has a value the sync log cannot use: see the field marked below."))
                    (filter_form(&q, Some(error)))
                },
            )
        }
    };
    Ok(html_response(
        status,
        layout::page(&console, Nav::SyncLog, "Sync log", body),
    ))
}

fn filter_form(q: &Query, error: Option<(&str, &str)>) -> Markup {
    let error_of = |name: &str| error.filter(|(f, _)| *f == name).map(|(_, m)| m);
    // An error on a field the form does not show (the cursor, say) is shown above it.
    let elsewhere = error.filter(|(f, _)| !FILTERS.contains(f));
    html! {
        @if let Some((field, message)) = elsewhere {
            (layout::alert(&format!("{field}: {message}")))
        }
        form class="filters" method="get" action="/console/sync-log" role="search" aria-label="Filter the sync log" {
            @for (name, label, hint) in TEXT_FIELDS {
                (layout::field(name, label, "text", q.value(name), error_of(name), Some(hint)))
            }
            (layout::select("outcome", "Outcome", OUTCOMES, Some(q.value("outcome").unwrap_or("")), error_of("outcome")))
            (layout::field("action", "Action", "text", q.value("action"), error_of("action"), Some("create, update, delete, read, …")))
            div class="filter-actions" {
                button type="submit" { "Filter" }
                @if q.filtered() || q.cursor.is_some() {
                    " " a href="/console/sync-log" { "Clear the filter" }
                }
            }
        }
    }
}

fn listing(q: &Query, rows: &[SyncRow], next: Option<&str>) -> Markup {
    let filters = q.filter_string();
    let export = if filters.is_empty() {
        "/console/sync-log/export.csv".to_string()
    } else {
        format!("/console/sync-log/export.csv?{filters}")
    };
    let older = next.map(|cursor| {
        let cursor = serde_urlencoded::to_string([("cursor", cursor)]).unwrap_or_default();
        if filters.is_empty() {
            format!("/console/sync-log?{cursor}")
        } else {
            format!("/console/sync-log?{filters}&{cursor}")
        }
    });
    let newest = if filters.is_empty() {
        "/console/sync-log".to_string()
    } else {
        format!("/console/sync-log?{filters}")
    };
    // The live tail follows the whole log from its newest entry: it is offered on the
    // first page of the unfiltered list, where its rows belong on top.
    let tail = !q.filtered() && q.cursor.is_none();
    let newest_id = if tail {
        rows.first().map(|r| r.id.as_str()).unwrap_or("")
    } else {
        ""
    };
    html! {
        div class="log-actions" {
            a class="button secondary" href=(export) download { "Export CSV" }
            @if tail {
                button id="live-tail" type="button" aria-pressed="false" hidden { "Live tail" }
            }
        }
        @if tail {
            p id="live-status" role="status" class="muted" {}
        } @else {
            p class="muted" { "Live tail follows the whole log: clear the filter and go back to the newest entries to use it." }
        }
        div class="table-wrap" {
            table id="sync-log" data-after=(newest_id) {
                caption {
                    @if q.filtered() { "Entries matching the filter, newest first" } @else { "Entries, newest first" }
                    @if q.cursor.is_some() { " (older page)" }
                }
                thead {
                    tr {
                        th scope="col" { "When" }
                        th scope="col" { "Actor" }
                        th scope="col" { "Action" }
                        th scope="col" { "Resource" }
                        th scope="col" { "User" }
                        th scope="col" { "Outcome" }
                        th scope="col" class="num" { "HTTP" }
                    }
                }
                tbody {
                    @for r in rows {
                        tr {
                            td { a href={ "/console/sync-log/" (r.id) } { (r.at) } }
                            td { (r.actor) }
                            td { (r.action) }
                            td { (resource(r)) }
                            td { (r.user_name.as_deref().unwrap_or("")) }
                            td { (layout::status(&r.status)) }
                            td class="num" { (r.http_status) }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() {
            p {
                @if q.filtered() { "No entries match the filter." } @else { "No entries yet." }
            }
        }
        @if q.cursor.is_some() || older.is_some() {
            nav class="pager" aria-label="Sync log pages" {
                @if q.cursor.is_some() {
                    a href=(newest) { "Newest entries" }
                }
                @if let Some(href) = &older {
                    " " a href=(href) rel="next" { "Older entries" }
                }
            }
        }
    }
}

/// What an entry was about: the resource's type and id, or neither.
fn resource(r: &SyncRow) -> String {
    match (&r.resource_type, &r.resource_id) {
        (Some(t), Some(id)) => format!("{t} {id}"),
        (Some(t), None) => t.clone(),
        (None, Some(id)) => id.clone(),
        (None, None) => String::new(),
    }
}

/// `GET /console/sync-log/export.csv`: every entry that matches the filter (the newest
/// [`MAX_EXPORT`]), in the admin API's CSV columns.
pub async fn export(console: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let q = Query::parse(&req);
    let mut rows: Vec<SyncRow> = vec![];
    let mut cursor = None;
    loop {
        let filter = q.log_filter(cursor, "1000");
        let (page, next) = match console
            .engine
            .sync_log(&console.session.principal, &filter)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                let (_, message) = field_error(e)?;
                return Err(ConsoleError::page(
                    StatusCode::BAD_REQUEST,
                    "Cannot export",
                    &format!("The export's filter has a value the sync log cannot use: {message}."),
                ));
            }
        };
        rows.extend(page);
        match next {
            Some(n) if rows.len() < MAX_EXPORT => cursor = Some(n),
            _ => break,
        }
    }
    rows.truncate(MAX_EXPORT);
    let mut resp = super::super::admin::sync_log_csv(&rows)?;
    if let Ok(v) = header::HeaderValue::from_str("no-store") {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    Ok(resp)
}

/// One entry as the live tail sends it.
#[derive(Serialize)]
struct TailEntry<'a> {
    id: &'a str,
    at: &'a str,
    actor: &'a str,
    action: &'a str,
    resource: String,
    user_name: Option<&'a str>,
    status: &'a str,
    http_status: i64,
}

#[derive(Serialize)]
struct Tail<'a> {
    /// Oldest first: the script puts each on top in turn.
    entries: Vec<TailEntry<'a>>,
    /// The newest id the page now shows.
    after: Option<&'a str>,
}

/// `GET /console/sync-log/tail?after=ID`: the entries newer than `after`, oldest first.
pub async fn tail(console: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let q: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let after = q
        .iter()
        .find(|(k, _)| k == "after")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty());
    let rows = console
        .engine
        .sync_log_after(&console.session.principal.account, after, None, None, TAIL)
        .await?;
    let body = Tail {
        after: rows.last().map(|r| r.id.as_str()).or(after),
        entries: rows
            .iter()
            .map(|r| TailEntry {
                id: &r.id,
                at: &r.at,
                actor: &r.actor,
                action: &r.action,
                resource: resource(r),
                user_name: r.user_name.as_deref(),
                status: &r.status,
                http_status: r.http_status,
            })
            .collect(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

/// `GET /console/sync-log/{id}`: one entry in full.
pub async fn entry(console: Console, id: web::Path<String>) -> Result<HttpResponse, ConsoleError> {
    let r = console
        .engine
        .sync_log_entry(&console.session.principal, &id)
        .await?;
    let body = html! {
        h1 { "Sync-log entry" }
        p {
            a href="/console/sync-log" { "Back to the sync log" }
            @if let Some(user) = &r.user_name {
                " · "
                a href={ "/console/sync-log?" (serde_urlencoded::to_string([("user", user)]).unwrap_or_default()) } {
                    "Entries of " (user)
                }
            }
        }
        (request(&r))
        (steps(&r))
        (modified(&r))
        (notes(&r))
        (seats(&r))
        (error(&r))
    };
    Ok(html_response(
        StatusCode::OK,
        layout::page(&console, Nav::SyncLog, "Sync-log entry", body),
    ))
}

/// A JSON list the log wrote; anything else (never expected) reads as empty.
fn list_of(text: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        _ => vec![],
    }
}

/// A value as an admin reads it: text as is, none as a dash, the rest as JSON.
fn shown(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "—".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

fn request(r: &SyncRow) -> Markup {
    html! {
        section aria-labelledby="entry-request" {
            h2 id="entry-request" { "Request" }
            div class="table-wrap" {
                table class="kv" {
                    tbody {
                        tr { th scope="row" { "When" } td { (r.at) } }
                        tr { th scope="row" { "Outcome" } td { (layout::status(&r.status)) } }
                        tr { th scope="row" { "HTTP status" } td { (r.http_status) } }
                        tr { th scope="row" { "Action" } td { (r.action) } }
                        tr { th scope="row" { "Actor" } td { (r.actor) } }
                        tr { th scope="row" { "Request" } td { code { (r.method) " " (r.path) } } }
                        tr { th scope="row" { "Resource" } td { (resource(r)) } }
                        tr { th scope="row" { "User" } td { (r.user_name.as_deref().unwrap_or("—")) } }
                        tr { th scope="row" { "Request id" } td { code { (r.request_id) } } }
                        tr { th scope="row" { "Latency" } td { (r.latency_ms) " ms" } }
                        tr { th scope="row" { "Entry id" } td { code { (r.id) } } }
                    }
                }
            }
        }
    }
}

fn steps(r: &SyncRow) -> Markup {
    let steps = list_of(&r.steps);
    html! {
        section aria-labelledby="entry-steps" {
            h2 id="entry-steps" { "Steps" }
            @if steps.is_empty() {
                p { "No steps recorded." }
            } @else {
                ol { @for s in &steps { li { (shown(Some(s))) } } }
            }
        }
    }
}

fn modified(r: &SyncRow) -> Markup {
    let changes = list_of(&r.changes);
    html! {
        section aria-labelledby="entry-modified" {
            h2 id="entry-modified" { "Modified properties" }
            @if changes.is_empty() {
                p { "No property changed." }
            } @else {
                div class="table-wrap" {
                    table class="changes" {
                        caption class="muted" { "Each attribute: old value → new value (— is none)" }
                        thead {
                            tr {
                                th scope="col" { "Attribute" }
                                th scope="col" { "Old value" }
                                th scope="col" { "New value" }
                            }
                        }
                        tbody {
                            @for c in &changes {
                                tr {
                                    th scope="row" { code { (shown(c.get("attribute"))) } }
                                    td class="value" { (shown(c.get("old"))) }
                                    td class="value" { (shown(c.get("new"))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn notes(r: &SyncRow) -> Markup {
    let notes = list_of(&r.notes);
    html! {
        section aria-labelledby="entry-notes" {
            h2 id="entry-notes" { "Notes" }
            @if notes.is_empty() {
                p { "No normalisation notes: the request was taken as sent." }
            } @else {
                ul { @for n in &notes { li { (shown(Some(n))) } } }
            }
        }
    }
}

fn seats(r: &SyncRow) -> Markup {
    let seats = list_of(&r.seat_changes);
    html! {
        section aria-labelledby="entry-seats" {
            h2 id="entry-seats" { "Seat effects" }
            @if seats.is_empty() {
                p { "No seat changed." }
            } @else {
                div class="table-wrap" {
                    table {
                        caption class="muted" { "The source says why the seat is held: a rule, the identity provider, or an admin (manual)" }
                        thead {
                            tr {
                                th scope="col" { "Product" }
                                th scope="col" { "Change" }
                                th scope="col" { "Source" }
                                th scope="col" { "User id" }
                            }
                        }
                        tbody {
                            @for s in &seats {
                                tr {
                                    th scope="row" { (shown(s.get("product"))) }
                                    td { (shown(s.get("change"))) }
                                    td { (shown(s.get("source"))) }
                                    td { code { (shown(s.get("user_id"))) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn error(r: &SyncRow) -> Markup {
    let any = r.error_code.is_some() || r.detail.is_some() || r.recommended_action.is_some();
    html! {
        section aria-labelledby="entry-error" {
            h2 id="entry-error" { "Error" }
            @if any {
                div class="table-wrap" {
                    table class="kv" {
                        tbody {
                            tr { th scope="row" { "Code" } td { code { (r.error_code.as_deref().unwrap_or("—")) } } }
                            @if let Some(t) = &r.scim_type {
                                tr { th scope="row" { "SCIM type" } td { code { (t) } } }
                            }
                            tr { th scope="row" { "Reason" } td { (r.detail.as_deref().unwrap_or("—")) } }
                            tr { th scope="row" { "Recommended action" } td { (r.recommended_action.as_deref().unwrap_or("—")) } }
                        }
                    }
                }
            } @else {
                p { "No error." }
            }
        }
    }
}
