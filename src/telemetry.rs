//! Structured logs through tracing; `RUST_LOG` picks the level (default `info`). Each request
//! runs in one span ([`RequestSpan`]) whose fields every log line of the request carries.

use std::io::IsTerminal;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::field::Empty;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in files and log collectors.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// The request span: request id, method, route, path, status and latency. The path is
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
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.status_code = Empty,
            latency_ms = Empty,
            request_id = %request_id,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        match outcome {
            Ok(response) => {
                span.record("http.status_code", response.status().as_u16());
                if let Some(started) = response.request().extensions().get::<Started>() {
                    let ms = u64::try_from(started.0.elapsed().as_millis()).unwrap_or(u64::MAX);
                    span.record("latency_ms", ms);
                }
            }
            Err(error) => {
                let status = error.as_response_error().status_code();
                span.record("http.status_code", status.as_u16());
            }
        }
    }
}
