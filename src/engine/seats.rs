//! Seats follow the rules: every active user holds the account's default products, the
//! products of rules naming one of their groups, and those of rules whose filter they match.
//! A seat is taken only by a conditional increment of its pool; when none is free the
//! account's seat policy waitlists or refuses. A freed seat goes to the first in line.

use std::collections::BTreeSet;

use crate::scim::query::{compile_filter, Expr};
use crate::scim::{ResourceKind, ScimError};
use crate::store::conflicts::NewConflict;
use crate::store::resources::ListError;
use crate::store::rules::RuleRow;
use crate::store::{ReadConn, WriteTx};

use super::error::Fail;
use super::settings::{SeatPolicy, Settings};
use super::Engine;

/// One seat change a request caused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeatChange {
    pub user_id: String,
    pub product: String,
    /// `assigned`, `waitlisted`, `freed`, `left_waitlist` or `moved`.
    pub change: &'static str,
}

/// What decides seats in one account, read once per request.
pub struct RuleSet {
    pub settings: Settings,
    rules: Vec<(RuleRow, Option<Expr>)>,
    /// Whether the account has open conflicts at all: when not, nothing needs closing.
    pub open_conflicts: bool,
}

pub const GUIDANCE_EMAIL_IN_USE: &str = "This person already has a user in another account, and a person can hold a user in only one account. Ask them to have the admin of their other account remove them (then the identity provider's next retry succeeds), or contact support to move their user to this account.";
pub const GUIDANCE_NO_SEAT: &str = "No license of this product is free. Add licenses (PUT /admin/v1/products/PRODUCT or `roster licenses set`), or free a seat by suspending or removing a user; waitlisted seats are then assigned first come, first served.";

pub fn no_seat_key(user_name: &str, product: &str) -> String {
    format!("{}\u{1f}{product}", user_name.to_lowercase())
}

impl Engine {
    pub(crate) async fn settings_in(
        &self,
        tx: &mut ReadConn,
        account: i64,
    ) -> Result<Settings, ScimError> {
        let doc = tx.settings_doc(account).await?;
        Ok(Settings::from_stored(doc.as_deref()))
    }

    pub(crate) async fn rule_set(
        &self,
        tx: &mut ReadConn,
        account: i64,
    ) -> Result<RuleSet, ScimError> {
        // Settings, whether conflicts are open, whether rules exist: one statement.
        let (doc, open_conflicts, rule_count) = tx.rule_context(account).await?;
        let settings = Settings::from_stored(doc.as_deref());
        let mut rules = vec![];
        let listed = if rule_count > 0 {
            tx.list_rules(account).await?
        } else {
            vec![]
        };
        for rule in listed {
            let expr = match &rule.filter {
                Some(f) => {
                    // Saved rules were validated; one that no longer compiles selects no one.
                    crate::scim::limits::parse_filter(f)
                        .ok()
                        .and_then(|parsed| {
                            compile_filter(self.registry(), ResourceKind::User, &parsed).ok()
                        })
                }
                None => None,
            };
            rules.push((rule, expr));
        }
        Ok(RuleSet {
            settings,
            rules,
            open_conflicts,
        })
    }

    /// Whether any rule names this group (so its membership changes move seats).
    pub(crate) fn rules_name_group(set: &RuleSet, group: &str) -> bool {
        set.rules
            .iter()
            .any(|(r, _)| r.group_id.as_deref() == Some(group))
    }

    /// The products a user should hold now.
    async fn desired(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        user: &str,
    ) -> Result<BTreeSet<String>, ScimError> {
        let mut want: BTreeSet<String> = set.settings.default_products.iter().cloned().collect();
        if set.rules.is_empty() {
            return Ok(want);
        }
        let groups = tx.groups_of_user(account, user).await?;
        for (rule, expr) in &set.rules {
            if want.contains(&rule.product) {
                continue;
            }
            let matched = match (&rule.group_id, expr) {
                (Some(g), _) => groups.contains(g),
                (None, Some(e)) => {
                    tx.user_matches(account, user, e)
                        .await
                        .map_err(|e| match e {
                            ListError::Query(e) => e,
                            ListError::Store(e) => ScimError::from(e),
                        })?
                }
                (None, None) => false,
            };
            if matched {
                want.insert(rule.product.clone());
            }
        }
        Ok(want)
    }

    /// Brings one user's seats in line with the rules. A deleted or suspended user holds
    /// none; transferred (manual) seats stay while the user is active.
    pub(crate) async fn reconcile(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        user: &str,
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        let brief = tx.lock_user_brief(account, user).await?;
        let want = match &brief {
            Some((_, true)) => self.desired(tx, account, set, user).await?,
            _ => BTreeSet::new(),
        };
        let held = tx
            .seats_of(account, &[user.to_string()])
            .await?
            .remove(user)
            .unwrap_or_default();
        let active = matches!(brief, Some((_, true)));
        for seat in &held {
            let keep = want.contains(&seat.product) || (active && seat.source == "manual");
            if !keep {
                self.release(tx, account, user, &seat.product, now, changes)
                    .await?;
            }
        }
        let Some((user_name, true)) = brief else {
            return Ok(());
        };
        for product in want {
            if held.iter().any(|s| s.product == product) {
                continue;
            }
            self.acquire(
                tx,
                account,
                set,
                (user, &user_name),
                &product,
                "rule",
                now,
                changes,
            )
            .await?;
        }
        Ok(())
    }

