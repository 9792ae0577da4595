//! The only place with SQL: connecting and migrating, accounts and tokens, resources and
//! memberships, seats, and the filter compiler. SQLite and PostgreSQL through sqlx's Any
//! driver: every statement is shared but the few in `dialect`.

pub mod accounts;
pub mod dialect;
pub mod filter;
pub mod resources;
pub mod seats;
pub mod sql;
pub mod synclog;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::MigrateDatabase;
use sqlx::{AnyPool, Executor, Row};

pub use dialect::Backend;
use sql::Sql;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unique constraint violated: {0}")]
    Unique(String),
    #[error("unsupported database URL: {0}")]
    BadUrl(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored document is not valid JSON: {0}")]
    Corrupt(String),
}

impl StoreError {
    fn classify(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            if db.is_unique_violation() {
                return StoreError::Unique(db.message().to_string());
            }
        }
        StoreError::Sqlx(e)
    }
}

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

/// A unit of work: a transaction for writes; for reads a pooled connection, each read
/// statement seeing one snapshot (a list reads its page and its total in one statement).
pub struct Tx {
    inner: Conn,
    backend: Backend,
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

    pub async fn read(&self) -> Result<Tx> {
        Ok(Tx {
            inner: Conn::Plain(self.read.acquire().await?),
            backend: self.backend,
        })
    }

    pub async fn write(&self) -> Result<Tx> {
        Ok(Tx {
            inner: Conn::Tx(self.write.begin().await?),
            backend: self.backend,
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

impl Tx {
    pub async fn commit(self) -> Result<()> {
        if let Conn::Tx(t) = self.inner {
            t.commit().await?;
        }
        Ok(())
    }

    /// The statement text for this backend: SQLite gets plain `?` placeholders, which it
    /// binds by position without looking names up (a linear search per parameter). Safe
    /// because placeholders are only ever appended, so `$1, $2, ...` are in text order.
    fn text<'a>(&self, sql: &'a Sql) -> std::borrow::Cow<'a, str> {
        match self.backend {
            Backend::Postgres => std::borrow::Cow::Borrowed(sql.text.as_str()),
            Backend::Sqlite => std::borrow::Cow::Owned(sql.positional()),
        }
    }

    async fn execute(&mut self, sql: &Sql) -> Result<u64> {
        let r = sqlx::query_with(&self.text(sql), sql.arguments()?)
            .execute(self.inner.get())
            .await
            .map_err(StoreError::classify)?;
        Ok(r.rows_affected())
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
