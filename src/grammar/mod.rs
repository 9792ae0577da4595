//! The SCIM filter and PATCH-path grammar: nom parsers, the syntax tree, parse errors with
//! offsets, and a canonical printer. Pure: std and nom only.

mod ast;
mod error;
mod parser;
mod printer;

#[cfg(test)]
mod tests;

pub use ast::{AttrPath, CompValue, CompareOp, Filter, Number, PatchPath};
pub use error::{ErrorKind, ParseError};
pub use parser::{
    parse_filter, parse_filter_lenient, parse_filter_with, parse_path, parse_path_lenient,
    parse_path_with, Limits,
};
pub use printer::write_json_string;
