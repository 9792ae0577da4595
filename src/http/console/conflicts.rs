//! The conflicts queue in the console: requests that could not complete because of another
//! account's data (an email in use) or of capacity (no free seat), each with what to do and
//! links to the user and to the user's sync-log entries. Read only.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::engine::conflicts::ConflictView;
use crate::engine::EngineError;

use super::{html_response, layout, Console, ConsoleError, Nav};

const STATUSES: &[(&str, &str)] = &[("open", "open"), ("resolved", "resolved"), ("all", "all")];

/// `GET /console/conflicts?status=open|resolved|all` (open when absent).
pub async fn page(console: Console, req: HttpRequest) -> Result<HttpResponse, ConsoleError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let status = pairs
        .iter()
        .find(|(k, _)| k == "status")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "open".to_string());
    let (code, listing, error) = match console
        .engine
        .conflicts(&console.session.principal, Some(&status))
        .await
    {
        Ok(list) => (StatusCode::OK, table(&status, &list.conflicts), None),
        Err(EngineError::Refused {
            message,
            field: Some(field),
            code,
        }) if field == "status" && code.status() == 400 => {
            (StatusCode::BAD_REQUEST, html! {}, Some(message))
        }
        Err(e) => return Err(e.into()),
    };
    let body = html! {
        h1 { "Conflicts" }
        p {
            "A conflict is a request from the identity provider that Roster could not complete: "
            "the person's email is held by a user in another account, or no license of a product is free. "
            "The identity provider keeps retrying; the conflict is resolved when a retry goes through."
        }
        form class="filters" method="get" action="/console/conflicts" aria-label="Which conflicts" {
            (layout::select("status", "Status", STATUSES, Some(status.as_str()), error.as_deref()))
            div class="filter-actions" {
                button type="submit" { "Show" }
            }
        }
        (listing)
    };
    Ok(html_response(
        code,
        layout::page(&console, Nav::Conflicts, "Conflicts", body),
    ))
}

fn table(status: &str, list: &[ConflictView]) -> Markup {
    if list.is_empty() {
        let none = match status {
            "open" => "No open conflicts.",
            "resolved" => "No resolved conflicts.",
            _ => "No conflicts.",
        };
        return html! { p { (none) } };
    }
    let with_status = status != "open";
    html! {
        div class="table-wrap" {
            table id="conflicts" {
                caption {
                    (list.len()) " " (status) " "
                    @if list.len() == 1 { "conflict" } @else { "conflicts" }
                }
                thead {
                    tr {
                        th scope="col" { "Kind" }
                        th scope="col" { "User" }
                        th scope="col" { "Email" }
                        th scope="col" { "Product" }
                        th scope="col" { "First seen" }
                        th scope="col" { "Last seen" }
                        th scope="col" class="num" { "Attempts" }
                        @if with_status {
                            th scope="col" { "Status" }
                        }
                        th scope="col" { "Guidance" }
                    }
                }
                tbody {
                    @for c in list {
                        tr {
                            th scope="row" { (kind(&c.kind)) }
                            td { (user(c.user_name.as_deref())) }
                            td { (c.email.as_deref().unwrap_or("—")) }
                            td { (c.product.as_deref().unwrap_or("—")) }
                            td { (c.first_seen) }
                            td { (c.last_seen) }
                            td class="num" { (c.attempts) }
                            @if with_status {
                                td {
                                    (c.status)
                                    @if let Some(at) = &c.resolved_at { " " (at) }
                                }
                            }
                            td class="guidance" {
                                (c.guidance)
                                @if c.kind == "no_seat" {
                                    " " a href="/console/products" { "Change the number of licenses" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A conflict's kind in words, with its code.
fn kind(code: &str) -> Markup {
    let words = match code {
        "email_in_use" => "Email in use",
        "no_seat" => "No free seat",
        other => other,
    };
    html! {
        (words)
        @if words != code {
            br; code { (code) }
        }
    }
}

/// The user's name, linked to the user (a SCIM filter on userName) and to their entries.
fn user(name: Option<&str>) -> Markup {
    let Some(name) = name else {
        return html! { "—" };
    };
    let users = serde_urlencoded::to_string([("filter", user_filter(name))]).unwrap_or_default();
    let log = serde_urlencoded::to_string([("user", name)]).unwrap_or_default();
    html! {
        a href={ "/console/users?" (users) } { (name) }
        br;
        a href={ "/console/sync-log?" (log) } aria-label={ "Sync log of " (name) } { "Sync log" }
    }
}

/// `userName eq "NAME"`, the name quoted as a SCIM filter's string (RFC 7644 §3.4.2.2
/// takes JSON strings).
fn user_filter(name: &str) -> String {
    let quoted = serde_json::to_string(name).unwrap_or_else(|_| format!("\"{name}\""));
    format!("userName eq {quoted}")
}

#[cfg(test)]
mod tests {
    use super::user_filter;

    #[test]
    fn a_user_filter_quotes_the_name_as_a_json_string() {
        assert_eq!(user_filter("pat"), "userName eq \"pat\"");
        assert_eq!(user_filter("a\"b\\c"), "userName eq \"a\\\"b\\\\c\"");
    }
}
