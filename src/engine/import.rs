//! Bulk list import: a CSV of users (email, userName, givenName, familyName, products,
//! groups, active) made true row by row. A failed row rolls back alone and never stops the
//! others; a dry run does all the work in batches that are rolled back, carrying the seats
//! earlier batches took, so its report is what a real run would do. Re-running the same
//! file changes nothing.
//!
//! No row that is broken makes a user. The file is read strictly, by these rules:
//! - Text: UTF-8, with or without a byte-order mark; [`decode`] reads bytes that are not
//!   UTF-8 as Windows-1252 (Latin-1 plus the printable characters Windows puts in
//!   0x80-0x9F), one character a byte. A NUL byte means a binary file, refused whole.
//! - Lines end in LF or CRLF. A row is one line: none of the columns can hold a line break,
//!   so no field spans lines, and a quote left open fails its own line and never swallows
//!   the rest of the file. Blank lines are skipped but counted, so line numbers are the
//!   file's own (the header is line 1 when nothing precedes it).
//! - The first non-blank line is the header. Its separator is `,`; or `;` when it has a `;`
//!   and no `,` (lists inside a field are then separated by `|`, or the field is quoted);
//!   or a tab when it has neither. A header that names none of the columns means the file is
//!   not an import (JSON, a spreadsheet, a data row without a header): it is refused whole,
//!   as is a header that cannot be read or names a column twice. Unknown columns next to
//!   known ones are refused by name; the email column is required.
//! - A field may contain `"` only if the whole field is quoted (blanks around the quotes are
//!   allowed), with each `"` inside it doubled (`"O""Brien"`). An unquoted field holding a
//!   `"`, text after a closing quote, and a quote not closed on its line each fail the row,
//!   naming the field. So does a control character, and a row with more or fewer fields
//!   than the header ("3 fields where the header has 4").
//! - Fields are trimmed. The email must pass the one email rule ([`crate::scim::email`]);
//!   products must be product names, and products of the account: a product named in the
//!   products column with no pool fails the row (one named by the settings or a rule
//!   waitlists, as everywhere else).

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::auth::jwt::AdminPrincipal;
use crate::auth::Principal;
use crate::scim::patch::Applied;
use crate::scim::{resource, ResourceKind, ScimError};
use crate::store::synclog::SyncRow;
use crate::store::WriteTx;

use super::error::Fail;
use super::error::{EngineError, ErrorCode};
use super::input::valid_product;
use super::seats::{RuleSet, SeatChange};
use super::synclog::{clipped, diff, Change, Ctx, Draft};
use super::Engine;

pub const COLUMNS: [&str; 7] = [
    "email",
    "userName",
    "givenName",
    "familyName",
    "products",
    "groups",
    "active",
];

/// Rows per transaction in a real run (each row in its own savepoint).
const BATCH: usize = 250;
/// Rows per transaction in a dry run: each is rolled back, so no dry run, however long the
/// file (and an auditor may send one), holds the writer for more than about a second.
const DRY_BATCH: usize = 2_000;

/// One row of the file, as read.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// 1-based line of the file (the header is line 1); `None` for a user added by hand.
    pub line: Option<usize>,
    pub email: String,
    pub user_name: String,
    pub given_name: String,
    pub family_name: String,
    pub products: Vec<String>,
    pub groups: Vec<String>,
    pub active: bool,
    /// Set when the row could not be read; it is then reported as failed.
    pub problem: Option<String>,
}

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

fn split_list(s: &str) -> Vec<String> {
    s.split([';', '|'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn invalid_csv(message: String) -> EngineError {
    EngineError::Refused {
        code: ErrorCode::InvalidCsv,
        message,
        field: None,
    }
}

/// The bytes of a file as text: UTF-8 (a byte-order mark is dropped) or, when they are not
/// UTF-8, Windows-1252, one character a byte (what spreadsheets save as "CSV" on Windows; it
/// is Latin-1 with printable characters in 0x80-0x9F). UTF-16 and binary files are refused.
pub fn decode(bytes: &[u8]) -> Result<String, EngineError> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(invalid_csv(
            "the file is UTF-16 text: save it as CSV (UTF-8 or Latin-1)".into(),
        ));
    }
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Err(binary(
            bytes.iter().take(at).filter(|b| **b == b'\n').count() + 1,
        ));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(_) => Ok(bytes.iter().map(|b| windows_1252(*b)).collect()),
    }
}

