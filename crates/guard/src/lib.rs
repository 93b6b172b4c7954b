//! The running IPS, assembled: the plugin's settings and its sections of the
//! configuration file, the detection pipeline, the decisions journal and enforcement,
//! and the counters of a run.
//!
//! ```text
//! GuardConfig ─▶ start() ─▶ Pipeline ──drain_decisions()──▶ DecisionSink ─▶ decisions.jsonl
//!                                                                       └─▶ Enforcer (nftables)
//! ```
//!
//! The plugin drives this from Suricata's threads; everything here is safe code and runs
//! in tests without Suricata.

#![forbid(unsafe_code)]

mod config;
pub mod evefile;
pub mod settings;
mod sink;
mod stats;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use thiserror::Error;

pub use config::GuardConfig;
pub use evefile::{EveFile, EveFileStats};
pub use settings::{ConfValue, PluginSettings, SettingsError};
pub use sink::{DecisionSink, Enforcer, LogOnly, SinkStats};
pub use stats::{HeapStats, PluginStats, WriteStats};

use suriguard_decision::DecisionLog;
use suriguard_detect::baseline::{BaselineError, BaselineFile};
use suriguard_detect::Pipeline;
use suriguard_enforce::{Backend, EnforcerSetup};
use suriguard_net::{AllowWatch, NetworkConfig, ALLOWLIST_CHECK_EVERY};

