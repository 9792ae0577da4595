//! Admin tokens: JWTs Roster signs itself (HS256), carrying the account and the role, and
//! expiring.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ISSUER: &str = "roster";
pub const AUDIENCE: &str = "roster-admin";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and changes everything in the account.
    Admin,
    /// Reads everything, changes nothing.
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminClaims {
    pub sub: String,
    pub account: String,
    pub account_id: i64,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    /// Not valid before (the issue time): a token dated in the future is refused.
    #[serde(default)]
    pub nbf: i64,
    pub exp: i64,
    /// The token's id, so that one token can be revoked. Tokens made before ids existed
    /// have none; revoking every token of the account still covers them.
    #[serde(default)]
    pub jti: String,
}

/// Who is calling the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPrincipal {
    pub account_id: i64,
    pub account: String,
    pub subject: String,
    pub role: Role,
    /// The account's schema number when the token was checked.
    pub schemas_version: i64,
}

pub fn issue(secret: &[u8], claims: &AdminClaims) -> Result<String, jsonwebtoken::errors::Error> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
}

/// Checks signature, issuer, audience, expiry and not-before. Whether the token was
/// revoked is the caller's question (it is in the database).
pub fn verify(secret: &[u8], token: &str) -> Result<AdminClaims, jsonwebtoken::errors::Error> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.validate_nbf = true;
    v.leeway = 30;
    Ok(decode::<AdminClaims>(token, &DecodingKey::from_secret(secret), &v)?.claims)
}

/// The audience of the access tokens the OAuth token endpoint issues: the SCIM API.
pub const SCIM_AUDIENCE: &str = "roster-scim";

/// An OAuth access token (RFC 6749 §4.4): which connection of which account, through which
/// client secret (revoking that secret ends the token), until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The client id.
    pub sub: String,
    pub account_id: i64,
    pub connection: String,
    /// The id of the client secret that minted the token.
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
}

pub fn issue_access(
    secret: &[u8],
    claims: &AccessClaims,
) -> Result<String, jsonwebtoken::errors::Error> {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
}

/// Checks an access token's signature, issuer, audience, expiry and not-before (no leeway
/// beyond 30 s of clock skew).
pub fn verify_access(
    secret: &[u8],
    token: &str,
) -> Result<AccessClaims, jsonwebtoken::errors::Error> {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[SCIM_AUDIENCE]);
    v.validate_nbf = true;
    v.leeway = 30;
    Ok(decode::<AccessClaims>(token, &DecodingKey::from_secret(secret), &v)?.claims)
}

/// Whether a bearer credential is a JWT (three base64url parts) rather than an `rst_` token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3 && token.starts_with("eyJ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AdminClaims {
        AdminClaims {
            sub: "admin".into(),
            account: "acme".into(),
            account_id: 1,
            role: Role::Auditor,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: 0,
            nbf: 0,
            exp,
            jti: "t1".into(),
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let now = chrono::Utc::now().timestamp();
        let t = issue(b"k1", &claims(now + 60)).unwrap();
        assert_eq!(verify(b"k1", &t).unwrap().role, Role::Auditor);
        assert!(verify(b"k2", &t).is_err(), "another key");
        let old = issue(b"k1", &claims(now - 3600)).unwrap();
        assert!(verify(b"k1", &old).is_err(), "expired");
        assert!(verify(b"k1", "not.a.jwt").is_err());
        let early = issue(
            b"k1",
            &AdminClaims {
                nbf: now + 3600,
                ..claims(now + 7200)
            },
        )
        .unwrap();
        assert!(verify(b"k1", &early).is_err(), "not valid yet");
    }
}
