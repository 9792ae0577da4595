//! SCIM resources: create, read, list, replace, patch, delete and bulk, each one
//! transaction.

use std::collections::HashMap;

use serde_json::Value;

use crate::auth::Principal;
use crate::scim::bulk::{self, BulkOp, Method};
use crate::scim::list::ListQuery;
use crate::scim::patch::{self, MemberOp};
use crate::scim::projection::Projection;
use crate::scim::resource::{self, etag, Stored};
use crate::scim::{Notes, ResourceKind, ScimError};
use crate::store::resources::{ListError, Written};
use crate::store::Tx;

use super::{store_error, Engine};

/// What a write returns: the resource as stored now, and what normalisation rewrote.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub resource: Stored,
    pub notes: Notes,
}

fn not_found(kind: ResourceKind, id: &str) -> ScimError {
    ScimError::not_found(format!("{} {id} not found", kind.name()))
}

fn stale(current: i64) -> ScimError {
    ScimError::PreconditionFailed {
        detail: format!(
            "the resource has changed: its version is now {}",
            etag(current)
        ),
    }
}

fn written(kind: ResourceKind, id: &str, w: Written) -> Result<i64, ScimError> {
    match w {
        Written::Done { version } => Ok(version),
        Written::NotFound => Err(not_found(kind, id)),
        Written::Stale { current } => Err(stale(current)),
    }
}

fn refs_key(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::User => "groups",
        ResourceKind::Group => "members",
    }
}

