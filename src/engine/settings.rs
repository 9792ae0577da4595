//! Account-wide settings: typed, validated field by field, stored as one document. A change
//! of the default products re-evaluates every user's seats in the same transaction; a change
//! of the overage share sets every pool's ceiling (and a higher one serves the waitlists).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::jwt::AdminPrincipal;
use crate::store::pools::Pool;
use crate::store::WriteTx;

use super::authz::require_write;
use super::error::{EngineError, ErrorCode};
use super::forecast::{Forecast, Run};
use super::input::valid_product;
use super::resources::seat_summary;
use super::seats::SeatChange;
use super::synclog::{diff, Ctx, Draft};
use super::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatPolicy {
    /// Create or reactivate the user; queue the seat until one frees up.
    Waitlist,
    /// Refuse the request, naming the product and the fix.
    Reject,
    /// Assign past the licenses, up to `overage_percent` of them (rounded down) per product,
    /// to be trued up later; past that, queue the seat as `Waitlist` does.
    Overage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingAccess {
    /// Every agent sees every recording.
    AllAgents,
    /// Each agent sees only their own.
    OwnOnly,
}

/// What an identity provider's SCIM DELETE of a user does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteAction {
    /// Remove the user (seats freed; the sync log keeps its history).
    #[default]
    Delete,
    /// Suspend and keep the user for admins, marked as deleted by the identity provider,
    /// which no longer sees it (404, not listed) and may create its userName again.
    Suspend,
}

/// The mass-deprovisioning guard: a connection that suspends or deletes more than
/// `max_users` users within `window_minutes` has its further deprovisionings held for an
/// admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeprovisionGuard {
    pub max_users: u32,
    pub window_minutes: u32,
}

/// Most users a guard may let through in a window.
pub const GUARD_MAX_USERS: u64 = 1_000_000;
/// Longest guard window, in minutes (7 days): deprovisionings are remembered that long.
pub const GUARD_MAX_WINDOW_MINUTES: u64 = 10_080;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub seat_policy: SeatPolicy,
    /// Under `overage` (and only then): the extra seats each product may hold, as a share of
    /// its licenses, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overage_percent: Option<u32>,
    pub default_products: Vec<String>,
    pub recording_access: RecordingAccess,
    pub sync_log_retention_days: u32,
    /// What an identity provider's DELETE of a user does.
    #[serde(default)]
    pub delete_action: DeleteAction,
    /// Suspended users are deleted once suspended this many days (None: never).
    #[serde(default)]
    pub purge_suspended_after_days: Option<u32>,
    /// The mass-deprovisioning guard (None: off).
    #[serde(default)]
    pub deprovision_guard: Option<DeprovisionGuard>,
    /// Events are kept this many days once every enabled webhook endpoint has them.
    #[serde(default = "default_events_retention_days")]
    pub events_retention_days: u32,
}

fn default_events_retention_days() -> u32 {
    7
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seat_policy: SeatPolicy::Waitlist,
            overage_percent: None,
            default_products: vec![],
            recording_access: RecordingAccess::AllAgents,
            sync_log_retention_days: 90,
            delete_action: DeleteAction::Delete,
            purge_suspended_after_days: None,
            deprovision_guard: None,
            events_retention_days: default_events_retention_days(),
        }
    }
}

/// A setting that could not be taken, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// `deprovision_guard`: null (off) or `{"max_users": N, "window_minutes": M}`; a refusal
/// names the member to blame.
fn deprovision_guard(value: &Value) -> Result<Option<DeprovisionGuard>, FieldError> {
    const FIELD: &str = "deprovision_guard";
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => {
            return Err(field_error(
                FIELD,
                "must be null (off) or {\"max_users\": N, \"window_minutes\": M}",
            ))
        }
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["max_users", "window_minutes"].contains(&k.as_str()))
    {
        return Err(field_error(
            &format!("{FIELD}.{k}"),
            "unknown member; the guard has max_users and window_minutes",
        ));
    }
    let number = |name: &str, max: u64, what: &str| match obj.get(name).and_then(Value::as_u64) {
        Some(n) if (1..=max).contains(&n) => Ok(n as u32),
        _ => Err(field_error(
            &format!("{FIELD}.{name}"),
            format!("must be a whole number from 1 to {max}: {what}"),
        )),
    };
    Ok(Some(DeprovisionGuard {
        max_users: number(
            "max_users",
            GUARD_MAX_USERS,
            "the most users one connection may suspend or delete within the window",
        )?,
        window_minutes: number(
            "window_minutes",
            GUARD_MAX_WINDOW_MINUTES,
            "the window, in minutes (at most 7 days)",
        )?,
    }))
}

