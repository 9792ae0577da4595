//! Bulk (RFC 7644 §3.7): the request read into typed operations, `bulkId:` references
//! substituted once their resources exist, and the BulkResponse.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::schema::ResourceKind;
use super::BULK_RESPONSE_SCHEMA;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BulkOp {
    pub method: Method,
    pub bulk_id: Option<String>,
    pub version: Option<String>,
    pub path: String,
    pub data: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct BulkRequest {
    /// Stop after this many errors (`None`: never stop).
    pub fail_on_errors: Option<u64>,
    pub ops: Vec<BulkOp>,
}

pub fn parse_request(body: &Value, max_operations: u64) -> Result<BulkRequest, ScimError> {
    let Some(obj) = body.as_object() else {
        return Err(ScimError::invalid_syntax(
            "a BulkRequest must be a JSON object",
        ));
    };
    let get = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let fail_on_errors = match get("failOnErrors") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ScimError::invalid_value("failOnErrors must be a non-negative integer")
        })?),
    };
    let Some(Value::Array(ops)) = get("Operations") else {
        return Err(ScimError::invalid_syntax(
            "a BulkRequest needs \"Operations\": a list of operations",
        ));
    };
    if ops.len() as u64 > max_operations {
        return Err(ScimError::PayloadTooLarge {
            detail: format!(
                "{} operations is more than the {max_operations} one Bulk request may hold",
                ops.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(ops.len());
    for (n, op) in ops.iter().enumerate() {
        let Some(o) = op.as_object() else {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n} is not an object"
            )));
        };
        let field = |name: &str| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        };
        let method = match field("method")
            .and_then(Value::as_str)
            .map(str::to_ascii_uppercase)
        {
            Some(m) if m == "POST" => Method::Post,
            Some(m) if m == "PUT" => Method::Put,
            Some(m) if m == "PATCH" => Method::Patch,
            Some(m) if m == "DELETE" => Method::Delete,
            _ => {
                return Err(ScimError::invalid_syntax(format!(
                    "operation {n} needs \"method\": POST, PUT, PATCH or DELETE"
                )))
            }
        };
        let Some(path) = field("path").and_then(Value::as_str) else {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n} needs a \"path\""
            )));
        };
        let bulk_id = field("bulkId").and_then(Value::as_str).map(str::to_string);
        if method == Method::Post && bulk_id.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n}: a POST needs a \"bulkId\""
            )));
        }
        let data = field("data").cloned();
        if method != Method::Delete && data.is_none() {
            return Err(ScimError::invalid_syntax(format!(
                "operation {n} needs \"data\""
            )));
        }
        out.push(BulkOp {
            method,
            bulk_id,
            version: field("version").and_then(Value::as_str).map(str::to_string),
            path: path.to_string(),
            data,
        });
    }
    Ok(BulkRequest {
        fail_on_errors,
        ops: out,
    })
}

/// Where a bulk path points: `/Users`, `/Groups/{id}`.
pub fn parse_path(path: &str) -> Option<(ResourceKind, Option<String>)> {
    let trimmed = path.trim().trim_start_matches('/');
    let (resource, rest) = match trimmed.split_once('/') {
        Some((r, id)) => (r, Some(id.trim_end_matches('/').to_string())),
        None => (trimmed, None),
    };
    let kind = if resource.eq_ignore_ascii_case("Users") {
        ResourceKind::User
    } else if resource.eq_ignore_ascii_case("Groups") {
        ResourceKind::Group
    } else {
        return None;
    };
    Some((kind, rest.filter(|id| !id.is_empty())))
}

/// The `bulkId:` references in a value or path that are not resolved yet.
pub fn unresolved(text_or_value: &Value, ids: &HashMap<String, String>) -> Vec<String> {
    let mut out = vec![];
    fn walk(v: &Value, ids: &HashMap<String, String>, out: &mut Vec<String>) {
        match v {
            Value::String(s) => {
                if let Some(r) = s.strip_prefix("bulkId:") {
                    if !ids.contains_key(r) {
                        out.push(r.to_string());
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, ids, out)),
            Value::Object(o) => o.values().for_each(|i| walk(i, ids, out)),
            _ => {}
        }
    }
    walk(text_or_value, ids, &mut out);
    out
}

/// Replaces every `bulkId:X` string whose X is known by the resource id.
pub fn substitute(v: &mut Value, ids: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix("bulkId:").and_then(|r| ids.get(r)) {
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, ids)),
        Value::Object(o) => o.values_mut().for_each(|i| substitute(i, ids)),
        _ => {}
    }
}

/// One entry of the BulkResponse.
pub fn response_op(
    op: &BulkOp,
    status: u16,
    location: Option<String>,
    version: Option<String>,
    error: Option<Value>,
) -> Value {
    let mut o = Map::new();
    o.insert("method".into(), op.method.as_str().into());
    if let Some(b) = &op.bulk_id {
        o.insert("bulkId".into(), b.clone().into());
    }
    if let Some(v) = version {
        o.insert("version".into(), v.into());
    }
    if let Some(l) = location {
        o.insert("location".into(), l.into());
    }
    o.insert("status".into(), status.to_string().into());
    if let Some(e) = error {
        o.insert("response".into(), e);
    }
    Value::Object(o)
}

pub fn response(ops: Vec<Value>) -> Value {
    json!({"schemas": [BULK_RESPONSE_SCHEMA], "Operations": ops})
}
