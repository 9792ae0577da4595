//! The import page: a CSV of users sent as a multipart form, checked by a dry run and kept
//! server-side (an hour, for this session only) under an id the confirmation form carries;
//! applying imports the kept copy, so the file checked is the file imported.
//!
//! The multipart body is read part by part as it arrives: the `csrf` part must come first
//! (the form puts it before the file) and match the session before the file is read at all;
//! the file is bounded by the engine's upload limit while it streams in.

use std::time::Duration;

use actix_multipart::{Field, Multipart};
use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use maud::{html, Markup};

use crate::engine::console::MAX_UPLOAD;
use crate::engine::import::{ImportReport, RowReport, COLUMNS};
use crate::engine::{EngineError, ErrorCode};
use crate::http::body::BodyTimeout;

use super::{html_response, layout, Console, ConsoleError, Nav};

/// Rows the report lists; the totals count every row.
const SHOWN_ROWS: usize = 1_000;
/// Largest part other than the file (the CSRF token is far shorter).
const MAX_FIELD: usize = 4 * 1024;
/// What the body may hold beyond the file: the token, boundaries, part headers.
const ENVELOPE: usize = 64 * 1024;
/// Longest file name kept and shown.
const MAX_NAME: usize = 200;

pub async fn page(console: Console) -> Result<HttpResponse, ConsoleError> {
    Ok(render(&console, StatusCode::OK, None, html! {}))
}

/// `POST /console/import`: the dry run of an uploaded file.
pub async fn dry_run(
    req: HttpRequest,
    console: Console,
    payload: web::Payload,
) -> Result<HttpResponse, ConsoleError> {
    let upload = match read_upload(&req, &console, payload).await {
        Ok(upload) => upload,
        Err(Refused::Request(e)) => return Err(e),
        Err(Refused::File(status, message)) => {
            return Ok(render(&console, status, Some(&message), html! {}));
        }
    };
    let text = match crate::engine::import::decode(&upload.bytes) {
        Ok(text) => text,
        Err(e) => return file_refused(&console, e),
    };
    // Kept first: keeping needs write access, so an auditor is refused before any work.
    let id = match console
        .engine
        .console_keep_upload(&console.session, &upload.name, &text)
        .await
    {
        Ok(id) => id,
        Err(e) => return file_refused(&console, e),
    };
    let ctx = console.ctx(&req);
    let report = console
        .engine
        .import(&console.session.principal, &text, true, &ctx, &|_, _| {})
        .await;
    let report = match report {
        Ok(report) => report,
        Err(e) => {
            forget(&console, &id).await;
            return file_refused(&console, e);
        }
    };
    let body = html! {
        h2 id="result" { "Dry run of " (upload.name) }
        (layout::notice("Dry run: nothing has been written. Check the report, then apply the import."))
        (totals(&report))
        (report_table(&report))
        form method="post" action="/console/import/apply" class="apply" {
            (layout::csrf(&console))
            input type="hidden" name="upload" value=(id);
            p class="hint" {
                "Applying imports this same file, kept on the server for an hour. "
                "Rows are written as the dry run shows unless users changed meanwhile."
            }
            button type="submit" { "Apply import" }
        }
    };
    Ok(render(&console, StatusCode::OK, None, body))
}

/// `POST /console/import/apply`: imports a kept upload of this session, then forgets it.
pub async fn apply(
    req: HttpRequest,
    console: Console,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = console.form(&body)?;
    let id = form.get("upload").ok_or_else(|| {
        ConsoleError::page(
            StatusCode::BAD_REQUEST,
            "Bad form",
            "The form names no upload: check the file again on the Import page.",
        )
    })?;
    let (name, text) = console.engine.console_upload(&console.session, id).await?;
    let ctx = console.ctx(&req);
    let report = console
        .engine
        .import(&console.session.principal, &text, false, &ctx, &|_, _| {})
        .await?;
    forget(&console, id).await;
    let done = format!(
        "Import of {name} applied: {} created, {} updated, {} unchanged, {} failed.",
        report.created, report.updated, report.unchanged, report.failed
    );
    let body = html! {
        h2 id="result" { "What the import of " (name) " did" }
        (layout::notice(&done))
        (totals(&report))
        (report_table(&report))
    };
    Ok(render(&console, StatusCode::OK, None, body))
}

