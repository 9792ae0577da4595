//! `attributes` and `excludedAttributes` (RFC 7644 §3.4.2.5) with the schema's `returned`
//! rules: `always` is always there, `never` never, `request` only when asked for.

use serde_json::{Map, Value};

use super::schema::{Attribute, Registry, ResourceKind, Returned, Target};

/// One attribute named in a list: `ext` is the extension URN (None for core and common).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    ext: Option<String>,
    /// `None`: the whole extension.
    name: Option<String>,
    sub: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Projection {
    only: Option<Vec<Named>>,
    excluded: Vec<Named>,
}

impl Projection {
    /// Parses comma-separated lists. Names that resolve to nothing are ignored: a client
    /// asking for an attribute Roster does not have simply does not get it.
    pub fn parse(
        reg: &Registry,
        kind: ResourceKind,
        attributes: Option<&str>,
        excluded: Option<&str>,
    ) -> Projection {
        let list = |s: &str| -> Vec<Named> {
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .filter_map(|p| resolve(reg, kind, p))
                .collect()
        };
        Projection {
            only: attributes.map(list).filter(|l| !l.is_empty()),
            excluded: excluded.map(list).unwrap_or_default(),
        }
    }

    /// Whether `attributes` names this attribute itself (not merely leaves it in by default).
    pub fn names(&self, name: &str) -> bool {
        self.wants(name)
            && self.only.as_ref().is_some_and(|list| {
                list.iter()
                    .any(|n| n.ext.is_none() && n.name.as_deref() == Some(name))
            })
    }

    /// Whether `attributes` names an extension or one of its attributes (an extension whose
    /// attributes are all `returned: request` is shown only then).
    pub fn names_schema(&self, urn: &str) -> bool {
        self.only
            .as_ref()
            .is_some_and(|list| list.iter().any(|n| n.ext.as_deref() == Some(urn)))
    }

    /// Whether a group's `members` (or a user's `groups`) must be loaded at all.
    pub fn wants(&self, name: &str) -> bool {
        let named = |n: &Named| n.ext.is_none() && n.name.as_deref() == Some(name);
        if self.excluded.iter().any(|n| named(n) && n.sub.is_none()) {
            return false;
        }
        match &self.only {
            None => true,
            Some(list) => list.iter().any(named),
        }
    }

    /// Applies the projection to a rendered resource.
    pub fn apply(
        &self,
        reg: &Registry,
        kind: ResourceKind,
        doc: Map<String, Value>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in doc {
            if key == "schemas" || key == "id" {
                out.insert(key, value);
                continue;
            }
            if let Some(ext) = reg.extension(kind, &key) {
                let Value::Object(inner) = value else {
                    continue;
                };
                let mut kept = Map::new();
                for (k, v) in inner {
                    if let Some(attr) = ext.attr(&k) {
                        if let Some(v) = self.project(Some(&ext.id), attr, v) {
                            kept.insert(k, v);
                        }
                    }
                }
                if !kept.is_empty() {
                    out.insert(key, Value::Object(kept));
                }
                continue;
            }
            let attr = reg.core(kind).attr(&key).or_else(|| reg.common_attr(&key));
            if let Some(attr) = attr {
                if let Some(v) = self.project(None, attr, value) {
                    out.insert(key, v);
                }
            }
        }
        // `schemas` lists the core schema and the extensions the projected resource still
        // holds (not one the account has since removed).
        let core = reg.core(kind).id.as_str();
        let held: Vec<bool> = match out.get("schemas") {
            Some(Value::Array(schemas)) => schemas
                .iter()
                .map(|s| s.as_str().is_some_and(|s| s == core || out.contains_key(s)))
                .collect(),
            _ => vec![],
        };
        if let Some(Value::Array(schemas)) = out.get_mut("schemas") {
            let mut keep = held.into_iter();
            schemas.retain(|_| keep.next().unwrap_or(false));
        }
        out
    }

