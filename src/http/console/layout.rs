//! The console's page frame: head (stylesheet, script), header with the account, role and
//! sign-out, the navigation, and `main`; plus the small pieces every page uses (the CSRF
//! field, field errors, status labels, tables of key and value).

use maud::{html, Markup, DOCTYPE};

use crate::auth::jwt::Role;

use super::{assets, Console};

/// The console's pages, in navigation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    SyncLog,
    Conflicts,
    Users,
    Products,
    Connections,
    Webhooks,
    Import,
    Settings,
}

const NAV: &[(Nav, &str, &str)] = &[
    (Nav::Overview, "/console/", "Overview"),
    (Nav::SyncLog, "/console/sync-log", "Sync log"),
    (Nav::Conflicts, "/console/conflicts", "Conflicts"),
    (Nav::Users, "/console/users", "Users"),
    (Nav::Products, "/console/products", "Products"),
    (Nav::Connections, "/console/connections", "Connections"),
    (Nav::Webhooks, "/console/webhooks", "Webhooks"),
    (Nav::Import, "/console/import", "Import"),
    (Nav::Settings, "/console/settings", "Settings"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Roster console" }
            link rel="stylesheet" href=(assets::url("console.css"));
            script src=(assets::url("console.js")) defer {}
        }
    }
}

/// A page of a signed-in session.
pub fn page(console: &Console, current: Nav, title: &str, body: Markup) -> Markup {
    let p = &console.session.principal;
    let role = match p.role {
        Role::Admin => "admin",
        Role::Auditor => "auditor (read only)",
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "Roster" }
                    span class="account" {
                        "Account " strong { (p.account) } " · " span class="role" { (role) }
                    }
                    form method="post" action="/console/sign-out" class="sign-out" {
                        (csrf(console))
                        button type="submit" { "Sign out" }
                    }
                }
                nav aria-label="Console" {
                    ul {
                        @for (nav, href, label) in NAV {
                            li {
                                @if *nav == current {
                                    a href=(href) aria-current="page" { (label) }
                                } @else {
                                    a href=(href) { (label) }
                                }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    (body)
                }
            }
        }
    }
}

/// A page with no session (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header class="top" {
                    span class="brand" { "Roster" }
                }
                main id="main" tabindex="-1" {
                    (body)
                }
            }
        }
    }
}

/// The hidden field every form that changes something carries.
pub fn csrf(console: &Console) -> Markup {
    html! { input type="hidden" name="csrf" value=(console.session.csrf); }
}

/// A labelled text input with its error, if any: `aria-invalid` and `aria-describedby`
/// point at the message.
pub fn field(
    name: &str,
    label: &str,
    kind: &str,
    value: Option<&str>,
    error: Option<&str>,
    hint: Option<&str>,
) -> Markup {
    let id = format!("field-{name}");
    let error_id = format!("error-{name}");
    let hint_id = format!("hint-{name}");
    let described = match (error.is_some(), hint.is_some()) {
        (true, true) => Some(format!("{error_id} {hint_id}")),
        (true, false) => Some(error_id.clone()),
        (false, true) => Some(hint_id.clone()),
        (false, false) => None,
    };
    html! {
        div class="field" {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=[value]
                aria-invalid=[error.map(|_| "true")] aria-describedby=[described];
            @if let Some(h) = hint {
                p class="hint" id=(hint_id) { (h) }
            }
            @if let Some(e) = error {
                p class="field-error" id=(error_id) { (e) }
            }
        }
    }
}

/// A labelled select of `options` (value, label) with the current one selected.
pub fn select(
    name: &str,
    label: &str,
    options: &[(&str, &str)],
    current: Option<&str>,
    error: Option<&str>,
) -> Markup {
    let id = format!("field-{name}");
    let error_id = format!("error-{name}");
    html! {
        div class="field" {
            label for=(id) { (label) }
            select id=(id) name=(name)
                aria-invalid=[error.map(|_| "true")]
                aria-describedby=[error.map(|_| error_id.clone())] {
                @for (value, text) in options {
                    option value=(value) selected[current == Some(*value)] { (text) }
                }
            }
            @if let Some(e) = error {
                p class="field-error" id=(error_id) { (e) }
            }
        }
    }
}

/// An outcome as words and a mark, never colour alone.
pub fn status(status: &str) -> Markup {
    let mark = match status {
        "success" => "✓",
        "warning" => "!",
        "failure" => "✗",
        "throttled" => "⏸",
        _ => "·",
    };
    html! {
        span class={ "status status-" (status) } {
            span aria-hidden="true" { (mark) " " } (status)
        }
    }
}

/// A message shown at the top of a page after a change.
pub fn notice(text: &str) -> Markup {
    html! { p class="notice" role="status" { (text) } }
}

/// An error shown at the top of a page.
pub fn alert(text: &str) -> Markup {
    html! { p class="error" role="alert" { (text) } }
}
