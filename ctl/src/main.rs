//! suriguardctl: suriguard's admin tool (`suriguardctl <noun> <verb>`, `-o table|json`).

mod advice;
mod allowlist;
mod analyze;
mod config;
mod dataset;
mod decisions;
mod error;
mod evaluate;
mod honeypot;
mod html;
mod http;
mod intake;
mod metrics;
mod misp;
mod notify;
mod ops;
mod serve;
mod setup;
mod store;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use config::{Config, Scope};
use error::CtlError;
use suriguard_cli::ExitStatus;
use suriguard_guard::PluginStats;
use suriguard_net::Cidr;

/// suriguard's admin tool.
#[derive(Parser)]
#[command(name = "suriguardctl", version, about, after_help = EXIT_HELP)]
struct Cli {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Format::Table, global = true)]
    output: Format,
    /// suriguard configuration file, before or after the subcommand (default:
    /// /etc/suriguard/suriguard.toml if present; `analyze` and `model export` use the
    /// built-in defaults without it).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// More diagnostics on stderr: -v debug, -vv trace (RUST_LOG overrides).
    #[arg(long, short, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
    /// Errors only on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
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
    /// The configuration file: `config check` after every edit.
    Config {
        #[command(subcommand)]
        verb: ConfigVerb,
    },
    /// What the Suricata plugin received and did with it.
    Stats {
        #[command(subcommand)]
        verb: StatsVerb,
    },
    /// Try the detection engine on recorded traffic and print the decisions it would make
    /// (nothing is enforced).
    Analyze(AnalyzeArgs),
    /// Detection quality on labelled captures: per-source hits, misses and false
    /// decisions (`--manifest`, see docs/DETECTION.md).
    Evaluate(EvaluateArgs),
    /// The model stage: check a model file, export training data from flow records.
    Model {
        #[command(subcommand)]
        verb: ModelVerb,
    },
    /// Addresses never to block again: `[network] allowlist` and the allowlist file the
    /// console's "never block this again" writes (re-read by the running plugin).
    Allowlist {
        #[command(subcommand)]
        verb: AllowlistVerb,
    },
    /// Decisions in force: the live nftables sets and the enforcement journal.
    Decisions {
        #[command(subcommand)]
        verb: DecisionsVerb,
    },
    /// Suricata alerts and suriguard decisions kept in the local store.
    Alerts {
        #[command(subcommand)]
        verb: AlertsVerb,
    },
    /// Incidents as MISP events.
    Events {
        #[command(subcommand)]
        verb: EventsVerb,
    },
    /// Concrete steps against an incident (built-in knowledge base, or the LLM configured).
    Mitigate {
        /// Incident id from `alerts list`, or its key (a prefix of 6+ characters will do).
        id: String,
        /// Never ask the LLM.
        #[arg(long)]
        offline: bool,
    },
    /// Email, Telegram and webhook notifications.
    Notify {
        #[command(subcommand)]
        verb: NotifyVerb,
    },
    /// The whole loop once (or forever with --follow): ingest, push to MISP, notify.
    /// This is what suriguard-report.service runs.
    Run {
        /// Keep going, one round every --interval seconds.
        #[arg(long)]
        follow: bool,
        #[arg(long, default_value_t = 10.0)]
        interval: f64,
    },
    /// The Cowrie honeypot: its visitors become decisions (`[honeypot]`).
    Honeypot {
        #[command(subcommand)]
        verb: HoneypotVerb,
    },
    /// suriguard's nftables table, sets and chains.
    Firewall {
        #[command(subcommand)]
        verb: FirewallVerb,
    },
    /// Devices that report their own alerts to the console (`POST /api/v1/device-alerts`).
    Devices {
        #[command(subcommand)]
        verb: DevicesVerb,
    },
    /// Wire suriguard into the installed Suricata: the plugin and its eve-log output (two
    /// marked lines in suricata.yaml, the original kept), suriguard.toml with home
    /// networks proposed from this machine's interfaces and routes, then `suricata -T`
    /// and `config check`. `--dry-run` shows the changes; `--remove` undoes them.
    Setup(SetupArgs),
    /// A shell completion script on stdout: `source <(suriguardctl completion bash)`.
    Completion {
        /// bash, zsh, fish, elvish or powershell.
        shell: suriguard_cli::docs::Shell,
    },
    /// The local web console and /metrics (`[console]`; `serve passwd` makes a password
    /// hash). Runs until SIGINT/SIGTERM.
    Serve {
        #[command(subcommand)]
        verb: Option<ServeVerb>,
        /// Address and port to listen on (default: `[console] listen`, 127.0.0.1:8787).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// The plugin's stats file (default: plugin-stats.json in the state dir).
        #[arg(long)]
        stats_file: Option<PathBuf>,
        /// rulesync's state (default: rulesync-state.json in the state dir).
        #[arg(long)]
        rulesync_state: Option<PathBuf>,
    },
    /// Every counter in Prometheus' text format (what `serve` answers on /metrics; also
    /// for node_exporter's textfile collector): the plugin's stats file, the journals,
    /// rulesync's state, the store's queues.
    Metrics {
        /// The plugin's stats file (default: plugin-stats.json in the state dir).
        #[arg(long)]
        stats_file: Option<PathBuf>,
        /// rulesync's state (default: rulesync-state.json in the state dir).
        #[arg(long)]
        rulesync_state: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DevicesVerb {
    /// A device's signing secret.
    Token {
        #[command(subcommand)]
        verb: TokenVerb,
    },
}

#[derive(Subcommand)]
enum TokenVerb {
    /// Registers a device and prints its secret, once (only SHA-256 of it is stored).
    Add {
        /// 1 to 64 of A-Z a-z 0-9 . _ -
        name: String,
    },
    /// The registered devices.
    List,
    /// Forgets a device: its requests are refused from now on.
    Delete { name: String },
}

#[derive(Subcommand)]
enum ServeVerb {
    /// Reads a password (one line) on stdin and prints its Argon2id hash as the
    /// `[console]` line to paste into suriguard.toml.
    Passwd {
        /// The read-only (viewer) password instead of the admin one.
        #[arg(long)]
        viewer: bool,
    },
}

#[derive(Subcommand)]
enum ConfigVerb {
    /// Validate every section of the file and name every problem with its key; exits
    /// non-zero if there is any. Problems in the plugin's sections (state-dir, network,
    /// detect, model, decisions, enforce) stop the plugin from starting; the others only
    /// stop suriguardctl's reporting.
    Check,
}

#[derive(Subcommand)]
enum ModelVerb {
    /// Load a model with its sidecar metadata, check both against the feature
    /// extractor, and run it once on zeros.
    Check {
        /// The model file (.onnx or .tflite).
        model: PathBuf,
        /// Its metadata (default: the model's path with .meta.json).
        #[arg(long)]
        meta: Option<PathBuf>,
    },
    /// Write feature sequences and labels for training (x.npy, samples.csv,
    /// export.json), computed by the plugin's own feature code.
    Export(ExportArgs),
}

#[derive(Subcommand)]
enum HoneypotVerb {
    /// Tail Cowrie's JSON log: whoever logs in (or tries to) is decided on through the
    /// gate, journaled and enforced within a second (reason `honeypot`, with the
    /// passwords, commands and downloads as evidence). Remembers its place across
    /// restarts and log rotation. Runs until SIGINT/SIGTERM unless --once.
    Follow {
        /// Cowrie's JSON log (default: `[honeypot] cowrie-log`).
        #[arg(long, value_name = "FILE")]
        cowrie_log: Option<PathBuf>,
        /// Read the whole log once, decide, and exit (replays, tests); the saved place
        /// is neither used nor changed.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Args)]
struct SetupArgs {
    /// Suricata's configuration file (default: suricata.yaml in the configuration
    /// directory `suricata --build-info` names, /etc/suricata/ on Debian).
    #[arg(long, value_name = "FILE")]
    suricata_config: Option<PathBuf>,
    /// The Suricata program.
    #[arg(long, value_name = "PROGRAM", default_value = "suricata")]
    suricata: String,
    /// The plugin Suricata loads.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/usr/lib/suriguard/libsuriguard.so"
    )]
    plugin: PathBuf,
    /// The eve-log output suricata.yaml includes (written if missing).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/suriguard/suricata-eve.yaml"
    )]
    eve_include: PathBuf,
    /// Home network for a new suriguard.toml (repeat for more); default: the private
    /// networks connected to this machine.
    #[arg(long = "home-net", value_name = "CIDR")]
    home_nets: Vec<Cidr>,
    /// A new suriguard.toml decides and journals but enforces nothing (`dry-run = true`).
    #[arg(long)]
    observe: bool,
    /// Show what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where setup keeps the original suricata.yaml, and the state-dir of a new
    /// suriguard.toml (default: the configuration's state-dir, or /var/lib/suriguard).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Apply without asking (package scripts).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Undo setup: suricata.yaml as it was (byte for byte if unchanged since), and
    /// suriguard's nftables table removed.
    #[arg(long)]
    remove: bool,
}

