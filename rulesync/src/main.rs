//! rulesync: MISP and threat feeds compiled into Suricata datasets and rules.
//!
//! `rulesync run` pulls every configured source, normalises and deduplicates what they
//! offer, compiles datasets and a handful of rules, validates them with `suricata -T`,
//! swaps them in atomically and tells Suricata over its unix socket. See
//! `docs/RULESYNC.md`.
//!
//! Results (tables, `-o json`) go to stdout; diagnostics go to stderr through
//! `tracing`.

mod apply;
mod config;
mod error;
mod feeds;
mod http;
mod misp;
mod pull;

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{ArgAction, CommandFactory, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use suriguard_cli::ExitStatus;
use suriguard_intel::compile::{CompileOptions, INDEX_FILE, RULES_FILE};
use suriguard_intel::{trace, Compiled, Kind, Normalizer, Store, Warninglists};

use crate::apply::Generations;
use crate::config::Config;
use crate::error::SyncError;

/// The statuses of [`ExitStatus`], as they apply to rulesync (the same table as
/// suriguardctl's).
const EXIT_HELP: &str = "\
Exit status:
  0  success (lookup: the value is an indicator in force)
  1  failure: nothing applied, an I/O or state error, or another run holds the lock
  1  partial: some sources failed; their previous indicators were kept
  1  lookup: the value is not an indicator in force
  2  bad command line
  3  configuration file missing, unreadable or invalid

Logging: -v (debug), -vv (trace), -q (errors only); RUST_LOG overrides.";

/// Compile threat intelligence (MISP, feeds, STIX, OpenIOC, Cowrie) into Suricata datasets.
#[derive(Parser)]
#[command(name = "rulesync", version, about, after_help = EXIT_HELP)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        global = true,
        default_value = "/etc/suriguard/rulesync.toml"
    )]
    config: PathBuf,
    /// Output format.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// More diagnostics on stderr: -v debug, -vv trace.
    #[arg(long, short, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    verbose: u8,
    /// Errors only on stderr.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Pull every source, compile, validate with `suricata -T`, swap and reload.
    Run {
        /// Pull and compile, print what would change, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Per source: last success, counts, rejects, last error.
    Status,
    /// Where an indicator came from (sources, MISP events and attributes).
    Lookup {
        /// An address, domain, URL (host/path) or hash, as it appears in an alert.
        #[arg(required_unless_present = "eve")]
        value: Option<String>,
        /// Instead: every alert of a rulesync rule in this EVE file, traced to the
        /// indicators and MISP events behind it.
        #[arg(long, conflicts_with = "value")]
        eve: Option<PathBuf>,
    },
    /// MISP's default feed list: what MISP users subscribe to, as rulesync sources.
    Feeds {
        #[command(subcommand)]
        command: FeedsCommand,
    },
}

