//! SQLite statements run on the calling thread, straight through SQLite's C interface
//! (rusqlite), for the one writer connection.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every statement to it
//! and its result back: two thread wake-ups per statement, which on a 2-core machine cost
//! far more than the statement (a profile of creates showed two thirds of the server's time
//! in the kernel switching threads, and 1 % in SQLite). The writer's statements take a few
//! microseconds each and are run one request at a time anyway (the group commit's turns),
//! so they run here, where the request is, with prepared statements cached by text. Rows
//! come back as sqlx's `AnyRow`, so the store reads them the same way on both backends.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sqlx_core::any::{AnyColumn, AnyRow, AnyTypeInfo, AnyTypeInfoKind, AnyValue, AnyValueKind};
use sqlx_core::ext::ustr::UStr;

use super::error::{unique_key, UniqueKey};
use super::sql::Arg;
use super::{Result, StoreError};

/// Prepared statements kept per connection (the writer's distinct statements, with the
/// multi-row inserts of every batch size).
const STATEMENT_CACHE: usize = 512;

/// A statement running longer than this gives the thread back to the other requests before
/// the caller goes on (see [`Direct::pace`]).
const SLICE: Duration = Duration::from_millis(1);

/// How long a reader's statement may run on the caller's thread before it is interrupted
/// and run again on a thread of its own ([`Lease::run`]).
const INLINE: Duration = Duration::from_millis(2);

/// One SQLite connection whose statements run on the caller's thread.
pub(super) struct Direct {
    conn: Connection,
    /// Since when the caller has run statements without giving the thread back.
    running_since: Option<Instant>,
    /// Readers only: when the running statement is to be interrupted, in nanoseconds since
    /// `epoch` (0: never). SQLite's progress handler reads it.
    deadline: Option<(Arc<AtomicU64>, Instant)>,
}

