//! `roster-bench`: the benchmark program. Starts `roster serve` on a fresh database (or
//! targets a running server), runs named workloads with N connections, and prints for each
//! operation requests/s, p50, p99, p99.9 and errors, then the server's peak resident memory.
//! Not a test: it asserts nothing about speed. See BENCHMARKS.md.
//!
//!   cargo run --release --bin roster-bench -- create lookup --users 100000 --duration 10
//!   cargo run --release --bin roster-bench -- lookup --seed 1000000   (seeded through the store)
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum Workload {
    /// POST /Users (a default-product seat, the sync log, events) for --duration.
    Create,
    /// Okta-shaped: for each of --users, `GET /Users?filter=userName eq` then POST; then
    /// --groups groups, each filled by PATCH batches of 100 members.
    InitialSync,
    /// `userName eq` and `externalId eq` lookups of random existing users for --duration.
    Lookup,
    /// Deactivate, reactivate, update, delete-and-recreate random users with seats scarce
    /// (licenses for half of them), for --duration; then checks the seat counters.
    Churn,
    /// Single member adds and removes on a group of --big-group members, for --duration.
    BigGroup,
    /// One CSV import of --users rows through POST /admin/v1/imports.
    Import,
    /// `GET /healthz` (one `SELECT 1`) for --duration: the floor of HTTP, this program's
    /// clients and one database round trip on this machine, to read the others against.
    Floor,
}

#[derive(Debug, Parser)]
#[command(
    name = "roster-bench",
    about = "Roster's benchmark program (see BENCHMARKS.md)"
)]
struct Args {
    /// Workloads to run, in order.
    #[arg(value_enum, required = true)]
    workloads: Vec<Workload>,
    /// Database for the server it starts: default a fresh SQLite file in a temporary folder;
    /// `postgres://HOST:PORT` makes a fresh database there (dropped afterwards).
    #[arg(long)]
    database: Option<String>,
    /// Target a running server instead (with --token and --admin-token); no memory figure.
    #[arg(long, requires_all = ["token", "admin_token"])]
    url: Option<String>,
    #[arg(long)]
    token: Option<String>,
    #[arg(long)]
    admin_token: Option<String>,
    /// Users the workloads create or expect (initial-sync, import; churn's population).
    #[arg(long, default_value_t = 10_000)]
    users: u64,
    /// Groups of initial-sync.
    #[arg(long, default_value_t = 100)]
    groups: u64,
    /// Members of big-group's group.
    #[arg(long, default_value_t = 100_000)]
    big_group: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Seconds each timed workload runs.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Before starting the server, write this many users straight into the store (no
    /// seats, sync log or events: ordinary users for lookups), and say so.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start the server with --durable (an fsync per commit).
    #[arg(long)]
    durable: bool,
    /// The server's --max-connections (database pool).
    #[arg(long)]
    pool: Option<u32>,
    /// The `roster` binary (default: beside this one).
    #[arg(long)]
    roster: Option<PathBuf>,
}

/// Latencies of one operation, in microseconds, and its failures.
#[derive(Default)]
struct Samples {
    micros: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

#[derive(Default)]
struct Report {
    ops: BTreeMap<String, (Samples, Duration)>,
}

impl Report {
    fn add(&mut self, name: &str, samples: Samples, wall: Duration) {
        let entry = self
            .ops
            .entry(name.to_string())
            .or_insert_with(|| (Samples::default(), Duration::ZERO));
        entry.0.micros.extend(samples.micros);
        entry.0.errors += samples.errors;
        if entry.0.first_error.is_none() {
            entry.0.first_error = samples.first_error;
        }
        entry.1 = entry.1.max(wall);
    }

