//! Custom schema extensions: the RFC 7643 §7 schema documents an account registers for its
//! users or groups, checked before they are accepted, and the values of their attributes in
//! the form the store indexes them (so filters and seat rules on them read an index, not
//! every document).

use serde_json::{Map, Value};

use super::query::timestamp;
use super::schema::{AttrType, Attribute, Registry, ResourceKind, Schema, Uniqueness};

/// Most extensions one account may register.
pub const MAX_SCHEMAS: usize = 20;
/// Most attributes (sub-attributes included) one extension may define.
pub const MAX_ATTRIBUTES: usize = 100;
/// Longest schema id.
const MAX_URN: usize = 256;
/// Longest attribute name.
const MAX_NAME: usize = 64;
/// Longest text of a name or description.
const MAX_TEXT: usize = 1024;
/// Longest string value of a custom attribute: the value is indexed, and an index entry has
/// a size limit.
pub const MAX_VALUE: usize = super::limits::MAX_IDENTIFIER;

const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// A schema document that failed its checks: the member to blame and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> Refusal {
    Refusal {
        field: field.into(),
        message: message.into(),
    }
}

/// A checked extension: which resource type it extends and its canonical document (every
/// characteristic spelled out, names in the RFC's case, `schemas` and `meta` set).
#[derive(Debug, Clone)]
pub struct Checked {
    pub kind: ResourceKind,
    pub schema: Schema,
}

/// Checks a submitted schema document. `resource_type` (`User` or `Group`) comes from the
/// request; without it the URN's last segment decides (`...:2.0:User`, as Entra names its
/// extensions). `builtin` is the registry without any account's extensions.
pub fn check(
    doc: &Value,
    resource_type: Option<&str>,
    builtin: &Registry,
) -> Result<Checked, Refusal> {
    let Some(obj) = doc.as_object() else {
        return Err(refuse("", "a schema is a JSON object"));
    };
    let obj = canonical_keys(
        obj,
        &[
            "schemas",
            "id",
            "name",
            "description",
            "attributes",
            "meta",
            "resourceType",
        ],
        "",
    )?;
    let id = match obj.get("id") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(_) => return Err(refuse("id", "must be a string (a URN)")),
        None => {
            return Err(refuse(
                "id",
                "is required: the extension's URN, e.g. urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User",
            ))
        }
    };
    check_urn(&id)?;
    if builtin.schema(&id).is_some()
        || id
            .to_ascii_lowercase()
            .starts_with("urn:ietf:params:scim:schemas:core:")
    {
        return Err(refuse(
            "id",
            format!("{id} is a built-in schema; choose another URN"),
        ));
    }
    let given = match (resource_type, obj.get("resourceType")) {
        (Some(r), _) => Some(r.to_string()),
        (None, Some(Value::String(r))) => Some(r.clone()),
        (None, Some(_)) => return Err(refuse("resourceType", "must be \"User\" or \"Group\"")),
        (None, None) => None,
    };
    let kind = match given.as_deref().or_else(|| id.rsplit(':').next()) {
        Some(r) if r.eq_ignore_ascii_case("User") => ResourceKind::User,
        Some(r) if r.eq_ignore_ascii_case("Group") => ResourceKind::Group,
        _ if given.is_some() => {
            return Err(refuse("resourceType", "must be \"User\" or \"Group\""));
        }
        _ => {
            return Err(refuse(
                "resourceType",
                "say which resource type the extension is for: \"resourceType\": \"User\" or \"Group\" (or end the URN with :User or :Group)",
            ))
        }
    };
    let text = |key: &str| -> Result<Option<String>, Refusal> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= MAX_TEXT => Ok(Some(s.clone())),
            Some(Value::String(_)) => {
                Err(refuse(key, format!("holds at most {MAX_TEXT} characters")))
            }
            Some(_) => Err(refuse(key, "must be a string")),
        }
    };
    let name = text("name")?;
    let description = text("description")?;
    let Some(Value::Array(attrs)) = obj.get("attributes") else {
        return Err(refuse(
            "attributes",
            "is required: a list of attribute definitions",
        ));
    };
    if attrs.is_empty() {
        return Err(refuse("attributes", "defines no attribute"));
    }
    let mut count = 0;
    let mut out = Vec::with_capacity(attrs.len());
    for (i, a) in attrs.iter().enumerate() {
        let field = format!("attributes[{i}]");
        out.push(attribute(a, &field, false, &mut count)?);
    }
    unique_names(&out, "attributes")?;
    if count > MAX_ATTRIBUTES {
        return Err(refuse(
            "attributes",
            format!("defines {count} attributes; an extension holds at most {MAX_ATTRIBUTES}"),
        ));
    }
    let mut canonical = Map::new();
    canonical.insert("schemas".into(), Value::from(vec![SCHEMA_SCHEMA]));
    canonical.insert("id".into(), Value::from(id.clone()));
    if let Some(n) = name {
        canonical.insert("name".into(), Value::from(n));
    }
    if let Some(d) = description {
        canonical.insert("description".into(), Value::from(d));
    }
    canonical.insert(
        "attributes".into(),
        Value::Array(out.iter().map(|(_, doc)| doc.clone()).collect()),
    );
    canonical.insert(
        "meta".into(),
        serde_json::json!({ "resourceType": "Schema", "location": format!("/Schemas/{id}") }),
    );
    let schema = Schema::from_doc(Value::Object(canonical)).map_err(|e| refuse("attributes", e))?;
    Ok(Checked { kind, schema })
}

