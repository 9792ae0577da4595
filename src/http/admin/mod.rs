//! The admin API under `/admin/v1`: JSON in and out, an admin token (a JWT Roster signed)
//! decides the account. Each handler extracts ([`Admin`], [`Body`], path and query), makes
//! one engine call and replies; errors are `{"error": {"code", "message", "field"}}`.

mod extract;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::engine::authz::RevokeAdminTokens;
use crate::engine::connections::NewConnection;
use crate::engine::events::webhooks::{NewWebhook, Replay, WebhookPatch};
use crate::engine::events::EventQuery;
use crate::engine::limits::ConnectionPatch;
use crate::engine::pools::SetLicenses;
use crate::engine::reports::ReportParams;
use crate::engine::rules::NewRule;
use crate::engine::synclog::{EntryView, LogFilter, LogPage, SyncRow};
use crate::engine::transfer::TransferTo;
use crate::engine::users::NewUser;
use crate::engine::{Engine, EngineError, ErrorCode};
use crate::http::body::BodyTimeout;

use extract::{csv_response, json_body, query_error, wants_csv};
pub use extract::{Admin, Body};

type Reply = Result<HttpResponse, EngineError>;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin/v1")
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .route("/products", web::get().to(products))
            .route("/products/{product}", web::put().to(put_product))
            .route("/settings", web::get().to(settings))
            .route("/settings", web::patch().to(patch_settings))
            .route("/rules", web::get().to(rules))
            .route("/rules", web::post().to(add_rule))
            .route("/rules/{id}", web::delete().to(delete_rule))
            .route("/conflicts", web::get().to(conflicts))
            .route("/holds", web::get().to(holds))
            .route("/holds/{id}/release", web::post().to(release_hold))
            .route("/holds/{id}/discard", web::post().to(discard_hold))
            .route("/sync-log", web::get().to(sync_log))
            .route("/imports", web::post().to(import))
            .route("/users", web::get().to(users))
            .route("/users", web::post().to(add_user))
            .route("/users/{id}", web::delete().to(delete_user))
            .route("/reports/{name}", web::get().to(report))
            .route("/connections", web::get().to(connections))
            .route("/connections", web::post().to(create_connection))
            .route("/connections/{id}", web::delete().to(revoke_connection))
            .route("/connections/{name}/secrets", web::post().to(add_secret))
            .route(
                "/connections/{name}/secrets/{id}",
                web::delete().to(revoke_secret),
            )
            .route("/connections/{name}", web::patch().to(patch_connection))
            .route("/users/{id}/suspend", web::post().to(suspend))
            .route("/users/{id}/reactivate", web::post().to(reactivate))
            .route("/users/{id}/transfer", web::post().to(transfer))
            .route("/admin-tokens/revoke", web::post().to(revoke_admin_tokens))
            .route("/schemas", web::get().to(schemas))
            .route("/schemas", web::post().to(add_schema))
            .route("/schemas/{urn}", web::delete().to(delete_schema))
            .route("/events", web::get().to(events))
            .route("/webhooks", web::get().to(webhooks))
            .route("/webhooks", web::post().to(add_webhook))
            .route("/webhooks/{id}", web::get().to(webhook))
            .route("/webhooks/{id}", web::patch().to(patch_webhook))
            .route("/webhooks/{id}", web::delete().to(delete_webhook))
            .route("/webhooks/{id}/deliveries", web::get().to(deliveries))
            .route(
                "/webhooks/{id}/deliveries/{delivery}/retry",
                web::post().to(retry_delivery),
            )
            .route("/webhooks/{id}/replay", web::post().to(replay_webhook))
            .default_service(web::route().to(unknown)),
    );
}

fn ok(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

fn created(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Created().json(body)
}

async fn unknown() -> Reply {
    Err(EngineError::not_found("no such admin endpoint"))
}

async fn products(a: Admin, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.products(&a.principal).await?))
}