#[derive(Args)]
struct ExportArgs {
    /// An eve.json with flow records ...
    #[arg(
        long,
        required_unless_present = "zeek",
        conflicts_with = "zeek",
        requires = "labels"
    )]
    eve: Option<PathBuf>,
    /// ... labelled by this JSON-lines file (from `pcapgen lab`).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Or a labelled Zeek conn.log (IoT-23), mapped onto EVE flow records.
    #[arg(long)]
    zeek: Option<PathBuf>,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Feature extractor: flow-seq-v1 (our model) or seed-v1 (the replaced model).
    #[arg(long, default_value = "flow-seq-v1", value_parser = parse_extractor)]
    extractor: suriguard_detect::model::Extractor,
    /// Flows per sequence (1 for seed-v1).
    #[arg(long, default_value_t = 8)]
    sequence_length: usize,
}

fn parse_extractor(s: &str) -> Result<suriguard_detect::model::Extractor, CtlError> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| CtlError::Extractor { text: s.to_owned() })
}

#[derive(Subcommand)]
enum AlertsVerb {
    /// Incidents in the store (alerts and decisions), oldest first.
    List {
        /// Only since: 30m, 24h, 7d, a date or an RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Only severity ≤ this (1 = most severe).
        #[arg(long, default_value_t = 255)]
        severity: u8,
        /// At most this many (the most recent).
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// Read new records first.
        #[arg(long)]
        ingest: bool,
    },
    /// Read new alert records and decisions into the store.
    Ingest {
        /// An EVE file (default: `[alerts] eve`).
        #[arg(long)]
        eve: Option<PathBuf>,
        /// A decisions journal (default: the plugin's).
        #[arg(long)]
        decisions: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum EventsVerb {
    /// Push queued incidents to MISP (events, attributes, tags, sightings, publish).
    Push {
        /// Queue again the incidents given up after max-attempts.
        #[arg(long)]
        retry_failed: bool,
        /// Read new records first.
        #[arg(long)]
        ingest: bool,
    },
    /// MISP events suriguard created or updated.
    List,
}

#[derive(Subcommand)]
enum NotifyVerb {
    /// Send a test message through every configured channel.
    Test,
    /// Deliver what is due (new incidents, digests, retries).
    Send {
        /// Send waiting digests now.
        #[arg(long)]
        flush_digest: bool,
    },
    /// Every notification: sent, suppressed, waiting for a retry, dead.
    List,
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
    /// Lift the decisions against an address or prefix (blocks, quarantines, and its
    /// rate limits of every service).
    Delete {
        #[arg(value_parser = parse_cidr)]
        target: Cidr,
    },
    /// Lift every decision.
    Flush,
    /// Why: reason, evidence against its threshold, model verdicts, example flows, for a
    /// decision id (6 characters or more) or every decision against an address.
    Explain {
        /// Decision id (or its first 6+ characters) or an IP address.
        what: String,
    },
}

#[derive(Subcommand)]
enum AllowlistVerb {
    /// Both parts: the configuration's entries and the file's, with who added them.
    List,
    /// Never block an address or prefix again: adds it to the allowlist file, refills the
    /// firewall's allow sets and lifts the decisions in force against it.
    Add {
        /// IPv4/IPv6 address or CIDR (no wider than /8, or /32 for IPv6).
        #[arg(value_parser = parse_cidr)]
        target: Cidr,
        /// Why (kept as the line's comment, with who and when).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Remove an entry of the allowlist file.
    Delete {
        #[arg(value_parser = parse_cidr)]
        target: Cidr,
    },
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
    /// Add a home network (CIDR); repeatable. Without a config, home networks are the
    /// private ranges (RFC 1918, RFC 4193).
    #[arg(long = "home-net", value_name = "CIDR", value_parser = parse_cidr)]
    home_net: Vec<Cidr>,
    /// Write the full report (decisions and counters) as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a self-contained HTML report (decisions with evidence, a timeline chart, top
    /// sources, counts per reason) to this file.
    #[arg(long)]
    html: Option<PathBuf>,
    /// The Suricata program to run (default: `suricata` on the PATH; 7.0 or 8.0).
    #[arg(long, value_name = "PROGRAM")]
    suricata: Option<PathBuf>,
    /// With --pcap: the plugin to load (default: next to this program, then /usr/lib/suriguard).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// With --pcap: the Suricata configuration (default: suricata-conf/suricata-minimal.yaml).
    #[arg(long)]
    suricata_config: Option<PathBuf>,
    /// With --pcap: a rule file to load.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Replay order: `canonical` (the same for every run of a capture) or `file` (the
    /// eve.json's own order; for one the plugin wrote, its decisions exactly).
    #[arg(long, value_enum, default_value_t = analyze::ReplayOrder::Canonical)]
    order: analyze::ReplayOrder,
}

#[derive(Args)]
struct EvaluateArgs {
    /// The labelled captures (JSON; see docs/DETECTION.md).
    #[arg(long)]
    manifest: PathBuf,
    /// Write the full evaluation as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The Suricata program to run (default: `suricata` on the PATH; 7.0 or 8.0).
    #[arg(long, value_name = "PROGRAM")]
    suricata: Option<PathBuf>,
    /// The plugin to load (default: next to this program, then /usr/lib/suriguard).
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// The Suricata configuration (default: suricata-conf/suricata-minimal.yaml).
    #[arg(long)]
    suricata_config: Option<PathBuf>,
}

fn to_json_text<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("plain data serializes") + "\n"
}

fn parse_cidr(s: &str) -> Result<Cidr, CtlError> {
    s.parse().map_err(|message| CtlError::Address {
        text: s.to_owned(),
        message,
    })
}

/// The statuses of [`ExitStatus`], as they apply to suriguardctl (the same table as
/// rulesync's).
const EXIT_HELP: &str = "Exit status:
  0  success
  1  failure (MISP, notifications, nftables, files, the store, Suricata, ...)
  2  bad command line (an unknown option, a value that does not parse)
  3  configuration file missing, unreadable or invalid, or lacking a setting the command
     needs; `config check` found problems";

/// The configuration `scope` needs; failing to load it exits with [`ExitStatus::Config`].
fn load_config(path: Option<&std::path::Path>, scope: Scope) -> Result<Config, CtlError> {
    decisions::load_config(path, scope)
}

fn main() -> ExitCode {
    if let Some(status) = suriguard_cli::docs::generate_if_asked(Cli::command, "1") {
        return ExitCode::from(status as u8);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Usage.into()
            } else {
                ExitStatus::Ok.into()
            };
        }
    };
    suriguard_cli::init_tracing(cli.quiet, cli.verbose);
    match run(cli) {
        Ok(()) => ExitStatus::Ok.into(),
        Err(e) => {
            eprintln!("suriguardctl: error: {}", suriguard_cli::chain(&e));
            e.exit_code().into()
        }
    }
}

