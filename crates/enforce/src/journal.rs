//! The enforcement journal: what is in force, in wall-clock time, as JSON lines.
//!
//! ```text
//! {"op":"add","set":"block","target":"203.0.113.7","until":1763712345,"reason":"port-scan","id":"…","by":"plugin","at":1763708745}
//! {"op":"delete","set":"block","target":"203.0.113.7","by":"suriguardctl","at":1763709000}
//! {"op":"add","set":"rate-limit","target":"192.168.1.10","limit":{"proto":"tcp","port":80},"until":1763712345,"reason":"flood-target","id":"…","by":"plugin","at":1763708745}
//! {"op":"flush","by":"suriguardctl","at":1763709100}
//! ```
//!
//! A rate limit's element is its target *and* service (`limit`); the field is absent on
//! every other line, and in journals written before rate limits existed, which replay as
//! they did.
//!
//! Appends are whole lines with `O_APPEND`, synced once per batch, so the plugin and
//! `suriguardctl` can both write. Replaying the lines in order gives what is in force;
//! the plugin rewrites the file to just that when it starts (an atomic replace). Every
//! append and the compaction hold the journal's lock (`enforce.jsonl.lock`), so a
//! compaction never renames the file away under a line `suriguardctl` is appending.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{now_secs, Limit, SetKind};
use suriguard_net::Cidr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JournalOp {
    Add,
    Delete,
    Flush,
}

/// One line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub op: JournalOp,
    #[serde(default, rename = "set", skip_serializing_if = "Option::is_none")]
    pub kind: Option<SetKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Cidr>,
    /// The service of a rate limit (`set` = `rate-limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    /// Unix seconds when the element expires (adds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The decision id (adds made by the plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who wrote the line: `plugin` or `suriguardctl`.
    pub by: String,
    /// Unix seconds when the line was written.
    pub at: u64,
}

impl Entry {
    pub fn add(kind: SetKind, target: Cidr, until: u64, reason: &str, id: &str, by: &str) -> Entry {
        Entry {
            op: JournalOp::Add,
            kind: Some(kind),
            target: Some(target),
            limit: None,
            until: Some(until),
            reason: Some(reason.to_owned()),
            id: (!id.is_empty()).then(|| id.to_owned()),
            by: by.to_owned(),
            at: now_secs(),
        }
    }

    pub fn delete(kind: SetKind, target: Cidr, by: &str) -> Entry {
        Entry {
            op: JournalOp::Delete,
            kind: Some(kind),
            target: Some(target),
            limit: None,
            until: None,
            reason: None,
            id: None,
            by: by.to_owned(),
            at: now_secs(),
        }
    }

    /// The service of a rate limit's element (kept only on `rate-limit` lines).
    pub fn with_limit(mut self, limit: Option<Limit>) -> Entry {
        self.limit = limit.filter(|_| self.kind == Some(SetKind::RateLimit));
        self
    }

    pub fn flush(by: &str) -> Entry {
        Entry {
            op: JournalOp::Flush,
            kind: None,
            target: None,
            limit: None,
            until: None,
            reason: None,
            id: None,
            by: by.to_owned(),
            at: now_secs(),
        }
    }
}

/// An element in force according to the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InForce {
    pub kind: SetKind,
    pub target: Cidr,
    /// The service, for a rate limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    pub until: u64,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub by: String,
    /// Unix seconds when it was added.
    pub since: u64,
}

/// What reading a journal found.
#[derive(Debug, Default)]
pub struct Replay {
    pub in_force: Vec<InForce>,
    /// Lines that were not journal entries (a torn last line after a crash, say).
    pub bad_lines: u64,
}

