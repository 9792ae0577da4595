//! The admin API under `/admin/v1`: JSON in and out, an admin token (a JWT Roster signed)
//! decides the account. Errors are `{"error": {"code", "message", "field"}}`.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::jwt::AdminPrincipal;
use crate::engine::admin::AdminError;
use crate::engine::synclog::{entry_json, Ctx, LogFilter};
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
            .route("/sync-log", web::get().to(sync_log))
            .route("/imports", web::post().to(import))
            .route("/users", web::get().to(users))
            .route("/users", web::post().to(add_user))
            .route("/users/{id}", web::delete().to(delete_user))
            .route("/reports/{name}", web::get().to(report))
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

fn ctx(req: &HttpRequest, ap: &AdminPrincipal) -> Ctx {
    Ctx::new(
        format!("admin:{}", ap.subject),
        req.method().as_str(),
        req.path(),
        super::scim::request_id(req),
    )
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
            let (pool, moved) = engine
                .set_licenses(&ap, &path, &seats, &ctx(&req, &ap))
                .await?;
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
            let (s, moved) = engine.patch_settings(&ap, &b, &ctx(&req, &ap)).await?;
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
        let (rule, moved) = engine.add_rule(&ap, &b, &ctx(&req, &ap)).await?;
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
            let moved = engine.delete_rule(&ap, &path, &ctx(&req, &ap)).await?;
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
            let (user, moved) = engine
                .set_active(&ap, &path, active, &ctx(&req, &ap))
                .await?;
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
            engine.transfer(&ap, &path, &b, &ctx(&req, &ap)).await
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
        engine.create_connection(&ap, &b, &ctx(&req, &ap)).await
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
            engine.revoke_connection(&ap, &path, &ctx(&req, &ap)).await
        }
        .await,
    )
}

#[derive(Deserialize)]
struct SyncLogQuery {
    since: Option<String>,
    until: Option<String>,
    user: Option<String>,
    connection: Option<String>,
    outcome: Option<String>,
    operation: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

/// Whether the client asked for CSV (`?format=csv` or `Accept: text/csv`).
fn wants_csv(req: &HttpRequest, format: Option<&str>) -> bool {
    format.is_some_and(|f| f.eq_ignore_ascii_case("csv"))
        || req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"))
}

fn csv_response(name: &str, header_row: &[&str], rows: Vec<Vec<String>>) -> HttpResponse {
    let mut w = csv::Writer::from_writer(vec![]);
    let mut ok = w.write_record(header_row).is_ok();
    for r in rows {
        ok &= w.write_record(&r).is_ok();
    }
    match (ok, w.into_inner()) {
        (true, Ok(bytes)) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ))
            .body(bytes),
        _ => admin_error(&AdminError::Internal("could not write CSV".into())),
    }
}

async fn sync_log(
    req: HttpRequest,
    q: web::Query<SyncLogQuery>,
    engine: web::Data<Engine>,
) -> HttpResponse {
    let q = q.into_inner();
    let filter = LogFilter {
        since: q.since,
        until: q.until,
        user: q.user,
        connection: q.connection,
        outcome: q.outcome,
        operation: q.operation,
        cursor: q.cursor,
        limit: q.limit,
    };
    let r = async {
        let ap = principal(&req, &engine).await?;
        engine.sync_log(&ap, &filter).await
    }
    .await;
    let (rows, next) = match r {
        Ok(v) => v,
        Err(e) => return admin_error(&e),
    };
    if wants_csv(&req, q.format.as_deref()) {
        let header_row = [
            "at",
            "actor",
            "request_id",
            "method",
            "path",
            "resource_type",
            "resource_id",
            "user_name",
            "action",
            "status",
            "http_status",
            "scim_type",
            "detail",
            "error_code",
            "recommended_action",
            "notes",
            "modified_properties",
            "seat_changes",
            "steps",
            "latency_ms",
        ];
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        let lines = rows
            .iter()
            .map(|r| {
                vec![
                    r.at.clone(),
                    r.actor.clone(),
                    r.request_id.clone(),
                    r.method.clone(),
                    r.path.clone(),
                    opt(&r.resource_type),
                    opt(&r.resource_id),
                    opt(&r.user_name),
                    r.action.clone(),
                    r.status.clone(),
                    r.http_status.to_string(),
                    opt(&r.scim_type),
                    opt(&r.detail),
                    opt(&r.error_code),
                    opt(&r.recommended_action),
                    r.notes.clone(),
                    r.changes.clone(),
                    r.seat_changes.clone(),
                    r.steps.clone(),
                    r.latency_ms.to_string(),
                ]
            })
            .collect();
        return csv_response("sync-log", &header_row, lines);
    }
    HttpResponse::Ok().json(json!({
        "entries": rows.iter().map(entry_json).collect::<Vec<_>>(),
        "next_cursor": next,
    }))
}

