//! OAuth 2.0 client credentials (RFC 6749 §4.4) for connections whose identity provider asks
//! for them (Microsoft Entra's gallery): a connection gets a client id and secrets (shown
//! once, stored hashed; two can be live so that rotation needs no downtime); the token
//! endpoint trades them for an access token, a JWT Roster signs that names the connection
//! and the secret that minted it. Every SCIM request with one checks, in the same read as a
//! bearer token's lookup, that the secret is still live: revoking it (or the connection) ends
//! its tokens at once, on every replica.

use serde::Serialize;

use crate::auth::jwt::AdminPrincipal;
use crate::auth::jwt::{self, AccessClaims};
use crate::auth::{self, Principal};
use crate::scim::ScimError;

use super::authz::require_write;
use super::error::{EngineError, ErrorCode};
use super::synclog::{Change, Ctx};
use super::Engine;

/// The signing secret of access tokens, kept in the database so every replica verifies what
/// any replica issued.
const ACCESS_SECRET: &str = "oauth_access_hs256";
/// How long an access token lives unless the connection says otherwise: one hour.
pub const DEFAULT_TOKEN_TTL: i64 = 3600;
/// The range a connection may choose: 5 minutes to 6 hours.
pub const MIN_TOKEN_TTL: i64 = 300;
pub const MAX_TOKEN_TTL: i64 = 6 * 3600;

/// A new OAuth connection's credentials: in this answer only.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedClient {
    pub name: String,
    pub auth: &'static str,
    pub client_id: String,
    pub client_secret: String,
    pub secret_id: String,
    pub note: &'static str,
}

