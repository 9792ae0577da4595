//! The License resource type (`/Licenses`): each product of an account as a read-only SCIM
//! resource, and lists of them. An account has few products (tens at most), so a list is
//! filtered, sorted and paged in memory: filters go through the same element evaluation as
//! PATCH value filters (`patch::matches`), with every path checked against the License
//! schemas first, so a path they do not hold is a 400 `invalidFilter`, never a silent match.

use std::cmp::Ordering;

use serde_json::{json, Map, Value};

use crate::grammar::{AttrPath, Filter};

use super::error::ScimError;
use super::list::ListParams;
use super::patch::matches;
use super::schema::{AttrType, Attribute, Registry, Schema};
use super::{LICENSE_SCHEMA, ROSTER_LICENSE_SCHEMA};

/// The `type` a user's entitlement carries to hold a product's seat (any case; an
/// entitlement with no type counts too).
pub const LICENSE_TYPE: &str = "License";

/// One product and its pool, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub name: String,
    pub capacity: i64,
    pub assigned: i64,
    pub waitlisted: i64,
}

impl License {
    /// The attributes by their schema names (the common `id` included), flat: what filters
    /// and sorting read.
    fn flat(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.name.clone()));
        m.insert("displayName".into(), Value::String(self.name.clone()));
        m.insert("type".into(), Value::String(LICENSE_TYPE.into()));
        m.insert("capacity".into(), Value::from(self.capacity));
        m.insert("assigned".into(), Value::from(self.assigned));
        m.insert("waitlisted".into(), Value::from(self.waitlisted));
        m
    }
}

/// Where a License attribute lives: the core schema (or the common `id`), or the extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    Core,
    Extension,
}

/// The License schemas of a registry, for resolving names.
struct Schemas<'r> {
    core: &'r Schema,
    ext: &'r Schema,
    id: &'r Attribute,
}

