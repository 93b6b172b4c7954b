//! suriguardctl: suriguard's admin tool (`suriguardctl <noun> <verb>`, `-o table|json`).
//!
//! Today it reads the plugin's run counters; decisions, alerts, MISP events,
//! notifications and offline analysis arrive with their issues.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
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
    match cli.noun {
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
            let out = match cli.output {
                Format::Json => {
                    serde_json::to_string_pretty(&stats).map_err(|e| e.to_string())? + "\n"
                }
                Format::Table => stats_table(&stats),
            };
            std::io::stdout()
                .write_all(out.as_bytes())
                .map_err(|e| e.to_string())
        }
    }
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