/// A further secret of a connection: in this answer only.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedSecret {
    pub secret_id: String,
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevokedSecret {
    pub revoked: String,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct AccessToken {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// Why the token endpoint refused (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    /// 401: unknown client, wrong or revoked secret.
    InvalidClient(String),
    /// 400: a parameter missing or repeated, or credentials sent twice.
    InvalidRequest(String),
    /// 400: a grant other than client_credentials.
    UnsupportedGrantType(String),
    /// 500: the cause is logged, never shown.
    Internal(String),
}

impl From<EngineError> for GrantError {
    fn from(e: EngineError) -> Self {
        GrantError::Internal(e.to_string())
    }
}

impl From<crate::store::StoreError> for GrantError {
    fn from(e: crate::store::StoreError) -> Self {
        GrantError::Internal(e.to_string())
    }
}

fn new_client_id() -> String {
    format!("rcl_{}", auth::new_token_id())
}

impl Engine {
    /// The access-token signing secret, made unless it exists (startup calls it).
    pub async fn ensure_access_secret(&self) -> Result<Vec<u8>, EngineError> {
        self.signing_secret(ACCESS_SECRET).await
    }

    async fn access_secret(&self) -> Result<Vec<u8>, EngineError> {
        self.signing_secret(ACCESS_SECRET).await
    }

    /// A new connection that authenticates with client credentials.
    pub async fn create_oauth_connection(
        &self,
        ap: &AdminPrincipal,
        name: &str,
        ctx: &Ctx,
    ) -> Result<CreatedClient, EngineError> {
        require_write(ap)?;
        let mut tx = self.store.write().await?;
        self.name_free(&mut tx, ap.account_id, name).await?;
        let client_id = new_client_id();
        let (secret_id, client_secret) = self
            .new_secret(&mut tx, ap.account_id, name, &client_id)
            .await?;
        self.log_secret_change(&mut tx, ap, ctx, name, "oauth client", &secret_id)
            .await?;
        tx.commit().await?;
        Ok(CreatedClient {
            name: name.to_string(),
            auth: "oauth",
            client_id,
            client_secret,
            secret_id,
            note: "shown once: store the client secret in the identity provider now",
        })
    }

    /// Refuses a name a live connection of the account has (bearer, OAuth or JWT).
    async fn name_free(
        &self,
        tx: &mut crate::store::WriteTx,
        account: i64,
        name: &str,
    ) -> Result<(), EngineError> {
        let taken = tx.client_id_of(account, name).await?.is_some()
            || tx.trusts_jwts(account, name).await?
            || tx
                .list_tokens(account)
                .await?
                .iter()
                .any(|t| t.name == name && t.revoked.is_none());
        if taken {
            return Err(EngineError::invalid(
                ErrorCode::Uniqueness,
                "name",
                format!("a connection '{name}' exists: choose another name"),
            ));
        }
        Ok(())
    }

    /// A new secret of a client id, stored hashed: its id and its value (shown once).
    async fn new_secret(
        &self,
        tx: &mut crate::store::WriteTx,
        account: i64,
        name: &str,
        client_id: &str,
    ) -> Result<(String, String), EngineError> {
        let (secret_id, client_secret) = (auth::new_token_id(), auth::new_token());
        tx.insert_secret(
            account,
            name,
            client_id,
            &secret_id,
            &auth::hash_token(&client_secret),
            &self.now(),
        )
        .await?;
        Ok((secret_id, client_secret))
    }

    /// A further live secret of an OAuth connection, for rotation.
    pub async fn add_client_secret(
        &self,
        ap: &AdminPrincipal,
        name: &str,
        ctx: &Ctx,
    ) -> Result<CreatedSecret, EngineError> {
        require_write(ap)?;
        let mut tx = self.store.write().await?;
        let client_id = tx.client_id_of(ap.account_id, name).await?.ok_or_else(|| {
            EngineError::not_found(format!("no OAuth connection '{name}' in this account"))
        })?;
        let (secret_id, client_secret) = self
            .new_secret(&mut tx, ap.account_id, name, &client_id)
            .await?;
        self.log_secret_change(&mut tx, ap, ctx, name, "client secret", &secret_id)
            .await?;
        tx.commit().await?;
        Ok(CreatedSecret {
            secret_id,
            client_id,
            client_secret,
        })
    }

    /// Revokes one secret of a connection: the access tokens it minted stop working at once.
    pub async fn revoke_client_secret(
        &self,
        ap: &AdminPrincipal,
        name: &str,
        id: &str,
        ctx: &Ctx,
    ) -> Result<RevokedSecret, EngineError> {
        require_write(ap)?;
        let mut tx = self.store.write().await?;
        if tx
            .revoke_secrets(ap.account_id, name, Some(id), &self.now())
            .await?
            == 0
        {
            return Err(EngineError::not_found(format!(
                "no live secret {id} of connection '{name}'"
            )));
        }
        let change = Change {
            attribute: "revoked client secret".into(),
            old: Some(serde_json::Value::String(id.to_string())),
            new: None,
        };
        self.log_connection(&mut tx, ap, ctx, name, change).await?;
        tx.commit().await?;
        Ok(RevokedSecret {
            revoked: id.to_string(),
        })
    }

    async fn log_secret_change(
        &self,
        tx: &mut crate::store::WriteTx,
        ap: &AdminPrincipal,
        ctx: &Ctx,
        name: &str,
        what: &str,
        secret_id: &str,
    ) -> Result<(), EngineError> {
        let change = Change {
            attribute: what.into(),
            old: None,
            new: Some(serde_json::json!({"secret_id": secret_id, "secret": "[redacted]"})),
        };
        self.log_connection(tx, ap, ctx, name, change).await
    }

    /// The token endpoint: client credentials for an access token.
    pub async fn grant(
        &self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<AccessToken, GrantError> {
        let refused = || {
            GrantError::InvalidClient(
                "the client id or secret is wrong, or the secret was revoked".into(),
            )
        };
        let presented = auth::hash_token(client_secret);
        let mut conn = self.store.read().await?;
        let secret = conn
            .client_secrets(client_id)
            .await?
            .into_iter()
            .find(|s| auth::hashes_match(&presented, &s.hash))
            .ok_or_else(refused)?;
        let owner = conn
            .secret_owner(secret.account_id, &secret.id)
            .await?
            .ok_or_else(refused)?;
        drop(conn);
        let ttl = owner.token_ttl_seconds.unwrap_or(DEFAULT_TOKEN_TTL);
        let now = self.clock.now().timestamp();
        let access_token = self
            .sign_access(
                client_id,
                owner.account.id,
                &owner.connection,
                &secret.id,
                now,
                ttl,
            )
            .await?;
        Ok(AccessToken {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn sign_access(
        &self,
        client_id: &str,
        account_id: i64,
        connection: &str,
        secret_id: &str,
        issued_at: i64,
        ttl: i64,
    ) -> Result<String, EngineError> {
        let claims = AccessClaims {
            sub: client_id.to_string(),
            account_id,
            connection: connection.to_string(),
            sid: secret_id.to_string(),
            iss: jwt::ISSUER.into(),
            aud: jwt::SCIM_AUDIENCE.into(),
            iat: issued_at,
            nbf: issued_at,
            exp: issued_at + ttl,
            jti: auth::new_token_id(),
        };
        let secret = self.access_secret().await?;
        jwt::issue_access(&secret, &claims).map_err(EngineError::internal)
    }

    /// An access token issued at a given moment (tests of expiry; the token endpoint always
    /// issues at now).
    pub async fn issue_access_token_at(
        &self,
        slug: &str,
        connection: &str,
        secret_id: &str,
        issued_at: i64,
        ttl_seconds: i64,
    ) -> Result<String, EngineError> {
        let account = self.account(slug).await?;
        let client_id = self
            .store
            .read()
            .await?
            .client_id_of(account.id, connection)
            .await?
            .ok_or_else(|| EngineError::not_found(format!("no OAuth connection '{connection}'")))?;
        self.sign_access(
            &client_id,
            account.id,
            connection,
            secret_id,
            issued_at,
            ttl_seconds,
        )
        .await
    }

    /// The principal an access token stands for: signature, issuer, audience and time
    /// checked, then its secret looked up live (one read, which also brings the connection's
    /// settings).
    pub(crate) async fn authenticate_access(&self, token: &str) -> Result<Principal, ScimError> {
        let unauthorized = || ScimError::Unauthorized {
            detail:
                "the access token is invalid, expired or revoked: get a new one from /oauth/token"
                    .into(),
        };
        match crate::auth::jwks::claimed_issuer(token) {
            Some(iss) if iss != jwt::ISSUER => {
                return self.authenticate_external(&iss, token).await
            }
            _ => {}
        }
        let secret = self
            .access_secret()
            .await
            .map_err(|e| ScimError::internal(e.to_string()))?;
        let claims = jwt::verify_access(&secret, token).map_err(|_| unauthorized())?;
        let owner = self
            .store
            .read()
            .await?
            .secret_owner(claims.account_id, &claims.sid)
            .await?
            .ok_or_else(unauthorized)?;
        if owner.connection != claims.connection {
            return Err(unauthorized());
        }
        self.remember_settings(owner.account.id, &owner.connection, &owner.settings)?;
        Ok(Principal {
            account_id: owner.account.id,
            schemas_version: owner.account.schemas_version,
            account: owner.account.slug,
            connection: owner.connection,
        })
    }

    /// A JWT an identity provider signed: the connections that trust its issuer are tried,
    /// each with its audience and its provider's keys.
    async fn authenticate_external(
        &self,
        issuer: &str,
        token: &str,
    ) -> Result<Principal, ScimError> {
        let trusts = self.store.read().await?.jwt_trusts(issuer).await?;
        for trust in trusts {
            match self
                .jwks
                .verify(&trust.jwks_url, token, issuer, &trust.audience)
                .await
            {
                Ok(_) => {
                    self.remember_settings(trust.account.id, &trust.connection, &trust.settings)?;
                    return Ok(Principal {
                        account_id: trust.account.id,
                        schemas_version: trust.account.schemas_version,
                        account: trust.account.slug,
                        connection: trust.connection,
                    });
                }
                Err(e) => {
                    tracing::info!(connection = %trust.connection, reason = %e, "an identity provider's JWT was refused");
                }
            }
        }
        Err(ScimError::Unauthorized {
            detail: "the token is not one Roster issued nor one a connection of this server trusts (issuer, audience, signature, expiry)".into(),
        })
    }

    /// A connection that trusts the JWTs its identity provider signs.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_jwt_connection(
        &self,
        ap: &AdminPrincipal,
        name: &str,
        issuer: &str,
        audience: &str,
        jwks_url: &str,
        ctx: &Ctx,
    ) -> Result<CreatedTrust, EngineError> {
        require_write(ap)?;
        let mut tx = self.store.write().await?;
        self.name_free(&mut tx, ap.account_id, name).await?;
        tx.put_jwt_trust(ap.account_id, name, issuer, audience, jwks_url, &self.now())
            .await?;
        let change = Change {
            attribute: "trusted issuer".into(),
            old: None,
            new: Some(
                serde_json::json!({"issuer": issuer, "audience": audience, "jwks_url": jwks_url}),
            ),
        };
        self.log_connection(&mut tx, ap, ctx, name, change).await?;
        tx.commit().await?;
        Ok(CreatedTrust {
            name: name.to_string(),
            auth: "jwt",
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            jwks_url: jwks_url.to_string(),
        })
    }
}

/// A new connection that trusts its identity provider's JWTs.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedTrust {
    pub name: String,
    pub auth: &'static str,
    pub issuer: String,
    pub audience: String,
    pub jwks_url: String,
}
