//! Roster: a SCIM 2.0 provisioning server. The library holds every layer; `main.rs` only
//! calls [`cli::run`].

pub mod cli;
pub mod grammar;
