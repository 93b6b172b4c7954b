//! Where a decision goes once the pipeline made it: the decisions journal first (the
//! record of truth), then, unless in dry-run, the enforcer.

use std::path::Path;

use serde::{Deserialize, Serialize};
use suriguard_decision::{Decision, DecisionLog};
use suriguard_enforce::{EnforceStats, EnforcerHandle};

/// Where decisions go once made. The nftables backend implements this; with
/// `backend = "none"`, [`LogOnly`] records that a decision would have been enforced.
pub trait Enforcer: Send {
    fn enforce(&mut self, decision: &Decision) -> Result<(), String>;

    /// Stops the enforcer (applying what it holds) and returns its counters, if it keeps any.
    fn finish(&mut self) -> Option<EnforceStats> {
        None
    }

    /// Its counters so far, while it runs, if it keeps any.
    fn snapshot(&self) -> Option<EnforceStats> {
        None
    }
}

/// An enforcer that enforces nothing: decisions are only journaled.
#[derive(Debug, Default)]
pub struct LogOnly {
    pub seen: u64,
}

impl Enforcer for LogOnly {
    fn enforce(&mut self, _decision: &Decision) -> Result<(), String> {
        self.seen += 1;
        Ok(())
    }
}

/// Counters of a [`DecisionSink`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SinkStats {
    pub journaled: u64,
    pub journal_errors: u64,
    pub enforced: u64,
    pub enforce_errors: u64,
    /// Decisions made in dry-run mode (journaled, not enforced).
    pub dry_run: u64,
}

/// Where a made decision goes: first the journal (the record of truth), then, unless
/// in dry-run, the enforcer. A failure of either is counted and reported, never fatal:
/// detection goes on.
pub struct DecisionSink {
    log: DecisionLog,
    enforcer: Box<dyn Enforcer>,
    pub stats: SinkStats,
    /// Decisions not journaled since the last one that was (a full disk says so once).
    journal_failing: u64,
}

impl DecisionSink {
    pub fn new(log: DecisionLog, enforcer: Box<dyn Enforcer>) -> Self {
        DecisionSink {
            log,
            enforcer,
            stats: SinkStats::default(),
            journal_failing: 0,
        }
    }

    pub fn journal_path(&self) -> &Path {
        self.log.path()
    }

    /// Both sets of counters so far, the enforcer's as it last published them.
    pub fn snapshot(&self) -> (SinkStats, Option<EnforceStats>) {
        (self.stats.clone(), self.enforcer.snapshot())
    }

    /// Stops the enforcer and returns both sets of counters.
    pub fn finish(mut self) -> (SinkStats, Option<EnforceStats>) {
        let e = self.enforcer.finish();
        (self.stats, e)
    }

    /// Journals and enforces one decision; returns the errors met, for the caller to log.
    pub fn take(&mut self, d: &Decision) -> Vec<String> {
        let mut errors = Vec::new();
        // A failure is reported once, then counted until a write works again: a full
        // disk must not turn every decision into a log line.
        match self.log.append(d) {
            Ok(()) => {
                self.stats.journaled += 1;
                if self.journal_failing > 0 {
                    errors.push(format!(
                        "the decisions journal {} is writable again; {} decision(s) could not \
                         be journaled (they were logged above and enforced)",
                        self.log.path().display(),
                        self.journal_failing
                    ));
                    self.journal_failing = 0;
                }
            }
            Err(e) => {
                self.stats.journal_errors += 1;
                if self.journal_failing == 0 {
                    errors.push(format!(
                        "cannot append to the decisions journal {}: {e}; decisions are still \
                         made and enforced, and further failures only counted (journal_errors) \
                         until it works again",
                        self.log.path().display()
                    ));
                }
                self.journal_failing += 1;
            }
        }
        if d.dry_run {
            self.stats.dry_run += 1;
        } else {
            match self.enforcer.enforce(d) {
                Ok(()) => self.stats.enforced += 1,
                Err(e) => {
                    self.stats.enforce_errors += 1;
                    errors.push(format!(
                        "cannot enforce decision {} against {}: {e}",
                        d.id, d.target
                    ));
                }
            }
        }
        errors
    }
}

impl Enforcer for EnforcerHandle {
    fn enforce(&mut self, decision: &Decision) -> Result<(), String> {
        self.submit(decision)
    }

    fn finish(&mut self) -> Option<EnforceStats> {
        self.stop_in_place()
    }

    fn snapshot(&self) -> Option<EnforceStats> {
        Some(EnforcerHandle::snapshot(self))
    }
}
