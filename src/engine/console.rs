//! The admin console's sign-in: one-time links (`roster console-link`), sessions made from a
//! link or a pasted admin token, each with the token its forms carry, ended on sign-out or
//! after eight hours; and CSV uploads kept between an import's dry run and its confirmation.
//! A session acts as an [`AdminPrincipal`] of its account and role.

use chrono::Duration;

use crate::auth::jwt::{AdminPrincipal, Role};
use crate::auth::{hash_token, hashes_match, new_secret};
use crate::store::console::ConsoleGrant;

use super::error::{EngineError, ErrorCode};
use super::Engine;

/// How long a sign-in link can be used.
pub const LINK_MINUTES: i64 = 15;
/// How long a session lasts.
pub const SESSION_HOURS: i64 = 8;
/// How long an upload waits for its confirmation.
pub const UPLOAD_MINUTES: i64 = 60;
/// Largest CSV the console keeps.
pub const MAX_UPLOAD: usize = 32 * 1024 * 1024;

/// A session just made: the secret for the cookie (never stored), when it ends.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: String,
    pub max_age_secs: i64,
}

/// A live session: who it acts as, and the token its forms must carry.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub principal: AdminPrincipal,
    pub csrf: String,
    /// The SHA-256 of the cookie's secret (the session's key).
    pub key: String,
}

impl ConsoleSession {
    /// Whether a form's token is this session's (compared in constant time).
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| hashes_match(p, &self.csrf))
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Auditor => "auditor",
    }
}

fn signed_out() -> EngineError {
    EngineError::unauthorized("sign in to the console: the session is missing, ended or expired")
}

impl Engine {
    /// A one-time sign-in link's secret for `slug` (the caller makes the URL).
    pub async fn console_link(&self, slug: &str, role: Role) -> Result<String, EngineError> {
        let account = self.account(slug).await?;
        let secret = new_secret("rcl_");
        let now = self.clock.now();
        let grant = ConsoleGrant {
            account_id: account.id,
            role: role_name(role).into(),
            subject: "console-link".into(),
        };
        let mut tx = self.store.write().await?;
        tx.insert_console_link(
            &hash_token(&secret),
            &grant,
            &crate::scim::query::timestamp(now),
            &crate::scim::query::timestamp(now + Duration::minutes(LINK_MINUTES)),
        )
        .await?;
        tx.commit().await?;
        Ok(secret)
    }

    /// Uses a sign-in link (once) and opens a session.
    pub async fn console_sign_in_link(&self, secret: &str) -> Result<NewSession, EngineError> {
        let now = self.now();
        let mut tx = self.store.write().await?;
        let grant = tx
            .use_console_link(&hash_token(secret), &now)
            .await?
            .ok_or_else(|| {
                EngineError::unauthorized("This sign-in link is invalid, used or expired.")
            })?;
        let session = self.open_session(&mut tx, &grant).await?;
        tx.commit().await?;
        Ok(session)
    }