fn run(cli: Cli) -> Result<(), CtlError> {
    let (fmt, config) = (cli.output, cli.config.as_deref());
    let out = match cli.noun {
        Noun::Config {
            verb: ConfigVerb::Check,
        } => config_check(config, fmt)?,
        Noun::Stats {
            verb: StatsVerb::Show { file },
        } => stats_show(&file, fmt)?,
        Noun::Allowlist { verb } => allowlist_verb(verb, config, fmt)?,
        Noun::Decisions { verb } => decisions_verb(verb, config, fmt)?,
        Noun::Alerts { verb } => alerts_verb(verb, config, fmt)?,
        Noun::Events { verb } => events_verb(verb, config, fmt)?,
        Noun::Mitigate { id, offline } => mitigate(&id, offline, config, fmt)?,
        Noun::Notify { verb } => notify_verb(verb, config, fmt)?,
        Noun::Run { follow, interval } => run_loop(follow, interval, config, fmt)?,
        Noun::Firewall { verb } => firewall(verb, config, fmt)?,
        Noun::Honeypot {
            verb: HoneypotVerb::Follow { cowrie_log, once },
        } => honeypot_follow(cowrie_log, once, config, fmt)?,
        Noun::Devices {
            verb: DevicesVerb::Token { verb },
        } => device_tokens(verb, config, fmt)?,
        Noun::Setup(args) => setup_verb(args, config, fmt)?,
        Noun::Completion { shell } => {
            let mut out = Vec::new();
            suriguard_cli::docs::completion(shell, Cli::command(), &mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
        Noun::Serve {
            verb: Some(ServeVerb::Passwd { viewer }),
            ..
        } => serve::passwd(viewer)?,
        Noun::Serve {
            verb: None,
            listen,
            stats_file,
            rulesync_state,
        } => {
            let cfg = load_config(config, Scope::All)?;
            let src =
                metrics::MetricSources::of(&cfg, stats_file.as_deref(), rulesync_state.as_deref());
            let listen = listen.unwrap_or(cfg.console.listen);
            serve::run(serve::App::new(cfg, src)?, listen)?;
            String::new()
        }
        Noun::Metrics {
            stats_file,
            rulesync_state,
        } => {
            let cfg = load_config(config, Scope::All)?;
            let src =
                metrics::MetricSources::of(&cfg, stats_file.as_deref(), rulesync_state.as_deref());
            metrics::render(&src, suriguard_enforce::now_secs())
        }
        Noun::Model {
            verb: ModelVerb::Check { model, meta },
        } => model_check(model, meta, fmt)?,
        Noun::Model {
            verb: ModelVerb::Export(args),
        } => model_export(args, config, fmt)?,
        Noun::Analyze(a) => analyze_verb(a, config, fmt)?,
        Noun::Evaluate(a) => evaluate_run(config, fmt, a)?,
    };
    print(&out)
}

/// Writes `text` to standard output.
fn print(text: &str) -> Result<(), CtlError> {
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|source| CtlError::Stdout { source })
}

/// `config check`: every problem of the file with its key; fails with [`ExitStatus::Config`]
/// after printing them if there is any.
fn config_check(config: Option<&Path>, fmt: Format) -> Result<String, CtlError> {
    let path = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(suriguard_config::DEFAULT_PATH));
    let problems = config::check(&path);
    let text = match fmt {
        Format::Json => to_json_text(&serde_json::json!({
            "file": path.display().to_string(),
            "ok": problems.is_empty(),
            "problems": problems,
        })),
        Format::Table if problems.is_empty() => format!("{}: ok\n", path.display()),
        Format::Table => {
            let mut s = String::new();
            for p in &problems {
                s.push_str(&format!(
                    "{}: [{}] {}{}\n",
                    path.display(),
                    p.key,
                    p.message,
                    if p.stops_plugin {
                        " (the plugin refuses to start)"
                    } else {
                        " (suriguardctl only; the plugin runs)"
                    }
                ));
            }
            s
        }
    };
    if !problems.is_empty() {
        print(&text)?;
        return Err(CtlError::ConfigProblems {
            count: problems.len(),
            path,
        });
    }
    Ok(text)
}