impl<'r> Schemas<'r> {
    fn of(reg: &'r Registry) -> Result<Schemas<'r>, ScimError> {
        match (reg.license_schemas(), reg.common_attr("id")) {
            ([core, ext], Some(id)) => Ok(Schemas { core, ext, id }),
            _ => Err(ScimError::internal("the License schemas are not loaded")),
        }
    }

    /// `[urn:]name`, any case, against the core schema (and `id`) or the extension.
    fn resolve(&self, uri: Option<&str>, name: &str) -> Option<(Home, &'r Attribute)> {
        let core = |name: &str| {
            if name.eq_ignore_ascii_case(&self.id.name) {
                Some((Home::Core, self.id))
            } else {
                self.core.attr(name).map(|a| (Home::Core, a))
            }
        };
        let ext = |name: &str| self.ext.attr(name).map(|a| (Home::Extension, a));
        match uri {
            None => core(name).or_else(|| ext(name)),
            Some(u) if u.eq_ignore_ascii_case(&self.core.id) => core(name),
            Some(u) if u.eq_ignore_ascii_case(&self.ext.id) => ext(name),
            Some(_) => None,
        }
    }

    /// The element type filters evaluate against: one complex attribute whose
    /// sub-attributes are every License attribute.
    fn element(&self) -> Result<Attribute, ScimError> {
        let mut shell: Attribute = serde_json::from_value(json!({
            "name": "License",
            "type": "complex",
            "multiValued": false,
            "mutability": "readOnly",
            "returned": "default",
        }))
        .map_err(|e| ScimError::internal(format!("License element: {e}")))?;
        shell.sub_attributes = std::iter::once(self.id)
            .chain(self.core.attributes.iter())
            .chain(self.ext.attributes.iter())
            .cloned()
            .collect();
        Ok(shell)
    }

    /// Checks every path of a filter: a License attribute, no sub-attribute, no value path
    /// (License has no multi-valued attribute).
    fn check(&self, f: &Filter) -> Result<(), ScimError> {
        match f {
            Filter::Compare { path, .. } | Filter::Present(path) => self.check_path(path),
            Filter::And(a, b) | Filter::Or(a, b) => {
                self.check(a)?;
                self.check(b)
            }
            Filter::Not(a) => self.check(a),
            Filter::ValuePath { path, .. } => Err(ScimError::invalid_filter(format!(
                "'{}' is not multi-valued: a License has no value filters",
                shown(path)
            ))),
        }
    }

    fn check_path(&self, path: &AttrPath) -> Result<(), ScimError> {
        let unknown = || {
            ScimError::invalid_filter(format!(
                "'{}' is not an attribute of License; filter on id, displayName, type, \
                 capacity, assigned or waitlisted",
                shown(path)
            ))
        };
        let (_, attr) = self
            .resolve(path.uri.as_deref(), &path.name)
            .ok_or_else(unknown)?;
        if path.sub_attr.is_some() || attr.ty == AttrType::Complex {
            return Err(unknown());
        }
        Ok(())
    }
}

fn shown(path: &AttrPath) -> String {
    let mut s = String::new();
    if let Some(u) = &path.uri {
        s.push_str(u);
        s.push(':');
    }
    s.push_str(&path.name);
    if let Some(sub) = &path.sub_attr {
        s.push('.');
        s.push_str(sub);
    }
    s
}

/// A name in `sortBy`, `attributes` or `excludedAttributes`: `[urn:]name`.
fn split_name(text: &str) -> (Option<&str>, &str) {
    match text.rsplit_once(':') {
        Some((uri, name)) => (Some(uri), name),
        None => (None, text),
    }
}

/// What a License list (or read) asks for: a filter checked against the License schemas,
/// an order, a page, and which attributes to return.
#[derive(Debug, Clone)]
pub struct LicenseQuery {
    filter: Option<Filter>,
    /// Attribute name (as in the schema) and whether descending.
    sort: Option<(String, bool)>,
    /// 1-based.
    pub start_index: u64,
    pub count: u64,
    /// `Some(names)`: only these (plus `id` and `schemas`); applied after `excluded`.
    only: Option<Vec<String>>,
    excluded: Vec<String>,
}

impl LicenseQuery {
    /// Reads the list parameters with the same rules as every other list: `startIndex`
    /// below 1 means 1, a negative `count` means 0, `count` defaults to 100 and stops at the
    /// advertised `filter.maxResults`.
    pub fn parse(reg: &Registry, params: &ListParams) -> Result<LicenseQuery, ScimError> {
        let schemas = Schemas::of(reg)?;
        let filter = match params.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let f = super::limits::parse_filter(text)
                    .map_err(|e| ScimError::invalid_filter(format!("invalid filter: {e}")))?;
                schemas.check(&f)?;
                Some(f)
            }
        };
        let descending = match params
            .sort_order
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("") | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ScimError::invalid_value(format!(
                    "sortOrder \"{other}\" must be ascending or descending"
                )))
            }
        };
        let sort = match params.sort_by.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(by) => {
                let (uri, name) = split_name(by);
                match schemas.resolve(uri, name) {
                    Some((_, a)) if a.ty != AttrType::Complex => Some((a.name.clone(), descending)),
                    _ => {
                        return Err(ScimError::invalid_value(format!(
                            "sortBy '{by}' is not an attribute of License"
                        )))
                    }
                }
            }
        };
        let int = |name: &str, v: &Option<String>| -> Result<Option<i64>, ScimError> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(t) => t.parse::<i64>().map(Some).map_err(|_| {
                    ScimError::invalid_value(format!("{name} must be an integer, not \"{t}\""))
                }),
            }
        };
        let start_index = int("startIndex", &params.start_index)?.unwrap_or(1).max(1) as u64;
        let count = int("count", &params.count)?
            .map(|c| c.max(0) as u64)
            .unwrap_or(100)
            .min(reg.max_results());
        let names = |list: Option<&str>| -> Vec<String> {
            list.unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .flat_map(|n| projected(&schemas, n))
                .collect()
        };
        let only = params
            .attributes
            .as_deref()
            .filter(|a| !a.trim().is_empty())
            .map(|a| names(Some(a)));
        Ok(LicenseQuery {
            filter,
            sort,
            start_index,
            count,
            only,
            excluded: names(params.excluded_attributes.as_deref()),
        })
    }

    /// The licenses the filter selects, in order: how many in all, and this page of them.
    pub fn select(
        &self,
        reg: &Registry,
        items: Vec<License>,
    ) -> Result<(u64, Vec<License>), ScimError> {
        let schemas = Schemas::of(reg)?;
        let element = schemas.element()?;
        let mut chosen = Vec::with_capacity(items.len());
        for item in items {
            let keep = match &self.filter {
                None => true,
                Some(f) => matches(&element, &Value::Object(item.flat()), f)?,
            };
            if keep {
                chosen.push(item);
            }
        }
        if let Some((name, descending)) = &self.sort {
            let case_exact = element.sub(name).is_some_and(|a| a.case_exact);
            chosen.sort_by(|a, b| {
                let (a, b) = (a.flat(), b.flat());
                let o = compare(a.get(name), b.get(name), case_exact);
                if *descending {
                    o.reverse()
                } else {
                    o
                }
            });
        }
        let total = chosen.len() as u64;
        let skip = usize::try_from(self.start_index.saturating_sub(1)).unwrap_or(usize::MAX);
        let take = usize::try_from(self.count).unwrap_or(usize::MAX);
        Ok((total, chosen.into_iter().skip(skip).take(take).collect()))
    }

    /// One license as a SCIM resource, with the attributes asked for (`id` and `schemas`
    /// always).
    pub fn render(&self, reg: &Registry, l: &License, base_url: &str) -> Map<String, Value> {
        let wanted = |name: &str| {
            let named = |list: &[String]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
            !named(&self.excluded) && self.only.as_deref().is_none_or(named)
        };
        render(reg, l, base_url, wanted)
    }
}

