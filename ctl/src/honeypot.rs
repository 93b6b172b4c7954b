//! `suriguardctl honeypot follow`: Cowrie's JSON log, tailed, turned into decisions.
//!
//! What a source did is gathered by [`suriguard_report::honeypot::Tracker`]; this module
//! does the I/O around it: reading the log as it grows (across rotation and restarts,
//! remembering its place by inode in the state dir), the gate, the decisions journal
//! (where `suriguardctl run` finds them for notification and MISP), and enforcement
//! through the same path as `decisions add`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use suriguard_decision::{Action, Decision, DecisionLog, Gate, Proposal, Reason};
use suriguard_enforce::SetKind;
use suriguard_net::{Cidr, Direction};
use suriguard_report::honeypot::{parse, Ready, Tracker};

use crate::config::Config;
use crate::decisions;
use crate::error::CtlError;

/// Longest log line read; a longer one is skipped (counted).
const MAX_LINE: usize = 1 << 20;
/// Lines read at once (a backlog after downtime is worked through in batches, the place
/// saved after each).
const BATCH: usize = 10_000;
/// How often a quiet log is looked at again.
const POLL: Duration = Duration::from_millis(100);

/// What a run read and decided.
#[derive(Debug, Default, Serialize)]
pub struct FollowReport {
    pub log: PathBuf,
    pub lines: u64,
    /// Lines that are not Cowrie events (counted, skipped).
    pub skipped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    pub decisions: Vec<Decision>,
    /// What became of each decision, in the same order (`blocked 203.0.113.9 for
    /// 3600 s`, `alert only`, `refused: …`).
    pub outcomes: Vec<String>,
    /// Proposals the gate did not admit (cooldown, caps).
    pub refused: u64,
    /// Sources forgotten to stay within `max-sources`.
    pub evicted: u64,
}

/// Where the last run stopped: the log's inode and the offset after the last whole line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    ino: u64,
    offset: u64,
}

fn position_file(cfg: &Config) -> PathBuf {
    cfg.state_dir.join("honeypot-position.json")
}

fn load_position(cfg: &Config) -> Option<Position> {
    let b = std::fs::read(position_file(cfg)).ok()?;
    serde_json::from_slice(&b).ok()
}

fn save_position(cfg: &Config, p: Position) -> Result<(), CtlError> {
    let path = position_file(cfg);
    let bytes = serde_json::to_vec(&p).unwrap_or_default();
    suriguard_durable::write_atomic(&path, &bytes).map_err(CtlError::file("write", &path))
}

/// The log being read: its file, inode, and the offset after the last whole line.
struct Open {
    reader: BufReader<File>,
    ino: u64,
    offset: u64,
    partial: Vec<u8>,
    /// Inside a line over [`MAX_LINE`]: its bytes are dropped up to its end.
    skipping: bool,
}

impl Open {
    /// The place reached: after the last whole line read.
    fn position(&self) -> Position {
        Position {
            ino: self.ino,
            offset: self.offset,
        }
    }

    fn at(path: &Path, offset: u64) -> std::io::Result<Open> {
        let f = File::open(path)?;
        let meta = f.metadata()?;
        let offset = if offset > meta.len() { 0 } else { offset };
        let mut reader = BufReader::with_capacity(1 << 16, f);
        reader.seek(SeekFrom::Start(offset))?;
        Ok(Open {
            reader,
            ino: meta.ino(),
            offset,
            partial: Vec::new(),
            skipping: false,
        })
    }