/// Drops a kept upload; one left behind is pruned within the hour, so a failure is only
/// logged.
async fn forget(console: &Console, id: &str) {
    if let Err(e) = console.engine.console_forget_upload(id).await {
        tracing::warn!(error = %e, "could not forget a console upload");
    }
}

/// An engine refusal of the file itself (not CSV, not text, too large) is said next to the
/// file field; anything else is a page of its own.
fn file_refused(console: &Console, e: EngineError) -> Result<HttpResponse, ConsoleError> {
    match e {
        EngineError::Refused { code, message, .. } if file_code(code) => {
            let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            Ok(render(console, status, Some(&sentence(&message)), html! {}))
        }
        e => Err(e.into()),
    }
}

fn file_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidCsv
            | ErrorCode::UnknownColumns
            | ErrorCode::MissingColumn
            | ErrorCode::TooLarge
    )
}

/// A message as a sentence: first letter upper case, a full stop at the end of one line.
pub(super) fn sentence(message: &str) -> String {
    if message.is_empty() {
        return String::new();
    }
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    // A message of several lines (a filter with its caret) ends where it ends.
    if !out.contains('\n') && !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The page: the upload form (for sessions that may write) and what was done with a file.
fn render(
    console: &Console,
    status: StatusCode,
    file_error: Option<&str>,
    result: Markup,
) -> HttpResponse {
    // After a file: what was done with it first, the form for the next one below.
    let after_file = !result.0.is_empty();
    let body = html! {
        h1 { "Import" }
        @if after_file {
            section aria-labelledby="result" { (result) }
        }
        section aria-labelledby="upload-heading" {
            h2 id="upload-heading" {
                @if after_file { "Check another file" } @else { "Check a file" }
            }
            p {
                "A CSV file of users, one a row, with a header naming its columns: "
                @for (i, c) in COLUMNS.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (c) }
                }
                " (only " code { "email" } " is required). Products and groups are lists "
                "separated by " code { ";" } " or " code { "|" } ". UTF-8 or Latin-1 text, up to "
                (MAX_UPLOAD / 1024 / 1024) " MiB. Nothing is written until you apply the import "
                "after its dry run."
            }
            @if console.can_write() {
                (upload_form(console, file_error))
            } @else {
                p class="muted" {
                    "You are signed in as an auditor: imports are made by the account's admins."
                }
            }
        }
    };
    html_response(status, layout::page(console, Nav::Import, "Import", body))
}

fn upload_form(console: &Console, error: Option<&str>) -> Markup {
    html! {
        form method="post" action="/console/import" enctype="multipart/form-data" class="upload" {
            // Before the file: the server checks it before reading the file.
            (layout::csrf(console))
            div class="field" {
                label for="field-file" { "CSV file" }
                input id="field-file" name="file" type="file" accept=".csv,.txt,text/csv,text/plain"
                    required
                    aria-invalid=[error.map(|_| "true")]
                    aria-describedby=[error.map(|_| "error-file")];
                @if let Some(e) = error {
                    p class="field-error" id="error-file" { (e) }
                }
            }
            button type="submit" { "Check (dry run)" }
        }
    }
}

fn totals(r: &ImportReport) -> Markup {
    html! {
        dl class="counts import-totals" {
            dt { "Rows" } dd { (r.rows) }
            dt { "Created" } dd { (r.created) }
            dt { "Updated" } dd { (r.updated) }
            dt { "Unchanged" } dd { (r.unchanged) }
            dt { "Failed" } dd { (r.failed) }
            dt { "Seats assigned" } dd { (r.seats_assigned) }
            dt { "Seats waitlisted" } dd { (r.seats_waitlisted) }
        }
    }
}

