//! nom parsers for the RFC 7644 filter grammar (§3.4.2.2) and the PATCH `path` (§3.5.2).
//!
//! One function per production, the ABNF quoted above it. Where Roster accepts a little more
//! than the ABNF (any amount of whitespace where it says `SP`, keywords in any case,
//! `$ref` as an attribute name), the comment says so.
//!
//! The `_lenient` entry points also read two shapes identity providers send that the ABNF
//! lacks, and return a note for each use: an unquoted value (`userName eq bjensen`,
//! Microsoft's reference collection and older clients) and a value path followed by a
//! sub-attribute and an operator (`emails[type eq "work"].value eq "x"`, Entra). Both become
//! the tree the RFC's own spelling gives, so nothing past the parser sees the difference.

use std::cell::{Cell, RefCell};

use nom::bytes::complete::{tag_no_case, take_while, take_while1};
use nom::character::complete::{char, multispace0, multispace1};
use nom::Err as NomErr;

use super::ast::{AttrPath, CompValue, CompareOp, Filter, Number, PatchPath};
use super::error::{ErrorKind, ParseError};
use super::printer::write_json_string;

/// Bounds on what one parse may consume. The defaults suit an HTTP request; callers with
/// stricter needs (a mapping rule, a query string) pass their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest input, in bytes.
    pub max_len: usize,
    /// Deepest nesting of `(`, `[` and `not`.
    pub max_depth: usize,
    /// Most comparisons (`attrExp`s) in one input.
    pub max_terms: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_len: 64 * 1024,
            max_depth: 64,
            max_terms: 1000,
        }
    }
}

/// Parses a filter with the default limits.
pub fn parse_filter(input: &str) -> Result<Filter, ParseError> {
    parse_filter_with(input, &Limits::default())
}

/// Parses a filter, e.g. `userName eq "bjensen" and not (emails co "@example.org")`.
pub fn parse_filter_with(input: &str, limits: &Limits) -> Result<Filter, ParseError> {
    run(input, limits, false, whole_filter).map(|(f, _)| f)
}

/// Parses a filter as identity providers write it: the grammar of [`parse_filter_with`],
/// plus unquoted values and `attr[filter].sub op value`. Returns the tree and one note per
/// leniency taken, in words for the request's log; an input the RFC's grammar reads gives no
/// notes and the same tree.
pub fn parse_filter_lenient(
    input: &str,
    limits: &Limits,
) -> Result<(Filter, Vec<String>), ParseError> {
    run(input, limits, true, whole_filter)
}

fn whole_filter<'a>(cx: &Ctx, i: &'a str) -> PResult<'a, Filter> {
    let (i, _) = multispace0(i)?;
    let (i, f) = filter(cx, i, false)?;
    let (i, _) = multispace0(i)?;
    end(i, "'and', 'or' or the end of the filter")?;
    Ok((i, f))
}

/// Parses a PATCH path with the default limits.
pub fn parse_path(input: &str) -> Result<PatchPath, ParseError> {
    parse_path_with(input, &Limits::default())
}

/// Parses a PATCH path, e.g. `members[value eq "2819c223"].display`.
pub fn parse_path_with(input: &str, limits: &Limits) -> Result<PatchPath, ParseError> {
    run(input, limits, false, whole_path).map(|(p, _)| p)
}

/// Parses a PATCH path whose value filter may hold unquoted values
/// (`emails[type eq work].value`), with a note for each; see [`parse_filter_lenient`].
pub fn parse_path_lenient(
    input: &str,
    limits: &Limits,
) -> Result<(PatchPath, Vec<String>), ParseError> {
    run(input, limits, true, whole_path)
}

fn whole_path<'a>(cx: &Ctx, i: &'a str) -> PResult<'a, PatchPath> {
    let (i, _) = multispace0(i)?;
    let (i, p) = path(cx, i)?;
    let (i, _) = multispace0(i)?;
    end(i, "'[', '.' or the end of the path")?;
    Ok((i, p))
}

