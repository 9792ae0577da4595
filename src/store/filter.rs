//! The typed query (`scim::query`) compiled to SQL: columns for indexed attributes, the
//! membership and email tables through `EXISTS`, JSON functions for the rest. Every value is
//! a bound argument.

use crate::scim::query::{Column, CompareOp, Expr, Field, Lit, Set, Sort, ValueType};
use crate::scim::{ResourceKind, ScimError};

use super::dialect::{Backend, JsonKind};
use super::sql::{Arg, Sql};

/// The terms of a chain of `and` (or of `or`), in order, however the chain is nested.
fn chain<'e>(e: &'e Expr, and: bool, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::And(a, b) if and => {
            chain(a, and, out);
            chain(b, and, out);
        }
        Expr::Or(a, b) if !and => {
            chain(a, and, out);
            chain(b, and, out);
        }
        other => out.push(other),
    }
}

/// Compiles filters for one resource table aliased `r`.
pub struct FilterCompiler {
    kind: ResourceKind,
    backend: Backend,
    next_alias: usize,
}

/// The SQL type of what a field reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// A text column, possibly already lower-case.
    Text { lowered: bool },
    /// An integer column holding 0/1 or a number.
    Int,
    /// A JSON scalar.
    Json,
    /// An indexed value of a custom attribute (`ext_values.value`: already lower-cased when
    /// the attribute is case-insensitive; numbers also in `num`).
    Ext,
}

/// What an element-relative field reads, inside one `EXISTS`.
#[derive(Clone)]
enum Scope {
    Resource,
    /// `json_each` over a document array: the alias of the element rows.
    JsonElems(String),
    Emails(String),
    Members(String),
    /// Membership row alias (the group's name is read by a scalar subquery: a join would
    /// let the planner scan the account's memberships).
    Groups(String),
    Seats(String),
    /// `ext_values` rows of one custom attribute.
    Ext(String),
}

impl FilterCompiler {
    pub fn new(kind: ResourceKind, backend: Backend) -> Self {
        FilterCompiler {
            kind,
            backend,
            next_alias: 0,
        }
    }

    pub fn compile(&mut self, expr: &Expr, sql: &mut Sql) -> Result<(), ScimError> {
        self.expr(expr, &Scope::Resource, sql)
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.next_alias += 1;
        format!("{prefix}{}", self.next_alias)
    }

    /// A chain of one operator written as a balanced tree: `a or b or c or d` becomes
    /// `((a OR b) OR (c OR d))`. The parser nests a chain one level per term; SQLite refuses
    /// an expression deeper than 1,000, and balanced, a chain of n terms is log2(n) deep.
    fn balanced(
        &mut self,
        terms: &[&Expr],
        op: &str,
        scope: &Scope,
        sql: &mut Sql,
    ) -> Result<(), ScimError> {
        match terms {
            [] => {
                sql.push("TRUE");
                Ok(())
            }
            [one] => self.expr(one, scope, sql),
            _ => {
                let (left, right) = terms.split_at(terms.len() / 2);
                sql.push("(");
                self.balanced(left, op, scope, sql)?;
                sql.push(op);
                self.balanced(right, op, scope, sql)?;
                sql.push(")");
                Ok(())
            }
        }
    }

    fn expr(&mut self, e: &Expr, scope: &Scope, sql: &mut Sql) -> Result<(), ScimError> {
        match e {
            Expr::And(..) | Expr::Or(..) => {
                let and = matches!(e, Expr::And(..));
                let mut terms = vec![];
                chain(e, and, &mut terms);
                self.balanced(&terms, if and { " AND " } else { " OR " }, scope, sql)?;
            }
            Expr::Not(a) => {
                // A comparison on a missing attribute is unknown, not false: NOT must still
                // match the resources that lack it.
                sql.push("NOT COALESCE((");
                self.expr(a, scope, sql)?;
                sql.push("), FALSE)");
            }
            Expr::Present(field) => {
                let (text, shape) = self.field(field, scope)?;
                sql.push("(").push(&text).push(" IS NOT NULL");
                if shape != Shape::Int {
                    sql.push(" AND ").push(&text).push(" <> ''");
                }
                sql.push(")");
            }
            Expr::Cmp { field, ty, op, lit } => {
                self.comparison(field, *ty, *op, lit, scope, sql)?
            }
            Expr::Any { set, cond } => self.any(set, cond.as_deref(), sql)?,
        }
        Ok(())
    }

