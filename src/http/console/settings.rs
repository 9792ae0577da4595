//! The settings page: the account's settings as a form, and its mapping rules (a table, a
//! form to add one, a button to delete each). Every change shows the seats it moved; a value
//! the engine refuses is shown next to its field and changes nothing.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde_json::{Map, Value};

use crate::engine::input::validated;
use crate::engine::rules::{NewRule, RuleView};
use crate::engine::seats::SeatChange;
use crate::engine::settings::{RecordingAccess, SeatPolicy, Settings};
use crate::engine::EngineError;

use super::import::sentence;
use super::{html_response, layout, Console, ConsoleError, Form, Nav};

/// Seat changes listed one by one under a notice; the summary counts them all.
const SHOWN_CHANGES: usize = 200;

const SEAT_POLICIES: &[(&str, &str)] = &[
    ("waitlist", "Waitlist: queue the seat"),
    ("reject", "Reject the request"),
    // With its percentage, `overage_percent`, a field of the same form.
    ("overage", "Overage: assign extra seats, then queue"),
];

const RECORDING_ACCESS: &[(&str, &str)] = &[
    ("all_agents", "Every agent sees every recording"),
    ("own_only", "Each agent sees only their own recordings"),
];

const SETTING_FIELDS: [&str; 5] = [
    "seat_policy",
    "overage_percent",
    "default_products",
    "recording_access",
    "sync_log_retention_days",
];

const RULE_FIELDS: [&str; 3] = ["product", "group", "filter"];

/// The settings form's values, as shown (the saved ones, or what was sent).
struct SettingsValues {
    seat_policy: String,
    overage_percent: String,
    default_products: String,
    recording_access: String,
    sync_log_retention_days: String,
}

impl SettingsValues {
    fn of(s: &Settings) -> SettingsValues {
        SettingsValues {
            seat_policy: match s.seat_policy {
                SeatPolicy::Waitlist => "waitlist",
                SeatPolicy::Reject => "reject",
                SeatPolicy::Overage => "overage",
            }
            .into(),
            overage_percent: s.overage_percent.map(|p| p.to_string()).unwrap_or_default(),
            default_products: s.default_products.join(", "),
            recording_access: match s.recording_access {
                RecordingAccess::AllAgents => "all_agents",
                RecordingAccess::OwnOnly => "own_only",
            }
            .into(),
            sync_log_retention_days: s.sync_log_retention_days.to_string(),
        }
    }

    fn sent(form: &Form) -> SettingsValues {
        let get = |name: &str| form.get(name).unwrap_or_default().to_string();
        SettingsValues {
            seat_policy: get("seat_policy"),
            overage_percent: get("overage_percent"),
            default_products: get("default_products"),
            recording_access: get("recording_access"),
            sync_log_retention_days: get("sync_log_retention_days"),
        }
    }
}

/// The add-rule form's values.
#[derive(Default)]
struct RuleValues {
    product: String,
    group: String,
    filter: String,
}

/// A message for one field of one form.
struct FieldError {
    field: String,
    message: String,
}

/// What the page shows besides the saved state.
struct View {
    status: StatusCode,
    /// Words for the top of the page after a change, and the seats it moved.
    done: Option<(String, Vec<SeatChange>)>,
    settings: Option<SettingsValues>,
    settings_error: Option<FieldError>,
    rule: RuleValues,
    rule_error: Option<FieldError>,
}

impl View {
    fn ok() -> View {
        View {
            status: StatusCode::OK,
            done: None,
            settings: None,
            settings_error: None,
            rule: RuleValues::default(),
            rule_error: None,
        }
    }
}

pub async fn page(console: Console) -> Result<HttpResponse, ConsoleError> {
    render(&console, View::ok()).await
}

/// `POST /console/settings`: every field of the form, as one change.
pub async fn save(
    req: HttpRequest,
    console: Console,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = console.form(&body)?;
    let patch = settings_patch(&form);
    let ctx = console.ctx(&req);
    match console
        .engine
        .patch_settings(&console.session.principal, &patch, &ctx)
        .await
    {
        Ok(changed) => {
            let view = View {
                done: Some(("Settings saved.".into(), changed.seat_changes)),
                settings: Some(SettingsValues::of(&changed.settings)),
                ..View::ok()
            };
            render(&console, view).await
        }
        Err(e) => {
            let (status, error) = field_error(e, &SETTING_FIELDS)?;
            let view = View {
                status,
                settings: Some(SettingsValues::sent(&form)),
                settings_error: Some(error),
                ..View::ok()
            };
            render(&console, view).await
        }
    }
}

