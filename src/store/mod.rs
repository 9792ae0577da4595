//! The only place with SQL: connecting and migrating, accounts and tokens, resources and
//! memberships, and the filter compiler. SQLite through sqlx's Any driver, so PostgreSQL
//! can share every statement but the few in `dialect`.

pub mod accounts;
pub mod dialect;
pub mod filter;
pub mod resources;
pub mod seats;
pub mod sql;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

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

/// Storage settings that come from configuration.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: String,
    /// Readers in the pool (writers: one on SQLite).
    pub max_connections: u32,
    /// `synchronous=FULL` (an fsync per commit) instead of `NORMAL`.
    pub durable: bool,
}

/// Pools for reading and for writing. On SQLite all writes go through one connection, so
/// writers queue in the pool instead of failing with SQLITE_BUSY.
#[derive(Clone)]
pub struct Store {
    read: AnyPool,
    write: AnyPool,
}

/// A transaction. Reads use one too, so a count and its page see the same data.
pub struct Tx {
    inner: sqlx::Transaction<'static, sqlx::Any>,
}

impl Store {
    pub async fn open(opts: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let url = normalise_url(&opts.url)?;
        let connect = AnyConnectOptions::from_str(&url)?;
        let synchronous = if opts.durable { "FULL" } else { "NORMAL" };
        let pragmas = format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; \
             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;"
        );
        let p1 = pragmas.clone();
        let write = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                let p = p1.clone();
                Box::pin(async move {
                    conn.execute(p.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(connect.clone())
            .await?;
        let mut migrate_conn = write.acquire().await?;
        SQLITE_MIGRATIONS.run(&mut *migrate_conn).await?;
        drop(migrate_conn);
        let read = AnyPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                let p = pragmas.clone();
                Box::pin(async move {
                    conn.execute(p.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        Ok(Store { read, write })
    }

    pub async fn read(&self) -> Result<Tx> {
        Ok(Tx {
            inner: self.read.begin().await?,
        })
    }

    pub async fn write(&self) -> Result<Tx> {
        Ok(Tx {
            inner: self.write.begin().await?,
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
        self.inner.commit().await?;
        Ok(())
    }

    async fn execute(&mut self, sql: &Sql) -> Result<u64> {
        let r = sqlx::query_with(&sql.text, sql.arguments()?)
            .execute(&mut *self.inner)
            .await
            .map_err(StoreError::classify)?;
        Ok(r.rows_affected())
    }

    async fn fetch_all(&mut self, sql: &Sql) -> Result<Vec<sqlx::any::AnyRow>> {
        Ok(sqlx::query_with(&sql.text, sql.arguments()?)
            .fetch_all(&mut *self.inner)
            .await?)
    }

    async fn fetch_optional(&mut self, sql: &Sql) -> Result<Option<sqlx::any::AnyRow>> {
        Ok(sqlx::query_with(&sql.text, sql.arguments()?)
            .fetch_optional(&mut *self.inner)
            .await?)
    }

    async fn fetch_count(&mut self, sql: &Sql) -> Result<i64> {
        let row = sqlx::query_with(&sql.text, sql.arguments()?)
            .fetch_one(&mut *self.inner)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }
}

/// `sqlite://x.db` or `sqlite:///abs/x.db`, created when missing. PostgreSQL comes later.
fn normalise_url(url: &str) -> Result<String> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest.contains(":memory:") {
            return Ok(url.to_string());
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        if url.contains("mode=") {
            return Ok(url.to_string());
        }
        return Ok(format!("{url}{sep}mode=rwc"));
    }
    Err(StoreError::BadUrl(format!(
        "{url}: use sqlite://FILE or sqlite:///ABSOLUTE/PATH"
    )))
}
