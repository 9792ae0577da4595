//! Filters and sort keys resolved against the schema into a typed query that names no
//! schema: columns, document paths and member sets, each value typed and case-folded as the
//! attribute says. The store compiles it to SQL; nothing here filters in Rust.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::grammar::{AttrPath, CompValue, Filter, Number};

/// The comparison a typed query makes: the grammar's, named here so that the store compiles
/// the query without knowing the grammar.
pub use crate::grammar::CompareOp;

use super::error::ScimError;
use super::schema::{AttrType, Attribute, Registry, ResourceKind, Target};

/// A column every resource row keeps for filtering, sorting and uniqueness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Id,
    UserName,
    ExternalId,
    DisplayName,
    Created,
    LastModified,
    Active,
    /// `active` or `suspended` (Roster's user extension).
    Status,
}

/// How values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Str {
        case_exact: bool,
    },
    /// Kept as canonical RFC 3339 text (UTC, milliseconds, `Z`), compared as text.
    DateTime,
    Bool,
    Number,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Bool(bool),
    Int(i64),
    Decimal(f64),
    /// Already lower-cased when the attribute is case-insensitive.
    Str(String),
}

/// What a comparison reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Column(Column),
    /// A path of keys into the resource document.
    Doc(Vec<String>),
    /// A singular custom attribute's indexed value (sort keys only; filters read
    /// [`Set::Ext`]): the key of [`crate::scim::extension::index_key`].
    Ext(String),
    /// Inside [`Expr::Any`]: a sub-attribute of the element, or the element itself.
    Elem(Option<String>),
}

/// A multi-valued attribute whose elements a filter looks into.
#[derive(Debug, Clone, PartialEq)]
pub enum Set {
    /// An array in the document.
    Doc(Vec<String>),
    /// A user's emails (a table of their own, indexed on the value).
    Emails,
    /// A group's members.
    Members,
    /// The groups a user belongs to.
    Groups,
    /// A user's seats (Roster's user extension).
    Seats,
    /// The indexed values of a custom extension attribute (see `scim::extension`): one for
    /// a singular attribute, one per element of a multi-valued one.
    Ext { key: String, singular: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp {
        field: Field,
        ty: ValueType,
        op: CompareOp,
        lit: Lit,
    },
    Present(Field),
    /// Some element of `set` satisfies `cond` (any element at all when `None`).
    Any {
        set: Set,
        cond: Option<Box<Expr>>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub field: Field,
    pub ty: ValueType,
    pub descending: bool,
}

/// The canonical text of a stored time.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Resolves a parsed filter for `kind`.
pub fn compile_filter(reg: &Registry, kind: ResourceKind, f: &Filter) -> Result<Expr, ScimError> {
    Ok(match f {
        Filter::And(a, b) => Expr::And(
            Box::new(compile_filter(reg, kind, a)?),
            Box::new(compile_filter(reg, kind, b)?),
        ),
        Filter::Or(a, b) => Expr::Or(
            Box::new(compile_filter(reg, kind, a)?),
            Box::new(compile_filter(reg, kind, b)?),
        ),
        Filter::Not(a) => Expr::Not(Box::new(compile_filter(reg, kind, a)?)),
        Filter::Present(path) => match resolve(reg, kind, path)? {
            Place::Scalar(field, _) => Expr::Present(field),
            Place::Multi(set, attr, sub) => {
                let cond = match sub {
                    Some(s) => Some(Box::new(Expr::Present(Field::Elem(Some(s.name.clone()))))),
                    None => {
                        let _ = attr;
                        None
                    }
                };
                Expr::Any { set, cond }
            }
        },
        Filter::Compare { path, op, value } => match resolve(reg, kind, path)? {
            Place::Scalar(field, attr) => comparison(field, attr, *op, value, &path.to_string())?,
            Place::Multi(set @ Set::Ext { singular: true, .. }, attr, None) => {
                // A singular custom attribute: `ne` and `eq null` match resources without it,
                // as they do for any other singular attribute.
                let any = |cond: Option<Expr>| Expr::Any {
                    set: set.clone(),
                    cond: cond.map(Box::new),
                };
                match (op, value) {
                    (CompareOp::Eq, CompValue::Null) => Expr::Not(Box::new(any(None))),
                    (CompareOp::Ne, CompValue::Null) => any(None),
                    (CompareOp::Ne, v) => {
                        let eq = comparison(
                            Field::Elem(None),
                            attr,
                            CompareOp::Eq,
                            v,
                            &path.to_string(),
                        )?;
                        Expr::Not(Box::new(any(Some(eq))))
                    }
                    (op, v) => any(Some(comparison(
                        Field::Elem(None),
                        attr,
                        *op,
                        v,
                        &path.to_string(),
                    )?)),
                }
            }
            Place::Multi(set, attr, sub) => {
                // `emails co "x"` compares the elements' `value`.
                let (elem_attr, elem_field) = match sub {
                    Some(s) => (s, Field::Elem(Some(s.name.clone()))),
                    None if attr.ty == AttrType::Complex => match attr.sub("value") {
                        Some(s) => (s, Field::Elem(Some(s.name.clone()))),
                        None => {
                            return Err(ScimError::invalid_filter(format!(
                                "'{path}' is complex: name a sub-attribute"
                            )))
                        }
                    },
                    None => (attr, Field::Elem(None)),
                };
                let cond = comparison(elem_field, elem_attr, *op, value, &path.to_string())?;
                Expr::Any {
                    set,
                    cond: Some(Box::new(cond)),
                }
            }
        },
        Filter::ValuePath { path, filter } => match resolve(reg, kind, path)? {
            Place::Multi(set, attr, None) => Expr::Any {
                set,
                cond: Some(Box::new(compile_elem(attr, filter)?)),
            },
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "'{path}' is not a multi-valued attribute; '[...]' does not apply"
                )))
            }
        },
    })
}

