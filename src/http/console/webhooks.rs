//! Webhooks: the account's webhook endpoints (url, subscribed events, enabled, state with a
//! "failing" badge, how far delivery has got, the attempts and error of the event it is
//! stuck on), a form to make one whose answer shows its signing secret once, and disable,
//! enable (resume) and delete, each behind a confirmation page whose form posts to the same
//! URL. Per endpoint a page of its recent deliveries (all, or the failed ones) with a retry
//! of a failed one, and a replay from a sequence.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::engine::events::webhooks::{
    DeliveryView, NewWebhook, Replay, Retried, WebhookCreated, WebhookPatch, WebhookView,
};
use crate::engine::events::EVENT_TYPES;
use crate::engine::input::validated;
use crate::engine::EngineError;

use super::import::sentence;
use super::users::{query_fields, segment, when};
use super::{html_response, layout, Console, ConsoleError, Nav};

/// The most characters of a receiver's answer shown in the deliveries table (the engine
/// keeps a KiB).
const RESPONSE_SHOWN: usize = 100;

/// The event types grouped by what they are about, for the form's checkboxes.
const EVENT_GROUPS: &[(&str, &str)] = &[
    ("user", "Users"),
    ("group", "Groups"),
    ("seat", "Seats"),
    ("license", "Licenses"),
    ("conflict", "Conflicts"),
];

/// The outcome filter of the deliveries table: (value, label).
const OUTCOMES: &[(&str, &str)] = &[("all", "All attempts"), ("failed", "Failed only")];

fn base(id: &str) -> String {
    format!("/console/webhooks/{}", segment(id))
}

fn failing(w: &WebhookView) -> bool {
    w.state == "failing"
}

/// What a confirmation page asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Disable,
    Enable,
    Delete,
}

impl Action {
    fn parse(word: &str) -> Result<Action, ConsoleError> {
        match word {
            "disable" => Ok(Action::Disable),
            "enable" => Ok(Action::Enable),
            "delete" => Ok(Action::Delete),
            _ => Err(ConsoleError::page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no such console page.",
            )),
        }
    }

    fn word(self) -> &'static str {
        match self {
            Action::Disable => "disable",
            Action::Enable => "enable",
            Action::Delete => "delete",
        }
    }
}

/// The actions an endpoint offers, as (action, link text): enabling a failing endpoint
/// resumes its deliveries.
fn actions(w: &WebhookView) -> Vec<(Action, &'static str)> {
    let mut out = vec![];
    if !w.enabled {
        out.push((Action::Enable, "Enable"));
    } else {
        if failing(w) {
            out.push((Action::Enable, "Resume"));
        }
        out.push((Action::Disable, "Disable"));
    }
    out.push((Action::Delete, "Delete"));
    out
}

fn events_words(events: &[String]) -> String {
    if events.iter().any(|e| e == "*") {
        "all events".into()
    } else {
        events.join(", ")
    }
}

fn enabled_badge(w: &WebhookView) -> Markup {
    html! {
        @if w.enabled {
            span class="status status-success" { span aria-hidden="true" { "✓ " } "enabled" }
        } @else {
            span class="status status-revoked" { span aria-hidden="true" { "⏸ " } "disabled" }
        }
    }
}

/// The endpoint's state as words and a mark: `failing` stands out; an active endpoint that
/// is retrying an event says so.
fn state_badge(w: &WebhookView, since: bool) -> Markup {
    html! {
        @if failing(w) {
            span class="status status-failure" { span aria-hidden="true" { "✗ " } "failing" }
            @if let Some(at) = w.failing_since.as_deref().filter(|_| since) {
                br; span class="muted" { "since " (when(at)) }
            }
        } @else if w.attempts > 0 {
            span class="status status-warning" { span aria-hidden="true" { "! " } (w.state) ", retrying" }
        } @else {
            span class="status status-success" { span aria-hidden="true" { "✓ " } (w.state) }
        }
    }
}