/// `honeypot follow`: with `-o json`, one JSON decision per line as they happen (and for
/// `--once`, the whole report at the end); a table line per decision otherwise.
fn honeypot_follow(
    cowrie_log: Option<PathBuf>,
    once: bool,
    config: Option<&Path>,
    fmt: Format,
) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::All)?;
    let log = cowrie_log.unwrap_or_else(|| cfg.honeypot.cowrie_log.clone());
    let mut each = |d: &suriguard_decision::Decision, outcome: &str| {
        if once {
            return;
        }
        let line = match fmt {
            Format::Json => serde_json::to_string(d).unwrap_or_default() + "\n",
            Format::Table => format!("{}  {}  ({outcome})\n", d.time, d.summary),
        };
        let _ = print(&line);
    };
    let rep = honeypot::follow(&cfg, &log, once, &mut each)?;
    Ok(match fmt {
        Format::Json => to_json_text(&rep),
        Format::Table => {
            let mut s = String::new();
            for (d, o) in rep.decisions.iter().zip(&rep.outcomes) {
                s.push_str(&format!("{}  {}  ({o})\n", d.time, d.summary));
            }
            s.push_str(&format!(
                "{}: {} lines, {} skipped, {} decisions, {} refused by the gate{}\n",
                rep.log.display(),
                rep.lines,
                rep.skipped,
                rep.decisions.len(),
                rep.refused,
                rep.first_error
                    .as_deref()
                    .map(|e| format!(" (first skipped: {e})"))
                    .unwrap_or_default()
            ));
            s
        }
    })
}

/// `setup` and `setup --remove`.
fn setup_verb(a: SetupArgs, config: Option<&Path>, fmt: Format) -> Result<String, CtlError> {
    let config = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(suriguard_config::DEFAULT_PATH));
    let state_dir = a.state_dir.clone().unwrap_or_else(|| {
        suriguard_config::ConfigFile::load(&config)
            .ok()
            .and_then(|f| f.state_dir().ok())
            .unwrap_or_else(|| PathBuf::from(suriguard_config::DEFAULT_STATE_DIR))
    });
    let suricata_config = a
        .suricata_config
        .unwrap_or_else(|| setup::suricata_config_dir(&a.suricata).join("suricata.yaml"));
    let o = setup::Options {
        suricata: a.suricata,
        suricata_config,
        plugin: a.plugin,
        snippet: a.eve_include,
        config: config.clone(),
        state_dir,
        home_nets: a.home_nets,
        observe: a.observe,
        dry_run: a.dry_run,
        yes: a.yes,
    };
    if a.remove {
        let r = setup::remove(&o, || {
            if !config.exists() {
                return Ok(());
            }
            let cfg = load_config(Some(&config), Scope::All)?;
            decisions::teardown(&cfg)
        })?;
        return Ok(match fmt {
            Format::Json => to_json_text(&r),
            Format::Table => setup::render_removal(&r),
        });
    }
    let r = setup::setup(&o)?;
    Ok(match fmt {
        Format::Json => to_json_text(&r),
        Format::Table => setup::render(&r),
    })
}

/// `stats show`: the counters the plugin wrote when Suricata stopped.
fn stats_show(file: &Path, fmt: Format) -> Result<String, CtlError> {
    let text = std::fs::read_to_string(file).map_err(|source| CtlError::StatsFile {
        path: file.to_owned(),
        source,
    })?;
    let stats: PluginStats = serde_json::from_str(&text).map_err(|source| CtlError::NotStats {
        path: file.to_owned(),
        source,
    })?;
    Ok(match fmt {
        Format::Json => to_json_text(&stats),
        Format::Table => stats_table(&stats),
    })
}

