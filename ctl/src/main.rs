//! suriguardctl: suriguard's admin tool (`suriguardctl <noun> <verb>`, `-o table|json`).

mod analyze;
mod decisions;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use suriguard_core::net::Cidr;
use suriguard_core::stats::PluginStats;

/// suriguard's admin tool.
#[derive(Parser)]
#[command(name = "suriguardctl", version, about)]
struct Cli {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table, global = true)]
    output: Format,
    #[command(subcommand)]
    noun: Noun,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Noun {
    /// What the Suricata plugin received and did with it.
    Stats {
        #[command(subcommand)]
        verb: StatsVerb,
    },
    /// Try the detection engine on recorded traffic and print the decisions it would make
    /// (nothing is enforced).
    Analyze(AnalyzeArgs),
    /// Decisions in force: the live nftables sets and the enforcement journal.
    Decisions {
        /// suriguard configuration file (default /etc/suriguard/suriguard.toml if present).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        verb: DecisionsVerb,
    },
    /// suriguard's nftables table, sets and chains.
    Firewall {
        /// suriguard configuration file (default /etc/suriguard/suriguard.toml if present).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        verb: FirewallVerb,
    },
}

#[derive(Subcommand)]
enum DecisionsVerb {
    /// What is in force, from the live sets and the journal.
    List,
    /// Block (or quarantine) an address or prefix now.
    Add {
        /// IPv4/IPv6 address or CIDR.
        #[arg(value_parser = parse_cidr)]
        target: Cidr,
        /// How long: 3600, 90s, 15m, 4h, 2d.
        #[arg(long, default_value = "4h", value_parser = decisions::parse_ttl)]
        ttl: u64,
        #[arg(long, default_value = "manual")]
        reason: String,
        /// Quarantine a home device instead of blocking a remote address.
        #[arg(long)]
        quarantine: bool,
    },
    /// Lift the decisions against an address or prefix.
    Delete {
        #[arg(value_parser = parse_cidr)]
        target: Cidr,
    },
    /// Lift every decision.
    Flush,
}

#[derive(Subcommand)]
enum FirewallVerb {
    /// Create (or refresh) the table, sets and chains; elements in force are kept.
    Setup,
    /// Setup, then re-apply everything the journal holds in force (at boot, before Suricata).
    Restore,
    /// Remove what setup created (the whole table if it is ours, else our chains and sets).
    Teardown,
}

#[derive(Subcommand)]
enum StatsVerb {
    /// Show the counters the plugin wrote when Suricata stopped (its `stats-file`).
    Show {
        /// The plugin's stats file.
        #[arg(long, default_value = "/var/lib/suriguard/plugin-stats.json")]
        file: PathBuf,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false, id = "input")]
struct Input {
    /// An EVE JSON-lines file (Suricata's eve.json).
    #[arg(long)]
    eve: Option<PathBuf>,
    /// A capture: runs real Suricata offline with the plugin loaded.
    #[arg(long)]
    pcap: Option<PathBuf>,
}

#[derive(Args)]
struct AnalyzeArgs {
    #[command(flatten)]
    input: Input,
    /// suriguard configuration file (default: built-in defaults).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Add a home network (CIDR); repeatable. Without a config, home networks are the
    /// private ranges (RFC 1918, RFC 4193).
    #[arg(long = "home-net", value_name = "CIDR", value_parser = parse_cidr)]
    home_net: Vec<Cidr>,
    /// Write the full report (decisions and counters) as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With --pcap: the plugin to load (default: next to this program, then /usr/lib/suriguard).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// With --pcap: the Suricata configuration (default: suricata-conf/suricata-minimal.yaml).
    #[arg(long)]
    suricata_config: Option<PathBuf>,
    /// With --pcap: a rule file to load.
    #[arg(long)]
    rules: Option<PathBuf>,
}

fn to_json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("plain data serializes") + "\n"
}

