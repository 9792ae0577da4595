//! Integration tests: the real server on a random port over a fresh SQLite file, spoken to
//! over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod helpers;
mod replicas;
mod scim;
mod seats;
mod synclog;
