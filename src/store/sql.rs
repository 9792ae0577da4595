//! A small SQL builder: text plus bound arguments, placeholders written `$1, $2, ...`,
//! which both SQLite and PostgreSQL read. Values only ever travel as arguments.

use sqlx::any::AnyArguments;
use sqlx::Arguments;

#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Null,
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

    /// Appends a placeholder bound to `arg`.
    pub fn bind(&mut self, arg: Arg) -> &mut Self {
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

    pub fn arguments(&self) -> Result<AnyArguments<'static>, sqlx::Error> {
        let mut a = AnyArguments::default();
        for arg in &self.args {
            match arg {
                Arg::Null => a.add(Option::<String>::None),
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
