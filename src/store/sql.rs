//! A small SQL builder: text plus bound arguments, placeholders written `$1, $2, ...`,
//! which both SQLite and PostgreSQL read. Values only ever travel as arguments.

use sqlx::any::AnyArguments;
use sqlx::Arguments;

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Null,
    /// A NULL for an integer column (PostgreSQL types a bound NULL: a text one does not
    /// go into a BIGINT).
    NullInt,
    Bool(bool),
    Int(i64),
    Real(f64),
    Text(String),
}

#[derive(Debug, Default, Clone)]
pub struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: vec![],
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `arg`. A NUL character in text, which PostgreSQL
    /// cannot hold and which no input Roster stores may contain, is bound as U+FFFD: a
    /// lookup with one then simply finds nothing, and a log entry that quotes one is still
    /// written, on both backends alike.
    pub fn bind(&mut self, arg: Arg) -> &mut Self {
        let arg = match arg {
            Arg::Text(s) if s.contains('\0') => Arg::Text(s.replace('\0', "\u{fffd}")),
            other => other,
        };
        self.args.push(arg);
        let n = self.args.len();
        self.text.push('$');
        self.text.push_str(&n.to_string());
        self
    }

    pub fn bind_text(&mut self, s: impl Into<String>) -> &mut Self {
        self.bind(Arg::Text(s.into()))
    }

    pub fn bind_int(&mut self, i: i64) -> &mut Self {
        self.bind(Arg::Int(i))
    }

    /// The text with every `$N` placeholder written as `?`. Placeholders are numbered in
    /// the order they appear, so position keeps the binding.
    pub fn positional(&self) -> String {
        let mut out = String::with_capacity(self.text.len());
        let mut chars = self.text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                    chars.next();
                }
                out.push('?');
            } else {
                out.push(c);
            }
        }
        out
    }

    pub fn arguments(&self) -> Result<AnyArguments<'static>, sqlx::Error> {
        let mut a = AnyArguments::default();
        for arg in &self.args {
            match arg {
                Arg::Null => a.add(Option::<String>::None),
                Arg::NullInt => a.add(Option::<i64>::None),
                Arg::Bool(b) => a.add(*b),
                Arg::Int(i) => a.add(*i),
                Arg::Real(f) => a.add(*f),
                Arg::Text(s) => a.add(s.clone()),
            }
            .map_err(sqlx::Error::Encode)?;
        }
        Ok(a)
    }
}

pub fn opt_text(s: Option<&str>) -> Arg {
    s.map_or(Arg::Null, |s| Arg::Text(s.to_string()))
}

/// `(a, b, c)`: the ids as bound arguments, for `IN`.
pub(crate) fn in_list(sql: &mut Sql, ids: &[String]) {
    sql.push("(");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind_text(id.clone());
    }
    sql.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positional_keeps_json_paths_and_order() {
        let mut sql = Sql::new("SELECT json_extract(doc, '$.\"a\"') FROM t WHERE x = ");
        sql.bind_int(1)
            .push(" AND y IN (")
            .bind_int(2)
            .push(", ")
            .bind_int(3)
            .push(")");
        assert_eq!(
            sql.positional(),
            "SELECT json_extract(doc, '$.\"a\"') FROM t WHERE x = ? AND y IN (?, ?)"
        );
    }
}