/// Replays the journal at `path` (a missing file is an empty journal).
pub fn replay(path: &Path, now: u64) -> std::io::Result<Replay> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Replay::default()),
        Err(e) => return Err(e),
    };
    let mut map: BTreeMap<(SetKind, Cidr, Option<Limit>), InForce> = BTreeMap::new();
    let mut bad = 0;
    for line in BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(e) = serde_json::from_str::<Entry>(&line) else {
            bad += 1;
            continue;
        };
        // Only a rate limit has a service; one without a service, or on a prefix (its set
        // holds single addresses), cannot be applied.
        let limit = e.limit.filter(|_| e.kind == Some(SetKind::RateLimit));
        match (e.op, e.kind, e.target) {
            (JournalOp::Add, Some(kind), Some(target)) => {
                let Some(until) = e.until else {
                    bad += 1;
                    continue;
                };
                if kind == SetKind::RateLimit && (limit.is_none() || !target.is_host()) {
                    bad += 1;
                    continue;
                }
                map.insert(
                    (kind, target, limit),
                    InForce {
                        kind,
                        target,
                        limit,
                        until,
                        reason: e.reason.unwrap_or_default(),
                        id: e.id,
                        by: e.by,
                        since: e.at,
                    },
                );
            }
            (JournalOp::Delete, Some(SetKind::RateLimit), Some(target)) if limit.is_none() => {
                // Every rate limit of the target.
                map.retain(|&(k, t, _), _| k != SetKind::RateLimit || t != target);
            }
            (JournalOp::Delete, Some(kind), Some(target)) => {
                map.remove(&(kind, target, limit));
            }
            (JournalOp::Flush, _, _) => map.clear(),
            _ => bad += 1,
        }
    }
    Ok(Replay {
        in_force: map.into_values().filter(|f| f.until > now).collect(),
        bad_lines: bad,
    })
}

/// Appends entries as whole lines and syncs them to disk.
pub fn append_to(path: &Path, entries: &[Entry]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _lock = suriguard_durable::lock(path)?;
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    // A line cut by a crash or a full disk must not swallow these.
    let mut torn = suriguard_durable::ends_torn(&f)?;
    suriguard_durable::append_lines(&mut f, &encode(entries)?, &mut torn)?;
    f.sync_data()
}

/// Entries as whole lines, for one write call: with O_APPEND the lines land together,
/// after anything another writer appended.
fn encode(entries: &[Entry]) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(entries.len() * 160);
    for e in entries {
        serde_json::to_writer(&mut buf, e).map_err(std::io::Error::other)?;
        buf.push(b'\n');
    }
    Ok(buf)
}

fn write_entries(f: &mut dyn Write, entries: &[Entry]) -> std::io::Result<()> {
    f.write_all(&encode(entries)?)
}

/// The enforcer's open journal.
pub struct Journal {
    file: Option<File>,
    path: std::path::PathBuf,
    /// The last write failed: part of it may have landed.
    torn: bool,
    /// Lines of the journal that could not be read when it was opened (dropped by the
    /// compaction): a torn line after a crash, or damage.
    dropped: u64,
    /// Bytes of the file right after its last compaction, and appended since.
    compacted_size: u64,
    appended: u64,
}

/// Bytes appended after which the journal may be compacted (and at least twice what
/// the last compaction left).
const COMPACT_AFTER: u64 = 4 << 20;

/// Replays `path`, rewrites it to what is in force at `now` and opens it for appending;
/// the caller holds the journal's lock. Returns the file, what the replay found and the
/// new size.
fn compact_locked(path: &Path, now: u64) -> std::io::Result<(File, Replay, u64)> {
    let replayed = replay(path, now)?;
    let entries: Vec<Entry> = replayed
        .in_force
        .iter()
        .map(|f| Entry {
            op: JournalOp::Add,
            kind: Some(f.kind),
            target: Some(f.target),
            limit: f.limit,
            until: Some(f.until),
            reason: Some(f.reason.clone()),
            id: f.id.clone(),
            by: f.by.clone(),
            at: f.since,
        })
        .collect();
    suriguard_durable::write_atomic_with(path, |w| write_entries(w, &entries))?;
    let file = OpenOptions::new().read(true).append(true).open(path)?;
    let size = file.metadata()?.len();
    Ok((file, replayed, size))
}

