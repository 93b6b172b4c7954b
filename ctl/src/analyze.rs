//! `suriguardctl analyze`: run the detection engine over a recorded EVE file or, through
//! real Suricata with the plugin, over a capture, and report the decisions it would make.
//! Nothing is enforced: this is how a configuration is tried before it goes live.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::config::{Config, Scope};
use crate::error::CtlError;
use serde::Serialize;
use suriguard_decision::{Decision, DecisionLog};
use suriguard_detect::model::ModelStats;
use suriguard_detect::EngineStats;
use suriguard_detect::IngestStats;
use suriguard_detect::Pipeline;
use suriguard_eve::{self as eve, ReplayKey};
use suriguard_guard::PluginStats;
use suriguard_net::Cidr;

/// What an analysis found.
#[derive(Debug, Serialize)]
pub struct Report {
    pub input: String,
    pub home_networks: Vec<String>,
    pub records: u64,
    pub parse_errors: u64,
    pub detect: Option<EngineStats>,
    /// The model stage's counters, when a model was configured and loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelStats>,
    /// Problems that did not stop the analysis (a model that would not load).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// With `--pcap`: what the plugin saw and decided live, inside Suricata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginRun>,
    pub decisions: Vec<Decision>,
}

/// The plugin's own view of a `--pcap` run.
#[derive(Debug, Serialize)]
pub struct PluginRun {
    pub stats: PluginStats,
    /// Decisions the plugin journaled live, in Suricata's record order.
    pub decisions: Vec<Decision>,
}

/// The configuration an analysis runs with: the file if given (else defaults), plus any
/// `--home-net` networks added to the home networks.
pub fn effective_config(config: Option<&Path>, home_nets: &[Cidr]) -> Result<Config, CtlError> {
    let mut cfg = match config {
        Some(p) => Config::load(Some(p), Scope::Plugin)?,
        None => Config::defaults(),
    };
    for n in home_nets {
        if !cfg.network.home_networks.contains(n) {
            cfg.network.home_networks.push(*n);
        }
    }
    // Analysis never enforces; the journal it writes is a temporary one.
    cfg.decisions.dry_run = true;
    Ok(cfg)
}

/// The order records are replayed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ReplayOrder {
    /// Event time, then addresses and ports: the order Suricata writes records in
    /// changes from run to run, this one does not.
    #[default]
    Canonical,
    /// As the file has them: for an eve.json the plugin wrote, the order its worker
    /// saw, so the replay repeats the plugin's own decisions.
    File,
}

/// Runs the engine over an EVE JSON-lines file with the plugin worker's code, in
/// `order`: canonical (event time, then addresses and ports), because the order
/// Suricata writes records in changes from run to run, so the same file, or the same
/// capture through Suricata again, always gives the same verdicts; or the file's own.
pub fn eve_file(path: &Path, cfg: &Config, order: ReplayOrder) -> Result<Report, CtlError> {
    let text = std::fs::read(path).map_err(CtlError::file("read", path))?;
    let lines = text
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    let records: Vec<&[u8]> = match order {
        ReplayOrder::File => lines.collect(),
        ReplayOrder::Canonical => {
            let mut keyed: Vec<(Option<ReplayKey>, &[u8])> = lines
                .map(|l| (eve::parse(l).ok().map(|r| r.replay_key()), l))
                .collect();
            // Equal keys (rare) by the records' bytes: the file's order is Suricata's.
            keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            keyed.into_iter().map(|(_, l)| l).collect()
        }
    };
    let (mut pipeline, problem) = Pipeline::build(&cfg.pipeline());
    if order == ReplayOrder::Canonical {
        pipeline.input_is_sorted();
    }
    let mut warnings: Vec<String> = problem.into_iter().collect();
    let mut decisions = Vec::new();
    for rec in records {
        // Batches run when full and at the end, never on a wall-clock deadline, so a
        // replay gives the same verdicts every time.
        let _ = pipeline.handle(rec);
        decisions.extend(pipeline.drain_decisions());
    }
    pipeline.finish();
    decisions.extend(pipeline.drain_decisions());
    if let Some(why) = pipeline.model_disabled() {
        warnings.push(why.to_owned());
    }
    let stats: IngestStats = pipeline.into_stats();
    Ok(Report {
        input: path.display().to_string(),
        home_networks: cfg
            .network
            .home_networks
            .iter()
            .map(ToString::to_string)
            .collect(),
        records: stats.records,
        parse_errors: stats.parse_errors,
        detect: stats.detect,
        model: stats.model,
        warnings,
        plugin: None,
        decisions,
    })
}

