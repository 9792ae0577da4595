//! Connections: the account's identity-provider connections (kind, status, created, last
//! activity), a form to create one whose answer shows its token (or OAuth client secret)
//! once, and revoking one.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::engine::connections::{ConnectionView, Created, NewConnection};
use crate::engine::input::validated;
use crate::engine::EngineError;

use super::users::{segment, when};
use super::{html_response, layout, Console, ConsoleError, Nav};

const AUTH_OPTIONS: &[(&str, &str)] = &[
    ("bearer", "Bearer token"),
    ("oauth", "OAuth client credentials"),
];

/// A connection's credentials taken together: live while any of them is.
struct Row<'a> {
    name: &'a str,
    kinds: Vec<&'static str>,
    live: bool,
    created: &'a str,
    last_activity: Option<&'a str>,
}

fn rows(list: &[ConnectionView]) -> Vec<Row<'_>> {
    let mut by_name: BTreeMap<&str, Row<'_>> = BTreeMap::new();
    for c in list {
        let row = by_name.entry(c.name.as_str()).or_insert(Row {
            name: &c.name,
            kinds: vec![],
            live: false,
            created: &c.created,
            last_activity: c.last_activity.as_deref(),
        });
        if !row.kinds.contains(&c.auth) {
            row.kinds.push(c.auth);
        }
        row.live |= c.status == "live";
        if c.created.as_str() < row.created {
            row.created = &c.created;
        }
    }
    by_name.into_values().collect()
}

fn kind_words(kind: &str) -> &str {
    match kind {
        "bearer" => "bearer token",
        "oauth" => "OAuth client",
        "jwt" => "identity provider's JWT",
        other => other,
    }
}

/// What the new-connection form held and what was wrong with it.
#[derive(Default)]
struct NewForm<'a> {
    name: Option<&'a str>,
    auth: Option<&'a str>,
    name_error: Option<String>,
    auth_error: Option<String>,
}

/// `GET /console/connections`.
pub async fn list(console: Console) -> Result<HttpResponse, ConsoleError> {
    page(&console, StatusCode::OK, None, &NewForm::default()).await
}

async fn page(
    console: &Console,
    status: StatusCode,
    notice: Option<&str>,
    new: &NewForm<'_>,
) -> Result<HttpResponse, ConsoleError> {
    let list = console
        .engine
        .connections(&console.session.principal)
        .await?
        .connections;
    let write = console.can_write();
    let body = html! {
        h1 { "Connections" }
        @if let Some(n) = notice { (layout::notice(n)) }
        @if list.is_empty() {
            p { "No connections yet." }
        } @else {
            (table(console, &rows(&list), write))
        }
        @if write {
            section class="card new-connection" aria-labelledby="new-connection" {
                h2 id="new-connection" { "New connection" }
                form method="post" action="/console/connections" {
                    (layout::csrf(console))
                    (layout::field("name", "Name", "text", new.name, new.name_error.as_deref(),
                        Some("The identity provider it is for, e.g. okta-prod.")))
                    (layout::select("auth", "Authentication", AUTH_OPTIONS, Some(new.auth.unwrap_or("bearer")),
                        new.auth_error.as_deref()))
                    button type="submit" { "Create connection" }
                }
            }
        } @else {
            p class="muted" { "This session is read only (auditor): connections cannot be created or revoked here." }
        }
    };
    Ok(html_response(
        status,
        layout::page(console, Nav::Connections, "Connections", body),
    ))
}

