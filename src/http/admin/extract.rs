//! What every admin handler needs, done once: the admin token turned into a principal and
//! the request's sync-log context ([`Admin`]), a JSON body turned into a checked input
//! ([`Body`]), and engine errors turned into `{"error": {"code", "message", "field"}}`
//! (`ResponseError`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::web::Bytes;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::Stream;
use serde::Serialize;

use crate::auth::jwt::AdminPrincipal;
use crate::engine::input::{self, Input};
use crate::engine::synclog::Ctx;
use crate::engine::{Engine, EngineError, ErrorCode};

use crate::http::body::{read_bytes, stalled_detail, BodyError, BodyTimeout};

/// Largest admin JSON body.
const MAX_BODY: usize = 1024 * 1024;

impl ResponseError for EngineError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = match self {
            EngineError::Refused {
                code,
                message,
                field,
            } => error_body(self.status_code(), code.as_str(), message, field.as_deref()),
            EngineError::Internal(cause) => {
                // The cause is logged here, once, in the request's span; the client learns
                // nothing of it.
                tracing::error!(error = %cause, "internal error");
                error_body(
                    self.status_code(),
                    ErrorCode::Internal.as_str(),
                    "internal server error",
                    None,
                )
            }
        };
        match self.code() {
            ErrorCode::Unauthorized => {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"roster-admin\""),
                );
            }
            ErrorCode::Unavailable | ErrorCode::Busy => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            ErrorCode::RequestTimeout => {
                // The rest of the body may still come: the connection cannot be reused.
                resp.head_mut().set_connection_type(ConnectionType::Close);
            }
            _ => {}
        }
        resp
    }
}

/// The admin API's error body: `{"error": {"code", "message", "field"?}}`.
fn error_body(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> HttpResponse {
    #[derive(Serialize)]
    struct Detail<'a> {
        code: &'a str,
        message: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<&'a str>,
    }
    #[derive(Serialize)]
    struct Body<'a> {
        error: Detail<'a>,
    }
    HttpResponse::build(status).json(Body {
        error: Detail {
            code,
            message,
            field,
        },
    })
}

/// An authenticated admin request: who is asking, and the context its sync-log entry gets.
pub struct Admin {
    pub principal: AdminPrincipal,
    pub ctx: Ctx,
}

impl FromRequest for Admin {
    type Error = EngineError;
    type Future = Pin<Box<dyn Future<Output = Result<Admin, EngineError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let engine = req
                .app_data::<web::Data<Engine>>()
                .ok_or_else(|| EngineError::internal("the engine is not configured"))?;
            let token = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::auth::bearer)
                .ok_or_else(|| {
                    EngineError::unauthorized("send 'Authorization: Bearer <admin token>'")
                })?;
            let principal = engine.authenticate_admin(token).await?;
            let actor = format!("admin:{}", principal.subject);
            crate::http::record_actor(&req, &actor);
            let ctx = Ctx::new(
                actor,
                req.method().as_str(),
                req.path(),
                crate::http::scim::request_id(&req),
            );
            Ok(Admin { principal, ctx })
        })
    }
}

/// A JSON body, parsed into a typed input and checked.
pub struct Body<T>(pub T);

impl<T: Input + 'static> FromRequest for Body<T> {
    type Error = EngineError;
    type Future = Pin<Box<dyn Future<Output = Result<Body<T>, EngineError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let payload = payload.take();
        let stall = BodyTimeout::of(req);
        Box::pin(async move {
            let value = json_body(payload, stall).await?;
            Ok(Body(input::parse::<T>(value)?))
        })
    }
}

/// A JSON body without a typed shape (settings are checked field by field by the engine);
/// `stall` is the request's [`BodyTimeout`].
pub async fn json_body(
    payload: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    stall: Duration,
) -> Result<serde_json::Value, EngineError> {
    let bytes = read_bytes(payload, MAX_BODY, stall)
        .await
        .map_err(body_error)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        EngineError::refused(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        )
    })
}

/// A raw body of at most `limit` bytes (an import's CSV).
pub async fn read_limited(
    payload: web::Payload,
    limit: usize,
    stall: Duration,
) -> Result<web::BytesMut, EngineError> {
    read_bytes(payload, limit, stall).await.map_err(body_error)
}

fn body_error(e: BodyError) -> EngineError {
    match e {
        BodyError::TooLarge(limit) => EngineError::refused(
            ErrorCode::TooLarge,
            format!("the body is larger than {limit} bytes: split it"),
        ),
        BodyError::Unreadable(e) => EngineError::refused(
            ErrorCode::InvalidRequest,
            format!("could not read the body: {e}"),
        ),
        BodyError::Stalled(d) => EngineError::refused(ErrorCode::RequestTimeout, stalled_detail(d)),
    }
}

/// A query string that does not fit the endpoint's parameters: a 400 in the admin API's
/// shape, not actix's plain text.
pub fn query_error(e: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    EngineError::refused(
        ErrorCode::InvalidValue,
        format!("the query string is not valid here: {e}"),
    )
    .into()
}

/// Whether the client asked for CSV (`?format=csv` or `Accept: text/csv`).
pub fn wants_csv(req: &HttpRequest, format: Option<&str>) -> bool {
    format.is_some_and(|f| f.eq_ignore_ascii_case("csv"))
        || req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))
}

/// A CSV download.
pub fn csv_response(
    name: &str,
    header_row: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<HttpResponse, EngineError> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(header_row).map_err(EngineError::internal)?;
    for r in rows {
        w.write_record(&r).map_err(EngineError::internal)?;
    }
    let bytes = w.into_inner().map_err(EngineError::internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(bytes))
}