    fn any(&mut self, set: &Set, cond: Option<&Expr>, sql: &mut Sql) -> Result<(), ScimError> {
        let (from, scope) = match set {
            Set::Doc(path) => {
                let a = self.alias("j");
                let mut from = Sql::default();
                self.backend.json_each_from(&mut from, "r.doc", path, &a);
                (from, Scope::JsonElems(a))
            }
            Set::Emails => {
                let a = self.alias("e");
                (
                    Sql::new(&format!(
                        "user_emails {a} WHERE {a}.account_id = r.account_id AND {a}.user_id = r.id"
                    )),
                    Scope::Emails(a),
                )
            }
            Set::Members => {
                let a = self.alias("m");
                (
                    Sql::new(&format!(
                        "group_members {a} WHERE {a}.account_id = r.account_id AND {a}.group_id = r.id"
                    )),
                    Scope::Members(a),
                )
            }
            Set::Seats => {
                let a = self.alias("s");
                (
                    Sql::new(&format!(
                        "seats {a} WHERE {a}.account_id = r.account_id AND {a}.user_id = r.id"
                    )),
                    Scope::Seats(a),
                )
            }
            Set::Ext { key, .. } => {
                let a = self.alias("x");
                let mut from = Sql::new(&format!(
                    "ext_values {a} WHERE {a}.account_id = r.account_id AND {a}.resource_id = r.id AND {a}.attr = "
                ));
                from.bind_text(key.clone());
                (from, Scope::Ext(a))
            }
            Set::Groups => {
                let m = self.alias("m");
                (
                    Sql::new(&format!(
                        "group_members {m} WHERE {m}.account_id = r.account_id AND {m}.member_id = r.id"
                    )),
                    Scope::Groups(m),
                )
            }
        };
        sql.push("EXISTS (SELECT 1 FROM ");
        // Splice the FROM clause, renumbering its arguments after ours.
        append(sql, from);
        if let Some(c) = cond {
            sql.push(" AND ");
            self.expr(c, &scope, sql)?;
        }
        sql.push(")");
        Ok(())
    }

    /// The SQL text reading `field`, and its shape.
    fn field(&mut self, field: &Field, scope: &Scope) -> Result<(String, Shape), ScimError> {
        let text = |s: String| (s, Shape::Text { lowered: false });
        let lowered = |s: String| (s, Shape::Text { lowered: true });
        let b = self.backend;
        Ok(match (field, scope) {
            (Field::Column(c), _) => match c {
                Column::Id => text("r.id".into()),
                Column::UserName => lowered("r.user_name_lc".into()),
                Column::ExternalId => text("r.external_id".into()),
                Column::DisplayName => lowered("r.display_name_lc".into()),
                Column::Created => text("r.created".into()),
                Column::LastModified => text("r.last_modified".into()),
                Column::Active if self.kind == ResourceKind::User => {
                    ("r.active".into(), Shape::Int)
                }
                Column::Active => return Err(ScimError::invalid_filter("groups have no 'active'")),
                // As `Stored::status` words it.
                Column::Status if self.kind == ResourceKind::User => lowered(
                    "(CASE WHEN r.idp_deleted_at IS NOT NULL THEN 'deleted_by_idp' \
                     WHEN r.active = 0 THEN 'suspended' \
                     WHEN r.held IS NOT NULL THEN 'held' ELSE 'active' END)"
                        .into(),
                ),
                Column::Status => return Err(ScimError::invalid_filter("groups have no status")),
            },
            (Field::Doc(path), _) => (b.json_text("r.doc", path), Shape::Json),
            (Field::Ext(_), _) => {
                return Err(ScimError::invalid_filter(
                    "a custom attribute is filtered through its values",
                ))
            }
            (Field::Elem(None), Scope::Ext(a)) => (format!("{a}.value"), Shape::Ext),
            (Field::Elem(sub), Scope::JsonElems(a)) => match sub {
                None => (b.json_elem_self(a), Shape::Json),
                Some(s) => (b.json_elem_text(a, s), Shape::Json),
            },
            (Field::Elem(Some(s)), Scope::Emails(a)) => match s.as_str() {
                "value" => lowered(format!("{a}.value_lc")),
                "type" => text(format!("{a}.type")),
                "primary" => (format!("{a}.primary_"), Shape::Int),
                "display" => text(format!("{a}.display")),
                other => {
                    return Err(ScimError::invalid_filter(format!(
                        "emails.{other} cannot be filtered on"
                    )))
                }
            },
            (Field::Elem(Some(s)), Scope::Members(a)) => match s.as_str() {
                "value" => text(format!("{a}.member_id")),
                "type" => text(format!("{a}.member_type")),
                other => {
                    return Err(ScimError::invalid_filter(format!(
                        "members.{other} cannot be filtered on"
                    )))
                }
            },
            (Field::Elem(Some(s)), Scope::Groups(m)) => match s.as_str() {
                "value" => text(format!("{m}.group_id")),
                "display" => text(format!(
                    "(SELECT g.display_name FROM scim_groups g WHERE g.account_id = {m}.account_id AND g.id = {m}.group_id)"
                )),
                "type" => text("'direct'".into()),
                other => {
                    return Err(ScimError::invalid_filter(format!(
                        "groups.{other} cannot be filtered on"
                    )))
                }
            },
            (Field::Elem(Some(s)), Scope::Seats(a)) => match s.as_str() {
                "product" => text(format!("{a}.product")),
                "state" => text(format!("{a}.state")),
                "since" => text(format!("{a}.since")),
                other => {
                    return Err(ScimError::invalid_filter(format!(
                        "seats.{other} cannot be filtered on"
                    )))
                }
            },
            (Field::Elem(_), _) => {
                return Err(ScimError::invalid_filter(
                    "this attribute cannot be filtered on",
                ))
            }
        })
    }