/// `decisions <verb>`: loads the plugin's sections, then runs the verb.
fn allowlist_verb(
    verb: AllowlistVerb,
    config: Option<&Path>,
    fmt: Format,
) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::Plugin)?;
    match verb {
        AllowlistVerb::List => {
            let (entries, skipped) = allowlist::list(&cfg)?;
            for s in skipped {
                tracing::warn!("{}: {s}; skipped", cfg.allowlist_file().display());
            }
            Ok(match fmt {
                Format::Json => to_json_text(&entries),
                Format::Table => {
                    let mut out = format!("{:<43} {:<7} NOTE\n", "TARGET", "SOURCE");
                    for e in &entries {
                        out.push_str(&format!(
                            "{:<43} {:<7} {}\n",
                            e.target.to_string(),
                            e.source,
                            e.note
                        ));
                    }
                    out
                }
            })
        }
        AllowlistVerb::Add { target, note } => {
            let a = allowlist::add(&cfg, target, &note, "suriguardctl")?;
            Ok(match fmt {
                Format::Json => to_json_text(&a),
                Format::Table => {
                    let mut s = if a.added {
                        format!("{} added to {}\n", a.target, a.file.display())
                    } else {
                        format!("{} was already in {}\n", a.target, a.file.display())
                    };
                    for l in &a.lifted {
                        s.push_str(&format!(
                            "lifted {} {}\n",
                            decisions::action_text(l.action, l.limit),
                            l.target
                        ));
                    }
                    s
                }
            })
        }
        AllowlistVerb::Delete { target } => {
            allowlist::delete(&cfg, target, "suriguardctl")?;
            Ok(match fmt {
                Format::Json => to_json_text(&serde_json::json!({ "deleted": target })),
                Format::Table => {
                    format!("{target} removed from {}\n", cfg.allowlist_file().display())
                }
            })
        }
    }
}

fn decisions_verb(
    verb: DecisionsVerb,
    config: Option<&Path>,
    fmt: Format,
) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::Plugin)?;
    match verb {
        DecisionsVerb::List => decisions_list(&cfg, fmt),
        DecisionsVerb::Add {
            target,
            ttl,
            reason,
            quarantine,
        } => decisions_add(&cfg, fmt, target, ttl, &reason, quarantine),
        DecisionsVerb::Delete { target } => decisions_delete(&cfg, fmt, target),
        DecisionsVerb::Flush => decisions_flush(&cfg, fmt),
        DecisionsVerb::Explain { what } => {
            let found = decisions::find(&cfg, &what)?;
            if found.is_empty() {
                return Err(CtlError::NoSuchDecision {
                    what,
                    journal: cfg.decisions_log(),
                });
            }
            Ok(match fmt {
                Format::Json => to_json_text(&found),
                Format::Table => found
                    .iter()
                    .map(decisions::explain)
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
        }
    }
}

fn decisions_list(cfg: &Config, fmt: Format) -> Result<String, CtlError> {
    let (rows, warning) = decisions::list(cfg)?;
    if let Some(w) = warning {
        tracing::warn!("{w}");
    }
    Ok(match fmt {
        Format::Json => to_json_text(&rows),
        Format::Table => decisions::table(&rows),
    })
}

fn decisions_add(
    cfg: &Config,
    fmt: Format,
    target: Cidr,
    ttl: u64,
    reason: &str,
    quarantine: bool,
) -> Result<String, CtlError> {
    let kind = if quarantine {
        suriguard_enforce::SetKind::Quarantine
    } else {
        suriguard_enforce::SetKind::Block
    };
    let a = decisions::add(cfg, target, kind, ttl, reason)?;
    Ok(match fmt {
        Format::Json => to_json_text(&a),
        Format::Table => {
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
    })
}

fn decisions_delete(cfg: &Config, fmt: Format, target: Cidr) -> Result<String, CtlError> {
    let lifted = decisions::delete(cfg, target)?;
    let names: Vec<String> = lifted
        .iter()
        .map(|&(k, l)| decisions::action_text(k, l))
        .collect();
    Ok(match fmt {
        Format::Json => to_json_text(&serde_json::json!({"target": target, "deleted": names})),
        Format::Table => format!("deleted {} ({})\n", target, names.join(", ")),
    })
}

fn decisions_flush(cfg: &Config, fmt: Format) -> Result<String, CtlError> {
    decisions::flush(cfg)?;
    Ok(match fmt {
        Format::Json => to_json_text(&serde_json::json!({"flushed": true})),
        Format::Table => "flushed every decision\n".into(),
    })
}

/// `alerts <verb>`: loads every section and opens the store, then runs the verb.
fn alerts_verb(verb: AlertsVerb, config: Option<&Path>, fmt: Format) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::All)?;
    let store = ops::open(&cfg)?;
    match verb {
        AlertsVerb::List {
            since,
            severity,
            limit,
            ingest,
        } => alerts_list(&store, &cfg, fmt, since.as_deref(), severity, limit, ingest),
        AlertsVerb::Ingest { eve, decisions } => {
            alerts_ingest(&store, &cfg, fmt, eve.as_deref(), decisions.as_deref())
        }
    }
}

fn alerts_list(
    store: &store::Store,
    cfg: &Config,
    fmt: Format,
    since: Option<&str>,
    severity: u8,
    limit: usize,
    ingest: bool,
) -> Result<String, CtlError> {
    if ingest {
        ops::ingest(store, cfg, None, None)?;
    }
    let since = since.map(ops::parse_since).transpose()?.unwrap_or(i64::MIN);
    let rows = store.list(since, severity, limit)?;
    Ok(match fmt {
        Format::Json => to_json_text(&rows),
        Format::Table => ops::alerts_table(&rows),
    })
}

