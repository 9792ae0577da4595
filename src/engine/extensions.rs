//! Custom schema extensions: an account registers RFC 7643 schema documents for its users or
//! groups; their attributes are then accepted, type-checked, returned, filterable, sortable
//! and usable in seat rules. Each replica keeps the account's registry built once per schema
//! number (the number comes with every credential check, so a registration through one
//! replica counts on every replica at once). Attributes in no schema are ignored with a note
//! and counted per connection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::jwt::AdminPrincipal;
use crate::auth::Principal;
use crate::scim::extension::{self, IndexedValue};
use crate::scim::schema::Schema;
use crate::scim::{Notes, Registry, ResourceKind, ScimError};
use crate::store::extensions::SchemaRow;
use crate::store::{ReadConn, StoreError, WriteTx};

use super::authz::require_write;
use super::error::{EngineError, ErrorCode};
use super::synclog::{Change, Ctx, Draft};
use super::Engine;

/// Each account's registry as this replica last built it, with the schema number it was
/// built at.
pub(crate) type RegistryCache = Mutex<HashMap<i64, (i64, Arc<Registry>)>>;

/// Most distinct unmapped attributes one request counts (the note lists them all).
const MAX_UNMAPPED_COUNTED: usize = 20;
/// Longest attribute name the report keeps.
const MAX_UNMAPPED_NAME: usize = 256;
/// Documents read per batch when a registration indexes values already stored.
const BACKFILL_BATCH: i64 = 500;