/// The schema names an `attributes` entry stands for: one attribute, or every attribute of
/// a schema named by its URN. A name of no License attribute stands for none (RFC 7644
/// §3.9 asks for no error).
fn projected(schemas: &Schemas<'_>, text: &str) -> Vec<String> {
    let all = |s: &Schema| s.attributes.iter().map(|a| a.name.clone()).collect();
    if text.eq_ignore_ascii_case(&schemas.core.id) {
        return all(schemas.core);
    }
    if text.eq_ignore_ascii_case(&schemas.ext.id) {
        return all(schemas.ext);
    }
    if text.eq_ignore_ascii_case("meta") {
        return vec!["meta".into()];
    }
    let (uri, name) = split_name(text);
    schemas
        .resolve(uri, name)
        .map(|(_, a)| vec![a.name.clone()])
        .unwrap_or_default()
}

fn compare(a: Option<&Value>, b: Option<&Value>, case_exact: bool) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_i64()
            .unwrap_or_default()
            .cmp(&y.as_i64().unwrap_or_default()),
        (Some(Value::String(x)), Some(Value::String(y))) if case_exact => x.cmp(y),
        (Some(Value::String(x)), Some(Value::String(y))) => x.to_lowercase().cmp(&y.to_lowercase()),
        _ => Ordering::Equal,
    }
}

