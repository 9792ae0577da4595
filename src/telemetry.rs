//! Structured logs through tracing; `RUST_LOG` picks the level (default `info`, with SQL
//! statements and the HTTP framework's start-up lines held back to warnings). Each request
//! runs in one span ([`RequestSpan`]) whose fields every log line of the request carries, and
//! ends with one access line (target `roster::access`) whose request id the response carries
//! in `x-request-id`.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::field::Empty;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::http::Actor;

/// Targets quieter than the rest unless `RUST_LOG` names them: sqlx logs every statement
/// (at debug, slow ones at info) and actix_server its workers starting and stopping.
const QUIET: [&str; 2] = ["sqlx", "actix_server"];

pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in files and log collectors.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// `RUST_LOG` (default `info`), with `sqlx` and `actix_server` at `warn` unless it names them.
fn filter(rust_log: Option<&str>) -> EnvFilter {
    let given = rust_log.map(str::trim).filter(|s| !s.is_empty());
    let mut directives: Vec<String> = vec![given.unwrap_or("info").to_string()];
    for target in QUIET {
        let named = given.is_some_and(|g| g.split(',').any(|d| d.trim().starts_with(target)));
        if !named {
            directives.push(format!("{target}=warn"));
        }
    }
    EnvFilter::builder().parse_lossy(directives.join(","))
}

/// The request span: request id, method, route, path, actor, status and latency. The path is
/// recorded without its query string, which can hold personal data (SCIM filters name email
/// addresses); the error's text is not recorded either (tracing-actix-web logs the error
/// itself, once, when the request fails).
pub struct RequestSpan;

/// When the request came in, kept in its extensions for the latency.
struct Started(Instant);

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Started(Instant::now()));
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        tracing::info_span!(
            "HTTP request",
            method = %request.method(),
            http.route = %route,
            path = %request.path(),
            actor = Empty,
            http.status_code = Empty,
            latency_ms = Empty,
            request_id = %request_id,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                span.record("http.status_code", status);
                let request = response.request();
                let extensions = request.extensions();
                let ms = extensions.get::<Started>().map_or(0, |s| {
                    u64::try_from(s.0.elapsed().as_millis()).unwrap_or(u64::MAX)
                });
                span.record("latency_ms", ms);
                let request_id = extensions
                    .get::<RequestId>()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                // The access line stands alone (no span prefix): it already says everything.
                match extensions.get::<Actor>() {
                    Some(actor) => tracing::info!(
                        target: "roster::access",
                        parent: None,
                        method = %request.method(),
                        path = %request.path(),
                        status,
                        latency_ms = ms,
                        request_id = %request_id,
                        actor = %actor.0,
                        "request"
                    ),
                    None => tracing::info!(
                        target: "roster::access",
                        parent: None,
                        method = %request.method(),
                        path = %request.path(),
                        status,
                        latency_ms = ms,
                        request_id = %request_id,
                        "request"
                    ),
                }
            }
            Err(error) => {
                // An error no handler turned into a response (none of Roster's do): logged
                // inside the span, which names the request.
                let status = error.as_response_error().status_code().as_u16();
                span.record("http.status_code", status);
                tracing::info!(target: "roster::access", status, "request");
            }
        }
    }
}

/// Middleware inside `TracingLogger`: every response, errors included, carries the request's
/// id in `x-request-id`, the id of its log lines and its sync-log entry.
pub async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    // Copied out: the request itself must not be shared while the inner service runs.
    let id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| HeaderValue::from_str(&id.to_string()).ok());
    let name = HeaderName::from_static("x-request-id");
    match next.call(req).await {
        Ok(mut response) => {
            if let Some(id) = id {
                response.headers_mut().insert(name, id);
            }
            Ok(response)
        }
        Err(e) => {
            let mut response = e.error_response();
            if let Some(id) = id {
                response.headers_mut().insert(name, id);
            }
            Err(InternalError::from_response(e, response).into())
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sql_and_startup_lines_are_quiet_unless_named() {
        let f = super::filter(None).to_string();
        assert!(
            f.contains("sqlx=warn") && f.contains("actix_server=warn"),
            "{f}"
        );
        let f = super::filter(Some("debug")).to_string();
        assert!(f.contains("sqlx=warn") && f.contains("debug"), "{f}");
        let f = super::filter(Some("info,sqlx=debug")).to_string();
        assert!(f.contains("sqlx=debug") && !f.contains("sqlx=warn"), "{f}");
    }
}
