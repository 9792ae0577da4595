//! Integration tests, spoken to over HTTP: the real server on a random port, each scenario
//! once on a fresh SQLite file and once on a fresh PostgreSQL database; and two `roster serve`
//! replicas sharing one PostgreSQL database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod auth;
mod churn;
mod console;
mod console_import;
mod console_synclog;
mod console_users;
mod console_webhooks;
mod drift;
mod events;
mod events_replicas;
mod extensions;
mod hardening;
mod helpers;
mod import;
mod jwks;
mod licenses;
mod lifecycle;
mod limits;
mod oauth;
mod overage;
mod ratelimit;
mod replicas;
mod scim;
mod seats;
mod shapes;
mod synclog;
mod wire;
