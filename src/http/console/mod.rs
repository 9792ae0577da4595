//! The admin console under `/console/`: server-rendered pages (maud) for the account's
//! admins and auditors, from the same process and port as the APIs. `docs/console.md` is the
//! contract between these pages and their browser tests.
//!
//! Every handler extracts a [`Console`] (the session from the `roster_console` cookie; none
//! sends the browser to the sign-in page), makes engine calls as the session's
//! `AdminPrincipal`, and renders a page with [`layout::page`]. Forms that change something
//! are read with [`Console::form`], which refuses a missing or wrong `csrf` field before
//! reading anything else. The scope adds the console's security headers to every response.

mod assets;
mod auth;
mod conflicts;
mod connections;
mod import;
mod layout;
mod overview;
mod products;
mod settings;
mod synclog;
mod users;
mod webhooks;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use maud::{html, Markup};

use crate::engine::console::ConsoleSession;
use crate::engine::{Engine, EngineError, ErrorCode};

pub use layout::Nav;

/// The session cookie's name.
pub const COOKIE: &str = "roster_console";

/// The console's own policy: scripts and styles from this origin only (no inline code), no
/// framing, no referrer, forms only back to the console.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Largest form body a console page reads (an import's file goes through its own limit).
const MAX_FORM: usize = 256 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/console")
            .wrap(
                DefaultHeaders::new()
                    .add((header::CONTENT_SECURITY_POLICY, CSP))
                    .add((header::X_FRAME_OPTIONS, "DENY"))
                    .add((header::REFERRER_POLICY, "no-referrer"))
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")),
            )
            .app_data(web::PayloadConfig::new(MAX_FORM))
            .route("", web::get().to(to_overview))
            .route("/", web::get().to(overview::page))
            .route("/assets/{name}", web::get().to(assets::serve))
            .route("/sign-in", web::get().to(auth::sign_in_page))
            .route("/sign-in", web::post().to(auth::sign_in))
            .route("/link/{secret}", web::get().to(auth::link))
            .route("/sign-out", web::post().to(auth::sign_out))
            // The tail and the export before `{id}`, which would match them too.
            .route("/sync-log", web::get().to(synclog::list))
            .route("/sync-log/tail", web::get().to(synclog::tail))
            .route("/sync-log/export.csv", web::get().to(synclog::export))
            .route("/sync-log/{id}", web::get().to(synclog::entry))
            .route("/conflicts", web::get().to(conflicts::page))
            // The import's file has its own limit (the engine's upload size), enforced while
            // the multipart body streams in; the scope's form limit is for url-encoded forms.
            .route("/import", web::get().to(import::page))
            .route("/import", web::post().to(import::dry_run))
            .route("/import/apply", web::post().to(import::apply))
            .route("/settings", web::get().to(settings::page))
            .route("/settings", web::post().to(settings::save))
            .route("/rules", web::post().to(settings::add_rule))
            .route("/rules/{id}/delete", web::post().to(settings::delete_rule))
            .route("/users", web::get().to(users::list))
            .route("/users/{id}/{action}", web::get().to(users::confirm))
            .route("/users/{id}/{action}", web::post().to(users::act))
            .route("/products", web::get().to(products::list))
            .route("/products", web::post().to(products::add))
            .route(
                "/products/{product}",
                web::post().to(products::set_licenses),
            )
            .route("/connections", web::get().to(connections::list))
            .route("/connections", web::post().to(connections::create))
            .route(
                "/connections/{name}/revoke",
                web::post().to(connections::revoke),
            )
            // The replay and the retry before `{id}/{action}`, which would match the replay.
            .route("/webhooks", web::get().to(webhooks::list))
            .route("/webhooks", web::post().to(webhooks::create))
            .route("/webhooks/{id}", web::get().to(webhooks::endpoint))
            .route("/webhooks/{id}/replay", web::post().to(webhooks::replay))
            .route(
                "/webhooks/{id}/deliveries/{delivery}/retry",
                web::post().to(webhooks::retry),
            )
            .route("/webhooks/{id}/{action}", web::get().to(webhooks::confirm))
            .route("/webhooks/{id}/{action}", web::post().to(webhooks::act))
            .default_service(web::route().to(not_found)),
    );
}

async fn to_overview() -> HttpResponse {
    see_other("/console/")
}

async fn not_found() -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such console page.",
    ))
}

/// A 303 to `location`.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// An HTML page.
pub fn html_response(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}

/// The signed-in session a console page runs as.
pub struct Console {
    pub session: ConsoleSession,
    pub engine: web::Data<Engine>,
}