    /// Seats for a user created in this transaction: nothing is held yet, so nothing is read.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn seat_new_user(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        (user, user_name): (&str, &str),
        extra: &[String],
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        let want = self.desired(tx, account, set, user).await?;
        for product in &want {
            self.acquire(
                tx,
                account,
                set,
                (user, user_name),
                product,
                "rule",
                now,
                changes,
            )
            .await?;
        }
        for product in extra.iter().filter(|p| !want.contains(*p)) {
            self.acquire(
                tx,
                account,
                set,
                (user, user_name),
                product,
                "manual",
                now,
                changes,
            )
            .await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn acquire(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        (user, user_name): (&str, &str),
        product: &str,
        source: &'static str,
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        let key = no_seat_key(user_name, product);
        let mut took = tx.take_seat(account, product).await?;
        if !took {
            // About to waitlist: hold the pool row first, so that a seat another transaction
            // frees meanwhile is handed to this entry once it commits, and look once more.
            tx.lock_pool(account, product).await?;
            took = tx.take_seat(account, product).await?;
        }
        if took {
            if !tx
                .insert_seat(account, user, product, "assigned", source, now)
                .await?
            {
                // A concurrent request gave this user the product first.
                tx.give_back_seat(account, product).await?;
                return Ok(());
            }
            if set.open_conflicts {
                tx.resolve_conflicts(account, "no_seat", &[key], now)
                    .await?;
            }
            changes.push(SeatChange {
                user_id: user.to_string(),
                product: product.to_string(),
                change: "assigned",
            });
            return Ok(());
        }
        let conflict = NewConflict {
            kind: "no_seat",
            dedupe_key: key,
            user_id: Some(user.to_string()),
            user_name: Some(user_name.to_string()),
            email: None,
            product: Some(product.to_string()),
        };
        match set.settings.seat_policy {
            SeatPolicy::Waitlist => {
                if !tx
                    .insert_seat(account, user, product, "waitlisted", source, now)
                    .await?
                {
                    return Ok(());
                }
                tx.record_conflict(account, &conflict, &uuid::Uuid::new_v4().to_string(), now)
                    .await?;
                changes.push(SeatChange {
                    user_id: user.to_string(),
                    product: product.to_string(),
                    change: "waitlisted",
                });
                Ok(())
            }
            SeatPolicy::Reject => Err(Fail {
                error: ScimError::NoSeat {
                    detail: format!(
                        "no free seat of product '{product}' for {user_name}: all its licenses are assigned. \
                         Add licenses to '{product}' (or free a seat), then retry"
                    ),
                },
                conflict: Some(NewConflict {
                    user_id: None,
                    ..conflict
                }),
            }),
        }
    }

    /// Gives up a user's seat of a product. What it was is what the delete found, not what
    /// was read before: another transaction may have served or removed it meanwhile.
    async fn release(
        &self,
        tx: &mut WriteTx,
        account: i64,
        user: &str,
        product: &str,
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        let Some(state) = tx.delete_seat(account, user, product).await? else {
            return Ok(());
        };
        let was_assigned = state == "assigned";
        changes.push(SeatChange {
            user_id: user.to_string(),
            product: product.to_string(),
            change: if was_assigned {
                "freed"
            } else {
                "left_waitlist"
            },
        });
        if was_assigned {
            tx.give_back_seat(account, product).await?;
            self.serve_waitlist(tx, account, product, now, changes)
                .await?;
        } else if let Some((name, _)) = tx.user_brief(account, user).await? {
            tx.resolve_conflicts(account, "no_seat", &[no_seat_key(&name, product)], now)
                .await?;
        }
        Ok(())
    }

    /// Gives free seats of a product to the waitlist, first come first served.
    pub(crate) async fn serve_waitlist(
        &self,
        tx: &mut WriteTx,
        account: i64,
        product: &str,
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), ScimError> {
        while let Some(next) = tx.lock_first_waitlisted(account, product).await? {
            if !tx.take_seat(account, product).await? {
                break;
            }
            if !tx.mark_assigned(account, &next, product, now).await? {
                // Served or gone since it was read: the seat goes back, the next in line.
                tx.give_back_seat(account, product).await?;
                continue;
            }
            if let Some((name, _)) = tx.user_brief(account, &next).await? {
                tx.resolve_conflicts(account, "no_seat", &[no_seat_key(&name, product)], now)
                    .await?;
            }
            changes.push(SeatChange {
                user_id: next,
                product: product.to_string(),
                change: "assigned",
            });
        }
        Ok(())
    }

    /// Re-evaluates every user of the account (after a rule or settings change).
    pub(crate) async fn reconcile_all(
        &self,
        tx: &mut WriteTx,
        account: i64,
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        let set = self.rule_set(tx, account).await?;
        let users = tx.all_user_ids(account).await?;
        // Free first, then take: a user losing a seat makes room before another asks.
        for user in &users {
            self.reconcile(tx, account, &set, user, now, changes)
                .await?;
        }
        for product in tx.waitlisted_products(account).await? {
            self.serve_waitlist(tx, account, &product, now, changes)
                .await?;
        }
        Ok(())
    }

    /// After a failed request has rolled back: records its conflict (if any) and its log
    /// entry, each in a transaction of its own. Recording never changes the answer.
    pub(crate) async fn settle<T>(
        &self,
        account: i64,
        ctx: &super::synclog::Ctx,
        draft: &super::synclog::Draft,
        r: Result<T, Fail>,
    ) -> Result<T, ScimError> {
        match r {
            Ok(v) => Ok(v),
            Err(Fail { error, conflict }) => {
                if let Some(c) = conflict {
                    let now = self.now();
                    let recorded = async {
                        let mut tx = self.store.write().await?;
                        tx.record_conflict(account, &c, &uuid::Uuid::new_v4().to_string(), &now)
                            .await?;
                        tx.commit().await
                    }
                    .await;
                    if let Err(e) = recorded {
                        tracing::error!(error = %e, "could not record a conflict");
                    }
                }
                self.log_failure(account, ctx, draft, &error).await;
                Err(error)
            }
        }
    }
}