impl Engine {
    pub async fn create(
        &self,
        p: &Principal,
        kind: ResourceKind,
        body: &Value,
    ) -> Result<Outcome, ScimError> {
        let mut notes = vec![];
        let n = resource::normalise(self.registry(), kind, body, &mut notes)?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.now();
        let mut tx = self.store.write().await.map_err(store_error)?;
        tx.insert_resource(p.account_id, kind, &id, &n.doc, &now)
            .await
            .map_err(store_error)?;
        self.sync_identities(&mut tx, p, kind, None, &n.doc).await?;
        if let Some(members) = &n.members {
            self.add_members(&mut tx, p, &id, members).await?;
        }
        let resource = self.load(&mut tx, p, kind, &id, true).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Outcome { resource, notes })
    }

    async fn load(
        &self,
        tx: &mut Tx,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        with_refs: bool,
    ) -> Result<Stored, ScimError> {
        let mut found = tx
            .get_resource(p.account_id, kind, id)
            .await
            .map_err(store_error)?
            .ok_or_else(|| not_found(kind, id))?;
        if with_refs {
            tx.load_refs(p.account_id, std::slice::from_mut(&mut found))
                .await
                .map_err(store_error)?;
        }
        Ok(found)
    }

    pub async fn get(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        projection: &Projection,
    ) -> Result<Stored, ScimError> {
        let mut tx = self.store.read().await.map_err(store_error)?;
        self.load(&mut tx, p, kind, id, projection.wants(refs_key(kind)))
            .await
    }

    pub async fn list(
        &self,
        p: &Principal,
        kind: ResourceKind,
        q: &ListQuery,
    ) -> Result<(u64, Vec<Stored>), ScimError> {
        let mut tx = self.store.read().await.map_err(store_error)?;
        let (total, mut items) =
            tx.list_resources(p.account_id, kind, q)
                .await
                .map_err(|e| match e {
                    ListError::Query(e) => e,
                    ListError::Store(e) => store_error(e),
                })?;
        if q.projection.wants(refs_key(kind)) {
            tx.load_refs(p.account_id, &mut items)
                .await
                .map_err(store_error)?;
        }
        Ok((total, items))
    }

    pub async fn replace(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<Outcome, ScimError> {
        let mut notes = vec![];
        let n = resource::normalise(self.registry(), kind, body, &mut notes)?;
        let now = self.now();
        let mut tx = self.store.write().await.map_err(store_error)?;
        let current = self.load(&mut tx, p, kind, id, false).await?;
        let w = tx
            .update_resource(p.account_id, kind, id, &n.doc, &now, if_match)
            .await
            .map_err(store_error)?;
        written(kind, id, w)?;
        self.sync_identities(&mut tx, p, kind, Some(&current.doc), &n.doc)
            .await?;
        if let Some(members) = &n.members {
            tx.clear_members(p.account_id, id)
                .await
                .map_err(store_error)?;
            self.add_members(&mut tx, p, id, members).await?;
        }
        let resource = self.load(&mut tx, p, kind, id, true).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Outcome { resource, notes })
    }

    /// Applies a PatchOp. Member changes touch only the members named.
    pub async fn patch(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
        return_refs: bool,
    ) -> Result<Outcome, ScimError> {
        let mut notes = vec![];
        let ops = patch::parse_request(body, &mut notes)?;
        let now = self.now();
        let mut tx = self.store.write().await.map_err(store_error)?;
        let current = self.load(&mut tx, p, kind, id, false).await?;
        if let Some(v) = if_match {
            if v != current.version {
                return Err(stale(current.version));
            }
        }
        let applied = patch::apply(self.registry(), kind, &current.doc, &ops, &mut notes)?;
        let mut changed = false;
        if applied.doc != current.doc {
            let w = tx
                .update_resource(
                    p.account_id,
                    kind,
                    id,
                    &applied.doc,
                    &now,
                    Some(current.version),
                )
                .await
                .map_err(store_error)?;
            written(kind, id, w)?;
            self.sync_identities(&mut tx, p, kind, Some(&current.doc), &applied.doc)
                .await?;
            changed = true;
        }
        let mut members_changed = 0;
        for op in &applied.members {
            members_changed += match op {
                MemberOp::Add(ids) => self.add_members(&mut tx, p, id, ids).await?,
                MemberOp::Remove(ids) => tx
                    .remove_members(p.account_id, id, ids)
                    .await
                    .map_err(store_error)?,
                MemberOp::RemoveAll => tx
                    .clear_members(p.account_id, id)
                    .await
                    .map_err(store_error)?,
                MemberOp::Replace(ids) => {
                    let removed = tx
                        .clear_members(p.account_id, id)
                        .await
                        .map_err(store_error)?;
                    removed + self.add_members(&mut tx, p, id, ids).await?
                }
            };
        }
        if members_changed > 0 && !changed {
            let w = tx
                .touch_resource(p.account_id, kind, id, &now, None)
                .await
                .map_err(store_error)?;
            written(kind, id, w)?;
        }
        let resource = self.load(&mut tx, p, kind, id, return_refs).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Outcome { resource, notes })
    }

    pub async fn delete(
        &self,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), ScimError> {
        let mut tx = self.store.write().await.map_err(store_error)?;
        let current = self.load(&mut tx, p, kind, id, false).await?;
        let w = tx
            .delete_resource(p.account_id, kind, id, if_match)
            .await
            .map_err(store_error)?;
        written(kind, id, w)?;
        if kind == ResourceKind::User {
            let old = resource::identity_keys(&current.doc);
            tx.release_identities(p.account_id, &old)
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    /// Claims the user's emails for the account and releases the ones it no longer uses.
    /// An email another account holds is a 409 that names neither that account nor its
    /// user.
    async fn sync_identities(
        &self,
        tx: &mut Tx,
        p: &Principal,
        kind: ResourceKind,
        old: Option<&serde_json::Map<String, Value>>,
        new: &serde_json::Map<String, Value>,
    ) -> Result<(), ScimError> {
        if kind != ResourceKind::User {
            return Ok(());
        }
        let new_keys = resource::identity_keys(new);
        if let Some(taken) = tx
            .claim_identities(p.account_id, &new_keys)
            .await
            .map_err(store_error)?
        {
            return Err(ScimError::uniqueness(format!(
                "the email address {taken} is already in use by another account. \
                 The person must ask the admin of that account to remove them, \
                 or contact support to move their user here"
            )));
        }
        if let Some(old) = old {
            let released: Vec<String> = resource::identity_keys(old)
                .into_iter()
                .filter(|k| !new_keys.contains(k))
                .collect();
            tx.release_identities(p.account_id, &released)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    /// Adds members that exist in the account; an unknown id is refused.
    async fn add_members(
        &self,
        tx: &mut Tx,
        p: &Principal,
        group: &str,
        ids: &[String],
    ) -> Result<u64, ScimError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let kinds = tx
            .resource_kinds(p.account_id, ids)
            .await
            .map_err(store_error)?;
        let mut members = Vec::with_capacity(ids.len());
        for id in ids {
            match kinds.get(id) {
                Some(k) if id != group => members.push((id.clone(), *k)),
                Some(_) => {
                    return Err(ScimError::invalid_value("a group cannot be its own member"))
                }
                None => {
                    return Err(ScimError::invalid_value(format!(
                        "member {id} is neither a user nor a group of this account"
                    )))
                }
            }
        }
        tx.add_members(p.account_id, group, &members)
            .await
            .map_err(store_error)
    }

    /// Runs a Bulk request: operations in order (an operation that refers to a later one's
    /// `bulkId` waits for it), each in its own transaction.
    pub async fn bulk(
        &self,
        p: &Principal,
        body: &Value,
        base_url: &str,
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
                let result = self.bulk_op(p, op, &ids, base_url).await;
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
    ) -> Result<(u16, Option<String>, Option<String>, Option<String>), ScimError> {
        let mut path = Value::String(op.path.clone());
        bulk::substitute(&mut path, ids);
        let path = path.as_str().unwrap_or_default().to_string();
        let (kind, id) = bulk::parse_path(&path)
            .ok_or_else(|| ScimError::invalid_path(format!("unknown bulk path \"{path}\"")))?;
        let mut data = op.data.clone().unwrap_or(Value::Null);
        bulk::substitute(&mut data, ids);
        let if_match = op.version.as_deref().and_then(resource::parse_etag);
        let location = |id: &str| format!("{base_url}/{}/{id}", kind.endpoint());
        match (op.method, id) {
            (Method::Post, None) => {
                let out = self.create(p, kind, &data).await?;
                let r = out.resource;
                Ok((
                    201,
                    Some(location(&r.id)),
                    Some(etag(r.version)),
                    Some(r.id),
                ))
            }
            (Method::Put, Some(id)) => {
                let out = self.replace(p, kind, &id, &data, if_match).await?;
                Ok((
                    200,
                    Some(location(&id)),
                    Some(etag(out.resource.version)),
                    None,
                ))
            }
            (Method::Patch, Some(id)) => {
                let out = self.patch(p, kind, &id, &data, if_match, false).await?;
                Ok((
                    200,
                    Some(location(&id)),
                    Some(etag(out.resource.version)),
                    None,
                ))
            }
            (Method::Delete, Some(id)) => {
                self.delete(p, kind, &id, if_match).await?;
                Ok((204, Some(location(&id)), None, None))
            }
            _ => Err(ScimError::invalid_path(format!(
                "{} {path}: POST goes to a resource type, the others to one resource",
                op.method.as_str()
            ))),
        }
    }
}