fn run<'a, T>(
    input: &'a str,
    limits: &Limits,
    lenient: bool,
    parser: impl FnOnce(&Ctx, &'a str) -> PResult<'a, T>,
) -> Result<(T, Vec<String>), ParseError> {
    if input.len() > limits.max_len {
        return Err(ParseError {
            offset: limits.max_len,
            kind: ErrorKind::TooLong {
                limit: limits.max_len,
            },
        });
    }
    let cx = Ctx {
        limits: *limits,
        depth: Cell::new(0),
        terms: Cell::new(0),
        notes: lenient.then(|| RefCell::new(vec![])),
    };
    match parser(&cx, input) {
        Ok((_, v)) => {
            let mut notes: Vec<String> = vec![];
            for n in cx.notes.map(RefCell::into_inner).unwrap_or_default() {
                // The same unquoted value twice says one thing.
                if !notes.contains(&n) {
                    notes.push(n);
                }
            }
            Ok((v, notes))
        }
        Err(NomErr::Error(e) | NomErr::Failure(e)) => Err(ParseError {
            offset: input.len() - e.at.len(),
            kind: e.kind,
        }),
        // Only streaming parsers report Incomplete; every parser here is complete.
        Err(NomErr::Incomplete(_)) => Err(ParseError {
            offset: input.len(),
            kind: ErrorKind::Expected("more input"),
        }),
    }
}

/// The failure type threaded through nom: where (a suffix of the input) and what.
#[derive(Debug, Clone, PartialEq)]
struct Fail<'a> {
    at: &'a str,
    kind: ErrorKind,
}

impl<'a> nom::error::ParseError<&'a str> for Fail<'a> {
    fn from_error_kind(at: &'a str, _: nom::error::ErrorKind) -> Self {
        Fail {
            at,
            kind: ErrorKind::Expected("valid syntax"),
        }
    }

    fn append(_: &'a str, _: nom::error::ErrorKind, other: Self) -> Self {
        other
    }

    /// Of two alternatives that failed, the one that got further explains more.
    fn or(self, other: Self) -> Self {
        if other.at.len() < self.at.len() {
            other
        } else {
            self
        }
    }
}

type PResult<'a, T> = nom::IResult<&'a str, T, Fail<'a>>;

fn fail<'a, T>(at: &'a str, kind: ErrorKind) -> PResult<'a, T> {
    Err(NomErr::Failure(Fail { at, kind }))
}

fn expected<'a, T>(at: &'a str, what: &'static str) -> PResult<'a, T> {
    fail(at, ErrorKind::Expected(what))
}

fn end<'a>(i: &'a str, what: &'static str) -> PResult<'a, ()> {
    if i.is_empty() {
        Ok((i, ()))
    } else {
        expected(i, what)
    }
}

struct Ctx {
    limits: Limits,
    depth: Cell<usize>,
    terms: Cell<usize>,
    /// `Some` when the input is read leniently: each leniency taken, in words.
    notes: Option<RefCell<Vec<String>>>,
}

impl Ctx {
    fn lenient(&self) -> bool {
        self.notes.is_some()
    }

    fn note(&self, text: String) {
        if let Some(notes) = &self.notes {
            notes.borrow_mut().push(text);
        }
    }

    /// Runs `inner` one nesting level deeper, refusing to go past the limit.
    fn nested<'a, T>(
        &self,
        at: &'a str,
        inner: impl FnOnce(&'a str) -> PResult<'a, T>,
    ) -> PResult<'a, T> {
        let depth = self.depth.get() + 1;
        if depth > self.limits.max_depth {
            return fail(
                at,
                ErrorKind::TooDeep {
                    limit: self.limits.max_depth,
                },
            );
        }
        self.depth.set(depth);
        let r = inner(at);
        self.depth.set(depth - 1);
        r
    }

    fn count_term<'a>(&self, at: &'a str) -> PResult<'a, ()> {
        let n = self.terms.get() + 1;
        if n > self.limits.max_terms {
            return fail(
                at,
                ErrorKind::TooManyTerms {
                    limit: self.limits.max_terms,
                },
            );
        }
        self.terms.set(n);
        Ok((at, ()))
    }
}