/// A filter inside `attr[...]`: names are the attribute's sub-attributes.
fn compile_elem(attr: &Attribute, f: &Filter) -> Result<Expr, ScimError> {
    Ok(match f {
        Filter::And(a, b) => Expr::And(
            Box::new(compile_elem(attr, a)?),
            Box::new(compile_elem(attr, b)?),
        ),
        Filter::Or(a, b) => Expr::Or(
            Box::new(compile_elem(attr, a)?),
            Box::new(compile_elem(attr, b)?),
        ),
        Filter::Not(a) => Expr::Not(Box::new(compile_elem(attr, a)?)),
        Filter::ValuePath { .. } => {
            return Err(ScimError::invalid_filter("value filters cannot be nested"))
        }
        Filter::Present(p) => {
            let sub = elem_sub(attr, p)?;
            Expr::Present(Field::Elem(Some(sub.name.clone())))
        }
        Filter::Compare { path, op, value } => {
            let sub = elem_sub(attr, path)?;
            comparison(
                Field::Elem(Some(sub.name.clone())),
                sub,
                *op,
                value,
                &path.to_string(),
            )?
        }
    })
}

fn elem_sub<'a>(attr: &'a Attribute, p: &AttrPath) -> Result<&'a Attribute, ScimError> {
    if p.sub_attr.is_some() || p.uri.is_some() {
        return Err(ScimError::invalid_filter(format!(
            "inside '{}[...]' name a sub-attribute of '{}' only",
            attr.name, attr.name
        )));
    }
    attr.sub(&p.name).ok_or_else(|| {
        ScimError::invalid_filter(format!(
            "'{}' is not a sub-attribute of '{}'",
            p.name, attr.name
        ))
    })
}

enum Place<'r> {
    Scalar(Field, &'r Attribute),
    Multi(Set, &'r Attribute, Option<&'r Attribute>),
}

