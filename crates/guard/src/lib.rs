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
pub use stats::{PluginStats, WriteStats};

use suriguard_decision::DecisionLog;
use suriguard_detect::baseline::{BaselineError, BaselineFile};
use suriguard_detect::Pipeline;
use suriguard_enforce::{Backend, EnforcerSetup};

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
    let enforcer: Box<dyn Enforcer> = match cfg.enforce.backend {
        Backend::Nftables => Box::new(
            suriguard_enforce::start(EnforcerSetup {
                cfg: cfg.enforce.clone(),
                net: cfg.network_model(),
                journal: cfg.enforce_journal(),
            })
            .map_err(GuardError::Enforcer)?,
        ),
        Backend::None => Box::new(LogOnly::default()),
    };
    let (mut pipeline, problem) = Pipeline::build(&cfg.pipeline);
    let mut notes = Vec::new();
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
    })
}
