//! What one request may carry, checked where the protocol reads it, so that what reaches
//! the database is something both backends store and index alike, and no request holds
//! the writer for long. Each refusal is a 4xx naming the attribute.

use serde_json::{Map, Value};

use crate::grammar::{self, Filter, Limits, ParseError, PatchPath};

use super::error::ScimError;

/// Bounds on every filter and attribute path Roster reads (requests, mapping rules, sort
/// keys). Each pass over a filter (resolving it, compiling it to SQL, matching it in
/// memory) walks its tree, whose depth grows with the comparisons chained in it; 200
/// comparisons and 32 levels of nesting keep every pass well within a worker's stack, and
/// the SQL well within what SQLite evaluates. Real identity providers send one or two.
pub const GRAMMAR: Limits = Limits {
    max_len: 64 * 1024,
    max_depth: 32,
    max_terms: 200,
};

/// A filter, within [`GRAMMAR`], read as identity providers write it: RFC 7644's grammar
/// plus unquoted values and `emails[type eq "work"].value eq "x"`
/// (`grammar::parse_filter_lenient`). Each leniency taken adds a note to `notes`, for the
/// request's sync-log entry.
pub fn parse_filter_noted(text: &str, notes: &mut Vec<String>) -> Result<Filter, ParseError> {
    let (filter, read) = grammar::parse_filter_lenient(text, &GRAMMAR)?;
    notes.extend(read);
    Ok(filter)
}

/// A filter read as [`parse_filter_noted`] reads it, where the notes have already been
/// given (a saved rule, read again).
pub fn parse_filter(text: &str) -> Result<Filter, ParseError> {
    parse_filter_noted(text, &mut vec![])
}

/// An attribute path (a sort key, an attribute name), within [`GRAMMAR`].
pub fn parse_path(text: &str) -> Result<PatchPath, ParseError> {
    grammar::parse_path_with(text, &GRAMMAR)
}

/// A PATCH path, within [`GRAMMAR`], whose value filter may hold unquoted values
/// (`emails[type eq work].value`); each adds a note to `notes`.
pub fn parse_path_noted(text: &str, notes: &mut Vec<String>) -> Result<PatchPath, ParseError> {
    let (path, read) = grammar::parse_path_lenient(text, &GRAMMAR)?;
    notes.extend(read);
    Ok(path)
}

/// Longest identifier, in characters: userName, externalId, displayName, email addresses,
/// member ids. PostgreSQL indexes these, and an index entry has a size limit.
pub const MAX_IDENTIFIER: usize = 1024;
/// Longest other string value, in characters.
pub const MAX_TEXT: usize = 65_536;
/// Most values of one multi-valued attribute of a user or group (emails, phoneNumbers, ...).
pub const MAX_VALUES: usize = 100;
/// Most member ids one request may name (a POST or PUT of a group, or all the member
/// operations of one PATCH together).
pub const MAX_MEMBERS: usize = 10_000;
/// Most operations in one PATCH.
pub const MAX_PATCH_OPERATIONS: usize = 1_000;

/// Attributes whose values are identifiers, by their canonical top-level name.
const IDENTIFIERS: [&str; 3] = ["userName", "externalId", "displayName"];

/// Checks a canonical document: string lengths, control characters, value counts.
pub fn check_document(doc: &Map<String, Value>) -> Result<(), ScimError> {
    for (key, value) in doc {
        if key == "schemas" {
            continue;
        }
        let identifier = IDENTIFIERS.contains(&key.as_str());
        check_value(key, value, identifier)?;
    }
    Ok(())
}

fn check_value(path: &str, value: &Value, identifier: bool) -> Result<(), ScimError> {
    match value {
        Value::String(s) => check_string(path, s, identifier),
        Value::Array(items) => {
            if items.len() > MAX_VALUES {
                return Err(ScimError::invalid_value(format!(
                    "'{path}' has {} values; at most {MAX_VALUES} are taken",
                    items.len()
                )));
            }
            items
                .iter()
                .try_for_each(|v| check_value(path, v, identifier))
        }
        Value::Object(o) => o.iter().try_for_each(|(k, v)| {
            // An email address or an element's `value` of an identifying attribute is an
            // identifier too.
            let id = identifier || (path == "emails" && k == "value");
            check_value(&format!("{path}.{k}"), v, id)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// A string value: not too long, and no control characters (none at all in identifiers;
/// tab, line feed and carriage return are allowed in other text).
pub fn check_string(path: &str, s: &str, identifier: bool) -> Result<(), ScimError> {
    let max = if identifier { MAX_IDENTIFIER } else { MAX_TEXT };
    if s.chars().count() > max {
        return Err(ScimError::invalid_value(format!(
            "'{path}' is longer than {max} characters"
        )));
    }
    let bad = s
        .chars()
        .find(|c| c.is_control() && (identifier || !matches!(c, '\t' | '\n' | '\r')));
    if let Some(c) = bad {
        return Err(ScimError::invalid_value(format!(
            "'{path}' holds the control character U+{:04X}, which Roster does not store",
            u32::from(c)
        )));
    }
    Ok(())
}

/// Member ids named by one request.
pub fn check_members(ids: &[String]) -> Result<(), ScimError> {
    if ids.len() > MAX_MEMBERS {
        return Err(ScimError::PayloadTooLarge {
            detail: format!(
                "{} members in one request; at most {MAX_MEMBERS}: send them in several PATCH requests",
                ids.len()
            ),
        });
    }
    ids.iter()
        .try_for_each(|id| check_string("members.value", id, true))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn identifiers_are_bounded_and_clean() {
        assert!(check_document(&doc(json!({"userName": "a".repeat(1024)}))).is_ok());
        for bad in [
            json!({"userName": "a".repeat(1025)}),
            json!({"externalId": "x\u{0}y"}),
            json!({"displayName": "line\nbreak"}),
            json!({"emails": [{"value": "a\u{1}@x.com"}]}),
            json!({"emails": [{"value": format!("{}@x.com", "a".repeat(1020))}]}),
        ] {
            let e = check_document(&doc(bad.clone())).err();
            assert_eq!(e.map(|e| e.status()), Some(400), "{bad}");
        }
    }

    #[test]
    fn other_text_allows_whitespace_controls_but_not_nul() {
        assert!(check_document(&doc(json!({"title": "a\tb\nc"}))).is_ok());
        let e = check_document(&doc(json!({"title": "a\u{0}b"}))).err();
        assert!(e.is_some_and(|e| e.public_detail().contains("U+0000")));
        let e = check_document(&doc(json!({"nickName": "n".repeat(MAX_TEXT + 1)}))).err();
        assert!(e.is_some_and(|e| e.public_detail().contains("nickName")));
    }

    #[test]
    fn multi_valued_attributes_are_counted() {
        let many: Vec<Value> = (0..=MAX_VALUES)
            .map(|i| json!({"value": format!("u{i}@x.com")}))
            .collect();
        let e = check_document(&doc(json!({ "emails": many }))).err();
        assert!(e.is_some_and(|e| e.public_detail().contains("'emails'")));
    }

    #[test]
    fn members_are_counted() {
        let ids: Vec<String> = (0..=MAX_MEMBERS).map(|i| i.to_string()).collect();
        assert_eq!(check_members(&ids).err().map(|e| e.status()), Some(413));
        assert!(check_members(&ids[..10]).is_ok());
    }
}
