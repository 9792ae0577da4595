//! Table tests from RFC 7644, invalid inputs with their offsets, the lenient reading, and
//! property tests.

use proptest::prelude::*;

use super::*;

fn canon(input: &str) -> String {
    match parse_filter(input) {
        Ok(f) => f.to_string(),
        Err(e) => panic!("{input:?} should parse: {}", e.render(input)),
    }
}

fn canon_path(input: &str) -> String {
    match parse_path(input) {
        Ok(p) => p.to_string(),
        Err(e) => panic!("{input:?} should parse: {}", e.render(input)),
    }
}

fn err(input: &str) -> ParseError {
    match parse_filter(input) {
        Ok(f) => panic!("{input:?} should not parse, got {f}"),
        Err(e) => e,
    }
}

fn path_err(input: &str) -> ParseError {
    match parse_path(input) {
        Ok(p) => panic!("{input:?} should not parse as a path, got {p}"),
        Err(e) => e,
    }
}

/// Every filter example of RFC 7644 §3.4.2.2 and the ones in §3.4.3 and §3.5.2, with its
/// canonical form.
#[test]
fn rfc7644_filter_examples() {
    let table = [
        (r#"userName eq "bjensen""#, r#"userName eq "bjensen""#),
        (
            r#"name.familyName co "O'Malley""#,
            r#"name.familyName co "O'Malley""#,
        ),
        (r#"userName sw "J""#, r#"userName sw "J""#),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        ),
        ("title pr", "title pr"),
        (
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
        ),
        (
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
        ),
        (
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
        ),
        (
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
        ),
        (
            r#"title pr and userType eq "Employee""#,
            r#"(title pr and userType eq "Employee")"#,
        ),
        (
            r#"title pr or userType eq "Intern""#,
            r#"(title pr or userType eq "Intern")"#,
        ),
        (
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"(userType eq "Employee" and (emails co "example.com" or emails.value co "example.org"))"#,
        ),
        (
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"(userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org"))"#,
        ),
        (
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"(userType eq "Employee" and emails.type eq "work")"#,
        ),
        (
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"(userType eq "Employee" and emails[(type eq "work" and value co "@example.com")])"#,
        ),
        (
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
            r#"(emails[(type eq "work" and value co "@example.com")] or ims[(type eq "xmpp" and value co "@foo.com")])"#,
        ),
        // §3.4.3 (POST /.search) and §3.4.2.2's `displayName` example.
        (r#"displayName sw "smith""#, r#"displayName sw "smith""#),
        (r#"displayName eq "Group A""#, r#"displayName eq "Group A""#),
    ];
    for (input, want) in table {
        assert_eq!(canon(input), want, "input {input:?}");
    }
}

/// Every `path` example of RFC 7644 §3.5.2 and its subsections.
#[test]
fn rfc7644_path_examples() {
    let table = [
        ("members", "members"),
        ("name.familyName", "name.familyName"),
        (
            r#"addresses[type eq "work"]"#,
            r#"addresses[type eq "work"]"#,
        ),
        (
            r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
            r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        ),
        (
            r#"members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName"#,
            r#"members[value eq "2819c223-7f76-453a-919d-413861904646"].displayName"#,
        ),
        (
            r#"emails[type eq "work" and value ew "example.com"]"#,
            r#"emails[(type eq "work" and value ew "example.com")]"#,
        ),
        (
            r#"addresses[type eq "work"].streetAddress"#,
            r#"addresses[type eq "work"].streetAddress"#,
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        ),
        (
            r#"emails[type eq "work"].value"#,
            r#"emails[type eq "work"].value"#,
        ),
    ];
    for (input, want) in table {
        assert_eq!(canon_path(input), want, "input {input:?}");
    }
}

#[test]
fn urn_prefix_splits_at_the_last_colon() {
    let f = parse_filter(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
    )
    .unwrap();
    let Filter::Compare { path, op, value } = f else {
        panic!("not a comparison")
    };
    assert_eq!(
        path.uri.as_deref(),
        Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
    );
    assert_eq!(path.name, "manager");
    assert_eq!(path.sub_attr.as_deref(), Some("value"));
    assert_eq!(op, CompareOp::Eq);
    assert_eq!(value, CompValue::Str("x".into()));

    let p = parse_path("urn:roster:params:scim:schemas:extension:2.0:User:status").unwrap();
    assert_eq!(
        p.attr.uri.as_deref(),
        Some("urn:roster:params:scim:schemas:extension:2.0:User")
    );
    assert_eq!(p.attr.name, "status");

    let f = parse_filter(r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]"#)
        .unwrap();
    let Filter::ValuePath { path, .. } = f else {
        panic!("not a value path")
    };
    assert_eq!(path.name, "emails");
}

#[test]
fn precedence_not_then_and_then_or() {
    let a = || Filter::Present(AttrPath::new("a"));
    let b = || Filter::Present(AttrPath::new("b"));
    let c = || Filter::Present(AttrPath::new("c"));
    assert_eq!(
        parse_filter("a pr or b pr and c pr").unwrap(),
        Filter::or(a(), Filter::and(b(), c()))
    );
    assert_eq!(
        parse_filter("a pr and b pr or c pr").unwrap(),
        Filter::or(Filter::and(a(), b()), c())
    );
    assert_eq!(
        parse_filter("(a pr or b pr) and c pr").unwrap(),
        Filter::and(Filter::or(a(), b()), c())
    );
    assert_eq!(
        parse_filter("not (a pr) and b pr").unwrap(),
        Filter::and(Filter::not(a()), b())
    );
    // Left associative.
    assert_eq!(
        parse_filter("a pr or b pr or c pr").unwrap(),
        Filter::or(Filter::or(a(), b()), c())
    );
    assert_eq!(
        parse_filter("a pr and b pr and c pr").unwrap(),
        Filter::and(Filter::and(a(), b()), c())
    );
}

#[test]
fn operators_and_keywords_in_any_case() {
    assert_eq!(
        canon(r#"userName EQ "x" AND Title Pr OR NOT (a Sw "y")"#),
        r#"((userName eq "x" and Title pr) or not (a sw "y"))"#
    );
    for op in CompareOp::ALL {
        let upper = format!("a {} 1", op.as_str().to_uppercase());
        assert_eq!(canon(&upper), format!("a {} 1", op.as_str()));
    }
    assert_eq!(canon("a eq TRUE"), "a eq true");
    assert_eq!(canon("a eq False"), "a eq false");
    assert_eq!(canon("a eq NULL"), "a eq null");
}

#[test]
fn literals() {
    let value = |input: &str| match parse_filter(input).unwrap() {
        Filter::Compare { value, .. } => value,
        other => panic!("not a comparison: {other:?}"),
    };
    assert_eq!(value("a eq 0"), CompValue::Number(Number::Int(0)));
    assert_eq!(value("a eq -42"), CompValue::Number(Number::Int(-42)));
    assert_eq!(
        value("a eq 9223372036854775807"),
        CompValue::Number(Number::Int(i64::MAX))
    );
    assert_eq!(
        value("a eq -9223372036854775808"),
        CompValue::Number(Number::Int(i64::MIN))
    );
    assert_eq!(value("a eq 1.5"), CompValue::Number(Number::Decimal(1.5)));
    assert_eq!(
        value("a eq -0.25"),
        CompValue::Number(Number::Decimal(-0.25))
    );
    assert_eq!(
        value("a eq 1e3"),
        CompValue::Number(Number::Decimal(1000.0))
    );
    assert_eq!(
        value("a eq 1E+3"),
        CompValue::Number(Number::Decimal(1000.0))
    );
    assert_eq!(
        value("a eq 2.5e-3"),
        CompValue::Number(Number::Decimal(0.0025))
    );
    assert_eq!(value("a eq true"), CompValue::Bool(true));
    assert_eq!(value("a eq false"), CompValue::Bool(false));
    assert_eq!(value("a eq null"), CompValue::Null);
    assert_eq!(
        value(r#"a eq "q\"b\\s\/f\bf\fn\nr\rt\t""#),
        CompValue::Str("q\"b\\s/f\u{8}f\u{c}n\nr\rt\t".into())
    );
    assert_eq!(
        value(r#"a eq "\u00e9\u4e2d""#),
        CompValue::Str("é中".into())
    );
    assert_eq!(value(r#"a eq "\ud83d\ude00""#), CompValue::Str("😀".into()));
    assert_eq!(value(r#"a eq "é😀""#), CompValue::Str("é😀".into()));
    assert_eq!(value(r#"a eq """#), CompValue::Str(String::new()));
    // Decimals stay decimals when printed.
    assert_eq!(canon("a eq 1.0"), "a eq 1.0");
    assert_eq!(canon("a eq 1e300"), "a eq 1e300");
    // Escapes are normalised.
    assert_eq!(canon(r#"a eq "\/\u0041\u0001""#), r#"a eq "/A\u0001""#);
}

#[test]
fn whitespace_is_flexible_where_the_rfc_says_sp() {
    assert_eq!(
        canon("  a  eq\t\"x\"\n and\n(b pr)  "),
        r#"(a eq "x" and b pr)"#
    );
    assert_eq!(canon("not(a pr)"), "not (a pr)");
    assert_eq!(canon("( a pr )"), "a pr");
    assert_eq!(
        canon(r#"emails[ type eq "work" ]"#),
        r#"emails[type eq "work"]"#
    );
}

#[test]
fn names_that_look_like_keywords() {
    assert_eq!(canon("not pr"), "not pr");
    assert_eq!(
        canon("android pr and order eq 1"),
        "(android pr and order eq 1)"
    );
    assert_eq!(canon("$ref eq \"x\""), "$ref eq \"x\"");
    assert_eq!(canon("members.$ref pr"), "members.$ref pr");
    assert_eq!(canon("x-y_z2 pr"), "x-y_z2 pr");
}

#[test]
fn invalid_filters_say_where_and_what() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "an attribute name"),
        ("   ", 3, "an attribute name"),
        ("userName", 8, "an operator"),
        ("userName xx \"a\"", 9, "an operator"),
        ("userName eq", 11, "a space and a value"),
        ("userName eq ", 12, "a value"),
        ("userName eq bjensen", 12, "a value"),
        ("userName eq \"bjensen", 12, "not closed"),
        ("userName eq \"a\\qb\"", 14, "invalid escape"),
        ("userName eq \"\\u12\"", 13, "invalid escape"),
        ("userName eq \"\\ud800\"", 13, "invalid escape"),
        ("userName eq \"\\udc00\"", 13, "invalid escape"),
        ("userName eq \"a\u{1}\"", 14, "control character"),
        ("a eq 01", 5, "a number without leading zeros"),
        ("a eq 1.", 7, "a digit after the decimal point"),
        ("a eq 1e", 7, "a digit in the exponent"),
        ("a eq -", 6, "a number"),
        ("a eq 99999999999999999999", 5, "out of range"),
        ("a eq 1e999", 5, "out of range"),
        ("a pr and", 8, "an attribute name"),
        ("a pr or ", 8, "an attribute name"),
        ("a pr b pr", 5, "'and', 'or' or the end"),
        ("(a pr", 5, "'and', 'or' or ')'"),
        ("a pr)", 4, "'and', 'or' or the end"),
        ("not a pr", 4, "an operator"),
        ("emails[type eq \"work\"", 21, "'and', 'or' or ']'"),
        (
            "emails[type eq \"work\"].value eq \"x\"",
            22,
            "'and', 'or' or the end",
        ),
        ("emails[a[b pr]]", 8, "cannot contain another value filter"),
        ("name.givenName[a pr]", 0, "not to a sub-attribute"),
        ("a.b.c pr", 3, "at most one sub-attribute"),
        ("a. pr", 2, "an attribute name"),
        ("1a pr", 0, "an attribute name"),
        (":a pr", 0, "a schema URI"),
        ("urn:x:2.0 pr", 6, "an attribute name"),
        ("a eq \"x\" and or b pr", 16, "an operator"),
        ("\"x\" eq a", 0, "an attribute name"),
    ];
    for (input, offset, text) in cases {
        let e = err(input);
        assert_eq!(e.offset, *offset, "offset for {input:?}: {e}");
        assert!(
            e.to_string().contains(text),
            "message for {input:?} should mention {text:?}: {e}"
        );
    }
}

#[test]
fn invalid_paths() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "an attribute path"),
        ("members[", 8, "an attribute name"),
        ("members[value eq \"x\"", 20, "']'"),
        ("members[value eq \"x\"].", 22, "an attribute name"),
        ("members[value eq \"x\"].a.b", 23, "the end of the path"),
        ("members x", 8, "the end of the path"),
        ("name.givenName[a pr]", 0, "not to a sub-attribute"),
    ];
    for (input, offset, text) in cases {
        let e = path_err(input);
        assert_eq!(e.offset, *offset, "offset for {input:?}: {e}");
        assert!(
            e.to_string().contains(text),
            "message for {input:?} should mention {text:?}: {e}"
        );
    }
}

#[test]
fn limits_are_enforced_with_clear_errors() {
    let limits = Limits {
        max_len: 20,
        max_depth: 3,
        max_terms: 2,
    };
    let e = parse_filter_with("a eq \"0123456789012345\"", &limits).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooLong { limit: 20 });

    assert!(parse_filter_with("(((a pr)))", &limits).is_ok());
    let e = parse_filter_with("((((a pr))))", &limits).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooDeep { limit: 3 });
    assert_eq!(e.offset, 3);
    let e = parse_filter_with(
        "not(not(x[not(a pr)]))",
        &Limits {
            max_len: 100,
            ..limits
        },
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooDeep { limit: 3 });

    assert!(parse_filter_with("a pr and b pr", &limits).is_ok());
    let e = parse_filter_with(
        "a pr and b pr or c pr",
        &Limits {
            max_len: 100,
            ..limits
        },
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooManyTerms { limit: 2 });

    // The defaults: 64 KiB, 64 levels, 1,000 terms.
    let d = Limits::default();
    assert_eq!((d.max_len, d.max_depth, d.max_terms), (65536, 64, 1000));
    let deep = format!("{}a pr{}", "(".repeat(64), ")".repeat(64));
    assert!(parse_filter(&deep).is_ok());
    let deeper = format!("{}a pr{}", "(".repeat(65), ")".repeat(65));
    assert!(matches!(
        parse_filter(&deeper).unwrap_err().kind,
        ErrorKind::TooDeep { limit: 64 }
    ));
    let many = vec!["a pr"; 1001].join(" or ");
    assert!(matches!(
        parse_filter(&many).unwrap_err().kind,
        ErrorKind::TooManyTerms { limit: 1000 }
    ));
    let long = format!("a eq \"{}\"", "x".repeat(70_000));
    assert!(matches!(
        parse_filter(&long).unwrap_err().kind,
        ErrorKind::TooLong { limit: 65536 }
    ));
    // A huge flat chain is no problem for the stack: and/or are parsed in loops.
    let wide = vec!["a pr"; 1000].join(" and ");
    assert!(parse_filter(&wide).is_ok());
}

#[test]
fn render_puts_a_caret_under_the_offset() {
    let input = "userName xx \"bob\"";
    let e = err(input);
    let shown = e.render(input);
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 3, "{shown}");
    assert!(lines[0].starts_with("error: expected an operator"));
    assert_eq!(lines[1], "  userName xx \"bob\"");
    assert_eq!(lines[2], "           ^");

    // Multi-byte characters before the offset count as one column each.
    let input = "a eq \"é\" zz";
    let e = err(input);
    assert_eq!(e.offset, 10);
    let shown = e.render(input);
    assert_eq!(
        shown.lines().nth(2),
        Some(&format!("  {}^", " ".repeat(9))[..])
    );

    // Only the line holding the offset is shown.
    let input = "a pr and\nb xx 1";
    let shown = err(input).render(input);
    assert_eq!(shown.lines().nth(1), Some("  b xx 1"));
    assert_eq!(shown.lines().nth(2), Some("    ^"));
}

// ---- the lenient reading: shapes identity providers send beyond the ABNF ----

fn lenient(input: &str) -> (String, Vec<String>) {
    match parse_filter_lenient(input, &Limits::default()) {
        Ok((f, notes)) => (f.to_string(), notes),
        Err(e) => panic!("{input:?} should parse leniently: {}", e.render(input)),
    }
}

fn lenient_err(input: &str) -> ParseError {
    match parse_filter_lenient(input, &Limits::default()) {
        Ok((f, _)) => panic!("{input:?} should not parse leniently, got {f}"),
        Err(e) => e,
    }
}

fn unquoted_note(token: &str, read: &str) -> String {
    format!("filter value {token} was unquoted; read as the string {read}")
}

/// An input, its canonical form, and the notes' (value, string read) pairs.
type Unquoted<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// The filters of Microsoft's reference collection, and other unquoted values.
#[test]
fn unquoted_values_are_read_as_strings_with_a_note() {
    let table: &[Unquoted] = &[
        (
            "userName eq bjensen",
            r#"userName eq "bjensen""#,
            &[("bjensen", r#""bjensen""#)],
        ),
        ("userName sw O", r#"userName sw "O""#, &[("O", r#""O""#)]),
        (
            "emails[type eq work]",
            r#"emails[type eq "work"]"#,
            &[("work", r#""work""#)],
        ),
        (
            "meta.Created gt 2015-10-10T14:38:21.8617979-07:00",
            r#"meta.Created gt "2015-10-10T14:38:21.8617979-07:00""#,
            &[(
                "2015-10-10T14:38:21.8617979-07:00",
                r#""2015-10-10T14:38:21.8617979-07:00""#,
            )],
        ),
        (
            "name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)",
            r#"(name.FamilyName eq "Employee" and (emails.Value co "example.com" or emails.Value co "example.org"))"#,
            &[
                ("Employee", r#""Employee""#),
                ("example.com", r#""example.com""#),
                ("example.org", r#""example.org""#),
            ],
        ),
        (
            "emails co @contoso.com",
            r#"emails co "@contoso.com""#,
            &[("@contoso.com", r#""@contoso.com""#)],
        ),
        (
            "name.familyName eq O'Malley",
            r#"name.familyName eq "O'Malley""#,
            &[("O'Malley", r#""O'Malley""#)],
        ),
        (
            "displayName eq Müller",
            r#"displayName eq "Müller""#,
            &[("Müller", r#""Müller""#)],
        ),
        (
            r"userName eq CONTOSO\bob",
            r#"userName eq "CONTOSO\\bob""#,
            &[(r"CONTOSO\bob", r#""CONTOSO\\bob""#)],
        ),
        // Not whole JSON numbers: strings.
        (
            "employeeNumber eq 0042",
            r#"employeeNumber eq "0042""#,
            &[("0042", r#""0042""#)],
        ),
        (
            "version eq 1.2.3",
            r#"version eq "1.2.3""#,
            &[("1.2.3", r#""1.2.3""#)],
        ),
        ("a eq trueish", r#"a eq "trueish""#, &[("trueish", r#""trueish""#)]),
        // A keyword where nothing follows it is a value.
        (
            "addresses[country eq pr]",
            r#"addresses[country eq "pr"]"#,
            &[("pr", r#""pr""#)],
        ),
        ("a eq and", r#"a eq "and""#, &[("and", r#""and""#)]),
        // The same value twice, one note; whitespace, `)` and `]` end a value.
        (
            "(a eq x)or(b eq x\t)",
            r#"(a eq "x" or b eq "x")"#,
            &[("x", r#""x""#)],
        ),
    ];
    for (input, want, notes) in table {
        let (got, got_notes) = lenient(input);
        assert_eq!(&got, want, "input {input:?}");
        let want_notes: Vec<String> = notes.iter().map(|(t, r)| unquoted_note(t, r)).collect();
        assert_eq!(got_notes, want_notes, "notes for {input:?}");
        // The strict reading refuses them all, where the value starts.
        assert!(parse_filter(input).is_err(), "{input:?} is not RFC 7644");
    }
    // A long value is quoted in part.
    let long = "x".repeat(300);
    let (_, notes) = lenient(&format!("a eq {long}"));
    let shown = format!("{}…", "x".repeat(100));
    assert_eq!(
        notes,
        vec![format!(
            "filter value {shown} was unquoted; read as the string \"{}\"…",
            "x".repeat(100)
        )]
    );
}

#[test]
fn unquoted_literals_and_numbers_keep_their_json_meaning() {
    let value = |input: &str| match parse_filter_lenient(input, &Limits::default()) {
        Ok((Filter::Compare { value, .. }, notes)) => {
            assert!(notes.is_empty(), "no note for {input:?}: {notes:?}");
            value
        }
        other => panic!("not a comparison: {other:?}"),
    };
    assert_eq!(value("active eq true"), CompValue::Bool(true));
    assert_eq!(value("active eq FALSE"), CompValue::Bool(false));
    assert_eq!(value("manager eq null"), CompValue::Null);
    assert_eq!(value("a eq 42"), CompValue::Number(Number::Int(42)));
    assert_eq!(value("a eq -7"), CompValue::Number(Number::Int(-7)));
    assert_eq!(
        value("a eq -1.5e3"),
        CompValue::Number(Number::Decimal(-1500.0))
    );
    assert_eq!(value(r#"a eq "42""#), CompValue::Str("42".into()));
    let (f, notes) = parse_filter_lenient("a[b eq 1] and c eq true", &Limits::default()).unwrap();
    assert!(notes.is_empty());
    assert_eq!(f, parse_filter("a[b eq 1] and c eq true").unwrap());
}

#[test]
fn unquoted_values_that_stay_refused() {
    let cases: &[(&str, usize, &str)] = &[
        ("userName eq", 11, "a space and a value"),
        ("userName eq ", 12, "a value"),
        ("userName eq )", 12, "a value"),
        ("emails[type eq ]", 15, "a value"),
        ("userName eq (x)", 12, "a value"),
        ("userName eq bj\"ensen", 14, "'\"' inside an unquoted value"),
        ("userName eq a(b", 13, "'(' inside an unquoted value"),
        ("userName eq a[b]", 13, "'[' inside an unquoted value"),
        ("userName eq 'bjensen'", 12, "double quotes"),
        ("userName eq a\u{1}b", 13, "control character"),
        ("userName eq a\u{c}b", 13, "control character"),
        ("userName eq Barbara Jensen", 20, "an unquoted value"),
        ("a eq x pr", 7, "an unquoted value"),
        ("a eq and b pr", 5, "not the keyword 'and'"),
        ("a eq EQ \"x\"", 5, "not the keyword 'eq'"),
        ("a eq not (b pr)", 5, "not the keyword 'not'"),
        ("a eq 99999999999999999999", 5, "out of range"),
        ("a eq 1e999", 5, "out of range"),
        ("a eq x)", 6, "'and', 'or' or the end"),
        ("(a eq x", 7, "'and', 'or' or ')'"),
        ("emails[type eq work", 19, "'and', 'or' or ']'"),
        ("emails[type eq work]]", 20, "'and', 'or' or the end"),
        ("a eq x and", 10, "an attribute name"),
        ("\"x\" eq a", 0, "an attribute name"),
        ("userName bjensen", 9, "an operator"),
    ];
    for (input, offset, text) in cases {
        let e = lenient_err(input);
        assert_eq!(e.offset, *offset, "offset for {input:?}: {e}");
        assert!(
            e.to_string().contains(text),
            "message for {input:?} should mention {text:?}: {e}"
        );
    }
    let input = "userName eq bj\"ensen";
    let shown = lenient_err(input).render(input);
    assert_eq!(shown.lines().nth(2), Some("                ^"));
}

#[test]
fn a_value_path_then_a_comparison_joins_the_value_filter() {
    let read = |input: &str| match parse_filter_lenient(input, &Limits::default()) {
        Ok(ok) => ok,
        Err(e) => panic!("{input:?} should parse leniently: {}", e.render(input)),
    };
    let (f, notes) = read(r#"emails[type eq "work"].value eq "x@contoso.com""#);
    assert_eq!(
        f,
        parse_filter(r#"emails[type eq "work" and value eq "x@contoso.com"]"#).unwrap()
    );
    assert_eq!(
        notes,
        vec![r#"filter emails[type eq "work"].value eq "x@contoso.com" is not RFC 7644 syntax; read as emails[(type eq "work" and value eq "x@contoso.com")]"#.to_string()]
    );
    // `pr` likewise: a work email that has a value.
    let (f, notes) = read(r#"emails[type eq "work"].value pr"#);
    assert_eq!(
        f,
        parse_filter(r#"emails[type eq "work" and value pr]"#).unwrap()
    );
    assert_eq!(notes.len(), 1);
    // The value filter stays one operand, whatever it holds.
    let (f, _) = read(r#"emails[type eq "work" or primary eq true].value ew "@contoso.com""#);
    assert_eq!(
        f.to_string(),
        r#"emails[((type eq "work" or primary eq true) and value ew "@contoso.com")]"#
    );
    // With a URN, in any case, inside a larger filter, with unquoted values.
    let (f, notes) = read(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[Type EQ "work"].Value SW "x" and active eq true"#,
    );
    assert_eq!(
        f.to_string(),
        r#"(urn:ietf:params:scim:schemas:core:2.0:User:emails[(Type eq "work" and Value sw "x")] and active eq true)"#
    );
    assert_eq!(notes.len(), 1);
    let (f, notes) = read("not (emails[type eq work].value eq x@contoso.com)");
    assert_eq!(
        f.to_string(),
        r#"not (emails[(type eq "work" and value eq "x@contoso.com")])"#
    );
    assert_eq!(
        notes,
        vec![
            unquoted_note("work", r#""work""#),
            unquoted_note("x@contoso.com", r#""x@contoso.com""#),
            r#"filter emails[type eq work].value eq x@contoso.com is not RFC 7644 syntax; read as emails[(type eq "work" and value eq "x@contoso.com")]"#.to_string(),
        ]
    );
    // The strict reading keeps refusing it.
    assert_eq!(
        err(r#"emails[type eq "work"].value eq "x""#).offset,
        22,
        "strict"
    );
}

#[test]
fn a_value_path_then_something_else_is_refused() {
    let cases: &[(&str, usize, &str)] = &[
        (r#"emails[type eq "work"]."#, 23, "an attribute name"),
        (
            r#"emails[type eq "work"].value"#,
            28,
            "a space and an operator",
        ),
        (
            r#"emails[type eq "work"].value eq"#,
            31,
            "a space and a value",
        ),
        (r#"emails[type eq "work"].value xx "a""#, 29, "an operator"),
        (
            r#"emails[type eq "work"].value.x eq 1"#,
            28,
            "a space and an operator",
        ),
        (
            r#"emails[type eq "work"].value[a pr]"#,
            28,
            "a space and an operator",
        ),
        (
            r#"emails[type eq "work"] .value eq 1"#,
            23,
            "'and', 'or' or the end",
        ),
        (
            r#"x[emails[a pr].b eq 1]"#,
            8,
            "cannot contain another value filter",
        ),
    ];
    for (input, offset, text) in cases {
        let e = lenient_err(input);
        assert_eq!(e.offset, *offset, "offset for {input:?}: {e}");
        assert!(
            e.to_string().contains(text),
            "message for {input:?} should mention {text:?}: {e}"
        );
    }
    // The joined comparison counts against the limit.
    let limits = Limits {
        max_terms: 1,
        ..Limits::default()
    };
    let e = parse_filter_lenient(r#"emails[type eq "work"].value pr"#, &limits).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooManyTerms { limit: 1 });
}

#[test]
fn patch_paths_read_unquoted_values_leniently() {
    let (p, notes) = parse_path_lenient("emails[type eq work].value", &Limits::default()).unwrap();
    assert_eq!(p.to_string(), r#"emails[type eq "work"].value"#);
    assert_eq!(notes, vec![unquoted_note("work", r#""work""#)]);
    let (p, notes) = parse_path_lenient(
        r#"members[value eq "2819c223"].display"#,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        p,
        parse_path(r#"members[value eq "2819c223"].display"#).unwrap()
    );
    assert!(notes.is_empty());
    assert_eq!(path_err("emails[type eq work].value").offset, 15);
    let e = parse_path_lenient("emails[type eq work", &Limits::default()).unwrap_err();
    assert_eq!(e.offset, 19);
}

// ---- property tests ----

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        Just("$ref".to_string()),
        Just("not".to_string()),
        Just("and".to_string()),
        Just("or".to_string()),
    ]
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    let uri = prop_oneof![
        Just(None),
        Just(Some(
            "urn:ietf:params:scim:schemas:core:2.0:User".to_string()
        )),
        "urn:[a-z]{1,5}(:[a-zA-Z0-9.]{1,6}){0,4}".prop_map(Some),
    ];
    (uri, name(), proptest::option::of(name())).prop_map(|(uri, name, sub_attr)| AttrPath {
        uri,
        name,
        sub_attr,
    })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(|v| CompValue::Number(Number::Int(v))),
        any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(|v| CompValue::Number(Number::Decimal(v))),
        any::<String>().prop_map(CompValue::Str),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    let op = proptest::sample::select(CompareOp::ALL.to_vec());
    prop_oneof![
        (attr_path(), op, comp_value()).prop_map(|(path, op, value)| Filter::Compare {
            path,
            op,
            value
        }),
        attr_path().prop_map(Filter::Present),
    ]
}

fn logical(inner: impl Strategy<Value = Filter> + Clone) -> impl Strategy<Value = Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::and(a, b)),
        (inner.clone(), inner.clone()).prop_map(|(a, b)| Filter::or(a, b)),
        inner.prop_map(Filter::not),
    ]
}

/// Filters as the grammar can produce them: value paths only at the top level, on an
/// attribute without a sub-attribute, with a filter that has none inside.
fn filter() -> impl Strategy<Value = Filter> {
    let value_filter = leaf().prop_recursive(3, 12, 2, logical);
    let value_path = (attr_path(), value_filter).prop_map(|(mut path, f)| {
        path.sub_attr = None;
        Filter::ValuePath {
            path,
            filter: Box::new(f),
        }
    });
    prop_oneof![3 => leaf(), 1 => value_path].prop_recursive(5, 32, 2, logical)
}

fn patch_path() -> impl Strategy<Value = PatchPath> {
    let value_filter = leaf().prop_recursive(3, 12, 2, logical);
    prop_oneof![
        attr_path().prop_map(|attr| PatchPath {
            attr,
            filter: None,
            sub_attr: None
        }),
        (attr_path(), value_filter, proptest::option::of(name())).prop_map(
            |(mut attr, f, sub_attr)| {
                attr.sub_attr = None;
                PatchPath {
                    attr,
                    filter: Some(f),
                    sub_attr,
                }
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn printed_filters_parse_back_to_the_same_tree(f in filter()) {
        let printed = f.to_string();
        let back = parse_filter(&printed);
        prop_assert_eq!(back.as_ref().ok(), Some(&f), "printed: {}", printed);
    }

    #[test]
    fn printed_paths_parse_back_to_the_same_tree(p in patch_path()) {
        let printed = p.to_string();
        let back = parse_path(&printed);
        prop_assert_eq!(back.as_ref().ok(), Some(&p), "printed: {}", printed);
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let _ = parse_filter(&s).map(|f| f.to_string());
        let _ = parse_path(&s).map(|p| p.to_string());
        if let Err(e) = parse_filter(&s) {
            prop_assert!(e.offset <= s.len());
            let _ = e.render(&s);
        }
    }

    #[test]
    fn filter_shaped_noise_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("("), Just(")"), Just("["), Just("]"), Just(" "), Just("not"),
                Just("and"), Just("or"), Just("eq"), Just("pr"), Just("\""), Just("\\u"),
                Just("d83d"), Just("."), Just(":"), Just("urn"), Just("2.0"), Just("-"),
                Just("1e"), Just("a"), Just("emails"), Just("true"), Just("\\"),
            ],
            0..40,
        )
    ) {
        let s: String = parts.concat();
        if let Err(e) = parse_filter(&s) {
            prop_assert!(e.offset <= s.len());
            let _ = e.render(&s);
        }
        if let Err(e) = parse_path(&s) {
            prop_assert!(e.offset <= s.len());
        }
    }

    #[test]
    fn the_lenient_reading_agrees_on_rfc_filters(f in filter(), p in patch_path()) {
        let printed = f.to_string();
        let back = parse_filter_lenient(&printed, &Limits::default());
        prop_assert_eq!(back.ok(), Some((f, vec![])), "printed: {}", printed);
        let printed = p.to_string();
        let back = parse_path_lenient(&printed, &Limits::default());
        prop_assert_eq!(back.ok(), Some((p, vec![])), "printed: {}", printed);
    }

    /// What the lenient reading accepts prints in the RFC's syntax, which reads back to the
    /// same tree strictly.
    #[test]
    fn lenient_reads_print_as_rfc_filters(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("("), Just(")"), Just("["), Just("]"), Just(" "), Just("not"),
                Just("and"), Just("or"), Just("eq"), Just("pr"), Just("\""), Just("'"),
                Just("."), Just(":"), Just("urn"), Just("2.0"), Just("-"), Just("1e"),
                Just("a"), Just("emails"), Just("value"), Just("true"), Just("\\"),
                Just("work"), Just("é"), Just("07"), Just("@"), Just("\t"),
            ],
            0..40,
        )
    ) {
        let s: String = parts.concat();
        match parse_filter_lenient(&s, &Limits::default()) {
            Ok((f, _)) => {
                let printed = f.to_string();
                prop_assert_eq!(parse_filter(&printed).ok(), Some(f), "printed: {}", printed);
            }
            Err(e) => {
                prop_assert!(e.offset <= s.len());
                let _ = e.render(&s);
            }
        }
        if let Ok((p, _)) = parse_path_lenient(&s, &Limits::default()) {
            prop_assert_eq!(parse_path(&p.to_string()).ok(), Some(p));
        }
    }

    #[test]
    fn the_lenient_reading_never_panics(s in any::<String>()) {
        if let Err(e) = parse_filter_lenient(&s, &Limits::default()) {
            prop_assert!(e.offset <= s.len());
            let _ = e.render(&s);
        }
        let _ = parse_path_lenient(&s, &Limits::default());
    }

    #[test]
    fn canonical_form_is_a_fixed_point(f in filter()) {
        let once = f.to_string();
        let twice = parse_filter(&once).map(|g| g.to_string());
        prop_assert_eq!(twice.ok(), Some(once));
    }
}
