//! `suriguard-nft-helper`: enforcement for a Suricata that drops root (`run-as`).
//!
//! Runs as a service holding only CAP_NET_ADMIN (suricata-conf/systemd/
//! suriguard-nft-helper.service), listens on a unix socket that only its group (the one
//! Suricata runs as) may open, and does for the plugin exactly two things: set up
//! suriguard's table, sets and chains from its own configuration, and add or delete
//! elements of suriguard's block, quarantine and rate-limit sets. The protocol and its
//! checks are in `suriguard_enforce::helper`; this is the program around them.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use suriguard_cli::ExitStatus;
use suriguard_config::ConfigFile;
use suriguard_enforce::helper::{bind, uid_of, Helper, Peers};
use suriguard_enforce::EnforceConfig;
use suriguard_net::NetworkConfig;

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// suriguard's configuration: `[enforce]` names the table and rules, `[network]` what
    /// is never blocked (the client decides neither).
    #[arg(long, default_value = suriguard_config::DEFAULT_PATH)]
    config: PathBuf,
    /// Where to listen (mode 0660: this process's group may connect).
    #[arg(long, default_value = "/run/suriguard/nft.sock")]
    socket: PathBuf,
    /// A user (name or uid) allowed to connect besides root: the one Suricata runs as.
    #[arg(long = "allow-user", required = true)]
    allow_user: Vec<String>,
    #[arg(short, long)]
    quiet: bool,
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn main() -> ExitCode {
    if let Some(status) = suriguard_cli::docs::generate_if_asked(Args::command, "8") {
        return ExitCode::from(status as u8);
    }
    let args = Args::parse();
    suriguard_cli::init_tracing(args.quiet, args.verbose);
    let loaded = ConfigFile::load(&args.config).and_then(|f| {
        let network: NetworkConfig = f.section()?;
        let enforce: EnforceConfig = f.section()?;
        Ok((
            network.with_default_allowlist_file(&f.state_dir()?),
            enforce,
        ))
    });
    let (network, enforce) = match loaded {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("{e}");
            return ExitStatus::Config.into();
        }
    };
    let mut uids = Vec::new();
    for u in &args.allow_user {
        match uid_of(u) {
            Some(uid) => uids.push(uid),
            None => {
                tracing::error!("--allow-user {u}: no such user");
                return ExitStatus::Usage.into();
            }
        }
    }
    let listener = match bind(&args.socket) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot listen on {}: {e}", args.socket.display());
            return ExitStatus::Failure.into();
        }
    };
    tracing::info!(
        "listening on {} for uid(s) {uids:?} and root; table inet {}",
        args.socket.display(),
        enforce.table
    );
    let mut helper = Helper::new(enforce, network, Peers { uids });
    if let Err(e) = helper.serve(&listener) {
        tracing::error!("cannot accept on {}: {e}", args.socket.display());
        return ExitStatus::Failure.into();
    }
    ExitStatus::Ok.into()
}
