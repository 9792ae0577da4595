//! Account-wide settings: typed, validated field by field, stored as one document.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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

/// Product names: lower-case letters, digits, `-` and `_`, up to 63 characters.
pub fn valid_product(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
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