    fn comparison(
        &mut self,
        field: &Field,
        ty: ValueType,
        op: CompareOp,
        lit: &Lit,
        scope: &Scope,
        sql: &mut Sql,
    ) -> Result<(), ScimError> {
        let (mut text, shape) = self.field(field, scope)?;
        let b = self.backend;
        let arg = match (lit, shape, scope) {
            (Lit::Bool(v), Shape::Ext, _) => Arg::Text(v.to_string()),
            (Lit::Int(i), Shape::Ext, Scope::Ext(a)) => {
                text = format!("{a}.num");
                Arg::Int(*i)
            }
            (Lit::Decimal(d), Shape::Ext, Scope::Ext(a)) => {
                text = format!("{a}.num");
                Arg::Real(*d)
            }
            (lit, shape, _) => match (lit, shape) {
                (Lit::Bool(v), Shape::Json) => {
                    text = b.json_typed(&text, JsonKind::Bool);
                    b.json_bool(*v)
                }
                (Lit::Bool(v), _) => Arg::Int(i64::from(*v)),
                (Lit::Int(i), Shape::Json) => {
                    text = b.json_typed(&text, JsonKind::Number);
                    Arg::Int(*i)
                }
                (Lit::Decimal(d), Shape::Json) => {
                    text = b.json_typed(&text, JsonKind::Number);
                    Arg::Real(*d)
                }
                (Lit::Int(i), _) => Arg::Int(*i),
                (Lit::Decimal(d), _) => Arg::Real(*d),
                (Lit::Str(s), _) => Arg::Text(s.clone()),
            },
        };
        let already_lower = matches!(shape, Shape::Text { lowered: true } | Shape::Ext);
        if matches!(ty, ValueType::Str { case_exact: false }) && !already_lower {
            text = format!("lower({text})");
        }
        sql.push("(");
        match op {
            CompareOp::Eq => {
                sql.push(&text).push(" = ").bind(arg);
            }
            CompareOp::Ne => {
                sql.push(&text)
                    .push(" IS NULL OR ")
                    .push(&text)
                    .push(" <> ")
                    .bind(arg);
            }
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
                let sym = match op {
                    CompareOp::Gt => " > ",
                    CompareOp::Ge => " >= ",
                    CompareOp::Lt => " < ",
                    _ => " <= ",
                };
                sql.push(&text).push(sym).bind(arg);
            }
            CompareOp::Co => b.contains(sql, &text, arg),
            CompareOp::Sw => b.starts_with(sql, &text, arg),
            CompareOp::Ew => b.ends_with(sql, &text, arg),
        }
        sql.push(")");
        Ok(())
    }

    /// `ORDER BY` text for a sort key (no arguments are bound for sort keys but JSON paths,
    /// which are appended to `sql`).
    pub fn order_by(&mut self, sort: &Sort, sql: &mut Sql) -> Result<(), ScimError> {
        if let Field::Ext(key) = &sort.field {
            // A custom attribute sorts by its indexed value (resources without it last in
            // ascending order on PostgreSQL, first on SQLite, as NULLs sort there).
            let column = if sort.ty == ValueType::Number {
                "num"
            } else {
                "value"
            };
            sql.push(&format!(
                "(SELECT x.{column} FROM ext_values x WHERE x.account_id = r.account_id AND x.resource_id = r.id AND x.attr = "
            ))
            .bind_text(key.clone())
            .push(" LIMIT 1)");
            sql.push(if sort.descending { " DESC" } else { " ASC" });
            return Ok(());
        }
        let (mut text, shape) = self.field(&sort.field, &Scope::Resource)?;
        if shape == Shape::Json && sort.ty == ValueType::Number {
            text = self.backend.json_typed(&text, JsonKind::Number);
        }
        if matches!(sort.ty, ValueType::Str { case_exact: false })
            && !matches!(shape, Shape::Text { lowered: true })
        {
            text = format!("lower({text})");
        }
        sql.push(&text);
        sql.push(if sort.descending { " DESC" } else { " ASC" });
        Ok(())
    }
}

/// Appends `other` to `sql`, renumbering `other`'s placeholders.
pub fn append(sql: &mut Sql, other: Sql) {
    let offset = sql.args.len();
    if offset == 0 || other.args.is_empty() {
        sql.text.push_str(&other.text);
        sql.args.extend(other.args);
        return;
    }
    let mut out = String::with_capacity(other.text.len() + 8);
    let bytes = other.text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            if end > start {
                if let Ok(n) = other.text[start..end].parse::<usize>() {
                    out.push('$');
                    out.push_str(&(n + offset).to_string());
                    i = end;
                    continue;
                }
            }
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    sql.text.push_str(&out);
    sql.args.extend(other.args);
}