/// `nameChar = "-" / "_" / DIGIT / ALPHA`
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Characters of an attribute path token: names, `.` before a sub-attribute, and the URN
/// prefix's `:` and `.` (as in `2.0`).
fn is_path_char(c: char) -> bool {
    is_name_char(c) || c == '.' || c == ':' || c == '$'
}

/// A case-insensitive keyword that is not the start of a longer name.
fn keyword<'a>(kw: &'static str, i: &'a str) -> PResult<'a, &'a str> {
    let (rest, word) = tag_no_case(kw)(i)?;
    match rest.chars().next() {
        Some(c) if is_name_char(c) => Err(NomErr::Error(Fail {
            at: i,
            kind: ErrorKind::Expected(kw),
        })),
        _ => Ok((rest, word)),
    }
}

/// The rest of `whole` from where its sub-slice `part` begins.
fn from<'a>(whole: &'a str, part: &str) -> &'a str {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    whole.get(start..).unwrap_or("")
}

/// `FILTER    = attrExp / logExp / valuePath / *1"not" "(" FILTER ")"`
/// `logExp    = FILTER SP ("and" / "or") SP FILTER`
///
/// The RFC gives `not` the highest precedence, then `and`, then `or`; both logical
/// operators associate to the left.
fn filter<'a>(cx: &Ctx, i: &'a str, in_value: bool) -> PResult<'a, Filter> {
    let (mut i, mut acc) = and_exp(cx, i, in_value)?;
    loop {
        let (j, _) = multispace0(i)?;
        match keyword("or", j) {
            Ok((k, _)) => {
                let (k, _) = multispace0(k)?;
                let (k, rhs) = and_exp(cx, k, in_value)?;
                acc = Filter::or(acc, rhs);
                i = k;
            }
            Err(NomErr::Error(_)) => return Ok((i, acc)),
            Err(e) => return Err(e),
        }
    }
}

/// The `"and"` level of `logExp`.
fn and_exp<'a>(cx: &Ctx, i: &'a str, in_value: bool) -> PResult<'a, Filter> {
    let (mut i, mut acc) = unary(cx, i, in_value)?;
    loop {
        let (j, _) = multispace0(i)?;
        match keyword("and", j) {
            Ok((k, _)) => {
                let (k, _) = multispace0(k)?;
                let (k, rhs) = unary(cx, k, in_value)?;
                acc = Filter::and(acc, rhs);
                i = k;
            }
            Err(NomErr::Error(_)) => return Ok((i, acc)),
            Err(e) => return Err(e),
        }
    }
}

/// `*1"not" "(" FILTER ")"`, or a single `attrExp` / `valuePath`.
///
/// `not` followed by anything but `(` is read as an attribute named `not`.
fn unary<'a>(cx: &Ctx, i: &'a str, in_value: bool) -> PResult<'a, Filter> {
    if let Ok((j, _)) = keyword("not", i) {
        let (k, _) = multispace0(j)?;
        if k.starts_with('(') {
            let (k, inner) = group(cx, k, in_value)?;
            return Ok((k, Filter::not(inner)));
        }
    }
    if i.starts_with('(') {
        return group(cx, i, in_value);
    }
    term(cx, i, in_value)
}

/// `"(" FILTER ")"`
fn group<'a>(cx: &Ctx, i: &'a str, in_value: bool) -> PResult<'a, Filter> {
    cx.nested(i, |i| {
        let (i, _) = char('(')(i)?;
        let (i, _) = multispace0(i)?;
        let (i, f) = filter(cx, i, in_value)?;
        let (i, _) = multispace0(i)?;
        match char::<_, Fail>(')')(i) {
            Ok((i, _)) => Ok((i, f)),
            Err(_) => expected(i, "'and', 'or' or ')'"),
        }
    })
}

