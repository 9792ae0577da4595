//! The provisioning engine: what a SCIM request or an admin command means for an account,
//! each request in one transaction.

pub mod accounts;
pub mod admin;
pub mod import;
pub mod reports;
pub mod resources;
pub mod seats;
pub mod settings;
pub mod synclog;

use std::sync::Arc;

use crate::clock::Clock;
use crate::scim::{Registry, ScimError};
use crate::store::{Store, StoreError};

/// Everything the engine needs, shared by every request.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    registry: Arc<Registry>,
    clock: Arc<dyn Clock>,
    /// Queue of read requests' sync log entries, written in batches.
    reads: Option<tokio::sync::mpsc::Sender<synclog::Queued>>,
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
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn now(&self) -> String {
        crate::scim::query::timestamp(self.clock.now())
    }
}

/// A store failure as the client sees it: a uniqueness conflict, or an internal error whose
/// cause is logged, never shown.
pub(crate) fn store_error(e: StoreError) -> ScimError {
    match e {
        StoreError::Unique(msg) if msg.contains("user_name") => {
            ScimError::uniqueness("userName is already taken in this account")
        }
        StoreError::Unique(_) => ScimError::uniqueness("a resource with this value already exists"),
        other => ScimError::internal(other.to_string()),
    }
}
