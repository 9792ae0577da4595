//! actix-web: the SCIM routes, health, and the one place errors become responses.

pub mod admin;
pub mod body;
pub mod console;
pub mod guard;
pub mod licenses;
pub mod oauth;
pub mod scim;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use tracing_actix_web::RootSpan;

use crate::scim::ScimError;

pub const SCIM_CONTENT_TYPE: &str = "application/scim+json";

/// Who made the request, once authentication says: `connection:NAME` for SCIM,
/// `admin:SUBJECT` for the admin API (the sync log's actor). Kept in the request's
/// extensions for the access line, and recorded on the request span.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// Notes who made the request, for its span and its access line.
pub fn record_actor(req: &HttpRequest, actor: &str) {
    if let Some(span) = req.extensions().get::<RootSpan>() {
        span.record("actor", actor);
    }
    req.extensions_mut().insert(Actor(actor.to_string()));
}

/// Routes of the whole server.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(admin::configure)
        .configure(oauth::configure)
        .configure(console::configure)
        .route("/healthz", web::get().to(healthz))
        .route("/scim/v2", web::route().to(scim::dispatch))
        .route("/scim/v2/{tail:.*}", web::route().to(scim::dispatch))
        .default_service(web::route().to(not_found));
}

async fn healthz(engine: web::Data<crate::engine::Engine>) -> HttpResponse {
    match engine.ping().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "unavailable"}))
        }
    }
}

async fn not_found() -> HttpResponse {
    error_response(&ScimError::not_found("no such endpoint"))
}

/// A SCIM JSON response.
pub fn scim_json(status: StatusCode, body: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, SCIM_CONTENT_TYPE))
        .body(body.to_string())
}

/// The RFC 7644 §3.12 response for an error. Internal causes are logged here, once.
pub fn error_response(e: &ScimError) -> HttpResponse {
    if let ScimError::Internal { detail } = e {
        tracing::error!(error = %detail, "internal error");
    }
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = scim_json(status, &e.to_body());
    match e {
        ScimError::Unauthorized { .. } => {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"roster\""),
            );
        }
        ScimError::TooManyRequests {
            retry_after_secs, ..
        }
        | ScimError::Unavailable {
            retry_after_secs, ..
        } => {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        ScimError::RequestTimeout { .. } => {
            // The rest of the body may still come: the connection cannot be reused.
            resp.head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        ScimError::MethodNotAllowed { allow, .. } => {
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        ScimError::BadRequest { .. }
        | ScimError::Invalid { .. }
        | ScimError::Forbidden { .. }
        | ScimError::NotFound { .. }
        | ScimError::Conflict { .. }
        | ScimError::EmailInUse { .. }
        | ScimError::NoSeat { .. }
        | ScimError::PreconditionFailed { .. }
        | ScimError::PayloadTooLarge { .. }
        | ScimError::UnsupportedMediaType { .. }
        | ScimError::NotImplemented { .. }
        | ScimError::Internal { .. } => {}
    }
    resp
}
