//! The import file, read strictly: no row that is broken makes a user. The rules:
//! - Text: UTF-8, with or without a byte-order mark; [`decode`] reads bytes that are not
//!   UTF-8 as Windows-1252 (Latin-1 plus the printable characters Windows puts in
//!   0x80-0x9F), one character a byte. A NUL byte means a binary file, refused whole.
//! - Lines end in LF or CRLF. A row is one line: none of the columns can hold a line break,
//!   so no field spans lines, and a quote left open fails its own line and never swallows
//!   the rest of the file. Blank lines are skipped but counted, so line numbers are the
//!   file's own (the header is line 1 when nothing precedes it).
//! - The first non-blank line is the header. Its separator is `,`; or `;` when it has a `;`
//!   and no `,` (lists inside a field are then separated by `|`, or the field is quoted);
//!   or a tab when it has neither. A header that names none of the columns means the file is
//!   not an import (JSON, a spreadsheet, a data row without a header): it is refused whole,
//!   as is a header that cannot be read or names a column twice. Unknown columns next to
//!   known ones are refused by name; the email column is required.
//! - A field may contain `"` only if the whole field is quoted (blanks around the quotes are
//!   allowed), with each `"` inside it doubled (`"O""Brien"`). An unquoted field holding a
//!   `"`, text after a closing quote, and a quote not closed on its line each fail the row,
//!   naming the field. So does a control character, and a row with more or fewer fields
//!   than the header ("3 fields where the header has 4").
//! - Fields are trimmed. The email must pass the one email rule ([`crate::scim::email`]);
//!   products must be product names, and products of the account: a product named in the
//!   products column with no pool fails the row (one named by the settings or a rule
//!   waitlists, as everywhere else).

use super::super::error::{EngineError, ErrorCode};
use super::super::input::valid_product;
use super::super::synclog::clipped;

pub const COLUMNS: [&str; 7] = [
    "email",
    "userName",
    "givenName",
    "familyName",
    "products",
    "groups",
    "active",
];

/// One row of the file, as read.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// 1-based line of the file (the header is line 1); `None` for a user added by hand.
    pub line: Option<usize>,
    pub email: String,
    pub user_name: String,
    pub given_name: String,
    pub family_name: String,
    pub products: Vec<String>,
    pub groups: Vec<String>,
    pub active: bool,
    /// Set when the row could not be read; it is then reported as failed.
    pub problem: Option<String>,
}

fn split_list(s: &str) -> Vec<String> {
    s.split([';', '|'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn invalid_csv(message: String) -> EngineError {
    EngineError::Refused {
        code: ErrorCode::InvalidCsv,
        message,
        field: None,
    }
}

/// The bytes of a file as text: UTF-8 (a byte-order mark is dropped) or, when they are not
/// UTF-8, Windows-1252, one character a byte (what spreadsheets save as "CSV" on Windows; it
/// is Latin-1 with printable characters in 0x80-0x9F). UTF-16 and binary files are refused.
pub fn decode(bytes: &[u8]) -> Result<String, EngineError> {
    if bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]) {
        return Err(invalid_csv(
            "the file is UTF-16 text: save it as CSV (UTF-8 or Latin-1)".into(),
        ));
    }
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Err(binary(
            bytes.iter().take(at).filter(|b| **b == b'\n').count() + 1,
        ));
    }
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(_) => Ok(bytes.iter().map(|b| windows_1252(*b)).collect()),
    }
}

fn binary(line: usize) -> EngineError {
    invalid_csv(format!(
        "the file is not CSV text: it holds a NUL byte (line {line}), as binary files do"
    ))
}

/// One byte of Windows-1252. The five bytes it leaves undefined keep their Latin-1 (C1
/// control) meaning, as browsers read them.
fn windows_1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž',
        '\u{8f}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}',
        'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH
            .get(usize::from(b - 0x80))
            .copied()
            .unwrap_or('\u{fffd}'),
        _ => char::from(b),
    }
}

