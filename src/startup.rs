//! Composition: open the store, build the engine, bind the listener, run the server until
//! Ctrl-C or SIGTERM, then let the requests under way finish.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tracing_actix_web::TracingLogger;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, TlsFiles};
use crate::engine::Engine;
use crate::http::body::BodyTimeout;
use crate::scim::Registry;
use crate::store::Store;
use crate::telemetry::{request_id_header, RequestSpan};

/// How long a stop waits for the requests under way (an import of a large file takes a
/// while) before it closes their connections.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// A certificate or key file that cannot be read or used; the message names the file.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The rustls server configuration for `--tls-cert` and `--tls-key`: TLS 1.3 and 1.2 only,
/// on the ring provider (as sqlx's), no client certificates. Every error names its file.
pub fn tls_config(files: &TlsFiles) -> Result<rustls::ServerConfig, StartupError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};

    let read = |what: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| {
            StartupError::Tls(format!("cannot read the {what} {}: {e}", path.display()))
        })
    };
    let cert_pem = read("certificate file", &files.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            StartupError::Tls(format!(
                "the certificate file {} is not PEM: {e}",
                files.cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(StartupError::Tls(format!(
            "the certificate file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            files.cert.display()
        )));
    }
    let key_pem = read("private key file", &files.key)?;
    // The parser's error never quotes the key's contents, only what it expected.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        StartupError::Tls(format!(
            "the private key file {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            files.key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| StartupError::Tls(format!("TLS versions: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            StartupError::Tls(format!(
                "the certificate {} and the key {} cannot be used together: {e}",
                files.cert.display(),
                files.key.display()
            ))
        })
}

/// Opens the database (creating and migrating it) and builds the engine.
pub async fn engine(database_url: &str, config: Option<&Config>) -> Result<Engine, StartupError> {
    engine_with_clock(database_url, config, Arc::new(SystemClock)).await
}

/// [`engine`] with the clock given (tests pass one they can move).
pub async fn engine_with_clock(
    database_url: &str,
    config: Option<&Config>,
    clock: Arc<dyn Clock>,
) -> Result<Engine, StartupError> {
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
    let engine = Engine::new(store, Arc::new(registry), clock);
    if let Some(c) = config {
        engine.set_limits(c.rate_limit_per_second, c.trusted_proxies.clone());
        engine.set_webhook_allow_private(c.webhook_allow_private);
    }
    engine.ensure_admin_secret().await?;
    engine.ensure_access_secret().await?;
    Ok(engine)
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(config: &Config, engine: Engine) -> Result<Application, StartupError> {
        let listener = bind(config.listen)?;
        Application::build_on(listener, config, engine).await
    }

    /// Builds the server on a listener bound beforehand with [`bind`] (so `serve` can fail
    /// on a busy port before it changes anything in the database).
    pub async fn build_on(
        listener: TcpListener,
        config: &Config,
        engine: Engine,
    ) -> Result<Application, StartupError> {
        Application::build_on_tls(listener, config, engine, None).await
    }

    /// [`Application::build_on`], serving HTTPS with `tls` when given (see [`tls_config`]),
    /// plain HTTP otherwise.
    pub async fn build_on_tls(
        listener: TcpListener,
        config: &Config,
        engine: Engine,
        tls: Option<rustls::ServerConfig>,
    ) -> Result<Application, StartupError> {
        let port = listener
            .local_addr()
            .map_err(|e| StartupError::Listen(config.listen.to_string(), e))?
            .port();
        // Sync log retention (and the console's expired sessions): prune a minute after start
        // (not in the same moment as the start's own writes), then hourly.
        engine.start_delivery();
        let pruner = engine.clone();
        tokio::spawn(async move {
            let hour = std::time::Duration::from_secs(3600);
            let first = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
            let mut every = tokio::time::interval_at(first, hour);
            loop {
                every.tick().await;
                match pruner.prune_sync_log().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(entries = n, "pruned the sync log"),
                    Err(e) => tracing::error!(error = %e, "could not prune the sync log"),
                }
                match pruner.prune_events().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(events = n, "pruned delivered events"),
                    Err(e) => tracing::error!(error = %e, "could not prune events"),
                }
                if let Err(e) = pruner.prune_console().await {
                    tracing::error!(error = %e, "could not prune the console's sessions");
                }
                if let Err(e) = pruner.snapshot_seats().await {
                    tracing::error!(error = %e, "could not record today's seat counts");
                }
                // Every replica purges; each takes users no other is purging.
                match pruner.purge_suspended().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        users = n,
                        "purged users suspended past purge_suspended_after_days"
                    ),
                    Err(e) => tracing::error!(error = %e, "could not purge long-suspended users"),
                }
            }
        });
        let data = web::Data::new(engine);
        let body_timeout = BodyTimeout(config.body_timeout);
        let server = HttpServer::new(move || {
            App::new()
                // The last wrap runs first: the logger gives the request its id, then the
                // header middleware copies it to the response.
                .wrap(from_fn(request_id_header))
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(data.clone())
                .app_data(body_timeout)
                .configure(crate::http::configure)
        })
        // Signals are handled in `run_until_stopped`, which stops gracefully on both.
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT.as_secs());
        let mut server = match tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls),
            None => server.listen(listener),
        }
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

    /// Runs until the server is stopped through its handle (tests).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Runs until Ctrl-C (SIGINT) or SIGTERM, then stops taking connections and lets the
    /// requests under way finish (for at most [`SHUTDOWN_TIMEOUT`]) before returning. A
    /// second signal while they finish exits at once.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        tokio::spawn(async move {
            let signal = stop_signal().await;
            tracing::info!(
                "{signal} received: finishing the requests under way (at most {} s), then \
                 stopping; a second signal stops at once",
                SHUTDOWN_TIMEOUT.as_secs()
            );
            tokio::select! {
                () = handle.stop(true) => {}
                again = stop_signal() => {
                    tracing::warn!("{again} received again: stopping now, requests under way are cut off");
                    std::process::exit(1);
                }
            }
        });
        self.server.await
    }
}

/// Binds the address, naming it if that fails (a port in use, an address not of this host).
pub fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).map_err(|e| StartupError::Listen(addr.to_string(), e))
}

/// Waits for the first stop signal and names it.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                Ok(()) = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; Ctrl-C still stops");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}
