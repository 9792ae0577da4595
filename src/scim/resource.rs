//! Resource documents: what a client sent, normalised against the schema into the canonical
//! document Roster stores (schema-cased names, typed values, extensions under their URN),
//! and the stored document rendered back with `id` and `meta`.
//!
//! Provider quirks are rewritten here, once, each with a note: names in any case, booleans
//! as strings, dotted and URN-qualified keys, a bare string for a complex attribute with a
//! `value` (the enterprise `manager`), a single object where an array belongs, read-only or
//! unknown input ignored.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::schema::{AttrType, Attribute, Registry, ResourceKind, Target};
use super::{Notes, ROSTER_USER_SCHEMA};

/// A resource as the store holds it, ready to be rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub kind: ResourceKind,
    pub id: String,
    pub version: i64,
    pub created: String,
    pub last_modified: String,
    /// The canonical document: no `id`, no `meta`, no members or groups.
    pub doc: Map<String, Value>,
    /// Group members, or a user's groups: `None` when not loaded.
    pub refs: Option<Vec<MemberRef>>,
    /// A user's seats, shown in Roster's read-only user extension: `None` when not loaded.
    pub seats: Option<Vec<SeatInfo>>,
    /// Where a user stands beyond `active` (empty for groups).
    pub lifecycle: Lifecycle,
}

/// What Roster's lifecycle rules record of a user beyond `active`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// Since when the user is suspended.
    pub suspended_since: Option<String>,
    /// When the identity provider deleted the user while the account kept such users
    /// (`delete_action` `suspend`): admins see it, the identity provider no longer does.
    pub deleted_by_idp: Option<String>,
    /// The hold in which a deprovisioning of the user waits for an admin (the user keeps
    /// its seats meanwhile).
    pub held: Option<String>,
}

impl Stored {
    /// A user's status: `active`, `held` (active, a deprovisioning waits for an admin),
    /// `suspended`, or `deleted_by_idp` (suspended, and deleted as the identity provider
    /// sees it).
    pub fn status(&self) -> &'static str {
        let active = self
            .doc
            .get("active")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        match (&self.lifecycle, active) {
            (
                Lifecycle {
                    deleted_by_idp: Some(_),
                    ..
                },
                _,
            ) => "deleted_by_idp",
            (_, false) => "suspended",
            (Lifecycle { held: Some(_), .. }, true) => "held",
            (_, true) => "active",
        }
    }
}

/// One seat of a user, as the Roster user extension shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatInfo {
    pub product: String,
    /// `assigned` or `waitlisted`.
    pub state: String,
    pub since: String,
}

/// A member of a group (or a group a user belongs to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub id: String,
    /// `User` or `Group`.
    pub kind: ResourceKind,
    pub display: Option<String>,
}

/// The input of a create or replace, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalised {
    pub doc: Map<String, Value>,
    /// For groups: the member ids given, `None` when the input had no `members`.
    pub members: Option<Vec<String>>,
}

/// The ETag of a version: weak, as the version is a counter, not a hash of the bytes.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Reads a version back from an `If-Match`/`If-None-Match` value (`W/"3"`, `"3"` or `*`).
pub fn parse_etag(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    v.trim_matches('"').parse().ok()
}

/// Normalises a POST or PUT body.
pub fn normalise(
    reg: &Registry,
    kind: ResourceKind,
    input: &Value,
    notes: &mut Notes,
) -> Result<Normalised, ScimError> {
    let Some(obj) = input.as_object() else {
        return Err(ScimError::invalid_syntax(
            "the request body must be a JSON object",
        ));
    };
    let mut doc = Map::new();
    let mut members = None;
    for (key, value) in obj {
        match resolve_key(reg, kind, key, notes)? {
            Key::Skip => {}
            Key::Unmapped => unmapped(key, value, notes),
            Key::Members => members = Some(member_ids(value)?),
            Key::Extension(urn) => {
                let Some(inner) = value.as_object() else {
                    if value.is_null() {
                        continue;
                    }
                    return Err(ScimError::invalid_value(format!(
                        "'{key}' must be an object of extension attributes"
                    )));
                };
                for (k, v) in inner {
                    let full = format!("{urn}:{k}");
                    match resolve_key(reg, kind, &full, notes)? {
                        Key::Attr(loc) => set_value(&mut doc, &loc, v, notes)?,
                        Key::Skip => {}
                        Key::Unmapped => notes.unmapped(&full),
                        Key::Members | Key::Extension(_) => {
                            notes.push(format!("ignored '{k}' inside '{key}'"));
                        }
                    }
                }
            }
            Key::Attr(loc) => set_value(&mut doc, &loc, value, notes)?,
        }
    }
    // A user created or replaced without `active` is active.
    if kind == ResourceKind::User && !doc.contains_key("active") {
        doc.insert("active".into(), Value::Bool(true));
    }
    finish(reg, kind, &mut doc)?;
    if kind == ResourceKind::User {
        note_bad_emails(&doc, None, notes);
    }
    Ok(Normalised { doc, members })
}