fn alerts_ingest(
    store: &store::Store,
    cfg: &Config,
    fmt: Format,
    eve: Option<&Path>,
    decisions: Option<&Path>,
) -> Result<String, CtlError> {
    let reps = ops::ingest(store, cfg, eve, decisions)?;
    Ok(match fmt {
        Format::Json => to_json_text(&reps),
        Format::Table => ops::ingest_summary(&reps),
    })
}

/// `events <verb>`: loads every section and opens the store, then runs the verb.
fn events_verb(verb: EventsVerb, config: Option<&Path>, fmt: Format) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::All)?;
    let store = ops::open(&cfg)?;
    match verb {
        EventsVerb::Push {
            retry_failed,
            ingest,
        } => events_push(&store, &cfg, fmt, retry_failed, ingest),
        EventsVerb::List => events_list(&store, fmt),
    }
}

fn events_push(
    store: &store::Store,
    cfg: &Config,
    fmt: Format,
    retry_failed: bool,
    ingest: bool,
) -> Result<String, CtlError> {
    if ingest {
        ops::ingest(store, cfg, None, None)?;
    }
    if cfg.misp.url.is_none() {
        return Err(CtlError::Unset { key: "[misp] url" });
    }
    let rep = misp::push(store, &cfg.misp, &cfg.network_model(), retry_failed)?;
    let text = match fmt {
        Format::Json => to_json_text(&rep),
        Format::Table => ops::misp_summary(&rep),
    };
    if let Some(e) = &rep.error {
        print(&text)?;
        return Err(CtlError::MispPush { message: e.clone() });
    }
    Ok(text)
}

fn events_list(store: &store::Store, fmt: Format) -> Result<String, CtlError> {
    let rows = misp::list(store)?;
    Ok(match fmt {
        Format::Json => to_json_text(&rows),
        Format::Table => ops::events_table(&rows),
    })
}

/// `mitigate ID`: advice against one incident.
fn mitigate(
    id: &str,
    offline: bool,
    config: Option<&Path>,
    fmt: Format,
) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::All)?;
    let store = ops::open(&cfg)?;
    let (inc, advice) = ops::mitigate(&store, &cfg, id, offline)?;
    if let Some(why) = &advice.fallback_reason {
        tracing::warn!("{why}; falling back to the built-in knowledge base");
    }
    Ok(match fmt {
        Format::Json => to_json_text(&serde_json::json!({"incident": inc.key, "advice": advice})),
        Format::Table => ops::advice_text(&inc, &advice),
    })
}

/// `notify <verb>`: loads every section, then runs the verb.
fn notify_verb(verb: NotifyVerb, config: Option<&Path>, fmt: Format) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::All)?;
    match verb {
        NotifyVerb::Test => notify_test(&cfg, fmt),
        NotifyVerb::Send { flush_digest } => notify_send(&cfg, fmt, flush_digest),
        NotifyVerb::List => notify_list(&cfg, fmt),
    }
}

fn notify_test(cfg: &Config, fmt: Format) -> Result<String, CtlError> {
    let channels = cfg.notify.channels();
    if channels.is_empty() {
        return Err(CtlError::NoChannel);
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into());
    let msg = suriguard_report::notify::render_test(&host);
    let mut results = Vec::new();
    for c in channels {
        let r = notify::send(&cfg.notify, c, &msg).map_err(|e| suriguard_cli::chain(&e));
        results.push(serde_json::json!({"channel": c, "ok": r.is_ok(), "error": r.err()}));
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r["ok"] == false)
        .map(|r| r["channel"].as_str().unwrap_or_default().to_owned())
        .collect();
    let text = match fmt {
        Format::Json => to_json_text(&results),
        Format::Table => results
            .iter()
            .map(|r| match r["error"].as_str() {
                None => format!("{}: sent\n", r["channel"].as_str().unwrap_or("")),
                Some(e) => format!("{}: FAILED: {e}\n", r["channel"].as_str().unwrap_or("")),
            })
            .collect(),
    };
    if !failed.is_empty() {
        print(&text)?;
        return Err(CtlError::ChannelsFailed { channels: failed });
    }
    Ok(text)
}

fn notify_send(cfg: &Config, fmt: Format, flush_digest: bool) -> Result<String, CtlError> {
    let store = ops::open(cfg)?;
    let net = cfg.network_model();
    let rep = notify::deliver(
        &store,
        &cfg.notify,
        &cfg.mitigate,
        &net,
        store::now_us(),
        flush_digest,
    )?;
    Ok(match fmt {
        Format::Json => to_json_text(&rep),
        Format::Table => ops::notify_summary(&rep),
    })
}

fn notify_list(cfg: &Config, fmt: Format) -> Result<String, CtlError> {
    let store = ops::open(cfg)?;
    let rows = notify::list(&store)?;
    Ok(match fmt {
        Format::Json => to_json_text(&rows),
        Format::Table => {
            let mut s = format!(
                "{:<5} {:<9} {:<9} {:<11} {:>3}  {}\n",
                "ID", "CHANNEL", "KIND", "STATE", "TRY", "SUBJECT / ERROR"
            );
            for r in rows {
                s.push_str(&format!(
                    "{:<5} {:<9} {:<9} {:<11} {:>3}  {}{}\n",
                    r.id,
                    r.channel,
                    r.kind,
                    r.state,
                    r.attempts,
                    r.subject.as_deref().unwrap_or("-"),
                    r.last_error.map(|e| format!("  [{e}]")).unwrap_or_default()
                ));
            }
            s
        }
    })
}