fn binary(line: usize) -> EngineError {
    invalid_csv(format!(
        "the file is not CSV text: it holds a NUL byte (line {line}), as binary files do"
    ))
}

/// One byte of Windows-1252. The five bytes it leaves undefined keep their Latin-1 (C1
/// control) meaning, as browsers read them.
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH
            .get(usize::from(b - 0x80))
            .copied()
            .unwrap_or('\u{fffd}'),
        _ => char::from(b),
    }
}

/// The fields of one line, by the quoting rules of the module. The error names the field.
fn fields(line: &str, delim: char) -> Result<Vec<String>, String> {
    let blank = |c: char| (c == ' ' || c == '\t') && c != delim;
    let mut out = vec![];
    let mut chars = line.chars().peekable();
    loop {
        let k = out.len() + 1;
        while chars.next_if(|c| blank(*c)).is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "field {k} opens a quote that is not closed on its line (no field may span lines)"
                        ))
                    }
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.next_if(|c| blank(*c)).is_some() {}
            out.push(field.trim().to_string());
            match chars.next() {
                None => return Ok(out),
                Some(c) if c == delim => {}
                Some(_) => {
                    return Err(format!(
                        "field {k} has text after its closing quote (a quote inside a field is written twice: \"a \"\"b\"\" c\")"
                    ))
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field.trim().to_string());
                        return Ok(out);
                    }
                    Some(c) if c == delim => break,
                    Some('"') => {
                        return Err(format!(
                            "field {k} holds a quote but is not quoted: quote the whole field and write the quote twice (\"a \"\"b\"\" c\")"
                        ))
                    }
                    Some(c) => field.push(c),
                }
            }
            out.push(field.trim().to_string());
        }
    }
}

/// The header's separator: `,`, else `;`, else a tab, else `,` (a one-column file).
fn separator(header: &str) -> char {
    if header.contains(',') {
        ','
    } else if header.contains(';') {
        ';'
    } else if header.contains('\t') {
        '\t'
    } else {
        ','
    }
}

/// Where each column is in a row, from the header. Refuses a file that is not an import.
fn columns(
    header: &str,
    line: usize,
    delim: char,
) -> Result<([Option<usize>; 7], usize), EngineError> {
    let names = fields(header, delim).map_err(|e| {
        invalid_csv(format!(
            "line {line}, the header, cannot be read: {e}; the columns are {}",
            COLUMNS.join(", ")
        ))
    })?;
    let mut index = [None; 7];
    let mut unknown = vec![];
    for (i, h) in names.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}');
        match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(h)) {
            Some(c) => match index.get_mut(c) {
                Some(Some(_)) => {
                    return Err(invalid_csv(format!(
                        "the header (line {line}) names the column '{}' twice",
                        COLUMNS.get(c).copied().unwrap_or_default()
                    )))
                }
                Some(slot) => *slot = Some(i),
                None => {}
            },
            None if h.is_empty() => unknown.push(format!("(a blank name, column {})", i + 1)),
            None => unknown.push(clipped(h)),
        }
    }
    if index.iter().all(Option::is_none) {
        return Err(invalid_csv(format!(
            "line {line} is not the header of an import: it names none of the columns {}. Is this a CSV file?",
            COLUMNS.join(", ")
        )));
    }
    if !unknown.is_empty() {
        return Err(EngineError::Refused {
            code: ErrorCode::UnknownColumns,
            message: format!(
                "unknown column(s): {}; the columns are {}",
                unknown.join(", "),
                COLUMNS.join(", ")
            ),
            field: Some(unknown.join(",")),
        });
    }
    if index[0].is_none() {
        return Err(EngineError::Refused {
            code: ErrorCode::MissingColumn,
            message: "the file needs an email column".into(),
            field: Some("email".into()),
        });
    }
    Ok((index, names.len()))
}

