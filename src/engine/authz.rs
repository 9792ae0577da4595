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

/// `POST /admin/v1/admin-tokens/revoke`: one token, or all of the account's.
#[derive(Debug, Clone, serde::Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct RevokeAdminTokens {
    #[validate(length(min = 1, max = 4096, message = "token is an admin token"))]
    pub token: Option<String>,
    #[serde(default)]
    pub all: bool,
}

impl super::input::Input for RevokeAdminTokens {
    const FIELDS: &'static [&'static str] = &["token", "all"];
}

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
        schemas_version: ap.schemas_version,
    }
}

impl Engine {
    /// The admin-token signing secret, made unless it exists. Startup calls it, so that
    /// verifying a token never writes.
    pub async fn ensure_admin_secret(&self) -> Result<Vec<u8>, EngineError> {
        self.signing_secret(ADMIN_SECRET).await
    }

    async fn admin_secret(&self) -> Result<Vec<u8>, EngineError> {
        self.signing_secret(ADMIN_SECRET).await
    }

    /// A signing secret kept in the database (so every replica verifies what any replica
    /// signed). Made once, by whichever replica gets there first, and never changed: each
    /// replica reads it once and keeps it, so verifying a token costs no database read.
    pub(crate) async fn signing_secret(&self, name: &'static str) -> Result<Vec<u8>, EngineError> {
        if let Some(s) = self.secrets.lock().ok().and_then(|c| c.get(name).cloned()) {
            return Ok(s);
        }
        let stored = self.store.read().await?.secret(name).await?;
        let secret = match stored {
            Some(s) => s,
            None => {
                let mut tx = self.store.write().await?;
                let s = tx.ensure_secret(name, &crate::auth::new_token()).await?;
                tx.commit().await?;
                s
            }
        }
        .into_bytes();
        if let Ok(mut cache) = self.secrets.lock() {
            cache.insert(name, secret.clone());
        }
        Ok(secret)
    }

    /// Signs an admin token for the account.
    pub async fn issue_admin_token(
        &self,
        slug: &str,
        role: Role,
        ttl_hours: u32,
    ) -> Result<String, EngineError> {
        let account = self.account(slug).await?;
        // A token made in the same second as a revocation of all would count as revoked:
        // date it just after the cut-off.
        let cut_off = self
            .store
            .read()
            .await?
            .admin_tokens_after(account.id)
            .await?;
        let now = self.clock.now().timestamp().max(cut_off + 1);
        let claims = AdminClaims {
            sub: "admin".into(),
            account: account.slug,
            account_id: account.id,
            role,
            iss: jwt::ISSUER.into(),
            aud: jwt::AUDIENCE.into(),
            iat: now,
            nbf: now,
            exp: now + i64::from(ttl_hours.max(1)) * 3600,
            jti: crate::auth::new_token_id(),
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
        let account = match conn.account_by_slug(&claims.account).await? {
            Some(a) if a.id == claims.account_id => a,
            _ => {
                return Err(EngineError::unauthorized(
                    "the admin token's account no longer exists",
                ))
            }
        };
        if conn
            .admin_token_revoked(account.id, &claims.jti, claims.iat)
            .await?
        {
            return Err(EngineError::unauthorized(
                "the admin token was revoked; make another with `roster admin-token create`",
            ));
        }
        Ok(AdminPrincipal {
            account_id: account.id,
            account: account.slug,
            subject: claims.sub,
            role: claims.role,
            schemas_version: account.schemas_version,
        })
    }

    /// The admin API's revocation: an admin (not an auditor) revokes one of the account's
    /// admin tokens, or all of them (the caller's own included).
    pub async fn revoke_admin_tokens_as(
        &self,
        ap: &AdminPrincipal,
        input: &RevokeAdminTokens,
    ) -> Result<(), EngineError> {
        require_write(ap)?;
        self.revoke_admin_tokens(&ap.account, input.token.as_deref(), input.all)
            .await
    }

    /// Revokes one admin token (by the token itself, whose signature is checked first) or,
    /// with `all`, every admin token of the account issued until now.
    pub async fn revoke_admin_tokens(
        &self,
        slug: &str,
        token: Option<&str>,
        all: bool,
    ) -> Result<(), EngineError> {
        let account = self.account(slug).await?;
        let one = match (token, all) {
            (Some(token), false) => {
                let secret = self.admin_secret().await?;
                let claims = jwt::verify(&secret, token).map_err(|_| {
                    EngineError::invalid(
                        ErrorCode::InvalidValue,
                        "token",
                        "that is not a live admin token of this server (an expired one needs no revoking)",
                    )
                })?;
                if claims.account_id != account.id || claims.jti.is_empty() {
                    return Err(EngineError::invalid(
                        ErrorCode::InvalidValue,
                        "token",
                        "that token is not one of this account's, or predates token ids: revoke all instead",
                    ));
                }
                Some(claims)
            }
            (None, true) => None,
            _ => {
                return Err(EngineError::invalid(
                    ErrorCode::InvalidValue,
                    "token",
                    "name one token, or all",
                ))
            }
        };
        let mut tx = self.store.write().await?;
        match one {
            Some(claims) => {
                tx.revoke_admin_token(account.id, &claims.jti, claims.exp, &self.now())
                    .await?
            }
            None => {
                tx.revoke_admin_tokens_before(account.id, self.clock.now().timestamp())
                    .await?
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The account's admin, for the command line (whoever runs it owns the database).
    pub async fn cli_principal(&self, slug: &str) -> Result<AdminPrincipal, EngineError> {
        let account = self.account(slug).await?;
        Ok(AdminPrincipal {
            account_id: account.id,
            account: account.slug,
            subject: "cli".into(),
            role: Role::Admin,
            schemas_version: account.schemas_version,
        })
    }
}