/// The form as the engine's settings patch: all four, so that a field left empty is refused
/// by the engine (and named) rather than silently kept. Default products are a
/// comma-separated list; an empty one clears them.
fn settings_patch(form: &Form) -> Value {
    let text = |name: &str| form.get(name).map_or(Value::Null, Value::from);
    let products: Vec<Value> = form
        .get("default_products")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(Value::from)
        .collect();
    let days = match form.get("sync_log_retention_days") {
        Some(v) => v
            .parse::<u64>()
            .map_or_else(|_| Value::from(v), Value::from),
        None => Value::Null,
    };
    let mut patch = Map::new();
    patch.insert("seat_policy".into(), text("seat_policy"));
    // The percentage belongs to the overage policy only (the engine refuses it with the
    // others): sent with it, as a number when it is one, so a bad value is named.
    if form.get("seat_policy") == Some("overage") {
        let percent = match form.get("overage_percent") {
            Some(v) => v
                .parse::<u64>()
                .map_or_else(|_| Value::from(v), Value::from),
            None => Value::Null,
        };
        patch.insert("overage_percent".into(), percent);
    }
    patch.insert("default_products".into(), Value::Array(products));
    patch.insert("recording_access".into(), text("recording_access"));
    patch.insert("sync_log_retention_days".into(), days);
    Value::Object(patch)
}

/// `POST /console/rules`: a new rule, applied at once.
pub async fn add_rule(
    req: HttpRequest,
    console: Console,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = console.form(&body)?;
    let sent = RuleValues {
        product: form.get("product").unwrap_or_default().to_string(),
        group: form.get("group").unwrap_or_default().to_string(),
        filter: form.get("filter").unwrap_or_default().to_string(),
    };
    let input = NewRule {
        product: sent.product.clone(),
        group: form.get("group").map(str::to_string),
        filter: form.get("filter").map(str::to_string),
    };
    let ctx = console.ctx(&req);
    let added = match validated(input) {
        Ok(input) => {
            console
                .engine
                .add_rule(&console.session.principal, &input, &ctx)
                .await
        }
        Err(e) => Err(e),
    };
    match added {
        Ok(added) => {
            let words = format!("Rule added: {}.", rule_text(&added.rule));
            let view = View {
                done: Some((words, added.seat_changes)),
                ..View::ok()
            };
            render(&console, view).await
        }
        Err(e) => {
            let (status, error) = field_error(e, &RULE_FIELDS)?;
            let view = View {
                status,
                rule: sent,
                rule_error: Some(error),
                ..View::ok()
            };
            render(&console, view).await
        }
    }
}

/// `POST /console/rules/{id}/delete`: the rule goes, and the seats it held are reconciled.
pub async fn delete_rule(
    req: HttpRequest,
    console: Console,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    console.form(&body)?;
    let ctx = console.ctx(&req);
    // The rule's words, for the notice, read before it goes.
    let rule = console
        .engine
        .rules(&console.session.principal)
        .await?
        .rules
        .into_iter()
        .find(|r| r.id == *id);
    let deleted = console
        .engine
        .delete_rule(&console.session.principal, &id, &ctx)
        .await?;
    let words = match rule {
        Some(r) => format!("Rule deleted: {}.", rule_text(&r)),
        None => format!("Rule {} deleted.", deleted.deleted),
    };
    let view = View {
        done: Some((words, deleted.seat_changes)),
        ..View::ok()
    };
    render(&console, view).await
}

/// A refusal that names one of `fields` becomes that field's message (and the refusal's
/// status); any other failure is a page of its own.
fn field_error(e: EngineError, fields: &[&str]) -> Result<(StatusCode, FieldError), ConsoleError> {
    match e {
        EngineError::Refused {
            code,
            message,
            field: Some(field),
        } if fields.contains(&field.as_str()) => {
            let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            // The engine's message starts with the field's name, which the page shows as
            // the label already.
            let message = sentence(
                message
                    .strip_prefix(&format!("{field}: "))
                    .unwrap_or(&message),
            );
            Ok((status, FieldError { field, message }))
        }
        e => Err(e.into()),
    }
}

/// A rule in words: `meeting for members of group ID` or `meeting for users matching F`.
fn rule_text(r: &RuleView) -> String {
    match (&r.group, &r.filter) {
        (Some(g), _) => format!("{} for members of group {g}", r.product),
        (None, Some(f)) => format!("{} for users matching {f}", r.product),
        (None, None) => r.product.clone(),
    }
}