impl Console {
    /// Whether the session may change anything (an auditor may not).
    pub fn can_write(&self) -> bool {
        self.session.principal.role == crate::auth::jwt::Role::Admin
    }

    /// The `Ctx` a change made from the console is logged with.
    pub fn ctx(&self, req: &HttpRequest) -> crate::engine::synclog::Ctx {
        let actor = format!("admin:{}", self.session.principal.subject);
        super::record_actor(req, &actor);
        crate::engine::synclog::Ctx::new(
            actor,
            req.method().as_str(),
            req.path(),
            super::scim::request_id(req),
        )
    }

    /// Reads a url-encoded form body after checking its `csrf` field against the session:
    /// a form without the right one changes nothing (403).
    pub fn form(&self, body: &[u8]) -> Result<Form, ConsoleError> {
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
            ConsoleError::page(
                StatusCode::BAD_REQUEST,
                "Bad form",
                "The form could not be read: reload the page and try again.",
            )
        })?;
        let mut map = HashMap::new();
        for (k, v) in fields {
            map.entry(k).or_insert(v);
        }
        if !self
            .session
            .csrf_matches(map.get("csrf").map(String::as_str))
        {
            return Err(ConsoleError::csrf());
        }
        Ok(Form(map))
    }
}

/// A form's fields (the first value of each name).
pub struct Form(HashMap<String, String>);

impl Form {
    /// A field's value, trimmed; None when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A checkbox: present and not "off".
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v != "off")
    }
}

impl FromRequest for Console {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Console, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let engine = req.app_data::<web::Data<Engine>>().cloned();
        let secret = req.cookie(COOKIE).map(|c| c.value().to_string());
        let req = req.clone();
        Box::pin(async move {
            let engine =
                engine.ok_or_else(|| ConsoleError::from(EngineError::internal("no engine")))?;
            let secret = secret.ok_or(ConsoleError::SignIn)?;
            match engine.console_session(&secret).await {
                Ok(session) => {
                    super::record_actor(&req, &format!("admin:{}", session.principal.subject));
                    Ok(Console { session, engine })
                }
                Err(e) if e.code() == ErrorCode::Unauthorized => Err(ConsoleError::SignIn),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// The session cookie: HttpOnly, SameSite=Strict, only for `/console`, Secure over TLS.
pub fn session_cookie(req: &HttpRequest, value: &str, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(COOKIE, value.to_string())
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(req.connection_info().scheme() == "https")
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_secs))
        .finish()
}

/// What a console request fails with: to the sign-in page, or a page that says why.
#[derive(Debug)]
pub enum ConsoleError {
    SignIn,
    Page {
        status: StatusCode,
        title: String,
        message: String,
    },
}

impl ConsoleError {
    pub fn page(status: StatusCode, title: &str, message: &str) -> ConsoleError {
        ConsoleError::Page {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    fn csrf() -> ConsoleError {
        ConsoleError::page(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form's security token is missing or wrong: reload the page and try again.",
        )
    }
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsoleError::SignIn => write!(f, "sign in to the console"),
            ConsoleError::Page { message, .. } => write!(f, "{message}"),
        }
    }
}

impl From<EngineError> for ConsoleError {
    fn from(e: EngineError) -> Self {
        let status =
            StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match e {
            EngineError::Refused { code, message, .. } => ConsoleError::Page {
                status,
                title: title_of(code).into(),
                message,
            },
            EngineError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                ConsoleError::page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not do this. Try again; if it persists, contact support with the time it happened.",
                )
            }
        }
    }
}

fn title_of(code: ErrorCode) -> &'static str {
    match code.status() {
        401 => "Signed out",
        403 => "Not allowed",
        404 => "Not found",
        409 => "Refused",
        503 => "Busy",
        s if s >= 500 => "Something went wrong",
        _ => "Cannot do that",
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn => StatusCode::SEE_OTHER,
            ConsoleError::Page { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ConsoleError::SignIn => see_other("/console/sign-in"),
            ConsoleError::Page {
                status,
                title,
                message,
            } => {
                let mut resp = html_response(
                    *status,
                    layout::bare(
                        title,
                        html! {
                            h1 { (title) }
                            p role="alert" class="error" { (message) }
                            p { a href="/console/" { "Back to the console" } }
                        },
                    ),
                );
                if let Ok(v) = HeaderValue::from_str("no-store") {
                    resp.headers_mut().insert(header::CACHE_CONTROL, v);
                }
                resp
            }
        }
    }
}
