//! Per-connection admission on this replica: the network allow-list, the token bucket of the
//! rate limit, and the tally of throttled requests the sync log gets at most once a minute.
//! Buckets live in this process's memory, keyed by account id and connection name: each
//! replica limits on its own, and one connection's bucket never drains another's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use validator::Validate;

use crate::auth::jwt::AdminPrincipal;
use crate::auth::Principal;
use crate::scim::ScimError;
use crate::store::accounts::ConnectionSettings;

use super::authz::require_write;
use super::error::{EngineError, ErrorCode};
use super::synclog::{Change, Ctx, Draft};
use super::Engine;

/// Requests per second per connection unless `serve --rate-limit` or the connection says
/// otherwise. Entra's app gallery requires an app to take at least 25 requests per second per
/// tenant; 50 (burst 100) is twice that, so an identity provider's sync is never the one
/// slowed, while one tenant's initial sync still cannot take every worker.
pub const DEFAULT_RATE_LIMIT: u32 = 50;

/// Largest per-connection rate an admin may set.
pub const MAX_RATE_LIMIT: u32 = 100_000;

/// Most CIDRs one connection's allow-list holds.
pub const MAX_NETWORKS: usize = 100;

/// How long settings read outside authentication stay cached (authentication refreshes them
/// on every request, so this only bounds other paths).
const SETTINGS_TTL: Duration = Duration::from_secs(5);

/// A burst's throttled requests are gathered this long into one entry.
const GATHER: Duration = Duration::from_secs(1);

/// At most one throttle entry per connection in this period.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// A connection's limits, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// None: the server's default.
    pub rate_limit_per_second: Option<u32>,
    /// Empty: any network.
    pub allowed_networks: Vec<IpNet>,
}

impl Policy {
    fn of(stored: &ConnectionSettings) -> Result<Policy, String> {
        let texts: Vec<String> = serde_json::from_str(&stored.allowed_networks)
            .map_err(|e| format!("stored allowed_networks is not a JSON list: {e}"))?;
        let allowed_networks = texts
            .iter()
            .map(|t| parse_network(t).ok_or_else(|| format!("stored network '{t}' is not a CIDR")))
            .collect::<Result<Vec<_>, _>>()?;
        let rate_limit_per_second = match stored.rate_limit_per_second {
            None => None,
            Some(n) => Some(u32::try_from(n).map_err(|_| format!("stored rate limit {n}"))?),
        };
        Ok(Policy {
            rate_limit_per_second,
            allowed_networks,
        })
    }
}

/// A CIDR (`10.0.0.0/8`, `2001:db8::/32`) or a single address (a /32 or /128), with the host
/// bits cleared. None when it is neither.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let t = text.trim();
    if let Ok(net) = t.parse::<IpNet>() {
        return Some(net.trunc());
    }
    t.parse::<IpAddr>().ok().map(IpNet::from)
}

type Key = (i64, String);

/// A token bucket: `rate` tokens a second, up to `2 * rate`, full at first.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: 2.0 * f64::from(rate),
            at: now,
        }
    }

    /// Takes a token, or says in how many whole seconds one will be there (at least 1).
    fn take(&mut self, rate: u32, now: Instant) -> Result<(), u64> {
        let rate = f64::from(rate.max(1));
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(2.0 * rate);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - self.tokens) / rate).ceil();
            // At most a second at the lowest rate; the cast cannot overflow.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Err((wait as u64).max(1))
        }
    }
}

/// Throttled requests not yet in the sync log.
#[derive(Debug, Default)]
struct Tally {
    count: u64,
    /// The first throttled request since the last entry (the entry names it).
    first: Option<Ctx>,
    scheduled: bool,
    last_logged: Option<Instant>,
}

/// The in-memory state of this replica.
pub struct Limits {
    /// The default rate and the proxies whose `X-Forwarded-For` is believed.
    config: RwLock<(u32, Vec<IpNet>)>,
    policies: Mutex<HashMap<Key, (Policy, Instant)>>,
    buckets: Mutex<HashMap<Key, Bucket>>,
    tallies: Mutex<HashMap<Key, Tally>>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            config: RwLock::new((DEFAULT_RATE_LIMIT, vec![])),
            policies: Mutex::default(),
            buckets: Mutex::default(),
            tallies: Mutex::default(),
        }
    }
}