/// The seats a change moved, by product: `meeting: 2 assigned, 1 waitlisted`.
fn seat_summary(changes: &[SeatChange]) -> String {
    if changes.is_empty() {
        return "No seat changed.".into();
    }
    let mut by_product: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for c in changes {
        *by_product
            .entry(c.product.as_str())
            .or_default()
            .entry(c.change)
            .or_default() += 1;
    }
    let parts: Vec<String> = by_product
        .iter()
        .map(|(product, counts)| {
            let counts: Vec<String> = counts
                .iter()
                .map(|(change, n)| format!("{n} {}", change.replace('_', " ")))
                .collect();
            format!("{product}: {}", counts.join(", "))
        })
        .collect();
    format!("Seat changes: {}.", parts.join("; "))
}

/// The alert at the top of a refused form, with a link to the field to correct.
fn not_done(what: &str, e: &FieldError) -> Markup {
    html! {
        p class="error" role="alert" {
            (what) ": "
            a href={ "#field-" (e.field) } { "correct the field marked below" } "."
        }
    }
}

fn message_for<'a>(error: &'a Option<FieldError>, field: &str) -> Option<&'a str> {
    error
        .as_ref()
        .filter(|e| e.field == field)
        .map(|e| e.message.as_str())
}

async fn render(console: &Console, view: View) -> Result<HttpResponse, ConsoleError> {
    let ap = &console.session.principal;
    let rules = console.engine.rules(ap).await?.rules;
    let values = match view.settings {
        Some(v) => v,
        None => SettingsValues::of(&console.engine.settings(ap).await?),
    };
    let write = console.can_write();
    let body = html! {
        h1 { "Settings" }
        @if let Some((words, changes)) = &view.done {
            (layout::notice(&format!("{words} {}", seat_summary(changes))))
            (change_list(changes))
        }
        @if let Some(e) = &view.settings_error {
            (not_done("The settings were not saved", e))
        }
        @if let Some(e) = &view.rule_error {
            (not_done("The rule was not added", e))
        }
        @if !write {
            p class="muted" {
                "You are signed in as an auditor: you can see the settings and rules, not change them."
            }
        }
        section aria-labelledby="settings-heading" {
            h2 id="settings-heading" { "Account settings" }
            @if write {
                (settings_form(console, &values, &view.settings_error))
            } @else {
                (settings_table(&values))
            }
        }
        section aria-labelledby="rules-heading" {
            h2 id="rules-heading" { "Rules" }
            p class="hint" {
                "A rule gives a product to the members of a group, or to the users a SCIM filter "
                "matches. Adding or deleting one applies it to every user at once."
            }
            (rules_table(console, &rules, write))
            @if write {
                h3 { "Add a rule" }
                (rule_form(console, &view.rule, &view.rule_error))
            }
        }
    };
    Ok(html_response(
        view.status,
        layout::page(console, Nav::Settings, "Settings", body),
    ))
}

fn settings_form(console: &Console, v: &SettingsValues, error: &Option<FieldError>) -> Markup {
    html! {
        form method="post" action="/console/settings" class="settings" {
            (layout::csrf(console))
            (layout::select("seat_policy", "Seat policy: when no license is free", SEAT_POLICIES,
                Some(v.seat_policy.as_str()), message_for(error, "seat_policy")))
            (layout::field("overage_percent", "Overage (percent of licenses)", "number",
                Some(v.overage_percent.as_str()), message_for(error, "overage_percent"),
                Some("With the overage policy only: extra seats each product may hold, 0 to 100 percent of its licenses.")))
            (layout::field("default_products", "Default products", "text",
                Some(v.default_products.as_str()), message_for(error, "default_products"),
                Some("Products every user gets, comma-separated (for example: meeting, webinar). Empty for none.")))
            (layout::select("recording_access", "Recording access", RECORDING_ACCESS,
                Some(v.recording_access.as_str()), message_for(error, "recording_access")))
            (layout::field("sync_log_retention_days", "Sync-log retention (days)", "number",
                Some(v.sync_log_retention_days.as_str()), message_for(error, "sync_log_retention_days"),
                Some("How long the sync log keeps its entries: 1 to 3650 days.")))
            button type="submit" { "Save settings" }
        }
    }
}