impl Direct {
    /// Opens the database file (already created and migrated) and applies the session's
    /// pragmas (`;`-separated).
    pub(super) fn open(path: &str, session: &str) -> Result<Direct> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(error)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        for pragma in session.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            // Some pragmas answer with a row (journal_mode): step through and drop it.
            let mut stmt = conn.prepare(pragma).map_err(error)?;
            let mut rows = stmt.raw_query();
            while rows.next().map_err(error)?.is_some() {}
        }
        Ok(Direct {
            conn,
            running_since: None,
            deadline: None,
        })
    }

    /// A reader: its statements can be interrupted when they run past a deadline.
    fn open_reader(path: &str, session: &str) -> Result<Direct> {
        let mut d = Direct::open(path, session)?;
        let deadline = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let seen = deadline.clone();
        // Every 1,000 virtual machine steps (a few microseconds).
        d.conn.progress_handler(
            1000,
            Some(move || {
                let at = seen.load(Ordering::Relaxed);
                at != 0 && nanos_since(epoch) > at
            }),
        );
        d.deadline = Some((deadline, epoch));
        Ok(d)
    }

    /// Sets (or with `None` clears) a reader's deadline.
    fn limit(&self, within: Option<Duration>) {
        if let Some((at, epoch)) = &self.deadline {
            let v = within.map_or(0, |w| nanos_since(*epoch).saturating_add(nanos(w)).max(1));
            at.store(v, Ordering::Relaxed);
        }
    }

    /// Runs one statement (text with `?` placeholders bound in order) and returns the rows
    /// it answers and the rows it changed.
    pub(super) fn run(&mut self, text: &str, args: &[Arg]) -> Result<(Vec<AnyRow>, u64)> {
        self.run_raw(text, args).map_err(error)
    }

    /// [`Direct::run`], logged as sqlx logs its statements (target `sqlx::query`: each at
    /// debug, a slow one as a warning), so `RUST_LOG=sqlx=debug` shows them all.
    fn run_raw(&mut self, text: &str, args: &[Arg]) -> rusqlite::Result<(Vec<AnyRow>, u64)> {
        let started = Instant::now();
        let r = self.step(text, args);
        let elapsed = started.elapsed();
        if elapsed >= SLOW_STATEMENT {
            tracing::warn!(
                target: "sqlx::query",
                summary = summary(text),
                elapsed_secs = elapsed.as_secs_f64(),
                "slow statement: execution time exceeded alert threshold"
            );
        } else if tracing::enabled!(target: "sqlx::query", tracing::Level::DEBUG) {
            tracing::debug!(
                target: "sqlx::query",
                summary = summary(text),
                db.statement = text,
                rows_affected = r.as_ref().map_or(0, |(_, n)| *n),
                rows_returned = r.as_ref().map_or(0, |(rows, _)| rows.len()),
                elapsed_secs = elapsed.as_secs_f64(),
            );
        }
        r
    }

    fn step(&mut self, text: &str, args: &[Arg]) -> rusqlite::Result<(Vec<AnyRow>, u64)> {
        self.running_since.get_or_insert_with(Instant::now);
        let mut stmt = self.conn.prepare_cached(text)?;
        for (i, arg) in args.iter().enumerate() {
            let at = i + 1;
            let bound = match arg {
                Arg::Null | Arg::NullInt => stmt.raw_bind_parameter(at, rusqlite::types::Null),
                Arg::Bool(b) => stmt.raw_bind_parameter(at, i64::from(*b)),
                Arg::Int(n) => stmt.raw_bind_parameter(at, n),
                Arg::Real(f) => stmt.raw_bind_parameter(at, f),
                Arg::Text(s) => stmt.raw_bind_parameter(at, s.as_str()),
            };
            bound?;
        }
        let columns = stmt.column_count();
        let mut out = vec![];
        // Described once per statement, shared by its rows. The column's type is the
        // first row's value's (the Any driver types values by what they hold, too).
        // Statements that answer no row (most writes) describe nothing.
        let mut described: Option<Described> = None;
        {
            let mut rows = stmt.raw_query();
            while let Some(row) = rows.next()? {
                let mut values = Vec::with_capacity(columns);
                for c in 0..columns {
                    values.push(AnyValue {
                        kind: value(row.get_ref(c)?),
                    });
                }
                let (cols, by_name) = described.get_or_insert_with(|| {
                    let names: Vec<String> = (0..columns)
                        .map(|c| {
                            row.as_ref()
                                .column_name(c)
                                .map(str::to_string)
                                .unwrap_or_default()
                        })
                        .collect();
                    describe(&names, &values)
                });
                out.push(AnyRow {
                    column_names: by_name.clone(),
                    columns: cols.clone(),
                    values,
                });
            }
        }
        drop(stmt);
        Ok((out, self.conn.changes()))
    }

    /// Runs statements without arguments or rows (transaction control).
    pub(super) fn exec(&mut self, text: &str) -> Result<()> {
        self.run(text, &[]).map(|_| ())
    }

    /// Gives the thread back to the runtime's other tasks once the caller has run
    /// statements for [`SLICE`] without a pause: a long series of writes (an import, a
    /// rules change over many users) must not hold up the requests that share its thread.
    pub(super) async fn pace(&mut self) {
        if self.running_since.is_some_and(|t| t.elapsed() >= SLICE) {
            self.running_since = None;
            tokio::task::yield_now().await;
        }
    }

    /// Forgets the time run so far (the caller is about to wait anyway).
    pub(super) fn rested(&mut self) {
        self.running_since = None;
    }
}

/// A statement's columns and their positions by name, shared by its rows.
type Described = (Vec<AnyColumn>, Arc<sqlx_core::HashMap<UStr, usize>>);

/// The columns of a statement's rows, named, typed as their first row's values.
fn describe(names: &[String], first: &[AnyValue]) -> Described {
    let mut by_name = sqlx_core::HashMap::new();
    let columns = names
        .iter()
        .zip(first)
        .enumerate()
        .map(|(ordinal, (name, v))| {
            let name = UStr::new(name);
            by_name.insert(name.clone(), ordinal);
            AnyColumn {
                ordinal,
                name,
                type_info: AnyTypeInfo {
                    kind: kind_of(&v.kind),
                },
            }
        })
        .collect();
    (columns, Arc::new(by_name))
}