fn check_urn(id: &str) -> Result<(), Refusal> {
    let bad = |why: &str| {
        Err(refuse(
            "id",
            format!("{why}; an extension's id is a URN like urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"),
        ))
    };
    if id.len() > MAX_URN {
        return bad(&format!("is longer than {MAX_URN} characters"));
    }
    if !id.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
        return bad("must start with urn:");
    }
    if id.split(':').count() < 3 || id.split(':').any(str::is_empty) {
        return bad("must have segments separated by single colons");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '.' | '_'))
    {
        return bad("may hold only letters, digits, ':', '-', '.' and '_'");
    }
    Ok(())
}

/// The object with its keys in the spelling `known` gives (SCIM names match in any case);
/// an unknown key is refused, naming it.
fn canonical_keys(
    obj: &Map<String, Value>,
    known: &[&str],
    at: &str,
) -> Result<Map<String, Value>, Refusal> {
    let mut out = Map::new();
    for (k, v) in obj {
        let Some(name) = known.iter().find(|n| n.eq_ignore_ascii_case(k)) else {
            let field = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            return Err(refuse(
                field,
                format!(
                    "is not a schema member; expected one of {}",
                    known.join(", ")
                ),
            ));
        };
        if out.insert((*name).to_string(), v.clone()).is_some() {
            return Err(refuse(format!("{at}.{name}"), "is given twice"));
        }
    }
    Ok(out)
}

const ATTRIBUTE_KEYS: &[&str] = &[
    "name",
    "type",
    "multiValued",
    "description",
    "required",
    "canonicalValues",
    "caseExact",
    "mutability",
    "returned",
    "uniqueness",
    "referenceTypes",
    "subAttributes",
];

