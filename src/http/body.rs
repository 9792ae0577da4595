//! Request bodies read with a limit and a stall timeout: a body over the limit is refused as
//! soon as it is seen, never buffered whole, and one whose bytes stop coming is given up.

use std::time::Duration;

use actix_web::error::PayloadError;
use actix_web::web::{self, Bytes};
use actix_web::HttpRequest;
use futures_util::{Stream, StreamExt};

/// How long a body may go without a byte arriving. The composition root puts it in the app
/// data from the configuration; handlers read it with [`BodyTimeout::of`].
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

impl BodyTimeout {
    /// When the app was built without one (it never is by `startup`), the configuration's
    /// default.
    const FALLBACK: Duration = Duration::from_secs(30);

    pub fn of(req: &HttpRequest) -> Duration {
        req.app_data::<BodyTimeout>()
            .map_or(Self::FALLBACK, |t| t.0)
    }
}

#[derive(Debug)]
pub enum BodyError {
    /// Over the limit (bytes).
    TooLarge(usize),
    /// The connection failed while the body was read.
    Unreadable(String),
    /// No byte arrived for this long.
    Stalled(Duration),
}

/// What a client whose body stalled is told (the 408's message, in either surface's shape).
pub fn stalled_detail(stall: Duration) -> String {
    format!(
        "no byte of the request body arrived for {} s; send the whole body without pausing",
        stall.as_secs()
    )
}

/// Reads the whole body. `stall` bounds the wait for each next chunk, not the whole read: a
/// large body on a slow but live connection still arrives.
pub async fn read_bytes(
    mut payload: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    limit: usize,
    stall: Duration,
) -> Result<web::BytesMut, BodyError> {
    let mut body = web::BytesMut::new();
    loop {
        let next = actix_web::rt::time::timeout(stall, payload.next())
            .await
            .map_err(|_| BodyError::Stalled(stall))?;
        let Some(chunk) = next else {
            return Ok(body);
        };
        let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
}
