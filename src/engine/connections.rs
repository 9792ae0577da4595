//! Identity-provider connections: each a name and its bearer tokens (random, shown once,
//! stored hashed, revocable), and the SCIM authentication that turns a token into the
//! account it acts for. Their rate limits and allowed networks are in `limits.rs`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::auth::jwt::AdminPrincipal;
use crate::auth::{self, Principal};
use crate::scim::ScimError;
use crate::store::WriteTx;

use super::authz::require_write;
use super::error::EngineError;
use super::limits::Policy;
use super::synclog::{Change, Ctx, Draft};
use super::Engine;

/// `POST /admin/v1/connections`.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    /// The connection's name, e.g. `okta-prod`.
    #[validate(custom(
        function = "super::input::connection_name",
        code = "invalid_value",
        message = "name is the connection's name, e.g. okta-prod (at most 100 characters)"
    ))]
    pub name: String,
    /// `bearer` (the default: a token, as `roster token create` makes) or `oauth` (a client
    /// id and secret for the token endpoint).
    #[validate(custom(
        function = "auth_kind",
        code = "invalid_value",
        message = "auth is bearer or oauth"
    ))]
    pub auth: Option<String>,
    /// With `auth: jwt`: the issuer (`iss`) the identity provider's tokens carry.
    #[validate(length(
        min = 1,
        max = 1024,
        message = "issuer is the iss of the identity provider's tokens"
    ))]
    pub issuer: Option<String>,
    /// With `auth: jwt`: the audience (`aud`) they must name.
    #[validate(length(
        min = 1,
        max = 1024,
        message = "audience is the aud the tokens must name"
    ))]
    pub audience: Option<String>,
    /// With `auth: jwt`: where the identity provider publishes its keys (a JWKS document).
    #[validate(custom(
        function = "web_url",
        code = "invalid_value",
        message = "jwks_url is an http:// or https:// URL"
    ))]
    pub jwks_url: Option<String>,
}

fn web_url(url: &str) -> Result<(), validator::ValidationError> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && !url.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(validator::ValidationError::new("invalid_value"))
    }
}

fn auth_kind(kind: &str) -> Result<(), validator::ValidationError> {
    match kind {
        "bearer" | "oauth" | "jwt" => Ok(()),
        _ => Err(validator::ValidationError::new("invalid_value")),
    }
}

impl super::input::Input for NewConnection {
    const FIELDS: &'static [&'static str] = &["name", "auth", "issuer", "audience", "jwks_url"];
}

/// What creating a connection answers: a bearer token, or OAuth client credentials.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Created {
    Bearer(CreatedConnection),
    OAuth(super::oauth::CreatedClient),
    Jwt(super::oauth::CreatedTrust),
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    /// The token's id, or the OAuth secret's.
    pub id: String,
    pub name: String,
    /// `bearer` (a token) or `oauth` (a client secret of `client_id`).
    pub auth: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub created: String,
    pub status: &'static str,
    pub revoked_at: Option<String>,
    /// Requests per second (burst twice that): its own or the server's default.
    pub rate_limit_per_second: u32,
    /// `connection` or `default`.
    pub rate_limit_source: &'static str,
    /// CIDRs requests may come from; empty: anywhere.
    pub allowed_networks: Vec<String>,
    /// The time of the connection's latest sync-log entry.
    pub last_activity: Option<String>,
}

/// One credential of a connection: id, connection name, auth kind, client id, created,
/// revoked.
type Credential = (
    String,
    String,
    &'static str,
    Option<String>,
    String,
    Option<String>,
);

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionView>,
}

/// A new connection's token: in this answer only.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedConnection {
    pub name: String,
    pub token: String,
    pub note: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Revoked {
    pub revoked: u64,
}