/// `attrExp   = (attrPath SP "pr") / (attrPath SP compareOp SP compValue)`
/// `valuePath = attrPath "[" valFilter "]"`
/// `valFilter = attrExp / logExp / *1"not" "(" valFilter ")"`
///
/// Read leniently, a value path may go on with `"." ATTRNAME` and the rest of an `attrExp`
/// (`emails[type eq "work"].value eq "x"`): that comparison joins the value filter with
/// `and`, as the RFC would write it (`emails[type eq "work" and value eq "x"]`).
fn term<'a>(cx: &Ctx, i: &'a str, in_value: bool) -> PResult<'a, Filter> {
    let (j, path) = attr_path(i)?;
    if j.starts_with('[') {
        let (j, inner) = value_filter(cx, i, j, &path, in_value)?;
        if let (true, Some(sub)) = (cx.lenient(), j.strip_prefix('.')) {
            let (k, name) = attr_name(sub)?;
            let (k, then) = attr_exp(cx, sub, k, AttrPath::new(name))?;
            let read = Filter::ValuePath {
                path,
                filter: Box::new(Filter::and(inner, then)),
            };
            let written = &i[..i.len() - k.len()];
            cx.note(format!(
                "filter {} is not RFC 7644 syntax; read as {}",
                clip(written, NOTE_CLIP),
                clip(&read.to_string(), NOTE_CLIP)
            ));
            return Ok((k, read));
        }
        return Ok((
            j,
            Filter::ValuePath {
                path,
                filter: Box::new(inner),
            },
        ));
    }
    attr_exp(cx, i, j, path)
}

/// The rest of an `attrExp` after its `attrPath`: `SP "pr"` or `SP compareOp SP compValue`.
/// `start` is where the path began, `j` is just after it.
fn attr_exp<'a>(cx: &Ctx, start: &'a str, j: &'a str, path: AttrPath) -> PResult<'a, Filter> {
    let Ok((j, _)) = multispace1::<_, Fail>(j) else {
        return expected(
            j,
            "a space and an operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr)",
        );
    };
    let (k, op) = compare_op(j)?;
    cx.count_term(start)?;
    match op {
        None => Ok((k, Filter::Present(path))),
        Some(op) => {
            let Ok((k, _)) = multispace1::<_, Fail>(k) else {
                return expected(k, "a space and a value after the operator");
            };
            let (k, value) = comp_value(cx, k)?;
            Ok((k, Filter::Compare { path, op, value }))
        }
    }
}

/// Longest quotation of the input a note holds, in characters.
const NOTE_CLIP: usize = 100;

/// `s`, or its first `max` characters and an ellipsis.
fn clip(s: &str, max: usize) -> String {
    match head(s, max) {
        (head, true) => format!("{head}…"),
        (head, false) => head.to_string(),
    }
}

/// The first `max` characters of `s`, and whether that cut anything off.
fn head(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        None => (s, false),
        Some((at, _)) => (&s[..at], true),
    }
}

/// `"[" valFilter "]"` after `path`; `start` is where the path began, `i` is at `[`.
fn value_filter<'a>(
    cx: &Ctx,
    start: &'a str,
    i: &'a str,
    path: &AttrPath,
    in_value: bool,
) -> PResult<'a, Filter> {
    if in_value {
        return fail(i, ErrorKind::NestedValueFilter);
    }
    if path.sub_attr.is_some() {
        return fail(start, ErrorKind::FilterOnSubAttribute);
    }
    cx.nested(i, |i| {
        let (i, _) = char('[')(i)?;
        let (i, _) = multispace0(i)?;
        let (i, f) = filter(cx, i, true)?;
        let (i, _) = multispace0(i)?;
        match char::<_, Fail>(']')(i) {
            Ok((i, _)) => Ok((i, f)),
            Err(_) => expected(i, "'and', 'or' or ']'"),
        }
    })
}

/// `compareOp = "eq" / "ne" / "co" / "sw" / "ew" / "gt" / "lt" / "ge" / "le"`, plus `"pr"`
/// (returned as `None`). Case-insensitive, as the RFC requires.
fn compare_op(i: &str) -> PResult<'_, Option<CompareOp>> {
    const WHAT: &str = "an operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr)";
    let Ok((rest, word)) = take_while1::<_, _, Fail>(is_name_char)(i) else {
        return expected(i, WHAT);
    };
    if word.eq_ignore_ascii_case("pr") {
        return Ok((rest, None));
    }
    match CompareOp::ALL
        .iter()
        .find(|op| word.eq_ignore_ascii_case(op.as_str()))
    {
        Some(op) => Ok((rest, Some(*op))),
        None => expected(i, WHAT),
    }
}

