//! The conflicts queue: requests that could not complete because of another account's data
//! (an email in use) or of capacity (no free seat), with what the admin can do about each;
//! and the deprovisionings the guard holds for the admin (`deprovision_held`, one per hold,
//! the conflict's id being the hold's).

use serde::Serialize;

use crate::auth::jwt::AdminPrincipal;

use super::error::{EngineError, ErrorCode};
use super::seats::{GUIDANCE_EMAIL_IN_USE, GUIDANCE_NO_SEAT};
use super::Engine;

pub const GUIDANCE_DEPROVISION_HELD: &str = "A connection suspended or deleted more users within the deprovision_guard's window than the guard allows: its further deprovisionings are held, and those users keep their seats and access. Check them in GET /admin/v1/holds (this conflict's id is the hold's). If they are right, release the hold (POST /admin/v1/holds/ID/release); if not, fix the identity provider's scope or mapping, then discard it (POST /admin/v1/holds/ID/discard).";

#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    pub id: String,
    pub kind: String,
    pub user_name: Option<String>,
    pub email: Option<String>,
    pub product: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub attempts: i64,
    pub status: String,
    pub resolved_at: Option<String>,
    pub guidance: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConflictList {
    pub conflicts: Vec<ConflictView>,
}

impl Engine {
    /// The account's conflicts: `open`, `resolved`, or all of them.
    pub async fn conflicts(
        &self,
        ap: &AdminPrincipal,
        status: Option<&str>,
    ) -> Result<ConflictList, EngineError> {
        let status = match status {
            None | Some("") | Some("all") => None,
            Some(s @ ("open" | "resolved")) => Some(s),
            Some(_) => {
                return Err(EngineError::invalid(
                    ErrorCode::InvalidValue,
                    "status",
                    "status is open, resolved or all",
                ))
            }
        };
        let rows = self
            .store
            .read()
            .await?
            .list_conflicts(ap.account_id, status)
            .await?;
        Ok(ConflictList {
            conflicts: rows
                .into_iter()
                .map(|c| ConflictView {
                    guidance: match c.kind.as_str() {
                        "email_in_use" => GUIDANCE_EMAIL_IN_USE,
                        "deprovision_held" => GUIDANCE_DEPROVISION_HELD,
                        _ => GUIDANCE_NO_SEAT,
                    },
                    id: c.id,
                    kind: c.kind,
                    user_name: c.user_name,
                    email: c.email,
                    product: c.product,
                    first_seen: c.first_seen,
                    last_seen: c.last_seen,
                    attempts: c.attempts,
                    status: c.status,
                    resolved_at: c.resolved_at,
                })
                .collect(),
        })
    }
}
