//! The SQL that differs between SQLite and PostgreSQL, in one place: JSON access, substring
//! tests, and how a JSON scalar compares.

use super::sql::{Arg, Sql};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A string literal for SQL text. Only schema names (never client input) pass through here,
/// and quotes are doubled all the same.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// SQLite JSON path `$."a"."b"`: each key quoted so URNs with `:` and `.` stay one key.
fn sqlite_path(keys: &[String]) -> String {
    let mut p = String::from("$");
    for k in keys {
        p.push_str(".\"");
        p.push_str(&k.replace('"', "\"\""));
        p.push('"');
    }
    p
}

fn pg_keys(keys: &[String]) -> String {
    keys.iter().map(|k| lit(k)).collect::<Vec<_>>().join(", ")
}

impl Backend {
    /// What ends a `SELECT` that locks the rows it reads for the rest of the transaction:
    /// PostgreSQL `FOR UPDATE` (with `SKIP LOCKED`, rows another transaction holds are passed
    /// over); nothing on SQLite, whose one writer already excludes every other.
    pub fn for_update(self, skip_locked: bool) -> &'static str {
        match (self, skip_locked) {
            (Backend::Sqlite, _) => "",
            (Backend::Postgres, false) => " FOR UPDATE",
            (Backend::Postgres, true) => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// A document path read as a scalar (SQLite: the JSON value; PostgreSQL: text).
    pub fn json_text(self, doc: &str, keys: &[String]) -> String {
        match self {
            Backend::Sqlite => format!("json_extract({doc}, {})", lit(&sqlite_path(keys))),
            Backend::Postgres => {
                format!("jsonb_extract_path_text(({doc})::jsonb, {})", pg_keys(keys))
            }
        }
    }

    /// A sub-attribute of an element row from [`Backend::json_each_from`].
    pub fn json_elem_text(self, alias: &str, key: &str) -> String {
        match self {
            Backend::Sqlite => self.json_text(&format!("{alias}.value"), &[key.to_string()]),
            Backend::Postgres => format!("({alias}.value ->> {})", lit(key)),
        }
    }

    /// An element row itself, as a scalar.
    pub fn json_elem_self(self, alias: &str) -> String {
        match self {
            Backend::Sqlite => format!("{alias}.value"),
            Backend::Postgres => format!("({alias}.value #>> '{{}}')"),
        }
    }

    /// `FROM` clause over a document array, ending in a `WHERE` the caller extends.
    pub fn json_each_from(self, sql: &mut Sql, doc: &str, keys: &[String], alias: &str) {
        match self {
            Backend::Sqlite => sql.push(&format!(
                "json_each({doc}, {}) {alias} WHERE 1 = 1",
                lit(&sqlite_path(keys))
            )),
            Backend::Postgres => sql.push(&format!(
                "jsonb_array_elements(COALESCE(jsonb_extract_path(({doc})::jsonb, {}), '[]'::jsonb)) AS {alias}(value) WHERE 1 = 1",
                pg_keys(keys)
            )),
        };
    }

    /// How a JSON scalar read with `json_text` compares with a typed literal.
    pub fn json_typed(self, text: &str, kind: JsonKind) -> String {
        match (self, kind) {
            (Backend::Sqlite, _) | (Backend::Postgres, JsonKind::Text) => text.to_string(),
            (Backend::Postgres, JsonKind::Number) => format!("({text})::numeric"),
            (Backend::Postgres, JsonKind::Bool) => format!("({text})::boolean"),
        }
    }

    /// The argument for a boolean compared with a JSON scalar.
    pub fn json_bool(self, b: bool) -> Arg {
        match self {
            // json_extract gives 1 or 0 for true and false.
            Backend::Sqlite => Arg::Int(i64::from(b)),
            Backend::Postgres => Arg::Bool(b),
        }
    }

    pub fn contains(self, sql: &mut Sql, text: &str, arg: Arg) {
        let f = match self {
            Backend::Sqlite => "instr",
            Backend::Postgres => "strpos",
        };
        sql.push(f)
            .push("(")
            .push(text)
            .push(", ")
            .bind(arg)
            .push(") > 0");
    }

    pub fn starts_with(self, sql: &mut Sql, text: &str, arg: Arg) {
        sql.push("substr(")
            .push(text)
            .push(", 1, length(")
            .bind(arg.clone())
            .push(")) = ")
            .bind(arg);
    }

    pub fn ends_with(self, sql: &mut Sql, text: &str, arg: Arg) {
        match self {
            Backend::Sqlite => {
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
            Backend::Postgres => {
                sql.push("right(")
                    .push(text)
                    .push(", length(")
                    .bind(arg.clone())
                    .push(")) = ")
                    .bind(arg);
            }
        }
    }
}

/// What a JSON scalar is compared as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Text,
    Number,
    Bool,
}
