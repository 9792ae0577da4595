//! PATCH (RFC 7644 §3.5.2): the request parsed into typed operations, applied to the
//! canonical document. A group's `members` never live in the document: operations on them
//! come out as [`MemberOp`]s, so adding one member costs the same in any group.

use serde_json::{Map, Value};

use crate::grammar::{self, CompValue, CompareOp, Filter, Number};

use super::error::ScimError;
use super::resource::{self, attr_value, container, resolve_key, set_or_remove, Key, Loc};
use super::schema::{AttrType, Attribute, Registry, ResourceKind, Target};
use super::Notes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

/// One operation of a PatchOp request.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub op: OpKind,
    pub path: Option<grammar::PatchPath>,
    pub value: Option<Value>,
}

/// A change to a group's member list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOp {
    Add(Vec<String>),
    Remove(Vec<String>),
    RemoveAll,
    Replace(Vec<String>),
}

/// Parses a PatchOp body: `Operations` (any case), `op` (any case), `path`, `value`.
pub fn parse_request(body: &Value, notes: &mut Notes) -> Result<Vec<Operation>, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "a PatchOp body must be a JSON object",
        ));
    };
    let ops = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Operations"))
        .map(|(k, v)| {
            if k != "Operations" {
                notes.push(format!("'{k}' read as 'Operations'"));
            }
            v
        });
    let Some(Value::Array(ops)) = ops else {
        return Err(ScimError::invalid_syntax(
            "a PatchOp body needs \"Operations\": a list of operations",
        ));
    };
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("\"Operations\" is empty"));
    }
    if ops.len() > super::limits::MAX_PATCH_OPERATIONS {
        return Err(ScimError::PayloadTooLarge {
            detail: format!(
                "{} operations in one PATCH; at most {}: send them in several requests",
                ops.len(),
                super::limits::MAX_PATCH_OPERATIONS
            ),
        });
    }
    ops.iter().map(|op| parse_operation(op, notes)).collect()
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn parse_operation(op: &Value, notes: &mut Notes) -> Result<Operation, ScimError> {
    let Some(obj) = op.as_object() else {
        return Err(ScimError::invalid_syntax(
            "each operation must be a JSON object",
        ));
    };
    let name = match field(obj, "op") {
        Some(Value::String(s)) => s.as_str(),
        _ => {
            return Err(ScimError::invalid_syntax(
                "each operation needs \"op\": add, replace or remove",
            ))
        }
    };
    let kind = match name.to_ascii_lowercase().as_str() {
        "add" => OpKind::Add,
        "replace" => OpKind::Replace,
        "remove" => OpKind::Remove,
        _ => {
            return Err(ScimError::invalid_syntax(format!(
                "unknown op \"{name}\": use add, replace or remove"
            )))
        }
    };
    if !matches!(name, "add" | "replace" | "remove") {
        notes.push(format!(
            "op \"{name}\" read as \"{}\"",
            name.to_ascii_lowercase()
        ));
    }
    let path = match field(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            let mut read = vec![];
            let path = super::limits::parse_path_noted(s, &mut read)
                .map_err(|e| ScimError::invalid_path(format!("invalid path \"{s}\": {e}")))?;
            for n in read {
                notes.push(n);
            }
            Some(path)
        }
        Some(_) => return Err(ScimError::invalid_path("\"path\" must be a string")),
    };
    let value = field(obj, "value").cloned();
    if kind != OpKind::Remove && value.is_none() {
        return Err(ScimError::invalid_syntax(format!(
            "op \"{name}\" needs a \"value\""
        )));
    }
    if kind == OpKind::Remove && path.is_none() {
        return Err(ScimError::no_target("op \"remove\" needs a \"path\""));
    }
    Ok(Operation {
        op: kind,
        path,
        value,
    })
}

/// The result of applying operations.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub doc: Map<String, Value>,
    pub members: Vec<MemberOp>,
}

/// Applies `ops` to a copy of `doc` and checks the result.
pub fn apply(
    reg: &Registry,
    kind: ResourceKind,
    doc: &Map<String, Value>,
    ops: &[Operation],
    notes: &mut Notes,
) -> Result<Applied, ScimError> {
    let mut out = Applied {
        doc: doc.clone(),
        members: vec![],
    };
    for op in ops {
        apply_one(reg, kind, &mut out, op, notes)?;
    }
    let named: Vec<String> = out
        .members
        .iter()
        .flat_map(|m| match m {
            MemberOp::Add(ids) | MemberOp::Remove(ids) | MemberOp::Replace(ids) => ids.clone(),
            MemberOp::RemoveAll => vec![],
        })
        .collect();
    super::limits::check_members(&named)?;
    resource::finish(reg, kind, &mut out.doc)?;
    if kind == ResourceKind::User {
        resource::note_bad_emails(&out.doc, Some(doc), notes);
    }
    Ok(out)
}