fn resolve<'r>(
    reg: &'r Registry,
    kind: ResourceKind,
    path: &AttrPath,
) -> Result<Place<'r>, ScimError> {
    if path.uri.is_none() && path.name.eq_ignore_ascii_case("schemas") {
        return Ok(Place::Multi(
            Set::Doc(vec!["schemas".into()]),
            &SCHEMAS_ATTR,
            None,
        ));
    }
    let target = reg
        .resolve(
            kind,
            path.uri.as_deref(),
            &path.name,
            path.sub_attr.as_deref(),
        )
        .map_err(|e| ScimError::invalid_filter(e.public_detail().to_string()))?;
    let Target::Attr(res) = target else {
        return Err(ScimError::invalid_filter(format!(
            "'{path}' names a whole extension"
        )));
    };
    let name = res.attr.name.as_str();
    if res.common {
        let column = match (name, res.sub.map(|s| s.name.as_str())) {
            ("id", None) => Column::Id,
            ("externalId", None) => Column::ExternalId,
            ("meta", Some("created")) => Column::Created,
            ("meta", Some("lastModified")) => Column::LastModified,
            _ => {
                return Err(ScimError::invalid_filter(format!(
                    "'{path}' cannot be filtered on"
                )))
            }
        };
        return Ok(Place::Scalar(
            Field::Column(column),
            res.sub.unwrap_or(res.attr),
        ));
    }
    if let Some(urn) = res.ext.filter(|u| reg.is_custom(kind, u)) {
        if let Some(place) = custom_place(urn, res.attr, res.sub, path)? {
            return Ok(place);
        }
    }
    if res.ext == Some(super::ROSTER_USER_SCHEMA) {
        return Ok(match (name, res.sub) {
            ("status", _) => Place::Scalar(Field::Column(Column::Status), res.attr),
            _ => Place::Multi(Set::Seats, res.attr, res.sub),
        });
    }
    if res.attr.multi_valued {
        let set = match (kind, name) {
            (ResourceKind::User, "emails") => Set::Emails,
            (ResourceKind::User, "groups") => Set::Groups,
            (ResourceKind::Group, "members") => Set::Members,
            _ => Set::Doc(doc_path(res.ext, name, None)),
        };
        if let (Set::Groups | Set::Members, Some(sub)) = (&set, res.sub) {
            if !matches!(sub.name.as_str(), "value" | "type" | "display") {
                return Err(ScimError::invalid_filter(format!(
                    "'{path}' cannot be filtered on"
                )));
            }
        }
        return Ok(Place::Multi(set, res.attr, res.sub));
    }
    let column = match (kind, name, res.ext) {
        (ResourceKind::User, "userName", None) => Some(Column::UserName),
        (_, "displayName", None) => Some(Column::DisplayName),
        (ResourceKind::User, "active", None) => Some(Column::Active),
        _ => None,
    };
    if let Some(c) = column {
        return Ok(Place::Scalar(Field::Column(c), res.attr));
    }
    match (res.attr.ty, res.sub) {
        // `manager eq "id"`: a singular complex attribute with a `value` is compared (and
        // tested for presence, and sorted) by that value.
        (AttrType::Complex, None) => match res.attr.sub("value") {
            Some(value) => Ok(Place::Scalar(
                Field::Doc(doc_path(res.ext, name, Some(&value.name))),
                value,
            )),
            None => Err(ScimError::invalid_filter(format!(
                "'{path}' is complex: name a sub-attribute"
            ))),
        },
        (_, Some(sub)) => Ok(Place::Scalar(
            Field::Doc(doc_path(res.ext, name, Some(&sub.name))),
            sub,
        )),
        (_, None) => Ok(Place::Scalar(
            Field::Doc(doc_path(res.ext, name, None)),
            res.attr,
        )),
    }
}

/// Where a custom extension attribute is read: its indexed values, except for a multi-valued
/// complex attribute (not indexed: `None`, read in the document like any other).
fn custom_place<'r>(
    urn: &str,
    attr: &'r Attribute,
    sub: Option<&'r Attribute>,
    path: &AttrPath,
) -> Result<Option<Place<'r>>, ScimError> {
    if !super::extension::indexed(attr) {
        return Ok(None);
    }
    let (leaf, key) = match (attr.ty, sub) {
        (AttrType::Complex, Some(s)) => (
            s,
            super::extension::index_key(urn, &attr.name, Some(&s.name)),
        ),
        (AttrType::Complex, None) => match attr.sub("value") {
            Some(s) => (
                s,
                super::extension::index_key(urn, &attr.name, Some(&s.name)),
            ),
            None => {
                return Err(ScimError::invalid_filter(format!(
                    "'{path}' is complex: name a sub-attribute"
                )))
            }
        },
        (_, _) => (attr, super::extension::index_key(urn, &attr.name, None)),
    };
    Ok(Some(Place::Multi(
        Set::Ext {
            key,
            singular: !attr.multi_valued,
        },
        leaf,
        None,
    )))
}

fn doc_path(ext: Option<&str>, name: &str, sub: Option<&str>) -> Vec<String> {
    ext.into_iter()
        .chain(std::iter::once(name))
        .chain(sub)
        .map(str::to_string)
        .collect()
}