/// Checks one attribute definition and returns it with its canonical document.
fn attribute(
    value: &Value,
    field: &str,
    is_sub: bool,
    count: &mut usize,
) -> Result<(String, Value), Refusal> {
    *count += 1;
    let Some(obj) = value.as_object() else {
        return Err(refuse(field, "an attribute definition is a JSON object"));
    };
    let obj = canonical_keys(obj, ATTRIBUTE_KEYS, field)?;
    let at = |k: &str| format!("{field}.{k}");
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(refuse(at("name"), "is required: the attribute's name")),
    };
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        || name.len() > MAX_NAME
    {
        return Err(refuse(
            at("name"),
            format!("'{name}' is not an attribute name: a letter, then letters, digits, '_' or '-', at most {MAX_NAME} characters (RFC 7643 §2.1)"),
        ));
    }
    let choice = |k: &str, allowed: &[&str], default: &str| -> Result<String, Refusal> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(default.to_string()),
            Some(Value::String(s)) => allowed
                .iter()
                .find(|a| a.eq_ignore_ascii_case(s))
                .map(|a| (*a).to_string())
                .ok_or_else(|| {
                    refuse(at(k), format!("'{s}' is not one of {}", allowed.join(", ")))
                }),
            Some(_) => Err(refuse(
                at(k),
                format!("must be one of {}", allowed.join(", ")),
            )),
        }
    };
    let flag = |k: &str| -> Result<bool, Refusal> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(refuse(at(k), "must be true or false")),
        }
    };
    let strings = |k: &str| -> Result<Option<Vec<Value>>, Refusal> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                Ok(Some(items.clone()))
            }
            Some(_) => Err(refuse(at(k), "must be a list of strings")),
        }
    };
    let ty = match obj.get("type") {
        None => return Err(refuse(at("type"), "is required: string, boolean, decimal, integer, dateTime, binary, reference or complex")),
        Some(_) => choice(
            "type",
            &["string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"],
            "string",
        )?,
    };
    let multi = flag("multiValued")?;
    let uniqueness = choice("uniqueness", &["none", "server", "global"], "none")?;
    if uniqueness == "global" {
        return Err(refuse(
            at("uniqueness"),
            "'global' spans every account and service provider; Roster enforces uniqueness within an account: use 'server'",
        ));
    }
    let mut doc = Map::new();
    doc.insert("name".into(), Value::from(name.clone()));
    doc.insert("type".into(), Value::from(ty.clone()));
    doc.insert("multiValued".into(), Value::from(multi));
    if let Some(Value::String(d)) = obj.get("description") {
        doc.insert("description".into(), Value::from(d.clone()));
    }
    doc.insert("required".into(), Value::from(flag("required")?));
    doc.insert("caseExact".into(), Value::from(flag("caseExact")?));
    doc.insert(
        "mutability".into(),
        Value::from(choice(
            "mutability",
            &["readOnly", "readWrite", "immutable", "writeOnly"],
            "readWrite",
        )?),
    );
    doc.insert(
        "returned".into(),
        Value::from(choice(
            "returned",
            &["always", "never", "default", "request"],
            "default",
        )?),
    );
    doc.insert("uniqueness".into(), Value::from(uniqueness.clone()));
    if let Some(v) = strings("canonicalValues")? {
        doc.insert("canonicalValues".into(), Value::Array(v));
    }
    if let Some(v) = strings("referenceTypes")? {
        doc.insert("referenceTypes".into(), Value::Array(v));
    }
    match (ty.as_str(), obj.get("subAttributes")) {
        ("complex", _) if is_sub => {
            return Err(refuse(
                at("type"),
                "a sub-attribute cannot be complex (RFC 7643 §2.3.8)",
            ));
        }
        ("complex", Some(Value::Array(subs))) if !subs.is_empty() => {
            if uniqueness != "none" {
                return Err(refuse(
                    at("uniqueness"),
                    "set uniqueness on the sub-attributes of a complex attribute",
                ));
            }
            let mut out = Vec::with_capacity(subs.len());
            for (i, s) in subs.iter().enumerate() {
                let (n, d) = attribute(s, &format!("{field}.subAttributes[{i}]"), true, count)?;
                if multi && d.get("uniqueness").and_then(Value::as_str) == Some("server") {
                    return Err(refuse(
                        format!("{field}.subAttributes[{i}].uniqueness"),
                        "a sub-attribute of a multi-valued complex attribute cannot be unique: it is not indexed",
                    ));
                }
                out.push((n, d));
            }
            unique_names(&out, &at("subAttributes"))?;
            doc.insert(
                "subAttributes".into(),
                Value::Array(out.into_iter().map(|(_, d)| d).collect()),
            );
        }
        ("complex", _) => {
            return Err(refuse(
                at("subAttributes"),
                "a complex attribute needs its sub-attributes",
            ));
        }
        (_, Some(Value::Array(subs))) if !subs.is_empty() => {
            return Err(refuse(
                at("subAttributes"),
                format!("only a complex attribute has sub-attributes; '{name}' is {ty}"),
            ));
        }
        _ => {}
    }
    Ok((name, Value::Object(doc)))
}

fn unique_names(attrs: &[(String, Value)], field: &str) -> Result<(), Refusal> {
    for (i, (a, _)) in attrs.iter().enumerate() {
        if attrs[..i].iter().any(|(b, _)| b.eq_ignore_ascii_case(a)) {
            return Err(refuse(
                field,
                format!("'{a}' is defined twice (names match in any case)"),
            ));
        }
    }
    Ok(())
}

/// The key a custom attribute's values are indexed under: `urn:name` or `urn:name.sub`,
/// lower-cased (names match in any case).
pub fn index_key(urn: &str, name: &str, sub: Option<&str>) -> String {
    let mut key = format!("{urn}:{name}");
    if let Some(s) = sub {
        key.push('.');
        key.push_str(s);
    }
    key.to_lowercase()
}

