//! Seat forecasts: `?dry_run=true` on the admin changes that move seats (licenses, rules,
//! settings). The change is made in its transaction exactly as it would be, its seat changes
//! are collected, and the transaction is rolled back: the forecast is what the change does at
//! that moment, and nothing is written (not even its sync-log entry).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::pools::Pool;
use crate::store::WriteTx;

use super::error::EngineError;
use super::seats::SeatChange;
use super::Engine;

/// Users listed per product and change; the counts beside the lists are the totals.
pub const USERS_LISTED: usize = 100;

/// Whether an admin change is made, or only forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    Real,
    Dry,
}

/// What a change would do to seats, per product.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    /// Always true: nothing was written.
    pub dry_run: bool,
    pub products: BTreeMap<String, ProductForecast>,
}

/// One product's part of a forecast: how many users would get a seat (`assigned`), lose one
/// (`freed`), wait for one (`waitlisted`) or stop waiting without one (`left_waitlist`),
/// the first of them by name, and the pool as the change would leave it.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct ProductForecast {
    pub assigned: usize,
    pub freed: usize,
    pub waitlisted: usize,
    pub left_waitlist: usize,
    /// Seats that would stay with their users, held for another reason (a rule's seat that
    /// a License entitlement now holds, say).
    #[serde(skip_serializing_if = "is_zero")]
    pub source_changed: usize,
    pub users: ForecastUsers,
    pub after: PoolAfter,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The users of each change, at most [`USERS_LISTED`] each, in the order the change moves
/// them.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct ForecastUsers {
    pub assigned: Vec<UserRef>,
    pub freed: Vec<UserRef>,
    pub waitlisted: Vec<UserRef>,
    pub left_waitlist: Vec<UserRef>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UserRef {
    pub user_id: String,
    pub user_name: String,
}

/// A pool after the change: licenses, seats assigned and waiting, the extra seats the
/// overage policy allows and the seats held over the licenses.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct PoolAfter {
    pub capacity: i64,
    pub assigned: i64,
    pub waitlisted: i64,
    pub overage_allowed: i64,
    pub overage: i64,
}

impl From<&Pool> for PoolAfter {
    fn from(p: &Pool) -> Self {
        PoolAfter {
            capacity: p.capacity,
            assigned: p.assigned,
            waitlisted: p.waitlisted,
            overage_allowed: p.allowance,
            overage: (p.assigned - p.capacity).max(0),
        }
    }
}

impl Engine {
    /// Ends an admin change that moves seats: a real one commits; a dry one reads the pools
    /// the change leaves (products users wait for without a pool too), then rolls back.
    pub(crate) async fn end_change(
        &self,
        mut tx: WriteTx,
        account: i64,
        run: Run,
    ) -> Result<Vec<Pool>, EngineError> {
        match run {
            Run::Real => {
                tx.commit().await?;
                Ok(vec![])
            }
            Run::Dry => {
                let mut pools = tx.list_pools(account).await?;
                for (product, waitlisted) in tx.waitlisted_without_pool(account).await? {
                    pools.push(Pool {
                        product,
                        capacity: 0,
                        assigned: 0,
                        waitlisted,
                        allowance: 0,
                        over_since: None,
                    });
                }
                // Dropped without a commit: rolled back.
                drop(tx);
                Ok(pools)
            }
        }
    }

    /// The forecast of a dry run: its seat changes by product, with the pools it left.
    /// `touched` products are listed even when no seat would move (a pool resized).
    pub(crate) async fn forecast(
        &self,
        account: i64,
        changes: &[SeatChange],
        pools: &[Pool],
        touched: &[&str],
    ) -> Result<Forecast, EngineError> {
        let mut ids: Vec<String> = changes.iter().map(|c| c.user_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let names = self.store.read().await?.user_names(account, &ids).await?;
        let mut products: BTreeMap<String, ProductForecast> = touched
            .iter()
            .map(|p| (p.to_string(), ProductForecast::default()))
            .collect();
        for c in changes {
            let f = products.entry(c.product.clone()).or_default();
            let (count, list) = match c.change {
                "assigned" => (&mut f.assigned, Some(&mut f.users.assigned)),
                "freed" => (&mut f.freed, Some(&mut f.users.freed)),
                "waitlisted" => (&mut f.waitlisted, Some(&mut f.users.waitlisted)),
                "left_waitlist" => (&mut f.left_waitlist, Some(&mut f.users.left_waitlist)),
                _ => (&mut f.source_changed, None),
            };
            *count += 1;
            if let Some(list) = list.filter(|l| l.len() < USERS_LISTED) {
                list.push(UserRef {
                    user_id: c.user_id.clone(),
                    user_name: names.get(&c.user_id).cloned().unwrap_or_default(),
                });
            }
        }
        for (product, f) in products.iter_mut() {
            if let Some(p) = pools.iter().find(|p| &p.product == product) {
                f.after = PoolAfter::from(p);
            }
        }
        Ok(Forecast {
            dry_run: true,
            products,
        })
    }
}
