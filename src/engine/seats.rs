//! Seats follow the rules: every active user holds the account's default products, the
//! products of rules naming one of their groups, and those of rules whose filter they match;
//! and the products their identity provider assigns as License entitlements.
//! A seat is taken only by a conditional increment of its pool (up to its capacity plus the
//! overage allowance); when none is free the account's seat policy waitlists or refuses. A
//! freed seat goes to the first in line.
//!
//! One seat row per user and product, whose `source` says why it is held: `manual` (an
//! admin moved or gave it: kept while the user is active, whatever rules and entitlements
//! say), else `idp` (a License entitlement: an explicit assignment of this one user, which
//! no rule change takes away), else `rule`. When the stronger reason goes and a weaker one
//! still holds, the seat stays and its source follows (`source_changed`); it is freed only
//! when no reason is left. Suspension frees every seat, whatever its source.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::scim::query::{compile_filter, Expr};
use crate::scim::{ResourceKind, ScimError};
use crate::store::conflicts::NewConflict;
use crate::store::resources::ListError;
use crate::store::rules::RuleRow;
use crate::store::seats::SeatHolder;
use crate::store::{ReadConn, WriteTx};

use super::error::Fail;
use super::settings::{SeatPolicy, Settings};
use super::Engine;

/// One seat change a request caused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeatChange {
    pub user_id: String,
    pub product: String,
    /// `assigned`, `waitlisted`, `freed`, `left_waitlist`, `moved`, or `source_changed`
    /// (the seat stays, held for another reason now).
    pub change: &'static str,
    /// Who the seat is (or was) held for: `rule` (the mapping rules), `idp` (the identity
    /// provider's License entitlement) or `manual` (an admin).
    pub source: &'static str,
}

/// A seat row's source as the one word a seat change carries.
pub(crate) fn source_word(source: &str) -> &'static str {
    match source {
        "idp" => "idp",
        "manual" => "manual",
        _ => "rule",
    }
}