/// One indexed value of a custom attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexedValue {
    pub attr: String,
    /// Text as filters compare it: lower-cased unless caseExact, RFC 3339 UTC for a dateTime,
    /// `true`/`false` for a boolean; the number's text for a number.
    pub value: Option<String>,
    /// Numbers, for ordering comparisons.
    pub num: Option<f64>,
    /// The attribute's uniqueness is `server`.
    pub unique: bool,
}

/// Whether an attribute's values are indexed: singular or multi-valued simple attributes,
/// and the sub-attributes of a singular complex one. A multi-valued complex attribute is
/// filtered in the document instead.
pub fn indexed(attr: &Attribute) -> bool {
    !(attr.ty == AttrType::Complex && attr.multi_valued)
}

/// The indexed values of every custom attribute `doc` holds, in order; a string value too
/// long to index is refused, naming the attribute.
pub fn indexed_values(
    reg: &Registry,
    kind: ResourceKind,
    doc: &Map<String, Value>,
) -> Result<Vec<IndexedValue>, String> {
    let mut out: Vec<IndexedValue> = vec![];
    for schema in reg.custom(kind) {
        let Some(Value::Object(ext)) = doc.get(&schema.id) else {
            continue;
        };
        for attr in schema.attributes.iter().filter(|a| indexed(a)) {
            let Some(v) = ext.get(&attr.name) else {
                continue;
            };
            if attr.ty == AttrType::Complex {
                for sub in &attr.sub_attributes {
                    if let Some(sv) = v.get(&sub.name) {
                        let key = index_key(&schema.id, &attr.name, Some(&sub.name));
                        push(&mut out, key, sub, sv)?;
                    }
                }
                continue;
            }
            let key = index_key(&schema.id, &attr.name, None);
            match v {
                Value::Array(items) => {
                    for item in items {
                        push(&mut out, key.clone(), attr, item)?;
                    }
                }
                one => push(&mut out, key, attr, one)?,
            }
        }
    }
    Ok(out)
}

