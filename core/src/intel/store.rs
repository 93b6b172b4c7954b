//! The indicator store: every indicator once, with every source that named it.
//!
//! Keyed by `(kind, value)`. Each source's mention carries its MISP event and attribute
//! UUIDs, tags, and when rulesync first and last saw it there. A mention not seen again
//! for the source's `expire-after` is dropped; an indicator with no mention left is
//! gone. A source whose pull failed is left exactly as it was (nothing refreshed,
//! nothing expired), so a broken feed never removes what is enforced.
//!
//! The store is one JSON file written crash-safely: a new file beside it, fsync, rename
//! over the old one, fsync of the directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::formats::Origin;
use super::indicator::{Indicator, Kind, RejectCounts, Sides};

/// One source's mention of an indicator.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub events: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub attributes: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    pub first_seen: i64,
    pub last_seen: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub sides: Sides,
    /// By source name.
    pub sources: BTreeMap<String, Mention>,
}

/// What rulesync remembers about one source between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceState {
    /// Unix time of the last pull that succeeded.
    pub last_success: Option<i64>,
    /// For MISP: the `timestamp` to pull from next time (incremental).
    pub cursor: Option<i64>,
    /// Unix time of the last full (non-incremental) pull.
    pub last_full: Option<i64>,
    pub last_attempt: Option<i64>,
    pub last_error: Option<String>,
    /// Counts of the last successful pull.
    pub offered: u64,
    pub accepted: u64,
    pub rejects: RejectCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Store {
    pub version: u32,
    /// By kind, then canonical value.
    pub indicators: BTreeMap<Kind, BTreeMap<String, Entry>>,
    pub sources: BTreeMap<String, SourceState>,
}

impl Store {
    pub fn new() -> Self {
        Store {
            version: 1,
            ..Store::default()
        }
    }

    /// Reads the store, or an empty one if the file does not exist yet.
    pub fn load(path: &Path) -> Result<Store, String> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| format!("state file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store::new()),
            Err(e) => Err(format!("state file {}: {e}", path.display())),
        }
    }

    /// Writes the store crash-safely (new file, fsync, rename, fsync the directory).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        write_atomic(path, |w| {
            serde_json::to_writer(&mut *w, self).map_err(std::io::Error::other)
        })
        .map_err(|e| format!("state file {}: {e}", path.display()))
    }

    pub fn len(&self) -> usize {
        self.indicators.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, kind: Kind, value: &str) -> Option<&Entry> {
        self.indicators.get(&kind)?.get(value)
    }

    /// Merges what a successful pull of `source` offered at `now`: new indicators are
    /// added, known ones refreshed (`last_seen`) and their provenance extended.
    pub fn merge(&mut self, source: &str, items: Vec<(Indicator, Origin)>, now: i64) {
        for (ind, origin) in items {
            let e = self
                .indicators
                .entry(ind.kind)
                .or_default()
                .entry(ind.value)
                .or_default();
            e.sides = e.sides.union(ind.sides);
            let m = e
                .sources
                .entry(source.to_string())
                .or_insert_with(|| Mention {
                    first_seen: now,
                    ..Mention::default()
                });
            m.last_seen = now;
            m.events.extend(origin.event);
            m.attributes.extend(origin.attribute);
            m.tags.extend(origin.tags);
            if origin.info.is_some() {
                m.info = origin.info;
            }
        }
    }

    /// The time of a run starting at `now`: later than every earlier run's, so a pull's
    /// mentions are told from the previous pull's even when both happen within one
    /// second (with `expire-after-days = 0`, what a source stopped naming goes at once).
    pub fn run_time(&self, now: i64) -> i64 {
        let last = self
            .sources
            .values()
            .filter_map(|s| s.last_attempt)
            .max()
            .unwrap_or(i64::MIN);
        now.max(last.saturating_add(1))
    }

    /// Drops `source`'s mentions last seen before `cutoff`, and indicators left with no
    /// mention. Returns how many indicators disappeared.
    pub fn expire(&mut self, source: &str, cutoff: i64) -> usize {
        self.retain_mentions(|s, m| s != source || m.last_seen >= cutoff)
    }

    /// Drops every mention of sources not in `configured` (a source removed from the
    /// configuration takes its indicators with it).
    pub fn forget_other_sources(&mut self, configured: &BTreeSet<String>) -> usize {
        self.sources.retain(|s, _| configured.contains(s));
        self.retain_mentions(|s, _| configured.contains(s))
    }

    /// Keeps the mentions `keep` accepts and drops indicators left with none. Returns
    /// how many indicators disappeared.
    fn retain_mentions(&mut self, mut keep: impl FnMut(&str, &Mention) -> bool) -> usize {
        let mut gone = 0;
        for map in self.indicators.values_mut() {
            map.retain(|_, e| {
                e.sources.retain(|s, m| keep(s, m));
                gone += usize::from(e.sources.is_empty());
                !e.sources.is_empty()
            });
        }
        self.indicators.retain(|_, m| !m.is_empty());
        gone
    }
}

