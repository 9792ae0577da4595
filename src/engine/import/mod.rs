//! Bulk list import: a CSV of users (email, userName, givenName, familyName, products,
//! groups, active) made true row by row. A failed row rolls back alone and never stops the
//! others; a dry run does all the work in batches that are rolled back, carrying the seats
//! earlier batches took, so its report is what a real run would do. Re-running the same
//! file changes nothing.
//!
//! The file is read by [`file`], strictly: its module comment has the rules.

mod file;

pub use file::{decode, parse, Row, COLUMNS};

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::auth::jwt::AdminPrincipal;
use crate::auth::Principal;
use crate::scim::patch::Applied;
use crate::scim::Notes;
use crate::scim::{resource, ResourceKind, ScimError};
use crate::store::synclog::SyncRow;
use crate::store::WriteTx;

use super::error::Fail;
use super::error::{EngineError, ErrorCode};
use super::seats::{RuleSet, SeatChange};
use super::synclog::{clipped, diff, Change, Ctx, Draft};
use super::Engine;

/// Rows per transaction in a real run (each row in its own savepoint).
const BATCH: usize = 250;
/// Rows per transaction in a dry run: each is rolled back, so no dry run, however long the
/// file (and an auditor may send one), holds the writer for more than about a second.
const DRY_BATCH: usize = 2_000;

#[derive(Debug, Clone, Serialize)]
pub struct RowReport {
    /// The row's line in the file (0 for a user added by hand, whose report has no line).
    pub line: usize,
    pub user_name: String,
    /// created, updated, unchanged or failed
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub seats: Vec<Value>,
    pub conflicts: Vec<String>,
    /// Why a failed row failed, as a code (a user added by hand answers with it).
    #[serde(skip)]
    pub code: Option<ErrorCode>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct ImportReport {
    pub dry_run: bool,
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: usize,
    /// Seats the run assigned (a dry run: would assign).
    pub seats_assigned: usize,
    /// Seats the run waitlisted (a dry run: would waitlist).
    pub seats_waitlisted: usize,
    pub report: Vec<RowReport>,
}

/// The user document a row asks for, starting from the existing one.
fn desired_doc(row: &Row, existing: Option<&Map<String, Value>>) -> Map<String, Value> {
    let mut doc = existing.cloned().unwrap_or_default();
    doc.insert("userName".into(), Value::String(row.user_name.clone()));
    let mut name = match doc.get("name") {
        Some(Value::Object(n)) => n.clone(),
        _ => Map::new(),
    };
    if !row.given_name.is_empty() {
        name.insert("givenName".into(), Value::String(row.given_name.clone()));
    }
    if !row.family_name.is_empty() {
        name.insert("familyName".into(), Value::String(row.family_name.clone()));
    }
    if !name.is_empty() {
        doc.insert("name".into(), Value::Object(name));
    }
    let mut emails = match doc.get("emails") {
        Some(Value::Array(e)) => e.clone(),
        _ => vec![],
    };
    let has = emails.iter().any(|e| {
        e.get("value")
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case(&row.email))
    });
    if !has {
        let primary = emails
            .iter()
            .position(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or(if emails.is_empty() { None } else { Some(0) });
        match primary.and_then(|i| emails.get_mut(i)) {
            Some(Value::Object(e)) => {
                e.insert("value".into(), Value::String(row.email.clone()));
            }
            _ => emails.push(json!({"value": row.email, "type": "work", "primary": true})),
        }
    }
    doc.insert("emails".into(), Value::Array(emails));
    doc.insert("active".into(), Value::Bool(row.active));
    doc
}

/// What one import keeps across batches: users and groups it already knows (ids by
/// lower-cased key), and the account's products (read once: an import makes none).
#[derive(Default)]
struct Known {
    users: HashMap<String, String>,
    groups: HashMap<String, String>,
    products: HashSet<String>,
}

/// What one batch learns and logs; merged into [`Known`] once the batch commits.
#[derive(Default)]
struct Batch {
    users: HashMap<String, String>,
    groups: HashMap<String, String>,
    log: Vec<SyncRow>,
    seat_events: Vec<(String, String, String, String)>,
    report: Vec<RowReport>,
}

impl Batch {
    fn log(&mut self, row: SyncRow, seats: &[SeatChange]) {
        for c in seats {
            self.seat_events.push((
                row.at.clone(),
                c.product.clone(),
                c.user_id.clone(),
                c.change.to_string(),
            ));
        }
        self.log.push(row);
    }

    fn user(&self, known: &Known, key: &str) -> Option<String> {
        self.users
            .get(key)
            .or_else(|| known.users.get(key))
            .cloned()
    }

