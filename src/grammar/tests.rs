//! Table tests from RFC 7644, invalid inputs with their offsets, and property tests.

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
    fn canonical_form_is_a_fixed_point(f in filter()) {
        let once = f.to_string();
        let twice = parse_filter(&once).map(|g| g.to_string());
        prop_assert_eq!(twice.ok(), Some(once));
    }
}