/// `?dry_run=true` on a change that moves seats: its forecast, written nowhere.
#[derive(Deserialize)]
struct DryRunQuery {
    dry_run: Option<String>,
}

impl DryRunQuery {
    fn dry(&self) -> Result<bool, EngineError> {
        match self.dry_run.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(_) => Err(EngineError::invalid(
                ErrorCode::InvalidValue,
                "dry_run",
                "dry_run is true or false",
            )),
        }
    }
}

async fn put_product(
    a: Admin,
    product: web::Path<String>,
    q: web::Query<DryRunQuery>,
    Body(input): Body<SetLicenses>,
    engine: web::Data<Engine>,
) -> Reply {
    if q.dry()? {
        return Ok(ok(engine
            .forecast_licenses(&a.principal, &product, &input, &a.ctx)
            .await?));
    }
    Ok(ok(engine
        .set_licenses(&a.principal, &product, &input, &a.ctx)
        .await?))
}

async fn settings(a: Admin, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.settings(&a.principal).await?))
}

async fn patch_settings(
    req: HttpRequest,
    a: Admin,
    q: web::Query<DryRunQuery>,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> Reply {
    let dry = q.dry()?;
    let patch = json_body(payload, BodyTimeout::of(&req)).await?;
    if dry {
        return Ok(ok(engine
            .forecast_settings(&a.principal, &patch, &a.ctx)
            .await?));
    }
    Ok(ok(engine
        .patch_settings(&a.principal, &patch, &a.ctx)
        .await?))
}

async fn schemas(a: Admin, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.schemas(&a.principal).await?))
}

#[derive(Deserialize)]
struct SchemaQuery {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
}

/// The body is an RFC 7643 §7 schema document, checked by the engine member by member.
async fn add_schema(
    req: HttpRequest,
    a: Admin,
    q: web::Query<SchemaQuery>,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> Reply {
    let doc = json_body(payload, BodyTimeout::of(&req)).await?;
    Ok(created(
        engine
            .add_schema(&a.principal, &doc, q.resource_type.as_deref(), &a.ctx)
            .await?,
    ))
}

async fn delete_schema(a: Admin, urn: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.delete_schema(&a.principal, &urn, &a.ctx).await?))
}

async fn rules(a: Admin, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.rules(&a.principal).await?))
}

async fn add_rule(
    a: Admin,
    q: web::Query<DryRunQuery>,
    Body(input): Body<NewRule>,
    engine: web::Data<Engine>,
) -> Reply {
    if q.dry()? {
        return Ok(ok(engine
            .forecast_add_rule(&a.principal, &input, &a.ctx)
            .await?));
    }
    Ok(created(
        engine.add_rule(&a.principal, &input, &a.ctx).await?,
    ))
}

async fn delete_rule(
    a: Admin,
    id: web::Path<String>,
    q: web::Query<DryRunQuery>,
    engine: web::Data<Engine>,
) -> Reply {
    if q.dry()? {
        return Ok(ok(engine
            .forecast_delete_rule(&a.principal, &id, &a.ctx)
            .await?));
    }
    Ok(ok(engine.delete_rule(&a.principal, &id, &a.ctx).await?))
}

#[derive(Deserialize)]
struct ConflictQuery {
    status: Option<String>,
}

async fn conflicts(a: Admin, q: web::Query<ConflictQuery>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine
        .conflicts(&a.principal, q.status.as_deref())
        .await?))
}

/// `?status=open|released|discarded|all`, like the conflicts' filter.
async fn holds(a: Admin, q: web::Query<ConflictQuery>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.holds(&a.principal, q.status.as_deref()).await?))
}

async fn release_hold(a: Admin, id: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.release_hold(&a.principal, &id, &a.ctx).await?))
}

async fn discard_hold(a: Admin, id: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.discard_hold(&a.principal, &id, &a.ctx).await?))
}