impl Engine {
    /// A new bearer token for a named connection of the account; shown once, stored hashed.
    pub async fn create_token(&self, slug: &str, name: &str) -> Result<String, EngineError> {
        let mut tx = self.store.write().await?;
        let account = account_in(&mut tx, slug).await?;
        let token = self.insert_token(&mut tx, account, name).await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn insert_token(
        &self,
        tx: &mut WriteTx,
        account: i64,
        name: &str,
    ) -> Result<String, EngineError> {
        let token = auth::new_token();
        tx.insert_token(
            account,
            &auth::new_token_id(),
            name,
            &auth::hash_token(&token),
            &self.now(),
        )
        .await?;
        Ok(token)
    }

    /// Revokes the live tokens of a connection, by connection name or token id.
    pub async fn revoke_token(&self, slug: &str, id_or_name: &str) -> Result<u64, EngineError> {
        let mut tx = self.store.write().await?;
        let account = account_in(&mut tx, slug).await?;
        let n = self
            .revoke_tokens(&mut tx, account, slug, id_or_name)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn revoke_tokens(
        &self,
        tx: &mut WriteTx,
        account: i64,
        slug: &str,
        id_or_name: &str,
    ) -> Result<u64, EngineError> {
        let n = tx.revoke_tokens(account, id_or_name, &self.now()).await?;
        if n == 0 {
            return Err(EngineError::not_found(format!(
                "no live token '{id_or_name}' in account '{slug}'"
            )));
        }
        Ok(n)
    }

    pub async fn list_tokens(
        &self,
        slug: &str,
    ) -> Result<Vec<crate::store::accounts::TokenInfo>, EngineError> {
        let account = self.account(slug).await?;
        Ok(self.store.read().await?.list_tokens(account.id).await?)
    }

    /// The principal a bearer token (or an OAuth access token) stands for.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ScimError> {
        if crate::auth::jwt::looks_like_jwt(token) {
            return self.authenticate_access(token).await;
        }
        let hash = auth::hash_token(token);
        let found = self.store.read().await?.token_by_hash(&hash).await?;
        match found {
            Some(owner) if auth::hashes_match(&hash, &owner.hash) => {
                // The settings come with the token (one statement): the admission check
                // right after authentication reads them from this replica's cache.
                self.remember_settings(owner.account.id, &owner.connection, &owner.settings)?;
                Ok(Principal {
                    account_id: owner.account.id,
                    schemas_version: owner.account.schemas_version,
                    account: owner.account.slug,
                    connection: owner.connection,
                })
            }
            _ => Err(ScimError::Unauthorized {
                detail: "the bearer token is missing, unknown or revoked".into(),
            }),
        }
    }

    pub async fn connections(&self, ap: &AdminPrincipal) -> Result<ConnectionList, EngineError> {
        let tokens = self.list_tokens(&ap.account).await?;
        let secrets = self.store.read().await?.list_secrets(ap.account_id).await?;
        let trusts = self
            .store
            .read()
            .await?
            .jwt_connections(ap.account_id)
            .await?;
        let policies = self.limits_by_name(ap.account_id).await?;
        // Every credential of the account, bearer tokens and OAuth secrets alike.
        let rows: Vec<Credential> = tokens
            .into_iter()
            .map(|t| (t.id, t.name, "bearer", None, t.created, t.revoked))
            .chain(secrets.into_iter().map(|s| {
                (
                    s.id,
                    s.connection,
                    "oauth",
                    Some(s.client_id),
                    s.created,
                    s.revoked,
                )
            }))
            .chain(
                trusts
                    .into_iter()
                    .map(|(name, since)| (name.clone(), name, "jwt", None, since, None)),
            )
            .collect();
        let mut activity: HashMap<String, Option<String>> = HashMap::new();
        {
            let mut conn = self.store.read().await?;
            for (_, name, ..) in &rows {
                if !activity.contains_key(name) {
                    let at = conn
                        .last_activity(ap.account_id, &format!("connection:{name}"))
                        .await?;
                    activity.insert(name.clone(), at);
                }
            }
        }
        let default = Policy::default();
        Ok(ConnectionList {
            connections: rows
                .into_iter()
                .map(|(id, name, auth, client_id, created, revoked)| {
                    let limits = self.limits_view(&name, policies.get(&name).unwrap_or(&default));
                    ConnectionView {
                        status: if revoked.is_some() { "revoked" } else { "live" },
                        id,
                        auth,
                        client_id,
                        last_activity: activity.get(&name).cloned().flatten(),
                        name,
                        created,
                        revoked_at: revoked,
                        rate_limit_per_second: limits.rate_limit_per_second,
                        rate_limit_source: limits.rate_limit_source,
                        allowed_networks: limits.allowed_networks,
                    }
                })
                .collect(),
        })
    }

    /// A new bearer token for a named connection; the token is in this answer only. The token
    /// and its log entry commit together.
    pub async fn create_connection(
        &self,
        ap: &AdminPrincipal,
        input: &NewConnection,
        ctx: &Ctx,
    ) -> Result<Created, EngineError> {
        require_write(ap)?;
        let name = input.name.trim().to_string();
        match input.auth.as_deref() {
            Some("oauth") => {
                return Ok(Created::OAuth(
                    self.create_oauth_connection(ap, &name, ctx).await?,
                ))
            }
            Some("jwt") => {
                let (Some(issuer), Some(audience), Some(jwks_url)) =
                    (&input.issuer, &input.audience, &input.jwks_url)
                else {
                    return Err(EngineError::invalid(
                        super::error::ErrorCode::InvalidValue,
                        "issuer",
                        "a jwt connection names issuer, audience and jwks_url",
                    ));
                };
                return Ok(Created::Jwt(
                    self.create_jwt_connection(ap, &name, issuer, audience, jwks_url, ctx)
                        .await?,
                ));
            }
            _ => {}
        }
        let mut tx = self.store.write().await?;
        let token = self.insert_token(&mut tx, ap.account_id, &name).await?;
        let change = Change {
            attribute: "token".into(),
            old: None,
            new: Some(serde_json::Value::String("[redacted]".into())),
        };
        self.log_connection(&mut tx, ap, ctx, &name, change).await?;
        tx.commit().await?;
        Ok(Created::Bearer(CreatedConnection {
            name,
            token,
            note: "shown once: store it in the identity provider now",
        }))
    }

    /// Revokes a connection's live tokens, by connection name or token id; the revocation and
    /// its log entry commit together.
    pub async fn revoke_connection(
        &self,
        ap: &AdminPrincipal,
        id_or_name: &str,
        ctx: &Ctx,
    ) -> Result<Revoked, EngineError> {
        require_write(ap)?;
        let mut tx = self.store.write().await?;
        // A connection's OAuth secrets go with it: its access tokens fail at once.
        let secrets = tx
            .revoke_secrets(ap.account_id, id_or_name, None, &self.now())
            .await?;
        let tokens = tx
            .revoke_tokens(ap.account_id, id_or_name, &self.now())
            .await?;
        let trust = tx
            .end_jwt_trust(ap.account_id, id_or_name, &self.now())
            .await?;
        let n = tokens + secrets + trust;
        if n == 0 {
            return Err(EngineError::not_found(format!(
                "no live token or secret of '{id_or_name}' in account '{}'",
                ap.account
            )));
        }
        let change = Change {
            attribute: "revoked tokens and secrets".into(),
            old: None,
            new: Some(serde_json::Value::from(n)),
        };
        self.log_connection(&mut tx, ap, ctx, id_or_name, change)
            .await?;
        tx.commit().await?;
        Ok(Revoked { revoked: n })
    }

    /// The sync-log entry of an admin action on a connection, in its transaction.
    pub(super) async fn log_connection(
        &self,
        tx: &mut WriteTx,
        ap: &AdminPrincipal,
        ctx: &Ctx,
        subject: &str,
        change: Change,
    ) -> Result<(), EngineError> {
        let mut draft = Draft::new(None, "connection", Some(subject));
        draft.resource_type = Some("Connection");
        draft.changes = vec![change];
        self.log_in(tx, ap.account_id, ctx, &draft, 200).await?;
        Ok(())
    }
}

/// The id of the account with this slug, or `not_found`.
async fn account_in(tx: &mut WriteTx, slug: &str) -> Result<i64, EngineError> {
    Ok(tx
        .account_by_slug(slug)
        .await?
        .ok_or_else(|| EngineError::not_found(format!("no account '{slug}'")))?
        .id)
}
