//! Entra's app-role values (its `AppRoleAssignmentsComplex` mapping): `roles` sent as JSON
//! text, decoded into proper `{value, display, type, primary}` elements before the value is
//! typed, so that filters and seat rules on `roles.value` see the role's value.
//!
//! The shapes Entra sends:
//! - on POST, elements with `displayName` where the schema says `display`:
//!   `{"primary": false, "type": "WindowsAzureActiveDirectoryRole", "displayName": "Admin",
//!   "value": "Admin"}`;
//! - on PATCH `add` of `roles`, elements whose `value` is the assignment as JSON text:
//!   `{"value": "{\"id\":\"0b5f...\",\"value\":\"Admin\",\"displayName\":\"Admin\"}"}`;
//! - the elements themselves as JSON text, or the whole list as one string holding a JSON
//!   array.
//!
//! The assignment's `id` names Entra's assignment, not the role, and is not kept.

use serde_json::{Map, Value};

use super::schema::{AttrType, Attribute};
use super::Notes;

/// Whether `attr` is `roles` (or the one-element copy of it that filtered PATCH writes use).
fn is_roles(attr: &Attribute) -> bool {
    attr.name == "roles" && attr.ty == AttrType::Complex && attr.sub("value").is_some()
}

/// What decoding found, for the notes.
#[derive(Default)]
struct Found {
    json_text: bool,
    display_name: bool,
}

/// `value` with Entra's app-role shapes decoded, or `None` when it holds none of them (or
/// `attr` is not `roles`). Each kind of rewrite adds one note naming `path`.
pub(crate) fn decode(
    attr: &Attribute,
    value: &Value,
    path: &str,
    notes: &mut Notes,
) -> Option<Value> {
    if !is_roles(attr) {
        return None;
    }
    let mut found = Found::default();
    // A whole value sent as JSON text holds assignments: its objects are decoded as such.
    let (top, decoded) = match value {
        Value::String(s) => match json_text(s) {
            Some(v) => {
                found.json_text = true;
                (v, true)
            }
            None => return None,
        },
        Value::Array(_) | Value::Object(_) => (value.clone(), false),
        _ => return None,
    };
    let out = match top {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| element(item, decoded, &mut found))
                .collect(),
        ),
        other => element(other, decoded, &mut found),
    };
    if found.json_text {
        notes.push(format!(
            "'{path}' held app-role assignments as JSON text (Entra's AppRoleAssignmentsComplex); \
             read as {{value, display}} entries"
        ));
    }
    if found.display_name {
        notes.push(format!("'{path}.displayName' read as '{path}.display'"));
    }
    (found.json_text || found.display_name).then_some(out)
}

/// A string holding a JSON object or array, parsed; anything else (a plain role name) is
/// `None` and stays as it was.
fn json_text(s: &str) -> Option<Value> {
    let t = s.trim();
    if !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    match serde_json::from_str::<Value>(t) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => Some(v),
        _ => None,
    }
}

/// One element: JSON text, or an object whose `value` is JSON text, becomes an object of
/// sub-attributes; `displayName` becomes `display`. `decoded`: the element came out of JSON
/// text, so an object is an assignment itself.
fn element(item: Value, decoded: bool, found: &mut Found) -> Value {
    let outer = match item {
        Value::String(s) => match json_text(&s) {
            Some(Value::Object(o)) => {
                found.json_text = true;
                return Value::Object(assignment(Map::new(), o));
            }
            _ => return Value::String(s),
        },
        Value::Object(o) if decoded => return Value::Object(assignment(Map::new(), o)),
        Value::Object(o) => o,
        other => return other,
    };
    let inner = outer
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("value"))
        .and_then(|(_, v)| v.as_str())
        .and_then(json_text)
        .and_then(|v| match v {
            Value::Object(o) => Some(o),
            _ => None,
        });
    match inner {
        Some(inner) => {
            found.json_text = true;
            let rest = outer
                .into_iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("value"))
                .collect();
            Value::Object(assignment(rest, inner))
        }
        None => {
            let mut out = Map::new();
            for (k, v) in outer {
                if k.eq_ignore_ascii_case("displayName") {
                    found.display_name = true;
                    out.entry("display").or_insert(v);
                } else {
                    out.insert(k, v);
                }
            }
            Value::Object(out)
        }
    }
}

