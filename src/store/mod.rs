//! The only place with SQL: connecting and migrating, accounts and tokens, resources and
//! memberships, seats, and the filter compiler. SQLite and PostgreSQL through sqlx's Any
//! driver: every statement is shared but the few in `dialect`.

pub mod accounts;
pub mod conflicts;
pub mod console;
pub mod dialect;
mod direct;
pub mod drift;
pub mod error;
pub mod events;
pub mod extensions;
pub mod filter;
mod group;
pub mod lifecycle;
pub mod lookups;
pub mod oauth;
pub mod pools;
pub mod resources;
pub mod rules;
pub mod seats;
pub mod seed;
pub mod settings;
pub mod sql;
pub mod synclog;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::MigrateDatabase;
use sqlx::{AnyPool, Executor, Row};

pub use dialect::Backend;
pub use error::{StoreError, UniqueKey};
use sql::Sql;

pub type Result<T> = std::result::Result<T, StoreError>;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Storage settings that come from configuration.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    /// Readers in the pool (writers: one on SQLite).
    pub max_connections: u32,
    /// `synchronous=FULL` (an fsync per commit) instead of `NORMAL` (SQLite only:
    /// PostgreSQL commits durably by default).
    pub durable: bool,
    /// PostgreSQL `statement_timeout`, in milliseconds (0: none).
    pub statement_timeout_ms: u64,
}

/// Pools for reading and for writing. On SQLite all writes go through one connection, so
/// writers queue in the pool instead of failing with SQLITE_BUSY; on PostgreSQL both are
/// one pool, and row locks and conditional updates keep replicas honest.
#[derive(Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
    opened: Opened,
    /// Counts this process's commits that wrote events: long polls and webhook delivery
    /// wake on it instead of waiting for their next look (other replicas' commits are
    /// found by that look).
    committed: tokio::sync::watch::Sender<u64>,
    /// SQLite's writer, with group commit (None on PostgreSQL, whose writers run at once).
    writer: Option<std::sync::Arc<group::Writer>>,
    /// SQLite's readers, run on the requests' threads (None on PostgreSQL).
    readers: Option<std::sync::Arc<direct::Readers>>,
    /// SQLite's WAL checkpoints, on a thread of their own (None on PostgreSQL).
    _checkpointer: Option<std::sync::Arc<direct::Checkpointer>>,
}

/// What [`Store::open`] found and did: where the database is, and the migrations it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The SQLite file, or `PostgreSQL at HOST:PORT, database NAME` (never a password).
    pub place: String,
    /// Migrations this open ran.
    pub migrations_run: usize,
    /// The database had no migrations before (it was created now).
    pub created: bool,
}

/// A read connection: every statement a read may run, and nothing that writes. On SQLite a
/// reader of the pool, never the writer; each statement sees one snapshot (a list reads its
/// page and its total in one statement).
pub struct ReadConn {
    inner: Conn,
    backend: Backend,
    /// An account's schema number the caller already knows (a SCIM request's, read with
    /// its credentials), so the statements that need it do not read it again.
    schemas_hint: Option<(i64, i64)>,
}

/// A write transaction: everything a [`ReadConn`] reads (through `Deref`, inside the same
/// transaction) plus the statements that write. Only [`Store::write`] makes one, so a
/// function that takes `&mut ReadConn` cannot write and never waits for the writer.
pub struct WriteTx {
    conn: ReadConn,
    /// Events of this change, written (and numbered) as the last statements before the
    /// commit: see [`WriteTx::emit`].
    outbox: events::Outbox,
    committed: tokio::sync::watch::Sender<u64>,
}

enum Conn {
    Tx(sqlx::Transaction<'static, sqlx::Any>),
    Plain(sqlx::pool::PoolConnection<sqlx::Any>),
    /// A request's turn at SQLite's writer, inside a group commit's batch.
    Grouped(group::Turn),
    /// One of SQLite's readers.
    Reader(direct::Lease),
}

impl Conn {
    fn get(&mut self) -> Result<&mut sqlx::AnyConnection> {
        match self {
            Conn::Tx(t) => Ok(t),
            Conn::Plain(c) => Ok(c),
            // Their statements run on this thread (`ReadConn::direct`), never through sqlx.
            Conn::Grouped(_) | Conn::Reader(_) => Err(StoreError::Corrupt(
                "the SQLite writer's statements do not go through sqlx".into(),
            )),
        }
    }
}

impl std::ops::Deref for WriteTx {
    type Target = ReadConn;

