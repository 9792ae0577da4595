//! The admin API under `/admin/v1`: JSON in and out, an admin token (a JWT Roster signed)
//! decides the account. Errors are `{"error": {"code", "message", "field"}}`.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::jwt::AdminPrincipal;
use crate::engine::admin::AdminError;
use crate::engine::Engine;

use super::scim::read_json;

const MAX_BODY: usize = 1024 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/v1")
            .route("/products", web::get().to(products))
            .route("/products/{product}", web::put().to(put_product))
            .route("/settings", web::get().to(settings))
            .route("/settings", web::patch().to(patch_settings))
            .route("/rules", web::get().to(rules))
            .route("/rules", web::post().to(add_rule))
            .route("/rules/{id}", web::delete().to(delete_rule))
            .route("/conflicts", web::get().to(conflicts))
            .route("/connections", web::get().to(connections))
            .route("/connections", web::post().to(create_connection))
            .route("/connections/{id}", web::delete().to(revoke_connection))
            .route("/users/{id}/suspend", web::post().to(suspend))
            .route("/users/{id}/reactivate", web::post().to(reactivate))
            .route("/users/{id}/transfer", web::post().to(transfer))
            .default_service(web::route().to(unknown)),
    );
}

/// The one place admin errors become responses.
pub fn admin_error(e: &AdminError) -> HttpResponse {
    let (status, code, message, field) = match e {
        AdminError::Invalid {
            code,
            message,
            field,
        } => (
            StatusCode::BAD_REQUEST,
            *code,
            message.as_str(),
            field.as_deref(),
        ),
        AdminError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m.as_str(), None),
        AdminError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.as_str(), None),
        AdminError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.as_str(), None),
        AdminError::Conflict { code, message } => {
            (StatusCode::CONFLICT, *code, message.as_str(), None)
        }
        AdminError::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal server error",
                None,
            )
        }
    };
    let mut err = json!({"code": code, "message": message});
    if let (Some(f), Some(o)) = (field, err.as_object_mut()) {
        o.insert("field".into(), f.into());
    }
    let mut resp = HttpResponse::build(status).json(json!({ "error": err }));
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"roster-admin\""),
        );
    }
    resp
}

fn reply(r: Result<Value, AdminError>) -> HttpResponse {
    match r {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => admin_error(&e),
    }
}

async fn principal(req: &HttpRequest, engine: &Engine) -> Result<AdminPrincipal, AdminError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer)
        .ok_or_else(|| {
            AdminError::Unauthorized("send 'Authorization: Bearer <admin token>'".into())
        })?;
    engine.authenticate_admin(token).await
}

async fn body(payload: web::Payload) -> Result<Value, AdminError> {
    read_json(payload, MAX_BODY).await.map_err(AdminError::from)
}

fn changes(c: &[crate::engine::seats::SeatChange]) -> Value {
    Value::Array(
        c.iter()
            .map(|c| json!({"user_id": c.user_id, "product": c.product, "change": c.change}))
            .collect(),
    )
}

async fn unknown() -> HttpResponse {
    admin_error(&AdminError::NotFound("no such admin endpoint".into()))
}

async fn products(req: HttpRequest, engine: web::Data<Engine>) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            let pools = engine.products(&ap).await?;
            Ok(json!({ "products": pools }))
        }
        .await,
    )
}

async fn put_product(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            let b = body(payload).await?;
            let seats = b.get("seats").cloned().unwrap_or(Value::Null);
            let (pool, moved) = engine.set_licenses(&ap, &path, &seats).await?;
            let mut v =
                serde_json::to_value(pool).map_err(|e| AdminError::Internal(e.to_string()))?;
            if let Some(o) = v.as_object_mut() {
                o.insert("seat_changes".into(), changes(&moved));
            }
            Ok(v)
        }
        .await,
    )
}

async fn settings(req: HttpRequest, engine: web::Data<Engine>) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            Ok(engine.settings(&ap).await?.to_json())
        }
        .await,
    )
}

async fn patch_settings(
    req: HttpRequest,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            let b = body(payload).await?;
            let (s, moved) = engine.patch_settings(&ap, &b).await?;
            let mut v = s.to_json();
            if let Some(o) = v.as_object_mut() {
                o.insert("seat_changes".into(), changes(&moved));
            }
            Ok(v)
        }
        .await,
    )
}

async fn rules(req: HttpRequest, engine: web::Data<Engine>) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            Ok(json!({ "rules": engine.rules(&ap).await? }))
        }
        .await,
    )
}

async fn add_rule(
    req: HttpRequest,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    let r = async {
        let ap = principal(&req, &engine).await?;
        let b = body(payload).await?;
        let (rule, moved) = engine.add_rule(&ap, &b).await?;
        let mut v = serde_json::to_value(rule).map_err(|e| AdminError::Internal(e.to_string()))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("seat_changes".into(), changes(&moved));
        }
        Ok(v)
    }
    .await;
    match r {
        Ok(v) => HttpResponse::Created().json(v),
        Err(e) => admin_error(&e),
    }
}

async fn delete_rule(
    req: HttpRequest,
    path: web::Path<String>,
    engine: web::Data<Engine>,
) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            let moved = engine.delete_rule(&ap, &path).await?;
            Ok(json!({ "deleted": path.as_str(), "seat_changes": changes(&moved) }))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct ConflictQuery {
    status: Option<String>,
}

async fn conflicts(
    req: HttpRequest,
    q: web::Query<ConflictQuery>,
    engine: web::Data<Engine>,
) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            Ok(json!({ "conflicts": engine.conflicts(&ap, q.status.as_deref()).await? }))
        }
        .await,
    )
}

async fn suspend(
    req: HttpRequest,
    path: web::Path<String>,
    engine: web::Data<Engine>,
) -> HttpResponse {
    set_active(req, path, engine, false).await
}

async fn reactivate(
    req: HttpRequest,
    path: web::Path<String>,
    engine: web::Data<Engine>,
) -> HttpResponse {
    set_active(req, path, engine, true).await
}

async fn set_active(
    req: HttpRequest,
    path: web::Path<String>,
    engine: web::Data<Engine>,
    active: bool,
) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            let (user, moved) = engine.set_active(&ap, &path, active).await?;
            Ok(json!({ "user": user, "seat_changes": changes(&moved) }))
        }
        .await,
    )
}

async fn transfer(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            let b = body(payload).await?;
            engine.transfer(&ap, &path, &b).await
        }
        .await,
    )
}

async fn connections(req: HttpRequest, engine: web::Data<Engine>) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            engine.connections(&ap).await
        }
        .await,
    )
}

async fn create_connection(
    req: HttpRequest,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    let r = async {
        let ap = principal(&req, &engine).await?;
        let b = body(payload).await?;
        engine.create_connection(&ap, &b).await
    }
    .await;
    match r {
        Ok(v) => HttpResponse::Created().json(v),
        Err(e) => admin_error(&e),
    }
}

async fn revoke_connection(
    req: HttpRequest,
    path: web::Path<String>,
    engine: web::Data<Engine>,
) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            engine.revoke_connection(&ap, &path).await
        }
        .await,
    )
}
