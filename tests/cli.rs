//! The `roster` command line, run as a user would run it: `filter` and `path`; `account
//! create` and `list`, `licenses set` and `list`, `import` (dry run, re-run, exit codes) and
//! `sync-log` on a SQLite file; `token create` and `list`, `admin-token create`; `migrate`
//! and what a database that cannot be opened says; `serve` on a busy port.
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
    // A failed row: exit 2 (the other rows were done).
    let o = roster_db(&db, &["import", file, "--account", "acme", "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(
        out.lines().next().unwrap(),
        "dry run (nothing written): 2 rows: 1 created, 0 updated, 0 unchanged, 1 failed; \
         seats: 1 assigned, 0 waitlisted",
        "{out}"
    );
    // The dry run shows each row that would change, with its seats.
    assert!(
        out.contains("  line 2: ann@example.com: created; seats: meeting assigned\n"),
        "{out}"
    );
    assert!(out.contains("  line 3: bad: "), "{out}");

    let o = roster_db(&db, &["import", file, "--account", "acme"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with(
            "2 rows: 1 created, 0 updated, 0 unchanged, 1 failed; seats: 1 assigned, 0 waitlisted\n"
        ),
        "{}",
        stdout(&o)
    );
    // A real run lists only the failed rows.
    assert!(!stdout(&o).contains("line 2"), "{}", stdout(&o));
    let o = roster_db(&db, &["import", file, "--account", "acme"]);
    assert!(
        stdout(&o).starts_with(
            "2 rows: 0 created, 0 updated, 1 unchanged, 1 failed; seats: 0 assigned, 0 waitlisted"
        ),
        "{}",
        stdout(&o)
    );
    // A file with no failed row exits 0.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "email,products\ncy@example.com,meeting\n").unwrap();
    let o = roster_db(
        &db,
        &["import", good.to_str().unwrap(), "--account", "acme"],
    );
    assert!(o.status.success(), "{}", stderr(&o));

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

#[test]
fn a_missing_sqlite_directory_is_named() {
    let o = roster(&["--database", "sqlite:///nonexistent/dir/x.db", "migrate"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("/nonexistent/dir/x.db"), "{err}");
    assert!(err.contains("/nonexistent/dir does not exist"), "{err}");
}

#[test]
fn an_unreachable_postgres_is_named_by_host_and_port_never_password() {
    let o = roster(&[
        "--database",
        "postgres://u:hunter2@127.0.0.1:1/x",
        "migrate",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn sqlite_without_a_file_is_refused() {
    for url in [
        "sqlite://",
        "sqlite:",
        "sqlite::memory:",
        "sqlite://x.db?mode=memory",
    ] {
        let o = roster(&["--database", url, "account", "create", "acme"]);
        assert_eq!(o.status.code(), Some(1), "{url}");
        let err = stderr(&o);
        assert!(err.contains("sqlite://roster.db"), "{url}: {err}");
        assert!(!err.contains("no such table"), "{url}: {err}");
    }
    let err = stderr(&roster(&["--database", "sqlite::memory:", "migrate"]));
    assert!(err.contains("use a file"), "{err}");
}

#[test]
fn migrate_says_what_it_did_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let db = format!("sqlite://{}", path.display());
    let o = roster_db(&db, &["migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("created the database at {} (", path.display())),
        "{err}"
    );
    let o = roster_db(&db, &["migrate"]);
    assert_eq!(
        stderr(&o),
        format!("the database at {} is up to date\n", path.display())
    );
}

/// `roster serve` in the background: its stdout up to the line naming its address.
fn serve_until_ready(db: &str, listen: &str) -> (std::process::Child, Vec<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["--database", db, "serve", "--listen", listen])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut seen = vec![];
    for line in std::io::BufReader::new(out).lines() {
        let line = line.unwrap();
        let done = line.starts_with("Roster is serving SCIM 2.0 at ");
        seen.push(line);
        if done {
            break;
        }
    }
    (child, seen)
}

#[test]
fn a_busy_port_uses_up_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    // A host name is accepted (resolved), and the error names the address.
    let o = roster_db(&db, &["serve", "--listen", &format!("localhost:{port}")]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!stdout(&o).contains("token"), "{}", stdout(&o));
    // Nothing was created: no account, so the next start still shows the first token.
    let o = roster_db(&db, &["account", "list"]);
    assert_eq!(stdout(&o), "account\tusers\n");
    drop(busy);
    let (mut child, seen) = serve_until_ready(&db, "127.0.0.1:0");
    let _ = child.kill();
    let _ = child.wait();
    let all = seen.join("\n");
    assert!(
        all.contains("Created account 'default'. Its SCIM bearer token, shown only this once:"),
        "{all}"
    );
    assert!(seen.iter().any(|l| l.trim().starts_with("rst_")), "{all}");
    assert!(
        all.contains("roster token create --account default --name NAME"),
        "{all}"
    );
    // A second start shows no token.
    let (mut child, seen) = serve_until_ready(&db, "127.0.0.1:0");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[test]
fn listen_explains_what_it_takes() {
    for bad in ["8080", "localhost", "no such host:8080"] {
        let o = roster(&["serve", "--listen", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = stderr(&o);
        assert!(err.contains("--listen 127.0.0.1:8080"), "{bad}: {err}");
    }
}

#[test]
fn admin_token_lifetime_is_one_hour_to_a_year() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    roster_db(&db, &["account", "create", "acme"]);
    for bad in ["0", "8761"] {
        let o = roster_db(
            &db,
            &[
                "admin-token",
                "create",
                "--account",
                "acme",
                "--ttl-hours",
                bad,
            ],
        );
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(stderr(&o).contains("1..=8760"), "{}", stderr(&o));
        assert_eq!(stdout(&o), "");
    }
    let o = roster_db(
        &db,
        &[
            "admin-token",
            "create",
            "--account",
            "acme",
            "--ttl-hours",
            "8760",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn lists_have_a_header_row() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    roster_db(&db, &["account", "create", "acme"]);
    roster_db(&db, &["account", "create", "beta"]);
    let csv = dir.path().join("p.csv");
    std::fs::write(
        &csv,
        "email,products\na@example.com,meeting\nb@example.com,meeting\n",
    )
    .unwrap();
    roster_db(
        &db,
        &[
            "licenses",
            "set",
            "--account",
            "acme",
            "--product",
            "meeting",
            "--seats",
            "1",
        ],
    );
    let o = roster_db(&db, &["import", csv.to_str().unwrap(), "--account", "acme"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with(
            "2 rows: 2 created, 0 updated, 0 unchanged, 0 failed; seats: 1 assigned, 1 waitlisted"
        ),
        "{}",
        stdout(&o)
    );

    let o = roster_db(&db, &["account", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "account\tusers\nacme\t2\nbeta\t0\n");

    let o = roster_db(&db, &["licenses", "list", "--account", "acme"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "product\tcapacity\tassigned\twaitlisted\nmeeting\t1\t1\t1\n"
    );

    roster_db(
        &db,
        &["token", "create", "--account", "acme", "--name", "okta"],
    );
    let o = roster_db(&db, &["token", "list", "--account", "acme"]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "id\tconnection\tcreated\tstate", "{out}");
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].contains("\tokta\t") && lines[1].ends_with("live"),
        "{out}"
    );
}

#[test]
fn every_account_flag_is_explained() {
    for command in [
        &["import", "--help"][..],
        &["sync-log", "--help"],
        &["licenses", "set", "--help"],
        &["licenses", "list", "--help"],
        &["admin-token", "create", "--help"],
        &["admin-token", "revoke", "--help"],
        &["token", "create", "--help"],
        &["token", "revoke", "--help"],
        &["token", "list", "--help"],
    ] {
        let o = roster(command);
        assert!(o.status.success(), "{command:?}: {}", stderr(&o));
        let out = stdout(&o);
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with("--account"))
            .unwrap_or_else(|| panic!("{command:?}: {out}"));
        assert!(line.contains("slug"), "{command:?}: {line}");
    }
}

#[test]
fn setting_the_same_license_count_is_logged_as_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    roster_db(&db, &["account", "create", "acme"]);
    let set = [
        "licenses",
        "set",
        "--account",
        "acme",
        "--product",
        "meeting",
        "--seats",
        "5",
    ];
    assert!(roster_db(&db, &set).status.success());
    assert!(roster_db(&db, &set).status.success());
    let o = roster_db(&db, &["sync-log", "--account", "acme"]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].contains(" success ") && lines[0].contains("capacity: - -> 5"),
        "{out}"
    );
    assert!(lines[1].contains(" skipped "), "{out}");
    assert!(!lines[1].contains("capacity:"), "{out}");
}

#[test]
fn the_sync_log_says_how_many_changes_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("r.db").display());
    roster_db(&db, &["account", "create", "acme"]);
    let csv = dir.path().join("p.csv");
    std::fs::write(
        &csv,
        "email,userName,givenName,familyName,groups\nann@example.com,ann,Ann,Lee,Sales;Support;Ops\n",
    )
    .unwrap();
    let o = roster_db(&db, &["import", csv.to_str().unwrap(), "--account", "acme"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = roster_db(&db, &["sync-log", "--account", "acme"]);
    let out = stdout(&o);
    let line = out.lines().next().unwrap();
    let shown = line
        .split_once("  [")
        .unwrap()
        .1
        .rsplit_once(']')
        .unwrap()
        .0;
    let parts: Vec<&str> = shown.split("; ").collect();
    assert_eq!(parts.len(), 5, "{line}");
    assert!(
        parts[4].starts_with('+') && parts[4].ends_with(" more"),
        "{line}"
    );
}
