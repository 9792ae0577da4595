//! `POST /oauth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4). The body is
//! `application/x-www-form-urlencoded`; the client authenticates with HTTP Basic or with
//! `client_id` and `client_secret` in the body (§2.3.1), never both. Answers are §5.1 and
//! §5.2 JSON, never cached.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::json;

use crate::engine::oauth::GrantError;
use crate::engine::Engine;

use super::body::read_bytes;

/// Largest token request body.
const MAX_BODY: usize = 8 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/oauth/token", web::post().to(token));
}

async fn token(req: HttpRequest, payload: web::Payload, engine: web::Data<Engine>) -> HttpResponse {
    match grant(&req, payload, &engine).await {
        Ok(t) => no_store(HttpResponse::Ok()).json(t),
        Err(e) => refusal(&e),
    }
}

async fn grant(
    req: &HttpRequest,
    payload: web::Payload,
    engine: &Engine,
) -> Result<crate::engine::oauth::AccessToken, GrantError> {
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !form_type.is_some_and(|t| t.eq_ignore_ascii_case("application/x-www-form-urlencoded")) {
        return Err(GrantError::InvalidRequest(
            "send the parameters as application/x-www-form-urlencoded".into(),
        ));
    }
    let stall = super::body::BodyTimeout::of(req);
    let body = read_bytes(payload, MAX_BODY, stall)
        .await
        .map_err(|_| GrantError::InvalidRequest("the request body could not be read".into()))?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| GrantError::InvalidRequest("the body is not UTF-8 text".into()))?;
    let params = parse_form(text)?;
    let one = |name: &str| -> Result<Option<String>, GrantError> {
        let mut found = params.iter().filter(|(k, _)| k == name);
        match (found.next(), found.next()) {
            (Some(_), Some(_)) => Err(GrantError::InvalidRequest(format!(
                "the parameter {name} is repeated"
            ))),
            (Some((_, v)), None) => Ok(Some(v.clone())),
            _ => Ok(None),
        }
    };
    match one("grant_type")?.as_deref() {
        Some("client_credentials") => {}
        Some(other) => {
            return Err(GrantError::UnsupportedGrantType(format!(
                "grant_type {} is not supported: use client_credentials",
                crate::engine::synclog::clipped(other)
            )))
        }
        None => return Err(GrantError::InvalidRequest("grant_type is missing".into())),
    }
    let basic = basic_credentials(req)?;
    let body_creds = (one("client_id")?, one("client_secret")?);
    let (client_id, client_secret) = match (basic, body_creds) {
        (Some(_), (Some(_), _) | (_, Some(_))) => {
            return Err(GrantError::InvalidRequest(
                "send the client credentials once: in the Authorization header or in the body"
                    .into(),
            ))
        }
        (Some(pair), (None, None)) => pair,
        (None, (Some(id), Some(secret))) => (id, secret),
        (None, _) => {
            return Err(GrantError::InvalidRequest(
                "client authentication is missing: HTTP Basic, or client_id and client_secret"
                    .into(),
            ))
        }
    };
    engine.grant(&client_id, &client_secret).await
}

/// `Authorization: Basic base64(client_id:client_secret)`, each part form-urlencoded.
fn basic_credentials(req: &HttpRequest) -> Result<Option<(String, String)>, GrantError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || GrantError::InvalidClient("the Authorization header is not HTTP Basic".into());
    let text = value.to_str().map_err(|_| bad())?.trim();
    let (scheme, rest) = text.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let pair = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = pair.split_once(':').ok_or_else(bad)?;
    Ok(Some((decode(id)?, decode(secret)?)))
}

/// `a=b&c=d`, percent-decoded, `+` read as a space.
fn parse_form(text: &str) -> Result<Vec<(String, String)>, GrantError> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(text: &str) -> Result<String, GrantError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        GrantError::InvalidRequest("a bad %-escape in the body".into())
                    })?;
                out.push(hex);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| GrantError::InvalidRequest("the body is not UTF-8".into()))
}

fn no_store(mut b: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    b
}

/// RFC 6749 §5.2.
fn refusal(e: &GrantError) -> HttpResponse {
    let (status, code, description) = match e {
        GrantError::InvalidClient(d) => (StatusCode::UNAUTHORIZED, "invalid_client", d.as_str()),
        GrantError::InvalidRequest(d) => (StatusCode::BAD_REQUEST, "invalid_request", d.as_str()),
        GrantError::UnsupportedGrantType(d) => (
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            d.as_str(),
        ),
        GrantError::Internal(cause) => {
            tracing::error!(error = %cause, "internal error at the token endpoint");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal server error",
            )
        }
    };
    let mut resp = no_store(HttpResponse::build(status))
        .json(json!({"error": code, "error_description": description}));
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"roster\""),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode() {
        let p = parse_form("grant_type=client_credentials&client_id=a%2Bb&client_secret=x+y")
            .ok()
            .unwrap_or_default();
        assert_eq!(
            p,
            vec![
                ("grant_type".into(), "client_credentials".into()),
                ("client_id".into(), "a+b".into()),
                ("client_secret".into(), "x y".into())
            ]
        );
        assert!(parse_form("a=%zz").is_err());
        assert!(parse_form("a=%4").is_err());
    }
}