/// Notes each `emails[].value` that fails the email rule ([`super::email::check`]) and is
/// not already in `before` (so a PATCH notes only what it brought). SCIM keeps such an
/// address: an identity provider's directory holds what it holds, and refusing the user
/// would stop its provisioning over a field Roster does not need to be well-formed.
pub fn note_bad_emails(
    doc: &Map<String, Value>,
    before: Option<&Map<String, Value>>,
    notes: &mut Notes,
) {
    let values = |d: &Map<String, Value>| -> Vec<String> {
        match d.get("emails") {
            Some(Value::Array(emails)) => emails
                .iter()
                .map(|e| {
                    e.get("value")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                })
                .collect(),
            _ => vec![],
        }
    };
    let old = before.map(values).unwrap_or_default();
    for (i, addr) in values(doc).iter().enumerate() {
        if addr.is_empty() || old.contains(addr) {
            continue;
        }
        if let Err(why) = super::email::check(addr) {
            notes.push(format!(
                "emails[{i}].value {} is not a valid email address ({why}); kept as sent",
                super::email::quoted(addr)
            ));
        }
    }
}

/// Checks required attributes and sets `schemas` to the core schema plus every extension
/// the document holds.
pub fn finish(
    reg: &Registry,
    kind: ResourceKind,
    doc: &mut Map<String, Value>,
) -> Result<(), ScimError> {
    let core = reg.core(kind);
    for attr in core.attributes.iter().filter(|a| a.required) {
        if !doc.contains_key(&attr.name) {
            return Err(ScimError::invalid_value(format!(
                "'{}' is required for a {}",
                attr.name,
                kind.name()
            )));
        }
    }
    // Empty extension objects are the same as absent ones.
    doc.retain(|_, v| !matches!(v, Value::Object(o) if o.is_empty()));
    // An extension the resource uses brings its required attributes.
    for ext in reg.extensions(kind) {
        let Some(Value::Object(values)) = doc.get(&ext.id) else {
            continue;
        };
        if let Some(attr) = ext
            .attributes
            .iter()
            .find(|a| a.required && !values.contains_key(&a.name))
        {
            return Err(ScimError::invalid_value(format!(
                "'{}:{}' is required when a {} uses {}",
                ext.id,
                attr.name,
                kind.name(),
                ext.id
            )));
        }
    }
    let mut schemas = vec![Value::from(core.id.as_str())];
    for ext in reg.extensions(kind) {
        if doc.contains_key(&ext.id) {
            schemas.push(Value::from(ext.id.as_str()));
        }
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    super::limits::check_document(doc)
}

/// Where a key of an input object leads.
pub(crate) enum Key<'r> {
    /// Read-only or dropped: the note says which.
    Skip,
    /// In no schema of the account: the caller notes it ([`unmapped`]).
    Unmapped,
    /// A group's `members`: kept out of the document.
    Members,
    /// A whole extension object.
    Extension(&'r str),
    Attr(Loc<'r>),
}

/// A writable attribute's place in the canonical document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loc<'r> {
    pub ext: Option<&'r str>,
    pub attr: &'r Attribute,
    pub sub: Option<&'r Attribute>,
}

/// Resolves an input key: a name in any case, `name.sub`, or `urn:...:name[.sub]`.
pub(crate) fn resolve_key<'r>(
    reg: &'r Registry,
    kind: ResourceKind,
    key: &str,
    notes: &mut Notes,
) -> Result<Key<'r>, ScimError> {
    if key == "schemas" {
        return Ok(Key::Skip);
    }
    if key.eq_ignore_ascii_case("password") {
        notes.push("password dropped: Roster never stores passwords".into());
        return Ok(Key::Skip);
    }
    let path = match super::limits::parse_path(key) {
        Ok(p) if p.filter.is_none() => p,
        _ => {
            return Ok(Key::Unmapped);
        }
    };
    let attr = &path.attr;
    let target = match reg.resolve(
        kind,
        attr.uri.as_deref(),
        &attr.name,
        attr.sub_attr.as_deref(),
    ) {
        Ok(t) => t,
        Err(_) => return Ok(Key::Unmapped),
    };
    let res = match target {
        Target::Extension(schema) => return Ok(Key::Extension(schema.id.as_str())),
        Target::Attr(res) => res,
    };
    if res.common {
        if res.attr.name == "externalId" {
            return Ok(Key::Attr(Loc {
                ext: None,
                attr: res.attr,
                sub: None,
            }));
        }
        return Ok(Key::Skip);
    }
    if kind == ResourceKind::Group && res.attr.name == "members" {
        if res.sub.is_some() {
            // `members.value` would write a member list into the document, where members
            // never live; members are given whole.
            notes.push(format!(
                "ignored '{key}': members are given whole, as {{\"value\": id}}"
            ));
            return Ok(Key::Skip);
        }
        return Ok(Key::Members);
    }
    if res.attr.is_read_only() || res.sub.is_some_and(|s| s.is_read_only()) {
        return Ok(Key::Skip);
    }
    if key != canonical_key(&res.attr.name, res.ext, res.sub.map(|s| s.name.as_str())) {
        notes.push(format!(
            "'{key}' read as '{}'",
            canonical_key(&res.attr.name, res.ext, res.sub.map(|s| s.name.as_str()))
        ));
    }
    Ok(Key::Attr(Loc {
        ext: res.ext,
        attr: res.attr,
        sub: res.sub,
    }))
}

