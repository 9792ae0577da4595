//! The provisioning engine: what a SCIM request or an admin command means for an account,
//! each request in one transaction.

pub mod accounts;
pub mod authz;
pub mod conflicts;
pub mod connections;
pub mod console;
pub mod drift;
pub mod error;
pub mod events;
pub mod extensions;
pub mod forecast;
pub mod import;
pub mod input;
pub mod licenses;
pub mod lifecycle;
pub mod limits;
pub mod oauth;
pub mod pools;
pub mod reports;
pub mod resources;
pub(crate) mod retry;
pub mod rules;
pub mod seats;
pub mod settings;
pub mod synclog;
pub mod transfer;
pub mod users;

use std::sync::Arc;

use crate::clock::Clock;
use crate::scim::Registry;
use crate::store::Store;

pub use error::{EngineError, ErrorCode, Fail};

/// Everything the engine needs, shared by every request.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    /// Queue of read requests' sync log entries, written in batches.
    reads: Option<tokio::sync::mpsc::Sender<synclog::Queued>>,
    /// This replica's rate-limit buckets and connection settings cache.
    limits: Arc<limits::Limits>,
    /// Identity providers' signing keys, for connections that trust their JWTs.
    jwks: Arc<crate::auth::jwks::KeyCache>,
    /// Signing secrets read once (they never change): see `Engine::signing_secret`.
    secrets: Arc<std::sync::Mutex<std::collections::HashMap<&'static str, Vec<u8>>>>,
    /// Each account's schema registry (its extensions), as this replica last built it.
    schemas: Arc<extensions::RegistryCache>,
    /// The webhook client and this replica's name for its delivery leases.
    outbound: Arc<events::deliver::Outbound>,
}

impl Engine {
    /// Builds the engine; starts the writer of read entries, so call it inside a runtime.
    pub fn new(store: Store, registry: Arc<Registry>, clock: Arc<dyn Clock>) -> Self {
        let reads = Some(synclog::start_reads_writer(store.clone()));
        Engine {
            store,
            registry,
            clock,
            reads,
            limits: Arc::default(),
            jwks: Arc::default(),
            secrets: Arc::default(),
            schemas: Arc::default(),
            outbound: Arc::default(),
        }
    }

    /// `serve --webhook-allow-private`: endpoints may be `http://` and reach private and
    /// loopback addresses.
    pub fn set_webhook_allow_private(&self, allow: bool) {
        self.outbound.set_allow_private(allow);
    }

    /// The built-in schemas (no account's extensions): see `registry_for` for an account's.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether the database answers (health checks).
    pub async fn ping(&self) -> Result<(), EngineError> {
        Ok(self.store.ping().await?)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> String {
        crate::scim::query::timestamp(self.clock.now())
    }
}
