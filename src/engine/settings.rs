//! Account-wide settings: typed, validated field by field, stored as one document. A change
//! of the default products re-evaluates every user's seats in the same transaction.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::jwt::AdminPrincipal;

use super::authz::require_write;
use super::error::{EngineError, ErrorCode};
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingAccess {
    /// Every agent sees every recording.
    AllAgents,
    /// Each agent sees only their own.
    OwnOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub seat_policy: SeatPolicy,
    pub default_products: Vec<String>,
    pub recording_access: RecordingAccess,
    pub sync_log_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            seat_policy: SeatPolicy::Waitlist,
            default_products: vec![],
            recording_access: RecordingAccess::AllAgents,
            sync_log_retention_days: 90,
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

impl Settings {
    /// Applies a partial update; every key must be known and every value valid, or nothing
    /// changes.
    pub fn patched(&self, patch: &Value) -> Result<Settings, FieldError> {
        let Some(obj) = patch.as_object() else {
            return Err(field_error("", "send a JSON object of settings to change"));
        };
        let mut next = self.clone();
        for (key, value) in obj {
            match key.as_str() {
                "seat_policy" => {
                    next.seat_policy = match value.as_str() {
                        Some("waitlist") => SeatPolicy::Waitlist,
                        Some("reject") => SeatPolicy::Reject,
                        _ => return Err(field_error(key, "must be \"waitlist\" or \"reject\"")),
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
                other => {
                    return Err(field_error(
                        other,
                        "unknown setting; the settings are seat_policy, default_products, recording_access, sync_log_retention_days",
                    ))
                }
            }
        }
        Ok(next)
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
        let mut attempt = 0;
        loop {
            match self.patch_settings_once(ap, patch, ctx).await {
                Err(e) if super::retry::again_admin(&e, &mut attempt).await => continue,
                r => return r,
            }
        }
    }

    async fn patch_settings_once(
        &self,
        ap: &AdminPrincipal,
        patch: &Value,
        ctx: &Ctx,
    ) -> Result<SettingsChanged, EngineError> {
        require_write(ap)?;
        let now = self.now();
        let mut tx = self.store.write().await?;
        let current = self.settings_in(&mut tx, ap.account_id).await?;
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
        if next.default_products != current.default_products {
            self.reconcile_all(&mut tx, ap.account_id, &now, &mut changes)
                .await?;
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
        tx.commit().await?;
        Ok(SettingsChanged {
            settings: next,
            seat_changes: changes,
        })
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
}
