//! Connections that trust JWTs their identity provider signs (Entra's "blank secret" mode):
//! the provider's keys served by a JWKS server the test starts on loopback, tokens signed
//! with keys made in the test.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use base64::Engine as _;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::TestApp;

const ISSUER: &str = "https://sts.example.test/tenant-1/";
const AUDIENCE: &str = "roster-app";

/// A signing key of the identity provider: its private half for the test, its public half
/// as a JWK.
struct ProviderKey {
    kid: String,
    private: EncodingKey,
    jwk: Value,
}

fn provider_key(kid: &str) -> ProviderKey {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = pair.public_key_raw();
    // An uncompressed point: 0x04, then x and y, 32 bytes each.
    let (x, y) = raw[1..].split_at(32);
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    ProviderKey {
        kid: kid.to_string(),
        private: EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).unwrap(),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y), "kid": kid, "alg": "ES256", "use": "sig"}),
    }
}

/// Serves whatever key set the test puts in `keys`, at `/keys`.
async fn jwks_server(keys: Arc<Mutex<Value>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let keys = keys.clone();
        App::new().route(
            "/keys",
            web::get().to(move || {
                let keys = keys.clone();
                async move { HttpResponse::Ok().json(keys.lock().unwrap().clone()) }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}/keys")
}

fn token(key: &ProviderKey, iss: &str, aud: &str, exp_in: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    encode(
        &header,
        &json!({"iss": iss, "aud": aud, "sub": "entra-provisioning", "iat": now, "nbf": now, "exp": now + exp_in}),
        &key.private,
    )
    .unwrap()
}

async fn status_with(app: &TestApp, token: &str) -> u16 {
    app.send_as(token, Method::GET, "Users?count=1", None)
        .await
        .0
}

async fn trusted_tokens_work_and_the_rest_are_refused(app: TestApp) {
    let k1 = provider_key("k1");
    let k2 = provider_key("k2");
    let keys = Arc::new(Mutex::new(json!({ "keys": [k1.jwk.clone()] })));
    let url = jwks_server(keys.clone()).await;
    let admin = app.admin_token(Role::Admin).await;
    let (s, made) = app
        .admin(
            &admin,
            Method::POST,
            "connections",
            Some(json!({"name": "entra-sso", "auth": "jwt", "issuer": ISSUER, "audience": AUDIENCE, "jwks_url": url})),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    assert_eq!(made["auth"], json!("jwt"));

    // Good: the provider's key, issuer and audience.
    assert_eq!(
        status_with(&app, &token(&k1, ISSUER, AUDIENCE, 600)).await,
        200
    );
    let (s, body) = app
        .send_as(
            &token(&k1, ISSUER, AUDIENCE, 600),
            Method::POST,
            "Users",
            Some(crate::helpers::user("sso-made")),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    // Wrong issuer, wrong audience, expired: refused.
    assert_eq!(
        status_with(&app, &token(&k1, "https://other.example/", AUDIENCE, 600)).await,
        401
    );
    assert_eq!(
        status_with(&app, &token(&k1, ISSUER, "someone-else", 600)).await,
        401
    );
    assert_eq!(
        status_with(&app, &token(&k1, ISSUER, AUDIENCE, -3600)).await,
        401
    );
    // A key the provider has not published: refused.
    assert_eq!(
        status_with(&app, &token(&k2, ISSUER, AUDIENCE, 600)).await,
        401
    );
    // The provider rotates: once it publishes k2, a token naming it is taken (the key set is
    // fetched again on an unknown key id, at most once a second).
    *keys.lock().unwrap() = json!({ "keys": [k1.jwk.clone(), k2.jwk.clone()] });
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        status_with(&app, &token(&k2, ISSUER, AUDIENCE, 600)).await,
        200
    );
    // A token signed with our own secret's algorithm but claiming the provider's issuer is no
    // way in either.
    let forged = encode(
        &Header::new(Algorithm::HS256),
        &json!({"iss": ISSUER, "aud": AUDIENCE, "exp": chrono::Utc::now().timestamp() + 600}),
        &EncodingKey::from_secret(b"guess"),
    )
    .unwrap();
    assert_eq!(status_with(&app, &forged).await, 401);

    let (_, list) = app.admin(&admin, Method::GET, "connections", None).await;
    assert!(
        list["connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == json!("entra-sso") && c["auth"] == json!("jwt")),
        "{list}"
    );

    // Creating one needs all three settings, and an http(s) URL.
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            "connections",
            Some(json!({"name": "half", "auth": "jwt", "issuer": ISSUER})),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            "connections",
            Some(json!({"name": "bad-url", "auth": "jwt", "issuer": ISSUER, "audience": AUDIENCE, "jwks_url": "file:///etc/passwd"})),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["error"]["field"], json!("jwks_url"));

    // Revoking the connection ends the trust at once.
    let (s, body) = app
        .admin(&admin, Method::DELETE, "connections/entra-sso", None)
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        status_with(&app, &token(&k1, ISSUER, AUDIENCE, 600)).await,
        401
    );
}

crate::on_both_backends!(trusted_tokens_work_and_the_rest_are_refused);