/// Why the IPS could not start.
#[derive(Debug, Error)]
pub enum GuardError {
    #[error(transparent)]
    Config(#[from] suriguard_config::ConfigError),
    #[error("cannot open the decisions journal {}: {source}", path.display())]
    Journal {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the enforcer thread: {0}")]
    Enforcer(std::io::Error),
}

/// A started IPS: the pipeline, where its decisions go, and what to tell the operator.
pub struct Guard {
    pub pipeline: Pipeline,
    pub sink: DecisionSink,
    /// Lines for the log: the model loaded, or why the model stage is off.
    pub notes: Vec<Note>,
    /// Where and how often the worker saves the home devices' baselines.
    pub baselines: Option<BaselineSaver>,
    /// Re-reads the allowlist file when it changes.
    pub allowlist: AllowlistReloader,
}

/// Re-reads the allowlist file when it changes and hands the new network model to the
/// pipeline (the enforcer thread watches the same file for its own copy).
#[derive(Debug)]
pub struct AllowlistReloader {
    network: NetworkConfig,
    watch: Option<AllowWatch>,
}

impl AllowlistReloader {
    pub fn new(network: NetworkConfig) -> Self {
        let watch = network
            .allowlist_file
            .clone()
            .map(|p| AllowWatch::new(p, ALLOWLIST_CHECK_EVERY));
        AllowlistReloader { network, watch }
    }

    /// When the next look is due (`None`: no file to watch).
    pub fn next(&self) -> Option<Instant> {
        self.watch.as_ref().map(AllowWatch::next)
    }

    /// Looks at the file if due; when it changed, replaces the pipeline's network model
    /// and returns the lines to log (what changed, then any line of the file skipped).
    pub fn poll(&mut self, now: Instant, pipeline: &mut Pipeline) -> Option<Vec<Note>> {
        let w = self.watch.as_mut()?;
        if !w.changed(now) {
            return None;
        }
        let (net, problems) = self.network.model_checked();
        let mut notes = vec![Note::Info(format!(
            "allowlist file {} changed: {} address(es) or prefix(es) never blocked",
            w.path().display(),
            net.allowlist().len()
        ))];
        notes.extend(problems.into_iter().map(Note::Problem));
        pipeline.set_network(net);
        Some(notes)
    }
}

/// Saves the pipeline's baselines to their file at most every `interval`.
#[derive(Debug)]
pub struct BaselineSaver {
    pub path: PathBuf,
    pub interval: Duration,
    last: Instant,
}

impl BaselineSaver {
    pub fn new(path: PathBuf, interval: Duration) -> Self {
        BaselineSaver {
            path,
            interval,
            last: Instant::now(),
        }
    }

    /// Saves when `interval` has passed since the last save (`force`: now). `Ok(false)`
    /// when it was not time yet.
    pub fn save(&mut self, pipeline: &Pipeline, force: bool) -> Result<bool, BaselineError> {
        if !force && self.last.elapsed() < self.interval {
            return Ok(false);
        }
        self.last = Instant::now();
        match pipeline.baselines() {
            Some(file) => file.save(&self.path).map(|()| true),
            None => Ok(false),
        }
    }
}

/// Something to log at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Info(String),
    Problem(String),
}

/// Opens the journal, starts the enforcer (unless `backend = "none"`) and builds the
/// pipeline. The enforcer thread reports through `tracing` (the plugin forwards it to
/// Suricata's log).
pub fn start(cfg: &GuardConfig) -> Result<Guard, GuardError> {
    let journal = cfg.decisions_log();
    let decisions = DecisionLog::open(&journal).map_err(|source| GuardError::Journal {
        path: journal,
        source,
    })?;
    // The allowlist file read once here for the enforcer and for what to report.
    let (net, allow_problems) = cfg.pipeline.network.model_checked();
    let enforcer: Box<dyn Enforcer> = match cfg.enforce.backend {
        Backend::Nftables => Box::new(
            suriguard_enforce::start(EnforcerSetup {
                cfg: cfg.enforce.clone(),
                net,
                network: Some(cfg.pipeline.network.clone()),
                journal: cfg.enforce_journal(),
            })
            .map_err(GuardError::Enforcer)?,
        ),
        Backend::None => Box::new(LogOnly::default()),
    };
    // Watched from before the pipeline reads the file: a change in between is seen.
    let allowlist = AllowlistReloader::new(cfg.pipeline.network.clone());
    let (mut pipeline, problem) = Pipeline::build(&cfg.pipeline);
    let torn = decisions.opened_torn().then(|| {
        Note::Problem(format!(
            "the decisions journal {} ended in a cut line (a crash or a full disk mid-write); \
             it is kept, and new decisions start on a line of their own",
            decisions.path().display()
        ))
    });
    let mut notes: Vec<Note> = allow_problems
        .into_iter()
        .map(Note::Problem)
        .chain(torn)
        .collect();
    let baselines = cfg.baselines_file().and_then(|path| {
        match BaselineFile::load(&path) {
            Ok(file) => {
                let n = pipeline.restore_baselines(file);
                notes.push(Note::Info(format!(
                    "baselines of {n} home devices loaded from {}",
                    path.display()
                )));
            }
            Err(e) => {
                // Never a reason not to start: the devices learn again. The unreadable
                // file is kept aside for the operator (a name of its own each time);
                // if it cannot be moved, this run saves nothing over it.
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let aside = path.with_extension(format!("json.unreadable-{stamp}"));
                if let Err(why) = std::fs::rename(&path, &aside) {
                    notes.push(Note::Problem(format!(
                        "{e}; starting with empty baselines, and not saving them (cannot \
                         move the file aside to {}: {why})",
                        aside.display()
                    )));
                    return None;
                }
                notes.push(Note::Problem(format!(
                    "{e}; starting with empty baselines (the file was moved to {})",
                    aside.display()
                )));
            }
        }
        Some(BaselineSaver::new(
            path,
            Duration::from_secs(cfg.pipeline.detect.baseline.save_interval),
        ))
    });
    if let Some(line) = pipeline.model_description() {
        notes.push(Note::Info(line));
    }
    if let Some(why) = problem {
        notes.push(Note::Problem(why));
    }
    Ok(Guard {
        pipeline,
        sink: DecisionSink::new(decisions, enforcer),
        notes,
        baselines,
        allowlist,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use suriguard_config::ConfigFile;

    /// A SYN-only flow record from `src` (a flood of them decides against `src`).
    fn syn(src: &str, i: i64) -> String {
        let us = 1_700_000_000_000_000 + i * 5_000;
        let t = suriguard_decision::rfc3339(suriguard_eve::EveTime(us)).replace('Z', "+0000");
        format!(
            r#"{{"timestamp":"{t}","flow_id":{i},"event_type":"flow","src_ip":"{src}","src_port":40000,"dest_ip":"192.168.1.10","dest_port":443,"proto":"TCP","flow":{{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":60,"bytes_toclient":0,"start":"{t}","end":"{t}","age":1,"state":"new"}},"tcp":{{"tcp_flags":"02","tcp_flags_ts":"02","tcp_flags_tc":"00"}}}}"#
        )
    }

    fn decided(g: &mut Guard, src: &str, from: i64) -> Vec<String> {
        for i in from..from + 250 {
            g.pipeline.handle(syn(src, i).as_bytes()).unwrap();
        }
        g.pipeline
            .drain_decisions()
            .map(|d| d.target.to_string())
            .collect()
    }

    #[test]
    fn an_address_added_to_the_allowlist_file_is_no_longer_decided_while_running() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "state-dir = {:?}\n[enforce]\nbackend = \"none\"\n",
            dir.path().display().to_string()
        );
        let cfg = GuardConfig::from_file(&ConfigFile::parse(&text).unwrap()).unwrap();
        assert_eq!(cfg.allowlist_file(), dir.path().join("allowlist.txt"));
        let mut g = start(&cfg).unwrap();
        assert_eq!(decided(&mut g, "203.0.113.7", 0), vec!["203.0.113.7"]);

        std::fs::write(
            dir.path().join("allowlist.txt"),
            "203.0.113.8  # a partner\nnonsense\n",
        )
        .unwrap();
        // Not looked at before it is due.
        assert!(g.allowlist.poll(Instant::now(), &mut g.pipeline).is_none());
        let notes = g
            .allowlist
            .poll(Instant::now() + Duration::from_secs(3), &mut g.pipeline)
            .expect("the change is seen once due");
        assert!(
            matches!(&notes[0], Note::Info(l) if l.contains("1 address(es)")),
            "{notes:?}"
        );
        assert!(
            matches!(&notes[1], Note::Problem(l) if l.contains("line 2: \"nonsense\"")),
            "{notes:?}"
        );
        let refused = g.pipeline.engine_stats().unwrap().gate.refused_protected;
        assert!(decided(&mut g, "203.0.113.8", 1000).is_empty());
        assert!(g.pipeline.engine_stats().unwrap().gate.refused_protected > refused);
        // Another source is still decided.
        assert_eq!(decided(&mut g, "203.0.113.9", 2000), vec!["203.0.113.9"]);
    }
}
