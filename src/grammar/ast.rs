//! The syntax tree of SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2).
//!
//! The tree knows nothing of schemas: attribute names keep the case they were written in,
//! and the SCIM layer resolves them.

/// `attrPath = [URI ":"] ATTRNAME *1subAttr`
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, without the trailing `:`.
    pub uri: Option<String>,
    pub name: String,
    pub sub_attr: Option<String>,
}

impl AttrPath {
    pub fn new(name: impl Into<String>) -> Self {
        AttrPath {
            uri: None,
            name: name.into(),
            sub_attr: None,
        }
    }
}

/// `compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Lt,
    Ge,
    Le,
}

impl CompareOp {
    pub const ALL: [CompareOp; 9] = [
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Lt,
        CompareOp::Ge,
        CompareOp::Le,
    ];

    /// The canonical (lower-case) keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Lt => "lt",
            CompareOp::Ge => "ge",
            CompareOp::Le => "le",
        }
    }
}

/// A JSON number as written in a filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// No fraction and no exponent, and it fits in 64 bits.
    Int(i64),
    /// A fraction or an exponent was written; always finite.
    Decimal(f64),
}

/// `compValue = false / null / true / number / string`
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Null,
    Bool(bool),
    Number(Number),
    Str(String),
}

/// `FILTER = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"`
///
/// Grouping parentheses leave no node behind; `not` does.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath SP compareOp SP compValue`
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    /// `attrPath SP "pr"`
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attrPath "[" valFilter "]"`: the attribute has no sub-attribute here, and the
    /// inner filter's paths are relative to the attribute's elements.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

impl Filter {
    pub fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    pub fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    #[allow(clippy::should_implement_trait)]
    pub fn not(f: Filter) -> Filter {
        Filter::Not(Box::new(f))
    }
}

/// `PATH = attrPath / valuePath [subAttr]`
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute; carries a sub-attribute only when there is no value filter.
    pub attr: AttrPath,
    /// The value filter between `[` and `]`.
    pub filter: Option<Filter>,
    /// The sub-attribute after `]`, as in `members[value eq "x"].display`.
    pub sub_attr: Option<String>,
}
