//! OAuth 2.0 client credentials (RFC 6749 §4.4) for connections whose identity provider asks
//! for them: a connection made with `"auth": "oauth"` gets a client id and secret; `POST
//! /oauth/token` trades them (HTTP Basic or form fields, §2.3.1) for an access token that
//! works as a SCIM bearer token; failures answer as §5.2 says; a second secret allows
//! rotation without downtime; revoking a secret or the connection ends its tokens at once;
//! a tampered or expired token is refused; the lifetime is set per connection; and all of it
//! holds across two replicas on one PostgreSQL database.

use reqwest::header::HeaderMap;
use reqwest::Method;
use roster::auth::jwt::Role;
use serde_json::{json, Value};

use crate::helpers::{user, TestApp};

crate::on_both_backends!(
    an_oauth_connection_gets_a_client_id_and_a_secret,
    bearer_connections_answer_as_before_and_an_unknown_auth_is_refused,
    basic_or_form_credentials_mint_a_token_that_works_as_a_scim_bearer,
    token_endpoint_failures_follow_rfc_6749,
    a_second_secret_rotates_without_downtime,
    revoking_a_secret_ends_its_tokens_at_once,
    revoking_the_connection_ends_every_token_at_once,
    a_token_with_a_bad_signature_is_refused,
    the_token_lifetime_is_set_per_connection_and_checked,
    an_expired_token_is_refused,
);

// ---------------------------------------------------------------------------------------
// Helpers