    /// The whole lines available now, at most [`BATCH`] (a line still being written
    /// waits for its end).
    fn lines(&mut self, rep: &mut FollowReport) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        while out.len() < BATCH {
            let n = (&mut self.reader)
                .take((MAX_LINE + 1) as u64)
                .read_until(b'\n', &mut self.partial)?;
            if n == 0 {
                break;
            }
            if self.partial.last() != Some(&b'\n') {
                if self.partial.len() > MAX_LINE {
                    // Too long to be an event: its bytes are dropped as they come (never
                    // held), and the line is counted once its end arrives.
                    self.offset += self.partial.len() as u64;
                    self.partial.clear();
                    self.skipping = true;
                }
                break;
            }
            if self.skipping {
                self.skipping = false;
                self.offset += self.partial.len() as u64;
                self.partial.clear();
                rep.lines += 1;
                rep.skipped += 1;
                let at = self.offset;
                rep.first_error.get_or_insert_with(|| {
                    format!("a line over {MAX_LINE} bytes, ending at byte {at}")
                });
                continue;
            }
            self.offset += self.partial.len() as u64;
            out.push(String::from_utf8_lossy(&self.partial).into_owned());
            self.partial.clear();
        }
        Ok(out)
    }
}

/// The rotated file that still has inode `ino` (Cowrie renames `cowrie.json` to
/// `cowrie.json.YYYY-MM-DD`), in the log's folder.
fn rotated(path: &Path, ino: u64) -> Option<PathBuf> {
    let dir = path.parent()?;
    let name = path.file_name()?.to_string_lossy().into_owned();
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        (n.starts_with(&name) && n != name && e.metadata().ok()?.ino() == ino).then(|| e.path())
    })
}

/// The decisions half: gate, journal, enforcement.
struct Decider<'a> {
    cfg: &'a Config,
    gate: Gate,
    journal: DecisionLog,
    ttl: u64,
}

impl Decider<'_> {
    /// Decides on a ready visitor; false when the gate did not admit it.
    fn decide(&mut self, r: Ready, rep: &mut FollowReport) -> Result<bool, CtlError> {
        let net = self.cfg.network_model();
        let target: IpAddr = r.source;
        let protected = net.protected(target);
        let home = net.is_home(target);
        // Own addresses and the allowlist only ever get an alert; a home device probing
        // the honeypot is itself evidence (an alert, or a quarantine if configured).
        let (action, direction) = match (protected, home) {
            (Some(_), true) => (Action::AlertOnly, Direction::Outbound),
            (Some(_), false) => (Action::AlertOnly, Direction::Inbound),
            (None, true) => (self.cfg.honeypot.home_action, Direction::Outbound),
            (None, false) => (Action::Block, Direction::Inbound),
        };
        let detail = r.detail();
        let p = Proposal {
            target,
            direction,
            time_us: r.time_us,
            action,
            limit: None,
            reason: Reason::Honeypot,
            counter: "honeypot interactions",
            observed: r.count(),
            threshold: 1,
            window: self.cfg.honeypot.gather,
            detail: Some(match protected {
                Some(why) => format!("{detail}; not blocked: {why}"),
                None => detail,
            }),
            confidence: 0.99,
            example_flow_ids: Vec::new(),
            model: None,
        };
        let Some(mut d) = self.gate.decide(p, protected) else {
            rep.refused += 1;
            return Ok(false);
        };
        d.ttl = self.ttl;
        d.evidence.honeypot = Some(Box::new(r.evidence));
        let path = self.cfg.decisions_log();
        self.journal
            .append(&d)
            .map_err(CtlError::file("append to", &path))?;
        let outcome = match (d.action, d.dry_run) {
            (Action::AlertOnly, _) => "alert only".to_string(),
            (_, true) => "dry run: journaled, not enforced".to_string(),
            (a, false) => {
                let kind = if a == Action::Quarantine {
                    SetKind::Quarantine
                } else {
                    SetKind::Block
                };
                match decisions::add(self.cfg, Cidr::host(target), kind, self.ttl, "honeypot") {
                    Ok(x) if x.enforced => format!("{} {target} for {} s", a.as_str(), x.ttl),
                    Ok(_) => "journaled (no enforcement backend)".to_string(),
                    Err(e) => format!("not enforced: {}", suriguard_cli::chain(&e)),
                }
            }
        };
        tracing::info!("honeypot: {} ({outcome})", d.summary);
        rep.decisions.push(d);
        rep.outcomes.push(outcome);
        Ok(true)
    }
}