/// `run [--follow]`: ingest, push to MISP, notify; once, or every `interval` seconds
/// (each round's report printed as it ends).
fn run_loop(
    follow: bool,
    interval: f64,
    config: Option<&Path>,
    fmt: Format,
) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::All)?;
    let store = ops::open(&cfg)?;
    loop {
        let rep = ops::run_once(&store, &cfg)?;
        let text = match fmt {
            Format::Json => {
                serde_json::to_string(&rep).map_err(CtlError::encode("the run report"))? + "\n"
            }
            Format::Table => ops::run_summary(&rep),
        };
        if !follow {
            return Ok(text);
        }
        print(&text)?;
        std::thread::sleep(std::time::Duration::from_secs_f64(interval.max(0.5)));
    }
}

/// `firewall setup|restore|teardown`.
fn firewall(verb: FirewallVerb, config: Option<&Path>, fmt: Format) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::Plugin)?;
    let (what, n) = match verb {
        FirewallVerb::Setup => decisions::setup(&cfg).map(|()| ("set up", None))?,
        FirewallVerb::Restore => decisions::restore(&cfg).map(|n| ("restored", Some(n)))?,
        FirewallVerb::Teardown => decisions::teardown(&cfg).map(|()| ("removed", None))?,
    };
    Ok(match fmt {
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
    })
}

/// `model check MODEL [--meta FILE]`.
fn model_check(model: PathBuf, meta: Option<PathBuf>, fmt: Format) -> Result<String, CtlError> {
    let meta = meta.unwrap_or_else(|| suriguard_detect::model::meta::default_meta_path(&model));
    let cfg = suriguard_detect::model::ModelConfig {
        path: Some(model),
        meta: Some(meta),
        ..Default::default()
    };
    let stage =
        suriguard_detect::model::stage::MlStage::load(&cfg)?.ok_or_else(|| CtlError::NoModel {
            path: cfg.path.clone().unwrap_or_default(),
        })?;
    Ok(match fmt {
        Format::Json => to_json_text(&serde_json::json!({
            "ok": true,
            "model": stage.describe(),
        })),
        Format::Table => format!("ok: {}\n", stage.describe()),
    })
}

/// `model export`: training data computed by the plugin's own feature code.
fn model_export(args: ExportArgs, config: Option<&Path>, fmt: Format) -> Result<String, CtlError> {
    let ExportArgs {
        eve,
        labels,
        zeek,
        out,
        extractor,
        sequence_length,
    } = args;
    let cfg = match config {
        Some(p) => Config::load(Some(p), Scope::Plugin)?,
        None => Config::defaults(),
    };
    let t = if extractor == suriguard_detect::model::Extractor::SeedV1 {
        1
    } else {
        sequence_length.clamp(1, suriguard_detect::model::meta::MAX_SEQUENCE)
    };
    let source = match (&eve, &zeek) {
        (Some(e), _) => dataset::Source::Eve {
            path: e,
            labels: dataset::Labels::read(
                labels
                    .as_deref()
                    .ok_or(CtlError::Args("--eve needs --labels"))?,
            )?,
        },
        (None, Some(z)) => dataset::Source::Zeek { path: z },
        (None, None) => return Err(CtlError::Args("give --eve and --labels, or --zeek")),
    };
    let summary = dataset::export(source, &cfg, extractor, t, &out)?;
    Ok(match fmt {
        Format::Json => to_json_text(&summary),
        Format::Table => format!(
            "{}: {} samples of {} × {} ({}) by class {:?}; {} flows, {} unlabelled, {} unreadable, {} Zeek rows without packets\n",
            out.display(),
            summary.samples,
            t,
            summary.features.len(),
            summary.extractor.as_str(),
            summary.by_class,
            summary.flows,
            summary.unlabelled_flows,
            summary.unreadable_lines,
            summary.zeek_rows_without_packets
        ),
    })
}

/// `devices token add|list|delete`.
fn device_tokens(verb: TokenVerb, config: Option<&Path>, fmt: Format) -> Result<String, CtlError> {
    let cfg = load_config(config, Scope::All)?;
    let store = ops::open(&cfg)?;
    match verb {
        TokenVerb::Add { name } => {
            if !suriguard_report::device::valid_name(&name) {
                return Err(CtlError::Args(
                    "a device name is 1 to 64 of A-Z a-z 0-9 . _ -",
                ));
            }
            let secret = suriguard_report::console::random_token();
            let key = suriguard_report::device::key_of(&secret);
            if !store.add_device(&name, &key, store::now_us())? {
                return Err(CtlError::Args(
                    "a device of that name exists (devices token delete NAME first)",
                ));
            }
            Ok(match fmt {
                Format::Json => to_json_text(&serde_json::json!({"device": name, "secret": secret})),
                Format::Table => format!(
                    "device {name} registered; its secret (shown once, keep it on the device):\n{secret}\n"
                ),
            })
        }
        TokenVerb::List => {
            let devices = store.devices()?;
            Ok(match fmt {
                Format::Json => to_json_text(
                    &devices
                        .iter()
                        .map(|(n, t)| serde_json::json!({"device": n, "added_us": t}))
                        .collect::<Vec<_>>(),
                ),
                Format::Table => devices.iter().map(|(n, _)| format!("{n}\n")).collect(),
            })
        }
        TokenVerb::Delete { name } => {
            if !store.delete_device(&name)? {
                return Err(CtlError::Args("no device of that name"));
            }
            Ok(format!("device {name} deleted\n"))
        }
    }
}