impl Settings {
    /// Applies a partial update; every key must be known and every value valid, or nothing
    /// changes.
    pub fn patched(&self, patch: &Value) -> Result<Settings, FieldError> {
        let Some(obj) = patch.as_object() else {
            return Err(field_error("", "send a JSON object of settings to change"));
        };
        let mut next = self.clone();
        let mut overage_percent = None;
        for (key, value) in obj {
            match key.as_str() {
                "seat_policy" => {
                    next.seat_policy = match value.as_str() {
                        Some("waitlist") => SeatPolicy::Waitlist,
                        Some("reject") => SeatPolicy::Reject,
                        Some("overage") => SeatPolicy::Overage,
                        _ => {
                            return Err(field_error(
                                key,
                                "must be \"waitlist\", \"reject\" or \"overage\"",
                            ))
                        }
                    }
                }
                "overage_percent" => {
                    overage_percent = match value.as_u64() {
                        Some(p) if p <= 100 => Some(p as u32),
                        _ => return Err(field_error(key, "must be a whole number from 0 to 100: the share of each product's licenses that may be assigned over them")),
                    }
                }
                "recording_access" => {
                    next.recording_access = match value.as_str() {
                        Some("all_agents") => RecordingAccess::AllAgents,
                        Some("own_only") => RecordingAccess::OwnOnly,
                        _ => {
                            return Err(field_error(key, "must be \"all_agents\" or \"own_only\""))
                        }
                    }
                }
                "default_products" => {
                    let Some(items) = value.as_array() else {
                        return Err(field_error(key, "must be a list of product names"));
                    };
                    let mut products = vec![];
                    for item in items {
                        match item.as_str() {
                            Some(p) if valid_product(p) => {
                                if !products.iter().any(|x: &String| x == p) {
                                    products.push(p.to_string());
                                }
                            }
                            _ => {
                                return Err(field_error(
                                    key,
                                    format!("{item} is not a product name (lower-case letters, digits, '-', '_')"),
                                ))
                            }
                        }
                    }
                    next.default_products = products;
                }
                "sync_log_retention_days" => {
                    next.sync_log_retention_days = match value.as_u64() {
                        Some(d) if (1..=3650).contains(&d) => d as u32,
                        _ => return Err(field_error(key, "must be a whole number of days from 1 to 3650")),
                    }
                }
                "delete_action" => {
                    next.delete_action = match value.as_str() {
                        Some("delete") => DeleteAction::Delete,
                        Some("suspend") => DeleteAction::Suspend,
                        _ => return Err(field_error(key, "must be \"delete\" or \"suspend\"")),
                    }
                }
                "purge_suspended_after_days" => {
                    next.purge_suspended_after_days = match value {
                        Value::Null => None,
                        v => match v.as_u64() {
                            Some(d) if (1..=3650).contains(&d) => Some(d as u32),
                            _ => return Err(field_error(key, "must be null (never) or a whole number of days from 1 to 3650")),
                        },
                    }
                }
                "deprovision_guard" => next.deprovision_guard = deprovision_guard(value)?,
                "events_retention_days" => {
                    next.events_retention_days = match value.as_u64() {
                        Some(d) if (1..=365).contains(&d) => d as u32,
                        _ => return Err(field_error(key, "must be a whole number of days from 1 to 365")),
                    }
                }
                other => {
                    return Err(field_error(
                        other,
                        "unknown setting; the settings are seat_policy, overage_percent, default_products, recording_access, sync_log_retention_days, delete_action, purge_suspended_after_days, deprovision_guard, events_retention_days",
                    ))
                }
            }
        }
        next.overage_percent = match (next.seat_policy, overage_percent) {
            (SeatPolicy::Overage, Some(p)) => Some(p),
            (SeatPolicy::Overage, None) => match self.overage_percent {
                Some(p) => Some(p),
                None => return Err(field_error(
                    "overage_percent",
                    "give overage_percent (0 to 100) with seat_policy \"overage\": the share of each product's licenses that may be assigned over them",
                )),
            },
            (_, Some(_)) => {
                return Err(field_error(
                    "overage_percent",
                    "applies only with seat_policy \"overage\"",
                ))
            }
            (_, None) => None,
        };
        Ok(next)
    }

