//! Running a write again when it lost a race it could not have known of: the database gave
//! the transaction up to let another through (a deadlock, a serialization failure), or,
//! for a request that named no version, another request changed the resource between the
//! read and the conditional write. A client that sent `If-Match` gets its 412.

use std::future::Future;
use std::time::Duration;

use crate::scim::ScimError;

use super::error::{EngineError, ErrorCode, Fail, CONTENTION_RETRY_AFTER};
use super::synclog::{Ctx, Draft};
use super::Engine;

/// Runs of one write at most.
const ATTEMPTS: u32 = 4;

impl Engine {
    /// Runs one SCIM write: `run` gets a fresh log entry each time and hands it back with
    /// its result; a run that lost a race the client could not have known of runs again;
    /// the last result is settled (a failure's conflict and log entry recorded).
    /// `client_named_version`: the request sent `If-Match`, so a version race is its 412.
    pub(crate) async fn write_scim<T, F, Fut>(
        &self,
        account: i64,
        ctx: &Ctx,
        client_named_version: bool,
        draft: impl Fn() -> Draft,
        mut run: F,
    ) -> Result<T, ScimError>
    where
        F: FnMut(Draft) -> Fut,
        Fut: Future<Output = (Draft, Result<T, Fail>)>,
    {
        let mut attempt = 0;
        loop {
            let (done, r) = run(draft()).await;
            if let Err(f) = &r {
                if again(&f.error, client_named_version, &mut attempt).await {
                    continue;
                }
            }
            return self.settle(account, ctx, &done, r).await;
        }
    }
}

/// Whether a failed write is worth running again at once.
fn worth_again(e: &ScimError, client_named_version: bool) -> bool {
    match e {
        ScimError::Unavailable {
            retry_after_secs, ..
        } => *retry_after_secs == CONTENTION_RETRY_AFTER,
        ScimError::PreconditionFailed { .. } => !client_named_version,
        _ => false,
    }
}

/// Counts the attempt and, when the write should run again, waits a short, growing,
/// jittered pause first (so two colliding writers do not collide again).
async fn again(e: &ScimError, client_named_version: bool, attempt: &mut u32) -> bool {
    *attempt += 1;
    if *attempt >= ATTEMPTS || !worth_again(e, client_named_version) {
        return false;
    }
    pause(*attempt).await;
    true
}

/// The same for an admin operation (which names no version).
pub(crate) async fn again_admin(e: &EngineError, attempt: &mut u32) -> bool {
    *attempt += 1;
    if *attempt >= ATTEMPTS || e.code() != ErrorCode::Unavailable {
        return false;
    }
    pause(*attempt).await;
    true
}

async fn pause(attempt: u32) {
    let jitter = u64::from(rand::random::<u8>() % 20);
    tokio::time::sleep(Duration::from_millis(u64::from(attempt) * 10 + jitter)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_races_the_client_could_not_know_of_run_again() {
        let contention = ScimError::Unavailable {
            detail: "x".into(),
            retry_after_secs: CONTENTION_RETRY_AFTER,
        };
        let busy = ScimError::Unavailable {
            detail: "x".into(),
            retry_after_secs: super::super::error::BUSY_RETRY_AFTER,
        };
        let stale = ScimError::PreconditionFailed { detail: "x".into() };
        assert!(worth_again(&contention, true));
        assert!(!worth_again(&busy, false));
        assert!(worth_again(&stale, false));
        assert!(
            !worth_again(&stale, true),
            "If-Match was sent: 412 is the answer"
        );
        assert!(!worth_again(&ScimError::not_found("x"), false));
    }
}