    fn deref(&self) -> &ReadConn {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut ReadConn {
        &mut self.conn
    }
}

impl Store {
    /// Connects, creating the database when missing, and runs the migrations it lacks.
    /// A failure to connect names the SQLite file (and a missing directory) or PostgreSQL's
    /// host and port.
    pub async fn open(opts: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalise_url(&opts.url)?;
        let place = place(backend, &opts.url);
        let cannot = |e: sqlx::Error| cannot_open(backend, &place, e);
        match backend {
            Backend::Postgres => {
                if !sqlx::Any::database_exists(&url).await.map_err(cannot)? {
                    sqlx::Any::create_database(&url).await.map_err(cannot)?;
                }
            }
            Backend::Sqlite => check_directory(&place)?,
        }
        let connect = AnyConnectOptions::from_str(&url)?;
        let session = match backend {
            Backend::Sqlite => {
                let synchronous = if opts.durable { "FULL" } else { "NORMAL" };
                format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA mmap_size = 0; PRAGMA temp_store = MEMORY;"
                )
            }
            Backend::Postgres => format!(
                "SET statement_timeout = {}; SET lock_timeout = 10000;",
                opts.statement_timeout_ms
            ),
        };
        let writers = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => opts.max_connections.max(2),
        };
        // The one SQLite writer gets a large page cache (imports); readers a small one each,
        // since the file is memory-mapped and shared by all of them anyway.
        let (write_session, read_session) = match backend {
            Backend::Sqlite => (
                format!("{session} PRAGMA cache_size = -65536;"),
                format!("{session} PRAGMA cache_size = -4096;"),
            ),
            Backend::Postgres => (session.clone(), session.clone()),
        };
        let write = pool(writers, write_session.clone(), connect.clone())
            .await
            .map_err(cannot)?;
        let mut migrate_conn = write.acquire().await?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let before = applied_migrations(&mut migrate_conn).await;
        migrator.run(&mut *migrate_conn).await?;
        drop(migrate_conn);
        let migrations_run = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !before.contains(&m.version))
            .count();
        let read = match backend {
            // Unused: SQLite's readers are `readers` below. Lazy, so it opens nothing.
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(connect),
            Backend::Postgres => write.clone(),
        };
        // SQLite's one writer connection is the group commit's slot's, and runs its
        // statements on the requests' threads (src/store/direct.rs); sqlx's writer
        // connection was for the migrations only.
        let (writer, readers, checkpointer) = match backend {
            Backend::Sqlite => {
                write.close().await;
                let checkpointer = direct::Checkpointer::start(sqlite_path(&url), &session)?;
                let direct = direct::Direct::open(
                    sqlite_path(&url),
                    &format!("{write_session} PRAGMA wal_autocheckpoint = 20000;"),
                )?;
                let readers = direct::Readers::new(
                    sqlite_path(&url),
                    &read_session,
                    usize::try_from(opts.max_connections).unwrap_or(8),
                );
                (
                    Some(group::Writer::new(direct)),
                    Some(readers),
                    Some(std::sync::Arc::new(checkpointer)),
                )
            }
            Backend::Postgres => (None, None, None),
        };
        Ok(Store {
            read,
            write,
            backend,
            opened: Opened {
                place,
                migrations_run,
                created: before.is_empty(),
            },
            committed: tokio::sync::watch::Sender::new(0),
            writer,
            readers,
            _checkpointer: checkpointer,
        })
    }

    /// Where the database is and what opening it did.
    pub fn opened(&self) -> &Opened {
        &self.opened
    }

    /// A receiver that changes whenever this process commits events.
    pub fn events_committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A read connection (on SQLite one of the readers, never the writer).
    pub async fn read(&self) -> Result<ReadConn> {
        let inner = match &self.readers {
            Some(r) => Conn::Reader(r.acquire().await?),
            None => Conn::Plain(self.read.acquire().await?),
        };
        Ok(ReadConn {
            inner,
            backend: self.backend,
            schemas_hint: None,
        })
    }

    /// A write transaction (on SQLite a turn at the one writer, in a group commit: it
    /// queues behind the others).
    pub async fn write(&self) -> Result<WriteTx> {
        let inner = match &self.writer {
            Some(w) => Conn::Grouped(w.begin().await?),
            None => Conn::Tx(self.write.begin().await?),
        };
        Ok(WriteTx {
            conn: ReadConn {
                inner,
                backend: self.backend,
                schemas_hint: None,
            },
            outbox: events::Outbox::default(),
            committed: self.committed.clone(),
        })
    }

    pub async fn ping(&self) -> Result<()> {
        self.read()
            .await?
            .fetch_count(&Sql::new("SELECT 1"))
            .await?;
        Ok(())
    }

    /// Closes the pools. SQLite's writer connection, held by the group commit's slot, closes
    /// when the last clone of the store is dropped.
    pub async fn close(&self) {
        self.read.close().await;
        if self.writer.is_none() {
            self.write.close().await;
        }
    }
}