    /// The share of its licenses a product may hold over them: `overage_percent` under the
    /// overage policy, else none.
    pub fn overage_share(&self) -> i64 {
        match self.seat_policy {
            SeatPolicy::Overage => i64::from(self.overage_percent.unwrap_or(0)),
            _ => 0,
        }
    }

    /// The extra seats a pool of `capacity` licenses may hold (rounded down).
    pub fn allowance(&self, capacity: i64) -> i64 {
        capacity.saturating_mul(self.overage_share()) / 100
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Object(Map::new()))
    }

    /// Reads the stored document; a missing or unreadable one is the defaults.
    pub fn from_stored(doc: Option<&str>) -> Settings {
        doc.and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or_default()
    }
}

/// Settings after a change, and the seats the change moved.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsChanged {
    #[serde(flatten)]
    pub settings: Settings,
    pub seat_changes: Vec<SeatChange>,
}

impl Engine {
    pub async fn settings(&self, ap: &AdminPrincipal) -> Result<Settings, EngineError> {
        let mut conn = self.store.read().await?;
        Ok(self.settings_in(&mut conn, ap.account_id).await?)
    }

    pub async fn patch_settings(
        &self,
        ap: &AdminPrincipal,
        patch: &Value,
        ctx: &Ctx,
    ) -> Result<SettingsChanged, EngineError> {
        Ok(self.patch_settings_run(ap, patch, ctx, Run::Real).await?.0)
    }

    /// What `patch_settings` would do to seats, written nowhere (`?dry_run=true`).
    pub async fn forecast_settings(
        &self,
        ap: &AdminPrincipal,
        patch: &Value,
        ctx: &Ctx,
    ) -> Result<Forecast, EngineError> {
        let (changed, pools) = self.patch_settings_run(ap, patch, ctx, Run::Dry).await?;
        self.forecast(ap.account_id, &changed.seat_changes, &pools, &[])
            .await
    }

    async fn patch_settings_run(
        &self,
        ap: &AdminPrincipal,
        patch: &Value,
        ctx: &Ctx,
        run: Run,
    ) -> Result<(SettingsChanged, Vec<Pool>), EngineError> {
        let mut attempt = 0;
        loop {
            match self.patch_settings_once(ap, patch, ctx, run).await {
                Err(e) if super::retry::again_admin(&e, &mut attempt).await => continue,
                r => return r,
            }
        }
    }

    /// The settings, their row locked until the transaction ends (see
    /// `WriteTx::lock_settings_doc`).
    pub(crate) async fn locked_settings(
        &self,
        tx: &mut WriteTx,
        account: i64,
    ) -> Result<Settings, EngineError> {
        let doc = tx
            .lock_settings_doc(account, &Settings::default().to_json().to_string())
            .await?;
        Ok(Settings::from_stored(Some(&doc)))
    }