    fn group(&self, known: &Known, key: &str) -> Option<String> {
        self.groups
            .get(key)
            .or_else(|| known.groups.get(key))
            .cloned()
    }
}

/// What a successful row learned.
struct Learned {
    user_keys: Vec<String>,
    groups: Vec<(String, String)>,
}

impl Engine {
    /// Imports a CSV. `progress` is called with the number of rows done.
    pub async fn import(
        &self,
        ap: &AdminPrincipal,
        text: &str,
        dry_run: bool,
        ctx: &Ctx,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ImportReport, EngineError> {
        if !dry_run {
            // An auditor may try a file (a dry run changes nothing), not import it.
            super::authz::require_write(ap).map_err(|_| {
                EngineError::forbidden(
                    "this is an auditor token: it can read everything and change nothing (a dry run is allowed)",
                )
            })?;
        }
        let rows = parse(text)?;
        self.import_rows(ap, rows, dry_run, ctx, progress).await
    }

    /// Imports rows already read (a file's, or one user added by hand).
    pub(crate) async fn import_rows(
        &self,
        ap: &AdminPrincipal,
        rows: Vec<Row>,
        dry_run: bool,
        ctx: &Ctx,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ImportReport, EngineError> {
        let total = rows.len();
        let mut report = ImportReport {
            dry_run,
            rows: total,
            ..ImportReport::default()
        };
        let p = super::authz::as_scim(ap);
        let size = if dry_run { DRY_BATCH } else { BATCH };
        let mut known = Known::default();
        if rows.iter().any(|r| !r.products.is_empty()) {
            known.products = self
                .store
                .read()
                .await?
                .list_pools(p.account_id)
                .await?
                .into_iter()
                .map(|pool| pool.product)
                .collect();
        }
        // A dry run's batches roll back, so what one took from a pool is gone for the next:
        // the seats earlier batches took (less those they freed) are taken again, at the start
        // of each, so that the report predicts what the real run assigns and waitlists.
        let mut taken: HashMap<String, i64> = HashMap::new();
        let mut done = 0;
        for chunk in rows.chunks(size) {
            let batch = self
                .import_chunk(&p, chunk, ctx, &known, dry_run, &taken)
                .await?;
            for (_, _, _, change) in &batch.seat_events {
                match change.as_str() {
                    "assigned" => report.seats_assigned += 1,
                    "waitlisted" => report.seats_waitlisted += 1,
                    _ => {}
                }
            }
            if dry_run {
                for (_, product, _, change) in &batch.seat_events {
                    let delta = match change.as_str() {
                        "assigned" => 1,
                        "freed" => -1,
                        _ => 0,
                    };
                    *taken.entry(product.clone()).or_default() += delta;
                }
            } else {
                // Only what committed can be found again by a later batch.
                known.users.extend(batch.users);
                known.groups.extend(batch.groups);
            }
            for r in batch.report {
                match r.result {
                    "created" => report.created += 1,
                    "updated" => report.updated += 1,
                    "unchanged" => report.unchanged += 1,
                    _ => report.failed += 1,
                }
                report.report.push(r);
            }
            done += chunk.len();
            progress(done, total);
        }
        Ok(report)
    }

    /// One batch: fast, the whole batch without savepoints; a row that fails sends the batch
    /// back to be run again with a savepoint per row. A batch that collided with other
    /// writers runs again.
    async fn import_chunk(
        &self,
        p: &Principal,
        chunk: &[Row],
        ctx: &Ctx,
        known: &Known,
        dry_run: bool,
        taken: &HashMap<String, i64>,
    ) -> Result<Batch, EngineError> {
        let mut attempt = 0;
        loop {
            let r = match self
                .import_batch(p, chunk, ctx, known, dry_run, taken, false)
                .await
            {
                Ok(Some(b)) => Ok(b),
                Ok(None) => self
                    .import_batch(p, chunk, ctx, known, dry_run, taken, true)
                    .await?
                    .ok_or_else(|| EngineError::internal("careful import batch gave up")),
                Err(e) => Err(e),
            };
            match r {
                Err(e) if super::retry::again_admin(&e, &mut attempt).await => continue,
                r => return r,
            }
        }
    }

    /// One batch in one transaction. Not `careful`: `None` at the first failing row (the
    /// transaction rolls back). `careful`: every row in its own savepoint.
    #[allow(clippy::too_many_arguments)]
    async fn import_batch(
        &self,
        p: &Principal,
        chunk: &[Row],
        ctx: &Ctx,
        known: &Known,
        dry_run: bool,
        taken: &HashMap<String, i64>,
        careful: bool,
    ) -> Result<Option<Batch>, EngineError> {
        let mut tx = self.store.write().await?;
        if dry_run {
            for (product, delta) in taken {
                tx.adjust_assigned(p.account_id, product, *delta).await?;
            }
        }
        let set = self.rule_set(&mut tx, p.account_id).await?;
        let mut keys: Vec<String> = chunk
            .iter()
            .flat_map(|r| [r.user_name.to_lowercase(), r.email.to_lowercase()])
            .filter(|k| !k.is_empty() && !known.users.contains_key(k))
            .collect();
        keys.sort();
        keys.dedup();
        let mut batch = Batch {
            users: tx.users_by_keys(p.account_id, &keys).await?,
            ..Batch::default()
        };
        for row in chunk {
            if !self
                .import_row(&mut tx, p, &set, row, ctx, known, &mut batch, careful)
                .await?
            {
                return Ok(None);
            }
        }
        tx.insert_sync_logs(p.account_id, &batch.log).await?;
        tx.insert_seat_events(p.account_id, &batch.seat_events)
            .await?;
        if !dry_run {
            tx.commit().await?;
        }
        Ok(Some(batch))
    }

    /// One row. Only a database failure is an error; anything the row itself got wrong is
    /// a failed row. Returns false when not careful and the row failed.
    #[allow(clippy::too_many_arguments)]
    async fn import_row(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        set: &RuleSet,
        row: &Row,
        ctx: &Ctx,
        known: &Known,
        batch: &mut Batch,
        careful: bool,
    ) -> Result<bool, EngineError> {
        // Only the products column is strict: a product of the settings or a rule with no
        // pool yet waitlists, as it does for SCIM.
        let no_pool = row.products.iter().find(|p| !known.products.contains(*p));
        let (problem, code) = match (&row.problem, no_pool) {
            (Some(problem), _) => (Some(problem.clone()), ErrorCode::InvalidCsv),
            (None, Some(product)) => (
                Some(format!(
                    "no product '{product}': create it with `roster licenses set` or PUT /admin/v1/products/{product}"
                )),
                ErrorCode::InvalidProduct,
            ),
            (None, None) => (None, ErrorCode::InvalidUser),
        };
        let mut out = RowReport {
            line: row.line.unwrap_or(0),
            user_name: clipped(&row.user_name),
            result: "failed",
            reason: problem.clone(),
            user_id: None,
            seats: vec![],
            conflicts: vec![],
            code: Some(code),
        };
        // A file's row is logged as a part of the import; a user added by hand as the
        // request it is.
        let (ctx, action) = match row.line {
            Some(line) => (ctx.part("IMPORT", &format!("line {line}")), "import"),
            None => (ctx.clone(), "create"),
        };
        let mut draft = Draft::new(Some(ResourceKind::User), action, None);
        draft.user_name = Some(row.user_name.clone()).filter(|u| !u.is_empty());
        if let Some(problem) = problem {
            let error = ScimError::invalid_value(problem);
            batch.log(
                super::synclog::row(&ctx, &self.now(), &draft, error.status(), Some(&error)),
                &[],
            );
            batch.report.push(out);
            return Ok(true);
        }
        if careful {
            tx.savepoint().await?;
        }
        match self
            .apply_row(tx, p, set, row, &mut draft, known, batch)
            .await
        {
            Ok((result, id, seats, learned)) => {
                if careful {
                    tx.release_savepoint().await?;
                }
                for k in learned.user_keys {
                    batch.users.insert(k, id.clone());
                }
                batch.groups.extend(learned.groups);
                if result != "unchanged" {
                    let status = if result == "created" { 201 } else { 200 };
                    let entry = super::synclog::row(&ctx, &self.now(), &draft, status, None);
                    let seat_changes = draft.seat_changes.clone();
                    batch.log(entry, &seat_changes);
                    self.emit_logged(tx, p.account_id, &ctx, &draft).await?;
                }
                out.result = result;
                out.reason = None;
                out.code = None;
                out.user_id = Some(id);
                out.seats = seats;
            }
            Err(Fail { error, conflict }) => {
                if let ScimError::Internal { detail } = &error {
                    return Err(EngineError::Internal(detail.clone()));
                }
                if !careful {
                    return Ok(false);
                }
                tx.rollback_to_savepoint().await?;
                out.reason = Some(error.public_detail().to_string());
                if let Some(c) = conflict {
                    if c.kind == "email_in_use" {
                        out.code = Some(ErrorCode::EmailInUse);
                    }
                    out.conflicts.push(c.kind.to_string());
                    tx.record_conflict(
                        p.account_id,
                        &c,
                        &uuid::Uuid::new_v4().to_string(),
                        &self.now(),
                    )
                    .await?;
                }
                batch.log(
                    super::synclog::row(&ctx, &self.now(), &draft, error.status(), Some(&error)),
                    &[],
                );
            }
        }
        batch.report.push(out);
        Ok(true)
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_row(
        &self,
        tx: &mut WriteTx,
        p: &Principal,
        set: &RuleSet,
        row: &Row,
        draft: &mut Draft,
        known: &Known,
        batch: &Batch,
    ) -> Result<(&'static str, String, Vec<Value>, Learned), Fail> {
        let now = self.now();
        let account = p.account_id;
        let user_key = row.user_name.to_lowercase();
        let email_key = row.email.to_lowercase();
        let existing_id = batch
            .user(known, &user_key)
            .or_else(|| batch.user(known, &email_key));
        let mut learned = Learned {
            user_keys: vec![user_key, email_key],
            groups: vec![],
        };
        draft.action = if existing_id.is_some() {
            "update"
        } else {
            "create"
        };
        let mut changed = false;
        let mut seat_changes: Vec<SeatChange> = vec![];
        let (id, created) = match existing_id {
            Some(id) => {
                let current = tx
                    .get_resource(account, ResourceKind::User, &id)
                    .await?
                    .ok_or_else(|| ScimError::internal("user vanished during import"))?;
                let mut doc = desired_doc(row, Some(&current.doc));
                resource::finish(
                    &*self
                        .registry_at(tx, p.account_id, p.schemas_version)
                        .await?,
                    ResourceKind::User,
                    &mut doc,
                )?;
                if doc != current.doc {
                    let out = self
                        .write_patched(
                            tx,
                            p,
                            ResourceKind::User,
                            &current,
                            Applied {
                                doc,
                                members: vec![],
                            },
                            Notes::default(),
                            false,
                        )
                        .await?;
                    draft.changes = diff(&current.doc, &out.resource.doc);
                    seat_changes.extend(out.seat_changes);
                    changed = true;
                }
                (id, false)
            }
            None => {
                let doc = desired_doc(row, None);
                let id = self
                    .create_user_in_tx(tx, p, &Value::Object(doc.clone()), &now, set.open_conflicts)
                    .await?;
                draft.changes = diff(&Map::new(), &doc);
                (id, true)
            }
        };
        draft.resource_id = Some(id.clone());
        // Groups by name, made when missing.
        for name in &row.groups {
            let key = name.to_lowercase();
            let seen = batch.group(known, &key).or_else(|| {
                learned
                    .groups
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, g)| g.clone())
            });
            let gid = match seen {
                Some(g) => g,
                None => {
                    let gid = match tx.group_id_by_name(account, &key).await? {
                        Some(g) => g,
                        None => {
                            let gid = uuid::Uuid::new_v4().to_string();
                            let mut gdoc = Map::new();
                            gdoc.insert("displayName".into(), Value::String(name.clone()));
                            resource::finish(
                                &*self
                                    .registry_at(tx, p.account_id, p.schemas_version)
                                    .await?,
                                ResourceKind::Group,
                                &mut gdoc,
                            )?;
                            tx.insert_resource(
                                account,
                                ResourceKind::Group,
                                &gid,
                                &gdoc,
                                &now,
                                false,
                            )
                            .await?;
                            gid
                        }
                    };
                    learned.groups.push((key, gid.clone()));
                    gid
                }
            };
            let added = tx
                .add_members(account, &gid, &[(id.clone(), ResourceKind::User)])
                .await?;
            if added > 0 {
                changed = true;
                draft.changes.push(Change {
                    attribute: "groups".into(),
                    old: None,
                    new: Some(json!({"added": name})),
                });
            }
        }
        let seats: Vec<Value> = if created {
            // Nothing held yet: the rules' products, then the row's own, no reads needed.
            if row.active {
                self.seat_new_user(
                    tx,
                    account,
                    set,
                    (&id, &row.user_name),
                    &row.products,
                    &now,
                    &mut seat_changes,
                )
                .await?;
            }
            seat_changes
                .iter()
                .filter(|c| c.user_id == id)
                .map(|c| json!({"product": c.product, "state": c.change}))
                .collect()
        } else {
            self.reconcile(tx, account, set, &id, &now, &mut seat_changes)
                .await?;
            if row.active {
                let held: Vec<String> = tx
                    .seats_of(account, std::slice::from_ref(&id))
                    .await?
                    .remove(&id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s.product)
                    .collect();
                for product in &row.products {
                    if !held.contains(product) {
                        self.acquire(
                            tx,
                            account,
                            set,
                            (&id, &row.user_name),
                            product,
                            "manual",
                            &now,
                            &mut seat_changes,
                        )
                        .await?;
                    }
                }
            }
            tx.seats_of(account, std::slice::from_ref(&id))
                .await?
                .remove(&id)
                .unwrap_or_default()
                .into_iter()
                .map(|s| json!({"product": s.product, "state": s.state}))
                .collect()
        };
        if !seat_changes.is_empty() {
            changed = true;
        }
        let result = if created {
            "created"
        } else if changed {
            "updated"
        } else {
            "unchanged"
        };
        draft.seat_changes = seat_changes;
        draft.step(match row.line {
            Some(line) => format!("import: line {line}, {result}"),
            None => format!("added by hand, {result}"),
        });
        Ok((result, id, seats, learned))
    }
}