/// Where to find Suricata and the plugin for `--pcap`.
pub struct SuricataSetup {
    /// The program to run (`suricata`, or e.g. a wrapper that runs Suricata 8).
    pub suricata: PathBuf,
    pub plugin: PathBuf,
    pub suricata_config: PathBuf,
    pub rules: Option<PathBuf>,
}

impl SuricataSetup {
    /// Defaults: the plugin next to this executable (a build tree) or the installed one;
    /// the minimal Suricata config from the source tree or the installed copy.
    pub fn locate(
        suricata: Option<PathBuf>,
        plugin: Option<PathBuf>,
        suricata_config: Option<PathBuf>,
        rules: Option<PathBuf>,
    ) -> Result<Self, CtlError> {
        let exe_dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_owned));
        let first = |explicit: Option<PathBuf>,
                     candidates: Vec<PathBuf>,
                     what: &'static str,
                     flag: &'static str| {
            if let Some(p) = explicit {
                return if p.is_file() {
                    Ok(p)
                } else {
                    Err(CtlError::Missing { what, path: p })
                };
            }
            candidates
                .into_iter()
                .find(|p| p.is_file())
                .ok_or(CtlError::NotLocated { what, flag })
        };
        let mut plugin_candidates = Vec::new();
        let mut conf_candidates = Vec::new();
        if let Some(d) = &exe_dir {
            plugin_candidates.push(d.join("libsuriguard.so"));
            conf_candidates.push(d.join("../../suricata-conf/suricata-minimal.yaml"));
        }
        plugin_candidates.push(PathBuf::from("/usr/lib/suriguard/libsuriguard.so"));
        conf_candidates.push(PathBuf::from("/usr/share/suriguard/suricata-minimal.yaml"));
        Ok(SuricataSetup {
            // A bare name is looked up on the PATH; a path with a directory in it is made
            // absolute here, because Suricata runs in a temporary directory.
            suricata: match suricata {
                Some(p) if p.components().count() > 1 && p.is_relative() => std::path::absolute(&p)
                    .map_err(CtlError::file("resolve the Suricata program", &p))?,
                Some(p) => p,
                None => PathBuf::from("suricata"),
            },
            plugin: first(plugin, plugin_candidates, "plugin", "--plugin")?,
            suricata_config: first(
                suricata_config,
                conf_candidates,
                "Suricata configuration",
                "--suricata-config",
            )?,
            rules,
        })
    }
}

/// One run of real Suricata with the plugin over a capture: its output directory (kept
/// until this is dropped), the plugin's live counters and the decisions it journaled.
pub struct SuricataRun {
    dir: tempfile::TempDir,
    pub stats: PluginStats,
    /// Decisions the plugin journaled live, in Suricata's record order.
    pub live: Vec<Decision>,
}

impl SuricataRun {
    /// The eve.json the plugin wrote.
    pub fn eve(&self) -> PathBuf {
        self.dir.path().join("eve.json")
    }
}

