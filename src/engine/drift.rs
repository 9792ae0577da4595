//! Drift: what no identity provider manages any more. Every user and group records when an
//! identity provider last created, changed or read it by id (`last_seen_by_idp`); the drift
//! report lists seat holders none has touched in N days, suspended users still holding an
//! admin's seats, groups no rule uses, and connections silent for longer than two of their
//! usual sync intervals.
//!
//! A connection's usual interval comes from its sync log: its entries fall into sync cycles
//! (requests with no pause longer than [`CYCLE_GAP`] between them), and the usual interval is
//! the median time from one cycle's start to the next's, over the [`HISTORY`] before its last
//! request (so a connection silent for weeks keeps the interval it had while it worked, as
//! far as `sync_log_retention_days` keeps its entries). Cycles rather than requests: the
//! requests of one cycle come seconds apart, and their gaps would make every pause between
//! cycles look like silence. With fewer than [`MIN_INTERVALS`] intervals there is no usual
//! interval yet, and the report's `days` decides instead, as it does for users.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{json, Value};

use crate::auth::jwt::AdminPrincipal;
use crate::scim::query::timestamp;
use crate::scim::ResourceKind;
use crate::store::drift::DriftSeat;
use crate::store::{StoreError, WriteTx};

use super::error::{EngineError, ErrorCode};
use super::reports::Table;
use super::synclog::Ctx;
use super::users::UserView;
use super::Engine;

/// A GET by id marks its resource at most this often (a read must not become a write per
/// request).
pub const READ_MARK_EVERY: Duration = Duration::hours(1);
/// The longest pause between two requests of one sync cycle.
pub const CYCLE_GAP: Duration = Duration::minutes(10);
/// How much of a connection's log, before its last request, its usual interval is read from.
pub const HISTORY: Duration = Duration::days(30);
/// Intervals between cycles needed before one is called usual.
pub const MIN_INTERVALS: usize = 3;
/// The report's `days` when none is given, and its bounds.
pub const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 3650;

/// An identity provider's read of one resource by id, marked by the batched writer of reads'
/// log entries unless the resource was marked at `before` or later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub kind: ResourceKind,
    pub id: String,
    pub at: String,
    pub before: String,
}

/// Whether the request comes from an identity provider: a connection, not an admin acting
/// through the SCIM code (`admin:...`), the CLI or a policy.
pub(crate) fn by_idp(ctx: &Ctx) -> bool {
    ctx.actor.starts_with("connection:")
}

/// The report's `days`: 1 to 3650, 30 when absent.
fn days_of(days: Option<&str>) -> Result<i64, EngineError> {
    match days.map(str::trim) {
        None | Some("") => Ok(DEFAULT_DAYS),
        Some(d) => match d.parse::<i64>() {
            Ok(n) if (1..=MAX_DAYS).contains(&n) => Ok(n),
            _ => Err(EngineError::invalid(
                ErrorCode::InvalidValue,
                "days",
                format!("days must be a whole number from 1 to {MAX_DAYS}"),
            )),
        },
    }
}

/// A stored time (RFC 3339) or a minute of one (`YYYY-MM-DDTHH:MM`).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .ok()
        .map(|t| t.and_utc())
}

/// The usual time between sync cycles, from the minutes a connection was active (in order),
/// and how many intervals it was read from; `None` with fewer than [`MIN_INTERVALS`].
pub fn usual_interval(minutes: &[DateTime<Utc>]) -> Option<(Duration, usize)> {
    let mut starts: Vec<DateTime<Utc>> = vec![];
    let mut previous: Option<DateTime<Utc>> = None;
    for &m in minutes {
        if previous.is_none_or(|p| m - p > CYCLE_GAP) {
            starts.push(m);
        }
        previous = Some(m);
    }
    let mut gaps: Vec<Duration> = starts
        .iter()
        .zip(starts.iter().skip(1))
        .map(|(a, b)| *b - *a)
        .collect();
    if gaps.len() < MIN_INTERVALS {
        return None;
    }
    gaps.sort();
    let mid = gaps.len() / 2;
    let upper = *gaps.get(mid)?;
    let median = if gaps.len() % 2 == 1 {
        upper
    } else {
        (*gaps.get(mid - 1)? + upper) / 2
    };
    Some((median, gaps.len()))
}