/// Reads the CSV (the rules are the module's). A file that is not an import, or an unknown
/// or missing column, is an error for the whole file; a bad row is a failed row.
pub fn parse(text: &str) -> Result<Vec<Row>, EngineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(at) = text.find('\0') {
        return Err(binary(text[..at].matches('\n').count() + 1));
    }
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(n, l)| (n + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Err(invalid_csv(format!(
            "the file is empty: its first line is the header, e.g. {}",
            COLUMNS.join(",")
        )));
    };
    let delim = separator(header);
    let (index, width) = columns(header, header_line, delim)?;
    Ok(lines
        .map(|(line, text)| row(line, text, delim, &index, width))
        .collect())
}

/// One line of the file as a row; what is wrong with it is its problem.
fn row(line: usize, text: &str, delim: char, index: &[Option<usize>; 7], width: usize) -> Row {
    let failed = |problem: String| Row {
        line: Some(line),
        problem: Some(problem),
        ..Row::default()
    };
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\t') {
        return failed(format!(
            "the line holds a control character (U+{:04X})",
            u32::from(c)
        ));
    }
    let record = match fields(text, delim) {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    if record.len() != width {
        return failed(format!(
            "{} field{} where the header has {width}",
            record.len(),
            if record.len() == 1 { "" } else { "s" }
        ));
    }
    let get = |c: usize| {
        index
            .get(c)
            .copied()
            .flatten()
            .and_then(|i| record.get(i))
            .cloned()
            .unwrap_or_default()
    };
    let email = get(0);
    let mut row = Row {
        line: Some(line),
        user_name: Some(get(1))
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| email.clone()),
        email,
        given_name: get(2),
        family_name: get(3),
        products: split_list(&get(4)),
        groups: split_list(&get(5)),
        active: true,
        problem: None,
    };
    match get(6).to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "1" | "active" => {}
        "false" | "no" | "0" | "suspended" => row.active = false,
        other => row.problem = Some(format!("active is '{}': use true or false", clipped(other))),
    }
    if row.problem.is_none() {
        if let Err(why) = crate::scim::email::check(&row.email) {
            row.problem = Some(format!(
                "{} is not an email address: {why}",
                crate::scim::email::quoted(&row.email)
            ));
        }
    }
    if let Some(p) = row.products.iter().find(|p| !valid_product(p)) {
        row.problem
            .get_or_insert_with(|| format!("'{}' is not a product name", clipped(p)));
    }
    row
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
                resource::finish(self.registry(), ResourceKind::User, &mut doc)?;
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
                            vec![],
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
                            resource::finish(self.registry(), ResourceKind::Group, &mut gdoc)?;
                            tx.insert_resource(account, ResourceKind::Group, &gid, &gdoc, &now)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn problems(text: &str) -> Vec<(Option<usize>, Option<String>)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|r| (r.line, r.problem))
            .collect()
    }

    fn refused(text: &str) -> (ErrorCode, String) {
        match parse(text) {
            Err(EngineError::Refused { code, message, .. }) => (code, message),
            other => panic!("{text:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn fields_follow_the_quoting_rules() {
        assert_eq!(fields("a,b,c", ',').unwrap(), ["a", "b", "c"]);
        assert_eq!(fields("a,,", ',').unwrap(), ["a", "", ""]);
        assert_eq!(fields(" a , \"b, c\" ,d", ',').unwrap(), ["a", "b, c", "d"]);
        assert_eq!(fields("\"O\"\"Brien\",x", ',').unwrap(), ["O\"Brien", "x"]);
        assert_eq!(fields("\"\"", ',').unwrap(), [""]);
        assert_eq!(fields("a;\"b;c\";d|e", ';').unwrap(), ["a", "b;c", "d|e"]);
        assert_eq!(fields("a\tb c\t\"d\"", '\t').unwrap(), ["a", "b c", "d"]);
        let e = fields("a,b\"c,d", ',').unwrap_err();
        assert!(
            e.starts_with("field 2 holds a quote but is not quoted"),
            "{e}"
        );
        let e = fields("\"a\"b,c", ',').unwrap_err();
        assert!(
            e.starts_with("field 1 has text after its closing quote"),
            "{e}"
        );
        let e = fields("a,\"b,c", ',').unwrap_err();
        assert!(
            e.starts_with("field 2 opens a quote that is not closed"),
            "{e}"
        );
    }

    #[test]
    fn the_reported_file_fails_its_broken_rows() {
        let text = "email,userName,givenName,familyName\n\"bad@example.com,bad,\"Ba\"d,X\nok1@example.com,ok1,\"Ok, One\",Y\n\"unterminated@example.com,u,U,U\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, Some(2));
        assert!(rows[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("closing quote"));
        assert_eq!(rows[1].problem, None);
        assert_eq!(rows[1].given_name, "Ok, One");
        assert_eq!(rows[2].line, Some(4));
        assert!(rows[2].problem.as_deref().unwrap().contains("not closed"));
    }

    #[test]
    fn rows_need_as_many_fields_as_the_header() {
        assert_eq!(
            problems(
                "email,userName,givenName,familyName\na@b.co,a,A\n\na@b.co,a,A,A,A\na@b.co,a,A,A\n"
            ),
            [
                (Some(2), Some("3 fields where the header has 4".into())),
                (Some(4), Some("5 fields where the header has 4".into())),
                (Some(5), None),
            ]
        );
        assert_eq!(
            problems("email,userName\nonly@b.co\n"),
            [(Some(2), Some("1 field where the header has 2".into()))]
        );
    }

    #[test]
    fn bom_crlf_and_separators() {
        let rows =
            parse("\u{feff}email;userName;products\r\na@b.co;a;x|y\r\n\r\nb@b.co;b;\"x;y\"\r\n")
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].products, ["x", "y"]);
        assert_eq!(rows[1].line, Some(4));
        assert_eq!(rows[1].products, ["x", "y"]);
        assert_eq!(rows[1].problem, None);
        let rows = parse("email\tuserName\na@b.co\ta\n").unwrap();
        assert_eq!(rows[0].user_name, "a");
        assert_eq!(separator("email,userName;x"), ',');
    }

    #[test]
    fn files_that_are_not_imports_are_refused_whole() {
        for text in [
            "",
            "\n\n",
            "{\"email\": \"a@b.co\"}",
            "[{\"email\": \"a@b.co\"}]\n",
            "a@b.co,bob\n",
            "hello\n",
            "email,email\na@b.co,a@b.co\n",
            "PK\u{3}\u{4}\0\0email\n",
            "email\na@b.co\0\n",
        ] {
            assert_eq!(refused(text).0, ErrorCode::InvalidCsv, "{text:?}");
        }
        assert!(refused("email\na@b.co\nx\0").1.contains("line 3"));
        assert_eq!(refused("email,shoe\n").0, ErrorCode::UnknownColumns);
        assert_eq!(refused("userName\nbob\n").0, ErrorCode::MissingColumn);
    }

    #[test]
    fn rows_follow_the_email_rule_and_name_products() {
        let p = problems(
            "email,products\nx@,\nq\"uote@example.com,\n\"a b@example.com\",\nfirst.last+tag@sub.example.co.uk,\nc@d.co,Bad\nc@d.co,\"a\u{7}\"\n",
        );
        assert!(p[0]
            .1
            .as_deref()
            .unwrap()
            .starts_with("'x@' is not an email address"));
        assert!(p[1].1.as_deref().unwrap().contains("quote"));
        assert!(p[2].1.as_deref().unwrap().contains("whitespace"));
        assert_eq!(p[3].1, None);
        assert!(p[4]
            .1
            .as_deref()
            .unwrap()
            .contains("'Bad' is not a product name"));
        assert!(p[5].1.as_deref().unwrap().contains("control character"));
    }

    #[test]
    fn decode_reads_utf8_and_falls_back_to_latin1() {
        assert_eq!(decode(b"\xef\xbb\xbfemail\r\n").unwrap(), "email\r\n");
        assert_eq!(decode("Müller".as_bytes()).unwrap(), "Müller");
        assert_eq!(decode(b"M\xfcller").unwrap(), "Müller");
        assert_eq!(decode(b"\x93O\x92Brien\x94 \x80").unwrap(), "“O’Brien” €");
        assert_eq!(decode(b"\x81").unwrap(), "\u{81}");
        for bad in [&b"\xff\xfee\0"[..], b"\xfe\xff\0e", b"\x89PNG\r\n\x1a\n\0"] {
            assert!(matches!(
                decode(bad),
                Err(EngineError::Refused {
                    code: ErrorCode::InvalidCsv,
                    ..
                })
            ));
        }
    }
}
