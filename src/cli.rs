//! The `roster` command line: parses arguments with clap and runs one command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::grammar;

#[derive(Debug, Parser)]
#[command(name = "roster", version, about = "SCIM 2.0 provisioning server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Filter { expr } => print_canonical(&expr, grammar::parse_filter(&expr)),
        Command::Path { path } => print_canonical(&path, grammar::parse_path(&path)),
    }
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
