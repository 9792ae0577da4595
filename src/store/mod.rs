//! The only place with SQL: connecting and migrating, accounts and tokens, resources and
//! memberships, seats, and the filter compiler. SQLite and PostgreSQL through sqlx's Any
//! driver: every statement is shared but the few in `dialect`.

pub mod accounts;
pub mod conflicts;
pub mod dialect;
pub mod error;
pub mod filter;
pub mod lookups;
pub mod pools;
pub mod resources;
pub mod rules;
pub mod seats;
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
}

/// A read connection: every statement a read may run, and nothing that writes. On SQLite a
/// reader of the pool, never the writer; each statement sees one snapshot (a list reads its
/// page and its total in one statement).
pub struct ReadConn {
    inner: Conn,
    backend: Backend,
}

/// A write transaction: everything a [`ReadConn`] reads (through `Deref`, inside the same
/// transaction) plus the statements that write. Only [`Store::write`] makes one, so a
/// function that takes `&mut ReadConn` cannot write and never waits for the writer.
pub struct WriteTx {
    conn: ReadConn,
}

enum Conn {
    Tx(sqlx::Transaction<'static, sqlx::Any>),
    Plain(sqlx::pool::PoolConnection<sqlx::Any>),
}

impl Conn {
    fn get(&mut self) -> &mut sqlx::AnyConnection {
        match self {
            Conn::Tx(t) => t,
            Conn::Plain(c) => c,
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
    pub async fn open(opts: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalise_url(&opts.url)?;
        if backend == Backend::Postgres && !sqlx::Any::database_exists(&url).await? {
            sqlx::Any::create_database(&url).await?;
        }
        let connect = AnyConnectOptions::from_str(&url)?;
        let session = match backend {
            Backend::Sqlite => {
                let synchronous = if opts.durable { "FULL" } else { "NORMAL" };
                format!(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                     PRAGMA mmap_size = 268435456; PRAGMA temp_store = MEMORY;"
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
            Backend::Postgres => (session.clone(), session),
        };
        let write = pool(writers, write_session, connect.clone()).await?;
        let mut migrate_conn = write.acquire().await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&mut *migrate_conn).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&mut *migrate_conn).await?,
        }
        drop(migrate_conn);
        let read = match backend {
            Backend::Sqlite => pool(opts.max_connections.max(1), read_session, connect).await?,
            Backend::Postgres => write.clone(),
        };
        Ok(Store {
            read,
            write,
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A read connection (on SQLite one of the readers, never the writer).
    pub async fn read(&self) -> Result<ReadConn> {
        Ok(ReadConn {
            inner: Conn::Plain(self.read.acquire().await?),
            backend: self.backend,
        })
    }

    /// A write transaction (on SQLite the one writer: it queues behind the others).
    pub async fn write(&self) -> Result<WriteTx> {
        Ok(WriteTx {
            conn: ReadConn {
                inner: Conn::Tx(self.write.begin().await?),
                backend: self.backend,
            },
        })
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<()> {
        if let Conn::Tx(t) = self.conn.inner {
            t.commit().await?;
        }
        Ok(())
    }

    async fn execute(&mut self, sql: &Sql) -> Result<u64> {
        let text = self.conn.text(sql);
        let r = sqlx::query_with(&text, sql.arguments()?)
            .execute(self.conn.inner.get())
            .await
            .map_err(StoreError::from)?;
        Ok(r.rows_affected())
    }

    /// Savepoints: one import row can fail and roll back alone.
    pub async fn savepoint(&mut self) -> Result<()> {
        self.execute(&Sql::new("SAVEPOINT row_sp")).await?;
        Ok(())
    }

    pub async fn release_savepoint(&mut self) -> Result<()> {
        self.execute(&Sql::new("RELEASE SAVEPOINT row_sp")).await?;
        Ok(())
    }

    pub async fn rollback_to_savepoint(&mut self) -> Result<()> {
        self.execute(&Sql::new("ROLLBACK TO SAVEPOINT row_sp"))
            .await?;
        self.execute(&Sql::new("RELEASE SAVEPOINT row_sp")).await?;
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

    async fn fetch_all(&mut self, sql: &Sql) -> Result<Vec<sqlx::any::AnyRow>> {
        Ok(sqlx::query_with(&self.text(sql), sql.arguments()?)
            .fetch_all(self.inner.get())
            .await?)
    }

    async fn fetch_optional(&mut self, sql: &Sql) -> Result<Option<sqlx::any::AnyRow>> {
        Ok(sqlx::query_with(&self.text(sql), sql.arguments()?)
            .fetch_optional(self.inner.get())
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
        let row = sqlx::query_with(&self.text(sql), sql.arguments()?)
            .fetch_one(self.inner.get())
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }
}

async fn pool(size: u32, session: String, connect: AnyConnectOptions) -> Result<AnyPool> {
    Ok(AnyPoolOptions::new()
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
        .await?)
}

/// `sqlite://x.db` or `sqlite:///abs/x.db` (the file is created when missing), or
/// `postgres://user@host:5432/db` (the database is created when missing).
fn normalise_url(url: &str) -> Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest.contains(":memory:") || url.contains("mode=") {
            return Ok((Backend::Sqlite, url.to_string()));
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        return Ok((Backend::Sqlite, format!("{url}{sep}mode=rwc")));
    }
    Err(StoreError::BadUrl(format!(
        "{url}: use sqlite://FILE, sqlite:///ABSOLUTE/PATH or postgres://USER@HOST:PORT/DB"
    )))
}
