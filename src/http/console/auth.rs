//! Signing in (a one-time link from `roster console-link`, or an admin token pasted into the
//! form) and out.

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};

use crate::engine::{Engine, ErrorCode};

use super::{html_response, layout, see_other, session_cookie, Console, ConsoleError, COOKIE};

fn sign_in_form(error: Option<&str>) -> Markup {
    layout::bare(
        "Sign in",
        html! {
            h1 { "Sign in to the Roster console" }
            @if let Some(e) = error {
                (layout::alert(e))
            }
            p {
                "Open a sign-in link made with "
                code { "roster console-link --account SLUG" }
                " (valid 15 minutes, once), or paste an admin token made with "
                code { "roster admin-token create --account SLUG" } "."
            }
            form method="post" action="/console/sign-in" {
                div class="field" {
                    label for="field-token" { "Admin token" }
                    input id="field-token" name="token" type="password" autocomplete="off"
                        required aria-invalid=[error.map(|_| "true")];
                }
                button type="submit" { "Sign in" }
            }
        },
    )
}

pub async fn sign_in_page() -> HttpResponse {
    html_response(StatusCode::OK, sign_in_form(None))
}

/// The pasted admin token: a session of its account and role.
pub async fn sign_in(
    req: HttpRequest,
    body: web::Bytes,
    engine: web::Data<Engine>,
) -> Result<HttpResponse, ConsoleError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let token = fields
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .unwrap_or_default();
    if token.trim().is_empty() {
        return Ok(html_response(
            StatusCode::BAD_REQUEST,
            sign_in_form(Some("Paste an admin token.")),
        ));
    }
    match engine.console_sign_in_token(&token).await {
        Ok(session) => Ok(signed_in(&req, &session.secret, session.max_age_secs)),
        Err(e) if e.code() == ErrorCode::Unauthorized => Ok(html_response(
            StatusCode::UNAUTHORIZED,
            sign_in_form(Some(
                "That admin token is not valid: it is expired, revoked or not a Roster admin token.",
            )),
        )),
        Err(e) => Err(e.into()),
    }
}

/// A one-time link: used once, then it signs in no one.
pub async fn link(
    req: HttpRequest,
    secret: web::Path<String>,
    engine: web::Data<Engine>,
) -> Result<HttpResponse, ConsoleError> {
    match engine.console_sign_in_link(&secret).await {
        Ok(session) => Ok(signed_in(&req, &session.secret, session.max_age_secs)),
        Err(e) if e.code() == ErrorCode::Unauthorized => Ok(html_response(
            StatusCode::UNAUTHORIZED,
            sign_in_form(Some("This sign-in link is invalid, used or expired.")),
        )),
        Err(e) => Err(e.into()),
    }
}

fn signed_in(req: &HttpRequest, secret: &str, max_age_secs: i64) -> HttpResponse {
    let mut resp = see_other("/console/");
    if let Err(e) = resp.add_cookie(&session_cookie(req, secret, max_age_secs)) {
        tracing::error!(error = %e, "could not set the console cookie");
    }
    resp
}

/// Ends the session on the server (the cookie no longer works anywhere) and clears it.
pub async fn sign_out(console: Console, body: web::Bytes) -> Result<HttpResponse, ConsoleError> {
    console.form(&body)?;
    console.engine.console_sign_out(&console.session).await?;
    let mut resp = see_other("/console/sign-in");
    let mut gone = Cookie::build(COOKIE, "").path("/console").finish();
    gone.make_removal();
    if let Err(e) = resp.add_cookie(&gone) {
        tracing::error!(error = %e, "could not clear the console cookie");
    }
    Ok(resp)
}