#[derive(Subcommand)]
enum FeedsCommand {
    /// Every feed of the list: name, format, rulesync source type, URL.
    List {
        /// MISP's `feed-metadata/defaults.json` [default: $SURIGUARD_MISP_FEEDS, else
        /// /usr/share/suriguard/misp-feed-metadata-defaults.json].
        #[arg(long)]
        from: Option<PathBuf>,
    },
    /// Writes the `[[source]]` table for one feed (its exact name, or a part only it
    /// has). Nothing is fetched: rulesync pulls it on its next run.
    Enable {
        name: String,
        #[arg(long)]
        from: Option<PathBuf>,
        /// Append the table to this file (your rulesync.toml) instead of printing it.
        #[arg(long)]
        to: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    if let Some(status) = suriguard_cli::docs::generate_if_asked(Cli::command, "1") {
        return ExitCode::from(status as u8);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Ok
            }
            .into();
        }
    };
    suriguard_cli::init_tracing(cli.quiet, cli.verbose);
    // The feed list needs no configuration.
    if let Command::Feeds { command } = &cli.command {
        return match feeds_command(command, cli.output) {
            Ok(s) => s.into(),
            Err(e) => {
                tracing::error!("{}", suriguard_cli::chain(&e));
                e.exit_code().into()
            }
        };
    }
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("{}", suriguard_cli::chain(&e));
            return e.exit_code().into();
        }
    };
    let r = match cli.command {
        Command::Run { dry_run } => run(&cfg, dry_run, cli.output),
        Command::Status => status(&cfg, cli.output),
        Command::Lookup { value: Some(v), .. } => lookup(&cfg, &v, cli.output),
        Command::Lookup { eve: Some(f), .. } => lookup_alerts(&cfg, &f, cli.output),
        Command::Lookup { .. } => unreachable!("clap requires a value or --eve"),
        Command::Feeds { .. } => unreachable!("handled before the configuration is read"),
    };
    match r {
        Ok(status) => status.into(),
        Err(e) => {
            tracing::error!("{}", suriguard_cli::chain(&e));
            e.exit_code().into()
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn state_path(cfg: &Config) -> PathBuf {
    cfg.state_dir.join("rulesync-state.json")
}

fn load_store(cfg: &Config) -> Result<Store, SyncError> {
    let p = state_path(cfg);
    Store::load(&p).map_err(SyncError::state(&p))
}

fn normalizer(cfg: &Config) -> Result<Normalizer, SyncError> {
    let mut w = Warninglists::builtin();
    for p in &cfg.warninglists {
        w.load_misp(p).map_err(|source| SyncError::Warninglist {
            path: p.clone(),
            source,
        })?;
    }
    let mut nets = Vec::new();
    let mut hosts = Vec::new();
    for a in &cfg.allowlist {
        match a.parse() {
            Ok(c) => nets.push(c),
            Err(_) => hosts.push(a.clone()),
        }
    }
    w.add_prefixes("allowlist", &nets);
    w.add_hostnames("allowlist", &hosts);
    Ok(Normalizer {
        min_prefix_v4: cfg.min_prefix_v4,
        min_prefix_v6: cfg.min_prefix_v6,
        warninglists: w,
    })
}

#[derive(Serialize)]
struct SourceReport {
    name: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// `full` or `incremental` (MISP), `complete` for documents.
    pull: &'static str,
    offered: u64,
    accepted: u64,
    rejected: u64,
    rejects: BTreeMap<String, u64>,
    expired: usize,
}

#[derive(Serialize)]
struct SetChange {
    set: &'static str,
    entries: usize,
    added: usize,
    removed: usize,
}

#[derive(Serialize)]
struct RunReport {
    dry_run: bool,
    sources: Vec<SourceReport>,
    indicators: usize,
    by_kind: BTreeMap<String, usize>,
    changes: Vec<SetChange>,
    rules_changed: bool,
    /// `unchanged`, `dry-run`, `swapped`, `live`, `reloaded`, `live-and-reloaded`.
    applied: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<PathBuf>,
    /// Milliseconds per phase: pull (read, normalise, merge), compile (sets, diff),
    /// write, validate, apply (swap, socket), save (the store).
    timings_ms: Vec<(&'static str, u64)>,
}

/// Wall-clock time per phase of a run.
struct Laps {
    mark: std::time::Instant,
    laps: Vec<(&'static str, u64)>,
}

impl Laps {
    fn new() -> Laps {
        Laps {
            mark: std::time::Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.laps.push((name, (now - self.mark).as_millis() as u64));
        self.mark = now;
    }
}

fn progress_bar(name: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}: {human_pos}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.set_message(format!("pulling {name}"));
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// One run at a time: a timer and a hand-started run must not interleave. The lock
/// lasts as long as the returned file.
fn lock(cfg: &Config) -> Result<std::fs::File, SyncError> {
    std::fs::create_dir_all(&cfg.state_dir).map_err(SyncError::io("create", &cfg.state_dir))?;
    let path = cfg.state_dir.join("rulesync.lock");
    let lock = std::fs::File::create(&path).map_err(SyncError::io("create", &path))?;
    lock.try_lock().map_err(|_| SyncError::Locked { path })?;
    Ok(lock)
}

/// Pulls every enabled source into the store; a failed source keeps its indicators.
fn pull_sources(cfg: &Config, store: &mut Store, n: &Normalizer, t: i64) -> Vec<SourceReport> {
    let mut reports = Vec::new();
    for s in cfg.sources.iter().filter(|s| s.enabled) {
        let prev = store.sources.get(&s.name).cloned().unwrap_or_default();
        tracing::debug!(source = %s.name, "pulling");
        let pb = progress_bar(&s.name);
        // A bar once the total is known (feed events), a running count otherwise (MISP
        // attributes, page by page).
        let progress = |done: u64, total: Option<u64>| {
            if let Some(t) = total {
                if pb.length() != Some(t) {
                    pb.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{msg} [{bar:30}] {human_pos}/{human_len} ({eta})",
                        )
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    pb.set_length(t);
                }
            }
            pb.set_position(done);
        };
        let res = pull::pull(s, &prev, t, n, &progress);
        pb.finish_and_clear();
        let st = store.sources.entry(s.name.clone()).or_default();
        st.last_attempt = Some(t);
        match res {
            Ok(p) => {
                let kind = if matches!(s.kind, config::SourceType::Misp) {
                    if p.complete {
                        "full"
                    } else {
                        "incremental"
                    }
                } else {
                    "complete"
                };
                st.last_success = Some(t);
                st.last_error = None;
                st.cursor = p.cursor;
                if p.complete {
                    st.last_full = Some(t);
                }
                st.offered = p.intake.offered;
                st.accepted = p.intake.accepted.len() as u64;
                st.rejects = p.intake.rejects.clone();
                let mut rep = SourceReport {
                    name: s.name.clone(),
                    ok: true,
                    error: None,
                    pull: kind,
                    offered: p.intake.offered,
                    accepted: p.intake.accepted.len() as u64,
                    rejected: p.intake.rejected(),
                    rejects: p.intake.rejects.clone(),
                    expired: 0,
                };
                store.merge(&s.name, p.intake.accepted, t);
                if p.complete {
                    let days = s.expire_after_days.unwrap_or(cfg.expire_after_days);
                    rep.expired = store.expire(&s.name, t - i64::from(days) * 86_400);
                }
                tracing::debug!(
                    source = %s.name,
                    pull = kind,
                    offered = rep.offered,
                    accepted = rep.accepted,
                    rejected = rep.rejected,
                    expired = rep.expired,
                    "pulled"
                );
                reports.push(rep);
            }
            Err(e) => {
                let e = suriguard_cli::chain(&e);
                tracing::warn!(source = %s.name, "pull failed: {e}");
                st.last_error = Some(e.clone());
                reports.push(SourceReport {
                    name: s.name.clone(),
                    ok: false,
                    error: Some(e),
                    pull: "failed",
                    offered: 0,
                    accepted: 0,
                    rejected: 0,
                    rejects: BTreeMap::new(),
                    expired: 0,
                });
            }
        }
    }
    let configured: BTreeSet<String> = cfg.sources.iter().map(|s| s.name.clone()).collect();
    store.forget_other_sources(&configured);
    reports
}

/// What `apply_generation` works on.
struct Apply<'a> {
    cfg: &'a Config,
    gens: &'a Generations,
    current: Option<&'a Path>,
    compiled: &'a Compiled,
    /// The generation in force, read back (for the contexts of values taken out).
    old: &'a Compiled,
    opts: &'a CompileOptions,
    store: &'a Store,
    changes: &'a BTreeMap<&'static str, (Vec<String>, Vec<String>)>,
    rules_changed: bool,
}

/// Writes a new generation, validates it, points the output at it and tells Suricata.
/// `SyncError::Apply` means Suricata keeps what it runs on; other errors are earlier or
/// later failures (staging, saving the state).
fn apply_generation(a: &Apply, laps: &mut Laps, report: &mut RunReport) -> Result<(), SyncError> {
    let cfg = a.cfg;
    let gen = a.gens.stage()?;
    let applied = apply::write_generation(&gen, a.compiled, a.store, a.opts, &cfg.output_dir)
        .and_then(|()| {
            laps.lap("write");
            if cfg.suricata.validate {
                apply::validate(cfg, &gen)?;
                laps.lap("validate");
            }
            Ok(())
        })
        .and_then(|()| {
            a.gens.point_at(&gen)?;
            match apply::notify(cfg, a.compiled, a.old, a.changes, a.rules_changed) {
                Ok(x) => Ok(x),
                Err(e) => {
                    // Suricata did not take it: the files go back to what it runs on.
                    match a.current {
                        Some(c) => a.gens.point_at(c)?,
                        None => {
                            let _ = std::fs::remove_file(&cfg.output_dir);
                        }
                    }
                    Err(e)
                }
            }
        });
    match applied {
        Ok(x) => {
            laps.lap("apply");
            // The state is saved only once the output matches it: the generation's
            // index is the store, byte for byte.
            let sp = state_path(cfg);
            Store::install(&gen.join(INDEX_FILE), &sp).map_err(SyncError::state(&sp))?;
            laps.lap("save");
            let keep: Vec<&Path> = [Some(gen.as_path()), a.current]
                .into_iter()
                .flatten()
                .collect();
            a.gens.prune(&keep);
            tracing::info!(generation = %gen.display(), "applied: {}", x.name());
            report.applied = x.name().to_string();
            report.generation = Some(gen);
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&gen);
            report.applied = "failed".into();
            Err(SyncError::Apply {
                generation: gen,
                source: Box::new(e),
            })
        }
    }
}

fn run(cfg: &Config, dry_run: bool, out: Output) -> Result<ExitStatus, SyncError> {
    let _lock = lock(cfg)?;

    let mut laps = Laps::new();
    let n = normalizer(cfg)?;
    let mut store = load_store(cfg)?;
    let t = store.run_time(now());
    let reports = pull_sources(cfg, &mut store, &n, t);
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.name.clone())
        .collect();

    laps.lap("pull");
    let opts = cfg.compile_options();
    let gens = Generations::new(&cfg.output_dir)?;
    let current = gens.current()?;
    let old = match &current {
        Some(dir) => Compiled::read(dir).map_err(|source| SyncError::GenerationRead {
            generation: dir.clone(),
            source,
        })?,
        None => Compiled::from_store(&Store::new()),
    };
    // Suricata 8: datasets with per-value context (datajson). When the version cannot
    // be asked, the format of the generation in force stays (7's without one).
    let context = match cfg.suricata_major() {
        Some(m) => m >= 8,
        None => old.context,
    };
    let compiled = Compiled::from_store_with(&store, context);
    if compiled.too_long > 0 {
        tracing::warn!(
            values = compiled.too_long,
            "values longer than a Suricata 8 datajson line (1024 bytes) left out of their sets"
        );
    }
    let changes = compiled.diff(&old);
    let new_rules = compiled.rules(&opts, &cfg.output_dir);
    // Comments (the entry counts) do not make a reload necessary.
    let rules_of = |t: &str| {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // A value whose context changed (a new MISP event) is in the file Suricata must
    // read again: that takes a reload, like a changed rule.
    let rules_changed = current
        .as_deref()
        .and_then(apply::rules_text)
        .map(|t| rules_of(&t))
        != Some(rules_of(&new_rules))
        || compiled.contexts_changed(&old);
    laps.lap("compile");
    let any_change = rules_changed
        || changes
            .values()
            .any(|(a, r)| !a.is_empty() || !r.is_empty());

    let mut report = RunReport {
        dry_run,
        sources: reports,
        indicators: store.len(),
        by_kind: store
            .indicators
            .iter()
            .map(|(k, m)| (k.name().to_string(), m.len()))
            .collect(),
        changes: changes
            .iter()
            .map(|(n, (a, r))| SetChange {
                set: n,
                entries: compiled.sets[n].values.len(),
                added: a.len(),
                removed: r.len(),
            })
            .collect(),
        rules_changed,
        applied: String::new(),
        generation: None,
        timings_ms: Vec::new(),
    };

    let mut not_applied = None;
    if dry_run {
        report.applied = "dry-run".into();
    } else if !any_change {
        report.applied = "unchanged".into();
        // Nothing to compile, but the pull refreshed when each value was last seen.
        let sp = state_path(cfg);
        store.save(&sp).map_err(SyncError::state(&sp))?;
        laps.lap("save");
    } else {
        let a = Apply {
            cfg,
            gens: &gens,
            current: current.as_deref(),
            compiled: &compiled,
            old: &old,
            opts: &opts,
            store: &store,
            changes: &changes,
            rules_changed,
        };
        match apply_generation(&a, &mut laps, &mut report) {
            Ok(()) => {}
            Err(e @ SyncError::Apply { .. }) => not_applied = Some(e),
            Err(e) => return Err(e),
        }
    }

    report.timings_ms = laps.laps;
    tracing::debug!(timings_ms = ?report.timings_ms, "run done");
    // The process ends after this: no need to free a million indicators one
    // allocation at a time.
    std::mem::forget((store, compiled, old, changes));
    match out {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        Output::Table => print_run(&report),
    }
    if let Some(e) = not_applied {
        return Err(e);
    }
    if !failed.is_empty() {
        return Err(SyncError::SourcesFailed { sources: failed });
    }
    Ok(ExitStatus::Ok)
}

/// `reason=count` pairs on one line.
fn reject_summary(r: &BTreeMap<String, u64>) -> String {
    r.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn print_run(r: &RunReport) {
    println!(
        "{:<20} {:<12} {:>9} {:>9} {:>9} {:>8}  REJECTS / ERROR",
        "SOURCE", "PULL", "OFFERED", "ACCEPTED", "REJECTED", "EXPIRED"
    );
    for s in &r.sources {
        let tail = match &s.error {
            Some(e) => e.clone(),
            None => reject_summary(&s.rejects),
        };
        println!(
            "{:<20} {:<12} {:>9} {:>9} {:>9} {:>8}  {tail}",
            s.name, s.pull, s.offered, s.accepted, s.rejected, s.expired
        );
    }
    println!();
    println!(
        "{:<22} {:>9} {:>9} {:>9}",
        "SET", "ENTRIES", "ADDED", "REMOVED"
    );
    for c in &r.changes {
        if c.entries + c.added + c.removed > 0 {
            println!(
                "{:<22} {:>9} {:>9} {:>9}",
                c.set, c.entries, c.added, c.removed
            );
        }
    }
    println!();
    println!(
        "{} indicators; rules {}; {}",
        r.indicators,
        if r.rules_changed {
            "changed"
        } else {
            "unchanged"
        },
        r.applied
    );
}

fn status(cfg: &Config, out: Output) -> Result<ExitStatus, SyncError> {
    let store = load_store(cfg)?;
    let by_kind: BTreeMap<&str, usize> = store
        .indicators
        .iter()
        .map(|(k, m)| (k.name(), m.len()))
        .collect();
    let current = Generations::new(&cfg.output_dir)?.current().ok().flatten();
    if out == Output::Json {
        let v = serde_json::json!({
            "indicators": store.len(),
            "by_kind": by_kind,
            "sources": store.sources,
            "generation": current,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(ExitStatus::Ok);
    }
    println!(
        "{:<20} {:>12} {:>9} {:>9}  REJECTS / LAST ERROR",
        "SOURCE", "LAST OK", "OFFERED", "ACCEPTED"
    );
    for (name, s) in &store.sources {
        let tail = match &s.last_error {
            Some(e) => format!("error: {e}"),
            None => reject_summary(&s.rejects),
        };
        let ok = s
            .last_success
            .map_or("never".to_string(), |t| format!("{}s ago", now() - t));
        println!(
            "{name:<20} {ok:>12} {:>9} {:>9}  {tail}",
            s.offered, s.accepted
        );
    }
    println!();
    let kinds: Vec<String> = by_kind.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{} indicators ({})", store.len(), kinds.join(" "));
    if let Some(g) = current {
        println!("in force: {}", g.join(RULES_FILE).display());
    }
    Ok(ExitStatus::Ok)
}

/// Alerts of rulesync rules in an EVE file, each with the indicators behind it.
fn lookup_alerts(cfg: &Config, eve: &Path, out: Output) -> Result<ExitStatus, SyncError> {
    use std::io::BufRead;
    let store = load_store(cfg)?;
    let f = std::fs::File::open(eve).map_err(SyncError::io("read", eve))?;
    let mut traced = Vec::new();
    let mut untraced = 0u64;
    for line in std::io::BufReader::new(f).lines() {
        let line = line.map_err(SyncError::io("read", eve))?;
        let Ok(rec) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if rec["event_type"] != "alert" || trace::alert_set(&rec).is_none() {
            continue;
        }
        let found = trace::trace(&store.indicators, &rec);
        if found.is_empty() {
            untraced += 1;
            continue;
        }
        traced.push(serde_json::json!({
            "timestamp": rec["timestamp"],
            "signature_id": rec["alert"]["signature_id"],
            "signature": rec["alert"]["signature"],
            "src_ip": rec["src_ip"],
            "dest_ip": rec["dest_ip"],
            "indicators": found,
        }));
    }
    if out == Output::Json {
        let v = serde_json::json!({"alerts": traced, "untraced": untraced});
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        for a in &traced {
            for i in a["indicators"].as_array().into_iter().flatten() {
                let sources: Vec<String> = i["entry"]["sources"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, m)| {
                        let events: Vec<&str> = m["events"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|e| e.as_str())
                            .collect();
                        if events.is_empty() {
                            name.clone()
                        } else {
                            format!("{name} (events {})", events.join(","))
                        }
                    })
                    .collect();
                println!(
                    "{} sid {} {} -> {}: {} {} from {}",
                    a["timestamp"].as_str().unwrap_or_default(),
                    a["signature_id"],
                    a["src_ip"].as_str().unwrap_or_default(),
                    a["dest_ip"].as_str().unwrap_or_default(),
                    i["kind"].as_str().unwrap_or_default(),
                    i["value"].as_str().unwrap_or_default(),
                    sources.join("; ")
                );
            }
        }
        if untraced > 0 {
            println!("{untraced} alerts of rulesync rules name values no longer in force");
        }
    }
    Ok(ExitStatus::Ok)
}

fn lookup(cfg: &Config, value: &str, out: Output) -> Result<ExitStatus, SyncError> {
    let store = load_store(cfg)?;
    let v = value.trim();
    let mut found = Vec::new();
    for kind in Kind::ALL {
        let candidates = [
            v.to_string(),
            v.to_ascii_lowercase(),
            v.trim_end_matches('.').to_ascii_lowercase(),
        ];
        for c in candidates.iter().collect::<BTreeSet<_>>() {
            if let Some(e) = store.get(kind, c) {
                found.push(serde_json::json!({"kind": kind, "value": c, "sides": e.sides, "sources": e.sources}));
            }
        }
        // An address inside a compiled prefix.
        if kind == Kind::Net {
            if let Ok(ip) = v.parse::<std::net::IpAddr>() {
                for (net, e) in store.indicators.get(&Kind::Net).into_iter().flatten() {
                    if net
                        .parse::<suriguard_net::Cidr>()
                        .is_ok_and(|c| c.contains(ip))
                    {
                        found.push(serde_json::json!({"kind": kind, "value": net, "sides": e.sides, "sources": e.sources}));
                    }
                }
            }
        }
    }
    if out == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&found).unwrap_or_default()
        );
    } else if found.is_empty() {
        println!("{v}: not an indicator in force");
    } else {
        for f in &found {
            println!(
                "{} {}",
                f["kind"].as_str().unwrap_or_default(),
                f["value"].as_str().unwrap_or_default()
            );
            for (src, m) in f["sources"].as_object().into_iter().flatten() {
                let list = |k: &str| {
                    m[k].as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_str())
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default()
                };
                println!(
                    "  {src}: events [{}] attributes [{}] tags [{}]",
                    list("events"),
                    list("attributes"),
                    list("tags")
                );
            }
        }
    }
    // Not found is an answer, not an error: exit 1 as grep does, with nothing on stderr.
    Ok(if found.is_empty() {
        ExitStatus::Failure
    } else {
        ExitStatus::Ok
    })
}

