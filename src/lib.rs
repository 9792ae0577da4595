//! Roster: a SCIM 2.0 provisioning server. The library holds every layer; `main.rs` only
//! calls [`cli::run`].

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod grammar;
pub mod http;
pub mod scim;
pub mod startup;
pub mod store;
pub mod telemetry;