    /// Opens a session for the holder of an admin token.
    pub async fn console_sign_in_token(&self, token: &str) -> Result<NewSession, EngineError> {
        let ap = self.authenticate_admin(token.trim()).await?;
        let grant = ConsoleGrant {
            account_id: ap.account_id,
            role: role_name(ap.role).into(),
            subject: ap.subject,
        };
        let mut tx = self.store.write().await?;
        let session = self.open_session(&mut tx, &grant).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn open_session(
        &self,
        tx: &mut crate::store::WriteTx,
        grant: &ConsoleGrant,
    ) -> Result<NewSession, EngineError> {
        let secret = new_secret("rcs_");
        let now = self.clock.now();
        tx.insert_console_session(
            &hash_token(&secret),
            grant,
            &new_secret(""),
            &crate::scim::query::timestamp(now),
            &crate::scim::query::timestamp(now + Duration::hours(SESSION_HOURS)),
        )
        .await?;
        Ok(NewSession {
            secret,
            max_age_secs: SESSION_HOURS * 3600,
        })
    }

    /// The live session a cookie's secret names.
    pub async fn console_session(&self, secret: &str) -> Result<ConsoleSession, EngineError> {
        let key = hash_token(secret);
        let row = self
            .store
            .read()
            .await?
            .console_session(&key, &self.now())
            .await?
            .ok_or_else(signed_out)?;
        let role = match row.role.as_str() {
            "admin" => Role::Admin,
            "auditor" => Role::Auditor,
            _ => return Err(signed_out()),
        };
        Ok(ConsoleSession {
            principal: AdminPrincipal {
                account_id: row.account.id,
                account: row.account.slug,
                subject: format!("console:{}", row.subject),
                role,
                schemas_version: row.account.schemas_version,
            },
            csrf: row.csrf,
            key,
        })
    }

    /// Ends a session on the server: its cookie no longer signs in, on any replica.
    pub async fn console_sign_out(&self, session: &ConsoleSession) -> Result<(), EngineError> {
        let mut tx = self.store.write().await?;
        tx.end_console_session(&session.key, &self.now()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keeps a CSV for the session until it confirms the import; returns its id.
    pub async fn console_keep_upload(
        &self,
        session: &ConsoleSession,
        name: &str,
        body: &str,
    ) -> Result<String, EngineError> {
        super::authz::require_write(&session.principal)?;
        if body.len() > MAX_UPLOAD {
            return Err(EngineError::refused(
                ErrorCode::TooLarge,
                format!("the file is larger than {} MiB", MAX_UPLOAD / 1024 / 1024),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.store.write().await?;
        tx.insert_console_upload(
            &id,
            session.principal.account_id,
            &session.key,
            name,
            body,
            &self.now(),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A kept upload of this session: its file name and text.
    pub async fn console_upload(
        &self,
        session: &ConsoleSession,
        id: &str,
    ) -> Result<(String, String), EngineError> {
        let since =
            crate::scim::query::timestamp(self.clock.now() - Duration::minutes(UPLOAD_MINUTES));
        let row = self
            .store
            .read()
            .await?
            .console_upload(session.principal.account_id, &session.key, id, &since)
            .await?
            .ok_or_else(|| {
                EngineError::not_found(
                    "the upload is gone (kept for an hour): upload the file again",
                )
            })?;
        Ok((row.name, row.body))
    }

    /// Forgets an upload once its import is applied.
    pub async fn console_forget_upload(&self, id: &str) -> Result<(), EngineError> {
        let mut tx = self.store.write().await?;
        tx.delete_console_upload(id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Drops expired links and sessions (kept a day for the record) and stale uploads; run
    /// by the hourly pruner.
    pub async fn prune_console(&self) -> Result<u64, EngineError> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let n = tx
            .prune_console(
                &crate::scim::query::timestamp(now - Duration::days(1)),
                &crate::scim::query::timestamp(now - Duration::minutes(UPLOAD_MINUTES)),
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// One product on the overview: today's counts and the days recorded in the last 30.
#[derive(Debug, Clone)]
pub struct ProductOverview {
    pub product: String,
    pub capacity: i64,
    pub assigned: i64,
    pub waitlisted: i64,
    /// (day, capacity, assigned, waitlisted), oldest first, today last (live counts).
    pub days: Vec<(String, i64, i64, i64)>,
}

/// One connection on the overview.
#[derive(Debug, Clone)]
pub struct ConnectionOverview {
    pub name: String,
    pub status: String,
    /// The last request's time, outcome and HTTP status, if it made any.
    pub last: Option<(String, String, i64)>,
    /// Requests and failures in the last 7 days.
    pub requests: i64,
    pub failures: i64,
}

/// What the console's overview shows.
#[derive(Debug, Clone)]
pub struct Overview {
    pub products: Vec<ProductOverview>,
    pub open_conflicts: usize,
    pub connections: Vec<ConnectionOverview>,
}

impl Engine {
    /// Writes today's counts of every product (hourly, from the pruner).
    pub async fn snapshot_seats(&self) -> Result<u64, EngineError> {
        let day = self.clock.now().format("%Y-%m-%d").to_string();
        let mut tx = self.store.write().await?;
        let n = tx.snapshot_seats(&day).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The overview page: products with 30 days of counts, open conflicts, connections.
    pub async fn overview(&self, ap: &AdminPrincipal) -> Result<Overview, EngineError> {
        let now = self.clock.now();
        let today = now.format("%Y-%m-%d").to_string();
        let since_day = (now - Duration::days(29)).format("%Y-%m-%d").to_string();
        let pools = self.products(ap).await?.products;
        let daily = self
            .store
            .read()
            .await?
            .seat_daily(ap.account_id, &since_day)
            .await?;
        let products = pools
            .into_iter()
            .map(|p| {
                let mut days: Vec<(String, i64, i64, i64)> = daily
                    .iter()
                    .filter(|d| d.product == p.product && d.day != today)
                    .map(|d| (d.day.clone(), d.capacity, d.assigned, d.waitlisted))
                    .collect();
                days.push((today.clone(), p.capacity, p.assigned, p.waitlisted));
                ProductOverview {
                    product: p.product,
                    capacity: p.capacity,
                    assigned: p.assigned,
                    waitlisted: p.waitlisted,
                    days,
                }
            })
            .collect();
        let open_conflicts = self.conflicts(ap, Some("open")).await?.conflicts.len();
        let since = crate::scim::query::timestamp(now - Duration::days(7));
        let mut conn = self.store.read().await?;
        let activity = conn.connection_activity(ap.account_id, &since).await?;
        let mut connections = vec![];
        for c in self.connections(ap).await?.connections {
            // A connection with several credentials is live while one of them is.
            if let Some(seen) = connections
                .iter_mut()
                .find(|o: &&mut ConnectionOverview| o.name == c.name)
            {
                if c.status == "live" {
                    seen.status = "live".into();
                }
                continue;
            }
            let actor = format!("connection:{}", c.name);
            let a = activity.iter().find(|a| a.actor == actor);
            let last = match a {
                Some(a) => conn
                    .last_outcome(ap.account_id, &actor)
                    .await?
                    .map(|(status, http)| (a.last_at.clone(), status, http)),
                None => None,
            };
            connections.push(ConnectionOverview {
                name: c.name,
                status: c.status.into(),
                last,
                requests: a.map_or(0, |a| a.requests),
                failures: a.map_or(0, |a| a.failures),
            });
        }
        Ok(Overview {
            products,
            open_conflicts,
            connections,
        })
    }
}