/// Notes an input key no schema defines. An object under an unknown URN is an extension
/// the account has not registered: each of its attributes is named (`urn:...:User:costCenter`),
/// as an identity provider's mapping names them.
pub(crate) fn unmapped(key: &str, value: &Value, notes: &mut Notes) {
    match value.as_object() {
        Some(inner)
            if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
                && !inner.is_empty() =>
        {
            for k in inner.keys() {
                notes.unmapped(&format!("{key}:{k}"));
            }
        }
        _ => notes.unmapped(key),
    }
}

fn canonical_key(name: &str, ext: Option<&str>, sub: Option<&str>) -> String {
    let mut s = String::new();
    if let Some(e) = ext {
        s.push_str(e);
        s.push(':');
    }
    s.push_str(name);
    if let Some(sub) = sub {
        s.push('.');
        s.push_str(sub);
    }
    s
}

/// The object that holds `loc`'s attribute: the document, or its extension object.
pub(crate) fn container<'d>(
    doc: &'d mut Map<String, Value>,
    ext: Option<&str>,
) -> &'d mut Map<String, Value> {
    match ext {
        None => doc,
        Some(urn) => {
            let slot = doc
                .entry(urn.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            match slot {
                Value::Object(o) => o,
                _ => unreachable_object(),
            }
        }
    }
}

/// `container` just made the slot an object; this arm cannot be reached.
fn unreachable_object() -> ! {
    unreachable!("slot was set to an object above")
}

