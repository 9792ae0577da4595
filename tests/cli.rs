//! The `roster filter` and `roster path` commands, run as a user would run them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn roster(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(args)
        .output()
        .expect("the roster binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn filter_prints_the_canonical_form_on_one_line() {
    let o = roster(&[
        "filter",
        r#"userName EQ "bjensen" AND emails[type eq "work" and value co "@example.com"]"#,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "(userName eq \"bjensen\" and emails[(type eq \"work\" and value co \"@example.com\")])\n"
    );
}

#[test]
fn invalid_filter_shows_the_input_and_a_caret_and_exits_1() {
    let o = roster(&["filter", r#"userName xx "bob""#]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].contains("expected an operator"), "{err}");
    assert!(lines[0].contains("byte 9"), "{err}");
    assert_eq!(lines[1], r#"  userName xx "bob""#);
    assert_eq!(lines[2], "           ^");
}

#[test]
fn path_prints_the_canonical_form() {
    let o = roster(&["path", r#"members[value EQ "2819c223"].display"#]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "members[value eq \"2819c223\"].display\n");

    let o = roster(&[
        "path",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value\n"
    );
}

#[test]
fn invalid_path_exits_1_with_a_caret() {
    let o = roster(&["path", r#"members[value eq "x""#]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("expected 'and', 'or' or ']'"), "{err}");
    assert!(err.lines().last().is_some_and(|l| l.trim() == "^"), "{err}");
}