/// The fields of one line, by the quoting rules of the module. The error names the field.
fn fields(line: &str, delim: char) -> Result<Vec<String>, String> {
    let blank = |c: char| (c == ' ' || c == '\t') && c != delim;
    let mut out = vec![];
    let mut chars = line.chars().peekable();
    loop {
        let k = out.len() + 1;
        while chars.next_if(|c| blank(*c)).is_some() {}
        let mut field = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "field {k} opens a quote that is not closed on its line (no field may span lines)"
                        ))
                    }
                    Some('"') if chars.next_if_eq(&'"').is_some() => field.push('"'),
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            while chars.next_if(|c| blank(*c)).is_some() {}
            out.push(field.trim().to_string());
            match chars.next() {
                None => return Ok(out),
                Some(c) if c == delim => {}
                Some(_) => {
                    return Err(format!(
                        "field {k} has text after its closing quote (a quote inside a field is written twice: \"a \"\"b\"\" c\")"
                    ))
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        out.push(field.trim().to_string());
                        return Ok(out);
                    }
                    Some(c) if c == delim => break,
                    Some('"') => {
                        return Err(format!(
                            "field {k} holds a quote but is not quoted: quote the whole field and write the quote twice (\"a \"\"b\"\" c\")"
                        ))
                    }
                    Some(c) => field.push(c),
                }
            }
            out.push(field.trim().to_string());
        }
    }
}

/// The header's separator: `,`, else `;`, else a tab, else `,` (a one-column file).
fn separator(header: &str) -> char {
    if header.contains(',') {
        ','
    } else if header.contains(';') {
        ';'
    } else if header.contains('\t') {
        '\t'
    } else {
        ','
    }
}

/// Where each column is in a row, from the header. Refuses a file that is not an import.
fn columns(
    header: &str,
    line: usize,
    delim: char,
) -> Result<([Option<usize>; 7], usize), EngineError> {
    let names = fields(header, delim).map_err(|e| {
        invalid_csv(format!(
            "line {line}, the header, cannot be read: {e}; the columns are {}",
            COLUMNS.join(", ")
        ))
    })?;
    let mut index = [None; 7];
    let mut unknown = vec![];
    for (i, h) in names.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}');
        match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(h)) {
            Some(c) => match index.get_mut(c) {
                Some(Some(_)) => {
                    return Err(invalid_csv(format!(
                        "the header (line {line}) names the column '{}' twice",
                        COLUMNS.get(c).copied().unwrap_or_default()
                    )))
                }
                Some(slot) => *slot = Some(i),
                None => {}
            },
            None if h.is_empty() => unknown.push(format!("(a blank name, column {})", i + 1)),
            None => unknown.push(clipped(h)),
        }
    }
    if index.iter().all(Option::is_none) {
        return Err(invalid_csv(format!(
            "line {line} is not the header of an import: it names none of the columns {}. Is this a CSV file?",
            COLUMNS.join(", ")
        )));
    }
    if !unknown.is_empty() {
        return Err(EngineError::Refused {
            code: ErrorCode::UnknownColumns,
            message: format!(
                "unknown column(s): {}; the columns are {}",
                unknown.join(", "),
                COLUMNS.join(", ")
            ),
            field: Some(unknown.join(",")),
        });
    }
    if index[0].is_none() {
        return Err(EngineError::Refused {
            code: ErrorCode::MissingColumn,
            message: "the file needs an email column".into(),
            field: Some("email".into()),
        });
    }
    Ok((index, names.len()))
}

/// Reads the CSV (the rules are the module's). A file that is not an import, or an unknown
/// or missing column, is an error for the whole file; a bad row is a failed row.
pub fn parse(text: &str) -> Result<Vec<Row>, EngineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(at) = text.find('\0') {
        return Err(binary(text[..at].matches('\n').count() + 1));
    }
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(n, l)| (n + 1, l))
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((header_line, header)) = lines.next() else {
        return Err(invalid_csv(format!(
            "the file is empty: its first line is the header, e.g. {}",
            COLUMNS.join(",")
        )));
    };
    let delim = separator(header);
    let (index, width) = columns(header, header_line, delim)?;
    Ok(lines
        .map(|(line, text)| row(line, text, delim, &index, width))
        .collect())
}

