//! The SQL that differs between backends, in one place. SQLite today.

use super::sql::{Arg, Sql};

/// A JSON path literal for SQLite's JSON functions: `$."a"."b"`, each key quoted so URNs
/// with `:` and `.` stay one key. Keys come from the schema, never from the client, but
/// quotes are escaped all the same.
pub fn json_path(keys: &[String]) -> String {
    let mut p = String::from("$");
    for k in keys {
        p.push_str(".\"");
        p.push_str(&k.replace('"', "\"\""));
        p.push('"');
    }
    p
}

/// Text reading a document path. The path is a literal built from schema names.
pub fn json_text(doc: &str, keys: &[String]) -> String {
    format!(
        "json_extract({doc}, '{}')",
        json_path(keys).replace('\'', "''")
    )
}

/// Text reading a sub-attribute of a `json_each` element.
pub fn json_elem_text(alias: &str, key: &str) -> String {
    json_text(&format!("{alias}.value"), &[key.to_string()])
}

/// `FROM` clause over a document array, ending in a `WHERE` the caller may extend.
pub fn json_each_from(sql: &mut Sql, doc: &str, keys: &[String], alias: &str) {
    sql.push(&format!(
        "json_each({doc}, '{}') {alias} WHERE 1 = 1",
        json_path(keys).replace('\'', "''")
    ));
}

pub fn contains(sql: &mut Sql, text: &str, arg: Arg) {
    sql.push("instr(")
        .push(text)
        .push(", ")
        .bind(arg)
        .push(") > 0");
}

pub fn starts_with(sql: &mut Sql, text: &str, arg: Arg) {
    sql.push("substr(")
        .push(text)
        .push(", 1, length(")
        .bind(arg.clone())
        .push(")) = ")
        .bind(arg);
}

pub fn ends_with(sql: &mut Sql, text: &str, arg: Arg) {
    sql.push("(length(")
        .push(text)
        .push(") >= length(")
        .bind(arg.clone())
        .push(") AND substr(")
        .push(text)
        .push(", length(")
        .push(text)
        .push(") - length(")
        .bind(arg.clone())
        .push(") + 1) = ")
        .bind(arg)
        .push(")");
}