/// Feeds whole log lines to the tracker and decides on the sources that are ready.
fn handle(
    lines: Vec<String>,
    tracker: &mut Tracker,
    decider: &mut Decider,
    rep: &mut FollowReport,
    each: &mut dyn FnMut(&Decision, &str),
) -> Result<(), CtlError> {
    for l in lines {
        rep.lines += 1;
        let ev = match parse(l.trim_end()) {
            Ok(Some(ev)) => ev,
            Ok(None) => continue,
            Err(e) => {
                rep.skipped += 1;
                rep.first_error
                    .get_or_insert_with(|| format!("line {}: {e}", rep.lines));
                continue;
            }
        };
        let ready = tracker.on_event(ev);
        decide_all(ready, tracker, decider, rep, each)?;
    }
    Ok(())
}

/// A log file moved away from its name (rotated), read to its end.
struct Moved<'a> {
    /// The name errors give (the file's own when known, else the log's).
    name: &'a Path,
    stop: &'a AtomicBool,
    cfg: &'a Config,
}

impl Moved<'_> {
    /// Reads `o` to its end, unless asked to stop, saving the place after every batch:
    /// the next start finds the file by inode and goes on from there. The last place
    /// saved, if any.
    fn finish(
        &self,
        o: &mut Open,
        tracker: &mut Tracker,
        decider: &mut Decider,
        rep: &mut FollowReport,
        each: &mut dyn FnMut(&Decision, &str),
    ) -> Result<Option<Position>, CtlError> {
        let mut saved = None;
        while !self.stop.load(Ordering::Relaxed) {
            let lines = o.lines(rep).map_err(CtlError::file("read", self.name))?;
            if lines.is_empty() {
                break;
            }
            handle(lines, tracker, decider, rep, each)?;
            save_position(self.cfg, o.position())?;
            saved = Some(o.position());
        }
        Ok(saved)
    }
}

fn decide_all(
    ready: Vec<Ready>,
    tracker: &mut Tracker,
    decider: &mut Decider,
    rep: &mut FollowReport,
    each: &mut dyn FnMut(&Decision, &str),
) -> Result<(), CtlError> {
    for r in ready {
        let source = r.source;
        let before = rep.decisions.len();
        if !decider.decide(r, rep)? {
            tracker.rearm(source);
        }
        if rep.decisions.len() > before {
            each(&rep.decisions[before], &rep.outcomes[before]);
        }
    }
    Ok(())
}

