//! The two migration folders must stay parallel: the same file names, in the same order.
//! Upgrades of databases that hold data the new schema restricts, on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

fn names(dir: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(dir);
    let mut names: Vec<String> = fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

#[test]
fn migration_folders_have_the_same_file_names() {
    let sqlite = names("sqlite");
    let postgres = names("postgres");
    assert!(!sqlite.is_empty());
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres differ"
    );
}

/// The migration that made group names unique per account.
const GROUP_NAMES: i64 = 20261128000010;

/// The PostgreSQL server tests make their databases on (as in tests/api/helpers.rs).
fn postgres_server() -> String {
    std::env::var("ROSTER_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database of one backend migrated up to (not including) `version`, as a Roster before
/// that migration left it; with the PostgreSQL database's name to drop afterwards.
async fn database_before(
    backend: &str,
    dir: &Path,
    version: i64,
) -> (String, Option<String>, sqlx::AnyConnection) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let (url, pg) = match backend {
        "sqlite" => (
            format!("sqlite://{}", dir.join("roster.db").display()),
            None,
        ),
        _ => {
            let name = format!("roster_test_{}", uuid::Uuid::new_v4().simple());
            let mut admin =
                sqlx::AnyConnection::connect(&format!("{}/postgres", postgres_server()))
                    .await
                    .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .unwrap();
            (format!("{}/{name}", postgres_server()), Some(name))
        }
    };
    let connect = if backend == "sqlite" {
        format!("{url}?mode=rwc")
    } else {
        url.clone()
    };
    let mut conn = sqlx::AnyConnection::connect(&connect).await.unwrap();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut migrator = sqlx::migrate::Migrator::new(folder).await.unwrap();
    let before: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect();
    migrator.migrations = before.into();
    migrator.run(&mut conn).await.unwrap();
    (url, pg, conn)
}

async fn drop_postgres(name: Option<String>) {
    use sqlx::Connection;
    if let Some(name) = name {
        if let Ok(mut c) =
            sqlx::AnyConnection::connect(&format!("{}/postgres", postgres_server())).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut c)
                .await;
        }
    }
}

async fn exec(conn: &mut sqlx::AnyConnection, sql: &str) {
    sqlx::query(sql).execute(conn).await.unwrap();
}

