//! RFC 7644 §3.7 Bulk: operations in order, an operation that refers to a later one's
//! `bulkId` waits for it, each in its own transaction.

use std::collections::HashMap;

use serde_json::Value;

use crate::auth::Principal;
use crate::scim::bulk::{self, BulkOp, Method};
use crate::scim::resource::{self, etag};
use crate::scim::ScimError;

use super::super::synclog::Ctx;
use super::super::Engine;

impl Engine {
    /// Runs a Bulk request: operations in order (an operation that refers to a later one's
    /// `bulkId` waits for it), each in its own transaction.
    pub async fn bulk(
        &self,
        p: &Principal,
        body: &Value,
        base_url: &str,
        ctx: &Ctx,
    ) -> Result<Value, ScimError> {
        let req = bulk::parse_request(body, self.registry().bulk_max_operations())?;
        let mut ids: HashMap<String, String> = HashMap::new();
        let mut results: Vec<Option<Value>> = vec![None; req.ops.len()];
        let mut pending: Vec<usize> = (0..req.ops.len()).collect();
        let mut errors = 0u64;
        'passes: loop {
            let mut progressed = false;
            let mut still = vec![];
            for &i in &pending {
                let Some(op) = req.ops.get(i) else { continue };
                let waiting = !bulk::unresolved(&op.data.clone().unwrap_or(Value::Null), &ids)
                    .is_empty()
                    || !bulk::unresolved(&Value::String(op.path.clone()), &ids).is_empty();
                if waiting {
                    still.push(i);
                    continue;
                }
                progressed = true;
                let result = self.bulk_op(p, op, &ids, base_url, ctx).await;
                let entry = match result {
                    Ok((status, location, version, new_id)) => {
                        if let (Some(b), Some(new_id)) = (&op.bulk_id, new_id) {
                            ids.insert(b.clone(), new_id);
                        }
                        bulk::response_op(op, status, location, version, None)
                    }
                    Err(e) => {
                        errors += 1;
                        bulk::response_op(op, e.status(), None, None, Some(e.to_body()))
                    }
                };
                if let Some(slot) = results.get_mut(i) {
                    *slot = Some(entry);
                }
                if req
                    .fail_on_errors
                    .is_some_and(|max| max > 0 && errors >= max)
                {
                    break 'passes;
                }
            }
            pending = still;
            if pending.is_empty() || !progressed {
                break;
            }
        }
        // Whatever still waits refers to a bulkId nothing created.
        let stopped = req
            .fail_on_errors
            .is_some_and(|max| max > 0 && errors >= max);
        if !stopped {
            for i in pending {
                if let (Some(op), Some(slot)) = (req.ops.get(i), results.get_mut(i)) {
                    let e = ScimError::bad(
                        crate::scim::ScimType::InvalidValue,
                        "a bulkId this operation refers to was never created",
                    );
                    *slot = Some(bulk::response_op(op, 409, None, None, Some(e.to_body())));
                }
            }
        }
        Ok(bulk::response(results.into_iter().flatten().collect()))
    }

    /// One bulk operation: status, location, version, and the new id for a POST.
    async fn bulk_op(
        &self,
        p: &Principal,
        op: &BulkOp,
        ids: &HashMap<String, String>,
        base_url: &str,
        ctx: &Ctx,
    ) -> Result<(u16, Option<String>, Option<String>, Option<String>), ScimError> {
        let ctx = &ctx.part(op.method.as_str(), &format!("/Bulk {}", op.path));
        let mut path = Value::String(op.path.clone());
        bulk::substitute(&mut path, ids);
        let path = path.as_str().unwrap_or_default().to_string();
        let (kind, id) = bulk::parse_path(&path)
            .ok_or_else(|| ScimError::invalid_path(format!("unknown bulk path \"{path}\"")))?;
        let mut data = op.data.clone().unwrap_or(Value::Null);
        bulk::substitute(&mut data, ids);
        // `*` matches any version; one that names none of Roster's cannot match, so the write
        // is refused (412), never made without a condition. Versions start at 1: 0 matches
        // nothing.
        let if_match = match op.version.as_deref().map(str::trim) {
            None | Some("*") => None,
            Some(v) => Some(resource::parse_etag(v).unwrap_or(0)),
        };
        let location = |id: &str| format!("{base_url}/{}/{id}", kind.endpoint());
        match (op.method, id) {
            (Method::Post, None) => {
                let out = self.create(p, kind, &data, ctx).await?;
                let r = out.resource;
                Ok((
                    201,
                    Some(location(&r.id)),
                    Some(etag(r.version)),
                    Some(r.id),
                ))
            }
            (Method::Put, Some(id)) => {
                let out = self.replace(p, kind, &id, &data, if_match, ctx).await?;
                Ok((
                    200,
                    Some(location(&id)),
                    Some(etag(out.resource.version)),
                    None,
                ))
            }
            (Method::Patch, Some(id)) => {
                let out = self
                    .patch(p, kind, &id, &data, if_match, false, ctx)
                    .await?;
                Ok((
                    200,
                    Some(location(&id)),
                    Some(etag(out.resource.version)),
                    None,
                ))
            }
            (Method::Delete, Some(id)) => {
                self.delete(p, kind, &id, if_match, ctx).await?;
                Ok((204, Some(location(&id)), None, None))
            }
            _ => Err(ScimError::invalid_path(format!(
                "{} {path}: POST goes to a resource type, the others to one resource",
                op.method.as_str()
            ))),
        }
    }
}
