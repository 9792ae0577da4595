//! The SCIM endpoints under `/scim/v2`. Resource names match in any case and tolerate a
//! trailing slash, so one dispatcher reads the path; each handler extracts, makes one engine
//! call and builds the response.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use crate::auth::{self, Principal};
use crate::engine::synclog::Ctx;
use crate::engine::Engine;
use crate::scim::list::{list_response, ListParams};
use crate::scim::projection::Projection;
use crate::scim::resource::{self, etag, Stored};
use crate::scim::{Registry, ResourceKind, ScimError};

use super::body::{read_bytes, stalled_detail, BodyError, BodyTimeout};
use super::{error_response, scim_json};

/// Largest request body outside Bulk (Bulk has its own, advertised limit).
const MAX_BODY: usize = 16 * 1024 * 1024;

pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    match route(&req, payload, &engine).await {
        Ok(resp) => resp,
        Err(e) => error_response(&e),
    }
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    engine: &Engine,
) -> Result<HttpResponse, ScimError> {
    let tail = req.match_info().get("tail").unwrap_or("");
    let segments: Vec<&str> = tail.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method().clone();
    let first = segments.first().map(|s| s.to_ascii_lowercase());
    let base = base_url(req);

    // Discovery is open: without a credential it shows the built-in schemas; with an
    // account's token it also shows the extensions that account registered.
    match (first.as_deref(), segments.get(1).copied(), segments.len()) {
        (Some("serviceproviderconfig"), None, 1) => {
            allow(&method, &[Method::GET], "GET")?;
            return Ok(scim_json(
                StatusCode::OK,
                &with_location(engine.registry().service_provider_config(), &base),
            ));
        }
        (Some("resourcetypes"), id, _) if segments.len() <= 2 => {
            allow(&method, &[Method::GET], "GET")?;
            let docs = discovery_registry(req, engine).await?.resource_type_docs();
            return Ok(match id {
                None => {
                    let items = docs
                        .iter()
                        .map(|d| as_map(&with_location(d, &base)))
                        .collect::<Vec<_>>();
                    scim_json(StatusCode::OK, &list_response(items.len() as u64, 1, items))
                }
                Some(id) => {
                    let doc = docs
                        .into_iter()
                        .find(|d| {
                            d.get("id")
                                .and_then(Value::as_str)
                                .is_some_and(|x| x.eq_ignore_ascii_case(id))
                        })
                        .ok_or_else(|| ScimError::not_found(format!("no resource type {id}")))?;
                    scim_json(StatusCode::OK, &with_location(&doc, &base))
                }
            });
        }
        (Some("schemas"), id, _) if segments.len() <= 2 => {
            allow(&method, &[Method::GET], "GET")?;
            return Ok(match id {
                None => {
                    let reg = discovery_registry(req, engine).await?;
                    let items = reg
                        .schema_docs()
                        .into_iter()
                        .map(|d| as_map(&with_location(d, &base)))
                        .collect::<Vec<_>>();
                    scim_json(StatusCode::OK, &list_response(items.len() as u64, 1, items))
                }
                Some(id) => {
                    let reg = discovery_registry(req, engine).await?;
                    let doc = reg
                        .schema_doc(id)
                        .ok_or_else(|| ScimError::not_found(format!("no schema {id}")))?;
                    scim_json(StatusCode::OK, &with_location(doc, &base))
                }
            });
        }
        _ => {}
    }

    let principal = authenticate(req, engine).await?;
    super::guard::admit(req, engine, &principal).await?;
    let p = &principal;
    let actor = format!("connection:{}", principal.connection);
    super::record_actor(req, &actor);
    let ctx = Ctx::new(actor, method.as_str(), req.path(), request_id(req));
    let ctx = &ctx;
    let query = query_pairs(req);
    match (first.as_deref(), segments.get(1).copied(), segments.len()) {
        (Some("users"), None, 1) => collection(req, payload, engine, p, ResourceKind::User, &query, &base, ctx).await,
        (Some("groups"), None, 1) => collection(req, payload, engine, p, ResourceKind::Group, &query, &base, ctx).await,
        (Some("users"), Some(s), 2) if s.eq_ignore_ascii_case(".search") => {
            allow(&method, &[Method::POST], "POST")?;
            search(req, payload, engine, p, Some(ResourceKind::User), &base, ctx).await
        }
        (Some("groups"), Some(s), 2) if s.eq_ignore_ascii_case(".search") => {
            allow(&method, &[Method::POST], "POST")?;
            search(req, payload, engine, p, Some(ResourceKind::Group), &base, ctx).await
        }
        (Some("users"), Some(id), 2) => one(req, payload, engine, p, ResourceKind::User, id, &query, &base, ctx).await,
        (Some("groups"), Some(id), 2) => one(req, payload, engine, p, ResourceKind::Group, id, &query, &base, ctx).await,
        (Some(".search"), None, 1) => {
            allow(&method, &[Method::POST], "POST")?;
            search(req, payload, engine, p, None, &base, ctx).await
        }
        (Some("bulk"), None, 1) => {
            allow(&method, &[Method::POST], "POST")?;
            let limit = engine.registry().bulk_max_payload() as usize;
            let body = read_json(req, payload, limit).await?;
            let out = engine.bulk(p, &body, &base, ctx).await?;
            Ok(scim_json(StatusCode::OK, &out))
        }
        (Some("licenses"), id, n) if n <= 2 => {
            super::licenses::serve(req, engine, p, id, &query, &base, ctx).await
        }
        (Some("me"), None, 1) => Err(ScimError::NotImplemented {
            detail: "/Me is not available to identity-provider tokens: they act for an account, not a user".into(),
        }),
        _ => Err(ScimError::not_found(format!("no such endpoint: /scim/v2/{tail}"))),
    }
}