    async fn patch_settings_once(
        &self,
        ap: &AdminPrincipal,
        patch: &Value,
        ctx: &Ctx,
        run: Run,
    ) -> Result<(SettingsChanged, Vec<Pool>), EngineError> {
        if run == Run::Real {
            require_write(ap)?;
        }
        let now = self.now();
        let mut tx = self.store.write().await?;
        let current = self.locked_settings(&mut tx, ap.account_id).await?;
        let next = current.patched(patch).map_err(|e| {
            EngineError::invalid(
                ErrorCode::InvalidSetting,
                &e.field,
                format!("{}: {}", e.field, e.message),
            )
        })?;
        tx.put_settings_doc(ap.account_id, &next.to_json().to_string())
            .await?;
        let mut changes = vec![];
        let (share, share_before) = (next.overage_share(), current.overage_share());
        if share != share_before {
            // Every pool's ceiling follows; seats held over a lowered one stay.
            tx.set_overage(ap.account_id, share).await?;
        }
        if next.default_products != current.default_products {
            self.reconcile_all(&mut tx, ap.account_id, &now, &mut changes)
                .await?;
        } else if share > share_before {
            // A higher ceiling has room for those waiting.
            for product in tx.waitlisted_products(ap.account_id).await? {
                self.serve_waitlist(&mut tx, ap.account_id, &product, &now, &mut changes)
                    .await?;
            }
        }
        let mut draft = Draft::new(None, "settings", None);
        draft.resource_type = Some("Settings");
        if let (Value::Object(a), Value::Object(b)) = (current.to_json(), next.to_json()) {
            draft.changes = diff(&a, &b);
        }
        draft.seat_changes = changes.clone();
        draft.step(format!("rules and seats: {}", seat_summary(&changes)));
        self.log_in(&mut tx, ap.account_id, ctx, &draft, 200)
            .await?;
        let pools = self.end_change(tx, ap.account_id, run).await?;
        Ok((
            SettingsChanged {
                settings: next,
                seat_changes: changes,
            },
            pools,
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn patch_validates_each_field() {
        let s = Settings::default();
        let next = s
            .patched(&json!({"seat_policy": "reject", "default_products": ["meeting", "meeting"]}))
            .unwrap();
        assert_eq!(next.seat_policy, SeatPolicy::Reject);
        assert_eq!(next.default_products, vec!["meeting".to_string()]);
        assert_eq!(s.patched(&json!({"nope": 1})).unwrap_err().field, "nope");
        assert_eq!(
            s.patched(&json!({"seat_policy": "maybe"}))
                .unwrap_err()
                .field,
            "seat_policy"
        );
        assert_eq!(
            s.patched(&json!({"recording_access": "own_only", "sync_log_retention_days": 0}))
                .unwrap_err()
                .field,
            "sync_log_retention_days"
        );
        assert_eq!(
            s.patched(&json!({"default_products": ["Bad Name"]}))
                .unwrap_err()
                .field,
            "default_products"
        );
    }

    #[test]
    fn lifecycle_settings_are_checked_and_default_when_missing() {
        let s = Settings::default();
        let next = s
            .patched(&json!({
                "delete_action": "suspend",
                "purge_suspended_after_days": 30,
                "deprovision_guard": {"max_users": 10, "window_minutes": 60}
            }))
            .unwrap();
        assert_eq!(next.delete_action, DeleteAction::Suspend);
        assert_eq!(next.purge_suspended_after_days, Some(30));
        assert_eq!(
            next.deprovision_guard,
            Some(DeprovisionGuard {
                max_users: 10,
                window_minutes: 60
            })
        );
        let off = next
            .patched(&json!({"purge_suspended_after_days": null, "deprovision_guard": null}))
            .unwrap();
        assert_eq!(off.purge_suspended_after_days, None);
        assert_eq!(off.deprovision_guard, None);
        for (patch, field) in [
            (json!({"delete_action": "archive"}), "delete_action"),
            (
                json!({"purge_suspended_after_days": 0}),
                "purge_suspended_after_days",
            ),
            (
                json!({"purge_suspended_after_days": "30"}),
                "purge_suspended_after_days",
            ),
            (json!({"deprovision_guard": 10}), "deprovision_guard"),
            (
                json!({"deprovision_guard": {"max_users": 0, "window_minutes": 5}}),
                "deprovision_guard.max_users",
            ),
            (
                json!({"deprovision_guard": {"max_users": 5}}),
                "deprovision_guard.window_minutes",
            ),
            (
                json!({"deprovision_guard": {"max_users": 5, "window_minutes": 10081}}),
                "deprovision_guard.window_minutes",
            ),
            (
                json!({"deprovision_guard": {"max_users": 5, "window_minutes": 5, "per": "hour"}}),
                "deprovision_guard.per",
            ),
        ] {
            assert_eq!(s.patched(&patch).unwrap_err().field, field, "{patch}");
        }
        // A document stored before these settings existed keeps its other settings.
        let old = Settings::from_stored(Some(
            r#"{"seat_policy":"reject","default_products":["meeting"],"recording_access":"own_only","sync_log_retention_days":30}"#,
        ));
        assert_eq!(old.seat_policy, SeatPolicy::Reject);
        assert_eq!(old.delete_action, DeleteAction::Delete);
        assert_eq!(old.deprovision_guard, None);
    }
}