fn table(console: &Console, rows: &[Row<'_>], write: bool) -> Markup {
    html! {
        div class="table-wrap" role="region" aria-label="Connections table" tabindex="0" {
            table id="connections" {
                caption { "Connections of the account" }
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Kind" }
                        th scope="col" { "Status" }
                        th scope="col" { "Created" }
                        th scope="col" { "Last activity" }
                        @if write { th scope="col" { "Actions" } }
                    }
                }
                tbody {
                    @for r in rows {
                        tr {
                            th scope="row" { (r.name) }
                            td {
                                (r.kinds.iter().map(|k| kind_words(k)).collect::<Vec<_>>().join(", "))
                            }
                            td {
                                @if r.live {
                                    span class="status status-success" { span aria-hidden="true" { "✓ " } "live" }
                                } @else {
                                    span class="status status-revoked" { span aria-hidden="true" { "✗ " } "revoked" }
                                }
                            }
                            td { (when(r.created)) }
                            td {
                                @match r.last_activity {
                                    Some(at) => (when(at)),
                                    None => span class="muted" { "none yet" },
                                }
                            }
                            @if write {
                                td class="actions" {
                                    @if r.live {
                                        form method="post" action={ "/console/connections/" (segment(r.name)) "/revoke" } class="inline" {
                                            (layout::csrf(console))
                                            button type="submit" class="danger" {
                                                "Revoke" span class="visually-hidden" { " " (r.name) }
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

/// `POST /console/connections`: fields `name` and `auth` (`bearer` or `oauth`). The answer
/// is the only place the token or client secret is ever shown.
pub async fn create(
    req: HttpRequest,
    console: Console,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form = console.form(&body)?;
    let name = form.get("name");
    let auth = form.get("auth").unwrap_or("bearer");
    let mut new = NewForm {
        name,
        auth: Some(auth),
        ..Default::default()
    };
    if !matches!(auth, "bearer" | "oauth") {
        new.auth_error = Some("Choose a bearer token or OAuth client credentials.".into());
    }
    if name.is_none() {
        new.name_error = Some("Enter the connection's name, e.g. okta-prod.".into());
    }
    let Some(name) = name.filter(|_| new.auth_error.is_none()) else {
        return page(&console, StatusCode::BAD_REQUEST, None, &new).await;
    };
    let input = NewConnection {
        name: name.to_string(),
        auth: Some(auth.to_string()),
        issuer: None,
        audience: None,
        jwks_url: None,
    };
    let ctx = console.ctx(&req);
    let created = match validated(input) {
        Ok(input) => {
            console
                .engine
                .create_connection(&console.session.principal, &input, &ctx)
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
        }) if field == "name" || field == "auth" => {
            if field == "name" {
                new.name_error = Some(message);
            } else {
                new.auth_error = Some(message);
            }
            let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            return page(&console, status, None, &new).await;
        }
        Err(e) => return Err(e.into()),
    };
    Ok(html_response(
        StatusCode::OK,
        layout::page(
            &console,
            Nav::Connections,
            "Connection created",
            created_body(&created),
        ),
    ))
}

fn created_body(created: &Created) -> Markup {
    html! {
        h1 { "Connection created" }
        @match created {
            Created::Bearer(c) => {
                (layout::notice(&format!("The connection {} is ready.", c.name)))
                p {
                    strong { "Its bearer token is shown once" }
                    ": copy it into the identity provider now. Roster keeps only a hash of it; "
                    "a lost token is replaced by revoking the connection and creating it again."
                }
                p { label for="secret" { "Bearer token" } }
                output id="secret" { (c.token) }
            }
            Created::OAuth(c) => {
                (layout::notice(&format!("The connection {} is ready.", c.name)))
                p {
                    strong { "Its client secret is shown once" }
                    ": copy the client id and secret into the identity provider now. Roster keeps only a hash "
                    "of the secret. The identity provider gets access tokens from "
                    code { "POST /oauth/token" } " (client credentials grant)."
                }
                dl class="counts" {
                    dt { "Client id" }
                    dd { code id="client-id" { (c.client_id) } }
                }
                p { label for="secret" { "Client secret" } }
                output id="secret" { (c.client_secret) }
            }
            Created::Jwt(c) => {
                (layout::notice(&format!("The connection {} is ready: it trusts tokens of {}.", c.name, c.issuer)))
            }
        }
        p { a href="/console/connections" { "Back to connections" } }
    }
}

/// `POST /console/connections/{name}/revoke`.
pub async fn revoke(
    req: HttpRequest,
    console: Console,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    console.form(&body)?;
    let name = name.into_inner();
    let ctx = console.ctx(&req);
    let done = console
        .engine
        .revoke_connection(&console.session.principal, &name, &ctx)
        .await?;
    let n = done.revoked;
    let notice = format!(
        "Revoked the connection {name}: {n} {} revoked; requests that use {} now fail.",
        if n == 1 {
            "token or secret"
        } else {
            "tokens and secrets"
        },
        if n == 1 { "it" } else { "them" },
    );
    page(&console, StatusCode::OK, Some(&notice), &NewForm::default()).await
}
