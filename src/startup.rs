//! Composition: open the store, build the engine, bind the listener, run the server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::engine::Engine;
use crate::http::body::BodyTimeout;
use crate::scim::Registry;
use crate::store::Store;
use crate::telemetry::RequestSpan;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("schema documents: {0}")]
    Schemas(String),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("database: {0}")]
    Engine(#[from] crate::engine::EngineError),
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
}

/// Opens the database (creating and migrating it) and builds the engine.
pub async fn engine(database_url: &str, config: Option<&Config>) -> Result<Engine, StartupError> {
    let registry = Registry::load().map_err(StartupError::Schemas)?;
    let opts = match config {
        Some(c) => c.store_options(),
        None => crate::store::StoreOptions {
            url: database_url.to_string(),
            max_connections: 4,
            durable: false,
            statement_timeout_ms: 0,
        },
    };
    let store = Store::open(&opts).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = Engine::new(store, Arc::new(registry), clock);
    engine.ensure_admin_secret().await?;
    Ok(engine)
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(config: &Config, engine: Engine) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(config.listen)
            .map_err(|e| StartupError::Listen(config.listen.to_string(), e))?;
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Listen(config.listen.to_string(), e))?
            .port();
        // Sync log retention: prune now, then hourly.
        let pruner = engine.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                every.tick().await;
                match pruner.prune_sync_log().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(entries = n, "pruned the sync log"),
                    Err(e) => tracing::error!(error = %e, "could not prune the sync log"),
                }
            }
        });
        let data = web::Data::new(engine);
        let body_timeout = BodyTimeout(config.body_timeout);
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(data.clone())
                .app_data(body_timeout)
                .configure(crate::http::configure)
        })
        .listen(listener)
        .map_err(|e| StartupError::Listen(config.listen.to_string(), e))?;
        if config.workers > 0 {
            server = server.workers(config.workers);
        }
        Ok(Application {
            port,
            server: server.run(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}