fn apply_one(
    reg: &Registry,
    kind: ResourceKind,
    out: &mut Applied,
    op: &Operation,
    notes: &mut Notes,
) -> Result<(), ScimError> {
    let value = op.value.as_ref().unwrap_or(&Value::Null);
    let Some(path) = &op.path else {
        // No path: the value is an object of attributes to add or replace.
        let Some(obj) = value.as_object() else {
            return Err(ScimError::invalid_value(
                "without a \"path\", \"value\" must be an object of attributes",
            ));
        };
        for (key, v) in obj {
            match resolve_key(reg, kind, key, notes)? {
                Key::Skip => {}
                Key::Unmapped => resource::unmapped(key, v, notes),
                Key::Members => out.members.push(member_op(op.op, v)?),
                Key::Extension(urn) => {
                    let Some(inner) = v.as_object() else {
                        return Err(ScimError::invalid_value(format!(
                            "'{key}' must be an object of extension attributes"
                        )));
                    };
                    for (k, v) in inner {
                        let full = format!("{urn}:{k}");
                        match resolve_key(reg, kind, &full, notes)? {
                            Key::Attr(loc) => write(&mut out.doc, op.op, &loc, None, v, notes)?,
                            Key::Unmapped => notes.unmapped(&full),
                            _ => {}
                        }
                    }
                }
                Key::Attr(loc) => write(&mut out.doc, op.op, &loc, None, v, notes)?,
            }
        }
        return Ok(());
    };

    let attr = &path.attr;
    if kind == ResourceKind::User && attr.name.eq_ignore_ascii_case("password") {
        notes.push("password dropped: Roster never stores passwords".into());
        return Ok(());
    }
    // A path in no schema of the account is ignored with a note, as an unknown attribute
    // of a POST is: refusing it would fail the identity provider's whole sync cycle.
    let Ok(target) = reg.resolve(
        kind,
        attr.uri.as_deref(),
        &attr.name,
        attr.sub_attr.as_deref(),
    ) else {
        notes.unmapped(&attr.to_string());
        return Ok(());
    };
    let res = match target {
        Target::Extension(schema) => {
            let urn = schema.id.as_str();
            return match op.op {
                OpKind::Remove => {
                    out.doc.remove(urn);
                    Ok(())
                }
                _ => {
                    let Some(inner) = value.as_object() else {
                        return Err(ScimError::invalid_value(format!(
                            "the value for '{urn}' must be an object of its attributes"
                        )));
                    };
                    for (k, v) in inner {
                        let full = format!("{urn}:{k}");
                        match resolve_key(reg, kind, &full, notes)? {
                            Key::Attr(loc) => write(&mut out.doc, op.op, &loc, None, v, notes)?,
                            Key::Unmapped => notes.unmapped(&full),
                            _ => {}
                        }
                    }
                    Ok(())
                }
            };
        }
        Target::Attr(res) => res,
    };
    let shown = path.to_string();
    if kind == ResourceKind::Group && res.attr.name == "members" {
        return members_by_path(out, op, path, value, &shown);
    }
    if res.common {
        if res.attr.name != "externalId" {
            return Err(ScimError::mutability(format!("'{shown}' is read-only")));
        }
    } else if res.attr.is_read_only() || res.sub.is_some_and(|s| s.is_read_only()) {
        return Err(ScimError::mutability(format!("'{shown}' is read-only")));
    }
    // `attr[filter].sub`: the sub-attribute comes after the filter.
    let sub = match (&path.sub_attr, res.sub) {
        (Some(s), _) => Some(res.attr.sub(s).ok_or_else(|| {
            ScimError::invalid_path(format!(
                "'{s}' is not a sub-attribute of '{}'",
                res.attr.name
            ))
        })?),
        (None, s) => s,
    };
    if sub.is_some_and(|s| s.is_read_only()) {
        return Err(ScimError::mutability(format!("'{shown}' is read-only")));
    }
    let loc = Loc {
        ext: res.ext,
        attr: res.attr,
        sub: None,
    };
    let filter = path.filter.as_ref();
    if let (Some(f), false) = (filter, res.attr.multi_valued) {
        if res.attr.ty != AttrType::Complex {
            return Err(ScimError::invalid_path(format!(
                "'{}' is not multi-valued; a value filter does not apply",
                res.attr.name
            )));
        }
        return singular_filtered(&mut out.doc, op.op, &loc, f, sub, value, &shown, notes);
    }
    match op.op {
        OpKind::Remove => {
            // Values listed for removal are read as values to add would be (Entra's roles).
            let listed = op.value.as_ref().map(|v| {
                super::roles::decode(res.attr, v, &shown, notes).unwrap_or_else(|| v.clone())
            });
            remove(&mut out.doc, &loc, filter, sub, listed.as_ref(), &shown)
        }
        _ => match (filter, sub) {
            (None, None) => write(&mut out.doc, op.op, &loc, None, value, notes),
            (None, Some(sub)) => {
                let loc = Loc {
                    sub: Some(sub),
                    ..loc
                };
                resource::set_value(&mut out.doc, &loc, value, notes)
            }
            (Some(f), sub) => {
                write_filtered(&mut out.doc, op.op, &loc, f, sub, value, &shown, notes)
            }
        },
    }
}