fn parse_cidr(s: &str) -> Result<Cidr, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("suriguardctl: error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let out = match cli.noun {
        Noun::Stats {
            verb: StatsVerb::Show { file },
        } => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                format!(
                    "cannot read {}: {e} (set `stats-file` in the plugin's eve-log section)",
                    file.display()
                )
            })?;
            let stats: PluginStats = serde_json::from_str(&text)
                .map_err(|e| format!("{} is not a suriguard stats file: {e}", file.display()))?;
            match cli.output {
                Format::Json => {
                    serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())? + "\n"
                }
                Format::Table => stats_table(&stats),
            }
        }
        Noun::Decisions { config, verb } => {
            let cfg = decisions::load_config(config.as_deref())?;
            let json = matches!(cli.output, Format::Json);
            match verb {
                DecisionsVerb::List => {
                    let (rows, warning) = decisions::list(&cfg)?;
                    if let Some(w) = warning {
                        eprintln!("suriguardctl: warning: {w}");
                    }
                    if json {
                        to_json_text(&rows)
                    } else {
                        decisions::table(&rows)
                    }
                }
                DecisionsVerb::Add {
                    target,
                    ttl,
                    reason,
                    quarantine,
                } => {
                    let kind = if quarantine {
                        suriguard_core::enforce::SetKind::Quarantine
                    } else {
                        suriguard_core::enforce::SetKind::Block
                    };
                    let a = decisions::add(&cfg, target, kind, ttl, &reason)?;
                    if json {
                        to_json_text(&a)
                    } else {
                        let mut s = format!(
                            "{} {} for {} s ({}){}\n",
                            a.action.as_str(),
                            a.target,
                            a.ttl,
                            a.reason,
                            if a.enforced { "" } else { " [journal only]" }
                        );
                        for r in &a.replaced {
                            s.push_str(&format!("replaced {r} (inside {})\n", a.target));
                        }
                        s
                    }
                }
                DecisionsVerb::Delete { target } => {
                    let kinds = decisions::delete(&cfg, target)?;
                    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                    if json {
                        to_json_text(&serde_json::json!({"target": target, "deleted": names}))
                    } else {
                        format!("deleted {} ({})\n", target, names.join(", "))
                    }
                }
                DecisionsVerb::Flush => {
                    decisions::flush(&cfg)?;
                    if json {
                        to_json_text(&serde_json::json!({"flushed": true}))
                    } else {
                        "flushed every decision\n".into()
                    }
                }
            }
        }
        Noun::Firewall { config, verb } => {
            let cfg = decisions::load_config(config.as_deref())?;
            let (what, n) = match verb {
                FirewallVerb::Setup => decisions::setup(&cfg).map(|()| ("set up", None))?,
                FirewallVerb::Restore => decisions::restore(&cfg).map(|n| ("restored", Some(n)))?,
                FirewallVerb::Teardown => decisions::teardown(&cfg).map(|()| ("removed", None))?,
            };
            match cli.output {
                Format::Json => {
                    serde_json::json!({
                        "table": cfg.enforce.table, "done": what, "elements": n
                    })
                    .to_string()
                        + "\n"
                }
                Format::Table => match n {
                    Some(n) => format!(
                        "table inet {} {what}; {n} element(s) in force re-applied\n",
                        cfg.enforce.table
                    ),
                    None => format!("table inet {} {what}\n", cfg.enforce.table),
                },
            }
        }
        Noun::Analyze(a) => {
            let cfg = analyze::effective_config(a.config.as_deref(), &a.home_net)?;
            let report = match (&a.input.eve, &a.input.pcap) {
                (Some(eve), _) => analyze::eve_file(eve, &cfg)?,
                (None, Some(pcap)) => {
                    let setup =
                        analyze::SuricataSetup::locate(a.plugin, a.suricata_config, a.rules)?;
                    analyze::pcap_file(pcap, &cfg, &setup)?
                }
                (None, None) => unreachable!("clap requires one input"),
            };
            if let Some(path) = &a.out {
                let json = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
                std::fs::write(path, json)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            match cli.output {
                Format::Json => {
                    serde_json::to_string_pretty(&report.decisions).map_err(|e| e.to_string())?
                        + "\n"
                }
                Format::Table => analyze::table(&report),
            }
        }
    };
    std::io::stdout()
        .write_all(out.as_bytes())
        .map_err(|e| e.to_string())
}

fn stats_table(s: &PluginStats) -> String {
    let w = &s.write;
    let i = &s.ingest;
    let mut rows: Vec<(String, u64)> = vec![
        ("records received".into(), w.calls),
        ("  queued for the worker".into(), w.queued),
        ("  dropped (queue full)".into(), w.dropped_queue_full),
        ("  rejected: invalid".into(), w.rejected_invalid),
        ("  rejected: empty".into(), w.rejected_empty),
        ("  rejected: oversized".into(), w.rejected_oversized),
        ("records parsed".into(), i.parsed.total()),
    ];
    rows.extend(
        i.parsed
            .to_map()
            .into_iter()
            .map(|(k, v)| (format!("  {k}"), v)),
    );
    rows.push(("parse errors".into(), i.parse_errors));
    rows.push(("panics contained".into(), w.write_panics + i.worker_panics));
    if let Some(d) = &i.detect {
        rows.push(("decisions".into(), d.decisions));
        rows.push((
            "  refused: protected address".into(),
            d.gate.refused_protected,
        ));
        rows.push((
            "  suppressed: already decided".into(),
            d.gate.suppressed_cooldown,
        ));
        rows.push(("  over the per-minute cap".into(), d.gate.rate_limited));
        rows.push(("  over the active cap".into(), d.gate.capped));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = format!(
        "eve output: threaded {}, queue size {}, eve threads {}\n",
        if s.threaded { "yes" } else { "no" },
        s.queue_size,
        s.eve_threads
    );
    for (k, v) in rows {
        out.push_str(&format!("{k:<width$}  {v:>10}\n"));
    }
    out.push_str(if s.balanced() {
        "every record accounted for\n"
    } else {
        "WARNING: counters do not add up\n"
    });
    out
}
