//! `roster serve` run as an operator runs it: its access log (one line per request, with the
//! id the response carries in `x-request-id`), and Ctrl-C or SIGTERM during an import, which
//! both let the request finish before the process exits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT` (no path).
    origin: String,
    /// The default account's SCIM token, printed on first start.
    token: String,
    database: String,
    /// Everything the server wrote on stderr so far.
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// An admin token for the default account, made with the CLI.
    fn admin_token(&self) -> String {
        let o = Command::new(env!("CARGO_BIN_EXE_roster"))
            .args([
                "--database",
                &self.database,
                "admin-token",
                "create",
                "--account",
                "default",
            ])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap().trim().to_string()
    }

    /// Sends a signal with kill(1) (no libc in the dependencies).
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }
}

/// Starts `roster serve` on a fresh SQLite file, with `RUST_LOG` unset (the default filter),
/// and waits for the line that names its address.
fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("roster.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "--database",
            &database,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "2",
        ])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("roster serve starts");
    let log = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut token = None;
    let url = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if token.is_none() && line.starts_with("    ") {
            token = Some(line.trim().to_string());
        }
        if let Some(url) = line.strip_prefix("Roster is serving SCIM 2.0 at ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        origin: url.trim_end_matches("/scim/v2").to_string(),
        token: token.expect("serve printed the default account's token"),
        database,
        log,
        _dir: dir,
    }
}

/// The log line that carries this request id, waiting a little for it to reach the pipe.
async fn line_with(s: &Served, request_id: &str) -> String {
    for _ in 0..50 {
        if let Some(l) = s.log().lines().find(|l| l.contains(request_id)) {
            return l.to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no log line names request {request_id}:\n{}", s.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_leaves_one_access_line_with_the_id_the_response_carries() {
    let s = serve();
    let client = reqwest::Client::new();
    let admin = s.admin_token();
    let calls = [
        (
            format!(
                "{}/scim/v2/Users?filter=userName%20eq%20%22x%40y.z%22",
                s.origin
            ),
            "wrong-token".to_string(),
            401,
            None,
        ),
        (
            format!(
                "{}/scim/v2/Users?filter=userName%20eq%20%22x%40y.z%22",
                s.origin
            ),
            s.token.clone(),
            200,
            Some("actor=connection:default"),
        ),
        (
            format!("{}/admin/v1/users", s.origin),
            admin,
            200,
            Some("actor=admin:"),
        ),
        (
            format!("{}/admin/v1/users", s.origin),
            "wrong-token".to_string(),
            401,
            None,
        ),
    ];
    for (url, bearer, want, actor) in &calls {
        let resp = client.get(url).bearer_auth(bearer).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), *want, "{url}");
        let id = resp
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("{url}: no x-request-id header"))
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        let line = line_with(&s, &format!("request_id={id}")).await;
        assert!(line.contains(" INFO "), "{line}");
        assert!(line.contains("method=GET"), "{line}");
        assert!(line.contains(&format!("status={want}")), "{line}");
        assert!(line.contains("latency_ms="), "{line}");
        let path = url.trim_start_matches(&s.origin);
        let path = path.split('?').next().unwrap();
        assert!(line.contains(&format!("path={path} ")), "{line}");
        assert!(
            !line.contains("filter"),
            "the query string is logged: {line}"
        );
        match actor {
            Some(a) => assert!(line.contains(a), "{line}"),
            None => assert!(!line.contains("actor="), "{line}"),
        }
        // Exactly one access line per request.
        let log = s.log();
        let access = log
            .lines()
            .filter(|l| l.contains(&format!("request_id={id}")) && l.contains(" INFO "))
            .count();
        assert_eq!(access, 1, "{log}");
    }
    let log = s.log();
    assert!(
        !log.contains('\u{1b}'),
        "an ANSI escape in a piped log:\n{log}"
    );
    // No SQL statements and no framework chatter at the default level.
    assert!(!log.contains("SELECT"), "SQL in the log:\n{log}");
    assert!(!log.contains("summary="), "SQL in the log:\n{log}");
    assert!(!log.contains("starting"), "actix start-up lines:\n{log}");
}

/// A CSV of `n` users, each with a product.
fn people(n: usize) -> String {
    let mut csv = String::from("email,givenName,familyName,products\n");
    for i in 0..n {
        csv.push_str(&format!("p{i}@example.com,P{i},Person,meeting\n"));
    }
    csv
}

async fn import_survives(signal: &str) {
    let s = serve();
    let admin = s.admin_token();
    let o = Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "--database",
            &s.database,
            "licenses",
            "set",
            "--account",
            "default",
        ])
        .args(["--product", "meeting", "--seats", "100"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let url = format!("{}/admin/v1/imports", s.origin);
    let client = reqwest::Client::new();
    let import = tokio::spawn(
        client
            .post(url)
            .bearer_auth(admin)
            .header("content-type", "text/csv")
            .body(people(20_000))
            .timeout(Duration::from_secs(120))
            .send(),
    );
    // Let the import get going: wait for its first sync-log rows to be committed.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !import.is_finished(),
        "the import finished before the signal"
    );
    s.signal(signal);
    let resp = import
        .await
        .unwrap()
        .expect("the import's response arrives");
    assert_eq!(resp.status().as_u16(), 200);
    let report: serde_json::Value = resp.json().await.expect("a complete JSON report");
    let head: String = report.to_string().chars().take(600).collect();
    assert_eq!(report["rows"], serde_json::json!(20_000), "{head}");
    assert_eq!(report["created"], serde_json::json!(20_000), "{head}");
    let mut s = s;
    let mut status = None;
    for _ in 0..300 {
        if let Some(st) = s.child.try_wait().unwrap() {
            status = Some(st);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("the server exits after the import");
    assert!(status.success(), "{status:?}\n{}", s.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_lets_a_running_import_finish() {
    import_survives("INT").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_running_import_finish() {
    import_survives("TERM").await
}
