//! Parse errors: where the input went wrong and what was expected there.

use std::fmt;

/// What went wrong, in words an admin can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// The parser wanted something else at this point; the text says what.
    Expected(&'static str),
    /// The input is longer than the configured limit (bytes).
    TooLong {
        limit: usize,
    },
    /// Parentheses, brackets and `not` nest deeper than the limit.
    TooDeep {
        limit: usize,
    },
    /// More comparisons than the limit.
    TooManyTerms {
        limit: usize,
    },
    UnterminatedString,
    /// A `\` escape that JSON does not know, or a broken `\u` escape.
    InvalidEscape,
    /// A raw control character inside a string; JSON wants it escaped.
    ControlCharacter,
    /// A number JSON can write but Roster cannot hold (integer beyond 64 bits, decimal
    /// beyond the double range).
    NumberOutOfRange,
    /// A value filter after an attribute that already names a sub-attribute.
    FilterOnSubAttribute,
    /// A value filter inside a value filter.
    NestedValueFilter,
    /// A character an unquoted value cannot hold (`"`, `(`, `[`).
    InUnquotedValue(char),
    /// A keyword (`and`, `not`, an operator) where a value belongs, followed by more filter.
    KeywordAsValue(&'static str),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Expected(what) => write!(f, "expected {what}"),
            ErrorKind::TooLong { limit } => write!(f, "input is longer than {limit} bytes"),
            ErrorKind::TooDeep { limit } => write!(
                f,
                "parentheses, brackets and 'not' nest deeper than {limit} levels"
            ),
            ErrorKind::TooManyTerms { limit } => {
                write!(f, "more than {limit} comparisons in one expression")
            }
            ErrorKind::UnterminatedString => write!(f, "string is not closed with '\"'"),
            ErrorKind::InvalidEscape => write!(
                f,
                "invalid escape in string (JSON allows \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"
            ),
            ErrorKind::ControlCharacter => {
                write!(f, "control character in string must be escaped")
            }
            ErrorKind::NumberOutOfRange => write!(f, "number is out of range"),
            ErrorKind::FilterOnSubAttribute => write!(
                f,
                "a value filter '[...]' applies to a multi-valued attribute, not to a sub-attribute"
            ),
            ErrorKind::NestedValueFilter => {
                write!(
                    f,
                    "a value filter '[...]' cannot contain another value filter"
                )
            }
            ErrorKind::InUnquotedValue(c) => write!(
                f,
                "'{c}' inside an unquoted value: put the whole value in double quotes"
            ),
            ErrorKind::KeywordAsValue(kw) => write!(
                f,
                "expected a value, not the keyword '{kw}' (a value that is this word goes in double quotes: \"{kw}\")"
            ),
        }
    }
}

/// A parse failure at a byte offset of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the input where the problem was found.
    pub offset: usize,
    pub kind: ErrorKind,
}

impl ParseError {
    /// The error, then the line of `input` that holds the offset with a caret under it.
    pub fn render(&self, input: &str) -> String {
        let offset = floor_char_boundary(input, self.offset.min(input.len()));
        let line_start = input[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_end = input[offset..]
            .find('\n')
            .map_or(input.len(), |i| offset + i);
        let line = &input[line_start..line_end];
        // Tabs keep their width so the caret stays under the right character.
        let pad: String = input[line_start..offset]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("error: {self}\n  {line}\n  {pad}^")
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.kind, self.offset)
    }
}

impl std::error::Error for ParseError {}