/// One line of the file as a row; what is wrong with it is its problem.
fn row(line: usize, text: &str, delim: char, index: &[Option<usize>; 7], width: usize) -> Row {
    let failed = |problem: String| Row {
        line: Some(line),
        problem: Some(problem),
        ..Row::default()
    };
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\t') {
        return failed(format!(
            "the line holds a control character (U+{:04X})",
            u32::from(c)
        ));
    }
    let record = match fields(text, delim) {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    if record.len() != width {
        return failed(format!(
            "{} field{} where the header has {width}",
            record.len(),
            if record.len() == 1 { "" } else { "s" }
        ));
    }
    let get = |c: usize| {
        index
            .get(c)
            .copied()
            .flatten()
            .and_then(|i| record.get(i))
            .cloned()
            .unwrap_or_default()
    };
    let email = get(0);
    let mut row = Row {
        line: Some(line),
        user_name: Some(get(1))
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| email.clone()),
        email,
        given_name: get(2),
        family_name: get(3),
        products: split_list(&get(4)),
        groups: split_list(&get(5)),
        active: true,
        problem: None,
    };
    match get(6).to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "1" | "active" => {}
        "false" | "no" | "0" | "suspended" => row.active = false,
        other => row.problem = Some(format!("active is '{}': use true or false", clipped(other))),
    }
    if row.problem.is_none() {
        if let Err(why) = crate::scim::email::check(&row.email) {
            row.problem = Some(format!(
                "{} is not an email address: {why}",
                crate::scim::email::quoted(&row.email)
            ));
        }
    }
    if let Some(p) = row.products.iter().find(|p| !valid_product(p)) {
        row.problem
            .get_or_insert_with(|| format!("'{}' is not a product name", clipped(p)));
    }
    row
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn problems(text: &str) -> Vec<(Option<usize>, Option<String>)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|r| (r.line, r.problem))
            .collect()
    }

    fn refused(text: &str) -> (ErrorCode, String) {
        match parse(text) {
            Err(EngineError::Refused { code, message, .. }) => (code, message),
            other => panic!("{text:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn fields_follow_the_quoting_rules() {
        assert_eq!(fields("a,b,c", ',').unwrap(), ["a", "b", "c"]);
        assert_eq!(fields("a,,", ',').unwrap(), ["a", "", ""]);
        assert_eq!(fields(" a , \"b, c\" ,d", ',').unwrap(), ["a", "b, c", "d"]);
        assert_eq!(fields("\"O\"\"Brien\",x", ',').unwrap(), ["O\"Brien", "x"]);
        assert_eq!(fields("\"\"", ',').unwrap(), [""]);
        assert_eq!(fields("a;\"b;c\";d|e", ';').unwrap(), ["a", "b;c", "d|e"]);
        assert_eq!(fields("a\tb c\t\"d\"", '\t').unwrap(), ["a", "b c", "d"]);
        let e = fields("a,b\"c,d", ',').unwrap_err();
        assert!(
            e.starts_with("field 2 holds a quote but is not quoted"),
            "{e}"
        );
        let e = fields("\"a\"b,c", ',').unwrap_err();
        assert!(
            e.starts_with("field 1 has text after its closing quote"),
            "{e}"
        );
        let e = fields("a,\"b,c", ',').unwrap_err();
        assert!(
            e.starts_with("field 2 opens a quote that is not closed"),
            "{e}"
        );
    }

    #[test]
    fn the_reported_file_fails_its_broken_rows() {
        let text = "email,userName,givenName,familyName\n\"bad@example.com,bad,\"Ba\"d,X\nok1@example.com,ok1,\"Ok, One\",Y\n\"unterminated@example.com,u,U,U\n";
        let rows = parse(text).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].line, Some(2));
        assert!(rows[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("closing quote"));
        assert_eq!(rows[1].problem, None);
        assert_eq!(rows[1].given_name, "Ok, One");
        assert_eq!(rows[2].line, Some(4));
        assert!(rows[2].problem.as_deref().unwrap().contains("not closed"));
    }

    #[test]
    fn rows_need_as_many_fields_as_the_header() {
        assert_eq!(
            problems(
                "email,userName,givenName,familyName\na@b.co,a,A\n\na@b.co,a,A,A,A\na@b.co,a,A,A\n"
            ),
            [
                (Some(2), Some("3 fields where the header has 4".into())),
                (Some(4), Some("5 fields where the header has 4".into())),
                (Some(5), None),
            ]
        );
        assert_eq!(
            problems("email,userName\nonly@b.co\n"),
            [(Some(2), Some("1 field where the header has 2".into()))]
        );
    }

    #[test]
    fn bom_crlf_and_separators() {
        let rows =
            parse("\u{feff}email;userName;products\r\na@b.co;a;x|y\r\n\r\nb@b.co;b;\"x;y\"\r\n")
                .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].products, ["x", "y"]);
        assert_eq!(rows[1].line, Some(4));
        assert_eq!(rows[1].products, ["x", "y"]);
        assert_eq!(rows[1].problem, None);
        let rows = parse("email\tuserName\na@b.co\ta\n").unwrap();
        assert_eq!(rows[0].user_name, "a");
        assert_eq!(separator("email,userName;x"), ',');
    }

    #[test]
    fn files_that_are_not_imports_are_refused_whole() {
        for text in [
            "",
            "\n\n",
            "{\"email\": \"a@b.co\"}",
            "[{\"email\": \"a@b.co\"}]\n",
            "a@b.co,bob\n",
            "hello\n",
            "email,email\na@b.co,a@b.co\n",
            "PK\u{3}\u{4}\0\0email\n",
            "email\na@b.co\0\n",
        ] {
            assert_eq!(refused(text).0, ErrorCode::InvalidCsv, "{text:?}");
        }
        assert!(refused("email\na@b.co\nx\0").1.contains("line 3"));
        assert_eq!(refused("email,shoe\n").0, ErrorCode::UnknownColumns);
        assert_eq!(refused("userName\nbob\n").0, ErrorCode::MissingColumn);
    }

    #[test]
    fn rows_follow_the_email_rule_and_name_products() {
        let p = problems(
            "email,products\nx@,\nq\"uote@example.com,\n\"a b@example.com\",\nfirst.last+tag@sub.example.co.uk,\nc@d.co,Bad\nc@d.co,\"a\u{7}\"\n",
        );
        assert!(p[0]
            .1
            .as_deref()
            .unwrap()
            .starts_with("'x@' is not an email address"));
        assert!(p[1].1.as_deref().unwrap().contains("quote"));
        assert!(p[2].1.as_deref().unwrap().contains("whitespace"));
        assert_eq!(p[3].1, None);
        assert!(p[4]
            .1
            .as_deref()
            .unwrap()
            .contains("'Bad' is not a product name"));
        assert!(p[5].1.as_deref().unwrap().contains("control character"));
    }

    #[test]
    fn decode_reads_utf8_and_falls_back_to_latin1() {
        assert_eq!(decode(b"\xef\xbb\xbfemail\r\n").unwrap(), "email\r\n");
        assert_eq!(decode("Müller".as_bytes()).unwrap(), "Müller");
        assert_eq!(decode(b"M\xfcller").unwrap(), "Müller");
        assert_eq!(decode(b"\x93O\x92Brien\x94 \x80").unwrap(), "“O’Brien” €");
        assert_eq!(decode(b"\x81").unwrap(), "\u{81}");
        for bad in [&b"\xff\xfee\0"[..], b"\xfe\xff\0e", b"\x89PNG\r\n\x1a\n\0"] {
            assert!(matches!(
                decode(bad),
                Err(EngineError::Refused {
                    code: ErrorCode::InvalidCsv,
                    ..
                })
            ));
        }
    }
}