/// `analyze --eve FILE | --pcap FILE`: the decisions the engine would make.
fn analyze_verb(a: AnalyzeArgs, config: Option<&Path>, fmt: Format) -> Result<String, CtlError> {
    let cfg = analyze::effective_config(config, &a.home_net)?;
    let report = match (&a.input.eve, &a.input.pcap) {
        (Some(eve), _) => analyze::eve_file(eve, &cfg, a.order)?,
        (None, Some(pcap)) => {
            let setup =
                analyze::SuricataSetup::locate(a.suricata, a.plugin, a.suricata_config, a.rules)?;
            analyze::pcap_file(pcap, &cfg, &setup, a.order)?
        }
        (None, None) => unreachable!("clap requires one input"),
    };
    if let Some(path) = &a.out {
        let json = serde_json::to_vec_pretty(&report).map_err(CtlError::encode("the report"))?;
        std::fs::write(path, json).map_err(CtlError::file("write", path))?;
    }
    if let Some(path) = &a.html {
        std::fs::write(path, html::analyze_report(&report))
            .map_err(CtlError::file("write", path))?;
    }
    Ok(match fmt {
        Format::Json => {
            serde_json::to_string_pretty(&report.decisions)
                .map_err(CtlError::encode("the decisions"))?
                + "\n"
        }
        Format::Table => analyze::table(&report),
    })
}

/// `evaluate`: every capture of the manifest through Suricata and the plugin, scored.
fn evaluate_run(
    config: Option<&std::path::Path>,
    output: Format,
    a: EvaluateArgs,
) -> Result<String, CtlError> {
    let cfg = analyze::effective_config(config, &[])?;
    let setup = analyze::SuricataSetup::locate(a.suricata, a.plugin, a.suricata_config, None)?;
    let e = evaluate::run(&a.manifest, &cfg, &setup)?;
    if let Some(path) = &a.out {
        let json = serde_json::to_vec_pretty(&e).map_err(CtlError::encode("the evaluation"))?;
        std::fs::write(path, json).map_err(CtlError::file("write", path))?;
    }
    Ok(match output {
        Format::Json => to_json_text(&e),
        Format::Table => evaluate::table(&e),
    })
}

fn stats_table(s: &PluginStats) -> String {
    let w = &s.write;
    let i = &s.ingest;
    let mut rows: Vec<(String, u64)> = vec![("records received".into(), w.calls)];
    if let Some(e) = &s.eve_file {
        rows.push((format!("  written to {}", e.path.display()), e.written));
        rows.push((
            "    dropped (writer queue full)".into(),
            e.dropped_queue_full,
        ));
        rows.push(("    lost to write errors".into(), e.lost));
        rows.push(("    write errors".into(), e.errors));
        rows.push(("    reopened (rotation)".into(), e.reopened));
    }
    rows.extend([
        (
            "  passed over (types detection does not read)".into(),
            s.skipped.total(),
        ),
        ("  queued for the worker".into(), w.queued),
        ("  dropped (queue full)".into(), w.dropped_queue_full),
        ("  rejected: invalid".into(), w.rejected_invalid),
        ("  rejected: empty".into(), w.rejected_empty),
        ("  rejected: oversized".into(), w.rejected_oversized),
        ("records parsed".into(), i.parsed.total()),
    ]);
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
        rows.push((
            "  rate limits made alerts (protected or over a cap)".into(),
            d.gate.downgraded,
        ));
    }
    if let Some(m) = &i.model {
        rows.push((format!("model {}: samples", m.model), m.samples));
        rows.push(("  model runs".into(), m.batches));
        rows.push(("  malicious verdicts".into(), m.malicious_verdicts));
        rows.push(("  decisions".into(), m.decisions));
        rows.push(("  failed runs".into(), m.run_errors));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// suriguardctl's statuses are the shared table's ([`ExitStatus`], pinned in
    /// suriguard-cli), each documented in `--help`; clap's usage status is its `Usage`.
    #[test]
    fn exit_codes_are_the_shared_table() {
        let e = Cli::try_parse_from(["suriguardctl", "no-such-noun"])
            .err()
            .expect("unknown subcommand");
        assert_eq!(e.exit_code(), i32::from(ExitStatus::Usage.code()));
        // A value parser's error is a usage error too, with its message.
        let e = Cli::try_parse_from(["suriguardctl", "decisions", "add", "10.0.0.300"])
            .err()
            .expect("bad address");
        assert_eq!(e.exit_code(), i32::from(ExitStatus::Usage.code()));
        assert!(e.to_string().contains("is not an IP address"), "{e}");
        for status in ExitStatus::ALL {
            assert!(
                EXIT_HELP.contains(&format!("  {}  ", status.code())),
                "status {status:?} documented"
            );
        }
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit status:"), "{help}");
    }

    #[test]
    fn config_failures_exit_3_others_1() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "this is = = not toml").unwrap();
        let e = load_config(Some(&bad), Scope::All).expect_err("bad file");
        assert_eq!(e.exit_code(), ExitStatus::Config);
        let missing = dir.path().join("missing.toml");
        let e = load_config(Some(&missing), Scope::All).expect_err("no file");
        assert_eq!(e.exit_code(), ExitStatus::Config);
        assert!(e.to_string().contains("missing.toml"), "{e}");
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
        let e = CtlError::Unset { key: "[misp] url" };
        assert_eq!(e.exit_code(), ExitStatus::Config);
        let e = CtlError::NoDecision {
            target: "192.0.2.1".parse().unwrap(),
        };
        assert_eq!(e.exit_code(), ExitStatus::Failure);
        let e = ops::parse_since("yesterday-ish").unwrap_err();
        assert_eq!(e.exit_code(), ExitStatus::Usage);
    }

    /// A missing input names the file and keeps the system's reason as the cause.
    #[test]
    fn missing_inputs_name_the_file_and_the_cause() {
        let missing = std::path::Path::new("/nonexistent/suriguard/eve.json");
        let e = analyze::eve_file(
            missing,
            &Config::defaults(),
            analyze::ReplayOrder::Canonical,
        )
        .unwrap_err();
        assert!(
            matches!(&e, CtlError::File { path, .. } if path == missing),
            "{e:?}"
        );
        let text = suriguard_cli::chain(&e);
        assert!(
            text.contains("/nonexistent/suriguard/eve.json") && text.contains("No such file"),
            "{text}"
        );
        let e = stats_show(missing, Format::Table).unwrap_err();
        assert!(e.to_string().contains("stats-file"), "{e}");
    }
}