impl WriteTx {
    /// Writes the change's events, then commits; wakes this process's event readers.
    pub async fn commit(mut self) -> Result<()> {
        let wrote_events = self.write_outbox().await?;
        match self.conn.inner {
            Conn::Tx(t) => t.commit().await?,
            Conn::Grouped(turn) => turn.commit().await?,
            Conn::Plain(_) | Conn::Reader(_) => {}
        }
        if wrote_events {
            self.committed.send_modify(|n| *n = n.wrapping_add(1));
        }
        Ok(())
    }

    async fn execute(&mut self, sql: &Sql) -> Result<u64> {
        if let Some(r) = self.conn.direct(sql).await {
            return Ok(r?.1);
        }
        let text = self.conn.text(sql);
        let r = sqlx::query_with(&text, sql.arguments()?)
            .execute(self.conn.inner.get()?)
            .await
            .map_err(StoreError::from)?;
        Ok(r.rows_affected())
    }

    /// Savepoints: one import row can fail and roll back alone.
    /// The events emitted since are dropped with a rollback to it.
    pub async fn savepoint(&mut self) -> Result<()> {
        self.execute(&Sql::new("SAVEPOINT row_sp")).await?;
        self.outbox.mark();
        Ok(())
    }

    pub async fn release_savepoint(&mut self) -> Result<()> {
        self.execute(&Sql::new("RELEASE SAVEPOINT row_sp")).await?;
        self.outbox.keep();
        Ok(())
    }

    pub async fn rollback_to_savepoint(&mut self) -> Result<()> {
        self.execute(&Sql::new("ROLLBACK TO SAVEPOINT row_sp"))
            .await?;
        self.execute(&Sql::new("RELEASE SAVEPOINT row_sp")).await?;
        self.outbox.drop_to_mark();
        Ok(())
    }
}

impl ReadConn {
    /// The statement text for this backend: SQLite gets plain `?` placeholders, which it
    /// binds by position without looking names up (a linear search per parameter). Safe
    /// because placeholders are only ever appended, so `$1, $2, ...` are in text order.
    fn text<'a>(&self, sql: &'a Sql) -> std::borrow::Cow<'a, str> {
        match self.backend {
            Backend::Postgres => std::borrow::Cow::Borrowed(sql.text.as_str()),
            Backend::Sqlite => std::borrow::Cow::Owned(sql.positional()),
        }
    }

    /// Runs the statement on SQLite's writer, on this thread, when this is a turn at it;
    /// `None` when the statement goes through sqlx.
    async fn direct(&mut self, sql: &Sql) -> Option<Result<(Vec<sqlx::any::AnyRow>, u64)>> {
        let turn = match &mut self.inner {
            Conn::Grouped(turn) => turn,
            Conn::Reader(lease) => return Some(lease.run(sql.positional(), &sql.args).await),
            _ => return None,
        };
        let Some(d) = turn.conn() else {
            return Some(Err(StoreError::Corrupt("the writer's turn is over".into())));
        };
        let r = d.run(&sql.positional(), &sql.args);
        d.pace().await;
        Some(r)
    }

    async fn fetch_all(&mut self, sql: &Sql) -> Result<Vec<sqlx::any::AnyRow>> {
        if let Some(r) = self.direct(sql).await {
            return Ok(r?.0);
        }
        Ok(sqlx::query_with(&self.text(sql), sql.arguments()?)
            .fetch_all(self.inner.get()?)
            .await?)
    }

    async fn fetch_optional(&mut self, sql: &Sql) -> Result<Option<sqlx::any::AnyRow>> {
        if let Some(r) = self.direct(sql).await {
            return Ok(r?.0.into_iter().next());
        }
        Ok(sqlx::query_with(&self.text(sql), sql.arguments()?)
            .fetch_optional(self.inner.get()?)
            .await?)
    }

    /// The first column of the first row, as text, if there is a row.
    async fn fetch_text(&mut self, sql: &Sql) -> Result<Option<String>> {
        match self.fetch_optional(sql).await? {
            Some(r) => Ok(Some(r.try_get(0)?)),
            None => Ok(None),
        }
    }

    async fn fetch_count(&mut self, sql: &Sql) -> Result<i64> {
        if let Some(r) = self.direct(sql).await {
            return match r?.0.first() {
                Some(row) => Ok(row.try_get::<i64, _>(0)?),
                None => Err(StoreError::Sqlx(sqlx::Error::RowNotFound)),
            };
        }
        let row = sqlx::query_with(&self.text(sql), sql.arguments()?)
            .fetch_one(self.inner.get()?)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }
}