    /// Prints the table; returns the failed requests.
    fn print(&self, title: &str) -> u64 {
        println!("\n== {title}");
        println!(
            "{:<28} {:>9} {:>10} {:>9} {:>9} {:>9} {:>7}",
            "operation", "count", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors"
        );
        for (name, (s, wall)) in &self.ops {
            let mut v = s.micros.clone();
            v.sort_unstable();
            let pct = |p: f64| -> f64 {
                if v.is_empty() {
                    return 0.0;
                }
                let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
                v[i] as f64 / 1000.0
            };
            let rate = v.len() as f64 / wall.as_secs_f64().max(1e-9);
            println!(
                "{:<28} {:>9} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7}",
                name,
                v.len(),
                rate,
                pct(0.50),
                pct(0.99),
                pct(0.999),
                s.errors
            );
            if let Some(e) = &s.first_error {
                println!("    first error: {e}");
            }
        }
        self.ops.values().map(|(s, _)| s.errors).sum()
    }
}

/// The server under test and how to reach it.
struct Target {
    base: String,
    token: String,
    admin: String,
    client: reqwest::Client,
    child: Option<Child>,
    pid: Option<u32>,
    cleanup: Option<(String, String)>,
    /// The database of the server roster-bench started (it may seed it).
    db: Option<String>,
    _dir: Option<tempdir::Dir>,
}

mod tempdir {
    /// A temporary folder removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Target {
    fn scim(&self, path: &str) -> String {
        format!("{}/scim/v2{path}", self.base)
    }

    fn admin_url(&self, path: &str) -> String {
        format!("{}/admin/v1{path}", self.base)
    }

    /// CPU seconds the server has used so far (user + system, from /proc).
    fn server_cpu(&self) -> Option<f64> {
        cpu_seconds(&format!("/proc/{}/stat", self.pid?))
    }