/// A length of time in the largest whole unit that says it: days, hours or minutes.
fn span(d: Duration) -> String {
    let (n, unit) = if d >= Duration::days(2) {
        (d.num_days(), "day")
    } else if d >= Duration::hours(2) {
        (d.num_hours(), "hour")
    } else {
        (d.num_minutes().max(0), "minute")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Whether a filter rule's filter may name the group: it speaks of `groups` and holds the
/// group's id or name. A guess that errs towards "used", so that the report never calls a
/// group unused while a rule depends on it.
fn filter_mentions(filter: &str, id: &str, name: &str) -> bool {
    let f = filter.to_lowercase();
    f.contains("groups") && (f.contains(&id.to_lowercase()) || f.contains(&name.to_lowercase()))
}

/// A user's seats, as one list: `meeting, webinar (waitlisted)`.
fn products_of(seats: &[&DriftSeat]) -> String {
    seats
        .iter()
        .map(|s| {
            if s.state == "assigned" {
                s.product.clone()
            } else {
                format!("{} ({})", s.product, s.state)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seat rows grouped by user, in the order read.
fn by_user(seats: &[DriftSeat]) -> Vec<Vec<&DriftSeat>> {
    let mut out: Vec<Vec<&DriftSeat>> = vec![];
    for s in seats {
        match out.last_mut() {
            Some(group) if group.first().is_some_and(|f| f.user_id == s.user_id) => group.push(s),
            _ => out.push(vec![s]),
        }
    }
    out
}

pub const COLUMNS: [&str; 8] = [
    "kind",
    "id",
    "name",
    "last_seen",
    "products",
    "members",
    "usual_interval_minutes",
    "detail",
];

impl Engine {
    /// Marks a resource as touched by the identity provider in a write's transaction (a
    /// create, replace or patch by a connection; never by an admin).
    pub(crate) async fn mark_written_by_idp(
        &self,
        tx: &mut WriteTx,
        account: i64,
        ctx: &Ctx,
        kind: ResourceKind,
        id: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        if by_idp(ctx) {
            tx.mark_seen_by_idp(account, kind, id, now, now, false)
                .await?;
        }
        Ok(())
    }

    /// A connection's GET of one resource, for the batched writer to mark at most once per
    /// [`READ_MARK_EVERY`]; none for anyone else.
    pub(crate) fn read_by_idp(&self, ctx: &Ctx, kind: ResourceKind, id: &str) -> Option<Seen> {
        if !by_idp(ctx) {
            return None;
        }
        let now = self.clock.now();
        Some(Seen {
            kind,
            id: id.to_string(),
            at: timestamp(now),
            before: timestamp(now - READ_MARK_EVERY),
        })
    }

    /// Fills in `last_seen_by_idp` of users an admin view shows.
    pub(crate) async fn with_last_seen(
        &self,
        account: i64,
        users: &mut [UserView],
    ) -> Result<(), EngineError> {
        if users.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
        let mut seen = self
            .store
            .read()
            .await?
            .seen_by_idp(account, ResourceKind::User, &ids)
            .await?;
        for u in users {
            u.last_seen_by_idp = seen.remove(&u.id);
        }
        Ok(())
    }

    /// `GET /admin/v1/reports/drift?days=N`: one row per finding, its `kind` first.
    pub async fn drift(
        &self,
        ap: &AdminPrincipal,
        days: Option<&str>,
    ) -> Result<Table, EngineError> {
        let days = days_of(days)?;
        let now = self.clock.now();
        let limit = Duration::days(days);
        let before = timestamp(now - limit);
        let account = ap.account_id;
        let mut rows: Vec<Vec<Value>> = vec![];
        let (unseen, suspended, groups, rules) = {
            let mut conn = self.store.read().await?;
            (
                conn.seats_unseen_since(account, &before).await?,
                conn.suspended_manual_seats(account).await?,
                conn.groups_without_group_rules(account).await?,
                conn.list_rules(account).await?,
            )
        };

        for seats in by_user(&unseen) {
            let Some(first) = seats.first() else { continue };
            let since = match first.last_seen_by_idp.as_deref().and_then(parse_time) {
                Some(t) => format!(
                    "for {} (more than the report's {days} days)",
                    span(now - t)
                ),
                None => "ever: an admin added it, or the identity provider stopped sending it before Roster kept track".into(),
            };
            let status = if first.active { "" } else { " (suspended)" };
            rows.push(vec![
                json!("unmanaged_seats"),
                json!(first.user_id),
                json!(first.user_name),
                json!(first.last_seen_by_idp),
                json!(products_of(&seats)),
                Value::Null,
                Value::Null,
                json!(format!(
                    "holds {}{status}; no identity provider has created, changed or read this user {since}",
                    products_of(&seats)
                )),
            ]);
        }

        for seats in by_user(&suspended) {
            let Some(first) = seats.first() else { continue };
            rows.push(vec![
                json!("suspended_manual_seats"),
                json!(first.user_id),
                json!(first.user_name),
                json!(first.last_seen_by_idp),
                json!(products_of(&seats)),
                Value::Null,
                Value::Null,
                json!(format!(
                    "suspended, yet holds seats an admin gave ({}): reactivate the user, transfer the seats, or delete the user to free them",
                    products_of(&seats)
                )),
            ]);
        }

        let filters: Vec<&str> = rules.iter().filter_map(|r| r.filter.as_deref()).collect();
        for g in &groups {
            if filters
                .iter()
                .any(|f| filter_mentions(f, &g.id, &g.display_name))
            {
                continue;
            }
            rows.push(vec![
                json!("unused_group"),
                json!(g.id),
                json!(g.display_name),
                json!(g.last_seen_by_idp),
                Value::Null,
                json!(g.members),
                Value::Null,
                json!(format!(
                    "no rule uses this group ({} member{}): add a rule for it, or stop pushing it",
                    g.members,
                    if g.members == 1 { "" } else { "s" }
                )),
            ]);
        }

        rows.extend(self.silent_connections(ap, now, days).await?);
        Ok(Table {
            name: "drift",
            columns: COLUMNS.to_vec(),
            rows,
        })
    }

    /// The live connections silent for longer than two of their usual intervals (or, with
    /// too little history to know one, than the report's days), by name.
    async fn silent_connections(
        &self,
        ap: &AdminPrincipal,
        now: DateTime<Utc>,
        days: i64,
    ) -> Result<Vec<Vec<Value>>, EngineError> {
        // name -> (live, first credential made, last activity)
        let mut named: BTreeMap<String, (bool, String, Option<String>)> = BTreeMap::new();
        for c in self.connections(ap).await?.connections {
            let e = named
                .entry(c.name.clone())
                .or_insert_with(|| (false, c.created.clone(), c.last_activity.clone()));
            e.0 |= c.status == "live";
            if c.created < e.1 {
                e.1 = c.created.clone();
            }
        }
        let limit = Duration::days(days);
        let mut rows = vec![];
        let mut conn = self.store.read().await?;
        for (name, (live, created, last)) in named {
            if !live {
                continue;
            }
            let last_at = last.as_deref().and_then(parse_time);
            let (silent, usual, detail) = match last_at {
                None => {
                    let made = parse_time(&created).unwrap_or(now);
                    (
                        now - made > limit,
                        None,
                        format!(
                            "has made no request since it was made {} ago (more than the report's {days} days)",
                            span(now - made)
                        ),
                    )
                }
                Some(t) => {
                    let minutes: Vec<DateTime<Utc>> = conn
                        .active_minutes(
                            ap.account_id,
                            &format!("connection:{name}"),
                            &timestamp(t - HISTORY),
                            &timestamp(t),
                        )
                        .await?
                        .iter()
                        .filter_map(|m| parse_time(m))
                        .collect();
                    let quiet = now - t;
                    match usual_interval(&minutes) {
                        Some((usual, n)) => (
                            quiet > usual * 2,
                            Some(usual),
                            format!(
                                "no request for {}; it usually syncs every {} (the median of {n} intervals between its sync cycles in the {} days before its last request)",
                                span(quiet),
                                span(usual),
                                HISTORY.num_days()
                            ),
                        ),
                        None => (
                            quiet > limit,
                            None,
                            format!(
                                "no request for {} (more than the report's {days} days); too few sync cycles in its log to know its usual interval",
                                span(quiet)
                            ),
                        ),
                    }
                }
            };
            if silent {
                rows.push(vec![
                    json!("silent_connection"),
                    json!(name),
                    json!(name),
                    json!(last),
                    Value::Null,
                    Value::Null,
                    usual.map_or(Value::Null, |u| json!(u.num_minutes())),
                    json!(detail),
                ]);
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes)
    }

    #[test]
    fn the_usual_interval_is_the_median_between_cycle_starts() {
        // Cycles every 40 minutes, each a few busy minutes long; one late cycle.
        let mut minutes = vec![];
        for start in [0, 40, 80, 120, 200] {
            minutes.extend([at(start), at(start + 1), at(start + 3)]);
        }
        assert_eq!(
            usual_interval(&minutes),
            Some((Duration::minutes(40), 4)),
            "the pause inside a cycle is no interval, and one late cycle moves no median"
        );
    }

    #[test]
    fn too_little_history_has_no_usual_interval() {
        assert_eq!(usual_interval(&[]), None);
        assert_eq!(usual_interval(&[at(0)]), None);
        assert_eq!(usual_interval(&[at(0), at(60), at(120)]), None);
        // One long cycle (no pause over ten minutes) is one cycle.
        let busy: Vec<_> = (0..500).map(|m| at(m * 5)).collect();
        assert_eq!(usual_interval(&busy), None);
        assert_eq!(
            usual_interval(&[at(0), at(60), at(120), at(180)]),
            Some((Duration::hours(1), 3))
        );
    }

    #[test]
    fn an_even_count_takes_the_middle_two() {
        let m = [at(0), at(20), at(60), at(120), at(200)];
        // Intervals 20, 40, 60, 80: the median is 50.
        assert_eq!(usual_interval(&m), Some((Duration::minutes(50), 4)));
    }

    #[test]
    fn days_are_bounded_and_default_to_thirty() {
        assert_eq!(days_of(None).ok(), Some(30));
        assert_eq!(days_of(Some("")).ok(), Some(30));
        assert_eq!(days_of(Some("7")).ok(), Some(7));
        assert_eq!(days_of(Some("3650")).ok(), Some(3650));
        for bad in ["0", "-1", "3651", "x", "1.5", "99999999999999999999"] {
            assert!(days_of(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn spans_read_in_whole_units() {
        assert_eq!(span(Duration::minutes(1)), "1 minute");
        assert_eq!(span(Duration::minutes(90)), "90 minutes");
        assert_eq!(span(Duration::hours(5)), "5 hours");
        assert_eq!(span(Duration::days(45)), "45 days");
    }

    #[test]
    fn a_filter_rule_naming_a_group_uses_it() {
        assert!(filter_mentions(
            "groups.display eq \"Sales\"",
            "g1",
            "sales"
        ));
        assert!(filter_mentions("groups.value eq \"G1\"", "g1", "Sales"));
        assert!(!filter_mentions("userName eq \"sales\"", "g1", "Sales"));
        assert!(!filter_mentions(
            "groups.display eq \"Support\"",
            "g1",
            "Sales"
        ));
    }
}