async fn pool(
    size: u32,
    session: String,
    connect: AnyConnectOptions,
) -> std::result::Result<AnyPool, sqlx::Error> {
    AnyPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| {
            let statements = session.clone();
            Box::pin(async move {
                conn.execute(statements.as_str()).await?;
                Ok(())
            })
        })
        .connect_with(connect)
        .await
}

/// The versions of the migrations the database has run (none when it has no migrations
/// table yet: a new database).
async fn applied_migrations(conn: &mut sqlx::AnyConnection) -> Vec<i64> {
    sqlx::query("SELECT version FROM _sqlx_migrations WHERE success")
        .fetch_all(conn)
        .await
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r.try_get::<i64, _>(0).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Where the URL points, for messages: the SQLite file, or `postgres://HOST:PORT/DB` with
/// the user, the password and the query (which may hold a password) left out.
fn place(backend: Backend, url: &str) -> String {
    match backend {
        Backend::Sqlite => sqlite_path(url).to_string(),
        Backend::Postgres => {
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let rest = rest.split('?').next().unwrap_or(rest);
            let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = if host.is_empty() { "localhost" } else { host };
            // A port is what follows the last ':' outside an IPv6 address's brackets.
            let has_port = host.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']'));
            let port = if has_port { "" } else { ":5432" };
            format!("postgres://{host}{port}/{database}")
        }
    }
}

/// The file of a `sqlite:` URL: `sqlite://x.db` is `x.db`, `sqlite:///a/x.db` is `/a/x.db`.
fn sqlite_path(url: &str) -> &str {
    let rest = url.strip_prefix("sqlite:").unwrap_or(url);
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    rest.split('?').next().unwrap_or(rest)
}

/// SQLite creates the file but not its directory, and says only "unable to open database
/// file" when that is missing: say which directory.
fn check_directory(path: &str) -> Result<()> {
    let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    else {
        return Ok(());
    };
    if dir.is_dir() {
        return Ok(());
    }
    let why = if dir.exists() {
        "is not a directory"
    } else {
        "does not exist"
    };
    Err(StoreError::Sqlx(sqlx::Error::InvalidArgument(format!(
        "cannot open the SQLite database {path}: the directory {} {why}",
        dir.display()
    ))))
}

/// A failure to connect, with the place it was trying. `InvalidArgument` shows its text
/// alone, so the message reads as one sentence.
fn cannot_open(backend: Backend, place: &str, e: sqlx::Error) -> StoreError {
    let what = match backend {
        Backend::Sqlite => format!("cannot open the SQLite database {place}"),
        Backend::Postgres => format!("cannot connect to PostgreSQL at {place}"),
    };
    let why = match e {
        sqlx::Error::PoolTimedOut => "no connection came within 30 s".to_string(),
        e => e.to_string(),
    };
    StoreError::Sqlx(sqlx::Error::InvalidArgument(format!("{what}: {why}")))
}

/// `sqlite://x.db` or `sqlite:///abs/x.db` (the file is created when missing), or
/// `postgres://user@host:5432/db` (the database is created when missing).
fn normalise_url(url: &str) -> Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        // Each connection to an in-memory database gets a database of its own, and Roster
        // uses several (a writer and readers): the tables would be missing on all but one.
        if rest.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::BadUrl(format!(
                "{url}: an in-memory SQLite database is not supported: use a file, \
                 e.g. sqlite://roster.db"
            )));
        }
        if sqlite_path(url).is_empty() {
            return Err(StoreError::BadUrl(format!(
                "{url} names no file: use sqlite://FILE (e.g. sqlite://roster.db) or \
                 sqlite:///ABSOLUTE/PATH"
            )));
        }
        if url.contains("mode=") {
            return Ok((Backend::Sqlite, url.to_string()));
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        return Ok((Backend::Sqlite, format!("{url}{sep}mode=rwc")));
    }
    Err(StoreError::BadUrl(format!(
        "{url}: use sqlite://FILE, sqlite:///ABSOLUTE/PATH or postgres://USER@HOST:PORT/DB"
    )))
}