/// Sets (replaces) the value at `loc`, normalised; a sub-attribute merges into its parent.
pub(crate) fn set_value(
    doc: &mut Map<String, Value>,
    loc: &Loc<'_>,
    value: &Value,
    notes: &mut Notes,
) -> Result<(), ScimError> {
    let name = loc.attr.name.clone();
    match loc.sub {
        None => {
            let v = attr_value(loc.attr, value, &name, notes)?;
            let c = container(doc, loc.ext);
            match v {
                // `name.givenName` and `name` in one body: both parts count.
                Some(Value::Object(new)) if !loc.attr.multi_valued => match c.get_mut(&name) {
                    Some(Value::Object(old)) => old.extend(new),
                    _ => {
                        c.insert(name, Value::Object(new));
                    }
                },
                Some(v) => {
                    c.insert(name, v);
                }
                None => {
                    c.remove(&name);
                }
            }
        }
        Some(sub) => {
            let path = format!("{name}.{}", sub.name);
            let v = attr_value(sub, value, &path, notes)?;
            let c = container(doc, loc.ext);
            if loc.attr.multi_valued {
                // `emails.value` without a filter: every element takes the value.
                let elems = c.entry(name).or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(items) = elems {
                    if items.is_empty() {
                        items.push(Value::Object(Map::new()));
                    }
                    for item in items.iter_mut() {
                        if let Value::Object(o) = item {
                            set_or_remove(o, &sub.name, v.clone());
                        }
                    }
                }
            } else {
                let parent = c
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !parent.is_object() {
                    *parent = Value::Object(Map::new());
                }
                if let Value::Object(o) = parent {
                    set_or_remove(o, &sub.name, v);
                    if o.is_empty() {
                        c.remove(&name);
                    }
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn set_or_remove(obj: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    match v {
        Some(v) => {
            obj.insert(key.to_string(), v);
        }
        None => {
            obj.remove(key);
        }
    }
}

/// Normalises one attribute's value. `None` means unassigned (null, empty string, empty
/// array or object).
pub(crate) fn attr_value(
    attr: &Attribute,
    value: &Value,
    path: &str,
    notes: &mut Notes,
) -> Result<Option<Value>, ScimError> {
    // Entra's app roles arrive as JSON text: decoded first, then typed as any other value.
    let decoded = super::roles::decode(attr, value, path, notes);
    let value = decoded.as_ref().unwrap_or(value);
    if value.is_null() {
        return Ok(None);
    }
    if !attr.multi_valued {
        if let Value::Array(items) = value {
            // A one-element array for a singular attribute: take the element.
            return match items.as_slice() {
                [] => Ok(None),
                [one] => {
                    notes.push(format!(
                        "'{path}' given as a one-element list; read as a single value"
                    ));
                    single_value(attr, one, path, notes)
                }
                _ => Err(ScimError::invalid_value(format!(
                    "'{path}' holds a single value, not a list"
                ))),
            };
        }
        return single_value(attr, value, path, notes);
    }
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => {
            notes.push(format!(
                "'{path}' given as a single value; read as a list of one"
            ));
            vec![other]
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(v) = single_value(attr, item, path, notes)? {
            out.push(v);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Array(out)))
}

fn single_value(
    attr: &Attribute,
    value: &Value,
    path: &str,
    notes: &mut Notes,
) -> Result<Option<Value>, ScimError> {
    let wrong = |what: &str| ScimError::invalid_value(format!("'{path}' must be {what}"));
    match attr.ty {
        AttrType::Complex => match value {
            Value::Object(obj) => {
                let mut out = Map::new();
                for (k, v) in obj {
                    let Some(sub) = attr.sub(k) else {
                        notes.unmapped(&format!("{path}.{k}"));
                        continue;
                    };
                    if sub.is_read_only() {
                        continue;
                    }
                    if sub.name != *k {
                        notes.push(format!("'{path}.{k}' read as '{path}.{}'", sub.name));
                    }
                    let sub_path = format!("{path}.{}", sub.name);
                    if let Some(v) = single_value(sub, v, &sub_path, notes)? {
                        out.insert(sub.name.clone(), v);
                    }
                }
                Ok((!out.is_empty()).then_some(Value::Object(out)))
            }
            Value::String(s) if attr.sub("value").is_some() => {
                if s.is_empty() {
                    return Ok(None);
                }
                notes.push(format!(
                    "'{path}' given as a string; read as {{\"value\": ...}}"
                ));
                let mut out = Map::new();
                out.insert("value".into(), Value::String(s.clone()));
                Ok(Some(Value::Object(out)))
            }
            Value::Null => Ok(None),
            _ => Err(wrong("an object")),
        },
        AttrType::String | AttrType::Reference | AttrType::Binary => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(_) => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            _ => Err(wrong("a string")),
        },
        AttrType::DateTime => match value {
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(_) => Ok(Some(value.clone())),
                Err(_) => Err(wrong("a date-time like 2024-05-13T04:42:34Z")),
            },
            Value::Null => Ok(None),
            _ => Err(wrong("a date-time string")),
        },
        AttrType::Boolean => match value {
            Value::Bool(_) => Ok(Some(value.clone())),
            Value::String(s)
                if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
            {
                notes.push(format!(
                    "'{path}' given as the string \"{s}\"; read as a boolean"
                ));
                Ok(Some(Value::Bool(s.eq_ignore_ascii_case("true"))))
            }
            Value::Null => Ok(None),
            _ => Err(wrong("true or false")),
        },
        AttrType::Integer => match value {
            Value::Number(n) if n.is_i64() => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            _ => Err(wrong("an integer")),
        },
        AttrType::Decimal => match value {
            Value::Number(_) => Ok(Some(value.clone())),
            Value::Null => Ok(None),
            _ => Err(wrong("a number")),
        },
    }
}

/// The identity keys of a user document: its emails and an email-shaped userName,
/// lower-cased. A person's identity belongs to one account only.
pub fn identity_keys(doc: &Map<String, Value>) -> Vec<String> {
    let mut keys: Vec<String> = vec![];
    if let Some(Value::Array(emails)) = doc.get("emails") {
        for e in emails {
            if let Some(v) = e.get("value").and_then(Value::as_str) {
                keys.push(v.trim().to_lowercase());
            }
        }
    }
    if let Some(u) = doc.get("userName").and_then(Value::as_str) {
        if u.contains('@') {
            keys.push(u.trim().to_lowercase());
        }
    }
    keys.retain(|k| !k.is_empty());
    keys.sort();
    keys.dedup();
    keys
}

/// Member ids from a `members` value: a list of `{"value": id}` (other sub-attributes,
/// `display` and `$ref` included, are ignored) or bare ids.
pub fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let items: Vec<&Value> = match value {
        Value::Null => return Ok(vec![]),
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("value"))
                .and_then(|(_, v)| v.as_str()),
            _ => None,
        };
        match id {
            Some(id) if !id.is_empty() => ids.push(id.to_string()),
            _ => {
                return Err(ScimError::invalid_value(
                    "each member needs a \"value\" holding the member's id",
                ))
            }
        }
    }
    super::limits::check_members(&ids)?;
    Ok(ids)
}