    fn project(&self, ext: Option<&str>, attr: &Attribute, value: Value) -> Option<Value> {
        match attr.returned {
            Returned::Always => return Some(value),
            Returned::Never => return None,
            _ => {}
        }
        let same = |n: &Named| {
            n.ext.as_deref() == ext && n.name.as_deref().is_none_or(|name| name == attr.name)
        };
        let whole = |n: &Named| same(n) && (n.name.is_none() || n.sub.is_none());
        if self.excluded.iter().any(whole) {
            return None;
        }
        let excluded_subs: Vec<&str> = self
            .excluded
            .iter()
            .filter(|n| same(n))
            .filter_map(|n| n.sub.as_deref())
            .collect();
        let only_subs: Option<Vec<&str>> = match &self.only {
            None => {
                if attr.returned == Returned::Request {
                    return None;
                }
                None
            }
            Some(list) => {
                if list.iter().any(whole) {
                    None
                } else {
                    let subs: Vec<&str> = list
                        .iter()
                        .filter(|n| same(n))
                        .filter_map(|n| n.sub.as_deref())
                        .collect();
                    if subs.is_empty() {
                        return None;
                    }
                    Some(subs)
                }
            }
        };
        if excluded_subs.is_empty() && only_subs.is_none() {
            return Some(value);
        }
        let keep = |k: &str| {
            let sub_always = attr.sub(k).is_some_and(|s| s.returned == Returned::Always);
            sub_always
                || (!excluded_subs.contains(&k)
                    && only_subs.as_ref().is_none_or(|o| o.contains(&k)))
        };
        let filter_obj = |o: Map<String, Value>| -> Map<String, Value> {
            o.into_iter().filter(|(k, _)| keep(k)).collect()
        };
        match value {
            Value::Object(o) => {
                let o = filter_obj(o);
                (!o.is_empty()).then_some(Value::Object(o))
            }
            Value::Array(items) => {
                let items: Vec<Value> = items
                    .into_iter()
                    .map(|i| match i {
                        Value::Object(o) => Value::Object(filter_obj(o)),
                        other => other,
                    })
                    .filter(|i| !matches!(i, Value::Object(o) if o.is_empty()))
                    .collect();
                (!items.is_empty()).then_some(Value::Array(items))
            }
            other => Some(other),
        }
    }
}

fn resolve(reg: &Registry, kind: ResourceKind, text: &str) -> Option<Named> {
    let path = super::limits::parse_path(text).ok()?;
    if path.filter.is_some() {
        return None;
    }
    let a = &path.attr;
    match reg
        .resolve(kind, a.uri.as_deref(), &a.name, a.sub_attr.as_deref())
        .ok()?
    {
        Target::Extension(s) => Some(Named {
            ext: Some(s.id.clone()),
            name: None,
            sub: None,
        }),
        Target::Attr(res) => Some(Named {
            ext: res.ext.map(str::to_string),
            name: Some(res.attr.name.clone()),
            sub: res.sub.map(|s| s.name.clone()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn project(attrs: Option<&str>, excluded: Option<&str>, doc: Value) -> Value {
        let reg = Registry::load().unwrap();
        let p = Projection::parse(&reg, ResourceKind::User, attrs, excluded);
        let Value::Object(doc) = doc else { panic!() };
        Value::Object(p.apply(&reg, ResourceKind::User, doc))
    }

    fn sample() -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "id": "1",
            "userName": "b",
            "name": {"givenName": "B", "familyName": "J"},
            "emails": [{"value": "b@x", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "S"},
            "meta": {"resourceType": "User"}
        })
    }

    #[test]
    fn attributes_keeps_only_those_and_always() {
        assert_eq!(
            project(Some("UserName,name.givenName"), None, sample()),
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "1", "userName": "b", "name": {"givenName": "B"}})
        );
        assert_eq!(
            project(
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
                None,
                sample()
            )
            .get("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
            Some(&json!({"department": "S"}))
        );
    }

    #[test]
    fn excluded_removes_but_never_id() {
        let v = project(None, Some("emails,id,name.familyName,meta"), sample());
        assert!(v.get("emails").is_none());
        assert!(v.get("meta").is_none());
        assert_eq!(v.get("id"), Some(&json!("1")));
        assert_eq!(v.get("name"), Some(&json!({"givenName": "B"})));
    }
}