/// Largest CSV an import takes (about 500,000 rows).
const MAX_IMPORT: usize = 64 * 1024 * 1024;

#[derive(Deserialize)]
struct ImportQuery {
    dry_run: Option<String>,
}

async fn import(
    req: HttpRequest,
    q: web::Query<ImportQuery>,
    mut payload: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    use futures_util::StreamExt;
    let r = async {
        let ap = principal(&req, &engine).await?;
        let dry_run = match q.dry_run.as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") | Some("") => true,
            Some(_) => {
                return Err(AdminError::Invalid {
                    code: "invalid_value",
                    message: "dry_run is true or false".into(),
                    field: Some("dry_run".into()),
                })
            }
        };
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| AdminError::Invalid {
                code: "invalid_request",
                message: format!("could not read the body: {e}"),
                field: None,
            })?;
            if body.len() + chunk.len() > MAX_IMPORT {
                return Err(AdminError::Invalid {
                    code: "too_large",
                    message: format!("the file is larger than {MAX_IMPORT} bytes: split it"),
                    field: None,
                });
            }
            body.extend_from_slice(&chunk);
        }
        let text = std::str::from_utf8(&body).map_err(|_| AdminError::Invalid {
            code: "invalid_csv",
            message: "the file is not UTF-8 text".into(),
            field: None,
        })?;
        engine
            .import(&ap, text, dry_run, &ctx(&req, &ap), &|_, _| {})
            .await
    }
    .await;
    match r {
        Ok(report) => HttpResponse::Ok().json(report),
        Err(e) => admin_error(&e),
    }
}

#[derive(Deserialize)]
struct UsersQuery {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<String>,
    count: Option<String>,
}

async fn users(
    req: HttpRequest,
    q: web::Query<UsersQuery>,
    engine: web::Data<Engine>,
) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            engine
                .admin_users(
                    &ap,
                    q.filter.as_deref(),
                    q.start_index.as_deref(),
                    q.count.as_deref(),
                )
                .await
        }
        .await,
    )
}

async fn add_user(
    req: HttpRequest,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> HttpResponse {
    let r = async {
        let ap = principal(&req, &engine).await?;
        let b = body(payload).await?;
        engine.admin_add_user(&ap, &b, &ctx(&req, &ap)).await
    }
    .await;
    match r {
        Ok(row) if row.result == "failed" => admin_error(&AdminError::Invalid {
            code: if row.conflicts.iter().any(|c| c == "email_in_use") {
                "email_in_use"
            } else {
                "invalid_user"
            },
            message: row.reason.clone().unwrap_or_default(),
            field: None,
        }),
        Ok(row) if row.result == "created" => HttpResponse::Created().json(row),
        Ok(row) => HttpResponse::Ok().json(row),
        Err(e) => admin_error(&e),
    }
}

async fn delete_user(
    req: HttpRequest,
    path: web::Path<String>,
    engine: web::Data<Engine>,
) -> HttpResponse {
    reply(
        async {
            let ap = principal(&req, &engine).await?;
            engine.admin_delete_user(&ap, &path, &ctx(&req, &ap)).await
        }
        .await,
    )
}

#[derive(Deserialize)]
struct ReportQuery {
    format: Option<String>,
}

async fn report(
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<ReportQuery>,
    engine: web::Data<Engine>,
) -> HttpResponse {
    let r = async {
        let ap = principal(&req, &engine).await?;
        engine.report(&ap, &path).await
    }
    .await;
    let table = match r {
        Ok(t) => t,
        Err(e) => return admin_error(&e),
    };
    if wants_csv(&req, q.format.as_deref()) {
        let rows = table
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        return csv_response(table.name, &table.columns, rows);
    }
    HttpResponse::Ok().json(table.to_json())
}