    /// The server's peak and current resident memory, in MB (from /proc).
    fn memory(&self) -> Option<(f64, f64, f64)> {
        let pid = self.pid?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        Some((field("VmHWM:"), field("RssAnon:"), field("RssFile:")))
    }
}

/// User + system CPU seconds of a process, from its `stat` file (clock ticks of 1/100 s,
/// the kernel's USER_HZ on Linux).
fn cpu_seconds(stat: &str) -> Option<f64> {
    let text = std::fs::read_to_string(stat).ok()?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = text.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn roster_bin(args: &Args) -> Result<PathBuf, Error> {
    if let Some(p) = &args.roster {
        return Ok(p.clone());
    }
    let me = std::env::current_exe()?;
    Ok(me.with_file_name("roster"))
}

fn run_cli(bin: &PathBuf, db: &str, cli: &[&str]) -> Result<String, Error> {
    let out = Command::new(bin)
        .arg("--database")
        .arg(db)
        .args(cli)
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("roster {} failed", cli.join(" ")).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn start(args: &Args) -> Result<Target, Error> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections * 2)
        .build()?;
    if let (Some(url), Some(token), Some(admin)) = (&args.url, &args.token, &args.admin_token) {
        return Ok(Target {
            base: url.trim_end_matches('/').to_string(),
            token: token.clone(),
            admin: admin.clone(),
            client,
            child: None,
            pid: None,
            cleanup: None,
            db: None,
            _dir: None,
        });
    }
    let bin = roster_bin(args)?;
    let dir = std::env::temp_dir().join(format!("roster-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let dir = tempdir::Dir(dir);
    let (db, cleanup) = match &args.database {
        Some(pg) if pg.starts_with("postgres") => {
            let name = format!("roster_bench_{}", uuid::Uuid::new_v4().simple());
            let server = pg.trim_end_matches('/').to_string();
            (format!("{server}/{name}"), Some((server, name)))
        }
        Some(other) => (other.clone(), None),
        None => (
            format!("sqlite://{}", dir.0.join("bench.db").display()),
            None,
        ),
    };
    run_cli(&bin, &db, &["account", "create", "bench"])?;
    let token = run_cli(
        &bin,
        &db,
        &["token", "create", "--account", "bench", "--name", "bench"],
    )?;
    let admin = run_cli(&bin, &db, &["admin-token", "create", "--account", "bench"])?;
    run_cli(
        &bin,
        &db,
        &[
            "licenses",
            "set",
            "--account",
            "bench",
            "--product",
            "meeting",
            "--seats",
            "10000000",
        ],
    )?;
    let port = free_port()?;
    let mut cmd = Command::new(&bin);
    cmd.arg("--database")
        .arg(&db)
        .arg("serve")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--rate-limit")
        .arg("100000")
        .arg("--webhook-allow-private");
    if args.durable {
        cmd.arg("--durable");
    }
    if let Some(p) = args.pool {
        cmd.arg("--max-connections").arg(p.to_string());
    }
    let log = std::fs::File::create(dir.0.join("serve.log"))?;
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::from(log)).spawn()?;
    let pid = child.id();
    let base = format!("http://127.0.0.1:{port}");
    let target = Target {
        base,
        token,
        admin,
        client,
        child: Some(child),
        pid: Some(pid),
        cleanup,
        db: Some(db),
        _dir: Some(dir),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = target
            .client
            .get(format!("{}/healthz", target.base))
            .send()
            .await
        {
            if r.status().is_success() {
                break;
            }
        }
        if Instant::now() > deadline {
            return Err("the server did not answer /healthz within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    target
        .client
        .patch(target.admin_url("/settings"))
        .bearer_auth(&target.admin)
        .json(&json!({"default_products": ["meeting"]}))
        .send()
        .await?
        .error_for_status()?;
    // Seeded after the settings (a settings change re-evaluates every user's seats): the
    // seeded users hold no seat.
    let db = target.db.clone().unwrap_or_default();
    if args.seed > 0 {
        let started = Instant::now();
        seed(&db, "seed", args.seed).await?;
        println!(
            "seeded {} users straight into the store (no seats, sync log or events) in {:.1} s",
            args.seed,
            started.elapsed().as_secs_f64()
        );
    }
    if args.workloads.contains(&Workload::BigGroup) {
        let started = Instant::now();
        seed(&db, "bigin", args.big_group).await?;
        seed(&db, "bigout", BIG_GROUP_OUTSIDERS).await?;
        println!(
            "big-group: seeded {} + {BIG_GROUP_OUTSIDERS} users straight into the store in {:.1} s",
            args.big_group,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(target)
}

/// Users outside big-group's group, added and removed one at a time.
const BIG_GROUP_OUTSIDERS: u64 = 1000;

async fn account_id(engine: &roster::engine::Engine) -> Result<i64, Error> {
    Ok(engine
        .store()
        .read()
        .await?
        .account_by_slug("bench")
        .await?
        .ok_or("no account bench")?
        .id)
}

async fn seed(db: &str, prefix: &str, users: u64) -> Result<(), Error> {
    let engine = roster::startup::engine(db, None).await?;
    let account = account_id(&engine).await?;
    let now = roster::scim::query::timestamp(chrono::Utc::now());
    engine
        .store()
        .seed_users(account, prefix, 0, users, &now)
        .await?;
    engine.store().close().await;
    Ok(())
}

/// Runs `op` from `connections` tasks until `duration` has passed (or `op` says it is done),
/// recording each call's latency under the name it returns.
async fn timed<F, Fut>(
    report: &mut Report,
    connections: usize,
    duration: Option<Duration>,
    op: F,
) -> Duration
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<(&'static str, Result<(), String>)>> + Send,
{
    let op = Arc::new(op);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut tasks = vec![];
    for _ in 0..connections {
        let op = op.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine: BTreeMap<&'static str, Samples> = BTreeMap::new();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let Some((name, r)) = op(n).await else { break };
                let s = mine.entry(name).or_default();
                match r {
                    Ok(()) => s
                        .micros
                        .push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX)),
                    Err(e) => {
                        s.errors += 1;
                        if s.first_error.is_none() {
                            s.first_error = Some(e);
                        }
                    }
                }
            }
            mine
        }));
    }
    let mut all = vec![];
    for t in tasks {
        if let Ok(m) = t.await {
            all.push(m);
        }
    }
    let wall = started.elapsed();
    for m in all {
        for (name, s) in m {
            report.add(name, s, wall);
        }
    }
    wall
}

async fn expect(r: reqwest::Result<reqwest::Response>, want: &[u16]) -> Result<Value, String> {
    let r = r.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let body = r.bytes().await.map_err(|e| e.to_string())?;
    if !want.contains(&status) {
        return Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

fn user_body(name: &str, ext: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": ext,
        "name": {"givenName": "Bench", "familyName": "User"},
        "emails": [{"value": name, "type": "work", "primary": true}],
        "active": true
    })
}

/// A user the identity provider licenses for `product` (an entitlement of type License).
fn licensed_user_body(name: &str, ext: &str, product: &str) -> Value {
    let mut body = user_body(name, ext);
    body["entitlements"] = json!([{"type": "License", "value": product}]);
    body
}

fn patch_active(active: bool) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
           "Operations": [{"op": "replace", "path": "active", "value": active}]})
}