/// Standard base64 (RFC 4648 §4, with padding), for HTTP Basic.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `application/x-www-form-urlencoded` encoding of one value (unreserved characters kept).
fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A form body from name/value pairs.
fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `Authorization` value for HTTP Basic client authentication (RFC 6749 §2.3.1: the id
/// and secret form-encoded first).
fn basic(client_id: &str, client_secret: &str) -> String {
    let pair = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
    format!("Basic {}", base64(pair.as_bytes()))
}

/// The token endpoint of a server whose SCIM base URL is `scim_base`.
fn token_url(scim_base: &str) -> String {
    scim_base.replace("/scim/v2", "/oauth/token")
}

/// One answer of the token endpoint.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `POST /oauth/token` with the form body and, if given, an `Authorization` header.
async fn post_token(
    client: &reqwest::Client,
    scim_base: &str,
    authorization: Option<&str>,
    body: &str,
) -> Reply {
    let mut r = client
        .post(token_url(scim_base))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(a) = authorization {
        r = r.header("Authorization", a);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

/// Mints an access token with the credentials in the form body; asserts success.
async fn mint_on(
    client: &reqwest::Client,
    scim_base: &str,
    client_id: &str,
    client_secret: &str,
) -> String {
    let r = post_token(
        client,
        scim_base,
        None,
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret),
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "minting a token: {}", r.body);
    r.body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("an access_token: {}", r.body))
        .to_string()
}

async fn mint(app: &TestApp, client_id: &str, client_secret: &str) -> String {
    mint_on(&app.client, &app.base, client_id, client_secret).await
}

/// The client id, secret and secret id of a new OAuth connection.
struct Credentials {
    client_id: String,
    client_secret: String,
    secret_id: String,
}

fn credentials(body: &Value) -> Credentials {
    let field = |name: &str| {
        body[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} in {body}"))
            .to_string()
    };
    Credentials {
        client_id: field("client_id"),
        client_secret: field("client_secret"),
        secret_id: field("secret_id"),
    }
}

/// Creates an OAuth connection; asserts 201 and returns its credentials.
async fn oauth_connection(app: &TestApp, admin: &str, name: &str) -> Credentials {
    let (s, body) = app
        .admin(
            admin,
            Method::POST,
            "connections",
            Some(json!({"name": name, "auth": "oauth"})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    credentials(&body)
}

/// Adds a secret to a connection; asserts 201 and returns the new credentials.
async fn add_secret(app: &TestApp, admin: &str, name: &str) -> Credentials {
    let (s, body) = app
        .admin(
            admin,
            Method::POST,
            &format!("connections/{name}/secrets"),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    credentials(&body)
}

/// Asserts a §5.2 error answer with the status and code.
fn assert_oauth_error(r: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    assert_eq!(r.body["error"], json!(code), "{what}: {}", r.body);
    assert!(
        r.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{what}: an error_description: {}",
        r.body
    );
    assert!(
        r.body.get("access_token").is_none(),
        "{what}: no token in a failure: {}",
        r.body
    );
}

/// An `invalid_client` answer: 401 with a `WWW-Authenticate` challenge.
fn assert_invalid_client(r: &Reply, what: &str) {
    assert_oauth_error(r, 401, "invalid_client", what);
    assert!(
        r.header("www-authenticate").is_some_and(|v| !v.is_empty()),
        "{what}: a WWW-Authenticate header: {:?}",
        r.headers
    );
}

/// `GET /Users` with the token as a bearer; the status.
async fn get_users(app: &TestApp, token: &str) -> u16 {
    app.send_as(token, Method::GET, "Users", None).await.0
}

// ---------------------------------------------------------------------------------------
// Scenarios

async fn an_oauth_connection_gets_a_client_id_and_a_secret(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            "connections",
            Some(json!({"name": "entra", "auth": "oauth"})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["name"], json!("entra"), "{body}");
    assert_eq!(body["auth"], json!("oauth"), "{body}");
    for field in ["client_id", "client_secret", "secret_id", "note"] {
        assert!(
            body[field].as_str().is_some_and(|v| !v.is_empty()),
            "{field} in {body}"
        );
    }
    assert!(body.get("token").is_none(), "no bearer token: {body}");
    assert_ne!(body["client_id"], body["client_secret"], "{body}");

    // A second OAuth connection gets its own client id.
    let other = oauth_connection(&app, &admin, "entra-test").await;
    assert_ne!(json!(other.client_id), body["client_id"]);
    assert_ne!(json!(other.client_secret), body["client_secret"]);

    // The connection is listed like any other.
    let (s, list) = app.admin(&admin, Method::GET, "connections", None).await;
    assert_eq!(s, 200, "{list}");
    assert!(
        list["connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == json!("entra") && c["status"] == json!("live")),
        "{list}"
    );
    // The client secret is never shown again.
    let secret = body["client_secret"].as_str().unwrap();
    assert!(!list.to_string().contains(secret), "{list}");
}

async fn bearer_connections_answer_as_before_and_an_unknown_auth_is_refused(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    for (name, body) in [
        ("plain", json!({"name": "plain"})),
        ("explicit", json!({"name": "explicit", "auth": "bearer"})),
    ] {
        let (s, made) = app
            .admin(&admin, Method::POST, "connections", Some(body))
            .await;
        assert_eq!(s, 201, "{made}");
        assert_eq!(made["name"], json!(name), "{made}");
        assert!(made["note"].is_string(), "{made}");
        assert!(made.get("client_id").is_none(), "{made}");
        assert!(made.get("client_secret").is_none(), "{made}");
        let token = made["token"].as_str().unwrap().to_string();
        assert_eq!(get_users(&app, &token).await, 200, "{name}");
    }

    for auth in [json!("saml"), json!("OAuth2"), json!(""), json!(7)] {
        let (s, body) = app
            .admin(
                &admin,
                Method::POST,
                "connections",
                Some(json!({"name": "odd", "auth": auth})),
            )
            .await;
        assert_eq!(s, 400, "auth {auth}: {body}");
        assert_eq!(body["error"]["code"], json!("invalid_value"), "{body}");
        assert_eq!(body["error"]["field"], json!("auth"), "{body}");
    }
    // Nothing was made by the refusals.
    let (_, list) = app.admin(&admin, Method::GET, "connections", None).await;
    assert!(
        !list["connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == json!("odd")),
        "{list}"
    );
}

async fn basic_or_form_credentials_mint_a_token_that_works_as_a_scim_bearer(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let c = oauth_connection(&app, &admin, "entra").await;

    // HTTP Basic.
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic(&c.client_id, &c.client_secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], json!("Bearer"), "{}", r.body);
    assert_eq!(r.body["expires_in"], json!(3600), "{}", r.body);
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "{:?}",
        r.headers
    );
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{:?}",
        r.headers
    );
    let by_basic = r.body["access_token"].as_str().unwrap().to_string();
    assert!(!by_basic.is_empty());

    // Credentials in the form body.
    let r = post_token(
        &app.client,
        &app.base,
        None,
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_type"], json!("Bearer"), "{}", r.body);
    assert_eq!(r.body["expires_in"], json!(3600), "{}", r.body);
    assert_eq!(
        r.header("cache-control"),
        Some("no-store"),
        "{:?}",
        r.headers
    );
    let by_form = r.body["access_token"].as_str().unwrap().to_string();

    // Either token is a SCIM bearer token of the connection's account.
    assert_eq!(get_users(&app, &by_basic).await, 200);
    assert_eq!(get_users(&app, &by_form).await, 200);
    let (s, created) = app
        .send_as(&by_basic, Method::POST, "Users", Some(user("oauth.one")))
        .await;
    assert_eq!(s, 201, "{created}");
    let (s, created2) = app
        .send_as(&by_form, Method::POST, "Users", Some(user("oauth.two")))
        .await;
    assert_eq!(s, 201, "{created2}");
    // ... the same account the test's own token acts for.
    let id = created["id"].as_str().unwrap();
    let (s, got) = app.send(Method::GET, &format!("Users/{id}"), None).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["userName"], json!("oauth.one"));

    // The sync log names the connection as the actor.
    let (s, log) = app
        .admin(
            &admin,
            Method::GET,
            "sync-log?operation=create&limit=100",
            None,
        )
        .await;
    assert_eq!(s, 200, "{log}");
    let entries = log["entries"].as_array().unwrap();
    for name in ["oauth.one", "oauth.two"] {
        let e = entries
            .iter()
            .find(|e| e["user_name"] == json!(name))
            .unwrap_or_else(|| panic!("an entry for {name}: {log}"));
        assert_eq!(e["actor"], json!("connection:entra"), "{e}");
    }
}

async fn token_endpoint_failures_follow_rfc_6749(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let c = oauth_connection(&app, &admin, "entra").await;
    let other = oauth_connection(&app, &admin, "entra-test").await;
    let grant = "grant_type=client_credentials";

    // A wrong secret, by Basic and by form.
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic(&c.client_id, "not-the-secret")),
        grant,
    )
    .await;
    assert_invalid_client(&r, "a wrong secret by Basic");
    let r = post_token(
        &app.client,
        &app.base,
        None,
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", "not-the-secret"),
        ]),
    )
    .await;
    assert_invalid_client(&r, "a wrong secret in the form");
    // The right secret with one character more.
    let longer = format!("{}x", c.client_secret);
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic(&c.client_id, &longer)),
        grant,
    )
    .await;
    assert_invalid_client(&r, "the secret with a character more");

    // An unknown client, by Basic and by form.
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic("no-such-client", &c.client_secret)),
        grant,
    )
    .await;
    assert_invalid_client(&r, "an unknown client by Basic");
    let r = post_token(
        &app.client,
        &app.base,
        None,
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "no-such-client"),
            ("client_secret", &c.client_secret),
        ]),
    )
    .await;
    assert_invalid_client(&r, "an unknown client in the form");

    // One connection's secret with another's client id.
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic(&other.client_id, &c.client_secret)),
        grant,
    )
    .await;
    assert_invalid_client(&r, "a secret of another client");

    // A SCIM bearer token is no client secret.
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic(&c.client_id, &app.token)),
        grant,
    )
    .await;
    assert_invalid_client(&r, "a bearer token as the secret");

    // No grant_type.
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic(&c.client_id, &c.client_secret)),
        "",
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request", "no grant_type, Basic");
    let r = post_token(
        &app.client,
        &app.base,
        None,
        &form(&[
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ]),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request", "no grant_type, form");

    // No credentials at all, or half of them.
    let r = post_token(&app.client, &app.base, None, grant).await;
    assert_oauth_error(&r, 400, "invalid_request", "no credentials");
    let r = post_token(
        &app.client,
        &app.base,
        None,
        &form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
        ]),
    )
    .await;
    assert_oauth_error(&r, 400, "invalid_request", "a client_id and no secret");

    // Another grant type.
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic(&c.client_id, &c.client_secret)),
        &form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "hunter2"),
        ]),
    )
    .await;
    assert_oauth_error(&r, 400, "unsupported_grant_type", "grant_type=password");
    let r = post_token(
        &app.client,
        &app.base,
        None,
        &form(&[
            ("grant_type", "password"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
        ]),
    )
    .await;
    assert_oauth_error(
        &r,
        400,
        "unsupported_grant_type",
        "grant_type=password, form",
    );

    // None of these failures hides the good path.
    let token = mint(&app, &c.client_id, &c.client_secret).await;
    assert_eq!(get_users(&app, &token).await, 200);
}

