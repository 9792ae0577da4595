//! List and search requests (RFC 7644 §3.4.2, §3.4.3): query parameters or a SearchRequest
//! body read into one typed query, and the ListResponse around the results.

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::projection::Projection;
use super::query::{compile_filter, compile_sort, Expr, Sort};
use super::schema::{Registry, ResourceKind};
use super::LIST_RESPONSE_SCHEMA;

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Expr>,
    pub sort: Option<Sort>,
    /// 1-based.
    pub start_index: u64,
    pub count: u64,
    pub projection: Projection,
    /// How the filter was read beyond RFC 7644 (an unquoted value, ...), for the log.
    pub notes: Vec<String>,
}

/// The raw text of the list parameters, from a query string or a SearchRequest.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: Option<String>,
    pub start_index: Option<String>,
    pub count: Option<String>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

impl ListParams {
    /// From query pairs; names in any case, unknown ones ignored.
    pub fn from_query(pairs: &[(String, String)]) -> ListParams {
        let mut p = ListParams::default();
        for (k, v) in pairs {
            let slot = match k.to_ascii_lowercase().as_str() {
                "filter" => &mut p.filter,
                "sortby" => &mut p.sort_by,
                "sortorder" => &mut p.sort_order,
                "startindex" => &mut p.start_index,
                "count" => &mut p.count,
                "attributes" => &mut p.attributes,
                "excludedattributes" => &mut p.excluded_attributes,
                _ => continue,
            };
            *slot = Some(v.clone());
        }
        p
    }

    /// From a SearchRequest body (`POST .search`).
    pub fn from_search(body: &Value) -> Result<ListParams, ScimError> {
        let Some(obj) = body.as_object() else {
            return Err(ScimError::invalid_syntax(
                "a SearchRequest must be a JSON object",
            ));
        };
        let mut p = ListParams::default();
        for (k, v) in obj {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                Value::Null => continue,
                _ => {
                    if k == "schemas" {
                        continue;
                    }
                    return Err(ScimError::invalid_value(format!(
                        "'{k}' has the wrong type"
                    )));
                }
            };
            let slot = match k.to_ascii_lowercase().as_str() {
                "filter" => &mut p.filter,
                "sortby" => &mut p.sort_by,
                "sortorder" => &mut p.sort_order,
                "startindex" => &mut p.start_index,
                "count" => &mut p.count,
                "attributes" => &mut p.attributes,
                "excludedattributes" => &mut p.excluded_attributes,
                _ => continue,
            };
            *slot = Some(text);
        }
        Ok(p)
    }

    pub fn compile(&self, reg: &Registry, kind: ResourceKind) -> Result<ListQuery, ScimError> {
        let mut notes = vec![];
        let filter = match self.filter.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let parsed = super::limits::parse_filter_noted(text, &mut notes)
                    .map_err(|e| ScimError::invalid_filter(format!("invalid filter: {e}")))?;
                Some(compile_filter(reg, kind, &parsed)?)
            }
        };
        let descending = match self
            .sort_order
            .as_deref()
            .map(str::to_ascii_lowercase)
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
        let sort = match self.sort_by.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(by) => Some(compile_sort(reg, kind, by, descending)?),
        };
        let int = |name: &str, v: &Option<String>| -> Result<Option<i64>, ScimError> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(t) => t.parse::<i64>().map(Some).map_err(|_| {
                    ScimError::invalid_value(format!("{name} must be an integer, not \"{t}\""))
                }),
            }
        };
        let max = reg.max_results();
        // RFC 7644 §3.4.2.4: below 1 means 1; a negative count means 0.
        let start_index = int("startIndex", &self.start_index)?.unwrap_or(1).max(1) as u64;
        let count = int("count", &self.count)?
            .map(|c| c.max(0) as u64)
            .unwrap_or(100)
            .min(max);
        Ok(ListQuery {
            filter,
            sort,
            start_index,
            count,
            projection: Projection::parse(
                reg,
                kind,
                self.attributes.as_deref(),
                self.excluded_attributes.as_deref(),
            ),
            notes,
        })
    }
}

pub fn list_response(total: u64, start_index: u64, resources: Vec<Map<String, Value>>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE_SCHEMA],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start_index,
        "Resources": resources,
    })
}