fn kind_of(v: &AnyValueKind<'_>) -> AnyTypeInfoKind {
    match v {
        AnyValueKind::BigInt(_) => AnyTypeInfoKind::BigInt,
        AnyValueKind::Double(_) => AnyTypeInfoKind::Double,
        AnyValueKind::Text(_) => AnyTypeInfoKind::Text,
        AnyValueKind::Blob(_) => AnyTypeInfoKind::Blob,
        _ => AnyTypeInfoKind::Null,
    }
}

/// A column's value as the Any driver gives SQLite's: by the value's own type. (Text that
/// is not UTF-8, which Roster never writes, is read with U+FFFD in place of the bad bytes.)
fn value(v: ValueRef<'_>) -> AnyValueKind<'static> {
    match v {
        ValueRef::Null => AnyValueKind::Null(AnyTypeInfoKind::Null),
        ValueRef::Integer(i) => AnyValueKind::BigInt(i),
        ValueRef::Real(f) => AnyValueKind::Double(f),
        ValueRef::Text(t) => {
            AnyValueKind::Text(Cow::Owned(String::from_utf8_lossy(t).into_owned()))
        }
        ValueRef::Blob(b) => AnyValueKind::Blob(Cow::Owned(b.to_vec())),
    }
}

/// A statement that runs this long is logged as a warning (sqlx's default threshold).
const SLOW_STATEMENT: Duration = Duration::from_secs(1);

/// The first words of a statement, for logs (values are never in the text).
fn summary(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().take(4).collect();
    let mut out = words.join(" ");
    if text.split_whitespace().nth(4).is_some() {
        out.push_str(" …");
    }
    out
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn nanos_since(epoch: Instant) -> u64 {
    nanos(epoch.elapsed())
}

fn interrupted(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted)
}

/// SQLite's read connections, run the same way: a statement runs on the caller's thread
/// for at most [`INLINE`]; one that takes longer (a filter no index serves, an export) is
/// interrupted and run again on a blocking thread, so that it does not hold up the other
/// requests of the caller's thread. Reads outside a transaction can be run again safely.
pub(super) struct Readers {
    path: String,
    session: String,
    idle: std::sync::Mutex<Vec<Direct>>,
    permits: Arc<tokio::sync::Semaphore>,
    /// Statements that ran past [`INLINE`] and were run again on a blocking thread.
    offloaded: AtomicU64,
}

/// A reader lent to one [`super::ReadConn`]; back to the pool when dropped.
pub(super) struct Lease {
    conn: Option<Direct>,
    readers: Arc<Readers>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

/// How often the checkpointer copies the WAL's pages into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Checkpoints the WAL on a thread of its own (`PRAGMA wal_checkpoint(PASSIVE)`, which
/// waits for nobody), instead of inside whichever commit crosses SQLite's threshold: there
/// the copying and its fsyncs held the writer, and every write request queued behind it.
/// The writer keeps a high threshold of its own in case this thread falls behind. Stops
/// when the store is dropped.
pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
}

impl Checkpointer {
    pub(super) fn start(path: &str, session: &str) -> Result<Checkpointer> {
        let mut conn = Direct::open(path, session)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("roster-checkpoint".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(CHECKPOINT_EVERY);
                    if let Err(e) = conn.exec("PRAGMA wal_checkpoint(PASSIVE)") {
                        tracing::warn!(error = %e, "could not checkpoint the SQLite WAL");
                    }
                }
            })
            .map_err(|e| StoreError::Sqlite(format!("could not start the checkpointer: {e}")))?;
        Ok(Checkpointer { stop })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How long a read waits for a free connection before it gives up (busy).
const ACQUIRE: Duration = Duration::from_secs(30);

impl Readers {
    pub(super) fn new(path: &str, session: &str, size: usize) -> Arc<Readers> {
        Arc::new(Readers {
            path: path.to_string(),
            session: session.to_string(),
            idle: std::sync::Mutex::new(vec![]),
            permits: Arc::new(tokio::sync::Semaphore::new(size.max(1))),
            offloaded: AtomicU64::new(0),
        })
    }

    pub(super) async fn acquire(self: &Arc<Self>) -> Result<Lease> {
        let permit = tokio::time::timeout(ACQUIRE, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Busy)?
            .map_err(|_| StoreError::Busy)?;
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut conn = match idle {
            Some(c) => c,
            None => Direct::open_reader(&self.path, &self.session)?,
        };
        conn.rested();
        Ok(Lease {
            conn: Some(conn),
            readers: self.clone(),
            _permit: permit,
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let (Some(c), Ok(mut idle)) = (self.conn.take(), self.readers.idle.lock()) {
            idle.push(c);
        }
    }
}

impl Lease {
    pub(super) async fn run(&mut self, text: String, args: &[Arg]) -> Result<(Vec<AnyRow>, u64)> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| StoreError::Corrupt("a reader was lost".into()))?;
        conn.limit(Some(INLINE));
        let first = conn.run_raw(&text, args);
        conn.limit(None);
        match first {
            Err(e) if interrupted(&e) => {}
            other => {
                conn.pace().await;
                return other.map_err(error);
            }
        }
        // Too long for this thread: again on a blocking one. (If this request is dropped
        // meanwhile, the connection is closed when the statement ends; the pool opens a
        // new one when it needs it.)
        let mut conn = self
            .conn
            .take()
            .ok_or_else(|| StoreError::Corrupt("a reader was lost".into()))?;
        let offloaded = self.readers.offloaded.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(
            target: "sqlx::query",
            summary = summary(&text),
            offloaded,
            "a read ran past the inline limit: run again on a blocking thread"
        );
        let args = args.to_vec();
        let (conn, r) = tokio::task::spawn_blocking(move || {
            let r = conn.run(&text, &args);
            (conn, r)
        })
        .await
        .map_err(|e| StoreError::Sqlite(format!("a read on a blocking thread failed: {e}")))?;
        self.conn = Some(conn);
        if let Some(c) = self.conn.as_mut() {
            c.rested();
        }
        r
    }
}

/// SQLite's extended result codes for a broken unique key and a broken primary key.
const CONSTRAINT_UNIQUE: i32 = 2067;
const CONSTRAINT_PRIMARYKEY: i32 = 1555;

/// Classifies an error as the sqlx path does: a broken unique key (by the columns SQLite
/// names), contention a retry can get past, or anything else.
fn error(e: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e {
        let message = msg.as_deref().unwrap_or_default();
        match f.extended_code {
            CONSTRAINT_UNIQUE => return StoreError::Unique(unique_key(None, message)),
            CONSTRAINT_PRIMARYKEY => return StoreError::Unique(UniqueKey::Other),
            _ => {}
        }
        if matches!(
            f.code,
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
        ) {
            return StoreError::Contention(e.to_string());
        }
    }
    StoreError::Sqlite(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    fn db() -> (tempfile::TempDir, Direct) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db").to_string_lossy().into_owned();
        // Create the file the way Roster does before the writer opens it.
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, score REAL, data BLOB);",
        )
        .unwrap();
        drop(c);
        let d = Direct::open(
            &path,
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;",
        )
        .unwrap();
        (dir, d)
    }

    #[test]
    fn rows_come_back_as_the_any_driver_gives_them() {
        let (_dir, mut d) = db();
        let (_, changed) = d
            .run(
                "INSERT INTO t (id, name, score) VALUES (?, ?, ?), (?, ?, ?)",
                &[
                    Arg::Int(1),
                    Arg::Text("a".into()),
                    Arg::Real(1.5),
                    Arg::Int(2),
                    Arg::Null,
                    Arg::NullInt,
                ],
            )
            .unwrap();
        assert_eq!(changed, 2);
        let (rows, _) = d
            .run("SELECT id, name, score FROM t ORDER BY id", &[])
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].try_get::<i64, _>(0).unwrap(), 1);
        assert_eq!(rows[0].try_get::<String, _>(1).unwrap(), "a");
        assert_eq!(rows[0].try_get::<f64, _>(2).unwrap(), 1.5);
        assert_eq!(rows[1].try_get::<Option<String>, _>(1).unwrap(), None);
        assert_eq!(rows[1].try_get::<Option<i64>, _>(2).unwrap(), None);
        // A type the column does not hold is an error, not a guess.
        assert!(rows[0].try_get::<i64, _>(1).is_err());
    }

    #[test]
    fn a_broken_unique_key_is_classified() {
        let (_dir, mut d) = db();
        d.run("INSERT INTO t (id, name) VALUES (1, 'a')", &[])
            .unwrap();
        let e = d.run("INSERT INTO t (id, name) VALUES (2, 'a')", &[]).err();
        assert!(
            matches!(e, Some(StoreError::Unique(UniqueKey::Other))),
            "{e:?}"
        );
        let e = d.run("INSERT INTO t (id, name) VALUES (1, 'b')", &[]).err();
        assert!(
            matches!(e, Some(StoreError::Unique(UniqueKey::Other))),
            "{e:?}"
        );
        let e = d.run("SELECT nope FROM t", &[]).err();
        assert!(matches!(e, Some(StoreError::Sqlite(_))), "{e:?}");
    }

    /// A read longer than the inline limit is interrupted and run again on a blocking
    /// thread: same answer, and the connection goes back to the pool.
    #[tokio::test]
    async fn a_long_read_finishes_off_the_thread() {
        let (dir, _d) = db();
        let path = dir.path().join("t.db").to_string_lossy().into_owned();
        let readers = Readers::new(&path, "PRAGMA foreign_keys = ON;", 1);
        let mut lease = readers.acquire().await.unwrap();
        let long = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
                    SELECT COUNT(*), SUM(i) FROM n";
        let started = Instant::now();
        let (rows, _) = lease
            .run(long.to_string(), &[Arg::Int(3_000_000)])
            .await
            .unwrap();
        assert!(
            started.elapsed() > INLINE,
            "the statement was meant to be long"
        );
        assert_eq!(rows[0].try_get::<i64, _>(0).unwrap(), 3_000_000);
        assert_eq!(rows[0].try_get::<i64, _>(1).unwrap(), 4_500_001_500_000);
        // Short ones still run inline on the same connection afterwards.
        let (rows, _) = lease.run("SELECT 41 + 1".to_string(), &[]).await.unwrap();
        assert_eq!(rows[0].try_get::<i64, _>(0).unwrap(), 42);
        // Interrupted once (the long one), and the short one ran inline.
        assert_eq!(readers.offloaded.load(Ordering::Relaxed), 1);
        drop(lease);
        let mut again = readers.acquire().await.unwrap();
        let (rows, _) = again
            .run("SELECT COUNT(*) FROM t".to_string(), &[])
            .await
            .unwrap();
        assert_eq!(rows[0].try_get::<i64, _>(0).unwrap(), 0);
    }

    #[test]
    fn savepoints_roll_back_alone() {
        let (_dir, mut d) = db();
        d.exec("BEGIN").unwrap();
        d.exec("SAVEPOINT s").unwrap();
        d.run("INSERT INTO t (id) VALUES (1)", &[]).unwrap();
        d.exec("RELEASE SAVEPOINT s").unwrap();
        d.exec("SAVEPOINT s").unwrap();
        d.run("INSERT INTO t (id) VALUES (2)", &[]).unwrap();
        d.exec("ROLLBACK TO SAVEPOINT s").unwrap();
        d.exec("RELEASE SAVEPOINT s").unwrap();
        d.exec("COMMIT").unwrap();
        let (rows, _) = d.run("SELECT COUNT(*) FROM t", &[]).unwrap();
        assert_eq!(rows[0].try_get::<i64, _>(0).unwrap(), 1);
    }
}
