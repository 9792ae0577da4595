//! JWTs an identity provider signs itself (Entra's "blank secret" mode): its published keys
//! (a JWKS document) fetched, cached, and fetched again when a token names a key id the
//! cache does not hold (the provider rotated its keys), at most once a second per URL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// How long fetched keys are kept before they are fetched again.
const KEEP: Duration = Duration::from_secs(600);
/// The least time between two fetches of one URL (an unknown key id does not make every
/// request fetch).
const REFETCH_AFTER: Duration = Duration::from_secs(1);
/// Signature algorithms accepted from identity providers: asymmetric only.
const ALGORITHMS: [Algorithm; 5] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the key set at {0} could not be fetched: {1}")]
    Fetch(String, String),
    #[error("no key {0:?} in the key set")]
    UnknownKey(Option<String>),
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

/// The claims Roster reads from an identity provider's token.
#[derive(Debug, Deserialize)]
pub struct ExternalClaims {
    pub iss: String,
    pub exp: i64,
}

/// The issuer a token says it comes from, read without checking anything (only to choose
/// which connection's keys check it).
pub fn claimed_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    let mut v = Validation::new(Algorithm::HS256);
    v.insecure_disable_signature_validation();
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    decode::<Iss>(token, &DecodingKey::from_secret(&[]), &v)
        .ok()
        .map(|d| d.claims.iss)
}

pub struct KeyCache {
    http: reqwest::Client,
    sets: Mutex<HashMap<String, (Instant, JwkSet)>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            sets: Mutex::new(HashMap::new()),
        }
    }
}

impl KeyCache {
    /// Checks a token against the keys at `url`: signature, issuer, audience, expiry.
    pub async fn verify(
        &self,
        url: &str,
        token: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<ExternalClaims, JwksError> {
        let header = decode_header(token).map_err(|e| JwksError::Invalid(e.to_string()))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(JwksError::Invalid(format!(
                "{:?} is not accepted: only RS256/384/512 and ES256/384",
                header.alg
            )));
        }
        let key = self.key(url, header.kid.as_deref()).await?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[issuer]);
        v.set_audience(&[audience]);
        v.validate_nbf = true;
        v.leeway = 60;
        decode::<ExternalClaims>(token, &key, &v)
            .map(|d| d.claims)
            .map_err(|e| JwksError::Invalid(e.to_string()))
    }

    async fn key(&self, url: &str, kid: Option<&str>) -> Result<DecodingKey, JwksError> {
        let cached = self.cached(url);
        if let Some((at, set)) = &cached {
            if at.elapsed() < KEEP {
                if let Some(k) = pick(set, kid) {
                    return Ok(k);
                }
                if at.elapsed() < REFETCH_AFTER {
                    return Err(JwksError::UnknownKey(kid.map(str::to_string)));
                }
            }
        }
        let set = self.fetch(url).await?;
        let found = pick(&set, kid);
        if let Ok(mut sets) = self.sets.lock() {
            sets.insert(url.to_string(), (Instant::now(), set));
        }
        found.ok_or_else(|| JwksError::UnknownKey(kid.map(str::to_string)))
    }

    fn cached(&self, url: &str) -> Option<(Instant, JwkSet)> {
        self.sets.lock().ok()?.get(url).cloned()
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, JwksError> {
        let fail = |e: reqwest::Error| JwksError::Fetch(url.to_string(), e.to_string());
        self.http
            .get(url)
            .send()
            .await
            .map_err(fail)?
            .error_for_status()
            .map_err(fail)?
            .json::<JwkSet>()
            .await
            .map_err(fail)
    }
}

/// The key a token names (or the only key, when it names none).
fn pick(set: &JwkSet, kid: Option<&str>) -> Option<DecodingKey> {
    let jwk = match kid {
        Some(kid) => set.find(kid)?,
        None if set.keys.len() == 1 => set.keys.first()?,
        None => return None,
    };
    DecodingKey::from_jwk(jwk).ok()
}