/// A stored time like [`when`], written so that it does not wrap in a narrow column
/// (no-break space and hyphens).
fn stamp(at: &str) -> Markup {
    let shown = chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y\u{2011}%m\u{2011}%d\u{a0}%H:%M\u{a0}UTC")
                .to_string()
        })
        .unwrap_or_else(|_| at.to_string());
    html! { time datetime=(at) { (shown) } }
}

fn maybe_when(at: Option<&str>) -> Markup {
    html! {
        @match at {
            Some(at) => (stamp(at)),
            None => span class="muted" { "none" },
        }
    }
}

fn last_error(w: &WebhookView) -> Markup {
    html! {
        @match &w.last_error {
            Some(e) => (e),
            None => span class="muted" { "none" },
        }
    }
}

/// A notice for the overview: each failing endpoint, linked to its page. Empty when none is.
pub(super) async fn failing_notice(console: &Console) -> Result<Markup, ConsoleError> {
    let list = console
        .engine
        .webhooks(&console.session.principal)
        .await?
        .webhooks;
    Ok(html! {
        @for w in list.iter().filter(|w| failing(w)) {
            p class="error" role="alert" {
                "A webhook endpoint is failing: deliveries to it have stopped. "
                a href=(base(&w.id)) { "See " (w.url) }
            }
        }
    })
}

/// What the new-endpoint form held and what was wrong with it.
struct NewForm {
    url: Option<String>,
    events: Vec<String>,
    url_error: Option<String>,
    events_error: Option<String>,
}

impl Default for NewForm {
    fn default() -> Self {
        NewForm {
            url: None,
            events: vec!["*".into()],
            url_error: None,
            events_error: None,
        }
    }
}

/// `GET /console/webhooks`.
pub async fn list(console: Console) -> Result<HttpResponse, ConsoleError> {
    list_page(&console, StatusCode::OK, None, &NewForm::default()).await
}

async fn list_page(
    console: &Console,
    status: StatusCode,
    notice: Option<&str>,
    new: &NewForm,
) -> Result<HttpResponse, ConsoleError> {
    let list = console
        .engine
        .webhooks(&console.session.principal)
        .await?
        .webhooks;
    let write = console.can_write();
    let body = html! {
        h1 { "Webhooks" }
        @if let Some(n) = notice { (layout::notice(n)) }
        p {
            "Roster POSTs every event of the account (a seat assigned, a user suspended, ...) to each endpoint, "
            "in order, signed with the endpoint's secret. A failed delivery is retried for 24 hours; "
            "then the endpoint is " strong { "failing" } " and waits for an admin."
        }
        @if list.is_empty() {
            p { "No webhook endpoints yet." }
        } @else {
            (table(&list, write))
        }
        @if write {
            (new_form(console, new))
        } @else {
            p class="muted" { "This session is read only (auditor): endpoints cannot be created, changed or deleted here." }
        }
    };
    Ok(html_response(
        status,
        layout::page(console, Nav::Webhooks, "Webhooks", body),
    ))
}