async fn a_second_secret_rotates_without_downtime(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let first = oauth_connection(&app, &admin, "entra").await;
    let old_token = mint(&app, &first.client_id, &first.client_secret).await;

    let (s, body) = app
        .admin(
            &admin,
            Method::POST,
            "connections/entra/secrets",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let second = credentials(&body);
    assert_eq!(second.client_id, first.client_id, "one client, two secrets");
    assert_ne!(second.client_secret, first.client_secret);
    assert_ne!(second.secret_id, first.secret_id);

    // Both secrets are live at once.
    let new_token = mint(&app, &second.client_id, &second.client_secret).await;
    let again = mint(&app, &first.client_id, &first.client_secret).await;
    for t in [&old_token, &new_token, &again] {
        assert_eq!(get_users(&app, t).await, 200);
    }

    // Retire the first: the second and its token go on.
    let path = format!("connections/entra/secrets/{}", first.secret_id);
    let (s, body) = app.admin(&admin, Method::DELETE, &path, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["revoked"], json!(first.secret_id), "{body}");
    assert_eq!(get_users(&app, &new_token).await, 200);
    let (s, created) = app
        .send_as(&new_token, Method::POST, "Users", Some(user("rotated")))
        .await;
    assert_eq!(s, 201, "{created}");
    let fresh = mint(&app, &second.client_id, &second.client_secret).await;
    assert_eq!(get_users(&app, &fresh).await, 200);

    // A third secret may follow the second.
    let third = add_secret(&app, &admin, "entra").await;
    let t3 = mint(&app, &third.client_id, &third.client_secret).await;
    assert_eq!(get_users(&app, &t3).await, 200);
}

async fn revoking_a_secret_ends_its_tokens_at_once(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let first = oauth_connection(&app, &admin, "entra").await;
    let second = add_secret(&app, &admin, "entra").await;
    let by_first = mint(&app, &first.client_id, &first.client_secret).await;
    let by_first_too = mint(&app, &first.client_id, &first.client_secret).await;
    let by_second = mint(&app, &second.client_id, &second.client_secret).await;
    for t in [&by_first, &by_first_too, &by_second] {
        assert_eq!(get_users(&app, t).await, 200);
    }

    // An unknown secret id is 404 and changes nothing.
    let (s, body) = app
        .admin(
            &admin,
            Method::DELETE,
            "connections/entra/secrets/no-such-secret",
            None,
        )
        .await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(get_users(&app, &by_first).await, 200);

    let path = format!("connections/entra/secrets/{}", first.secret_id);
    let (s, body) = app.admin(&admin, Method::DELETE, &path, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["revoked"], json!(first.secret_id), "{body}");

    // Every token the secret minted fails at once, for reads and writes alike.
    let (s, body) = app.send_as(&by_first, Method::GET, "Users", None).await;
    assert_eq!(s, 401, "a token of a revoked secret: {body}");
    assert_eq!(get_users(&app, &by_first_too).await, 401);
    let (s, body) = app
        .send_as(&by_first, Method::POST, "Users", Some(user("too.late")))
        .await;
    assert_eq!(s, 401, "{body}");
    // The secret itself mints no more.
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic(&first.client_id, &first.client_secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_invalid_client(&r, "a revoked secret");
    // The other secret's token is untouched.
    assert_eq!(get_users(&app, &by_second).await, 200);

    // Revoking it twice is no server error; a secret under an unknown connection is 404.
    let (s, body) = app.admin(&admin, Method::DELETE, &path, None).await;
    assert!(s < 500, "{s}: {body}");
    let (s, body) = app
        .admin(
            &admin,
            Method::DELETE,
            &format!("connections/nobody/secrets/{}", second.secret_id),
            None,
        )
        .await;
    assert_eq!(s, 404, "{body}");
    assert_eq!(get_users(&app, &by_second).await, 200);
}

async fn revoking_the_connection_ends_every_token_at_once(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let first = oauth_connection(&app, &admin, "entra").await;
    let second = add_secret(&app, &admin, "entra").await;
    let t1 = mint(&app, &first.client_id, &first.client_secret).await;
    let t2 = mint(&app, &second.client_id, &second.client_secret).await;
    assert_eq!(get_users(&app, &t1).await, 200);
    assert_eq!(get_users(&app, &t2).await, 200);

    let (s, body) = app
        .admin(&admin, Method::DELETE, "connections/entra", None)
        .await;
    assert_eq!(s, 200, "{body}");

    assert_eq!(get_users(&app, &t1).await, 401, "first secret's token");
    assert_eq!(get_users(&app, &t2).await, 401, "second secret's token");
    for (what, c) in [("first", &first), ("second", &second)] {
        let r = post_token(
            &app.client,
            &app.base,
            Some(&basic(&c.client_id, &c.client_secret)),
            "grant_type=client_credentials",
        )
        .await;
        assert_invalid_client(&r, &format!("the {what} secret of a revoked connection"));
    }
    // The test's own connection is untouched.
    assert_eq!(app.send(Method::GET, "Users", None).await.0, 200);
    let (_, list) = app.admin(&admin, Method::GET, "connections", None).await;
    assert!(
        list["connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == json!("entra") && c["status"] == json!("revoked")),
        "{list}"
    );
}

async fn a_token_with_a_bad_signature_is_refused(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let c = oauth_connection(&app, &admin, "entra").await;
    let token = mint(&app, &c.client_id, &c.client_secret).await;
    assert_eq!(get_users(&app, &token).await, 200);

    // Change one character of the last segment (the signature of a JWT). The first
    // character of a base64url segment carries six whole bits, so the bytes change.
    let cut = token.rfind('.').map_or(0, |i| i + 1);
    let (head, sig) = token.split_at(cut);
    let first = sig.chars().next().unwrap();
    let swapped = if first == 'A' { 'B' } else { 'A' };
    let tampered = format!("{head}{swapped}{}", &sig[first.len_utf8()..]);
    assert_ne!(tampered, token);
    let (s, body) = app.send_as(&tampered, Method::GET, "Users", None).await;
    assert_eq!(s, 401, "a tampered signature: {body}");

    // The last character too, to one that differs in its high bits.
    let last = sig.chars().last().unwrap();
    let swapped = if ('A'..='P').contains(&last) {
        'z'
    } else {
        'A'
    };
    let tampered = format!("{}{swapped}", &token[..token.len() - last.len_utf8()]);
    assert_eq!(get_users(&app, &tampered).await, 401, "{tampered}");

    // Truncated, and with the signature dropped.
    assert_eq!(get_users(&app, &token[..token.len() - 1]).await, 401);
    if cut > 0 {
        assert_eq!(get_users(&app, head).await, 401, "no signature");
    }
    // The untouched token still works.
    assert_eq!(get_users(&app, &token).await, 200);
}

async fn the_token_lifetime_is_set_per_connection_and_checked(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let c = oauth_connection(&app, &admin, "entra").await;
    let expires_in = |app: &TestApp| {
        let (id, secret) = (c.client_id.clone(), c.client_secret.clone());
        let client = app.client.clone();
        let base = app.base.clone();
        async move {
            let r = post_token(
                &client,
                &base,
                Some(&basic(&id, &secret)),
                "grant_type=client_credentials",
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["expires_in"].clone()
        }
    };
    assert_eq!(expires_in(&app).await, json!(3600), "the default");

    for ttl in [600, 300, 21600] {
        let (s, body) = app
            .admin(
                &admin,
                Method::PATCH,
                "connections/entra",
                Some(json!({"token_ttl_seconds": ttl})),
            )
            .await;
        assert_eq!(s, 200, "{ttl}: {body}");
        assert_eq!(expires_in(&app).await, json!(ttl), "after setting {ttl}");
    }

    for bad in [
        json!(299),
        json!(21601),
        json!(0),
        json!(-3600),
        json!("3600"),
        json!(600.5),
    ] {
        let (s, body) = app
            .admin(
                &admin,
                Method::PATCH,
                "connections/entra",
                Some(json!({"token_ttl_seconds": bad})),
            )
            .await;
        assert_eq!(s, 400, "{bad}: {body}");
        assert_eq!(
            body["error"]["field"],
            json!("token_ttl_seconds"),
            "{bad}: {body}"
        );
    }
    // The refusals left the last good value.
    assert_eq!(expires_in(&app).await, json!(21600));

    // Another connection keeps the default.
    let other = oauth_connection(&app, &admin, "entra-test").await;
    let r = post_token(
        &app.client,
        &app.base,
        Some(&basic(&other.client_id, &other.client_secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.body["expires_in"], json!(3600), "{}", r.body);

    // Only an admin sets it.
    let auditor = app.admin_token(Role::Auditor).await;
    let (s, body) = app
        .admin(
            &auditor,
            Method::PATCH,
            "connections/entra",
            Some(json!({"token_ttl_seconds": 900})),
        )
        .await;
    assert_eq!(s, 403, "{body}");
}

async fn an_expired_token_is_refused(app: TestApp) {
    let admin = app.admin_token(Role::Admin).await;
    let c = oauth_connection(&app, &admin, "entra").await;
    let now = chrono::Utc::now().timestamp();

    // A token minted now through the same call works: the refusal below is its age.
    let fresh = app
        .engine
        .issue_access_token_at("acme", "entra", &c.secret_id, now, 3600)
        .await
        .unwrap();
    assert_eq!(get_users(&app, &fresh).await, 200, "a fresh token");

    // Minted two hours ago for one hour: expired an hour ago.
    let expired = app
        .engine
        .issue_access_token_at("acme", "entra", &c.secret_id, now - 7200, 3600)
        .await
        .unwrap();
    let (s, body) = app.send_as(&expired, Method::GET, "Users", None).await;
    assert_eq!(s, 401, "an expired token: {body}");
    let (s, body) = app
        .send_as(&expired, Method::POST, "Users", Some(user("late")))
        .await;
    assert_eq!(s, 401, "an expired token writes nothing: {body}");
}

// ---------------------------------------------------------------------------------------
// Two replicas on one PostgreSQL database

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_oauth_tokens_and_secret_revocation_count_on_both_replicas() {
    let c = crate::replicas::cluster().await;
    let admin_on = |n: usize, method: Method, path: &str, body: Option<Value>| {
        let base = c.on(n).replace("/scim/v2", "/admin/v1");
        let mut r = c
            .client
            .request(method, format!("{base}/{path}"))
            .bearer_auth(&c.admin);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
            )
        }
    };
    let users_on = |n: usize, token: &str| {
        let r = c
            .client
            .get(format!("{}/Users", c.on(n)))
            .bearer_auth(token);
        async move { r.send().await.unwrap().status().as_u16() }
    };

    let (s, made) = admin_on(
        0,
        Method::POST,
        "connections",
        Some(json!({"name": "entra", "auth": "oauth"})),
    )
    .await;
    assert_eq!(s, 201, "{made}");
    let first = credentials(&made);
    let (s, added) = admin_on(
        1,
        Method::POST,
        "connections/entra/secrets",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    let second = credentials(&added);

    // Minted on A, good on B (and A); minted on B, good on A.
    let on_a = mint_on(&c.client, c.on(0), &first.client_id, &first.client_secret).await;
    assert_eq!(
        users_on(1, &on_a).await,
        200,
        "a token minted on A works on B"
    );
    assert_eq!(users_on(0, &on_a).await, 200);
    let on_b = mint_on(&c.client, c.on(1), &second.client_id, &second.client_secret).await;
    assert_eq!(
        users_on(0, &on_b).await,
        200,
        "a token minted on B works on A"
    );
    // The first secret mints on B as well.
    let on_b_first = mint_on(&c.client, c.on(1), &first.client_id, &first.client_secret).await;
    assert_eq!(users_on(0, &on_b_first).await, 200);

    // Revoke the first secret through B: its tokens fail on A (and B) at once.
    let (s, body) = admin_on(
        1,
        Method::DELETE,
        &format!("connections/entra/secrets/{}", first.secret_id),
        None,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["revoked"], json!(first.secret_id), "{body}");
    assert_eq!(users_on(0, &on_a).await, 401, "revoked on B, refused on A");
    assert_eq!(users_on(0, &on_b_first).await, 401);
    assert_eq!(users_on(1, &on_a).await, 401);
    let r = post_token(
        &c.client,
        c.on(0),
        Some(&basic(&first.client_id, &first.client_secret)),
        "grant_type=client_credentials",
    )
    .await;
    assert_invalid_client(&r, "a secret revoked on B, used on A");
    // The second secret's token goes on, on both.
    assert_eq!(users_on(0, &on_b).await, 200);
    assert_eq!(users_on(1, &on_b).await, 200);

    // Revoke the connection through A: the second secret's token fails on B at once.
    let (s, body) = admin_on(0, Method::DELETE, "connections/entra", None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        users_on(1, &on_b).await,
        401,
        "connection revoked on A, refused on B"
    );
    assert_eq!(users_on(0, &on_b).await, 401);
}