impl Journal {
    /// A journal that records nothing (when the file cannot be opened).
    pub fn disabled() -> Journal {
        Journal {
            file: None,
            path: std::path::PathBuf::new(),
            torn: false,
            dropped: 0,
            compacted_size: 0,
            appended: 0,
        }
    }

    /// Replays the journal, rewrites it to what is still in force, and opens it for
    /// appending.
    pub fn open_compacted(path: &Path, now: u64) -> std::io::Result<(Journal, Vec<InForce>)> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _lock = suriguard_durable::lock(path)?;
        let (file, replayed, size) = compact_locked(path, now)?;
        Ok((
            Journal {
                file: Some(file),
                path: path.to_owned(),
                torn: false,
                dropped: replayed.bad_lines,
                compacted_size: size,
                appended: 0,
            },
            replayed.in_force,
        ))
    }

    /// Lines that could not be read at open (and were dropped by the compaction).
    pub fn dropped_lines(&self) -> u64 {
        self.dropped
    }

    pub fn append(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let _lock = suriguard_durable::lock(&self.path)?;
        let lines = encode(entries)?;
        suriguard_durable::append_lines(f, &lines, &mut self.torn)?;
        f.sync_data()?;
        // A long run appends forever (every decision, every lift): once the appended part
        // outgrows what was in force at the last compaction, compact again, under the
        // same lock, so the file stays about the size of what is in force.
        self.appended += lines.len() as u64;
        if self.appended > COMPACT_AFTER.max(2 * self.compacted_size) {
            match compact_locked(&self.path, crate::now_secs()) {
                Ok((file, replayed, size)) => {
                    if replayed.bad_lines > 0 {
                        tracing::warn!(
                            "compacting the enforcement journal {} dropped {} unreadable line(s)",
                            self.path.display(),
                            replayed.bad_lines
                        );
                    }
                    self.file = Some(file);
                    self.compacted_size = size;
                    self.appended = 0;
                    self.torn = false;
                }
                // The appended lines are safe; the next append tries again.
                Err(e) => tracing::warn!(
                    "cannot compact the enforcement journal {}: {e}",
                    self.path.display()
                ),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Years of decisions and lifts: the file stays about the size of what is in force.
    #[test]
    fn a_long_run_keeps_the_journal_near_the_size_of_what_is_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("enforce.jsonl");
        let now = crate::now_secs();
        let (mut j, _) = Journal::open_compacted(&p, now).unwrap();
        let keep: Cidr = "198.18.0.1".parse().unwrap();
        j.append(&[Entry::add(
            SetKind::Block,
            keep,
            now + 3600,
            "kept",
            "",
            "plugin",
        )])
        .unwrap();
        let mut largest = 0;
        for i in 0..30_000u32 {
            let t = Cidr::host(std::net::IpAddr::from([203, 0, (i >> 8) as u8, i as u8]));
            j.append(&[
                Entry::add(SetKind::Block, t, now + 60, "scan", "", "plugin"),
                Entry::delete(SetKind::Block, t, "plugin"),
            ])
            .unwrap();
            largest = largest.max(std::fs::metadata(&p).unwrap().len());
        }
        assert!(
            largest <= COMPACT_AFTER + (1 << 10),
            "grew to {largest} bytes"
        );
        let r = replay(&p, now).unwrap();
        assert_eq!(
            r.in_force.len(),
            1,
            "the one in force survived the compactions"
        );
        assert_eq!(r.in_force[0].target, keep);
        assert_eq!(r.bad_lines, 0);
    }

    /// A crash (or a full disk) cut the last line: `suriguardctl decisions add` after it
    /// is not glued to it, and the enforcer's start drops only the cut line and says how
    /// many it dropped.
    #[test]
    fn a_cut_last_line_costs_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("enforce.jsonl");
        let t: Cidr = "203.0.113.77".parse().unwrap();
        append_to(&p, &[Entry::add(SetKind::Block, t, 900, "x", "", "plugin")]).unwrap();
        let mut text = std::fs::read(&p).unwrap();
        text.extend_from_slice(b"{\"op\":\"add\",\"kind\":\"blo");
        std::fs::write(&p, text).unwrap();
        let u: Cidr = "203.0.113.78".parse().unwrap();
        append_to(&p, &[Entry::add(SetKind::Block, u, 900, "y", "", "ctl")]).unwrap();
        let r = replay(&p, 500).unwrap();
        let got: Vec<Cidr> = r.in_force.iter().map(|f| f.target).collect();
        assert_eq!(got, vec![t, u]);
        assert_eq!(r.bad_lines, 1);
        let (j, in_force) = Journal::open_compacted(&p, 500).unwrap();
        assert_eq!(j.dropped_lines(), 1);
        assert_eq!(in_force.len(), 2);
        assert_eq!(replay(&p, 500).unwrap().bad_lines, 0, "compacted");
    }

    /// `suriguardctl decisions add` appends (`append_to`) while the plugin starts and
    /// compacts (`open_compacted`) over and over: with the shared lock, no line is lost.
    #[test]
    fn appends_racing_compactions_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enforce.jsonl");
        let now = now_secs();
        let n = 400u32;
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    let ip = std::net::Ipv4Addr::from(0xCB00_7100u32 + i); // 203.0.113.0/24 and on
                    let e = Entry::add(
                        SetKind::Block,
                        Cidr::host(ip.into()),
                        now + 3600,
                        "manual",
                        &format!("id-{i}"),
                        "suriguardctl",
                    );
                    append_to(&path, &[e]).unwrap();
                }
            })
        };
        let mut compactions = 0;
        while !writer.is_finished() {
            let (_j, _) = Journal::open_compacted(&path, now).unwrap();
            compactions += 1;
        }
        writer.join().unwrap();
        let (_j, in_force) = Journal::open_compacted(&path, now).unwrap();
        assert!(compactions > 1, "the race did not happen");
        assert_eq!(in_force.len(), n as usize, "lines lost to a compaction");
    }

    /// Lines written before rate limits existed (no `limit` anywhere) replay as they did;
    /// rate limits replay with their service, one element per service, and survive a
    /// compaction.
    #[test]
    fn rate_limits_replay_with_their_service_and_old_lines_still_replay() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("enforce.jsonl");
        let old = concat!(
            r#"{"op":"add","set":"block","target":"203.0.113.7","until":2000,"reason":"port-scan","id":"a","by":"plugin","at":100}"#,
            "\n",
            r#"{"op":"add","set":"quarantine","target":"192.168.1.5","until":2000,"reason":"outbound-scan","by":"plugin","at":100}"#,
            "\n",
            r#"{"op":"delete","set":"block","target":"203.0.113.7","by":"suriguardctl","at":150}"#,
            "\n",
        );
        std::fs::write(&p, old).unwrap();
        let l = |proto, port| Some(Limit { proto, port });
        let c = |s: &str| s.parse::<Cidr>().unwrap();
        let rl = |target: &str, limit, until| {
            Entry::add(
                SetKind::RateLimit,
                c(target),
                until,
                "flood-target",
                "r",
                "plugin",
            )
            .with_limit(limit)
        };
        append_to(
            &p,
            &[
                rl("192.168.1.10", l(crate::L4::Tcp, 80), 3000),
                rl("192.168.1.10", l(crate::L4::Udp, 5000), 3000),
                rl("fd00::10", l(crate::L4::Tcp, 443), 3000),
                Entry::delete(SetKind::RateLimit, c("192.168.1.10"), "suriguardctl")
                    .with_limit(l(crate::L4::Udp, 5000)),
                // Cannot be applied: a rate limit without a service, or on a prefix.
                rl("192.168.1.11", None, 3000),
                rl("192.168.1.0/24", l(crate::L4::Tcp, 80), 3000),
                // A limit on another kind of line is not kept.
                Entry::add(
                    SetKind::Block,
                    c("203.0.113.9"),
                    3000,
                    "manual",
                    "",
                    "suriguardctl",
                )
                .with_limit(l(crate::L4::Tcp, 22)),
            ],
        )
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains(r#""set":"rate-limit","target":"192.168.1.10","limit":{"proto":"tcp","port":80},"until":3000"#),
            "{text}"
        );
        let r = replay(&p, 500).unwrap();
        assert_eq!(r.bad_lines, 2);
        let got: Vec<(SetKind, String, Option<String>)> = r
            .in_force
            .iter()
            .map(|f| (f.kind, f.target.to_string(), f.limit.map(|l| l.to_string())))
            .collect();
        assert_eq!(
            got,
            vec![
                (SetKind::Block, "203.0.113.9".into(), None),
                (SetKind::Quarantine, "192.168.1.5".into(), None),
                (
                    SetKind::RateLimit,
                    "192.168.1.10".into(),
                    Some("tcp/80".into())
                ),
                (
                    SetKind::RateLimit,
                    "fd00::10".into(),
                    Some("tcp/443".into())
                ),
            ]
        );
        let (_j, in_force) = Journal::open_compacted(&p, 500).unwrap();
        assert_eq!(in_force, r.in_force);
        assert_eq!(replay(&p, 500).unwrap().in_force, r.in_force);
        // A delete naming no service lifts every rate limit of the target.
        append_to(
            &p,
            &[Entry::delete(
                SetKind::RateLimit,
                c("fd00::10"),
                "suriguardctl",
            )],
        )
        .unwrap();
        assert_eq!(replay(&p, 500).unwrap().in_force.len(), 3);
    }

    #[test]
    fn replay_applies_adds_deletes_flushes_and_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("enforce.jsonl");
        let c = |s: &str| s.parse::<Cidr>().unwrap();
        append_to(
            &p,
            &[
                Entry::add(
                    SetKind::Block,
                    c("203.0.113.1"),
                    1000,
                    "port-scan",
                    "a",
                    "plugin",
                ),
                Entry::add(
                    SetKind::Block,
                    c("203.0.113.2"),
                    1000,
                    "syn-flood",
                    "b",
                    "plugin",
                ),
                Entry::flush("suriguardctl"),
                Entry::add(
                    SetKind::Block,
                    c("198.51.100.0/24"),
                    2000,
                    "manual",
                    "",
                    "suriguardctl",
                ),
                Entry::add(
                    SetKind::Quarantine,
                    c("192.168.1.5"),
                    2000,
                    "outbound-scan",
                    "c",
                    "plugin",
                ),
                Entry::add(
                    SetKind::Block,
                    c("203.0.113.3"),
                    500,
                    "port-scan",
                    "d",
                    "plugin",
                ),
                Entry::add(
                    SetKind::Block,
                    c("2001:db8::1"),
                    3000,
                    "port-scan",
                    "e",
                    "plugin",
                ),
                Entry::delete(SetKind::Block, c("2001:db8::1"), "suriguardctl"),
            ],
        )
        .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"op\":\"add\",\"set\":\"blo")
            .unwrap();
        let r = replay(&p, 600).unwrap();
        assert_eq!(r.bad_lines, 1);
        let got: Vec<(SetKind, String, u64)> = r
            .in_force
            .iter()
            .map(|f| (f.kind, f.target.to_string(), f.until))
            .collect();
        assert_eq!(
            got,
            vec![
                (SetKind::Block, "198.51.100.0/24".into(), 2000),
                (SetKind::Quarantine, "192.168.1.5".into(), 2000),
            ]
        );
        // Compaction keeps exactly that, and appends go after it.
        let (mut j, in_force) = Journal::open_compacted(&p, 600).unwrap();
        assert_eq!(in_force, r.in_force);
        j.append(&[Entry::delete(
            SetKind::Quarantine,
            c("192.168.1.5"),
            "plugin",
        )])
        .unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        let r = replay(&p, 600).unwrap();
        assert_eq!(r.in_force.len(), 1);
        assert_eq!(r.bad_lines, 0);
    }
}
