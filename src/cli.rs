//! The `roster` command line: parses arguments with clap and runs one command.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::grammar;

#[derive(Debug, Parser)]
#[command(name = "roster", version, about = "SCIM 2.0 provisioning server")]
pub struct Cli {
    /// Database URL: sqlite://FILE, sqlite:///ABSOLUTE/PATH or postgres://USER@HOST:PORT/DB
    /// (created and migrated on first use).
    #[arg(
        long,
        global = true,
        env = "ROSTER_DATABASE_URL",
        default_value = "sqlite://roster.db"
    )]
    pub database: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the SCIM API (/scim/v2), the admin API (/admin/v1) and /healthz.
    Serve(ServeArgs),
    /// Create or upgrade the database, then exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Manage the SCIM bearer tokens of an account's connections.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage license pools.
    #[command(subcommand)]
    Licenses(LicensesCommand),
    /// Admin API tokens.
    #[command(subcommand, name = "admin-token")]
    AdminToken(AdminTokenCommand),
    /// Import users from a CSV file (email, userName, givenName, familyName, products, groups, active).
    Import {
        /// The CSV file.
        file: std::path::PathBuf,
        #[arg(long)]
        account: String,
        /// Report what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the sync log, oldest of the selection first; --follow keeps printing new entries.
    #[command(name = "sync-log")]
    SyncLog {
        #[arg(long)]
        account: String,
        /// Keep printing new entries as they come.
        #[arg(long)]
        follow: bool,
        /// From this date (2026-11-28) or RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only this user (id or userName).
        #[arg(long)]
        user: Option<String>,
        /// How many entries to show first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Check a SCIM filter and print its canonical form (exit 1 with the error if invalid).
    Filter {
        /// The filter, e.g. 'userName eq "bjensen" and emails[type eq "work"]'.
        expr: String,
    },
    /// Check a SCIM PATCH path and print its canonical form (exit 1 with the error if invalid).
    Path {
        /// The path, e.g. 'members[value eq "2819c223"].display'.
        path: String,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ROSTER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// fsync every commit (SQLite synchronous=FULL): survives power loss, writes slower.
    #[arg(long, env = "ROSTER_DURABLE")]
    pub durable: bool,
    /// Database connections for reads.
    #[arg(long, env = "ROSTER_MAX_CONNECTIONS", default_value_t = 8)]
    pub max_connections: u32,
    /// HTTP worker threads (0: one per core).
    #[arg(long, env = "ROSTER_WORKERS", default_value_t = 0)]
    pub workers: usize,
    /// PostgreSQL: cancel any statement running longer than this (0: no limit).
    #[arg(long, env = "ROSTER_STATEMENT_TIMEOUT_MS", default_value_t = 30_000)]
    pub statement_timeout_ms: u64,
    /// Give up a request whose body stalls (no byte arriving) this long, answering 408.
    #[arg(
        long,
        env = "ROSTER_BODY_TIMEOUT_SECS",
        default_value_t = crate::config::DEFAULT_BODY_TIMEOUT_SECS,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub body_timeout_secs: u64,
}

#[derive(Debug, Subcommand)]
pub enum LicensesCommand {
    /// Create or resize a product's license pool; waitlisted users get freed seats at once.
    Set {
        #[arg(long)]
        account: String,
        /// The product, e.g. meeting.
        #[arg(long)]
        product: String,
        /// Licenses bought.
        #[arg(long)]
        seats: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Print an admin API token (a JWT signed by Roster) and nothing else.
    Create {
        #[arg(long)]
        account: String,
        /// admin (read and change) or auditor (read only).
        #[arg(long, default_value = "admin", value_parser = ["admin", "auditor"])]
        role: String,
        /// Hours until it expires.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u32,
    },
    /// Revoke one admin token (pass it with --token) or every admin token of the account
    /// made until now (--all). Effective at once on every replica.
    Revoke {
        #[arg(long)]
        account: String,
        /// The admin token to revoke.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        token: Option<String>,
        /// Revoke every admin token of the account made until now.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account (does nothing if it exists).
    Create {
        /// Short name: lower-case letters, digits and '-'.
        slug: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bearer token for a connection and print it (only the token) on stdout.
    Create {
        #[arg(long)]
        account: String,
        /// The connection's name, e.g. okta-prod.
        #[arg(long)]
        name: String,
    },
    /// Revoke the live tokens of a connection (by connection name or token id).
    Revoke {
        #[arg(long)]
        account: String,
        /// Connection name or token id.
        #[arg(long)]
        name: String,
    },
    /// List an account's tokens (never the tokens themselves).
    List {
        #[arg(long)]
        account: String,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Filter { expr } => print_canonical(&expr, grammar::parse_filter(&expr)),
        Command::Path { path } => print_canonical(&path, grammar::parse_path(&path)),
        command => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(run_async(cli.database, command)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

async fn run_async(database: String, command: Command) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Serve(args) => {
            crate::telemetry::init();
            let config = Config {
                database_url: database.clone(),
                listen: args.listen,
                max_connections: args.max_connections,
                durable: args.durable,
                workers: args.workers,
                statement_timeout_ms: args.statement_timeout_ms,
                body_timeout: std::time::Duration::from_secs(args.body_timeout_secs),
            };
            let engine = crate::startup::engine(&database, Some(&config)).await?;
            if engine.account_count().await? == 0 {
                engine.ensure_account("default").await?;
                let token = engine.create_token("default", "default").await?;
                println!("Created account 'default'. Its SCIM bearer token, shown only this once:");
                println!();
                println!("    {token}");
                println!();
            }
            let app = crate::startup::Application::build(&config, engine).await?;
            println!(
                "Roster is serving SCIM 2.0 at http://{}:{}/scim/v2",
                config.listen.ip(),
                app.port()
            );
            app.run().await?;
        }
        Command::Migrate => {
            crate::startup::engine(&database, None).await?;
            eprintln!("database is up to date");
        }
        Command::Account(AccountCommand::Create { slug }) => {
            let engine = crate::startup::engine(&database, None).await?;
            if engine.ensure_account(&slug).await? {
                eprintln!("created account '{slug}'");
            } else {
                eprintln!("account '{slug}' already exists");
            }
        }
        Command::Token(TokenCommand::Create { account, name }) => {
            let engine = crate::startup::engine(&database, None).await?;
            println!("{}", engine.create_token(&account, &name).await?);
        }
        Command::Token(TokenCommand::Revoke { account, name }) => {
            let engine = crate::startup::engine(&database, None).await?;
            let n = engine.revoke_token(&account, &name).await?;
            eprintln!("revoked {n} token(s)");
        }
        Command::Token(TokenCommand::List { account }) => {
            let engine = crate::startup::engine(&database, None).await?;
            for t in engine.list_tokens(&account).await? {
                let state = t
                    .revoked
                    .map_or("live".to_string(), |r| format!("revoked {r}"));
                println!("{}\t{}\t{}\t{}", t.id, t.name, t.created, state);
            }
        }
        Command::Licenses(LicensesCommand::Set {
            account,
            product,
            seats,
        }) => {
            let engine = crate::startup::engine(&database, None).await?;
            let changed = engine.cli_set_licenses(&account, &product, seats).await?;
            let pool = &changed.pool;
            eprintln!(
                "{}: {} seats, {} assigned, {} waitlisted ({} seat changes)",
                pool.product,
                pool.capacity,
                pool.assigned,
                pool.waitlisted,
                changed.seat_changes.len()
            );
        }
        Command::AdminToken(AdminTokenCommand::Create {
            account,
            role,
            ttl_hours,
        }) => {
            let engine = crate::startup::engine(&database, None).await?;
            let role = if role == "auditor" {
                crate::auth::jwt::Role::Auditor
            } else {
                crate::auth::jwt::Role::Admin
            };
            println!(
                "{}",
                engine.issue_admin_token(&account, role, ttl_hours).await?
            );
        }
        Command::AdminToken(AdminTokenCommand::Revoke {
            account,
            token,
            all,
        }) => {
            let engine = crate::startup::engine(&database, None).await?;
            engine
                .revoke_admin_tokens(&account, token.as_deref(), all)
                .await?;
            eprintln!(
                "{}",
                if all {
                    "revoked every admin token of the account made until now"
                } else {
                    "revoked the admin token"
                }
            );
        }
        Command::Import {
            file,
            account,
            dry_run,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let engine = crate::startup::engine(&database, None).await?;
            let ap = engine.cli_principal(&account).await?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {wide_bar} {pos}/{len} rows ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let ctx = crate::engine::synclog::Ctx::new(
                "cli",
                "CLI",
                &format!("import {}", file.display()),
                None,
            );
            let progress = |done: usize, total: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            };
            let report = engine.import(&ap, &text, dry_run, &ctx, &progress).await?;
            bar.finish_and_clear();
            println!(
                "{}{} rows: {} created, {} updated, {} unchanged, {} failed",
                if dry_run {
                    "dry run (nothing written): "
                } else {
                    ""
                },
                report.rows,
                report.created,
                report.updated,
                report.unchanged,
                report.failed
            );
            for r in report
                .report
                .iter()
                .filter(|r| r.result == "failed")
                .take(50)
            {
                println!(
                    "  line {}: {}: {}",
                    r.line,
                    r.user_name,
                    r.reason.as_deref().unwrap_or("failed")
                );
            }
            if report.failed > 50 {
                println!("  ... and {} more failed rows", report.failed - 50);
            }
        }
        Command::SyncLog {
            account,
            follow,
            since,
            user,
            limit,
        } => {
            let engine = crate::startup::engine(&database, None).await?;
            let first = engine
                .sync_log_after(
                    &account,
                    None,
                    user.as_deref(),
                    since.as_deref(),
                    limit.clamp(1, 10_000),
                )
                .await?;
            let mut last = first.last().map(|r| r.id.clone());
            for r in &first {
                println!("{}", crate::engine::synclog::line(r));
            }
            if follow {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    let rows = engine
                        .sync_log_after(&account, last.as_deref(), user.as_deref(), None, 1000)
                        .await?;
                    for r in &rows {
                        println!("{}", crate::engine::synclog::line(r));
                    }
                    if let Some(r) = rows.last() {
                        last = Some(r.id.clone());
                    }
                }
            }
        }
        Command::Filter { .. } | Command::Path { .. } => {}
    }
    Ok(())
}

fn print_canonical<T: std::fmt::Display>(
    input: &str,
    parsed: Result<T, grammar::ParseError>,
) -> ExitCode {
    match parsed {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", e.render(input));
            ExitCode::FAILURE
        }
    }
}