/// Runs real Suricata over `pcap` (a file, or a directory of captures) with the plugin
/// loaded and the analysis configuration, never enforcing.
pub fn run_suricata(
    pcap: &Path,
    cfg: &Config,
    setup: &SuricataSetup,
) -> Result<SuricataRun, CtlError> {
    // Suricata runs in a temporary directory: a relative path is resolved here first.
    let pcap = std::path::absolute(pcap).map_err(CtlError::file("resolve the capture", pcap))?;
    if !pcap.exists() {
        return Err(CtlError::Missing {
            what: "capture",
            path: pcap,
        });
    }
    let tmp = tempfile::tempdir().map_err(CtlError::file(
        "create a temporary directory in",
        std::env::temp_dir(),
    ))?;
    let dir = tmp.path();
    let mut run_cfg = cfg.clone();
    run_cfg.state_dir = dir.to_owned();
    run_cfg.decisions.log = None;
    // Analysis never touches the firewall.
    run_cfg.enforce.backend = suriguard_enforce::Backend::None;
    run_cfg.enforce.journal = None;
    let cfg_path = dir.join("suriguard.toml");
    let text = toml::to_string(&run_cfg).map_err(CtlError::encode("the analysis config"))?;
    std::fs::write(&cfg_path, text).map_err(CtlError::file("write", &cfg_path))?;
    let stats_path = dir.join("plugin-stats.json");
    let rules = match &setup.rules {
        Some(r) => std::path::absolute(r).map_err(CtlError::file("resolve the rules", r))?,
        None => PathBuf::from("/dev/null"),
    };
    let suricata_config = std::path::absolute(&setup.suricata_config).map_err(CtlError::file(
        "resolve the Suricata configuration",
        &setup.suricata_config,
    ))?;
    let plugin = std::path::absolute(&setup.plugin)
        .map_err(CtlError::file("resolve the plugin", &setup.plugin))?;
    let mut cmd = Command::new(&setup.suricata);
    cmd.arg("-c")
        .arg(&suricata_config)
        .arg("-l")
        .arg(dir)
        .arg("-r")
        .arg(&pcap)
        .arg("-S")
        .arg(&rules)
        // One packet thread. The flow manager still times flows out on its own thread,
        // and the flows open at the end come out in hash order: the replay sorts.
        .args(["-k", "none", "--runmode", "single", "--init-errors-fatal"])
        .arg("--set")
        .arg(format!("plugins.0={}", plugin.display()))
        .arg("--set")
        .arg(format!(
            "outputs.1.eve-log.suriguard.config={}",
            cfg_path.display()
        ))
        .arg("--set")
        .arg(format!(
            "outputs.1.eve-log.suriguard.stats-file={}",
            stats_path.display()
        ))
        // The plugin writes eve.json (whatever the given configuration says), in the
        // order detection read it: the replay reads the same.
        .arg("--set")
        .arg(format!(
            "outputs.1.eve-log.suriguard.eve-file={}",
            dir.join("eve.json").display()
        ))
        .current_dir(dir);
    let out = cmd
        .output()
        .map_err(|source| CtlError::SuricataSpawn { source })?;
    if !out.status.success() {
        return Err(CtlError::Suricata {
            status: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    let stats: PluginStats = std::fs::read_to_string(&stats_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| CtlError::NoPluginStats {
            output: String::from_utf8_lossy(&out.stdout).into_owned(),
        })?;
    let journal = dir.join("decisions.jsonl");
    let live = DecisionLog::read_all(&journal)
        .map_err(CtlError::file("read the decisions journal", &journal))?;
    Ok(SuricataRun {
        dir: tmp,
        stats,
        live,
    })
}

/// Runs real Suricata over `pcap` with the plugin loaded, then replays the eve.json of
/// that run in `order` (see [`eve_file`]); the plugin's own live counters and decisions
/// are reported alongside.
pub fn pcap_file(
    pcap: &Path,
    cfg: &Config,
    setup: &SuricataSetup,
    order: ReplayOrder,
) -> Result<Report, CtlError> {
    let run = run_suricata(pcap, cfg, setup)?;
    let mut report = eve_file(&run.eve(), cfg, order)?;
    report.input = pcap.display().to_string();
    report.plugin = Some(PluginRun {
        stats: run.stats,
        decisions: run.live,
    });
    Ok(report)
}

/// Decisions as an aligned table.
pub fn table(report: &Report) -> String {
    let mut rows = vec![[
        "TIME".to_owned(),
        "TARGET".into(),
        "ACTION".into(),
        "REASON".into(),
        "CONF".into(),
        "EVIDENCE".into(),
    ]];
    for d in &report.decisions {
        rows.push([
            d.time.clone(),
            d.target.to_string(),
            // A rate limit names its service: `rate-limit tcp/80`.
            match d.limit {
                Some(l) => format!("{} {l}", d.action.as_str()),
                None => d.action.as_str().into(),
            },
            d.reason.as_str().into(),
            format!("{:.2}", d.confidence),
            d.summary
                .split_once(": ")
                .map_or(d.summary.clone(), |(_, s)| s.to_owned()),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (c, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", r[c], w = w));
        }
        out.push_str(&r[5]);
        out.push('\n');
    }
    out.push_str(&format!(
        "{} decisions from {} records ({} parse errors) in {}\n",
        report.decisions.len(),
        report.records,
        report.parse_errors,
        report.input
    ));
    if let Some(m) = &report.model {
        out.push_str(&format!(
            "model {}: {} samples in {} runs, {} malicious verdicts, {} decisions\n",
            m.model, m.samples, m.batches, m.malicious_verdicts, m.decisions
        ));
    }
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}
