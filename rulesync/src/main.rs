//! rulesync: MISP and threat feeds compiled into Suricata datasets and rules.
//!
//! Only the command-line skeleton exists so far; the sources, normalisation and the
//! compiler arrive with the rulesync issue.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Compile threat intelligence (MISP, feeds, STIX, OpenIOC, Cowrie) into Suricata datasets.
#[derive(Parser)]
#[command(name = "rulesync", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pull every configured source, compile, validate and apply.
    Run,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run => {
            eprintln!("rulesync: error: `run` is not implemented yet");
            ExitCode::from(2)
        }
    }
}
