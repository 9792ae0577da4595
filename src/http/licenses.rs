//! `/scim/v2/Licenses` and `/scim/v2/Licenses/{id}`: the account's products as read-only
//! License resources (list with filter, sort, paging and attributes; one by id). Any other
//! method is a 405 with `Allow: GET`: licenses are bought by admins, and a user holds one
//! through an entitlement on the user.

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;

use crate::auth::Principal;
use crate::engine::synclog::Ctx;
use crate::engine::Engine;
use crate::scim::license::LicenseQuery;
use crate::scim::list::{list_response, ListParams};
use crate::scim::ScimError;

use super::scim_json;

/// `GET /Licenses` (`id` none) or `GET /Licenses/{id}`.
pub(super) async fn serve(
    req: &HttpRequest,
    engine: &Engine,
    p: &Principal,
    id: Option<&str>,
    query: &[(String, String)],
    base: &str,
    ctx: &Ctx,
) -> Result<HttpResponse, ScimError> {
    super::scim::allow(req.method(), &[Method::GET], "GET")?;
    let params = ListParams::from_query(query);
    let q = LicenseQuery::parse(engine.registry(), &params)?;
    match id {
        None => {
            let (total, items) = engine.licenses(p, &q, ctx).await?;
            let resources = items
                .iter()
                .map(|l| q.render(engine.registry(), l, base))
                .collect();
            Ok(scim_json(
                StatusCode::OK,
                &list_response(total, q.start_index, resources),
            ))
        }
        Some(id) => {
            let l = engine.license(p, id, ctx).await?;
            Ok(scim_json(
                StatusCode::OK,
                &Value::Object(q.render(engine.registry(), &l, base)),
            ))
        }
    }
}
