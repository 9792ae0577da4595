//! Configuration, typed, read once at startup from flags and the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How long a request body may stall (no byte arriving) before the request is refused with
/// 408, unless `--body-timeout-secs` says otherwise.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 30;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: SocketAddr,
    /// Readers in the database pool.
    pub max_connections: u32,
    /// An fsync per commit (`synchronous=FULL`); costs write throughput.
    pub durable: bool,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    /// PostgreSQL statement timeout in milliseconds (0: none).
    pub statement_timeout_ms: u64,
    /// How long a request body may go without a byte arriving before it is given up (408).
    pub body_timeout: Duration,
    /// Requests per second per connection (burst twice that) unless the connection has its
    /// own; each replica counts on its own.
    pub rate_limit_per_second: u32,
    /// Peers whose `X-Forwarded-For` is believed (none: the peer address decides).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Webhook endpoints may be `http://` and private or loopback addresses.
    pub webhook_allow_private: bool,
}

impl Config {
    pub fn store_options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            url: self.database_url.clone(),
            max_connections: self.max_connections,
            durable: self.durable,
            statement_timeout_ms: self.statement_timeout_ms,
        }
    }
}

/// The PEM files `serve --tls-cert FILE --tls-key FILE` names: with them Roster serves HTTPS
/// itself (TLS 1.2 and 1.3); without them plain HTTP, for use behind a TLS proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}