/// `add` or `replace` of a whole attribute (no filter).
fn write(
    doc: &mut Map<String, Value>,
    op: OpKind,
    loc: &Loc<'_>,
    _filter: Option<&Filter>,
    value: &Value,
    notes: &mut Notes,
) -> Result<(), ScimError> {
    if loc.sub.is_some() {
        return resource::set_value(doc, loc, value, notes);
    }
    let attr = loc.attr;
    let name = attr.name.as_str();
    let new = attr_value(attr, value, name, notes)?;
    let c = container(doc, loc.ext);
    match (op, new) {
        (_, None) => {
            if op == OpKind::Replace {
                c.remove(name);
            }
        }
        (OpKind::Add, Some(Value::Array(items))) if attr.multi_valued => {
            let existing = c
                .entry(name.to_string())
                .or_insert_with(|| Value::Array(vec![]));
            if !existing.is_array() {
                *existing = Value::Array(vec![]);
            }
            if let Value::Array(list) = existing {
                for item in items {
                    if item.get("primary") == Some(&Value::Bool(true)) {
                        // RFC 7644 §3.5.2.1: a new primary value demotes the old one.
                        for old in list.iter_mut() {
                            if let Value::Object(o) = old {
                                if o.get("primary") == Some(&Value::Bool(true)) {
                                    o.insert("primary".into(), Value::Bool(false));
                                }
                            }
                        }
                    }
                    if !list.contains(&item) {
                        list.push(item);
                    }
                }
            }
        }
        (_, Some(Value::Object(new_obj))) if attr.ty == AttrType::Complex && !attr.multi_valued => {
            // Sub-attributes not given are left as they were.
            let existing = c
                .entry(name.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !existing.is_object() {
                *existing = Value::Object(Map::new());
            }
            if let Value::Object(o) = existing {
                for (k, v) in new_obj {
                    o.insert(k, v);
                }
            }
        }
        (_, Some(v)) => {
            c.insert(name.to_string(), v);
        }
    }
    Ok(())
}

/// `add`/`replace` at `attr[filter]` or `attr[filter].sub`. No matching element: one is
/// created from the filter's `eq` terms (providers send `emails[type eq "work"].value` to
/// set a work email that does not exist yet).
#[allow(clippy::too_many_arguments)]
fn write_filtered(
    doc: &mut Map<String, Value>,
    op: OpKind,
    loc: &Loc<'_>,
    filter: &Filter,
    sub: Option<&Attribute>,
    value: &Value,
    shown: &str,
    notes: &mut Notes,
) -> Result<(), ScimError> {
    let attr = loc.attr;
    let new_value = match sub {
        Some(s) => attr_value(s, value, shown, notes)?,
        None => {
            let as_single = Attribute {
                multi_valued: false,
                ..attr.clone()
            };
            attr_value(&as_single, value, shown, notes)?
        }
    };
    let c = container(doc, loc.ext);
    let list = c
        .entry(attr.name.clone())
        .or_insert_with(|| Value::Array(vec![]));
    if !list.is_array() {
        *list = Value::Array(vec![]);
    }
    let Value::Array(items) = list else {
        return Ok(());
    };
    let mut matched = false;
    for item in items.iter_mut() {
        if !matches(attr, item, filter)? {
            continue;
        }
        matched = true;
        let Value::Object(obj) = item else { continue };
        match sub {
            Some(s) => set_or_remove(obj, &s.name, new_value.clone()),
            None => match (&new_value, op) {
                (Some(Value::Object(n)), OpKind::Add) => {
                    for (k, v) in n {
                        obj.insert(k.clone(), v.clone());
                    }
                }
                (Some(Value::Object(n)), _) => *obj = n.clone(),
                _ => {}
            },
        }
    }
    if !matched {
        if let Some(v) = new_value {
            let mut elem = Map::new();
            for (eq, lit) in filter_equalities(attr, filter) {
                // The filter's literal becomes a stored value: typed as any other input.
                let at = format!("{}.{}", attr.name, eq.name);
                if let Some(v) = attr_value(eq, &lit, &at, notes)? {
                    elem.insert(eq.name.clone(), v);
                }
            }
            match (sub, v) {
                (Some(s), v) => {
                    elem.insert(s.name.clone(), v);
                }
                (None, Value::Object(n)) => {
                    for (k, v) in n {
                        elem.insert(k, v);
                    }
                }
                (None, _) => {}
            }
            notes.push(format!("'{shown}' matched nothing; added a new element"));
            items.push(Value::Object(elem));
        }
    }
    items.retain(|i| !matches!(i, Value::Object(o) if o.is_empty()));
    if items.is_empty() {
        c.remove(&attr.name);
    }
    Ok(())
}

/// A value filter on a singular complex attribute, as Entra sends it:
/// `manager[value eq "id"]`. The filter selects the one value when it matches. `remove`
/// clears a matching value (or its sub-attribute) and leaves another one alone. `add` and
/// `replace` write when the value matches, or when there is none: the new value then starts
/// from the filter's `eq` terms, as a filtered add on an absent element does. A value that
/// is there and does not match is `noTarget`: writing over it would change what the client
/// did not select.
#[allow(clippy::too_many_arguments)]
fn singular_filtered(
    doc: &mut Map<String, Value>,
    op: OpKind,
    loc: &Loc<'_>,
    filter: &Filter,
    sub: Option<&Attribute>,
    value: &Value,
    shown: &str,
    notes: &mut Notes,
) -> Result<(), ScimError> {
    let attr = loc.attr;
    let c = container(doc, loc.ext);
    let current = match c.get(&attr.name) {
        None | Some(Value::Null) => None,
        Some(v) => Some((v.clone(), matches(attr, v, filter)?)),
    };
    let mut obj = match (op, current) {
        (OpKind::Remove, Some((Value::Object(mut o), true))) => {
            match sub {
                Some(s) => {
                    o.remove(&s.name);
                }
                None => o.clear(),
            }
            o
        }
        // Nothing there, or not the value the filter selects: nothing to remove.
        (OpKind::Remove, _) => return Ok(()),
        (_, Some((_, false))) => {
            return Err(ScimError::no_target(format!(
                "'{shown}' selects nothing: '{}' holds another value",
                attr.name
            )))
        }
        (_, Some((Value::Object(o), true))) => {
            let new = match sub {
                Some(s) => attr_value(s, value, shown, notes)?,
                None => attr_value(attr, value, shown, notes)?,
            };
            let mut o = o;
            match (sub, new) {
                (Some(s), v) => set_or_remove(&mut o, &s.name, v),
                (None, Some(Value::Object(n))) if op == OpKind::Add => o.extend(n),
                (None, Some(Value::Object(n))) => o = n,
                (None, _) if op == OpKind::Replace => o.clear(),
                (None, _) => {}
            }
            o
        }
        // Nothing there (a stored value is always an object, so nothing else reaches here).
        _ => {
            let new = match sub {
                Some(s) => attr_value(s, value, shown, notes)?,
                None => attr_value(attr, value, shown, notes)?,
            };
            let Some(new) = new else {
                return Ok(());
            };
            let mut o = Map::new();
            for (eq, lit) in filter_equalities(attr, filter) {
                let at = format!("{}.{}", attr.name, eq.name);
                if let Some(v) = attr_value(eq, &lit, &at, notes)? {
                    o.insert(eq.name.clone(), v);
                }
            }
            match (sub, new) {
                (Some(s), v) => {
                    o.insert(s.name.clone(), v);
                }
                (None, Value::Object(n)) => o.extend(n),
                (None, _) => {}
            }
            notes.push(format!("'{shown}' matched nothing; set a new value"));
            o
        }
    };
    obj.retain(|_, v| !v.is_null());
    if obj.is_empty() {
        c.remove(&attr.name);
    } else {
        c.insert(attr.name.clone(), Value::Object(std::mem::take(&mut obj)));
    }
    Ok(())
}

fn remove(
    doc: &mut Map<String, Value>,
    loc: &Loc<'_>,
    filter: Option<&Filter>,
    sub: Option<&Attribute>,
    value: Option<&Value>,
    shown: &str,
) -> Result<(), ScimError> {
    let attr = loc.attr;
    if attr.required && filter.is_none() && sub.is_none() {
        return Err(ScimError::mutability(format!(
            "'{shown}' is required and cannot be removed"
        )));
    }
    let c = container(doc, loc.ext);
    let Some(current) = c.get_mut(&attr.name) else {
        return Ok(());
    };
    match (filter, sub) {
        (None, None) => {
            let listed = value.filter(|v| !v.is_null());
            match (current, listed) {
                (Value::Array(items), Some(v)) => {
                    // Remove only the listed values.
                    let wanted: Vec<&Value> = match v {
                        Value::Array(vs) => vs.iter().collect(),
                        other => vec![other],
                    };
                    items.retain(|item| !wanted.iter().any(|w| same_element(item, w)));
                }
                _ => {
                    c.remove(&attr.name);
                }
            }
        }
        (None, Some(s)) => match current {
            Value::Object(o) => {
                o.remove(&s.name);
            }
            Value::Array(items) => {
                for item in items.iter_mut() {
                    if let Value::Object(o) = item {
                        o.remove(&s.name);
                    }
                }
            }
            _ => {}
        },
        (Some(f), s) => {
            let Value::Array(items) = current else {
                return Ok(());
            };
            let mut kept = Vec::with_capacity(items.len());
            for mut item in std::mem::take(items) {
                if matches(attr, &item, f)? {
                    // With a sub-attribute only that goes; without, the element goes.
                    if let (Some(s), Value::Object(o)) = (s, &mut item) {
                        o.remove(&s.name);
                        kept.push(item);
                    }
                } else {
                    kept.push(item);
                }
            }
            *items = kept;
        }
    }
    if let Some(v) = c.get(&attr.name) {
        let empty = match v {
            Value::Array(a) => a
                .iter()
                .all(|i| matches!(i, Value::Object(o) if o.is_empty())),
            Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if empty {
            c.remove(&attr.name);
        }
    }
    Ok(())
}

/// Does `item` stand for `wanted`: equal, or the same `value` sub-attribute.
fn same_element(item: &Value, wanted: &Value) -> bool {
    if item == wanted {
        return true;
    }
    let value_of = |v: &Value| match v {
        Value::Object(o) => o
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("value"))
            .map(|(_, v)| v.clone()),
        other => Some(other.clone()),
    };
    match (value_of(item), value_of(wanted)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

fn member_op(op: OpKind, value: &Value) -> Result<MemberOp, ScimError> {
    let ids = resource::member_ids(value)?;
    Ok(match op {
        OpKind::Add => MemberOp::Add(ids),
        OpKind::Replace => MemberOp::Replace(ids),
        OpKind::Remove if ids.is_empty() => MemberOp::RemoveAll,
        OpKind::Remove => MemberOp::Remove(ids),
    })
}

/// `members`, `members[value eq "id"]` (or several `value eq` joined by `or`).
fn members_by_path(
    out: &mut Applied,
    op: &Operation,
    path: &grammar::PatchPath,
    value: &Value,
    shown: &str,
) -> Result<(), ScimError> {
    if path.attr.sub_attr.is_some() || path.sub_attr.is_some() {
        return Err(ScimError::invalid_path(format!(
            "'{shown}': members are added or removed whole; their sub-attributes cannot be changed"
        )));
    }
    match (&path.filter, op.op) {
        (None, OpKind::Remove) => {
            out.members.push(member_op(
                OpKind::Remove,
                op.value.as_ref().unwrap_or(&Value::Null),
            )?);
        }
        (None, kind) => out.members.push(member_op(kind, value)?),
        (Some(f), OpKind::Remove) => {
            let mut ids = vec![];
            member_filter_ids(f, &mut ids).ok_or_else(|| {
                ScimError::invalid_filter(format!(
                    "'{shown}': a members filter may only compare value with eq"
                ))
            })?;
            out.members.push(MemberOp::Remove(ids));
        }
        (Some(_), _) => {
            return Err(ScimError::invalid_path(format!(
                "'{shown}': use add with path \"members\" to add members"
            )))
        }
    }
    Ok(())
}

fn member_filter_ids(f: &Filter, ids: &mut Vec<String>) -> Option<()> {
    match f {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value: CompValue::Str(s),
        } if path.name.eq_ignore_ascii_case("value") && path.sub_attr.is_none() => {
            ids.push(s.clone());
            Some(())
        }
        Filter::Or(a, b) => {
            member_filter_ids(a, ids)?;
            member_filter_ids(b, ids)
        }
        _ => None,
    }
}

/// The `sub eq literal` terms of a filter's top-level conjunction, to build a new element.
fn filter_equalities<'a>(attr: &'a Attribute, f: &Filter) -> Vec<(&'a Attribute, Value)> {
    let mut out = vec![];
    fn walk<'a>(attr: &'a Attribute, f: &Filter, out: &mut Vec<(&'a Attribute, Value)>) {
        match f {
            Filter::And(a, b) => {
                walk(attr, a, out);
                walk(attr, b, out);
            }
            Filter::Compare {
                path,
                op: CompareOp::Eq,
                value,
            } => {
                if let Some(sub) = attr.sub(&path.name) {
                    out.push((sub, literal(value)));
                }
            }
            _ => {}
        }
    }
    walk(attr, f, &mut out);
    out
}

fn literal(v: &CompValue) -> Value {
    match v {
        CompValue::Null => Value::Null,
        CompValue::Bool(b) => Value::Bool(*b),
        CompValue::Number(Number::Int(i)) => Value::from(*i),
        CompValue::Number(Number::Decimal(d)) => Value::from(*d),
        CompValue::Str(s) => Value::String(s.clone()),
    }
}

/// Evaluates a value filter against one element of a multi-valued attribute.
pub fn matches(attr: &Attribute, item: &Value, f: &Filter) -> Result<bool, ScimError> {
    Ok(match f {
        Filter::And(a, b) => matches(attr, item, a)? && matches(attr, item, b)?,
        Filter::Or(a, b) => matches(attr, item, a)? || matches(attr, item, b)?,
        Filter::Not(a) => !matches(attr, item, a)?,
        Filter::ValuePath { .. } => {
            return Err(ScimError::invalid_filter("value filters cannot be nested"))
        }
        Filter::Present(p) => {
            let (sub, v) = element_field(attr, item, &p.name)?;
            let _ = sub;
            match v {
                None | Some(Value::Null) => false,
                Some(Value::String(s)) => !s.is_empty(),
                Some(_) => true,
            }
        }
        Filter::Compare { path, op, value } => {
            let (sub, v) = element_field(attr, item, &path.name)?;
            compare(sub, v, *op, value)
        }
    })
}

/// The sub-attribute a path inside `attr[...]` names, and the element's value for it. A
/// multi-valued attribute of simple values is matched through the name `value`.
fn element_field<'a>(
    attr: &'a Attribute,
    item: &'a Value,
    name: &str,
) -> Result<(Option<&'a Attribute>, Option<&'a Value>), ScimError> {
    if attr.ty != AttrType::Complex {
        return Ok((Some(attr), Some(item)));
    }
    let sub = attr.sub(name).ok_or_else(|| {
        ScimError::invalid_filter(format!(
            "'{name}' is not a sub-attribute of '{}'",
            attr.name
        ))
    })?;
    Ok((Some(sub), item.get(&sub.name)))
}