/// Known users: (prefix, count) whose names are `{prefix}{i}@example.com`.
#[derive(Default, Clone)]
struct Population {
    groups: Vec<(String, u64)>,
}

impl Population {
    fn total(&self) -> u64 {
        self.groups.iter().map(|g| g.1).sum()
    }

    fn pick(&self, n: u64) -> Option<(String, u64)> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let mut i = n % total;
        for (prefix, count) in &self.groups {
            if i < *count {
                return Some((prefix.clone(), i));
            }
            i -= count;
        }
        None
    }
}

/// A random-looking but repeatable spread of `n` over the population.
fn spread(n: u64) -> u64 {
    n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

async fn id_of(t: &Target, user_name: &str) -> Result<Option<String>, String> {
    let v = expect(
        t.client
            .get(t.scim("/Users"))
            .bearer_auth(&t.token)
            .query(&[
                ("filter", format!("userName eq \"{user_name}\"")),
                ("attributes", "id".into()),
            ])
            .send()
            .await,
        &[200],
    )
    .await?;
    Ok(v["Resources"]
        .get(0)
        .and_then(|r| r["id"].as_str())
        .map(str::to_string))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let target = Arc::new(start(&args).await?);
    let mut pop = Population::default();
    if args.seed > 0 {
        pop.groups.push(("seed".into(), args.seed));
    }
    let duration = Duration::from_secs(args.duration);
    println!(
        "roster-bench: {} connection(s), {} s per timed workload, server {}",
        args.connections,
        args.duration,
        if target.child.is_some() {
            "started by roster-bench"
        } else {
            "given by --url"
        }
    );
    let mut failed = 0u64;
    for w in &args.workloads {
        let mut report = Report::default();
        let cpu_before = (
            target.server_cpu(),
            cpu_seconds("/proc/self/stat"),
            Instant::now(),
        );
        match w {
            Workload::Create => {
                let t = target.clone();
                let run = uuid::Uuid::new_v4().simple().to_string();
                let prefix = format!("c{}-", &run[..8]);
                let p = prefix.clone();
                let wall = timed(&mut report, args.connections, Some(duration), move |n| {
                    let t = t.clone();
                    let name = format!("{p}{n}@example.com");
                    async move {
                        let r = t
                            .client
                            .post(t.scim("/Users"))
                            .bearer_auth(&t.token)
                            .header("content-type", "application/scim+json")
                            .json(&user_body(&name, &format!("ext-{name}")))
                            .send()
                            .await;
                        Some(("create: POST /Users", expect(r, &[201]).await.map(|_| ())))
                    }
                })
                .await;
                let made = report
                    .ops
                    .values()
                    .map(|(s, _)| s.micros.len() as u64)
                    .sum();
                pop.groups.push((prefix, made));
                failed += report.print(&format!("create ({:.1} s)", wall.as_secs_f64()));
            }
            Workload::InitialSync => {
                let users = args.users;
                let t = target.clone();
                let prefix = format!("sync{}-", &uuid::Uuid::new_v4().simple().to_string()[..6]);
                let p = prefix.clone();
                let started = Instant::now();
                let ids: Arc<std::sync::Mutex<Vec<(u64, String)>>> = Arc::default();
                let ids2 = ids.clone();
                timed(&mut report, args.connections, None, move |n| {
                    let t = t.clone();
                    let p = p.clone();
                    let ids = ids2.clone();
                    async move {
                        // Okta's way: look the user up by userName, then create it.
                        if n >= users {
                            return None;
                        }
                        let i = n;
                        let name = format!("{p}{i}@example.com");
                        if let Err(e) = id_of(&t, &name).await.and_then(|found| match found {
                            None => Ok(()),
                            Some(_) => Err("already there".to_string()),
                        }) {
                            return Some(("sync: GET userName eq + POST", Err(e)));
                        }
                        let r = t
                            .client
                            .post(t.scim("/Users"))
                            .bearer_auth(&t.token)
                            .header("content-type", "application/scim+json")
                            .json(&user_body(&name, &format!("ext-{name}")))
                            .send()
                            .await;
                        let r = expect(r, &[201]).await.map(|v| {
                            if let Some(id) = v["id"].as_str() {
                                if let Ok(mut g) = ids.lock() {
                                    g.push((i, id.to_string()));
                                }
                            }
                        });
                        Some(("sync: GET userName eq + POST", r))
                    }
                })
                .await;
                let users_done = started.elapsed();
                let mut ids = ids.lock().map(|g| g.clone()).unwrap_or_default();
                ids.sort();
                let groups = args.groups.max(1);
                let per_group = (ids.len() as u64).div_ceil(groups);
                let chunks: Vec<Vec<String>> = ids
                    .chunks(per_group.max(1) as usize)
                    .map(|c| c.iter().map(|(_, id)| id.clone()).collect())
                    .collect();
                let chunks = Arc::new(chunks);
                let t = target.clone();
                let p = prefix.clone();
                let group_started = Instant::now();
                timed(&mut report, args.connections.min(chunks.len().max(1)), None, move |n| {
                    let t = t.clone();
                    let chunks = chunks.clone();
                    let p = p.clone();
                    async move {
                        let members = chunks.get(n as usize)?;
                        let r = async {
                            let g = expect(
                                t.client
                                    .post(t.scim("/Groups"))
                                    .bearer_auth(&t.token)
                                    .header("content-type", "application/scim+json")
                                    .json(&json!({
                                        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                        "displayName": format!("{p}group{n}"),
                                    }))
                                    .send()
                                    .await,
                                &[201],
                            )
                            .await?;
                            let gid = g["id"].as_str().ok_or("no group id")?.to_string();
                            for batch in members.chunks(100) {
                                let value: Vec<Value> =
                                    batch.iter().map(|id| json!({"value": id})).collect();
                                expect(
                                    t.client
                                        .patch(t.scim(&format!("/Groups/{gid}")))
                                        .bearer_auth(&t.token)
                                        .header("content-type", "application/scim+json")
                                        .json(&json!({
                                            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                            "Operations": [{"op": "add", "path": "members", "value": value}]
                                        }))
                                        .send()
                                        .await,
                                    &[200, 204],
                                )
                                .await?;
                            }
                            Ok::<(), String>(())
                        }
                        .await;
                        Some(("sync: group, PATCH batches", r))
                    }
                })
                .await;
                let total = started.elapsed();
                pop.groups.push((prefix, args.users));
                failed += report.print(&format!(
                    "initial-sync: {} users in {:.1} s, {} groups in {:.1} s, total {:.1} s",
                    args.users,
                    users_done.as_secs_f64(),
                    groups,
                    group_started.elapsed().as_secs_f64(),
                    total.as_secs_f64()
                ));
            }
            Workload::Lookup => {
                if pop.total() == 0 {
                    println!(
                        "\n== lookup: no users known; run create, initial-sync or --seed first"
                    );
                    continue;
                }
                let t = target.clone();
                let pop2 = pop.clone();
                let wall = timed(&mut report, args.connections, Some(duration), move |n| {
                    let t = t.clone();
                    let picked = pop2.pick(spread(n));
                    async move {
                        let (prefix, i) = picked?;
                        let name = format!("{prefix}{i}@example.com");
                        let (op, filter) = if n % 2 == 0 {
                            ("lookup: userName eq", format!("userName eq \"{name}\""))
                        } else {
                            (
                                "lookup: externalId eq",
                                format!("externalId eq \"ext-{name}\""),
                            )
                        };
                        let r = expect(
                            t.client
                                .get(t.scim("/Users"))
                                .bearer_auth(&t.token)
                                .query(&[("filter", filter)])
                                .send()
                                .await,
                            &[200],
                        )
                        .await
                        .and_then(|v| match v["totalResults"].as_u64() {
                            Some(1) => Ok(()),
                            other => Err(format!("{other:?} results for {name}")),
                        });
                        Some((op, r))
                    }
                })
                .await;
                failed += report.print(&format!(
                    "lookup at {} known users ({:.1} s)",
                    pop.total(),
                    wall.as_secs_f64()
                ));
            }
            Workload::Floor => {
                let t = target.clone();
                let wall = timed(&mut report, args.connections, Some(duration), move |_| {
                    let t = t.clone();
                    async move {
                        let r = match t.client.get(format!("{}/healthz", t.base)).send().await {
                            Ok(resp) if resp.status().is_success() => {
                                resp.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                            }
                            Ok(resp) => Err(format!("status {}", resp.status())),
                            Err(e) => Err(e.to_string()),
                        };
                        Some(("floor: GET /healthz", r))
                    }
                })
                .await;
                failed += report.print(&format!("floor ({:.1} s)", wall.as_secs_f64()));
            }
            Workload::Churn => churn(&target, &args, &mut report, duration, &mut failed).await?,
            Workload::BigGroup => {
                big_group(&target, &args, &mut report, duration, &mut failed).await?
            }
            Workload::Import => {
                let prefix = format!("imp{}-", &uuid::Uuid::new_v4().simple().to_string()[..6]);
                let mut csv = String::from("email,givenName,familyName\n");
                for i in 0..args.users {
                    csv.push_str(&format!("{prefix}{i}@example.com,Bench,User{i}\n"));
                }
                let started = Instant::now();
                let r = expect(
                    target
                        .client
                        .post(target.admin_url("/imports"))
                        .bearer_auth(&target.admin)
                        .header("content-type", "text/csv")
                        .body(csv)
                        .timeout(Duration::from_secs(3600))
                        .send()
                        .await,
                    &[200],
                )
                .await;
                let wall = started.elapsed();
                let mut s = Samples::default();
                match r {
                    Ok(_) => s
                        .micros
                        .push(u64::try_from(wall.as_micros()).unwrap_or(u64::MAX)),
                    Err(e) => {
                        s.errors = 1;
                        s.first_error = Some(e);
                    }
                }
                report.add("import: POST /admin/v1/imports", s, wall);
                pop.groups.push((prefix, args.users));
                failed += report.print(&format!(
                    "import of {} rows: {:.1} s, {:.0} rows/s",
                    args.users,
                    wall.as_secs_f64(),
                    args.users as f64 / wall.as_secs_f64().max(1e-9)
                ));
            }
        }
        if let Some((peak, anon, file)) = target.memory() {
            println!(
                "server memory: peak resident {peak:.0} MB (now: {anon:.0} MB anonymous, {file:.0} MB file-backed)"
            );
        }
        // Where the machine's two cores went: the server, and this program (the clients).
        if let (Some(s0), Some(s1), Some(c0), Some(c1)) = (
            cpu_before.0,
            target.server_cpu(),
            cpu_before.1,
            cpu_seconds("/proc/self/stat"),
        ) {
            let wall = cpu_before.2.elapsed().as_secs_f64().max(1e-9);
            println!(
                "CPU over the workload ({wall:.1} s): server {:.1} s ({:.0} % of a core), load generator {:.1} s ({:.0} % of a core)",
                s1 - s0,
                100.0 * (s1 - s0) / wall,
                c1 - c0,
                100.0 * (c1 - c0) / wall
            );
        }
    }
    if let Some((peak, _, _)) = target.memory() {
        println!("\nserver peak resident memory: {peak:.0} MB");
    }
    if let Ok(mut t) = Arc::try_unwrap(target) {
        if let Some(c) = &mut t.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some((server, name)) = t.cleanup.take() {
            let _ = drop_database(&server, &name).await;
        }
    }
    if failed > 0 {
        return Err(format!("{failed} request(s) failed (see the tables above)").into());
    }
    Ok(())
}

async fn drop_database(server: &str, name: &str) -> Result<(), Error> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&format!("{server}/postgres")).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Churn: users created first (so that seats are in play: licenses for half of them), then
/// random deactivations, reactivations, updates and delete-and-recreates.
async fn churn(
    target: &Arc<Target>,
    args: &Args,
    report: &mut Report,
    duration: Duration,
    failed: &mut u64,
) -> Result<(), Error> {
    let users = args.users.clamp(10, 20_000);
    let t = target.clone();
    // Its own product, licensed for half of its users, which the identity provider gives
    // each of them as a License entitlement. (A rule would do too, but adding one evaluates
    // it over every user of the account: minutes at a million seeded users, before the
    // workload even starts.)
    let prefix = format!("churn{}-", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let product = format!("churn-{}", &prefix[5..11]);
    t.client
        .put(t.admin_url(&format!("/products/{product}")))
        .bearer_auth(&t.admin)
        .json(&json!({"seats": users / 2}))
        .send()
        .await?
        .error_for_status()?;
    let ids: Arc<Vec<std::sync::Mutex<Option<String>>>> =
        Arc::new((0..users).map(|_| std::sync::Mutex::new(None)).collect());
    let (t2, p2, ids2, pr2) = (t.clone(), prefix.clone(), ids.clone(), product.clone());
    let mut setup = Report::default();
    timed(&mut setup, args.connections, None, move |n| {
        let (t, p, ids, product) = (t2.clone(), p2.clone(), ids2.clone(), pr2.clone());
        async move {
            if n >= users {
                return None;
            }
            let name = format!("{p}{n}@example.com");
            let r = expect(
                t.client
                    .post(t.scim("/Users"))
                    .bearer_auth(&t.token)
                    .header("content-type", "application/scim+json")
                    .json(&licensed_user_body(&name, &format!("ext-{name}"), &product))
                    .send()
                    .await,
                &[201],
            )
            .await
            .map(|v| {
                if let (Some(id), Some(slot)) = (v["id"].as_str(), ids.get(n as usize)) {
                    if let Ok(mut s) = slot.lock() {
                        *s = Some(id.to_string());
                    }
                }
            });
            Some(("churn setup: POST /Users", r))
        }
    })
    .await;
    *failed += setup.print(&format!("churn setup: {users} users"));
    let (t2, p2, ids2, pr2) = (t.clone(), prefix.clone(), ids.clone(), product.clone());
    let wall = timed(report, args.connections, Some(duration), move |n| {
        let (t, p, ids, product) = (t2.clone(), p2.clone(), ids2.clone(), pr2.clone());
        async move {
            let i = spread(n) % users;
            let slot = ids.get(i as usize)?;
            let id = slot.lock().ok()?.clone();
            let name = format!("{p}{i}@example.com");
            let Some(id) = id else {
                return Some(("churn: (user busy)", Ok(())));
            };
            let url = t.scim(&format!("/Users/{id}"));
            let auth = |r: reqwest::RequestBuilder| {
                r.bearer_auth(&t.token)
                    .header("content-type", "application/scim+json")
            };
            Some(match n % 4 {
                0 => (
                    "churn: deactivate",
                    expect(auth(t.client.patch(&url)).json(&patch_active(false)).send().await, &[200, 404])
                        .await
                        .map(|_| ()),
                ),
                1 => (
                    "churn: reactivate",
                    expect(auth(t.client.patch(&url)).json(&patch_active(true)).send().await, &[200, 404])
                        .await
                        .map(|_| ()),
                ),
                2 => (
                    "churn: update name",
                    expect(
                        auth(t.client.patch(&url))
                            .json(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                "Operations": [{"op": "replace", "path": "name.givenName", "value": format!("B{n}")}]}))
                            .send()
                            .await,
                        &[200, 404],
                    )
                    .await
                    .map(|_| ()),
                ),
                _ => {
                    let r = async {
                        if let Ok(mut s) = slot.lock() {
                            *s = None;
                        }
                        expect(auth(t.client.delete(&url)).send().await, &[204, 404]).await?;
                        let v = expect(
                            auth(t.client.post(t.scim("/Users")))
                                .json(&licensed_user_body(&name, &format!("ext-{name}"), &product))
                                .send()
                                .await,
                            &[201],
                        )
                        .await?;
                        if let (Some(new), Ok(mut s)) = (v["id"].as_str(), slot.lock()) {
                            *s = Some(new.to_string());
                        }
                        Ok(())
                    }
                    .await;
                    ("churn: delete + recreate", r)
                }
            })
        }
    })
    .await;
    *failed += report.print(&format!(
        "churn over {users} users, licenses for {} ({:.1} s)",
        users / 2,
        wall.as_secs_f64()
    ));
    let products = expect(
        t.client
            .get(t.admin_url("/products"))
            .bearer_auth(&t.admin)
            .send()
            .await,
        &[200],
    )
    .await?;
    if let Some(p) = products["products"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["product"] == json!(product)))
    {
        println!("seat counters of {product} after churn: {p}");
    }
    Ok(())
}