/// A lock even when another thread panicked holding it: the maps stay usable (a lost token
/// or count is harmless).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Limits {
    fn default_rate(&self) -> u32 {
        self.config.read().unwrap_or_else(PoisonError::into_inner).0
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .iter()
            .any(|n| n.contains(&ip))
    }
}

/// `PATCH /admin/v1/connections/{name}`: each field present changes; absent ones stay.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ConnectionPatch {
    /// Requests per second (burst twice that); `null` goes back to the server's default.
    #[serde(default, deserialize_with = "present")]
    #[validate(range(
        min = 1,
        max = 100_000,
        message = "rate_limit_per_second is a whole number from 1 to 100000, or null for the server's default"
    ))]
    pub rate_limit_per_second: Option<Option<u32>>,
    /// CIDRs requests may come from; empty: anywhere.
    #[validate(length(max = 100, message = "allowed_networks holds at most 100 networks"))]
    pub allowed_networks: Option<Vec<String>>,
    /// Seconds an OAuth access token of the connection lives, 300 to 21600; `null` goes back
    /// to one hour.
    #[serde(default, deserialize_with = "present_i64")]
    #[validate(range(
        min = 300,
        max = 21600,
        message = "token_ttl_seconds is a whole number of seconds from 300 to 21600, or null for 3600"
    ))]
    pub token_ttl_seconds: Option<Option<i64>>,
}

impl super::input::Input for ConnectionPatch {
    const FIELDS: &'static [&'static str] = &[
        "rate_limit_per_second",
        "allowed_networks",
        "token_ttl_seconds",
    ];
}

fn present_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// A field sent as `null` is `Some(None)`; one not sent stays `None` (serde's default).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

/// A connection's limits as the admin API shows them.
#[derive(Debug, Clone, Serialize)]
pub struct LimitsView {
    pub name: String,
    pub rate_limit_per_second: u32,
    /// `connection` (its own) or `default` (the server's).
    pub rate_limit_source: &'static str,
    pub allowed_networks: Vec<String>,
}