fn report_table(r: &ImportReport) -> Markup {
    let caption = if r.dry_run {
        "Row by row: what the import would do"
    } else {
        "Row by row: what the import did"
    };
    let change_col = if r.dry_run {
        "What would change"
    } else {
        "What changed"
    };
    html! {
        div class="table-wrap" role="region" aria-labelledby="import-report-caption" tabindex="0" {
            table id="import-report" {
                caption id="import-report-caption" { (caption) }
                thead {
                    tr {
                        th scope="col" class="num" { "Line" }
                        th scope="col" { "User" }
                        th scope="col" { "Outcome" }
                        th scope="col" { (change_col) }
                        th scope="col" { "Errors" }
                    }
                }
                tbody {
                    @for row in r.report.iter().take(SHOWN_ROWS) {
                        (report_row(row, r.dry_run))
                    }
                }
            }
        }
        @if r.report.len() > SHOWN_ROWS {
            p class="muted" {
                "The table lists the first " (SHOWN_ROWS) " rows of " (r.report.len())
                "; the totals count them all."
            }
        }
    }
}

fn report_row(row: &RowReport, dry_run: bool) -> Markup {
    let what = match (row.result, dry_run) {
        ("created", true) => "a new user",
        ("created", false) => "new user",
        ("updated", true) => "the user would be updated",
        ("updated", false) => "user updated",
        ("unchanged", _) => "nothing",
        _ => "nothing (the row is refused)",
    };
    html! {
        tr {
            th scope="row" class="num" {
                @if row.line == 0 { "—" } @else { (row.line) }
            }
            td { (row.user_name) }
            td { (outcome(row.result)) }
            td {
                (what)
                @if !row.seats.is_empty() {
                    // A new user's seats are what it gets; another's, all it holds after.
                    br;
                    span class="muted" { "Seats after:" }
                    ul class="seats" {
                        @for s in &row.seats {
                            li { (seat_text(s)) }
                        }
                    }
                }
            }
            td {
                @if let Some(reason) = &row.reason {
                    (reason)
                }
                @for c in &row.conflicts {
                    p class="conflict" { "conflict: " (c) }
                }
            }
        }
    }
}

/// A seat of a row's report, `meeting: assigned`.
fn seat_text(s: &serde_json::Value) -> String {
    let field = |k: &str| {
        s.get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    format!("{}: {}", field("product"), field("state"))
}

/// A row's outcome as a word and a mark, never colour alone.
fn outcome(result: &str) -> Markup {
    let mark = match result {
        "created" => "+",
        "updated" => "~",
        "unchanged" => "=",
        _ => "✗",
    };
    html! {
        span class={ "outcome outcome-" (result) } {
            span aria-hidden="true" { (mark) " " } (result)
        }
    }
}

/// Why a multipart request was not taken.
enum Refused {
    /// The request as a whole (no or a wrong session token, not a form): a page of its own.
    Request(ConsoleError),
    /// The file: said next to the file field.
    File(StatusCode, String),
}

/// A file as it arrived.
struct Upload {
    name: String,
    bytes: Vec<u8>,
}

fn unreadable() -> Refused {
    Refused::Request(ConsoleError::page(
        StatusCode::BAD_REQUEST,
        "Bad form",
        "The form could not be read: reload the page and try again.",
    ))
}

fn too_large() -> Refused {
    Refused::File(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "The file is larger than {} MiB: split it into smaller files and import each.",
            MAX_UPLOAD / 1024 / 1024
        ),
    )
}

fn stalled(stall: Duration) -> Refused {
    Refused::Request(ConsoleError::page(
        StatusCode::REQUEST_TIMEOUT,
        "Upload stopped",
        &format!(
            "No part of the file arrived for {} s: try again.",
            stall.as_secs()
        ),
    ))
}