/// A license as a resource: the core attributes at the top, the pool's counts under
/// Roster's extension, `meta` with its location. `wanted` decides each attribute but `id`.
fn render(
    reg: &Registry,
    l: &License,
    base_url: &str,
    wanted: impl Fn(&str) -> bool,
) -> Map<String, Value> {
    let flat = l.flat();
    let mut out = Map::new();
    out.insert(
        "schemas".into(),
        json!([LICENSE_SCHEMA, ROSTER_LICENSE_SCHEMA]),
    );
    out.insert("id".into(), Value::String(l.name.clone()));
    let (core, ext): (&[Attribute], &[Attribute]) = match reg.license_schemas() {
        [core, ext] => (&core.attributes, &ext.attributes),
        _ => (&[], &[]),
    };
    for a in core.iter().filter(|a| wanted(&a.name)) {
        if let Some(v) = flat.get(&a.name) {
            out.insert(a.name.clone(), v.clone());
        }
    }
    let counts: Map<String, Value> = ext
        .iter()
        .filter(|a| wanted(&a.name))
        .filter_map(|a| flat.get(&a.name).map(|v| (a.name.clone(), v.clone())))
        .collect();
    if !counts.is_empty() {
        out.insert(ROSTER_LICENSE_SCHEMA.into(), Value::Object(counts));
    }
    if wanted("meta") {
        out.insert(
            "meta".into(),
            json!({
                "resourceType": "License",
                "location": format!("{base_url}/Licenses/{}", l.name),
            }),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn licenses() -> Vec<License> {
        [
            ("meeting", 10, 3, 0),
            ("training", 0, 0, 2),
            ("webinar", 2, 2, 1),
        ]
        .into_iter()
        .map(|(n, c, a, w)| License {
            name: n.into(),
            capacity: c,
            assigned: a,
            waitlisted: w,
        })
        .collect()
    }

    fn names(reg: &Registry, params: ListParams) -> Result<(u64, Vec<String>), ScimError> {
        let q = LicenseQuery::parse(reg, &params)?;
        let (n, items) = q.select(reg, licenses())?;
        Ok((n, items.into_iter().map(|l| l.name).collect()))
    }

    fn filtered(reg: &Registry, f: &str) -> Result<Vec<String>, ScimError> {
        names(
            reg,
            ListParams {
                filter: Some(f.into()),
                ..ListParams::default()
            },
        )
        .map(|(_, n)| n)
    }

    #[test]
    fn filters_resolve_against_the_license_schemas() {
        let reg = Registry::load().unwrap();
        assert_eq!(
            filtered(&reg, "displayName eq \"Webinar\"").unwrap(),
            ["webinar"]
        );
        assert_eq!(
            filtered(&reg, "id eq \"Webinar\"").unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            filtered(&reg, "id ne \"webinar\"").unwrap(),
            ["meeting", "training"]
        );
        assert_eq!(
            filtered(&reg, "displayName co \"in\"").unwrap(),
            ["meeting", "training", "webinar"]
        );
        assert_eq!(
            filtered(&reg, "displayName sw \"me\"").unwrap(),
            ["meeting"]
        );
        assert_eq!(
            filtered(&reg, "displayName ew \"ar\"").unwrap(),
            ["webinar"]
        );
        assert_eq!(filtered(&reg, "displayName pr").unwrap().len(), 3);
        assert_eq!(
            filtered(
                &reg,
                "urn:roster:params:scim:schemas:extension:2.0:License:waitlisted gt 0 and capacity gt 0"
            )
            .unwrap(),
            ["webinar"]
        );
        assert_eq!(filtered(&reg, "type eq \"license\"").unwrap().len(), 3);
        for bad in [
            "userName eq \"x\"",
            "displayName.value eq \"x\"",
            "urn:ietf:params:scim:schemas:core:2.0:User:displayName eq \"webinar\"",
            "meta.created gt \"2020\"",
            "displayName[value eq \"x\"]",
            "displayName eq",
        ] {
            let e = filtered(&reg, bad).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
        }
    }

    #[test]
    fn pages_and_sorts_like_any_list() {
        let reg = Registry::load().unwrap();
        let page = |start: &str, count: &str| {
            names(
                &reg,
                ListParams {
                    start_index: Some(start.into()),
                    count: Some(count.into()),
                    ..ListParams::default()
                },
            )
            .unwrap()
        };
        assert_eq!(page("2", "1"), (3, vec!["training".to_string()]));
        assert_eq!(page("0", "-1"), (3, vec![]));
        assert_eq!(page("3", "10"), (3, vec!["webinar".to_string()]));
        let sorted = names(
            &reg,
            ListParams {
                sort_by: Some("capacity".into()),
                sort_order: Some("descending".into()),
                ..ListParams::default()
            },
        )
        .unwrap();
        assert_eq!(sorted.1, ["meeting", "webinar", "training"]);
        assert!(LicenseQuery::parse(
            &reg,
            &ListParams {
                count: Some("ten".into()),
                ..ListParams::default()
            }
        )
        .is_err());
    }

    #[test]
    fn renders_the_core_attributes_and_the_counts() {
        let reg = Registry::load().unwrap();
        let q = LicenseQuery::parse(&reg, &ListParams::default()).unwrap();
        let r = q.render(&reg, &licenses()[2], "https://x/scim/v2");
        assert_eq!(
            Value::Object(r),
            json!({
                "schemas": [LICENSE_SCHEMA, ROSTER_LICENSE_SCHEMA],
                "id": "webinar",
                "displayName": "webinar",
                "type": "License",
                ROSTER_LICENSE_SCHEMA: {"capacity": 2, "assigned": 2, "waitlisted": 1},
                "meta": {"resourceType": "License", "location": "https://x/scim/v2/Licenses/webinar"}
            })
        );
        let q = LicenseQuery::parse(
            &reg,
            &ListParams {
                attributes: Some(
                    "urn:roster:params:scim:schemas:extension:2.0:License:capacity".into(),
                ),
                ..ListParams::default()
            },
        )
        .unwrap();
        let r = q.render(&reg, &licenses()[2], "https://x/scim/v2");
        assert_eq!(
            Value::Object(r),
            json!({
                "schemas": [LICENSE_SCHEMA, ROSTER_LICENSE_SCHEMA],
                "id": "webinar",
                ROSTER_LICENSE_SCHEMA: {"capacity": 2},
            })
        );
    }
}