/// `compValue = false / null / true / number / string`
///
/// `true`, `false` and `null` are accepted in any case. Read leniently, a value may also be
/// unquoted (see [`unquoted`]).
fn comp_value<'a>(cx: &Ctx, i: &'a str) -> PResult<'a, CompValue> {
    match i.chars().next() {
        Some('"') => {
            let (rest, s) = string(i)?;
            Ok((rest, CompValue::Str(s)))
        }
        _ if cx.lenient() => unquoted(cx, i),
        Some(c) if c == '-' || c.is_ascii_digit() => {
            let (rest, n) = number(i)?;
            Ok((rest, CompValue::Number(n)))
        }
        Some(c) if c.is_ascii_alphabetic() => {
            let (rest, word) = take_while(is_name_char)(i)?;
            match literal(word) {
                Some(value) => Ok((rest, value)),
                None => expected(i, VALUE),
            }
        }
        _ => expected(i, VALUE),
    }
}

const VALUE: &str = "a value: a quoted string, a number, true, false or null";

/// `false / null / true`, in any case.
fn literal(word: &str) -> Option<CompValue> {
    match word.to_ascii_lowercase().as_str() {
        "true" => Some(CompValue::Bool(true)),
        "false" => Some(CompValue::Bool(false)),
        "null" => Some(CompValue::Null),
        _ => None,
    }
}

/// Whitespace as `multispace0` reads it.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// `word` if the grammar gives it a meaning (`and`, `or`, `not`, `pr`, an operator), in its
/// canonical spelling. Unquoted, such a word is not taken as a value where what follows shows
/// it was meant as the keyword.
fn keyword_named(word: &str) -> Option<&'static str> {
    ["and", "or", "not", "pr"]
        .into_iter()
        .chain(CompareOp::ALL.iter().map(|op| op.as_str()))
        .find(|k| word.eq_ignore_ascii_case(k))
}

/// An unquoted value (not in the ABNF): everything up to whitespace, `)`, `]` or the end.
/// `true`, `false`, `null` and a whole JSON number keep their meaning; anything else is the
/// string it spells, with a note. Refused: nothing at all; a `"`, `(` or `[` or a control
/// character inside; a single-quoted value; a keyword followed by more filter
/// (`a eq and b pr`); and a value followed by anything but `and`, `or` or the end of a group
/// (`userName eq Barbara Jensen`), since an unquoted value cannot hold a space.
fn unquoted<'a>(cx: &Ctx, i: &'a str) -> PResult<'a, CompValue> {
    let len = i
        .find(|c: char| is_space(c) || c == ')' || c == ']')
        .unwrap_or(i.len());
    let (token, rest) = i.split_at(len);
    for (pos, c) in token.char_indices() {
        match c {
            '"' | '(' | '[' if pos == 0 => return expected(i, VALUE),
            '"' | '(' | '[' => return fail(&i[pos..], ErrorKind::InUnquotedValue(c)),
            c if c.is_control() => return fail(&i[pos..], ErrorKind::ControlCharacter),
            _ => {}
        }
    }
    if token.is_empty() {
        return expected(i, VALUE);
    }
    if token.starts_with('\'') {
        return expected(i, "a value in double quotes (\"...\"), not single quotes");
    }
    if let Some(value) = literal(token) {
        return Ok((rest, value));
    }
    if number_syntax(token.as_bytes()).is_ok_and(|(n, _)| n == token.len()) {
        let (rest, n) = number(i)?;
        return Ok((rest, CompValue::Number(n)));
    }
    let next = rest.trim_start_matches(is_space);
    let ends = next.is_empty()
        || next.starts_with([')', ']'])
        || keyword("and", next).is_ok()
        || keyword("or", next).is_ok();
    if !ends {
        if let Some(kw) = keyword_named(token) {
            return fail(i, ErrorKind::KeywordAsValue(kw));
        }
        return expected(
            next,
            "'and', 'or' or the end after an unquoted value (it ends at a space: put a value that holds spaces in double quotes)",
        );
    }
    let (head, cut) = match head(token, NOTE_CLIP) {
        (head, true) => (head, "…"),
        (head, false) => (head, ""),
    };
    let mut read = String::new();
    // Writing to a String cannot fail.
    let _ = write_json_string(&mut read, head);
    cx.note(format!(
        "filter value {head}{cut} was unquoted; read as the string {read}{cut}"
    ));
    Ok((rest, CompValue::Str(token.to_string())))
}

