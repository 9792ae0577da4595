//! Who may do what: admin tokens issued and verified (on a read connection: verifying never
//! waits for the writer), the command line's principal, and the rule that an auditor reads
//! while an admin also writes.

use crate::auth::jwt::{self, AdminClaims, AdminPrincipal, Role};
use crate::auth::Principal;

use super::error::{EngineError, ErrorCode};
use super::Engine;

/// The name of the HS256 secret admin tokens are signed with, kept in the database so every
/// replica verifies what any replica issued.
const ADMIN_SECRET: &str = "admin_jwt_hs256";

/// Fails unless the principal may change things.
pub(crate) fn require_write(ap: &AdminPrincipal) -> Result<(), EngineError> {
    match ap.role {
        Role::Admin => Ok(()),
        Role::Auditor => Err(EngineError::refused(
            ErrorCode::Forbidden,
            "this is an auditor token: it can read everything and change nothing",
        )),
    }
}

/// The SCIM principal an admin acts as when a change goes through the SCIM write path.
pub(crate) fn as_scim(ap: &AdminPrincipal) -> Principal {
    Principal {
        account_id: ap.account_id,
        account: ap.account.clone(),
        connection: format!("admin:{}", ap.subject),
    }
}

impl Engine {
    /// Makes the signing secret unless it exists (by whichever replica gets there first).
    /// Startup calls it, so that verifying a token only ever reads.
    pub async fn ensure_admin_secret(&self) -> Result<Vec<u8>, EngineError> {
        let mut tx = self.store.write().await?;
        let secret = tx
            .ensure_secret(ADMIN_SECRET, &crate::auth::new_token())
            .await?;
        tx.commit().await?;
        Ok(secret.into_bytes())
    }

    /// The signing secret, read on a read connection (made here only if startup did not).
    async fn admin_secret(&self) -> Result<Vec<u8>, EngineError> {
        match self.store.read().await?.secret(ADMIN_SECRET).await? {
            Some(secret) => Ok(secret.into_bytes()),
            None => self.ensure_admin_secret().await,
        }
    }

    /// Signs an admin token for the account.
    pub async fn issue_admin_token(
        &self,
        slug: &str,
        role: Role,
        ttl_hours: u32,
    ) -> Result<String, EngineError> {
        let account = self.account(slug).await?;
        let now = self.clock.now().timestamp();
        let claims = AdminClaims {
            sub: "admin".into(),
            account: account.slug,
            account_id: account.id,
            role,
            iss: jwt::ISSUER.into(),
            aud: jwt::AUDIENCE.into(),
            iat: now,
            exp: now + i64::from(ttl_hours.max(1)) * 3600,
        };
        let secret = self.admin_secret().await?;
        jwt::issue(&secret, &claims).map_err(EngineError::internal)
    }

    /// The admin a token stands for.
    pub async fn authenticate_admin(&self, token: &str) -> Result<AdminPrincipal, EngineError> {
        let secret = self.admin_secret().await?;
        let claims = jwt::verify(&secret, token).map_err(|_| {
            EngineError::unauthorized(
                "the admin token is missing, invalid or expired; make one with `roster admin-token create`",
            )
        })?;
        let mut conn = self.store.read().await?;
        match conn.account_by_slug(&claims.account).await? {
            Some(a) if a.id == claims.account_id => Ok(AdminPrincipal {
                account_id: a.id,
                account: a.slug,
                subject: claims.sub,
                role: claims.role,
            }),
            _ => Err(EngineError::unauthorized(
                "the admin token's account no longer exists",
            )),
        }
    }

    /// The account's admin, for the command line (whoever runs it owns the database).
    pub async fn cli_principal(&self, slug: &str) -> Result<AdminPrincipal, EngineError> {
        let account = self.account(slug).await?;
        Ok(AdminPrincipal {
            account_id: account.id,
            account: account.slug,
            subject: "cli".into(),
            role: Role::Admin,
        })
    }
}