/// The one method policy of the SCIM surface: an endpoint that exists but does not take the
/// method is a 405 with an `Allow` header, wherever it is.
pub(super) fn allow(
    method: &Method,
    allowed: &[Method],
    allow: &'static str,
) -> Result<(), ScimError> {
    if allowed.contains(method) {
        Ok(())
    } else {
        Err(ScimError::MethodNotAllowed {
            detail: format!("method {method} is not supported here; use {allow}"),
            allow,
        })
    }
}

/// The schemas discovery shows: the account's when the request carries a credential (a
/// wrong one is refused, not ignored), else the built-in ones.
async fn discovery_registry(
    req: &HttpRequest,
    engine: &Engine,
) -> Result<std::sync::Arc<Registry>, ScimError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        let p = authenticate(req, engine).await?;
        engine.registry_of(&p).await
    } else {
        Ok(engine.builtin_registry())
    }
}

async fn authenticate(req: &HttpRequest, engine: &Engine) -> Result<Principal, ScimError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::scim_token)
        .ok_or_else(|| ScimError::Unauthorized {
            detail: "send 'Authorization: Bearer <token>' (or the token alone) with a token of \
                     this account"
                .into(),
        })?;
    engine.authenticate(token).await
}

/// `/Users` or `/Groups`: list (GET) or create (POST).
#[allow(clippy::too_many_arguments)]
async fn collection(
    req: &HttpRequest,
    payload: web::Payload,
    engine: &Engine,
    p: &Principal,
    kind: ResourceKind,
    query: &[(String, String)],
    base: &str,
    ctx: &Ctx,
) -> Result<HttpResponse, ScimError> {
    match *req.method() {
        Method::GET => Ok(list(
            engine,
            p,
            Some(kind),
            &ListParams::from_query(query),
            base,
            ctx,
        )
        .await?),
        Method::POST => {
            let body = read_json(req, payload, MAX_BODY).await?;
            let out = engine.create(p, kind, &body, ctx).await?;
            let reg = engine.registry_of(p).await?;
            let projection = projection(&reg, kind, query);
            let mut resp =
                resource_response(&reg, StatusCode::CREATED, &out.resource, &projection, base);
            if let Ok(v) = HeaderValue::from_str(&location(&out.resource, base)) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        _ => Err(ScimError::MethodNotAllowed {
            allow: "GET, POST",
            detail: format!(
                "method {} is not supported on /{}; use GET or POST",
                req.method(),
                kind.endpoint()
            ),
        }),
    }
}

/// `/Users/{id}` or `/Groups/{id}`.
#[allow(clippy::too_many_arguments)]
async fn one(
    req: &HttpRequest,
    payload: web::Payload,
    engine: &Engine,
    p: &Principal,
    kind: ResourceKind,
    id: &str,
    query: &[(String, String)],
    base: &str,
    ctx: &Ctx,
) -> Result<HttpResponse, ScimError> {
    let reg = engine.registry_of(p).await?;
    let projection = projection(&reg, kind, query);
    match *req.method() {
        Method::GET => {
            let found = engine.get(p, kind, id, &projection, ctx).await?;
            if let Some(cond) = condition(req, header::IF_NONE_MATCH) {
                if cond.matches(found.version) {
                    return Ok(HttpResponse::NotModified()
                        .insert_header((header::ETAG, etag(found.version)))
                        .finish());
                }
            }
            Ok(resource_response(
                &reg,
                StatusCode::OK,
                &found,
                &projection,
                base,
            ))
        }
        Method::PUT => {
            let body = read_json(req, payload, MAX_BODY).await?;
            let if_match = if_match(req, engine, p, kind, id, ctx).await?;
            let out = engine.replace(p, kind, id, &body, if_match, ctx).await?;
            Ok(resource_response(
                &reg,
                StatusCode::OK,
                &out.resource,
                &projection,
                base,
            ))
        }
        Method::PATCH => {
            let body = read_json(req, payload, MAX_BODY).await?;
            let if_match = if_match(req, engine, p, kind, id, ctx).await?;
            let asked = has_param(query, "attributes") || has_param(query, "excludedAttributes");
            // A group's full member list is only sent back when asked for: a one-member
            // change to a large group must not cost the whole list.
            let return_refs = kind == ResourceKind::User || asked;
            let out = engine
                .patch(p, kind, id, &body, if_match, return_refs, ctx)
                .await?;
            if kind == ResourceKind::Group && !asked {
                return Ok(HttpResponse::NoContent()
                    .insert_header((header::ETAG, etag(out.resource.version)))
                    .finish());
            }
            Ok(resource_response(
                &reg,
                StatusCode::OK,
                &out.resource,
                &projection,
                base,
            ))
        }
        Method::DELETE => {
            let if_match = if_match(req, engine, p, kind, id, ctx).await?;
            engine.delete(p, kind, id, if_match, ctx).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        _ => Err(ScimError::MethodNotAllowed {
            allow: "GET, PUT, PATCH, DELETE",
            detail: format!(
                "method {} is not supported on a {}; use GET, PUT, PATCH or DELETE",
                req.method(),
                kind.name()
            ),
        }),
    }
}

async fn search(
    req: &HttpRequest,
    payload: web::Payload,
    engine: &Engine,
    p: &Principal,
    kind: Option<ResourceKind>,
    base: &str,
    ctx: &Ctx,
) -> Result<HttpResponse, ScimError> {
    let body = read_json(req, payload, MAX_BODY).await?;
    let params = ListParams::from_search(&body)?;
    list(engine, p, kind, &params, base, ctx).await
}

/// A list of one resource type, or of both (root `.search`: users first, then groups).
async fn list(
    engine: &Engine,
    p: &Principal,
    kind: Option<ResourceKind>,
    params: &ListParams,
    base: &str,
    ctx: &Ctx,
) -> Result<HttpResponse, ScimError> {
    let kinds = match kind {
        Some(k) => vec![k],
        None => vec![ResourceKind::User, ResourceKind::Group],
    };
    let reg = engine.registry_of(p).await?;
    let mut total = 0u64;
    let mut resources = vec![];
    let mut start_index = 1;
    let mut offset: Option<u64> = None;
    let mut remaining = 0u64;
    let mut last_error = None;
    for k in kinds.iter().copied() {
        let mut q = match params.compile(&reg, k) {
            Ok(q) => q,
            Err(e)
                if kinds.len() > 1
                    && e.scim_type() == Some(crate::scim::ScimType::InvalidFilter) =>
            {
                // On the root, a filter that names what one type lacks selects none of it.
                last_error = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        // One page across both types: the offset runs through users, then groups.
        let off = *offset.get_or_insert_with(|| {
            start_index = q.start_index;
            remaining = q.count;
            q.start_index - 1
        });
        q.start_index = off + 1;
        q.count = remaining;
        let (n, items) = engine.list(p, k, &q, ctx).await?;
        total += n;
        remaining = remaining.saturating_sub(items.len() as u64);
        offset = Some(off.saturating_sub(n));
        for item in items {
            resources.push(render(&reg, &item, &q.projection, base));
        }
    }
    if offset.is_none() {
        if let Some(e) = last_error {
            return Err(e);
        }
    }
    Ok(scim_json(
        StatusCode::OK,
        &list_response(total, start_index, resources),
    ))
}

fn render(
    reg: &Registry,
    stored: &Stored,
    projection: &Projection,
    base: &str,
) -> serde_json::Map<String, Value> {
    let full = resource::render(stored, base);
    projection.apply(reg, stored.kind, full)
}

fn resource_response(
    reg: &Registry,
    status: StatusCode,
    stored: &Stored,
    projection: &Projection,
    base: &str,
) -> HttpResponse {
    let body = Value::Object(render(reg, stored, projection, base));
    let mut resp = scim_json(status, &body);
    if let Ok(v) = HeaderValue::from_str(&etag(stored.version)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn location(stored: &Stored, base: &str) -> String {
    format!("{base}/{}/{}", stored.kind.endpoint(), stored.id)
}

fn projection(reg: &Registry, kind: ResourceKind, query: &[(String, String)]) -> Projection {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    Projection::parse(reg, kind, get("attributes"), get("excludedAttributes"))
}

fn has_param(query: &[(String, String)], name: &str) -> bool {
    query.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
}

/// A version no resource ever has: the store writes version 1 on insert and only ever adds 1
/// (`store/resources.rs`: `insert_resource`, `update_resource`, `touch_resource`). A write
/// conditional on it is always refused as stale (412), and nothing is written.
const NO_VERSION: i64 = 0;

/// What an `If-Match` or `If-None-Match` header asks for (RFC 7232 §3.1, §3.2).
#[derive(Debug, PartialEq, Eq)]
enum Condition {
    /// `*`: any current representation.
    Any,
    /// A list of entity tags: the versions of ours it names. Tags that name no version of
    /// ours (and a header that is not a list of entity tags at all) add none, so an empty
    /// list matches nothing.
    Versions(Vec<i64>),
}

impl Condition {
    fn matches(&self, version: i64) -> bool {
        match self {
            Condition::Any => true,
            Condition::Versions(vs) => vs.contains(&version),
        }
    }
}

/// The header's condition, its lines taken as one list; `None` when it is absent.
fn condition(req: &HttpRequest, name: header::HeaderName) -> Option<Condition> {
    let mut lines = req.headers().get_all(name).peekable();
    lines.peek()?;
    let mut all = String::new();
    for line in lines {
        // A value that is not visible ASCII is not an entity tag: it matches nothing.
        let Ok(text) = line.to_str() else {
            return Some(Condition::Versions(vec![]));
        };
        if !all.is_empty() {
            all.push(',');
        }
        all.push_str(text);
    }
    Some(parse_condition(&all))
}

/// `If-Match = "*" / 1#entity-tag`, `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE`. Our tags
/// are `W/"N"`; the strong form `"N"` is taken too, as SCIM clients send either. A header
/// that does not parse is a list that names no version.
fn parse_condition(value: &str) -> Condition {
    let value = value.trim_matches([' ', '\t']);
    if value == "*" {
        return Condition::Any;
    }
    let mut versions = vec![];
    // A list may hold empty elements (RFC 7230 §7): skip separators before each tag.
    let mut rest = value.trim_start_matches([' ', '\t', ',']);
    while !rest.is_empty() {
        let tag = rest.strip_prefix("W/").unwrap_or(rest);
        let Some((opaque, after)) = tag.strip_prefix('"').and_then(|t| t.split_once('"')) else {
            return Condition::Versions(vec![]);
        };
        let after = after.trim_start_matches([' ', '\t']);
        if !(after.is_empty() || after.starts_with(',')) {
            return Condition::Versions(vec![]);
        }
        if let Some(v) = our_version(opaque) {
            versions.push(v);
        }
        rest = after.trim_start_matches([' ', '\t', ',']);
    }
    Condition::Versions(versions)
}

/// The version an opaque tag names, if it is one of ours: digits only, at least 1.
fn our_version(opaque: &str) -> Option<i64> {
    if opaque.is_empty() || !opaque.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    opaque.parse().ok().filter(|v| *v >= 1)
}

/// The version a write must find, as the engine takes it: none without `If-Match` or with
/// `*` (the engine still needs the resource to exist), the version the header names when it
/// names one, and [`NO_VERSION`] when it names no version of ours, so the write is refused.
/// A list of several versions is checked against the current one, read first; the write then
/// still names that version, so a change in between is a 412, never a lost update.
async fn if_match(
    req: &HttpRequest,
    engine: &Engine,
    p: &Principal,
    kind: ResourceKind,
    id: &str,
    ctx: &Ctx,
) -> Result<Option<i64>, ScimError> {
    let mut versions = match condition(req, header::IF_MATCH) {
        None | Some(Condition::Any) => return Ok(None),
        Some(Condition::Versions(vs)) => vs,
    };
    versions.sort_unstable();
    versions.dedup();
    match versions.as_slice() {
        [] => Ok(Some(NO_VERSION)),
        [v] => Ok(Some(*v)),
        _ => {
            // Only the version is wanted: leave out the member list a group may carry.
            let refs = match kind {
                ResourceKind::User => "groups",
                ResourceKind::Group => "members",
            };
            let reg = engine.registry_of(p).await?;
            let lean = Projection::parse(&reg, kind, None, Some(refs));
            let current = engine.get(p, kind, id, &lean, ctx).await?.version;
            Ok(Some(if versions.contains(&current) {
                current
            } else {
                NO_VERSION
            }))
        }
    }
}

/// RFC 7644 §3.8: a body is JSON, `application/scim+json` or `application/json`, parameters
/// (`charset=utf-8`) allowed. A request without a Content-Type is taken as JSON: some
/// identity providers send none.
fn json_content_type(req: &HttpRequest) -> Result<(), ScimError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = value.to_str().unwrap_or("");
    let essence = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim_matches([' ', '\t']);
    if essence.eq_ignore_ascii_case(super::SCIM_CONTENT_TYPE)
        || essence.eq_ignore_ascii_case("application/json")
    {
        return Ok(());
    }
    let shown: String = text.chars().take(100).collect();
    Err(ScimError::UnsupportedMediaType {
        detail: format!(
            "the request body's Content-Type is {shown:?}; send application/scim+json \
             (or application/json)"
        ),
    })
}

/// The request id tracing-actix-web gave this request (also in every log line of it).
pub(crate) fn request_id(req: &HttpRequest) -> Option<String> {
    use actix_web::HttpMessage;
    req.extensions()
        .get::<tracing_actix_web::RequestId>()
        .map(|id| id.to_string())
}

fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

/// `scheme://host/scim/v2` as the client reached it.
fn base_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/scim/v2", info.scheme(), info.host())
}

fn as_map(v: &Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// A discovery document with `meta.location` made absolute.
fn with_location(doc: &Value, base: &str) -> Value {
    let mut doc = doc.clone();
    if let Some(Value::Object(meta)) = doc.get_mut("meta") {
        if let Some(Value::String(loc)) = meta.get_mut("location") {
            if loc.starts_with('/') {
                *loc = format!("{base}{loc}");
            }
        }
    }
    doc
}

/// Checks the body's media type, then reads and parses a JSON body of at most `limit` bytes,
/// giving up when it stalls for the app's [`BodyTimeout`].
async fn read_json(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Value, ScimError> {
    json_content_type(req)?;
    let body = read_bytes(payload, limit, BodyTimeout::of(req))
        .await
        .map_err(|e| match e {
            BodyError::TooLarge(limit) => ScimError::PayloadTooLarge {
                detail: format!("the request body is larger than {limit} bytes"),
            },
            BodyError::Unreadable(e) => {
                ScimError::invalid_syntax(format!("could not read the request body: {e}"))
            }
            BodyError::Stalled(d) => ScimError::RequestTimeout {
                detail: stalled_detail(d),
            },
        })?;
    if body.is_empty() {
        return Err(ScimError::invalid_syntax(
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(&body)
        .map_err(|e| ScimError::invalid_syntax(format!("the request body is not valid JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_headers_parse_to_the_versions_they_name() {
        let v = |vs: &[i64]| Condition::Versions(vs.to_vec());
        for (header, want) in [
            ("*", Condition::Any),
            (" * ", Condition::Any),
            ("W/\"3\"", v(&[3])),
            ("\"3\"", v(&[3])),
            ("W/\"1\", W/\"2\"", v(&[1, 2])),
            (" ,W/\"1\" ,, \"2\",", v(&[1, 2])),
            // Tags that are not ours name nothing; the others in the list still count.
            ("\"abc\", W/\"4\"", v(&[4])),
            ("\"abc\"", v(&[])),
            ("W/\"0\"", v(&[])),
            ("\"-1\"", v(&[])),
            ("\"+1\"", v(&[])),
            ("W/\"99999999999999999999\"", v(&[])),
            // Not a list of entity tags at all: nothing.
            ("garbage", v(&[])),
            ("3", v(&[])),
            ("W/\"1\" junk", v(&[])),
            ("W/\"1", v(&[])),
            ("*, W/\"1\"", v(&[])),
            ("", v(&[])),
        ] {
            assert_eq!(parse_condition(header), want, "{header:?}");
        }
    }

    #[test]
    fn any_matches_every_version_and_a_list_only_its_own() {
        assert!(Condition::Any.matches(7));
        assert!(Condition::Versions(vec![2, 7]).matches(7));
        assert!(!Condition::Versions(vec![2]).matches(7));
        assert!(!Condition::Versions(vec![]).matches(NO_VERSION));
    }
}