/// The settings for a session that may not change them.
fn settings_table(v: &SettingsValues) -> Markup {
    let label = |options: &[(&str, &'static str)], value: &str| -> String {
        options
            .iter()
            .find(|(k, _)| *k == value)
            .map_or_else(|| value.to_string(), |(_, l)| (*l).to_string())
    };
    html! {
        table class="kv" {
            tbody {
                tr { th scope="row" { "Seat policy" } td { (label(SEAT_POLICIES, &v.seat_policy)) } }
                @if !v.overage_percent.is_empty() {
                    tr { th scope="row" { "Overage" } td { (v.overage_percent) " % of licenses" } }
                }
                tr {
                    th scope="row" { "Default products" }
                    td {
                        @if v.default_products.is_empty() { "none" } @else { (v.default_products) }
                    }
                }
                tr { th scope="row" { "Recording access" } td { (label(RECORDING_ACCESS, &v.recording_access)) } }
                tr { th scope="row" { "Sync-log retention" } td { (v.sync_log_retention_days) " days" } }
            }
        }
    }
}

fn rules_table(console: &Console, rules: &[RuleView], write: bool) -> Markup {
    if rules.is_empty() {
        return html! { p { "No rules yet." } };
    }
    html! {
        div class="table-wrap" role="region" aria-labelledby="rules-caption" tabindex="0" {
            table id="rules" {
                caption id="rules-caption" class="muted" { "Rules, oldest first" }
                thead {
                    tr {
                        th scope="col" { "Product" }
                        th scope="col" { "Applies to" }
                        th scope="col" { "Created" }
                        @if write {
                            th scope="col" { "Action" }
                        }
                    }
                }
                tbody {
                    @for r in rules {
                        tr {
                            th scope="row" { (r.product) }
                            td {
                                @match (&r.group, &r.filter) {
                                    (Some(g), _) => { "members of group " code { (g) } }
                                    (None, Some(f)) => { "users matching " code { (f) } }
                                    (None, None) => { "—" }
                                }
                            }
                            td { (r.created) }
                            @if write {
                                td {
                                    form method="post" action={ "/console/rules/" (r.id) "/delete" } class="inline" {
                                        (layout::csrf(console))
                                        button type="submit" class="danger"
                                            aria-label={ "Delete the rule: " (rule_text(r)) } { "Delete" }
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

fn rule_form(console: &Console, v: &RuleValues, error: &Option<FieldError>) -> Markup {
    html! {
        form method="post" action="/console/rules" class="rule-form" {
            (layout::csrf(console))
            (layout::field("product", "Product", "text", Some(v.product.as_str()),
                message_for(error, "product"), Some("A product name, for example meeting.")))
            (layout::field("group", "Group id", "text", Some(v.group.as_str()),
                message_for(error, "group"),
                Some("The id of a group whose members get the product. Give a group or a filter, not both.")))
            (layout::field("filter", "SCIM filter", "text", Some(v.filter.as_str()),
                message_for(error, "filter"),
                Some("Users matching it get the product, for example: title eq \"Agent\".")))
            button type="submit" { "Add rule" }
        }
    }
}

/// Each seat a change moved, under its notice (the first ones when there are many).
fn change_list(changes: &[SeatChange]) -> Markup {
    if changes.is_empty() {
        return html! {};
    }
    html! {
        details class="seat-changes" {
            summary { "Each seat change (" (changes.len()) ")" }
            div class="table-wrap" {
                table {
                    thead {
                        tr {
                            th scope="col" { "User" }
                            th scope="col" { "Product" }
                            th scope="col" { "Change" }
                            th scope="col" { "Held for" }
                        }
                    }
                    tbody {
                        @for c in changes.iter().take(SHOWN_CHANGES) {
                            tr {
                                td { a href=(user_link(&c.user_id)) { (c.user_id) } }
                                td { (c.product) }
                                td { (c.change.replace('_', " ")) }
                                td { (c.source) }
                            }
                        }
                    }
                }
            }
            @if changes.len() > SHOWN_CHANGES {
                p class="muted" {
                    "The first " (SHOWN_CHANGES) " are listed; the sync log has them all."
                }
            }
        }
    }
}

/// The users page filtered to one user.
fn user_link(id: &str) -> String {
    let filter = format!(
        "id eq \"{}\"",
        id.replace('\\', "\\\\").replace('"', "\\\"")
    );
    match serde_urlencoded::to_string([("filter", filter.as_str())]) {
        Ok(q) => format!("/console/users?{q}"),
        Err(_) => "/console/users".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(product: &str, change: &'static str) -> SeatChange {
        SeatChange {
            user_id: "u".into(),
            product: product.into(),
            change,
            source: "rule",
        }
    }

    #[test]
    fn seat_changes_are_counted_by_product() {
        assert_eq!(seat_summary(&[]), "No seat changed.");
        let changes = [
            change("meeting", "assigned"),
            change("video", "left_waitlist"),
            change("meeting", "assigned"),
            change("meeting", "waitlisted"),
        ];
        assert_eq!(
            seat_summary(&changes),
            "Seat changes: meeting: 2 assigned, 1 waitlisted; video: 1 left waitlist."
        );
    }

    #[test]
    fn user_links_quote_the_id() {
        assert_eq!(
            user_link("a\"b"),
            "/console/users?filter=id+eq+%22a%5C%22b%22"
        );
    }
}