/// `schemas` is no schema attribute, but RFC 7644 filters on it.
static SCHEMAS_ATTR: std::sync::LazyLock<Attribute> = std::sync::LazyLock::new(|| Attribute {
    name: "schemas".into(),
    ty: AttrType::Reference,
    multi_valued: true,
    required: true,
    case_exact: false,
    mutability: super::schema::Mutability::ReadOnly,
    returned: super::schema::Returned::Always,
    uniqueness: super::schema::Uniqueness::None,
    sub_attributes: vec![],
});

fn value_type(attr: &Attribute) -> Result<ValueType, String> {
    Ok(match attr.ty {
        AttrType::String | AttrType::Reference | AttrType::Binary => ValueType::Str {
            case_exact: attr.case_exact,
        },
        AttrType::DateTime => ValueType::DateTime,
        AttrType::Boolean => ValueType::Bool,
        AttrType::Integer | AttrType::Decimal => ValueType::Number,
        AttrType::Complex => return Err("is complex: name a sub-attribute".into()),
    })
}

fn comparison(
    field: Field,
    attr: &Attribute,
    op: CompareOp,
    value: &CompValue,
    shown: &str,
) -> Result<Expr, ScimError> {
    let bad = |why: &str| ScimError::invalid_filter(format!("'{shown}' {why}"));
    let ty = value_type(attr).map_err(|e| bad(&e))?;
    if let CompValue::Null = value {
        return match op {
            CompareOp::Eq => Ok(Expr::Not(Box::new(Expr::Present(field)))),
            CompareOp::Ne => Ok(Expr::Present(field)),
            _ => Err(bad("can only be compared with null using eq or ne")),
        };
    }
    let ordering = matches!(
        op,
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
    );
    let substring = matches!(op, CompareOp::Co | CompareOp::Sw | CompareOp::Ew);
    if let CompValue::Str(s) = value {
        // A value no stored attribute can hold matches nothing; refuse it, as writes do.
        super::limits::check_string(shown, s, false)
            .map_err(|e| ScimError::invalid_filter(e.public_detail()))?;
    }
    let lit = match (ty, value) {
        (ValueType::Str { case_exact }, CompValue::Str(s)) => Lit::Str(if case_exact {
            s.clone()
        } else {
            s.to_lowercase()
        }),
        (ValueType::DateTime, CompValue::Str(s)) => {
            if substring {
                return Err(bad("is a date-time: use eq, ne, gt, ge, lt or le"));
            }
            let t = DateTime::parse_from_rfc3339(s)
                .map_err(|_| bad("is a date-time: compare it with a quoted RFC 3339 time like \"2024-05-13T04:42:34Z\""))?;
            Lit::Str(timestamp(t.with_timezone(&Utc)))
        }
        (ValueType::Bool, CompValue::Bool(b)) => {
            if ordering || substring {
                return Err(bad("is a boolean: use eq or ne"));
            }
            Lit::Bool(*b)
        }
        (ValueType::Bool, CompValue::Str(s))
            if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") =>
        {
            if ordering || substring {
                return Err(bad("is a boolean: use eq or ne"));
            }
            Lit::Bool(s.eq_ignore_ascii_case("true"))
        }
        (ValueType::Number, CompValue::Number(n)) => {
            if substring {
                return Err(bad("is a number: co, sw and ew apply to strings"));
            }
            match n {
                Number::Int(i) => Lit::Int(*i),
                Number::Decimal(d) => Lit::Decimal(*d),
            }
        }
        (ValueType::Str { .. }, _) => {
            return Err(bad("is a string: compare it with a quoted string"))
        }
        (ValueType::DateTime, _) => {
            return Err(bad(
                "is a date-time: compare it with a quoted RFC 3339 time",
            ))
        }
        (ValueType::Bool, _) => return Err(bad("is a boolean: compare it with true or false")),
        (ValueType::Number, _) => return Err(bad("is a number: compare it with a number")),
    };
    Ok(Expr::Cmp { field, ty, op, lit })
}