/// Renders a stored resource as the client sees it, before projection.
pub fn render(stored: &Stored, base_url: &str) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(s) = stored.doc.get("schemas") {
        out.insert("schemas".into(), s.clone());
    }
    out.insert("id".into(), Value::String(stored.id.clone()));
    for (k, v) in &stored.doc {
        if k != "schemas" {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(refs) = &stored.refs {
        let key = match stored.kind {
            ResourceKind::User => "groups",
            ResourceKind::Group => "members",
        };
        let items: Vec<Value> = refs
            .iter()
            .map(|m| {
                let mut o = Map::new();
                o.insert("value".into(), Value::String(m.id.clone()));
                o.insert(
                    "$ref".into(),
                    Value::String(format!("{base_url}/{}/{}", m.kind.endpoint(), m.id)),
                );
                if let Some(d) = &m.display {
                    o.insert("display".into(), Value::String(d.clone()));
                }
                let ty = match (stored.kind, m.kind) {
                    (ResourceKind::User, _) => "direct",
                    (ResourceKind::Group, k) => k.name(),
                };
                o.insert("type".into(), Value::String(ty.into()));
                Value::Object(o)
            })
            .collect();
        if !items.is_empty() {
            out.insert(key.into(), Value::Array(items));
        }
    }
    if let (ResourceKind::User, Some(seats)) = (stored.kind, &stored.seats) {
        let seats: Vec<Value> = seats
            .iter()
            .map(|s| {
                let mut o = Map::new();
                o.insert("product".into(), s.product.clone().into());
                o.insert("state".into(), s.state.clone().into());
                o.insert("since".into(), s.since.clone().into());
                Value::Object(o)
            })
            .collect();
        let mut ext = Map::new();
        ext.insert("status".into(), stored.status().into());
        ext.insert("seats".into(), Value::Array(seats));
        out.insert(ROSTER_USER_SCHEMA.into(), Value::Object(ext));
        if let Some(Value::Array(schemas)) = out.get_mut("schemas") {
            schemas.push(ROSTER_USER_SCHEMA.into());
        }
    }
    let mut meta = Map::new();
    meta.insert("resourceType".into(), stored.kind.name().into());
    meta.insert("created".into(), stored.created.clone().into());
    meta.insert("lastModified".into(), stored.last_modified.clone().into());
    meta.insert(
        "location".into(),
        format!("{base_url}/{}/{}", stored.kind.endpoint(), stored.id).into(),
    );
    meta.insert("version".into(), etag(stored.version).into());
    out.insert("meta".into(), Value::Object(meta));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reg() -> Registry {
        Registry::load().unwrap()
    }

    #[test]
    fn quirks_are_normalised_with_notes() {
        let mut notes = Notes::default();
        let n = normalise(
            &reg(),
            ResourceKind::User,
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "UserName": "bjensen",
                "Active": "False",
                "password": "secret",
                "name.givenName": "Barbara",
                "Name": {"FamilyName": "Jensen"},
                "emails": {"Value": "b@example.com", "Primary": "True"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": "m1"},
                "id": "ignored",
                "groups": [{"value": "g"}],
                "nonsense": 1
            }),
            &mut notes,
        )
        .unwrap();
        assert_eq!(
            Value::Object(n.doc),
            json!({
                "userName": "bjensen",
                "active": false,
                "name": {"givenName": "Barbara", "familyName": "Jensen"},
                "emails": [{"value": "b@example.com", "primary": true}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":
                    {"department": "Sales", "manager": {"value": "m1"}},
                "schemas": [
                    "urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
                ]
            })
        );
        assert!(notes.iter().any(|n| n.contains("password dropped")));
        assert!(notes.iter().any(|n| n.contains("\"False\"")));
        assert!(notes.iter().any(|n| n.contains("nonsense")));
    }

    #[test]
    fn wrong_types_and_missing_required_are_invalid_value() {
        let mut notes = Notes::default();
        let e = normalise(
            &reg(),
            ResourceKind::User,
            &json!({"userName": 5}),
            &mut notes,
        )
        .unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::InvalidValue));
        let e = normalise(
            &reg(),
            ResourceKind::User,
            &json!({"displayName": "x"}),
            &mut notes,
        )
        .unwrap_err();
        assert!(e.to_string().contains("userName"));
        let e = normalise(&reg(), ResourceKind::User, &json!([1]), &mut notes).unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::InvalidSyntax));
    }

    #[test]
    fn group_members_stay_out_of_the_document() {
        let mut notes = Notes::default();
        let n = normalise(
            &reg(),
            ResourceKind::Group,
            &json!({"displayName": "g", "members": [{"value": "u1", "display": "x", "$ref": null}, {"value": "u2"}]}),
            &mut notes,
        )
        .unwrap();
        assert_eq!(n.members, Some(vec!["u1".to_string(), "u2".to_string()]));
        assert!(!n.doc.contains_key("members"));
    }

    // Found by the fuzz smoke (`scim::fuzz`): `members.value` wrote `"members": [{"value":
    // "u1"}]` into the document, which a GET of an empty group then showed.
    #[test]
    fn bad_email_addresses_are_kept_with_a_note() {
        let mut notes = Notes::default();
        let n = normalise(
            &reg(),
            ResourceKind::User,
            &json!({"userName": "a", "emails": [{"value": "a@example.com"}, {"value": "x@"}]}),
            &mut notes,
        )
        .unwrap();
        assert_eq!(n.doc["emails"][1]["value"], json!("x@"));
        assert_eq!(
            notes.lines(),
            ["emails[1].value 'x@' is not a valid email address (nothing comes after the '@'); kept as sent"]
        );
        // Only what is new is noted again.
        let mut later = Notes::default();
        note_bad_emails(&n.doc, Some(&n.doc), &mut later);
        assert!(later.is_empty());
    }

    #[test]
    fn member_sub_attributes_are_dropped_with_a_note() {
        let mut notes = Notes::default();
        let n = normalise(
            &reg(),
            ResourceKind::Group,
            &json!({"displayName": "g", "members.value": "u1"}),
            &mut notes,
        )
        .unwrap();
        assert!(!n.doc.contains_key("members"));
        assert_eq!(n.members, None);
        assert!(notes.iter().any(|n| n.contains("members.value")));
    }
}