async fn suspend(a: Admin, id: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine
        .set_active(&a.principal, &id, false, &a.ctx)
        .await?))
}

async fn reactivate(a: Admin, id: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine
        .set_active(&a.principal, &id, true, &a.ctx)
        .await?))
}

async fn transfer(
    a: Admin,
    id: web::Path<String>,
    Body(input): Body<TransferTo>,
    engine: web::Data<Engine>,
) -> Reply {
    Ok(ok(engine
        .transfer(&a.principal, &id, &input, &a.ctx)
        .await?))
}

async fn revoke_admin_tokens(
    a: Admin,
    Body(input): Body<RevokeAdminTokens>,
    engine: web::Data<Engine>,
) -> Reply {
    engine.revoke_admin_tokens_as(&a.principal, &input).await?;
    Ok(ok(
        serde_json::json!({"revoked": if input.all { "all" } else { "one" }}),
    ))
}

async fn add_secret(a: Admin, name: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(created(
        engine
            .add_client_secret(&a.principal, &name, &a.ctx)
            .await?,
    ))
}

async fn revoke_secret(
    a: Admin,
    path: web::Path<(String, String)>,
    engine: web::Data<Engine>,
) -> Reply {
    let (name, id) = path.into_inner();
    Ok(ok(engine
        .revoke_client_secret(&a.principal, &name, &id, &a.ctx)
        .await?))
}

async fn connections(a: Admin, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.connections(&a.principal).await?))
}

async fn create_connection(
    a: Admin,
    Body(input): Body<NewConnection>,
    engine: web::Data<Engine>,
) -> Reply {
    Ok(created(
        engine
            .create_connection(&a.principal, &input, &a.ctx)
            .await?,
    ))
}

async fn revoke_connection(a: Admin, id: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine
        .revoke_connection(&a.principal, &id, &a.ctx)
        .await?))
}

async fn patch_connection(
    a: Admin,
    name: web::Path<String>,
    Body(input): Body<ConnectionPatch>,
    engine: web::Data<Engine>,
) -> Reply {
    Ok(ok(engine
        .patch_connection(&a.principal, &name, &input, &a.ctx)
        .await?))
}

#[derive(Deserialize)]
struct SyncLogQuery {
    #[serde(flatten)]
    filter: LogFilter,
    format: Option<String>,
}

const SYNC_LOG_COLUMNS: [&str; 20] = [
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

/// Sync-log entries as a CSV download (the admin API's `format=csv` and the console's export).
pub(crate) fn sync_log_csv(rows: &[SyncRow]) -> Reply {
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
    csv_response("sync-log", &SYNC_LOG_COLUMNS, lines)
}

async fn sync_log(
    req: HttpRequest,
    a: Admin,
    q: web::Query<SyncLogQuery>,
    engine: web::Data<Engine>,
) -> Reply {
    let (rows, next) = engine.sync_log(&a.principal, &q.filter).await?;
    if wants_csv(&req, q.format.as_deref()) {
        return sync_log_csv(&rows);
    }
    Ok(ok(LogPage {
        entries: rows.iter().map(EntryView::from).collect(),
        next_cursor: next,
    }))
}

/// Largest CSV an import takes (about 500,000 rows).
const MAX_IMPORT: usize = 64 * 1024 * 1024;

async fn import(
    req: HttpRequest,
    a: Admin,
    q: web::Query<DryRunQuery>,
    payload: web::Payload,
    engine: web::Data<Engine>,
) -> Reply {
    let dry_run = q.dry()?;
    let body = extract::read_limited(payload, MAX_IMPORT, BodyTimeout::of(&req)).await?;
    let text = crate::engine::import::decode(&body)?;
    Ok(ok(engine
        .import(&a.principal, &text, dry_run, &a.ctx, &|_, _| {})
        .await?))
}

#[derive(Deserialize)]
struct UsersQuery {
    filter: Option<String>,
    #[serde(rename = "startIndex")]
    start_index: Option<String>,
    count: Option<String>,
}

async fn users(a: Admin, q: web::Query<UsersQuery>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine
        .admin_users(
            &a.principal,
            q.filter.as_deref(),
            q.start_index.as_deref(),
            q.count.as_deref(),
        )
        .await?))
}

