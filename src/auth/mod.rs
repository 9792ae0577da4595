//! Bearer tokens: made random, shown once, stored only as a SHA-256 hash, and compared in
//! constant time. The token alone decides the account.

pub mod jwks;
pub mod jwt;

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Who is calling: an IdP connection of one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub account_id: i64,
    pub account: String,
    /// The connection's name, e.g. "okta-prod".
    pub connection: String,
    /// The account's schema number when the credential was checked (it picks the account's
    /// schema extensions).
    pub schemas_version: i64,
}

/// A new token: `rst_` and 43 URL-safe characters (256 random bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut s = String::from("rst_");
    s.push_str(&base64url(&bytes));
    s
}

/// A random secret: `prefix` and 43 URL-safe characters (256 random bits), for the console's
/// sign-in links, sessions and form tokens.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let mut s = String::from(prefix);
    s.push_str(&base64url(&bytes));
    s
}

/// A short random id for a token row.
pub fn new_token_id() -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares a presented token's hash with a stored one without leaking where they differ.
pub fn hashes_match(presented: &str, stored: &str) -> bool {
    presented.as_bytes().ct_eq(stored.as_bytes()).into()
}

/// The token of an `Authorization: Bearer ...` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim();
    (!token.is_empty()).then_some(token)
}

/// The SCIM token of an `Authorization` header value: `Bearer TOKEN` (the scheme in any
/// case) or, as Okta's "Header" authentication sends it, the bare `TOKEN`. Any other scheme
/// (`Basic ...`) is no token.
pub fn scim_token(header: &str) -> Option<&str> {
    let header = header.trim();
    match header.split_once(char::is_whitespace) {
        Some((scheme, rest)) => {
            let token = rest.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
        }
        // A lone "Bearer" is a scheme without its token, not a token.
        None if header.is_empty() || header.eq_ignore_ascii_case("bearer") => None,
        None => Some(header),
    }
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = ((n >> (18 - 6 * i)) & 63) as usize;
            out.push(ALPHABET[idx] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with("rst_"));
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert!(hashes_match(&hash_token(&a), &hash_token(&a)));
        assert!(!hashes_match(&hash_token(&a), &hash_token(&b)));
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn scim_token_takes_bearer_or_the_bare_token() {
        assert_eq!(scim_token("Bearer abc"), Some("abc"));
        assert_eq!(scim_token("BEARER\tabc"), Some("abc"));
        assert_eq!(scim_token(" rst_abc "), Some("rst_abc"));
        assert_eq!(scim_token("Basic abc"), None);
        assert_eq!(scim_token("Bearer"), None);
        assert_eq!(scim_token("bearer "), None);
        assert_eq!(scim_token(""), None);
        assert_eq!(scim_token("rst_a rst_b"), None);
    }
}
