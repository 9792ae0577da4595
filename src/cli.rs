//! The `roster` command line: parses arguments with clap and runs one command.

use std::net::{SocketAddr, ToSocketAddrs};
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
    /// Manage an account's identity-provider connections.
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// Manage license pools.
    #[command(subcommand)]
    Licenses(LicensesCommand),
    /// Admin API tokens.
    #[command(subcommand, name = "admin-token")]
    AdminToken(AdminTokenCommand),
    /// Print a one-time sign-in link to the admin console (valid 15 minutes) and nothing else.
    #[command(name = "console-link")]
    ConsoleLink {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
        /// admin (read and change) or auditor (read only).
        #[arg(long, default_value = "admin", value_parser = ["admin", "auditor"])]
        role: String,
        /// Where the console is reached, as a browser sees it.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base_url: String,
    },
    /// Custom schema extensions: the attributes an identity provider maps beyond the
    /// built-in schemas.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Import users from a CSV file (email, userName, givenName, familyName, products, groups, active).
    Import {
        /// The CSV file.
        file: std::path::PathBuf,
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
        /// Report what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the account's events (one JSON envelope per line) after a sequence number;
    /// --follow keeps printing them as they happen.
    Events {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
        after: i64,
        /// Keep printing new events as they come.
        #[arg(long)]
        follow: bool,
    },
    /// Print the sync log, oldest of the selection first; --follow keeps printing new entries.
    #[command(name = "sync-log")]
    SyncLog {
        /// The account's slug, e.g. acme (see `roster account list`).
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
    /// Address to listen on, HOST:PORT (e.g. 127.0.0.1:8080, localhost:8080, [::1]:8080).
    #[arg(
        long,
        env = "ROSTER_LISTEN",
        default_value = "127.0.0.1:8080",
        value_parser = listen_address
    )]
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
    /// Requests per second each connection may send (a token bucket, burst twice that),
    /// unless the connection has its own (PATCH /admin/v1/connections/NAME). Each replica
    /// keeps its own buckets.
    #[arg(
        long,
        env = "ROSTER_RATE_LIMIT",
        value_name = "N",
        default_value_t = crate::engine::limits::DEFAULT_RATE_LIMIT,
        value_parser = clap::value_parser!(u32).range(1..=i64::from(crate::engine::limits::MAX_RATE_LIMIT))
    )]
    pub rate_limit: u32,
    /// Proxies whose X-Forwarded-For is believed, as CIDRs (10.0.0.0/8,::1/128); by
    /// default nobody's: the peer's address decides allow-lists.
    #[arg(
        long,
        env = "ROSTER_TRUSTED_PROXIES",
        value_name = "CIDR,...",
        value_delimiter = ',',
        value_parser = cidr
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Let webhook endpoints be http:// and private or loopback addresses (on-premises
    /// receivers, tests); by default only https:// to public addresses.
    #[arg(long, env = "ROSTER_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Serve HTTPS with this PEM certificate chain (leaf first); needs --tls-key. Without
    /// both, plain HTTP (for use behind a TLS proxy).
    #[arg(
        long,
        env = "ROSTER_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1); needs --tls-cert.
    #[arg(
        long,
        env = "ROSTER_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum LicensesCommand {
    /// List the account's products: licenses bought, assigned and waitlisted.
    List {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
    },
    /// Create or resize a product's license pool; waitlisted users get freed seats at once.
    Set {
        /// The account's slug, e.g. acme (see `roster account list`).
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
pub enum SchemaCommand {
    /// Register a schema extension (an RFC 7643 schema document in a JSON file).
    Add {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
        /// The schema document: {"id": URN, "name", "attributes": [...]}.
        file: std::path::PathBuf,
        /// User or Group; needed only when the URN does not end with :User or :Group.
        #[arg(long, value_parser = ["User", "Group"])]
        resource_type: Option<String>,
    },
    /// List the account's schema extensions.
    List {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
    },
    /// Remove a schema extension (its values stay stored and return if it is registered again).
    Remove {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
        /// The extension's URN.
        urn: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Print an admin API token (a JWT signed by Roster) and nothing else.
    Create {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
        /// admin (read and change) or auditor (read only).
        #[arg(long, default_value = "admin", value_parser = ["admin", "auditor"])]
        role: String,
        /// Hours until it expires, from 1 to 8760 (a year).
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=8760))]
        ttl_hours: u32,
    },
    /// Revoke one admin token (pass it with --token) or every admin token of the account
    /// made until now (--all). Effective at once on every replica.
    Revoke {
        /// The account's slug, e.g. acme (see `roster account list`).
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
    /// List the accounts, with how many users each has.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ConnectionCommand {
    /// Create a connection and print its credentials, and nothing else: with `--auth bearer`
    /// (the default) the token, as `roster token create` does; with `--auth oauth` one JSON
    /// object {"client_id": ..., "client_secret": ...} for the OAuth token endpoint.
    Create {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
        /// The connection's name, e.g. entra-prod.
        #[arg(long)]
        name: String,
        /// bearer (a token) or oauth (client credentials, as Entra's gallery asks).
        #[arg(long, default_value = "bearer", value_parser = ["bearer", "oauth"])]
        auth: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a bearer token for a connection and print it (only the token) on stdout.
    Create {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
        /// The connection's name, e.g. okta-prod.
        #[arg(long)]
        name: String,
    },
    /// Revoke the live tokens of a connection (by connection name or token id).
    Revoke {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
        /// Connection name or token id.
        #[arg(long)]
        name: String,
    },
    /// List an account's tokens (never the tokens themselves).
    List {
        /// The account's slug, e.g. acme (see `roster account list`).
        #[arg(long)]
        account: String,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        // Read as the server reads them: what goes beyond RFC 7644 is noted on stderr.
        Command::Filter { expr } => print_canonical(
            &expr,
            grammar::parse_filter_lenient(&expr, &grammar::Limits::default()),
        ),
        Command::Path { path } => print_canonical(
            &path,
            grammar::parse_path_lenient(&path, &grammar::Limits::default()),
        ),
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
                Ok(code) => code,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `roster import` exits with this when some rows failed (the others were imported).
const SOME_ROWS_FAILED: u8 = 2;

/// The first start's message: the default account's token, and how to make more.
const FIRST_START: &str = "Created account 'default'. Its SCIM bearer token, shown only this once:";

async fn run_async(
    database: String,
    command: Command,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
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
                rate_limit_per_second: args.rate_limit,
                trusted_proxies: args.trusted_proxies.clone(),
                webhook_allow_private: args.webhook_allow_private,
            };
            // The certificate and the port first: a start that cannot serve changes nothing
            // (the first start's token, shown once, is made only once the server can run).
            let tls = match (args.tls_cert, args.tls_key) {
                (Some(cert), Some(key)) => {
                    Some(crate::startup::tls_config(&crate::config::TlsFiles {
                        cert,
                        key,
                    })?)
                }
                // clap's `requires` refuses one flag without the other.
                _ => None,
            };
            let scheme = if tls.is_some() { "https" } else { "http" };
            let listener = crate::startup::bind(config.listen)?;
            let engine = crate::startup::engine(&database, Some(&config)).await?;
            warn_shared_group_names(&engine).await;
            let first_token = if engine.account_count().await? == 0 {
                engine.ensure_account("default").await?;
                Some(engine.create_token("default", "default").await?)
            } else {
                None
            };
            let app =
                crate::startup::Application::build_on_tls(listener, &config, engine, tls).await?;
            if let Some(token) = first_token {
                println!("{FIRST_START}");
                println!();
                println!("    {token}");
                println!();
                println!(
                    "Make more (one per identity provider) with: \
                     roster token create --account default --name NAME"
                );
                println!();
            }
            let at = SocketAddr::new(config.listen.ip(), app.port());
            println!("Roster is serving SCIM 2.0 at {scheme}://{at}/scim/v2");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let engine = crate::startup::engine(&database, None).await?;
            let opened = engine.store().opened();
            let n = opened.migrations_run;
            let s = if n == 1 { "" } else { "s" };
            if opened.created {
                eprintln!(
                    "created the database at {} ({n} migration{s})",
                    opened.place
                );
            } else if n > 0 {
                eprintln!(
                    "migrated the database at {} ({n} migration{s} run)",
                    opened.place
                );
            } else {
                eprintln!("the database at {} is up to date", opened.place);
            }
            warn_shared_group_names(&engine).await;
        }
        Command::Account(AccountCommand::List) => {
            let engine = crate::startup::engine(&database, None).await?;
            println!("account\tusers");
            for (slug, users) in engine.accounts().await? {
                println!("{slug}\t{users}");
            }
        }
        Command::Account(AccountCommand::Create { slug }) => {
            let engine = crate::startup::engine(&database, None).await?;
            if engine.ensure_account(&slug).await? {
                eprintln!("created account '{slug}'");
            } else {
                eprintln!("account '{slug}' already exists");
            }
        }
        Command::Connection(ConnectionCommand::Create {
            account,
            name,
            auth,
        }) => {
            let engine = crate::startup::engine(&database, None).await?;
            let ap = engine.cli_principal(&account).await?;
            let ctx = crate::engine::synclog::Ctx::new("cli", "CLI", "connection create", None);
            let input =
                crate::engine::input::validated(crate::engine::connections::NewConnection {
                    name,
                    auth: Some(auth),
                    issuer: None,
                    audience: None,
                    jwks_url: None,
                })?;
            match engine.create_connection(&ap, &input, &ctx).await? {
                crate::engine::connections::Created::Bearer(c) => println!("{}", c.token),
                crate::engine::connections::Created::Jwt(c) => println!("{}", c.name),
                crate::engine::connections::Created::OAuth(c) => println!(
                    "{}",
                    serde_json::json!({"client_id": c.client_id, "client_secret": c.client_secret})
                ),
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
            println!("id\tconnection\tcreated\tstate");
            for t in engine.list_tokens(&account).await? {
                let state = t
                    .revoked
                    .map_or("live".to_string(), |r| format!("revoked {r}"));
                println!("{}\t{}\t{}\t{}", t.id, t.name, t.created, state);
            }
        }
        Command::ConsoleLink {
            account,
            role,
            base_url,
        } => {
            let engine = crate::startup::engine(&database, None).await?;
            let role = if role == "auditor" {
                crate::auth::jwt::Role::Auditor
            } else {
                crate::auth::jwt::Role::Admin
            };
            let secret = engine.console_link(&account, role).await?;
            println!("{}/console/link/{secret}", base_url.trim_end_matches('/'));
        }
        Command::Schema(SchemaCommand::Add {
            account,
            file,
            resource_type,
        }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
            let engine = crate::startup::engine(&database, None).await?;
            let ap = engine.cli_principal(&account).await?;
            let ctx = crate::engine::synclog::Ctx::new("cli", "CLI", "schema add", None);
            let added = engine
                .add_schema(&ap, &doc, resource_type.as_deref(), &ctx)
                .await?;
            let count = added
                .schema
                .get("attributes")
                .and_then(serde_json::Value::as_array)
                .map_or(0, Vec::len);
            eprintln!(
                "registered {} for {} ({count} attributes)",
                added.id, added.resource_type
            );
        }
        Command::Schema(SchemaCommand::List { account }) => {
            let engine = crate::startup::engine(&database, None).await?;
            let ap = engine.cli_principal(&account).await?;
            println!("id\tresource_type\tattributes\tcreated");
            for s in engine.schemas(&ap).await?.schemas {
                let names: Vec<&str> = s
                    .schema
                    .get("attributes")
                    .and_then(serde_json::Value::as_array)
                    .map(|a| a.iter().filter_map(|x| x.get("name")?.as_str()).collect())
                    .unwrap_or_default();
                println!(
                    "{}\t{}\t{}\t{}",
                    s.id,
                    s.resource_type,
                    names.join(","),
                    s.created
                );
            }
        }
        Command::Schema(SchemaCommand::Remove { account, urn }) => {
            let engine = crate::startup::engine(&database, None).await?;
            let ap = engine.cli_principal(&account).await?;
            let ctx = crate::engine::synclog::Ctx::new("cli", "CLI", "schema remove", None);
            engine.delete_schema(&ap, &urn, &ctx).await?;
            eprintln!("removed {urn}");
        }
        Command::Licenses(LicensesCommand::List { account }) => {
            let engine = crate::startup::engine(&database, None).await?;
            let ap = engine.cli_principal(&account).await?;
            println!("product\tcapacity\tassigned\twaitlisted");
            for p in engine.products(&ap).await?.products {
                println!(
                    "{}\t{}\t{}\t{}",
                    p.product, p.capacity, p.assigned, p.waitlisted
                );
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
            let bytes =
                std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let text = crate::engine::import::decode(&bytes)?;
            let engine = crate::startup::engine(&database, None).await?;
            let ap = engine.cli_principal(&account).await?;
            // Rows, about (a quoted field may span lines); the import corrects it.
            let lines = text.lines().count().saturating_sub(1);
            let bar = indicatif::ProgressBar::new(lines as u64);
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
            print!("{}", import_summary(&report));
            if report.failed > 0 {
                return Ok(ExitCode::from(SOME_ROWS_FAILED));
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
        Command::Events {
            account,
            after,
            follow,
        } => {
            let engine = crate::startup::engine(&database, None).await?;
            let ap = engine.cli_principal(&account).await?;
            let mut after = after;
            loop {
                let q = crate::engine::events::EventQuery {
                    after,
                    types: vec![],
                    limit: crate::engine::events::MAX_LIMIT,
                    wait: std::time::Duration::from_secs(if follow {
                        crate::engine::events::MAX_WAIT_SECS
                    } else {
                        0
                    }),
                };
                let page = engine.events(&ap, &q).await?;
                for e in &page.events {
                    println!("{}", serde_json::to_string(e)?);
                }
                after = page.next_after;
                if page.events.is_empty() && !follow {
                    break;
                }
            }
        }
        Command::Filter { .. } | Command::Path { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// `--listen`: an address, or a host name with a port (resolved now; an IPv4 address is
/// preferred, so `localhost:8080` listens where `127.0.0.1:8080` would).
/// clap value parser of `--trusted-proxies`: one CIDR (or a single address).
fn cidr(s: &str) -> Result<ipnet::IpNet, String> {
    crate::engine::limits::parse_network(s)
        .ok_or_else(|| format!("'{s}' is not a CIDR, e.g. 10.0.0.0/8 or 2001:db8::/32"))
}

fn listen_address(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let example = "use HOST:PORT, e.g. --listen 127.0.0.1:8080 or --listen localhost:8080";
    if !s
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
    {
        return Err(format!("'{s}' is not HOST:PORT: {example}"));
    }
    let found: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve '{s}': {e}; {example}"))?
        .collect();
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| found.first())
        .copied()
        .ok_or_else(|| format!("'{s}' resolves to no address; {example}"))
}

/// Prints the groups that share a displayName with another group of their account (possible
/// only for groups named before names were unique): nothing of them was lost, and each set
/// is to be renamed. A failure to look is logged, never a reason not to start.
async fn warn_shared_group_names(engine: &crate::engine::Engine) {
    match engine.shared_group_names().await {
        Ok(groups) => {
            if let Some(text) = shared_group_names_text(&groups) {
                eprintln!("{text}");
            }
        }
        Err(e) => tracing::warn!("cannot list groups that share a name: {e}"),
    }
}

fn shared_group_names_text(groups: &[crate::store::resources::SharedGroupName]) -> Option<String> {
    use std::fmt::Write;
    let first = groups.first()?;
    let mut out = String::from(
        "warning: these groups share a displayName with another group of their account. A \
         group's displayName is now unique per account, case-insensitively (Entra matches groups \
         by name); nothing of these groups was lost. Rename all but one of each set (PUT or \
         PATCH displayName); `GET /admin/v1/reports/group_names` lists them too:",
    );
    let mut set = (first.account.as_str(), first.name_lc.as_str());
    let _ = write!(out, "\n  account '{}', name '{}':", set.0, set.1);
    for g in groups {
        if (g.account.as_str(), g.name_lc.as_str()) != set {
            set = (g.account.as_str(), g.name_lc.as_str());
            let _ = write!(out, "\n  account '{}', name '{}':", set.0, set.1);
        }
        let _ = write!(
            out,
            "\n    group {} \"{}\" (created {})",
            g.id, g.display_name, g.created
        );
    }
    Some(out)
}

/// A row's seats, `meeting assigned, video waitlisted`.
fn row_seats(r: &crate::engine::import::RowReport) -> String {
    r.seats
        .iter()
        .map(|s| {
            let field = |k: &str| s.get(k).and_then(serde_json::Value::as_str).unwrap_or("?");
            format!("{} {}", field("product"), field("state"))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `roster import` prints: the totals, seats included; then, for a dry run, every row
/// that would change or has a conflict (with its seats), and for a real run the failed rows.
fn import_summary(report: &crate::engine::import::ImportReport) -> String {
    use std::fmt::Write;
    const SHOWN: usize = 50;
    let mut out = format!(
        "{}{} rows: {} created, {} updated, {} unchanged, {} failed; seats: {} assigned, {} waitlisted\n",
        if report.dry_run { "dry run (nothing written): " } else { "" },
        report.rows,
        report.created,
        report.updated,
        report.unchanged,
        report.failed,
        report.seats_assigned,
        report.seats_waitlisted,
    );
    let mut shown = 0;
    let mut left = 0;
    for r in &report.report {
        let listed = if report.dry_run {
            r.result != "unchanged" || !r.conflicts.is_empty()
        } else {
            r.result == "failed"
        };
        if !listed {
            continue;
        }
        if !report.dry_run && shown == SHOWN {
            left += 1;
            continue;
        }
        shown += 1;
        let _ = write!(out, "  line {}: {}: ", r.line, r.user_name);
        if r.result == "failed" {
            let _ = write!(out, "{}", r.reason.as_deref().unwrap_or("failed"));
        } else {
            let _ = write!(out, "{}", r.result);
            if !r.seats.is_empty() {
                let _ = write!(out, "; seats: {}", row_seats(r));
            }
            if !r.conflicts.is_empty() {
                let _ = write!(out, "; conflicts: {}", r.conflicts.join(", "));
            }
        }
        out.push('\n');
    }
    if left > 0 {
        let _ = writeln!(out, "  ... and {left} more failed rows");
    }
    out
}

fn print_canonical<T: std::fmt::Display>(
    input: &str,
    parsed: Result<(T, Vec<String>), grammar::ParseError>,
) -> ExitCode {
    match parsed {
        Ok((v, notes)) => {
            println!("{v}");
            for n in notes {
                eprintln!("note: {n}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", e.render(input));
            ExitCode::FAILURE
        }
    }
}
