//! The `roster` command line, run as a user would run it: `filter` and `path`; `account
//! create`, `licenses set`, `import` (dry run, re-run) and `sync-log` on a SQLite file;
//! `token create` and `admin-token create`.
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

fn roster_db(db: &str, args: &[&str]) -> Output {
    let mut all = vec!["--database", db];
    all.extend_from_slice(args);
    roster(&all)
}

#[test]
fn import_and_sync_log_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "email,givenName,familyName,products\nann@example.com,Ann,Lee,meeting\nbad,,,\n",
    )
    .unwrap();
    // --database after the command works too.
    let o = roster(&["account", "create", "acme", "--database", &db]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = roster_db(
        &db,
        &[
            "licenses",
            "set",
            "--account",
            "acme",
            "--product",
            "meeting",
            "--seats",
            "5",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let file = csv.to_str().unwrap();
    let o = roster_db(&db, &["import", file, "--account", "acme", "--dry-run"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "dry run (nothing written): 2 rows: 1 created, 0 updated, 0 unchanged, 1 failed"
        ),
        "{out}"
    );
    assert!(out.contains("line 3: bad:"), "{out}");

    let o = roster_db(&db, &["import", file, "--account", "acme"]);
    assert!(
        stdout(&o).starts_with("2 rows: 1 created"),
        "{}",
        stdout(&o)
    );
    let o = roster_db(&db, &["import", file, "--account", "acme"]);
    assert!(
        stdout(&o).starts_with("2 rows: 0 created, 0 updated, 1 unchanged, 1 failed"),
        "{}",
        stdout(&o)
    );

    let o = roster_db(
        &db,
        &["sync-log", "--account", "acme", "--user", "ann@example.com"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(
        out.contains("cli") && out.contains("create") && out.contains("seats: meeting assigned"),
        "{out}"
    );

    let o = roster_db(&db, &["import", "/no/such.csv", "--account", "acme"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read"));
}

#[test]
fn token_create_prints_only_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    roster_db(&db, &["account", "create", "acme"]);
    let o = roster_db(
        &db,
        &["token", "create", "--account", "acme", "--name", "okta"],
    );
    assert!(o.status.success());
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1);
    assert!(out.starts_with("rst_") && out.trim().len() == 47, "{out}");
    let o = roster_db(
        &db,
        &[
            "admin-token",
            "create",
            "--account",
            "acme",
            "--role",
            "auditor",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim().split('.').count(), 3, "a JWT");
    let o = roster_db(
        &db,
        &["token", "create", "--account", "nope", "--name", "x"],
    );
    assert_eq!(o.status.code(), Some(1));
}