/// Reads the form: its `csrf` part first (checked against the session), then the file.
async fn read_upload(
    req: &HttpRequest,
    console: &Console,
    payload: web::Payload,
) -> Result<Upload, Refused> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD + ENVELOPE) {
        return Err(too_large());
    }
    let stall = BodyTimeout::of(req);
    let mut parts = Multipart::new(req.headers(), payload);
    let mut csrf_ok = false;
    let mut file: Option<Upload> = None;
    let mut read = 0usize;
    loop {
        let next = actix_web::rt::time::timeout(stall, parts.next())
            .await
            .map_err(|_| stalled(stall))?;
        let Some(part) = next else { break };
        let mut part = part.map_err(|_| unreadable())?;
        let name = part.name().unwrap_or_default().to_string();
        if !csrf_ok {
            // Nothing but the token is read before the token is known to be right.
            let token = match name.as_str() {
                "csrf" => read_part(&mut part, MAX_FIELD, stall).await?,
                _ => None,
            };
            let token = token.and_then(|t| String::from_utf8(t).ok());
            if !console.session.csrf_matches(token.as_deref()) {
                return Err(Refused::Request(ConsoleError::csrf()));
            }
            csrf_ok = true;
            continue;
        }
        let limit = match name.as_str() {
            "file" if file.is_none() => MAX_UPLOAD,
            _ => MAX_FIELD,
        };
        let filename = part
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(file_name);
        let bytes = read_part(&mut part, limit, stall).await?.ok_or_else(|| {
            if limit == MAX_UPLOAD {
                too_large()
            } else {
                unreadable()
            }
        })?;
        read += bytes.len();
        if read > MAX_UPLOAD + ENVELOPE {
            return Err(too_large());
        }
        if name == "file" && file.is_none() {
            file = Some(Upload {
                name: filename.unwrap_or_default(),
                bytes,
            });
        }
    }
    if !csrf_ok {
        return Err(Refused::Request(ConsoleError::csrf()));
    }
    match file {
        Some(f) if f.bytes.is_empty() && f.name.is_empty() => Err(choose_a_file()),
        Some(f) if f.bytes.is_empty() => Err(Refused::File(
            StatusCode::BAD_REQUEST,
            format!("The file {} is empty.", f.name),
        )),
        // A client that sends no file name still gets one on the page.
        Some(f) if f.name.is_empty() => Ok(Upload {
            name: "upload.csv".into(),
            bytes: f.bytes,
        }),
        Some(f) => Ok(f),
        None => Err(choose_a_file()),
    }
}

fn choose_a_file() -> Refused {
    Refused::File(
        StatusCode::BAD_REQUEST,
        "Choose a CSV file to check.".into(),
    )
}

/// A file name as the browser sent it, without any folders (some send the whole path), cut
/// to a length a page shows.
fn file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw).trim();
    base.chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect()
}

/// One part's bytes, or `None` when it holds more than `limit`.
async fn read_part(
    part: &mut Field,
    limit: usize,
    stall: Duration,
) -> Result<Option<Vec<u8>>, Refused> {
    let mut out = Vec::new();
    loop {
        let next = actix_web::rt::time::timeout(stall, part.next())
            .await
            .map_err(|_| stalled(stall))?;
        let Some(chunk) = next else {
            return Ok(Some(out));
        };
        let chunk = chunk.map_err(|_| unreadable())?;
        if out.len() + chunk.len() > limit {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_folders() {
        assert_eq!(file_name("C:\\Users\\me\\people.csv"), "people.csv");
        assert_eq!(file_name("dir/people.csv"), "people.csv");
        assert_eq!(file_name("people\n.csv"), "people.csv");
        assert_eq!(file_name(&"a".repeat(500)).len(), MAX_NAME);
    }

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(sentence("the file is UTF-16"), "The file is UTF-16.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), "");
        assert_eq!(sentence("error: x\n  a b\n    ^"), "Error: x\n  a b\n    ^");
    }
}