fn push(
    out: &mut Vec<IndexedValue>,
    attr: String,
    def: &Attribute,
    v: &Value,
) -> Result<(), String> {
    let (value, num) = match (def.ty, v) {
        (AttrType::Integer | AttrType::Decimal, Value::Number(n)) => {
            (Some(n.to_string()), n.as_f64())
        }
        (AttrType::Boolean, Value::Bool(b)) => (Some(b.to_string()), None),
        (AttrType::DateTime, Value::String(s)) => match chrono::DateTime::parse_from_rfc3339(s) {
            Ok(t) => (Some(timestamp(t.with_timezone(&chrono::Utc))), None),
            Err(_) => (Some(s.clone()), None),
        },
        (_, Value::String(s)) => {
            if s.chars().count() > MAX_VALUE {
                return Err(format!(
                    "'{attr}' holds at most {MAX_VALUE} characters (custom attributes are indexed for filters)"
                ));
            }
            (
                Some(if def.case_exact {
                    s.clone()
                } else {
                    s.to_lowercase()
                }),
                None,
            )
        }
        _ => return Ok(()),
    };
    let row = IndexedValue {
        attr,
        value,
        num,
        unique: def.uniqueness == Uniqueness::Server,
    };
    // One resource holding the same value twice is one index entry.
    if !out.contains(&row) {
        out.push(row);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const URN: &str = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User";

    fn builtin() -> Registry {
        Registry::load().unwrap()
    }

    #[test]
    fn a_schema_is_checked_and_made_canonical() {
        let doc = serde_json::json!({
            "id": URN,
            "name": "Custom",
            "attributes": [
                {"name": "costCenterCode", "type": "string"},
                {"NAME": "badge", "type": "integer", "uniqueness": "server"},
                {"name": "site", "type": "complex", "subAttributes": [
                    {"name": "city", "type": "string", "caseExact": true}
                ]}
            ]
        });
        let c = check(&doc, None, &builtin()).unwrap();
        assert_eq!(c.kind, ResourceKind::User);
        assert_eq!(c.schema.id, URN);
        let a = c.schema.attr("COSTCENTERCODE").unwrap();
        assert_eq!(a.ty, AttrType::String);
        assert!(!a.multi_valued && !a.case_exact);
        assert_eq!(
            c.schema.attr("badge").unwrap().uniqueness,
            Uniqueness::Server
        );
        assert_eq!(c.schema.doc["attributes"][0]["mutability"], "readWrite");
        assert_eq!(c.schema.doc["attributes"][0]["returned"], "default");
        assert_eq!(c.schema.doc["meta"]["location"], format!("/Schemas/{URN}"));
    }

    #[test]
    fn bad_schemas_name_the_field() {
        let reg = builtin();
        let cases = [
            (serde_json::json!([]), ""),
            (serde_json::json!({"attributes": []}), "id"),
            (
                serde_json::json!({"id": "costcenter", "attributes": []}),
                "id",
            ),
            (
                serde_json::json!({"id": "urn:ietf:params:scim:schemas:core:2.0:User", "attributes": []}),
                "id",
            ),
            (
                serde_json::json!({"id": "urn:x:y", "attributes": [{"name": "a", "type": "string"}]}),
                "resourceType",
            ),
            (
                serde_json::json!({"id": URN, "attributes": []}),
                "attributes",
            ),
            (
                serde_json::json!({"id": URN, "attributes": [{"name": "1a", "type": "string"}]}),
                "attributes[0].name",
            ),
            (
                serde_json::json!({"id": URN, "attributes": [{"name": "a", "type": "text"}]}),
                "attributes[0].type",
            ),
            (
                serde_json::json!({"id": URN, "attributes": [{"name": "a"}]}),
                "attributes[0].type",
            ),
            (
                serde_json::json!({"id": URN, "attributes": [{"name": "a", "type": "string", "multi": true}]}),
                "attributes[0].multi",
            ),
            (
                serde_json::json!({"id": URN, "attributes": [{"name": "a", "type": "complex"}]}),
                "attributes[0].subAttributes",
            ),
            (
                serde_json::json!({"id": URN, "attributes": [{"name": "a", "type": "string", "uniqueness": "global"}]}),
                "attributes[0].uniqueness",
            ),
            (
                serde_json::json!({"id": URN, "attributes": [{"name": "a", "type": "string"}, {"name": "A", "type": "string"}]}),
                "attributes",
            ),
            (
                serde_json::json!({"id": URN, "attributes": [{"name": "a", "type": "complex", "subAttributes": [{"name": "b", "type": "complex"}]}]}),
                "attributes[0].subAttributes[0].type",
            ),
        ];
        for (doc, field) in cases {
            let e = check(&doc, None, &reg).unwrap_err();
            assert_eq!(e.field, field, "{doc}: {e:?}");
        }
        // The resource type may be given when the URN does not say it.
        let doc = serde_json::json!({"id": "urn:acme:cost", "attributes": [{"name": "a", "type": "string"}]});
        assert_eq!(
            check(&doc, Some("group"), &reg).unwrap().kind,
            ResourceKind::Group
        );
    }

    #[test]
    fn values_are_indexed_as_filters_compare_them() {
        let doc = serde_json::json!({
            "id": URN,
            "attributes": [
                {"name": "costCenterCode", "type": "string"},
                {"name": "tags", "type": "string", "multiValued": true, "caseExact": true},
                {"name": "level", "type": "decimal"},
                {"name": "since", "type": "dateTime"},
                {"name": "site", "type": "complex", "subAttributes": [{"name": "city", "type": "string"}]}
            ]
        });
        let c = check(&doc, None, &builtin()).unwrap();
        let reg = builtin().with_custom(vec![(c.kind, c.schema)]);
        let user: Map<String, Value> = serde_json::from_value(serde_json::json!({
            URN: {
                "costCenterCode": "R&D",
                "tags": ["A", "b", "A"],
                "level": 2.5,
                "since": "2024-05-13T06:42:34+02:00",
                "site": {"city": "Oslo"}
            }
        }))
        .unwrap();
        let rows = indexed_values(&reg, ResourceKind::User, &user).unwrap();
        let key = |n: &str| format!("{}:{n}", URN.to_lowercase());
        let got: Vec<(String, Option<String>, Option<f64>)> =
            rows.into_iter().map(|r| (r.attr, r.value, r.num)).collect();
        assert_eq!(
            got,
            vec![
                (key("costcentercode"), Some("r&d".into()), None),
                (key("tags"), Some("A".into()), None),
                (key("tags"), Some("b".into()), None),
                (key("level"), Some("2.5".into()), Some(2.5)),
                (key("since"), Some("2024-05-13T04:42:34.000Z".into()), None),
                (key("site.city"), Some("oslo".into()), None),
            ]
        );
    }
}