/// Resolves `sortBy`. Only singular attributes sort; a multi-valued one sorts by its
/// `value`'s first element is not offered.
pub fn compile_sort(
    reg: &Registry,
    kind: ResourceKind,
    sort_by: &str,
    descending: bool,
) -> Result<Sort, ScimError> {
    let path = super::limits::parse_path(sort_by)
        .map_err(|e| ScimError::invalid_value(format!("invalid sortBy \"{sort_by}\": {e}")))?;
    if path.filter.is_some() {
        return Err(ScimError::invalid_value(
            "sortBy cannot hold a value filter",
        ));
    }
    match resolve(reg, kind, &path.attr)
        .map_err(|e| ScimError::invalid_value(e.public_detail().to_string()))?
    {
        Place::Scalar(field, attr) => {
            let ty = value_type(attr)
                .map_err(|e| ScimError::invalid_value(format!("sortBy '{sort_by}' {e}")))?;
            Ok(Sort {
                field,
                ty,
                descending,
            })
        }
        Place::Multi(
            Set::Ext {
                key,
                singular: true,
            },
            attr,
            None,
        ) => {
            let ty = value_type(attr)
                .map_err(|e| ScimError::invalid_value(format!("sortBy '{sort_by}' {e}")))?;
            Ok(Sort {
                field: Field::Ext(key),
                ty,
                descending,
            })
        }
        Place::Multi(..) => Err(ScimError::invalid_value(format!(
            "sortBy '{sort_by}' is multi-valued; sort by a singular attribute"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::parse_filter;

    fn compile(kind: ResourceKind, f: &str) -> Result<Expr, ScimError> {
        let reg = Registry::load().unwrap();
        compile_filter(&reg, kind, &parse_filter(f).unwrap())
    }

    #[test]
    fn indexed_attributes_become_columns() {
        assert_eq!(
            compile(ResourceKind::User, "USERNAME eq \"BJensen\"").unwrap(),
            Expr::Cmp {
                field: Field::Column(Column::UserName),
                ty: ValueType::Str { case_exact: false },
                op: CompareOp::Eq,
                lit: Lit::Str("bjensen".into())
            }
        );
        assert_eq!(
            compile(ResourceKind::User, "externalId eq \"AbC\"").unwrap(),
            Expr::Cmp {
                field: Field::Column(Column::ExternalId),
                ty: ValueType::Str { case_exact: true },
                op: CompareOp::Eq,
                lit: Lit::Str("AbC".into())
            }
        );
        assert!(matches!(
            compile(ResourceKind::User, "meta.lastModified gt \"2011-05-13T04:42:34+02:00\"").unwrap(),
            Expr::Cmp { field: Field::Column(Column::LastModified), lit: Lit::Str(ref s), .. } if s == "2011-05-13T02:42:34.000Z"
        ));
        assert!(matches!(
            compile(
                ResourceKind::User,
                "emails[type eq \"work\" and value co \"@x\"]"
            )
            .unwrap(),
            Expr::Any {
                set: Set::Emails,
                cond: Some(_)
            }
        ));
        assert!(matches!(
            compile(ResourceKind::User, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m\"").unwrap(),
            Expr::Cmp { field: Field::Doc(ref p), .. } if p.len() == 3
        ));
    }

    #[test]
    fn a_singular_complex_attribute_compares_its_value() {
        let by_value = compile(
            ResourceKind::User,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"M1\"",
        )
        .unwrap();
        for f in [
            "manager eq \"M1\"",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq \"M1\"",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:Manager EQ \"M1\"",
        ] {
            assert_eq!(compile(ResourceKind::User, f).unwrap(), by_value, "{f}");
        }
        assert!(matches!(
            compile(ResourceKind::User, "manager pr").unwrap(),
            Expr::Present(Field::Doc(ref p)) if p.last().map(String::as_str) == Some("value")
        ));
        let reg = Registry::load().unwrap();
        assert!(compile_sort(&reg, ResourceKind::User, "manager", false).is_ok());
        // Without a `value` sub-attribute there is nothing to compare.
        let e = compile(ResourceKind::User, "name eq \"x\"").unwrap_err();
        assert!(e.to_string().contains("name a sub-attribute"), "{e}");
    }

    #[test]
    fn unsupported_filters_are_invalid_filter() {
        for f in [
            "nope eq \"x\"",
            "name eq \"x\"",
            "userName eq 1",
            "active gt true",
            "meta.lastModified gt \"yesterday\"",
            "userName[value eq \"x\"]",
            "emails[nope eq \"x\"]",
            "meta.location eq \"x\"",
        ] {
            let e = compile(ResourceKind::User, f).unwrap_err();
            assert_eq!(
                e.scim_type(),
                Some(crate::scim::ScimType::InvalidFilter),
                "{f}: {e}"
            );
        }
    }
}