/// An element from the sub-attributes sent beside the JSON text (`type`, `primary`) and the
/// decoded assignment (`value`, `displayName`, and `type` or `primary` when it has them).
fn assignment(mut out: Map<String, Value>, decoded: Map<String, Value>) -> Map<String, Value> {
    for (k, v) in decoded {
        if k.eq_ignore_ascii_case("id") {
            continue;
        }
        if k.eq_ignore_ascii_case("value") {
            out.insert("value".into(), v);
        } else if k.eq_ignore_ascii_case("displayName") || k.eq_ignore_ascii_case("display") {
            out.insert("display".into(), v);
        } else if !out.keys().any(|o| o.eq_ignore_ascii_case(&k)) {
            out.insert(k, v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::scim::{Registry, ResourceKind};

    fn roles() -> Attribute {
        let reg = Registry::load().unwrap();
        reg.core(ResourceKind::User).attr("roles").unwrap().clone()
    }

    fn run(v: Value) -> (Option<Value>, Vec<String>) {
        let mut notes = Notes::default();
        let out = decode(&roles(), &v, "roles", &mut notes);
        (out, notes.to_vec())
    }

    #[test]
    fn patch_add_elements_whose_value_is_json_text() {
        let (out, notes) = run(json!([
            {"value": "{\"id\":\"827f0d2e\",\"value\":\"DocumentMgmt-Admin\",\"displayName\":\"DocumentMgmt Admin\"}"},
            {"value": "{\"id\":\"8ae06bd4\",\"value\":\"Admin\",\"displayName\":\"Admin\"}", "primary": true}
        ]));
        assert_eq!(
            out,
            Some(json!([
                {"value": "DocumentMgmt-Admin", "display": "DocumentMgmt Admin"},
                {"primary": true, "value": "Admin", "display": "Admin"}
            ]))
        );
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("AppRoleAssignmentsComplex"), "{notes:?}");
    }

    #[test]
    fn a_string_holding_a_list_and_elements_as_text() {
        let (out, _) = run(json!(
            "[{\"id\":\"1\",\"value\":\"Reader\",\"displayName\":\"Reader\"}, \"Writer\"]"
        ));
        assert_eq!(
            out,
            Some(json!([{"value": "Reader", "display": "Reader"}, "Writer"]))
        );
        let (out, _) = run(json!(["{\"id\":\"1\",\"value\":\"Reader\"}"]));
        assert_eq!(out, Some(json!([{"value": "Reader"}])));
    }

    #[test]
    fn post_display_name_becomes_display() {
        let (out, notes) = run(json!([{
            "primary": false,
            "type": "WindowsAzureActiveDirectoryRole",
            "displayName": "Admin",
            "value": "Admin"
        }]));
        assert_eq!(
            out,
            Some(json!([{
                "primary": false,
                "type": "WindowsAzureActiveDirectoryRole",
                "display": "Admin",
                "value": "Admin"
            }]))
        );
        assert_eq!(notes, ["'roles.displayName' read as 'roles.display'"]);
    }

    #[test]
    fn ordinary_values_and_other_attributes_are_left_alone() {
        let none: (Option<Value>, Vec<String>) = (None, vec![]);
        assert_eq!(run(json!([{"value": "Admin"}])), none);
        assert_eq!(run(json!("Admin")), none);
        // Text that only looks like JSON stays a role name.
        assert_eq!(run(json!([{"value": "{not json"}])), none);
        let reg = Registry::load().unwrap();
        let emails = reg.core(ResourceKind::User).attr("emails").unwrap();
        let mut notes = Notes::default();
        assert_eq!(
            decode(
                emails,
                &json!([{"value": "{\"value\":\"x\"}"}]),
                "emails",
                &mut notes
            ),
            None
        );
    }
}