fn table(list: &[WebhookView], write: bool) -> Markup {
    html! {
        h2 id="endpoints-heading" { "Endpoints" }
        div class="table-wrap" role="region" aria-label="Webhook endpoints table" tabindex="0" {
            table id="webhooks" aria-labelledby="endpoints-heading" {
                thead {
                    tr {
                        th scope="col" { "Endpoint" }
                        th scope="col" { "Events" }
                        th scope="col" { "Enabled" }
                        th scope="col" { "State" }
                        th scope="col" class="num" { "Delivered through" }
                        th scope="col" class="num" { "Attempts" }
                        th scope="col" { "Next attempt" }
                        th scope="col" { "Last error" }
                        @if write { th scope="col" { "Actions" } }
                    }
                }
                tbody {
                    @for w in list {
                        tr {
                            th scope="row" { a href=(base(&w.id)) { (w.url) } }
                            td { (events_words(&w.events)) }
                            td { (enabled_badge(w)) }
                            td { (state_badge(w, false)) }
                            td class="num" { (w.delivered_through) }
                            td class="num" { (w.attempts) }
                            td { (maybe_when(w.next_attempt_at.as_deref())) }
                            td { (last_error(w)) }
                            @if write {
                                td class="actions" {
                                    @for (action, label) in actions(w) {
                                        div {
                                            a href={ (base(&w.id)) "/" (action.word()) } {
                                                (label) span class="visually-hidden" { " " (w.url) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn new_form(console: &Console, new: &NewForm) -> Markup {
    let all = new.events.iter().any(|e| e == "*");
    let error = new.events_error.as_deref();
    let invalid = error.map(|_| "true");
    let described = if error.is_some() {
        "hint-events error-events"
    } else {
        "hint-events"
    };
    html! {
        section class="card new-connection" aria-labelledby="new-webhook" {
            h2 id="new-webhook" { "New endpoint" }
            form method="post" action="/console/webhooks" {
                (layout::csrf(console))
                (layout::field("url", "URL", "url", new.url.as_deref(), new.url_error.as_deref(),
                    Some("Where Roster sends the events: an https:// address of the receiving product.")))
                fieldset id="field-events" class="events" aria-describedby=(described) {
                    legend { "Events" }
                    p class="hint" id="hint-events" {
                        "All events (also types added later), or only the types ticked below."
                    }
                    div class="field field-check" {
                        input id="event-all" name="events" type="checkbox" value="*" checked[all]
                            aria-invalid=[invalid];
                        label for="event-all" { "All events" }
                    }
                    @for (prefix, label) in EVENT_GROUPS {
                        fieldset class="event-group" {
                            legend { (label) }
                            ul class="legend" {
                                @for t in EVENT_TYPES.iter().filter(|t| t.split('.').next() == Some(*prefix)) {
                                    @let id = format!("event-{}", t.replace('.', "-"));
                                    li {
                                        input id=(id) name="events" type="checkbox" value=(t)
                                            checked[!all && new.events.iter().any(|e| e == t)]
                                            aria-invalid=[invalid];
                                        " "
                                        label for=(id) { code { (t) } }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(e) = error {
                        p class="field-error" id="error-events" { (e) }
                    }
                }
                button type="submit" { "Create endpoint" }
            }
        }
    }
}

/// Every value of a repeated field (checkboxes of one name) in a form body.
fn all_values(body: &[u8], name: &str) -> Vec<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// `POST /console/webhooks`: fields `url` and `events` (repeated: event types, or `*` for
/// all). The answer is the only place the signing secret is ever shown.
pub async fn create(
    req: HttpRequest,
    console: Console,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = console.form(&body)?;
    let events = all_values(&body, "events");
    let mut new = NewForm {
        url: form.get("url").map(str::to_string),
        events: events.clone(),
        url_error: None,
        events_error: None,
    };
    if new.url.is_none() {
        new.url_error =
            Some("Enter the endpoint's URL, e.g. https://example.com/roster-events.".into());
    }
    if events.is_empty() {
        new.events_error = Some("Choose all events or at least one event type.".into());
    } else if events.len() > 1 && events.iter().any(|e| e == "*") {
        new.events_error =
            Some("Choose either all events or some event types, not both: untick one.".into());
    }
    if new.url_error.is_some() || new.events_error.is_some() {
        return list_page(&console, StatusCode::BAD_REQUEST, None, &new).await;
    }
    let input = NewWebhook {
        url: new.url.clone().unwrap_or_default(),
        events,
        enabled: None,
    };
    let ctx = console.ctx(&req);
    let created = match validated(input) {
        Ok(input) => {
            console
                .engine
                .add_webhook(&console.session.principal, &input, &ctx)
                .await
        }
        Err(e) => Err(e),
    };
    let created = match created {
        Ok(c) => c,
        Err(EngineError::Refused {
            code,
            message,
            field: Some(field),
        }) if field == "url" || field == "events" => {
            if field == "url" {
                new.url_error = Some(sentence(&message));
            } else {
                new.events_error = Some(sentence(&message));
            }
            let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return list_page(&console, status, None, &new).await;
        }
        Err(e) => return Err(e.into()),
    };
    Ok(html_response(
        StatusCode::OK,
        layout::page(
            &console,
            Nav::Webhooks,
            "Webhook endpoint created",
            created_body(&created),
        ),
    ))
}

fn created_body(created: &WebhookCreated) -> Markup {
    let w = &created.webhook;
    html! {
        h1 { "Webhook endpoint created" }
        (layout::notice(&format!(
            "The endpoint is ready: it receives {} from now on.",
            if w.events.iter().any(|e| e == "*") { "every event".to_string() } else { events_words(&w.events) }
        )))
        (properties(w))
        p {
            strong { "Its signing secret is shown once" }
            ": copy it into the receiving product now. A lost secret is replaced by deleting the endpoint and creating it again."
        }
        p { label for="secret" { "Signing secret" } }
        output id="secret" { (created.secret) }
        h2 { "Checking a delivery's signature" }
        p {
            "Each delivery is a POST of the event as JSON with the headers "
            code { "webhook-id" } ", " code { "webhook-timestamp" } " (Unix seconds) and "
            code { "webhook-signature" } ", following the Standard Webhooks conventions. To check one:"
        }
        ol {
            li { "Take the secret's part after " code { "whsec_" } " and decode it from base64: that is the key." }
            li {
                "Compute the HMAC-SHA256 with that key of " code { "webhook-id" } ", a full stop, "
                code { "webhook-timestamp" } ", a full stop and the raw body, and encode it in base64."
            }
            li {
                "Accept the delivery only if " code { "v1," } " followed by that value is one of the space-separated "
                "signatures in " code { "webhook-signature" } " (compare in constant time), and the timestamp is within five minutes of now."
            }
        }
        p {
            "Deduplicate on " code { "webhook-id" } ": it is the event's id, the same on every retry."
        }
        p {
            a href=(base(&w.id)) { "See the endpoint's deliveries" }
            " · "
            a href="/console/webhooks" { "Back to webhooks" }
        }
    }
}

/// The endpoint's properties as a table of key and value.
fn properties(w: &WebhookView) -> Markup {
    html! {
        table class="kv changes" id="webhook" {
            tbody {
                tr { th scope="row" { "URL" } td class="value" { code { (w.url) } } }
                tr { th scope="row" { "Id" } td class="value" { code { (w.id) } } }
                tr { th scope="row" { "Events" } td class="value" { (events_words(&w.events)) } }
                tr { th scope="row" { "Enabled" } td { (enabled_badge(w)) } }
                tr { th scope="row" { "State" } td { (state_badge(w, true)) } }
                tr { th scope="row" { "Delivered through" } td { "sequence " (w.delivered_through) } }
                tr { th scope="row" { "Attempts" } td { (w.attempts) } }
                tr { th scope="row" { "Next attempt" } td { (maybe_when(w.next_attempt_at.as_deref())) } }
                tr { th scope="row" { "Last error" } td class="value" { (last_error(w)) } }
                tr { th scope="row" { "Created" } td { (when(&w.created)) } }
            }
        }
    }
}

/// What the replay form held and what was wrong with it.
#[derive(Default)]
struct ReplayForm {
    from: Option<String>,
    error: Option<String>,
}

/// `GET /console/webhooks/{id}?outcome=all|failed`: the endpoint and its recent deliveries.
pub async fn endpoint(
    req: HttpRequest,
    console: Console,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let q = query_fields(&req)?;
    let outcome = q.get("outcome").map(String::as_str);
    endpoint_page(
        &console,
        &id,
        outcome,
        StatusCode::OK,
        None,
        &ReplayForm::default(),
    )
    .await
}

async fn endpoint_page(
    console: &Console,
    id: &str,
    outcome: Option<&str>,
    status: StatusCode,
    notice: Option<&str>,
    replay: &ReplayForm,
) -> Result<HttpResponse, ConsoleError> {
    let ap = &console.session.principal;
    let w = console.engine.webhook(ap, id).await?;
    let outcome = match outcome {
        Some("failed") => "failed",
        _ => "all",
    };
    let deliveries = console
        .engine
        .deliveries(ap, id, Some(outcome), None)
        .await?
        .deliveries;
    let write = console.can_write();
    let body = html! {
        h1 { "Webhook endpoint" }
        @if let Some(n) = notice { (layout::notice(n)) }
        @if failing(&w) {
            (layout::alert("This endpoint is failing: its oldest undelivered event has failed for 24 hours and deliveries have stopped. Retry that delivery or resume the endpoint once the receiver works again."))
        }
        (properties(&w))
        @if write {
            p class="log-actions" {
                @for (action, label) in actions(&w) {
                    a class="button secondary" href={ (base(&w.id)) "/" (action.word()) } {
                        (label) span class="visually-hidden" { " this endpoint" }
                    }
                }
            }
        }
        h2 id="deliveries-heading" { "Deliveries" }
        form method="get" action=(base(&w.id)) class="filters" aria-label="Filter deliveries" {
            (layout::select("outcome", "Outcome", OUTCOMES, Some(outcome), None))
            div class="filter-actions" {
                button type="submit" { "Show" }
            }
        }
        (deliveries_table(console, &w, &deliveries, outcome == "failed", write))
        @if write {
            (replay_form(console, &w, replay))
        }
        p { a href="/console/webhooks" { "Back to webhooks" } }
    };
    Ok(html_response(
        status,
        layout::page(console, Nav::Webhooks, "Webhook endpoint", body),
    ))
}

fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(RESPONSE_SHOWN).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

fn deliveries_table(
    console: &Console,
    w: &WebhookView,
    list: &[DeliveryView],
    failed_only: bool,
    write: bool,
) -> Markup {
    if list.is_empty() {
        return html! {
            p {
                @if failed_only { "No failed deliveries." }
                @else { "No deliveries yet: the endpoint receives the events that happen after it was created." }
            }
        };
    }
    // A retry is offered on the newest attempt of each event, when that attempt failed.
    let mut seen: Vec<&str> = vec![];
    let retry: Vec<bool> = list
        .iter()
        .map(|d| {
            let newest = !seen.contains(&d.event_id.as_str());
            seen.push(&d.event_id);
            newest && d.outcome != "succeeded"
        })
        .collect();
    html! {
        p class="hint" {
            @if list.len() == 1 {
                "The most recent " @if failed_only { "failed " } "delivery attempt."
            } @else {
                "The " (list.len()) " most recent " @if failed_only { "failed " } "delivery attempts, newest first."
            }
        }
        div class="table-wrap" role="region" aria-labelledby="deliveries-heading" tabindex="0" {
            table id="deliveries" aria-labelledby="deliveries-heading" {
                thead {
                    tr {
                        th scope="col" { "When" }
                        th scope="col" class="num" { "Sequence" }
                        th scope="col" { "Type" }
                        th scope="col" class="num" { "Attempt" }
                        th scope="col" { "Outcome" }
                        th scope="col" class="num" { "HTTP" }
                        th scope="col" class="num" { "Latency" }
                        th scope="col" { "Response" }
                        th scope="col" { "Error" }
                        @if write { th scope="col" { "Actions" } }
                    }
                }
                tbody {
                    @for (d, retry) in list.iter().zip(retry) {
                        tr {
                            th scope="row" { (stamp(&d.at)) }
                            td class="num" { (d.sequence) }
                            td { code { (d.kind) } }
                            td class="num" { (d.attempt) }
                            td {
                                @if d.outcome == "succeeded" {
                                    span class="status status-success" { span aria-hidden="true" { "✓ " } "succeeded" }
                                } @else {
                                    span class="status status-failure" { span aria-hidden="true" { "✗ " } (d.outcome) }
                                }
                                @if d.manual { br; span class="muted" { "retried by an admin" } }
                            }
                            td class="num" {
                                @match d.status {
                                    Some(s) => (s),
                                    None => span class="muted" { "none" },
                                }
                            }
                            td class="num" { (d.latency_ms) " ms" }
                            td class="value" {
                                @match d.response.as_deref().filter(|r| !r.trim().is_empty()) {
                                    Some(r) => code { (excerpt(r)) },
                                    None => span class="muted" { "none" },
                                }
                            }
                            td class="value" {
                                @match &d.error {
                                    Some(e) => (e),
                                    None => span class="muted" { "none" },
                                }
                            }
                            @if write {
                                td class="actions" {
                                    @if retry {
                                        form method="post" class="inline"
                                            action={ (base(&w.id)) "/deliveries/" (segment(&d.id)) "/retry" } {
                                            (layout::csrf(console))
                                            button type="submit" {
                                                "Retry" span class="visually-hidden" { " sequence " (d.sequence) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn replay_form(console: &Console, w: &WebhookView, replay: &ReplayForm) -> Markup {
    html! {
        section class="card new-connection" aria-labelledby="replay" {
            h2 id="replay" { "Replay" }
            p {
                "Sends the events from a sequence on again, in order (those still kept: "
                code { "events_retention_days" } "). The endpoint has been given everything through sequence "
                (w.delivered_through) "."
            }
            form method="post" action={ (base(&w.id)) "/replay" } class="licenses" {
                (layout::csrf(console))
                (layout::field("from", "From sequence", "number", replay.from.as_deref(), replay.error.as_deref(), None))
                button type="submit" { "Replay from sequence" }
            }
        }
    }
}

/// `POST /console/webhooks/{id}/deliveries/{delivery}/retry`.
pub async fn retry(
    console: Console,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    console.form(&body)?;
    let (id, delivery) = path.into_inner();
    let done = console
        .engine
        .retry_delivery(&console.session.principal, &id, &delivery)
        .await?;
    let notice = retried_words(&done);
    endpoint_page(
        &console,
        &id,
        None,
        StatusCode::OK,
        Some(&notice),
        &ReplayForm::default(),
    )
    .await
}

fn retried_words(done: &Retried) -> String {
    match &done.delivery {
        None => "The endpoint is due now: Roster sends the event it waits on again in a moment, then the events after it.".into(),
        Some(d) if d.outcome == "succeeded" => format!(
            "Sent sequence {} again: the receiver answered {}.",
            d.sequence,
            d.status.map_or_else(|| "without a status".into(), |s| s.to_string())
        ),
        Some(d) => format!(
            "Sent sequence {} again: it failed ({}).",
            d.sequence,
            d.error.clone().unwrap_or_else(|| "no answer".into())
        ),
    }
}

/// `POST /console/webhooks/{id}/replay`: field `from`, the first sequence sent again.
pub async fn replay(
    req: HttpRequest,
    console: Console,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = console.form(&body)?;
    let id = id.into_inner();
    let from_text = form.get("from").map(str::to_string);
    let bad = |message: String| ReplayForm {
        from: from_text.clone(),
        error: Some(message),
    };
    let from = match from_text.as_deref().map(str::parse::<i64>) {
        Some(Ok(n)) if n >= 1 => n,
        _ => {
            let replay = bad("Enter a sequence number, 1 or more.".into());
            return endpoint_page(&console, &id, None, StatusCode::BAD_REQUEST, None, &replay)
                .await;
        }
    };
    let ctx = console.ctx(&req);
    let done = match validated(Replay { after: from - 1 }) {
        Ok(input) => {
            console
                .engine
                .replay_webhook(&console.session.principal, &id, &input, &ctx)
                .await
        }
        Err(e) => Err(e),
    };
    match done {
        Ok(r) => {
            let notice = format!(
                "Replaying: the events from sequence {} on are sent again, in order.",
                r.from_sequence
            );
            endpoint_page(
                &console,
                &id,
                None,
                StatusCode::OK,
                Some(&notice),
                &ReplayForm::default(),
            )
            .await
        }
        Err(EngineError::Refused {
            code,
            message,
            field: Some(field),
        }) if field == "after" => {
            // The engine speaks of `after` (the last sequence not sent again); the form asks
            // for the first one that is.
            let last = message
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse::<i64>().ok());
            let message = match last {
                Some(last) => format!(
                    "From sequence is at most {}: the account's last event is sequence {last}.",
                    last + 1
                ),
                None => sentence(&message),
            };
            let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            endpoint_page(&console, &id, None, status, None, &bad(message)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /console/webhooks/{id}/{action}`: what the action will do, and its form.
pub async fn confirm(
    console: Console,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (id, action) = path.into_inner();
    let action = Action::parse(&action)?;
    let w = console
        .engine
        .webhook(&console.session.principal, &id)
        .await?;
    let status = if console.can_write() {
        StatusCode::OK
    } else {
        StatusCode::FORBIDDEN
    };
    let title = match action {
        Action::Disable => "Disable the webhook endpoint",
        Action::Enable if w.enabled => "Resume the webhook endpoint",
        Action::Enable => "Enable the webhook endpoint",
        Action::Delete => "Delete the webhook endpoint",
    };
    let body = html! {
        h1 { (title) }
        (properties(&w))
        @match action {
            Action::Disable => p {
                "A disabled endpoint receives nothing; the events keep coming and wait for it. "
                "Enabling it again sends them, in order, from where it stopped."
            },
            Action::Enable => p {
                "The endpoint becomes active and due now: Roster sends the events it has not received, in order, "
                "starting with sequence " (w.delivered_through + 1) "."
            },
            Action::Delete => p {
                "Deleting removes the endpoint and its delivery records; nothing is sent to it any more. "
                "This cannot be undone: a new endpoint gets a new secret and receives only what happens after it is made."
            },
        }
        @if console.can_write() {
            form method="post" action={ (base(&w.id)) "/" (action.word()) } class="confirm" {
                (layout::csrf(&console))
                @match action {
                    Action::Disable => button type="submit" { "Disable endpoint" },
                    Action::Enable if w.enabled => button type="submit" { "Resume endpoint" },
                    Action::Enable => button type="submit" { "Enable endpoint" },
                    Action::Delete => button type="submit" class="danger" { "Delete endpoint" },
                }
                " "
                a class="button secondary" href=(base(&w.id)) { "Cancel" }
            }
        } @else {
            (layout::alert("This session is read only (auditor): it cannot change webhook endpoints."))
            p { a href=(base(&w.id)) { "Back to the endpoint" } }
        }
    };
    Ok(html_response(
        status,
        layout::page(&console, Nav::Webhooks, title, body),
    ))
}

/// `POST /console/webhooks/{id}/{action}`: does it, then shows the endpoint (or, after a
/// delete, the list).
pub async fn act(
    req: HttpRequest,
    console: Console,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let (id, action) = path.into_inner();
    let action = Action::parse(&action)?;
    console.form(&body)?;
    let ctx = console.ctx(&req);
    let ap = &console.session.principal;
    match action {
        Action::Delete => {
            let old = console.engine.webhook(ap, &id).await?;
            console.engine.delete_webhook(ap, &id, &ctx).await?;
            let notice = format!(
                "Deleted the webhook endpoint {}: nothing is sent to it any more.",
                old.url
            );
            list_page(&console, StatusCode::OK, Some(&notice), &NewForm::default()).await
        }
        Action::Disable | Action::Enable => {
            let enabled = action == Action::Enable;
            let patch = WebhookPatch {
                url: None,
                events: None,
                enabled: Some(enabled),
            };
            let w = console.engine.patch_webhook(ap, &id, &patch, &ctx).await?;
            let notice = if enabled {
                format!(
                    "The endpoint is active: Roster sends it the events from sequence {} on.",
                    w.delivered_through + 1
                )
            } else {
                "The endpoint is disabled: events wait for it until it is enabled again.".into()
            };
            endpoint_page(
                &console,
                &id,
                None,
                StatusCode::OK,
                Some(&notice),
                &ReplayForm::default(),
            )
            .await
        }
    }
}