/// One group of --big-group members (users seeded through the store, members added in one
/// statement), then single-member PATCH adds and removes.
async fn big_group(
    target: &Arc<Target>,
    args: &Args,
    report: &mut Report,
    duration: Duration,
    failed: &mut u64,
) -> Result<(), Error> {
    let t = target.clone();
    let g = expect(
        t.client
            .post(t.scim("/Groups"))
            .bearer_auth(&t.token)
            .header("content-type", "application/scim+json")
            .json(
                &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                          "displayName": format!("big-{}", uuid::Uuid::new_v4().simple())}),
            )
            .send()
            .await,
        &[201],
    )
    .await?;
    let gid = g["id"].as_str().ok_or("no group id")?.to_string();
    let Some(db) = &t.db else {
        println!("\n== big-group: needs the server roster-bench starts (it seeds the group through the store)");
        return Ok(());
    };
    let started = Instant::now();
    let engine = roster::startup::engine(db, None).await?;
    let account = account_id(&engine).await?;
    let inside = engine
        .store()
        .seed_group_members(account, &gid, "bigin", args.big_group)
        .await?;
    engine.store().close().await;
    println!(
        "\nbig-group: {inside} members put in the group straight through the store in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let listed = expect(
        t.client
            .get(t.scim("/Users"))
            .bearer_auth(&t.token)
            .query(&[
                ("filter", "userName sw \"bigout\"".to_string()),
                ("attributes", "id".into()),
                ("count", BIG_GROUP_OUTSIDERS.to_string()),
            ])
            .send()
            .await,
        &[200],
    )
    .await?;
    let outside: Vec<String> = listed["Resources"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let outside: Arc<Vec<String>> = Arc::new(outside);
    let t2 = t.clone();
    let wall = timed(report, args.connections.min(8), Some(duration), move |n| {
        let (t, outside, gid) = (t2.clone(), outside.clone(), gid.clone());
        async move {
            if outside.is_empty() {
                return None;
            }
            // Each outsider is added, then removed, in turn.
            let who = outside.get((n / 2) as usize % outside.len())?.clone();
            let (op, name) = if n % 2 == 0 {
                (json!({"op": "add", "path": "members", "value": [{"value": who}]}), "big-group: add one member")
            } else {
                (json!({"op": "remove", "path": format!("members[value eq \"{who}\"]")}), "big-group: remove one member")
            };
            let r = expect(
                t.client
                    .patch(t.scim(&format!("/Groups/{gid}")))
                    .bearer_auth(&t.token)
                    .header("content-type", "application/scim+json")
                    .json(&json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]}))
                    .send()
                    .await,
                &[200, 204],
            )
            .await
            .map(|_| ());
            Some((name, r))
        }
    })
    .await;
    *failed += report.print(&format!(
        "big-group: single-member PATCH on a group of {inside} ({:.1} s)",
        wall.as_secs_f64()
    ));
    Ok(())
}