/// (id, displayName, members) of every group, ordered by id.
async fn groups_in(conn: &mut sqlx::AnyConnection) -> Vec<(String, String, i64)> {
    use sqlx::Row;
    sqlx::query(
        "SELECT g.id, g.display_name, \
         (SELECT COUNT(*) FROM group_members m WHERE m.account_id = g.account_id AND m.group_id = g.id) \
         FROM scim_groups g ORDER BY g.id",
    )
    .fetch_all(conn)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Groups that shared a name before names were unique: `roster migrate` keeps every one of
/// them and their members, and lists them to rename; afterwards no write can make a new
/// pair, the groups keep working, and renaming them clears the list.
async fn upgrade_keeps_groups_that_share_a_name(backend: &str) {
    use roster::auth::jwt::Role;
    use serde_json::{json, Value};

    let dir = tempfile::tempdir().unwrap();
    let (url, pg, mut conn) = database_before(backend, dir.path(), GROUP_NAMES).await;
    exec(
        &mut conn,
        "INSERT INTO accounts (slug, created) VALUES ('acme', '2026-01-01T00:00:00.000Z')",
    )
    .await;
    exec(
        &mut conn,
        "INSERT INTO accounts (slug, created) VALUES ('other', '2026-01-01T00:00:00.000Z')",
    )
    .await;
    let account = |slug: &str| format!("(SELECT id FROM accounts WHERE slug = '{slug}')");
    exec(
        &mut conn,
        &format!(
            "INSERT INTO users (account_id, id, user_name, user_name_lc, active, version, created, last_modified, doc) \
             VALUES ({}, 'u1', 'ann', 'ann', 1, 1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', \
             '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"userName\":\"ann\",\"active\":true}}')",
            account("acme")
        ),
    )
    .await;
    for (slug, id, name, created) in [
        ("acme", "g1", "Sales", "2026-01-01T00:00:00.000Z"),
        ("acme", "g2", "sales", "2026-01-02T00:00:00.000Z"),
        ("acme", "g3", "SALES", "2026-01-03T00:00:00.000Z"),
        ("acme", "g4", "Ops", "2026-01-01T00:00:00.000Z"),
        ("other", "g5", "Sales", "2026-01-01T00:00:00.000Z"),
    ] {
        exec(
            &mut conn,
            &format!(
                "INSERT INTO scim_groups (account_id, id, display_name, display_name_lc, version, created, last_modified, doc) \
                 VALUES ({}, '{id}', '{name}', '{}', 1, '{created}', '{created}', \
                 '{{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:Group\"],\"displayName\":\"{name}\"}}')",
                account(slug),
                name.to_lowercase()
            ),
        )
        .await;
    }
    for g in ["g1", "g2", "g3"] {
        exec(
            &mut conn,
            &format!(
                "INSERT INTO group_members (account_id, group_id, member_id, member_type) VALUES ({}, '{g}', 'u1', 'User')",
                account("acme")
            ),
        )
        .await;
    }
    let before = groups_in(&mut conn).await;
    drop(conn);

    // The upgrade, as an operator runs it: it succeeds and names the groups to rename.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args(["--database", &url, "migrate"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("share a displayName"), "{err}");
    assert!(err.contains("account 'acme', name 'sales'"), "{err}");
    for g in [
        "group g1 \"Sales\"",
        "group g2 \"sales\"",
        "group g3 \"SALES\"",
    ] {
        assert!(err.contains(g), "{g}: {err}");
    }
    for not in ["group g4", "group g5", "account 'other'"] {
        assert!(!err.contains(not), "{not}: {err}");
    }

    // Nothing lost: every group, its name and its members.
    let engine = roster::startup::engine(&url, None).await.unwrap();
    let mut conn = {
        use sqlx::Connection;
        sqlx::AnyConnection::connect(&url).await.unwrap()
    };
    assert_eq!(groups_in(&mut conn).await, before);
    let shared: Vec<String> = engine
        .shared_group_names()
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(shared, ["g1", "g2", "g3"]);

    // Served over HTTP.
    let config = roster::config::Config {
        database_url: url.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        max_connections: 4,
        durable: false,
        workers: 1,
        statement_timeout_ms: 0,
        body_timeout: std::time::Duration::from_secs(roster::config::DEFAULT_BODY_TIMEOUT_SECS),
        rate_limit_per_second: 1_000_000,
        trusted_proxies: vec![],
        webhook_allow_private: true,
    };
    let token = engine.create_token("acme", "test").await.unwrap();
    let admin = engine
        .issue_admin_token("acme", Role::Admin, 1)
        .await
        .unwrap();
    let app = roster::startup::Application::build(&config, engine.clone())
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run());
    let client = reqwest::Client::new();
    let scim = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = client
            .request(method, format!("{base}/scim/v2/{path}"))
            .bearer_auth(&token)
            .header("Content-Type", "application/scim+json");
        if let Some(b) = body {
            r = r.body(b.to_string());
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    let report = || {
        let r = client
            .get(format!("{base}/admin/v1/reports/group_names"))
            .bearer_auth(&admin);
        async move {
            let resp = r.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 200);
            let body: Value = resp.json().await.unwrap();
            body["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(report().await, ["g1", "g2", "g3"]);

    // The name is taken, in any case, and so is every other one; a new name is not.
    for name in ["sales", "Ops"] {
        let (s, e) = scim(
            reqwest::Method::POST,
            "Groups",
            Some(json!({"displayName": name})),
        )
        .await;
        assert_eq!(s, 409, "{name}: {e}");
        assert_eq!(e["scimType"], json!("uniqueness"));
    }
    let (s, _) = scim(
        reqwest::Method::POST,
        "Groups",
        Some(json!({"displayName": "Marketing"})),
    )
    .await;
    assert_eq!(s, 201);
    // A later group of a shared name still takes every other change.
    let patch = |v: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": v});
    let (s, e) = scim(
        reqwest::Method::PATCH,
        "Groups/g3",
        Some(patch(json!([
            {"op": "add", "path": "externalId", "value": "ext-3"},
            {"op": "remove", "path": "members[value eq \"u1\"]"}
        ]))),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {e}");
    // Renamed: off the list.
    let (s, e) = scim(
        reqwest::Method::PATCH,
        "Groups/g2",
        Some(patch(
            json!([{"op": "replace", "path": "displayName", "value": "Sales EMEA"}]),
        )),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {e}");
    assert_eq!(report().await, ["g1", "g3"]);
    // The oldest, which held the name, goes: the next one takes the name over, so it stays taken.
    let (s, _) = scim(reqwest::Method::DELETE, "Groups/g1", None).await;
    assert_eq!(s, 204);
    assert!(report().await.is_empty());
    let (s, _) = scim(
        reqwest::Method::POST,
        "Groups",
        Some(json!({"displayName": "Sales"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, e) = scim(
        reqwest::Method::PATCH,
        "Groups/g3",
        Some(patch(
            json!([{"op": "replace", "path": "displayName", "value": "Sales"}]),
        )),
    )
    .await;
    assert!(s == 200 || s == 204, "{s} {e}");
    assert!(engine.shared_group_names().await.unwrap().is_empty());
    drop(conn);
    drop_postgres(pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_keeps_groups_that_share_a_name() {
    upgrade_keeps_groups_that_share_a_name("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrade_keeps_groups_that_share_a_name() {
    upgrade_keeps_groups_that_share_a_name("postgres").await;
}

/// The migration that gave license pools their overage ceiling.
const OVERAGE: i64 = 20261128000013;

/// Pools made before overage keep their licenses and seats (SQLite makes the table again),
/// start with no allowance, and the new ceiling is a constraint: never more seats assigned
/// than licenses, allowance and seats kept over a lowered ceiling.
async fn upgrade_keeps_pools_under_their_new_ceiling(backend: &str) {
    use sqlx::Row;

    let dir = tempfile::tempdir().unwrap();
    let (_url, pg, mut conn) = database_before(backend, dir.path(), OVERAGE).await;
    exec(
        &mut conn,
        "INSERT INTO accounts (slug, created) VALUES ('acme', '2026-01-01T00:00:00.000Z')",
    )
    .await;
    let pool = |name: &str, capacity: i64, assigned: i64| {
        format!(
            "INSERT INTO products (account_id, name, capacity, assigned, created) VALUES \
             ((SELECT id FROM accounts WHERE slug = 'acme'), '{name}', {capacity}, {assigned}, \
             '2026-01-01T00:00:00.000Z')"
        )
    };
    exec(&mut conn, &pool("meeting", 3, 2)).await;
    exec(&mut conn, &pool("webinar", 0, 0)).await;
    let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    sqlx::migrate::Migrator::new(folder)
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    let rows: Vec<(String, i64, i64, i64, i64, Option<String>)> = sqlx::query(
        "SELECT name, capacity, assigned, allowance, kept, over_since FROM products ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
    .collect();
    assert_eq!(
        rows,
        vec![
            ("meeting".to_string(), 3, 2, 0, 0, None),
            ("webinar".to_string(), 0, 0, 0, 0, None),
        ]
    );
    assert!(
        sqlx::query("UPDATE products SET assigned = 4 WHERE name = 'meeting'")
            .execute(&mut conn)
            .await
            .is_err(),
        "over the licenses without an allowance"
    );
    exec(
        &mut conn,
        "UPDATE products SET allowance = 1, assigned = 4 WHERE name = 'meeting'",
    )
    .await;
    assert!(
        sqlx::query("UPDATE products SET assigned = 5 WHERE name = 'meeting'")
            .execute(&mut conn)
            .await
            .is_err(),
        "over the licenses and the allowance"
    );
    exec(
        &mut conn,
        "UPDATE products SET allowance = 0, kept = 1 WHERE name = 'meeting'",
    )
    .await;
    assert!(
        sqlx::query("UPDATE products SET allowance = -1 WHERE name = 'meeting'")
            .execute(&mut conn)
            .await
            .is_err()
    );
    // The primary key came through: a product is made once per account.
    assert!(sqlx::query(&pool("meeting", 1, 0))
        .execute(&mut conn)
        .await
        .is_err());
    drop(conn);
    drop_postgres(pg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_upgrade_keeps_pools_under_their_new_ceiling() {
    upgrade_keeps_pools_under_their_new_ceiling("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_upgrade_keeps_pools_under_their_new_ceiling() {
    upgrade_keeps_pools_under_their_new_ceiling("postgres").await;
}