async fn add_user(a: Admin, Body(input): Body<NewUser>, engine: web::Data<Engine>) -> Reply {
    let row = engine.admin_add_user(&a.principal, &input, &a.ctx).await?;
    Ok(match row.result {
        "created" => created(row),
        _ => ok(row),
    })
}

async fn delete_user(a: Admin, id: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine
        .admin_delete_user(&a.principal, &id, &a.ctx)
        .await?))
}

#[derive(Deserialize)]
struct ReportQuery {
    format: Option<String>,
    #[serde(flatten)]
    params: ReportParams,
}

async fn report(
    req: HttpRequest,
    a: Admin,
    name: web::Path<String>,
    q: web::Query<ReportQuery>,
    engine: web::Data<Engine>,
) -> Reply {
    let table = engine.report(&a.principal, &name, &q.params).await?;
    if wants_csv(&req, q.format.as_deref()) {
        let rows = table
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect();
        return csv_response(table.name, &table.columns, rows);
    }
    Ok(ok(table))
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<String>,
    types: Option<String>,
    limit: Option<String>,
    wait: Option<String>,
}

/// `GET /admin/v1/events?after=N&types=a,b&limit=N&wait=SECONDS`: a long poll when `wait`.
async fn events(a: Admin, q: web::Query<EventsQuery>, engine: web::Data<Engine>) -> Reply {
    let q = EventQuery::parse(
        q.after.as_deref(),
        q.types.as_deref(),
        q.limit.as_deref(),
        q.wait.as_deref(),
    )?;
    Ok(ok(engine.events(&a.principal, &q).await?))
}

async fn webhooks(a: Admin, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.webhooks(&a.principal).await?))
}

async fn add_webhook(a: Admin, Body(input): Body<NewWebhook>, engine: web::Data<Engine>) -> Reply {
    Ok(created(
        engine.add_webhook(&a.principal, &input, &a.ctx).await?,
    ))
}

async fn webhook(a: Admin, id: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.webhook(&a.principal, &id).await?))
}

async fn patch_webhook(
    a: Admin,
    id: web::Path<String>,
    Body(input): Body<WebhookPatch>,
    engine: web::Data<Engine>,
) -> Reply {
    Ok(ok(engine
        .patch_webhook(&a.principal, &id, &input, &a.ctx)
        .await?))
}

async fn delete_webhook(a: Admin, id: web::Path<String>, engine: web::Data<Engine>) -> Reply {
    Ok(ok(engine.delete_webhook(&a.principal, &id, &a.ctx).await?))
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    outcome: Option<String>,
    limit: Option<String>,
}

async fn deliveries(
    a: Admin,
    id: web::Path<String>,
    q: web::Query<DeliveriesQuery>,
    engine: web::Data<Engine>,
) -> Reply {
    Ok(ok(engine
        .deliveries(&a.principal, &id, q.outcome.as_deref(), q.limit.as_deref())
        .await?))
}

async fn retry_delivery(
    a: Admin,
    path: web::Path<(String, String)>,
    engine: web::Data<Engine>,
) -> Reply {
    let (id, delivery) = path.into_inner();
    Ok(HttpResponse::Accepted().json(engine.retry_delivery(&a.principal, &id, &delivery).await?))
}

async fn replay_webhook(
    a: Admin,
    id: web::Path<String>,
    Body(input): Body<Replay>,
    engine: web::Data<Engine>,
) -> Reply {
    Ok(HttpResponse::Accepted().json(
        engine
            .replay_webhook(&a.principal, &id, &input, &a.ctx)
            .await?,
    ))
}