/// The products a user's `entitlements` name as licenses: entries of type `License` (any
/// case) or of no type, by their value, trimmed and lower-cased (product names are
/// lower-case, and the attribute is not case-exact). An entry of another type is an
/// ordinary entitlement, and one with no value names nothing: neither holds a seat.
pub(crate) fn license_names(entitlements: Option<&Value>) -> BTreeSet<String> {
    let Some(Value::Array(items)) = entitlements else {
        return BTreeSet::new();
    };
    items
        .iter()
        .filter_map(Value::as_object)
        .filter(|e| match e.get("type") {
            None | Some(Value::Null) => true,
            Some(Value::String(t)) => {
                let t = t.trim();
                t.is_empty() || t.eq_ignore_ascii_case(crate::scim::license::LICENSE_TYPE)
            }
            Some(_) => false,
        })
        .filter_map(|e| e.get("value").and_then(Value::as_str))
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
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
        // The account's schemas, for rules on its custom attributes (read only when a rule
        // has a filter).
        let reg = if listed.iter().any(|r| r.filter.is_some()) {
            Some(self.registry_in(tx, account).await?)
        } else {
            None
        };
        for rule in listed {
            let expr = match (&rule.filter, &reg) {
                (Some(f), Some(reg)) => {
                    // Saved rules were validated; one that no longer compiles selects no one.
                    crate::scim::limits::parse_filter(f)
                        .ok()
                        .and_then(|parsed| compile_filter(reg, ResourceKind::User, &parsed).ok())
                }
                _ => None,
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

    /// The products a user should hold now, each with why: `rule`, or `idp` for the
    /// products of its License entitlements (`licenses`), which win over a rule.
    async fn desired(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        user: &str,
        licenses: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, &'static str>, ScimError> {
        let mut want: BTreeMap<String, &'static str> = set
            .settings
            .default_products
            .iter()
            .map(|p| (p.clone(), "rule"))
            .collect();
        let by_licenses = |mut want: BTreeMap<String, &'static str>| {
            for l in licenses {
                want.insert(l.clone(), "idp");
            }
            want
        };
        if set.rules.is_empty() {
            return Ok(by_licenses(want));
        }
        let groups = tx.groups_of_user(account, user).await?;
        for (rule, expr) in &set.rules {
            if want.contains_key(&rule.product) || licenses.contains(&rule.product) {
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
                want.insert(rule.product.clone(), "rule");
            }
        }
        Ok(by_licenses(want))
    }

    /// The products a SCIM write's user document holds as licenses. A value the write adds
    /// (not in `old`) must name a product of the account (one with a license pool, as
    /// `/Licenses` lists), or the request is a 400 `invalidValue` naming it. Returns the
    /// products the added values name; a value the user already had is left to `reconcile`
    /// (one that names no product, kept from before entitlements were licenses, holds
    /// nothing).
    pub(crate) async fn check_licenses(
        &self,
        tx: &mut WriteTx,
        account: i64,
        kind: ResourceKind,
        old: Option<&Map<String, Value>>,
        new: &Map<String, Value>,
    ) -> Result<BTreeSet<String>, Fail> {
        if kind != ResourceKind::User {
            return Ok(BTreeSet::new());
        }
        let before = license_names(old.and_then(|d| d.get("entitlements")));
        let added: Vec<String> = license_names(new.get("entitlements"))
            .difference(&before)
            .cloned()
            .collect();
        if added.is_empty() {
            return Ok(BTreeSet::new());
        }
        let products = tx.pooled_products(account, &added).await?;
        let unknown: Vec<String> = added
            .iter()
            .filter(|a| !products.contains(*a))
            .map(|a| format!("'{a}'"))
            .collect();
        if !unknown.is_empty() {
            return Err(ScimError::invalid_value(format!(
                "entitlements: {} names no product of this account. An entitlement of type \
                 'License' (or of no type) assigns the seat of the product its value names, \
                 one of those listed at /Licenses; give another type to an entitlement that \
                 is not a license",
                unknown.join(", ")
            ))
            .into());
        }
        Ok(products)
    }

    /// The products a stored user's License entitlements name that the account has: a
    /// value naming none (kept from before entitlements were licenses) holds nothing.
    async fn held_licenses(
        &self,
        tx: &mut WriteTx,
        account: i64,
        entitlements: Option<&str>,
    ) -> Result<BTreeSet<String>, ScimError> {
        let parsed: Option<Value> = entitlements.and_then(|t| serde_json::from_str(t).ok());
        let names: Vec<String> = license_names(parsed.as_ref()).into_iter().collect();
        if names.is_empty() {
            return Ok(BTreeSet::new());
        }
        Ok(tx.pooled_products(account, &names).await?)
    }

    /// Brings one user's seats in line with the rules and its License entitlements. A
    /// deleted or suspended user holds none; an admin's (manual) seats stay while the user is
    /// active; a seat held for another reason than before records the new one.
    pub(crate) async fn reconcile(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        user: &str,
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        let holder = tx.lock_seat_holder(account, user).await?;
        let want = match &holder {
            Some(h) if h.active => {
                let licenses = self
                    .held_licenses(tx, account, h.entitlements.as_deref())
                    .await?;
                self.desired(tx, account, set, user, &licenses).await?
            }
            _ => BTreeMap::new(),
        };
        let held = tx
            .seats_of(account, &[user.to_string()])
            .await?
            .remove(user)
            .unwrap_or_default();
        let active = holder.as_ref().is_some_and(|h| h.active);
        for seat in &held {
            match want.get(&seat.product) {
                None if active && seat.source == "manual" => {}
                None => {
                    self.release(tx, account, user, &seat.product, now, changes)
                        .await?;
                }
                Some(&source) => {
                    if seat.source != "manual"
                        && seat.source != source
                        && tx
                            .set_seat_source(account, user, &seat.product, source)
                            .await?
                    {
                        changes.push(SeatChange {
                            user_id: user.to_string(),
                            product: seat.product.clone(),
                            change: "source_changed",
                            source,
                        });
                    }
                }
            }
        }
        let Some(SeatHolder {
            user_name,
            active: true,
            ..
        }) = holder
        else {
            return Ok(());
        };
        for (product, source) in want {
            if held.iter().any(|s| s.product == product) {
                continue;
            }
            self.acquire(
                tx,
                account,
                set,
                (user, &user_name),
                &product,
                source,
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
        who: (&str, &str),
        extra: &[String],
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        self.seat_new(tx, account, set, who, &BTreeSet::new(), extra, now, changes)
            .await
    }

    /// Seats for a user a SCIM request creates: its License entitlements are checked
    /// (`check_licenses`) whether it is active or not; an active user then takes the rules'
    /// products and its licenses.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn seat_created_user(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        who: (&str, &str),
        doc: &Map<String, Value>,
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        let licenses = self
            .check_licenses(tx, account, ResourceKind::User, None, doc)
            .await?;
        if !doc.get("active").and_then(Value::as_bool).unwrap_or(true) {
            return Ok(());
        }
        self.seat_new(tx, account, set, who, &licenses, &[], now, changes)
            .await
    }

    /// A new user's seats: the rules' products and `licenses` (the identity provider's),
    /// then an admin's `extra` products.
    #[allow(clippy::too_many_arguments)]
    async fn seat_new(
        &self,
        tx: &mut WriteTx,
        account: i64,
        set: &RuleSet,
        (user, user_name): (&str, &str),
        licenses: &BTreeSet<String>,
        extra: &[String],
        now: &str,
        changes: &mut Vec<SeatChange>,
    ) -> Result<(), Fail> {
        let want = self.desired(tx, account, set, user, licenses).await?;
        for (product, source) in &want {
            self.acquire(
                tx,
                account,
                set,
                (user, user_name),
                product,
                source,
                now,
                changes,
            )
            .await?;
        }
        for product in extra.iter().filter(|p| !want.contains_key(*p)) {
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
        let mut took = tx.take_seat(account, product, now).await?;
        if !took {
            // About to waitlist: hold the pool row first, so that a seat another transaction
            // frees meanwhile is handed to this entry once it commits, and look once more.
            tx.lock_pool(account, product).await?;
            took = tx.take_seat(account, product, now).await?;
        }
        if took {
            if !tx
                .insert_seat(account, user, product, "assigned", source, now)
                .await?
            {
                // A concurrent request gave this user the product first.
                tx.give_back_seat(account, product).await?;
                tx.settle_over(account, product).await?;
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
                source,
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
            // Past the overage allowance too, the seat waits.
            SeatPolicy::Waitlist | SeatPolicy::Overage => {
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
                    source,
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
        let Some((state, source)) = tx.delete_seat(account, user, product).await? else {
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
            source: source_word(&source),
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
        while let Some((next, source)) = tx.lock_first_waitlisted(account, product).await? {
            if !tx.take_seat(account, product, now).await? {
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
                source: source_word(&source),
            });
        }
        // Seats given back before (or in) this loop and not taken again may have brought
        // the pool back within its licenses.
        tx.settle_over(account, product).await?;
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::license_names;

    #[test]
    fn licenses_are_entitlements_of_type_license_or_of_no_type() {
        let e = json!([
            {"value": "webinar", "type": "License"},
            {"value": " Meeting ", "type": "license"},
            {"value": "training"},
            {"value": "support", "type": null},
            {"value": "recordings", "type": ""},
            {"value": "Premium support", "type": "Badge"},
            {"type": "License"},
            {"value": "", "type": "License"},
            {"value": 7, "type": "License"},
            "webinar",
        ]);
        let names: Vec<String> = license_names(Some(&e)).into_iter().collect();
        assert_eq!(
            names,
            ["meeting", "recordings", "support", "training", "webinar"]
        );
        assert!(license_names(None).is_empty());
        assert!(license_names(Some(&json!({"value": "webinar"}))).is_empty());
    }
}