impl Engine {
    /// Sets the server's default rate and the trusted proxies (`serve` flags).
    pub fn set_limits(&self, default_rate: u32, trusted_proxies: Vec<IpNet>) {
        *self
            .limits
            .config
            .write()
            .unwrap_or_else(PoisonError::into_inner) = (default_rate.max(1), trusted_proxies);
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy; then the
    /// `X-Forwarded-For` hops (oldest first; None for a hop that is no address) are read from
    /// the right, past trusted proxies, to the first address that is not one.
    pub fn client_address(&self, peer: IpAddr, forwarded_for: &[Option<IpAddr>]) -> IpAddr {
        let mut client = peer;
        for hop in forwarded_for.iter().rev() {
            if !self.limits.trusted(client) {
                break;
            }
            match hop {
                Some(ip) => client = *ip,
                None => break,
            }
        }
        client
    }

    /// Caches a connection's settings as authentication read them.
    pub(crate) fn remember_settings(
        &self,
        account: i64,
        name: &str,
        stored: &ConnectionSettings,
    ) -> Result<(), ScimError> {
        let policy = Policy::of(stored).map_err(ScimError::internal)?;
        lock(&self.limits.policies).insert((account, name.to_string()), (policy, Instant::now()));
        Ok(())
    }

    async fn policy(&self, key: &Key) -> Result<Policy, ScimError> {
        if let Some((p, at)) = lock(&self.limits.policies).get(key) {
            if at.elapsed() < SETTINGS_TTL {
                return Ok(p.clone());
            }
        }
        let stored = self
            .store
            .read()
            .await?
            .connection_settings(key.0, &key.1)
            .await?;
        self.remember_settings(key.0, &key.1, &stored)?;
        Policy::of(&stored).map_err(ScimError::internal)
    }

    /// Whether a request of this connection from this address may go on: its allow-list,
    /// then its rate limit. A refusal is a 403 with a sync-log entry, or a 429 counted for
    /// the connection's next throttle entry.
    pub async fn admit(&self, p: &Principal, client: IpAddr, ctx: &Ctx) -> Result<(), ScimError> {
        let key = (p.account_id, p.connection.clone());
        let policy = self.policy(&key).await?;
        if !policy.allowed_networks.is_empty()
            && !policy.allowed_networks.iter().any(|n| n.contains(&client))
        {
            let e = ScimError::Forbidden {
                detail: format!(
                    "connection '{}' may not be used from {client}: the address is outside its allowed networks",
                    p.connection
                ),
            };
            let mut draft = Draft::new(None, "refuse", Some(&p.connection));
            draft.resource_type = Some("Connection");
            draft.step(format!(
                "{client} is in none of the allowed networks ({})",
                networks_text(&policy.allowed_networks).join(", ")
            ));
            self.log_read(p.account_id, ctx, &draft, 403, Some(&e));
            return Err(e);
        }
        let rate = policy
            .rate_limit_per_second
            .unwrap_or_else(|| self.limits.default_rate());
        let now = Instant::now();
        let taken = {
            let mut buckets = lock(&self.limits.buckets);
            let bucket = buckets
                .entry(key.clone())
                .or_insert_with(|| Bucket::full(rate, now));
            bucket.take(rate, now)
        };
        match taken {
            Ok(()) => Ok(()),
            Err(retry_after_secs) => {
                self.note_throttled(key, ctx, rate);
                Err(ScimError::TooManyRequests {
                    detail: format!(
                        "connection '{}' is over its rate limit of {rate} requests per second; retry after {retry_after_secs} s",
                        p.connection
                    ),
                    retry_after_secs,
                })
            }
        }
    }

    /// Counts a throttled request; the first one since the last entry schedules the next
    /// entry: after [`GATHER`], and no sooner than [`LOG_EVERY`] after the last one.
    fn note_throttled(&self, key: Key, ctx: &Ctx, rate: u32) {
        let delay = {
            let mut tallies = lock(&self.limits.tallies);
            let tally = tallies.entry(key.clone()).or_default();
            tally.count += 1;
            if tally.first.is_none() {
                tally.first = Some(ctx.clone());
            }
            if tally.scheduled {
                return;
            }
            tally.scheduled = true;
            match tally.last_logged {
                Some(t) => (t + LOG_EVERY)
                    .saturating_duration_since(Instant::now())
                    .max(GATHER),
                None => GATHER,
            }
        };
        let engine = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            engine.log_throttled(key, rate).await;
        });
    }

    /// Writes the connection's throttle entry and adds its count to the day's.
    async fn log_throttled(&self, key: Key, rate: u32) {
        let (count, first) = {
            let mut tallies = lock(&self.limits.tallies);
            let tally = tallies.entry(key.clone()).or_default();
            tally.scheduled = false;
            tally.last_logged = Some(Instant::now());
            (std::mem::take(&mut tally.count), tally.first.take())
        };
        let Some(ctx) = first else { return };
        if count == 0 {
            return;
        }
        let (account, name) = key;
        let mut draft = Draft::new(None, "throttle", Some(&name));
        draft.resource_type = Some("Connection");
        draft.changes = vec![Change {
            attribute: "throttled_requests".into(),
            old: None,
            new: Some(serde_json::Value::from(count)),
        }];
        draft.step(format!(
            "{count} request(s) over the rate limit of {rate}/s (burst {}) answered 429 since the last entry",
            u64::from(rate) * 2
        ));
        let e = ScimError::TooManyRequests {
            detail: format!("{count} request(s) over the rate limit of {rate} requests per second"),
            retry_after_secs: 1,
        };
        let at = self.now();
        let day = at.get(..10).unwrap_or(&at).to_string();
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let written = async {
            let mut tx = self.store.write().await?;
            tx.add_throttled(account, &name, &day, count).await?;
            self.log_throttle_in(&mut tx, account, &ctx, &draft, &e)
                .await?;
            tx.commit().await?;
            Ok::<(), ScimError>(())
        }
        .await;
        if let Err(err) = written {
            tracing::error!(error = %err, connection = %name, "could not log throttled requests");
        }
    }

    /// Changes a connection's rate limit or allowed networks; effective on this replica at
    /// once and on the others with their next request's authentication.
    pub async fn patch_connection(
        &self,
        ap: &AdminPrincipal,
        name: &str,
        input: &ConnectionPatch,
        ctx: &Ctx,
    ) -> Result<LimitsView, EngineError> {
        require_write(ap)?;
        let networks = match &input.allowed_networks {
            None => None,
            Some(list) => {
                let mut nets = Vec::with_capacity(list.len());
                for text in list {
                    let net = parse_network(text).ok_or_else(|| {
                        EngineError::invalid(
                            ErrorCode::InvalidValue,
                            "allowed_networks",
                            format!(
                                "allowed_networks: '{}' is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32",
                                super::synclog::clipped(text)
                            ),
                        )
                    })?;
                    if !nets.contains(&net) {
                        nets.push(net);
                    }
                }
                Some(nets)
            }
        };
        let mut tx = self.store.write().await?;
        let oauth = tx.client_id_of(ap.account_id, name).await?.is_some()
            || tx.trusts_jwts(ap.account_id, name).await?;
        if !oauth
            && !tx
                .list_tokens(ap.account_id)
                .await?
                .iter()
                .any(|t| t.name == name)
        {
            return Err(EngineError::not_found(format!(
                "no connection '{name}' in account '{}'",
                ap.account
            )));
        }
        let old = tx.connection_settings(ap.account_id, name).await?;
        let old_policy = Policy::of(&old).map_err(EngineError::internal)?;
        let mut new = old.clone();
        let mut changes = vec![];
        if let Some(rate) = input.rate_limit_per_second {
            new.rate_limit_per_second = rate.map(i64::from);
            if new.rate_limit_per_second != old.rate_limit_per_second {
                changes.push(Change {
                    attribute: "rate_limit_per_second".into(),
                    old: old.rate_limit_per_second.map(serde_json::Value::from),
                    new: new.rate_limit_per_second.map(serde_json::Value::from),
                });
            }
        }
        if let Some(nets) = &networks {
            let texts = networks_text(nets);
            new.allowed_networks = serde_json::Value::from(texts.clone()).to_string();
            if *nets != old_policy.allowed_networks {
                changes.push(Change {
                    attribute: "allowed_networks".into(),
                    old: Some(networks_text(&old_policy.allowed_networks).into()),
                    new: Some(texts.into()),
                });
            }
        }
        tx.put_connection_settings(ap.account_id, name, &new, &self.now())
            .await?;
        if let Some(ttl) = input.token_ttl_seconds {
            tx.set_token_ttl(ap.account_id, name, ttl, &self.now())
                .await?;
            changes.push(Change {
                attribute: "token_ttl_seconds".into(),
                old: None,
                new: Some(serde_json::Value::from(
                    ttl.unwrap_or(super::oauth::DEFAULT_TOKEN_TTL),
                )),
            });
        }
        let mut draft = Draft::new(None, "update", Some(name));
        draft.resource_type = Some("Connection");
        draft.changes = changes;
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
            .await?;
        tx.commit().await?;
        lock(&self.limits.policies).remove(&(ap.account_id, name.to_string()));
        let policy = Policy::of(&new).map_err(EngineError::internal)?;
        Ok(self.limits_view(name, &policy))
    }

    pub(crate) fn limits_view(&self, name: &str, policy: &Policy) -> LimitsView {
        LimitsView {
            name: name.to_string(),
            rate_limit_per_second: policy
                .rate_limit_per_second
                .unwrap_or_else(|| self.limits.default_rate()),
            rate_limit_source: if policy.rate_limit_per_second.is_some() {
                "connection"
            } else {
                "default"
            },
            allowed_networks: networks_text(&policy.allowed_networks),
        }
    }

    /// Every connection's limits, by name (the defaults for one never changed).
    pub(crate) async fn limits_by_name(
        &self,
        account: i64,
    ) -> Result<HashMap<String, Policy>, EngineError> {
        let stored = self
            .store
            .read()
            .await?
            .list_connection_settings(account)
            .await?;
        stored
            .into_iter()
            .map(|(name, s)| Ok((name, Policy::of(&s).map_err(EngineError::internal)?)))
            .collect()
    }
}

fn networks_text(nets: &[IpNet]) -> Vec<String> {
    nets.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_normalise() {
        assert_eq!(
            parse_network("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network(" 127.0.0.1 ").unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!(
            parse_network("2001:db8::1/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse_network("::1").unwrap().to_string(), "::1/128");
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0",
            "fe80::/129",
            "example.com",
            "10.0.0.0/",
        ] {
            assert!(parse_network(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bucket_bursts_twice_the_rate_then_refills() {
        let t0 = Instant::now();
        let mut b = Bucket::full(2, t0);
        for _ in 0..4 {
            assert!(b.take(2, t0).is_ok());
        }
        assert_eq!(b.take(2, t0), Err(1));
        assert!(b.take(2, t0 + Duration::from_millis(500)).is_ok());
        assert!(b.take(2, t0 + Duration::from_millis(500)).is_err());
    }
}