fn compare(sub: Option<&Attribute>, v: Option<&Value>, op: CompareOp, lit: &CompValue) -> bool {
    let case_exact = sub.is_some_and(|s| s.case_exact);
    match (v, lit) {
        (None | Some(Value::Null), CompValue::Null) => op == CompareOp::Eq,
        (None | Some(Value::Null), _) => op == CompareOp::Ne,
        (Some(Value::String(a)), CompValue::Str(b)) => {
            let (a, b) = if case_exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            }
        }
        (Some(Value::Bool(a)), CompValue::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        (Some(Value::Number(a)), CompValue::Number(b)) => {
            let (Some(a), b) = (
                a.as_f64(),
                match b {
                    Number::Int(i) => *i as f64,
                    Number::Decimal(d) => *d,
                },
            ) else {
                return false;
            };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
                _ => false,
            }
        }
        _ => op == CompareOp::Ne,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(kind: ResourceKind, doc: Value, body: Value) -> Result<Applied, ScimError> {
        let reg = Registry::load().unwrap();
        let mut notes = Notes::default();
        let ops = parse_request(&body, &mut notes)?;
        let Value::Object(doc) = doc else { panic!() };
        apply(&reg, kind, &doc, &ops, &mut notes)
    }

    fn user(extra: Value) -> Value {
        let mut base = json!({"userName": "bjensen", "active": true});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        base
    }

    #[test]
    fn azure_style_replace_with_string_boolean() {
        let out = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .unwrap();
        assert_eq!(out.doc.get("active"), Some(&json!(false)));
    }

    #[test]
    fn filtered_add_on_absent_element_creates_it() {
        let out = run(
            ResourceKind::User,
            user(json!({})),
            json!({"operations": [{"op": "add", "path": "emails[type eq \"work\"].value", "value": "w@x.com"}]}),
        )
        .unwrap();
        assert_eq!(
            out.doc.get("emails"),
            Some(&json!([{"type": "work", "value": "w@x.com"}]))
        );
    }

    #[test]
    fn filtered_replace_changes_only_matching_elements() {
        let out = run(
            ResourceKind::User,
            user(json!({"emails": [{"type": "work", "value": "a@x"}, {"type": "home", "value": "b@x"}]})),
            json!({"Operations": [{"op": "replace", "path": "emails[type eq \"WORK\"].value", "value": "c@x"}]}),
        )
        .unwrap();
        assert_eq!(
            out.doc.get("emails"),
            Some(&json!([{"type": "work", "value": "c@x"}, {"type": "home", "value": "b@x"}]))
        );
    }

    #[test]
    fn no_path_with_dotted_and_urn_keys() {
        let out = run(
            ResourceKind::User,
            user(json!({"name": {"familyName": "J"}})),
            json!({"Operations": [{"op": "replace", "value": {
                "name.givenName": "Barbara",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Sales",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager": "boss"
            }}]}),
        )
        .unwrap();
        assert_eq!(
            out.doc.get("name"),
            Some(&json!({"familyName": "J", "givenName": "Barbara"}))
        );
        assert_eq!(
            out.doc.get(crate::scim::ENTERPRISE_USER_SCHEMA),
            Some(&json!({"department": "Sales", "manager": {"value": "boss"}}))
        );
    }

    #[test]
    fn manager_value_path_in_any_case() {
        let out = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Manager.Value", "value": "m2"}]}),
        )
        .unwrap();
        assert_eq!(
            out.doc.get(crate::scim::ENTERPRISE_USER_SCHEMA),
            Some(&json!({"manager": {"value": "m2"}}))
        );
    }

    #[test]
    fn member_operations() {
        let out = run(
            ResourceKind::Group,
            json!({"displayName": "g"}),
            json!({"Operations": [
                {"op": "add", "path": "members", "value": [{"value": "u1"}, {"value": "u2", "display": "x"}]},
                {"op": "remove", "path": "members[value eq \"u3\"]"},
                {"op": "remove", "path": "members", "value": [{"value": "u4"}]},
                {"op": "replace", "value": {"displayName": "h"}}
            ]}),
        )
        .unwrap();
        assert_eq!(
            out.members,
            vec![
                MemberOp::Add(vec!["u1".into(), "u2".into()]),
                MemberOp::Remove(vec!["u3".into()]),
                MemberOp::Remove(vec!["u4".into()]),
            ]
        );
        assert_eq!(out.doc.get("displayName"), Some(&json!("h")));
    }

    #[test]
    fn errors() {
        let e = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "remove"}]}),
        )
        .unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::NoTarget));
        // A path in no schema is not refused (an identity provider's whole cycle would
        // fail on it): it is ignored, with a note naming it.
        let mut notes = Notes::default();
        let ops = parse_request(
            &json!({"Operations": [{"op": "add", "path": "bogus", "value": 1}]}),
            &mut notes,
        )
        .unwrap();
        let reg = Registry::load().unwrap();
        let before = user(json!({}));
        let doc = before.as_object().unwrap().clone();
        let applied = apply(&reg, ResourceKind::User, &doc, &ops, &mut notes).unwrap();
        assert_eq!(applied.doc.get("bogus"), None);
        assert_eq!(notes.unmapped_attributes(), ["bogus"]);
        assert!(notes[0].contains("POST /admin/v1/schemas"), "{notes:?}");
        let e = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "add", "path": "emails[type eq", "value": 1}]}),
        )
        .unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::InvalidPath));
        let e = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "remove", "path": "userName"}]}),
        )
        .unwrap_err();
        assert_eq!(e.status(), 400);
        let e = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "jump", "path": "userName"}]}),
        )
        .unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::InvalidSyntax));
        let e = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
        )
        .unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::Mutability));
    }

    #[test]
    fn add_on_singular_replaces_and_remove_by_filter() {
        let out = run(
            ResourceKind::User,
            user(json!({"title": "a", "emails": [{"type": "work", "value": "a@x"}, {"type": "home", "value": "b@x"}]})),
            json!({"Operations": [
                {"op": "add", "path": "title", "value": "b"},
                {"op": "remove", "path": "emails[type eq \"home\"]"}
            ]}),
        )
        .unwrap();
        assert_eq!(out.doc.get("title"), Some(&json!("b")));
        assert_eq!(
            out.doc.get("emails"),
            Some(&json!([{"type": "work", "value": "a@x"}]))
        );
    }

    // Found by the fuzz smoke (`scim::fuzz`): a filter literal went into the new element
    // untyped, so `{"type": 5}` or `{"primary": "yes"}` was stored.
    #[test]
    fn filter_literals_are_typed_when_they_make_an_element() {
        let e = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "add", "path": "emails[type eq 5].value", "value": "w@x.com"}]}),
        )
        .unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::InvalidValue));
        let e = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "add", "path": "emails[primary eq \"yes\"].value", "value": "w@x.com"}]}),
        )
        .unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::InvalidValue));
        let out = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "add", "path": "emails[primary eq \"True\"].value", "value": "w@x.com"}]}),
        )
        .unwrap();
        assert_eq!(
            out.doc.get("emails"),
            Some(&json!([{"primary": true, "value": "w@x.com"}]))
        );
    }

    const ENT: &str = crate::scim::ENTERPRISE_USER_SCHEMA;

    fn managed_by(id: &str) -> Value {
        user(json!({ENT: {"department": "Sales", "manager": {"value": id}}}))
    }

    fn op(op: &str, path: &str, value: Option<Value>) -> Value {
        let mut o = json!({"op": op, "path": path});
        if let Some(v) = value {
            o["value"] = v;
        }
        json!({"Operations": [o]})
    }

    #[test]
    fn remove_manager_by_value_filter_clears_only_a_matching_manager() {
        for path in [
            "manager[value eq \"m1\"]",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[value eq \"m1\"]",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Manager[Value EQ \"m1\"]",
        ] {
            let out = run(
                ResourceKind::User,
                managed_by("m1"),
                op("remove", path, None),
            )
            .unwrap();
            assert_eq!(
                out.doc.get(ENT),
                Some(&json!({"department": "Sales"})),
                "{path}"
            );
        }
        // The extension goes from `schemas` when nothing is left in it.
        let out = run(
            ResourceKind::User,
            user(json!({ENT: {"manager": {"value": "m1"}}})),
            op("remove", "manager[value eq \"m1\"]", None),
        )
        .unwrap();
        assert!(out.doc.get(ENT).is_none());
        assert_eq!(out.doc["schemas"], json!([crate::scim::USER_SCHEMA]));
        // Another manager, or none: nothing happens.
        let out = run(
            ResourceKind::User,
            managed_by("m2"),
            op("remove", "manager[value eq \"m1\"]", None),
        )
        .unwrap();
        assert_eq!(out.doc.get(ENT), managed_by("m2").get(ENT));
        let out = run(
            ResourceKind::User,
            user(json!({})),
            op("remove", "manager[value eq \"m1\"]", None),
        )
        .unwrap();
        assert!(out.doc.get(ENT).is_none());
    }

    #[test]
    fn add_and_replace_with_a_manager_filter() {
        // Absent: made from the filter, like a filtered add on an absent element.
        let out = run(
            ResourceKind::User,
            user(json!({})),
            op(
                "add",
                "manager[value eq \"m1\"]",
                Some(json!({"value": "m1"})),
            ),
        )
        .unwrap();
        assert_eq!(out.doc.get(ENT), Some(&json!({"manager": {"value": "m1"}})));
        let out = run(
            ResourceKind::User,
            user(json!({})),
            op("replace", "manager[value eq \"m1\"]", Some(json!("m1"))),
        )
        .unwrap();
        assert_eq!(out.doc.get(ENT), Some(&json!({"manager": {"value": "m1"}})));
        // Matching: the value is written.
        let out = run(
            ResourceKind::User,
            managed_by("m1"),
            op(
                "replace",
                "manager[value eq \"m1\"]",
                Some(json!({"value": "m2"})),
            ),
        )
        .unwrap();
        assert_eq!(out.doc[ENT]["manager"], json!({"value": "m2"}));
        let out = run(
            ResourceKind::User,
            managed_by("m1"),
            op(
                "replace",
                "manager[value eq \"m1\"].value",
                Some(json!("m3")),
            ),
        )
        .unwrap();
        assert_eq!(out.doc[ENT]["manager"], json!({"value": "m3"}));
        // Another manager: the filter selects nothing, and nothing is overwritten.
        let e = run(
            ResourceKind::User,
            managed_by("m2"),
            op("replace", "manager[value eq \"m1\"]", Some(json!("m3"))),
        )
        .unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::NoTarget));
        // A filter on a singular simple attribute still makes no sense.
        let e = run(
            ResourceKind::User,
            user(json!({"title": "x"})),
            op("remove", "title[value eq \"x\"]", None),
        )
        .unwrap_err();
        assert_eq!(e.scim_type(), Some(crate::scim::ScimType::InvalidPath));
    }

    #[test]
    fn entra_app_roles_are_decoded_on_add_and_remove() {
        let assignment = |id: &str, value: &str| {
            json!({"value": format!(
                "{{\"id\":\"{id}\",\"value\":\"{value}\",\"displayName\":\"{value} role\"}}"
            )})
        };
        let out = run(
            ResourceKind::User,
            user(json!({})),
            op(
                "Add",
                "roles",
                Some(json!([
                    assignment("a1", "Admin"),
                    assignment("a2", "Reader")
                ])),
            ),
        )
        .unwrap();
        assert_eq!(
            out.doc["roles"],
            json!([
                {"value": "Admin", "display": "Admin role"},
                {"value": "Reader", "display": "Reader role"}
            ])
        );
        let out = run(
            ResourceKind::User,
            Value::Object(out.doc),
            op("remove", "roles", Some(json!([assignment("a1", "Admin")]))),
        )
        .unwrap();
        assert_eq!(
            out.doc["roles"],
            json!([{"value": "Reader", "display": "Reader role"}])
        );
        // A path-less replace with the whole list as one string of JSON.
        let out = run(
            ResourceKind::User,
            user(json!({})),
            json!({"Operations": [{"op": "replace", "value": {
                "roles": "[{\"id\":\"a3\",\"value\":\"Writer\",\"displayName\":\"Writer\"}]"
            }}]}),
        )
        .unwrap();
        assert_eq!(
            out.doc["roles"],
            json!([{"value": "Writer", "display": "Writer"}])
        );
    }

    // Found by the fuzz smoke: `members.value` wrote a member list into the group document.
    #[test]
    fn member_sub_attributes_never_reach_the_group_document() {
        let out = run(
            ResourceKind::Group,
            json!({"displayName": "g"}),
            json!({"Operations": [{"op": "add", "value": {"members.value": "u1"}}]}),
        )
        .unwrap();
        assert!(!out.doc.contains_key("members"));
        assert!(out.members.is_empty());
    }
}