#[derive(Debug, Clone, Serialize)]
pub struct SchemaView {
    pub id: String,
    #[serde(rename = "resourceType")]
    pub resource_type: String,
    pub created: String,
    pub schema: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct SchemaList {
    pub schemas: Vec<SchemaView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SchemaRemoved {
    pub deleted: String,
}

fn view(row: SchemaRow) -> SchemaView {
    SchemaView {
        id: row.urn,
        resource_type: row.resource_type,
        created: row.created,
        schema: serde_json::from_str(&row.doc).unwrap_or(Value::Null),
    }
}

fn kind_of(resource_type: &str) -> Option<ResourceKind> {
    match resource_type {
        "User" => Some(ResourceKind::User),
        "Group" => Some(ResourceKind::Group),
        _ => None,
    }
}

impl Engine {
    /// The registry of an account at a schema number: the built-in one while the account has
    /// never registered an extension, else its own, built once per number on this replica.
    pub async fn registry_for(
        &self,
        account: i64,
        version: i64,
    ) -> Result<Arc<Registry>, StoreError> {
        if version == 0 {
            return Ok(self.registry.clone());
        }
        if let Some(reg) = self.cached_registry(account, version) {
            return Ok(reg);
        }
        let mut conn = self.store.read().await?;
        self.registry_at(&mut conn, account, version).await
    }

    /// `registry_for`, reading through a connection the caller holds (inside a transaction,
    /// taking a second connection could wait on a pool the caller is part of exhausting).
    pub(crate) async fn registry_at(
        &self,
        conn: &mut ReadConn,
        account: i64,
        version: i64,
    ) -> Result<Arc<Registry>, StoreError> {
        if version == 0 {
            return Ok(self.registry.clone());
        }
        if let Some(reg) = self.cached_registry(account, version) {
            return Ok(reg);
        }
        let rows = conn.custom_schemas(account).await?;
        let mut custom = Vec::with_capacity(rows.len());
        for row in rows {
            let parsed = serde_json::from_str(&row.doc)
                .map_err(|e| e.to_string())
                .and_then(Schema::from_doc);
            match (kind_of(&row.resource_type), parsed) {
                (Some(kind), Ok(schema)) => custom.push((kind, schema)),
                (_, Err(e)) => {
                    tracing::error!(account, urn = %row.urn, error = %e, "a stored schema extension does not parse; it is left out");
                }
                (None, _) => {
                    tracing::error!(account, urn = %row.urn, "a stored schema extension names no resource type; it is left out");
                }
            }
        }
        let reg = Arc::new(self.registry.with_custom(custom));
        if let Ok(mut cache) = self.schemas.lock() {
            cache.insert(account, (version, reg.clone()));
        }
        Ok(reg)
    }

    /// The built-in schemas, as shared by every account without extensions.
    pub fn builtin_registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    fn cached_registry(&self, account: i64, version: i64) -> Option<Arc<Registry>> {
        let cache = self.schemas.lock().ok()?;
        match cache.get(&account) {
            Some((v, reg)) if *v == version => Some(reg.clone()),
            _ => None,
        }
    }

    /// The registry of the account a SCIM principal acts for.
    pub async fn registry_of(&self, p: &Principal) -> Result<Arc<Registry>, ScimError> {
        Ok(self.registry_for(p.account_id, p.schemas_version).await?)
    }

    /// The registry of an account as of now, read inside the caller's connection.
    pub(crate) async fn registry_in(
        &self,
        conn: &mut ReadConn,
        account: i64,
    ) -> Result<Arc<Registry>, StoreError> {
        let version = conn.schemas_version(account).await?;
        self.registry_at(conn, account, version).await
    }

    /// `GET /admin/v1/schemas`.
    pub async fn schemas(&self, ap: &AdminPrincipal) -> Result<SchemaList, EngineError> {
        let rows = self
            .store
            .read()
            .await?
            .custom_schemas(ap.account_id)
            .await?;
        Ok(SchemaList {
            schemas: rows.into_iter().map(view).collect(),
        })
    }

    /// `POST /admin/v1/schemas`: checks the document, registers it, and indexes the values
    /// documents already hold under its URN (left there by an earlier registration).
    pub async fn add_schema(
        &self,
        ap: &AdminPrincipal,
        doc: &Value,
        resource_type: Option<&str>,
        ctx: &Ctx,
    ) -> Result<SchemaView, EngineError> {
        require_write(ap)?;
        let checked = extension::check(doc, resource_type, &self.registry)
            .map_err(|r| EngineError::invalid(ErrorCode::InvalidSchema, &r.field, r.message))?;
        let urn = checked.schema.id.clone();
        let mut tx = self.store.write().await?;
        let existing = tx.custom_schemas(ap.account_id).await?;
        if existing.iter().any(|r| r.urn.eq_ignore_ascii_case(&urn)) {
            return Err(EngineError::refused(
                ErrorCode::Uniqueness,
                format!("{urn} is already registered; to change it, DELETE /admin/v1/schemas/{urn} and register it again (stored values are kept)"),
            ));
        }
        if existing.len() >= extension::MAX_SCHEMAS {
            return Err(EngineError::refused(
                ErrorCode::TooLarge,
                format!(
                    "an account registers at most {} schema extensions",
                    extension::MAX_SCHEMAS
                ),
            ));
        }
        let row = SchemaRow {
            urn: urn.clone(),
            resource_type: checked.kind.name().to_string(),
            doc: checked.schema.doc.to_string(),
            created: self.now(),
        };
        tx.insert_custom_schema(ap.account_id, &row).await?;
        let only_new = self
            .registry
            .with_custom(vec![(checked.kind, checked.schema.clone())]);
        let indexed = self
            .backfill(&mut tx, ap.account_id, checked.kind, &only_new, &urn)
            .await?;
        let mut draft = Draft::new(None, "schema", Some(&urn));
        draft.resource_type = Some("Schema");
        draft.changes = vec![Change {
            attribute: "schema".into(),
            old: None,
            new: Some(serde_json::json!({ "id": urn, "resourceType": row.resource_type })),
        }];
        draft.step(format!(
            "registered for {}; {indexed} stored resources hold values of it",
            row.resource_type
        ));
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 201)
            .await?;
        tx.commit().await?;
        Ok(view(row))
    }

    /// Indexes the values of one newly registered extension that documents already hold.
    async fn backfill(
        &self,
        tx: &mut WriteTx,
        account: i64,
        kind: ResourceKind,
        reg: &Registry,
        urn: &str,
    ) -> Result<u64, EngineError> {
        let mut after = String::new();
        let mut indexed = 0;
        loop {
            let page = tx
                .documents_holding(account, kind, urn, &after, BACKFILL_BATCH)
                .await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = last.clone();
            for (id, text) in &page {
                let Ok(doc) = serde_json::from_str::<Map<String, Value>>(text) else {
                    continue;
                };
                // A value stored before the schema said its type is simply not indexed.
                let values = extension::indexed_values(reg, kind, &doc).unwrap_or_default();
                if values.is_empty() {
                    continue;
                }
                if let Some(clash) = self.unique_clash(tx, account, id, &values).await? {
                    return Err(EngineError::refused(
                        ErrorCode::Uniqueness,
                        format!("stored resources already share a value of {clash}, which this schema makes unique; change one of them first"),
                    ));
                }
                tx.write_ext_values(account, kind, id, &values, false)
                    .await?;
                indexed += 1;
            }
        }
        Ok(indexed)
    }

    /// The first unique attribute whose value another resource already holds.
    async fn unique_clash(
        &self,
        tx: &mut WriteTx,
        account: i64,
        id: &str,
        values: &[IndexedValue],
    ) -> Result<Option<String>, StoreError> {
        for v in values.iter().filter(|v| v.unique) {
            if let Some(value) = &v.value {
                if tx
                    .ext_value_holder(account, &v.attr, value, id)
                    .await?
                    .is_some()
                {
                    return Ok(Some(v.attr.clone()));
                }
            }
        }
        Ok(None)
    }

    /// `DELETE /admin/v1/schemas/{urn}`: refused while a seat rule names the extension.
    pub async fn delete_schema(
        &self,
        ap: &AdminPrincipal,
        urn: &str,
        ctx: &Ctx,
    ) -> Result<SchemaRemoved, EngineError> {
        require_write(ap)?;
        let mut tx = self.store.write().await?;
        let lc = urn.to_lowercase();
        let users: Vec<String> = tx
            .list_rules(ap.account_id)
            .await?
            .into_iter()
            .filter(|r| {
                r.filter
                    .as_deref()
                    .is_some_and(|f| f.to_lowercase().contains(&lc))
            })
            .map(|r| r.id)
            .collect();
        if !users.is_empty() {
            return Err(EngineError::refused(
                ErrorCode::SchemaInUse,
                format!(
                    "seat rules use {urn}: delete them first ({})",
                    users.join(", ")
                ),
            ));
        }
        if !tx.delete_custom_schema(ap.account_id, urn).await? {
            return Err(EngineError::not_found(format!(
                "no schema extension {urn} in this account"
            )));
        }
        let mut draft = Draft::new(None, "schema", Some(urn));
        draft.resource_type = Some("Schema");
        draft.changes = vec![Change {
            attribute: "schema".into(),
            old: Some(Value::String(urn.to_string())),
            new: None,
        }];
        draft.step(
            "removed; values stay in the stored documents and return if it is registered again"
                .to_string(),
        );
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
            .await?;
        tx.commit().await?;
        Ok(SchemaRemoved {
            deleted: urn.to_string(),
        })
    }

    /// Keeps the index of a resource's custom attributes in step with its document, after
    /// every write of the document (`before` is the document it replaced).
    pub(crate) async fn index_extensions(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        kind: ResourceKind,
        id: &str,
        before: Option<&Map<String, Value>>,
        doc: &Map<String, Value>,
    ) -> Result<(), ScimError> {
        let reg = self
            .registry_at(tx, p.account_id, p.schemas_version)
            .await?;
        if reg.custom(kind).next().is_none() {
            return Ok(());
        }
        let values =
            extension::indexed_values(&reg, kind, doc).map_err(ScimError::invalid_value)?;
        if let Some(old) = before {
            if extension::indexed_values(&reg, kind, old).ok().as_ref() == Some(&values) {
                return Ok(());
            }
        }
        if let Some(attr) = self.unique_clash(tx, p.account_id, id, &values).await? {
            return Err(ScimError::uniqueness(format!(
                "'{attr}' is unique in this account, and another {} holds this value",
                kind.name()
            )));
        }
        tx.write_ext_values(p.account_id, kind, id, &values, before.is_some())
            .await?;
        Ok(())
    }

    /// Counts the attributes a request sent that no schema defines, in its transaction.
    pub(crate) async fn count_unmapped(
        &self,
        tx: &mut WriteTx,
        account: i64,
        ctx: &Ctx,
        draft: &Draft,
        now: &str,
    ) -> Result<(), StoreError> {
        let attrs: Vec<String> = unmapped_names(&draft.notes);
        if attrs.is_empty() {
            return Ok(());
        }
        let connection = ctx.actor.strip_prefix("connection:").unwrap_or(&ctx.actor);
        tx.count_unmapped(
            account,
            connection,
            draft.resource_type.unwrap_or("-"),
            &attrs,
            now,
        )
        .await
    }
}

fn unmapped_names(notes: &Notes) -> Vec<String> {
    notes
        .unmapped_attributes()
        .iter()
        .take(MAX_UNMAPPED_COUNTED)
        .map(|a| a.chars().take(MAX_UNMAPPED_NAME).collect())
        .collect()
}