/// Reads `log` and decides on its visitors: to its end and back (`once`), or for ever,
/// calling `each` after every decision (for `-o json` lines while following).
pub fn follow(
    cfg: &Config,
    log: &Path,
    once: bool,
    each: &mut dyn FnMut(&Decision, &str),
) -> Result<FollowReport, CtlError> {
    let ttl = cfg.honeypot.ttl.unwrap_or(cfg.decisions.ttl);
    let mut tracker = Tracker::new(&cfg.honeypot, ttl);
    let journal_path = cfg.decisions_log();
    let mut decider = Decider {
        cfg,
        gate: Gate::new(suriguard_decision::DecisionConfig {
            ttl,
            ..cfg.decisions.clone()
        }),
        journal: DecisionLog::open(&journal_path).map_err(CtlError::file("open", &journal_path))?,
        ttl,
    };
    let mut rep = FollowReport {
        log: log.to_path_buf(),
        ..FollowReport::default()
    };
    if once {
        let mut open = Open::at(log, 0).map_err(CtlError::file("read", log))?;
        loop {
            let lines = open.lines(&mut rep).map_err(CtlError::file("read", log))?;
            if lines.is_empty() {
                break;
            }
            handle(lines, &mut tracker, &mut decider, &mut rep, each)?;
        }
        {
            let ready = tracker.flush();
            decide_all(ready, &mut tracker, &mut decider, &mut rep, each)?;
        }
        rep.evicted = tracker.evicted;
        return Ok(rep);
    }

    // Following until SIGTERM or SIGINT, then a clean stop (below); a second signal
    // while stopping exits at once (status 1), as a stuck stop must not need SIGKILL.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&stop)))
            .map_err(|source| CtlError::Signals { source })?;
    }

    // Following: resume where the last run stopped (the same inode), finishing a file
    // that was rotated meanwhile; a first run starts at the end of the log (its history
    // is not acted on), a log that appears later is read from its start.
    let saved = load_position(cfg);
    let mut open: Option<Open> = None;
    if let Ok(meta) = std::fs::metadata(log) {
        match saved {
            Some(p) if p.ino == meta.ino() => {
                open = Some(Open::at(log, p.offset).map_err(CtlError::file("read", log))?)
            }
            Some(p) => {
                if let Some(old) = rotated(log, p.ino) {
                    let mut o = Open::at(&old, p.offset).map_err(CtlError::file("read", &old))?;
                    let moved = Moved {
                        name: &old,
                        stop: &stop,
                        cfg,
                    };
                    moved.finish(&mut o, &mut tracker, &mut decider, &mut rep, each)?;
                    tracing::info!("honeypot: finished the rotated {}", old.display());
                }
                open = Some(Open::at(log, 0).map_err(CtlError::file("read", log))?);
            }
            None => {
                tracing::info!(
                    "honeypot: following {} from its end (no saved position)",
                    log.display()
                );
                open = Some(Open::at(log, meta.len()).map_err(CtlError::file("read", log))?);
            }
        }
    } else {
        tracing::warn!(
            "honeypot: {} does not exist yet; waiting for it",
            log.display()
        );
    }
    let mut last_data = Instant::now();
    let mut saved_at = Position::default();
    loop {
        if stop.load(Ordering::Relaxed) {
            // The saved place is after every line read, so a visitor still inside their
            // gather window would be lost to the next start: decided now, with what was
            // gathered (their trigger was met already).
            let pending = tracker.pending();
            let ready = tracker.flush();
            decide_all(ready, &mut tracker, &mut decider, &mut rep, each)?;
            rep.evicted = tracker.evicted;
            tracing::info!(
                "honeypot: stopping; {pending} visitor(s) still gathering decided on the way out"
            );
            return Ok(rep);
        }
        // A new file under the name (rotation, or the log appearing): finish the old one,
        // then read the new one from its start.
        if let Ok(meta) = std::fs::metadata(log) {
            let renewed = open.as_ref().is_none_or(|o| o.ino != meta.ino());
            if renewed {
                if let Some(mut o) = open.take() {
                    let moved = Moved {
                        name: log,
                        stop: &stop,
                        cfg,
                    };
                    if let Some(p) =
                        moved.finish(&mut o, &mut tracker, &mut decider, &mut rep, each)?
                    {
                        saved_at = p;
                    }
                    if stop.load(Ordering::Relaxed) {
                        continue;
                    }
                }
                open = Some(Open::at(log, 0).map_err(CtlError::file("read", log))?);
            } else if let Some(o) = open.as_mut() {
                if meta.len() < o.offset {
                    tracing::warn!(
                        "honeypot: {} was truncated; reading it again",
                        log.display()
                    );
                    *o = Open::at(log, 0).map_err(CtlError::file("read", log))?;
                }
            }
        }
        let mut got = false;
        let mut full = false;
        if let Some(o) = open.as_mut() {
            let lines = o.lines(&mut rep).map_err(CtlError::file("read", log))?;
            got = !lines.is_empty();
            full = lines.len() >= BATCH;
            handle(lines, &mut tracker, &mut decider, &mut rep, each)?;
            let here = o.position();
            if here != saved_at {
                save_position(cfg, here)?;
                saved_at = here;
            }
        }
        if got {
            last_data = Instant::now();
        } else if tracker.pending() > 0 && last_data.elapsed().as_secs_f64() >= cfg.honeypot.gather
        {
            // Quiet for a whole gather window: every event of the pending windows has
            // been written by now.
            {
                let ready = tracker.flush();
                decide_all(ready, &mut tracker, &mut decider, &mut rep, each)?;
            }
        }
        rep.evicted = tracker.evicted;
        // Bounded memory while following: the report keeps the last decisions only.
        if rep.decisions.len() > 1000 {
            rep.decisions.drain(..500);
            rep.outcomes.drain(..500);
        }
        if !full {
            std::thread::sleep(POLL);
        }
    }
}