fn feeds_command(c: &FeedsCommand, out: Output) -> Result<ExitStatus, SyncError> {
    let list = |from: &Option<PathBuf>| {
        let p = from.clone().unwrap_or_else(feeds::default_list);
        feeds::load(&p)
    };
    match c {
        FeedsCommand::List { from } => {
            use std::io::Write as _;
            let all = list(from)?;
            // A closed pipe (`| head`) ends the listing quietly.
            let mut o = std::io::stdout().lock();
            if out == Output::Json {
                let _ = writeln!(
                    o,
                    "{}",
                    serde_json::to_string_pretty(&all).expect("feeds serialise")
                );
            } else {
                let _ = writeln!(o, "{:<48} {:<9} {:<10} URL", "NAME", "FORMAT", "TYPE");
                for f in &all {
                    if writeln!(
                        o,
                        "{:<48} {:<9} {:<10} {}",
                        f.name, f.format, f.source_type, f.url
                    )
                    .is_err()
                    {
                        break;
                    }
                }
            }
        }
        FeedsCommand::Enable { name, from, to } => {
            let all = list(from)?;
            let f = feeds::find(&all, name)?;
            let table = feeds::source_table(f);
            feeds::write_table(&table, to.as_deref())?;
            if let Some(p) = to {
                eprintln!(
                    "rulesync: source {:?} ({}) appended to {}; `rulesync run` pulls it",
                    feeds::source_name(f),
                    f.source_type,
                    p.display()
                );
            }
        }
    }
    Ok(ExitStatus::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rulesync's statuses are the shared table's ([`ExitStatus`], pinned in
    /// suriguard-cli): clap's usage status is its `Usage`, and each error ends with the
    /// status its kind calls for.
    #[test]
    fn exit_codes_are_the_shared_table() {
        let e = Cli::try_parse_from(["rulesync", "--no-such-flag", "status"])
            .err()
            .expect("a usage error");
        assert_eq!(e.exit_code(), i32::from(ExitStatus::Usage.code()));
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("rulesync.toml");
        std::fs::write(&bad, "output-dir = \"/tmp/x\"\naction = \"explode\"\n").unwrap();
        let e = Config::load(&bad).unwrap_err();
        assert_eq!(e.exit_code(), ExitStatus::Config);
        assert!(
            matches!(&e, SyncError::ConfigInvalid { path, key, .. } if *path == bad && key == "action"),
            "{e:?}"
        );
        let e = Config::load(&dir.path().join("missing.toml")).unwrap_err();
        assert_eq!(e.exit_code(), ExitStatus::Config);
        let p = PathBuf::from("x");
        let cases = [
            (
                SyncError::SourcesFailed {
                    sources: vec!["misp".into()],
                },
                ExitStatus::Failure,
            ),
            (SyncError::Locked { path: p.clone() }, ExitStatus::Failure),
            (
                SyncError::Apply {
                    generation: p,
                    source: Box::new(SyncError::ReloadTimeout { secs: 1 }),
                },
                ExitStatus::Failure,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.exit_code(), want, "{e}");
        }
    }

    #[test]
    fn help_documents_exit_codes() {
        use clap::CommandFactory;
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit status:"), "{help}");
        for status in ExitStatus::ALL {
            assert!(
                EXIT_HELP.contains(&format!("  {}  ", status.code())),
                "status {status:?} documented"
            );
        }
        Cli::command().debug_assert();
    }

    #[test]
    fn verbosity_flags() {
        let c = Cli::try_parse_from(["rulesync", "-vv", "status"]).unwrap();
        assert_eq!((c.verbose, c.quiet), (2, false));
        let c = Cli::try_parse_from(["rulesync", "status", "-q"]).unwrap();
        assert!(c.quiet);
        assert!(Cli::try_parse_from(["rulesync", "-v", "-q", "status"]).is_err());
    }
}