/// `string = quotation-mark *char quotation-mark` (RFC 8259 §7), every escape included;
/// a `\u` high surrogate must be followed by its low half.
fn string(i: &str) -> PResult<'_, String> {
    let mut out = String::new();
    let mut chars = i.char_indices().skip(1);
    while let Some((pos, c)) = chars.next() {
        match c {
            '"' => return Ok((&i[pos + 1..], out)),
            '\\' => {
                let esc_at = &i[pos..];
                let Some((_, e)) = chars.next() else {
                    return fail(esc_at, ErrorKind::InvalidEscape);
                };
                match e {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let Some((c, used)) = unicode_escape(&i[pos..]) else {
                            return fail(esc_at, ErrorKind::InvalidEscape);
                        };
                        out.push(c);
                        // `used` counts the whole escape, `\u` included; two chars are consumed.
                        for _ in 0..used - 2 {
                            chars.next();
                        }
                    }
                    _ => return fail(esc_at, ErrorKind::InvalidEscape),
                }
            }
            c if (c as u32) < 0x20 => return fail(&i[pos..], ErrorKind::ControlCharacter),
            c => out.push(c),
        }
    }
    fail(i, ErrorKind::UnterminatedString)
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`, at the start of `s`. Returns the character
/// and how many bytes (all ASCII) the escape took.
fn unicode_escape(s: &str) -> Option<(char, usize)> {
    let hex4 = |s: &str| -> Option<u32> {
        let h = s.get(..4)?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(h, 16).ok()
    };
    let first = hex4(s.get(2..)?)?;
    match first {
        0xD800..=0xDBFF => {
            if s.get(6..8)? != "\\u" {
                return None;
            }
            let second = hex4(s.get(8..)?)?;
            if !(0xDC00..=0xDFFF).contains(&second) {
                return None;
            }
            let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
            Some((char::from_u32(code)?, 12))
        }
        0xDC00..=0xDFFF => None,
        _ => Some((char::from_u32(first)?, 6)),
    }
}

/// `number = [ minus ] int [ frac ] [ exp ]` (RFC 8259 §6)
fn number(i: &str) -> PResult<'_, Number> {
    let (n, decimal) = match number_syntax(i.as_bytes()) {
        Ok(found) => found,
        Err((at, what)) => return expected(i.get(at..).unwrap_or(""), what),
    };
    let text = &i[..n];
    let value = if decimal {
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Number::Decimal(f),
            _ => return fail(i, ErrorKind::NumberOutOfRange),
        }
    } else {
        match text.parse::<i64>() {
            Ok(v) => Number::Int(v),
            Err(_) => return fail(i, ErrorKind::NumberOutOfRange),
        }
    };
    Ok((&i[n..], value))
}

/// How many bytes of `b` the JSON number at its start takes, and whether it has a fraction
/// or an exponent; or the offset where it breaks the grammar and what was expected there.
fn number_syntax(b: &[u8]) -> Result<(usize, bool), (usize, &'static str)> {
    let mut n = 0;
    if b.first() == Some(&b'-') {
        n += 1;
    }
    let digits = |from: usize| {
        b.get(from..)
            .map_or(0, |s| s.iter().take_while(|c| c.is_ascii_digit()).count())
    };
    // int = zero / ( digit1-9 *DIGIT )
    let int_len = digits(n);
    if int_len == 0 {
        return Err((n, "a number"));
    }
    if int_len > 1 && b.get(n) == Some(&b'0') {
        return Err((0, "a number without leading zeros"));
    }
    n += int_len;
    let mut decimal = false;
    // frac = decimal-point 1*DIGIT
    if b.get(n) == Some(&b'.') {
        let len = digits(n + 1);
        if len == 0 {
            return Err((n + 1, "a digit after the decimal point"));
        }
        n += 1 + len;
        decimal = true;
    }
    // exp = e [ minus / plus ] 1*DIGIT
    if matches!(b.get(n), Some(b'e' | b'E')) {
        let mut m = n + 1;
        if matches!(b.get(m), Some(b'+' | b'-')) {
            m += 1;
        }
        let len = digits(m);
        if len == 0 {
            return Err((m, "a digit in the exponent"));
        }
        n = m + len;
        decimal = true;
    }
    Ok((n, decimal))
}

/// `attrPath  = [URI ":"] ATTRNAME *1subAttr`
///
/// The URI may itself contain `:` and `.` (`urn:ietf:params:scim:schemas:core:2.0:User`), so
/// the whole path token is read first and split at its last `:`.
fn attr_path(i: &str) -> PResult<'_, AttrPath> {
    let Ok((rest, token)) = take_while1::<_, _, Fail>(is_path_char)(i) else {
        return Err(NomErr::Error(Fail {
            at: i,
            kind: ErrorKind::Expected("an attribute name, '(' or 'not'"),
        }));
    };
    let (uri, local) = match token.rsplit_once(':') {
        Some((uri, local)) => {
            if uri.is_empty() || uri.ends_with(':') {
                return expected(i, "a schema URI before ':'");
            }
            (Some(uri.to_string()), local)
        }
        None => (None, token),
    };
    let at = from(i, local);
    let (after, name) = attr_name(at)?;
    let (after, sub_attr) = match after.strip_prefix('.') {
        Some(sub) => {
            let (after, sub) = attr_name(sub)?;
            (after, Some(sub.to_string()))
        }
        None => (after, None),
    };
    // `after` is within the token; anything left of it is a second sub-attribute or stray
    // punctuation.
    if after.len() > rest.len() {
        return expected(after, "at most one sub-attribute after the attribute name");
    }
    Ok((
        rest,
        AttrPath {
            uri,
            name: name.to_string(),
            sub_attr,
        },
    ))
}

/// `ATTRNAME  = ALPHA *(nameChar)`
///
/// `$ref` (RFC 7643 §2.4) is accepted too: a leading `$` then name characters.
fn attr_name(i: &str) -> PResult<'_, &str> {
    let first_ok = match i.chars().next() {
        Some(c) => c.is_ascii_alphabetic() || c == '$',
        None => false,
    };
    if !first_ok {
        return expected(
            i,
            "an attribute name (a letter, then letters, digits, '-' or '_')",
        );
    }
    let len = 1 + i[1..].chars().take_while(|c| is_name_char(*c)).count();
    Ok((&i[len..], &i[..len]))
}

/// `PATH = attrPath / valuePath [subAttr]`
fn path<'a>(cx: &Ctx, i: &'a str) -> PResult<'a, PatchPath> {
    let (j, attr) = match attr_path(i) {
        Ok(ok) => ok,
        Err(NomErr::Error(e)) => return expected(e.at, "an attribute path"),
        Err(e) => return Err(e),
    };
    if !j.starts_with('[') {
        return Ok((
            j,
            PatchPath {
                attr,
                filter: None,
                sub_attr: None,
            },
        ));
    }
    let (j, filter) = value_filter(cx, i, j, &attr, false)?;
    let (j, sub_attr) = match j.strip_prefix('.') {
        Some(sub) => {
            let (j, name) = attr_name(sub)?;
            (j, Some(name.to_string()))
        }
        None => (j, None),
    };
    Ok((
        j,
        PatchPath {
            attr,
            filter: Some(filter),
            sub_attr,
        },
    ))
}
