//! Request bodies read with a limit: a body over it is refused as soon as it is seen, never
//! buffered whole.

use actix_web::error::PayloadError;
use actix_web::web::{self, Bytes};
use futures_util::{Stream, StreamExt};

#[derive(Debug)]
pub enum BodyError {
    /// Over the limit (bytes).
    TooLarge(usize),
    /// The connection failed while the body was read.
    Unreadable(String),
}

pub async fn read_bytes(
    mut payload: impl Stream<Item = Result<Bytes, PayloadError>> + Unpin,
    limit: usize,
) -> Result<web::BytesMut, BodyError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| BodyError::Unreadable(e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