/// Writes `path` crash-safely: `path.tmp` is written by `fill`, flushed and fsynced, then
/// renamed over `path`, and the directory is fsynced so the rename survives a crash.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        fill(&mut w)?;
        w.flush()?;
        w.get_ref().sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ind(kind: Kind, v: &str, sides: Sides) -> Indicator {
        Indicator {
            kind,
            value: v.into(),
            sides,
        }
    }

    fn origin(ev: &str, attr: &str) -> Origin {
        Origin {
            event: Some(ev.into()),
            attribute: Some(attr.into()),
            info: None,
            tags: ["tlp:clear".to_string()].into(),
        }
    }

    #[test]
    fn one_indicator_many_sources_then_expiry() {
        let mut s = Store::new();
        s.merge(
            "misp",
            vec![(
                ind(Kind::Ip, "45.9.148.108", Sides::DST),
                origin("e1", "a1"),
            )],
            100,
        );
        s.merge(
            "feed",
            vec![(
                ind(Kind::Ip, "45.9.148.108", Sides::SRC),
                origin("e2", "a2"),
            )],
            150,
        );
        s.merge(
            "feed",
            vec![(
                ind(Kind::Domain, "evil.xyz", Sides::BOTH),
                origin("e2", "a3"),
            )],
            150,
        );
        assert_eq!(s.len(), 2);
        let e = s.get(Kind::Ip, "45.9.148.108").unwrap();
        assert_eq!(e.sides, Sides::BOTH);
        assert_eq!(e.sources.len(), 2);
        assert_eq!(e.sources["misp"].events, ["e1".to_string()].into());
        assert_eq!(e.sources["feed"].first_seen, 150);

        // The feed's next pull no longer has the IP: it stays until it expires.
        s.merge(
            "feed",
            vec![(
                ind(Kind::Domain, "evil.xyz", Sides::BOTH),
                origin("e2", "a3"),
            )],
            300,
        );
        assert_eq!(s.expire("feed", 200), 0, "misp still names the IP");
        assert_eq!(s.get(Kind::Ip, "45.9.148.108").unwrap().sources.len(), 1);
        assert_eq!(
            s.get(Kind::Domain, "evil.xyz").unwrap().sources["feed"].first_seen,
            150
        );
        assert_eq!(s.expire("misp", 200), 1);
        assert!(s.get(Kind::Ip, "45.9.148.108").is_none());
        assert_eq!(s.forget_other_sources(&["misp".to_string()].into()), 1);
        assert!(s.is_empty());
    }

    #[test]
    fn runs_within_one_second_get_distinct_times() {
        let mut s = Store::new();
        assert_eq!(s.run_time(1000), 1000);
        s.sources.entry("feed".into()).or_default().last_attempt = Some(1000);
        assert_eq!(s.run_time(1000), 1001);
        assert_eq!(s.run_time(5000), 5000);
        // A list dropping a value, pulled again in the same second with no grace period.
        s.merge(
            "feed",
            vec![(ind(Kind::Domain, "a.xyz", Sides::BOTH), origin("e", "a"))],
            1000,
        );
        let t = s.run_time(1000);
        s.merge(
            "feed",
            vec![(ind(Kind::Domain, "b.xyz", Sides::BOTH), origin("e", "b"))],
            t,
        );
        assert_eq!(s.expire("feed", t), 1);
        assert!(s.get(Kind::Domain, "a.xyz").is_none() && s.get(Kind::Domain, "b.xyz").is_some());
    }

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert_eq!(Store::load(&p).unwrap(), Store::new());
        let mut s = Store::new();
        s.merge(
            "m",
            vec![(
                ind(Kind::Sha256, &"a".repeat(64), Sides::BOTH),
                origin("e", "a"),
            )],
            7,
        );
        s.sources.entry("m".into()).or_default().cursor = Some(42);
        s.save(&p).unwrap();
        assert!(!dir.path().join("state.json.tmp").exists());
        assert_eq!(Store::load(&p).unwrap(), s);
        std::fs::write(&p, "{").unwrap();
        assert!(Store::load(&p).unwrap_err().contains("state file"));
    }
}
