//! Products and their license pools: how many seats were bought, how many are assigned and
//! how many people wait. Adding licenses serves the waitlist at once; shrinking a pool below
//! what is assigned is refused, except under the overage policy (the seats held over the new
//! ceiling stay, and none is given past it).

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::auth::jwt::AdminPrincipal;
use crate::store::pools::{Pool, Resize};

use super::authz::require_write;
use super::error::{EngineError, ErrorCode};
use super::forecast::{Forecast, Run};
use super::input::valid_product;
use super::resources::seat_summary;
use super::seats::SeatChange;
use super::settings::SeatPolicy;
use super::synclog::{Change, Ctx, Draft};
use super::Engine;

/// `PUT /admin/v1/products/{product}`.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct SetLicenses {
    #[validate(range(
        min = 0,
        max = 10_000_000,
        message = "seats must be a whole number from 0 to 10000000"
    ))]
    pub seats: i64,
}

impl super::input::Input for SetLicenses {
    const FIELDS: &'static [&'static str] = &["seats"];
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolView {
    pub product: String,
    pub capacity: i64,
    pub assigned: i64,
    pub waitlisted: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PoolList {
    pub products: Vec<PoolView>,
}

/// A pool after a change, and the seats the change moved.
#[derive(Debug, Clone, Serialize)]
pub struct PoolChanged {
    #[serde(flatten)]
    pub pool: PoolView,
    pub seat_changes: Vec<SeatChange>,
}

/// A user waiting for a seat of a product.
#[derive(Debug, Clone, Serialize)]
pub struct WaitingUser {
    pub user_id: String,
    pub user_name: String,
    pub since: String,
}

impl From<crate::store::pools::Waiting> for WaitingUser {
    fn from(w: crate::store::pools::Waiting) -> Self {
        WaitingUser {
            user_id: w.user_id,
            user_name: w.user_name,
            since: w.since,
        }
    }
}

impl From<crate::store::pools::Pool> for PoolView {
    fn from(p: crate::store::pools::Pool) -> Self {
        PoolView {
            product: p.product,
            capacity: p.capacity,
            assigned: p.assigned,
            waitlisted: p.waitlisted,
        }
    }
}

impl Engine {
    pub async fn products(&self, ap: &AdminPrincipal) -> Result<PoolList, EngineError> {
        let mut conn = self.store.read().await?;
        let mut products: Vec<PoolView> = conn
            .list_pools(ap.account_id)
            .await?
            .into_iter()
            .map(PoolView::from)
            .collect();
        // Products users wait for but nobody bought yet.
        for (product, waiting) in conn.waitlisted_without_pool(ap.account_id).await? {
            products.push(PoolView {
                product,
                capacity: 0,
                assigned: 0,
                waitlisted: waiting,
            });
        }
        products.sort_by(|a, b| a.product.cmp(&b.product));
        Ok(PoolList { products })
    }

    /// The first `limit` users waiting for a product, first in line first: the order in
    /// which freed or added seats go to them.
    pub async fn waitlist(
        &self,
        ap: &AdminPrincipal,
        product: &str,
        limit: i64,
    ) -> Result<Vec<WaitingUser>, EngineError> {
        let mut conn = self.store.read().await?;
        Ok(conn
            .waitlist(ap.account_id, product, limit.max(0))
            .await?
            .into_iter()
            .map(WaitingUser::from)
            .collect())
    }

    /// Creates or resizes a pool, then serves its waitlist.
    pub async fn set_licenses(
        &self,
        ap: &AdminPrincipal,
        product: &str,
        input: &SetLicenses,
        ctx: &Ctx,
    ) -> Result<PoolChanged, EngineError> {
        Ok(self
            .set_licenses_run(ap, product, input, ctx, Run::Real)
            .await?
            .0)
    }

    /// What `set_licenses` would do to seats, written nowhere (`?dry_run=true`).
    pub async fn forecast_licenses(
        &self,
        ap: &AdminPrincipal,
        product: &str,
        input: &SetLicenses,
        ctx: &Ctx,
    ) -> Result<Forecast, EngineError> {
        let (changed, pools) = self
            .set_licenses_run(ap, product, input, ctx, Run::Dry)
            .await?;
        self.forecast(ap.account_id, &changed.seat_changes, &pools, &[product])
            .await
    }

    async fn set_licenses_run(
        &self,
        ap: &AdminPrincipal,
        product: &str,
        input: &SetLicenses,
        ctx: &Ctx,
        run: Run,
    ) -> Result<(PoolChanged, Vec<Pool>), EngineError> {
        let mut attempt = 0;
        loop {
            match self.set_licenses_once(ap, product, input, ctx, run).await {
                Err(e) if super::retry::again_admin(&e, &mut attempt).await => continue,
                r => return r,
            }
        }
    }

    async fn set_licenses_once(
        &self,
        ap: &AdminPrincipal,
        product: &str,
        input: &SetLicenses,
        ctx: &Ctx,
        run: Run,
    ) -> Result<(PoolChanged, Vec<Pool>), EngineError> {
        if run == Run::Real {
            require_write(ap)?;
        }
        if !valid_product(product) {
            return Err(EngineError::invalid(
                ErrorCode::InvalidProduct,
                "product",
                "a product name is lower-case letters, digits, '-' and '_' (at most 63)",
            ));
        }
        let seats = input.seats;
        let now = self.now();
        let mut tx = self.store.write().await?;
        // Read with the settings row locked: a settings change meanwhile waits, then sets
        // this pool's allowance too.
        let settings = self.locked_settings(&mut tx, ap.account_id).await?;
        let before = tx
            .list_pools(ap.account_id)
            .await?
            .into_iter()
            .find(|p| p.product == product)
            .map(|p| p.capacity);
        let allowance = settings.allowance(seats);
        let keep_over = settings.seat_policy == SeatPolicy::Overage;
        if let Resize::BelowAssigned { assigned } = tx
            .set_capacity(ap.account_id, product, seats, allowance, keep_over, &now)
            .await?
        {
            return Err(EngineError::refused(
                ErrorCode::SeatsInUse,
                format!(
                    "{assigned} seats of '{product}' are assigned, more than {seats}: suspend or remove users (or change rules) to free seats first"
                ),
            ));
        }
        let mut changes = vec![];
        self.serve_waitlist(&mut tx, ap.account_id, product, &now, &mut changes)
            .await?;
        let pool = tx
            .list_pools(ap.account_id)
            .await?
            .into_iter()
            .find(|p| p.product == product)
            .map(PoolView::from)
            .ok_or_else(|| EngineError::internal(format!("pool {product} vanished")))?;
        let mut draft = Draft::new(None, "licenses", Some(product));
        draft.resource_type = Some("Product");
        draft.seat_changes = changes.clone();
        if before == Some(seats) && changes.is_empty() {
            // The pool already had this size and nobody moved: logged as skipped, like an
            // update that changes nothing.
            draft.step(format!(
                "unchanged: '{product}' already has {seats} licenses"
            ));
            let mut entry = super::synclog::row(ctx, &now, &draft, 200, None);
            entry.status = "skipped".into();
            tx.insert_sync_log(ap.account_id, &entry).await?;
        } else {
            draft.changes = vec![Change {
                attribute: "capacity".into(),
                old: before.map(serde_json::Value::from),
                new: Some(serde_json::Value::from(seats)),
            }];
            draft.step(format!("rules and seats: {}", seat_summary(&changes)));
            if before != Some(seats) {
                draft.events.push((
                    "license.changed",
                    serde_json::json!({
                        "product": product,
                        "licenses": seats,
                        "previous": before,
                        "assigned": pool.assigned,
                        "waitlisted": pool.waitlisted,
                    }),
                ));
            }
            self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
                .await?;
        }
        let pools = self.end_change(tx, ap.account_id, run).await?;
        Ok((
            PoolChanged {
                pool,
                seat_changes: changes,
            },
            pools,
        ))
    }

    /// `roster licenses set`: the same as the admin API, acting as the account's admin.
    pub async fn cli_set_licenses(
        &self,
        slug: &str,
        product: &str,
        seats: i64,
    ) -> Result<PoolChanged, EngineError> {
        let ap = self.cli_principal(slug).await?;
        let input = super::input::validated(SetLicenses { seats })?;
        let ctx = Ctx::new(
            "cli",
            "CLI",
            &format!("licenses set --product {product}"),
            None,
        );
        self.set_licenses(&ap, product, &input, &ctx).await
    }
}
